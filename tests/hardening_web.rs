//! Browser tests (headless Chromium, debug wasm: the largest stack frames) of what a hostile
//! server or a broken configuration throws at the client: trees built to 5,000 levels through
//! valid patches, a deep initial envelope after a drop, sockets that can never be opened. The
//! module must stay alive, every status must be truthful and every call must settle.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;

use musubi_wasm::browser::{RootHandle, SyncClient};
use musubi_wasm::phoenix::SocketOptions;
use musubi_wasm::runtime::depth::{MAX_DEPTH, depth_of};
use musubi_wasm::runtime::status::ConnectionStatus;
use musubi_wasm::runtime::{DEFAULT_TOPIC, MountSpec, RootStatus, RuntimeEvent, StoreId, SyncError};
use serde_json::json;
use wasm_bindgen_test::*;

mod browser_support;

use browser_support::{post, socket_url, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

fn unique(name: &str) -> String {
    format!("{name}-{}", js_sys::Math::random().to_bits())
}

async fn mount(client: &SyncClient, id: &str) -> RootHandle {
    let spec = MountSpec { module: "Demo.CounterStore".into(), id: id.into(), params: json!({}) };
    client.mount(spec).await.unwrap()
}

fn tree_depth(client: &SyncClient, root: &RootHandle) -> usize {
    client
        .roots(DEFAULT_TOPIC)
        .iter()
        .find(|info| &*info.id == root.id())
        .map_or(0, |_| root.store(StoreId::root()).snapshot().map_or(0, |snapshot| depth_of(&snapshot)))
}

/// Every root status and connection status the client reports, in order.
fn watch(client: &SyncClient) -> (Rc<RefCell<Vec<String>>>, musubi_wasm::browser::Subscription) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let subscription = client.on_event(move |event| match event {
        RuntimeEvent::RootStatus { status, .. } => sink.borrow_mut().push(format!("root {}", status.as_str())),
        RuntimeEvent::Connection { from, info } if *from != info.status => {
            sink.borrow_mut().push(format!("connection {}", info.status.as_str()))
        }
        _ => {}
    });
    (seen, subscription)
}

#[wasm_bindgen_test]
async fn a_tree_at_the_limit_is_held_and_read() {
    let client = SyncClient::connect(&socket_url(), SocketOptions::default());
    let id = unique("deep-limit");
    let root = mount(&client, &id).await;
    // The root object plus 998 chain levels: one below the limit.
    let answer = post(&format!("/_test/deepen?root_id={id}&levels={}&step=100", MAX_DEPTH - 2)).await;
    assert_eq!(answer["sent"], 1);
    wait_until("the chain", 10_000, || tree_depth(&client, &root) == MAX_DEPTH - 1).await;
    assert_eq!(root.status(), Some(RootStatus::Live));
    let store = root.store(StoreId::root());
    let before = store.snapshot().unwrap();
    store.command("increment", json!({"by": 1})).await.unwrap();
    wait_until("the increment", 5_000, || store.get("count").is_some_and(|count| count.to_json() == json!(1))).await;
    let after = store.snapshot().unwrap();
    assert!(after.get("deep").zip(before.get("deep")).is_some_and(|(a, b)| a.same(b)), "the deep subtree kept its identity");
    root.unmount().await.unwrap();
}

#[wasm_bindgen_test]
async fn five_thousand_levels_through_valid_patches_then_a_deep_initial_envelope() {
    let client = SyncClient::connect(&socket_url(), SocketOptions::default());
    let (seen, _watching) = watch(&client);
    let id = unique("deep-hostile");
    let root = mount(&client, &id).await;
    let store = root.store(StoreId::root());

    // 50 envelopes of 100 levels: the one that crosses the limit is refused whole and the root
    // recovers (a fresh mount: the server's real state has no chain).
    let answer = post(&format!("/_test/deepen?root_id={id}&levels=5000&step=100")).await;
    assert_eq!(answer["envelopes"], 50);
    wait_until("the recovery", 10_000, || seen.borrow().iter().any(|s| s == "root recovering")).await;
    wait_until("live again", 10_000, || root.status() == Some(RootStatus::Live)).await;
    assert!(tree_depth(&client, &root) < MAX_DEPTH, "the refused envelope left nothing behind");
    assert_eq!(client.connection_info().status, ConnectionStatus::Open, "the socket was never in doubt");
    store.command("increment", json!({"by": 2})).await.unwrap();
    wait_until("a command after the recovery", 5_000, || store.get("count").is_some_and(|count| count.to_json() == json!(2))).await;

    // The next initial envelope is 5,000 levels deep: after a drop the remount fails the root,
    // visibly, with its last good state readable.
    post(&format!("/_test/deep_initial?root_id={id}&levels=5000")).await;
    post("/_test/drop?code=4000").await;
    wait_until("the root failed", 10_000, || root.status() == Some(RootStatus::Failed)).await;
    let info = client.roots(DEFAULT_TOPIC).into_iter().find(|info| &*info.id == id.as_str()).unwrap();
    assert!(info.reason.as_deref().is_some_and(|reason| reason.contains("deeper than 1000 levels")), "{info:?}");
    assert_eq!(store.get("count").map(|count| count.to_json()), Some(json!(2)), "the last good state stays readable");
    let refused = store.command("increment", json!({"by": 1})).await;
    assert_eq!(refused, Err(SyncError::NotConnected), "commands settle at once");
    wait_until("open again", 5_000, || client.connection_info().status == ConnectionStatus::Open).await;
    let statuses = seen.borrow().clone();
    let after_drop: Vec<&String> = statuses.iter().skip_while(|s| *s != "root stale").collect();
    assert!(after_drop.contains(&&"connection reconnecting".to_owned()), "{statuses:?}");
    assert_eq!(after_drop.last().map(|s| s.as_str()), Some("root failed"), "{statuses:?}");

    // Mounting it again starts over (the server's real state is shallow again).
    let again = mount(&client, &id).await;
    assert_eq!(again.status(), Some(RootStatus::Live));
    root.unmount().await.unwrap();
    again.unmount().await.unwrap();
}

#[wasm_bindgen_test]
async fn a_token_that_cannot_be_a_subprotocol_is_refused_before_any_socket() {
    let client = SyncClient::connect(&socket_url(), SocketOptions::default().with_auth_token("???"));
    let Err(SyncError::ConnectFailed(message)) = client.open(DEFAULT_TOPIC).await else { panic!("must fail") };
    assert!(message.contains("'/'") && message.contains("base64url"), "{message}");
    let info = client.connection_info();
    assert_eq!((info.status, info.next_retry_at), (ConnectionStatus::Closed, None));
}

#[wasm_bindgen_test]
async fn a_websocket_constructor_that_throws_closes_with_the_reason_and_never_retries() {
    // The browser refuses this URL in the WebSocket constructor (an unterminated IPv6 host).
    let client = SyncClient::connect("ws://[::1/socket", SocketOptions::default());
    let outcome = client.open(DEFAULT_TOPIC).await;
    let Err(SyncError::ConnectFailed(message)) = outcome else { panic!("{outcome:?}") };
    assert!(message.contains("refused to open a WebSocket"), "{message}");
    browser_support::sleep(500).await;
    let info = client.connection_info();
    assert_eq!((info.status, info.attempt, info.next_retry_at), (ConnectionStatus::Closed, 0, None));
}
