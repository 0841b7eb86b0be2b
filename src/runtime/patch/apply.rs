//! Applying ops with structural sharing.
//!
//! An edit walks from the root to the parent of the target, remembering each container and the
//! step taken, edits the parent, then rebuilds only those containers bottom-up (each an O(1)
//! clone of the `imbl` map/vector plus an O(log width) update, wrapped in a new `Rc`). Nothing
//! else is visited, so untouched subtrees keep their identity and the input is never mutated.

use std::rc::Rc;

use serde_json::Number;

use super::pointer::{IndexSegment, classify_index};
use super::{Applied, Mode, Op, PatchError, Pointer};
use crate::runtime::tree::{ArrayVec, Node, ObjectMap};

/// Applies one op (see [`super::apply_op`]).
pub(super) fn apply_op(tree: &Node, op: &Op, mode: Mode) -> Result<Applied, PatchError> {
    match mode {
        Mode::Musubi => apply_musubi(tree, op),
        Mode::Strict => apply_strict(tree, op),
    }
}

fn apply_musubi(tree: &Node, op: &Op) -> Result<Applied, PatchError> {
    let path = op.path();
    if path.is_root() {
        return match op {
            Op::Replace { value, .. } => Ok(Applied { tree: value.clone(), previous: Some(tree.clone()) }),
            _ => Err(PatchError::RootOp(op.name().to_owned())),
        };
    }
    let leaf = match op {
        Op::Add { value, .. } => Leaf::Add(value),
        Op::Remove { .. } => Leaf::Remove,
        Op::Replace { value, .. } => Leaf::Replace(value),
        Op::Move { .. } | Op::Copy { .. } | Op::Test { .. } | Op::Unknown { .. } => Leaf::Touch,
    };
    edit(tree, path, leaf, Mode::Musubi)
}

fn apply_strict(tree: &Node, op: &Op) -> Result<Applied, PatchError> {
    match op {
        Op::Add { path, value } | Op::Replace { path, value } if path.is_root() => {
            Ok(Applied { tree: value.clone(), previous: Some(tree.clone()) })
        }
        Op::Add { path, value } => edit(tree, path, Leaf::Add(value), Mode::Strict),
        Op::Replace { path, value } => edit(tree, path, Leaf::Replace(value), Mode::Strict),
        Op::Remove { path } if path.is_root() => Err(PatchError::RemoveRoot),
        Op::Remove { path } => edit(tree, path, Leaf::Remove, Mode::Strict),
        Op::Test { path, value } => {
            if json_equal(lookup(tree, path)?, value) {
                Ok(Applied { tree: tree.clone(), previous: None })
            } else {
                Err(PatchError::TestFailed(path.as_str().to_owned()))
            }
        }
        Op::Copy { from, path } => {
            let value = lookup(tree, from)?.clone();
            add_strict(tree, path, &value)
        }
        Op::Move { from, path } => {
            let value = lookup(tree, from)?.clone();
            if from == path {
                return Ok(Applied { tree: tree.clone(), previous: None });
            }
            if from.is_proper_prefix_of(path) {
                return Err(PatchError::MoveIntoDescendant { from: from.as_str().to_owned(), path: path.as_str().to_owned() });
            }
            let removed = edit(tree, from, Leaf::Remove, Mode::Strict)?;
            add_strict(&removed.tree, path, &value)
        }
        Op::Unknown { op, .. } => Err(PatchError::UnknownOp(op.clone())),
    }
}

fn add_strict(tree: &Node, path: &Pointer, value: &Node) -> Result<Applied, PatchError> {
    if path.is_root() {
        return Ok(Applied { tree: value.clone(), previous: Some(tree.clone()) });
    }
    edit(tree, path, Leaf::Add(value), Mode::Strict)
}

/// What to do with the last segment.
#[derive(Clone, Copy)]
enum Leaf<'a> {
    Add(&'a Node),
    Remove,
    Replace(&'a Node),
    /// Musubi mode's unknown op: copy the parent, change nothing.
    Touch,
}

/// One container on the way down and the step taken out of it.
enum Frame {
    Object(ObjectMap, Rc<str>),
    Array(Rc<ArrayVec>, usize),
}

/// Edits the value at `path` (not the root) and rebuilds the containers above it.
fn edit(tree: &Node, path: &Pointer, leaf: Leaf<'_>, mode: Mode) -> Result<Applied, PatchError> {
    let Some((last, parents)) = path.segments().split_last() else {
        return Err(PatchError::InvalidPointer(path.as_str().to_owned()));
    };
    let mut frames = Vec::with_capacity(parents.len());
    let mut current = tree;
    for segment in parents {
        let (frame, child) = step(current, segment, path, mode)?;
        frames.push(frame);
        current = child;
    }
    let (mut node, previous) = edit_parent(current, last, leaf, path, mode)?;
    for frame in frames.into_iter().rev() {
        node = match frame {
            Frame::Object(mut map, key) => {
                map.insert(key, node);
                Node::Object(map)
            }
            Frame::Array(items, index) => {
                let mut items = (*items).clone();
                if let Some(slot) = items.get_mut(index) {
                    *slot = node;
                }
                Node::Array(Rc::new(items))
            }
        };
    }
    Ok(Applied { tree: node, previous })
}

/// Steps from the container `current` into its child `segment` (which must exist).
fn step<'t>(current: &'t Node, segment: &Rc<str>, path: &Pointer, mode: Mode) -> Result<(Frame, &'t Node), PatchError> {
    match current {
        Node::Object(map) => match map.get(segment) {
            Some(child) => Ok((Frame::Object(map.clone(), Rc::clone(segment)), child)),
            None => Err(missing(path, mode)),
        },
        Node::Array(items) => {
            let index = existing_index(segment, items.len())?;
            match items.get(index) {
                Some(child) => Ok((Frame::Array(Rc::clone(items), index), child)),
                None => Err(PatchError::IndexOutOfBounds(segment.to_string())),
            }
        }
        _ => Err(PatchError::NotContainer),
    }
}

