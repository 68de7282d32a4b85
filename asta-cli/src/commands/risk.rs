//! `asta risk status|reset`.

use std::sync::{Arc, Mutex};

use asta_audit::AuditEvent;
use asta_broker::{ControlRequest, HaltMarker, VaultTotpVerifier, risk_event_record};
use asta_core::{PublicCode, SystemClock};
use secrecy::ExposeSecret;

use super::control::{ACTION_TIMEOUT, Asked, Fallback, ask, fallback, ping};
use crate::cli::{RiskArgs, RiskCommand};
use crate::config::Config;
use crate::context::{open_audit, open_risk, open_risk_store, open_vault};
use crate::failure::{CommandResult, EXIT_OK, Failure};
use crate::secret_input::read_secret;

/// Runs one risk subcommand.
pub fn run(args: &RiskArgs, config: &Config) -> CommandResult {
    match &args.command {
        RiskCommand::Status { json } => super::status::run(*json, config),
        RiskCommand::Reset { operator } => reset_anywhere(config, operator),
        RiskCommand::Init => init(config),
    }
}

/// Creates the risk state file on a first run (never over an existing one),
/// and records that it did: a new state starts with no loss and no halt, so
/// its creation must be visible in the trail.
fn init(config: &Config) -> CommandResult {
    let vault = open_vault(config)?;
    let audit = open_audit(config, &vault)?;
    let path = config.risk_state_path();
    let mut risk = open_risk_store(config, asta_risk::StateStore::create_file(&path))?;
    let mut records: Vec<AuditEvent> = risk.drain_events().iter().map(risk_event_record).collect();
    records.push(AuditEvent::security(
        "risk_state_created",
        serde_json::json!({"via": "asta risk init", "path": path.display().to_string()}),
    ));
    for record in records {
        audit
            .append(record)
            .map_err(|e| Failure::new(e.public_code(), "the audit trail failed", e))?;
    }
    audit
        .close()
        .map_err(|e| Failure::new(e.public_code(), "the audit trail failed", e))?;
    crate::say!(
        "created risk state {} (trading {})",
        path.display(),
        risk.trading_state()
    );
    Ok(EXIT_OK)
}

/// The reset goes to the running session first; without one, to the
/// files; a session that holds the trail but does not answer is refused.
fn reset_anywhere(config: &Config, operator: &str) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal("cannot start the async runtime", e))?;
    let why = match runtime.block_on(ping(config)) {
        Asked::Answered(_) => {
            let code = read_secret("TOTP code: ")
                .map_err(|e| Failure::invalid("type the 6-digit code", e))?;
            let request = ControlRequest::Reset {
                totp: code,
                operator: Some(operator.to_owned()),
            };
            return match runtime.block_on(ask(config, &request, ACTION_TIMEOUT)) {
                Asked::Answered(answer) if answer.ok => {
                    crate::say!(
                        "the running session reset: trading state {}",
                        answer.result.as_ref().map_or_else(
                            || "?".to_owned(),
                            |r| r["trading_state"].as_str().unwrap_or("?").to_owned()
                        )
                    );
                    Ok(EXIT_OK)
                }
                Asked::Answered(answer) => Err(super::control::refused(&answer)),
                Asked::NoAnswer(error) => Err(Failure::internal(
                    "the session did not confirm the reset; check `asta status`",
                    error,
                )),
            };
        }
        Asked::NoAnswer(error) => error,
    };
    match fallback(config)? {
        Fallback::Direct { vault, audit } => reset(config, operator, vault, audit),
        Fallback::Hung { .. } => Err(Failure::refused(
            "a process holds the audit trail but its session does not answer: a reset must go through              the session; stop that process first (or wait for it to answer)",
            anyhow::anyhow!(
                "no answer on {}: {why}",
                config.control_socket_path().display()
            ),
        )),
    }
}

