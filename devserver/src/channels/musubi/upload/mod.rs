//! Uploads (PROTOCOL.md §3), server side: stores declare them ([`UploadSpec`]), pages keep the
//! entries and queue upload ops ([`PageUploads`]), clients preflight with `allow_upload` and send
//! the bytes over a `musubi_upload:<ref>` sub-channel ([`channel`], channel mode) or to an
//! external target (here `PUT /_uploads/<ref>`, external mode), then report with
//! `upload_progress` / `upload_error`.
//!
//! | Module | Concept |
//! |---|---|
//! | [`spec`] | a declaration: accept list, limits, the `config` object, the accept check |
//! | [`ops`] | upload ops and error codes / default messages |
//! | [`emission`] | per-store ordering, coalescing and the 10 Hz throttle of `progress` ops |
//! | [`entries`] | a page's entries and op queue; every state change of an entry |
//! | [`preflight`] | `allow_upload`'s per-entry checks and reply |
//! | [`events`] | parsing and running the four upload events |
//! | [`token`] | signed, expiring channel-mode tokens |
//! | [`storage`] | the per-server temp directory of uploaded bytes |
//! | [`context`] | what all pages share: signer, directory, chunk timeout, token clock |
//! | [`channel`] | the `musubi_upload:<ref>` sub-channel |
//!
//! Upload ops are per page: pages are shared by every subscriber (all sockets, both wire modes),
//! and each render cycle fans the same `upload_ops` out to all of them, like JSON ops. Every
//! initial envelope carries a `config` op per declared upload.

pub mod channel;
pub mod context;
pub mod emission;
pub mod entries;
pub mod events;
pub mod ops;
pub mod preflight;
pub mod spec;
pub mod storage;
pub mod token;

pub use context::UploadContext;
pub use entries::{PageUploads, UploadedFile};
pub use events::UploadRequest;
pub use spec::{Accept, UploadSpec};
pub use token::PageName;
