//! The runtime as a hostile server and a bad network would try it: joins that are never answered,
//! states deeper than the client holds, remounts that time out or are refused, sockets that cannot
//! be opened or died silently — none of them may kill or wedge a root, and the status says so.

use serde_json::{Value, json};

use super::harness::{TOPIC, Wire, page};
use super::*;
use crate::phoenix::{SocketOptions, WireMessage};
use crate::runtime::depth::MAX_DEPTH;
use crate::runtime::status::ConnectionStatus;

/// A root tree whose `deep` field holds a chain: `levels` levels in all, as JSON text.
fn deep_tree(levels: usize) -> String {
    let chain = format!("{}{{\"leaf\":true}}{}", "{\"next\":".repeat(levels - 2), "}".repeat(levels - 2));
    format!(r#"{{"__musubi_store_id__":[],"title":"deep","deep":{chain}}}"#)
}

impl Wire {
    /// Sends an initial envelope for `root_id` with `tree` (JSON text, of any depth).
    fn initial_text(&mut self, root_id: &str, tree: &str) {
        let join_ref = self.join_ref().unwrap_or_default();
        let frame = format!(
            r#"["{join_ref}",null,"{TOPIC}","patch",{{"type":"patch","root_id":"{root_id}","base_version":0,"version":1,"ops":[{{"op":"replace","path":"","value":{tree}}}],"stream_ops":[],"upload_ops":[]}}]"#
        );
        self.rt.handle_text(self.connection.unwrap(), &frame, self.now);
        self.drain();
    }

    fn status(&self) -> ConnectionStatus {
        self.rt.connection_info().status
    }

    fn root_info(&self, root_id: &str) -> Option<RootInfo> {
        self.rt.roots(TOPIC).into_iter().find(|root| &*root.id == root_id)
    }

    /// Drops the transport, reconnects and accepts the rejoin; returns the remount push.
    fn drop_and_rejoin(&mut self) -> crate::phoenix::Frame {
        self.drop_transport();
        self.advance(10);
        self.open_and_join();
        self.last("mount")
    }
}

#[test]
fn a_join_that_is_never_answered_is_retried_until_joined() {
    let mut wire = Wire::new();
    let request = wire.rt.connect(TOPIC, 0);
    wire.drain();
    wire.open();
    assert_eq!(wire.count("phx_join"), 1);
    assert_eq!(wire.status(), ConnectionStatus::Connecting, "an open socket without a joined channel is not open");
    wire.advance(10_000 + 1_000);
    assert_eq!(wire.count("phx_join"), 2, "the join timed out and was sent again on the rejoin schedule");
    assert_eq!(wire.settled(request), None, "connect() keeps waiting");
    assert!(wire.rt.connection_info().reason.contains("join timed out"), "{:?}", wire.rt.connection_info());
    let join = wire.last("phx_join");
    wire.reply(&join, "ok", json!({}));
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
    assert_eq!(wire.status(), ConnectionStatus::Open);
}

#[test]
fn a_first_mount_whose_initial_state_is_too_deep_rejects_with_the_reason() {
    let mut wire = Wire::connected();
    let request = wire.mount_pending("r");
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "r"}));
    wire.initial_text("r", &deep_tree(MAX_DEPTH * 5));
    let outcome = wire.settled(request);
    assert_eq!(outcome, Some(Err(SyncError::TooDeep("the root's state"))));
    assert!(outcome.unwrap().unwrap_err().to_string().contains("deeper than 1000 levels"));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), None, "nobody owns it any more");
    assert_eq!(wire.last("unmount").body, crate::phoenix::Body::Message(Payload::Json(json!({"root_id": "r"}))));
}

#[test]
fn a_state_at_the_limit_mounts() {
    let mut wire = Wire::connected();
    let request = wire.mount_pending("r");
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "r"}));
    wire.initial_text("r", &deep_tree(MAX_DEPTH));
    assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Live));
}

