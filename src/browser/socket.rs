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
use std::rc::{Rc, Weak};

use futures_channel::oneshot;
use gloo_timers::callback::Timeout;
use serde_json::Value;

use super::channel::{Channel, JoinError};
use super::clock;
use super::listeners::{Registry, Subscription};
use super::page_events::PageEvents;
use super::transport::{Transport, TransportEvent};
use crate::phoenix::{
    self, ChannelEvent, ChannelId, ConnectionId, ConnectionState, Event, Millis, Output, PageLocation, Payload, PushError, PushId, Reply,
    SocketConfig, SocketOptions,
};

type EventCallback = dyn Fn(&Event);
type ChannelCallback = dyn Fn(&ChannelEvent);

/// Callbacks and waiters, kept apart from the core so user code never runs while the core is
/// borrowed.
#[derive(Default)]
pub(crate) struct Listeners {
    pub(crate) socket: Registry<EventCallback>,
    pub(crate) channels: HashMap<ChannelId, Registry<ChannelCallback>>,
    pub(crate) replies: HashMap<PushId, oneshot::Sender<Result<Reply, PushError>>>,
    pub(crate) joins: HashMap<ChannelId, Vec<oneshot::Sender<Result<Payload, JoinError>>>>,
    pub(crate) join_responses: HashMap<ChannelId, Payload>,
}

/// The driver state: the core, the live WebSocket and the one armed timer.
pub(crate) struct Driver {
    pub(crate) core: phoenix::Socket,
    transport: Option<(ConnectionId, Transport)>,
    timer: Option<(Millis, Timeout)>,
    page_events: Option<PageEvents>,
}

/// Shared by the [`Socket`] handle, its channels and the event handlers.
pub(crate) struct Shared {
    pub(crate) driver: RefCell<Driver>,
    pub(crate) listeners: Rc<RefCell<Listeners>>,
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
        let driver = Driver { core: phoenix::Socket::new(config), transport: None, timer: None, page_events: None };
        let shared = Rc::new(Shared { driver: RefCell::new(driver), listeners: Rc::default() });
        let weak = Rc::downgrade(&shared);
        let page_events = PageEvents::listen(move || {
            if let Some(shared) = weak.upgrade() {
                shared.with_core(|core, now| core.reconnect_now(now));
            }
        });
        if let Ok(mut driver) = shared.driver.try_borrow_mut() {
            driver.page_events = Some(page_events);
        }
        shared.with_core(|core, now| core.connect(now));
        Socket { shared }
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
        self.shared.driver.try_borrow().map_or(ConnectionState::Closed, |driver| driver.core.state())
    }

    /// Reconnect attempts since the last successful open.
    pub fn reconnect_attempts(&self) -> u32 {
        self.shared.driver.try_borrow().map_or(0, |driver| driver.core.reconnect_attempts())
    }

    /// When the next reconnect runs (on the [`clock`](super::now) of this page), if scheduled.
    pub fn next_reconnect_at(&self) -> Option<Millis> {
        self.shared.driver.try_borrow().ok().and_then(|driver| driver.core.next_reconnect_at())
    }

    /// Calls `callback` for every socket-level event: state changes, transport closes, scheduled
    /// reconnects, frame errors, and every channel event.
    pub fn on_event(&self, callback: impl Fn(&Event) + 'static) -> Subscription {
        let key = self.shared.listeners.borrow_mut().socket.insert(Rc::new(callback));
        Subscription::new(&self.shared.listeners, move |listeners: &mut Listeners| listeners.socket.remove(key))
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
            core.reconnect_now(now);
        });
    }
}

impl Shared {
    /// Runs `input` against the core, then carries out every output and re-arms the timer.
    ///
    /// `None` only if called while the driver is borrowed, which cannot happen: the driver never
    /// runs user code or fires WebSocket events while it holds the borrow.
    pub(crate) fn with_core<R>(self: &Rc<Self>, input: impl FnOnce(&mut phoenix::Socket, Millis) -> R) -> Option<R> {
        let result = {
            let mut driver = self.driver.try_borrow_mut().ok()?;
            input(&mut driver.core, clock::now())
        };
        self.pump();
        Some(result)
    }

