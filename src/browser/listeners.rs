//! Listener registries and the [`Subscription`] guard that removes a listener when dropped.
//!
//! No listener code runs while a registry is borrowed: dispatch calls snapshots of the callbacks,
//! and a removed callback is dropped only after the borrow ends (its drop may subscribe again), so
//! [`Subscription::register`] cannot find the registries borrowed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::{Rc, Weak};

/// A registry of callbacks of one kind, keyed for removal.
pub(crate) struct Registry<T: ?Sized> {
    next_key: u64,
    entries: Vec<(u64, Rc<T>)>,
}

impl<T: ?Sized> Default for Registry<T> {
    fn default() -> Self {
        Registry { next_key: 0, entries: Vec::new() }
    }
}

impl<T: ?Sized> Registry<T> {
    pub(crate) fn insert(&mut self, callback: Rc<T>) -> u64 {
        self.next_key = self.next_key.wrapping_add(1);
        self.entries.push((self.next_key, callback));
        self.next_key
    }

    /// Removes the callback registered under `key` and hands it back, so the caller can drop it
    /// once nothing is borrowed (dropping a closure may run code that subscribes again).
    pub(crate) fn remove(&mut self, key: u64) -> Option<Rc<T>> {
        let at = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// A snapshot of the callbacks, so none is called while the registry is borrowed.
    pub(crate) fn snapshot(&self) -> Vec<Rc<T>> {
        self.entries.iter().map(|(_, callback)| callback.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// One [`Registry`] per slot (a store, a channel, …); a slot's registry goes once it is empty.
pub(crate) struct SlotRegistries<K, T: ?Sized> {
    slots: HashMap<K, Registry<T>>,
}

impl<K, T: ?Sized> Default for SlotRegistries<K, T> {
    fn default() -> Self {
        SlotRegistries { slots: HashMap::new() }
    }
}

impl<K: Eq + Hash, T: ?Sized> SlotRegistries<K, T> {
    pub(crate) fn insert(&mut self, slot: K, callback: Rc<T>) -> u64 {
        self.slots.entry(slot).or_default().insert(callback)
    }

    /// Removes one callback (handed back, see [`Registry::remove`]) and the slot once it is empty.
    pub(crate) fn remove(&mut self, slot: &K, key: u64) -> Option<Rc<T>> {
        let registry = self.slots.get_mut(slot)?;
        let removed = registry.remove(key);
        if registry.len() == 0 {
            self.slots.remove(slot);
        }
        removed
    }

    /// A snapshot of the slot's callbacks (empty for an unknown slot).
    pub(crate) fn snapshot(&self, slot: &K) -> Vec<Rc<T>> {
        self.slots.get(slot).map(Registry::snapshot).unwrap_or_default()
    }
}

/// Keeps a listener registered; dropping it unsubscribes.
///
/// Call [`Subscription::forget`] to keep the listener for the life of the socket.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    remove: Option<Box<dyn FnOnce()>>,
}

impl Subscription {
    /// A subscription that runs `remove` when dropped. What `remove` returns (the removed
    /// callback) is dropped after the state is released, so no listener code ever runs while the
    /// state is borrowed.
    pub(crate) fn new<S: 'static, R>(state: &Rc<RefCell<S>>, remove: impl FnOnce(&mut S) -> R + 'static) -> Self {
        let weak: Weak<RefCell<S>> = Rc::downgrade(state);
        Subscription {
            remove: Some(Box::new(move || {
                if let Some(state) = weak.upgrade() {
                    let removed = state.try_borrow_mut().ok().map(|mut state| remove(&mut state));
                    drop(removed);
                }
            })),
        }
    }

    /// Registers a listener: `insert` adds it to `state` and returns its key, and `remove` takes
    /// it out again when the subscription is dropped. Nothing runs listener code while `state` is
    /// borrowed (see the module docs), so the borrow succeeds; were it ever refused, nothing would
    /// be registered and the subscription would do nothing.
    pub(crate) fn register<S: 'static, K: 'static, R>(
        state: &Rc<RefCell<S>>,
        insert: impl FnOnce(&mut S) -> K,
        remove: impl FnOnce(&mut S, K) -> R + 'static,
    ) -> Self {
        match state.try_borrow_mut().map(|mut borrowed| insert(&mut borrowed)) {
            Ok(key) => Subscription::new(state, move |state: &mut S| remove(state, key)),
            Err(_) => Subscription { remove: None },
        }
    }

    /// Keeps the listener registered forever.
    pub fn forget(mut self) {
        self.remove = None;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(remove) = self.remove.take() {
            remove();
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}
