//! Housekeeping around the vault file: temp files of killed saves are
//! removed under the lock, and a key file gets its directory.
#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use asta_core::safe_file::LockFile;
use asta_vault::{Argon2Params, KeyFile, KeySource, MasterKey, Vault, VaultOptions};
use secrecy::SecretString;

fn opts() -> VaultOptions {
    VaultOptions::new().with_argon2(Argon2Params::dangerous_weak_for_tests(8, 1, 1).unwrap())
}

/// What a save killed between creating and renaming its temp file leaves.
fn plant_stale(dir: &Path, suffix: &str) -> std::path::PathBuf {
    let path = dir.join(format!(".vault.asta.tmp-{suffix}"));
    std::fs::write(&path, b"a copy wrapped with some key").unwrap();
    path
}

#[test]
fn opening_removes_temp_files_of_killed_saves_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vault.asta");
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    drop(Vault::create(&path, &key, opts()).unwrap());
    let stale = plant_stale(tmp.path(), "0123456789abcdef");
    let unrelated = [
        tmp.path().join(".vault.asta.tmp-notes"),
        tmp.path().join(".other.asta.tmp-0123456789abcdef"),
        tmp.path().join("vault.asta.bak"),
    ];
    for p in &unrelated {
        std::fs::write(p, b"keep me").unwrap();
    }

    Vault::open_with(&path, &key, opts()).unwrap();
    assert!(!stale.exists(), "the stale temp file is gone");
    for p in &unrelated {
        assert!(p.exists(), "{} was kept", p.display());
    }
}

#[test]
fn opening_leaves_temp_files_alone_while_another_writer_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vault.asta");
    let key = KeySource::Raw(MasterKey::generate().unwrap());
    drop(Vault::create(&path, &key, opts()).unwrap());
    let in_progress = plant_stale(tmp.path(), "fedcba9876543210");
    let lock = LockFile::try_acquire(&tmp.path().join("vault.asta.lock")).unwrap();
    Vault::open_with(&path, &key, opts()).unwrap();
    assert!(in_progress.exists(), "a live writer's temp file is kept");
    drop(lock);
    Vault::open_with(&path, &key, opts()).unwrap();
    assert!(!in_progress.exists());
}

#[test]
fn rekey_leaves_no_copy_wrapped_with_the_old_key() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("vault.asta");
    let old = KeySource::Raw(MasterKey::generate().unwrap());
    let mut vault = Vault::create(&path, &old, opts()).unwrap();
    vault
        .set("broker.password", SecretString::from("CANARY-old-key-copy"))
        .unwrap();
    // A save killed after this vault was opened (so open did not see it).
    let stale = plant_stale(tmp.path(), "00112233445566aa");
    let new = KeySource::Raw(MasterKey::generate().unwrap());
    vault.rekey(&new).unwrap();
    assert!(!stale.exists());
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains(".tmp-")),
        "no temp file is left: {names:?}"
    );
    assert!(Vault::open_with(&path, &old, opts()).is_err());
    Vault::open_with(&path, &new, opts()).unwrap();
}

#[test]
fn key_file_generate_creates_its_private_parent_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("keys").join("nested").join("vault.key");
    let source = KeyFile::generate(&path).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&tmp.path().join("keys")), 0o700);
    assert_eq!(mode(&path), 0o600);
    Vault::create(tmp.path().join("v"), &source, opts()).unwrap();
}
