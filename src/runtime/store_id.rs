//! Store ids and store keys (PROTOCOL.md §0, §2.1, §2.8).
//!
//! A [`StoreId`] is the server-authored path of a store (`[]` for the root, `["cart","line-7"]`
//! for a nested store); its [`StoreKey`] is the compact JSON text of that array, used as a map key.
//!
//! ```
//! use musubi_wasm::runtime::store_id::StoreId;
//! let id = StoreId::from(["cards", "c1"]);
//! assert_eq!(id.key().as_str(), r#"["cards","c1"]"#);
//! assert_eq!(StoreId::root().key().as_str(), "[]");
//! ```

use std::rc::Rc;

use super::tree::Node;

/// The marker key that makes an object a store node.
pub const STORE_ID_KEY: &str = "__musubi_store_id__";

/// A store's id: its segments from the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct StoreId(Rc<[Rc<str>]>);

/// The JSON text of a store id, e.g. `["a","b"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(Rc<str>);

impl StoreId {
    /// The root store's id `[]`.
    pub fn root() -> Self {
        StoreId::default()
    }

    /// The segments.
    pub fn segments(&self) -> &[Rc<str>] {
        &self.0
    }

    /// The store key (compact JSON text).
    pub fn key(&self) -> StoreKey {
        // Serializing a list of strings cannot fail.
        StoreKey(serde_json::to_string(&*self.0).unwrap_or_default().into())
    }

    /// Every prefix of this id, from the root (`[]`) to the id itself.
    pub fn prefixes(&self) -> impl Iterator<Item = StoreId> + '_ {
        (0..=self.0.len()).map(|len| StoreId(self.0.get(..len).unwrap_or_default().into()))
    }

    /// The id as a JSON node (an array of strings).
    pub fn to_node(&self) -> Node {
        Node::Array(Rc::new(self.0.iter().map(|s| Node::String(s.clone())).collect()))
    }

    /// The id as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.0.iter().map(|s| serde_json::Value::String(s.to_string())).collect())
    }

    /// Reads an id from a JSON array of strings; `None` for anything else.
    pub fn from_node(node: &Node) -> Option<StoreId> {
        let items = node.as_array()?;
        // The segments share the node's strings.
        let segments = items.iter().map(|item| match item {
            Node::String(text) => Some(Rc::clone(text)),
            _ => None,
        });
        segments.collect::<Option<Rc<[Rc<str>]>>>().map(StoreId)
    }

    /// The id of a store node (an object whose `__musubi_store_id__` is an array of strings).
    pub fn of_store_node(node: &Node) -> Option<StoreId> {
        node.get(STORE_ID_KEY).and_then(StoreId::from_node)
    }
}

impl<S: AsRef<str>, const N: usize> From<[S; N]> for StoreId {
    fn from(segments: [S; N]) -> Self {
        StoreId(segments.iter().map(|s| Rc::from(s.as_ref())).collect())
    }
}

impl From<Vec<String>> for StoreId {
    fn from(segments: Vec<String>) -> Self {
        StoreId(segments.iter().map(|s| Rc::from(s.as_str())).collect())
    }
}

impl StoreKey {
    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_compact_json_and_escape_punctuation() {
        assert_eq!(StoreId::from(["a::b", "c\"d"]).key().as_str(), r#"["a::b","c\"d"]"#);
        assert_ne!(StoreId::from(["a::b"]).key(), StoreId::from(["a", "b"]).key());
    }

    #[test]
    fn prefixes_run_from_the_root() {
        let keys: Vec<String> = StoreId::from(["a", "b"]).prefixes().map(|id| id.key().as_str().to_owned()).collect();
        assert_eq!(keys, vec!["[]", r#"["a"]"#, r#"["a","b"]"#]);
    }

    #[test]
    fn store_nodes_need_an_array_of_strings() {
        let good = Node::from_json(&serde_json::json!({"__musubi_store_id__": ["x"], "v": 1}));
        assert_eq!(StoreId::of_store_node(&good), Some(StoreId::from(["x"])));
        let bad = Node::from_json(&serde_json::json!({"__musubi_store_id__": ["x", 1]}));
        assert_eq!(StoreId::of_store_node(&bad), None);
        assert_eq!(StoreId::of_store_node(&Node::from_json(&serde_json::json!({"__musubi_store_id__": "x"}))), None);
    }
}
