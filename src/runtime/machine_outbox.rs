//! The command outbox (opt-in, per runtime and per call): a command dispatched while its root is
//! not live (mounting, stale, recovering, the socket down) waits in its root's queue instead of
//! failing, and the queue is sent in dispatch order once the root is live again, after its fresh
//! initial envelope. Every queued command settles exactly once: with its reply, or with
//! [`SyncError::OutboxFull`], [`SyncError::OutboxExpired`], or the error that ended its root
//! (unmounted, disconnected, failed). A command already *sent* when the connection drops is
//! ambiguous — the server may or may not have run it — so it fails with
//! [`SyncError::DisconnectedInFlight`] and is never re-sent.
//!
//! ```
//! use musubi_wasm::runtime::{CommandOptions, OutboxConfig, Runtime, StoreId};
//! use musubi_wasm::phoenix::SocketConfig;
//! let mut runtime = Runtime::new(SocketConfig::new("ws://h/socket"));
//! runtime.set_outbox(Some(OutboxConfig { max_queued: 10, max_age_ms: 60_000 }));
//! // Per call: `queue: Some(false)` refuses at once while the root is not live.
//! let options = CommandOptions { queue: Some(true) };
//! # let _ = (options, StoreId::root());
//! ```

use std::collections::VecDeque;

use super::*;
use crate::runtime::key_list::KeyList;

/// Bounds of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Commands a root may hold queued; one more fails with [`SyncError::OutboxFull`].
    pub max_queued: usize,
    /// How long a command may wait; then it fails with [`SyncError::OutboxExpired`].
    pub max_age_ms: Millis,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig { max_queued: 100, max_age_ms: 30_000 }
    }
}

/// How one command is dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandOptions {
    /// `Some(true)`: queue it while the root is not live (with the outbox's bounds, or the
    /// defaults when the runtime has none); `Some(false)`: fail at once; `None`: queue exactly when
    /// the runtime has an outbox.
    pub queue: Option<bool>,
}

/// A command waiting for its root.
#[derive(Debug, Clone)]
pub(crate) struct QueuedCommand {
    request: RequestId,
    name: String,
    store_id: StoreId,
    payload: Value,
    expires_at: Millis,
}

/// One root's queue.
pub(crate) type Outbox = VecDeque<QueuedCommand>;

impl Runtime {
    /// Turns the outbox on (with these bounds) or off for commands dispatched afterwards.
    pub fn set_outbox(&mut self, config: Option<OutboxConfig>) {
        self.outbox = config;
    }

    /// The outbox's bounds (`None`: off).
    pub fn outbox(&self) -> Option<OutboxConfig> {
        self.outbox
    }

    /// How many commands for this store wait in its root's outbox.
    pub fn queued(&self, topic: &str, root_id: &str, store_id: &StoreId) -> usize {
        self.root(topic, root_id).map_or(0, |root| root.outbox.iter().filter(|queued| queued.store_id == *store_id).count())
    }

    /// Sends a command, or queues it while the root is not live (see the module docs and
    /// [`CommandOptions`]). Settles with the reply's response.
    #[allow(clippy::too_many_arguments)] // `command`'s arguments plus the options
    pub fn command_with(
        &mut self,
        topic: &str,
        root_id: &str,
        store_id: &StoreId,
        name: &str,
        payload: Value,
        options: CommandOptions,
        now: Millis,
    ) -> RequestId {
        let queue = options.queue.unwrap_or(self.outbox.is_some());
        let state = self.connections.get(topic).and_then(|c| c.roots.get(root_id).map(|root| (c.joined, root.status, root.outbox.len())));
        match state {
            Some((true, RootStatus::Live, 0)) => self.send_command(topic, root_id, store_id, name, payload, now),
            Some((_, status, waiting)) if queue && status != RootStatus::Failed => {
                let request = self.request_id();
                let config = self.outbox.unwrap_or_default();
                if waiting >= config.max_queued {
                    self.settle(request, Err(SyncError::OutboxFull(config.max_queued)));
                    return request;
                }
                let queued = QueuedCommand {
                    request,
                    name: name.to_owned(),
                    store_id: store_id.clone(),
                    payload,
                    expires_at: now.saturating_add(config.max_age_ms),
                };
                if let Some(root) = self.root_mut(topic, root_id) {
                    root.outbox.push_back(queued);
                }
                self.emit_queue_changed(topic, root_id, [store_id.key()]);
                request
            }
            _ => {
                let request = self.request_id();
                self.settle(request, Err(SyncError::NotConnected));
                request
            }
        }
    }

