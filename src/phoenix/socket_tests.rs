//! Host tests of the socket and channel state machines with a fake clock.

use serde_json::{Value, json};

use super::*;
use crate::phoenix::{
    AuthToken, Backoff, ChannelState, CloseCause, ErrorCause, FrameError, Params, PushError, Reply, ReplyStatus, SocketOptions,
};
use crate::test_clock::FakeClock;

/// Drives a socket with a fake clock and records what it asks the driver to do.
struct Harness {
    socket: Socket,
    now: Millis,
    connection: Option<ConnectionId>,
    connects: Vec<(Millis, String, Vec<String>)>,
    closes: Vec<(u16, String)>,
    sent: Vec<Frame>,
    events: Vec<Event>,
}

impl FakeClock for Harness {
    type Machine = Socket;

    fn clock_and_machine(&mut self) -> (&mut Millis, &mut Socket) {
        (&mut self.now, &mut self.socket)
    }

    fn on_fired(&mut self) {
        self.drain();
    }
}

impl Harness {
    fn new(config: SocketConfig) -> Self {
        Harness { socket: Socket::new(config), now: 0, connection: None, connects: vec![], closes: vec![], sent: vec![], events: vec![] }
    }

    fn default() -> Self {
        Self::new(SocketConfig::new("ws://127.0.0.1:4000/socket"))
    }

    fn drain(&mut self) {
        while let Some(output) = self.socket.poll_output() {
            match output {
                Output::Connect { connection, url, protocols } => {
                    self.connection = Some(connection);
                    self.connects.push((self.now, url, protocols));
                }
                Output::Send { message, .. } => self.sent.push(match message {
                    WireMessage::Text(text) => frame::decode_client_text(&text).unwrap(),
                    WireMessage::Binary(bytes) => frame::decode_client_binary(&bytes).unwrap(),
                }),
                Output::Close { code, reason, .. } => self.closes.push((code, reason)),
                Output::Event(event) => self.events.push(event),
            }
        }
    }

    /// Moves the clock to `now + ms`, firing every timer on the way at its own deadline.
    fn advance(&mut self, ms: Millis) {
        self.advance_to(self.now + ms);
    }

    /// Steps through timers until a frame with `event` is sent; returns the time that took.
    fn wait_for_sent(&mut self, event: &str) -> Millis {
        let start = self.now;
        self.take_sent();
        while !self.sent.iter().any(|f| f.event == event) {
            let deadline = self.socket.poll_timeout().unwrap_or_else(|| panic!("nothing scheduled while waiting for {event}"));
            self.advance(deadline.saturating_sub(self.now));
            self.answer_heartbeats();
        }
        self.now - start
    }

    /// Steps through timers until a new connection attempt; returns the time that took.
    fn wait_for_connect(&mut self) -> Millis {
        let start = self.now;
        let before = self.connects.len();
        while self.connects.len() == before {
            let deadline = self.socket.poll_timeout().unwrap_or_else(|| panic!("nothing scheduled while waiting to connect"));
            self.advance(deadline.saturating_sub(self.now));
        }
        self.now - start
    }

    fn answer_heartbeats(&mut self) {
        let heartbeats: Vec<Frame> = self.sent.iter().filter(|f| f.event == "heartbeat").cloned().collect();
        for heartbeat in heartbeats {
            self.reply(&heartbeat, "ok", json!({}));
        }
    }

    fn connect(&mut self) {
        self.socket.connect(self.now);
        self.drain();
    }

    fn open(&mut self) {
        let connection = self.connection.unwrap();
        self.socket.handle_open(connection, self.now);
        self.drain();
    }

    fn connect_open(&mut self) {
        self.connect();
        self.open();
    }

    fn server_close(&mut self, code: u16) {
        let connection = self.connection.unwrap();
        self.socket.handle_close(connection, code, "", self.now);
        self.drain();
    }

    fn server(&mut self, text: &str) {
        let connection = self.connection.unwrap();
        self.socket.handle_text(connection, text, self.now);
        self.drain();
    }

