//! Every command in the audit trail: what was asked (names and flags, never
//! values: no command takes a secret on its command line), how it ended,
//! and for a failure the reference it printed with the detail behind it,
//! the way the guard records its own failures.
//!
//! The record is written after the command, by [`command_outcome`], which
//! `main` calls once. It needs the audit chain key from the vault:
//! [`remember_chain_key`] keeps the one a command already read (so a
//! passphrase is never asked twice); otherwise the vault is opened here
//! when that needs no prompt (key file or environment variable). Where no
//! trail exists yet, opening it creates it. While a running session holds
//! the main trail, the record goes to the control trail (`[paths]
//! control_audit_dir`), which the session's trail links when a guard next
//! opens it. A command whose record cannot be written (no vault yet, a
//! passphrase vault not unlocked, a damaged trail) says so on standard
//! error.

use std::sync::{Arc, OnceLock};

use asta_audit::{AuditConfig, AuditEvent, AuditLog, ChainKey};
use asta_core::SystemClock;
use serde_json::{Value, json};

use crate::cli::{
    AuditCommand, BackupCommand, Cli, Command, KeysCommand, RiskCommand, TotpCommand, VaultCommand,
};
use crate::config::Config;
use crate::context::{PASSPHRASE_ENV, chain_key, open_vault};
use crate::failure::CommandResult;

static CHAIN_KEY: OnceLock<ChainKey> = OnceLock::new();

/// Keeps the audit chain key a command has read, for its record.
pub fn remember_chain_key(key: &ChainKey) {
    let _ = CHAIN_KEY.set(key.clone());
}

/// What a command's record says about it: its action name, category
/// (security for the vault and TOTP, system otherwise) and arguments.
/// `None` for commands that keep no record here: `demo` (its own trail in
/// its own directory) and `doctor` (a read-only checklist of a directory).
pub fn describe(command: &Command) -> Option<(&'static str, bool, Value)> {
    let security = true;
    let system = false;
    Some(match command {
        Command::Demo(_) | Command::Doctor(_) => return None,
        Command::Init(args) => (
            "init",
            system,
            json!({"dir": args.dir.as_ref().map(|p| p.display().to_string())}),
        ),
        Command::Vault(args) => match &args.command {
            VaultCommand::Init => ("vault.init", security, json!({})),
            VaultCommand::Set {
                name,
                api_key,
                scopes,
                lifetime_days,
                note,
            } => (
                "vault.set",
                security,
                json!({"entry": name, "api_key": api_key, "scopes": scopes,
                       "lifetime_days": lifetime_days, "note_given": note.is_some()}),
            ),
            VaultCommand::Get {
                name,
                reveal,
                scope,
            } => (
                "vault.get",
                security,
                json!({"entry": name, "reveal": reveal, "scope": scope}),
            ),
            VaultCommand::List { .. } => ("vault.list", security, json!({})),
            VaultCommand::Rm { name } => ("vault.rm", security, json!({"entry": name})),
            VaultCommand::Rotate { name } => ("vault.rotate", security, json!({"entry": name})),
            VaultCommand::Rekey { passphrase } => (
                "vault.rekey",
                security,
                json!({"to_passphrase": passphrase}),
            ),
            VaultCommand::Status { .. } => ("vault.status", security, json!({})),
        },
        Command::Totp(args) => match &args.command {
            TotpCommand::Enroll { account } => {
                ("totp.enroll", security, json!({"account": account}))
            }
            TotpCommand::Verify => ("totp.verify", security, json!({})),
        },
        Command::Audit(args) => match &args.command {
            AuditCommand::Verify { checkpoint, .. } => (
                "audit.verify",
                system,
                json!({"checkpoint": checkpoint.is_some()}),
            ),
            AuditCommand::Tail { lines, .. } => ("audit.tail", system, json!({"lines": lines})),
            AuditCommand::Export { out } => (
                "audit.export",
                system,
                json!({"out": out.as_ref().map(|p| p.display().to_string())}),
            ),
            AuditCommand::Checkpoint { .. } => ("audit.checkpoint", system, json!({})),
            AuditCommand::Replay { until, .. } => ("audit.replay", system, json!({"until": until})),
        },
        Command::Backup(args) => match &args.command {
            BackupCommand::Create { passphrase } => {
                ("backup.create", system, json!({"passphrase": passphrase}))
            }
            BackupCommand::Verify {
                file, passphrase, ..
            } => (
                "backup.verify",
                system,
                json!({"file": file.display().to_string(), "passphrase": passphrase}),
            ),
            BackupCommand::Restore {
                file,
                force,
                passphrase,
                replace_audit_trail,
            } => (
                "backup.restore",
                system,
                json!({"file": file.display().to_string(), "force": force,
                       "passphrase": passphrase, "replace_audit_trail": replace_audit_trail}),
            ),
            BackupCommand::Prune => ("backup.prune", system, json!({})),
        },
        Command::Risk(args) => match &args.command {
            RiskCommand::Init => ("risk.init", system, json!({})),
            RiskCommand::Status { .. } => ("risk.status", system, json!({})),
            RiskCommand::Reset { operator } => {
                ("risk.reset", security, json!({"operator": operator}))
            }
        },
        Command::Calendar(args) => match &args.command {
            crate::cli::CalendarCommand::Import { holidays, out, .. } => (
                "calendar.import",
                system,
                json!({"holidays": holidays.display().to_string(),
                       "out": out.display().to_string()}),
            ),
        },
        Command::Kill(args) => (
            "kill",
            security,
            json!({"reason": args.reason, "operator": args.operator}),
        ),
        Command::Serve(args) => ("serve", system, json!({"threads": args.threads})),
        Command::Keys(args) => match &args.command {
            KeysCommand::Issue {
                name,
                scope,
                strategy,
                lifetime_days,
                json,
            } => (
                "keys.issue",
                security,
                json!({"name": name, "scope": scope, "strategy": strategy,
                       "lifetime_days": lifetime_days, "json": json}),
            ),
            KeysCommand::List { .. } => ("keys.list", security, json!({})),
            KeysCommand::Rotate { name, .. } => ("keys.rotate", security, json!({"name": name})),
            KeysCommand::Revoke { name } => ("keys.revoke", security, json!({"name": name})),
        },
        #[allow(
            unreachable_patterns,
            reason = "commands added on other branches are recorded generically until they get an arm"
        )]
        _ => ("other", system, json!({})),
    })
}

