//! Phoenix Channels v2 client, sans-IO: the frame codec and the socket/channel state machines.
//!
//! Nothing here touches a socket, a timer or a JS value. Time enters as [`Millis`] arguments,
//! randomness (reconnect jitter) as a seed. The browser driver in `crate::browser` (or a test)
//! feeds inputs and carries out [`Output`]s.

pub mod backoff;
mod channel;
pub mod config;
pub mod endpoint;
pub mod event;
pub mod frame;
mod socket;

pub use backoff::Backoff;
pub use config::{AuthToken, Params, SocketConfig, SocketOptions};
pub use endpoint::PageLocation;
pub use event::{
    ChannelEvent, ChannelId, ChannelState, CloseCause, ConnectionId, ConnectionState, ErrorCause, Event, Millis, Output, PushError, PushId,
};
pub use frame::{Body, Frame, FrameError, Payload, Reply, ReplyStatus, WireMessage};
pub use socket::Socket;
