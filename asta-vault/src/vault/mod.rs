//! The vault: one encrypted file of named secrets.

mod client_keys;
pub(crate) mod entry;
pub(crate) mod format;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use asta_core::safe_file::{self, LockFile, SafeFileError, WriteStep};
use asta_core::{Clock, SystemClock};
use chrono::{DateTime, TimeDelta, Utc};
use ring::aead::{LessSafeKey, NONCE_LEN};
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::api_key::{ApiKeyPolicy, ExpiryState, KeyStatus, Scope};
use crate::crypto::{self, KEY_LEN};
use crate::error::VaultError;
use crate::kdf::{Argon2Params, SALT_LEN};
use crate::key_source::{Kek, KeySource, PASSPHRASE_LABEL, RAW_LABEL};
use crate::permissions;
use crate::seal_key::SealKey;
use crate::totp::{Totp, TotpConfig, TotpError, TotpState};
use entry::{EntryInfo, EntryKind, EntryMeta, EntryOptions, MAX_NOTE_LEN, validate_name};
use format::{Body, Header, KekHeader, Parsed, StoredEntry, WrappedKey};

const VAULT_ID_LEN: usize = 16;

/// Options for creating or opening a vault.
#[derive(Debug, Clone)]
pub struct VaultOptions {
    clock: Arc<dyn Clock>,
    argon2: Argon2Params,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            argon2: Argon2Params::default(),
        }
    }
}

impl VaultOptions {
    /// The system clock and OWASP-minimum Argon2id parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The clock used for entry timestamps and for expiry checks in [`Vault::get`].
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Argon2id parameters used when a passphrase protects the vault
    /// (on create and rekey). Reading always uses the parameters in the file.
    pub fn with_argon2(mut self, params: Argon2Params) -> Self {
        self.argon2 = params;
        self
    }
}

/// How a vault's data key is protected (for `asta doctor`-style checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProtection {
    /// A raw 32-byte key (environment variable, key file or raw bytes).
    RawKey,
    /// A passphrase through Argon2id with these parameters.
    Passphrase(Argon2Params),
}

/// What [`Vault::enroll_totp`] returns: the secret to show the user once.
///
/// Both fields contain the TOTP secret; `Debug` prints neither.
pub struct TotpEnrollment {
    /// The `otpauth://` URI (render it as a QR code).
    pub uri: SecretString,
    /// The secret in base32 for manual entry.
    pub secret_base32: SecretString,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrollment(<redacted>)")
    }
}

