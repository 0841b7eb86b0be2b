//! An upload as a store declares it (PROTOCOL.md §3.1): its name, the accepted file types and the
//! limits, the `config` object the wire carries, and the accept check.
//!
//! | Option | Wire key | Default |
//! |---|---|---|
//! | accept | `accept` | required: `"any"` or a list of extensions such as `".png"` |
//! | max entries | `max_entries` | [`DEFAULT_MAX_ENTRIES`] |
//! | max file size | `max_file_size` | [`DEFAULT_MAX_FILE_SIZE`] bytes |
//! | chunk size | `chunk_size` | [`DEFAULT_CHUNK_SIZE`] bytes |
//!
//! The chunk timeout is the server's (`ServerConfig::upload_chunk_timeout`), not per upload.

use serde_json::{Value, json};

/// Entries tracked at once when a declaration does not say.
pub const DEFAULT_MAX_ENTRIES: usize = 1;

/// Bytes per entry when a declaration does not say.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 8_000_000;

/// Bytes per chunk frame when a declaration does not say.
pub const DEFAULT_CHUNK_SIZE: u64 = 64_000;

/// Which files an upload accepts (checked at preflight only, by file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Every file (`"any"`).
    Any,
    /// Files whose extension (with the dot) is one of these, compared case-insensitively.
    Extensions(&'static [&'static str]),
}

/// One declared upload of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadSpec {
    /// The upload's name: the marker's key in the store node and `name` in upload events.
    pub name: &'static str,
    /// Accepted file types.
    pub accept: Accept,
    /// Entries of this upload the page holds at once (accepted earlier ones count until removed).
    pub max_entries: usize,
    /// The largest file, in bytes.
    pub max_file_size: u64,
    /// The largest chunk frame, in bytes.
    pub chunk_size: u64,
}

impl UploadSpec {
    /// An upload with the default limits.
    pub const fn new(name: &'static str, accept: Accept) -> Self {
        UploadSpec { name, accept, max_entries: DEFAULT_MAX_ENTRIES, max_file_size: DEFAULT_MAX_FILE_SIZE, chunk_size: DEFAULT_CHUNK_SIZE }
    }

    /// `{"accept", "max_entries", "max_file_size", "chunk_size"}` as in preflight replies and
    /// `config` ops.
    pub fn config(&self) -> Value {
        let accept = match self.accept {
            Accept::Any => json!("any"),
            Accept::Extensions(extensions) => json!(extensions),
        };
        json!({
            "accept": accept,
            "max_entries": self.max_entries,
            "max_file_size": self.max_file_size,
            "chunk_size": self.chunk_size,
        })
    }

    /// The accept check: `"any"` passes; otherwise the name's extension must be listed.
    pub fn accepts(&self, file_name: &str) -> bool {
        match self.accept {
            Accept::Any => true,
            Accept::Extensions(extensions) => {
                extension(file_name).is_some_and(|ext| extensions.iter().any(|allowed| allowed.eq_ignore_ascii_case(ext)))
            }
        }
    }
}

/// The extension of a file name: from the last `.` of its base name on, dot included; a dot-file
/// (`.png`) or a name without a dot has none.
pub fn extension(file_name: &str) -> Option<&str> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rfind('.') {
        Some(0) | None => None,
        Some(dot) => base.get(dot..),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    const AVATAR: UploadSpec = UploadSpec { max_entries: 2, ..UploadSpec::new("avatar", Accept::Extensions(&[".png", ".jpg"])) };

    #[test]
    fn extensions_follow_the_last_dot_of_the_base_name() {
        assert_eq!(extension("me.png"), Some(".png"));
        assert_eq!(extension("a.tar.gz"), Some(".gz"));
        assert_eq!(extension("dir.d/file"), None);
        assert_eq!(extension(".png"), None);
        assert_eq!(extension("noext"), None);
        assert_eq!(extension("trailing."), Some("."));
    }

    #[test]
    fn accept_is_case_insensitive_and_any_passes() {
        assert!(AVATAR.accepts("ME.PNG"));
        assert!(AVATAR.accepts("x.jpg"));
        assert!(!AVATAR.accepts("x.gif"));
        assert!(!AVATAR.accepts(".png"));
        assert!(UploadSpec::new("doc", Accept::Any).accepts("whatever"));
    }

    #[test]
    fn config_has_the_wire_keys() {
        assert_eq!(
            AVATAR.config(),
            json!({"accept": [".png", ".jpg"], "max_entries": 2, "max_file_size": 8_000_000, "chunk_size": 64_000})
        );
        assert_eq!(UploadSpec::new("doc", Accept::Any).config()["accept"], "any");
    }
}
