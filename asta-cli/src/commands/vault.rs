//! `asta vault init|set|get|list|rm|rotate|rekey|status`.

use std::io::Write;
use std::sync::Arc;

use asta_core::{Clock, SystemClock};
use asta_vault::{
    ApiKeyPolicy, EntryKind, EntryOptions, ExpiryState, KeyFile, KeySource, Scope, Vault,
    VaultOptions,
};
use chrono::TimeDelta;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use secrecy::ExposeSecret;

use crate::cli::{VaultArgs, VaultCommand};
use crate::config::Config;
use crate::context::{create_chain_key, key_source, open_vault, passphrase, vault_failure};
use crate::failure::{CommandResult, EXIT_OK, Failure};
use crate::secret_input::read_secret;

/// Runs one vault subcommand.
pub fn run(args: &VaultArgs, config: &Config) -> CommandResult {
    match &args.command {
        VaultCommand::Init => init(config),
        VaultCommand::Set {
            name,
            api_key,
            scopes,
            lifetime_days,
            note,
        } => set(
            config,
            name,
            *api_key,
            scopes,
            *lifetime_days,
            note.as_deref(),
        ),
        VaultCommand::Get {
            name,
            reveal,
            scope,
        } => get(config, name, *reveal, scope.as_deref()),
        VaultCommand::List { json } => list(config, *json),
        VaultCommand::Rm { name } => {
            let mut vault = open_vault(config)?;
            vault.remove(name).map_err(vault_failure)?;
            crate::say!("removed {name}");
            Ok(EXIT_OK)
        }
        VaultCommand::Rotate { name } => {
            let mut vault = open_vault(config)?;
            let value = read_secret(&format!("New value for {name}: "))
                .map_err(|e| Failure::invalid("type the new value, or pipe it on stdin", e))?;
            let version = vault.rotate(name, value).map_err(vault_failure)?;
            crate::say!("rotated {name} to version {version}");
            Ok(EXIT_OK)
        }
        VaultCommand::Rekey { passphrase } => rekey(config, *passphrase),
        VaultCommand::Status { json } => status(config, *json),
    }
}

fn init(config: &Config) -> CommandResult {
    let vault_path = config.vault_path();
    if vault_path.exists() {
        return Err(Failure::already_exists(
            "a vault already exists there; use `asta vault rekey` to change its key",
            anyhow::anyhow!("{} exists", vault_path.display()),
        ));
    }
    let source = if config.file.paths.key_env.is_some() || config.file.paths.passphrase {
        key_source(config)?
    } else {
        let key_path = config.key_file_path();
        if let Some(dir) = key_path.parent() {
            create_private_dir(dir)?;
        }
        let source = KeyFile::generate(&key_path).map_err(vault_failure)?;
        crate::say!("created key file {} (mode 0600)", key_path.display());
        source
    };
    if let Some(dir) = vault_path.parent() {
        create_private_dir(dir)?;
    }
    let options = VaultOptions::new().with_clock(Arc::new(SystemClock));
    let mut vault = Vault::create(&vault_path, &source, options).map_err(vault_failure)?;
    crate::say!("created vault {} (mode 0600)", vault_path.display());
    create_chain_key(config, &mut vault)?;
    crate::say!(
        "stored a new audit chain key as `{}`",
        config.file.audit.chain_key_entry
    );
    Ok(EXIT_OK)
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &std::path::Path) -> Result<(), Failure> {
    asta_core::safe_file::create_private_dir(dir)
        .map(|_| ())
        .map_err(|e| Failure::internal(format!("cannot create {}", dir.display()), e))
}

