//! Conversions of [`Node`]s: from and to `serde_json` values, to JSON text, and serde support.
//! Building from a `Value` recurses, but a `Value` is at most 128 levels deep (`serde_json`'s
//! limit); everything that starts from a `Node` is iterative.

use std::rc::Rc;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use super::{ArrayIter, Node, ObjectIter, SMALL_MAX};
use crate::runtime::walk::{Frame, walk};

impl Node {
    /// Converts a `serde_json` value (O(size)).
    pub fn from_json(value: &Value) -> Node {
        match value {
            Value::Null => Node::Null,
            Value::Bool(flag) => Node::Bool(*flag),
            Value::Number(number) => Node::Number(number.clone()),
            Value::String(text) => Node::String(text.as_str().into()),
            Value::Array(items) => Node::Array(Rc::new(items.iter().map(Node::from_json).collect())),
            Value::Object(map) => Node::Object(map.iter().map(|(k, v)| (Rc::from(k.as_str()), Node::from_json(v))).collect()),
        }
    }

    /// Converts to a `serde_json` value (O(size), without recursion). A `Value` drops and
    /// serializes recursively, so prefer [`Node::to_json_text`] for trees deeper than ~100 levels.
    pub fn to_json(&self) -> Value {
        walk::<OpenJson<'_>>(&mut (), self)
    }

    pub(super) fn scalar_to_json(&self) -> Value {
        match self {
            Node::Bool(flag) => Value::Bool(*flag),
            Node::Number(number) => Value::Number(number.clone()),
            Node::String(text) => Value::String(text.to_string()),
            Node::Null | Node::Array(_) | Node::Object(_) => Value::Null,
        }
    }

    /// The compact JSON text of this node (O(size), without recursion).
    ///
    /// ```
    /// use musubi_wasm::runtime::tree::Node;
    /// let node = Node::from_json(&serde_json::json!({"b": [1, "x\n"], "a": null}));
    /// assert_eq!(node.to_json_text(), r#"{"a":null,"b":[1,"x\n"]}"#);
    /// ```
    pub fn to_json_text(&self) -> String {
        /// A container being written: its remaining children, and whether one was written yet.
        enum Open<'a> {
            Array(ArrayIter<'a>, bool),
            Object(ObjectIter<'a>, bool),
        }
        let mut out: Vec<u8> = Vec::new();
        let mut open: Vec<Open<'_>> = Vec::new();
        let mut next = Some(self);
        loop {
            match next.take() {
                Some(Node::Array(items)) => {
                    out.push(b'[');
                    open.push(Open::Array(items.iter(), false));
                }
                // A record of scalars (most of a large state) is written in place, without a
                // frame on the stack.
                Some(Node::Object(map)) if map.len() <= SMALL_MAX && map.values().all(|value| !value.is_container()) => {
                    out.push(b'{');
                    for (at, (key, value)) in map.iter().enumerate() {
                        if at > 0 {
                            out.push(b',');
                        }
                        write_string(&mut out, key);
                        out.push(b':');
                        write_scalar(&mut out, value);
                    }
                    out.push(b'}');
                }
                Some(Node::Object(map)) => {
                    out.push(b'{');
                    open.push(Open::Object(map.iter(), false));
                }
                Some(scalar) => write_scalar(&mut out, scalar),
                None => {}
            }
            let Some(container) = open.last_mut() else { break };
            match container {
                Open::Array(items, written) => match items.next() {
                    Some(item) => {
                        if std::mem::replace(written, true) {
                            out.push(b',');
                        }
                        next = Some(item);
                    }
                    None => {
                        out.push(b']');
                        open.pop();
                    }
                },
                Open::Object(entries, written) => match entries.next() {
                    Some((key, value)) => {
                        if std::mem::replace(written, true) {
                            out.push(b',');
                        }
                        write_string(&mut out, key);
                        out.push(b':');
                        next = Some(value);
                    }
                    None => {
                        out.push(b'}');
                        open.pop();
                    }
                },
            }
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Appends a scalar's JSON text.
fn write_scalar(out: &mut Vec<u8>, scalar: &Node) {
    match scalar {
        Node::Bool(true) => out.extend_from_slice(b"true"),
        Node::Bool(false) => out.extend_from_slice(b"false"),
        Node::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(unsigned), _) => out.extend_from_slice(itoa::Buffer::new().format(unsigned).as_bytes()),
            (None, Some(signed)) => out.extend_from_slice(itoa::Buffer::new().format(signed).as_bytes()),
            (None, None) => write_json(out, number),
        },
        Node::String(text) => write_string(out, text),
        Node::Null | Node::Array(_) | Node::Object(_) => out.extend_from_slice(b"null"),
    }
}

/// Appends a JSON string: as is between quotes when nothing in it needs escaping (the common
/// case, and a byte scan), else escaped by `serde_json`.
fn write_string(out: &mut Vec<u8>, text: &str) {
    if text.bytes().all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        write_json(out, text);
    }
}

/// Appends `value` serialized by `serde_json` (escaped strings, shortest numbers); writing into a
/// `Vec` cannot fail.
fn write_json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    let _ = serde_json::to_writer(out, value);
}

