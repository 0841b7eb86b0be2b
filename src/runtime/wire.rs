//! The wire seam: how a root is mounted, unmounted, recovered and addressed. Everything else —
//! roots, envelopes, patching, snapshots, streams, uploads, commands and their outcomes — is one
//! code path for both modes, and this module is the only place that tells them apart.
//!
//! | | connection channel (Musubi 0.6.1) | per root (0.12+) |
//! |---|---|---|
//! | channels | one per topic, `musubi:connection` | one per root, `musubi:connection:<module>:<id>` |
//! | mount | push `mount {module, id, params}` | join with `{module, id, params}`; reply `{root_id: "<module>:<id>"}` |
//! | unmount | push `unmount {root_id}` | `phx_leave` |
//! | recovery | `unmount` then `mount` | leave, then join again |
//! | command | `command {root_id, store_id, name, payload}` | `command {store_id, name, payload}` on the root's channel |
//! | upload events | `allow_upload`, `cancel_upload`, … with `root_id` | the same on the root's channel, without `root_id` |
//! | envelopes | routed by `root_id` | routed by channel |
//!
//! [`WireMode::Auto`] (the default) joins the connection channel first: a server that answers
//! `unmatched topic` has no connection channel, so the runtime switches to per-root channels for
//! good; a successful join settles on the connection channel. Any other refusal decides nothing.
//! It costs one join round trip, once, on per-root servers; none on others.

use super::*;
use crate::phoenix::ErrorCause;

/// Which wire protocol the runtime speaks.
///
/// ```
/// use musubi_wasm::runtime::{Runtime, WireMode};
/// use musubi_wasm::phoenix::SocketConfig;
/// let runtime = Runtime::with_wire(SocketConfig::new("ws://h/socket"), WireMode::PerRoot);
/// assert_eq!(runtime.wire(), Some(WireMode::PerRoot));
/// assert_eq!(WireMode::parse("auto"), Some(WireMode::Auto));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WireMode {
    /// Musubi 0.6.1: one connection channel carries every root.
    Connection,
    /// Musubi 0.12+: one channel per root (join is mount, leave is unmount).
    PerRoot,
    /// Detect it: the connection channel if the server has one, else per-root channels.
    #[default]
    Auto,
}

impl WireMode {
    /// `"connection"`, `"per-root"` or `"auto"`.
    pub fn parse(text: &str) -> Option<WireMode> {
        match text {
            "connection" => Some(WireMode::Connection),
            "per-root" => Some(WireMode::PerRoot),
            "auto" => Some(WireMode::Auto),
            _ => None,
        }
    }
}

/// Where the runtime stands with the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// The connection channel protocol.
    Connection,
    /// Per-root channels.
    PerRoot,
    /// Auto mode before the first join answer: speaks the connection protocol meanwhile.
    Detecting,
}

impl From<WireMode> for Wire {
    fn from(mode: WireMode) -> Self {
        match mode {
            WireMode::Connection => Wire::Connection,
            WireMode::PerRoot => Wire::PerRoot,
            WireMode::Auto => Wire::Detecting,
        }
    }
}

/// What a channel is for.
pub(crate) enum ChannelRole {
    /// The connection channel of a topic.
    Connection(Rc<str>),
    /// The channel of one root (per-root mode): its topic and root id.
    Root(Rc<str>, Rc<str>),
}

/// The per-root channel topic of a root: `<base topic>:<module>:<id>`.
pub(crate) fn root_topic(base: &str, spec: &MountSpec) -> String {
    format!("{base}:{}:{}", spec.module, spec.id)
}

/// The root id a per-root server names a root by: `<module>:<id>`.
pub(crate) fn wire_root_id(spec: &MountSpec) -> String {
    format!("{}:{}", spec.module, spec.id)
}

impl Runtime {
    /// The wire protocol in use (`None` while auto mode has not heard a join answer yet).
    pub fn wire(&self) -> Option<WireMode> {
        match self.wire {
            Wire::Connection => Some(WireMode::Connection),
            Wire::PerRoot => Some(WireMode::PerRoot),
            Wire::Detecting => None,
        }
    }

