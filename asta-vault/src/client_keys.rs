//! Client keys: the API keys that clients of `asta serve` present, stored
//! only as a keyed hash.
//!
//! A client key is `asta_ck_` followed by 52 lowercase base32 characters
//! (256 random bits). The vault never stores the key: it keeps
//! HMAC-SHA256 of it under a 256-bit hashing key that lives in the vault
//! (created with the first client key), encrypted like every other entry.
//! A stolen vault file without the vault's key reveals nothing; with it,
//! the keys still cannot be recovered, only checked.
//!
//! The gateway holds a [`ClientKeyRegistry`] (from
//! [`crate::Vault::client_key_registry`]): an immutable map from each key's
//! MAC to its record, so [`ClientKeyRegistry::authenticate`] costs one HMAC
//! and one hash-map lookup, with no decryption per request.

use std::collections::HashMap;
use std::fmt;

use asta_core::StrategyTag;
use chrono::{DateTime, Utc};
use ring::{digest, hmac};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::{VaultError, clip};

/// The prefix of every client key, so a leaked key is recognisable (and
/// redacted by asta-audit's free-text patterns).
pub const CLIENT_KEY_PREFIX: &str = "asta_ck_";
/// Number of base32 characters after the prefix (256 bits).
pub const CLIENT_KEY_BODY_LEN: usize = 52;
/// Default lifetime of a client key: 90 days.
pub const DEFAULT_CLIENT_KEY_LIFETIME_DAYS: i64 = 90;
/// Longest lifetime of a client key: 730 days (keys must rotate).
pub const MAX_CLIENT_KEY_LIFETIME_DAYS: i64 = 730;
/// Longest client key name.
pub const MAX_CLIENT_KEY_NAME_LEN: usize = 64;

/// Domain separation for the keyed hash, so the hashing key is never used
/// for anything else by accident.
const MAC_CONTEXT: &[u8] = b"asta client key v1\0";

/// What a client key may do. Scopes are exact: `admin` does not imply
/// `trade`; `trade` implies read access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientScope {
    /// Market data, funds, positions, order and trade books: nothing that
    /// places, modifies or cancels an order.
    Read,
    /// Read access, plus placing, modifying and cancelling orders.
    Trade,
    /// Signs in to the operator console (with TOTP); no trading by itself.
    Admin,
}

impl ClientScope {
    /// The scope's name: `read`, `trade` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientScope::Read => "read",
            ClientScope::Trade => "trade",
            ClientScope::Admin => "admin",
        }
    }

    /// May read market data, funds, positions and books (`read`, `trade`).
    pub fn allows_read(self) -> bool {
        matches!(self, ClientScope::Read | ClientScope::Trade)
    }

    /// May place, modify and cancel orders (`trade` only).
    pub fn allows_trade(self) -> bool {
        matches!(self, ClientScope::Trade)
    }

    /// May sign in to the operator console (`admin` only).
    pub fn allows_admin(self) -> bool {
        matches!(self, ClientScope::Admin)
    }

    /// Whether a key with this scope grants the power to trade or to
    /// administer (issuing one should need the operator's TOTP).
    pub fn is_privileged(self) -> bool {
        matches!(self, ClientScope::Trade | ClientScope::Admin)
    }
}

impl fmt::Display for ClientScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClientScope {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(ClientScope::Read),
            "trade" => Ok(ClientScope::Trade),
            "admin" => Ok(ClientScope::Admin),
            other => Err(VaultError::InvalidName {
                what: "client key scope",
                value: clip(other),
                rule: "must be read, trade or admin",
            }),
        }
    }
}

/// Checks a client key name: 1-64 characters of `a-z 0-9 _ . -`, starting
/// with a lowercase letter (e.g. `scalper`, `tv.alerts-1`).
pub fn validate_client_key_name(name: &str) -> Result<(), VaultError> {
    let invalid = |rule| VaultError::InvalidName {
        what: "client key name",
        value: clip(name),
        rule,
    };
    if name.is_empty() || name.len() > MAX_CLIENT_KEY_NAME_LEN {
        return Err(invalid("must be 1 to 64 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid("must start with a lowercase letter"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return Err(invalid("may contain only a-z 0-9 _ . -"));
    }
    Ok(())
}

/// Where a client key stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientKeyState {
    /// Accepted.
    Active,
    /// Past its expiry: refused.
    Expired,
    /// Revoked: refused (revocation is final).
    Revoked,
}

impl ClientKeyState {
    /// `active`, `expired` or `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKeyState::Active => "active",
            ClientKeyState::Expired => "expired",
            ClientKeyState::Revoked => "revoked",
        }
    }
}

