//! The venue is checked, not assumed: a broker whose venue changed under
//! the guard (an OpenAlgo server switched between analyzer and live mode)
//! halts trading, and a rehearsal asks the venue before every order.

use super::*;

impl<B: Broker> Guard<B> {
    /// A broker answer said the venue is not the one configured: halt the
    /// account (latched: leaving HALTED needs an operator's TOTP reset),
    /// record it (SECURITY `venue_mode_changed`) and raise a critical alert.
    pub(super) async fn on_mode_mismatch(
        &self,
        op: &str,
        error: &BrokerError,
        reference: &ErrorReference,
    ) {
        let reason = format!(
            "the broker's venue changed ({op}: {error}); trading halted: nothing more is sent until an operator checks the server and resets"
        );
        tracing::error!(target: "asta_broker::guard", %reference, %reason, "venue mode changed");
        self.record(
            AuditEvent::security(
                "venue_mode_changed",
                json!({
                    "operation": op,
                    "detail": error.to_string(),
                    "configured_mode": self.config.mode.to_string(),
                    "venue": self.inner.venue().as_str(),
                }),
            )
            .with_reference(reference.clone()),
        )
        .await;
        let (_, events) = self.risk_call(|risk| risk.halt(&reason));
        self.audit_events(events).await;
        self.alert(
            Alert::new(
                Severity::Critical,
                "venue_mode_changed",
                "the broker is no longer in the configured mode (an OpenAlgo analyzer switched to live?); trading is halted",
                self.clock.now(),
            )
            .field("operation", op)
            .field("reference", reference.as_str()),
        )
        .await;
    }

    /// Whether this guard rehearses (sandbox or paper) on a venue that
    /// could be switched to real trading under it.
    fn rehearsal_on_switchable_venue(&self) -> bool {
        self.config.mode != TradingMode::Live && self.inner.venue() == Venue::BrokerSimulation
    }

    /// Before an order of a rehearsal on a broker-side simulation: asks the
    /// venue. `Err` is the refusal to return (nothing was sent); a mode
    /// change also halted trading.
    pub(super) async fn check_rehearsal_venue(
        &self,
        action: &str,
        strategy: &StrategyTag,
        subject: impl FnOnce() -> Value,
    ) -> Result<(), BrokerError> {
        if !self.rehearsal_on_switchable_venue() {
            return Ok(());
        }
        let Err(error) = self.inner.check_venue().await else {
            return Ok(());
        };
        let mismatch = error.is_mode_mismatch();
        let subject = subject();
        // Boxed: this cold path would otherwise size every order's future.
        let wrapped =
            Box::pin(self.broker_error("check_venue", error, subject.clone(), Some(strategy)))
                .await;
        let (code, reason) = if mismatch {
            (
                ErrorCode::Halted,
                format!(
                    "the venue is no longer a simulation ({wrapped}); nothing was sent and trading is halted"
                ),
            )
        } else {
            (
                ErrorCode::BrokerUnavailable,
                format!(
                    "the venue could not be confirmed as a simulation before this rehearsal order ({wrapped}); nothing was sent"
                ),
            )
        };
        Err(Box::pin(self.refuse(action, Stage::Mode, code, reason, strategy, subject)).await)
    }
}
