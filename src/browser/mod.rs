//! The browser driver: the only code that touches `web_sys`, timers and page events.
//!
//! [`Socket`] runs the sans-IO [`crate::phoenix::Socket`] against a real `WebSocket`
//! (`binaryType = "arraybuffer"`), one `setTimeout` for the core's earliest deadline, and the
//! page's `online` / `visibilitychange` events (which trigger an immediate reconnect).

mod channel;
mod clock;
mod driver;
mod listeners;
mod page_events;
mod socket;
mod stash;
mod sync;
mod transport;
mod upload;

pub use channel::{Channel, JoinError};
pub use clock::now;
pub use driver::Machine;
pub use listeners::Subscription;
pub use socket::Socket;
pub(crate) use socket::page_location;
pub use stash::Stash;
pub use sync::{Outcome, RootHandle, StoreHandle, SyncClient};
pub use upload::{ExternalUpload, UploadHandle, Uploader, UploaderFuture};
