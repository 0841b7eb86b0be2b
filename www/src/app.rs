//! The demo's components. The counter and the board are shared with the plain-JS and React pages
//! (same ids); the profile shows an upload (an avatar picker).

use leptos::prelude::*;
use musubi_wasm::leptos::{
    ConnectionReadyState, EntryView, RootHandle, SyncProvider, UseUpload, use_command, use_event, use_root, use_stash, use_store,
    use_stream, use_sync_connection, use_sync_context, use_upload,
};
use musubi_wasm::runtime::{OutboxConfig, StoreId, WireMode};
use serde::Deserialize;
use serde_json::json;

const COUNTER: &str = "demo-counter";
const BOARD: &str = "demo-board";
const PROFILE: &str = "profile";

#[derive(Clone, PartialEq, Deserialize)]
struct Counter {
    count: i64,
    label: String,
}

#[derive(Clone, PartialEq, Deserialize)]
struct LogEntry {
    id: String,
    text: String,
}

#[derive(Clone, PartialEq, Deserialize)]
struct Board {
    cards: Vec<CardSummary>,
    stats: Async<Stats>,
}

#[derive(Clone, PartialEq, Deserialize)]
struct CardSummary {
    id: String,
}

#[derive(Clone, PartialEq, Deserialize)]
struct Card {
    title: String,
    done: bool,
}

#[derive(Clone, PartialEq, Deserialize)]
struct Async<T> {
    status: String,
    data: Option<T>,
}

#[derive(Clone, PartialEq, Deserialize)]
struct Stats {
    cards: u64,
}

/// The profile's fields the demo shows (its upload fields are read through `use_upload`).
#[derive(Clone, PartialEq, Deserialize)]
struct Profile {
    avatar_url: Option<String>,
    files: Vec<UploadedFile>,
}

#[derive(Clone, PartialEq, Deserialize)]
struct UploadedFile {
    upload: String,
    name: String,
    size: u64,
    url: String,
}

/// `?wire=connection|per-root` picks the wire protocol; by default it is detected.
fn wire_from_query() -> WireMode {
    let search = web_sys::window().and_then(|window| window.location().search().ok()).unwrap_or_default();
    search.trim_start_matches('?').split('&').find_map(|pair| pair.strip_prefix("wire=")).and_then(WireMode::parse).unwrap_or_default()
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    view! {
        // The outbox: clicks while the connection is down wait and go out once it is back.
        <SyncProvider url="/socket" wire=wire_from_query() outbox=OutboxConfig::default()>
            <h1>"musubi-wasm — live server state in Leptos"</h1>
            <p>
                "Two roots mounted from the devserver over Phoenix Channels, read as typed Rust structs. "
                "Open this page in two tabs (or next to the "<a href="/js/">"plain-JS"</a>" and "
                <a href="/react/">"React"</a>" pages): they share the same state. Break things with the buttons and watch it heal."
            </p>
            <ConnectionBar/>
            <ErrorBanner/>
            <div class="panels">
                <CounterPanel/>
                <BoardPanel/>
            </div>
            <ProfilePanel/>
            <NotesPanel/>
            <FaultButtons/>
        </SyncProvider>
    }
}

/// Green / yellow / red indicator, the reconnect countdown, and open / close controls.
#[component]
fn ConnectionBar() -> impl IntoView {
    let connection = use_sync_connection();
    let state = connection.ready_state;
    let color = move || match state.get() {
        ConnectionReadyState::Open => "green",
        ConnectionReadyState::Connecting | ConnectionReadyState::Reconnecting => "yellow",
        ConnectionReadyState::Closed => "red",
    };
    let label = move || format!("{:?}", state.get());
    let countdown = move || {
        connection.next_retry_in.get().map(|left| format!("retry {} in {:.1} s", connection.reconnect_attempt.get(), left.as_secs_f64()))
    };
    let (open, close) = (connection.open.clone(), connection.close.clone());
    view! {
        <div class="row">
            <span id="indicator" class=move || format!("indicator {}", color()) data-state=label></span>
            <strong id="ready-state">{label}</strong>
            <span id="countdown">{countdown}</span>
            <button id="open" on:click=move |_| open()>"Connect now"</button>
            <button id="close" on:click=move |_| close()>"Close"</button>
        </div>
    }
}

