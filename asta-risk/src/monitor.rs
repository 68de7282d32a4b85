//! The security monitor: failed-login bursts and unusual orders.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use asta_core::{Exchange, Money, StrategyTag, Symbol};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::config::MonitorConfig;
use crate::error::AlertKind;

/// The bucket that every malformed login source shares (so junk sources are
/// blocked together instead of each getting a fresh allowance).
pub(crate) const INVALID_SOURCE: &str = "<invalid-source>";

/// A login source as the engine tracks it: printable ASCII, 1 to 128 bytes
/// (an IP address, `ip:port`, a user name...). Anything else maps to one
/// shared bucket.
pub(crate) fn normalize_source(source: &str) -> &str {
    if !source.is_empty() && source.len() <= 128 && source.bytes().all(|b| b.is_ascii_graphic()) {
        source
    } else {
        INVALID_SOURCE
    }
}

/// Failed logins of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginTrack {
    pub(crate) failures: VecDeque<DateTime<Utc>>,
    pub(crate) blocked_until: Option<DateTime<Utc>>,
}

/// What recording a failed login did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LoginVerdict {
    /// Failures from the source in the current window, this one included.
    pub failures: u32,
    /// Until when the source is blocked, if it is.
    pub blocked_until: Option<DateTime<Utc>>,
    /// Whether this failure started the block.
    pub newly_blocked: bool,
}

type SymbolKey = (Exchange, Symbol);

/// The monitor's memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MonitorState {
    pub(crate) logins: BTreeMap<String, LoginTrack>,
    /// Recent approved (quantity, notional) per symbol, oldest first.
    #[serde(with = "crate::map_as_vec")]
    pub(crate) norms: BTreeMap<SymbolKey, VecDeque<(u64, Money)>>,
    /// (strategy, exchange, symbol) triples that have traded.
    pub(crate) seen: BTreeSet<(StrategyTag, Exchange, Symbol)>,
}

/// The median of a list of values (the lower middle for an even count).
fn lower_median<T: Ord + Copy>(values: &mut [T]) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    values.get((values.len() - 1) / 2).copied()
}

impl MonitorState {
    /// Until when `source` is blocked at `now`, if it is.
    pub(crate) fn blocked_until(&self, source: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.logins
            .get(normalize_source(source))
            .and_then(|t| t.blocked_until)
            .filter(|until| *until > now)
    }

    /// Records a failed login from `source` at `now`.
    pub(crate) fn record_failed_login(
        &mut self,
        source: &str,
        now: DateTime<Utc>,
        config: &MonitorConfig,
    ) -> LoginVerdict {
        let key = normalize_source(source);
        if !self.logins.contains_key(key) {
            self.evict_if_full(now, config);
        }
        let track = self.logins.entry(key.to_owned()).or_default();
        let window = TimeDelta::seconds(
            i64::try_from(config.failed_login_window_secs).unwrap_or(i64::MAX / 2_000_000),
        );
        let start = now - window;
        while track.failures.front().is_some_and(|t| *t <= start) {
            track.failures.pop_front();
        }
        track.failures.push_back(now);
        let cap = usize::try_from(config.max_failed_logins)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        while track.failures.len() > cap {
            track.failures.pop_front();
        }
        let failures = u32::try_from(track.failures.len()).unwrap_or(u32::MAX);
        let already = track.blocked_until.is_some_and(|u| u > now);
        let mut newly_blocked = false;
        if failures > config.max_failed_logins && !already {
            let block = TimeDelta::seconds(i64::try_from(config.login_block_secs).unwrap_or(0));
            track.blocked_until = Some(now + block);
            newly_blocked = true;
        }
        LoginVerdict {
            failures,
            blocked_until: track.blocked_until.filter(|u| *u > now),
            newly_blocked,
        }
    }

    /// Drops the least recently failed unblocked source when the table is full.
    fn evict_if_full(&mut self, now: DateTime<Utc>, config: &MonitorConfig) {
        let max = usize::try_from(config.max_tracked_sources).unwrap_or(usize::MAX);
        if self.logins.len() < max {
            return;
        }
        // Expired blocks first, then the oldest unblocked source (ties go to
        // the first in key order, so a replay evicts the same one). Blocked
        // sources are never evicted (that would lift their block).
        let victim = self
            .logins
            .iter()
            .filter(|(_, t)| t.blocked_until.is_none_or(|u| u <= now))
            .min_by_key(|(_, t)| t.failures.back().copied())
            .map(|(k, _)| k.clone());
        if let Some(victim) = victim {
            self.logins.remove(&victim);
        }
    }

    /// Forgets expired blocks and stale failures.
    pub(crate) fn prune_logins(&mut self, now: DateTime<Utc>, config: &MonitorConfig) {
        let window =
            TimeDelta::seconds(i64::try_from(config.failed_login_window_secs).unwrap_or(0));
        self.logins.retain(|_, t| {
            t.blocked_until.is_some_and(|u| u > now)
                || t.failures.back().is_some_and(|last| *last > now - window)
        });
    }

