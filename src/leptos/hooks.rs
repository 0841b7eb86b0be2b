//! Root and store hooks: [`use_root`], [`use_store`], [`use_stream`], [`use_command`].

use std::rc::Rc;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::context::{SyncContext, use_sync_context};
use super::error::SyncError;
use crate::browser::{self, StoreHandle, Subscription};
use crate::runtime::{CommandOptions, MountSpec, Node, RootStatus, RuntimeEvent, StoreId};

/// One owner of a mounted root, for the store hooks. `Copy`.
///
/// The root is mounted when [`use_root`] runs (or when the connection is first opened) and
/// unmounted when the last component using it is cleaned up. It survives reconnects: during an
/// outage its stores keep their last values and [`RootHandle::is_stale`] is true.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::use_root;
/// let root = use_root("Demo.CounterStore", "counter", serde_json::json!({}));
/// let class = move || if root.is_stale() { "dimmed" } else { "" };
/// let status = move || root.status.get().map(|status| status.as_str());
/// ```
#[derive(Clone, Copy)]
pub struct RootHandle {
    /// The root's status (`None` until mounted, and after a failed mount).
    pub status: Signal<Option<RootStatus>>,
    id: StoredValue<String>,
    handle: StoredValue<Option<browser::RootHandle>, LocalStorage>,
    pub(crate) ready: RwSignal<bool>,
    pub(crate) context: SyncContext,
}

impl RootHandle {
    /// The root id.
    pub fn id(&self) -> String {
        self.id.try_get_value().unwrap_or_default()
    }

    /// True once the initial state is there (reactive).
    pub fn is_ready(&self) -> bool {
        self.ready.get()
    }

    /// True while the connection is lost or the root recovers: stores show their last good state
    /// (reactive).
    pub fn is_stale(&self) -> bool {
        self.status.get().is_some_and(RootStatus::is_stale)
    }

    pub(crate) fn store(&self, id: &StoreId) -> Option<StoreHandle> {
        self.handle.try_with_value(|handle| handle.as_ref().map(|root| root.store(id.clone()))).flatten()
    }
}

/// Mounts root `id` of `module` with `params` for the current component (one owner); unmounts
/// when the component is cleaned up. Mount errors go to `last_error`.
///
/// ```no_run
/// use musubi_wasm::leptos::use_root;
/// let board = use_root("Demo.BoardStore", "board", serde_json::json!({}));
/// ```
pub fn use_root(module: impl Into<String>, id: impl Into<String>, params: Value) -> RootHandle {
    let context = use_sync_context();
    let id: String = id.into();
    let status = RwSignal::new(None);
    let root = RootHandle {
        status: status.into(),
        id: StoredValue::new(id.clone()),
        handle: StoredValue::new_local(None),
        ready: RwSignal::new(false),
        context,
    };
    // Follow the root's status.
    let watched = id.clone();
    let listener = context.client.try_with_value(|client| {
        client.on_event(move |event| {
            if let RuntimeEvent::RootStatus { root_id, status: new, .. } = event
                && **root_id == *watched
            {
                status.try_set(Some(*new));
            }
        })
    });
    let _listener = StoredValue::new_local(listener);

    // Mount once the connection is wanted (at once with auto-connect).
    let spec = MountSpec { module: module.into(), id: id.into(), params };
    let started = StoredValue::new(false);
    Effect::new(move || {
        if !context.wanted.get() || started.try_get_value().unwrap_or(true) {
            return;
        }
        started.try_set_value(true);
        let Some(client) = context.client.try_get_value() else { return };
        let spec = spec.clone();
        leptos::task::spawn_local(async move {
            let root_id = spec.id.to_string();
            match client.mount(spec).await {
                Ok(mounted) => {
                    let current = mounted.status();
                    // The component may be gone already: then give the share back at once.
                    if let Some(Some(orphan)) = root.handle.try_set_value(Some(mounted)) {
                        let _ = orphan.unmount().await;
                        return;
                    }
                    status.try_set(current);
                    root.ready.try_set(true);
                }
                Err(error) => context.report(SyncError::from_runtime(error, &root_id)),
            }
        });
    });

    let handle = root.handle;
    let cleanup = SendWrapper::new(move || {
        if let Some(Some(mounted)) = handle.try_update_value(Option::take) {
            leptos::task::spawn_local(async move {
                let _ = mounted.unmount().await;
            });
        }
    });
    on_cleanup(move || cleanup.take()());
    root
}

