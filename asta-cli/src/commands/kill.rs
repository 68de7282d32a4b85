//! `asta kill`: the emergency stop through the configured broker.

use std::sync::{Arc, Mutex};

use asta_broker::{
    Broker, EmergencyReport, Guard, OpenAlgoBroker, OpenAlgoConfig, SandboxBroker, TotpConfirm,
    VaultTotpVerifier,
};
use asta_core::{Clock, PublicCode, SystemClock, TradingMode};
use asta_vault::Scope;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::cli::KillArgs;
use crate::config::Config;
use crate::context::{open_audit, open_risk, open_vault, vault_failure};
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, Failure};
use crate::secret_input::read_secret;

/// Runs the emergency stop and prints its report.
pub fn run(args: &KillArgs, config: &Config) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal("cannot start the async runtime", e))?;
    runtime.block_on(kill(args, config))
}

async fn kill(args: &KillArgs, config: &Config) -> CommandResult {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let vault = open_vault(config)?;
    let audit = open_audit(config, &vault)?;
    let risk = open_risk(config)?;
    let catalog = Arc::new(
        asta_core::InstrumentCatalog::from_path(&config.instruments_path())
            .map_err(|e| Failure::invalid("check paths.instruments in asta.toml", e))?,
    );
    let mode = config.file.trading.mode;
    let report = if mode.is_live() {
        let api_key = vault
            .api_key(
                &config.file.broker.api_key_entry,
                &Scope::trade(),
                clock.now(),
            )
            .map_err(vault_failure)?;
        let broker = OpenAlgoBroker::new(
            &OpenAlgoConfig::new(&config.file.broker.url),
            api_key,
            Arc::clone(&clock),
        )
        .map_err(|e| Failure::invalid("check broker.url in asta.toml", e))?;
        // Live mode needs the operator's confirmation, even to stop.
        let code = read_secret("TOTP code to confirm the live session: ")
            .map_err(|e| Failure::invalid("type the 6-digit code", e))?;
        let verifier = VaultTotpVerifier::shared_entry(
            Arc::new(Mutex::new(vault)),
            &config.file.security.totp_entry,
            Arc::clone(&clock),
        );
        let confirm = Arc::new(TotpConfirm::new(verifier, &args.operator, code));
        let guard = Guard::builder(broker, catalog, risk, audit.clone(), Arc::clone(&clock))
            .mode(TradingMode::Live)
            .allow_live_trading(config.file.trading.allow_live_trading)
            .confirm(confirm)
            .build()
            .await
            .map_err(|e| Failure::new(e.public_code(), "the live session was not confirmed", e))?;
        stop(&guard, &args.reason).await
    } else {
        // Sandbox and paper brokers live inside the trading process; this
        // process holds no simulated orders, so the stop halts (persisted in
        // the risk state) and records, and cancels nothing.
        let guard = Guard::builder(
            SandboxBroker::new(Arc::clone(&clock)),
            catalog,
            risk,
            audit.clone(),
            clock,
        )
        .mode(mode)
        .build()
        .await
        .map_err(|e| Failure::new(e.public_code(), "see the audit trail", e))?;
        stop(&guard, &args.reason).await
    };
    audit
        .close()
        .map_err(|e| Failure::new(e.public_code(), "the audit trail failed while stopping", e))?;
    print_report(&report);
    Ok(if report.is_complete() {
        EXIT_OK
    } else {
        EXIT_CHECK_FAILED
    })
}

async fn stop<B: Broker>(guard: &Guard<B>, reason: &str) -> EmergencyReport {
    guard.emergency_stop(reason).await
}

fn print_report(report: &EmergencyReport) {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(["step", "result"]);
    table.add_row(["reason".to_owned(), report.reason.clone()]);
    table.add_row([
        "halt".to_owned(),
        format!(
            "{}{}",
            if report.halted {
                "HALTED"
            } else {
                "NOT HALTED"
            },
            if report.halt_persisted {
                " (persisted)"
            } else {
                " (NOT persisted)"
            }
        ),
    ]);
    table.add_row([
        "cancelled".to_owned(),
        format!("{} order(s)", report.cancelled.len()),
    ]);
    table.add_row([
        "closed".to_owned(),
        format!(
            "{} position(s)",
            report.closed.len() as u64 + report.closed_unnamed
        ),
    ]);
    table.add_row(["audited".to_owned(), report.audited.to_string()]);
    table.add_row(["alerted".to_owned(), report.alerted.to_string()]);
    for failure in &report.failures {
        table.add_row([
            format!("FAILED {:?}", failure.step),
            format!(
                "{}{}{}",
                failure
                    .target
                    .as_deref()
                    .map(|t| format!("{t}: "))
                    .unwrap_or_default(),
                failure.reason,
                failure
                    .reference
                    .as_ref()
                    .map(|r| format!(" (ref {r})"))
                    .unwrap_or_default()
            ),
        ]);
    }
    crate::say!("{table}");
    crate::say!(
        "{}",
        if report.is_complete() {
            "Emergency stop complete. Trading stays halted until `asta risk reset` with a TOTP code."
        } else {
            "Emergency stop INCOMPLETE: act on the failures above now; run `asta kill` again to retry."
        }
    );
}
