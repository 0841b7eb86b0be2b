//! The server side of the wire protocol (PROTOCOL.md §1, §2, §6): connections, channels and page
//! servers, heartbeats, joins, leaves, `mount`, `unmount`, `command`, and the broadcast of
//! render cycles (with optional corruption) to every page server of a root. A per-root schedule
//! speaks Musubi 0.12+ instead: no connection channel (its join gets `unmatched topic`), one
//! channel per root whose join is the mount and whose leave is the unmount.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::network::ClientInput;
use super::server_model::{Cycle, RootDb};
use super::tree::{payload_of, short, stores};
use super::{Check, GHOST, MODULE, Sim, TOPIC};
use crate::phoenix::frame::Frame;
use crate::phoenix::{ConnectionId, Millis};

/// A page server: one root mounted on one channel.
#[derive(Debug, Clone)]
pub(super) struct ServerRoot {
    pub(super) version: u64,
    /// The client's copy cannot be in sync (a gap or a bad op was sent): a recovery must follow.
    pub(super) broken: bool,
    /// Index of this page server in the history of (connection, join_ref, root).
    pub(super) incarnation: usize,
}

/// A joined channel of a connection, and its page servers by root id (per root: just its own).
#[derive(Debug, Clone)]
pub(super) struct ServerChannel {
    pub(super) join_ref: String,
    pub(super) roots: BTreeMap<String, ServerRoot>,
}

/// A connection the server accepted, and the faults armed on it.
#[derive(Debug)]
pub(super) struct ServerConn {
    pub(super) client: ConnectionId,
    /// Joined channels by topic.
    pub(super) channels: BTreeMap<String, ServerChannel>,
    /// The next reply (and everything after it) is held beyond the push timeout.
    pub(super) late_next: bool,
    /// How many of the next server frames are duplicated.
    pub(super) dup_budget: u32,
    /// Everything from the client is ignored and nothing is sent (a dead peer).
    pub(super) blackhole: bool,
    /// How many of the next joins get no reply at all (everything else is answered).
    pub(super) ignore_joins: u32,
}

/// (tree, snapshot) per version, per page server incarnation.
pub(super) type History = Vec<Vec<(Value, Value)>>;

/// The server: connections, the roots' databases, what page servers sent, and command replies.
#[derive(Debug, Default)]
pub(super) struct Server {
    /// Connects are refused before this time (restart).
    pub(super) up_at: Millis,
    /// Joins are refused before this time.
    pub(super) refuse_joins_until: Millis,
    pub(super) conns: BTreeMap<u64, ServerConn>,
    pub(super) db: BTreeMap<String, RootDb>,
    pub(super) history: BTreeMap<(u64, String, String), History>,
    /// Command ids executed, with the reply sent: (status, response).
    pub(super) replies: BTreeMap<u64, (String, Value)>,
    /// Command ids in the order they were executed.
    pub(super) executed: Vec<u64>,
}

/// How a server-side change's envelope is broken on the client's connection (a fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Corruption {
    Gap(u64),
    BadOp(u8),
}

/// Stands, in a frame's JSON, for a value nested deeper than the client holds; [`Sim::send`]
/// swaps in the text (a `serde_json::Value` that deep would recurse on serialize and drop).
pub(super) const TOO_DEEP: &str = "__sim_too_deep__";

/// `{"next": … {"leaf": true}}`, `levels` objects deep, as JSON text.
fn too_deep_text(levels: usize) -> String {
    format!("{}{{\"leaf\":true}}{}", "{\"next\":".repeat(levels - 1), "}".repeat(levels - 1))
}

