//! Host integration tests of the demo stores behind `musubi:*`: the counter's log stream, state
//! shared by sockets mounting the same root, the board's card stores and async stats, the big
//! store's in-place touches, and command payload validation (a bad payload is refused with a
//! reason and crashes nothing). Every envelope is applied to a client replica and compared with a
//! fresh mount.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::musubi::{BIG, BOARD, COUNTER, Conn, Replica, TOPIC, fresh_replica, reply_ok};
use support::{config, post, reply_frame, start, stats};

// ---- counter -----------------------------------------------------------------------------------

#[tokio::test]
async fn increment_replies_then_patches_count_and_inserts_a_log_item() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let mut replica = Replica::mounted(&conn.mount(COUNTER, "counter-1", json!({"start": 5})).await);
    conn.client
        .send(json!(["1", "5", TOPIC, "command", {"root_id": "counter-1", "store_id": [], "name": "increment", "payload": {"by": 1}}]))
        .await;
    assert_eq!(conn.client.recv_json().await, reply_frame(json!("1"), "5", TOPIC, "ok", json!({})));
    let envelope = json!({
        "type": "patch", "root_id": "counter-1", "base_version": 1, "version": 2,
        "ops": [{"op": "replace", "path": "/count", "value": 6}],
        "stream_ops": [{"op": "insert", "stream": "log", "ref": "0", "store_id": [], "item_key": "log-1", "at": 0,
                        "item": {"id": "1", "text": "+1"}, "limit": 50}],
        "upload_ops": [],
        "events": [],
    });
    assert_eq!(conn.client.recv_json().await, json!(["1", null, TOPIC, "patch", envelope]));
    replica.apply(&envelope);
    for by in [2, -3] {
        replica.apply(&conn.command_ok("counter-1", json!([]), "increment", json!({"by": by}), json!({})).await);
    }
    assert_eq!(replica.tree["count"], 5);
    assert_eq!(
        replica.stream("log"),
        vec![json!({"id": "3", "text": "-3"}), json!({"id": "2", "text": "+2"}), json!({"id": "1", "text": "+1"})]
    );
    replica.assert_same_as(&fresh_replica(address, COUNTER, "counter-1", json!({})).await);
}

#[tokio::test]
async fn the_log_keeps_the_newest_fifty_for_fresh_mounts_too() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let mut replica = Replica::mounted(&conn.mount(COUNTER, "long", json!({})).await);
    for _ in 0..55 {
        replica.apply(&conn.command_ok("long", json!([]), "increment", json!({}), json!({})).await);
    }
    assert_eq!(replica.stream("log").len(), 50);
    assert_eq!(replica.stream("log")[0], json!({"id": "55", "text": "+1"}));
    let fresh = fresh_replica(address, COUNTER, "long", json!({})).await;
    replica.assert_same_as(&fresh);
}

// ---- shared state ------------------------------------------------------------------------------

#[tokio::test]
async fn sockets_mounting_the_same_root_see_each_others_changes() {
    let address = start(config()).await;
    let mut a = Conn::open(address).await;
    let mut b = Conn::open(address).await;
    let mut replica_a = Replica::mounted(&a.mount(COUNTER, "shared", json!({"start": 10})).await);
    for _ in 0..2 {
        replica_a.apply(&a.command_ok("shared", json!([]), "increment", json!({}), json!({})).await);
    }
    // B joins late: its own versions start at 0 → 1, with the current count and log items.
    // (Its params only seed a new page; the page already exists.)
    let initial_b = b.mount(COUNTER, "shared", json!({"start": 99})).await;
    assert_eq!(initial_b["ops"][0]["value"]["count"], 12);
    assert_eq!(initial_b["stream_ops"].as_array().unwrap().len(), 2);
    let mut replica_b = Replica::mounted(&initial_b);
    assert_eq!(replica_b.stream("log"), replica_a.stream("log"));
    // B's command: B gets the reply then 1 → 2; A gets 3 → 4.
    let envelope = b.command_ok("shared", json!([]), "increment", json!({"by": 5}), json!({})).await;
    assert_eq!((envelope["base_version"].clone(), envelope["version"].clone()), (json!(1), json!(2)));
    replica_b.apply(&envelope);
    let envelope = a.envelope().await;
    assert_eq!((envelope["base_version"].clone(), envelope["version"].clone()), (json!(3), json!(4)));
    assert_eq!(envelope["ops"], json!([{"op": "replace", "path": "/count", "value": 17}]));
    replica_a.apply(&envelope);
    // A's command reaches B; A's failing command does not.
    replica_a.apply(&a.command_ok("shared", json!([]), "set_label", json!({"label": "Both"}), json!({})).await);
    replica_b.apply(&b.envelope().await);
    assert_eq!(a.command("shared", json!([]), "fail", json!({})).await.0, "error");
    b.client.expect_silence(100).await;
    assert_eq!(replica_a.tree, replica_b.tree);
    let fresh = fresh_replica(address, COUNTER, "shared", json!({})).await;
    replica_a.assert_same_as(&fresh);
    replica_b.assert_same_as(&fresh);
    // B unmounts: A keeps working alone.
    assert_eq!(b.request("unmount", json!({"root_id": "shared"})).await, reply_ok());
    replica_a.apply(&a.command_ok("shared", json!([]), "increment", json!({}), json!({})).await);
    b.client.expect_silence(100).await;
}

