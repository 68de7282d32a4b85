//! Breakers, TOTP resets, persistence across restarts and the IST day boundary.
#![allow(missing_docs, reason = "integration tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;

use asta_core::{
    ErrorCode, Exchange, ManualClock, MarketCalendar, Money, Product, PublicCode, Quantity, Side,
};
use asta_risk::{
    BreakerConfig, BreakerKind, EventCategory, FillReport, OrderContext, Rejection, ResetError,
    RiskEngine, RiskEventKind, StateError, StateScope, StateStore, TotpRejection, TradingState,
};
use chrono::{TimeDelta, TimeZone, Utc};
use common::*;

fn buy_fill(engine: &mut RiskEngine, symbol: &str, quantity: u64, price: &str) {
    engine.record_fill(&FillReport {
        exchange: Exchange::Nse,
        symbol: sym(symbol),
        product: Product::Cnc,
        side: Side::Buy,
        quantity: Quantity::new(quantity).unwrap(),
        price: p(price),
        strategy: tag("s1"),
        order_id: None,
    });
}

#[test]
fn daily_loss_at_below_and_above_trips_the_breaker() {
    // Cap 30,000. Hold 1,000 INFY bought at 100.
    let mut f = fixture();
    buy_fill(&mut f.engine, "INFY", 1_000, "100");
    f.engine
        .update_quote(Exchange::Nse, &sym("INFY"), p("70.05"));
    assert_eq!(f.engine.status().daily_loss, Money::from_rupees(29_950));
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("70"));
    assert_eq!(f.engine.trading_state(), TradingState::Active, "at the cap");
    f.engine
        .update_quote(Exchange::Nse, &sym("INFY"), p("69.95"));
    assert_eq!(
        f.engine.trading_state(),
        TradingState::Halted,
        "above the cap"
    );
    let status = f.engine.status();
    assert_eq!(status.breakers.len(), 1);
    assert_eq!(status.breakers[0].kind, BreakerKind::DailyLoss);
    // Latched: the price recovering does not un-halt.
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("100"));
    assert_eq!(f.engine.trading_state(), TradingState::Halted);
    let order = limit("INFY", Side::Buy, 1, "100");
    let rejection = f
        .engine
        .check_order(&order, &OrderContext::new())
        .unwrap_err();
    assert_eq!(rejection.public_code(), ErrorCode::Halted);
}

#[test]
fn profits_never_count_as_losses() {
    let mut f = fixture();
    buy_fill(&mut f.engine, "INFY", 1_000, "100");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("200"));
    let status = f.engine.status();
    assert_eq!(status.unrealized_pnl, Money::from_rupees(100_000));
    assert_eq!(status.daily_loss, Money::ZERO);
    assert_eq!(f.engine.trading_state(), TradingState::Active);
    // Realized loss partly offset by an open profit: the loss is the net.
    buy_fill(&mut f.engine, "TCS", 1_000, "100");
    f.engine.record_fill(&FillReport {
        exchange: Exchange::Nse,
        symbol: sym("TCS"),
        product: Product::Cnc,
        side: Side::Sell,
        quantity: Quantity::new(1_000).unwrap(),
        price: p("50"),
        strategy: tag("s1"),
        order_id: None,
    });
    let status = f.engine.status();
    assert_eq!(status.realized_pnl, Money::from_rupees(-50_000));
    assert_eq!(status.daily_loss, Money::ZERO, "net P&L is +50,000");
}

#[test]
fn a_breach_while_reducing_trips_once_then_reducing_orders_pass() {
    let mut f = fixture();
    buy_fill(&mut f.engine, "INFY", 1_000, "100");
    f.engine.set_reducing(StateScope::Account, "wind down");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("60"));
    assert_eq!(
        f.engine.trading_state(),
        TradingState::Halted,
        "a breach trips even when REDUCING"
    );
    f.engine
        .reset_scope(
            StateScope::Account,
            TradingState::Reducing,
            "ops",
            GOOD_CODE,
            &FakeTotp,
        )
        .unwrap();
    // The operator acknowledged today's breach: a further fall does not re-trip.
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("55"));
    assert_eq!(f.engine.trading_state(), TradingState::Reducing);
    let sell = limit("INFY", Side::Sell, 1_000, "55");
    assert!(
        f.engine.check_order(&sell, &OrderContext::new()).is_ok(),
        "reducing orders pass the loss check"
    );
}