    /// Drains the core's outputs (which may produce more) and re-arms the single timer.
    pub(crate) fn pump(self: &Rc<Self>) {
        loop {
            let outputs: Vec<Output> = match self.driver.try_borrow_mut() {
                Ok(mut driver) => std::iter::from_fn(|| driver.core.poll_output()).collect(),
                Err(_) => return,
            };
            if outputs.is_empty() {
                break;
            }
            for output in outputs {
                self.carry_out(output);
            }
        }
        self.arm_timer();
    }

    fn carry_out(self: &Rc<Self>, output: Output) {
        match output {
            Output::Connect { connection, url, protocols } => self.open_transport(connection, &url, &protocols),
            Output::Send { connection, message } => {
                if let Ok(driver) = self.driver.try_borrow()
                    && let Some((id, transport)) = &driver.transport
                    && *id == connection
                {
                    transport.send(&message);
                }
            }
            Output::Close { connection, code, reason } => {
                let transport = self.driver.try_borrow_mut().ok().and_then(|mut driver| {
                    let matches = driver.transport.as_ref().is_some_and(|(id, _)| *id == connection);
                    if matches { driver.transport.take() } else { None }
                });
                if let Some((_, transport)) = transport {
                    transport.close(code, &reason);
                }
            }
            Output::Event(event) => self.dispatch(&event),
        }
    }

    fn open_transport(self: &Rc<Self>, connection: ConnectionId, url: &str, protocols: &[String]) {
        let weak: Weak<Shared> = Rc::downgrade(self);
        let opened = Transport::open(url, protocols, move |event| {
            if let Some(shared) = weak.upgrade() {
                shared.with_core(|core, now| match event {
                    TransportEvent::Open => core.handle_open(connection, now),
                    TransportEvent::Text(text) => core.handle_text(connection, &text, now),
                    TransportEvent::Binary(bytes) => core.handle_binary(connection, &bytes, now),
                    TransportEvent::Close { code, reason } => core.handle_close(connection, code, &reason, now),
                });
            }
        });
        let Ok(mut driver) = self.driver.try_borrow_mut() else { return };
        match opened {
            // Replacing an old transport drops (and closes) it.
            Ok(transport) => driver.transport = Some((connection, transport)),
            Err(reason) => {
                driver.transport = None;
                let now = clock::now();
                driver.core.handle_close(connection, 1006, &reason, now);
            }
        }
    }

    fn arm_timer(self: &Rc<Self>) {
        let Ok(mut driver) = self.driver.try_borrow_mut() else { return };
        let deadline = driver.core.poll_timeout();
        if driver.timer.as_ref().map(|(at, _)| *at) == deadline {
            return;
        }
        driver.timer = deadline.map(|at| {
            let delay = at.saturating_sub(clock::now());
            let weak = Rc::downgrade(self);
            let timeout = Timeout::new(u32::try_from(delay).unwrap_or(u32::MAX), move || {
                if let Some(shared) = weak.upgrade() {
                    if let Ok(mut driver) = shared.driver.try_borrow_mut() {
                        driver.timer = None;
                    }
                    shared.with_core(|core, now| core.handle_timeout(now));
                }
            });
            (at, timeout)
        });
    }

    /// Delivers an event: settles reply and join waiters, then calls listeners (no borrow held).
    fn dispatch(self: &Rc<Self>, event: &Event) {
        let mut channel_callbacks = Vec::new();
        {
            let Ok(mut listeners) = self.listeners.try_borrow_mut() else { return };
            if let Event::Channel { channel, event: channel_event } = event {
                listeners.settle(*channel, channel_event);
                if let Some(registry) = listeners.channels.get(channel) {
                    channel_callbacks = registry.snapshot();
                }
            }
        }
        let socket_callbacks = self.listeners.try_borrow().map(|l| l.socket.snapshot()).unwrap_or_default();
        if let Event::Channel { event: channel_event, .. } = event {
            for callback in channel_callbacks {
                callback(channel_event);
            }
        }
        for callback in socket_callbacks {
            callback(event);
        }
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

impl Drop for Driver {
    fn drop(&mut self) {
        self.timer = None;
        if let Some((_, transport)) = self.transport.take() {
            transport.close(1000, "socket dropped");
        }
    }
}

fn page_location() -> Option<PageLocation> {
    let location = web_sys::window()?.location();
    let protocol = location.protocol().ok()?;
    let host = location.host().ok()?;
    Some(PageLocation { secure: protocol == "https:", host })
}
