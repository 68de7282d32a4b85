//! Step 4 onwards for a new order: risk decision, durable intent, the
//! inner call, the outcome and the risk update.

use super::*;

impl<B: Broker> Guard<B> {
    /// [`Broker::place_order`] through every check (see [`Guard`]).
    pub(super) async fn guarded_place(&self, order: &OrderRequest) -> Result<OrderId, BrokerError> {
        let strategy = order.strategy();
        // 1-3: instrument, mode gate, trading state.
        if let Err((stage, code, reason)) = self.precheck(order) {
            return Err(Box::pin(self.refuse(
                "place",
                stage,
                code,
                reason,
                strategy,
                summary(order),
            ))
            .await);
        }
        // No duplicate while an identical order's outcome is unknown, and a
        // rehearsal asks its venue first.
        self.duplicate_check("place", order).await?;
        self.check_rehearsal_venue("place", strategy, || summary(order))
            .await?;
        // 4-5: the risk decision and, when approved, the order's intent,
        // appended in order under the engine's lock (the intent carries the
        // approval's journal entry), then made durable: the one fdatasync
        // of the order. Nothing leaves unless it is on disk.
        let mode = self.config.mode;
        // A journaled guard's intent carries the approval's CHECK_ORDER
        // entry, which holds the whole order: no second copy of it.
        let with_summary = !self.is_journaled();
        let (decision, events, intent_seq) = self.risk_step_staged(
            |risk| risk.check_order(order, &OrderContext::new()),
            |decision| {
                let Ok(approval) = decision.as_ref() else {
                    return Vec::new();
                };
                vec![intent_record(
                    order,
                    approval.ticket.get(),
                    approval.notional,
                    mode,
                    None,
                    with_summary,
                )]
            },
        );
        let staging = self.take_staging_failure();
        if let Some(error) = &staging {
            self.on_audit_failure(error).await;
        }
        self.audit_events(events).await;
        let approval = match decision {
            Ok(approval) => approval,
            Err(rejection) => {
                let code = rejection.public_code();
                let reason = rejection.to_string();
                let subject = json!({"order": summary(order), "rule": rejection.rule()});
                return Err(Box::pin(self.refuse(
                    "place",
                    Stage::Risk,
                    code,
                    reason,
                    strategy,
                    subject,
                ))
                .await);
            }
        };
        let durable = match staging {
            Some(error) => Err(error),
            None => self.make_durable_through(intent_seq).await,
        };
        if let Err(error) = durable {
            let (_, events) = self.risk_call(|risk| risk.release_approval(approval.ticket));
            log_unaudited(events);
            self.on_audit_failure(&error).await;
            let reference = ErrorReference::generate();
            let reason = "the order intent could not be written to the audit trail; nothing was sent and trading is halted".to_owned();
            tracing::error!(target: "asta_broker::guard", %reference, %error, stage = Stage::Audit.as_str(), "order refused: intent not durable");
            return Err(BrokerError::Refused {
                code: ErrorCode::Halted,
                reason,
                reference,
            });
        }
        self.send_approved(order, approval.ticket).await
    }

