//! Inputs from the broker side: quotes, fills, order lifecycle, failures, logins.

use asta_core::{Clock, Exchange, OrderId, OrderRequest, Price, Symbol};
use chrono::{DateTime, Utc};

use crate::breaker::BreakerKind;
use crate::events::RiskEventKind;
use crate::journal::RiskInput;
use crate::monitor::LoginVerdict;
use crate::state::{OpenOrder, Quote, SymbolKey};
use crate::trading_state::StateScope;

use super::*;

impl RiskEngine {
    /// Records a reference (last traded) price, stamped with the clock's time.
    /// Prices for instruments outside the catalog and zero prices are ignored.
    /// May trip the daily-loss breaker (marks move the day's P&L).
    pub fn update_quote(&mut self, exchange: Exchange, symbol: &Symbol, price: Price) {
        let now = self.live_now();
        self.update_quote_at(now, exchange, symbol, price);
        self.journal(now, || RiskInput::UpdateQuote {
            exchange,
            symbol: symbol.clone(),
            price,
        });
    }

    pub(super) fn update_quote_at(
        &mut self,
        now: DateTime<Utc>,
        exchange: Exchange,
        symbol: &Symbol,
        price: Price,
    ) {
        self.roll_day_if_needed(now);
        if price == Price::ZERO || self.catalog.get(exchange, symbol).is_err() {
            tracing::debug!(%exchange, %symbol, "quote ignored: zero price or unknown instrument");
            return;
        }
        let book = self
            .state
            .book
            .entry((exchange, symbol.clone()))
            .or_default();
        book.quote = Some(Quote { price, at: now });
        book.mark = Some(price);
        if self.evaluate_daily_loss(now) {
            let _ = self.persist(now);
        }
    }

    /// Records a fill: position, realized P&L, open quantity of the order,
    /// and the mark (the fill price is the latest traded price known until
    /// the next quote). May trip the daily-loss breaker.
    pub fn record_fill(&mut self, fill: &FillReport) {
        let now = self.live_now();
        self.record_fill_at(now, fill);
        self.journal(now, || RiskInput::RecordFill { fill: fill.clone() });
    }

    pub(super) fn record_fill_at(&mut self, now: DateTime<Utc>, fill: &FillReport) {
        self.roll_day_if_needed(now);
        let key: SymbolKey = (fill.exchange, fill.symbol.clone());
        let quantity = fill.quantity.get();
        if let Some(order_id) = &fill.order_id
            && let Some(open) = self.state.open_orders.get_mut(order_id)
        {
            let filled = quantity.min(open.counted);
            open.counted -= filled;
            let side = open.order.side();
            self.state
                .book
                .entry(key.clone())
                .or_default()
                .remove_open(side, filled);
        }
        let book = self.state.book.entry(key.clone()).or_default();
        match book.apply_fill(fill.product, fill.side, quantity, fill.price) {
            Some(realized) => {
                self.state.monitor.mark_seen(&fill.strategy, &key);
                self.emit(
                    now,
                    RiskEventKind::FillRecorded {
                        strategy: fill.strategy.clone(),
                        exchange: fill.exchange,
                        symbol: fill.symbol.clone(),
                        product: fill.product,
                        side: fill.side,
                        quantity: fill.quantity,
                        price: fill.price,
                        realized,
                    },
                );
                self.evaluate_daily_loss(now);
            }
            None => {
                let detail = format!(
                    "position arithmetic overflowed for {}:{}; the position is unknown",
                    fill.exchange, fill.symbol
                );
                self.trip(now, BreakerKind::ManualHalt, StateScope::Account, detail);
            }
        }
        let _ = self.persist(now);
    }

    /// Records that an order is open at the broker. With the approval's
    /// ticket, the pending approval becomes this open order; without one
    /// (an order found while reconciling), the order is added. Calling it
    /// again for the same id replaces the record (use it to sync after a
    /// modification the broker refused).
    pub fn order_opened(
        &mut self,
        order_id: OrderId,
        order: &OrderRequest,
        ticket: Option<ApprovalTicket>,
    ) {
        let now = self.live_now();
        // The approval's own order need not be written again: replay
        // finds it under the ticket (checked before the approval is used).
        let approved_as_is = ticket.is_some_and(|ApprovalTicket(t)| {
            self.state
                .pending
                .get(&t)
                .is_some_and(|pending| pending == order)
        });
        self.order_opened_at(now, order_id.clone(), order, ticket);
        self.journal(now, || RiskInput::OrderOpened {
            order_id,
            order: (!approved_as_is).then(|| order.clone()),
            ticket: ticket.map(ApprovalTicket::get),
        });
    }

