//! `musubi:*` — the Musubi wire modes hosting the demo stores: the v0.6.1 connection channel
//! (PROTOCOL.md §2, this module) and the 0.12+ per-root channels ([`root_channel`], PROTOCOL.md
//! §6). [`route`] picks one by the topic and the server's [`WireMode`]: under `connection` every
//! `musubi:*` topic is the connection channel; under `per-root` only
//! `musubi:connection:<module>:<id>` topics are joinable (root channels), every other one is an
//! unmatched topic; under `both` (the default) topics of that form are root channels and the rest
//! the connection channel. Both kinds subscribe to the same page servers ([`page`]), keyed by the
//! client's plain id, so a root mounted in one mode shares its state with the same id mounted in
//! the other.
//!
//! The connection channel's join: the payload must be an object (else the join crashes); the
//! reply is `{}`. The channel keeps this connection's roots (root id → [`Subscription`]);
//! mounting a root subscribes it to a page server shared by every socket that mounts the same
//! module and id (see [`page`]). Leaving the channel, a crash or a transport close drops the
//! channel and with it every root.
//!
//! Events (object payloads only; anything else, or an unknown event, crashes the channel). Each
//! check fails with an error reply `{"reason": …}`, the first failing one wins:
//!
//! * `mount {module, id, params}`: `missing required field` (module), `missing root id`,
//!   `params must be a map`, `root already mounted`, `unknown root` → `ok {"root_id"}`, then the
//!   initial envelope.
//! * `unmount {root_id}`: `missing required field`, `unknown root` → `ok {}`.
//! * `command {root_id, store_id, name, payload}`: `missing required field` (name, then root_id),
//!   `unknown root`, `unknown store`, `unknown command`, `invalid payload: …` (a `payload` that is
//!   not an object, or one the command refuses: a field of the wrong type, missing or out of
//!   range, named in the reason; nothing changes) → the handler's reply, then the cycle's
//!   envelope (if anything changed).
//! * `allow_upload {root_id, store_id, name, entries}`, `cancel_upload {…, ref}`,
//!   `upload_progress {…, ref, progress}`, `upload_error {…, ref, code, message}` (PROTOCOL.md
//!   §3): `missing required field` (root_id, name, and ref except for `allow_upload`),
//!   `unknown root`, `unknown store`, `unknown upload`, then the event's own refusals
//!   (`invalid entries`; `unknown entry` / `wrong mode` for the external-mode reports) → the
//!   preflight result or `{}`, then the cycle's envelope with its upload ops (see [`upload`]).
//!   Channel-mode bytes go over `musubi_upload:<ref>` sub-channels ([`upload::channel`]).
//!
//! Unlike Musubi (whose payload validation raises), no command or upload payload crashes the
//! channel (a non-array upload `store_id` counts as `[]`, bad `entries` are refused), so one
//! client's bad request never takes the other roots on its socket down with it. What still
//! crashes it, as in Musubi: a malformed message (a non-object frame payload, an unknown event,
//! a `store_id` that is not an array) and a store whose mount raises (bad params). Deliberate
//! crashes are for tests: `POST /_test/crash?topic=…`. Every reply and envelope goes through the
//! channel's [`ChannelHandle`] in the order it was produced (see [`page`] for why).

pub mod deep;
pub mod page;
pub mod render;
pub mod root_channel;
pub mod stores;
pub mod stream;
pub mod upload;

use std::collections::HashMap;
use std::sync::Arc;

use musubi_wasm::phoenix::frame::{Payload, Reply};
use serde_json::{Map, Value, json};

use self::page::{Mount, PageRegistry, Subscription, error_reply};
use self::upload::UploadRequest;
use super::{Channel, ChannelContext, ChannelHandle, Crash, DeferredReply, JoinError, JoinFn, JoinRequest, Joined};
use crate::config::WireMode;

/// The channel kind of a `musubi:*` topic under `wire`; `None` means "unmatched topic".
pub fn route(topic: &str, wire: WireMode) -> Option<JoinFn> {
    let per_root = root_channel::is_root_topic(topic);
    match wire {
        WireMode::Connection => Some(join),
        WireMode::PerRoot => per_root.then_some(root_channel::join as JoinFn),
        WireMode::Both if per_root => Some(root_channel::join),
        WireMode::Both => Some(join),
    }
}

/// Joins the connection channel: an empty connection (no roots yet).
pub fn join(request: JoinRequest<'_>) -> Result<Joined, JoinError> {
    let Payload::Json(Value::Object(_)) = request.payload else {
        return Err(JoinError::Crashed("musubi join payload must be a JSON object".into()));
    };
    let channel = MusubiChannel { registry: Arc::clone(request.hub.pages()), handle: request.handle, roots: HashMap::new() };
    Ok((Box::new(channel), json!({})))
}

/// A joined connection channel: its roots.
#[derive(Debug)]
struct MusubiChannel {
    registry: Arc<PageRegistry>,
    handle: ChannelHandle,
    roots: HashMap<String, Subscription>,
}

impl Channel for MusubiChannel {
    fn handle_in(&mut self, event: &str, payload: Payload, ctx: &mut ChannelContext) -> Result<(), Crash> {
        let payload = object_payload(event, payload)?;
        let reply = ctx.deferred_reply();
        match event {
            "mount" => self.mount(&payload, reply),
            "unmount" => {
                self.unmount(&payload, reply);
                Ok(())
            }
            "command" => self.command(&payload, reply),
            "allow_upload" | "cancel_upload" | "upload_progress" | "upload_error" => self.upload(event, &payload, reply),
            _ => Err(Crash::new(format!("the connection channel has no `{event}` handler"))),
        }
    }
}

