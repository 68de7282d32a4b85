//! `asta keys issue|list|rotate|revoke`: client keys for `asta serve`.
//!
//! A key is printed once, when issued or rotated; the vault keeps only its
//! keyed hash. Issuing or rotating a `trade` or `admin` key grants power,
//! so it needs the operator's TOTP code (as `asta risk reset` does); a
//! `read` key does not, and neither does revoking (it only takes power
//! away). Every issue, rotation, revocation and refusal is recorded in the
//! audit trail with the key's name, scope, strategy, expiry and
//! fingerprint, never the key.

use asta_audit::{AuditEvent, AuditLog};
use asta_core::{Clock, PublicCode, StrategyTag, SystemClock};
use asta_vault::{
    ClientKeyInfo, ClientScope, ExposeSecret, IssuedClientKey, MAX_CLIENT_KEY_LIFETIME_DAYS, Vault,
    VaultError,
};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::cli::{KeysArgs, KeysCommand};
use crate::config::Config;
use crate::context::{open_audit_or_control, open_vault, vault_failure};
use crate::failure::{CommandResult, EXIT_OK, Failure};
use crate::secret_input::read_secret;

/// Runs one keys subcommand.
pub fn run(args: &KeysArgs, config: &Config) -> CommandResult {
    match &args.command {
        KeysCommand::Issue {
            name,
            scope,
            strategy,
            lifetime_days,
            json,
        } => issue(
            config,
            name,
            scope,
            strategy.as_deref(),
            *lifetime_days,
            *json,
        ),
        KeysCommand::List { json } => list(config, *json),
        KeysCommand::Rotate { name, json } => rotate(config, name, *json),
        KeysCommand::Revoke { name } => revoke(config, name),
    }
}

fn issue(
    config: &Config,
    name: &str,
    scope: &str,
    strategy: Option<&str>,
    lifetime_days: u32,
    json: bool,
) -> CommandResult {
    // Everything that can be checked is checked before a TOTP code is asked.
    asta_vault::validate_client_key_name(name).map_err(keys_failure)?;
    let scope: ClientScope = scope.parse().map_err(keys_failure)?;
    let strategy = strategy
        .map(StrategyTag::new)
        .transpose()
        .map_err(|e| Failure::invalid("a strategy tag is 1-32 characters of A-Z a-z 0-9 - _", e))?;
    if lifetime_days == 0 || i64::from(lifetime_days) > MAX_CLIENT_KEY_LIFETIME_DAYS {
        return Err(Failure::invalid(
            format!("give --lifetime-days from 1 to {MAX_CLIENT_KEY_LIFETIME_DAYS}"),
            anyhow::anyhow!("lifetime of {lifetime_days} days is out of bounds"),
        ));
    }
    let mut vault = open_vault(config)?;
    if vault.client_key(name).is_ok() {
        return Err(keys_failure(VaultError::ClientKeyExists {
            name: name.to_owned(),
        }));
    }
    let audit = open_audit_or_control(config, &vault)?;
    let subject = json!({
        "name": name,
        "scope": scope.as_str(),
        "strategy": strategy.as_ref().map(StrategyTag::as_str),
        "lifetime_days": lifetime_days,
    });
    authorize(
        config,
        &mut vault,
        &audit,
        scope,
        "asta keys issue",
        &subject,
    )?;
    let issued = vault
        .issue_client_key(
            name,
            scope,
            strategy,
            TimeDelta::days(i64::from(lifetime_days)),
        )
        .map_err(keys_failure)?;
    record_or_revoke(&mut vault, &audit, "client_key_issued", &issued)?;
    show_key(&issued, json)
}

fn rotate(config: &Config, name: &str, json: bool) -> CommandResult {
    let mut vault = open_vault(config)?;
    let current = vault.client_key(name).map_err(keys_failure)?;
    if current.revoked_at.is_some() {
        return Err(keys_failure(VaultError::ClientKeyRevoked {
            name: name.to_owned(),
        }));
    }
    let audit = open_audit_or_control(config, &vault)?;
    authorize(
        config,
        &mut vault,
        &audit,
        current.scope,
        "asta keys rotate",
        &record_of(&current),
    )?;
    let issued = vault.rotate_client_key(name).map_err(keys_failure)?;
    let mut details = record_of(&issued.info);
    details["previous_fingerprint"] = json!(current.fingerprint);
    append(&audit, AuditEvent::security("client_key_rotated", details)).inspect_err(|_| {
        // The new key was never shown, so nobody holds it: revoking it
        // leaves no working key whose change is missing from the trail.
        let _ = vault.revoke_client_key(name);
    })?;
    close(&audit)?;
    show_key(&issued, json)
}

fn revoke(config: &Config, name: &str) -> CommandResult {
    let mut vault = open_vault(config)?;
    vault.client_key(name).map_err(keys_failure)?;
    let audit = open_audit_or_control(config, &vault)?;
    let info = vault.revoke_client_key(name).map_err(keys_failure)?;
    append(
        &audit,
        AuditEvent::security("client_key_revoked", record_of(&info)),
    )?;
    close(&audit)?;
    crate::say!(
        "revoked client key {name} ({}); it is refused from now on",
        info.fingerprint
    );
    Ok(EXIT_OK)
}

