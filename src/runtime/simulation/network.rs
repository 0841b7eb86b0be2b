//! The simulated network: every frame is delivered after a random latency, in order per
//! connection and direction; the time loop interleaves deliveries with the runtime's timers; and
//! the faults (transport drops, duplicates, gaps, bad ops, late replies, crashes, closes, server
//! restarts, black holes).

use std::collections::BTreeMap;

use serde_json::json;

use super::server::{Corruption, ServerConn};
use super::tree::short;
use super::{Check, Sim, TOPIC};
use crate::phoenix::frame::Frame;
use crate::phoenix::{ConnectionId, Millis, Output, WireMessage};
use crate::test_clock::{self, Due};

/// What the network hands the runtime.
#[derive(Debug)]
pub(super) enum ClientInput {
    Open,
    /// A text frame and its join_ref.
    Text(String, Option<String>),
    Close(u16),
}

/// A delivery in flight.
#[derive(Debug)]
pub(super) enum Delivery {
    ToServer { conn: u64, frame: Frame },
    Accept { conn: u64, client: ConnectionId },
    ServerSeesClose { conn: u64 },
    ToClient { conn: ConnectionId, input: ClientInput },
}

impl Sim {
    // ---- time and delivery ----

    /// A random one-way latency: mostly short, sometimes long.
    fn latency(&mut self) -> Millis {
        if self.rng.u32(..10) == 0 { self.rng.u64(40..400) } else { self.rng.u64(1..40) }
    }

    fn schedule(&mut self, at: Millis, delivery: Delivery) {
        self.net_seq += 1;
        self.net.insert((at, self.net_seq), delivery);
    }

    /// Schedules a client → server delivery, in order per connection.
    pub(super) fn c2s(&mut self, conn: u64, delivery: Delivery) {
        let latency = self.latency();
        let floor = self.c2s_floor.get(&conn).copied().unwrap_or(0);
        let at = (self.now + latency).max(floor);
        self.c2s_floor.insert(conn, at);
        self.schedule(at, delivery);
    }

    /// Schedules a server → client delivery, in order per connection.
    pub(super) fn s2c(&mut self, client: ConnectionId, input: ClientInput) {
        let latency = self.latency();
        let conn = client.get();
        let floor = self.s2c_floor.get(&conn).copied().unwrap_or(0);
        let at = (self.now + latency).max(floor);
        self.s2c_floor.insert(conn, at);
        self.schedule(at, Delivery::ToClient { conn: client, input });
    }

    /// Processes deliveries and client timers in time order up to `target` (a delivery goes
    /// before a timer due at the same time: [`test_clock::next_due`]).
    pub(super) fn run_until(&mut self, target: Millis) -> Check {
        let mut stuck = 0;
        let mut guard = 0u32;
        loop {
            guard += 1;
            ensure!(guard < 200_000, "livelock: more than 200000 events before t={target}");
            let net_at = self.net.keys().next().map(|(at, _)| *at);
            match test_clock::next_due(&mut self.now, target, &self.rt, net_at) {
                None => break,
                Some(Due::External) => {
                    stuck = 0;
                    if let Some((_, delivery)) = self.net.pop_first() {
                        self.deliver(delivery)?;
                    }
                }
                Some(Due::Timer(deadline)) => {
                    self.stats.inputs += 1;
                    self.rt.handle_timeout(self.now);
                    self.after_input()?;
                    if self.rt.poll_timeout() == Some(deadline) {
                        stuck += 1;
                        ensure!(stuck < 3, "a timer due at {:?} stays due after handle_timeout at {}", Some(deadline), self.now);
                    }
                }
            }
        }
        self.now = self.now.max(target);
        Ok(())
    }

