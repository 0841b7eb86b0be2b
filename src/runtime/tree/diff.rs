//! Which elements of an array changed between two versions, found without looking at what the
//! versions share. A patch copies only the path it changes, so a new version of a wide array
//! shares every leaf chunk (`imbl` keeps 64 elements per leaf) but the edited ones with its
//! previous version: comparing chunk addresses skips 64 elements at a time.
//!
//! ```
//! use musubi_wasm::runtime::tree::{Node, changed_indices};
//! let before = Node::from_json(&serde_json::json!((0..1000).collect::<Vec<_>>()));
//! let mut items = before.as_array().cloned().unwrap_or_default();
//! items.set(500, Node::from(-1));
//! let after = Node::Array(std::rc::Rc::new(items));
//! assert_eq!(changed_indices(after.as_array().unwrap(), before.as_array().unwrap()), [500]);
//! ```

use super::ArrayVec;

/// The indices below both lengths at which `new` and `old` hold different nodes (by
/// [`Node::same`](super::Node::same)), in order. Leaf chunks both versions share are skipped
/// whole; past the first chunks that do not line up (after an insert or a removal), elements are
/// compared one by one.
pub fn changed_indices(new: &ArrayVec, old: &ArrayVec) -> Vec<usize> {
    let mut changed = Vec::new();
    let mut at = 0;
    let (mut new_leaves, mut old_leaves) = (new.leaves(), old.leaves());
    while let (Some(new_leaf), Some(old_leaf)) = (new_leaves.next(), old_leaves.next()) {
        if new_leaf.len() != old_leaf.len() {
            break;
        }
        if !std::ptr::eq(new_leaf.as_ptr(), old_leaf.as_ptr()) {
            changed.extend(new_leaf.iter().zip(old_leaf).enumerate().filter(|(_, (a, b))| !a.same(b)).map(|(offset, _)| at + offset));
        }
        at += new_leaf.len();
    }
    // Not `iter().skip(at)`: skipping steps through every element before `at`.
    let kept = new.len().min(old.len());
    if at < kept {
        let (mut new_rest, mut old_rest) = (new.focus(), old.focus());
        changed.extend((at..kept).filter(|&index| !matches!((new_rest.get(index), old_rest.get(index)), (Some(a), Some(b)) if a.same(b))));
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::super::Node;
    use super::*;

    fn array(len: usize) -> ArrayVec {
        (0..len).map(|n| Node::empty_object().with_key("n", Node::from(n as i64))).collect()
    }

    #[test]
    fn edits_are_found_whether_or_not_the_chunks_line_up() {
        let old = array(5_000);
        let mut edited = old.clone();
        edited.set(3, Node::from(0));
        edited.set(4_321, Node::from(0));
        assert_eq!(changed_indices(&edited, &old), [3, 4_321]);
        assert_eq!(changed_indices(&old, &old), Vec::<usize>::new());
        let mut shifted = old.clone();
        shifted.insert(10, Node::Null);
        let found = changed_indices(&shifted, &old);
        assert_eq!(found.first(), Some(&10), "everything from the insert on moved");
        assert_eq!(found.len(), 5_000 - 10);
        let mut shorter = old.clone();
        shorter.truncate(100);
        assert!(changed_indices(&shorter, &old).is_empty(), "only indices below both lengths");
        let equal_but_new = array(5_000);
        assert_eq!(changed_indices(&equal_but_new, &old).len(), 5_000, "identity, not equality");
        let small: ArrayVec = [Node::from(1), Node::from(2)].into_iter().collect();
        let mut other = small.clone();
        other.set(1, Node::from(3));
        assert_eq!(changed_indices(&other, &small), [1]);
    }
}
