//! [`Stash`]: a view's durable stash in `localStorage` — the sans-IO [`StashCore`] over
//! `web_sys::Storage` — kept coherent with the page's other stashes of the view (told at once)
//! and with other tabs (through `storage` events, and a re-read when the page is restored from
//! the back-forward cache).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::listeners::{Registry, Subscription};
use crate::runtime::tree::Node;
use crate::stash::{MemoryStorage, StashCore, StashError, StashStorage, StashedView};

/// Where a [`Stash`] keeps its slice.
enum Backend {
    Local(web_sys::Storage),
    /// The page's in-memory fallback ([`Stash::in_memory`]), shared by its stashes.
    Memory(MemoryStorage),
}

impl StashStorage for Backend {
    fn get(&self, key: &str) -> Result<Option<String>, StashError> {
        match self {
            Backend::Local(storage) => storage.get_item(key).map_err(storage_error),
            Backend::Memory(memory) => memory.get(key),
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StashError> {
        match self {
            Backend::Local(storage) => storage.set_item(key, value).map_err(storage_error),
            Backend::Memory(memory) => memory.set(key, value),
        }
    }
}

/// A storage exception as a [`StashError`] (by its DOMException name).
fn storage_error(error: JsValue) -> StashError {
    let field = |name: &str| js_sys::Reflect::get(&error, &JsValue::from_str(name)).ok().and_then(|value| value.as_string());
    let message = field("message").unwrap_or_else(|| format!("{error:?}"));
    match field("name").as_deref() {
        Some("QuotaExceededError" | "NS_ERROR_DOM_QUOTA_REACHED") => StashError::QuotaExceeded,
        Some("SecurityError") => StashError::Unavailable { message },
        _ => StashError::Storage { message },
    }
}

thread_local! {
    /// The page's open stashes, so a write reaches the others at once (storage events only reach
    /// other tabs).
    static OPEN: RefCell<Vec<Weak<Shared>>> = const { RefCell::new(Vec::new()) };
    /// Writes still to be told to the page's other stashes: (from, storage key, durable, text).
    static QUEUE: RefCell<Vec<(usize, String, bool, String)>> = const { RefCell::new(Vec::new()) };
    static DELIVERING: Cell<bool> = const { Cell::new(false) };
    /// The in-memory fallback's storage, one for the page.
    static MEMORY: MemoryStorage = MemoryStorage::new();
}

/// A call on a stash's core (boxed, so `with_core` is one function).
type CoreCall<'a> = Box<dyn FnOnce(&mut StashCore<Backend>) -> Result<(), StashError> + 'a>;

type WindowListener = (web_sys::Window, Closure<dyn FnMut(web_sys::Event)>);

struct Shared {
    core: RefCell<StashCore<Backend>>,
    listeners: Rc<RefCell<Registry<dyn Fn()>>>,
    key: String,
    durable: bool,
    /// The `localStorage` the stash is in (storage events name it).
    area: Option<web_sys::Storage>,
    window_listener: Option<WindowListener>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some((window, callback)) = &self.window_listener {
            let function = callback.as_ref().unchecked_ref::<js_sys::Function>();
            for event in ["storage", "pageshow"] {
                let _ = window.remove_event_listener_with_callback(event, function);
            }
        }
        let _ = OPEN.try_with(|open| {
            if let Ok(mut open) = open.try_borrow_mut() {
                open.retain(|weak| weak.strong_count() > 0);
            }
        });
    }
}

impl Shared {
    /// Runs `call` on the core, then tells the page's other stashes what it wrote and this one's
    /// listeners that it changed.
    /// (`call` is boxed: one copy of this code for every call, not one per closure.)
    fn with_core(self: &Rc<Self>, call: CoreCall<'_>) -> Result<(), StashError> {
        let (result, changed, written) = {
            let mut core = self.core.try_borrow_mut().map_err(|_| StashError::Storage { message: "the stash is in use".to_owned() })?;
            let before = core.revision();
            let result = call(&mut core);
            (result, core.revision() != before, core.take_written())
        };
        if let Some(text) = written {
            tell_others(self, text);
        }
        if changed {
            self.notify();
        }
        result
    }

