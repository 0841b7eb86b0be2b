//! A page's upload entries and its queue of upload ops (PROTOCOL.md §3.2–§3.7, server side).
//!
//! Every state change queues the ops the clients need; the page's next render cycle drains the
//! queue into its envelope ([`PageUploads::drain`], see [`super::emission`]). The pieces that
//! change entries:
//!
//! | Caller | Change | Ops |
//! |---|---|---|
//! | preflight | entry added (`pending`, progress 0) | `add` |
//! | sub-channel chunk | `bytes`, progress, status (`uploading` / `success`) | `progress` (+ `complete` at 100) |
//! | sub-channel error / chunk timeout | status `error`, error appended | `error` |
//! | sub-channel other termination | file deleted, entry removed | `cancel` |
//! | `cancel_upload` | sub-channel crashed, file deleted, entry removed | `cancel` |
//! | `upload_progress` | progress, status (`uploading` / `success`) | `progress` (+ `complete` at exactly 100) |
//! | `upload_error` | status `error`, error appended | `error` |
//! | a store's reset (command) | every entry of the upload removed | `reset` |
//!
//! When an entry completes, the declaring store hears about it once
//! ([`RootStore::on_upload_complete`]), in the same cycle, so its state change rides the same
//! envelope as JSON patch ops. A cancelled entry is reported too ([`RootStore::on_upload_removed`]).
//! Dropping the page deletes its files and crashes its live sub-channels.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use super::context::UploadContext;
use super::emission::{self, Throttle};
use super::ops::{ErrorCode, OpKind, UploadError, UploadOp};
use super::spec::UploadSpec;
use super::storage;
use super::token::PageName;
use crate::channels::ChannelHandle;
use crate::channels::Effect;
use crate::channels::musubi::stores::RootStore;

/// How an entry's bytes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Over a `musubi_upload:<ref>` sub-channel.
    Channel,
    /// By a client-side uploader (here: `PUT /_uploads/<ref>`), reported with `upload_progress`.
    External,
}

/// An entry's status on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Accepted, no bytes yet.
    Pending,
    /// Some progress.
    Uploading,
    /// Complete.
    Success,
    /// Failed.
    Error,
}

impl Status {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Uploading => "uploading",
            Status::Success => "success",
            Status::Error => "error",
        }
    }
}

/// The sub-channel uploading an entry right now.
#[derive(Debug)]
pub struct LiveChannel {
    /// Tells this sub-channel from an earlier or later one of the same entry.
    pub id: u64,
    /// Where the page sends `Stop` (chunk timeout) or `Crash` (`cancel_upload`).
    pub handle: ChannelHandle,
    /// The chunk timeout's current deadline.
    pub deadline: Instant,
    /// Set once the sub-channel's end is accounted for (so its drop does not cancel the entry).
    pub finished: Arc<AtomicBool>,
}

impl LiveChannel {
    /// Ends the sub-channel from the page's side with `effect`; its drop then does nothing.
    fn end(self, effect: Effect) {
        self.finished.store(true, Ordering::SeqCst);
        self.handle.send(effect);
    }
}

/// One entry of one upload.
#[derive(Debug)]
pub struct Entry {
    /// The declaring store.
    pub store_id: Vec<String>,
    /// The upload.
    pub spec: &'static UploadSpec,
    /// The server's ref.
    pub entry_ref: String,
    /// The client's file name.
    pub client_name: String,
    /// The client's announced size.
    pub client_size: u64,
    /// The client's MIME type (may be empty).
    pub client_type: String,
    /// 0..=100.
    pub progress: u64,
    /// Status.
    pub status: Status,
    /// Errors so far.
    pub errors: Vec<UploadError>,
    /// How the bytes travel.
    pub mode: Mode,
    /// Bytes stored so far.
    pub bytes: u64,
    /// The file holding them, once there is one.
    pub file: Option<PathBuf>,
    /// The store was told of the completion.
    recorded: bool,
    live: Option<LiveChannel>,
}

