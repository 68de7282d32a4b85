//! Exact, stacked sliding-window rate limits.

use std::collections::VecDeque;
use std::fmt;

use asta_core::{Exchange, StrategyTag};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::config::WindowLimits;

/// Who a rate limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RateScope {
    /// The whole account.
    Account,
    /// One strategy tag.
    Strategy(StrategyTag),
    /// One exchange segment (SEBI's per-segment orders-per-second cap).
    Segment(Exchange),
}

impl fmt::Display for RateScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateScope::Account => f.write_str("the account"),
            RateScope::Strategy(tag) => write!(f, "strategy {tag}"),
            RateScope::Segment(exchange) => write!(f, "segment {exchange}"),
        }
    }
}

/// One of the stacked windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RateWindow {
    /// Any sliding 1-second window.
    Second,
    /// Any sliding 60-second window.
    Minute,
    /// The IST calendar day.
    Day,
}

impl fmt::Display for RateWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateWindow::Second => "1-second",
            RateWindow::Minute => "60-second",
            RateWindow::Day => "IST-day",
        })
    }
}

/// Why a rate limiter denied a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{count} requests already in the {window} window; the limit is {limit}")]
pub struct RateDenial {
    /// The full window.
    pub window: RateWindow,
    /// Requests already counted in it.
    pub count: u32,
    /// Its limit.
    pub limit: u32,
}

/// How much of each window is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateUsage {
    /// Requests in the last second.
    pub last_second: u32,
    /// Requests in the last 60 seconds.
    pub last_minute: u32,
    /// Requests today (IST).
    pub today: u32,
}

/// An exact limiter for one scope: a sliding second, a sliding minute and
/// the IST day, stacked (a request must fit all three).
///
/// A sliding window of length `W` ending at `t` holds the requests stamped
/// in `(t - W, t]`: a request exactly `W` old has left it. A request is
/// admitted only if every window ending now still has room, so no window of
/// either length, wherever it is placed, ever holds more admissions than its
/// limit (unlike GCRA or token buckets, which admit bursts of up to twice
/// the rate across a boundary). Denied requests are not queued or recorded.
///
/// Time never runs backwards here: an instant earlier than the last
/// admission is treated as that admission's instant, so a clock step back
/// cannot free capacity.
///
/// ```
/// use asta_risk::{RateLimiter, RateWindow, WindowLimits};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let mut limiter = RateLimiter::new(WindowLimits { per_second: 2, per_minute: 3, per_day: 100 });
/// let t = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
/// assert!(limiter.acquire(t, 2).is_ok());
/// assert_eq!(limiter.acquire(t, 1).unwrap_err().window, RateWindow::Second);
/// let later = t + TimeDelta::seconds(1);
/// assert!(limiter.acquire(later, 1).is_ok());
/// assert_eq!(limiter.acquire(later, 1).unwrap_err().window, RateWindow::Minute);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimiter {
    limits: WindowLimits,
    /// Admission instants within the last minute, oldest first.
    recent: VecDeque<DateTime<Utc>>,
    /// The IST day `day_count` belongs to.
    day: Option<NaiveDate>,
    day_count: u32,
    /// The latest admission instant.
    last: Option<DateTime<Utc>>,
}

/// The IST calendar date of an instant.
pub(crate) fn ist_date(at: DateTime<Utc>) -> NaiveDate {
    asta_core::ist_date(at)
}

const SECOND: TimeDelta = TimeDelta::seconds(1);
const MINUTE: TimeDelta = TimeDelta::seconds(60);

impl RateLimiter {
    /// An empty limiter with `limits`.
    pub fn new(limits: WindowLimits) -> Self {
        Self {
            limits,
            recent: VecDeque::new(),
            day: None,
            day_count: 0,
            last: None,
        }
    }

    /// The limits.
    pub fn limits(&self) -> WindowLimits {
        self.limits
    }

    /// Replaces the limits (after a configuration reload); history is kept.
    pub fn set_limits(&mut self, limits: WindowLimits) {
        self.limits = limits;
    }