    fn notify(&self) {
        let callbacks = self.listeners.try_borrow().map(|registry| registry.snapshot()).unwrap_or_default();
        for callback in callbacks {
            callback();
        }
    }

    /// A `storage` event (another tab changed this origin's storage) or a `pageshow`.
    fn on_window_event(self: &Rc<Self>, event: web_sys::Event) {
        let Some(event) = event.dyn_ref::<web_sys::StorageEvent>() else {
            // `pageshow`: a page restored from the back-forward cache missed the events meanwhile.
            let _ = self.with_core(Box::new(StashCore::refresh));
            return;
        };
        if event.storage_area().is_none_or(|area| self.area.as_ref() != Some(&area)) {
            return;
        }
        // `key` is null for `localStorage.clear()`.
        let value = match event.key() {
            Some(key) if key == self.key => event.new_value(),
            Some(_) => return,
            None => None,
        };
        let _ = self.with_core(Box::new(|core| {
            core.observe(value.as_deref());
            Ok(())
        }));
    }
}

/// Tells the page's other stashes of the same key what `from` wrote (in order, also for writes
/// their listeners make meanwhile).
fn tell_others(from: &Rc<Shared>, text: String) {
    let origin = Rc::as_ptr(from) as usize;
    let _ = QUEUE.try_with(|queue| queue.try_borrow_mut().map(|mut queue| queue.push((origin, from.key.clone(), from.durable, text))));
    if DELIVERING.try_with(|delivering| delivering.replace(true)).unwrap_or(true) {
        return;
    }
    let next = || {
        QUEUE
            .try_with(|queue| queue.try_borrow_mut().ok().and_then(|mut queue| (!queue.is_empty()).then(|| queue.remove(0))))
            .ok()
            .flatten()
    };
    while let Some((origin, key, durable, text)) = next() {
        let targets: Vec<Rc<Shared>> = OPEN
            .try_with(|open| {
                open.try_borrow()
                    .map(|open| {
                        open.iter()
                            .filter_map(Weak::upgrade)
                            .filter(|shared| shared.key == key && shared.durable == durable && Rc::as_ptr(shared) as usize != origin)
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        for target in targets {
            let _ = target.with_core(Box::new(|core| {
                core.observe(Some(&text));
                Ok(())
            }));
        }
    }
    let _ = DELIVERING.try_with(|delivering| delivering.set(false));
}

/// A random writer id: 6 base-36 characters, breaking ties between tabs.
fn writer_id() -> String {
    let mut n = (js_sys::Math::random() * 2_176_782_336.0) as u64; // 36^6
    let mut id = String::with_capacity(6);
    for _ in 0..6 {
        let digit = (n % 36) as u32;
        n /= 36;
        id.push(char::from_digit(digit, 36).unwrap_or('0'));
    }
    id
}

fn wall_clock() -> u64 {
    js_sys::Date::now().max(0.0) as u64
}

/// A view's durable stash: small UI state (a draft, a filter) in `localStorage`, written before
/// each call returns and shared live with the page's other stashes and the origin's other tabs.
/// Clones share one stash; the last one dropped stops listening.
///
/// See [`crate::stash`] for the semantics: per-key last-write-wins, a vsn change replaces the
/// slice wholesale, nothing stored is lost on an error.
///
/// ```no_run
/// use musubi_wasm::browser::Stash;
/// let stash = Stash::open("Demo.Settings", 1).unwrap_or_else(|_| Stash::in_memory("Demo.Settings", 1));
/// stash.merge([("filter", "open")])?;
/// let filter: Option<String> = stash.get("filter");
/// let _subscription = stash.subscribe(|| web_sys::console::log_1(&"changed".into()));
/// stash.drop_keys(["filter"])?;
/// # Ok::<(), musubi_wasm::stash::StashError>(())
/// ```
#[derive(Clone)]
pub struct Stash {
    shared: Rc<Shared>,
}

impl std::fmt::Debug for Stash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stash").field("key", &self.shared.key).field("durable", &self.shared.durable).finish()
    }
}

impl Stash {
    /// Opens `view`'s stash under `vsn` in `localStorage` and reads it. Fails with
    /// [`StashError::Unavailable`] when the page has no storage (disabled, blocked); the fallback is
    /// [`Stash::in_memory`]. Corrupt stored data is no error: the stash reads as never stashed and
    /// [`Stash::is_corrupt`] says so.
    pub fn open(view: &str, vsn: u32) -> Result<Stash, StashError> {
        let unavailable = |message: &str| StashError::Unavailable { message: message.to_owned() };
        let window = web_sys::window().ok_or_else(|| unavailable("no window"))?;
        let storage = window.local_storage().map_err(storage_error)?.ok_or_else(|| unavailable("no localStorage"))?;
        let core = StashCore::new(Backend::Local(storage.clone()), view, vsn, writer_id())?;
        Ok(Stash::start(core, Some((window, storage))))
    }

    /// A stash of `view` kept in memory for the page's life (shared by the page's in-memory
    /// stashes, not by other tabs): the fallback when [`Stash::open`] fails.
    pub fn in_memory(view: &str, vsn: u32) -> Stash {
        let memory = MEMORY.try_with(MemoryStorage::clone).unwrap_or_default();
        let mut core = StashCore::unread(Backend::Memory(memory), view, vsn, writer_id());
        // Reading memory cannot fail (were it to, the first write reads again).
        let _ = core.refresh();
        Stash::start(core, None)
    }

    fn start(core: StashCore<Backend>, local: Option<(web_sys::Window, web_sys::Storage)>) -> Stash {
        let key = core.key().to_owned();
        let (window, area) = local.unzip();
        let durable = area.is_some();
        let shared = Rc::new_cyclic(|weak: &Weak<Shared>| {
            let window_listener = window.map(|window| {
                let weak = weak.clone();
                let callback = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                    if let Some(shared) = weak.upgrade() {
                        shared.on_window_event(event);
                    }
                });
                let function = callback.as_ref().unchecked_ref::<js_sys::Function>();
                for event in ["storage", "pageshow"] {
                    let _ = window.add_event_listener_with_callback(event, function);
                }
                (window, callback)
            });
            Shared { core: RefCell::new(core), listeners: Rc::default(), key, durable, area, window_listener }
        });
        let _ = OPEN.try_with(|open| open.try_borrow_mut().map(|mut open| open.push(Rc::downgrade(&shared))));
        Stash { shared }
    }

    /// The vsn this stash reads and writes.
    pub fn vsn(&self) -> u32 {
        self.read(StashCore::vsn).unwrap_or_default()
    }

    /// True for a stash in `localStorage`, false for [`Stash::in_memory`].
    pub fn is_durable(&self) -> bool {
        self.shared.durable
    }

    /// True while the stored text is not a stash slice (written by something else): reads show
    /// the view as never stashed, writes fail with [`StashError::Corrupt`] until [`Stash::reset`].
    pub fn is_corrupt(&self) -> bool {
        self.read(StashCore::is_corrupt).unwrap_or_default()
    }

    /// Wall-clock milliseconds (`Date.now()`) of the last write to the view from any tab; `None`
    /// when never stashed.
    pub fn last_seen_at(&self) -> Option<u64> {
        self.read(StashCore::last_seen_at).flatten()
    }

    /// Goes up whenever what the stash shows may have changed.
    pub fn revision(&self) -> u64 {
        self.read(StashCore::revision).unwrap_or_default()
    }

    /// `key`'s value as a `T`; `None` when it is not stashed (under this vsn) or does not fit `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        // Through text: `serde_json` reads it with its depth limit.
        self.read(|core| core.get(key).and_then(|value| serde_json::from_str(&value.to_json_text()).ok())).flatten()
    }

