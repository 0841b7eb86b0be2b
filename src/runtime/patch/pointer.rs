//! JSON Pointers (RFC 6901), with the reference client's leniencies in Musubi mode.
//!
//! ```
//! use musubi_wasm::runtime::patch::{Mode, Pointer};
//! let pointer = Pointer::parse("/a~1b/tilde~0key/~2", Mode::Musubi).unwrap_or_else(|_| Pointer::root());
//! let segments: Vec<&str> = pointer.segments().iter().map(|segment| &**segment).collect();
//! assert_eq!(segments, ["a/b", "tilde~key", "~2"]);
//! assert!(Pointer::parse("/~2", Mode::Strict).is_err());
//! ```

use std::fmt;
use std::rc::Rc;

use super::{Mode, PatchError};

/// A parsed JSON Pointer: its decoded segments plus the original text.
#[derive(Debug, Clone)]
pub struct Pointer {
    text: Rc<str>,
    segments: Vec<Rc<str>>,
}

impl Pointer {
    /// The root pointer `""` (no segments).
    pub fn root() -> Pointer {
        Pointer { text: Rc::from(""), segments: Vec::new() }
    }

    /// Parses `text`.
    ///
    /// Both modes: `""` is the root; anything else must start with `/` (else
    /// [`PatchError::InvalidPointer`]); the rest is split on `/`. Musubi mode then replaces `~1`
    /// with `/` and **then** `~0` with `~` in each segment, keeping unknown escapes (`~2`, a
    /// trailing `~`) literally. Strict mode rejects them with [`PatchError::InvalidEscape`].
    pub fn parse(text: &str, mode: Mode) -> Result<Pointer, PatchError> {
        if text.is_empty() {
            return Ok(Pointer::root());
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PatchError::InvalidPointer(text.to_owned()));
        };
        let segments = rest.split('/').map(|raw| decode(raw, text, mode)).collect::<Result<Vec<_>, _>>()?;
        Ok(Pointer { text: Rc::from(text), segments })
    }

    /// The decoded segments, from the root down.
    pub fn segments(&self) -> &[Rc<str>] {
        &self.segments
    }

    /// True for the root pointer `""`.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The original text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `self` addresses a strict ancestor of `other` (its segments are a proper prefix).
    pub fn is_proper_prefix_of(&self, other: &Pointer) -> bool {
        self.segments.len() < other.segments.len() && other.segments.iter().zip(&self.segments).all(|(a, b)| a == b)
    }

    /// The canonical array index a segment denotes: `0` or a non-zero digit followed by digits
    /// (`^(0|[1-9][0-9]*)$`) that fits in `usize`. `None` for anything else, including `-`,
    /// leading zeros, signs and the empty string.
    pub fn array_index(segment: &str) -> Option<usize> {
        match classify_index(segment) {
            IndexSegment::At(index) => Some(index),
            IndexSegment::Append | IndexSegment::Overflow | IndexSegment::Invalid => None,
        }
    }
}

/// Pointers are equal when their decoded segments are.
impl PartialEq for Pointer {
    fn eq(&self, other: &Pointer) -> bool {
        self.segments == other.segments
    }
}

impl Eq for Pointer {}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a segment means as an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexSegment {
    /// A canonical index.
    At(usize),
    /// A canonical index too large for `usize` (necessarily out of bounds).
    Overflow,
    /// `-`: one past the last element.
    Append,
    /// Not an index.
    Invalid,
}

/// Classifies `segment` per `^(0|[1-9][0-9]*)$` (or `-`).
pub(crate) fn classify_index(segment: &str) -> IndexSegment {
    if segment == "-" {
        return IndexSegment::Append;
    }
    let bytes = segment.as_bytes();
    let canonical = match bytes.split_first() {
        None => false,
        Some((b'0', rest)) => rest.is_empty(),
        Some((first, rest)) => first.is_ascii_digit() && rest.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return IndexSegment::Invalid;
    }
    segment.parse::<usize>().map_or(IndexSegment::Overflow, IndexSegment::At)
}

fn decode(raw: &str, text: &str, mode: Mode) -> Result<Rc<str>, PatchError> {
    if !raw.contains('~') {
        return Ok(Rc::from(raw));
    }
    match mode {
        Mode::Musubi => Ok(Rc::from(raw.replace("~1", "/").replace("~0", "~").as_str())),
        Mode::Strict => {
            let mut out = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(PatchError::InvalidEscape(text.to_owned())),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(Rc::from(out.as_str()))
        }
    }
}
