//! Upload ops (PROTOCOL.md §3.7) and upload errors (§3.2's code → message table).
//!
//! | Op | Wire shape |
//! |---|---|
//! | `config` | `{op, upload, store_id, config: {accept, max_entries, max_file_size, chunk_size}}` |
//! | `add` | `{op, upload, store_id, ref, entry: {ref, client_name, client_size, client_type, progress, status, errors}}` |
//! | `progress` | `{op, upload, store_id, ref, progress}` |
//! | `complete` | `{op, upload, store_id, ref}` |
//! | `error` | `{op, upload, store_id, ref, error: {code, message}}` |
//! | `cancel` | `{op, upload, store_id, ref}` |
//! | `reset` | `{op, upload, store_id}` |

use serde_json::{Map, Value, json};

/// An upload error code (PROTOCOL.md §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `too_large`.
    TooLarge,
    /// `too_many_files`.
    TooManyFiles,
    /// `not_accepted`.
    NotAccepted,
    /// `chunk_timeout`.
    ChunkTimeout,
    /// `chunk_too_large`.
    ChunkTooLarge,
    /// `external_failed`.
    ExternalFailed,
    /// `preflight_rejected`.
    PreflightRejected,
    /// `internal`.
    Internal,
}

impl ErrorCode {
    /// The wire code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManyFiles => "too_many_files",
            ErrorCode::NotAccepted => "not_accepted",
            ErrorCode::ChunkTimeout => "chunk_timeout",
            ErrorCode::ChunkTooLarge => "chunk_too_large",
            ErrorCode::ExternalFailed => "external_failed",
            ErrorCode::PreflightRejected => "preflight_rejected",
            ErrorCode::Internal => "internal",
        }
    }

    /// The server's default message for the code.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::TooLarge => "file exceeds the maximum size",
            ErrorCode::TooManyFiles => "too many files selected",
            ErrorCode::NotAccepted => "file type is not accepted",
            ErrorCode::ChunkTimeout => "upload timed out between chunks",
            ErrorCode::ChunkTooLarge => "chunk size exceeded the configured limit",
            ErrorCode::ExternalFailed => "external upload failed",
            ErrorCode::PreflightRejected => "upload was rejected",
            ErrorCode::Internal => "internal upload error",
        }
    }
}

/// An error of an entry (or of a preflight): a code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadError {
    /// The code.
    pub code: ErrorCode,
    /// The message (the code's default unless an external uploader said otherwise).
    pub message: String,
}

impl UploadError {
    /// The error with the code's default message.
    pub fn new(code: ErrorCode) -> Self {
        UploadError { code, message: code.default_message().to_owned() }
    }

    /// `{"code", "message"}`.
    pub fn to_value(&self) -> Value {
        json!({"code": self.code.as_str(), "message": self.message})
    }
}

/// What an upload op does.
#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    /// The upload's config object.
    Config(Value),
    /// A new entry, as the wire `entry` object.
    Add(Value),
    /// The entry's progress (0..=100).
    Progress(u64),
    /// The entry completed.
    Complete,
    /// The entry failed.
    Error(UploadError),
    /// The entry was removed.
    Cancel,
    /// Every entry of the upload was removed.
    Reset,
}

/// One upload op of one store's upload (and, except for `config` and `reset`, one entry).
#[derive(Debug, Clone, PartialEq)]
pub struct UploadOp {
    /// The declaring store.
    pub store_id: Vec<String>,
    /// The upload's name.
    pub upload: String,
    /// The entry's ref (`None` for `config` and `reset`).
    pub entry_ref: Option<String>,
    /// What it does.
    pub kind: OpKind,
}

impl UploadOp {
    /// An op about one entry.
    pub fn entry(store_id: &[String], upload: &str, entry_ref: &str, kind: OpKind) -> Self {
        UploadOp { store_id: store_id.to_vec(), upload: upload.to_owned(), entry_ref: Some(entry_ref.to_owned()), kind }
    }

    /// An op about the whole upload (`config`, `reset`).
    pub fn upload(store_id: &[String], upload: &str, kind: OpKind) -> Self {
        UploadOp { store_id: store_id.to_vec(), upload: upload.to_owned(), entry_ref: None, kind }
    }

    /// The progress this op carries, if it is a `progress` op.
    pub fn progress(&self) -> Option<u64> {
        match self.kind {
            OpKind::Progress(progress) => Some(progress),
            _ => None,
        }
    }

    /// The op as wire JSON.
    pub fn to_value(&self) -> Value {
        let (name, extra): (&str, Option<(&str, Value)>) = match &self.kind {
            OpKind::Config(config) => ("config", Some(("config", config.clone()))),
            OpKind::Add(entry) => ("add", Some(("entry", entry.clone()))),
            OpKind::Progress(progress) => ("progress", Some(("progress", json!(progress)))),
            OpKind::Complete => ("complete", None),
            OpKind::Error(error) => ("error", Some(("error", error.to_value()))),
            OpKind::Cancel => ("cancel", None),
            OpKind::Reset => ("reset", None),
        };
        let mut op = Map::new();
        op.insert("op".into(), json!(name));
        op.insert("upload".into(), json!(self.upload));
        op.insert("store_id".into(), json!(self.store_id));
        if let Some(entry_ref) = &self.entry_ref {
            op.insert("ref".into(), json!(entry_ref));
        }
        if let Some((key, value)) = extra {
            op.insert(key.into(), value);
        }
        Value::Object(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_have_the_wire_shapes() {
        let id = vec!["a".to_owned()];
        assert_eq!(
            UploadOp::entry(&id, "avatar", "u_1", OpKind::Progress(40)).to_value(),
            json!({"op": "progress", "upload": "avatar", "store_id": ["a"], "ref": "u_1", "progress": 40})
        );
        assert_eq!(
            UploadOp::entry(&[], "avatar", "u_1", OpKind::Error(UploadError::new(ErrorCode::ChunkTimeout))).to_value(),
            json!({"op": "error", "upload": "avatar", "store_id": [], "ref": "u_1",
                   "error": {"code": "chunk_timeout", "message": "upload timed out between chunks"}})
        );
        assert_eq!(UploadOp::upload(&[], "avatar", OpKind::Reset).to_value(), json!({"op": "reset", "upload": "avatar", "store_id": []}));
        assert_eq!(
            UploadOp::entry(&[], "d", "u_2", OpKind::Complete).to_value(),
            json!({"op": "complete", "upload": "d", "store_id": [], "ref": "u_2"})
        );
    }
}
