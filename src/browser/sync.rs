//! The browser front of the Musubi runtime for Rust callers: [`SyncClient`] mounts roots,
//! [`StoreHandle`]s read snapshots, send commands and notify subscribers.
//!
//! ```no_run
//! use musubi_wasm::browser::SyncClient;
//! use musubi_wasm::phoenix::SocketOptions;
//! use musubi_wasm::runtime::{MountSpec, StoreId};
//! # async fn demo() -> Result<(), musubi_wasm::runtime::SyncError> {
//! let client = SyncClient::connect("/socket", SocketOptions::default());
//! let root = client.mount(MountSpec { module: "Demo.CounterStore".into(), id: "counter".into(), params: serde_json::json!({}) }).await?;
//! let store = root.store(StoreId::root());
//! let _sub = store.subscribe(|| { /* re-read store.snapshot() */ });
//! store.command("increment", serde_json::json!({"by": 1})).await?;
//! # Ok(()) }
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_channel::oneshot;
use serde_json::Value;

use super::driver::Driver;
use super::listeners::{Registry, SlotRegistries, Subscription};
use super::socket::page_location;
use super::upload::{ExternalUpload, UploadHandle, UploadIo, UploaderFuture};
use crate::phoenix::{ConnectionState, Event, Millis, SocketConfig, SocketOptions};
use crate::runtime::status::ConnectionInfo;
use crate::runtime::{
    CommandOptions, DEFAULT_TOPIC, MountSpec, Node, OutboxConfig, RequestId, RootInfo, RootStatus, Runtime, RuntimeEvent, StoreId,
    StoreKey, SyncError, UploadTarget, WireMode,
};

type StoreListener = dyn Fn();
type EventListener = dyn Fn(&RuntimeEvent);
type PushListener = dyn Fn(&Node);
type StoreSlot = (Rc<str>, Rc<str>, StoreKey);
/// A store and the name of the events it pushes.
type PushSlot = (StoreSlot, Rc<str>);

#[derive(Default)]
struct SyncListeners {
    requests: HashMap<RequestId, oneshot::Sender<Result<Value, SyncError>>>,
    stores: SlotRegistries<StoreSlot, StoreListener>,
    pushed: SlotRegistries<PushSlot, PushListener>,
    uploads: SlotRegistries<UploadTarget, StoreListener>,
    events: Registry<EventListener>,
}

struct SyncShared {
    driver: Rc<Driver<Runtime>>,
    listeners: Rc<RefCell<SyncListeners>>,
    uploads: Rc<UploadIo>,
}

/// A Musubi client in the page: one socket, connection channels per topic, mounted roots.
#[derive(Clone)]
pub struct SyncClient {
    shared: Rc<SyncShared>,
}

impl SyncClient {
    /// Creates the client for `endpoint` (the socket connects with the first mount). It detects
    /// whether the server speaks the connection channel or per-root channels
    /// ([`WireMode::Auto`]).
    pub fn connect(endpoint: &str, options: SocketOptions) -> SyncClient {
        SyncClient::with_wire(endpoint, options, WireMode::Auto)
    }

    /// Creates the client for `endpoint`, speaking `wire`.
    ///
    /// ```no_run
    /// use musubi_wasm::browser::SyncClient;
    /// use musubi_wasm::runtime::WireMode;
    /// let client = SyncClient::with_wire("/socket", Default::default(), WireMode::PerRoot);
    /// ```
    pub fn with_wire(endpoint: &str, options: SocketOptions, wire: WireMode) -> SyncClient {
        let mut config = SocketConfig::with_options(endpoint, options);
        config.page = page_location();
        let listeners: Rc<RefCell<SyncListeners>> = Rc::default();
        let uploads: Rc<UploadIo> = Rc::default();
        let (sink, io) = (listeners.clone(), uploads.clone());
        let driver = Driver::new(Runtime::with_wire(config, wire), move |event: RuntimeEvent| {
            io.on_event(&event);
            dispatch(&sink, &event);
        });
        uploads.attach(&driver);
        SyncClient { shared: Rc::new(SyncShared { driver, listeners, uploads }) }
    }

