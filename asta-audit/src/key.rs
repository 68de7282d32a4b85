//! The chain key: the secret that makes the trail tamper-evident.

use std::fmt;
use std::fs;
use std::io::Read;

use std::path::Path;
use std::sync::Arc;

use asta_core::safe_file::{self, SafeFileError};
use ring::hmac;
use zeroize::Zeroizing;

use crate::error::AuditError;

/// The shortest accepted chain key, in bytes (256 bits).
pub const MIN_KEY_BYTES: usize = 32;
/// The longest accepted chain key, in bytes.
const MAX_KEY_BYTES: usize = 1024;
/// Domain-separation label: the record MAC key is derived from the chain key
/// with this label, so the same secret used elsewhere cannot forge records.
const RECORD_LABEL: &[u8] = b"asta-audit/v1/record-mac";
/// Label for the anchor left behind by retention pruning.
const ANCHOR_LABEL: &[u8] = b"asta-audit/v1/anchor-mac";

/// The secret key of an audit chain.
///
/// The key is never written to the trail. Keep it in the vault, an
/// environment variable or a key file with mode 0600; anyone who has it can
/// forge records, and anyone who loses it can no longer verify the trail.
///
/// The raw bytes live in [`Zeroizing`] memory and are wiped on drop; `Debug`
/// prints nothing about them. Clones share the derived MAC keys.
///
/// ```
/// use asta_audit::ChainKey;
///
/// let key = ChainKey::from_bytes(&[7u8; 32])?;
/// assert_eq!(format!("{key:?}"), "ChainKey([redacted])");
/// assert!(ChainKey::from_bytes(b"too short").is_err());
/// # Ok::<(), asta_audit::AuditError>(())
/// ```
#[derive(Clone)]
pub struct ChainKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    // Kept so the secret has one owner that is wiped on drop; the derived
    // ring keys below are what the code uses.
    _raw: Zeroizing<Vec<u8>>,
    record: hmac::Key,
    anchor: hmac::Key,
}

