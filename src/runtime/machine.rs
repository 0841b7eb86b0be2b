//! The sans-IO Musubi runtime: one per socket, one connection channel per topic, any number of
//! roots per connection (PROTOCOL.md §2). It owns the [`crate::phoenix::Socket`], so a driver (the browser,
//! a test, the simulation) feeds transport inputs here and carries out the same transport outputs.
//!
//! Beyond the reference client it heals itself: after a drop or channel crash the channel rejoins
//! and every root that still has owners is mounted again; the last good state stays readable
//! (status [`RootStatus::Stale`]) until the fresh initial envelope swaps in. Subscribers of every
//! store of the root are notified once when it goes stale and once at the swap, so UIs can show
//! the outage and then the fresh state.
//!
//! ```
//! use musubi_wasm::runtime::{MountSpec, Runtime, RuntimeEvent};
//! use musubi_wasm::phoenix::{Output, SocketConfig};
//! let mut runtime = Runtime::new(SocketConfig::new("ws://127.0.0.1:4000/socket"));
//! let spec = MountSpec { module: "Demo.CounterStore".into(), id: "counter".into(), params: serde_json::json!({}) };
//! let mount = runtime.mount("musubi:connection", spec, 0);
//! assert!(matches!(runtime.poll_output(), Some(Output::Connect { .. })));
//! # let _ = mount;
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;

use serde_json::{Value, json};

use super::envelope::Envelope;
use super::error::{CommandError, SyncError};
use super::replica::AcceptError;
use super::root::{MountSpec, PendingCommand, RequestId, Root, RootInfo, RootStatus};
use super::store_id::{StoreId, StoreKey};
use super::tree::Node;
use super::upload::UploadHandle;
use crate::phoenix::{
    ChannelEvent, ChannelId, CloseCause, ConnectionId, Event, Millis, Output, Payload, PushError, PushId, Reply, ReplyStatus, Socket,
    SocketConfig,
};

/// The default connection topic.
pub const DEFAULT_TOPIC: &str = "musubi:connection";

/// Delay before re-creating a connection channel the server closed.
const REOPEN_DELAY_MS: Millis = 1000;

/// What the runtime reports.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// A socket-level event (connection state, closes, scheduled reconnects, frame errors).
    Socket(Event),
    /// A request finished: connect, mount, unmount and disconnect resolve with `null`, commands
    /// with the server's reply.
    Settled {
        /// The request.
        request: RequestId,
        /// Its outcome.
        result: Result<Value, SyncError>,
    },
    /// Stores of a root changed: notify their subscribers once each.
    StoresChanged {
        /// Connection topic.
        topic: Rc<str>,
        /// Root id.
        root_id: Rc<str>,
        /// The changed stores.
        stores: Vec<StoreKey>,
    },
    /// A root's status changed.
    RootStatus {
        /// Connection topic.
        topic: Rc<str>,
        /// Root id.
        root_id: Rc<str>,
        /// The new status.
        status: RootStatus,
    },
    /// An envelope was ignored or triggered recovery (diagnostics; nothing to do).
    Diagnostic {
        /// Connection topic.
        topic: Rc<str>,
        /// What happened.
        message: String,
    },
}

/// What a push was for.
#[derive(Debug, Clone)]
enum Purpose {
    Mount { topic: Rc<str>, root_id: Rc<str>, generation: u64 },
    Unmount { topic: Rc<str>, request: Option<RequestId> },
    Command { topic: Rc<str>, root_id: Rc<str>, command: PendingCommand },
}

impl Purpose {
    fn topic(&self) -> &Rc<str> {
        match self {
            Purpose::Mount { topic, .. } | Purpose::Unmount { topic, .. } | Purpose::Command { topic, .. } => topic,
        }
    }
}

/// One connection channel and its roots.
#[derive(Debug)]
struct Connection {
    channel: ChannelId,
    joined: bool,
    connect_waiters: Vec<RequestId>,
    roots: BTreeMap<Rc<str>, Root>,
    reopen_at: Option<Millis>,
}

/// The Musubi runtime state machine. See the module docs.
#[derive(Debug)]
pub struct Runtime {
    socket: Socket,
    connections: BTreeMap<Rc<str>, Connection>,
    pushes: HashMap<PushId, Purpose>,
    next_request: u64,
    /// Root generations are unique across the runtime, so a push made for an earlier root with
    /// the same id can never be taken for the current one.
    next_generation: u64,
    outputs: VecDeque<Output<RuntimeEvent>>,
    /// Whether connects and mounts may open the socket (false after [`Runtime::close`]).
    socket_wanted: bool,
}

