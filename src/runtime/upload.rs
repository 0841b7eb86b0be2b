//! Upload handle state driven by `upload_ops` (PROTOCOL.md §3.7). The transfer itself (select,
//! start, chunking) is a later layer; this module keeps what the server says about each upload.
//!
//! ```
//! use musubi_wasm::runtime::upload::{UploadOp, Uploads};
//! use musubi_wasm::runtime::tree::Node;
//! let op = UploadOp::parse(&Node::from_json(&serde_json::json!(
//!     {"op":"add","upload":"avatar","store_id":[],"ref":"u1","entry":{"ref":"u1","client_name":"me.png","client_size":10,"client_type":"image/png","progress":0,"status":"pending","errors":[]}}
//! )))?;
//! let mut uploads = Uploads::default();
//! let changed = uploads.apply(&[op]);
//! assert_eq!(changed.len(), 1);
//! # Ok::<(), musubi_wasm::runtime::upload::UploadOpError>(())
//! ```

use std::rc::Rc;

use serde::Serialize;

use super::store_id::{StoreId, StoreKey};
use super::tree::Node;

/// Upload configuration (camelCase like the reference client).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UploadConfig {
    /// Accepted extensions, or `"any"`.
    pub accept: Node,
    /// Entries tracked at once.
    pub max_entries: u64,
    /// Largest file in bytes.
    pub max_file_size: u64,
    /// Chunk size in bytes.
    pub chunk_size: u64,
}

/// An error reported for an entry or the whole upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadError {
    /// Machine-readable code, e.g. `too_large`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// One file of an upload.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadEntry {
    /// The server's entry ref.
    #[serde(rename = "ref")]
    pub entry_ref: Rc<str>,
    /// File name.
    pub client_name: String,
    /// File size in bytes.
    pub client_size: u64,
    /// MIME type.
    pub client_type: String,
    /// 0–100.
    pub progress: f64,
    /// `pending`, `uploading`, `success`, `error` or `cancelled`.
    pub status: String,
    /// Errors for this entry.
    pub errors: Vec<UploadError>,
}

/// The state of one declared upload of one store.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UploadHandle {
    /// Configuration from the last `config` op.
    pub config: UploadConfig,
    /// Entries in arrival order.
    pub entries: Vec<UploadEntry>,
    /// Handle-level errors.
    pub errors: Vec<UploadError>,
}

impl UploadHandle {
    /// Rounded mean progress of the entries (0 without entries).
    pub fn progress(&self) -> u64 {
        if self.entries.is_empty() {
            return 0;
        }
        let total: f64 = self.entries.iter().map(|entry| entry.progress).sum();
        // Progress is within 0..=100, so the cast cannot truncate meaningfully.
        (total / self.entries.len() as f64).round().max(0.0) as u64
    }

    fn entry_mut(&mut self, entry_ref: &str) -> Option<&mut UploadEntry> {
        self.entries.iter_mut().find(|entry| &*entry.entry_ref == entry_ref)
    }

    /// Applies one op; returns true if the handle changed.
    fn apply(&mut self, op: &UploadOpKind) -> bool {
        match op {
            UploadOpKind::Config(config) => {
                self.config = config.clone();
                true
            }
            UploadOpKind::Add(entry) => {
                match self.entry_mut(&entry.entry_ref) {
                    Some(existing) => {
                        existing.progress = entry.progress;
                        existing.status = entry.status.clone();
                        existing.errors = entry.errors.clone();
                    }
                    None => self.entries.push(entry.clone()),
                }
                true
            }
            UploadOpKind::Progress { entry_ref, progress } => self.entry_mut(entry_ref).is_some_and(|entry| {
                entry.progress = *progress;
                entry.status = if *progress >= 100.0 { "success" } else { "uploading" }.to_owned();
                true
            }),
            UploadOpKind::Complete { entry_ref } => self.entry_mut(entry_ref).is_some_and(|entry| {
                entry.progress = 100.0;
                entry.status = "success".to_owned();
                true
            }),
            UploadOpKind::Error { entry_ref: Some(entry_ref), error } => self.entry_mut(entry_ref).is_some_and(|entry| {
                entry.status = "error".to_owned();
                entry.errors.push(error.clone());
                true
            }),
            UploadOpKind::Error { entry_ref: None, error } => {
                self.errors.push(error.clone());
                true
            }
            UploadOpKind::Cancel { entry_ref } => {
                let before = self.entries.len();
                self.entries.retain(|entry| entry.entry_ref != *entry_ref);
                before != self.entries.len()
            }
            UploadOpKind::Reset => {
                self.entries.clear();
                self.errors.clear();
                true
            }
        }
    }
}

