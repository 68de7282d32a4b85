//! Every pre-trade check through the engine: at, just below and just above
//! its limit, with the typed rejection it produces.
#![allow(missing_docs, reason = "integration tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use asta_core::{
    ErrorCode, Exchange, Money, OrderId, OrderRequest, PriceType, Product, PublicCode, Quantity,
    Side,
};
use asta_risk::{
    AlertAction, AlertKind, EventCategory, FillReport, MonitorConfig, OrderContext,
    RateLimitConfig, RateScope, RateWindow, Rejection, RiskEventKind, StateScope, TradingState,
    WindowLimits,
};
use chrono::{TimeDelta, TimeZone, Utc};
use common::*;

fn ctx() -> OrderContext {
    OrderContext::new()
}

fn fill(f: &mut Fixture, symbol: &str, side: Side, quantity: u64, price: &str) {
    f.engine.record_fill(&FillReport {
        exchange: Exchange::Nse,
        symbol: sym(symbol),
        product: Product::Cnc,
        side,
        quantity: Quantity::new(quantity).unwrap(),
        price: p(price),
        strategy: tag("s1"),
        order_id: None,
    });
}

#[test]
fn an_approval_reserves_and_is_audited() {
    let mut f = fixture();
    f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    let approval = f
        .engine
        .check_order(&limit("SBIN", Side::Buy, 10, "800.05"), &ctx())
        .unwrap();
    assert_eq!(approval.notional, Money::from_units(80_005_000));
    assert_eq!(approval.warnings, vec![AlertKind::FirstOrderInSymbol]);
    let status = f.engine.status();
    assert_eq!(status.pending_approvals, 1);
    let events = f.engine.drain_events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.kind {
            RiskEventKind::OrderApproved { .. } => "approved",
            RiskEventKind::UnusualOrder { .. } => "alert",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["alert", "approved"]);
    assert_eq!(events[0].category, EventCategory::Security);
    let json = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(json["event"], "ORDER_APPROVED");
    assert_eq!(json["category"], "RISK");
    assert_eq!(json["order"]["price"], "800.05");
    assert!(events[0].seq < events[1].seq);
}

#[test]
fn instrument_rules_come_from_the_catalog() {
    let mut f = fixture();
    f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    let nifty = |qty: u64| {
        OrderRequest::builder()
            .symbol(sym("NIFTY28NOV2424000CE"))
            .exchange(Exchange::Nfo)
            .side(Side::Buy)
            .price_type(PriceType::Limit)
            .product(Product::Nrml)
            .quantity(Quantity::new(qty).unwrap())
            .price(p("120"))
            .strategy(tag("s1"))
            .build()
            .unwrap()
    };
    let cases: Vec<(OrderRequest, &str)> = vec![
        (limit("WIPRO", Side::Buy, 1, "800"), "UNKNOWN_INSTRUMENT"),
        (nifty(70), "LOT_MULTIPLE"),
        (nifty(1800), "FREEZE_QUANTITY"),
        (limit("SBIN", Side::Buy, 1, "800.03"), "OFF_TICK"),
        (limit("SBIN", Side::Buy, 1, "900.05"), "OUTSIDE_BAND"),
    ];
    for (order, rule) in cases {
        let rejection = f.engine.check_order(&order, &ctx()).unwrap_err();
        assert_eq!(rejection.rule(), rule, "{rejection}");
        assert_eq!(rejection.public_code(), ErrorCode::InvalidInput);
    }
}

#[test]
fn market_orders_need_a_fresh_reference() {
    let mut f = fixture();
    let order = market("SBIN", Side::Buy, 1);
    let none = f.engine.check_order(&order, &ctx()).unwrap_err();
    assert!(matches!(
        none,
        Rejection::NoFreshReference { age_ms: None, .. }
    ));
    f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    f.clock.advance(TimeDelta::milliseconds(5_001));
    let stale = f.engine.check_order(&order, &ctx()).unwrap_err();
    assert_eq!(
        stale.to_string(),
        "no fresh reference price for SBIN on NSE (age 5001 ms; limit 5000 ms)"
    );
    f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    f.clock.advance(TimeDelta::milliseconds(5_000));
    assert!(f.engine.check_order(&order, &ctx()).is_ok(), "at the limit");
    // A caller-supplied reference counts as fresh.
    let other = market("INFY", Side::Buy, 1);
    assert!(
        f.engine
            .check_order(&other, &ctx().reference_price(p("1500")))
            .is_ok()
    );
}

