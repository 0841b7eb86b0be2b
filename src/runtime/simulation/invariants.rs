//! The invariants: on every client frame, runtime event and settled request, after every runtime
//! input (per root), and at quiescence (convergence with the server, only heartbeats at rest,
//! and liveness).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::network::Delivery;
use super::tree::stores;
use super::workload::ReqKind;
use super::{Check, GHOST, HEARTBEAT_MS, MODULE, ROOT_IDS, Sim, TOPIC};
use crate::phoenix::frame::{Frame, decode_client_text};
use crate::phoenix::{ConnectionId, Output, WireMessage};
use crate::runtime::error::CommandErrorKind;
use crate::runtime::status::ConnectionStatus;
use crate::runtime::tree::Node;
use crate::runtime::{MountSpec, RootStatus, RuntimeEvent, StoreId, SyncError};

/// What the checks remember about a root between inputs.
#[derive(Debug, Default)]
pub(super) struct RootObs {
    version: u64,
    /// The last state seen while live (what a stale/recovering root must keep showing).
    last_good: Option<Node>,
    /// Tree and root snapshot at the last observation, if the root was live then.
    live: Option<(Node, Node)>,
}

impl Sim {
    // ---- frames, events and settled requests ----

    /// A frame the runtime sent is well-formed and on the current connection.
    pub(super) fn check_client_frame(&mut self, connection: ConnectionId, text: &str) -> Result<Frame, String> {
        let frame = decode_client_text(text).map_err(|e| format!("undecodable client frame {text}: {e}"))?;
        ensure!(Some(connection) == self.client_conn, "frame sent on connection {} which is not current: {text}", connection.get());
        match frame.event.as_str() {
            "heartbeat" => ensure!(frame.topic == "phoenix" && frame.join_ref.is_none() && frame.msg_ref.is_some(), "bad heartbeat {text}"),
            "phx_join" => {
                ensure!(frame.join_ref.is_some() && frame.join_ref == frame.msg_ref, "join_ref must equal ref in a join: {text}");
                // A connection channel join remounts every root; a root channel's only its own.
                let joined_root = Sim::root_of_topic(&frame.topic);
                for root in ROOT_IDS.iter().chain([&GHOST]).filter(|root| joined_root.is_none_or(|joined| joined == **root)) {
                    let status = self.rt.root_status(TOPIC, root);
                    ensure!(status != Some(RootStatus::Live), "a join was sent while {root} is live: {text}");
                }
                if let Some(join_ref) = frame.join_ref.clone() {
                    self.client_join_refs.insert(frame.topic.clone(), join_ref);
                }
            }
            _ => ensure!(frame.join_ref.is_some() && frame.msg_ref.is_some(), "channel message without join_ref/ref: {text}"),
        }
        let root_topic =
            Sim::root_of_topic(&frame.topic).is_some_and(|root| self.per_root && ROOT_IDS.iter().chain([&GHOST]).any(|id| *id == root));
        ensure!(frame.topic == TOPIC || frame.topic == "phoenix" || root_topic, "unexpected topic: {text}");
        Ok(frame)
    }

