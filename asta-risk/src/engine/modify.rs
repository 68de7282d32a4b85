//! Modifications and cancels.

use asta_core::{OrderId, OrderRequest};
use chrono::{DateTime, Utc};

use crate::checks;
use crate::config::AlertAction;
use crate::error::{AlertKind, Rejection};
use crate::events::{OrderSummary, RiskEventKind};
use crate::journal::{CancelOutcome, ModifyOutcome, RiskInput};
use crate::rate_limit::{RateLimiter, RateScope};
use crate::state::{SymbolBook, SymbolKey};
use crate::trading_state::TradingState;

use super::*;

impl RiskEngine {
    /// Decides whether an open order may be modified to `new`. The order's
    /// strategy, exchange, symbol, side and product must not change.
    pub fn check_modify(
        &mut self,
        order_id: &OrderId,
        new: &OrderRequest,
        context: &OrderContext,
    ) -> Result<ModifyApproval, Rejection> {
        let now = self.live_now();
        self.journal_room()?;
        let result = self.check_modify_at(now, order_id, new, context);
        self.journal(now, || RiskInput::CheckModify {
            order_id: order_id.clone(),
            order: new.clone(),
            context: *context,
            outcome: ModifyOutcome::of(&result),
        });
        result
    }

    /// [`check_modify`](Self::check_modify) at `now` (live or replayed).
    pub(super) fn check_modify_at(
        &mut self,
        now: DateTime<Utc>,
        order_id: &OrderId,
        new: &OrderRequest,
        context: &OrderContext,
    ) -> Result<ModifyApproval, Rejection> {
        self.roll_day_if_needed(now);
        let mut alerts = Vec::new();
        let result = self.decide_modify(order_id, new, context, now, &mut alerts);
        for alert in alerts {
            self.emit(now, alert);
        }
        let result = match result {
            Ok(warnings) => {
                let modifications = self.commit_modify(order_id, new, now);
                self.emit(
                    now,
                    RiskEventKind::ModifyApproved {
                        order_id: order_id.clone(),
                        order: OrderSummary::from(new),
                        modifications,
                    },
                );
                Ok(ModifyApproval {
                    modifications,
                    warnings,
                })
            }
            Err(rejection) => {
                self.emit(
                    now,
                    RiskEventKind::ModifyRejected {
                        order_id: order_id.clone(),
                        reason: rejection.clone(),
                    },
                );
                self.after_rejection(now, new.strategy(), &rejection);
                Err(rejection)
            }
        };
        self.finish(now, result)
    }

    pub(super) fn decide_modify(
        &self,
        order_id: &OrderId,
        new: &OrderRequest,
        context: &OrderContext,
        now: DateTime<Utc>,
        alerts: &mut Vec<RiskEventKind>,
    ) -> Result<Vec<AlertKind>, Rejection> {
        if let Some(detail) = &self.save_error {
            return Err(Rejection::StateUnavailable {
                detail: detail.clone(),
            });
        }
        let limits = self.config.limits();
        let open = self
            .state
            .open_orders
            .get(order_id)
            .ok_or_else(|| Rejection::UnknownOrder {
                order_id: order_id.clone(),
            })?;
        let old = &open.order;
        let changed = |field| {
            Err(Rejection::ModifyChangesIdentity {
                order_id: order_id.clone(),
                field,
            })
        };
        if old.strategy() != new.strategy() {
            return changed("strategy");
        }
        if old.exchange() != new.exchange() {
            return changed("exchange");
        }
        if old.symbol() != new.symbol() {
            return changed("symbol");
        }
        if old.side() != new.side() {
            return changed("side");
        }
        if old.product() != new.product() {
            return changed("product");
        }
        let key: SymbolKey = (new.exchange(), new.symbol().clone());
        let empty = SymbolBook::default();
        let book = self.state.book.get(&key).unwrap_or(&empty);
        let mut without = book.clone();
        without.remove_open(old.side(), open.counted);
        let quantity = new.quantity().get();
        let reduces = without.reduces(new.product(), new.side(), quantity);

        let (state, scope) = self.state.states.effective(new.strategy());
        match state {
            TradingState::Active => {}
            TradingState::Reducing if reduces => {}
            TradingState::Reducing => return Err(Rejection::ReducingOnly { scope, state }),
            _ => return Err(Rejection::Halted { scope }),
        }

        let cap = limits.rate_limits.max_modifications_per_order;
        if open.modifications >= cap {
            return Err(Rejection::ModificationLimit {
                order_id: order_id.clone(),
                modifications: open.modifications,
                limit: cap,
            });
        }

        let mut warnings = Vec::new();
        let monitor = &limits.monitor;
        let window_start = now - secs(monitor.rapid_modification_window_secs);
        let recent = open
            .modify_times
            .iter()
            .filter(|t| **t > window_start)
            .count();
        let recent = u32::try_from(recent).unwrap_or(u32::MAX).saturating_add(1);
        if recent > monitor.rapid_modifications {
            let detail = format!(
                "{recent} modifications of {order_id} within {} s (limit {})",
                monitor.rapid_modification_window_secs, monitor.rapid_modifications
            );
            alerts.push(RiskEventKind::UnusualOrder {
                alert: AlertKind::RapidModifications,
                action: monitor.rapid_modification,
                strategy: new.strategy().clone(),
                exchange: new.exchange(),
                symbol: new.symbol().clone(),
                detail: detail.clone(),
            });
            match monitor.rapid_modification {
                AlertAction::Warn => warnings.push(AlertKind::RapidModifications),
                _ => {
                    return Err(Rejection::UnusualOrder {
                        alert: AlertKind::RapidModifications,
                        detail,
                    });
                }
            }
        }

        let (price, _notional) =
            self.check_entry_price_and_size(new, context, book.quote, now, alerts)?;
        if !reduces && quantity > open.counted {
            let loss = self
                .state
                .day_loss()
                .ok_or(Rejection::Overflow { what: "daily P&L" })?;
            checks::daily_loss(loss, self.config.daily_loss_cap())?;
        }
        self.check_exposure(
            new.symbol(),
            book,
            Some((old.side(), open.counted)),
            (new.side(), quantity),
            price,
        )?;
        if limits.rate_limits.count_modifications {
            self.check_rates(new.strategy(), new.exchange(), now, 1)?;
        }
        Ok(warnings)
    }

