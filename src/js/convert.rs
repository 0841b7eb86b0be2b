//! Conversions between replica nodes and JS values.
//!
//! Snapshots become frozen plain objects and arrays. Every key becomes an own data property
//! (built with `Object.fromEntries`), so server keys such as `__proto__` or `constructor` never
//! touch a prototype. [`SnapshotCache`] keeps the JS object of every container node it converted
//! while that node is alive in Rust. Snapshots share nodes with the replica wherever nothing
//! changed, so an unchanged store, an unchanged child store nested in a changed one, and every
//! unchanged plain subtree is the identical JS object across versions — and converting a changed
//! snapshot only builds JS objects for what changed.

use std::rc::Rc;

use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};

use super::stats;
use crate::runtime::Node;
use crate::runtime::tree::ContainerSet;
use crate::runtime::walk::{Frame, walk};

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
        let mut cache = Some(std::mem::take(&mut self.converted));
        let value = walk::<Converting>(&mut cache, node.clone());
        self.converted = cache.unwrap_or_default();
        value
    }
}

/// Converts `node` without caching (replies and other one-off values); objects are not frozen.
pub(crate) fn to_js_fresh(node: &Node) -> JsValue {
    walk::<Converting>(&mut None, node.clone())
}

/// A container being converted to JS.
struct Converting {
    node: Node,
    next: usize,
    kind: ConvertingKind,
}

enum ConvertingKind {
    Array(js_sys::Array),
    /// The object's entries and the `[key, value]` pairs built for `Object.fromEntries`.
    Object(Vec<(Rc<str>, Node)>, js_sys::Array),
}

/// With a cache, containers converted before are reused and new ones are frozen and remembered;
/// without one (`None`), everything is built fresh and left unfrozen.
impl Frame for Converting {
    type Child = Node;
    type Output = JsValue;
    type Context = Option<ContainerSet<JsValue>>;

    fn start(cache: &mut Self::Context, node: Node) -> Result<Self, JsValue> {
        if let Some(found) = cache.as_ref().and_then(|cache| cache.get(&node)) {
            return Err(found.clone());
        }
        let kind = match &node {
            Node::Array(_) => ConvertingKind::Array(js_sys::Array::new()),
            Node::Object(map) => ConvertingKind::Object(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(), js_sys::Array::new()),
            scalar => return Err(scalar_to_js(scalar)),
        };
        Ok(Converting { node, next: 0, kind })
    }

    fn next_child(&mut self) -> Option<Node> {
        let child = match &self.kind {
            ConvertingKind::Array(_) => self.node.at(self.next).cloned(),
            ConvertingKind::Object(entries, _) => entries.get(self.next).map(|(_, value)| value.clone()),
        };
        self.next += 1;
        child
    }

    fn take_child(&mut self, value: JsValue) {
        match &self.kind {
            ConvertingKind::Array(array) => {
                array.push(&value);
            }
            ConvertingKind::Object(entries, pairs) => {
                if let Some((key, _)) = self.next.checked_sub(1).and_then(|at| entries.get(at)) {
                    pairs.push(&js_sys::Array::of2(&JsValue::from_str(key), &value));
                }
            }
        }
    }

    fn finish(self, cache: &mut Self::Context) -> JsValue {
        let value: JsValue = match self.kind {
            ConvertingKind::Array(array) => array.into(),
            ConvertingKind::Object(_, pairs) => js_sys::Object::from_entries(&pairs).map_or(JsValue::NULL, JsValue::from),
        };
        if let Some(cache) = cache.as_mut() {
            if let Some(object) = value.dyn_ref::<js_sys::Object>() {
                js_sys::Object::freeze(object);
            }
            cache.insert(&self.node, value.clone());
        }
        value
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