impl Runtime {
    /// A runtime over a new socket with this configuration.
    pub fn new(config: SocketConfig) -> Self {
        Runtime {
            socket: Socket::new(config),
            connections: BTreeMap::new(),
            pushes: HashMap::new(),
            next_request: 0,
            next_generation: 0,
            outputs: VecDeque::new(),
            socket_wanted: true,
        }
    }

    /// Opens the socket now with a fresh retry count (after [`Runtime::close`], or to skip the
    /// wait before the next retry). Roots remount once it is open.
    pub fn open(&mut self, now: Millis) {
        self.socket_wanted = true;
        self.socket.connect_fresh(now);
        self.pump(now);
    }

    /// Closes the socket and stops retrying until [`Runtime::open`]. Roots stay mounted and
    /// readable as stale; pending requests fail with [`SyncError::Disconnected`]. Requests made
    /// while closed wait (with their timeouts running) for the next open.
    pub fn close(&mut self, now: Millis) {
        self.socket_wanted = false;
        self.socket.disconnect(1000, "closed by the application");
        self.pump(now);
    }

    /// True unless the socket was closed by [`Runtime::close`].
    pub fn socket_wanted(&self) -> bool {
        self.socket_wanted
    }

    /// The underlying socket (read-only: state, reconnect attempts, …).
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    // ---- driver interface ----

    /// The next output: transport work for the driver, or an event for the application.
    pub fn poll_output(&mut self) -> Option<Output<RuntimeEvent>> {
        self.outputs.pop_front()
    }

    /// The earliest deadline of the socket or the runtime.
    pub fn poll_timeout(&self) -> Option<Millis> {
        let runtime = self.connections.values().flat_map(|c| c.roots.values().filter_map(|r| r.initial_deadline).chain(c.reopen_at));
        self.socket.poll_timeout().into_iter().chain(runtime).min()
    }

    /// The WebSocket opened.
    pub fn handle_open(&mut self, connection: ConnectionId, now: Millis) {
        self.socket.handle_open(connection, now);
        self.pump(now);
    }

    /// The WebSocket closed.
    pub fn handle_close(&mut self, connection: ConnectionId, code: u16, reason: &str, now: Millis) {
        self.socket.handle_close(connection, code, reason, now);
        self.pump(now);
    }

    /// A text frame arrived.
    pub fn handle_text(&mut self, connection: ConnectionId, text: &str, now: Millis) {
        self.socket.handle_text(connection, text, now);
        self.pump(now);
    }

    /// A binary frame arrived.
    pub fn handle_binary(&mut self, connection: ConnectionId, bytes: &[u8], now: Millis) {
        self.socket.handle_binary(connection, bytes, now);
        self.pump(now);
    }

    /// The page came back online or became visible.
    pub fn reconnect_now(&mut self, now: Millis) {
        self.socket.reconnect_now(now);
        self.pump(now);
    }

    /// Runs every due timer.
    pub fn handle_timeout(&mut self, now: Millis) {
        self.socket.handle_timeout(now);
        self.pump(now);
        let topics: Vec<Rc<str>> = self.connections.keys().cloned().collect();
        for topic in topics {
            self.run_connection_timers(&topic, now);
        }
        self.pump(now);
    }

    // ---- application interface ----

    /// Connects the socket and joins the connection channel for `topic` (idempotent). Settles when
    /// the join succeeds (at once if it already has).
    pub fn connect(&mut self, topic: &str, now: Millis) -> RequestId {
        let request = self.request_id();
        let topic = self.ensure_connection(topic, now);
        match self.connections.get_mut(&topic) {
            Some(connection) if connection.joined => self.settle(request, Ok(Value::Null)),
            Some(connection) => connection.connect_waiters.push(request),
            None => self.settle(request, Err(SyncError::Disconnected)),
        }
        self.pump(now);
        request
    }

