//! The replica's persistent JSON tree. Containers are immutable and shared: an update copies only
//! the containers on the path it changes (each in O(log width) thanks to `imbl`), so unchanged
//! subtrees keep their identity ([`Node::same`]) — which is how "did this store change?" is
//! answered without comparing values.
//!
//! ```
//! use musubi_wasm::runtime::tree::Node;
//! let tree = Node::from_json(&serde_json::json!({"a": {"b": 1}, "c": [1, 2]}));
//! let a = tree.get("a").cloned().unwrap_or(Node::Null);
//! let updated = tree.with_key("c", Node::from(3));
//! assert!(updated.get("a").is_some_and(|same| same.same(&a)), "untouched subtree shared");
//! assert_eq!(updated.to_json(), serde_json::json!({"a": {"b": 1}, "c": 3}));
//! ```

use std::cell::Cell;
use std::rc::Rc;

use serde_json::Number;

/// An array's elements.
pub type ArrayVec = imbl::Vector<Node>;
/// An iterator over an array's elements.
pub(crate) type ArrayIter<'a> = <&'a ArrayVec as IntoIterator>::IntoIter;
/// An iterator over an object's entries, in key order.
pub(crate) type ObjectIter<'a> = object::Iter<'a>;

mod convert;
mod diff;
mod object;
mod parse;
mod share;

pub use diff::changed_indices;
pub use object::{Entry, ObjectMap, SMALL_MAX};
pub use parse::MAX_PARSE_NESTING;

pub use share::share_unchanged;

/// One JSON value of the replica. Cloning is O(1).
#[derive(Clone, Debug, Default)]
pub enum Node {
    /// `null`
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Rc<str>),
    /// An array (shared; identity via [`Node::same`]).
    Array(Rc<ArrayVec>),
    /// An object (shared; identity via [`Node::same`]).
    Object(ObjectMap),
}

impl Node {
    /// An empty object.
    pub fn empty_object() -> Node {
        Node::Object(ObjectMap::new())
    }

    /// True when both are the same shared container, or equal scalars. O(1).
    pub fn same(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Array(a), Node::Array(b)) => Rc::ptr_eq(a, b),
            (Node::Object(a), Node::Object(b)) => a.same(b),
            (Node::Null, Node::Null) => true,
            (Node::Bool(a), Node::Bool(b)) => a == b,
            (Node::Number(a), Node::Number(b)) => a == b,
            (Node::String(a), Node::String(b)) => a == b,
            _ => false,
        }
    }

    /// The object's field `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The array's element `index`.
    pub fn at(&self, index: usize) -> Option<&Node> {
        match self {
            Node::Array(items) => items.get(index),
            _ => None,
        }
    }

    /// The object's map, if this is an object.
    pub fn as_object(&self) -> Option<&ObjectMap> {
        match self {
            Node::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The array's elements, if this is an array.
    pub fn as_array(&self) -> Option<&ArrayVec> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }

    /// True for an array or an object.
    pub fn is_container(&self) -> bool {
        matches!(self, Node::Array(_) | Node::Object(_))
    }

    /// The children of a container, in order (none for a scalar).
    pub fn children(&self) -> Children<'_> {
        match self {
            Node::Array(items) => Children::Array(items.iter()),
            Node::Object(map) => Children::Object(map.iter()),
            _ => Children::None,
        }
    }

    /// True for a container with a container among its children: one of scalars only holds no
    /// store (a store's id is an array), no marker below it and nothing to walk into.
    pub fn holds_containers(&self) -> bool {
        self.children().any(Node::is_container)
    }

    /// True for a container whose children are all scalars; false for scalars.
    pub fn is_flat(&self) -> bool {
        self.is_container() && !self.holds_containers()
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(text) => Some(text),
            _ => None,
        }
    }

    /// A copy of this object with `key` set (a non-object becomes an object with one key).
    #[must_use]
    pub fn with_key(&self, key: &str, value: Node) -> Node {
        let mut map = self.as_object().cloned().unwrap_or_default();
        map.insert(key.into(), value);
        Node::Object(map)
    }
}

/// The children of a container, in order ([`Node::children`]).
pub enum Children<'a> {
    #[doc(hidden)]
    Array(imbl::vector::Iter<'a, Node, imbl::shared_ptr::DefaultSharedPtr>),
    #[doc(hidden)]
    Object(object::Iter<'a>),
    #[doc(hidden)]
    None,
}

impl<'a> Iterator for Children<'a> {
    type Item = &'a Node;

    fn next(&mut self) -> Option<&'a Node> {
        match self {
            Children::Array(items) => items.next(),
            Children::Object(entries) => entries.next().map(|(_, value)| value),
            Children::None => None,
        }
    }
}

impl Node {
    /// How many holders share this container (`None` for scalars).
    fn holders(&self) -> Option<usize> {
        match self {
            Node::Array(items) => Some(Rc::strong_count(items)),
            Node::Object(map) => Some(map.holders()),
            _ => None,
        }
    }

