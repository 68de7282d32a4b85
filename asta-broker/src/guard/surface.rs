//! The rest of the trading surface through the guard: trade book (fills
//! feed the risk engine), holdings, one position, smart orders, closing one
//! position, and all-or-none baskets.

use std::collections::BTreeMap;

use super::*;

impl<B: Broker> Guard<B> {
    /// [`Broker::trade_book`]; executions of tracked orders feed the risk
    /// engine (as cumulative fills per order, so a fill already seen in an
    /// order status is not counted twice).
    pub(super) async fn guarded_trade_book(&self) -> Result<Vec<Trade>, BrokerError> {
        let trades = match self.inner.trade_book().await {
            Ok(trades) => trades,
            Err(error) => {
                return Err(self
                    .broker_error("trade_book", error, Value::Null, None)
                    .await);
            }
        };
        // Per tracked order: total quantity and value of its executions.
        let mut totals: BTreeMap<OrderId, (u64, i128, &Trade)> = BTreeMap::new();
        {
            let tracked = self.lock_tracked();
            for trade in &trades {
                if !tracked.contains_key(&trade.order_id) {
                    continue;
                }
                let entry = totals
                    .entry(trade.order_id.clone())
                    .or_insert((0, 0, trade));
                entry.0 = entry.0.saturating_add(trade.quantity.get());
                entry.1 += i128::from(trade.quantity.get()) * i128::from(trade.price.units());
            }
        }
        for (id, (filled, value, first)) in totals {
            let average = i64::try_from(value / i128::from(filled.max(1)))
                .ok()
                .and_then(|u| Price::from_units(u).ok());
            let Some(average) = average else { continue };
            let quantity = Quantity::new(filled).unwrap_or(first.quantity);
            let status = OrderStatus::new(
                id,
                first.symbol.clone(),
                first.exchange,
                first.side,
                asta_core::PriceType::Market,
                first.product,
                quantity,
                crate::OrderState::Unknown,
            )
            .with_fill(filled, Some(average));
            self.apply_fills_only(&status).await;
        }
        Ok(trades)
    }

    /// Records the fills `status` shows beyond what is known, without
    /// touching the order's open/closed state (its quantity here is the
    /// executed total, not the order's).
    async fn apply_fills_only(&self, status: &OrderStatus) {
        let known = self.lock_tracked().get(status.order_id()).map(|t| t.filled);
        if known.is_some_and(|filled| status.filled_quantity() > filled) {
            self.apply_status(status).await;
        }
    }

    /// A read-only call recorded like every other broker error.
    pub(super) async fn passthrough<T>(
        &self,
        op: &str,
        subject: Value,
        result: Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        match result {
            Ok(value) => Ok(value),
            Err(error) => Err(self.broker_error(op, error, subject, None).await),
        }
    }

    /// [`Broker::place_smart_order`] through the guard: the guard reads the
    /// position, works out the one order that reaches `target`, and places
    /// **that order** through every check of [`place_order`](Broker::place_order).
    /// It never sends `placesmartorder`, which the server would recompute
    /// from a position that may have changed since: the order the risk
    /// engine approved is exactly the order sent.
    pub(super) async fn guarded_smart_order(
        &self,
        order: &OrderRequest,
        target: i64,
    ) -> Result<SmartOrderOutcome, BrokerError> {
        let strategy = order.strategy();
        let key = PositionKey {
            exchange: order.exchange(),
            symbol: order.symbol().clone(),
            product: order.product(),
        };
        let subject = json!({"order": summary(order), "target": target});
        let current = match self.inner.open_position(strategy, &key).await {
            Ok(current) => current,
            Err(error) => {
                return Err(self
                    .broker_error("open_position", error, subject, Some(strategy))
                    .await);
            }
        };
        let resulting = match crate::broker::order_for_target(order, current, target) {
            Ok(resulting) => resulting,
            Err(error) => {
                let reason = error.to_string();
                return Err(self
                    .refuse(
                        "smart_order",
                        Stage::Instrument,
                        ErrorCode::InvalidInput,
                        reason,
                        strategy,
                        subject,
                    )
                    .await);
            }
        };
        self.record(AuditEvent::order(
            "smart_order",
            strategy.as_str(),
            json!({
                "order": summary(order),
                "current": current,
                "target": target,
                "resulting": resulting.as_ref().map(summary),
            }),
        ))
        .await;
        match resulting {
            None => Ok(SmartOrderOutcome::AlreadyMatched),
            Some(resulting) => self
                .guarded_place(&resulting)
                .await
                .map(SmartOrderOutcome::Placed),
        }
    }

