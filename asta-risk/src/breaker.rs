//! Latched breakers, the rejection-storm tracker, and the TOTP verifier trait.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use asta_core::StrategyTag;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::TotpRejection;
use crate::trading_state::StateScope;

/// What tripped a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum BreakerKind {
    /// The day's loss went above its cap.
    DailyLoss,
    /// Too many rejections within the window.
    RejectionStorm,
    /// The caller could not write its audit trail.
    AuditFailure,
    /// The broker refused authentication.
    AuthFailure,
    /// An operator or the emergency stop halted trading.
    ManualHalt,
    /// The risk state could not be saved.
    StateSaveFailure,
    /// The engine started from a recovered (previously corrupt) state.
    StateRecovered,
    /// A restore replayed a decision that came out differently from the
    /// recorded one (the configuration, catalog or calendar changed).
    ReplayDivergence,
}

impl fmt::Display for BreakerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakerKind::DailyLoss => "daily loss",
            BreakerKind::RejectionStorm => "rejection storm",
            BreakerKind::AuditFailure => "audit failure",
            BreakerKind::AuthFailure => "broker authentication failure",
            BreakerKind::ManualHalt => "manual halt",
            BreakerKind::StateSaveFailure => "risk state save failure",
            BreakerKind::StateRecovered => "recovered from a corrupt state file",
            BreakerKind::ReplayDivergence => "replay diverged from the recorded decisions",
        })
    }
}

/// A tripped breaker. It stays until an operator reset clears its scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatchedBreaker {
    /// What tripped.
    pub kind: BreakerKind,
    /// The scope it halted.
    pub scope: StateScope,
    /// When.
    pub at: DateTime<Utc>,
    /// Detail (limits and values; never a secret).
    pub detail: String,
}

/// Checks an operator's TOTP code before a reset.
///
/// asta-risk does not depend on asta-vault: the caller adapts its TOTP
/// verifier (with replay protection and throttling) to this trait. The engine
/// never stores, logs or echoes the code.
pub trait TotpVerifier {
    /// Whether `code` is the current, unused TOTP code of `operator`.
    fn verify(&self, operator: &str, code: &str) -> Result<(), TotpRejection>;
}

impl<T: TotpVerifier + ?Sized> TotpVerifier for &T {
    fn verify(&self, operator: &str, code: &str) -> Result<(), TotpRejection> {
        (**self).verify(operator, code)
    }
}

impl<T: TotpVerifier + ?Sized> TotpVerifier for Box<T> {
    fn verify(&self, operator: &str, code: &str) -> Result<(), TotpRejection> {
        (**self).verify(operator, code)
    }
}

impl<T: TotpVerifier + ?Sized> TotpVerifier for Arc<T> {
    fn verify(&self, operator: &str, code: &str) -> Result<(), TotpRejection> {
        (**self).verify(operator, code)
    }
}

/// Checks an operator name: 1 to 64 characters from `A-Z a-z 0-9 . _ - @`.
pub(crate) fn valid_operator(operator: &str) -> bool {
    !operator.is_empty()
        && operator.len() <= 64
        && operator
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

/// Recent rejection instants, per strategy and for the account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectionTracker {
    pub(crate) account: VecDeque<DateTime<Utc>>,
    pub(crate) strategies: BTreeMap<StrategyTag, VecDeque<DateTime<Utc>>>,
}

impl RejectionTracker {
    /// Records a rejection at `now`; returns how many rejections the window
    /// `(now - window, now]` now holds for the tracked scope.
    pub(crate) fn record(
        &mut self,
        strategy: Option<&StrategyTag>,
        now: DateTime<Utc>,
        window: TimeDelta,
        max_kept: usize,
    ) -> u32 {
        let deque = match strategy {
            Some(tag) => self.strategies.entry(tag.clone()).or_default(),
            None => &mut self.account,
        };
        let start = now - window;
        while deque.front().is_some_and(|t| *t <= start) {
            deque.pop_front();
        }
        deque.push_back(now);
        while deque.len() > max_kept {
            deque.pop_front();
        }
        u32::try_from(deque.len()).unwrap_or(u32::MAX)
    }

    /// Forgets the rejections of `scope` (after a reset).
    pub(crate) fn clear(&mut self, scope: &StateScope) {
        match scope {
            StateScope::Account => {
                self.account.clear();
                self.strategies.clear();
            }
            StateScope::Strategy(tag) => {
                self.strategies.remove(tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn operator_names() {
        assert!(valid_operator("ops.lead@desk-1"));
        assert!(!valid_operator(""));
        assert!(!valid_operator("a b"));
        assert!(!valid_operator(&"a".repeat(65)));
        assert!(!valid_operator("root\n"));
    }

    #[test]
    fn rejection_window_is_half_open() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
        let mut tracker = RejectionTracker::default();
        let w = TimeDelta::seconds(60);
        assert_eq!(tracker.record(None, t0, w, 100), 1);
        assert_eq!(tracker.record(None, t0 + TimeDelta::seconds(59), w, 100), 2);
        // Exactly one window later, the first rejection has left.
        assert_eq!(tracker.record(None, t0 + TimeDelta::seconds(60), w, 100), 2);
    }
}
