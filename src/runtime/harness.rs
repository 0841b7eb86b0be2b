//! A runtime driven by a fake clock against a hand-scripted server, shared by the runtime's tests.

use serde_json::{Value, json};

use crate::phoenix::WireMessage;
use crate::phoenix::frame::{Body, Frame, decode_client_binary, decode_client_text};
use crate::phoenix::{ConnectionId, Millis, Output, Payload, SocketConfig};
use crate::runtime::machine::*;
use crate::runtime::{MountSpec, RequestId, StoreId, SyncError};
use crate::test_clock::FakeClock;

pub(crate) const TOPIC: &str = DEFAULT_TOPIC;

/// Drives a runtime with a fake clock and a hand-scripted server.
pub(crate) struct Wire {
    pub(crate) rt: Runtime,
    pub(crate) now: Millis,
    pub(crate) connection: Option<ConnectionId>,
    pub(crate) sent: Vec<Frame>,
    pub(crate) events: Vec<RuntimeEvent>,
    /// The join_ref of the last join sent (kept when `sent` is cleared).
    pub(crate) join_ref: Option<String>,
}

impl FakeClock for Wire {
    type Machine = Runtime;

    fn clock_and_machine(&mut self) -> (&mut Millis, &mut Runtime) {
        (&mut self.now, &mut self.rt)
    }

    fn on_fired(&mut self) {
        self.drain();
    }
}

impl Wire {
    pub(crate) fn new() -> Self {
        Wire {
            rt: Runtime::new(SocketConfig::new("ws://h/socket")),
            now: 0,
            connection: None,
            sent: vec![],
            events: vec![],
            join_ref: None,
        }
    }

    pub(crate) fn drain(&mut self) {
        while let Some(output) = self.rt.poll_output() {
            match output {
                Output::Connect { connection, .. } => self.connection = Some(connection),
                Output::Send { message: WireMessage::Text(text), .. } => {
                    let frame = decode_client_text(&text).unwrap();
                    if frame.event == "phx_join" {
                        self.join_ref = frame.join_ref.clone();
                    }
                    self.sent.push(frame);
                }
                Output::Send { message: WireMessage::Binary(bytes), .. } => self.sent.push(decode_client_binary(&bytes).unwrap()),
                Output::Close { .. } => {}
                Output::Event(event) => self.events.push(event),
            }
        }
    }

    /// Moves the clock to `now + ms`, firing every timer on the way at its own deadline.
    pub(crate) fn advance(&mut self, ms: Millis) {
        self.advance_to(self.now + ms);
    }

    pub(crate) fn open(&mut self) {
        self.rt.handle_open(self.connection.unwrap(), self.now);
        self.drain();
    }

    pub(crate) fn drop_transport(&mut self) {
        self.rt.handle_close(self.connection.unwrap(), 1006, "", self.now);
        self.drain();
    }

    pub(crate) fn server(&mut self, frame: Value) {
        self.rt.handle_text(self.connection.unwrap(), &frame.to_string(), self.now);
        self.drain();
    }

    pub(crate) fn last(&self, event: &str) -> Frame {
        self.sent.iter().rev().find(|f| f.event == event).cloned().unwrap_or_else(|| panic!("no {event} in {:?}", self.sent))
    }

    pub(crate) fn count(&self, event: &str) -> usize {
        self.sent.iter().filter(|f| f.event == event).count()
    }

    pub(crate) fn reply(&mut self, frame: &Frame, status: &str, response: Value) {
        self.server(json!([frame.join_ref, frame.msg_ref, frame.topic, "phx_reply", {"status": status, "response": response}]));
    }

    pub(crate) fn join_ref(&self) -> Option<String> {
        self.join_ref.clone()
    }

    pub(crate) fn payload(frame: &Frame) -> Value {
        match &frame.body {
            Body::Message(Payload::Json(value)) => value.clone(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    /// Connects, opens the socket and accepts the join.
    pub(crate) fn connected() -> Self {
        let mut wire = Wire::new();
        let request = wire.rt.connect(TOPIC, 0);
        wire.drain();
        wire.open();
        let join = wire.last("phx_join");
        wire.reply(&join, "ok", json!({}));
        assert_eq!(wire.settled(request), Some(Ok(Value::Null)));
        wire
    }

    pub(crate) fn patch(&mut self, root_id: &str, base: u64, version: u64, ops: Value, stream_ops: Value) {
        let envelope = json!({"type": "patch", "root_id": root_id, "base_version": base, "version": version, "ops": ops, "stream_ops": stream_ops, "upload_ops": []});
        self.server(json!([self.join_ref(), null, TOPIC, "patch", envelope]));
    }

    pub(crate) fn initial(&mut self, root_id: &str, tree: Value) {
        self.patch(root_id, 0, 1, json!([{"op": "replace", "path": "", "value": tree}]), json!([]));
    }

    pub(crate) fn spec(root_id: &str) -> MountSpec {
        MountSpec { module: "Demo.PageStore".into(), id: root_id.into(), params: json!({"p": 1}) }
    }

    /// Pushes a mount and leaves its reply to the test.
    pub(crate) fn mount_pending(&mut self, root_id: &str) -> RequestId {
        let request = self.rt.mount(TOPIC, Wire::spec(root_id), self.now);
        self.drain();
        request
    }

    /// Opens the socket and accepts the (re)join.
    pub(crate) fn open_and_join(&mut self) {
        self.open();
        let join = self.last("phx_join");
        self.reply(&join, "ok", json!({}));
    }

    /// Mounts `root_id` with `tree` as its initial state.
    pub(crate) fn mount(&mut self, root_id: &str, tree: Value) -> RequestId {
        let request = self.mount_pending(root_id);
        let mount = self.last("mount");
        self.reply(&mount, "ok", json!({"root_id": root_id}));
        self.initial(root_id, tree);
        assert_eq!(self.settled(request), Some(Ok(Value::Null)));
        request
    }

    pub(crate) fn settled(&self, request: RequestId) -> Option<Result<Value, SyncError>> {
        let mut outcomes = self.events.iter().filter_map(|e| match e {
            RuntimeEvent::Settled { request: r, result } if *r == request => Some(result.clone()),
            _ => None,
        });
        let first = outcomes.next();
        assert!(outcomes.next().is_none(), "request {request:?} settled twice");
        first
    }

    pub(crate) fn changed(&self) -> Vec<(String, Vec<String>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                RuntimeEvent::StoresChanged { root_id, stores, .. } => {
                    Some((root_id.to_string(), stores.iter().map(|k| k.to_string()).collect()))
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn read(&mut self, root_id: &str, field: &str) -> Option<Value> {
        self.rt.read(TOPIC, root_id, &StoreId::root(), field).map(|n| n.to_json())
    }
}

pub(crate) fn page(title: &str) -> Value {
    json!({"__musubi_store_id__": [], "title": title, "counter": 1, "header": {"__musubi_store_id__": ["header"], "title": "Hi"}})
}
