//! The runtime against a scripted server (PROTOCOL §4.1 items 1–13, §4.3 27–28, recovery and
//! self-healing).

use serde_json::{Value, json};

use super::harness::{TOPIC, Wire, page};
use super::*;
use crate::phoenix::ConnectionState;
use crate::phoenix::frame::Frame;
use crate::runtime::error::CommandErrorKind;

#[test]
fn checklist_01_connect_joins_the_connection_topic_with_an_empty_payload() {
    let mut wire = Wire::new();
    let request = wire.rt.connect(TOPIC, 0);
    wire.drain();
    assert!(wire.connection.is_some(), "the socket connects");
    wire.open();
    let join = wire.last("phx_join");
    assert_eq!((join.topic.as_str(), Wire::payload(&join)), (TOPIC, json!({})));
    assert_eq!(wire.settled(request), None, "not before the join reply");
    wire.reply(&join, "ok", json!({}));
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
    let again = wire.rt.connect(TOPIC, 0);
    wire.drain();
    assert_eq!(wire.settled(again), Some(Ok(Value::Null)));
    assert_eq!(wire.count("phx_join"), 1, "one channel per topic");
}

#[test]
fn checklist_02_a_mount_needs_an_explicit_non_empty_id() {
    let mut wire = Wire::connected();
    let request = wire.rt.mount(TOPIC, MountSpec { module: "M".into(), id: "".into(), params: json!({}) }, 0);
    wire.drain();
    assert!(matches!(wire.settled(request), Some(Err(SyncError::Invalid(_)))));
    assert_eq!(wire.count("mount"), 0);
}

#[test]
fn checklist_03_mount_resolves_only_after_the_initial_envelope() {
    let mut wire = Wire::connected();
    let spec = MountSpec { module: "Demo.PageStore".into(), id: "page".into(), params: json!({"start": 5}) };
    let request = wire.rt.mount(TOPIC, spec, 0);
    wire.drain();
    let mount = wire.last("mount");
    assert_eq!(Wire::payload(&mount), json!({"module": "Demo.PageStore", "id": "page", "params": {"start": 5}}));
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    assert_eq!(wire.settled(request), None, "the ok reply alone does not resolve");
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Mounting));
    wire.initial("page", page("Inbox"));
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Live));
}

#[test]
fn checklist_04_root_fields_are_readable_after_mount() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    assert_eq!(wire.read("page", "title"), Some(json!("Inbox")));
    assert_eq!(wire.read("page", "counter"), Some(json!(1)));
    let snapshot = wire.rt.snapshot(TOPIC, "page", &StoreId::root()).unwrap().to_json();
    assert_eq!(snapshot["__musubi_store_id__"], json!([]));
}

#[test]
fn checklist_05_nested_store_resolves_to_the_identical_child() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let first = wire.rt.read(TOPIC, "page", &StoreId::root(), "header").unwrap();
    let second = wire.rt.read(TOPIC, "page", &StoreId::root(), "header").unwrap();
    assert!(first.same(&second));
    assert_eq!(first.to_json()["title"], "Hi");
    assert!(wire.rt.store_ids(TOPIC, "page").contains(&StoreId::from(["header"])));
}

#[test]
fn checklist_06_command_pushes_and_resolves_with_the_response() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let request = wire.rt.command(TOPIC, "page", &StoreId::root(), "increment", json!({"by": 2}), 0);
    wire.drain();
    let command = wire.last("command");
    assert_eq!(Wire::payload(&command), json!({"root_id": "page", "store_id": [], "name": "increment", "payload": {"by": 2}}));
    wire.reply(&command, "ok", json!({"n": 3}));
    assert_eq!(wire.settled(request), Some(Ok(json!({"n": 3}))));
}

#[test]
fn checklist_07_patches_are_routed_by_root_id() {
    let mut wire = Wire::connected();
    wire.mount("a", page("A"));
    wire.mount("b", page("B"));
    wire.events.clear();
    wire.patch("a", 1, 2, json!([{"op": "replace", "path": "/title", "value": "A2"}]), json!([]));
    assert_eq!(wire.changed(), vec![("a".to_owned(), vec!["[]".to_owned()])], "once, and only root a");
    assert_eq!(wire.read("a", "title"), Some(json!("A2")));
    assert_eq!(wire.read("b", "title"), Some(json!("B")));
    wire.patch("ghost", 1, 2, json!([]), json!([]));
    assert!(wire.events.iter().any(|e| matches!(e, RuntimeEvent::Diagnostic { message, .. } if message.contains("unknown root"))));
}

