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
//!
//! With `--json` nothing but one JSON object goes to standard output, once
//! the stop is over: the path taken (`session`, `direct`, `hung`),
//! `confirmed` (the halt is known to hold: the session did it, or this
//! process did it with the trail locked because none runs), `complete`, the
//! stop's report (the [`EmergencyReport`] fields: `halted`, `cancelled`,
//! `closed`, `failures`, ...; on the hung path what this process did at the
//! marker and the broker), and `exit`, the process's exit code, which is the
//! same as without `--json`. A failure that ends the command after the stop
//! acted (positions not closed) is in `error` there too, and on standard
//! error as always; one before anything acted is on standard error only.
//! The TOTP prompt of `--flatten` never goes to standard output.

use std::sync::{Arc, Mutex};

use asta_audit::{AuditEvent, AuditLog};
use asta_broker::{
    Broker, DEFAULT_CONTROL_STRATEGY, EmergencyReport, EmergencyStep, Guard, HaltMarker,
    MarkerRecord, OpenAlgoBroker, OpenAlgoConfig, SandboxBroker, ServerMode, VaultTotpVerifier,
};
use asta_core::{Clock, OrderId, PublicCode, StrategyTag, SystemClock, TradingMode};
use asta_risk::TotpVerifier;
use asta_vault::{Scope, Vault};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::control::{ACTION_TIMEOUT, Asked, Fallback, ask, fallback, me, ping, print_report};
use crate::cli::KillArgs;
use crate::config::Config;
use crate::context::{chain_key, open_risk, vault_failure};
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, EXIT_UNCONFIRMED, Failure};
use crate::secret_input::read_secret;

/// Prints a line of the text report, unless `--json` asked for one JSON
/// object instead.
macro_rules! note {
    ($json:expr, $($arg:tt)*) => {
        if !$json {
            crate::say!($($arg)*);
        }
    };
}

/// Which path the stop took, and what `--json` says about it.
#[derive(Debug, Clone, Copy)]
struct Outcome<'a> {
    /// `session`, `direct` or `hung`.
    path: &'static str,
    /// Whether the halt is known to hold (see the module docs).
    confirmed: bool,
    /// Why the session was not reached (direct and hung paths).
    unreachable: Option<&'a str>,
}

/// Prints the one JSON object of `--json`: `report`'s fields (an
/// [`EmergencyReport`] as serialized, or [`HungReport`]) and the outcome.
fn emit(
    outcome: Outcome<'_>,
    report: Value,
    complete: bool,
    exit: u8,
    error: Option<String>,
) -> Result<(), Failure> {
    let mut object = match report {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => Map::from_iter([("result".to_owned(), other)]),
    };
    object.insert("path".to_owned(), Value::from(outcome.path));
    object.insert("confirmed".to_owned(), Value::from(outcome.confirmed));
    object.insert("complete".to_owned(), Value::from(complete));
    object.insert("exit".to_owned(), Value::from(exit));
    if let Some(why) = outcome.unreachable {
        object.insert("unreachable".to_owned(), Value::from(why));
    }
    if let Some(error) = error {
        object.insert("error".to_owned(), Value::from(error));
    }
    crate::output::json(&Value::Object(object)).map(drop)
}

/// A failure after the stop acted: with `--json` the report so far goes to
/// standard output (with the error and its exit code), then the failure
/// takes its usual way to standard error.
fn failed_after(
    args: &KillArgs,
    outcome: Outcome<'_>,
    report: Value,
    failure: Failure,
) -> CommandResult {
    if args.json {
        emit(
            outcome,
            report,
            false,
            failure.exit,
            Some(failure.public.to_string()),
        )?;
    }
    Err(failure)
}

/// Whether a report is complete; prints it unless `--json`.
fn show(json: bool, report: &Value) -> bool {
    if json {
        report["halted"].as_bool().unwrap_or(false)
            && report["failures"].as_array().is_none_or(Vec::is_empty)
    } else {
        print_report(report)
    }
}

