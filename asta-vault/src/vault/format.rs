//! The vault file format (version 1) and its unkeyed checks.
//!
//! ```text
//! prelude (22 bytes, the same layout in every format version):
//!   magic "ASTAVLT\0" (8) | version u16 | header length u32 | body length u32
//!   | prelude check (4 bytes: SHA-256 of the 18 bytes before, truncated)
//! header  JSON: vault id, generation, creation time, key protection, wrapped data key
//! body    JSON: the entries (name, version, metadata, nonce, ciphertext), sorted by name
//! mac     32 bytes: HMAC-SHA256(index key, prelude | header | body)
//! digest  32 bytes: SHA-256(everything before)
//! ```
//!
//! The unkeyed checks run first and classify damage without any key: a
//! prelude whose check fails is *corrupted*; a file shorter than its intact
//! prelude declares is *truncated*; a newer version is named as such; a bad
//! digest is a *flipped byte*. Only then are the key and the MAC involved: a
//! data key that does not unwrap is a *wrong key*, and a bad MAC or entry
//! tag with an intact digest is *tampering* (someone rewrote the digest).

use std::path::Path;

use chrono::{DateTime, Utc};
use data_encoding::BASE64;
use ring::digest;
use serde::{Deserialize, Serialize};

use crate::error::VaultError;
use crate::kdf::Argon2Params;
use crate::vault::entry::EntryMeta;

pub(crate) const MAGIC: &[u8; 8] = b"ASTAVLT\0";
pub(crate) const FORMAT_VERSION: u16 = 1;
const PRELUDE_FIELDS_LEN: usize = 18;
pub(crate) const PRELUDE_LEN: usize = 22;
pub(crate) const MAC_LEN: usize = 32;
const DIGEST_LEN: usize = 32;
/// Largest header accepted.
const MAX_HEADER_LEN: u32 = 64 * 1024;
/// Largest body accepted (64 MiB).
const MAX_BODY_LEN: u32 = 64 * 1024 * 1024;
/// Largest vault file accepted.
pub(crate) const MAX_FILE_LEN: u64 =
    PRELUDE_LEN as u64 + MAX_HEADER_LEN as u64 + MAX_BODY_LEN as u64 + 64;

/// Serde helper: bytes as standard base64 text.
pub(crate) mod b64 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}

/// How the data key is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum KekHeader {
    /// A raw 32-byte key (environment variable, key file, raw bytes).
    Raw,
    /// A passphrase through Argon2id.
    Argon2id {
        params: Argon2Params,
        #[serde(with = "b64")]
        salt: Vec<u8>,
    },
}

/// The data key encrypted under the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WrappedKey {
    #[serde(with = "b64")]
    pub(crate) nonce: Vec<u8>,
    #[serde(with = "b64")]
    pub(crate) ciphertext: Vec<u8>,
}

/// The plaintext header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Header {
    pub(crate) vault_id: String,
    pub(crate) generation: u64,
    pub(crate) created: DateTime<Utc>,
    pub(crate) kek: KekHeader,
    pub(crate) wrapped_key: WrappedKey,
}

/// One stored entry: metadata in the clear (authenticated), value encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredEntry {
    pub(crate) name: String,
    pub(crate) version: u64,
    pub(crate) meta: EntryMeta,
    #[serde(with = "b64")]
    pub(crate) nonce: Vec<u8>,
    #[serde(with = "b64")]
    pub(crate) ciphertext: Vec<u8>,
}

/// The body: entries sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    pub(crate) entries: Vec<StoredEntry>,
}

/// A file that passed the unkeyed checks.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) header: Header,
    pub(crate) body: Body,
    /// prelude | header | body: what the MAC covers.
    pub(crate) signed: Vec<u8>,
    pub(crate) mac: [u8; MAC_LEN],
}

pub(crate) fn prelude_check(fields: &[u8]) -> [u8; 4] {
    let d = digest::digest(&digest::SHA256, fields);
    let mut out = [0u8; 4];
    out.copy_from_slice(d.as_ref().get(..4).unwrap_or(&[0; 4]));
    out
}