#[test]
fn checklist_08_mounting_a_mounted_id_shares_the_root_without_a_second_push() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    // The same module and params (another module under the id is refused: mistake_tests).
    let again = wire.rt.mount(TOPIC, Wire::spec("page"), 0);
    wire.drain();
    assert_eq!(wire.settled(again), Some(Ok(Value::Null)));
    assert_eq!(wire.count("mount"), 1);
    assert_eq!(wire.rt.root_owners(TOPIC, "page"), Some(2));
}

#[test]
fn concurrent_mounts_of_one_id_join_the_in_flight_mount() {
    let mut wire = Wire::connected();
    let spec = || MountSpec { module: "Demo.PageStore".into(), id: "page".into(), params: json!({}) };
    let first = wire.rt.mount(TOPIC, spec(), 0);
    let second = wire.rt.mount(TOPIC, spec(), 0);
    wire.drain();
    assert_eq!(wire.count("mount"), 1);
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    wire.initial("page", page("Inbox"));
    assert_eq!((wire.settled(first), wire.settled(second)), (Some(Ok(Value::Null)), Some(Ok(Value::Null))));
}

#[test]
fn checklist_09_only_the_last_owner_unmounts() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    wire.rt.mount(TOPIC, Wire::spec("page"), 0);
    let first = wire.rt.unmount(TOPIC, "page", 0);
    wire.drain();
    assert_eq!(wire.settled(first), Some(Ok(Value::Null)));
    assert_eq!(wire.count("unmount"), 0);
    assert_eq!(wire.read("page", "title"), Some(json!("Inbox")));
    let last = wire.rt.unmount(TOPIC, "page", 0);
    wire.drain();
    let unmount = wire.last("unmount");
    assert_eq!(Wire::payload(&unmount), json!({"root_id": "page"}));
    assert_eq!(wire.read("page", "title"), None);
    wire.reply(&unmount, "ok", json!({}));
    assert_eq!(wire.settled(last), Some(Ok(Value::Null)));
}

#[test]
fn checklist_12_after_unmount_commands_are_refused_locally() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let unmount = wire.rt.unmount(TOPIC, "page", 0);
    wire.drain();
    let frame = wire.last("unmount");
    wire.reply(&frame, "error", json!({"reason": "unknown root"}));
    assert_eq!(wire.settled(unmount), Some(Err(SyncError::UnmountFailed(json!({"reason": "unknown root"})))));
    let command = wire.rt.command(TOPIC, "page", &StoreId::root(), "x", json!({}), 0);
    wire.drain();
    let outcome = wire.settled(command);
    assert_eq!(outcome, Some(Err(SyncError::NotConnected)));
    assert_eq!(SyncError::NotConnected.to_string(), "Store is not connected");
    assert_eq!(wire.count("command"), 0);
}

#[test]
fn checklist_13_disconnect_leaves_the_channel_and_fails_pending_work() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let command = wire.rt.command(TOPIC, "page", &StoreId::root(), "slow", json!({}), 0);
    let disconnect = wire.rt.disconnect(TOPIC, 0);
    wire.drain();
    assert_eq!(wire.last("phx_leave").topic, TOPIC);
    assert_eq!(wire.settled(command), Some(Err(SyncError::Disconnected)));
    assert_eq!(wire.settled(disconnect), Some(Ok(Value::Null)));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), None);
    assert_eq!(wire.rt.pending_pushes(), 0);
}

#[test]
fn checklist_27_an_error_reply_rejects_with_a_failed_command_error() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let request = wire.rt.command(TOPIC, "page", &StoreId::root(), "nope", json!({}), 0);
    wire.drain();
    let command = wire.last("command");
    wire.reply(&command, "error", json!({"reason": "unknown command"}));
    let Some(Err(SyncError::Command(error))) = wire.settled(request) else { panic!("command error expected") };
    assert_eq!((error.kind, error.command.as_str(), error.code.as_deref()), (CommandErrorKind::Failed, "nope", Some("unknown command")));
    assert_eq!(error.store_id, StoreId::root());
}

