//! The store index: store key → (id, node), maintained incrementally from the ops of each
//! envelope. Only the root replacement of an initial envelope walks a whole tree; every other op
//! touches the stores on its path and inside its old and new values.

use std::rc::Rc;

use super::store_id::{StoreId, StoreKey};
use super::tree::Node;

/// One indexed store.
#[derive(Debug, Clone)]
pub struct IndexedStore {
    /// Its id.
    pub id: StoreId,
    /// Its node in the current tree.
    pub node: Node,
}

/// Store key → indexed store; persistent, so cloning it per envelope is O(1). Hashed with
/// `foldhash` (randomly seeded, as store ids come from the server): several lookups per envelope.
pub type StoreIndex = imbl::GenericHashMap<StoreKey, IndexedStore, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;

/// Calls `found` for every store node inside `node` (depth first, in document order, `node`
/// included). Iterative, so any depth is safe.
pub fn for_each_store(node: &Node, found: &mut impl FnMut(StoreId, &Node)) {
    // A store's id is an array, so a container of scalars only is neither a store nor holds one.
    let worth_a_look = |node: &&Node| node.holds_containers();
    let mut pending: Vec<&Node> = vec![node];
    while let Some(node) = pending.pop() {
        match node {
            Node::Object(map) => {
                if let Some(id) = StoreId::of_store_node(node) {
                    found(id, node);
                }
                pending.extend(map.values().rev().filter(worth_a_look));
            }
            Node::Array(items) => pending.extend(items.iter().rev().filter(worth_a_look)),
            _ => {}
        }
    }
}

/// Builds an index of every store in `tree` (used for a root replacement).
pub fn build_index(tree: &Node) -> StoreIndex {
    let mut index = StoreIndex::default();
    for_each_store(tree, &mut |id, node| {
        index.insert(id.key(), IndexedStore { id, node: node.clone() });
    });
    index
}

/// The store nodes met walking `segments` from the root of `tree` (root and final target
/// included), stopping at the first missing step. Array steps follow canonical indices only.
pub fn stores_on_path(tree: &Node, segments: &[Rc<str>]) -> Vec<(StoreId, Node)> {
    let mut found = Vec::new();
    let mut current = Some(tree);
    let mut remaining = segments.iter();
    while let Some(node) = current {
        if let Some(id) = StoreId::of_store_node(node) {
            found.push((id, node.clone()));
        }
        let Some(segment) = remaining.next() else { break };
        current = match node {
            Node::Object(map) => map.get(segment),
            Node::Array(items) => super::patch::Pointer::array_index(segment).and_then(|index| items.get(index)),
            _ => None,
        };
    }
    found
}

/// Every store inside `node` (node included) as (id, node) pairs.
pub fn stores_within(node: &Node) -> Vec<(StoreId, Node)> {
    let mut found = Vec::new();
    for_each_store(node, &mut |id, store| found.push((id, store.clone())));
    found
}