    /// [`Broker::close_position`] through the guard: a MARKET smart order
    /// to 0, so the closing order is checked like any order (refused while
    /// HALTED: flatten through the emergency stop instead).
    pub(super) async fn guarded_close_position(
        &self,
        strategy: &StrategyTag,
        key: &PositionKey,
    ) -> Result<SmartOrderOutcome, BrokerError> {
        match crate::broker::market_template(strategy, key) {
            Ok(template) => self.guarded_smart_order(&template, 0).await,
            Err(error) => {
                let reason = error.to_string();
                let subject =
                    json!({"exchange": key.exchange.to_string(), "symbol": key.symbol.as_str()});
                Err(self
                    .refuse(
                        "close_position",
                        Stage::Instrument,
                        ErrorCode::InvalidInput,
                        reason,
                        strategy,
                        subject,
                    )
                    .await)
            }
        }
    }

    /// [`Broker::place_basket`] through the guard: **all or none**. Every
    /// order passes the instrument, mode, trading-state and duplicate
    /// checks and the risk engine approves them together
    /// ([`RiskEngine::check_batch`]), or nothing is sent. The intents (one
    /// `place_intent` per order, the batch's approval riding in the first)
    /// are made durable with one fdatasync; then the orders are sent one by
    /// one, each with the outcome handling of a single order. If trading
    /// halts on the way (a mode change, an auth failure), the rest are not
    /// sent: their approvals are released and their results are refusals.
    pub(super) async fn guarded_basket(
        &self,
        orders: &[OrderRequest],
    ) -> Result<Vec<Result<OrderId, BrokerError>>, BrokerError> {
        let Some(first) = orders.first() else {
            let control = self.control_strategy().cloned();
            let reason = "an empty basket has nothing to place".to_owned();
            return Err(match control {
                Some(strategy) => {
                    self.refuse(
                        "basket",
                        Stage::Instrument,
                        ErrorCode::InvalidInput,
                        reason,
                        &strategy,
                        Value::Null,
                    )
                    .await
                }
                None => BrokerError::rejected(&reason),
            });
        };
        let strategy = first.strategy();
        let subject = json!({"orders": orders.iter().map(summary).collect::<Vec<_>>()});
        for (index, order) in orders.iter().enumerate() {
            if let Err((stage, code, reason)) = self.precheck(order) {
                let reason = format!("basket order {index}: {reason}; nothing was sent");
                return Err(self
                    .refuse("basket", stage, code, reason, order.strategy(), subject)
                    .await);
            }
            self.duplicate_check("basket", order).await?;
        }
        self.check_rehearsal_venue("basket", strategy, || subject.clone())
            .await?;
        let mode = self.config.mode;
        let (decision, events) = self.risk_step_many(
            |risk| risk.check_batch(orders, &OrderContext::new()),
            |decision| match decision {
                Ok(approvals) => orders
                    .iter()
                    .zip(approvals)
                    .map(|(order, approval)| {
                        intent_record(
                            order,
                            approval.ticket.get(),
                            approval.notional,
                            mode,
                            Some(orders.len()),
                            true,
                        )
                    })
                    .collect(),
                Err(_) => Vec::new(),
            },
        );
        let staging = self.take_staging_failure();
        if let Some(error) = &staging {
            self.on_audit_failure(error).await;
        }
        self.audit_events(events).await;
        let approvals = match decision {
            Ok(approvals) => approvals,
            Err(rejection) => {
                let code = rejection.public_code();
                let reason = format!("{rejection}; nothing in the basket was sent");
                return Err(self
                    .refuse("basket", Stage::Risk, code, reason, strategy, subject)
                    .await);
            }
        };
        let durable = match staging {
            Some(error) => Err(error),
            None => self.make_durable().await,
        };
        if let Err(error) = durable {
            let (_, events) = self.risk_call(|risk| {
                for approval in &approvals {
                    risk.release_approval(approval.ticket);
                }
            });
            log_unaudited(events);
            self.on_audit_failure(&error).await;
            let reference = ErrorReference::generate();
            tracing::error!(target: "asta_broker::guard", %reference, %error, "basket refused: intents not durable");
            return Err(BrokerError::Refused {
                code: ErrorCode::Halted,
                reason: "the basket's intents could not be written to the audit trail; nothing was sent and trading is halted".to_owned(),
                reference,
            });
        }
        let mut results = Vec::with_capacity(orders.len());
        for (order, approval) in orders.iter().zip(&approvals) {
            if self.lock_risk().strategy_state(order.strategy()) == TradingState::Halted {
                // Not sent: release, and record an outcome for the intent.
                let (_, events) = self.risk_call(|risk| risk.release_approval(approval.ticket));
                self.audit_events(events).await;
                let refusal = BrokerError::Refused {
                    code: ErrorCode::Halted,
                    reason: "trading halted during the basket; this order was not sent".to_owned(),
                    reference: ErrorReference::generate(),
                };
                let recorded = self
                    .broker_error(
                        "place",
                        refusal,
                        json!({"order": summary(order), "ticket": approval.ticket.get()}),
                        Some(order.strategy()),
                    )
                    .await;
                results.push(Err(recorded));
                continue;
            }
            results.push(self.send_approved(order, approval.ticket).await);
        }
        Ok(results)
    }
}
