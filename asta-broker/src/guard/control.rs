//! The operator's actions on a running guard and the references users see.

use super::*;

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
        let (result, events) = self.risk_call(|risk| risk.reset(operator, totp_code, verifier));
        self.audit_events(events).await;
        match result {
            Ok(()) => {
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