impl fmt::Display for ClientKeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything about a client key but the key: safe to show, log and audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientKeyInfo {
    /// The key's name (see [`validate_client_key_name`]).
    pub name: String,
    /// What it may do.
    pub scope: ClientScope,
    /// The only strategy tag it may trade under, if restricted.
    pub strategy: Option<StrategyTag>,
    /// When the current key was issued (or rotated).
    pub created: DateTime<Utc>,
    /// When it stops working.
    pub expires: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// A short, non-secret identifier of the current key: the first 8 hex
    /// characters of its SHA-256 (so an operator can tell which key a
    /// client holds without seeing it).
    pub fingerprint: String,
}

impl ClientKeyInfo {
    /// Where the key stands at `now`: revoked wins over expired.
    pub fn state(&self, now: DateTime<Utc>) -> ClientKeyState {
        if self.revoked_at.is_some() {
            ClientKeyState::Revoked
        } else if now >= self.expires {
            ClientKeyState::Expired
        } else {
            ClientKeyState::Active
        }
    }

    /// Whether this key may trade under `strategy`: a key bound to a
    /// strategy tag only under that tag, an unbound key under any.
    /// (Scope is checked separately with [`ClientScope::allows_trade`].)
    pub fn may_use_strategy(&self, strategy: &StrategyTag) -> bool {
        self.strategy.as_ref().is_none_or(|own| own == strategy)
    }
}

/// A newly issued (or rotated) client key: the key, to be shown once, and
/// its record. `Debug` never prints the key.
pub struct IssuedClientKey {
    /// The key text (`asta_ck_…`). It is not stored anywhere.
    pub key: SecretString,
    /// Its record.
    pub info: ClientKeyInfo,
}

impl fmt::Debug for IssuedClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedClientKey")
            .field("key", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

/// Why a presented client key was refused. The gateway answers all of them
/// alike (OpenAlgo's 403 "Invalid openalgo apikey") and audits the name
/// when there is one. No variant carries the presented text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientKeyRefusal {
    /// Not of the form `asta_ck_` + 52 base32 characters.
    #[error("the API key is not an ASTA client key")]
    Malformed,
    /// Well-formed, but no current key matches (never issued, or rotated away).
    #[error("the API key is not a current client key")]
    Unknown,
    /// The key `name` expired.
    #[error("client key `{name}` expired")]
    Expired {
        /// The key's name.
        name: String,
    },
    /// The key `name` was revoked.
    #[error("client key `{name}` was revoked")]
    Revoked {
        /// The key's name.
        name: String,
    },
}

impl ClientKeyRefusal {
    /// The key's name, when the presented key was one of ours.
    pub fn name(&self) -> Option<&str> {
        match self {
            ClientKeyRefusal::Expired { name } | ClientKeyRefusal::Revoked { name } => Some(name),
            ClientKeyRefusal::Malformed | ClientKeyRefusal::Unknown => None,
        }
    }
}

/// An immutable snapshot of the vault's client keys, for authenticating
/// requests. Cheap to build ([`crate::Vault::client_key_registry`]) and to
/// query; rebuild it when [`crate::Vault::generation`] changes.
///
/// `Debug` shows key names only.
pub struct ClientKeyRegistry {
    /// `None` until the first key is issued (then nothing authenticates).
    hash_key: Option<hmac::Key>,
    by_mac: HashMap<[u8; 32], ClientKeyInfo>,
}

impl fmt::Debug for ClientKeyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.by_mac.values().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        f.debug_struct("ClientKeyRegistry")
            .field("names", &names)
            .finish_non_exhaustive()
    }
}