#[tokio::test]
async fn different_ids_and_modules_are_different_pages() {
    let address = start(config()).await;
    let mut a = Conn::open(address).await;
    let mut b = Conn::open(address).await;
    a.mount(COUNTER, "one", json!({})).await;
    b.mount(COUNTER, "two", json!({})).await;
    b.mount(BIG, "one", json!({})).await;
    a.command_ok("one", json!([]), "increment", json!({}), json!({})).await;
    b.client.expect_silence(100).await;
}

#[tokio::test]
async fn two_topics_on_one_socket_share_the_page_too() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.client.join_ok("musubi:second", "9").await;
    conn.mount(COUNTER, "c", json!({})).await;
    conn.client.send(json!(["9", "10", "musubi:second", "mount", {"module": COUNTER, "id": "c"}])).await;
    assert_eq!(conn.client.recv_json().await, reply_frame(json!("9"), "10", "musubi:second", "ok", json!({"root_id": "c"})));
    assert_eq!(conn.client.recv_json().await[3], "patch");
    assert_eq!(conn.command("c", json!([]), "increment", json!({})).await, reply_ok());
    let mut topics = vec![];
    for _ in 0..2 {
        let frame = conn.client.recv_json().await;
        assert_eq!((frame[3].clone(), frame[4]["version"].clone()), (json!("patch"), json!(2)));
        topics.push(frame[2].as_str().unwrap().to_owned());
    }
    topics.sort();
    assert_eq!(topics, ["musubi:connection", "musubi:second"]);
}

// ---- board -------------------------------------------------------------------------------------

