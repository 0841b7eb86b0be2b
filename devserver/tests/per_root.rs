//! Host integration tests of the Musubi 0.12+ per-root wire mode (PROTOCOL.md §6): root channels
//! `musubi:connection:<module>:<id>` where join is mount and leave is unmount, commands on the
//! root's own channel, state shared with connection-mode clients of the same id, `--wire`
//! routing, and the `/_test/` endpoints for per-root subscribers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use musubi_devserver::{ServerConfig, WireMode};
use serde_json::{Value, json};
use support::musubi::{BOARD, COUNTER, Conn, Replica, TOPIC, VSN, reply_ok};
use support::per_root::{Roots, root_id, root_topic};
use support::{Client, End, config, post, reply_frame, start, stats};

fn wire(wire: WireMode) -> ServerConfig {
    ServerConfig { wire, ..config() }
}

fn versions(envelope: &Value) -> (Value, Value) {
    (envelope["base_version"].clone(), envelope["version"].clone())
}

// ---- join = mount ------------------------------------------------------------------------------

#[tokio::test]
async fn join_replies_the_root_id_then_sends_the_exact_initial_envelope() {
    let address = start(config()).await;
    let mut client = Client::connect(address, VSN).await;
    let topic = "musubi:connection:Demo.CounterStore:demo-counter";
    let reply = client.join(topic, "3", json!({"module": COUNTER, "id": "demo-counter", "params": {"start": 5}})).await;
    assert_eq!(reply, reply_frame(json!("3"), "3", topic, "ok", json!({"root_id": "Demo.CounterStore:demo-counter"})));
    let envelope = json!({
        "type": "patch", "root_id": "Demo.CounterStore:demo-counter", "base_version": 0, "version": 1,
        "ops": [{"op": "replace", "path": "", "value": {
            "__musubi_store_id__": [], "count": 5, "label": "Counter", "log": {"__musubi_stream__": "log"},
        }}],
        "stream_ops": [], "upload_ops": [], "events": [],
    });
    assert_eq!(client.recv_json().await, json!(["3", null, topic, "patch", envelope]));
    client.expect_silence(100).await;
    let now = stats(address).await;
    assert_eq!((now["mounts"].clone(), now["roots"].clone()), (json!(1), json!(1)));

    // `params` may be omitted; ids may hold `:`.
    let mut roots = Roots::open(address).await;
    let topic = root_topic(COUNTER, "a:b");
    let (join_ref, reply) = roots.join_raw(&topic, json!({"module": COUNTER, "id": "a:b"})).await;
    assert_eq!(reply, reply_frame(json!(join_ref), &join_ref, &topic, "ok", json!({"root_id": "Demo.CounterStore:a:b"})));
    assert_eq!(roots.envelope(&topic).await["ops"][0]["value"]["count"], 0);
}

#[tokio::test]
async fn join_errors_are_refusals_that_mount_nothing() {
    let address = start(config()).await;
    let mut roots = Roots::open(address).await;
    let topic = root_topic(COUNTER, "a");
    let unknown = root_topic("Nope.Store", "a");
    let cases = [
        (&topic, json!({"id": "a", "params": {}}), "missing required field"),
        (&topic, json!({"module": "", "id": "a", "params": {}}), "missing required field"),
        (&topic, json!({"module": 7, "id": "a", "params": {}}), "missing required field"),
        (&topic, json!({"module": COUNTER, "params": {}}), "missing required field"),
        (&topic, json!({"module": COUNTER, "id": "", "params": {}}), "missing required field"),
        (&topic, json!({"module": COUNTER, "id": 1, "params": {}}), "missing required field"),
        (&topic, json!({"module": COUNTER, "id": "a", "params": null}), "params must be a map"),
        (&topic, json!({"module": COUNTER, "id": "a", "params": [1]}), "params must be a map"),
        (&unknown, json!({"module": "Nope.Store", "id": "a", "params": "x"}), "params must be a map"),
        (&unknown, json!({"module": "Nope.Store", "id": "a", "params": {}}), "unknown root"),
        (&topic, json!({"module": "Nope.Store", "id": "a", "params": {}}), "unknown root"),
        (&topic, json!({"module": COUNTER, "id": "b", "params": {}}), "topic does not match the root"),
        (&topic, json!({"module": BOARD, "id": "a", "params": {}}), "topic does not match the root"),
    ];
    for (topic, payload, reason) in cases {
        roots.refused_join(topic, payload, reason).await;
    }
    // A payload that is not an object, or params the store's mount refuses, crash the join.
    roots.refused_join(&topic, json!("x"), "join crashed").await;
    roots.refused_join(&topic, json!({"module": COUNTER, "id": "a", "params": {"start": "five"}}), "join crashed").await;
    roots.client.expect_silence(100).await;
    let now = stats(address).await;
    assert_eq!((now["mounts"].clone(), now["roots"].clone()), (json!(0), json!(0)));
    // Nothing is joined: a command is an unmatched topic, the client's clean-up leave is ok.
    roots.client.send(json!(["20", "21", topic, "command", {"name": "increment", "payload": {}, "store_id": []}])).await;
    assert_eq!(roots.client.recv_json().await, reply_frame(Value::Null, "21", &topic, "error", json!({"reason": "unmatched topic"})));
    roots.client.send(json!(["20", "22", topic, "phx_leave", {}])).await;
    assert_eq!(roots.client.recv_json().await, reply_frame(json!("20"), "22", &topic, "ok", json!({})));
    // The same topic joins fine afterwards.
    roots.mount(COUNTER, "a", json!({})).await;
}

