//! `asta doctor`: the pre-deployment security checklist as automatic checks.
//!
//! Each check returns PASS, WARN or FAIL with a one-line fix. Any FAIL makes
//! the command exit non-zero.

mod calendar;
mod gitignore;
mod incident;
mod maintenance;
mod network;
mod permissions;
mod secrets;

use std::path::Path;

use serde::Serialize;

use crate::config::{Config, MIN_AUDIT_RETENTION_DAYS};

pub use calendar::{CALENDAR_WARN_DAYS, check_calendar};
pub use gitignore::{GitIgnore, REQUIRED};
pub use incident::check_incident_response;
pub use maintenance::{
    BACKUP_TEST_EVERY, KEY_ROTATION_EVERY, MaintenanceFacts, TRAIL_REVIEW_EVERY, check_backup_test,
    check_key_rotation, check_trail_review,
};
pub use network::{bind_host, broker_url_problem, is_loopback_host};
pub use permissions::{LoosePermission, check_path, find_sensitive_files, is_sensitive_name};
pub use secrets::{
    ALLOW_MARKER, SecretFinding, has_high_entropy_token, matches_secret_pattern, scan,
    tracked_files,
};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The check passed.
    Pass,
    /// Not a failure, but worth a look.
    Warn,
    /// A problem to fix before deploying.
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// A stable id, e.g. `gitignore`.
    pub id: &'static str,
    /// The outcome.
    pub status: Status,
    /// What was found (never a secret).
    pub detail: String,
    /// How to fix it, for WARN and FAIL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl CheckResult {
    /// A passing check.
    pub fn pass(id: &'static str, detail: impl Into<String>) -> Self {
        Self {
            id,
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A warning with its fix.
    pub fn warn(id: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id,
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure with its fix.
    pub fn fail(id: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id,
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The whole checklist.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// Every check, in order.
    pub checks: Vec<CheckResult>,
}

impl DoctorReport {
    /// Whether any check failed.
    pub fn has_failures(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

/// `.gitignore` covers secrets, keys, logs, databases and backups.
pub fn check_gitignore(dir: &Path) -> CheckResult {
    const ID: &str = "gitignore";
    let Ok(text) = std::fs::read_to_string(dir.join(".gitignore")) else {
        return CheckResult::fail(
            ID,
            "no .gitignore",
            "create .gitignore covering .env, .env.*, *.key, *.pem, keys/, config/credentials.*, logs/, *.log, *.db, *.sqlite, *.duckdb, backups/, *.bak",
        );
    };
    let missing = GitIgnore::parse(&text).missing();
    if missing.is_empty() {
        return CheckResult::pass(ID, "secrets, keys, logs, databases and backups are ignored");
    }
    let detail = missing
        .iter()
        .map(|(category, samples)| format!("{category} ({})", samples.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    CheckResult::fail(
        ID,
        format!("not ignored: {detail}"),
        "add the missing patterns to .gitignore (see the workspace's own .gitignore)",
    )
}

/// Secret-bearing files and directories are 0600 / 0700.
pub fn check_permissions(dir: &Path, config: &Config) -> CheckResult {
    const ID: &str = "permissions";
    let mut findings = Vec::new();
    for path in find_sensitive_files(dir, 4) {
        check_path(&path, &mut findings);
    }
    for path in [
        config.vault_path(),
        config.key_file_path(),
        config.risk_state_path(),
    ]
    .into_iter()
    .chain(config.database_paths())
    {
        check_path(&path, &mut findings);
        if let Some(parent) = path.parent()
            && parent != dir
            && parent != Path::new(".")
            && !parent.as_os_str().is_empty()
        {
            check_path_dir_only(parent, &mut findings);
        }
    }
    for path in [config.audit_dir(), config.backups_dir()] {
        check_path(&path, &mut findings);
    }
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    findings.dedup();
    match findings.as_slice() {
        [] => CheckResult::pass(ID, "secret files are 0600 and their directories 0700"),
        [first, ..] => CheckResult::fail(
            ID,
            findings
                .iter()
                .map(|f| format!("{} is {:o}", f.path.display(), f.mode))
                .collect::<Vec<_>>()
                .join("; "),
            if findings.len() == 1 {
                first.fix()
            } else {
                format!("{} (and {} more)", first.fix(), findings.len() - 1)
            },
        ),
    }
}

fn check_path_dir_only(dir: &Path, findings: &mut Vec<LoosePermission>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::symlink_metadata(dir)
        && meta.is_dir()
        && meta.permissions().mode() & 0o077 != 0
    {
        findings.push(LoosePermission {
            path: dir.to_path_buf(),
            mode: meta.permissions().mode() & 0o7777,
            is_dir: true,
        });
    }
}

/// Configured bind addresses are loopback; the broker URL is https or
/// loopback. Every problem is reported, not only the first.
pub fn check_network(config: &Config) -> CheckResult {
    const ID: &str = "network";
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let exposed: Vec<&str> = config
        .file
        .security
        .bind_addresses
        .iter()
        .map(String::as_str)
        .filter(|a| !is_loopback_host(bind_host(a)))
        .collect();
    if !exposed.is_empty() {
        problems.push(format!(
            "listening beyond this machine: {}",
            exposed.join(", ")
        ));
        fixes.push(
            "bind to 127.0.0.1 and put an authenticated TLS proxy in front if remote access is needed",
        );
    }
    if let Some(problem) = serve_listen_problem(config) {
        problems.push(problem);
        fixes.push(
            "serve.listen on 127.0.0.1, or set serve.tls_cert and serve.tls_key for a non-loopback address",
        );
    }
    if let Some(problem) = broker_url_problem(&config.file.broker.url) {
        problems.push(problem);
        fixes.push("set broker.url to an https:// URL (or http://127.0.0.1)");
    }
    if problems.is_empty() {
        return CheckResult::pass(
            ID,
            "bind addresses are loopback; the broker URL is https or loopback",
        );
    }
    CheckResult::fail(ID, problems.join("; "), fixes.join("; "))
}

/// The rule `asta serve` enforces at start: the gateway listens on
/// loopback, or with TLS configured. `None` when `serve.listen` follows it.
pub fn serve_listen_problem(config: &Config) -> Option<String> {
    let serve = &config.file.serve;
    let addr = match serve.listen_addr() {
        Ok(addr) => addr,
        Err(problem) => return Some(problem),
    };
    if addr.ip().is_loopback() || serve.has_tls() {
        None
    } else {
        Some(format!(
            "asta serve would listen on {addr} beyond this machine without TLS"
        ))
    }
}

/// Live trading is off unless explicitly enabled.
pub fn check_live_trading(config: &Config) -> CheckResult {
    const ID: &str = "live-trading";
    let trading = &config.file.trading;
    match (trading.mode.is_live(), trading.allow_live_trading) {
        (false, false) => CheckResult::pass(ID, format!("mode {}; live trading off", trading.mode)),
        (true, false) => CheckResult::fail(
            ID,
            "mode is live but allow_live_trading is not set",
            "set trading.mode = \"sandbox\" or, deliberately, trading.allow_live_trading = true",
        ),
        (_, true) => CheckResult::warn(
            ID,
            format!("live trading explicitly enabled (mode {})", trading.mode),
            "set trading.allow_live_trading = false unless this machine trades real money",
        ),
    }
}

/// Audit retention is at least five years.
pub fn check_audit_retention(config: &Config) -> CheckResult {
    const ID: &str = "audit-retention";
    let days = config.file.audit.retention_days;
    if days >= MIN_AUDIT_RETENTION_DAYS {
        CheckResult::pass(ID, format!("{days} days"))
    } else {
        CheckResult::fail(
            ID,
            format!("{days} days is below the {MIN_AUDIT_RETENTION_DAYS} days SEBI requires"),
            format!("set audit.retention_days = {MIN_AUDIT_RETENTION_DAYS} or more"),
        )
    }
}

/// No file tracked by git holds something that looks like a secret.
pub fn check_tracked_secrets(dir: &Path) -> CheckResult {
    const ID: &str = "tracked-secrets";
    let Some(files) = tracked_files(dir) else {
        return CheckResult::warn(
            ID,
            "not a git work tree (or git is missing): tracked files not scanned",
            "run asta doctor on the repository that will be deployed",
        );
    };
    let findings = scan(dir, &files);
    if findings.is_empty() {
        return CheckResult::pass(
            ID,
            format!(
                "{} tracked files scanned; nothing looks like a secret",
                files.len()
            ),
        );
    }
    let shown: Vec<String> = findings
        .iter()
        .take(10)
        .map(|f| format!("{}:{} ({})", f.file.display(), f.line, f.kind))
        .collect();
    let more = findings.len().saturating_sub(shown.len());
    CheckResult::fail(
        ID,
        format!(
            "possible secrets at {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
        format!(
            "move each secret into the vault (asta vault set), rotate it, and purge it from git history; mark a harmless fixture line with `{ALLOW_MARKER}`"
        ),
    )
}

/// A TOTP secret is enrolled for operator actions.
pub fn check_totp(vault: Result<&asta_vault::Vault, &str>, entry: &str) -> CheckResult {
    const ID: &str = "totp";
    match vault {
        Err(why) => CheckResult::fail(
            ID,
            format!("cannot open the vault: {why}"),
            "create it with `asta vault init`",
        ),
        Ok(vault) => match vault.info(entry) {
            Some(info) if info.kind == asta_vault::EntryKind::Totp => {
                CheckResult::pass(ID, format!("`{entry}` is enrolled"))
            }
            Some(_) => CheckResult::fail(
                ID,
                format!("`{entry}` exists but is not a TOTP secret"),
                "remove it and run `asta totp enroll`",
            ),
            None => CheckResult::fail(
                ID,
                format!("no TOTP secret `{entry}`"),
                "run `asta totp enroll`",
            ),
        },
    }
}

/// No API key is expired or older than `max_age_days`.
pub fn check_api_keys(
    vault: Result<&asta_vault::Vault, &str>,
    max_age_days: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> CheckResult {
    const ID: &str = "api-keys";
    let vault = match vault {
        Ok(vault) => vault,
        Err(why) => {
            return CheckResult::fail(
                ID,
                format!("cannot open the vault: {why}"),
                "create it with `asta vault init`",
            );
        }
    };
    let max_age = chrono::TimeDelta::days(i64::from(max_age_days));
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    for status in vault.status(now) {
        let age = now.signed_duration_since(status.created);
        match status.state {
            asta_vault::ExpiryState::Expired { days_ago } => {
                failures.push(format!("{} expired {days_ago} days ago", status.name));
            }
            _ if age > max_age => {
                failures.push(format!("{} is {} days old", status.name, age.num_days()));
            }
            asta_vault::ExpiryState::ExpiringSoon { days_left } => {
                warnings.push(format!("{} expires in {days_left} days", status.name));
            }
            _ => {}
        }
    }
    if !failures.is_empty() {
        CheckResult::fail(
            ID,
            failures.join("; "),
            "rotate them: asta vault rotate NAME",
        )
    } else if !warnings.is_empty() {
        CheckResult::warn(
            ID,
            warnings.join("; "),
            "rotate them soon: asta vault rotate NAME",
        )
    } else {
        CheckResult::pass(
            ID,
            format!("no key expired or older than {max_age_days} days"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_problem_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asta.toml");
        std::fs::write(
            &path,
            "[security]\nbind_addresses = [\"0.0.0.0:8080\", \"127.0.0.1:9000\", \"[::]:7000\"]\n[broker]\nurl = \"http://203.0.113.9:5000\"\n",
        )
        .unwrap();
        let config = Config::from_file(&path).unwrap();
        let result = check_network(&config);
        assert_eq!(result.status, Status::Fail);
        assert!(result.detail.contains("0.0.0.0:8080"), "{}", result.detail);
        assert!(result.detail.contains("[::]:7000"), "{}", result.detail);
        assert!(
            !result.detail.contains("127.0.0.1:9000"),
            "{}",
            result.detail
        );
        assert!(result.detail.contains("plain http"), "{}", result.detail);
        assert!(result.fix.unwrap().contains("broker.url"));
    }

    #[test]
    fn a_gateway_beyond_loopback_needs_tls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asta.toml");
        std::fs::write(&path, "[serve]\nlisten = \"0.0.0.0:5010\"\n").unwrap();
        let config = Config::from_file(&path).unwrap();
        let result = check_network(&config);
        assert_eq!(result.status, Status::Fail);
        assert!(result.detail.contains("0.0.0.0:5010"), "{}", result.detail);
        assert!(result.detail.contains("without TLS"), "{}", result.detail);
        std::fs::write(
            &path,
            "[serve]\nlisten = \"0.0.0.0:5010\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        )
        .unwrap();
        let config = Config::from_file(&path).unwrap();
        assert_eq!(serve_listen_problem(&config), None);
        let defaults = Config::defaults_in(dir.path());
        assert_eq!(serve_listen_problem(&defaults), None);
    }
}
