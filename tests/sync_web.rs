//! Browser tests (headless Chromium) of the Musubi runtime against the real devserver: mounts,
//! commands and patches, recovery from gaps and bad ops, self-healing after drops.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;

use musubi_wasm::browser::{RootHandle, SyncClient};
use musubi_wasm::phoenix::SocketOptions;
use musubi_wasm::runtime::{MountSpec, RootStatus, RuntimeEvent, StoreId, SyncError};
use serde_json::{Value, json};
use wasm_bindgen_test::*;

mod browser_support;

use browser_support::{post, socket_url, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

fn client() -> SyncClient {
    let options = SocketOptions { heartbeat_interval_ms: 300, ..SocketOptions::default() };
    SyncClient::connect(&socket_url(), options)
}

/// A root id unique to this page load, so tests never share server state by accident.
fn unique(name: &str) -> String {
    format!("{name}-{}", js_sys::Math::random().to_bits())
}

async fn mount(client: &SyncClient, module: &str, id: &str, params: Value) -> RootHandle {
    client.mount(MountSpec { module: module.into(), id: id.into(), params }).await.unwrap()
}

fn field(root: &RootHandle, store: StoreId, name: &str) -> Value {
    root.store(store).get(name).map(|node| node.to_json()).unwrap_or(Value::Null)
}

fn statuses(client: &SyncClient, root_id: &str) -> (Rc<RefCell<Vec<RootStatus>>>, musubi_wasm::browser::Subscription) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    let id = root_id.to_owned();
    let subscription = client.on_event(move |event| {
        if let RuntimeEvent::RootStatus { root_id, status, .. } = event
            && **root_id == *id
        {
            sink.borrow_mut().push(*status);
        }
    });
    (seen, subscription)
}

#[wasm_bindgen_test]
async fn counter_mounts_and_a_command_patches_the_replica() {
    let client = client();
    let id = unique("counter");
    let root = mount(&client, "Demo.CounterStore", &id, json!({"start": 5})).await;
    let store = root.store(StoreId::root());
    let first = store.snapshot().unwrap().to_json();
    assert_eq!(first["__musubi_store_id__"], json!([]));
    assert_eq!((first["count"].clone(), first["label"].clone(), first["log"].clone()), (json!(5), json!("Counter"), json!([])));
    let notified = Rc::new(RefCell::new(0));
    let counter = notified.clone();
    let _sub = store.subscribe(move || *counter.borrow_mut() += 1);
    let snapshot_before = store.snapshot().unwrap();
    assert!(store.snapshot().unwrap().same(&snapshot_before), "unchanged store: identical snapshot");
    store.command("increment", json!({"by": 2})).await.unwrap();
    wait_until("the patch", 3_000, || *notified.borrow() >= 1).await;
    let after = store.snapshot().unwrap().to_json();
    assert_eq!(after["count"], 7);
    assert_eq!(after["log"].as_array().map(Vec::len), Some(1));
    store.command("set_label", json!({"label": "Clicks"})).await.unwrap();
    wait_until("the label", 3_000, || field(&root, StoreId::root(), "label") == json!("Clicks")).await;
    root.unmount().await.unwrap();
    assert_eq!(root.status(), None);
    assert_eq!(store.command("increment", json!({})).await, Err(SyncError::NotConnected));
}

#[wasm_bindgen_test]
async fn command_errors_carry_the_reason_code() {
    let client = client();
    let root = mount(&client, "Demo.CounterStore", &unique("failing"), json!({})).await;
    let Err(SyncError::Command(error)) = root.store(StoreId::root()).command("fail", json!({})).await else { panic!("error expected") };
    assert_eq!(error.code.as_deref(), Some("demo failure"));
    let Err(SyncError::Command(unknown)) = root.store(StoreId::root()).command("nope", json!({})).await else { panic!("error expected") };
    assert_eq!(unknown.code.as_deref(), Some("unknown command"));
    let Err(SyncError::Command(store)) = root.store(StoreId::from(["ghost"])).command("x", json!({})).await else {
        panic!("error expected")
    };
    assert_eq!(store.code.as_deref(), Some("unknown store"));
    let refused = client.mount(MountSpec { module: "Demo.Nope".into(), id: unique("nope").into(), params: json!({}) }).await;
    assert!(matches!(refused, Err(SyncError::MountFailed(reply)) if reply["reason"] == "unknown root"));
}

