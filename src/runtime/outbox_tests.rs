//! The command outbox against a scripted server: queued while the root is not live, sent in
//! dispatch order after its fresh initial envelope, bounded, ambiguous sends never repeated, and
//! every queued command settled exactly once — on both wires.

use serde_json::{Value, json};

use super::harness::{TOPIC, Wire, page};
use super::upload_harness::{Mode, Uploads};
use super::*;
use crate::test_clock::FakeClock;

fn queued() -> CommandOptions {
    CommandOptions { queue: Some(true) }
}

fn send(wire: &mut Wire, name: &str, options: CommandOptions) -> RequestId {
    let request = wire.rt.command_with(TOPIC, "page", &StoreId::root(), name, json!({"n": name}), options, wire.now);
    wire.drain();
    request
}

/// A connected runtime with `page` mounted and the outbox on.
fn with_outbox(config: OutboxConfig) -> Wire {
    let mut wire = Wire::connected();
    wire.rt.set_outbox(Some(config));
    wire.mount("page", page("v1"));
    wire
}

/// Drops the transport, reopens, rejoins and answers the remount, leaving the fresh initial
/// envelope to the test.
fn reconnect_until_remounted(wire: &mut Wire) {
    wire.drop_transport();
    wire.advance(11_000);
    wire.open_and_join();
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
}

fn commands_sent(wire: &Wire) -> Vec<String> {
    wire.sent.iter().filter(|f| f.event == "command").map(|f| Wire::payload(f)["payload"]["n"].as_str().unwrap_or("").to_owned()).collect()
}

#[test]
fn commands_wait_while_the_root_is_stale_and_go_out_in_order_after_its_initial_envelope() {
    let mut wire = with_outbox(OutboxConfig::default());
    wire.drop_transport();
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Stale));
    wire.sent.clear();
    let first = send(&mut wire, "a", CommandOptions::default());
    let second = send(&mut wire, "b", CommandOptions::default());
    assert_eq!((wire.settled(first), wire.settled(second)), (None, None), "queued, not rejected");
    assert_eq!(wire.rt.queued(TOPIC, "page", &StoreId::root()), 2);
    assert_eq!(wire.rt.roots(TOPIC)[0].queued, 2, "visible in the root's info");
    assert!(wire.events.iter().any(|event| matches!(event, RuntimeEvent::OutboxChanged { .. })));
    wire.advance(11_000);
    wire.open_and_join();
    // The channel is joined (status open) but the root still remounts: still queued.
    assert_eq!(wire.rt.connection_info().status.as_str(), "open");
    let third = send(&mut wire, "c", CommandOptions::default());
    let mount = wire.last("mount");
    wire.reply(&mount, "ok", json!({"root_id": "page"}));
    assert!(commands_sent(&wire).is_empty(), "nothing before the fresh initial envelope");
    wire.initial("page", page("v2"));
    assert_eq!(commands_sent(&wire), vec!["a", "b", "c"], "dispatch order");
    assert_eq!(wire.rt.queued(TOPIC, "page", &StoreId::root()), 0);
    for (index, request) in [first, second, third].into_iter().enumerate() {
        let frame = wire.sent.iter().filter(|f| f.event == "command").nth(index).cloned().unwrap();
        wire.reply(&frame, "ok", json!({"i": index}));
        assert_eq!(wire.settled(request), Some(Ok(json!({"i": index}))));
    }
}

#[test]
fn a_command_sent_before_the_drop_is_ambiguous_and_never_sent_again() {
    let mut wire = with_outbox(OutboxConfig::default());
    let in_flight = send(&mut wire, "sent", CommandOptions::default());
    assert_eq!(commands_sent(&wire), vec!["sent"]);
    reconnect_until_remounted(&mut wire);
    assert_eq!(wire.settled(in_flight), Some(Err(SyncError::DisconnectedInFlight)));
    assert_eq!(SyncError::DisconnectedInFlight.kind(), "disconnected_in_flight");
    wire.initial("page", page("v2"));
    assert_eq!(commands_sent(&wire), vec!["sent"], "not re-sent after the reconnect");
}

#[test]
fn the_outbox_is_bounded_by_count_and_age() {
    let mut wire = with_outbox(OutboxConfig { max_queued: 2, max_age_ms: 5_000 });
    wire.drop_transport();
    let started = wire.now;
    let a = send(&mut wire, "a", CommandOptions::default());
    wire.advance(1_000);
    let b = send(&mut wire, "b", CommandOptions::default());
    let c = send(&mut wire, "c", CommandOptions::default());
    assert_eq!(wire.settled(c), Some(Err(SyncError::OutboxFull(2))));
    assert_eq!(SyncError::OutboxFull(2).to_string(), "Outbox full: 2 commands are already waiting");
    assert!(wire.rt.poll_timeout().is_some_and(|at| at <= started + 5_000), "the oldest's expiry is a deadline");
    wire.advance_to(started + 5_000);
    assert_eq!(wire.settled(a), Some(Err(SyncError::OutboxExpired)), "expired at its own deadline");
    assert_eq!(wire.settled(b), None);
    wire.advance(1_000);
    assert_eq!(wire.settled(b), Some(Err(SyncError::OutboxExpired)));
    assert_eq!(wire.rt.queued(TOPIC, "page", &StoreId::root()), 0);

    // A lower limit set later: the newer command expires first, at its own deadline.
    let patient = send(&mut wire, "patient", CommandOptions::default());
    wire.rt.set_outbox(Some(OutboxConfig { max_queued: 2, max_age_ms: 1_000 }));
    let hasty = send(&mut wire, "hasty", CommandOptions::default());
    let queued_at = wire.now;
    assert_eq!(wire.rt.poll_timeout().map(|at| at <= queued_at + 1_000), Some(true), "the newer, shorter deadline counts");
    wire.advance_to(queued_at + 1_000);
    assert_eq!(wire.settled(hasty), Some(Err(SyncError::OutboxExpired)));
    assert_eq!(wire.settled(patient), None);
}

