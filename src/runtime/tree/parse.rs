//! JSON text straight into a [`Node`], with no `serde_json::Value` in between. Object keys are
//! interned (and the last ones carried over to the next parse on the thread), so the `id` of ten
//! thousand records is one allocation, not ten thousand, and so is every envelope's `ops`.
//! `serde_json` bounds the nesting at 128 levels (it fails instead of overflowing the stack);
//! deeper text goes through [`crate::runtime::depth::parse_bounded`].
//!
//! ```
//! use musubi_wasm::runtime::tree::Node;
//! let node = Node::parse_json_text(r#"{"items": [{"id": 1}, {"id": 2}]}"#)?;
//! assert_eq!(node.to_json_text(), r#"{"items":[{"id":1},{"id":2}]}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::cell::RefCell;
use std::rc::Rc;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::{ArrayVec, Entry, Node, ObjectMap};

/// The deepest nesting of containers [`Node::parse_json_text`] accepts (`serde_json`'s recursion
/// limit): a text it parsed is at most this deep.
pub const MAX_PARSE_NESTING: usize = 127;

impl Node {
    /// Parses JSON text (O(size); nesting beyond [`MAX_PARSE_NESTING`] levels is an error).
    pub fn parse_json_text(text: &str) -> Result<Node, serde_json::Error> {
        let keys = LAST_KEYS.try_with(|last| last.try_borrow_mut().map(|mut keys| std::mem::take(&mut *keys)).unwrap_or_default());
        let mut state = ParseState { keys: keys.unwrap_or_default(), ..ParseState::default() };
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let node = NodeSeed { state: &mut state }.deserialize(&mut deserializer);
        let _ = LAST_KEYS.try_with(|last| {
            if let Ok(mut keys) = last.try_borrow_mut() {
                state.keys.forget_long();
                *keys = std::mem::take(&mut state.keys);
            }
        });
        let node = node?;
        deserializer.end()?;
        Ok(node)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        NodeSeed { state: &mut ParseState::default() }.deserialize(deserializer)
    }
}

/// What one parse keeps between values: the key interner, and the entries and items of the
/// containers being read, as one stack each (a finished container takes its own off the top in one
/// exactly sized allocation, instead of growing a vector of its own).
#[derive(Default)]
struct ParseState {
    keys: Keys,
    entries: Vec<Entry>,
    items: Vec<Node>,
}

/// The object keys seen last. The records of a list repeat the same few keys in the same order,
/// so the key that followed the previous one last time is tried first (one compare, no hashing),
/// then the others among the last [`Keys::RECENT`]; a key not among them is allocated and becomes
/// one of them. Only keys up to [`Keys::LONGEST`] bytes outlive a parse (see `LAST_KEYS`), so
/// memory stays bounded whatever the input.
#[derive(Default)]
struct Keys {
    /// Recent keys, each with the slot of the key that followed it last time.
    recent: Vec<(Rc<str>, usize)>,
    /// The slot of the key interned last.
    previous: Option<usize>,
    /// The slot the next new key replaces once `recent` is full.
    next: usize,
}

thread_local! {
    /// The keys the last parse on this thread ended with: envelopes repeat the protocol's keys
    /// and the app's, so the next parse finds them (and their order) without allocating.
    static LAST_KEYS: RefCell<Keys> = RefCell::default();
}

impl Keys {
    /// How many recent keys are kept.
    const RECENT: usize = 32;

    /// The longest key kept for the next parse.
    const LONGEST: usize = 64;

    fn intern(&mut self, key: &str) -> Rc<str> {
        let holds = |slot: &(Rc<str>, usize)| slot.0.len() == key.len() && *slot.0 == *key;
        let predicted = self.previous.and_then(|previous| self.recent.get(previous)).map(|(_, successor)| *successor);
        let found = predicted.filter(|&at| self.recent.get(at).is_some_and(holds)).or_else(|| self.recent.iter().position(holds));
        let at = match found {
            Some(at) => at,
            None if self.recent.len() < Self::RECENT => {
                self.recent.push((key.into(), 0));
                self.recent.len() - 1
            }
            None => {
                let at = self.next;
                if let Some(slot) = self.recent.get_mut(at) {
                    *slot = (key.into(), 0);
                }
                self.next = (self.next + 1) % Self::RECENT;
                at
            }
        };
        if let Some(previous) = self.previous.and_then(|previous| self.recent.get_mut(previous)) {
            previous.1 = at;
        }
        self.previous = Some(at);
        self.recent.get(at).map_or_else(|| key.into(), |(known, _)| Rc::clone(known))
    }

    /// Lets go of the keys longer than [`Keys::LONGEST`] (their slots stand for the empty key),
    /// so what outlives a parse stays small.
    fn forget_long(&mut self) {
        for slot in &mut self.recent {
            if slot.0.len() > Self::LONGEST {
                slot.0 = Rc::from("");
            }
        }
    }
}