#[tokio::test]
async fn board_card_commands_produce_the_right_ops() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let initial = conn.mount(BOARD, "board", json!({})).await;
    let tree = &initial["ops"][0]["value"];
    assert_eq!(tree["title"], "Board");
    assert_eq!(tree["cards"][1], json!({"__musubi_store_id__": ["cards", "2"], "id": "2", "title": "Open a second tab", "done": false}));
    let mut replica = Replica::mounted(&initial);
    // stats resolves first (200 ms after the page started); wait for it.
    replica.apply(&conn.envelope().await);

    let envelope = conn.command_ok("board", json!([]), "add_card", json!({"title": "Third"}), json!({"id": "3"})).await;
    let card = json!({"__musubi_store_id__": ["cards", "3"], "id": "3", "title": "Third", "done": false});
    assert_eq!(
        envelope["ops"],
        json!([{"op": "add", "path": "/cards/2", "value": card}, {"op": "replace", "path": "/stats/result/cards", "value": 3}])
    );
    replica.apply(&envelope);

    let envelope = conn.command_ok("board", json!(["cards", "3"]), "rename", json!({"title": "3rd"}), json!({})).await;
    assert_eq!(envelope["ops"], json!([{"op": "replace", "path": "/cards/2/title", "value": "3rd"}]));
    replica.apply(&envelope);

    let envelope = conn.command_ok("board", json!(["cards", "1"]), "toggle", json!({}), json!({})).await;
    assert_eq!(envelope["ops"], json!([{"op": "replace", "path": "/cards/0/done", "value": true}]));
    replica.apply(&envelope);

    // Removing the middle card: the next card's node is replaced whole, the last slot removed.
    let envelope = conn.command_ok("board", json!([]), "remove_card", json!({"id": "2"}), json!({})).await;
    let third = json!({"__musubi_store_id__": ["cards", "3"], "id": "3", "title": "3rd", "done": false});
    assert_eq!(
        envelope["ops"],
        json!([{"op": "replace", "path": "/cards/1", "value": third}, {"op": "remove", "path": "/cards/2"},
               {"op": "replace", "path": "/stats/result/cards", "value": 2}])
    );
    replica.apply(&envelope);

    // The removed card is no longer a store; unknown cards and card commands on the root fail.
    conn.refused("command", json!({"root_id": "board", "store_id": ["cards", "2"], "name": "toggle"}), "unknown store").await;
    conn.refused("command", json!({"root_id": "board", "store_id": ["cards", "99"], "name": "rename"}), "unknown store").await;
    conn.refused("command", json!({"root_id": "board", "store_id": ["cards"], "name": "toggle"}), "unknown store").await;
    conn.refused("command", json!({"root_id": "board", "store_id": [], "name": "toggle"}), "unknown command").await;
    conn.refused("command", json!({"root_id": "board", "store_id": ["cards", "1"], "name": "add_card"}), "unknown command").await;
    assert_eq!(
        conn.command("board", json!([]), "remove_card", json!({"id": "2"})).await,
        ("error".to_owned(), json!({"reason": "unknown card"}))
    );
    conn.client.expect_silence(100).await;

    replica.assert_same_as(&fresh_replica(address, BOARD, "board", json!({})).await);
}

#[tokio::test]
async fn board_stats_load_200ms_after_the_page_starts() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let started = Instant::now();
    let initial = conn.mount(BOARD, "stats", json!({"cards": ["a", "b", "c"]})).await;
    let loading = json!({"__musubi_async__": true, "status": "loading", "result": null, "reason": null});
    assert_eq!(initial["ops"][0]["value"]["stats"], loading);
    let mut replica = Replica::mounted(&initial);
    let envelope = conn.envelope().await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(180), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    assert_eq!((envelope["base_version"].clone(), envelope["version"].clone()), (json!(1), json!(2)));
    replica.apply(&envelope);
    let ok = json!({"__musubi_async__": true, "status": "ok", "result": {"cards": 3}, "reason": null});
    assert_eq!(replica.tree["stats"], ok);
    // A later mount of the running page sees it resolved at once.
    let fresh = fresh_replica(address, BOARD, "stats", json!({})).await;
    assert_eq!(fresh.tree["stats"], ok);
    replica.assert_same_as(&fresh);
}

// ---- big ---------------------------------------------------------------------------------------

#[tokio::test]
async fn big_touch_sends_one_envelope_of_replaces() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let initial = conn.mount(BIG, "big", json!({})).await;
    let tree = &initial["ops"][0]["value"];
    assert_eq!((tree["count"].clone(), tree["nodes"].clone(), tree["fanout"].clone()), (json!(0), json!(1000), json!(10)));
    assert_eq!(tree["data"]["4"]["5"]["6"], 456);
    let mut replica = Replica::mounted(&initial);
    let envelope = conn.command_ok("big", json!([]), "touch", json!({"count": 100}), json!({})).await;
    let ops = envelope["ops"].as_array().unwrap();
    assert_eq!(ops.len(), 101);
    assert!(ops.iter().all(|op| op["op"] == "replace"));
    assert_eq!(ops[0], json!({"op": "replace", "path": "/count", "value": 100}));
    let leaves: std::collections::HashSet<&str> = ops[1..].iter().map(|op| op["path"].as_str().unwrap()).collect();
    assert_eq!(leaves.len(), 100);
    assert!(leaves.iter().all(|path| path.starts_with("/data/") && path.split('/').count() == 5), "{leaves:?}");
    replica.apply(&envelope);
    conn.client.expect_silence(100).await;
    replica.assert_same_as(&fresh_replica(address, BIG, "big", json!({})).await);
}

