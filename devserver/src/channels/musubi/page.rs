//! Page servers shared across sockets.
//!
//! A [`PageRegistry`] (one per server) maps (module, root id, params key) to a page: the
//! authoritative store state plus the last rendered wire tree. Every root mounted on any socket
//! is a *subscriber* of its page with its own version counter and its own `root_id` string: the
//! client's plain id on a connection channel, `<module>:<id>` on a per-root channel (the page key
//! always holds the plain id, so both wire modes share one page). A change (command, timer) runs
//! one render cycle under the page's lock: the store patches the tree, and every subscriber gets
//! one envelope with the same ops and its own `base_version → version`, sent through its
//! channel's [`ChannelHandle`]. Because each cycle is fanned out atomically, every subscriber's
//! last render *is* the page's tree, so it is kept once per page rather than per subscriber.
//!
//! Replies are sent through the same handle (a [`DeferredReply`]) under the same lock, so on each
//! socket a reply precedes the envelope of the cycle it caused, and an `unmount` reply follows
//! every envelope of that subscription.
//!
//! Each page also keeps its upload entries and queued upload ops ([`PageUploads`]): upload
//! events ([`Subscription::upload`]) and upload sub-channels or HTTP routes ([`PageLink`]) change
//! them under the same lock and run the same render cycle, so every subscriber gets the same
//! `upload_ops`; every initial envelope carries one `config` op per declared upload.
//!
//! Test endpoints inject extra envelopes ([`PageRegistry::inject`], [`Fault`]) under the same
//! lock, so they fall into each subscriber's sequence like any render cycle's.
//!
//! A page with no subscribers lingers for [`PAGE_LINGER`] (so a client recovering by unmount +
//! remount, or a reloaded tab, finds the same state), then it is dropped.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use musubi_wasm::phoenix::frame::{Payload, Reply};
use serde_json::{Map, Value, json};

use super::deep;
use super::render::{self, Lists, PatchOp};
use super::stores::{self, CommandOutcome, InvalidArgs, RootKind, RootStore, Timer};
use super::upload::{PageName, PageUploads, UploadContext, UploadRequest};
use crate::channels::{ChannelHandle, DeferredReply, Effect};

/// How long a page without subscribers keeps its state.
pub const PAGE_LINGER: Duration = Duration::from_secs(30);

/// The event name of envelopes.
const PATCH: &str = "patch";

/// All pages of one server, and the counters `/_test/stats` reports.
#[derive(Default)]
pub struct PageRegistry {
    pages: Mutex<HashMap<PageKey, Arc<Page>>>,
    /// What the pages' uploads share (token secret, temp directory, chunk timeout).
    uploads: Arc<UploadContext>,
    next_subscriber: AtomicU64,
    mounts: AtomicU64,
    roots: AtomicU64,
    /// Root id → levels: the next initial envelope of that root carries a deep chain
    /// ([`PageRegistry::arm_deep_initial`]).
    deep_initial: Mutex<HashMap<String, usize>>,
}

impl fmt::Debug for PageRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageRegistry").field("pages", &lock(&self.pages).len()).field("roots", &self.roots()).finish()
    }
}

/// What identifies a page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PageKey {
    module: &'static str,
    root_id: String,
    params: String,
}

impl PageKey {
    /// The key as upload tokens name it.
    fn name(&self) -> PageName {
        PageName { module: self.module.to_owned(), root_id: self.root_id.clone(), params: self.params.clone() }
    }

    fn is(&self, name: &PageName) -> bool {
        self.module == name.module && self.root_id == name.root_id && self.params == name.params
    }
}

/// One page server.
struct Page {
    key: PageKey,
    state: Mutex<PageState>,
}

struct PageState {
    store: Box<dyn RootStore>,
    /// The upload entries and the queued upload ops.
    uploads: PageUploads,
    /// The last rendered wire tree (what every subscriber holds).
    tree: Value,
    /// Ordered by subscription, so fan-out order is stable.
    subscribers: BTreeMap<u64, Subscriber>,
    /// Bumped whenever the page loses its last subscriber; a linger timer only removes the page
    /// if nothing changed since it was set.
    idle_generation: u64,
}