    /// Mounts a root (or adds an owner to an already mounted one). Settles once the initial
    /// envelope was applied.
    pub fn mount(&mut self, topic: &str, spec: MountSpec, now: Millis) -> RequestId {
        let request = self.request_id();
        if spec.id.is_empty() {
            self.settle(request, Err(SyncError::Invalid("root id must not be empty")));
            return request;
        }
        let topic = self.ensure_connection(topic, now);
        let generation = self.fresh_generation();
        let Some(connection) = self.connections.get_mut(&topic) else { return request };
        let root_id = spec.id.clone();
        let live = match connection.roots.get_mut(&root_id) {
            Some(root) => {
                root.owners = root.owners.saturating_add(1);
                if root.status == RootStatus::Live {
                    true
                } else {
                    root.waiters.push(request);
                    false
                }
            }
            None => {
                let mut root = Root::new(spec, generation);
                root.waiters.push(request);
                connection.roots.insert(root_id.clone(), root);
                if connection.joined {
                    self.send_mount(&topic, &root_id, now);
                }
                false
            }
        };
        if live {
            self.settle(request, Ok(Value::Null));
        }
        self.pump(now);
        request
    }

    /// Drops one owner of a root; the last owner unmounts it (pending work fails with
    /// [`SyncError::Unmounted`]). Settles when the server confirmed (at once if nothing to send).
    pub fn unmount(&mut self, topic: &str, root_id: &str, now: Millis) -> RequestId {
        let request = self.request_id();
        let Some(connection) = self.connections.get_mut(topic) else {
            self.settle(request, Ok(Value::Null));
            return request;
        };
        let joined = connection.joined;
        let channel = connection.channel;
        let last = match connection.roots.get_mut(root_id) {
            None => None,
            Some(root) if root.owners > 1 => {
                root.owners -= 1;
                None
            }
            Some(_) => connection.roots.remove(root_id),
        };
        let Some(root) = last else {
            self.settle(request, Ok(Value::Null));
            return request;
        };
        self.fail_root_work(topic, root_id, root.waiters, &SyncError::Unmounted);
        if joined {
            match self.socket.push(channel, "unmount", Payload::Json(json!({"root_id": root_id})), now) {
                Ok(push) => {
                    self.pushes.insert(push, Purpose::Unmount { topic: topic.into(), request: Some(request) });
                }
                Err(_) => self.settle(request, Ok(Value::Null)),
            }
        } else {
            self.settle(request, Ok(Value::Null));
        }
        self.pump(now);
        request
    }

    /// Sends a command to a store of a mounted root. Settles with the reply's response; a resolved
    /// command does **not** mean its patch has been applied yet (replies precede patches).
    pub fn command(&mut self, topic: &str, root_id: &str, store_id: &StoreId, name: &str, payload: Value, now: Millis) -> RequestId {
        let request = self.request_id();
        let target = self.connections.get(topic).and_then(|c| c.roots.get(root_id).map(|root| (c.channel, c.joined, root.status)));
        let Some((channel, true, RootStatus::Live)) = target else {
            self.settle(request, Err(SyncError::NotConnected));
            return request;
        };
        let body = json!({"root_id": root_id, "store_id": store_id.to_json(), "name": name, "payload": payload});
        match self.socket.push(channel, "command", Payload::Json(body), now) {
            Ok(push) => {
                let command = PendingCommand { request, name: name.to_owned(), store_id: store_id.clone() };
                self.pushes.insert(push, Purpose::Command { topic: topic.into(), root_id: root_id.into(), command });
            }
            Err(_) => self.settle(request, Err(SyncError::NotConnected)),
        }
        self.pump(now);
        request
    }

    /// Leaves the connection channel: every root's pending work fails with
    /// [`SyncError::Disconnected`] and the roots are forgotten (the server stops them).
    pub fn disconnect(&mut self, topic: &str, now: Millis) -> RequestId {
        let request = self.request_id();
        if let Some(connection) = self.connections.remove(topic) {
            for waiter in connection.connect_waiters {
                self.settle(waiter, Err(SyncError::Disconnected));
            }
            for (root_id, root) in connection.roots {
                self.fail_root_work(topic, &root_id, root.waiters, &SyncError::Disconnected);
            }
            // Replies on the left channel concern nobody any more; pending unmounts are done
            // (the server stops every root of a channel that leaves).
            let mut orphaned: Vec<(PushId, Purpose)> =
                self.pushes.iter().filter(|(_, p)| &**p.topic() == topic).map(|(id, p)| (*id, p.clone())).collect();
            orphaned.sort_by_key(|(id, _)| *id);
            for (push, purpose) in orphaned {
                self.pushes.remove(&push);
                if let Purpose::Unmount { request: Some(request), .. } = purpose {
                    self.settle(request, Ok(Value::Null));
                }
            }
            self.socket.leave(connection.channel, now);
        }
        self.settle(request, Ok(Value::Null));
        self.pump(now);
        request
    }