impl ChainKey {
    /// A key from raw bytes (at least 32 bytes; 32 random bytes recommended).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(AuditError::InvalidKey(format!(
                "chain key has {} bytes, expected at least {MIN_KEY_BYTES}",
                bytes.len()
            )));
        }
        if bytes.len() > MAX_KEY_BYTES {
            return Err(AuditError::InvalidKey(format!(
                "chain key has {} bytes, expected at most {MAX_KEY_BYTES}",
                bytes.len()
            )));
        }
        let raw = Zeroizing::new(bytes.to_vec());
        let root = hmac::Key::new(hmac::HMAC_SHA256, &raw);
        let derive = |label: &[u8]| {
            let tag = hmac::sign(&root, label);
            hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref())
        };
        Ok(Self {
            inner: Arc::new(KeyInner {
                record: derive(RECORD_LABEL),
                anchor: derive(ANCHOR_LABEL),
                _raw: raw,
            }),
        })
    }

    /// A key from base64 text (standard alphabet, padding optional,
    /// surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, AuditError> {
        let trimmed = text.trim();
        let decoded = data_encoding::BASE64
            .decode(trimmed.as_bytes())
            .or_else(|_| data_encoding::BASE64_NOPAD.decode(trimmed.as_bytes()))
            .map_err(|_| AuditError::InvalidKey("chain key is not valid base64".to_owned()))?;
        let decoded = Zeroizing::new(decoded);
        Self::from_bytes(&decoded)
    }

    /// A key from an environment variable holding base64 text, e.g.
    /// `ASTA_AUDIT_KEY`. The error names the variable, never its content.
    ///
    /// The copy read here is wiped on drop; the process environment itself
    /// (and `/proc/<pid>/environ`) still holds the value, so prefer the vault
    /// or a key file on shared hosts.
    pub fn from_env(var: &str) -> Result<Self, AuditError> {
        let value = std::env::var(var).map_err(|_| {
            AuditError::InvalidKey(format!(
                "environment variable {var} is not set or not valid UTF-8"
            ))
        })?;
        let value = Zeroizing::new(value);
        Self::from_base64(&value)
            .map_err(|_| AuditError::InvalidKey(format!("environment variable {var} does not hold a base64 key of at least {MIN_KEY_BYTES} bytes")))
    }

    /// A key from a file holding base64 text.
    ///
    /// Like ssh, the file is refused unless it is a regular file owned by the
    /// current user and readable by nobody else (no group or other
    /// permission bits: mode 0600 or 0400).
    pub fn from_key_file(path: &Path) -> Result<Self, AuditError> {
        let mut file =
            fs::File::open(path).map_err(|e| AuditError::io("opening key file", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| AuditError::io("inspecting key file", path, e))?;
        if !meta.is_file() {
            return Err(AuditError::InsecurePermissions {
                path: path.to_owned(),
                problem: "key file is not a regular file".to_owned(),
            });
        }
        safe_file::check_private(path, &meta, 0o600).map_err(|e| match e {
            SafeFileError::InsecureMode { mode, .. } => AuditError::InsecurePermissions {
                path: path.to_owned(),
                problem: format!(
                    "key file has mode {:o}, expected 600 or 400 (run chmod 600)",
                    mode & 0o777
                ),
            },
            SafeFileError::WrongOwner { owner, current, .. } => AuditError::InsecurePermissions {
                path: path.to_owned(),
                problem: format!(
                    "key file is owned by uid {owner}, expected the current user {current}"
                ),
            },
            other => AuditError::from_safe_file("inspecting key file", other),
        })?;
        let mut text = Zeroizing::new(String::new());
        (&mut file)
            .take(4 * MAX_KEY_BYTES as u64)
            .read_to_string(&mut text)
            .map_err(|e| AuditError::io("reading key file", path, e))?;
        Self::from_base64(&text).map_err(|_| {
            AuditError::InvalidKey(format!(
                "key file {} does not hold a base64 key of at least {MIN_KEY_BYTES} bytes",
                path.display()
            ))
        })
    }

    /// A fresh random 32-byte key from the operating system's random source
    /// (for new deployments, tests and examples). Store it before use: a
    /// lost key cannot verify the trail.
    pub fn generate() -> Result<Self, AuditError> {
        use ring::rand::SecureRandom;
        let mut bytes = Zeroizing::new([0u8; 32]);
        ring::rand::SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| AuditError::InvalidKey("the system random source failed".to_owned()))?;
        Self::from_bytes(bytes.as_ref())
    }

    pub(crate) fn record_key(&self) -> &hmac::Key {
        &self.inner.record
    }

    pub(crate) fn anchor_key(&self) -> &hmac::Key {
        &self.inner.anchor
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn base64_round_trip_and_limits() {
        let b64 = data_encoding::BASE64.encode(&[9u8; 32]);
        let a = ChainKey::from_base64(&format!("  {b64}\n")).unwrap();
        let b = ChainKey::from_bytes(&[9u8; 32]).unwrap();
        assert_eq!(
            hmac::sign(a.record_key(), b"x").as_ref(),
            hmac::sign(b.record_key(), b"x").as_ref()
        );
        assert!(ChainKey::from_base64("not base64!").is_err());
        assert!(ChainKey::from_bytes(&[0u8; 31]).is_err());
    }

    #[test]
    fn base64_chain_keys_decode_as_before() {
        // Key texts written for earlier versions (base64 crate): standard
        // alphabet, padding optional, whitespace around ignored.
        let reference = ChainKey::from_bytes(&[9u8; 32]).unwrap();
        for text in [
            "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
            "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk",
            "\tCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
        ] {
            let key = ChainKey::from_base64(text).unwrap();
            assert_eq!(
                hmac::sign(key.record_key(), b"x").as_ref(),
                hmac::sign(reference.record_key(), b"x").as_ref(),
                "{text:?}"
            );
        }
        // Non-canonical trailing bits and the URL-safe alphabet stay refused.
        assert!(ChainKey::from_base64("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQl=").is_err());
        assert!(ChainKey::from_base64("CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC_k=").is_err());
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let k = ChainKey::from_bytes(&[1u8; 32]).unwrap();
        assert_ne!(
            hmac::sign(k.record_key(), b"x").as_ref(),
            hmac::sign(k.anchor_key(), b"x").as_ref()
        );
    }

    #[test]
    fn key_file_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let mut f = fs::File::create(&path).unwrap();
        let b64 = data_encoding::BASE64.encode(&[3u8; 32]);
        f.write_all(b64.as_bytes()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = ChainKey::from_key_file(&path).unwrap_err();
        assert!(
            matches!(err, AuditError::InsecurePermissions { .. }),
            "{err}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        ChainKey::from_key_file(&path).unwrap();
    }

    #[test]
    fn missing_env_var_is_named_in_the_error() {
        let err = ChainKey::from_env("ASTA_AUDIT_TEST_VAR_THAT_IS_NEVER_SET").unwrap_err();
        assert!(
            err.to_string()
                .contains("ASTA_AUDIT_TEST_VAR_THAT_IS_NEVER_SET")
        );
    }

    #[test]
    fn errors_and_debug_never_show_key_material() {
        let canary = "Q0FOQVJZLUNBTkFSWS1DQU5BUlktQ0FOQVJZLUNBTkFSWQ==";
        let key = ChainKey::from_base64(canary).unwrap();
        assert!(!format!("{key:?}").contains("Q0FO"));
        let err = ChainKey::from_base64("Q0FOQVJZ").unwrap_err();
        assert!(!err.to_string().contains("Q0FO"));
    }
}
