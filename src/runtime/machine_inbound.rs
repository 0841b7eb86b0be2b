//! What comes in from the server, for the [`Runtime`]: connection-channel events (joins, refusals,
//! losses, reopen timers), push replies (mount, unmount, command outcomes) and envelopes, with
//! version-mismatch recovery (PROTOCOL.md §2.13) and the self-healing remounts.

use super::*;
use crate::runtime::key_list::KeyList;

impl Runtime {
    pub(super) fn on_channel_event(&mut self, channel: ChannelId, event: ChannelEvent, now: Millis) {
        if let ChannelEvent::PushSettled { push, result } = event {
            if let Some(purpose) = self.pushes.remove(&push) {
                self.on_push_settled(push, purpose, result, now);
            }
            return;
        }
        if self.is_upload_channel(channel) {
            return self.on_upload_channel_event(channel, event, now);
        }
        let topic = match self.channel_role(channel) {
            Some(wire::ChannelRole::Connection(topic)) => topic,
            Some(wire::ChannelRole::Root(topic, root_id)) => return self.on_root_channel_event(&topic, &root_id, event, now),
            None => return,
        };
        match event {
            ChannelEvent::Joined(_) => {
                self.wire_detected(&topic, None, now);
                self.on_joined(&topic, now);
            }
            ChannelEvent::JoinRefused(response) => {
                if !self.wire_detected(&topic, Some(&response), now) {
                    self.on_join_failed(&topic, SyncError::JoinFailed(json_of(&response)), now);
                }
            }
            // The channel rejoins on its schedule; whoever waits keeps waiting (or gives up).
            ChannelEvent::JoinTimeout => {
                self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: "join timed out; retrying".to_owned() })
            }
            ChannelEvent::Errored(_) => self.on_channel_lost(&topic),
            ChannelEvent::Closed(cause) => {
                self.on_channel_lost(&topic);
                if cause != CloseCause::Left
                    && let Some(connection) = self.connections.get_mut(&topic)
                {
                    connection.reopen_at = Some(now.saturating_add(REOPEN_DELAY_MS));
                }
            }
            ChannelEvent::Message { event, payload } if event == "patch" => self.on_envelope(&topic, None, &payload, now),
            ChannelEvent::Message { .. } | ChannelEvent::State(_) | ChannelEvent::PushSettled { .. } => {}
        }
    }

    pub(super) fn on_joined(&mut self, topic: &Rc<str>, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        connection.joined = true;
        let waiters = std::mem::take(&mut connection.connect_waiters);
        let to_mount: Vec<Rc<str>> = connection
            .roots
            .iter()
            .filter(|(_, root)| !root.mount_sent && root.status != RootStatus::Failed)
            .map(|(id, _)| id.clone())
            .collect();
        for waiter in waiters {
            self.settle(waiter, Ok(Value::Null));
        }
        for root_id in to_mount {
            self.wire_mount(topic, &root_id, now);
        }
    }

    /// The join was refused or timed out: connect waiters and first mounts fail; roots that have
    /// state keep it and remount once a later rejoin succeeds.
    pub(super) fn on_join_failed(&mut self, topic: &Rc<str>, error: SyncError, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let waiters = std::mem::take(&mut connection.connect_waiters);
        let first_mounts: Vec<Rc<str>> = connection.roots.iter().filter(|(_, root)| !root.has_state()).map(|(id, _)| id.clone()).collect();
        let mut failed = Vec::new();
        for root_id in first_mounts {
            if let Some(root) = connection.roots.remove(&root_id) {
                failed.push((root_id, root.waiters, root.channel, root.outbox));
            }
        }
        for waiter in waiters {
            self.settle(waiter, Err(error.clone()));
        }
        for (root_id, waiters, root_channel, outbox) in failed {
            self.fail_root_work(topic, &root_id, waiters, &error);
            self.settle_queued(outbox, &error);
            self.drop_root_uploads(topic, &root_id, &error, now);
            // A forgotten root's own channel goes too, or it would keep rejoining (per root).
            self.wire_release(topic, &root_id, root_channel, false, now);
        }
    }

    /// The channel errored or closed: in-flight commands fail with `Disconnected`; every root keeps
    /// its last good state (stale) and is mounted again after the rejoin.
    pub(super) fn on_channel_lost(&mut self, topic: &Rc<str>) {
        let generation = self.fresh_generation();
        let Some(connection) = self.connections.get_mut(topic) else { return };
        connection.joined = false;
        let mut stale = Vec::new();
        for (root_id, root) in connection.roots.iter_mut() {
            root.generation = generation;
            root.mount_sent = false;
            root.initial_deadline = None;
            // The rejoin remounts at once; a failed root stays failed.
            root.retry_at = None;
            if !matches!(root.status, RootStatus::Mounting | RootStatus::Failed) {
                root.replica.expect_initial();
                stale.push(root_id.clone());
            }
        }
        let root_ids: Vec<Rc<str>> = connection.roots.keys().cloned().collect();
        // Commands sent and not answered may or may not have run: never re-sent.
        for root_id in &root_ids {
            self.fail_root_work(topic, root_id, Vec::new(), &SyncError::DisconnectedInFlight);
        }
        for root_id in stale {
            self.set_status(topic, &root_id, RootStatus::Stale);
        }
    }

    pub(super) fn run_connection_timers(&mut self, topic: &Rc<str>, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        if connection.reopen_at.is_some_and(|at| at <= now) {
            connection.reopen_at = None;
            let (channel, _) = self.wire_open(topic, now);
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
        self.run_remount_retries(topic, now);
    }

    pub(super) fn on_push_settled(&mut self, push: PushId, purpose: Purpose, result: Result<Reply, PushError>, now: Millis) {
        match purpose {
            Purpose::Preflight(preflight) => self.on_preflight_answer(*preflight, result, now),
            Purpose::Chunk(addr) => self.on_chunk_answer(addr, push, result, now),
            Purpose::CancelUpload { request, .. } => self.on_cancel_answer(request),
            Purpose::UploadNotice { .. } => {}
            Purpose::ExternalComplete(addr) => self.on_external_complete_answer(addr, result, now),
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
                            _ => self.await_initial(&topic, &root_id, now),
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
                        self.wire_remount(&topic, &root_id, now);
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
    pub(super) fn mount_failed(&mut self, topic: &Rc<str>, root_id: &Rc<str>, error: &SyncError, server_may_have_it: bool, now: Millis) {
        if let Some(root) = self.root_mut(topic, root_id) {
            root.mount_sent = false;
        }
        self.reject_mounts(topic, root_id, error, server_may_have_it, now);
        // Owners that were not waiting (they hold the last good state) keep the root: a timeout is
        // retried with backoff, anything else is final.
        if self.root(topic, root_id).is_some() {
            if error.is_transient() {
                self.schedule_remount(topic, root_id, error, now);
            } else {
                self.fail_root(topic, root_id, error, now);
            }
        }
    }

    /// Settles a root's pending mount requests with `error` and removes the owners they added.
    pub(super) fn reject_mounts(&mut self, topic: &Rc<str>, root_id: &Rc<str>, error: &SyncError, server_may_have_it: bool, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let Some(root) = connection.roots.get_mut(root_id) else { return };
        let waiters = std::mem::take(&mut root.waiters);
        root.owners = root.owners.saturating_sub(u32::try_from(waiters.len()).unwrap_or(u32::MAX));
        let forget = !root.has_state() || root.owners == 0;
        let mounted_on_server = root.has_state() || server_may_have_it;
        if forget {
            let removed = connection.roots.remove(root_id);
            let root_channel = removed.as_ref().and_then(|root| root.channel);
            self.wire_release(topic, root_id, root_channel, mounted_on_server, now);
            self.drop_root_uploads(topic, root_id, error, now);
            if let Some(root) = removed {
                self.settle_queued(root.outbox, error);
            }
        }
        for waiter in waiters {
            self.settle(waiter, Err(error.clone()));
        }
    }

    /// An envelope for a root: named by its `root_id` on a connection channel, or the root of the
    /// channel it came on (`root`, per-root wire; its `root_id` must then be `<module>:<id>`).
    pub(super) fn on_envelope(&mut self, topic: &Rc<str>, root: Option<&Rc<str>>, payload: &Payload, now: Millis) {
        let parsed = match payload {
            Payload::Json(value) => Envelope::parse(&Node::from_json(value)),
            Payload::Text(text) => Envelope::parse_text(text),
            Payload::Binary(_) => Err(crate::runtime::envelope::EnvelopeError("binary payload")),
        };
        let envelope = match parsed {
            Ok(envelope) => envelope,
            Err(error) => {
                self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: error.to_string() });
                return;
            }
        };
        let root_id = match root {
            Some(root_id) => {
                let named = self.root(topic, root_id).is_some_and(|root| *envelope.root_id == *wire::wire_root_id(&root.spec));
                if !named {
                    let message = format!("ignored envelope for {} on the channel of {root_id}", envelope.root_id);
                    self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message });
                    return;
                }
                root_id.clone()
            }
            None => envelope.root_id.clone(),
        };
        let Some(root) = self.root_mut(topic, &root_id) else {
            self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("ignored envelope for unknown root {root_id}") });
            return;
        };
        let was_stale = root.status.is_stale();
        match root.replica.accept(&envelope) {
            Ok(mut changes) => {
                if was_stale {
                    // Back from stale: every store's staleness changed with its state.
                    let mut notify = KeyList::from_keys(std::mem::take(&mut changes.notify));
                    for key in root.replica.index().keys() {
                        notify.push(key.clone());
                    }
                    changes.notify = notify.into_vec();
                }
                if changes.initial {
                    root.initial_deadline = None;
                    root.retried_already_mounted = false;
                    root.attempt = 0;
                    root.retry_at = None;
                    root.reason = None;
                    let waiters = std::mem::take(&mut root.waiters);
                    self.set_status(topic, &root_id, RootStatus::Live);
                    for waiter in waiters {
                        self.settle(waiter, Ok(Value::Null));
                    }
                    self.flush_outbox(topic, &root_id, now);
                }
                let uploads = std::mem::take(&mut changes.uploads);
                if !changes.notify.is_empty() {
                    self.emit(RuntimeEvent::StoresChanged { topic: topic.clone(), root_id: root_id.clone(), stores: changes.notify });
                }
                if !uploads.is_empty() {
                    self.on_server_upload_changes(topic, &root_id, uploads, now);
                }
                if !changes.events.is_empty() {
                    self.emit(RuntimeEvent::PushEvents { topic: topic.clone(), root_id, events: changes.events });
                }
            }
            // An initial state deeper than the client holds can never be shown: the root fails
            // (and the server is told to drop it); a deeper patch of a live root is recovered.
            Err(error @ AcceptError::TooDeep { .. }) if envelope.is_initial() || root.replica.version() == 0 => {
                self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("refused envelope for {root_id}: {error}") });
                if let Some(root) = self.root_mut(topic, &root_id) {
                    root.initial_deadline = None;
                }
                self.mount_failed(topic, &root_id, &SyncError::TooDeep("the root's state"), true, now);
            }
            Err(AcceptError::NotInitial) => {
                let message = format!(
                    "ignored envelope {} → {} for {root_id} while waiting for its initial envelope",
                    envelope.base_version, envelope.version
                );
                self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message });
            }
            Err(error) => self.recover(topic, &root_id, &error.resync_cause(), now),
        }
    }

    /// Version-mismatch recovery (§2.13): pending work fails with `VersionMismatch`, the last good
    /// state stays readable, `unmount` then `mount` are pushed, and only an initial envelope is
    /// accepted until the fresh state arrives.
    pub(super) fn recover(&mut self, topic: &Rc<str>, root_id: &Rc<str>, reason: &str, now: Millis) {
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
        // Until the fresh state is in, the root's info says why it resyncs.
        root.reason = Some(reason.to_owned());
        self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("recovering {root_id}: {reason}") });
        self.set_status(topic, root_id, RootStatus::Recovering);
        self.reject_mounts(topic, root_id, &SyncError::VersionMismatch, false, now);
        self.fail_root_work(topic, root_id, Vec::new(), &SyncError::VersionMismatch);
        if self.root(topic, root_id).is_none() {
            // The rejected mounts were its only owners: it was unmounted instead.
            return;
        }
        if joined {
            self.wire_remount(topic, root_id, now);
        }
    }

    /// A mount was answered: its initial envelope is awaited until the push timeout.
    pub(super) fn await_initial(&mut self, topic: &Rc<str>, root_id: &Rc<str>, now: Millis) {
        let timeout = self.socket.config().options.timeout_ms;
        if let Some(root) = self.root_mut(topic, root_id)
            && root.replica.version() == 0
        {
            root.initial_deadline = Some(now.saturating_add(timeout));
        }
    }
}

