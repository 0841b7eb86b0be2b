//! Errors of the patch engine.
//!
//! The first five variants carry the exact messages of the reference client (PROTOCOL.md §2.9)
//! and are the only ones Musubi mode produces for well-formed ops; the others report malformed
//! ops (both modes) and the stricter RFC 6902 / RFC 6901 checks of [`Mode::Strict`](super::Mode).

/// Why a JSON Patch op could not be parsed or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A non-empty pointer that does not start with `/` (the text is the whole pointer).
    #[error("Invalid JSON Pointer: {0}")]
    InvalidPointer(String),
    /// Musubi mode: an op other than `replace` at the root path (the text is the op name).
    #[error("Root path only supports replace, received {0}")]
    RootOp(String),
    /// A value on the way to the target (or the target's parent) is not an object or array.
    /// Musubi mode also reports a missing intermediate key this way.
    #[error("JSON Patch target is not a container")]
    NotContainer,
    /// An array segment that is not a canonical index (`^(0|[1-9][0-9]*)$`), or `-` where only an
    /// existing element can be addressed (the text is the segment).
    #[error("Invalid array index: {0}")]
    InvalidIndex(String),
    /// An array index past the end (the text is the segment).
    #[error("Array index out of bounds: {0}")]
    IndexOutOfBounds(String),
    /// The op is not a JSON object.
    #[error("JSON Patch operation is not an object")]
    NotAnObject,
    /// A required member (`op`, `path`, `from`, or `value`) is absent.
    #[error("JSON Patch operation is missing member \"{member}\"")]
    MissingMember {
        /// The member's name.
        member: &'static str,
    },
    /// A member that must be a string (`op`, `path`, `from`) is something else.
    #[error("JSON Patch operation member \"{member}\" must be a string")]
    InvalidMember {
        /// The member's name.
        member: &'static str,
    },
    /// Strict mode: an op name other than the six of RFC 6902.
    #[error("Unknown JSON Patch operation: {0}")]
    UnknownOp(String),
    /// Strict mode: a `~` not followed by `0` or `1` (the text is the whole pointer).
    #[error("Invalid escape in JSON Pointer: {0}")]
    InvalidEscape(String),
    /// Strict mode: an object key on the path (or the `from` location) does not exist
    /// (the text is the op's pointer).
    #[error("JSON Patch path not found: {0}")]
    PathNotFound(String),
    /// Strict mode: a `test` op found a different value (the text is the op's path).
    #[error("JSON Patch test failed at {0}")]
    TestFailed(String),
    /// Strict mode: a `move` whose `from` is a proper prefix of its `path`.
    #[error("Cannot move {from} into its own descendant {path}")]
    MoveIntoDescendant {
        /// The op's `from`.
        from: String,
        /// The op's `path`.
        path: String,
    },
    /// Strict mode: a `remove` of the whole document.
    #[error("Cannot remove the document root")]
    RemoveRoot,
}
