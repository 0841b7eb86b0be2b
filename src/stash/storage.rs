//! Where slices are kept: the [`StashStorage`] seam (the browser implements it over
//! `localStorage`) and [`MemoryStorage`], an in-memory one for tests and for pages without
//! storage.

use std::cell::RefCell;
use std::rc::Rc;

use super::StashError;

/// A synchronous string key-value store with `localStorage`'s semantics: a `set` that fails
/// changes nothing.
///
/// ```
/// use musubi_wasm::stash::{MemoryStorage, StashStorage};
/// let storage = MemoryStorage::new();
/// storage.set("k", "v")?;
/// assert_eq!(storage.get("k")?.as_deref(), Some("v"));
/// # Ok::<(), musubi_wasm::stash::StashError>(())
/// ```
pub trait StashStorage {
    /// The value under `key` (`None` when there is none).
    fn get(&self, key: &str) -> Result<Option<String>, StashError>;
    /// Stores `value` under `key`, durably once it returns `Ok`; on `Err` the previous value stays.
    fn set(&self, key: &str, value: &str) -> Result<(), StashError>;
}

/// An in-memory [`StashStorage`]; clones share one map (like the tabs of one origin share
/// `localStorage`). An optional quota, in bytes of keys and values, makes a `set` that would
/// exceed it fail with [`StashError::QuotaExceeded`].
///
/// ```
/// use musubi_wasm::stash::{MemoryStorage, StashError, StashStorage};
/// let storage = MemoryStorage::with_quota(8);
/// storage.set("k", "short")?;
/// assert_eq!(storage.set("k", "far too long"), Err(StashError::QuotaExceeded));
/// assert_eq!(storage.get("k")?.as_deref(), Some("short"));
/// # Ok::<(), StashError>(())
/// ```
#[derive(Clone, Default, Debug)]
pub struct MemoryStorage {
    inner: Rc<RefCell<Memory>>,
}

#[derive(Default, Debug)]
struct Memory {
    items: Vec<(String, String)>,
    quota: Option<usize>,
}

impl MemoryStorage {
    /// An empty storage without a quota.
    pub fn new() -> Self {
        MemoryStorage::default()
    }

    /// An empty storage that holds at most `bytes` bytes of keys and values.
    pub fn with_quota(bytes: usize) -> Self {
        let storage = MemoryStorage::default();
        storage.set_quota(Some(bytes));
        storage
    }

    /// Changes the quota (`None`: unlimited); what is stored stays.
    pub fn set_quota(&self, bytes: Option<usize>) {
        if let Ok(mut memory) = self.inner.try_borrow_mut() {
            memory.quota = bytes;
        }
    }

    /// Bytes of keys and values stored.
    pub fn used(&self) -> usize {
        self.inner.try_borrow().map(|memory| memory.used()).unwrap_or(0)
    }

    /// Stores `value` as is, past any quota (e.g. to plant corrupt data in a test).
    pub fn set_raw(&self, key: &str, value: &str) {
        if let Ok(mut memory) = self.inner.try_borrow_mut() {
            memory.put(key, value);
        }
    }

    /// Removes `key` (as another program clearing storage would).
    pub fn remove(&self, key: &str) {
        if let Ok(mut memory) = self.inner.try_borrow_mut() {
            memory.items.retain(|(stored, _)| stored != key);
        }
    }
}

impl Memory {
    fn find(&self, key: &str) -> Option<&String> {
        self.items.iter().find_map(|(stored, value)| (stored == key).then_some(value))
    }

    fn put(&mut self, key: &str, value: &str) {
        match self.items.iter_mut().find(|(stored, _)| stored == key) {
            Some((_, stored)) => *stored = value.to_owned(),
            None => self.items.push((key.to_owned(), value.to_owned())),
        }
    }

    fn used(&self) -> usize {
        self.items.iter().map(|(key, value)| key.len().saturating_add(value.len())).sum()
    }
}

fn busy() -> StashError {
    StashError::Storage { message: "the storage is in use".to_owned() }
}

impl StashStorage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Option<String>, StashError> {
        Ok(self.inner.try_borrow().map_err(|_| busy())?.find(key).cloned())
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StashError> {
        let mut memory = self.inner.try_borrow_mut().map_err(|_| busy())?;
        if let Some(quota) = memory.quota {
            let old = memory.find(key).map_or(0, |old| key.len().saturating_add(old.len()));
            let after = memory.used().saturating_sub(old).saturating_add(key.len()).saturating_add(value.len());
            if after > quota {
                return Err(StashError::QuotaExceeded);
            }
        }
        memory.put(key, value);
        Ok(())
    }
}

impl<S: StashStorage + ?Sized> StashStorage for Rc<S> {
    fn get(&self, key: &str) -> Result<Option<String>, StashError> {
        (**self).get(key)
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StashError> {
        (**self).set(key, value)
    }
}