#[test]
fn collar_through_the_engine() {
    let mut f = fixture();
    f.engine
        .update_quote(Exchange::Nse, &sym("RELIANCE"), p("1000"));
    for (price, ok) in [("1049.9", true), ("1050", true), ("1050.1", false)] {
        let result = f.engine.check_order(
            &limit("RELIANCE", Side::Buy, 1, price),
            &ctx().intentional_duplicate(true),
        );
        assert_eq!(result.is_ok(), ok, "{price}: {result:?}");
    }
}

#[test]
fn size_caps_at_below_and_above() {
    let mut f = fixture();
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("100"));
    let dup = ctx().intentional_duplicate(true);
    assert!(
        f.engine
            .check_order(&limit("INFY", Side::Buy, 999, "100"), &dup)
            .is_ok()
    );
    assert!(
        f.engine
            .check_order(&limit("INFY", Side::Buy, 1_000, "100"), &dup)
            .is_ok()
    );
    assert_eq!(
        f.engine
            .check_order(&limit("INFY", Side::Buy, 1_001, "100"), &dup)
            .unwrap_err(),
        Rejection::MaxQuantity {
            quantity: 1_001,
            limit: 1_000
        }
    );
    // Notional cap 2 lakh: 1,000 x 200 is at it, 200.05 is above.
    let mut f = fixture();
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("200"));
    for price in ["199.95", "200"] {
        let approval = f
            .engine
            .check_order(&limit("INFY", Side::Buy, 1_000, price), &dup);
        f.engine.release_approval(approval.unwrap().ticket);
    }
    let above = f
        .engine
        .check_order(&limit("INFY", Side::Buy, 1_000, "200.05"), &dup)
        .unwrap_err();
    assert_eq!(above.rule(), "MAX_NOTIONAL");
    assert_eq!(above.public_code(), ErrorCode::RiskRejected);
}

#[test]
fn position_value_per_symbol_at_below_and_above_thirty_percent() {
    // Cap: 30% of 10 lakh = 3 lakh. Hold 1,000 at 250 (2.5 lakh).
    let mut f = fixture();
    fill(&mut f, "INFY", Side::Buy, 1_000, "250");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("250"));
    let dup = ctx().intentional_duplicate(true);
    let at = f
        .engine
        .check_order(&limit("INFY", Side::Buy, 200, "250"), &dup);
    assert!(at.is_ok(), "exactly 3 lakh: {at:?}");
    f.engine.release_approval(at.unwrap().ticket);
    assert!(
        f.engine
            .check_order(&limit("INFY", Side::Buy, 199, "250"), &dup)
            .is_ok()
    );
    let above = f
        .engine
        .check_order(&limit("INFY", Side::Buy, 2, "250"), &dup)
        .unwrap_err();
    assert_eq!(
        above,
        Rejection::PositionLimit {
            symbol: sym("INFY"),
            value: Money::from_rupees(300_250),
            limit: Money::from_rupees(300_000)
        }
    );
    // Selling (reducing) is always fine.
    assert!(
        f.engine
            .check_order(&limit("INFY", Side::Sell, 500, "250"), &dup)
            .is_ok()
    );
}

#[test]
fn gross_exposure_and_open_orders() {
    let mut f = fixture();
    // Gross cap 5 lakh: 2.5 lakh in INFY and 2.5 lakh in TCS is at it.
    fill(&mut f, "INFY", Side::Buy, 1_000, "250");
    fill(&mut f, "TCS", Side::Buy, 1_000, "200");
    f.engine.update_quote(Exchange::Nse, &sym("INFY"), p("250"));
    f.engine.update_quote(Exchange::Nse, &sym("TCS"), p("200"));
    let dup = ctx().intentional_duplicate(true);
    assert!(
        f.engine
            .check_order(&limit("TCS", Side::Buy, 250, "200"), &dup)
            .is_ok()
    );
    let above = f
        .engine
        .check_order(&limit("TCS", Side::Buy, 1, "200"), &dup)
        .unwrap_err();
    assert_eq!(
        above,
        Rejection::GrossExposure {
            value: Money::from_rupees(500_200),
            limit: Money::from_rupees(500_000)
        }
    );

    // Open orders: limit 5, pending approvals count.
    let mut f = fixture();
    f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    for i in 0..5 {
        let price = format!("80{i}");
        f.engine
            .check_order(&limit("SBIN", Side::Buy, 1, &price), &ctx())
            .unwrap();
        f.clock.advance(TimeDelta::seconds(7));
        f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    }
    let sixth = f
        .engine
        .check_order(&limit("SBIN", Side::Buy, 1, "799"), &ctx())
        .unwrap_err();
    assert_eq!(sixth, Rejection::MaxOpenOrders { open: 5, limit: 5 });
}

