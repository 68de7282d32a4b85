//! Market calendar behaviour at every boundary, in IST, whatever the process zone.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use asta_core::{
    CalendarError, ClosedReason, Exchange, MarketCalendar, MarketPhase, Product, TradingHoursError,
};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;

fn ist(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Kolkata
        .with_ymd_and_hms(y, m, d, h, min, s)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn calendar() -> MarketCalendar {
    MarketCalendar::bundled().unwrap()
}

/// Friday 27 November 2026, an ordinary trading day.
fn friday(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    ist(2026, 11, 27, h, m, s)
}

#[test]
fn nse_session_boundaries_one_second_either_side() {
    let cal = calendar();
    let closed = |r| MarketPhase::Closed(r);
    let cases = [
        (friday(8, 59, 59), closed(ClosedReason::BeforeOpen)),
        (friday(9, 0, 0), MarketPhase::PreOpen),
        (friday(9, 7, 59), MarketPhase::PreOpen),
        (friday(9, 8, 0), closed(ClosedReason::PreOpenMatching)),
        (friday(9, 14, 59), closed(ClosedReason::PreOpenMatching)),
        (friday(9, 15, 0), MarketPhase::Open),
        (friday(9, 15, 1), MarketPhase::Open),
        (friday(15, 29, 59), MarketPhase::Open),
        (friday(15, 30, 0), closed(ClosedReason::AfterClose)),
        (friday(15, 30, 1), closed(ClosedReason::AfterClose)),
    ];
    for (at, expected) in cases {
        assert_eq!(cal.phase(Exchange::Nse, at), expected, "{at}");
        assert_eq!(cal.phase(Exchange::Bse, at), expected, "BSE {at}");
    }
}

#[test]
fn derivatives_have_no_pre_open() {
    let cal = calendar();
    assert_eq!(
        cal.phase(Exchange::Nfo, friday(9, 5, 0)),
        MarketPhase::Closed(ClosedReason::BeforeOpen)
    );
    assert_eq!(
        cal.phase(Exchange::Nfo, friday(9, 14, 59)),
        MarketPhase::Closed(ClosedReason::BeforeOpen)
    );
    assert_eq!(
        cal.phase(Exchange::Nfo, friday(9, 15, 0)),
        MarketPhase::Open
    );
    assert_eq!(
        cal.phase(Exchange::Mcx, friday(23, 29, 59)),
        MarketPhase::Open
    );
    assert_eq!(
        cal.phase(Exchange::Mcx, friday(23, 30, 0)),
        MarketPhase::Closed(ClosedReason::AfterClose)
    );
}

#[test]
fn pre_open_accepts_order_entry_but_matching_period_does_not() {
    let cal = calendar();
    assert_eq!(
        cal.check_order_entry(Exchange::Nse, Product::Cnc, friday(9, 0, 0)),
        Ok(MarketPhase::PreOpen)
    );
    let refused = cal
        .check_order_entry(Exchange::Nse, Product::Cnc, friday(9, 10, 0))
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "NSE is closed at 2026-11-27 09:10:00 IST: pre-open matching period"
    );
}

#[test]
fn weekend_is_closed() {
    let cal = calendar();
    for at in [ist(2026, 11, 28, 10, 0, 0), ist(2026, 11, 29, 10, 0, 0)] {
        assert_eq!(
            cal.phase(Exchange::Nse, at),
            MarketPhase::Closed(ClosedReason::Weekend)
        );
    }
}

#[test]
fn holiday_is_closed_and_named() {
    let cal = calendar();
    let at = ist(2026, 11, 24, 10, 0, 0);
    let MarketPhase::Closed(ClosedReason::Holiday { name }) = cal.phase(Exchange::Nse, at) else {
        panic!("24 November 2026 is a holiday");
    };
    assert!(name.contains("Guru Nanak"), "{name}");
    assert_eq!(
        cal.holiday(
            Exchange::Nse,
            NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
        ),
        Some(name.as_str())
    );
    let error = cal
        .check_order_entry(Exchange::Nse, Product::Cnc, at)
        .unwrap_err();
    assert!(error.to_string().contains("holiday"), "{error}");
}

