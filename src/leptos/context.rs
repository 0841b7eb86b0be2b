//! [`SyncProvider`] and [`SyncContext`]: one connection for a component tree.

use std::rc::Rc;
use std::time::Duration;

use gloo_timers::callback::Interval;
use leptos::prelude::*;

use super::connection::ConnectionReadyState;
use super::error::SyncError;
use crate::browser::{Subscription, SyncClient, now};
use crate::phoenix::backoff::Backoff;
use crate::phoenix::{Event, SocketOptions};
use crate::runtime::status::{ConnectionInfo, ConnectionStatus};
use crate::runtime::{DEFAULT_TOPIC, OutboxConfig, RootStatus, RuntimeEvent, WireMode};

/// The Leptos defaults: phoenix.js timings, and reconnects with exponential backoff from 1 s to
/// 30 s with ±20 % jitter (seeded from the clock, so tabs do not retry in lockstep).
///
/// ```no_run
/// use musubi_wasm::leptos::default_options;
/// use musubi_wasm::phoenix::backoff::Backoff;
/// // Faster retries for a LAN app:
/// let options = default_options().with_reconnect(Backoff::exponential(250, 5_000).with_jitter(0.1));
/// ```
pub fn default_options() -> SocketOptions {
    let mut options = SocketOptions::default().with_reconnect(Backoff::exponential(1000, 30_000).with_jitter(0.2));
    options.seed = js_sys::Date::now().to_bits();
    options
}

/// The connection shared by a component tree (provided by [`SyncProvider`]). `Copy`, so closures
/// in views can capture it.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{SyncError, use_sync_context};
/// let context = use_sync_context();
/// let offline = move || matches!(context.last_error.get(), Some(SyncError::WebSocketError { .. }));
/// context.clear_error();
/// ```
#[derive(Clone, Copy)]
pub struct SyncContext {
    /// The last error the sync layer reported (connection, protocol, deserialization, command).
    pub last_error: Signal<Option<SyncError>>,
    pub(crate) client: StoredValue<SyncClient, LocalStorage>,
    pub(crate) topic: StoredValue<String>,
    pub(crate) errors: RwSignal<Option<SyncError>>,
    /// True while `errors` holds what the connection or a root ran into (not the application's
    /// or a request's): it clears itself once the connection is open and every root is live.
    errors_are_transient: StoredValue<bool>,
    pub(crate) ready_state: RwSignal<ConnectionReadyState>,
    pub(crate) attempt: RwSignal<u32>,
    pub(crate) next_retry_in: RwSignal<Option<Duration>>,
    /// True while the application wants the socket open (auto-connect or `open()`, until `close()`).
    pub(crate) wanted: RwSignal<bool>,
    countdown: StoredValue<Option<Interval>, LocalStorage>,
    _events: StoredValue<Subscription, LocalStorage>,
}

impl SyncContext {
    /// Reports an error: it becomes `last_error` (e.g. an application's own validation error).
    ///
    /// ```no_run
    /// # use musubi_wasm::leptos::{SyncError, use_sync_context};
    /// use_sync_context().report(SyncError::Protocol { message: "unexpected reply".into() });
    /// ```
    pub fn report(&self, error: SyncError) {
        self.errors_are_transient.try_set_value(false);
        self.errors.try_set(Some(error));
    }

    /// Reports what the connection or a root ran into: shown until dismissed, or until the
    /// connection is open and every root is live again.
    fn report_transient(&self, error: SyncError) {
        self.errors.try_set(Some(error));
        self.errors_are_transient.try_set_value(true);
    }

    /// Clears a transient error once all is well again (the connection open, every root live).
    fn clear_when_recovered(&self) {
        if self.errors_are_transient.try_get_value() != Some(true) {
            return;
        }
        let Some(client) = self.client.try_get_value() else { return };
        let topic = self.topic.try_get_value().unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
        let info = client.connection_info();
        let all_live = client.roots(&topic).iter().all(|root| root.status == RootStatus::Live);
        if info.status == ConnectionStatus::Open && all_live {
            self.errors_are_transient.try_set_value(false);
            self.errors.try_set(None);
        }
    }

    /// Clears `last_error` (e.g. when the user dismisses the banner).
    pub fn clear_error(&self) {
        self.errors.try_set(None);
    }