/// One mounted root on one socket.
struct Subscriber {
    handle: ChannelHandle,
    /// The `root_id` of this subscriber's envelopes.
    root_id: String,
    /// The version of the last envelope sent to this subscriber.
    version: u64,
}

/// A fault a test endpoint injects into the envelope sequence of a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An empty envelope whose versions skip ahead (`base = current + 5`); the subscriber's own
    /// counter is unchanged.
    Gap,
    /// A correctly sequenced envelope whose op cannot apply; the subscriber's counter advances.
    Corrupt,
    /// `ceil(levels / step)` valid, correctly sequenced envelopes that grow a chain of `levels`
    /// objects under the root's field `deep`, `step` levels per envelope (see [`deep`]); each
    /// advances the subscriber's counter. Only the clients hold the chain: the page's tree does
    /// not, so a fresh mount has no `deep` and later diffs never touch it. `step` must be ≥ 1.
    Deepen {
        /// How deep the chain is in the end (objects under `deep`).
        levels: usize,
        /// How many levels each envelope adds.
        step: usize,
    },
}

/// How far a [`Fault::Gap`] envelope skips ahead.
const GAP: u64 = 5;

/// How a newly mounted root hears from its page.
#[derive(Debug)]
pub struct Mount {
    /// The channel the reply and the envelopes go to.
    pub handle: ChannelHandle,
    /// The `root_id` of the reply and of every envelope: the client's plain id (connection
    /// channel) or `<module>:<id>` (root channel).
    pub root_id: String,
    /// Where `ok {"root_id"}` goes; `None` when the caller replies itself before any effect sent
    /// through `handle` is carried out (a join's reply).
    pub reply: Option<DeferredReply>,
}

/// A root mounted on a connection or root channel; dropping it unsubscribes (unmount, leave,
/// crash, transport close).
pub struct Subscription {
    registry: Arc<PageRegistry>,
    page: Arc<Page>,
    id: u64,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").field("page", &self.page.key).field("id", &self.id).finish()
    }
}

impl PageRegistry {
    /// No pages yet; sub-channels allow `chunk_timeout` between chunks.
    pub fn new(chunk_timeout: Duration) -> Self {
        PageRegistry { uploads: Arc::new(UploadContext::new(chunk_timeout)), ..PageRegistry::default() }
    }

    /// What the pages' uploads share.
    pub fn uploads(&self) -> &Arc<UploadContext> {
        &self.uploads
    }

    /// Mounts the client's root `id` of `kind` for `mount.handle`'s channel: joins the page
    /// (starting it if needed), replies `ok {"root_id"}` through `mount.reply` (if any), then
    /// sends the initial envelope (0 → 1, `replace ""`, the streams' current items; with a deep
    /// chain in the tree if `id` was armed by [`PageRegistry::arm_deep_initial`]). `Err` means
    /// the store's mount raised (nothing was mounted).
    pub fn mount(
        self: &Arc<Self>,
        kind: &'static RootKind,
        id: &str,
        params: &Map<String, Value>,
        mount: Mount,
    ) -> Result<Subscription, String> {
        let Mount { handle, root_id, reply } = mount;
        let key = PageKey { module: kind.module, root_id: id.to_owned(), params: (kind.params_key)(params)? };
        let mut pages = lock(&self.pages);
        let page = match pages.get(&key) {
            Some(page) => Arc::clone(page),
            None => {
                let page = Page::start(key.clone(), (kind.create)(params)?, Arc::clone(&self.uploads));
                pages.insert(key, Arc::clone(&page));
                page
            }
        };
        let subscriber = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        {
            let mut state = lock(&page.state);
            if let Some(reply) = reply {
                reply.send(Reply::ok(json!({"root_id": root_id})));
            }
            let armed = lock(&self.deep_initial).remove(id);
            let deep_tree = armed.and_then(|levels| deep::with_chain(&state.tree, levels));
            let upload_ops = PageUploads::config_ops(&*state.store);
            let initial = match deep_tree {
                Some(tree) => {
                    let ops = format!("[{{\"op\":\"replace\",\"path\":\"\",\"value\":{tree}}}]");
                    let stream_ops = Value::Array(state.store.stream_seed()).to_string();
                    deep_patch(deep::envelope(&root_id, 0, &ops, &stream_ops, &Value::Array(upload_ops).to_string()))
                }
                None => {
                    let ops = vec![render::replace_document(&state.tree).into_value()];
                    let lists = Lists { ops, stream_ops: state.store.stream_seed(), upload_ops, events: Vec::new() };
                    patch(render::full_envelope(&root_id, 0, 1, lists))
                }
            };
            handle.send(initial);
            state.subscribers.insert(subscriber, Subscriber { handle, root_id, version: 1 });
        }
        drop(pages);
        self.mounts.fetch_add(1, Ordering::Relaxed);
        self.roots.fetch_add(1, Ordering::Relaxed);
        Ok(Subscription { registry: Arc::clone(self), page, id: subscriber })
    }

