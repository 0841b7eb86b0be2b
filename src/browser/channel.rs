//! The browser [`Channel`] handle: join, push with a reply future, listeners.

use std::rc::Rc;

use futures_channel::oneshot;

use super::listeners::Subscription;
use super::socket::{Listeners, Shared};
use crate::phoenix::{ChannelEvent, ChannelId, ChannelState, Payload, PushError, Reply};

/// A refused join's response as JSON text (bytes by their count).
fn refusal(response: &Payload) -> String {
    match response {
        Payload::Json(value) => value.to_string(),
        Payload::Text(text) => text.clone(),
        Payload::Binary(bytes) => format!("{} bytes", bytes.len()),
    }
}

/// Why a join did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JoinError {
    /// The server refused the join with this response (the channel keeps retrying).
    #[error("join refused: {}", refusal(.0))]
    Refused(Payload),
    /// No reply within the timeout (the channel keeps retrying).
    #[error("join timed out")]
    Timeout,
    /// The channel was closed (left, replaced, closed by the server, or the socket is gone).
    #[error("channel closed")]
    Closed,
}

/// A channel of a [`super::Socket`]. Cheap to clone; all clones are the same channel.
#[derive(Clone)]
pub struct Channel {
    shared: Rc<Shared>,
    id: ChannelId,
    topic: Rc<str>,
}

impl Channel {
    pub(crate) fn new(shared: Rc<Shared>, id: ChannelId, topic: &str) -> Self {
        Channel { shared, id, topic: topic.into() }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The channel's id within its socket.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The current state, `None` once the channel was removed (left or closed by the server).
    pub fn state(&self) -> Option<ChannelState> {
        self.shared.driver.core().and_then(|core| core.channel_state(self.id))
    }

    /// Joins (rejoins after failures are automatic) and resolves with the server's join response
    /// at the first outcome. Resolves at once if the channel is already joined.
    pub async fn join(&self) -> Result<Payload, JoinError> {
        let (sender, receiver) = oneshot::channel();
        let already = self.state() == Some(ChannelState::Joined);
        let response = self.shared.listeners.try_borrow().ok().and_then(|l| l.join_responses.get(&self.id).cloned());
        if let (true, Some(response)) = (already, response) {
            return Ok(response);
        }
        if let Ok(mut listeners) = self.shared.listeners.try_borrow_mut() {
            listeners.joins.entry(self.id).or_default().push(sender);
        }
        let started = self.shared.with_core(|core, now| core.join(self.id, now));
        if !matches!(started, Some(Ok(()))) {
            return Err(JoinError::Closed);
        }
        receiver.await.unwrap_or(Err(JoinError::Closed))
    }

    /// Pushes `event` and waits for the server's reply (ok, error, or another status), or the
    /// reason none came. Pushes made before the join completes are buffered, timeout running.
    pub async fn push(&self, event: &str, payload: impl Into<Payload>) -> Result<Reply, PushError> {
        let (sender, receiver) = oneshot::channel();
        let payload = payload.into();
        // Register the waiter inside the same core call so a synchronous settle cannot be missed.
        let listeners = self.shared.listeners.clone();
        let pushed = self.shared.with_core(|core, now| {
            let push = core.push(self.id, event, payload, now);
            if let (Ok(id), Ok(mut listeners)) = (&push, listeners.try_borrow_mut()) {
                listeners.replies.insert(*id, sender);
            }
            push
        });
        match pushed {
            Some(Ok(_)) => receiver.await.unwrap_or(Err(PushError::ChannelClosed)),
            Some(Err(error)) => Err(error),
            None => Err(PushError::ChannelClosed),
        }
    }

    /// Calls `callback` with the payload of every server push or broadcast named `event`.
    pub fn on(&self, event: &str, callback: impl Fn(&Payload) + 'static) -> Subscription {
        let event = event.to_owned();
        self.on_event(move |channel_event| {
            if let ChannelEvent::Message { event: name, payload } = channel_event
                && *name == event
            {
                callback(payload);
            }
        })
    }

    /// Calls `callback` with every event of this channel (state changes, joins, errors, …).
    pub fn on_event(&self, callback: impl Fn(&ChannelEvent) + 'static) -> Subscription {
        let id = self.id;
        Subscription::register(
            &self.shared.listeners,
            |listeners: &mut Listeners| listeners.channels.insert(id, Rc::new(callback)),
            move |listeners, key| listeners.channels.remove(&id, key),
        )
    }

    /// Leaves the channel; pending pushes fail with [`PushError::ChannelClosed`].
    pub fn leave(&self) {
        self.shared.with_core(|core, now| core.leave(self.id, now));
    }
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("topic", &self.topic).field("id", &self.id).finish()
    }
}
