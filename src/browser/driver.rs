//! The generic browser driver: runs any sans-IO [`Machine`] (the Phoenix socket or the Musubi
//! runtime) with a real WebSocket, one timer for the machine's earliest deadline, and the page's
//! online/visibility events. Events are handed to a dispatcher with no borrow held, so listeners
//! may call back into the machine.

use std::cell::{Cell, Ref, RefCell};
use std::rc::{Rc, Weak};

use gloo_timers::callback::Timeout;

use super::clock;
use super::page_events::PageEvents;
use super::transport::{Transport, TransportEvent};
use crate::phoenix::{self, ConnectionId, Millis, Output, WireMessage};
use crate::runtime::{Runtime, RuntimeEvent};

/// A sans-IO state machine the driver can run.
pub trait Machine: 'static {
    /// What the machine reports to the application.
    type Event;
    /// The WebSocket opened.
    fn handle_open(&mut self, connection: ConnectionId, now: Millis);
    /// The WebSocket closed.
    fn handle_close(&mut self, connection: ConnectionId, code: u16, reason: &str, now: Millis);
    /// The WebSocket could not be created (its constructor threw).
    fn handle_connect_error(&mut self, connection: ConnectionId, reason: &str, now: Millis);
    /// A text frame arrived.
    fn handle_text(&mut self, connection: ConnectionId, text: &str, now: Millis);
    /// A binary frame arrived.
    fn handle_binary(&mut self, connection: ConnectionId, bytes: &[u8], now: Millis);
    /// Timers are due.
    fn handle_timeout(&mut self, now: Millis);
    /// The page woke up (visible, online, restored).
    fn wake(&mut self, now: Millis);
    /// The earliest deadline.
    fn poll_timeout(&self) -> Option<Millis>;
    /// The next output.
    fn poll_output(&mut self) -> Option<Output<Self::Event>>;
}

macro_rules! delegate_machine {
    ($type:ty, $event:ty) => {
        impl Machine for $type {
            type Event = $event;
            fn handle_open(&mut self, connection: ConnectionId, now: Millis) {
                <$type>::handle_open(self, connection, now)
            }
            fn handle_close(&mut self, connection: ConnectionId, code: u16, reason: &str, now: Millis) {
                <$type>::handle_close(self, connection, code, reason, now)
            }
            fn handle_connect_error(&mut self, connection: ConnectionId, reason: &str, now: Millis) {
                <$type>::handle_connect_error(self, connection, reason, now)
            }
            fn handle_text(&mut self, connection: ConnectionId, text: &str, now: Millis) {
                <$type>::handle_text(self, connection, text, now)
            }
            fn handle_binary(&mut self, connection: ConnectionId, bytes: &[u8], now: Millis) {
                <$type>::handle_binary(self, connection, bytes, now)
            }
            fn handle_timeout(&mut self, now: Millis) {
                <$type>::handle_timeout(self, now)
            }
            fn wake(&mut self, now: Millis) {
                <$type>::wake(self, now)
            }
            fn poll_timeout(&self) -> Option<Millis> {
                <$type>::poll_timeout(self)
            }
            fn poll_output(&mut self) -> Option<Output<Self::Event>> {
                <$type>::poll_output(self)
            }
        }
    };
}

delegate_machine!(phoenix::Socket, phoenix::Event);
delegate_machine!(Runtime, RuntimeEvent);

/// Runs a machine in the page. See the module docs.
pub(crate) struct Driver<M: Machine> {
    core: RefCell<M>,
    transport: RefCell<Option<(ConnectionId, Transport)>>,
    timer: RefCell<Option<(Millis, Timeout)>>,
    page_events: RefCell<Option<PageEvents>>,
    dispatch: Box<dyn Fn(M::Event)>,
    /// Set while outputs are being carried out; a listener's nested call leaves its outputs to
    /// the running loop, so events are delivered in the order the machine produced them.
    pumping: Cell<bool>,
    /// Sees every frame sent (`true`) and received (`false`), for loggers.
    tap: RefCell<Option<FrameTap>>,
}

/// A frame observer: `(outgoing, frame)`; binary frames are described, not dumped.
pub(crate) type FrameTap = Rc<dyn Fn(bool, &str)>;

impl<M: Machine> Driver<M> {
    /// Wraps `core`; `dispatch` receives every event (no driver borrow is held while it runs).
    pub(crate) fn new(core: M, dispatch: impl Fn(M::Event) + 'static) -> Rc<Self> {
        let driver = Rc::new(Driver {
            core: RefCell::new(core),
            transport: RefCell::new(None),
            timer: RefCell::new(None),
            page_events: RefCell::new(None),
            dispatch: Box::new(dispatch),
            pumping: Cell::new(false),
            tap: RefCell::new(None),
        });
        let weak = Rc::downgrade(&driver);
        let page_events = PageEvents::listen(move || {
            if let Some(driver) = weak.upgrade() {
                driver.with_core(|core, now| core.wake(now));
            }
        });
        if let Ok(mut slot) = driver.page_events.try_borrow_mut() {
            *slot = Some(page_events);
        }
        driver
    }

    /// Sets (or clears) the frame observer.
    pub(crate) fn set_tap(&self, tap: Option<FrameTap>) {
        if let Ok(mut slot) = self.tap.try_borrow_mut() {
            *slot = tap;
        }
    }

