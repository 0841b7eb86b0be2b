//! Helpers for the upload tests: a socket with `Demo.ProfileStore` mounted in either wire mode
//! ([`Session`]), upload sub-channels joined on the same socket, binary chunk frames, and a raw
//! HTTP client for `/_uploads/` and the upload test endpoints.

use std::collections::VecDeque;
use std::net::SocketAddr;

use musubi_wasm::phoenix::frame::{Frame, Payload, WireMessage, encode_client};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::musubi::{TOPIC, VSN};
use super::per_root::{root_id, root_topic};
use super::{Client, RECV_TIMEOUT};

pub const PROFILE: &str = "Demo.ProfileStore";

/// How the root is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `musubi:connection`, events carry `root_id`.
    Connection,
    /// `musubi:connection:<module>:<id>`, events carry no `root_id`.
    PerRoot,
}

/// A socket with one profile root mounted.
pub struct Session {
    pub client: Client,
    pub mode: Mode,
    /// The root's channel topic.
    pub topic: String,
    join_ref: String,
    /// The client's plain root id.
    pub id: String,
    /// The `root_id` envelopes carry.
    pub wire_root_id: String,
    next_ref: u64,
    /// Frames read while looking for another one.
    pending: VecDeque<Value>,
    /// The version of the last envelope read.
    pub version: u64,
}

impl Session {
    /// Connects and mounts the profile `id`; returns the session and the initial envelope.
    pub async fn open(address: SocketAddr, mode: Mode, id: &str) -> (Session, Value) {
        let client = Client::connect(address, VSN).await;
        let (topic, wire_root_id) = match mode {
            Mode::Connection => (TOPIC.to_owned(), id.to_owned()),
            Mode::PerRoot => (root_topic(PROFILE, id), root_id(PROFILE, id)),
        };
        let mut session = Session {
            client,
            mode,
            topic: topic.clone(),
            join_ref: "1".into(),
            id: id.to_owned(),
            wire_root_id: wire_root_id.clone(),
            next_ref: 2,
            pending: VecDeque::new(),
            version: 0,
        };
        match mode {
            Mode::Connection => {
                let reply = session.client.join(&topic, "1", json!({})).await;
                assert_eq!(reply[4]["status"], "ok", "{reply}");
                let reply = session.request("mount", json!({"module": PROFILE, "id": id, "params": {}})).await;
                assert_eq!(reply, ("ok".to_owned(), json!({"root_id": id})));
            }
            Mode::PerRoot => {
                let reply = session.client.join(&topic, "1", json!({"module": PROFILE, "id": id, "params": {}})).await;
                assert_eq!(reply[4], json!({"status": "ok", "response": {"root_id": wire_root_id}}), "{reply}");
            }
        }
        let initial = session.envelope().await;
        assert_eq!((initial["base_version"].clone(), initial["version"].clone()), (json!(0), json!(1)));
        (session, initial)
    }

    pub fn next_ref(&mut self) -> String {
        let msg_ref = self.next_ref.to_string();
        self.next_ref += 1;
        msg_ref
    }

    /// The payload of an event on the root's channel (`root_id` added in connection mode).
    pub fn payload(&self, mut payload: Value) -> Value {
        if self.mode == Mode::Connection
            && let Some(object) = payload.as_object_mut()
        {
            object.entry("root_id").or_insert_with(|| json!(self.id));
        }
        payload
    }

    /// Sends `event` on the root's channel; returns its ref.
    pub async fn push(&mut self, event: &str, payload: Value) -> String {
        let payload = if event == "mount" { payload } else { self.payload(payload) };
        self.push_raw(event, payload).await
    }

    /// Sends `event` with exactly `payload`; returns its ref.
    pub async fn push_raw(&mut self, event: &str, payload: Value) -> String {
        let msg_ref = self.next_ref();
        let frame = json!([self.join_ref, msg_ref, self.topic, event, payload]);
        self.client.send(frame).await;
        msg_ref
    }

    /// Sends `event`; the next frame must be its reply: `(status, response)`.
    pub async fn request(&mut self, event: &str, payload: Value) -> (String, Value) {
        let msg_ref = self.push(event, payload).await;
        let topic = self.topic.clone();
        self.reply_on(&topic, &msg_ref).await
    }

    /// Sends `event`; asserts the reply is `error {"reason": reason}`.
    pub async fn refused(&mut self, event: &str, payload: Value, reason: &str) {
        let reply = self.request(event, payload.clone()).await;
        assert_eq!(reply, ("error".to_owned(), json!({"reason": reason})), "{event} {payload}");
    }

    /// The next frame in arrival order.
    pub async fn next_frame(&mut self) -> Value {
        match self.pending.pop_front() {
            Some(frame) => frame,
            None => self.client.recv_json().await,
        }
    }