#[test]
fn checklist_28_a_push_timeout_rejects_with_a_timeout_command_error() {
    let mut wire = Wire::connected();
    wire.mount("page", page("Inbox"));
    let request = wire.rt.command(TOPIC, "page", &StoreId::from(["header"]), "slow", json!({}), wire.now);
    wire.drain();
    wire.advance(10_000);
    let Some(Err(SyncError::Command(error))) = wire.settled(request) else { panic!("timeout expected") };
    assert_eq!((error.kind, error.command.as_str()), (CommandErrorKind::Timeout, "slow"));
    assert_eq!(error.to_string(), "Command \"slow\" timed out");
}

#[test]
fn mount_errors_and_unexpected_root_ids_reject_and_forget_the_root() {
    let mut wire = Wire::connected();
    let refused = wire.rt.mount(TOPIC, MountSpec { module: "Nope".into(), id: "a".into(), params: json!({}) }, 0);
    wire.drain();
    let mount = wire.last("mount");
    wire.reply(&mount, "error", json!({"reason": "unknown root"}));
    assert_eq!(wire.settled(refused), Some(Err(SyncError::MountFailed(json!({"reason": "unknown root"})))));
    assert_eq!(wire.rt.root_status(TOPIC, "a"), None);
    let odd = wire.rt.mount(TOPIC, MountSpec { module: "M".into(), id: "b".into(), params: json!({}) }, 0);
    wire.drain();
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "c"}));
    assert_eq!(wire.settled(odd), Some(Err(SyncError::UnexpectedRootId("c".into()))));
    let silent = wire.rt.mount(TOPIC, MountSpec { module: "M".into(), id: "d".into(), params: json!({}) }, wire.now);
    wire.drain();
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({}));
    wire.advance(10_000);
    assert_eq!(wire.settled(silent), Some(Err(SyncError::MountTimeout)), "no initial envelope in time");
}

#[test]
fn version_gap_recovers_with_unmount_and_remount_keeping_the_stale_state_readable() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    let pending = wire.rt.command(TOPIC, "page", &StoreId::root(), "work", json!({}), 0);
    wire.drain();
    wire.events.clear();
    wire.sent.clear();
    wire.patch("page", 5, 6, json!([]), json!([]));
    assert_eq!(wire.settled(pending), Some(Err(SyncError::VersionMismatch)));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Recovering));
    assert_eq!(wire.changed().len(), 1, "going stale is one change notification");
    wire.events.clear();
    let events: Vec<&str> = wire.sent.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(events, vec!["unmount", "mount"]);
    assert_eq!(wire.read("page", "title"), Some(json!("v1")), "last good state readable");
    let refused = wire.rt.command(TOPIC, "page", &StoreId::root(), "x", json!({}), 0);
    wire.drain();
    assert_eq!(wire.settled(refused), Some(Err(SyncError::NotConnected)));
    // A second gap while recovering is just dropped; a late envelope is ignored.
    wire.patch("page", 9, 10, json!([]), json!([]));
    assert_eq!(wire.count("mount"), 1);
    let (unmount, mount) = (wire.last("unmount"), wire.last("mount"));
    wire.reply(&unmount, "ok", json!({}));
    wire.patch("page", 1, 2, json!([{"op": "replace", "path": "/title", "value": "late"}]), json!([]));
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    assert!(wire.changed().is_empty(), "no notification before the swap");
    wire.initial("page", page("fresh"));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Live));
    assert_eq!(wire.read("page", "title"), Some(json!("fresh")));
    assert_eq!(wire.changed().len(), 1, "subscribers notified once at the swap");
    assert_eq!(wire.rt.pending_pushes(), 0);
}

#[test]
fn a_patch_that_cannot_apply_triggers_recovery_at_once() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    wire.sent.clear();
    wire.patch("page", 1, 2, json!([{"op": "remove", "path": "/no/such/path"}]), json!([]));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Recovering));
    assert_eq!(wire.rt.root_version(TOPIC, "page"), Some(0));
    assert_eq!(wire.count("mount"), 1);
    assert_eq!(wire.read("page", "title"), Some(json!("v1")));
}