/// Regression: acknowledging a breach (reset to REDUCING) must cover that
/// breach only. Once the account is back to ACTIVE, a new breach while
/// REDUCING (an operator's wind-down) trips the breaker again.
#[test]
fn an_acknowledgement_does_not_outlive_a_reset_to_active() {
    let mut f = fixture();
    buy_fill(&mut f.engine, "INFY", 1_000, "100");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("60"));
    assert_eq!(f.engine.trading_state(), TradingState::Halted);
    f.engine
        .reset_scope(
            StateScope::Account,
            TradingState::Reducing,
            "ops",
            GOOD_CODE,
            &FakeTotp,
        )
        .unwrap();
    // The price recovers; the operator puts the account back to ACTIVE.
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("100"));
    f.engine.reset("ops", GOOD_CODE, &FakeTotp).unwrap();
    assert_eq!(f.engine.trading_state(), TradingState::Active);
    // Later the same day: a wind-down, then a new breach.
    f.engine.set_reducing(StateScope::Account, "wind down");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("60"));
    assert_eq!(
        f.engine.trading_state(),
        TradingState::Halted,
        "the new breach was never acknowledged"
    );
    let breakers = f.engine.status().breakers;
    assert_eq!(breakers.len(), 1);
    assert_eq!(breakers[0].kind, BreakerKind::DailyLoss);

    // The same when the operator resets straight to ACTIVE after a recovery.
    let mut f = fixture();
    buy_fill(&mut f.engine, "INFY", 1_000, "100");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("60"));
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("100"));
    assert_eq!(f.engine.trading_state(), TradingState::Halted, "latched");
    f.engine.reset("ops", GOOD_CODE, &FakeTotp).unwrap();
    f.engine.set_reducing(StateScope::Account, "wind down");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("60"));
    assert_eq!(f.engine.trading_state(), TradingState::Halted);
}

/// Regression: an approved order's price stands in as the mark only until a
/// price is known. The fills mark the position, so our own limit price never
/// shows as a profit that hides a loss.
#[test]
fn fills_mark_the_position_not_the_approved_limit_price() {
    let sell_fill = |f: &mut Fixture, symbol: &str, quantity: u64, price: &str| {
        f.engine.record_fill(&FillReport {
            exchange: Exchange::Nse,
            symbol: sym(symbol),
            product: Product::Cnc,
            side: Side::Sell,
            quantity: Quantity::new(quantity).unwrap(),
            price: p(price),
            strategy: tag("s1"),
            order_id: None,
        });
    };
    let mut f = fixture();
    // No quote: the caller supplies the reference; a buy limit 4.9% above it.
    let context = OrderContext::new().reference_price(p("100"));
    f.engine
        .check_order(&limit("INFY", Side::Buy, 1_000, "104.9"), &context)
        .unwrap();
    buy_fill(&mut f.engine, "INFY", 1_000, "100");
    let status = f.engine.status();
    assert_eq!(
        status.unrealized_pnl,
        Money::ZERO,
        "no profit at the price paid"
    );
    assert_eq!(status.positions[0].mark, Some(p("100")));
    // Half sold at 95: realized -2,500, and the rest is marked at 95 too.
    sell_fill(&mut f, "INFY", 500, "95");
    let status = f.engine.status();
    assert_eq!(status.realized_pnl, Money::from_rupees(-2_500));
    assert_eq!(status.unrealized_pnl, Money::from_rupees(-2_500));
    assert_eq!(status.daily_loss, Money::from_rupees(5_000));
    // 25,050 more realized elsewhere: 30,050 is above the 30,000 cap.
    buy_fill(&mut f.engine, "TCS", 1_000, "100");
    sell_fill(&mut f, "TCS", 1_000, "74.95");
    assert_eq!(f.engine.status().daily_loss, Money::from_rupees(30_050));
    assert_eq!(f.engine.trading_state(), TradingState::Halted);
}

#[test]
fn rejection_storm_trips_the_strategy() {
    let config = builder()
        .breakers(BreakerConfig {
            max_rejections: 3,
            rejection_window_secs: 60,
            rejections_per_strategy: true,
        })
        .build()
        .unwrap();
    let mut f = fixture_with(config);
    let bad = limit("SBIN", Side::Buy, 1, "800.03");
    for i in 0..3 {
        assert_eq!(
            f.engine
                .check_order(&bad, &OrderContext::new())
                .unwrap_err()
                .rule(),
            "OFF_TICK",
            "{i}"
        );
    }
    assert_eq!(
        f.engine.strategy_state(&tag("s1")),
        TradingState::Active,
        "at the limit"
    );
    f.engine
        .check_order(&bad, &OrderContext::new())
        .unwrap_err();
    assert_eq!(f.engine.strategy_state(&tag("s1")), TradingState::Halted);
    assert_eq!(f.engine.trading_state(), TradingState::Active);
    let tripped = f.engine.drain_events().into_iter().any(|e| {
        matches!(
            e.kind,
            RiskEventKind::BreakerTripped {
                breaker: BreakerKind::RejectionStorm,
                ..
            }
        )
    });
    assert!(tripped);
}

