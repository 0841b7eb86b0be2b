//! The Leptos demo app: a counter with its log stream, a board of child-store cards with an async
//! `stats` field, a connection indicator with the reconnect countdown, an error banner, and
//! buttons that break the connection on purpose (served by the devserver with test endpoints), and
//! a profile with an avatar picker (`use_upload`: progress, entries, errors, the image served back).

#[cfg(target_arch = "wasm32")]
mod app;

#[cfg(target_arch = "wasm32")]
fn main() {
    leptos::mount::mount_to_body(app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("musubi-demo runs in the browser: `make demo` builds it with trunk and serves it.");
}
