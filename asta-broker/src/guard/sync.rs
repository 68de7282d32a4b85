//! What the broker knows, pulled into the risk engine: fills, marks, final
//! orders and the reconciliation of unknown outcomes.

use super::*;
use crate::reconcile::{self, AmendCheck, Attempt, Resolution};
use chrono::TimeDelta;

/// A placement whose outcome is unknown: its approval stays pending in the
/// risk engine until [`Guard::sync`] finds the order in the book.
#[derive(Debug, Clone)]
pub(super) struct Unresolved {
    pub(super) ticket: ApprovalTicket,
    pub(super) order: OrderRequest,
    pub(super) attempted_at: DateTime<Utc>,
    /// Set when the broker queued the order for manual approval
    /// (semi-auto): its pending id.
    pub(super) pending_approval: Option<String>,
}

impl Unresolved {
    /// Whether `order` is the same trade as this one for the duplicate
    /// block: same strategy, exchange, symbol, side and product.
    pub(super) fn blocks(&self, order: &OrderRequest) -> bool {
        let mine = &self.order;
        mine.strategy() == order.strategy()
            && mine.exchange() == order.exchange()
            && mine.symbol() == order.symbol()
            && mine.side() == order.side()
            && mine.product() == order.product()
    }
}

/// A modification or cancel whose outcome is unknown: `sync` reads the
/// order's status to settle it.
#[derive(Debug, Clone)]
pub(super) struct AmendUnknown {
    pub(super) order_id: OrderId,
    pub(super) strategy: StrategyTag,
    pub(super) kind: AmendKind,
}

/// Which change.
#[derive(Debug, Clone)]
pub(super) enum AmendKind {
    Cancel,
    Modify {
        new: Box<OrderRequest>,
        old: Option<Box<OrderRequest>>,
    },
}

/// What the guard knows about an order it placed, to feed fills once.
#[derive(Debug, Clone)]
pub(super) struct Tracked {
    pub(super) strategy: StrategyTag,
    pub(super) order: Option<OrderRequest>,
    pub(super) filled: u64,
    pub(super) average: Option<Price>,
}

impl Tracked {
    /// A new order nothing of which is known to be filled yet.
    pub(super) fn new(strategy: StrategyTag, order: Option<OrderRequest>) -> Self {
        Self {
            strategy,
            order,
            filled: 0,
            average: None,
        }
    }

    /// Takes in the broker's `status` of order `id`: the fill it adds since
    /// the last status seen (quantity and the exact price of the new part),
    /// and whether the order reached a final state.
    pub(super) fn advance(
        &mut self,
        id: &OrderId,
        status: &OrderStatus,
    ) -> (Option<FillReport>, bool) {
        let filled = status.filled_quantity();
        let fill = match (filled.checked_sub(self.filled), status.average_price()) {
            (Some(delta), Some(average)) if delta > 0 => {
                let price = incremental_price(self.filled, self.average, filled, average, delta);
                self.filled = filled;
                self.average = Some(average);
                Quantity::new(delta).ok().map(|quantity| FillReport {
                    exchange: status.exchange(),
                    symbol: status.symbol().clone(),
                    product: status.product(),
                    side: status.side(),
                    quantity,
                    price,
                    strategy: self.strategy.clone(),
                    order_id: Some(id.clone()),
                })
            }
            _ => None,
        };
        (fill, status.state().is_final())
    }
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
    /// Of those, the ones the order book cannot settle without guessing
    /// (several candidate orders, or one without a readable time): an
    /// operator must decide ([`Guard::resolve_outcome`]).
    pub unknown_ambiguous: usize,
    /// Modifications and cancels with an unknown outcome settled by the
    /// order's status.
    pub amendments_resolved: usize,
    /// Modifications and cancels whose outcome is still unknown.
    pub amendments_pending: usize,
    /// Whether the start-up reconciliation ran in this sync.
    pub startup_reconciled: bool,
    /// Working orders at the broker that ASTA did not know (placed by hand
    /// or another tool), now counted as open by the risk engine.
    pub external_orders: Vec<OrderId>,
    /// Positions at the broker that the risk engine did not hold (or held
    /// at another size), now taken in: (key, quantity taken in, signed).
    #[serde(skip)]
    pub external_positions: Vec<(PositionKey, i64)>,
    /// The venue check of this sync failed (the failure is in `failures`;
    /// a mode change halted trading).
    pub venue_unconfirmed: bool,
    /// The account's trading state afterwards.
    pub trading_state: TradingState,
    /// Broker calls that failed (each recorded in the audit trail under the
    /// reference it carries).
    #[serde(skip)]
    pub failures: Vec<BrokerError>,
}

