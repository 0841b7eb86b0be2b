//! Replays wire traces recorded from the devserver in per-root mode
//! (`tests/data/traces/*.json`, written by `devserver/tests/wire_traces.rs`): the runtime must
//! write exactly the recorded client frames, in order, and end with the server's tree.

use serde_json::Value;

use super::*;

const PER_ROOT_COUNTER: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/traces/per-root-counter.json"));

/// Carries out the runtime's outputs: a connect opens at once, text frames are collected.
fn drain(rt: &mut Runtime, connection: &mut Option<ConnectionId>, written: &mut std::collections::VecDeque<String>) {
    while let Some(output) = rt.poll_output() {
        match output {
            Output::Connect { connection: id, .. } => {
                *connection = Some(id);
                rt.handle_open(id, 0);
            }
            Output::Send { message: crate::phoenix::WireMessage::Text(text), .. } => written.push_back(text),
            _ => {}
        }
    }
}

/// Replays one fixture; returns the runtime at the end.
fn replay(fixture: &str) -> (Runtime, Value) {
    let fixture: Value = serde_json::from_str(fixture).unwrap();
    let mut rt = Runtime::with_wire(SocketConfig::new("ws://127.0.0.1:1/socket"), WireMode::PerRoot);
    let mut connection = None;
    let mut written: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for (position, step) in fixture["steps"].as_array().unwrap().iter().enumerate() {
        if let Some(api) = step.get("api") {
            let topic = DEFAULT_TOPIC;
            match api["call"].as_str().unwrap() {
                "connect" => {
                    let _ = rt.connect(topic, 0);
                }
                "mount" => {
                    let spec = MountSpec {
                        module: api["module"].as_str().unwrap().into(),
                        id: api["id"].as_str().unwrap().into(),
                        params: api["params"].clone(),
                    };
                    let _ = rt.mount(topic, spec, 0);
                }
                "command" => {
                    let store_id = StoreId::from_node(&Node::from_json(&api["store_id"])).unwrap();
                    let _ = rt.command(topic, "trace", &store_id, api["name"].as_str().unwrap(), api["payload"].clone(), 0);
                }
                "unmount" => {
                    let _ = rt.unmount(topic, api["id"].as_str().unwrap(), 0);
                }
                other => panic!("unknown call {other}"),
            }
        } else if let Some(text) = step.get("c2s").and_then(Value::as_str) {
            let sent = written.pop_front().unwrap_or_else(|| panic!("step {position}: the runtime did not write {text}"));
            assert_eq!(sent, text, "step {position}: the runtime wrote another frame");
            continue;
        } else if let Some(text) = step.get("s2c").and_then(Value::as_str) {
            rt.handle_text(connection.unwrap(), text, 0);
        }
        drain(&mut rt, &mut connection, &mut written);
    }
    assert!(written.is_empty(), "the runtime wrote frames the trace does not have: {written:?}");
    (rt, fixture["server_tree"].clone())
}

#[test]
fn the_recorded_per_root_trace_replays_frame_for_frame() {
    let (rt, server_tree) = replay(PER_ROOT_COUNTER);
    assert!(server_tree.is_object());
    // The root was unmounted at the end of the trace; its last state was checked against the
    // server's tree while recording, and the fixture carries that tree.
    assert_eq!(rt.root_status(DEFAULT_TOPIC, "trace"), None);
}

#[test]
fn the_trace_ends_with_the_servers_tree() {
    // Replay without the final unmount to read the state the server had.
    let mut fixture: Value = serde_json::from_str(PER_ROOT_COUNTER).unwrap();
    let steps = fixture["steps"].as_array_mut().unwrap();
    while steps.last().is_some_and(|step| step.get("s2c").is_none()) {
        steps.pop();
    }
    let (rt, server_tree) = replay(&fixture.to_string());
    assert_eq!(rt.tree(DEFAULT_TOPIC, "trace").map(|tree| tree.to_json()), Some(server_tree));
    assert_eq!(rt.root_status(DEFAULT_TOPIC, "trace"), Some(RootStatus::Live));
}
