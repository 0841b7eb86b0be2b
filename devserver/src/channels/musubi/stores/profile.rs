//! `Demo.ProfileStore`: a profile with three uploads (PROTOCOL.md §3), the files uploaded so far
//! and the current avatar.
//!
//! Params: none (ignored). Tree:
//!
//! ```json
//! {"__musubi_store_id__": [], "name": "Profile",
//!  "avatar": {"__musubi_upload__": "avatar"}, "document": {"__musubi_upload__": "document"},
//!  "archive": {"__musubi_upload__": "archive"},
//!  "avatar_url": null,
//!  "files": [{"upload": "avatar", "ref": "u_…", "name": "me.png", "size": 100, "url": "/_uploads/u_…"}]}
//! ```
//!
//! | upload | accept | max_entries | max_file_size | chunk_size | mode |
//! |---|---|---|---|---|---|
//! | `avatar` | `.png`, `.jpg` | 2 | 5 000 000 | 64 000 | channel |
//! | `document` | any | 3 | 10 000 000 | 64 000 | external: `uploader` `demo-http`, `meta` `{"url": "/_uploads/<ref>", "method": "PUT"}` |
//! | `archive` | any | 1 | 64 000 000 | 64 000 | channel |
//!
//! When an entry completes (channel: all bytes arrived; external: `upload_progress` reached 100
//! after the file was `PUT`), `files` gets it appended and, for `avatar`, `avatar_url` becomes its
//! URL; a cancelled entry leaves `files` again (`avatar_url` falls back to the latest avatar left,
//! or `null`).
//!
//! | command | effect |
//! |---|---|
//! | `clear {upload}` (`avatar`, `document` or `archive`, required) | removes every entry of that upload (a `reset` op) and its files from `files`; for `avatar`, `avatar_url` becomes `null` |
//!
//! A payload that breaks these rules gets `error {"reason": "invalid payload: …"}` naming the
//! field and changes nothing.

use serde_json::{Map, Value, json};

use super::{CommandOutcome, InvalidArgs, RootKind, RootStore, UploadReset, shared_by_id, string_arg};
use crate::channels::musubi::render::{store_node, upload_marker};
use crate::channels::musubi::upload::{Accept, UploadSpec, UploadedFile};

/// The declared root.
pub const KIND: RootKind = RootKind { module: "Demo.ProfileStore", params_key: shared_by_id, create };

/// The avatar upload (channel mode).
pub const AVATAR: UploadSpec = UploadSpec {
    name: "avatar",
    accept: Accept::Extensions(&[".png", ".jpg"]),
    max_entries: 2,
    max_file_size: 5_000_000,
    chunk_size: 64_000,
};

/// The document upload (external mode).
pub const DOCUMENT: UploadSpec =
    UploadSpec { name: "document", accept: Accept::Any, max_entries: 3, max_file_size: 10_000_000, chunk_size: 64_000 };

/// The archive upload (channel mode, large files).
pub const ARCHIVE: UploadSpec =
    UploadSpec { name: "archive", accept: Accept::Any, max_entries: 1, max_file_size: 64_000_000, chunk_size: 64_000 };

/// The uploads, in marker order.
const UPLOADS: [&UploadSpec; 3] = [&AVATAR, &DOCUMENT, &ARCHIVE];

/// The uploader name of document entries.
pub const DOCUMENT_UPLOADER: &str = "demo-http";

const COMMANDS: &[&str] = &["clear"];

/// The path a completed entry's file is served at (and where a document is `PUT`).
pub fn file_url(entry_ref: &str) -> String {
    format!("/_uploads/{entry_ref}")
}

/// One completed upload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileRecord {
    upload: &'static str,
    entry_ref: String,
    name: String,
    size: u64,
}

/// The profile's state.
#[derive(Debug, Default)]
struct ProfileStore {
    files: Vec<FileRecord>,
    resets: Vec<UploadReset>,
}

fn create(_params: &Map<String, Value>) -> Result<Box<dyn RootStore>, String> {
    Ok(Box::new(ProfileStore::default()))
}

impl ProfileStore {
    /// The latest avatar's URL.
    fn avatar_url(&self) -> Value {
        self.files.iter().rev().find(|file| file.upload == AVATAR.name).map_or(Value::Null, |file| json!(file_url(&file.entry_ref)))
    }
}

impl RootStore for ProfileStore {
    fn render(&self) -> Value {
        let mut fields = Map::new();
        fields.insert("name".into(), json!("Profile"));
        for spec in UPLOADS {
            fields.insert(spec.name.into(), upload_marker(spec.name));
        }
        fields.insert("avatar_url".into(), self.avatar_url());
        let files = self.files.iter().map(|file| {
            json!({"upload": file.upload, "ref": file.entry_ref, "name": file.name, "size": file.size, "url": file_url(&file.entry_ref)})
        });
        fields.insert("files".into(), Value::Array(files.collect()));
        store_node(&[], fields)
    }