#[test]
fn a_dropped_transport_remounts_every_owned_root_and_swaps_state_once() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    let in_flight = wire.rt.command(TOPIC, "page", &StoreId::root(), "work", json!({}), wire.now);
    wire.drain();
    wire.events.clear();
    wire.drop_transport();
    assert_eq!(wire.settled(in_flight), Some(Err(SyncError::DisconnectedInFlight)), "sent, unanswered: ambiguous, never re-sent");
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Stale));
    assert_eq!(wire.read("page", "title"), Some(json!("v1")), "stale snapshot readable during the outage");
    assert!(wire.rt.snapshot(TOPIC, "page", &StoreId::root()).is_some());
    assert!(wire.events.iter().any(|e| matches!(e, RuntimeEvent::Socket(crate::phoenix::Event::State(ConnectionState::Closed)))));
    assert_eq!(wire.changed().len(), 1, "going stale is one change notification");
    wire.events.clear();
    wire.sent.clear();
    wire.advance(10);
    wire.open();
    let join = wire.last("phx_join");
    wire.reply(&join, "ok", json!({}));
    let mount = wire.last("mount");
    assert_eq!(Wire::payload(&mount), json!({"module": "Demo.PageStore", "id": "page", "params": {"p": 1}}));
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    wire.initial("page", page("v2"));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Live));
    assert_eq!(wire.read("page", "title"), Some(json!("v2")));
    assert_eq!(wire.changed().len(), 1);
    let after = wire.rt.command(TOPIC, "page", &StoreId::root(), "work", json!({}), wire.now);
    wire.drain();
    let command = wire.last("command");
    wire.reply(&command, "ok", json!({}));
    assert_eq!(wire.settled(after), Some(Ok(json!({}))));
}

#[test]
fn a_server_channel_crash_remounts_after_the_rejoin() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    let join_ref = wire.join_ref();
    wire.sent.clear();
    wire.server(json!([join_ref, join_ref, TOPIC, "phx_error", {}]));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Stale));
    wire.advance(1_000);
    let join = wire.last("phx_join");
    wire.reply(&join, "ok", json!({}));
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    wire.initial("page", page("v2"));
    assert_eq!(wire.read("page", "title"), Some(json!("v2")));
}

#[test]
fn a_mount_during_an_outage_completes_after_reconnect() {
    let mut wire = Wire::connected();
    wire.drop_transport();
    let request = wire.rt.mount(TOPIC, MountSpec { module: "M".into(), id: "later".into(), params: json!({}) }, wire.now);
    wire.drain();
    assert_eq!(wire.count("mount"), 0);
    wire.advance(10);
    wire.open();
    let join = wire.last("phx_join");
    wire.reply(&join, "ok", json!({}));
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "later"}));
    wire.initial("later", page("x"));
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
}

#[test]
fn a_server_phx_close_reopens_the_connection_channel() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    let join_ref = wire.join_ref();
    wire.sent.clear();
    wire.server(json!([join_ref, join_ref, TOPIC, "phx_close", {}]));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Stale));
    wire.advance(1_000);
    let join = wire.last("phx_join");
    assert_ne!(join.join_ref, join_ref);
    wire.reply(&join, "ok", json!({}));
    assert_eq!(wire.count("mount"), 1);
}

// ---- regressions found by the simulation (simulation/ checks the same at scale) ----

fn root_id_of(frame: &Frame) -> Option<String> {
    let payload = Wire::payload(frame);
    payload["root_id"].as_str().or_else(|| payload["id"].as_str()).map(str::to_owned)
}

/// A remount request that fails must give its ownership back: the caller got an error and holds
/// no handle to unmount with.
#[test]
fn regression_a_failed_mount_of_a_stale_root_does_not_keep_an_owner() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    wire.drop_transport();
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Stale));
    let second = wire.mount_pending("page");
    assert_eq!(wire.rt.root_owners(TOPIC, "page"), Some(2));
    wire.advance(10);
    wire.open_and_join();
    assert_eq!(root_id_of(&wire.last("mount")).as_deref(), Some("page"), "the remount was pushed");
    wire.advance(10_000); // the server never answers the remount
    assert_eq!(wire.settled(second), Some(Err(SyncError::MountTimeout)));
    assert_eq!(wire.rt.root_owners(TOPIC, "page"), Some(1), "the failed mount must not keep an owner");
}