    /// Checks and counts a runtime event.
    pub(super) fn on_event(&mut self, event: RuntimeEvent) -> Check {
        match event {
            RuntimeEvent::Settled { request, result } => self.on_settled(request.get(), result),
            RuntimeEvent::RootStatus { root_id, status, .. } => {
                match status {
                    RootStatus::Recovering => self.stats.recoveries += 1,
                    RootStatus::Stale => self.stats.stale += 1,
                    _ => {}
                }
                self.log(|| format!("event: {root_id} is {status:?}"));
                Ok(())
            }
            RuntimeEvent::Diagnostic { message, .. } => {
                if message.starts_with("ignored") {
                    self.stats.envelopes_ignored += 1;
                }
                self.log(|| format!("diagnostic: {message}"));
                Ok(())
            }
            RuntimeEvent::StoresChanged { root_id, stores, .. } => {
                ensure!(!stores.is_empty(), "an empty change notification for {root_id}");
                let unique: BTreeSet<_> = stores.iter().collect();
                ensure!(unique.len() == stores.len(), "a store notified twice in one change of {root_id}: {stores:?}");
                let entry = self.notified.entry(root_id.to_string()).or_default();
                ensure!(entry.is_empty(), "{root_id} notified twice in one input");
                entry.extend(stores.iter().map(ToString::to_string));
                self.stats.notifications += 1;
                Ok(())
            }
            RuntimeEvent::Socket(event) => {
                self.log(|| format!("socket: {event:?}"));
                Ok(())
            }
            RuntimeEvent::OutboxChanged { root_id, stores, .. } => {
                ensure!(!stores.is_empty(), "an empty outbox notification for {root_id}");
                Ok(())
            }
            // The simulated workload declares no uploads.
            RuntimeEvent::UploadChanged { .. }
            | RuntimeEvent::ReadChunk { .. }
            | RuntimeEvent::StartExternal { .. }
            | RuntimeEvent::AbortExternal { .. }
            | RuntimeEvent::ReleaseFile { .. } => Ok(()),
            RuntimeEvent::PushEvents { root_id, events, .. } => {
                let status = self.rt.root_status(TOPIC, &root_id);
                ensure!(status == Some(RootStatus::Live), "events for {root_id} delivered while it is {status:?}");
                self.log(|| format!("events for {root_id}: {events:?}"));
                Ok(())
            }
            RuntimeEvent::Connection { from, info } => {
                self.log(|| format!("connection: {} -> {} ({})", from.as_str(), info.status.as_str(), info.reason));
                Ok(())
            }
        }
    }

