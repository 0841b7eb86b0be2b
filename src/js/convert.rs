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
use std::rc::Rc;

use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::stats;
use crate::runtime::Node;
use crate::runtime::store_id::STORE_ID_KEY;
use crate::runtime::tree::{ArrayVec, ContainerSet, changed_indices};
use crate::runtime::walk::{Frame, walk};

/// JS values of converted containers, by node (see [`ContainerSet`]): the roots of conversions,
/// the store snapshots inside a large first read, and every container a conversion built.
/// Everything else is reached from those, in step with the previous version.
#[derive(Default)]
pub(crate) struct SnapshotCache {
    converted: ContainerSet<JsValue>,
    /// The snapshot each store was last converted from. Holding it keeps its cache entry alive,
    /// so the next conversion of that store walks in step with its JS value: unchanged children
    /// are taken from it, and a changed array is a copy of its previous JS array with only the
    /// changed elements replaced.
    previous: HashMap<u32, Node>,
}

impl SnapshotCache {
    /// Converts `node`, the snapshot of `store`, reusing the JS values of what did not change
    /// since its previous conversion (see [`SnapshotCache::previous`]).
    pub(crate) fn convert_snapshot(&mut self, store: u32, node: &Node) -> JsValue {
        let before = self.converted.len();
        let previous = self.previous.insert(store, node.clone());
        let value = self.convert(node, previous);
        let after = self.converted.len();
        stats::cached_objects_changed(after.saturating_sub(before), before.saturating_sub(after));
        value
    }

    /// Forgets the previous snapshot of a released store.
    pub(crate) fn forget_store(&mut self, store: u32) {
        self.previous.remove(&store);
    }

    /// Drops every entry (the JS values stay valid for whoever holds them).
    pub(crate) fn clear(&mut self) {
        stats::cached_objects_changed(0, self.converted.len());
        self.converted.clear();
        self.previous.clear();
    }

    fn convert(&mut self, node: &Node, previous: Option<Node>) -> JsValue {
        let mut cache = Some(std::mem::take(&mut self.converted));
        let value = walk::<Converting>(&mut cache, (node.clone(), previous.map(|old| (old, None))));
        self.converted = cache.unwrap_or_default();
        value
    }
}

/// Converts `node` without caching (replies and other one-off values); objects are not frozen.
pub(crate) fn to_js_fresh(node: &Node) -> JsValue {
    walk::<Converting>(&mut None, (node.clone(), None))
}

/// The previous version of a value at the same place, with its JS value when known (else the
/// cache may know it).
type Previous = Option<(Node, Option<JsValue>)>;

/// A container being converted to JS.
struct Converting {
    node: Node,
    kind: ConvertingKind,
}

enum ConvertingKind {
    /// The array being built, the indices still to convert (in order, the next one last) and the
    /// index of the element handed out last. Each index comes with the previous version's
    /// element at that place, if any.
    Array(js_sys::Array, Vec<(usize, Previous)>, usize),
    /// The object's entries (each with the previous version's value under its key), the next
    /// entry to hand out, and the `[key, value]` pairs built for `Object.fromEntries`.
    Object(Vec<(Rc<str>, Node, Previous)>, usize, js_sys::Array),
}

/// Above this many changed elements, an array's elements are matched with the previous version
/// by identity (they moved: an insert or a removal), not by index.
const MOVED_MIN: usize = 32;

/// An array's JS value: a copy (`Array.from`) of the previous version's JS array with the
/// indices that differ left to convert, or a new empty array with every index to convert.
/// Elements of the previous version that moved (after an insert or a removal) are found by
/// identity and keep their JS objects.
fn start_array(items: &ArrayVec, old_items: Option<&ArrayVec>, old_js: Option<js_sys::Array>) -> ConvertingKind {
    let (Some(old_items), Some(old_js)) = (old_items, old_js) else {
        let mut pending: Vec<_> =
            (0..items.len()).map(|at| (at, old_items.and_then(|old| old.get(at)).map(|old| (old.clone(), None)))).collect();
        pending.reverse();
        return ConvertingKind::Array(js_sys::Array::new(), pending, 0);
    };
    let kept = items.len().min(old_items.len());
    // `Array.from`, not `slice`: V8's `slice` of a frozen array takes a slow path, one
    // property lookup per element (~400 µs for 10k elements against ~5 µs).
    let copy = js_sys::Array::from(&old_js);
    copy.set_length(u32::try_from(kept).unwrap_or(u32::MAX));
    let changed: Vec<usize> = changed_indices(items, old_items).into_iter().chain(kept..items.len()).collect();
    let moved: HashMap<usize, usize> = if changed.len() > MOVED_MIN {
        old_items.iter().enumerate().filter_map(|(at, old)| Some((old.address()?, at))).collect()
    } else {
        HashMap::new()
    };
    let js_at = |at: usize| Some(old_js.get(u32::try_from(at).ok()?));
    let mut pending: Vec<_> = changed
        .into_iter()
        .filter_map(|at| {
            let item = items.get(at)?;
            if !item.is_container() {
                return Some((at, None));
            }
            let from = item.address().and_then(|address| moved.get(&address)).copied().unwrap_or(at);
            Some((at, old_items.get(from).map(|old| (old.clone(), js_at(from)))))
        })
        .collect();
    pending.reverse();
    ConvertingKind::Array(copy, pending, 0)
}