    /// The status of a root.
    pub fn root_status(&self, topic: &str, root_id: &str) -> Option<RootStatus> {
        self.root(topic, root_id).map(|root| root.status)
    }

    /// The version of a root's replica (0 while waiting for an initial envelope).
    pub fn root_version(&self, topic: &str, root_id: &str) -> Option<u64> {
        self.root(topic, root_id).map(|root| root.replica.version())
    }

    /// How many owners a root has.
    pub fn root_owners(&self, topic: &str, root_id: &str) -> Option<u32> {
        self.root(topic, root_id).map(|root| root.owners)
    }

    /// The roots of a connection topic, ordered by id.
    pub fn roots(&self, topic: &str) -> Vec<RootInfo> {
        let Some(connection) = self.connections.get(topic) else { return Vec::new() };
        connection
            .roots
            .iter()
            .map(|(id, root)| RootInfo {
                id: id.clone(),
                module: root.spec.module.clone(),
                status: root.status,
                version: root.replica.version(),
                owners: root.owners,
            })
            .collect()
    }

    /// The snapshot of a store (cached until it changes); `None` if the root is unknown or has no
    /// state yet.
    pub fn snapshot(&mut self, topic: &str, root_id: &str, store_id: &StoreId) -> Option<Node> {
        let root = self.root_mut(topic, root_id)?;
        if root.status == RootStatus::Mounting {
            return None;
        }
        Some(root.replica.snapshot(store_id))
    }

    /// One field of a store, resolved like its snapshot shows it.
    pub fn read(&mut self, topic: &str, root_id: &str, store_id: &StoreId, field: &str) -> Option<Node> {
        self.root_mut(topic, root_id)?.replica.read_field(store_id, field)
    }

    /// The items of a store's stream, in order (`None` if the root is unknown or has no state).
    pub fn stream(&self, topic: &str, root_id: &str, store_id: &StoreId, name: &str) -> Option<Node> {
        let root = self.root(topic, root_id).filter(|root| root.status != RootStatus::Mounting)?;
        Some(root.replica.streams().items_node(&store_id.key(), name))
    }

    /// The ids of the stores a root currently has.
    pub fn store_ids(&self, topic: &str, root_id: &str) -> Vec<StoreId> {
        let mut ids: Vec<StoreId> =
            self.root(topic, root_id).map(|root| root.replica.index().values().map(|store| store.id.clone()).collect()).unwrap_or_default();
        ids.sort();
        ids
    }

    /// The wire tree of a root (for inspection and tests).
    pub fn tree(&self, topic: &str, root_id: &str) -> Option<&Node> {
        self.root(topic, root_id).map(|root| root.replica.tree())
    }

    /// An upload handle's state.
    pub fn upload(&self, topic: &str, root_id: &str, store_id: &StoreId, name: &str) -> Option<&UploadHandle> {
        self.root(topic, root_id)?.replica.uploads().handle(&store_id.key(), name)
    }

    /// How many pushes await a reply (for leak checks).
    pub fn pending_pushes(&self) -> usize {
        self.pushes.len()
    }

    // ---- internals ----

    fn root(&self, topic: &str, root_id: &str) -> Option<&Root> {
        self.connections.get(topic)?.roots.get(root_id)
    }

    fn root_mut(&mut self, topic: &str, root_id: &str) -> Option<&mut Root> {
        self.connections.get_mut(topic)?.roots.get_mut(root_id)
    }

    fn fresh_generation(&mut self) -> u64 {
        self.next_generation = self.next_generation.wrapping_add(1);
        self.next_generation
    }

    fn request_id(&mut self) -> RequestId {
        self.next_request = self.next_request.wrapping_add(1);
        RequestId(self.next_request)
    }