    /// The address of a container (`None` for scalars); equal addresses of live nodes mean the
    /// same container.
    pub fn address(&self) -> Option<usize> {
        match self {
            Node::Array(items) => Some(Rc::as_ptr(items) as *const () as usize),
            Node::Object(map) => Some(map.address()),
            _ => None,
        }
    }
}

/// A set of containers, by address. Each entry holds its container, so the address cannot be
/// reused while the entry exists and a lookup is one hash probe that never touches the container.
/// Entries whose container nobody else holds any more are dropped as the set grows (amortized
/// O(1) per insert; the set holds at most about twice the live entries).
#[derive(Debug, Clone, Default)]
pub struct ContainerSet<V> {
    /// Keyed by address with `foldhash`'s fast fixed-seed hash: addresses need no protection
    /// against collisions an attacker could choose, and this is a hot lookup (one per container
    /// on every snapshot read). (`rustc-hash` was tried: on wasm32 its hash leaves the top bits
    /// that `hashbrown` tags entries with at zero, and every lookup degrades to a scan.)
    entries: std::collections::HashMap<usize, (Node, V), foldhash::fast::FixedState>,
    live_after_prune: usize,
}

impl<V> ContainerSet<V> {
    /// Below this many entries the set never prunes.
    const PRUNE_FLOOR: usize = 64;

    /// The value stored for `node`, if `node` is a container in the set.
    pub fn get(&self, node: &Node) -> Option<&V> {
        self.entries.get(&node.address()?).map(|(_, value)| value)
    }

    /// Stores `value` for container `node` (scalars are ignored). Returns true if it was new.
    pub fn insert(&mut self, node: &Node, value: V) -> bool {
        let Some(address) = node.address() else { return false };
        let added = self.entries.insert(address, (node.clone(), value)).is_none();
        if self.entries.len() > self.live_after_prune.saturating_mul(2).max(Self::PRUNE_FLOOR) {
            self.prune();
        }
        added
    }

    /// Forgets every entry whose container only the set still held, and then the entries of
    /// what that frees in turn (a dead subtree goes in one call, however deep); returns how many
    /// went.
    pub fn prune(&mut self) -> usize {
        let before = self.entries.len();
        let mut dead: Vec<Node> = Vec::new();
        self.entries.retain(|_, (node, _)| {
            let live = node.holders().is_some_and(|holders| holders > 1);
            if !live {
                dead.push(std::mem::take(node));
            }
            live
        });
        while let Some(node) = dead.pop() {
            // `node` is held by `dead` alone now: a child held by it and by its own entry only
            // is dead once `node` goes.
            for child in node.children().filter(|child| child.holders() == Some(2)) {
                if let Some((child, _)) = child.address().and_then(|address| self.entries.remove(&address)) {
                    dead.push(child);
                }
            }
            drop(node);
        }
        self.live_after_prune = self.entries.len();
        before - self.entries.len()
    }

    /// How many entries there are (live or not yet pruned).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.live_after_prune = 0;
    }
}

impl PartialEq for Node {
    /// Structural equality, without recursion; shared containers short-circuit.
    fn eq(&self, other: &Node) -> bool {
        let mut pending: Vec<(&Node, &Node)> = vec![(self, other)];
        while let Some((left, right)) = pending.pop() {
            match (left, right) {
                (Node::Array(a), Node::Array(b)) if !Rc::ptr_eq(a, b) => {
                    if a.len() != b.len() {
                        return false;
                    }
                    pending.extend(a.iter().zip(b.iter()));
                }
                (Node::Object(a), Node::Object(b)) if !a.same(b) => {
                    if a.len() != b.len() {
                        return false;
                    }
                    for ((key_a, value_a), (key_b, value_b)) in a.iter().zip(b.iter()) {
                        if key_a != key_b {
                            return false;
                        }
                        pending.push((value_a, value_b));
                    }
                }
                _ if left.same(right) => {}
                _ => return false,
            }
        }
        true
    }
}

impl Drop for Node {
    /// Drops a tree of any depth without overflowing the stack, at the cost of what it frees.
    ///
    /// Near the top (32 nested drops) a container is released the ordinary
    /// way: `Rc` and `imbl` free only what nobody else shares, so dropping the previous version of
    /// a tree after a one-op patch costs the few containers on the changed path. Deeper than
    /// that, the children of every container this node holds alone are moved onto a work list,
    /// so each drop goes one level deep whatever the depth.
    fn drop(&mut self) {
        if !self.is_container() {
            return;
        }
        let level = DROP_LEVEL.try_with(Cell::get).unwrap_or(RECURSIVE_DROP_LEVELS);
        if level < RECURSIVE_DROP_LEVELS {
            let _ = DROP_LEVEL.try_with(|cell| cell.set(level + 1));
            release_shallow(self);
            let _ = DROP_LEVEL.try_with(|cell| cell.set(level));
            return;
        }
        let mut pending: Vec<Node> = Vec::new();
        release_children(self, &mut pending);
        while let Some(mut node) = pending.pop() {
            release_children(&mut node, &mut pending);
        }
    }
}

/// How many drops may nest before [`Node`]'s drop switches to a work list. Small enough that the
/// nested drops fit in a few tens of KiB of stack in a debug build.
const RECURSIVE_DROP_LEVELS: usize = 32;

