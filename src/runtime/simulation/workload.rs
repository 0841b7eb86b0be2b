//! The client workload: mounts, unmounts (only what it owns), commands and reads, with the
//! bookkeeping of every request it made, and the run's statistics.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Check, GHOST, MODULE, PANEL_IDS, ROOT_IDS, Sim, TOPIC};
use crate::runtime::{CommandOptions, MountSpec, StoreId, SyncError};

/// What a request asked for.
#[derive(Debug, Clone)]
pub(super) enum ReqKind {
    Connect,
    Disconnect,
    Mount(String),
    Unmount(String),
    Command { root: String, cid: u64 },
}

/// A request the workload made, and how it settled.
#[derive(Debug)]
pub(super) struct Req {
    pub(super) kind: ReqKind,
    pub(super) settled: u32,
    pub(super) result: Option<Result<Value, SyncError>>,
}

/// What the schedules did, summed for the summary line.
#[derive(Debug, Default, Clone)]
pub(super) struct Stats {
    pub(super) schedules: u64,
    pub(super) steps: u64,
    pub(super) inputs: u64,
    pub(super) frames_to_server: u64,
    pub(super) frames_to_client: u64,
    pub(super) faults: BTreeMap<&'static str, u64>,
    pub(super) recoveries: u64,
    pub(super) stale: u64,
    pub(super) envelopes_ignored: u64,
    pub(super) notifications: u64,
    pub(super) connects: u64,
    pub(super) refused_connects: u64,
    pub(super) mounts_ok: u64,
    pub(super) mounts_failed: u64,
    pub(super) commands_ok: u64,
    pub(super) commands_failed: u64,
    pub(super) commands_timeout: u64,
    pub(super) commands_other: u64,
    pub(super) known: BTreeMap<&'static str, u64>,
    /// How often the server model took each notable path.
    pub(super) coverage: BTreeMap<&'static str, u64>,
    pub(super) sim_ms: u64,
}

impl Stats {
    /// Adds another run's counts.
    pub(super) fn add(&mut self, other: &Stats) {
        self.schedules += other.schedules;
        self.steps += other.steps;
        self.inputs += other.inputs;
        self.frames_to_server += other.frames_to_server;
        self.frames_to_client += other.frames_to_client;
        for (k, v) in &other.faults {
            *self.faults.entry(*k).or_default() += v;
        }
        self.recoveries += other.recoveries;
        self.stale += other.stale;
        self.envelopes_ignored += other.envelopes_ignored;
        self.notifications += other.notifications;
        self.connects += other.connects;
        self.refused_connects += other.refused_connects;
        self.mounts_ok += other.mounts_ok;
        self.mounts_failed += other.mounts_failed;
        self.commands_ok += other.commands_ok;
        self.commands_failed += other.commands_failed;
        self.commands_timeout += other.commands_timeout;
        self.commands_other += other.commands_other;
        for (k, v) in &other.known {
            *self.known.entry(*k).or_default() += v;
        }
        for (k, v) in &other.coverage {
            *self.coverage.entry(*k).or_default() += v;
        }
        self.sim_ms += other.sim_ms;
    }

    /// The summary line.
    pub(super) fn summary(&self, wall: std::time::Duration) -> String {
        let faults: u64 = self.faults.values().sum();
        let kinds: Vec<String> = self.faults.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let known: Vec<String> = self.known.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let coverage: Vec<String> = self.coverage.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!(
            "simulation: {} schedules, {} steps, {} runtime inputs, {} frames (c→s {}, s→c {}), {faults} faults injected ({}), \
             {} recoveries, {} stale remounts, {} envelopes ignored, {} change notifications, {} connects ({} refused), mounts {} ok / {} failed, \
             commands {} ok / {} failed / {} timed out / {} otherwise, server paths [{}], known issues [{}], {:.0} simulated minutes, {:.1} s wall",
            self.schedules,
            self.steps,
            self.inputs,
            self.frames_to_server + self.frames_to_client,
            self.frames_to_server,
            self.frames_to_client,
            kinds.join(", "),
            self.recoveries,
            self.stale,
            self.envelopes_ignored,
            self.notifications,
            self.connects,
            self.refused_connects,
            self.mounts_ok,
            self.mounts_failed,
            self.commands_ok,
            self.commands_failed,
            self.commands_timeout,
            self.commands_other,
            coverage.join(", "),
            known.join("; "),
            self.sim_ms as f64 / 60_000.0,
            wall.as_secs_f64(),
        )
    }
}