#[test]
fn trading_hours_and_the_mis_cutoff() {
    let mut f = fixture();
    let dup = ctx().intentional_duplicate(true).reference_price(p("800"));
    // Saturday 28 November 2026, 10:30 IST.
    f.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 28, 5, 0, 0).unwrap());
    let closed = f
        .engine
        .check_order(&limit("SBIN", Side::Buy, 1, "800"), &dup)
        .unwrap_err();
    assert_eq!(closed.rule(), "MARKET_CLOSED");
    assert!(closed.to_string().contains("weekend"), "{closed}");
    let alerts = f.engine.drain_events().into_iter().filter(|e| {
        matches!(
            e.kind,
            RiskEventKind::UnusualOrder {
                alert: AlertKind::OffHours,
                ..
            }
        )
    });
    assert_eq!(alerts.count(), 1);

    let mis = limit("SBIN", Side::Buy, 1, "800")
        .to_builder()
        .product(Product::Mis)
        .build()
        .unwrap();
    // Friday 15:14:59 IST is before the cut-off, 15:15:00 is at it.
    f.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 27, 9, 44, 59).unwrap());
    assert!(f.engine.check_order(&mis, &dup).is_ok());
    f.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 27, 9, 45, 0).unwrap());
    assert_eq!(
        f.engine.check_order(&mis, &dup).unwrap_err().rule(),
        "MIS_CUTOFF"
    );
    // CNC still goes at 15:15.
    assert!(
        f.engine
            .check_order(&limit("SBIN", Side::Buy, 1, "800"), &dup)
            .is_ok()
    );
}

#[test]
fn duplicates_unless_intentional() {
    let mut f = fixture();
    f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    let order = limit("SBIN", Side::Buy, 1, "800");
    f.engine.check_order(&order, &ctx()).unwrap();
    f.clock.advance(TimeDelta::milliseconds(1_999));
    let dup = f.engine.check_order(&order, &ctx()).unwrap_err();
    assert_eq!(dup.rule(), "DUPLICATE");
    assert!(
        f.engine
            .check_order(&order, &ctx().intentional_duplicate(true))
            .is_ok()
    );
    f.clock.advance(TimeDelta::milliseconds(2_000));
    assert!(
        f.engine.check_order(&order, &ctx()).is_ok(),
        "window passed"
    );
}

#[test]
fn rate_limits_per_second_then_per_minute() {
    let mut f = fixture_with(builder().max_open_orders(100).build().unwrap());
    let c = ctx().intentional_duplicate(true).reference_price(p("800"));
    let order = limit("SBIN", Side::Buy, 1, "800");
    for i in 0..8 {
        assert!(f.engine.check_order(&order, &c).is_ok(), "order {i}");
    }
    let ninth = f.engine.check_order(&order, &c).unwrap_err();
    assert_eq!(
        ninth,
        Rejection::RateLimited {
            scope: RateScope::Account,
            window: RateWindow::Second,
            count: 8,
            limit: 8
        }
    );
    assert_eq!(ninth.public_code(), ErrorCode::RateLimited);
    f.clock.advance(TimeDelta::seconds(1));
    assert!(f.engine.check_order(&order, &c).is_ok());
    assert!(f.engine.check_order(&order, &c).is_ok());
    let eleventh = f.engine.check_order(&order, &c).unwrap_err();
    assert!(matches!(
        eleventh,
        Rejection::RateLimited {
            window: RateWindow::Minute,
            count: 10,
            ..
        }
    ));
    // Exactly 60 s after the first burst, its 8 have left the minute window.
    f.clock.advance(TimeDelta::seconds(59));
    for _ in 0..8 {
        assert!(f.engine.check_order(&order, &c).is_ok());
    }
}

#[test]
fn segment_and_strategy_scopes_stack() {
    let tight = WindowLimits {
        per_second: 2,
        per_minute: 10,
        per_day: 100,
    };
    let config = builder()
        .max_open_orders(100)
        .rate_limits(RateLimitConfig {
            segment: tight,
            ..RateLimitConfig::default()
        })
        .build()
        .unwrap();
    let mut f = fixture_with(config);
    let c = ctx().intentional_duplicate(true).reference_price(p("800"));
    let order = limit("SBIN", Side::Buy, 1, "800");
    f.engine.check_order(&order, &c).unwrap();
    f.engine.check_order(&order, &c).unwrap();
    let third = f.engine.check_order(&order, &c).unwrap_err();
    assert!(matches!(
        third,
        Rejection::RateLimited {
            scope: RateScope::Segment(Exchange::Nse),
            ..
        }
    ));
}

