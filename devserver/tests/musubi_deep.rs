//! Host integration tests of the deep-tree test endpoints, `/_test/deepen` and
//! `/_test/deep_initial`: the envelopes are valid, correctly sequenced, nest as deep as asked,
//! and real patches keep flowing after them.
//!
//! Deep frames are never parsed into a `serde_json::Value` (its recursion limit, and its recursive
//! drop): they are decoded with the client's frame codec, measured as text, and read with the
//! client's own iterative parser and replica (`musubi_wasm::runtime`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use musubi_wasm::runtime::depth::{MAX_DEPTH, depth_of, parse_bounded};
use musubi_wasm::runtime::envelope::Envelope;
use musubi_wasm::runtime::replica::{AcceptError, Replica as ClientReplica};
use musubi_wasm::runtime::tree::Node;
use serde_json::{Value, json};
use support::musubi::{COUNTER, Conn, TextEnvelope, reply_ok, text_depth};
use support::{config, http, post, start};

/// Frame array, envelope object, `ops` array and op object sit above an op's value.
const ABOVE_VALUE: usize = 4;

/// Parses envelope text without recursion or a depth cap.
fn parse_deep(text: &str) -> Node {
    let (node, truncated) = parse_bounded(text, usize::MAX).unwrap();
    assert!(!truncated);
    node
}

/// The envelope, which must have a single op, and that op as `(op, path, value)`.
fn single_op(envelope: &Node) -> (Envelope, (String, String, Node)) {
    let parsed = Envelope::parse(envelope).unwrap();
    assert_eq!((parsed.ops.len(), parsed.upload_ops.len()), (1, 0), "expected a single op");
    let op = &parsed.ops[0];
    let field = |key: &str| op.get(key).and_then(Node::as_str).unwrap().to_owned();
    let op = (field("op"), field("path"), op.get("value").cloned().unwrap());
    (parsed, op)
}

/// Follows `next` from `node` to the innermost object; returns how many objects it passed.
fn chain_length(node: &Node) -> usize {
    let mut levels = 1;
    let mut node = node;
    while let Some(next) = node.get("next") {
        levels += 1;
        node = next;
    }
    assert!(matches!(node.get("leaf"), Some(Node::Bool(true))), "the chain ends with {{\"leaf\": true}}");
    levels
}

/// Accepts a shallow envelope (a `serde_json::Value`) into a client replica.
fn accept_json(replica: &mut ClientReplica, envelope: &Value) {
    replica.accept(&Envelope::parse(&Node::from_json(envelope)).unwrap()).unwrap();
}

/// Accepts envelope text into a client replica (the way the client reads deep frames).
fn accept_text(replica: &mut ClientReplica, envelope: &TextEnvelope) -> Result<(), AcceptError> {
    replica.accept(&Envelope::parse_text(&envelope.envelope).unwrap()).map(|_| ())
}

