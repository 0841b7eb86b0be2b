//! Host integration tests: the Phoenix Channels v2 server (PROTOCOL.md §1), the `echo:*` test
//! channel and the `/_test/` endpoints, driven over real WebSockets against an in-process server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use musubi_devserver::ServerConfig;
use musubi_wasm::phoenix::frame::{Frame, Payload, Reply, ReplyStatus, WireMessage, decode_server_binary, encode_client};
use serde_json::{Value, json};
use support::{Client, End, TOKEN_PROTOCOLS, config, http, post, reply_frame, start, stats};

const VSN: &str = "vsn=2.0.0";

/// A client joined to `topic` with join_ref "1".
async fn joined(address: std::net::SocketAddr, topic: &str) -> Client {
    let mut client = Client::connect(address, VSN).await;
    client.join_ok(topic, "1").await;
    client
}

// ---- handshake -------------------------------------------------------------------------------

#[tokio::test]
async fn vsn_must_be_2_0_0() {
    let address = start(config()).await;
    assert_eq!(Client::refused_status(address, "").await, 400);
    assert_eq!(Client::refused_status(address, "vsn=1.0.0").await, 400);
    assert_eq!(Client::refused_status(address, "token=x").await, 400);
    assert_eq!(http(address, "GET", "/socket/websocket?vsn=3", "").await.status, 400);
    assert_eq!(stats(address).await["connects"], 0);
    Client::connect(address, VSN).await;
}

#[tokio::test]
async fn heartbeat_is_answered_immediately() {
    let address = start(config()).await;
    let mut client = Client::connect(address, VSN).await;
    let reply = client.request(Value::Null, "7", "phoenix", "heartbeat", json!({})).await;
    assert_eq!(reply, json!([null, "7", "phoenix", "phx_reply", {"status": "ok", "response": {}}]));
}

// ---- join ------------------------------------------------------------------------------------

#[tokio::test]
async fn join_reply_carries_topic_token_params_and_payload() {
    let address = start(config()).await;
    let query = "user=alice&a%5Bb%5D=1&vsn=2.0.0";
    let mut client = Client::try_connect(address, query, Some(TOKEN_PROTOCOLS)).await.unwrap();
    assert_eq!(client.protocol.as_deref(), Some("phoenix"));
    let reply = client.join("echo:room", "3", json!({"x": 1})).await;
    let response = json!({
        "topic": "echo:room",
        "auth_token": "user-42",
        "params": {"user": "alice", "a[b]": "1"},
        "payload": {"x": 1},
    });
    assert_eq!(reply, reply_frame(json!("3"), "3", "echo:room", "ok", response));
}

#[tokio::test]
async fn join_without_token_has_null_token_and_no_subprotocol() {
    let address = start(config()).await;
    let mut client = Client::connect(address, VSN).await;
    assert_eq!(client.protocol, None);
    // A join with a null join_ref uses its ref as the channel's join_ref.
    let reply = client.request(Value::Null, "5", "echo:a", "phx_join", json!({})).await;
    let response = json!({"topic": "echo:a", "auth_token": null, "params": {}, "payload": {}});
    assert_eq!(reply, reply_frame(json!("5"), "5", "echo:a", "ok", response));
    let reply = client.request(json!("5"), "6", "echo:a", "echo", json!({"k": 1})).await;
    assert_eq!(reply, reply_frame(json!("5"), "6", "echo:a", "ok", json!({"k": 1})));
}

#[tokio::test]
async fn join_can_be_rejected_or_crash() {
    let address = start(config()).await;
    let mut client = Client::connect(address, VSN).await;
    let reply = client.join("echo:r", "1", json!({"reject": true})).await;
    assert_eq!(reply, reply_frame(json!("1"), "1", "echo:r", "error", json!({"reason": "rejected"})));
    let reply = client.join("echo:r", "2", json!([1, 2])).await;
    assert_eq!(reply, reply_frame(json!("2"), "2", "echo:r", "error", json!({"reason": "join crashed"})));
    // Neither join left a channel behind.
    let reply = client.request(json!("2"), "3", "echo:r", "echo", json!({})).await;
    assert_eq!(reply, reply_frame(Value::Null, "3", "echo:r", "error", json!({"reason": "unmatched topic"})));
}

