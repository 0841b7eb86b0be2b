//! PROTOCOL §4.5 checklist items 33–38 and the limit rules of §2.10.

use super::*;
use serde_json::json;

fn insert(store: &StoreId, key: &str, at: i64, limit: Option<i64>) -> StreamOp {
    StreamOp::Insert { store_id: store.clone(), stream: "s".into(), item_key: key.into(), at, item: Node::from(key), limit }
}

fn keys(streams: &Streams, store: &StoreId) -> Vec<String> {
    streams.entries(&store.key(), "s").map(|e| e.key.to_string()).collect()
}

#[test]
fn checklist_33_insert_appends_prepends_and_splices() {
    let root = StoreId::root();
    let mut streams = Streams::default();
    for op in [insert(&root, "a", -1, None), insert(&root, "b", 0, None), insert(&root, "c", 1, None)] {
        streams.apply(&op);
    }
    assert_eq!(keys(&streams, &root), ["b", "c", "a"]);
    streams.apply(&insert(&root, "d", 99, None));
    streams.apply(&insert(&root, "e", -5, None));
    assert_eq!(keys(&streams, &root), ["e", "b", "c", "a", "d"], "large index clamps to the end, other negatives prepend");
}

#[test]
fn checklist_34_inserting_an_existing_key_moves_it() {
    let root = StoreId::root();
    let mut streams = Streams::default();
    streams.apply(&insert(&root, "a", -1, None));
    streams.apply(&insert(&root, "b", -1, None));
    streams.apply(&StreamOp::Insert {
        store_id: root.clone(),
        stream: "s".into(),
        item_key: "a".into(),
        at: -1,
        item: Node::from("A2"),
        limit: None,
    });
    assert_eq!(keys(&streams, &root), ["b", "a"]);
    let items: Vec<Node> = streams.entries(&root.key(), "s").map(|e| e.item.clone()).collect();
    assert_eq!(items, vec![Node::from("b"), Node::from("A2")]);
}

#[test]
fn checklist_35_limit_trims_the_end_opposite_to_the_insert() {
    let root = StoreId::root();
    let mut appended = Streams::default();
    appended.apply(&insert(&root, "a", -1, None));
    appended.apply(&insert(&root, "b", -1, None));
    let mut prepended = appended.clone();
    appended.apply(&insert(&root, "c", -1, Some(2)));
    assert_eq!(keys(&appended, &root), ["b", "c"]);
    prepended.apply(&insert(&root, "c", 0, Some(2)));
    assert_eq!(keys(&prepended, &root), ["c", "a"]);
    // The sign of the limit is ignored; zero empties the stream.
    let mut negative = Streams::default();
    for key in ["a", "b", "c"] {
        negative.apply(&insert(&root, key, -1, Some(-2)));
    }
    assert_eq!(keys(&negative, &root), ["b", "c"]);
    negative.apply(&insert(&root, "d", 1, Some(0)));
    assert!(keys(&negative, &root).is_empty());
}

#[test]
fn checklist_36_delete_by_key_and_reset() {
    let root = StoreId::root();
    let mut streams = Streams::default();
    for key in ["a", "b", "c"] {
        streams.apply(&insert(&root, key, -1, None));
    }
    streams.apply(&StreamOp::Delete { store_id: root.clone(), stream: "s".into(), item_key: "b".into() });
    assert_eq!(keys(&streams, &root), ["a", "c"]);
    streams.apply(&StreamOp::Delete { store_id: root.clone(), stream: "s".into(), item_key: "zz".into() });
    assert_eq!(keys(&streams, &root), ["a", "c"], "deleting a missing key is a no-op");
    streams.apply(&StreamOp::Reset { store_id: root.clone(), stream: "s".into() });
    assert!(keys(&streams, &root).is_empty());
    assert!(streams.has_streams(&root.key()), "a reset stream still exists (empty)");
}

#[test]
fn checklist_37_same_name_in_different_stores_is_separate() {
    let (a, b) = (StoreId::from(["a"]), StoreId::from(["b"]));
    let mut streams = Streams::default();
    streams.apply(&insert(&a, "x", -1, None));
    streams.apply(&insert(&b, "y", -1, None));
    assert_eq!(keys(&streams, &a), ["x"]);
    assert_eq!(keys(&streams, &b), ["y"]);
}

#[test]
fn checklist_38_store_ids_with_colons_do_not_collide() {
    let (joined, split) = (StoreId::from(["a::b"]), StoreId::from(["a", "b"]));
    let mut streams = Streams::default();
    streams.apply(&insert(&joined, "x", -1, None));
    streams.apply(&insert(&split, "y", -1, None));
    assert_eq!(keys(&streams, &joined), ["x"]);
    assert_eq!(keys(&streams, &split), ["y"]);
}

#[test]
fn prune_drops_every_stream_of_a_store() {
    let a = StoreId::from(["a"]);
    let mut streams = Streams::default();
    streams.apply(&insert(&a, "x", -1, None));
    assert!(streams.prune(&a.key()));
    assert!(!streams.has_streams(&a.key()));
    assert!(streams.is_empty());
    assert!(!streams.prune(&a.key()));
}

#[test]
fn wire_ops_parse_and_malformed_ones_are_rejected() {
    let parse = |value: serde_json::Value| StreamOp::parse(&Node::from_json(&value));
    let insert = parse(json!({"op":"insert","stream":"log","ref":"0","store_id":[],"item_key":"k","at":0,"item":{"id":"1"},"limit":50}));
    assert!(matches!(insert, Ok(StreamOp::Insert { at: 0, limit: Some(50), .. })));
    assert!(matches!(parse(json!({"op":"reset","stream":"log","ref":"0","store_id":["a"]})), Ok(StreamOp::Reset { .. })));
    assert!(matches!(parse(json!({"op":"delete","stream":"log","store_id":[],"item_key":"k"})), Ok(StreamOp::Delete { .. })));
    assert!(parse(json!({"op":"insert","stream":"log","store_id":[],"item_key":"k","at":"0","item":1,"limit":null})).is_err());
    assert!(parse(json!({"op":"move","stream":"log","store_id":[]})).is_err());
    assert!(parse(json!({"op":"reset","stream":"log","store_id":"root"})).is_err());
    assert!(parse(json!({"op":"delete","stream":"log","store_id":[]})).is_err());
}
