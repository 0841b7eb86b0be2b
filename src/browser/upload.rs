//! Uploads in the page: [`UploadHandle`] (a store's declared upload: select, start, cancel,
//! reset, its view and its subscribers) and the I/O the runtime asks for — the selected
//! `File`s it names, the slices it reads (`Blob.slice().arrayBuffer()`), the external uploaders
//! it calls and aborts. The runtime decides everything; this module only carries it out.
//!
//! ```no_run
//! # async fn demo(store: musubi_wasm::browser::StoreHandle, files: web_sys::FileList) -> Result<(), musubi_wasm::runtime::SyncError> {
//! let avatar = store.upload("avatar");
//! let _sub = avatar.subscribe(move || { /* re-read avatar.view() */ });
//! avatar.select_list(&files).await?;
//! avatar.start().await?;
//! let view = avatar.view();
//! assert!(view.entries.iter().all(|entry| entry.status == "success"));
//! # Ok(()) }
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use js_sys::Uint8Array;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{JsFuture, spawn_local};

use super::driver::Driver;
use super::listeners::Subscription;
use super::sync::SyncClient;
use crate::runtime::upload_transfer::{EntryView, ExternalOutcome, FileId, JobId, ReadId, SelectedFile, UploadView};
use crate::runtime::{Runtime, RuntimeEvent, SyncError, UploadTarget};

/// What an external uploader is called with (PROTOCOL.md §3.5).
pub struct ExternalUpload {
    /// The entry as the handle shows it (its `entry_ref` is the server's ref).
    pub entry: EntryView,
    /// The selected file.
    pub file: web_sys::File,
    /// The preflight's `meta` (e.g. a URL to `PUT` to).
    pub meta: Value,
    /// Aborted when the entry is cancelled or its root goes away.
    pub signal: web_sys::AbortSignal,
    progress: Rc<dyn Fn(f64)>,
}

impl ExternalUpload {
    /// Reports progress in percent (rounded and clamped to 0–100; repeats are not resent).
    pub fn progress(&self, percent: f64) {
        (self.progress)(percent);
    }

    /// A progress reporter to move into callbacks (e.g. an `XMLHttpRequest`'s `onprogress`).
    pub fn progress_fn(&self) -> Rc<dyn Fn(f64)> {
        self.progress.clone()
    }
}

/// The outcome an uploader's future resolves to (`Err`: its message goes to the server).
pub type UploaderFuture = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// A registered external uploader.
pub type Uploader = Rc<dyn Fn(ExternalUpload) -> UploaderFuture>;

/// How much of a file one `Blob.slice().arrayBuffer()` reads: the runtime's chunk reads are
/// answered from the last block read of their file. One slice per 64 KB chunk cost about a third
/// of a loopback upload's time in Chromium.
const READ_BLOCK: u64 = 1024 * 1024;

/// A chunk read the runtime asked for: which, from where, how many bytes.
type PendingRead = (ReadId, u64, u64);

/// The last block read of a file.
struct Block {
    start: u64,
    bytes: Rc<Vec<u8>>,
}

/// A selected file the runtime still needs, with its reads.
struct HeldFile {
    file: web_sys::File,
    /// The last block read of it.
    block: Option<Block>,
    /// Reads waiting for the block being read.
    waiting: Vec<PendingRead>,
}

/// The files, reads and uploader calls of one client.
#[derive(Default)]
pub(crate) struct UploadIo {
    files: RefCell<HashMap<FileId, HeldFile>>,
    next_file: Cell<u64>,
    uploaders: RefCell<HashMap<String, Uploader>>,
    aborts: RefCell<HashMap<JobId, web_sys::AbortController>>,
    driver: RefCell<Weak<Driver<Runtime>>>,
}

impl UploadIo {
    pub(crate) fn attach(&self, driver: &Rc<Driver<Runtime>>) {
        if let Ok(mut slot) = self.driver.try_borrow_mut() {
            *slot = Rc::downgrade(driver);
        }
    }

    pub(crate) fn register(&self, name: &str, uploader: Uploader) {
        if let Ok(mut uploaders) = self.uploaders.try_borrow_mut() {
            uploaders.insert(name.to_owned(), uploader);
        }
    }

    /// Keeps `files` for the runtime and names them.
    fn adopt(&self, files: Vec<web_sys::File>) -> Vec<SelectedFile> {
        let Ok(mut held) = self.files.try_borrow_mut() else { return Vec::new() };
        files
            .into_iter()
            .map(|file| {
                let id = FileId(self.next_file.get());
                self.next_file.set(self.next_file.get().wrapping_add(1));
                // A size above 2^53 cannot come from a real file; the cast saturates.
                let selected = SelectedFile { file: id, name: file.name(), size: file.size().max(0.0) as u64, mime: file.type_() };
                held.insert(id, HeldFile { file, block: None, waiting: Vec::new() });
                selected
            })
            .collect()
    }

