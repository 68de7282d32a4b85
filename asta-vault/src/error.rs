//! The vault's error type: what went wrong and what the caller can do about it.
//!
//! No variant carries a secret value: errors name entries, paths, versions and
//! ages, never the content of an entry, a key or a passphrase.

use std::io;
use std::path::PathBuf;

use asta_core::{ErrorCode, PublicCode};

/// Everything that can go wrong with a vault, grouped by what the caller can do.
///
/// - **Fix the input**: [`VaultError::NotFound`], [`VaultError::EntryExists`],
///   [`VaultError::InvalidName`], [`VaultError::InvalidInput`],
///   [`VaultError::WrongKind`].
/// - **Fix the key or the permissions**: [`VaultError::WrongKey`],
///   [`VaultError::KeySourceMismatch`], [`VaultError::KeyUnavailable`],
///   [`VaultError::InsecurePermissions`], [`VaultError::WrongOwner`],
///   [`VaultError::NotRegularFile`].
/// - **Policy refused**: [`VaultError::Expired`], [`VaultError::ScopeDenied`].
/// - **The file is damaged or was tampered with; restore from backup**:
///   [`VaultError::NotAVault`], [`VaultError::NewerVersion`],
///   [`VaultError::Truncated`], [`VaultError::Corrupted`],
///   [`VaultError::Tampered`], [`VaultError::KdfParamsOutOfBounds`].
/// - **Try later or reopen**: [`VaultError::Locked`], [`VaultError::Conflict`].
/// - **Environment failure**: [`VaultError::Io`], [`VaultError::Internal`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No entry with this name exists.
    #[error("no vault entry named `{name}`")]
    NotFound {
        /// The entry name that was asked for.
        name: String,
    },
    /// An entry with this name already exists and the operation would replace it.
    #[error("vault entry `{name}` already exists; use rotate to replace it")]
    EntryExists {
        /// The entry name.
        name: String,
    },
    /// The vault file already exists; `create` never overwrites.
    #[error("vault file {path} already exists; open it instead of creating it")]
    VaultExists {
        /// The vault path.
        path: PathBuf,
    },
    /// An entry name or scope does not follow the naming rules.
    #[error("invalid {what} `{value}`: {rule}")]
    InvalidName {
        /// What kind of name (entry name, scope).
        what: &'static str,
        /// The offending text, truncated.
        value: String,
        /// The rule that was broken.
        rule: &'static str,
    },
    /// An argument was out of range or malformed (never includes a secret).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The entry exists but is of another kind (e.g. `get` on a TOTP secret).
    #[error("vault entry `{name}` is a {actual} entry, not a {expected} entry")]
    WrongKind {
        /// The entry name.
        name: String,
        /// The kind the operation needs.
        expected: &'static str,
        /// The kind the entry has.
        actual: &'static str,
    },

    /// The key or passphrase does not unlock this vault.
    #[error("wrong key or passphrase for vault {path}: the data key could not be unwrapped")]
    WrongKey {
        /// The vault path.
        path: PathBuf,
    },
    /// The vault is protected by another kind of key than the one given.
    #[error("vault {path} is protected by {expected}, but {given} was given")]
    KeySourceMismatch {
        /// The vault path.
        path: PathBuf,
        /// What the vault header says protects it.
        expected: &'static str,
        /// What the caller supplied.
        given: &'static str,
    },
    /// The key could not be obtained from its source (missing variable,
    /// malformed base64, wrong length). The message never includes the value.
    #[error("master key unavailable from {source_name}: {reason}")]
    KeyUnavailable {
        /// Where the key was looked for (a variable name or a path).
        source_name: String,
        /// Why it could not be used.
        reason: String,
    },
    /// A key file or vault file is readable or writable by other users.
    #[error("{path} has mode {mode:04o}, which lets other users read it; it must be 0600 or stricter. Fix: chmod 600 '{path}'", path = path.display())]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file or vault file is owned by another user.
    #[error("{path} is owned by uid {owner}, not by the current user (uid {current}). Fix: chown {current} '{path}' (or create your own file)", path = path.display())]
    WrongOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        current: u32,
    },
    /// A key file or vault path is a symlink, directory or device.
    #[error("{path} is not a regular file (symlinks, directories and devices are refused). Fix: point to the real file", path = path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },

    /// An API key or secret is past its expiry. Names the key and its age, never its value.
    #[error(
        "vault entry `{name}` expired {expired_days} day(s) ago (it is {age_days} day(s) old); rotate it"
    )]
    Expired {
        /// The entry name.
        name: String,
        /// Days since the key was created (or last rotated).
        age_days: i64,
        /// Days since it expired.
        expired_days: i64,
    },
    /// An API key was asked for with a scope it does not carry.
    #[error("API key `{name}` does not carry scope `{scope}` (it has: {granted})")]
    ScopeDenied {
        /// The entry name.
        name: String,
        /// The scope that was asked for.
        scope: String,
        /// The scopes it carries, comma-separated.
        granted: String,
    },

    /// The file does not start with the vault magic string.
    #[error("{path} is not an ASTA vault file (magic string missing)", path = path.display())]
    NotAVault {
        /// The path.
        path: PathBuf,
    },
    /// The file was written by a newer version of this crate.
    #[error("vault {path} has format version {found}, newer than the supported version {supported}; upgrade asta-vault", path = path.display())]
    NewerVersion {
        /// The path.
        path: PathBuf,
        /// The version in the file.
        found: u16,
        /// The newest version this build reads.
        supported: u16,
    },
    /// The file ends before its declared length.
    #[error("vault {path} is truncated: {actual} bytes present, at least {expected} expected; restore it from a backup", path = path.display())]
    Truncated {
        /// The path.
        path: PathBuf,
        /// Bytes the structure needs.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The file's integrity checksum or structure is wrong (a flipped byte, trailing data, bad JSON).
    #[error("vault {path} is corrupted ({detail}); restore it from a backup", path = path.display())]
    Corrupted {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The checksum is intact but the keyed MAC or an entry's authentication
    /// failed: the file was deliberately modified (entries added, removed,
    /// reordered, swapped or rolled back).
    #[error("vault {path} failed authentication ({detail}): it was modified outside asta-vault; restore it from a backup", path = path.display())]
    Tampered {
        /// The path.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The header asks for Argon2id costs beyond the enforced upper bounds.
    #[error("vault {path} asks for Argon2id parameters beyond the allowed bounds ({detail}); refusing to run them", path = path.display())]
    KdfParamsOutOfBounds {
        /// The path.
        path: PathBuf,
        /// Which bound was exceeded.
        detail: String,
    },

    /// Another process holds the vault's write lock; try again shortly.
    #[error("vault {path} is locked by another writer; try again", path = path.display())]
    Locked {
        /// The vault path.
        path: PathBuf,
    },
    /// The vault on disk changed since it was opened; reopen it and redo the change.
    #[error("vault {path} was changed by another writer since it was opened (generation {expected} expected, {found} found); reopen it", path = path.display())]
    Conflict {
        /// The vault path.
        path: PathBuf,
        /// The generation this handle loaded.
        expected: u64,
        /// The generation on disk.
        found: u64,
    },

    /// An I/O operation failed.
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A client key with this name already exists.
    #[error("client key `{name}` already exists; rotate it, or issue under another name")]
    ClientKeyExists {
        /// The client key's name.
        name: String,
    },
    /// No client key has this name.
    #[error("no client key named `{name}`")]
    ClientKeyNotFound {
        /// The client key's name.
        name: String,
    },
    /// The client key was revoked; revocation is final.
    #[error(
        "client key `{name}` is revoked, and revocation is final; issue a key under a new name"
    )]
    ClientKeyRevoked {
        /// The client key's name.
        name: String,
    },
    /// The system random generator or a cryptographic primitive failed.
    #[error("internal cryptographic failure: {0}")]
    Internal(&'static str),
}

impl VaultError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        VaultError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupted(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        VaultError::Corrupted {
            path: path.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn tampered(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        VaultError::Tampered {
            path: path.into(),
            detail: detail.into(),
        }
    }

    /// `true` when the file itself is damaged or was modified (restore from backup).
    pub fn is_integrity_failure(&self) -> bool {
        matches!(
            self,
            VaultError::NotAVault { .. }
                | VaultError::Truncated { .. }
                | VaultError::Corrupted { .. }
                | VaultError::Tampered { .. }
                | VaultError::KdfParamsOutOfBounds { .. }
        )
    }

    /// `true` when retrying later (or after reopening) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            VaultError::Locked { .. } | VaultError::Conflict { .. }
        )
    }
}

