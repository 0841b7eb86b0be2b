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

    /// Converts to a `serde_json` value (O(size)).
    pub fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(flag) => Value::Bool(*flag),
            Node::Number(number) => Value::Number(number.clone()),
            Node::String(text) => Value::String(text.to_string()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Node::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect()),
        }
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

/// Structural equality (containers compared by content; shared containers short-circuit).
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
    match (old, new) {
        (Node::Object(before), Node::Object(after)) if !Rc::ptr_eq(before, after) => {
            let mut all_same = before.len() == after.len();
            let mut merged = ObjectMap::new();
            for (key, value) in after.iter() {
                let shared = before.get(key).map_or_else(|| value.clone(), |previous| share_unchanged(previous, value));
                all_same &= before.get(key).is_some_and(|previous| previous.same(&shared));
                merged.insert(key.clone(), shared);
            }
            if all_same { old.clone() } else { Node::Object(Rc::new(merged)) }
        }
        (Node::Array(before), Node::Array(after)) if !Rc::ptr_eq(before, after) => {
            let mut all_same = before.len() == after.len();
            let mut merged = ArrayVec::new();
            for (position, value) in after.iter().enumerate() {
                let shared = before.get(position).map_or_else(|| value.clone(), |previous| share_unchanged(previous, value));
                all_same &= before.get(position).is_some_and(|previous| previous.same(&shared));
                merged.push_back(shared);
            }
            if all_same { old.clone() } else { Node::Array(Rc::new(merged)) }
        }
        _ if old == new => old.clone(),
        _ => new.clone(),
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        match (self, other) {
            (Node::Array(a), Node::Array(b)) => Rc::ptr_eq(a, b) || a == b,
            (Node::Object(a), Node::Object(b)) => Rc::ptr_eq(a, b) || a == b,
            _ => self.same(other),
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
