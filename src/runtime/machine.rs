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
use super::push_event::PushEvent;
use super::replica::AcceptError;
use super::root::{MountSpec, PendingCommand, RequestId, Root, RootInfo, RootStatus};
use super::status::{ConnectionInfo, ConnectionStatus, Inputs, StatusDeriver};
use super::store_id::{StoreId, StoreKey};
use super::tree::Node;
use super::upload::UploadHandle;
use super::upload_transfer::{EntryView, FileId, JobId, ReadId};
use crate::phoenix::{
    ChannelEvent, ChannelId, CloseCause, ConnectionId, ConnectionState, Event, Millis, Output, Payload, PushError, PushId, Reply,
    ReplyStatus, Socket, SocketConfig,
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
    /// Stores of a root pushed events (after the envelope that carried them was applied and its
    /// `StoresChanged` reported): deliver each to the listeners of its `(store_id, name)`, once.
    PushEvents {
        /// Connection topic.
        topic: Rc<str>,
        /// Root id.
        root_id: Rc<str>,
        /// The events, in the envelope's order.
        events: Vec<PushEvent>,
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
    /// The connection status, reason, attempt or retry time changed (see [`super::status`]).
    Connection {
        /// The status before (equal to `info.status` when only the details changed).
        from: ConnectionStatus,
        /// The new state.
        info: ConnectionInfo,
    },
    /// How many commands wait in the outbox for these stores changed (re-read
    /// [`Runtime::queued`]); their state did not change.
    OutboxChanged {
        /// Connection topic.
        topic: Rc<str>,
        /// Root id.
        root_id: Rc<str>,
        /// The stores whose queued count changed.
        stores: Vec<StoreKey>,
    },
    /// An upload handle's view changed (re-read [`Runtime::upload_view`]).
    UploadChanged {
        /// The handle.
        target: UploadTarget,
    },
    /// Read `[offset, offset + len)` of `file` and answer with [`Runtime::upload_read`].
    ReadChunk {
        /// Pass back with the bytes.
        read: ReadId,
        /// The file.
        file: FileId,
        /// Byte offset.
        offset: u64,
        /// Byte count.
        len: u64,
    },
    /// Call the external uploader `uploader` for `file`; report through
    /// [`Runtime::external_progress`] and [`Runtime::external_finished`].
    StartExternal {
        /// Pass back with its progress and outcome.
        job: JobId,
        /// The file.
        file: FileId,
        /// The registered uploader's name.
        uploader: String,
        /// The preflight's `meta` for it (e.g. a URL).
        meta: Value,
        /// The entry as the handle shows it.
        entry: Box<EntryView>,
    },
    /// Abort the external uploader call `job` (its entry was cancelled or its root went away).
    AbortExternal {
        /// The call.
        job: JobId,
    },
    /// The runtime no longer needs `file`.
    ReleaseFile {
        /// The file.
        file: FileId,
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
    Mount {
        topic: Rc<str>,
        root_id: Rc<str>,
        generation: u64,
    },
    Unmount {
        topic: Rc<str>,
        request: Option<RequestId>,
    },
    Command {
        topic: Rc<str>,
        root_id: Rc<str>,
        command: PendingCommand,
    },
    /// `allow_upload`.
    Preflight(Box<upload::Preflight>),
    /// One chunk of an entry.
    Chunk(upload::EntryAddr),
    /// `cancel_upload` for this cancel or reset request.
    CancelUpload {
        topic: Rc<str>,
        request: RequestId,
    },
    /// `upload_progress` / `upload_error` (nothing waits for the reply).
    UploadNotice {
        topic: Rc<str>,
    },
    /// The final `upload_progress` of an external entry: it is done once this is accepted.
    ExternalComplete(upload::EntryAddr),
}

impl Purpose {
    fn topic(&self) -> &Rc<str> {
        match self {
            Purpose::Mount { topic, .. }
            | Purpose::Unmount { topic, .. }
            | Purpose::Command { topic, .. }
            | Purpose::CancelUpload { topic, .. }
            | Purpose::UploadNotice { topic } => topic,
            Purpose::Preflight(preflight) => preflight.topic(),
            Purpose::Chunk(addr) | Purpose::ExternalComplete(addr) => addr.topic(),
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
    /// The connection status shown to users.
    status: StatusDeriver,
    /// The wire protocol (see [`wire`]).
    wire: wire::Wire,
    /// Transfers, sub-channels, reads and uploader calls (see [`upload`]).
    uploads: upload::UploadBook,
    /// The outbox's bounds, when commands queue by default (see [`outbox`]).
    outbox: Option<OutboxConfig>,
}

impl Runtime {
    /// A runtime over a new socket with this configuration, detecting the wire protocol
    /// ([`WireMode::Auto`]).
    pub fn new(config: SocketConfig) -> Self {
        Runtime::with_wire(config, WireMode::Auto)
    }

    /// A runtime that speaks `wire` (see [`WireMode`]).
    pub fn with_wire(config: SocketConfig, wire: WireMode) -> Self {
        Runtime {
            // Envelopes are parsed straight into the replica's tree, never built as a `Value`.
            socket: Socket::new(config).keep_text_payloads(&["patch"]),
            connections: BTreeMap::new(),
            pushes: HashMap::new(),
            next_request: 0,
            next_generation: 0,
            outputs: VecDeque::new(),
            socket_wanted: true,
            status: StatusDeriver::default(),
            wire: wire.into(),
            uploads: upload::UploadBook::new(),
            outbox: None,
        }
    }

    /// The connection status, with its reason, attempt and retry time.
    pub fn connection_info(&self) -> &ConnectionInfo {
        self.status.info()
    }

    /// Opens the socket now with a fresh retry count (after [`Runtime::close`], or to skip the
    /// wait before the next retry). Roots remount once it is open.
    pub fn open(&mut self, now: Millis) {
        self.socket_wanted = true;
        self.status.reopened();
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
        let runtime = self
            .connections
            .values()
            .flat_map(|c| c.roots.values().flat_map(|r| [r.initial_deadline, r.retry_at]).flatten().chain(c.reopen_at));
        self.socket.poll_timeout().into_iter().chain(runtime).chain(self.outbox_deadline()).min()
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

    /// The WebSocket could not be created (see [`Socket::handle_connect_error`]).
    pub fn handle_connect_error(&mut self, connection: ConnectionId, reason: &str, now: Millis) {
        self.socket.handle_connect_error(connection, reason, now);
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

    /// The page woke up (visible, online, restored): see [`Socket::wake`].
    pub fn wake(&mut self, now: Millis) {
        self.socket.wake(now);
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
        self.expire_outbox(now);
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
        let mounted = self.connections.get(&topic).and_then(|connection| connection.roots.get(&spec.id));
        if let Some(refused) = mounted.and_then(|root| conflict(&root.spec, &spec)) {
            self.settle(request, Err(refused));
            self.pump(now);
            return request;
        }
        let generation = self.fresh_generation();
        let Some(connection) = self.connections.get_mut(&topic) else { return request };
        let root_id = spec.id.clone();
        let joined = connection.joined;
        let mut restart = false;
        let live = match connection.roots.get_mut(&root_id) {
            Some(root) => {
                root.owners = root.owners.saturating_add(1);
                if root.status == RootStatus::Live {
                    true
                } else {
                    root.waiters.push(request);
                    // A failed root gets a fresh start from a new mount.
                    restart = root.status == RootStatus::Failed;
                    false
                }
            }
            None => {
                let mut root = Root::new(spec, generation);
                root.waiters.push(request);
                connection.roots.insert(root_id.clone(), root);
                if connection.joined {
                    self.wire_mount(&topic, &root_id, now);
                }
                false
            }
        };
        if live {
            self.settle(request, Ok(Value::Null));
        }
        if restart {
            self.restart_failed(&topic, &root_id, joined, now);
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
        // An owner whose mount resolved is given back first; with none left, the latest pending
        // mount is cancelled (it settles with `Unmounted`), so every owner is accounted for.
        let mut cancelled = None;
        let last = match connection.roots.get_mut(root_id) {
            None => None,
            Some(root) if root.owners > 1 => {
                root.owners -= 1;
                if usize::try_from(root.owners).unwrap_or(usize::MAX) < root.waiters.len() {
                    cancelled = root.waiters.pop();
                }
                None
            }
            Some(_) => connection.roots.remove(root_id),
        };
        if let Some(waiter) = cancelled {
            self.settle(waiter, Err(SyncError::Unmounted));
        }
        let Some(mut root) = last else {
            self.settle(request, Ok(Value::Null));
            return request;
        };
        let waiters = root.waiters.clone();
        self.fail_root_work(topic, root_id, waiters, &SyncError::Unmounted);
        self.drop_root_uploads(topic, root_id, &SyncError::Unmounted, now);
        self.settle_queued(std::mem::take(&mut root.outbox), &SyncError::Unmounted);
        self.wire_unmount(topic, root_id, &root, request, now);
        self.pump(now);
        request
    }

    /// Sends a command to a store of a mounted root. Settles with the reply's response; a resolved
    /// command does **not** mean its patch has been applied yet (replies precede patches). While
    /// the root is not live it waits in the outbox if the runtime has one (see
    /// [`Runtime::command_with`]), else it fails with [`SyncError::NotConnected`].
    pub fn command(&mut self, topic: &str, root_id: &str, store_id: &StoreId, name: &str, payload: Value, now: Millis) -> RequestId {
        self.command_with(topic, root_id, store_id, name, payload, CommandOptions::default(), now)
    }

    /// Sends a command now (its root is live with nothing queued ahead of it).
    fn send_command(&mut self, topic: &str, root_id: &str, store_id: &StoreId, name: &str, payload: Value, now: Millis) -> RequestId {
        let request = self.request_id();
        let target = self.connections.get(topic).and_then(|c| c.roots.get(root_id).map(|root| (c.joined, root.status)));
        let Some((true, RootStatus::Live)) = target else {
            self.settle(request, Err(SyncError::NotConnected));
            return request;
        };
        match self.wire_command(topic, root_id, store_id, name, payload, now) {
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
        if let Some(mut connection) = self.connections.remove(topic) {
            for waiter in std::mem::take(&mut connection.connect_waiters) {
                self.settle(waiter, Err(SyncError::Disconnected));
            }
            for (root_id, root) in connection.roots.iter_mut() {
                let waiters = std::mem::take(&mut root.waiters);
                self.fail_root_work(topic, root_id, waiters, &SyncError::Disconnected);
                self.drop_root_uploads(topic, root_id, &SyncError::Disconnected, now);
                self.settle_queued(std::mem::take(&mut root.outbox), &SyncError::Disconnected);
            }
            // Replies on the left channel concern nobody any more; pending unmounts are done
            // (the server stops every root of a channel that leaves).
            let mut orphaned: Vec<(PushId, Purpose)> =
                self.pushes.iter().filter(|(_, p)| &**p.topic() == topic).map(|(id, p)| (*id, p.clone())).collect();
            orphaned.sort_unstable_by_key(|(id, _)| *id);
            for (push, purpose) in orphaned {
                self.pushes.remove(&push);
                match purpose {
                    Purpose::Unmount { request: Some(request), .. } => self.settle(request, Ok(Value::Null)),
                    // Whoever waits for these hears that the channel went away.
                    Purpose::Preflight(_) | Purpose::CancelUpload { .. } | Purpose::ExternalComplete(_) => {
                        self.on_push_settled(push, purpose, Err(PushError::ChannelClosed), now)
                    }
                    _ => {}
                }
            }
            self.wire_leave(&connection, now);
        }
        self.settle(request, Ok(Value::Null));
        self.pump(now);
        request
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
        // A root showing cached state stays `cached` through outages until it is first live.
        if root.status == status || (root.status == RootStatus::Cached && status == RootStatus::Stale) {
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
            let (channel, joined) = self.wire_open(&topic, now);
            self.connections.insert(
                topic.clone(),
                Connection { channel, joined, connect_waiters: Vec::new(), roots: BTreeMap::new(), reopen_at: None },
            );
        }
        if self.socket_wanted {
            self.socket.connect(now);
        }
        topic
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
        commands.sort_unstable();
        for (push, request) in commands {
            self.pushes.remove(&push);
            self.settle(request, Err(error.clone()));
        }
    }

    /// Drains the socket: transport outputs pass through, events drive the runtime.
    fn pump(&mut self, now: Millis) {
        while let Some(output) = self.socket.poll_output() {
            self.status.observe(&output);
            match output {
                Output::Connect { connection, url, protocols } => self.outputs.push_back(Output::Connect { connection, url, protocols }),
                Output::Send { connection, message } => self.outputs.push_back(Output::Send { connection, message }),
                Output::Close { connection, code, reason } => self.outputs.push_back(Output::Close { connection, code, reason }),
                Output::Event(Event::Channel { channel, event }) => self.on_channel_event(channel, event, now),
                Output::Event(event) => {
                    if let Event::InvalidEndpoint(message) | Event::ConnectFailed(message) = &event {
                        self.on_connect_failed(&SyncError::ConnectFailed(message.clone()), now);
                    }
                    if let Event::State(state) = &event {
                        self.wire_socket_state(*state, now);
                    }
                    self.emit(RuntimeEvent::Socket(event));
                }
            }
        }
        self.flush_upload_changes();
        self.refresh_status(now);
    }

    /// Re-derives the connection status and reports it when anything changed.
    fn refresh_status(&mut self, now: Millis) {
        let inputs = Inputs {
            socket: self.socket.state(),
            all_joined: self.connections.values().all(|connection| connection.joined),
            wanted: self.socket_wanted,
            attempts: self.socket.reconnect_attempts(),
            next_retry_at: self.socket.next_reconnect_at(),
        };
        if let Some(from) = self.status.derive(inputs, now) {
            self.emit(RuntimeEvent::Connection { from, info: self.status.info().clone() });
        }
    }

    /// The socket cannot connect at all: whoever waits for a join, and first mounts, fail now
    /// (roots with state stay readable, stale, until the application opens again).
    fn on_connect_failed(&mut self, error: &SyncError, now: Millis) {
        let topics: Vec<Rc<str>> = self.connections.keys().cloned().collect();
        for topic in topics {
            self.on_join_failed(&topic, error.clone(), now);
        }
    }
}

#[path = "machine_inbound.rs"]
mod inbound;

#[path = "machine_read.rs"]
mod read;

#[path = "wire.rs"]
mod wire;

#[path = "machine_upload.rs"]
mod upload;

#[path = "machine_outbox.rs"]
mod outbox;

#[path = "machine_cache.rs"]
mod cache;

pub(crate) use outbox::Outbox;
pub use outbox::{CommandOptions, OutboxConfig};

pub use upload::{UPLOAD_TOPIC_PREFIX, UploadTarget};
pub use wire::WireMode;

#[cfg(test)]
#[path = "harness.rs"]
mod harness;

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "machine_hardening_tests.rs"]
mod hardening_tests;

#[cfg(test)]
#[path = "machine_event_tests.rs"]
mod event_tests;

#[cfg(test)]
#[path = "machine_mistake_tests.rs"]
mod mistake_tests;

#[cfg(test)]
#[path = "wire_tests.rs"]
mod wire_tests;

#[cfg(test)]
#[path = "wire_trace_tests.rs"]
mod wire_trace_tests;

#[cfg(test)]
#[path = "upload_harness.rs"]
mod upload_harness;

#[cfg(test)]
#[path = "upload_tests.rs"]
mod upload_tests;

#[cfg(test)]
#[path = "upload_handle_tests.rs"]
mod upload_handle_tests;

#[cfg(test)]
#[path = "upload_fault_tests.rs"]
mod upload_fault_tests;

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod outbox_tests;

#[cfg(test)]
#[path = "cache_tests.rs"]
mod cache_tests;

/// Why a mount may not share the root already mounted under its id: another module, or the same
/// module with other params (`None` when it is the same root).
fn conflict(mounted: &MountSpec, requested: &MountSpec) -> Option<SyncError> {
    let describe = |spec: &MountSpec, with_params: bool| {
        if with_params { format!("{} with params {}", spec.module, spec.params) } else { spec.module.clone() }
    };
    let params_differ = mounted.params != requested.params;
    if mounted.module == requested.module && !params_differ {
        return None;
    }
    let with_params = mounted.module == requested.module;
    Some(SyncError::IdInUse {
        id: requested.id.to_string(),
        mounted: describe(mounted, with_params),
        requested: describe(requested, with_params),
    })
}