impl Sim {
    /// Sends a frame to the client of `conn` (duplicated while a duplicate fault lasts).
    pub(super) fn send(&mut self, conn: u64, frame: Value) {
        let Some(state) = self.server.conns.get_mut(&conn) else { return };
        if state.blackhole {
            return;
        }
        let client = state.client;
        let duplicate = state.dup_budget > 0;
        if duplicate {
            state.dup_budget -= 1;
        }
        let mut text = frame.to_string();
        let placeholder = format!("\"{TOO_DEEP}\"");
        if text.contains(&placeholder) {
            text = text.replace(&placeholder, &too_deep_text(crate::runtime::depth::MAX_DEPTH + 10));
        }
        let join_ref = frame.get(0).and_then(Value::as_str).map(str::to_owned);
        if duplicate {
            self.log(|| format!("network duplicates {}", short(&text)));
            self.s2c(client, ClientInput::Text(text.clone(), join_ref.clone()));
        }
        self.s2c(client, ClientInput::Text(text, join_ref));
    }

    /// Sends a `phx_reply` on `topic`.
    fn reply(&mut self, conn: u64, topic: &str, join_ref: Option<&str>, msg_ref: Option<&str>, status: &str, response: Value) {
        self.send(conn, json!([join_ref, msg_ref, topic, "phx_reply", {"status": status, "response": response}]));
    }

    /// A late-reply fault holds this reply and everything after it beyond the push timeout.
    fn maybe_stall(&mut self, conn: u64) {
        let Some(state) = self.server.conns.get_mut(&conn) else { return };
        if std::mem::take(&mut state.late_next) {
            let until = self.now + self.rng.u64(10_200..14_000);
            let floor = self.s2c_floor.entry(conn).or_default();
            *floor = (*floor).max(until);
            self.log(|| format!("server stalls connection {conn} until {until}"));
        }
    }