/// The last error, dismissible.
#[component]
fn ErrorBanner() -> impl IntoView {
    let context = use_sync_context();
    view! {
        <Show when=move || context.last_error.get().is_some()>
            <div id="error-banner" class="banner">
                <span id="error-text">{move || context.last_error.get().map(|error| error.to_string())}</span>
                <button id="dismiss" on:click=move |_| context.clear_error()>"Dismiss"</button>
            </div>
        </Show>
    }
}

fn panel_class(root: RootHandle) -> impl Fn() -> &'static str {
    move || if root.is_stale() { "panel stale" } else { "panel" }
}

fn root_status(root: RootHandle) -> impl Fn() -> String {
    move || root.status.get().map_or_else(|| "mounting".to_owned(), |status| status.as_str().to_owned())
}

/// A push event of the counter.
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct Toast {
    text: String,
}

/// The counter, its label and its log stream.
#[component]
fn CounterPanel() -> impl IntoView {
    let root = use_root("Demo.CounterStore", COUNTER, json!({}));
    let counter = use_store::<Counter>(&root, StoreId::root());
    let log = use_stream::<LogEntry>(&root, StoreId::root(), "log");
    let increment = use_command(&root, StoreId::root(), "increment");
    let set_label = use_command(&root, StoreId::root(), "set_label");
    let draft = RwSignal::new(String::new());
    // Push events (Musubi 0.13): a rename anywhere toasts here for four seconds.
    let toast = RwSignal::new(None::<String>);
    let shown = RwSignal::new(0u32);
    use_event::<Toast>(&root, StoreId::root(), "toast", move |event| {
        toast.set(Some(event.text));
        shown.update(|n| *n += 1);
        let this = shown.get_untracked();
        set_timeout(
            move || {
                if shown.get_untracked() == this {
                    toast.set(None)
                }
            },
            std::time::Duration::from_secs(4),
        );
    });
    view! {
        <Show when=move || toast.get().is_some()>
            <div id="toast" class="toast" role="status">{move || toast.get()}</div>
        </Show>
        <section id="counter" class=panel_class(root)>
            <h2><span id="label">{move || counter.get().map(|c| c.label)}</span>" "
                <small id=format!("status-{COUNTER}") class="status">{root_status(root)}</small></h2>
            <div class="row">
                <span id="count">{move || counter.get().map(|c| c.count)}</span>
                <button id="increment" on:click=move |_| increment.dispatch(json!({"by": 1}))>"+1"</button>
                <small>{move || increment.pending.get().then_some("sending…")}</small>
                <small class="waiting" data-testid="leptos-outbox-waiting">
                    {move || match increment.queued.get() {
                        0 => String::new(),
                        1 => "1 change waiting".to_owned(),
                        n => format!("{n} changes waiting"),
                    }}
                </small>
            </div>
            <div class="row">
                <input id="label-input" type="text" placeholder="New label" bind:value=draft/>
                <button id="set-label" on:click=move |_| set_label.dispatch(json!({"label": draft.get()}))>"Rename"</button>
            </div>
            <ul id="log">
                <For each=move || log.get() key=|entry| entry.id.clone() let:entry>
                    <li>{entry.text}</li>
                </For>
            </ul>
        </section>
    }
}

/// The board: cards are child stores, `stats` is an async field.
#[component]
fn BoardPanel() -> impl IntoView {
    let root = use_root("Demo.BoardStore", BOARD, json!({}));
    let board = use_store::<Board>(&root, StoreId::root());
    let add = use_command(&root, StoreId::root(), "add_card");
    let draft = RwSignal::new(String::new());
    let stats = move || {
        board.get().map(|board| match (board.stats.status.as_str(), board.stats.data) {
            ("ok", Some(stats)) => format!("{} cards", stats.cards),
            (status, _) => status.to_owned(),
        })
    };
    let ids = move || board.get().map(|board| board.cards.into_iter().map(|card| card.id).collect::<Vec<_>>()).unwrap_or_default();
    let submit = move || {
        let title = draft.get_untracked();
        if !title.trim().is_empty() {
            add.dispatch(json!({"title": title.trim()}));
            draft.set(String::new());
        }
    };
    view! {
        <section id="board" class=panel_class(root)>
            <h2>"Board "<small id="stats">{stats}</small>" "
                <small id=format!("status-{BOARD}") class="status">{root_status(root)}</small></h2>
            <div class="row">
                <input id="card-input" type="text" placeholder="New card" bind:value=draft
                    on:keydown=move |event| if event.key() == "Enter" { submit() }/>
                <button id="add-card" on:click=move |_| submit()>"Add"</button>
            </div>
            <ul id="cards">
                <For each=ids key=|id| id.clone() let:id>
                    <CardRow root=root id=id/>
                </For>
            </ul>
        </section>
    }
}

