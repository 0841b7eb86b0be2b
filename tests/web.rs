//! Browser tests (headless Chromium via wasm-bindgen-test) of the WebSocket driver against a real
//! devserver started by the test script (`MUSUBI_TEST_SERVER`, baked in at compile time).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;

use musubi_wasm::browser::{JoinError, Socket, now};
use musubi_wasm::phoenix::{
    Backoff, ChannelEvent, ChannelState, ConnectionState, ErrorCause, Event, Payload, PushError, ReplyStatus, SocketOptions,
};
use serde_json::json;
use wasm_bindgen_test::*;

mod browser_support;

use browser_support::{post, sleep, socket_url, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

/// Every socket event with the time it was seen.
type EventLog = Rc<RefCell<Vec<(u64, Event)>>>;

/// Records every socket event with the time it was seen.
fn record(socket: &Socket) -> (EventLog, musubi_wasm::browser::Subscription) {
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let subscription = socket.on_event(move |event| sink.borrow_mut().push((now(), event.clone())));
    (events, subscription)
}

fn fast_options() -> SocketOptions {
    SocketOptions { heartbeat_interval_ms: 300, heartbeat_timeout_ms: 2_000, ..SocketOptions::default() }
}

#[wasm_bindgen_test]
async fn join_ok_and_join_error() {
    let socket = Socket::connect(&socket_url(), fast_options());
    let ok = socket.channel("echo:join-ok", json!({"hello": 1}));
    let response = ok.join().await.unwrap();
    let response = response.as_json().unwrap();
    assert_eq!(response["topic"], "echo:join-ok");
    assert_eq!(response["payload"], json!({"hello": 1}));
    assert_eq!(ok.state(), Some(ChannelState::Joined));
    assert_eq!(ok.join().await.unwrap().as_json().unwrap()["topic"], "echo:join-ok", "joining again resolves at once");

    let refused = socket.channel("echo:join-refused", json!({"reject": true}));
    assert_eq!(refused.join().await, Err(JoinError::Refused(Payload::Json(json!({"reason": "rejected"})))));
    assert_eq!(refused.state(), Some(ChannelState::Errored));
    refused.leave();
    assert_eq!(refused.state(), None);

    let unmatched = socket.channel("nowhere:1", json!({}));
    assert_eq!(unmatched.join().await, Err(JoinError::Refused(Payload::Json(json!({"reason": "unmatched topic"})))));
    unmatched.leave();
}

#[wasm_bindgen_test]
async fn push_reply_ok_error_and_timeout() {
    let options = SocketOptions { timeout_ms: 400, ..fast_options() };
    let socket = Socket::connect(&socket_url(), options);
    let channel = socket.channel("echo:push", json!({}));
    // Pushed before the join completes: buffered, then sent.
    let early = channel.push("echo", json!({"early": true}));
    channel.join().await.unwrap();
    let early = early.await.unwrap();
    assert_eq!(early.status, ReplyStatus::Ok);
    assert_eq!(early.response, Payload::Json(json!({"early": true})));

    let error = channel.push("error", json!({"reason": "nope"})).await.unwrap();
    assert_eq!(error.status, ReplyStatus::Error);
    assert_eq!(error.response, Payload::Json(json!({"reason": "nope"})));

    assert_eq!(channel.push("noreply", json!({})).await, Err(PushError::Timeout));
    assert_eq!(channel.push("late", json!({"ms": 800})).await, Err(PushError::Timeout));
    let late_ok = channel.push("late", json!({"ms": 50, "x": 1})).await.unwrap();
    assert_eq!(late_ok.response, Payload::Json(json!({"ms": 50, "x": 1})));
}

#[wasm_bindgen_test]
async fn server_push_and_broadcast_are_received() {
    let socket = Socket::connect(&socket_url(), fast_options());
    let other = Socket::connect(&socket_url(), fast_options());
    let channel = socket.channel("echo:news", json!({}));
    let peer = other.channel("echo:news", json!({}));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let _hello = channel.on("hello", move |payload| sink.borrow_mut().push(payload.clone()));
    let peer_seen = Rc::new(RefCell::new(Vec::new()));
    let peer_sink = peer_seen.clone();
    let news_subscription = peer.on("news", move |payload| peer_sink.borrow_mut().push(payload.clone()));
    channel.join().await.unwrap();
    peer.join().await.unwrap();

    channel.push("push", json!({"event": "hello", "payload": {"n": 1}})).await.unwrap();
    wait_until("server push", 2_000, || !seen.borrow().is_empty()).await;
    assert_eq!(seen.borrow()[0], Payload::Json(json!({"n": 1})));

    channel.push("broadcast", json!({"event": "news", "payload": {"n": 2}})).await.unwrap();
    wait_until("broadcast on the other socket", 2_000, || !peer_seen.borrow().is_empty()).await;
    assert_eq!(peer_seen.borrow()[0], Payload::Json(json!({"n": 2})));

    channel.push("push_binary", json!({"event": "hello", "bytes": [1, 2, 3]})).await.unwrap();
    wait_until("binary server push", 2_000, || seen.borrow().len() == 2).await;
    assert_eq!(seen.borrow()[1], Payload::Binary(vec![1, 2, 3]));

    // Dropping the subscription unsubscribes.
    drop(news_subscription);
    let still = Rc::new(RefCell::new(0));
    let counter = still.clone();
    let _still = peer.on("news", move |_| *counter.borrow_mut() += 1);
    channel.push("broadcast", json!({"event": "news", "payload": {"n": 3}})).await.unwrap();
    wait_until("broadcast to the remaining listener", 2_000, || *still.borrow() == 1).await;
    assert_eq!(peer_seen.borrow().len(), 1, "the dropped listener saw nothing more");
}

#[wasm_bindgen_test]
async fn coming_back_online_reconnects_without_waiting_for_the_schedule() {
    let options = SocketOptions { reconnect: Backoff::table(vec![], 60_000), ..fast_options() };
    let socket = Socket::connect(&socket_url(), options);
    let (events, _sub) = record(&socket);
    let channel = socket.channel("echo:online", json!({}));
    channel.join().await.unwrap();
    post("/_test/drop?code=4003").await;
    wait_until("a reconnect scheduled a minute away", 2_000, || {
        events.borrow().iter().any(|(_, e)| matches!(e, Event::ReconnectScheduled { delay: 60_000, .. }))
    })
    .await;
    assert_eq!(socket.state(), ConnectionState::Closed);
    let window = web_sys::window().unwrap();
    window.dispatch_event(&web_sys::Event::new("online").unwrap()).unwrap();
    wait_until("reconnected and rejoined", 3_000, || channel.state() == Some(ChannelState::Joined)).await;
    assert_eq!(socket.state(), ConnectionState::Open);
}

#[wasm_bindgen_test]
async fn binary_push_round_trips() {
    let socket = Socket::connect(&socket_url(), fast_options());
    let channel = socket.channel("echo:binary", json!({}));
    channel.join().await.unwrap();
    let bytes: Vec<u8> = (0..=255).collect();
    let reply = channel.push("chunk", Payload::Binary(bytes.clone())).await.unwrap();
    assert_eq!(reply.status, ReplyStatus::Ok);
    assert_eq!(reply.response, Payload::Binary(bytes));
}

#[wasm_bindgen_test]
async fn auth_token_and_params_reach_the_server() {
    let options = SocketOptions::default().with_auth_token("user-42").with_params(json!({"tenant": "acme"}).as_object().cloned().unwrap());
    let socket = Socket::connect(&socket_url(), options);
    let channel = socket.channel("echo:auth", json!({}));
    let response = channel.join().await.unwrap();
    let response = response.as_json().unwrap();
    assert_eq!(response["auth_token"], "user-42");
    assert_eq!(response["params"]["tenant"], "acme");
}

#[wasm_bindgen_test]
async fn heartbeat_keeps_an_idle_socket_alive_past_the_server_idle_timeout() {
    // The test script runs the devserver with --idle-timeout-ms 1500.
    let alive = Socket::connect(&socket_url(), fast_options());
    let silent = Socket::connect(&socket_url(), SocketOptions::default());
    let (alive_events, _a) = record(&alive);
    let (silent_events, _s) = record(&silent);
    let channel = alive.channel("echo:idle", json!({}));
    channel.join().await.unwrap();
    wait_until("silent socket open", 2_000, || silent.state() == ConnectionState::Open).await;
    sleep(3_500).await;
    let closes = |events: &EventLog| events.borrow().iter().filter(|(_, e)| matches!(e, Event::TransportClosed { .. })).count();
    assert_eq!(closes(&alive_events), 0, "heartbeats kept the socket open");
    assert_eq!(alive.state(), ConnectionState::Open);
    assert!(channel.push("echo", json!({})).await.unwrap().is_ok());
    assert!(closes(&silent_events) >= 1, "without heartbeats the server dropped the idle socket");
}

#[wasm_bindgen_test]
async fn dropped_connection_reconnects_on_schedule_and_rejoins() {
    let socket = Socket::connect(&socket_url(), fast_options());
    let (events, _sub) = record(&socket);
    let channel = socket.channel("echo:drop", json!({}));
    channel.join().await.unwrap();
    let joins = Rc::new(RefCell::new(0));
    let counter = joins.clone();
    let _joined = channel.on_event(move |event| {
        if matches!(event, ChannelEvent::Joined(_)) {
            *counter.borrow_mut() += 1;
        }
    });
    let dropped = post("/_test/drop?code=4001").await;
    assert!(dropped["dropped"].as_u64().unwrap() >= 1);
    wait_until("rejoin", 3_000, || *joins.borrow() == 1).await;
    let events = events.borrow().clone();
    let closed =
        events.iter().find_map(|(at, e)| matches!(e, Event::TransportClosed { code: 4001, .. }).then_some(*at)).expect("close 4001 seen");
    let scheduled = events.iter().find_map(|(_, e)| match e {
        Event::ReconnectScheduled { attempt, delay, .. } => Some((*attempt, *delay)),
        _ => None,
    });
    assert_eq!(scheduled, Some((1, 10)), "first reconnect 10 ms after the close");
    assert!(
        events
            .iter()
            .any(|(at, e)| *at >= closed && matches!(e, Event::Channel { event: ChannelEvent::Errored(ErrorCause::ConnectionLost), .. }))
    );
    assert_eq!(channel.state(), Some(ChannelState::Joined));
    assert!(channel.push("echo", json!({"after": "drop"})).await.unwrap().is_ok());
}

#[wasm_bindgen_test]
async fn refused_connections_follow_the_backoff_ladder() {
    let socket = Socket::connect(&socket_url(), fast_options());
    let (events, _sub) = record(&socket);
    let channel = socket.channel("echo:pause", json!({}));
    channel.join().await.unwrap();
    post("/_test/pause?ms=1200").await;
    post("/_test/drop?code=4002").await;
    wait_until("the drop", 2_000, || events.borrow().iter().any(|(_, e)| matches!(e, Event::TransportClosed { code: 4002, .. }))).await;
    wait_until("reconnected after the pause", 6_000, || {
        socket.state() == ConnectionState::Open && channel.state() == Some(ChannelState::Joined)
    })
    .await;
    let delays: Vec<(u32, u64)> = events
        .borrow()
        .iter()
        .filter_map(|(_, e)| match e {
            Event::ReconnectScheduled { attempt, delay, .. } => Some((*attempt, *delay)),
            _ => None,
        })
        .collect();
    let ladder = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];
    assert!(delays.len() >= 4, "several refused attempts: {delays:?}");
    for (index, (attempt, delay)) in delays.iter().enumerate() {
        assert_eq!(*attempt as usize, index + 1);
        assert_eq!(*delay, ladder[index], "attempt {attempt}");
    }
    assert!(channel.push("echo", json!({})).await.unwrap().is_ok());
}