    fn commands(&self, store_id: &[String]) -> Option<&'static [&'static str]> {
        store_id.is_empty().then_some(COMMANDS)
    }

    fn command(&mut self, _store_id: &[String], name: &str, payload: &Map<String, Value>) -> Result<CommandOutcome, InvalidArgs> {
        match name {
            "clear" => {
                let upload = string_arg(payload, "upload")?;
                let Some(spec) = UPLOADS.iter().find(|spec| spec.name == upload) else {
                    return Err(InvalidArgs("upload must be one of avatar, document, archive".into()));
                };
                self.files.retain(|file| file.upload != spec.name);
                self.resets.push(UploadReset { store_id: Vec::new(), upload: spec.name });
                Ok(CommandOutcome::NoReply)
            }
            // Not declared (the page server checks `commands` first).
            _ => Ok(CommandOutcome::Error(json!({"reason": "unknown command"}))),
        }
    }

    fn declared_uploads(&self) -> Vec<(Vec<String>, &'static UploadSpec)> {
        UPLOADS.iter().map(|spec| (Vec::new(), *spec)).collect()
    }

    fn external_upload(&self, store_id: &[String], upload: &str, entry_ref: &str) -> Option<Map<String, Value>> {
        if !store_id.is_empty() || upload != DOCUMENT.name {
            return None;
        }
        let meta = json!({"uploader": DOCUMENT_UPLOADER, "url": file_url(entry_ref), "method": "PUT"});
        meta.as_object().cloned()
    }

    fn on_upload_complete(&mut self, _store_id: &[String], file: &UploadedFile) {
        self.files.push(FileRecord { upload: file.upload, entry_ref: file.entry_ref.clone(), name: file.name.clone(), size: file.size });
    }

    fn on_upload_removed(&mut self, _store_id: &[String], _upload: &str, entry_ref: &str) {
        self.files.retain(|file| file.entry_ref != entry_ref);
    }

    fn take_upload_resets(&mut self) -> Vec<UploadReset> {
        std::mem::take(&mut self.resets)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn profile() -> Box<dyn RootStore> {
        create(&Map::new()).unwrap()
    }

    fn uploaded(upload: &'static str, entry_ref: &str) -> UploadedFile {
        UploadedFile { upload, entry_ref: entry_ref.into(), name: "f.png".into(), size: 3, client_type: "image/png".into() }
    }

    #[test]
    fn renders_markers_files_and_the_avatar() {
        let mut store = profile();
        assert_eq!(
            store.render(),
            json!({"__musubi_store_id__": [], "name": "Profile",
                   "avatar": {"__musubi_upload__": "avatar"}, "document": {"__musubi_upload__": "document"},
                   "archive": {"__musubi_upload__": "archive"}, "avatar_url": null, "files": []})
        );
        store.on_upload_complete(&[], &uploaded("avatar", "u_1"));
        store.on_upload_complete(&[], &uploaded("archive", "u_2"));
        let tree = store.render();
        assert_eq!(tree["avatar_url"], "/_uploads/u_1");
        assert_eq!(tree["files"][1], json!({"upload": "archive", "ref": "u_2", "name": "f.png", "size": 3, "url": "/_uploads/u_2"}));
        store.on_upload_removed(&[], "avatar", "u_1");
        assert_eq!(store.render()["avatar_url"], Value::Null);
    }

    #[test]
    fn clear_validates_and_asks_for_a_reset() {
        let mut store = profile();
        store.on_upload_complete(&[], &uploaded("avatar", "u_1"));
        store.on_upload_complete(&[], &uploaded("document", "u_2"));
        for (payload, reason) in [
            (json!({}), "upload is required"),
            (json!({"upload": 1}), "upload must be a string"),
            (json!({"upload": "x"}), "upload must be one of avatar, document, archive"),
        ] {
            assert_eq!(store.command(&[], "clear", payload.as_object().unwrap()), Err(InvalidArgs(reason.into())));
        }
        assert!(store.take_upload_resets().is_empty());
        let args = json!({"upload": "avatar"});
        assert_eq!(store.command(&[], "clear", args.as_object().unwrap()), Ok(CommandOutcome::NoReply));
        assert_eq!(store.take_upload_resets(), vec![UploadReset { store_id: vec![], upload: "avatar" }]);
        let tree = store.render();
        assert_eq!((tree["avatar_url"].clone(), tree["files"].as_array().unwrap().len()), (Value::Null, 1));
    }

    #[test]
    fn only_documents_are_external() {
        let store = profile();
        assert_eq!(
            store.external_upload(&[], "document", "u_x").map(Value::Object),
            Some(json!({"uploader": "demo-http", "url": "/_uploads/u_x", "method": "PUT"}))
        );
        assert_eq!(store.external_upload(&[], "avatar", "u_x"), None);
    }
}
