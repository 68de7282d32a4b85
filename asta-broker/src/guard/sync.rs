//! What the broker knows, pulled into the risk engine: fills, marks, final
//! orders and the reconciliation of unknown outcomes.

use super::*;

/// A placement whose outcome is unknown: its approval stays pending in the
/// risk engine until [`Guard::sync`] finds the order in the book.
#[derive(Debug, Clone)]
pub(super) struct Unresolved {
    pub(super) ticket: ApprovalTicket,
    pub(super) order: OrderRequest,
    pub(super) attempted_at: DateTime<Utc>,
}

/// What the guard knows about an order it placed, to feed fills once.
#[derive(Debug, Clone)]
pub(super) struct Tracked {
    pub(super) strategy: StrategyTag,
    pub(super) order: Option<OrderRequest>,
    pub(super) filled: u64,
    pub(super) average: Option<Price>,
}

/// What [`Guard::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// Fills recorded with the risk engine.
    pub fills_recorded: usize,
    /// Orders that reached a final state and were closed in the risk engine.
    pub orders_closed: usize,
    /// Position marks fed to the risk engine.
    pub marks_updated: usize,
    /// Placements with an unknown outcome that were found in the order book
    /// (now open orders in the risk engine).
    pub unknown_resolved: usize,
    /// Placements with an unknown outcome still not found: their approvals
    /// stay pending (counted as open) until found or an operator acts.
    pub unknown_pending: usize,
    /// The account's trading state afterwards.
    pub trading_state: TradingState,
    /// Broker calls that failed (each recorded in the audit trail under the
    /// reference it carries).
    #[serde(skip)]
    pub failures: Vec<BrokerError>,
}

impl<B: Broker> Guard<B> {
    /// Pulls what the broker knows into the risk engine: placements whose
    /// outcome was unknown are looked up in the order book (same strategy,
    /// exchange, symbol, side, product, quantity and prices, placed at or
    /// after the attempt, not already known; the strategy too when the broker
    /// reports it; a match becomes an open order
    /// with its approval); the status of every
    /// order the guard tracks (new fills are recorded, final orders closed)
    /// and every open position's last price (as a mark, which can trip the
    /// daily-loss breaker). Events are recorded; a breaker trip raises a
    /// critical alert. Call it periodically.
    pub async fn sync(&self) -> SyncReport {
        let mut report = SyncReport {
            fills_recorded: 0,
            orders_closed: 0,
            marks_updated: 0,
            unknown_resolved: 0,
            unknown_pending: 0,
            trading_state: TradingState::Active,
            failures: Vec::new(),
        };
        self.resolve_unknown(&mut report).await;
        let ids: Vec<(OrderId, StrategyTag)> = self
            .lock_tracked()
            .iter()
            .map(|(id, t)| (id.clone(), t.strategy.clone()))
            .collect();
        for (id, strategy) in ids {
            match self.inner.order_status(&strategy, &id).await {
                Ok(status) => {
                    let (filled, closed) = self.apply_status(&status).await;
                    report.fills_recorded += usize::from(filled);
                    report.orders_closed += usize::from(closed);
                }
                Err(error) => {
                    let subject = json!({"order_id": id.as_str()});
                    report.failures.push(
                        self.broker_error("order_status", error, subject, None)
                            .await,
                    );
                }
            }
        }
        match self.inner.positions().await {
            Ok(positions) => {
                let marks: Vec<(Exchange, Symbol, Price)> = positions
                    .iter()
                    .filter(|p| !p.is_flat())
                    .filter_map(|p| {
                        p.last_price()
                            .map(|ltp| (p.exchange(), p.symbol().clone(), ltp))
                    })
                    .collect();
                report.marks_updated = marks.len();
                self.with_risk(|risk| {
                    for (exchange, symbol, price) in &marks {
                        risk.update_quote(*exchange, symbol, *price);
                    }
                })
                .await;
            }
            Err(error) => {
                report.failures.push(
                    self.broker_error("positions", error, Value::Null, None)
                        .await,
                );
            }
        }
        report.trading_state = self.trading_state();
        report
    }

    /// Looks for the orders of unknown-outcome placements in the order book.
    pub(super) async fn resolve_unknown(&self, report: &mut SyncReport) {
        let pending: Vec<Unresolved> = self
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if pending.is_empty() {
            return;
        }
        let book = match self.inner.order_book().await {
            Ok(book) => book,
            Err(error) => {
                report.unknown_pending = pending.len();
                report.failures.push(
                    self.broker_error("order_book", error, Value::Null, None)
                        .await,
                );
                return;
            }
        };
        let mut claimed: Vec<OrderId> = self.lock_tracked().keys().cloned().collect();
        let mut still = Vec::new();
        for item in pending {
            let found = book.iter().find(|status| {
                !claimed.contains(status.order_id()) && matches_order(status, &item)
            });
            let Some(status) = found else {
                still.push(item);
                continue;
            };
            let id = status.order_id().clone();
            claimed.push(id.clone());
            let strategy = item.order.strategy().clone();
            self.record(AuditEvent::order(
                "place_reconciled",
                strategy.as_str(),
                json!({"order_id": id.as_str(), "ticket": item.ticket.get(), "order": summary(&item.order)}),
            ))
            .await;
            let (_, events) = self
                .risk_call(|risk| risk.order_opened(id.clone(), &item.order, Some(item.ticket)));
            self.audit_events(events).await;
            self.track(id, strategy, Some(item.order.clone()));
            report.unknown_resolved += 1;
        }
        report.unknown_pending = still.len();
        *self
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = still;
    }

