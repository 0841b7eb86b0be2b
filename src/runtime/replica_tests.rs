//! Envelope acceptance, store index, snapshots and notifications (PROTOCOL §2.11–§2.12, §4.1 10–11,
//! §4.4 29–32).

use serde_json::{Value, json};

use super::*;
use crate::runtime::store_id::StoreId;

fn envelope(base: u64, version: u64, ops: Value, stream_ops: Value) -> Envelope {
    let payload = json!({"type": "patch", "root_id": "r", "base_version": base, "version": version, "ops": ops, "stream_ops": stream_ops, "upload_ops": []});
    Envelope::parse(&Node::from_json(&payload)).unwrap()
}

fn initial(tree: Value, stream_ops: Value) -> Envelope {
    envelope(0, 1, json!([{"op": "replace", "path": "", "value": tree}]), stream_ops)
}

fn mounted(tree: Value) -> Replica {
    let mut replica = Replica::default();
    replica.accept(&initial(tree, json!([]))).unwrap();
    replica
}

fn page() -> Value {
    json!({
        "__musubi_store_id__": [],
        "title": "Inbox",
        "header": {"__musubi_store_id__": ["header"], "title": "Hi"},
        "lines": [
            {"__musubi_store_id__": ["line-1"], "name": "Pen"},
            {"__musubi_store_id__": ["line-2"], "name": "Ink"}
        ],
        "feed": {"messages": {"__musubi_stream__": "messages"}},
        "metadata": {"messages": "literal"},
        "older": {"__musubi_async__": true, "status": "loading", "result": {"__musubi_stream__": "older"}, "reason": null},
        "avatar": {"__musubi_upload__": "avatar"}
    })
}

fn keys(changes: &Changes) -> Vec<String> {
    let mut keys: Vec<String> = changes.notify.iter().map(|k| k.as_str().to_owned()).collect();
    keys.sort();
    keys
}

fn root() -> StoreId {
    StoreId::root()
}

#[test]
fn initial_envelope_is_required_first() {
    let mut replica = Replica::default();
    assert_eq!(replica.accept(&envelope(1, 2, json!([]), json!([]))), Err(AcceptError::NotInitial));
    let changes = replica.accept(&initial(page(), json!([]))).unwrap();
    assert!(changes.initial);
    assert_eq!(keys(&changes), vec!["[\"header\"]", "[\"line-1\"]", "[\"line-2\"]", "[]"]);
    assert_eq!(replica.version(), 1);
}

#[test]
fn a_version_mismatch_at_the_largest_version_is_described_without_overflow() {
    let gap = AcceptError::VersionMismatch { expected: u64::MAX, base: 1, version: 2 };
    let max = u64::MAX;
    assert_eq!(gap.to_string(), format!("Version mismatch: expected {max} → {max}, got 1 → 2"));
    assert_eq!(gap.resync_cause(), format!("it missed an update (expected {max} → {max}, got 1 → 2)"));
}

#[test]
fn out_of_sequence_envelopes_are_rejected_without_change() {
    let mut replica = mounted(page());
    let before = replica.tree().clone();
    for (base, version) in [(2, 3), (1, 3), (0, 1), (0, 2)] {
        assert!(matches!(replica.accept(&envelope(base, version, json!([]), json!([]))), Err(AcceptError::VersionMismatch { .. })));
    }
    assert!(replica.tree().same(&before));
    assert_eq!(replica.version(), 1);
}

