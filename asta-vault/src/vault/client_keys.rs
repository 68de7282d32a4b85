//! The vault side of client keys: one `client_key` entry per key (its MAC
//! encrypted as the value, its record in the authenticated metadata) and
//! one sealing-key entry holding the hashing key.

use chrono::{DateTime, TimeDelta, Utc};
use ring::hmac;
use secrecy::ExposeSecret;

use super::entry::{EntryKind, EntryMeta};
use super::format::StoredEntry;
use super::{Vault, add_or_max, next_version, seconds};
use crate::client_keys::{
    ClientKeyInfo, ClientKeyMeta, ClientKeyRegistry, ClientScope, IssuedClientKey,
    MAX_CLIENT_KEY_LIFETIME_DAYS, fingerprint, generate_key_text, mac, validate_client_key_name,
};
use crate::crypto;
use crate::error::VaultError;

/// The vault entry holding the 256-bit hashing key for client keys.
pub(crate) const HASH_KEY_ENTRY: &str = "client_keys.hash_key";
/// Entry names of client keys: this prefix and the key's name.
pub(crate) const ENTRY_PREFIX: &str = "client_key.";

fn entry_name(name: &str) -> String {
    format!("{ENTRY_PREFIX}{name}")
}

fn info_of(stored: &StoredEntry) -> Option<ClientKeyInfo> {
    let meta = stored.meta.client_key.as_ref()?;
    let name = stored.name.strip_prefix(ENTRY_PREFIX)?;
    Some(ClientKeyInfo {
        name: name.to_owned(),
        scope: meta.scope,
        strategy: meta.strategy.clone(),
        created: stored.meta.created,
        expires: meta.expires,
        revoked_at: meta.revoked_at,
        fingerprint: meta.fingerprint.clone(),
    })
}

impl Vault {
    /// Issues a new client key `name` with `scope`, optionally bound to one
    /// `strategy` tag, valid for `lifetime` (1 to 730 days) from now by the
    /// vault's clock. Returns the key, to be shown once: the vault keeps
    /// only its keyed hash.
    ///
    /// Refuses an invalid name ([`VaultError::InvalidName`]), an existing
    /// one ([`VaultError::ClientKeyExists`]) and a lifetime out of bounds
    /// ([`VaultError::InvalidInput`]). The first key also creates the
    /// hashing key, in the same atomic write.
    pub fn issue_client_key(
        &mut self,
        name: &str,
        scope: ClientScope,
        strategy: Option<asta_core::StrategyTag>,
        lifetime: TimeDelta,
    ) -> Result<IssuedClientKey, VaultError> {
        validate_client_key_name(name)?;
        check_lifetime(lifetime)?;
        let entry = entry_name(name);
        if self.entries.contains_key(&entry) {
            return Err(VaultError::ClientKeyExists {
                name: name.to_owned(),
            });
        }
        let mut entries = self.entries.clone();
        let (hash_key, new_hash_entry) = self.client_hash_key_or_new()?;
        if let Some(stored) = new_hash_entry {
            entries.insert(stored.name.clone(), stored);
        }
        let now = self.options.clock.now();
        let meta = ClientKeyMeta {
            scope,
            strategy,
            expires: add_or_max(now, lifetime),
            lifetime_secs: lifetime.num_seconds(),
            revoked_at: None,
            fingerprint: String::new(),
        };
        let (issued, stored) = self.new_client_key_entry(&hash_key, &entry, 1, now, meta)?;
        entries.insert(entry, stored);
        self.commit(entries, None)?;
        tracing::info!(client_key = name, scope = %scope, "issued client key");
        Ok(issued)
    }

    /// Replaces the key of client key `name` with a new one (same scope,
    /// strategy and lifetime, counted from now); the old key stops working
    /// at once. Refuses a revoked key ([`VaultError::ClientKeyRevoked`]:
    /// revocation is final) and an unknown name
    /// ([`VaultError::ClientKeyNotFound`]). An expired key may be rotated.
    pub fn rotate_client_key(&mut self, name: &str) -> Result<IssuedClientKey, VaultError> {
        let (stored, meta) = self.client_key_entry(name)?;
        if meta.revoked_at.is_some() {
            return Err(VaultError::ClientKeyRevoked {
                name: name.to_owned(),
            });
        }
        let version = next_version(stored)?;
        let entry = stored.name.clone();
        let mut meta = meta.clone();
        let now = self.options.clock.now();
        meta.expires = add_or_max(now, seconds(meta.lifetime_secs));
        let (hash_key, _) = self.client_hash_key_or_new()?;
        let (issued, stored) = self.new_client_key_entry(&hash_key, &entry, version, now, meta)?;
        self.commit_one(stored)?;
        tracing::info!(client_key = name, "rotated client key");
        Ok(issued)
    }

    /// Revokes client key `name` (by the vault's clock): it is refused from
    /// now on, and cannot be rotated back to life. Revoking a revoked key
    /// changes nothing and returns its record.
    pub fn revoke_client_key(&mut self, name: &str) -> Result<ClientKeyInfo, VaultError> {
        let (stored, meta) = self.client_key_entry(name)?;
        if meta.revoked_at.is_some() {
            return info_of(stored).ok_or(VaultError::Internal("client key record"));
        }
        let mut stored = stored.clone();
        let now = self.options.clock.now();
        stored.meta.updated = now;
        if let Some(meta) = stored.meta.client_key.as_mut() {
            meta.revoked_at = Some(now);
        }
        let info = info_of(&stored).ok_or(VaultError::Internal("client key record"))?;
        self.commit_one(stored)?;
        tracing::info!(client_key = name, "revoked client key");
        Ok(info)
    }