    /// The first frame (in arrival order) matching `wanted`; frames before it are kept for later.
    pub async fn find(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.pending.iter().position(&wanted) {
            return self.pending.remove(index).unwrap();
        }
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}; pending: {:?}", self.pending);
            let frame = self.client.recv_json().await;
            if wanted(&frame) {
                return frame;
            }
            self.pending.push_back(frame);
        }
    }

    /// The next frame, which must be the reply to `msg_ref` on `topic`.
    pub async fn reply_on(&mut self, topic: &str, msg_ref: &str) -> (String, Value) {
        let frame = self.next_frame().await;
        assert_eq!((&frame[1], &frame[2], &frame[3]), (&json!(msg_ref), &json!(topic), &json!("phx_reply")), "{frame}");
        (frame[4]["status"].as_str().unwrap().to_owned(), frame[4]["response"].clone())
    }

    /// The next frame, which must be an envelope of the root, in sequence.
    pub async fn envelope(&mut self) -> Value {
        let frame = self.next_frame().await;
        self.check_envelope(frame)
    }

    /// The next envelope of the root, skipping frames of other topics (kept for later).
    pub async fn find_envelope(&mut self) -> Value {
        let topic = self.topic.clone();
        let frame = self.find("an envelope", |frame| frame[2] == json!(topic) && frame[3] == "patch").await;
        self.check_envelope(frame)
    }

    /// Envelopes (in sequence, skipping other topics) until one whose `upload_ops` contain an
    /// op `op` (for `entry_ref`, if given); returns that one and the upload ops seen before it.
    pub async fn envelope_with(&mut self, op: &str, entry_ref: Option<&str>) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let envelope = self.find_envelope().await;
            let ops = envelope["upload_ops"].as_array().unwrap().clone();
            if ops.iter().any(|candidate| candidate["op"] == op && entry_ref.is_none_or(|entry_ref| candidate["ref"] == entry_ref)) {
                return (envelope, before);
            }
            before.extend(ops);
        }
    }

    /// Every frame in arrival order up to and including the first one matching `last`; the
    /// root's envelopes among them are checked to be in sequence.
    pub async fn collect_until(&mut self, what: &str, last: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        let mut frames = Vec::new();
        loop {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}; got {frames:?}");
            let frame = self.next_frame().await;
            if frame[2] == json!(self.topic) && frame[3] == "patch" {
                self.check_envelope(frame.clone());
            }
            let done = last(&frame);
            frames.push(frame);
            if done {
                return frames;
            }
        }
    }

    fn check_envelope(&mut self, frame: Value) -> Value {
        assert_eq!(
            (&frame[0], &frame[1], &frame[2], &frame[3]),
            (&json!(self.join_ref), &Value::Null, &json!(self.topic), &json!("patch")),
            "{frame}"
        );
        let envelope = frame[4].clone();
        assert_eq!(envelope["root_id"], json!(self.wire_root_id));
        assert_eq!(envelope["base_version"], json!(self.version), "out of sequence: {envelope}");
        assert_eq!(envelope["version"], json!(self.version + 1));
        self.version += 1;
        envelope
    }

    /// Preflights `upload` with `entries`; asserts `ok` and returns the response.
    pub async fn allow(&mut self, upload: &str, entries: Value) -> Value {
        let (status, response) = self.request("allow_upload", json!({"store_id": [], "name": upload, "entries": entries})).await;
        assert_eq!(status, "ok", "{response}");
        response
    }

    /// Preflights one channel-mode file; returns (entry ref, token) and consumes the `add` envelope.
    pub async fn allow_one(&mut self, upload: &str, name: &str, size: u64) -> (String, String) {
        let response =
            self.allow(upload, json!([{"client_ref": "0", "name": name, "size": size, "type": "application/octet-stream"}])).await;
        let entry = &response["entries"]["0"];
        assert_eq!(entry["type"], "channel", "{response}");
        let envelope = self.envelope().await;
        assert_eq!(envelope["upload_ops"][0]["op"], "add", "{envelope}");
        (entry["entry_ref"].as_str().unwrap().to_owned(), entry["token"].as_str().unwrap().to_owned())
    }

    /// Joins `musubi_upload:<entry_ref>` with `payload`; returns its join_ref and the reply.
    pub async fn join_upload(&mut self, entry_ref: &str, payload: Value) -> (String, (String, Value)) {
        let join_ref = self.next_ref();
        let topic = upload_topic(entry_ref);
        self.client.send(json!([join_ref, join_ref, topic, "phx_join", payload])).await;
        let reply = self.reply_on(&topic, &join_ref).await;
        (join_ref, reply)
    }

    /// Joins with `token`; asserts `ok {}`; returns the join_ref.
    pub async fn join_upload_ok(&mut self, entry_ref: &str, token: &str) -> String {
        let (join_ref, reply) = self.join_upload(entry_ref, json!({"token": token})).await;
        assert_eq!(reply, ("ok".to_owned(), json!({})));
        join_ref
    }

    /// Sends one binary `chunk` on the entry's sub-channel; returns its ref.
    pub async fn chunk(&mut self, entry_ref: &str, join_ref: &str, bytes: &[u8]) -> String {
        let msg_ref = self.next_ref();
        let frame =
            Frame::message(Some(join_ref.into()), Some(msg_ref.clone()), upload_topic(entry_ref), "chunk", Payload::Binary(bytes.to_vec()));
        let Ok(WireMessage::Binary(wire)) = encode_client(&frame) else { panic!("a chunk is a binary frame") };
        self.client.send_binary(wire).await;
        msg_ref
    }

    /// Sends a chunk; the next frame must be its reply.
    pub async fn chunk_reply(&mut self, entry_ref: &str, join_ref: &str, bytes: &[u8]) -> (String, Value) {
        let msg_ref = self.chunk(entry_ref, join_ref, bytes).await;
        self.reply_on(&upload_topic(entry_ref), &msg_ref).await
    }

    /// Asserts the next frame is `[join_ref, join_ref, musubi_upload:<ref>, event, {}]`.
    pub async fn expect_control(&mut self, entry_ref: &str, join_ref: &str, event: &str) {
        let frame = self.next_frame().await;
        assert_eq!(frame, json!([join_ref, join_ref, upload_topic(entry_ref), event, {}]));
    }

    /// Asserts nothing arrives (and nothing is pending) for `ms`.
    pub async fn expect_silence(&mut self, ms: u64) {
        assert!(self.pending.is_empty(), "unread frames: {:?}", self.pending);
        self.client.expect_silence(ms).await;
    }
}