/// Deserializes one value within a parse.
struct NodeSeed<'k> {
    state: &'k mut ParseState,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// Deserializes an object key through the interner.
struct KeySeed<'k> {
    keys: &'k mut Keys,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Rc<str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Rc<str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Rc<str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Rc<str>, E> {
        Ok(self.keys.intern(key))
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
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
        let start = self.state.items.len();
        while let Some(item) = seq.next_element_seed(NodeSeed { state: &mut *self.state })? {
            self.state.items.push(item);
        }
        let items = self.state.items.split_off(start);
        Ok(Node::Array(Rc::new(ArrayVec::from(items))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let start = self.state.entries.len();
        while let Some(key) = access.next_key_seed(KeySeed { keys: &mut self.state.keys })? {
            let value = access.next_value_seed(NodeSeed { state: &mut *self.state })?;
            self.state.entries.push((key, value));
        }
        Ok(Node::Object(ObjectMap::from_entries(self.state.entries.drain(start..))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_share_one_allocation_and_duplicates_keep_the_last() {
        let items: Vec<String> = (0..100).map(|n| format!(r#"{{"id": {n}, "id": {}}}"#, n + 1)).collect();
        let node = Node::parse_json_text(&format!("[{}]", items.join(","))).unwrap_or_default();
        let key = |index: usize| node.at(index).and_then(Node::as_object).and_then(|map| map.iter().next().map(|(k, _)| k.clone()));
        let (first, second) = (key(98), key(99));
        assert!(first.zip(second).is_some_and(|(a, b)| Rc::ptr_eq(&a, &b)), "one allocation for a repeated key");
        assert_eq!(node.at(0).and_then(|item| item.get("id")), Some(&Node::from(1)), "a duplicate key keeps the last value");
    }

    #[test]
    fn long_keys_are_shared_within_a_parse_but_not_kept() {
        let long = "k".repeat(Keys::LONGEST + 1);
        let node = Node::parse_json_text(&format!(r#"[{{"{long}": 1}}, {{"{long}": 2}}]"#)).unwrap_or_default();
        let key = |index: usize| node.at(index).and_then(Node::as_object).and_then(|map| map.iter().next().map(|(k, _)| k.clone()));
        assert!(key(0).zip(key(1)).is_some_and(|(a, b)| Rc::ptr_eq(&a, &b)), "one allocation within the parse");
        let kept = LAST_KEYS.with(|keys| keys.borrow().recent.iter().any(|(key, _)| key.len() > Keys::LONGEST));
        assert!(!kept, "not kept for the next parse");
        assert_eq!(
            Node::parse_json_text(r#"{"": 1}"#).ok(),
            Some(Node::from_json(&serde_json::json!({"": 1}))),
            "a forgotten slot stands for the empty key"
        );
    }

    #[test]
    fn keys_are_shared_across_parses() {
        let key = |text: &str| {
            let node = Node::parse_json_text(text).unwrap_or_default();
            node.as_object().and_then(|map| map.iter().next().map(|(key, _)| key.clone()))
        };
        let (first, second) = (key(r#"{"ops": 1}"#), key(r#"{"ops": 2}"#));
        assert!(first.zip(second).is_some_and(|(a, b)| Rc::ptr_eq(&a, &b)), "one allocation for every envelope's `ops`");
    }

    #[test]
    fn interned_keys_are_right_for_any_order_and_more_keys_than_are_kept() {
        // Records whose keys cycle through more keys than the interner keeps, in changing orders.
        let records: Vec<String> = (0..60)
            .map(|n| {
                let fields: Vec<String> = (0..5).map(|k| format!(r#""k{}": {n}"#, (n * 7 + k * (n % 3 + 1)) % 40)).collect();
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        let text = format!("[{}]", records.join(","));
        let parsed = Node::parse_json_text(&text).unwrap_or_default();
        let expected = Node::from_json(&serde_json::from_str(&text).unwrap_or_default());
        assert_eq!(parsed, expected);
    }

    #[test]
    fn bad_text_and_trailing_garbage_are_errors_and_deep_text_fails_without_overflow() {
        assert!(Node::parse_json_text("{").is_err());
        assert!(Node::parse_json_text("[1] 2").is_err());
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        assert!(Node::parse_json_text(&nested(200)).is_err());
        assert!(Node::parse_json_text(&nested(MAX_PARSE_NESTING)).is_ok(), "the limit is what serde_json reads");
        assert!(Node::parse_json_text(&nested(MAX_PARSE_NESTING + 1)).is_err(), "and nothing deeper");
        assert_eq!(Node::parse_json_text("1.5e3").ok(), Some(Node::Number(Number::from_f64(1500.0).unwrap_or(0.into()))));
    }
}