    /// Opens what a connection topic needs: its connection channel, joined once answered; or,
    /// per root, nothing to join (the topic is usable while the socket is open).
    pub(super) fn wire_open(&mut self, topic: &str, now: Millis) -> (ChannelId, bool) {
        match self.wire {
            Wire::PerRoot => (ChannelId::NONE, self.socket.is_connected()),
            Wire::Connection | Wire::Detecting => {
                let channel = self.socket.replace_channel(topic, json!({}), now);
                // A fresh channel object can always join.
                let _ = self.socket.join(channel, now);
                (channel, false)
            }
        }
    }

    /// What `channel` is for.
    pub(super) fn channel_role(&self, channel: ChannelId) -> Option<ChannelRole> {
        for (topic, connection) in &self.connections {
            if connection.channel == channel && channel != ChannelId::NONE {
                return Some(ChannelRole::Connection(topic.clone()));
            }
            if let Some((root_id, _)) = connection.roots.iter().find(|(_, root)| root.channel == Some(channel)) {
                return Some(ChannelRole::Root(topic.clone(), root_id.clone()));
            }
        }
        None
    }

    /// Mounts a root's current generation: a `mount` push, or its own channel's join.
    pub(super) fn wire_mount(&mut self, topic: &Rc<str>, root_id: &Rc<str>, now: Millis) {
        let wire = self.wire;
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let channel = connection.channel;
        let Some(root) = connection.roots.get_mut(root_id) else { return };
        root.mount_sent = true;
        let generation = root.generation;
        let body = json!({"module": root.spec.module, "id": &*root.spec.id, "params": root.spec.params});
        if wire == Wire::PerRoot {
            // A fresh channel object (the old one, if any, is left first): its join is the mount.
            let root_channel = self.socket.replace_channel(&root_topic(topic, &root.spec), body, now);
            root.channel = Some(root_channel);
            let _ = self.socket.join(root_channel, now);
            return;
        }
        match self.socket.push(channel, "mount", Payload::Json(body), now) {
            Ok(push) => {
                self.pushes.insert(push, Purpose::Mount { topic: topic.clone(), root_id: root_id.clone(), generation });
            }
            Err(error) => self.mount_failed(topic, root_id, &inbound::mount_error(&Err(error)), false, now),
        }
    }

    /// Tells the server to drop a root the client gave up (fire and forget): its channel is left,
    /// or (when the server may have mounted it) `unmount` is pushed.
    pub(super) fn wire_release(
        &mut self,
        topic: &Rc<str>,
        root_id: &Rc<str>,
        root_channel: Option<ChannelId>,
        server_may_have_it: bool,
        now: Millis,
    ) {
        if let Some(channel) = root_channel {
            self.socket.leave(channel, now);
            return;
        }
        if !server_may_have_it {
            return;
        }
        let Some(connection) = self.connections.get(topic).filter(|connection| connection.joined) else { return };
        let channel = connection.channel;
        if let Ok(push) = self.socket.push(channel, "unmount", Payload::Json(json!({"root_id": &**root_id})), now) {
            self.pushes.insert(push, Purpose::Unmount { topic: topic.clone(), request: None });
        }
    }

    /// The last owner unmounted `root` (already removed): settles `request` when the server
    /// confirmed (a leave is confirmed at once).
    pub(super) fn wire_unmount(&mut self, topic: &str, root_id: &str, root: &Root, request: RequestId, now: Millis) {
        if let Some(channel) = root.channel {
            self.socket.leave(channel, now);
            self.settle(request, Ok(Value::Null));
            return;
        }
        let Some(channel) = self.connections.get(topic).filter(|connection| connection.joined).map(|connection| connection.channel) else {
            self.settle(request, Ok(Value::Null));
            return;
        };
        match self.socket.push(channel, "unmount", Payload::Json(json!({"root_id": root_id})), now) {
            Ok(push) => {
                self.pushes.insert(push, Purpose::Unmount { topic: topic.into(), request: Some(request) });
            }
            Err(_) => self.settle(request, Ok(Value::Null)),
        }
    }

    /// Mounts again after a refused envelope or a failed remount: `unmount` + `mount`, or leave +
    /// join on a fresh channel.
    pub(super) fn wire_remount(&mut self, topic: &Rc<str>, root_id: &Rc<str>, now: Millis) {
        if self.wire != Wire::PerRoot {
            self.wire_release(topic, root_id, None, true, now);
        }
        self.wire_mount(topic, root_id, now);
    }