pub fn upload_topic(entry_ref: &str) -> String {
    format!("musubi_upload:{entry_ref}")
}

/// Deterministic bytes that are not all the same.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(u32::from(seed)) as u8 ^ seed).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    /// Header lines, lower-cased.
    pub headers: String,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request with a body and extra header lines (`"Name: value\r\n"`).
pub async fn http_raw(address: SocketAddr, method: &str, path: &str, headers: &str, body: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before reading the whole body.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(RECV_TIMEOUT, stream.read_to_end(&mut raw)).await.unwrap();
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Raw { status, headers: head.to_lowercase(), body }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|window| window == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// `GET /_test/upload_sha256?ref=E`: `Some((size, sha256))`, or `None` on 404.
pub async fn stored(address: SocketAddr, entry_ref: &str) -> Option<(u64, String)> {
    let response = http_raw(address, "GET", &format!("/_test/upload_sha256?ref={entry_ref}"), "", b"").await;
    match response.status {
        404 => None,
        200 => {
            let body = response.json();
            assert_eq!(body["ref"], entry_ref);
            Some((body["size"].as_u64().unwrap(), body["sha256"].as_str().unwrap().to_owned()))
        }
        other => panic!("upload_sha256: {other}"),
    }
}

/// `GET /_test/uploads?root_id=R`.
pub async fn entries(address: SocketAddr, id: &str) -> Vec<Value> {
    let response = http_raw(address, "GET", &format!("/_test/uploads?root_id={id}"), "", b"").await;
    assert_eq!(response.status, 200);
    response.json().as_array().unwrap().clone()
}

// ---- shared by the upload test files -------------------------------------------------------

/// Runs an `async fn(Mode)` test once per wire mode.
#[allow(unused_macros)]
macro_rules! both_modes {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn connection() {
                super::$name(super::Mode::Connection).await;
            }

            #[tokio::test]
            async fn per_root() {
                super::$name(super::Mode::PerRoot).await;
            }
        }
    };
}

pub const CHUNK: usize = 64_000;

pub fn config_op(upload: &str, accept: Value, max_entries: u64, max_file_size: u64) -> Value {
    json!({"op": "config", "upload": upload, "store_id": [],
           "config": {"accept": accept, "max_entries": max_entries, "max_file_size": max_file_size, "chunk_size": 64_000}})
}

pub fn is_reply(frame: &Value, entry_ref: &str, msg_ref: &str) -> bool {
    frame[2] == json!(upload_topic(entry_ref)) && frame[3] == "phx_reply" && frame[1] == json!(msg_ref)
}

pub fn is_control(frame: &Value, entry_ref: &str, event: &str) -> bool {
    frame[2] == json!(upload_topic(entry_ref)) && frame[3] == event
}

pub fn has_op(frame: &Value, op: &str, entry_ref: &str) -> bool {
    frame[3] == "patch"
        && frame[4]["upload_ops"].as_array().unwrap().iter().any(|candidate| candidate["op"] == op && candidate["ref"] == entry_ref)
}

pub fn position(frames: &[Value], what: &str, wanted: impl Fn(&Value) -> bool) -> usize {
    frames.iter().position(wanted).unwrap_or_else(|| panic!("no {what} in {frames:?}"))
}

pub fn entry_op(op: &str, entry_ref: &str, extra: Value) -> Value {
    let mut value = json!({"op": op, "upload": "avatar", "store_id": [], "ref": entry_ref});
    for (key, field) in extra.as_object().unwrap() {
        value[key] = field.clone();
    }
    value
}

#[allow(unused_imports)]
pub(crate) use both_modes;
