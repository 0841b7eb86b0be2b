//! `RawConnection`: one [`SyncClient`] for the JS layer. Mounts, store handles, upload handles
//! (`super::upload`) and subscriptions are numbered entries the JS layer releases explicitly; a
//! disconnect drops all of them and the socket. No borrow of the connection's state is held while the runtime runs, so listeners may
//! call back in.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::convert::{SnapshotCache, from_js, object, to_js_fresh, value_to_js};
use super::options;
use super::stats::{Counted, Kind};
use super::upload::{self, Upload};
use crate::browser::{RootHandle, StoreHandle, Subscription, SyncClient, now, page_location};
use crate::phoenix::endpoint::endpoint_url;
use crate::phoenix::{ChannelEvent, Event, Millis};
use crate::runtime::{CommandOptions, MountSpec, RootStatus, RuntimeEvent, StoreId, StoreKey, SyncError, WireMode};

/// What the status listener and the logger need; shared with the runtime's event listener.
struct Observer {
    on_status: js_sys::Function,
    logger: Option<js_sys::Function>,
}

struct Mount {
    root: RootHandle,
    _counted: Counted,
}

pub(super) struct Store {
    mount: u32,
    pub(super) handle: StoreHandle,
    _counted: Counted,
}

/// A store's or an upload handle's listener (`owner` is the store's or the handle's number).
pub(super) struct Listener {
    pub(super) owner: u32,
    pub(super) _subscription: Subscription,
    pub(super) _counted: Counted,
}

/// Everything a live connection holds; dropped as a whole on disconnect.
pub(super) struct Live {
    client: SyncClient,
    topic: Rc<str>,
    mounts: HashMap<u32, Mount>,
    pub(super) stores: HashMap<u32, Store>,
    store_numbers: HashMap<(u32, StoreKey), u32>,
    pub(super) uploads: HashMap<u32, Upload>,
    pub(super) upload_numbers: HashMap<(u32, Rc<str>), u32>,
    pub(super) listeners: HashMap<u32, Listener>,
    snapshots: SnapshotCache,
    next_number: u32,
    _events: Subscription,
}

impl Live {
    pub(super) fn number(&mut self) -> u32 {
        self.next_number = self.next_number.wrapping_add(1);
        self.next_number
    }

    /// Forgets a mount with its store handles, their upload handles and all their listeners.
    fn release_mount(&mut self, mount: u32) -> Option<RootHandle> {
        let released = self.mounts.remove(&mount)?;
        let stores: Vec<u32> = self.stores.iter().filter(|(_, store)| store.mount == mount).map(|(number, _)| *number).collect();
        for store in &stores {
            self.stores.remove(store);
            self.snapshots.forget_store(*store);
        }
        let uploads: Vec<u32> =
            self.uploads.iter().filter(|(_, upload)| stores.contains(&upload.store)).map(|(number, _)| *number).collect();
        for upload in &uploads {
            self.uploads.remove(upload);
        }
        self.listeners.retain(|_, listener| !stores.contains(&listener.owner) && !uploads.contains(&listener.owner));
        self.store_numbers.retain(|(owner, _), _| *owner != mount);
        self.upload_numbers.retain(|(store, _), _| !stores.contains(store));
        if self.mounts.is_empty() {
            self.snapshots.clear();
        }
        Some(released.root)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.snapshots.clear();
    }
}

/// The JS layer's handle on one connection (internal; see `src/js/npm/index.d.ts` for the API).
#[wasm_bindgen]
pub struct RawConnection {
    pub(super) live: Rc<RefCell<Option<Live>>>,
    url: String,
    /// `Date.now() - performance.now()`, to report wall-clock times.
    wall_offset: f64,
    _counted: Counted,
}