fn list(config: &Config, json: bool) -> CommandResult {
    let vault = open_vault(config)?;
    let now = SystemClock.now();
    let keys = vault.client_keys();
    if json {
        let rows: Vec<Value> = keys
            .iter()
            .map(|info| {
                let mut row = record_of(info);
                row["created"] = json!(info.created);
                row["revoked_at"] = json!(info.revoked_at);
                row["state"] = json!(info.state(now).as_str());
                row
            })
            .collect();
        return crate::output::json(&Value::Array(rows));
    }
    if keys.is_empty() {
        crate::say!("no client keys; issue one with `asta keys issue NAME --scope read`");
        return Ok(EXIT_OK);
    }
    crate::say!(
        "{:<24} {:<6} {:<16} {:<8} {:<10} {:<10} FINGERPRINT",
        "NAME",
        "SCOPE",
        "STRATEGY",
        "STATE",
        "CREATED",
        "EXPIRES"
    );
    for info in &keys {
        crate::say!(
            "{:<24} {:<6} {:<16} {:<8} {:<10} {:<10} {}",
            info.name,
            info.scope.as_str(),
            info.strategy.as_ref().map_or("-", StrategyTag::as_str),
            info.state(now).as_str(),
            info.created.format("%Y-%m-%d"),
            info.expires.format("%Y-%m-%d"),
            info.fingerprint
        );
    }
    Ok(EXIT_OK)
}

// ----- helpers -------------------------------------------------------------

/// A trade or admin key needs the operator's TOTP code; a read key does
/// not. A refusal is recorded before it is reported.
fn authorize(
    config: &Config,
    vault: &mut Vault,
    audit: &AuditLog,
    scope: ClientScope,
    via: &str,
    subject: &Value,
) -> Result<(), Failure> {
    if !scope.is_privileged() {
        return Ok(());
    }
    let code =
        read_secret("TOTP code: ").map_err(|e| Failure::invalid("type the 6-digit code", e))?;
    let entry = config.file.security.totp_entry.as_str();
    let Err(error) = vault.verify_totp(entry, code.expose_secret(), SystemClock.now()) else {
        return Ok(());
    };
    let mut details = subject.clone();
    details["via"] = json!(via);
    details["reason"] = json!(error.to_string());
    append(audit, AuditEvent::security("client_key_refused", details))?;
    close(audit)?;
    let hint = match &error {
        asta_vault::TotpError::NotEnrolled { .. }
        | asta_vault::TotpError::Vault(VaultError::NotFound { .. }) => {
            "a trade or admin key needs the operator's TOTP: enroll with `asta totp enroll` first"
        }
        _ => "a trade or admin key needs a fresh code from the enrolled authenticator",
    };
    Err(Failure::new(error.public_code(), hint, error))
}

/// Records an issue; if the record cannot be written, revokes the new key
/// (never shown, so nobody holds it) and fails.
fn record_or_revoke(
    vault: &mut Vault,
    audit: &AuditLog,
    action: &str,
    issued: &IssuedClientKey,
) -> Result<(), Failure> {
    let event = AuditEvent::security(action.to_owned(), record_of(&issued.info));
    if let Err(failure) = append(audit, event).and_then(|()| close(audit)) {
        let _ = vault.revoke_client_key(&issued.info.name);
        return Err(failure);
    }
    Ok(())
}

/// What the audit trail and `list --json` say about a key: never the key.
fn record_of(info: &ClientKeyInfo) -> Value {
    json!({
        "name": info.name,
        "scope": info.scope.as_str(),
        "strategy": info.strategy.as_ref().map(StrategyTag::as_str),
        "expires": info.expires,
        "fingerprint": info.fingerprint,
    })
}

/// Prints a newly issued key, once, with the warning.
fn show_key(issued: &IssuedClientKey, json: bool) -> CommandResult {
    let info = &issued.info;
    let warning = "this key is not stored anywhere and will not be shown again; \
                   copy it now into the client's configuration";
    if json {
        eprintln!("warning: {warning}");
        let mut out = record_of(info);
        out["created"] = json!(info.created);
        out["key"] = json!(issued.key.expose_secret());
        return crate::output::json(&out);
    }
    crate::say!(
        "client key {} (scope {}, strategy {}, expires {}, fingerprint {}):",
        info.name,
        info.scope.as_str(),
        info.strategy.as_ref().map_or("any", StrategyTag::as_str),
        info.expires.format("%Y-%m-%d %H:%M UTC"),
        info.fingerprint
    );
    crate::say!("");
    crate::say!("    {}", issued.key.expose_secret());
    crate::say!("");
    crate::say!("Warning: {warning}.");
    Ok(EXIT_OK)
}

fn append(audit: &AuditLog, event: AuditEvent) -> Result<(), Failure> {
    audit
        .append(event)
        .map(|_| ())
        .map_err(|e| Failure::new(e.public_code(), "the audit trail failed", e))
}

fn close(audit: &AuditLog) -> Result<(), Failure> {
    audit
        .close()
        .map_err(|e| Failure::new(e.public_code(), "the audit trail failed", e))
}

/// A vault error from a keys command, with hints that name `asta keys`.
fn keys_failure(error: VaultError) -> Failure {
    match &error {
        VaultError::ClientKeyExists { .. } => Failure::already_exists(
            "that name is taken: `asta keys rotate NAME` replaces its key, or pick another name",
            error,
        ),
        VaultError::ClientKeyNotFound { .. } => {
            Failure::not_found("check the name with `asta keys list`", error)
        }
        VaultError::ClientKeyRevoked { .. } => {
            Failure::refused("revocation is final: issue a key under a new name", error)
        }
        VaultError::InvalidName { .. } | VaultError::InvalidInput(_) => {
            Failure::invalid(error.to_string(), error)
        }
        _ => vault_failure(error),
    }
}
