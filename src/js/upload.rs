//! Upload handles for the JS layer (`store.upload(name)` in `src/js/npm/api.js`): numbered like
//! store handles and released with their mount, a frozen snapshot cached by the handle's
//! revision, and the external uploaders of `connect({uploaders})` called as JS async functions.

use std::cell::Cell;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use super::connection::{Listener, Live, RawConnection, busy, error_object, plain_error, rejected};
use super::convert::{describe, frozen_value, object};
use super::stats::{Counted, Kind};
use crate::browser::{ExternalUpload, SyncClient, UploadHandle};
use crate::runtime::SyncError;
use crate::runtime::upload_transfer::UploadView;

/// One upload handle the JS layer holds.
pub(super) struct Upload {
    /// The number of the store handle it belongs to.
    pub(super) store: u32,
    handle: UploadHandle,
    /// The last snapshot: the revision and the view it shows, and its frozen JS value.
    snapshot: Option<(u64, UploadView, JsValue)>,
    _counted: Counted,
}

impl Upload {
    /// The frozen snapshot: the identical object until the view changes.
    fn snapshot(&mut self) -> JsValue {
        let revision = self.handle.revision();
        if let Some((seen, _, value)) = &self.snapshot
            && *seen == revision
        {
            return value.clone();
        }
        let view = self.handle.view();
        // A new revision showing the same view keeps the object.
        if let Some((seen, previous, value)) = self.snapshot.as_mut()
            && *previous == view
        {
            *seen = revision;
            return value.clone();
        }
        let value = serde_json::to_value(&view).map_or(JsValue::NULL, |json| frozen_value(&json));
        self.snapshot = Some((revision, view, value.clone()));
        value
    }
}

#[wasm_bindgen]
impl RawConnection {
    /// The number of the upload handle `name` of a store (the same number for the same name).
    pub fn upload(&self, store: u32, name: String) -> Result<u32, JsValue> {
        let mut slot = self.live.try_borrow_mut().map_err(|_| busy())?;
        let live = slot.as_mut().ok_or_else(|| plain_error(&SyncError::Disconnected))?;
        let key = (store, Rc::<str>::from(name.as_str()));
        if let Some(number) = live.upload_numbers.get(&key) {
            return Ok(*number);
        }
        let handle = live.stores.get(&store).ok_or_else(|| plain_error(&SyncError::StoreUnmounted))?.handle.upload(&name);
        let number = live.number();
        live.uploads.insert(number, Upload { store, handle, snapshot: None, _counted: Counted::new(Kind::Upload) });
        live.upload_numbers.insert(key, number);
        Ok(number)
    }

    /// The handle's frozen snapshot `{status, entries, errors, progress, config}` (identical until
    /// it changes); `undefined` once released.
    pub fn upload_snapshot(&self, upload: u32) -> JsValue {
        let Ok(mut slot) = self.live.try_borrow_mut() else { return JsValue::UNDEFINED };
        slot.as_mut().and_then(|live| live.uploads.get_mut(&upload)).map_or(JsValue::UNDEFINED, Upload::snapshot)
    }

    /// Calls `listener` after every change of the handle; returns the listener's number (removed
    /// with `unsubscribe`).
    pub fn upload_subscribe(&self, upload: u32, listener: js_sys::Function) -> Result<u32, JsValue> {
        let handle = self.upload_handle(upload).ok_or_else(|| plain_error(&SyncError::StoreUnmounted))?;
        let subscription = handle.subscribe(move || {
            // The JS layer reports a listener's exception itself.
            let _ = listener.call0(&JsValue::NULL);
        });
        let mut slot = self.live.try_borrow_mut().map_err(|_| busy())?;
        let live = slot.as_mut().ok_or_else(|| plain_error(&SyncError::Disconnected))?;
        let number = live.number();
        live.listeners.insert(number, Listener { owner: upload, _subscription: subscription, _counted: Counted::new(Kind::Subscription) });
        Ok(number)
    }

    /// Preflights `files` (an array of `File`s or a `FileList`); resolves with the snapshot's
    /// entries once the server answered.
    pub fn upload_select(&self, upload: u32, files: JsValue) -> js_sys::Promise {
        let Some(files) = files_of(&files) else {
            let error = js_sys::TypeError::new("upload.select(): files must be an array of Files or a FileList");
            return js_sys::Promise::reject(&error.into());
        };
        let Some(handle) = self.upload_handle(upload) else { return self.released() };
        let live = self.live.clone();
        future_to_promise(async move {
            let entries = handle.select(files).await.map_err(|error| error_object(&error))?;
            let snapshot = live.try_borrow_mut().ok().and_then(|mut slot| slot.as_mut().and_then(|live| snapshot_of(live, upload)));
            let entries = match snapshot {
                Some(snapshot) => js_sys::Reflect::get(&snapshot, &"entries".into()).unwrap_or(JsValue::UNDEFINED),
                None => serde_json::to_value(&entries).map_or(JsValue::NULL, |json| frozen_value(&json)),
            };
            Ok(entries)
        })
    }

