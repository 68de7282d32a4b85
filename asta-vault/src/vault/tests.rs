//! Vault unit tests that need the internals: tamper matrix, crash safety,
//! concurrency, TOTP persistence.
//!
//! Test code only: `mod.rs` declares this module under `#[cfg(test)]`.

use super::*;
use crate::key_source::MasterKey;
use chrono::TimeZone;
use secrecy::ExposeSecret;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()
}

fn clock() -> asta_core::ManualClock {
    asta_core::ManualClock::new(t0())
}

fn options(clock: &asta_core::ManualClock) -> VaultOptions {
    VaultOptions::new()
        .with_clock(Arc::new(clock.clone()))
        .with_argon2(Argon2Params::dangerous_weak_for_tests(8, 1, 1).unwrap())
}

fn raw_key() -> KeySource {
    KeySource::Raw(MasterKey::generate().unwrap())
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    key: KeySource,
    clock: asta_core::ManualClock,
}

fn fixture() -> (Fixture, Vault) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.vault");
    let key = raw_key();
    let clock = clock();
    let mut vault = Vault::create(&path, &key, options(&clock)).unwrap();
    vault
        .set("alpha", SecretString::from("alpha-value"))
        .unwrap();
    vault.set("beta", SecretString::from("beta-value")).unwrap();
    vault
        .set("gamma", SecretString::from("gamma-value"))
        .unwrap();
    (
        Fixture {
            _dir: dir,
            path,
            key,
            clock,
        },
        vault,
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn replace_once(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = find(haystack, from).unwrap();
    let mut out = haystack[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&haystack[at + from.len()..]);
    out
}

fn redigest(bytes: &mut [u8]) {
    let len = bytes.len();
    let d = ring::digest::digest(&ring::digest::SHA256, &bytes[..len - 32]);
    bytes[len - 32..].copy_from_slice(d.as_ref());
}

#[test]
fn flipping_any_byte_is_detected_as_corruption() {
    let (fx, _vault) = fixture();
    let bytes = std::fs::read(&fx.path).unwrap();
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = bytes.clone();
            bad[i] ^= bit;
            let err = Vault::test_unlock(&fx.path, &bad, &fx.key).unwrap_err();
            if i < format::MAGIC.len() {
                assert!(
                    matches!(err, VaultError::NotAVault { .. }),
                    "byte {i}: {err}"
                );
            } else {
                assert!(
                    matches!(err, VaultError::Corrupted { .. }),
                    "byte {i}: {err}"
                );
            }
        }
    }
}

