//! Listener registries and the [`Subscription`] guard that removes a listener when dropped.

use std::cell::RefCell;
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

    pub(crate) fn remove(&mut self, key: u64) {
        self.entries.retain(|(k, _)| *k != key);
    }

    /// A snapshot of the callbacks, so none is called while the registry is borrowed.
    pub(crate) fn snapshot(&self) -> Vec<Rc<T>> {
        self.entries.iter().map(|(_, callback)| callback.clone()).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
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
    /// A subscription that runs `remove` when dropped.
    pub(crate) fn new<S: 'static>(state: &Rc<RefCell<S>>, remove: impl FnOnce(&mut S) + 'static) -> Self {
        let weak: Weak<RefCell<S>> = Rc::downgrade(state);
        Subscription {
            remove: Some(Box::new(move || {
                if let Some(state) = weak.upgrade()
                    && let Ok(mut state) = state.try_borrow_mut()
                {
                    remove(&mut state);
                }
            })),
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
