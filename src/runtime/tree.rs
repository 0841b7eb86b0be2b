//! The replica's persistent JSON tree. Containers are immutable and shared: an update copies only
//! the containers on the path it changes (each in O(log width) thanks to `imbl`), so unchanged
//! subtrees keep their identity ([`Node::same`]) — which is how "did this store change?" is
//! answered without comparing values.
//!
//! ```
//! use musubi_wasm::runtime::tree::Node;
//! let tree = Node::from_json(&serde_json::json!({"a": {"b": 1}, "c": [1, 2]}));
//! let a = tree.get("a").cloned().unwrap_or(Node::Null);
//! let updated = tree.with_key("c", Node::from(3));
//! assert!(updated.get("a").is_some_and(|same| same.same(&a)), "untouched subtree shared");
//! assert_eq!(updated.to_json(), serde_json::json!({"a": {"b": 1}, "c": 3}));
//! ```

use std::rc::Rc;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// An object's entries, ordered by key.
pub type ObjectMap = imbl::OrdMap<Rc<str>, Node>;
/// An array's elements.
pub type ArrayVec = imbl::Vector<Node>;
/// An iterator over an array's elements.
type ArrayIter<'a> = <&'a ArrayVec as IntoIterator>::IntoIter;
/// An iterator over an object's entries, in key order.
type ObjectIter<'a> = <&'a ObjectMap as IntoIterator>::IntoIter;

/// One JSON value of the replica. Cloning is O(1).
#[derive(Clone, Debug, Default)]
pub enum Node {
    /// `null`
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Rc<str>),
    /// An array (shared; identity via [`Node::same`]).
    Array(Rc<ArrayVec>),
    /// An object (shared; identity via [`Node::same`]).
    Object(Rc<ObjectMap>),
}

impl Node {
    /// Converts a `serde_json` value (O(size)).
    pub fn from_json(value: &Value) -> Node {
        match value {
            Value::Null => Node::Null,
            Value::Bool(flag) => Node::Bool(*flag),
            Value::Number(number) => Node::Number(number.clone()),
            Value::String(text) => Node::String(text.as_str().into()),
            Value::Array(items) => Node::Array(Rc::new(items.iter().map(Node::from_json).collect())),
            Value::Object(map) => Node::Object(Rc::new(map.iter().map(|(k, v)| (Rc::from(k.as_str()), Node::from_json(v))).collect())),
        }
    }

    /// Converts to a `serde_json` value (O(size), without recursion). A `Value` drops and
    /// serializes recursively, so prefer [`Node::to_json_text`] for trees deeper than ~100 levels.
    pub fn to_json(&self) -> Value {
        let mut open: Vec<OpenJson<'_>> = Vec::new();
        let mut finished = match OpenJson::start(self) {
            Ok(frame) => {
                open.push(frame);
                None
            }
            Err(scalar) => return scalar,
        };
        loop {
            if let Some(value) = finished.take() {
                match open.last_mut() {
                    None => return value,
                    Some(OpenJson::Array(_, values)) => values.push(value),
                    Some(OpenJson::Object(_, map, key)) => {
                        map.insert(std::mem::take(key), value);
                    }
                }
            }
            let child = match open.last_mut() {
                None => return Value::Null,
                Some(OpenJson::Array(items, _)) => items.next(),
                Some(OpenJson::Object(entries, _, key)) => entries.next().map(|(field, value)| {
                    *key = field.to_string();
                    value
                }),
            };
            match child {
                Some(child) => match OpenJson::start(child) {
                    Ok(frame) => open.push(frame),
                    Err(scalar) => finished = Some(scalar),
                },
                None => finished = open.pop().map(OpenJson::finish),
            }
        }
    }

    fn scalar_to_json(&self) -> Value {
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
        enum Token<'a> {
            Node(&'a Node),
            Key(&'a str),
            Text(&'static str),
        }
        let mut out = String::new();
        let mut pending = vec![Token::Node(self)];
        while let Some(token) = pending.pop() {
            match token {
                Token::Text(text) => out.push_str(text),
                Token::Key(key) => {
                    out.push_str(&Value::String(key.to_owned()).to_string());
                    out.push(':');
                }
                Token::Node(Node::Array(items)) => {
                    out.push('[');
                    pending.push(Token::Text("]"));
                    for (position, item) in items.iter().enumerate().rev() {
                        pending.push(Token::Node(item));
                        if position > 0 {
                            pending.push(Token::Text(","));
                        }
                    }
                }
                Token::Node(Node::Object(map)) => {
                    out.push('{');
                    pending.push(Token::Text("}"));
                    for (position, (key, value)) in map.iter().enumerate().collect::<Vec<_>>().into_iter().rev() {
                        pending.push(Token::Node(value));
                        pending.push(Token::Key(key));
                        if position > 0 {
                            pending.push(Token::Text(","));
                        }
                    }
                }
                Token::Node(scalar) => out.push_str(&scalar.scalar_to_json().to_string()),
            }
        }
        out
    }

    /// An empty object.
    pub fn empty_object() -> Node {
        Node::Object(Rc::default())
    }

    /// True when both are the same shared container, or equal scalars. O(1).
    pub fn same(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Array(a), Node::Array(b)) => Rc::ptr_eq(a, b),
            (Node::Object(a), Node::Object(b)) => Rc::ptr_eq(a, b),
            (Node::Null, Node::Null) => true,
            (Node::Bool(a), Node::Bool(b)) => a == b,
            (Node::Number(a), Node::Number(b)) => a == b,
            (Node::String(a), Node::String(b)) => a == b,
            _ => false,
        }
    }

