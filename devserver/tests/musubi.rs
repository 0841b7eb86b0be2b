//! Host integration tests of the `musubi:*` connection channel (PROTOCOL.md §2): join, mount,
//! unmount and command validation, replies, crashes, upload events and the `/_test/` endpoints
//! for Musubi, over real WebSockets against an in-process server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::musubi::{BIG, BOARD, COUNTER, Conn, Replica, TOPIC, VSN, reply_ok};
use support::{Client, config, post, reply_frame, start, stats};

// ---- join ------------------------------------------------------------------------------------

#[tokio::test]
async fn join_replies_empty_and_needs_an_object() {
    let address = start(config()).await;
    let mut client = Client::connect(address, VSN).await;
    assert_eq!(client.join("musubi:other", "1", json!({"any": 1})).await, reply_frame(json!("1"), "1", "musubi:other", "ok", json!({})));
    assert_eq!(
        client.join("musubi:x", "2", json!("nope")).await,
        reply_frame(json!("2"), "2", "musubi:x", "error", json!({"reason": "join crashed"}))
    );
}

// ---- mount -----------------------------------------------------------------------------------

#[tokio::test]
async fn mount_replies_then_sends_the_exact_initial_envelope() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.client.send(json!(["1", "4", TOPIC, "mount", {"module": COUNTER, "id": "counter-1", "params": {"start": 5}}])).await;
    assert_eq!(conn.client.recv_json().await, reply_frame(json!("1"), "4", TOPIC, "ok", json!({"root_id": "counter-1"})));
    let envelope = json!({
        "type": "patch", "root_id": "counter-1", "base_version": 0, "version": 1,
        "ops": [{"op": "replace", "path": "", "value": {
            "__musubi_store_id__": [], "count": 5, "label": "Counter", "log": {"__musubi_stream__": "log"},
        }}],
        "stream_ops": [], "upload_ops": [], "events": [],
    });
    assert_eq!(conn.client.recv_json().await, json!(["1", null, TOPIC, "patch", envelope]));
    conn.client.expect_silence(100).await;
    // Params are optional.
    let initial = conn.mount(COUNTER, "counter-2", json!({})).await;
    assert_eq!(initial["ops"][0]["value"]["count"], 0);
    let reply = conn.request("mount", json!({"module": COUNTER, "id": "counter-3"})).await;
    assert_eq!(reply, ("ok".to_owned(), json!({"root_id": "counter-3"})));
    conn.envelope().await;
}

#[tokio::test]
async fn mount_validation_reasons_come_in_order() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "taken", json!({})).await;
    let cases = [
        (json!({"id": "a", "params": {}}), "missing required field"),
        (json!({"module": "", "id": "a"}), "missing required field"),
        (json!({"module": 7, "id": "a"}), "missing required field"),
        (json!({"module": null, "id": "", "params": null}), "missing required field"),
        (json!({"module": COUNTER}), "missing root id"),
        (json!({"module": COUNTER, "id": ""}), "missing root id"),
        (json!({"module": COUNTER, "id": 5}), "missing root id"),
        (json!({"module": COUNTER, "root_id": "a"}), "missing root id"),
        (json!({"module": COUNTER, "params": 1}), "missing root id"),
        (json!({"module": COUNTER, "id": "a", "params": null}), "params must be a map"),
        (json!({"module": COUNTER, "id": "a", "params": [1]}), "params must be a map"),
        (json!({"module": COUNTER, "id": "taken", "params": "x"}), "params must be a map"),
        (json!({"module": COUNTER, "id": "taken", "params": {}}), "root already mounted"),
        (json!({"module": "Nope.Store", "id": "taken"}), "root already mounted"),
        (json!({"module": "Nope.Store", "id": "a"}), "unknown root"),
        (json!({"module": "Elixir.Demo.CounterStore", "id": "a"}), "unknown root"),
    ];
    for (payload, reason) in cases {
        conn.refused("mount", payload, reason).await;
    }
    conn.client.expect_silence(100).await;
    assert_eq!(stats(address).await["mounts"], 1);
}

#[tokio::test]
async fn a_mount_whose_params_raise_crashes_the_channel() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.push("mount", json!({"module": COUNTER, "id": "c", "params": {"start": "five"}})).await;
    conn.expect_crash().await;
    conn.client.expect_silence(100).await;
    assert_eq!(stats(address).await["roots"], 0);
}

