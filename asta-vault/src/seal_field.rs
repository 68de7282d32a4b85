//! Sealing single database values, bound to (table, column, row id).

use std::fmt;

use data_encoding::BASE64URL_NOPAD;
use ring::aead::{LessSafeKey, NONCE_LEN};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::crypto::{self, TAG_LEN};
use crate::error::clip;
use crate::seal_key::{SealError, SealKey};

/// Prefix of every sealed field (format version 1).
pub const SEALED_FIELD_PREFIX: &str = "asf1.";
/// Largest plaintext accepted for a field: 1 MiB.
pub const MAX_FIELD_LEN: usize = 1 << 20;

/// Seals and opens values for database columns.
///
/// Each value is AES-256-GCM encrypted under a key derived from the
/// [`SealKey`], with a fresh random nonce, and with the table, column and
/// row id as associated data: a sealed value copied into another row or
/// column fails to open. The output is ASCII text (`asf1.` + base64url), safe
/// for a `TEXT` column.
///
/// ```
/// use asta_vault::{FieldSealer, SealKey};
///
/// let sealer = FieldSealer::new(&SealKey::generate()?)?;
/// let sealed = sealer.seal("orders", "broker_order_id", "42", b"250101000012345")?;
/// let opened = sealer.open("orders", "broker_order_id", "42", &sealed)?;
/// assert_eq!(opened.as_slice(), b"250101000012345");
/// assert!(sealer.open("orders", "broker_order_id", "43", &sealed).is_err());
/// # Ok::<(), asta_vault::SealError>(())
/// ```
pub struct FieldSealer {
    key: LessSafeKey,
}

impl fmt::Debug for FieldSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FieldSealer(<key redacted>)")
    }
}

impl FieldSealer {
    /// A sealer using a subkey of `key` dedicated to field sealing.
    pub fn new(key: &SealKey) -> Result<Self, SealError> {
        let sub = crypto::derive_key(key.bytes(), b"asta-vault", b"asta field seal v1")
            .map_err(|_| SealError::Internal("key derivation failed"))?;
        let key = crypto::aead_key(sub.as_ref()).map_err(|_| SealError::Internal("bad key"))?;
        Ok(Self { key })
    }

    /// Seals `plaintext` for one cell.
    pub fn seal(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        plaintext: &[u8],
    ) -> Result<String, SealError> {
        if plaintext.len() > MAX_FIELD_LEN {
            return Err(SealError::Malformed("value larger than 1 MiB"));
        }
        let aad = aad(table, column, row_id);
        let (nonce, ciphertext) = crypto::seal_random_nonce(&self.key, &aad, plaintext)
            .map_err(|_| SealError::Internal("encryption failed"))?;
        let mut raw = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ciphertext);
        Ok(format!(
            "{SEALED_FIELD_PREFIX}{}",
            BASE64URL_NOPAD.encode(&raw)
        ))
    }

    /// Opens a value sealed for exactly this (table, column, row id).
    pub fn open(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let body = sealed
            .strip_prefix(SEALED_FIELD_PREFIX)
            .ok_or(SealError::Malformed("missing asf1. prefix"))?;
        if body.len() > (MAX_FIELD_LEN + NONCE_LEN + TAG_LEN) * 4 / 3 + 4 {
            return Err(SealError::Malformed("sealed value too long"));
        }
        let raw = BASE64URL_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| SealError::Malformed("not base64url"))?;
        let (nonce, ciphertext) = raw
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(SealError::Malformed("too short"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(SealError::Malformed("too short"));
        }
        crypto::open(&self.key, *nonce, &aad(table, column, row_id), ciphertext).map_err(|_| {
            SealError::FieldAuthentication {
                table: clip(table),
                column: clip(column),
                row: clip(row_id),
            }
        })
    }

    /// [`FieldSealer::seal`] for text.
    pub fn seal_str(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        plaintext: &SecretString,
    ) -> Result<String, SealError> {
        use secrecy::ExposeSecret;
        self.seal(table, column, row_id, plaintext.expose_secret().as_bytes())
    }

    /// [`FieldSealer::open`] for text sealed with [`FieldSealer::seal_str`].
    pub fn open_str(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        sealed: &str,
    ) -> Result<SecretString, SealError> {
        let bytes = self.open(table, column, row_id, sealed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| SealError::Malformed("not UTF-8"))?;
        Ok(SecretString::from(text))
    }
}

fn aad(table: &str, column: &str, row_id: &str) -> Vec<u8> {
    let mut aad = b"asta-field-v1".to_vec();
    crypto::push_field(&mut aad, table.as_bytes());
    crypto::push_field(&mut aad, column.as_bytes());
    crypto::push_field(&mut aad, row_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn sealer() -> FieldSealer {
        FieldSealer::new(&SealKey::generate().unwrap()).unwrap()
    }

    #[test]
    fn round_trip_and_fresh_nonces() {
        let s = sealer();
        let a = s.seal("t", "c", "1", b"value").unwrap();
        let b = s.seal("t", "c", "1", b"value").unwrap();
        assert_ne!(a, b, "fresh nonce per seal");
        assert_eq!(s.open("t", "c", "1", &a).unwrap().as_slice(), b"value");
        let text = s
            .seal_str("t", "c", "1", &SecretString::from("note"))
            .unwrap();
        assert_eq!(
            s.open_str("t", "c", "1", &text).unwrap().expose_secret(),
            "note"
        );
    }

    #[test]
    fn moved_values_fail() {
        let s = sealer();
        let sealed = s.seal("orders", "notes", "7", b"x").unwrap();
        for (t, c, r) in [
            ("orders", "notes", "8"),
            ("orders", "broker_order_id", "7"),
            ("fills", "notes", "7"),
            ("ordersnotes", "", "7"),
        ] {
            assert!(
                matches!(
                    s.open(t, c, r, &sealed),
                    Err(SealError::FieldAuthentication { .. })
                ),
                "{t}.{c}.{r}"
            );
        }
        assert!(
            sealer().open("orders", "notes", "7", &sealed).is_err(),
            "other key"
        );
    }

    #[test]
    fn every_flipped_character_fails() {
        let s = sealer();
        let sealed = s.seal("t", "c", "1", b"secret value").unwrap();
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(tampered) = String::from_utf8(bytes) else {
                continue;
            };
            if tampered == sealed {
                continue;
            }
            assert!(s.open("t", "c", "1", &tampered).is_err(), "position {i}");
        }
        for cut in 0..sealed.len() {
            assert!(s.open("t", "c", "1", &sealed[..cut]).is_err(), "cut {cut}");
        }
    }
}
