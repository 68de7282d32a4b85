//! Files written by older versions of asta-vault (and of its dependencies)
//! still open. The fixtures in `tests/data` were written once with argon2 0.5;
//! see `tests/data/README.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use asta_vault::{KeyProtection, KeySource, Vault, VaultError, open_stream_with_passphrase};
use secrecy::{ExposeSecret, SecretString};

const PASSPHRASE: &str = "asta-fixture-passphrase-argon2-0.5";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A private copy of the vault fixture (opening takes a lock beside it and
/// git does not keep the file's 0600 mode).
fn vault_copy(dir: &Path) -> PathBuf {
    let path = dir.join("vault.asta");
    std::fs::copy(fixture("vault-argon2-0.5.asta"), &path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn vault_written_with_argon2_0_5_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = vault_copy(dir.path());
    let vault = Vault::open(
        &path,
        &KeySource::Passphrase(SecretString::from(PASSPHRASE)),
    )
    .unwrap();
    assert_eq!(
        vault.get("fixture.secret").unwrap().expose_secret(),
        "fixture-value-written-by-argon2-0.5"
    );
    let KeyProtection::Passphrase(params) = vault.protection() else {
        panic!("the fixture is passphrase-protected");
    };
    assert_eq!(
        (
            params.memory_kib(),
            params.iterations(),
            params.parallelism()
        ),
        (64, 2, 1)
    );
}

#[test]
fn vault_written_with_argon2_0_5_still_refuses_a_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = vault_copy(dir.path());
    let wrong = Vault::open(
        &path,
        &KeySource::Passphrase(SecretString::from("not-the-passphrase")),
    );
    assert!(
        matches!(wrong, Err(VaultError::WrongKey { .. })),
        "{wrong:?}"
    );
}

#[test]
fn vault_written_with_argon2_0_5_accepts_writes_after_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = vault_copy(dir.path());
    let pass = KeySource::Passphrase(SecretString::from(PASSPHRASE));
    let mut vault = Vault::open(&path, &pass).unwrap();
    vault
        .set("fixture.added", SecretString::from("added later"))
        .unwrap();
    let reopened = Vault::open(&path, &pass).unwrap();
    assert_eq!(
        reopened.get("fixture.secret").unwrap().expose_secret(),
        "fixture-value-written-by-argon2-0.5"
    );
    assert_eq!(
        reopened.get("fixture.added").unwrap().expose_secret(),
        "added later"
    );
}

#[test]
fn stream_sealed_with_argon2_0_5_opens() {
    let sealed = std::fs::read(fixture("sealed-argon2-0.5.bin")).unwrap();
    let mut plain = Vec::new();
    open_stream_with_passphrase(&sealed[..], &mut plain, &SecretString::from(PASSPHRASE)).unwrap();
    assert_eq!(plain, b"sealed with argon2 0.5 (m=64 KiB, t=2, p=1)\n");
    let mut ignored = Vec::new();
    assert!(
        open_stream_with_passphrase(&sealed[..], &mut ignored, &SecretString::from("wrong"))
            .is_err()
    );
}