thread_local! {
    /// How many [`Node`] drops are nested on this thread's stack right now.
    static DROP_LEVEL: Cell<usize> = const { Cell::new(0) };
    /// Empty containers that stand in for the ones [`release_children`] takes apart.
    static EMPTY_ARRAY: Rc<ArrayVec> = Rc::default();
}

#[cfg(test)]
thread_local! {
    /// How many nodes this thread's drops put through the work list (tests only).
    static WORK_LIST_RELEASES: Cell<usize> = const { Cell::new(0) };
}

/// Drops `node`'s container now (the ordinary, recursive way), leaving an empty one behind.
fn release_shallow(node: &mut Node) {
    match node {
        Node::Array(items) => drop(std::mem::replace(items, EMPTY_ARRAY.try_with(Rc::clone).unwrap_or_default())),
        Node::Object(map) => drop(std::mem::take(map)),
        _ => {}
    }
}

/// Moves the children of a container that `node` holds alone onto `pending`, leaving an empty
/// container behind (one a snapshot cache also holds is left to the cache's pruning).
fn release_children(node: &mut Node, pending: &mut Vec<Node>) {
    #[cfg(test)]
    let _ = WORK_LIST_RELEASES.try_with(|count| count.set(count.get() + 1));
    match node {
        Node::Array(items) if Rc::strong_count(items) == 1 => {
            let empty = EMPTY_ARRAY.try_with(Rc::clone).unwrap_or_default();
            if let Ok(items) = Rc::try_unwrap(std::mem::replace(items, empty)) {
                pending.extend(items);
            }
        }
        Node::Object(map) if map.holders() == 1 => {
            // The taken-apart entries (keys and nulls) go now; the node keeps the shared empty
            // object, so its own drop has nothing left to take apart.
            let mut entries = std::mem::take(map);
            entries.take_values_into(pending);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::patch::{self, Mode, Op};
    use serde_json::json;

    fn work_list_releases() -> usize {
        WORK_LIST_RELEASES.with(Cell::get)
    }

    #[test]
    fn dropping_the_previous_version_after_a_patch_frees_only_the_changed_path() {
        let items: Vec<_> = (0..10_000).map(|i| json!({"id": i, "v": 0})).collect();
        let old = Node::from_json(&json!({"groups": [{"items": items}]}));
        let op = Op::parse(&Node::from_json(&json!({"op": "replace", "path": "/groups/0/items/7/v", "value": 1})), Mode::Musubi);
        let new = op.and_then(|op| patch::apply(&old, &[op], Mode::Musubi)).unwrap_or_default();
        let before = work_list_releases();
        drop(old);
        assert_eq!(work_list_releases(), before, "a shallow tree is dropped the ordinary way, sharing respected");
        assert_eq!(
            new.get("groups").and_then(|g| g.at(0)).and_then(|g| g.get("items")).and_then(|i| i.at(7)).and_then(|i| i.get("v")),
            Some(&Node::from(1))
        );
    }

    #[test]
    fn a_tree_deeper_than_the_recursive_levels_goes_through_the_work_list() {
        let mut chain = Node::from(0);
        for _ in 0..(RECURSIVE_DROP_LEVELS * 4) {
            chain = Node::empty_object().with_key("next", chain);
        }
        let before = work_list_releases();
        drop(chain);
        assert!(work_list_releases() > before, "the levels past the recursion limit use the work list");
        // Each node goes through the list once (a taken-apart object leaves nothing behind to
        // take apart again): 128 objects of 20 scalars and a link are 128 × 21 nodes, plus each
        // object's own drop.
        let mut chain = Node::from(0);
        for _ in 0..(RECURSIVE_DROP_LEVELS * 4) {
            let fields = (0..20).map(|n| (Rc::from(format!("f{n}").as_str()), Node::from(n)));
            chain = Node::Object(ObjectMap::from_entries(fields.chain([(Rc::from("next"), chain)]).collect::<Vec<_>>()));
        }
        let before = work_list_releases();
        drop(chain);
        assert!(work_list_releases() - before <= RECURSIVE_DROP_LEVELS * 4 * 22, "{} releases", work_list_releases() - before);
    }

    #[test]
    fn container_sets_follow_identity_and_forget_dropped_containers() {
        let mut set = ContainerSet::default();
        let kept = Node::from_json(&json!({"a": [1]}));
        assert!(set.insert(&kept, 1));
        assert!(!set.insert(&kept, 2), "same container");
        assert_eq!(set.get(&kept.clone()), Some(&2), "clones share the container");
        assert_eq!(set.get(&Node::from_json(&json!({"a": [1]}))), None, "equal but not the same container");
        assert!(!set.insert(&Node::from(1), 3), "scalars are not containers");
        for n in 0..200 {
            set.insert(&Node::from_json(&json!([n])), 0);
        }
        assert!(set.len() < 150, "dropped containers are pruned as the set grows ({})", set.len());
        assert_eq!(set.get(&kept), Some(&2));
        set.prune();
        assert_eq!(set.len(), 1);
    }
}