    /// The root is live again: its queue goes out in dispatch order.
    pub(super) fn flush_outbox(&mut self, topic: &Rc<str>, root_id: &Rc<str>, now: Millis) {
        let Some(root) = self.root_mut(topic, root_id) else { return };
        let queued = std::mem::take(&mut root.outbox);
        if queued.is_empty() {
            return;
        }
        let stores: Vec<StoreKey> = queued.iter().map(|command| command.store_id.key()).collect();
        for command in queued {
            let QueuedCommand { request, name, store_id, payload, .. } = command;
            match self.wire_command(topic, root_id, &store_id, &name, payload, now) {
                Ok(push) => {
                    let pending = PendingCommand { request, name, store_id };
                    self.pushes.insert(push, Purpose::Command { topic: topic.clone(), root_id: root_id.clone(), command: pending });
                }
                Err(_) => self.settle(request, Err(SyncError::NotConnected)),
            }
        }
        self.emit_queue_changed(topic, root_id, stores);
    }

    /// The root cannot come back: its queue fails with `error`, in dispatch order.
    pub(super) fn reject_outbox(&mut self, topic: &str, root_id: &str, error: &SyncError) {
        let Some(root) = self.root_mut(topic, root_id) else { return };
        let queued = std::mem::take(&mut root.outbox);
        let stores: Vec<StoreKey> = queued.iter().map(|command| command.store_id.key()).collect();
        self.settle_queued(queued, error);
        self.emit_queue_changed(topic, root_id, stores);
    }

    /// Fails every command of a queue (its root is gone or cannot come back), in dispatch order.
    pub(super) fn settle_queued(&mut self, queued: Outbox, error: &SyncError) {
        for command in queued {
            self.settle(command.request, Err(error.clone()));
        }
    }

    /// The earliest time a queued command expires.
    pub(super) fn outbox_deadline(&self) -> Option<Millis> {
        // Every entry, not the oldest: the age limit may have been lowered since it was queued.
        self.connections.values().flat_map(|c| c.roots.values()).flat_map(|root| root.outbox.iter().map(|q| q.expires_at)).min()
    }

    /// Fails the queued commands that waited too long.
    pub(super) fn expire_outbox(&mut self, now: Millis) {
        let mut expired: Vec<(Rc<str>, Rc<str>, Vec<QueuedCommand>)> = Vec::new();
        for (topic, connection) in self.connections.iter_mut() {
            for (root_id, root) in connection.roots.iter_mut() {
                // Entry by entry: the age limit may have changed between two commands.
                if !root.outbox.iter().any(|q| q.expires_at <= now) {
                    continue;
                }
                let (due, keep): (Outbox, Outbox) = std::mem::take(&mut root.outbox).into_iter().partition(|q| q.expires_at <= now);
                root.outbox = keep;
                expired.push((topic.clone(), root_id.clone(), due.into_iter().collect()));
            }
        }
        for (topic, root_id, commands) in expired {
            let stores: Vec<StoreKey> = commands.iter().map(|command| command.store_id.key()).collect();
            for command in commands {
                self.settle(command.request, Err(SyncError::OutboxExpired));
            }
            self.emit_queue_changed(&topic, &root_id, stores);
        }
    }

    /// The queued count of these stores changed (once each).
    fn emit_queue_changed(&mut self, topic: &str, root_id: &str, stores: impl IntoIterator<Item = StoreKey>) {
        let stores = KeyList::from_keys(stores).into_vec();
        if stores.is_empty() || self.root(topic, root_id).is_none() {
            return;
        }
        self.emit(RuntimeEvent::OutboxChanged { topic: topic.into(), root_id: root_id.into(), stores });
    }
}