#[test]
fn audit_and_auth_failures_halt_until_a_totp_reset() {
    let mut f = fixture();
    f.engine
        .report_audit_failure("disk full writing audit segment 12");
    assert_eq!(f.engine.trading_state(), TradingState::Halted);
    f.engine.report_auth_failure("broker session expired");
    assert_eq!(f.engine.status().breakers.len(), 2);

    let wrong = f.engine.reset("ops.lead", "000000", &FakeTotp).unwrap_err();
    assert_eq!(wrong, ResetError::Totp(TotpRejection::WrongCode));
    assert_eq!(wrong.public_code(), ErrorCode::PermissionDenied);
    assert_eq!(f.engine.trading_state(), TradingState::Halted);
    assert!(matches!(
        f.engine.reset("bad name\n", GOOD_CODE, &FakeTotp),
        Err(ResetError::BadOperator { .. })
    ));

    f.engine.drain_events();
    f.engine.reset("ops.lead", GOOD_CODE, &FakeTotp).unwrap();
    assert_eq!(f.engine.trading_state(), TradingState::Active);
    assert!(f.engine.status().breakers.is_empty());
    let events = f.engine.drain_events();
    let reset = events
        .iter()
        .find(|e| matches!(e.kind, RiskEventKind::ResetAuthorized { .. }))
        .unwrap();
    assert_eq!(reset.category, EventCategory::Security);
    let json = serde_json::to_string(&events).unwrap();
    assert!(
        !json.contains(GOOD_CODE),
        "the TOTP code never appears in an event"
    );
    assert!(json.contains("AUDIT_FAILURE") && json.contains("AUTH_FAILURE"));

    // Nothing to reset now.
    assert!(matches!(
        f.engine.reset("ops.lead", GOOD_CODE, &FakeTotp),
        Err(ResetError::NothingToReset { .. })
    ));
}

#[test]
fn reset_to_active_is_refused_while_the_loss_persists() {
    let mut f = fixture();
    buy_fill(&mut f.engine, "INFY", 1_000, "100");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("60"));
    assert_eq!(f.engine.trading_state(), TradingState::Halted);
    let refused = f.engine.reset("ops", GOOD_CODE, &FakeTotp).unwrap_err();
    assert!(
        matches!(refused, ResetError::ConditionPersists { .. }),
        "{refused}"
    );
    f.engine
        .reset_scope(
            StateScope::Account,
            TradingState::Reducing,
            "ops",
            GOOD_CODE,
            &FakeTotp,
        )
        .unwrap();
    assert_eq!(f.engine.trading_state(), TradingState::Reducing);
    let sell = limit("INFY", Side::Sell, 500, "60");
    assert!(
        f.engine
            .check_order(&sell, &OrderContext::new().reference_price(p("60")))
            .is_ok()
    );
    let buy = limit("INFY", Side::Buy, 1, "60");
    assert_eq!(
        f.engine
            .check_order(&buy, &OrderContext::new())
            .unwrap_err()
            .rule(),
        "REDUCING_ONLY"
    );
}

/// Opens the state in `dir`, creating it on the first call (as a first run does).
fn file_engine(dir: &std::path::Path, clock: &ManualClock) -> RiskEngine {
    let path = dir.join("risk.state");
    let store = if path.exists() {
        StateStore::file(path)
    } else {
        StateStore::create_file(path)
    };
    open(
        builder().max_open_orders(100).build().unwrap(),
        store,
        clock,
    )
}

