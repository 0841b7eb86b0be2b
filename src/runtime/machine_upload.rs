//! Uploads for the [`Runtime`] (PROTOCOL.md §3.2–§3.8): `select` preflights files with
//! `allow_upload`, `start` sends each accepted entry over its own `musubi_upload:<ref>`
//! sub-channel as binary `chunk` pushes (a window of them in flight) or hands it to a registered
//! external uploader, `cancel` and `reset` give entries up. Every request settles exactly once;
//! every entry ends `Done`, failed with a typed error, or removed — a dropped transport, a refused
//! join, an unanswered chunk or a file that changed under it end the entry with a clear error, and
//! `start` then preflights it afresh.
//!
//! The driver holds the files: the runtime names them ([`FileId`]), asks for slices
//! ([`RuntimeEvent::ReadChunk`], answered by [`Runtime::upload_read`]), starts external uploaders
//! ([`RuntimeEvent::StartExternal`], reported back through [`Runtime::external_progress`] and
//! [`Runtime::external_finished`]) and says when a file is no longer needed
//! ([`RuntimeEvent::ReleaseFile`]).
//!
//! This module keeps the handles (their requests, notifications and lifecycle); `preflight` the
//! `allow_upload` exchange; `send` one entry's transfer.

use serde_json::Map;

use super::*;
use crate::phoenix::ErrorCause;
use crate::phoenix::frame;
use crate::runtime::error::extract_code;
use crate::runtime::upload::{UploadConfig, UploadError};
use crate::runtime::upload_transfer::{
    self, ChunkWindow, EntryMode, EntryView, ExternalOutcome, JobId, LocalEntry, Phase, ReadId, SelectedFile, Transfer, UploadStatus,
    UploadView, server_view,
};

/// The topic prefix of upload sub-channels.
pub const UPLOAD_TOPIC_PREFIX: &str = "musubi_upload:";

/// Names one upload handle: a declared upload of one store of one mounted root.
///
/// ```
/// use musubi_wasm::runtime::{StoreId, UploadTarget};
/// let target = UploadTarget::new("musubi:connection", "profile", StoreId::root(), "avatar");
/// assert_eq!(&*target.name, "avatar");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadTarget {
    /// Connection topic.
    pub topic: Rc<str>,
    /// Root id.
    pub root_id: Rc<str>,
    /// The store that declares the upload.
    pub store_id: StoreId,
    /// The upload's name.
    pub name: Rc<str>,
}

impl UploadTarget {
    /// The handle `name` of store `store_id` of root `root_id` on `topic`.
    pub fn new(topic: &str, root_id: &str, store_id: StoreId, name: &str) -> Self {
        UploadTarget { topic: topic.into(), root_id: root_id.into(), store_id, name: name.into() }
    }
}

/// One entry of one handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryAddr {
    target: UploadTarget,
    client_ref: Rc<str>,
}

/// Something that works for one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Link {
    Channel(ChannelId),
    Read(ReadId),
    Job(JobId),
}

/// The runtime's upload bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct UploadBook {
    transfers: BTreeMap<UploadTarget, Transfer>,
    /// Which entry each sub-channel, read and uploader call is for.
    links: HashMap<Link, EntryAddr>,
    /// Cancel requests → replies still awaited.
    cancels: HashMap<RequestId, usize>,
    next_id: u64,
    /// Chunks in flight per entry.
    pub(crate) window: usize,
    /// Handles changed during the current input, notified once each when it ends.
    dirty: Vec<UploadTarget>,
    /// Handles whose entries only moved on (bytes acknowledged): the handle is notified, the
    /// store is not.
    progressed: Vec<UploadTarget>,
}

impl EntryAddr {
    pub(crate) fn topic(&self) -> &Rc<str> {
        &self.target.topic
    }
}

impl Preflight {
    pub(crate) fn topic(&self) -> &Rc<str> {
        &self.target.topic
    }
}

