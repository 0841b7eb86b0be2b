//! Seeded random Musubi-mode ops on random trees, checked against a naive reference
//! implementation of PROTOCOL.md §2.9 on `serde_json::Value` (deep-copying, recursive, written
//! independently of the engine): results and error messages must agree, the input must be
//! untouched, and top-level siblings of the edited path must stay shared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_json::{Map, Value, json};

use super::{Mode, Op, apply, apply_op};
use crate::runtime::tree::Node;

// ---------------------------------------------------------------------------------------------
// Reference implementation

fn reference_apply(doc: &Value, op: &Value) -> Result<Value, String> {
    let Value::Object(op) = op else {
        return Err("JSON Patch operation is not an object".into());
    };
    let name = match op.get("op") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => "undefined".into(),
    };
    let path = match op.get("path") {
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err("JSON Patch operation member \"path\" must be a string".into()),
        None => return Err("JSON Patch operation is missing member \"path\"".into()),
    };
    let missing_value = || "JSON Patch operation is missing member \"value\"".to_string();
    if path.is_empty() {
        if name != "replace" {
            return Err(format!("Root path only supports replace, received {name}"));
        }
        return op.get("value").cloned().ok_or_else(missing_value);
    }
    if !path.starts_with('/') {
        return Err(format!("Invalid JSON Pointer: {path}"));
    }
    let segments: Vec<String> = path[1..].split('/').map(|raw| raw.replace("~1", "/").replace("~0", "~")).collect();
    let value = match name.as_str() {
        "add" | "replace" => Some(op.get("value").cloned().ok_or_else(missing_value)?),
        _ => None,
    };
    let mut out = doc.clone();
    reference_at(&mut out, &segments, &name, value)?;
    Ok(out)
}

fn reference_index(segment: &str) -> Result<usize, String> {
    let digits = !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit());
    if !digits || (segment.len() > 1 && segment.starts_with('0')) {
        return Err(format!("Invalid array index: {segment}"));
    }
    segment.parse::<usize>().map_err(|_| format!("Array index out of bounds: {segment}"))
}

fn reference_at(current: &mut Value, segments: &[String], name: &str, value: Option<Value>) -> Result<(), String> {
    let not_container = || "JSON Patch target is not a container".to_string();
    let (head, rest) = segments.split_first().unwrap();
    if rest.is_empty() {
        return reference_leaf(current, head, name, value);
    }
    match current {
        Value::Array(items) => {
            let index = reference_index(head)?;
            if index >= items.len() {
                return Err(format!("Array index out of bounds: {head}"));
            }
            reference_at(&mut items[index], rest, name, value)
        }
        Value::Object(map) => match map.get_mut(head) {
            Some(child) => reference_at(child, rest, name, value),
            None => Err(not_container()),
        },
        _ => Err(not_container()),
    }
}

