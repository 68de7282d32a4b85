//! Sealing streams (backups) in authenticated chunks with bounded memory.
//!
//! Format (version 1), all integers big-endian:
//!
//! ```text
//! "ASTASEAL" | version u16 | mode u8 (1 key, 2 passphrase) | chunk size u32
//! [passphrase mode: m_kib u32 | t u32 | p u32 | salt 16 bytes]
//! stream salt 32 bytes | header tag 32 bytes (HMAC-SHA256 of all the above)
//! chunk 0 | chunk 1 | ... | final chunk
//! ```
//!
//! Keys for each stream are derived with HKDF from the base key (a
//! [`SealKey`] or the Argon2id output) and the random stream salt. Chunk `i`
//! is AES-256-GCM with nonce `i` (64 bits) and a final-chunk flag, so
//! reordering, dropping, duplicating or swapping chunks (even from another
//! stream under the same key) fails authentication, and cutting the stream
//! at a chunk boundary is caught because the final flag is missing. Every
//! chunk but the last holds exactly `chunk size` bytes of plaintext; the last
//! holds fewer (possibly none).

use std::io::{self, Read, Write};

use ring::aead::{LessSafeKey, NONCE_LEN};
use ring::hmac;
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::crypto::{self, KEY_LEN, TAG_LEN};
use crate::kdf::{Argon2Params, SALT_LEN};
use crate::seal_key::{SealError, SealKey};

const MAGIC: &[u8; 8] = b"ASTASEAL";
const VERSION: u16 = 1;
const MODE_KEY: u8 = 1;
const MODE_PASSPHRASE: u8 = 2;
/// Plaintext bytes per chunk written by this version: 64 KiB.
pub const SEAL_CHUNK_SIZE: usize = 64 * 1024;
const MIN_CHUNK: u32 = 16;
const MAX_CHUNK: u32 = 1 << 20;
const STREAM_SALT_LEN: usize = 32;

/// Seals everything `reader` yields into `writer` under `key`. Returns the
/// number of plaintext bytes sealed. Memory use is one chunk (64 KiB).
pub fn seal_stream<R: Read, W: Write>(
    reader: R,
    writer: W,
    key: &SealKey,
) -> Result<u64, SealError> {
    seal_inner(reader, writer, Base::Key(key), SEAL_CHUNK_SIZE)
}

/// Opens a stream sealed by [`seal_stream`] into `writer`. Returns the number
/// of plaintext bytes written.
///
/// Chunks are written as soon as each one is authenticated, so on error the
/// writer holds a verified *prefix* of the data: write to a temporary file
/// and only use it once this returns `Ok`.
pub fn open_stream<R: Read, W: Write>(
    reader: R,
    writer: W,
    key: &SealKey,
) -> Result<u64, SealError> {
    open_inner(reader, writer, Given::Key(key))
}

/// Seals a stream under a passphrase stretched with Argon2id (`params` and a
/// random salt are stored in the header).
pub fn seal_stream_with_passphrase<R: Read, W: Write>(
    reader: R,
    writer: W,
    passphrase: &SecretString,
    params: Argon2Params,
) -> Result<u64, SealError> {
    seal_inner(
        reader,
        writer,
        Base::Passphrase(passphrase, params),
        SEAL_CHUNK_SIZE,
    )
}

/// Opens a stream sealed by [`seal_stream_with_passphrase`]. The Argon2id
/// parameters in the header are checked against the upper bounds before any
/// work. Same prefix caveat as [`open_stream`].
pub fn open_stream_with_passphrase<R: Read, W: Write>(
    reader: R,
    writer: W,
    passphrase: &SecretString,
) -> Result<u64, SealError> {
    open_inner(reader, writer, Given::Passphrase(passphrase))
}