    fn tap(&self, outgoing: bool, describe: impl FnOnce() -> String) {
        let tap = self.tap.try_borrow().ok().and_then(|tap| tap.clone());
        if let Some(tap) = tap {
            tap(outgoing, &describe());
        }
    }

    /// Read access to the machine (`None` only while it is being driven).
    pub(crate) fn core(&self) -> Option<Ref<'_, M>> {
        self.core.try_borrow().ok()
    }

    /// Runs `input` against the machine, then carries out every output and re-arms the timer.
    ///
    /// `None` only if called while the machine is borrowed, which the driver never does while
    /// running user code.
    pub(crate) fn with_core<R>(self: &Rc<Self>, input: impl FnOnce(&mut M, Millis) -> R) -> Option<R> {
        let result = {
            let mut core = self.core.try_borrow_mut().ok()?;
            input(&mut core, clock::now())
        };
        self.pump();
        Some(result)
    }

    /// Drains the machine's outputs (which may produce more) and re-arms the single timer.
    fn pump(self: &Rc<Self>) {
        if self.pumping.replace(true) {
            return;
        }
        loop {
            let outputs: Vec<Output<M::Event>> = match self.core.try_borrow_mut() {
                Ok(mut core) => std::iter::from_fn(|| core.poll_output()).collect(),
                Err(_) => break,
            };
            if outputs.is_empty() {
                break;
            }
            for output in outputs {
                self.carry_out(output);
            }
        }
        self.pumping.set(false);
        self.arm_timer();
    }

    fn carry_out(self: &Rc<Self>, output: Output<M::Event>) {
        match output {
            Output::Connect { connection, url, protocols } => self.open_transport(connection, &url, &protocols),
            Output::Send { connection, message } => {
                self.tap(true, || match &message {
                    WireMessage::Text(text) => text.clone(),
                    WireMessage::Binary(bytes) => format!("<binary frame, {} bytes>", bytes.len()),
                });
                if let Ok(transport) = self.transport.try_borrow()
                    && let Some((id, transport)) = transport.as_ref()
                    && *id == connection
                {
                    transport.send(&message);
                }
            }
            Output::Close { connection, code, reason } => {
                let closing = self.transport.try_borrow_mut().ok().and_then(|mut slot| {
                    let matches = slot.as_ref().is_some_and(|(id, _)| *id == connection);
                    if matches { slot.take() } else { None }
                });
                if let Some((_, transport)) = closing {
                    transport.close(code, &reason);
                }
            }
            Output::Event(event) => (self.dispatch)(event),
        }
    }

    fn open_transport(self: &Rc<Self>, connection: ConnectionId, url: &str, protocols: &[String]) {
        let weak: Weak<Self> = Rc::downgrade(self);
        let opened = Transport::open(url, protocols, move |event| {
            if let Some(driver) = weak.upgrade() {
                match &event {
                    TransportEvent::Text(text) => driver.tap(false, || text.clone()),
                    TransportEvent::Binary(bytes) => driver.tap(false, || format!("<binary frame, {} bytes>", bytes.len())),
                    TransportEvent::Open | TransportEvent::Close { .. } => {}
                }
                driver.with_core(|core, now| match event {
                    TransportEvent::Open => core.handle_open(connection, now),
                    TransportEvent::Text(text) => core.handle_text(connection, &text, now),
                    TransportEvent::Binary(bytes) => core.handle_binary(connection, &bytes, now),
                    TransportEvent::Close { code, reason } => core.handle_close(connection, code, &reason, now),
                });
            }
        });
        match opened {
            // Replacing an old transport drops (and closes) it.
            Ok(transport) => {
                if let Ok(mut slot) = self.transport.try_borrow_mut() {
                    *slot = Some((connection, transport));
                }
            }
            // The constructor threw (a bad URL or subprotocol): not a network error, so the
            // machine stops retrying and says why.
            Err(reason) => {
                if let Ok(mut slot) = self.transport.try_borrow_mut() {
                    *slot = None;
                }
                if let Ok(mut core) = self.core.try_borrow_mut() {
                    core.handle_connect_error(connection, &reason, clock::now());
                }
            }
        }
    }

    fn arm_timer(self: &Rc<Self>) {
        let deadline = match self.core.try_borrow() {
            Ok(core) => core.poll_timeout(),
            Err(_) => return,
        };
        let Ok(mut timer) = self.timer.try_borrow_mut() else { return };
        if timer.as_ref().map(|(at, _)| *at) == deadline {
            return;
        }
        *timer = deadline.map(|at| {
            let delay = at.saturating_sub(clock::now());
            let weak = Rc::downgrade(self);
            let timeout = Timeout::new(u32::try_from(delay).unwrap_or(u32::MAX), move || {
                if let Some(driver) = weak.upgrade() {
                    if let Ok(mut timer) = driver.timer.try_borrow_mut() {
                        *timer = None;
                    }
                    driver.with_core(|core, now| core.handle_timeout(now));
                }
            });
            (at, timeout)
        });
    }
}

impl<M: Machine> Drop for Driver<M> {
    fn drop(&mut self) {
        if let Ok(mut timer) = self.timer.try_borrow_mut() {
            *timer = None;
        }
        let transport = self.transport.try_borrow_mut().ok().and_then(|mut slot| slot.take());
        if let Some((_, transport)) = transport {
            transport.close(1000, "client dropped");
        }
    }
}
