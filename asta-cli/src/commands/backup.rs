//! `asta backup create|verify|restore|prune`.

use std::path::Path;

use asta_core::{Clock, ErrorCode, SystemClock};
use chrono::TimeDelta;

use crate::backup::bundle::EntryKind;
use crate::backup::{self, BackupError, RestoreOptions, Sealing, Sources, Targets};
use crate::cli::{BackupArgs, BackupCommand};
use crate::config::Config;
use crate::context::{open_vault, vault_failure};
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, Failure};
use crate::secret_input::read_secret;
use asta_vault::SealError;

/// The environment variable a backup passphrase is read from when there is no terminal.
pub const BACKUP_PASSPHRASE_ENV: &str = "ASTA_BACKUP_PASSPHRASE";

/// Runs one backup subcommand.
pub fn run(args: &BackupArgs, config: &Config) -> CommandResult {
    match &args.command {
        BackupCommand::Create { passphrase } => {
            let sealing = sealing(config, *passphrase, KeyUse::CreateIfMissing)?;
            let sources = Sources {
                databases: config.database_paths(),
                vault: Some(config.vault_path()).filter(|p| p.exists()),
                audit_dir: Some(config.audit_dir()).filter(|p| p.is_dir()),
                files: single_files(config),
            };
            let path = backup::create(&sources, &config.backups_dir(), &sealing, SystemClock.now())
                .map_err(backup_failure)?;
            crate::say!("created {}", path.display());
            Ok(EXIT_OK)
        }
        BackupCommand::Verify {
            file,
            passphrase,
            json,
        } => {
            check_sealing_kind(file, *passphrase)?;
            let sealing = sealing(config, *passphrase, KeyUse::Existing)?;
            match backup::verify(file, &sealing) {
                Ok(report) if *json => crate::output::json(&serde_json::json!({
                    "status": "OK",
                    "file": file.display().to_string(),
                    "created": report.manifest.created,
                    "entries": report.manifest.entries,
                })),
                Ok(report) => {
                    crate::say!(
                        "OK: {} made {}: {} entries verified",
                        file.display(),
                        report.manifest.created,
                        report.manifest.entries.len()
                    );
                    for entry in &report.manifest.entries {
                        crate::say!("  {:?} {} ({} bytes)", entry.kind, entry.name, entry.len);
                    }
                    Ok(EXIT_OK)
                }
                Err(error @ BackupError::Io { .. }) => Err(backup_failure(error)),
                // Not a verification failure: the wrong kind of secret was given.
                Err(error @ BackupError::Seal(SealError::WrongKeyKind { .. })) => {
                    Err(backup_failure(error))
                }
                Err(error) => {
                    if *json {
                        crate::output::json(&serde_json::json!({
                            "status": "FAILED", "file": file.display().to_string(),
                            "error": error.to_string(),
                        }))?;
                    } else {
                        crate::say!("FAILED: {error}");
                    }
                    Ok(EXIT_CHECK_FAILED)
                }
            }
        }
        BackupCommand::Restore {
            file,
            force,
            passphrase,
            replace_audit_trail,
        } => {
            check_sealing_kind(file, *passphrase)?;
            let sealing = sealing(config, *passphrase, KeyUse::Existing)?;
            let targets = Targets {
                databases: config.database_paths(),
                vault: config.vault_path(),
                audit_dir: config.audit_dir(),
                files: single_files(config),
            };
            let options = RestoreOptions {
                force: *force,
                replace_audit_trail: *replace_audit_trail,
            };
            let report = backup::restore(file, &sealing, &targets, options, SystemClock.now())
                .map_err(backup_failure)?;
            for path in &report.restored {
                crate::say!("restored {}", path.display());
            }
            for skipped in &report.skipped {
                crate::say!("not restored (no place configured for it): {skipped}");
            }
            if let Some(kept) = &report.audit_trail_kept_at {
                crate::say!("the previous audit trail is kept in {}", kept.display());
                record_replaced_trail(config, file, kept)?;
            }
            Ok(EXIT_OK)
        }
        BackupCommand::Prune => {
            let days = i64::from(config.file.backup.retention_days);
            let deleted = backup::prune(
                &config.backups_dir(),
                TimeDelta::days(days),
                SystemClock.now(),
            )
            .map_err(backup_failure)?;
            crate::say!("pruned {} backups older than {days} days", deleted.len());
            for path in deleted {
                crate::say!("  deleted {}", path.display());
            }
            Ok(EXIT_OK)
        }
    }
}

/// The single files a backup holds, where the configuration puts them.
fn single_files(config: &Config) -> Vec<(EntryKind, std::path::PathBuf)> {
    let mut files = vec![
        (EntryKind::RiskState, config.risk_state_path()),
        (EntryKind::Instruments, config.instruments_path()),
        (
            EntryKind::Config,
            config
                .source
                .clone()
                .unwrap_or_else(|| config.base_dir.join(crate::config::DEFAULT_CONFIG_FILE)),
        ),
    ];
    if let Some(calendar) = config.calendar_path() {
        files.push((EntryKind::Calendar, calendar));
    }
    files
}