    /// Registers the external uploader `name` (PROTOCOL.md §3.5): an upload whose preflight names
    /// it calls `uploader` with the entry, the file, the preflight's meta, a progress reporter and
    /// an abort signal. A later registration under the same name replaces it.
    ///
    /// ```no_run
    /// # fn demo(client: musubi_wasm::browser::SyncClient) {
    /// client.register_uploader("S3", |upload| Box::pin(async move {
    ///     upload.progress(100.0);
    ///     Ok(())
    /// }));
    /// # }
    /// ```
    pub fn register_uploader(&self, name: &str, uploader: impl Fn(ExternalUpload) -> UploaderFuture + 'static) {
        self.shared.uploads.register(name, Rc::new(uploader));
    }

    /// How many chunks each upload entry keeps in flight (default 4; 1 is the reference's
    /// stop-and-wait).
    pub fn set_upload_window(&self, window: usize) {
        self.shared.driver.with_core(|runtime, _| runtime.set_upload_window(window));
    }

    /// Turns the command outbox on (with these bounds) or off: commands dispatched while their
    /// root is not live wait and go out in order once it is live again (see
    /// [`crate::runtime::OutboxConfig`]).
    pub fn set_outbox(&self, config: Option<OutboxConfig>) {
        self.shared.driver.with_core(|runtime, _| runtime.set_outbox(config));
    }

    /// How many selected files uploads still hold (for leak checks).
    pub fn held_files(&self) -> usize {
        self.shared.uploads.held_files()
    }

    pub(crate) fn upload_io(&self) -> &UploadIo {
        &self.shared.uploads
    }

    pub(crate) fn subscribe_upload(&self, target: &UploadTarget, callback: impl Fn() + 'static) -> Subscription {
        let slot = target.clone();
        Subscription::register(
            &self.shared.listeners,
            {
                let slot = slot.clone();
                move |listeners: &mut SyncListeners| listeners.uploads.insert(slot, Rc::new(callback))
            },
            move |listeners, key| listeners.uploads.remove(&slot, key),
        )
    }

    /// Reads the runtime (`None` only while it is being driven).
    pub(crate) fn with_runtime_ref<R>(&self, read: impl FnOnce(&Runtime) -> R) -> Option<R> {
        self.shared.driver.core().map(|runtime| read(&runtime))
    }

    /// Mounts a root on the default topic `musubi:connection`.
    pub async fn mount(&self, spec: MountSpec) -> Result<RootHandle, SyncError> {
        self.mount_on(DEFAULT_TOPIC, spec).await
    }

    /// Mounts a root on a connection topic; resolves once its initial state is applied. Mounting an
    /// id that is already mounted shares it (each handle is one owner).
    pub async fn mount_on(&self, topic: &str, spec: MountSpec) -> Result<RootHandle, SyncError> {
        let root_id = spec.id.clone();
        self.request(|runtime, now| runtime.mount(topic, spec, now)).await?;
        Ok(RootHandle { client: self.clone(), topic: topic.into(), root_id, unmounted: Rc::new(Cell::new(false)) })
    }

    /// Mounts a root showing `cached` — a [`RootHandle::export`] text from an earlier page load —
    /// at once, with status [`RootStatus::Cached`], until the server's state arrives (see
    /// [`Runtime::mount_cached`]). A text that does not apply makes it a plain mount.
    pub async fn mount_cached_on(&self, topic: &str, spec: MountSpec, cached: &str) -> Result<RootHandle, SyncError> {
        let root_id = spec.id.clone();
        self.request(|runtime, now| runtime.mount_cached(topic, spec, cached, now)).await?;
        Ok(RootHandle { client: self.clone(), topic: topic.into(), root_id, unmounted: Rc::new(Cell::new(false)) })
    }

    /// Connects the socket and joins the connection channel for `topic`; resolves once joined.
    pub async fn open(&self, topic: &str) -> Result<(), SyncError> {
        self.request(|runtime, now| runtime.connect(topic, now)).await.map(|_| ())
    }

    /// Opens the socket now with a fresh retry count (after [`SyncClient::close_socket`], or to
    /// skip the wait before the next retry); roots remount once it is open.
    pub fn open_socket(&self) {
        self.shared.driver.with_core(|runtime, now| runtime.open(now));
    }

    /// Closes the socket and stops retrying until [`SyncClient::open_socket`]; mounted roots stay
    /// readable as stale.
    pub fn close_socket(&self) {
        self.shared.driver.with_core(|runtime, now| runtime.close(now));
    }