    /// Opens the socket (again) with a fresh attempt count and joins the connection channel.
    /// Turns the command outbox on (with these bounds) or off (see [`OutboxConfig`]).
    ///
    /// ```no_run
    /// use musubi_wasm::leptos::use_sync_context;
    /// use musubi_wasm::runtime::OutboxConfig;
    /// use_sync_context().set_outbox(Some(OutboxConfig::default()));
    /// ```
    pub fn set_outbox(&self, config: Option<OutboxConfig>) {
        if let Some(client) = self.client.try_get_value() {
            client.set_outbox(config);
        }
    }

    pub(crate) fn open(&self) {
        self.wanted.try_set(true);
        let Some(client) = self.client.try_get_value() else { return };
        client.open_socket();
        let topic = self.topic.try_get_value().unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
        let context = *self;
        leptos::task::spawn_local(async move {
            if let Err(error) = client.open(&topic).await {
                context.report(SyncError::from_runtime(error, ""));
            }
        });
    }

    /// Closes the socket and stops retrying; roots stay readable as stale until `open()`.
    pub(crate) fn close(&self) {
        self.wanted.try_set(false);
        if let Some(client) = self.client.try_get_value() {
            client.close_socket();
        }
    }

    /// Shows the runtime's connection status (derived there, as for every front door).
    fn show(&self, info: &ConnectionInfo) {
        self.ready_state.try_set(info.status);
        self.attempt.try_set(info.attempt);
        self.set_countdown(info.next_retry_at);
    }

    /// Runs a 250 ms ticker for `next_retry_in` while a retry is pending (the retry itself is the
    /// socket's single timer).
    fn set_countdown(&self, retry_at: Option<u64>) {
        let Some(at) = retry_at else {
            self.countdown.try_set_value(None);
            self.next_retry_in.try_set(None);
            return;
        };
        let remaining = move || Duration::from_millis(at.saturating_sub(now()));
        self.next_retry_in.try_set(Some(remaining()));
        let next_retry_in = self.next_retry_in;
        let ticker = Interval::new(250, move || {
            next_retry_in.try_set(Some(remaining()));
        });
        self.countdown.try_set_value(Some(ticker));
    }
}

/// Creates the connection for the current reactive owner and provides it as context (what
/// [`SyncProvider`] does; useful in tests and custom providers).
///
/// ```no_run
/// use musubi_wasm::leptos::{default_options, provide_sync_context};
/// use musubi_wasm::runtime::WireMode;
/// let context = provide_sync_context("/socket", default_options(), None, true, WireMode::Auto);
/// ```
pub fn provide_sync_context(url: &str, options: SocketOptions, topic: Option<String>, auto_connect: bool, wire: WireMode) -> SyncContext {
    let client = SyncClient::with_wire(url, options, wire);
    let topic = topic.unwrap_or_else(|| DEFAULT_TOPIC.to_owned());
    let (client_for_cleanup, topic_for_cleanup) = (client.clone(), topic.clone());
    let errors = RwSignal::new(None);
    if !auto_connect {
        // Nobody wants the socket yet: the runtime says `closed` until `open()`.
        client.close_socket();
    }
    let ready_state = RwSignal::new(client.connection_info().status);
    let attempt = RwSignal::new(0);
    let next_retry_in = RwSignal::new(None);
    let wanted = RwSignal::new(auto_connect);
    let countdown = StoredValue::new_local(None);
    // The event listener needs the context, which needs the listener's subscription: fill it in.
    let slot: Rc<std::cell::Cell<Option<SyncContext>>> = Rc::default();
    let listening = slot.clone();
    let events = client.on_event(move |event| {
        if let Some(context) = listening.get() {
            context.observe(event);
        }
    });
    let context = SyncContext {
        last_error: errors.into(),
        client: StoredValue::new_local(client),
        topic: StoredValue::new(topic),
        errors,
        errors_are_transient: StoredValue::new(false),
        ready_state,
        attempt,
        next_retry_in,
        wanted,
        countdown,
        _events: StoredValue::new_local(events),
    };
    slot.set(Some(context));
    provide_context(context);
    // The cleanup keeps its own client handle: the context's stored values may be gone by then.
    let leaving = send_wrapper::SendWrapper::new((client_for_cleanup, topic_for_cleanup));
    on_cleanup(move || {
        context.countdown.try_set_value(None);
        let (client, topic) = leaving.take();
        // Leaving the channel settles every pending request, so nothing keeps the client alive;
        // then the socket closes for good.
        leptos::task::spawn_local(async move {
            let _ = client.disconnect(&topic).await;
            client.close_socket();
        });
    });
    if auto_connect {
        context.open();
    }
    context
}

