//! The browser [`Socket`]: runs the sans-IO [`phoenix::Socket`] with a real WebSocket, one timer
//! and the page's online/visibility events.
//!
//! ```no_run
//! use musubi_wasm::browser::Socket;
//! use musubi_wasm::phoenix::SocketOptions;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = Socket::connect("ws://127.0.0.1:4000/socket", SocketOptions::default());
//! let room = socket.channel("echo:room", serde_json::json!({}));
//! room.join().await?;
//! let reply = room.push("echo", serde_json::json!({"hello": "world"})).await?;
//! assert!(reply.is_ok());
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use futures_channel::oneshot;
use serde_json::Value;

use super::channel::{Channel, JoinError};
use super::driver::Driver;
use super::listeners::{Registry, SlotRegistries, Subscription};
use crate::phoenix::{
    self, ChannelEvent, ChannelId, ConnectionState, Event, Millis, PageLocation, Payload, PushError, PushId, Reply, SocketConfig,
    SocketOptions,
};

type EventCallback = dyn Fn(&Event);
type ChannelCallback = dyn Fn(&ChannelEvent);

/// Callbacks and waiters, kept apart from the core so user code never runs while the core is
/// borrowed.
#[derive(Default)]
pub(crate) struct Listeners {
    pub(crate) socket: Registry<EventCallback>,
    pub(crate) channels: SlotRegistries<ChannelId, ChannelCallback>,
    pub(crate) replies: HashMap<PushId, oneshot::Sender<Result<Reply, PushError>>>,
    pub(crate) joins: HashMap<ChannelId, Vec<oneshot::Sender<Result<Payload, JoinError>>>>,
    pub(crate) join_responses: HashMap<ChannelId, Payload>,
}

/// Shared by the [`Socket`] handle and its channels.
pub(crate) struct Shared {
    pub(crate) driver: Rc<Driver<phoenix::Socket>>,
    pub(crate) listeners: Rc<RefCell<Listeners>>,
}

impl Shared {
    /// Runs an input against the core and carries out its outputs.
    pub(crate) fn with_core<R>(&self, input: impl FnOnce(&mut phoenix::Socket, Millis) -> R) -> Option<R> {
        self.driver.with_core(input)
    }
}

/// A Phoenix socket in the browser. Cloning gives another handle to the same socket; the socket
/// closes when the last handle (and every [`Channel`]) is dropped.
#[derive(Clone)]
pub struct Socket {
    pub(crate) shared: Rc<Shared>,
}

impl Socket {
    /// Creates the socket for `endpoint` (`ws://…/socket`, `wss://…`, or relative `/socket`) and
    /// starts connecting. Reconnects follow `options.reconnect` until [`Socket::disconnect`].
    pub fn connect(endpoint: &str, options: SocketOptions) -> Socket {
        let mut config = SocketConfig::with_options(endpoint, options);
        config.page = page_location();
        let listeners: Rc<RefCell<Listeners>> = Rc::default();
        let sink = listeners.clone();
        let driver = Driver::new(phoenix::Socket::new(config), move |event: Event| dispatch(&sink, &event));
        driver.with_core(|core, now| core.connect(now));
        Socket { shared: Rc::new(Shared { driver, listeners }) }
    }

    /// The channel for `topic` with join payload `params`; a second call for the same topic
    /// returns the same channel (there is never more than one live channel per topic).
    pub fn channel(&self, topic: &str, params: Value) -> Channel {
        let id = self.shared.with_core(|core, _| core.channel(topic, params)).unwrap_or(ChannelId::NONE);
        Channel::new(self.shared.clone(), id, topic)
    }

    /// Leaves the live channel for `topic` (if any) and returns a fresh one.
    pub fn replace_channel(&self, topic: &str, params: Value) -> Channel {
        let id = self.shared.with_core(|core, now| core.replace_channel(topic, params, now)).unwrap_or(ChannelId::NONE);
        Channel::new(self.shared.clone(), id, topic)
    }

    /// The connection state.
    pub fn state(&self) -> ConnectionState {
        self.shared.driver.core().map_or(ConnectionState::Closed, |core| core.state())
    }