    fn reply(&mut self, frame: &Frame, status: &str, response: Value) {
        let text = json!([frame.join_ref, frame.msg_ref, frame.topic, "phx_reply", {"status": status, "response": response}]).to_string();
        self.server(&text);
    }

    fn take_sent(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn last_sent(&self, event: &str) -> Frame {
        self.sent.iter().rev().find(|f| f.event == event).cloned().unwrap_or_else(|| panic!("no {event} sent: {:?}", self.sent))
    }

    fn joined_channel(&mut self, topic: &str) -> ChannelId {
        let id = self.socket.channel(topic, json!({"p": 1}));
        self.socket.join(id, self.now).unwrap();
        self.drain();
        let join = self.last_sent("phx_join");
        self.reply(&join, "ok", json!({}));
        assert_eq!(self.socket.channel_state(id), Some(ChannelState::Joined));
        self.take_sent();
        self.take_events();
        id
    }

    fn push(&mut self, channel: ChannelId, event: &str, payload: Value) -> PushId {
        let id = self.socket.push(channel, event, Payload::Json(payload), self.now).unwrap();
        self.drain();
        id
    }

    fn settled(&self) -> Vec<(PushId, Result<Reply, PushError>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Channel { event: ChannelEvent::PushSettled { push, result }, .. } => Some((*push, result.clone())),
                _ => None,
            })
            .collect()
    }

    fn channel_events(&self, id: ChannelId) -> Vec<ChannelEvent> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Channel { channel, event } if *channel == id => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    fn connect_times(&self) -> Vec<Millis> {
        self.connects.iter().map(|(at, _, _)| *at).collect()
    }
}

// ---- socket: URL, auth, buffering ----

#[test]
fn connect_builds_the_url_and_auth_subprotocols() {
    let config = SocketConfig::with_options(
        "ws://h/socket",
        SocketOptions::default().with_params(json!({"token": "t0k"}).as_object().cloned().unwrap()).with_auth_token("user-42"),
    );
    let mut h = Harness::new(config);
    h.connect();
    assert_eq!(h.connects.len(), 1);
    let (_, url, protocols) = &h.connects[0];
    assert_eq!(url, "ws://h/socket/websocket?token=t0k&vsn=2.0.0");
    assert_eq!(protocols, &vec!["phoenix".to_owned(), "base64url.bearer.phx.dXNlci00Mg".to_owned()]);
    assert_eq!(h.socket.state(), ConnectionState::Connecting);
    h.connect();
    assert_eq!(h.connects.len(), 1, "connect is idempotent while connecting");
}

#[test]
fn lazy_params_and_token_are_evaluated_at_every_connect() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let counter = Arc::new(AtomicU32::new(0));
    let seen = counter.clone();
    let mut config = SocketConfig::new("ws://h/socket");
    config.options.params = Params::Lazy(std::rc::Rc::new(move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        json!({"n": n}).as_object().cloned().unwrap_or_default()
    }));
    config.options.auth_token = Some(AuthToken::Lazy(std::rc::Rc::new(|| "tok".to_owned())));
    let mut h = Harness::new(config);
    h.connect();
    h.server_close(1006);
    h.advance(10);
    let urls: Vec<&str> = h.connects.iter().map(|(_, url, _)| url.as_str()).collect();
    assert_eq!(urls, vec!["ws://h/socket/websocket?n=0&vsn=2.0.0", "ws://h/socket/websocket?n=1&vsn=2.0.0"]);
    assert_eq!(h.connects[1].2.len(), 2);
}

#[test]
fn relative_endpoint_without_a_page_reports_an_invalid_endpoint() {
    let mut h = Harness::new(SocketConfig::new("/socket"));
    h.connect();
    assert!(h.connects.is_empty());
    assert!(matches!(h.events.as_slice(), [Event::InvalidEndpoint(_)]));
    assert_eq!(h.socket.poll_timeout(), None, "no retry loop on a configuration error");
}

