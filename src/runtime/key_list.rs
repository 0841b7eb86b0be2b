//! [`KeyList`]: distinct store keys in the order they were first met. An envelope usually names a
//! few stores, where a scan is the cheapest check; a remount can name thousands, where a scan per
//! key would be quadratic, so past [`KeyList::SCAN_MAX`] keys a hash set answers instead.

use std::collections::HashSet;

use super::store_id::StoreKey;

/// Distinct store keys in first-seen order.
#[derive(Debug, Default)]
pub(crate) struct KeyList {
    keys: Vec<StoreKey>,
    /// Every key, once there are more than [`KeyList::SCAN_MAX`].
    index: Option<HashSet<StoreKey, foldhash::fast::RandomState>>,
}

impl KeyList {
    /// Up to this many keys, membership is a scan.
    const SCAN_MAX: usize = 16;

    /// The distinct keys of `keys`, in order.
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = StoreKey>) -> KeyList {
        let mut list = KeyList::default();
        for key in keys {
            list.push(key);
        }
        list
    }

    /// True when `key` is in the list.
    fn contains(&self, key: &StoreKey) -> bool {
        match &self.index {
            Some(index) => index.contains(key),
            None => self.keys.contains(key),
        }
    }

    /// Appends `key` unless it is there already; true when it was new.
    pub(crate) fn push(&mut self, key: StoreKey) -> bool {
        if self.contains(&key) {
            return false;
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone());
        } else if self.keys.len() >= Self::SCAN_MAX {
            self.index = Some(self.keys.iter().cloned().chain([key.clone()]).collect());
        }
        self.keys.push(key);
        true
    }

    /// The keys, in first-seen order.
    pub(crate) fn into_vec(self) -> Vec<StoreKey> {
        self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::store_id::StoreId;

    #[test]
    fn keys_stay_distinct_and_in_order_below_and_above_the_scan_limit() {
        let key = |n: usize| StoreId::from([n.to_string()]).key();
        let mut list = KeyList::from_keys((0..40).chain(0..40).map(key));
        assert!(!list.push(key(3)) && !list.push(key(39)) && list.push(key(40)));
        assert!(list.contains(&key(17)) && !list.contains(&key(41)));
        assert_eq!(list.into_vec(), (0..41).map(key).collect::<Vec<_>>());
    }
}
