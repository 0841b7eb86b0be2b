//! One root's replica: tree, store index, streams, uploads and version, with atomic envelope
//! acceptance (PROTOCOL.md §2.11) and the change sets that drive snapshot invalidation and
//! subscriber notification (§2.12).
//!
//! Cost per envelope is O(ops × depth × log width + size of the op values + stream/upload ops):
//! nothing walks the whole tree except the root replacement of an initial envelope.

use std::collections::HashSet;
use std::rc::Rc;

use super::depth::{MAX_DEPTH, depth_of};
use super::envelope::Envelope;
use super::index::{IndexEdit, IndexedStore, PathStore, StoreIndex, build_index, stores_on_path, stores_within};
use super::key_list::KeyList;
use super::patch::{self, Mode, Op, PatchError};
use super::push_event::{PushEvent, PushEventError};
use super::snapshot::Snapshots;
use super::store_id::{StoreId, StoreKey};
use super::stream::{StreamOp, StreamOpError, Streams};
use super::tree::{ContainerSet, Node, share_unchanged};
use super::upload::{UploadOp, UploadOpError, Uploads};

impl AcceptError {
    /// Why a live root has to resync, in words for a status line: a missed update (a version gap)
    /// is not a broken one (an update that could not be applied).
    ///
    /// ```
    /// use musubi_wasm::runtime::replica::AcceptError;
    /// let gap = AcceptError::VersionMismatch { expected: 4, base: 6, version: 7 };
    /// assert_eq!(gap.resync_cause(), "it missed an update (expected 4 → 5, got 6 → 7)");
    /// ```
    pub fn resync_cause(&self) -> String {
        match self {
            AcceptError::VersionMismatch { expected, base, version } => {
                format!("it missed an update (expected {expected} → {}, got {base} → {version})", expected.saturating_add(1))
            }
            other => format!("an update could not be applied ({other})"),
        }
    }
}

