//! # musubi-devserver
//!
//! A small Rust reference server for the `musubi-wasm` client's tests and demos. It speaks
//! Phoenix Channels v2 (PROTOCOL.md §1) at `/socket/websocket`, routes topics to test channels
//! (`echo:*`), and, when enabled, exposes fault-injection endpoints under `/_test/`.
//!
//! The frame codec is the client crate's own ([`musubi_wasm::phoenix::frame`]), used in the
//! server direction, so both ends share one implementation of the wire format.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! musubi_devserver::serve(listener, musubi_devserver::ServerConfig::default()).await
//! # }
//! ```
#![warn(missing_docs)]

pub mod channels;
pub mod config;
pub mod connection;
pub mod hub;
pub mod server;
pub mod test_endpoints;

pub use config::ServerConfig;
pub use server::app;

/// Serves the devserver on an already bound listener until the process ends (or an I/O error).
pub async fn serve(listener: tokio::net::TcpListener, config: ServerConfig) -> std::io::Result<()> {
    axum::serve(listener, app(config)).await
}