    /// Sends every pending entry (and resends those a dropped connection ended); resolves when
    /// none runs any more (the snapshot's `status` says how it went).
    pub fn upload_start(&self, upload: u32) -> js_sys::Promise {
        let Some(handle) = self.upload_handle(upload) else { return self.released() };
        future_to_promise(async move { handle.start().await.map(|()| JsValue::UNDEFINED).map_err(|error| error_object(&error)) })
    }

    /// Cancels one entry (by its `ref`) or, without one, every entry.
    pub fn upload_cancel(&self, upload: u32, entry_ref: Option<String>) -> js_sys::Promise {
        let Some(handle) = self.upload_handle(upload) else { return self.released() };
        future_to_promise(async move {
            handle.cancel(entry_ref.as_deref()).await.map(|()| JsValue::UNDEFINED).map_err(|error| error_object(&error))
        })
    }

    /// Cancels everything and clears the handle (`idle`).
    pub fn upload_reset(&self, upload: u32) -> js_sys::Promise {
        let Some(handle) = self.upload_handle(upload) else { return self.released() };
        future_to_promise(async move { handle.reset().await.map(|()| JsValue::UNDEFINED).map_err(|error| error_object(&error)) })
    }

    /// How many selected files the connection's uploads still hold (for leak checks).
    pub fn held_files(&self) -> u32 {
        self.client().map_or(0, |(client, _)| u32::try_from(client.held_files()).unwrap_or(u32::MAX))
    }
}

impl RawConnection {
    fn upload_handle(&self, upload: u32) -> Option<UploadHandle> {
        let slot = self.live.try_borrow().ok()?;
        slot.as_ref()?.uploads.get(&upload).map(|upload| upload.handle.clone())
    }

    /// The rejection of a call on a released handle.
    fn released(&self) -> js_sys::Promise {
        rejected(&if self.client().is_some() { SyncError::StoreUnmounted } else { SyncError::Disconnected })
    }
}

fn snapshot_of(live: &mut Live, upload: u32) -> Option<JsValue> {
    live.uploads.get_mut(&upload).map(Upload::snapshot)
}

/// The `File`s of an array of them or of a `FileList`; `None` for anything else.
fn files_of(files: &JsValue) -> Option<Vec<web_sys::File>> {
    if let Some(list) = files.dyn_ref::<web_sys::FileList>() {
        return Some((0..list.length()).filter_map(|index| list.item(index)).collect());
    }
    let array = files.dyn_ref::<js_sys::Array>()?;
    array.iter().map(|file| file.dyn_into::<web_sys::File>().ok()).collect()
}

/// Registers the JS async function `uploader` as the external uploader `name`: it is called with
/// `{entry, file, meta, onProgress, signal}`; its promise resolving means done, rejecting (or a
/// throw) failed with the rejection's message.
pub(super) fn register(client: &SyncClient, name: &str, uploader: js_sys::Function) {
    client.register_uploader(name, move |upload| {
        let uploader = uploader.clone();
        Box::pin(async move { call_uploader(&uploader, upload).await })
    });
}

async fn call_uploader(uploader: &js_sys::Function, upload: ExternalUpload) -> Result<(), String> {
    let progress = upload.progress_fn();
    // Reports after the call ended (a late `progress` event) are ignored; the JS function is
    // released by the garbage collector.
    let active = Rc::new(Cell::new(true));
    let reporting = active.clone();
    let on_progress = Closure::<dyn Fn(JsValue)>::new(move |percent: JsValue| {
        if let (true, Some(percent)) = (reporting.get(), percent.as_f64()) {
            progress(percent);
        }
    })
    .into_js_value();
    let entry = serde_json::to_value(&upload.entry).map_or(JsValue::NULL, |json| frozen_value(&json));
    let args = object(&[
        ("entry", entry),
        ("file", upload.file.clone().into()),
        ("meta", frozen_value(&upload.meta)),
        ("onProgress", on_progress),
        ("signal", upload.signal.clone().into()),
    ]);
    let outcome = match uploader.call1(&JsValue::NULL, &args) {
        Ok(returned) => JsFuture::from(js_sys::Promise::resolve(&returned)).await.map(|_| ()).map_err(|reason| describe(&reason)),
        Err(thrown) => Err(describe(&thrown)),
    };
    active.set(false);
    outcome
}
