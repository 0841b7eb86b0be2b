//! The client side of an upload handle (PROTOCOL.md §3.8): the files a `select` preflighted, each
//! entry's transfer state, the window of chunks in flight, and the view front doors show (the
//! server's entries from `upload_ops` merged with what only the client knows).
//!
//! The bytes never enter the runtime until they are sent: an entry asks the driver for slices
//! ([`ChunkRead`]) and the driver answers with the bytes, so a 50 MB file costs the window's
//! chunks of memory, not 50 MB.
//!
//! ```
//! use musubi_wasm::runtime::upload_transfer::ChunkWindow;
//! // A 150-byte file in 64-byte chunks, two in flight at a time.
//! let mut window = ChunkWindow::new(150, 64, 2);
//! let reads = window.wanted(&mut { let mut n = 0; move || { n += 1; n } });
//! assert_eq!(reads.iter().map(|r| (r.offset, r.len)).collect::<Vec<_>>(), vec![(0, 64), (64, 64)]);
//! ```

use std::collections::VecDeque;
use std::rc::Rc;

use serde::Serialize;
use serde_json::Value;

use super::root::RequestId;
use super::tree::Node;
use super::upload::{UploadConfig, UploadEntry, UploadError, UploadHandle};
use crate::phoenix::{ChannelId, PushId};

/// The reference client's chunk size before any config is known (PROTOCOL.md §3.1).
pub const DEFAULT_CHUNK_SIZE: u64 = 64_000;

/// The largest chunk the client sends whatever the server's config says (a hostile
/// `chunk_size` cannot make it hold a whole file in memory).
pub const MAX_CHUNK_SIZE: u64 = 4 * 1024 * 1024;

/// Chunks in flight per entry by default (1 is the reference's stop-and-wait).
pub const DEFAULT_WINDOW: usize = 4;

/// The largest window accepted.
pub const MAX_WINDOW: usize = 64;

/// A file the driver holds; the runtime only ever names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// One read the runtime asks the driver for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReadId(pub u64);

/// One external uploader call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

/// What the driver tells the runtime about a selected file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedFile {
    /// The driver's name for the file (it reads slices of it later).
    pub file: FileId,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type (may be empty).
    pub mime: String,
}

/// A slice of a file to read: `[offset, offset + len)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRead {
    /// Pass back with the bytes.
    pub read: ReadId,
    /// Byte offset.
    pub offset: u64,
    /// Byte count.
    pub len: u64,
}

/// How an external uploader call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalOutcome {
    /// The uploader resolved.
    Done,
    /// The uploader rejected (the text is sent as the `upload_error` message).
    Failed(String),
    /// No uploader is registered under this name.
    NoUploader(String),
}

/// The handle's own status (PROTOCOL.md §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    /// Nothing selected (or reset).
    #[default]
    Idle,
    /// Files selected or being preflighted.
    Selecting,
    /// A `start` is running.
    Uploading,
    /// The last `start` finished without errors.
    Success,
    /// The preflight or an entry failed.
    Error,
    /// Every entry of the last `start` was cancelled.
    Cancelled,
}

impl UploadStatus {
    /// The wire-style name (`"idle"`, `"uploading"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Idle => "idle",
            UploadStatus::Selecting => "selecting",
            UploadStatus::Uploading => "uploading",
            UploadStatus::Success => "success",
            UploadStatus::Error => "error",
            UploadStatus::Cancelled => "cancelled",
        }
    }
}

/// One entry as front doors show it.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
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
    /// The server's errors, then the client's (e.g. the connection dropped mid-way).
    pub errors: Vec<UploadError>,
    /// Bytes the server acknowledged (channel mode; 0 for external entries and other tabs').
    pub bytes_sent: u64,
}

/// One upload handle as front doors show it (PROTOCOL.md §3.8).
///
/// ```
/// use musubi_wasm::runtime::upload_transfer::{UploadStatus, UploadView};
/// let view = UploadView::default();
/// assert_eq!((view.status, view.progress, view.entries.len()), (UploadStatus::Idle, 0, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct UploadView {
    /// The handle's status.
    pub status: UploadStatus,
    /// Entries: this client's in selection order, then any others the server reports.
    pub entries: Vec<EntryView>,
    /// Handle-level errors (preflight refusals, a missing uploader).
    pub errors: Vec<UploadError>,
    /// Rounded mean progress of the entries (0 without entries).
    pub progress: u64,
    /// The upload's configuration (server's, else the reference defaults).
    pub config: UploadConfig,
}

