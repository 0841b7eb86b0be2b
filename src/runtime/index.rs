//! The store index: store key → (id, node), maintained incrementally from the ops of each
//! envelope. Only the root replacement of an initial envelope walks a whole tree; every other op
//! touches the stores on its path and inside its old and new values.

use std::collections::HashMap;
use std::rc::Rc;

use super::store_id::{STORE_ID_KEY, StoreId, StoreKey};
use super::tree::Node;

/// One indexed store.
#[derive(Debug, Clone)]
pub struct IndexedStore {
    /// Its id.
    pub id: StoreId,
    /// Its node in the current tree.
    pub node: Node,
}

/// Store key → indexed store. Hashed with `foldhash` (randomly seeded, as store ids come from the
/// server): several lookups per envelope. An envelope edits it through an [`IndexEdit`].
pub type StoreIndex = HashMap<StoreKey, IndexedStore, foldhash::fast::RandomState>;

/// The store index as an envelope's ops leave it, kept as the changes to the current index until
/// the envelope commits: an envelope costs what it changes, and a refused one leaves nothing to
/// undo. Reads see the changes over the current index.
///
/// ```
/// use musubi_wasm::runtime::index::{IndexEdit, IndexedStore, StoreIndex};
/// use musubi_wasm::runtime::{Node, StoreId};
/// let mut index = StoreIndex::default();
/// let mut edit = IndexEdit::new(&index);
/// let id = StoreId::from(["cart"]);
/// edit.insert(id.key(), IndexedStore { id: id.clone(), node: Node::empty_object() });
/// assert!(edit.contains_key(&id.key()) && index.is_empty());
/// let changes = edit.into_changes();
/// changes.apply_to(&mut index);
/// assert!(index.contains_key(&id.key()));
/// ```
pub struct IndexEdit<'a> {
    current: &'a StoreIndex,
    changes: IndexChanges,
}

/// What an [`IndexEdit`] changed, detached from the index it read.
pub enum IndexChanges {
    /// A whole new index (a root replacement).
    Replaced(StoreIndex),
    /// Store key → the store now (`None`: removed).
    Edited(HashMap<StoreKey, Option<IndexedStore>, foldhash::fast::RandomState>),
}

impl<'a> IndexEdit<'a> {
    /// No changes yet to `current`.
    pub fn new(current: &'a StoreIndex) -> Self {
        IndexEdit { current, changes: IndexChanges::Edited(HashMap::default()) }
    }

    /// Replaces the whole index.
    pub fn replace_all(&mut self, index: StoreIndex) {
        self.changes = IndexChanges::Replaced(index);
    }

    /// The store of `key` after the changes.
    pub fn get(&self, key: &StoreKey) -> Option<&IndexedStore> {
        match &self.changes {
            IndexChanges::Replaced(index) => index.get(key),
            IndexChanges::Edited(edited) => match edited.get(key) {
                Some(now) => now.as_ref(),
                None => self.current.get(key),
            },
        }
    }

    /// True when `key` is indexed after the changes.
    pub fn contains_key(&self, key: &StoreKey) -> bool {
        self.get(key).is_some()
    }

    /// Every key indexed after the changes.
    pub fn keys(&self) -> Box<dyn Iterator<Item = &StoreKey> + '_> {
        match &self.changes {
            IndexChanges::Replaced(index) => Box::new(index.keys()),
            IndexChanges::Edited(edited) => {
                let kept = self.current.keys().filter(|key| !edited.contains_key(*key));
                Box::new(kept.chain(edited.iter().filter(|(_, now)| now.is_some()).map(|(key, _)| key)))
            }
        }
    }

    /// Indexes `store` under `key`.
    pub fn insert(&mut self, key: StoreKey, store: IndexedStore) {
        match &mut self.changes {
            IndexChanges::Replaced(index) => {
                index.insert(key, store);
            }
            IndexChanges::Edited(edited) => {
                edited.insert(key, Some(store));
            }
        }
    }

    /// Drops `key` from the index.
    pub fn remove(&mut self, key: &StoreKey) {
        match &mut self.changes {
            IndexChanges::Replaced(index) => {
                index.remove(key);
            }
            IndexChanges::Edited(edited) => {
                edited.insert(key.clone(), None);
            }
        }
    }

    /// The changes, to commit with [`IndexChanges::apply_to`].
    pub fn into_changes(self) -> IndexChanges {
        self.changes
    }
}

