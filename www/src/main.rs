//! Demo page: a browser `Socket` joined to `echo:demo`, with ping, broadcast and fault buttons.

#[cfg(target_arch = "wasm32")]
mod app;

#[cfg(target_arch = "wasm32")]
fn main() {
    app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("musubi-demo runs in the browser: `make demo` builds it with trunk and serves it.");
}
