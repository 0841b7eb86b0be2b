//! `Demo.BigStore`: a large tree of numbers for client benchmarks.
//!
//! Params: `nodes` (leaf count, default 1000, at most 1 000 000) and `fanout` (children per
//! level, default 10, 2..=1000). Roots with the same id but different `nodes`/`fanout` are
//! different pages.
//!
//! Tree: `{"__musubi_store_id__": [], "count", "nodes", "fanout", "data"}` where `data` nests
//! objects `depth` levels deep (the least depth with `fanout^depth >= nodes`), keyed `"0"`,
//! `"1"`, …; leaf `i` sits at the base-`fanout` digits of `i` (`/data/0/4/2` for leaf 42 with
//! fanout 10, depth 3) and starts with the value `i`.
//!
//! `touch {count}` (integer 0..=1 000 000, default 1) adds 1 to `count` distinct leaves (a fixed
//! stride walk, so they are spread over the tree and deterministic; at most every leaf once) and
//! adds the number touched to the root's `count`; the cycle's envelope carries one `replace` for
//! `/count` and one per touched leaf. The tree is patched in place and never re-rendered or
//! diffed, so a cycle costs O(touched leaves). Any other `count` gets
//! `error {"reason": "invalid payload: count …"}` and changes nothing.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::{CommandOutcome, InvalidArgs, RootKind, RootStore, uint_arg};
use crate::channels::musubi::render::{PatchOp, replace_document, store_node};

/// The declared root.
pub const KIND: RootKind = RootKind { module: "Demo.BigStore", params_key, create };

/// Default leaf count.
pub const DEFAULT_NODES: u64 = 1000;
/// Default children per level.
pub const DEFAULT_FANOUT: u64 = 10;
/// The largest leaf count accepted.
pub const MAX_NODES: u64 = 1_000_000;
/// The largest fanout accepted.
pub const MAX_FANOUT: u64 = 1000;

/// The stride of the touch walk (a prime; 1 is used when it divides the leaf count).
const STRIDE: usize = 7919;

const COMMANDS: &[&str] = &["touch"];

/// Leaf count, fanout and the resulting depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    nodes: usize,
    fanout: usize,
    depth: u32,
}

fn shape(params: &Map<String, Value>) -> Result<Shape, String> {
    let nodes = uint_arg(params, "nodes", DEFAULT_NODES, MAX_NODES)?;
    let fanout = uint_arg(params, "fanout", DEFAULT_FANOUT, MAX_FANOUT)?;
    if fanout < 2 {
        return Err("`fanout` must be at least 2".into());
    }
    let nodes = usize::try_from(nodes).map_err(|error| error.to_string())?;
    let fanout = usize::try_from(fanout).map_err(|error| error.to_string())?;
    let mut depth = 1;
    let mut capacity = fanout;
    while capacity < nodes {
        capacity = capacity.saturating_mul(fanout);
        depth += 1;
    }
    Ok(Shape { nodes, fanout, depth })
}

fn params_key(params: &Map<String, Value>) -> Result<String, String> {
    let Shape { nodes, fanout, .. } = shape(params)?;
    Ok(format!("nodes={nodes},fanout={fanout}"))
}

fn create(params: &Map<String, Value>) -> Result<Box<dyn RootStore>, String> {
    let shape = shape(params)?;
    let stride = if shape.nodes % STRIDE == 0 { 1 } else { STRIDE };
    let leaves = (0..shape.nodes).map(|index| i64::try_from(index).unwrap_or(i64::MAX)).collect();
    Ok(Box::new(BigStore { shape, leaves, count: 0, cursor: 0, stride, dirty: Vec::new(), count_dirty: false }))
}

/// The big store's state.
#[derive(Debug)]
struct BigStore {
    shape: Shape,
    leaves: Vec<i64>,
    count: u64,
    /// Where the next touch walk starts.
    cursor: usize,
    stride: usize,
    /// Leaves touched since the last cycle.
    dirty: Vec<usize>,
    count_dirty: bool,
}