#[test]
fn frames_sent_while_connecting_are_flushed_in_order_on_open() {
    let mut h = Harness::default();
    h.connect();
    let a = h.socket.channel("a", json!({}));
    let b = h.socket.channel("b", json!({}));
    h.socket.join(a, 0).unwrap();
    h.socket.join(b, 0).unwrap();
    h.drain();
    assert!(h.sent.is_empty());
    h.open();
    let topics: Vec<&str> = h.sent.iter().map(|f| f.topic.as_str()).collect();
    assert_eq!(topics, vec!["a", "b"]);
    assert!(h.sent.iter().all(|f| f.event == "phx_join" && f.join_ref == f.msg_ref));
}

// ---- heartbeat ----

#[test]
fn heartbeat_every_30s_after_each_reply() {
    let mut h = Harness::default();
    h.connect_open();
    h.advance(29_999);
    assert!(h.sent.is_empty());
    h.advance(1);
    let heartbeat = h.last_sent("heartbeat");
    assert_eq!((heartbeat.join_ref.as_deref(), heartbeat.topic.as_str()), (None, "phoenix"));
    assert_eq!(heartbeat.body, Body::Message(Payload::empty_object()));
    h.take_sent();
    h.advance(5_000);
    h.reply(&heartbeat, "ok", json!({}));
    h.advance(29_999);
    assert!(h.sent.is_empty(), "the next heartbeat is 30 s after the reply");
    h.advance(1);
    assert_eq!(h.take_sent().len(), 1);
    assert!(h.closes.is_empty());
}

#[test]
fn other_traffic_does_not_reset_the_heartbeat_timer() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    for _ in 0..5 {
        h.advance(5_000);
        h.push(room, "ping", json!({}));
    }
    h.take_sent();
    h.advance(5_000);
    assert_eq!(h.last_sent("heartbeat").topic, "phoenix");
}

#[test]
fn heartbeat_timeout_closes_errors_channels_and_reconnects() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    h.advance(30_000);
    h.last_sent("heartbeat");
    h.advance(29_999);
    assert!(h.closes.is_empty());
    h.advance(1);
    assert_eq!(h.closes, vec![(1000, "heartbeat timeout".to_owned())]);
    assert_eq!(h.socket.state(), ConnectionState::Closed);
    assert!(h.channel_events(room).contains(&ChannelEvent::Errored(ErrorCause::HeartbeatTimeout)));
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Errored));
    assert_eq!(h.socket.next_reconnect_at(), Some(60_010));
    h.advance(10);
    assert_eq!(h.connect_times(), vec![0, 60_010]);
    // The old connection's late close is ignored.
    let stale = ConnectionId(1);
    h.socket.handle_close(stale, 1006, "", h.now);
    h.drain();
    assert_eq!(h.socket.state(), ConnectionState::Connecting);
}

// ---- reconnect ----

#[test]
fn reconnect_follows_the_exact_ladder_and_resets_after_open() {
    let mut h = Harness::default();
    h.connect();
    let mut gaps = vec![];
    for _ in 0..12 {
        h.server_close(1006);
        gaps.push(h.wait_for_connect());
    }
    assert_eq!(gaps, vec![10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000]);
    h.open();
    assert_eq!(h.socket.reconnect_attempts(), 0);
    h.server_close(1000);
    assert_eq!(h.socket.next_reconnect_at(), Some(h.now + 10), "a server close with 1000 is reconnected too, from the first step");
}

#[test]
fn reconnect_uses_a_configured_exponential_schedule_with_seeded_jitter() {
    let config = || {
        let mut config = SocketConfig::with_options(
            "ws://h/socket",
            SocketOptions::default().with_reconnect(Backoff::exponential(1000, 30_000).with_jitter(0.2)),
        );
        config.options.seed = 99;
        config
    };
    let run = || {
        let mut h = Harness::new(config());
        h.connect();
        let mut gaps = vec![];
        for _ in 0..7 {
            h.server_close(1006);
            gaps.push(h.wait_for_connect());
        }
        gaps
    };
    let gaps = run();
    assert_eq!(gaps, run(), "same seed, same schedule");
    for (gap, base) in gaps.iter().zip([1000u64, 2000, 4000, 8000, 16_000, 30_000, 30_000]) {
        assert!(*gap >= base * 8 / 10 && *gap <= base * 12 / 10, "{gap} not within 20% of {base}");
    }
}

