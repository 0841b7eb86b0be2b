//! Server configuration, independent of how it was obtained (CLI, tests).

use std::path::PathBuf;
use std::time::Duration;

/// Which Musubi wire modes the `musubi:*` topics speak (`--wire`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum WireMode {
    /// Musubi 0.6.1 only: every `musubi:*` topic is the connection channel.
    Connection,
    /// Musubi 0.12+ only: `musubi:connection:<module>:<id>` topics are root channels, any other
    /// `musubi:*` join is an unmatched topic.
    PerRoot,
    /// Both: `musubi:connection:<module>:<id>` topics are root channels, every other `musubi:*`
    /// topic is the connection channel.
    #[default]
    Both,
}

/// Everything that changes how the server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// A socket that receives no frame at all for this long is dropped (Phoenix default: 60 s).
    pub idle_timeout: Duration,
    /// Mount the fault-injection endpoints under `/_test/` (off by default).
    pub test_endpoints: bool,
    /// Serve this directory at `/` (with `index.html` for directories), e.g. a demo page.
    pub static_dir: Option<PathBuf>,
    /// The Musubi wire modes spoken on `musubi:*` topics (default: both).
    pub wire: WireMode,
    /// The longest gap between chunks on an upload sub-channel before the entry fails with
    /// `chunk_timeout` (PROTOCOL.md §3.4; default 10 s).
    pub upload_chunk_timeout: Duration,
}

impl ServerConfig {
    /// The Phoenix default idle timeout.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_millis(60_000);

    /// Musubi's default chunk timeout.
    pub const DEFAULT_UPLOAD_CHUNK_TIMEOUT: Duration = Duration::from_millis(10_000);
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            test_endpoints: false,
            static_dir: None,
            wire: WireMode::default(),
            upload_chunk_timeout: Self::DEFAULT_UPLOAD_CHUNK_TIMEOUT,
        }
    }
}