/// One upload delta.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadOp {
    /// Declaring store.
    pub store_id: StoreId,
    /// Upload name.
    pub upload: Rc<str>,
    /// What changed.
    pub kind: UploadOpKind,
}

/// The kinds of upload op.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadOpKind {
    /// Replace the configuration.
    Config(UploadConfig),
    /// Create or update an entry.
    Add(UploadEntry),
    /// Entry progress.
    Progress {
        /// Entry ref.
        entry_ref: Rc<str>,
        /// 0–100.
        progress: f64,
    },
    /// Entry finished.
    Complete {
        /// Entry ref.
        entry_ref: Rc<str>,
    },
    /// An error for an entry (with ref) or the handle.
    Error {
        /// Entry ref, if any.
        entry_ref: Option<Rc<str>>,
        /// The error.
        error: UploadError,
    },
    /// Entry removed.
    Cancel {
        /// Entry ref.
        entry_ref: Rc<str>,
    },
    /// All entries and handle errors cleared.
    Reset,
}

/// Why an upload op is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid upload op: {0}")]
pub struct UploadOpError(pub &'static str);

fn text(node: &Node, key: &str) -> String {
    node.get(key).and_then(Node::as_str).unwrap_or_default().to_owned()
}

fn number(node: &Node, key: &str) -> f64 {
    match node.get(key) {
        Some(Node::Number(n)) => n.as_f64().unwrap_or_default(),
        _ => 0.0,
    }
}

fn whole(node: &Node, key: &str) -> u64 {
    match node.get(key) {
        Some(Node::Number(n)) => n.as_u64().unwrap_or_default(),
        _ => 0,
    }
}

fn parse_error(node: Option<&Node>) -> Result<UploadError, UploadOpError> {
    let node = node.ok_or(UploadOpError("missing error"))?;
    Ok(UploadError { code: text(node, "code"), message: text(node, "message") })
}

impl UploadOp {
    /// Parses a wire upload op.
    pub fn parse(node: &Node) -> Result<UploadOp, UploadOpError> {
        let store_id = node.get("store_id").and_then(StoreId::from_node).ok_or(UploadOpError("store_id must be an array of strings"))?;
        let upload: Rc<str> = node.get("upload").and_then(Node::as_str).ok_or(UploadOpError("upload must be a string"))?.into();
        let entry_ref = || -> Result<Rc<str>, UploadOpError> {
            Ok(node.get("ref").and_then(Node::as_str).ok_or(UploadOpError("ref must be a string"))?.into())
        };
        let kind = match node.get("op").and_then(Node::as_str) {
            Some("config") => {
                let config = node.get("config").ok_or(UploadOpError("missing config"))?;
                UploadOpKind::Config(UploadConfig {
                    accept: config.get("accept").cloned().unwrap_or_default(),
                    max_entries: whole(config, "max_entries"),
                    max_file_size: whole(config, "max_file_size"),
                    chunk_size: whole(config, "chunk_size"),
                })
            }
            Some("add") => {
                let entry = node.get("entry").ok_or(UploadOpError("missing entry"))?;
                let errors = entry
                    .get("errors")
                    .and_then(Node::as_array)
                    .map_or_else(Vec::new, |errors| errors.iter().filter_map(|error| parse_error(Some(error)).ok()).collect());
                UploadOpKind::Add(UploadEntry {
                    entry_ref: entry_ref()?,
                    client_name: text(entry, "client_name"),
                    client_size: whole(entry, "client_size"),
                    client_type: text(entry, "client_type"),
                    progress: number(entry, "progress"),
                    status: text(entry, "status"),
                    errors,
                })
            }
            Some("progress") => UploadOpKind::Progress { entry_ref: entry_ref()?, progress: number(node, "progress") },
            Some("complete") => UploadOpKind::Complete { entry_ref: entry_ref()? },
            Some("error") => UploadOpKind::Error { entry_ref: entry_ref().ok(), error: parse_error(node.get("error"))? },
            Some("cancel") => UploadOpKind::Cancel { entry_ref: entry_ref()? },
            Some("reset") => UploadOpKind::Reset,
            _ => return Err(UploadOpError("unknown upload op")),
        };
        Ok(UploadOp { store_id, upload, kind })
    }
}

/// Every upload handle of one root, persistent (cloning is O(1)).
#[derive(Debug, Clone, Default)]
pub struct Uploads {
    handles: imbl::OrdMap<(StoreKey, Rc<str>), UploadHandle>,
}

impl Uploads {
    /// Applies ops grouped per handle, in order; returns the handles that changed (owning store
    /// and upload name, once each, in first-change order).
    pub fn apply(&mut self, ops: &[UploadOp]) -> Vec<(StoreId, Rc<str>)> {
        let mut changed: Vec<(StoreId, Rc<str>)> = Vec::new();
        for op in ops {
            let owner = op.store_id.key();
            let handle = self.handles.entry((owner, op.upload.clone())).or_default();
            if handle.apply(&op.kind) && !changed.iter().any(|(id, name)| *id == op.store_id && *name == op.upload) {
                changed.push((op.store_id.clone(), op.upload.clone()));
            }
        }
        changed
    }

    /// The handle for (store, upload name), if any op has touched it.
    pub fn handle(&self, owner: &StoreKey, name: &str) -> Option<&UploadHandle> {
        self.handles.get(&(owner.clone(), Rc::from(name)))
    }

    /// Drops the handles of a store that left the index; returns their names.
    pub fn prune(&mut self, owner: &StoreKey) -> Vec<Rc<str>> {
        // A store's handles are adjacent in key order, from the empty name on.
        let first = (owner.clone(), Rc::from(""));
        let owned: Vec<(StoreKey, Rc<str>)> =
            self.handles.range(first..).map(|(key, _)| key).take_while(|(key, _)| key == owner).cloned().collect();
        owned
            .into_iter()
            .map(|key| {
                self.handles.remove(&key);
                key.1
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(value: serde_json::Value) -> UploadOp {
        UploadOp::parse(&Node::from_json(&value)).unwrap()
    }

    fn add(entry_ref: &str) -> UploadOp {
        op(
            json!({"op":"add","upload":"avatar","store_id":[],"ref":entry_ref,"entry":{"ref":entry_ref,"client_name":"me.png","client_size":10,"client_type":"image/png","progress":0,"status":"pending","errors":[]}}),
        )
    }

    fn handle(uploads: &Uploads) -> &UploadHandle {
        uploads.handle(&StoreId::root().key(), "avatar").unwrap()
    }

    #[test]
    fn checklist_39_config_uses_camel_case_fields() {
        let mut uploads = Uploads::default();
        uploads.apply(&[op(json!({"op":"config","upload":"avatar","store_id":[],"config":{"accept":[".png"],"max_entries":2,"max_file_size":5000,"chunk_size":64}}))]);
        let config = serde_json::to_value(&handle(&uploads).config).unwrap();
        assert_eq!(config, json!({"accept":[".png"],"maxEntries":2,"maxFileSize":5000,"chunkSize":64}));
    }

    #[test]
    fn checklist_40_to_45_entry_lifecycle() {
        let mut uploads = Uploads::default();
        uploads.apply(&[add("u1")]);
        assert_eq!((handle(&uploads).entries[0].client_name.as_str(), handle(&uploads).entries[0].status.as_str()), ("me.png", "pending"));
        uploads.apply(&[op(json!({"op":"progress","upload":"avatar","store_id":[],"ref":"u1","progress":40}))]);
        assert_eq!((handle(&uploads).entries[0].progress, handle(&uploads).entries[0].status.as_str()), (40.0, "uploading"));
        uploads.apply(&[op(json!({"op":"complete","upload":"avatar","store_id":[],"ref":"u1"}))]);
        assert_eq!((handle(&uploads).entries[0].progress, handle(&uploads).entries[0].status.as_str()), (100.0, "success"));
        assert_eq!(handle(&uploads).progress(), 100);
        uploads.apply(&[
            add("u2"),
            op(json!({"op":"error","upload":"avatar","store_id":[],"ref":"u2","error":{"code":"too_large","message":"big"}})),
        ]);
        assert_eq!(handle(&uploads).entries[1].status, "error");
        assert_eq!(handle(&uploads).entries[1].errors[0].code, "too_large");
        uploads.apply(&[op(json!({"op":"cancel","upload":"avatar","store_id":[],"ref":"u1"}))]);
        assert_eq!(handle(&uploads).entries.len(), 1);
        uploads.apply(&[op(json!({"op":"error","upload":"avatar","store_id":[],"error":{"code":"x","message":"y"}}))]);
        assert_eq!(handle(&uploads).errors.len(), 1);
        uploads.apply(&[op(json!({"op":"reset","upload":"avatar","store_id":[]}))]);
        assert!(handle(&uploads).entries.is_empty() && handle(&uploads).errors.is_empty());
    }

    #[test]
    fn checklist_47_48_49_handles_are_per_store_and_name_changed_once_and_pruned() {
        let mut uploads = Uploads::default();
        let changed = uploads.apply(&[add("u1"), add("u2"), op(json!({"op":"reset","upload":"doc","store_id":["child"]}))]);
        assert_eq!(
            changed,
            vec![(StoreId::root(), "avatar".into()), (StoreId::from(["child"]), "doc".into())],
            "one change per handle per batch"
        );
        assert!(uploads.handle(&StoreId::root().key(), "doc").is_none());
        let _ = uploads.prune(&StoreId::from(["child"]).key());
        assert!(uploads.handle(&StoreId::from(["child"]).key(), "doc").is_none());
        assert!(uploads.handle(&StoreId::root().key(), "avatar").is_some());
        assert!(uploads.apply(&[op(json!({"op":"progress","upload":"avatar","store_id":[],"ref":"nope","progress":5}))]).is_empty());
        // Every handle of the store goes, and only its own (neighbours in key order stay).
        let reset = |upload: &str, store: &str| op(json!({"op":"reset","upload":upload,"store_id":[store]}));
        uploads.apply(&[reset("a", "child"), reset("b", "child"), reset("a", "child2"), reset("a", "chil")]);
        let _ = uploads.prune(&StoreId::from(["child"]).key());
        let has = |store: &str, name: &str| uploads.handle(&StoreId::from([store]).key(), name).is_some();
        assert!(!has("child", "a") && !has("child", "b") && has("child2", "a") && has("chil", "a"));
    }

    #[test]
    fn malformed_upload_ops_are_rejected() {
        assert!(UploadOp::parse(&Node::from_json(&json!({"op":"warp","upload":"a","store_id":[]}))).is_err());
        assert!(UploadOp::parse(&Node::from_json(&json!({"op":"cancel","upload":"a","store_id":[]}))).is_err());
        assert!(UploadOp::parse(&Node::from_json(&json!({"op":"reset","store_id":[]}))).is_err());
    }
}
