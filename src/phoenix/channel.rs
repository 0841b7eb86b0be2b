//! Channel state machine (PROTOCOL.md §1.7, §1.10): join, rejoin schedule, push buffer with
//! running timeouts, replies, `phx_error` / `phx_close`, leave.
//!
//! There is at most one live channel object per topic: [`Socket::channel`] returns the existing one
//! and [`Socket::replace_channel`] leaves it first, so no abandoned object can rejoin later
//! (the §2.15 hazard).
//!
//! ```
//! use musubi_wasm::phoenix::{ChannelState, Socket, SocketConfig};
//! let mut socket = Socket::new(SocketConfig::new("ws://h/socket"));
//! let room = socket.channel("room:1", serde_json::json!({}));
//! assert_eq!(socket.channel("room:1", serde_json::json!({"ignored": true})), room);
//! socket.join(room, 0)?;
//! assert_eq!(socket.channel_state(room), Some(ChannelState::Joining));
//! # Ok::<(), musubi_wasm::phoenix::PushError>(())
//! ```

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::event::{ChannelEvent, ChannelId, ChannelState, CloseCause, ErrorCause, Millis, PushError, PushId};
use super::frame::{self, Payload, Reply};
use super::socket::{RetryTimer, Socket};

/// A request in flight: its ref and when it times out.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    pub(crate) msg_ref: String,
    pub(crate) deadline: Millis,
}

/// One channel object.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) topic: String,
    params: Value,
    pub(crate) state: ChannelState,
    joined_once: bool,
    pub(crate) join_ref: Option<String>,
    join: Option<InFlight>,
    leave: Option<InFlight>,
    rejoin: RetryTimer,
    /// Pushes waiting for the join, in order.
    buffer: VecDeque<PushId>,
    /// Sent pushes by ref, waiting for a reply.
    in_flight: HashMap<String, PushId>,
}

impl Channel {
    pub(crate) fn deadlines(&self) -> [Option<Millis>; 3] {
        [self.join.as_ref().map(|j| j.deadline), self.leave.as_ref().map(|l| l.deadline), self.rejoin.deadline]
    }

    /// phoenix.js `isMember`: a frame with a join_ref must carry this channel's current one.
    pub(crate) fn accepts_join_ref(&self, join_ref: Option<&str>) -> bool {
        match join_ref {
            None | Some("") => true,
            Some(join_ref) => self.join_ref.as_deref() == Some(join_ref),
        }
    }

    fn is_live(&self) -> bool {
        !matches!(self.state, ChannelState::Leaving | ChannelState::Closed) || !self.joined_once
    }
}

/// A push waiting to be sent or answered.
#[derive(Debug)]
pub(crate) struct PendingPush {
    channel: ChannelId,
    event: String,
    payload: Payload,
    pub(crate) deadline: Millis,
    msg_ref: Option<String>,
}

impl Socket {
    /// The channel object for `topic`, created with join payload `params` if there is no live one.
    /// A second call for the same topic returns the same id (its `params` are ignored).
    pub fn channel(&mut self, topic: &str, params: Value) -> ChannelId {
        let existing = self.channels.iter().find(|(_, channel)| channel.topic == topic && channel.is_live()).map(|(id, _)| *id);
        existing.unwrap_or_else(|| self.create_channel(topic, params))
    }

    /// Leaves the live channel for `topic` (if any) and creates a fresh one with `params`.
    pub fn replace_channel(&mut self, topic: &str, params: Value, now: Millis) -> ChannelId {
        let existing: Vec<ChannelId> = self.channels.iter().filter(|(_, c)| c.topic == topic && c.is_live()).map(|(id, _)| *id).collect();
        for id in existing {
            self.leave_with(id, now, CloseCause::Replaced);
        }
        self.create_channel(topic, params)
    }

    /// The state of a channel, `None` once it was removed.
    pub fn channel_state(&self, channel: ChannelId) -> Option<ChannelState> {
        self.channels.get(&channel).map(|c| c.state)
    }

    /// The topic of a channel.
    pub fn channel_topic(&self, channel: ChannelId) -> Option<&str> {
        self.channels.get(&channel).map(|c| c.topic.as_str())
    }

    /// The channel's current join_ref.
    pub fn channel_join_ref(&self, channel: ChannelId) -> Option<&str> {
        self.channels.get(&channel).and_then(|c| c.join_ref.as_deref())
    }

