//! The Musubi runtime, sans-IO: roots, envelopes, the patch engine, store index, snapshots,
//! subscriptions, streams, uploads and commands (PROTOCOL.md §2–§3.7).

pub mod depth;
pub mod envelope;
pub mod error;
pub mod index;
mod key_list;
pub mod machine;
pub mod patch;
pub mod push_event;
pub mod replica;
pub mod root;
pub mod snapshot;
pub mod status;
pub mod store_id;
pub mod stream;
pub mod tree;
pub mod upload;
pub mod upload_transfer;
pub(crate) mod walk;

pub use error::{CommandError, CommandErrorKind, SyncError};
pub use machine::{CommandOptions, DEFAULT_TOPIC, OutboxConfig, Runtime, RuntimeEvent, UploadTarget, WireMode};
pub use root::{MountSpec, RequestId, RootInfo, RootStatus};
pub use store_id::{StoreId, StoreKey};
pub use tree::Node;
#[cfg(test)]
mod simulation;