/// With a cache, containers converted before are reused and new ones are frozen and remembered;
/// without one (`None`), everything is built fresh and left unfrozen. A child comes with the
/// previous version's node at its place (and that node's JS value, if known): an unchanged
/// child is the previous JS value itself, and a changed one is built in step with it, so only
/// the changed path is converted.
impl Frame for Converting {
    type Child = (Node, Previous);
    type Output = JsValue;
    type Context = Option<ContainerSet<JsValue>>;

    fn start(cache: &mut Self::Context, (node, previous): (Node, Previous)) -> Result<Self, JsValue> {
        if let Some((old, Some(old_js))) = &previous
            && old.same(&node)
        {
            return Err(old_js.clone());
        }
        if let Some(found) = cache.as_ref().and_then(|cache| cache.get(&node)) {
            return Err(found.clone());
        }
        let (old, old_js) = match previous {
            Some((old, known)) => {
                let old_js = known.or_else(|| cache.as_ref().and_then(|cache| cache.get(&old)).cloned());
                (Some(old), old_js)
            }
            None => (None, None),
        };
        if old_js.is_none()
            && let Some(parsed) = cache.as_mut().and_then(|cache| parse_fresh(cache, &node))
        {
            return Err(parsed);
        }
        let kind = match &node {
            Node::Array(items) => {
                let old_js = old_js.and_then(|js| js.dyn_into::<js_sys::Array>().ok());
                start_array(items, old.as_ref().and_then(Node::as_array), old_js)
            }
            Node::Object(map) => {
                let old_map = old.as_ref().and_then(Node::as_object);
                let entries = map
                    .iter()
                    .map(|(key, value)| {
                        let before = old_map.and_then(|old| old.get(key)).filter(|_| value.is_container());
                        let before = before.map(|before| {
                            (before.clone(), old_js.as_ref().and_then(|js| js_sys::Reflect::get(js, &JsValue::from_str(key)).ok()))
                        });
                        (key.clone(), value.clone(), before)
                    })
                    .collect();
                ConvertingKind::Object(entries, 0, js_sys::Array::new())
            }
            scalar => return Err(scalar_to_js(scalar)),
        };
        Ok(Converting { node, kind })
    }

    fn next_child(&mut self) -> Option<(Node, Previous)> {
        match &mut self.kind {
            ConvertingKind::Array(_, pending, last) => {
                let (at, previous) = pending.pop()?;
                *last = at;
                Some((self.node.at(at)?.clone(), previous))
            }
            ConvertingKind::Object(entries, next, _) => {
                let (_, value, previous) = entries.get_mut(*next)?;
                *next += 1;
                Some((value.clone(), previous.take()))
            }
        }
    }

    fn take_child(&mut self, value: JsValue) {
        match &self.kind {
            ConvertingKind::Array(array, _, last) => {
                array.set(u32::try_from(*last).unwrap_or(u32::MAX), value);
            }
            ConvertingKind::Object(entries, next, pairs) => {
                if let Some((key, _, _)) = next.checked_sub(1).and_then(|at| entries.get(at)) {
                    pairs.push(&js_sys::Array::of2(&JsValue::from_str(key), &value));
                }
            }
        }
    }