/// Keeps a store subscription for the current component and calls `read` now and after every
/// change of the store (and when its root goes stale or live again).
fn follow_store(root: &RootHandle, store_id: StoreId, read: impl Fn(&StoreHandle) + 'static) {
    let root = *root;
    let subscription: StoredValue<Option<Subscription>, LocalStorage> = StoredValue::new_local(None);
    let read = Rc::new(read);
    Effect::new(move || {
        if !root.ready.get() {
            return;
        }
        let Some(store) = root.store(&store_id) else { return };
        let on_change = read.clone();
        let watched = store.clone();
        let sub = store.subscribe(move || on_change(&watched));
        subscription.try_set_value(Some(sub));
        read(&store);
    });
}

/// The store's snapshot as a `T`, deserialized again only when the store changed. `None` until
/// the root is mounted. When the snapshot does not fit `T`, `last_error` gets
/// [`SyncError::DeserializationFailed`] and the last good value stays.
///
/// Snapshots are JSON objects: the store's fields, child stores as nested objects, streams as
/// arrays, async fields as `{status, data, error}` (and a `__musubi_store_id__` key, which serde
/// ignores unless `T` denies unknown fields).
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{use_root, use_store};
/// use musubi_wasm::runtime::StoreId;
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// struct Card { title: String, done: bool }
/// let board = use_root("Demo.BoardStore", "board", serde_json::json!({}));
/// let card = use_store::<Card>(&board, StoreId::from(["cards", "1"]));
/// let title = move || card.get().map(|card| card.title);
/// ```
pub fn use_store<T>(root: &RootHandle, store_id: StoreId) -> Signal<Option<T>>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let value = RwSignal::new(None);
    let context = root.context;
    let last: StoredValue<Option<Node>, LocalStorage> = StoredValue::new_local(None);
    let name = store_id.key().to_string();
    follow_store(root, store_id, move |store| {
        let Some(node) = store.snapshot() else { return };
        if last.try_with_value(|last| last.as_ref().is_some_and(|last| last.same(&node))).unwrap_or(true) {
            return;
        }
        last.try_set_value(Some(node.clone()));
        // Through text: `serde_json` reads it with its depth limit (a store too deep for `T` is an
        // error, not a stack overflow) and no deep `Value` is ever built.
        match serde_json::from_str::<T>(&node.to_json_text()) {
            Ok(parsed) => {
                value.try_set(Some(parsed));
            }
            Err(error) => context.report(SyncError::DeserializationFailed { store: name.clone(), error: error.to_string() }),
        }
    });
    value.into()
}

/// The items of stream `name` of a store, as `T`s, in order. Empty until the root is mounted;
/// when an item does not fit `T`, `last_error` gets [`SyncError::DeserializationFailed`] and the
/// last good list stays.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{use_root, use_stream};
/// use musubi_wasm::runtime::StoreId;
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// struct Entry { id: String, text: String }
/// let counter = use_root("Demo.CounterStore", "counter", serde_json::json!({}));
/// let log = use_stream::<Entry>(&counter, StoreId::root(), "log");
/// let lines = move || log.get().into_iter().map(|entry| entry.text).collect::<Vec<_>>();
/// ```
pub fn use_stream<T>(root: &RootHandle, store_id: StoreId, name: &str) -> Signal<Vec<T>>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let items = RwSignal::new(Vec::new());
    let context = root.context;
    let stream = name.to_owned();
    let store_name = store_id.key().to_string();
    let last: StoredValue<Option<Node>, LocalStorage> = StoredValue::new_local(None);
    follow_store(root, store_id, move |store| {
        let Some(node) = store.stream(&stream) else { return };
        if last.try_with_value(|last| last.as_ref() == Some(&node)).unwrap_or(true) {
            return;
        }
        match serde_json::from_str::<Vec<T>>(&node.to_json_text()) {
            Ok(parsed) => {
                last.try_set_value(Some(node));
                items.try_set(parsed);
            }
            Err(error) => {
                let store = format!("{store_name} stream {stream}");
                context.report(SyncError::DeserializationFailed { store, error: error.to_string() });
            }
        }
    });
    items.into()
}

