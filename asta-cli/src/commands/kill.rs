//! `asta kill`: the kill switch, wherever the session is.
//!
//! 1. **The session answers** on its control socket: it halts and cancels
//!    every open order itself (`--flatten`: then closes positions, with a
//!    TOTP code). Exit 0 only when the session confirms a complete stop.
//! 2. **No session** (nobody listens and the audit lock is free): act
//!    directly on the files, as the session would (halt durably, cancel at
//!    the broker in live mode, record).
//! 3. **A hung session** (the lock is held but nobody answers within 2 s):
//!    write the durable halt marker (the process refuses to trade when it
//!    resumes), cancel at the broker directly in live mode, and record it
//!    all in the control trail. Exit 8: the session did not confirm.
//!
//! Halting and cancelling never ask for a TOTP code nor need
//! `allow_live_trading`; closing positions does need a code.

use std::sync::{Arc, Mutex};

use asta_audit::{AuditEvent, AuditLog};
use asta_broker::{
    Broker, DEFAULT_CONTROL_STRATEGY, EmergencyReport, Guard, HaltMarker, MarkerRecord,
    OpenAlgoBroker, OpenAlgoConfig, SandboxBroker, ServerMode, VaultTotpVerifier,
};
use asta_core::{Clock, PublicCode, StrategyTag, SystemClock, TradingMode};
use asta_risk::TotpVerifier;
use asta_vault::{Scope, Vault};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::control::{ACTION_TIMEOUT, Asked, Fallback, ask, fallback, me, ping, print_report};
use crate::cli::KillArgs;
use crate::config::Config;
use crate::context::{chain_key, open_risk, vault_failure};
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, EXIT_UNCONFIRMED, Failure};
use crate::secret_input::read_secret;

/// Runs the kill switch and says which path it took.
pub fn run(args: &KillArgs, config: &Config) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal("cannot start the async runtime", e))?;
    runtime.block_on(kill(args, config))
}

fn halt_request(args: &KillArgs) -> Result<asta_broker::ControlRequest, Failure> {
    let line = json!({"cmd": "halt", "reason": args.reason, "operator": args.operator});
    asta_broker::ControlRequest::parse(line.to_string().as_bytes())
        .map_err(|e| Failure::invalid("check --reason and --operator", e))
}

async fn kill(args: &KillArgs, config: &Config) -> CommandResult {
    let halt = halt_request(args)?;
    let socket = config.control_socket_path();
    let why = match ping(config).await {
        Asked::Answered(_) => match ask(config, &halt, ACTION_TIMEOUT).await {
            Asked::Answered(answer) => return through_session(args, config, &answer).await,
            Asked::NoAnswer(error) => format!("it answered status but not halt: {error}"),
        },
        Asked::NoAnswer(error) => error.to_string(),
    };
    match fallback(config)? {
        Fallback::Direct { vault, audit } => {
            crate::say!(
                "PATH: no session answers ({why}) and the audit trail is free: acting directly on the files."
            );
            direct(args, config, vault, audit).await
        }
        Fallback::Hung { vault } => {
            crate::say!(
                "PATH: a process holds the audit trail but the session does not answer on {} ({why}): \
                 treating it as hung.",
                socket.display()
            );
            hung(args, config, vault, &why).await
        }
    }
}

