//! Where risk snapshots are kept: a small trait and a file store.

use std::fmt;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use asta_core::safe_file::{self, SafeFileError};

/// Why a snapshot could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotStoreError {
    /// A file operation failed (the error names the path and the operation).
    #[error(transparent)]
    File(#[from] SafeFileError),
    /// Reading the stored snapshot failed.
    #[error("reading {path}: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The stored snapshot is larger than a snapshot can be.
    #[error("the snapshot in {path} is over the limit of {max} bytes", path = path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
}

/// Where the guard keeps the risk engine's newest snapshot.
///
/// A snapshot is only a shortcut: the audit trail holds every risk input,
/// and a snapshot is used only when the trail confirms its digest. A store
/// that loses, damages or rolls back its snapshot therefore costs a longer
/// replay, never a reset of the day's loss, a lifted halt or an emptied
/// rate window. Keep it small: one value, replaced whole. A database can
/// implement it (one row per account) as well as a file.
pub trait SnapshotStore: Send + Sync + fmt::Debug {
    /// The newest saved snapshot, or `None` when none was ever saved.
    fn load(&self) -> Result<Option<Vec<u8>>, SnapshotStoreError>;

    /// Replaces the saved snapshot with `snapshot`, atomically: a crash
    /// leaves the old or the new one.
    fn save(&self, snapshot: &[u8]) -> Result<(), SnapshotStoreError>;
}

/// The most a snapshot may hold (64 MiB); a larger stored one is refused
/// rather than read into memory.
pub const MAX_SNAPSHOT_BYTES: u64 = 64 * 1024 * 1024;

/// A snapshot in one private file (mode 0600), replaced atomically through
/// [`asta_core::safe_file::write_atomic`]; a symbolic link at the path is
/// refused.
#[derive(Debug, Clone)]
pub struct FileSnapshotStore {
    path: PathBuf,
}

impl FileSnapshotStore {
    /// A store at `path` (its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SnapshotStore for FileSnapshotStore {
    /// Also removes the temporary files of saves a crash interrupted: the
    /// store is loaded once, when a session that owns the account (and its
    /// audit trail's lock) starts, before it saves anything.
    fn load(&self) -> Result<Option<Vec<u8>>, SnapshotStoreError> {
        if let Err(error) = safe_file::remove_stale_temps(&self.path) {
            tracing::warn!(target: "asta_broker::risk_log", %error, "stale snapshot temporaries not removed");
        }
        let file = match safe_file::open_no_follow(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::new();
        file.take(MAX_SNAPSHOT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| SnapshotStoreError::Read {
                path: self.path.clone(),
                source,
            })?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotStoreError::TooLarge {
                path: self.path.clone(),
                max: MAX_SNAPSHOT_BYTES,
            });
        }
        Ok(Some(bytes))
    }

    fn save(&self, snapshot: &[u8]) -> Result<(), SnapshotStoreError> {
        safe_file::write_atomic(&self.path, snapshot, 0o600)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_privately_replaces_whole_and_refuses_links() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = FileSnapshotStore::new(tmp.path().join("risk.snapshot"));
        assert!(matches!(store.load(), Ok(None)));
        store.save(b"one").unwrap_or_else(|e| panic!("{e}"));
        store.save(b"two").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.load().ok().flatten().as_deref(), Some(&b"two"[..]));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path())
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        // A save killed mid-write leaves a temporary; the next load removes it.
        let stale = tmp.path().join(".risk.snapshot.tmp-0123456789abcdef");
        std::fs::write(&stale, b"half").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.load().ok().flatten().as_deref(), Some(&b"two"[..]));
        assert!(!stale.exists(), "the stale temporary is removed");
        let link = FileSnapshotStore::new(tmp.path().join("link"));
        std::os::unix::fs::symlink(store.path(), link.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(link.load().is_err(), "a link is refused");
    }
}