/// How an accepted entry is transferred.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EntryMode {
    /// Over a `musubi_upload:<ref>` sub-channel; the token is consumed by the first attempt.
    Channel { token: Option<String> },
    /// By a registered uploader.
    External { uploader: String, meta: Value },
}

/// Where an entry's transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepted by the preflight; waits for `start`.
    Ready,
    /// Its fresh preflight (a restart) is in flight.
    Preflight,
    /// The sub-channel join is in flight.
    Joining,
    /// Chunks are flowing.
    Sending,
    /// The external uploader runs.
    External,
    /// Every byte arrived (or the uploader resolved).
    Done,
    /// It failed; `retry`: a later `start` preflights it again.
    Failed { retry: bool },
}

impl Phase {
    /// True while the entry keeps a `start` from finishing.
    pub(crate) fn is_running(self) -> bool {
        matches!(self, Phase::Preflight | Phase::Joining | Phase::Sending | Phase::External)
    }
}

/// One file this client preflighted.
#[derive(Debug, Clone)]
pub(crate) struct LocalEntry {
    /// This client's ref for the file (unique per handle).
    pub(crate) client_ref: Rc<str>,
    /// The server's ref (replaced by a restart's fresh preflight).
    pub(crate) entry_ref: Rc<str>,
    pub(crate) file: SelectedFile,
    pub(crate) mode: EntryMode,
    pub(crate) phase: Phase,
    /// Errors only the client knows (a dropped connection, an unanswered chunk).
    pub(crate) errors: Vec<UploadError>,
    pub(crate) channel: Option<ChannelId>,
    pub(crate) job: Option<JobId>,
    pub(crate) window: Option<ChunkWindow>,
    /// The last progress pushed for an external entry.
    pub(crate) reported: Option<u64>,
    /// True once the server's upload ops reported the entry (its removal there then removes it
    /// here).
    pub(crate) seen: bool,
    /// True until the runtime told the driver it no longer needs the file (once the entry is
    /// done, failed for good, or gone).
    pub(crate) file_held: bool,
}

impl LocalEntry {
    /// A file the preflight accepted as `entry_ref`, ready to be started.
    pub(crate) fn accepted(client_ref: Rc<str>, entry_ref: Rc<str>, file: SelectedFile, mode: EntryMode) -> Self {
        LocalEntry {
            client_ref,
            entry_ref,
            file,
            mode,
            phase: Phase::Ready,
            errors: Vec::new(),
            channel: None,
            job: None,
            window: None,
            reported: None,
            seen: false,
            file_held: true,
        }
    }

    /// Records a client-side failure.
    pub(crate) fn fail(&mut self, code: &str, message: impl Into<String>, retry: bool) {
        self.errors.push(UploadError { code: code.to_owned(), message: message.into() });
        self.phase = Phase::Failed { retry };
        self.window = None;
    }

    /// True once nothing can send the file again.
    pub(crate) fn is_final(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed { retry: false })
    }

    /// The acknowledged share of the file in whole percent (the server's own formula), so the
    /// progress moves with every reply rather than with the server's 10-per-second ops.
    fn sent_percent(&self) -> f64 {
        let sent = self.bytes_sent();
        if self.file.size == 0 || sent == 0 {
            return 0.0;
        }
        // Below 2^53 for any real file; the quotient is within 0..=100.
        (sent.saturating_mul(100) / self.file.size).min(100) as f64
    }

    /// Bytes the server acknowledged.
    fn bytes_sent(&self) -> u64 {
        match (&self.window, self.phase) {
            (Some(window), _) => window.acked(),
            (None, Phase::Done) if matches!(self.mode, EntryMode::Channel { .. }) => self.file.size,
            _ => 0,
        }
    }
}

/// One handle's client-side state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Transfer {
    pub(crate) status: UploadStatus,
    pub(crate) errors: Vec<UploadError>,
    pub(crate) entries: Vec<LocalEntry>,
    /// The config of the last preflight reply.
    pub(crate) config: Option<UploadConfig>,
    /// Server refs this client gave up (cancelled, restarted): hidden from the view.
    pub(crate) retired: Vec<Rc<str>>,
    pub(crate) next_client_ref: u64,
    /// `start` requests settled when no entry runs any more.
    pub(crate) start_waiters: Vec<RequestId>,
    /// Entries cancelled while a `start` ran.
    pub(crate) cancelled_in_run: bool,
    /// Bumped at every change (server ops included), so front doors cache views by it.
    pub(crate) revision: u64,
}

impl Transfer {
    /// A fresh client ref.
    pub(crate) fn client_ref(&mut self) -> Rc<str> {
        let client_ref = self.next_client_ref.to_string();
        self.next_client_ref = self.next_client_ref.wrapping_add(1);
        client_ref.into()
    }