impl UploadBook {
    pub(crate) fn new() -> Self {
        UploadBook { window: upload_transfer::DEFAULT_WINDOW, ..UploadBook::default() }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    fn entry_mut(&mut self, addr: &EntryAddr) -> Option<&mut LocalEntry> {
        self.transfers.get_mut(&addr.target)?.entry_mut(&addr.client_ref)
    }
}

/// What a preflight was for.
#[derive(Debug, Clone)]
pub(crate) struct Preflight {
    target: UploadTarget,
    /// The `select` request (`None` for a restart inside `start`).
    request: Option<RequestId>,
    /// The files of a `select`, by client ref (empty for a restart: its entries are local).
    files: Vec<(Rc<str>, SelectedFile)>,
    /// The entries a restart preflights again.
    restart: Vec<Rc<str>>,
}

/// An error code and message for an entry or handle.
fn upload_error(code: &str, message: impl Into<String>) -> UploadError {
    UploadError { code: code.to_owned(), message: message.into() }
}

/// The default message of a server error code (PROTOCOL.md §3.2).
fn default_message(code: &str) -> &'static str {
    match code {
        "too_large" => "file exceeds the maximum size",
        "too_many_files" => "too many files selected",
        "not_accepted" => "file type is not accepted",
        "chunk_timeout" => "upload timed out between chunks",
        "chunk_too_large" => "chunk size exceeded the configured limit",
        "external_failed" => "external upload failed",
        "preflight_rejected" => "upload was rejected",
        _ => "internal upload error",
    }
}

impl Runtime {
    // ---- application interface ----

    /// How many chunks each entry keeps in flight (1 = the reference's stop-and-wait; clamped to
    /// 1..=64). Applies to entries started afterwards.
    pub fn set_upload_window(&mut self, window: usize) {
        self.uploads.window = window.clamp(1, upload_transfer::MAX_WINDOW);
    }

    /// The view of an upload handle (`None` if the root is unknown).
    pub fn upload_view(&self, target: &UploadTarget) -> Option<UploadView> {
        let root = self.root(&target.topic, &target.root_id)?;
        let server = root.replica.uploads().handle(&target.store_id.key(), &target.name);
        Some(match self.uploads.transfers.get(target) {
            Some(transfer) => transfer.view(server),
            None => server.map(server_view).unwrap_or_default(),
        })
    }

    /// Bumped whenever the handle's view may have changed (cache views by it).
    pub fn upload_revision(&self, target: &UploadTarget) -> u64 {
        self.uploads.transfers.get(target).map_or(0, |transfer| transfer.revision)
    }

    /// Preflights `files` (`allow_upload`). Settles with the handle's entries (as JSON) once the
    /// server answered: accepted files become `pending` entries, refused ones handle errors.
    /// Settles at once with the current entries for an empty selection, and with
    /// [`SyncError::NotConnected`] when the root is not live.
    pub fn upload_select(&mut self, target: &UploadTarget, files: Vec<SelectedFile>, now: Millis) -> RequestId {
        let request = self.request_id();
        if files.is_empty() {
            let entries = self.upload_entries_json(target);
            self.settle(request, Ok(entries));
            return request;
        }
        if !self.upload_root_live(target) {
            for file in &files {
                self.emit(RuntimeEvent::ReleaseFile { file: file.file });
            }
            self.settle(request, Err(SyncError::NotConnected));
            return request;
        }
        let transfer = self.transfer(target);
        transfer.status = UploadStatus::Selecting;
        transfer.errors.clear();
        let files: Vec<(Rc<str>, SelectedFile)> = files.into_iter().map(|file| (transfer.client_ref(), file)).collect();
        let entries: Vec<Value> = files
            .iter()
            .map(|(client_ref, file)| json!({"client_ref": &**client_ref, "name": file.name, "size": file.size, "type": file.mime}))
            .collect();
        self.upload_changed(target);
        let preflight = Preflight { target: target.clone(), request: Some(request), files, restart: Vec::new() };
        self.push_preflight(preflight, entries, now);
        self.pump(now);
        request
    }

    /// Sends every `pending` entry (and preflights again the ones a dropped connection or an
    /// unanswered chunk ended). Settles (with `null`) when no entry runs any more; the handle's
    /// status then says how it went. [`SyncError::NotConnected`] when the root is not live.
    pub fn upload_start(&mut self, target: &UploadTarget, now: Millis) -> RequestId {
        let request = self.request_id();
        if !self.upload_root_live(target) {
            self.settle(request, Err(SyncError::NotConnected));
            return request;
        }
        let transfer = self.transfer(target);
        transfer.status = UploadStatus::Uploading;
        transfer.cancelled_in_run = false;
        transfer.start_waiters.push(request);
        let mut restart = Vec::new();
        let mut ready = Vec::new();
        for entry in transfer.entries.iter_mut() {
            match entry.phase {
                Phase::Failed { retry: true } => {
                    entry.phase = Phase::Preflight;
                    restart.push(entry.client_ref.clone());
                }
                Phase::Ready => ready.push(entry.client_ref.clone()),
                _ => {}
            }
        }
        if !restart.is_empty() {
            let entries: Vec<Value> = transfer
                .entries
                .iter()
                .filter(|entry| restart.contains(&entry.client_ref))
                .map(|entry| json!({"client_ref": &*entry.client_ref, "name": entry.file.name, "size": entry.file.size, "type": entry.file.mime}))
                .collect();
            let preflight = Preflight { target: target.clone(), request: None, files: Vec::new(), restart };
            self.push_preflight(preflight, entries, now);
        }
        for client_ref in ready {
            self.begin_entry(&EntryAddr { target: target.clone(), client_ref }, now);
        }
        self.upload_changed(target);
        self.finish_start_if_done(target);
        self.pump(now);
        request
    }