impl ClientKeyRegistry {
    pub(crate) fn new(hash_key: Option<hmac::Key>) -> Self {
        Self {
            hash_key,
            by_mac: HashMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, mac: [u8; 32], info: ClientKeyInfo) {
        self.by_mac.insert(mac, info);
    }

    /// Checks a presented key at `now`: its record if it is current,
    /// unexpired and unrevoked; otherwise why not.
    ///
    /// Costs one HMAC-SHA256 and one hash-map lookup. The lookup is
    /// timing-safe because it is keyed by the MAC of the presented text,
    /// not by the text: an attacker chooses the input but cannot predict or
    /// steer its MAC without the hashing key, so how long the lookup takes
    /// (hashing and comparing MAC bytes) says nothing about any stored MAC
    /// that they could use to build a valid key byte by byte.
    pub fn authenticate(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<&ClientKeyInfo, ClientKeyRefusal> {
        if !is_well_formed(presented) {
            return Err(ClientKeyRefusal::Malformed);
        }
        let Some(hash_key) = &self.hash_key else {
            return Err(ClientKeyRefusal::Unknown);
        };
        let info = self
            .by_mac
            .get(&mac(hash_key, presented))
            .ok_or(ClientKeyRefusal::Unknown)?;
        match info.state(now) {
            ClientKeyState::Active => Ok(info),
            ClientKeyState::Expired => Err(ClientKeyRefusal::Expired {
                name: info.name.clone(),
            }),
            ClientKeyState::Revoked => Err(ClientKeyRefusal::Revoked {
                name: info.name.clone(),
            }),
        }
    }

    /// Number of keys (of every state).
    pub fn len(&self) -> usize {
        self.by_mac.len()
    }

    /// `true` when no key was issued.
    pub fn is_empty(&self) -> bool {
        self.by_mac.is_empty()
    }
}

/// The stored part of a client key's record (entry metadata: not secret,
/// authenticated by the index MAC). The MAC itself is the encrypted value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientKeyMeta {
    pub(crate) scope: ClientScope,
    #[serde(default)]
    pub(crate) strategy: Option<StrategyTag>,
    pub(crate) expires: DateTime<Utc>,
    /// Applied again on rotation.
    pub(crate) lifetime_secs: i64,
    #[serde(default)]
    pub(crate) revoked_at: Option<DateTime<Utc>>,
    pub(crate) fingerprint: String,
}

/// `asta_ck_` + exactly 52 characters of `a-z 2-7`.
fn is_well_formed(presented: &str) -> bool {
    presented
        .strip_prefix(CLIENT_KEY_PREFIX)
        .is_some_and(|body| {
            body.len() == CLIENT_KEY_BODY_LEN
                && body
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
        })
}

/// The keyed hash stored for a key.
pub(crate) fn mac(hash_key: &hmac::Key, key_text: &str) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(hash_key);
    ctx.update(MAC_CONTEXT);
    ctx.update(key_text.as_bytes());
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    // HMAC-SHA256 tags are 32 bytes; zip stops safely either way.
    for (o, b) in out.iter_mut().zip(tag.as_ref()) {
        *o = *b;
    }
    out
}

/// A fresh key text from 256 random bits.
pub(crate) fn generate_key_text() -> Result<SecretString, VaultError> {
    let bytes =
        crate::crypto::random_key().map_err(|_| VaultError::Internal("random generator failed"))?;
    let body = zeroize::Zeroizing::new(data_encoding::BASE32_NOPAD.encode(bytes.as_ref()));
    let mut text = String::with_capacity(CLIENT_KEY_PREFIX.len() + CLIENT_KEY_BODY_LEN);
    text.push_str(CLIENT_KEY_PREFIX);
    text.extend(body.chars().map(|c| c.to_ascii_lowercase()));
    Ok(SecretString::from(text))
}

/// First 8 hex characters of SHA-256 of the key text.
pub(crate) fn fingerprint(key_text: &str) -> String {
    let digest = digest::digest(&digest::SHA256, key_text.as_bytes());
    digest
        .as_ref()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn names() {
        for good in ["a", "scalper", "tv.alerts-1", "x_9", &"a".repeat(64)] {
            assert!(validate_client_key_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1a",
            "_a",
            "A",
            "aB",
            "a b",
            "a/b",
            "é",
            "a\n",
            &"a".repeat(65),
        ] {
            assert!(validate_client_key_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scopes_are_exact() {
        assert!(ClientScope::Trade.allows_read() && ClientScope::Trade.allows_trade());
        assert!(ClientScope::Read.allows_read() && !ClientScope::Read.allows_trade());
        assert!(!ClientScope::Admin.allows_trade() && !ClientScope::Admin.allows_read());
        assert!(ClientScope::Admin.allows_admin() && !ClientScope::Trade.allows_admin());
        for s in ["read", "trade", "admin"] {
            assert_eq!(s.parse::<ClientScope>().unwrap().as_str(), s);
        }
        assert!("Trade".parse::<ClientScope>().is_err());
        assert_eq!(
            serde_json::to_string(&ClientScope::Trade).unwrap(),
            "\"trade\""
        );
    }

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate_key_text().unwrap();
        let b = generate_key_text().unwrap();
        assert!(is_well_formed(a.expose_secret()), "{}", a.expose_secret());
        assert_eq!(a.expose_secret().len(), 60);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(fingerprint(a.expose_secret()).len(), 8);
        assert!(!is_well_formed(&a.expose_secret().to_uppercase()));
        assert!(!is_well_formed(&a.expose_secret()[..59]));
    }
}
