//! The trading state machine: Active, Reducing, Halted, per account and strategy.

use std::collections::BTreeMap;
use std::fmt;

use asta_core::StrategyTag;
use serde::{Deserialize, Serialize};

/// What a scope may do.
///
/// Ordered from least to most restrictive, so `max` of two states is the
/// stricter one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum TradingState {
    /// Every check applies; orders may open or grow positions.
    Active,
    /// Only orders that reduce an existing position (and cancels).
    Reducing,
    /// Only cancels. Leaving it needs an operator reset with TOTP.
    Halted,
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TradingState::Active => "ACTIVE",
            TradingState::Reducing => "REDUCING",
            TradingState::Halted => "HALTED",
        })
    }
}

/// Whose trading state: the whole account or one strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum StateScope {
    /// The whole account.
    Account,
    /// One strategy.
    Strategy(StrategyTag),
}

impl fmt::Display for StateScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateScope::Account => f.write_str("the account"),
            StateScope::Strategy(tag) => write!(f, "strategy {tag}"),
        }
    }
}

/// The states of the account and of strategies that have one of their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateBook {
    pub(crate) account: StateEntry,
    pub(crate) strategies: BTreeMap<StrategyTag, StateEntry>,
}

/// One scope's state and the reason it was last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateEntry {
    pub(crate) state: TradingState,
    pub(crate) reason: String,
}

impl Default for StateEntry {
    fn default() -> Self {
        Self {
            state: TradingState::Active,
            reason: "initial state".to_owned(),
        }
    }
}

impl StateBook {
    /// The state of `scope`.
    pub(crate) fn get(&self, scope: &StateScope) -> TradingState {
        match scope {
            StateScope::Account => self.account.state,
            StateScope::Strategy(tag) => self
                .strategies
                .get(tag)
                .map_or(TradingState::Active, |e| e.state),
        }
    }

    /// The stricter of the account's and the strategy's state, and the scope
    /// that imposes it (the account wins ties).
    pub(crate) fn effective(&self, strategy: &StrategyTag) -> (TradingState, StateScope) {
        let account = self.account.state;
        let own = self
            .strategies
            .get(strategy)
            .map_or(TradingState::Active, |e| e.state);
        if own > account {
            (own, StateScope::Strategy(strategy.clone()))
        } else {
            (account, StateScope::Account)
        }
    }

    /// Sets `scope` to `state`; returns the previous state.
    pub(crate) fn set(
        &mut self,
        scope: &StateScope,
        state: TradingState,
        reason: &str,
    ) -> TradingState {
        let entry = StateEntry {
            state,
            reason: reason.to_owned(),
        };
        match scope {
            StateScope::Account => std::mem::replace(&mut self.account, entry).state,
            StateScope::Strategy(tag) => {
                if state == TradingState::Active {
                    self.strategies
                        .remove(tag)
                        .map_or(TradingState::Active, |e| e.state)
                } else {
                    self.strategies
                        .insert(tag.clone(), entry)
                        .map_or(TradingState::Active, |e| e.state)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stricter_state_wins() {
        let tag = StrategyTag::new("s1").unwrap();
        let mut book = StateBook::default();
        assert_eq!(book.effective(&tag).0, TradingState::Active);
        book.set(
            &StateScope::Strategy(tag.clone()),
            TradingState::Reducing,
            "x",
        );
        assert_eq!(
            book.effective(&tag),
            (TradingState::Reducing, StateScope::Strategy(tag.clone()))
        );
        book.set(&StateScope::Account, TradingState::Halted, "stop");
        assert_eq!(
            book.effective(&tag),
            (TradingState::Halted, StateScope::Account)
        );
        let other = StrategyTag::new("s2").unwrap();
        assert_eq!(book.effective(&other).0, TradingState::Halted);
        assert!(TradingState::Halted > TradingState::Reducing);
        assert!(TradingState::Reducing > TradingState::Active);
    }
}