    /// Every client key's record, sorted by name. Never a key or its hash.
    pub fn client_keys(&self) -> Vec<ClientKeyInfo> {
        self.entries
            .range(ENTRY_PREFIX.to_owned()..)
            .take_while(|(name, _)| name.starts_with(ENTRY_PREFIX))
            .filter(|(_, stored)| stored.meta.kind == EntryKind::ClientKey)
            .filter_map(|(_, stored)| info_of(stored))
            .collect()
    }

    /// The record of client key `name`.
    pub fn client_key(&self, name: &str) -> Result<ClientKeyInfo, VaultError> {
        let (stored, _) = self.client_key_entry(name)?;
        info_of(stored).ok_or(VaultError::Internal("client key record"))
    }

    /// A snapshot of every client key for authentication
    /// ([`ClientKeyRegistry::authenticate`]). Building it decrypts one
    /// 32-byte value per key (microseconds each); rebuild it after
    /// [`Vault::refresh`] when [`Vault::generation`] changed.
    pub fn client_key_registry(&self) -> Result<ClientKeyRegistry, VaultError> {
        let hash_key = match self.entries.get(HASH_KEY_ENTRY) {
            Some(_) => Some(self.client_hash_key()?),
            None => None,
        };
        let mut registry = ClientKeyRegistry::new(hash_key);
        for (_, stored) in self
            .entries
            .range(ENTRY_PREFIX.to_owned()..)
            .take_while(|(name, _)| name.starts_with(ENTRY_PREFIX))
        {
            if stored.meta.kind != EntryKind::ClientKey {
                continue;
            }
            let info = info_of(stored)
                .ok_or_else(|| VaultError::corrupted(&self.path, "client key record"))?;
            let plaintext = self.decrypt(stored)?;
            let mac: [u8; 32] = plaintext
                .as_slice()
                .try_into()
                .map_err(|_| VaultError::corrupted(&self.path, "client key hash length"))?;
            registry.insert(mac, info);
        }
        Ok(registry)
    }

    // ----- internals -----------------------------------------------------

    fn client_key_entry(&self, name: &str) -> Result<(&StoredEntry, &ClientKeyMeta), VaultError> {
        let not_found = || VaultError::ClientKeyNotFound {
            name: crate::error::clip(name),
        };
        let stored = self.entries.get(&entry_name(name)).ok_or_else(not_found)?;
        if stored.meta.kind != EntryKind::ClientKey {
            return Err(not_found());
        }
        let meta = stored.meta.client_key.as_ref().ok_or_else(not_found)?;
        Ok((stored, meta))
    }

    fn client_hash_key(&self) -> Result<hmac::Key, VaultError> {
        let key = self.seal_key(HASH_KEY_ENTRY)?;
        Ok(hmac::Key::new(hmac::HMAC_SHA256, key.bytes()))
    }

    /// The hashing key, or a new one and the entry that stores it.
    fn client_hash_key_or_new(&self) -> Result<(hmac::Key, Option<StoredEntry>), VaultError> {
        if self.entries.contains_key(HASH_KEY_ENTRY) {
            return Ok((self.client_hash_key()?, None));
        }
        let bytes =
            crypto::random_key().map_err(|_| VaultError::Internal("random generator failed"))?;
        let meta = EntryMeta::new(EntryKind::SealKey, self.options.clock.now());
        let stored = self.encrypt(HASH_KEY_ENTRY, 1, meta, bytes.as_ref())?;
        Ok((
            hmac::Key::new(hmac::HMAC_SHA256, bytes.as_ref()),
            Some(stored),
        ))
    }

    /// A fresh key and the entry storing its MAC under `entry`.
    fn new_client_key_entry(
        &self,
        hash_key: &hmac::Key,
        entry: &str,
        version: u64,
        now: DateTime<Utc>,
        mut client: ClientKeyMeta,
    ) -> Result<(IssuedClientKey, StoredEntry), VaultError> {
        let key = generate_key_text()?;
        let key_mac = zeroize::Zeroizing::new(mac(hash_key, key.expose_secret()));
        client.fingerprint = fingerprint(key.expose_secret());
        let mut meta = EntryMeta::new(EntryKind::ClientKey, now);
        meta.client_key = Some(client);
        let stored = self.encrypt(entry, version, meta, key_mac.as_ref())?;
        let info = info_of(&stored).ok_or(VaultError::Internal("client key record"))?;
        Ok((IssuedClientKey { key, info }, stored))
    }
}

fn check_lifetime(lifetime: TimeDelta) -> Result<(), VaultError> {
    if lifetime < TimeDelta::days(1) || lifetime > TimeDelta::days(MAX_CLIENT_KEY_LIFETIME_DAYS) {
        return Err(VaultError::InvalidInput(format!(
            "a client key's lifetime must be 1 to {MAX_CLIENT_KEY_LIFETIME_DAYS} days"
        )));
    }
    Ok(())
}
