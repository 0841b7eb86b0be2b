//! The Musubi runtime, sans-IO: roots, envelopes, the patch engine, store index, snapshots,
//! subscriptions, streams, uploads and commands (PROTOCOL.md §2–§3.7).

pub mod patch;
pub mod tree;
pub mod store_id;
pub mod stream;
pub mod upload;
pub mod index;
pub mod envelope;
pub mod replica;
pub mod snapshot;
pub mod error;
pub mod machine;
pub mod root;

pub use error::{CommandError, CommandErrorKind, SyncError};
pub use machine::{DEFAULT_TOPIC, Runtime, RuntimeEvent};
pub use root::{MountSpec, RequestId, RootStatus};
pub use store_id::{StoreId, StoreKey};
pub use tree::Node;
