//! Musubi-mode unit tests (PROTOCOL.md §2.9, checklist §4.2 items 14–19), structural sharing, and
//! strict-mode specifics not covered by the conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{Value, json};

use super::{Applied, Mode, Op, PatchError, Pointer, apply, apply_op};
use crate::runtime::tree::Node;

fn node(value: Value) -> Node {
    Node::from_json(&value)
}

fn op(raw: Value) -> Op {
    Op::parse(&node(raw), Mode::Musubi).unwrap()
}

/// Parses and applies `ops` one by one in `mode`, like a runtime would.
fn run_in(mode: Mode, doc: Value, ops: Value) -> Result<Value, PatchError> {
    let mut tree = node(doc);
    for raw in ops.as_array().unwrap() {
        let parsed = Op::parse(&node(raw.clone()), mode)?;
        tree = apply_op(&tree, &parsed, mode)?.tree;
    }
    Ok(tree.to_json())
}

fn run(doc: Value, ops: Value) -> Result<Value, PatchError> {
    run_in(Mode::Musubi, doc, ops)
}

fn error(doc: Value, ops: Value) -> String {
    run(doc, ops).unwrap_err().to_string()
}

fn one(doc: &Node, raw: Value) -> Applied {
    apply_op(doc, &op(raw), Mode::Musubi).unwrap()
}

fn segments(text: &str, mode: Mode) -> Vec<String> {
    Pointer::parse(text, mode).unwrap().segments().iter().map(|segment| segment.to_string()).collect()
}

// ---------------------------------------------------------------------------------------------
// Pointer parsing table

#[test]
fn pointer_empty_is_root() {
    let pointer = Pointer::parse("", Mode::Musubi).unwrap();
    assert!(pointer.is_root());
    assert!(pointer.segments().is_empty());
    assert_eq!(pointer, Pointer::root());
    assert_eq!(pointer.as_str(), "");
}

#[test]
fn pointer_without_leading_slash_is_invalid() {
    for mode in [Mode::Musubi, Mode::Strict] {
        let err = Pointer::parse("a/b", mode).unwrap_err();
        assert_eq!(err, PatchError::InvalidPointer("a/b".into()));
        assert_eq!(err.to_string(), "Invalid JSON Pointer: a/b");
    }
    assert_eq!(error(json!({}), json!([{"op": "add", "path": "foo", "value": 1}])), "Invalid JSON Pointer: foo");
}

#[test]
fn pointer_escapes_tilde_one_then_tilde_zero() {
    assert_eq!(segments("/a~1b/tilde~0key", Mode::Musubi), ["a/b", "tilde~key"]);
    assert_eq!(segments("/~01", Mode::Musubi), ["~1"]);
    assert_eq!(segments("/~01", Mode::Strict), ["~1"]);
    assert_eq!(segments("/~10", Mode::Musubi), ["/0"]);
}

#[test]
fn pointer_slash_addresses_empty_key() {
    assert_eq!(segments("/", Mode::Musubi), [""]);
    assert_eq!(segments("/a/", Mode::Musubi), ["a", ""]);
    assert_eq!(segments("//", Mode::Musubi), ["", ""]);
    assert_eq!(run(json!({}), json!([{"op": "add", "path": "/", "value": 1}])).unwrap(), json!({"": 1}));
    assert_eq!(run(json!({"a": {}}), json!([{"op": "add", "path": "/a/", "value": 1}])).unwrap(), json!({"a": {"": 1}}));
}

#[test]
fn pointer_unknown_escapes_kept_literally_in_musubi_mode() {
    assert_eq!(segments("/~2", Mode::Musubi), ["~2"]);
    assert_eq!(segments("/a~", Mode::Musubi), ["a~"]);
    assert_eq!(segments("/~", Mode::Musubi), ["~"]);
    assert_eq!(run(json!({}), json!([{"op": "add", "path": "/x~2y", "value": 1}])).unwrap(), json!({"x~2y": 1}));
}

#[test]
fn pointer_unknown_escapes_rejected_in_strict_mode() {
    for text in ["/~2", "/a~", "/~", "/ok/~x"] {
        let err = Pointer::parse(text, Mode::Strict).unwrap_err();
        assert_eq!(err, PatchError::InvalidEscape(text.into()), "{text}");
    }
}

