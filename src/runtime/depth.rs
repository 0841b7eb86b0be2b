//! Depth is bounded by design: a root's tree holds at most [`MAX_DEPTH`] levels of containers, and
//! nothing that walks a tree depends on the call stack for anything deeper.
//!
//! - Frames nested deeper than `serde_json`'s 128 levels reach the runtime as raw text
//!   ([`crate::phoenix::Payload::Text`]); [`parse_bounded`] reads them without recursion and
//!   stops building at a cap, reporting that it did.
//! - The replica refuses every envelope whose result would be deeper than [`MAX_DEPTH`]
//!   ([`crate::runtime::replica::AcceptError::TooDeep`]), before anything is applied.
//! - Every walk over a whole tree (drop, equality, store indexing, remount sharing, snapshots, JS
//!   conversion) is iterative or bounded by [`MAX_DEPTH`]; `depth_tests.rs` runs each of them at
//!   the limit on a thread with a quarter of the browser's stack.
//!
//! ```
//! use musubi_wasm::runtime::depth::{MAX_DEPTH, depth_of, parse_bounded};
//! let (node, truncated) = parse_bounded(r#"{"a": [[1]], "b": 2}"#, MAX_DEPTH)?;
//! assert_eq!((depth_of(&node), truncated), (3, false));
//! let deep = "[".repeat(5_000) + &"]".repeat(5_000);
//! let (node, truncated) = parse_bounded(&deep, 10)?;
//! assert_eq!((depth_of(&node), truncated), (10, true));
//! # Ok::<(), String>(())
//! ```

use std::rc::Rc;

use json_event_parser::{JsonEvent, LowLevelJsonParser};

use super::tree::{ArrayVec, Entry, Node, ObjectMap};

/// The deepest tree a root may hold, in levels of containers (the root store's object is level 1;
/// scalars add none). Envelopes that would go deeper are refused; an initial envelope that is
/// deeper fails its root with [`crate::runtime::SyncError::TooDeep`].
pub const MAX_DEPTH: usize = 1000;

/// How many container levels `node` has (0 for a scalar). Iterative; O(size).
pub fn depth_of(node: &Node) -> usize {
    let mut deepest = 0;
    let mut pending: Vec<(&Node, usize)> = vec![(node, 1)];
    while let Some((node, level)) = pending.pop() {
        match node {
            Node::Array(items) => {
                deepest = deepest.max(level);
                pending.extend(items.iter().map(|item| (item, level + 1)));
            }
            Node::Object(map) => {
                deepest = deepest.max(level);
                pending.extend(map.values().map(|value| (value, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// A container being built by [`parse_bounded`].
enum Open {
    Array(ArrayVec),
    Object(Vec<Entry>, Option<Rc<str>>),
}

/// Parses JSON text into a [`Node`] without recursion. Containers nested deeper than `max_depth`
/// are skipped and stand as `null`; the flag says whether that happened. Numbers `serde_json`
/// cannot represent become `null` as well.
pub fn parse_bounded(text: &str, max_depth: usize) -> Result<(Node, bool), String> {
    let mut parser = Events::new(text);
    let mut open: Vec<Open> = Vec::new();
    let mut truncated = false;
    loop {
        let event = parser.next()?;
        let value = match event {
            JsonEvent::Eof => return Err("unexpected end of JSON".to_owned()),
            JsonEvent::ObjectKey(key) => {
                if let Some(Open::Object(_, pending)) = open.last_mut() {
                    *pending = Some(key.as_ref().into());
                }
                continue;
            }
            JsonEvent::StartArray | JsonEvent::StartObject if open.len() >= max_depth => {
                skip_container(&mut parser)?;
                truncated = true;
                Node::Null
            }
            JsonEvent::StartArray => {
                open.push(Open::Array(ArrayVec::new()));
                continue;
            }
            JsonEvent::StartObject => {
                open.push(Open::Object(Vec::new(), None));
                continue;
            }
            JsonEvent::EndArray | JsonEvent::EndObject => match open.pop() {
                Some(Open::Array(items)) => Node::Array(Rc::new(items)),
                Some(Open::Object(entries, _)) => Node::Object(ObjectMap::from_entries(entries)),
                None => return Err("unbalanced JSON".to_owned()),
            },
            JsonEvent::String(text) => Node::String(text.as_ref().into()),
            JsonEvent::Number(number) => number.parse::<serde_json::Number>().map_or(Node::Null, Node::Number),
            JsonEvent::Boolean(flag) => Node::Bool(flag),
            JsonEvent::Null => Node::Null,
        };
        match open.last_mut() {
            None => return Ok((value, truncated)),
            Some(Open::Array(items)) => items.push_back(value),
            Some(Open::Object(entries, pending)) => {
                if let Some(key) = pending.take() {
                    entries.push((key, value));
                }
            }
        }
    }
}

/// JSON events of a text, with no limit on nesting (the parser keeps it on the heap).
struct Events<'a> {
    input: &'a [u8],
    parser: LowLevelJsonParser,
}

impl<'a> Events<'a> {
    fn new(text: &'a str) -> Self {
        Events { input: text.as_bytes(), parser: LowLevelJsonParser::new().with_max_stack_size(usize::MAX) }
    }

    fn next(&mut self) -> Result<JsonEvent<'a>, String> {
        loop {
            let result = self.parser.parse_next(self.input, true);
            self.input = self.input.get(result.consumed_bytes..).unwrap_or_default();
            match result.event {
                Some(event) => return event.map_err(|error| error.to_string()),
                None if result.consumed_bytes == 0 => return Err("unexpected end of JSON".to_owned()),
                None => {}
            }
        }
    }
}

/// Consumes the rest of a container whose start event was just read.
fn skip_container(parser: &mut Events<'_>) -> Result<(), String> {
    let mut nesting: usize = 1;
    while nesting > 0 {
        match parser.next()? {
            JsonEvent::StartArray | JsonEvent::StartObject => nesting += 1,
            JsonEvent::EndArray | JsonEvent::EndObject => nesting -= 1,
            JsonEvent::Eof => return Err("unexpected end of JSON".to_owned()),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "depth_tests.rs"]
mod tests;