    /// Carries out one delivery.
    fn deliver(&mut self, delivery: Delivery) -> Check {
        match delivery {
            Delivery::ToServer { conn, frame } => self.server_receive(conn, frame),
            Delivery::Accept { conn, client } => {
                if self.now < self.server.up_at {
                    self.stats.refused_connects += 1;
                    self.log(|| format!("server refuses connection {conn} (restarting)"));
                    self.s2c(client, ClientInput::Close(1006));
                } else {
                    self.log(|| format!("server accepts connection {conn}"));
                    let state = ServerConn {
                        client,
                        channels: BTreeMap::new(),
                        late_next: false,
                        dup_budget: 0,
                        blackhole: false,
                        ignore_joins: 0,
                    };
                    self.server.conns.insert(conn, state);
                    self.s2c(client, ClientInput::Open);
                }
                Ok(())
            }
            Delivery::ServerSeesClose { conn } => {
                if self.server.conns.remove(&conn).is_some() {
                    self.log(|| format!("server sees connection {conn} closed by the client"));
                }
                Ok(())
            }
            Delivery::ToClient { conn, input } => {
                self.stats.inputs += 1;
                match input {
                    ClientInput::Open => {
                        self.log(|| format!("client ← open {}", conn.get()));
                        self.rt.handle_open(conn, self.now);
                    }
                    ClientInput::Text(text, join_ref) => {
                        self.stats.frames_to_client += 1;
                        self.log(|| format!("client ← {}: {}", conn.get(), short(&text)));
                        self.rt.handle_text(conn, &text, self.now);
                        self.frame_join_ref = Some(join_ref);
                        let checked = self.after_input();
                        self.frame_join_ref = None;
                        return checked;
                    }
                    ClientInput::Close(code) => {
                        self.log(|| format!("client ← close {} ({code})", conn.get()));
                        self.rt.handle_close(conn, code, "", self.now);
                    }
                }
                self.after_input()
            }
        }
    }

    /// Drains the runtime's outputs, then checks every per-step invariant.
    pub(super) fn after_input(&mut self) -> Check {
        self.drain()?;
        self.check_step()?;
        self.notified.clear();
        Ok(())
    }

    /// Puts the runtime's outputs on the network and handles its events.
    fn drain(&mut self) -> Check {
        while let Some(output) = self.rt.poll_output() {
            match output {
                Output::Connect { connection, .. } if self.fail_next_connect => {
                    self.fail_next_connect = false;
                    self.log(|| format!("client → connect {}: the WebSocket constructor throws", connection.get()));
                    self.rt.handle_connect_error(connection, "SyntaxError: the subprotocol is invalid", self.now);
                    self.reopen_at = Some(self.now + self.rng.u64(100..5_000));
                }
                Output::Connect { connection, .. } => {
                    self.stats.connects += 1;
                    self.ever_connected = true;
                    self.client_conn = Some(connection);
                    self.client_join_refs.clear();
                    self.log(|| format!("client → connect {}", connection.get()));
                    self.c2s(connection.get(), Delivery::Accept { conn: connection.get(), client: connection });
                }
                Output::Send { connection, message } => {
                    let WireMessage::Text(text) = message else { return Err("the runtime sent a binary frame".into()) };
                    let frame = self.check_client_frame(connection, &text)?;
                    self.stats.frames_to_server += 1;
                    self.log(|| format!("client → {}: {}", connection.get(), short(&text)));
                    self.c2s(connection.get(), Delivery::ToServer { conn: connection.get(), frame });
                }
                Output::Close { connection, code, reason } => {
                    self.log(|| format!("client closes {} ({code} {reason})", connection.get()));
                    self.c2s(connection.get(), Delivery::ServerSeesClose { conn: connection.get() });
                }
                Output::Event(event) => self.on_event(event)?,
            }
        }
        let failed = std::mem::take(&mut self.failed_mounts);
        for (root, timed_out) in failed {
            if timed_out && self.rt.root_status(TOPIC, &root).is_none() {
                let join_ref = self.client_join_ref(&root).unwrap_or_default();
                self.gave_up.insert((join_ref, root.clone()));
            }
            // A failed mount must not leave an owner behind that nobody can release.
            let owners = self.rt.root_owners(TOPIC, &root).unwrap_or(0);
            let expected = self.expected_owners(&root);
            if owners > expected {
                self.leaked.insert(root.clone(), self.leaked.get(&root).copied().unwrap_or(0) + owners - expected);
                let status = self.rt.root_status(TOPIC, &root);
                self.known_issue("failed mount keeps its owner", format!("{root}: {owners} owners, {expected} held, status {status:?}"))?;
            }
        }
        Ok(())
    }

    // ---- faults ----

    /// Counts an injected fault.
    fn fault(&mut self, name: &'static str) {
        *self.stats.faults.entry(name).or_default() += 1;
        self.log(|| format!("FAULT {name}"));
    }

    /// The client's current connection, if the server still holds it.
    fn current_server_conn(&self) -> Option<u64> {
        self.client_conn.map(ConnectionId::get).filter(|conn| self.server.conns.contains_key(conn))
    }

