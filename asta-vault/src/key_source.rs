//! Where the key-encryption key comes from: an environment variable, a 0600
//! key file, a passphrase (Argon2id) or raw bytes held by the caller.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use asta_core::safe_file::{self, SafeFileError};
use data_encoding::BASE64;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::crypto::{self, KEY_LEN};
use crate::error::VaultError;
use crate::permissions;

/// The default environment variable holding the base64 master key.
pub const MASTER_KEY_ENV: &str = "ASTA_MASTER_KEY";

/// Largest key file accepted (a base64 key is 44 bytes; comments are not allowed).
const MAX_KEY_FILE_LEN: u64 = 1024;

/// A raw 256-bit key-encryption key, wiped on drop. Its `Debug` prints no bytes.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl MasterKey {
    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, VaultError> {
        crypto::random_key()
            .map(Self)
            .map_err(|_| VaultError::Internal("random generator failed"))
    }

    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self(bytes)
    }

    /// Parses standard base64 of exactly 32 bytes (surrounding whitespace ignored).
    ///
    /// `source_name` only labels the error; the error never includes the text.
    pub fn from_base64(text: &str, source_name: &str) -> Result<Self, VaultError> {
        let unavailable = |reason: &str| VaultError::KeyUnavailable {
            source_name: source_name.to_owned(),
            reason: reason.to_owned(),
        };
        let decoded = Zeroizing::new(
            BASE64
                .decode(text.trim().as_bytes())
                .map_err(|_| unavailable("not valid standard base64"))?,
        );
        if decoded.len() != KEY_LEN {
            return Err(unavailable(
                "must be the base64 of exactly 32 bytes (44 characters); generate one with `asta vault init`",
            ));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&decoded);
        Ok(Self(key))
    }

    /// The key as standard base64, wiped on drop (to put in a key file or a
    /// secret manager).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.0.as_ref()))
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Where a vault's key-encryption key comes from.
///
/// The `Debug` output names the source (variable name, path) but never a key
/// or passphrase.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// The environment variable [`MASTER_KEY_ENV`] (`ASTA_MASTER_KEY`): base64 of 32 bytes.
    Env,
    /// Another environment variable holding base64 of 32 bytes.
    EnvVar(String),
    /// A key file (base64 of 32 bytes) that must be a regular file, mode 0600
    /// or stricter, owned by the current user. Create one with [`KeyFile::generate`].
    KeyFile(PathBuf),
    /// A passphrase, stretched with Argon2id (parameters and salt in the vault header).
    Passphrase(SecretString),
    /// Raw key bytes the caller obtained elsewhere (a secret manager, a test).
    Raw(MasterKey),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env => write!(f, "KeySource::Env({MASTER_KEY_ENV})"),
            KeySource::EnvVar(name) => write!(f, "KeySource::EnvVar({name})"),
            KeySource::KeyFile(path) => write!(f, "KeySource::KeyFile({})", path.display()),
            KeySource::Passphrase(_) => f.write_str("KeySource::Passphrase(<redacted>)"),
            KeySource::Raw(_) => f.write_str("KeySource::Raw(<redacted>)"),
        }
    }
}

/// The key material a [`KeySource`] resolves to.
pub(crate) enum Kek<'a> {
    /// A raw 32-byte key (env, key file, raw).
    Raw(MasterKey),
    /// A passphrase still to be stretched.
    Passphrase(&'a SecretString),
}

/// Human label for raw-key protection.
pub(crate) const RAW_LABEL: &str = "a raw key (environment variable, key file or raw bytes)";
/// Human label for passphrase protection.
pub(crate) const PASSPHRASE_LABEL: &str = "a passphrase";

impl KeySource {
    /// Reads the key material: the variable, the (permission-checked) file, or
    /// the passphrase as is.
    pub(crate) fn resolve(&self) -> Result<Kek<'_>, VaultError> {
        match self {
            KeySource::Env => read_env(MASTER_KEY_ENV).map(Kek::Raw),
            KeySource::EnvVar(name) => read_env(name).map(Kek::Raw),
            KeySource::KeyFile(path) => KeyFile::read(path).map(Kek::Raw),
            KeySource::Passphrase(passphrase) => Ok(Kek::Passphrase(passphrase)),
            KeySource::Raw(key) => Ok(Kek::Raw(key.clone())),
        }
    }
}

fn read_env(name: &str) -> Result<MasterKey, VaultError> {
    let unavailable = |reason: &str| VaultError::KeyUnavailable {
        source_name: format!("environment variable {name}"),
        reason: reason.to_owned(),
    };
    let value = std::env::var_os(name).ok_or_else(|| unavailable("the variable is not set"))?;
    let text = Zeroizing::new(
        value
            .into_string()
            .map_err(|_| unavailable("the value is not valid UTF-8"))?,
    );
    MasterKey::from_base64(&text, &format!("environment variable {name}"))
}