    /// The view's data under this vsn (empty when never stashed, or stashed under another vsn).
    pub fn get_view(&self) -> Map<String, Value> {
        self.read(|core| core.entries().map(|(key, value)| (key.to_string(), value.to_json())).collect()).unwrap_or_default()
    }

    /// [`Stash::get_view`] as JSON text.
    pub fn get_view_json(&self) -> String {
        self.read(StashCore::data_text).unwrap_or_else(|| "{}".to_owned())
    }

    /// What is stored, whatever its vsn (for migrating an older shape); `None` when never stashed.
    pub fn fetch_view(&self) -> Option<StashedView> {
        self.fetch_view_json().map(|(vsn, data)| StashedView { vsn, data: serde_json::from_str(&data).unwrap_or_default() })
    }

    /// [`Stash::fetch_view`] with the data as JSON text.
    pub fn fetch_view_json(&self) -> Option<(u32, String)> {
        self.read(StashCore::fetch_view).flatten()
    }

    /// Sets each key to its value (last write wins per key); under another vsn than stored, the
    /// changes replace the slice wholesale. Stored before it returns; on an error nothing changed.
    pub fn merge<K: Into<String>, V: Serialize>(&self, changes: impl IntoIterator<Item = (K, V)>) -> Result<(), StashError> {
        let changes = changes
            .into_iter()
            .map(|(key, value)| {
                let value = serde_json::to_value(&value).map_err(|error| StashError::InvalidValue { message: error.to_string() })?;
                Ok((Rc::from(key.into()), Node::from_json(&value)))
            })
            .collect::<Result<Vec<(Rc<str>, Node)>, StashError>>()?;
        self.shared.with_core(Box::new(|core| core.merge(changes, wall_clock())))
    }

