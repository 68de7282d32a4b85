//! The emergency stop: halt, cancel everything, close everything, record, alert.

use asta_audit::AuditEvent;
use asta_core::{ErrorReference, OrderId, StrategyTag};
use asta_risk::TradingState;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::error::sanitize_text;
use crate::guard::{cancel_report_json, close_report_json};
use crate::{Alert, Broker, BrokerError, Guard, Severity};

/// A step of the emergency stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum EmergencyStep {
    /// Setting HALTED (latched and persisted by the risk engine).
    Halt,
    /// Cancelling every working order in one request.
    CancelAll,
    /// Cancelling one order (a per-order failure, or the fallback when
    /// cancel-all failed as a whole).
    Cancel,
    /// Closing every open position in one request.
    CloseAll,
    /// Closing one position.
    Close,
    /// Writing the critical audit record.
    Audit,
    /// Sending the alert.
    Alert,
    /// Orders that were being placed or modified while the stop ran: they
    /// may reach the broker after the cancels; run the stop again once they
    /// are done.
    InFlight,
}

/// Something the emergency stop could not do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EmergencyFailure {
    /// Which step.
    pub step: EmergencyStep,
    /// What it was about (an order id, a position), when it concerns one.
    pub target: Option<String>,
    /// Why (bounded, sanitized; never a secret).
    pub reason: String,
    /// The audit reference holding the detail, when there is one.
    pub reference: Option<ErrorReference>,
}

/// A position closed by the emergency stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClosedByStop {
    /// `EXCHANGE:SYMBOL:PRODUCT`.
    pub position: String,
    /// The exit order, when the broker names it.
    pub exit_order: Option<OrderId>,
}

/// What [`Guard::emergency_stop`] did, step by step. Serializable, for the
/// operator and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EmergencyReport {
    /// The reason given.
    pub reason: String,
    /// When the stop started (the guard's clock).
    pub at: DateTime<Utc>,
    /// Whether the account was already HALTED before this call.
    pub was_halted: bool,
    /// Whether the account is HALTED now.
    pub halted: bool,
    /// Whether the risk engine saved the halted state to its store.
    pub halt_persisted: bool,
    /// Orders cancelled by this call.
    pub cancelled: Vec<OrderId>,
    /// Positions closed by this call.
    pub closed: Vec<ClosedByStop>,
    /// Positions the broker reported closed without naming them.
    pub closed_unnamed: u64,
    /// Everything that failed; empty when the stop is complete.
    pub failures: Vec<EmergencyFailure>,
    /// Whether the critical `emergency_stop` audit record was written.
    pub audited: bool,
    /// Whether the alert was delivered.
    pub alerted: bool,
}

impl EmergencyReport {
    /// Whether every step succeeded (and the account is HALTED).
    pub fn is_complete(&self) -> bool {
        self.halted && self.failures.is_empty()
    }

    /// An empty report of a stop that starts now.
    pub(crate) fn started(reason: String, at: DateTime<Utc>) -> Self {
        Self {
            reason,
            at,
            was_halted: false,
            halted: false,
            halt_persisted: false,
            cancelled: Vec::new(),
            closed: Vec::new(),
            closed_unnamed: 0,
            failures: Vec::new(),
            audited: false,
            alerted: false,
        }
    }

    pub(crate) fn fail(
        &mut self,
        step: EmergencyStep,
        target: Option<String>,
        reason: &str,
        error: Option<&BrokerError>,
    ) {
        self.failures.push(EmergencyFailure {
            step,
            target,
            reason: sanitize_text(reason, crate::MAX_REASON_CHARS * 2),
            reference: error.and_then(BrokerError::reference).cloned(),
        });
    }
}

impl<B: Broker> Guard<B> {
    /// The kill switch: halt, cancel all open orders, close all positions,
    /// record, alert. Never stops half-way silently.
    ///
    /// 1. The account is set HALTED through [`RiskEngine::halt`](asta_risk::RiskEngine::halt)
    ///    (latched and persisted; skipped when already HALTED, so a second
    ///    call never adds breakers and never un-halts);
    /// 2. a critical `SYSTEM emergency_stop` record is appended;
    /// 3. every working order is cancelled (`cancel_all_orders`); if that
    ///    request fails as a whole, the order book is read and each working
    ///    order is cancelled one by one;
    /// 4. every open position is closed (`close_all_positions`), whatever
    ///    happened in step 3; exit fills are recorded with the risk engine;
    /// 5. a critical alert goes to the [`AlertSink`](crate::AlertSink);
    /// 6. a `SYSTEM emergency_stop_report` record holds the whole report.
    ///
    /// Every failure is in the returned [`EmergencyReport`] (with its audit
    /// reference when it has one). The stop never waits for requests already
    /// at the broker (a hung broker must not block the kill switch): if any
    /// placement or modification was in flight, the report says so
    /// ([`EmergencyStep::InFlight`]) and a second call cleans up after it. Idempotent: calling it again re-attempts
    /// the cancels and closes that are still needed and reports again.
    /// Leaving HALTED needs [`Guard::reset`] with a TOTP code.
    pub async fn emergency_stop(&self, reason: &str) -> EmergencyReport {
        self.run_stop(reason, true).await
    }

