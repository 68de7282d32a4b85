//! The crate's error type.

use std::io;
use std::path::PathBuf;

use asta_core::safe_file::SafeFileError;
use asta_core::{ErrorCode, PublicCode};

use crate::verify::Finding;

/// Everything that can go wrong while opening, writing, pruning or verifying
/// an audit trail.
///
/// Messages name the file and what was expected; they never contain record
/// content or key material.
///
/// A caller that gets [`AuditError::Poisoned`] (or sees
/// [`AuditLog::is_poisoned`](crate::AuditLog::is_poisoned)) must stop trading:
/// the trail can no longer promise that what it acknowledges is on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// An I/O operation failed. If it happened while writing, the log is now
    /// poisoned.
    #[error("audit I/O error while {op} {path}: {source}")]
    Io {
        /// What was being done, e.g. `"writing"`.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An earlier write or fsync failed; the log refuses every further append.
    /// The data acknowledged before the failure is on disk; what came after
    /// may not be. Stop trading and have an operator inspect the trail.
    #[error(
        "audit log is poisoned and refuses all appends (stop trading; operator action needed): {reason}"
    )]
    Poisoned {
        /// The failure that poisoned the log.
        reason: String,
    },
    /// The log was closed (its writer stopped) before the request was handled.
    #[error("audit log is closed")]
    Closed,
    /// The directory is already opened for writing by another handle or process.
    #[error("audit directory {path} is locked by another writer")]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// A file or directory has permissions that are too open (or a wrong owner).
    #[error("insecure permissions on {path}: {problem}")]
    InsecurePermissions {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong and what is expected.
        problem: String,
    },
    /// The trail on disk is damaged or has been tampered with somewhere other
    /// than a torn final line, so it cannot be opened for appending (fail
    /// closed), or verification found a bad record.
    #[error("audit trail is damaged or was tampered with: {0}")]
    Tampered(Box<Finding>),
    /// The chain key is unusable (too short, malformed, missing, badly protected).
    #[error("invalid audit chain key: {0}")]
    InvalidKey(String),
    /// A configuration value is out of range.
    #[error("invalid audit configuration: {0}")]
    InvalidConfig(String),
    /// A record is larger than the configured maximum after redaction.
    #[error("audit record of {size} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// The encoded size.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A record's `details` are nested deeper than
    /// [`MAX_DETAILS_DEPTH`](crate::MAX_DETAILS_DEPTH); nothing was written
    /// and the log stays usable.
    #[error(
        "audit record details are nested {depth} levels deep; at most {max} levels are accepted"
    )]
    DetailsTooDeep {
        /// How deep the details go (at least; counting stops past the limit).
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// Text is not a well-formed checkpoint.
    #[error("malformed audit checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// A file in the audit directory does not belong there or is misnamed.
    #[error("unexpected file in audit directory: {0}")]
    UnexpectedFile(PathBuf),
}

impl AuditError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        AuditError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Maps an error of [`asta_core::safe_file`] onto this crate's variants;
    /// `op` labels plain I/O failures.
    pub(crate) fn from_safe_file(op: &'static str, error: SafeFileError) -> Self {
        let insecure =
            |path: PathBuf, problem: String| AuditError::InsecurePermissions { path, problem };
        match error {
            SafeFileError::Io { path, source, .. } => AuditError::io(op, path, source),
            SafeFileError::Locked { path } => AuditError::Locked { path },
            SafeFileError::Symlink { path } | SafeFileError::NotRegularFile { path } => {
                insecure(path, "not a regular file (symlinks are refused)".to_owned())
            }
            SafeFileError::NotDirectory { path } => {
                insecure(path, "not a directory (symlinks are refused)".to_owned())
            }
            SafeFileError::InsecureMode {
                path,
                mode,
                expected,
            } => insecure(
                path,
                format!(
                    "mode {:o} allows group or other access, expected {expected:o}",
                    mode & 0o777
                ),
            ),
            SafeFileError::WrongOwner {
                path,
                owner,
                current,
            } => insecure(path, format!("owned by uid {owner}, expected {current}")),
            other => {
                let path = other.path().to_path_buf();
                AuditError::io(op, path, other.into())
            }
        }
    }

    /// Whether this is [`AuditError::Poisoned`]: a write or fdatasync failed
    /// and the log refuses every further append.
    pub fn is_poisoned(&self) -> bool {
        matches!(self, AuditError::Poisoned { .. })
    }

    /// Whether the log can no longer accept records at all (poisoned or
    /// closed). Trading must stop. (Any failed append of an order intent
    /// must also stop that order: it is not known to be on disk.)
    pub fn halts_trading(&self) -> bool {
        matches!(self, AuditError::Poisoned { .. } | AuditError::Closed)
    }
}

impl PublicCode for AuditError {
    fn public_code(&self) -> ErrorCode {
        match self {
            AuditError::InvalidConfig(_)
            | AuditError::InvalidKey(_)
            | AuditError::MalformedCheckpoint(_)
            | AuditError::DetailsTooDeep { .. } => ErrorCode::InvalidInput,
            AuditError::Poisoned { .. } | AuditError::Closed => ErrorCode::Halted,
            _ => ErrorCode::InternalError,
        }
    }
}