#[test]
fn mis_cut_off_is_exact_and_configurable() {
    let cal = calendar();
    assert!(
        cal.check_order_entry(Exchange::Nse, Product::Mis, friday(15, 14, 59))
            .is_ok()
    );
    let refused = cal
        .check_order_entry(Exchange::Nse, Product::Mis, friday(15, 15, 0))
        .unwrap_err();
    assert!(matches!(refused, TradingHoursError::MisCutoff { .. }));
    assert_eq!(
        refused.to_string(),
        "MIS orders on NSE are refused from the 15:15:00 IST cut-off (now 2026-11-27 15:15:00 IST)"
    );
    // Delivery orders are unaffected by the MIS cut-off.
    assert!(
        cal.check_order_entry(Exchange::Nse, Product::Cnc, friday(15, 15, 0))
            .is_ok()
    );

    let later = cal
        .clone()
        .with_mis_cutoff(Exchange::Nse, NaiveTime::from_hms_opt(15, 20, 0).unwrap())
        .unwrap();
    assert!(
        later
            .check_order_entry(Exchange::Nse, Product::Mis, friday(15, 19, 59))
            .is_ok()
    );
    assert!(
        later
            .check_order_entry(Exchange::Nse, Product::Mis, friday(15, 20, 0))
            .is_err()
    );
    assert!(
        cal.clone()
            .with_mis_cutoff(Exchange::Nse, NaiveTime::from_hms_opt(16, 0, 0).unwrap())
            .is_err()
    );
    assert!(
        cal.with_mis_cutoff(
            Exchange::NseIndex,
            NaiveTime::from_hms_opt(15, 0, 0).unwrap()
        )
        .is_err()
    );
}

#[test]
fn utc_instants_on_another_ist_date() {
    let cal = calendar();
    // Friday 27 Nov 19:00 UTC is Saturday 00:30 IST: weekend, not Friday evening.
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 19, 0, 0).unwrap();
    assert_eq!(
        cal.phase(Exchange::Nse, at),
        MarketPhase::Closed(ClosedReason::Weekend)
    );
    // Sunday 29 Nov 22:00 UTC is Monday 03:30 IST: before Monday's open.
    let at = Utc.with_ymd_and_hms(2026, 11, 29, 22, 0, 0).unwrap();
    assert_eq!(
        cal.phase(Exchange::Nse, at),
        MarketPhase::Closed(ClosedReason::BeforeOpen)
    );
    assert_eq!(
        cal.next_open(Exchange::Nse, at),
        Some(Utc.with_ymd_and_hms(2026, 11, 30, 3, 45, 0).unwrap())
    );
    // Monday 23 Nov 18:29:59 UTC is Monday 23:59:59 IST; one second later it
    // is Tuesday 24 Nov, a holiday.
    let before_midnight = Utc.with_ymd_and_hms(2026, 11, 23, 18, 29, 59).unwrap();
    assert_eq!(
        cal.phase(Exchange::Nse, before_midnight),
        MarketPhase::Closed(ClosedReason::AfterClose)
    );
    assert!(matches!(
        cal.phase(
            Exchange::Nse,
            before_midnight + chrono::TimeDelta::seconds(1)
        ),
        MarketPhase::Closed(ClosedReason::Holiday { .. })
    ));
}

#[test]
fn next_open_skips_weekends_and_holidays() {
    let cal = calendar();
    // After Monday 23 Nov's close: Tuesday is a holiday, so Wednesday 09:15 IST.
    assert_eq!(
        cal.next_open(Exchange::Nse, ist(2026, 11, 23, 16, 0, 0)),
        Some(ist(2026, 11, 25, 9, 15, 0))
    );
    // Exactly at the open, the open is now.
    assert_eq!(
        cal.next_open(Exchange::Nse, friday(9, 15, 0)),
        Some(friday(9, 15, 0))
    );
    // One second after, it is the next trading day's.
    assert_eq!(
        cal.next_open(Exchange::Nse, friday(9, 15, 1)),
        Some(ist(2026, 11, 30, 9, 15, 0))
    );
    assert_eq!(cal.next_open(Exchange::NseIndex, friday(9, 0, 0)), None);
}

#[test]
fn special_sessions_replace_the_day() {
    let cal = calendar();
    // Muhurat trading on a Diwali holiday: 13:45-14:45 IST only.
    let muhurat = |h, m, s| ist(2025, 10, 21, h, m, s);
    assert_eq!(
        cal.phase(Exchange::Nse, muhurat(10, 0, 0)),
        MarketPhase::Closed(ClosedReason::BeforeOpen)
    );
    assert_eq!(
        cal.phase(Exchange::Nse, muhurat(13, 44, 59)),
        MarketPhase::Closed(ClosedReason::BeforeOpen)
    );
    assert_eq!(
        cal.phase(Exchange::Nse, muhurat(13, 45, 0)),
        MarketPhase::Open
    );
    assert_eq!(
        cal.phase(Exchange::Nse, muhurat(14, 44, 59)),
        MarketPhase::Open
    );
    assert_eq!(
        cal.phase(Exchange::Nse, muhurat(14, 45, 0)),
        MarketPhase::Closed(ClosedReason::AfterClose)
    );
    assert_eq!(
        cal.next_open(Exchange::Nse, ist(2025, 10, 20, 16, 0, 0)),
        Some(muhurat(13, 45, 0))
    );
    // A Saturday budget session.
    assert_eq!(
        cal.phase(Exchange::Nse, ist(2025, 2, 1, 10, 0, 0)),
        MarketPhase::Open
    );
    // MCX is not in that special session: closed on the Saturday.
    assert_eq!(
        cal.phase(Exchange::Mcx, ist(2025, 2, 1, 10, 0, 0)),
        MarketPhase::Closed(ClosedReason::Weekend)
    );
}

