//! [`SyncError`]: what went wrong, as the Leptos layer reports it in `last_error` and in command
//! handles.

use serde_json::Value;

use crate::runtime::{self, CommandErrorKind};

/// An error of the sync layer. `Display` gives a sentence for an error banner.
///
/// ```no_run
/// use musubi_wasm::leptos::SyncError;
/// let error = SyncError::CommandTimeout { command: "save".into() };
/// assert_eq!(error.to_string(), "command \"save\" timed out");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    /// The store's root is not connected (not mounted yet, or the connection is down).
    #[error("not connected")]
    NotConnected,
    /// A store's snapshot did not match the requested Rust type; the last good value is kept.
    #[error("could not read store {store}: {error}")]
    DeserializationFailed {
        /// The store id (compact JSON, e.g. `["cards","1"]`).
        store: String,
        /// serde's message.
        error: String,
    },
    /// A command payload could not be serialized.
    #[error("could not serialize the command payload: {error}")]
    SerializationFailed {
        /// serde's message.
        error: String,
    },
    /// The WebSocket closed or could not be opened.
    #[error("connection problem: {message}")]
    WebSocketError {
        /// What happened.
        message: String,
    },
    /// The server answered a command with an error.
    #[error("command \"{command}\" failed: {}", code.as_deref().unwrap_or("error"))]
    CommandFailed {
        /// The command name.
        command: String,
        /// The first string among `reply.code`, `reply.error`, `reply.reason`.
        code: Option<String>,
        /// The server's error reply.
        reply: Value,
    },
    /// A command got no reply in time.
    #[error("command \"{command}\" timed out")]
    CommandTimeout {
        /// The command name.
        command: String,
    },
    /// The server sent something the client cannot use (a malformed frame, a refused mount…).
    #[error("protocol error: {message}")]
    Protocol {
        /// What happened.
        message: String,
    },
    /// A root went out of sequence; it is being remounted (its last good state stays readable).
    #[error("root {root_id} went out of sequence and is being remounted")]
    VersionMismatch {
        /// The root id.
        root_id: String,
    },
    /// A live root has to resync (it is remounted for a fresh state): `cause` says why — a missed
    /// update (a version gap) or an update that could not be applied. Its last good state stays
    /// readable; the error clears itself once every root is live again.
    #[error("root {root_id} is resyncing: {cause}; its last good state stays on screen")]
    Resyncing {
        /// The root id.
        root_id: String,
        /// Why, e.g. `it missed an update (expected 4 → 5, got 6 → 7)`.
        cause: String,
    },
    /// The request was cut off: its root was unmounted or the connection closed.
    #[error("cancelled: {reason}")]
    Cancelled {
        /// `"unmounted"` or `"disconnected"`.
        reason: String,
    },
}

impl SyncError {
    /// Maps a runtime error for a request on `root_id`.
    pub(crate) fn from_runtime(error: runtime::SyncError, root_id: &str) -> SyncError {
        match error {
            runtime::SyncError::NotConnected => SyncError::NotConnected,
            runtime::SyncError::Command(command) => match command.kind {
                CommandErrorKind::Failed => {
                    SyncError::CommandFailed { command: command.command, code: command.code, reply: command.reply.unwrap_or(Value::Null) }
                }
                CommandErrorKind::Timeout => SyncError::CommandTimeout { command: command.command },
            },
            runtime::SyncError::VersionMismatch => SyncError::VersionMismatch { root_id: root_id.to_owned() },
            runtime::SyncError::Unmounted | runtime::SyncError::StoreUnmounted => SyncError::Cancelled { reason: "unmounted".into() },
            runtime::SyncError::Disconnected => SyncError::Cancelled { reason: "disconnected".into() },
            runtime::SyncError::JoinTimeout
            | runtime::SyncError::MountTimeout
            | runtime::SyncError::UnmountTimeout
            | runtime::SyncError::ConnectFailed(_) => SyncError::WebSocketError { message: error.to_string() },
            other => SyncError::Protocol { message: other.to_string() },
        }
    }
}