    /// Cancels one entry (by its server ref) or every entry of this client: an external
    /// uploader is aborted, a sub-channel left, and `cancel_upload` pushed. Settles (with `null`)
    /// when the server answered every cancel; the entries are gone from the view at once.
    pub fn upload_cancel(&mut self, target: &UploadTarget, entry_ref: Option<&str>, now: Millis) -> RequestId {
        let request = self.request_id();
        self.cancel_entries(target, entry_ref, request, now);
        self.pump(now);
        request
    }

    /// Cancels every entry, then clears entries and errors: the handle is `idle` again.
    pub fn upload_reset(&mut self, target: &UploadTarget, now: Millis) -> RequestId {
        let request = self.request_id();
        self.cancel_entries(target, None, request, now);
        if let Some(transfer) = self.uploads.transfers.get_mut(target) {
            transfer.errors.clear();
            transfer.status = UploadStatus::Idle;
            transfer.cancelled_in_run = false;
        }
        self.upload_changed(target);
        self.pump(now);
        request
    }

    // ---- internals ----

    fn transfer(&mut self, target: &UploadTarget) -> &mut Transfer {
        self.uploads.transfers.entry(target.clone()).or_default()
    }

    fn upload_root_live(&self, target: &UploadTarget) -> bool {
        let joined = self.connections.get(&target.topic).is_some_and(|connection| connection.joined);
        joined && self.root(&target.topic, &target.root_id).is_some_and(|root| root.status == RootStatus::Live)
    }

    fn upload_entries_json(&self, target: &UploadTarget) -> Value {
        let view = self.upload_view(target).unwrap_or_default();
        serde_json::to_value(&view.entries).unwrap_or(Value::Null)
    }

    /// Something of the handle changed: a new revision and new snapshots for its store and the
    /// stores above it now; one notification of the handle and the store when the input ends.
    pub(super) fn upload_changed(&mut self, target: &UploadTarget) {
        let transfer = self.transfer(target);
        transfer.revision = transfer.revision.wrapping_add(1);
        let mut released = Vec::new();
        for entry in transfer.entries.iter_mut().filter(|entry| entry.file_held && entry.is_final()) {
            entry.file_held = false;
            released.push(entry.file.file);
        }
        for file in released {
            self.emit(RuntimeEvent::ReleaseFile { file });
        }
        if let Some(root) = self.root_mut(&target.topic, &target.root_id) {
            root.replica.invalidate_upload_owner(&target.store_id);
        }
        if !self.uploads.dirty.contains(target) {
            self.uploads.dirty.push(target.clone());
        }
    }

    /// Only the bytes acknowledged changed: the handle's view is new, the store's snapshot is not
    /// (a chunk reply must not re-render the store's subscribers).
    fn upload_progressed(&mut self, target: &UploadTarget) {
        let transfer = self.transfer(target);
        transfer.revision = transfer.revision.wrapping_add(1);
        if !self.uploads.progressed.contains(target) && !self.uploads.dirty.contains(target) {
            self.uploads.progressed.push(target.clone());
        }
    }

    /// Notifies the handles the input changed (see [`Runtime::upload_changed`]), once each; the
    /// store too while its root exists.
    pub(super) fn flush_upload_changes(&mut self) {
        let mut progressed = std::mem::take(&mut self.uploads.progressed);
        progressed.retain(|target| !self.uploads.dirty.contains(target));
        for target in progressed {
            self.emit(RuntimeEvent::UploadChanged { target });
        }
        for target in std::mem::take(&mut self.uploads.dirty) {
            if self.root(&target.topic, &target.root_id).is_some() {
                let store = target.store_id.key();
                self.emit(RuntimeEvent::StoresChanged {
                    topic: target.topic.clone(),
                    root_id: target.root_id.clone(),
                    stores: vec![store],
                });
            }
            self.emit(RuntimeEvent::UploadChanged { target });
        }
    }

