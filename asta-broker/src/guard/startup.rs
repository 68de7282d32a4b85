//! The start-up reconciliation: what is at the broker but not in ASTA's
//! state (placed by hand, by another tool, or filled while ASTA was down)
//! is taken into the risk engine's exposure and reported, never ignored.

use super::*;

impl<B: Broker> Guard<B> {
    /// Runs once, in the first [`sync`](Guard::sync) with no unknown
    /// placement left (an unknown one could otherwise be taken in twice):
    ///
    /// - orders the risk engine counts as open but the guard does not track
    ///   (a restart) are tracked again and their status applied (fills
    ///   made while ASTA was down are recorded, final orders closed);
    /// - working orders the risk engine does not know are opened in it
    ///   (ORDER `external_order_adopted`) and tracked;
    /// - then each position whose net quantity at the broker differs from
    ///   the risk engine's is brought to the broker's by a fill at the
    ///   broker's average price (TRADE `external_position_adopted`,
    ///   attributed to the guard's control strategy).
    ///
    /// If the order book or the positions cannot be read, nothing is
    /// concluded and the next sync tries again.
    pub(super) async fn startup_reconcile(&self, report: &mut SyncReport) {
        let book = match self.inner.order_book().await {
            Ok(book) => book,
            Err(error) => {
                report.failures.push(
                    self.broker_error("order_book", error, Value::Null, None)
                        .await,
                );
                return;
            }
        };
        let positions = match self.inner.positions().await {
            Ok(positions) => positions,
            Err(error) => {
                report.failures.push(
                    self.broker_error("positions", error, Value::Null, None)
                        .await,
                );
                return;
            }
        };
        let Some(control) = self.control_strategy().cloned() else {
            return;
        };
        let risk_open = self.lock_risk().open_order_ids();
        for entry in &book {
            let id = entry.order_id();
            if self.lock_tracked().contains_key(id) {
                continue;
            }
            let strategy = entry.strategy().cloned().unwrap_or_else(|| control.clone());
            if risk_open.contains(id) {
                self.track(id.clone(), strategy, None);
                let (filled, closed) = self.apply_status(entry).await;
                report.fills_recorded += usize::from(filled);
                report.orders_closed += usize::from(closed);
                continue;
            }
            if !entry.state().may_be_working() {
                continue;
            }
            let order = match order_of(entry, &strategy) {
                Ok(order) => order,
                Err(why) => {
                    let error = BrokerError::Protocol {
                        detail: format!(
                            "working order {id} at the broker cannot be taken into the risk engine: {why}"
                        ),
                    };
                    let subject = json!({"order_id": id.as_str()});
                    report
                        .failures
                        .push(self.broker_error("adopt_order", error, subject, None).await);
                    continue;
                }
            };
            let (_, events) = self.risk_step(
                |risk| risk.order_opened(id.clone(), &order, None),
                |()| {
                    Some(
                        AuditEvent::order(
                            "external_order_adopted",
                            strategy.as_str(),
                            json!({"order_id": id.as_str(), "order": summary(&order), "state": entry.state().as_str()}),
                        )
                        .typed_unchecked(),
                    )
                },
            );
            self.audit_events(events).await;
            self.track(id.clone(), strategy, Some(order));
            let (filled, _) = self.apply_status(entry).await;
            report.fills_recorded += usize::from(filled);
            report.external_orders.push(id.clone());
        }
        let held: Vec<(Exchange, Symbol, asta_core::Product, i128)> = self
            .risk_status()
            .positions
            .into_iter()
            .map(|p| (p.exchange, p.symbol, p.product, p.net))
            .collect();
        for position in &positions {
            let key = position.key();
            let mine = held
                .iter()
                .find(|(e, s, p, _)| *e == key.exchange && s == &key.symbol && *p == key.product)
                .map_or(0, |(.., net)| *net);
            let diff = i128::from(position.net_quantity()) - mine;
            if diff == 0 {
                continue;
            }
            let price = Some(position.average_price())
                .filter(|p| *p != Price::ZERO)
                .or(position.last_price());
            let quantity = u64::try_from(diff.unsigned_abs())
                .ok()
                .and_then(|q| Quantity::new(q).ok());
            let (Some(price), Some(quantity)) = (price, quantity) else {
                let error = BrokerError::Protocol {
                    detail: format!(
                        "position {} {} {} differs from the risk engine's by {diff} but has no usable price or size",
                        key.exchange, key.symbol, key.product
                    ),
                };
                report.failures.push(
                    self.broker_error("adopt_position", error, Value::Null, None)
                        .await,
                );
                continue;
            };
            let side = if diff > 0 {
                asta_core::Side::Buy
            } else {
                asta_core::Side::Sell
            };
            let fill = FillReport {
                exchange: key.exchange,
                symbol: key.symbol.clone(),
                product: key.product,
                side,
                quantity,
                price,
                strategy: control.clone(),
                order_id: None,
            };
            let (_, events) = self.risk_step(
                |risk| risk.record_fill(&fill),
                |()| {
                    Some(
                        AuditEvent::trade(
                            "external_position_adopted",
                            control.as_str(),
                            json!({
                                "exchange": key.exchange.to_string(),
                                "symbol": key.symbol.as_str(),
                                "product": key.product.to_string(),
                                "broker_net": position.net_quantity(),
                                "risk_net_before": mine.to_string(),
                                "side": side.to_string(),
                                "quantity": quantity.get(),
                                "price": price.to_string(),
                            }),
                        )
                        .typed_unchecked(),
                    )
                },
            );
            self.audit_events(events).await;
            let signed = i64::try_from(diff).unwrap_or(i64::MAX);
            report.external_positions.push((key.clone(), signed));
        }
        if !report.external_orders.is_empty() || !report.external_positions.is_empty() {
            self.alert(
                Alert::new(
                    Severity::Warning,
                    "external_exposure_adopted",
                    "orders or positions at the broker that ASTA did not know were taken into the risk engine",
                    self.clock.now(),
                )
                .field("orders", &report.external_orders.len().to_string())
                .field("positions", &report.external_positions.len().to_string()),
            )
            .await;
        }
        self.startup_pending.store(false, Ordering::Release);
        report.startup_reconciled = true;
    }
}

/// The order a broker's order-book entry stands for.
fn order_of(entry: &OrderStatus, strategy: &StrategyTag) -> Result<OrderRequest, String> {
    let mut builder = OrderRequest::builder()
        .strategy(strategy.clone())
        .exchange(entry.exchange())
        .symbol(entry.symbol().clone())
        .side(entry.side())
        .price_type(entry.price_type())
        .product(entry.product())
        .quantity(entry.quantity());
    match entry.price_type() {
        asta_core::PriceType::Limit | asta_core::PriceType::StopLoss => {
            if let Some(price) = entry.price() {
                builder = builder.price(price);
            }
        }
        asta_core::PriceType::Market | asta_core::PriceType::StopLossMarket => {}
    }
    if let Some(trigger) = entry.trigger_price() {
        builder = builder.trigger_price(trigger);
    }
    builder.build().map_err(|e| e.to_string())
}