/// Path 1: the session did it.
async fn through_session(
    args: &KillArgs,
    config: &Config,
    answer: &asta_broker::ControlResponse,
) -> CommandResult {
    if !answer.ok {
        return Err(super::control::refused(answer));
    }
    crate::say!(
        "PATH: the running session answered on {} and halted itself:",
        config.control_socket_path().display()
    );
    let report = answer.result.clone().unwrap_or_default();
    let mut complete = print_report(&report);
    if args.flatten {
        let code = read_secret("TOTP code to close every position at market: ")
            .map_err(|e| Failure::invalid("type the 6-digit code", e))?;
        let request = asta_broker::ControlRequest::Flatten {
            totp: code,
            reason: args.reason.clone(),
            operator: Some(args.operator.clone()),
        };
        match ask(config, &request, ACTION_TIMEOUT).await {
            Asked::Answered(answer) if answer.ok => {
                crate::say!("The session closed positions:");
                complete &= print_report(&answer.result.clone().unwrap_or_default());
            }
            Asked::Answered(answer) => {
                crate::say!(
                    "Trading is halted and orders cancelled, but positions were NOT closed."
                );
                return Err(super::control::refused(&answer));
            }
            Asked::NoAnswer(error) => {
                crate::say!(
                    "Trading is halted and orders cancelled, but the flatten got no answer."
                );
                return Err(Failure::internal(
                    "check positions with `asta status` and close them at the broker",
                    error,
                ));
            }
        }
    }
    finish(complete)
}

fn finish(complete: bool) -> CommandResult {
    if complete {
        crate::say!(
            "Stop confirmed by the session. Trading stays halted until `asta risk reset` with a TOTP code."
        );
        Ok(EXIT_OK)
    } else {
        crate::say!(
            "Stop INCOMPLETE: act on the failures above now; run `asta kill` again to retry."
        );
        Ok(EXIT_CHECK_FAILED)
    }
}

/// Path 2: no session runs; this process holds the trail.
async fn direct(args: &KillArgs, config: &Config, vault: Vault, audit: AuditLog) -> CommandResult {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let risk = open_risk(config)?;
    let catalog = Arc::new(
        asta_core::InstrumentCatalog::from_path(&config.instruments_path())
            .map_err(|e| Failure::invalid("check paths.instruments in asta.toml", e))?,
    );
    let key = chain_key(config, &vault)?;
    let mode = config.file.trading.mode;
    let vault = Arc::new(Mutex::new(vault));
    let verifier = VaultTotpVerifier::shared_entry(
        Arc::clone(&vault),
        &config.file.security.totp_entry,
        Arc::clone(&clock),
    );
    let me = me();
    let reason = format!(
        "{} (by {} uid {} via asta kill, no session running)",
        args.reason, me.user, me.uid
    );
    let report = if mode.is_live() {
        let broker = broker_from_vault(config, &vault, &clock)?;
        // Halting and cancelling need neither allow_live_trading nor a code:
        // a protective guard can cut risk and cannot trade.
        let guard = Guard::builder(broker, catalog, risk, audit.clone(), Arc::clone(&clock))
            .mode(TradingMode::Live)
            .protective_only()
            .halt_marker(config.halt_marker_path())
            .control_trail(config.control_audit_dir(), key)
            .build()
            .await
            .map_err(|e| Failure::new(e.public_code(), "see the audit trail", e))?;
        stop(&guard, args, &reason, &verifier).await?
    } else {
        // Sandbox and paper orders live inside the trading process; none
        // runs, so there is nothing at a broker: halt durably and record.
        crate::say!(
            "({mode} mode: orders exist only inside a running session; none runs, so the stop halts and records.)"
        );
        let guard = Guard::builder(
            SandboxBroker::new(Arc::clone(&clock)),
            catalog,
            risk,
            audit.clone(),
            clock,
        )
        .mode(mode)
        .halt_marker(config.halt_marker_path())
        .control_trail(config.control_audit_dir(), key)
        .build()
        .await
        .map_err(|e| Failure::new(e.public_code(), "see the audit trail", e))?;
        stop(&guard, args, &reason, &verifier).await?
    };
    audit
        .close()
        .map_err(|e| Failure::new(e.public_code(), "the audit trail failed while stopping", e))?;
    let value = serde_json::to_value(&report).unwrap_or_default();
    finish(print_report(&value))
}

