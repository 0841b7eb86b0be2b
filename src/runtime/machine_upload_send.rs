//! Sending one entry (PROTOCOL.md §3.3–§3.5): its sub-channel, the reads and chunks of its
//! window, the replies, every way it can fail, and the external uploader calls.

use super::*;

impl Runtime {
    /// The driver read the slice `read` asked for (or could not).
    pub fn upload_read(&mut self, read: ReadId, bytes: Result<Vec<u8>, String>, now: Millis) {
        let Some(addr) = self.uploads.links.remove(&Link::Read(read)) else { return };
        let Some(entry) = self.uploads.entry_mut(&addr) else { return };
        let (Phase::Sending, Some(window)) = (entry.phase, entry.window.as_mut()) else { return };
        let filled = match bytes {
            Ok(bytes) => window.fill(read, bytes).map_err(|mismatch| {
                format!("the file changed since it was selected (read {} bytes, expected {})", mismatch.received, mismatch.expected)
            }),
            Err(reason) => Err(format!("the file could not be read: {reason}")),
        };
        match filled {
            Ok(_) => self.pump_entry(&addr, now),
            Err(message) => self.fail_entry(&addr, "file_unreadable", message, false, now),
        }
        self.pump(now);
    }

    /// An external uploader reported progress (a percentage; rounded and clamped to 0–100).
    pub fn external_progress(&mut self, job: JobId, percent: f64, now: Millis) {
        let Some(addr) = self.uploads.links.get(&Link::Job(job)).cloned() else { return };
        let progress = if percent.is_finite() { percent.round().clamp(0.0, 100.0) as u64 } else { 0 };
        let Some(entry) = self.uploads.entry_mut(&addr) else { return };
        if entry.phase != Phase::External || entry.reported == Some(progress) {
            return;
        }
        entry.reported = Some(progress);
        let entry_ref = entry.entry_ref.clone();
        self.push_upload_notice(&addr.target, "upload_progress", &entry_ref, json!({"progress": progress}), now);
        self.pump(now);
    }

    /// An external uploader finished: resolved (a final `progress: 100` is pushed), rejected
    /// (`upload_error` with `external_failed` and its message), or there was no uploader of that
    /// name (a handle error; nothing is pushed).
    pub fn external_finished(&mut self, job: JobId, outcome: ExternalOutcome, now: Millis) {
        let Some(addr) = self.uploads.links.remove(&Link::Job(job)) else { return };
        let Some(entry) = self.uploads.entry_mut(&addr) else { return };
        if entry.phase != Phase::External {
            return;
        }
        entry.job = None;
        let entry_ref = entry.entry_ref.clone();
        match outcome {
            // Done once the server accepted the final 100 (its reply precedes the `complete` op).
            ExternalOutcome::Done => {
                entry.reported = Some(100);
                let mut body = Map::new();
                body.insert("ref".into(), Value::String(entry_ref.to_string()));
                body.insert("progress".into(), json!(100));
                match self.wire_upload_push(&addr.target, "upload_progress", body, now) {
                    Ok(push) => {
                        self.pushes.insert(push, Purpose::ExternalComplete(addr.clone()));
                    }
                    Err(error) => self.fail_entry(&addr, "disconnected", format!("the completion could not be sent: {error}"), true, now),
                }
            }
            ExternalOutcome::Failed(message) => {
                entry.phase = Phase::Failed { retry: false };
                let message = if message.is_empty() { default_message("external_failed").to_owned() } else { message };
                self.push_upload_notice(
                    &addr.target,
                    "upload_error",
                    &entry_ref,
                    json!({"code": "external_failed", "message": message}),
                    now,
                );
            }
            ExternalOutcome::NoUploader(name) => {
                entry.phase = Phase::Failed { retry: false };
                if let Some(transfer) = self.uploads.transfers.get_mut(&addr.target) {
                    transfer.errors.push(upload_error("no_uploader", format!("No registered uploader for \"{name}\"")));
                }
            }
        }
        self.upload_changed(&addr.target);
        self.finish_start_if_done(&addr.target);
        self.pump(now);
    }

    /// Starts one `pending` entry: joins its sub-channel, or calls its external uploader.
    pub(super) fn begin_entry(&mut self, addr: &EntryAddr, now: Millis) {
        let job = JobId(self.uploads.fresh_id());
        let Some(entry) = self.uploads.entry_mut(addr) else { return };
        let topic = format!("{UPLOAD_TOPIC_PREFIX}{}", entry.entry_ref);
        match &mut entry.mode {
            // Without a token (a second `start`), a channel entry is skipped, like the reference.
            EntryMode::Channel { token } => {
                let Some(token) = token.take() else { return };
                if frame::check_binary_field("topic", &topic).is_err() {
                    entry.fail("invalid_ref", "the server's entry ref is too long to send chunks for", false);
                    return;
                }
                entry.phase = Phase::Joining;
                let channel = self.socket.replace_channel(&topic, json!({"token": token}), now);
                if let Some(entry) = self.uploads.entry_mut(addr) {
                    entry.channel = Some(channel);
                }
                self.uploads.links.insert(Link::Channel(channel), addr.clone());
                // A fresh channel object can always join.
                let _ = self.socket.join(channel, now);
            }
            EntryMode::External { uploader, meta } => {
                let (uploader, meta) = (uploader.clone(), meta.clone());
                entry.phase = Phase::External;
                entry.job = Some(job);
                let file = entry.file.file;
                self.uploads.links.insert(Link::Job(job), addr.clone());
                let entry = self.entry_view(addr);
                self.emit(RuntimeEvent::StartExternal { job, file, uploader, meta, entry: Box::new(entry) });
            }
        }
    }