#[tokio::test]
async fn unmatched_topics_get_an_error_reply() {
    let address = start(config()).await;
    let mut client = Client::connect(address, VSN).await;
    let unmatched = json!({"reason": "unmatched topic"});
    let reply = client.join("nope:1", "1", json!({})).await;
    assert_eq!(reply, reply_frame(Value::Null, "1", "nope:1", "error", unmatched.clone()));
    let reply = client.request(json!("1"), "2", "echo:never", "echo", json!({})).await;
    assert_eq!(reply, reply_frame(Value::Null, "2", "echo:never", "error", unmatched.clone()));
    let reply = client.request(Value::Null, "3", "phoenix", "other", json!({})).await;
    assert_eq!(reply, reply_frame(Value::Null, "3", "phoenix", "error", unmatched));
}

#[tokio::test]
async fn messages_with_a_stale_join_ref_are_dropped() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:s").await;
    client.send(json!(["9", "2", "echo:s", "echo", {}])).await;
    client.send(json!([null, "3", "echo:s", "echo", {}])).await;
    client.send(json!(["9", "4", "echo:s", "phx_leave", {}])).await;
    client.expect_silence(200).await;
    let reply = client.request(json!("1"), "5", "echo:s", "echo", json!({"still": "joined"})).await;
    assert_eq!(reply, reply_frame(json!("1"), "5", "echo:s", "ok", json!({"still": "joined"})));
}

#[tokio::test]
async fn duplicate_join_closes_the_old_join_ref() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:d").await;
    client.send(json!(["5", "5", "echo:d", "phx_join", {"again": true}])).await;
    assert_eq!(client.recv_json().await, json!(["1", "1", "echo:d", "phx_close", {}]));
    let reply = client.recv_json().await;
    assert_eq!(reply[0], "5");
    assert_eq!(reply[4]["status"], "ok");
    assert_eq!(reply[4]["response"]["payload"], json!({"again": true}));
    client.send(json!(["1", "6", "echo:d", "echo", {}])).await;
    client.expect_silence(150).await;
    let reply = client.request(json!("5"), "7", "echo:d", "echo", json!({})).await;
    assert_eq!(reply, reply_frame(json!("5"), "7", "echo:d", "ok", json!({})));
}

// ---- leave -----------------------------------------------------------------------------------

#[tokio::test]
async fn leave_replies_then_closes() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:l").await;
    let reply = client.request(json!("1"), "2", "echo:l", "phx_leave", json!({})).await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:l", "ok", json!({})));
    assert_eq!(client.recv_json().await, json!(["1", "1", "echo:l", "phx_close", {}]));
    let reply = client.request(json!("1"), "3", "echo:l", "echo", json!({})).await;
    assert_eq!(reply, reply_frame(Value::Null, "3", "echo:l", "error", json!({"reason": "unmatched topic"})));
    // Leaving a topic that is not joined is still acknowledged, with the message's join_ref.
    let reply = client.request(json!("8"), "4", "echo:l", "phx_leave", json!({})).await;
    assert_eq!(reply, reply_frame(json!("8"), "4", "echo:l", "ok", json!({})));
    client.expect_silence(150).await;
}

// ---- echo channel events ---------------------------------------------------------------------

#[tokio::test]
async fn echo_and_unknown_events_reply_ok_with_the_payload() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:e").await;
    let reply = client.request(json!("1"), "2", "echo:e", "echo", json!({"a": [1, 2]})).await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:e", "ok", json!({"a": [1, 2]})));
    let reply = client.request(json!("1"), "3", "echo:e", "whatever", json!({"b": null})).await;
    assert_eq!(reply, reply_frame(json!("1"), "3", "echo:e", "ok", json!({"b": null})));
}

#[tokio::test]
async fn error_event_replies_error_with_the_payload() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:e").await;
    let reply = client.request(json!("1"), "2", "echo:e", "error", json!({"reason": "nope"})).await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:e", "error", json!({"reason": "nope"})));
}

