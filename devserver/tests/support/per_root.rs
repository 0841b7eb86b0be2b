//! Helpers for the per-root wire mode (Musubi 0.12+): a socket on which root channels
//! `musubi:connection:<module>:<id>` are joined ([`Roots`]), each with its own join_ref.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::{Value, json};

use super::musubi::VSN;
use super::{Client, reply_frame};

/// The topic of a root channel.
pub fn root_topic(module: &str, id: &str) -> String {
    format!("musubi:connection:{module}:{id}")
}

/// The `root_id` of a root channel.
pub fn root_id(module: &str, id: &str) -> String {
    format!("{module}:{id}")
}

/// The eight keys of every envelope.
pub const ENVELOPE_KEYS: [&str; 8] = ["type", "root_id", "base_version", "version", "ops", "stream_ops", "upload_ops", "events"];

/// A socket with any number of root channels joined.
pub struct Roots {
    /// The socket.
    pub client: Client,
    next_ref: u64,
    /// Topic → the join_ref of its current join.
    join_refs: HashMap<String, String>,
}

impl Roots {
    pub async fn open(address: SocketAddr) -> Roots {
        Roots { client: Client::connect(address, VSN).await, next_ref: 1, join_refs: HashMap::new() }
    }

    fn next_ref(&mut self) -> String {
        let msg_ref = self.next_ref.to_string();
        self.next_ref += 1;
        msg_ref
    }

    /// The join_ref of `topic`'s current join.
    pub fn join_ref(&self, topic: &str) -> String {
        self.join_refs.get(topic).cloned().unwrap_or_else(|| panic!("{topic} was never joined"))
    }

    /// Sends `phx_join` on `topic` (a fresh ref is both join_ref and ref); returns the join_ref
    /// and the next frame (its reply).
    pub async fn join_raw(&mut self, topic: &str, payload: Value) -> (String, Value) {
        let join_ref = self.next_ref();
        self.join_refs.insert(topic.to_owned(), join_ref.clone());
        let reply = self.client.join(topic, &join_ref, payload).await;
        (join_ref, reply)
    }

    /// Joins the root channel of `module`/`id` with `params`; asserts the exact `ok {"root_id"}`
    /// reply and returns the initial envelope (asserted 0 → 1 with the per-root `root_id`).
    pub async fn mount(&mut self, module: &str, id: &str, params: Value) -> Value {
        let topic = root_topic(module, id);
        let (join_ref, reply) = self.join_raw(&topic, json!({"module": module, "id": id, "params": params})).await;
        assert_eq!(reply, reply_frame(json!(join_ref), &join_ref, &topic, "ok", json!({"root_id": root_id(module, id)})));
        let envelope = self.envelope(&topic).await;
        assert_eq!(
            (envelope["root_id"].clone(), envelope["base_version"].clone(), envelope["version"].clone()),
            (json!(root_id(module, id)), json!(0), json!(1))
        );
        envelope
    }

    /// Joins `topic` with `payload`; asserts the reply is `error {"reason": reason}`.
    pub async fn refused_join(&mut self, topic: &str, payload: Value, reason: &str) {
        let (join_ref, reply) = self.join_raw(topic, payload.clone()).await;
        assert_eq!(reply, reply_frame(json!(join_ref), &join_ref, topic, "error", json!({"reason": reason})), "join {topic} {payload}");
    }

    /// Sends `event` on `topic`'s current join; returns its ref.
    pub async fn push(&mut self, topic: &str, event: &str, payload: Value) -> String {
        let msg_ref = self.next_ref();
        let join_ref = self.join_ref(topic);
        self.client.send(json!([join_ref, msg_ref, topic, event, payload])).await;
        msg_ref
    }

    /// The next frame, which must be the reply to `msg_ref` on `topic`: `(status, response)`.
    pub async fn reply(&mut self, topic: &str, msg_ref: &str) -> (String, Value) {
        let frame = self.client.recv_json().await;
        assert_eq!(
            (&frame[0], &frame[1], &frame[2], &frame[3]),
            (&json!(self.join_ref(topic)), &json!(msg_ref), &json!(topic), &json!("phx_reply")),
            "{frame}"
        );
        (frame[4]["status"].as_str().unwrap().to_owned(), frame[4]["response"].clone())
    }

    /// Sends `event`; the next frame must be its reply: returns `(status, response)`.
    pub async fn request(&mut self, topic: &str, event: &str, payload: Value) -> (String, Value) {
        let msg_ref = self.push(topic, event, payload).await;
        self.reply(topic, &msg_ref).await
    }

    /// Sends `command {name, payload, store_id: []}` as clients do; returns its reply.
    pub async fn command(&mut self, topic: &str, name: &str, payload: Value) -> (String, Value) {
        self.request(topic, "command", json!({"name": name, "payload": payload, "store_id": []})).await
    }

    /// A command that must reply `ok` with `response` and then push one envelope on `topic`.
    pub async fn command_ok(&mut self, topic: &str, name: &str, payload: Value, response: Value) -> Value {
        assert_eq!(self.command(topic, name, payload).await, ("ok".to_owned(), response));
        self.envelope(topic).await
    }

    /// Sends `event`; asserts the reply is `error {"reason": reason}`.
    pub async fn refused(&mut self, topic: &str, event: &str, payload: Value, reason: &str) {
        let reply = self.request(topic, event, payload.clone()).await;
        assert_eq!(reply, ("error".to_owned(), json!({"reason": reason})), "{event} {payload}");
    }

    /// The next frame, which must be a `patch` push on `topic`; returns the envelope (asserted to
    /// have exactly the eight envelope keys).
    pub async fn envelope(&mut self, topic: &str) -> Value {
        let frame = self.client.recv_json().await;
        assert_eq!(
            (&frame[0], &frame[1], &frame[2], &frame[3]),
            (&json!(self.join_ref(topic)), &Value::Null, &json!(topic), &json!("patch")),
            "{frame}"
        );
        let envelope = frame[4].clone();
        let mut keys: Vec<&str> = envelope.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = ENVELOPE_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected, "{envelope}");
        envelope
    }

    /// Leaves `topic`: asserts `ok {}` then `phx_close`.
    pub async fn leave(&mut self, topic: &str) {
        let msg_ref = self.push(topic, "phx_leave", json!({})).await;
        assert_eq!(self.reply(topic, &msg_ref).await, ("ok".to_owned(), json!({})));
        let join_ref = self.join_ref(topic);
        assert_eq!(self.client.recv_json().await, json!([join_ref, join_ref, topic, "phx_close", {}]));
    }

    /// Asserts `topic`'s channel crashed: the next frame is its `phx_error`.
    pub async fn expect_crash(&mut self, topic: &str) {
        let join_ref = self.join_ref(topic);
        assert_eq!(self.client.recv_json().await, json!([join_ref, join_ref, topic, "phx_error", {}]));
    }
}
