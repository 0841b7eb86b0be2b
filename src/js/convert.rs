//! Conversions between replica nodes and JS values.
//!
//! Snapshots become frozen plain objects and arrays. Every key becomes an own data property
//! (built with `Object.fromEntries`), so server keys such as `__proto__` or `constructor` never
//! touch a prototype. [`SnapshotCache`] keeps the JS object of every container node it converted
//! while that node is alive in Rust. Snapshots share nodes with the replica wherever nothing
//! changed, so an unchanged store, an unchanged child store nested in a changed one, and every
//! unchanged plain subtree is the identical JS object across versions — and converting a changed
//! snapshot only builds JS objects for what changed.

use serde_json::Value;
use wasm_bindgen::JsValue;

use super::stats;
use crate::runtime::Node;
use crate::runtime::tree::ContainerSet;

/// JS values of converted containers, by node (see [`ContainerSet`]): an entry is valid while
/// the replica or a snapshot still holds the node.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    converted: ContainerSet<JsValue>,
}

impl SnapshotCache {
    /// Converts `node`, reusing the JS values of containers converted before.
    pub(crate) fn convert_snapshot(&mut self, node: &Node) -> JsValue {
        let before = self.converted.len();
        let value = self.convert(node);
        let after = self.converted.len();
        stats::cached_objects_changed(after.saturating_sub(before), before.saturating_sub(after));
        value
    }

    /// Drops every entry (the JS values stay valid for whoever holds them).
    pub(crate) fn clear(&mut self) {
        stats::cached_objects_changed(0, self.converted.len());
        self.converted.clear();
    }

    fn convert(&mut self, node: &Node) -> JsValue {
        if let Some(found) = self.converted.get(node) {
            return found.clone();
        }
        let value = match node {
            Node::Array(items) => {
                let array = js_sys::Array::new();
                for item in items.iter() {
                    array.push(&self.convert(item));
                }
                js_sys::Object::freeze(&array).into()
            }
            Node::Object(map) => own_properties(map.iter().map(|(field, value)| (&**field, self.convert(value))))
                .map_or(JsValue::NULL, |object| js_sys::Object::freeze(&object).into()),
            scalar => return scalar_to_js(scalar),
        };
        self.converted.insert(node, value.clone());
        value
    }
}

/// Converts `node` without caching (replies and other one-off values); objects are not frozen.
pub(crate) fn to_js_fresh(node: &Node) -> JsValue {
    match node {
        Node::Array(items) => items.iter().map(to_js_fresh).collect::<js_sys::Array>().into(),
        Node::Object(map) => {
            own_properties(map.iter().map(|(field, value)| (&**field, to_js_fresh(value)))).map_or(JsValue::NULL, JsValue::from)
        }
        scalar => scalar_to_js(scalar),
    }
}

/// Converts a serde value (a reply) to a fresh JS value.
pub(crate) fn value_to_js(value: &Value) -> JsValue {
    to_js_fresh(&Node::from_json(value))
}

fn scalar_to_js(node: &Node) -> JsValue {
    match node {
        Node::Bool(flag) => JsValue::from_bool(*flag),
        Node::Number(number) => number.as_f64().map_or(JsValue::NULL, JsValue::from_f64),
        Node::String(text) => JsValue::from_str(text),
        Node::Null | Node::Array(_) | Node::Object(_) => JsValue::NULL,
    }
}

/// Reads a JS value as JSON (via `JSON.stringify`, so `toJSON` and `Date`s behave as in
/// `JSON.stringify`); `undefined` and functions become `null`.
pub(crate) fn from_js(value: &JsValue) -> Result<Value, String> {
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    let text = js_sys::JSON::stringify(value).map_err(|error| describe(&error))?;
    match text.as_string() {
        Some(text) => serde_json::from_str(&text).map_err(|error| error.to_string()),
        None => Ok(Value::Null),
    }
}

/// The message of a JS error (or its string form).
pub(crate) fn describe(error: &JsValue) -> String {
    js_sys::Reflect::get(error, &"message".into())
        .ok()
        .and_then(|message| message.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".to_owned())
}

/// A fresh plain object with these fields.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    own_properties(fields.iter().map(|(field, value)| (*field, value.clone()))).map_or(JsValue::NULL, JsValue::from)
}

/// A fresh plain object whose fields are own data properties: built with `Object.fromEntries`,
/// so a key such as `__proto__` is a property, never a prototype change.
fn own_properties<'a>(fields: impl IntoIterator<Item = (&'a str, JsValue)>) -> Option<js_sys::Object> {
    let entries = js_sys::Array::new();
    for (field, value) in fields {
        entries.push(&js_sys::Array::of2(&JsValue::from_str(field), &value));
    }
    js_sys::Object::from_entries(&entries).ok()
}
