//! India Standard Time of an instant, without a time-zone table look-up
//! for the instants that matter.
//!
//! `Asia/Kolkata` has been UTC+05:30 without daylight saving since
//! 15 October 1945. The risk engine and the market calendar turn the clock
//! into an IST date or time several times per order, and `chrono-tz`'s
//! look-up was a measurable part of that; from 1946 on this adds the fixed
//! offset, and earlier instants still go through `chrono-tz`, so the
//! answer is always the table's.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;

/// Seconds east of UTC of India Standard Time.
const IST_OFFSET_SECS: i64 = 5 * 3600 + 30 * 60;

/// 1946-01-01T00:00:00Z: from here on `Asia/Kolkata` is a fixed +05:30.
const FIXED_SINCE_UNIX_SECS: i64 = -757_382_400;

/// The wall-clock date and time in India at the instant `at`.
///
/// ```
/// use asta_core::ist_local;
/// use chrono::{TimeZone, Utc};
///
/// let at = Utc.with_ymd_and_hms(2026, 11, 27, 3, 45, 0).unwrap();
/// assert_eq!(ist_local(at).to_string(), "2026-11-27 09:15:00");
/// ```
///
/// At the very ends of chrono's range, where the local time does not
/// exist, it saturates to [`NaiveDateTime::MIN`] or [`NaiveDateTime::MAX`]
/// instead of panicking.
pub fn ist_local(at: DateTime<Utc>) -> NaiveDateTime {
    let utc = at.naive_utc();
    let shifted = if at.timestamp() >= FIXED_SINCE_UNIX_SECS {
        utc.checked_add_signed(TimeDelta::seconds(IST_OFFSET_SECS))
    } else {
        utc.checked_add_offset(Kolkata.offset_from_utc_datetime(&utc).fix())
    };
    shifted.unwrap_or(if at.timestamp() < 0 {
        NaiveDateTime::MIN
    } else {
        NaiveDateTime::MAX
    })
}

/// The calendar date in India at the instant `at`.
pub fn ist_date(at: DateTime<Utc>) -> NaiveDate {
    ist_local(at).date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_fixed_offset_starts_after_the_last_change() {
        let since = DateTime::from_timestamp(FIXED_SINCE_UNIX_SECS, 0).unwrap();
        assert_eq!(since.to_rfc3339(), "1946-01-01T00:00:00+00:00");
        // The wartime +06:30 ended in October 1945: before it the table
        // differs from +05:30, which is why earlier instants use it.
        let war = Utc.with_ymd_and_hms(1943, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(ist_local(war).to_string(), "1943-06-01 06:30:00");
        // The day boundary: 18:30Z is midnight in India.
        let midnight = Utc.with_ymd_and_hms(2026, 11, 26, 18, 30, 0).unwrap();
        assert_eq!(ist_date(midnight).to_string(), "2026-11-27");
        let before = midnight - TimeDelta::nanoseconds(1);
        assert_eq!(ist_date(before).to_string(), "2026-11-26");
    }

    proptest! {
        #[test]
        fn it_is_always_the_time_zone_tables_answer(
            secs in -5_000_000_000i64..8_000_000_000i64,
            nanos in 0u32..1_000_000_000,
        ) {
            let Some(at) = DateTime::from_timestamp(secs, nanos) else {
                return Ok(());
            };
            let table = at.with_timezone(&Kolkata);
            prop_assert_eq!(ist_local(at), table.naive_local());
            prop_assert_eq!(ist_date(at), table.date_naive());
        }
    }

    #[test]
    fn the_extremes_do_not_panic() {
        assert_eq!(ist_local(DateTime::<Utc>::MAX_UTC), NaiveDateTime::MAX);
        let earliest = ist_local(DateTime::<Utc>::MIN_UTC);
        assert!(earliest > NaiveDateTime::MIN, "{earliest}");
    }
}
