//! Thin, panic-free wrappers over ring: random bytes, AES-256-GCM, HKDF, HMAC
//! and constant-time comparison.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// AES-GCM tag length in bytes.
pub(crate) const TAG_LEN: usize = 16;
/// Length of every symmetric key in this crate.
pub(crate) const KEY_LEN: usize = 32;

/// The only failure ring reports: a random source or primitive failure, or an
/// authentication failure (decided by the caller's context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CryptoFailure;

/// Fills `out` from the operating system's CSPRNG.
pub(crate) fn fill_random(out: &mut [u8]) -> Result<(), CryptoFailure> {
    SystemRandom::new().fill(out).map_err(|_| CryptoFailure)
}

/// A fresh random array.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], CryptoFailure> {
    let mut out = [0u8; N];
    fill_random(&mut out)?;
    Ok(out)
}

/// A fresh random 256-bit key, wiped on drop.
pub(crate) fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoFailure> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    fill_random(key.as_mut())?;
    Ok(key)
}

/// An AES-256-GCM key from raw bytes.
pub(crate) fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, CryptoFailure> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoFailure)
}

/// Encrypts `plaintext` under `key` with a fresh random nonce; returns
/// `(nonce, ciphertext || tag)`.
pub(crate) fn seal_random_nonce(
    key: &LessSafeKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoFailure> {
    let nonce_bytes: [u8; NONCE_LEN] = random_array()?;
    let out = seal_with_nonce(key, nonce_bytes, aad, plaintext)?;
    Ok((nonce_bytes, out))
}

/// Encrypts with a caller-chosen nonce (the caller guarantees uniqueness).
pub(crate) fn seal_with_nonce(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoFailure> {
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buffer,
    )
    .map_err(|_| CryptoFailure)?;
    Ok(buffer)
}

/// Decrypts and authenticates `ciphertext || tag`; the plaintext is wiped on drop.
pub(crate) fn open(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoFailure> {
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            buffer.as_mut_slice(),
        )
        .map_err(|_| CryptoFailure)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

/// HKDF output length marker for 32-byte keys.
struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        KEY_LEN
    }
}

/// Derives a 32-byte subkey: HKDF-SHA256(salt, ikm) expanded with `info`.
pub(crate) fn derive_key(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoFailure> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info_parts = [info];
    let okm = prk.expand(&info_parts, Len32).map_err(|_| CryptoFailure)?;
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    okm.fill(out.as_mut()).map_err(|_| CryptoFailure)?;
    Ok(out)
}

/// Compares two byte strings in time independent of their content.
///
/// ring's comparison helper is deprecated, so this uses the HMAC "double
/// MAC" construction: both inputs are MACed under a fresh random key and the
/// tags compared by `hmac::verify`, which is constant-time. Lengths are not
/// hidden (they are public here).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> Result<bool, CryptoFailure> {
    let key_bytes = random_key()?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, key_bytes.as_ref());
    let tag = hmac::sign(&key, a);
    Ok(hmac::verify(&key, b, tag.as_ref()).is_ok())
}

/// Length-prefixed concatenation, so `("ab","c")` and `("a","bc")` differ.
pub(crate) fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key_bytes = random_key().unwrap();
        let key = aead_key(key_bytes.as_ref()).unwrap();
        let (nonce, ct) = seal_random_nonce(&key, b"aad", b"hello").unwrap();
        assert_eq!(open(&key, nonce, b"aad", &ct).unwrap().as_slice(), b"hello");
        assert!(open(&key, nonce, b"other", &ct).is_err());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"123456", b"123456").unwrap());
        assert!(!constant_time_eq(b"123456", b"123457").unwrap());
        assert!(!constant_time_eq(b"123456", b"12345").unwrap());
    }

    #[test]
    fn derived_keys_differ_by_info() {
        let a = derive_key(b"ikm", b"salt", b"one").unwrap();
        let b = derive_key(b"ikm", b"salt", b"two").unwrap();
        assert_ne!(a.as_ref(), b.as_ref());
    }

    #[test]
    fn fields_are_length_prefixed() {
        let mut a = Vec::new();
        push_field(&mut a, b"ab");
        push_field(&mut a, b"c");
        let mut b = Vec::new();
        push_field(&mut b, b"a");
        push_field(&mut b, b"bc");
        assert_ne!(a, b);
    }
}
