//! Reaching the session that owns the account: its control socket first;
//! when nobody answers, the audit lock tells "no session" from "hung".

use std::sync::Arc;
use std::time::Duration;

use asta_audit::{AuditError, AuditLog};
use asta_broker::{
    ControlClient, ControlClientError, ControlRequest, ControlResponse, DEFAULT_ANSWER_TIMEOUT,
    Peer,
};
use asta_core::{PublicCode, SystemClock};
use asta_vault::Vault;
use serde_json::Value;

use crate::config::Config;
use crate::context::{chain_key, open_vault};
use crate::failure::Failure;

/// How long a command that acts (halt, flatten, reset) may take once the
/// session has shown it answers: cancels and closes wait for the broker.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// What came back from the control socket.
#[derive(Debug)]
pub enum Asked {
    /// The session answered (which may be a refusal).
    Answered(ControlResponse),
    /// No answer: nobody listens, or no answer in time.
    NoAnswer(ControlClientError),
}

/// Sends `request` to the configured session, waiting `timeout`.
pub async fn ask(config: &Config, request: &ControlRequest, timeout: Duration) -> Asked {
    let client = ControlClient::new(config.control_socket_path()).timeout(timeout);
    match client.send(request).await {
        Ok(answer) => Asked::Answered(answer),
        Err(error) => Asked::NoAnswer(error),
    }
}

/// Whether a session answers `status` within [`DEFAULT_ANSWER_TIMEOUT`].
pub async fn ping(config: &Config) -> Asked {
    ask(config, &ControlRequest::Status, DEFAULT_ANSWER_TIMEOUT).await
}

/// Where to act when the session did not answer.
#[derive(Debug)]
pub enum Fallback {
    /// The audit lock was free: no session runs; this process now holds
    /// the trail and may act directly.
    Direct {
        /// The opened vault.
        vault: Vault,
        /// The main audit trail, locked by this process.
        audit: AuditLog,
    },
    /// The audit lock is held by a process that does not answer.
    Hung {
        /// The opened vault.
        vault: Vault,
    },
}

/// Opens the vault and tries the audit lock.
pub fn fallback(config: &Config) -> Result<Fallback, Failure> {
    let vault = open_vault(config)?;
    let key = chain_key(config, &vault)?;
    let audit_config = asta_audit::AuditConfig::builder()
        .retention_days(config.file.audit.retention_days)
        .build()
        .map_err(|e| Failure::invalid("check [audit] in asta.toml", e))?;
    match AuditLog::open(config.audit_dir(), key, audit_config, Arc::new(SystemClock)) {
        Ok(audit) => Ok(Fallback::Direct { vault, audit }),
        Err(AuditError::Locked { .. }) => Ok(Fallback::Hung { vault }),
        Err(e) => Err(Failure::new(
            e.public_code(),
            "the audit trail cannot be opened; nothing may trade until it can",
            e,
        )),
    }
}

/// The control trail, opened for appending (same chain key, own chain).
pub fn open_control_trail(config: &Config, vault: &Vault) -> Result<AuditLog, Failure> {
    let key = chain_key(config, vault)?;
    let audit_config = asta_audit::AuditConfig::builder()
        .retention_days(config.file.audit.retention_days)
        .build()
        .map_err(|e| Failure::invalid("check [audit] in asta.toml", e))?;
    AuditLog::open(
        config.control_audit_dir(),
        key,
        audit_config,
        Arc::new(SystemClock),
    )
    .map_err(|e| {
        Failure::new(
            e.public_code(),
            "the control trail cannot be opened (check paths.control_audit_dir)",
            e,
        )
    })
}

/// Who runs this command: this process's uid and its user name.
pub fn me() -> Peer {
    Peer::from_uid(asta_core::safe_file::current_uid())
}

/// A session's refusal as a command failure (exit 4 for refusals).
pub fn refused(answer: &ControlResponse) -> Failure {
    let error = answer.error.clone();
    let code = error
        .as_ref()
        .and_then(|e| e.code.parse::<asta_core::ErrorCode>().ok())
        .unwrap_or(asta_core::ErrorCode::PermissionDenied);
    let detail = error.map_or_else(
        || "the session refused without saying why".to_owned(),
        |e| e.to_string(),
    );
    Failure::new(
        code,
        format!("the session refused: {detail}"),
        anyhow::anyhow!("{detail}"),
    )
}

/// Prints an emergency report (the session's JSON, or a local one
/// serialized) as the lines an operator reads first. Returns whether it
/// is complete.
pub fn print_report(report: &Value) -> bool {
    let count = |name: &str| report[name].as_array().map_or(0, Vec::len);
    let closed = count("closed") as u64 + report["closed_unnamed"].as_u64().unwrap_or(0);
    let halted = report["halted"].as_bool().unwrap_or(false);
    let failures = report["failures"].as_array().cloned().unwrap_or_default();
    crate::say!(
        "  halt: {}{}",
        if halted { "HALTED" } else { "NOT HALTED" },
        if report["halt_persisted"].as_bool().unwrap_or(false) {
            " (persisted)"
        } else {
            " (NOT persisted)"
        }
    );
    crate::say!("  cancelled: {} order(s)", count("cancelled"));
    crate::say!("  closed: {closed} position(s)");
    crate::say!(
        "  audited: {}, alerted: {}",
        report["audited"].as_bool().unwrap_or(false),
        report["alerted"].as_bool().unwrap_or(false)
    );
    for failure in &failures {
        crate::say!(
            "  FAILED {}: {}{}{}",
            failure["step"].as_str().unwrap_or("?"),
            failure["target"]
                .as_str()
                .map(|t| format!("{t}: "))
                .unwrap_or_default(),
            failure["reason"].as_str().unwrap_or(""),
            failure["reference"]
                .as_str()
                .map(|r| format!(" (ref {r})"))
                .unwrap_or_default()
        );
    }
    halted && failures.is_empty()
}