// ---- unmount ---------------------------------------------------------------------------------

#[tokio::test]
async fn unmount_then_command_or_unmount_is_unknown_root() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "u", json!({})).await;
    conn.refused("unmount", json!({}), "missing required field").await;
    conn.refused("unmount", json!({"root_id": ""}), "missing required field").await;
    conn.refused("unmount", json!({"id": "u"}), "missing required field").await;
    assert_eq!(conn.request("unmount", json!({"root_id": "u"})).await, reply_ok());
    conn.refused("command", json!({"root_id": "u", "store_id": [], "name": "increment", "payload": {}}), "unknown root").await;
    conn.refused("unmount", json!({"root_id": "u"}), "unknown root").await;
    // The id can be mounted again; a fresh subscriber starts at 0 → 1 again.
    conn.mount(COUNTER, "u", json!({})).await;
    let stats = stats(address).await;
    assert_eq!((stats["mounts"].clone(), stats["roots"].clone()), (json!(2), json!(1)));
}

#[tokio::test]
async fn leaving_the_channel_or_closing_the_socket_stops_its_roots() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "a", json!({})).await;
    conn.mount(BIG, "b", json!({"nodes": 10})).await;
    assert_eq!(stats(address).await["roots"], 2);
    let msg_ref = conn.push("phx_leave", json!({})).await;
    assert_eq!(conn.reply(&msg_ref).await, reply_ok());
    assert_eq!(conn.client.recv_json().await, json!(["1", "1", TOPIC, "phx_close", {}]));
    assert_eq!(stats(address).await["roots"], 0);
    // A new join is an empty connection: the same ids mount again.
    conn.client.join_ok(TOPIC, "1").await;
    conn.mount(COUNTER, "a", json!({})).await;
    assert_eq!(stats(address).await["roots"], 1);
    drop(conn);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stats(address).await["roots"], 0);
}

// ---- command ---------------------------------------------------------------------------------

#[tokio::test]
async fn command_validation_reasons_come_in_order() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "c", json!({})).await;
    let cases = [
        (json!({"root_id": "c", "store_id": [], "payload": {}}), "missing required field"),
        (json!({"root_id": "c", "name": ""}), "missing required field"),
        (json!({"name": "increment"}), "missing required field"),
        (json!({"root_id": 1, "name": "increment"}), "missing required field"),
        (json!({"root_id": "other", "name": "increment"}), "unknown root"),
        // Malformed store ids and payloads of an unknown root are not looked at.
        (json!({"root_id": "other", "name": "increment", "store_id": "x", "payload": null}), "unknown root"),
        (json!({"root_id": "c", "name": "increment", "store_id": ["nope"]}), "unknown store"),
        (json!({"root_id": "c", "name": "increment", "store_id": [1]}), "unknown store"),
        (json!({"root_id": "c", "name": "nope", "store_id": ["nope"]}), "unknown store"),
        (json!({"root_id": "c", "name": "nope"}), "unknown command"),
        (json!({"root_id": "c", "name": "nope", "store_id": [], "payload": {}}), "unknown command"),
        // The payload is looked at last: it must be an object (or absent), then the command checks it.
        (json!({"root_id": "c", "name": "nope", "payload": null}), "unknown command"),
        (json!({"root_id": "c", "name": "increment", "store_id": [1], "payload": 3}), "unknown store"),
        (json!({"root_id": "c", "name": "increment", "payload": null}), "invalid payload: payload must be an object"),
        (json!({"root_id": "c", "name": "increment", "payload": [1]}), "invalid payload: payload must be an object"),
        (json!({"root_id": "c", "name": "increment", "payload": "x"}), "invalid payload: payload must be an object"),
        (json!({"root_id": "c", "name": "increment", "payload": {"by": "x"}}), "invalid payload: by must be an integer"),
    ];
    for (payload, reason) in cases {
        conn.refused("command", payload, reason).await;
    }
    conn.client.expect_silence(100).await;
}

