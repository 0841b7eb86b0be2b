//! Runtime errors: [`SyncError`] for every failed request, [`CommandError`] for commands
//! (PROTOCOL.md §2.3, §2.4, §2.14–§2.16).

use serde_json::Value;

use super::store_id::StoreId;

/// Whether a command failed on the server or timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandErrorKind {
    /// The server replied `error`.
    Failed,
    /// No reply within the push timeout.
    Timeout,
}

impl CommandErrorKind {
    /// `"failed"` or `"timeout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandErrorKind::Failed => "failed",
            CommandErrorKind::Timeout => "timeout",
        }
    }
}

/// A command that failed on the server or timed out (the reference `MusubiCommandError`).
///
/// ```
/// use musubi_wasm::runtime::error::CommandError;
/// use musubi_wasm::runtime::store_id::StoreId;
/// let error = CommandError::failed("save", StoreId::root(), serde_json::json!({"reason": "unknown command"}));
/// assert_eq!(error.code.as_deref(), Some("unknown command"));
/// assert_eq!(error.to_string(), r#"Command "save" failed: unknown command"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CommandError {
    /// Failed or timed out.
    pub kind: CommandErrorKind,
    /// The command name.
    pub command: String,
    /// The target store.
    pub store_id: StoreId,
    /// The raw error response (`None` on timeout).
    pub reply: Option<Value>,
    /// The first string among `reply.code`, `reply.error`, `reply.reason`.
    pub code: Option<String>,
}

impl CommandError {
    /// A failed command with the server's error response.
    pub fn failed(command: &str, store_id: StoreId, reply: Value) -> Self {
        let code = extract_code(&reply);
        CommandError { kind: CommandErrorKind::Failed, command: command.to_owned(), store_id, reply: Some(reply), code }
    }

    /// A command that got no reply in time.
    pub fn timeout(command: &str, store_id: StoreId) -> Self {
        CommandError { kind: CommandErrorKind::Timeout, command: command.to_owned(), store_id, reply: None, code: None }
    }
}

/// The first of `code`, `error`, `reason` that is a string, when `reply` is an object.
pub fn extract_code(reply: &Value) -> Option<String> {
    let object = reply.as_object()?;
    ["code", "error", "reason"].iter().find_map(|key| object.get(*key).and_then(Value::as_str)).map(str::to_owned)
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind, &self.code, &self.reply) {
            (CommandErrorKind::Timeout, _, _) => write!(f, "Command \"{}\" timed out", self.command),
            (CommandErrorKind::Failed, Some(code), _) => write!(f, "Command \"{}\" failed: {code}", self.command),
            (CommandErrorKind::Failed, None, Some(reply)) => write!(f, "Command \"{}\" failed: {reply}", self.command),
            (CommandErrorKind::Failed, None, None) => write!(f, "Command \"{}\" failed: null", self.command),
        }
    }
}

impl std::error::Error for CommandError {}