    /// How many files the runtime still holds (for leak checks).
    pub(crate) fn held_files(&self) -> usize {
        self.files.try_borrow().map_or(0, |files| files.len())
    }

    fn driver(&self) -> Option<Rc<Driver<Runtime>>> {
        self.driver.try_borrow().ok().and_then(|driver| driver.upgrade())
    }

    /// Carries out what the runtime asks of the page.
    pub(crate) fn on_event(self: &Rc<Self>, event: &RuntimeEvent) {
        match event {
            RuntimeEvent::ReadChunk { read, file, offset, len } => self.read(*read, *file, *offset, *len),
            RuntimeEvent::StartExternal { job, file, uploader, meta, entry } => self.call(*job, *file, uploader, meta, entry),
            RuntimeEvent::AbortExternal { job } => {
                let controller = self.aborts.try_borrow_mut().ok().and_then(|mut aborts| aborts.remove(job));
                if let Some(controller) = controller {
                    controller.abort();
                }
            }
            RuntimeEvent::ReleaseFile { file } => {
                if let Ok(mut files) = self.files.try_borrow_mut() {
                    files.remove(file);
                }
            }
            _ => {}
        }
    }

    /// Answers a chunk read from the file's last block, or reads the block that holds it (reads
    /// arriving meanwhile wait for it).
    fn read(self: &Rc<Self>, read: ReadId, file: FileId, offset: u64, len: u64) {
        if let Some(bytes) = self.cached(file, offset, len) {
            self.answer(read, Ok(bytes));
            return;
        }
        let blob = {
            let Ok(mut files) = self.files.try_borrow_mut() else { return };
            // A released file's reads concern nobody any more (the runtime dropped them).
            let Some(held) = files.get_mut(&file) else { return };
            held.waiting.push((read, offset, len));
            if held.waiting.len() > 1 {
                return;
            }
            held.file.clone()
        };
        let end = offset.saturating_add(READ_BLOCK.max(len)).min(blob.size().max(0.0) as u64);
        // Offsets and lengths are below the file's size, itself below 2^53.
        let slice = blob.slice_with_f64_and_f64(offset as f64, end as f64).map_err(|error| format!("{error:?}"));
        let io = Rc::clone(self);
        spawn_local(async move {
            let bytes = match slice {
                Ok(slice) => JsFuture::from(slice.array_buffer()).await.map(|buffer| Uint8Array::new(&buffer).to_vec()).map_err(|error| {
                    error.dyn_ref::<js_sys::Error>().map_or_else(|| format!("{error:?}"), |error| String::from(error.message()))
                }),
                Err(reason) => Err(reason),
            };
            io.block_read(file, offset, bytes);
        });
    }