    /// Pushes a command: on the connection channel with the root's id, or on the root's channel
    /// (every field sent explicitly).
    pub(super) fn wire_command(
        &mut self,
        topic: &str,
        root_id: &str,
        store_id: &StoreId,
        name: &str,
        payload: Value,
        now: Millis,
    ) -> Result<PushId, PushError> {
        let Some(connection) = self.connections.get(topic) else { return Err(PushError::ChannelClosed) };
        let root_channel = connection.roots.get(root_id).and_then(|root| root.channel);
        match root_channel {
            Some(channel) => {
                let payload = if payload.is_null() { json!({}) } else { payload };
                let body = json!({"name": name, "payload": payload, "store_id": store_id.to_json()});
                self.socket.push(channel, "command", Payload::Json(body), now)
            }
            None => {
                let body = json!({"root_id": root_id, "store_id": store_id.to_json(), "name": name, "payload": payload});
                self.socket.push(connection.channel, "command", Payload::Json(body), now)
            }
        }
    }

    /// Pushes a root-addressed event (the upload events): on the connection channel with the
    /// root's id added, or on the root's own channel as it is (PROTOCOL.md §6.1).
    pub(super) fn wire_root_push(
        &mut self,
        topic: &str,
        root_id: &str,
        event: &str,
        mut body: serde_json::Map<String, Value>,
        now: Millis,
    ) -> Result<PushId, PushError> {
        let Some(connection) = self.connections.get(topic) else { return Err(PushError::ChannelClosed) };
        match connection.roots.get(root_id).and_then(|root| root.channel) {
            Some(channel) => self.socket.push(channel, event, Payload::Json(Value::Object(body)), now),
            None => {
                body.insert("root_id".into(), Value::String(root_id.to_owned()));
                self.socket.push(connection.channel, event, Payload::Json(Value::Object(body)), now)
            }
        }
    }

    /// Leaves everything a connection topic holds (on `disconnect`).
    pub(super) fn wire_leave(&mut self, connection: &Connection, now: Millis) {
        for channel in connection.roots.values().filter_map(|root| root.channel) {
            self.socket.leave(channel, now);
        }
        if connection.channel != ChannelId::NONE {
            self.socket.leave(connection.channel, now);
        }
    }

    /// The socket's state changed. Per root there is no connection channel to join: a topic is
    /// usable while the socket is open, and `connect()` settles when it opens.
    pub(super) fn wire_socket_state(&mut self, state: ConnectionState, now: Millis) {
        if self.wire != Wire::PerRoot {
            return;
        }
        let open = state == ConnectionState::Open;
        let mut waiters = Vec::new();
        let mut to_mount = Vec::new();
        for (topic, connection) in self.connections.iter_mut() {
            connection.joined = open;
            if open {
                waiters.append(&mut connection.connect_waiters);
                // Roots mounted before the socket first opened join now (the others' channels
                // rejoin by themselves).
                let pending = connection.roots.iter().filter(|(_, root)| !root.mount_sent && root.status != RootStatus::Failed);
                to_mount.extend(pending.map(|(root_id, _)| (topic.clone(), root_id.clone())));
            }
        }
        for waiter in waiters {
            self.settle(waiter, Ok(Value::Null));
        }
        for (topic, root_id) in to_mount {
            self.wire_mount(&topic, &root_id, now);
        }
    }

