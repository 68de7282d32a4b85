//! The operator's actions on a running guard (reset, flatten, the halt
//! marker, the session's status) and the references users see.

use super::*;
use crate::control::{ControlTrailLink, HaltMarker, SessionStatus, link_control_trail};
use crate::{EmergencyReport, EmergencyStep};

impl<B: Broker> Guard<B> {
    /// The user-facing face of `error`, with a reference that is in the
    /// audit trail: an error from this guard already carries one; any other
    /// error is recorded now (an `ERROR` record with its detail) under a
    /// fresh reference.
    pub async fn public_error(&self, error: &BrokerError) -> PublicError {
        if let Some(reference) = error.reference() {
            return PublicError::with_reference(error.public_code(), reference.clone());
        }
        let reference = ErrorReference::generate();
        let event = AuditEvent::error(
            reference.clone(),
            "error_reported",
            json!({"detail": error.to_string(), "code": error.public_code().as_str()}),
        );
        self.record(event).await;
        PublicError::with_reference(error.public_code(), reference)
    }

    /// Leaves HALTED (or REDUCING) for ACTIVE through the risk engine's
    /// TOTP-authorized reset ([`RiskEngine::reset`]).
    ///
    /// With a [halt marker](GuardBuilder::halt_marker) present, the same
    /// reset also removes it (durably, recorded as `halt_marker_removed`);
    /// if it cannot be removed the reset returns an error and orders stay
    /// refused.
    ///
    /// Refused (with a `Refused` error whose reference is in the audit
    /// trail) when the audit trail is unavailable, the operator name is
    /// invalid, the code is wrong or reused, or the breaker's condition
    /// persists. Every attempt is recorded (SECURITY); the code never is.
    pub async fn reset(
        &self,
        operator: &str,
        totp_code: &str,
        verifier: &(dyn TotpVerifier + Sync),
    ) -> Result<(), BrokerError> {
        let operator_shown = shown_operator(operator);
        if let Some(detail) = self.audit.poison_reason() {
            let reason = format!("the audit trail is unavailable ({detail}); trading stays halted");
            return Err(self
                .refuse_event(
                    AuditEvent::security(
                        "reset_refused",
                        json!({"operator": operator_shown, "reason": reason}),
                    ),
                    ErrorCode::Halted,
                    reason,
                )
                .await);
        }
        let marker_present = self
            .halt_marker
            .as_ref()
            .is_some_and(HaltMarker::is_present);
        if marker_present && self.trading_state() != TradingState::Halted {
            // The marker was written while this session ran: make the risk
            // engine agree, so that one TOTP-authorized reset clears both.
            self.halt_for(
                "halt marker present (written by a kill while this session did not answer)",
            )
            .await;
        }
        let (result, events) = self.risk_call(|risk| risk.reset(operator, totp_code, verifier));
        self.audit_events(events).await;
        match result {
            Ok(()) => {
                if marker_present {
                    self.remove_halt_marker(&operator_shown).await?;
                }
                self.audit_failed.store(false, Ordering::Release);
                let event = AuditEvent::security(
                    "trading_reset",
                    json!({"operator": operator_shown, "trading_state": self.trading_state().to_string()}),
                )
                .with_actor(operator_shown.clone());
                self.record(event).await;
                self.alert(
                    Alert::new(
                        Severity::Warning,
                        "trading_reset",
                        "trading state reset by an operator",
                        self.clock.now(),
                    )
                    .field("operator", &operator_shown),
                )
                .await;
                Ok(())
            }
            Err(error) => {
                let reason = error.to_string();
                Err(self
                    .refuse_event(
                        AuditEvent::security(
                            "reset_refused",
                            json!({"operator": operator_shown, "reason": reason}),
                        ),
                        error.public_code(),
                        reason,
                    )
                    .await)
            }
        }
    }
}

impl<B: Broker> Guard<B> {
    /// The halt marker this guard checks before admitting an order, if
    /// one was configured ([`GuardBuilder::halt_marker`]).
    pub fn halt_marker(&self) -> Option<&HaltMarker> {
        self.halt_marker.as_ref()
    }

