//! The per-root wire (PROTOCOL.md §6/§6.1), each bullet as a test, and auto detection: the same
//! runtime behaviour above the wire as the connection channel's.

use serde_json::{Value, json};

use super::harness::{TOPIC, Wire, page};
use super::*;
use crate::phoenix::frame::Frame;

const MODULE: &str = "Demo.PageStore";

fn root_topic(id: &str) -> String {
    format!("{TOPIC}:{MODULE}:{id}")
}

fn spec(id: &str) -> MountSpec {
    MountSpec { module: MODULE.into(), id: id.into(), params: json!({"p": 1}) }
}

impl Wire {
    fn per_root() -> Self {
        let mut wire = Wire::new();
        wire.rt = Runtime::with_wire(SocketConfig::new("ws://h/socket"), WireMode::PerRoot);
        let request = wire.rt.connect(TOPIC, 0);
        wire.drain();
        wire.open();
        assert_eq!(wire.settled(request), Some(Ok(Value::Null)), "per root, connect() settles when the socket opens");
        assert_eq!(wire.count("phx_join"), 0, "there is no connection channel to join");
        wire
    }

    /// The last frame sent on `topic` with `event`.
    fn last_on(&self, topic: &str, event: &str) -> Frame {
        self.sent.iter().rev().find(|f| f.topic == topic && f.event == event).cloned().unwrap_or_else(|| panic!("no {event} on {topic}"))
    }

    fn count_on(&self, topic: &str, event: &str) -> usize {
        self.sent.iter().filter(|f| f.topic == topic && f.event == event).count()
    }

    /// Answers the last join of the root's channel with `ok {root_id}` and sends `tree` as its 0→1.
    fn accept_join(&mut self, id: &str, tree: Value) {
        let join = self.last_on(&root_topic(id), "phx_join");
        self.reply(&join, "ok", json!({"root_id": format!("{MODULE}:{id}")}));
        self.root_patch(&join, id, 0, json!([{"op": "replace", "path": "", "value": tree}]), json!([]));
    }

    /// A patch on the root's channel (the join_ref of `join`).
    fn root_patch(&mut self, join: &Frame, id: &str, base: u64, ops: Value, events: Value) {
        let envelope = json!({"type": "patch", "root_id": format!("{MODULE}:{id}"), "base_version": base, "version": base + 1,
            "ops": ops, "stream_ops": [], "upload_ops": [], "events": events});
        self.server(json!([join.join_ref, null, root_topic(id), "patch", envelope]));
    }

    fn mount_per_root(&mut self, id: &str, tree: Value) -> RequestId {
        let request = self.rt.mount(TOPIC, spec(id), self.now);
        self.drain();
        self.accept_join(id, tree);
        assert_eq!(self.settled(request), Some(Ok(Value::Null)));
        request
    }
}

#[test]
fn join_is_mount_with_the_complete_payload_and_resolves_only_after_the_initial_envelope() {
    let mut wire = Wire::per_root();
    let request = wire.rt.mount(TOPIC, spec("r"), 0);
    wire.drain();
    let join = wire.last_on(&root_topic("r"), "phx_join");
    assert_eq!(Wire::payload(&join), json!({"module": MODULE, "id": "r", "params": {"p": 1}}));
    assert_eq!(join.join_ref, join.msg_ref);
    wire.reply(&join, "ok", json!({"root_id": "Demo.PageStore:r"}));
    assert_eq!(wire.settled(request), None, "not before the 0→1 envelope");
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Mounting));
    wire.root_patch(&join, "r", 0, json!([{"op": "replace", "path": "", "value": page("t")}]), json!([]));
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
    assert_eq!(wire.read("r", "title"), Some(json!("t")));
    assert_eq!(wire.rt.wire(), Some(WireMode::PerRoot));
}

#[test]
fn a_join_reply_naming_another_root_fails_the_mount_and_leaves() {
    let mut wire = Wire::per_root();
    let request = wire.rt.mount(TOPIC, spec("r"), 0);
    wire.drain();
    let join = wire.last_on(&root_topic("r"), "phx_join");
    wire.reply(&join, "ok", json!({"root_id": "Other:r"}));
    assert_eq!(wire.settled(request), Some(Err(SyncError::UnexpectedRootId("Other:r".into()))));
    assert_eq!(wire.count_on(&root_topic("r"), "phx_leave"), 1);
    assert_eq!(wire.rt.root_status(TOPIC, "r"), None);
}

