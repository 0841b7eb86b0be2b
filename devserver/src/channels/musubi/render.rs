//! The wire side of a page: marker shapes of the wire tree (PROTOCOL.md §2.8: store nodes,
//! streams, uploads, async values), JSON Patch ops between two renders (§2.9) and the `patch`
//! envelope (§2.7).

use std::collections::HashSet;

use json_patch::PatchOperation;
use serde_json::{Map, Value, json};

/// The key that makes an object a store node.
pub const STORE_ID_KEY: &str = "__musubi_store_id__";

/// The key of a stream marker.
pub const STREAM_KEY: &str = "__musubi_stream__";

/// The key of an async value.
pub const ASYNC_KEY: &str = "__musubi_async__";

/// The key of an upload marker.
pub const UPLOAD_KEY: &str = "__musubi_upload__";

/// A store node: `{"__musubi_store_id__": id, …fields}`.
pub fn store_node(id: &[String], fields: Map<String, Value>) -> Value {
    let mut node = Map::with_capacity(fields.len() + 1);
    node.insert(STORE_ID_KEY.to_owned(), json!(id));
    node.extend(fields);
    Value::Object(node)
}

/// A stream marker: exactly `{"__musubi_stream__": name}`.
pub fn stream_marker(name: &str) -> Value {
    json!({ STREAM_KEY: name })
}

/// An upload marker: exactly `{"__musubi_upload__": name}` (at the top level of the declaring
/// store's node, under the upload's name).
pub fn upload_marker(name: &str) -> Value {
    json!({ UPLOAD_KEY: name })
}

/// An async value as the server holds it (PROTOCOL.md §2.17).
#[derive(Debug, Clone, PartialEq)]
pub enum AsyncValue {
    /// Still loading; carries the previous result (or `null`).
    Loading(Value),
    /// Resolved with this result.
    Ok(Value),
    /// Failed; the previous result (or `null`) and the reason.
    Failed {
        /// The previous result.
        previous: Value,
        /// `{"kind": "error"|"exit", "value": …}` or any JSON value.
        reason: Value,
    },
}

impl AsyncValue {
    /// `{"__musubi_async__": true, "status", "result", "reason"}`.
    pub fn to_wire(&self) -> Value {
        let (status, result, reason) = match self {
            AsyncValue::Loading(previous) => ("loading", previous.clone(), Value::Null),
            AsyncValue::Ok(result) => ("ok", result.clone(), Value::Null),
            AsyncValue::Failed { previous, reason } => ("failed", previous.clone(), reason.clone()),
        };
        json!({ ASYNC_KEY: true, "status": status, "result": result, "reason": reason })
    }
}

/// One JSON Patch op of the subset the protocol allows (`add`, `remove`, `replace`).
#[derive(Debug, Clone, PartialEq)]
pub enum PatchOp {
    /// `{"op":"add","path","value"}`.
    Add {
        /// JSON Pointer (RFC 6901, escaped).
        path: String,
        /// The value.
        value: Value,
    },
    /// `{"op":"remove","path"}`.
    Remove {
        /// JSON Pointer.
        path: String,
    },
    /// `{"op":"replace","path","value"}`.
    Replace {
        /// JSON Pointer.
        path: String,
        /// The value.
        value: Value,
    },
}

impl PatchOp {
    /// The op's path.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. } | PatchOp::Remove { path } | PatchOp::Replace { path, .. } => path,
        }
    }

    /// The op as wire JSON.
    pub fn into_value(self) -> Value {
        match self {
            PatchOp::Add { path, value } => json!({"op": "add", "path": path, "value": value}),
            PatchOp::Remove { path } => json!({"op": "remove", "path": path}),
            PatchOp::Replace { path, value } => json!({"op": "replace", "path": path, "value": value}),
        }
    }
}