#[tokio::test]
async fn big_params_pick_the_page() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let mut small = Conn::open(address).await;
    let initial = conn.mount(BIG, "b", json!({"nodes": 20_000, "fanout": 10})).await;
    assert_eq!(initial["ops"][0]["value"]["data"]["1"]["9"]["9"]["9"]["9"], 19_999);
    let mut replica = Replica::mounted(&initial);
    // The same id with other params is another page: it does not see the touches.
    small.mount(BIG, "b", json!({"nodes": 10, "fanout": 2})).await;
    replica.apply(&conn.command_ok("b", json!([]), "touch", json!({"count": 1000}), json!({})).await);
    small.client.expect_silence(100).await;
    replica.assert_same_as(&fresh_replica(address, BIG, "b", json!({"nodes": 20_000, "fanout": 10})).await);
    // Bad params make the mount raise.
    conn.push("mount", json!({"module": BIG, "id": "bad", "params": {"fanout": 1}})).await;
    conn.expect_crash().await;
}

// ---- payload validation ------------------------------------------------------------------------

/// `(root id, store id, command, payload, reason)`: a bad payload for every demo store command
/// that reads its payload, on the roots mounted by [`mount_every_store`].
fn bad_payloads() -> Vec<(&'static str, Value, &'static str, Value, &'static str)> {
    let card = json!(["cards", "1"]);
    vec![
        ("c", json!([]), "increment", json!({"by": "one"}), "invalid payload: by must be an integer"),
        ("c", json!([]), "increment", json!({"by": 1.5}), "invalid payload: by must be an integer"),
        ("c", json!([]), "increment", json!(null), "invalid payload: payload must be an object"),
        ("c", json!([]), "set_label", json!({}), "invalid payload: label is required"),
        ("c", json!([]), "set_label", json!({"label": 7}), "invalid payload: label must be a string"),
        ("c", json!([]), "set_meta", json!({"value": 1}), "invalid payload: key is required"),
        ("c", json!([]), "set_meta", json!({"key": {"k": 1}, "value": 1}), "invalid payload: key must be a string"),
        ("c", json!([]), "slow", json!({"ms": -5}), "invalid payload: ms must be between 0 and 60000"),
        ("c", json!([]), "slow", json!({"ms": 600_000}), "invalid payload: ms must be between 0 and 60000"),
        ("c", json!([]), "slow", json!({"ms": "fast"}), "invalid payload: ms must be an integer"),
        ("b", json!([]), "add_card", json!({}), "invalid payload: title is required"),
        ("b", json!([]), "add_card", json!({"title": 3}), "invalid payload: title must be a string"),
        ("b", json!([]), "remove_card", json!({}), "invalid payload: id is required"),
        ("b", json!([]), "remove_card", json!({"id": true}), "invalid payload: id must be a string or a number"),
        ("b", card.clone(), "rename", json!({"title": null}), "invalid payload: title must be a string"),
        ("b", card.clone(), "rename", json!({"name": "x"}), "invalid payload: title is required"),
        ("b", card, "toggle", json!([]), "invalid payload: payload must be an object"),
        ("g", json!([]), "touch", json!({"count": -1}), "invalid payload: count must be between 0 and 1000000"),
        ("g", json!([]), "touch", json!({"count": 10_000_000}), "invalid payload: count must be between 0 and 1000000"),
        ("g", json!([]), "touch", json!({"count": "all"}), "invalid payload: count must be an integer"),
    ]
}

/// Mounts counter `c`, board `b` (and waits for its stats) and big `g`; returns their replicas.
async fn mount_every_store(conn: &mut Conn) -> [Replica; 3] {
    let counter = Replica::mounted(&conn.mount(COUNTER, "c", json!({})).await);
    let mut board = Replica::mounted(&conn.mount(BOARD, "b", json!({})).await);
    board.apply(&conn.envelope().await); // stats loaded
    let big = Replica::mounted(&conn.mount(BIG, "g", json!({"nodes": 100})).await);
    [counter, board, big]
}