// ---- commands ----------------------------------------------------------------------------------

#[tokio::test]
async fn commands_reply_before_their_patch_and_carry_push_events() {
    let address = start(config()).await;
    let mut roots = Roots::open(address).await;
    let topic = root_topic(COUNTER, "c");
    let mut replica = Replica::mounted(&roots.mount(COUNTER, "c", json!({})).await);
    let join_ref = roots.join_ref(&topic);
    roots.client.send(json!([join_ref, "50", topic, "command", {"name": "increment", "payload": {"by": 2}, "store_id": []}])).await;
    assert_eq!(roots.client.recv_json().await, reply_frame(json!(join_ref), "50", &topic, "ok", json!({})));
    let envelope = json!({
        "type": "patch", "root_id": "Demo.CounterStore:c", "base_version": 1, "version": 2,
        "ops": [{"op": "replace", "path": "/count", "value": 2}],
        "stream_ops": [{"op": "insert", "stream": "log", "ref": "0", "store_id": [], "item_key": "log-1", "at": 0,
                        "item": {"id": "1", "text": "+2"}, "limit": 50}],
        "upload_ops": [], "events": [],
    });
    assert_eq!(roots.client.recv_json().await, json!([join_ref, null, topic, "patch", envelope]));
    replica.apply(&envelope);

    // `payload` and `store_id` may be missing (defaults `{}` and `[]`).
    assert_eq!(roots.request(&topic, "command", json!({"name": "increment"})).await, reply_ok());
    replica.apply(&roots.envelope(&topic).await);
    assert_eq!(replica.tree["count"], 3);

    // set_label: the envelope carries the push event.
    let envelope = roots.command_ok(&topic, "set_label", json!({"label": "Clicks"}), json!({})).await;
    assert_eq!(envelope["ops"], json!([{"op": "replace", "path": "/label", "value": "Clicks"}]));
    assert_eq!(envelope["events"], json!([{"store_id": [], "name": "toast", "payload": {"text": "Label set to \u{201c}Clicks\u{201d}"}}]));
    replica.apply(&envelope);

    // Refusals, as on the connection channel; nothing changes, no envelope follows.
    let cases = [
        ("command", json!({"payload": {}, "store_id": []}), "missing required field"),
        ("command", json!({"name": "", "payload": {}, "store_id": []}), "missing required field"),
        ("command", json!({"name": 3}), "missing required field"),
        ("command", json!({"root_id": "c", "payload": {}}), "missing required field"),
        ("command", json!({"name": "increment", "payload": {}, "store_id": ["nope"]}), "unknown store"),
        ("command", json!({"name": "increment", "store_id": [1]}), "unknown store"),
        ("command", json!({"name": "nope", "payload": {}, "store_id": []}), "unknown command"),
        ("command", json!({"name": "increment", "payload": [1], "store_id": []}), "invalid payload: payload must be an object"),
        ("command", json!({"name": "increment", "payload": {"by": "x"}, "store_id": []}), "invalid payload: by must be an integer"),
        ("command", json!({"name": "fail", "payload": {}, "store_id": []}), "demo failure"),
        ("allow_upload", json!({"name": "avatar", "store_id": []}), "unknown upload"),
        ("cancel_upload", json!({"name": "avatar"}), "missing required field"),
        ("upload_progress", json!({"name": "avatar", "ref": "r", "store_id": ["x"]}), "unknown store"),
    ];
    for (event, payload, reason) in cases {
        roots.refused(&topic, event, payload, reason).await;
    }
    roots.client.expect_silence(100).await;
    let next = roots.command_ok(&topic, "increment", json!({}), json!({})).await;
    assert_eq!(versions(&next), (json!(4), json!(5)));
}

