//! The `patch` push: envelope validation before routing (PROTOCOL.md §2.7).
//!
//! Structurally invalid envelopes are ignored (like the reference client); op-level problems
//! surface later, when the envelope is applied, and trigger recovery.

use std::rc::Rc;

use super::depth::{MAX_DEPTH, parse_bounded};
use super::tree::{MAX_PARSE_NESTING, Node};

/// A routed envelope with its op lists still raw (parsed when applied).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The root it belongs to.
    pub root_id: Rc<str>,
    /// Version it applies to.
    pub base_version: u64,
    /// Version after applying it.
    pub version: u64,
    /// JSON Patch ops.
    pub ops: Vec<Node>,
    /// Stream ops.
    pub stream_ops: Vec<Node>,
    /// Upload ops (missing or null on the wire → empty).
    pub upload_ops: Vec<Node>,
    /// Push events (Musubi 0.13; missing or null → none).
    pub events: Vec<Node>,
    /// Set when the frame nested deeper than the client reads: parts below this depth were cut
    /// off, so the envelope can only be refused ([`crate::runtime::replica::AcceptError::TooDeep`]).
    pub truncated_at: Option<usize>,
    /// An upper bound on how deeply the payload nests, when its parser guarantees one (text
    /// parsed by [`Node::parse_json_text`]): below it, the depth limit needs no walk.
    pub nesting_bound: Option<usize>,
}

/// Why an envelope was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ignored malformed envelope: {0}")]
pub struct EnvelopeError(pub &'static str);

fn version(node: &Node, key: &'static str) -> Result<u64, EnvelopeError> {
    match node.get(key) {
        Some(Node::Number(number)) => number
            .as_u64()
            .or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
            .ok_or(EnvelopeError("versions must be non-negative integers")),
        _ => Err(EnvelopeError("versions must be numbers")),
    }
}

fn list(node: &Node, key: &'static str, required: bool) -> Result<Vec<Node>, EnvelopeError> {
    match node.get(key) {
        Some(Node::Array(items)) => Ok(items.iter().cloned().collect()),
        None | Some(Node::Null) if !required => Ok(Vec::new()),
        _ => Err(EnvelopeError("ops, stream_ops, upload_ops and events must be arrays")),
    }
}

impl Envelope {
    /// Validates a `patch` payload.
    pub fn parse(payload: &Node) -> Result<Envelope, EnvelopeError> {
        if payload.as_object().is_none() {
            return Err(EnvelopeError("payload is not an object"));
        }
        if payload.get("type").and_then(Node::as_str) != Some("patch") {
            return Err(EnvelopeError("type is not \"patch\""));
        }
        let root_id = payload.get("root_id").and_then(Node::as_str).ok_or(EnvelopeError("root_id is not a string"))?.into();
        Ok(Envelope {
            root_id,
            base_version: version(payload, "base_version")?,
            version: version(payload, "version")?,
            ops: list(payload, "ops", true)?,
            stream_ops: list(payload, "stream_ops", true)?,
            upload_ops: list(payload, "upload_ops", false)?,
            events: list(payload, "events", false)?,
            truncated_at: None,
            nesting_bound: None,
        })
    }

    /// Validates a `patch` payload kept as text ([`crate::phoenix::Payload::Text`]): parsed
    /// straight into nodes. Text nested deeper than `serde_json` reads is read without recursion
    /// up to a little beyond [`MAX_DEPTH`]; anything deeper is cut off and marks the envelope as
    /// too deep.
    pub fn parse_text(text: &str) -> Result<Envelope, EnvelopeError> {
        // The envelope object, its op list and an op object sit above an op's value.
        const ABOVE_VALUES: usize = 3;
        if let Ok(payload) = Node::parse_json_text(text) {
            let mut envelope = Envelope::parse(&payload)?;
            envelope.nesting_bound = Some(MAX_PARSE_NESTING);
            return Ok(envelope);
        }
        let limit = MAX_DEPTH + ABOVE_VALUES + 1;
        let (payload, truncated) = parse_bounded(text, limit).map_err(|_| EnvelopeError("payload is not valid JSON"))?;
        let mut envelope = Envelope::parse(&payload)?;
        envelope.truncated_at = truncated.then_some(limit);
        Ok(envelope)
    }

    /// True for an initial envelope (`0 → 1`).
    pub fn is_initial(&self) -> bool {
        self.base_version == 0 && self.version == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<Envelope, EnvelopeError> {
        Envelope::parse(&Node::from_json(&value))
    }

    #[test]
    fn valid_envelope_parses_and_upload_ops_default_to_empty() {
        let envelope = parse(
            json!({"type":"patch","root_id":"r","base_version":0,"version":1,"ops":[{"op":"replace","path":"","value":{}}],"stream_ops":[]}),
        );
        let envelope = envelope.unwrap();
        assert!(envelope.is_initial());
        assert_eq!((envelope.ops.len(), envelope.upload_ops.len()), (1, 0));
        let with_null =
            parse(json!({"type":"patch","root_id":"r","base_version":1,"version":2,"ops":[],"stream_ops":[],"upload_ops":null}));
        assert!(with_null.is_ok());
    }

    #[test]
    fn malformed_envelopes_are_rejected() {
        let base = json!({"type":"patch","root_id":"r","base_version":1,"version":2,"ops":[],"stream_ops":[]});
        assert!(parse(json!([1])).is_err());
        for (key, bad) in [
            ("type", json!("other")),
            ("root_id", json!(5)),
            ("base_version", json!("1")),
            ("version", json!(-1)),
            ("ops", json!({})),
            ("stream_ops", json!(null)),
        ] {
            let mut value = base.clone();
            value[key] = bad;
            assert!(parse(value).is_err(), "{key}");
        }
    }
}