#[test]
fn a_failing_op_leaves_the_replica_intact() {
    let mut replica = mounted(page());
    let snapshot = replica.snapshot(&root());
    let ops = json!([{"op": "replace", "path": "/title", "value": "changed"}, {"op": "remove", "path": "/no/such/path"}]);
    let streams =
        json!([{"op": "insert", "stream": "messages", "ref": "0", "store_id": [], "item_key": "m", "at": -1, "item": 1, "limit": null}]);
    assert!(matches!(replica.accept(&envelope(1, 2, ops, streams)), Err(AcceptError::Patch(_))));
    assert_eq!(replica.version(), 1);
    assert_eq!(replica.read_field(&root(), "title"), Some(Node::from("Inbox")));
    assert!(replica.snapshot(&root()).same(&snapshot), "nothing was invalidated");
    assert_eq!(replica.streams().entries(&root().key(), "messages").count(), 0);
    let bad_stream = json!([{"op": "insert", "stream": "messages", "store_id": [], "item_key": "m", "at": "x", "item": 1, "limit": null}]);
    assert!(matches!(replica.accept(&envelope(1, 2, json!([]), bad_stream)), Err(AcceptError::Stream(_))));
}

#[test]
fn checklist_10_snapshot_is_a_plain_tree_with_streams_async_and_children() {
    let mut replica = mounted(page());
    let snapshot = replica.snapshot(&root()).to_json();
    assert_eq!(snapshot["__musubi_store_id__"], json!([]));
    assert_eq!(snapshot["title"], "Inbox");
    assert_eq!(snapshot["feed"]["messages"], json!([]), "an empty stream is an empty array, also nested");
    assert_eq!(snapshot["older"], json!({"status": "loading", "data": [], "error": null}));
    assert_eq!(snapshot["metadata"]["messages"], "literal");
    assert_eq!(snapshot["header"], json!({"__musubi_store_id__": ["header"], "title": "Hi"}));
    assert_eq!(snapshot["lines"][1], json!({"__musubi_store_id__": ["line-2"], "name": "Ink"}));
    assert_eq!(snapshot["avatar"], json!({"__musubi_upload__": "avatar"}));
    let child = replica.snapshot(&StoreId::from(["header"]));
    assert!(replica.snapshot(&root()).get("header").is_some_and(|nested| nested.same(&child)), "children are their own cached snapshots");
}

#[test]
fn checklist_11_stream_markers_resolve_at_nested_and_top_level_paths() {
    let tree = json!({"__musubi_store_id__": [], "top": {"__musubi_stream__": "messages"}, "feed": {"messages": {"__musubi_stream__": "messages"}},
        "older": {"__musubi_async__": true, "status": "ok", "result": {"__musubi_stream__": "older"}, "reason": null}, "metadata": {"messages": "x"}});
    let streams = json!([
        {"op": "insert", "stream": "messages", "ref": "0", "store_id": [], "item_key": "m1", "at": -1, "item": {"id": 1}, "limit": null},
        {"op": "insert", "stream": "older", "ref": "1", "store_id": [], "item_key": "o1", "at": -1, "item": {"id": 9}, "limit": null}
    ]);
    let mut replica = Replica::default();
    replica.accept(&initial(tree, streams)).unwrap();
    let snapshot = replica.snapshot(&root()).to_json();
    assert_eq!(snapshot["top"], json!([{"id": 1}]));
    assert_eq!(snapshot["feed"]["messages"], json!([{"id": 1}]));
    assert_eq!(snapshot["older"], json!({"status": "ok", "data": [{"id": 9}], "error": null}));
    assert_eq!(snapshot["metadata"]["messages"], "x");
    assert_eq!(replica.read_field(&root(), "top").map(|n| n.to_json()), Some(json!([{"id": 1}])));
}

#[test]
fn failed_async_exposes_the_reason_and_a_non_async_shape_stays_plain() {
    let tree = json!({"__musubi_store_id__": [], "a": {"__musubi_async__": true, "status": "failed", "result": null, "reason": {"kind": "error", "value": "x"}},
        "b": {"__musubi_async__": true, "status": "ok", "result": 1}, "c": {"__musubi_async__": true, "status": "ok", "result": 2, "reason": {"ignored": true}}});
    let mut replica = mounted(tree);
    let snapshot = replica.snapshot(&root()).to_json();
    assert_eq!(snapshot["a"], json!({"status": "failed", "data": null, "error": {"kind": "error", "value": "x"}}));
    assert_eq!(snapshot["b"], json!({"__musubi_async__": true, "status": "ok", "result": 1}), "no reason key: a plain object");
    assert_eq!(snapshot["c"], json!({"status": "ok", "data": 2, "error": null}));
}

