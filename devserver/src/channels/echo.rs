//! `echo:*` — a test channel whose events make the server do every kind of thing a Phoenix
//! channel can do (reply, push, broadcast, crash, stop, bad frames), on request.
//!
//! Join: the payload must be an object (else the join crashes); `"reject": true` refuses it;
//! otherwise the reply is `{"topic", "auth_token", "params", "payload"}`.
//!
//! Events (JSON object payloads; a malformed payload for an event that needs fields crashes the
//! channel, like a function-clause error in Elixir):
//!
//! | event | effect |
//! |---|---|
//! | `echo`, anything unlisted | reply ok with the payload |
//! | `error` | reply error with the payload |
//! | `late` `{"ms": N}` | reply ok with the payload after N ms (if still joined) |
//! | `noreply` | nothing |
//! | `push` `{"event", "payload"}` | reply ok `{}`, then push the event to this client |
//! | `broadcast` `{"event", "payload"}` | reply ok `{}`, then broadcast it on the topic |
//! | `push_binary` `{"event", "bytes": [u8]}` | reply ok `{}`, then a binary push |
//! | `crash` | crash (`phx_error`, no reply) |
//! | `stop` | reply ok `{}`, then `phx_close` |
//! | `garbage` | five malformed frames, then reply ok `{"sent": 5}` |
//! | any binary push | binary reply ok with the same bytes |

use std::time::Duration;

use musubi_wasm::phoenix::frame::{Payload, Reply, ReplyStatus, WireMessage};
use serde_json::{Map, Value, json};

use super::{Channel, ChannelContext, Crash, JoinError, JoinRequest, Joined};

/// Joins an `echo:*` topic.
pub fn join(request: JoinRequest<'_>) -> Result<Joined, JoinError> {
    let Payload::Json(Value::Object(payload)) = request.payload else {
        return Err(JoinError::Crashed("echo join payload must be a JSON object".into()));
    };
    if payload.get("reject") == Some(&Value::Bool(true)) {
        return Err(JoinError::Refused(json!({"reason": "rejected"})));
    }
    let response = json!({
        "topic": request.topic,
        "auth_token": request.socket.auth_token,
        "params": request.socket.params,
        "payload": payload,
    });
    Ok((Box::new(EchoChannel), response))
}

/// The state of a joined `echo:*` channel (it has none).
#[derive(Debug)]
struct EchoChannel;

impl Channel for EchoChannel {
    fn handle_in(&mut self, event: &str, payload: Payload, ctx: &mut ChannelContext) -> Result<(), Crash> {
        let payload = match payload {
            Payload::Binary(bytes) => {
                ctx.reply(Reply { status: ReplyStatus::Ok, response: Payload::Binary(bytes) });
                return Ok(());
            }
            Payload::Text(text) => {
                ctx.reply(Reply { status: ReplyStatus::Ok, response: Payload::Text(text) });
                return Ok(());
            }
            Payload::Json(value) => value,
        };
        match event {
            "error" => ctx.reply(Reply::error(payload)),
            "late" => {
                let ms = field(&payload, "ms")?.as_u64().ok_or_else(|| Crash::new("`late` needs a non-negative integer `ms`"))?;
                let reply = ctx.deferred_reply();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    reply.send(Reply::ok(payload));
                });
            }
            "noreply" => {}
            "push" => {
                let (event, inner) = event_and_payload(&payload)?;
                ctx.reply(Reply::ok(empty()));
                ctx.push(event, Payload::Json(inner));
            }
            "broadcast" => {
                let (event, inner) = event_and_payload(&payload)?;
                ctx.reply(Reply::ok(empty()));
                ctx.broadcast(event, Payload::Json(inner));
            }
            "push_binary" => {
                let event = string_field(&payload, "event")?;
                let bytes = byte_array(field(&payload, "bytes")?)?;
                ctx.reply(Reply::ok(empty()));
                ctx.push(event, Payload::Binary(bytes));
            }
            "crash" => return Err(Crash::new("crash requested by the client")),
            "stop" => {
                ctx.reply(Reply::ok(empty()));
                ctx.stop();
            }
            "garbage" => {
                for message in garbage_frames() {
                    ctx.send_raw(message);
                }
                ctx.reply(Reply::ok(json!({"sent": 5})));
            }
            _ => ctx.reply(Reply::ok(payload)),
        }
        Ok(())
    }
}

/// Five frames a client must survive: not JSON, too short, a non-string topic, an unknown
/// binary kind, a binary push whose header claims more bytes than the frame has.
fn garbage_frames() -> [WireMessage; 5] {
    [
        WireMessage::Text("not json".into()),
        WireMessage::Text("[1,2]".into()),
        WireMessage::Text(r#"[null,null,7,"e",{}]"#.into()),
        WireMessage::Binary(vec![0x09]),
        WireMessage::Binary(vec![0x00, 0xFF, 0x01, 0x01]),
    ]
}

fn empty() -> Value {
    Value::Object(Map::new())
}

fn field<'a>(payload: &'a Value, name: &str) -> Result<&'a Value, Crash> {
    payload.get(name).ok_or_else(|| Crash::new(format!("payload has no `{name}`")))
}

fn string_field(payload: &Value, name: &str) -> Result<String, Crash> {
    field(payload, name)?.as_str().map(str::to_owned).ok_or_else(|| Crash::new(format!("`{name}` must be a string")))
}

/// `{"event": E, "payload": P}`; a missing payload means `{}`.
fn event_and_payload(payload: &Value) -> Result<(String, Value), Crash> {
    let event = string_field(payload, "event")?;
    Ok((event, payload.get("payload").cloned().unwrap_or_else(empty)))
}

fn byte_array(value: &Value) -> Result<Vec<u8>, Crash> {
    let items = value.as_array().ok_or_else(|| Crash::new("`bytes` must be an array"))?;
    items
        .iter()
        .map(|item| item.as_u64().and_then(|n| u8::try_from(n).ok()).ok_or_else(|| Crash::new("`bytes` items must be integers 0..=255")))
        .collect()
}
