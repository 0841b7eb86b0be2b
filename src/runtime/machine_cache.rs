//! Last good state across page loads, for the [`Runtime`]: [`Runtime::export_root`] writes a
//! root's state as the text of an initial envelope (its tree and its streams' items), and
//! [`Runtime::mount_cached`] mounts a root from such a text: readable at once with status
//! [`RootStatus::Cached`] while the real mount proceeds, then the server's `0 → 1` swaps in with
//! unchanged subtrees keeping their identity. Where the text is kept (IndexedDB in the npm
//! package) is the front door's business; the runtime only checks it like any envelope.
//!
//! ```
//! use musubi_wasm::runtime::{MountSpec, Runtime, RootStatus};
//! use musubi_wasm::phoenix::SocketConfig;
//! let mut runtime = Runtime::new(SocketConfig::new("ws://h/socket"));
//! let spec = MountSpec { module: "Demo.CounterStore".into(), id: "c".into(), params: serde_json::json!({}) };
//! let cached = r#"{"type":"patch","root_id":"c","base_version":0,"version":1,
//!   "ops":[{"op":"replace","path":"","value":{"__musubi_store_id__":[],"count":3}}],"stream_ops":[],"upload_ops":[]}"#;
//! let _request = runtime.mount_cached("musubi:connection", spec, cached, 0);
//! assert_eq!(runtime.root_status("musubi:connection", "c"), Some(RootStatus::Cached));
//! ```

use std::fmt::Write as _;

use super::*;
use crate::runtime::replica::Replica;

impl Runtime {
    /// The root's current state as the text of an initial envelope (`None` before it has any):
    /// what [`Runtime::mount_cached`] takes back on a later page load.
    pub fn export_root(&self, topic: &str, root_id: &str) -> Option<String> {
        let root = self.root(topic, root_id).filter(|root| root.has_state())?;
        let replica = &root.replica;
        let mut text = String::with_capacity(256);
        text.push_str(r#"{"type":"patch","root_id":"#);
        text.push_str(&Value::String(root_id.to_owned()).to_string());
        text.push_str(r#","base_version":0,"version":1,"ops":[{"op":"replace","path":"","value":"#);
        text.push_str(&replica.tree().to_json_text());
        text.push_str(r#"}],"stream_ops":["#);
        let mut first = true;
        for (owner, name, entries) in replica.streams().lists() {
            for entry in entries.iter() {
                if !std::mem::take(&mut first) {
                    text.push(',');
                }
                // A store key is the compact JSON text of its id array.
                let _ = write!(
                    text,
                    r#"{{"op":"insert","stream":{},"store_id":{},"item_key":{},"at":-1,"limit":null,"item":"#,
                    Value::String(name.to_string()),
                    owner.as_str(),
                    Value::String(entry.key.to_string())
                );
                text.push_str(&entry.item.to_json_text());
                text.push('}');
            }
        }
        text.push_str(r#"],"upload_ops":[]}"#);
        Some(text)
    }

    /// Mounts a root like [`Runtime::mount`], showing `cached` (an [`Runtime::export_root`] text
    /// from an earlier page load) until the server's initial envelope arrives: the request settles
    /// at once and the root is readable with status [`RootStatus::Cached`]. A text that does not
    /// parse or apply, or a root that is already mounted, makes this a plain mount. Cached state
    /// never satisfies a command: commands wait in the outbox or are refused until the root is
    /// live.
    pub fn mount_cached(&mut self, topic: &str, spec: MountSpec, cached: &str, now: Millis) -> RequestId {
        let known = self.connections.get(topic).is_some_and(|connection| connection.roots.contains_key(&spec.id));
        let seeded = if known || spec.id.is_empty() { None } else { seed(cached) };
        let Some(replica) = seeded else { return self.mount(topic, spec, now) };
        let root_id = spec.id.clone();
        let request = self.mount(topic, spec, now);
        let Some(root) = self.root_mut(topic, &root_id) else { return request };
        // Not if the initial envelope already arrived within `mount` (it cannot, but should it).
        if root.status != RootStatus::Mounting || !root.replica.index().is_empty() {
            return request;
        }
        root.replica = replica;
        root.waiters.retain(|waiter| *waiter != request);
        let topic: Rc<str> = topic.into();
        self.set_status(&topic, &root_id, RootStatus::Cached);
        self.settle(request, Ok(Value::Null));
        self.pump(now);
        request
    }
}

/// A replica holding the state of an exported root, at version 0 (the server's `0 → 1` is still
/// to come); `None` when the text is not a valid initial envelope.
fn seed(cached: &str) -> Option<Replica> {
    let envelope = Envelope::parse_text(cached).ok()?;
    let mut replica = Replica::default();
    replica.accept(&envelope).ok()?;
    replica.expect_initial();
    Some(replica)
}