    pub(crate) fn entry_mut(&mut self, client_ref: &str) -> Option<&mut LocalEntry> {
        self.entries.iter_mut().find(|entry| &*entry.client_ref == client_ref)
    }

    /// True while any entry keeps `start` running.
    pub(crate) fn running(&self) -> bool {
        self.entries.iter().any(|entry| entry.phase.is_running())
    }

    /// The status a finished `start` leaves.
    pub(crate) fn finished_status(&self, server: Option<&UploadHandle>) -> UploadStatus {
        let view = self.view(server);
        let failed = self.entries.iter().any(|entry| matches!(entry.phase, Phase::Failed { .. }))
            || view.entries.iter().any(|entry| entry.status == "error")
            || !self.errors.is_empty();
        let done = self.entries.iter().any(|entry| entry.phase == Phase::Done);
        match (failed, done, self.cancelled_in_run) {
            (true, _, _) => UploadStatus::Error,
            (false, false, true) => UploadStatus::Cancelled,
            _ => UploadStatus::Success,
        }
    }

    /// The merged view: this client's entries (with the server's progress, status and errors
    /// once it reports them), then the server's other entries.
    pub(crate) fn view(&self, server: Option<&UploadHandle>) -> UploadView {
        let server_entries: &[UploadEntry] = server.map_or(&[], |handle| &handle.entries);
        let mut entries: Vec<EntryView> = Vec::with_capacity(self.entries.len() + server_entries.len());
        for local in self.entries.iter() {
            let reported = server_entries.iter().find(|entry| entry.entry_ref == local.entry_ref);
            let mut errors = reported.map_or_else(Vec::new, |entry| entry.errors.clone());
            errors.extend(local.errors.iter().cloned());
            let (progress, status) = match reported {
                _ if !local.errors.is_empty() => (reported.map_or(0.0, |entry| entry.progress), "error".to_owned()),
                // The server confirmed every byte (or the external completion); its `complete`
                // op may still be on the way.
                Some(entry) if local.phase == Phase::Done && entry.status != "error" => (100.0, "success".to_owned()),
                Some(entry) => (entry.progress.max(local.sent_percent()), entry.status.clone()),
                None if local.phase == Phase::Done => (100.0, "success".to_owned()),
                None => (local.sent_percent(), "pending".to_owned()),
            };
            entries.push(EntryView {
                entry_ref: local.entry_ref.clone(),
                client_name: local.file.name.clone(),
                client_size: local.file.size,
                client_type: local.file.mime.clone(),
                progress,
                status,
                errors,
                bytes_sent: local.bytes_sent(),
            });
        }
        let known = |entry_ref: &Rc<str>| {
            self.entries.iter().any(|local| local.entry_ref == *entry_ref) || self.retired.iter().any(|retired| retired == entry_ref)
        };
        for entry in server_entries.iter().filter(|entry| !known(&entry.entry_ref)) {
            entries.push(EntryView {
                entry_ref: entry.entry_ref.clone(),
                client_name: entry.client_name.clone(),
                client_size: entry.client_size,
                client_type: entry.client_type.clone(),
                progress: entry.progress,
                status: entry.status.clone(),
                errors: entry.errors.clone(),
                bytes_sent: 0,
            });
        }
        let mut errors = server.map_or_else(Vec::new, |handle| handle.errors.clone());
        errors.extend(self.errors.iter().cloned());
        let progress = if entries.is_empty() {
            0
        } else {
            let total: f64 = entries.iter().map(|entry| entry.progress.clamp(0.0, 100.0)).sum();
            // Within 0..=100, so the cast cannot truncate meaningfully.
            (total / entries.len() as f64).round() as u64
        };
        UploadView { status: self.status, entries, errors, progress, config: self.effective_config(server) }
    }

    /// The server's config if it sent one, else the last preflight's, else the defaults.
    pub(crate) fn effective_config(&self, server: Option<&UploadHandle>) -> UploadConfig {
        let sent = server.map(|handle| &handle.config).filter(|config| config.chunk_size > 0);
        sent.or(self.config.as_ref()).cloned().unwrap_or_else(default_config)
    }
}

/// The reference defaults before any config is known (PROTOCOL.md §3.1).
pub fn default_config() -> UploadConfig {
    UploadConfig { accept: Node::String("any".into()), max_entries: 1, max_file_size: 8_000_000, chunk_size: DEFAULT_CHUNK_SIZE }
}

/// The view of a handle only the server knows about (another tab's entries).
pub(crate) fn server_view(server: &UploadHandle) -> UploadView {
    Transfer::default().view(Some(server))
}