enum Base<'a> {
    Key(&'a SealKey),
    Passphrase(&'a SecretString, Argon2Params),
}

enum Given<'a> {
    Key(&'a SealKey),
    Passphrase(&'a SecretString),
}

struct StreamKeys {
    enc: LessSafeKey,
    mac: hmac::Key,
}

fn stream_keys(base: &[u8], stream_salt: &[u8]) -> Result<StreamKeys, SealError> {
    let internal = |_| SealError::Internal("key derivation failed");
    let enc =
        crypto::derive_key(base, stream_salt, b"asta seal stream enc v1").map_err(internal)?;
    let mac =
        crypto::derive_key(base, stream_salt, b"asta seal stream header v1").map_err(internal)?;
    Ok(StreamKeys {
        enc: crypto::aead_key(enc.as_ref()).map_err(internal)?,
        mac: hmac::Key::new(hmac::HMAC_SHA256, mac.as_ref()),
    })
}

fn chunk_nonce(index: u64, last: bool) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[3..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn seal_inner<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
    base: Base<'_>,
    chunk_size: usize,
) -> Result<u64, SealError> {
    let chunk_u32 = u32::try_from(chunk_size)
        .ok()
        .filter(|c| (MIN_CHUNK..=MAX_CHUNK).contains(c))
        .ok_or(SealError::Internal("chunk size out of range"))?;
    let stream_salt: [u8; STREAM_SALT_LEN] =
        crypto::random_array().map_err(|_| SealError::Internal("random generator failed"))?;
    let mut header = Vec::with_capacity(128);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_be_bytes());
    let base_key: Zeroizing<[u8; KEY_LEN]> = match base {
        Base::Key(key) => {
            header.push(MODE_KEY);
            header.extend_from_slice(&chunk_u32.to_be_bytes());
            Zeroizing::new(*key.bytes())
        }
        Base::Passphrase(passphrase, params) => {
            let salt: [u8; SALT_LEN] = crypto::random_array()
                .map_err(|_| SealError::Internal("random generator failed"))?;
            header.push(MODE_PASSPHRASE);
            header.extend_from_slice(&chunk_u32.to_be_bytes());
            header.extend_from_slice(&params.memory_kib().to_be_bytes());
            header.extend_from_slice(&params.iterations().to_be_bytes());
            header.extend_from_slice(&params.parallelism().to_be_bytes());
            header.extend_from_slice(&salt);
            params
                .derive(passphrase, &salt)
                .map_err(|e| SealError::BadHeader(e.to_owned()))?
        }
    };
    header.extend_from_slice(&stream_salt);
    let keys = stream_keys(base_key.as_ref(), &stream_salt)?;
    let tag = hmac::sign(&keys.mac, &header);
    header.extend_from_slice(tag.as_ref());
    writer.write_all(&header)?;

    let mut buffer = Zeroizing::new(vec![0u8; chunk_size]);
    let mut index: u64 = 0;
    let mut total: u64 = 0;
    loop {
        let filled = read_full(&mut reader, &mut buffer)?;
        let last = filled < chunk_size;
        let plaintext = buffer.get(..filled).unwrap_or_default();
        let sealed =
            crypto::seal_with_nonce(&keys.enc, chunk_nonce(index, last), tag.as_ref(), plaintext)
                .map_err(|_| SealError::Internal("encryption failed"))?;
        writer.write_all(&sealed)?;
        total = total.saturating_add(filled as u64);
        if last {
            break;
        }
        index = index
            .checked_add(1)
            .ok_or(SealError::Internal("too many chunks"))?;
    }
    writer.flush()?;
    Ok(total)
}

/// What a sealed stream needs to open: the kind of secret, read from its
/// header without any secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedWith {
    /// A [`SealKey`] (e.g. the vault's backup key).
    Key,
    /// A passphrase (Argon2id).
    Passphrase,
}

/// Reads the header of a sealed stream and says whether it needs a key or
/// a passphrase, so a caller can ask for the right one (or say which is
/// needed) before trying. Reads at most the first 15 bytes.
pub fn sealed_with<R: Read>(mut reader: R) -> Result<SealedWith, SealError> {
    let mut fixed = [0u8; 15];
    let n = read_full(&mut reader, &mut fixed)?;
    let fixed_read = fixed.get(..n).unwrap_or_default();
    if n < MAGIC.len() || !fixed_read.starts_with(MAGIC) {
        return Err(if MAGIC.starts_with(fixed_read) && n < MAGIC.len() {
            SealError::Truncated { chunks: 0 }
        } else {
            SealError::NotSealed
        });
    }
    if n < fixed.len() {
        return Err(SealError::Truncated { chunks: 0 });
    }
    let version = u16::from_be_bytes([fixed[8], fixed[9]]);
    if version > VERSION {
        return Err(SealError::NewerVersion {
            found: version,
            supported: VERSION,
        });
    }
    match fixed[10] {
        MODE_KEY => Ok(SealedWith::Key),
        MODE_PASSPHRASE => Ok(SealedWith::Passphrase),
        other => Err(SealError::BadHeader(format!(
            "unknown sealing mode {other}"
        ))),
    }
}

