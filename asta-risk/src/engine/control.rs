//! Trading states, latched breakers, operator resets and the IST day.

use asta_core::{Money, StrategyTag};
use chrono::{DateTime, Utc};

use crate::breaker::{BreakerKind, LatchedBreaker, TotpVerifier, valid_operator};
use crate::error::ResetError;
use crate::events::RiskEventKind;
use crate::journal::{ResetOutcome, RiskInput};
use crate::rate_limit::ist_date;
use crate::trading_state::{StateScope, TradingState};

use super::*;

impl RiskEngine {
    /// Halts the account (the emergency stop). Latched and persisted.
    pub fn halt(&mut self, reason: &str) {
        self.halt_scope(StateScope::Account, reason);
    }

    /// Halts one strategy. Latched and persisted.
    pub fn halt_strategy(&mut self, strategy: &StrategyTag, reason: &str) {
        self.halt_scope(StateScope::Strategy(strategy.clone()), reason);
    }

    fn halt_scope(&mut self, scope: StateScope, reason: &str) {
        let now = self.live_now();
        self.halt_at(now, scope.clone(), reason);
        self.journal(now, || RiskInput::Halt {
            scope,
            reason: reason.to_owned(),
        });
    }

    pub(super) fn halt_at(&mut self, now: DateTime<Utc>, scope: StateScope, reason: &str) {
        self.trip(now, BreakerKind::ManualHalt, scope, reason.to_owned());
        let _ = self.persist(now);
    }

    /// Halts the account because a replay diverged (latched).
    pub(super) fn divergence_halt_at(&mut self, now: DateTime<Utc>, detail: &str) {
        tracing::error!(%detail, "risk replay diverged; trading halted");
        self.trip(
            now,
            BreakerKind::ReplayDivergence,
            StateScope::Account,
            detail.to_owned(),
        );
        let _ = self.persist(now);
    }

    /// Restricts `scope` to reducing orders. Only tightens: a HALTED scope
    /// stays HALTED. Loosening (back to ACTIVE) needs [`reset_scope`](Self::reset_scope).
    pub fn set_reducing(&mut self, scope: StateScope, reason: &str) {
        let now = self.live_now();
        self.set_reducing_at(now, &scope, reason);
        self.journal(now, || RiskInput::SetReducing {
            scope,
            reason: reason.to_owned(),
        });
    }

    pub(super) fn set_reducing_at(&mut self, now: DateTime<Utc>, scope: &StateScope, reason: &str) {
        if self.state.states.get(scope) == TradingState::Active {
            self.change_state(now, scope, TradingState::Reducing, reason);
            let _ = self.persist(now);
        }
    }

    /// Operator reset of the account to ACTIVE, authorized by TOTP. Clears
    /// the account's latched breakers.
    pub fn reset(
        &mut self,
        operator: &str,
        totp_code: &str,
        verifier: &dyn TotpVerifier,
    ) -> Result<(), ResetError> {
        self.reset_scope(
            StateScope::Account,
            TradingState::Active,
            operator,
            totp_code,
            verifier,
        )
    }

    /// Operator reset of `scope` to `target` (ACTIVE or REDUCING), authorized
    /// by TOTP. Clears the scope's latched breakers and rejection history.
    ///
    /// A reset of the account to ACTIVE is refused while the day's loss is
    /// still above its limit; reset to REDUCING to close positions instead.
    /// Every attempt is a SECURITY event; the code is never recorded. A
    /// journaled engine records the attempt as applied or refused (never the
    /// code): a replay applies an applied reset without asking a verifier.
    pub fn reset_scope(
        &mut self,
        scope: StateScope,
        target: TradingState,
        operator: &str,
        totp_code: &str,
        verifier: &dyn TotpVerifier,
    ) -> Result<(), ResetError> {
        let now = self.live_now();
        let result = self.reset_scope_at(
            now,
            scope.clone(),
            target,
            operator,
            Some((totp_code, verifier)),
        );
        self.journal(now, || RiskInput::Reset {
            operator: shown_operator(operator),
            scope,
            target,
            outcome: ResetOutcome::of(&result),
        });
        result
    }

    /// [`reset_scope`](Self::reset_scope) at `now`. With `totp` absent (a
    /// replay of a reset that was authorized), every check but the TOTP
    /// code runs.
    pub(super) fn reset_scope_at(
        &mut self,
        now: DateTime<Utc>,
        scope: StateScope,
        target: TradingState,
        operator: &str,
        totp: Option<(&str, &dyn TotpVerifier)>,
    ) -> Result<(), ResetError> {
        self.roll_day_if_needed(now);
        let result = self.authorize_reset(&scope, target, operator, totp);
        let shown_operator = shown_operator(operator);
        if let Err(error) = result {
            tracing::warn!(operator = %shown_operator, %scope, %error, "reset refused");
            self.emit(
                now,
                RiskEventKind::ResetRefused {
                    operator: shown_operator,
                    scope,
                    reason: error.to_string(),
                },
            );
            let _ = self.persist(now);
            return Err(error);
        }
        let mut cleared = Vec::new();
        self.state.breakers.retain(|b| {
            if b.scope == scope {
                cleared.push(b.kind);
                false
            } else {
                true
            }
        });
        self.state.rejections.clear(&scope);
        if scope == StateScope::Account {
            if target == TradingState::Active {
                // Back to ACTIVE, the acknowledged breach is over: a new one
                // trips the breaker again, even while REDUCING.
                self.state.loss_acknowledged = None;
            } else if cleared.contains(&BreakerKind::DailyLoss) {
                self.state.loss_acknowledged = Some(self.state.day);
            }
        }
        let reason = format!("operator reset by {shown_operator}");
        self.change_state(now, &scope, target, &reason);
        tracing::info!(operator = %shown_operator, %scope, %target, "reset authorized");
        self.emit(
            now,
            RiskEventKind::ResetAuthorized {
                operator: shown_operator,
                scope,
                to: target,
                cleared,
            },
        );
        self.save_error = None;
        match self.persist(now) {
            Ok(()) => Ok(()),
            Err(detail) => Err(ResetError::StateUnavailable { detail }),
        }
    }

