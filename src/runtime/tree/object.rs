//! [`ObjectMap`]: an object's entries, ordered by key, in the cheapest persistent shape for its
//! size. Most objects of a server's state have a handful of fields; they are one sorted slice
//! in the same allocation as its reference counts (`Rc<[…]>`: one allocation per object, copied
//! whole on a change, which is bounded by [`SMALL_MAX`] entries). An object that grows past that
//! becomes an `imbl::OrdMap`, so a change to a wide object (a map of thousands of records by id)
//! still copies only O(log width).
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

/// Up to this many entries an object is one sorted slice.
pub const SMALL_MAX: usize = 32;

/// One field of an object.
pub type Entry = (Rc<str>, Node);

/// An object's entries, ordered by key, shared: cloning is O(1), and a change makes a new object
/// when the entries are shared (copy on write). Identity is the allocation ([`ObjectMap::same`]).
#[derive(Clone, Debug)]
pub struct ObjectMap(Shape);

#[derive(Clone, Debug)]
enum Shape {
    /// Sorted by key, at most [`SMALL_MAX`] entries, in the same allocation as the counts.
    Small(Rc<[Entry]>),
    Large(Rc<imbl::OrdMap<Rc<str>, Node>>),
}

thread_local! {
    /// The entries of every empty object built on this thread (no allocation per `{}`).
    static NO_ENTRIES: Rc<[Entry]> = Rc::from(Vec::new());
}

impl Default for ObjectMap {
    fn default() -> Self {
        ObjectMap(Shape::Small(NO_ENTRIES.try_with(Rc::clone).unwrap_or_else(|_| Rc::from(Vec::new()))))
    }
}

/// Sorts a few entries by key in place (an insertion sort: stable, allocates nothing, and the
/// least code; the library's stable sort adds kilobytes to the wasm). True when a key repeats.
fn sort_entries(entries: &mut [Entry]) -> bool {
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
    duplicates
}

impl ObjectMap {
    /// An empty object.
    pub fn new() -> ObjectMap {
        ObjectMap::default()
    }

    /// An object with one entry.
    pub fn unit(key: Rc<str>, value: Node) -> ObjectMap {
        ObjectMap(Shape::Small(Rc::from([(key, value)])))
    }