impl Sim {
    // ---- request accounting ----

    /// Records a request the workload made.
    pub(super) fn track(&mut self, request: u64, kind: ReqKind) {
        if let ReqKind::Mount(root) = &kind {
            self.pending_mounts.entry(root.clone()).or_default().insert(request);
        }
        self.requests.insert(request, Req { kind, settled: 0, result: None });
    }

    /// How many owners of `root` the workload holds.
    pub(super) fn expected_owners(&self, root: &str) -> u32 {
        let pending = self.pending_mounts.get(root).map_or(0, |p| u32::try_from(p.len()).unwrap_or(u32::MAX));
        pending + self.ok_mounts.get(root).copied().unwrap_or(0) + self.leaked.get(root).copied().unwrap_or(0)
    }

    /// A random root id (rarely the ghost).
    fn pick_root(&mut self) -> String {
        if self.rng.u32(..25) == 0 { GHOST.to_owned() } else { ROOT_IDS[self.rng.usize(..ROOT_IDS.len())].to_owned() }
    }

    /// Mounts a random root.
    pub(super) fn wl_mount(&mut self) -> Check {
        let root = self.pick_root();
        let spec = MountSpec { module: MODULE.into(), id: root.as_str().into(), params: json!({"from": "sim"}) };
        let request = self.rt.mount(TOPIC, spec, self.now);
        self.log(|| format!("wl mount {root} → req {}", request.get()));
        self.track(request.get(), ReqKind::Mount(root));
        self.stats.inputs += 1;
        self.after_input()
    }

    /// Unmounts a root the workload owns: usually one whose mount resolved, sometimes one whose
    /// mount is still pending (the owner is released at once; that mount settles later).
    pub(super) fn wl_unmount(&mut self) -> Check {
        // The runtime's rule: an unmount gives back an owner whose mount resolved; with none
        // left, it cancels the latest pending mount of that root (which settles `Unmounted`).
        let pending: Vec<String> =
            self.pending_mounts.iter().filter(|(_, requests)| !requests.is_empty()).map(|(r, _)| r.clone()).collect();
        let owned: Vec<String> = self.ok_mounts.iter().filter(|(_, n)| **n > 0).map(|(r, _)| r.clone()).collect();
        let candidates = if self.rng.u32(..4) == 0 && !pending.is_empty() { pending } else { owned };
        let Some(root) = self.rng.choice(candidates) else { return Ok(()) };
        match self.ok_mounts.get_mut(&root) {
            Some(n) if *n > 0 => *n -= 1,
            _ => {
                let latest = self.pending_mounts.get_mut(&root).and_then(|requests| requests.pop_last());
                if let Some(request) = latest {
                    self.released.insert(request);
                }
            }
        }
        let request = self.rt.unmount(TOPIC, &root, self.now);
        self.log(|| format!("wl unmount {root} → req {}", request.get()));
        self.track(request.get(), ReqKind::Unmount(root));
        self.stats.inputs += 1;
        self.after_input()
    }

    /// The runtime's store ids of a root, sorted (the index is a hash map: its order is not
    /// reproducible across runs).
    pub(super) fn store_ids(&self, root: &str) -> Vec<Vec<String>> {
        let mut ids: Vec<Vec<String>> =
            self.rt.store_ids(TOPIC, root).iter().map(|id| id.segments().iter().map(|s| s.to_string()).collect()).collect();
        ids.sort();
        ids
    }

    /// Reads a random store (and checks its root).
    pub(super) fn wl_read(&mut self) -> Check {
        let root = self.pick_root();
        let ids = self.store_ids(&root);
        if let Some(id) = self.rng.choice(ids) {
            let id = StoreId::from(id);
            let _ = self.rt.snapshot(TOPIC, &root, &id);
            let _ = self.rt.read(TOPIC, &root, &id, "feed");
        }
        self.check_root(&root)
    }