    /// The view of one of this client's entries.
    pub(super) fn entry_view(&self, addr: &EntryAddr) -> EntryView {
        let local = self.uploads.transfers.get(&addr.target).and_then(|transfer| {
            let entry = transfer.entries.iter().find(|entry| entry.client_ref == addr.client_ref)?;
            Some((transfer, entry))
        });
        let Some((transfer, entry)) = local else { return EntryView::default() };
        let server = self
            .root(&addr.target.topic, &addr.target.root_id)
            .and_then(|root| root.replica.uploads().handle(&addr.target.store_id.key(), &addr.target.name));
        let view = transfer.view(server);
        view.entries.into_iter().find(|view| view.entry_ref == entry.entry_ref).unwrap_or_default()
    }

    /// Requests reads to refill the window and pushes every chunk that is ready, in order; an
    /// entry whose last byte was acknowledged is done.
    pub(super) fn pump_entry(&mut self, addr: &EntryAddr, now: Millis) {
        let mut next = self.uploads.next_id;
        let Some(entry) = self.uploads.transfers.get_mut(&addr.target).and_then(|t| t.entry_mut(&addr.client_ref)) else { return };
        let (Phase::Sending, Some(channel), Some(window)) = (entry.phase, entry.channel, entry.window.as_mut()) else { return };
        let reads = window.wanted(&mut || {
            next = next.wrapping_add(1);
            next
        });
        let socket = &mut self.socket;
        let mut pushed = Vec::new();
        let sent = window.send_ready(|bytes| {
            let push = socket.push(channel, "chunk", Payload::Binary(bytes), now)?;
            pushed.push(push);
            Ok::<_, PushError>(push)
        });
        let done = window.is_done();
        let file = entry.file.file;
        self.uploads.next_id = next;
        for push in pushed {
            self.pushes.insert(push, Purpose::Chunk(addr.clone()));
        }
        if let Err(error) = sent {
            return self.fail_entry(addr, "upload_failed", format!("a chunk could not be sent: {error}"), true, now);
        }
        for read in reads {
            self.uploads.links.insert(Link::Read(read.read), addr.clone());
            self.emit(RuntimeEvent::ReadChunk { read: read.read, file, offset: read.offset, len: read.len });
        }
        if done {
            if let Some(entry) = self.uploads.entry_mut(addr) {
                entry.phase = Phase::Done;
            }
            self.upload_changed(&addr.target);
            self.finish_start_if_done(&addr.target);
        }
    }

    pub(crate) fn is_upload_channel(&self, channel: ChannelId) -> bool {
        self.uploads.links.contains_key(&Link::Channel(channel))
    }

    /// An event on an entry's sub-channel.
    pub(crate) fn on_upload_channel_event(&mut self, channel: ChannelId, event: ChannelEvent, now: Millis) {
        let Some(addr) = self.uploads.links.get(&Link::Channel(channel)).cloned() else { return };
        let phase = self.uploads.entry_mut(&addr).map(|entry| entry.phase);
        let Some(phase) = phase else {
            self.release_channel(channel, now);
            return;
        };
        match (phase, event) {
            (Phase::Joining, ChannelEvent::Joined(_)) => {
                let config = self.uploads.transfers.get(&addr.target).map(|transfer| {
                    let server = self
                        .root(&addr.target.topic, &addr.target.root_id)
                        .and_then(|root| root.replica.uploads().handle(&addr.target.store_id.key(), &addr.target.name));
                    transfer.effective_config(server)
                });
                let chunk = config.map_or(upload_transfer::DEFAULT_CHUNK_SIZE, |config| config.chunk_size);
                let limit = self.uploads.window;
                if let Some(entry) = self.uploads.entry_mut(&addr) {
                    entry.phase = Phase::Sending;
                    entry.window = Some(ChunkWindow::new(entry.file.size, chunk, limit));
                }
                self.pump_entry(&addr, now);
            }
            (Phase::Joining, ChannelEvent::JoinRefused(response)) => {
                let response = inbound::json_of(&response);
                let reason = response.get("reason").and_then(Value::as_str).unwrap_or("refused").to_owned();
                self.fail_entry(&addr, &reason, format!("the server refused the upload channel: {response}"), true, now);
            }
            (Phase::Joining, ChannelEvent::JoinTimeout) => {
                self.fail_entry(&addr, "timeout", "the server did not answer the upload channel's join in time", true, now);
            }
            (Phase::Joining | Phase::Sending, ChannelEvent::Errored(cause)) => {
                let (code, message) = match cause {
                    ErrorCause::Server(_) => ("upload_failed", "the server's upload channel failed"),
                    ErrorCause::ConnectionLost | ErrorCause::HeartbeatTimeout => {
                        ("disconnected", "the connection dropped during the upload; start again to resend it")
                    }
                    ErrorCause::Disconnected => ("disconnected", "the connection was closed during the upload; start again to resend it"),
                };
                self.fail_entry(&addr, code, message, true, now);
            }
            (Phase::Joining | Phase::Sending, ChannelEvent::Closed(CloseCause::Server)) => {
                self.fail_entry(&addr, "upload_closed", "the server closed the upload before every byte arrived", true, now);
            }
            // A finished or given-up entry's channel: nothing to do but let it go.
            (_, ChannelEvent::Closed(_)) => {
                self.uploads.links.remove(&Link::Channel(channel));
            }
            (Phase::Joining | Phase::Sending, _) => {}
            (_, ChannelEvent::Errored(_) | ChannelEvent::JoinRefused(_)) => self.release_channel(channel, now),
            _ => {}
        }
        self.pump(now);
    }