    fn finish(self, cache: &mut Self::Context) -> JsValue {
        let value: JsValue = match self.kind {
            ConvertingKind::Array(array, _, _) => array.into(),
            ConvertingKind::Object(_, _, pairs) => js_sys::Object::from_entries(&pairs).map_or(JsValue::NULL, JsValue::from),
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

/// A subtree with fewer containers than this is built call by call: handing it over as text
/// costs more than it saves.
const PARSE_MIN_CONTAINERS: usize = 64;

#[wasm_bindgen(inline_js = "
export function freezeDeep(root) {
  const pending = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    Object.freeze(value);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const child = value[i];
        if (child !== null && typeof child === 'object') pending.push(child);
      }
    } else {
      for (const key in value) {
        const child = value[key];
        if (child !== null && typeof child === 'object') pending.push(child);
      }
    }
  }
}
")]
extern "C" {
    /// Freezes `root` and every object and array inside it (iteratively: any depth).
    #[wasm_bindgen(js_name = freezeDeep)]
    fn freeze_deep(root: &JsValue);
}

/// Builds a large subtree none of whose containers was converted before with one `JSON.parse`
/// of its text (native, instead of several boundary calls per value) and one deep freeze. Only
/// the subtree's root and the store snapshots inside it are remembered: those are what a later
/// conversion can start from; everything below them is found through them, in step with the
/// previous version. `None` when the subtree is small or holds a container converted before
/// (whose JS object must be reused).
fn parse_fresh(cache: &mut ContainerSet<JsValue>, node: &Node) -> Option<JsValue> {
    let stores = fresh_subtree_stores(cache, node)?;
    let value = js_sys::JSON::parse(&node.to_json_text()).ok()?;
    if value.is_object() {
        freeze_deep(&value);
    }
    cache.insert(node, value.clone());
    for (store, steps) in stores {
        let store_value = steps.iter().try_fold(value.clone(), |value, step| match step {
            Step::Key(key) => js_sys::Reflect::get(&value, &JsValue::from_str(key)).ok(),
            Step::Index(at) => js_sys::Reflect::get_u32(&value, *at).ok(),
        });
        if let Some(store_value) = store_value {
            cache.insert(&store, store_value);
        }
    }
    Some(value)
}

/// One step down a tree: an object's key or an array's index.
#[derive(Clone)]
enum Step {
    Key(Rc<str>),
    Index(u32),
}

/// For a large container none of whose containers was converted before: the store snapshots
/// inside it, each with the steps to it. `None` for a scalar, a small subtree or one holding a
/// converted container. One walk, which steps over records of scalars (a store snapshot holds
/// its id array, so such a record is none, and it holds nothing to look up).
fn fresh_subtree_stores<'n>(cache: &ContainerSet<JsValue>, node: &'n Node) -> Option<Vec<(Node, Vec<Step>)>> {
    if !node.is_container() {
        return None;
    }
    let mut containers = 0usize;
    let mut stores: Vec<(Node, Vec<Step>)> = Vec::new();
    let mut path: Vec<Step> = Vec::new();
    // (container, how many steps below `node`, the step into it)
    let mut unseen: Vec<(&'n Node, usize, Option<Step>)> = vec![(node, 0, None)];
    while let Some((next, depth, step)) = unseen.pop() {
        containers += 1;
        if let Some(step) = step {
            path.truncate(depth.saturating_sub(1));
            path.push(step);
            if next.get(STORE_ID_KEY).is_some() {
                stores.push((next.clone(), path.clone()));
            }
        }
        // Each container child: a converted one ends the search, a record of scalars is only
        // counted, anything else is looked into.
        let mut look_at = |child: &'n Node, step: Step| {
            if cache.get(child).is_some() {
                return false;
            }
            if child.is_flat() {
                containers += 1;
            } else {
                unseen.push((child, depth + 1, Some(step)));
            }
            true
        };
        let fresh = match next {
            Node::Array(items) => items
                .iter()
                .enumerate()
                .filter(|(_, item)| item.is_container())
                .all(|(at, item)| look_at(item, Step::Index(u32::try_from(at).unwrap_or(u32::MAX)))),
            Node::Object(map) => {
                map.iter().filter(|(_, value)| value.is_container()).all(|(key, value)| look_at(value, Step::Key(key.clone())))
            }
            _ => true,
        };
        if !fresh {
            return None;
        }
    }
    (containers >= PARSE_MIN_CONTAINERS).then_some(stores)
}

/// Converts a serde value (a reply) to a fresh JS value.
pub(crate) fn value_to_js(value: &Value) -> JsValue {
    to_js_fresh(&Node::from_json(value))
}

/// Converts a serde value to a fresh, deeply frozen JS value (upload snapshots, uploader
/// arguments).
pub(crate) fn frozen_value(value: &Value) -> JsValue {
    let converted = value_to_js(value);
    if converted.is_object() {
        freeze_deep(&converted);
    }
    converted
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