    /// The connection status every front door shows (derived once, by the runtime), with its
    /// reason, attempt, retry time and when it last opened; changes arrive as
    /// [`RuntimeEvent::Connection`].
    pub fn connection_info(&self) -> ConnectionInfo {
        self.shared.driver.core().map(|runtime| runtime.connection_info().clone()).unwrap_or_default()
    }

    /// The wire protocol in use (`None` until auto mode has heard the server).
    pub fn wire(&self) -> Option<WireMode> {
        self.shared.driver.core().and_then(|runtime| runtime.wire())
    }

    /// The roots mounted on `topic`.
    pub fn roots(&self, topic: &str) -> Vec<RootInfo> {
        self.shared.driver.core().map(|runtime| runtime.roots(topic)).unwrap_or_default()
    }

    /// The socket's connection state.
    pub fn state(&self) -> ConnectionState {
        self.shared.driver.core().map_or(ConnectionState::Closed, |runtime| runtime.socket().state())
    }

    /// Calls `callback` for every runtime event (socket state, settled requests, changes, status).
    pub fn on_event(&self, callback: impl Fn(&RuntimeEvent) + 'static) -> Subscription {
        Subscription::register(
            &self.shared.listeners,
            |listeners: &mut SyncListeners| listeners.events.insert(Rc::new(callback)),
            |listeners, key| listeners.events.remove(key),
        )
    }

    /// Calls `callback(outgoing, frame)` for every frame sent and received (for loggers; binary
    /// frames are described, not dumped). `None` removes it.
    pub fn on_frame(&self, callback: Option<impl Fn(bool, &str) + 'static>) {
        self.shared.driver.set_tap(callback.map(|callback| Rc::new(callback) as super::driver::FrameTap));
    }

    /// Calls `callback` with each new connection state.
    pub fn on_state(&self, callback: impl Fn(ConnectionState) + 'static) -> Subscription {
        self.on_event(move |event| {
            if let RuntimeEvent::Socket(Event::State(state)) = event {
                callback(*state);
            }
        })
    }

    /// Leaves a connection topic: its roots are forgotten and their pending work fails.
    pub async fn disconnect(&self, topic: &str) -> Result<(), SyncError> {
        self.request(|runtime, now| runtime.disconnect(topic, now)).await.map(|_| ())
    }

    /// Starts a runtime request and waits for its outcome.
    pub(crate) async fn request(&self, start: impl FnOnce(&mut Runtime, Millis) -> RequestId) -> Result<Value, SyncError> {
        self.start_request(start).await
    }

    /// Starts a runtime request now, when called (not when first polled), and returns the wait
    /// for its outcome: requests reach the runtime in call order, and their effect (e.g. a
    /// command counted as queued) is visible at once.
    pub(crate) fn start_request(&self, start: impl FnOnce(&mut Runtime, Millis) -> RequestId) -> Outcome {
        let (sender, receiver) = oneshot::channel();
        let listeners = self.shared.listeners.clone();
        // The waiter is registered inside the same call, before any output is dispatched.
        let started = self.shared.driver.with_core(|runtime, now| {
            let request = start(runtime, now);
            if let Ok(mut listeners) = listeners.try_borrow_mut() {
                listeners.requests.insert(request, sender);
            }
        });
        Outcome { receiver: started.map(|()| receiver) }
    }

    fn root_status(&self, topic: &str, root_id: &str) -> Option<RootStatus> {
        self.shared.driver.core().and_then(|runtime| runtime.root_status(topic, root_id))
    }

    fn with_runtime<R>(&self, read: impl FnOnce(&mut Runtime) -> R) -> Option<R> {
        self.shared.driver.with_core(|runtime, _| read(runtime))
    }
}

/// One owner of a mounted root. Unmount it when done ([`RootHandle::unmount`]); dropping the
/// handle keeps the root mounted.
#[derive(Clone)]
pub struct RootHandle {
    client: SyncClient,
    topic: Rc<str>,
    root_id: Rc<str>,
    unmounted: Rc<Cell<bool>>,
}

impl RootHandle {
    /// The root id.
    pub fn id(&self) -> &str {
        &self.root_id
    }

