//! Snapshots of the whole risk state, with a canonical encoding and a digest.

use serde::{Deserialize, Serialize};

use crate::error::SnapshotError;
use crate::state::RiskState;

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// The engine's whole persisted state and the journal seq it covers.
///
/// A snapshot taken after the entry with seq `n` has `covers_seq() == n`:
/// [`RiskEngine::restore`](crate::RiskEngine::restore) replays only the
/// entries after `n` on top of it.
///
/// # Encoding
///
/// [`to_bytes`](Self::to_bytes) is canonical: one JSON object
/// `{"format":1,"covers_seq":n,"state":{...}}` with fields in a fixed order
/// and every collection in key order, so equal states have equal bytes and
/// [`digest`](Self::digest) (SHA-256, lowercase hex) identifies the state.
/// [`from_bytes`](Self::from_bytes) accepts only canonical bytes of this
/// format, so a file that decodes also has the digest of its bytes.
///
/// A snapshot is not secret (no credentials are in the risk state) but it is
/// not authenticated either: confirm it against the digest recorded in the
/// audit trail ([`from_bytes_with_digest`](Self::from_bytes_with_digest))
/// before trusting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireSnapshot", try_from = "WireSnapshot")]
pub struct RiskSnapshot {
    state: RiskState,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSnapshot {
    format: u32,
    covers_seq: u64,
    state: RiskState,
}

impl From<RiskSnapshot> for WireSnapshot {
    fn from(snapshot: RiskSnapshot) -> Self {
        WireSnapshot {
            format: SNAPSHOT_FORMAT,
            covers_seq: snapshot.state.journal_seq,
            state: snapshot.state,
        }
    }
}

impl TryFrom<WireSnapshot> for RiskSnapshot {
    type Error = SnapshotError;

    fn try_from(wire: WireSnapshot) -> Result<Self, Self::Error> {
        if wire.format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::UnsupportedFormat {
                found: u64::from(wire.format),
                supported: SNAPSHOT_FORMAT,
            });
        }
        if wire.covers_seq != wire.state.journal_seq {
            return Err(SnapshotError::Malformed {
                detail: format!(
                    "covers_seq {} disagrees with the state's journal seq {}",
                    wire.covers_seq, wire.state.journal_seq
                ),
            });
        }
        Ok(RiskSnapshot { state: wire.state })
    }
}

/// Only the format field, read before the rest so that a newer format is
/// reported as such and not as an unknown field.
#[derive(Deserialize)]
struct FormatProbe {
    format: u64,
}

impl RiskSnapshot {
    pub(crate) fn new(state: RiskState) -> Self {
        Self { state }
    }

    pub(crate) fn into_state(self) -> RiskState {
        self.state
    }

    /// The seq of the last journal entry the snapshot includes (0 before any).
    pub fn covers_seq(&self) -> u64 {
        self.state.journal_seq
    }

    /// The canonical encoding (see the type's documentation).
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Encode`] only if serialization fails, which would be
    /// a bug in this crate.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        serde_json::to_vec(self).map_err(|e| SnapshotError::Encode {
            detail: e.to_string(),
        })
    }

    /// Decodes canonical bytes of this format.
    ///
    /// A newer format, bytes that do not parse, an inconsistent snapshot and
    /// bytes that parse but are not in canonical form are all refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SnapshotError> {
        let probe: FormatProbe =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Malformed {
                detail: e.to_string(),
            })?;
        if probe.format != u64::from(SNAPSHOT_FORMAT) {
            return Err(SnapshotError::UnsupportedFormat {
                found: probe.format,
                supported: SNAPSHOT_FORMAT,
            });
        }
        let snapshot: RiskSnapshot =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Malformed {
                detail: e.to_string(),
            })?;
        if snapshot.to_bytes()? != bytes {
            return Err(SnapshotError::NotCanonical);
        }
        Ok(snapshot)
    }

    /// Decodes `bytes` only if their SHA-256 is `expected` (lowercase or
    /// uppercase hex), the digest the audit trail recorded for the snapshot.
    pub fn from_bytes_with_digest(bytes: &[u8], expected: &str) -> Result<Self, SnapshotError> {
        let actual = Self::digest_of(bytes);
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(SnapshotError::DigestMismatch {
                expected: expected.chars().take(64).collect(),
                actual,
            });
        }
        Self::from_bytes(bytes)
    }

    /// SHA-256 of the canonical bytes, as 64 lowercase hex digits.
    pub fn digest(&self) -> Result<String, SnapshotError> {
        self.to_bytes().map(|bytes| Self::digest_of(&bytes))
    }

    /// SHA-256 of `bytes`, as 64 lowercase hex digits (to check a file
    /// before decoding it).
    pub fn digest_of(bytes: &[u8]) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        digest
            .as_ref()
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                use std::fmt::Write;
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }
}
