//! One view's slice as stored, and the join of two copies of it. Held as the runtime's JSON
//! [`Node`]s (parsed and written by the same code as the replica's state, so the stash adds
//! little to the wasm), cloned in O(1).
//!
//! Stored text (one storage key per view):
//!
//! ```text
//! {"d":{"key":[clock,"writer",value],"gone":[clock,"writer"]},"e":[clock,"writer"],"s":1735689600000,"v":1}
//! ```
//!
//! `v` is the vsn (absent after a reset), `e` the epoch (the stamp of the write that replaced the
//! slice: a vsn change or a reset; absent while it is the first one), `s` the wall-clock time of
//! the last write and `d` the entries: a value with its stamp, or a tombstone (a dropped key).

use std::cmp::Ordering;
use std::rc::Rc;

use crate::runtime::tree::{ArrayVec, Node, ObjectMap};

/// When a write happened: a hybrid logical clock (wall-clock milliseconds × 1000, raised above
/// every stamp its writer has seen) and the writer's id, which breaks ties. Ordered by clock,
/// then writer.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp {
    pub(crate) clock: u64,
    pub(crate) writer: Rc<str>,
}

/// One view's slice. The default is "never stashed" (what an absent storage key reads as).
/// `entries` maps each key to `[clock, writer]` (dropped) or `[clock, writer, value]`, checked
/// when parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slice {
    pub(crate) vsn: Option<u32>,
    pub(crate) epoch: Stamp,
    pub(crate) seen: u64,
    pub(crate) entries: ObjectMap,
}

fn as_u64(node: &Node) -> Option<u64> {
    match node {
        Node::Number(number) => number.as_u64(),
        _ => None,
    }
}

/// An entry's (or the epoch's) stamp, without allocating; `None` when it is not one.
fn stamp_of(node: &Node) -> Option<(u64, &str)> {
    let items = node.as_array()?;
    if !(2..=3).contains(&items.len()) {
        return None;
    }
    Some((as_u64(node.at(0)?)?, node.at(1)?.as_str()?))
}

fn stamp_ref(stamp: &Stamp) -> (u64, &str) {
    (stamp.clock, &stamp.writer)
}

/// An entry's value (`None` for a tombstone).
pub(crate) fn entry_value(entry: &Node) -> Option<&Node> {
    entry.at(2)
}

fn entry(stamp: &Stamp, value: Option<Node>) -> Node {
    let mut items = ArrayVec::new();
    items.push_back(Node::Number(stamp.clock.into()));
    items.push_back(Node::String(stamp.writer.clone()));
    if let Some(value) = value {
        items.push_back(value);
    }
    Node::Array(Rc::new(items))
}

/// The order of two entries' stamps (an unreadable one, which parsing rules out, loses).
fn newer(entry: &Node, than: &Node) -> bool {
    stamp_of(entry) > stamp_of(than)
}

impl Slice {
    /// Parses stored text; `None` when it is not a slice (corrupt, or written by something else).
    pub(crate) fn parse(text: &str) -> Option<Slice> {
        let node = Node::parse_json_text(text).ok()?;
        let fields = node.as_object()?;
        if fields.iter().any(|(key, _)| !matches!(&**key, "d" | "e" | "s" | "v")) {
            return None;
        }
        let seen = as_u64(fields.get("s")?)?;
        let vsn = match fields.get("v") {
            Some(vsn) => Some(u32::try_from(as_u64(vsn)?).ok()?),
            None => None,
        };
        let epoch = match fields.get("e") {
            Some(epoch) if epoch.as_array().is_some_and(|items| items.len() == 2) => {
                let (clock, writer) = stamp_of(epoch)?;
                Stamp { clock, writer: writer.into() }
            }
            Some(_) => return None,
            None => Stamp::default(),
        };
        let entries = match fields.get("d") {
            Some(Node::Object(entries)) => entries.clone(),
            Some(_) => return None,
            None => ObjectMap::new(),
        };
        if !entries.values().all(|entry| stamp_of(entry).is_some()) {
            return None;
        }
        Some(Slice { vsn, epoch, seen, entries })
    }

    /// The stored text.
    pub(crate) fn to_text(&self) -> String {
        let mut fields = vec![(Rc::from("d"), Node::Object(self.entries.clone())), (Rc::from("s"), Node::Number(self.seen.into()))];
        if self.epoch != Stamp::default() {
            let mut epoch = ArrayVec::new();
            epoch.push_back(Node::Number(self.epoch.clock.into()));
            epoch.push_back(Node::String(self.epoch.writer.clone()));
            fields.push((Rc::from("e"), Node::Array(Rc::new(epoch))));
        }
        if let Some(vsn) = self.vsn {
            fields.push((Rc::from("v"), Node::Number(vsn.into())));
        }
        Node::Object(ObjectMap::from_entries(fields)).to_json_text()
    }