impl IndexChanges {
    /// Makes `index` what the edit left.
    pub fn apply_to(self, index: &mut StoreIndex) {
        match self {
            IndexChanges::Replaced(replaced) => *index = replaced,
            IndexChanges::Edited(edited) => {
                for (key, now) in edited {
                    match now {
                        Some(store) => index.insert(key, store),
                        None => index.remove(&key),
                    };
                }
            }
        }
    }
}

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

/// A store met on a path.
#[derive(Debug, Clone)]
pub struct PathStore {
    /// Its id.
    pub id: StoreId,
    /// Its key.
    pub key: StoreKey,
    /// Its node.
    pub node: Node,
}

/// The store nodes met walking `segments` from the root of `tree` (root and final target
/// included), stopping at the first missing step. Array steps follow canonical indices only.
/// `known` is what the same walk met in the previous version: a store whose id array is the one
/// it had there takes its id and key from there (no parse, no allocation).
pub fn stores_on_path(tree: &Node, segments: &[Rc<str>], known: &[PathStore]) -> Vec<PathStore> {
    let mut found: Vec<PathStore> = Vec::new();
    let mut current = Some(tree);
    let mut remaining = segments.iter();
    while let Some(node) = current {
        let id_node = node.get(STORE_ID_KEY);
        let before = known.get(found.len()).filter(|before| {
            let same_id = before.node.get(STORE_ID_KEY).zip(id_node).is_some_and(|(was, is)| was.same(is));
            same_id && id_node.is_some_and(Node::is_container)
        });
        if let Some(before) = before {
            found.push(PathStore { id: before.id.clone(), key: before.key.clone(), node: node.clone() });
        } else if let Some(id) = StoreId::of_store_node(node) {
            found.push(PathStore { key: id.key(), id, node: node.clone() });
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

/// Every store inside `node` (node included).
pub fn stores_within(node: &Node) -> Vec<PathStore> {
    let mut found = Vec::new();
    for_each_store(node, &mut |id, store| found.push(PathStore { key: id.key(), id, node: store.clone() }));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::patch::{self, Mode, Op};
    use serde_json::json;

    #[test]
    fn a_path_walk_reuses_the_ids_of_stores_whose_id_array_is_unchanged() {
        let tree = Node::from_json(&json!({"__musubi_store_id__": [], "a": {"__musubi_store_id__": ["a"], "v": 1}}));
        let segments: Vec<Rc<str>> = vec!["a".into(), "v".into()];
        let before = stores_on_path(&tree, &segments, &[]);
        let op = Op::parse(&Node::from_json(&json!({"op": "replace", "path": "/a/v", "value": 2})), Mode::Musubi);
        let after = op.and_then(|op| patch::apply_op(&tree, &op, Mode::Musubi)).map(|applied| applied.tree).unwrap_or_default();
        let walked = stores_on_path(&after, &segments, &before);
        let keys = |stores: &[PathStore]| stores.iter().map(|store| store.key.to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&walked), ["[]", r#"["a"]"#]);
        assert!(
            walked.iter().zip(&before).all(|(now, was)| std::ptr::eq(now.key.as_str(), was.key.as_str())),
            "ids and keys come from the known walk"
        );
        assert!(walked.iter().zip(&before).all(|(now, was)| !now.node.same(&was.node)), "the nodes are the new ones");
        // A store whose id array changed is read again.
        let renamed = Node::from_json(&json!({"__musubi_store_id__": [], "a": {"__musubi_store_id__": ["b"], "v": 1}}));
        assert_eq!(keys(&stores_on_path(&renamed, &segments, &before)), ["[]", r#"["b"]"#]);
    }
}