#[test]
fn checklist_29_an_unrelated_store_keeps_its_identical_snapshot() {
    let mut replica = mounted(page());
    let header = replica.snapshot(&StoreId::from(["header"]));
    let line = replica.snapshot(&StoreId::from(["line-1"]));
    let changes =
        replica.accept(&envelope(1, 2, json!([{"op": "replace", "path": "/lines/1/name", "value": "Paper"}]), json!([]))).unwrap();
    assert_eq!(keys(&changes), vec!["[\"line-2\"]", "[]"], "the changed store and its ancestors only");
    assert!(replica.snapshot(&StoreId::from(["header"])).same(&header));
    assert!(replica.snapshot(&StoreId::from(["line-1"])).same(&line));
}

#[test]
fn checklist_30_a_changed_store_and_its_ancestors_get_new_snapshots() {
    let mut replica = mounted(page());
    let (root_before, line_before) = (replica.snapshot(&root()), replica.snapshot(&StoreId::from(["line-2"])));
    replica.accept(&envelope(1, 2, json!([{"op": "replace", "path": "/lines/1/name", "value": "Paper"}]), json!([]))).unwrap();
    let (root_after, line_after) = (replica.snapshot(&root()), replica.snapshot(&StoreId::from(["line-2"])));
    assert!(!root_after.same(&root_before) && !line_after.same(&line_before));
    assert_eq!(line_after.to_json()["name"], "Paper");
    assert_eq!(root_after.to_json()["lines"][1]["name"], "Paper");
    assert!(root_after.get("header").is_some_and(|h| root_before.get("header").is_some_and(|old| old.same(h))), "unchanged child shared");
}

#[test]
fn checklist_31_a_store_dropped_by_a_parent_replace_gets_an_empty_snapshot() {
    let mut replica = mounted(page());
    let _ = replica.snapshot(&StoreId::from(["line-1"]));
    let changes = replica.accept(&envelope(1, 2, json!([{"op": "replace", "path": "/lines", "value": []}]), json!([]))).unwrap();
    assert_eq!(keys(&changes), vec!["[\"line-1\"]", "[\"line-2\"]", "[]"]);
    assert_eq!(replica.snapshot(&StoreId::from(["line-1"])).to_json(), json!({"__musubi_store_id__": ["line-1"]}));
    assert!(replica.store(&StoreId::from(["line-1"]).key()).is_none());
}

#[test]
fn checklist_32_a_stream_op_renews_the_owner_and_ancestors_snapshots() {
    let tree = json!({"__musubi_store_id__": [], "child": {"__musubi_store_id__": ["child"], "log": {"__musubi_stream__": "log"}}, "other": {"__musubi_store_id__": ["other"]}});
    let mut replica = mounted(tree);
    let (root_before, child_before, other_before) =
        (replica.snapshot(&root()), replica.snapshot(&StoreId::from(["child"])), replica.snapshot(&StoreId::from(["other"])));
    let streams = json!([{"op": "insert", "stream": "log", "ref": "0", "store_id": ["child"], "item_key": "k", "at": 0, "item": "hello", "limit": 50}]);
    let changes = replica.accept(&envelope(1, 2, json!([]), streams)).unwrap();
    assert_eq!(keys(&changes), vec!["[\"child\"]"], "ancestors are not notified for stream ops");
    assert!(!replica.snapshot(&root()).same(&root_before));
    let child = replica.snapshot(&StoreId::from(["child"]));
    assert!(!child.same(&child_before));
    assert_eq!(child.to_json()["log"], json!(["hello"]));
    assert!(replica.snapshot(&StoreId::from(["other"])).same(&other_before));
}

