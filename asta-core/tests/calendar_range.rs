//! The calendar knows the range its data covers and fails closed outside it.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use asta_core::{
    CalendarError, ClosedReason, Exchange, MarketCalendar, MarketPhase, Product, TradingHoursError,
};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;

fn ist(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Kolkata
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn republic_day_2027_is_not_a_trading_day_with_the_2026_data() {
    let cal = MarketCalendar::bundled().unwrap();
    assert_eq!(cal.covers(), (date(2025, 1, 1), date(2026, 12, 31)));
    // Thursday 31 December 2026 is the last covered day and trades.
    assert_eq!(
        cal.phase(Exchange::Nse, ist(2026, 12, 31, 10, 0)),
        MarketPhase::Open
    );
    // Tuesday 26 January 2027 (Republic Day) read as open before.
    for exchange in [Exchange::Nse, Exchange::Nfo, Exchange::Mcx] {
        assert_eq!(
            cal.phase(exchange, ist(2027, 1, 26, 10, 0)),
            MarketPhase::Closed(ClosedReason::OutsideCalendar {
                from: date(2025, 1, 1),
                until: date(2026, 12, 31),
            })
        );
    }
    let err = cal
        .check_order_entry(Exchange::Nse, Product::Cnc, ist(2027, 1, 4, 10, 0))
        .unwrap_err();
    assert!(matches!(err, TradingHoursError::Closed { .. }));
    let message = err.to_string();
    assert!(
        message.contains("covers 2025-01-01 up to 2026-12-31; load a newer calendar"),
        "{message}"
    );
    // Before the range too.
    assert!(matches!(
        cal.phase(Exchange::Nse, ist(2024, 12, 2, 10, 0)),
        MarketPhase::Closed(ClosedReason::OutsideCalendar { .. })
    ));
    // No next open can be promised beyond the data.
    assert_eq!(cal.next_open(Exchange::Nse, ist(2026, 12, 31, 16, 0)), None);
}

#[test]
fn a_newer_calendar_file_extends_the_range() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("calendar.json");
    std::fs::write(
        &path,
        r#"{"format": 1, "version": "2027.01-1",
            "covers": {"from": "2027-01-01", "to": "2027-12-31"},
            "sessions": {"NSE": {"open": "09:15", "close": "15:30", "mis_cutoff": "15:15"}},
            "holidays": [{"date": "2027-01-26", "name": "Republic Day", "exchanges": ["NSE"]}]}"#,
    )
    .unwrap();
    let cal = MarketCalendar::from_path(&path).unwrap();
    assert_eq!(
        cal.phase(Exchange::Nse, ist(2027, 1, 26, 10, 0)),
        MarketPhase::Closed(ClosedReason::Holiday {
            name: "Republic Day".to_owned()
        })
    );
    assert_eq!(
        cal.phase(Exchange::Nse, ist(2027, 1, 27, 10, 0)),
        MarketPhase::Open
    );
    assert_eq!(
        cal.next_open(Exchange::Nse, ist(2027, 1, 25, 16, 0)),
        Some(ist(2027, 1, 27, 9, 15))
    );
}

#[test]
fn the_range_is_stated_or_derived_and_checked() {
    let sessions =
        r#""sessions": {"NSE": {"open": "09:15", "close": "15:30", "mis_cutoff": "15:15"}}"#;
    // Neither a range nor a dated entry: refused, with what to add.
    let none = format!(r#"{{"format": 1, "version": "t", {sessions}}}"#);
    let Err(CalendarError::Invalid(message)) = MarketCalendar::from_json_str(&none) else {
        panic!("a calendar without a range must be refused");
    };
    assert!(message.contains("\"covers\""), "{message}");
    // Without `covers`, the whole years of its holidays.
    let derived = format!(
        r#"{{"format": 1, "version": "t", {sessions},
            "holidays": [{{"date": "2026-03-03", "name": "Holi", "exchanges": ["NSE"]}}]}}"#
    );
    let cal = MarketCalendar::from_json_str(&derived).unwrap();
    assert_eq!(cal.covers(), (date(2026, 1, 1), date(2026, 12, 31)));
    // A holiday outside the stated range, and an inverted range: refused.
    for bad in [
        r#""covers": {"from": "2026-01-01", "to": "2026-06-30"}, "holidays": [{"date": "2026-11-08", "name": "x", "exchanges": ["NSE"]}]"#,
        r#""covers": {"from": "2026-12-31", "to": "2026-01-01"}"#,
    ] {
        let text = format!(r#"{{"format": 1, "version": "t", {sessions}, {bad}}}"#);
        assert!(
            matches!(
                MarketCalendar::from_json_str(&text),
                Err(CalendarError::Invalid(_))
            ),
            "{bad}"
        );
    }
}