fn reset(
    config: &Config,
    operator: &str,
    vault: asta_vault::Vault,
    audit: asta_audit::AuditLog,
) -> CommandResult {
    let mut risk = open_risk(config)?;
    let marker = HaltMarker::new(config.halt_marker_path());
    let marker_present = marker.is_present();
    if marker_present && risk.trading_state() != asta_risk::TradingState::Halted {
        // One TOTP-authorized reset clears the halt the marker stands for.
        risk.halt("halt marker present (written by a kill while the session did not answer)");
    }
    let code =
        read_secret("TOTP code: ").map_err(|e| Failure::invalid("type the 6-digit code", e))?;
    let verifier = VaultTotpVerifier::shared_entry(
        Arc::new(Mutex::new(vault)),
        &config.file.security.totp_entry,
        Arc::new(SystemClock),
    );
    let result = risk.reset(operator, code.expose_secret(), &verifier);
    // Every event, accepted or refused, goes to the trail before we answer.
    let mut records: Vec<AuditEvent> = risk.drain_events().iter().map(risk_event_record).collect();
    records.push(match &result {
        Ok(()) => AuditEvent::security(
            "trading_reset",
            serde_json::json!({"via": "asta risk reset", "trading_state": risk.trading_state().to_string()}),
        ),
        Err(error) => AuditEvent::security(
            "reset_refused",
            serde_json::json!({"via": "asta risk reset", "reason": error.to_string()}),
        ),
    }
    .with_actor(operator.to_owned()));
    for record in records {
        audit.append(record).map_err(|e| {
            Failure::new(
                e.public_code(),
                "the audit trail failed; trading stays halted",
                e,
            )
        })?;
    }
    if result.is_ok() && marker_present {
        // The authorized reset is on record: now the marker may go.
        let removed = marker.remove();
        let event = AuditEvent::security(
            "halt_marker_removed",
            serde_json::json!({
                "via": "asta risk reset",
                "path": marker.path().display().to_string(),
                "removed": removed.is_ok(),
            }),
        )
        .with_actor(operator.to_owned());
        audit
            .append(event)
            .map_err(|e| Failure::new(e.public_code(), "the audit trail failed", e))?;
        removed.map_err(|e| {
            Failure::internal(
                "the reset was authorized but the halt marker stays (orders are still refused); fix the cause and retry",
                e,
            )
        })?;
        crate::say!("halt marker {} removed", marker.path().display());
    }
    audit.close().map_err(|e| {
        Failure::new(
            e.public_code(),
            "the audit trail failed; trading stays halted",
            e,
        )
    })?;
    match result {
        Ok(()) => {
            crate::say!("trading state: {}", risk.trading_state());
            Ok(EXIT_OK)
        }
        Err(error) => Err(Failure::new(
            error.public_code(),
            "use a fresh code from the enrolled authenticator; a breaker whose condition persists cannot be reset to ACTIVE",
            error,
        )),
    }
}

/// Prints a risk status: JSON, or the lines an operator reads first.
pub(crate) fn print_status(status: &asta_risk::RiskStatus, json: bool) -> CommandResult {
    if json {
        let text = serde_json::to_string_pretty(status)
            .map_err(|e| Failure::internal("report a bug", e))?;
        crate::say!("{text}");
        return Ok(EXIT_OK);
    }
    crate::say!(
        "trading state: {} (IST day {})",
        status.account.state,
        status.day
    );
    for strategy in &status.strategies {
        crate::say!(
            "  strategy {}",
            serde_json::to_string(strategy).unwrap_or_default()
        );
    }
    for breaker in &status.breakers {
        crate::say!(
            "  latched breaker: {}",
            serde_json::to_string(breaker).unwrap_or_default()
        );
    }
    crate::say!(
        "daily loss {} of limit {}; realized {}, unrealized {}",
        status.daily_loss,
        status.daily_loss_limit,
        status.realized_pnl,
        status.unrealized_pnl
    );
    crate::say!(
        "gross exposure {} of limit {}; open orders {} of {} ({} approvals pending)",
        status.gross_exposure,
        status.gross_exposure_limit,
        status.open_orders,
        status.max_open_orders,
        status.pending_approvals
    );
    for position in &status.positions {
        crate::say!(
            "  position {}",
            serde_json::to_string(position).unwrap_or_default()
        );
    }
    for rate in &status.rates {
        crate::say!("  rate {}", serde_json::to_string(rate).unwrap_or_default());
    }
    Ok(EXIT_OK)
}
