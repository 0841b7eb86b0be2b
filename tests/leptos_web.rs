//! Browser tests (headless Chromium) of the Leptos hooks against the real devserver: mount,
//! update, streams, commands, errors into `last_error`, deserialization failures, reconnect
//! (ready_state transitions, countdown, remount), close/open and `auto_connect=false`, and
//! uploads through `use_upload` (a `Demo.ProfileStore` avatar: success, refusal, before the
//! mount, after a reconnect).
#![cfg(all(target_arch = "wasm32", feature = "leptos"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::RefCell;
use std::rc::Rc;

use leptos::prelude::*;
use musubi_wasm::leptos::{
    CommandHandle, ConnectionReadyState, RootHandle, SyncConnection, SyncContext, SyncError, UploadStatus, UseUpload, default_options,
    provide_sync_context, use_command, use_event, use_root, use_store, use_stream, use_sync_connection, use_upload,
};
use musubi_wasm::phoenix::backoff::Backoff;
use musubi_wasm::runtime::{RootStatus, StoreId};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen_test::*;

mod browser_support;

use browser_support::{file, file_list, get_bytes, post, sleep, socket_url, wait_until};

wasm_bindgen_test_configure!(run_in_browser);

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Counter {
    count: i64,
    label: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Entry {
    text: String,
}

/// A type the counter's snapshot does not fit.
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct NotACounter {
    missing_field: u32,
}

/// Handles created inside a mounted component, for the test to drive and read.
#[derive(Clone)]
struct Probe {
    context: SyncContext,
    connection: SyncConnection,
    root: RootHandle,
    counter: Signal<Option<Counter>>,
    log: Signal<Vec<Entry>>,
    increment: CommandHandle,
    fail: CommandHandle,
    set_label: CommandHandle,
    /// The last `toast` event, and the label the store showed when each toast arrived.
    toast: Signal<Option<Toast>>,
    labels_at_toast: Rc<RefCell<Vec<String>>>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Toast {
    text: String,
}

fn unique(name: &str) -> String {
    format!("{name}-{}", js_sys::Math::random().to_bits())
}

/// Provides the tests' sync context (fast reconnects) and its connection signals.
fn provide_test_connection(auto_connect: bool) -> (SyncContext, SyncConnection) {
    let options = default_options().with_reconnect(Backoff::exponential(400, 2_000).with_jitter(0.1));
    let context = provide_sync_context(&socket_url(), options, None, auto_connect, musubi_wasm::runtime::WireMode::Auto);
    (context, use_sync_connection())
}

/// Mounts a component that creates the connection and the hooks; dropping the handle cleans up.
fn mount_probe(auto_connect: bool, root_id: &str, start: i64) -> (impl Drop + use<>, Probe) {
    let slot: Rc<RefCell<Option<Probe>>> = Rc::default();
    let sink = slot.clone();
    let root_id = root_id.to_owned();
    let parent = document().body().unwrap();
    let handle = leptos::mount::mount_to(parent, move || {
        let (context, connection) = provide_test_connection(auto_connect);
        let root = use_root("Demo.CounterStore", root_id, json!({"start": start}));
        let counter = use_store::<Counter>(&root, StoreId::root());
        let labels_at_toast: Rc<RefCell<Vec<String>>> = Rc::default();
        let seen = labels_at_toast.clone();
        let toast = use_event::<Toast>(&root, StoreId::root(), "toast", move |_| {
            seen.borrow_mut().push(counter.get_untracked().map(|c| c.label).unwrap_or_default());
        });
        let probe = Probe {
            context,
            connection,
            root,
            counter,
            log: use_stream::<Entry>(&root, StoreId::root(), "log"),
            increment: use_command(&root, StoreId::root(), "increment"),
            fail: use_command(&root, StoreId::root(), "fail"),
            set_label: use_command(&root, StoreId::root(), "set_label"),
            toast,
            labels_at_toast,
        };
        *sink.borrow_mut() = Some(probe);
        view! { <p>"probe"</p> }
    });
    let probe = slot.borrow().clone().unwrap();
    (handle, probe)
}

fn count(probe: &Probe) -> Option<i64> {
    probe.counter.get_untracked().map(|counter| counter.count)
}

#[wasm_bindgen_test]
async fn a_root_mounts_and_a_command_updates_the_store_and_its_stream() {
    let (_mounted, probe) = mount_probe(true, &unique("leptos-counter"), 5);
    wait_until("the initial state", 5_000, || count(&probe) == Some(5)).await;
    assert_eq!(probe.connection.ready_state.get_untracked(), ConnectionReadyState::Open);
    assert!(probe.root.status.get_untracked() == Some(RootStatus::Live));
    assert_eq!(probe.counter.get_untracked().unwrap().label, "Counter");
    assert!(probe.log.get_untracked().is_empty());
    probe.increment.dispatch(json!({"by": 2}));
    assert!(probe.increment.pending.get_untracked(), "pending until the reply");
    wait_until("the patch", 5_000, || count(&probe) == Some(7)).await;
    assert!(!probe.increment.pending.get_untracked());
    assert_eq!(probe.increment.value.get_untracked(), Some(json!({})));
    wait_until("the log entry", 3_000, || probe.log.get_untracked().len() == 1).await;
    assert_eq!(probe.log.get_untracked()[0].text, "+2");
    assert_eq!(probe.context.last_error.get_untracked(), None);
}

#[wasm_bindgen_test]
async fn failed_commands_and_bad_types_go_to_last_error_and_keep_the_last_good_value() {
    let (_mounted, probe) = mount_probe(true, &unique("leptos-errors"), 1);
    wait_until("the initial state", 5_000, || count(&probe) == Some(1)).await;
    probe.fail.dispatch(json!({}));
    wait_until("the command error", 5_000, || probe.fail.error.get_untracked().is_some()).await;
    let expected =
        SyncError::CommandFailed { command: "fail".into(), code: Some("demo failure".into()), reply: json!({"reason": "demo failure"}) };
    assert_eq!(probe.fail.error.get_untracked(), Some(expected.clone()));
    assert_eq!(probe.context.last_error.get_untracked(), Some(expected));
    assert_eq!(probe.context.last_error.get_untracked().unwrap().to_string(), "command \"fail\" failed: demo failure");
    probe.context.clear_error();

    // A store read as the wrong type reports, and the good reader is unaffected.
    let owner = Owner::new();
    let wrong = owner.with(|| use_store::<NotACounter>(&probe.root, StoreId::root()));
    wait_until("the deserialization error", 5_000, || probe.context.last_error.get_untracked().is_some()).await;
    assert!(
        matches!(probe.context.last_error.get_untracked(), Some(SyncError::DeserializationFailed { ref store, .. }) if store == "[]"),
        "{:?}",
        probe.context.last_error.get_untracked()
    );
    assert_eq!(wrong.get_untracked(), None, "no good value yet");
    assert_eq!(count(&probe), Some(1));
    drop(owner);
}

#[wasm_bindgen_test]
async fn a_drop_goes_reconnecting_with_a_countdown_then_open_and_the_root_remounts() {
    let (_mounted, probe) = mount_probe(true, &unique("leptos-drop"), 3);
    wait_until("the initial state", 5_000, || count(&probe) == Some(3)).await;
    post("/_test/drop?code=4000").await;
    wait_until("reconnecting", 3_000, || probe.connection.ready_state.get_untracked() == ConnectionReadyState::Reconnecting).await;
    wait_until("a countdown", 2_000, || probe.connection.next_retry_in.get_untracked().is_some()).await;
    assert!(probe.connection.reconnect_attempt.get_untracked() >= 1);
    assert!(stale(&probe.root), "stale during the outage");
    assert_eq!(count(&probe), Some(3), "the last good value stays");
    assert!(matches!(probe.context.last_error.get_untracked(), Some(SyncError::WebSocketError { .. })));
    wait_until("open again", 5_000, || probe.connection.ready_state.get_untracked() == ConnectionReadyState::Open).await;
    wait_until("remounted", 5_000, || probe.root.status.get_untracked() == Some(RootStatus::Live)).await;
    assert_eq!(probe.connection.reconnect_attempt.get_untracked(), 0);
    assert_eq!(probe.connection.next_retry_in.get_untracked(), None);
    probe.increment.dispatch(json!({}));
    wait_until("a command after the remount", 5_000, || count(&probe) == Some(4)).await;
}

#[wasm_bindgen_test]
async fn close_stops_retrying_and_open_reconnects_and_remounts() {
    let (_mounted, probe) = mount_probe(true, &unique("leptos-close"), 8);
    wait_until("the initial state", 5_000, || count(&probe) == Some(8)).await;
    (probe.connection.close)();
    wait_until("closed", 2_000, || probe.connection.ready_state.get_untracked() == ConnectionReadyState::Closed).await;
    sleep(1_200).await;
    assert_eq!(probe.connection.ready_state.get_untracked(), ConnectionReadyState::Closed, "no retry after close()");
    assert_eq!(probe.connection.next_retry_in.get_untracked(), None);
    assert_eq!(count(&probe), Some(8), "still readable");
    (probe.connection.open)();
    wait_until("open", 5_000, || probe.connection.ready_state.get_untracked() == ConnectionReadyState::Open).await;
    wait_until("remounted", 5_000, || probe.root.status.get_untracked() == Some(RootStatus::Live)).await;
    probe.increment.dispatch(json!({}));
    wait_until("a command after open()", 5_000, || count(&probe) == Some(9)).await;
}

#[wasm_bindgen_test]
async fn without_auto_connect_nothing_happens_until_open() {
    let (_mounted, probe) = mount_probe(false, &unique("leptos-manual"), 2);
    sleep(500).await;
    assert_eq!(probe.connection.ready_state.get_untracked(), ConnectionReadyState::Closed);
    assert_eq!(count(&probe), None, "not mounted before open()");
    (probe.connection.open)();
    wait_until("the initial state after open()", 5_000, || count(&probe) == Some(2)).await;
    assert_eq!(probe.connection.ready_state.get_untracked(), ConnectionReadyState::Open);
}

fn stale(root: &RootHandle) -> bool {
    root.status.get_untracked().is_some_and(RootStatus::is_stale)
}

#[wasm_bindgen_test]
async fn use_event_delivers_push_events_after_their_state() {
    let (_mounted, probe) = mount_probe(true, &unique("leptos-event"), 0);
    wait_until("the initial state", 5_000, || count(&probe) == Some(0)).await;
    assert_eq!(probe.toast.get_untracked(), None);
    probe.set_label.dispatch(json!({"label": "Renamed"}));
    wait_until("the toast", 5_000, || probe.toast.get_untracked().is_some()).await;
    assert_eq!(probe.toast.get_untracked().unwrap().text, "Label set to \u{201c}Renamed\u{201d}");
    assert_eq!(*probe.labels_at_toast.borrow(), vec!["Renamed".to_owned()], "once, with the new state already visible");
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Profile {
    avatar_url: Option<String>,
}

/// A profile root with its avatar upload, created inside a mounted component.
#[derive(Clone)]
struct UploadProbe {
    context: SyncContext,
    connection: SyncConnection,
    root: RootHandle,
    profile: Signal<Option<Profile>>,
    avatar: UseUpload,
    /// Every (status, progress) the view signal showed, in order.
    seen: Rc<RefCell<Vec<(UploadStatus, u64)>>>,
}

fn mount_profile(auto_connect: bool, root_id: &str) -> (impl Drop + use<>, UploadProbe) {
    let slot: Rc<RefCell<Option<UploadProbe>>> = Rc::default();
    let sink = slot.clone();
    let root_id = root_id.to_owned();
    let parent = document().body().unwrap();
    let handle = leptos::mount::mount_to(parent, move || {
        let (context, connection) = provide_test_connection(auto_connect);
        let root = use_root("Demo.ProfileStore", root_id, json!({}));
        let avatar = use_upload(&root, StoreId::root(), "avatar");
        let seen: Rc<RefCell<Vec<(UploadStatus, u64)>>> = Rc::default();
        let log = seen.clone();
        Effect::new(move || log.borrow_mut().push(avatar.view.with(|view| (view.status, view.progress))));
        let probe = UploadProbe { context, connection, root, profile: use_store::<Profile>(&root, StoreId::root()), avatar, seen };
        *sink.borrow_mut() = Some(probe);
        view! { <p>"upload probe"</p> }
    });
    let probe = slot.borrow().clone().unwrap();
    (handle, probe)
}

/// `len` bytes that are not all alike.
fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|index| (index % 251) as u8).collect()
}

fn live(probe: &UploadProbe) -> bool {
    probe.root.status.get_untracked() == Some(RootStatus::Live)
}

/// Uploads `name` (`len` bytes) as the avatar and checks the view, the store's `avatar_url` and
/// the served bytes.
async fn upload_avatar(probe: &UploadProbe, name: &str, len: usize) {
    let content = bytes(len);
    probe.seen.borrow_mut().clear();
    probe.avatar.select(&file_list(&[file(name, &content, "image/png")]));
    probe.avatar.start();
    // The handle's status is the client's (every byte acknowledged); the entry's is the server's,
    // which can come a little later (on the connection channel, not the upload's).
    wait_until("success", 10_000, || {
        probe.avatar.status.get_untracked() == UploadStatus::Success
            && probe.avatar.entries.get_untracked().iter().all(|entry| entry.status == "success")
    })
    .await;
    let entries = probe.avatar.entries.get_untracked();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!((entry.client_name.as_str(), entry.client_size, entry.status.as_str()), (name, len as u64, "success"));
    assert_eq!((entry.progress, entry.bytes_sent), (100.0, len as u64));
    assert!(entry.errors.is_empty(), "{:?}", entry.errors);
    assert_eq!(probe.avatar.progress.get_untracked(), 100);
    assert!(!probe.avatar.is_uploading.get_untracked());
    assert!(probe.avatar.errors.get_untracked().is_empty());
    assert_eq!(probe.avatar.error.get_untracked(), None);

    // The signal went through `uploading` (with progress below 100) before `success`.
    let seen = probe.seen.borrow().clone();
    let uploading = seen.iter().position(|(status, _)| *status == UploadStatus::Uploading).unwrap_or_else(|| panic!("{seen:?}"));
    let success = seen.iter().position(|(status, _)| *status == UploadStatus::Success).unwrap();
    assert!(uploading < success, "{seen:?}");
    assert!(seen[uploading].1 < 100, "{seen:?}");
    assert_eq!(seen.last(), Some(&(UploadStatus::Success, 100)));

    let url = format!("/_uploads/{}", entry.entry_ref);
    wait_until("avatar_url", 5_000, || probe.profile.get_untracked().and_then(|profile| profile.avatar_url) == Some(url.clone())).await;
    assert_eq!(get_bytes(&url).await, content, "the server keeps the file");
}

#[wasm_bindgen_test]
async fn use_upload_sends_an_avatar_and_its_url_appears_in_the_store() {
    let (_mounted, probe) = mount_profile(true, &unique("leptos-profile"));
    wait_until("the profile", 5_000, || probe.profile.get_untracked().is_some()).await;
    assert_eq!(probe.profile.get_untracked().unwrap().avatar_url, None);
    assert_eq!(probe.avatar.status.get_untracked(), UploadStatus::Idle);
    assert_eq!(probe.avatar.view.with_untracked(|view| view.config.max_entries), 2, "the server's config");
    // 200,000 bytes: four 64,000-byte chunks.
    upload_avatar(&probe, "me.png", 200_000).await;

    probe.avatar.reset();
    wait_until("idle after reset", 5_000, || probe.avatar.status.get_untracked() == UploadStatus::Idle).await;
    assert!(probe.avatar.entries.get_untracked().is_empty());
    assert_eq!(probe.avatar.progress.get_untracked(), 0);
    assert_eq!(probe.context.last_error.get_untracked(), None);
}

#[wasm_bindgen_test]
async fn use_upload_shows_a_refused_gif_as_not_accepted() {
    let (_mounted, probe) = mount_profile(true, &unique("leptos-profile-gif"));
    wait_until("the profile", 5_000, || probe.profile.get_untracked().is_some()).await;
    probe.avatar.select(&file_list(&[file("me.gif", &bytes(1_000), "image/gif")]));
    probe.avatar.start();
    wait_until("the refusal", 5_000, || !probe.avatar.errors.get_untracked().is_empty()).await;
    let errors = probe.avatar.errors.get_untracked();
    assert_eq!(errors.iter().map(|error| error.code.as_str()).collect::<Vec<_>>(), vec!["not_accepted"], "{errors:?}");
    assert!(!errors[0].message.is_empty());
    assert_eq!(probe.avatar.status.get_untracked(), UploadStatus::Error);
    assert!(probe.avatar.entries.get_untracked().is_empty());
    sleep(300).await;
    assert_eq!(probe.avatar.error.get_untracked(), None, "a refusal is no call failure");
    assert_eq!(probe.profile.get_untracked().unwrap().avatar_url, None);
    assert_eq!(probe.context.last_error.get_untracked(), None);
}

#[wasm_bindgen_test]
async fn use_upload_is_idle_before_the_mount_and_works_once_it_is_there() {
    let (_mounted, probe) = mount_profile(false, &unique("leptos-profile-late"));
    sleep(300).await;
    assert_eq!(probe.avatar.view.get_untracked(), Default::default(), "idle");
    probe.avatar.start();
    assert_eq!(probe.avatar.error.get_untracked(), Some(SyncError::NotConnected));
    assert_eq!(probe.context.last_error.get_untracked(), Some(SyncError::NotConnected));
    probe.context.clear_error();
    (probe.connection.open)();
    wait_until("the profile", 5_000, || probe.profile.get_untracked().is_some()).await;
    upload_avatar(&probe, "late.jpg", 70_000).await;
    assert_eq!(probe.context.last_error.get_untracked(), None);
}

#[wasm_bindgen_test]
async fn use_upload_keeps_working_after_a_reconnect_remounts_the_root() {
    let (_mounted, probe) = mount_profile(true, &unique("leptos-profile-drop"));
    wait_until("live", 5_000, || live(&probe)).await;
    post("/_test/drop?code=4000").await;
    wait_until("reconnecting", 3_000, || probe.connection.ready_state.get_untracked() == ConnectionReadyState::Reconnecting).await;
    wait_until("live again", 8_000, || live(&probe)).await;
    upload_avatar(&probe, "again.png", 130_000).await;
}

#[wasm_bindgen_test]
async fn with_the_outbox_use_command_queues_during_a_drop_and_shows_it() {
    let id = unique("leptos-outbox");
    let (_handle, probe) = mount_probe(true, &id, 0);
    probe.context.set_outbox(Some(musubi_wasm::runtime::OutboxConfig::default()));
    wait_until("live", 5_000, || probe.counter.get_untracked().is_some() && !probe.root.is_stale()).await;
    post("/_test/drop?code=1011").await;
    wait_until("stale", 5_000, || probe.root.is_stale()).await;
    probe.increment.dispatch(json!({"by": 3}));
    wait_until("queued shows 1", 2_000, || probe.increment.queued.get_untracked() == 1).await;
    wait_until("applied after the reconnect", 10_000, || probe.counter.get_untracked().map(|c| c.count) == Some(3)).await;
    wait_until("queued back to 0", 2_000, || probe.increment.queued.get_untracked() == 0).await;
    assert_eq!(probe.increment.error.get_untracked(), None);
}
