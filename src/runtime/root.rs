//! One mounted root: its mount request, owners, replica and pending work.

use std::rc::Rc;

use serde_json::Value;

use super::replica::Replica;
use super::store_id::StoreId;
use crate::phoenix::Millis;

/// Identifies one runtime request (connect, mount, unmount, command); its outcome is reported once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The raw number.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What the application asked to mount.
#[derive(Debug, Clone, PartialEq)]
pub struct MountSpec {
    /// Root store module, e.g. `Demo.CounterStore`.
    pub module: String,
    /// Client-chosen root id (non-empty, unique per connection).
    pub id: Rc<str>,
    /// Mount params (an object).
    pub params: Value,
}

/// Where a root stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RootStatus {
    /// The first mount is in flight; nothing to read yet.
    Mounting,
    /// The first mount is in flight and the root shows its last good state from an earlier page
    /// load (see [`crate::runtime::Runtime::mount_cached`]); commands wait or are refused.
    Cached,
    /// Mounted and in sequence.
    Live,
    /// The connection dropped; the last good state stays readable until the remount swaps in fresh
    /// state.
    Stale,
    /// Out of sequence or a bad envelope: unmount + remount in flight; last good state readable.
    Recovering,
    /// The root cannot be mounted (the server refused it, or its state is too deep); its reason
    /// is in [`RootInfo::reason`]. Nothing is retried until it is mounted again; the last good
    /// state, if any, stays readable.
    Failed,
}

impl RootStatus {
    /// `"mounting"`, `"cached"`, `"live"`, `"stale"`, `"recovering"` or `"failed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RootStatus::Mounting => "mounting",
            RootStatus::Cached => "cached",
            RootStatus::Live => "live",
            RootStatus::Stale => "stale",
            RootStatus::Recovering => "recovering",
            RootStatus::Failed => "failed",
        }
    }

    /// True for `Cached`, `Stale`, `Recovering` and `Failed`: the root shows its last good state,
    /// not the server's current one.
    pub fn is_stale(self) -> bool {
        matches!(self, RootStatus::Cached | RootStatus::Stale | RootStatus::Recovering | RootStatus::Failed)
    }
}

/// A summary of one mounted root (for diagnostics panels).
#[derive(Debug, Clone, PartialEq)]
pub struct RootInfo {
    /// Root id.
    pub id: Rc<str>,
    /// Root store module.
    pub module: String,
    /// Where it stands.
    pub status: RootStatus,
    /// The replica's version (0 before the initial envelope).
    pub version: u64,
    /// How many owners hold it.
    pub owners: u32,
    /// Remount attempts since it was last live (0 while live).
    pub attempt: u32,
    /// When the next remount attempt runs, if one is scheduled.
    pub next_retry_at: Option<Millis>,
    /// Why it failed or what its last remount attempt ran into.
    pub reason: Option<String>,
    /// Commands waiting in its outbox.
    pub queued: usize,
}

/// A command in flight.
#[derive(Debug, Clone)]
pub(crate) struct PendingCommand {
    pub(crate) request: RequestId,
    pub(crate) name: String,
    pub(crate) store_id: StoreId,
}

/// One root of a connection.
#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) spec: MountSpec,
    pub(crate) owners: u32,
    pub(crate) status: RootStatus,
    pub(crate) replica: Replica,
    /// Mount requests resolved by the next accepted initial envelope.
    pub(crate) waiters: Vec<RequestId>,
    /// Renewed (runtime-wide unique) at every (re)mount; replies for another generation are ignored.
    pub(crate) generation: u64,
    /// A mount was pushed and its initial envelope is awaited until this deadline.
    pub(crate) initial_deadline: Option<Millis>,
    /// True once a mount push for the current generation went out.
    pub(crate) mount_sent: bool,
    /// A `root already mounted` reply was answered with unmount + mount once already.
    pub(crate) retried_already_mounted: bool,
    /// Remount attempts that failed since the root was last live.
    pub(crate) attempt: u32,
    /// When the next remount runs (after a remount that timed out).
    pub(crate) retry_at: Option<Millis>,
    /// Why the root failed, or what its last attempt ran into.
    pub(crate) reason: Option<String>,
    /// Its own channel (per-root wire only).
    pub(crate) channel: Option<crate::phoenix::ChannelId>,
    /// Commands waiting for it to be live (see the outbox).
    pub(crate) outbox: super::machine::Outbox,
}

impl Root {
    pub(crate) fn new(spec: MountSpec, generation: u64) -> Self {
        Root {
            spec,
            owners: 1,
            status: RootStatus::Mounting,
            replica: Replica::default(),
            waiters: Vec::new(),
            generation,
            initial_deadline: None,
            mount_sent: false,
            retried_already_mounted: false,
            attempt: 0,
            retry_at: None,
            reason: None,
            channel: None,
            outbox: Default::default(),
        }
    }

    /// Its summary.
    pub(crate) fn info(&self, id: &Rc<str>) -> RootInfo {
        RootInfo {
            id: id.clone(),
            module: self.spec.module.clone(),
            status: self.status,
            version: self.replica.version(),
            owners: self.owners,
            attempt: self.attempt,
            next_retry_at: self.retry_at,
            reason: self.reason.clone(),
            queued: self.outbox.len(),
        }
    }

    /// True when the root has had state (so a remount keeps it readable as stale).
    pub(crate) fn has_state(&self) -> bool {
        !self.replica.index().is_empty() || self.status != RootStatus::Mounting
    }
}