    /// Mounts accepted so far.
    pub fn mounts(&self) -> u64 {
        self.mounts.load(Ordering::Relaxed)
    }

    /// Roots currently mounted (over all sockets).
    pub fn roots(&self) -> u64 {
        self.roots.load(Ordering::Relaxed)
    }

    /// Arms `root_id` (a client's plain id): the next initial envelope sent for it (the next mount
    /// of that root id, on any socket and page, in either wire mode) replaces the whole document with the real tree plus a `deep` field
    /// holding a chain of `levels` objects (see [`deep::with_chain`]). One-shot; arming again
    /// before that mount changes the levels. The page's tree never holds the chain.
    pub fn arm_deep_initial(&self, root_id: &str, levels: usize) {
        lock(&self.deep_initial).insert(root_id.to_owned(), levels);
    }

    /// Sends the envelope(s) of `fault` to every subscriber of every page with this root id (a
    /// client's plain id; each subscriber's envelopes carry its own `root_id` string); returns to
    /// how many subscribers.
    pub fn inject(&self, root_id: &str, fault: Fault) -> usize {
        let pages: Vec<Arc<Page>> = lock(&self.pages).values().filter(|page| page.key.root_id == root_id).cloned().collect();
        let mut sent = 0;
        for page in pages {
            let mut state = lock(&page.state);
            let subscribers = &mut state.subscribers;
            match fault {
                Fault::Gap => {
                    for subscriber in subscribers.values_mut() {
                        let base = subscriber.version + GAP;
                        let envelope = render::envelope(&subscriber.root_id, base, base + 1, Vec::new(), Vec::new());
                        subscriber.handle.send(patch(envelope));
                    }
                }
                Fault::Corrupt => {
                    for subscriber in subscribers.values_mut() {
                        let base = subscriber.version;
                        subscriber.version += 1;
                        let op = PatchOp::Remove { path: "/no/such/deep/path".into() };
                        let envelope = render::envelope(&subscriber.root_id, base, base + 1, vec![op.into_value()], Vec::new());
                        subscriber.handle.send(patch(envelope));
                    }
                }
                Fault::Deepen { levels, step } => {
                    // Each op's text is built once for all subscribers; only the versions differ.
                    for op in deep::deepen_ops(levels, step) {
                        let ops = format!("[{op}]");
                        for subscriber in subscribers.values_mut() {
                            let base = subscriber.version;
                            subscriber.version += 1;
                            subscriber.handle.send(deep_patch(deep::envelope(&subscriber.root_id, base, &ops, "[]", "[]")));
                        }
                    }
                }
            }
            sent += subscribers.len();
        }
        sent
    }

    /// The page `name` names, if it is running.
    pub fn page(&self, name: &PageName) -> Option<PageLink> {
        lock(&self.pages).iter().find(|(key, _)| key.is(name)).map(|(_, page)| PageLink(Arc::downgrade(page)))
    }

    /// The page holding the upload entry `entry_ref`, if any.
    pub fn page_with_entry(&self, entry_ref: &str) -> Option<PageLink> {
        let pages: Vec<Arc<Page>> = lock(&self.pages).values().cloned().collect();
        pages.iter().find(|page| lock(&page.state).uploads.contains(entry_ref)).map(|page| PageLink(Arc::downgrade(page)))
    }