    /// The entries sorted by key; a later duplicate key wins, like repeated inserts. A `Vec`'s
    /// or a drain's entries are moved into one allocation of the exact size.
    pub fn from_entries<I>(entries: I) -> ObjectMap
    where
        I: IntoIterator<Item = Entry>,
        I::IntoIter: ExactSizeIterator,
    {
        let entries = entries.into_iter();
        if entries.len() > SMALL_MAX {
            return ObjectMap(Shape::Large(Rc::new(entries.collect())));
        }
        let mut entries: Rc<[Entry]> = entries.collect();
        let duplicates = Rc::get_mut(&mut entries).is_some_and(sort_entries);
        if duplicates {
            // Equal keys are adjacent, in their original order: keep the last of each.
            let mut kept: Vec<Entry> = entries.iter().rev().cloned().collect();
            kept.dedup_by(|later, kept| later.0 == kept.0);
            kept.reverse();
            entries = Rc::from(kept);
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

    /// Sets `key`; returns its previous value. A new value for a key of entries held only here
    /// is set in place; anything else builds the new entries in one allocation.
    pub fn insert(&mut self, key: Rc<str>, value: Node) -> Option<Node> {
        match &mut self.0 {
            Shape::Small(entries) => match entries.binary_search_by(|(probe, _)| (**probe).cmp(&*key)) {
                Ok(position) => {
                    if let Some(slot) = Rc::get_mut(entries).and_then(|entries| entries.get_mut(position)) {
                        return Some(std::mem::replace(&mut slot.1, value));
                    }
                    let mut copy: Rc<[Entry]> = Rc::from(&**entries);
                    let previous =
                        Rc::get_mut(&mut copy).and_then(|copy| copy.get_mut(position)).map(|slot| std::mem::replace(&mut slot.1, value));
                    *entries = copy;
                    previous
                }
                Err(position) if entries.len() < SMALL_MAX => {
                    let (before, after) = entries.split_at_checked(position).unwrap_or((entries, &[]));
                    *entries = before.iter().cloned().chain(std::iter::once((key, value))).chain(after.iter().cloned()).collect();
                    None
                }
                Err(_) => {
                    let mut map: imbl::OrdMap<Rc<str>, Node> = entries.iter().cloned().collect();
                    map.insert(key, value);
                    self.0 = Shape::Large(Rc::new(map));
                    None
                }
            },
            Shape::Large(map) => Rc::make_mut(map).insert(key, value),
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        match &mut self.0 {
            Shape::Small(entries) => {
                let position = entries.binary_search_by(|(probe, _)| (**probe).cmp(key)).ok()?;
                let (before, from) = entries.split_at_checked(position)?;
                let ((_, removed), after) = from.split_first()?;
                let removed = removed.clone();
                *entries = before.iter().cloned().chain(after.iter().cloned()).collect();
                Some(removed)
            }
            Shape::Large(map) => Rc::make_mut(map).remove(key),
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

    /// A new object with the same entries (a new identity).
    pub fn fresh_copy(&self) -> ObjectMap {
        match &self.0 {
            Shape::Small(entries) => ObjectMap(Shape::Small(Rc::from(&**entries))),
            Shape::Large(map) => ObjectMap(Shape::Large(Rc::new((**map).clone()))),
        }
    }

    /// True when both are the same object (one allocation), not merely equal.
    pub fn same(&self, other: &ObjectMap) -> bool {
        match (&self.0, &other.0) {
            (Shape::Small(a), Shape::Small(b)) => Rc::ptr_eq(a, b),
            (Shape::Large(a), Shape::Large(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// How many holders share these entries.
    pub(super) fn holders(&self) -> usize {
        match &self.0 {
            Shape::Small(entries) => Rc::strong_count(entries),
            Shape::Large(map) => Rc::strong_count(map),
        }
    }

    /// The address of the entries (an identity key while the object is alive).
    pub(super) fn address(&self) -> usize {
        match &self.0 {
            Shape::Small(entries) => Rc::as_ptr(entries) as *const () as usize,
            Shape::Large(map) => Rc::as_ptr(map) as *const () as usize,
        }
    }

    /// Moves every value out onto `out` when the entries are held only here, leaving nulls
    /// behind (used by [`Node`]'s drop to take a tree apart level by level).
    pub(super) fn take_values_into(&mut self, out: &mut Vec<Node>) {
        match &mut self.0 {
            Shape::Small(entries) => {
                if let Some(entries) = Rc::get_mut(entries) {
                    out.extend(entries.iter_mut().map(|(_, value)| std::mem::take(value)));
                }
            }
            Shape::Large(map) => {
                if let Some(map) = Rc::get_mut(map) {
                    out.extend(std::mem::take(map).into_iter().map(|(_, value)| value));
                }
            }
        }
    }
}

/// The entries of an [`ObjectMap`] in key order.
pub enum Iter<'a> {
    #[doc(hidden)]
    Small(std::slice::Iter<'a, Entry>),
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

impl FromIterator<Entry> for ObjectMap {
    fn from_iter<I: IntoIterator<Item = Entry>>(entries: I) -> ObjectMap {
        ObjectMap::from_entries(entries.into_iter().collect::<Vec<_>>())
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
    fn a_change_to_shared_entries_makes_a_new_object_and_a_lone_one_changes_in_place() {
        let mut map = ObjectMap::from_entries(vec![(Rc::from("a"), Node::from(1)), (Rc::from("b"), Node::from(2))]);
        let shared = map.clone();
        assert!(map.same(&shared) && map.holders() == 2);
        map.insert("a".into(), Node::from(3));
        assert!(!map.same(&shared), "copy on write");
        assert_eq!((shared.get("a"), map.get("a")), (Some(&Node::from(1)), Some(&Node::from(3))));
        let address = map.address();
        map.insert("b".into(), Node::from(4));
        assert_eq!(map.address(), address, "a new value for a key of a lone object is set in place");
        assert!(!map.fresh_copy().same(&map));
        let mut values = Vec::new();
        let mut lone = map.fresh_copy();
        lone.take_values_into(&mut values);
        assert_eq!(values, [Node::from(3), Node::from(4)]);
        let mut held = map.clone();
        held.take_values_into(&mut values);
        assert_eq!(values.len(), 2, "shared entries are left alone");
        assert!(ObjectMap::new().same(&ObjectMap::default()), "empty objects share their entries");
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
