//! Pre-trade decisions on new orders and batches.

use asta_core::{Exchange, Money, OrderRequest, Price, PriceType, Side, StrategyTag, Symbol};
use chrono::{DateTime, TimeDelta, Utc};

use crate::breaker::BreakerKind;
use crate::checks;
use crate::config::{AlertAction, WindowLimits};
use crate::error::{AlertKind, Rejection};
use crate::events::{OrderSummary, RiskEventKind};
use crate::journal::{BatchOutcome, OrderOutcome, RiskInput};
use crate::rate_limit::{RateLimiter, RateScope};
use crate::state::{Quote, SymbolBook, SymbolKey};
use crate::trading_state::{StateScope, TradingState};

use super::*;

impl RiskEngine {
    /// Decides whether a new order may go out. An approval uses rate-limit
    /// capacity and counts as a pending open order (see [`Approval`]).
    pub fn check_order(&mut self, order: &OrderRequest, context: &OrderContext) -> Decision {
        let now = self.live_now();
        self.journal_room()?;
        let result = self.check_order_at(now, order, context);
        self.journal(now, || RiskInput::CheckOrder {
            order: order.clone(),
            context: *context,
            outcome: OrderOutcome::of(&result),
        });
        result
    }

    /// [`check_order`](Self::check_order) at `now` (live or replayed).
    pub(super) fn check_order_at(
        &mut self,
        now: DateTime<Utc>,
        order: &OrderRequest,
        context: &OrderContext,
    ) -> Decision {
        self.roll_day_if_needed(now);
        let mut alerts = Vec::new();
        let result = self
            .decide(order, context, now, &mut alerts)
            .map(|verdict| self.commit(order, verdict, now));
        for alert in alerts {
            self.emit(now, alert);
        }
        let result = match result {
            Ok(approval) => {
                self.emit(
                    now,
                    RiskEventKind::OrderApproved {
                        order: OrderSummary::from(order),
                        ticket: approval.ticket.get(),
                        notional: approval.notional,
                    },
                );
                Ok(approval)
            }
            Err(rejection) => Err(self.rejected(now, order, rejection)),
        };
        let approved = result.as_ref().ok().map(|a| a.ticket.0);
        match (self.finish(now, result), approved) {
            (Err(reason), Some(ticket)) => {
                // The approval was not saved: revoke it and say so.
                self.state.pending.remove(&ticket);
                self.emit(
                    now,
                    RiskEventKind::OrderRejected {
                        order: OrderSummary::from(order),
                        reason: reason.clone(),
                    },
                );
                Err(reason)
            }
            (other, _) => other,
        }
    }

    /// Decides a batch all or nothing: either every order is approved (and
    /// reserves its capacity) or none is and nothing is reserved. The
    /// rejection names the first failing order's index.
    pub fn check_batch(
        &mut self,
        orders: &[OrderRequest],
        context: &OrderContext,
    ) -> Result<Vec<Approval>, Rejection> {
        let now = self.live_now();
        self.journal_room()?;
        let result = self.check_batch_at(now, orders, context);
        self.journal(now, || RiskInput::CheckBatch {
            orders: orders.to_vec(),
            context: *context,
            outcome: BatchOutcome::of(&result),
        });
        result
    }

    /// [`check_batch`](Self::check_batch) at `now` (live or replayed).
    pub(super) fn check_batch_at(
        &mut self,
        now: DateTime<Utc>,
        orders: &[OrderRequest],
        context: &OrderContext,
    ) -> Result<Vec<Approval>, Rejection> {
        self.roll_day_if_needed(now);
        if orders.is_empty() {
            return Err(Rejection::EmptyBatch);
        }
        let snapshot = self.state.clone();
        let first_ticket = self.state.next_ticket;
        let mut alerts = Vec::new();
        let mut approvals = Vec::with_capacity(orders.len());
        let mut failure = None;
        for (index, order) in orders.iter().enumerate() {
            match self.decide(order, context, now, &mut alerts) {
                Ok(verdict) => approvals.push(self.commit(order, verdict, now)),
                Err(reason) => {
                    failure = Some((index, order, reason));
                    break;
                }
            }
        }
        if let Some((index, order, reason)) = failure {
            self.state = snapshot;
            for alert in alerts {
                self.emit(now, alert);
            }
            let batch = Rejection::Batch {
                index,
                reason: Box::new(reason),
            };
            let rejection = self.rejected(now, order, batch);
            return self.finish(now, Err(rejection));
        }
        for alert in alerts {
            self.emit(now, alert);
        }
        for (order, approval) in orders.iter().zip(&approvals) {
            self.emit(
                now,
                RiskEventKind::OrderApproved {
                    order: OrderSummary::from(order),
                    ticket: approval.ticket.get(),
                    notional: approval.notional,
                },
            );
        }
        self.emit(
            now,
            RiskEventKind::BatchApproved {
                orders: orders.len(),
            },
        );
        let result = self.finish(now, Ok(approvals));
        if result.is_err() {
            // Nothing may go out on an approval that was not saved.
            self.state.pending.retain(|t, _| *t < first_ticket);
        }
        result
    }