    /// The object's field `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Object(map) => map.get(key),
            _ => None,
        }
    }

    /// The array's element `index`.
    pub fn at(&self, index: usize) -> Option<&Node> {
        match self {
            Node::Array(items) => items.get(index),
            _ => None,
        }
    }

    /// The object's map, if this is an object.
    pub fn as_object(&self) -> Option<&ObjectMap> {
        match self {
            Node::Object(map) => Some(map),
            _ => None,
        }
    }

    /// The array's elements, if this is an array.
    pub fn as_array(&self) -> Option<&ArrayVec> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(text) => Some(text),
            _ => None,
        }
    }

    /// A copy of this object with `key` set (a non-object becomes an object with one key).
    #[must_use]
    pub fn with_key(&self, key: &str, value: Node) -> Node {
        let mut map = self.as_object().cloned().unwrap_or_default();
        map.insert(key.into(), value);
        Node::Object(Rc::new(map))
    }
}

/// A container being converted by [`Node::to_json`]: its remaining children and what is built.
enum OpenJson<'a> {
    Array(ArrayIter<'a>, Vec<Value>),
    Object(ObjectIter<'a>, serde_json::Map<String, Value>, String),
}

impl<'a> OpenJson<'a> {
    /// Opens a container, or converts a scalar at once (`Err`).
    fn start(node: &'a Node) -> Result<Self, Value> {
        match node {
            Node::Array(items) => Ok(OpenJson::Array(items.iter(), Vec::with_capacity(items.len()))),
            Node::Object(map) => Ok(OpenJson::Object(map.iter(), serde_json::Map::new(), String::new())),
            scalar => Err(scalar.scalar_to_json()),
        }
    }

    fn finish(self) -> Value {
        match self {
            OpenJson::Array(_, values) => Value::Array(values),
            OpenJson::Object(_, map, _) => Value::Object(map),
        }
    }
}

/// A weak reference to a container node. While it is alive the container's address cannot be
/// reused, so `(address, WeakNode)` identifies an immutable container without keeping it alive.
#[derive(Debug, Clone)]
pub enum WeakNode {
    /// An array.
    Array(std::rc::Weak<ArrayVec>),
    /// An object.
    Object(std::rc::Weak<ObjectMap>),
}

impl WeakNode {
    /// True while the container is still held somewhere.
    pub fn alive(&self) -> bool {
        match self {
            WeakNode::Array(weak) => weak.strong_count() > 0,
            WeakNode::Object(weak) => weak.strong_count() > 0,
        }
    }
}

impl Node {
    /// The address of a container and a weak reference pinning it (`None` for scalars).
    pub fn container(&self) -> Option<(usize, WeakNode)> {
        match self {
            Node::Array(items) => Some((Rc::as_ptr(items) as *const () as usize, WeakNode::Array(Rc::downgrade(items)))),
            Node::Object(map) => Some((Rc::as_ptr(map) as *const () as usize, WeakNode::Object(Rc::downgrade(map)))),
            _ => None,
        }
    }

    /// The address of a container (`None` for scalars); equal addresses of live nodes mean the
    /// same container.
    pub fn address(&self) -> Option<usize> {
        match self {
            Node::Array(items) => Some(Rc::as_ptr(items) as *const () as usize),
            Node::Object(map) => Some(Rc::as_ptr(map) as *const () as usize),
            _ => None,
        }
    }
}

/// A set of containers, by address, that stays valid without keeping them alive: entries of
/// containers that were dropped are forgotten (amortized O(1) per insert).
#[derive(Debug, Clone, Default)]
pub struct ContainerSet<V> {
    entries: std::collections::HashMap<usize, (WeakNode, V)>,
    live_after_prune: usize,
}

impl<V> ContainerSet<V> {
    /// Below this many entries the set never prunes.
    const PRUNE_FLOOR: usize = 64;

    /// The value stored for `node`, if `node` is a container in the set.
    pub fn get(&self, node: &Node) -> Option<&V> {
        let address = node.address()?;
        self.entries.get(&address).filter(|(weak, _)| weak.alive()).map(|(_, value)| value)
    }

    /// Stores `value` for container `node` (scalars are ignored). Returns true if it was new.
    pub fn insert(&mut self, node: &Node, value: V) -> bool {
        let Some((address, weak)) = node.container() else { return false };
        let added = self.entries.insert(address, (weak, value)).is_none();
        if self.entries.len() > self.live_after_prune.saturating_mul(2).max(Self::PRUNE_FLOOR) {
            self.prune();
        }
        added
    }

    /// Forgets every entry whose container was dropped; returns how many went.
    pub fn prune(&mut self) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, (weak, _)| weak.alive());
        self.live_after_prune = self.entries.len();
        before - self.entries.len()
    }

    /// How many entries there are (live or not yet pruned).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.live_after_prune = 0;
    }
}

