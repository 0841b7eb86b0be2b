//! Streams: lists materialized on the client from `stream_ops` (PROTOCOL.md §2.10).
//!
//! ```
//! use musubi_wasm::runtime::stream::{StreamOp, Streams};
//! use musubi_wasm::runtime::store_id::StoreId;
//! use musubi_wasm::runtime::tree::Node;
//! let mut streams = Streams::default();
//! for (key, at) in [("a", -1), ("b", 0), ("c", 1)] {
//!     streams.apply(&StreamOp::Insert { store_id: StoreId::root(), stream: "s".into(), item_key: key.into(), at, item: Node::from(key), limit: None });
//! }
//! let keys: Vec<&str> = streams.entries(&StoreId::root().key(), "s").map(|e| &*e.key).collect();
//! assert_eq!(keys, ["b", "c", "a"]);
//! ```

use std::rc::Rc;

use super::store_id::{StoreId, StoreKey};
use super::tree::Node;

/// One stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// The item key (unique within the stream).
    pub key: Rc<str>,
    /// The item value.
    pub item: Node,
}

/// One stream delta.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamOp {
    /// Empty the stream.
    Reset {
        /// Owning store.
        store_id: StoreId,
        /// Stream name.
        stream: Rc<str>,
    },
    /// Upsert an item at a position, then trim to `limit`.
    Insert {
        /// Owning store.
        store_id: StoreId,
        /// Stream name.
        stream: Rc<str>,
        /// Item key.
        item_key: Rc<str>,
        /// `-1` append, `0` (or any other negative) prepend, `n > 0` at `min(n, len)`.
        at: i64,
        /// The item.
        item: Node,
        /// Keep at most `|limit|` items, trimming the end opposite to the insert.
        limit: Option<i64>,
    },
    /// Remove every entry with this key.
    Delete {
        /// Owning store.
        store_id: StoreId,
        /// Stream name.
        stream: Rc<str>,
        /// Item key.
        item_key: Rc<str>,
    },
}

