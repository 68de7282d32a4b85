//! Entry names, kinds and metadata (everything about an entry but its value).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api_key::Scope;
use crate::client_keys::ClientKeyMeta;
use crate::error::{VaultError, clip};
use crate::totp::TotpState;

/// Longest entry name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest note.
pub const MAX_NOTE_LEN: usize = 1024;

/// Checks an entry name: 1-128 characters of `A-Z a-z 0-9 . _ -`, starting
/// with a letter or digit (e.g. `openalgo.api_key`, `shoonya.password`).
pub fn validate_name(name: &str) -> Result<(), VaultError> {
    let invalid = |rule| VaultError::InvalidName {
        what: "entry name",
        value: clip(name),
        rule,
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(invalid("must be 1 to 128 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(invalid("must start with a letter or digit"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(invalid("may contain only A-Z a-z 0-9 . _ -"));
    }
    Ok(())
}

/// What an entry holds, which decides how it can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// A plain secret (password, token): read with [`crate::Vault::get`].
    Secret,
    /// An API key with scopes and expiry: read with [`crate::Vault::api_key`].
    ApiKey,
    /// A TOTP secret: never read, only used by [`crate::Vault::verify_totp`].
    Totp,
    /// A 256-bit sealing key: read with [`crate::Vault::seal_key`].
    SealKey,
    /// A client key's keyed hash (never the key): managed with
    /// [`crate::Vault::issue_client_key`] and friends, never read.
    ClientKey,
}

impl EntryKind {
    /// A short name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Secret => "secret",
            EntryKind::ApiKey => "api_key",
            EntryKind::Totp => "totp",
            EntryKind::SealKey => "seal_key",
            EntryKind::ClientKey => "client_key",
        }
    }
}

/// Stored metadata of an entry (authenticated by the index MAC, not secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntryMeta {
    pub(crate) kind: EntryKind,
    pub(crate) created: DateTime<Utc>,
    pub(crate) updated: DateTime<Utc>,
    #[serde(default)]
    pub(crate) expires: Option<DateTime<Utc>>,
    /// API keys: lifetime applied on rotation, in seconds.
    #[serde(default)]
    pub(crate) lifetime_secs: Option<i64>,
    /// Warning window before expiry, in seconds.
    #[serde(default)]
    pub(crate) warn_before_secs: Option<i64>,
    #[serde(default)]
    pub(crate) scopes: Vec<Scope>,
    #[serde(default)]
    pub(crate) note: Option<String>,
    #[serde(default)]
    pub(crate) totp: Option<TotpState>,
    /// Client keys: scope, strategy, expiry, revocation, fingerprint.
    /// Skipped when absent, so vaults without client keys keep their format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) client_key: Option<ClientKeyMeta>,
}

impl EntryMeta {
    pub(crate) fn new(kind: EntryKind, now: DateTime<Utc>) -> Self {
        Self {
            kind,
            created: now,
            updated: now,
            expires: None,
            lifetime_secs: None,
            warn_before_secs: None,
            scopes: Vec::new(),
            note: None,
            totp: None,
            client_key: None,
        }
    }
}

/// Optional metadata for a plain secret ([`crate::Vault::set_with`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryOptions {
    pub(crate) expires: Option<DateTime<Utc>>,
    pub(crate) note: Option<String>,
}

impl EntryOptions {
    /// No expiry, no note.
    pub fn new() -> Self {
        Self::default()
    }

    /// The secret is refused by `get` from this instant on.
    pub fn expires(mut self, at: DateTime<Utc>) -> Self {
        self.expires = Some(at);
        self
    }

    /// A free-text note (not secret: stored unencrypted but authenticated;
    /// at most 1024 characters).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// What [`crate::Vault::list`] shows about an entry: metadata only, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// The entry name.
    pub name: String,
    /// What it holds.
    pub kind: EntryKind,
    /// Version counter: 1 when created, +1 on every new value.
    pub version: u64,
    /// When the entry was created (for API keys: when the current value was
    /// set or rotated).
    pub created: DateTime<Utc>,
    /// When the entry last changed.
    pub updated: DateTime<Utc>,
    /// When it expires, if ever.
    pub expires: Option<DateTime<Utc>>,
    /// API-key scopes.
    pub scopes: Vec<Scope>,
    /// The note, if any.
    pub note: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in [
            "openalgo.api_key",
            "shoonya.password",
            "totp.operator",
            "A1",
            "x",
        ] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a b",
            "a/b",
            "é",
            "a\0",
            &"a".repeat(129),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