impl SyncContext {
    /// Turns runtime events into signal updates.
    fn observe(&self, event: &RuntimeEvent) {
        match event {
            RuntimeEvent::Connection { info, .. } => {
                self.show(info);
                self.clear_when_recovered();
            }
            RuntimeEvent::Socket(Event::TransportClosed { code, reason }) => {
                let detail = if reason.is_empty() { String::new() } else { format!(": {reason}") };
                self.report_transient(SyncError::WebSocketError { message: format!("connection lost (code {code}{detail})") });
            }
            RuntimeEvent::Socket(Event::InvalidEndpoint(message) | Event::ConnectFailed(message)) => {
                self.report_transient(SyncError::WebSocketError { message: message.clone() })
            }
            RuntimeEvent::Socket(Event::FrameError(error)) => self.report_transient(SyncError::Protocol { message: error.to_string() }),
            RuntimeEvent::RootStatus { topic, root_id, status: RootStatus::Recovering } => {
                // The runtime says why (a missed update is not a broken one).
                let cause = self
                    .client
                    .try_get_value()
                    .and_then(|client| client.roots(topic).into_iter().find(|root| root.id == *root_id).and_then(|root| root.reason));
                let cause = cause.unwrap_or_else(|| "its state went out of sequence".to_owned());
                self.report_transient(SyncError::Resyncing { root_id: root_id.to_string(), cause });
            }
            RuntimeEvent::RootStatus { status: RootStatus::Live, .. } => self.clear_when_recovered(),
            _ => {}
        }
    }
}

/// The context provided by the nearest [`SyncProvider`]. Outside one, a disconnected context is
/// created (and `last_error` says so), so a misplaced hook never panics.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::use_sync_context;
/// #[component]
/// fn ErrorBanner() -> impl IntoView {
///     let context = use_sync_context();
///     view! { <p>{move || context.last_error.get().map(|error| error.to_string())}</p> }
/// }
/// ```
pub fn use_sync_context() -> SyncContext {
    use_context::<SyncContext>().unwrap_or_else(|| {
        let context = provide_sync_context("/socket", default_options(), None, false, WireMode::Auto);
        context.report(SyncError::Protocol { message: "use_sync_context() called outside a <SyncProvider>".into() });
        context
    })
}

/// Provides a Musubi connection to its children.
///
/// `url` is the socket endpoint (`/socket`, `ws://host/socket`; `/websocket` is appended). With
/// `auto_connect=false` the socket stays closed until [`super::SyncConnection::open`] is called;
/// roots used meanwhile mount once it opens. `options` default to [`default_options`].
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::SyncProvider;
/// #[component]
/// fn App() -> impl IntoView {
///     view! { <SyncProvider url="/socket" auto_connect=true><p>"children"</p></SyncProvider> }
/// }
/// ```
#[component]
pub fn SyncProvider(
    /// The socket endpoint.
    #[prop(into)]
    url: String,
    /// Connect at once (default) or wait for `open()`.
    #[prop(default = true)]
    auto_connect: bool,
    /// Socket options (timeouts, params, auth token, reconnect backoff).
    #[prop(optional)]
    options: Option<SocketOptions>,
    /// The connection channel topic (default `musubi:connection`).
    #[prop(optional, into)]
    topic: Option<String>,
    /// The wire protocol (default [`WireMode::Auto`]: detected).
    #[prop(optional)]
    wire: Option<WireMode>,
    /// The command outbox (off by default): commands dispatched while their root is not live
    /// wait and go out in order once it is live again.
    #[prop(optional)]
    outbox: Option<OutboxConfig>,
    /// The components that use the connection.
    children: Children,
) -> impl IntoView {
    let context = provide_sync_context(&url, options.unwrap_or_else(default_options), topic, auto_connect, wire.unwrap_or_default());
    context.set_outbox(outbox);
    children()
}