    /// The server drops a connection; `abrupt` also loses the frames still in flight to the client.
    fn drop_conn(&mut self, conn: u64, abrupt: bool) {
        let Some(state) = self.server.conns.remove(&conn) else { return };
        let client = state.client;
        if abrupt {
            self.net.retain(|_, d| !matches!(d, Delivery::ToClient { conn: c, .. } if *c == client));
            self.s2c_floor.remove(&conn);
        }
        self.s2c(client, ClientInput::Close(1006));
    }

    /// Injects a random fault (some need a connection or a joined channel).
    pub(super) fn inject_fault(&mut self) -> Check {
        let conn = self.current_server_conn();
        let state = conn.and_then(|c| self.server.conns.get(&c));
        let topics: Vec<String> = state.map(|s| s.channels.keys().cloned().collect()).unwrap_or_default();
        let mounted = state.is_some_and(|s| s.channels.values().any(|c| !c.roots.is_empty()));
        // The channel a crash or close hits: the connection channel, or per root a random one.
        let topic = if self.per_root {
            (!topics.is_empty()).then(|| self.rng.usize(..topics.len())).and_then(|at| topics.get(at).cloned())
        } else {
            topics.into_iter().find(|topic| topic == TOPIC)
        };
        let joined = topic.and_then(|topic| state.and_then(|s| s.channels.get(&topic).cloned()).map(|channel| (topic, channel)));
        match (self.rng.u32(..11), conn, joined) {
            (0, Some(conn), _) => {
                self.fault("drop");
                let abrupt = self.rng.bool();
                self.drop_conn(conn, abrupt);
            }
            (1, Some(conn), _) => {
                self.fault("duplicate");
                let budget = self.rng.u32(1..6);
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.dup_budget += budget;
                }
            }
            (2, Some(_), Some(_)) if mounted => {
                self.fault("gap");
                let skip = self.rng.u64(1..4);
                self.server_change(Some(Corruption::Gap(skip)))?;
            }
            (3, Some(_), Some(_)) if mounted => {
                self.fault("bad-op");
                let kind = self.rng.u8(..5);
                self.server_change(Some(Corruption::BadOp(kind)))?;
            }
            (4, Some(conn), _) => {
                self.fault("late-reply");
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.late_next = true;
                }
            }
            (5, Some(conn), Some((topic, channel))) => {
                self.fault("crash");
                let payload = if self.rng.bool() { json!({}) } else { json!({"reason": "channel_crash"}) };
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.channels.remove(&topic);
                }
                self.send(conn, json!([channel.join_ref, channel.join_ref, topic, "phx_error", payload]));
            }
            (6, Some(conn), Some((topic, channel))) => {
                self.fault("close");
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.channels.remove(&topic);
                }
                self.send(conn, json!([channel.join_ref, channel.join_ref, topic, "phx_close", {}]));
            }
            (7, _, _) => {
                self.fault("restart");
                let conns: Vec<u64> = self.server.conns.keys().copied().collect();
                for conn in conns {
                    self.drop_conn(conn, true);
                }
                self.server.up_at = self.now + self.rng.u64(200..6_000);
                if self.rng.u32(..3) == 0 {
                    self.server.refuse_joins_until = self.server.up_at + self.rng.u64(0..3_000);
                }
            }
            (8, Some(conn), _) if self.rng.u32(..3) == 0 => {
                self.fault("blackhole");
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.blackhole = true;
                }
            }
            (9, Some(conn), _) => {
                self.fault("unanswered-joins");
                let joins = self.rng.u32(1..4);
                if let Some(state) = self.server.conns.get_mut(&conn) {
                    state.ignore_joins += joins;
                }
            }
            (10, _, _) if self.rng.u32(..4) == 0 => {
                self.fault("constructor-throws");
                self.fail_next_connect = true;
                if let Some(conn) = conn {
                    self.drop_conn(conn, true);
                }
            }
            _ => {}
        }
        Ok(())
    }

    // ---- quiescence ----

    /// Runs until nothing is in flight.
    pub(super) fn drain_network(&mut self) -> Check {
        for _ in 0..10_000 {
            let Some(((at, _), _)) = self.net.first_key_value() else { return Ok(()) };
            let at = *at;
            self.run_until(at)?;
        }
        Err("the network never drained".into())
    }
}