#[test]
fn streams_of_removed_stores_are_pruned_and_their_owner_notified() {
    let tree = json!({"__musubi_store_id__": [], "child": {"__musubi_store_id__": ["child"], "log": {"__musubi_stream__": "log"}}});
    let streams =
        json!([{"op": "insert", "stream": "log", "ref": "0", "store_id": ["child"], "item_key": "k", "at": 0, "item": 1, "limit": null}]);
    let mut replica = Replica::default();
    replica.accept(&initial(tree, streams)).unwrap();
    let changes = replica.accept(&envelope(1, 2, json!([{"op": "remove", "path": "/child"}]), json!([]))).unwrap();
    assert_eq!(keys(&changes), vec!["[\"child\"]", "[]"]);
    assert!(!replica.streams().has_streams(&StoreId::from(["child"]).key()));
    // A stream op for a store that is not in the tree is pruned right away.
    let orphan =
        json!([{"op": "insert", "stream": "log", "ref": "0", "store_id": ["ghost"], "item_key": "k", "at": 0, "item": 1, "limit": null}]);
    replica.accept(&envelope(2, 3, json!([]), orphan)).unwrap();
    assert!(!replica.streams().has_streams(&StoreId::from(["ghost"]).key()));
}

#[test]
fn index_follows_adds_removes_and_array_shifts() {
    let mut replica = mounted(page());
    let line3 = json!({"__musubi_store_id__": ["line-3"], "name": "Pad"});
    let changes = replica.accept(&envelope(1, 2, json!([{"op": "add", "path": "/lines/0", "value": line3}]), json!([]))).unwrap();
    assert_eq!(keys(&changes), vec!["[\"line-3\"]", "[]"], "siblings that merely shifted did not change");
    replica.accept(&envelope(2, 3, json!([{"op": "remove", "path": "/lines/1"}]), json!([]))).unwrap();
    let mut indexed: Vec<String> = replica.index().keys().map(|k| k.as_str().to_owned()).collect();
    indexed.sort();
    assert_eq!(indexed, vec!["[\"header\"]", "[\"line-2\"]", "[\"line-3\"]", "[]"]);
    assert_eq!(replica.read_field(&StoreId::from(["line-2"]), "name"), Some(Node::from("Ink")));
    // Re-keying a store through its id field moves it in the index.
    replica
        .accept(&envelope(3, 4, json!([{"op": "replace", "path": "/header/__musubi_store_id__", "value": ["top"]}]), json!([])))
        .unwrap();
    assert!(replica.store(&StoreId::from(["header"]).key()).is_none());
    assert_eq!(replica.read_field(&StoreId::from(["top"]), "title"), Some(Node::from("Hi")));
}

#[test]
fn expect_initial_keeps_the_last_good_state_readable_until_the_swap() {
    let mut replica = mounted(page());
    replica.accept(&envelope(1, 2, json!([{"op": "replace", "path": "/title", "value": "v2"}]), json!([]))).unwrap();
    replica.expect_initial();
    assert_eq!(replica.read_field(&root(), "title"), Some(Node::from("v2")), "stale but readable");
    assert_eq!(replica.accept(&envelope(2, 3, json!([]), json!([]))), Err(AcceptError::NotInitial), "late envelopes are ignored");
    let header = replica.snapshot(&StoreId::from(["header"]));
    let before = replica.snapshot(&root());
    let mut fresh = page();
    fresh["title"] = json!("fresh");
    let changes = replica.accept(&initial(fresh, json!([]))).unwrap();
    assert!(changes.initial);
    assert_eq!(keys(&changes), vec!["[]"], "only the store whose state differs counts as changed at the swap");
    assert_eq!(replica.read_field(&root(), "title"), Some(Node::from("fresh")));
    assert!(replica.snapshot(&StoreId::from(["header"])).same(&header), "unchanged stores keep their snapshot");
    assert!(!replica.snapshot(&root()).same(&before));
}