impl<B: Broker> Guard<B> {
    /// Pulls what the broker knows into the risk engine. In order:
    ///
    /// 1. the venue is asked ([`Broker::check_venue`]: an OpenAlgo server's
    ///    mode); a change halts trading and ends the sync (nothing more is
    ///    read from a venue that is not the one configured);
    /// 2. placements whose outcome was unknown (or that wait for manual
    ///    approval) are looked up in the order book with the reconciliation
    ///    shared with the adapter (`crate::reconcile`: exchange, symbol,
    ///    side, product, quantity, strategy where reported, price only for
    ///    LIMIT and SL, trigger for SL and SL-M, a look-back of at least
    ///    2 s, one to one); a match becomes an open order with its
    ///    approval, recorded as `place_reconciled`;
    /// 3. modifications and cancels whose outcome was unknown are settled
    ///    by the order's status;
    /// 4. the status of every order the guard tracks (new fills are
    ///    recorded, final orders closed);
    /// 5. once, at start (when no unknown placement is left): working
    ///    orders and positions at the broker that the risk engine does not
    ///    hold are taken into its exposure and reported;
    /// 6. every open position's last price (as a mark, which can trip the
    ///    daily-loss breaker).
    ///
    /// Events are recorded; a breaker trip raises a critical alert. Call
    /// it periodically.
    pub async fn sync(&self) -> SyncReport {
        let mut report = SyncReport {
            fills_recorded: 0,
            orders_closed: 0,
            marks_updated: 0,
            unknown_resolved: 0,
            unknown_pending: 0,
            unknown_ambiguous: 0,
            amendments_resolved: 0,
            amendments_pending: 0,
            startup_reconciled: false,
            external_orders: Vec::new(),
            external_positions: Vec::new(),
            venue_unconfirmed: false,
            trading_state: TradingState::Active,
            failures: Vec::new(),
        };
        let _one_at_a_time = self.resolving.lock().await;
        if let Err(error) = self.inner.check_venue().await {
            report.venue_unconfirmed = true;
            report.unknown_pending = self
                .unresolved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len();
            report.failures.push(
                self.broker_error("check_venue", error, Value::Null, None)
                    .await,
            );
            report.trading_state = self.trading_state();
            return report;
        }
        self.resolve_unknown(&mut report).await;
        self.resolve_amendments(&mut report).await;
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
        if self.startup_pending.load(Ordering::Acquire) && report.unknown_pending == 0 {
            self.startup_reconcile(&mut report).await;
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
        let mut known: Vec<OrderId> = self.lock_tracked().keys().cloned().collect();
        known.extend(self.lock_risk().open_order_ids());
        let attempts: Vec<Attempt<'_>> = pending
            .iter()
            .map(|item| Attempt {
                order: &item.order,
                attempted_at: item.attempted_at,
            })
            .collect();
        let lookback =
            TimeDelta::seconds(i64::try_from(self.config.reconcile_lookback_secs).unwrap_or(60));
        let found = reconcile::reconcile(&attempts, &book, lookback, &|id| known.contains(id));
        let mut settled = Vec::new();
        for (item, resolution) in pending.iter().zip(found) {
            match resolution {
                Resolution::Found(id) => {
                    let strategy = item.order.strategy().clone();
                    let (_, events) = self.risk_step(
                        |risk| risk.order_opened(id.clone(), &item.order, Some(item.ticket)),
                        |()| {
                            Some(
                                AuditEvent::order(
                                    "place_reconciled",
                                    strategy.as_str(),
                                    json!({
                                        "order_id": id.as_str(),
                                        "ticket": item.ticket.get(),
                                        "order": summary(&item.order),
                                        "pending_approval": item.pending_approval,
                                    }),
                                )
                                .typed_unchecked(),
                            )
                        },
                    );
                    self.audit_events(events).await;
                    self.track(id, strategy, Some(item.order.clone()));
                    settled.push(item.ticket);
                    report.unknown_resolved += 1;
                }
                Resolution::Ambiguous(ids) => {
                    report.unknown_ambiguous += 1;
                    tracing::warn!(
                        target: "asta_broker::guard",
                        ticket = item.ticket.get(),
                        candidates = ids.len(),
                        "unknown outcome stays unknown: the order book is ambiguous"
                    );
                }
                Resolution::NotFound => {}
            }
        }
        let mut unresolved = self
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        unresolved.retain(|u| !settled.contains(&u.ticket));
        report.unknown_pending = unresolved.len();
    }

    /// Settles modifications and cancels of unknown outcome by the order's status.
    pub(super) async fn resolve_amendments(&self, report: &mut SyncReport) {
        let pending: Vec<AmendUnknown> = self
            .amend_unknown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut settled = Vec::new();
        for (index, item) in pending.iter().enumerate() {
            let status = match self
                .inner
                .order_status(&item.strategy, &item.order_id)
                .await
            {
                Ok(status) => status,
                Err(error) => {
                    let subject = json!({"order_id": item.order_id.as_str()});
                    report.failures.push(
                        self.broker_error("order_status", error, subject, Some(&item.strategy))
                            .await,
                    );
                    continue;
                }
            };
            let (action, check) = match &item.kind {
                AmendKind::Cancel => ("cancel_reconciled", reconcile::cancel_check(&status)),
                AmendKind::Modify { new, old } => (
                    "modify_reconciled",
                    reconcile::modify_check(&status, new, old.as_deref()),
                ),
            };
            let done = match check {
                AmendCheck::Done => true,
                AmendCheck::NotDone => false,
                AmendCheck::Unclear(_) => continue,
            };
            self.record(AuditEvent::order(
                action,
                item.strategy.as_str(),
                json!({"order_id": item.order_id.as_str(), "done": done, "state": status.state().as_str()}),
            ))
            .await;
            match (&item.kind, done) {
                (AmendKind::Cancel, true) => self.settle_cancelled(&item.order_id).await,
                (AmendKind::Modify { old: Some(old), .. }, false) => {
                    // The broker kept the old content: put the risk record back.
                    let (_, events) =
                        self.risk_call(|risk| risk.order_opened(item.order_id.clone(), old, None));
                    self.audit_events(events).await;
                    if let Some(t) = self.lock_tracked().get_mut(&item.order_id) {
                        t.order = Some(old.as_ref().clone());
                    }
                }
                _ => {}
            }
            settled.push(index);
            report.amendments_resolved += 1;
        }
        let mut list = self
            .amend_unknown
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Items appended meanwhile stay; settled ones (by position in the
        // copy taken above, which is a prefix of the list) go.
        let mut index = 0;
        list.retain(|_| {
            let keep = !settled.contains(&index);
            index += 1;
            keep
        });
        report.amendments_pending = list.len();
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
            let (fill, closed) = entry.advance(id, status);
            let strategy = entry.strategy.clone();
            if closed {
                tracked.remove(id);
            }
            (fill, closed, strategy)
        };
        let filled = fill.is_some();
        let fill_record = fill
            .as_ref()
            .map(|fill| record::fill_record(&strategy, id, fill));
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
        self.lock_tracked()
            .insert(id, Tracked::new(strategy, order));
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
