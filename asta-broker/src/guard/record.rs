//! How the guard writes to the audit trail: records, risk events, refusals,
//! broker errors and alerts; a failed trail halts trading.

use super::*;

impl<B: Broker> Guard<B> {
    /// Appends `event` without waiting for it to be durable (it becomes
    /// durable with the next group commit: the next order's intent, a
    /// [`sync`](AuditLog::sync), or the trail's background flush within
    /// milliseconds). On failure halts trading (once per failure episode)
    /// and returns `false`.
    pub(crate) async fn record(&self, event: AuditEvent) -> bool {
        match self.audit.append_deferred_async(event).await {
            Ok(_) => true,
            Err(error) => {
                self.on_audit_failure(&error).await;
                false
            }
        }
    }

    /// Waits until everything appended so far is durable (one group
    /// commit), unless the trail was configured to buffer ORDER records.
    pub(crate) async fn make_durable(&self) -> Result<(), AuditError> {
        if self.audit.config().durability(Category::Order) == Durability::Buffered {
            return Ok(());
        }
        self.audit.sync_async().await.map(drop)
    }

    /// The audit trail failed: halt (latched, persisted by the risk engine)
    /// and alert. The events of the halt cannot be audited; they are logged.
    pub(crate) async fn on_audit_failure(&self, error: &AuditError) {
        let detail = format!("audit append failed: {error}");
        tracing::error!(target: "asta_broker::guard", %detail, "audit trail failed; trading halted");
        if self.audit_failed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (_, events) = self.risk_call(|risk| risk.report_audit_failure(&detail));
        log_unaudited(events);
        self.alert(
            Alert::new(
                Severity::Critical,
                "audit_failure",
                "the audit trail cannot be written; trading is halted",
                self.clock.now(),
            )
            .field("detail", &detail),
        )
        .await;
    }

    /// After a [`risk_call`](Self::risk_call): halts if staging its
    /// records failed, then alerts on breaker trips, unusual orders and
    /// blocked login sources. (The events themselves were appended by
    /// `risk_call`, in order, under the engine's lock.)
    pub(crate) async fn audit_events(&self, events: Vec<RiskEvent>) {
        if let Some(error) = self.take_staging_failure() {
            self.on_audit_failure(&error).await;
        }
        self.flush_snapshot().await;
        for event in events {
            if let Some(alert) = self.alert_for(&event) {
                self.alert(alert).await;
            }
        }
    }

    /// The error of the last failed staging in [`risk_call`](Self::risk_call), once.
    pub(crate) fn take_staging_failure(&self) -> Option<AuditError> {
        self.staging_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn alert_for(&self, event: &RiskEvent) -> Option<Alert> {
        let now = self.clock.now();
        match &event.kind {
            RiskEventKind::BreakerTripped {
                breaker, detail, ..
            } => Some(
                Alert::new(
                    Severity::Critical,
                    "breaker_tripped",
                    "a risk breaker tripped; trading is halted",
                    now,
                )
                .field("breaker", &breaker.to_string())
                .field("detail", detail),
            ),
            RiskEventKind::UnusualOrder { alert, detail, .. } => Some(
                Alert::new(
                    Severity::Warning,
                    "unusual_order",
                    "the security monitor flagged an order",
                    now,
                )
                .field("alert", &format!("{alert:?}"))
                .field("detail", detail),
            ),
            RiskEventKind::LoginSourceBlocked { source, .. } => Some(
                Alert::new(
                    Severity::Warning,
                    "login_source_blocked",
                    "a login source was blocked",
                    now,
                )
                .field("source", source),
            ),
            _ => None,
        }
    }

    pub(crate) async fn alert(&self, alert: Alert) {
        if let Err(error) = self.alerts.send(&alert).await {
            tracing::warn!(target: "asta_broker::guard", kind = alert.kind(), %error, "alert not delivered");
        }
    }

    pub(crate) async fn send_alert(&self, alert: Alert) -> bool {
        match self.alerts.send(&alert).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(target: "asta_broker::guard", kind = alert.kind(), %error, "alert not delivered");
                false
            }
        }
    }

    /// Records a refusal under a fresh reference and returns the error.
    pub(super) async fn refuse_event(
        &self,
        event: AuditEvent,
        code: ErrorCode,
        reason: String,
    ) -> BrokerError {
        let reference = ErrorReference::generate();
        let event = event
            .with_reference(reference.clone())
            .with_detail("code", code.as_str());
        if !self.record(event).await {
            tracing::error!(target: "asta_broker::guard", %reference, %reason, "refusal could not be audited");
        }
        BrokerError::Refused {
            code,
            reason: sanitize_text(&reason, crate::MAX_REASON_CHARS * 2),
            reference,
        }
    }

    /// Records a refused order request (`{action}_refused`).
    pub(super) async fn refuse(
        &self,
        action: &str,
        stage: Stage,
        code: ErrorCode,
        reason: String,
        strategy: &StrategyTag,
        subject: Value,
    ) -> BrokerError {
        let event = AuditEvent::order(
            format!("{action}_refused"),
            strategy.as_str(),
            json!({"stage": stage.as_str(), "reason": reason, "request": subject}),
        );
        self.refuse_event(event, code, reason).await
    }

    /// Records an inner-broker error under a fresh reference (an `ERROR`
    /// record with the detail) and wraps it.
    pub(crate) async fn broker_error(
        &self,
        op: &str,
        error: BrokerError,
        subject: Value,
        strategy: Option<&StrategyTag>,
    ) -> BrokerError {
        let reference = ErrorReference::generate();
        let mut event = AuditEvent::error(
            reference.clone(),
            format!("{op}_failed"),
            json!({
                "detail": error.to_string(),
                "code": error.public_code().as_str(),
                "definitely_not_placed": error.definitely_not_placed(),
                "request": subject,
            }),
        );
        if let Some(strategy) = strategy {
            event = event.with_strategy(strategy.as_str());
        }
        if !self.record(event).await {
            tracing::error!(target: "asta_broker::guard", %reference, %error, "broker error could not be audited");
        }
        if error.is_mode_mismatch() {
            self.on_mode_mismatch(op, &error, &reference).await;
        }
        BrokerError::Referenced {
            reference,
            error: Box::new(error),
        }
    }
}

/// Risk events that cannot go to the failed audit trail go to the log.
pub(super) fn log_unaudited(events: Vec<RiskEvent>) {
    for event in events {
        let text = serde_json::to_string(&event).unwrap_or_default();
        tracing::error!(target: "asta_broker::guard", event = %text, "risk event not audited (audit trail failed)");
    }
}

pub(crate) fn cancel_report_json(report: &CancelAllReport) -> Value {
    json!({
        "cancelled": report.cancelled.iter().map(OrderId::as_str).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|f| json!({"order_id": f.order_id.as_str(), "reason": f.reason})).collect::<Vec<_>>(),
    })
}

pub(crate) fn close_report_json(report: &CloseAllReport) -> Value {
    json!({
        "closed_count": report.closed_count,
        "failed_count": report.failed_count,
        "closed": report.closed.iter().map(|c| json!({
            "exchange": c.key.exchange.to_string(),
            "symbol": c.key.symbol.as_str(),
            "product": c.key.product.to_string(),
            "exit_order": c.exit_order.as_ref().map(OrderId::as_str),
        })).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|f| json!({
            "exchange": f.key.exchange.to_string(),
            "symbol": f.key.symbol.as_str(),
            "reason": f.reason,
        })).collect::<Vec<_>>(),
    })
}
