//! Helpers for the `musubi:*` tests: a socket with the connection channel joined ([`Conn`]) and
//! a small client model of one root ([`Replica`]).
//!
//! Every envelope a test receives can be fed to a [`Replica`], which checks the version sequence
//! and applies the JSON ops (with the `json-patch` crate) and stream ops; comparing a replica with
//! a fresh mount of the same root proves the server's diffs were right.

use std::collections::HashMap;
use std::net::SocketAddr;

use musubi_wasm::phoenix::frame::{Body, Payload, decode_server_text};
use serde_json::{Value, json};

use super::{Client, reply_frame};

pub const VSN: &str = "vsn=2.0.0";
pub const TOPIC: &str = "musubi:connection";
pub const COUNTER: &str = "Demo.CounterStore";
pub const BOARD: &str = "Demo.BoardStore";
pub const BIG: &str = "Demo.BigStore";

/// A socket with the connection channel joined (join_ref "1").
pub struct Conn {
    /// The socket.
    pub client: Client,
    next_ref: u64,
}

impl Conn {
    pub async fn open(address: SocketAddr) -> Conn {
        let mut client = Client::connect(address, VSN).await;
        let reply = client.join(TOPIC, "1", json!({})).await;
        assert_eq!(reply, reply_frame(json!("1"), "1", TOPIC, "ok", json!({})));
        Conn { client, next_ref: 2 }
    }

    /// Sends `event` and returns its ref.
    pub async fn push(&mut self, event: &str, payload: Value) -> String {
        let msg_ref = self.next_ref.to_string();
        self.next_ref += 1;
        self.client.send(json!(["1", msg_ref, TOPIC, event, payload])).await;
        msg_ref
    }

    /// Sends `event`; the next frame must be its reply: returns `(status, response)`.
    pub async fn request(&mut self, event: &str, payload: Value) -> (String, Value) {
        let msg_ref = self.push(event, payload).await;
        self.reply(&msg_ref).await
    }

    /// The next frame, which must be the reply to `msg_ref`.
    pub async fn reply(&mut self, msg_ref: &str) -> (String, Value) {
        let frame = self.client.recv_json().await;
        assert_eq!(
            (&frame[0], &frame[1], &frame[2], &frame[3]),
            (&json!("1"), &json!(msg_ref), &json!(TOPIC), &json!("phx_reply")),
            "{frame}"
        );
        (frame[4]["status"].as_str().unwrap().to_owned(), frame[4]["response"].clone())
    }

    /// Sends `event`; asserts the reply is `error {"reason": reason}`.
    pub async fn refused(&mut self, event: &str, payload: Value, reason: &str) {
        let reply = self.request(event, payload.clone()).await;
        assert_eq!(reply, ("error".to_owned(), json!({"reason": reason})), "{event} {payload}");
    }

    /// The next frame, which must be a `patch` push; returns the envelope.
    pub async fn envelope(&mut self) -> Value {
        let frame = self.client.recv_json().await;
        assert_eq!((&frame[0], &frame[1], &frame[2], &frame[3]), (&json!("1"), &Value::Null, &json!(TOPIC), &json!("patch")), "{frame}");
        frame[4].clone()
    }

    /// The next frame, which must be a `patch` push, decoded with the client's own frame codec
    /// (which keeps a payload deeper than `serde_json` reads as text, [`Payload::Text`]).
    pub async fn envelope_text(&mut self) -> TextEnvelope {
        let frame_text = self.client.recv_text().await;
        let frame = decode_server_text(&frame_text).unwrap();
        assert_eq!(
            (frame.join_ref.as_deref(), frame.msg_ref.as_deref(), frame.topic.as_str(), frame.event.as_str()),
            (Some("1"), None, TOPIC, "patch"),
            "{frame:?}"
        );
        let (envelope, kept_as_text) = match frame.body {
            Body::Message(Payload::Json(envelope)) => (envelope.to_string(), false),
            Body::Message(Payload::Text(envelope)) => (envelope, true),
            other => panic!("expected a JSON patch payload, got {other:?}"),
        };
        TextEnvelope { frame: frame_text, envelope, kept_as_text }
    }

    /// Mounts; asserts the `ok` reply and returns the initial envelope.
    pub async fn mount(&mut self, module: &str, id: &str, params: Value) -> Value {
        let reply = self.request("mount", json!({"module": module, "id": id, "params": params})).await;
        assert_eq!(reply, ("ok".to_owned(), json!({"root_id": id})));
        let envelope = self.envelope().await;
        assert_eq!(
            (envelope["root_id"].clone(), envelope["base_version"].clone(), envelope["version"].clone()),
            (json!(id), json!(0), json!(1))
        );
        envelope
    }

    /// Sends a command; returns `(status, response)` of its reply (the next frame).
    pub async fn command(&mut self, root_id: &str, store_id: Value, name: &str, payload: Value) -> (String, Value) {
        self.request("command", json!({"root_id": root_id, "store_id": store_id, "name": name, "payload": payload})).await
    }

