//! Topic routing and the interface between a connection and the channels joined on it.
//!
//! A channel kind is a module with a `join` function (see [`JoinFn`]) and a type implementing
//! [`Channel`]. Adding a kind means adding a module and one line to [`ROUTES`]; the connection
//! task does not change. A prefix may lead to several kinds, chosen by the topic's shape and the
//! server's [`WireMode`] (`musubi:*`: the connection channel or a root channel). State shared by all sockets of the server is reached through
//! [`JoinRequest::hub`].
//!
//! Channels never touch the WebSocket: they record [`Effect`]s on a [`ChannelContext`], and the
//! connection carries them out in order. Work that finishes later (a delayed reply, a push from
//! a timer or from another socket's activity) goes through a [`ChannelHandle`], which the
//! connection only honours while the same join of the channel is still alive. Effects sent
//! through handles are carried out in the order they were sent, and all of those already queued
//! are carried out before the connection reads the next client frame.

pub mod echo;
pub mod musubi;

use std::sync::Arc;

use musubi_wasm::phoenix::frame::{Payload, Reply, WireMessage};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::config::WireMode;
use crate::hub::Hub;

/// What a channel may know about the socket it is joined on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketInfo {
    /// The token sent in the `base64url.bearer.phx.` subprotocol, decoded.
    pub auth_token: Option<String>,
    /// The socket's connect params (query string, without `vsn`), all string values.
    pub params: Map<String, Value>,
}

/// A join request as a channel kind sees it.
#[derive(Debug)]
pub struct JoinRequest<'a> {
    /// The topic being joined.
    pub topic: &'a str,
    /// The `phx_join` payload.
    pub payload: Payload,
    /// The socket the join arrived on.
    pub socket: &'a SocketInfo,
    /// A handle for work the channel finishes later (valid for this join only).
    pub handle: ChannelHandle,
    /// State shared by every socket of this server (e.g. the Musubi page servers).
    pub hub: &'a Arc<Hub>,
}

/// Why a join did not produce a channel.
#[derive(Debug, Clone, PartialEq)]
pub enum JoinError {
    /// The channel refused: reply `error` with this response (e.g. `{"reason": "rejected"}`).
    Refused(Value),
    /// The join callback crashed: reply `error {"reason": "join crashed"}`. The text is logged.
    Crashed(String),
}

/// A successful join: the channel state and the `ok` reply's response.
pub type Joined = (Box<dyn Channel>, Value);

/// The join function of one channel kind.
pub type JoinFn = fn(JoinRequest<'_>) -> Result<Joined, JoinError>;

/// Picks the join function for a topic under a prefix; `None` means "unmatched topic".
pub type RouteFn = fn(&str, WireMode) -> Option<JoinFn>;

/// Topic prefix → how the channel kind is chosen. The first matching prefix wins.
///
/// | Prefix | Channel kind |
/// |---|---|
/// | `echo:` | [`echo`] (every wire mode) |
/// | `musubi_upload:` | the upload sub-channel [`musubi::upload::channel`] (every wire mode) |
/// | `musubi:` | the connection channel or a root channel, by [`WireMode`] ([`musubi::route`]) |
pub const ROUTES: &[(&str, RouteFn)] =
    &[("echo:", echo_route), (musubi::upload::channel::TOPIC_PREFIX, musubi::upload::channel::route), ("musubi:", musubi::route)];

/// Finds the join function for `topic` under `wire`; `None` means "unmatched topic".
pub fn route(topic: &str, wire: WireMode) -> Option<JoinFn> {
    let (_, route) = ROUTES.iter().find(|(prefix, _)| topic.starts_with(prefix))?;
    route(topic, wire)
}

/// `echo:*` is always the echo channel.
fn echo_route(_topic: &str, _wire: WireMode) -> Option<JoinFn> {
    Some(echo::join)
}

/// The channel process crashed (Phoenix: the channel exits abnormally). The text is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash(pub String);

impl Crash {
    /// A crash with this explanation.
    pub fn new(reason: impl Into<String>) -> Self {
        Crash(reason.into())
    }
}

/// One joined channel on one socket.
pub trait Channel: Send {
    /// Handles a client message other than `phx_join` / `phx_leave`. Returning `Err` crashes the
    /// channel: the client gets `phx_error`, nothing recorded on `ctx` is sent.
    fn handle_in(&mut self, event: &str, payload: Payload, ctx: &mut ChannelContext) -> Result<(), Crash>;
}

/// Something a channel asks its connection to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Reply to the message being handled (its `ref`, the channel's `join_ref`).
    Reply(Reply),
    /// Push `[join_ref, null, topic, event, payload]` to this client (binary kind 0 for bytes).
    Push {
        /// Event name.
        event: String,
        /// Payload.
        payload: Payload,
    },
    /// Send `[null, null, topic, event, payload]` to every socket that has this topic joined.
    Broadcast {
        /// Event name.
        event: String,
        /// Payload.
        payload: Payload,
    },
    /// Send a WebSocket message exactly as given (used to test clients against bad frames).
    Raw(WireMessage),
    /// Stop gracefully: `phx_close` to the client, channel removed. Later effects are ignored.
    Stop,
    /// Crash the channel: `phx_error` to the client, channel removed (as if its handler had
    /// failed; the text is logged). Sent through a [`ChannelHandle`] to end another channel, e.g.
    /// an upload sub-channel killed by `cancel_upload`.
    Crash(String),
}