#[tokio::test]
async fn test_deepen_sends_sequenced_envelopes_that_build_a_chain() {
    let address = start(config()).await;
    let mut a = Conn::open(address).await;
    let mut b = Conn::open(address).await;
    let mut replica_a = ClientReplica::default();
    accept_json(&mut replica_a, &a.mount(COUNTER, "deep", json!({})).await);
    accept_json(&mut replica_a, &a.command_ok("deep", json!([]), "increment", json!({}), json!({})).await);
    let mut replica_b = ClientReplica::default();
    accept_json(&mut replica_b, &b.mount(COUNTER, "deep", json!({})).await);

    assert_eq!(post(address, "/_test/deepen?root_id=deep&levels=300&step=100").await, json!({"sent": 2, "envelopes": 3}));
    for (conn, replica, first) in [(&mut a, &mut replica_a, 2), (&mut b, &mut replica_b, 1)] {
        for index in 0..3u64 {
            let received = conn.envelope_text().await;
            // Each frame nests one envelope step deep (the first value is 100 objects, each next
            // one 101, replacing the leaf), never the whole chain.
            let value_levels = if index == 0 { 100 } else { 101 };
            assert_eq!(text_depth(&received.frame), ABOVE_VALUE + value_levels);
            let (envelope, (op, path, value)) = single_op(&parse_deep(&received.envelope));
            assert_eq!((envelope.root_id.as_ref(), envelope.stream_ops.len()), ("deep", 0));
            assert_eq!(
                (envelope.base_version, envelope.version),
                (first + index, first + index + 1),
                "in sequence after the real envelopes"
            );
            let expected_path = if index == 0 { "/deep".to_owned() } else { format!("/deep{}", "/next".repeat(100 * index as usize - 1)) };
            assert_eq!((op.as_str(), path), ("add", expected_path));
            assert_eq!(chain_length(&value), value_levels);
            accept_text(replica, &received).unwrap();
        }
        // The client's tree: the root object plus a chain of 300 objects.
        assert_eq!(depth_of(replica.tree()), 301);
        assert_eq!(chain_length(replica.tree().get("deep").unwrap()), 300);
    }

    // Real patches follow the injected envelopes in sequence and leave the chain alone.
    let next = a.command_ok("deep", json!([]), "increment", json!({}), json!({})).await;
    assert_eq!((next["base_version"].clone(), next["version"].clone()), (json!(5), json!(6)));
    accept_json(&mut replica_a, &next);
    let next_b = b.envelope().await;
    assert_eq!((next_b["base_version"].clone(), next_b["version"].clone()), (json!(4), json!(5)));
    accept_json(&mut replica_b, &next_b);
    for replica in [&replica_a, &replica_b] {
        assert_eq!(replica.tree().get("count").unwrap().to_json(), json!(2));
        assert_eq!(depth_of(replica.tree()), 301);
    }

    // Only the clients hold the chain: a fresh mount of the root has none.
    let mut fresh = Conn::open(address).await;
    let initial = fresh.mount(COUNTER, "deep", json!({})).await;
    assert_eq!(initial["ops"][0]["value"]["count"], 2);
    assert!(initial["ops"][0]["value"].get("deep").is_none(), "{initial}");

    // Nothing is sent for a root that is not mounted (the count is what each socket would get).
    assert_eq!(post(address, "/_test/deepen?root_id=nope&levels=250").await, json!({"sent": 0, "envelopes": 3}));
}

#[tokio::test]
async fn test_deepen_to_thousands_of_levels_in_text_frames() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    let mut replica = ClientReplica::default();
    accept_json(&mut replica, &conn.mount(COUNTER, "deeper", json!({})).await);
    assert_eq!(post(address, "/_test/deepen?root_id=deeper&levels=5000&step=2500").await, json!({"sent": 1, "envelopes": 2}));
    for index in 0..2u64 {
        let received = conn.envelope_text().await;
        assert!(received.kept_as_text, "a frame this deep reaches the client as text");
        let value_levels = if index == 0 { 2500 } else { 2501 };
        assert_eq!(text_depth(&received.frame), ABOVE_VALUE + value_levels);
        let (envelope, (op, path, value)) = single_op(&parse_deep(&received.envelope));
        assert_eq!((envelope.base_version, envelope.version, op.as_str()), (index + 1, index + 2, "add"));
        assert_eq!(path.matches("/next").count(), if index == 0 { 0 } else { 2499 });
        assert_eq!(chain_length(&value), value_levels);
        if index == 0 {
            // More than a client accepts: a valid envelope, refused as too deep.
            assert!(matches!(accept_text(&mut replica, &received), Err(AcceptError::TooDeep { .. })));
        }
    }
    let next = conn.command_ok("deeper", json!([]), "increment", json!({}), json!({})).await;
    assert_eq!((next["base_version"].clone(), next["version"].clone()), (json!(3), json!(4)));
}