#[test]
fn a_remount_with_equal_state_changes_nothing() {
    let mut replica = mounted(page());
    let stream =
        json!([{"op": "insert", "stream": "log", "ref": "0", "store_id": [], "item_key": "a", "at": 0, "item": {"n": 1}, "limit": null}]);
    replica.accept(&envelope(1, 2, json!([]), stream.clone())).unwrap();
    let before = replica.snapshot(&root());
    let tree = replica.tree().clone();
    replica.expect_initial();
    let changes = replica.accept(&initial(page(), stream)).unwrap();
    assert!(keys(&changes).is_empty(), "nothing differs: {:?}", keys(&changes));
    assert!(replica.snapshot(&root()).same(&before), "the snapshot keeps its identity across the remount");
    assert!(replica.tree().same(&tree));
    // A remount whose stream differs announces (and rebuilds) that store only.
    replica.expect_initial();
    let other =
        json!([{"op": "insert", "stream": "log", "ref": "0", "store_id": [], "item_key": "b", "at": 0, "item": {"n": 2}, "limit": null}]);
    let changes = replica.accept(&initial(page(), other)).unwrap();
    assert_eq!(keys(&changes), vec!["[]"]);
    assert!(!replica.snapshot(&root()).same(&before));
}

#[test]
fn upload_ops_notify_the_owner_and_invalidate_its_snapshot_and_its_ancestors() {
    let mut replica = mounted(page());
    let before = replica.snapshot(&root());
    let header = StoreId::from(["header"]);
    let header_before = replica.snapshot(&header);
    let payload = json!({"type": "patch", "root_id": "r", "base_version": 1, "version": 2, "ops": [], "stream_ops": [],
        "upload_ops": [{"op": "config", "upload": "avatar", "store_id": [], "config": {"accept": "any", "max_entries": 1, "max_file_size": 10, "chunk_size": 5}}]});
    let changes = replica.accept(&Envelope::parse(&Node::from_json(&payload)).unwrap()).unwrap();
    assert_eq!(keys(&changes), vec!["[]"]);
    assert_eq!(changes.uploads, vec![(root(), "avatar".into())]);
    // Later reference clients (PROTOCOL.md §6.1): the owner's snapshot is new, an unrelated
    // store's is not.
    assert!(!replica.snapshot(&root()).same(&before));
    assert!(replica.snapshot(&header).same(&header_before));
    assert!(replica.uploads().handle(&root().key(), "avatar").is_some());
    // An upload op of a store the tree does not have changes nothing.
    let payload = json!({"type": "patch", "root_id": "r", "base_version": 2, "version": 3, "ops": [], "stream_ops": [],
        "upload_ops": [{"op": "reset", "upload": "avatar", "store_id": ["nope"]}]});
    let changes = replica.accept(&Envelope::parse(&Node::from_json(&payload)).unwrap()).unwrap();
    assert!(changes.uploads.is_empty());
}

#[test]
fn plain_subtrees_keep_their_identity_in_snapshots_across_versions() {
    let tree = json!({"__musubi_store_id__": [], "title": "a", "meta": {"tags": [1, 2], "deep": {"x": 1}}, "list": [{"n": 1}]});
    let mut replica = mounted(tree);
    let before = replica.snapshot(&root());
    assert!(before.get("meta").zip(replica.tree().get("meta")).is_some_and(|(s, w)| s.same(w)), "the wire node itself");
    replica.accept(&envelope(1, 2, json!([{"op": "replace", "path": "/title", "value": "b"}]), json!([]))).unwrap();
    let after = replica.snapshot(&root());
    assert!(!after.same(&before));
    for field in ["meta", "list"] {
        assert!(after.get(field).zip(before.get(field)).is_some_and(|(a, b)| a.same(b)), "{field} kept its identity");
    }
    replica.accept(&envelope(2, 3, json!([{"op": "replace", "path": "/meta/deep/x", "value": 2}]), json!([]))).unwrap();
    let third = replica.snapshot(&root());
    let tags = |snapshot: &Node| snapshot.get("meta").and_then(|meta| meta.get("tags")).cloned();
    assert!(tags(&third).zip(tags(&after)).is_some_and(|(a, b)| a.same(&b)), "untouched sibling keeps identity");
    assert!(!third.get("meta").zip(after.get("meta")).is_some_and(|(a, b)| a.same(b)), "the patched path is new");
    assert_eq!(third.get("meta").map(Node::to_json), Some(json!({"tags": [1, 2], "deep": {"x": 2}})));
}

