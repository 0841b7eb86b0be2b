//! Remount sharing: a fresh state takes the identity of every subtree that did not change.

use std::rc::Rc;

use super::{ArrayIter, ArrayVec, Entry, Node, ObjectIter, ObjectMap};
use crate::runtime::walk::{Frame, walk};

/// `new`, with every subtree that equals the one at the same place in `old` replaced by `old`'s
/// (shared) node, so identity survives a full state replacement wherever nothing changed. Costs
/// one walk of `new`.
///
/// ```
/// use musubi_wasm::runtime::tree::{Node, share_unchanged};
/// let old = Node::from_json(&serde_json::json!({"a": {"x": 1}, "b": [1]}));
/// let new = Node::from_json(&serde_json::json!({"a": {"x": 1}, "b": [2]}));
/// let merged = share_unchanged(&old, &new);
/// assert!(merged.get("a").zip(old.get("a")).is_some_and(|(m, o)| m.same(o)));
/// assert_eq!(merged, new);
/// assert!(share_unchanged(&old, &old.clone()).same(&old));
/// ```
pub fn share_unchanged(old: &Node, new: &Node) -> Node {
    walk::<Merge<'_>>(&mut (), (Some(old), new))
}

/// A pair of containers being merged by [`share_unchanged`].
struct Merge<'a> {
    old: &'a Node,
    children: MergeChildren<'a>,
    /// True while every merged child is the old one and the lengths match.
    all_same: bool,
}

enum MergeChildren<'a> {
    Object { before: &'a ObjectMap, after: ObjectIter<'a>, key: Option<Rc<str>>, merged: Vec<Entry> },
    Array { before: &'a ArrayVec, after: ArrayIter<'a>, merged: ArrayVec },
}

impl<'a> Frame for Merge<'a> {
    /// The old node at a place (if there is one) and the new one.
    type Child = (Option<&'a Node>, &'a Node);
    type Output = Node;
    type Context = ();

    /// Opens two containers of the same kind that are not already shared; anything else is
    /// decided at once (`Err`).
    fn start(_: &mut (), (old, new): (Option<&'a Node>, &'a Node)) -> Result<Self, Node> {
        let Some(old) = old else { return Err(new.clone()) };
        let children = match (old, new) {
            (Node::Object(before), Node::Object(after)) if !before.same(after) => {
                MergeChildren::Object { before, after: after.iter(), key: None, merged: Vec::with_capacity(after.len()) }
            }
            (Node::Array(before), Node::Array(after)) if !Rc::ptr_eq(before, after) => {
                MergeChildren::Array { before, after: after.iter(), merged: ArrayVec::new() }
            }
            _ if old.same(new) => return Err(old.clone()),
            _ => return Err(new.clone()),
        };
        let all_same = match (old, new) {
            (Node::Object(before), Node::Object(after)) => before.len() == after.len(),
            (Node::Array(before), Node::Array(after)) => before.len() == after.len(),
            _ => false,
        };
        Ok(Merge { old, children, all_same })
    }

    /// The next new child and the old one at the same place.
    fn next_child(&mut self) -> Option<(Option<&'a Node>, &'a Node)> {
        match &mut self.children {
            MergeChildren::Object { before, after, key, .. } => after.next().map(|(field, value)| {
                *key = Some(field.clone());
                (before.get(field), value)
            }),
            MergeChildren::Array { before, after, merged } => {
                let position = merged.len();
                after.next().map(|value| (before.get(position), value))
            }
        }
    }

    /// Takes the merged form of the child returned by the last [`Merge::next_child`].
    fn take_child(&mut self, shared: Node) {
        match &mut self.children {
            MergeChildren::Object { before, key, merged, .. } => {
                if let Some(key) = key.take() {
                    self.all_same &= before.get(&key).is_some_and(|previous| previous.same(&shared));
                    merged.push((key, shared));
                }
            }
            MergeChildren::Array { before, merged, .. } => {
                self.all_same &= before.get(merged.len()).is_some_and(|previous| previous.same(&shared));
                merged.push_back(shared);
            }
        }
    }

    fn finish(self, _: &mut ()) -> Node {
        if self.all_same {
            return self.old.clone();
        }
        match self.children {
            MergeChildren::Object { merged, .. } => Node::Object(ObjectMap::from_entries(merged)),
            MergeChildren::Array { merged, .. } => Node::Array(Rc::new(merged)),
        }
    }
}