/// A container being converted by [`Node::to_json`]: its remaining children and what is built.
enum OpenJson<'a> {
    Array(ArrayIter<'a>, Vec<Value>),
    Object(ObjectIter<'a>, serde_json::Map<String, Value>, String),
}

impl<'a> Frame for OpenJson<'a> {
    type Child = &'a Node;
    type Output = Value;
    type Context = ();

    fn start(_: &mut (), node: &'a Node) -> Result<Self, Value> {
        match node {
            Node::Array(items) => Ok(OpenJson::Array(items.iter(), Vec::with_capacity(items.len()))),
            Node::Object(map) => Ok(OpenJson::Object(map.iter(), serde_json::Map::new(), String::new())),
            scalar => Err(scalar.scalar_to_json()),
        }
    }

    fn next_child(&mut self) -> Option<&'a Node> {
        match self {
            OpenJson::Array(items, _) => items.next(),
            OpenJson::Object(entries, _, key) => entries.next().map(|(field, value)| {
                *key = field.to_string();
                value
            }),
        }
    }

    fn take_child(&mut self, value: Value) {
        match self {
            OpenJson::Array(_, values) => values.push(value),
            OpenJson::Object(_, map, key) => {
                map.insert(std::mem::take(key), value);
            }
        }
    }

    fn finish(self, _: &mut ()) -> Value {
        match self {
            OpenJson::Array(_, values) => Value::Array(values),
            OpenJson::Object(_, map, _) => Value::Object(map),
        }
    }
}

impl From<Value> for Node {
    fn from(value: Value) -> Self {
        Node::from_json(&value)
    }
}

impl From<&str> for Node {
    fn from(text: &str) -> Self {
        Node::String(text.into())
    }
}

impl From<i64> for Node {
    fn from(number: i64) -> Self {
        Node::Number(number.into())
    }
}

impl From<bool> for Node {
    fn from(flag: bool) -> Self {
        Node::Bool(flag)
    }
}

/// Serializes through serde, which recurses by design: fine for values (replica trees are bounded
/// by [`crate::runtime::depth::MAX_DEPTH`]); the library itself writes trees with
/// [`Node::to_json_text`].
impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(flag) => serializer.serialize_bool(*flag),
            Node::Number(number) => number.serialize(serializer),
            Node::String(text) => serializer.serialize_str(text),
            Node::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(map) => {
                let mut out = serializer.serialize_map(Some(map.len()))?;
                for (key, value) in map.iter() {
                    out.serialize_entry(&**key, value)?;
                }
                out.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_text_is_serde_json_text_for_records_nesting_escapes_and_numbers() {
        let value = json!({
            "records": [{"id": 1, "label": "a\"b\\c\n", "v": -2.5, "ok": true, "none": null}, {}, {"k\u{1}": 18446744073709551615u64}],
            "nested": {"x": [[], [{}], {"y": {"z": [1, -1, 0.1]}}], "w": "ü"},
            "wide": (0..40).map(|n| (format!("k{n:02}"), json!(n))).collect::<serde_json::Map<_, _>>(),
        });
        let node = Node::from_json(&value);
        assert_eq!(node.to_json_text(), serde_json::to_string(&value).unwrap_or_default());
    }
}