    /// A command that must reply `ok` with `response` and then push one envelope.
    pub async fn command_ok(&mut self, root_id: &str, store_id: Value, name: &str, payload: Value, response: Value) -> Value {
        assert_eq!(self.command(root_id, store_id, name, payload).await, ("ok".to_owned(), response));
        self.envelope().await
    }

    /// Asserts the channel crashed: the next frame is `phx_error`.
    pub async fn expect_crash(&mut self) {
        assert_eq!(self.client.recv_json().await, json!(["1", "1", TOPIC, "phx_error", {}]));
    }
}

/// A `patch` push read by [`Conn::envelope_text`].
#[derive(Debug)]
pub struct TextEnvelope {
    /// The raw text frame.
    pub frame: String,
    /// The envelope (the frame's payload) as JSON text.
    pub envelope: String,
    /// True when the codec kept the payload as text (too deep for `serde_json`).
    pub kept_as_text: bool,
}

/// A client's view of one root: the tree, the version and the materialized streams.
#[derive(Debug, Default)]
pub struct Replica {
    /// The tree.
    pub tree: Value,
    /// The version of the last accepted envelope.
    pub version: u64,
    /// (store id JSON, stream name) → items.
    pub streams: HashMap<(String, String), Vec<(String, Value)>>,
}

impl Replica {
    /// A replica that accepted `initial`.
    pub fn mounted(initial: &Value) -> Replica {
        let mut replica = Replica::default();
        replica.apply(initial);
        replica
    }

    /// Accepts an envelope: checks its sequence and shape, applies `ops` then `stream_ops`.
    pub fn apply(&mut self, envelope: &Value) {
        assert_eq!(envelope["type"], "patch");
        assert_eq!(envelope["base_version"], json!(self.version), "out of sequence: {envelope}");
        assert_eq!(envelope["version"], json!(self.version + 1));
        assert_eq!(envelope["upload_ops"], json!([]));
        for op in envelope["ops"].as_array().unwrap() {
            assert!(matches!(op["op"].as_str(), Some("add" | "remove" | "replace")), "{op}");
        }
        let patch: json_patch::Patch = serde_json::from_value(envelope["ops"].clone()).unwrap();
        json_patch::patch(&mut self.tree, &patch).unwrap_or_else(|error| panic!("{error}: {envelope}"));
        for op in envelope["stream_ops"].as_array().unwrap() {
            self.apply_stream_op(op);
        }
        self.version += 1;
    }

    /// PROTOCOL.md §2.10, client materialization.
    fn apply_stream_op(&mut self, op: &Value) {
        let key = (op["store_id"].to_string(), op["stream"].as_str().unwrap().to_owned());
        assert!(op["ref"].is_string(), "{op}");
        let list = self.streams.entry(key).or_default();
        match op["op"].as_str().unwrap() {
            "reset" => list.clear(),
            "delete" => list.retain(|(item_key, _)| *item_key != op["item_key"]),
            "insert" => {
                let item_key = op["item_key"].as_str().unwrap().to_owned();
                list.retain(|(existing, _)| *existing != item_key);
                let at = op["at"].as_i64().unwrap();
                let position = if at == -1 {
                    list.len()
                } else if at <= 0 {
                    0
                } else {
                    (at as usize).min(list.len())
                };
                list.insert(position, (item_key, op["item"].clone()));
                assert!(op.as_object().unwrap().contains_key("limit"), "{op}");
                let limit = op["limit"].as_u64().map_or(usize::MAX, |limit| limit as usize);
                if list.len() > limit && at == 0 {
                    list.truncate(limit);
                } else if list.len() > limit {
                    list.drain(..list.len() - limit);
                }
            }
            other => panic!("unknown stream op {other}"),
        }
    }

    /// The items of a root-store stream.
    pub fn stream(&self, name: &str) -> Vec<Value> {
        self.streams
            .get(&("[]".to_owned(), name.to_owned()))
            .map(|list| list.iter().map(|(_, item)| item.clone()).collect())
            .unwrap_or_default()
    }

    /// Asserts this replica holds what a fresh mount of the root gets.
    pub fn assert_same_as(&self, fresh: &Replica) {
        assert_eq!(self.tree, fresh.tree);
        let non_empty = |replica: &Replica| -> HashMap<(String, String), Vec<(String, Value)>> {
            replica.streams.iter().filter(|(_, list)| !list.is_empty()).map(|(key, list)| (key.clone(), list.clone())).collect()
        };
        assert_eq!(non_empty(self), non_empty(fresh));
    }
}

/// Mounts `id` on a fresh socket and returns that replica (the socket is closed).
pub async fn fresh_replica(address: SocketAddr, module: &str, id: &str, params: Value) -> Replica {
    let mut conn = Conn::open(address).await;
    Replica::mounted(&conn.mount(module, id, params).await)
}

pub fn reply_ok() -> (String, Value) {
    ("ok".to_owned(), json!({}))
}

/// How deep JSON text nests, read with the client's own iterative parser (a `serde_json::Value`
/// this deep would recurse on drop).
pub fn text_depth(text: &str) -> usize {
    musubi_wasm::runtime::depth::depth_of(&musubi_wasm::runtime::depth::parse_bounded(text, usize::MAX).expect("JSON text").0)
}