    /// Size alerts for an order of `quantity` and `notional` in `key`.
    pub(crate) fn size_alerts(
        &self,
        key: &SymbolKey,
        quantity: u64,
        notional: Money,
        config: &MonitorConfig,
    ) -> Vec<(AlertKind, String)> {
        let mut alerts = Vec::new();
        let Some(history) = self.norms.get(key) else {
            return alerts;
        };
        if history.len() < usize::try_from(config.norm_min_samples).unwrap_or(usize::MAX) {
            return alerts;
        }
        let multiple = config.size_multiple;
        let mut quantities: Vec<u64> = history.iter().map(|(q, _)| *q).collect();
        if let Some(median) = lower_median(&mut quantities)
            && u128::from(quantity) > u128::from(median) * u128::from(multiple)
        {
            alerts.push((
                AlertKind::UnusualQuantity,
                format!(
                    "quantity {quantity} of {} is above {multiple} x the recent median {median}",
                    key.1
                ),
            ));
        }
        let mut notionals: Vec<Money> = history.iter().map(|(_, n)| *n).collect();
        if let Some(median) = lower_median(&mut notionals)
            && median
                .checked_mul(i128::from(multiple))
                .is_none_or(|cap| notional > cap)
            && median.is_positive()
        {
            alerts.push((
                AlertKind::UnusualNotional,
                format!(
                    "notional {notional} of {} is above {multiple} x the recent median {median}",
                    key.1
                ),
            ));
        }
        alerts
    }

    /// Whether `strategy` has never traded `key`.
    pub(crate) fn is_first_order(&self, strategy: &StrategyTag, key: &SymbolKey) -> bool {
        !self
            .seen
            .contains(&(strategy.clone(), key.0, key.1.clone()))
    }

    /// Remembers an approved order (for norms) and that the strategy traded the symbol.
    pub(crate) fn record_order(
        &mut self,
        strategy: &StrategyTag,
        key: &SymbolKey,
        quantity: u64,
        notional: Money,
        config: &MonitorConfig,
    ) {
        let history = self.norms.entry(key.clone()).or_default();
        history.push_back((quantity, notional));
        let cap = usize::try_from(config.norm_window).unwrap_or(usize::MAX);
        while history.len() > cap {
            history.pop_front();
        }
        self.mark_seen(strategy, key);
    }

    /// Remembers that `strategy` traded `key` (also from fills).
    pub(crate) fn mark_seen(&mut self, strategy: &StrategyTag, key: &SymbolKey) {
        let triple = (strategy.clone(), key.0, key.1.clone());
        if !self.seen.contains(&triple) {
            self.seen.insert(triple);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()
    }

    #[test]
    fn more_than_five_failures_in_five_minutes_blocks() {
        let config = MonitorConfig::default();
        let mut m = MonitorState::default();
        for i in 0..5 {
            let v = m.record_failed_login("10.0.0.7", t0() + TimeDelta::seconds(i * 59), &config);
            assert_eq!(v.blocked_until, None, "failure {i}: at or below the limit");
        }
        let v = m.record_failed_login("10.0.0.7", t0() + TimeDelta::seconds(299), &config);
        assert!(v.newly_blocked, "the sixth within 5 minutes blocks");
        let until = t0() + TimeDelta::seconds(299 + 900);
        assert_eq!(v.blocked_until, Some(until));
        assert_eq!(
            m.blocked_until("10.0.0.7", until - TimeDelta::seconds(1)),
            Some(until)
        );
        assert_eq!(m.blocked_until("10.0.0.7", until), None);
        assert_eq!(m.blocked_until("10.0.0.8", t0()), None);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_block() {
        let config = MonitorConfig::default();
        let mut m = MonitorState::default();
        for i in 0..20 {
            let v = m.record_failed_login("host", t0() + TimeDelta::seconds(i * 61), &config);
            assert_eq!(v.blocked_until, None, "failure {i}");
        }
    }

    #[test]
    fn junk_sources_share_one_bucket() {
        assert_eq!(normalize_source("a b"), INVALID_SOURCE);
        assert_eq!(normalize_source(""), INVALID_SOURCE);
        assert_eq!(normalize_source(&"x".repeat(200)), INVALID_SOURCE);
        assert_eq!(normalize_source("192.168.1.1"), "192.168.1.1");
    }

    #[test]
    fn blocked_sources_survive_eviction() {
        let config = MonitorConfig {
            max_tracked_sources: 2,
            ..MonitorConfig::default()
        };
        let mut m = MonitorState::default();
        for _ in 0..6 {
            m.record_failed_login("attacker", t0(), &config);
        }
        for i in 0..50 {
            m.record_failed_login(&format!("spray{i}"), t0(), &config);
        }
        assert!(m.blocked_until("attacker", t0()).is_some());
        assert!(m.logins.len() <= 2);
    }

    #[test]
    fn size_alerts_at_below_and_above_the_multiple() {
        let config = MonitorConfig::default();
        let mut m = MonitorState::default();
        let key = (Exchange::Nse, Symbol::new("SBIN").unwrap());
        let tag = StrategyTag::new("s").unwrap();
        for _ in 0..4 {
            m.record_order(&tag, &key, 10, Money::from_rupees(8_000), &config);
        }
        assert!(
            m.size_alerts(&key, 1_000, Money::from_rupees(1), &config)
                .is_empty(),
            "too few samples"
        );
        m.record_order(&tag, &key, 10, Money::from_rupees(8_000), &config);
        assert!(
            m.size_alerts(&key, 99, Money::from_rupees(79_999), &config)
                .is_empty()
        );
        assert!(
            m.size_alerts(&key, 100, Money::from_rupees(80_000), &config)
                .is_empty(),
            "at the multiple"
        );
        let alerts = m.size_alerts(&key, 101, Money::from_rupees(80_001), &config);
        let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.0).collect();
        assert_eq!(
            kinds,
            vec![AlertKind::UnusualQuantity, AlertKind::UnusualNotional]
        );
        assert!(!m.is_first_order(&tag, &key));
        assert!(m.is_first_order(&StrategyTag::new("t").unwrap(), &key));
    }
}