#[test]
fn deliberate_disconnect_never_reconnects_until_connect() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    h.socket.disconnect(1000, "bye");
    h.drain();
    assert_eq!(h.closes, vec![(1000, "bye".to_owned())]);
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Errored));
    h.advance(60_000);
    assert_eq!(h.connects.len(), 1);
    h.connect_open();
    assert_eq!(h.connects.len(), 2);
    assert_eq!(h.last_sent("phx_join").topic, "room", "errored channels rejoin when the socket reopens");
}

#[test]
fn reconnect_now_skips_the_wait_but_not_a_deliberate_disconnect() {
    let mut h = Harness::default();
    h.connect();
    h.server_close(1006);
    h.advance(5);
    h.socket.reconnect_now(h.now);
    h.drain();
    assert_eq!(h.connect_times(), vec![0, 5]);
    h.socket.reconnect_now(h.now);
    h.drain();
    assert_eq!(h.connects.len(), 2, "no second attempt while connecting");
    h.socket.disconnect(1000, "");
    h.socket.reconnect_now(h.now);
    h.drain();
    assert_eq!(h.connects.len(), 2);
}

#[test]
fn a_connection_that_never_opens_times_out_and_retries() {
    let mut h = Harness::default();
    h.connect();
    h.advance(10_000);
    assert_eq!(h.closes, vec![(1000, "connect timeout".to_owned())]);
    h.advance(10);
    assert_eq!(h.connect_times(), vec![0, 10_010]);
}

// ---- channels: join, rejoin ----

#[test]
fn join_sends_params_with_join_ref_equal_to_ref() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.socket.channel("room:1", json!({"user": "u"}));
    h.socket.join(room, h.now).unwrap();
    h.drain();
    let join = h.last_sent("phx_join");
    assert_eq!(join.join_ref, join.msg_ref);
    assert_eq!(join.body, Body::Message(Payload::Json(json!({"user": "u"}))));
    h.reply(&join, "ok", json!({"welcome": true}));
    assert!(h.channel_events(room).contains(&ChannelEvent::Joined(Payload::Json(json!({"welcome": true})))));
    let push = h.push(room, "msg", json!({}));
    let sent = h.last_sent("msg");
    assert_eq!(sent.join_ref, join.join_ref, "messages carry the current join_ref");
    assert!(sent.msg_ref.as_deref().unwrap().parse::<u64>().unwrap() > join.msg_ref.as_deref().unwrap().parse::<u64>().unwrap());
    h.reply(&sent, "ok", json!({"n": 1}));
    assert_eq!(h.settled(), vec![(push, Ok(Reply::ok(json!({"n": 1}))))]);
}

#[test]
fn join_error_rejoins_on_the_exact_schedule() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.socket.channel("room", json!({}));
    h.socket.join(room, h.now).unwrap();
    h.drain();
    let mut gaps = vec![];
    for _ in 0..5 {
        let join = h.last_sent("phx_join");
        h.reply(&join, "error", json!({"reason": "nope"}));
        assert_eq!(h.socket.channel_state(room), Some(ChannelState::Errored));
        gaps.push(h.wait_for_sent("phx_join"));
    }
    assert_eq!(gaps, vec![1000, 2000, 5000, 10_000, 10_000]);
    assert!(h.channel_events(room).contains(&ChannelEvent::JoinRefused(Payload::Json(json!({"reason": "nope"})))));
    // A successful join resets the schedule.
    let join = h.last_sent("phx_join");
    h.reply(&join, "ok", json!({}));
    assert_eq!(h.socket.rejoin_attempts(room), Some(0));
}