impl MusubiChannel {
    /// PROTOCOL.md §2.3.
    fn mount(&mut self, payload: &Map<String, Value>, reply: DeferredReply) -> Result<(), Crash> {
        let Some(module) = non_empty_string(payload, "module") else { return refuse(reply, "missing required field") };
        let Some(root_id) = non_empty_string(payload, "id") else { return refuse(reply, "missing root id") };
        let Some(params) = mount_params(payload) else { return refuse(reply, "params must be a map") };
        if self.roots.contains_key(root_id) {
            return refuse(reply, "root already mounted");
        }
        let Some(kind) = stores::declared_root(module) else { return refuse(reply, "unknown root") };
        let mount = Mount { handle: self.handle.clone(), root_id: root_id.to_owned(), reply: Some(reply) };
        let subscription =
            self.registry.mount(kind, root_id, &params, mount).map_err(|why| Crash::new(mount_raised(module, root_id, &why)))?;
        self.roots.insert(root_id.to_owned(), subscription);
        Ok(())
    }

    /// PROTOCOL.md §2.4.
    fn unmount(&mut self, payload: &Map<String, Value>, reply: DeferredReply) {
        let Some(root_id) = non_empty_string(payload, "root_id") else {
            reply.send(error_reply("missing required field"));
            return;
        };
        match self.roots.remove(root_id) {
            Some(subscription) => {
                // Unsubscribed before the reply is queued: no envelope of this root follows it.
                drop(subscription);
                reply.send(Reply::ok(json!({})));
            }
            None => reply.send(error_reply("unknown root")),
        }
    }

    /// PROTOCOL.md §2.5, except that a bad `payload` is refused instead of crashing the channel.
    fn command(&self, payload: &Map<String, Value>, reply: DeferredReply) -> Result<(), Crash> {
        let Some(name) = non_empty_string(payload, "name") else { return refuse(reply, "missing required field") };
        let Some(root_id) = non_empty_string(payload, "root_id") else { return refuse(reply, "missing required field") };
        let Some(subscription) = self.roots.get(root_id) else { return refuse(reply, "unknown root") };
        run_command(subscription, name, payload, reply)
    }

    /// PROTOCOL.md §3.2–§3.6: `root_id`, `name` (and `ref`) are checked before the root.
    fn upload(&self, event: &str, payload: &Map<String, Value>, reply: DeferredReply) -> Result<(), Crash> {
        let root_id = non_empty_string(payload, "root_id");
        let (Some(root_id), Some(request)) = (root_id, UploadRequest::parse(event, payload)) else {
            return refuse(reply, "missing required field");
        };
        let Some(subscription) = self.roots.get(root_id) else { return refuse(reply, "unknown root") };
        subscription.upload(request, reply);
        Ok(())
    }
}

// ---- shared by the connection channel and the root channels ---------------------------------

/// The mount `params` (default `{}`); `None` if they are not an object (`params must be a map`).
fn mount_params(payload: &Map<String, Value>) -> Option<Map<String, Value>> {
    match payload.get("params") {
        None => Some(Map::new()),
        Some(Value::Object(params)) => Some(params.clone()),
        Some(_) => None,
    }
}

/// How a store's raising mount is logged.
fn mount_raised(module: &str, id: &str, why: &str) -> String {
    format!("mount of {module} {id:?} raised: {why}")
}

/// A command on a mounted root, once `name` (and on the connection channel `root_id`) passed:
/// `store_id` (default `[]`; not an array crashes the channel) → `unknown store`, then the page
/// runs it (see [`Subscription::command`]).
fn run_command(subscription: &Subscription, name: &str, payload: &Map<String, Value>, reply: DeferredReply) -> Result<(), Crash> {
    let segments = store_id_segments(payload)?;
    let Some(store_id) = string_segments(segments) else { return refuse(reply, "unknown store") };
    subscription.command(&store_id, name, payload.get("payload"), reply);
    Ok(())
}

/// A pushed event's payload, which both Musubi channels require to be a JSON object.
fn object_payload(event: &str, payload: Payload) -> Result<Map<String, Value>, Crash> {
    match payload {
        Payload::Json(Value::Object(payload)) => Ok(payload),
        _ => Err(Crash::new(format!("`{event}` payload must be a JSON object"))),
    }
}

/// A non-empty string field.
fn non_empty_string<'a>(payload: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str).filter(|value| !value.is_empty())
}

/// The `store_id` array (default `[]`); anything but an array crashes the channel.
fn store_id_segments(payload: &Map<String, Value>) -> Result<&[Value], Crash> {
    match payload.get("store_id") {
        None => Ok(&[]),
        Some(Value::Array(segments)) => Ok(segments),
        Some(other) => Err(Crash::new(format!("store_id must be an array, got {other}"))),
    }
}

/// The store id as strings; `None` if a segment is not a string (no such store can exist).
fn string_segments(segments: &[Value]) -> Option<Vec<String>> {
    segments.iter().map(|segment| segment.as_str().map(str::to_owned)).collect()
}

/// Replies `error {"reason": reason}`.
fn refuse(reply: DeferredReply, reason: &str) -> Result<(), Crash> {
    reply.send(error_reply(reason));
    Ok(())
}
