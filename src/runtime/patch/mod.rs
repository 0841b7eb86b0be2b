//! The JSON Patch engine: applies ops to the persistent [`Node`] tree with structural sharing.
//!
//! Two semantics are offered ([`Mode`]):
//! - [`Mode::Musubi`] — exactly the reference client's (PROTOCOL.md §2.9): only `add`, `remove`,
//!   `replace`; lenient pointers; the root only supports `replace`; removing a missing object key
//!   is a no-op and replacing one creates it; other op names are ignored.
//! - [`Mode::Strict`] — RFC 6902 with RFC 6901 pointers, as checked by the public
//!   `json-patch-tests` conformance suite.
//!
//! Applying an op copies only the containers on its path (O(depth × log width) plus the size of
//! the op's value); untouched subtrees keep their identity ([`Node::same`]) and the input tree is
//! never mutated.
//!
//! ```
//! use musubi_wasm::runtime::patch::{apply, Mode, Op};
//! use musubi_wasm::runtime::tree::Node;
//! let doc = Node::from_json(&serde_json::json!({"list": ["a", "c", "d"], "other": {"x": 1}}));
//! let ops: Vec<Op> = [
//!     serde_json::json!({"op": "add", "path": "/list/1", "value": "b"}),
//!     serde_json::json!({"op": "remove", "path": "/list/2"}),
//! ]
//! .iter()
//! .filter_map(|raw| Op::parse(&Node::from_json(raw), Mode::Musubi).ok())
//! .collect();
//! let patched = apply(&doc, &ops, Mode::Musubi).unwrap_or_default();
//! assert_eq!(patched.to_json(), serde_json::json!({"list": ["a", "b", "d"], "other": {"x": 1}}));
//! // The untouched subtree is shared, not copied.
//! assert!(matches!((doc.get("other"), patched.get("other")), (Some(a), Some(b)) if a.same(b)));
//! ```

mod apply;
mod error;
mod op;
mod pointer;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;

pub use error::PatchError;
pub use op::Op;
pub use pointer::Pointer;

use crate::runtime::tree::Node;

/// Which semantics to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The reference client's semantics, PROTOCOL.md §2.9 (what Musubi servers rely on).
    #[default]
    Musubi,
    /// RFC 6902 + RFC 6901.
    Strict,
}

/// The result of applying one op.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The new tree (shares every untouched subtree with the input).
    pub tree: Node,
    /// The value previously at the op's `path`, when the op overwrote or deleted one: `add` on an
    /// existing object key, `replace`, `remove`, and a root `replace`/`add` (the old document).
    /// `None` when nothing was there or nothing was displaced: an array insert, a Musubi-mode
    /// lenient remove of a missing key, an ignored unknown op, `test`, or a `move` onto itself.
    /// For `move`/`copy` it is the value displaced at the destination (the moved value's old
    /// location is not reported).
    pub previous: Option<Node>,
}

/// Applies one op to `tree` (which is left untouched).
///
/// Musubi mode treats `move`/`copy`/`test`/[`Op::Unknown`] alike: ignored at a non-root path,
/// after walking it (traversal errors are still reported, the parent must be a container, and
/// the containers on the path are copied, so they lose their identity as in the reference
/// client); an error at the root.
pub fn apply_op(tree: &Node, op: &Op, mode: Mode) -> Result<Applied, PatchError> {
    apply::apply_op(tree, op, mode)
}

/// Applies `ops` in order, each to the result of the previous one. On error nothing is returned
/// but the error: the caller still holds the untouched input tree.
pub fn apply(tree: &Node, ops: &[Op], mode: Mode) -> Result<Node, PatchError> {
    ops.iter().try_fold(tree.clone(), |current, op| apply_op(&current, op, mode).map(|applied| applied.tree))
}