    fn effective_now(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.last {
            Some(last) if last > now => last,
            _ => now,
        }
    }

    fn count_since(&self, start: DateTime<Utc>) -> u32 {
        let first_inside = self.recent.partition_point(|t| *t <= start);
        u32::try_from(self.recent.len().saturating_sub(first_inside)).unwrap_or(u32::MAX)
    }

    /// How much of each window is used at `now`.
    pub fn usage(&self, now: DateTime<Utc>) -> RateUsage {
        let now = self.effective_now(now);
        let today = if self.day == Some(ist_date(now)) {
            self.day_count
        } else {
            0
        };
        RateUsage {
            last_second: self.count_since(now - SECOND),
            last_minute: self.count_since(now - MINUTE),
            today,
        }
    }

    /// Whether `n` more requests fit at `now`, without recording them.
    pub fn check(&self, now: DateTime<Utc>, n: u32) -> Result<(), RateDenial> {
        let usage = self.usage(now);
        let fits = |count: u32, limit: u32| count.checked_add(n).is_some_and(|v| v <= limit);
        for (window, count, limit) in [
            (
                RateWindow::Second,
                usage.last_second,
                self.limits.per_second,
            ),
            (
                RateWindow::Minute,
                usage.last_minute,
                self.limits.per_minute,
            ),
            (RateWindow::Day, usage.today, self.limits.per_day),
        ] {
            if !fits(count, limit) {
                return Err(RateDenial {
                    window,
                    count,
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Admits `n` requests at `now` if they all fit, or none.
    pub fn acquire(&mut self, now: DateTime<Utc>, n: u32) -> Result<(), RateDenial> {
        self.check(now, n)?;
        self.record(now, n);
        Ok(())
    }

    /// Records `n` admissions at `now` (after a successful [`check`](Self::check)).
    pub(crate) fn record(&mut self, now: DateTime<Utc>, n: u32) {
        let now = self.effective_now(now);
        let start = now - MINUTE;
        while self.recent.front().is_some_and(|t| *t <= start) {
            self.recent.pop_front();
        }
        let today = ist_date(now);
        if self.day != Some(today) {
            self.day = Some(today);
            self.day_count = 0;
        }
        for _ in 0..n {
            self.recent.push_back(now);
        }
        self.day_count = self.day_count.saturating_add(n);
        self.last = Some(now);
    }

    /// Whether the limiter holds nothing that still matters at `now`.
    pub(crate) fn is_idle(&self, now: DateTime<Utc>) -> bool {
        let usage = self.usage(now);
        usage.last_minute == 0 && usage.today == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()
    }

    fn limits(s: u32, m: u32, d: u32) -> WindowLimits {
        WindowLimits {
            per_second: s,
            per_minute: m,
            per_day: d,
        }
    }

    #[test]
    fn second_window_at_below_and_above_its_limit() {
        let mut l = RateLimiter::new(limits(8, 10, 100));
        for i in 0..7 {
            assert!(l.acquire(t0(), 1).is_ok(), "below: {i}");
        }
        assert!(l.acquire(t0(), 1).is_ok(), "at the limit");
        let denial = l.acquire(t0(), 1).unwrap_err();
        assert_eq!(
            denial,
            RateDenial {
                window: RateWindow::Second,
                count: 8,
                limit: 8
            }
        );
        // 999 ms later the window still holds all 8; at exactly 1 s it is empty.
        assert!(l.acquire(t0() + TimeDelta::milliseconds(999), 1).is_err());
        assert!(l.acquire(t0() + TimeDelta::seconds(1), 1).is_ok());
    }

    #[test]
    fn minute_window_edges_are_exact() {
        let mut l = RateLimiter::new(limits(8, 10, 100));
        for i in 0..10 {
            l.acquire(t0() + TimeDelta::seconds(i * 5), 1).unwrap();
        }
        let denial = l.acquire(t0() + TimeDelta::seconds(59), 1).unwrap_err();
        assert_eq!(denial.window, RateWindow::Minute);
        assert_eq!(denial.count, 10);
        let just_before = t0() + TimeDelta::seconds(60) - TimeDelta::nanoseconds(1);
        assert!(l.acquire(just_before, 1).is_err());
        assert!(l.acquire(t0() + TimeDelta::seconds(60), 1).is_ok());
    }

    #[test]
    fn a_batch_is_all_or_nothing() {
        let mut l = RateLimiter::new(limits(8, 10, 100));
        l.acquire(t0(), 5).unwrap();
        let denial = l.acquire(t0(), 4).unwrap_err();
        assert_eq!(denial.window, RateWindow::Second);
        assert_eq!(l.usage(t0()).last_second, 5, "nothing was recorded");
        assert!(l.acquire(t0(), 3).is_ok());
    }

    #[test]
    fn day_resets_at_ist_midnight_not_utc_midnight() {
        let mut l = RateLimiter::new(limits(10, 10, 3));
        // 18:20 UTC on the 26th is 23:50 IST on the 26th.
        let before = Utc.with_ymd_and_hms(2026, 11, 26, 18, 20, 0).unwrap();
        for i in 0..3 {
            l.acquire(before + TimeDelta::seconds(i * 61), 1).unwrap();
        }
        let still_26th = Utc.with_ymd_and_hms(2026, 11, 26, 18, 29, 59).unwrap();
        assert_eq!(
            l.acquire(still_26th, 1).unwrap_err().window,
            RateWindow::Day
        );
        // 18:30 UTC on the 26th is 00:00 IST on the 27th (UTC date unchanged).
        let ist_midnight = Utc.with_ymd_and_hms(2026, 11, 26, 18, 30, 0).unwrap();
        assert!(l.acquire(ist_midnight, 1).is_ok());
        assert_eq!(l.usage(ist_midnight).today, 1);
    }

    #[test]
    fn a_clock_step_back_frees_nothing() {
        let mut l = RateLimiter::new(limits(2, 10, 100));
        l.acquire(t0(), 2).unwrap();
        let earlier = t0() - TimeDelta::seconds(30);
        assert_eq!(
            l.acquire(earlier, 1).unwrap_err().window,
            RateWindow::Second
        );
    }

    fn brute_force_max(times: &[DateTime<Utc>], window: TimeDelta) -> usize {
        // Every window's count is maximal when it ends at an admission.
        times
            .iter()
            .map(|end| {
                times
                    .iter()
                    .filter(|t| **t > *end - window && **t <= *end)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn no_window_ever_holds_more_than_its_limit(
            gaps in prop::collection::vec(0u64..400, 1..300),
            batch in prop::collection::vec(1u32..4, 1..300),
            per_second in 1u32..6,
            extra in 0u32..10,
        ) {
            let per_minute = per_second + extra;
            let mut l = RateLimiter::new(limits(per_second, per_minute, 1_000_000));
            let mut now = t0();
            let mut admitted = Vec::new();
            let mut denied_when_room = 0;
            for (gap, n) in gaps.iter().zip(batch.iter().cycle()) {
                now += TimeDelta::milliseconds(i64::try_from(*gap).unwrap());
                let fits = {
                    let in_second = admitted.iter().filter(|t| **t > now - SECOND).count();
                    let in_minute = admitted.iter().filter(|t| **t > now - MINUTE).count();
                    in_second + *n as usize <= per_second as usize
                        && in_minute + *n as usize <= per_minute as usize
                };
                match l.acquire(now, *n) {
                    Ok(()) => {
                        prop_assert!(fits, "admitted without room");
                        for _ in 0..*n { admitted.push(now); }
                    }
                    Err(_) => if fits { denied_when_room += 1; },
                }
            }
            prop_assert!(brute_force_max(&admitted, SECOND) <= per_second as usize);
            prop_assert!(brute_force_max(&admitted, MINUTE) <= per_minute as usize);
            prop_assert_eq!(denied_when_room, 0, "exact: never denied with room left");
        }
    }
}
