//! # musubi-devserver
//!
//! A small Rust reference server for the `musubi-wasm` client's tests and demos. It speaks
//! Phoenix Channels v2 (PROTOCOL.md §1) at `/socket/websocket`, routes topics to a test channel
//! (`echo:*`) and to Musubi with demo stores (`musubi:*`): the 0.6.1 connection channel
//! (PROTOCOL.md §2) and/or the 0.12+ per-root channels (§6), as [`WireMode`] says, plus upload
//! sub-channels (`musubi_upload:*`, §3) and the upload routes under `/_uploads/`, and, when
//! enabled, exposes fault-injection endpoints under `/_test/`.
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
pub mod upload_routes;

pub use config::{ServerConfig, WireMode};
pub use server::app;

/// Serves the devserver on an already bound listener until the process ends (or an I/O error).
///
/// Accepted sockets get `TCP_NODELAY`: a command's reply and its patch are two small frames
/// written back to back, and with Nagle's algorithm the second would wait for the client's
/// (delayed) ACK of the first, about 40 ms.
pub async fn serve(listener: tokio::net::TcpListener, config: ServerConfig) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            eprintln!("devserver: cannot set TCP_NODELAY: {error}");
        }
    });
    axum::serve(listener, app(config)).await
}