#[tokio::test]
async fn every_store_command_refuses_a_bad_payload_with_a_reason_and_changes_nothing() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let [mut counter, mut board, mut big] = mount_every_store(&mut conn).await;
    for (root_id, store_id, name, payload, reason) in bad_payloads() {
        let command = json!({"root_id": root_id, "store_id": store_id, "name": name, "payload": payload});
        conn.refused("command", command, reason).await;
    }
    // No state changed (no envelope), no root was lost, the channel is still joined.
    conn.client.expect_silence(300).await;
    assert_eq!(stats(address).await["roots"], 3);
    counter.assert_same_as(&fresh_replica(address, COUNTER, "c", json!({})).await);
    board.assert_same_as(&fresh_replica(address, BOARD, "b", json!({})).await);
    big.assert_same_as(&fresh_replica(address, BIG, "g", json!({"nodes": 100})).await);

    // Good commands afterwards work on every root.
    let envelope = conn.command_ok("c", json!([]), "increment", json!({"by": 2}), json!({})).await;
    assert_eq!(envelope["ops"], json!([{"op": "replace", "path": "/count", "value": 2}]));
    counter.apply(&envelope);
    counter.apply(&conn.command_ok("c", json!([]), "set_label", json!({"label": "L"}), json!({})).await);
    counter.apply(&conn.command_ok("c", json!([]), "set_meta", json!({"key": "k", "value": 1}), json!({})).await);
    assert_eq!(conn.command("c", json!([]), "slow", json!({"ms": 0})).await, reply_ok());
    board.apply(&conn.command_ok("b", json!([]), "add_card", json!({"title": "new"}), json!({"id": "3"})).await);
    board.apply(&conn.command_ok("b", json!(["cards", "1"]), "rename", json!({"title": "renamed"}), json!({})).await);
    board.apply(&conn.command_ok("b", json!(["cards", "1"]), "toggle", json!({}), json!({})).await);
    board.apply(&conn.command_ok("b", json!([]), "remove_card", json!({"id": 2}), json!({})).await);
    big.apply(&conn.command_ok("g", json!([]), "touch", json!({"count": 1_000_000}), json!({})).await);
    assert_eq!(big.tree["count"], 100);
    conn.client.expect_silence(100).await;
    counter.assert_same_as(&fresh_replica(address, COUNTER, "c", json!({})).await);
    board.assert_same_as(&fresh_replica(address, BOARD, "b", json!({})).await);
    big.assert_same_as(&fresh_replica(address, BIG, "g", json!({"nodes": 100})).await);
    assert_eq!((counter.tree["count"].clone(), counter.tree["label"].clone()), (json!(2), json!("L")));
}

#[tokio::test]
async fn a_bad_payload_leaves_the_other_roots_on_the_socket_live() {
    let address = start(config()).await;
    let mut a = Conn::open(address).await;
    let mut b = Conn::open(address).await;
    let [mut counter_a, mut board_a, mut big_a] = mount_every_store(&mut a).await;
    let mut counter_b = Replica::mounted(&b.mount(COUNTER, "c", json!({})).await);
    for (root_id, store_id, name, payload, reason) in bad_payloads() {
        let command = json!({"root_id": root_id, "store_id": store_id, "name": name, "payload": payload});
        a.refused("command", command, reason).await;
        // Another socket's change to the same root still reaches A, in sequence.
        counter_b.apply(&b.command_ok("c", json!([]), "increment", json!({}), json!({})).await);
        let envelope = a.envelope().await;
        assert_eq!(envelope["root_id"], "c");
        counter_a.apply(&envelope);
    }
    // Every root on A still gets its patches: its own commands, and the board's and big's.
    counter_a.apply(&a.command_ok("c", json!([]), "increment", json!({"by": 10}), json!({})).await);
    counter_b.apply(&b.envelope().await);
    board_a.apply(&a.command_ok("b", json!([]), "add_card", json!({"title": "after"}), json!({"id": "3"})).await);
    big_a.apply(&a.command_ok("g", json!([]), "touch", json!({"count": 3}), json!({})).await);
    let rounds = bad_payloads().len();
    assert_eq!(counter_a.tree["count"], json!(rounds + 10));
    assert_eq!(counter_a.tree, counter_b.tree);
    board_a.assert_same_as(&fresh_replica(address, BOARD, "b", json!({})).await);
    big_a.assert_same_as(&fresh_replica(address, BIG, "g", json!({"nodes": 100})).await);
    assert_eq!(stats(address).await["roots"], 4);

    // Crashing the channel on purpose is left to the test endpoint.
    assert_eq!(post(address, &format!("/_test/crash?topic={TOPIC}")).await, json!({"crashed": 2}));
    a.expect_crash().await;
    b.expect_crash().await;
}