fn set(
    config: &Config,
    name: &str,
    api_key: bool,
    scopes: &[String],
    lifetime_days: Option<u32>,
    note: Option<&str>,
) -> CommandResult {
    let mut vault = open_vault(config)?;
    let value = read_secret(&format!("Value for {name}: "))
        .map_err(|e| Failure::invalid("type the value, or pipe it on stdin", e))?;
    if api_key {
        let scopes = scopes
            .iter()
            .map(|s| Scope::new(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(vault_failure)?;
        if scopes.is_empty() {
            return Err(Failure::invalid(
                "give the key's scopes, e.g. --scope read --scope trade",
                anyhow::anyhow!("an API key needs at least one scope"),
            ));
        }
        let mut policy = ApiKeyPolicy::new(scopes);
        if let Some(days) = lifetime_days {
            policy = policy
                .with_lifetime(TimeDelta::days(i64::from(days)))
                .map_err(vault_failure)?;
        }
        vault
            .add_api_key(name, value, &policy)
            .map_err(vault_failure)?;
        crate::say!("stored API key {name}");
    } else {
        let mut options = EntryOptions::new();
        if let Some(note) = note {
            options = options.note(note);
        }
        if let Some(days) = lifetime_days {
            options = options.expires(SystemClock.now() + TimeDelta::days(i64::from(days)));
        }
        vault
            .set_with(name, value, options)
            .map_err(vault_failure)?;
        crate::say!("stored {name}");
    }
    Ok(EXIT_OK)
}

fn get(config: &Config, name: &str, reveal: bool, scope: Option<&str>) -> CommandResult {
    if !reveal {
        return Err(Failure::refused(
            format!("secrets are printed only on request: asta vault get {name} --reveal"),
            anyhow::anyhow!("--reveal was not given"),
        ));
    }
    let vault = open_vault(config)?;
    let kind = vault.info(name).map(|i| i.kind);
    let value = match (kind, scope) {
        (Some(EntryKind::ApiKey), Some(scope)) => {
            let scope = Scope::new(scope).map_err(vault_failure)?;
            vault
                .api_key(name, &scope, SystemClock.now())
                .map_err(vault_failure)?
        }
        (Some(EntryKind::ApiKey), None) => {
            return Err(Failure::invalid(
                "say which scope you need: --scope read|trade|admin",
                anyhow::anyhow!("{name} is an API key"),
            ));
        }
        _ => vault.get(name).map_err(vault_failure)?,
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", value.expose_secret())
        .map_err(|e| Failure::internal("standard output is closed", e))?;
    Ok(EXIT_OK)
}

fn list(config: &Config, json: bool) -> CommandResult {
    let vault = open_vault(config)?;
    if json {
        let entries: Vec<serde_json::Value> = vault
            .list()
            .into_iter()
            .map(|info| {
                serde_json::json!({
                    "name": info.name,
                    "kind": info.kind.as_str(),
                    "version": info.version,
                    "created": info.created.to_rfc3339(),
                    "updated": info.updated.to_rfc3339(),
                    "expires": info.expires.map(|e| e.to_rfc3339()),
                    "scopes": info.scopes.iter().map(Scope::as_str).collect::<Vec<_>>(),
                    "note": info.note,
                })
            })
            .collect();
        return crate::output::json(&serde_json::json!({ "entries": entries }));
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header([
        "name", "kind", "version", "updated", "expires", "scopes", "note",
    ]);
    for info in vault.list() {
        table.add_row([
            info.name.clone(),
            info.kind.as_str().to_owned(),
            info.version.to_string(),
            info.updated.format("%Y-%m-%d %H:%M UTC").to_string(),
            info.expires
                .map(|e| e.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "-".to_owned()),
            info.scopes
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(","),
            info.note.clone().unwrap_or_default(),
        ]);
    }
    crate::say!("{table}");
    crate::say!("{} entries", vault.len());
    Ok(EXIT_OK)
}

fn rekey(config: &Config, to_passphrase: bool) -> CommandResult {
    let mut vault = open_vault(config)?;
    if to_passphrase {
        let first = passphrase("New passphrase: ")?;
        let second = passphrase("Repeat the new passphrase: ")?;
        if first.expose_secret() != second.expose_secret() {
            return Err(Failure::invalid(
                "type the same passphrase twice",
                anyhow::anyhow!("the passphrases differ"),
            ));
        }
        vault
            .rekey(&KeySource::Passphrase(first))
            .map_err(vault_failure)?;
        crate::say!("rekeyed vault to a passphrase; set paths.passphrase = true in asta.toml");
        return Ok(EXIT_OK);
    }
    // A new key file beside the old one, then the vault, then the swap: a
    // crash in between leaves the new key in `<key>.new`, never no key.
    let key_path = config.key_file_path();
    let mut new_path = key_path.clone().into_os_string();
    new_path.push(".new");
    let new_path = std::path::PathBuf::from(new_path);
    let _ = std::fs::remove_file(&new_path);
    let new_source = KeyFile::generate(&new_path).map_err(vault_failure)?;
    vault.rekey(&new_source).map_err(vault_failure)?;
    std::fs::rename(&new_path, &key_path).map_err(|e| {
        Failure::internal(
            format!(
                "the vault now opens with {}; move it to {} by hand",
                new_path.display(),
                key_path.display()
            ),
            e,
        )
    })?;
    // Make the swap durable: a crash must not bring the old key file back.
    asta_core::safe_file::sync_parent(&key_path).map_err(|e| {
        Failure::internal(
            format!("sync the directory of {} by hand", key_path.display()),
            e,
        )
    })?;
    crate::say!("rekeyed vault; new key file {}", key_path.display());
    Ok(EXIT_OK)
}

fn status(config: &Config, json: bool) -> CommandResult {
    let vault = open_vault(config)?;
    if json {
        let entries: Vec<serde_json::Value> = vault
            .status(SystemClock.now())
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "created": s.created.to_rfc3339(),
                    "expires": s.expires.to_rfc3339(),
                    "scopes": s.scopes.iter().map(Scope::as_str).collect::<Vec<_>>(),
                    "state": describe(&s.state),
                    "needs_attention": s.state.needs_attention(),
                })
            })
            .collect();
        return crate::output::json(&serde_json::json!({
            "vault": vault.path().display().to_string(),
            "generation": vault.generation(),
            "entries": entries,
        }));
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(["name", "created", "expires", "scopes", "state"]);
    let statuses = vault.status(SystemClock.now());
    for s in &statuses {
        table.add_row([
            s.name.clone(),
            s.created.format("%Y-%m-%d").to_string(),
            s.expires.format("%Y-%m-%d").to_string(),
            s.scopes
                .iter()
                .map(Scope::as_str)
                .collect::<Vec<_>>()
                .join(","),
            describe(&s.state),
        ]);
    }
    crate::say!("{table}");
    let attention = statuses
        .iter()
        .filter(|s| s.state.needs_attention())
        .count();
    crate::say!(
        "vault {} (generation {}): {} entries, {attention} need attention",
        vault.path().display(),
        vault.generation(),
        vault.len()
    );
    Ok(EXIT_OK)
}

fn describe(state: &ExpiryState) -> String {
    match state {
        ExpiryState::Valid => "valid".to_owned(),
        ExpiryState::ExpiringSoon { days_left } => {
            format!("EXPIRING in {days_left} days: rotate it")
        }
        ExpiryState::Expired { days_ago } => format!("EXPIRED {days_ago} days ago: rotate it"),
        _ => "unknown".to_owned(),
    }
}