/// Applies `leaf` to `parent`'s member `last`; returns the new parent and the previous value.
fn edit_parent(parent: &Node, last: &Rc<str>, leaf: Leaf<'_>, path: &Pointer, mode: Mode) -> Result<(Node, Option<Node>), PatchError> {
    match parent {
        Node::Object(map) => {
            let original = map;
            let mut map = map.clone();
            let previous = match leaf {
                Leaf::Add(value) => map.insert(Rc::clone(last), value.clone()),
                Leaf::Replace(value) => {
                    if mode == Mode::Strict && !map.contains_key(last) {
                        return Err(missing(path, mode));
                    }
                    map.insert(Rc::clone(last), value.clone())
                }
                Leaf::Remove => {
                    let previous = map.remove(last);
                    if mode == Mode::Strict && previous.is_none() {
                        return Err(missing(path, mode));
                    }
                    previous
                }
                Leaf::Touch => None,
            };
            // The object on the path is a new one even when nothing in it changed (a touch, a
            // missing key removed), as the array's is.
            if map.same(original) {
                map = map.fresh_copy();
            }
            Ok((Node::Object(map), previous))
        }
        Node::Array(items) => {
            let mut items = (**items).clone();
            let previous = match leaf {
                Leaf::Add(value) => {
                    let index = match classify_index(last) {
                        IndexSegment::Append => items.len(),
                        IndexSegment::At(index) if index <= items.len() => index,
                        IndexSegment::At(_) | IndexSegment::Overflow => return Err(PatchError::IndexOutOfBounds(last.to_string())),
                        IndexSegment::Invalid => return Err(PatchError::InvalidIndex(last.to_string())),
                    };
                    items.insert(index, value.clone());
                    None
                }
                Leaf::Replace(value) => {
                    let index = existing_index(last, items.len())?;
                    items.get_mut(index).map(|slot| std::mem::replace(slot, value.clone()))
                }
                Leaf::Remove => {
                    let index = existing_index(last, items.len())?;
                    Some(items.remove(index))
                }
                Leaf::Touch => None,
            };
            Ok((Node::Array(Rc::new(items)), previous))
        }
        _ => Err(PatchError::NotContainer),
    }
}

/// The index of an existing element: canonical and `< len`.
fn existing_index(segment: &str, len: usize) -> Result<usize, PatchError> {
    match classify_index(segment) {
        IndexSegment::At(index) if index < len => Ok(index),
        IndexSegment::At(_) | IndexSegment::Overflow => Err(PatchError::IndexOutOfBounds(segment.to_owned())),
        IndexSegment::Append | IndexSegment::Invalid => Err(PatchError::InvalidIndex(segment.to_owned())),
    }
}

/// A missing object key: Musubi mode reports the (then undefined) value as not a container.
fn missing(path: &Pointer, mode: Mode) -> PatchError {
    match mode {
        Mode::Musubi => PatchError::NotContainer,
        Mode::Strict => PatchError::PathNotFound(path.as_str().to_owned()),
    }
}

/// The value at `path` (strict: every segment must exist).
fn lookup<'t>(tree: &'t Node, path: &Pointer) -> Result<&'t Node, PatchError> {
    let mut current = tree;
    for segment in path.segments() {
        current = step(current, segment, path, Mode::Strict)?.1;
    }
    Ok(current)
}

/// JSON equality per RFC 6902 `test`: numbers compare by numeric value (`1 == 1.0`), objects
/// regardless of member order, arrays element-wise.
pub(super) fn json_equal(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Number(x), Node::Number(y)) => numbers_equal(x, y),
        (Node::Array(x), Node::Array(y)) => {
            Rc::ptr_eq(x, y) || (x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| json_equal(p, q)))
        }
        (Node::Object(x), Node::Object(y)) => {
            x.same(y) || (x.len() == y.len() && x.iter().all(|(key, p)| y.get(key).is_some_and(|q| json_equal(p, q))))
        }
        _ => a.same(b),
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    if let (Some(p), Some(q)) = (x.as_i64(), y.as_i64()) {
        return p == q;
    }
    if let (Some(p), Some(q)) = (x.as_u64(), y.as_u64()) {
        return p == q;
    }
    if (x.is_f64() || y.is_f64())
        && let (Some(p), Some(q)) = (x.as_f64(), y.as_f64())
    {
        return p == q;
    }
    false
}