    /// Runs every check on a new order without changing anything.
    pub(super) fn decide(
        &self,
        order: &OrderRequest,
        context: &OrderContext,
        now: DateTime<Utc>,
        alerts: &mut Vec<RiskEventKind>,
    ) -> Result<Verdict, Rejection> {
        if let Some(detail) = &self.save_error {
            return Err(Rejection::StateUnavailable {
                detail: detail.clone(),
            });
        }
        let limits = self.config.limits();
        let key: SymbolKey = (order.exchange(), order.symbol().clone());
        let empty = SymbolBook::default();
        let book = self.state.book.get(&key).unwrap_or(&empty);
        let quantity = order.quantity().get();
        let reduces = book.reduces(order.product(), order.side(), quantity);

        // 2. trading state
        let (state, scope) = self.state.states.effective(order.strategy());
        match state {
            TradingState::Active => {}
            TradingState::Reducing if reduces => {}
            TradingState::Reducing => return Err(Rejection::ReducingOnly { scope, state }),
            _ => return Err(Rejection::Halted { scope }),
        }

        // 3.-6. instrument, trading hours, reference price and collar, size
        let (price, notional) =
            self.check_entry_price_and_size(order, context, book.quote, now, alerts)?;

        // 7. duplicates
        if !context.intentional_duplicate {
            checks::duplicate(
                order,
                &self.state.duplicates,
                now,
                limits.duplicate_window_ms,
            )?;
        }

        // 8. daily loss
        if !reduces {
            let loss = self
                .state
                .day_loss()
                .ok_or(Rejection::Overflow { what: "daily P&L" })?;
            checks::daily_loss(loss, self.config.daily_loss_cap())?;
        }

        // 9. exposure
        checks::open_orders(self.state.open_count(), 1, limits.max_open_orders)?;
        self.check_exposure(order.symbol(), book, None, (order.side(), quantity), price)?;

        // 10. security monitor
        self.monitor_order(order, &key, quantity, notional, alerts)
            .map(|warnings| Verdict {
                notional,
                warnings,
                price,
            })
            .and_then(|verdict| {
                // 11. rate limits
                self.check_rates(order.strategy(), order.exchange(), now, 1)?;
                Ok(verdict)
            })
    }

    /// Position and gross exposure for an order of `side`/`quantity` at
    /// `price`, with `book` standing for the symbol's book and `replace`
    /// an open order being modified (removed first).
    pub(super) fn check_exposure(
        &self,
        symbol: &Symbol,
        book: &SymbolBook,
        replace: Option<(Side, u64)>,
        (side, quantity): (Side, u64),
        price: Price,
    ) -> Result<(), Rejection> {
        let overflow = Rejection::Overflow { what: "exposure" };
        let valuation = book.mark.map_or(price, |m| m.max(price));
        let replaced;
        let base = match replace {
            Some((old_side, old_quantity)) => {
                let mut copy = book.clone();
                copy.remove_open(old_side, old_quantity);
                replaced = copy;
                &replaced
            }
            None => book,
        };
        let before = book
            .worst_case_value(None, valuation)
            .ok_or(overflow.clone())?;
        let after = base
            .worst_case_value(Some((side, quantity)), valuation)
            .ok_or(overflow.clone())?;
        checks::position_value(symbol, before, after, self.config.position_cap())?;

        let gross = self.state.gross_exposure().ok_or(overflow.clone())?;
        let at_mark = match book.mark {
            Some(mark) => book.worst_case_value(None, mark).ok_or(overflow.clone())?,
            None => Money::ZERO,
        };
        let others = gross.checked_sub(at_mark).ok_or(overflow.clone())?;
        let gross_before = others.checked_add(before).ok_or(overflow.clone())?;
        let gross_after = others.checked_add(after).ok_or(overflow)?;
        checks::gross_exposure(
            gross_before,
            gross_after,
            self.config.limits().max_gross_exposure,
        )
    }

