//! The market calendar check: the data must cover today and the coming month.

use chrono::{DateTime, TimeDelta, Utc};

use super::CheckResult;
use crate::config::Config;

/// How long before the end of the calendar data `asta doctor` warns.
pub const CALENDAR_WARN_DAYS: i64 = 30;

/// PASS while the calendar covers more than [`CALENDAR_WARN_DAYS`] ahead,
/// WARN in the last 30 days, FAIL once today (IST) is outside it (trading
/// hours are then refused) or the configured file cannot be read.
pub fn check_calendar(config: &Config, now: DateTime<Utc>) -> CheckResult {
    const ID: &str = "calendar";
    let calendar = match crate::context::market_calendar(config) {
        Ok(calendar) => calendar,
        Err(failure) => {
            return CheckResult::fail(
                ID,
                format!("the market calendar cannot be loaded: {:#}", failure.detail),
                "fix paths.calendar in asta.toml, or build a calendar with `asta calendar import`",
            );
        }
    };
    // India Standard Time is UTC+05:30 all year.
    let today = now
        .checked_add_signed(TimeDelta::minutes(330))
        .unwrap_or(now)
        .date_naive();
    let (from, until) = calendar.covers();
    let source = match config.calendar_path() {
        Some(path) => path.display().to_string(),
        None => format!("built-in data {}", calendar.version()),
    };
    let fix = "load a newer calendar: `asta calendar import` and paths.calendar in asta.toml";
    if today < from || today > until {
        return CheckResult::fail(
            ID,
            format!(
                "the market calendar ({source}) covers {from} to {until}, not today ({today}): every order is refused"
            ),
            fix,
        );
    }
    let left = until.signed_duration_since(today).num_days();
    if until.signed_duration_since(today) <= TimeDelta::days(CALENDAR_WARN_DAYS) {
        return CheckResult::warn(
            ID,
            format!("the market calendar ({source}) ends on {until}, in {left} days"),
            fix,
        );
    }
    CheckResult::pass(ID, format!("{source} covers {from} to {until}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 6, 0, 0).single().unwrap()
    }

    #[test]
    fn warns_in_the_last_30_days_and_fails_past_the_end() {
        let config = Config::defaults_in(std::path::Path::new("."));
        assert_eq!(
            check_calendar(&config, at(2026, 11, 27)).status,
            Status::Pass
        );
        assert_eq!(
            check_calendar(&config, at(2026, 12, 1)).status,
            Status::Warn
        );
        assert_eq!(
            check_calendar(&config, at(2026, 12, 31)).status,
            Status::Warn
        );
        let past = check_calendar(&config, at(2027, 1, 1));
        assert_eq!(past.status, Status::Fail);
        assert!(past.detail.contains("2026-12-31"), "{}", past.detail);
    }

    #[test]
    fn a_configured_calendar_is_used_and_a_bad_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cal.json"),
            r#"{"format": 1, "version": "2027.01-1", "covers": {"from": "2027-01-01", "to": "2027-12-31"},
                "sessions": {"NSE": {"open": "09:15", "close": "15:30", "mis_cutoff": "15:15"}}}"#,
        )
        .unwrap();
        let path = dir.path().join("asta.toml");
        std::fs::write(&path, "[paths]\ncalendar = \"cal.json\"\n").unwrap();
        let config = Config::from_file(&path).unwrap();
        assert_eq!(check_calendar(&config, at(2027, 3, 1)).status, Status::Pass);
        std::fs::write(dir.path().join("cal.json"), "{").unwrap();
        assert_eq!(check_calendar(&config, at(2027, 3, 1)).status, Status::Fail);
    }
}