    fn emit(&mut self, event: RuntimeEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn settle(&mut self, request: RequestId, result: Result<Value, SyncError>) {
        self.emit(RuntimeEvent::Settled { request, result });
    }

    /// Sets a root's status. Going stale (or recovering) counts as a change of every store of the
    /// root, which shows its last good state: their subscribers hear about it once. Coming back is
    /// reported by the caller together with the fresh state.
    fn set_status(&mut self, topic: &Rc<str>, root_id: &Rc<str>, status: RootStatus) {
        let Some(root) = self.connections.get_mut(topic).and_then(|c| c.roots.get_mut(root_id)) else { return };
        if root.status == status {
            return;
        }
        let went_stale = !root.status.is_stale() && status.is_stale();
        root.status = status;
        let stores: Vec<StoreKey> = if went_stale { root.replica.index().keys().cloned().collect() } else { Vec::new() };
        self.emit(RuntimeEvent::RootStatus { topic: topic.clone(), root_id: root_id.clone(), status });
        if !stores.is_empty() {
            self.emit(RuntimeEvent::StoresChanged { topic: topic.clone(), root_id: root_id.clone(), stores });
        }
    }

    /// Creates the connection (channel + join + socket connect) if needed; returns its topic key.
    fn ensure_connection(&mut self, topic: &str, now: Millis) -> Rc<str> {
        let topic: Rc<str> = self.connections.get_key_value(topic).map_or_else(|| topic.into(), |(key, _)| key.clone());
        if !self.connections.contains_key(&topic) {
            let channel = self.open_channel(&topic, now);
            self.connections.insert(
                topic.clone(),
                Connection { channel, joined: false, connect_waiters: Vec::new(), roots: BTreeMap::new(), reopen_at: None },
            );
        }
        if self.socket_wanted {
            self.socket.connect(now);
        }
        topic
    }

    fn open_channel(&mut self, topic: &str, now: Millis) -> ChannelId {
        let channel = self.socket.replace_channel(topic, json!({}), now);
        // A fresh channel object can always join.
        let _ = self.socket.join(channel, now);
        channel
    }

    /// Pushes `mount` for a root's current generation.
    fn send_mount(&mut self, topic: &Rc<str>, root_id: &Rc<str>, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let channel = connection.channel;
        let Some(root) = connection.roots.get_mut(root_id) else { return };
        let body = json!({"module": root.spec.module, "id": &*root.spec.id, "params": root.spec.params});
        root.mount_sent = true;
        let generation = root.generation;
        match self.socket.push(channel, "mount", Payload::Json(body), now) {
            Ok(push) => {
                self.pushes.insert(push, Purpose::Mount { topic: topic.clone(), root_id: root_id.clone(), generation });
            }
            Err(error) => self.mount_failed(topic, root_id, &mount_error(&Err(error)), false, now),
        }
    }

    /// Fails a root's pending mount waiters and in-flight commands.
    fn fail_root_work(&mut self, topic: &str, root_id: &str, waiters: Vec<RequestId>, error: &SyncError) {
        for waiter in waiters {
            self.settle(waiter, Err(error.clone()));
        }
        let mut commands: Vec<(PushId, RequestId)> = self
            .pushes
            .iter()
            .filter_map(|(push, purpose)| match purpose {
                Purpose::Command { topic: t, root_id: r, command } if &**t == topic && &**r == root_id => Some((*push, command.request)),
                _ => None,
            })
            .collect();
        commands.sort();
        for (push, request) in commands {
            self.pushes.remove(&push);
            self.settle(request, Err(error.clone()));
        }
    }

    /// Drains the socket: transport outputs pass through, events drive the runtime.
    fn pump(&mut self, now: Millis) {
        while let Some(output) = self.socket.poll_output() {
            match output {
                Output::Connect { connection, url, protocols } => self.outputs.push_back(Output::Connect { connection, url, protocols }),
                Output::Send { connection, message } => self.outputs.push_back(Output::Send { connection, message }),
                Output::Close { connection, code, reason } => self.outputs.push_back(Output::Close { connection, code, reason }),
                Output::Event(Event::Channel { channel, event }) => self.on_channel_event(channel, event, now),
                Output::Event(event) => self.emit(RuntimeEvent::Socket(event)),
            }
        }
    }

    fn topic_of(&self, channel: ChannelId) -> Option<Rc<str>> {
        self.connections.iter().find(|(_, c)| c.channel == channel).map(|(topic, _)| topic.clone())
    }

    fn on_channel_event(&mut self, channel: ChannelId, event: ChannelEvent, now: Millis) {
        if let ChannelEvent::PushSettled { push, result } = event {
            if let Some(purpose) = self.pushes.remove(&push) {
                self.on_push_settled(purpose, result, now);
            }
            return;
        }
        let Some(topic) = self.topic_of(channel) else { return };
        match event {
            ChannelEvent::Joined(_) => self.on_joined(&topic, now),
            ChannelEvent::JoinRefused(response) => self.on_join_failed(&topic, SyncError::JoinFailed(json_of(&response))),
            ChannelEvent::JoinTimeout => self.on_join_failed(&topic, SyncError::JoinTimeout),
            ChannelEvent::Errored(_) => self.on_channel_lost(&topic),
            ChannelEvent::Closed(cause) => {
                self.on_channel_lost(&topic);
                if cause != CloseCause::Left
                    && let Some(connection) = self.connections.get_mut(&topic)
                {
                    connection.reopen_at = Some(now.saturating_add(REOPEN_DELAY_MS));
                }
            }
            ChannelEvent::Message { event, payload } if event == "patch" => self.on_envelope(&topic, &payload, now),
            ChannelEvent::Message { .. } | ChannelEvent::State(_) | ChannelEvent::PushSettled { .. } => {}
        }
    }

    fn on_joined(&mut self, topic: &Rc<str>, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        connection.joined = true;
        let waiters = std::mem::take(&mut connection.connect_waiters);
        let to_mount: Vec<Rc<str>> = connection.roots.iter().filter(|(_, root)| !root.mount_sent).map(|(id, _)| id.clone()).collect();
        for waiter in waiters {
            self.settle(waiter, Ok(Value::Null));
        }
        for root_id in to_mount {
            self.send_mount(topic, &root_id, now);
        }
    }

    /// The join was refused or timed out: connect waiters and first mounts fail; roots that have
    /// state keep it and remount once a later rejoin succeeds.
    fn on_join_failed(&mut self, topic: &Rc<str>, error: SyncError) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let waiters = std::mem::take(&mut connection.connect_waiters);
        let first_mounts: Vec<Rc<str>> = connection.roots.iter().filter(|(_, root)| !root.has_state()).map(|(id, _)| id.clone()).collect();
        let mut failed = Vec::new();
        for root_id in first_mounts {
            if let Some(root) = connection.roots.remove(&root_id) {
                failed.push((root_id, root.waiters));
            }
        }
        for waiter in waiters {
            self.settle(waiter, Err(error.clone()));
        }
        for (root_id, waiters) in failed {
            self.fail_root_work(topic, &root_id, waiters, &error);
        }
    }