/// A report as JSON, through its own `Serialize`.
fn to_json(report: &impl Serialize) -> Result<Value, Failure> {
    serde_json::to_value(report).map_err(|e| Failure::internal("report a bug", e))
}

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
            note!(
                args.json,
                "PATH: no session answers ({why}) and the audit trail is free: acting directly on the files."
            );
            direct(args, config, vault, audit, &why).await
        }
        Fallback::Hung { vault } => {
            note!(
                args.json,
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
    note!(
        args.json,
        "PATH: the running session answered on {} and halted itself:",
        config.control_socket_path().display()
    );
    let outcome = Outcome {
        path: "session",
        confirmed: true,
        unreachable: None,
    };
    let mut report = answer.result.clone().unwrap_or_default();
    let mut complete = show(args.json, &report);
    if args.flatten {
        match flatten_through_session(args, config).await {
            Ok(closed) => {
                note!(args.json, "The session closed positions:");
                complete &= show(args.json, &closed);
                merge_closed(&mut report, &closed);
            }
            Err(failure) => return failed_after(args, outcome, report, failure),
        }
    }
    finish(args, outcome, report, complete)
}

/// Asks the session to close every position (with a TOTP code); its report.
async fn flatten_through_session(args: &KillArgs, config: &Config) -> Result<Value, Failure> {
    let code = read_secret("TOTP code to close every position at market: ")
        .map_err(|e| Failure::invalid("type the 6-digit code", e))?;
    let request = asta_broker::ControlRequest::Flatten {
        totp: code,
        reason: args.reason.clone(),
        operator: Some(args.operator.clone()),
    };
    match ask(config, &request, ACTION_TIMEOUT).await {
        Asked::Answered(answer) if answer.ok => Ok(answer.result.unwrap_or_default()),
        Asked::Answered(answer) => {
            note!(
                args.json,
                "Trading is halted and orders cancelled, but positions were NOT closed."
            );
            Err(super::control::refused(&answer))
        }
        Asked::NoAnswer(error) => {
            note!(
                args.json,
                "Trading is halted and orders cancelled, but the flatten got no answer."
            );
            Err(Failure::internal(
                "check positions with `asta status` and close them at the broker",
                error,
            ))
        }
    }
}

/// Folds the flatten's report into the halt's, as [`stop`] does with the
/// local reports: the positions closed, and every failure of either.
fn merge_closed(report: &mut Value, closed: &Value) {
    let Some(object) = report.as_object_mut() else {
        return;
    };
    for key in ["closed", "closed_unnamed"] {
        if let Some(value) = closed.get(key) {
            object.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(more) = closed["failures"].as_array() {
        match object.get_mut("failures").and_then(Value::as_array_mut) {
            Some(failures) => failures.extend(more.iter().cloned()),
            None => {
                object.insert("failures".to_owned(), Value::Array(more.clone()));
            }
        }
    }
}

/// The exit code of a stop that ran to its end; the closing lines, or the
/// JSON object.
fn finish(args: &KillArgs, outcome: Outcome<'_>, report: Value, complete: bool) -> CommandResult {
    let exit = if complete { EXIT_OK } else { EXIT_CHECK_FAILED };
    if args.json {
        emit(outcome, report, complete, exit, None)?;
    } else if complete {
        crate::say!(
            "Stop confirmed by the session. Trading stays halted until `asta risk reset` with a TOTP code."
        );
    } else {
        crate::say!(
            "Stop INCOMPLETE: act on the failures above now; run `asta kill` again to retry."
        );
    }
    Ok(exit)
}

/// Path 2: no session runs; this process holds the trail.
async fn direct(
    args: &KillArgs,
    config: &Config,
    vault: Vault,
    audit: AuditLog,
    why: &str,
) -> CommandResult {
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
    let outcome = Outcome {
        path: "direct",
        confirmed: true,
        unreachable: Some(why),
    };
    let (report, flatten_failed) = if mode.is_live() {
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
        stop(&guard, args, &reason, &verifier).await
    } else {
        // Sandbox and paper orders live inside the trading process; none
        // runs, so there is nothing at a broker: halt durably and record.
        note!(
            args.json,
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
        stop(&guard, args, &reason, &verifier).await
    };
    let value = to_json(&report)?;
    if let Some(failure) = flatten_failed {
        show(args.json, &value);
        note!(
            args.json,
            "Trading is halted and orders cancelled, but positions were NOT closed."
        );
        return failed_after(args, outcome, value, failure);
    }
    audit
        .close()
        .map_err(|e| Failure::new(e.public_code(), "the audit trail failed while stopping", e))?;
    let complete = show(args.json, &value);
    finish(args, outcome, value, complete)
}

/// Halts and cancels (`--flatten`: then closes positions, with a code).
/// The report of what was done, and the failure that stopped the flatten.
async fn stop<B: Broker>(
    guard: &Guard<B>,
    args: &KillArgs,
    reason: &str,
    verifier: &VaultTotpVerifier,
) -> (EmergencyReport, Option<Failure>) {
    let mut report = guard.halt_and_cancel(reason).await;
    if !args.flatten {
        return (report, None);
    }
    let code = match read_secret("TOTP code to close every position at market: ") {
        Ok(code) => code,
        Err(e) => return (report, Some(Failure::invalid("type the 6-digit code", e))),
    };
    match guard
        .flatten(&me().user, code.expose_secret(), verifier, reason)
        .await
    {
        Ok(closed) => {
            report.closed = closed.closed;
            report.closed_unnamed = closed.closed_unnamed;
            report.failures.extend(closed.failures);
            (report, None)
        }
        Err(error) => {
            let failure = Failure::new(
                error.public_code(),
                "use a fresh code from the enrolled authenticator",
                error,
            );
            (report, Some(failure))
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

/// What the hung path did, for `--json`: the session did not confirm, so
/// whether the account is halted is unknown (`halted` is null); the marker
/// makes the process refuse every order when it resumes.
#[derive(Debug, Default, Serialize)]
struct HungReport {
    /// The reason given.
    reason: String,
    /// Unknown: the session did not answer.
    halted: Option<bool>,
    /// Whether the durable halt marker was written.
    marker_written: bool,
    /// Where the marker is.
    marker: String,
    /// The trading mode (at a broker only in live mode).
    mode: String,
    /// Orders cancelled at the broker directly.
    cancelled: Vec<OrderId>,
    /// Positions closed, by name (the broker reports only counts here).
    closed: Vec<String>,
    /// Positions the broker reported closed without naming them.
    closed_unnamed: u64,
    /// Everything that failed; empty when every step that could run did.
    failures: Vec<StepFailure>,
}

/// One failed step of the hung path (the shape of an emergency report's).
#[derive(Debug, Serialize)]
struct StepFailure {
    step: EmergencyStep,
    target: Option<String>,
    reason: String,
}

impl HungReport {
    fn failed(&mut self, step: EmergencyStep, target: Option<String>, reason: String) {
        self.failures.push(StepFailure {
            step,
            target,
            reason,
        });
    }
}

/// Path 3: the session holds the trail but does not answer.
async fn hung(args: &KillArgs, config: &Config, vault: Vault, why: &str) -> CommandResult {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let me = me();
    let quiet = args.json;

    // First the marker: whatever else fails, the process refuses to trade
    // when it resumes.
    let marker = HaltMarker::new(config.halt_marker_path());
    let mut out = HungReport {
        reason: args.reason.clone(),
        marker: marker.path().display().to_string(),
        mode: config.file.trading.mode.to_string(),
        ..HungReport::default()
    };
    let record = MarkerRecord::new(&args.reason, clock.now(), me.uid, &me.user);
    out.marker_written = match marker.write(&record) {
        Ok(()) => {
            note!(
                quiet,
                "  halt marker written at {} (the session refuses every new order while it exists)",
                marker.path().display()
            );
            true
        }
        Err(error) => {
            note!(quiet, "  FAILED to write the halt marker: {error}");
            out.failed(
                EmergencyStep::Halt,
                Some(out.marker.clone()),
                format!("cannot write the halt marker: {error}"),
            );
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
            "marker": out.marker,
            "marker_written": out.marker_written,
            "mode": out.mode,
            "flatten": args.flatten,
        }),
    ))
    .map_err(|e| Failure::new(e.public_code(), "the control trail failed", e))?;

    if config.file.trading.mode.is_live() {
        let vault = Arc::new(Mutex::new(vault));
        let broker = broker_from_vault(config, &vault, &clock)?;
        cancel_at_broker(&broker, &record_in, &mut out, quiet).await;
        if args.flatten {
            let verifier = VaultTotpVerifier::shared_entry(
                Arc::clone(&vault),
                &config.file.security.totp_entry,
                Arc::clone(&clock),
            );
            flatten_at_broker(&broker, &verifier, &me.user, &record_in, &mut out, quiet).await;
        }
    } else {
        note!(
            quiet,
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
    note!(
        quiet,
        "  recorded in the control trail {} (the session's trail links it when next opened)",
        config.control_audit_dir().display()
    );
    note!(
        quiet,
        "The session did NOT confirm. Check the process (it may be stopped or hung); \
         `asta risk reset` with a TOTP code removes the marker once it is safe."
    );
    let complete = out.failures.is_empty();
    let exit = if complete {
        EXIT_UNCONFIRMED
    } else {
        EXIT_CHECK_FAILED
    };
    if args.json {
        let outcome = Outcome {
            path: "hung",
            confirmed: false,
            unreachable: Some(why),
        };
        emit(outcome, to_json(&out)?, complete, exit, None)?;
    }
    Ok(exit)
}

async fn cancel_at_broker(
    broker: &OpenAlgoBroker,
    record: &impl Fn(AuditEvent) -> Result<(), asta_audit::AuditError>,
    out: &mut HungReport,
    quiet: bool,
) {
    let tag = match StrategyTag::new(DEFAULT_CONTROL_STRATEGY) {
        Ok(tag) => tag,
        Err(error) => {
            out.failed(EmergencyStep::CancelAll, None, error.to_string());
            return;
        }
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
            note!(
                quiet,
                "  cancelled {} open order(s) at the broker directly{}",
                report.cancelled.len(),
                if failed > 0 {
                    format!("; {failed} could NOT be cancelled")
                } else {
                    String::new()
                }
            );
            for failure in report.failed {
                out.failed(
                    EmergencyStep::Cancel,
                    Some(failure.order_id.as_str().to_owned()),
                    failure.reason,
                );
            }
            out.cancelled = report.cancelled;
        }
        Err(error) => {
            let _ = record(AuditEvent::order(
                "cancel_all_failed",
                tag.as_str(),
                json!({"error": error.to_string()}),
            ));
            note!(quiet, "  FAILED to cancel at the broker: {error}");
            out.failed(EmergencyStep::CancelAll, None, error.to_string());
        }
    }
}

async fn flatten_at_broker(
    broker: &OpenAlgoBroker,
    verifier: &VaultTotpVerifier,
    user: &str,
    record: &impl Fn(AuditEvent) -> Result<(), asta_audit::AuditError>,
    out: &mut HungReport,
    quiet: bool,
) {
    let code = match read_secret("TOTP code to close every position at market: ") {
        Ok(code) => code,
        Err(error) => {
            note!(quiet, "  positions NOT closed: no TOTP code ({error})");
            out.failed(
                EmergencyStep::CloseAll,
                None,
                format!("no TOTP code: {error}"),
            );
            return;
        }
    };
    if let Err(rejection) = verifier.verify(user, code.expose_secret()) {
        let _ = record(AuditEvent::security(
            "flatten_refused",
            json!({"reason": rejection.to_string()}),
        ));
        note!(quiet, "  positions NOT closed: {rejection}");
        out.failed(EmergencyStep::CloseAll, None, rejection.to_string());
        return;
    }
    let _ = record(AuditEvent::security(
        "flatten_authorized",
        json!({"hung_session": true}),
    ));
    let tag = match StrategyTag::new(DEFAULT_CONTROL_STRATEGY) {
        Ok(tag) => tag,
        Err(error) => {
            out.failed(EmergencyStep::CloseAll, None, error.to_string());
            return;
        }
    };
    match broker.close_all_positions(&tag).await {
        Ok(report) => {
            let _ = record(AuditEvent::order(
                "close_all_done",
                tag.as_str(),
                json!({"closed": report.closed_count, "failed": report.failed_count}),
            ));
            note!(
                quiet,
                "  closed {} position(s) at the broker directly; {} failed",
                report.closed_count,
                report.failed_count
            );
            out.closed_unnamed = report.closed_count;
            if report.failed_count > 0 {
                out.failed(
                    EmergencyStep::CloseAll,
                    None,
                    format!(
                        "{} position(s) could not be closed at the broker",
                        report.failed_count
                    ),
                );
            }
        }
        Err(error) => {
            let _ = record(AuditEvent::order(
                "close_all_failed",
                tag.as_str(),
                json!({"error": error.to_string()}),
            ));
            note!(quiet, "  FAILED to close positions at the broker: {error}");
            out.failed(EmergencyStep::CloseAll, None, error.to_string());
        }
    }
}
