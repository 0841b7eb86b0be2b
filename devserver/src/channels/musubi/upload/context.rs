//! What the uploads of every page of one server share: the token [`Signer`], the temp
//! [`UploadDir`], the chunk timeout, and the clock tokens are issued and checked with (wall time
//! plus an offset that only `/_test/upload_clock` moves, so tests can age tokens).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::storage::UploadDir;
use super::token::Signer;

/// The chunk timeout when the configuration does not set one.
pub const DEFAULT_CHUNK_TIMEOUT: Duration = Duration::from_millis(10_000);

/// Upload state shared by all pages of one server.
#[derive(Debug)]
pub struct UploadContext {
    /// Signs and checks upload tokens.
    pub signer: Signer,
    /// Where the bytes go.
    pub dir: UploadDir,
    /// The longest gap allowed between chunks on a sub-channel.
    pub chunk_timeout: Duration,
    clock_offset_ms: AtomicU64,
}

impl UploadContext {
    /// A fresh secret and directory, with this chunk timeout.
    pub fn new(chunk_timeout: Duration) -> Self {
        UploadContext { signer: Signer::random(), dir: UploadDir::default(), chunk_timeout, clock_offset_ms: AtomicU64::new(0) }
    }

    /// The token clock: milliseconds since the Unix epoch, plus the test offset.
    pub fn now_ms(&self) -> u64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(wall.as_millis()).unwrap_or(u64::MAX).saturating_add(self.clock_offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the token clock forward by `ms`; returns the total offset.
    pub fn advance_clock(&self, ms: u64) -> u64 {
        self.clock_offset_ms.fetch_add(ms, Ordering::Relaxed).saturating_add(ms)
    }

    /// The chunk timeout in milliseconds (as tokens carry it).
    pub fn chunk_timeout_ms(&self) -> u64 {
        u64::try_from(self.chunk_timeout.as_millis()).unwrap_or(u64::MAX)
    }
}

impl Default for UploadContext {
    fn default() -> Self {
        UploadContext::new(DEFAULT_CHUNK_TIMEOUT)
    }
}