    /// The channel errored or closed: in-flight commands fail with `Disconnected`; every root keeps
    /// its last good state (stale) and is mounted again after the rejoin.
    fn on_channel_lost(&mut self, topic: &Rc<str>) {
        let generation = self.fresh_generation();
        let Some(connection) = self.connections.get_mut(topic) else { return };
        connection.joined = false;
        let mut stale = Vec::new();
        for (root_id, root) in connection.roots.iter_mut() {
            root.generation = generation;
            root.mount_sent = false;
            root.initial_deadline = None;
            if root.status != RootStatus::Mounting {
                root.replica.expect_initial();
                stale.push(root_id.clone());
            }
        }
        let root_ids: Vec<Rc<str>> = connection.roots.keys().cloned().collect();
        for root_id in &root_ids {
            self.fail_root_work(topic, root_id, Vec::new(), &SyncError::Disconnected);
        }
        for root_id in stale {
            self.set_status(topic, &root_id, RootStatus::Stale);
        }
    }

    fn run_connection_timers(&mut self, topic: &Rc<str>, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        if connection.reopen_at.is_some_and(|at| at <= now) {
            connection.reopen_at = None;
            let channel = self.open_channel(topic, now);
            if let Some(connection) = self.connections.get_mut(topic) {
                connection.channel = channel;
            }
        }
        let Some(connection) = self.connections.get(topic) else { return };
        let expired: Vec<Rc<str>> = connection
            .roots
            .iter()
            .filter(|(_, root)| root.initial_deadline.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for root_id in expired {
            if let Some(root) = self.root_mut(topic, &root_id) {
                root.initial_deadline = None;
            }
            self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("no initial envelope for {root_id} in time") });
            self.mount_failed(topic, &root_id, &SyncError::MountTimeout, true, now);
        }
    }

    fn on_push_settled(&mut self, purpose: Purpose, result: Result<Reply, PushError>, now: Millis) {
        match purpose {
            Purpose::Command { command, .. } => {
                let outcome = command_outcome(&command, result);
                self.settle(command.request, outcome);
            }
            Purpose::Unmount { request: Some(request), .. } => {
                let outcome = match result {
                    Ok(reply) if reply.is_ok() => Ok(Value::Null),
                    Ok(reply) => Err(SyncError::UnmountFailed(json_of(&reply.response))),
                    Err(PushError::Timeout) => Err(SyncError::UnmountTimeout),
                    // The channel is gone, and the server root with it.
                    Err(_) => Ok(Value::Null),
                };
                self.settle(request, outcome);
            }
            Purpose::Unmount { request: None, .. } => {}
            Purpose::Mount { topic, root_id, generation } => {
                let current = self.root(&topic, &root_id).is_some_and(|root| root.generation == generation);
                if !current {
                    return;
                }
                match result {
                    Ok(reply) if reply.is_ok() => {
                        let returned = reply.response.as_json().and_then(|r| r.get("root_id")).and_then(Value::as_str).map(str::to_owned);
                        match returned {
                            Some(other) if *other != *root_id => {
                                self.mount_failed(&topic, &root_id, &SyncError::UnexpectedRootId(other), false, now)
                            }
                            _ => {
                                let timeout = self.socket.config().options.timeout_ms;
                                if let Some(root) = self.root_mut(&topic, &root_id)
                                    && root.replica.version() == 0
                                {
                                    root.initial_deadline = Some(now.saturating_add(timeout));
                                }
                            }
                        }
                    }
                    // The server still runs an earlier mount of this id (e.g. one we gave up on):
                    // unmount it and mount again, once per attempt.
                    Ok(reply)
                        if is_already_mounted(&reply) && self.root(&topic, &root_id).is_some_and(|root| !root.retried_already_mounted) =>
                    {
                        if let Some(root) = self.root_mut(&topic, &root_id) {
                            root.retried_already_mounted = true;
                        }
                        self.unmount_then_mount(&topic, &root_id, now);
                    }
                    // The channel went away: the rejoin mounts again.
                    Err(PushError::ConnectionLost | PushError::ChannelErrored | PushError::ChannelClosed) => {}
                    Err(PushError::Timeout) => self.mount_failed(&topic, &root_id, &SyncError::MountTimeout, true, now),
                    other => self.mount_failed(&topic, &root_id, &mount_error(&other), false, now),
                }
            }
        }
    }

    /// A (re)mount failed: its waiters get the error and give up their ownership. A root without
    /// state (or without owners left) is forgotten; `server_may_have_it` also tells the server to
    /// drop it (the mount may have succeeded late). A root with state stays readable and is
    /// retried at the next rejoin.
    fn mount_failed(&mut self, topic: &Rc<str>, root_id: &Rc<str>, error: &SyncError, server_may_have_it: bool, now: Millis) {
        if let Some(root) = self.root_mut(topic, root_id) {
            root.mount_sent = false;
        }
        self.reject_mounts(topic, root_id, error, server_may_have_it, now);
    }

    /// Settles a root's pending mount requests with `error` and removes the owners they added.
    fn reject_mounts(&mut self, topic: &Rc<str>, root_id: &Rc<str>, error: &SyncError, server_may_have_it: bool, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let (channel, joined) = (connection.channel, connection.joined);
        let Some(root) = connection.roots.get_mut(root_id) else { return };
        let waiters = std::mem::take(&mut root.waiters);
        root.owners = root.owners.saturating_sub(u32::try_from(waiters.len()).unwrap_or(u32::MAX));
        let forget = !root.has_state() || root.owners == 0;
        let mounted_on_server = root.has_state() || server_may_have_it;
        if forget {
            connection.roots.remove(root_id);
            if joined
                && mounted_on_server
                && let Ok(push) = self.socket.push(channel, "unmount", Payload::Json(json!({"root_id": &**root_id})), now)
            {
                self.pushes.insert(push, Purpose::Unmount { topic: topic.clone(), request: None });
            }
        }
        for waiter in waiters {
            self.settle(waiter, Err(error.clone()));
        }
    }

    fn on_envelope(&mut self, topic: &Rc<str>, payload: &Payload, now: Millis) {
        let parsed = match payload {
            Payload::Json(value) => Envelope::parse(&Node::from_json(value)),
            Payload::Binary(_) => Err(super::envelope::EnvelopeError("binary payload")),
        };
        let envelope = match parsed {
            Ok(envelope) => envelope,
            Err(error) => {
                self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: error.to_string() });
                return;
            }
        };
        let root_id = envelope.root_id.clone();
        let Some(root) = self.root_mut(topic, &root_id) else {
            self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("ignored envelope for unknown root {root_id}") });
            return;
        };
        let was_stale = root.status.is_stale();
        match root.replica.accept(&envelope) {
            Ok(mut changes) => {
                if was_stale {
                    // Back from stale: every store's staleness changed with its state.
                    for key in root.replica.index().keys() {
                        if !changes.notify.contains(key) {
                            changes.notify.push(key.clone());
                        }
                    }
                }
                if changes.initial {
                    root.initial_deadline = None;
                    root.retried_already_mounted = false;
                    let waiters = std::mem::take(&mut root.waiters);
                    self.set_status(topic, &root_id, RootStatus::Live);
                    for waiter in waiters {
                        self.settle(waiter, Ok(Value::Null));
                    }
                }
                if !changes.notify.is_empty() {
                    self.emit(RuntimeEvent::StoresChanged { topic: topic.clone(), root_id, stores: changes.notify });
                }
            }
            Err(AcceptError::NotInitial) => {
                let message = format!(
                    "ignored envelope {} → {} for {root_id} while waiting for its initial envelope",
                    envelope.base_version, envelope.version
                );
                self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message });
            }
            Err(error) => self.recover(topic, &root_id, &error.to_string(), now),
        }
    }

    /// Version-mismatch recovery (§2.13): pending work fails with `VersionMismatch`, the last good
    /// state stays readable, `unmount` then `mount` are pushed, and only an initial envelope is
    /// accepted until the fresh state arrives.
    fn recover(&mut self, topic: &Rc<str>, root_id: &Rc<str>, reason: &str, now: Millis) {
        let generation = self.fresh_generation();
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let joined = connection.joined;
        let Some(root) = connection.roots.get_mut(root_id) else { return };
        if root.status == RootStatus::Recovering {
            return;
        }
        root.generation = generation;
        root.mount_sent = false;
        root.replica.expect_initial();
        self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("recovering {root_id}: {reason}") });
        self.set_status(topic, root_id, RootStatus::Recovering);
        self.reject_mounts(topic, root_id, &SyncError::VersionMismatch, false, now);
        self.fail_root_work(topic, root_id, Vec::new(), &SyncError::VersionMismatch);
        if self.root(topic, root_id).is_none() {
            // The rejected mounts were its only owners: it was unmounted instead.
            return;
        }
        if joined {
            self.unmount_then_mount(topic, root_id, now);
        }
    }

    /// Pushes a fire-and-forget `unmount` then a fresh `mount` (the server handles them in order).
    fn unmount_then_mount(&mut self, topic: &Rc<str>, root_id: &Rc<str>, now: Millis) {
        let Some(channel) = self.connections.get(topic).map(|c| c.channel) else { return };
        if let Ok(push) = self.socket.push(channel, "unmount", Payload::Json(json!({"root_id": &**root_id})), now) {
            self.pushes.insert(push, Purpose::Unmount { topic: topic.clone(), request: None });
        }
        self.send_mount(topic, root_id, now);
    }
}