    /// An envelope's upload ops changed these handles: entries the server removed (cancelled,
    /// reset) go locally too — unless a client-side failure keeps them for a restart.
    pub(super) fn on_server_upload_changes(&mut self, topic: &Rc<str>, root_id: &Rc<str>, changed: Vec<(StoreId, Rc<str>)>, now: Millis) {
        for (store_id, name) in changed {
            let target = UploadTarget { topic: topic.clone(), root_id: root_id.clone(), store_id, name };
            let server_refs: Vec<Rc<str>> = self.upload_view_server_refs(&target).unwrap_or_default();
            let transfer = self.transfer(&target);
            // The envelope itself notified the store; only the handle is left to hear of it.
            transfer.revision = transfer.revision.wrapping_add(1);
            let mut gone = Vec::new();
            for entry in transfer.entries.iter_mut() {
                let present = server_refs.contains(&entry.entry_ref);
                if present {
                    entry.seen = true;
                } else if entry.seen && !matches!(entry.phase, Phase::Failed { retry: true } | Phase::Preflight) {
                    gone.push(entry.client_ref.clone());
                }
            }
            for client_ref in gone {
                self.forget_entry(&EntryAddr { target: target.clone(), client_ref }, now);
            }
            self.emit(RuntimeEvent::UploadChanged { target: target.clone() });
            self.finish_start_if_done(&target);
        }
    }

    fn upload_view_server_refs(&self, target: &UploadTarget) -> Option<Vec<Rc<str>>> {
        let handle = self.root(&target.topic, &target.root_id)?.replica.uploads().handle(&target.store_id.key(), &target.name)?;
        Some(handle.entries.iter().map(|entry| entry.entry_ref.clone()).collect())
    }

    /// Pushes `event` for `target` with `body` plus the handle's `store_id` and `name` (and the
    /// root id on the connection channel).
    fn wire_upload_push(
        &mut self,
        target: &UploadTarget,
        event: &str,
        mut body: Map<String, Value>,
        now: Millis,
    ) -> Result<PushId, PushError> {
        body.insert("store_id".into(), target.store_id.to_json());
        body.insert("name".into(), Value::String(target.name.to_string()));
        self.wire_root_push(&target.topic, &target.root_id, event, body, now)
    }

    fn push_upload_notice(&mut self, target: &UploadTarget, event: &str, entry_ref: &str, fields: Value, now: Millis) {
        let mut body = Map::new();
        body.insert("ref".into(), Value::String(entry_ref.to_owned()));
        if let Value::Object(fields) = fields {
            body.extend(fields);
        }
        if let Ok(push) = self.wire_upload_push(target, event, body, now) {
            self.pushes.insert(push, Purpose::UploadNotice { topic: target.topic.clone() });
        }
    }

    /// Removes an entry for good: uploader aborted, channel left, file released.
    fn forget_entry(&mut self, addr: &EntryAddr, now: Millis) {
        let Some(transfer) = self.uploads.transfers.get_mut(&addr.target) else { return };
        let Some(position) = transfer.entries.iter().position(|entry| entry.client_ref == addr.client_ref) else { return };
        let entry = transfer.entries.remove(position);
        if !transfer.retired.contains(&entry.entry_ref) {
            transfer.retired.push(entry.entry_ref.clone());
        }
        if let Some(job) = entry.job {
            self.uploads.links.remove(&Link::Job(job));
            self.emit(RuntimeEvent::AbortExternal { job });
        }
        if let Some(channel) = entry.channel {
            self.release_channel(channel, now);
        }
        self.uploads.links.retain(|link, read_addr| !matches!(link, Link::Read(_)) || read_addr != addr);
        if entry.file_held {
            self.emit(RuntimeEvent::ReleaseFile { file: entry.file.file });
        }
    }