    pub(super) fn commit_modify(
        &mut self,
        order_id: &OrderId,
        new: &OrderRequest,
        now: DateTime<Utc>,
    ) -> u32 {
        let limits = self.config.limits();
        let window_start = now - secs(limits.monitor.rapid_modification_window_secs);
        if limits.rate_limits.count_modifications {
            self.record_scopes(Self::rate_scopes(new.strategy(), new.exchange()), now, 1);
        }
        let Some(open) = self.state.open_orders.get_mut(order_id) else {
            return 0;
        };
        let old_side = open.order.side();
        let old_counted = open.counted;
        open.modifications = open.modifications.saturating_add(1);
        while open
            .modify_times
            .front()
            .is_some_and(|t| *t <= window_start)
        {
            open.modify_times.pop_front();
        }
        open.modify_times.push_back(now);
        open.order = new.clone();
        open.counted = new.quantity().get();
        let modifications = open.modifications;
        let book = self
            .state
            .book
            .entry((new.exchange(), new.symbol().clone()))
            .or_default();
        book.remove_open(old_side, old_counted);
        book.add_open(new.side(), new.quantity().get());
        modifications
    }

    /// Decides a cancel. Cancels pass in every trading state, HALTED
    /// included. When the configuration counts cancels, they use rate
    /// capacity and a cancel over the limit is denied.
    ///
    /// A journaled engine records a cancel even when its journal is full:
    /// cutting risk is never refused for a backlog.
    pub fn check_cancel(&mut self, order_id: &OrderId) -> Result<CancelApproval, Rejection> {
        let now = self.live_now();
        let result = self.check_cancel_at(now, order_id);
        self.journal(now, || RiskInput::CheckCancel {
            order_id: order_id.clone(),
            outcome: CancelOutcome::of(&result),
        });
        result
    }

    /// [`check_cancel`](Self::check_cancel) at `now` (live or replayed).
    pub(super) fn check_cancel_at(
        &mut self,
        now: DateTime<Utc>,
        order_id: &OrderId,
    ) -> Result<CancelApproval, Rejection> {
        self.roll_day_if_needed(now);
        let counted = self.config.limits().rate_limits.count_cancels;
        if counted {
            let scopes: Vec<RateScope> = match self.state.open_orders.get(order_id) {
                Some(open) => {
                    Self::rate_scopes(open.order.strategy(), open.order.exchange()).to_vec()
                }
                None => vec![RateScope::Account],
            };
            if let Err(reason) = self.check_scopes(&scopes, now, 1) {
                self.emit(
                    now,
                    RiskEventKind::CancelDenied {
                        order_id: order_id.clone(),
                        reason: reason.clone(),
                    },
                );
                let _ = self.persist(now);
                return Err(reason);
            }
            for scope in scopes {
                let limits = self.limits_for(&scope);
                self.state
                    .rates
                    .entry(scope)
                    .or_insert_with(|| RateLimiter::new(limits))
                    .record(now, 1);
            }
        }
        self.emit(
            now,
            RiskEventKind::CancelAllowed {
                order_id: order_id.clone(),
                counted,
            },
        );
        // A cancel is never refused for a failed save: cutting risk must work.
        let _ = self.persist(now);
        Ok(CancelApproval { counted })
    }
}