    /// Handles a client frame: heartbeat, join, leave, or a channel message.
    pub(super) fn server_receive(&mut self, conn: u64, frame: Frame) -> Check {
        let Some(state) = self.server.conns.get(&conn) else { return Ok(()) };
        if state.blackhole {
            return Ok(());
        }
        let payload = payload_of(&frame);
        let text = || format!("{} {} {payload}", frame.topic, frame.event);
        let (join_ref, msg_ref) = (frame.join_ref.as_deref(), frame.msg_ref.as_deref());
        if frame.topic == "phoenix" {
            self.send(conn, json!([null, msg_ref, "phoenix", "phx_reply", {"status": "ok", "response": {}}]));
            return Ok(());
        }
        ensure!(payload.is_object(), "client sent a non-object payload: {}", text());
        let topic = frame.topic.clone();
        match frame.event.as_str() {
            "phx_join" => {
                if let Some(state) = self.server.conns.get_mut(&conn).filter(|state| state.ignore_joins > 0) {
                    state.ignore_joins -= 1;
                    self.cover("join never answered");
                    return Ok(());
                }
                self.maybe_stall(conn);
                if self.now < self.server.refuse_joins_until {
                    self.cover("join refused");
                    if let Some(root) = Sim::root_of_topic(&topic) {
                        self.refused_roots.insert(root.to_owned());
                    }
                    self.reply(conn, &topic, join_ref, msg_ref, "error", json!({"reason": "unauthorized"}));
                    return Ok(());
                }
                let root = Sim::root_of_topic(&topic).map(str::to_owned);
                match (self.per_root, root) {
                    (false, None) if topic == TOPIC => {}
                    // A per-root server has no connection channel.
                    (true, None) if topic == TOPIC => {
                        self.cover("connection channel unmatched");
                        self.send(
                            conn,
                            json!([null, msg_ref, topic, "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}]),
                        );
                        return Ok(());
                    }
                    (true, Some(_)) => {}
                    _ => return Err(format!("the runtime joined an unexpected topic: {}", text())),
                }
                let join_ref = join_ref.or(msg_ref).unwrap_or_default().to_owned();
                let old = self.server.conns.get_mut(&conn).and_then(|state| state.channels.remove(&topic));
                if let Some(old) = old {
                    self.cover("duplicate join");
                    // Duplicate join: the old channel is closed with its join_ref.
                    self.send(conn, json!([old.join_ref, old.join_ref, topic, "phx_close", {}]));
                }
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.channels.insert(topic.clone(), ServerChannel { join_ref: join_ref.clone(), roots: BTreeMap::new() });
                }
                if self.per_root {
                    // Join is mount.
                    return self.server_mount(conn, &topic, &join_ref, Some(&join_ref), &payload);
                }
                self.reply(conn, &topic, Some(&join_ref), msg_ref, "ok", json!({}));
                Ok(())
            }
            "phx_leave" => {
                let current = self.server.conns.get(&conn).and_then(|s| s.channels.get(&topic)).map(|c| c.join_ref.clone());
                match current {
                    Some(current) if Some(current.as_str()) == join_ref => {
                        if let Some(state) = self.server.conns.get_mut(&conn) {
                            state.channels.remove(&topic);
                        }
                        self.reply(conn, &topic, join_ref, msg_ref, "ok", json!({}));
                        self.send(conn, json!([current, current, topic, "phx_close", {}]));
                    }
                    Some(_) => self.cover("stale leave ignored"),
                    None => self.reply(conn, &topic, join_ref, msg_ref, "ok", json!({})),
                }
                Ok(())
            }
            event => {
                let current = self.server.conns.get(&conn).and_then(|s| s.channels.get(&topic)).map(|c| c.join_ref.clone());
                let Some(current) = current else {
                    self.cover("unmatched topic");
                    self.send(
                        conn,
                        json!([null, msg_ref, topic, "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}]),
                    );
                    return Ok(());
                };
                if Some(current.as_str()) != join_ref {
                    self.cover("stale join_ref dropped");
                    self.log(|| format!("server drops a message for join_ref {join_ref:?} (current {current})"));
                    return Ok(());
                }
                self.maybe_stall(conn);
                match (event, self.per_root) {
                    ("mount", false) => self.server_mount(conn, &topic, &current, msg_ref, &payload),
                    ("unmount", false) => {
                        let root = payload["root_id"].as_str().unwrap_or_default().to_owned();
                        ensure!(!root.is_empty(), "unmount without root_id: {}", text());
                        let removed = self.channel_mut(conn, &topic).and_then(|c| c.roots.remove(&root)).is_some();
                        if removed {
                            self.reply(conn, &topic, Some(&current), msg_ref, "ok", json!({}));
                        } else {
                            self.cover("unmount of unknown root");
                            self.reply(conn, &topic, Some(&current), msg_ref, "error", json!({"reason": "unknown root"}));
                        }
                        Ok(())
                    }
                    ("command", _) => self.server_command(conn, &topic, &current, msg_ref, &payload),
                    (other, _) => Err(format!("the runtime sent an unexpected event {other}: {}", text())),
                }
            }
        }
    }

    /// The joined channel of `conn` on `topic`.
    fn channel_mut(&mut self, conn: u64, topic: &str) -> Option<&mut ServerChannel> {
        self.server.conns.get_mut(&conn).and_then(|s| s.channels.get_mut(topic))
    }

    /// `mount`: reply, then the initial envelope 0→1.
    /// `mount` on the connection channel, or (per root) the join of a root's channel: reply, then
    /// the initial envelope 0→1.
    fn server_mount(&mut self, conn: u64, topic: &str, join_ref: &str, msg_ref: Option<&str>, payload: &Value) -> Check {
        let module = payload["module"].as_str().unwrap_or_default();
        let id = payload["id"].as_str().unwrap_or_default().to_owned();
        ensure!(module == MODULE && !id.is_empty() && payload["params"] == json!({"from": "sim"}), "bad mount payload {payload}");
        ensure!(
            !self.per_root || Sim::root_of_topic(topic) == Some(id.as_str()),
            "a root's join on another root's topic: {topic} {payload}"
        );
        if self.channel_mut(conn, topic).is_some_and(|c| c.roots.contains_key(&id)) {
            self.cover("root already mounted");
            self.reply(conn, topic, Some(join_ref), msg_ref, "error", json!({"reason": "root already mounted"}));
            return Ok(());
        }
        if id == GHOST {
            if self.per_root {
                // A refused join leaves no channel behind.
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.channels.remove(topic);
                }
            }
            self.reply(conn, topic, Some(join_ref), msg_ref, "error", json!({"reason": "unknown root"}));
            return Ok(());
        }
        let db = self.server.db.entry(id.clone()).or_insert_with(|| RootDb::new(&id)).clone();
        let history = self.server.history.entry((conn, join_ref.to_owned(), id.clone())).or_default();
        history.push(vec![(Value::Null, Value::Null), (db.tree.clone(), db.snapshot(&[]))]);
        let incarnation = history.len() - 1;
        if let Some(channel) = self.channel_mut(conn, topic) {
            channel.roots.insert(id.clone(), ServerRoot { version: 1, broken: false, incarnation });
        }
        let wire_id = self.wire_root_id(&id);
        self.reply(conn, topic, Some(join_ref), msg_ref, "ok", json!({"root_id": wire_id}));
        let envelope = json!({
            "type": "patch", "root_id": wire_id, "base_version": 0, "version": 1,
            "ops": [{"op": "replace", "path": "", "value": db.tree}],
            "stream_ops": db.initial_stream_ops(), "upload_ops": [],
        });
        self.send(conn, json!([join_ref, null, topic, "patch", envelope]));
        Ok(())
    }

    /// `command`: runs it once, replies, then broadcasts its cycles.
    fn server_command(&mut self, conn: u64, topic: &str, join_ref: &str, msg_ref: Option<&str>, payload: &Value) -> Check {
        // Per root a command is for the channel's root and carries every field but `root_id`.
        let root = match Sim::root_of_topic(topic).filter(|_| self.per_root) {
            Some(root) => {
                ensure!(payload.get("root_id").is_none() && payload["store_id"].is_array(), "bad per-root command payload {payload}");
                root.to_owned()
            }
            None => payload["root_id"].as_str().unwrap_or_default().to_owned(),
        };
        let name = payload["name"].as_str().unwrap_or_default().to_owned();
        let store: Option<Vec<String>> = serde_json::from_value(payload["store_id"].clone()).ok();
        let args = payload["payload"].clone();
        ensure!(!root.is_empty() && !name.is_empty() && args.is_object(), "bad command payload {payload}");
        let Some(store) = store else { return Err(format!("command store_id is not an array of strings: {payload}")) };
        let cid = args["cid"].as_u64().ok_or_else(|| format!("command without cid: {payload}"))?;
        ensure!(!self.server.replies.contains_key(&cid), "command {cid} executed twice: {payload}");
        self.server.executed.push(cid);
        let mounted = self.channel_mut(conn, topic).is_some_and(|c| c.roots.contains_key(&root));
        let outcome = if mounted {
            let db = self.server.db.entry(root.clone()).or_insert_with(|| RootDb::new(&root));
            db.execute(&store, &name, &args)
        } else {
            Err(json!({"reason": "unknown root"}))
        };
        match outcome {
            Ok((mut response, cycles)) => {
                if cycles.len() > 1 {
                    self.cover("command with several envelopes");
                }
                response["cid"] = json!(cid);
                self.server.replies.insert(cid, ("ok".to_owned(), response.clone()));
                self.reply(conn, topic, Some(join_ref), msg_ref, "ok", response);
                self.broadcast(&root, &cycles, None);
            }
            Err(response) => {
                self.cover(if mounted { "command error" } else { "command for unknown root" });
                self.server.replies.insert(cid, ("error".to_owned(), response.clone()));
                self.reply(conn, topic, Some(join_ref), msg_ref, "error", response);
            }
        }
        Ok(())
    }

    /// Sends each cycle to every page server of `root` (on any connection), optionally corrupting
    /// the first envelope for the page server on the client's current connection.
    fn broadcast(&mut self, root: &str, cycles: &[Cycle], corrupt: Option<Corruption>) {
        let current = self.client_conn.map(ConnectionId::get);
        let conns: Vec<u64> = self.server.conns.keys().copied().collect();
        let topic = self.topic_for(root);
        let wire_id = self.wire_root_id(root);
        for conn in conns {
            let Some(channel) = self.channel_mut(conn, &topic) else { continue };
            let join_ref = channel.join_ref.clone();
            let Some(page) = channel.roots.get(root).cloned() else { continue };
            let mut version = page.version;
            let mut broken = page.broken;
            let mut frames = Vec::new();
            let mut states = Vec::new();
            for (index, cycle) in cycles.iter().enumerate() {
                let mut base = version;
                let mut ops = cycle.ops.clone();
                match corrupt.filter(|_| index == 0 && Some(conn) == current) {
                    Some(Corruption::Gap(skip)) => {
                        base += skip;
                        broken = true;
                        for _ in 0..skip {
                            states.push((cycle.tree.clone(), cycle.snapshot.clone()));
                        }
                    }
                    Some(Corruption::BadOp(kind)) => {
                        broken = true;
                        let items = cycle.tree["items"].as_array().map_or(0, Vec::len);
                        ops.push(match kind {
                            0 => json!({"op": "remove", "path": "/__sim__/missing/deep"}),
                            1 => json!({"op": "replace", "path": format!("/items/{}", items + 3), "value": 1}),
                            2 => json!({"op": "add", "path": "", "value": {}}),
                            3 => json!({"op": "replace", "path": "count", "value": 1}),
                            // A valid op whose result is deeper than the client holds.
                            _ => json!({"op": "add", "path": "/__sim_deep__", "value": TOO_DEEP}),
                        });
                    }
                    None => {}
                }
                version = base + 1;
                states.push((cycle.tree.clone(), cycle.snapshot.clone()));
                let envelope = json!({
                    "type": "patch", "root_id": wire_id, "base_version": base, "version": version,
                    "ops": ops, "stream_ops": cycle.stream_ops, "upload_ops": [],
                });
                frames.push(json!([join_ref, null, topic, "patch", envelope]));
            }
            if let Some(page_state) = self.channel_mut(conn, &topic).and_then(|c| c.roots.get_mut(root)) {
                page_state.version = version;
                page_state.broken = broken;
            }
            if let Some(incarnation) =
                self.server.history.get_mut(&(conn, join_ref.clone(), root.to_owned())).and_then(|h| h.get_mut(page.incarnation))
            {
                incarnation.extend(states);
            }
            for frame in frames {
                self.send(conn, frame);
            }
        }
    }

    /// A server-side change (pub/sub) to a root mounted somewhere; `corrupt` turns its envelope on
    /// the client's connection into a version gap or a bad op.
    pub(super) fn server_change(&mut self, corrupt: Option<Corruption>) -> Check {
        let current = self.client_conn.map(ConnectionId::get);
        let mounted: BTreeSet<String> = self
            .server
            .conns
            .iter()
            .filter(|(conn, _)| corrupt.is_none() || Some(**conn) == current)
            .flat_map(|(_, s)| s.channels.values())
            .flat_map(|c| c.roots.keys().cloned())
            .collect();
        let Some(root) = self.rng.choice(mounted) else { return Ok(()) };
        let Some(db) = self.server.db.get(&root) else { return Ok(()) };
        let store_list = stores(&db.tree);
        let (store, name, payload) = match (corrupt, self.rng.u32(..6)) {
            (Some(_), _) | (None, 0..=1) => (vec![], "incr", json!({"by": 1})),
            (None, 2) => (vec![], "log", json!({"key": format!("s{}", self.rng.u32(..4)), "at": -1, "text": "pubsub"})),
            (None, 3) => (vec![], "add_item", json!({"text": "pubsub", "at": 0})),
            (None, _) => {
                let (id, _) = self.rng.choice(store_list).unwrap_or_default();
                let name = match id.len() {
                    0 => "title",
                    1 if id.first().is_some_and(|s| s.starts_with("item-")) => "toggle",
                    1 => "hit",
                    _ => "note",
                };
                (id, name, json!({"text": "pubsub", "at": 0}))
            }
        };
        self.log(|| format!("server change on {root} {store:?} {name} {corrupt:?}"));
        let outcome = self.server.db.get_mut(&root).map(|db| db.execute(&store, name, &payload));
        if let Some(Ok((_, cycles))) = outcome {
            self.broadcast(&root, &cycles, corrupt);
        }
        Ok(())
    }
}