fn open_inner<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
    given: Given<'_>,
) -> Result<u64, SealError> {
    let mut header = Vec::with_capacity(128);
    let mut fixed = [0u8; 15];
    let n = read_full(&mut reader, &mut fixed)?;
    let fixed_read = fixed.get(..n).unwrap_or_default();
    if n < MAGIC.len() || !fixed_read.starts_with(MAGIC) {
        return Err(if MAGIC.starts_with(fixed_read) && n < MAGIC.len() {
            SealError::Truncated { chunks: 0 }
        } else {
            SealError::NotSealed
        });
    }
    if n < fixed.len() {
        return Err(SealError::Truncated { chunks: 0 });
    }
    header.extend_from_slice(&fixed);
    let version = u16::from_be_bytes([fixed[8], fixed[9]]);
    if version > VERSION {
        return Err(SealError::NewerVersion {
            found: version,
            supported: VERSION,
        });
    }
    if version == 0 {
        return Err(SealError::BadHeader("version 0".to_owned()));
    }
    let mode = fixed[10];
    let chunk_u32 = u32::from_be_bytes([fixed[11], fixed[12], fixed[13], fixed[14]]);
    if !(MIN_CHUNK..=MAX_CHUNK).contains(&chunk_u32) {
        return Err(SealError::BadHeader(format!(
            "chunk size {chunk_u32} out of range"
        )));
    }
    let chunk_size =
        usize::try_from(chunk_u32).map_err(|_| SealError::BadHeader("chunk size".to_owned()))?;

    let base_key: Zeroizing<[u8; KEY_LEN]> = match (mode, given) {
        (MODE_KEY, Given::Key(key)) => Zeroizing::new(*key.bytes()),
        (MODE_PASSPHRASE, Given::Passphrase(passphrase)) => {
            let mut kdf = [0u8; 12 + SALT_LEN];
            if read_full(&mut reader, &mut kdf)? < kdf.len() {
                return Err(SealError::Truncated { chunks: 0 });
            }
            header.extend_from_slice(&kdf);
            let word = |i: usize| u32::from_be_bytes([kdf[i], kdf[i + 1], kdf[i + 2], kdf[i + 3]]);
            let params = Argon2Params::from_untrusted(word(0), word(4), word(8))
                .map_err(|e| SealError::BadHeader(e.to_string()))?;
            params
                .derive(passphrase, kdf.get(12..).unwrap_or_default())
                .map_err(|e| SealError::BadHeader(e.to_owned()))?
        }
        (MODE_KEY, Given::Passphrase(_)) => {
            return Err(SealError::WrongKeyKind {
                expected: "a key",
                given: "a passphrase",
            });
        }
        (MODE_PASSPHRASE, Given::Key(_)) => {
            return Err(SealError::WrongKeyKind {
                expected: "a passphrase",
                given: "a key",
            });
        }
        (other, _) => return Err(SealError::BadHeader(format!("unknown key mode {other}"))),
    };
    let mut salt_and_tag = [0u8; STREAM_SALT_LEN + 32];
    if read_full(&mut reader, &mut salt_and_tag)? < salt_and_tag.len() {
        return Err(SealError::Truncated { chunks: 0 });
    }
    let (stream_salt, tag) = salt_and_tag.split_at(STREAM_SALT_LEN);
    header.extend_from_slice(stream_salt);
    let keys = stream_keys(base_key.as_ref(), stream_salt)?;
    hmac::verify(&keys.mac, &header, tag).map_err(|_| SealError::WrongKey)?;

    let wire_chunk = chunk_size + TAG_LEN;
    let mut buffer = Zeroizing::new(vec![0u8; wire_chunk]);
    let mut index: u64 = 0;
    let mut total: u64 = 0;
    loop {
        let filled = read_full(&mut reader, &mut buffer)?;
        let last = filled < wire_chunk;
        if filled < TAG_LEN {
            return Err(SealError::Truncated { chunks: index });
        }
        let sealed = buffer.get(..filled).unwrap_or_default();
        let plaintext = crypto::open(&keys.enc, chunk_nonce(index, last), tag, sealed)
            .map_err(|_| SealError::ChunkAuthentication { index })?;
        writer.write_all(&plaintext)?;
        total = total.saturating_add(plaintext.len() as u64);
        if last {
            break;
        }
        index = index
            .checked_add(1)
            .ok_or(SealError::Internal("too many chunks"))?;
    }
    let mut probe = [0u8; 1];
    if read_full(&mut reader, &mut probe)? != 0 {
        return Err(SealError::TrailingData);
    }
    writer.flush()?;
    Ok(total)
}

