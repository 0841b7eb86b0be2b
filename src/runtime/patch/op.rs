//! Parsed JSON Patch operations.
//!
//! ```
//! use musubi_wasm::runtime::patch::{Mode, Op};
//! use musubi_wasm::runtime::tree::Node;
//! let raw = Node::from_json(&serde_json::json!({"op": "move", "from": "/a", "path": "/b"}));
//! // Musubi mode knows only add/remove/replace: anything else is kept as an ignorable op.
//! assert!(matches!(Op::parse(&raw, Mode::Musubi), Ok(Op::Unknown { .. })));
//! assert!(matches!(Op::parse(&raw, Mode::Strict), Ok(Op::Move { .. })));
//! ```

use super::{Mode, PatchError, Pointer};
use crate::runtime::tree::{Node, ObjectMap};

/// One parsed op.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `add`: insert into an array, or set an object key.
    Add {
        /// Target location.
        path: Pointer,
        /// The value to add.
        value: Node,
    },
    /// `remove`: delete an array element or object key.
    Remove {
        /// Target location.
        path: Pointer,
    },
    /// `replace`: overwrite a value (Musubi mode: creates a missing object key).
    Replace {
        /// Target location.
        path: Pointer,
        /// The new value.
        value: Node,
    },
    /// `move` (strict mode only).
    Move {
        /// Source location.
        from: Pointer,
        /// Target location.
        path: Pointer,
    },
    /// `copy` (strict mode only).
    Copy {
        /// Source location.
        from: Pointer,
        /// Target location.
        path: Pointer,
    },
    /// `test` (strict mode only).
    Test {
        /// Location to compare.
        path: Pointer,
        /// The expected value.
        value: Node,
    },
    /// Musubi mode: any other op name (including `move`, `copy`, `test`). Ignored at a non-root
    /// path (the containers on the path are still copied); an error at the root. Strict mode
    /// rejects it.
    Unknown {
        /// The op name as received (see [`Op::parse`] for non-string names).
        op: String,
        /// Target location.
        path: Pointer,
    },
}

impl Op {
    /// Parses one op from its JSON form. Extra members are ignored in both modes.
    ///
    /// Musubi mode (PROTOCOL.md §2.9), checked in this order: the op must be an object
    /// ([`PatchError::NotAnObject`]); `path` must be present and a string
    /// ([`PatchError::MissingMember`] / [`PatchError::InvalidMember`]); a root path `""` with an op
    /// other than `replace` fails with [`PatchError::RootOp`]; the pointer must parse; `add` and
    /// `replace` require `value` ([`PatchError::MissingMember`] — the reference client would
    /// insert `undefined`, which has no JSON form). Any other op name becomes [`Op::Unknown`]; a
    /// missing or non-string `op` member is named as JavaScript would print it in the error
    /// message (`undefined` when absent, the JSON text otherwise).
    ///
    /// Strict mode (RFC 6902): `op` must be a string naming one of the six ops
    /// ([`PatchError::UnknownOp`]), `path` (and `from` for `move`/`copy`) must be strings holding
    /// valid pointers, and `add`/`replace`/`test` require `value`.
    pub fn parse(value: &Node, mode: Mode) -> Result<Op, PatchError> {
        let Node::Object(map) = value else {
            return Err(PatchError::NotAnObject);
        };
        match mode {
            Mode::Musubi => parse_musubi(map),
            Mode::Strict => parse_strict(map),
        }
    }

    /// The op's target location.
    pub fn path(&self) -> &Pointer {
        match self {
            Op::Add { path, .. }
            | Op::Remove { path }
            | Op::Replace { path, .. }
            | Op::Move { path, .. }
            | Op::Copy { path, .. }
            | Op::Test { path, .. }
            | Op::Unknown { path, .. } => path,
        }
    }

    /// The op's name (`add`, `remove`, … or the unknown name as received).
    pub fn name(&self) -> &str {
        match self {
            Op::Add { .. } => "add",
            Op::Remove { .. } => "remove",
            Op::Replace { .. } => "replace",
            Op::Move { .. } => "move",
            Op::Copy { .. } => "copy",
            Op::Test { .. } => "test",
            Op::Unknown { op, .. } => op,
        }
    }
}

fn parse_musubi(map: &ObjectMap) -> Result<Op, PatchError> {
    let name = match map.get("op") {
        Some(Node::String(text)) => text.to_string(),
        Some(other) => other.to_json_text(),
        None => "undefined".to_owned(),
    };
    let text = string_member(map, "path")?;
    if text.is_empty() && name != "replace" {
        return Err(PatchError::RootOp(name));
    }
    let path = Pointer::parse(text, Mode::Musubi)?;
    Ok(match name.as_str() {
        "add" => Op::Add { path, value: value_member(map)? },
        "remove" => Op::Remove { path },
        "replace" => Op::Replace { path, value: value_member(map)? },
        _ => Op::Unknown { op: name, path },
    })
}

fn parse_strict(map: &ObjectMap) -> Result<Op, PatchError> {
    let name = string_member(map, "op")?;
    if !matches!(name, "add" | "remove" | "replace" | "move" | "copy" | "test") {
        return Err(PatchError::UnknownOp(name.to_owned()));
    }
    let path = Pointer::parse(string_member(map, "path")?, Mode::Strict)?;
    let from = || Pointer::parse(string_member(map, "from")?, Mode::Strict);
    Ok(match name {
        "add" => Op::Add { path, value: value_member(map)? },
        "remove" => Op::Remove { path },
        "replace" => Op::Replace { path, value: value_member(map)? },
        "move" => Op::Move { from: from()?, path },
        "copy" => Op::Copy { from: from()?, path },
        _ => Op::Test { path, value: value_member(map)? },
    })
}

fn string_member<'a>(map: &'a ObjectMap, member: &'static str) -> Result<&'a str, PatchError> {
    match map.get(member) {
        Some(Node::String(text)) => Ok(text),
        Some(_) => Err(PatchError::InvalidMember { member }),
        None => Err(PatchError::MissingMember { member }),
    }
}

fn value_member(map: &ObjectMap) -> Result<Node, PatchError> {
    map.get("value").cloned().ok_or(PatchError::MissingMember { member: "value" })
}
