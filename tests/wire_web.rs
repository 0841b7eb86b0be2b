//! Browser tests (headless Chromium) of the two wire protocols against the real devserver: the
//! per-root mode (mount, command, patch, push events, drop, gap, crash of one root's channel), both
//! modes sharing a root, and auto mode against a per-root-only and a connection-only devserver.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;

use musubi_wasm::browser::{RootHandle, SyncClient};
use musubi_wasm::phoenix::SocketOptions;
use musubi_wasm::runtime::{MountSpec, RootStatus, RuntimeEvent, StoreId, WireMode};
use serde_json::{Value, json};
use wasm_bindgen_test::*;

mod browser_support;

use browser_support::{post, socket_url, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

/// Devservers started with `--wire per-root` and `--wire connection` (baked in at compile time);
/// the default one speaks both.
const PER_ROOT_ONLY: Option<&str> = option_env!("MUSUBI_TEST_SERVER_PER_ROOT");
const CONNECTION_ONLY: Option<&str> = option_env!("MUSUBI_TEST_SERVER_CONNECTION");

fn unique(name: &str) -> String {
    format!("{name}-{}", js_sys::Math::random().to_bits())
}

fn ws(server: &str) -> String {
    format!("{}/socket", server.replacen("http", "ws", 1))
}

async fn mount(client: &SyncClient, id: &str) -> RootHandle {
    client.mount(MountSpec { module: "Demo.CounterStore".into(), id: id.into(), params: json!({}) }).await.unwrap()
}

fn count(root: &RootHandle) -> Value {
    root.store(StoreId::root()).get("count").map(|node| node.to_json()).unwrap_or(Value::Null)
}

#[wasm_bindgen_test]
async fn per_root_mount_command_events_and_recovery_from_drop_gap_and_a_crashed_channel() {
    let client = SyncClient::with_wire(&socket_url(), SocketOptions::default(), WireMode::PerRoot);
    let id = unique("per-root");
    let root = mount(&client, &id).await;
    assert_eq!(client.wire(), Some(WireMode::PerRoot));
    let store = root.store(StoreId::root());
    store.command("increment", json!({"by": 2})).await.unwrap();
    wait_until("the patch", 3_000, || count(&root) == json!(2)).await;

    let toasts = Rc::new(RefCell::new(Vec::new()));
    let sink = toasts.clone();
    let _events = store.on_event("toast", move |payload| sink.borrow_mut().push(payload.to_json()));
    store.command("set_label", json!({"label": "Per root"})).await.unwrap();
    wait_until("the toast", 3_000, || toasts.borrow().len() == 1).await;

    post(&format!("/_test/gap?root_id={id}")).await;
    wait_until("recovered from the gap", 5_000, || root.status() == Some(RootStatus::Live) && count(&root) == json!(2)).await;

    let other = mount(&client, &unique("bystander")).await;
    post(&format!("/_test/crash?topic=musubi:connection:Demo.CounterStore:{id}")).await;
    wait_until("the crashed root back", 5_000, || root.status() == Some(RootStatus::Live)).await;
    assert_eq!(other.status(), Some(RootStatus::Live), "only that root's channel crashed");

    // The outage can be shorter than a poll: every status the runtime announces is recorded.
    let statuses = Rc::new(RefCell::new(Vec::new()));
    let (seen, watched) = (statuses.clone(), id.clone());
    let _statuses = client.on_event(move |event| {
        if let RuntimeEvent::RootStatus { root_id, status, .. } = event
            && **root_id == *watched
        {
            seen.borrow_mut().push(*status);
        }
    });
    post("/_test/drop?code=4000").await;
    wait_until("stale after the drop", 3_000, || statuses.borrow().contains(&RootStatus::Stale)).await;
    wait_until("live after the drop", 5_000, || root.status() == Some(RootStatus::Live)).await;
    store.command("increment", json!({"by": 1})).await.unwrap();
    wait_until("a command after all that", 3_000, || count(&root) == json!(3)).await;
    root.unmount().await.unwrap();
    other.unmount().await.unwrap();
}

#[wasm_bindgen_test]
async fn both_wires_share_a_root_on_one_server() {
    let per_root = SyncClient::with_wire(&socket_url(), SocketOptions::default(), WireMode::PerRoot);
    let connection = SyncClient::with_wire(&socket_url(), SocketOptions::default(), WireMode::Connection);
    let id = unique("shared-wires");
    let a = mount(&per_root, &id).await;
    let b = mount(&connection, &id).await;
    b.store(StoreId::root()).command("increment", json!({"by": 5})).await.unwrap();
    wait_until("the per-root client sees it", 3_000, || count(&a) == json!(5)).await;
    a.store(StoreId::root()).command("increment", json!({"by": 1})).await.unwrap();
    wait_until("the connection client sees it", 3_000, || count(&b) == json!(6)).await;
}

/// A client on the default `Auto` wire against `server` settles on `expected` and works.
async fn auto_detects(server: Option<&str>, variable: &str, expected: WireMode, by: i64) {
    let Some(server) = server else { panic!("{variable} is not set (scripts/test.sh sets it)") };
    let client = SyncClient::connect(&ws(server), SocketOptions::default());
    let root = mount(&client, &unique("auto")).await;
    assert_eq!(client.wire(), Some(expected));
    root.store(StoreId::root()).command("increment", json!({"by": by})).await.unwrap();
    wait_until("the patch", 3_000, || count(&root) == json!(by)).await;
}

#[wasm_bindgen_test]
async fn auto_detects_a_per_root_only_server() {
    auto_detects(PER_ROOT_ONLY, "MUSUBI_TEST_SERVER_PER_ROOT", WireMode::PerRoot, 4).await;
}

#[wasm_bindgen_test]
async fn auto_detects_a_connection_only_server() {
    auto_detects(CONNECTION_ONLY, "MUSUBI_TEST_SERVER_CONNECTION", WireMode::Connection, 3).await;
}