/// An open, unlocked vault.
///
/// Every change is written through at once (atomically, under an exclusive
/// lock) and only applied in memory once it is on disk. If another process
/// saved the vault since this handle loaded it, the change is refused with
/// [`VaultError::Conflict`] instead of overwriting theirs.
///
/// Secrets stay encrypted in memory; each read decrypts one entry into a
/// [`SecretString`] that is wiped when dropped.
pub struct Vault {
    path: PathBuf,
    id: [u8; VAULT_ID_LEN],
    generation: u64,
    created: DateTime<Utc>,
    kek: KekHeader,
    wrapped: WrappedKey,
    data_key: Zeroizing<[u8; KEY_LEN]>,
    entry_key: LessSafeKey,
    mac_key: hmac::Key,
    entries: BTreeMap<String, StoredEntry>,
    options: VaultOptions,
    #[cfg(test)]
    crash_after: Option<WriteStep>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .field("generation", &self.generation)
            .field("entries", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Keys derived from the data key.
struct SubKeys {
    entry: LessSafeKey,
    mac: hmac::Key,
}

fn sub_keys(data_key: &[u8], id: &[u8]) -> Result<SubKeys, VaultError> {
    let internal = |_| VaultError::Internal("key derivation failed");
    let entry = crypto::derive_key(data_key, id, b"asta-vault entry enc v1").map_err(internal)?;
    let mac = crypto::derive_key(data_key, id, b"asta-vault index mac v1").map_err(internal)?;
    Ok(SubKeys {
        entry: crypto::aead_key(entry.as_ref()).map_err(internal)?,
        mac: hmac::Key::new(hmac::HMAC_SHA256, mac.as_ref()),
    })
}

fn entry_aad(id: &[u8], name: &str, version: u64) -> Vec<u8> {
    let mut aad = b"asta-vault entry v1".to_vec();
    crypto::push_field(&mut aad, id);
    crypto::push_field(&mut aad, name.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn wrap_aad(id: &[u8], kek: &KekHeader) -> Vec<u8> {
    let mut aad = b"asta-vault wrap v1".to_vec();
    crypto::push_field(&mut aad, id);
    aad.push(match kek {
        KekHeader::Raw => 1,
        KekHeader::Argon2id { .. } => 2,
    });
    aad
}

/// Derives the key-encryption key for `kek_header` from the resolved source.
fn derive_kek(
    path: &Path,
    id: &[u8],
    kek_header: &KekHeader,
    kek: &Kek<'_>,
) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    match (kek_header, kek) {
        (KekHeader::Raw, Kek::Raw(master)) => {
            crypto::derive_key(master.bytes(), id, b"asta-vault kek v1")
                .map_err(|_| VaultError::Internal("key derivation failed"))
        }
        (KekHeader::Argon2id { params, salt }, Kek::Passphrase(passphrase)) => {
            if let Err(reason) = params.check_bounds() {
                return Err(VaultError::KdfParamsOutOfBounds {
                    path: path.to_path_buf(),
                    detail: format!("{params}: {reason}"),
                });
            }
            if salt.len() < 8 || salt.len() > 64 {
                return Err(VaultError::corrupted(path, "Argon2id salt length"));
            }
            params
                .derive(passphrase, salt)
                .map_err(|_| VaultError::Internal("Argon2id failed"))
        }
        (KekHeader::Raw, Kek::Passphrase(_)) => Err(VaultError::KeySourceMismatch {
            path: path.to_path_buf(),
            expected: RAW_LABEL,
            given: PASSPHRASE_LABEL,
        }),
        (KekHeader::Argon2id { .. }, Kek::Raw(_)) => Err(VaultError::KeySourceMismatch {
            path: path.to_path_buf(),
            expected: PASSPHRASE_LABEL,
            given: RAW_LABEL,
        }),
    }
}

/// A new key protection header and the data key wrapped under it.
fn wrap_data_key(
    id: &[u8],
    data_key: &[u8; KEY_LEN],
    source: &KeySource,
    argon2: Argon2Params,
    path: &Path,
) -> Result<(KekHeader, WrappedKey), VaultError> {
    let kek = source.resolve()?;
    let header = match kek {
        Kek::Raw(_) => KekHeader::Raw,
        Kek::Passphrase(_) => {
            let salt: [u8; SALT_LEN] = crypto::random_array()
                .map_err(|_| VaultError::Internal("random generator failed"))?;
            KekHeader::Argon2id {
                params: argon2,
                salt: salt.to_vec(),
            }
        }
    };
    let kek_bytes = derive_kek(path, id, &header, &kek)?;
    let key = crypto::aead_key(kek_bytes.as_ref()).map_err(|_| VaultError::Internal("bad key"))?;
    let (nonce, ciphertext) = crypto::seal_random_nonce(&key, &wrap_aad(id, &header), data_key)
        .map_err(|_| VaultError::Internal("encryption failed"))?;
    Ok((
        header,
        WrappedKey {
            nonce: nonce.to_vec(),
            ciphertext,
        },
    ))
}

fn nonce_array(bytes: &[u8]) -> Option<[u8; NONCE_LEN]> {
    bytes.try_into().ok()
}

/// Text from decrypted bytes, copied once into an exact-size secret (so no
/// reallocation leaves an unwiped copy behind).
fn secret_text(bytes: &Zeroizing<Vec<u8>>) -> Option<SecretString> {
    std::str::from_utf8(bytes).ok().map(SecretString::from)
}

/// Reads the whole vault file after the permission checks, bounded in size.
fn read_vault_file(path: &Path) -> Result<Vec<u8>, VaultError> {
    let file = permissions::open_private_file(path)?;
    let mut bytes = Vec::new();
    file.take(format::MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| VaultError::io("cannot read vault", path, e))?;
    if bytes.len() as u64 > format::MAX_FILE_LEN {
        return Err(VaultError::corrupted(
            path,
            "file larger than the 64 MiB limit",
        ));
    }
    Ok(bytes)
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    safe_file::parent_dir(path).join(name)
}

/// Takes the vault's exclusive write lock (a `.lock` file beside it).
fn take_lock(path: &Path) -> Result<LockFile, VaultError> {
    LockFile::try_acquire(&lock_path(path)).map_err(|e| match e {
        SafeFileError::Locked { .. } => VaultError::Locked {
            path: path.to_path_buf(),
        },
        other => permissions::vault_error("cannot lock", other),
    })
}

impl Vault {
    /// Creates a new, empty vault at `path` protected by `source`.
    ///
    /// Refuses to replace an existing file. The file is written atomically
    /// with mode 0600.
    pub fn create(
        path: impl AsRef<Path>,
        source: &KeySource,
        options: VaultOptions,
    ) -> Result<Vault, VaultError> {
        let path = path.as_ref().to_path_buf();
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(VaultError::VaultExists { path });
        }
        let random_failed = |_| VaultError::Internal("random generator failed");
        let id: [u8; VAULT_ID_LEN] = crypto::random_array().map_err(random_failed)?;
        let data_key = crypto::random_key().map_err(random_failed)?;
        let (kek, wrapped) = wrap_data_key(&id, &data_key, source, options.argon2, &path)?;
        let keys = sub_keys(data_key.as_ref(), &id)?;
        let mut vault = Vault {
            created: options.clock.now(),
            path,
            id,
            generation: 0,
            kek,
            wrapped,
            data_key,
            entry_key: keys.entry,
            mac_key: keys.mac,
            entries: BTreeMap::new(),
            options,
            #[cfg(test)]
            crash_after: None,
        };
        vault.commit(vault.entries.clone(), None)?;
        tracing::info!(path = %vault.path.display(), "created vault");
        Ok(vault)
    }

    /// Opens and unlocks the vault at `path` with the system clock.
    pub fn open(path: impl AsRef<Path>, source: &KeySource) -> Result<Vault, VaultError> {
        Self::open_with(path, source, VaultOptions::default())
    }

    /// Opens and unlocks the vault at `path` with explicit options.
    ///
    /// The file must be a regular file owned by the current user with mode
    /// 0600 or stricter. Every entry is authenticated before this returns.
    pub fn open_with(
        path: impl AsRef<Path>,
        source: &KeySource,
        options: VaultOptions,
    ) -> Result<Vault, VaultError> {
        let path = path.as_ref().to_path_buf();
        let bytes = read_vault_file(&path)?;
        let parsed = format::parse(&path, &bytes)?;
        let kek = source.resolve()?;
        let vault = Self::unlock(path, parsed, &kek, options)?;
        vault.remove_stale_temps_on_open();
        tracing::debug!(path = %vault.path.display(), entries = vault.entries.len(), "opened vault");
        Ok(vault)
    }

    /// The keyed checks: unwrap, MAC, entries.
    fn unlock(
        path: PathBuf,
        parsed: Parsed,
        kek: &Kek<'_>,
        options: VaultOptions,
    ) -> Result<Vault, VaultError> {
        let Parsed {
            header,
            body,
            signed,
            mac,
        } = parsed;
        let id: [u8; VAULT_ID_LEN] = data_encoding::HEXLOWER
            .decode(header.vault_id.as_bytes())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| VaultError::corrupted(&path, "vault id"))?;
        let kek_bytes = derive_kek(&path, &id, &header.kek, kek)?;
        let kek_key =
            crypto::aead_key(kek_bytes.as_ref()).map_err(|_| VaultError::Internal("bad key"))?;
        let nonce = nonce_array(&header.wrapped_key.nonce)
            .ok_or_else(|| VaultError::corrupted(&path, "wrapped key nonce"))?;
        let unwrapped = crypto::open(
            &kek_key,
            nonce,
            &wrap_aad(&id, &header.kek),
            &header.wrapped_key.ciphertext,
        )
        .map_err(|_| VaultError::WrongKey { path: path.clone() })?;
        let data_key: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(
            unwrapped
                .as_slice()
                .try_into()
                .map_err(|_| VaultError::tampered(&path, "data key length"))?,
        );
        let keys = sub_keys(data_key.as_ref(), &id)?;
        hmac::verify(&keys.mac, &signed, &mac).map_err(|_| {
            VaultError::tampered(
                &path,
                "index MAC mismatch: entries were added, removed, reordered or changed",
            )
        })?;
        let entries = index_entries(&path, body)?;
        let vault = Vault {
            path,
            id,
            generation: header.generation,
            created: header.created,
            kek: header.kek,
            wrapped: header.wrapped_key,
            data_key,
            entry_key: keys.entry,
            mac_key: keys.mac,
            entries,
            options,
            #[cfg(test)]
            crash_after: None,
        };
        vault.authenticate_entries(&vault.entries)?;
        Ok(vault)
    }

    /// Decrypts every entry once (AAD check) and validates TOTP entries.
    fn authenticate_entries(
        &self,
        entries: &BTreeMap<String, StoredEntry>,
    ) -> Result<(), VaultError> {
        for stored in entries.values() {
            let plaintext = self.decrypt(stored)?;
            if let Some(state) = &stored.meta.totp {
                Totp::new(plaintext, state.config).map_err(|_| {
                    VaultError::tampered(
                        &self.path,
                        format!("TOTP entry `{}` is invalid", stored.name),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Reloads the vault from disk with the keys this handle already holds
    /// (no key source needed: a rekey elsewhere re-wraps the same data key).
    ///
    /// Use it after [`VaultError::Conflict`]. Refuses a file that belongs to
    /// another vault, fails authentication, or has a *lower* generation than
    /// this handle has seen (a rollback).
    pub fn refresh(&mut self) -> Result<(), VaultError> {
        let bytes = read_vault_file(&self.path)?;
        let parsed = format::parse(&self.path, &bytes)?;
        if parsed.header.vault_id != self.id_hex() {
            return Err(VaultError::tampered(
                &self.path,
                "the file now holds a different vault",
            ));
        }
        hmac::verify(&self.mac_key, &parsed.signed, &parsed.mac).map_err(|_| {
            VaultError::tampered(
                &self.path,
                "index MAC mismatch: entries were added, removed, reordered or changed",
            )
        })?;
        if parsed.header.generation < self.generation {
            return Err(VaultError::tampered(
                &self.path,
                format!(
                    "rollback: generation {} on disk is older than {} already seen",
                    parsed.header.generation, self.generation
                ),
            ));
        }
        let entries = index_entries(&self.path, parsed.body)?;
        self.authenticate_entries(&entries)?;
        self.generation = parsed.header.generation;
        self.kek = parsed.header.kek;
        self.wrapped = parsed.header.wrapped_key;
        self.entries = entries;
        Ok(())
    }

    // ----- reading -------------------------------------------------------

    /// The path of the vault file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The save counter: incremented on every write (compare it with an
    /// external record to detect a whole-file rollback).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The vault's random id, in hex.
    pub fn id_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.id)
    }

    /// When the vault was created.
    pub fn created(&self) -> DateTime<Utc> {
        self.created
    }

    /// How the data key is protected.
    pub fn protection(&self) -> KeyProtection {
        match &self.kek {
            KekHeader::Raw => KeyProtection::RawKey,
            KekHeader::Argon2id { params, .. } => KeyProtection::Passphrase(*params),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when the vault holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `true` when an entry with this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Metadata of every entry, sorted by name. Never includes a value.
    pub fn list(&self) -> Vec<EntryInfo> {
        self.entries.values().map(info).collect()
    }

    /// Metadata of one entry.
    pub fn info(&self, name: &str) -> Option<EntryInfo> {
        self.entries.get(name).map(info)
    }

    /// Reads a plain secret ([`EntryKind::Secret`]).
    ///
    /// Refused if it expired (by the vault's clock). API keys must be read
    /// with [`Vault::api_key`] (which checks scope and expiry), TOTP secrets
    /// are never read, and seal keys come from [`Vault::seal_key`].
    pub fn get(&self, name: &str) -> Result<SecretString, VaultError> {
        let stored = self.entry_of_kind(name, EntryKind::Secret)?;
        self.check_expiry(stored, self.options.clock.now())?;
        let plaintext = self.decrypt(stored)?;
        secret_text(&plaintext)
            .ok_or_else(|| VaultError::corrupted(&self.path, "secret is not UTF-8"))
    }

    /// Reads an API key for an operation that needs `scope`, at `now`.
    ///
    /// Refused with [`VaultError::Expired`] (naming the key and its age) once
    /// it expired, and with [`VaultError::ScopeDenied`] if it does not carry
    /// `scope`.
    pub fn api_key(
        &self,
        name: &str,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Result<SecretString, VaultError> {
        let stored = self.entry_of_kind(name, EntryKind::ApiKey)?;
        self.check_expiry(stored, now)?;
        if !stored.meta.scopes.contains(scope) {
            return Err(VaultError::ScopeDenied {
                name: name.to_owned(),
                scope: scope.to_string(),
                granted: stored
                    .meta
                    .scopes
                    .iter()
                    .map(Scope::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let plaintext = self.decrypt(stored)?;
        secret_text(&plaintext)
            .ok_or_else(|| VaultError::corrupted(&self.path, "API key is not UTF-8"))
    }

    /// Every entry with an expiry and where it stands at `now`, most urgent first.
    pub fn status(&self, now: DateTime<Utc>) -> Vec<KeyStatus> {
        let mut out: Vec<KeyStatus> = self
            .entries
            .values()
            .filter_map(|stored| {
                let expires = stored.meta.expires?;
                let warn = seconds(stored.meta.warn_before_secs.unwrap_or(0));
                Some(KeyStatus {
                    name: stored.name.clone(),
                    created: stored.meta.created,
                    expires,
                    scopes: stored.meta.scopes.clone(),
                    state: ExpiryState::at(expires, warn, now),
                })
            })
            .collect();
        out.sort_by(|a, b| a.expires.cmp(&b.expires).then_with(|| a.name.cmp(&b.name)));
        out
    }

    /// The sealing key stored under `name` (see [`Vault::create_seal_key`]).
    pub fn seal_key(&self, name: &str) -> Result<SealKey, VaultError> {
        let stored = self.entry_of_kind(name, EntryKind::SealKey)?;
        let plaintext = self.decrypt(stored)?;
        SealKey::from_slice(&plaintext)
            .ok_or_else(|| VaultError::corrupted(&self.path, "seal key length"))
    }

    // ----- writing -------------------------------------------------------

    /// Stores a plain secret under `name`, creating it or replacing its value
    /// (the version counter goes up by one). Written through at once.
    pub fn set(&mut self, name: &str, value: SecretString) -> Result<(), VaultError> {
        self.set_with(name, value, EntryOptions::default())
    }

    /// [`Vault::set`] with an expiry and a note.
    pub fn set_with(
        &mut self,
        name: &str,
        value: SecretString,
        options: EntryOptions,
    ) -> Result<(), VaultError> {
        validate_name(name)?;
        check_note(options.note.as_deref())?;
        let now = self.options.clock.now();
        let (version, mut meta) = match self.entries.get(name) {
            Some(existing) if existing.meta.kind != EntryKind::Secret => {
                return Err(wrong_kind(name, EntryKind::Secret, existing.meta.kind));
            }
            Some(existing) => (next_version(existing)?, existing.meta.clone()),
            None => (1, EntryMeta::new(EntryKind::Secret, now)),
        };
        meta.updated = now;
        meta.expires = options.expires;
        meta.note = options.note;
        let stored = self.encrypt(name, version, meta, value.expose_secret().as_bytes())?;
        self.commit_one(stored)
    }

    /// Replaces the value of an existing secret or API key, bumping its
    /// version. An API key gets a fresh lifetime from now. Returns the new version.
    pub fn rotate(&mut self, name: &str, value: SecretString) -> Result<u64, VaultError> {
        let existing = self.entries.get(name).ok_or_else(|| not_found(name))?;
        let now = self.options.clock.now();
        let mut meta = existing.meta.clone();
        match meta.kind {
            EntryKind::Secret => {}
            EntryKind::ApiKey => {
                let lifetime = meta.lifetime_secs.map_or(
                    TimeDelta::days(crate::api_key::DEFAULT_API_KEY_LIFETIME_DAYS),
                    seconds,
                );
                meta.created = now;
                meta.expires = Some(add_or_max(now, lifetime));
            }
            other => return Err(wrong_kind(name, EntryKind::Secret, other)),
        }
        meta.updated = now;
        let version = next_version(existing)?;
        let stored = self.encrypt(name, version, meta, value.expose_secret().as_bytes())?;
        self.commit_one(stored)?;
        tracing::info!(entry = name, version, "rotated vault entry");
        Ok(version)
    }

    /// Removes an entry.
    pub fn remove(&mut self, name: &str) -> Result<(), VaultError> {
        if !self.entries.contains_key(name) {
            return Err(not_found(name));
        }
        let mut entries = self.entries.clone();
        entries.remove(name);
        self.commit(entries, None)?;
        tracing::info!(entry = name, "removed vault entry");
        Ok(())
    }

    /// Adds an API key with its scopes and lifetime (created now by the
    /// vault's clock). Refuses an existing name: use [`Vault::rotate`].
    pub fn add_api_key(
        &mut self,
        name: &str,
        value: SecretString,
        policy: &ApiKeyPolicy,
    ) -> Result<(), VaultError> {
        validate_name(name)?;
        if self.entries.contains_key(name) {
            return Err(VaultError::EntryExists {
                name: name.to_owned(),
            });
        }
        if policy.scopes().is_empty() {
            return Err(VaultError::InvalidInput(
                "an API key needs at least one scope".to_owned(),
            ));
        }
        let now = self.options.clock.now();
        let mut meta = EntryMeta::new(EntryKind::ApiKey, now);
        meta.expires = Some(add_or_max(now, policy.lifetime()));
        meta.lifetime_secs = Some(policy.lifetime().num_seconds());
        meta.warn_before_secs = Some(policy.warn_before().num_seconds());
        meta.scopes = policy.scopes().to_vec();
        let stored = self.encrypt(name, 1, meta, value.expose_secret().as_bytes())?;
        self.commit_one(stored)
    }

    /// Creates a random 256-bit sealing key under `name` (for field and
    /// backup sealing) and returns it.
    pub fn create_seal_key(&mut self, name: &str) -> Result<SealKey, VaultError> {
        validate_name(name)?;
        if self.entries.contains_key(name) {
            return Err(VaultError::EntryExists {
                name: name.to_owned(),
            });
        }
        let key =
            crypto::random_key().map_err(|_| VaultError::Internal("random generator failed"))?;
        let meta = EntryMeta::new(EntryKind::SealKey, self.options.clock.now());
        let stored = self.encrypt(name, 1, meta, key.as_ref())?;
        self.commit_one(stored)?;
        Ok(SealKey::from_bytes(key))
    }

    /// Re-wraps the data key under a new key source (entries are untouched).
    /// A passphrase gets a fresh salt and the options' Argon2id parameters.
    pub fn rekey(&mut self, source: &KeySource) -> Result<(), VaultError> {
        let (kek, wrapped) = wrap_data_key(
            &self.id,
            &self.data_key,
            source,
            self.options.argon2,
            &self.path,
        )?;
        self.commit(self.entries.clone(), Some((kek, wrapped)))?;
        tracing::info!(path = %self.path.display(), "rekeyed vault");
        Ok(())
    }

    // ----- TOTP ----------------------------------------------------------

    /// Generates a TOTP secret, stores it under `name` and returns the
    /// enrollment URI for the operator's authenticator app.
    pub fn enroll_totp(
        &mut self,
        name: &str,
        issuer: &str,
        account: &str,
        config: TotpConfig,
    ) -> Result<TotpEnrollment, TotpError> {
        validate_name(name)?;
        if self.entries.contains_key(name) {
            return Err(VaultError::EntryExists {
                name: name.to_owned(),
            }
            .into());
        }
        let totp = Totp::generate(config)?;
        let mut meta = EntryMeta::new(EntryKind::Totp, self.options.clock.now());
        meta.totp = Some(TotpState {
            config,
            last_step: None,
            failures: Vec::new(),
        });
        let stored = self.encrypt(name, 1, meta, totp.secret_bytes())?;
        self.commit_one(stored)?;
        tracing::info!(entry = name, "enrolled TOTP secret");
        Ok(TotpEnrollment {
            uri: totp.otpauth_uri(issuer, account),
            secret_base32: totp.secret_base32(),
        })
    }

    /// Verifies a TOTP `code` for the secret enrolled as `name` at `now`.
    ///
    /// In order: refused while throttled (5 failures in 5 minutes); the code
    /// must be well-formed and match a step within the skew window that is
    /// later than the last accepted step (a code is accepted once). The new
    /// last step, or the failure, is saved to disk before this returns; if
    /// saving fails the code is not accepted.
    pub fn verify_totp(
        &mut self,
        name: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TotpError> {
        match self.verify_totp_once(name, code, now) {
            // Another process saved the vault (perhaps after accepting a
            // code): reload its state and decide again on the fresh state.
            Err(TotpError::Vault(VaultError::Conflict { .. })) => {
                self.refresh()?;
                self.verify_totp_once(name, code, now)
            }
            other => other,
        }
    }

    fn verify_totp_once(
        &mut self,
        name: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TotpError> {
        let not_enrolled = || TotpError::NotEnrolled {
            name: name.to_owned(),
        };
        let stored = self.entries.get(name).ok_or_else(not_enrolled)?;
        let mut state = match (&stored.meta.kind, &stored.meta.totp) {
            (EntryKind::Totp, Some(state)) => state.clone(),
            _ => return Err(not_enrolled()),
        };
        state.check_throttle(now)?;
        let secret = self.decrypt(stored)?;
        let totp = Totp::new(secret, state.config)?;
        let outcome = totp.check(code, now, state.last_step);
        match &outcome {
            Ok(step) => state.record_success(*step),
            Err(_) => state.record_failure(now),
        }
        let mut updated = stored.clone();
        updated.meta.totp = Some(state);
        self.commit_one(updated)?;
        match outcome {
            Ok(_) => {
                tracing::info!(entry = name, "TOTP code accepted");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(entry = name, reason = %error, "TOTP code refused");
                Err(error)
            }
        }
    }

    /// [`Vault::verify_totp`] at the vault clock's current instant.
    pub fn verify_totp_now(&mut self, name: &str, code: &str) -> Result<(), TotpError> {
        let now = self.options.clock.now();
        self.verify_totp(name, code, now)
    }

    // ----- internals -----------------------------------------------------

    fn entry_of_kind(&self, name: &str, kind: EntryKind) -> Result<&StoredEntry, VaultError> {
        let stored = self.entries.get(name).ok_or_else(|| not_found(name))?;
        if stored.meta.kind != kind {
            return Err(wrong_kind(name, kind, stored.meta.kind));
        }
        Ok(stored)
    }

    fn check_expiry(&self, stored: &StoredEntry, now: DateTime<Utc>) -> Result<(), VaultError> {
        match stored.meta.expires {
            Some(expires) if now >= expires => Err(VaultError::Expired {
                name: stored.name.clone(),
                age_days: (now - stored.meta.created).num_days(),
                expired_days: (now - expires).num_days(),
            }),
            _ => Ok(()),
        }
    }

    fn encrypt(
        &self,
        name: &str,
        version: u64,
        meta: EntryMeta,
        plaintext: &[u8],
    ) -> Result<StoredEntry, VaultError> {
        let (nonce, ciphertext) = crypto::seal_random_nonce(
            &self.entry_key,
            &entry_aad(&self.id, name, version),
            plaintext,
        )
        .map_err(|_| VaultError::Internal("encryption failed"))?;
        Ok(StoredEntry {
            name: name.to_owned(),
            version,
            meta,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub(crate) fn decrypt(&self, stored: &StoredEntry) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let failed = || {
            VaultError::tampered(
                &self.path,
                format!(
                    "entry `{}` failed authentication: its ciphertext belongs to another entry or version",
                    stored.name
                ),
            )
        };
        let nonce = nonce_array(&stored.nonce).ok_or_else(failed)?;
        crypto::open(
            &self.entry_key,
            nonce,
            &entry_aad(&self.id, &stored.name, stored.version),
            &stored.ciphertext,
        )
        .map_err(|_| failed())
    }

    fn commit_one(&mut self, stored: StoredEntry) -> Result<(), VaultError> {
        let mut entries = self.entries.clone();
        entries.insert(stored.name.clone(), stored);
        self.commit(entries, None)
    }

    /// Writes the vault with `entries` (and possibly a new key protection)
    /// atomically under the lock; applies it in memory only once on disk.
    fn commit(
        &mut self,
        entries: BTreeMap<String, StoredEntry>,
        rekey: Option<(KekHeader, WrappedKey)>,
    ) -> Result<(), VaultError> {
        let generation = self
            .generation
            .checked_add(1)
            .ok_or(VaultError::Internal("generation counter overflow"))?;
        let (kek, wrapped) = rekey.unwrap_or_else(|| (self.kek.clone(), self.wrapped.clone()));
        let header = Header {
            vault_id: self.id_hex(),
            generation,
            created: self.created,
            kek,
            wrapped_key: wrapped,
        };
        let body = Body {
            entries: entries.values().cloned().collect(),
        };
        let signed = format::encode_signed(&header, &body)?;
        let mac = hmac::sign(&self.mac_key, &signed);
        let bytes = format::finish(signed, mac.as_ref());

        let _lock = take_lock(&self.path)?;
        self.check_on_disk_generation()?;
        #[cfg(test)]
        let crash_after = self.crash_after;
        #[cfg(not(test))]
        let crash_after: Option<WriteStep> = None;
        safe_file::write_atomic_observed(
            &self.path,
            &bytes,
            safe_file::PRIVATE_FILE_MODE,
            &mut |step| match crash_after {
                Some(crash) if crash == step => Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "simulated crash",
                )),
                _ => Ok(()),
            },
        )
        .map_err(|e| permissions::vault_error("cannot write vault", e))?;
        // Still under the lock: copies left by killed saves (possibly wrapped
        // with a key this commit just replaced) go now.
        safe_file::remove_stale_temps(&self.path)
            .map_err(|e| permissions::vault_error("cannot remove stale temporary files", e))?;
        self.generation = header.generation;
        self.kek = header.kek;
        self.wrapped = header.wrapped_key;
        self.entries = entries;
        tracing::debug!(path = %self.path.display(), generation, "saved vault");
        Ok(())
    }

    /// Removes temp files of killed saves, if no other writer holds the lock
    /// (a writer's temp file in progress looks like a stale one). Opening is
    /// a read: a cleanup that cannot run (read-only directory, busy lock)
    /// leaves them for the next save, which removes them under its lock.
    fn remove_stale_temps_on_open(&self) {
        let Ok(_lock) = take_lock(&self.path) else {
            return;
        };
        match safe_file::remove_stale_temps(&self.path) {
            Ok(0) => {}
            Ok(removed) => {
                tracing::info!(path = %self.path.display(), removed, "removed stale vault temp files");
            }
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "cannot remove stale vault temp files");
            }
        }
    }

    /// Refuses to overwrite a vault another writer saved since we loaded it.
    fn check_on_disk_generation(&self) -> Result<(), VaultError> {
        if self.generation == 0 {
            // Creating: the file must still not exist.
            return match std::fs::symlink_metadata(&self.path) {
                Ok(_) => Err(VaultError::VaultExists {
                    path: self.path.clone(),
                }),
                Err(_) => Ok(()),
            };
        }
        let bytes = read_vault_file(&self.path)?;
        let parsed = format::parse(&self.path, &bytes)?;
        if parsed.header.vault_id != self.id_hex() {
            return Err(VaultError::Conflict {
                path: self.path.clone(),
                expected: self.generation,
                found: parsed.header.generation,
            });
        }
        if parsed.header.generation != self.generation {
            return Err(VaultError::Conflict {
                path: self.path.clone(),
                expected: self.generation,
                found: parsed.header.generation,
            });
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn set_crash_after(&mut self, step: Option<WriteStep>) {
        self.crash_after = step;
    }

    #[cfg(test)]
    pub(crate) fn test_unlock(
        path: &Path,
        bytes: &[u8],
        source: &KeySource,
    ) -> Result<Vault, VaultError> {
        let parsed = format::parse(path, bytes)?;
        let kek = source.resolve()?;
        Self::unlock(path.to_path_buf(), parsed, &kek, VaultOptions::default())
    }

    #[cfg(test)]
    pub(crate) fn test_encode(&self, entries: Vec<StoredEntry>) -> Vec<u8> {
        let header = Header {
            vault_id: self.id_hex(),
            generation: self.generation,
            created: self.created,
            kek: self.kek.clone(),
            wrapped_key: self.wrapped.clone(),
        };
        let signed = format::encode_signed(&header, &Body { entries }).unwrap();
        let mac = hmac::sign(&self.mac_key, &signed);
        format::finish(signed, mac.as_ref())
    }

    #[cfg(test)]
    pub(crate) fn test_entries(&self) -> Vec<StoredEntry> {
        self.entries.values().cloned().collect()
    }

    /// Imports entries as plain secrets in one write (used by the .env importer).
    pub(crate) fn import_secrets(
        &mut self,
        items: Vec<(String, SecretString)>,
        note: Option<String>,
    ) -> Result<(), VaultError> {
        let now = self.options.clock.now();
        let mut entries = self.entries.clone();
        for (name, value) in items {
            let (version, mut meta) = match entries.get(&name) {
                Some(existing) if existing.meta.kind != EntryKind::Secret => {
                    return Err(wrong_kind(&name, EntryKind::Secret, existing.meta.kind));
                }
                Some(existing) => (next_version(existing)?, existing.meta.clone()),
                None => (1, EntryMeta::new(EntryKind::Secret, now)),
            };
            meta.updated = now;
            meta.note = note.clone();
            let stored = self.encrypt(&name, version, meta, value.expose_secret().as_bytes())?;
            entries.insert(name, stored);
        }
        self.commit(entries, None)
    }
}

/// Builds the in-memory index, refusing bad names, duplicates and disorder.
fn index_entries(path: &Path, body: Body) -> Result<BTreeMap<String, StoredEntry>, VaultError> {
    let mut entries = BTreeMap::new();
    let mut previous: Option<String> = None;
    for stored in body.entries {
        validate_name(&stored.name)
            .map_err(|_| VaultError::tampered(path, "invalid entry name in index"))?;
        if previous
            .as_deref()
            .is_some_and(|p| p >= stored.name.as_str())
        {
            return Err(VaultError::tampered(
                path,
                "index is not sorted or has duplicates",
            ));
        }
        previous = Some(stored.name.clone());
        entries.insert(stored.name.clone(), stored);
    }
    Ok(entries)
}

fn info(stored: &StoredEntry) -> EntryInfo {
    EntryInfo {
        name: stored.name.clone(),
        kind: stored.meta.kind,
        version: stored.version,
        created: stored.meta.created,
        updated: stored.meta.updated,
        expires: stored.meta.expires,
        scopes: stored.meta.scopes.clone(),
        note: stored.meta.note.clone(),
    }
}

/// Seconds from the file as a duration, saturating instead of panicking.
fn seconds(secs: i64) -> TimeDelta {
    TimeDelta::try_seconds(secs).unwrap_or(if secs < 0 {
        TimeDelta::MIN
    } else {
        TimeDelta::MAX
    })
}

/// `at + delta`, saturating at the latest representable instant.
fn add_or_max(at: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(delta)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn not_found(name: &str) -> VaultError {
    VaultError::NotFound {
        name: crate::error::clip(name),
    }
}

fn wrong_kind(name: &str, expected: EntryKind, actual: EntryKind) -> VaultError {
    VaultError::WrongKind {
        name: name.to_owned(),
        expected: expected.as_str(),
        actual: actual.as_str(),
    }
}

fn next_version(existing: &StoredEntry) -> Result<u64, VaultError> {
    existing
        .version
        .checked_add(1)
        .ok_or(VaultError::Internal("version counter overflow"))
}

fn check_note(note: Option<&str>) -> Result<(), VaultError> {
    match note {
        Some(text) if text.chars().count() > MAX_NOTE_LEN => Err(VaultError::InvalidInput(
            "note longer than 1024 characters".to_owned(),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