    /// Reconnect attempts since the last successful open.
    pub fn reconnect_attempts(&self) -> u32 {
        self.shared.driver.core().map_or(0, |core| core.reconnect_attempts())
    }

    /// When the next reconnect runs (on the [`clock`](super::now) of this page), if scheduled.
    pub fn next_reconnect_at(&self) -> Option<Millis> {
        self.shared.driver.core().and_then(|core| core.next_reconnect_at())
    }

    /// Calls `callback` for every socket-level event: state changes, transport closes, scheduled
    /// reconnects, frame errors, and every channel event.
    pub fn on_event(&self, callback: impl Fn(&Event) + 'static) -> Subscription {
        Subscription::register(
            &self.shared.listeners,
            |listeners: &mut Listeners| listeners.socket.insert(Rc::new(callback)),
            |listeners, key| listeners.socket.remove(key),
        )
    }

    /// Calls `callback` with each new connection state.
    pub fn on_state(&self, callback: impl Fn(ConnectionState) + 'static) -> Subscription {
        self.on_event(move |event| {
            if let Event::State(state) = event {
                callback(*state);
            }
        })
    }

    /// Closes the socket deliberately (code 1000); no reconnect until [`Socket::reconnect`].
    pub fn disconnect(&self) {
        self.shared.with_core(|core, _| core.disconnect(1000, "disconnect"));
    }

    /// Connects again after [`Socket::disconnect`], or reconnects now if waiting for a retry.
    pub fn reconnect(&self) {
        self.shared.with_core(|core, now| {
            core.connect(now);
            core.wake(now);
        });
    }
}

/// Delivers an event: settles reply and join waiters, then calls listeners (no borrow held).
fn dispatch(listeners: &Rc<RefCell<Listeners>>, event: &Event) {
    let mut channel_callbacks = Vec::new();
    {
        let Ok(mut listeners) = listeners.try_borrow_mut() else { return };
        if let Event::Channel { channel, event: channel_event } = event {
            listeners.settle(*channel, channel_event);
            channel_callbacks = listeners.channels.snapshot(channel);
        }
    }
    let socket_callbacks = listeners.try_borrow().map(|l| l.socket.snapshot()).unwrap_or_default();
    if let Event::Channel { event: channel_event, .. } = event {
        for callback in channel_callbacks {
            callback(channel_event);
        }
    }
    for callback in socket_callbacks {
        callback(event);
    }
}

impl Listeners {
    /// Resolves push and join futures waiting on this channel event.
    fn settle(&mut self, channel: ChannelId, event: &ChannelEvent) {
        match event {
            ChannelEvent::PushSettled { push, result } => {
                if let Some(sender) = self.replies.remove(push) {
                    let _ = sender.send(result.clone());
                }
            }
            ChannelEvent::Joined(response) => {
                self.join_responses.insert(channel, response.clone());
                self.finish_joins(channel, &Ok(response.clone()));
            }
            ChannelEvent::JoinRefused(response) => self.finish_joins(channel, &Err(JoinError::Refused(response.clone()))),
            ChannelEvent::JoinTimeout => self.finish_joins(channel, &Err(JoinError::Timeout)),
            ChannelEvent::Closed(_) => {
                self.finish_joins(channel, &Err(JoinError::Closed));
                self.join_responses.remove(&channel);
            }
            ChannelEvent::State(_) | ChannelEvent::Message { .. } | ChannelEvent::Errored(_) => {}
        }
    }

    fn finish_joins(&mut self, channel: ChannelId, result: &Result<Payload, JoinError>) {
        for sender in self.joins.remove(&channel).unwrap_or_default() {
            let _ = sender.send(result.clone());
        }
    }
}

/// The page's location, for relative endpoints.
pub(crate) fn page_location() -> Option<PageLocation> {
    let location = web_sys::window()?.location();
    let protocol = location.protocol().ok()?;
    let host = location.host().ok()?;
    Some(PageLocation { secure: protocol == "https:", host })
}
