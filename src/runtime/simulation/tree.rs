//! JSON helpers on the simulation's trees: JSON pointers, store ids and the stores of a tree,
//! frame payloads, and shortened trace text.

use serde_json::Value;

use super::STORE_KEY;
use crate::phoenix::Payload;
use crate::phoenix::frame::{Body, Frame};

/// Escapes one JSON-pointer segment (RFC 6901).
pub(super) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The JSON pointer of a path.
pub(super) fn pointer(segments: &[String]) -> String {
    segments.iter().map(|s| format!("/{}", escape(s))).collect()
}

/// The store id of a node, if it is a store.
pub(super) fn store_id_of(value: &Value) -> Option<Vec<String>> {
    value.get(STORE_KEY)?.as_array()?.iter().map(|s| s.as_str().map(str::to_owned)).collect()
}

/// A store id as a map key (its JSON text).
pub(super) fn store_key(id: &[String]) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// Every store of a tree: (id, pointer segments to its node).
pub(super) fn stores(tree: &Value) -> Vec<(Vec<String>, Vec<String>)> {
    fn walk(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Vec<String>)>) {
        if let Some(id) = store_id_of(value) {
            out.push((id, path.clone()));
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    path.push(key.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    path.push(index.to_string());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut Vec::new(), &mut out);
    out
}

/// The path to store `id` in a tree.
pub(super) fn find_store(tree: &Value, id: &[String]) -> Option<Vec<String>> {
    stores(tree).into_iter().find(|(found, _)| found == id).map(|(_, path)| path)
}

/// The JSON payload of a frame (`null` for anything else).
pub(super) fn payload_of(frame: &Frame) -> Value {
    match &frame.body {
        Body::Message(Payload::Json(value)) => value.clone(),
        _ => Value::Null,
    }
}

/// Text cut to 400 characters for the trace.
pub(super) fn short(text: &str) -> String {
    if text.len() > 400 { format!("{}…", text.chars().take(400).collect::<String>()) } else { text.to_owned() }
}
