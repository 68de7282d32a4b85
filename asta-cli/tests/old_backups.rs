//! Backups written by older versions still verify and restore. The fixture
//! `tests/data/backup-argon2-0.5.sealed` was made once with argon2 0.5 and
//! rusqlite 0.37; see `asta-vault/tests/data/README.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::path::Path;

use asta_cli::backup::{self, BackupError, Sealing, Targets};
use asta_vault::{KeySource, Vault};
use secrecy::{ExposeSecret, SecretString};

const PASSPHRASE: &str = "asta-fixture-passphrase-argon2-0.5";

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/backup-argon2-0.5.sealed")
}

#[test]
fn passphrase_backup_from_argon2_0_5_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("old.sealed");
    std::fs::copy(fixture(), &copy).unwrap();
    let report =
        backup::verify(&copy, &Sealing::Passphrase(SecretString::from(PASSPHRASE))).unwrap();
    let names: Vec<&str> = report
        .manifest
        .entries
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["trades.db", "vault-argon2-0.5.asta", "audit-000001.jsonl"]
    );
    assert_eq!(report.manifest.created, "2026-01-02T03:04:05+00:00");
    let wrong = backup::verify(&copy, &Sealing::Passphrase(SecretString::from("wrong")));
    assert!(matches!(wrong, Err(BackupError::Seal(_))), "{wrong:?}");
}

#[test]
fn passphrase_backup_from_argon2_0_5_restores() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("old.sealed");
    std::fs::copy(fixture(), &copy).unwrap();
    let targets = Targets {
        databases: vec![dir.path().join("data/trades.db")],
        vault: dir.path().join("secrets/vault.asta"),
        audit_dir: dir.path().join("audit"),
        files: Vec::new(),
    };
    let restored = backup::restore(
        &copy,
        &Sealing::Passphrase(SecretString::from(PASSPHRASE)),
        &targets,
        backup::RestoreOptions::default(),
        chrono::Utc::now(),
    )
    .unwrap()
    .restored;
    assert_eq!(restored.len(), 3);

    let conn = rusqlite::Connection::open(dir.path().join("data/trades.db")).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM legs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);

    let vault = Vault::open(
        &targets.vault,
        &KeySource::Passphrase(SecretString::from(PASSPHRASE)),
    )
    .unwrap();
    assert_eq!(
        vault.get("fixture.secret").unwrap().expose_secret(),
        "fixture-value-written-by-argon2-0.5"
    );
    assert_eq!(
        std::fs::read(dir.path().join("audit/audit-000001.jsonl")).unwrap(),
        b"not a real trail, only bytes to restore\n"
    );
}