/// Why a runtime request failed. Messages match the reference client's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    /// The root is not mounted (or is reconnecting) — commands are refused locally.
    #[error("Store is not connected")]
    NotConnected,
    /// The root was unmounted while the request was pending.
    #[error("Unmounted")]
    Unmounted,
    /// The request was made through a handle whose root was unmounted (the reference message,
    /// with the reason).
    #[error("Store is not connected (its root was unmounted)")]
    StoreUnmounted,
    /// The connection was closed by the application while the request was pending.
    #[error("Disconnected")]
    Disconnected,
    /// The root's state went out of sequence while the request was pending.
    #[error("Version mismatch")]
    VersionMismatch,
    /// The command failed or timed out.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The server refused the mount.
    #[error("Root mount failed: {0}")]
    MountFailed(Value),
    /// No mount reply (or no initial envelope) in time.
    #[error("Root mount timed out")]
    MountTimeout,
    /// The mount reply named another root.
    #[error("Root mount returned unexpected root_id: {0}")]
    UnexpectedRootId(String),
    /// The server refused the unmount.
    #[error("Root unmount failed: {0}")]
    UnmountFailed(Value),
    /// No unmount reply in time.
    #[error("Root unmount timed out")]
    UnmountTimeout,
    /// The connection channel join was refused.
    #[error("Channel join failed: {0}")]
    JoinFailed(Value),
    /// The connection channel join timed out.
    #[error("Channel join timed out")]
    JoinTimeout,
    /// The request itself is invalid (e.g. an empty root id).
    #[error("Invalid request: {0}")]
    Invalid(&'static str),
    /// The server's state (or a reply) nests deeper than the client holds
    /// ([`crate::runtime::depth::MAX_DEPTH`] levels).
    #[error("{0} is nested deeper than {limit} levels", limit = crate::runtime::depth::MAX_DEPTH)]
    TooDeep(&'static str),
    /// The socket cannot be opened at all (a bad URL, or an auth token a WebSocket cannot carry);
    /// nothing is retried until the configuration changes.
    #[error("Cannot connect: {0}")]
    ConnectFailed(String),
    /// The server refused an upload preflight (`allow_upload`), e.g. `unknown upload`.
    #[error("Upload refused: {0}")]
    UploadRefused(Value),
    /// No preflight reply in time.
    #[error("Upload timed out")]
    UploadTimeout,
    /// The connection dropped after the command was sent and before its reply: the server may or
    /// may not have run it, so it is not sent again.
    #[error("Disconnected while the command was in flight: it may or may not have run")]
    DisconnectedInFlight,
    /// A root id is already mounted with another module (or other params): a second mount under
    /// it would silently share the first root, so it is refused, naming both.
    #[error("root id \"{id}\" is already mounted as {mounted}; cannot mount {requested} under it (use another id)")]
    IdInUse {
        /// The root id.
        id: String,
        /// What is mounted under it (the module, with its params when only they differ).
        mounted: String,
        /// What was asked for.
        requested: String,
    },
    /// A store id the root does not have (e.g. a child store that does not exist).
    #[error("root \"{root_id}\" has no store {store_id}")]
    UnknownStore {
        /// The root id.
        root_id: String,
        /// The store id, as JSON (e.g. `["cards","9"]`).
        store_id: String,
    },
    /// The root's outbox already holds this many commands.
    #[error("Outbox full: {0} commands are already waiting")]
    OutboxFull(usize),
    /// The command waited in the outbox longer than its age limit.
    #[error("Outbox expired: the root was not live again in time")]
    OutboxExpired,
}

impl SyncError {
    /// True for failures a retry can cure (timeouts, a channel that went away); false for
    /// answers (a refusal, a state the client cannot hold).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SyncError::MountTimeout | SyncError::NotConnected | SyncError::Disconnected | SyncError::JoinTimeout | SyncError::UploadTimeout
        )
    }

    /// A stable, machine-readable name for the error (`error.kind` in JS).
    ///
    /// ```
    /// use musubi_wasm::runtime::SyncError;
    /// assert_eq!(SyncError::StoreUnmounted.kind(), "unmounted");
    /// assert!(SyncError::StoreUnmounted.to_string().starts_with("Store is not connected"));
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::NotConnected => "not_connected",
            SyncError::Unmounted | SyncError::StoreUnmounted => "unmounted",
            SyncError::Disconnected => "disconnected",
            SyncError::VersionMismatch => "version_mismatch",
            SyncError::Command(command) => command.kind.as_str(),
            SyncError::MountFailed(_) => "mount_failed",
            SyncError::MountTimeout => "mount_timeout",
            SyncError::UnexpectedRootId(_) => "unexpected_root_id",
            SyncError::UnmountFailed(_) => "unmount_failed",
            SyncError::UnmountTimeout => "unmount_timeout",
            SyncError::JoinFailed(_) => "join_failed",
            SyncError::JoinTimeout => "join_timeout",
            SyncError::Invalid(_) => "invalid",
            SyncError::TooDeep(_) => "too_deep",
            SyncError::ConnectFailed(_) => "connect_failed",
            SyncError::UploadRefused(_) => "upload_refused",
            SyncError::UploadTimeout => "upload_timeout",
            SyncError::DisconnectedInFlight => "disconnected_in_flight",
            SyncError::OutboxFull(_) => "outbox_full",
            SyncError::OutboxExpired => "outbox_expired",
            SyncError::IdInUse { .. } => "id_in_use",
            SyncError::UnknownStore { .. } => "unknown_store",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checklist_20_failed_error_exposes_its_fields() {
        let error = CommandError::failed("save", StoreId::from(["cart"]), json!({"code": "invalid", "reason": "x"}));
        assert_eq!((error.kind.as_str(), error.command.as_str(), error.code.as_deref()), ("failed", "save", Some("invalid")));
        assert_eq!(error.store_id, StoreId::from(["cart"]));
        assert_eq!(error.reply, Some(json!({"code": "invalid", "reason": "x"})));
        assert_eq!(error.to_string(), "Command \"save\" failed: invalid");
    }

    #[test]
    fn checklist_21_timeout_has_no_code() {
        let error = CommandError::timeout("save", StoreId::root());
        assert_eq!((error.code.clone(), error.reply.clone()), (None, None));
        assert_eq!(error.to_string(), "Command \"save\" timed out");
    }

    #[test]
    fn checklist_22_code_order_is_code_error_reason_strings_only() {
        assert_eq!(extract_code(&json!({"reason": "r", "error": "e", "code": "c"})).as_deref(), Some("c"));
        assert_eq!(extract_code(&json!({"reason": "r", "error": "e", "code": 5})).as_deref(), Some("e"));
        assert_eq!(extract_code(&json!({"reason": "r", "error": null})).as_deref(), Some("r"));
        assert_eq!(extract_code(&json!({"reason": {"nested": 1}})), None);
    }

    #[test]
    fn checklist_23_no_code_for_non_object_replies() {
        for reply in [json!(null), json!("text"), json!(42), json!([{"code": "x"}])] {
            assert_eq!(extract_code(&reply), None);
        }
        let error = CommandError::failed("x", StoreId::root(), json!(null));
        assert_eq!(error.to_string(), "Command \"x\" failed: null");
        assert_eq!(CommandError::failed("x", StoreId::root(), json!({"a": 1})).to_string(), "Command \"x\" failed: {\"a\":1}");
    }

    #[test]
    fn checklist_24_construction_never_fails_on_any_reply() {
        // Rust values cannot be cyclic; deep and odd replies still format without panicking.
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let error = CommandError::failed("x", StoreId::root(), deep);
        assert!(error.to_string().starts_with("Command \"x\" failed: [[["));
        assert!(CommandError::failed("x", StoreId::root(), json!(1.0e300)).to_string().starts_with("Command \"x\" failed: 1"));
    }

    #[test]
    fn checklist_25_26_errors_keep_their_identity_through_sync_error() {
        let error: SyncError = CommandError::failed("x", StoreId::root(), json!({"reason": "no"})).into();
        assert!(matches!(&error, SyncError::Command(command) if command.code.as_deref() == Some("no")));
        assert_eq!(error.to_string(), "Command \"x\" failed: no");
        let source: &dyn std::error::Error = &error;
        assert!(source.source().is_none(), "transparent: the command error is the error");
    }

    #[test]
    fn sync_error_messages_match_the_reference() {
        assert_eq!(SyncError::NotConnected.to_string(), "Store is not connected");
        assert_eq!(
            SyncError::MountFailed(json!({"reason": "unknown root"})).to_string(),
            "Root mount failed: {\"reason\":\"unknown root\"}"
        );
        assert_eq!(SyncError::UnexpectedRootId("b".into()).to_string(), "Root mount returned unexpected root_id: b");
        assert_eq!(SyncError::JoinTimeout.to_string(), "Channel join timed out");
    }
}
