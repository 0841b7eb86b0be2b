//! Strict mode against the public RFC 6902 conformance suite (`json-patch-tests`, Apache-2.0),
//! vendored verbatim in `tests/data/json-patch-tests/` (see its `README.md` and `SOURCE.md`). The
//! files are read at test time from the crate's own directory, so a plain clone of this repository
//! runs the suite; a missing or unreadable file is a test failure, never a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::Value;

use super::{Mode, Op, apply};
use crate::runtime::tree::Node;

const SUITE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/json-patch-tests/");

/// File name and its record count as documented in SOURCE.md.
const FILES: [(&str, usize); 2] = [("tests.json", 95), ("spec_tests.json", 17)];

/// Runs one enabled record; `Err` explains the failure.
fn run_record(record: &Value) -> Result<(), String> {
    let (doc, patch) = match (record.get("doc"), record.get("patch")) {
        (Some(doc), Some(patch)) => (doc, patch),
        (None, None) if record.get("expected").is_none() && record.get("error").is_none() => return Ok(()), // comment-only record
        _ => return Err("record lacks `doc` or `patch`".into()),
    };
    let Some(raw_ops) = patch.as_array() else {
        return Err("`patch` is not an array".into());
    };
    let input = Node::from_json(doc);
    let outcome = raw_ops
        .iter()
        .map(|raw| Op::parse(&Node::from_json(raw), Mode::Strict))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|ops| apply(&input, &ops, Mode::Strict));
    if input.to_json() != *doc {
        return Err("the input document was mutated".into());
    }
    match (record.get("expected"), record.get("error"), outcome) {
        (_, Some(error), Ok(tree)) => Err(format!("expected error {error}, got {}", tree.to_json())),
        (_, Some(_), Err(_)) => Ok(()),
        (Some(expected), None, Ok(tree)) if tree == Node::from_json(expected) => Ok(()),
        (Some(expected), None, Ok(tree)) => Err(format!("expected {expected}, got {}", tree.to_json())),
        (None, None, Ok(_)) => Ok(()),
        (_, None, Err(err)) => Err(format!("unexpected error: {err}")),
    }
}

#[test]
fn conformance_strict_mode_passes_every_enabled_record() {
    let (mut enabled, mut disabled, mut passed, mut comment_only) = (0usize, 0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for (name, documented) in FILES {
        let path = format!("{SUITE_DIR}{name}");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("vendored conformance file {path} is missing or unreadable: {err}"));
        let records: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{path} is not a JSON array: {err}"));
        assert_eq!(records.len(), documented, "{name}: record count differs from SOURCE.md");
        for (index, record) in records.iter().enumerate() {
            if record.get("disabled").and_then(Value::as_bool) == Some(true) {
                disabled += 1;
                continue;
            }
            enabled += 1;
            if record.get("doc").is_none() && record.get("patch").is_none() {
                comment_only += 1;
            }
            match run_record(record) {
                Ok(()) => passed += 1,
                Err(why) => {
                    let comment = record.get("comment").and_then(Value::as_str).unwrap_or("(no comment)");
                    failures.push(format!("{name}#{index} \"{comment}\": {why}"));
                }
            }
        }
    }
    eprintln!("json-patch-tests: {enabled} enabled ({comment_only} comment-only), {disabled} disabled, {passed} passed");
    assert!(failures.is_empty(), "{} of {enabled} enabled records failed:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(passed, enabled);
    assert!(enabled > 0);
}
