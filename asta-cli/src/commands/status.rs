//! `asta status` (and `asta risk status`): the running session's state
//! through its control socket; without a session, the saved state.

use asta_broker::HaltMarker;
use serde_json::Value;

use super::control::{Asked, ping};
use crate::config::Config;
use crate::context::open_risk;
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, Failure};

/// Prints the session's status, or the saved state when none answers.
///
/// Exit 0 when the session answered, or when nobody listens (the saved
/// state is then the truth); 1 when a session may be running but did not
/// answer (the saved state may be stale); 4 when the session refused.
pub fn run(json: bool, config: &Config) -> CommandResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal("cannot start the async runtime", e))?;
    let asked = runtime.block_on(ping(config));
    let socket = config.control_socket_path();
    match asked {
        Asked::Answered(answer) if answer.ok => {
            let status = answer.result.unwrap_or_default();
            if json {
                let text = serde_json::to_string_pretty(&status)
                    .map_err(|e| Failure::internal("report a bug", e))?;
                crate::say!("{text}");
            } else {
                crate::say!("session: running, answered on {}", socket.display());
                print_session(&status);
            }
            Ok(EXIT_OK)
        }
        Asked::Answered(answer) => Err(super::control::refused(&answer)),
        Asked::NoAnswer(error) => {
            let hung = !matches!(error, asta_broker::ControlClientError::NotListening { .. });
            let marker = HaltMarker::new(config.halt_marker_path());
            // On standard error: standard output stays the saved state
            // exactly as `asta risk status` always printed it.
            eprintln!("session: {error}; showing the saved state");
            if marker.is_present() {
                eprintln!(
                    "HALT MARKER present at {}: every guard refuses orders until `asta risk reset`",
                    marker.path().display()
                );
            }
            let risk = open_risk(config)?;
            super::risk::print_status(&risk.status(), json)?;
            Ok(if hung { EXIT_CHECK_FAILED } else { EXIT_OK })
        }
    }
}

/// The lines an operator reads first, from the session's JSON status.
fn print_session(status: &Value) {
    let risk = &status["risk"];
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    crate::say!(
        "trading state: {} ({} mode, venue {})",
        text(&status["trading_state"]),
        text(&status["mode"]),
        text(&status["venue"])
    );
    if status["halt_marker"]["present"].as_bool() == Some(true) {
        crate::say!(
            "HALT MARKER present at {}",
            text(&status["halt_marker"]["path"])
        );
    }
    for breaker in risk["breakers"].as_array().into_iter().flatten() {
        crate::say!(
            "  latched breaker {} ({}): {}",
            text(&breaker["kind"]),
            text(&breaker["scope"]),
            text(&breaker["detail"])
        );
    }
    crate::say!(
        "day's P&L: realized {}, unrealized {}; loss {} of limit {}",
        text(&risk["realized_pnl"]),
        text(&risk["unrealized_pnl"]),
        text(&risk["daily_loss"]),
        text(&risk["daily_loss_limit"])
    );
    crate::say!(
        "open orders {} of {}; approvals pending {}; unknown outcomes {}; in flight {}",
        text(&risk["open_orders"]),
        text(&risk["max_open_orders"]),
        text(&risk["pending_approvals"]),
        text(&status["unknown_outcomes"]),
        text(&status["in_flight"])
    );
    for rate in risk["rates"].as_array().into_iter().flatten() {
        crate::say!("  rate {rate}");
    }
    for position in risk["positions"].as_array().into_iter().flatten() {
        crate::say!("  position {position}");
    }
    if let Some(reason) = status["audit_unavailable"].as_str() {
        crate::say!("AUDIT TRAIL UNAVAILABLE: {reason}");
    }
}
