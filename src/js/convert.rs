//! Conversions between replica nodes and JS values.
//!
//! Snapshots become frozen plain objects and arrays. Every key becomes an own data property
//! (built with `Object.fromEntries`), so server keys such as `__proto__` or `constructor` never
//! touch a prototype. [`SnapshotCache`] keeps the JS object of every container node it converted
//! while that node is alive in Rust. Snapshots share nodes with the replica wherever nothing
//! changed, so an unchanged store, an unchanged child store nested in a changed one, and every
//! unchanged plain subtree is the identical JS object across versions — and converting a changed
//! snapshot only builds JS objects for what changed.

use std::collections::HashMap;
use std::rc::{Rc, Weak};

use serde_json::Value;
use wasm_bindgen::JsValue;

use super::stats;
use crate::runtime::Node;
use crate::runtime::tree::{ArrayVec, ObjectMap};

/// A weak reference to a converted container: valid while the replica or a snapshot holds it.
enum Source {
    Array(Weak<ArrayVec>),
    Object(Weak<ObjectMap>),
}

impl Source {
    fn alive(&self) -> bool {
        match self {
            Source::Array(weak) => weak.strong_count() > 0,
            Source::Object(weak) => weak.strong_count() > 0,
        }
    }
}

/// JS values of converted containers, keyed by the node's address. A weak reference pins the
/// address, so a key is never reused for another node while its entry exists.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    entries: HashMap<usize, (Source, JsValue)>,
    /// How many entries were alive after the last prune: the cache prunes when it has doubled,
    /// so pruning costs O(1) per conversion, amortized.
    live_after_prune: usize,
}

/// Below this many entries the cache never prunes.
const PRUNE_FLOOR: usize = 64;

impl SnapshotCache {
    /// Converts `node`, reusing the JS objects of containers converted before.
    pub(crate) fn convert_snapshot(&mut self, node: &Node) -> JsValue {
        let value = self.convert(node);
        if self.entries.len() > self.live_after_prune.saturating_mul(2).max(PRUNE_FLOOR) {
            self.prune();
        }
        value
    }

    /// Drops every entry (the JS objects stay valid for whoever holds them).
    pub(crate) fn clear(&mut self) {
        stats::cached_objects_changed(0, self.entries.len());
        self.entries.clear();
        self.live_after_prune = 0;
    }

    fn convert(&mut self, node: &Node) -> JsValue {
        match node {
            Node::Array(items) => {
                let key = Rc::as_ptr(items) as *const () as usize;
                if let Some(found) = self.lookup(key) {
                    return found;
                }
                let array = js_sys::Array::new();
                for item in items.iter() {
                    array.push(&self.convert(item));
                }
                let value: JsValue = js_sys::Object::freeze(&array).into();
                self.remember(key, Source::Array(Rc::downgrade(items)), &value);
                value
            }
            Node::Object(map) => {
                let key = Rc::as_ptr(map) as *const () as usize;
                if let Some(found) = self.lookup(key) {
                    return found;
                }
                let value = self.object(map);
                self.remember(key, Source::Object(Rc::downgrade(map)), &value);
                value
            }
            scalar => scalar_to_js(scalar),
        }
    }

    fn object(&mut self, map: &ObjectMap) -> JsValue {
        let entries = js_sys::Array::new();
        for (field, value) in map.iter() {
            entries.push(&js_sys::Array::of2(&JsValue::from_str(field), &self.convert(value)));
        }
        match js_sys::Object::from_entries(&entries) {
            Ok(object) => js_sys::Object::freeze(&object).into(),
            Err(_) => JsValue::NULL,
        }
    }

    fn lookup(&self, key: usize) -> Option<JsValue> {
        self.entries.get(&key).filter(|(source, _)| source.alive()).map(|(_, value)| value.clone())
    }

    fn remember(&mut self, key: usize, source: Source, value: &JsValue) {
        if self.entries.insert(key, (source, value.clone())).is_none() {
            stats::cached_objects_changed(1, 0);
        }
    }

    /// Forgets containers the replica no longer holds (their JS objects stay valid for whoever
    /// holds them).
    fn prune(&mut self) {
        let before = self.entries.len();
        self.entries.retain(|_, (source, _)| source.alive());
        self.live_after_prune = self.entries.len();
        stats::cached_objects_changed(0, before - self.entries.len());
    }
}

/// Converts `node` without caching (replies and other one-off values); objects are not frozen.
pub(crate) fn to_js_fresh(node: &Node) -> JsValue {
    match node {
        Node::Array(items) => items.iter().map(to_js_fresh).collect::<js_sys::Array>().into(),
        Node::Object(map) => {
            let entries = js_sys::Array::new();
            for (field, value) in map.iter() {
                entries.push(&js_sys::Array::of2(&JsValue::from_str(field), &to_js_fresh(value)));
            }
            js_sys::Object::from_entries(&entries).map_or(JsValue::NULL, JsValue::from)
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

/// Sets own data properties on a fresh plain object.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let entries = js_sys::Array::new();
    for (field, value) in fields {
        entries.push(&js_sys::Array::of2(&JsValue::from_str(field), value));
    }
    js_sys::Object::from_entries(&entries).map_or(JsValue::NULL, JsValue::from)
}