    /// Unusual size and first-symbol alerts; returns the warnings, or the
    /// first blocking alert as a rejection.
    pub(super) fn monitor_order(
        &self,
        order: &OrderRequest,
        key: &SymbolKey,
        quantity: u64,
        notional: Money,
        alerts: &mut Vec<RiskEventKind>,
    ) -> Result<Vec<AlertKind>, Rejection> {
        let monitor = &self.config.limits().monitor;
        let mut found: Vec<(AlertKind, AlertAction, String)> = self
            .state
            .monitor
            .size_alerts(key, quantity, notional, monitor)
            .into_iter()
            .map(|(kind, detail)| (kind, monitor.unusual_size, detail))
            .collect();
        if self.state.monitor.is_first_order(order.strategy(), key) {
            found.push((
                AlertKind::FirstOrderInSymbol,
                monitor.first_symbol,
                format!(
                    "first order of strategy {} in {}:{}",
                    order.strategy(),
                    key.0,
                    key.1
                ),
            ));
        }
        let mut warnings = Vec::new();
        let mut block = None;
        for (alert, action, detail) in found {
            alerts.push(RiskEventKind::UnusualOrder {
                alert,
                action,
                strategy: order.strategy().clone(),
                exchange: key.0,
                symbol: key.1.clone(),
                detail: detail.clone(),
            });
            match action {
                AlertAction::Warn => warnings.push(alert),
                _ => {
                    if block.is_none() {
                        block = Some(Rejection::UnusualOrder { alert, detail });
                    }
                }
            }
        }
        match block {
            Some(rejection) => Err(rejection),
            None => Ok(warnings),
        }
    }

    pub(super) fn rate_scopes(strategy: &StrategyTag, exchange: Exchange) -> [RateScope; 3] {
        [
            RateScope::Account,
            RateScope::Strategy(strategy.clone()),
            RateScope::Segment(exchange),
        ]
    }

    pub(super) fn limits_for(&self, scope: &RateScope) -> WindowLimits {
        let r = &self.config.limits().rate_limits;
        match scope {
            RateScope::Strategy(_) => r.strategy,
            RateScope::Segment(_) => r.segment,
            _ => r.account,
        }
    }

    pub(super) fn apply_rate_limits(&mut self) {
        let scopes: Vec<RateScope> = self.state.rates.keys().cloned().collect();
        for scope in scopes {
            let limits = self.limits_for(&scope);
            if let Some(limiter) = self.state.rates.get_mut(&scope) {
                limiter.set_limits(limits);
            }
        }
    }

    pub(super) fn check_scopes(
        &self,
        scopes: &[RateScope],
        now: DateTime<Utc>,
        n: u32,
    ) -> Result<(), Rejection> {
        for scope in scopes {
            let result = match self.state.rates.get(scope) {
                Some(limiter) => limiter.check(now, n),
                None => RateLimiter::new(self.limits_for(scope)).check(now, n),
            };
            if let Err(denial) = result {
                return Err(rate_rejection(
                    scope.clone(),
                    denial.window,
                    denial.count,
                    denial.limit,
                ));
            }
        }
        Ok(())
    }

    pub(super) fn record_scopes(&mut self, scopes: [RateScope; 3], now: DateTime<Utc>, n: u32) {
        for scope in scopes {
            let limits = self.limits_for(&scope);
            self.state
                .rates
                .entry(scope)
                .or_insert_with(|| RateLimiter::new(limits))
                .record(now, n);
        }
    }

    pub(super) fn check_rates(
        &self,
        strategy: &StrategyTag,
        exchange: Exchange,
        now: DateTime<Utc>,
        n: u32,
    ) -> Result<(), Rejection> {
        self.check_scopes(&Self::rate_scopes(strategy, exchange), now, n)
    }

    /// Applies an approval: rate capacity, pending order, memories.
    pub(super) fn commit(
        &mut self,
        order: &OrderRequest,
        verdict: Verdict,
        now: DateTime<Utc>,
    ) -> Approval {
        let limits = self.config.limits();
        let monitor = limits.monitor;
        let window = TimeDelta::milliseconds(
            i64::try_from(limits.duplicate_window_ms).unwrap_or(i64::MAX / 1_000_000),
        );
        self.record_scopes(
            Self::rate_scopes(order.strategy(), order.exchange()),
            now,
            1,
        );
        let ticket = self.state.next_ticket;
        self.state.next_ticket = ticket.saturating_add(1);
        self.state.pending.insert(ticket, order.clone());
        let key: SymbolKey = (order.exchange(), order.symbol().clone());
        let book = self.state.book.entry(key.clone()).or_default();
        book.add_open(order.side(), order.quantity().get());
        if book.mark.is_none() {
            book.mark = Some(verdict.price);
        }
        while self
            .state
            .duplicates
            .front()
            .is_some_and(|(_, at)| now.signed_duration_since(*at) >= window)
        {
            self.state.duplicates.pop_front();
        }
        self.state.duplicates.push_back((order.clone(), now));
        self.state.monitor.record_order(
            order.strategy(),
            &key,
            order.quantity().get(),
            verdict.notional,
            &monitor,
        );
        Approval {
            ticket: ApprovalTicket(ticket),
            notional: verdict.notional,
            warnings: verdict.warnings,
        }
    }