fn json_of(payload: &Payload) -> Value {
    match payload {
        Payload::Json(value) => value.clone(),
        Payload::Binary(bytes) => Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
    }
}

fn is_already_mounted(reply: &Reply) -> bool {
    !reply.is_ok() && reply.response.as_json().and_then(|r| r.get("reason")).and_then(Value::as_str) == Some("root already mounted")
}

fn mount_error(result: &Result<Reply, PushError>) -> SyncError {
    match result {
        Ok(reply) => SyncError::MountFailed(json_of(&reply.response)),
        Err(PushError::Timeout) => SyncError::MountTimeout,
        Err(_) => SyncError::NotConnected,
    }
}

fn command_outcome(command: &PendingCommand, result: Result<Reply, PushError>) -> Result<Value, SyncError> {
    match result {
        Ok(Reply { status: ReplyStatus::Ok, response }) => Ok(json_of(&response)),
        Ok(Reply { response, .. }) => Err(CommandError::failed(&command.name, command.store_id.clone(), json_of(&response)).into()),
        Err(PushError::Timeout) => Err(CommandError::timeout(&command.name, command.store_id.clone()).into()),
        Err(PushError::ConnectionLost | PushError::ChannelErrored | PushError::ChannelClosed) => Err(SyncError::Disconnected),
        Err(PushError::NotJoined | PushError::Encode(_)) => Err(SyncError::NotConnected),
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
