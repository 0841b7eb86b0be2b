//! [`ObjectMap`]: an object's entries, ordered by key, in the cheapest persistent shape for its
//! size. Most objects of a server's state have a handful of fields; they are one sorted `Vec`
//! (one allocation, copied whole on a change, which is bounded by [`SMALL_MAX`] entries). An
//! object that grows past that becomes an `imbl::OrdMap`, so a change to a wide object (a map of
//! thousands of records by id) still copies only O(log width).
//!
//! ```
//! use musubi_wasm::runtime::tree::{Node, ObjectMap};
//! let mut map = ObjectMap::new();
//! map.insert("b".into(), Node::from(2));
//! map.insert("a".into(), Node::from(1));
//! assert_eq!(map.iter().map(|(key, _)| &**key).collect::<Vec<_>>(), ["a", "b"]);
//! assert_eq!(map.get("b"), Some(&Node::from(2)));
//! ```

use std::rc::Rc;

use super::Node;

/// Up to this many entries an object is one sorted `Vec`.
pub const SMALL_MAX: usize = 32;

/// An object's entries, ordered by key. Cloning copies a small object's entries (each O(1)) and
/// a large object's root.
#[derive(Clone, Debug, Default)]
pub struct ObjectMap(Shape);

#[derive(Clone, Debug)]
enum Shape {
    /// Sorted by key, at most [`SMALL_MAX`] entries.
    Small(Vec<(Rc<str>, Node)>),
    Large(imbl::OrdMap<Rc<str>, Node>),
}

impl Default for Shape {
    fn default() -> Self {
        Shape::Small(Vec::new())
    }
}

impl ObjectMap {
    /// An empty object.
    pub fn new() -> ObjectMap {
        ObjectMap::default()
    }

    /// An object with one entry.
    pub fn unit(key: Rc<str>, value: Node) -> ObjectMap {
        ObjectMap(Shape::Small(vec![(key, value)]))
    }

