//! Injected time: the only place in the workspace that reads the system clock.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current instant, in UTC.
///
/// Library code takes time from a `Clock` instead of reading the system time,
/// so that tests can drive time by hand ([`ManualClock`]) and never sleep.
/// Production code uses [`SystemClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant in UTC.
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests and simulations.
///
/// Clones share the same instant, so a test can keep one handle and give
/// another to the code under test.
///
/// ```
/// use asta_core::{Clock, ManualClock};
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
/// let seen_by_library = clock.clone();
/// clock.advance(TimeDelta::seconds(90));
/// assert_eq!(seen_by_library.now(), Utc.with_ymd_and_hms(2026, 11, 27, 4, 1, 30).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A manual clock that reads `start` until it is moved.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock to `instant` (backwards too: tests of clock steps need it).
    pub fn set(&self, instant: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = instant;
    }

    /// Moves the clock forward by `delta` (or backward for a negative delta).
    ///
    /// The clock saturates at chrono's representable range instead of panicking.
    pub fn advance(&self, delta: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = now.checked_add_signed(delta) {
            *now = next;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::milliseconds(1500));
        assert_eq!(clock.now(), start + TimeDelta::milliseconds(1500));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn clock_is_usable_through_pointers() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(start));
        assert_eq!(clock.now(), start);
        let boxed: Box<dyn Clock> = Box::new(ManualClock::new(start));
        assert_eq!(boxed.now(), start);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now() > Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap());
    }
}