#[wasm_bindgen]
impl RawConnection {
    /// Creates the connection (the socket opens with `connect()`); throws a `TypeError` for bad
    /// options. `on_status(from, to, reason)` is called at every status change.
    #[wasm_bindgen(constructor)]
    pub fn new(url: String, options: JsValue, on_status: js_sys::Function) -> Result<RawConnection, JsValue> {
        let options = options::read(&options)?;
        let observer = Rc::new(RefCell::new(Observer { on_status, logger: options.logger.clone() }));
        let client = SyncClient::with_wire(&url, options.socket, options.wire);
        client.set_outbox(options.outbox);
        if let Some(window) = options.upload_window {
            client.set_upload_window(window);
        }
        for (name, uploader) in options.uploaders {
            upload::register(&client, &name, uploader);
        }
        if let Some(logger) = options.logger.clone() {
            client.on_frame(Some(move |outgoing: bool, frame: &str| {
                let kind = if outgoing { "push" } else { "receive" };
                let _ = logger.call3(&JsValue::NULL, &JsValue::from_str(kind), &JsValue::from_str(frame), &JsValue::UNDEFINED);
            }));
        }
        let listening = observer.clone();
        let events = client.on_event(move |event| observe(&listening, event));
        let live = Live {
            client,
            topic: options.topic.into(),
            mounts: HashMap::new(),
            stores: HashMap::new(),
            store_numbers: HashMap::new(),
            uploads: HashMap::new(),
            upload_numbers: HashMap::new(),
            listeners: HashMap::new(),
            snapshots: SnapshotCache::default(),
            next_number: 0,
            _events: events,
        };
        Ok(RawConnection {
            live: Rc::new(RefCell::new(Some(live))),
            url,
            wall_offset: js_sys::Date::now() - now() as f64,
            _counted: Counted::new(Kind::Connection),
        })
    }

    /// Opens the socket and joins the connection channel; resolves once joined.
    pub fn connect(&self) -> js_sys::Promise {
        let Some((client, topic)) = self.client() else { return rejected(&SyncError::Disconnected) };
        future_to_promise(async move { client.open(&topic).await.map(|()| JsValue::UNDEFINED).map_err(|error| error_object(&error)) })
    }

    /// Mounts a root; resolves with the mount's number once its initial state is there.
    pub fn mount(&self, module: String, id: String, params: JsValue) -> js_sys::Promise {
        self.mount_with(module, id, params, None)
    }

    /// Mounts a root showing `cached` (an `export_root` text of an earlier page load) at once, as
    /// `mount` does otherwise; resolves with the mount's number.
    pub fn mount_cached(&self, module: String, id: String, params: JsValue, cached: String) -> js_sys::Promise {
        self.mount_with(module, id, params, Some(cached))
    }

    /// A mount's root state as text for a later `mount_cached` (`undefined` before it has any).
    pub fn export_root(&self, mount: u32) -> Option<String> {
        let root = self.live.try_borrow().ok()?.as_ref()?.mounts.get(&mount)?.root.clone();
        root.export()
    }

    /// Releases a mount (idempotent): its store handles and listeners go at once, then the root is
    /// unmounted if this was its last owner.
    pub fn unmount(&self, mount: u32) -> js_sys::Promise {
        let root = self.live.try_borrow_mut().ok().and_then(|mut slot| slot.as_mut().and_then(|live| live.release_mount(mount)));
        let Some(root) = root else { return js_sys::Promise::resolve(&JsValue::UNDEFINED) };
        future_to_promise(async move { root.unmount().await.map(|()| JsValue::UNDEFINED).map_err(|error| error_object(&error)) })
    }

    /// The number of a store handle of a mount (the same number for the same store id).
    pub fn store(&self, mount: u32, store_id: Vec<String>) -> Result<u32, JsValue> {
        let mut slot = self.live.try_borrow_mut().map_err(|_| busy())?;
        let live = slot.as_mut().ok_or_else(|| plain_error(&SyncError::Disconnected))?;
        let id = StoreId::from(store_id);
        let key = (mount, id.key());
        if let Some(number) = live.store_numbers.get(&key) {
            return Ok(*number);
        }
        let root = &live.mounts.get(&mount).ok_or_else(|| plain_error(&SyncError::StoreUnmounted))?.root;
        let handle = root.store(id);
        // A store the root does not have is a mistake (a typo, a removed child): say so now
        // rather than show an empty snapshot for ever.
        if handle.exists() == Some(false) {
            let store_id = serde_json::to_string(handle.id().segments()).unwrap_or_default();
            return Err(plain_error(&SyncError::UnknownStore { root_id: root.id().to_owned(), store_id }));
        }
        let number = live.number();
        live.stores.insert(number, Store { mount, handle, _counted: Counted::new(Kind::Store) });
        live.store_numbers.insert(key, number);
        Ok(number)
    }