    pub(super) fn order_opened_at(
        &mut self,
        now: DateTime<Utc>,
        order_id: OrderId,
        order: &OrderRequest,
        ticket: Option<ApprovalTicket>,
    ) {
        self.roll_day_if_needed(now);
        if let Some(ApprovalTicket(ticket)) = ticket
            && let Some(pending) = self.state.pending.remove(&ticket)
        {
            self.state
                .book
                .entry((pending.exchange(), pending.symbol().clone()))
                .or_default()
                .remove_open(pending.side(), pending.quantity().get());
        }
        let mut record = OpenOrder {
            order: order.clone(),
            counted: order.quantity().get(),
            modifications: 0,
            modify_times: Default::default(),
        };
        if let Some(previous) = self.state.open_orders.remove(&order_id) {
            self.state
                .book
                .entry((previous.order.exchange(), previous.order.symbol().clone()))
                .or_default()
                .remove_open(previous.order.side(), previous.counted);
            record.modifications = previous.modifications;
            record.modify_times = previous.modify_times;
        }
        self.state
            .book
            .entry((order.exchange(), order.symbol().clone()))
            .or_default()
            .add_open(order.side(), order.quantity().get());
        self.state.open_orders.insert(order_id, record);
        let _ = self.persist(now);
    }

    /// Releases an approval whose order was definitely not placed (the
    /// broker rejected it). Do not release an order whose outcome is
    /// unknown: reconcile it and call [`order_opened`](Self::order_opened).
    pub fn release_approval(&mut self, ticket: ApprovalTicket) {
        let now = self.live_now();
        self.release_approval_at(now, ticket);
        self.journal(now, || RiskInput::ReleaseApproval {
            ticket: ticket.get(),
        });
    }

    pub(super) fn release_approval_at(&mut self, now: DateTime<Utc>, ticket: ApprovalTicket) {
        if let Some(pending) = self.state.pending.remove(&ticket.0) {
            self.state
                .book
                .entry((pending.exchange(), pending.symbol().clone()))
                .or_default()
                .remove_open(pending.side(), pending.quantity().get());
            let _ = self.persist(now);
        }
    }

    /// Records that an order is no longer open (filled, cancelled, rejected
    /// or expired). Record its fills first.
    pub fn order_closed(&mut self, order_id: &OrderId) {
        let now = self.live_now();
        self.order_closed_at(now, order_id);
        self.journal(now, || RiskInput::OrderClosed {
            order_id: order_id.clone(),
        });
    }

    pub(super) fn order_closed_at(&mut self, now: DateTime<Utc>, order_id: &OrderId) {
        if let Some(open) = self.state.open_orders.remove(order_id) {
            self.state
                .book
                .entry((open.order.exchange(), open.order.symbol().clone()))
                .or_default()
                .remove_open(open.order.side(), open.counted);
            let _ = self.persist(now);
        }
    }

    /// The caller could not write its audit trail: halts the account (latched).
    pub fn report_audit_failure(&mut self, detail: &str) {
        let now = self.live_now();
        self.report_audit_failure_at(now, detail);
        self.journal(now, || RiskInput::AuditFailure {
            detail: detail.to_owned(),
        });
    }

    pub(super) fn report_audit_failure_at(&mut self, now: DateTime<Utc>, detail: &str) {
        self.emit(
            now,
            RiskEventKind::AuditFailureReported {
                detail: detail.to_owned(),
            },
        );
        self.trip(
            now,
            BreakerKind::AuditFailure,
            StateScope::Account,
            detail.to_owned(),
        );
        let _ = self.persist(now);
    }

    /// The broker refused authentication: halts the account (latched).
    pub fn report_auth_failure(&mut self, detail: &str) {
        let now = self.live_now();
        self.report_auth_failure_at(now, detail);
        self.journal(now, || RiskInput::AuthFailure {
            detail: detail.to_owned(),
        });
    }

    pub(super) fn report_auth_failure_at(&mut self, now: DateTime<Utc>, detail: &str) {
        self.emit(
            now,
            RiskEventKind::AuthFailureReported {
                detail: detail.to_owned(),
            },
        );
        self.trip(
            now,
            BreakerKind::AuthFailure,
            StateScope::Account,
            detail.to_owned(),
        );
        let _ = self.persist(now);
    }

    /// Records a failed login from `source` (an address or user name). More
    /// than the configured number within the window blocks the source and
    /// raises a SECURITY event.
    pub fn record_failed_login(&mut self, source: &str) -> LoginVerdict {
        let now = self.live_now();
        let verdict = self.record_failed_login_at(now, source);
        self.journal(now, || RiskInput::FailedLogin {
            source: crate::monitor::normalize_source(source).to_owned(),
        });
        verdict
    }

    pub(super) fn record_failed_login_at(
        &mut self,
        now: DateTime<Utc>,
        source: &str,
    ) -> LoginVerdict {
        let monitor = self.config.limits().monitor;
        self.state.monitor.prune_logins(now, &monitor);
        let verdict = self
            .state
            .monitor
            .record_failed_login(source, now, &monitor);
        let source = crate::monitor::normalize_source(source).to_owned();
        self.emit(
            now,
            RiskEventKind::FailedLogin {
                source: source.clone(),
                failures: verdict.failures,
            },
        );
        if verdict.newly_blocked
            && let Some(until) = verdict.blocked_until
        {
            tracing::warn!(%source, failures = verdict.failures, %until, "login source blocked");
            self.emit(
                now,
                RiskEventKind::LoginSourceBlocked {
                    source,
                    failures: verdict.failures,
                    until,
                },
            );
        }
        let _ = self.persist(now);
        verdict
    }

    /// Until when `source` is blocked, if it is: refuse its logins until then.
    pub fn login_blocked_until(&self, source: &str) -> Option<DateTime<Utc>> {
        self.state.monitor.blocked_until(source, self.clock.now())
    }
}