/// `new`, with every subtree that equals the one at the same place in `old` replaced by `old`'s
/// (shared) node, so identity survives a full state replacement wherever nothing changed. Costs
/// one walk of `new`.
///
/// ```
/// use musubi_wasm::runtime::tree::{Node, share_unchanged};
/// let old = Node::from_json(&serde_json::json!({"a": {"x": 1}, "b": [1]}));
/// let new = Node::from_json(&serde_json::json!({"a": {"x": 1}, "b": [2]}));
/// let merged = share_unchanged(&old, &new);
/// assert!(merged.get("a").zip(old.get("a")).is_some_and(|(m, o)| m.same(o)));
/// assert_eq!(merged, new);
/// assert!(share_unchanged(&old, &old.clone()).same(&old));
/// ```
pub fn share_unchanged(old: &Node, new: &Node) -> Node {
    let mut open: Vec<Merge<'_>> = Vec::new();
    let mut finished = match Merge::start(old, new) {
        Ok(frame) => {
            open.push(frame);
            None
        }
        Err(node) => return node,
    };
    loop {
        if let Some(shared) = finished.take() {
            match open.last_mut() {
                None => return shared,
                Some(frame) => frame.take_child(shared),
            }
        }
        let Some(frame) = open.last_mut() else { return new.clone() };
        match frame.next_child() {
            Some((Some(previous), value)) => match Merge::start(previous, value) {
                Ok(child) => open.push(child),
                Err(shared) => finished = Some(shared),
            },
            Some((None, value)) => finished = Some(value.clone()),
            None => finished = open.pop().map(Merge::finish),
        }
    }
}

/// A pair of containers being merged by [`share_unchanged`].
struct Merge<'a> {
    old: &'a Node,
    children: MergeChildren<'a>,
    /// True while every merged child is the old one and the lengths match.
    all_same: bool,
}

enum MergeChildren<'a> {
    Object { before: &'a ObjectMap, after: ObjectIter<'a>, key: Option<Rc<str>>, merged: ObjectMap },
    Array { before: &'a ArrayVec, after: ArrayIter<'a>, merged: ArrayVec },
}

impl<'a> Merge<'a> {
    /// Opens two containers of the same kind that are not already shared; anything else is
    /// decided at once (`Err`).
    fn start(old: &'a Node, new: &'a Node) -> Result<Self, Node> {
        let children = match (old, new) {
            (Node::Object(before), Node::Object(after)) if !Rc::ptr_eq(before, after) => {
                MergeChildren::Object { before, after: after.iter(), key: None, merged: ObjectMap::new() }
            }
            (Node::Array(before), Node::Array(after)) if !Rc::ptr_eq(before, after) => {
                MergeChildren::Array { before, after: after.iter(), merged: ArrayVec::new() }
            }
            _ if old.same(new) => return Err(old.clone()),
            _ => return Err(new.clone()),
        };
        let all_same = match (old, new) {
            (Node::Object(before), Node::Object(after)) => before.len() == after.len(),
            (Node::Array(before), Node::Array(after)) => before.len() == after.len(),
            _ => false,
        };
        Ok(Merge { old, children, all_same })
    }

    /// The next new child and the old one at the same place.
    fn next_child(&mut self) -> Option<(Option<&'a Node>, &'a Node)> {
        match &mut self.children {
            MergeChildren::Object { before, after, key, .. } => after.next().map(|(field, value)| {
                *key = Some(field.clone());
                (before.get(field), value)
            }),
            MergeChildren::Array { before, after, merged } => {
                let position = merged.len();
                after.next().map(|value| (before.get(position), value))
            }
        }
    }

