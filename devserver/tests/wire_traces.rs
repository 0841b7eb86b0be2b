//! Wire traces of the real client runtime (`musubi_wasm::runtime::Runtime`, per-root wire)
//! against this devserver: a scripted session (mount, commands, a push event, a refused command,
//! unmount) whose every frame, in both directions and in order, is the fixture
//! `tests/data/traces/per-root-counter.json` that the client replays in its host tests
//! (`src/runtime/wire_trace_tests.rs`): the frames it writes must equal the recorded ones exactly.
//!
//! `MUSUBI_RECORD_TRACES=1 cargo test -p musubi-devserver --test wire_traces` rewrites the fixture;
//! without it, the test checks that the devserver and the client still produce exactly that trace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::path::PathBuf;

use musubi_wasm::phoenix::{ConnectionId, Output, SocketConfig, WireMessage};
use musubi_wasm::runtime::{MountSpec, RequestId, Runtime, RuntimeEvent, StoreId, WireMode};
use serde_json::{Value, json};
use support::Client;

const TOPIC: &str = "musubi:connection";

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/traces/per-root-counter.json")
}

/// The client runtime on a raw WebSocket, recording every step.
struct Recorder {
    rt: Runtime,
    ws: Option<Client>,
    connection: Option<ConnectionId>,
    address: std::net::SocketAddr,
    trace: Vec<Value>,
    settled: Vec<(RequestId, Result<Value, String>)>,
}

impl Recorder {
    /// Carries out the runtime's outputs: sends are recorded and written, a connect opens the socket.
    async fn flush(&mut self) {
        while let Some(output) = self.rt.poll_output() {
            match output {
                Output::Connect { connection, url, .. } => {
                    let query = url.split_once('?').map(|(_, query)| query.to_owned()).unwrap_or_default();
                    self.ws = Some(Client::connect(self.address, &query).await);
                    self.connection = Some(connection);
                    self.rt.handle_open(connection, 0);
                }
                Output::Send { message: WireMessage::Text(text), .. } => {
                    self.trace.push(json!({"c2s": text}));
                    self.ws.as_mut().unwrap().send_text(&text).await;
                }
                Output::Send { .. } | Output::Close { .. } => {}
                Output::Event(RuntimeEvent::Settled { request, result }) => {
                    self.settled.push((request, result.map_err(|error| error.to_string())));
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Receives `frames` server frames, feeding each to the runtime.
    async fn receive(&mut self, frames: usize) {
        for _ in 0..frames {
            let text = self.ws.as_mut().unwrap().recv_text().await;
            self.trace.push(json!({"s2c": text}));
            self.rt.handle_text(self.connection.unwrap(), &text, 0);
            self.flush().await;
        }
    }

    async fn call(&mut self, api: Value, run: impl FnOnce(&mut Runtime) -> RequestId) -> RequestId {
        self.trace.push(json!({"api": api}));
        let request = run(&mut self.rt);
        self.flush().await;
        request
    }

    fn outcome(&self, request: RequestId) -> Option<&Result<Value, String>> {
        self.settled.iter().find(|(r, _)| *r == request).map(|(_, outcome)| outcome)
    }
}

#[tokio::test]
async fn the_clients_per_root_trace_against_the_devserver() {
    let address = support::start(support::config()).await;
    let config = SocketConfig::new(format!("ws://{address}/socket"));
    let mut recorder = Recorder {
        rt: Runtime::with_wire(config, WireMode::PerRoot),
        ws: None,
        connection: None,
        address,
        trace: Vec::new(),
        settled: Vec::new(),
    };

    let connect = recorder.call(json!({"call": "connect"}), |rt| rt.connect(TOPIC, 0)).await;
    assert_eq!(recorder.outcome(connect), Some(&Ok(Value::Null)));
    let spec = MountSpec { module: "Demo.CounterStore".into(), id: "trace".into(), params: json!({"start": 1}) };
    let api = json!({"call": "mount", "module": "Demo.CounterStore", "id": "trace", "params": {"start": 1}});
    let mount = recorder.call(api, |rt| rt.mount(TOPIC, spec, 0)).await;
    recorder.receive(2).await; // join reply, 0→1
    assert_eq!(recorder.outcome(mount), Some(&Ok(Value::Null)));

    let api = json!({"call": "command", "store_id": [], "name": "increment", "payload": {"by": 2}});
    let increment = recorder.call(api, |rt| rt.command(TOPIC, "trace", &StoreId::root(), "increment", json!({"by": 2}), 0)).await;
    recorder.receive(2).await; // reply, patch
    assert_eq!(recorder.outcome(increment), Some(&Ok(json!({}))));

    let api = json!({"call": "command", "store_id": [], "name": "set_label", "payload": {"label": "Traced"}});
    recorder.call(api, |rt| rt.command(TOPIC, "trace", &StoreId::root(), "set_label", json!({"label": "Traced"}), 0)).await;
    recorder.receive(2).await; // reply, patch with the `toast` event

    let api = json!({"call": "command", "store_id": [], "name": "increment", "payload": {"by": "one"}});
    let refused = recorder.call(api, |rt| rt.command(TOPIC, "trace", &StoreId::root(), "increment", json!({"by": "one"}), 0)).await;
    recorder.receive(1).await; // error reply, no patch
    assert!(matches!(recorder.outcome(refused), Some(Err(message)) if message.contains("invalid payload")));

    // What the server holds now: its tree, through a second (connection-mode) client.
    let mut observer = Client::connect(address, "vsn=2.0.0").await;
    observer.send(json!(["1", "1", TOPIC, "phx_join", {}])).await;
    observer.recv_json().await;
    observer.send(json!(["1", "2", TOPIC, "mount", {"module": "Demo.CounterStore", "id": "trace", "params": {}}])).await;
    observer.recv_json().await;
    let initial = observer.recv_json().await;
    let server_tree = initial[4]["ops"][0]["value"].clone();
    assert_eq!(
        recorder.rt.tree(TOPIC, "trace").map(|tree| tree.to_json()),
        Some(server_tree.clone()),
        "the client holds the server's tree"
    );

    let unmount = recorder.call(json!({"call": "unmount", "id": "trace"}), |rt| rt.unmount(TOPIC, "trace", 0)).await;
    assert_eq!(recorder.outcome(unmount), Some(&Ok(Value::Null)));

    let fixture = json!({
        "about": "The musubi-wasm runtime (per-root wire) against musubi-devserver; recorded by devserver/tests/wire_traces.rs.",
        "steps": recorder.trace,
        "server_tree": server_tree,
    });
    let text = serde_json::to_string_pretty(&fixture).unwrap() + "\n";
    if std::env::var("MUSUBI_RECORD_TRACES").is_ok_and(|value| value == "1") {
        std::fs::create_dir_all(fixture_path().parent().unwrap()).unwrap();
        std::fs::write(fixture_path(), text).unwrap();
    } else {
        let recorded = std::fs::read_to_string(fixture_path()).expect("the fixture (record it with MUSUBI_RECORD_TRACES=1)");
        assert_eq!(serde_json::from_str::<Value>(&recorded).unwrap(), fixture, "the trace changed: re-record it if that is intended");
    }
}