#[test]
fn per_call_options_override_the_connection_default() {
    let mut wire = Wire::connected();
    wire.mount("page", page("v1"));
    wire.drop_transport();
    let refused = send(&mut wire, "x", CommandOptions::default());
    assert_eq!(wire.settled(refused), Some(Err(SyncError::NotConnected)), "no outbox: refused at once, as before");
    let queued_anyway = send(&mut wire, "y", queued());
    assert_eq!(wire.settled(queued_anyway), None, "queue: true queues with the default bounds");
    wire.rt.set_outbox(Some(OutboxConfig::default()));
    let refused = send(&mut wire, "z", CommandOptions { queue: Some(false) });
    assert_eq!(wire.settled(refused), Some(Err(SyncError::NotConnected)), "queue: false refuses even with an outbox");
}

#[test]
fn unmount_disconnect_and_failure_settle_what_is_queued() {
    let mut wire = with_outbox(OutboxConfig::default());
    wire.drop_transport();
    let queued_one = send(&mut wire, "a", CommandOptions::default());
    let unmount = wire.rt.unmount(TOPIC, "page", wire.now);
    wire.drain();
    assert_eq!(wire.settled(queued_one), Some(Err(SyncError::Unmounted)));
    assert!(wire.settled(unmount).is_some());

    let mut wire = with_outbox(OutboxConfig::default());
    wire.drop_transport();
    let queued_one = send(&mut wire, "a", CommandOptions::default());
    let disconnect = wire.rt.disconnect(TOPIC, wire.now);
    wire.drain();
    assert_eq!(wire.settled(queued_one), Some(Err(SyncError::Disconnected)));
    assert!(wire.settled(disconnect).is_some());

    // The server refuses the remount: the root fails, and what waited for it with it.
    let mut wire = with_outbox(OutboxConfig::default());
    wire.drop_transport();
    let queued_one = send(&mut wire, "a", CommandOptions::default());
    wire.advance(11_000);
    wire.open_and_join();
    let mount = wire.last("mount");
    wire.reply(&mount, "error", json!({"reason": "unknown root"}));
    assert_eq!(wire.rt.root_status(TOPIC, "page"), Some(RootStatus::Failed));
    assert!(matches!(wire.settled(queued_one), Some(Err(SyncError::MountFailed(_)))));
    let after = send(&mut wire, "b", CommandOptions::default());
    assert_eq!(wire.settled(after), Some(Err(SyncError::NotConnected)), "a failed root queues nothing");
}

#[test]
fn a_command_for_a_root_still_mounting_goes_out_after_its_first_state() {
    let mut wire = Wire::connected();
    wire.rt.set_outbox(Some(OutboxConfig::default()));
    let mount = wire.mount_pending("page");
    let early = send(&mut wire, "early", CommandOptions::default());
    assert_eq!(wire.settled(early), None);
    let push = wire.last("mount");
    wire.reply(&push, "ok", json!({"root_id": "page"}));
    wire.initial("page", page("v1"));
    assert_eq!(wire.settled(mount), Some(Ok(Value::Null)));
    assert_eq!(commands_sent(&wire), vec!["early"]);
}

#[test]
fn per_root_the_queue_waits_for_the_rejoined_channels_initial_envelope() {
    let mut uploads = Uploads::new(Mode::PerRoot);
    uploads.wire.rt.set_outbox(Some(OutboxConfig::default()));
    uploads.wire.drop_transport();
    let request =
        uploads.wire.rt.command_with(TOPIC, "profile", &StoreId::root(), "save", json!({}), CommandOptions::default(), uploads.wire.now);
    uploads.wire.drain();
    assert_eq!(uploads.wire.settled(request), None);
    uploads.wire.advance(11_000);
    uploads.wire.open();
    let topic = "musubi:connection:Demo.PageStore:profile";
    let join = uploads.wire.sent.iter().rev().find(|f| f.event == "phx_join" && f.topic == topic).cloned().unwrap();
    uploads.wire.reply(&join, "ok", json!({"root_id": "Demo.PageStore:profile"}));
    assert_eq!(uploads.wire.count("command"), 0, "joined, but no fresh state yet");
    uploads.root_join = join.join_ref.clone();
    uploads.version = 0;
    uploads.envelope(json!([{"op": "replace", "path": "", "value": {"__musubi_store_id__": [], "name": "P"}}]), json!([]));
    let command = uploads.wire.last("command");
    assert_eq!((command.topic.as_str(), Wire::payload(&command)["name"].clone()), (topic, json!("save")));
    uploads.wire.reply(&command, "ok", json!({"saved": true}));
    assert_eq!(uploads.wire.settled(request), Some(Ok(json!({"saved": true}))));
}