    /// Replays a reset that was refused: the day roll and the refusal event,
    /// nothing else (the refusal may have been the TOTP code's, which a
    /// replay cannot check).
    pub(super) fn replay_refused_reset_at(
        &mut self,
        now: DateTime<Utc>,
        operator: &str,
        scope: StateScope,
        reason: &str,
    ) {
        self.roll_day_if_needed(now);
        self.emit(
            now,
            RiskEventKind::ResetRefused {
                operator: shown_operator(operator),
                scope,
                reason: reason.to_owned(),
            },
        );
        let _ = self.persist(now);
    }

    pub(super) fn authorize_reset(
        &self,
        scope: &StateScope,
        target: TradingState,
        operator: &str,
        totp: Option<(&str, &dyn TotpVerifier)>,
    ) -> Result<(), ResetError> {
        if !valid_operator(operator) {
            return Err(ResetError::BadOperator {
                len: operator.len(),
            });
        }
        if target == TradingState::Halted {
            return Err(ResetError::BadTarget { target });
        }
        let state = self.state.states.get(scope);
        if state <= target {
            return Err(ResetError::NothingToReset {
                scope: scope.clone(),
                state,
                target,
            });
        }
        if *scope == StateScope::Account && target == TradingState::Active {
            let loss = self
                .state
                .day_loss()
                .unwrap_or(Money::from_units(i128::MAX));
            let cap = self.config.daily_loss_cap();
            if loss > cap {
                return Err(ResetError::ConditionPersists {
                    condition: format!("daily loss {loss} is still above the limit of {cap}"),
                });
            }
        }
        if let Some((code, verifier)) = totp {
            verifier.verify(operator, code)?;
        }
        Ok(())
    }

    /// Latches a breaker and halts its scope.
    pub(super) fn trip(
        &mut self,
        now: DateTime<Utc>,
        kind: BreakerKind,
        scope: StateScope,
        detail: String,
    ) {
        tracing::warn!(breaker = %kind, %scope, %detail, "breaker tripped");
        self.state.breakers.push(LatchedBreaker {
            kind,
            scope: scope.clone(),
            at: now,
            detail: detail.clone(),
        });
        self.emit(
            now,
            RiskEventKind::BreakerTripped {
                breaker: kind,
                scope: scope.clone(),
                detail: detail.clone(),
            },
        );
        let reason = format!("{kind}: {detail}");
        self.change_state(now, &scope, TradingState::Halted, &reason);
    }

    pub(super) fn change_state(
        &mut self,
        now: DateTime<Utc>,
        scope: &StateScope,
        to: TradingState,
        reason: &str,
    ) {
        let from = self.state.states.set(scope, to, reason);
        if from != to {
            self.emit(
                now,
                RiskEventKind::StateChanged {
                    scope: scope.clone(),
                    from,
                    to,
                    reason: reason.to_owned(),
                },
            );
        }
    }

    /// Trips the daily-loss breaker if the day's loss is above its cap,
    /// unless the account is already HALTED, or REDUCING after an operator
    /// acknowledged today's breach with a reset. Returns whether it tripped.
    pub(super) fn evaluate_daily_loss(&mut self, now: DateTime<Utc>) -> bool {
        match self.state.states.account.state {
            TradingState::Active => {}
            TradingState::Reducing if self.state.loss_acknowledged != Some(self.state.day) => {}
            _ => return false,
        }
        let cap = self.config.daily_loss_cap();
        let detail = match self.state.day_loss() {
            Some(loss) if loss <= cap => return false,
            Some(loss) => format!("daily loss {loss} is above the limit of {cap}"),
            None => "daily P&L overflowed; the loss is unknown".to_owned(),
        };
        self.trip(now, BreakerKind::DailyLoss, StateScope::Account, detail);
        true
    }

    /// Starts a new IST day if `now` is in one: daily P&L and per-day rate
    /// counts reset; trading states and latched breakers do not.
    pub(super) fn roll_day_if_needed(&mut self, now: DateTime<Utc>) {
        let today = ist_date(now);
        if today <= self.state.day {
            return;
        }
        let from = self.state.day;
        self.state.day = today;
        for book in self.state.book.values_mut() {
            book.roll_day();
        }
        self.state.book.retain(|_, b| {
            b.quote.is_some() || !b.positions.is_empty() || b.open_buy > 0 || b.open_sell > 0
        });
        self.state.rates.retain(|_, limiter| !limiter.is_idle(now));
        self.state
            .monitor
            .prune_logins(now, &self.config.limits().monitor);
        let halt_kept = self.state.states.account.state == TradingState::Halted;
        tracing::info!(%from, to = %today, halt_kept, "new IST trading day");
        self.emit(
            now,
            RiskEventKind::DayRolledOver {
                from,
                to: today,
                halt_kept,
            },
        );
        let _ = self.persist(now);
    }
}

/// The operator as events and the journal show it.
fn shown_operator(operator: &str) -> String {
    if valid_operator(operator) {
        operator.to_owned()
    } else {
        "<invalid>".to_owned()
    }
}