    /// Books a rejection: the rejection breaker, the daily-loss breaker, the event.
    pub(super) fn rejected(
        &mut self,
        now: DateTime<Utc>,
        order: &OrderRequest,
        rejection: Rejection,
    ) -> Rejection {
        self.emit(
            now,
            RiskEventKind::OrderRejected {
                order: OrderSummary::from(order),
                reason: rejection.clone(),
            },
        );
        self.after_rejection(now, order.strategy(), &rejection);
        rejection
    }

    pub(super) fn after_rejection(
        &mut self,
        now: DateTime<Utc>,
        strategy: &StrategyTag,
        rejection: &Rejection,
    ) {
        let inner = match rejection {
            Rejection::Batch { reason, .. } => reason.as_ref(),
            other => other,
        };
        if let Rejection::DailyLoss { loss, limit } = inner {
            let detail = format!("daily loss {loss} is above the limit of {limit}");
            self.trip(now, BreakerKind::DailyLoss, StateScope::Account, detail);
        }
        if !rejection.counts_for_breaker() {
            return;
        }
        let breakers = self.config.limits().breakers;
        let window = secs(breakers.rejection_window_secs);
        let per_strategy = breakers.rejections_per_strategy;
        let keep = usize::try_from(breakers.max_rejections)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let count =
            self.state
                .rejections
                .record(per_strategy.then_some(strategy), now, window, keep);
        if count > breakers.max_rejections {
            let scope = if per_strategy {
                StateScope::Strategy(strategy.clone())
            } else {
                StateScope::Account
            };
            if self.state.states.get(&scope) != TradingState::Halted {
                let detail = format!(
                    "{count} rejections within {} s (limit {})",
                    breakers.rejection_window_secs, breakers.max_rejections
                );
                self.trip(now, BreakerKind::RejectionStorm, scope, detail);
            }
        }
    }

    /// Saves after a decision; a failed save turns an approval into a rejection.
    pub(super) fn finish<T>(
        &mut self,
        now: DateTime<Utc>,
        result: Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        // A rejection stays what it was even if the save fails (the engine
        // is halted by then anyway).
        let saved = self.persist(now);
        match (result, saved) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(detail)) => Err(Rejection::StateUnavailable { detail }),
            (Err(rejection), _) => Err(rejection),
        }
    }
}

impl RiskEngine {
    /// The checks a new order and a modification share: instrument rules,
    /// trading hours (an off-hours attempt also raises an alert), a fresh
    /// reference price and the collar around it, and the size limits.
    /// Returns the price the order is valued at and its notional.
    pub(super) fn check_entry_price_and_size(
        &self,
        order: &OrderRequest,
        context: &OrderContext,
        quote: Option<Quote>,
        now: DateTime<Utc>,
        alerts: &mut Vec<RiskEventKind>,
    ) -> Result<(Price, Money), Rejection> {
        let limits = self.config.limits();
        self.catalog
            .check_order(order)
            .map_err(Rejection::from_instrument)?;
        if let Err(error) = self
            .calendar
            .check_order_entry(order.exchange(), order.product(), now)
        {
            alerts.push(RiskEventKind::UnusualOrder {
                alert: AlertKind::OffHours,
                action: limits.monitor.off_hours,
                strategy: order.strategy().clone(),
                exchange: order.exchange(),
                symbol: order.symbol().clone(),
                detail: error.to_string(),
            });
            return Err(Rejection::from_hours(error));
        }
        let needs_reference =
            order.price_type() == PriceType::Market || limits.require_reference_for_limit;
        let reference = match checks::fresh_reference(
            order.exchange(),
            order.symbol(),
            context.reference_price,
            quote,
            now,
            limits.quote_max_age_ms,
        ) {
            Ok(price) => Some(price),
            Err(rejection) if needs_reference => return Err(rejection),
            Err(_) => None,
        };
        if let Some(reference) = reference {
            checks::collar_order(order, reference, limits.collar_bps)?;
        }
        let price =
            checks::order_price(order, reference).ok_or_else(|| Rejection::NoFreshReference {
                exchange: order.exchange(),
                symbol: order.symbol().clone(),
                age_ms: None,
                max_age_ms: limits.quote_max_age_ms,
            })?;
        let notional = price.notional(order.quantity());
        checks::max_quantity(order.quantity().get(), limits.max_order_quantity)?;
        checks::max_notional(notional, limits.max_order_notional)?;
        Ok((price, notional))
    }
}