impl Entry {
    /// A new `pending` entry.
    pub fn new(store_id: &[String], spec: &'static UploadSpec, entry_ref: String, client: (String, u64, String), mode: Mode) -> Self {
        let (client_name, client_size, client_type) = client;
        Entry {
            store_id: store_id.to_vec(),
            spec,
            entry_ref,
            client_name,
            client_size,
            client_type,
            progress: 0,
            status: Status::Pending,
            errors: Vec::new(),
            mode,
            bytes: 0,
            file: None,
            recorded: false,
            live: None,
        }
    }

    /// The `entry` object of an `add` op.
    pub fn to_wire(&self) -> Value {
        json!({
            "ref": self.entry_ref,
            "client_name": self.client_name,
            "client_size": self.client_size,
            "client_type": self.client_type,
            "progress": self.progress,
            "status": self.status.as_str(),
            "errors": self.errors.iter().map(UploadError::to_value).collect::<Vec<_>>(),
        })
    }

    fn op(&self, kind: OpKind) -> UploadOp {
        UploadOp::entry(&self.store_id, self.spec.name, &self.entry_ref, kind)
    }

    fn is(&self, store_id: &[String], upload: &str, entry_ref: &str) -> bool {
        self.store_id == store_id && self.spec.name == upload && self.entry_ref == entry_ref
    }

    fn live_is(&self, id: u64) -> bool {
        self.live.as_ref().is_some_and(|live| live.id == id)
    }
}

/// What a completed entry tells its store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// The upload.
    pub upload: &'static str,
    /// The entry's ref (its file is served at `/_uploads/<ref>`).
    pub entry_ref: String,
    /// The client's file name.
    pub name: String,
    /// Bytes stored.
    pub size: u64,
    /// The client's MIME type.
    pub client_type: String,
}

/// What a chunk-timeout watchdog learns when it wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// A chunk came meanwhile: sleep until this deadline.
    Rearmed(Instant),
    /// The sub-channel is done with (timed out now, or ended otherwise): stop watching.
    Done,
}

/// Why `upload_progress` / `upload_error` were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalRefusal {
    /// No entry with that ref in that upload.
    UnknownEntry,
    /// The entry is a channel-mode entry.
    WrongMode,
}

impl ExternalRefusal {
    /// The reply's reason.
    pub fn reason(self) -> &'static str {
        match self {
            ExternalRefusal::UnknownEntry => "unknown entry",
            ExternalRefusal::WrongMode => "wrong mode",
        }
    }
}

/// The uploads of one page.
#[derive(Debug)]
pub struct PageUploads {
    context: Arc<UploadContext>,
    page: PageName,
    entries: Vec<Entry>,
    queue: Vec<UploadOp>,
    throttle: Throttle,
}

impl PageUploads {
    /// No entries yet.
    pub fn new(context: Arc<UploadContext>, page: PageName) -> Self {
        PageUploads { context, page, entries: Vec::new(), queue: Vec::new(), throttle: Throttle::default() }
    }

    /// The server's upload context.
    pub fn context(&self) -> &Arc<UploadContext> {
        &self.context
    }

    /// The page these uploads belong to.
    pub fn page(&self) -> &PageName {
        &self.page
    }

    /// One `config` op per upload declared on `store`'s tree, root first (every initial envelope).
    pub fn config_ops(store: &dyn RootStore) -> Vec<Value> {
        let mut declared = store.declared_uploads();
        declared.sort_by_key(|(store_id, _)| store_id.len());
        declared.iter().map(|(store_id, spec)| UploadOp::upload(store_id, spec.name, OpKind::Config(spec.config())).to_value()).collect()
    }

    /// The upload ops queued since the last drain, as one envelope's `upload_ops`.
    pub fn drain(&mut self, now: Instant) -> Vec<Value> {
        emission::drain(std::mem::take(&mut self.queue), &mut self.throttle, now)
    }