/// Where a channel records its effects while handling one message.
#[derive(Debug)]
pub struct ChannelContext {
    msg_ref: Option<String>,
    handle: ChannelHandle,
    effects: Vec<Effect>,
}

impl ChannelContext {
    /// A context for handling the message with `msg_ref` on the join identified by `handle`.
    pub fn new(msg_ref: Option<String>, handle: ChannelHandle) -> Self {
        ChannelContext { msg_ref, handle, effects: Vec::new() }
    }

    /// The channel's topic.
    pub fn topic(&self) -> &str {
        &self.handle.topic
    }

    /// Replies to the message being handled.
    pub fn reply(&mut self, reply: Reply) {
        self.effects.push(Effect::Reply(reply));
    }

    /// Pushes an event to this client.
    pub fn push(&mut self, event: impl Into<String>, payload: Payload) {
        self.effects.push(Effect::Push { event: event.into(), payload });
    }

    /// Broadcasts an event to every socket that has this topic joined (this one included).
    pub fn broadcast(&mut self, event: impl Into<String>, payload: Payload) {
        self.effects.push(Effect::Broadcast { event: event.into(), payload });
    }

    /// Sends a WebSocket message verbatim.
    pub fn send_raw(&mut self, message: WireMessage) {
        self.effects.push(Effect::Raw(message));
    }

    /// Stops the channel gracefully after the effects recorded so far.
    pub fn stop(&mut self) {
        self.effects.push(Effect::Stop);
    }

    /// A way to reply to the message being handled later, from another task.
    pub fn deferred_reply(&self) -> DeferredReply {
        DeferredReply { msg_ref: self.msg_ref.clone(), handle: self.handle.clone() }
    }

    /// The effects recorded so far, in order.
    pub fn into_effects(self) -> Vec<Effect> {
        self.effects
    }
}

/// An effect produced outside a message handler, addressed to one join of one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Deferred {
    /// The channel's topic.
    pub topic: String,
    /// The connection's id for the join this effect belongs to; the effect is dropped if the
    /// topic was left or re-joined since (join_refs alone may repeat, these ids never do).
    pub join_id: u64,
    /// The `ref` a [`Effect::Reply`] answers.
    pub msg_ref: Option<String>,
    /// What to do.
    pub effect: Effect,
}

/// Sends effects to a connection on behalf of one join of one channel, from any task.
#[derive(Debug, Clone)]
pub struct ChannelHandle {
    topic: String,
    join_id: u64,
    tx: mpsc::UnboundedSender<Deferred>,
}

impl ChannelHandle {
    /// A handle for the join `join_id` of `topic` on the connection that owns `tx`.
    pub fn new(topic: impl Into<String>, join_id: u64, tx: mpsc::UnboundedSender<Deferred>) -> Self {
        ChannelHandle { topic: topic.into(), join_id, tx }
    }

    /// Sends an effect with no message to answer (a push, a broadcast, a stop).
    pub fn send(&self, effect: Effect) {
        self.send_for(None, effect);
    }

    fn send_for(&self, msg_ref: Option<String>, effect: Effect) {
        let deferred = Deferred { topic: self.topic.clone(), join_id: self.join_id, msg_ref, effect };
        // The connection is gone: nobody is left to receive it.
        let _ = self.tx.send(deferred);
    }
}

/// A reply owed to one message, to be sent later.
#[derive(Debug, Clone)]
pub struct DeferredReply {
    msg_ref: Option<String>,
    handle: ChannelHandle,
}

impl DeferredReply {
    /// Sends the reply (dropped if the channel has been left or re-joined meanwhile).
    pub fn send(self, reply: Reply) {
        self.handle.send_for(self.msg_ref, Effect::Reply(reply));
    }
}
