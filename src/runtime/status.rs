//! The connection status every front door shows, derived once, here, from the runtime's own state
//! (the socket, the connection channels' joins, the application's open/close) — JS and Leptos only
//! translate [`ConnectionInfo`], so the same outage reads the same everywhere.
//!
//! - `connecting`: not usable yet, and never was since the application (re)opened;
//! - `open`: the socket is open **and** every connection channel is joined;
//! - `reconnecting`: it was open, and is not usable now (the socket retries, or the channel
//!   rejoins); the wait between retries is `reconnecting` too, with [`ConnectionInfo::attempt`]
//!   and [`ConnectionInfo::next_retry_at`];
//! - `closed`: the application closed it, or it cannot be opened at all (the reason says why).
//!
//! ```
//! use musubi_wasm::runtime::status::{ConnectionInfo, ConnectionStatus};
//! let info = ConnectionInfo::default();
//! assert_eq!((info.status, info.status.as_str()), (ConnectionStatus::Connecting, "connecting"));
//! ```

use crate::phoenix::{ChannelEvent, ConnectionState, ErrorCause, Event, Millis, Output};

/// Where the connection stands, as shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConnectionStatus {
    /// Opening, and not usable since the application (re)opened it.
    #[default]
    Connecting,
    /// The socket is open and every connection channel is joined.
    Open,
    /// It was open and is not usable now; retries run on their own.
    Reconnecting,
    /// Closed by the application, or unusable (see the reason); nothing is retried.
    Closed,
}

impl ConnectionStatus {
    /// `"connecting"`, `"open"`, `"reconnecting"` or `"closed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Open => "open",
            ConnectionStatus::Reconnecting => "reconnecting",
            ConnectionStatus::Closed => "closed",
        }
    }
}

/// Everything a status indicator shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionInfo {
    /// The status.
    pub status: ConnectionStatus,
    /// Why it is what it is, e.g. `"connected"`, `"connection lost (code 1006)"`, `"join timed
    /// out"`, `"closed by the application"`, or what to change when it cannot connect at all.
    pub reason: String,
    /// The reconnect attempt that is scheduled or running (0 while the socket is open).
    pub attempt: u32,
    /// When the next reconnect runs, if one is scheduled.
    pub next_retry_at: Option<Millis>,
    /// When the status last became `open`.
    pub connected_at: Option<Millis>,
}

/// What the derivation needs to know about the runtime at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inputs {
    pub(crate) socket: ConnectionState,
    pub(crate) all_joined: bool,
    pub(crate) wanted: bool,
    pub(crate) attempts: u32,
    pub(crate) next_retry_at: Option<Millis>,
}

/// Keeps the reasons the socket and channels gave, and derives [`ConnectionInfo`].
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusDeriver {
    info: ConnectionInfo,
    /// Usable at least once since the application (re)opened.
    was_open: bool,
    /// Why it is not usable (the latest loss, refusal or timeout).
    loss: Option<String>,
    /// Why it cannot connect at all (until the application opens again).
    failure: Option<String>,
}

impl StatusDeriver {
    /// The current info.
    pub(crate) fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The application (re)opens: failures are forgotten and the next usable state is a first one.
    pub(crate) fn reopened(&mut self) {
        self.failure = None;
        self.was_open = false;
    }

    /// Remembers the reason an output or event gives.
    pub(crate) fn observe(&mut self, output: &Output) {
        let loss = match output {
            Output::Close { reason, .. } if reason == "heartbeat timeout" => "no reply to the heartbeat (heartbeat timeout)".to_owned(),
            Output::Close { reason, .. } if reason == "connect timeout" => "the WebSocket did not open in time".to_owned(),
            Output::Event(Event::TransportClosed { code, reason }) if reason.is_empty() => format!("connection lost (code {code})"),
            Output::Event(Event::TransportClosed { code, reason }) => format!("connection lost (code {code}: {reason})"),
            Output::Event(Event::InvalidEndpoint(message)) => {
                self.failure = Some(format!("invalid endpoint: {message}"));
                return;
            }
            Output::Event(Event::ConnectFailed(message)) => {
                self.failure = Some(message.clone());
                return;
            }
            Output::Event(Event::Channel { event: ChannelEvent::JoinTimeout, .. }) => "the channel join timed out; retrying".to_owned(),
            Output::Event(Event::Channel { event: ChannelEvent::JoinRefused(response), .. }) => {
                format!("the channel join was refused: {}", describe(response))
            }
            Output::Event(Event::Channel { event: ChannelEvent::Errored(ErrorCause::Server(_)), .. }) => {
                "the connection channel crashed; rejoining".to_owned()
            }
            _ => return,
        };
        self.loss = Some(loss);
    }

    /// Derives the info from `inputs`; returns the previous status when anything changed.
    pub(crate) fn derive(&mut self, inputs: Inputs, now: Millis) -> Option<ConnectionStatus> {
        let usable = inputs.socket == ConnectionState::Open && inputs.all_joined;
        let (status, reason) = if !inputs.wanted {
            (ConnectionStatus::Closed, "closed by the application".to_owned())
        } else if let Some(failure) = &self.failure {
            (ConnectionStatus::Closed, failure.clone())
        } else if usable {
            (ConnectionStatus::Open, "connected".to_owned())
        } else {
            let reason = self.loss.clone().unwrap_or_else(|| "connecting".to_owned());
            (if self.was_open { ConnectionStatus::Reconnecting } else { ConnectionStatus::Connecting }, reason)
        };
        if status == ConnectionStatus::Open {
            self.was_open = true;
            self.loss = None;
        }
        let retrying = status != ConnectionStatus::Closed;
        let attempt = match (inputs.socket, inputs.next_retry_at) {
            _ if !retrying => 0,
            (ConnectionState::Open, _) => 0,
            (ConnectionState::Closed, Some(_)) => inputs.attempts.saturating_add(1),
            _ => inputs.attempts,
        };
        let connected_at =
            if status == ConnectionStatus::Open && self.info.status != ConnectionStatus::Open { Some(now) } else { self.info.connected_at };
        let next = ConnectionInfo { status, reason, attempt, next_retry_at: inputs.next_retry_at.filter(|_| retrying), connected_at };
        if next == self.info {
            return None;
        }
        Some(std::mem::replace(&mut self.info, next).status)
    }
}

fn describe(payload: &crate::phoenix::Payload) -> String {
    match payload.as_json() {
        Some(value) => crate::runtime::error::extract_code(value).unwrap_or_else(|| value.to_string()),
        None => "a non-JSON response".to_owned(),
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