/// A first mount whose reply was only late is mounted on the server: giving up on it must not
/// leave the id unmountable (the runtime unmounts what it gave up on).
#[test]
fn regression_a_mount_that_timed_out_can_be_mounted_again() {
    let mut wire = Wire::connected();
    let first = wire.mount_pending("page");
    let late = wire.last("mount");
    wire.advance(10_000);
    assert_eq!(wire.settled(first), Some(Err(SyncError::MountTimeout)));
    // The server did mount it: its late reply and initial envelope arrive and are ignored.
    wire.reply(&late, "ok", json!({"root_id": "page"}));
    wire.initial("page", page("late"));
    let second = wire.mount_pending("page");
    let mount = wire.last("mount");
    // A server that still runs "page" accepts the new mount only if the client unmounted it.
    let unmounted_first = wire
        .sent
        .iter()
        .skip_while(|f| f.msg_ref != late.msg_ref)
        .take_while(|f| f.msg_ref != mount.msg_ref)
        .any(|f| f.event == "unmount" && root_id_of(f).as_deref() == Some("page"));
    if unmounted_first {
        wire.reply(&mount, "ok", json!({"root_id": "page"}));
        wire.initial("page", page("again"));
    } else {
        wire.reply(&mount, "error", json!({"reason": "root already mounted"}));
    }
    assert_eq!(wire.settled(second), Some(Ok(Value::Null)), "mounting the id again must succeed");
}

/// In-flight requests failed by a channel crash settle in the order they were made.
#[test]
fn regression_requests_failed_by_a_channel_crash_settle_in_request_order() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    let requests: Vec<RequestId> =
        (0..20).map(|n| wire.rt.command(TOPIC, "page", &StoreId::root(), "work", json!({"n": n}), wire.now)).collect();
    wire.drain();
    wire.events.clear();
    let join_ref = wire.join_ref();
    wire.server(json!([join_ref, join_ref, TOPIC, "phx_error", {}]));
    let order: Vec<RequestId> = wire
        .events
        .iter()
        .filter_map(|e| match e {
            RuntimeEvent::Settled { request, .. } => Some(*request),
            _ => None,
        })
        .collect();
    assert_eq!(order, requests);
}

/// The outcome of a mount push made for an earlier root with the same id never settles a newer
/// mount (root generations are unique across the runtime).
#[test]
fn regression_an_old_mount_push_does_not_settle_a_newer_mount_of_the_same_id() {
    let mut wire = Wire::connected();
    let first = wire.mount_pending("page");
    wire.advance(5_000);
    wire.rt.unmount(TOPIC, "page", wire.now);
    wire.drain();
    assert_eq!(wire.settled(first), Some(Err(SyncError::Unmounted)));
    let second = wire.mount_pending("page");
    wire.advance(5_000); // the first mount push times out now; the second has until t = 15 s
    assert_eq!(wire.settled(second), None, "the second mount is still in flight");
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Mounting));
}

#[test]
fn close_stops_retrying_keeps_roots_stale_and_open_remounts_with_a_fresh_attempt_count() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    // A drop, then a failed retry: the attempt count grows.
    wire.drop_transport();
    wire.advance(10);
    wire.rt.handle_close(wire.connection.unwrap(), 1006, "", wire.now);
    wire.drain();
    assert_eq!(wire.rt.socket().reconnect_attempts(), 1);
    wire.rt.close(wire.now);
    wire.drain();
    assert_eq!(wire.rt.socket().next_reconnect_at(), None, "no pending retry after close");
    assert_eq!(wire.rt.socket().reconnect_attempts(), 0);
    let before = wire.connection;
    wire.advance(120_000);
    assert_eq!(wire.connection, before, "no reconnect while closed");
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Stale));
    assert_eq!(wire.read("page", "title"), Some(json!("v1")), "last good state readable while closed");
    // A mount while closed does not open the socket either.
    wire.mount_pending("other");
    assert_eq!(wire.connection, before);
    wire.sent.clear();
    wire.rt.open(wire.now);
    wire.drain();
    assert_ne!(wire.connection, before, "open() connects at once");
    wire.open_and_join();
    let remount = wire.sent.iter().find(|f| f.event == "mount" && Wire::payload(f)["id"] == "page").cloned().unwrap();
    wire.reply(&remount, "ok", json!({"root_id": "page"}));
    wire.initial("page", page("v2"));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Live));
    assert_eq!(wire.read("page", "title"), Some(json!("v2")));
}

#[test]
fn open_while_waiting_to_retry_connects_now_with_attempts_reset() {
    let mut wire = Wire::connected();
    wire.drop_transport();
    assert!(wire.rt.socket().next_reconnect_at().is_some());
    let before = wire.connection;
    wire.rt.open(wire.now);
    wire.drain();
    assert_ne!(wire.connection, before);
    assert_eq!(wire.rt.socket().next_reconnect_at(), None, "exactly one pending retry: none while connecting");
    assert_eq!(wire.rt.socket().reconnect_attempts(), 0);
}