    /// The store's frozen snapshot (identical until the store changes); `undefined` once released.
    pub fn snapshot(&self, store: u32) -> JsValue {
        let Some(handle) = self.handle(store) else { return JsValue::UNDEFINED };
        let Some(node) = handle.snapshot() else { return JsValue::UNDEFINED };
        match self.live.try_borrow_mut() {
            Ok(mut slot) => slot.as_mut().map_or(JsValue::UNDEFINED, |live| live.snapshots.convert_snapshot(store, &node)),
            Err(_) => JsValue::UNDEFINED,
        }
    }

    /// How many of the store's commands wait in the outbox (0 once released).
    pub fn queued(&self, store: u32) -> u32 {
        self.handle(store).map_or(0, |handle| u32::try_from(handle.queued()).unwrap_or(u32::MAX))
    }

    /// True while the store's root shows its last good state, not the server's current one
    /// (connection lost, recovering, or failed).
    pub fn stale(&self, store: u32) -> bool {
        self.handle(store).and_then(|handle| handle.root_status()).is_some_and(RootStatus::is_stale)
    }

    /// Calls `listener` after every change of the store; returns the listener's number.
    pub fn subscribe(&self, store: u32, listener: js_sys::Function) -> Result<u32, JsValue> {
        let handle = self.handle(store).ok_or_else(|| plain_error(&SyncError::StoreUnmounted))?;
        let subscription = handle.subscribe(move || {
            // The JS layer reports a listener's exception itself.
            let _ = listener.call0(&JsValue::NULL);
        });
        let mut slot = self.live.try_borrow_mut().map_err(|_| busy())?;
        let live = slot.as_mut().ok_or_else(|| plain_error(&SyncError::Disconnected))?;
        let number = live.number();
        live.listeners.insert(number, Listener { owner: store, _subscription: subscription, _counted: Counted::new(Kind::Subscription) });
        Ok(number)
    }

    /// Calls `listener(payload)` for every event named `name` the store pushes; returns the
    /// listener's number (removed with `unsubscribe`).
    pub fn on_event(&self, store: u32, name: String, listener: js_sys::Function) -> Result<u32, JsValue> {
        let handle = self.handle(store).ok_or_else(|| plain_error(&SyncError::StoreUnmounted))?;
        let subscription = handle.on_event(&name, move |payload| {
            // The JS layer reports a listener's exception itself.
            let _ = listener.call1(&JsValue::NULL, &to_js_fresh(payload));
        });
        let mut slot = self.live.try_borrow_mut().map_err(|_| busy())?;
        let live = slot.as_mut().ok_or_else(|| plain_error(&SyncError::Disconnected))?;
        let number = live.number();
        live.listeners.insert(number, Listener { owner: store, _subscription: subscription, _counted: Counted::new(Kind::Subscription) });
        Ok(number)
    }

    /// Removes a listener (idempotent).
    pub fn unsubscribe(&self, listener: u32) {
        let removed = self.live.try_borrow_mut().ok().and_then(|mut slot| slot.as_mut().and_then(|live| live.listeners.remove(&listener)));
        drop(removed);
    }

    /// Sends a command to the store; resolves with the reply. `queue` (`undefined`: the
    /// connection's default) says whether it waits in the outbox while its root is not live.
    pub fn command(&self, store: u32, name: String, payload: JsValue, queue: Option<bool>) -> js_sys::Promise {
        let payload = match from_js(&payload) {
            Ok(payload) => payload,
            Err(message) => return js_sys::Promise::reject(&js_sys::TypeError::new(&format!("dispatchCommand(): {message}")).into()),
        };
        let Some(handle) = self.handle(store) else {
            let error = if self.client().is_some() { SyncError::StoreUnmounted } else { SyncError::Disconnected };
            return rejected(&error);
        };
        // Started now, so `store.queued()` counts it as soon as `dispatchCommand` returns.
        let reply = handle.command_with(&name, payload, CommandOptions { queue });
        future_to_promise(async move {
            let reply = reply.await.map_err(|error| error_object(&error))?;
            Ok(value_to_js(&reply))
        })
    }