#[tokio::test]
async fn test_deep_initial_replaces_the_next_initial_envelope_once() {
    let address = start(config()).await;
    let mut conn = Conn::open(address).await;
    conn.mount(COUNTER, "di", json!({})).await;
    conn.command_ok("di", json!([]), "increment", json!({"by": 3}), json!({})).await;
    assert_eq!(post(address, "/_test/deep_initial?root_id=di&levels=2000").await, json!({"armed": true}));
    // Mounts already open are not touched.
    conn.client.expect_silence(100).await;

    // Drop the root and mount it again: its initial envelope carries the chain.
    assert_eq!(conn.request("unmount", json!({"root_id": "di"})).await, reply_ok());
    let reply = conn.request("mount", json!({"module": COUNTER, "id": "di", "params": {}})).await;
    assert_eq!(reply, ("ok".to_owned(), json!({"root_id": "di"})));
    let received = conn.envelope_text().await;
    assert!(received.kept_as_text);
    // Above the chain: the envelope's own levels and the root store's object.
    assert_eq!(text_depth(&received.frame), ABOVE_VALUE + 1 + 2000);
    assert!(text_depth(&received.frame) > 2000);
    let (envelope, (op, path, tree)) = single_op(&parse_deep(&received.envelope));
    assert_eq!((envelope.base_version, envelope.version, op.as_str(), path.as_str()), (0, 1, "replace", ""));
    // The real tree, plus the chain.
    assert_eq!(tree.get("count").unwrap().to_json(), json!(3));
    assert_eq!(tree.get("label").unwrap().to_json(), json!("Counter"));
    assert_eq!(tree.get("__musubi_store_id__").unwrap().to_json(), json!([]));
    assert_eq!(tree.get("log").unwrap().to_json(), json!({"__musubi_stream__": "log"}));
    assert_eq!(chain_length(tree.get("deep").unwrap()), 2000);
    assert_eq!(depth_of(&tree), 2001);
    // The stream seed is the real one (the increment's log item).
    assert_eq!(envelope.stream_ops.len(), 1);
    // A client refuses this initial state as too deep.
    const { assert!(2001 > MAX_DEPTH) };
    assert!(matches!(accept_text(&mut ClientReplica::default(), &received), Err(AcceptError::TooDeep { .. })));

    // Real patches follow in sequence.
    let next = conn.command_ok("di", json!([]), "increment", json!({}), json!({})).await;
    assert_eq!((next["base_version"].clone(), next["version"].clone()), (json!(1), json!(2)));
    assert!(next["ops"].as_array().unwrap().contains(&json!({"op": "replace", "path": "/count", "value": 4})), "{next}");

    // One-shot: the next remount is the real tree again.
    assert_eq!(conn.request("unmount", json!({"root_id": "di"})).await, reply_ok());
    let initial = conn.mount(COUNTER, "di", json!({})).await;
    assert!(initial["ops"][0]["value"].get("deep").is_none(), "{initial}");
    assert_eq!(initial["ops"][0]["value"]["count"], 4);
}

#[tokio::test]
async fn test_deep_initial_arms_a_first_mount_and_a_client_accepts_it() {
    let address = start(config()).await;
    assert_eq!(post(address, "/_test/deep_initial?root_id=first&levels=500").await, json!({"armed": true}));
    let mut conn = Conn::open(address).await;
    let reply = conn.request("mount", json!({"module": COUNTER, "id": "first", "params": {"start": 7}})).await;
    assert_eq!(reply, ("ok".to_owned(), json!({"root_id": "first"})));
    let received = conn.envelope_text().await;
    assert_eq!(text_depth(&received.frame), ABOVE_VALUE + 1 + 500);
    let mut replica = ClientReplica::default();
    accept_text(&mut replica, &received).unwrap();
    assert_eq!((replica.version(), depth_of(replica.tree())), (1, 501));
    assert_eq!(replica.tree().get("count").unwrap().to_json(), json!(7));
    let next = conn.command_ok("first", json!([]), "increment", json!({}), json!({})).await;
    accept_json(&mut replica, &next);
    assert_eq!((replica.version(), depth_of(replica.tree())), (2, 501));
    assert_eq!(replica.tree().get("count").unwrap().to_json(), json!(8));
    // Another socket mounting the same root afterwards gets the real tree.
    let mut other = Conn::open(address).await;
    assert!(other.mount(COUNTER, "first", json!({"start": 7})).await["ops"][0]["value"].get("deep").is_none());
}

#[tokio::test]
async fn test_deep_endpoints_refuse_bad_queries() {
    let address = start(config()).await;
    for path in [
        "/_test/deepen?root_id=r&levels=10&step=0",
        "/_test/deepen?root_id=r&levels=0",
        "/_test/deepen?root_id=r&levels=100001&step=1000",
        "/_test/deepen?root_id=r&levels=100000&step=1",
        "/_test/deepen?root_id=r",
        "/_test/deep_initial?root_id=r&levels=0",
        "/_test/deep_initial?root_id=r&levels=100001",
        "/_test/deep_initial?levels=5",
    ] {
        assert_eq!(http(address, "POST", path, "").await.status, 400, "{path}");
    }
    assert_eq!(post(address, "/_test/deepen?root_id=r&levels=100000&step=100").await, json!({"sent": 0, "envelopes": 1000}));
}
