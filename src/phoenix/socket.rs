//! The sans-IO Phoenix socket: connection lifecycle, heartbeat, reconnect, send buffering and
//! frame routing. Channel transitions live in [`super::channel`].
//!
//! The driver feeds inputs (`connect`, `handle_open`, `handle_text`, `handle_timeout`, …) with the
//! current time, then drains [`Socket::poll_output`] and arms one timer for
//! [`Socket::poll_timeout`].
//!
//! ```
//! use musubi_wasm::phoenix::{Output, Socket, SocketConfig};
//! let mut socket = Socket::new(SocketConfig::new("ws://127.0.0.1:4000/socket"));
//! socket.connect(0);
//! let Some(Output::Connect { connection, url, .. }) = socket.poll_output() else { panic!() };
//! assert_eq!(url, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0");
//! socket.handle_open(connection, 5);
//! assert_eq!(socket.poll_timeout(), Some(30_005)); // first heartbeat
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::channel::{Channel, PendingPush};
use super::config::SocketConfig;
use super::endpoint::{auth_protocols, endpoint_url};
use super::event::{ChannelEvent, ChannelId, ConnectionId, ConnectionState, ErrorCause, Event, Millis, Output, PushId};
use super::frame::{self, Body, Frame, Payload, WireMessage};

/// A retry timer: a try counter and an optional deadline (phoenix.js `Timer`).
#[derive(Debug, Default, Clone)]
pub(crate) struct RetryTimer {
    pub(crate) tries: u32,
    pub(crate) deadline: Option<Millis>,
}

impl RetryTimer {
    pub(crate) fn reset(&mut self) {
        self.tries = 0;
        self.deadline = None;
    }

    pub(crate) fn due(&self, now: Millis) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= now)
    }

    /// Marks the timer fired: counts the try and clears the deadline.
    pub(crate) fn fire(&mut self) {
        self.tries = self.tries.saturating_add(1);
        self.deadline = None;
    }
}

#[derive(Debug, Clone, Copy)]
struct Connection {
    id: ConnectionId,
    open: bool,
}

#[derive(Debug, Default, Clone)]
struct Heartbeat {
    next_at: Option<Millis>,
    pending: Option<(String, Millis)>,
}

/// The Phoenix Channels v2 client state machine. See the module docs.
#[derive(Debug)]
pub struct Socket {
    pub(crate) config: SocketConfig,
    rng: fastrand::Rng,
    next_ref: u64,
    next_id: u64,
    connection: Option<Connection>,
    state: ConnectionState,
    /// The application wants a connection (phoenix.js `!closeWasClean`).
    wanted: bool,
    reconnect: RetryTimer,
    connect_deadline: Option<Millis>,
    heartbeat: Heartbeat,
    send_buffer: VecDeque<WireMessage>,
    pub(crate) channels: BTreeMap<ChannelId, Channel>,
    pub(crate) pushes: HashMap<PushId, PendingPush>,
    outputs: VecDeque<Output>,
    /// Events whose payloads stay [`crate::phoenix::Payload::Text`] (see
    /// [`Socket::keep_text_payloads`]).
    text_events: &'static [&'static str],
}

impl Socket {
    /// A closed socket with this configuration.
    pub fn new(config: SocketConfig) -> Self {
        let rng = fastrand::Rng::with_seed(config.options.seed);
        Socket {
            config,
            rng,
            next_ref: 0,
            next_id: 0,
            connection: None,
            state: ConnectionState::Closed,
            wanted: false,
            reconnect: RetryTimer::default(),
            connect_deadline: None,
            heartbeat: Heartbeat::default(),
            send_buffer: VecDeque::new(),
            channels: BTreeMap::new(),
            pushes: HashMap::new(),
            outputs: VecDeque::new(),
            text_events: &[],
        }
    }