    /// The upload entries of every page with this root id (a client's plain id), as
    /// `/_test/uploads` lists them.
    pub fn upload_entries(&self, root_id: &str) -> Vec<Value> {
        let pages: Vec<Arc<Page>> = lock(&self.pages).values().filter(|page| page.key.root_id == root_id).cloned().collect();
        pages.iter().flat_map(|page| lock(&page.state).uploads.listing()).collect()
    }

    /// Drops the page if it is still idle since `generation`.
    fn remove_if_idle(&self, key: &PageKey, generation: u64) {
        let mut pages = lock(&self.pages);
        let idle = pages.get(key).is_some_and(|page| {
            let state = lock(&page.state);
            state.subscribers.is_empty() && state.idle_generation == generation
        });
        if idle {
            pages.remove(key);
        }
    }
}

impl Page {
    /// Renders the first tree and schedules the store's start timers.
    fn start(key: PageKey, mut store: Box<dyn RootStore>, uploads: Arc<UploadContext>) -> Arc<Page> {
        let tree = store.render();
        // Streams seeded by the store's mount: applied to its mirror; subscribers get seeds.
        store.take_stream_ops();
        store.take_events();
        store.take_upload_resets();
        let timers = store.take_timers();
        let uploads = PageUploads::new(uploads, key.name());
        let state = PageState { store, uploads, tree, subscribers: BTreeMap::new(), idle_generation: 0 };
        let page = Arc::new(Page { key, state: Mutex::new(state) });
        schedule(&page, timers);
        page
    }

    /// One render cycle after a change: one envelope per subscriber unless nothing changed;
    /// then the timers the store asked for are scheduled.
    fn after_change(self: &Arc<Self>, state: &mut PageState) {
        for reset in state.store.take_upload_resets() {
            state.uploads.reset(&reset.store_id, reset.upload);
        }
        let ops = state.store.update_tree(&mut state.tree).into_iter().map(PatchOp::into_value).collect();
        let stream_ops = state.store.take_stream_ops();
        let events = state.store.take_events();
        let upload_ops = state.uploads.drain(Instant::now());
        let lists = Lists { ops, stream_ops, upload_ops, events };
        if !lists.is_empty() {
            for subscriber in state.subscribers.values_mut() {
                let base = subscriber.version;
                subscriber.version += 1;
                subscriber.handle.send(patch(render::full_envelope(&subscriber.root_id, base, base + 1, lists.clone())));
            }
        }
        let timers = state.store.take_timers();
        schedule(self, timers);
    }
}

/// Runs each timer on the page (if it still exists) and a render cycle after it.
fn schedule(page: &Arc<Page>, timers: Vec<Timer>) {
    if timers.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    for Timer { delay, tag } in timers {
        let page = Arc::downgrade(page);
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(page) = page.upgrade() else { return };
            let mut state = lock(&page.state);
            state.store.on_timer(tag);
            page.after_change(&mut state);
        });
    }
}

impl Subscription {
    /// Runs a command on the store `store_id` of this root: replies `unknown store` / `unknown
    /// command`, `invalid payload: …` (a `payload` that is not an object, or that the command
    /// refuses) or the handler's outcome through `reply`, then runs the render cycle (idle unless
    /// the command changed something). `payload` is the command's `payload` field, if any.
    pub fn command(&self, store_id: &[String], name: &str, payload: Option<&Value>, reply: DeferredReply) {
        let mut state = lock(&self.page.state);
        let Some(commands) = state.store.commands(store_id) else {
            reply.send(error_reply("unknown store"));
            return;
        };
        if !commands.contains(&name) {
            reply.send(error_reply("unknown command"));
            return;
        }
        let no_args = Map::new();
        let args = match payload {
            None => &no_args,
            Some(Value::Object(args)) => args,
            Some(_) => {
                reply.send(Reply::error(InvalidArgs("payload must be an object".into()).response()));
                return;
            }
        };
        match state.store.command(store_id, name, args) {
            Ok(CommandOutcome::NoReply) => reply.send(Reply::ok(json!({}))),
            Ok(CommandOutcome::Reply(map)) => reply.send(Reply::ok(Value::Object(map))),
            Ok(CommandOutcome::Error(response)) => reply.send(Reply::error(response)),
            Ok(CommandOutcome::ReplyAfter(delay, map)) => {
                let response = Value::Object(map);
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => drop(runtime.spawn(async move {
                        tokio::time::sleep(delay).await;
                        reply.send(Reply::ok(response));
                    })),
                    Err(_) => reply.send(Reply::ok(response)),
                }
            }
            Err(invalid) => reply.send(Reply::error(invalid.response())),
        }
        // A refused payload changed nothing, so its cycle is idle; running it anyway keeps the
        // tree in step with the state should a store ever break that rule.
        self.page.after_change(&mut state);
    }
}

