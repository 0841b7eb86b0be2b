//! [`use_upload`]: a store's declared upload (PROTOCOL.md §3.8) as signals, with `select`,
//! `start`, `cancel` and `reset`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_channel::oneshot;
use leptos::prelude::*;

use super::error::SyncError;
use super::hooks::RootHandle;
use crate::browser::{self, Subscription};
use crate::runtime::StoreId;
use crate::runtime::upload::UploadError;
use crate::runtime::upload_transfer::{EntryView, UploadStatus, UploadView};

/// One upload of a store, as signals, with its controls. `Copy`, so closures in views can capture
/// it.
///
/// The state is the runtime's [`UploadView`] (the same one the npm package shows), re-read only
/// when the handle's revision changed. Calls run in the background; a failed call (e.g.
/// [`SyncError::NotConnected`] before the root is mounted) sets [`UseUpload::error`] and goes to
/// `last_error`. Files the server refuses are no call failure: they are in
/// [`UseUpload::errors`] (e.g. code `not_accepted`, `too_large`).
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{UploadStatus, use_root, use_upload};
/// use musubi_wasm::runtime::StoreId;
/// let profile = use_root("Demo.ProfileStore", "profile", serde_json::json!({}));
/// let avatar = use_upload(&profile, StoreId::root(), "avatar");
/// let done = move || avatar.status.get() == UploadStatus::Success;
/// let names = move || avatar.entries.get().into_iter().map(|entry| entry.client_name).collect::<Vec<_>>();
/// avatar.cancel(None);
/// ```
#[derive(Clone, Copy)]
pub struct UseUpload {
    /// The whole view: status, entries, handle errors, progress, config (idle until the root is
    /// mounted).
    pub view: Signal<UploadView, LocalStorage>,
    /// The handle's status.
    pub status: Signal<UploadStatus>,
    /// The entries: this client's in selection order, then any others the server reports.
    pub entries: Signal<Vec<EntryView>, LocalStorage>,
    /// Mean progress of the entries, 0–100.
    pub progress: Signal<u64>,
    /// Handle-level errors (files the preflight refused, a missing uploader).
    pub errors: Signal<Vec<UploadError>>,
    /// True while a `start` is sending.
    pub is_uploading: Signal<bool>,
    /// The error of the latest failed call (cleared by a call that succeeds).
    pub error: Signal<Option<SyncError>>,
    root: RootHandle,
    shared: StoredValue<Rc<Shared>, LocalStorage>,
    subscription: StoredValue<Option<Subscription>, LocalStorage>,
    state: RwSignal<UploadView, LocalStorage>,
    failure: RwSignal<Option<SyncError>>,
}

/// What the hook's closures share.
struct Shared {
    store_id: StoreId,
    name: String,
    /// The browser handle, once the root is mounted.
    handle: RefCell<Option<browser::UploadHandle>>,
    /// The revision the view signal shows.
    revision: Cell<Option<u64>>,
    selecting: Selecting,
}

/// Orders a `start` after the `select`s still being preflighted, so `select(files); start()`
/// sends what was selected.
#[derive(Default)]
struct Selecting {
    in_flight: Cell<u32>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

/// One `select` in flight; dropping it ends it.
struct SelectGuard(Rc<Shared>);

impl SelectGuard {
    fn new(shared: Rc<Shared>) -> SelectGuard {
        let selecting = &shared.selecting;
        selecting.in_flight.set(selecting.in_flight.get().saturating_add(1));
        SelectGuard(shared)
    }
}

impl Drop for SelectGuard {
    fn drop(&mut self) {
        let selecting = &self.0.selecting;
        let left = selecting.in_flight.get().saturating_sub(1);
        selecting.in_flight.set(left);
        if left == 0 {
            let waiters = selecting.waiters.try_borrow_mut().map(|mut waiters| std::mem::take(&mut *waiters)).unwrap_or_default();
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
    }
}

impl Selecting {
    /// Resolves once no `select` is in flight (`None`: none is).
    fn settled(&self) -> Option<oneshot::Receiver<()>> {
        if self.in_flight.get() == 0 {
            return None;
        }
        let (sender, receiver) = oneshot::channel();
        self.waiters.try_borrow_mut().ok()?.push(sender);
        Some(receiver)
    }
}

impl UseUpload {
    /// Preflights the files of an `<input type="file">` (or a drop's `DataTransfer`). Accepted
    /// files become `pending` entries; refused ones go to [`UseUpload::errors`].
    pub fn select(&self, files: &web_sys::FileList) {
        self.select_files((0..files.length()).filter_map(|index| files.item(index)).collect());
    }

    /// [`UseUpload::select`] for files at hand.
    pub fn select_files(&self, files: Vec<web_sys::File>) {
        let Some((shared, handle)) = self.handle() else { return };
        let guard = SelectGuard::new(shared);
        let this = *self;
        leptos::task::spawn_local(async move {
            let result = handle.select(files).await.map(drop);
            drop(guard);
            this.settle(result);
        });
    }

    /// Sends every pending entry (after the `select`s still in flight); the status ends
    /// `success`, `error` or `cancelled`.
    pub fn start(&self) {
        let Some((shared, handle)) = self.handle() else { return };
        let selected = shared.selecting.settled();
        let this = *self;
        leptos::task::spawn_local(async move {
            if let Some(selected) = selected {
                let _ = selected.await;
            }
            this.settle(handle.start().await);
        });
    }