/// The chunks of one entry in flight: read from the driver, then pushed in offset order, at
/// most `limit` between the first read request and the server's reply. Phoenix handles a
/// channel's messages one by one in arrival order, and one WebSocket keeps their order, so the
/// server writes pipelined chunks exactly as if each had waited for the previous reply; replies
/// come back in the same order.
#[derive(Debug, Clone)]
pub struct ChunkWindow {
    size: u64,
    chunk: u64,
    limit: usize,
    next_offset: u64,
    /// A zero-byte file still sends one empty chunk (the server completes on reaching the size).
    empty_requested: bool,
    slots: VecDeque<Slot>,
    acked: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    offset: u64,
    len: u64,
    state: SlotState,
}

#[derive(Debug, Clone)]
enum SlotState {
    Reading(ReadId),
    Ready(Vec<u8>),
    Sent(PushId),
}

/// A read answered with the wrong number of bytes (the file changed since it was selected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMismatch {
    /// Bytes expected.
    pub expected: u64,
    /// Bytes received.
    pub received: u64,
}

impl ChunkWindow {
    /// A window over a file of `size` bytes in chunks of `chunk` bytes (clamped to
    /// 1..=[`MAX_CHUNK_SIZE`]), at most `limit` (clamped to 1..=[`MAX_WINDOW`]) in flight.
    pub fn new(size: u64, chunk: u64, limit: usize) -> Self {
        ChunkWindow {
            size,
            chunk: chunk.clamp(1, MAX_CHUNK_SIZE),
            limit: limit.clamp(1, MAX_WINDOW),
            next_offset: 0,
            empty_requested: false,
            slots: VecDeque::new(),
            acked: 0,
        }
    }

    /// The reads to request now (the window refilled), with ids from `next_id`.
    pub fn wanted(&mut self, next_id: &mut impl FnMut() -> u64) -> Vec<ChunkRead> {
        let mut reads = Vec::new();
        while self.slots.len() < self.limit {
            let len = if self.size == 0 {
                if self.empty_requested {
                    break;
                }
                self.empty_requested = true;
                0
            } else if self.next_offset < self.size {
                self.chunk.min(self.size - self.next_offset)
            } else {
                break;
            };
            let read = ReadId(next_id());
            reads.push(ChunkRead { read, offset: self.next_offset, len });
            self.slots.push_back(Slot { offset: self.next_offset, len, state: SlotState::Reading(read) });
            self.next_offset += len;
        }
        reads
    }

    /// The bytes of `read` arrived. `Ok(false)`: the read is not (or no longer) awaited.
    pub fn fill(&mut self, read: ReadId, bytes: Vec<u8>) -> Result<bool, ReadMismatch> {
        let Some(slot) = self.slots.iter_mut().find(|slot| matches!(slot.state, SlotState::Reading(id) if id == read)) else {
            return Ok(false);
        };
        let received = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if received != slot.len {
            return Err(ReadMismatch { expected: slot.len, received });
        }
        slot.state = SlotState::Ready(bytes);
        Ok(true)
    }

    /// Pushes every chunk that is read and next in offset order (`push` returns its push id).
    pub fn send_ready<E>(&mut self, mut push: impl FnMut(Vec<u8>) -> Result<PushId, E>) -> Result<(), E> {
        for slot in self.slots.iter_mut() {
            match &mut slot.state {
                SlotState::Sent(_) => continue,
                SlotState::Reading(_) => break,
                SlotState::Ready(bytes) => {
                    let bytes = std::mem::take(bytes);
                    slot.state = SlotState::Sent(push(bytes)?);
                }
            }
        }
        Ok(())
    }

    /// The server acknowledged `push`; `false` if it is not one of this window's.
    pub fn acknowledge(&mut self, push: PushId) -> bool {
        let Some(position) = self.slots.iter().position(|slot| matches!(slot.state, SlotState::Sent(id) if id == push)) else {
            return false;
        };
        if let Some(slot) = self.slots.remove(position) {
            self.acked = self.acked.saturating_add(slot.len);
        }
        true
    }

    /// True once every byte was acknowledged.
    pub fn is_done(&self) -> bool {
        self.slots.is_empty() && self.next_offset >= self.size && (self.size > 0 || self.empty_requested)
    }

    /// Bytes acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Chunks between their read request and their reply.
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    /// The offsets of the chunks sent and not yet acknowledged, in order.
    pub fn sent_offsets(&self) -> Vec<u64> {
        self.slots.iter().filter(|slot| matches!(slot.state, SlotState::Sent(_))).map(|slot| slot.offset).collect()
    }
}

#[cfg(test)]
#[path = "upload_transfer_tests.rs"]
mod tests;