impl Subscription {
    /// Runs an upload event (PROTOCOL.md §3.2–§3.6) on this root: replies `unknown store`,
    /// `unknown upload`, an event's own refusal (see [`super::upload::events`]) or its `ok`
    /// response through `reply`, then runs the render cycle (the preflight's `add` ops, a
    /// `cancel`, `progress` / `complete` or `error` op ride its envelope).
    pub fn upload(&self, request: UploadRequest, reply: DeferredReply) {
        let mut guard = lock(&self.page.state);
        let state = &mut *guard;
        if state.store.commands(&request.store_id).is_none() {
            reply.send(error_reply("unknown store"));
            return;
        }
        let Some(spec) = stores::declared_upload(&*state.store, &request.store_id, &request.name) else {
            reply.send(error_reply("unknown upload"));
            return;
        };
        match request.run(&mut state.uploads, &mut *state.store, spec) {
            Ok(response) => reply.send(Reply::ok(response)),
            Err(reason) => reply.send(error_reply(reason)),
        }
        self.page.after_change(state);
    }
}

/// A page as the upload machinery reaches it from outside a subscription (sub-channels, the
/// HTTP routes, the watchdog): weakly, so a page that went away reads as gone (`None`).
#[derive(Clone)]
pub struct PageLink(Weak<Page>);

impl fmt::Debug for PageLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PageLink").field(&self.0.upgrade().map(|page| page.key.clone())).finish()
    }
}

impl PageLink {
    /// Runs `f` on the page's uploads and store under the page's lock, then a render cycle.
    pub fn update<R>(&self, f: impl FnOnce(&mut PageUploads, &mut dyn RootStore) -> R) -> Option<R> {
        let page = self.0.upgrade()?;
        let mut guard = lock(&page.state);
        let state = &mut *guard;
        let result = f(&mut state.uploads, &mut *state.store);
        page.after_change(state);
        Some(result)
    }

    /// Runs `f` on the page's uploads without a render cycle (for what no client sees).
    pub fn with_uploads<R>(&self, f: impl FnOnce(&mut PageUploads) -> R) -> Option<R> {
        let page = self.0.upgrade()?;
        let mut state = lock(&page.state);
        Some(f(&mut state.uploads))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = lock(&self.page.state);
        state.subscribers.remove(&self.id);
        self.registry.roots.fetch_sub(1, Ordering::Relaxed);
        if !state.subscribers.is_empty() {
            return;
        }
        state.idle_generation += 1;
        let generation = state.idle_generation;
        drop(state);
        let key = self.page.key.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let registry: Weak<PageRegistry> = Arc::downgrade(&self.registry);
                runtime.spawn(async move {
                    tokio::time::sleep(PAGE_LINGER).await;
                    if let Some(registry) = registry.upgrade() {
                        registry.remove_if_idle(&key, generation);
                    }
                });
            }
            Err(_) => self.registry.remove_if_idle(&key, generation),
        }
    }
}

/// A push of the `patch` event.
fn patch(envelope: Value) -> Effect {
    Effect::Push { event: PATCH.into(), payload: Payload::Json(envelope) }
}

/// A push of the `patch` event whose envelope is JSON text, sent verbatim (it may nest deeper than
/// a `Value` can safely hold).
fn deep_patch(envelope: String) -> Effect {
    Effect::Push { event: PATCH.into(), payload: Payload::Text(envelope) }
}

/// `error {"reason": reason}`.
pub fn error_reply(reason: &str) -> Reply {
    Reply::error(json!({"reason": reason}))
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