    /// The kill switch without closing positions: halt, cancel every open
    /// order, record, alert. What the control server's `halt` runs
    /// ([`ControlServer`](crate::ControlServer)).
    ///
    /// The same steps as [`emergency_stop`](Self::emergency_stop) except
    /// step 4 (positions are left as they are; close them with
    /// [`Guard::flatten`], which needs a TOTP code). Needs no TOTP and no
    /// `allow_live_trading`: it only removes risk. Idempotent.
    pub async fn halt_and_cancel(&self, reason: &str) -> EmergencyReport {
        self.run_stop(reason, false).await
    }

    async fn run_stop(&self, reason: &str, close: bool) -> EmergencyReport {
        let reason = sanitize_text(reason, crate::MAX_REASON_CHARS);
        let mut report = EmergencyReport::started(reason.clone(), self.clock.now());

        // 1. Halt (persisted by the risk engine).
        let ((was_halted, halted, save_error), events) = self.risk_call(|risk| {
            let was = risk.trading_state() == TradingState::Halted;
            if !was {
                risk.halt(&format!("emergency stop: {reason}"));
            }
            let now = risk.trading_state() == TradingState::Halted;
            (was, now, risk.status().state_save_error)
        });
        report.was_halted = was_halted;
        report.halted = halted;
        report.halt_persisted = save_error.is_none();
        if !halted {
            report.fail(
                EmergencyStep::Halt,
                None,
                "the risk engine did not enter HALTED",
                None,
            );
        }
        if let Some(detail) = save_error {
            report.fail(
                EmergencyStep::Halt,
                None,
                &format!("the halted state could not be saved: {detail}"),
                None,
            );
        }

        // 2. The critical record, before anything is sent, made durable
        // with the halt's own risk journal entry (staged just before it).
        let stop = AuditEvent::system(
            "emergency_stop",
            json!({"severity": "CRITICAL", "reason": reason, "was_halted": was_halted, "close_positions": close}),
        );
        report.audited = match self.audit.append_async(stop).await {
            Ok(_) => true,
            Err(error) => {
                self.on_audit_failure(&error).await;
                false
            }
        };
        if self.is_journaled() {
            // The trail is where a journaled guard keeps the halt.
            report.halt_persisted &= report.audited;
        }
        if !report.audited {
            report.fail(
                EmergencyStep::Audit,
                None,
                "the emergency stop record could not be written to the audit trail",
                None,
            );
        }
        self.audit_events(events).await;

        let Some(strategy) = self.control_strategy().cloned() else {
            report.fail(
                EmergencyStep::CancelAll,
                None,
                "no control strategy tag",
                None,
            );
            return report;
        };

        // 3. Cancel everything.
        self.stop_cancel(&strategy, &mut report).await;

        // 4. Close everything, whatever step 3 managed.
        if close {
            self.stop_close(&strategy, &mut report).await;
        }

        // Orders the broker was handling during the stop may land after the
        // cancels (new ones are refused: the account is HALTED). Say so.
        let in_flight = self.in_flight();
        if in_flight > 0 {
            report.fail(
                EmergencyStep::InFlight,
                None,
                &format!(
                    "{in_flight} order request(s) were in flight at the broker during the stop; run the emergency stop again once they complete"
                ),
                None,
            );
        }

        // 5. Alert.
        let alert = Alert::new(
            Severity::Critical,
            "emergency_stop",
            if close {
                "EMERGENCY STOP: trading halted, orders cancelled, positions closed"
            } else {
                "EMERGENCY STOP: trading halted, orders cancelled (positions left open)"
            },
            self.clock.now(),
        )
        .field("reason", &reason)
        .field("cancelled", &report.cancelled.len().to_string())
        .field(
            "closed",
            &(report.closed.len() as u64 + report.closed_unnamed).to_string(),
        )
        .field("failures", &report.failures.len().to_string())
        .field("halted", if report.halted { "true" } else { "false" });
        report.alerted = self.send_alert(alert).await;
        if !report.alerted {
            report.fail(
                EmergencyStep::Alert,
                None,
                "the alert could not be delivered",
                None,
            );
        }

        // 6. The report itself.
        let details = serde_json::to_value(&report).unwrap_or_default();
        // Durable: the report closes the stop, and its sync covers every
        // record the stop appended before it.
        let closing = AuditEvent::system(
            "emergency_stop_report",
            json!({"severity": "CRITICAL", "report": details}),
        );
        let written = match self.audit.append_async(closing).await {
            Ok(_) => true,
            Err(error) => {
                self.on_audit_failure(&error).await;
                false
            }
        };
        if !written {
            report.audited = false;
            report.fail(
                EmergencyStep::Audit,
                None,
                "the emergency stop report could not be written to the audit trail",
                None,
            );
        }
        tracing::error!(
            target: "asta_broker::guard",
            complete = report.is_complete(),
            failures = report.failures.len(),
            "emergency stop finished"
        );
        report
    }