impl BigStore {
    /// The subtree at `level` (0 = `data` itself) whose first leaf is `first_leaf`.
    fn build(&self, level: u32, first_leaf: usize) -> Value {
        if level == self.shape.depth {
            return json!(self.leaves.get(first_leaf).copied().unwrap_or_default());
        }
        let span = self.shape.fanout.saturating_pow(self.shape.depth - level - 1);
        let mut children = Map::new();
        for digit in 0..self.shape.fanout {
            let first = first_leaf.saturating_add(digit.saturating_mul(span));
            if first >= self.shape.nodes {
                break;
            }
            children.insert(digit.to_string(), self.build(level + 1, first));
        }
        Value::Object(children)
    }

    /// `/data/d1/…/dn`: the base-fanout digits of `index`.
    fn leaf_path(&self, index: usize) -> String {
        let depth = usize::try_from(self.shape.depth).unwrap_or_default();
        let mut digits = vec![0; depth];
        let mut rest = index;
        for digit in digits.iter_mut().rev() {
            *digit = rest % self.shape.fanout;
            rest /= self.shape.fanout;
        }
        let mut path = String::from("/data");
        for digit in digits {
            let _ = write!(path, "/{digit}");
        }
        path
    }

    fn touch(&mut self, count: usize) {
        let nodes = self.shape.nodes;
        let count = count.min(nodes);
        for step in 0..count {
            // (cursor + step) runs over distinct residues and the stride is coprime with the
            // leaf count, so the leaves of one touch are distinct.
            let index = (self.cursor + step) % nodes * self.stride % nodes;
            if let Some(leaf) = self.leaves.get_mut(index) {
                *leaf = leaf.saturating_add(1);
                self.dirty.push(index);
            }
        }
        if count > 0 {
            self.cursor = (self.cursor + count) % nodes;
            self.count = self.count.saturating_add(u64::try_from(count).unwrap_or(u64::MAX));
            self.count_dirty = true;
        }
    }

    /// Falls back to a full render (only if the tree was not the shape this store rendered).
    fn rerender(&mut self, tree: &mut Value) -> Vec<PatchOp> {
        self.dirty.clear();
        *tree = self.render();
        vec![replace_document(tree)]
    }
}

impl RootStore for BigStore {
    fn render(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("count".into(), json!(self.count));
        fields.insert("nodes".into(), json!(self.shape.nodes));
        fields.insert("fanout".into(), json!(self.shape.fanout));
        fields.insert("data".into(), self.build(0, 0));
        store_node(&[], fields)
    }

