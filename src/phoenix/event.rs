//! What the socket state machine tells its driver: outputs to carry out and events to report.

use super::frame::{FrameError, Payload, Reply, WireMessage};

/// Milliseconds on the driver's monotonic clock. The core never reads a clock itself.
pub type Millis = u64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u64);

        impl $name {
            /// The raw number (unique per socket).
            pub fn get(self) -> u64 {
                self.0
            }
        }
    };
}

id_type!(
    /// Identifies one channel object of a socket.
    ChannelId
);
impl ChannelId {
    /// An id no channel ever has (ids start at 1): it behaves as a closed channel.
    pub const NONE: ChannelId = ChannelId(0);
}

id_type!(
    /// Identifies one push (its reply or failure is reported once, with this id).
    PushId
);
id_type!(
    /// Identifies one transport connection attempt; inputs for an old one are ignored.
    ConnectionId
);

/// The socket's connection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// No transport (never connected, disconnected, or waiting to reconnect).
    Closed,
    /// A WebSocket is being opened.
    Connecting,
    /// The WebSocket is open.
    Open,
}

impl ConnectionState {
    /// The lowercase name (`"closed"`, `"connecting"`, `"open"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Closed => "closed",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Open => "open",
        }
    }
}

/// A channel's state (phoenix.js names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelState {
    /// Not joined; also the final state after leave or a server close.
    Closed,
    /// A `phx_join` is in flight.
    Joining,
    /// Joined; pushes are sent immediately.
    Joined,
    /// A `phx_leave` is in flight.
    Leaving,
    /// Join failed or the channel crashed; a rejoin is scheduled.
    Errored,
}

impl ChannelState {
    /// The lowercase phoenix.js name (`"closed"`, `"joining"`, `"joined"`, `"leaving"`,
    /// `"errored"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelState::Closed => "closed",
            ChannelState::Joining => "joining",
            ChannelState::Joined => "joined",
            ChannelState::Leaving => "leaving",
            ChannelState::Errored => "errored",
        }
    }
}

/// Why a channel errored.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorCause {
    /// The server channel crashed (`phx_error`, payload `{}` or `{"reason": …}`).
    Server(Payload),
    /// The transport closed or failed.
    ConnectionLost,
    /// No heartbeat reply arrived in time.
    HeartbeatTimeout,
    /// The application disconnected the socket.
    Disconnected,
}

/// Why a channel closed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// The server sent `phx_close`.
    Server,
    /// The application called leave.
    Left,
    /// The application replaced the channel with a new one for the same topic.
    Replaced,
}

/// Why a push did not get a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No reply within the push timeout (the reply, if it comes later, is ignored).
    #[error("push timed out")]
    Timeout,
    /// The push was sent but the connection dropped before a reply; the server may or may not
    /// have handled it.
    #[error("connection lost before the reply")]
    ConnectionLost,
    /// The push was sent but the server channel crashed before replying.
    #[error("channel crashed before the reply")]
    ChannelErrored,
    /// The channel was left, closed by the server, or replaced.
    #[error("channel closed")]
    ChannelClosed,
    /// The channel was never joined (pushing before `join` is a programming error).
    #[error("channel was never joined")]
    NotJoined,
    /// The payload cannot be framed (e.g. a binary push whose topic exceeds 255 bytes).
    #[error("cannot encode push: {0}")]
    Encode(FrameError),
}

/// Something for the driver to do or to report (`E`: the kind of event reported).
#[derive(Debug, Clone, PartialEq)]
pub enum Output<E = Event> {
    /// Open a WebSocket to `url` with these subprotocols (none when empty).
    Connect {
        /// Pass this id back with every input about this WebSocket.
        connection: ConnectionId,
        /// Full `ws:`/`wss:` URL.
        url: String,
        /// `Sec-WebSocket-Protocol` values.
        protocols: Vec<String>,
    },
    /// Send one message on the open WebSocket.
    Send {
        /// The WebSocket to send on.
        connection: ConnectionId,
        /// Text or binary frame.
        message: WireMessage,
    },
    /// Close this WebSocket and forget it (its later events are ignored by the core).
    Close {
        /// The WebSocket to close.
        connection: ConnectionId,
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Report an event to the application.
    Event(E),
}

/// An observable happening.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The connection state changed.
    State(ConnectionState),
    /// The transport closed (not by us).
    TransportClosed {
        /// Close code reported by the browser.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// A reconnect attempt is scheduled.
    ReconnectScheduled {
        /// The attempt number (1-based) that will run.
        attempt: u32,
        /// The delay chosen from the schedule (with jitter, if any).
        delay: Millis,
        /// When it will run.
        at: Millis,
    },
    /// The endpoint URL could not be built; the socket stays closed.
    InvalidEndpoint(String),
    /// A WebSocket cannot be opened with this configuration (the browser refused the URL or the
    /// subprotocols, or the auth token cannot be sent). Not a network error: nothing is retried
    /// until the application connects again.
    ConnectFailed(String),
    /// A frame from the server could not be decoded; it was dropped and the socket keeps going.
    FrameError(FrameError),
    /// Something happened on a channel.
    Channel {
        /// Which channel.
        channel: ChannelId,
        /// What happened.
        event: ChannelEvent,
    },
}

/// Something that happened on one channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelEvent {
    /// The channel state changed.
    State(ChannelState),
    /// A join (first or re-) succeeded with this response.
    Joined(Payload),
    /// The server refused the join with this response; a rejoin is scheduled.
    JoinRefused(Payload),
    /// The join timed out; a rejoin is scheduled.
    JoinTimeout,
    /// A server push or broadcast.
    Message {
        /// Event name.
        event: String,
        /// Its payload.
        payload: Payload,
    },
    /// The channel errored and will rejoin.
    Errored(ErrorCause),
    /// The channel closed for good and was removed from the socket.
    Closed(CloseCause),
    /// A push settled: the server's reply (ok, error or another status) or why none came.
    PushSettled {
        /// The push.
        push: PushId,
        /// Its reply or failure.
        result: Result<Reply, PushError>,
    },
}