    /// The entries of `entries` sorted by key; a later duplicate key wins, like repeated inserts.
    pub fn from_entries(mut entries: Vec<(Rc<str>, Node)>) -> ObjectMap {
        if entries.len() > SMALL_MAX {
            return ObjectMap(Shape::Large(entries.into_iter().collect()));
        }
        // Few entries, often nearly in order: an insertion sort in place is stable, allocates
        // nothing, and is the least code (the library's stable sort adds kilobytes to the wasm).
        let mut duplicates = false;
        for from in 1..entries.len() {
            let mut at = from;
            while at > 0 {
                let order = match (entries.get(at - 1), entries.get(at)) {
                    (Some((before, _)), Some((key, _))) => before.cmp(key),
                    _ => break,
                };
                duplicates |= order == std::cmp::Ordering::Equal;
                if order != std::cmp::Ordering::Greater {
                    break;
                }
                entries.swap(at - 1, at);
                at -= 1;
            }
        }
        if duplicates {
            // Equal keys are adjacent, in their original order: keep the last of each.
            entries.reverse();
            entries.dedup_by(|later, kept| later.0 == kept.0);
            entries.reverse();
        }
        ObjectMap(Shape::Small(entries))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        match &self.0 {
            Shape::Small(entries) => entries.len(),
            Shape::Large(map) => map.len(),
        }
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.0 {
            Shape::Small(entries) => {
                let position = entries.binary_search_by(|(probe, _)| (**probe).cmp(key)).ok()?;
                entries.get(position).map(|(_, value)| value)
            }
            Shape::Large(map) => map.get(key),
        }
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`; returns its previous value.
    pub fn insert(&mut self, key: Rc<str>, value: Node) -> Option<Node> {
        match &mut self.0 {
            Shape::Small(entries) => match entries.binary_search_by(|(probe, _)| (**probe).cmp(&*key)) {
                Ok(position) => entries.get_mut(position).map(|slot| std::mem::replace(&mut slot.1, value)),
                Err(position) if entries.len() < SMALL_MAX => {
                    entries.insert(position, (key, value));
                    None
                }
                Err(_) => {
                    let mut map: imbl::OrdMap<Rc<str>, Node> = std::mem::take(entries).into_iter().collect();
                    map.insert(key, value);
                    self.0 = Shape::Large(map);
                    None
                }
            },
            Shape::Large(map) => map.insert(key, value),
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        match &mut self.0 {
            Shape::Small(entries) => {
                let position = entries.binary_search_by(|(probe, _)| (**probe).cmp(key)).ok()?;
                Some(entries.remove(position).1)
            }
            Shape::Large(map) => map.remove(key),
        }
    }

    /// The entries in key order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.0 {
            Shape::Small(entries) => Iter::Small(entries.iter()),
            Shape::Large(map) => Iter::Large(map.iter()),
        }
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Node> {
        self.iter().map(|(_, value)| value)
    }
}

/// The entries of an [`ObjectMap`] in key order.
pub enum Iter<'a> {
    #[doc(hidden)]
    Small(std::slice::Iter<'a, (Rc<str>, Node)>),
    #[doc(hidden)]
    Large(imbl::ordmap::Iter<'a, Rc<str>, Node, imbl::shared_ptr::DefaultSharedPtr>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Rc<str>, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(entries) => entries.next().map(|(key, value)| (key, value)),
            Iter::Large(entries) => entries.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Small(entries) => entries.size_hint(),
            Iter::Large(entries) => entries.size_hint(),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(entries) => entries.next_back().map(|(key, value)| (key, value)),
            Iter::Large(entries) => entries.next_back(),
        }
    }
}

impl<'a> IntoIterator for &'a ObjectMap {
    type Item = (&'a Rc<str>, &'a Node);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl ObjectMap {
    /// Moves every value out (used by [`Node`]'s drop to take a tree apart level by level).
    pub(super) fn drain_values_into(self, out: &mut Vec<Node>) {
        match self.0 {
            Shape::Small(entries) => out.extend(entries.into_iter().map(|(_, value)| value)),
            Shape::Large(map) => out.extend(map.into_iter().map(|(_, value)| value)),
        }
    }
}

impl FromIterator<(Rc<str>, Node)> for ObjectMap {
    fn from_iter<I: IntoIterator<Item = (Rc<str>, Node)>>(entries: I) -> ObjectMap {
        ObjectMap::from_entries(entries.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(map: &ObjectMap) -> Vec<String> {
        map.iter().map(|(key, _)| key.to_string()).collect()
    }

    #[test]
    fn a_small_object_stays_sorted_and_replaces_duplicates() {
        let map: ObjectMap = [("b", 1), ("a", 2), ("b", 3)].into_iter().map(|(k, v)| (Rc::from(k), Node::from(v))).collect();
        assert_eq!(keys(&map), ["a", "b"]);
        assert_eq!(map.get("b"), Some(&Node::from(3)), "the later duplicate wins");
        let mut edited = map.clone();
        assert_eq!(edited.insert("c".into(), Node::from(4)), None);
        assert_eq!(edited.insert("a".into(), Node::from(5)), Some(Node::from(2)));
        assert_eq!(edited.remove("b"), Some(Node::from(3)));
        assert_eq!(edited.remove("zz"), None);
        assert_eq!(keys(&edited), ["a", "c"]);
        assert_eq!(keys(&map), ["a", "b"], "the original is untouched");
    }

    #[test]
    fn an_object_grows_into_a_large_one_and_keeps_its_order() {
        let mut map = ObjectMap::new();
        for n in (0..(SMALL_MAX * 3)).rev() {
            map.insert(format!("k{n:03}").into(), Node::from(n as i64));
        }
        assert!(matches!(map.0, Shape::Large(_)));
        assert_eq!(map.len(), SMALL_MAX * 3);
        let expected: Vec<String> = (0..(SMALL_MAX * 3)).map(|n| format!("k{n:03}")).collect();
        assert_eq!(keys(&map), expected);
        assert_eq!(map.values().next_back(), Some(&Node::from((SMALL_MAX * 3 - 1) as i64)));
        let built: ObjectMap = map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(keys(&built), expected);
        assert_eq!(map.remove("k000"), Some(Node::from(0)));
        assert!(!map.contains_key("k000"));
    }
}