    /// A request settles once, with an outcome allowed for its kind.
    fn on_settled(&mut self, request: u64, result: Result<Value, SyncError>) -> Check {
        self.log(|| format!("settled req {request}: {result:?}"));
        let Some(req) = self.requests.get_mut(&request) else { return Err(format!("settled unknown request {request}: {result:?}")) };
        req.settled += 1;
        ensure!(req.settled == 1, "request {request} ({:?}) settled twice: first {:?}, then {result:?}", req.kind, req.result);
        req.result = Some(result.clone());
        let kind = req.kind.clone();
        match kind {
            ReqKind::Connect | ReqKind::Disconnect => {
                let allowed = matches!(
                    &result,
                    Ok(Value::Null) | Err(SyncError::JoinFailed(_) | SyncError::ConnectFailed(_) | SyncError::Disconnected)
                );
                ensure!(allowed, "unexpected connect/disconnect outcome {result:?}");
            }
            ReqKind::Mount(root) => {
                // A released mount's owner was already given back by an unmount.
                let released = self.released.remove(&request);
                let pending = self.pending_mounts.get_mut(&root).is_some_and(|pending| pending.remove(&request));
                ensure!(released != pending, "mount {request} of {root} settled but was not pending");
                match &result {
                    Ok(Value::Null) => {
                        self.stats.mounts_ok += 1;
                        if !released {
                            *self.ok_mounts.entry(root.clone()).or_default() += 1;
                        }
                        let status = self.rt.root_status(TOPIC, &root);
                        ensure!(status == Some(RootStatus::Live), "mount of {root} resolved while the root is {status:?}");
                        ensure!(root != GHOST, "the server never accepts {GHOST}");
                    }
                    Ok(other) => return Err(format!("mount resolved with {other}")),
                    Err(error) => {
                        self.stats.mounts_failed += 1;
                        let allowed = matches!(
                            error,
                            SyncError::MountFailed(_)
                                | SyncError::MountTimeout
                                | SyncError::Unmounted
                                | SyncError::Disconnected
                                | SyncError::JoinFailed(_)
                                | SyncError::ConnectFailed(_)
                                | SyncError::NotConnected
                        );
                        ensure!(allowed, "unexpected mount error {error:?}");
                        if let SyncError::MountFailed(reply) = error {
                            let reason = reply["reason"].as_str().unwrap_or_default();
                            let join_ref = self.client_join_ref(&root);
                            if self.frame_join_ref.as_ref().is_some_and(|frame| *frame != join_ref) {
                                // The answer to a mount pushed on an earlier channel (before a
                                // `disconnect`) settled this newer mount of the same id.
                                let detail = format!("mount of {root} failed with the reply to an older push: {reply}");
                                self.known_issue("stale mount outcome applied to a newer root", detail)?;
                            } else if self.per_root && reason == "unauthorized" {
                                // Per root a join is the mount: a refused join fails it.
                                self.cover("root join refused");
                            } else if reason == "root already mounted" {
                                let orphan = self.gave_up.contains(&(join_ref.unwrap_or_default(), root.clone()));
                                ensure!(orphan, "mount of {root} refused: {reply}");
                                self.known_issue("root already mounted on the server", format!("mount of {root} refused: {reply}"))?;
                            } else {
                                ensure!(root == GHOST && reason == "unknown root", "mount of {root} refused: {reply}");
                            }
                        }
                        let timed_out = *error == SyncError::MountTimeout;
                        self.failed_mounts.push((root, timed_out));
                    }
                }
            }
            ReqKind::Unmount(root) => {
                let allowed = matches!(&result, Ok(Value::Null) | Err(SyncError::UnmountTimeout | SyncError::UnmountFailed(_)));
                ensure!(allowed, "unexpected unmount outcome for {root}: {result:?}");
            }
            ReqKind::Command { root, cid } => match &result {
                Ok(response) => {
                    self.stats.commands_ok += 1;
                    ensure!(response["cid"] == json!(cid), "command {cid} on {root} resolved with another command's reply {response}");
                    let sent = self.server.replies.get(&cid);
                    ensure!(
                        sent == Some(&("ok".to_owned(), response.clone())),
                        "command {cid} resolved with {response}, server sent {sent:?}"
                    );
                }
                Err(SyncError::Command(error)) if error.kind == CommandErrorKind::Failed => {
                    self.stats.commands_failed += 1;
                    let sent = self.server.replies.get(&cid).cloned();
                    let expected = error.reply.clone().map(|reply| ("error".to_owned(), reply));
                    ensure!(sent == expected, "command {cid} failed with {error:?}, server sent {sent:?}");
                }
                Err(SyncError::Command(_)) => self.stats.commands_timeout += 1,
                Err(
                    SyncError::NotConnected
                    | SyncError::Disconnected
                    | SyncError::DisconnectedInFlight
                    | SyncError::OutboxFull(_)
                    | SyncError::OutboxExpired
                    | SyncError::VersionMismatch
                    | SyncError::Unmounted,
                ) => {
                    self.stats.commands_other += 1;
                }
                // A queued command fails with whatever ended its root before it could go out.
                Err(
                    SyncError::MountTimeout
                    | SyncError::MountFailed(_)
                    | SyncError::JoinFailed(_)
                    | SyncError::JoinTimeout
                    | SyncError::ConnectFailed(_)
                    | SyncError::TooDeep(_)
                    | SyncError::UnexpectedRootId(_),
                ) if self.queued_commands.get(&root).is_some_and(|queued| queued.contains(&cid)) => {
                    self.stats.commands_other += 1;
                }
                Err(other) => return Err(format!("unexpected command outcome {other:?}")),
            },
        }
        Ok(())
    }

    // ---- per-step invariants ----

    /// Checks every root after a runtime input.
    pub(super) fn check_step(&mut self) -> Check {
        for root in ROOT_IDS.iter().chain([&GHOST]) {
            self.check_root(root)?;
        }
        self.check_status()
    }

    /// The connection status is truthful: `open` only on an open socket, `closed` only when the
    /// application closed it or a permanent error is waiting for it to reopen.
    fn check_status(&self) -> Check {
        let info = self.rt.connection_info();
        match info.status {
            ConnectionStatus::Open => ensure!(self.rt.socket().is_connected(), "status open on a closed socket ({info:?})"),
            ConnectionStatus::Closed => {
                ensure!(self.reopen_at.is_some() || !self.rt.socket_wanted(), "status closed while nothing closed it ({info:?})")
            }
            ConnectionStatus::Connecting | ConnectionStatus::Reconnecting => {
                ensure!(self.rt.socket_wanted(), "retrying although the application closed it ({info:?})")
            }
        }
        Ok(())
    }

