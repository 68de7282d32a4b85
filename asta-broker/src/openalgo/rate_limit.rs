//! An exact sliding-window rate limiter for the OpenAlgo adapter.
//!
//! OpenAlgo limits 10 order requests per second per endpoint and 50 other API
//! calls per second, in moving windows. This limiter keeps, per bucket, the
//! instants of the calls admitted in the last second, and admits a call only
//! if fewer than the limit are inside the window: in **any** one-second
//! window at most `limit` calls are made (no burst allowance, unlike GCRA).
//!
//! Order endpoints **deny** at once ([`BrokerError::RateLimited`] with the
//! wait): an order is never queued. Read-only endpoints **wait** for the
//! window to open (never more than one window length).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::BrokerError;

const WINDOW: Duration = Duration::from_secs(1);

/// Per-bucket sliding windows.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    order_limit: usize,
    other_limit: usize,
    windows: Mutex<HashMap<&'static str, VecDeque<Instant>>>,
}

/// The bucket every read-only call shares.
const OTHER: &str = "other";

impl RateLimiter {
    pub(crate) fn new(order_per_sec: u32, other_per_sec: u32) -> Self {
        Self {
            order_limit: usize::try_from(order_per_sec).unwrap_or(usize::MAX),
            other_limit: usize::try_from(other_per_sec).unwrap_or(usize::MAX),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Admits the call now, or says how long until it could be.
    fn try_acquire(&self, bucket: &'static str, limit: usize) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let window = windows.entry(bucket).or_default();
        while window
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= WINDOW)
        {
            window.pop_front();
        }
        if window.len() < limit {
            window.push_back(now);
            return Ok(());
        }
        let oldest = window.front().copied().unwrap_or(now);
        Err(WINDOW.saturating_sub(now.saturating_duration_since(oldest)))
    }

    /// An order call on `endpoint`: admitted now or denied.
    pub(crate) fn acquire_order(&self, endpoint: &'static str) -> Result<(), BrokerError> {
        self.try_acquire(endpoint, self.order_limit)
            .map_err(|wait| BrokerError::RateLimited {
                retry_after: Some(wait),
            })
    }

    /// A read-only call: waits (tokio time) until the window admits it.
    pub(crate) async fn acquire_other(&self) {
        loop {
            match self.try_acquire(OTHER, self.other_limit) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn orders_are_denied_beyond_the_limit_in_any_window() {
        let limiter = RateLimiter::new(3, 5);
        for _ in 0..3 {
            assert!(limiter.acquire_order("placeorder").is_ok());
        }
        let denied = limiter.acquire_order("placeorder").unwrap_err();
        assert_eq!(
            denied,
            BrokerError::RateLimited {
                retry_after: Some(WINDOW)
            }
        );
        // Another endpoint has its own window.
        assert!(limiter.acquire_order("cancelorder").is_ok());
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(limiter.acquire_order("placeorder").is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(limiter.acquire_order("placeorder").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn reads_wait_for_the_window() {
        let limiter = RateLimiter::new(3, 2);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.acquire_other().await;
        }
        // 2 at t=0, 2 at t=1 s, 1 at t=2 s.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