/// Reads until `buf` is full or the reader is exhausted; returns bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: usize = 64;

    fn seal_small(data: &[u8], key: &SealKey) -> Vec<u8> {
        let mut out = Vec::new();
        seal_inner(data, &mut out, Base::Key(key), SMALL).unwrap();
        out
    }

    fn open_all(sealed: &[u8], key: &SealKey) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::new();
        open_stream(sealed, &mut out, key)?;
        Ok(out)
    }

    fn header_len() -> usize {
        15 + STREAM_SALT_LEN + 32
    }

    #[test]
    fn round_trips_at_chunk_boundaries() {
        let key = SealKey::generate().unwrap();
        for len in [0, 1, SMALL - 1, SMALL, SMALL + 1, 3 * SMALL, 3 * SMALL + 5] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let sealed = seal_small(&data, &key);
            assert_eq!(open_all(&sealed, &key).unwrap(), data, "len {len}");
        }
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        let mut sealed = Vec::new();
        assert_eq!(seal_stream(&big[..], &mut sealed, &key).unwrap(), 200_000);
        assert_eq!(open_all(&sealed, &key).unwrap(), big);
    }

    #[test]
    fn truncation_at_every_offset_is_detected() {
        let key = SealKey::generate().unwrap();
        let data: Vec<u8> = (0..(3 * SMALL + 10)).map(|i| i as u8).collect();
        let sealed = seal_small(&data, &key);
        for cut in 0..sealed.len() {
            assert!(open_all(&sealed[..cut], &key).is_err(), "cut at {cut}");
        }
        // Cutting exactly at a chunk boundary is reported as truncation.
        let boundary = header_len() + 2 * (SMALL + TAG_LEN);
        assert!(matches!(
            open_all(&sealed[..boundary], &key),
            Err(SealError::Truncated { chunks: 2 })
        ));
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(open_all(&longer, &key).is_err());
        // Data after a complete final chunk of full wire size cannot exist:
        // a final chunk is always shorter than a full one, so an extra chunk
        // after it is caught as trailing data.
        let mut extra = seal_small(&data[..SMALL - 1], &key);
        extra.extend_from_slice(&[0u8; SMALL + TAG_LEN]);
        assert!(open_all(&extra, &key).is_err());
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let key = SealKey::generate().unwrap();
        let data = vec![0x5a; 2 * SMALL + 3];
        let sealed = seal_small(&data, &key);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open_all(&bad, &key).is_err(), "byte {i}");
        }
    }

    #[test]
    fn reordered_and_swapped_chunks_are_detected() {
        let key = SealKey::generate().unwrap();
        let data: Vec<u8> = (0..(3 * SMALL)).map(|i| i as u8).collect();
        let a = seal_small(&data, &key);
        let b = seal_small(&data, &key);
        let h = header_len();
        let c = SMALL + TAG_LEN;
        let mut reordered = a.clone();
        reordered[h..h + c].copy_from_slice(&a[h + c..h + 2 * c]);
        reordered[h + c..h + 2 * c].copy_from_slice(&a[h..h + c]);
        assert!(matches!(
            open_all(&reordered, &key),
            Err(SealError::ChunkAuthentication { index: 0 })
        ));
        let mut swapped = a.clone();
        swapped[h + c..h + 2 * c].copy_from_slice(&b[h + c..h + 2 * c]);
        assert!(matches!(
            open_all(&swapped, &key),
            Err(SealError::ChunkAuthentication { index: 1 })
        ));
        let mut dropped = a[..h + c].to_vec();
        dropped.extend_from_slice(&a[h + 2 * c..]);
        assert!(open_all(&dropped, &key).is_err());
    }

    #[test]
    fn wrong_key_and_wrong_kind() {
        let key = SealKey::generate().unwrap();
        let sealed = seal_small(b"data", &key);
        let other = SealKey::generate().unwrap();
        assert!(matches!(
            open_all(&sealed, &other),
            Err(SealError::WrongKey)
        ));
        let mut out = Vec::new();
        assert!(matches!(
            open_stream_with_passphrase(&sealed[..], &mut out, &SecretString::from("x")),
            Err(SealError::WrongKeyKind { .. })
        ));
        assert!(matches!(
            open_all(b"hello world, not sealed", &key),
            Err(SealError::NotSealed)
        ));
    }

    #[test]
    fn passphrase_streams_round_trip_and_bounds_are_enforced() {
        let params = Argon2Params::dangerous_weak_for_tests(8, 1, 1).unwrap();
        let pass = SecretString::from("correct horse");
        let mut sealed = Vec::new();
        seal_stream_with_passphrase(&b"backup bytes"[..], &mut sealed, &pass, params).unwrap();
        let mut out = Vec::new();
        open_stream_with_passphrase(&sealed[..], &mut out, &pass).unwrap();
        assert_eq!(out, b"backup bytes");
        let mut out = Vec::new();
        assert!(matches!(
            open_stream_with_passphrase(&sealed[..], &mut out, &SecretString::from("wrong")),
            Err(SealError::WrongKey)
        ));
        // A crafted header asking for 4 GiB of memory is refused before any work.
        let mut crafted = sealed.clone();
        crafted[15..19].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut out = Vec::new();
        assert!(matches!(
            open_stream_with_passphrase(&crafted[..], &mut out, &pass),
            Err(SealError::BadHeader(_))
        ));
    }

    #[test]
    fn newer_version_is_named() {
        let key = SealKey::generate().unwrap();
        let mut sealed = seal_small(b"x", &key);
        sealed[8..10].copy_from_slice(&2u16.to_be_bytes());
        assert!(matches!(
            open_all(&sealed, &key),
            Err(SealError::NewerVersion { found: 2, .. })
        ));
    }
}
