//! Phoenix Channels serializer V2: text frames `[join_ref, ref, topic, event, payload]` and the
//! binary push / reply / broadcast layouts (PROTOCOL.md §1.3–§1.4).
//!
//! The codec works in both directions so the devserver can share it: a client encodes with
//! [`encode_client`] and decodes with [`decode_server_text`] / [`decode_server_binary`]; a server
//! uses [`encode_server`] and [`decode_client_text`] / [`decode_client_binary`].
//!
//! ```
//! use musubi_wasm::phoenix::frame::{decode_server_text, Body};
//! let frame = decode_server_text(r#"["1","2","room:1","phx_reply",{"status":"ok","response":{}}]"#)?;
//! assert!(matches!(frame.body, Body::Reply(ref reply) if reply.is_ok()));
//! # Ok::<(), musubi_wasm::phoenix::frame::FrameError>(())
//! ```

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The event name Phoenix uses for replies.
pub const PHX_REPLY: &str = "phx_reply";
/// Join request.
pub const PHX_JOIN: &str = "phx_join";
/// Leave request.
pub const PHX_LEAVE: &str = "phx_leave";
/// The server closed the channel gracefully.
pub const PHX_CLOSE: &str = "phx_close";
/// The server channel crashed.
pub const PHX_ERROR: &str = "phx_error";
/// Heartbeat event on the `phoenix` topic.
pub const HEARTBEAT: &str = "heartbeat";
/// Topic used for heartbeats.
pub const PHOENIX_TOPIC: &str = "phoenix";

/// The longest string field a binary frame can carry (one length byte).
pub const MAX_BINARY_FIELD: usize = 255;

const KIND_PUSH: u8 = 0;
const KIND_REPLY: u8 = 1;
const KIND_BROADCAST: u8 = 2;

/// A message payload: JSON for text frames, raw bytes for binary frames.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Any JSON value (normally an object).
    Json(Value),
    /// Raw bytes (an `ArrayBuffer` in the browser).
    Binary(Vec<u8>),
    /// A JSON payload kept as its text: the payload of an event its receiver parses itself (see
    /// [`decode_server_text_keeping`]; not validated here, the receiver's parse does that), or
    /// one nested deeper than `serde_json`'s 128-level limit (validated), so that nothing
    /// recursive ever holds it (read that with [`crate::runtime::depth::parse_bounded`]).
    /// Servers may also send one verbatim.
    Text(String),
}

impl Payload {
    /// An empty JSON object, the usual payload of control messages.
    pub fn empty_object() -> Self {
        Payload::Json(Value::Object(Map::new()))
    }

    /// The JSON value, if this payload is JSON.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Payload::Json(value) => Some(value),
            Payload::Binary(_) | Payload::Text(_) => None,
        }
    }

    /// The bytes, if this payload is binary.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Payload::Json(_) | Payload::Text(_) => None,
            Payload::Binary(bytes) => Some(bytes),
        }
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Payload::Json(value)
    }
}

/// Status of a server reply. Phoenix uses `ok` and `error`; anything else is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyStatus {
    /// `"ok"`
    Ok,
    /// `"error"`
    Error,
    /// Any other status string.
    Other(String),
}

impl ReplyStatus {
    /// Parses a wire status string.
    pub fn parse(status: &str) -> Self {
        match status {
            "ok" => ReplyStatus::Ok,
            "error" => ReplyStatus::Error,
            other => ReplyStatus::Other(other.to_owned()),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            ReplyStatus::Ok => "ok",
            ReplyStatus::Error => "error",
            ReplyStatus::Other(other) => other,
        }
    }
}

/// A server reply to a client push (`phx_reply`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `ok`, `error`, or another status.
    pub status: ReplyStatus,
    /// The `response` value (bytes for a binary reply).
    pub response: Payload,
}

impl Reply {
    /// True when the status is `ok`.
    pub fn is_ok(&self) -> bool {
        self.status == ReplyStatus::Ok
    }

    /// An `ok` reply with a JSON response.
    pub fn ok(response: Value) -> Self {
        Reply { status: ReplyStatus::Ok, response: Payload::Json(response) }
    }

    /// An `error` reply with a JSON response.
    pub fn error(response: Value) -> Self {
        Reply { status: ReplyStatus::Error, response: Payload::Json(response) }
    }
}