#[tokio::test]
async fn a_malformed_message_crashes_only_that_root_channel() {
    let address = start(config()).await;
    let mut roots = Roots::open(address).await;
    let (a, b) = (root_topic(COUNTER, "a"), root_topic(COUNTER, "b"));
    for (event, payload) in [
        ("mount", json!({"module": COUNTER, "id": "a"})),
        ("unmount", json!({})),
        ("command", json!([1])),
        ("command", json!({"name": "increment", "store_id": "x"})),
    ] {
        roots.mount(COUNTER, "a", json!({})).await;
        roots.mount(COUNTER, "b", json!({})).await;
        roots.push(&a, event, payload).await;
        roots.expect_crash(&a).await;
        roots.command_ok(&b, "increment", json!({}), json!({})).await;
        assert_eq!(stats(address).await["roots"], 1);
        roots.leave(&b).await;
    }
    roots.client.expect_silence(100).await;
    assert_eq!(stats(address).await["roots"], 0);
}

// ---- leave = unmount ---------------------------------------------------------------------------

#[tokio::test]
async fn leave_unmounts_and_a_later_join_mounts_afresh() {
    let address = start(config()).await;
    let mut roots = Roots::open(address).await;
    let (a, b) = (root_topic(COUNTER, "a"), root_topic(COUNTER, "b"));
    roots.mount(COUNTER, "a", json!({})).await;
    roots.mount(COUNTER, "b", json!({})).await;
    roots.command_ok(&a, "increment", json!({"by": 4}), json!({})).await;
    assert_eq!(stats(address).await["roots"], 2);
    roots.leave(&a).await;
    assert_eq!(stats(address).await["roots"], 1);
    // The other root on the socket lives on; a's channel is gone.
    roots.command_ok(&b, "increment", json!({}), json!({})).await;
    roots.client.send(json!([roots.join_ref(&a), "90", a, "command", {"name": "increment", "payload": {}, "store_id": []}])).await;
    assert_eq!(roots.client.recv_json().await, reply_frame(Value::Null, "90", &a, "error", json!({"reason": "unmatched topic"})));
    // A fresh 0 → 1 with the page's current state.
    let initial = roots.mount(COUNTER, "a", json!({})).await;
    assert_eq!(initial["ops"][0]["value"]["count"], 4);
    let next = roots.command_ok(&a, "increment", json!({}), json!({})).await;
    assert_eq!(versions(&next), (json!(1), json!(2)));
    let now = stats(address).await;
    assert_eq!((now["mounts"].clone(), now["roots"].clone()), (json!(3), json!(2)));
    // Closing the socket unmounts every root channel on it.
    drop(roots);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stats(address).await["roots"], 0);
}

// ---- shared pages across modes -----------------------------------------------------------------

