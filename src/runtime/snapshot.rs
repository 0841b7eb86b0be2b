//! Snapshots: plain, immutable trees per store, built lazily and cached until an envelope
//! invalidates them (PROTOCOL.md §2.12). A snapshot of an unchanged store is the identical node on
//! every call ([`Node::same`]), which UI layers use to skip work.
//!
//! Resolution order for a field (§2.8): store node → that store's (cached) snapshot; stream marker
//! → the items of the enclosing store's stream; upload marker → kept as the marker (front doors
//! map it to their upload handle object); async value → `{status, data, error}`; arrays and
//! objects → resolved recursively, and a subtree without markers is the wire node itself (so it
//! keeps its identity across versions until a patch touches it); scalars → themselves.

use std::rc::Rc;

use super::replica::Replica;
use super::store_id::{STORE_ID_KEY, StoreId, StoreKey};
use super::tree::{ArrayVec, Node, ObjectMap};

/// Marker key of a stream.
pub const STREAM_KEY: &str = "__musubi_stream__";
/// Marker key of an upload.
pub const UPLOAD_KEY: &str = "__musubi_upload__";
/// Marker key of an async value.
pub const ASYNC_KEY: &str = "__musubi_async__";

/// The name in a single-key marker object `{key: "<name>"}`.
pub fn marker_name<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    let map = node.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.get(key).and_then(Node::as_str)
}

/// True for a wire async value (§2.17 recognition rule).
pub fn is_async(node: &Node) -> bool {
    let Some(map) = node.as_object() else { return false };
    matches!(map.get(ASYNC_KEY), Some(Node::Bool(true)))
        && matches!(map.get("status").and_then(Node::as_str), Some("loading" | "ok" | "failed"))
        && map.contains_key("result")
        && map.contains_key("reason")
}

impl Replica {
    /// The snapshot of store `id`: `{"__musubi_store_id__": id, …resolved fields}`, or just the id
    /// when the store is not in the index. Cached until invalidated.
    pub fn snapshot(&mut self, id: &StoreId) -> Node {
        let key = id.key();
        if let Some(cached) = self.snapshots.get(&key) {
            return cached.clone();
        }
        let snapshot = match self.store(&key).map(|store| store.node.clone()) {
            Some(node) => self.store_snapshot(id, &key, &node),
            None => Node::Object(Rc::new(ObjectMap::unit(STORE_ID_KEY.into(), id.to_node()))),
        };
        self.snapshots.insert(key, snapshot.clone());
        snapshot
    }

    fn store_snapshot(&mut self, id: &StoreId, key: &StoreKey, node: &Node) -> Node {
        let mut out = ObjectMap::new();
        if let Some(map) = node.as_object() {
            for (field, value) in map.iter() {
                if &**field != STORE_ID_KEY {
                    out.insert(field.clone(), self.resolve(value, key));
                }
            }
        }
        out.insert(STORE_ID_KEY.into(), id.to_node());
        Node::Object(Rc::new(out))
    }

    /// Resolves one field value of the store `owner`.
    pub fn resolve(&mut self, value: &Node, owner: &StoreKey) -> Node {
        if self.plain.get(value).is_some() {
            return value.clone();
        }
        match value {
            Node::Object(map) => {
                if let Some(child) = StoreId::of_store_node(value) {
                    return self.snapshot(&child);
                }
                if let Some(stream) = marker_name(value, STREAM_KEY) {
                    return self.streams().items_node(owner, stream);
                }
                if marker_name(value, UPLOAD_KEY).is_some() {
                    return value.clone();
                }
                if is_async(value) {
                    return self.resolve_async(value, owner);
                }
                let resolved: ObjectMap = map.iter().map(|(k, v)| (k.clone(), self.resolve(v, owner))).collect();
                // A subtree without markers is its own snapshot: keep the wire node, so it keeps
                // its identity across versions for as long as no patch touches it.
                let unchanged = resolved.iter().zip(map.iter()).all(|((_, new), (_, old))| new.same(old));
                self.keep_if_plain(value, unchanged, Node::Object(Rc::new(resolved)))
            }
            Node::Array(items) => {
                let resolved: ArrayVec = items.iter().map(|item| self.resolve(item, owner)).collect();
                let unchanged = resolved.iter().zip(items.iter()).all(|(new, old)| new.same(old));
                self.keep_if_plain(value, unchanged, Node::Array(Rc::new(resolved)))
            }
            scalar => scalar.clone(),
        }
    }

    /// A container whose children all resolved to themselves is plain: remember it and return
    /// the wire node itself; otherwise the rebuilt one.
    fn keep_if_plain(&mut self, value: &Node, unchanged: bool, rebuilt: Node) -> Node {
        if unchanged {
            self.plain.insert(value, ());
            value.clone()
        } else {
            rebuilt
        }
    }

    /// `{status, data, error}` with `data` resolved (null stays null) and `error` only when failed.
    fn resolve_async(&mut self, value: &Node, owner: &StoreKey) -> Node {
        let status = value.get("status").cloned().unwrap_or_default();
        let data = match value.get("result") {
            None | Some(Node::Null) => Node::Null,
            Some(result) => self.resolve(result, owner),
        };
        let error = if status.as_str() == Some("failed") { value.get("reason").cloned().unwrap_or_default() } else { Node::Null };
        let mut out = ObjectMap::new();
        out.insert("status".into(), status);
        out.insert("data".into(), data);
        out.insert("error".into(), error);
        Node::Object(Rc::new(out))
    }

    /// Reads one field of a store as its snapshot value would show it; `None` when the store is
    /// not in the index or has no such field.
    pub fn read_field(&mut self, id: &StoreId, field: &str) -> Option<Node> {
        let key = id.key();
        let value = self.store(&key)?.node.get(field)?.clone();
        Some(self.resolve(&value, &key))
    }
}