#[test]
fn join_timeout_sends_leave_errors_and_rejoins() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.socket.channel("room", json!({}));
    h.socket.join(room, h.now).unwrap();
    h.drain();
    let first = h.last_sent("phx_join");
    h.advance(10_000);
    let leave = h.last_sent("phx_leave");
    assert_eq!(leave.join_ref, first.join_ref);
    assert!(h.channel_events(room).contains(&ChannelEvent::JoinTimeout));
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Errored));
    h.take_sent();
    h.advance(1_000);
    let second = h.last_sent("phx_join");
    assert_ne!(second.join_ref, first.join_ref);
    // The late reply to the first join is ignored (stale join_ref).
    h.reply(&first, "ok", json!({}));
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Joining));
    h.reply(&second, "ok", json!({}));
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Joined));
}

#[test]
fn unmatched_topic_join_reply_with_null_join_ref_is_a_join_error() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.socket.channel("nowhere", json!({}));
    h.socket.join(room, h.now).unwrap();
    h.drain();
    let join = h.last_sent("phx_join");
    h.server(
        &json!([null, join.msg_ref, "nowhere", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}]).to_string(),
    );
    assert!(h.channel_events(room).contains(&ChannelEvent::JoinRefused(Payload::Json(json!({"reason": "unmatched topic"})))));
}

// ---- pushes ----

#[test]
fn pushes_before_join_are_buffered_with_their_timeout_running() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.socket.channel("room", json!({}));
    assert_eq!(h.socket.push(room, "early", Payload::empty_object(), 0), Err(PushError::NotJoined));
    h.socket.join(room, h.now).unwrap();
    h.drain();
    let join = h.last_sent("phx_join");
    let first = h.push(room, "first", json!({}));
    h.advance(4_000);
    let second = h.push(room, "second", json!({}));
    h.advance(6_000); // first times out at 10 s; the join too
    assert_eq!(h.settled(), vec![(first, Err(PushError::Timeout))]);
    h.take_sent();
    h.advance(1_000); // rejoin
    let rejoin = h.last_sent("phx_join");
    assert_ne!(rejoin.msg_ref, join.msg_ref);
    h.reply(&rejoin, "ok", json!({}));
    let events: Vec<&str> = h.sent.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(events, vec!["phx_join", "second"], "only the live buffered push is sent");
    let sent = h.last_sent("second");
    assert_eq!(sent.join_ref, rejoin.join_ref);
    // Its timeout restarted when it was sent.
    h.advance(9_999);
    assert_eq!(h.settled().len(), 1);
    h.reply(&sent, "error", json!({"reason": "bad"}));
    assert_eq!(h.settled()[1], (second, Ok(Reply::error(json!({"reason": "bad"})))));
}

#[test]
fn push_timeout_then_late_reply_is_ignored() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let push = h.push(room, "slow", json!({}));
    let sent = h.last_sent("slow");
    h.advance(10_000);
    assert_eq!(h.settled(), vec![(push, Err(PushError::Timeout))]);
    h.reply(&sent, "ok", json!({}));
    assert_eq!(h.settled().len(), 1, "settled exactly once");
}

#[test]
fn binary_push_is_framed_and_overlong_fields_are_refused() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let push = h.socket.push(room, "chunk", Payload::Binary(vec![1, 2]), h.now);
    assert!(push.is_ok());
    h.drain();
    assert_eq!(h.last_sent("chunk").body, Body::Message(Payload::Binary(vec![1, 2])));
    let long_event = "e".repeat(256);
    assert_eq!(
        h.socket.push(room, &long_event, Payload::Binary(vec![]), h.now),
        Err(PushError::Encode(FrameError::FieldTooLong { field: "event", len: 256 }))
    );
}

// ---- routing ----