    /// How many entries the upload holds.
    pub fn count(&self, store_id: &[String], upload: &str) -> usize {
        self.entries.iter().filter(|entry| entry.store_id == store_id && entry.spec.name == upload).count()
    }

    /// True if some entry has this ref.
    pub fn contains(&self, entry_ref: &str) -> bool {
        self.entries.iter().any(|entry| entry.entry_ref == entry_ref)
    }

    /// Adds an accepted entry and queues its `add` op.
    pub fn add(&mut self, entry: Entry) {
        self.queue.push(entry.op(OpKind::Add(entry.to_wire())));
        self.entries.push(entry);
    }

    /// The entries as `/_test/uploads` lists them.
    pub fn listing(&self) -> Vec<Value> {
        self.entries
            .iter()
            .map(|entry| {
                json!({
                    "upload": entry.spec.name,
                    "store_id": entry.store_id,
                    "ref": entry.entry_ref,
                    "mode": if entry.mode == Mode::Channel { "channel" } else { "external" },
                    "status": entry.status.as_str(),
                    "progress": entry.progress,
                    "bytes": entry.bytes,
                })
            })
            .collect()
    }

    fn find(&self, entry_ref: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.entry_ref == entry_ref)
    }

    fn find_mut(&mut self, entry_ref: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|entry| entry.entry_ref == entry_ref)
    }

    /// Removes the entry at `index`: its sub-channel (if any) is crashed when `kill`, its file
    /// deleted, its throttle window forgotten.
    fn take(&mut self, index: usize, kill: bool) -> Option<Entry> {
        if index >= self.entries.len() {
            return None;
        }
        let mut entry = self.entries.remove(index);
        if let Some(live) = entry.live.take()
            && kill
        {
            live.end(Effect::Crash(format!("upload {} cancelled", entry.entry_ref)));
        }
        if let Some(file) = &entry.file {
            storage::remove(file);
        }
        self.throttle.forget(&entry.store_id, entry.spec.name, &entry.entry_ref);
        Some(entry)
    }

    /// Tells the store once that `entry` completed (channel: all bytes; external: 100 with a file).
    fn record(store: &mut dyn RootStore, entry: &mut Entry) {
        if entry.recorded || entry.file.as_ref().is_none_or(|file| !file.is_file()) {
            return;
        }
        entry.recorded = true;
        let file = UploadedFile {
            upload: entry.spec.name,
            entry_ref: entry.entry_ref.clone(),
            name: entry.client_name.clone(),
            size: entry.bytes,
            client_type: entry.client_type.clone(),
        };
        store.on_upload_complete(&entry.store_id, &file);
    }

    // ---- channel mode ----------------------------------------------------------------------

    /// A sub-channel joined for `entry_ref` with a token for `store_id`/`upload`: the entry must
    /// exist there, be a channel-mode entry still `pending` or `uploading`, and have no live
    /// sub-channel. On success the entry's file is `file` and `live` uploads it.
    pub fn attach(&mut self, store_id: &[String], upload: &str, entry_ref: &str, file: PathBuf, live: LiveChannel) -> bool {
        let Some(entry) = self.find_mut(entry_ref) else { return false };
        let joinable = entry.is(store_id, upload, entry_ref)
            && entry.mode == Mode::Channel
            && matches!(entry.status, Status::Pending | Status::Uploading)
            && entry.live.is_none();
        if joinable {
            entry.file = Some(file);
            entry.bytes = 0;
            entry.live = Some(live);
        }
        joinable
    }

    /// Undoes [`PageUploads::attach`] when the file could not be opened (the entry stays).
    pub fn detach(&mut self, entry_ref: &str, id: u64) {
        if let Some(entry) = self.find_mut(entry_ref).filter(|entry| entry.live_is(id)) {
            entry.live = None;
            entry.file = None;
        }
    }

    /// The sub-channel `id` stored `total` bytes so far; `complete` once they reach the client
    /// size. Updates the entry (PROTOCOL.md §3.4, "Server-side entry update per chunk"), queues
    /// `progress` (and `complete`), re-arms the watchdog to `deadline`. `false` if the entry is
    /// gone or no longer this sub-channel's.
    pub fn chunk_written(&mut self, store: &mut dyn RootStore, entry_ref: &str, id: u64, total: u64, deadline: Instant) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|entry| entry.entry_ref == entry_ref && entry.live_is(id)) else {
            return false;
        };
        let complete = total >= entry.client_size;
        entry.bytes = total;
        entry.progress = if complete { 100 } else { (total.saturating_mul(100) / entry.client_size.max(total).max(1)).min(100) };
        if complete || entry.progress >= 100 {
            entry.status = Status::Success;
        } else if entry.progress > 0 {
            entry.status = Status::Uploading;
        }
        let mut ops = vec![entry.op(OpKind::Progress(entry.progress))];
        if entry.progress == 100 {
            ops.push(entry.op(OpKind::Complete));
        }
        if complete {
            // The sub-channel stops itself right after its reply.
            entry.live = None;
            Self::record(store, entry);
        } else if let Some(live) = entry.live.as_mut() {
            live.deadline = deadline;
        }
        self.queue.extend(ops);
        true
    }

    /// The sub-channel `id` failed with `code` (it stops itself): status `error`, `error` op.
    pub fn channel_failed(&mut self, entry_ref: &str, id: u64, code: ErrorCode) {
        let Some(entry) = self.entries.iter_mut().find(|entry| entry.entry_ref == entry_ref && entry.live_is(id)) else { return };
        entry.live = None;
        Self::fail(&mut self.queue, entry, UploadError::new(code));
    }

    fn fail(queue: &mut Vec<UploadOp>, entry: &mut Entry, error: UploadError) {
        entry.status = Status::Error;
        entry.errors.push(error.clone());
        queue.push(entry.op(OpKind::Error(error)));
    }

    /// The watchdog of sub-channel `id` woke at `now`: if no chunk re-armed it, the entry gets
    /// `chunk_timeout` and the sub-channel is stopped (no reply).
    pub fn check_timeout(&mut self, entry_ref: &str, id: u64, now: Instant) -> Watch {
        let Some(entry) = self.entries.iter_mut().find(|entry| entry.entry_ref == entry_ref && entry.live_is(id)) else {
            return Watch::Done;
        };
        if let Some(live) = &entry.live
            && live.deadline > now
        {
            return Watch::Rearmed(live.deadline);
        }
        if let Some(live) = entry.live.take() {
            live.end(Effect::Stop);
        }
        Self::fail(&mut self.queue, entry, UploadError::new(ErrorCode::ChunkTimeout));
        Watch::Done
    }

    /// The sub-channel `id` ended some other way (leave, transport loss, crash, re-join): if it
    /// still owns the entry, the file is deleted, the entry removed and `cancel` queued.
    pub fn channel_ended(&mut self, store: &mut dyn RootStore, entry_ref: &str, id: u64) {
        let Some(index) = self.entries.iter().position(|entry| entry.entry_ref == entry_ref && entry.live_is(id)) else { return };
        self.remove_with_cancel(store, index, false);
    }

    fn remove_with_cancel(&mut self, store: &mut dyn RootStore, index: usize, kill: bool) {
        if let Some(entry) = self.take(index, kill) {
            self.queue.push(entry.op(OpKind::Cancel));
            store.on_upload_removed(&entry.store_id, entry.spec.name, &entry.entry_ref);
        }
    }

    // ---- client requests ----------------------------------------------------------------------

    /// `cancel_upload` (PROTOCOL.md §3.6): if the entry exists, its sub-channel is crashed, its
    /// file deleted, the entry removed and `cancel` queued; otherwise nothing happens.
    pub fn cancel(&mut self, store: &mut dyn RootStore, store_id: &[String], upload: &str, entry_ref: &str) {
        if let Some(index) = self.entries.iter().position(|entry| entry.is(store_id, upload, entry_ref)) {
            self.remove_with_cancel(store, index, true);
        }
    }

    /// Removes every entry of the upload (a store consumed them) and queues `reset`.
    pub fn reset(&mut self, store_id: &[String], upload: &str) {
        while let Some(index) = self.entries.iter().position(|entry| entry.store_id == store_id && entry.spec.name == upload) {
            self.take(index, true);
        }
        self.queue.push(UploadOp::upload(store_id, upload, OpKind::Reset));
    }

    /// `upload_progress` (PROTOCOL.md §3.5): `progress` is already clamped to 0..=100.
    pub fn client_progress(
        &mut self,
        store: &mut dyn RootStore,
        store_id: &[String],
        upload: &str,
        entry_ref: &str,
        progress: u64,
    ) -> Result<(), ExternalRefusal> {
        let entry = external_entry(&mut self.entries, store_id, upload, entry_ref)?;
        entry.progress = progress;
        entry.status = if progress >= 100 { Status::Success } else { Status::Uploading };
        self.queue.push(entry.op(OpKind::Progress(progress)));
        if progress == 100 {
            self.queue.push(entry.op(OpKind::Complete));
            Self::record(store, entry);
        }
        Ok(())
    }

    /// `upload_error` (PROTOCOL.md §3.5): always `external_failed`, with `message` if given.
    pub fn client_error(
        &mut self,
        store_id: &[String],
        upload: &str,
        entry_ref: &str,
        message: Option<&str>,
    ) -> Result<(), ExternalRefusal> {
        let mut error = UploadError::new(ErrorCode::ExternalFailed);
        if let Some(message) = message {
            message.clone_into(&mut error.message);
        }
        let entry = external_entry(&mut self.entries, store_id, upload, entry_ref)?;
        Self::fail(&mut self.queue, entry, error);
        Ok(())
    }

    // ---- HTTP ----------------------------------------------------------------------------------

    /// The largest body `PUT /_uploads/<ref>` may store for this external entry; `None` if there
    /// is no such external entry.
    pub fn external_limit(&self, entry_ref: &str) -> Option<u64> {
        self.find(entry_ref).filter(|entry| entry.mode == Mode::External).map(|entry| entry.spec.max_file_size)
    }

    /// `PUT /_uploads/<ref>` stored `size` bytes in `file`; `false` (and the file is deleted) if
    /// the external entry is gone meanwhile.
    pub fn external_stored(&mut self, entry_ref: &str, file: PathBuf, size: u64) -> bool {
        match self.find_mut(entry_ref).filter(|entry| entry.mode == Mode::External) {
            Some(entry) => {
                entry.bytes = size;
                entry.file = Some(file);
                true
            }
            None => {
                storage::remove(&file);
                false
            }
        }
    }

    /// The file and content type of a completed entry.
    pub fn completed_file(&self, entry_ref: &str) -> Option<(PathBuf, String)> {
        let entry = self.find(entry_ref).filter(|entry| entry.status == Status::Success)?;
        Some((entry.file.clone()?, entry.client_type.clone()))
    }
}

/// The external entry `entry_ref` of the upload.
fn external_entry<'a>(
    entries: &'a mut [Entry],
    store_id: &[String],
    upload: &str,
    entry_ref: &str,
) -> Result<&'a mut Entry, ExternalRefusal> {
    let entry = entries.iter_mut().find(|entry| entry.is(store_id, upload, entry_ref)).ok_or(ExternalRefusal::UnknownEntry)?;
    if entry.mode == Mode::External { Ok(entry) } else { Err(ExternalRefusal::WrongMode) }
}

impl Drop for PageUploads {
    fn drop(&mut self) {
        while !self.entries.is_empty() {
            self.take(0, true);
        }
    }
}
