//! Socket options: endpoint, params, auth token, and every timing (PROTOCOL.md §1.8–§1.10).

use std::fmt;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::backoff::Backoff;
use super::endpoint::PageLocation;
use super::event::Millis;

/// Query params sent on every (re)connect. `Lazy` is evaluated at each connect.
#[derive(Clone, Default)]
pub enum Params {
    /// No params.
    #[default]
    None,
    /// Fixed params.
    Static(Map<String, Value>),
    /// Computed at every connect (e.g. a refreshed token).
    Lazy(Rc<dyn Fn() -> Map<String, Value>>),
}

impl Params {
    /// The params for this connect.
    pub fn resolve(&self) -> Option<Map<String, Value>> {
        match self {
            Params::None => None,
            Params::Static(map) => Some(map.clone()),
            Params::Lazy(compute) => Some(compute()),
        }
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Params::None => f.write_str("None"),
            Params::Static(map) => f.debug_tuple("Static").field(map).finish(),
            Params::Lazy(_) => f.write_str("Lazy(..)"),
        }
    }
}

/// An auth token for the `Sec-WebSocket-Protocol` header; `Lazy` is evaluated at each connect.
#[derive(Clone)]
pub enum AuthToken {
    /// A fixed token.
    Static(String),
    /// Computed at every connect.
    Lazy(Rc<dyn Fn() -> String>),
}

impl AuthToken {
    /// The token for this connect.
    pub fn resolve(&self) -> String {
        match self {
            AuthToken::Static(token) => token.clone(),
            AuthToken::Lazy(compute) => compute(),
        }
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(..)")
    }
}

/// Every tunable of a socket; `SocketOptions::default()` gives phoenix.js defaults.
///
/// ```
/// use musubi_wasm::phoenix::{Backoff, SocketOptions};
/// let options = SocketOptions::default().with_reconnect(Backoff::exponential(1000, 30_000).with_jitter(0.2));
/// assert_eq!(options.timeout_ms, 10_000);
/// ```
#[derive(Debug, Clone)]
pub struct SocketOptions {
    /// Query params.
    pub params: Params,
    /// Optional auth token.
    pub auth_token: Option<AuthToken>,
    /// Join, push and leave timeout (default 10 000 ms).
    pub timeout_ms: Millis,
    /// Interval between heartbeats (default 30 000 ms).
    pub heartbeat_interval_ms: Millis,
    /// How long to wait for a heartbeat reply (default 30 000 ms, like phoenix.js).
    pub heartbeat_timeout_ms: Millis,
    /// Give up on a WebSocket that has not opened after this long (default 10 000 ms; `None`
    /// waits for the browser).
    pub connect_timeout_ms: Option<Millis>,
    /// How long an open socket has to answer the heartbeat sent when the page wakes up (becomes
    /// visible, comes back online, is restored) before it is taken for dead (default 2 000 ms).
    pub probe_timeout_ms: Millis,
    /// Socket reconnect schedule (default phoenix.js ladder).
    pub reconnect: Backoff,
    /// Channel rejoin schedule (default phoenix.js ladder).
    pub rejoin: Backoff,
    /// Seed for jitter.
    pub seed: u64,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            params: Params::None,
            auth_token: None,
            timeout_ms: 10_000,
            heartbeat_interval_ms: 30_000,
            heartbeat_timeout_ms: 30_000,
            connect_timeout_ms: Some(10_000),
            probe_timeout_ms: 2_000,
            reconnect: Backoff::phoenix_reconnect(),
            rejoin: Backoff::phoenix_rejoin(),
            seed: 0x6d75_7375_6269,
        }
    }
}

impl SocketOptions {
    /// Sets fixed query params.
    #[must_use]
    pub fn with_params(mut self, params: Map<String, Value>) -> Self {
        self.params = Params::Static(params);
        self
    }

    /// Sets a fixed auth token.
    #[must_use]
    pub fn with_auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(AuthToken::Static(token.into()));
        self
    }

    /// Sets the reconnect schedule.
    #[must_use]
    pub fn with_reconnect(mut self, backoff: Backoff) -> Self {
        self.reconnect = backoff;
        self
    }

    /// Sets the rejoin schedule.
    #[must_use]
    pub fn with_rejoin(mut self, backoff: Backoff) -> Self {
        self.rejoin = backoff;
        self
    }
}

/// A socket's endpoint, the page it resolves against, and its options.
#[derive(Debug, Clone)]
pub struct SocketConfig {
    /// Base endpoint such as `ws://host/socket` or `/socket`.
    pub endpoint: String,
    /// The page that relative endpoints resolve against (set by the browser driver).
    pub page: Option<PageLocation>,
    /// Everything else.
    pub options: SocketOptions,
}

impl SocketConfig {
    /// `endpoint` with default options.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self::with_options(endpoint, SocketOptions::default())
    }

    /// `endpoint` with `options`.
    pub fn with_options(endpoint: impl Into<String>, options: SocketOptions) -> Self {
        SocketConfig { endpoint: endpoint.into(), page: None, options }
    }
}
