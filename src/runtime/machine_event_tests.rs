//! Push events (PROTOCOL.md §6/§6.1) through the runtime: delivered once, after the state they
//! came with, to the store they name; an events-only envelope advances the version; a refused
//! envelope drops its events.

use serde_json::json;

use super::harness::{TOPIC, Wire, page};
use super::*;
use crate::runtime::push_event::PushEvent;

fn delivered(wire: &Wire) -> Vec<(String, Vec<PushEvent>)> {
    wire.events
        .iter()
        .filter_map(|event| match event {
            RuntimeEvent::PushEvents { root_id, events, .. } => Some((root_id.to_string(), events.clone())),
            _ => None,
        })
        .collect()
}

fn envelope(root_id: &str, base: u64, ops: serde_json::Value, events: serde_json::Value) -> serde_json::Value {
    json!({"type": "patch", "root_id": root_id, "base_version": base, "version": base + 1, "ops": ops, "stream_ops": [], "upload_ops": [], "events": events})
}

#[test]
fn events_arrive_once_after_the_state_they_came_with() {
    let mut wire = Wire::connected();
    wire.mount("r", page("t"));
    wire.events.clear();
    let join_ref = wire.join_ref();
    let events = json!([
        {"store_id": [], "name": "toast", "payload": {"text": "saved"}},
        {"store_id": ["header"], "name": "flash", "payload": null},
    ]);
    wire.server(json!([
        join_ref,
        null,
        TOPIC,
        "patch",
        envelope("r", 1, json!([{"op": "replace", "path": "/title", "value": "new"}]), events)
    ]));
    let positions: Vec<&str> = wire
        .events
        .iter()
        .filter_map(|event| match event {
            RuntimeEvent::StoresChanged { .. } => Some("changed"),
            RuntimeEvent::PushEvents { .. } => Some("events"),
            _ => None,
        })
        .collect();
    assert_eq!(positions, ["changed", "events"], "listeners see the new state when the events arrive");
    let got = delivered(&wire);
    assert_eq!(got.len(), 1);
    let (root, events) = &got[0];
    assert_eq!(root, "r");
    assert_eq!(
        events.iter().map(|e| (e.store_id.key().to_string(), e.name.to_string())).collect::<Vec<_>>(),
        [("[]".to_owned(), "toast".to_owned()), ("[\"header\"]".to_owned(), "flash".to_owned())]
    );
    assert_eq!(events[0].payload.to_json(), json!({"text": "saved"}));
    assert_eq!(wire.read("r", "title"), Some(json!("new")));
}

#[test]
fn an_events_only_envelope_advances_the_version_and_a_refused_one_drops_its_events() {
    let mut wire = Wire::connected();
    wire.mount("r", page("t"));
    let join_ref = wire.join_ref();
    wire.events.clear();
    wire.server(json!([join_ref, null, TOPIC, "patch", envelope("r", 1, json!([]), json!([{"name": "ping"}]))]));
    assert_eq!(wire.rt.root_version(TOPIC, "r"), Some(2));
    assert_eq!(delivered(&wire).len(), 1);
    assert!(!wire.events.iter().any(|e| matches!(e, RuntimeEvent::StoresChanged { .. })), "no state changed, nobody re-renders");
    // A gap: refused, recovered, and its events never delivered (no replay).
    wire.events.clear();
    wire.server(json!([join_ref, null, TOPIC, "patch", envelope("r", 5, json!([]), json!([{"name": "lost"}]))]));
    assert!(delivered(&wire).is_empty());
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Recovering));
    // A malformed event refuses its envelope like a bad op would.
    let mut wire = Wire::connected();
    wire.mount("r", page("t"));
    let join_ref = wire.join_ref();
    wire.events.clear();
    wire.server(json!([
        join_ref,
        null,
        TOPIC,
        "patch",
        envelope("r", 1, json!([{"op": "replace", "path": "/title", "value": "x"}]), json!([{"name": 7}]))
    ]));
    assert!(delivered(&wire).is_empty());
    assert_eq!(wire.read("r", "title"), Some(json!("t")), "nothing of it was applied");
    assert_eq!(wire.rt.root_status(TOPIC, "r"), Some(RootStatus::Recovering));
}

#[test]
fn envelopes_without_events_are_accepted_as_before() {
    let mut wire = Wire::connected();
    wire.mount("r", page("t"));
    let join_ref = wire.join_ref();
    wire.events.clear();
    let mut bare = envelope("r", 1, json!([{"op": "replace", "path": "/counter", "value": 2}]), json!(null));
    bare.as_object_mut().unwrap().remove("events");
    wire.server(json!([join_ref, null, TOPIC, "patch", bare]));
    assert_eq!(wire.read("r", "counter"), Some(json!(2)));
    assert!(delivered(&wire).is_empty());
}
