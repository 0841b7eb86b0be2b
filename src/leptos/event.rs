//! [`use_event`]: a store's push events (Musubi 0.13) for the life of the component.

use std::rc::Rc;

use leptos::prelude::*;
use serde::de::DeserializeOwned;

use super::error::SyncError;
use super::hooks::RootHandle;
use crate::browser::Subscription;
use crate::runtime::StoreId;

/// Calls `callback` with every event named `name` that the store `store_id` of `root` pushes,
/// as a `T`, once per event and after the state that came with it is applied; the returned
/// signal holds the last one. The listener goes with the component. An event whose payload does
/// not fit `T` goes to `last_error` ([`SyncError::DeserializationFailed`]) instead. Events are
/// not replayed: one sent while the root was stale is gone.
///
/// ```no_run
/// use leptos::prelude::*;
/// use musubi_wasm::leptos::{use_event, use_root};
/// use musubi_wasm::runtime::StoreId;
/// #[derive(Clone, PartialEq, serde::Deserialize)]
/// struct Toast { text: String }
/// let counter = use_root("Demo.CounterStore", "counter", serde_json::json!({}));
/// let last = use_event::<Toast>(&counter, StoreId::root(), "toast", |toast| web_sys_log(&toast.text));
/// let banner = move || last.get().map(|toast| toast.text);
/// # fn web_sys_log(_: &str) {}
/// ```
pub fn use_event<T>(root: &RootHandle, store_id: StoreId, name: &str, callback: impl Fn(T) + 'static) -> Signal<Option<T>>
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let last = RwSignal::new(None);
    let root = *root;
    let context = root.context;
    let name: Rc<str> = name.into();
    let callback = Rc::new(callback);
    let subscription: StoredValue<Option<Subscription>, LocalStorage> = StoredValue::new_local(None);
    Effect::new(move || {
        if !root.ready.get() {
            return;
        }
        let Some(store) = root.store(&store_id) else { return };
        let (callback, event) = (callback.clone(), name.clone());
        let store_name = store_id.key().to_string();
        let sub = store.on_event(&name, move |payload| match serde_json::from_str::<T>(&payload.to_json_text()) {
            Ok(value) => {
                last.try_set(Some(value.clone()));
                callback(value);
            }
            Err(error) => {
                let store = format!("{store_name} event {event}");
                context.report(SyncError::DeserializationFailed { store, error: error.to_string() });
            }
        });
        subscription.try_set_value(Some(sub));
    });
    last.into()
}
