//! Leptos 0.8 integration: the server-driven replica as signals.
//!
//! - [`SyncProvider`] owns one connection (socket, reconnect backoff, roots) for its children;
//! - [`use_sync_connection`] shows and drives it (`ready_state`, `open`, `close`,
//!   `reconnect_attempt`, `next_retry_in`);
//! - [`use_sync_context`] gives `last_error`;
//! - [`use_root`], [`use_store`], [`use_stream`], [`use_command`] and [`use_event`] mount roots and read stores
//!   as typed Rust values, and send commands;
//! - [`use_upload`] drives a store's declared upload (select, start, cancel, reset) and shows its
//!   [`UploadView`] as signals;
//! - [`use_stash`] keeps a view's small UI state (a draft, a filter) durable in `localStorage`,
//!   shared live with other tabs.
//!
//! ```no_run
//! use leptos::prelude::*;
//! use musubi_wasm::leptos::{SyncProvider, use_command, use_root, use_store};
//! use musubi_wasm::runtime::StoreId;
//!
//! #[derive(Clone, PartialEq, serde::Deserialize)]
//! struct Counter { count: i64 }
//!
//! #[component]
//! fn CounterView() -> impl IntoView {
//!     let root = use_root("Demo.CounterStore", "counter", serde_json::json!({}));
//!     let counter = use_store::<Counter>(&root, StoreId::root());
//!     let increment = use_command(&root, StoreId::root(), "increment");
//!     view! {
//!         <button on:click=move |_| increment.dispatch(serde_json::json!({"by": 1}))>
//!             {move || counter.get().map(|c| c.count)}
//!         </button>
//!     }
//! }
//!
//! #[component]
//! fn App() -> impl IntoView {
//!     view! { <SyncProvider url="/socket"><CounterView/></SyncProvider> }
//! }
//! ```

mod connection;
mod context;
mod error;
mod event;
mod hooks;
mod stash;
mod upload;

pub use connection::{ConnectionReadyState, SyncConnection, use_sync_connection};
pub use context::{SyncContext, SyncProvider, default_options, provide_sync_context, use_sync_context};
pub use error::SyncError;
pub use event::use_event;
pub use hooks::{CommandHandle, RootHandle, use_command, use_root, use_store, use_stream};
pub use stash::{UseStash, use_stash};
pub use upload::{UseUpload, use_upload};

pub use crate::runtime::upload::UploadError;
pub use crate::runtime::upload_transfer::{EntryView, UploadStatus, UploadView};