#[wasm_bindgen_test]
async fn board_child_stores_and_async_stats() {
    let client = client();
    let root = mount(&client, "Demo.BoardStore", &unique("board"), json!({})).await;
    let board = root.store(StoreId::root());
    let reply = board.command("add_card", json!({"title": "First"})).await.unwrap();
    let card_id = reply["id"].as_str().map(str::to_owned).or_else(|| reply["id"].as_u64().map(|n| n.to_string())).unwrap();
    let card = StoreId::from(["cards".to_owned(), card_id.clone()].to_vec());
    wait_until("the card store", 3_000, || root.store_ids().contains(&card)).await;
    assert_eq!(field(&root, card.clone(), "title"), json!("First"));
    assert_eq!(field(&root, card.clone(), "done"), json!(false));
    root.store(card.clone()).command("rename", json!({"title": "Renamed"})).await.unwrap();
    root.store(card.clone()).command("toggle", json!({})).await.unwrap();
    wait_until("rename and toggle", 3_000, || field(&root, card.clone(), "done") == json!(true)).await;
    assert_eq!(field(&root, card.clone(), "title"), json!("Renamed"));
    let cards = board.snapshot().unwrap().to_json()["cards"].clone();
    let nested = cards.as_array().unwrap().iter().find(|c| c["__musubi_store_id__"] == json!(["cards", card_id])).cloned();
    assert_eq!(nested.map(|c| c["title"].clone()), Some(json!("Renamed")), "the root snapshot nests the card's snapshot");
    wait_until("stats ok", 3_000, || field(&root, StoreId::root(), "stats")["status"] == json!("ok")).await;
    assert_eq!(field(&root, StoreId::root(), "stats")["error"], Value::Null);
    board.command("remove_card", json!({"id": card_id})).await.unwrap();
    wait_until("the card is gone", 3_000, || !root.store_ids().contains(&card)).await;
    assert_eq!(root.store(card).snapshot().unwrap().to_json(), json!({"__musubi_store_id__": ["cards", card_id]}));
}

#[wasm_bindgen_test]
async fn two_sockets_share_one_counter() {
    let (a, b) = (client(), client());
    let id = unique("shared");
    let root_a = mount(&a, "Demo.CounterStore", &id, json!({})).await;
    let root_b = mount(&b, "Demo.CounterStore", &id, json!({})).await;
    root_a.store(StoreId::root()).command("increment", json!({"by": 3})).await.unwrap();
    wait_until("the other tab sees it", 3_000, || field(&root_b, StoreId::root(), "count") == json!(3)).await;
}

#[wasm_bindgen_test]
async fn a_version_gap_recovers_to_the_correct_state() {
    let client = client();
    let id = unique("gap");
    let root = mount(&client, "Demo.CounterStore", &id, json!({"start": 1})).await;
    let (seen, _sub) = statuses(&client, &id);
    root.store(StoreId::root()).command("increment", json!({})).await.unwrap();
    wait_until("count 2", 3_000, || field(&root, StoreId::root(), "count") == json!(2)).await;
    let sent = post(&format!("/_test/gap?root_id={id}")).await;
    assert_eq!(sent["sent"], 1);
    wait_until("recovered", 3_000, || seen.borrow().ends_with(&[RootStatus::Recovering, RootStatus::Live])).await;
    assert_eq!(field(&root, StoreId::root(), "count"), json!(2));
    root.store(StoreId::root()).command("increment", json!({})).await.unwrap();
    wait_until("count 3 after recovery", 3_000, || field(&root, StoreId::root(), "count") == json!(3)).await;
}

#[wasm_bindgen_test]
async fn a_bad_op_recovers_to_the_correct_state() {
    let client = client();
    let id = unique("corrupt");
    let root = mount(&client, "Demo.CounterStore", &id, json!({"start": 4})).await;
    let (seen, _sub) = statuses(&client, &id);
    post(&format!("/_test/corrupt?root_id={id}")).await;
    wait_until("recovered", 3_000, || seen.borrow().ends_with(&[RootStatus::Recovering, RootStatus::Live])).await;
    assert_eq!(field(&root, StoreId::root(), "count"), json!(4));
    assert_eq!(root.status(), Some(RootStatus::Live));
}

#[wasm_bindgen_test]
async fn a_drop_keeps_the_stale_snapshot_visible_then_remounts() {
    let client = client();
    let id = unique("drop");
    let root = mount(&client, "Demo.CounterStore", &id, json!({"start": 9})).await;
    let (seen, _sub) = statuses(&client, &id);
    let store = root.store(StoreId::root());
    let notified = Rc::new(RefCell::new(0));
    let counter = notified.clone();
    let _changes = store.subscribe(move || *counter.borrow_mut() += 1);
    post("/_test/pause?ms=600").await;
    post("/_test/drop?code=4010").await;
    wait_until("stale", 2_000, || root.status() == Some(RootStatus::Stale)).await;
    assert_eq!(field(&root, StoreId::root(), "count"), json!(9), "the last good state stays readable");
    assert_eq!(store.command("increment", json!({})).await, Err(SyncError::NotConnected));
    wait_until("live again", 5_000, || root.status() == Some(RootStatus::Live)).await;
    assert_eq!(*seen.borrow(), vec![RootStatus::Stale, RootStatus::Live]);
    assert_eq!(*notified.borrow(), 2, "subscribers notified once going stale and once at the swap");
    store.command("increment", json!({})).await.unwrap();
    wait_until("count 10", 3_000, || field(&root, StoreId::root(), "count") == json!(10)).await;
}