    /// Records the new fills shown by `status` for a tracked order, and
    /// closes it in the risk engine once final. Returns (filled, closed).
    pub(crate) async fn apply_status(&self, status: &OrderStatus) -> (bool, bool) {
        let id = status.order_id();
        let (fill, closed, strategy) = {
            let mut tracked = self.lock_tracked();
            let Some(entry) = tracked.get_mut(id) else {
                return (false, false);
            };
            let filled = status.filled_quantity();
            let fill = match (filled.checked_sub(entry.filled), status.average_price()) {
                (Some(delta), Some(average)) if delta > 0 => {
                    let price =
                        incremental_price(entry.filled, entry.average, filled, average, delta);
                    entry.filled = filled;
                    entry.average = Some(average);
                    Quantity::new(delta).ok().map(|quantity| FillReport {
                        exchange: status.exchange(),
                        symbol: status.symbol().clone(),
                        product: status.product(),
                        side: status.side(),
                        quantity,
                        price,
                        strategy: entry.strategy.clone(),
                        order_id: Some(id.clone()),
                    })
                }
                _ => None,
            };
            let strategy = entry.strategy.clone();
            let closed = status.state().is_final();
            if closed {
                tracked.remove(id);
            }
            (fill, closed, strategy)
        };
        let filled = fill.is_some();
        let fill_record = fill.as_ref().map(|fill| {
            AuditEvent::trade(
                "fill",
                strategy.as_str(),
                json!({
                    "order_id": id.as_str(),
                    "exchange": fill.exchange.to_string(),
                    "symbol": fill.symbol.as_str(),
                    "product": fill.product.to_string(),
                    "side": fill.side.to_string(),
                    "quantity": fill.quantity.get(),
                    "price": fill.price.to_string(),
                }),
            )
            .typed_unchecked()
        });
        let (_, events) = self.risk_step(
            |risk| {
                if let Some(fill) = &fill {
                    risk.record_fill(fill);
                }
                if closed {
                    risk.order_closed(id);
                }
            },
            |()| fill_record,
        );
        self.audit_events(events).await;
        (filled, closed)
    }

    /// Reads a tracked order's status and applies it (errors are recorded
    /// and otherwise ignored: the next `sync` tries again).
    pub(crate) async fn refresh_order(&self, id: &OrderId) {
        let strategy = match self.lock_tracked().get(id) {
            Some(t) => t.strategy.clone(),
            None => return,
        };
        match self.inner.order_status(&strategy, id).await {
            Ok(status) => {
                self.apply_status(&status).await;
            }
            Err(error) => {
                let subject = json!({"order_id": id.as_str()});
                self.broker_error("order_status", error, subject, Some(&strategy))
                    .await;
            }
        }
    }

    pub(crate) fn track(&self, id: OrderId, strategy: StrategyTag, order: Option<OrderRequest>) {
        self.lock_tracked().insert(
            id,
            Tracked {
                strategy,
                order,
                filled: 0,
                average: None,
            },
        );
    }

    /// After an order left the book by a cancel: record its last fills and
    /// close it (tracked), or just close it in the risk engine (untracked).
    pub(crate) async fn settle_cancelled(&self, id: &OrderId) {
        let tracked = self.lock_tracked().contains_key(id);
        if tracked {
            self.refresh_order(id).await;
        }
        let still_tracked = self.lock_tracked().contains_key(id);
        if !still_tracked {
            let (_, events) = self.risk_call(|risk| risk.order_closed(id));
            self.audit_events(events).await;
        }
    }

    /// Tracks the exit orders of a close-all and records their fills.
    pub(crate) async fn settle_closed(&self, report: &CloseAllReport, strategy: &StrategyTag) {
        for closed in &report.closed {
            if let Some(id) = &closed.exit_order {
                self.track(id.clone(), strategy.clone(), None);
                self.refresh_order(id).await;
            }
        }
    }
}

/// Whether `status` is the order of an unknown-outcome placement.
fn matches_order(status: &OrderStatus, item: &Unresolved) -> bool {
    let order = &item.order;
    status.strategy().is_none_or(|s| s == order.strategy())
        && status.exchange() == order.exchange()
        && status.symbol() == order.symbol()
        && status.side() == order.side()
        && status.product() == order.product()
        && status.quantity() == order.quantity()
        && status.price_type() == order.price_type()
        && status.price() == order.price()
        && status.trigger_price() == order.trigger_price()
        && status.placed_at().is_none_or(|at| at >= item.attempted_at)
}

/// The price of the newest `delta` filled units, from the cumulative
/// average before and after (exact integer arithmetic; falls back to the new
/// average if the broker's numbers are inconsistent).
fn incremental_price(
    old_filled: u64,
    old_average: Option<Price>,
    new_filled: u64,
    new_average: Price,
    delta: u64,
) -> Price {
    let old_total = i128::from(old_filled) * i128::from(old_average.map_or(0, Price::units));
    let new_total = i128::from(new_filled) * i128::from(new_average.units());
    let units = (new_total - old_total) / i128::from(delta.max(1));
    i64::try_from(units)
        .ok()
        .and_then(|u| Price::from_units(u).ok())
        .filter(|p| *p != Price::ZERO)
        .unwrap_or(new_average)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_prices_are_exact() {
        let p = |s: &str| s.parse::<Price>().unwrap();
        // 10 @ 100 then 10 more making an average of 101: the new 10 were at 102.
        assert_eq!(
            incremental_price(10, Some(p("100")), 20, p("101"), 10),
            p("102")
        );
        assert_eq!(incremental_price(0, None, 5, p("99.95"), 5), p("99.95"));
        // Inconsistent numbers fall back to the new average.
        assert_eq!(
            incremental_price(10, Some(p("200")), 11, p("100"), 1),
            p("100")
        );
    }
}