#[test]
fn commands_go_on_the_roots_channel_with_every_field_and_no_root_id() {
    let mut wire = Wire::per_root();
    wire.mount_per_root("r", page("t"));
    let command = wire.rt.command(TOPIC, "r", &StoreId::from(["header"]), "save", Value::Null, wire.now);
    wire.drain();
    let push = wire.last_on(&root_topic("r"), "command");
    assert_eq!(Wire::payload(&push), json!({"name": "save", "payload": {}, "store_id": ["header"]}));
    let join = wire.last_on(&root_topic("r"), "phx_join");
    assert_eq!(push.join_ref, join.join_ref);
    wire.reply(&push, "ok", json!({"saved": true}));
    assert_eq!(wire.settled(command), Some(Ok(json!({"saved": true}))));
    let failing = wire.rt.command(TOPIC, "r", &StoreId::root(), "nope", json!({}), wire.now);
    wire.drain();
    let push = wire.last_on(&root_topic("r"), "command");
    wire.reply(&push, "error", json!({"reason": "unknown command"}));
    assert!(matches!(wire.settled(failing), Some(Err(SyncError::Command(c))) if c.code.as_deref() == Some("unknown command")));
}

#[test]
fn unmount_is_a_leave_and_a_later_mount_joins_afresh() {
    let mut wire = Wire::per_root();
    wire.mount_per_root("r", page("t"));
    let unmount = wire.rt.unmount(TOPIC, "r", wire.now);
    wire.drain();
    let leave = wire.last_on(&root_topic("r"), "phx_leave");
    assert_eq!(Wire::payload(&leave), json!({}));
    assert_eq!(wire.settled(unmount), Some(Ok(Value::Null)));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), None);
    wire.mount_per_root("r", page("again"));
    assert_eq!(wire.count_on(&root_topic("r"), "phx_join"), 2);
    assert_eq!(wire.read("r", "title"), Some(json!("again")));
}

#[test]
fn a_rejected_join_is_left_and_never_rejoined() {
    let mut wire = Wire::per_root();
    let request = wire.rt.mount(TOPIC, spec("r"), 0);
    wire.drain();
    let join = wire.last_on(&root_topic("r"), "phx_join");
    wire.reply(&join, "error", json!({"reason": "unknown root"}));
    assert!(matches!(wire.settled(request), Some(Err(SyncError::MountFailed(reply))) if reply == json!({"reason": "unknown root"})));
    assert_eq!(wire.count_on(&root_topic("r"), "phx_leave"), 1, "the refused channel is left");
    wire.advance(60_000);
    assert_eq!(wire.count_on(&root_topic("r"), "phx_join"), 1, "no orphan rejoin");
}

#[test]
fn a_gap_keeps_the_last_good_state_leaves_and_joins_again_then_swaps() {
    let mut wire = Wire::per_root();
    wire.mount_per_root("r", page("t"));
    wire.mount_per_root("other", page("o"));
    let join = wire.last_on(&root_topic("r"), "phx_join");
    wire.root_patch(&join, "r", 5, json!([]), json!([]));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Recovering));
    assert_eq!(wire.read("r", "title"), Some(json!("t")), "the last good state stays readable");
    assert_eq!(wire.count_on(&root_topic("r"), "phx_leave"), 1);
    let rejoin = wire.last_on(&root_topic("r"), "phx_join");
    assert_ne!(rejoin.join_ref, join.join_ref, "a fresh channel");
    assert_eq!(Wire::payload(&rejoin), json!({"module": MODULE, "id": "r", "params": {"p": 1}}), "the original payload");
    wire.accept_join("r", page("fresh"));
    assert_eq!((wire.rt.root_status(TOPIC, "r"), wire.read("r", "title")), (Some(RootStatus::Live), Some(json!("fresh"))));
    assert_eq!(wire.rt.root_status(TOPIC, "other"), Some(RootStatus::Live), "other roots are not disturbed");
    // If the re-join is refused, the root fails; the socket and the other roots carry on.
    let join = wire.last_on(&root_topic("r"), "phx_join");
    wire.root_patch(&join, "r", 7, json!([]), json!([]));
    let rejoin = wire.last_on(&root_topic("r"), "phx_join");
    wire.reply(&rejoin, "error", json!({"reason": "unknown root"}));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Failed));
    assert_eq!(wire.rt.root_status(TOPIC, "other"), Some(RootStatus::Live));
    assert!(wire.rt.socket().is_connected());
}