/// Appends the record of `cli`'s command and its `result`; returns the
/// record's seq, or why it could not be written.
pub fn command_outcome(cli: &Cli, result: &CommandResult) -> Result<Option<u64>, String> {
    let Some((action, security, mut args)) = describe(&cli.command) else {
        return Ok(None);
    };
    let config = match (&cli.command, cli.config.as_deref()) {
        // `asta init DIR` writes its configuration in DIR.
        (Command::Init(args), None) => Config::from_file(
            &args
                .dir
                .as_deref()
                .unwrap_or(std::path::Path::new("."))
                .join(crate::config::DEFAULT_CONFIG_FILE),
        ),
        (_, path) => Config::load(path),
    }
    .map_err(|_| "the configuration is missing or invalid".to_owned())?;
    let key = match CHAIN_KEY.get() {
        Some(key) => key.clone(),
        None => read_chain_key(&config)?,
    };
    let event = match result {
        Ok(exit) => {
            if let Value::Object(map) = &mut args {
                map.insert("outcome".to_owned(), json!("done"));
                map.insert("exit".to_owned(), json!(exit));
            }
            let action = format!("cli.{action}");
            if security {
                AuditEvent::security(action, args)
            } else {
                AuditEvent::system(action, args)
            }
        }
        Err(failure) => AuditEvent::error(
            failure.public.reference().clone(),
            format!("cli.{action}.failed"),
            json!({
                "command": args,
                "code": failure.public.code().as_str(),
                "exit": failure.exit,
                "hint": failure.hint,
                "detail": format!("{:#}", failure.detail),
            }),
        ),
    };
    let audit_config = AuditConfig::builder()
        .retention_days(config.file.audit.retention_days)
        .build()
        .map_err(|e| e.to_string())?;
    // While a running session holds the main trail, the record goes to the
    // control trail (same chain key, its own chain), which the session's
    // trail verifies and links the next time a guard opens it.
    let log = match AuditLog::open(
        config.audit_dir(),
        key.clone(),
        audit_config.clone(),
        Arc::new(SystemClock),
    ) {
        Ok(log) => log,
        Err(asta_audit::AuditError::Locked { .. }) => AuditLog::open(
            config.control_audit_dir(),
            key,
            audit_config,
            Arc::new(SystemClock),
        )
        .map_err(|e| {
            format!("the audit trail is held by a running session, and the control trail: {e}")
        })?,
        Err(other) => return Err(other.to_string()),
    };
    let receipt = log.append(event).map_err(|e| e.to_string())?;
    log.close().map_err(|e| e.to_string())?;
    Ok(Some(receipt.seq))
}

/// The chain key from the vault, when that needs no prompt.
fn read_chain_key(config: &Config) -> Result<ChainKey, String> {
    if config.file.paths.passphrase && std::env::var_os(PASSPHRASE_ENV).is_none() {
        return Err("the vault is passphrase-protected and was not unlocked".to_owned());
    }
    if !config.vault_path().exists() {
        return Err("there is no vault (and so no audit chain key) yet".to_owned());
    }
    let vault = open_vault(config).map_err(|f| f.hint)?;
    chain_key(config, &vault).map_err(|f| f.hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn records_names_and_flags_never_more() {
        let cli = Cli::parse_from(["asta", "vault", "set", "broker.password", "--note", "x"]);
        let (action, security, details) = describe(&cli.command).unwrap();
        assert_eq!(action, "vault.set");
        assert!(security);
        assert_eq!(details["entry"], "broker.password");
        assert_eq!(details["note_given"], true);
        assert!(
            !details.to_string().contains("\"x\""),
            "notes are not copied"
        );
        assert!(describe(&Cli::parse_from(["asta", "demo"]).command).is_none());
    }
}