    /// Owners, status, version, shown state and notifications of one root.
    pub(super) fn check_root(&mut self, root: &str) -> Check {
        let owners = self.rt.root_owners(TOPIC, root).unwrap_or(0);
        let expected = self.expected_owners(root);
        ensure!(owners == expected, "{root} has {owners} owners in the runtime, the workload holds {expected}");
        let Some(status) = self.rt.root_status(TOPIC, root) else {
            self.obs.remove(root);
            return Ok(());
        };
        let version = self.rt.root_version(TOPIC, root).unwrap_or(0);
        let tree = self.rt.tree(TOPIC, root).cloned().unwrap_or_default();
        let notified = self.notified.get(root).cloned();
        let obs = self.obs.entry(root.to_owned()).or_default();
        let previous_version = obs.version;
        ensure!(version >= previous_version || version == 0, "{root} went back from version {previous_version} to {version}");
        obs.version = version;
        let previous = obs.live.take();
        match status {
            RootStatus::Mounting => {
                ensure!(version == 0 && obs.last_good.is_none(), "{root} is mounting at version {version}");
                ensure!(notified.is_none(), "{root} notified subscribers while mounting: {notified:?}");
                ensure!(self.rt.snapshot(TOPIC, root, &StoreId::root()).is_none(), "{root} has a snapshot while mounting");
            }
            // The simulated workload never mounts from a cache.
            RootStatus::Cached => return Err(format!("{root} is cached, yet nothing mounted it from a cache")),
            RootStatus::Stale | RootStatus::Recovering | RootStatus::Failed => {
                ensure!(version == 0, "{root} is {status:?} at version {version}");
                let same = obs.last_good.as_ref().is_some_and(|good| good.same(&tree));
                ensure!(same, "{root} is {status:?} but does not show its last good state");
                if previous.is_some() {
                    // Going stale is a change of every store (each shows its last good state).
                    let all: BTreeSet<String> = self.rt.store_ids(TOPIC, root).iter().map(|id| id.key().to_string()).collect();
                    ensure!(notified.as_ref() == Some(&all), "{root} became {status:?} notifying {notified:?}, not every store {all:?}");
                } else {
                    ensure!(notified.is_none(), "{root} notified subscribers while already stale ({status:?}): {notified:?}");
                }
            }
            RootStatus::Live => {
                ensure!(version >= 1, "{root} is live at version 0");
                obs.last_good = Some(tree.clone());
                let snapshot = self.rt.snapshot(TOPIC, root, &StoreId::root()).unwrap_or_default();
                let notified = notified.unwrap_or_default();
                match &previous {
                    Some((t, s)) if t.same(&tree) && s.same(&snapshot) => {
                        ensure!(version == previous_version, "{root} moved to version {version} without any change");
                    }
                    Some(_) if version == previous_version => {
                        return Err(format!("{root}'s tree or root snapshot was replaced without a new version ({version})"));
                    }
                    Some((t, s)) => {
                        // An accepted envelope: whatever changed was announced.
                        ensure!(*t == tree || notified.contains("[]"), "{root}'s tree changed but the root store was not notified");
                        ensure!(*s == snapshot || !notified.is_empty(), "{root}'s snapshot changed but nobody was notified");
                        self.check_live_against_history(root, version, &tree, &snapshot)?;
                    }
                    None => {
                        // The initial envelope swapped the whole state in.
                        ensure!(notified.contains("[]"), "{root} became live without notifying the root store ({notified:?})");
                        self.check_live_against_history(root, version, &tree, &snapshot)?;
                    }
                }
                if let Some(obs) = self.obs.get_mut(root) {
                    obs.live = Some((tree, snapshot));
                }
            }
        }
        Ok(())
    }