/// Why an envelope was not applied. The replica is unchanged in every case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AcceptError {
    /// The replica waits for an initial envelope (0 → 1) and got another one.
    #[error("Initial patch envelope must start at version 1")]
    NotInitial,
    /// Out of sequence: recovery (unmount + remount) is needed.
    #[error("Version mismatch: expected {expected} → {}, got {base} → {version}", expected.saturating_add(1))]
    VersionMismatch {
        /// The replica's version.
        expected: u64,
        /// The envelope's base version.
        base: u64,
        /// The envelope's version.
        version: u64,
    },
    /// An op could not be applied.
    #[error(transparent)]
    Patch(#[from] PatchError),
    /// A stream op is malformed.
    #[error(transparent)]
    Stream(#[from] StreamOpError),
    /// An upload op is malformed.
    #[error(transparent)]
    Upload(#[from] UploadOpError),
    /// A push event is malformed.
    #[error(transparent)]
    Event(#[from] PushEventError),
    /// The envelope would make the tree (or a stream item) deeper than [`MAX_DEPTH`], or its frame
    /// was deeper than the client reads.
    #[error("state deeper than {limit} levels (an op reaches {depth})", limit = MAX_DEPTH)]
    TooDeep {
        /// How deep the offending op's result is (a lower bound when the frame was cut short).
        depth: usize,
    },
}

/// What an accepted envelope changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Stores whose subscribers must be notified (each once).
    pub notify: Vec<StoreKey>,
    /// True when this was an initial envelope (the whole state was swapped).
    pub initial: bool,
    /// The envelope's push events, to deliver now that its state is applied.
    pub events: Vec<PushEvent>,
    /// The upload handles its upload ops changed (owning store and upload name, once each).
    pub uploads: Vec<(StoreId, Rc<str>)>,
}

/// A root's replicated state.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    version: u64,
    tree: Node,
    index: StoreIndex,
    streams: Streams,
    uploads: Uploads,
    /// Snapshots by store key, built lazily; see [`super::snapshot`].
    pub(crate) snapshots: Snapshots,
    /// Containers known to hold no markers: they are their own snapshot (nodes are immutable,
    /// so this stays true while they live). Makes re-resolving a changed store O(changed).
    pub(crate) plain: ContainerSet<()>,
}

/// The stores an envelope touched, collected while its ops are applied.
#[derive(Default)]
struct Touched {
    /// Stores whose node may have changed (paths, replaced and inserted subtrees).
    nodes: HashSet<StoreKey, foldhash::fast::RandomState>,
    /// The whole state was replaced.
    everything: bool,
}

impl Replica {
    /// The version of the last accepted envelope (0 before the first).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The wire tree.
    pub fn tree(&self) -> &Node {
        &self.tree
    }

    /// The store index.
    pub fn index(&self) -> &StoreIndex {
        &self.index
    }

    /// The node of a store, if it is in the index.
    pub fn store(&self, key: &StoreKey) -> Option<&IndexedStore> {
        self.index.get(key)
    }

    /// The materialized streams.
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// The upload handles.
    pub fn uploads(&self) -> &Uploads {
        &self.uploads
    }

    /// Forgets the version so that only an initial envelope is accepted next, keeping the last
    /// good state readable until it arrives (self-healing remount).
    pub fn expect_initial(&mut self) {
        self.version = 0;
    }

    /// Applies an envelope atomically: on error nothing changes.
    pub fn accept(&mut self, envelope: &Envelope) -> Result<Changes, AcceptError> {
        if self.version == 0 {
            if !envelope.is_initial() {
                return Err(AcceptError::NotInitial);
            }
        } else if envelope.base_version != self.version || envelope.version != self.version.saturating_add(1) {
            return Err(AcceptError::VersionMismatch { expected: self.version, base: envelope.base_version, version: envelope.version });
        }
        let initial = envelope.is_initial();
        // A remount after an outage or a recovery replaces a state the UI already shows.
        let remount = initial && !self.index.is_empty();
        let ops = envelope.ops.iter().map(|op| Op::parse(op, Mode::Musubi)).collect::<Result<Vec<_>, _>>()?;
        let stream_ops = envelope.stream_ops.iter().map(StreamOp::parse).collect::<Result<Vec<_>, _>>()?;
        let upload_ops = envelope.upload_ops.iter().map(UploadOp::parse).collect::<Result<Vec<_>, _>>()?;
        let events = envelope.events.iter().map(PushEvent::parse).collect::<Result<Vec<_>, _>>()?;
        check_depth(envelope, &ops, &stream_ops, &events)?;

        // Work on an O(1) copy of the tree and on the index's changes; commit only when
        // everything applied.
        let mut tree = if initial { Node::Null } else { self.tree.clone() };
        let mut index = IndexEdit::new(&self.index);
        if initial {
            index.replace_all(StoreIndex::default());
        }
        let mut touched = Touched { everything: initial, ..Touched::default() };
        for op in &ops {
            tree = apply_op(&tree, &mut index, op, &mut touched)?;
        }
        if remount {
            // Keep the identity of everything that did not change, so unchanged stores keep their
            // snapshots and are not announced as changed.
            tree = share_unchanged(&self.tree, &tree);
            index.replace_all(build_index(&tree));
        }
        let mut streams = if initial { Streams::default() } else { self.streams.clone() };
        for op in &stream_ops {
            streams.apply(op);
        }
        let mut uploads = self.uploads.clone();
        let upload_changed = uploads.apply(&upload_ops);
        let upload_owners: Vec<StoreKey> = KeyList::from_keys(upload_changed.iter().map(|(id, _)| id.key())).into_vec();

        // Prune streams and uploads of stores that are not in the new index.
        let mut stream_owners: Vec<StoreKey> = stream_ops.iter().map(|op| op.store_id().key()).collect();
        if remount {
            // A stream the fresh state no longer seeds changed too: it is empty now.
            stream_owners.extend(self.streams.owners().filter(|owner| !streams.has_streams(owner)).cloned());
            stream_owners.sort_unstable();
            stream_owners.dedup();
            stream_owners.retain(|owner| !self.streams.same_for(&streams, owner));
        }
        let mut lost_streams = KeyList::default();
        // A whole-document replace (initial or not) may have removed any store.
        let prune_candidates: Vec<StoreKey> = if touched.everything {
            self.index.keys().chain(stream_owners.iter()).cloned().collect()
        } else {
            touched.nodes.iter().chain(stream_owners.iter()).cloned().collect()
        };
        let mut left_index: Vec<StoreKey> = Vec::new();
        // Handles of stores that left: their views change too (they are empty now).
        let mut pruned_uploads: Vec<(StoreId, Rc<str>)> = Vec::new();
        for key in prune_candidates {
            if !index.contains_key(&key) {
                left_index.push(key.clone());
                let had = (!initial && self.streams.has_streams(&key)) || streams.has_streams(&key);
                streams.prune(&key);
                let names = uploads.prune(&key);
                if let Some(gone) = self.index.get(&key) {
                    pruned_uploads.extend(names.into_iter().map(|name| (gone.id.clone(), name)));
                }
                if had {
                    lost_streams.push(key);
                }
            }
        }
        for key in &upload_owners {
            if !index.contains_key(key) {
                let _ = uploads.prune(key);
            }
        }

        let lost_streams = lost_streams.into_vec();
        let notify = self.changes(&index, &touched, &stream_owners, &lost_streams, &upload_owners);
        let invalid = if remount { self.changed_on_remount(&index, &stream_owners, &lost_streams) } else { Vec::new() };
        index.into_changes().apply_to(&mut self.index);
        if remount {
            for key in &invalid {
                self.snapshots.invalidate(key);
            }
        } else {
            self.invalidate_snapshots(&touched, &stream_ops);
        }
        // Upload state invalidates its store's snapshot and its ancestors' (later reference
        // clients, PROTOCOL.md §6.1), like a stream op.
        let mut uploads_changed: Vec<(StoreId, Rc<str>)> =
            upload_changed.into_iter().filter(|(id, _)| self.index.contains_key(&id.key())).collect();
        for (id, _) in &uploads_changed {
            self.invalidate_upload_owner(id);
        }
        uploads_changed.extend(pruned_uploads);
        for key in &left_index {
            self.snapshots.forget(key);
        }
        self.tree = tree;
        self.streams = streams;
        self.uploads = uploads;
        self.version = envelope.version;
        Ok(Changes { notify, initial, events, uploads: uploads_changed })
    }

    /// §2.12 notification rules, evaluated against the old index (`self`) and the new one.
    fn changes(
        &self,
        new_index: &IndexEdit<'_>,
        touched: &Touched,
        stream_owners: &[StoreKey],
        lost: &[StoreKey],
        uploads: &[StoreKey],
    ) -> Vec<StoreKey> {
        let mut notify = KeyList::default();
        let mut push = |key: &StoreKey| {
            notify.push(key.clone());
        };
        let node_changed = |key: &StoreKey| match (self.index.get(key), new_index.get(key)) {
            (Some(old), Some(new)) => !old.node.same(&new.node),
            (None, None) => false,
            _ => true,
        };
        if touched.everything {
            self.index.keys().chain(new_index.keys()).filter(|key| node_changed(key)).for_each(&mut push);
        } else {
            let mut keys: Vec<&StoreKey> = touched.nodes.iter().filter(|key| node_changed(key)).collect();
            keys.sort_unstable();
            keys.into_iter().for_each(&mut push);
        }
        stream_owners.iter().chain(lost).chain(uploads).for_each(&mut push);
        notify.into_vec()
    }

    /// What a remount invalidates: stores whose node changed or left, stores whose streams
    /// changed, and the stores that contain those (their snapshots embed them).
    fn changed_on_remount(&self, new_index: &IndexEdit<'_>, stream_owners: &[StoreKey], lost: &[StoreKey]) -> Vec<StoreKey> {
        let mut changed: Vec<StoreKey> = self
            .snapshots
            .keys()
            .filter(|key| match (self.index.get(*key), new_index.get(key)) {
                (Some(old), Some(new)) => !old.node.same(&new.node),
                _ => true,
            })
            .cloned()
            .collect();
        for owner in stream_owners.iter().chain(lost) {
            let id = new_index.get(owner).or_else(|| self.index.get(owner)).map(|store| store.id.clone());
            match id {
                Some(id) => changed.extend(id.prefixes().map(|prefix| prefix.key())),
                None => changed.push(owner.clone()),
            }
        }
        changed
    }

    /// §2.12 snapshot-cache invalidation (a superset is always safe).
    /// An upload handle of `owner` changed: the snapshots of `owner` and of the stores that contain
    /// it get new identities (their subscribers re-read).
    pub(crate) fn invalidate_upload_owner(&mut self, owner: &StoreId) {
        for prefix in owner.prefixes() {
            self.snapshots.invalidate(&prefix.key());
        }
    }

    fn invalidate_snapshots(&mut self, touched: &Touched, stream_ops: &[StreamOp]) {
        if touched.everything {
            self.snapshots.invalidate_all();
            return;
        }
        for key in &touched.nodes {
            self.snapshots.invalidate(key);
        }
        for op in stream_ops {
            for prefix in op.store_id().prefixes() {
                self.snapshots.invalidate(&prefix.key());
            }
        }
    }
}

/// Refuses an envelope whose ops or stream items would go deeper than [`MAX_DEPTH`]: a value at a
/// path of `n` segments sits `n` containers down.
fn check_depth(envelope: &Envelope, ops: &[Op], stream_ops: &[StreamOp], events: &[PushEvent]) -> Result<(), AcceptError> {
    if let Some(depth) = envelope.truncated_at {
        return Err(AcceptError::TooDeep { depth });
    }
    // A value at a path of `n` segments is at most `n` plus the payload's nesting deep.
    let longest_path = || ops.iter().map(|op| op.path().segments().len()).max().unwrap_or(0);
    if envelope.nesting_bound.is_some_and(|bound| longest_path().saturating_add(bound) <= MAX_DEPTH) {
        return Ok(());
    }
    let values = ops.iter().filter_map(|op| match op {
        Op::Add { path, value } | Op::Replace { path, value } => Some(path.segments().len() + depth_of(value)),
        _ => None,
    });
    let items = stream_ops.iter().filter_map(|op| match op {
        StreamOp::Insert { item, .. } => Some(depth_of(item)),
        _ => None,
    });
    let payloads = events.iter().map(|event| depth_of(&event.payload));
    match values.chain(items).chain(payloads).max() {
        Some(depth) if depth > MAX_DEPTH => Err(AcceptError::TooDeep { depth }),
        _ => Ok(()),
    }
}

/// Applies one op to `tree`, updating `index` from the stores on its path and inside its old and
/// new values.
fn apply_op(tree: &Node, index: &mut IndexEdit<'_>, op: &Op, touched: &mut Touched) -> Result<Node, PatchError> {
    let segments = op.path().segments();
    if op.path().is_root() {
        let applied = patch::apply_op(tree, op, Mode::Musubi)?;
        index.replace_all(build_index(&applied.tree));
        touched.everything = true;
        return Ok(applied.tree);
    }
    // Ancestors only: the old value at the path itself is `previous` (for an array `add` it is a
    // sibling that merely shifts and stays indexed).
    let old_path = stores_on_path(tree, segments.split_last().map_or(segments, |(_, parent)| parent), &[]);
    let applied = patch::apply_op(tree, op, Mode::Musubi)?;
    let new_path = stores_on_path(&applied.tree, segments, &old_path);
    let removed = applied.previous.as_ref().map(stores_within).unwrap_or_default();
    let added = match op {
        Op::Add { value, .. } | Op::Replace { value, .. } => stores_within(value),
        _ => Vec::new(),
    };
    for PathStore { key, .. } in old_path.into_iter().chain(removed) {
        index.remove(&key);
        touched.nodes.insert(key);
    }
    // The new value's stores, then the path (which ends at the value itself).
    for PathStore { id, key, node } in added.into_iter().chain(new_path) {
        touched.nodes.insert(key.clone());
        index.insert(key, IndexedStore { id, node });
    }
    Ok(applied.tree)
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