/// Writes, in the restored trail, that it replaced another one and where
/// that one is kept.
fn record_replaced_trail(config: &Config, backup: &Path, kept: &Path) -> Result<(), Failure> {
    let vault = open_vault(config)?;
    let audit = crate::context::open_audit(config, &vault)?;
    audit
        .append(asta_audit::AuditEvent::security(
            "backup_restore_replaced_audit_trail",
            serde_json::json!({
                "backup": backup.display().to_string(),
                "previous_trail_kept_at": kept.display().to_string(),
            }),
        ))
        .map_err(|e| Failure::internal("the restore is done but could not be recorded", e))?;
    audit
        .close()
        .map_err(|e| Failure::internal("the restore is done but could not be recorded", e))?;
    Ok(())
}

/// Refuses a missing file (an input error) and a backup that needs the
/// other kind of secret, before any secret is asked for.
fn check_sealing_kind(file: &Path, passphrase_given: bool) -> Result<(), Failure> {
    let opened = std::fs::File::open(file).map_err(|e| {
        Failure::not_found(
            "name an existing backup file (in paths.backups)",
            anyhow::Error::new(e).context(format!("cannot open {}", file.display())),
        )
    })?;
    match asta_vault::sealed_with(opened) {
        Ok(asta_vault::SealedWith::Passphrase) if !passphrase_given => Err(Failure::invalid(
            "this backup is sealed with a passphrase: run it again with --passphrase",
            anyhow::anyhow!("{} needs a passphrase", file.display()),
        )),
        Ok(asta_vault::SealedWith::Key) if passphrase_given => Err(Failure::invalid(
            "this backup is sealed with the vault's backup key: run it again without --passphrase",
            anyhow::anyhow!("{} needs the vault's backup key", file.display()),
        )),
        // Damage is reported by the full check that follows.
        _ => Ok(()),
    }
}

/// Whether a command may create the vault's backup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    /// `create`: the first backup creates the key.
    CreateIfMissing,
    /// `verify` and `restore` only read: a missing key is an error.
    Existing,
}

fn sealing(config: &Config, passphrase: bool, key_use: KeyUse) -> Result<Sealing, Failure> {
    if passphrase {
        let text = match std::env::var(BACKUP_PASSPHRASE_ENV) {
            Ok(text) => secrecy::SecretString::from(text),
            Err(_) => read_secret("Backup passphrase: ")
                .map_err(|e| Failure::invalid("type the backup passphrase", e))?,
        };
        return Ok(Sealing::Passphrase(text));
    }
    let mut vault = open_vault(config)?;
    let key = match key_use {
        KeyUse::CreateIfMissing => backup::vault_seal_key(&mut vault),
        KeyUse::Existing => vault.seal_key(backup::SEAL_KEY_ENTRY),
    }
    .map_err(vault_failure)?;
    Ok(Sealing::Key(key))
}

fn backup_failure(error: BackupError) -> Failure {
    match &error {
        // The wrong kind of secret was given: an input error, not damage.
        BackupError::Seal(SealError::WrongKeyKind { expected, .. }) => {
            let hint = if *expected == "a passphrase" {
                "this backup is sealed with a passphrase: run it again with --passphrase"
            } else {
                "this backup is sealed with the vault's backup key: run it again without --passphrase"
            };
            Failure::invalid(hint, error)
        }
        BackupError::WouldRewindAuditTrail { .. } => Failure::refused(
            "the backup would shorten or replace the audit trail; if that is really wanted, add --replace-audit-trail (the present trail is kept aside)",
            error,
        ),
        BackupError::AuditTrailInUse(_) => Failure::refused(
            "stop the running session before restoring its audit trail",
            error,
        ),
        BackupError::Exists(_) => {
            Failure::already_exists("a backup with that name exists already; try again", error)
        }
        BackupError::WouldOverwrite(_) => Failure::new(
            ErrorCode::PermissionDenied,
            "restore refuses to overwrite; add --force to replace the current files",
            error,
        ),
        BackupError::UnknownDatabase(_) | BackupError::DuplicateName(_) => Failure::invalid(
            "list the databases under paths.databases in asta.toml",
            error,
        ),
        BackupError::Seal(_) | BackupError::Bundle(_) | BackupError::Sqlite(_) => {
            Failure::check_failed(
                "the backup is damaged, was tampered with, or needs another key or passphrase",
                error,
            )
        }
        _ => Failure::internal(
            "check the paths and permissions in the detail (--verbose)",
            error,
        ),
    }
}

/// The newest backup in the configured directory, if any (for `doctor`).
pub fn newest(config: &Config) -> Option<backup::BackupFile> {
    backup::list(&config.backups_dir()).ok()?.pop()
}

/// Whether `path` verifies with the vault's backup key.
/// Read-only: it never creates the backup key.
pub fn verifies_with_vault_key(config: &Config, path: &Path) -> Result<(), String> {
    let sealing =
        sealing(config, false, KeyUse::Existing).map_err(|f| format!("{:#}", f.detail))?;
    backup::verify(path, &sealing)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
