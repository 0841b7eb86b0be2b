//! A durable per-view stash: small UI state (a draft, a filter) kept per view in synchronous
//! storage (`localStorage` in the browser), coherent across the tabs of one origin. Sans-IO like
//! the runtime: [`StashCore`] runs over any [`StashStorage`] and takes the time as a value; the
//! browser's `Stash`, the npm package's `openStash` and the Leptos `use_stash` drive it.
//!
//! Semantics (after `DurableStash.Session`):
//! - one slice per view: `{vsn, data}`; [`StashCore::entries`] shows the data only under the
//!   stash's own vsn (`{}` when never stashed or stashed under another one), while
//!   [`StashCore::fetch_view`] shows whatever is stored, for migrations;
//! - [`StashCore::merge`] is last-write-wins per key; a merge under another vsn replaces the slice
//!   wholesale, so old- and new-shape keys never mix; [`StashCore::drop_keys`] ignores unknown
//!   keys; [`StashCore::reset`] empties the slice;
//! - every write reads the stored slice, joins it with what this instance knows, applies the
//!   change and writes it back before returning (read-modify-write at write time, never a stale
//!   whole copy);
//! - every key carries a stamp: a hybrid logical clock (wall-clock ms × 1000, always above every
//!   stamp the writer has read) and the writer's random id. The later stamp wins; two tabs writing
//!   one key in the same instant without seeing each other tie on the clock and the greater writer
//!   id wins — the same answer in every tab;
//! - two copies of a slice join without loss ([`StashCore::observe`], called for every change
//!   another tab made): when another tab's write was based on a copy that missed this one's keys
//!   (a race between two renderer processes), this instance writes them back at once. Dropped keys
//!   stay as small tombstones until the next vsn change or reset, so no stale copy revives them.
//!
//! Errors and fallbacks (every error leaves what is stored as it was):
//! - [`StashError::QuotaExceeded`]: the write did not fit; nothing changed, neither in storage nor
//!   in this instance;
//! - [`StashError::Corrupt`]: the stored text is not a stash slice (written by something else);
//!   reads show the view as never stashed, writes are refused until [`StashCore::reset`], which
//!   replaces it;
//! - [`StashError::Unavailable`]: no storage (disabled, blocked); the browser layer offers an
//!   in-memory stash for the page's life instead.
//!
//! ```
//! use musubi_wasm::stash::{MemoryStorage, StashCore};
//! let storage = MemoryStorage::new();
//! let mut tab = StashCore::new(storage.clone(), "My.View", 1, "tab-a")?;
//! tab.merge_json(r#"{"filter":"open","page":2}"#, 1_000)?;
//! let mut other = StashCore::new(storage, "My.View", 1, "tab-b")?;
//! assert_eq!(other.get("filter").and_then(|value| value.as_str()), Some("open"));
//! other.drop_keys(&["page".to_owned(), "unknown".to_owned()], 2_000)?;
//! assert_eq!(other.data_text(), r#"{"filter":"open"}"#);
//! # Ok::<(), musubi_wasm::stash::StashError>(())
//! ```

mod instance;
mod slice;
mod storage;

#[cfg(test)]
mod stash_tests;

pub use instance::{MAX_VALUE_DEPTH, StashCore};
pub use storage::{MemoryStorage, StashStorage};

/// What a view has stored, whatever its vsn (`fetch_view`): for migrating an older shape.
///
/// ```
/// use musubi_wasm::stash::StashedView;
/// let stored = StashedView { vsn: 1, data: serde_json::Map::new() };
/// assert!(stored.data.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StashedView {
    /// The vsn its writer declared.
    pub vsn: u32,
    /// Its keys and values.
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// The storage key of a view's slice (`localStorage["musubi-stash:" + view]`).
///
/// ```
/// assert_eq!(musubi_wasm::stash::storage_key("My.View"), "musubi-stash:My.View");
/// ```
pub fn storage_key(view: &str) -> String {
    format!("{KEY_PREFIX}{view}")
}

/// The prefix of every stash's storage key.
pub const KEY_PREFIX: &str = "musubi-stash:";

/// Why a stash call failed. Every failure leaves the stored value as it was.
///
/// ```
/// use musubi_wasm::stash::StashError;
/// assert_eq!(StashError::QuotaExceeded.kind(), "quota_exceeded");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StashError {
    /// The write does not fit in the storage quota; nothing changed.
    #[error("the stash does not fit in the storage quota")]
    QuotaExceeded,
    /// The stored slice is not a stash (written by something else): reads show it as never
    /// stashed and writes are refused until `reset()` replaces it.
    #[error("the stored stash is corrupt; reset() replaces it")]
    Corrupt,
    /// There is no storage (disabled, or blocked for this page).
    #[error("storage is unavailable: {message}")]
    Unavailable {
        /// What the browser said.
        message: String,
    },
    /// A value is not JSON (e.g. a cycle, or a number JSON cannot hold).
    #[error("not a JSON value: {message}")]
    InvalidValue {
        /// Why.
        message: String,
    },
    /// Any other storage failure.
    #[error("storage failed: {message}")]
    Storage {
        /// What the storage said.
        message: String,
    },
}

impl StashError {
    /// A stable name for the error (`error.kind` in JS): `quota_exceeded`, `corrupt`,
    /// `unavailable`, `invalid_value` or `storage_failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            StashError::QuotaExceeded => "quota_exceeded",
            StashError::Corrupt => "corrupt",
            StashError::Unavailable { .. } => "unavailable",
            StashError::InvalidValue { .. } => "invalid_value",
            StashError::Storage { .. } => "storage_failed",
        }
    }
}