#[test]
fn a_wide_array_is_re_resolved_from_its_previous_snapshot_and_stays_right() {
    // Every 50th item is a child store; the rest are plain.
    let items: Vec<Value> =
        (0..500).map(|n| if n % 50 == 0 { json!({"__musubi_store_id__": [format!("s{n}")], "n": n}) } else { json!({"n": n}) }).collect();
    let mut replica = mounted(json!({"__musubi_store_id__": [], "items": items}));
    let first = replica.snapshot(&root());
    let item = |snapshot: &Node, at: usize| snapshot.get("items").and_then(|items| items.at(at)).cloned().unwrap_or_default();
    let steps = [
        (json!([{"op": "replace", "path": "/items/7/n", "value": -7}]), 7, json!({"n": -7})),
        (json!([{"op": "replace", "path": "/items/100/n", "value": -100}]), 100, json!({"__musubi_store_id__": ["s100"], "n": -100})),
        (json!([{"op": "add", "path": "/items/3", "value": {"n": "new"}}]), 3, json!({"n": "new"})),
        (json!([{"op": "remove", "path": "/items/3"}]), 3, json!({"n": 3})),
    ];
    let mut before = first;
    for (version, (ops, at, expected)) in (1..).zip(steps) {
        replica.accept(&envelope(version, version + 1, ops, json!([]))).unwrap();
        let after = replica.snapshot(&root());
        assert_eq!(item(&after, at).to_json(), expected, "step {version}");
        let wire = replica.tree().get("items").cloned().unwrap_or_default();
        assert_eq!(after.get("items").map(|items| items.as_array().map_or(0, |items| items.len())), Some(500 + usize::from(version == 3)));
        // Plain items are the wire nodes; child stores are their (cached) snapshots.
        for probe in [1, 49, 252, 499] {
            assert!(
                item(&after, probe).same(&wire.at(probe).cloned().unwrap_or_default()),
                "step {version}: item {probe} is the wire node"
            );
        }
        let store = if version == 3 { 51 } else { 50 };
        let s50 = StoreId::from(vec!["s50".to_owned()]);
        assert!(item(&after, store).same(&replica.snapshot(&s50)), "step {version}: a child store is its snapshot");
        if version == 1 {
            assert!(item(&after, 8).same(&item(&before, 8)), "an untouched item keeps its identity");
        }
        before = after;
    }
    assert_eq!(replica.snapshot(&root()).to_json(), {
        let mut expected = replica.tree().to_json();
        expected["items"][7]["n"] = json!(-7);
        expected
    });
}

#[test]
fn regression_a_remount_without_a_streams_seed_empties_it_in_the_snapshot() {
    // Found by the simulation (seed 1479): the fresh state left a stream unseeded, the root node
    // was unchanged, and the cached snapshot kept the old items.
    let mut replica = Replica::default();
    let tree = json!({"__musubi_store_id__": [], "count": 1, "log": {"__musubi_stream__": "log"}});
    let seed = json!([{"op": "insert", "store_id": [], "stream": "log", "item_key": "seed", "at": -1, "item": {"id": "seed"}}]);
    replica.accept(&initial(tree.clone(), seed)).unwrap();
    assert_eq!(replica.snapshot(&StoreId::root()).to_json()["log"], json!([{"id": "seed"}]));
    replica.expect_initial();
    let changes = replica.accept(&initial(tree, json!([]))).unwrap();
    assert_eq!(replica.snapshot(&StoreId::root()).to_json()["log"], json!([]));
    assert!(changes.notify.contains(&StoreId::root().key()), "the root store was announced");
}
