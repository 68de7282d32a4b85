//! The halt marker: a file in the data directory that every guard checks
//! before admitting an order. `asta kill` writes it when the session that
//! owns the account holds the audit lock but does not answer (a hung or
//! stopped process): when that process resumes, it refuses to trade.
//! Only an audited, TOTP-authorized reset ([`Guard::reset`](crate::Guard::reset))
//! removes it.

use std::io::Read;
use std::path::{Path, PathBuf};

use asta_core::safe_file;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The largest marker file read back (it holds a few short fields).
const MAX_MARKER_BYTES: u64 = 16 * 1024;

/// The durable "do not trade" marker at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaltMarker {
    path: PathBuf,
}

/// What a halt marker records: who wrote it, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct MarkerRecord {
    /// Why (the operator's reason).
    pub reason: String,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The uid that wrote it.
    pub uid: u32,
    /// That uid's user name.
    pub user: String,
}

impl MarkerRecord {
    /// A record written now by `uid`/`user` for `reason`.
    pub fn new(reason: &str, at: DateTime<Utc>, uid: u32, user: &str) -> Self {
        Self {
            reason: crate::error::sanitize_text(reason, 200),
            at,
            uid,
            user: user.to_owned(),
        }
    }
}

/// Why a halt marker could not be written, read or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarkerError {
    /// A file operation failed (the path and cause; never a secret).
    #[error("halt marker {path}: {detail}")]
    Io {
        /// The marker or its directory.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The marker exists but is not a marker this code wrote.
    #[error("halt marker {path} is unreadable: {detail}; it still halts trading")]
    Unreadable {
        /// The marker.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl HaltMarker {
    /// The marker at `path` (nothing is touched).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether trading must stop because of the marker: one `lstat`.
    ///
    /// Fails closed: anything at the path (a file, a link, a directory)
    /// counts, and so does any error other than "not found" (an unreadable
    /// directory cannot prove the marker absent).
    pub fn is_present(&self) -> bool {
        match std::fs::symlink_metadata(&self.path) {
            Ok(_) => true,
            Err(error) => error.kind() != std::io::ErrorKind::NotFound,
        }
    }

    /// Writes the marker durably (temp file, fsync, rename, fsync of the
    /// directory; mode 0600), creating its directory with mode 0700 when
    /// missing and refusing one that is not private. Replaces an older
    /// marker: the newest reason wins, and trading stays halted either way.
    pub fn write(&self, record: &MarkerRecord) -> Result<(), MarkerError> {
        let dir = safe_file::parent_dir(&self.path);
        safe_file::ensure_private_dir(dir).map_err(|e| self.io(e.to_string()))?;
        let mut bytes = serde_json::to_vec_pretty(record).map_err(|e| self.io(e.to_string()))?;
        bytes.push(b'\n');
        safe_file::write_atomic(&self.path, &bytes, 0o600).map_err(|e| self.io(e.to_string()))
    }

    /// The marker's record, `None` when there is no marker.
    pub fn read(&self) -> Result<Option<MarkerRecord>, MarkerError> {
        let file = match safe_file::open_no_follow(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(MarkerError::Unreadable {
                    path: self.path.clone(),
                    detail: e.to_string(),
                });
            }
        };
        let mut bytes = Vec::new();
        file.take(MAX_MARKER_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(e.to_string()))?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| MarkerError::Unreadable {
                path: self.path.clone(),
                detail: format!("not a marker record ({})", e.classify_text()),
            })
    }

    /// Removes the marker durably; returns whether there was one. Only
    /// the guard's TOTP-authorized reset (and the CLI's reset when no
    /// session runs) call it, after the reset was authorized and recorded.
    pub fn remove(&self) -> Result<bool, MarkerError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {
                safe_file::sync_parent(&self.path).map_err(|e| self.io(e.to_string()))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io(e.to_string())),
        }
    }

    fn io(&self, detail: String) -> MarkerError {
        MarkerError::Io {
            path: self.path.clone(),
            detail,
        }
    }
}

/// serde_json's category as text (its message could quote file content).
trait ClassifyText {
    fn classify_text(&self) -> &'static str;
}

impl ClassifyText for serde_json::Error {
    fn classify_text(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn write_read_remove_and_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        let marker = HaltMarker::new(dir.path().join("run/HALTED"));
        assert!(!marker.is_present());
        assert_eq!(marker.read().unwrap(), None);
        let record = MarkerRecord::new("hung session", Utc::now(), 1000, "alice");
        marker.write(&record).unwrap();
        assert!(marker.is_present());
        assert_eq!(marker.read().unwrap(), Some(record));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(marker.path()), 0o600);
        assert_eq!(mode(&dir.path().join("run")), 0o700);
        assert!(marker.remove().unwrap());
        assert!(!marker.is_present());
        assert!(!marker.remove().unwrap());

        // Garbage still halts, and reads as unreadable.
        std::fs::write(marker.path(), b"{not a marker").unwrap();
        assert!(marker.is_present());
        assert!(matches!(marker.read(), Err(MarkerError::Unreadable { .. })));
        // So does a directory in its place.
        std::fs::remove_file(marker.path()).unwrap();
        std::fs::create_dir(marker.path()).unwrap();
        assert!(marker.is_present());
        // A marker under a regular file cannot be proven absent.
        let under_file = HaltMarker::new(dir.path().join("run/HALTED/x"));
        std::fs::remove_dir(marker.path()).unwrap();
        std::fs::write(marker.path(), b"").unwrap();
        assert!(under_file.is_present());
    }

    #[test]
    fn a_shared_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
        let marker = HaltMarker::new(run.join("HALTED"));
        let error = marker
            .write(&MarkerRecord::new("x", Utc::now(), 1, "a"))
            .unwrap_err();
        assert!(error.to_string().contains("777"), "{error}");
    }
}
