//! Run with: cargo run --example vault_basics
//!
//! Shows the asta-vault basics in a temporary directory (never your real
//! files): create a key file and a vault, store a broker password and a
//! scoped API key, read them back, watch an API key expire, enroll and verify
//! a TOTP code (and see the replay refused), and seal a database field.

use std::sync::Arc;

use asta_core::{Clock, ManualClock};
use asta_vault::{
    ApiKeyPolicy, FieldSealer, KeyFile, Scope, Totp, TotpConfig, TotpError, Vault, VaultOptions,
};
use chrono::{TimeDelta, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let start = Utc
        .with_ymd_and_hms(2026, 11, 27, 3, 45, 0)
        .single()
        .ok_or("bad date")?;
    let clock = ManualClock::new(start);
    let options = VaultOptions::new().with_clock(Arc::new(clock.clone()));

    // 1. A 0600 key file and a vault protected by it.
    let key = KeyFile::generate(dir.path().join("master.key"))?;
    let vault_path = dir.path().join("asta.vault");
    let mut vault = Vault::create(&vault_path, &key, options.clone())?;
    vault.set("shoonya.password", SecretString::from("example-password"))?;
    vault.add_api_key(
        "openalgo.api_key",
        SecretString::from("example-openalgo-key"),
        &ApiKeyPolicy::new([Scope::read(), Scope::trade()]),
    )?;
    println!(
        "created {} with {} entries",
        vault_path.display(),
        vault.len()
    );

    // 2. Open it again, as another program would, and read one secret.
    let vault = Vault::open_with(&vault_path, &key, options.clone())?;
    let password = vault.get("shoonya.password")?;
    println!(
        "shoonya.password has {} characters",
        password.expose_secret().len()
    );
    for entry in vault.list() {
        println!("  {:<18} {:?} v{}", entry.name, entry.kind, entry.version);
    }

    // 3. API keys are scoped and expire (90 days by default).
    let now = clock.now();
    vault.api_key("openalgo.api_key", &Scope::trade(), now)?;
    if let Err(refused) = vault.api_key("openalgo.api_key", &Scope::admin(), now) {
        println!("refused: {refused}");
    }
    let later = now + TimeDelta::days(95);
    if let Err(refused) = vault.api_key("openalgo.api_key", &Scope::trade(), later) {
        println!("refused: {refused}");
    }
    for status in vault.status(now + TimeDelta::days(80)) {
        println!("status at day 80: {} -> {:?}", status.name, status.state);
    }

    // 4. TOTP: enroll (show the URI once, as a QR code), verify, replay refused.
    let mut vault = vault;
    let enrollment =
        vault.enroll_totp("totp.operator", "ASTA", "operator", TotpConfig::default())?;
    let label = enrollment
        .uri
        .expose_secret()
        .split('?')
        .next()
        .unwrap_or_default();
    println!("enrollment URI (secret part not shown): {label}?secret=...");
    // Stand-in for the operator's authenticator app:
    let app = Totp::from_base32(&enrollment.secret_base32, TotpConfig::default())?;
    let code = app.code_at(now)?;
    vault.verify_totp("totp.operator", &code, now)?;
    println!("TOTP code accepted");
    match vault.verify_totp("totp.operator", &code, now) {
        Err(TotpError::Replayed) => println!("same code again: refused as a replay"),
        other => println!("unexpected: {other:?}"),
    }

    // 5. Seal a database field with a key kept in the vault.
    let seal_key = vault.create_seal_key("db.seal_key")?;
    let sealer = FieldSealer::new(&seal_key)?;
    let cell = sealer.seal("orders", "broker_order_id", "42", b"250101000012345")?;
    println!("sealed cell: {}...", &cell[..12]);
    let moved = sealer.open("orders", "broker_order_id", "43", &cell);
    println!(
        "same value opened for row 43: {}",
        if moved.is_err() {
            "refused"
        } else {
            "accepted?!"
        }
    );
    Ok(())
}