#[test]
fn pointer_keeps_text_and_compares_by_segments() {
    let pointer = Pointer::parse("/a~1b/c", Mode::Musubi).unwrap();
    assert_eq!(pointer.as_str(), "/a~1b/c");
    assert_eq!(pointer.to_string(), "/a~1b/c");
    assert!(!pointer.is_root());
    assert!(Pointer::parse("/a~1b", Mode::Musubi).unwrap().is_proper_prefix_of(&pointer));
    assert!(!pointer.is_proper_prefix_of(&pointer));
    assert!(Pointer::root().is_proper_prefix_of(&pointer));
}

#[test]
fn array_index_helper_is_canonical_only() {
    assert_eq!(Pointer::array_index("0"), Some(0));
    assert_eq!(Pointer::array_index("17"), Some(17));
    for bad in ["", "-", "01", "00", "+1", "-1", "1.0", "1e0", " 1", "a", "99999999999999999999999999"] {
        assert_eq!(Pointer::array_index(bad), None, "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Root path

#[test]
fn root_replace_replaces_whole_document_without_copy() {
    let doc = node(json!({"a": 1}));
    let value = node(json!({"b": [1, 2]}));
    let applied = apply_op(&doc, &Op::Replace { path: Pointer::root(), value: value.clone() }, Mode::Musubi).unwrap();
    assert!(applied.tree.same(&value), "the value becomes the document itself");
    assert!(applied.previous.unwrap().same(&doc));
    assert_eq!(run(json!([1]), json!([{"op": "replace", "path": "", "value": "scalar"}])).unwrap(), json!("scalar"));
}

#[test]
fn root_add_remove_and_others_fail_with_exact_message() {
    assert_eq!(error(json!({}), json!([{"op": "add", "path": "", "value": {}}])), "Root path only supports replace, received add");
    assert_eq!(error(json!({}), json!([{"op": "remove", "path": ""}])), "Root path only supports replace, received remove");
    assert_eq!(error(json!({}), json!([{"op": "spam", "path": ""}])), "Root path only supports replace, received spam");
    assert_eq!(error(json!({}), json!([{"op": "move", "from": "/a", "path": ""}])), "Root path only supports replace, received move");
    assert_eq!(error(json!({}), json!([{"path": ""}])), "Root path only supports replace, received undefined");
    assert_eq!(error(json!({}), json!([{"op": 3, "path": ""}])), "Root path only supports replace, received 3");
    // Ops built by hand are checked at apply time too.
    let doc = node(json!({}));
    for built in [
        Op::Add { path: Pointer::root(), value: Node::Null },
        Op::Remove { path: Pointer::root() },
        Op::Test { path: Pointer::root(), value: Node::Null },
        Op::Unknown { op: "frob".into(), path: Pointer::root() },
    ] {
        let err = apply_op(&doc, &built, Mode::Musubi).unwrap_err();
        assert_eq!(err, PatchError::RootOp(built.name().into()));
    }
}

// ---------------------------------------------------------------------------------------------
// Traversal

#[test]
fn traversal_through_scalar_is_not_a_container() {
    let doc = json!({"a": 1, "s": "text", "n": null, "list": [1, {"k": true}]});
    for path in ["/a/b", "/s/0", "/n/x", "/a/b/c", "/list/0/x"] {
        for raw in [json!({"op": "add", "path": path, "value": 1}), json!({"op": "remove", "path": path})] {
            assert_eq!(error(doc.clone(), json!([raw])), "JSON Patch target is not a container", "{path}");
        }
    }
    assert_eq!(error(json!(5), json!([{"op": "add", "path": "/x", "value": 1}])), "JSON Patch target is not a container");
}

#[test]
fn traversal_through_missing_key_is_not_a_container() {
    assert_eq!(error(json!({"q": {}}), json!([{"op": "add", "path": "/a/b", "value": 1}])), "JSON Patch target is not a container");
    assert_eq!(error(json!({"q": {}}), json!([{"op": "replace", "path": "/q/x/y", "value": 1}])), "JSON Patch target is not a container");
    assert_eq!(error(json!({}), json!([{"op": "remove", "path": "/missing1/missing2"}])), "JSON Patch target is not a container");
}

#[test]
fn traversal_array_segments_must_be_existing_indices() {
    let doc = json!({"list": [{"a": 1}, {"a": 2}]});
    let cases = [
        ("/list/x/a", "Invalid array index: x"),
        ("/list/-/a", "Invalid array index: -"),
        ("/list/01/a", "Invalid array index: 01"),
        ("/list//a", "Invalid array index: "),
        ("/list/2/a", "Array index out of bounds: 2"),
        ("/list/99999999999999999999999/a", "Array index out of bounds: 99999999999999999999999"),
    ];
    for (path, message) in cases {
        assert_eq!(error(doc.clone(), json!([{"op": "replace", "path": path, "value": 0}])), message, "{path}");
    }
    assert_eq!(run(doc, json!([{"op": "replace", "path": "/list/1/a", "value": 0}])).unwrap(), json!({"list": [{"a": 1}, {"a": 0}]}));
}

// ---------------------------------------------------------------------------------------------
// Array index syntax and last-segment semantics

#[test]
fn array_index_syntax_rejects_non_canonical_segments() {
    for segment in ["01", "00", "+1", "-1", "1.0", "1e0", "", " 1", "x", "0x1"] {
        for raw in [
            json!({"op": "add", "path": format!("/{segment}"), "value": 1}),
            json!({"op": "remove", "path": format!("/{segment}")}),
            json!({"op": "replace", "path": format!("/{segment}"), "value": 1}),
        ] {
            assert_eq!(error(json!([1, 2, 3]), json!([raw])), format!("Invalid array index: {segment}"));
        }
    }
}

#[test]
fn array_add_inserts_before_index_and_appends_at_len() {
    let doc = json!(["a", "b"]);
    assert_eq!(run(doc.clone(), json!([{"op": "add", "path": "/0", "value": "x"}])).unwrap(), json!(["x", "a", "b"]));
    assert_eq!(run(doc.clone(), json!([{"op": "add", "path": "/1", "value": "x"}])).unwrap(), json!(["a", "x", "b"]));
    assert_eq!(run(doc.clone(), json!([{"op": "add", "path": "/2", "value": "x"}])).unwrap(), json!(["a", "b", "x"]));
    assert_eq!(run(doc.clone(), json!([{"op": "add", "path": "/-", "value": "x"}])).unwrap(), json!(["a", "b", "x"]));
    assert_eq!(error(doc.clone(), json!([{"op": "add", "path": "/3", "value": "x"}])), "Array index out of bounds: 3");
    assert_eq!(
        error(doc, json!([{"op": "add", "path": "/99999999999999999999999", "value": 1}])),
        "Array index out of bounds: 99999999999999999999999"
    );
    assert_eq!(run(json!([]), json!([{"op": "add", "path": "/0", "value": 1}])).unwrap(), json!([1]));
    assert_eq!(run(json!([]), json!([{"op": "add", "path": "/-", "value": 1}])).unwrap(), json!([1]));
    assert_eq!(error(json!([]), json!([{"op": "add", "path": "/1", "value": 1}])), "Array index out of bounds: 1");
    // The value is inserted as one element, never flattened.
    assert_eq!(run(json!([1]), json!([{"op": "add", "path": "/0", "value": [2, 3]}])).unwrap(), json!([[2, 3], 1]));
}

#[test]
fn array_remove_deletes_and_shifts() {
    let doc = json!(["a", "b", "c"]);
    assert_eq!(run(doc.clone(), json!([{"op": "remove", "path": "/0"}])).unwrap(), json!(["b", "c"]));
    assert_eq!(run(doc.clone(), json!([{"op": "remove", "path": "/2"}])).unwrap(), json!(["a", "b"]));
    assert_eq!(error(doc.clone(), json!([{"op": "remove", "path": "/3"}])), "Array index out of bounds: 3");
    assert_eq!(error(doc, json!([{"op": "remove", "path": "/-"}])), "Invalid array index: -");
    assert_eq!(error(json!([]), json!([{"op": "remove", "path": "/0"}])), "Array index out of bounds: 0");
}

#[test]
fn array_replace_overwrites_existing_only() {
    let doc = json!(["a", "b"]);
    assert_eq!(run(doc.clone(), json!([{"op": "replace", "path": "/1", "value": "x"}])).unwrap(), json!(["a", "x"]));
    assert_eq!(error(doc.clone(), json!([{"op": "replace", "path": "/2", "value": "x"}])), "Array index out of bounds: 2");
    assert_eq!(error(doc, json!([{"op": "replace", "path": "/-", "value": "x"}])), "Invalid array index: -");
    assert_eq!(error(json!([]), json!([{"op": "replace", "path": "/0", "value": "x"}])), "Array index out of bounds: 0");
}

#[test]
fn dash_is_only_for_add() {
    let doc = json!({"l": [[1]]});
    assert_eq!(run(doc.clone(), json!([{"op": "add", "path": "/l/-", "value": 2}])).unwrap(), json!({"l": [[1], 2]}));
    assert_eq!(error(doc.clone(), json!([{"op": "add", "path": "/l/-/0", "value": 2}])), "Invalid array index: -");
    assert_eq!(error(doc.clone(), json!([{"op": "remove", "path": "/l/-"}])), "Invalid array index: -");
    assert_eq!(error(doc.clone(), json!([{"op": "replace", "path": "/l/-", "value": 2}])), "Invalid array index: -");
    // On an object, `-` is just a key.
    assert_eq!(run(json!({}), json!([{"op": "add", "path": "/-", "value": 2}])).unwrap(), json!({"-": 2}));
}

#[test]
fn object_add_creates_or_overwrites() {
    assert_eq!(run(json!({"a": 1}), json!([{"op": "add", "path": "/a", "value": 2}])).unwrap(), json!({"a": 2}));
    assert_eq!(run(json!({"a": 1}), json!([{"op": "add", "path": "/b", "value": 2}])).unwrap(), json!({"a": 1, "b": 2}));
    assert_eq!(run(json!({}), json!([{"op": "add", "path": "/0", "value": 2}])).unwrap(), json!({"0": 2}));
}

#[test]
fn object_remove_of_missing_key_is_a_silent_no_op() {
    let doc = node(json!({"a": 1, "b": {"c": 2}}));
    let applied = one(&doc, json!({"op": "remove", "path": "/zzz"}));
    assert_eq!(applied.tree, doc);
    assert!(applied.previous.is_none());
    assert!(!applied.tree.same(&doc), "the container on the path is still copied");
    assert!(applied.tree.get("b").unwrap().same(doc.get("b").unwrap()));
    assert_eq!(run(json!({"a": {}}), json!([{"op": "remove", "path": "/a/x"}])).unwrap(), json!({"a": {}}));
    // The parent must still exist.
    assert_eq!(error(json!({}), json!([{"op": "remove", "path": "/a/x"}])), "JSON Patch target is not a container");
}

#[test]
fn object_replace_of_missing_key_creates_it() {
    assert_eq!(run(json!({"a": 1}), json!([{"op": "replace", "path": "/b", "value": 2}])).unwrap(), json!({"a": 1, "b": 2}));
    assert_eq!(run(json!({"a": 1}), json!([{"op": "replace", "path": "/a", "value": null}])).unwrap(), json!({"a": null}));
}

#[test]
fn unknown_ops_on_non_root_paths_are_ignored() {
    let doc = node(json!({"a": {"b": 1}, "keep": {"x": [1]}, "list": [1, 2]}));
    for raw in [
        json!({"op": "move", "from": "/keep", "path": "/a/b"}),
        json!({"op": "copy", "from": "/keep", "path": "/a/z"}),
        json!({"op": "test", "path": "/a/b", "value": 99}),
        json!({"op": "spam", "path": "/a/b", "value": 1}),
        json!({"op": "spam", "path": "/list/not-an-index"}),
        json!({"op": "spam", "path": "/list/77"}),
        json!({"path": "/a/b"}),
        json!({"op": null, "path": "/a/b"}),
    ] {
        let parsed = op(raw.clone());
        assert!(matches!(parsed, Op::Unknown { .. }), "{raw}");
        let applied = apply_op(&doc, &parsed, Mode::Musubi).unwrap();
        assert_eq!(applied.tree, doc, "{raw}");
        assert!(applied.previous.is_none());
        assert!(applied.tree.get("keep").unwrap().same(doc.get("keep").unwrap()), "untouched subtree shared");
    }
    // Containers on the path are copied (so a store on the path counts as changed).
    let applied = one(&doc, json!({"op": "spam", "path": "/a/b"}));
    assert!(!applied.tree.same(&doc));
    assert!(!applied.tree.get("a").unwrap().same(doc.get("a").unwrap()));
}

#[test]
fn unknown_ops_still_walk_their_path() {
    assert_eq!(error(json!({}), json!([{"op": "spam", "path": "/missing/x"}])), "JSON Patch target is not a container");
    assert_eq!(error(json!({"a": 1}), json!([{"op": "spam", "path": "/a/x"}])), "JSON Patch target is not a container");
    assert_eq!(error(json!({"l": []}), json!([{"op": "spam", "path": "/l/0/x"}])), "Array index out of bounds: 0");
    assert_eq!(error(json!({}), json!([{"op": "spam", "path": "nope"}])), "Invalid JSON Pointer: nope");
}

#[test]
fn malformed_ops_are_errors() {
    let parse = |raw: Value| Op::parse(&node(raw), Mode::Musubi).unwrap_err();
    assert_eq!(parse(json!([1])), PatchError::NotAnObject);
    assert_eq!(parse(json!({"op": "add", "value": 1})), PatchError::MissingMember { member: "path" });
    assert_eq!(parse(json!({"op": "add", "path": null, "value": 1})), PatchError::InvalidMember { member: "path" });
    assert_eq!(parse(json!({"op": "add", "path": "/a"})), PatchError::MissingMember { member: "value" });
    assert_eq!(parse(json!({"op": "replace", "path": "/a"})), PatchError::MissingMember { member: "value" });
    assert_eq!(parse(json!({"op": "replace", "path": ""})), PatchError::MissingMember { member: "value" });
    assert_eq!(parse(json!({"op": "add", "path": "/a"})).to_string(), "JSON Patch operation is missing member \"value\"");
    // `remove` needs no value; extra members are ignored; null is a real value.
    assert_eq!(op(json!({"op": "remove", "path": "/a", "value": 1})), Op::Remove { path: Pointer::parse("/a", Mode::Musubi).unwrap() });
    assert!(matches!(op(json!({"op": "add", "path": "/a", "value": null})), Op::Add { value: Node::Null, .. }));
}

#[test]
fn op_name_and_path_accessors() {
    let parsed = op(json!({"op": "add", "path": "/a~1b", "value": 1}));
    assert_eq!(parsed.name(), "add");
    assert_eq!(parsed.path().as_str(), "/a~1b");
    assert_eq!(op(json!({"op": "remove", "path": "/x"})).name(), "remove");
    assert_eq!(op(json!({"op": "replace", "path": "/x", "value": 1})).name(), "replace");
    assert_eq!(op(json!({"op": "frob", "path": "/x"})).name(), "frob");
    assert_eq!(op(json!({"path": "/x"})).name(), "undefined");
}

#[test]
fn worked_example_from_protocol() {
    let doc = json!({"list": ["a", "c", "d"]});
    let mut tree = node(doc);
    let steps = [
        (json!({"op": "add", "path": "/list/1", "value": "b"}), json!(["a", "b", "c", "d"])),
        (json!({"op": "add", "path": "/list/-", "value": "e"}), json!(["a", "b", "c", "d", "e"])),
        (json!({"op": "remove", "path": "/list/2"}), json!(["a", "b", "d", "e"])),
        (json!({"op": "replace", "path": "/list/1", "value": "beta"}), json!(["a", "beta", "d", "e"])),
    ];
    for (raw, expected) in steps {
        tree = one(&tree, raw).tree;
        assert_eq!(tree.to_json(), json!({ "list": expected }));
    }
}

#[test]
fn apply_error_leaves_input_untouched_and_reports_first_failure() {
    let doc = node(json!({"a": [1, 2], "b": {"c": 3}}));
    let before = doc.to_json();
    let ops = vec![
        op(json!({"op": "add", "path": "/a/-", "value": 3})),
        op(json!({"op": "remove", "path": "/a/9"})),
        op(json!({"op": "add", "path": "/zzz/y", "value": 1})),
    ];
    assert_eq!(apply(&doc, &ops, Mode::Musubi).unwrap_err(), PatchError::IndexOutOfBounds("9".into()));
    assert_eq!(doc.to_json(), before);
    assert_eq!(apply(&doc, &[], Mode::Musubi).unwrap().to_json(), before);
    assert!(apply(&doc, &[], Mode::Musubi).unwrap().same(&doc));
}

// ---------------------------------------------------------------------------------------------
// Acceptance checklist, PROTOCOL.md §4.2

#[test]
fn checklist_14_replace_at_root_replaces_whole_document() {
    let result = run(json!({"a": 1, "b": [1]}), json!([{"op": "replace", "path": "", "value": {"c": true}}])).unwrap();
    assert_eq!(result, json!({"c": true}));
}

#[test]
fn checklist_15_add_or_remove_at_root_fails() {
    for raw in [json!({"op": "add", "path": "", "value": {}}), json!({"op": "remove", "path": ""})] {
        let message = error(json!({"a": 1}), json!([raw]));
        assert!(message.contains("Root path only supports replace"), "{message}");
    }
}

#[test]
fn checklist_16_object_add_replace_remove_in_sequence_without_mutating_input() {
    let doc = node(json!({"a": 1, "nested": {"b": 2}}));
    let before = doc.to_json();
    let ops = [
        op(json!({"op": "add", "path": "/c", "value": 3})),
        op(json!({"op": "replace", "path": "/nested/b", "value": 20})),
        op(json!({"op": "remove", "path": "/a"})),
    ];
    let result = apply(&doc, &ops, Mode::Musubi).unwrap();
    assert_eq!(result.to_json(), json!({"c": 3, "nested": {"b": 20}}));
    assert_eq!(doc.to_json(), before, "input not mutated");
}

#[test]
fn checklist_17_array_insert_append_remove_replace() {
    let ops = json!([
        {"op": "add", "path": "/list/1", "value": "b"},
        {"op": "add", "path": "/list/-", "value": "e"},
        {"op": "remove", "path": "/list/2"},
        {"op": "replace", "path": "/list/1", "value": "beta"},
    ]);
    assert_eq!(run(json!({"list": ["a", "c", "d"]}), ops).unwrap(), json!({"list": ["a", "beta", "d", "e"]}));
}

#[test]
fn checklist_18_pointer_segments_are_unescaped() {
    let ops = json!([
        {"op": "add", "path": "/a~1b", "value": 1},
        {"op": "add", "path": "/tilde~0key", "value": 2},
        {"op": "replace", "path": "/nested/x~1y~0z", "value": 3},
    ]);
    assert_eq!(run(json!({"nested": {}}), ops).unwrap(), json!({"a/b": 1, "tilde~key": 2, "nested": {"x/y~z": 3}}));
}

#[test]
fn checklist_19_ops_apply_in_order_seeing_earlier_results() {
    let ops = json!([
        {"op": "add", "path": "/items", "value": []},
        {"op": "add", "path": "/items/-", "value": {"n": 1}},
        {"op": "replace", "path": "/items/0/n", "value": 2},
        {"op": "add", "path": "/items/0/m", "value": 3},
        {"op": "remove", "path": "/items/0/n"},
    ]);
    assert_eq!(run(json!({}), ops).unwrap(), json!({"items": [{"m": 3}]}));
    // Reversed order fails: the container does not exist yet.
    assert!(run(json!({}), json!([{"op": "add", "path": "/items/-", "value": 1}, {"op": "add", "path": "/items", "value": []}])).is_err());
}

// ---------------------------------------------------------------------------------------------
// Structural sharing

#[test]
fn deep_replace_shares_siblings_and_reports_previous() {
    let doc = node(json!({
        "a": {"b": {"c": 1, "d": {"deep": [1, 2]}}, "e": [3]},
        "f": {"g": true},
        "list": [{"x": 1}, {"y": 2}, {"z": 3}],
    }));
    let applied = one(&doc, json!({"op": "replace", "path": "/a/b/c", "value": {"new": 1}}));
    assert_eq!(applied.previous, Some(Node::from(1)));
    let tree = &applied.tree;
    assert!(!tree.same(&doc));
    assert!(tree.get("f").unwrap().same(doc.get("f").unwrap()));
    assert!(tree.get("list").unwrap().same(doc.get("list").unwrap()));
    let (a, old_a) = (tree.get("a").unwrap(), doc.get("a").unwrap());
    assert!(!a.same(old_a));
    assert!(a.get("e").unwrap().same(old_a.get("e").unwrap()));
    let (b, old_b) = (a.get("b").unwrap(), old_a.get("b").unwrap());
    assert!(!b.same(old_b));
    assert!(b.get("d").unwrap().same(old_b.get("d").unwrap()));
    assert_eq!(doc.get("a").unwrap().get("b").unwrap().get("c"), Some(&Node::from(1)), "input untouched");

    let applied = one(&doc, json!({"op": "replace", "path": "/list/1/y", "value": 20}));
    assert_eq!(applied.previous, Some(Node::from(2)));
    let (list, old_list) = (applied.tree.get("list").unwrap(), doc.get("list").unwrap());
    assert!(list.at(0).unwrap().same(old_list.at(0).unwrap()));
    assert!(list.at(2).unwrap().same(old_list.at(2).unwrap()));
    assert!(!list.at(1).unwrap().same(old_list.at(1).unwrap()));
    assert!(applied.tree.get("a").unwrap().same(doc.get("a").unwrap()));
}

#[test]
fn previous_values_per_op() {
    let doc = node(json!({"obj": {"k": {"v": 1}}, "arr": [10, {"w": 2}]}));
    let old_k = doc.get("obj").unwrap().get("k").unwrap().clone();
    let old_arr1 = doc.get("arr").unwrap().at(1).unwrap().clone();
    let previous = |raw: Value| one(&doc, raw).previous;
    assert!(previous(json!({"op": "add", "path": "/obj/k", "value": 0})).unwrap().same(&old_k));
    assert!(previous(json!({"op": "add", "path": "/obj/new", "value": 0})).is_none());
    assert!(previous(json!({"op": "add", "path": "/arr/1", "value": 0})).is_none());
    assert!(previous(json!({"op": "remove", "path": "/obj/k"})).unwrap().same(&old_k));
    assert!(previous(json!({"op": "remove", "path": "/arr/1"})).unwrap().same(&old_arr1));
    assert!(previous(json!({"op": "replace", "path": "/arr/1", "value": 0})).unwrap().same(&old_arr1));
    assert!(previous(json!({"op": "replace", "path": "/obj/k", "value": 0})).unwrap().same(&old_k));
    assert!(previous(json!({"op": "replace", "path": "/obj/missing", "value": 0})).is_none());
    assert!(previous(json!({"op": "replace", "path": "", "value": 0})).unwrap().same(&doc));
}

#[test]
fn added_value_is_shared_not_copied() {
    let doc = node(json!({"a": []}));
    let value = node(json!({"big": [1, 2, 3]}));
    for path in ["/b", "/a/0", "/a/-"] {
        let built = Op::Add { path: Pointer::parse(path, Mode::Musubi).unwrap(), value: value.clone() };
        let tree = apply_op(&doc, &built, Mode::Musubi).unwrap().tree;
        let placed = if path == "/b" { tree.get("b").unwrap() } else { tree.get("a").unwrap().at(0).unwrap() };
        assert!(placed.same(&value), "{path}");
    }
}

#[test]
fn wide_array_edit_copies_only_the_path() {
    let doc = node(Value::Array((0..10_000).map(|i| json!({ "i": i })).collect()));
    let applied = one(&doc, json!({"op": "replace", "path": "/5000/i", "value": -1}));
    let items = applied.tree.as_array().unwrap();
    assert_eq!(items.len(), 10_000);
    for index in [0, 4999, 5001, 9999] {
        assert!(applied.tree.at(index).unwrap().same(doc.at(index).unwrap()));
    }
    assert_eq!(applied.tree.at(5000).unwrap().get("i"), Some(&Node::from(-1)));
}

// ---------------------------------------------------------------------------------------------
// Strict mode specifics

#[test]
fn strict_rejects_unknown_ops_and_root_remove() {
    let doc = node(json!({"a": 1}));
    assert_eq!(Op::parse(&node(json!({"op": "spam", "path": "/a"})), Mode::Strict).unwrap_err(), PatchError::UnknownOp("spam".into()));
    assert_eq!(Op::parse(&node(json!({"path": "/a"})), Mode::Strict).unwrap_err(), PatchError::MissingMember { member: "op" });
    assert_eq!(Op::parse(&node(json!({"op": 1, "path": "/a"})), Mode::Strict).unwrap_err(), PatchError::InvalidMember { member: "op" });
    assert_eq!(
        Op::parse(&node(json!({"op": "copy", "path": "/a"})), Mode::Strict).unwrap_err(),
        PatchError::MissingMember { member: "from" }
    );
    assert_eq!(
        Op::parse(&node(json!({"op": "move", "path": "/a", "from": 1})), Mode::Strict).unwrap_err(),
        PatchError::InvalidMember { member: "from" }
    );
    assert_eq!(
        Op::parse(&node(json!({"op": "move", "path": "/a", "from": "/~9"})), Mode::Strict).unwrap_err(),
        PatchError::InvalidEscape("/~9".into())
    );
    let unknown = Op::Unknown { op: "frob".into(), path: Pointer::parse("/a", Mode::Strict).unwrap() };
    assert_eq!(apply_op(&doc, &unknown, Mode::Strict).unwrap_err(), PatchError::UnknownOp("frob".into()));
    assert_eq!(apply_op(&doc, &Op::Remove { path: Pointer::root() }, Mode::Strict).unwrap_err(), PatchError::RemoveRoot);
}

#[test]
fn strict_object_remove_and_replace_require_existing_key() {
    let strict = |ops: Value| run_in(Mode::Strict, json!({"a": {}}), ops);
    assert_eq!(strict(json!([{"op": "remove", "path": "/a/x"}])).unwrap_err(), PatchError::PathNotFound("/a/x".into()));
    assert_eq!(strict(json!([{"op": "replace", "path": "/a/x", "value": 1}])).unwrap_err(), PatchError::PathNotFound("/a/x".into()));
    assert_eq!(strict(json!([{"op": "add", "path": "/b/x", "value": 1}])).unwrap_err(), PatchError::PathNotFound("/b/x".into()));
    assert_eq!(strict(json!([{"op": "add", "path": "/a/x", "value": 1}])).unwrap(), json!({"a": {"x": 1}}));
}

#[test]
fn strict_move_copy_test() {
    let strict = |doc: Value, ops: Value| run_in(Mode::Strict, doc, ops);
    assert_eq!(
        strict(json!({"a": {"b": 1}}), json!([{"op": "move", "from": "/a", "path": "/a/b/c"}])).unwrap_err(),
        PatchError::MoveIntoDescendant { from: "/a".into(), path: "/a/b/c".into() }
    );
    assert_eq!(strict(json!({"a": 1}), json!([{"op": "move", "from": "/a", "path": "/a"}])).unwrap(), json!({"a": 1}));
    assert_eq!(strict(json!({"a": 1}), json!([{"op": "move", "from": "", "path": ""}])).unwrap(), json!({"a": 1}));
    assert_eq!(
        strict(json!({"a": 1}), json!([{"op": "move", "from": "/x", "path": "/x"}])).unwrap_err(),
        PatchError::PathNotFound("/x".into())
    );
    assert_eq!(strict(json!({"a": {"b": 1}}), json!([{"op": "move", "from": "/a/b", "path": ""}])).unwrap(), json!(1));
    assert_eq!(strict(json!({"a": 1}), json!([{"op": "copy", "from": "", "path": "/self"}])).unwrap(), json!({"a": 1, "self": {"a": 1}}));
    assert_eq!(strict(json!([1, 2, 3]), json!([{"op": "move", "from": "/0", "path": "/-"}])).unwrap(), json!([2, 3, 1]));
    assert_eq!(strict(json!([1]), json!([{"op": "copy", "from": "/-", "path": "/0"}])).unwrap_err(), PatchError::InvalidIndex("-".into()));
    // Numbers compare by value, objects regardless of order.
    assert!(strict(json!({"n": 1}), json!([{"op": "test", "path": "/n", "value": 1.0}])).is_ok());
    assert!(strict(json!({"n": -1}), json!([{"op": "test", "path": "/n", "value": 18446744073709551615u64}])).is_err());
    assert!(strict(json!({"n": 1.5}), json!([{"op": "test", "path": "/n", "value": 1}])).is_err());
    assert!(strict(json!({"o": {"a": 1, "b": [1.0]}}), json!([{"op": "test", "path": "/o", "value": {"b": [1], "a": 1}}])).is_ok());
    assert!(strict(json!({"o": {"a": 1}}), json!([{"op": "test", "path": "/o", "value": {"a": 1, "b": 2}}])).is_err());
    assert_eq!(
        strict(json!({"s": "x"}), json!([{"op": "test", "path": "/s", "value": "y"}])).unwrap_err(),
        PatchError::TestFailed("/s".into())
    );
    assert!(strict(json!({"s": "x"}), json!([{"op": "test", "path": "", "value": {"s": "x"}}])).is_ok());
}

#[test]
fn strict_copy_shares_the_copied_subtree() {
    let doc = node(json!({"src": {"deep": [1, 2]}, "dst": {}}));
    let built = Op::Copy { from: Pointer::parse("/src", Mode::Strict).unwrap(), path: Pointer::parse("/dst/x", Mode::Strict).unwrap() };
    let tree = apply_op(&doc, &built, Mode::Strict).unwrap().tree;
    assert!(tree.get("dst").unwrap().get("x").unwrap().same(doc.get("src").unwrap()));
    assert!(tree.get("src").unwrap().same(doc.get("src").unwrap()));
}

#[test]
fn strict_and_musubi_agree_on_add_to_root_array() {
    assert_eq!(run_in(Mode::Strict, json!([]), json!([{"op": "add", "path": "/-", "value": "hi"}])).unwrap(), json!(["hi"]));
    assert_eq!(run(json!([]), json!([{"op": "add", "path": "/-", "value": "hi"}])).unwrap(), json!(["hi"]));
    assert_eq!(run_in(Mode::Strict, json!({}), json!([{"op": "add", "path": "", "value": [1]}])).unwrap(), json!([1]));
}