    /// `cancel(ref?)`: entries leave the view at once; `cancel_upload` is pushed for each and
    /// `request` settles when every one is answered (at once without any, or without a channel).
    fn cancel_entries(&mut self, target: &UploadTarget, entry_ref: Option<&str>, request: RequestId, now: Millis) {
        let live = self.upload_root_live(target);
        let chosen: Vec<(Rc<str>, Rc<str>)> = self
            .uploads
            .transfers
            .get(target)
            .map(|transfer| {
                transfer
                    .entries
                    .iter()
                    .filter(|entry| entry_ref.is_none_or(|wanted| *entry.entry_ref == *wanted))
                    .map(|entry| (entry.client_ref.clone(), entry.entry_ref.clone()))
                    .collect()
            })
            .unwrap_or_default();
        // A ref only the server knows (another tab's entry) is cancelled on the server too.
        let mut refs: Vec<Rc<str>> = chosen.iter().map(|(_, entry_ref)| entry_ref.clone()).collect();
        if let (Some(wanted), true) = (entry_ref, chosen.is_empty()) {
            refs.push(wanted.into());
        }
        let was_running = self.uploads.transfers.get(target).is_some_and(Transfer::running);
        for (client_ref, _) in chosen {
            self.forget_entry(&EntryAddr { target: target.clone(), client_ref }, now);
        }
        let mut awaited = 0;
        if live {
            for entry_ref in refs {
                let mut body = Map::new();
                body.insert("ref".into(), Value::String(entry_ref.to_string()));
                if let Ok(push) = self.wire_upload_push(target, "cancel_upload", body, now) {
                    self.pushes.insert(push, Purpose::CancelUpload { topic: target.topic.clone(), request });
                    awaited += 1;
                }
            }
        }
        if let Some(transfer) = self.uploads.transfers.get_mut(target) {
            if was_running {
                transfer.cancelled_in_run = true;
            }
            if transfer.entries.is_empty() && matches!(transfer.status, UploadStatus::Selecting | UploadStatus::Uploading) {
                transfer.status = UploadStatus::Cancelled;
            }
        }
        if self.uploads.transfers.contains_key(target) {
            self.upload_changed(target);
            self.finish_start_if_done(target);
        }
        if awaited == 0 {
            self.settle(request, Ok(Value::Null));
        } else {
            self.uploads.cancels.insert(request, awaited);
        }
    }

    /// A `cancel_upload` was answered (or will not be).
    pub(super) fn on_cancel_answer(&mut self, request: RequestId) {
        let Some(remaining) = self.uploads.cancels.get_mut(&request) else { return };
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            self.uploads.cancels.remove(&request);
            self.settle(request, Ok(Value::Null));
        }
    }

    /// Settles the handle's `start` requests once no entry runs any more.
    fn finish_start_if_done(&mut self, target: &UploadTarget) {
        let server = self
            .connections
            .get(&target.topic)
            .and_then(|connection| connection.roots.get(&target.root_id))
            .and_then(|root| root.replica.uploads().handle(&target.store_id.key(), &target.name));
        let Some(transfer) = self.uploads.transfers.get_mut(target) else { return };
        if transfer.start_waiters.is_empty() || transfer.running() {
            return;
        }
        let status = transfer.finished_status(server);
        transfer.status = status;
        let waiters = std::mem::take(&mut transfer.start_waiters);
        for waiter in waiters {
            self.settle(waiter, Ok(Value::Null));
        }
        self.upload_changed(target);
    }

    /// A root went away (unmounted, forgotten, disconnected): its transfers end, pending
    /// `start`s fail with `error`, files are released, sub-channels left, uploaders aborted.
    pub(super) fn drop_root_uploads(&mut self, topic: &str, root_id: &str, error: &SyncError, now: Millis) {
        let targets: Vec<UploadTarget> =
            self.uploads.transfers.keys().filter(|target| &*target.topic == topic && &*target.root_id == root_id).cloned().collect();
        for target in targets {
            let Some(transfer) = self.uploads.transfers.remove(&target) else { continue };
            for entry in transfer.entries {
                if let Some(job) = entry.job {
                    self.uploads.links.remove(&Link::Job(job));
                    self.emit(RuntimeEvent::AbortExternal { job });
                }
                if let Some(channel) = entry.channel {
                    self.release_channel(channel, now);
                }
                if entry.file_held {
                    self.emit(RuntimeEvent::ReleaseFile { file: entry.file.file });
                }
            }
            self.uploads.links.retain(|link, addr| !matches!(link, Link::Read(_)) || addr.target != target);
            for waiter in transfer.start_waiters {
                self.settle(waiter, Err(error.clone()));
            }
            // Its view is empty now: whoever shows it hears so.
            if !self.uploads.dirty.contains(&target) {
                self.uploads.dirty.push(target);
            }
        }
    }
}

#[path = "machine_upload_preflight.rs"]
mod preflight;

#[path = "machine_upload_send.rs"]
mod send;