#[tokio::test]
async fn per_root_and_connection_clients_share_a_root_id() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let mut conn_replica = Replica::mounted(&conn.mount(COUNTER, "shared", json!({})).await);
    conn_replica.apply(&conn.command_ok("shared", json!([]), "increment", json!({"by": 10}), json!({})).await);

    // The per-root client joins later: the current state, its own 0 → 1.
    let mut roots = Roots::open(address).await;
    let topic = root_topic(COUNTER, "shared");
    let mut root_replica = Replica::mounted(&roots.mount(COUNTER, "shared", json!({})).await);
    assert_eq!(root_replica.tree["count"], 10);

    // An increment from the per-root client reaches both, each with its own root_id and versions.
    let mine = roots.command_ok(&topic, "increment", json!({"by": 2}), json!({})).await;
    assert_eq!((mine["root_id"].clone(), versions(&mine)), (json!(root_id(COUNTER, "shared")), (json!(1), json!(2))));
    let theirs = conn.envelope().await;
    assert_eq!((theirs["root_id"].clone(), versions(&theirs)), (json!("shared"), (json!(2), json!(3))));
    assert_eq!(mine["ops"], theirs["ops"]);
    root_replica.apply(&mine);
    conn_replica.apply(&theirs);

    // And the other way round, push events included.
    let theirs = conn.command_ok("shared", json!([]), "set_label", json!({"label": "Both"}), json!({})).await;
    let mine = roots.envelope(&topic).await;
    assert_eq!((mine["root_id"].clone(), versions(&mine)), (json!("Demo.CounterStore:shared"), (json!(2), json!(3))));
    assert_eq!((mine["events"].clone(), mine["events"].as_array().unwrap().len()), (theirs["events"].clone(), 1));
    root_replica.apply(&mine);
    conn_replica.apply(&theirs);
    assert_eq!((root_replica.tree["count"].clone(), root_replica.tree["label"].clone()), (json!(12), json!("Both")));
    root_replica.assert_same_as(&conn_replica);

    // A second per-root socket and a fresh connection-mode mount see the same page.
    let mut other = Roots::open(address).await;
    let fresh = Replica::mounted(&other.mount(COUNTER, "shared", json!({})).await);
    root_replica.assert_same_as(&fresh);
    let mut later = Conn::open(address).await;
    root_replica.assert_same_as(&Replica::mounted(&later.mount(COUNTER, "shared", json!({})).await));
    // A per-root leave leaves the other subscribers subscribed.
    roots.leave(&topic).await;
    conn.command_ok("shared", json!([]), "increment", json!({}), json!({})).await;
    assert_eq!(versions(&other.envelope(&topic).await), (json!(1), json!(2)));
    assert_eq!(later.envelope().await["root_id"], "shared");
    roots.client.expect_silence(100).await;
}

// ---- --wire ------------------------------------------------------------------------------------

#[tokio::test]
async fn wire_both_routes_by_the_topic_shape() {
    let address = start(config()).await;
    let mut client = Client::connect(address, VSN).await;
    for topic in [TOPIC, "musubi:other", "musubi:connection:Demo.CounterStore"] {
        assert_eq!(client.join(topic, "1", json!({})).await, reply_frame(json!("1"), "1", topic, "ok", json!({})));
    }
    let mut roots = Roots::open(address).await;
    roots.mount(COUNTER, "x", json!({})).await;
}

#[tokio::test]
async fn wire_per_root_refuses_other_musubi_topics() {
    let address = start(wire(WireMode::PerRoot)).await;
    let mut client = Client::connect(address, VSN).await;
    for topic in [TOPIC, "musubi:other", "musubi:connection:Demo.CounterStore"] {
        let reply = client.join(topic, "1", json!({})).await;
        assert_eq!(reply, reply_frame(Value::Null, "1", topic, "error", json!({"reason": "unmatched topic"})));
    }
    client.join_ok("echo:still", "2").await;
    let mut roots = Roots::open(address).await;
    let topic = root_topic(COUNTER, "only");
    roots.mount(COUNTER, "only", json!({})).await;
    roots.command_ok(&topic, "increment", json!({}), json!({})).await;
}

#[tokio::test]
async fn wire_connection_treats_root_topics_as_connection_channels() {
    let address = start(wire(WireMode::Connection)).await;
    let mut client = Client::connect(address, VSN).await;
    let topic = root_topic(COUNTER, "x");
    let reply = client.join(&topic, "1", json!({"module": COUNTER, "id": "x", "params": {}})).await;
    assert_eq!(reply, reply_frame(json!("1"), "1", &topic, "ok", json!({})));
    // No root was mounted by the join; the channel takes connection-channel events.
    client.expect_silence(100).await;
    assert_eq!(stats(address).await["roots"], 0);
    client.send(json!(["1", "2", topic, "mount", {"module": COUNTER, "id": "x", "params": {}}])).await;
    assert_eq!(client.recv_json().await, reply_frame(json!("1"), "2", &topic, "ok", json!({"root_id": "x"})));
    let initial = client.recv_json().await;
    assert_eq!((initial[3].clone(), initial[4]["root_id"].clone()), (json!("patch"), json!("x")));
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "y", json!({})).await;
}

// ---- test endpoints ----------------------------------------------------------------------------