/// What a frame carries: a reply, or any other message's payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A `phx_reply`.
    Reply(Reply),
    /// Any other event's payload.
    Message(Payload),
}

/// One Phoenix message, independent of its encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The join attempt this message belongs to (`None` for heartbeats and broadcasts).
    pub join_ref: Option<String>,
    /// The request id (`None` on server pushes).
    pub msg_ref: Option<String>,
    /// Channel topic, or `phoenix`.
    pub topic: String,
    /// Event name (`phx_reply` for replies).
    pub event: String,
    /// Reply or message payload.
    pub body: Body,
}

impl Frame {
    /// A non-reply message.
    pub fn message(
        join_ref: Option<String>,
        msg_ref: Option<String>,
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: Payload,
    ) -> Self {
        Frame { join_ref, msg_ref, topic: topic.into(), event: event.into(), body: Body::Message(payload) }
    }

    /// A `phx_reply`.
    pub fn reply(join_ref: Option<String>, msg_ref: Option<String>, topic: impl Into<String>, reply: Reply) -> Self {
        Frame { join_ref, msg_ref, topic: topic.into(), event: PHX_REPLY.to_owned(), body: Body::Reply(reply) }
    }
}

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireMessage {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// Why a frame could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The text frame is not valid JSON.
    #[error("frame is not valid JSON: {0}")]
    NotJson(String),
    /// The text frame is JSON but not an array.
    #[error("frame is not a JSON array")]
    NotAnArray,
    /// The array has fewer than five elements.
    #[error("frame has {0} elements, expected at least 5")]
    WrongArity(usize),
    /// An element has the wrong JSON type.
    #[error("frame field `{field}` must be {expected}")]
    WrongType {
        /// Field name.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A binary frame ended before its header did.
    #[error("binary frame truncated")]
    Truncated,
    /// A binary frame with an unknown kind byte.
    #[error("unknown binary frame kind {0}")]
    UnknownKind(u8),
    /// A binary frame kind not valid in this direction.
    #[error("binary frame kind {0} is not valid in this direction")]
    UnexpectedKind(u8),
    /// A string field of a binary frame is not UTF-8.
    #[error("binary frame field `{0}` is not UTF-8")]
    NotUtf8(&'static str),
    /// A string field is too long for a binary frame's one-byte length.
    #[error("binary frame field `{field}` is {len} bytes, the limit is 255")]
    FieldTooLong {
        /// Field name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The frame cannot be expressed in this direction's binary layout.
    #[error("frame cannot be encoded as binary: {0}")]
    NotEncodable(&'static str),
}

/// Encodes a client → server frame. JSON payloads become text; binary payloads become a kind-0
/// push with ref. A client never sends replies.
pub fn encode_client(frame: &Frame) -> Result<WireMessage, FrameError> {
    match &frame.body {
        Body::Message(Payload::Json(value)) => encode_text(frame, value).map(WireMessage::Text),
        Body::Message(Payload::Text(text)) => encode_text(frame, &raw_json(text)?).map(WireMessage::Text),
        Body::Message(Payload::Binary(bytes)) => {
            let fields = [
                ("join_ref", opt(&frame.join_ref)),
                ("ref", opt(&frame.msg_ref)),
                ("topic", frame.topic.as_str()),
                ("event", frame.event.as_str()),
            ];
            encode_binary(KIND_PUSH, &fields, bytes).map(WireMessage::Binary)
        }
        Body::Reply(_) => Err(FrameError::NotEncodable("a client does not send replies")),
    }
}

/// Encodes a server → client frame: text for JSON, binary kind 0 (push), 1 (reply) or
/// 2 (broadcast, when `join_ref` is `None`) for bytes.
pub fn encode_server(frame: &Frame) -> Result<WireMessage, FrameError> {
    match &frame.body {
        Body::Reply(Reply { status, response: Payload::Json(response) }) => {
            let reply = ReplyPayload { status: status.as_str(), response };
            encode_text(frame, &reply).map(WireMessage::Text)
        }
        Body::Reply(Reply { status, response: Payload::Text(text) }) => {
            let reply = ReplyPayload { status: status.as_str(), response: &raw_json(text)? };
            encode_text(frame, &reply).map(WireMessage::Text)
        }
        Body::Message(Payload::Json(value)) => encode_text(frame, value).map(WireMessage::Text),
        Body::Message(Payload::Text(text)) => encode_text(frame, &raw_json(text)?).map(WireMessage::Text),
        Body::Reply(Reply { status, response: Payload::Binary(bytes) }) => {
            let fields = [
                ("join_ref", opt(&frame.join_ref)),
                ("ref", opt(&frame.msg_ref)),
                ("topic", frame.topic.as_str()),
                ("status", status.as_str()),
            ];
            encode_binary(KIND_REPLY, &fields, bytes).map(WireMessage::Binary)
        }
        Body::Message(Payload::Binary(bytes)) => match &frame.join_ref {
            Some(join_ref) => {
                let fields = [("join_ref", join_ref.as_str()), ("topic", &frame.topic), ("event", &frame.event)];
                encode_binary(KIND_PUSH, &fields, bytes).map(WireMessage::Binary)
            }
            None => {
                let fields = [("topic", frame.topic.as_str()), ("event", frame.event.as_str())];
                encode_binary(KIND_BROADCAST, &fields, bytes).map(WireMessage::Binary)
            }
        },
    }
}

/// The `{"status", "response"}` object of a text reply.
#[derive(serde::Serialize)]
struct ReplyPayload<'a, R: serde::Serialize> {
    status: &'a str,
    response: &'a R,
}

/// Validated JSON text that serializes verbatim.
fn raw_json(text: &str) -> Result<Box<RawValue>, FrameError> {
    RawValue::from_string(text.to_owned()).map_err(|error| FrameError::NotJson(error.to_string()))
}

/// Decodes a text frame sent by a server (`phx_reply` payloads become [`Body::Reply`]).
pub fn decode_server_text(text: &str) -> Result<Frame, FrameError> {
    decode_text(text, true)
}

/// Decodes a text frame sent by a client (every payload stays a message).
pub fn decode_client_text(text: &str) -> Result<Frame, FrameError> {
    decode_text(text, false)
}

/// Decodes a binary frame sent by a server (kinds 0, 1 and 2).
pub fn decode_server_binary(bytes: &[u8]) -> Result<Frame, FrameError> {
    let mut reader = Reader::new(bytes);
    match reader.byte()? {
        KIND_PUSH => {
            let [join_ref, topic, event] = reader.fields(["join_ref", "topic", "event"])?;
            Ok(Frame::message(non_empty(join_ref), None, topic, event, Payload::Binary(reader.rest())))
        }
        KIND_REPLY => {
            let [join_ref, msg_ref, topic, status] = reader.fields(["join_ref", "ref", "topic", "status"])?;
            let reply = Reply { status: ReplyStatus::parse(&status), response: Payload::Binary(reader.rest()) };
            Ok(Frame::reply(non_empty(join_ref), non_empty(msg_ref), topic, reply))
        }
        KIND_BROADCAST => {
            let [topic, event] = reader.fields(["topic", "event"])?;
            Ok(Frame::message(None, None, topic, event, Payload::Binary(reader.rest())))
        }
        kind => Err(FrameError::UnknownKind(kind)),
    }
}

/// Decodes a binary frame sent by a client (kind 0 push with ref).
pub fn decode_client_binary(bytes: &[u8]) -> Result<Frame, FrameError> {
    let mut reader = Reader::new(bytes);
    match reader.byte()? {
        KIND_PUSH => {
            let [join_ref, msg_ref, topic, event] = reader.fields(["join_ref", "ref", "topic", "event"])?;
            let payload = Payload::Binary(reader.rest());
            Ok(Frame::message(non_empty(join_ref), non_empty(msg_ref), topic, event, payload))
        }
        kind @ (KIND_REPLY | KIND_BROADCAST) => Err(FrameError::UnexpectedKind(kind)),
        kind => Err(FrameError::UnknownKind(kind)),
    }
}

/// Checks that a string fits a binary frame's one-byte length.
pub fn check_binary_field(field: &'static str, value: &str) -> Result<(), FrameError> {
    if value.len() > MAX_BINARY_FIELD {
        return Err(FrameError::FieldTooLong { field, len: value.len() });
    }
    Ok(())
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

fn non_empty(value: String) -> Option<String> {
    if value.is_empty() { None } else { Some(value) }
}

/// Serializes `[join_ref, ref, topic, event, payload]` without copying the payload.
fn encode_text(frame: &Frame, payload: &impl serde::Serialize) -> Result<String, FrameError> {
    serde_json::to_string(&(&frame.join_ref, &frame.msg_ref, &frame.topic, &frame.event, payload))
        .map_err(|error| FrameError::NotJson(error.to_string()))
}

fn encode_binary(kind: u8, fields: &[(&'static str, &str)], payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let strings_len: usize = fields.iter().map(|(_, value)| value.len()).sum();
    let mut out = Vec::with_capacity(1 + fields.len() + strings_len + payload.len());
    out.push(kind);
    for (name, value) in fields {
        check_binary_field(name, value)?;
        out.push(u8::try_from(value.len()).map_err(|_| FrameError::FieldTooLong { field: name, len: value.len() })?);
    }
    for (_, value) in fields {
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(payload);
    Ok(out)
}

fn decode_text(text: &str, replies: bool) -> Result<Frame, FrameError> {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        // A client keeps a deep payload as text instead of refusing the frame (see `Text`).
        Err(error) if replies && is_too_deep(&error) => return decode_deep_text(text),
        Err(error) => return Err(FrameError::NotJson(error.to_string())),
    };
    let Value::Array(items) = value else {
        return Err(FrameError::NotAnArray);
    };
    let arity = items.len();
    let mut items = items.into_iter();
    let (Some(join_ref), Some(msg_ref), Some(topic), Some(event), Some(payload)) =
        (items.next(), items.next(), items.next(), items.next(), items.next())
    else {
        return Err(FrameError::WrongArity(arity));
    };
    let join_ref = optional_string("join_ref", join_ref)?;
    let msg_ref = optional_string("ref", msg_ref)?;
    let Value::String(topic) = topic else {
        return Err(FrameError::WrongType { field: "topic", expected: "a string" });
    };
    let Value::String(event) = event else {
        return Err(FrameError::WrongType { field: "event", expected: "a string" });
    };
    let body = if replies && event == PHX_REPLY { Body::Reply(parse_reply(payload)?) } else { Body::Message(Payload::Json(payload)) };
    Ok(Frame { join_ref, msg_ref, topic, event, body })
}

fn is_too_deep(error: &serde_json::Error) -> bool {
    error.to_string().starts_with("recursion limit exceeded")
}

/// A reply object whose response is kept as raw text.
#[derive(serde::Deserialize)]
struct RawReply<'a> {
    status: String,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
}

/// The first five fields of a text frame, each still raw (like the `Value` path, later ones are
/// ignored).
fn raw_fields(text: &str) -> Result<[&RawValue; 5], FrameError> {
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|error| FrameError::NotJson(error.to_string()))?;
    items.get(..5).and_then(|first| <[&RawValue; 5]>::try_from(first).ok()).ok_or(FrameError::WrongArity(items.len()))
}

/// `join_ref`, `ref`, `topic` and `event` from the four raw header fields of a text frame.
fn raw_header(header: &[&RawValue; 4]) -> Result<(Option<String>, Option<String>, String, String), FrameError> {
    let [join_ref, msg_ref, topic, event] = header;
    let field = |raw: &RawValue, name: &'static str| {
        serde_json::from_str::<Value>(raw.get()).map_err(|_| FrameError::WrongType { field: name, expected: "a string or null" })
    };
    let join_ref = optional_string("join_ref", field(join_ref, "join_ref")?)?;
    let msg_ref = optional_string("ref", field(msg_ref, "ref")?)?;
    let (Ok(topic), Ok(event)) = (serde_json::from_str::<String>(topic.get()), serde_json::from_str::<String>(event.get())) else {
        return Err(FrameError::WrongType { field: "topic", expected: "a string" });
    };
    Ok((join_ref, msg_ref, topic, event))
}

/// Decodes a text frame sent by a server, keeping the payloads of the events in `text_events`
/// as [`Payload::Text`]: their receiver parses them straight into its own structures, so a
/// multi-megabyte payload is never built as a `Value` (phoenix control events are never kept).
///
/// ```
/// use musubi_wasm::phoenix::frame::{decode_server_text_keeping, Body};
/// use musubi_wasm::phoenix::Payload;
/// let frame = decode_server_text_keeping(r#"[null,null,"t","patch",{"a": [1]}]"#, &["patch"])?;
/// assert_eq!(frame.body, Body::Message(Payload::Text(r#"{"a": [1]}"#.into())));
/// # Ok::<(), musubi_wasm::phoenix::FrameError>(())
/// ```
pub fn decode_server_text_keeping(text: &str, text_events: &[&str]) -> Result<Frame, FrameError> {
    if !text_events.is_empty()
        && let Some((header, payload)) = split_header(text)
        && let Ok((join_ref, msg_ref, topic, event)) = raw_header(&header)
        && !event.starts_with("phx_")
        && text_events.contains(&event.as_str())
    {
        return Ok(Frame { join_ref, msg_ref, topic, event, body: Body::Message(Payload::Text(payload.to_owned())) });
    }
    decode_text(text, true)
}

/// The four header fields of a text frame `[join_ref, ref, topic, event, {…}]` and the text of its
/// object payload, found without reading the payload: its receiver parses (and so validates) it
/// anyway, and reading it here too would scan a multi-megabyte state twice. `None` for anything
/// else (the general decoder then decides).
fn split_header(text: &str) -> Option<([&RawValue; 4], &str)> {
    let mut rest = text.trim_start().strip_prefix('[')?;
    let mut header: Vec<&RawValue> = Vec::with_capacity(4);
    for _ in 0..4 {
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        header.push(values.next()?.ok()?);
        rest = rest.get(values.byte_offset()..)?.trim_start().strip_prefix(',')?;
    }
    let payload = rest.trim_end().strip_suffix(']')?.trim();
    if !(payload.starts_with('{') && payload.ends_with('}')) {
        return None;
    }
    Some((<[&RawValue; 4]>::try_from(header).ok()?, payload))
}

/// The frame of a server whose payload nests deeper than `serde_json`'s limit: the outer array
/// and the fields are read without recursion into the payload, which stays text.
fn decode_deep_text(text: &str) -> Result<Frame, FrameError> {
    let [join_ref, msg_ref, topic, event, payload] = raw_fields(text)?;
    let (join_ref, msg_ref, topic, event) = raw_header(&[join_ref, msg_ref, topic, event])?;
    let body = if event == PHX_REPLY {
        let reply: RawReply<'_> =
            serde_json::from_str(payload.get()).map_err(|_| FrameError::WrongType { field: "payload", expected: "a reply object" })?;
        let response = match reply.response {
            None => Payload::Json(Value::Null),
            Some(raw) => serde_json::from_str(raw.get()).map_or_else(|_| Payload::Text(raw.get().to_owned()), Payload::Json),
        };
        Body::Reply(Reply { status: ReplyStatus::parse(&reply.status), response })
    } else {
        Body::Message(Payload::Text(payload.get().to_owned()))
    };
    Ok(Frame { join_ref, msg_ref, topic, event, body })
}

fn optional_string(field: &'static str, value: Value) -> Result<Option<String>, FrameError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        // phoenix.js tolerates numeric refs; keep them as their decimal text.
        Value::Number(number) => Ok(Some(number.to_string())),
        _ => Err(FrameError::WrongType { field, expected: "a string or null" }),
    }
}

fn parse_reply(payload: Value) -> Result<Reply, FrameError> {
    let Value::Object(mut object) = payload else {
        return Err(FrameError::WrongType { field: "payload", expected: "a reply object" });
    };
    let Some(Value::String(status)) = object.remove("status") else {
        return Err(FrameError::WrongType { field: "status", expected: "a string" });
    };
    let response = object.remove("response").unwrap_or(Value::Null);
    Ok(Reply { status: ReplyStatus::parse(&status), response: Payload::Json(response) })
}

/// A cursor over a binary frame that never reads out of bounds.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    fn byte(&mut self) -> Result<u8, FrameError> {
        let (&first, rest) = self.bytes.split_first().ok_or(FrameError::Truncated)?;
        self.bytes = rest;
        Ok(first)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], FrameError> {
        if self.bytes.len() < len {
            return Err(FrameError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    /// Reads N length bytes, then N UTF-8 strings of those lengths.
    fn fields<const N: usize>(&mut self, names: [&'static str; N]) -> Result<[String; N], FrameError> {
        let mut lengths = [0usize; N];
        for length in &mut lengths {
            *length = usize::from(self.byte()?);
        }
        let mut out: [String; N] = std::array::from_fn(|_| String::new());
        for ((slot, length), name) in out.iter_mut().zip(lengths).zip(names) {
            let raw = self.take(length)?;
            *slot = std::str::from_utf8(raw).map_err(|_| FrameError::NotUtf8(name))?.to_owned();
        }
        Ok(out)
    }

    fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes).to_vec()
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