#[test]
fn after_a_socket_drop_every_owned_root_rejoins_and_is_stale_until_its_fresh_initial() {
    let mut wire = Wire::per_root();
    wire.mount_per_root("a", page("a"));
    wire.mount_per_root("b", page("b"));
    wire.drop_transport();
    assert_eq!((wire.rt.root_status(TOPIC, "a"), wire.rt.root_status(TOPIC, "b")), (Some(RootStatus::Stale), Some(RootStatus::Stale)));
    wire.advance(10);
    wire.open();
    assert_eq!((wire.count_on(&root_topic("a"), "phx_join"), wire.count_on(&root_topic("b"), "phx_join")), (2, 2));
    let rejoin = wire.last_on(&root_topic("a"), "phx_join");
    assert_eq!(Wire::payload(&rejoin), json!({"module": MODULE, "id": "a", "params": {"p": 1}}));
    wire.accept_join("a", page("a2"));
    assert_eq!(wire.rt.root_status(TOPIC, "a"), Some(RootStatus::Live));
    assert_eq!((wire.rt.root_status(TOPIC, "b"), wire.read("b", "title")), (Some(RootStatus::Stale), Some(json!("b"))));
    wire.accept_join("b", page("b2"));
    assert_eq!(wire.read("b", "title"), Some(json!("b2")));
}

#[test]
fn a_crashed_root_channel_affects_only_that_root() {
    let mut wire = Wire::per_root();
    wire.mount_per_root("a", page("a"));
    wire.mount_per_root("b", page("b"));
    let join = wire.last_on(&root_topic("a"), "phx_join");
    wire.server(json!([join.join_ref, join.join_ref, root_topic("a"), "phx_error", {"reason": "channel_crash"}]));
    assert_eq!(wire.rt.root_status(TOPIC, "a"), Some(RootStatus::Stale));
    assert_eq!(wire.rt.root_status(TOPIC, "b"), Some(RootStatus::Live));
    wire.advance(1_000);
    assert_eq!(wire.count_on(&root_topic("a"), "phx_join"), 2, "rejoined on the rejoin schedule");
    assert_eq!(wire.count_on(&root_topic("b"), "phx_join"), 1);
    wire.accept_join("a", page("a2"));
    assert_eq!(wire.rt.root_status(TOPIC, "a"), Some(RootStatus::Live));
}

#[test]
fn push_events_ride_the_roots_channel_and_envelopes_without_events_are_accepted() {
    let mut wire = Wire::per_root();
    wire.mount_per_root("r", page("t"));
    wire.events.clear();
    let join = wire.last_on(&root_topic("r"), "phx_join");
    wire.root_patch(&join, "r", 1, json!([]), json!([{"store_id": [], "name": "toast", "payload": {"text": "hi"}}]));
    let delivered =
        wire.events.iter().filter(|e| matches!(e, RuntimeEvent::PushEvents { events, .. } if events[0].name.as_ref() == "toast")).count();
    assert_eq!(delivered, 1);
    assert_eq!(wire.rt.root_version(TOPIC, "r"), Some(2), "an events-only envelope advances the version");
    let bare = json!({"type": "patch", "root_id": "Demo.PageStore:r", "base_version": 2, "version": 3,
        "ops": [{"op": "replace", "path": "/title", "value": "x"}], "stream_ops": []});
    wire.server(json!([join.join_ref, null, root_topic("r"), "patch", bare]));
    assert_eq!(wire.read("r", "title"), Some(json!("x")));
    // An envelope naming another root on this channel is ignored.
    let stray = json!({"type": "patch", "root_id": "r", "base_version": 3, "version": 4, "ops": [], "stream_ops": []});
    wire.server(json!([join.join_ref, null, root_topic("r"), "patch", stray]));
    assert_eq!(wire.rt.root_version(TOPIC, "r"), Some(3));
}

