//! Push events (Musubi 0.13, PROTOCOL.md §6/§6.1): an envelope's optional `events` list,
//! `[{"store_id": [...], "name": "...", "payload": <json>}]`. They are delivered exactly once, to
//! listeners of `(store_id, name)`, after the envelope's ops, stream ops and upload ops are
//! applied; an envelope that is refused drops its events with it (there is no replay).
//!
//! ```
//! use musubi_wasm::runtime::push_event::PushEvent;
//! use musubi_wasm::runtime::tree::Node;
//! let event = PushEvent::parse(&Node::from_json(&serde_json::json!({"name": "toast", "payload": {"text": "saved"}})))?;
//! assert_eq!((&*event.name, event.store_id.segments().len()), ("toast", 0), "store_id defaults to the root store");
//! # Ok::<(), musubi_wasm::runtime::push_event::PushEventError>(())
//! ```

use std::rc::Rc;

use super::store_id::StoreId;
use super::tree::Node;

/// One event a store pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct PushEvent {
    /// The store it is for (`[]`, the root store, when the server omits it).
    pub store_id: StoreId,
    /// Its name.
    pub name: Rc<str>,
    /// Its payload (`null` when omitted).
    pub payload: Node,
}

/// Why an event is malformed (the envelope is then refused and recovered, like a bad op).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid push event: {0}")]
pub struct PushEventError(pub &'static str);

impl PushEvent {
    /// Parses one wire event.
    pub fn parse(node: &Node) -> Result<PushEvent, PushEventError> {
        if node.as_object().is_none() {
            return Err(PushEventError("an event must be an object"));
        }
        let name = node.get("name").and_then(Node::as_str).filter(|name| !name.is_empty());
        let name: Rc<str> = name.ok_or(PushEventError("name must be a non-empty string"))?.into();
        let store_id = match node.get("store_id") {
            None | Some(Node::Null) => StoreId::root(),
            Some(id) => StoreId::from_node(id).ok_or(PushEventError("store_id must be an array of strings"))?,
        };
        Ok(PushEvent { store_id, name, payload: node.get("payload").cloned().unwrap_or_default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<PushEvent, PushEventError> {
        PushEvent::parse(&Node::from_json(&value))
    }

    #[test]
    fn events_parse_with_defaults_and_malformed_ones_are_refused() {
        let full = parse(json!({"store_id": ["cards", "1"], "name": "flash", "payload": [1]})).unwrap();
        assert_eq!((full.store_id, &*full.name, full.payload.to_json()), (StoreId::from(["cards", "1"]), "flash", json!([1])));
        assert_eq!(parse(json!({"name": "ping"})).unwrap().payload, Node::Null);
        assert_eq!(parse(json!({"name": "ping", "store_id": null})).unwrap().store_id, StoreId::root());
        for bad in [json!("toast"), json!({}), json!({"name": ""}), json!({"name": 5}), json!({"name": "x", "store_id": "a"})] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }
}