impl Runtime {
    /// Schedules the next remount of a root that still has owners, on the rejoin schedule.
    pub(super) fn schedule_remount(&mut self, topic: &Rc<str>, root_id: &Rc<str>, error: &SyncError, now: Millis) {
        let backoff = self.socket.config().options.rejoin.clone();
        let Some(attempt) = self.root(topic, root_id).map(|root| root.attempt.saturating_add(1)) else { return };
        let delay = self.socket.jittered_delay(&backoff, attempt);
        if let Some(root) = self.root_mut(topic, root_id) {
            root.attempt = attempt;
            root.retry_at = Some(now.saturating_add(delay));
            root.reason = Some(error.to_string());
        }
        let message = format!("remount of {root_id} failed ({error}); attempt {attempt} in {delay} ms");
        self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message });
        // The retry is visible in `roots()`; its subscribers hear about it like a status change.
        if let Some(status) = self.root(topic, root_id).map(|root| root.status) {
            self.emit(RuntimeEvent::RootStatus { topic: topic.clone(), root_id: root_id.clone(), status });
        }
    }

    /// Remounts the roots whose retry is due (when the channel is joined; a rejoin remounts anyway).
    pub(super) fn run_remount_retries(&mut self, topic: &Rc<str>, now: Millis) {
        let Some(connection) = self.connections.get_mut(topic) else { return };
        let joined = connection.joined;
        let due: Vec<Rc<str>> =
            connection.roots.iter().filter(|(_, root)| root.retry_at.is_some_and(|at| at <= now)).map(|(id, _)| id.clone()).collect();
        for root_id in due {
            if let Some(root) = self.root_mut(topic, &root_id) {
                root.retry_at = None;
            }
            if joined {
                self.wire_remount(topic, &root_id, now);
            }
        }
    }

    /// A root that cannot be mounted: status `failed` with the reason, pending commands fail, and
    /// the server is told to drop whatever it mounted. The last good state stays readable.
    pub(super) fn fail_root(&mut self, topic: &Rc<str>, root_id: &Rc<str>, error: &SyncError, now: Millis) {
        let generation = self.fresh_generation();
        let Some(root) = self.root_mut(topic, root_id) else { return };
        let root_channel = root.channel.take();
        root.generation = generation;
        root.mount_sent = false;
        root.retry_at = None;
        root.initial_deadline = None;
        root.reason = Some(error.to_string());
        root.replica.expect_initial();
        self.emit(RuntimeEvent::Diagnostic { topic: topic.clone(), message: format!("root {root_id} failed: {error}") });
        self.set_status(topic, root_id, RootStatus::Failed);
        self.fail_root_work(topic, root_id, Vec::new(), error);
        // A failed root is not retried until it is mounted again: nothing queued can go out.
        self.reject_outbox(topic, root_id, error);
        self.wire_release(topic, root_id, root_channel, true, now);
    }

    /// A new owner mounts a failed root: it starts over (now, if the channel is joined).
    pub(super) fn restart_failed(&mut self, topic: &Rc<str>, root_id: &Rc<str>, joined: bool, now: Millis) {
        let Some(root) = self.root_mut(topic, root_id) else { return };
        root.reason = None;
        root.attempt = 0;
        let status = if root.replica.index().is_empty() { RootStatus::Mounting } else { RootStatus::Stale };
        self.set_status(topic, root_id, status);
        if joined {
            self.wire_mount(topic, root_id, now);
        }
    }
}