#[test]
fn truncating_at_any_offset_is_detected_as_truncation() {
    let (fx, _vault) = fixture();
    let bytes = std::fs::read(&fx.path).unwrap();
    for cut in 0..bytes.len() {
        let err = Vault::test_unlock(&fx.path, &bytes[..cut], &fx.key).unwrap_err();
        assert!(
            matches!(err, VaultError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Vault::test_unlock(&fx.path, &longer, &fx.key),
        Err(VaultError::Corrupted { .. })
    ));
}

#[test]
fn wrong_key_newer_version_and_not_a_vault_are_distinct() {
    let (fx, _vault) = fixture();
    let bytes = std::fs::read(&fx.path).unwrap();
    assert!(matches!(
        Vault::test_unlock(&fx.path, &bytes, &raw_key()),
        Err(VaultError::WrongKey { .. })
    ));
    assert!(matches!(
        Vault::test_unlock(&fx.path, &bytes, &KeySource::Passphrase("x".into())),
        Err(VaultError::KeySourceMismatch { .. })
    ));
    let mut newer = bytes.clone();
    newer[8..10].copy_from_slice(&2u16.to_be_bytes());
    let check = format::prelude_check(&newer[..18]);
    newer[18..22].copy_from_slice(&check);
    let err = Vault::test_unlock(&fx.path, &newer, &fx.key).unwrap_err();
    assert!(
        matches!(
            err,
            VaultError::NewerVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade"));
    assert!(matches!(
        Vault::test_unlock(&fx.path, b"{\"entries\":[]}", &fx.key),
        Err(VaultError::NotAVault { .. })
    ));
}

#[test]
fn edits_with_a_recomputed_digest_fail_the_index_mac() {
    let (fx, vault) = fixture();
    let bytes = std::fs::read(&fx.path).unwrap();
    // Change metadata in the clear (a note) and fix up the digest.
    let mut edited = bytes.clone();
    let at = find(&bytes, b"\"alpha\"").unwrap() + 1;
    edited[at] = b'A';
    redigest(&mut edited);
    let err = Vault::test_unlock(&fx.path, &edited, &fx.key).unwrap_err();
    assert!(matches!(err, VaultError::Tampered { .. }), "{err}");

    // Remove an entry, re-encode without the MAC key (digest only).
    let mut entries = vault.test_entries();
    entries.remove(1);
    let mut removed = vault.test_encode(entries);
    let len = removed.len();
    removed[len - 40] ^= 1; // spoil the MAC: the attacker cannot compute it
    redigest(&mut removed);
    assert!(matches!(
        Vault::test_unlock(&fx.path, &removed, &fx.key),
        Err(VaultError::Tampered { .. })
    ));
}

#[test]
fn swapped_ciphertexts_fail_even_with_a_valid_mac() {
    let (fx, vault) = fixture();
    let mut entries = vault.test_entries();
    let (a_nonce, a_ct) = (entries[0].nonce.clone(), entries[0].ciphertext.clone());
    entries[0].nonce = entries[1].nonce.clone();
    entries[0].ciphertext = entries[1].ciphertext.clone();
    entries[1].nonce = a_nonce;
    entries[1].ciphertext = a_ct;
    // test_encode uses the real MAC key: only the entry AAD stands in the way.
    let bytes = vault.test_encode(entries);
    let err = Vault::test_unlock(&fx.path, &bytes, &fx.key).unwrap_err();
    assert!(matches!(err, VaultError::Tampered { .. }), "{err}");
    assert!(
        err.to_string().contains("another entry or version"),
        "{err}"
    );
}

#[test]
fn an_older_entry_put_back_is_detected() {
    let (fx, mut vault) = fixture();
    let old_alpha = vault.entries.get("alpha").unwrap().clone();
    let old_bytes = std::fs::read(&fx.path).unwrap();
    vault
        .rotate("alpha", SecretString::from("alpha-val2"))
        .unwrap();

    // Old ciphertext under the new version number, MAC recomputed: the AAD fails.
    let mut entries = vault.test_entries();
    let alpha = entries.iter_mut().find(|e| e.name == "alpha").unwrap();
    assert_eq!(alpha.version, 2);
    alpha.nonce = old_alpha.nonce.clone();
    alpha.ciphertext = old_alpha.ciphertext.clone();
    let bytes = vault.test_encode(entries);
    assert!(matches!(
        Vault::test_unlock(&fx.path, &bytes, &fx.key),
        Err(VaultError::Tampered { .. })
    ));

    // The whole old entry spliced into the new file (digest fixed, MAC not
    // computable): the index MAC fails.
    let new_bytes = std::fs::read(&fx.path).unwrap();
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    let old_ct = b64(&old_alpha.ciphertext);
    let old_nonce = b64(&old_alpha.nonce);
    assert!(find(&old_bytes, old_ct.as_bytes()).is_some());
    let current = vault.entries.get("alpha").unwrap().clone();
    let spliced = replace_once(
        &new_bytes,
        b64(&current.ciphertext).as_bytes(),
        old_ct.as_bytes(),
    );
    let mut spliced = replace_once(
        &spliced,
        b64(&current.nonce).as_bytes(),
        old_nonce.as_bytes(),
    );
    assert_eq!(
        spliced.len(),
        new_bytes.len(),
        "same secret length, same size"
    );
    redigest(&mut spliced);
    assert!(matches!(
        Vault::test_unlock(&fx.path, &spliced, &fx.key),
        Err(VaultError::Tampered { .. })
    ));
    // The real file still opens with the new value.
    let reopened = Vault::open(&fx.path, &fx.key).unwrap();
    assert_eq!(reopened.get("alpha").unwrap().expose_secret(), "alpha-val2");
}

#[test]
fn a_save_interrupted_after_any_step_leaves_old_or_new() {
    for step in asta_core::safe_file::WriteStep::ALL {
        let (fx, mut vault) = fixture();
        vault.set_crash_after(Some(step));
        assert!(vault.set("alpha", SecretString::from("alpha-new")).is_err());
        // The failed handle did not apply the change in memory.
        assert_eq!(vault.get("alpha").unwrap().expose_secret(), "alpha-value");
        let reopened = Vault::open(&fx.path, &fx.key).unwrap();
        let value = reopened.get("alpha").unwrap();
        let expected = if matches!(step, WriteStep::Renamed | WriteStep::DirSynced) {
            "alpha-new"
        } else {
            "alpha-value"
        };
        assert_eq!(value.expose_secret(), expected, "{step:?}");
        assert_eq!(reopened.get("beta").unwrap().expose_secret(), "beta-value");
        // A handle that is behind the disk cannot overwrite it.
        vault.set_crash_after(None);
        let again = vault.set("beta", SecretString::from("x"));
        if expected == "alpha-new" {
            assert!(
                matches!(again, Err(VaultError::Conflict { .. })),
                "{step:?}"
            );
        } else {
            again.unwrap();
        }
    }
}

#[test]
fn concurrent_writers_are_kept_apart() {
    let (fx, mut first) = fixture();
    let mut second = Vault::open(&fx.path, &fx.key).unwrap();
    first.set("delta", SecretString::from("d")).unwrap();
    let err = second.set("epsilon", SecretString::from("e")).unwrap_err();
    assert!(matches!(err, VaultError::Conflict { .. }), "{err}");
    assert!(err.is_transient());
    // While someone holds the lock, writers are refused, not blocked.
    let held = take_lock(&fx.path).unwrap();
    let err = first.set("zeta", SecretString::from("z")).unwrap_err();
    assert!(matches!(err, VaultError::Locked { .. }), "{err}");
    drop(held);
    first.set("zeta", SecretString::from("z")).unwrap();
}

#[test]
fn create_refuses_an_existing_file() {
    let (fx, _vault) = fixture();
    assert!(matches!(
        Vault::create(&fx.path, &fx.key, VaultOptions::default()),
        Err(VaultError::VaultExists { .. })
    ));
}

#[test]
fn rekey_rewraps_and_old_key_stops_working() {
    let (fx, mut vault) = fixture();
    let pass = KeySource::Passphrase(SecretString::from("correct horse battery staple"));
    vault.rekey(&pass).unwrap();
    assert!(matches!(vault.protection(), KeyProtection::Passphrase(_)));
    assert!(matches!(
        Vault::open(&fx.path, &fx.key),
        Err(VaultError::KeySourceMismatch { .. })
    ));
    let reopened = Vault::open(&fx.path, &pass).unwrap();
    assert_eq!(
        reopened.get("gamma").unwrap().expose_secret(),
        "gamma-value"
    );
    assert!(matches!(
        Vault::open(&fx.path, &KeySource::Passphrase("wrong".into())),
        Err(VaultError::WrongKey { .. })
    ));
    let new_raw = raw_key();
    vault.rekey(&new_raw).unwrap();
    assert!(Vault::open(&fx.path, &new_raw).is_ok());
    assert!(matches!(
        Vault::open(&fx.path, &fx.key),
        Err(VaultError::WrongKey { .. })
    ));
}

#[test]
fn crafted_argon2_params_are_refused_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.vault");
    let pass = KeySource::Passphrase(SecretString::from("pw"));
    let vault = Vault::create(&path, &pass, options(&clock())).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let from = b"\"m_kib\":8,";
    // A same-length replacement keeps the prelude valid.
    let crafted = replace_once(&bytes, from, b"\"m_kib\":9,");
    let crafted_big = replace_once(&bytes, from, b"\"m_kib\":999999999,");
    drop(vault);
    let mut ok_len = crafted;
    redigest(&mut ok_len);
    // m=9 is within bounds: it runs and fails as a wrong key (the KEK differs).
    let err = Vault::test_unlock(&path, &ok_len, &pass).unwrap_err();
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    // A longer header changes the declared lengths: rebuild the prelude.
    let mut big = crafted_big;
    let header_len = u32::from_be_bytes(big[10..14].try_into().unwrap()) + 8;
    big[10..14].copy_from_slice(&header_len.to_be_bytes());
    let check = format::prelude_check(&big[..18]);
    big[18..22].copy_from_slice(&check);
    redigest(&mut big);
    let err = Vault::test_unlock(&path, &big, &pass).unwrap_err();
    assert!(
        matches!(err, VaultError::KdfParamsOutOfBounds { .. }),
        "{err}"
    );
}

#[test]
fn totp_state_is_persisted_across_reopen() {
    let (fx, mut vault) = fixture();
    let enrollment = vault
        .enroll_totp("totp.operator", "ASTA", "operator", TotpConfig::default())
        .unwrap();
    assert!(
        enrollment
            .uri
            .expose_secret()
            .starts_with("otpauth://totp/ASTA:operator?")
    );
    let secret = data_encoding::BASE32_NOPAD
        .decode(enrollment.secret_base32.expose_secret().as_bytes())
        .unwrap();
    let totp = Totp::new(Zeroizing::new(secret), TotpConfig::default()).unwrap();
    let now = t0();
    let code = totp.code_at(now).unwrap();
    vault.verify_totp("totp.operator", &code, now).unwrap();
    assert!(matches!(
        vault.verify_totp("totp.operator", &code, now),
        Err(TotpError::Replayed)
    ));
    // A fresh process sees the last accepted step: still a replay.
    let mut reopened = Vault::open(&fx.path, &fx.key).unwrap();
    assert!(matches!(
        reopened.verify_totp("totp.operator", &code, now),
        Err(TotpError::Replayed)
    ));
    // Throttling survives a reopen too.
    for i in 0..3 {
        assert!(
            reopened
                .verify_totp("totp.operator", "000000", now + TimeDelta::seconds(i))
                .is_err()
        );
    }
    let mut again = Vault::open(&fx.path, &fx.key).unwrap();
    let later = now + TimeDelta::seconds(40);
    let next = totp.code_at(later).unwrap();
    assert!(matches!(
        again.verify_totp("totp.operator", &next, later),
        Err(TotpError::Throttled { .. })
    ));
    let after_window = now + TimeDelta::seconds(301);
    let fresh = totp.code_at(after_window).unwrap();
    again
        .verify_totp("totp.operator", &fresh, after_window)
        .unwrap();
    // The TOTP secret is never readable as a plain secret.
    assert!(matches!(
        again.get("totp.operator"),
        Err(VaultError::WrongKind { .. })
    ));
    let _ = fx.clock;
}

#[test]
fn a_stale_handle_cannot_accept_a_code_twice_across_processes() {
    let (fx, mut first) = fixture();
    let enrollment = first
        .enroll_totp("totp.op", "ASTA", "op", TotpConfig::default())
        .unwrap();
    let mut second = Vault::open(&fx.path, &fx.key).unwrap();
    let totp = Totp::from_base32(&enrollment.secret_base32, TotpConfig::default()).unwrap();
    let code = totp.code_at(t0()).unwrap();
    first.verify_totp("totp.op", &code, t0()).unwrap();
    // `second` loaded the vault before the code was accepted: its save
    // conflicts, it refreshes, and the fresh state says "already used".
    assert!(matches!(
        second.verify_totp("totp.op", &code, t0()),
        Err(TotpError::Replayed)
    ));
    assert_eq!(second.generation(), first.generation() + 1);
}

#[test]
fn refresh_follows_other_writers_and_refuses_rollback() {
    let (fx, mut first) = fixture();
    let old_bytes = std::fs::read(&fx.path).unwrap();
    let mut second = Vault::open(&fx.path, &fx.key).unwrap();
    first.set("alpha", SecretString::from("changed")).unwrap();
    assert!(matches!(
        second.set("beta", SecretString::from("x")),
        Err(VaultError::Conflict { .. })
    ));
    second.refresh().unwrap();
    assert_eq!(second.get("alpha").unwrap().expose_secret(), "changed");
    second.set("beta", SecretString::from("x")).unwrap();
    // Put the old file back: a handle that has seen a later generation refuses it.
    asta_core::safe_file::write_atomic(&fx.path, &old_bytes, 0o600).unwrap();
    let err = second.refresh().unwrap_err();
    assert!(err.to_string().contains("rollback"), "{err}");
}
