//! [`use_sync_connection`]: the connection's state as signals, and `open` / `close`.

use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;

use super::context::use_sync_context;

/// Where the connection stands: the runtime's [`crate::runtime::status::ConnectionStatus`], the
/// same status the npm package reports (`Connecting` until first usable, `Open` while the socket
/// is open and the connection channel joined, `Reconnecting` for the whole outage after that —
/// the wait between retries included — and `Closed` when nobody wants it open (before `open()`
/// with `auto_connect=false`, after `close()`) or it cannot connect at all).
///
/// ```no_run
/// use musubi_wasm::leptos::ConnectionReadyState;
/// let color = |state: ConnectionReadyState| match state {
///     ConnectionReadyState::Open => "green",
///     ConnectionReadyState::Connecting | ConnectionReadyState::Reconnecting => "yellow",
///     ConnectionReadyState::Closed => "red",
/// };
/// assert_eq!(color(ConnectionReadyState::Reconnecting), "yellow");
/// ```
pub type ConnectionReadyState = crate::runtime::status::ConnectionStatus;

/// The connection as signals, with controls. Cheap to copy into closures.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{ConnectionReadyState, use_sync_connection};
/// #[component]
/// fn Indicator() -> impl IntoView {
///     let connection = use_sync_connection();
///     let color = move || match connection.ready_state.get() {
///         ConnectionReadyState::Open => "green",
///         ConnectionReadyState::Connecting | ConnectionReadyState::Reconnecting => "yellow",
///         ConnectionReadyState::Closed => "red",
///     };
///     let retry = move || connection.next_retry_in.get().map(|left| format!("retry in {} s", left.as_secs() + 1));
///     view! { <span class=color>{retry}</span> <button on:click=move |_| (connection.open)()>"Reconnect now"</button> }
/// }
/// ```
#[derive(Clone)]
pub struct SyncConnection {
    /// Current state.
    pub ready_state: Signal<ConnectionReadyState>,
    /// Opens the socket now with a fresh attempt count (also skips a pending retry wait).
    pub open: Arc<dyn Fn() + Send + Sync>,
    /// Closes the socket and stops retrying; mounted roots stay readable as stale.
    pub close: Arc<dyn Fn() + Send + Sync>,
    /// The reconnect attempt that is scheduled or running (0 while open).
    pub reconnect_attempt: Signal<u32>,
    /// Time left before the next retry, updated four times a second while one is pending.
    pub next_retry_in: Signal<Option<Duration>>,
}

/// The connection of the nearest [`super::SyncProvider`].
///
/// Reconnects are built in: the socket retries on its own with the provider's backoff
/// (exponential from 1 s to 30 s with jitter by default), reset when a connection opens, with
/// exactly one retry pending at a time. `close()` stops retrying; `open()` starts again from
/// attempt 1.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::use_sync_connection;
/// let connection = use_sync_connection();
/// let attempt = move || connection.reconnect_attempt.get();
/// (connection.close)();
/// (connection.open)();
/// ```
pub fn use_sync_connection() -> SyncConnection {
    let context = use_sync_context();
    SyncConnection {
        ready_state: context.ready_state.into(),
        open: Arc::new(move || context.open()),
        close: Arc::new(move || context.close()),
        reconnect_attempt: context.attempt.into(),
        next_retry_in: context.next_retry_in.into(),
    }
}