#[test]
fn stale_join_ref_messages_are_dropped_and_null_join_ref_is_delivered() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let join_ref = h.socket.channel_join_ref(room).unwrap().to_owned();
    h.server(&json!(["999", null, "room", "news", {"a": 1}]).to_string());
    h.server(&json!([null, null, "room", "news", {"a": 2}]).to_string());
    h.server(&json!([join_ref, null, "room", "news", {"a": 3}]).to_string());
    h.server(&json!([null, null, "other", "news", {"a": 4}]).to_string());
    let messages: Vec<ChannelEvent> = h.channel_events(room);
    assert_eq!(
        messages,
        vec![
            ChannelEvent::Message { event: "news".into(), payload: Payload::Json(json!({"a": 2})) },
            ChannelEvent::Message { event: "news".into(), payload: Payload::Json(json!({"a": 3})) },
        ]
    );
}

#[test]
fn server_phx_error_fails_in_flight_pushes_and_rejoins() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let push = h.push(room, "work", json!({}));
    let join_ref = h.socket.channel_join_ref(room).unwrap().to_owned();
    h.take_sent();
    h.server(&json!([join_ref, join_ref, "room", "phx_error", {}]).to_string());
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Errored));
    assert_eq!(h.settled(), vec![(push, Err(PushError::ChannelErrored))]);
    assert!(h.channel_events(room).contains(&ChannelEvent::Errored(ErrorCause::Server(Payload::Json(json!({}))))));
    h.advance(999);
    assert!(h.sent.is_empty());
    h.advance(1);
    assert_eq!(h.last_sent("phx_join").topic, "room");
    // Newer Phoenix payload form is accepted too.
    let join = h.last_sent("phx_join");
    h.reply(&join, "ok", json!({}));
    let join_ref = join.join_ref.unwrap();
    h.server(&json!([join_ref, join_ref, "room", "phx_error", {"reason": "channel_crash"}]).to_string());
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Errored));
}

#[test]
fn server_phx_close_removes_the_channel() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let push = h.push(room, "work", json!({}));
    let join_ref = h.socket.channel_join_ref(room).unwrap().to_owned();
    h.server(&json!([join_ref, join_ref, "room", "phx_close", {}]).to_string());
    assert_eq!(h.socket.channel_state(room), None);
    assert_eq!(h.settled(), vec![(push, Err(PushError::ChannelClosed))]);
    assert!(h.channel_events(room).contains(&ChannelEvent::Closed(CloseCause::Server)));
    assert_eq!(h.socket.push(room, "x", Payload::empty_object(), h.now), Err(PushError::ChannelClosed));
    h.server_close(1006);
    h.advance(100);
    h.open();
    assert!(h.take_sent().iter().all(|f| f.event != "phx_join"), "a closed channel never rejoins");
}

#[test]
fn transport_loss_fails_sent_pushes_keeps_buffered_ones_and_rejoins_on_open() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let lost = h.push(room, "sent", json!({}));
    h.server_close(1011);
    assert_eq!(h.settled(), vec![(lost, Err(PushError::ConnectionLost))]);
    assert!(h.channel_events(room).contains(&ChannelEvent::Errored(ErrorCause::ConnectionLost)));
    let kept = h.push(room, "while-down", json!({}));
    h.take_sent();
    h.advance(10);
    h.open();
    let join = h.last_sent("phx_join");
    h.reply(&join, "ok", json!({}));
    let sent = h.last_sent("while-down");
    h.reply(&sent, "ok", json!({}));
    assert_eq!(h.settled()[1], (kept, Ok(Reply::ok(json!({})))));
}

// ---- leave and one channel per topic ----

#[test]
fn leave_waits_for_the_reply_then_closes() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    h.socket.leave(room, h.now);
    h.drain();
    assert_eq!(h.socket.channel_state(room), Some(ChannelState::Leaving));
    let leave = h.last_sent("phx_leave");
    assert_eq!(leave.join_ref.as_deref(), h.socket.channel_join_ref(room));
    h.reply(&leave, "ok", json!({}));
    assert_eq!(h.socket.channel_state(room), None);
    assert!(h.channel_events(room).contains(&ChannelEvent::Closed(CloseCause::Left)));
}