    async fn stop_cancel(&self, strategy: &StrategyTag, report: &mut EmergencyReport) {
        self.record(AuditEvent::order(
            "cancel_all_intent",
            strategy.as_str(),
            json!({"emergency": true}),
        ))
        .await;
        match self.inner.cancel_all_orders(strategy).await {
            Ok(result) => {
                self.record(AuditEvent::order(
                    "cancel_all_done",
                    strategy.as_str(),
                    cancel_report_json(&result),
                ))
                .await;
                for id in &result.cancelled {
                    self.settle_cancelled(id).await;
                }
                report.cancelled.extend(result.cancelled);
                for failure in result.failed {
                    report.fail(
                        EmergencyStep::Cancel,
                        Some(failure.order_id.to_string()),
                        &failure.reason,
                        None,
                    );
                }
            }
            Err(error) => {
                let error = self
                    .broker_error(
                        "cancel_all",
                        error,
                        json!({"emergency": true}),
                        Some(strategy),
                    )
                    .await;
                report.fail(
                    EmergencyStep::CancelAll,
                    None,
                    &error.to_string(),
                    Some(&error),
                );
                self.stop_cancel_one_by_one(strategy, report).await;
            }
        }
    }

    /// The fallback when cancel-all failed: cancel each working order.
    async fn stop_cancel_one_by_one(&self, strategy: &StrategyTag, report: &mut EmergencyReport) {
        let book = match self.inner.order_book().await {
            Ok(book) => book,
            Err(error) => {
                let error = self
                    .broker_error(
                        "order_book",
                        error,
                        json!({"emergency": true}),
                        Some(strategy),
                    )
                    .await;
                report.fail(
                    EmergencyStep::Cancel,
                    None,
                    &format!("working orders unknown, none cancelled one by one: {error}"),
                    Some(&error),
                );
                return;
            }
        };
        for order in book.iter().filter(|o| o.state().may_be_working()) {
            let id = order.order_id();
            let tag = order.strategy().unwrap_or(strategy);
            let subject = json!({"order_id": id.as_str(), "emergency": true});
            self.record(AuditEvent::order(
                "cancel_intent",
                tag.as_str(),
                subject.clone(),
            ))
            .await;
            match self.inner.cancel_order(tag, id).await {
                Ok(()) => {
                    self.record(AuditEvent::order("cancel_accepted", tag.as_str(), subject))
                        .await;
                    self.settle_cancelled(id).await;
                    report.cancelled.push(id.clone());
                }
                Err(error) => {
                    let error = self.broker_error("cancel", error, subject, Some(tag)).await;
                    report.fail(
                        EmergencyStep::Cancel,
                        Some(id.to_string()),
                        &error.to_string(),
                        Some(&error),
                    );
                }
            }
        }
    }

    pub(crate) async fn stop_close(&self, strategy: &StrategyTag, report: &mut EmergencyReport) {
        self.record(AuditEvent::order(
            "close_all_intent",
            strategy.as_str(),
            json!({"emergency": true}),
        ))
        .await;
        match self.inner.close_all_positions(strategy).await {
            Ok(result) => {
                self.record(AuditEvent::order(
                    "close_all_done",
                    strategy.as_str(),
                    close_report_json(&result),
                ))
                .await;
                self.settle_closed(&result, strategy).await;
                let named = result.closed.len() as u64;
                report.closed_unnamed += result.closed_count.saturating_sub(named);
                report
                    .closed
                    .extend(result.closed.iter().map(|c| ClosedByStop {
                        position: format!("{}:{}:{}", c.key.exchange, c.key.symbol, c.key.product),
                        exit_order: c.exit_order.clone(),
                    }));
                for failure in &result.failed {
                    report.fail(
                        EmergencyStep::Close,
                        Some(format!(
                            "{}:{}:{}",
                            failure.key.exchange, failure.key.symbol, failure.key.product
                        )),
                        &failure.reason,
                        None,
                    );
                }
                let unnamed_failures = result
                    .failed_count
                    .saturating_sub(result.failed.len() as u64);
                if unnamed_failures > 0 {
                    report.fail(
                        EmergencyStep::Close,
                        None,
                        &format!("the broker could not close {unnamed_failures} position(s)"),
                        None,
                    );
                }
            }
            Err(error) => {
                let error = self
                    .broker_error(
                        "close_all",
                        error,
                        json!({"emergency": true}),
                        Some(strategy),
                    )
                    .await;
                report.fail(
                    EmergencyStep::CloseAll,
                    None,
                    &error.to_string(),
                    Some(&error),
                );
            }
        }
    }
}
