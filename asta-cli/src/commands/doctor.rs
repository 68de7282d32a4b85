//! `asta doctor [DIR]`.

use std::path::{Path, PathBuf};

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::cli::DoctorArgs;
use asta_core::{Clock, SystemClock};

use crate::commands::backup;
use crate::config::{Config, DEFAULT_CONFIG_FILE};
use crate::context::open_vault;
use crate::doctor::{self, DoctorReport};
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, Failure};

/// Runs the checklist on `args.dir` and prints the report.
pub fn run(args: &DoctorArgs, config_path: Option<&Path>) -> CommandResult {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    if !dir.is_dir() {
        return Err(Failure::invalid(
            "give the project directory to check",
            anyhow::anyhow!("{} is not a directory", dir.display()),
        ));
    }
    let config = match config_path {
        Some(path) => Config::from_file(path),
        None => {
            let in_dir = dir.join(DEFAULT_CONFIG_FILE);
            if in_dir.exists() {
                Config::from_file(&in_dir)
            } else {
                Ok(Config::defaults_in(&dir))
            }
        }
    }
    .map_err(Failure::config)?;

    let report = checklist(&dir, &config);
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::internal("report a bug", e))?;
        crate::say!("{json}");
    } else {
        crate::say!("{}", render(&report));
    }
    Ok(if report.has_failures() {
        EXIT_CHECK_FAILED
    } else {
        EXIT_OK
    })
}

/// Every check, in the order the table shows them.
pub fn checklist(dir: &Path, config: &Config) -> DoctorReport {
    let now = SystemClock.now();
    let vault = open_vault(config).map_err(|f| format!("{} ({})", f.hint, f.detail));
    let vault_ref = vault.as_ref().map_err(String::as_str);
    let mut report = DoctorReport {
        checks: vec![
            doctor::check_gitignore(dir),
            doctor::check_tracked_secrets(dir),
            doctor::check_permissions(dir, config),
            doctor::check_network(config),
            doctor::check_live_trading(config),
            doctor::check_audit_retention(config),
            doctor::check_calendar(config, now),
            doctor::check_incident_response(config),
            doctor::check_totp(vault_ref, &config.file.security.totp_entry),
            check_backup(config, now),
            doctor::check_api_keys(vault_ref, config.file.security.api_key_max_age_days, now),
        ],
    };
    // The maintenance schedule, from the trail's own records.
    let facts = match &vault {
        Ok(vault) => crate::context::chain_key(config, vault)
            .map_err(|f| f.hint)
            .and_then(|key| doctor::MaintenanceFacts::read(config, &key)),
        Err(why) => Err(why.clone()),
    };
    match facts {
        Ok(facts) => {
            report.checks.push(doctor::check_trail_review(&facts, now));
            report.checks.push(doctor::check_backup_test(&facts, now));
        }
        Err(why) => {
            for id in ["trail-review", "backup-test"] {
                report.checks.push(doctor::CheckResult::warn(
                    id,
                    format!("cannot read the audit trail: {why}"),
                    "run `asta audit verify`",
                ));
            }
        }
    }
    report.checks.push(doctor::check_key_rotation(
        vault_ref,
        &config.file.audit.chain_key_entry,
        now,
    ));
    report
}

/// A backup newer than the configured age exists and verifies.
fn check_backup(config: &Config, now: chrono::DateTime<chrono::Utc>) -> doctor::CheckResult {
    const ID: &str = "backup";
    let Some(newest) = backup::newest(config) else {
        return doctor::CheckResult::fail(
            ID,
            format!("no backup in {}", config.backups_dir().display()),
            "run `asta backup create` (and schedule it)",
        );
    };
    let max_age = chrono::TimeDelta::hours(i64::from(config.file.backup.max_age_hours));
    let age = now.signed_duration_since(newest.created);
    if age > max_age {
        return doctor::CheckResult::fail(
            ID,
            format!(
                "the newest backup is {} hours old (limit {})",
                age.num_hours(),
                config.file.backup.max_age_hours
            ),
            "run `asta backup create` (and schedule it)",
        );
    }
    match backup::verifies_with_vault_key(config, &newest.path) {
        Ok(()) => doctor::CheckResult::pass(ID, format!("{} verifies", newest.path.display())),
        Err(why) => doctor::CheckResult::fail(
            ID,
            format!("{} does not verify: {why}", newest.path.display()),
            "make a new backup; if it was sealed with a passphrase, check it with `asta backup verify --passphrase`",
        ),
    }
}

fn render(report: &DoctorReport) -> String {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(140)
        .set_header(["status", "check", "finding", "fix"]);
    for check in &report.checks {
        table.add_row([
            check.status.to_string(),
            check.id.to_owned(),
            check.detail.clone(),
            check.fix.clone().unwrap_or_default(),
        ]);
    }
    let failures = report
        .checks
        .iter()
        .filter(|c| c.status == doctor::Status::Fail)
        .count();
    format!(
        "{table}\n{}",
        if failures == 0 {
            "No failures.".to_owned()
        } else {
            format!("{failures} check(s) failed.")
        }
    )
}