impl PublicCode for VaultError {
    fn public_code(&self) -> ErrorCode {
        match self {
            VaultError::NotFound { .. }
            | VaultError::EntryExists { .. }
            | VaultError::VaultExists { .. }
            | VaultError::InvalidName { .. }
            | VaultError::InvalidInput(_)
            | VaultError::WrongKind { .. }
            | VaultError::ClientKeyExists { .. }
            | VaultError::ClientKeyNotFound { .. } => ErrorCode::InvalidInput,
            VaultError::WrongKey { .. }
            | VaultError::KeySourceMismatch { .. }
            | VaultError::KeyUnavailable { .. }
            | VaultError::InsecurePermissions { .. }
            | VaultError::WrongOwner { .. }
            | VaultError::NotRegularFile { .. }
            | VaultError::Expired { .. }
            | VaultError::ScopeDenied { .. }
            | VaultError::ClientKeyRevoked { .. } => ErrorCode::PermissionDenied,
            VaultError::Locked { .. } => ErrorCode::RateLimited,
            VaultError::NotAVault { .. }
            | VaultError::NewerVersion { .. }
            | VaultError::Truncated { .. }
            | VaultError::Corrupted { .. }
            | VaultError::Tampered { .. }
            | VaultError::KdfParamsOutOfBounds { .. }
            | VaultError::Conflict { .. }
            | VaultError::Io { .. }
            | VaultError::Internal(_) => ErrorCode::InternalError,
        }
    }
}