    /// Placements whose outcome is unknown and not yet found at the broker.
    pub(crate) fn unknown_outcomes(&self) -> usize {
        self.unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// What an operator asks first: trading state, breakers with their
    /// reasons, the day's P&L against its limit, rate usage, open orders,
    /// unknown outcomes and the halt marker.
    pub fn session_status(&self) -> SessionStatus {
        let marker = self.halt_marker.as_ref().map(|marker| {
            (
                marker.path().display().to_string(),
                marker.is_present(),
                marker.read().ok().flatten(),
            )
        });
        SessionStatus::new(
            self.config.mode,
            self.inner.venue(),
            self.lock_risk().status(),
            self.unknown_outcomes(),
            self.in_flight(),
            self.audit.poison_reason(),
            marker,
        )
    }

    /// Closes every open position at market, after checking `totp_code`
    /// for `operator` with `verifier`. Trading state is left as it is
    /// (halt first with [`halt_and_cancel`](Self::halt_and_cancel) to stop
    /// new orders too).
    ///
    /// Closing trades at market, so unlike halting it needs a TOTP code. A
    /// refused code does nothing at the broker and is recorded (`SECURITY
    /// flatten_refused`, never the code); an accepted one is recorded
    /// (`SECURITY flatten_authorized`) before the close request is sent, and
    /// the report after it (`SYSTEM flatten_report`).
    ///
    /// # Errors
    ///
    /// [`BrokerError::Refused`] (`PERMISSION_DENIED`, or `HALTED` when the
    /// audit trail is unavailable) when nothing was done.
    pub async fn flatten(
        &self,
        operator: &str,
        totp_code: &str,
        verifier: &(dyn TotpVerifier + Sync),
        reason: &str,
    ) -> Result<EmergencyReport, BrokerError> {
        let operator_shown = shown_operator(operator);
        let reason = sanitize_text(reason, crate::MAX_REASON_CHARS);
        if let Some(detail) = self.audit.poison_reason() {
            let why = format!("the audit trail is unavailable ({detail}); nothing was closed");
            return Err(self
                .refuse_event(
                    AuditEvent::security(
                        "flatten_refused",
                        json!({"operator": operator_shown, "reason": why}),
                    ),
                    ErrorCode::Halted,
                    why,
                )
                .await);
        }
        if let Err(rejection) = verifier.verify(operator, totp_code) {
            let why = format!("{rejection}; no position was closed");
            return Err(self
                .refuse_event(
                    AuditEvent::security(
                        "flatten_refused",
                        json!({"operator": operator_shown, "reason": why, "request_reason": reason}),
                    )
                    .with_actor(operator_shown.clone()),
                    ErrorCode::PermissionDenied,
                    why,
                )
                .await);
        }
        let mut report = EmergencyReport::started(reason.clone(), self.clock.now());
        let state = self.trading_state();
        report.was_halted = state == TradingState::Halted;
        report.halted = report.was_halted;
        report.halt_persisted = report.was_halted;
        let authorized = AuditEvent::security(
            "flatten_authorized",
            json!({"operator": operator_shown, "reason": reason, "trading_state": state.to_string()}),
        )
        .with_actor(operator_shown.clone());
        report.audited = match self.audit.append_async(authorized).await {
            Ok(_) => true,
            Err(error) => {
                self.on_audit_failure(&error).await;
                false
            }
        };
        match self.control_strategy().cloned() {
            Some(strategy) => self.stop_close(&strategy, &mut report).await,
            None => report.fail(
                EmergencyStep::CloseAll,
                None,
                "no control strategy tag",
                None,
            ),
        }
        let alert = Alert::new(
            Severity::Critical,
            "flatten",
            "positions closed by an operator",
            self.clock.now(),
        )
        .field("operator", &operator_shown)
        .field(
            "closed",
            &(report.closed.len() as u64 + report.closed_unnamed).to_string(),
        )
        .field("failures", &report.failures.len().to_string());
        report.alerted = self.send_alert(alert).await;
        let details = serde_json::to_value(&report).unwrap_or_default();
        let closing = AuditEvent::system(
            "flatten_report",
            json!({"operator": operator_shown, "report": details}),
        );
        if let Err(error) = self.audit.append_async(closing).await {
            self.on_audit_failure(&error).await;
            report.audited = false;
            report.fail(
                EmergencyStep::Audit,
                None,
                "the flatten report could not be written to the audit trail",
                None,
            );
        }
        Ok(report)
    }

    /// Halts the account (latched) for `reason`, if it is not halted.
    pub(super) async fn halt_for(&self, reason: &str) {
        let (_, events) = self.risk_call(|risk| {
            if risk.trading_state() != TradingState::Halted {
                risk.halt(reason);
            }
        });
        self.audit_events(events).await;
    }

    /// At build: link the control trail, and halt when it is broken or a
    /// halt marker is present.
    pub(super) async fn on_start_control(
        &self,
        trail: Option<(std::path::PathBuf, asta_audit::ChainKey)>,
    ) {
        if let Some((dir, key)) = trail {
            let broken = match link_control_trail(&self.audit, &dir, &key).await {
                Ok(ControlTrailLink::Broken { finding }) => Some(finding),
                Ok(_) => None,
                Err(error) => Some(format!("cannot be verified: {error}")),
            };
            if let Some(finding) = broken {
                self.alert(
                    Alert::new(
                        Severity::Critical,
                        "control_trail_broken",
                        "the control trail does not verify; trading is halted",
                        self.clock.now(),
                    )
                    .field("finding", &finding),
                )
                .await;
                self.halt_for(&format!("the control trail does not verify: {finding}"))
                    .await;
            }
        }
        if let Some(marker) = &self.halt_marker
            && marker.is_present()
        {
            let why = match marker.read() {
                Ok(Some(record)) => format!(
                    "halt marker {} present: {} (by {} uid {} at {})",
                    marker.path().display(),
                    record.reason,
                    record.user,
                    record.uid,
                    record.at
                ),
                _ => format!("halt marker {} present", marker.path().display()),
            };
            self.halt_for(&why).await;
        }
    }

    /// Removes the halt marker after an authorized reset, and records it.
    async fn remove_halt_marker(&self, operator_shown: &str) -> Result<(), BrokerError> {
        let Some(marker) = &self.halt_marker else {
            return Ok(());
        };
        let path = marker.path().display().to_string();
        match marker.remove() {
            Ok(_) => {
                let event = AuditEvent::security(
                    "halt_marker_removed",
                    json!({"operator": operator_shown, "path": path}),
                )
                .with_actor(operator_shown.to_owned());
                if let Err(error) = self.audit.append_async(event).await {
                    self.on_audit_failure(&error).await;
                }
                Ok(())
            }
            Err(error) => {
                let why = format!(
                    "the reset was authorized but the halt marker stays: {error}; orders are still refused"
                );
                Err(self
                    .refuse_event(
                        AuditEvent::security(
                            "halt_marker_kept",
                            json!({"operator": operator_shown, "path": path, "reason": why}),
                        ),
                        ErrorCode::Halted,
                        why,
                    )
                    .await)
            }
        }
    }
}