/// Builds the signed part (prelude | header | body) of a file.
pub(crate) fn encode_signed(header: &Header, body: &Body) -> Result<Vec<u8>, VaultError> {
    let header_bytes =
        serde_json::to_vec(header).map_err(|_| VaultError::Internal("header serialization"))?;
    let body_bytes =
        serde_json::to_vec(body).map_err(|_| VaultError::Internal("body serialization"))?;
    let too_big = || VaultError::InvalidInput("vault would exceed the 64 MiB size limit".into());
    let header_len = u32::try_from(header_bytes.len())
        .ok()
        .filter(|l| *l <= MAX_HEADER_LEN)
        .ok_or_else(too_big)?;
    let body_len = u32::try_from(body_bytes.len())
        .ok()
        .filter(|l| *l <= MAX_BODY_LEN)
        .ok_or_else(too_big)?;
    let mut out = Vec::with_capacity(PRELUDE_LEN + header_bytes.len() + body_bytes.len() + 64);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&header_len.to_be_bytes());
    out.extend_from_slice(&body_len.to_be_bytes());
    let check = prelude_check(&out);
    out.extend_from_slice(&check);
    out.extend_from_slice(&header_bytes);
    out.extend_from_slice(&body_bytes);
    Ok(out)
}

/// Appends the MAC and the digest to the signed part.
pub(crate) fn finish(mut signed: Vec<u8>, mac: &[u8]) -> Vec<u8> {
    signed.extend_from_slice(mac);
    let d = digest::digest(&digest::SHA256, &signed);
    signed.extend_from_slice(d.as_ref());
    signed
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(slice) = bytes.get(at..at + 4) {
        word.copy_from_slice(slice);
    }
    u32::from_be_bytes(word)
}

/// Runs the unkeyed checks and parses header and body.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed, VaultError> {
    let actual = bytes.len() as u64;
    let truncated = |expected: u64| VaultError::Truncated {
        path: path.to_path_buf(),
        expected,
        actual,
    };
    // Magic.
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes.get(..magic_len) != MAGIC.get(..magic_len) {
        return Err(VaultError::NotAVault {
            path: path.to_path_buf(),
        });
    }
    let Some(prelude) = bytes.get(..PRELUDE_LEN) else {
        return Err(truncated(PRELUDE_LEN as u64));
    };
    // Version first: a newer format keeps this prelude layout but may change
    // everything after it, including how the prelude check is computed.
    let version = u16::from_be_bytes([prelude[8], prelude[9]]);
    let fields = prelude.get(..PRELUDE_FIELDS_LEN).unwrap_or_default();
    let check_ok = prelude.get(PRELUDE_FIELDS_LEN..) == Some(&prelude_check(fields)[..]);
    if !check_ok {
        return Err(VaultError::corrupted(
            path,
            "prelude checksum mismatch: a byte of the file header was changed",
        ));
    }
    if version > FORMAT_VERSION {
        return Err(VaultError::NewerVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version == 0 {
        return Err(VaultError::corrupted(path, "format version 0"));
    }
    let header_len = be_u32(prelude, 10);
    let body_len = be_u32(prelude, 14);
    if header_len > MAX_HEADER_LEN || body_len > MAX_BODY_LEN {
        return Err(VaultError::corrupted(
            path,
            "declared section length too large",
        ));
    }
    let header_end = PRELUDE_LEN + header_len as usize;
    let body_end = header_end + body_len as usize;
    let total = body_end + MAC_LEN + DIGEST_LEN;
    if bytes.len() < total {
        return Err(truncated(total as u64));
    }
    if bytes.len() > total {
        return Err(VaultError::corrupted(
            path,
            "data after the end of the vault",
        ));
    }
    let (content, stored_digest) = bytes.split_at(total - DIGEST_LEN);
    let computed = digest::digest(&digest::SHA256, content);
    if computed.as_ref() != stored_digest {
        return Err(VaultError::corrupted(
            path,
            "checksum mismatch: a byte of the file was changed",
        ));
    }
    let (signed, mac_bytes) = content.split_at(body_end);
    let mut mac = [0u8; MAC_LEN];
    mac.copy_from_slice(mac_bytes);
    let header: Header =
        serde_json::from_slice(signed.get(PRELUDE_LEN..header_end).unwrap_or_default())
            .map_err(|_| VaultError::corrupted(path, "header is not valid"))?;
    let body: Body = serde_json::from_slice(signed.get(header_end..).unwrap_or_default())
        .map_err(|_| VaultError::corrupted(path, "entry index is not valid"))?;
    Ok(Parsed {
        header,
        body,
        signed: signed.to_vec(),
        mac,
    })
}