    /// Cancels one entry (by its `entry_ref`) or, with `None`, all of them.
    pub fn cancel(&self, entry_ref: Option<String>) {
        let Some((_, handle)) = self.handle() else { return };
        let this = *self;
        leptos::task::spawn_local(async move {
            this.settle(handle.cancel(entry_ref.as_deref()).await);
        });
    }

    /// Cancels everything and clears the handle (`idle`).
    pub fn reset(&self) {
        let Some((_, handle)) = self.handle() else { return };
        let this = *self;
        leptos::task::spawn_local(async move {
            this.settle(handle.reset().await);
        });
    }

    /// The browser handle, following it from now on; `None` (and [`SyncError::NotConnected`])
    /// before the root is mounted.
    fn handle(&self) -> Option<(Rc<Shared>, browser::UploadHandle)> {
        let shared = self.shared.try_get_value()?;
        match self.follow(&shared) {
            Some(handle) => Some((shared, handle)),
            None => {
                self.settle(Err(crate::runtime::SyncError::NotConnected));
                None
            }
        }
    }

    /// Creates the browser handle and subscribes to it once the root is mounted.
    fn follow(&self, shared: &Rc<Shared>) -> Option<browser::UploadHandle> {
        if let Some(handle) = shared.handle.try_borrow().ok()?.clone() {
            return Some(handle);
        }
        let handle = self.root.store(&shared.store_id)?.upload(&shared.name);
        let (watched, state) = (shared.clone(), self.state);
        let subscription = handle.subscribe(move || refresh(&watched, state, false));
        self.subscription.try_set_value(Some(subscription));
        *shared.handle.try_borrow_mut().ok()? = Some(handle.clone());
        refresh(shared, self.state, true);
        Some(handle)
    }

    fn settle(&self, result: Result<(), crate::runtime::SyncError>) {
        match result {
            Ok(()) => {
                self.failure.try_set(None);
            }
            Err(error) => {
                let error = SyncError::from_runtime(error, &self.root.id());
                self.failure.try_set(Some(error.clone()));
                self.root.context.report(error);
            }
        }
    }
}

/// Shows the handle's view if its revision moved (`force`: in any case, e.g. when the root's
/// status changed: a root that went away drops its transfers without a change notice).
fn refresh(shared: &Shared, state: RwSignal<UploadView, LocalStorage>, force: bool) {
    let Some(handle) = shared.handle.try_borrow().ok().and_then(|handle| handle.clone()) else { return };
    let revision = handle.revision();
    if !force && shared.revision.get() == Some(revision) {
        return;
    }
    shared.revision.set(Some(revision));
    let view = handle.view();
    if state.try_with_untracked(|shown| *shown != view).unwrap_or(false) {
        state.try_set(view);
    }
}

/// The upload `name` declared by store `store_id` of `root` (the store's
/// `{"__musubi_upload__": name}` field), for the current component: its state as signals, and
/// `select` / `start` / `cancel` / `reset`. The view is `idle` until the root is mounted and
/// follows the handle from then on, across reconnects and remounts; the subscription goes with
/// the component.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{use_root, use_upload};
/// use musubi_wasm::runtime::StoreId;
///
/// #[component]
/// fn AvatarPicker() -> impl IntoView {
///     let profile = use_root("Demo.ProfileStore", "profile", serde_json::json!({}));
///     let avatar = use_upload(&profile, StoreId::root(), "avatar");
///     let pick = move |event: leptos::ev::Event| {
///         if let Some(files) = event_target::<web_sys::HtmlInputElement>(&event).files() {
///             avatar.select(&files);
///             avatar.start(); // runs once the selection is preflighted
///         }
///     };
///     view! {
///         <input type="file" accept=".png,.jpg" on:change=pick/>
///         <progress max="100" value=move || avatar.progress.get()></progress>
///         <span>{move || avatar.status.get().as_str()}</span>
///         <ul>{move || avatar.errors.get().into_iter().map(|error| view! { <li>{error.message}</li> }).collect_view()}</ul>
///         <button on:click=move |_| avatar.cancel(None)>"Cancel"</button>
///         <button on:click=move |_| avatar.reset()>"Reset"</button>
///     }
/// }
/// ```
pub fn use_upload(root: &RootHandle, store_id: StoreId, name: &str) -> UseUpload {
    let state = RwSignal::new_local(UploadView::default());
    let failure = RwSignal::new(None);
    let shared = Rc::new(Shared {
        store_id,
        name: name.to_owned(),
        handle: RefCell::new(None),
        revision: Cell::new(None),
        selecting: Selecting::default(),
    });
    let upload = UseUpload {
        view: state.into(),
        status: Memo::new(move |_| state.with(|view| view.status)).into(),
        entries: Signal::derive_local(move || state.with(|view| view.entries.clone())),
        progress: Memo::new(move |_| state.with(|view| view.progress)).into(),
        errors: Memo::new(move |_| state.with(|view| view.errors.clone())).into(),
        is_uploading: Memo::new(move |_| state.with(|view| view.status == UploadStatus::Uploading)).into(),
        error: failure.into(),
        root: *root,
        shared: StoredValue::new_local(shared),
        subscription: StoredValue::new_local(None),
        state,
        failure,
    };
    let root = *root;
    Effect::new(move || {
        // Follow the handle once the root is mounted, and re-read it whenever the root's status
        // changes (stale, live again after a remount).
        root.status.track();
        if !root.ready.get() {
            return;
        }
        let Some(shared) = upload.shared.try_get_value() else { return };
        if upload.follow(&shared).is_some() {
            refresh(&shared, state, true);
        }
    });
    let subscription = upload.subscription;
    on_cleanup(move || {
        subscription.try_update_value(Option::take);
    });
    upload
}
