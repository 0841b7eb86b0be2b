//! Host tests of the stash core: per-key last-write-wins (ties included), vsn replacement, drop,
//! reset, `last_seen_at`, corrupt data, quota failures, tabs sharing one storage, tabs racing
//! through stale caches (as Chromium's renderer processes do), and change notifications.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::*;

const VIEW: &str = "Test.View";

fn open(storage: &MemoryStorage, writer: &str) -> StashCore<MemoryStorage> {
    StashCore::new(storage.clone(), VIEW, 1, writer).unwrap()
}

fn stored(storage: &MemoryStorage) -> Option<String> {
    storage.get(&storage_key(VIEW)).unwrap()
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|key| (*key).to_owned()).collect()
}

#[test]
fn a_view_never_stashed_reads_empty() {
    let storage = MemoryStorage::new();
    let tab = open(&storage, "a");
    assert_eq!(tab.data_text(), "{}");
    assert_eq!(tab.fetch_view(), None);
    assert_eq!(tab.last_seen_at(), None);
    assert!(tab.get("x").is_none());
    assert!(!tab.is_corrupt());
    assert_eq!(stored(&storage), None, "opening writes nothing");
}

#[test]
fn merge_sets_keys_and_is_stored_before_it_returns() {
    let storage = MemoryStorage::new();
    let mut tab = open(&storage, "a");
    tab.merge_json(r#"{"draft":"hello","filter":{"done":false}}"#, 5).unwrap();
    assert_eq!(tab.get("draft").unwrap().to_json_text(), r#""hello""#);
    assert_eq!(tab.data_text(), r#"{"draft":"hello","filter":{"done":false}}"#);
    assert_eq!(tab.fetch_view(), Some((1, tab.data_text())));
    // A fresh instance (a reload) reads it back.
    assert_eq!(open(&storage, "b").data_text(), tab.data_text());
    assert_eq!(stored(&storage).unwrap(), r#"{"d":{"draft":[5000,"a","hello"],"filter":[5000,"a",{"done":false}]},"s":5,"v":1}"#);
}

#[test]
fn merge_is_last_write_wins_per_key() {
    let storage = MemoryStorage::new();
    let (mut a, mut b) = (open(&storage, "a"), open(&storage, "b"));
    a.merge_json(r#"{"x":1,"y":1}"#, 10).unwrap();
    b.merge_json(r#"{"y":2,"z":2}"#, 11).unwrap();
    a.merge_json(r#"{"z":3}"#, 12).unwrap();
    assert_eq!(a.data_text(), r#"{"x":1,"y":2,"z":3}"#, "each write read the others' keys first");
    b.refresh().unwrap();
    assert_eq!(b.data_text(), a.data_text());
}

#[test]
fn a_later_write_wins_even_when_its_clock_is_behind() {
    let storage = MemoryStorage::new();
    let (mut fast, mut slow) = (open(&storage, "z-fast"), open(&storage, "a-slow"));
    fast.merge_json(r#"{"k":"from the future"}"#, 1_000_000).unwrap();
    // A tab whose clock is far behind still writes after it: its stamp goes above what it read.
    slow.merge_json(r#"{"k":"later"}"#, 10).unwrap();
    fast.refresh().unwrap();
    assert_eq!(fast.get("k").unwrap().to_json_text(), r#""later""#);
}

#[test]
fn concurrent_writes_of_one_key_tie_break_on_the_writer_id_in_every_tab() {
    let origin = Origin::default();
    let mut a = origin.open("a");
    let mut b = origin.open("b");
    // Same millisecond, neither sees the other's write: equal clocks, so writer "b" > "a" wins.
    a.merge_json(r#"{"k":"a"}"#, 100).unwrap();
    b.merge_json(r#"{"k":"b"}"#, 100).unwrap();
    origin.settle(&mut [&mut a, &mut b]);
    assert_eq!(a.get("k").unwrap().to_json_text(), r#""b""#);
    assert_eq!(b.get("k").unwrap().to_json_text(), r#""b""#);
    assert_eq!(origin.committed(), b.storage().get(&storage_key(VIEW)).unwrap());

    // And the other way round (commit order does not matter).
    let origin = Origin::default();
    let mut a = origin.open("a");
    let mut b = origin.open("b");
    b.merge_json(r#"{"k":"b"}"#, 100).unwrap();
    a.merge_json(r#"{"k":"a"}"#, 100).unwrap();
    origin.settle(&mut [&mut b, &mut a]);
    assert_eq!(a.get("k").unwrap().to_json_text(), r#""b""#);
    assert_eq!(b.get("k").unwrap().to_json_text(), r#""b""#);
}

#[test]
fn a_merge_under_another_vsn_replaces_the_slice_wholesale() {
    let storage = MemoryStorage::new();
    let mut v1 = open(&storage, "a");
    v1.merge_json(r#"{"old":1,"shared":"v1"}"#, 10).unwrap();
    let mut v2 = StashCore::new(storage.clone(), VIEW, 2, "b").unwrap();
    assert_eq!(v2.data_text(), "{}", "another vsn's data is not this stash's");
    assert_eq!(v2.fetch_view(), Some((1, r#"{"old":1,"shared":"v1"}"#.to_owned())));
    v2.merge_json(r#"{"shared":"v2"}"#, 11).unwrap();
    assert_eq!(v2.data_text(), r#"{"shared":"v2"}"#, "old keys are gone");
    // The v1 tab hears it and no longer shows its shape; its next write replaces again.
    v1.observe(stored(&storage).as_deref());
    assert_eq!(v1.data_text(), "{}");
    assert_eq!(v1.fetch_view().unwrap().0, 2);
    v1.merge_json(r#"{"old":2}"#, 12).unwrap();
    assert_eq!(v1.data_text(), r#"{"old":2}"#);
    v2.refresh().unwrap();
    assert_eq!(v2.data_text(), "{}");
}

#[test]
fn a_stale_copy_of_the_old_vsn_never_mixes_into_the_new_one() {
    let origin = Origin::default();
    let mut old = origin.open("a");
    old.merge_json(r#"{"old":1}"#, 10).unwrap();
    origin.propagate();
    let mut new = origin.open_vsn("b", 2);
    old.merge_json(r#"{"old":2}"#, 20).unwrap(); // not yet seen by `new`
    new.merge_json(r#"{"new":1}"#, 21).unwrap();
    origin.settle(&mut [&mut old, &mut new]);
    // The vsn-2 write replaced the slice (a later epoch): the v1 key did not leak into it.
    assert_eq!(new.data_text(), r#"{"new":1}"#);
    assert_eq!(old.fetch_view(), Some((2, r#"{"new":1}"#.to_owned())));
}

#[test]
fn drop_removes_keys_and_ignores_unknown_ones() {
    let storage = MemoryStorage::new();
    let mut tab = open(&storage, "a");
    tab.merge_json(r#"{"x":1,"y":2}"#, 10).unwrap();
    tab.drop_keys(&keys(&["x", "nope"]), 11).unwrap();
    assert_eq!(tab.data_text(), r#"{"y":2}"#);
    assert_eq!(open(&storage, "b").data_text(), r#"{"y":2}"#);
    let before = stored(&storage);
    tab.drop_keys(&keys(&["nope", "x"]), 12).unwrap();
    assert_eq!(stored(&storage), before, "nothing to drop: nothing written");
    // Dropping in a never-stashed view is a no-op too.
    let empty = MemoryStorage::new();
    open(&empty, "a").drop_keys(&keys(&["x"]), 1).unwrap();
    assert_eq!(stored(&empty), None);
}

#[test]
fn a_dropped_key_is_not_revived_by_a_stale_copy() {
    let origin = Origin::default();
    let mut a = origin.open("a");
    let mut b = origin.open("b");
    a.merge_json(r#"{"x":1}"#, 10).unwrap();
    origin.settle(&mut [&mut a, &mut b]);
    a.drop_keys(&keys(&["x"]), 20).unwrap();
    b.merge_json(r#"{"y":1}"#, 21).unwrap(); // b still has x in its cache
    origin.settle(&mut [&mut a, &mut b]);
    assert_eq!(a.data_text(), r#"{"y":1}"#);
    assert_eq!(b.data_text(), r#"{"y":1}"#);
}

#[test]
fn reset_empties_the_view_and_a_stale_copy_cannot_revive_it() {
    let origin = Origin::default();
    let mut a = origin.open("a");
    let mut b = origin.open("b");
    a.merge_json(r#"{"x":1,"y":2}"#, 10).unwrap();
    origin.settle(&mut [&mut a, &mut b]);
    a.reset(20).unwrap();
    assert_eq!(a.data_text(), "{}");
    assert_eq!(a.fetch_view(), None);
    assert_eq!(a.last_seen_at(), Some(20), "a reset is a write");
    a.merge_json(r#"{"z":3}"#, 21).unwrap();
    b.merge_json(r#"{"w":4}"#, 22).unwrap(); // b's copy is from before the reset
    origin.settle(&mut [&mut a, &mut b]);
    // b's write was based on the old epoch: the reset's epoch wins, x and y stay gone.
    assert_eq!(a.data_text(), r#"{"z":3}"#);
    assert_eq!(b.data_text(), r#"{"z":3}"#);
    // Resetting a never-stashed view writes nothing.
    let storage = MemoryStorage::new();
    open(&storage, "a").reset(1).unwrap();
    assert_eq!(stored(&storage), None);
}

#[test]
fn two_tabs_writing_after_a_reset_keep_each_others_keys() {
    let origin = Origin::default();
    let mut a = origin.open("a");
    let mut b = origin.open("b");
    a.merge_json(r#"{"x":1}"#, 10).unwrap();
    a.reset(11).unwrap();
    origin.settle(&mut [&mut a, &mut b]);
    a.merge_json(r#"{"p":1}"#, 20).unwrap();
    b.merge_json(r#"{"q":1}"#, 20).unwrap();
    origin.settle(&mut [&mut a, &mut b]);
    assert_eq!(a.data_text(), r#"{"p":1,"q":1}"#);
    assert_eq!(b.data_text(), r#"{"p":1,"q":1}"#);
}

#[test]
fn last_seen_at_is_the_last_write_from_any_tab() {
    let storage = MemoryStorage::new();
    let (mut a, mut b) = (open(&storage, "a"), open(&storage, "b"));
    a.merge_json(r#"{"x":1}"#, 1_000).unwrap();
    assert_eq!(a.last_seen_at(), Some(1_000));
    b.drop_keys(&keys(&["x"]), 2_000).unwrap();
    assert_eq!(b.last_seen_at(), Some(2_000));
    a.observe(stored(&storage).as_deref());
    assert_eq!(a.last_seen_at(), Some(2_000));
    assert_eq!(open(&storage, "c").last_seen_at(), Some(2_000));
}

#[test]
fn corrupt_data_reads_empty_refuses_writes_and_is_replaced_only_by_reset() {
    for junk in ["{not json", "[1,2,3]", r#"{"someone":"else"}"#, r#"{"s":1,"d":{"k":"not an entry"}}"#, "\"text\""] {
        let storage = MemoryStorage::new();
        storage.set_raw(&storage_key(VIEW), junk);
        let mut tab = open(&storage, "a");
        assert!(tab.is_corrupt(), "{junk}");
        assert_eq!(tab.data_text(), "{}");
        assert_eq!(tab.fetch_view(), None);
        assert_eq!(tab.merge_json(r#"{"x":1}"#, 10), Err(StashError::Corrupt));
        assert_eq!(tab.drop_keys(&keys(&["x"]), 10), Err(StashError::Corrupt));
        assert_eq!(stored(&storage).as_deref(), Some(junk), "corrupt data is never overwritten silently");
        tab.reset(11).unwrap();
        assert!(!tab.is_corrupt());
        tab.merge_json(r#"{"x":1}"#, 12).unwrap();
        assert_eq!(open(&storage, "b").data_text(), r#"{"x":1}"#);
    }
}

#[test]
fn corrupt_data_written_while_open_is_noticed_and_not_repaired_over() {
    let storage = MemoryStorage::new();
    let mut tab = open(&storage, "a");
    tab.merge_json(r#"{"x":1}"#, 10).unwrap();
    let revision = tab.revision();
    storage.set_raw(&storage_key(VIEW), "garbage");
    tab.observe(Some("garbage"));
    assert!(tab.is_corrupt());
    assert!(tab.revision() > revision, "listeners hear it");
    assert_eq!(tab.data_text(), "{}");
    assert_eq!(tab.take_written(), Some(r#"{"d":{"x":[10000,"a",1]},"s":10,"v":1}"#.to_owned()), "only the merge");
    assert_eq!(stored(&storage).as_deref(), Some("garbage"));
    assert_eq!(tab.merge_json(r#"{"y":1}"#, 11), Err(StashError::Corrupt));
    // Another tab resets it: this one reads the reset and can write again.
    let mut other = open(&storage, "b");
    other.reset(12).unwrap();
    tab.observe(stored(&storage).as_deref());
    assert!(!tab.is_corrupt());
    tab.merge_json(r#"{"y":1}"#, 13).unwrap();
    assert_eq!(tab.data_text(), r#"{"y":1}"#);
}

#[test]
fn a_write_over_the_quota_fails_typed_and_changes_nothing() {
    let storage = MemoryStorage::new();
    let mut tab = open(&storage, "a");
    tab.merge_json(r#"{"small":1}"#, 10).unwrap();
    let before = stored(&storage);
    let (data, revision, seen) = (tab.data_text(), tab.revision(), tab.last_seen_at());
    storage.set_quota(Some(storage.used() + 10));
    let big = format!(r#"{{"big":"{}"}}"#, "x".repeat(100));
    assert_eq!(tab.merge_json(&big, 11), Err(StashError::QuotaExceeded));
    assert_eq!(stored(&storage), before, "the stored value is intact");
    assert_eq!((tab.data_text(), tab.revision(), tab.last_seen_at()), (data.clone(), revision, seen), "and so is the instance");
    // A vsn change over the quota fails the same way.
    let mut v2 = StashCore::new(storage.clone(), VIEW, 2, "b").unwrap();
    assert_eq!(v2.merge_json(&big, 12), Err(StashError::QuotaExceeded));
    assert_eq!(stored(&storage), before);
    assert_eq!(v2.fetch_view(), Some((1, data.clone())));
    // Once there is room again, the same write succeeds.
    storage.set_quota(None);
    tab.merge_json(&big, 13).unwrap();
    assert_eq!(open(&storage, "c").get("small").unwrap().to_json_text(), "1");
}

#[test]
fn values_that_are_not_json_are_refused() {
    let storage = MemoryStorage::new();
    let mut tab = open(&storage, "a");
    for bad in ["[1]", "{\"x\":}", "nope", "{\"x\":1} trailing"] {
        assert!(matches!(tab.merge_json(bad, 1), Err(StashError::InvalidValue { .. })), "{bad}");
    }
    assert_eq!(stored(&storage), None);
}

#[test]
fn values_nest_up_to_max_value_depth() {
    let storage = MemoryStorage::new();
    let mut tab = open(&storage, "a");
    let nested = |levels: usize| format!(r#"{{"deep":{}1{}}}"#, "[".repeat(levels), "]".repeat(levels));
    tab.merge_json(&nested(MAX_VALUE_DEPTH), 1).unwrap();
    assert_eq!(open(&storage, "b").data_text(), nested(MAX_VALUE_DEPTH), "stored and read back");
    let before = stored(&storage);
    assert!(matches!(tab.merge_json(&nested(MAX_VALUE_DEPTH + 1), 2), Err(StashError::InvalidValue { .. })));
    assert_eq!(stored(&storage), before);
}

#[test]
fn two_tabs_over_one_storage_writing_different_keys_keep_both() {
    let storage = MemoryStorage::new();
    let (mut a, mut b) = (open(&storage, "a"), open(&storage, "b"));
    for round in 0..50u64 {
        a.merge_json(&format!(r#"{{"a{round}":{round}}}"#), 100 + round).unwrap();
        b.merge_json(&format!(r#"{{"b{round}":{round}}}"#), 100 + round).unwrap();
    }
    let fresh = open(&storage, "c");
    assert_eq!(fresh.entries().count(), 100);
    a.observe(stored(&storage).as_deref());
    assert_eq!(a.data_text(), fresh.data_text());
}

#[test]
fn racing_tabs_with_stale_caches_converge_without_losing_keys() {
    let origin = Origin::default();
    let mut tabs: Vec<StashCore<TabStorage>> = (0..3).map(|tab| origin.open(&format!("tab{tab}"))).collect();
    let mut rng = fastrand::Rng::with_seed(7);
    for step in 0..300u64 {
        let tab = rng.usize(..tabs.len());
        tabs[tab].merge_json(&format!(r#"{{"t{tab}-{step}":{step}}}"#), 1_000 + step / 10).unwrap();
        // Propagate and deliver only sometimes: tabs keep writing from stale caches meanwhile.
        if rng.u8(..4) == 0 {
            origin.propagate();
            let tab = rng.usize(..tabs.len());
            origin.deliver(tab, &mut tabs[tab]);
        }
    }
    // Last, every tab writes once more from its stale cache, and then nobody writes again: only
    // the repairs can bring the others' last keys into the committed slice.
    for (tab, core) in tabs.iter_mut().enumerate() {
        core.merge_json(&format!(r#"{{"last{tab}":true}}"#), 2_000).unwrap();
    }
    let mut refs: Vec<&mut StashCore<TabStorage>> = tabs.iter_mut().collect();
    origin.settle(&mut refs);
    let expected = tabs[0].data_text();
    assert_eq!(tabs[0].entries().count(), 303, "no key was lost");
    for tab in &tabs {
        assert_eq!(tab.data_text(), expected);
    }
    let committed = Slice::parse(&origin.committed().unwrap()).unwrap();
    assert_eq!(committed.values().count(), 303);
}

#[test]
fn revision_and_take_written_report_changes() {
    let storage = MemoryStorage::new();
    let (mut a, mut b) = (open(&storage, "a"), open(&storage, "b"));
    let start = b.revision();
    a.merge_json(r#"{"x":1}"#, 10).unwrap();
    let written = a.take_written().unwrap();
    assert_eq!(a.take_written(), None);
    b.observe(Some(&written));
    assert!(b.revision() > start);
    assert_eq!(b.take_written(), None, "nothing to repair");
    let unchanged = b.revision();
    b.observe(Some(&written));
    assert_eq!(b.revision(), unchanged, "the same change again is no change");
    storage.remove(&storage_key(VIEW));
    b.observe(None);
    assert_eq!(b.data_text(), "{}", "a removal (cleared storage) is forgotten, not written back");
    assert!(b.revision() > unchanged);
    assert_eq!(b.take_written(), None);
}

#[test]
fn the_stored_text_round_trips() {
    let storage = MemoryStorage::new();
    let mut tab = open(&storage, "w\"1");
    tab.merge_json(r#"{"k\"ey":{"deep":[1,{"x":null}]},"n":null,"s":"é\n"}"#, 3).unwrap();
    tab.drop_keys(&keys(&["n"]), 4).unwrap();
    let text = stored(&storage).unwrap();
    let slice = Slice::parse(&text).unwrap();
    assert_eq!(slice.to_text(), text);
    assert_eq!(open(&storage, "b").data_text(), r#"{"k\"ey":{"deep":[1,{"x":null}]},"s":"é\n"}"#);
}

use super::slice::Slice;

/// An origin whose tabs each keep their own cache of the storage, like Chromium's renderer
/// processes: a tab's write lands in its cache at once and reaches the others only when
/// [`Origin::propagate`] runs (in commit order, each with a `storage` event in their inbox).
#[derive(Clone, Default)]
struct Origin(Rc<RefCell<OriginState>>);

#[derive(Default)]
struct OriginState {
    committed: HashMap<String, String>,
    caches: Vec<HashMap<String, String>>,
    inboxes: Vec<Vec<Option<String>>>,
    in_flight: Vec<(usize, String, String)>,
}

struct TabStorage {
    origin: Origin,
    tab: usize,
}

impl StashStorage for TabStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StashError> {
        Ok(self.origin.0.borrow().caches[self.tab].get(key).cloned())
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StashError> {
        let mut state = self.origin.0.borrow_mut();
        state.caches[self.tab].insert(key.to_owned(), value.to_owned());
        state.in_flight.push((self.tab, key.to_owned(), value.to_owned()));
        Ok(())
    }
}

impl Origin {
    fn open(&self, writer: &str) -> StashCore<TabStorage> {
        self.open_vsn(writer, 1)
    }

    fn open_vsn(&self, writer: &str, vsn: u32) -> StashCore<TabStorage> {
        let tab = {
            let mut state = self.0.borrow_mut();
            let cache = state.committed.clone();
            state.caches.push(cache);
            state.inboxes.push(Vec::new());
            state.caches.len() - 1
        };
        StashCore::new(TabStorage { origin: self.clone(), tab }, VIEW, vsn, writer).unwrap()
    }

    /// Commits the writes in flight, in order, into every other tab's cache and inbox.
    fn propagate(&self) -> bool {
        let mut state = self.0.borrow_mut();
        let writes = std::mem::take(&mut state.in_flight);
        let any = !writes.is_empty();
        for (from, key, value) in writes {
            state.committed.insert(key.clone(), value.clone());
            for tab in 0..state.caches.len() {
                if tab != from {
                    state.caches[tab].insert(key.clone(), value.clone());
                    state.inboxes[tab].push(Some(value.clone()));
                }
            }
        }
        any
    }

    /// Hands tab `tab` its storage events.
    fn deliver(&self, tab: usize, core: &mut StashCore<TabStorage>) {
        let events = std::mem::take(&mut self.0.borrow_mut().inboxes[tab]);
        for event in events {
            core.observe(event.as_deref());
        }
    }

    /// Propagates and delivers until nothing is in flight.
    fn settle(&self, cores: &mut [&mut StashCore<TabStorage>]) {
        for _ in 0..20 {
            let any = self.propagate();
            for core in cores.iter_mut() {
                let tab = core.storage().tab;
                self.deliver(tab, core);
            }
            let pending = !self.0.borrow().in_flight.is_empty() || self.0.borrow().inboxes.iter().any(|inbox| !inbox.is_empty());
            if !any && !pending {
                return;
            }
        }
        panic!("the tabs did not settle");
    }

    fn committed(&self) -> Option<String> {
        self.0.borrow().committed.get(&storage_key(VIEW)).cloned()
    }
}
