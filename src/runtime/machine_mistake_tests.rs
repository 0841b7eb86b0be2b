//! An application's mistakes fail loudly: a root id reused for another module or other params is
//! refused (naming both) instead of silently sharing the first root, and a store id the root does
//! not have is reported as such.

use serde_json::json;

use super::harness::{TOPIC, Wire, page};
use super::*;

fn owners(wire: &Wire) -> Option<u32> {
    wire.rt.roots(TOPIC).into_iter().find(|info| &*info.id == "page").map(|info| info.owners)
}

#[test]
fn another_module_under_a_mounted_id_is_refused_naming_both() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let other = MountSpec { module: "Demo.BoardStore".into(), id: "page".into(), params: json!({"p": 1}) };
    let request = wire.rt.mount(TOPIC, other, 0);
    wire.drain();
    let Some(Err(error)) = wire.settled(request) else { panic!("the second mount is refused") };
    assert_eq!(error.kind(), "id_in_use");
    let message = error.to_string();
    assert!(message.contains("Demo.PageStore") && message.contains("Demo.BoardStore") && message.contains("\"page\""), "{message}");
    assert_eq!(owners(&wire), Some(1), "the first root keeps its one owner");
    assert_eq!(wire.count("mount"), 1, "nothing is pushed for the refused mount");
}

#[test]
fn the_same_module_with_other_params_is_refused_and_the_same_spec_shares() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let other = MountSpec { module: "Demo.PageStore".into(), id: "page".into(), params: json!({"p": 2}) };
    let request = wire.rt.mount(TOPIC, other, 0);
    wire.drain();
    let Some(Err(SyncError::IdInUse { mounted, requested, .. })) = wire.settled(request) else { panic!("refused") };
    assert_eq!((mounted.as_str(), requested.as_str()), ("Demo.PageStore with params {\"p\":1}", "Demo.PageStore with params {\"p\":2}"));
    let same = wire.rt.mount(TOPIC, Wire::spec("page"), 0);
    wire.drain();
    assert_eq!(wire.settled(same), Some(Ok(serde_json::Value::Null)), "the same module and params share the root");
    assert_eq!(owners(&wire), Some(2));
}

#[test]
fn a_pending_root_refuses_a_conflicting_mount_too() {
    let mut wire = Wire::connected();
    let first = wire.mount_pending("page");
    let other = MountSpec { module: "Other".into(), id: "page".into(), params: json!({}) };
    let request = wire.rt.mount(TOPIC, other, 0);
    wire.drain();
    assert!(matches!(wire.settled(request), Some(Err(SyncError::IdInUse { .. }))));
    assert_eq!(wire.settled(first), None, "the first mount still waits for its state");
}

#[test]
fn has_store_tells_known_unknown_and_not_yet() {
    let mut wire = Wire::connected();
    wire.mount_pending("page");
    assert_eq!(wire.rt.has_store(TOPIC, "page", &StoreId::root()), None, "no state yet");
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    wire.initial("page", page("Inbox"));
    assert_eq!(wire.rt.has_store(TOPIC, "page", &StoreId::root()), Some(true));
    assert_eq!(wire.rt.has_store(TOPIC, "page", &StoreId::from(["header"])), Some(true));
    assert_eq!(wire.rt.has_store(TOPIC, "page", &StoreId::from(["nope"])), Some(false));
    assert_eq!(wire.rt.has_store(TOPIC, "elsewhere", &StoreId::root()), None);
    let error = SyncError::UnknownStore { root_id: "page".into(), store_id: "[\"nope\"]".into() };
    assert_eq!((error.kind(), error.to_string().as_str()), ("unknown_store", "root \"page\" has no store [\"nope\"]"));
}