    /// Takes the merged form of the child returned by the last [`Merge::next_child`].
    fn take_child(&mut self, shared: Node) {
        match &mut self.children {
            MergeChildren::Object { before, key, merged, .. } => {
                if let Some(key) = key.take() {
                    self.all_same &= before.get(&key).is_some_and(|previous| previous.same(&shared));
                    merged.insert(key, shared);
                }
            }
            MergeChildren::Array { before, merged, .. } => {
                self.all_same &= before.get(merged.len()).is_some_and(|previous| previous.same(&shared));
                merged.push_back(shared);
            }
        }
    }

    fn finish(self) -> Node {
        if self.all_same {
            return self.old.clone();
        }
        match self.children {
            MergeChildren::Object { merged, .. } => Node::Object(Rc::new(merged)),
            MergeChildren::Array { merged, .. } => Node::Array(Rc::new(merged)),
        }
    }
}

impl PartialEq for Node {
    /// Structural equality, without recursion; shared containers short-circuit.
    fn eq(&self, other: &Node) -> bool {
        let mut pending: Vec<(&Node, &Node)> = vec![(self, other)];
        while let Some((left, right)) = pending.pop() {
            match (left, right) {
                (Node::Array(a), Node::Array(b)) if !Rc::ptr_eq(a, b) => {
                    if a.len() != b.len() {
                        return false;
                    }
                    pending.extend(a.iter().zip(b.iter()));
                }
                (Node::Object(a), Node::Object(b)) if !Rc::ptr_eq(a, b) => {
                    if a.len() != b.len() {
                        return false;
                    }
                    for ((key_a, value_a), (key_b, value_b)) in a.iter().zip(b.iter()) {
                        if key_a != key_b {
                            return false;
                        }
                        pending.push((value_a, value_b));
                    }
                }
                _ if left.same(right) => {}
                _ => return false,
            }
        }
        true
    }
}

impl Drop for Node {
    /// Drops a tree of any depth without recursion: the children of every container this node
    /// holds alone are moved onto a work list first, so each drop goes one level deep.
    fn drop(&mut self) {
        let mut pending: Vec<Node> = Vec::new();
        release_children(self, &mut pending);
        while let Some(mut node) = pending.pop() {
            release_children(&mut node, &mut pending);
        }
    }
}

thread_local! {
    /// Empty containers that stand in for the ones [`release_children`] takes apart.
    static EMPTY_ARRAY: Rc<ArrayVec> = Rc::default();
    static EMPTY_OBJECT: Rc<ObjectMap> = Rc::default();
}

/// Moves the children of a container that `node` holds alone (weak references, like the snapshot
/// caches', do not count) onto `pending`, leaving an empty container behind.
fn release_children(node: &mut Node, pending: &mut Vec<Node>) {
    match node {
        Node::Array(items) if Rc::strong_count(items) == 1 => {
            let empty = EMPTY_ARRAY.try_with(Rc::clone).unwrap_or_default();
            if let Ok(items) = Rc::try_unwrap(std::mem::replace(items, empty)) {
                pending.extend(items);
            }
        }
        Node::Object(map) if Rc::strong_count(map) == 1 => {
            let empty = EMPTY_OBJECT.try_with(Rc::clone).unwrap_or_default();
            if let Ok(map) = Rc::try_unwrap(std::mem::replace(map, empty)) {
                pending.extend(map.into_iter().map(|(_, value)| value));
            }
        }
        _ => {}
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

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Node, E> {
        Ok(Node::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Node, E> {
        Ok(Node::Number(number.into()))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Node, E> {
        Ok(Node::Number(number.into()))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Node, E> {
        Ok(Number::from_f64(number).map_or(Node::Null, Node::Number))
    }

    fn visit_str<E>(self, text: &str) -> Result<Node, E> {
        Ok(Node::String(text.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = ArrayVec::new();
        while let Some(item) = seq.next_element()? {
            items.push_back(item);
        }
        Ok(Node::Array(Rc::new(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let mut map = ObjectMap::new();
        while let Some((key, value)) = access.next_entry::<String, Node>()? {
            map.insert(key.as_str().into(), value);
        }
        Ok(Node::Object(Rc::new(map)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_sets_follow_identity_and_forget_dropped_containers() {
        let mut set = ContainerSet::default();
        let kept = Node::from_json(&json!({"a": [1]}));
        assert!(set.insert(&kept, 1));
        assert!(!set.insert(&kept, 2), "same container");
        assert_eq!(set.get(&kept.clone()), Some(&2), "clones share the container");
        assert_eq!(set.get(&Node::from_json(&json!({"a": [1]}))), None, "equal but not the same container");
        assert!(!set.insert(&Node::from(1), 3), "scalars are not containers");
        for n in 0..200 {
            set.insert(&Node::from_json(&json!([n])), 0);
        }
        assert!(set.len() < 150, "dropped containers are pruned as the set grows ({})", set.len());
        assert_eq!(set.get(&kept), Some(&2));
        set.prune();
        assert_eq!(set.len(), 1);
    }
}