    /// A live root at version v shows exactly what a page server of the current channel sent at v.
    fn check_live_against_history(&self, root: &str, version: u64, tree: &Node, snapshot: &Node) -> Check {
        let (Some(conn), Some(join_ref)) = (self.client_conn, self.client_join_ref(root)) else {
            return Err(format!("{root} is live without a joined channel"));
        };
        let key = (conn.get(), join_ref.clone(), root.to_owned());
        let Some(history) = self.server.history.get(&key) else {
            return Err(format!("{root} is live at version {version} but no page server ran on connection {} join {join_ref}", conn.get()));
        };
        let (tree, snapshot) = (tree.to_json(), snapshot.to_json());
        let index = usize::try_from(version).unwrap_or(usize::MAX);
        let matches = history.iter().any(|incarnation| incarnation.get(index).is_some_and(|(t, s)| *t == tree && *s == snapshot));
        if !matches {
            let latest = history.last().and_then(|incarnation| incarnation.get(index));
            return Err(format!(
                "{root} at version {version} diverges from the server.\n  client tree: {tree}\n  client snapshot: {snapshot}\n  server (latest page server) at that version: {latest:?}"
            ));
        }
        Ok(())
    }

    // ---- at quiescence ----

    /// Everything settled, and every live root matches the server.
    pub(super) fn check_converged(&mut self, when: &str) -> Check {
        ensure!(self.rt.pending_pushes() == 0, "{when}: {} pushes still pending", self.rt.pending_pushes());
        for (request, req) in &self.requests {
            ensure!(req.settled == 1, "{when}: request {request} ({:?}) settled {} times", req.kind, req.settled);
        }
        // The outbox sends a root's queued commands in dispatch order (the server runs each at
        // most once, which it checks itself).
        for (root, queued) in &self.queued_commands {
            let order: Vec<u64> = self.server.executed.iter().copied().filter(|cid| queued.contains(cid)).collect();
            ensure!(order.windows(2).all(|pair| pair[0] < pair[1]), "{when}: queued commands of {root} ran out of order: {order:?}");
        }
        if self.ever_connected {
            ensure!(self.rt.socket().is_connected(), "{when}: the socket is not connected ({:?})", self.rt.socket().state());
        }
        let current = self.client_conn.map(ConnectionId::get);
        let conns: Vec<u64> = self.server.conns.keys().copied().collect();
        ensure!(conns.iter().all(|c| Some(*c) == current), "{when}: server still holds connections {conns:?} (client is on {current:?})");
        let channels = current.and_then(|c| self.server.conns.get(&c)).map(|s| s.channels.clone()).unwrap_or_default();
        for root in ROOT_IDS.iter().chain([&GHOST]) {
            let Some(status) = self.rt.root_status(TOPIC, root) else { continue };
            // Per root a refused (re)join fails the root for good (§6.1); mounting it again (the
            // probe below does) starts over.
            if status == RootStatus::Failed && self.per_root && self.refused_roots.contains(*root) {
                continue;
            }
            ensure!(status == RootStatus::Live, "{when}: {root} is {status:?}, not live");
            let Some(page) = channels.get(&self.topic_for(root)).and_then(|c| c.roots.get(*root)) else {
                return Err(format!("{when}: {root} is live but not mounted on the server"));
            };
            ensure!(!page.broken, "{when}: {root} never recovered from a broken envelope");
            let version = self.rt.root_version(TOPIC, root).unwrap_or(0);
            ensure!(version == page.version, "{when}: {root} is at version {version}, the server at {}", page.version);
            let db = self.server.db.get(*root).cloned().ok_or_else(|| format!("{when}: no database entry for {root}"))?;
            let tree = self.rt.tree(TOPIC, root).map(Node::to_json).unwrap_or_default();
            ensure!(tree == db.tree, "{when}: {root} tree differs\n  client: {tree}\n  server: {}", db.tree);
            let expected: BTreeSet<Vec<String>> = stores(&db.tree).into_iter().map(|(id, _)| id).collect();
            let actual: BTreeSet<Vec<String>> = self.store_ids(root).into_iter().collect();
            ensure!(actual == expected, "{when}: {root} store ids differ: client {actual:?}, server {expected:?}");
            for id in expected {
                let snapshot = self.rt.snapshot(TOPIC, root, &StoreId::from(id.clone())).map(|n| n.to_json()).unwrap_or_default();
                let wanted = db.snapshot(&id);
                ensure!(snapshot == wanted, "{when}: {root} snapshot of {id:?} differs\n  client: {snapshot}\n  server: {wanted}");
            }
            let log = self.rt.read(TOPIC, root, &StoreId::root(), "log").map(|n| n.to_json()).unwrap_or_default();
            ensure!(log == db.snapshot(&[])["log"], "{when}: {root} log stream differs: {log}");
        }
        for channel in channels.values() {
            for (root, page) in &channel.roots {
                if self.rt.root_status(TOPIC, root).is_none() {
                    let detail = format!("{root} (version {}) is mounted on the server but unknown to the client", page.version);
                    ensure!(self.gave_up.contains(&(channel.join_ref.clone(), root.clone())), "{when}: {detail}");
                    self.known_issue("orphaned server root", detail)?;
                }
            }
        }
        Ok(())
    }