#[tokio::test]
async fn late_replies_after_the_delay_unless_the_channel_is_gone() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:t").await;
    let started = std::time::Instant::now();
    client.send(json!(["1", "2", "echo:t", "late", {"ms": 200, "tag": "x"}])).await;
    // A later request is answered first.
    let reply = client.request(json!("1"), "3", "echo:t", "echo", json!({})).await;
    assert_eq!(reply[1], "3");
    let reply = client.recv_json().await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:t", "ok", json!({"ms": 200, "tag": "x"})));
    assert!(started.elapsed() >= Duration::from_millis(190), "{:?}", started.elapsed());
    // Re-joined before the delay ends: the reply belongs to the old join and is dropped.
    client.send(json!(["1", "4", "echo:t", "late", {"ms": 150}])).await;
    client.send(json!(["5", "5", "echo:t", "phx_join", {}])).await;
    assert_eq!(client.recv_json().await, json!(["1", "1", "echo:t", "phx_close", {}]));
    assert_eq!(client.recv_json().await[1], "5");
    // Left before the delay ends: dropped too.
    client.send(json!(["5", "6", "echo:t", "late", {"ms": 100}])).await;
    client.send(json!(["5", "7", "echo:t", "phx_leave", {}])).await;
    assert_eq!(client.recv_json().await[1], "7");
    assert_eq!(client.recv_json().await[3], "phx_close");
    client.expect_silence(300).await;
}

#[tokio::test]
async fn noreply_never_replies() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:n").await;
    client.send(json!(["1", "2", "echo:n", "noreply", {}])).await;
    client.expect_silence(200).await;
}

#[tokio::test]
async fn push_replies_then_pushes_to_this_client() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:p").await;
    let reply = client.request(json!("1"), "2", "echo:p", "push", json!({"event": "hello", "payload": {"n": 1}})).await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:p", "ok", json!({})));
    assert_eq!(client.recv_json().await, json!(["1", null, "echo:p", "hello", {"n": 1}]));
    // A malformed push request crashes the channel.
    client.send(json!(["1", "3", "echo:p", "push", {"payload": {}}])).await;
    assert_eq!(client.recv_json().await, json!(["1", "1", "echo:p", "phx_error", {}]));
}

#[tokio::test]
async fn broadcast_reaches_every_socket_with_the_topic_joined() {
    let address = start(config()).await;
    let mut sender = joined(address, "echo:b").await;
    let mut listener = Client::connect(address, VSN).await;
    listener.join_ok("echo:b", "7").await;
    let mut elsewhere = joined(address, "echo:other").await;
    let reply = sender.request(json!("1"), "2", "echo:b", "broadcast", json!({"event": "news", "payload": {"v": 2}})).await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:b", "ok", json!({})));
    let expected = json!([null, null, "echo:b", "news", {"v": 2}]);
    assert_eq!(sender.recv_json().await, expected);
    assert_eq!(listener.recv_json().await, expected);
    elsewhere.expect_silence(200).await;
}

#[tokio::test]
async fn push_binary_sends_a_binary_push() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:bin").await;
    let reply = client.request(json!("1"), "2", "echo:bin", "push_binary", json!({"event": "blob", "bytes": [1, 2, 255]})).await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:bin", "ok", json!({})));
    let bytes = client.recv_binary().await;
    let mut expected = vec![0x00, 1, 8, 4];
    expected.extend_from_slice(b"1echo:binblob");
    expected.extend_from_slice(&[1, 2, 255]);
    assert_eq!(bytes, expected);
    let frame = decode_server_binary(&bytes).unwrap();
    assert_eq!(frame, Frame::message(Some("1".into()), None, "echo:bin", "blob", Payload::Binary(vec![1, 2, 255])));
}

#[tokio::test]
async fn binary_push_gets_a_binary_reply_with_the_same_bytes() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:bin").await;
    let push = Frame::message(Some("1".into()), Some("2".into()), "echo:bin", "upload", Payload::Binary(vec![0xDE, 0xAD, 0xBE, 0xEF]));
    let Ok(WireMessage::Binary(bytes)) = encode_client(&push) else { panic!("binary expected") };
    client.send_binary(bytes).await;
    let reply = decode_server_binary(&client.recv_binary().await).unwrap();
    let expected = Reply { status: ReplyStatus::Ok, response: Payload::Binary(vec![0xDE, 0xAD, 0xBE, 0xEF]) };
    assert_eq!(reply, Frame::reply(Some("1".into()), Some("2".into()), "echo:bin", expected));
}