/// One card, read from its own child store and changed with its own commands.
#[component]
fn CardRow(root: RootHandle, id: String) -> impl IntoView {
    let store_id = StoreId::from(["cards", id.as_str()]);
    let card = use_store::<Card>(&root, store_id.clone());
    let toggle = use_command(&root, store_id, "toggle");
    let remove = use_command(&root, StoreId::root(), "remove_card");
    let done = move || card.get().is_some_and(|card| card.done);
    let removed = id.clone();
    view! {
        <li data-id=id class=move || if done() { "done" } else { "" }>
            <input type="checkbox" class="toggle" prop:checked=done on:change=move |_| toggle.dispatch(json!({}))/>
            <span class="title">{move || card.get().map(|card| card.title)}</span>
            <button class="remove" on:click=move |_| remove.dispatch(json!({"id": removed.clone()}))>"×"</button>
        </li>
    }
}

/// The profile's avatar: pick a `.png` or `.jpg`, watch it upload in 64 kB chunks, see it served
/// back by the devserver.
#[component]
fn ProfilePanel() -> impl IntoView {
    let root = use_root("Demo.ProfileStore", PROFILE, json!({}));
    let profile = use_store::<Profile>(&root, StoreId::root());
    let avatar = use_upload(&root, StoreId::root(), "avatar");
    let clear = use_command(&root, StoreId::root(), "clear");
    let pick = move |event: leptos::ev::Event| {
        let input = event_target::<web_sys::HtmlInputElement>(&event);
        if let Some(files) = input.files() {
            avatar.select(&files);
            // Runs once the selection is preflighted.
            avatar.start();
        }
        // The files are taken: the same one can be picked again.
        input.set_value("");
    };
    let avatar_url = move || profile.get().and_then(|profile| profile.avatar_url);
    let uploaded = move || {
        profile
            .get()
            .map(|profile| profile.files.into_iter().filter(|file| file.upload == "avatar").collect::<Vec<_>>())
            .unwrap_or_default()
    };
    view! {
        <section id="profile" class=panel_class(root)>
            <h2>"Profile: avatar upload "<small id=format!("status-{PROFILE}") class="status">{root_status(root)}</small></h2>
            <div class="row">
                <input type="file" accept=".png,.jpg" data-testid="leptos-avatar-input" on:change=pick/>
                <progress data-testid="leptos-avatar-progress" max="100" value=move || avatar.progress.get().to_string()></progress>
                <span data-testid="leptos-avatar-percent">{move || format!("{} %", avatar.progress.get())}</span>
                <strong data-testid="leptos-avatar-status">{move || avatar.status.get().as_str()}</strong>
                <button data-testid="leptos-avatar-cancel" disabled=move || !avatar.is_uploading.get() on:click=move |_| avatar.cancel(None)>
                    "Cancel"
                </button>
                <button data-testid="leptos-avatar-reset" on:click=move |_| avatar.reset()>"Reset"</button>
                <button data-testid="leptos-avatar-clear" on:click=move |_| clear.dispatch(json!({"upload": "avatar"}))>"Remove avatars"</button>
            </div>
            <ul data-testid="leptos-avatar-errors" class="errors">
                {move || avatar.errors.get().into_iter().map(|error| view! { <li data-code=error.code>{error.message}</li> }).collect_view()}
            </ul>
            <ul data-testid="leptos-avatar-entries" class="entries">
                {move || avatar.entries.get().into_iter().map(|entry| entry_row(entry, avatar)).collect_view()}
            </ul>
            <div class="row avatar">
                <Show when=move || avatar_url().is_some() fallback=|| view! { <span data-testid="leptos-avatar-none">"No avatar yet"</span> }>
                    <img data-testid="leptos-avatar-image" src=avatar_url alt="Avatar"/>
                </Show>
                <ul data-testid="leptos-avatar-files">
                    <For each=uploaded key=|file| file.url.clone() let:file>
                        <li><a href=file.url.clone()>{file.name.clone()}</a>{format!(" ({} bytes)", file.size)}</li>
                    </For>
                </ul>
            </div>
        </section>
    }
}

