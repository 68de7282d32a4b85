//! The symmetric key used for field and stream sealing, and the sealing errors.

use std::fmt;
use std::io;

use asta_core::{ErrorCode, PublicCode};
use zeroize::Zeroizing;

use crate::crypto::{self, KEY_LEN};

/// A 256-bit sealing key, wiped on drop; `Debug` prints no bytes.
///
/// Keep it in the vault ([`crate::Vault::create_seal_key`] /
/// [`crate::Vault::seal_key`]) so that sealed data is only as exposed as the
/// vault itself.
#[derive(Clone)]
pub struct SealKey(Zeroizing<[u8; KEY_LEN]>);

impl SealKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, SealError> {
        crypto::random_key()
            .map(Self)
            .map_err(|_| SealError::Internal("random generator failed"))
    }

    /// A key from 32 bytes.
    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self(bytes)
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(array)))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

/// Why sealing or opening a field or stream failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The sealed field text is not in the sealed format (wrong prefix, bad
    /// base64, too short or too long).
    #[error("sealed value is malformed: {0}")]
    Malformed(&'static str),
    /// A sealed field failed authentication: wrong key, modified, or copied
    /// from another table, column or row.
    #[error(
        "sealed value failed authentication for {table}.{column} row {row}: wrong key, modified, or moved from another row or column"
    )]
    FieldAuthentication {
        /// The table it was opened for.
        table: String,
        /// The column it was opened for.
        column: String,
        /// The row id it was opened for.
        row: String,
    },
    /// The stream does not start with the sealed-stream magic string.
    #[error("not an ASTA sealed stream (magic string missing)")]
    NotSealed,
    /// The stream was written by a newer version of this crate.
    #[error(
        "sealed stream has format version {found}, newer than the supported {supported}; upgrade asta-vault"
    )]
    NewerVersion {
        /// Version in the stream.
        found: u16,
        /// Newest supported version.
        supported: u16,
    },
    /// The stream header is malformed or has out-of-bounds parameters.
    #[error("sealed stream header is invalid: {0}")]
    BadHeader(String),
    /// The stream is sealed with a passphrase but a key was given, or the reverse.
    #[error("sealed stream is protected by {expected}, but {given} was given")]
    WrongKeyKind {
        /// What the stream needs.
        expected: &'static str,
        /// What was given.
        given: &'static str,
    },
    /// The header's authentication tag does not match: wrong key or passphrase
    /// (or a corrupted header).
    #[error("wrong key or passphrase for this sealed stream (or its header is corrupted)")]
    WrongKey,
    /// A chunk failed authentication: modified, reordered, swapped with
    /// another stream's chunk, or cut short.
    #[error(
        "sealed stream chunk {index} failed authentication: the stream was modified, reordered or truncated"
    )]
    ChunkAuthentication {
        /// Zero-based chunk index.
        index: u64,
    },
    /// The stream ends before its final chunk.
    #[error("sealed stream is truncated: it ends after chunk {chunks} without a final chunk")]
    Truncated {
        /// Chunks read before the end.
        chunks: u64,
    },
    /// Data follows the final chunk.
    #[error("sealed stream has data after its final chunk")]
    TrailingData,
    /// Reading or writing the stream failed.
    #[error("sealed stream I/O failed: {0}")]
    Io(#[from] io::Error),
    /// A random source or primitive failed.
    #[error("internal cryptographic failure: {0}")]
    Internal(&'static str),
}

impl PublicCode for SealError {
    fn public_code(&self) -> ErrorCode {
        match self {
            SealError::WrongKey | SealError::WrongKeyKind { .. } => ErrorCode::PermissionDenied,
            SealError::Malformed(_) => ErrorCode::InvalidInput,
            _ => ErrorCode::InternalError,
        }
    }
}
