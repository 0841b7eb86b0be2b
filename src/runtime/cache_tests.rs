//! Last good state across page loads: a root exported by one runtime and mounted from that text by
//! another is readable at once as `cached`, never satisfies a command, and swaps in the server's
//! state with the identity of what did not change.

use serde_json::{Value, json};

use super::harness::{TOPIC, Wire, page};
use super::*;

fn tree() -> Value {
    json!({"__musubi_store_id__": [], "title": "Inbox", "counter": 1, "log": {"__musubi_stream__": "log"},
           "header": {"__musubi_store_id__": ["header"], "title": "Hi"}})
}

/// A runtime that mounted `page` with `tree()` and a two-item stream, and its export.
fn exported() -> String {
    let mut wire = Wire::connected();
    let request = wire.mount_pending("page");
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    let inserts = json!([
        {"op": "insert", "stream": "log", "store_id": [], "item_key": "a", "at": -1, "item": {"text": "one"}, "limit": null},
        {"op": "insert", "stream": "log", "store_id": [], "item_key": "b", "at": -1, "item": {"text": "two"}, "limit": null}
    ]);
    wire.patch("page", 0, 1, json!([{"op": "replace", "path": "", "value": tree()}]), inserts);
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
    wire.rt.export_root(TOPIC, "page").unwrap()
}

fn cached_mount(wire: &mut Wire, text: &str) -> RequestId {
    let request = wire.rt.mount_cached(TOPIC, Wire::spec("page"), text, wire.now);
    wire.drain();
    request
}

#[test]
fn an_exported_root_mounts_from_cache_at_once_readable_as_cached() {
    let text = exported();
    let mut wire = Wire::new();
    let request = cached_mount(&mut wire, &text);
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)), "settles at once, before any server answer");
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Cached));
    assert!(RootStatus::Cached.is_stale());
    let snapshot = wire.rt.snapshot(TOPIC, "page", &StoreId::root()).unwrap().to_json();
    assert_eq!(snapshot["title"], "Inbox");
    assert_eq!(snapshot["log"], json!([{"text": "one"}, {"text": "two"}]), "streams come back too");
    assert_eq!(wire.rt.snapshot(TOPIC, "page", &StoreId::from(["header"])).unwrap().to_json()["title"], "Hi");
    // Cached state never satisfies a command.
    let command = wire.rt.command(TOPIC, "page", &StoreId::root(), "save", json!({}), wire.now);
    wire.drain();
    assert_eq!(wire.settled(command), Some(Err(SyncError::NotConnected)));
}

#[test]
fn the_servers_initial_envelope_swaps_in_keeping_the_identity_of_what_did_not_change() {
    let text = exported();
    let mut wire = Wire::new();
    wire.rt.set_outbox(Some(OutboxConfig::default()));
    cached_mount(&mut wire, &text);
    let header = wire.rt.snapshot(TOPIC, "page", &StoreId::from(["header"])).unwrap();
    let waiting = wire.rt.command(TOPIC, "page", &StoreId::root(), "save", json!({}), wire.now);
    wire.drain();
    assert_eq!(wire.settled(waiting), None, "with the outbox, it waits for the real state");
    wire.open_and_join();
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Cached), "still cached until the 0→1");
    let mut fresh = tree();
    fresh["title"] = json!("Inbox (3)");
    let inserts =
        json!([{"op": "insert", "stream": "log", "store_id": [], "item_key": "a", "at": -1, "item": {"text": "one"}, "limit": null}]);
    wire.patch("page", 0, 1, json!([{"op": "replace", "path": "", "value": fresh}]), inserts);
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Live));
    assert_eq!(wire.read("page", "title"), Some(json!("Inbox (3)")));
    assert!(wire.rt.snapshot(TOPIC, "page", &StoreId::from(["header"])).unwrap().same(&header), "an unchanged store keeps its snapshot");
    assert_eq!(wire.rt.snapshot(TOPIC, "page", &StoreId::root()).unwrap().to_json()["log"], json!([{"text": "one"}]));
    assert_eq!(wire.last("command").event, "command", "the queued command went out once live");
}

#[test]
fn a_cached_root_stays_cached_through_an_outage_and_a_refusal_keeps_it_readable() {
    let text = exported();
    let mut wire = Wire::new();
    cached_mount(&mut wire, &text);
    wire.open();
    wire.drop_transport();
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Cached));
    wire.advance(11_000);
    wire.open_and_join();
    let mount = wire.last("mount");
    wire.reply(&mount, "error", json!({"reason": "unknown root"}));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Failed));
    assert_eq!(wire.read("page", "title"), Some(json!("Inbox")), "the last good state stays readable");
}

#[test]
fn bad_cache_texts_or_a_mounted_root_make_it_a_plain_mount() {
    let (open, close) = ("[".repeat(1_100), "]".repeat(1_100));
    let deep = format!(
        r#"{{"type":"patch","root_id":"page","base_version":0,"version":1,"ops":[{{"op":"replace","path":"","value":{open}1{close}}}],"stream_ops":[],"upload_ops":[]}}"#
    );
    let not_initial = r#"{"type":"patch","root_id":"page","base_version":3,"version":4,"ops":[],"stream_ops":[],"upload_ops":[]}"#;
    for text in ["", "{", "null", r#"{"type":"patch"}"#, not_initial, deep.as_str()] {
        let mut wire = Wire::new();
        let request = cached_mount(&mut wire, text);
        assert_eq!(wire.settled(request), None, "{:.40}: waits for the server like any mount", text);
        assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Mounting));
    }
    let mut wire = Wire::connected();
    wire.mount("page", page("live"));
    let again = cached_mount(&mut wire, &exported());
    assert_eq!(wire.settled(again), Some(Ok(Value::Null)), "an extra owner of a live root");
    assert_eq!(wire.read("page", "title"), Some(json!("live")), "the live state is not replaced by a cache");
}

#[test]
fn an_export_is_an_initial_envelope_with_every_stream_item() {
    let text = exported();
    let envelope: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((envelope["base_version"].clone(), envelope["version"].clone()), (json!(0), json!(1)));
    assert_eq!(envelope["ops"][0]["value"], tree());
    assert_eq!(envelope["stream_ops"].as_array().map(Vec::len), Some(2));
    assert_eq!(Wire::new().rt.export_root(TOPIC, "page"), None, "nothing to export without state");
}
