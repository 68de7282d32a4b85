//! Encrypted credential vault for ASTA: broker passwords, API keys, TOTP
//! seeds and sealing keys in one authenticated, encrypted file.
//!
//! `asta-vault` replaces hard-coded keys, plain-text `.env` secrets and
//! ad-hoc encrypted files. A [`Vault`] is one file of named entries (e.g.
//! `openalgo.api_key`, `shoonya.password`, `totp.operator`) with metadata
//! (created, updated, expires, scopes, note). Beside it the crate offers
//! API-key records with least-privilege [`Scope`]s and expiry, RFC 6238
//! [`Totp`] with replay protection and throttling, `.env` import
//! ([`read_dotenv`], [`Vault::import_dotenv`]), database field sealing
//! ([`FieldSealer`]) and chunked stream sealing for backups ([`seal_stream`]).
//! Client keys for `asta serve` ([`Vault::issue_client_key`],
//! [`ClientKeyRegistry`]) are stored only as a keyed hash: the vault can
//! check a key but never give it back.
//!
//! The key design decision is **envelope encryption with layered
//! integrity**: a random 256-bit data key encrypts each entry with
//! AES-256-GCM (ring), and only that data key is wrapped by the key from a
//! [`KeySource`] (an environment variable, a 0600 key file, or a passphrase
//! through Argon2id). Rekeying therefore rewrites one small header, and each
//! failure has its own error: a wrong key, a newer format, a truncated file,
//! a flipped byte and deliberate tampering are all told apart.
//!
//! # Example
//!
//! ```
//! // The secrecy types are re-exported: asta-vault is the only dependency needed.
//! use asta_vault::{ExposeSecret, KeySource, MasterKey, SecretString, Vault, VaultOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("asta.vault");
//! // In production: KeySource::Env (ASTA_MASTER_KEY) or KeyFile::generate(path)?.
//! let key = KeySource::Raw(MasterKey::generate()?);
//!
//! let mut vault = Vault::create(&path, &key, VaultOptions::default())?;
//! vault.set("shoonya.password", SecretString::from("s3cret"))?;
//!
//! let vault = Vault::open(&path, &key)?;
//! let password = vault.get("shoonya.password")?;
//! assert_eq!(password.expose_secret(), "s3cret");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # File format and checks
//!
//! A versioned header with the magic string `ASTAVLT\0`, then the entries.
//! Each entry's AAD binds the vault id, its name and its version, so a
//! ciphertext moved to another name, or an older version put back, fails to
//! open. An HMAC over the whole index detects added, removed or reordered
//! entries; an unkeyed SHA-256 digest tells accidental corruption from a
//! wrong key. Writes go to a 0600 temp file in the same directory, are
//! fsynced, renamed over the vault and the directory fsynced, all under an
//! exclusive lock (`<vault>.lock`); a writer that loaded an older generation
//! is refused with [`VaultError::Conflict`] rather than losing the other
//! writer's change ([`Vault::refresh`] reloads it, and refuses a file whose
//! generation went backwards).
//!
//! # Security notes
//!
//! - Secrets live in [`secrecy::SecretString`] or [`zeroize::Zeroizing`]
//!   buffers, wiped on drop, and stay encrypted in memory until read. No type
//!   here prints a secret in `Debug`, no secret is `Serialize`, and no error
//!   message or log event contains one (tests check this with a canary).
//! - Key files and vault files are refused unless they are regular files
//!   (no symlinks), owned by the current user, with mode 0600 or stricter;
//!   the error says how to fix it.
//! - Argon2id parameters default to OWASP's minimum (m = 19 MiB, t = 2,
//!   p = 1); parameters read from a file are capped (256 MiB, 10 passes, 8
//!   lanes, 1 GiB-pass in total) before any work is done.
//! - Entry *metadata* (names, kinds, timestamps, scopes, notes, TOTP replay
//!   state) is stored unencrypted but authenticated: do not put secrets in
//!   names or notes.
//! - A whole-file rollback to an older, intact vault cannot be detected from
//!   the file alone; compare [`Vault::generation`] with a record kept
//!   elsewhere (the audit trail) if that matters.
//! - All time comes from parameters or an [`asta_core::Clock`]
//!   ([`VaultOptions::with_clock`]); the crate never reads the system time
//!   directly.
//!
//! # Feature flags
//!
//! None.

mod api_key;
mod client_keys;
mod crypto;
mod dotenv;
mod error;
mod kdf;
mod key_source;
mod permissions;
mod seal_field;
mod seal_file;
mod seal_key;
mod totp;
mod vault;

pub use api_key::{
    ApiKeyPolicy, DEFAULT_API_KEY_LIFETIME_DAYS, DEFAULT_API_KEY_WARNING_DAYS, ExpiryState,
    KeyStatus, MAX_API_KEY_LIFETIME_DAYS, Scope,
};
pub use client_keys::{
    CLIENT_KEY_BODY_LEN, CLIENT_KEY_PREFIX, ClientKeyInfo, ClientKeyRefusal, ClientKeyRegistry,
    ClientKeyState, ClientScope, DEFAULT_CLIENT_KEY_LIFETIME_DAYS, IssuedClientKey,
    MAX_CLIENT_KEY_LIFETIME_DAYS, MAX_CLIENT_KEY_NAME_LEN, validate_client_key_name,
};
pub use dotenv::{DotenvEntry, DotenvImport, ImportReport, read_dotenv};
pub use error::VaultError;
pub use kdf::{
    Argon2Params, Argon2ParamsError, MAX_ITERATIONS, MAX_MEMORY_KIB, MAX_PARALLELISM,
    MAX_WORK_KIB_PASSES, OWASP_MIN_ITERATIONS, OWASP_MIN_MEMORY_KIB,
};
pub use key_source::{KeyFile, KeySource, MASTER_KEY_ENV, MasterKey};
pub use seal_field::{FieldSealer, MAX_FIELD_LEN, SEALED_FIELD_PREFIX};
pub use seal_file::{
    SEAL_CHUNK_SIZE, SealedWith, open_stream, open_stream_with_passphrase, seal_stream,
    seal_stream_with_passphrase, sealed_with,
};
pub use seal_key::{SealError, SealKey};
pub use totp::{
    TOTP_FAILURE_WINDOW_SECS, TOTP_MAX_FAILURES, Totp, TotpAlgorithm, TotpConfig, TotpError,
};
pub use vault::entry::{
    EntryInfo, EntryKind, EntryOptions, MAX_NAME_LEN, MAX_NOTE_LEN, validate_name,
};
pub use vault::{KeyProtection, TotpEnrollment, Vault, VaultOptions};

/// asta-core's clocks, for [`VaultOptions::with_clock`].
pub use asta_core::{Clock, ManualClock, SystemClock};
/// The secrecy types this crate's API takes and returns, re-exported so a
/// user needs no secrecy dependency of their own (and always the same
/// version as the vault).
pub use secrecy::{ExposeSecret, SecretBox, SecretString};
