//! `allow_upload` on a page, once routing found the upload (PROTOCOL.md §3.2).
//!
//! `entries` is a list of entry objects; a single object counts as a one-element list, a missing
//! `entries` as an empty one. Anything else (a list with a non-object element, a string, `null`)
//! is refused with `error {"reason": "invalid entries"}` and changes nothing (Musubi crashes).
//!
//! Per entry, in order, the first failing check wins (the entry goes to `errors`, gets no ref):
//!
//! | # | Check | Code |
//! |---|---|---|
//! | 1 | `client_ref` non-empty string | `preflight_rejected` |
//! | 2 | `name` non-empty string | `preflight_rejected` |
//! | 3 | `size` integer ≥ 0 | `preflight_rejected` |
//! | 4 | existing entries + accepted earlier in this request < `max_entries` | `too_many_files` |
//! | 5 | `size` ≤ `max_file_size` | `too_large` |
//! | 6 | accept check on `name` | `not_accepted` |
//!
//! `type` is optional (default `""`). Each accepted entry gets a ref `u_` + 11 URL-safe base64
//! characters (8 random bytes), status `pending`, an `add` op, and either a channel-mode token
//! (see [`super::token`]) or, when the store's [`RootStore::external_upload`] returns meta for
//! it, external mode: `uploader` is taken out of the meta (default `"external"`), the rest is
//! sent as `meta`.
//!
//! Reply: `{"ref": <upload name>, "config": {…}, "entries": {<client_ref>: {"type": "channel",
//! "entry_ref", "token"} | {"type": "external", "entry_ref", "uploader", "meta"}}, "errors":
//! [{"client_ref", "error": {"code", "message"}}]}` (a missing `client_ref` is reported as `""`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::entries::{Entry, Mode, PageUploads};
use super::ops::{ErrorCode, UploadError};
use super::spec::UploadSpec;
use super::token::Claims;
use crate::channels::musubi::stores::RootStore;

/// The reason of a refused `entries` value.
pub const INVALID_ENTRIES: &str = "invalid entries";

/// Runs the preflight of `entries` for `spec` (declared on `store_id`): the `ok` response, or
/// the reason of an `error` reply.
pub fn preflight(
    uploads: &mut PageUploads,
    store: &dyn RootStore,
    store_id: &[String],
    spec: &'static UploadSpec,
    entries: Option<&Value>,
) -> Result<Value, &'static str> {
    let requested: Vec<&Map<String, Value>> = match entries {
        None => Vec::new(),
        Some(Value::Object(entry)) => vec![entry],
        Some(Value::Array(items)) => items.iter().map(Value::as_object).collect::<Option<_>>().ok_or(INVALID_ENTRIES)?,
        Some(_) => return Err(INVALID_ENTRIES),
    };
    let mut held = uploads.count(store_id, spec.name);
    let mut accepted = Map::new();
    let mut errors = Vec::new();
    for entry in requested {
        let client_ref = non_empty(entry, "client_ref");
        let checked = client_ref.ok_or(ErrorCode::PreflightRejected).and_then(|client_ref| Ok((client_ref, check(entry, spec, held)?)));
        let (client_ref, (name, size)) = match checked {
            Ok(checked) => checked,
            Err(code) => {
                let error = UploadError::new(code).to_value();
                errors.push(json!({"client_ref": client_ref.unwrap_or_default(), "error": error}));
                continue;
            }
        };
        held += 1;
        let client_type = entry.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let entry_ref = new_ref(uploads);
        let (mode, reply) = match store.external_upload(store_id, spec.name, &entry_ref) {
            Some(mut meta) => {
                let uploader = match meta.remove("uploader") {
                    Some(Value::String(uploader)) => uploader,
                    _ => "external".to_owned(),
                };
                (Mode::External, json!({"type": "external", "entry_ref": entry_ref, "uploader": uploader, "meta": meta}))
            }
            None => {
                let token = sign(uploads, store_id, spec, &entry_ref, size);
                (Mode::Channel, json!({"type": "channel", "entry_ref": entry_ref, "token": token}))
            }
        };
        accepted.insert(client_ref.to_owned(), reply);
        uploads.add(Entry::new(store_id, spec, entry_ref, (name.to_owned(), size, client_type), mode));
    }
    Ok(json!({"ref": spec.name, "config": spec.config(), "entries": accepted, "errors": errors}))
}

/// Checks 2–6 (check 1 is the caller's): the entry's name and size, or the failing code.
fn check<'a>(entry: &'a Map<String, Value>, spec: &UploadSpec, held: usize) -> Result<(&'a str, u64), ErrorCode> {
    let name = non_empty(entry, "name").ok_or(ErrorCode::PreflightRejected)?;
    let size = entry.get("size").and_then(Value::as_u64).ok_or(ErrorCode::PreflightRejected)?;
    if held >= spec.max_entries {
        return Err(ErrorCode::TooManyFiles);
    }
    if size > spec.max_file_size {
        return Err(ErrorCode::TooLarge);
    }
    if !spec.accepts(name) {
        return Err(ErrorCode::NotAccepted);
    }
    Ok((name, size))
}

fn non_empty<'a>(entry: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    entry.get(key).and_then(Value::as_str).filter(|value| !value.is_empty())
}

/// A fresh entry ref, `u_` + 11 URL-safe base64 characters of 8 random bytes, unused on the page.
pub fn new_ref(uploads: &PageUploads) -> String {
    loop {
        let entry_ref = format!("u_{}", URL_SAFE_NO_PAD.encode(rand::random::<[u8; 8]>()));
        if !uploads.contains(&entry_ref) {
            return entry_ref;
        }
    }
}

/// The channel-mode token of a new entry.
fn sign(uploads: &PageUploads, store_id: &[String], spec: &UploadSpec, entry_ref: &str, client_size: u64) -> String {
    let context = uploads.context();
    let claims = Claims {
        page: uploads.page().clone(),
        store_id: store_id.to_vec(),
        upload: spec.name.to_owned(),
        entry_ref: entry_ref.to_owned(),
        max_file_size: spec.max_file_size,
        client_size,
        chunk_size: spec.chunk_size,
        chunk_timeout_ms: context.chunk_timeout_ms(),
        issued_at_ms: context.now_ms(),
    };
    context.signer.sign(&claims)
}