#[test]
fn a_restart_keeps_the_loss_the_halt_and_the_rate_windows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let c = OrderContext::new()
        .intentional_duplicate(true)
        .reference_price(p("800"));
    let order = limit("SBIN", Side::Buy, 1, "800");
    {
        let mut engine = file_engine(dir.path(), &clock);
        for _ in 0..8 {
            engine.check_order(&order, &c).unwrap();
        }
        buy_fill(&mut engine, "INFY", 100, "100");
        engine.update_quote(Exchange::Nse, &sym("INFY"), p("90"));
        engine.halt_strategy(&tag("s9"), "test");
    }
    {
        let mut engine = file_engine(dir.path(), &clock);
        let status = engine.status();
        assert_eq!(status.daily_loss, Money::from_rupees(1_000), "loss kept");
        assert_eq!(status.pending_approvals, 8);
        assert_eq!(engine.strategy_state(&tag("s9")), TradingState::Halted);
        // Same second: the window still holds 8.
        let ninth = engine.check_order(&order, &c).unwrap_err();
        assert_eq!(ninth.public_code(), ErrorCode::RateLimited);
        let loaded = engine
            .drain_events()
            .into_iter()
            .any(|e| matches!(e.kind, RiskEventKind::StateLoaded { .. }));
        assert!(loaded);
        engine.halt("emergency stop");
    }
    let mut engine = file_engine(dir.path(), &clock);
    assert_eq!(engine.trading_state(), TradingState::Halted, "halt kept");
    clock.advance(TimeDelta::seconds(2));
    assert_eq!(engine.check_order(&order, &c).unwrap_err().rule(), "HALTED");
}

#[test]
fn deleting_the_state_file_does_not_unhalt() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
    let path = dir.path().join("risk.state");
    {
        let mut engine = file_engine(dir.path(), &clock);
        engine.halt("emergency stop");
        assert_eq!(engine.trading_state(), TradingState::Halted);
    }
    std::fs::remove_file(&path).unwrap();
    let reopened = RiskEngine::open(
        builder().max_open_orders(100).build().unwrap(),
        catalog(),
        Arc::new(MarketCalendar::bundled().unwrap()),
        Arc::new(clock.clone()),
        StateStore::file(&path),
    );
    let error = reopened.err().unwrap();
    assert!(matches!(error, StateError::Missing { .. }), "{error}");
    assert_eq!(error.public_code(), ErrorCode::Halted);
    assert!(
        error.to_string().contains("create it explicitly"),
        "{error}"
    );
}

#[test]
fn the_ist_day_rolls_while_the_utc_date_stays() {
    let dir = tempfile::tempdir().unwrap();
    // Thursday 26 November 2026, 15:00 IST (09:30 UTC).
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0).unwrap());
    let mut engine = file_engine(dir.path(), &clock);
    buy_fill(&mut engine, "INFY", 1_000, "100");
    engine.record_fill(&FillReport {
        exchange: Exchange::Nse,
        symbol: sym("INFY"),
        product: Product::Cnc,
        side: Side::Sell,
        quantity: Quantity::new(500).unwrap(),
        price: p("90"),
        strategy: tag("s1"),
        order_id: None,
    });
    engine.update_quote(Exchange::Nse, &sym("INFY"), p("80"));
    engine.report_auth_failure("session expired");
    let status = engine.status();
    assert_eq!(status.realized_pnl, Money::from_rupees(-5_000));
    assert_eq!(status.unrealized_pnl, Money::from_rupees(-10_000));
    assert_eq!(status.day.to_string(), "2026-11-26");
    drop(engine);

    // 23:59:59 IST on the 26th: same day.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 26, 18, 29, 59).unwrap());
    let engine = file_engine(dir.path(), &clock);
    assert_eq!(engine.status().realized_pnl, Money::from_rupees(-5_000));
    drop(engine);

    // 00:00 IST on the 27th is still the 26th in UTC.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 26, 18, 30, 0).unwrap());
    let mut engine = file_engine(dir.path(), &clock);
    let status = engine.status();
    assert_eq!(status.day.to_string(), "2026-11-27");
    assert_eq!(status.realized_pnl, Money::ZERO, "daily counters reset");
    assert_eq!(
        status.unrealized_pnl,
        Money::ZERO,
        "MTM counts from the last mark"
    );
    assert_eq!(status.positions.len(), 1, "positions carry over");
    assert_eq!(
        engine.trading_state(),
        TradingState::Halted,
        "a latched halt never resets"
    );
    let rolled = engine
        .drain_events()
        .into_iter()
        .find_map(|e| match e.kind {
            RiskEventKind::DayRolledOver { halt_kept, .. } => Some(halt_kept),
            _ => None,
        });
    assert_eq!(rolled, Some(true));
    // The new day's MTM: the mark falling from 80 to 79 is a 500 loss.
    engine.update_quote(Exchange::Nse, &sym("INFY"), p("79"));
    assert_eq!(engine.status().daily_loss, Money::from_rupees(500));
}

