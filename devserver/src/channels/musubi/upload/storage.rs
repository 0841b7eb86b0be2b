//! Where uploaded bytes live: one temporary directory per server (created on first use, removed
//! with its contents when the server's state is dropped, i.e. when the server exits), one file
//! per entry named after its ref. Also the SHA-256 the test endpoint reports.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

/// The server's upload directory.
#[derive(Debug, Default)]
pub struct UploadDir {
    dir: Mutex<Option<TempDir>>,
}

impl UploadDir {
    /// The file of `entry_ref` (the directory is created if needed); `Err` for a ref that is not
    /// a safe file name or when the directory cannot be created.
    pub fn path_for(&self, entry_ref: &str) -> io::Result<PathBuf> {
        if !is_safe_ref(entry_ref) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not an entry ref"));
        }
        let mut dir = self.dir.lock().unwrap_or_else(PoisonError::into_inner);
        if dir.is_none() {
            *dir = Some(tempfile::Builder::new().prefix("musubi-devserver-uploads-").tempdir()?);
        }
        match dir.as_ref() {
            Some(dir) => Ok(dir.path().join(entry_ref)),
            None => Err(io::Error::other("no upload directory")),
        }
    }

    /// The file of `entry_ref` if it exists.
    pub fn existing(&self, entry_ref: &str) -> Option<PathBuf> {
        if !is_safe_ref(entry_ref) {
            return None;
        }
        let dir = self.dir.lock().unwrap_or_else(PoisonError::into_inner);
        let path = dir.as_ref()?.path().join(entry_ref);
        path.is_file().then_some(path)
    }
}

/// True for refs made of URL-safe base64 characters only (what entry refs are), so a ref can
/// never name a path outside the directory.
pub fn is_safe_ref(entry_ref: &str) -> bool {
    !entry_ref.is_empty() && entry_ref.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
}

/// Deletes a file, ignoring a file that is already gone.
pub fn remove(path: &Path) {
    if let Err(error) = std::fs::remove_file(path)
        && error.kind() != io::ErrorKind::NotFound
    {
        eprintln!("devserver: cannot delete {}: {error}", path.display());
    }
}

/// The size and the SHA-256 (lower-case hex) of a file's contents.
pub fn sha256(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(buffer.get(..read).unwrap_or_default());
        size += read as u64;
    }
    let hex = hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
    Ok((size, hex))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn files_live_in_one_directory_that_goes_away() {
        let dir = UploadDir::default();
        assert!(dir.path_for("../x").is_err());
        assert!(dir.path_for("").is_err());
        let path = dir.path_for("u_abc-DEF_1").unwrap();
        assert_eq!(dir.existing("u_abc-DEF_1"), None);
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(dir.existing("u_abc-DEF_1"), Some(path.clone()));
        assert_eq!(sha256(&path).unwrap(), (3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_owned()));
        remove(&path);
        remove(&path);
        assert_eq!(dir.existing("u_abc-DEF_1"), None);
        let root = path.parent().unwrap().to_owned();
        drop(dir);
        assert!(!root.exists());
    }
}