/// A command of one store, with its state as signals. `Copy`.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{use_command, use_root};
/// use musubi_wasm::runtime::StoreId;
/// let root = use_root("Demo.CounterStore", "counter", serde_json::json!({}));
/// let save = use_command(&root, StoreId::root(), "set_label");
/// save.dispatch(serde_json::json!({"label": "Clicks"}));
/// let message = move || save.error.get().map(|error| error.to_string());
/// ```
#[derive(Clone, Copy)]
pub struct CommandHandle {
    /// True while the latest call awaits its reply.
    pub pending: Signal<bool>,
    /// The reply of the latest successful call.
    pub value: Signal<Option<Value>>,
    /// The error of the latest call (cleared by a success).
    pub error: Signal<Option<SyncError>>,
    /// How many of the store's commands wait in the outbox (e.g. "2 changes waiting").
    pub queued: Signal<usize>,
    root: RootHandle,
    target: StoredValue<(StoreId, String), LocalStorage>,
    calls: StoredValue<u64>,
    signals: (RwSignal<bool>, RwSignal<Option<Value>>, RwSignal<Option<SyncError>>),
}

impl CommandHandle {
    /// Sends the command with `payload`. The latest call wins: replies of earlier calls that
    /// arrive later are ignored. Errors also go to `last_error`. With the outbox on, a call while
    /// the root is not live waits (see [`CommandHandle::queued`]).
    pub fn dispatch(&self, payload: impl Serialize) {
        self.dispatch_with(payload, CommandOptions::default());
    }

    /// [`CommandHandle::dispatch`] with per-call options (`queue: Some(true)` waits in the
    /// outbox even without one on the connection; `Some(false)` fails at once).
    pub fn dispatch_with(&self, payload: impl Serialize, options: CommandOptions) {
        let (pending, value, error) = self.signals;
        let context = self.root.context;
        let fail = move |failure: SyncError| {
            error.try_set(Some(failure.clone()));
            context.report(failure);
        };
        let payload = match serde_json::to_value(payload) {
            Ok(payload) => payload,
            Err(failure) => return fail(SyncError::SerializationFailed { error: failure.to_string() }),
        };
        let Some((store_id, name)) = self.target.try_get_value() else { return };
        let Some(store) = self.root.store(&store_id) else { return fail(SyncError::NotConnected) };
        let Some(call) = self.calls.try_update_value(|calls| {
            *calls += 1;
            *calls
        }) else {
            return;
        };
        pending.try_set(true);
        let calls = self.calls;
        let root_id = self.root.id();
        let reply = store.command_with(&name, payload, options);
        leptos::task::spawn_local(async move {
            let result = reply.await;
            if calls.try_get_value() != Some(call) {
                return;
            }
            pending.try_set(false);
            match result {
                Ok(reply) => {
                    value.try_set(Some(reply));
                    error.try_set(None);
                }
                Err(failure) => fail(SyncError::from_runtime(failure, &root_id)),
            }
        });
    }
}

/// A handle for command `name` of a store of `root`.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{use_command, use_root};
/// use musubi_wasm::runtime::StoreId;
/// let board = use_root("Demo.BoardStore", "board", serde_json::json!({}));
/// let add = use_command(&board, StoreId::root(), "add_card");
/// add.dispatch(serde_json::json!({"title": "New"}));
/// let busy = move || add.pending.get();
/// ```
pub fn use_command(root: &RootHandle, store_id: StoreId, name: &str) -> CommandHandle {
    let (pending, value, error) = (RwSignal::new(false), RwSignal::new(None), RwSignal::new(None));
    let queued = RwSignal::new(0);
    follow_store(root, store_id.clone(), move |store| {
        queued.try_set(store.queued());
    });
    CommandHandle {
        pending: pending.into(),
        value: value.into(),
        error: error.into(),
        queued: queued.into(),
        root: *root,
        target: StoredValue::new_local((store_id, name.to_owned())),
        calls: StoredValue::new(0),
        signals: (pending, value, error),
    }
}