#[tokio::test]
async fn crash_sends_phx_error_and_no_reply() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:c").await;
    client.send(json!(["1", "2", "echo:c", "crash", {}])).await;
    assert_eq!(client.recv_json().await, json!(["1", "1", "echo:c", "phx_error", {}]));
    client.expect_silence(150).await;
    let reply = client.request(json!("1"), "3", "echo:c", "echo", json!({})).await;
    assert_eq!(reply, reply_frame(Value::Null, "3", "echo:c", "error", json!({"reason": "unmatched topic"})));
    // The socket itself is fine: the topic can be joined again.
    client.join_ok("echo:c", "4").await;
}

#[tokio::test]
async fn stop_replies_then_closes() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:st").await;
    let reply = client.request(json!("1"), "2", "echo:st", "stop", json!({})).await;
    assert_eq!(reply, reply_frame(json!("1"), "2", "echo:st", "ok", json!({})));
    assert_eq!(client.recv_json().await, json!(["1", "1", "echo:st", "phx_close", {}]));
    let reply = client.request(json!("1"), "3", "echo:st", "echo", json!({})).await;
    assert_eq!(reply[4]["response"], json!({"reason": "unmatched topic"}));
}

#[tokio::test]
async fn garbage_sends_five_bad_frames_then_replies() {
    let address = start(config()).await;
    let mut client = joined(address, "echo:g").await;
    client.send(json!(["1", "2", "echo:g", "garbage", {}])).await;
    assert_eq!(client.recv_text().await, "not json");
    assert_eq!(client.recv_text().await, "[1,2]");
    assert_eq!(client.recv_text().await, r#"[null,null,7,"e",{}]"#);
    assert_eq!(client.recv_binary().await, vec![0x09]);
    assert_eq!(client.recv_binary().await, vec![0x00, 0xFF, 0x01, 0x01]);
    assert_eq!(client.recv_json().await, reply_frame(json!("1"), "2", "echo:g", "ok", json!({"sent": 5})));
}

#[tokio::test]
async fn invalid_client_frames_close_the_socket() {
    let address = start(config()).await;
    for bad in ["not json", "[1,2]", r#"{"a":1}"#] {
        let mut client = Client::connect(address, VSN).await;
        client.send_text(bad).await;
        assert_eq!(client.end(Duration::from_secs(2)).await, End::Closed(1011, "invalid frame".into()), "{bad}");
    }
    let mut client = Client::connect(address, VSN).await;
    client.send_binary(vec![0x01, 0, 0, 0, 0]).await;
    assert_eq!(client.end(Duration::from_secs(2)).await, End::Closed(1011, "invalid frame".into()));
}

// ---- idle timeout ----------------------------------------------------------------------------

fn short_idle() -> ServerConfig {
    ServerConfig { idle_timeout: Duration::from_millis(300), ..config() }
}

#[tokio::test]
async fn idle_socket_is_dropped_without_a_close_frame() {
    let address = start(short_idle()).await;
    let mut client = joined(address, "echo:i").await;
    let started = std::time::Instant::now();
    assert_eq!(client.end(Duration::from_secs(2)).await, End::Abrupt);
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
}

#[tokio::test]
async fn heartbeats_keep_a_socket_alive() {
    let address = start(short_idle()).await;
    let mut client = Client::connect(address, VSN).await;
    for n in 0..8 {
        tokio::time::sleep(Duration::from_millis(120)).await;
        client.heartbeat(&n.to_string()).await;
    }
    // ~1 s, more than three idle timeouts, and still connected.
    assert_eq!(stats(address).await["sockets"], 1);
    client.join_ok("echo:alive", "9").await;
}

// ---- test endpoints --------------------------------------------------------------------------

#[tokio::test]
async fn test_drop_closes_every_socket_with_the_code() {
    let address = start(config()).await;
    let mut first = joined(address, "echo:x").await;
    let mut second = Client::connect(address, VSN).await;
    assert_eq!(post(address, "/_test/drop?code=4000").await, json!({"dropped": 2}));
    assert_eq!(first.end(Duration::from_secs(2)).await, End::Closed(4000, "test drop".into()));
    assert_eq!(second.end(Duration::from_secs(2)).await, End::Closed(4000, "test drop".into()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(stats(address).await["sockets"], 0);
    assert_eq!(post(address, "/_test/drop?code=1001").await, json!({"dropped": 0}));
}

#[tokio::test]
async fn test_pause_refuses_new_upgrades_then_accepts() {
    let address = start(config()).await;
    let mut existing = Client::connect(address, VSN).await;
    assert_eq!(post(address, "/_test/pause?ms=500").await, json!({}));
    assert_eq!(Client::refused_status(address, VSN).await, 503);
    assert_eq!(Client::refused_status(address, VSN).await, 503);
    existing.heartbeat("1").await;
    tokio::time::sleep(Duration::from_millis(550)).await;
    let mut fresh = Client::connect(address, VSN).await;
    fresh.heartbeat("1").await;
    let stats = stats(address).await;
    assert_eq!((stats["refused"].clone(), stats["connects"].clone()), (json!(2), json!(2)));
}

#[tokio::test]
async fn test_crash_crashes_the_topic_on_every_socket() {
    let address = start(config()).await;
    let mut first = joined(address, "echo:k").await;
    let mut second = Client::connect(address, VSN).await;
    second.join_ok("echo:k", "4").await;
    second.join_ok("echo:keep", "5").await;
    let mut bystander = joined(address, "echo:other").await;
    assert_eq!(post(address, "/_test/crash?topic=echo:k").await, json!({"crashed": 2}));
    assert_eq!(first.recv_json().await, json!(["1", "1", "echo:k", "phx_error", {}]));
    assert_eq!(second.recv_json().await, json!(["4", "4", "echo:k", "phx_error", {}]));
    bystander.expect_silence(100).await;
    let reply = second.request(json!("5"), "6", "echo:keep", "echo", json!({})).await;
    assert_eq!(reply[4]["status"], "ok");
    assert_eq!(post(address, "/_test/crash?topic=echo:k").await, json!({"crashed": 0}));
}

#[tokio::test]
async fn stats_count_sockets_connects_refused_and_heartbeats() {
    let address = start(config()).await;
    assert_eq!(stats(address).await, json!({"sockets": 0, "connects": 0, "refused": 0, "heartbeats": 0, "mounts": 0, "roots": 0}));
    let mut first = Client::connect(address, VSN).await;
    let mut second = Client::connect(address, VSN).await;
    first.heartbeat("1").await;
    first.heartbeat("2").await;
    second.heartbeat("1").await;
    assert_eq!(stats(address).await, json!({"sockets": 2, "connects": 2, "refused": 0, "heartbeats": 3, "mounts": 0, "roots": 0}));
    drop(second);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stats(address).await, json!({"sockets": 1, "connects": 2, "refused": 0, "heartbeats": 3, "mounts": 0, "roots": 0}));
}

#[tokio::test]
async fn test_endpoints_are_off_by_default() {
    let address = start(ServerConfig::default()).await;
    assert_eq!(http(address, "GET", "/_test/stats", "").await.status, 404);
    assert_eq!(http(address, "POST", "/_test/drop?code=4000", "").await.status, 404);
    Client::connect(address, VSN).await.heartbeat("1").await;
}

#[tokio::test]
async fn test_endpoints_allow_cross_origin_calls() {
    let address = start(config()).await;
    let preflight = "Origin: http://localhost:9999\r\nAccess-Control-Request-Method: POST\r\n";
    let response = http(address, "OPTIONS", "/_test/drop?code=4000", preflight).await;
    assert_eq!(response.status, 200, "{response:?}");
    assert!(response.headers.contains("access-control-allow-origin: *"), "{}", response.headers);
    assert!(response.headers.contains("access-control-allow-methods: *"), "{}", response.headers);
    let response = http(address, "GET", "/_test/stats", "Origin: http://localhost:9999\r\n").await;
    assert!(response.headers.contains("access-control-allow-origin: *"), "{}", response.headers);
}

#[tokio::test]
async fn static_dir_is_served_at_the_root() {
    let dir = std::env::temp_dir().join(format!("musubi-devserver-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>demo</h1>").unwrap();
    let address = start(ServerConfig { static_dir: Some(dir.clone()), ..ServerConfig::default() }).await;
    let response = http(address, "GET", "/", "").await;
    assert_eq!((response.status, response.body), (200, json!("<h1>demo</h1>")));
    assert_eq!(http(address, "GET", "/missing.js", "").await.status, 404);
    Client::connect(address, VSN).await.heartbeat("1").await;
    std::fs::remove_dir_all(dir).unwrap();
}