#[wasm_bindgen_test]
async fn crashed_channel_errors_and_rejoins() {
    let socket = Socket::connect(&socket_url(), fast_options());
    let channel = socket.channel("echo:crash-me", json!({}));
    channel.join().await.unwrap();
    let errored = Rc::new(RefCell::new(Vec::new()));
    let sink = errored.clone();
    let _sub = channel.on_event(move |event| {
        if let ChannelEvent::Errored(cause) = event {
            sink.borrow_mut().push(cause.clone());
        }
    });
    post("/_test/crash?topic=echo:crash-me").await;
    wait_until("phx_error", 2_000, || !errored.borrow().is_empty()).await;
    assert!(matches!(errored.borrow()[0], ErrorCause::Server(_)));
    wait_until("rejoin after 1 s", 3_000, || channel.state() == Some(ChannelState::Joined)).await;
    assert!(channel.push("echo", json!({})).await.unwrap().is_ok());
}

#[wasm_bindgen_test]
async fn garbage_frames_are_reported_and_the_connection_keeps_working() {
    let socket = Socket::connect(&socket_url(), fast_options());
    let (events, _sub) = record(&socket);
    let channel = socket.channel("echo:garbage", json!({}));
    channel.join().await.unwrap();
    let reply = channel.push("garbage", json!({})).await.unwrap();
    assert_eq!(reply.response, Payload::Json(json!({"sent": 5})));
    let errors = events.borrow().iter().filter(|(_, e)| matches!(e, Event::FrameError(_))).count();
    assert_eq!(errors, 5);
    assert_eq!(socket.state(), ConnectionState::Open);
    assert!(!events.borrow().iter().any(|(_, e)| matches!(e, Event::TransportClosed { .. })));
    assert!(channel.push("echo", json!({"still": "fine"})).await.unwrap().is_ok());
}
