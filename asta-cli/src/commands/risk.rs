//! `asta risk status|reset`.

use std::sync::{Arc, Mutex};

use asta_audit::AuditEvent;
use asta_broker::{VaultTotpVerifier, risk_event_record};
use asta_core::{PublicCode, SystemClock};
use secrecy::ExposeSecret;

use crate::cli::{RiskArgs, RiskCommand};
use crate::config::Config;
use crate::context::{open_audit, open_risk, open_risk_store, open_vault};
use crate::failure::{CommandResult, EXIT_OK, Failure};
use crate::secret_input::read_secret;

/// Runs one risk subcommand.
pub fn run(args: &RiskArgs, config: &Config) -> CommandResult {
    match &args.command {
        RiskCommand::Status { json } => {
            let risk = open_risk(config)?;
            print_status(&risk.status(), *json)
        }
        RiskCommand::Reset { operator } => reset(config, operator),
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

fn reset(config: &Config, operator: &str) -> CommandResult {
    let vault = open_vault(config)?;
    let audit = open_audit(config, &vault)?;
    let mut risk = open_risk(config)?;
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
