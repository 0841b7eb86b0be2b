//! Very deep trees for the test endpoints `/_test/deepen` and `/_test/deep_initial`, built as
//! JSON *text* with loops.
//!
//! `serde_json::Value` recurses when it is serialized, compared or dropped, so a tree thousands of
//! levels deep held as a `Value` would overflow a debug build's task stack. Nothing here builds
//! one: the deep parts only ever exist as text, sent as [`Payload::Text`]
//! (the frame codec writes it verbatim), and the page's own state never holds them — the chain
//! lives only in the client's replica.
//!
//! The chain is a linked list of objects under the root store's top-level field [`DEEP_FIELD`]:
//! every level is `{"next": …}` and the innermost is `{"leaf": true}`, so a chain of `n` levels is
//! `n` objects and its leaf sits at `/deep` + `/next` × (n − 1).
//!
//! [`Payload::Text`]: musubi_wasm::phoenix::Payload::Text

use serde_json::Value;

/// The root store's top-level field that holds the chain.
pub const DEEP_FIELD: &str = "deep";

/// The most levels one request may ask for.
pub const MAX_LEVELS: usize = 100_000;

/// The most envelopes one `/_test/deepen` may send per socket (`ceil(levels / step)`): the paths
/// grow with every envelope, so the total text is about `2.5 × levels × envelopes` bytes.
pub const MAX_ENVELOPES: usize = 1_000;

/// The default chain growth per `/_test/deepen` envelope.
pub const DEFAULT_STEP: usize = 100;

/// Appends a chain of `levels` objects (at least one: `{"leaf":true}`).
fn push_chain(out: &mut String, levels: usize) {
    let above = levels.saturating_sub(1);
    out.reserve(above * "{\"next\":}".len() + "{\"leaf\":true}".len());
    for _ in 0..above {
        out.push_str("{\"next\":");
    }
    out.push_str("{\"leaf\":true}");
    for _ in 0..above {
        out.push('}');
    }
}

/// A chain of `levels` objects as JSON text.
pub fn chain(levels: usize) -> String {
    let mut out = String::new();
    push_chain(&mut out, levels);
    out
}

/// How many envelopes `/_test/deepen` sends per socket for `levels` and `step` (both ≥ 1).
pub fn envelope_count(levels: usize, step: usize) -> usize {
    levels.div_ceil(step.max(1))
}

/// The ops (one per envelope, as JSON text) that grow a chain of `levels` objects under
/// [`DEEP_FIELD`], `step` levels at a time: the first `add`s `/deep` with a chain of `step`
/// objects (fewer if `levels` is smaller); every next one `add`s at the current leaf's path,
/// replacing that leaf with a chain one level longer than the growth, so the chain grows by
/// `step` levels (the last one by what is left).
pub fn deepen_ops(levels: usize, step: usize) -> impl Iterator<Item = String> {
    let step = step.max(1);
    let mut built = 0usize;
    std::iter::from_fn(move || {
        if built >= levels {
            return None;
        }
        let grow = step.min(levels - built);
        let mut op = String::from("{\"op\":\"add\",\"path\":\"/");
        op.push_str(DEEP_FIELD);
        let value_levels = if built == 0 {
            grow
        } else {
            // The leaf of the current chain, replaced by `grow + 1` levels.
            for _ in 1..built {
                op.push_str("/next");
            }
            grow + 1
        };
        op.push_str("\",\"value\":");
        push_chain(&mut op, value_levels);
        op.push('}');
        built += grow;
        Some(op)
    })
}

/// A `patch` envelope (PROTOCOL.md §2.7) as JSON text, `base_version → base_version + 1`, with
/// `ops`, `stream_ops` and `upload_ops` given as JSON array texts; `events` is empty.
pub fn envelope(root_id: &str, base_version: u64, ops: &str, stream_ops: &str, upload_ops: &str) -> String {
    let root_id = Value::String(root_id.to_owned()).to_string();
    let version = base_version + 1;
    format!(
        "{{\"type\":\"patch\",\"root_id\":{root_id},\"base_version\":{base_version},\"version\":{version},\
         \"ops\":{ops},\"stream_ops\":{stream_ops},\"upload_ops\":{upload_ops},\"events\":[]}}"
    )
}