pub(super) fn json_of(payload: &Payload) -> Value {
    match payload {
        Payload::Json(value) => value.clone(),
        Payload::Binary(bytes) => Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
        // Never held as a `Value` (it would drop recursively): described instead.
        Payload::Text(text) => Value::String(format!("<JSON nested deeper than 128 levels, {} bytes>", text.len())),
    }
}

fn is_already_mounted(reply: &Reply) -> bool {
    !reply.is_ok() && reply.response.as_json().and_then(|r| r.get("reason")).and_then(Value::as_str) == Some("root already mounted")
}

pub(super) fn mount_error(result: &Result<Reply, PushError>) -> SyncError {
    match result {
        Ok(reply) => SyncError::MountFailed(json_of(&reply.response)),
        Err(PushError::Timeout) => SyncError::MountTimeout,
        Err(_) => SyncError::NotConnected,
    }
}

fn command_outcome(command: &PendingCommand, result: Result<Reply, PushError>) -> Result<Value, SyncError> {
    match result {
        Ok(Reply { status: ReplyStatus::Ok, response: Payload::Text(_) }) => Err(SyncError::TooDeep("the command's reply")),
        Ok(Reply { status: ReplyStatus::Ok, response }) => Ok(json_of(&response)),
        Ok(Reply { response, .. }) => Err(CommandError::failed(&command.name, command.store_id.clone(), json_of(&response)).into()),
        Err(PushError::Timeout) => Err(CommandError::timeout(&command.name, command.store_id.clone()).into()),
        Err(PushError::ConnectionLost | PushError::ChannelErrored) => Err(SyncError::DisconnectedInFlight),
        Err(PushError::ChannelClosed) => Err(SyncError::Disconnected),
        Err(PushError::NotJoined | PushError::Encode(_)) => Err(SyncError::NotConnected),
    }
}
