//! Changing what is at the broker: modify (checked like a new order), and
//! cancel, cancel all and close all (they cut risk, so they always pass).

use super::*;

impl<B: Broker> Guard<B> {
    /// [`Broker::modify_order`] through every check (see [`Guard`]).
    pub(super) async fn guarded_modify(
        &self,
        request: &ModifyRequest,
    ) -> Result<OrderId, BrokerError> {
        let new = request.order();
        let strategy = new.strategy();
        let old_id = request.order_id();
        let subject = json!({"order_id": old_id.as_str(), "order": summary(new)});
        if let Err((stage, code, reason)) = self.precheck(new) {
            return Err(self
                .refuse("modify", stage, code, reason, strategy, subject)
                .await);
        }
        let (decision, events) =
            self.risk_call(|risk| risk.check_modify(old_id, new, &OrderContext::new()));
        self.audit_events(events).await;
        if let Err(rejection) = decision {
            let code = rejection.public_code();
            let reason = rejection.to_string();
            return Err(self
                .refuse("modify", Stage::Risk, code, reason, strategy, subject)
                .await);
        }
        let previous = self
            .lock_tracked()
            .get(old_id)
            .and_then(|t| t.order.clone());
        let intent = AuditEvent::order("modify_intent", strategy.as_str(), subject.clone());
        if let Err(error) = self.audit.append_async(intent).await {
            self.on_audit_failure(&error).await;
            if let Some(previous) = &previous {
                let (_, events) =
                    self.risk_call(|risk| risk.order_opened(old_id.clone(), previous, None));
                log_unaudited(events);
            }
            let reference = ErrorReference::generate();
            tracing::error!(target: "asta_broker::guard", %reference, %error, "modification refused: intent not durable");
            return Err(BrokerError::Refused {
                code: ErrorCode::Halted,
                reason: "the modification intent could not be written to the audit trail; nothing was sent and trading is halted".to_owned(),
                reference,
            });
        }
        let in_flight = InFlight::enter(&self.in_flight);
        let modified = self.inner.modify_order(request).await;
        drop(in_flight);
        match modified {
            Ok(new_id) => {
                self.record(AuditEvent::order(
                    "modify_accepted",
                    strategy.as_str(),
                    json!({"order_id": old_id.as_str(), "new_order_id": new_id.as_str(), "order": summary(new)}),
                ))
                .await;
                let (_, events) = self.risk_call(|risk| {
                    if &new_id != old_id {
                        risk.order_closed(old_id);
                    }
                    risk.order_opened(new_id.clone(), new, None);
                });
                self.audit_events(events).await;
                {
                    let mut tracked = self.lock_tracked();
                    let entry = tracked.remove(old_id);
                    let (filled, average) = entry.map_or((0, None), |t| (t.filled, t.average));
                    tracked.insert(
                        new_id.clone(),
                        Tracked {
                            strategy: strategy.clone(),
                            order: Some(new.clone()),
                            filled,
                            average,
                        },
                    );
                }
                if self.config.check_fills_after_place {
                    self.refresh_order(&new_id).await;
                }
                Ok(new_id)
            }
            Err(error) => {
                let root = error.root().clone();
                let wrapped = self
                    .broker_error("modify", error, subject, Some(strategy))
                    .await;
                if root.definitely_not_placed()
                    && let Some(previous) = &previous
                {
                    // The broker kept the old content: put the risk record back.
                    let (_, events) =
                        self.risk_call(|risk| risk.order_opened(old_id.clone(), previous, None));
                    self.audit_events(events).await;
                }
                if let BrokerError::AuthFailed { reason } = &root {
                    let detail = format!("broker refused authentication: {reason}");
                    let (_, events) = self.risk_call(|risk| risk.report_auth_failure(&detail));
                    self.audit_events(events).await;
                }
                if !root.definitely_not_placed() {
                    // Settled by the order's status at the next sync.
                    self.amend_unknown
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(AmendUnknown {
                            order_id: old_id.clone(),
                            strategy: strategy.clone(),
                            kind: AmendKind::Modify {
                                new: Box::new(new.clone()),
                                old: previous.clone().map(Box::new),
                            },
                        });
                }
                Err(wrapped)
            }
        }
    }

    /// [`Broker::cancel_order`], audited; passes in every trading state.
    pub(super) async fn guarded_cancel(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<(), BrokerError> {
        let subject = json!({"order_id": order_id.as_str()});
        let (decision, events) = self.risk_call(|risk| risk.check_cancel(order_id));
        self.audit_events(events).await;
        if let Err(rejection) = decision {
            let code = rejection.public_code();
            let reason = rejection.to_string();
            return Err(self
                .refuse("cancel", Stage::Risk, code, reason, strategy, subject)
                .await);
        }
        // A cancel cuts risk: it goes out even if its intent cannot be recorded.
        self.record(AuditEvent::order(
            "cancel_intent",
            strategy.as_str(),
            subject.clone(),
        ))
        .await;
        match self.inner.cancel_order(strategy, order_id).await {
            Ok(()) => {
                self.record(AuditEvent::order(
                    "cancel_accepted",
                    strategy.as_str(),
                    subject,
                ))
                .await;
                self.settle_cancelled(order_id).await;
                Ok(())
            }
            Err(error) => {
                if !error.definitely_not_placed() {
                    // Settled by the order's status at the next sync.
                    self.amend_unknown
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(AmendUnknown {
                            order_id: order_id.clone(),
                            strategy: strategy.clone(),
                            kind: AmendKind::Cancel,
                        });
                }
                Err(self
                    .broker_error("cancel", error, subject, Some(strategy))
                    .await)
            }
        }
    }

    /// [`Broker::cancel_all_orders`], audited; passes in every trading state.
    pub(super) async fn guarded_cancel_all(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError> {
        self.record(AuditEvent::order(
            "cancel_all_intent",
            strategy.as_str(),
            Value::Null,
        ))
        .await;
        match self.inner.cancel_all_orders(strategy).await {
            Ok(report) => {
                self.record(AuditEvent::order(
                    "cancel_all_done",
                    strategy.as_str(),
                    cancel_report_json(&report),
                ))
                .await;
                for id in &report.cancelled {
                    self.settle_cancelled(id).await;
                }
                Ok(report)
            }
            Err(error) => Err(self
                .broker_error("cancel_all", error, Value::Null, Some(strategy))
                .await),
        }
    }

    /// [`Broker::close_all_positions`], audited; passes in every trading state.
    pub(super) async fn guarded_close_all(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CloseAllReport, BrokerError> {
        self.record(AuditEvent::order(
            "close_all_intent",
            strategy.as_str(),
            Value::Null,
        ))
        .await;
        match self.inner.close_all_positions(strategy).await {
            Ok(report) => {
                self.record(AuditEvent::order(
                    "close_all_done",
                    strategy.as_str(),
                    close_report_json(&report),
                ))
                .await;
                self.settle_closed(&report, strategy).await;
                Ok(report)
            }
            Err(error) => Err(self
                .broker_error("close_all", error, Value::Null, Some(strategy))
                .await),
        }
    }
}