/// The text of `tree` (a shallow wire tree, serialized normally) with [`DEEP_FIELD`] set to a chain
/// of `levels` objects, spliced in before the final `}`. A `deep` field the tree already has is
/// left out; `None` if the tree is not an object.
pub fn with_chain(tree: &Value, levels: usize) -> Option<String> {
    let Value::Object(map) = tree else { return None };
    let mut text = if map.contains_key(DEEP_FIELD) {
        let mut without = map.clone();
        without.remove(DEEP_FIELD);
        Value::Object(without).to_string()
    } else {
        tree.to_string()
    };
    // Serialized objects end with `}`; it is put back after the chain.
    text.pop();
    if !map.keys().any(|key| key != DEEP_FIELD) {
        text.push_str("\"deep\":");
    } else {
        text.push_str(",\"deep\":");
    }
    push_chain(&mut text, levels);
    text.push('}');
    Some(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use musubi_wasm::runtime::depth::{depth_of, parse_bounded};
    use serde_json::json;

    use super::*;

    /// How deep JSON text nests, read with the client's own iterative parser.
    fn depth(text: &str) -> usize {
        depth_of(&parse_bounded(text, usize::MAX).unwrap().0)
    }

    #[test]
    fn chains_nest_one_object_per_level() {
        assert_eq!(chain(1), r#"{"leaf":true}"#);
        assert_eq!(chain(3), r#"{"next":{"next":{"leaf":true}}}"#);
        assert_eq!(serde_json::from_str::<Value>(&chain(3)).unwrap(), json!({"next": {"next": {"leaf": true}}}));
        assert_eq!(depth(&chain(5_000)), 5_000);
    }

    #[test]
    fn deepen_ops_grow_the_chain_by_step_levels() {
        assert_eq!(envelope_count(300, 100), 3);
        assert_eq!(envelope_count(301, 100), 4);
        assert_eq!(envelope_count(5, 100), 1);
        let ops: Vec<String> = deepen_ops(7, 3).collect();
        assert_eq!(ops.len(), envelope_count(7, 3));
        let ops: Vec<Value> = ops.iter().map(|op| serde_json::from_str(op).unwrap()).collect();
        assert_eq!(ops[0], json!({"op": "add", "path": "/deep", "value": {"next": {"next": {"leaf": true}}}}));
        assert_eq!(ops[1], json!({"op": "add", "path": "/deep/next/next", "value": {"next": {"next": {"next": {"leaf": true}}}}}));
        assert_eq!(ops[2], json!({"op": "add", "path": "/deep/next/next/next/next/next", "value": {"next": {"leaf": true}}}));
        // Applied in order, they build exactly a chain of 7 levels.
        let mut tree = json!({"count": 0});
        for op in ops {
            let patch: json_patch::Patch = serde_json::from_value(json!([op])).unwrap();
            json_patch::patch(&mut tree, &patch).unwrap();
        }
        let chain7: Value = serde_json::from_str(&chain(7)).unwrap();
        assert_eq!(tree, json!({"count": 0, "deep": chain7}));
        assert_eq!(deepen_ops(0, 3).count(), 0);
    }

    #[test]
    fn envelopes_are_valid_json() {
        let ops = format!("[{}]", deepen_ops(2, 2).next().unwrap());
        let envelope: Value = serde_json::from_str(&envelope("a\"b", 4, &ops, "[]", "[]")).unwrap();
        assert_eq!(
            envelope,
            json!({"type": "patch", "root_id": "a\"b", "base_version": 4, "version": 5,
                   "ops": [{"op": "add", "path": "/deep", "value": {"next": {"leaf": true}}}], "stream_ops": [], "upload_ops": [], "events": []})
        );
    }

    #[test]
    fn with_chain_splices_the_field_into_the_tree() {
        let tree = json!({"__musubi_store_id__": [], "count": 5});
        let spliced: Value = serde_json::from_str(&with_chain(&tree, 2).unwrap()).unwrap();
        assert_eq!(spliced, json!({"__musubi_store_id__": [], "count": 5, "deep": {"next": {"leaf": true}}}));
        assert_eq!(with_chain(&json!({}), 1).unwrap(), r#"{"deep":{"leaf":true}}"#);
        assert_eq!(with_chain(&json!({"deep": 1}), 1).unwrap(), r#"{"deep":{"leaf":true}}"#);
        assert_eq!(with_chain(&json!({"deep": 1, "a": 2}), 1).unwrap(), r#"{"a":2,"deep":{"leaf":true}}"#);
        assert_eq!(with_chain(&json!([1]), 1), None);
        assert_eq!(depth(&with_chain(&tree, 3_000).unwrap()), 3_001);
    }
}