/// Why a stream op is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stream op: {0}")]
pub struct StreamOpError(pub &'static str);

impl StreamOp {
    /// Parses a wire stream op.
    pub fn parse(node: &Node) -> Result<StreamOp, StreamOpError> {
        let store_id = StoreId::from_node(node.get("store_id").ok_or(StreamOpError("missing store_id"))?)
            .ok_or(StreamOpError("store_id must be an array of strings"))?;
        let stream: Rc<str> = node.get("stream").and_then(Node::as_str).ok_or(StreamOpError("stream must be a string"))?.into();
        let item_key = || -> Result<Rc<str>, StreamOpError> {
            Ok(node.get("item_key").and_then(Node::as_str).ok_or(StreamOpError("item_key must be a string"))?.into())
        };
        match node.get("op").and_then(Node::as_str) {
            Some("reset") => Ok(StreamOp::Reset { store_id, stream }),
            Some("delete") => Ok(StreamOp::Delete { store_id, stream, item_key: item_key()? }),
            Some("insert") => {
                let at = match node.get("at") {
                    Some(Node::Number(n)) => n.as_i64().ok_or(StreamOpError("at must be an integer"))?,
                    _ => return Err(StreamOpError("at must be an integer")),
                };
                let limit = match node.get("limit") {
                    None | Some(Node::Null) => None,
                    Some(Node::Number(n)) => Some(n.as_i64().ok_or(StreamOpError("limit must be an integer"))?),
                    Some(_) => return Err(StreamOpError("limit must be an integer or null")),
                };
                let item = node.get("item").cloned().unwrap_or_default();
                Ok(StreamOp::Insert { store_id, stream, item_key: item_key()?, at, item, limit })
            }
            _ => Err(StreamOpError("op must be reset, insert or delete")),
        }
    }

    /// The owning store.
    pub fn store_id(&self) -> &StoreId {
        match self {
            StreamOp::Reset { store_id, .. } | StreamOp::Insert { store_id, .. } | StreamOp::Delete { store_id, .. } => store_id,
        }
    }

    fn stream(&self) -> &Rc<str> {
        match self {
            StreamOp::Reset { stream, .. } | StreamOp::Insert { stream, .. } | StreamOp::Delete { stream, .. } => stream,
        }
    }
}

type StreamKey = (StoreKey, Rc<str>);

/// Every materialized stream of one root, persistent (cloning is O(1)).
#[derive(Debug, Clone, Default)]
pub struct Streams {
    lists: imbl::OrdMap<StreamKey, imbl::Vector<StreamEntry>>,
    /// Stream names per owning store, for pruning and "has streams" checks.
    by_store: imbl::OrdMap<StoreKey, imbl::OrdSet<Rc<str>>>,
}

impl Streams {
    /// Applies one op (PROTOCOL §2.10 semantics).
    pub fn apply(&mut self, op: &StreamOp) {
        let owner = op.store_id().key();
        let name = op.stream().clone();
        self.by_store.entry(owner.clone()).or_default().insert(name.clone());
        let list = self.lists.entry((owner, name)).or_default();
        match op {
            StreamOp::Reset { .. } => list.clear(),
            StreamOp::Delete { item_key, .. } => list.retain(|entry| entry.key != *item_key),
            StreamOp::Insert { item_key, at, item, limit, .. } => {
                list.retain(|entry| entry.key != *item_key);
                let len = list.len();
                let position = match *at {
                    -1 => len,
                    at if at <= 0 => 0,
                    at => usize::try_from(at).map_or(len, |at| at.min(len)),
                };
                list.insert(position, StreamEntry { key: item_key.clone(), item: item.clone() });
                if let Some(limit) = limit {
                    let size = usize::try_from(limit.unsigned_abs()).unwrap_or(usize::MAX);
                    if list.len() > size {
                        if *at == 0 {
                            list.truncate(size);
                        } else {
                            let excess = list.len() - size;
                            *list = list.skip(excess);
                        }
                    }
                }
            }
        }
    }

    /// The entries of a stream in order (empty when it has none).
    pub fn entries(&self, owner: &StoreKey, name: &str) -> impl Iterator<Item = &StreamEntry> {
        self.lists.get(&(owner.clone(), Rc::from(name))).into_iter().flat_map(|list| list.iter())
    }

    /// The item values of a stream, as a JSON array node.
    pub fn items_node(&self, owner: &StoreKey, name: &str) -> Node {
        Node::Array(Rc::new(self.entries(owner, name).map(|entry| entry.item.clone()).collect()))
    }

    /// True when `owner` has the same streams with equal entries here and in `other`.
    pub fn same_for(&self, other: &Streams, owner: &StoreKey) -> bool {
        let names = self.by_store.get(owner).filter(|names| !names.is_empty());
        let other_names = other.by_store.get(owner).filter(|names| !names.is_empty());
        names == other_names
            && names.into_iter().flat_map(|names| names.iter()).all(|name| {
                let key = (owner.clone(), name.clone());
                self.lists.get(&key) == other.lists.get(&key)
            })
    }

    /// Every stream with its owner and name, in key order.
    pub fn lists(&self) -> impl Iterator<Item = (&StoreKey, &Rc<str>, &imbl::Vector<StreamEntry>)> {
        self.lists.iter().map(|((owner, name), list)| (owner, name, list))
    }

    /// The stores that have (or had, until pruned) materialized streams.
    pub fn owners(&self) -> impl Iterator<Item = &StoreKey> {
        self.by_store.keys()
    }

    /// True when the store has at least one materialized stream.
    pub fn has_streams(&self, owner: &StoreKey) -> bool {
        self.by_store.get(owner).is_some_and(|names| !names.is_empty())
    }

    /// Drops every stream of `owner` (its store left the index). Returns true if it had any.
    pub fn prune(&mut self, owner: &StoreKey) -> bool {
        let Some(names) = self.by_store.remove(owner) else { return false };
        for name in names.iter() {
            self.lists.remove(&(owner.clone(), name.clone()));
        }
        !names.is_empty()
    }

    /// How many streams are materialized.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// True when no stream is materialized.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
