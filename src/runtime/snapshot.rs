//! Snapshots: plain, immutable trees per store, built lazily and cached until an envelope
//! invalidates them (PROTOCOL.md §2.12). A snapshot of an unchanged store is the identical node on
//! every call ([`Node::same`]), which UI layers use to skip work.
//!
//! Resolution order for a field (§2.8): store node → that store's (cached) snapshot; stream marker
//! → the items of the enclosing store's stream; upload marker → kept as the marker (front doors
//! map it to their upload handle object); async value → `{status, data, error}`; arrays and
//! objects → resolved recursively, and a subtree without markers is the wire node itself (so it
//! keeps its identity across versions until a patch touches it); scalars → themselves.

use std::collections::HashMap;
use std::rc::Rc;

use super::replica::Replica;
use super::store_id::{STORE_ID_KEY, StoreId, StoreKey};
use super::tree::{ArrayVec, Entry, Node, ObjectMap, SMALL_MAX, changed_indices};
use super::walk::{Frame, walk};

/// What every marker key starts with.
const MARKER_PREFIX: &str = "__musubi_";

/// True for a small container that resolves to itself by its shape alone: scalars only, and (an
/// object) no marker key. Telling that is as cheap as a lookup, so such containers (the records
/// of a wide list) are neither walked nor remembered.
fn plain_by_shape(node: &Node) -> bool {
    match node {
        Node::Object(map) => map.len() <= SMALL_MAX && node.is_flat() && !map.iter().any(|(key, _)| key.starts_with(MARKER_PREFIX)),
        Node::Array(items) => items.len() <= SMALL_MAX && node.is_flat(),
        _ => false,
    }
}

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

/// The snapshot cache of a replica: the valid snapshot of each store, and the last one of each
/// store whose snapshot was invalidated. Re-resolving a store walks its new wire node in step
/// with that previous snapshot: a child that is the very node the previous snapshot showed
/// resolved to itself, so only what changed since is looked at.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshots {
    current: HashMap<StoreKey, Node>,
    previous: HashMap<StoreKey, Node>,
}

impl Snapshots {
    /// The valid snapshot of `key`.
    pub(crate) fn get(&self, key: &StoreKey) -> Option<&Node> {
        self.current.get(key)
    }

    /// The stores with a valid snapshot.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &StoreKey> {
        self.current.keys()
    }

    fn insert(&mut self, key: StoreKey, snapshot: Node) {
        self.previous.remove(&key);
        self.current.insert(key, snapshot);
    }

    /// Marks the snapshot of `key` as out of date (it stays as the previous one).
    pub(crate) fn invalidate(&mut self, key: &StoreKey) {
        if let Some(snapshot) = self.current.remove(key) {
            self.previous.insert(key.clone(), snapshot);
        }
    }

    /// Marks every snapshot as out of date.
    pub(crate) fn invalidate_all(&mut self) {
        self.previous.extend(self.current.drain());
    }

    /// Forgets everything about a store that left the index.
    pub(crate) fn forget(&mut self, key: &StoreKey) {
        self.current.remove(key);
        self.previous.remove(key);
    }
}

/// What resolution starts from: a store's snapshot, or a field value of a store with what the
/// store's previous snapshot showed at its place.
enum Resolve {
    Store(StoreId),
    Value { value: Node, previous: Option<Node>, owner: StoreKey },
}

/// A container being resolved (the walk keeps these on a heap stack, so any depth is safe).
struct Resolving {
    /// The wire container (for plain containers, returned as is when nothing inside changed).
    wire: Node,
    /// The store whose streams the markers inside refer to.
    owner: StoreKey,
    kind: ResolvingKind,
}

enum ResolvingKind {
    /// A plain object: the entries that need resolving (the next one last; every other entry is
    /// a scalar or a container known to resolve to itself), the one handed out last, and the
    /// copy of the object made at the first entry that resolved to something else.
    Object { pending: Vec<Pending<Rc<str>>>, current: Option<(Rc<str>, Node)>, out: Option<ObjectMap> },
    /// A plain array, the same way: the indices that need resolving, the one handed out last, and
    /// the copy made at the first element that resolved to something else.
    Array { pending: Vec<Pending<usize>>, current: Option<(usize, Node)>, out: Option<ArrayVec> },
    /// A store's snapshot (cached when finished): its fields (each with the previous snapshot's
    /// value), the next one, what was built.
    Store { id: StoreId, entries: Vec<Pending<Rc<str>>>, next: usize, out: Vec<Entry> },
    /// An async value waiting for its resolved `result`.
    Async { result: Option<Node>, status: Node, error: Node, data: Node },
}

/// A child to resolve: where it is, its wire node, and the previous snapshot's node there.
type Pending<At> = (At, Node, Option<Node>);

impl Frame for Resolving {
    type Child = Resolve;
    type Output = Node;
    type Context = Replica;

