//! What the application reads from the [`Runtime`]: root status, version, owners and info,
//! snapshots, fields, streams, store ids, trees and upload handles.

use super::*;

impl Runtime {
    /// The status of a root.
    pub fn root_status(&self, topic: &str, root_id: &str) -> Option<RootStatus> {
        self.root(topic, root_id).map(|root| root.status)
    }

    /// The version of a root's replica (0 while waiting for an initial envelope).
    pub fn root_version(&self, topic: &str, root_id: &str) -> Option<u64> {
        self.root(topic, root_id).map(|root| root.replica.version())
    }

    /// How many owners a root has.
    pub fn root_owners(&self, topic: &str, root_id: &str) -> Option<u32> {
        self.root(topic, root_id).map(|root| root.owners)
    }

    /// The roots of a connection topic, ordered by id.
    pub fn roots(&self, topic: &str) -> Vec<RootInfo> {
        let Some(connection) = self.connections.get(topic) else { return Vec::new() };
        connection.roots.iter().map(|(id, root)| root.info(id)).collect()
    }

    /// The snapshot of a store (cached until it changes); `None` if the root is unknown or has no
    /// state yet.
    pub fn snapshot(&mut self, topic: &str, root_id: &str, store_id: &StoreId) -> Option<Node> {
        let root = self.root_mut(topic, root_id)?;
        if root.status == RootStatus::Mounting {
            return None;
        }
        Some(root.replica.snapshot(store_id))
    }

    /// One field of a store, resolved like its snapshot shows it.
    pub fn read(&mut self, topic: &str, root_id: &str, store_id: &StoreId, field: &str) -> Option<Node> {
        self.root_mut(topic, root_id)?.replica.read_field(store_id, field)
    }

    /// The items of a store's stream, in order (`None` if the root is unknown or has no state).
    pub fn stream(&self, topic: &str, root_id: &str, store_id: &StoreId, name: &str) -> Option<Node> {
        let root = self.root(topic, root_id).filter(|root| root.status != RootStatus::Mounting)?;
        Some(root.replica.streams().items_node(&store_id.key(), name))
    }

    /// Whether a root currently has the store: `None` while the root is unknown or has no state
    /// yet (nothing to tell).
    pub fn has_store(&self, topic: &str, root_id: &str, store_id: &StoreId) -> Option<bool> {
        let root = self.root(topic, root_id).filter(|root| root.status != RootStatus::Mounting)?;
        Some(root.replica.index().contains_key(&store_id.key()))
    }

    /// The ids of the stores a root currently has.
    pub fn store_ids(&self, topic: &str, root_id: &str) -> Vec<StoreId> {
        let mut ids: Vec<StoreId> =
            self.root(topic, root_id).map(|root| root.replica.index().values().map(|store| store.id.clone()).collect()).unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// The wire tree of a root (for inspection and tests).
    pub fn tree(&self, topic: &str, root_id: &str) -> Option<&Node> {
        self.root(topic, root_id).map(|root| root.replica.tree())
    }

    /// An upload handle's state.
    pub fn upload(&self, topic: &str, root_id: &str, store_id: &StoreId, name: &str) -> Option<&UploadHandle> {
        self.root(topic, root_id)?.replica.uploads().handle(&store_id.key(), name)
    }

    /// How many pushes await a reply (for leak checks).
    pub fn pending_pushes(&self) -> usize {
        self.pushes.len()
    }
}
