//! The connection status an application shows: `connecting` before the first open, `open`,
//! `reconnecting` after a loss while the socket retries, and `closed` after the application
//! disconnected. [`StatusTracker`] derives it from the socket's events, with a human-readable
//! reason for every change, the reconnect attempt and when the next try runs.
//!
//! ```
//! use musubi_wasm::phoenix::{ConnectionState, Event};
//! use musubi_wasm::runtime::status::{ConnectionStatus, StatusTracker};
//! let mut tracker = StatusTracker::default();
//! assert_eq!(tracker.status(), ConnectionStatus::Connecting);
//! let change = tracker.observe(&Event::State(ConnectionState::Open), 5);
//! assert_eq!(change.map(|c| (c.from, c.to)), Some((ConnectionStatus::Connecting, ConnectionStatus::Open)));
//! assert_eq!(tracker.connected_at(), Some(5));
//! ```

use crate::phoenix::{ConnectionState, Event, Millis};

/// Where the connection stands, as shown to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    /// Opening for the first time.
    Connecting,
    /// The WebSocket is open.
    Open,
    /// The connection was lost; the socket is retrying.
    Reconnecting,
    /// Closed by the application (or the endpoint is unusable); no retries.
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

/// One status transition and why it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The previous status.
    pub from: ConnectionStatus,
    /// The new status.
    pub to: ConnectionStatus,
    /// Why, e.g. `"connected"`, `"connection lost (code 1006)"`, `"disconnected by the application"`.
    pub reason: String,
}

/// Derives [`ConnectionStatus`] from socket events. See the module docs.
#[derive(Debug, Clone)]
pub struct StatusTracker {
    status: ConnectionStatus,
    connected_at: Option<Millis>,
    attempt: u32,
    next_retry_at: Option<Millis>,
    /// Why the transport went away, reported with the next status change.
    loss: Option<String>,
}

impl Default for StatusTracker {
    fn default() -> Self {
        StatusTracker { status: ConnectionStatus::Connecting, connected_at: None, attempt: 0, next_retry_at: None, loss: None }
    }
}

impl StatusTracker {
    /// The current status.
    pub fn status(&self) -> ConnectionStatus {
        self.status
    }

    /// When the connection last opened (`None` if it never did).
    pub fn connected_at(&self) -> Option<Millis> {
        self.connected_at
    }

    /// The reconnect attempt that is scheduled or running (0 while open).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// When the next reconnect runs, if one is scheduled.
    pub fn next_retry_at(&self) -> Option<Millis> {
        self.next_retry_at
    }

    /// Feeds one socket event; returns the status change it caused, if any.
    pub fn observe(&mut self, event: &Event, now: Millis) -> Option<StatusChange> {
        if self.status == ConnectionStatus::Closed {
            return None;
        }
        match event {
            Event::State(ConnectionState::Open) => {
                self.connected_at = Some(now);
                self.attempt = 0;
                self.next_retry_at = None;
                self.loss = None;
                self.set(ConnectionStatus::Open, "connected".to_owned())
            }
            Event::State(ConnectionState::Connecting) => {
                self.next_retry_at = None;
                None
            }
            Event::State(ConnectionState::Closed) => {
                let reason = self.loss.take().unwrap_or_else(|| "connection lost".to_owned());
                if self.connected_at.is_some() { self.set(ConnectionStatus::Reconnecting, reason) } else { None }
            }
            Event::TransportClosed { code, reason } => {
                self.loss = Some(if reason.is_empty() {
                    format!("connection lost (code {code})")
                } else {
                    format!("connection lost (code {code}: {reason})")
                });
                None
            }
            Event::ReconnectScheduled { attempt, at, .. } => {
                self.attempt = *attempt;
                self.next_retry_at = Some(*at);
                None
            }
            Event::InvalidEndpoint(message) => {
                self.next_retry_at = None;
                self.set(ConnectionStatus::Closed, format!("invalid endpoint: {message}"))
            }
            Event::FrameError(_) | Event::Channel { .. } => None,
        }
    }

    /// The application closed the connection: the status becomes `closed` for good.
    pub fn close(&mut self, reason: &str) -> Option<StatusChange> {
        self.next_retry_at = None;
        self.set(ConnectionStatus::Closed, reason.to_owned())
    }

    fn set(&mut self, to: ConnectionStatus, reason: String) -> Option<StatusChange> {
        let from = std::mem::replace(&mut self.status, to);
        (from != to).then_some(StatusChange { from, to, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionStatus::*;

    fn run(events: &[Event]) -> (StatusTracker, Vec<(ConnectionStatus, ConnectionStatus, String)>) {
        let mut tracker = StatusTracker::default();
        let changes = events
            .iter()
            .enumerate()
            .filter_map(|(at, event)| tracker.observe(event, at as Millis))
            .map(|change| (change.from, change.to, change.reason))
            .collect();
        (tracker, changes)
    }

    #[test]
    fn first_failures_stay_connecting_until_the_first_open() {
        let (tracker, changes) = run(&[
            Event::State(ConnectionState::Connecting),
            Event::TransportClosed { code: 1006, reason: String::new() },
            Event::State(ConnectionState::Closed),
            Event::ReconnectScheduled { attempt: 1, delay: 10, at: 13 },
        ]);
        assert!(changes.is_empty());
        assert_eq!((tracker.status(), tracker.attempt(), tracker.next_retry_at()), (Connecting, 1, Some(13)));
    }

    #[test]
    fn a_loss_after_open_is_reconnecting_with_the_close_reason_then_open_again() {
        let (tracker, changes) = run(&[
            Event::State(ConnectionState::Connecting),
            Event::State(ConnectionState::Open),
            Event::TransportClosed { code: 1006, reason: String::new() },
            Event::State(ConnectionState::Closed),
            Event::ReconnectScheduled { attempt: 1, delay: 10, at: 14 },
            Event::State(ConnectionState::Connecting),
            Event::State(ConnectionState::Open),
        ]);
        assert_eq!(
            changes,
            vec![
                (Connecting, Open, "connected".to_owned()),
                (Open, Reconnecting, "connection lost (code 1006)".to_owned()),
                (Reconnecting, Open, "connected".to_owned()),
            ]
        );
        assert_eq!((tracker.attempt(), tracker.next_retry_at(), tracker.connected_at()), (0, None, Some(6)));
    }

    #[test]
    fn a_client_side_close_without_transport_event_has_a_generic_reason() {
        let (_, changes) = run(&[Event::State(ConnectionState::Open), Event::State(ConnectionState::Closed)]);
        assert_eq!(changes.last().map(|c| c.2.as_str()), Some("connection lost"));
    }

    #[test]
    fn close_is_final() {
        let mut tracker = StatusTracker::default();
        assert!(tracker.observe(&Event::State(ConnectionState::Open), 1).is_some());
        let change = tracker.close("disconnected by the application");
        assert_eq!(change.map(|c| (c.from, c.to)), Some((Open, Closed)));
        assert_eq!(tracker.observe(&Event::State(ConnectionState::Open), 2), None);
        assert_eq!(tracker.close("again"), None, "no duplicate change");
        assert_eq!(Closed.as_str(), "closed");
    }

    #[test]
    fn an_invalid_endpoint_closes() {
        let (tracker, changes) = run(&[Event::InvalidEndpoint("bad url".into())]);
        assert_eq!(tracker.status(), Closed);
        assert_eq!(changes, vec![(Connecting, Closed, "invalid endpoint: bad url".to_owned())]);
    }
}