    /// True when nothing was ever stashed (or the storage key is gone).
    pub(crate) fn is_empty(&self) -> bool {
        self.vsn.is_none() && self.seen == 0 && self.entries.is_empty() && self.epoch == Stamp::default()
    }

    /// The highest clock in the slice (a new stamp goes above it).
    pub(crate) fn max_clock(&self) -> u64 {
        self.entries.values().filter_map(stamp_of).map(|(clock, _)| clock).fold(self.epoch.clock, u64::max)
    }

    /// The live entries (values, not tombstones).
    pub(crate) fn values(&self) -> impl Iterator<Item = (&Rc<str>, &Node)> {
        self.entries.iter().filter_map(|(key, entry)| entry_value(entry).map(|value| (key, value)))
    }

    fn order(&self, other: &Slice) -> Ordering {
        (stamp_ref(&self.epoch), self.vsn).cmp(&(stamp_ref(&other.epoch), other.vsn))
    }

    /// Joins `other` into `self`: copies of different epochs (or vsns) are not mixed — the later
    /// epoch wins wholesale — and copies of one epoch merge per key, the later stamp winning.
    /// The result is the same in whichever order copies are joined. True when `self` changed.
    pub(crate) fn join(&mut self, other: Slice) -> bool {
        let seen = self.seen.max(other.seen);
        let mut changed = seen != self.seen;
        self.seen = seen;
        match self.order(&other) {
            Ordering::Greater => {}
            Ordering::Less => {
                *self = Slice { seen, ..other };
                changed = true;
            }
            Ordering::Equal => {
                for (key, entry) in other.entries.iter() {
                    if self.entries.get(key).is_none_or(|mine| newer(entry, mine)) {
                        self.entries.insert(key.clone(), entry.clone());
                        changed = true;
                    }
                }
            }
        }
        changed
    }

    /// True when `self` already holds every entry `other` does (joining it would change no data).
    pub(crate) fn covers(&self, other: &Slice) -> bool {
        match self.order(other) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => other.entries.iter().all(|(key, entry)| self.entries.get(key).is_some_and(|mine| !newer(entry, mine))),
        }
    }

    /// Sets `changes` under `vsn`: per key into a slice of that vsn, or as the whole slice when it
    /// had another vsn (a new epoch, so old- and new-shape keys never mix).
    pub(crate) fn merge(&mut self, vsn: u32, changes: Vec<(Rc<str>, Node)>, stamp: &Stamp, now: u64) {
        self.seen = self.seen.max(now);
        if self.vsn.is_some_and(|stored| stored != vsn) || (self.vsn.is_none() && !self.entries.is_empty()) {
            if self.vsn.is_some() {
                self.epoch = stamp.clone();
            }
            self.entries = ObjectMap::new();
        }
        self.vsn = Some(vsn);
        for (key, value) in changes {
            self.entries.insert(key, entry(stamp, Some(value)));
        }
    }

    /// Drops `keys` (those with a value under `vsn`; others are ignored). False when there was
    /// nothing to drop.
    pub(crate) fn drop_keys(&mut self, vsn: u32, keys: &[String], stamp: &Stamp, now: u64) -> bool {
        if self.vsn != Some(vsn) {
            return false;
        }
        let mut dropped = false;
        for key in keys {
            if self.entries.get(key).and_then(entry_value).is_some() {
                self.entries.insert(key.as_str().into(), entry(stamp, None));
                dropped = true;
            }
        }
        if dropped {
            self.seen = self.seen.max(now);
        }
        dropped
    }

    /// Empties the slice as a new epoch (so copies from before it lose to it). False when it was
    /// never stashed or is reset already, unless `over_corrupt` (the stored text must be replaced).
    pub(crate) fn reset(&mut self, stamp: &Stamp, now: u64, over_corrupt: bool) -> bool {
        if self.vsn.is_none() && self.entries.is_empty() && !over_corrupt {
            return false;
        }
        *self = Slice { vsn: None, epoch: stamp.clone(), seen: self.seen.max(now), entries: ObjectMap::new() };
        true
    }
}

/// `{"key":value,…}` of `entries` as JSON text.
pub(crate) fn object_text<'a>(entries: impl Iterator<Item = (&'a Rc<str>, &'a Node)>) -> String {
    let entries: Vec<(Rc<str>, Node)> = entries.map(|(key, value)| (key.clone(), value.clone())).collect();
    Node::Object(ObjectMap::from_entries(entries)).to_json_text()
}
