//! The operator snapshot (`asta risk status`).

use std::path::PathBuf;

use asta_core::{Clock, Exchange, Money, Price, Product, Symbol};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::breaker::LatchedBreaker;
use crate::config::WindowLimits;
use crate::rate_limit::{RateScope, RateUsage};
use crate::trading_state::{StateScope, TradingState};

use super::RiskEngine;

/// One scope's trading state in a status snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeStatus {
    /// The scope.
    pub scope: StateScope,
    /// Its state.
    pub state: TradingState,
    /// Why.
    pub reason: String,
}

/// One position in a status snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionStatus {
    /// Exchange.
    pub exchange: Exchange,
    /// Symbol.
    pub symbol: Symbol,
    /// Product.
    pub product: Product,
    /// Signed net quantity.
    pub net: i128,
    /// Last mark.
    pub mark: Option<Price>,
    /// Realized P&L today.
    pub realized_today: Money,
}

/// One rate scope in a status snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateStatus {
    /// The scope.
    pub scope: RateScope,
    /// Usage now.
    pub usage: RateUsage,
    /// Limits.
    pub limits: WindowLimits,
}

/// A snapshot of the engine for `asta risk status` (serializable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskStatus {
    /// When the snapshot was taken.
    pub at: DateTime<Utc>,
    /// The IST trading day.
    pub day: NaiveDate,
    /// The account's state.
    pub account: ScopeStatus,
    /// Strategies with a state of their own.
    pub strategies: Vec<ScopeStatus>,
    /// Latched breakers.
    pub breakers: Vec<LatchedBreaker>,
    /// Realized P&L today.
    pub realized_pnl: Money,
    /// Mark-to-market P&L of open positions (since the previous day's mark).
    pub unrealized_pnl: Money,
    /// The day's loss (zero when P&L is positive).
    pub daily_loss: Money,
    /// Its limit.
    pub daily_loss_limit: Money,
    /// Worst-case gross exposure.
    pub gross_exposure: Money,
    /// Its limit.
    pub gross_exposure_limit: Money,
    /// Open orders.
    pub open_orders: usize,
    /// Approvals not yet opened or released.
    pub pending_approvals: usize,
    /// The open-order limit.
    pub max_open_orders: u32,
    /// Positions.
    pub positions: Vec<PositionStatus>,
    /// Rate usage per active scope.
    pub rates: Vec<RateStatus>,
    /// Blocked login sources and until when.
    pub blocked_sources: Vec<(String, DateTime<Utc>)>,
    /// The state file, if any.
    pub state_file: Option<PathBuf>,
    /// The last save error, if the last save failed.
    pub state_save_error: Option<String>,
}

impl RiskEngine {
    /// The ids of the orders the engine counts as open at the broker (for
    /// reconciliation after a restart: an order in this list is known).
    pub fn open_order_ids(&self) -> Vec<asta_core::OrderId> {
        self.state.open_orders.keys().cloned().collect()
    }

    /// A snapshot for operators (`asta risk status`).
    pub fn status(&self) -> RiskStatus {
        let now = self.clock.now();
        let (realized, unrealized) = self.state.day_pnl().unwrap_or((Money::ZERO, Money::ZERO));
        let mut positions: Vec<PositionStatus> = self
            .state
            .book
            .iter()
            .flat_map(|((exchange, symbol), book)| {
                book.positions.iter().map(move |p| PositionStatus {
                    exchange: *exchange,
                    symbol: symbol.clone(),
                    product: p.product,
                    net: p.net,
                    mark: book.mark,
                    realized_today: p.realized_today,
                })
            })
            .collect();
        positions.sort_by(|a, b| {
            (a.exchange, &a.symbol, a.product).cmp(&(b.exchange, &b.symbol, b.product))
        });
        let mut rates: Vec<RateStatus> = self
            .state
            .rates
            .iter()
            .map(|(scope, limiter)| RateStatus {
                scope: scope.clone(),
                usage: limiter.usage(now),
                limits: limiter.limits(),
            })
            .collect();
        rates.sort_by(|a, b| a.scope.cmp(&b.scope));
        let mut blocked_sources: Vec<(String, DateTime<Utc>)> = self
            .state
            .monitor
            .logins
            .iter()
            .filter_map(|(source, t)| {
                t.blocked_until
                    .filter(|u| *u > now)
                    .map(|u| (source.clone(), u))
            })
            .collect();
        blocked_sources.sort();
        RiskStatus {
            at: now,
            day: self.state.day,
            account: ScopeStatus {
                scope: StateScope::Account,
                state: self.state.states.account.state,
                reason: self.state.states.account.reason.clone(),
            },
            strategies: self
                .state
                .states
                .strategies
                .iter()
                .map(|(tag, entry)| ScopeStatus {
                    scope: StateScope::Strategy(tag.clone()),
                    state: entry.state,
                    reason: entry.reason.clone(),
                })
                .collect(),
            breakers: self.state.breakers.clone(),
            realized_pnl: realized,
            unrealized_pnl: unrealized,
            daily_loss: self.state.day_loss().unwrap_or(Money::ZERO),
            daily_loss_limit: self.config.daily_loss_cap(),
            gross_exposure: self.state.gross_exposure().unwrap_or(Money::ZERO),
            gross_exposure_limit: self.config.limits().max_gross_exposure,
            open_orders: self.state.open_orders.len(),
            pending_approvals: self.state.pending.len(),
            max_open_orders: self.config.limits().max_open_orders,
            positions,
            rates,
            blocked_sources,
            state_file: self.state_file().map(PathBuf::from),
            state_save_error: self.save_error.clone(),
        }
    }
}