#[test]
fn batches_are_all_or_nothing() {
    let mut f = fixture_with(builder().max_open_orders(100).build().unwrap());
    let c = ctx().intentional_duplicate(true).reference_price(p("800"));
    let ok = limit("SBIN", Side::Buy, 1, "800");
    let batch = vec![ok.clone(); 6];
    assert_eq!(f.engine.check_batch(&batch, &c).unwrap().len(), 6);
    // Three more do not fit in the 8-per-second window: none is reserved.
    let rejection = f.engine.check_batch(&vec![ok.clone(); 3], &c).unwrap_err();
    assert!(matches!(rejection, Rejection::Batch { index: 2, .. }));
    assert_eq!(rejection.public_code(), ErrorCode::RateLimited);
    assert_eq!(f.engine.status().pending_approvals, 6);
    // A bad member anywhere rejects the batch.
    let bad = limit("SBIN", Side::Buy, 1, "800.03");
    let rejection = f.engine.check_batch(&[ok.clone(), bad], &c).unwrap_err();
    assert!(matches!(rejection, Rejection::Batch { index: 1, .. }));
    assert_eq!(f.engine.status().pending_approvals, 6);
    assert!(f.engine.check_batch(&[ok.clone(), ok], &c).is_ok());
    assert_eq!(
        f.engine.check_batch(&[], &c).unwrap_err(),
        Rejection::EmptyBatch
    );
}

#[test]
fn modification_cap_and_rapid_modifications() {
    let config = builder()
        .rate_limits(RateLimitConfig {
            max_modifications_per_order: 2,
            ..RateLimitConfig::default()
        })
        .build()
        .unwrap();
    let mut f = fixture_with(config);
    let c = ctx().reference_price(p("800"));
    let order = limit("SBIN", Side::Buy, 1, "800");
    let approval = f.engine.check_order(&order, &c).unwrap();
    let id = OrderId::new("B-1").unwrap();
    f.engine
        .order_opened(id.clone(), &order, Some(approval.ticket));
    for i in 1..=2 {
        f.clock.advance(TimeDelta::seconds(10));
        let new = order
            .to_builder()
            .price(p(&format!("80{i}")))
            .build()
            .unwrap();
        assert_eq!(
            f.engine.check_modify(&id, &new, &c).unwrap().modifications,
            i
        );
    }
    f.clock.advance(TimeDelta::seconds(10));
    let third = order.to_builder().price(p("803")).build().unwrap();
    assert_eq!(
        f.engine.check_modify(&id, &third, &c).unwrap_err(),
        Rejection::ModificationLimit {
            order_id: id.clone(),
            modifications: 2,
            limit: 2
        }
    );
    // Identity changes and unknown orders.
    let sell = order.to_builder().side(Side::Sell).build().unwrap();
    assert_eq!(
        f.engine.check_modify(&id, &sell, &c).unwrap_err().rule(),
        "MODIFY_CHANGES_IDENTITY"
    );
    let unknown = OrderId::new("nope").unwrap();
    assert_eq!(
        f.engine
            .check_modify(&unknown, &order, &c)
            .unwrap_err()
            .public_code(),
        ErrorCode::InvalidInput
    );

    // Rapid: more than 3 modifications within 10 s is blocked by default.
    let mut f = fixture();
    let approval = f.engine.check_order(&order, &c).unwrap();
    f.engine
        .order_opened(id.clone(), &order, Some(approval.ticket));
    for i in 1..=3 {
        f.clock.advance(TimeDelta::seconds(2));
        let new = order
            .to_builder()
            .price(p(&format!("80{i}")))
            .build()
            .unwrap();
        assert!(
            f.engine.check_modify(&id, &new, &c).is_ok(),
            "modification {i}"
        );
    }
    f.clock.advance(TimeDelta::seconds(2));
    let rapid = f.engine.check_modify(&id, &order, &c).unwrap_err();
    assert!(matches!(
        rapid,
        Rejection::UnusualOrder {
            alert: AlertKind::RapidModifications,
            ..
        }
    ));
}

#[test]
fn cancels_pass_when_halted_and_count_only_by_config() {
    let mut f = fixture();
    f.engine.halt("test");
    let id = OrderId::new("X1").unwrap();
    for _ in 0..50 {
        assert!(!f.engine.check_cancel(&id).unwrap().counted);
    }
    let halted = f
        .engine
        .check_order(&limit("SBIN", Side::Buy, 1, "800"), &ctx())
        .unwrap_err();
    assert_eq!(halted.public_code(), ErrorCode::Halted);

    let counted = builder()
        .rate_limits(RateLimitConfig {
            count_cancels: true,
            ..RateLimitConfig::default()
        })
        .build()
        .unwrap();
    let mut f = fixture_with(counted);
    for _ in 0..8 {
        assert!(f.engine.check_cancel(&id).unwrap().counted);
    }
    assert_eq!(
        f.engine.check_cancel(&id).unwrap_err().public_code(),
        ErrorCode::RateLimited
    );
}