#[test]
fn a_remount_whose_state_is_too_deep_fails_the_root_visibly_and_a_new_mount_retries() {
    let mut wire = Wire::connected();
    wire.mount("r", page("before"));
    let remount = wire.drop_and_rejoin();
    wire.reply(&remount, "ok", json!({"root_id": "r"}));
    let unmounts = wire.count("unmount");
    wire.initial_text("r", &deep_tree(MAX_DEPTH + 1));
    let info = wire.root_info("r").unwrap();
    assert_eq!((info.status, info.owners), (RootStatus::Failed, 1));
    assert!(info.reason.as_deref().is_some_and(|reason| reason.contains("deeper than")), "{info:?}");
    assert_eq!(wire.count("unmount"), unmounts + 1, "the server is told to drop the root");
    assert_eq!(wire.read("r", "title"), Some(json!("before")), "the last good state stays readable");
    let command = wire.rt.command(TOPIC, "r", &StoreId::root(), "x", json!({}), wire.now);
    wire.drain();
    assert_eq!(wire.settled(command), Some(Err(SyncError::NotConnected)));
    // Nothing retries a failed root by itself, across reconnects too…
    let mounts = wire.count("mount");
    wire.advance(60_000);
    wire.drop_transport();
    wire.advance(10);
    wire.open_and_join();
    assert_eq!(wire.count("mount"), mounts);
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Failed));
    // …but mounting it again does.
    let again = wire.mount_pending("r");
    assert_eq!(wire.count("mount"), mounts + 1);
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Stale));
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "r"}));
    wire.initial("r", page("after"));
    assert_eq!(wire.settled(again), Some(Ok(Value::Null)));
    assert_eq!(wire.root_info("r").map(|info| (info.status, info.owners, info.reason)), Some((RootStatus::Live, 2, None)));
}

#[test]
fn a_patch_past_the_limit_is_refused_and_recovered() {
    let mut wire = Wire::connected();
    wire.mount("r", json!({"__musubi_store_id__": [], "title": "t"}));
    let mounts = wire.count("mount");
    let deep = crate::runtime::depth::parse_bounded(&deep_tree(MAX_DEPTH), usize::MAX).unwrap().0.to_json_text();
    let frame = format!(
        r#"["{}",null,"{TOPIC}","patch",{{"type":"patch","root_id":"r","base_version":1,"version":2,"ops":[{{"op":"add","path":"/more","value":{deep}}}],"stream_ops":[]}}]"#,
        wire.join_ref().unwrap()
    );
    wire.rt.handle_text(wire.connection.unwrap(), &frame, wire.now);
    wire.drain();
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Recovering));
    assert_eq!(wire.read("r", "title"), Some(json!("t")), "nothing of it was applied");
    assert_eq!(wire.read("r", "more"), None);
    assert_eq!(wire.count("mount"), mounts + 1, "unmount + mount, as for any envelope that cannot apply");
}

#[test]
fn a_remount_that_times_out_is_retried_with_backoff_while_owners_remain() {
    let mut wire = Wire::connected();
    wire.mount("r", page("t"));
    let remount = wire.drop_and_rejoin();
    let mounts = wire.count("mount");
    wire.advance(10_000);
    let info = wire.root_info("r").unwrap();
    assert_eq!((info.status, info.owners, info.attempt), (RootStatus::Stale, 1, 1), "kept, stale, with its attempt");
    let retry_at = info.next_retry_at.unwrap();
    assert!(retry_at > wire.now && retry_at <= wire.now + 1_000, "the rejoin schedule's first step: {retry_at}");
    assert_eq!(info.reason.as_deref(), Some("Root mount timed out"));
    wire.advance(retry_at - wire.now);
    assert_eq!(wire.count("mount"), mounts + 1, "mounted again at its own deadline");
    assert_ne!(wire.last("mount").msg_ref, remount.msg_ref);
    // A second timeout waits longer (2 s).
    wire.advance(10_000);
    let info = wire.root_info("r").unwrap();
    assert_eq!(info.attempt, 2);
    assert!(info.next_retry_at.unwrap() > wire.now + 1_000);
    wire.advance(info.next_retry_at.unwrap() - wire.now);
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "r"}));
    wire.initial("r", page("fresh"));
    let info = wire.root_info("r").unwrap();
    assert_eq!((info.status, info.attempt, info.next_retry_at, info.reason), (RootStatus::Live, 0, None, None));
}

#[test]
fn a_refused_remount_fails_the_root_with_the_servers_reason() {
    let mut wire = Wire::connected();
    wire.mount("r", page("t"));
    let remount = wire.drop_and_rejoin();
    wire.reply(&remount, "error", json!({"reason": "unknown root"}));
    let info = wire.root_info("r").unwrap();
    assert_eq!(info.status, RootStatus::Failed);
    assert!(info.reason.as_deref().is_some_and(|reason| reason.contains("unknown root")), "{info:?}");
    assert_eq!(info.next_retry_at, None, "terminal: nothing is scheduled");
    assert_eq!(wire.read("r", "title"), Some(json!("t")));
}

#[test]
fn a_token_that_cannot_be_sent_closes_with_what_to_change_and_never_opens_a_socket() {
    let config = SocketConfig::with_options("ws://h/socket", SocketOptions::default().with_auth_token("???"));
    let mut wire = Wire::new();
    wire.rt = Runtime::new(config);
    let request = wire.rt.connect(TOPIC, 0);
    wire.drain();
    assert_eq!(wire.connection, None, "no WebSocket was created");
    let Some(Err(SyncError::ConnectFailed(message))) = wire.settled(request) else { panic!("{:?}", wire.events) };
    assert!(message.contains("'/'"), "{message}");
    let info = wire.rt.connection_info().clone();
    assert_eq!((info.status, info.next_retry_at), (ConnectionStatus::Closed, None));
    assert_eq!(info.reason, message);
    wire.advance(60_000);
    assert_eq!(wire.connection, None, "nothing is retried");
}