    /// [`Stash::merge`] of a JSON object's keys.
    pub fn merge_json(&self, changes: &str) -> Result<(), StashError> {
        self.shared.with_core(Box::new(|core| core.merge_json(changes, wall_clock())))
    }

    /// Drops `keys`; unknown ones are ignored.
    pub fn drop_keys<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Result<(), StashError> {
        let keys: Vec<String> = keys.into_iter().map(|key| key.as_ref().to_owned()).collect();
        self.shared.with_core(Box::new(|core| core.drop_keys(&keys, wall_clock())))
    }

    /// Empties the view (it reads as never stashed); also replaces corrupt data.
    pub fn reset(&self) -> Result<(), StashError> {
        self.shared.with_core(Box::new(|core| core.reset(wall_clock())))
    }

    /// Reads the stored slice again (a change made to `localStorage` in this page outside any
    /// stash raises no event).
    pub fn refresh(&self) -> Result<(), StashError> {
        self.shared.with_core(Box::new(StashCore::refresh))
    }

    /// Calls `listener` after every change, made here or in another tab. Dropping the
    /// subscription unsubscribes.
    pub fn subscribe(&self, listener: impl Fn() + 'static) -> Subscription {
        let listener: Rc<dyn Fn()> = Rc::new(listener);
        Subscription::register(&self.shared.listeners, move |registry| registry.insert(listener), |registry, key| registry.remove(key))
    }

    /// How many stashes are open in this page (diagnostics, e.g. leak tests).
    pub fn open_count() -> usize {
        OPEN.try_with(|open| open.try_borrow().map(|open| open.iter().filter(|weak| weak.strong_count() > 0).count()).unwrap_or(0))
            .unwrap_or(0)
    }

    fn read<R>(&self, read: impl FnOnce(&StashCore<Backend>) -> R) -> Option<R> {
        self.shared.core.try_borrow().ok().map(|core| read(&core))
    }
}