#[tokio::test]
async fn command_replies_ok_error_and_reply_maps() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "c", json!({})).await;
    // fail: an error reply, and nothing changed so no envelope.
    assert_eq!(conn.command("c", json!([]), "fail", json!({})).await, ("error".to_owned(), json!({"reason": "demo failure"})));
    // set_label with the same label: ok, idle cycle, no envelope.
    assert_eq!(conn.command("c", json!([]), "set_label", json!({"label": "Counter"})).await, reply_ok());
    conn.client.expect_silence(100).await;
    // `store_id` and `payload` may be omitted.
    let reply = conn.request("command", json!({"root_id": "c", "name": "increment"})).await;
    assert_eq!(reply, reply_ok());
    assert_eq!(conn.envelope().await["ops"], json!([{"op": "replace", "path": "/count", "value": 1}]));
    let envelope = conn.command_ok("c", json!([]), "set_label", json!({"label": "Clicks"}), json!({})).await;
    assert_eq!(envelope["ops"], json!([{"op": "replace", "path": "/label", "value": "Clicks"}]));
    assert_eq!((envelope["base_version"].clone(), envelope["version"].clone()), (json!(2), json!(3)));
    // The same envelope carries the push event (Musubi 0.13), after the state it goes with.
    assert_eq!(envelope["events"], json!([{"store_id": [], "name": "toast", "payload": {"text": "Label set to \u{201c}Clicks\u{201d}"}}]));
    // {:reply, map}: the map is the ok response (after the board's stats have loaded).
    conn.mount(BOARD, "b", json!({})).await;
    let loaded = json!([
        {"op": "replace", "path": "/stats/result", "value": {"cards": 2}},
        {"op": "replace", "path": "/stats/status", "value": "ok"},
    ]);
    assert_eq!(conn.envelope().await["ops"], loaded);
    conn.command_ok("b", json!([]), "add_card", json!({"title": "x"}), json!({"id": "3"})).await;
}

#[tokio::test]
async fn slow_replies_after_the_delay_without_blocking_other_commands() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "s", json!({})).await;
    let started = Instant::now();
    let slow = conn.push("command", json!({"root_id": "s", "store_id": [], "name": "slow", "payload": {"ms": 300}})).await;
    conn.command_ok("s", json!([]), "increment", json!({}), json!({})).await;
    assert_eq!(conn.command("s", json!([]), "fail", json!({})).await.0, "error");
    assert!(started.elapsed() < Duration::from_millis(250), "{:?}", started.elapsed());
    assert_eq!(conn.reply(&slow).await, reply_ok());
    assert!(started.elapsed() >= Duration::from_millis(290), "{:?}", started.elapsed());
}

#[tokio::test]
async fn malformed_messages_crash_the_channel() {
    let address = start(config()).await;
    let crashers = [
        ("nope", json!({})),
        ("mount", json!([1])),
        ("mount", json!("x")),
        ("command", json!(null)),
        ("command", json!({"root_id": "c", "name": "increment", "store_id": "x"})),
        ("command", json!({"root_id": "c", "name": "increment", "store_id": {}})),
    ];
    for (event, payload) in crashers {
        let mut conn = Conn::open(address).await;
        conn.mount(COUNTER, "c", json!({})).await;
        conn.push(event, payload.clone()).await;
        conn.expect_crash().await;
        conn.client.expect_silence(50).await;
        // The connection's roots are gone: a new join mounts the same id again.
        conn.client.join_ok(TOPIC, "1").await;
        conn.mount(COUNTER, "c", json!({})).await;
    }
}

// ---- uploads ---------------------------------------------------------------------------------

#[tokio::test]
async fn upload_events_find_no_declared_upload() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(BOARD, "b", json!({})).await;
    conn.envelope().await; // stats loaded
    let entries = json!([{"client_ref": "0", "name": "a.png", "size": 1, "type": "image/png"}]);
    conn.refused("allow_upload", json!({"root_id": "b", "store_id": [], "name": "avatar", "entries": entries}), "unknown upload").await;
    conn.refused("allow_upload", json!({"root_id": "b", "store_id": ["cards", "1"], "name": "avatar"}), "unknown upload").await;
    conn.refused("allow_upload", json!({"root_id": "b", "store_id": ["x"], "name": "avatar"}), "unknown store").await;
    conn.refused("allow_upload", json!({"root_id": "zz", "name": "avatar"}), "unknown root").await;
    conn.refused("allow_upload", json!({"root_id": "b"}), "missing required field").await;
    conn.refused("cancel_upload", json!({"root_id": "b", "name": "avatar"}), "missing required field").await;
    conn.refused("cancel_upload", json!({"root_id": "b", "name": "avatar", "ref": "r"}), "unknown upload").await;
    conn.refused("upload_progress", json!({"root_id": "b", "name": "avatar", "ref": "r", "progress": 5}), "unknown upload").await;
    let error = json!({"root_id": "b", "name": "avatar", "ref": "r", "code": "external_failed", "message": "x"});
    conn.refused("upload_error", error, "unknown upload").await;
}