    /// The connection topic the root is mounted on.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// A handle to one store of this root (the root store is `StoreId::root()`).
    pub fn store(&self, id: StoreId) -> StoreHandle {
        StoreHandle { client: self.client.clone(), topic: self.topic.clone(), root_id: self.root_id.clone(), id }
    }

    /// The root's current state as text, for [`SyncClient::mount_cached_on`] on a later page
    /// load (`None` before it has any).
    pub fn export(&self) -> Option<String> {
        self.client.with_runtime_ref(|runtime| runtime.export_root(&self.topic, &self.root_id)).flatten()
    }

    /// Where the root stands (`None` once unmounted).
    pub fn status(&self) -> Option<RootStatus> {
        self.client.root_status(&self.topic, &self.root_id)
    }

    /// The ids of the stores the root has now.
    pub fn store_ids(&self) -> Vec<StoreId> {
        self.client.shared.driver.core().map(|runtime| runtime.store_ids(&self.topic, &self.root_id)).unwrap_or_default()
    }

    /// Gives up this owner's share (idempotent); the last owner unmounts the root on the server.
    pub async fn unmount(&self) -> Result<(), SyncError> {
        if self.unmounted.replace(true) {
            return Ok(());
        }
        let (topic, root_id) = (self.topic.clone(), self.root_id.clone());
        self.client.request(|runtime, now| runtime.unmount(&topic, &root_id, now)).await.map(|_| ())
    }
}

/// A store of a mounted root.
#[derive(Clone)]
pub struct StoreHandle {
    client: SyncClient,
    topic: Rc<str>,
    root_id: Rc<str>,
    id: StoreId,
}

impl StoreHandle {
    /// The store id.
    pub fn id(&self) -> &StoreId {
        &self.id
    }

    /// Where the store's root stands (`None` once unmounted).
    pub fn root_status(&self) -> Option<RootStatus> {
        self.client.root_status(&self.topic, &self.root_id)
    }

    /// Whether the root has this store now (`None` before the root has state or after unmount).
    pub fn exists(&self) -> Option<bool> {
        self.client.with_runtime_ref(|runtime| runtime.has_store(&self.topic, &self.root_id, &self.id)).flatten()
    }

    /// The store's snapshot: the identical node until the store changes. `None` before the root
    /// has state or after unmount.
    pub fn snapshot(&self) -> Option<Node> {
        self.client.with_runtime(|runtime| runtime.snapshot(&self.topic, &self.root_id, &self.id)).flatten()
    }

    /// One field, resolved like the snapshot shows it.
    pub fn get(&self, field: &str) -> Option<Node> {
        self.client.with_runtime(|runtime| runtime.read(&self.topic, &self.root_id, &self.id, field)).flatten()
    }

    /// The items of one of this store's streams, in order (`None` before the root has state).
    pub fn stream(&self, name: &str) -> Option<Node> {
        self.client.shared.driver.core().and_then(|runtime| runtime.stream(&self.topic, &self.root_id, &self.id, name))
    }

    /// Sends a command to this store. Resolves with the server's reply; the state change (if any)
    /// arrives with the next patch, after this resolves. With the outbox on it waits while the
    /// root is not live.
    ///
    /// The command reaches the runtime when this is called, not when the future is first polled,
    /// so commands keep their call order.
    pub fn command(&self, name: &str, payload: Value) -> Outcome {
        self.command_with(name, payload, CommandOptions::default())
    }

    /// [`StoreHandle::command`] with per-call options (e.g. `queue: Some(true)` to wait in the
    /// outbox even when the client has none).
    ///
    /// ```no_run
    /// # async fn demo(store: musubi_wasm::browser::StoreHandle) -> Result<(), musubi_wasm::runtime::SyncError> {
    /// use musubi_wasm::runtime::CommandOptions;
    /// store.command_with("increment", serde_json::json!({"by": 1}), CommandOptions { queue: Some(true) }).await?;
    /// # Ok(()) }
    /// ```
    pub fn command_with(&self, name: &str, payload: Value, options: CommandOptions) -> Outcome {
        let (topic, root_id, id) = (self.topic.clone(), self.root_id.clone(), self.id.clone());
        self.client.start_request(|runtime, now| runtime.command_with(&topic, &root_id, &id, name, payload, options, now))
    }