#[test]
fn reducing_state_admits_only_reducing_orders() {
    let mut f = fixture();
    fill(&mut f, "SBIN", Side::Buy, 100, "800");
    f.engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    f.engine
        .set_reducing(StateScope::Account, "operator: wind down");
    assert_eq!(f.engine.trading_state(), TradingState::Reducing);
    let buy = f
        .engine
        .check_order(&limit("SBIN", Side::Buy, 1, "800"), &ctx())
        .unwrap_err();
    assert_eq!(buy.rule(), "REDUCING_ONLY");
    assert_eq!(
        f.engine
            .check_order(&limit("SBIN", Side::Sell, 101, "800"), &ctx())
            .unwrap_err()
            .rule(),
        "REDUCING_ONLY",
        "more than the position would flip it"
    );
    assert!(
        f.engine
            .check_order(&limit("SBIN", Side::Sell, 100, "800"), &ctx())
            .is_ok()
    );
}

#[test]
fn per_strategy_halt_leaves_others_trading() {
    let mut f = fixture();
    f.engine.halt_strategy(&tag("s1"), "runaway");
    let c = ctx().reference_price(p("800"));
    let s1 = limit("SBIN", Side::Buy, 1, "800");
    assert!(matches!(
        f.engine.check_order(&s1, &c).unwrap_err(),
        Rejection::Halted {
            scope: StateScope::Strategy(_)
        }
    ));
    let s2 = s1.to_builder().strategy(tag("s2")).build().unwrap();
    assert!(f.engine.check_order(&s2, &c).is_ok());
    assert_eq!(f.engine.trading_state(), TradingState::Active);
}

#[test]
fn unusual_size_blocks_and_first_symbol_warns() {
    let mut f = fixture_with(builder().max_open_orders(50).build().unwrap());
    let c = ctx().intentional_duplicate(true).reference_price(p("800"));
    for _ in 0..5 {
        f.engine
            .check_order(&limit("SBIN", Side::Buy, 10, "800"), &c)
            .unwrap();
        f.clock.advance(TimeDelta::seconds(7));
    }
    assert!(
        f.engine
            .check_order(&limit("SBIN", Side::Buy, 100, "800"), &c)
            .is_ok()
    );
    f.clock.advance(TimeDelta::seconds(7));
    let big = f
        .engine
        .check_order(&limit("SBIN", Side::Buy, 101, "800"), &c)
        .unwrap_err();
    assert!(matches!(
        big,
        Rejection::UnusualOrder {
            alert: AlertKind::UnusualQuantity,
            ..
        }
    ));
    // Configured to warn instead, the same order passes with a warning.
    let warn = MonitorConfig {
        unusual_size: AlertAction::Warn,
        ..MonitorConfig::default()
    };
    let mut f = fixture_with(builder().max_open_orders(50).monitor(warn).build().unwrap());
    for _ in 0..5 {
        f.engine
            .check_order(&limit("SBIN", Side::Buy, 10, "800"), &c)
            .unwrap();
        f.clock.advance(TimeDelta::seconds(7));
    }
    let approval = f
        .engine
        .check_order(&limit("SBIN", Side::Buy, 101, "800"), &c)
        .unwrap();
    assert!(approval.warnings.contains(&AlertKind::UnusualQuantity));
}

#[test]
fn failed_logins_block_a_source() {
    let mut f = fixture();
    for _ in 0..5 {
        assert!(
            f.engine
                .record_failed_login("203.0.113.9")
                .blocked_until
                .is_none()
        );
        f.clock.advance(TimeDelta::seconds(30));
    }
    let verdict = f.engine.record_failed_login("203.0.113.9");
    assert!(verdict.newly_blocked);
    assert!(f.engine.login_blocked_until("203.0.113.9").is_some());
    assert!(f.engine.login_blocked_until("203.0.113.10").is_none());
    let blocked: Vec<_> = f
        .engine
        .drain_events()
        .into_iter()
        .filter(|e| matches!(e.kind, RiskEventKind::LoginSourceBlocked { .. }))
        .collect();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].category, EventCategory::Security);
    f.clock.advance(TimeDelta::seconds(900));
    assert!(f.engine.login_blocked_until("203.0.113.9").is_none());
}