#[test]
fn index_segments_never_trade() {
    let cal = calendar();
    assert_eq!(
        cal.phase(Exchange::NseIndex, friday(10, 0, 0)),
        MarketPhase::Closed(ClosedReason::NotTradable)
    );
}

#[test]
fn calendar_data_is_validated() {
    let minimal = |sessions: &str, format: u32| {
        format!(
            r#"{{"format": {format}, "version": "t", "covers": {{"from": "2026-01-01", "to": "2026-12-31"}}, "sessions": {{{sessions}}}}}"#
        )
    };
    let ok = r#""NSE": {"open": "09:15", "close": "15:30", "mis_cutoff": "15:15"}"#;
    assert!(MarketCalendar::from_json_str(&minimal(ok, 1)).is_ok());
    assert!(matches!(
        MarketCalendar::from_json_str(&minimal(ok, 2)),
        Err(CalendarError::UnsupportedFormat {
            found: 2,
            supported: 1
        })
    ));
    for bad in [
        r#""NSE": {"open": "15:30", "close": "09:15", "mis_cutoff": "15:15"}"#,
        r#""NSE": {"open": "09:15", "close": "15:30", "mis_cutoff": "16:00"}"#,
        r#""NSE": {"open": "9am", "close": "15:30", "mis_cutoff": "15:15"}"#,
        r#""NSE_INDEX": {"open": "09:15", "close": "15:30", "mis_cutoff": "15:15"}"#,
        r#""NSE": {"open": "09:15", "close": "15:30", "mis_cutoff": "15:15", "pre_open": {"start": "09:10", "end": "09:20"}}"#,
    ] {
        assert!(
            matches!(
                MarketCalendar::from_json_str(&minimal(bad, 1)),
                Err(CalendarError::Invalid(_))
            ),
            "{bad}"
        );
    }
    let unknown_field = r#"{"format": 1, "version": "t", "sessions": {}, "extra": 1}"#;
    assert!(matches!(
        MarketCalendar::from_json_str(unknown_field),
        Err(CalendarError::Malformed { .. })
    ));
    assert!(matches!(
        MarketCalendar::from_json_str("{not json"),
        Err(CalendarError::Malformed { line: 1, .. })
    ));
    let twice = r#"{"format": 1, "version": "t", "sessions": {"NSE": {"open": "09:15", "close": "15:30", "mis_cutoff": "15:15"}},
        "holidays": [{"date": "2026-01-26", "name": "a", "exchanges": ["NSE"]}, {"date": "2026-01-26", "name": "b", "exchanges": ["NSE"]}]}"#;
    assert!(matches!(
        MarketCalendar::from_json_str(twice),
        Err(CalendarError::Invalid(_))
    ));
}

/// Runs the IST checks in a child process whose zone is New York, to show that
/// the machine's zone never leaks into market rules.
#[test]
fn answers_do_not_depend_on_the_process_time_zone() {
    if std::env::var_os("ASTA_CALENDAR_TZ_CHILD").is_some() {
        return;
    }
    for zone in ["America/New_York", "Pacific/Kiritimati", "UTC"] {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "tz_child_checks", "--test-threads", "1"])
            .env("TZ", zone)
            .env("ASTA_CALENDAR_TZ_CHILD", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "checks failed with TZ={zone}: {stdout}"
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran no check: {stdout}"
        );
    }
}

#[test]
fn tz_child_checks() {
    // Also runs directly in the parent's zone.
    let cal = calendar();
    assert_eq!(
        cal.phase(Exchange::Nse, friday(9, 15, 0)),
        MarketPhase::Open
    );
    assert_eq!(
        cal.phase(
            Exchange::Nse,
            Utc.with_ymd_and_hms(2026, 11, 27, 19, 0, 0).unwrap()
        ),
        MarketPhase::Closed(ClosedReason::Weekend)
    );
    assert_eq!(
        cal.next_open(Exchange::Nse, ist(2026, 11, 23, 16, 0, 0)),
        Some(ist(2026, 11, 25, 9, 15, 0))
    );
}
