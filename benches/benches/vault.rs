//! Costs of asta-vault: opening a 100-entry vault with a raw key and reading
//! one secret, sealing and opening a 256-byte database field, and the
//! Argon2id unlock (OWASP-minimum parameters) on its own.
//!
//! Run with: cargo bench --bench vault
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    reason = "bench fixtures are built once; a failure should stop the bench"
)]

use std::hint::black_box;

use asta_vault::{FieldSealer, KeySource, MasterKey, SealKey, Vault, VaultOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::{ExposeSecret, SecretString};

fn open_and_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.vault");
    let key = KeySource::Raw(MasterKey::generate().expect("key"));
    let mut vault = Vault::create(&path, &key, VaultOptions::default()).expect("create");
    for i in 0..100 {
        vault
            .set(
                &format!("broker{i:03}.api_key"),
                SecretString::from(format!("{i:064x}")),
            )
            .expect("set");
    }
    drop(vault);
    c.bench_function("vault_open_100_entries_raw_key_get_one", |b| {
        b.iter(|| {
            let vault = Vault::open(black_box(&path), &key).expect("open");
            let secret = vault.get("broker042.api_key").expect("get");
            black_box(secret.expose_secret().len())
        })
    });
}

fn field_sealing(c: &mut Criterion) {
    let sealer = FieldSealer::new(&SealKey::generate().expect("key")).expect("sealer");
    let value = [0x42u8; 256];
    c.bench_function("field_seal_and_open_256_bytes", |b| {
        b.iter(|| {
            let sealed = sealer
                .seal("orders", "notes", "12345", black_box(&value))
                .expect("seal");
            let opened = sealer
                .open("orders", "notes", "12345", &sealed)
                .expect("open");
            black_box(opened.len())
        })
    });
}

fn argon2_unlock(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pass.vault");
    let pass = KeySource::Passphrase(SecretString::from("correct horse battery staple"));
    // Default options: Argon2id m = 19456 KiB, t = 2, p = 1 (OWASP minimum).
    drop(Vault::create(&path, &pass, VaultOptions::default()).expect("create"));
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(10);
    group.bench_function("unlock_empty_vault_owasp_default_params", |b| {
        b.iter(|| black_box(Vault::open(&path, &pass).expect("open").len()))
    });
    group.finish();
}

criterion_group!(benches, open_and_read, field_sealing, argon2_unlock);
criterion_main!(benches);