    /// How many rejoin attempts ran since the last successful join.
    pub fn rejoin_attempts(&self, channel: ChannelId) -> Option<u32> {
        self.channels.get(&channel).map(|c| c.rejoin.tries)
    }

    /// Joins the channel (once per channel object; later rejoins are automatic).
    pub fn join(&mut self, channel: ChannelId, now: Millis) -> Result<(), PushError> {
        let entry = self.channels.get_mut(&channel).ok_or(PushError::ChannelClosed)?;
        if entry.joined_once {
            return Ok(());
        }
        entry.joined_once = true;
        self.rejoin(channel, now);
        Ok(())
    }

    /// Pushes `event` with `payload`. Sent at once when joined and connected, else buffered with
    /// its timeout already running. The outcome arrives as [`ChannelEvent::PushSettled`].
    pub fn push(&mut self, channel: ChannelId, event: &str, payload: Payload, now: Millis) -> Result<PushId, PushError> {
        let entry = self.channels.get(&channel).ok_or(PushError::ChannelClosed)?;
        if !entry.joined_once {
            return Err(PushError::NotJoined);
        }
        if matches!(entry.state, ChannelState::Leaving | ChannelState::Closed) {
            return Err(PushError::ChannelClosed);
        }
        if matches!(payload, Payload::Binary(_)) {
            frame::check_binary_field("topic", &entry.topic).map_err(PushError::Encode)?;
            frame::check_binary_field("event", event).map_err(PushError::Encode)?;
        }
        let can_send = entry.state == ChannelState::Joined && self.is_connected();
        let id = PushId(self.next_id());
        let deadline = now.saturating_add(self.config.options.timeout_ms);
        self.pushes.insert(id, PendingPush { channel, event: event.to_owned(), payload, deadline, msg_ref: None });
        if can_send {
            self.send_push(id, now);
        } else if let Some(entry) = self.channels.get_mut(&channel) {
            entry.buffer.push_back(id);
        }
        Ok(id)
    }

    /// Leaves the channel: sends `phx_leave` and closes when it is answered or times out (at once
    /// when it cannot be sent). Buffered pushes fail with [`PushError::ChannelClosed`].
    pub fn leave(&mut self, channel: ChannelId, now: Millis) {
        self.leave_with(channel, now, CloseCause::Left);
    }

    fn create_channel(&mut self, topic: &str, params: Value) -> ChannelId {
        let id = ChannelId(self.next_id());
        let channel = Channel {
            topic: topic.to_owned(),
            params,
            state: ChannelState::Closed,
            joined_once: false,
            join_ref: None,
            join: None,
            leave: None,
            rejoin: RetryTimer::default(),
            buffer: VecDeque::new(),
            in_flight: HashMap::new(),
        };
        self.channels.insert(id, channel);
        id
    }

    fn set_channel_state(&mut self, id: ChannelId, state: ChannelState) {
        if let Some(channel) = self.channels.get_mut(&id)
            && channel.state != state
        {
            channel.state = state;
            self.emit_channel(id, ChannelEvent::State(state));
        }
    }

    fn leave_with(&mut self, id: ChannelId, now: Millis, cause: CloseCause) {
        let Some(channel) = self.channels.get_mut(&id) else { return };
        if matches!(channel.state, ChannelState::Leaving | ChannelState::Closed) && channel.joined_once {
            return;
        }
        channel.joined_once = true;
        channel.rejoin.reset();
        channel.join = None;
        let was_joined = channel.state == ChannelState::Joined;
        let buffered: Vec<PushId> = channel.buffer.drain(..).collect();
        self.fail_pushes(buffered, PushError::ChannelClosed);
        self.set_channel_state(id, ChannelState::Leaving);
        if self.is_connected() {
            let leave_ref = self.make_ref();
            if let Some(channel) = self.channels.get(&id) {
                let frame = Socket::channel_frame(channel, leave_ref.clone(), frame::PHX_LEAVE, Payload::empty_object());
                self.send_frame(&frame);
            }
            if was_joined {
                let deadline = now.saturating_add(self.config.options.timeout_ms);
                if let Some(channel) = self.channels.get_mut(&id) {
                    channel.leave = Some(InFlight { msg_ref: leave_ref, deadline });
                }
                return;
            }
        }
        self.close_channel(id, cause);
    }