    /// How many of this store's commands wait in the outbox (a UI can show "3 changes
    /// waiting"); its subscribers are called when it changes.
    pub fn queued(&self) -> usize {
        self.client.with_runtime_ref(|runtime| runtime.queued(&self.topic, &self.root_id, &self.id)).unwrap_or(0)
    }

    /// Calls `callback` with the payload of every event named `name` this store pushes (Musubi
    /// 0.13 push events): once per event, after the state that came with it is applied.
    ///
    /// ```no_run
    /// # fn demo(store: musubi_wasm::browser::StoreHandle) {
    /// let _sub = store.on_event("toast", |payload| log(payload.get("text")));
    /// # fn log<T>(_: T) {}
    /// # }
    /// ```
    pub fn on_event(&self, name: &str, callback: impl Fn(&Node) + 'static) -> Subscription {
        let slot: PushSlot = ((self.topic.clone(), self.root_id.clone(), self.id.key()), name.into());
        Subscription::register(
            &self.client.shared.listeners,
            {
                let slot = slot.clone();
                move |listeners: &mut SyncListeners| listeners.pushed.insert(slot, Rc::new(callback))
            },
            move |listeners, key| listeners.pushed.remove(&slot, key),
        )
    }

    /// The store's declared upload `name` (the same handle for the same name).
    pub fn upload(&self, name: &str) -> UploadHandle {
        let target =
            UploadTarget { topic: self.topic.clone(), root_id: self.root_id.clone(), store_id: self.id.clone(), name: name.into() };
        UploadHandle { client: self.client.clone(), target }
    }

    /// Calls `callback` whenever this store changes (node, streams or uploads) and when its root's
    /// status changes (e.g. it goes stale during an outage and live again after it).
    pub fn subscribe(&self, callback: impl Fn() + 'static) -> Subscription {
        let slot: StoreSlot = (self.topic.clone(), self.root_id.clone(), self.id.key());
        Subscription::register(
            &self.client.shared.listeners,
            {
                let slot = slot.clone();
                move |listeners: &mut SyncListeners| listeners.stores.insert(slot, Rc::new(callback))
            },
            move |listeners, key| listeners.stores.remove(&slot, key),
        )
    }
}

/// The outcome of a request already started: resolves with its result (the reply of a command).
#[must_use = "the request runs anyway; await this for its outcome"]
pub struct Outcome {
    /// `None` if the request could not start (the client was busy).
    receiver: Option<oneshot::Receiver<Result<Value, SyncError>>>,
}

impl Future for Outcome {
    type Output = Result<Value, SyncError>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match self.receiver.as_mut() {
            None => Poll::Ready(Err(SyncError::NotConnected)),
            Some(receiver) => Pin::new(receiver).poll(context).map(|result| result.unwrap_or(Err(SyncError::Disconnected))),
        }
    }
}

/// Settles request futures and calls store and event listeners (no borrow held while they run).
fn dispatch(listeners: &Rc<RefCell<SyncListeners>>, event: &RuntimeEvent) {
    let mut callbacks: Vec<Rc<StoreListener>> = Vec::new();
    let mut pushed: Vec<(Rc<PushListener>, Node)> = Vec::new();
    let events = {
        let Ok(mut registry) = listeners.try_borrow_mut() else { return };
        match event {
            RuntimeEvent::Settled { request, result } => {
                if let Some(sender) = registry.requests.remove(request) {
                    let _ = sender.send(result.clone());
                }
            }
            RuntimeEvent::StoresChanged { topic, root_id, stores } | RuntimeEvent::OutboxChanged { topic, root_id, stores } => {
                for store in stores {
                    callbacks.extend(registry.stores.snapshot(&(topic.clone(), root_id.clone(), store.clone())));
                }
            }
            RuntimeEvent::UploadChanged { target } => callbacks.extend(registry.uploads.snapshot(target)),
            RuntimeEvent::PushEvents { topic, root_id, events } => {
                for pushed_event in events {
                    let slot = ((topic.clone(), root_id.clone(), pushed_event.store_id.key()), pushed_event.name.clone());
                    pushed.extend(registry.pushed.snapshot(&slot).into_iter().map(|listener| (listener, pushed_event.payload.clone())));
                }
            }

            _ => {}
        }
        registry.events.snapshot()
    };
    for callback in callbacks {
        callback();
    }
    for (listener, payload) in pushed {
        listener(&payload);
    }
    for callback in events {
        callback(event);
    }
}
