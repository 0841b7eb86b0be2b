//! `musubi:connection:<module>:<id>` — a Musubi 0.12+ per-root channel (PROTOCOL.md §6): one
//! Phoenix channel per root, whose `root_id` is `"<module>:<id>"`.
//!
//! * **Join is mount.** The payload must be an object (else the join crashes, as on the
//!   connection channel): `{"module", "id", "params"}`, `params` optional (default `{}`). The
//!   first failing check wins, and the join is refused with `error {"reason": …}`:
//!   `missing required field` (`module` or `id` absent, empty or not a string), `params must be a
//!   map`, `unknown root` (module not declared), `topic does not match the root` (the topic is not
//!   `musubi:connection:<module>:<id>`). A store whose mount raises (bad params) crashes the join.
//!   A refused or crashed join mounts nothing. Otherwise the reply is `ok {"root_id":
//!   "<module>:<id>"}`, then, on this channel and strictly after the reply, the initial envelope
//!   `0 → 1` (`replace ""`) exactly as on the connection channel except for its `root_id`.
//! * **Leave is unmount.** The channel owns the root's [`Subscription`]: leaving (`phx_leave`,
//!   answered `ok {}` by the connection), a crash, a re-join of the topic or the transport closing
//!   drops the channel and with it the subscription. A later join mounts afresh (a fresh `0 → 1`).
//! * **Commands** come on the root's own channel without `root_id`: `command {name, payload,
//!   store_id}` (`payload` default `{}`, `store_id` default `[]`). Checks, first failing one wins:
//!   `missing required field` (name), `unknown store`, `unknown command`, `invalid payload: …`
//!   → the handler's reply, then the cycle's envelope (if anything changed): the same code path
//!   as the connection channel's `command`.
//! * `allow_upload`, `cancel_upload`, `upload_progress`, `upload_error` (no `root_id` either,
//!   PROTOCOL.md §6.1): `missing required field`, `unknown store`, `unknown upload`, then the
//!   event's own refusals → the same code path as the connection channel's (see
//!   [`super::upload`]); the initial envelope carries a `config` op per declared upload.
//!
//! Anything else (a non-object payload, an unknown event such as `mount`, a `store_id` that is not
//! an array) crashes this channel only: every other root, on this socket or another, lives on.
//! The page is shared by the client's plain `id` with the connection channel (see [`super::page`]).

use musubi_wasm::phoenix::frame::Payload;
use serde_json::{Map, Value, json};

use super::page::{Mount, Subscription};
use super::upload::UploadRequest;
use super::{mount_params, mount_raised, non_empty_string, object_payload, refuse, run_command, stores};
use crate::channels::{Channel, ChannelContext, Crash, DeferredReply, JoinError, JoinRequest, Joined};

/// The topic of a root channel is this prefix followed by `<module>:<id>`.
pub const TOPIC_PREFIX: &str = "musubi:connection:";

/// True for topics of the form `musubi:connection:<module>:<id>` (at least two more
/// `:`-separated parts after `musubi:connection`, either of them possibly empty).
pub fn is_root_topic(topic: &str) -> bool {
    topic.strip_prefix(TOPIC_PREFIX).is_some_and(|rest| rest.contains(':'))
}

/// The `root_id` of a root channel: `"<module>:<id>"`.
pub fn root_id(module: &str, id: &str) -> String {
    format!("{module}:{id}")
}

/// Joins (mounts) a root channel.
pub fn join(request: JoinRequest<'_>) -> Result<Joined, JoinError> {
    let Payload::Json(Value::Object(payload)) = &request.payload else {
        return Err(JoinError::Crashed("musubi root channel join payload must be a JSON object".into()));
    };
    let (Some(module), Some(id)) = (non_empty_string(payload, "module"), non_empty_string(payload, "id")) else {
        return Err(refused("missing required field"));
    };
    let Some(params) = mount_params(payload) else { return Err(refused("params must be a map")) };
    let Some(kind) = stores::declared_root(module) else { return Err(refused("unknown root")) };
    let root_id = root_id(module, id);
    if request.topic.strip_prefix(TOPIC_PREFIX) != Some(root_id.as_str()) {
        return Err(refused("topic does not match the root"));
    }
    // The connection sends the join reply before anything sent through the handle, so the
    // initial envelope follows the reply.
    let mount = Mount { handle: request.handle, root_id: root_id.clone(), reply: None };
    let subscription =
        request.hub.pages().mount(kind, id, &params, mount).map_err(|why| JoinError::Crashed(mount_raised(module, id, &why)))?;
    Ok((Box::new(RootChannel { subscription }), json!({"root_id": root_id})))
}

/// A joined root channel: its one root.
#[derive(Debug)]
struct RootChannel {
    subscription: Subscription,
}

impl Channel for RootChannel {
    fn handle_in(&mut self, event: &str, payload: Payload, ctx: &mut ChannelContext) -> Result<(), Crash> {
        let payload = object_payload(event, payload)?;
        // Replies go through the handle, like the envelopes, so each precedes its cycle's envelope.
        let reply = ctx.deferred_reply();
        match event {
            "command" => match non_empty_string(&payload, "name") {
                Some(name) => run_command(&self.subscription, name, &payload, reply),
                None => refuse(reply, "missing required field"),
            },
            "allow_upload" | "cancel_upload" | "upload_progress" | "upload_error" => self.upload(event, &payload, reply),
            _ => Err(Crash::new(format!("a root channel has no `{event}` handler"))),
        }
    }
}

impl RootChannel {
    fn upload(&self, event: &str, payload: &Map<String, Value>, reply: DeferredReply) -> Result<(), Crash> {
        let Some(request) = UploadRequest::parse(event, payload) else { return refuse(reply, "missing required field") };
        self.subscription.upload(request, reply);
        Ok(())
    }
}

/// A refused join: `error {"reason": reason}`.
fn refused(reason: &str) -> JoinError {
    JoinError::Refused(json!({"reason": reason}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_topics_have_a_module_and_an_id() {
        assert!(is_root_topic("musubi:connection:Demo.CounterStore:demo-counter"));
        assert!(is_root_topic("musubi:connection:Demo.CounterStore:a:b"));
        assert!(is_root_topic("musubi:connection::"));
        assert!(!is_root_topic("musubi:connection"));
        assert!(!is_root_topic("musubi:connection:"));
        assert!(!is_root_topic("musubi:connection:Demo.CounterStore"));
        assert!(!is_root_topic("musubi:other:Demo.CounterStore:x"));
        assert_eq!(root_id("Demo.CounterStore", "a:b"), "Demo.CounterStore:a:b");
    }
}