    /// At rest the only timer is the next heartbeat, and firing it sends just a heartbeat.
    pub(super) fn check_only_heartbeats(&mut self) -> Check {
        if !self.ever_connected {
            ensure!(self.rt.poll_timeout().is_none(), "a timer is armed although nothing ever connected");
            return Ok(());
        }
        for _ in 0..2 {
            let at = self.rt.poll_timeout().ok_or("no heartbeat timer at rest")?;
            ensure!(at > self.now && at <= self.now + HEARTBEAT_MS, "next deadline {at} is not a heartbeat (now {})", self.now);
            self.now = at;
            self.rt.handle_timeout(at);
            let mut sent = Vec::new();
            while let Some(output) = self.rt.poll_output() {
                match output {
                    Output::Send { connection, message: WireMessage::Text(text) } => sent.push((connection, text)),
                    other => return Err(format!("at rest, a timer produced {other:?}")),
                }
            }
            ensure!(sent.len() == 1, "at rest, a timer sent {sent:?}");
            for (connection, text) in sent {
                let frame = decode_client_text(&text).map_err(|e| e.to_string())?;
                ensure!(frame.event == "heartbeat", "at rest, a timer sent {text}");
                self.c2s(connection.get(), Delivery::ToServer { conn: connection.get(), frame });
            }
            self.drain_network()?;
            ensure!(self.rt.pending_pushes() == 0, "pushes pending after a heartbeat");
        }
        Ok(())
    }

    /// Liveness: with a quiet network, every root id can be mounted and commanded.
    pub(super) fn probe(&mut self) -> Check {
        let mut probes = Vec::new();
        for root in ROOT_IDS {
            let spec = MountSpec { module: MODULE.into(), id: root.into(), params: json!({"from": "sim"}) };
            let request = self.rt.mount(TOPIC, spec, self.now);
            self.log(|| format!("probe mount {root} → req {}", request.get()));
            self.track(request.get(), ReqKind::Mount(root.to_owned()));
            self.after_input()?;
            probes.push((root, request.get()));
        }
        self.run_until(self.now + 30_000)?;
        let mut commands = Vec::new();
        for (root, request) in probes {
            let result = self.requests.get(&request).and_then(|r| r.result.clone());
            if result != Some(Ok(Value::Null)) {
                let join_ref = self.client_join_ref(root).unwrap_or_default();
                let orphan = self.gave_up.contains(&(join_ref, root.to_owned()));
                ensure!(orphan, "liveness: probe mount of {root} ended with {result:?}");
                self.known_issue("root cannot be mounted again", format!("probe mount of {root}: {result:?}"))?;
                continue;
            }
            self.next_cid += 1;
            let cid = self.next_cid;
            let request = self.rt.command(TOPIC, root, &StoreId::root(), "incr", json!({"by": 1, "cid": cid}), self.now);
            self.track(request.get(), ReqKind::Command { root: root.to_owned(), cid });
            self.after_input()?;
            commands.push((root, request.get()));
        }
        self.run_until(self.now + 5_000)?;
        self.drain_network()?;
        for (root, request) in commands {
            let result = self.requests.get(&request).and_then(|r| r.result.clone());
            ensure!(matches!(result, Some(Ok(_))), "liveness: probe command on {root} ended with {result:?}");
        }
        self.check_converged("after the probe")
    }
}