// ---- test endpoints ----------------------------------------------------------------------------

#[tokio::test]
async fn test_gap_skips_versions_without_advancing_them() {
    let address = start(config()).await;
    let mut a = Conn::open(address).await;
    let mut b = Conn::open(address).await;
    a.mount(COUNTER, "g", json!({})).await;
    a.command_ok("g", json!([]), "increment", json!({}), json!({})).await;
    b.mount(COUNTER, "g", json!({})).await;
    assert_eq!(post(address, "/_test/gap?root_id=g").await, json!({"sent": 2}));
    let gap_a = a.envelope().await;
    assert_eq!(
        gap_a,
        json!({"type": "patch", "root_id": "g", "base_version": 7, "version": 8, "ops": [], "stream_ops": [], "upload_ops": [], "events": []})
    );
    let gap_b = b.envelope().await;
    assert_eq!((gap_b["base_version"].clone(), gap_b["version"].clone()), (json!(6), json!(7)));
    // The real sequence continues where it was.
    a.command_ok("g", json!([]), "increment", json!({}), json!({})).await;
    assert_eq!(b.envelope().await["base_version"], 1);
    assert_eq!(post(address, "/_test/gap?root_id=nope").await, json!({"sent": 0}));
}

#[tokio::test]
async fn test_corrupt_sends_an_unappliable_envelope_in_sequence() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let mut replica = Replica::mounted(&conn.mount(COUNTER, "x", json!({})).await);
    assert_eq!(post(address, "/_test/corrupt?root_id=x").await, json!({"sent": 1}));
    let corrupt = conn.envelope().await;
    assert_eq!(
        corrupt,
        json!({"type": "patch", "root_id": "x", "base_version": 1, "version": 2,
               "ops": [{"op": "remove", "path": "/no/such/deep/path"}], "stream_ops": [], "upload_ops": [], "events": []})
    );
    let patch: json_patch::Patch = serde_json::from_value(corrupt["ops"].clone()).unwrap();
    assert!(json_patch::patch(&mut replica.tree.clone(), &patch).is_err());
    // The next real envelope follows the corrupt one, so a client that dropped it is behind.
    let next = conn.command_ok("x", json!([]), "increment", json!({}), json!({})).await;
    assert_eq!((next["base_version"].clone(), next["version"].clone()), (json!(2), json!(3)));
    // Recovery: unmount + mount gives a fresh 0 → 1 with the current state.
    assert_eq!(conn.request("unmount", json!({"root_id": "x"})).await, reply_ok());
    replica = Replica::mounted(&conn.mount(COUNTER, "x", json!({})).await);
    assert_eq!(replica.tree["count"], 1);
}

#[tokio::test]
async fn stats_count_mounts_and_roots() {
    let address = start(config()).await;
    let initial = stats(address).await;
    assert_eq!((initial["mounts"].clone(), initial["roots"].clone()), (json!(0), json!(0)));
    let mut a = Conn::open(address).await;
    let mut b = Conn::open(address).await;
    a.mount(COUNTER, "1", json!({})).await;
    a.mount(COUNTER, "2", json!({})).await;
    b.mount(COUNTER, "1", json!({})).await;
    a.refused("mount", json!({"module": COUNTER, "id": "1"}), "root already mounted").await;
    let now = stats(address).await;
    assert_eq!((now["mounts"].clone(), now["roots"].clone()), (json!(3), json!(3)));
    assert_eq!(a.request("unmount", json!({"root_id": "1"})).await, reply_ok());
    let now = stats(address).await;
    assert_eq!((now["mounts"].clone(), now["roots"].clone()), (json!(3), json!(2)));
}
