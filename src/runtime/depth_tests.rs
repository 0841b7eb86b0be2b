//! Depth is bounded by design: every walk survives a tree at [`MAX_DEPTH`] on a thread with a
//! quarter of the browser's ~1 MiB stack (debug builds, the largest frames), and nothing deeper
//! than the limit ever enters a replica.

use serde_json::json;

use super::*;
use crate::runtime::envelope::Envelope;
use crate::runtime::index::build_index;
use crate::runtime::replica::{AcceptError, Replica};
use crate::runtime::store_id::StoreId;
use crate::runtime::tree::share_unchanged;

/// A quarter of Chromium's main-thread stack.
const SMALL_STACK: usize = 256 * 1024;

/// Runs `work` on a thread with [`SMALL_STACK`] bytes of stack (a stack overflow aborts the test
/// binary, so this fails loudly rather than flakily).
fn on_small_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(SMALL_STACK).spawn(work).unwrap().join().unwrap()
}

/// `{"next": {"next": … {"leaf": true}}}` with `levels` objects, as text.
fn chain_text(levels: usize) -> String {
    let mut text = String::with_capacity(levels * 10);
    for _ in 1..levels {
        text.push_str(r#"{"next":"#);
    }
    text.push_str(r#"{"leaf":true}"#);
    text.push_str(&"}".repeat(levels.saturating_sub(1)));
    text
}

/// A root store whose `deep` field holds a chain, so the tree has `levels` levels in all.
fn root_text(levels: usize) -> String {
    format!(r#"{{"__musubi_store_id__":[],"title":"t","deep":{}}}"#, chain_text(levels - 1))
}

fn initial_text(levels: usize) -> String {
    format!(
        r#"{{"type":"patch","root_id":"r","base_version":0,"version":1,"ops":[{{"op":"replace","path":"","value":{}}}],"stream_ops":[]}}"#,
        root_text(levels)
    )
}

#[test]
fn parsing_is_iterative_and_cut_at_the_cap() {
    let (node, truncated) = on_small_stack(|| {
        let (node, truncated) = parse_bounded(&chain_text(100_000), 50_000).unwrap();
        (depth_of(&node), truncated)
    });
    assert_eq!((node, truncated), (50_000, true));
    let (node, truncated) = parse_bounded(r#"[1, "two", {"three": [3.5, null, true]}]"#, MAX_DEPTH).unwrap();
    assert!(!truncated);
    assert_eq!(node.to_json(), json!([1, "two", {"three": [3.5, null, true]}]));
    assert!(parse_bounded("[1, 2", MAX_DEPTH).is_err());
    assert!(parse_bounded(r#"{"a" 1}"#, MAX_DEPTH).is_err());
}

#[test]
fn dropping_any_depth_is_iterative() {
    on_small_stack(|| {
        let (node, _) = parse_bounded(&chain_text(200_000), usize::MAX).unwrap();
        // Entries of the snapshot caches must not turn the drop (or their pruning) recursive.
        let mut weak = crate::runtime::tree::ContainerSet::default();
        let mut cursor = Some(node.clone());
        while let Some(current) = cursor {
            weak.insert(&current, ());
            cursor = current.get("next").cloned();
        }
        let shared = node.clone();
        drop(node);
        assert_eq!(depth_of(&shared), 200_000, "a shared tree survives the drop of one holder");
        drop(shared);
        assert_eq!(weak.prune(), 200_000, "every container was freed");
    });
}

#[test]
fn every_walk_fits_a_small_stack_at_the_limit() {
    on_small_stack(|| {
        let (tree, _) = parse_bounded(&root_text(MAX_DEPTH), usize::MAX).unwrap();
        assert_eq!(depth_of(&tree), MAX_DEPTH);
        let (copy, _) = parse_bounded(&tree.to_json_text(), usize::MAX).unwrap();
        assert!(copy == tree && !copy.same(&tree), "equality and text round trip");
        assert!(share_unchanged(&tree, &copy).same(&tree), "remount sharing keeps the old tree");
        assert_eq!(build_index(&tree).len(), 1);
        let value = tree.to_json();
        assert!(value.is_object());
        // A deep `serde_json::Value` drops recursively; leak this one rather than test serde_json.
        std::mem::forget(value);

        let mut replica = Replica::default();
        let envelope = Envelope::parse_text(&initial_text(MAX_DEPTH)).unwrap();
        replica.accept(&envelope).unwrap();
        let snapshot = replica.snapshot(&StoreId::root());
        assert_eq!(depth_of(&snapshot), MAX_DEPTH);
        // A remount of the same state keeps every identity.
        replica.expect_initial();
        replica.accept(&Envelope::parse_text(&initial_text(MAX_DEPTH)).unwrap()).unwrap();
        assert!(replica.snapshot(&StoreId::root()).same(&snapshot));
    });
}

#[test]
fn envelopes_past_the_limit_are_refused_whole() {
    let mut replica = Replica::default();
    let too_deep = Envelope::parse_text(&initial_text(MAX_DEPTH + 1)).unwrap();
    assert_eq!(too_deep.truncated_at, None, "just past the limit is still read in full");
    assert!(matches!(replica.accept(&too_deep), Err(AcceptError::TooDeep { depth }) if depth == MAX_DEPTH + 1));
    assert_eq!(replica.version(), 0);

    let cut = Envelope::parse_text(&initial_text(MAX_DEPTH * 10)).unwrap();
    assert!(cut.truncated_at.is_some(), "far past the limit the frame is cut while parsing");
    assert!(matches!(replica.accept(&cut), Err(AcceptError::TooDeep { .. })));

    // Deepening a live tree one op at a time stops at the limit, atomically.
    replica.accept(&Envelope::parse_text(&initial_text(MAX_DEPTH - 1)).unwrap()).unwrap();
    let path = format!("/deep{}/leaf", "/next".repeat(MAX_DEPTH - 3));
    let deepen = |version: u64, value: serde_json::Value| {
        Envelope::parse(&Node::from_json(&json!({
            "type": "patch", "root_id": "r", "base_version": version, "version": version + 1,
            "ops": [{"op": "replace", "path": "/title", "value": "changed"}, {"op": "replace", "path": path, "value": value}],
            "stream_ops": [],
        })))
        .unwrap()
    };
    replica.accept(&deepen(1, json!({"x": 1}))).unwrap();
    assert_eq!(depth_of(replica.tree()), MAX_DEPTH);
    let before = replica.tree().clone();
    assert!(matches!(replica.accept(&deepen(2, json!({"x": {"y": 1}}))), Err(AcceptError::TooDeep { depth }) if depth == MAX_DEPTH + 1));
    assert!(replica.tree().same(&before) && replica.version() == 2, "nothing of the refused envelope was applied");

    // Stream items are bounded the same way.
    let (item, _) = parse_bounded(&chain_text(MAX_DEPTH + 1), usize::MAX).unwrap();
    let stream = Envelope::parse(&Node::from_json(&json!({
        "type": "patch", "root_id": "r", "base_version": 2, "version": 3, "ops": [],
        "stream_ops": [{"op": "insert", "store_id": [], "stream": "s", "item_key": "k", "at": -1, "item": item.to_json()}],
    })))
    .unwrap();
    assert!(matches!(replica.accept(&stream), Err(AcceptError::TooDeep { .. })));
}