    /// A block arrived: the reads waiting for it are answered (ones beyond it read on).
    fn block_read(self: &Rc<Self>, file: FileId, start: u64, bytes: Result<Vec<u8>, String>) {
        let waiting =
            self.files.try_borrow_mut().ok().and_then(|mut files| files.get_mut(&file).map(|held| std::mem::take(&mut held.waiting)));
        let waiting = waiting.unwrap_or_default();
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(reason) => {
                for (read, _, _) in waiting {
                    self.answer(read, Err(reason.clone()));
                }
                return;
            }
        };
        let bytes = Rc::new(bytes);
        if let Ok(mut files) = self.files.try_borrow_mut()
            && let Some(held) = files.get_mut(&file)
        {
            held.block = Some(Block { start, bytes: Rc::clone(&bytes) });
        }
        for (read, offset, len) in waiting {
            if let Some(slice) = self.cached(file, offset, len) {
                self.answer(read, Ok(slice));
            } else if offset == start {
                // The block was read for this very read and still falls short: the file shrank
                // since it was selected. The short answer tells the runtime so.
                self.answer(read, Ok(bytes.to_vec()));
            } else {
                self.read(read, file, offset, len);
            }
        }
    }

    /// `[offset, offset + len)` of the file's last block, if it holds all of it.
    fn cached(&self, file: FileId, offset: u64, len: u64) -> Option<Vec<u8>> {
        let files = self.files.try_borrow().ok()?;
        let block = files.get(&file)?.block.as_ref()?;
        let from = usize::try_from(offset.checked_sub(block.start)?).ok()?;
        let to = from.checked_add(usize::try_from(len).ok()?)?;
        block.bytes.get(from..to).map(<[u8]>::to_vec)
    }

    fn answer(&self, read: ReadId, bytes: Result<Vec<u8>, String>) {
        if let Some(driver) = self.driver() {
            driver.with_core(|runtime, now| runtime.upload_read(read, bytes, now));
        }
    }

    fn call(&self, job: JobId, file: FileId, name: &str, meta: &Value, entry: &EntryView) {
        let Some(driver) = self.driver() else { return };
        let uploader = self.uploaders.try_borrow().ok().and_then(|uploaders| uploaders.get(name).cloned());
        let file = self.files.try_borrow().ok().and_then(|files| files.get(&file).map(|held| held.file.clone()));
        let controller = web_sys::AbortController::new().ok();
        let (Some(uploader), Some(file), Some(controller)) = (uploader, file, controller) else {
            let name = name.to_owned();
            spawn_local(async move {
                driver.with_core(|runtime, now| runtime.external_finished(job, ExternalOutcome::NoUploader(name), now));
            });
            return;
        };
        let weak = Rc::downgrade(&driver);
        let progress: Rc<dyn Fn(f64)> = Rc::new(move |percent| {
            if let Some(driver) = weak.upgrade() {
                driver.with_core(|runtime, now| runtime.external_progress(job, percent, now));
            }
        });
        let call = ExternalUpload { entry: entry.clone(), file, meta: meta.clone(), signal: controller.signal(), progress };
        if let Ok(mut aborts) = self.aborts.try_borrow_mut() {
            aborts.insert(job, controller);
        }
        let future = uploader(call);
        spawn_local(async move {
            let outcome = match future.await {
                Ok(()) => ExternalOutcome::Done,
                Err(message) => ExternalOutcome::Failed(message),
            };
            driver.with_core(|runtime, now| runtime.external_finished(job, outcome, now));
        });
    }
}

/// One declared upload of a store. Cheap to clone; every clone is the same handle.
#[derive(Clone)]
pub struct UploadHandle {
    pub(crate) client: SyncClient,
    pub(crate) target: UploadTarget,
}

impl UploadHandle {
    /// Which upload this is.
    pub fn target(&self) -> &UploadTarget {
        &self.target
    }

    /// The handle's state now (empty and `idle` once its root is gone).
    pub fn view(&self) -> UploadView {
        self.client.with_runtime_ref(|runtime| runtime.upload_view(&self.target)).flatten().unwrap_or_default()
    }

    /// Bumped whenever [`UploadHandle::view`] may have changed.
    pub fn revision(&self) -> u64 {
        self.client.with_runtime_ref(|runtime| runtime.upload_revision(&self.target)).unwrap_or(0)
    }

    /// Preflights these files; resolves with the handle's entries once the server answered
    /// (refused files are in the view's `errors`).
    pub async fn select(&self, files: Vec<web_sys::File>) -> Result<Vec<EntryView>, SyncError> {
        let selected = self.client.upload_io().adopt(files);
        let target = self.target.clone();
        self.client.request(|runtime, now| runtime.upload_select(&target, selected, now)).await?;
        Ok(self.view().entries)
    }

    /// [`UploadHandle::select`] for an `<input type=file>`'s `files`.
    pub async fn select_list(&self, files: &web_sys::FileList) -> Result<Vec<EntryView>, SyncError> {
        let files = (0..files.length()).filter_map(|index| files.item(index)).collect();
        self.select(files).await
    }

    /// Sends every pending entry (and resends the ones a dropped connection ended); resolves
    /// when none runs any more — the view's `status` says how it went.
    pub async fn start(&self) -> Result<(), SyncError> {
        let target = self.target.clone();
        self.client.request(|runtime, now| runtime.upload_start(&target, now)).await.map(|_| ())
    }

    /// Cancels one entry (by its `ref`) or all of them.
    pub async fn cancel(&self, entry_ref: Option<&str>) -> Result<(), SyncError> {
        let target = self.target.clone();
        self.client.request(|runtime, now| runtime.upload_cancel(&target, entry_ref, now)).await.map(|_| ())
    }

    /// Cancels everything and clears the handle (`idle`).
    pub async fn reset(&self) -> Result<(), SyncError> {
        let target = self.target.clone();
        self.client.request(|runtime, now| runtime.upload_reset(&target, now)).await.map(|_| ())
    }

    /// Calls `callback` once per change of the view (server ops and local steps alike).
    pub fn subscribe(&self, callback: impl Fn() + 'static) -> Subscription {
        self.client.subscribe_upload(&self.target, callback)
    }
}