    /// A random command (name, payload) for `store`.
    fn command_for(&mut self, store: &[String], root: &str) -> (String, Value) {
        let text = format!("t{}", self.rng.u32(..1000));
        let (name, mut payload) = match store.len() {
            0 => match self.rng.u32(..16) {
                0..=2 => ("incr", json!({"by": self.rng.i64(1..5)})),
                3 => ("twice", json!({})),
                4 => ("title", json!({"text": text})),
                5..=6 => ("add_item", json!({"text": text, "at": self.rng.u64(0..4)})),
                7 => {
                    let items: Vec<String> = self.store_ids(root).into_iter().filter_map(|id| id.first().cloned()).collect();
                    let items: Vec<String> = items.into_iter().filter(|s| s.starts_with("item-")).collect();
                    let id = self.rng.choice(items).unwrap_or_else(|| "item-0".into());
                    ("remove_item", json!({"id": id}))
                }
                8 => ("add_panel", json!({"id": PANEL_IDS[self.rng.usize(..PANEL_IDS.len())]})),
                9 => ("remove_panel", json!({"id": PANEL_IDS[self.rng.usize(..PANEL_IDS.len())]})),
                10 => {
                    let key = format!("k{}", self.rng.u32(..6));
                    let limit = if self.rng.bool() { Value::Null } else { json!(self.rng.i64(-4..=4)) };
                    ("log", json!({"key": key, "at": self.rng.i64(-1..3), "text": text, "limit": limit}))
                }
                11 => ("unlog", json!({"key": format!("k{}", self.rng.u32(..6))})),
                12 => (["reseed", "clear_panels", "multi"][self.rng.usize(..3)], json!({"text": text})),
                13 => ("load", json!({"text": text, "fail": self.rng.bool()})),
                14 => (["noop", "halt"][self.rng.usize(..2)], json!({})),
                _ => ("bogus", json!({})),
            },
            1 if store.first().is_some_and(|s| s.starts_with("item-")) => {
                (if self.rng.bool() { "toggle" } else { "rename" }, json!({"text": text}))
            }
            1 => {
                let at = [-1, 0, 2][self.rng.usize(..3)];
                ("hit", json!({"at": at}))
            }
            _ => ("note", json!({"text": text})),
        };
        if let Value::Object(map) = &mut payload {
            map.retain(|_, v| !v.is_null());
        }
        (name.to_owned(), payload)
    }

    /// Sends a random command, mostly to a root the workload owns.
    pub(super) fn wl_command(&mut self) -> Check {
        let owned: Vec<String> = self.ok_mounts.iter().filter(|(_, n)| **n > 0).map(|(r, _)| r.clone()).collect();
        let root = match self.rng.choice(owned) {
            Some(root) if self.rng.u32(..10) > 0 => root,
            _ => self.pick_root(),
        };
        let ids = self.store_ids(&root);
        let store: Vec<String> = match self.rng.choice(ids) {
            Some(id) if self.rng.u32(..20) > 0 => id,
            _ => vec!["nope".to_owned()],
        };
        let (name, mut payload) = self.command_for(&store, &root);
        self.next_cid += 1;
        let cid = self.next_cid;
        payload["cid"] = json!(cid);
        let queue = [None, None, None, Some(true), Some(false)][self.rng.usize(..5)];
        let store_id = StoreId::from(store.clone());
        let waiting = self.rt.roots(TOPIC).into_iter().find(|info| *info.id == *root).map(|info| (info.status, info.queued));
        let request = self.rt.command_with(TOPIC, &root, &store_id, &name, payload.clone(), CommandOptions { queue }, self.now);
        // Queued now if it is still waiting in the root's outbox.
        let queued_now = self.rt.roots(TOPIC).into_iter().find(|info| *info.id == *root).map(|info| info.queued);
        if let (Some((_, before)), Some(after)) = (waiting, queued_now)
            && after > before
        {
            self.queued_commands.entry(root.clone()).or_default().push(cid);
            self.cover("command queued in the outbox");
        }
        self.log(|| format!("wl command {root} {store:?} {name} {payload} queue {queue:?} → req {}", request.get()));
        self.track(request.get(), ReqKind::Command { root, cid });
        self.stats.inputs += 1;
        self.after_input()
    }
}