#[wasm_bindgen_test]
async fn push_events_reach_the_stores_listeners_once_after_their_state() {
    let client = client();
    let id = unique("events");
    let root = mount(&client, "Demo.CounterStore", &id, json!({})).await;
    let store = root.store(StoreId::root());
    let seen: Rc<RefCell<Vec<(Value, Value)>>> = Rc::default();
    let (sink, reader) = (seen.clone(), store.clone());
    let subscription = store.on_event("toast", move |payload| {
        let label = reader.get("label").map(|node| node.to_json()).unwrap_or(Value::Null);
        sink.borrow_mut().push((payload.to_json(), label));
    });
    let _other = store.on_event("something-else", |_| panic!("only toasts were pushed"));
    store.command("set_label", json!({"label": "Evented"})).await.unwrap();
    wait_until("the toast", 3_000, || !seen.borrow().is_empty()).await;
    assert_eq!(*seen.borrow(), vec![(json!({"text": "Label set to \u{201c}Evented\u{201d}"}), json!("Evented"))]);
    drop(subscription);
    store.command("set_label", json!({"label": "Again"})).await.unwrap();
    wait_until("the label", 3_000, || field(&root, StoreId::root(), "label") == json!("Again")).await;
    assert_eq!(seen.borrow().len(), 1, "no listener after the subscription was dropped");
    root.unmount().await.unwrap();
}

/// Subscribes to `store` when dropped: code that runs while a listener is being removed.
struct SubscribesOnDrop(musubi_wasm::browser::StoreHandle, Rc<RefCell<Option<musubi_wasm::browser::Subscription>>>);

impl Drop for SubscribesOnDrop {
    fn drop(&mut self) {
        *self.1.borrow_mut() = Some(self.0.subscribe(|| {}));
    }
}

#[wasm_bindgen_test]
async fn a_listener_whose_drop_subscribes_again_is_removed_without_a_panic() {
    let client = client();
    let id = unique("drop-subscribes");
    let root = mount(&client, "Demo.CounterStore", &id, json!({})).await;
    let store = root.store(StoreId::root());
    let resubscribed = Rc::new(RefCell::new(None));
    let guard = SubscribesOnDrop(store.clone(), resubscribed.clone());
    let first = store.subscribe(move || {
        let _ = &guard;
    });
    drop(first);
    assert!(resubscribed.borrow().is_some(), "the listener's drop ran and subscribed");
    let notified = Rc::new(RefCell::new(0));
    let counter = notified.clone();
    let _sub = store.subscribe(move || *counter.borrow_mut() += 1);
    store.command("increment", json!({"by": 1})).await.unwrap();
    wait_until("the patch", 3_000, || *notified.borrow() >= 1).await;
    root.unmount().await.unwrap();
}

#[wasm_bindgen_test]
async fn with_the_outbox_a_command_during_a_drop_waits_and_is_applied_once() {
    let reconnect = musubi_wasm::phoenix::backoff::Backoff::table(vec![200], 200);
    let client = SyncClient::connect(&socket_url(), SocketOptions { reconnect, ..SocketOptions::default() });
    client.set_outbox(Some(musubi_wasm::runtime::OutboxConfig::default()));
    let id = unique("outbox");
    let root = mount(&client, "Demo.CounterStore", &id, json!({})).await;
    let store = root.store(StoreId::root());
    let before = field(&root, StoreId::root(), "count");
    post("/_test/drop?code=1011").await;
    wait_until("stale", 3_000, || root.status() != Some(RootStatus::Live)).await;
    let reply = store.command("increment", json!({"by": 1}));
    assert_eq!(store.queued(), 1, "counted as soon as it is dispatched");
    assert_eq!(client.roots(musubi_wasm::runtime::DEFAULT_TOPIC)[0].queued, 1);
    assert_eq!(reply.await, Ok(json!({})));
    wait_until("the patch", 5_000, || field(&root, StoreId::root(), "count") == json!(before.as_i64().unwrap() + 1)).await;
    assert_eq!(store.queued(), 0);
}