async fn stop<B: Broker>(
    guard: &Guard<B>,
    args: &KillArgs,
    reason: &str,
    verifier: &VaultTotpVerifier,
) -> Result<EmergencyReport, Failure> {
    let report = guard.halt_and_cancel(reason).await;
    if !args.flatten {
        return Ok(report);
    }
    let code = read_secret("TOTP code to close every position at market: ")
        .map_err(|e| Failure::invalid("type the 6-digit code", e))?;
    match guard
        .flatten(&me().user, code.expose_secret(), verifier, reason)
        .await
    {
        Ok(closed) => {
            let mut report = report;
            report.closed = closed.closed;
            report.closed_unnamed = closed.closed_unnamed;
            report.failures.extend(closed.failures);
            Ok(report)
        }
        Err(error) => {
            print_report(&serde_json::to_value(&report).unwrap_or_default());
            crate::say!("Trading is halted and orders cancelled, but positions were NOT closed.");
            Err(Failure::new(
                error.public_code(),
                "use a fresh code from the enrolled authenticator",
                error,
            ))
        }
    }
}

fn broker_from_vault(
    config: &Config,
    vault: &Arc<Mutex<Vault>>,
    clock: &Arc<dyn Clock>,
) -> Result<OpenAlgoBroker, Failure> {
    let api_key: SecretString = vault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .api_key(
            &config.file.broker.api_key_entry,
            &Scope::trade(),
            clock.now(),
        )
        .map_err(vault_failure)?;
    // The server must be in the mode the configuration trades in: a live
    // session talks to a live server (an analyzer server answering would be
    // a mode mismatch), anything else to an analyzer-mode server.
    let mut openalgo = OpenAlgoConfig::new(&config.file.broker.url);
    openalgo.server_mode = if config.file.trading.mode.is_live() {
        ServerMode::Live
    } else {
        ServerMode::Analyze
    };
    OpenAlgoBroker::new(&openalgo, api_key, Arc::clone(clock))
        .map_err(|e| Failure::invalid("check broker.url in asta.toml", e))
}

/// Path 3: the session holds the trail but does not answer.
async fn hung(args: &KillArgs, config: &Config, vault: Vault, why: &str) -> CommandResult {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let me = me();
    let mut ok = true;

    // First the marker: whatever else fails, the process refuses to trade
    // when it resumes.
    let marker = HaltMarker::new(config.halt_marker_path());
    let record = MarkerRecord::new(&args.reason, clock.now(), me.uid, &me.user);
    let marker_written = match marker.write(&record) {
        Ok(()) => {
            crate::say!(
                "  halt marker written at {} (the session refuses every new order while it exists)",
                marker.path().display()
            );
            true
        }
        Err(error) => {
            ok = false;
            crate::say!("  FAILED to write the halt marker: {error}");
            false
        }
    };

    let control = super::control::open_control_trail(config, &vault)?;
    let actor = me.user.clone();
    let record_in = |event: AuditEvent| {
        let event = event.with_actor(actor.clone());
        control.append(event).map(drop)
    };
    record_in(AuditEvent::security(
        "hung_session_kill",
        json!({
            "reason": args.reason,
            "operator": args.operator,
            "uid": me.uid,
            "user": me.user,
            "why": why,
            "marker": marker.path().display().to_string(),
            "marker_written": marker_written,
            "mode": config.file.trading.mode.to_string(),
            "flatten": args.flatten,
        }),
    ))
    .map_err(|e| Failure::new(e.public_code(), "the control trail failed", e))?;

    if config.file.trading.mode.is_live() {
        let vault = Arc::new(Mutex::new(vault));
        let broker = broker_from_vault(config, &vault, &clock)?;
        ok &= cancel_at_broker(&broker, &record_in).await;
        if args.flatten {
            let verifier = VaultTotpVerifier::shared_entry(
                Arc::clone(&vault),
                &config.file.security.totp_entry,
                Arc::clone(&clock),
            );
            ok &= flatten_at_broker(&broker, &verifier, &me.user, &record_in).await;
        }
    } else {
        crate::say!(
            "  {} mode: the open orders exist only inside the hung process; nothing to cancel at a broker. \
             The marker stops it from trading when it resumes.",
            config.file.trading.mode
        );
        let _ = record_in(AuditEvent::system(
            "hung_session_no_broker",
            json!({"mode": config.file.trading.mode.to_string()}),
        ));
    }
    control
        .close()
        .map_err(|e| Failure::new(e.public_code(), "the control trail failed", e))?;
    crate::say!(
        "  recorded in the control trail {} (the session's trail links it when next opened)",
        config.control_audit_dir().display()
    );
    crate::say!(
        "The session did NOT confirm. Check the process (it may be stopped or hung); \
         `asta risk reset` with a TOTP code removes the marker once it is safe."
    );
    Ok(if ok {
        EXIT_UNCONFIRMED
    } else {
        EXIT_CHECK_FAILED
    })
}