/// Key files: base64 of 32 random bytes in a private file.
#[derive(Debug, Clone, Copy)]
pub struct KeyFile;

impl KeyFile {
    /// Creates a new key file at `path` holding a fresh random key, mode 0600,
    /// and returns the [`KeySource`] that reads it.
    ///
    /// A missing parent directory (and its missing parents) is created with
    /// mode 0700; an existing one is used as it is. Refuses to replace an existing file or follow a symlink. The
    /// file and its directory are fsynced before this returns.
    pub fn generate(path: impl AsRef<Path>) -> Result<KeySource, VaultError> {
        let path = path.as_ref();
        let dir = safe_file::parent_dir(path);
        safe_file::create_private_dir(dir)
            .map_err(|e| permissions::vault_error("cannot create the key file's directory", e))?;
        let key = MasterKey::generate()?;
        let mut file = safe_file::create_new_private(path).map_err(|e| match e {
            SafeFileError::AlreadyExists { .. } => VaultError::InvalidInput(format!(
                "key file {} already exists; refusing to overwrite a key",
                path.display()
            )),
            other => permissions::vault_error("cannot create key file", other),
        })?;
        let mut text = key.to_base64();
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| VaultError::io("cannot write key file", path, e))?;
        safe_file::sync_parent(path)
            .map_err(|e| permissions::vault_error("cannot sync directory of", e))?;
        tracing::info!(path = %path.display(), "created key file");
        Ok(KeySource::KeyFile(path.to_path_buf()))
    }

    /// Reads a key file after checking it is a private regular file owned by
    /// the current user.
    pub fn read(path: impl AsRef<Path>) -> Result<MasterKey, VaultError> {
        let path = path.as_ref();
        let file = permissions::open_private_file(path)?;
        // Capacity reserved up front so that reading never reallocates and
        // leaves an unwiped copy of the key behind.
        let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE_LEN as usize + 8));
        file.take(MAX_KEY_FILE_LEN + 1)
            .read_to_string(&mut text)
            .map_err(|e| VaultError::io("cannot read key file", path, e))?;
        let source_name = format!("key file {}", path.display());
        if text.len() as u64 > MAX_KEY_FILE_LEN {
            return Err(VaultError::KeyUnavailable {
                source_name,
                reason: "the file is too large to be a key file".to_owned(),
            });
        }
        MasterKey::from_base64(&text, &source_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_key_file_is_0600_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let source = KeyFile::generate(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(source.resolve().unwrap(), Kek::Raw(_)));
        assert!(KeyFile::generate(&path).is_err(), "never overwrites");
    }

    #[test]
    fn key_file_0644_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        KeyFile::generate(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = KeyFile::read(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("0644") && text.contains("chmod 600"),
            "{text}"
        );
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        for bad in ["", "not base64 at all!!", "AAAA", &"A".repeat(100)] {
            let err = MasterKey::from_base64(bad, "test").unwrap_err();
            assert!(matches!(err, VaultError::KeyUnavailable { .. }));
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad), "{err}");
            }
        }
    }

    #[test]
    fn standard_base64_keys_decode_as_before() {
        // Key texts written by earlier versions (base64 crate, standard
        // alphabet, padded) must keep meaning the same bytes.
        let text = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let key = MasterKey::from_base64(&format!(" {text}\n"), "test").unwrap();
        let expected: Vec<u8> = (0u8..32).collect();
        assert_eq!(key.0.as_ref(), expected.as_slice());
        assert_eq!(key.to_base64().as_str(), text);
        // Unpadded, URL-safe or non-canonical trailing bits stay refused.
        for bad in [
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-=",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",
        ] {
            assert!(MasterKey::from_base64(bad, "test").is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_env_var_is_a_clear_error() {
        let err = KeySource::EnvVar("ASTA_TEST_SURELY_UNSET_VARIABLE_9F2".into())
            .resolve()
            .err()
            .unwrap();
        assert!(err.to_string().contains("not set"), "{err}");
    }

    #[test]
    fn debug_prints_no_key_material() {
        let key = MasterKey::generate().unwrap();
        let b64 = key.to_base64();
        let shown = format!(
            "{:?} {:?} {:?}",
            key,
            KeySource::Raw(key.clone()),
            KeySource::Passphrase(SecretString::from("CANARY-pass"))
        );
        assert!(!shown.contains(b64.as_str()));
        assert!(!shown.contains("CANARY"));
    }
}
