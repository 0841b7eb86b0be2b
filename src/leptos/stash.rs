//! [`use_stash`]: a view's durable stash (`localStorage`, shared live with the origin's other
//! tabs) as signals, with its writes. Needs no [`super::SyncProvider`].

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::browser::{Stash, Subscription};
use crate::stash::{StashError, StashedView};

/// A view's stash as signals, with its writes. `Copy`, so closures in views can capture it.
///
/// Writes are stored before they return and show up in [`UseStash::data`] here and in every other
/// tab. A failed write returns its error and sets [`UseStash::error`]; nothing stored is lost.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::use_stash;
/// #[component]
/// fn Draft() -> impl IntoView {
///     let stash = use_stash("Demo.Draft", 1);
///     let text = move || stash.get::<String>("draft").unwrap_or_default();
///     let save = move |event| {
///         let _ = stash.merge([("draft", event_target_value(&event))]);
///     };
///     view! {
///         <input prop:value=text on:input=save/>
///         <button on:click=move |_| { let _ = stash.drop_keys(["draft"]); }>"Clear"</button>
///         <span>{move || stash.error.get().map(|error| error.to_string())}</span>
///     }
/// }
/// ```
#[derive(Clone, Copy)]
pub struct UseStash {
    /// The view's data under the hook's vsn (empty when never stashed, or stashed under another
    /// vsn), updated after every change made here or in another tab.
    pub data: Signal<Map<String, Value>>,
    /// `Date.now()` of the last write to the view from any tab; `None` when never stashed.
    pub last_seen_at: Signal<Option<u64>>,
    /// The latest failed write's error, cleared by one that succeeds; [`StashError::Corrupt`]
    /// while the stored data is not a stash's (writes fail until [`UseStash::reset`]);
    /// [`StashError::Unavailable`] when the page has no storage and the stash lives in memory.
    pub error: Signal<Option<StashError>>,
    /// False when the page has no storage: the stash then lives in memory for the page's life.
    pub durable: bool,
    stash: StoredValue<Option<Stash>, LocalStorage>,
    failure: RwSignal<Option<StashError>>,
}

impl UseStash {
    /// `key`'s value as a `T` (reactive); `None` when not stashed or when it does not fit `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.data.with(|data| data.get(key).and_then(|value| T::deserialize(value).ok()))
    }

    /// Sets each key to its value (last write wins per key), stored before it returns.
    pub fn merge<K: Into<String>, V: Serialize>(&self, changes: impl IntoIterator<Item = (K, V)>) -> Result<(), StashError> {
        self.call(|stash| stash.merge(changes))
    }

    /// Drops `keys`; unknown ones are ignored.
    pub fn drop_keys<K: AsRef<str>>(&self, keys: impl IntoIterator<Item = K>) -> Result<(), StashError> {
        self.call(|stash| stash.drop_keys(keys))
    }

    /// Empties the view; also replaces corrupt data.
    pub fn reset(&self) -> Result<(), StashError> {
        self.call(Stash::reset)
    }

    /// What is stored whatever its vsn (for migrating an older shape); not reactive.
    pub fn fetch_view(&self) -> Option<StashedView> {
        self.stash.try_with_value(|stash| stash.as_ref().and_then(Stash::fetch_view)).flatten()
    }

    fn call(&self, write: impl FnOnce(&Stash) -> Result<(), StashError>) -> Result<(), StashError> {
        let gone = || StashError::Unavailable { message: "the component using the stash is gone".to_owned() };
        let result = self.stash.try_with_value(|stash| stash.as_ref().map(write)).flatten().unwrap_or_else(|| Err(gone()));
        self.failure.try_set(result.clone().err());
        result
    }
}

/// `view`'s stash under `vsn` for the current component; it stops listening when the component
/// is cleaned up. Without storage (disabled, blocked) it lives in memory: `durable` is false and
/// `error` says why.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::use_stash;
/// let filters = use_stash("Demo.Board", 1);
/// let done_only = move || filters.get::<bool>("done_only").unwrap_or(false);
/// let _ = filters.merge([("done_only", true)]);
/// ```
pub fn use_stash(view: &str, vsn: u32) -> UseStash {
    let (stash, fallback) = match Stash::open(view, vsn) {
        Ok(stash) => (stash, None),
        Err(error) => (Stash::in_memory(view, vsn), Some(error)),
    };
    let durable = stash.is_durable();
    let data = RwSignal::new(stash.get_view());
    let last_seen_at = RwSignal::new(stash.last_seen_at());
    let failure = RwSignal::new(fallback.or_else(|| stash.is_corrupt().then_some(StashError::Corrupt)));
    let stored: StoredValue<Option<Stash>, LocalStorage> = StoredValue::new_local(Some(stash.clone()));
    let subscription = stash.subscribe(move || {
        let Some((view, seen, corrupt)) = stored
            .try_with_value(|stash| stash.as_ref().map(|stash| (stash.get_view(), stash.last_seen_at(), stash.is_corrupt())))
            .flatten()
        else {
            return;
        };
        if data.try_with_untracked(|data| *data != view).unwrap_or(false) {
            data.try_set(view);
        }
        if last_seen_at.try_get_untracked() != Some(seen) {
            last_seen_at.try_set(seen);
        }
        if corrupt {
            failure.try_set(Some(StashError::Corrupt));
        } else if failure.try_with_untracked(|failure| *failure == Some(StashError::Corrupt)).unwrap_or(false) {
            failure.try_set(None);
        }
    });
    let subscription: StoredValue<Option<Subscription>, LocalStorage> = StoredValue::new_local(Some(subscription));
    let cleanup = SendWrapper::new(move || {
        drop(subscription.try_update_value(Option::take));
        drop(stored.try_update_value(Option::take));
    });
    on_cleanup(move || cleanup.take()());
    UseStash { data: data.into(), last_seen_at: last_seen_at.into(), error: failure.into(), durable, stash: stored, failure }
}