#[test]
fn leave_times_out_or_completes_at_once_when_it_cannot_be_sent() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    h.socket.leave(room, h.now);
    h.drain();
    h.advance(10_000);
    assert_eq!(h.socket.channel_state(room), None);
    let offline = h.socket.channel("offline", json!({}));
    h.socket.join(offline, h.now).unwrap();
    h.server_close(1006);
    h.socket.leave(offline, h.now);
    h.drain();
    assert_eq!(h.socket.channel_state(offline), None);
}

#[test]
fn one_channel_object_per_topic_and_replace_leaves_the_old_one() {
    let mut h = Harness::default();
    h.connect_open();
    let old = h.joined_channel("musubi:connection");
    assert_eq!(h.socket.channel("musubi:connection", json!({})), old);
    let new = h.socket.replace_channel("musubi:connection", json!({}), h.now);
    assert_ne!(new, old);
    h.drain();
    assert_eq!(h.socket.channel_state(old), Some(ChannelState::Leaving));
    h.socket.join(new, h.now).unwrap();
    h.drain();
    let join = h.last_sent("phx_join");
    h.reply(&join, "ok", json!({}));
    // The transport drops before the old leave is answered: only the new channel rejoins.
    h.server_close(1006);
    assert_eq!(h.socket.channel_state(old), None);
    assert!(h.channel_events(old).contains(&ChannelEvent::Closed(CloseCause::Left)));
    h.take_sent();
    h.advance(10);
    h.open();
    let joins: Vec<Option<String>> = h.sent.iter().filter(|f| f.event == "phx_join").map(|f| f.topic.clone().into()).collect();
    assert_eq!(joins, vec![Some("musubi:connection".to_owned())]);
}

// ---- garbage ----

#[test]
fn garbage_frames_are_reported_and_the_connection_keeps_working() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let push = h.push(room, "work", json!({}));
    let sent = h.last_sent("work");
    h.server("not json");
    h.server("[1,2]");
    h.server(r#"[null,null,7,"e",{}]"#);
    h.server(&json!([sent.join_ref, sent.msg_ref, "room", "phx_reply", "not-an-object"]).to_string());
    let connection = h.connection.unwrap();
    h.socket.handle_binary(connection, &[0, 255, 1, 1], h.now);
    h.socket.handle_binary(connection, &[9], h.now);
    h.drain();
    let errors = h.events.iter().filter(|e| matches!(e, Event::FrameError(_))).count();
    assert_eq!(errors, 6);
    assert_eq!(h.socket.state(), ConnectionState::Open);
    h.reply(&sent, "ok", json!({"fine": true}));
    assert_eq!(h.settled(), vec![(push, Ok(Reply::ok(json!({"fine": true}))))]);
}

#[test]
fn binary_reply_settles_a_push() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    let push = h.push(room, "blob", json!({}));
    let sent = h.last_sent("blob");
    let reply = Frame::reply(
        sent.join_ref.clone(),
        sent.msg_ref.clone(),
        "room",
        Reply { status: ReplyStatus::Ok, response: Payload::Binary(vec![7]) },
    );
    let Ok(WireMessage::Binary(bytes)) = frame::encode_server(&reply) else { panic!("binary") };
    h.socket.handle_binary(h.connection.unwrap(), &bytes, h.now);
    h.drain();
    assert_eq!(h.settled(), vec![(push, Ok(Reply { status: ReplyStatus::Ok, response: Payload::Binary(vec![7]) }))]);
}

#[test]
fn refs_come_from_one_increasing_counter() {
    let mut h = Harness::default();
    h.connect_open();
    let room = h.joined_channel("room");
    for _ in 0..3 {
        h.push(room, "e", json!({}));
    }
    let refs: Vec<u64> = h.sent.iter().map(|f| f.msg_ref.as_deref().unwrap().parse().unwrap()).collect();
    assert!(refs.windows(2).all(|w| w[0] < w[1]), "{refs:?}");
}