    /// The WebSocket URL the socket dials for this endpoint on this page, without its query (the
    /// params may carry secrets); the endpoint as given when it cannot be resolved. For the
    /// development warning of a connection that never joined.
    pub fn dialed_url(&self) -> String {
        let mut url = endpoint_url(&self.url, None, page_location().as_ref()).unwrap_or_else(|_| self.url.clone());
        if let Some(query) = url.find('?') {
            url.truncate(query);
        }
        url
    }

    /// `"connecting"`, `"open"`, `"reconnecting"` or `"closed"` (the runtime's status).
    pub fn status(&self) -> String {
        self.client().map_or("closed", |(client, _)| client.connection_info().status.as_str()).to_owned()
    }

    /// `{status, wire, reason, url, connectedAt, reconnectAttempt, nextRetryAt, roots}`.
    pub fn info(&self) -> JsValue {
        let connection = self.client().map(|(client, _)| client.connection_info()).unwrap_or_default();
        let roots = js_sys::Array::new();
        if let Some((client, topic)) = self.client() {
            for root in client.roots(&topic) {
                roots.push(&object(&[
                    ("id", JsValue::from_str(&root.id)),
                    ("module", JsValue::from_str(&root.module)),
                    ("status", JsValue::from_str(root.status.as_str())),
                    ("version", JsValue::from_f64(root.version as f64)),
                    ("owners", JsValue::from(root.owners)),
                    ("attempt", JsValue::from(root.attempt)),
                    ("nextRetryAt", self.wall_time(root.next_retry_at)),
                    ("reason", root.reason.as_deref().map_or(JsValue::NULL, JsValue::from_str)),
                    ("queued", JsValue::from(u32::try_from(root.queued).unwrap_or(u32::MAX))),
                ]));
            }
        }
        let wire = self.client().and_then(|(client, _)| client.wire()).map_or(JsValue::NULL, |wire| JsValue::from_str(wire_name(wire)));
        object(&[
            ("status", JsValue::from_str(connection.status.as_str())),
            ("wire", wire),
            ("reason", JsValue::from_str(&connection.reason)),
            ("url", JsValue::from_str(&self.url)),
            ("connectedAt", self.wall_time(connection.connected_at)),
            ("reconnectAttempt", JsValue::from(connection.attempt)),
            ("nextRetryAt", self.wall_time(connection.next_retry_at)),
            ("roots", roots.into()),
        ])
    }

    /// Leaves the connection channel and closes the socket; everything the connection held is
    /// released and pending work rejects with `Disconnected`.
    pub fn disconnect(&self) -> js_sys::Promise {
        let live = self.live.try_borrow_mut().ok().and_then(|mut slot| slot.take());
        let Some(live) = live else { return js_sys::Promise::resolve(&JsValue::UNDEFINED) };
        // Closing first reports `closed` at once (the runtime derives it, like every status); the
        // server stops the roots with the socket.
        live.client.close_socket();
        future_to_promise(async move {
            let result = live.client.disconnect(&live.topic).await;
            // Dropping the last client closes the socket and stops its timers.
            drop(live);
            result.map(|()| JsValue::UNDEFINED).map_err(|error| error_object(&error))
        })
    }
}

