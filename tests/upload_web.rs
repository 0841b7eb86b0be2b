//! Browser tests (headless Chromium) of uploads through the Rust front door
//! (`StoreHandle::upload`) against the real devserver: bytes arrive byte-identical over binary
//! chunk frames with a window, refusals become typed errors, a dropped connection ends the entry
//! clearly and `start` sends it again, and external uploaders are called and aborted.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;

use musubi_wasm::browser::{RootHandle, SyncClient, UploadHandle};
use musubi_wasm::phoenix::SocketOptions;
use musubi_wasm::runtime::upload_transfer::UploadStatus;
use musubi_wasm::runtime::{MountSpec, StoreId, WireMode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

mod browser_support;

use browser_support::{get, post, socket_url, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

fn unique(name: &str) -> String {
    format!("{name}-{}", js_sys::Math::random().to_bits())
}

async fn profile(client: &SyncClient) -> RootHandle {
    let spec = MountSpec { module: "Demo.ProfileStore".into(), id: unique("profile").into(), params: json!({}) };
    client.mount(spec).await.unwrap()
}

/// Deterministic bytes that differ at every offset of a chunk.
fn bytes(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 31 + i / 251) % 256) as u8).collect()
}

fn file(name: &str, content: &[u8], mime: &str) -> web_sys::File {
    let parts = js_sys::Array::new();
    parts.push(&js_sys::Uint8Array::from(content).into());
    let options = web_sys::FilePropertyBag::new();
    options.set_type(mime);
    web_sys::File::new_with_u8_array_sequence_and_options(&parts, name, &options).unwrap()
}

