//! `RawStash`: one [`Stash`] for the JS layer's `openStash` (internal; see
//! `src/js/npm/index.d.ts` for the API). Values cross as JSON text: the JS layer stringifies a
//! merge's changes and parses (and freezes) the data it shows.

use wasm_bindgen::prelude::*;

use super::convert::object;
use crate::browser::{Stash, Subscription};
use crate::stash::StashError;

/// The JS layer's handle on one stash.
#[wasm_bindgen]
pub struct RawStash {
    stash: Stash,
    _subscription: Subscription,
}

/// `{name: "MusubiStashError", kind, message}`, made an `Error` by the JS layer.
fn stash_error(error: &StashError) -> JsValue {
    object(&[
        ("name", JsValue::from_str("MusubiStashError")),
        ("kind", JsValue::from_str(error.kind())),
        ("message", JsValue::from_str(&error.to_string())),
    ])
}

#[wasm_bindgen]
impl RawStash {
    /// Opens `view`'s stash under `vsn` in `localStorage`; without storage it throws
    /// (`unavailable`), or with `memory` keeps the stash in memory instead. `on_change()` is
    /// called after every change, made here or in another tab.
    #[wasm_bindgen(constructor)]
    pub fn new(view: &str, vsn: u32, memory: bool, on_change: js_sys::Function) -> Result<RawStash, JsValue> {
        let stash = match Stash::open(view, vsn) {
            Ok(stash) => stash,
            Err(StashError::Unavailable { .. }) if memory => Stash::in_memory(view, vsn),
            Err(error) => return Err(stash_error(&error)),
        };
        let subscription = stash.subscribe(move || {
            let _ = on_change.call0(&JsValue::NULL);
        });
        Ok(RawStash { stash, _subscription: subscription })
    }

    /// Goes up whenever what the stash shows may have changed.
    pub fn revision(&self) -> f64 {
        self.stash.revision() as f64
    }

    /// The view's data under the stash's vsn, as JSON text.
    pub fn data(&self) -> String {
        self.stash.get_view_json()
    }

    /// `{"vsn":…,"data":{…}}` of what is stored whatever its vsn, or `undefined`.
    pub fn fetch(&self) -> Option<String> {
        self.stash.fetch_view_json().map(|(vsn, data)| format!("{{\"vsn\":{vsn},\"data\":{data}}}"))
    }

    /// Merges a JSON object's keys.
    pub fn merge(&self, changes: &str) -> Result<(), JsValue> {
        self.stash.merge_json(changes).map_err(|error| stash_error(&error))
    }

    /// Drops keys (unknown ones are ignored).
    pub fn drop_keys(&self, keys: Vec<String>) -> Result<(), JsValue> {
        self.stash.drop_keys(keys).map_err(|error| stash_error(&error))
    }

    /// Empties the view; also replaces corrupt data.
    pub fn reset(&self) -> Result<(), JsValue> {
        self.stash.reset().map_err(|error| stash_error(&error))
    }

    /// `Date.now()` of the last write from any tab, or `undefined`.
    pub fn last_seen_at(&self) -> Option<f64> {
        self.stash.last_seen_at().map(|at| at as f64)
    }

    /// True while the stored data is not a stash's.
    pub fn corrupt(&self) -> bool {
        self.stash.is_corrupt()
    }

    /// False for the in-memory fallback.
    pub fn durable(&self) -> bool {
        self.stash.is_durable()
    }
}