    /// Auto mode heard a join answer: the connection channel joined (0.6.1), or the server has no
    /// such topic (0.12+) and every root moves to its own channel, for good. Other refusals decide
    /// nothing (the join is retried).
    pub(super) fn wire_detected(&mut self, topic: &Rc<str>, refusal: Option<&Payload>, now: Millis) -> bool {
        if self.wire != Wire::Detecting {
            return false;
        }
        let unmatched = refusal.and_then(Payload::as_json).and_then(|r| r.get("reason")).and_then(Value::as_str) == Some("unmatched topic");
        match (refusal, unmatched) {
            // A successful join: the server has a connection channel.
            (None, _) => {
                self.wire = Wire::Connection;
                return false;
            }
            // Any other refusal (e.g. `unauthorized` while the server restarts) decides nothing.
            (Some(_), false) => return false,
            (Some(_), true) => {}
        }
        self.wire = Wire::PerRoot;
        self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: "no connection channel: one channel per root".to_owned() });
        let connected = self.socket.is_connected();
        let topics: Vec<Rc<str>> = self.connections.keys().cloned().collect();
        for topic in topics {
            let Some(connection) = self.connections.get_mut(&topic) else { continue };
            let channel = std::mem::replace(&mut connection.channel, ChannelId::NONE);
            connection.joined = connected;
            let waiters = if connected { std::mem::take(&mut connection.connect_waiters) } else { Vec::new() };
            let roots: Vec<Rc<str>> =
                connection.roots.iter().filter(|(_, root)| root.status != RootStatus::Failed).map(|(id, _)| id.clone()).collect();
            self.socket.leave(channel, now);
            for waiter in waiters {
                self.settle(waiter, Ok(Value::Null));
            }
            for root_id in roots {
                self.wire_mount(&topic, &root_id, now);
            }
        }
        true
    }

    /// An event on one root's own channel (per-root mode).
    pub(super) fn on_root_channel_event(&mut self, topic: &Rc<str>, root_id: &Rc<str>, event: ChannelEvent, now: Millis) {
        match event {
            ChannelEvent::Joined(response) => {
                let expected = self.root(topic, root_id).map(|root| wire_root_id(&root.spec)).unwrap_or_default();
                let returned = response.as_json().and_then(|r| r.get("root_id")).and_then(Value::as_str).map(str::to_owned);
                match returned {
                    Some(other) if other != expected => {
                        self.mount_failed(topic, root_id, &SyncError::UnexpectedRootId(other), true, now);
                    }
                    _ => self.await_initial(topic, root_id, now),
                }
            }
            // A refused join is left at once, so that no rejoin of an orphan channel is attempted.
            ChannelEvent::JoinRefused(response) => {
                let channel = self.root_mut(topic, root_id).and_then(|root| root.channel.take());
                if let Some(channel) = channel {
                    self.socket.leave(channel, now);
                }
                self.mount_failed(topic, root_id, &SyncError::MountFailed(inbound::json_of(&response)), false, now);
            }
            ChannelEvent::JoinTimeout => {
                self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("join of {root_id} timed out; retrying") });
            }
            // The channel rejoins on its own (at once when the socket reopens); the root shows its
            // last good state until the fresh initial envelope.
            ChannelEvent::Errored(cause) => {
                self.on_root_lost(topic, root_id);
                if matches!(cause, ErrorCause::Server(_)) {
                    self.emit(RuntimeEvent::Diagnostic {
                        topic: topic.clone(),
                        message: format!("the channel of {root_id} crashed; rejoining"),
                    });
                }
            }
            ChannelEvent::Closed(cause) => {
                // The channel is gone for good: the root needs a fresh one (at its retry, or when
                // the socket next opens).
                if let Some(root) = self.root_mut(topic, root_id) {
                    root.channel = None;
                    root.mount_sent = false;
                }
                if matches!(cause, CloseCause::Server) {
                    self.on_root_lost(topic, root_id);
                    self.schedule_remount(topic, root_id, &SyncError::Disconnected, now);
                }
            }
            ChannelEvent::Message { event, payload } if event == "patch" => self.on_envelope(topic, Some(root_id), &payload, now),
            ChannelEvent::Message { .. } | ChannelEvent::State(_) | ChannelEvent::PushSettled { .. } => {}
        }
    }

    /// A root whose channel went away: in-flight commands fail, the last good state stays.
    fn on_root_lost(&mut self, topic: &Rc<str>, root_id: &Rc<str>) {
        let generation = self.fresh_generation();
        let Some(root) = self.root_mut(topic, root_id) else { return };
        root.generation = generation;
        root.initial_deadline = None;
        let had_state = !matches!(root.status, RootStatus::Mounting | RootStatus::Failed);
        if had_state {
            root.replica.expect_initial();
        }
        self.fail_root_work(topic, root_id, Vec::new(), &SyncError::DisconnectedInFlight);
        if had_state {
            self.set_status(topic, root_id, RootStatus::Stale);
        }
    }
}