async fn cancel_at_broker(
    broker: &OpenAlgoBroker,
    record: &impl Fn(AuditEvent) -> Result<(), asta_audit::AuditError>,
) -> bool {
    let Ok(tag) = StrategyTag::new(DEFAULT_CONTROL_STRATEGY) else {
        return false;
    };
    let _ = record(AuditEvent::order(
        "cancel_all_intent",
        tag.as_str(),
        json!({"hung_session": true}),
    ));
    match broker.cancel_all_orders(&tag).await {
        Ok(report) => {
            let failed = report.failed.len();
            let _ = record(AuditEvent::order(
                "cancel_all_done",
                tag.as_str(),
                json!({
                    "cancelled": report.cancelled.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
                    "failed": report.failed.iter().map(|f| json!({"order_id": f.order_id.as_str(), "reason": f.reason})).collect::<Vec<_>>(),
                }),
            ));
            crate::say!(
                "  cancelled {} open order(s) at the broker directly{}",
                report.cancelled.len(),
                if failed > 0 {
                    format!("; {failed} could NOT be cancelled")
                } else {
                    String::new()
                }
            );
            failed == 0
        }
        Err(error) => {
            let _ = record(AuditEvent::order(
                "cancel_all_failed",
                tag.as_str(),
                json!({"error": error.to_string()}),
            ));
            crate::say!("  FAILED to cancel at the broker: {error}");
            false
        }
    }
}

async fn flatten_at_broker(
    broker: &OpenAlgoBroker,
    verifier: &VaultTotpVerifier,
    user: &str,
    record: &impl Fn(AuditEvent) -> Result<(), asta_audit::AuditError>,
) -> bool {
    let code = match read_secret("TOTP code to close every position at market: ") {
        Ok(code) => code,
        Err(error) => {
            crate::say!("  positions NOT closed: no TOTP code ({error})");
            return false;
        }
    };
    if let Err(rejection) = verifier.verify(user, code.expose_secret()) {
        let _ = record(AuditEvent::security(
            "flatten_refused",
            json!({"reason": rejection.to_string()}),
        ));
        crate::say!("  positions NOT closed: {rejection}");
        return false;
    }
    let _ = record(AuditEvent::security(
        "flatten_authorized",
        json!({"hung_session": true}),
    ));
    let Ok(tag) = StrategyTag::new(DEFAULT_CONTROL_STRATEGY) else {
        return false;
    };
    match broker.close_all_positions(&tag).await {
        Ok(report) => {
            let _ = record(AuditEvent::order(
                "close_all_done",
                tag.as_str(),
                json!({"closed": report.closed_count, "failed": report.failed_count}),
            ));
            crate::say!(
                "  closed {} position(s) at the broker directly; {} failed",
                report.closed_count,
                report.failed_count
            );
            report.failed_count == 0
        }
        Err(error) => {
            let _ = record(AuditEvent::order(
                "close_all_failed",
                tag.as_str(),
                json!({"error": error.to_string()}),
            ));
            crate::say!("  FAILED to close positions at the broker: {error}");
            false
        }
    }
}