/// Escapes one JSON Pointer segment (`~` → `~0`, `/` → `~1`).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The ops that turn `old` into `new`, computed with `json_patch::diff` and restricted to
/// `add`/`remove`/`replace`.
///
/// One refinement: when a store node at some position is replaced by a *different* store (its
/// `__musubi_store_id__` changed, e.g. after a card was removed from the middle of a list), the
/// field-by-field ops for that node are collapsed into one `replace` of the whole node, so a
/// store id is never edited in place on the wire.
pub fn diff(old: &Value, new: &Value) -> Vec<PatchOp> {
    let patch = json_patch::diff(old, new);
    let mut ops = Vec::with_capacity(patch.0.len());
    for op in patch.0 {
        let op = match op {
            PatchOperation::Add(add) => PatchOp::Add { path: add.path.to_string(), value: add.value },
            PatchOperation::Remove(remove) => PatchOp::Remove { path: remove.path.to_string() },
            PatchOperation::Replace(replace) => PatchOp::Replace { path: replace.path.to_string(), value: replace.value },
            // `diff` does not produce these; should it ever, replacing the document is always valid.
            PatchOperation::Move(_) | PatchOperation::Copy(_) | PatchOperation::Test(_) => return vec![replace_document(new)],
        };
        ops.push(op);
    }
    collapse_store_replacements(ops, new)
}

/// `replace ""` with the whole document.
pub fn replace_document(tree: &Value) -> PatchOp {
    PatchOp::Replace { path: String::new(), value: tree.clone() }
}

/// See [`diff`]: ops under a node whose store id changed become one `replace` of that node.
fn collapse_store_replacements(ops: Vec<PatchOp>, new: &Value) -> Vec<PatchOp> {
    let nodes: Vec<&str> = ops.iter().filter_map(|op| replaced_store_node(op.path())).collect();
    if nodes.is_empty() {
        return ops;
    }
    let mut collapsed = Vec::with_capacity(ops.len());
    let mut emitted = HashSet::new();
    for op in &ops {
        // The outermost replaced node containing this op, if any.
        let Some(node) = nodes.iter().copied().filter(|node| is_within(op.path(), node)).min_by_key(|node| node.len()) else {
            collapsed.push(op.clone());
            continue;
        };
        if !emitted.insert(node) {
            continue;
        }
        // The diff only edits nodes in place at positions present in both trees.
        let Some(value) = new.pointer(node) else { return vec![replace_document(new)] };
        collapsed.push(PatchOp::Replace { path: node.to_owned(), value: value.clone() });
    }
    collapsed
}

/// For a path inside a node's store id (`…/__musubi_store_id__` or `…/__musubi_store_id__/N`),
/// the path of that node.
fn replaced_store_node(path: &str) -> Option<&str> {
    let key = format!("/{STORE_ID_KEY}");
    if let Some(node) = path.strip_suffix(key.as_str()) {
        return Some(node);
    }
    let (parent, last) = path.rsplit_once('/')?;
    let is_index = !last.is_empty() && last.bytes().all(|byte| byte.is_ascii_digit());
    if is_index { parent.strip_suffix(key.as_str()) } else { None }
}

/// True if `path` is `node` or lies below it.
fn is_within(path: &str, node: &str) -> bool {
    path.strip_prefix(node).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A `patch` envelope (PROTOCOL.md §2.7, with 0.13's `events`) with empty `upload_ops` and
/// `events`.
pub fn envelope(root_id: &str, base_version: u64, version: u64, ops: Vec<Value>, stream_ops: Vec<Value>) -> Value {
    full_envelope(root_id, base_version, version, Lists { ops, stream_ops, ..Lists::default() })
}

/// The four op/event lists of an envelope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lists {
    /// JSON Patch ops.
    pub ops: Vec<Value>,
    /// Stream ops.
    pub stream_ops: Vec<Value>,
    /// Upload ops (PROTOCOL.md §3.7).
    pub upload_ops: Vec<Value>,
    /// Push events (`[{store_id, name, payload}]`).
    pub events: Vec<Value>,
}

impl Lists {
    /// True if all four lists are empty (an idle cycle: no envelope).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.stream_ops.is_empty() && self.upload_ops.is_empty() && self.events.is_empty()
    }
}