    /// Keeps the payloads of server messages named in `events` as
    /// [`crate::phoenix::Payload::Text`], for a receiver that parses them itself (see
    /// [`frame::decode_server_text_keeping`]).
    #[must_use]
    pub fn keep_text_payloads(mut self, events: &'static [&'static str]) -> Self {
        self.text_events = events;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SocketConfig {
        &self.config
    }

    /// The connection state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// True when the WebSocket is open.
    pub fn is_connected(&self) -> bool {
        self.state == ConnectionState::Open
    }

    /// How many reconnect attempts have run since the last successful open.
    pub fn reconnect_attempts(&self) -> u32 {
        self.reconnect.tries
    }

    /// When the next reconnect attempt runs, if one is scheduled.
    pub fn next_reconnect_at(&self) -> Option<Millis> {
        self.reconnect.deadline
    }

    /// The next output for the driver, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest time at which [`Socket::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let socket_deadlines = [
            self.reconnect.deadline,
            self.connect_deadline,
            self.heartbeat.next_at,
            self.heartbeat.pending.as_ref().map(|(_, deadline)| *deadline),
        ];
        let channel_deadlines = self.channels.values().flat_map(Channel::deadlines);
        let push_deadlines = self.pushes.values().map(|push| Some(push.deadline));
        socket_deadlines.into_iter().chain(channel_deadlines).chain(push_deadlines).flatten().min()
    }

    /// Starts connecting (idempotent while connecting or open). A scheduled reconnect is replaced
    /// by an immediate attempt; its try count is kept.
    pub fn connect(&mut self, now: Millis) {
        self.wanted = true;
        if self.connection.is_none() {
            self.open_connection(now);
        }
    }

    /// Connects now with a fresh retry count: the application (re)opens after a close or while
    /// the socket waits between retries. The pending retry, if any, is dropped.
    pub fn connect_fresh(&mut self, now: Millis) {
        self.reconnect.reset();
        self.connect(now);
    }

    /// Reconnects now if the socket is waiting to reconnect (the page came back online or became
    /// visible). Does nothing while connecting, open, or deliberately disconnected.
    pub fn reconnect_now(&mut self, now: Millis) {
        if self.wanted && self.connection.is_none() {
            self.open_connection(now);
        }
    }

    /// The page woke up (became visible, came back online, was restored): a socket waiting to
    /// reconnect connects now, and an open one is probed at once — a heartbeat that must be
    /// answered within [`super::SocketOptions::probe_timeout_ms`], or the socket is replaced as
    /// after a heartbeat timeout. A heartbeat already in flight is the probe (its deadline is
    /// brought forward), so there is never more than one.
    pub fn wake(&mut self, now: Millis) {
        if !self.wanted {
            return;
        }
        if self.connection.is_none() {
            self.open_connection(now);
            return;
        }
        if !self.is_connected() {
            return;
        }
        let probe_deadline = now.saturating_add(self.config.options.probe_timeout_ms);
        match &mut self.heartbeat.pending {
            Some((_, deadline)) => *deadline = (*deadline).min(probe_deadline),
            None => {
                self.send_heartbeat(now);
                if let Some((_, deadline)) = &mut self.heartbeat.pending {
                    *deadline = (*deadline).min(probe_deadline);
                }
            }
        }
    }

    /// The WebSocket could not even be created (the browser's constructor threw: a bad URL or
    /// subprotocol). That is not a network error, so nothing is retried; the socket reports
    /// [`Event::ConnectFailed`] and stays closed until [`Socket::connect`].
    pub fn handle_connect_error(&mut self, connection: ConnectionId, reason: &str, _now: Millis) {
        if !self.is_current(connection) {
            return;
        }
        self.connection = None;
        self.wanted = false;
        self.reconnect.reset();
        self.emit(Event::ConnectFailed(format!("the browser refused to open a WebSocket: {reason}")));
        self.connection_lost(&ErrorCause::ConnectionLost);
    }

    /// Closes the socket deliberately: no reconnect until [`Socket::connect`] is called again.
    /// Joined channels become errored and rejoin when the socket reconnects.
    pub fn disconnect(&mut self, code: u16, reason: &str) {
        self.wanted = false;
        self.reconnect.reset();
        if let Some(connection) = self.connection.take() {
            self.emit_output(Output::Close { connection: connection.id, code, reason: reason.to_owned() });
        }
        self.connection_lost(&ErrorCause::Disconnected);
    }

    /// The WebSocket opened.
    pub fn handle_open(&mut self, connection: ConnectionId, now: Millis) {
        let Some(current) = self.connection.as_mut().filter(|current| current.id == connection && !current.open) else {
            return;
        };
        current.open = true;
        self.connect_deadline = None;
        self.reconnect.reset();
        self.heartbeat = Heartbeat { next_at: Some(now.saturating_add(self.config.options.heartbeat_interval_ms)), pending: None };
        for message in std::mem::take(&mut self.send_buffer) {
            self.emit_output(Output::Send { connection, message });
        }
        self.set_state(ConnectionState::Open);
        self.rejoin_errored_channels(now);
    }

    /// The WebSocket closed (or failed to open). Schedules a reconnect unless the application
    /// disconnected; any close code counts, since servers and proxies also close with 1000.
    pub fn handle_close(&mut self, connection: ConnectionId, code: u16, reason: &str, now: Millis) {
        if !self.is_current(connection) {
            return;
        }
        self.connection = None;
        self.emit(Event::TransportClosed { code, reason: reason.to_owned() });
        self.connection_lost(&ErrorCause::ConnectionLost);
        self.schedule_reconnect(now);
    }

    /// A text frame arrived.
    pub fn handle_text(&mut self, connection: ConnectionId, text: &str, now: Millis) {
        if self.is_current(connection) {
            let decoded = frame::decode_server_text_keeping(text, self.text_events);
            self.handle_decoded(decoded, now);
        }
    }

    /// A binary frame arrived.
    pub fn handle_binary(&mut self, connection: ConnectionId, bytes: &[u8], now: Millis) {
        if self.is_current(connection) {
            let decoded = frame::decode_server_binary(bytes);
            self.handle_decoded(decoded, now);
        }
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Millis) {
        if self.connect_deadline.is_some_and(|deadline| deadline <= now) {
            self.connect_deadline = None;
            if let Some(connection) = self.connection.take() {
                self.emit_output(Output::Close { connection: connection.id, code: 1000, reason: "connect timeout".into() });
                self.connection_lost(&ErrorCause::ConnectionLost);
                self.schedule_reconnect(now);
            }
        }
        if self.reconnect.due(now) {
            self.reconnect.fire();
            if self.wanted && self.connection.is_none() {
                self.open_connection(now);
            }
        }
        if self.heartbeat.pending.as_ref().is_some_and(|(_, deadline)| *deadline <= now) {
            self.heartbeat_timeout(now);
        } else if self.heartbeat.next_at.is_some_and(|at| at <= now) {
            self.send_heartbeat(now);
        }
        self.run_channel_timers(now);
    }

    // ---- internals shared with the channel module ----

    /// Draws a fresh ref from the socket's single counter.
    pub(crate) fn make_ref(&mut self) -> String {
        self.next_ref = self.next_ref.wrapping_add(1);
        self.next_ref.to_string()
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    pub(crate) fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    pub(crate) fn emit_channel(&mut self, channel: ChannelId, event: ChannelEvent) {
        self.emit(Event::Channel { channel, event });
    }

    fn emit_output(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// Sends a message now if the WebSocket is open, else buffers it until it opens.
    pub(crate) fn send(&mut self, message: WireMessage) {
        match self.connection {
            Some(Connection { id, open: true }) => self.emit_output(Output::Send { connection: id, message }),
            _ => self.send_buffer.push_back(message),
        }
    }

    pub(crate) fn jittered_delay(&mut self, backoff: &super::Backoff, attempt: u32) -> Millis {
        backoff.delay(attempt, &mut self.rng)
    }

    // ---- connection lifecycle ----

    fn is_current(&self, connection: ConnectionId) -> bool {
        self.connection.is_some_and(|current| current.id == connection)
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state;
            self.emit(Event::State(state));
        }
    }

    fn open_connection(&mut self, now: Millis) {
        self.reconnect.deadline = None;
        let params = self.config.options.params.resolve();
        let url = match endpoint_url(&self.config.endpoint, params.as_ref(), self.config.page.as_ref()) {
            Ok(url) => url,
            Err(error) => {
                self.wanted = false;
                self.emit(Event::InvalidEndpoint(error.to_string()));
                return;
            }
        };
        let token = self.config.options.auth_token.as_ref().map(|token| token.resolve());
        let protocols = match auth_protocols(token.as_deref()) {
            Ok(protocols) => protocols,
            Err(message) => {
                self.wanted = false;
                self.emit(Event::ConnectFailed(message));
                return;
            }
        };
        let id = ConnectionId(self.next_id());
        self.connection = Some(Connection { id, open: false });
        self.connect_deadline = self.config.options.connect_timeout_ms.map(|timeout| now.saturating_add(timeout));
        self.emit_output(Output::Connect { connection: id, url, protocols });
        self.set_state(ConnectionState::Connecting);
    }

    /// Forgets transport state after the connection ended: heartbeats, the send buffer (the server
    /// side of those frames is gone), and every channel's join and in-flight pushes.
    fn connection_lost(&mut self, cause: &ErrorCause) {
        self.connect_deadline = None;
        self.heartbeat = Heartbeat::default();
        self.send_buffer.clear();
        self.set_state(ConnectionState::Closed);
        self.error_channels_for_transport(cause);
    }

    fn schedule_reconnect(&mut self, now: Millis) {
        if !self.wanted {
            return;
        }
        let attempt = self.reconnect.tries.saturating_add(1);
        let reconnect = self.config.options.reconnect.clone();
        let delay = self.jittered_delay(&reconnect, attempt);
        let at = now.saturating_add(delay);
        self.reconnect.deadline = Some(at);
        self.emit(Event::ReconnectScheduled { attempt, delay, at });
    }

    fn send_heartbeat(&mut self, now: Millis) {
        self.heartbeat.next_at = None;
        if !self.is_connected() {
            return;
        }
        let heartbeat_ref = self.make_ref();
        self.heartbeat.pending = Some((heartbeat_ref.clone(), now.saturating_add(self.config.options.heartbeat_timeout_ms)));
        let frame = Frame::message(None, Some(heartbeat_ref), frame::PHOENIX_TOPIC, frame::HEARTBEAT, Payload::empty_object());
        self.send_frame(&frame);
    }

    fn heartbeat_timeout(&mut self, now: Millis) {
        if let Some(connection) = self.connection.take() {
            self.emit_output(Output::Close { connection: connection.id, code: 1000, reason: "heartbeat timeout".into() });
        }
        self.connection_lost(&ErrorCause::HeartbeatTimeout);
        self.schedule_reconnect(now);
    }

    /// Encodes and sends a client frame; a frame that cannot be encoded is reported, not sent.
    pub(crate) fn send_frame(&mut self, frame: &Frame) -> bool {
        match frame::encode_client(frame) {
            Ok(message) => {
                self.send(message);
                true
            }
            Err(error) => {
                self.emit(Event::FrameError(error));
                false
            }
        }
    }

    fn handle_decoded(&mut self, decoded: Result<Frame, frame::FrameError>, now: Millis) {
        match decoded {
            Ok(frame) => self.route(frame, now),
            Err(error) => self.emit(Event::FrameError(error)),
        }
    }

    fn route(&mut self, frame: Frame, now: Millis) {
        if frame.topic == frame::PHOENIX_TOPIC {
            let is_heartbeat_reply =
                matches!((&self.heartbeat.pending, &frame.msg_ref), (Some((pending, _)), Some(msg_ref)) if pending == msg_ref);
            if is_heartbeat_reply {
                self.heartbeat = Heartbeat { next_at: Some(now.saturating_add(self.config.options.heartbeat_interval_ms)), pending: None };
            }
            return;
        }
        let targets: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, channel)| channel.topic == frame.topic && channel.accepts_join_ref(frame.join_ref.as_deref()))
            .map(|(id, _)| *id)
            .collect();
        // The body moves into the last target (a payload can be megabytes); only the rare
        // overlapping channels on one topic get copies.
        let Some((&last, others)) = targets.split_last() else {
            return;
        };
        for &id in others {
            self.deliver(id, frame.msg_ref.as_deref(), &frame.event, frame.body.clone(), now);
        }
        self.deliver(last, frame.msg_ref.as_deref(), &frame.event, frame.body, now);
    }

    fn deliver(&mut self, id: ChannelId, msg_ref: Option<&str>, event: &str, body: Body, now: Millis) {
        match body {
            Body::Reply(reply) => self.channel_reply(id, msg_ref, reply, now),
            Body::Message(payload) => match event {
                frame::PHX_ERROR => self.channel_error(id, &ErrorCause::Server(payload), now),
                frame::PHX_CLOSE => self.close_channel(id, super::CloseCause::Server),
                event => self.channel_message(id, event, payload),
            },
        }
    }

    /// Builds a frame for a channel's join ref.
    pub(crate) fn channel_frame(channel: &Channel, msg_ref: String, event: &str, payload: Payload) -> Frame {
        Frame::message(channel.join_ref.clone(), Some(msg_ref), channel.topic.clone(), event, payload)
    }
}

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;
