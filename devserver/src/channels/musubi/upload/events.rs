//! The four upload events both Musubi channels accept (PROTOCOL.md §3.2, §3.5, §3.6): parsing
//! their payloads and running them on a page's uploads once routing found the upload.
//!
//! | Event | Fields (besides `root_id` on the connection channel) | Reply `ok` | Errors after routing |
//! |---|---|---|---|
//! | `allow_upload` | `name`, `store_id`, `entries` | the preflight result (see [`super::preflight`]) | `invalid entries` |
//! | `cancel_upload` | `name`, `store_id`, `ref` | `{}` (also for an unknown entry) | — |
//! | `upload_progress` | `name`, `store_id`, `ref`, `progress` | `{}` | `unknown entry`, `wrong mode` |
//! | `upload_error` | `name`, `store_id`, `ref`, `code`, `message` | `{}` | `unknown entry`, `wrong mode` |
//!
//! `name` (and `ref` except for `allow_upload`) must be non-empty strings, else `missing required
//! field`. `store_id` is optional (default `[]`); as in Musubi's upload events a non-array counts
//! as `[]` and elements that are not strings are converted (`1` → `"1"`, `null` → `""`).
//! `progress`: an integer ≥ 0, clamped to 100; anything else counts as 0. `code` is always
//! `external_failed`; `message` is used if it is a non-empty string, else the default.

use serde_json::{Map, Value, json};

use super::entries::PageUploads;
use super::preflight::preflight;
use super::spec::UploadSpec;
use crate::channels::musubi::stores::RootStore;

/// The upload event names.
pub const EVENTS: [&str; 4] = ["allow_upload", "cancel_upload", "upload_progress", "upload_error"];

/// What an upload event asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadAction {
    /// `allow_upload`.
    Allow {
        /// The `entries` field as sent.
        entries: Option<Value>,
    },
    /// `cancel_upload`.
    Cancel {
        /// The entry.
        entry_ref: String,
    },
    /// `upload_progress`.
    Progress {
        /// The entry.
        entry_ref: String,
        /// Clamped to 0..=100.
        progress: u64,
    },
    /// `upload_error`.
    Error {
        /// The entry.
        entry_ref: String,
        /// A non-empty message, if one was sent.
        message: Option<String>,
    },
}

/// An upload event addressed to one upload of one store.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRequest {
    /// The declaring store.
    pub store_id: Vec<String>,
    /// The upload's name.
    pub name: String,
    /// What to do.
    pub action: UploadAction,
}

impl UploadRequest {
    /// Parses an upload event (one of [`EVENTS`]); `None` means `missing required field`.
    pub fn parse(event: &str, payload: &Map<String, Value>) -> Option<UploadRequest> {
        let name = non_empty(payload, "name")?.to_owned();
        let entry_ref = || non_empty(payload, "ref").map(str::to_owned);
        let action = match event {
            "allow_upload" => UploadAction::Allow { entries: payload.get("entries").cloned() },
            "cancel_upload" => UploadAction::Cancel { entry_ref: entry_ref()? },
            "upload_progress" => {
                let progress = payload.get("progress").and_then(Value::as_u64).map_or(0, |progress| progress.min(100));
                UploadAction::Progress { entry_ref: entry_ref()?, progress }
            }
            _ => UploadAction::Error { entry_ref: entry_ref()?, message: non_empty(payload, "message").map(str::to_owned) },
        };
        Some(UploadRequest { store_id: store_id(payload), name, action })
    }

    /// Runs the request on `spec` (declared on `self.store_id`): the `ok` response or the reason
    /// of an `error` reply.
    pub fn run(self, uploads: &mut PageUploads, store: &mut dyn RootStore, spec: &'static UploadSpec) -> Result<Value, &'static str> {
        let UploadRequest { store_id, name, action } = self;
        match action {
            UploadAction::Allow { entries } => preflight(uploads, store, &store_id, spec, entries.as_ref()),
            UploadAction::Cancel { entry_ref } => {
                uploads.cancel(store, &store_id, &name, &entry_ref);
                Ok(json!({}))
            }
            UploadAction::Progress { entry_ref, progress } => uploads
                .client_progress(store, &store_id, &name, &entry_ref, progress)
                .map(|()| json!({}))
                .map_err(|refusal| refusal.reason()),
            UploadAction::Error { entry_ref, message } => uploads
                .client_error(&store_id, &name, &entry_ref, message.as_deref())
                .map(|()| json!({}))
                .map_err(|refusal| refusal.reason()),
        }
    }
}

fn non_empty<'a>(payload: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    payload.get(key).and_then(Value::as_str).filter(|value| !value.is_empty())
}

/// `store_id` of an upload event: default `[]`, a non-array is `[]`, elements become strings.
fn store_id(payload: &Map<String, Value>) -> Vec<String> {
    let Some(Value::Array(segments)) = payload.get("store_id") else { return Vec::new() };
    segments
        .iter()
        .map(|segment| match segment {
            Value::String(segment) => segment.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn parse(event: &str, payload: Value) -> Option<UploadRequest> {
        UploadRequest::parse(event, payload.as_object().unwrap())
    }

    #[test]
    fn required_fields_and_store_ids() {
        assert_eq!(parse("allow_upload", json!({})), None);
        assert_eq!(parse("allow_upload", json!({"name": ""})), None);
        assert_eq!(parse("cancel_upload", json!({"name": "a"})), None);
        assert_eq!(parse("upload_error", json!({"name": "a", "ref": 3})), None);
        let request = parse("allow_upload", json!({"name": "a", "store_id": "x"})).unwrap();
        assert_eq!(request.store_id, Vec::<String>::new());
        let request = parse("allow_upload", json!({"name": "a", "store_id": ["s", 1, null, true]})).unwrap();
        assert_eq!(request.store_id, ["s", "1", "", "true"]);
    }

    #[test]
    fn progress_is_clamped_and_anything_else_is_zero() {
        let progress = |value: Value| match parse("upload_progress", json!({"name": "a", "ref": "r", "progress": value})).unwrap().action {
            UploadAction::Progress { progress, .. } => progress,
            other => panic!("{other:?}"),
        };
        assert_eq!(progress(json!(33)), 33);
        assert_eq!(progress(json!(250)), 100);
        assert_eq!(progress(json!(-1)), 0);
        assert_eq!(progress(json!(33.5)), 0);
        assert_eq!(progress(json!("50")), 0);
        assert_eq!(progress(Value::Null), 0);
    }

    #[test]
    fn error_messages_must_be_non_empty_strings() {
        let message = |value: Value| match parse("upload_error", json!({"name": "a", "ref": "r", "message": value})).unwrap().action {
            UploadAction::Error { message, .. } => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(message(json!("PUT 500")), Some("PUT 500".to_owned()));
        assert_eq!(message(json!("")), None);
        assert_eq!(message(json!(5)), None);
    }
}