    /// Sends (or re-sends) the join with a fresh ref, which becomes the join_ref.
    fn rejoin(&mut self, id: ChannelId, now: Millis) {
        let join_ref = self.make_ref();
        let deadline = now.saturating_add(self.config.options.timeout_ms);
        let Some(channel) = self.channels.get_mut(&id) else { return };
        if channel.state == ChannelState::Leaving {
            return;
        }
        channel.join_ref = Some(join_ref.clone());
        channel.join = Some(InFlight { msg_ref: join_ref.clone(), deadline });
        let params = Payload::Json(channel.params.clone());
        let frame = Socket::channel_frame(channel, join_ref, frame::PHX_JOIN, params);
        self.set_channel_state(id, ChannelState::Joining);
        self.send_frame(&frame);
    }

    /// Sends a pending push with a fresh ref and a restarted timeout.
    fn send_push(&mut self, id: PushId, now: Millis) {
        let msg_ref = self.make_ref();
        let deadline = now.saturating_add(self.config.options.timeout_ms);
        let Some(push) = self.pushes.get_mut(&id) else { return };
        push.msg_ref = Some(msg_ref.clone());
        push.deadline = deadline;
        let (channel_id, event, payload) = (push.channel, push.event.clone(), push.payload.clone());
        let Some(channel) = self.channels.get_mut(&channel_id) else { return };
        channel.in_flight.insert(msg_ref.clone(), id);
        let frame = Socket::channel_frame(channel, msg_ref, &event, payload);
        if let Err(error) = frame::encode_client(&frame).map(|message| self.send(message)) {
            self.fail_pushes(vec![id], PushError::Encode(error));
        }
    }

    fn settle(&mut self, id: PushId, result: Result<Reply, PushError>) {
        let Some(push) = self.pushes.remove(&id) else { return };
        if let Some(channel) = self.channels.get_mut(&push.channel) {
            if let Some(msg_ref) = &push.msg_ref {
                channel.in_flight.remove(msg_ref);
            }
            channel.buffer.retain(|buffered| *buffered != id);
        }
        self.emit_channel(push.channel, ChannelEvent::PushSettled { push: id, result });
    }

    fn fail_pushes(&mut self, ids: Vec<PushId>, error: PushError) {
        for id in ids {
            self.settle(id, Err(error.clone()));
        }
    }

    /// The channel's sent pushes, in the order they were made.
    fn take_in_flight(&mut self, id: ChannelId) -> Vec<PushId> {
        let mut pushes: Vec<PushId> =
            self.channels.get_mut(&id).map(|c| c.in_flight.drain().map(|(_, push)| push).collect()).unwrap_or_default();
        pushes.sort_unstable();
        pushes
    }

    pub(crate) fn channel_reply(&mut self, id: ChannelId, msg_ref: Option<&str>, reply: Reply, now: Millis) {
        let Some(msg_ref) = msg_ref else { return };
        let Some(channel) = self.channels.get(&id) else { return };
        if channel.join.as_ref().is_some_and(|join| join.msg_ref == msg_ref) {
            self.join_replied(id, reply, now);
        } else if channel.leave.as_ref().is_some_and(|leave| leave.msg_ref == msg_ref) {
            self.close_channel(id, CloseCause::Left);
        } else if let Some(push) = channel.in_flight.get(msg_ref).copied() {
            self.settle(push, Ok(reply));
        }
    }

    fn join_replied(&mut self, id: ChannelId, reply: Reply, now: Millis) {
        let Some(channel) = self.channels.get_mut(&id) else { return };
        channel.join = None;
        if reply.is_ok() {
            channel.rejoin.reset();
            let buffered: Vec<PushId> = channel.buffer.drain(..).collect();
            self.set_channel_state(id, ChannelState::Joined);
            self.emit_channel(id, ChannelEvent::Joined(reply.response));
            for push in buffered {
                self.send_push(push, now);
            }
        } else {
            self.set_channel_state(id, ChannelState::Errored);
            self.emit_channel(id, ChannelEvent::JoinRefused(reply.response));
            self.schedule_rejoin(id, now);
        }
    }