    /// Refuses `order` (OUTCOME_PENDING) while an earlier order for the
    /// same strategy, exchange, symbol, side and product has an unknown
    /// outcome or waits for manual approval: resending it is how duplicates
    /// were made. `sync` resolving it, or an operator's decision
    /// ([`Guard::resolve_outcome`]), lifts the block.
    pub(super) async fn duplicate_check(
        &self,
        action: &str,
        order: &OrderRequest,
    ) -> Result<(), BrokerError> {
        let blocking = self
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|u| u.blocks(order))
            .map(|u| (u.ticket.get(), u.pending_approval.is_some()));
        let Some((ticket, pending)) = blocking else {
            return Ok(());
        };
        let reason = format!(
            "an earlier identical order ({} {} {} {} of strategy {}, ticket {ticket}) {}; this order was not sent. It is accepted once sync resolves the earlier one or an operator decides",
            order.side(),
            order.exchange(),
            order.symbol(),
            order.product(),
            order.strategy(),
            if pending {
                "waits for manual approval at the broker"
            } else {
                "has an outcome still being checked"
            }
        );
        Err(Box::pin(self.refuse(
            action,
            Stage::Risk,
            ErrorCode::OutcomePending,
            reason,
            order.strategy(),
            json!({"order": summary(order), "blocked_by_ticket": ticket}),
        ))
        .await)
    }

    /// Steps 6-8 for an order whose approval `ticket` is in a durable
    /// intent: the inner call, the outcome and the risk update.
    pub(super) async fn send_approved(
        &self,
        order: &OrderRequest,
        ticket: ApprovalTicket,
    ) -> Result<OrderId, BrokerError> {
        let strategy = order.strategy();
        let approval = Approved { ticket };
        // 6: the inner call.
        let attempted_at = self.clock.now();
        let in_flight = InFlight::enter(&self.in_flight);
        let placed = self.inner.place_order_reporting(order).await;
        drop(in_flight);
        match placed {
            Ok(Placement {
                order_id: id,
                status,
                ..
            }) => {
                // 7-8: the risk update and the outcome, in one step; durable
                // with the next group commit (a crash before it leaves an
                // intent without outcome: an unknown outcome at restart).
                // A journaled guard's record carries the ORDER_OPENED entry,
                // which names the approval's ticket (the intent's
                // CHECK_ORDER entry holds the whole order): no second copy
                // of it. When
                // the broker answered with the status already (a simulator
                // filling at once), its fill and close ride in the same
                // step: one engine lock and one staging for the outcome.
                let with_summary = !self.is_journaled();
                let check_fills = self.config.check_fills_after_place;
                let mut entry = Tracked::new(strategy.clone(), Some(order.clone()));
                let answered = status.filter(|s| check_fills && s.order_id() == &id);
                let (fill, closed) = answered
                    .as_ref()
                    .map_or((None, false), |status| entry.advance(&id, status));
                let fill_record = fill
                    .as_ref()
                    .map(|fill| record::fill_record(strategy, &id, fill));
                let (_, events) = self.risk_step_many(
                    |risk| {
                        risk.order_opened(id.clone(), order, Some(approval.ticket));
                        if let Some(fill) = &fill {
                            risk.record_fill(fill);
                        }
                        if closed {
                            risk.order_closed(&id);
                        }
                    },
                    |()| {
                        let accepted =
                            accepted_record(order, &id, approval.ticket.get(), with_summary);
                        std::iter::once(accepted).chain(fill_record).collect()
                    },
                );
                self.audit_events(events).await;
                if !closed {
                    self.lock_tracked().insert(id.clone(), entry);
                }
                if check_fills && answered.is_none() {
                    Box::pin(self.refresh_order(&id)).await;
                }
                Ok(id)
            }
            Err(error) => {
                let subject = json!({"order": summary(order), "ticket": approval.ticket.get()});
                let root = error.root().clone();
                // Cold paths are boxed: their futures would otherwise make
                // every order's future (and its moves) as big as theirs.
                let wrapped =
                    Box::pin(self.broker_error("place", error, subject, Some(strategy))).await;
                if root.definitely_not_placed() {
                    let (_, events) = self.risk_call(|risk| {
                        risk.release_approval(approval.ticket);
                        if let BrokerError::AuthFailed { reason } = &root {
                            risk.report_auth_failure(&format!(
                                "broker refused authentication: {reason}"
                            ));
                        }
                    });
                    self.audit_events(events).await;
                } else if let BrokerError::PendingApproval { pending_id } = &root {
                    // Semi-auto: held as pending exposure until the order
                    // shows up in the book or an operator decides.
                    self.unresolved
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Unresolved {
                            ticket: approval.ticket,
                            order: order.clone(),
                            attempted_at,
                            pending_approval: Some(pending_id.clone()),
                        });
                    self.alert(
                        Alert::new(
                            Severity::Warning,
                            "pending_approval",
                            "an order waits for manual approval at the broker; it counts as open until it shows up or is rejected",
                            self.clock.now(),
                        )
                        .field("symbol", order.symbol().as_str())
                        .field("strategy", strategy.as_str())
                        .field("pending_id", pending_id)
                        .field("reference", wrapped.reference().map_or("", ErrorReference::as_str)),
                    )
                    .await;
                } else {
                    self.unresolved
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Unresolved {
                            ticket: approval.ticket,
                            order: order.clone(),
                            attempted_at,
                            pending_approval: None,
                        });
                    self.alert(
                        Alert::new(
                            Severity::Critical,
                            "outcome_unknown",
                            "an order may or may not be at the exchange; reconcile before trading on",
                            self.clock.now(),
                        )
                        .field("symbol", order.symbol().as_str())
                        .field("strategy", strategy.as_str())
                        .field("reference", wrapped.reference().map_or("", ErrorReference::as_str)),
                    )
                    .await;
                }
                Err(wrapped)
            }
        }
    }
}

/// An approval whose intent is durable (only its ticket is needed to send).
#[derive(Debug, Clone, Copy)]
struct Approved {
    ticket: ApprovalTicket,
}