/// One entry of the avatar upload: name, status, progress, errors, and its own Cancel.
fn entry_row(entry: EntryView, avatar: UseUpload) -> impl IntoView {
    let entry_ref = entry.entry_ref.to_string();
    let errors = entry.errors.iter().map(|error| format!("{}: {}", error.code, error.message)).collect::<Vec<_>>().join("; ");
    let status = entry.status;
    let running = matches!(status.as_str(), "pending" | "uploading");
    let cancel = running.then(|| {
        let entry_ref = entry_ref.clone();
        view! { <button class="entry-cancel" on:click=move |_| avatar.cancel(Some(entry_ref.clone()))>"Cancel"</button> }
    });
    view! {
        <li data-testid="leptos-avatar-entry" data-ref=entry_ref data-status=status>
            <span class="name">{entry.client_name}</span>" "
            <span class="entry-status">{status.clone()}</span>" "
            <span class="entry-progress">{format!("{} %", entry.progress.round())}</span>" "
            <span class="entry-errors">{errors}</span>
            {cancel}
        </li>
    }
}

/// A note and a setting kept in this browser (`use_stash`, no server involved): they survive a
/// reload and follow other tabs — and the plain-JS and React demos, which use the same view — live.
#[component]
fn NotesPanel() -> impl IntoView {
    let notes = use_stash("Demo.Notes", 1);
    let draft = move || notes.get::<String>("draft").unwrap_or_default();
    let compact = move || notes.get::<bool>("compact").unwrap_or(false);
    // A failed write (e.g. `quota_exceeded`) shows in `error`; the stored value stays.
    let save_draft = move |event| {
        let _ = notes.merge([("draft", event_target_value(&event))]);
    };
    let save_compact = move |event| {
        let _ = notes.merge([("compact", event_target_checked(&event))]);
    };
    let saved = move || match notes.last_seen_at.get() {
        Some(at) => format!("saved {}", time_of_day(at)),
        None => "never saved".to_owned(),
    };
    view! {
        <section id="notes" class=move || if compact() { "panel compact" } else { "panel" } data-testid="stash-panel">
            <h2>"Notes (kept in this browser)"</h2>
            <div class="row">
                <input type="text" placeholder="A note kept in this browser" data-testid="stash-draft" prop:value=draft on:input=save_draft/>
            </div>
            <div class="row">
                <label><input type="checkbox" data-testid="stash-compact" prop:checked=compact on:change=save_compact/>" compact view"</label>
                <button data-testid="stash-reset" on:click=move |_| { let _ = notes.reset(); }>"Forget"</button>
                <small data-testid="stash-saved">{saved}</small>
            </div>
            <Show when=move || notes.error.get().is_some()>
                <span class="error" data-testid="stash-error" data-kind=move || notes.error.get().map(|error| error.kind())>
                    {move || notes.error.get().map(|error| format!("{}: {error}", error.kind()))}
                </span>
            </Show>
        </section>
    }
}

/// `Date.now()` milliseconds as the time of day (UTC).
fn time_of_day(at: u64) -> String {
    let seconds = at / 1000 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

/// Buttons that ask the devserver to misbehave.
#[component]
fn FaultButtons() -> impl IntoView {
    let fault = |path: &'static str| move |_| leptos::task::spawn_local(post(path));
    view! {
        <div class="row">
            <button id="drop" on:click=fault("/_test/drop?code=4000")>"Drop all connections"</button>
            <button id="gap" on:click=fault("/_test/gap?root_id=demo-counter")>"Send the counter a version gap"</button>
            <button id="corrupt" on:click=fault("/_test/corrupt?root_id=demo-board")>"Send the board a broken patch"</button>
        </div>
    }
}

async fn post(path: &'static str) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    if let Some(window) = web_sys::window() {
        let _ = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(path, &init)).await;
    }
}