#[test]
fn a_websocket_constructor_that_throws_stops_retrying_and_rejects_waiters() {
    let mut wire = Wire::new();
    let request = wire.rt.connect(TOPIC, 0);
    let mount = wire.mount_pending("r");
    wire.drain();
    let connection = wire.connection.unwrap();
    wire.rt.handle_connect_error(connection, "SyntaxError: bad subprotocol", wire.now);
    wire.drain();
    assert!(matches!(wire.settled(request), Some(Err(SyncError::ConnectFailed(m))) if m.contains("bad subprotocol")));
    assert!(matches!(wire.settled(mount), Some(Err(SyncError::ConnectFailed(_)))));
    assert_eq!(wire.status(), ConnectionStatus::Closed);
    wire.connection = None;
    wire.advance(60_000);
    assert_eq!(wire.connection, None, "no retry");
    // The application can try again (e.g. with another token).
    wire.rt.open(wire.now);
    wire.drain();
    assert!(wire.connection.is_some());
    assert_eq!(wire.status(), ConnectionStatus::Connecting);
}

#[test]
fn status_is_open_only_while_the_channel_is_joined() {
    let mut wire = Wire::connected();
    assert_eq!(wire.status(), ConnectionStatus::Open);
    let join_ref = wire.join_ref();
    wire.server(json!([join_ref, join_ref, TOPIC, "phx_error", {}]));
    assert_eq!(wire.status(), ConnectionStatus::Reconnecting, "the socket is open but the channel is gone");
    assert!(wire.rt.connection_info().reason.contains("crashed"));
    wire.advance(1_000);
    let join = wire.last("phx_join");
    wire.reply(&join, "ok", json!({}));
    assert_eq!(wire.status(), ConnectionStatus::Open);
    wire.drop_transport();
    let info = wire.rt.connection_info().clone();
    assert_eq!((info.status, info.attempt, info.reason.as_str()), (ConnectionStatus::Reconnecting, 1, "connection lost (code 1006)"));
    let changes: Vec<(ConnectionStatus, ConnectionStatus)> = wire
        .events
        .iter()
        .filter_map(|event| match event {
            RuntimeEvent::Connection { from, info } if *from != info.status => Some((*from, info.status)),
            _ => None,
        })
        .collect();
    use ConnectionStatus::*;
    assert_eq!(changes, vec![(Connecting, Open), (Open, Reconnecting), (Reconnecting, Open), (Open, Reconnecting)]);
}

#[test]
fn waking_up_probes_an_open_socket_once_and_replaces_a_dead_one() {
    let mut wire = Wire::connected();
    wire.mount("r", page("t"));
    wire.sent.clear();
    wire.rt.wake(wire.now);
    wire.drain();
    assert_eq!(wire.count("heartbeat"), 1, "probed at once");
    wire.advance(500);
    wire.rt.wake(wire.now);
    wire.drain();
    assert_eq!(wire.count("heartbeat"), 1, "no second probe while one is in flight");
    let dead = wire.connection;
    wire.advance(1_500);
    assert_eq!(wire.status(), ConnectionStatus::Reconnecting, "no answer in 2 s: the socket is taken for dead");
    assert!(wire.rt.connection_info().reason.contains("heartbeat"));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Stale));
    wire.advance(10);
    assert_ne!(wire.connection, dead, "a new socket");
    let mount = {
        wire.open_and_join();
        wire.last("mount")
    };
    wire.reply(&mount, "ok", json!({"root_id": "r"}));
    wire.initial("r", page("t"));
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Live));
}

#[test]
fn a_probe_that_is_answered_keeps_the_socket() {
    let mut wire = Wire::connected();
    wire.sent.clear();
    wire.rt.wake(wire.now);
    wire.drain();
    let heartbeat = wire.last("heartbeat");
    wire.server(json!([null, heartbeat.msg_ref, "phoenix", "phx_reply", {"status": "ok", "response": {}}]));
    let socket = wire.connection;
    wire.advance(5_000);
    assert_eq!((wire.connection, wire.status()), (socket, ConnectionStatus::Open));
    assert!(wire.events.iter().all(|event| !matches!(event, RuntimeEvent::Socket(crate::phoenix::Event::TransportClosed { .. }))));
    let _ = WireMessage::Text(String::new());
}
