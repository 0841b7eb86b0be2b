//! # musubi-wasm
//!
//! A browser client, in Rust compiled to WebAssembly, for server-driven state: a Musubi server
//! (Phoenix/Elixir, or the Rust devserver in this repository) owns trees of state and pushes
//! JSON-Patch envelopes over a Phoenix Channels WebSocket; the browser keeps a live replica.
//!
//! Layers (see `ARCHITECTURE.md`):
//! - [`phoenix`] — Phoenix Channels v2, pure and host-tested (sans-IO);
//! - [`runtime`] — the Musubi runtime: roots, envelopes, patches, snapshots, commands (sans-IO);
//! - [`stash`] — a durable per-view stash of small UI state, coherent across tabs (sans-IO);
//! - `browser` — the thin WebSocket/timer driver and the Rust front door (wasm32 only);
//! - `js` — the npm package's `#[wasm_bindgen]` exports (wasm32 with the `js` feature);
//! - `leptos` — `SyncProvider` and hooks for Leptos 0.8 (wasm32 with the `leptos` feature).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]
#![warn(missing_docs)]

pub mod phoenix;
pub mod runtime;
pub mod stash;

#[cfg(test)]
pub(crate) mod test_clock;

#[cfg(target_arch = "wasm32")]
pub mod browser;

#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub mod js;

#[cfg(all(target_arch = "wasm32", feature = "leptos"))]
pub mod leptos;
