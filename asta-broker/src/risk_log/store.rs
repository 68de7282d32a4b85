//! Where risk snapshots are kept: a small trait and a file store.

use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a snapshot could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotStoreError {
    /// An I/O operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The stored snapshot is larger than a snapshot can be.
    #[error("the snapshot in {path} is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
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

/// The most a snapshot file may hold (64 MiB); a larger file is refused
/// unread rather than filling memory.
pub const MAX_SNAPSHOT_BYTES: u64 = 64 * 1024 * 1024;

/// A snapshot in one file, written atomically (a 0600 temporary file in the
/// same directory, fsync, rename, fsync of the directory).
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

    fn io(
        &self,
        operation: &'static str,
        path: &Path,
        source: std::io::Error,
    ) -> SnapshotStoreError {
        let _ = self;
        SnapshotStoreError::Io {
            operation,
            path: path.to_owned(),
            source,
        }
    }
}

impl SnapshotStore for FileSnapshotStore {
    fn load(&self) -> Result<Option<Vec<u8>>, SnapshotStoreError> {
        let size = match fs::symlink_metadata(&self.path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("reading the metadata of", &self.path, e)),
        };
        if size > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotStoreError::TooLarge {
                path: self.path.clone(),
                size,
                max: MAX_SNAPSHOT_BYTES,
            });
        }
        match fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("reading", &self.path, e)),
        }
    }

    fn save(&self, snapshot: &[u8]) -> Result<(), SnapshotStoreError> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let name = self
            .path
            .file_name()
            .map_or_else(|| "snapshot".into(), |n| n.to_string_lossy().into_owned());
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let result = (|| {
            // A stale temporary from a crash is removed (a link itself, never
            // its target); `create_new` then refuses anything planted since.
            match fs::remove_file(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(self.io("removing the stale", &tmp, e)),
            }
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| self.io("creating", &tmp, e))?;
            file.write_all(snapshot)
                .map_err(|e| self.io("writing", &tmp, e))?;
            file.sync_all().map_err(|e| self.io("syncing", &tmp, e))?;
            fs::rename(&tmp, &self.path).map_err(|e| self.io("renaming over", &self.path, e))?;
            fs::File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.io("syncing the directory", &dir, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}