    fn start(replica: &mut Replica, child: Resolve) -> Result<Self, Node> {
        match child {
            Resolve::Store(id) => replica.start_store(&id),
            Resolve::Value { value, previous, owner } => replica.start(&value, previous.as_ref(), &owner),
        }
    }

    fn finish(self, replica: &mut Replica) -> Node {
        replica.finish(self)
    }

    /// The next child to resolve, with the store it belongs to.
    fn next_child(&mut self) -> Option<Resolve> {
        let (value, previous) = match &mut self.kind {
            ResolvingKind::Store { entries, next, .. } => {
                let child = entries.get(*next).map(|(_, value, previous)| (value.clone(), previous.clone()));
                *next += 1;
                child
            }
            ResolvingKind::Object { pending, current, .. } => pending.pop().map(|(key, value, previous)| {
                *current = Some((key, value.clone()));
                (value, previous)
            }),
            ResolvingKind::Array { pending, current, .. } => pending.pop().map(|(at, value, previous)| {
                *current = Some((at, value.clone()));
                (value, previous)
            }),
            ResolvingKind::Async { result, .. } => result.take().map(|result| (result, None)),
        }?;
        let owner = match &self.kind {
            ResolvingKind::Store { id, .. } => id.key(),
            _ => self.owner.clone(),
        };
        Some(Resolve::Value { value, previous, owner })
    }

    /// Takes the resolved form of the child returned by the last [`Resolving::next_child`].
    fn take_child(&mut self, resolved: Node) {
        match &mut self.kind {
            ResolvingKind::Object { current: Some((key, wire)), out, .. } => {
                if !resolved.same(wire) {
                    let copy = out.get_or_insert_with(|| self.wire.as_object().cloned().unwrap_or_default());
                    copy.insert(key.clone(), resolved);
                }
            }
            ResolvingKind::Store { entries, next, out, .. } => {
                if let Some((key, _, _)) = next.checked_sub(1).and_then(|at| entries.get(at)) {
                    out.push((key.clone(), resolved));
                }
            }
            ResolvingKind::Array { current: Some((at, wire)), out, .. } => {
                if !resolved.same(wire) {
                    let copy = out.get_or_insert_with(|| self.wire.as_array().cloned().unwrap_or_default());
                    if let Some(slot) = copy.get_mut(*at) {
                        *slot = resolved;
                    }
                }
            }
            ResolvingKind::Object { current: None, .. } | ResolvingKind::Array { current: None, .. } => {}
            ResolvingKind::Async { data, .. } => *data = resolved,
        }
    }
}

impl Replica {
    /// The snapshot of store `id`: `{"__musubi_store_id__": id, …resolved fields}`, or just the id
    /// when the store is not in the index. Cached until invalidated.
    pub fn snapshot(&mut self, id: &StoreId) -> Node {
        walk::<Resolving>(self, Resolve::Store(id.clone()))
    }

    /// Resolves one field value of the store `owner`.
    pub fn resolve(&mut self, value: &Node, owner: &StoreKey) -> Node {
        walk::<Resolving>(self, Resolve::Value { value: value.clone(), previous: None, owner: owner.clone() })
    }

    /// A store's cached snapshot, or the walk that builds it.
    fn start_store(&mut self, id: &StoreId) -> Result<Resolving, Node> {
        let key = id.key();
        if let Some(cached) = self.snapshots.get(&key) {
            return Err(cached.clone());
        }
        let Some(node) = self.store(&key).map(|store| store.node.clone()) else {
            let only_id = Node::Object(ObjectMap::unit(STORE_ID_KEY.into(), id.to_node()));
            self.snapshots.insert(key, only_id.clone());
            return Err(only_id);
        };
        let previous = self.snapshots.previous.get(&key).and_then(Node::as_object);
        let entries = node
            .as_object()
            .map(|map| {
                let fields = map.iter().filter(|(field, _)| &***field != STORE_ID_KEY);
                fields.map(|(k, v)| (k.clone(), v.clone(), previous.and_then(|previous| previous.get(k)).cloned())).collect()
            })
            .unwrap_or_default();
        Ok(Resolving { wire: node, owner: key, kind: ResolvingKind::Store { id: id.clone(), entries, next: 0, out: Vec::new() } })
    }