#[test]
fn per_day_rate_count_resets_at_ist_midnight() {
    let tight = asta_risk::WindowLimits {
        per_second: 2,
        per_minute: 3,
        per_day: 3,
    };
    let config = builder()
        .max_open_orders(100)
        .rate_limits(asta_risk::RateLimitConfig {
            account: tight,
            ..asta_risk::RateLimitConfig::default()
        })
        .build()
        .unwrap();
    // MCX trades until 23:30 IST; use NSE with a caller reference but the
    // hours gate decides: test the day count through the limiter-level test
    // and here check that the engine's status shows the per-day usage.
    let mut f = fixture_with(config);
    let c = OrderContext::new()
        .intentional_duplicate(true)
        .reference_price(p("800"));
    let order = limit("SBIN", Side::Buy, 1, "800");
    for _ in 0..3 {
        f.engine.check_order(&order, &c).unwrap();
        f.clock.advance(TimeDelta::seconds(61));
    }
    let day = f.engine.check_order(&order, &c).unwrap_err();
    assert!(matches!(
        day,
        Rejection::RateLimited {
            window: asta_risk::RateWindow::Day,
            count: 3,
            limit: 3,
            ..
        }
    ));
    // Monday 30 November, 09:30 IST: a new day.
    f.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 30, 4, 0, 0).unwrap());
    assert!(f.engine.check_order(&order, &c).is_ok());
}

#[test]
fn a_corrupt_state_file_halts_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("risk.state");
    let clock = ManualClock::new(t0());
    {
        let mut engine = file_engine(dir.path(), &clock);
        buy_fill(&mut engine, "INFY", 10, "100");
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let open_again = || {
        RiskEngine::open(
            builder().build().unwrap(),
            catalog(),
            Arc::new(MarketCalendar::bundled().unwrap()),
            Arc::new(clock.clone()),
            StateStore::file(&path),
        )
    };
    let error = open_again().unwrap_err();
    assert!(matches!(error, StateError::Corrupt { .. }));
    assert_eq!(error.public_code(), ErrorCode::Halted);
    let message = error.to_string();
    assert!(
        message.contains("corrupt") && message.contains("halted"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "never silently replaced"
    );

    let recover = |code: &str| {
        RiskEngine::recover_from_corrupt_state(
            builder().build().unwrap(),
            catalog(),
            Arc::new(MarketCalendar::bundled().unwrap()),
            Arc::new(clock.clone()),
            StateStore::file(&path),
            "ops.lead",
            code,
            &FakeTotp,
        )
    };
    assert!(matches!(
        recover("111111"),
        Err(StateError::RecoveryRefused(_))
    ));
    assert!(path.exists());
    let engine = recover(GOOD_CODE).unwrap();
    assert_eq!(engine.trading_state(), TradingState::Halted);
    assert_eq!(
        engine.status().breakers[0].kind,
        BreakerKind::StateRecovered
    );
    let quarantined = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".corrupt-"));
    assert!(quarantined);
    drop(engine);
    assert!(open_again().is_ok(), "the fresh state file is valid");
}

#[test]
fn a_failed_save_halts_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let clock = ManualClock::new(t0());
    let mut engine = file_engine(&state_dir, &clock);
    std::fs::remove_dir_all(&state_dir).unwrap();
    let order = limit("SBIN", Side::Buy, 1, "800");
    let c = OrderContext::new().reference_price(p("800"));
    let rejection = engine.check_order(&order, &c).unwrap_err();
    assert!(matches!(rejection, Rejection::StateUnavailable { .. }));
    assert_eq!(engine.trading_state(), TradingState::Halted);
    assert_eq!(
        engine.status().pending_approvals,
        0,
        "the unsaved approval is revoked"
    );
    let events = serde_json::to_string(&engine.drain_events()).unwrap();
    assert!(events.contains("STATE_SAVE_FAILED"), "{events}");
    assert!(
        events.contains("\"rule\":\"STATE_UNAVAILABLE\""),
        "{events}"
    );
    // Cancels still pass.
    assert!(
        engine
            .check_cancel(&asta_core::OrderId::new("A1").unwrap())
            .is_ok()
    );
    // A reset cannot be saved either.
    assert!(matches!(
        engine.reset("ops", GOOD_CODE, &FakeTotp),
        Err(ResetError::StateUnavailable { .. })
    ));
    std::fs::create_dir(&state_dir).unwrap();
    engine.reset("ops", GOOD_CODE, &FakeTotp).unwrap();
    clock.advance(TimeDelta::seconds(3));
    assert!(engine.check_order(&order, &c).is_ok());
}