impl RawConnection {
    /// `mount`, from a cached state when there is one.
    fn mount_with(&self, module: String, id: String, params: JsValue, cached: Option<String>) -> js_sys::Promise {
        let params = match from_js(&params) {
            Ok(Value::Null) => Value::Object(serde_json::Map::new()),
            Ok(params @ Value::Object(_)) => params,
            Ok(_) => return js_sys::Promise::reject(&js_sys::TypeError::new("mountStore(): params must be an object").into()),
            Err(message) => return js_sys::Promise::reject(&js_sys::TypeError::new(&format!("mountStore(): {message}")).into()),
        };
        let Some((client, topic)) = self.client() else { return rejected(&SyncError::Disconnected) };
        let live = self.live.clone();
        future_to_promise(async move {
            let spec = MountSpec { module, id: id.into(), params };
            let mounted = match cached {
                Some(cached) => client.mount_cached_on(&topic, spec, &cached).await,
                None => client.mount_on(&topic, spec).await,
            };
            let root = mounted.map_err(|error| error_object(&error))?;
            let mut slot = live.try_borrow_mut().map_err(|_| busy())?;
            let Some(live) = slot.as_mut() else {
                return Err(error_object(&SyncError::Disconnected));
            };
            let number = live.number();
            live.mounts.insert(number, Mount { root, _counted: Counted::new(Kind::Mount) });
            Ok(JsValue::from(number))
        })
    }

    pub(super) fn client(&self) -> Option<(SyncClient, Rc<str>)> {
        let slot = self.live.try_borrow().ok()?;
        slot.as_ref().map(|live| (live.client.clone(), live.topic.clone()))
    }

    fn handle(&self, store: u32) -> Option<StoreHandle> {
        let slot = self.live.try_borrow().ok()?;
        slot.as_ref()?.stores.get(&store).map(|store| store.handle.clone())
    }

    fn wall_time(&self, at: Option<Millis>) -> JsValue {
        at.map_or(JsValue::NULL, |at| JsValue::from_f64((self.wall_offset + at as f64).round()))
    }
}

/// Feeds socket events to the status tracker and the logger (no borrow held while JS runs).
fn observe(observer: &Rc<RefCell<Observer>>, event: &RuntimeEvent) {
    if let RuntimeEvent::Connection { from, info } = event
        && *from != info.status
    {
        notify_status(observer, from.as_str(), info.status.as_str(), &info.reason);
    }
    let logger = observer.try_borrow().ok().and_then(|observer| observer.logger.clone());
    if let Some(logger) = logger
        && let Some((kind, message, data)) = log_line(event)
    {
        let _ = logger.call3(&JsValue::NULL, &JsValue::from_str(kind), &JsValue::from_str(&message), &data);
    }
}

fn notify_status(observer: &Rc<RefCell<Observer>>, from: &str, to: &str, reason: &str) {
    let callback = observer.try_borrow().ok().map(|observer| observer.on_status.clone());
    if let Some(callback) = callback {
        let _ = callback.call3(&JsValue::NULL, &from.into(), &to.into(), &reason.into());
    }
}