#[tokio::test]
async fn test_crash_of_a_root_channel_errors_only_that_channel() {
    let address = start(config()).await;
    let mut roots = Roots::open(address).await;
    let (a, b) = (root_topic(COUNTER, "a"), root_topic(COUNTER, "b"));
    roots.mount(COUNTER, "a", json!({})).await;
    roots.mount(COUNTER, "b", json!({})).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "a", json!({})).await;
    assert_eq!(post(address, &format!("/_test/crash?topic={a}")).await, json!({"crashed": 1}));
    roots.expect_crash(&a).await;
    assert_eq!(stats(address).await["roots"], 2);
    // The other root channel and the connection-mode subscriber of the same id live on.
    roots.command_ok(&b, "increment", json!({}), json!({})).await;
    conn.command_ok("a", json!([]), "increment", json!({}), json!({})).await;
    roots.client.expect_silence(100).await;
    // Rejoining (as phoenix.js does after phx_error) mounts afresh.
    assert_eq!(roots.mount(COUNTER, "a", json!({})).await["ops"][0]["value"]["count"], 1);
    // Crashing the connection channel leaves the root channels alone.
    assert_eq!(post(address, &format!("/_test/crash?topic={TOPIC}")).await, json!({"crashed": 1}));
    conn.expect_crash().await;
    roots.command_ok(&a, "increment", json!({}), json!({})).await;
}

#[tokio::test]
async fn test_gap_corrupt_and_deepen_reach_per_root_subscribers() {
    let address = start(config()).await;
    let mut roots = Roots::open(address).await;
    let topic = root_topic(COUNTER, "g");
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "g", json!({})).await;
    conn.command_ok("g", json!([]), "increment", json!({}), json!({})).await;
    roots.mount(COUNTER, "g", json!({})).await;
    let per_root = root_id(COUNTER, "g");

    assert_eq!(post(address, "/_test/gap?root_id=g").await, json!({"sent": 2}));
    assert_eq!(versions(&conn.envelope().await), (json!(7), json!(8)));
    assert_eq!(
        roots.envelope(&topic).await,
        json!({"type": "patch", "root_id": per_root, "base_version": 6, "version": 7, "ops": [], "stream_ops": [], "upload_ops": [], "events": []})
    );
    // The per-root id names no root of the endpoints.
    assert_eq!(post(address, &format!("/_test/gap?root_id={per_root}")).await, json!({"sent": 0}));

    assert_eq!(post(address, "/_test/corrupt?root_id=g").await, json!({"sent": 2}));
    assert_eq!(versions(&conn.envelope().await), (json!(2), json!(3)));
    assert_eq!(
        roots.envelope(&topic).await,
        json!({"type": "patch", "root_id": per_root, "base_version": 1, "version": 2,
               "ops": [{"op": "remove", "path": "/no/such/deep/path"}], "stream_ops": [], "upload_ops": [], "events": []})
    );

    assert_eq!(post(address, "/_test/deepen?root_id=g&levels=3&step=2").await, json!({"sent": 2, "envelopes": 2}));
    for _ in 0..2 {
        conn.envelope().await;
    }
    let first = roots.envelope(&topic).await;
    assert_eq!((first["root_id"].clone(), versions(&first)), (json!(per_root), (json!(2), json!(3))));
    assert_eq!(first["ops"], json!([{"op": "add", "path": "/deep", "value": {"next": {"leaf": true}}}]));
    let second = roots.envelope(&topic).await;
    assert_eq!((second["root_id"].clone(), versions(&second)), (json!(per_root), (json!(3), json!(4))));

    // Real patches follow in sequence.
    let next = roots.command_ok(&topic, "increment", json!({}), json!({})).await;
    assert_eq!(versions(&next), (json!(4), json!(5)));
    assert_eq!(versions(&conn.envelope().await), (json!(5), json!(6)));

    // deep_initial arms the plain id; the per-root remount gets the chain under its own root_id.
    assert_eq!(post(address, "/_test/deep_initial?root_id=g&levels=3").await, json!({"armed": true}));
    roots.leave(&topic).await;
    let initial = roots.mount(COUNTER, "g", json!({})).await;
    assert_eq!(initial["ops"][0]["value"]["deep"], json!({"next": {"next": {"leaf": true}}}));
    assert_eq!(initial["ops"][0]["value"]["count"], 2);
    assert_eq!(initial["stream_ops"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn test_drop_and_stats_cover_root_channels() {
    let address = start(config()).await;
    let mut roots = Roots::open(address).await;
    roots.mount(COUNTER, "d1", json!({})).await;
    roots.mount(COUNTER, "d2", json!({})).await;
    let now = stats(address).await;
    assert_eq!((now["sockets"].clone(), now["mounts"].clone(), now["roots"].clone()), (json!(1), json!(2), json!(2)));
    assert_eq!(post(address, "/_test/drop?code=4000").await, json!({"dropped": 1}));
    assert_eq!(roots.client.end(Duration::from_secs(3)).await, End::Closed(4000, "test drop".into()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(stats(address).await["roots"], 0);
}