/// Truncates untrusted text for an error message (names are not secrets, but
/// they may be long or hostile).
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = text
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal_key::SealError;
    use crate::totp::TotpError;

    #[test]
    fn public_codes_follow_what_the_caller_can_do() {
        let path = PathBuf::from("/v");
        assert_eq!(
            VaultError::WrongKey { path: path.clone() }.public_code(),
            ErrorCode::PermissionDenied
        );
        assert_eq!(
            VaultError::NotFound { name: "x".into() }.public_code(),
            ErrorCode::InvalidInput
        );
        assert_eq!(
            VaultError::Locked { path: path.clone() }.public_code(),
            ErrorCode::RateLimited
        );
        let corrupted = VaultError::corrupted(&path, "x");
        assert!(corrupted.is_integrity_failure());
        assert_eq!(corrupted.public_code(), ErrorCode::InternalError);
        assert_eq!(
            TotpError::Throttled {
                retry_after_secs: 3
            }
            .public_code(),
            ErrorCode::RateLimited
        );
        assert_eq!(
            TotpError::Replayed.public_code(),
            ErrorCode::PermissionDenied
        );
        assert_eq!(
            SealError::WrongKey.public_code(),
            ErrorCode::PermissionDenied
        );
    }

    #[test]
    fn public_types_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::Vault>();
        assert_send_sync::<VaultError>();
        assert_send_sync::<TotpError>();
        assert_send_sync::<SealError>();
        assert_send_sync::<crate::FieldSealer>();
    }

    #[test]
    fn clip_truncates_and_neutralises_control_characters() {
        assert_eq!(clip("a\nb"), "a?b");
        assert_eq!(clip(&"x".repeat(100)).chars().count(), 65);
    }
}