    /// Resolves what needs no walk, or opens the container that does (§2.8 precedence).
    /// `previous` is what the store's previous snapshot showed at this place.
    fn start(&mut self, value: &Node, previous: Option<&Node>, owner: &StoreKey) -> Result<Resolving, Node> {
        if previous.is_some_and(|previous| previous.same(value)) || self.plain.get(value).is_some() {
            return Err(value.clone());
        }
        let kind = match value {
            Node::Object(map) => {
                if let Some(child) = StoreId::of_store_node(value) {
                    return self.start_store(&child);
                }
                if let Some(stream) = marker_name(value, STREAM_KEY) {
                    return Err(self.streams().items_node(owner, stream));
                }
                if marker_name(value, UPLOAD_KEY).is_some() {
                    return Err(value.clone());
                }
                if is_async(value) {
                    let status = value.get("status").cloned().unwrap_or_default();
                    let error =
                        if status.as_str() == Some("failed") { value.get("reason").cloned().unwrap_or_default() } else { Node::Null };
                    let result = value.get("result").filter(|result| !matches!(result, Node::Null)).cloned();
                    ResolvingKind::Async { result, status, error, data: Node::Null }
                } else {
                    let before = previous.and_then(Node::as_object);
                    let mut pending: Vec<_> = map
                        .iter()
                        .map(|(key, value)| (key, value, before.and_then(|before| before.get(key))))
                        .filter(|(_, value, before)| self.needs_resolving(value, *before))
                        .map(|(key, value, before)| (key.clone(), value.clone(), before.cloned()))
                        .collect();
                    if pending.is_empty() {
                        self.remember_plain(value);
                        return Err(value.clone());
                    }
                    pending.reverse();
                    ResolvingKind::Object { pending, current: None, out: None }
                }
            }
            Node::Array(items) => {
                let mut pending: Vec<_> = match previous.and_then(Node::as_array) {
                    // Only where the previous snapshot showed another node, and past its end.
                    Some(before) => changed_indices(items, before)
                        .into_iter()
                        .chain(before.len()..items.len())
                        .filter_map(|at| Some((at, items.get(at)?, before.get(at))))
                        .filter(|(_, item, before)| self.needs_resolving(item, *before))
                        .map(|(at, item, before)| (at, item.clone(), before.cloned()))
                        .collect(),
                    None => items
                        .iter()
                        .enumerate()
                        .filter(|(_, item)| self.needs_resolving(item, None))
                        .map(|(at, item)| (at, item.clone(), None))
                        .collect(),
                };
                if pending.is_empty() {
                    self.remember_plain(value);
                    return Err(value.clone());
                }
                pending.reverse();
                ResolvingKind::Array { pending, current: None, out: None }
            }
            scalar => return Err(scalar.clone()),
        };
        Ok(Resolving { wire: value.clone(), owner: owner.clone(), kind })
    }

    /// Builds a finished container. A plain container whose children all resolved to themselves
    /// is its own snapshot: it is remembered and returned as is, so it keeps its identity across
    /// versions for as long as no patch touches it.
    fn finish(&mut self, frame: Resolving) -> Node {
        match frame.kind {
            ResolvingKind::Object { out: None, .. } | ResolvingKind::Array { out: None, .. } => {
                self.plain.insert(&frame.wire, ());
                frame.wire
            }
            ResolvingKind::Object { out: Some(out), .. } => Node::Object(out),
            ResolvingKind::Array { out: Some(out), .. } => Node::Array(Rc::new(out)),
            ResolvingKind::Store { id, mut out, .. } => {
                out.push((STORE_ID_KEY.into(), id.to_node()));
                let snapshot = Node::Object(ObjectMap::from_entries(out));
                self.snapshots.insert(frame.owner, snapshot.clone());
                snapshot
            }
            ResolvingKind::Async { status, error, data, .. } => {
                Node::Object(ObjectMap::from_entries(vec![("data".into(), data), ("error".into(), error), ("status".into(), status)]))
            }
        }
    }

    /// Remembers that a container resolved to itself, unless telling that again is as cheap as
    /// looking it up: a small container of scalars only (the records of a wide list, which would
    /// fill the set with an entry each).
    fn remember_plain(&mut self, value: &Node) {
        if !plain_by_shape(value) {
            self.plain.insert(value, ());
        }
    }

    /// False for what resolves to itself without a look inside: scalars, the very node the
    /// previous snapshot showed at its place, and containers resolved to themselves before.
    fn needs_resolving(&self, value: &Node, previous: Option<&Node>) -> bool {
        value.is_container()
            && !previous.is_some_and(|previous| previous.same(value))
            && !plain_by_shape(value)
            && self.plain.get(value).is_none()
    }

    /// Reads one field of a store as its snapshot value would show it; `None` when the store is
    /// not in the index or has no such field.
    pub fn read_field(&mut self, id: &StoreId, field: &str) -> Option<Node> {
        let key = id.key();
        let value = self.store(&key)?.node.get(field)?.clone();
        Some(self.resolve(&value, &key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_marker_key_has_the_prefix_the_shape_check_looks_for() {
        for key in [STORE_ID_KEY, STREAM_KEY, UPLOAD_KEY, ASYNC_KEY] {
            assert!(key.starts_with(MARKER_PREFIX), "{key}");
        }
        let flat = Node::from_json(&serde_json::json!({"id": 1, "label": "x"}));
        let marker = Node::from_json(&serde_json::json!({"__musubi_stream__": "log"}));
        assert!(plain_by_shape(&flat) && !plain_by_shape(&marker));
    }
}