#[test]
fn auto_detects_a_server_without_a_connection_channel_once_and_for_good() {
    let mut wire = Wire::new();
    let connect = wire.rt.connect(TOPIC, 0);
    let mount = wire.mount_pending("r");
    wire.open();
    assert_eq!(wire.rt.wire(), None, "not decided before the first join answer");
    let join = wire.last_on(TOPIC, "phx_join");
    wire.reply(&join, "error", json!({"reason": "unmatched topic"}));
    assert_eq!(wire.rt.wire(), Some(WireMode::PerRoot));
    assert_eq!(wire.settled(connect), Some(Ok(Value::Null)));
    assert_eq!(wire.count_on(TOPIC, "phx_leave"), 1, "the connection channel is given up");
    wire.accept_join("r", page("t"));
    assert_eq!(wire.settled(mount), Some(Ok(Value::Null)));
    // Reconnects keep the decision: only the root's channel rejoins.
    wire.drop_transport();
    wire.advance(10);
    wire.open();
    assert_eq!(wire.count_on(TOPIC, "phx_join"), 1);
    assert_eq!(wire.count_on(&root_topic("r"), "phx_join"), 2);
    wire.advance(60_000);
    assert_eq!(wire.count_on(TOPIC, "phx_join"), 1, "no rejoin of the connection channel either");
}

#[test]
fn auto_speaks_the_connection_channel_when_the_server_has_one() {
    let mut wire = Wire::connected();
    assert_eq!(wire.rt.wire(), Some(WireMode::Connection));
    wire.mount("r", page("t"));
    assert_eq!(wire.count("mount"), 1);
    // Any other refusal decides nothing: found by the simulation (seed 197), where a restarting
    // per-root server first refused the join with `unauthorized`.
    let mut wire = Wire::new();
    let connect = wire.rt.connect(TOPIC, 0);
    let mount = wire.mount_pending("r");
    wire.open();
    let join = wire.last_on(TOPIC, "phx_join");
    wire.reply(&join, "error", json!({"reason": "unauthorized"}));
    assert_eq!(wire.rt.wire(), None, "still detecting");
    assert!(matches!(wire.settled(connect), Some(Err(SyncError::JoinFailed(_)))));
    assert!(matches!(wire.settled(mount), Some(Err(SyncError::JoinFailed(_)))));
    wire.advance(1_000);
    let rejoin = wire.last_on(TOPIC, "phx_join");
    wire.reply(&rejoin, "error", json!({"reason": "unmatched topic"}));
    assert_eq!(wire.rt.wire(), Some(WireMode::PerRoot), "the next answer decides");
}

#[test]
fn a_mount_before_the_socket_opens_joins_once_it_does() {
    let mut wire = Wire::new();
    wire.rt = Runtime::with_wire(SocketConfig::new("ws://h/socket"), WireMode::PerRoot);
    let request = wire.rt.mount(TOPIC, spec("early"), 0);
    wire.drain();
    assert_eq!(wire.count("phx_join"), 0, "nothing to send before the socket is open");
    wire.open();
    assert_eq!(wire.count_on(&root_topic("early"), "phx_join"), 1);
    wire.accept_join("early", page("t"));
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
}

#[test]
fn regression_a_root_whose_channel_the_server_closed_is_remounted_after_a_drop() {
    // Found by the simulation (seed 155): the server closed the root's channel, the retry fell
    // while the socket was down, and nothing ever joined the root again.
    let mut wire = Wire::per_root();
    wire.mount_per_root("r", page("t"));
    let join = wire.last_on(&root_topic("r"), "phx_join");
    wire.server(json!([join.join_ref, join.join_ref, root_topic("r"), "phx_close", {}]));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Stale));
    wire.drop_transport();
    wire.advance(5_000);
    wire.open();
    assert_eq!(wire.count_on(&root_topic("r"), "phx_join"), 2, "joined again once the socket is back");
    wire.accept_join("r", page("back"));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Live));
}

#[test]
fn regression_a_forgotten_first_mount_leaves_its_channel() {
    // Found by the simulation (seed 233): a first mount failed with the connection (the WebSocket
    // constructor threw); its root channel stayed and rejoined on the next socket: an orphan.
    let mut wire = Wire::per_root();
    let request = wire.rt.mount(TOPIC, spec("r"), 0);
    wire.drain();
    let connection = wire.connection.unwrap();
    wire.rt.handle_connect_error(connection, "SyntaxError", wire.now);
    wire.drain();
    assert!(matches!(wire.settled(request), Some(Err(SyncError::ConnectFailed(_)))));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), None);
    wire.rt.open(wire.now);
    wire.drain();
    wire.open();
    assert_eq!(wire.count_on(&root_topic("r"), "phx_join"), 1, "no rejoin of the forgotten root");
}