    fn schedule_rejoin(&mut self, id: ChannelId, now: Millis) {
        if !self.is_connected() {
            return;
        }
        let Some(attempt) = self.channels.get(&id).map(|c| c.rejoin.tries.saturating_add(1)) else { return };
        let rejoin = self.config.options.rejoin.clone();
        let delay = self.jittered_delay(&rejoin, attempt);
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.rejoin.deadline = Some(now.saturating_add(delay));
        }
    }

    /// `phx_error` from the server: in-flight pushes fail, the channel errors and rejoins.
    pub(crate) fn channel_error(&mut self, id: ChannelId, cause: &ErrorCause, now: Millis) {
        let Some(channel) = self.channels.get_mut(&id) else { return };
        if matches!(channel.state, ChannelState::Leaving | ChannelState::Closed) {
            return;
        }
        channel.join = None;
        let lost = self.take_in_flight(id);
        self.fail_pushes(lost, PushError::ChannelErrored);
        self.set_channel_state(id, ChannelState::Errored);
        self.emit_channel(id, ChannelEvent::Errored(cause.clone()));
        self.schedule_rejoin(id, now);
    }

    pub(crate) fn channel_message(&mut self, id: ChannelId, event: &str, payload: Payload) {
        let deliver = self.channels.get(&id).is_some_and(|c| matches!(c.state, ChannelState::Joined | ChannelState::Joining));
        if deliver {
            self.emit_channel(id, ChannelEvent::Message { event: event.to_owned(), payload });
        }
    }

    /// Removes the channel for good; every push it still holds fails with `ChannelClosed`.
    pub(crate) fn close_channel(&mut self, id: ChannelId, cause: CloseCause) {
        let Some(channel) = self.channels.get_mut(&id) else { return };
        channel.rejoin.reset();
        channel.join = None;
        channel.leave = None;
        let mut pending: Vec<PushId> = channel.buffer.drain(..).collect();
        pending.extend(channel.in_flight.drain().map(|(_, push)| push));
        pending.sort_unstable();
        self.fail_pushes(pending, PushError::ChannelClosed);
        self.set_channel_state(id, ChannelState::Closed);
        self.emit_channel(id, ChannelEvent::Closed(cause));
        self.channels.remove(&id);
    }

    /// The transport ended: joined and joining channels error (and rejoin once it reopens),
    /// leaving channels close, sent pushes fail with `ConnectionLost`.
    pub(crate) fn error_channels_for_transport(&mut self, cause: &ErrorCause) {
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(channel) = self.channels.get_mut(&id) else { continue };
            channel.rejoin.reset();
            channel.join = None;
            match channel.state {
                ChannelState::Leaving => self.close_channel(id, CloseCause::Left),
                ChannelState::Joined | ChannelState::Joining => {
                    let lost = self.take_in_flight(id);
                    self.fail_pushes(lost, PushError::ConnectionLost);
                    self.set_channel_state(id, ChannelState::Errored);
                    self.emit_channel(id, ChannelEvent::Errored(cause.clone()));
                }
                ChannelState::Errored | ChannelState::Closed => {}
            }
        }
    }

    /// The socket opened: rejoin timers reset, errored channels rejoin immediately.
    pub(crate) fn rejoin_errored_channels(&mut self, now: Millis) {
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(channel) = self.channels.get_mut(&id) else { continue };
            channel.rejoin.reset();
            if channel.state == ChannelState::Errored {
                self.rejoin(id, now);
            }
        }
    }

    /// Join timeouts, leave timeouts, rejoin timers and push timeouts that are due.
    pub(crate) fn run_channel_timers(&mut self, now: Millis) {
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(channel) = self.channels.get_mut(&id) else { continue };
            if channel.join.as_ref().is_some_and(|join| join.deadline <= now) {
                self.join_timed_out(id, now);
            }
            let Some(channel) = self.channels.get_mut(&id) else { continue };
            if channel.leave.as_ref().is_some_and(|leave| leave.deadline <= now) {
                self.close_channel(id, CloseCause::Left);
                continue;
            }
            if channel.rejoin.due(now) {
                channel.rejoin.fire();
                if self.is_connected() {
                    self.rejoin(id, now);
                }
            }
        }
        let mut expired: Vec<PushId> = self.pushes.iter().filter(|(_, push)| push.deadline <= now).map(|(id, _)| *id).collect();
        expired.sort_unstable();
        self.fail_pushes(expired, PushError::Timeout);
    }

    /// The join got no reply in time: fire-and-forget leave, error, schedule a rejoin.
    fn join_timed_out(&mut self, id: ChannelId, now: Millis) {
        if let Some(channel) = self.channels.get_mut(&id) {
            channel.join = None;
        }
        if self.is_connected() {
            let leave_ref = self.make_ref();
            if let Some(channel) = self.channels.get(&id) {
                let frame = Socket::channel_frame(channel, leave_ref, frame::PHX_LEAVE, Payload::empty_object());
                self.send_frame(&frame);
            }
        }
        self.set_channel_state(id, ChannelState::Errored);
        self.emit_channel(id, ChannelEvent::JoinTimeout);
        self.schedule_rejoin(id, now);
    }
}