    /// A chunk's reply.
    pub(crate) fn on_chunk_answer(&mut self, addr: EntryAddr, push: PushId, result: Result<Reply, PushError>, now: Millis) {
        let Some(entry) = self.uploads.entry_mut(&addr) else { return };
        let (Phase::Sending, Some(window)) = (entry.phase, entry.window.as_mut()) else { return };
        match result {
            Ok(reply) if reply.is_ok() => {
                if window.acknowledge(push) {
                    self.pump_entry(&addr, now);
                    self.upload_progressed(&addr.target);
                }
            }
            Ok(reply) => {
                let error = chunk_error(&inbound::json_of(&reply.response));
                self.fail_entry(&addr, &error.code, error.message, false, now);
            }
            Err(PushError::Timeout) => self.fail_entry(&addr, "timeout", "the server did not answer a chunk in time", true, now),
            // The channel's own event says what happened (dropped, crashed, closed).
            Err(_) => {}
        }
    }

    /// Ends an entry with a client-side error: its channel is left, its reads forgotten.
    pub(super) fn fail_entry(&mut self, addr: &EntryAddr, code: &str, message: impl Into<String>, retry: bool, now: Millis) {
        let Some(entry) = self.uploads.entry_mut(addr) else { return };
        entry.fail(code, message, retry);
        let channel = entry.channel.take();
        if let Some(job) = entry.job.take() {
            self.uploads.links.remove(&Link::Job(job));
            self.emit(RuntimeEvent::AbortExternal { job });
        }
        if let Some(channel) = channel {
            self.release_channel(channel, now);
        }
        self.uploads.links.retain(|link, read_addr| !matches!(link, Link::Read(_)) || read_addr != addr);
        self.upload_changed(&addr.target);
        self.finish_start_if_done(&addr.target);
    }

    /// Leaves an upload sub-channel (so it never rejoins) and forgets it.
    pub(super) fn release_channel(&mut self, channel: ChannelId, now: Millis) {
        self.uploads.links.remove(&Link::Channel(channel));
        self.socket.leave(channel, now);
    }

    /// The final `upload_progress` of an external entry was answered.
    pub(crate) fn on_external_complete_answer(&mut self, addr: EntryAddr, result: Result<Reply, PushError>, now: Millis) {
        let Some(entry) = self.uploads.entry_mut(&addr) else { return };
        if entry.phase != Phase::External || entry.job.is_some() {
            return;
        }
        match result {
            Ok(reply) if reply.is_ok() => {
                entry.phase = Phase::Done;
                self.upload_changed(&addr.target);
                self.finish_start_if_done(&addr.target);
            }
            Ok(reply) => {
                let message = format!("the server refused the upload's completion: {}", inbound::json_of(&reply.response));
                self.fail_entry(&addr, "external_failed", message, false, now);
            }
            Err(PushError::Timeout) => self.fail_entry(&addr, "timeout", "the server did not confirm the upload in time", true, now),
            Err(_) => self.fail_entry(&addr, "disconnected", "the connection dropped before the server confirmed the upload", true, now),
        }
    }
}

/// A chunk reply's error reason as the entry error it means (PROTOCOL.md §3.4).
fn chunk_error(response: &Value) -> UploadError {
    let reason = response.get("reason").and_then(Value::as_str).unwrap_or("");
    let code = match reason {
        "chunk too large" => "chunk_too_large",
        "upload too large" => "too_large",
        "write failed" => "internal",
        _ => "upload_failed",
    };
    let message =
        if code == "upload_failed" { format!("the server refused a chunk: {response}") } else { default_message(code).to_owned() };
    upload_error(code, message)
}