fn reference_leaf(parent: &mut Value, key: &str, name: &str, value: Option<Value>) -> Result<(), String> {
    match parent {
        Value::Array(items) => match name {
            "add" => {
                let index = if key == "-" { items.len() } else { reference_index(key)? };
                if index > items.len() {
                    return Err(format!("Array index out of bounds: {key}"));
                }
                items.insert(index, value.unwrap());
                Ok(())
            }
            "remove" | "replace" => {
                let index = reference_index(key)?;
                if index >= items.len() {
                    return Err(format!("Array index out of bounds: {key}"));
                }
                if name == "remove" {
                    items.remove(index);
                } else {
                    items[index] = value.unwrap();
                }
                Ok(())
            }
            _ => Ok(()),
        },
        Value::Object(map) => {
            match name {
                "add" | "replace" => {
                    map.insert(key.to_string(), value.unwrap());
                }
                "remove" => {
                    map.remove(key);
                }
                _ => {}
            }
            Ok(())
        }
        _ => Err("JSON Patch target is not a container".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

const KEYS: [&str; 9] = ["a", "b", "c", "", "a/b", "~1", "0", "1", "-"];

fn random_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    let container = depth > 0 && rng.u8(..10) < 6;
    if container {
        if rng.bool() {
            Value::Array((0..rng.usize(..5)).map(|_| random_value(rng, depth - 1)).collect())
        } else {
            let mut map = Map::new();
            for _ in 0..rng.usize(..5) {
                map.insert(KEYS[rng.usize(..KEYS.len())].to_string(), random_value(rng, depth - 1));
            }
            Value::Object(map)
        }
    } else {
        match rng.u8(..6) {
            0 => Value::Null,
            1 => Value::Bool(rng.bool()),
            2 => json!(rng.i64(-5..100)),
            3 => json!(f64::from(rng.i32(-100..100)) / 4.0),
            4 => Value::String(KEYS[rng.usize(..KEYS.len())].to_string()),
            _ => json!({}),
        }
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A path into `doc`: usually a real location (walked at random), often perturbed.
fn random_path(rng: &mut fastrand::Rng, doc: &Value) -> String {
    if rng.u8(..30) == 0 {
        return String::new();
    }
    if rng.u8(..60) == 0 {
        return ["a", "0", "~", "a/b"][rng.usize(..4)].to_string();
    }
    let mut segments: Vec<String> = Vec::new();
    let mut current = doc;
    loop {
        let stop = rng.u8(..4) == 0;
        match current {
            Value::Array(items) if !items.is_empty() && !stop => {
                let index = rng.usize(..items.len());
                segments.push(index.to_string());
                current = &items[index];
            }
            Value::Object(map) if !map.is_empty() && !stop => {
                let (key, child) = map.iter().nth(rng.usize(..map.len())).unwrap();
                segments.push(key.clone());
                current = child;
            }
            _ => break,
        }
    }
    // Address a child of the reached value (the common case for add) or perturb the last segment.
    let len = current.as_array().map_or(0, Vec::len);
    let extra = match rng.u8(..24) {
        0 => Some("-".to_string()),
        1 => Some(len.to_string()),
        2 => Some((len + 1).to_string()),
        3 => Some(format!("0{len}")),
        4 => Some("x".to_string()),
        5 => Some(String::new()),
        6 => Some("99999999999999999999999".to_string()),
        7 | 8 => Some(KEYS[rng.usize(..KEYS.len())].to_string()),
        9 => Some(rng.usize(..len.max(1)).to_string()),
        _ => None,
    };
    if let Some(extra) = extra {
        if segments.is_empty() || rng.bool() {
            segments.push(extra);
        } else if let Some(last) = segments.last_mut() {
            *last = extra;
        }
    }
    if segments.is_empty() {
        return String::new();
    }
    let mut text: String = segments.iter().map(|segment| format!("/{}", escape(segment))).collect();
    if rng.u8(..25) == 0 {
        text.push_str(["/~2", "~", "/~01", "/a~"][rng.usize(..4)]);
    }
    text
}

fn random_op(rng: &mut fastrand::Rng, doc: &Value) -> Value {
    let name = match rng.u8(..40) {
        0..=13 => Value::from("add"),
        14..=23 => Value::from("remove"),
        24..=33 => Value::from("replace"),
        34 => Value::from("move"),
        35 => Value::from("test"),
        36 => Value::from("spam"),
        37 => Value::Null,
        _ => Value::from(["add", "replace"][rng.usize(..2)]),
    };
    let mut op = Map::new();
    if !name.is_null() || rng.bool() {
        op.insert("op".into(), name);
    }
    match rng.u8(..80) {
        0 => {}
        1 => {
            op.insert("path".into(), json!(3));
        }
        _ => {
            op.insert("path".into(), Value::String(random_path(rng, doc)));
        }
    }
    if rng.u8(..20) != 0 {
        op.insert("value".into(), random_value(rng, 2));
    }
    if rng.u8(..10) == 0 {
        op.insert("from".into(), Value::String(random_path(rng, doc)));
    }
    if rng.u8(..200) == 0 {
        return json!([op]);
    }
    Value::Object(op)
}

// ---------------------------------------------------------------------------------------------
// The property

fn check_one(doc: &Value, tree: &Node, raw: &Value, context: &str) -> Result<Node, String> {
    let expected = reference_apply(doc, raw);
    let actual =
        Op::parse(&Node::from_json(raw), Mode::Musubi).and_then(|op| apply_op(tree, &op, Mode::Musubi).map(|applied| (op, applied)));
    assert_eq!(tree.to_json(), *doc, "{context}: input mutated by {raw}");
    match (expected, actual) {
        (Ok(value), Ok((op, applied))) => {
            assert_eq!(applied.tree.to_json(), value, "{context}: result differs for {raw}");
            // Top-level siblings of the edited path keep their identity.
            if let (Some(first), Some(old), Some(new)) = (op.path().segments().first(), tree.as_object(), applied.tree.as_object()) {
                for (key, child) in old.iter().filter(|(key, _)| ***key != **first) {
                    assert!(new.get(key).is_some_and(|now| now.same(child)), "{context}: sibling {key:?} not shared after {raw}");
                }
            }
            Ok(applied.tree)
        }
        (Err(message), Err(err)) => {
            assert_eq!(err.to_string(), message, "{context}: error differs for {raw}");
            Err(message)
        }
        (Ok(value), Err(err)) => panic!("{context}: reference gave {value} but engine failed with `{err}` for {raw}"),
        (Err(message), Ok((_, applied))) => {
            panic!("{context}: reference failed with `{message}` but engine gave {} for {raw}", applied.tree.to_json())
        }
    }
}

#[test]
fn random_musubi_ops_agree_with_reference() {
    let mut rng = fastrand::Rng::with_seed(0x6d75_7375_6269);
    let (mut applied_ops, mut failed_ops) = (0usize, 0usize);
    for case in 0..3000 {
        let start = random_value(&mut rng, 4);
        let start_tree = Node::from_json(&start);
        let mut doc = start.clone();
        let mut tree = start_tree.clone();
        // The batch API must agree with op-by-op application up to the first failure.
        let mut batch_ops = Vec::new();
        let mut batch_expected: Option<Result<Value, String>> = None;
        for step in 0..rng.usize(1..10) {
            let raw = random_op(&mut rng, &doc);
            let context = format!("case {case} step {step}, doc {doc}");
            let parsed = Op::parse(&Node::from_json(&raw), Mode::Musubi);
            let result = check_one(&doc, &tree, &raw, &context);
            if batch_expected.is_none() {
                match (parsed, &result) {
                    (Ok(op), Ok(_)) => batch_ops.push(op),
                    (Ok(op), Err(message)) => {
                        batch_ops.push(op);
                        batch_expected = Some(Err(message.clone()));
                    }
                    (Err(_), _) => batch_expected = Some(Ok(doc.clone())),
                }
            }
            match result {
                Ok(next) => {
                    applied_ops += 1;
                    tree = next;
                    doc = tree.to_json();
                }
                Err(_) => failed_ops += 1,
            }
        }
        let batch = apply(&start_tree, &batch_ops, Mode::Musubi).map(|tree| tree.to_json()).map_err(|err| err.to_string());
        assert_eq!(batch, batch_expected.unwrap_or(Ok(doc)), "case {case}: batch application differs");
        assert_eq!(start_tree.to_json(), start, "case {case}: start tree mutated");
    }
    eprintln!("random Musubi ops: {applied_ops} applied, {failed_ops} rejected");
    assert!(applied_ops > 5000 && failed_ops > 500, "generator too one-sided: {applied_ops} applied, {failed_ops} rejected");
}

#[test]
fn random_strict_ops_never_panic() {
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..3000 {
        let doc = Node::from_json(&random_value(&mut rng, 4));
        let before = doc.to_json();
        let mut raw = random_op(&mut rng, &before);
        if let Some(map) = raw.as_object_mut()
            && rng.bool()
        {
            map.insert("op".into(), Value::from(["move", "copy", "test", "add", "remove", "replace"][rng.usize(..6)]));
            map.insert("from".into(), Value::String(random_path(&mut rng, &before)));
        }
        if let Ok(op) = Op::parse(&Node::from_json(&raw), Mode::Strict) {
            let _ = apply_op(&doc, &op, Mode::Strict);
        }
        assert_eq!(doc.to_json(), before);
    }
}
