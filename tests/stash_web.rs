//! Browser tests (headless Chromium) of the durable stash over the real `localStorage`:
//! durability (a fresh `Stash::open` sees the write), stashes of one page kept in step, a
//! `storage` event from "another tab" whose copy missed a key (the key is written back), corrupt
//! JSON, a full quota, the in-memory fallback, and the Leptos `use_stash` hook (live updates,
//! cleanup on unmount).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::Cell;
use std::rc::Rc;

use musubi_wasm::browser::Stash;
use musubi_wasm::stash::{MemoryStorage, StashCore, StashError, StashStorage, storage_key};
use serde_json::json;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn unique(name: &str) -> String {
    format!("Test.{name}-{}", js_sys::Math::random().to_bits())
}

fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

fn stored(view: &str) -> Option<String> {
    local_storage().get_item(&storage_key(view)).unwrap()
}

#[wasm_bindgen_test]
fn a_write_is_in_local_storage_when_merge_returns_and_a_fresh_open_sees_it() {
    let view = unique("durable");
    let stash = Stash::open(&view, 1).unwrap();
    assert!(stash.is_durable());
    assert_eq!(stash.get_view(), serde_json::Map::new());
    assert_eq!(stash.fetch_view(), None);
    stash.merge([("draft", json!("hello")), ("filter", json!({"done": true}))]).unwrap();
    assert!(stored(&view).unwrap().contains("\"hello\""), "stored synchronously");
    drop(stash);
    let reopened = Stash::open(&view, 1).unwrap();
    assert_eq!(reopened.get::<String>("draft").as_deref(), Some("hello"));
    assert_eq!(reopened.get_view().get("filter"), Some(&json!({"done": true})));
    assert_eq!(reopened.fetch_view().unwrap().vsn, 1);
    assert!(reopened.last_seen_at().unwrap() > 1_600_000_000_000);
    reopened.drop_keys(["draft", "unknown"]).unwrap();
    assert_eq!(Stash::open(&view, 1).unwrap().get_view_json(), r#"{"filter":{"done":true}}"#);
    reopened.reset().unwrap();
    assert_eq!(Stash::open(&view, 1).unwrap().fetch_view(), None);
}

#[wasm_bindgen_test]
fn stashes_of_one_page_see_each_others_writes_at_once_and_keep_each_others_keys() {
    let view = unique("same-page");
    let (a, b) = (Stash::open(&view, 1).unwrap(), Stash::open(&view, 1).unwrap());
    let heard = Rc::new(Cell::new(0));
    let counter = heard.clone();
    let _subscription = b.subscribe(move || counter.set(counter.get() + 1));
    a.merge([("a", 1)]).unwrap();
    assert_eq!(heard.get(), 1, "b heard a's write synchronously");
    assert_eq!(b.get::<i32>("a"), Some(1));
    b.merge([("b", 2)]).unwrap();
    a.merge([("a", 3)]).unwrap();
    assert_eq!(Stash::open(&view, 1).unwrap().get_view_json(), r#"{"a":3,"b":2}"#);
    assert_eq!(a.get_view(), b.get_view());
    // A vsn change replaces the slice wholesale.
    let v2 = Stash::open(&view, 2).unwrap();
    v2.merge([("new", true)]).unwrap();
    assert_eq!(a.get_view_json(), "{}");
    assert_eq!(a.fetch_view().unwrap().vsn, 2);
    assert_eq!(v2.get_view_json(), r#"{"new":true}"#);
}

#[wasm_bindgen_test]
fn a_storage_event_from_a_tab_that_missed_a_key_is_joined_and_the_key_written_back() {
    let view = unique("other-tab");
    let stash = Stash::open(&view, 1).unwrap();
    let heard = Rc::new(Cell::new(0));
    let counter = heard.clone();
    let _subscription = stash.subscribe(move || counter.set(counter.get() + 1));
    stash.merge([("mine", "here")]).unwrap();
    // Another tab, whose copy predates "mine", writes "theirs": its text lands in localStorage
    // (as Chromium applies other renderers' writes) and a `storage` event follows.
    let other = MemoryStorage::new();
    let mut tab = StashCore::new(other.clone(), &view, 1, "other").unwrap();
    tab.merge_json(r#"{"theirs":"there"}"#, js_sys::Date::now() as u64).unwrap();
    let theirs = other.get(&storage_key(&view)).unwrap().unwrap();
    local_storage().set_item(&storage_key(&view), &theirs).unwrap();
    let init = web_sys::StorageEventInit::new();
    init.set_key(Some(&storage_key(&view)));
    init.set_new_value(Some(&theirs));
    init.set_storage_area(Some(&local_storage()));
    let event = web_sys::StorageEvent::new_with_event_init_dict("storage", &init).unwrap();
    web_sys::window().unwrap().dispatch_event(event.unchecked_ref()).unwrap();
    assert!(heard.get() >= 2, "the listener heard the other tab");
    assert_eq!(stash.get_view_json(), r#"{"mine":"here","theirs":"there"}"#);
    assert_eq!(Stash::open(&view, 1).unwrap().get_view_json(), r#"{"mine":"here","theirs":"there"}"#, "repaired in storage");
    // `localStorage.clear()` from another tab (key null) is forgotten, not written back.
    let init = web_sys::StorageEventInit::new();
    init.set_storage_area(Some(&local_storage()));
    local_storage().remove_item(&storage_key(&view)).unwrap();
    let event = web_sys::StorageEvent::new_with_event_init_dict("storage", &init).unwrap();
    web_sys::window().unwrap().dispatch_event(event.unchecked_ref()).unwrap();
    assert_eq!(stash.get_view_json(), "{}");
    assert_eq!(stored(&view), None);
}

#[wasm_bindgen_test]
fn corrupt_json_reads_empty_refuses_writes_and_is_replaced_only_by_reset() {
    let view = unique("corrupt");
    local_storage().set_item(&storage_key(&view), "{\"oops\": ").unwrap();
    let stash = Stash::open(&view, 1).unwrap();
    assert!(stash.is_corrupt());
    assert_eq!(stash.get_view_json(), "{}");
    assert_eq!(stash.merge([("x", 1)]), Err(StashError::Corrupt));
    assert_eq!(stash.drop_keys(["x"]), Err(StashError::Corrupt));
    assert_eq!(stored(&view).as_deref(), Some("{\"oops\": "), "never overwritten silently");
    stash.reset().unwrap();
    assert!(!stash.is_corrupt());
    stash.merge([("x", 1)]).unwrap();
    assert_eq!(Stash::open(&view, 1).unwrap().get::<i32>("x"), Some(1));
}

#[wasm_bindgen_test]
fn a_full_quota_gives_quota_exceeded_and_keeps_the_old_value() {
    let view = unique("quota");
    let stash = Stash::open(&view, 1).unwrap();
    stash.merge([("small", "kept")]).unwrap();
    let before = stored(&view);
    let fillers = fill_local_storage();
    let big = "x".repeat(64 * 1024);
    let result = stash.merge([("big", big.as_str())]);
    let after = stored(&view);
    let still = stash.get_view_json();
    for filler in &fillers {
        local_storage().remove_item(filler).unwrap();
    }
    assert_eq!(result, Err(StashError::QuotaExceeded));
    assert_eq!(after, before, "the stored value is intact");
    assert_eq!(still, r#"{"small":"kept"}"#, "and so is the stash");
    stash.merge([("big", big.as_str())]).unwrap();
}

/// Fills `localStorage` until a 16 KiB value no longer fits; returns the filler keys.
fn fill_local_storage() -> Vec<String> {
    let storage = local_storage();
    let mut keys = Vec::new();
    let mut size = 1 << 20;
    while size >= 16 * 1024 {
        let chunk = "f".repeat(size);
        let key = format!("filler-{}", keys.len());
        if storage.set_item(&key, &chunk).is_ok() {
            keys.push(key);
        } else {
            size /= 2;
        }
    }
    keys
}

#[wasm_bindgen_test]
fn the_in_memory_fallback_works_within_the_page() {
    let view = unique("memory");
    let (a, b) = (Stash::in_memory(&view, 1), Stash::in_memory(&view, 1));
    assert!(!a.is_durable());
    a.merge([("k", "v")]).unwrap();
    assert_eq!(b.get::<String>("k").as_deref(), Some("v"));
    assert_eq!(stored(&view), None, "not in localStorage");
}

#[cfg(feature = "leptos")]
mod leptos_hook {
    use std::cell::RefCell;

    use leptos::prelude::*;
    use musubi_wasm::leptos::{UseStash, use_stash};

    use super::*;

    #[wasm_bindgen_test]
    fn use_stash_follows_changes_from_anywhere_and_stops_on_unmount() {
        let view = unique("leptos");
        Stash::open(&view, 1).unwrap().merge([("draft", "from before")]).unwrap();
        let slot: Rc<RefCell<Option<UseStash>>> = Rc::default();
        let sink = slot.clone();
        let hook_view = view.clone();
        let open_before = Stash::open_count();
        let mounted = leptos::mount::mount_to(document().body().unwrap(), move || {
            let stash = use_stash(&hook_view, 1);
            *sink.borrow_mut() = Some(stash);
            view! { <p data-testid="stash-probe">{move || stash.get::<String>("draft")}</p> }
        });
        let stash = slot.borrow().unwrap();
        assert!(stash.durable);
        assert_eq!(stash.get::<String>("draft").as_deref(), Some("from before"));
        assert_eq!(Stash::open_count(), open_before + 1);
        // A write elsewhere in the page shows up in the signal.
        let other = Stash::open(&view, 1).unwrap();
        other.merge([("draft", "from elsewhere")]).unwrap();
        assert_eq!(stash.data.get_untracked().get("draft"), Some(&json!("from elsewhere")));
        // The hook's own writes are stored and returned errors go to `error`.
        stash.merge([("count", 2)]).unwrap();
        assert_eq!(other.get::<i32>("count"), Some(2));
        assert!(stash.last_seen_at.get_untracked().is_some());
        assert_eq!(stash.error.get_untracked(), None);
        local_storage().set_item(&storage_key(&view), "garbage").unwrap();
        other.refresh().unwrap();
        assert!(other.is_corrupt());
        assert_eq!(stash.merge([("x", 1)]), Err(StashError::Corrupt));
        assert_eq!(stash.error.get_untracked(), Some(StashError::Corrupt));
        stash.reset().unwrap();
        assert_eq!(stash.error.get_untracked(), None);
        assert_eq!(stash.data.get_untracked(), serde_json::Map::new());
        assert_eq!(Stash::open_count(), open_before + 2);
        drop(mounted);
        assert_eq!(Stash::open_count(), open_before + 1, "the hook's stash is gone, `other` is left");
        other.merge([("after", 1)]).unwrap();
        assert_eq!(stash.data.try_get_untracked(), None, "the signal is disposed");
        assert_eq!(stash.merge([("late", 1)]).map_err(|error| error.kind()), Err("unavailable"));
    }
}
