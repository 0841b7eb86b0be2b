//! The npm package's WebAssembly side: `#[wasm_bindgen]` exports used by the hand-written ESM
//! layer in `src/js/npm/` (`connect`, `Connection`, `Store`, `MusubiCommandError`).
//!
//! The exports here are internal (`RawConnection`, `rawStats`, `rawError`): they address mounts, stores,
//! upload handles and subscriptions by number so that the JS layer can hand out plain objects with bound functions
//! (`useSyncExternalStore(store.subscribe, store.snapshot)` works) and release everything
//! explicitly on `unsubscribe`, `unmount` and `disconnect`.
//!
//! Built only for `wasm32` with the `js` feature: `scripts/build-pkg.sh` runs
//! `wasm-pack build --mode no-install … -- --features js` for the `web` and `bundler` targets.

mod connection;
mod convert;
mod options;
mod stash;
mod stats;
mod upload;

pub use connection::{RawConnection, raw_error};
pub use stats::raw_stats;