/// What the logger hears about an event: `(kind, message, data)`.
fn log_line(event: &RuntimeEvent) -> Option<(&'static str, String, JsValue)> {
    let line = match event {
        RuntimeEvent::Socket(Event::State(state)) => ("transport", state.as_str().to_owned(), JsValue::UNDEFINED),
        RuntimeEvent::Socket(Event::TransportClosed { code, reason }) => {
            ("transport", format!("closed by the peer (code {code})"), JsValue::from_str(reason))
        }
        RuntimeEvent::Socket(Event::ReconnectScheduled { attempt, delay, .. }) => {
            ("transport", format!("reconnect attempt {attempt} in {delay} ms"), JsValue::UNDEFINED)
        }
        RuntimeEvent::Socket(Event::InvalidEndpoint(message)) => ("error", format!("invalid endpoint: {message}"), JsValue::UNDEFINED),
        RuntimeEvent::Socket(Event::ConnectFailed(message)) => ("error", format!("cannot connect: {message}"), JsValue::UNDEFINED),
        RuntimeEvent::Connection { info, .. } => ("status", format!("{} ({})", info.status.as_str(), info.reason), JsValue::UNDEFINED),
        RuntimeEvent::Socket(Event::FrameError(error)) => ("error", format!("frame dropped: {error}"), JsValue::UNDEFINED),
        RuntimeEvent::Socket(Event::Channel { event, .. }) => match event {
            ChannelEvent::State(state) => ("channel", state.as_str().to_owned(), JsValue::UNDEFINED),
            ChannelEvent::JoinRefused(_) => ("channel", "join refused".to_owned(), JsValue::UNDEFINED),
            ChannelEvent::JoinTimeout => ("channel", "join timed out".to_owned(), JsValue::UNDEFINED),
            ChannelEvent::Errored(cause) => ("channel", format!("errored ({cause:?})"), JsValue::UNDEFINED),
            _ => return None,
        },
        RuntimeEvent::RootStatus { root_id, status, .. } => ("root", format!("{root_id} {}", status.as_str()), JsValue::UNDEFINED),
        RuntimeEvent::Diagnostic { message, .. } => ("diagnostic", message.clone(), JsValue::UNDEFINED),
        RuntimeEvent::PushEvents { root_id, events, .. } => {
            let names: Vec<&str> = events.iter().map(|event| &*event.name).collect();
            ("event", format!("{root_id}: {}", names.join(", ")), JsValue::UNDEFINED)
        }
        RuntimeEvent::StartExternal { uploader, entry, .. } => {
            ("upload", format!("external uploader {uploader} for {}", entry.entry_ref), JsValue::UNDEFINED)
        }
        RuntimeEvent::OutboxChanged { root_id, stores, .. } => {
            ("outbox", format!("{root_id}: {} stores", stores.len()), JsValue::UNDEFINED)
        }
        RuntimeEvent::Settled { .. }
        | RuntimeEvent::StoresChanged { .. }
        | RuntimeEvent::UploadChanged { .. }
        | RuntimeEvent::ReadChunk { .. }
        | RuntimeEvent::AbortExternal { .. }
        | RuntimeEvent::ReleaseFile { .. } => return None,
    };
    Some(line)
}

/// The JS name of a wire mode.
fn wire_name(wire: WireMode) -> &'static str {
    match wire {
        WireMode::Connection => "connection",
        WireMode::PerRoot => "per-root",
        WireMode::Auto => "auto",
    }
}

/// A rejection value the JS layer turns into `MusubiCommandError` or `Error`, complete:
/// `{name, message, kind, code?, command?, storeId?, reply?}` (messages and codes are built here,
/// once).
pub(super) fn error_object(error: &SyncError) -> JsValue {
    let message = JsValue::from_str(&error.to_string());
    let kind = JsValue::from_str(error.kind());
    match error {
        SyncError::Command(command) => object(&[
            ("name", JsValue::from_str("MusubiCommandError")),
            ("message", message),
            ("kind", kind),
            ("code", command.code.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str)),
            ("command", JsValue::from_str(&command.command)),
            ("storeId", command.store_id.segments().iter().map(|segment| JsValue::from_str(segment)).collect::<js_sys::Array>().into()),
            ("reply", command.reply.as_ref().map_or(JsValue::UNDEFINED, value_to_js)),
        ]),
        SyncError::MountFailed(reply)
        | SyncError::UnmountFailed(reply)
        | SyncError::JoinFailed(reply)
        | SyncError::UploadRefused(reply) => {
            object(&[("name", JsValue::from_str("Error")), ("message", message), ("kind", kind), ("reply", value_to_js(reply))])
        }
        _ => object(&[("name", JsValue::from_str("Error")), ("message", message), ("kind", kind)]),
    }
}

/// The rejection the JS layer uses for calls on a disconnected connection (`"disconnected"`) or
/// an unmounted store (`"unmounted"`), so that its messages live in Rust too.
#[wasm_bindgen(js_name = rawError)]
pub fn raw_error(kind: &str) -> JsValue {
    error_object(&match kind {
        "unmounted" => SyncError::StoreUnmounted,
        _ => SyncError::Disconnected,
    })
}

pub(super) fn rejected(error: &SyncError) -> js_sys::Promise {
    js_sys::Promise::reject(&error_object(error))
}

pub(super) fn plain_error(error: &SyncError) -> JsValue {
    let thrown = js_sys::Error::new(&error.to_string());
    let _ = js_sys::Reflect::set(&thrown, &"kind".into(), &error.kind().into());
    thrown.into()
}

pub(super) fn busy() -> JsValue {
    js_sys::Error::new("musubi-wasm: re-entrant call").into()
}