    fn commands(&self, store_id: &[String]) -> Option<&'static [&'static str]> {
        store_id.is_empty().then_some(COMMANDS)
    }

    fn command(&mut self, _store_id: &[String], name: &str, payload: &Map<String, Value>) -> Result<CommandOutcome, InvalidArgs> {
        if name != "touch" {
            // Not declared (the page server checks `commands` first).
            return Ok(CommandOutcome::Error(json!({"reason": "unknown command"})));
        }
        // A touch never covers more than every leaf, so a larger count could only be a mistake.
        let count = uint_arg(payload, "count", 1, MAX_NODES)?;
        self.touch(usize::try_from(count).unwrap_or(usize::MAX));
        Ok(CommandOutcome::NoReply)
    }

    fn update_tree(&mut self, tree: &mut Value) -> Vec<PatchOp> {
        let mut ops = Vec::with_capacity(self.dirty.len() + 1);
        if std::mem::take(&mut self.count_dirty) {
            let value = json!(self.count);
            let Some(slot) = tree.get_mut("count") else { return self.rerender(tree) };
            *slot = value.clone();
            ops.push(PatchOp::Replace { path: "/count".into(), value });
        }
        for index in std::mem::take(&mut self.dirty) {
            let path = self.leaf_path(index);
            let value = json!(self.leaves.get(index).copied().unwrap_or_default());
            let Some(slot) = tree.pointer_mut(&path) else { return self.rerender(tree) };
            *slot = value.clone();
            ops.push(PatchOp::Replace { path, value });
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::collections::HashSet;

    use super::*;

    fn big(params: Value) -> Box<dyn RootStore> {
        create(params.as_object().unwrap()).unwrap()
    }

    fn leaves(tree: &Value) -> usize {
        match tree {
            Value::Object(children) => children.values().map(leaves).sum(),
            _ => 1,
        }
    }

    #[test]
    fn shapes() {
        let shape_of = |params: Value| shape(params.as_object().unwrap());
        assert_eq!(shape_of(json!({})), Ok(Shape { nodes: 1000, fanout: 10, depth: 3 }));
        assert_eq!(shape_of(json!({"nodes": 1001})).unwrap().depth, 4);
        assert_eq!(shape_of(json!({"nodes": 1, "fanout": 2})).unwrap().depth, 1);
        assert!(shape_of(json!({"fanout": 1})).is_err());
        assert!(shape_of(json!({"nodes": -1})).is_err());
        assert!(shape_of(json!({"nodes": 2_000_000})).is_err());
        assert_eq!(params_key(json!({"nodes": 5}).as_object().unwrap()).unwrap(), "nodes=5,fanout=10");
    }

    #[test]
    fn the_tree_has_exactly_the_requested_leaves() {
        for (nodes, fanout) in [(0, 10), (1, 2), (7, 3), (1000, 10), (1234, 7)] {
            let tree = big(json!({"nodes": nodes, "fanout": fanout})).render();
            let expected = if nodes == 0 { 0 } else { nodes };
            let data = &tree["data"];
            assert_eq!(if nodes == 0 { data.as_object().unwrap().len() } else { leaves(data) }, expected, "{nodes}/{fanout}");
        }
        let tree = big(json!({})).render();
        assert_eq!(tree["data"]["0"]["4"]["2"], 42);
        assert_eq!(tree["data"]["9"]["9"]["9"], 999);
    }

    #[test]
    fn touch_patches_distinct_leaves_in_place() {
        let mut store = big(json!({"nodes": 1234, "fanout": 7}));
        let mut tree = store.render();
        store.command(&[], "touch", json!({"count": 500}).as_object().unwrap()).unwrap();
        let ops = store.update_tree(&mut tree);
        assert_eq!(ops.len(), 501);
        assert_eq!(ops[0], PatchOp::Replace { path: "/count".into(), value: json!(500) });
        let paths: HashSet<&str> = ops.iter().map(PatchOp::path).collect();
        assert_eq!(paths.len(), 501);
        assert_eq!(tree, store.render());
        // More than the leaf count touches every leaf once.
        store.command(&[], "touch", json!({"count": 5000}).as_object().unwrap()).unwrap();
        assert_eq!(store.update_tree(&mut tree).len(), 1235);
        assert_eq!(tree, store.render());
        assert!(store.update_tree(&mut tree).is_empty());
    }

    #[test]
    fn bad_touch_counts_are_refused_and_change_nothing() {
        let mut store = big(json!({"nodes": 10}));
        let before = store.render();
        for (count, reason) in [
            (json!(-1), "count must be between 0 and 1000000"),
            (json!(1_000_001), "count must be between 0 and 1000000"),
            (json!("3"), "count must be an integer"),
            (json!(2.5), "count must be an integer"),
        ] {
            let payload = json!({"count": count});
            assert_eq!(store.command(&[], "touch", payload.as_object().unwrap()), Err(InvalidArgs(reason.into())), "{payload}");
        }
        let mut tree = before.clone();
        assert!(store.update_tree(&mut tree).is_empty());
        assert_eq!(store.render(), before);
    }

    #[test]
    fn a_hundred_thousand_leaves() {
        let mut store = big(json!({"nodes": 100_000}));
        let mut tree = store.render();
        assert_eq!(tree["data"]["9"]["9"]["9"]["9"]["9"], 99_999);
        store.command(&[], "touch", json!({"count": 1000}).as_object().unwrap()).unwrap();
        let ops = store.update_tree(&mut tree);
        assert_eq!(ops.len(), 1001);
        assert_eq!(tree, store.render());
    }
}
