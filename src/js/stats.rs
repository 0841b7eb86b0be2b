//! Counters of what the module holds for JS (connections, mounts, store handles, upload handles,
//! subscriptions, cached snapshot objects), for leak tests and diagnostics (`debugStats()` in JS).

use std::cell::Cell;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// What a [`Counted`] token counts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Connection,
    Mount,
    Store,
    Subscription,
    Upload,
}

thread_local! {
    static COUNTS: [Cell<usize>; 5] = const { [Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0)] };
    static CACHED_OBJECTS: Cell<usize> = const { Cell::new(0) };
}

fn adjust(kind: Kind, up: bool) {
    COUNTS.with(|counts| {
        if let Some(cell) = counts.get(kind as usize) {
            cell.set(if up { cell.get().saturating_add(1) } else { cell.get().saturating_sub(1) });
        }
    });
}

fn count(kind: Kind) -> usize {
    COUNTS.with(|counts| counts.get(kind as usize).map_or(0, Cell::get))
}

/// Counts one live item of its kind until dropped.
#[derive(Debug)]
pub(crate) struct Counted(Kind);

impl Counted {
    pub(crate) fn new(kind: Kind) -> Self {
        adjust(kind, true);
        Counted(kind)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        adjust(self.0, false);
    }
}

/// Records a change in the number of JS objects held by snapshot caches.
pub(crate) fn cached_objects_changed(added: usize, removed: usize) {
    CACHED_OBJECTS.with(|cell| cell.set(cell.get().saturating_add(added).saturating_sub(removed)));
}

/// `{memoryBytes, liveHandles, connections, mounts, stores, subscriptions, uploads, cachedObjects}`.
#[wasm_bindgen(js_name = rawStats)]
pub fn raw_stats() -> js_sys::Object {
    let memory_bytes = wasm_bindgen::memory()
        .dyn_into::<js_sys::WebAssembly::Memory>()
        .ok()
        .and_then(|memory| memory.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
        .map_or(0.0, |buffer| buffer.byte_length() as f64);
    let counts = [Kind::Connection, Kind::Mount, Kind::Store, Kind::Subscription, Kind::Upload].map(count);
    let cached = CACHED_OBJECTS.with(Cell::get);
    let live: usize = counts.iter().sum::<usize>() + cached;
    let [connections, mounts, stores, subscriptions, uploads] = counts;
    let stats = js_sys::Object::new();
    for (key, value) in [
        ("memoryBytes", memory_bytes),
        ("liveHandles", live as f64),
        ("connections", connections as f64),
        ("mounts", mounts as f64),
        ("stores", stores as f64),
        ("subscriptions", subscriptions as f64),
        ("uploads", uploads as f64),
        ("cachedObjects", cached as f64),
    ] {
        let _ = js_sys::Reflect::set(&stats, &key.into(), &value.into());
    }
    stats
}