/// An envelope with all eight keys.
pub fn full_envelope(root_id: &str, base_version: u64, version: u64, lists: Lists) -> Value {
    let Lists { ops, stream_ops, upload_ops, events } = lists;
    json!({
        "type": "patch",
        "root_id": root_id,
        "base_version": base_version,
        "version": version,
        "ops": ops,
        "stream_ops": stream_ops,
        "upload_ops": upload_ops,
        "events": events,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn apply(mut doc: Value, ops: Vec<PatchOp>) -> Value {
        let ops: Vec<Value> = ops.into_iter().map(PatchOp::into_value).collect();
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
        json_patch::patch(&mut doc, &patch).unwrap();
        doc
    }

    fn card(id: &str, title: &str) -> Value {
        json!({STORE_ID_KEY: ["cards", id], "title": title})
    }

    #[test]
    fn diff_produces_field_ops() {
        let old = json!({STORE_ID_KEY: [], "count": 1, "label": "a", "gone": true});
        let new = json!({STORE_ID_KEY: [], "count": 2, "label": "a", "added": [1]});
        let ops = diff(&old, &new);
        assert_eq!(
            ops,
            vec![
                PatchOp::Add { path: "/added".into(), value: json!([1]) },
                PatchOp::Replace { path: "/count".into(), value: json!(2) },
                PatchOp::Remove { path: "/gone".into() },
            ]
        );
        assert_eq!(apply(old, ops), new);
    }

    #[test]
    fn a_store_replaced_by_another_is_replaced_whole() {
        let old = json!({STORE_ID_KEY: [], "cards": [card("1", "a"), card("2", "b"), card("3", "c")]});
        let new = json!({STORE_ID_KEY: [], "cards": [card("1", "a"), card("3", "c")]});
        let ops = diff(&old, &new);
        assert_eq!(
            ops,
            vec![PatchOp::Replace { path: "/cards/1".into(), value: card("3", "c") }, PatchOp::Remove { path: "/cards/2".into() }]
        );
        assert_eq!(apply(old, ops), new);
    }

    #[test]
    fn nested_replaced_stores_collapse_to_the_outermost() {
        let old = json!({STORE_ID_KEY: [], "a": {STORE_ID_KEY: ["a"], "b": {STORE_ID_KEY: ["a", "b"], "x": 1}}});
        let new = json!({STORE_ID_KEY: [], "a": {STORE_ID_KEY: ["z"], "b": {STORE_ID_KEY: ["z", "b"], "x": 2}}});
        let ops = diff(&old, &new);
        assert_eq!(ops, vec![PatchOp::Replace { path: "/a".into(), value: new["a"].clone() }]);
    }

    #[test]
    fn paths_are_escaped() {
        let old = json!({"a/b": 1, "t~k": 1});
        let new = json!({"a/b": 2, "t~k": 2});
        let paths: Vec<String> = diff(&old, &new).iter().map(|op| op.path().to_owned()).collect();
        assert_eq!(paths, vec!["/a~1b", "/t~0k"]);
        assert_eq!(escape_segment("a/b~c"), "a~1b~0c");
    }

    #[test]
    fn async_values_have_the_marker() {
        assert_eq!(
            AsyncValue::Loading(Value::Null).to_wire(),
            json!({ASYNC_KEY: true, "status": "loading", "result": null, "reason": null})
        );
        assert_eq!(AsyncValue::Ok(json!(3)).to_wire()["status"], "ok");
        let failed = AsyncValue::Failed { previous: json!(1), reason: json!({"kind": "error", "value": "x"}) }.to_wire();
        assert_eq!((failed["status"].clone(), failed["result"].clone()), (json!("failed"), json!(1)));
    }
}