fn sha256(content: &[u8]) -> String {
    Sha256::digest(content).iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn server_sha256(entry_ref: &str) -> Value {
    get(&format!("/_test/upload_sha256?ref={entry_ref}")).await
}

/// Counts the handle's notifications.
fn notifications(handle: &UploadHandle) -> (Rc<RefCell<u32>>, musubi_wasm::browser::Subscription) {
    let count = Rc::new(RefCell::new(0));
    let sink = count.clone();
    (count, handle.subscribe(move || *sink.borrow_mut() += 1))
}

/// Starts `handle` in the background; returns its `start()` (as a promise) once the server
/// acknowledged some bytes.
async fn start_until_some_bytes_arrived(handle: &UploadHandle) -> js_sys::Promise {
    let started = handle.clone();
    let run = wasm_bindgen_futures::future_to_promise(async move {
        started.start().await.unwrap();
        Ok(JsValue::UNDEFINED)
    });
    wait_until("some bytes", 10_000, || handle.view().entries.first().is_some_and(|entry| entry.bytes_sent > 0)).await;
    run
}

#[wasm_bindgen_test]
async fn a_file_arrives_byte_identical_through_binary_chunks_on_the_connection_channel() {
    arrives_byte_identical(WireMode::Connection).await;
}

#[wasm_bindgen_test]
async fn a_file_arrives_byte_identical_through_binary_chunks_on_a_root_channel() {
    arrives_byte_identical(WireMode::PerRoot).await;
}

async fn arrives_byte_identical(wire: WireMode) {
    let client = SyncClient::with_wire(&socket_url(), SocketOptions::default(), wire);
    let root = profile(&client).await;
    assert_eq!(client.wire(), Some(wire));
    let avatar = root.store(StoreId::root()).upload("avatar");
    let (notified, _sub) = notifications(&avatar);
    let content = bytes(300_000);
    let entries = avatar.select(vec![file("me.png", &content, "image/png")]).await.unwrap();
    assert_eq!((entries.len(), entries[0].status.as_str(), entries[0].client_size), (1, "pending", 300_000));
    assert_eq!(avatar.view().config.chunk_size, 64_000, "config from the server");
    avatar.start().await.unwrap();
    let entry_ref = avatar.view().entries[0].entry_ref.to_string();
    wait_until("the complete op", 5_000, || avatar.view().entries.first().is_some_and(|entry| entry.status == "success")).await;
    let view = avatar.view();
    assert_eq!((view.status, view.progress, view.entries[0].bytes_sent), (UploadStatus::Success, 100, 300_000));
    assert!(*notified.borrow() >= 3, "the handle's subscribers hear every step");
    let stored = server_sha256(&entry_ref).await;
    assert_eq!((stored["size"].clone(), stored["sha256"].clone()), (json!(300_000), json!(sha256(&content))));
    wait_until("avatar_url", 3_000, || root.store(StoreId::root()).get("avatar_url").is_some_and(|url| url.as_str().is_some())).await;
    assert_eq!(client.held_files(), 0, "the file is released once it arrived");
}

#[wasm_bindgen_test]
async fn refusals_are_typed_errors_on_the_handle() {
    let client = SyncClient::connect(&socket_url(), SocketOptions::default());
    let root = profile(&client).await;
    let avatar = root.store(StoreId::root()).upload("avatar");
    let entries =
        avatar.select(vec![file("anim.gif", &bytes(10), "image/gif"), file("huge.png", &bytes(5_000_001), "image/png")]).await.unwrap();
    assert!(entries.is_empty());
    let view = avatar.view();
    let codes: Vec<&str> = view.errors.iter().map(|error| error.code.as_str()).collect();
    assert_eq!((view.status, codes), (UploadStatus::Error, vec!["not_accepted", "too_large"]));
    let unknown = root.store(StoreId::root()).upload("nope");
    let error = unknown.select(vec![file("a.png", &bytes(1), "image/png")]).await.unwrap_err();
    assert_eq!(error.kind(), "upload_refused");
    assert_eq!(client.held_files(), 0, "refused files are released");
}

#[wasm_bindgen_test]
async fn a_drop_mid_upload_ends_the_entry_clearly_and_start_sends_it_again() {
    let client = SyncClient::connect(&socket_url(), SocketOptions::default());
    client.set_upload_window(1);
    let root = profile(&client).await;
    let archive = root.store(StoreId::root()).upload("archive");
    let content = bytes(6_000_000);
    archive.select(vec![file("big.bin", &content, "application/octet-stream")]).await.unwrap();
    let run = start_until_some_bytes_arrived(&archive).await;
    post("/_test/drop?code=1011").await;
    wasm_bindgen_futures::JsFuture::from(run).await.unwrap();
    let view = archive.view();
    assert_eq!(view.status, UploadStatus::Error);
    assert_eq!(view.entries[0].errors.last().unwrap().code, "disconnected");
    wait_until("the root is live again", 10_000, || root.status() == Some(musubi_wasm::runtime::RootStatus::Live)).await;
    archive.start().await.unwrap();
    let view = archive.view();
    assert_eq!((view.status, view.entries.len()), (UploadStatus::Success, 1), "{view:?}");
    let stored = server_sha256(&view.entries[0].entry_ref).await;
    assert_eq!(stored["sha256"], json!(sha256(&content)));
}

#[wasm_bindgen_test]
async fn an_external_uploader_is_called_with_the_file_and_meta_and_reports_progress() {
    let client = SyncClient::connect(&socket_url(), SocketOptions::default());
    let calls = Rc::new(RefCell::new(Vec::new()));
    let seen = calls.clone();
    client.register_uploader("demo-http", move |upload| {
        seen.borrow_mut().push((upload.entry.entry_ref.to_string(), upload.file.name(), upload.meta.clone()));
        Box::pin(async move {
            upload.progress(33.0);
            upload.progress(100.0);
            Ok(())
        })
    });
    let root = profile(&client).await;
    let document = root.store(StoreId::root()).upload("document");
    document.select(vec![file("notes.txt", b"hello", "text/plain")]).await.unwrap();
    document.start().await.unwrap();
    let calls = calls.borrow().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].1, "notes.txt");
    assert_eq!(calls[0].2["url"], json!(format!("/_uploads/{}", calls[0].0)));
    wait_until("complete", 3_000, || document.view().entries.first().is_some_and(|entry| entry.status == "success")).await;
    assert_eq!(document.view().status, UploadStatus::Success);

    // A rejecting uploader: the server records the error.
    let failing = SyncClient::connect(&socket_url(), SocketOptions::default());
    failing.register_uploader("demo-http", |_upload| Box::pin(async { Err("PUT 500".to_owned()) }));
    let root = profile(&failing).await;
    let document = root.store(StoreId::root()).upload("document");
    document.select(vec![file("notes.txt", b"hello", "text/plain")]).await.unwrap();
    document.start().await.unwrap();
    wait_until("the error op", 3_000, || document.view().entries.first().is_some_and(|entry| !entry.errors.is_empty())).await;
    let view = document.view();
    assert_eq!((view.status, view.entries[0].errors[0].code.as_str()), (UploadStatus::Error, "external_failed"));
    assert_eq!(view.entries[0].errors[0].message, "PUT 500");

    // Nobody registered: the handle says so, nothing is pushed.
    let bare = SyncClient::connect(&socket_url(), SocketOptions::default());
    let root = profile(&bare).await;
    let document = root.store(StoreId::root()).upload("document");
    document.select(vec![file("notes.txt", b"hello", "text/plain")]).await.unwrap();
    document.start().await.unwrap();
    let view = document.view();
    assert_eq!(view.status, UploadStatus::Error);
    assert_eq!(view.errors[0].message, "No registered uploader for \"demo-http\"");
}

#[wasm_bindgen_test]
async fn cancel_removes_the_entry_on_the_server() {
    let client = SyncClient::connect(&socket_url(), SocketOptions::default());
    client.set_upload_window(1);
    let root = profile(&client).await;
    let archive = root.store(StoreId::root()).upload("archive");
    archive.select(vec![file("big.bin", &bytes(8_000_000), "application/octet-stream")]).await.unwrap();
    let run = start_until_some_bytes_arrived(&archive).await;
    let entry_ref = archive.view().entries[0].entry_ref.to_string();
    archive.cancel(Some(&entry_ref)).await.unwrap();
    wasm_bindgen_futures::JsFuture::from(run).await.unwrap();
    assert!(archive.view().entries.is_empty());
    assert_eq!(archive.view().status, UploadStatus::Cancelled);
    let on_server = get(&format!("/_test/uploads?root_id={}", root.id())).await;
    let refs: Vec<Value> =
        on_server.as_array().map(|entries| entries.iter().map(|entry| entry["ref"].clone()).collect()).unwrap_or_default();
    assert!(!refs.contains(&json!(entry_ref)), "the server dropped the entry: {on_server}");
    assert_eq!(client.held_files(), 0);
}
