//! The guard over the OpenAlgo adapter against a stateful fake server on
//! 127.0.0.1 shaped like the contract data (issue 11): a mode flip in the
//! middle of a session, unknown MARKET and LIMIT placements resolved by
//! sync (same-second timestamps), no resubmission while pending, semi-auto
//! pending approval, live-shaped order books, a cancel that OpenAlgo calls
//! a success while the status says open, smart orders and baskets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;
#[path = "support/fake_openalgo.rs"]
mod fake_openalgo;
mod support;

use std::sync::Arc;

use asta_broker::{
    Broker, BrokerError, Confirm, ConfirmRefusal, ConfirmRequest, Guard, OpenAlgoBroker,
    OpenAlgoConfig, OutcomeDecision, PositionKey, ServerMode, SmartOrderOutcome,
};
use asta_core::{Clock, ErrorCode, Exchange, ManualClock, OrderId, Product, Side, TradingMode};
use asta_risk::{TotpRejection, TotpVerifier, TradingState};
use async_trait::async_trait;
use chrono::TimeDelta;
use common::*;
use fake_openalgo::{Fake, Place};
use secrecy::SecretString;
use support::TestServer;

const KEY: &str = "CANARY0KEY0feedface0feedface0feedface0feedface0feedface0feedface0";

struct Accept;

#[async_trait]
impl Confirm for Accept {
    async fn confirm(&self, _request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        Ok(())
    }
}

/// Accepts only `123456`.
struct Totp;

impl TotpVerifier for Totp {
    fn verify(&self, _operator: &str, code: &str) -> Result<(), TotpRejection> {
        if code == "123456" {
            Ok(())
        } else {
            Err(TotpRejection::WrongCode)
        }
    }
}

struct Session {
    clock: ManualClock,
    trail: Trail,
    alerts: Alerts,
    server: TestServer,
    fake: Fake,
    guard: Guard<OpenAlgoBroker>,
}

/// A guard in `mode` over an adapter for `server_mode`, the fake answering
/// as a server in that mode. The adapter's own reconciliation polls once.
async fn session(mode: TradingMode, server_mode: ServerMode) -> Session {
    let clock = clock();
    let trail = trail(&clock);
    let alerts = Alerts::default();
    let (server, fake) = Fake::start(server_mode.as_str(), clock.clone()).await;
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.server_mode = server_mode;
    config.reconcile_polls = 1;
    config.reconcile_interval_ms = 0;
    config.read_retries = 0;
    let broker =
        OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(clock.clone())).unwrap();
    let mut builder = Guard::builder(
        broker,
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .mode(mode)
    .alert_sink(Arc::new(alerts.clone()));
    if mode == TradingMode::Live {
        builder = builder.allow_live_trading(true).confirm(Arc::new(Accept));
    }
    let guard = builder.build().await.unwrap();
    guard
        .on_quote(Exchange::Nse, &sbin(), "800".parse().unwrap())
        .await;
    Session {
        clock,
        trail,
        alerts,
        server,
        fake,
        guard,
    }
}

fn code(error: &BrokerError) -> ErrorCode {
    error.public_error().code()
}

#[tokio::test]
async fn a_mode_flip_mid_session_halts_and_nothing_is_sent_after_it_is_seen() {
    let s = session(TradingMode::Sandbox, ServerMode::Analyze).await;
    s.guard
        .place_order(&limit(Side::Buy, 1, "800"))
        .await
        .unwrap();
    assert_eq!(s.server.count("/api/v1/placeorder"), 1);

    // Anyone with a key switches the analyzer off.
    s.fake.set(|st| st.mode = "live");
    let error = s
        .guard
        .place_order(&limit(Side::Buy, 2, "800"))
        .await
        .unwrap_err();
    assert_eq!(code(&error), ErrorCode::Halted, "{error}");
    assert_eq!(
        s.server.count("/api/v1/placeorder"),
        1,
        "nothing sent after the flip"
    );
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    assert!(s.alerts.kinds().contains(&"venue_mode_changed".to_owned()));
    assert_eq!(lines_with(&s.trail, "venue_mode_changed").len(), 1);

    // Halted: the next order is refused before anything is asked or sent.
    let error = s
        .guard
        .place_order(&limit(Side::Sell, 1, "800"))
        .await
        .unwrap_err();
    assert_eq!(code(&error), ErrorCode::Halted);
    assert_eq!(s.server.count("/api/v1/placeorder"), 1);
    // Sync sees the flip too and reads nothing from the live server.
    let books = s.server.count("/api/v1/orderbook");
    let report = s.guard.sync().await;
    assert!(report.venue_unconfirmed);
    assert_eq!(s.server.count("/api/v1/orderbook"), books);
    assert_intact(&s.trail);
}

#[tokio::test]
async fn a_flip_seen_only_in_an_answer_halts_and_keeps_the_order_unknown() {
    let s = session(TradingMode::Paper, ServerMode::Analyze).await;
    // The status check still says analyze, but the order is answered live
    // (the switch happened in between).
    s.fake.set(|st| {
        st.mode = "live";
        st.analyzer_says = Some("analyze");
    });
    let error = s
        .guard
        .place_order(&limit(Side::Buy, 1, "800"))
        .await
        .unwrap_err();
    assert!(error.is_mode_mismatch(), "{error}");
    assert!(!error.definitely_not_placed(), "it was sent");
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    assert_eq!(s.guard.unresolved_outcomes().len(), 1, "kept as unknown");
    assert_eq!(s.guard.risk_status().pending_approvals, 1, "still counted");
}

#[tokio::test]
async fn unknown_market_and_limit_placements_are_resolved_by_sync_in_the_same_second() {
    let s = session(TradingMode::Sandbox, ServerMode::Analyze).await;
    // The attempt is 0.7 s into a second: the book shows the whole second,
    // which looks earlier than the attempt.
    s.clock.advance(TimeDelta::milliseconds(700));
    s.fake.set(|st| st.place = Place::LostAnswer);
    let market_order = market(Side::Buy, 10);
    let limit_order = limit(Side::Sell, 3, "801")
        .to_builder()
        .symbol(asta_core::Symbol::new("INFY").unwrap())
        .build()
        .unwrap();
    s.guard
        .on_quote(Exchange::Nse, limit_order.symbol(), "800".parse().unwrap())
        .await;
    for order in [&market_order, &limit_order] {
        let error = s.guard.place_order(order).await.unwrap_err();
        assert_eq!(code(&error), ErrorCode::OutcomeUnknown, "{error}");
    }
    assert_eq!(s.guard.unresolved_outcomes().len(), 2);
    let report = s.guard.sync().await;
    assert_eq!(
        report.unknown_pending, 2,
        "not in the book yet: still unknown"
    );
    assert_eq!(report.unknown_resolved, 0);

    s.fake.reveal();
    let report = s.guard.sync().await;
    assert_eq!(report.unknown_resolved, 2, "{report:?}");
    assert_eq!(report.unknown_pending, 0);
    assert!(s.guard.unresolved_outcomes().is_empty());
    let status = s.guard.risk_status();
    assert_eq!(status.open_orders, 2);
    assert_eq!(status.pending_approvals, 0);
    assert_eq!(lines_with(&s.trail, "place_reconciled").len(), 2);
    assert_eq!(s.server.count("/api/v1/placeorder"), 2, "never resent");
}

#[tokio::test]
async fn resubmission_is_refused_while_pending_and_accepted_after_resolution() {
    let s = session(TradingMode::Sandbox, ServerMode::Analyze).await;
    s.fake.set(|st| st.place = Place::LostAnswer);
    let order = market(Side::Buy, 5);
    s.guard.place_order(&order).await.unwrap_err();
    s.fake.set(|st| st.place = Place::Normal);

    // Same exchange, symbol, side, product and strategy: refused, not sent,
    // even with another quantity and price type.
    for again in [order.clone(), limit(Side::Buy, 1, "800")] {
        let error = s.guard.place_order(&again).await.unwrap_err();
        assert_eq!(code(&error), ErrorCode::OutcomePending, "{error}");
        assert!(error.definitely_not_placed());
        assert!(
            error.to_string().contains("outcome still being checked"),
            "{error}"
        );
    }
    assert_eq!(s.server.count("/api/v1/placeorder"), 1);
    // The other side is not the same trade.
    s.guard
        .place_order(&limit(Side::Sell, 1, "800"))
        .await
        .unwrap();

    // Sync finds the first order: the block lifts.
    s.fake.reveal();
    assert_eq!(s.guard.sync().await.unknown_resolved, 1);
    // (Past the risk engine's own 2 s duplicate window, which alone could
    // not cover a reconciliation that takes longer.)
    s.clock.advance(TimeDelta::seconds(3));
    s.guard.place_order(&order).await.unwrap();

    // An operator's audited decision lifts it too (TOTP required).
    s.fake.set(|st| st.place = Place::LostAnswer);
    let other = market(Side::Buy, 7)
        .to_builder()
        .product(Product::Cnc)
        .build()
        .unwrap();
    s.guard.place_order(&other).await.unwrap_err();
    let ticket = s.guard.unresolved_outcomes()[0].ticket;
    let wrong = s
        .guard
        .resolve_outcome(ticket, OutcomeDecision::NotPlaced, "ops", "000000", &Totp)
        .await
        .unwrap_err();
    assert_eq!(code(&wrong), ErrorCode::PermissionDenied);
    assert_eq!(s.guard.unresolved_outcomes().len(), 1);
    s.guard
        .resolve_outcome(ticket, OutcomeDecision::NotPlaced, "ops", "123456", &Totp)
        .await
        .unwrap();
    assert!(s.guard.unresolved_outcomes().is_empty());
    let resolved = lines_with(&s.trail, "place_resolved");
    assert_eq!(resolved.len(), 1);
    assert!(resolved[0].contains("not_placed") && !resolved[0].contains("123456"));
    s.fake.set(|st| st.place = Place::Normal);
    s.clock.advance(TimeDelta::seconds(3));
    s.guard
        .on_quote(Exchange::Nse, &sbin(), "800".parse().unwrap())
        .await;
    s.guard.place_order(&other).await.unwrap();
    assert_intact(&s.trail);
}

#[tokio::test]
async fn semi_auto_pending_then_approved_then_rejected() {
    let s = session(TradingMode::Live, ServerMode::Live).await;
    s.fake.set(|st| st.place = Place::SemiAuto);
    let order = limit(Side::Buy, 2, "800");
    let error = s.guard.place_order(&order).await.unwrap_err();
    assert!(
        matches!(error.root(), BrokerError::PendingApproval { pending_id } if pending_id == "1"),
        "{error:?}"
    );
    assert!(!error.definitely_not_placed());
    assert_eq!(
        s.guard.risk_status().pending_approvals,
        1,
        "held as exposure"
    );
    assert_eq!(
        s.guard.unresolved_outcomes()[0].pending_approval.as_deref(),
        Some("1")
    );
    assert!(s.alerts.kinds().contains(&"pending_approval".to_owned()));
    assert_eq!(
        code(&s.guard.place_order(&order).await.unwrap_err()),
        ErrorCode::OutcomePending
    );

    // The operator approves it in OpenAlgo: it shows up in the (live-shaped:
    // no strategy, `28-Nov-2026` timestamps) order book; sync takes it.
    assert_eq!(s.guard.sync().await.unknown_pending, 1);
    s.fake.approve_pending();
    let report = s.guard.sync().await;
    assert_eq!(report.unknown_resolved, 1, "{report:?}");
    let status = s.guard.risk_status();
    assert_eq!((status.open_orders, status.pending_approvals), (1, 0));

    // The next one is rejected in OpenAlgo: never shows up; the operator
    // records that decision and the exposure is released.
    let sell = limit(Side::Sell, 1, "800");
    s.guard.place_order(&sell).await.unwrap_err();
    s.fake.reject_pending();
    assert_eq!(s.guard.sync().await.unknown_pending, 1);
    let ticket = s.guard.unresolved_outcomes()[0].ticket;
    s.guard
        .resolve_outcome(ticket, OutcomeDecision::NotPlaced, "ops", "123456", &Totp)
        .await
        .unwrap();
    assert_eq!(s.guard.risk_status().pending_approvals, 0);
    assert_eq!(s.guard.trading_state(), TradingState::Active);
}

#[tokio::test]
async fn a_cancel_openalgo_calls_success_while_the_status_says_open_is_unknown() {
    let s = session(TradingMode::Live, ServerMode::Live).await;
    let id = s
        .guard
        .place_order(&limit(Side::Buy, 1, "800"))
        .await
        .unwrap();
    s.fake.set(|st| st.cancel_lies = true);
    let error = s.guard.cancel_order(&strategy(), &id).await.unwrap_err();
    assert_eq!(code(&error), ErrorCode::OutcomeUnknown, "{error}");
    assert!(error.to_string().contains("does not show it"), "{error}");
    assert_eq!(s.guard.risk_status().open_orders, 1, "still counted open");

    // Later the status shows it cancelled: sync settles the cancel.
    s.fake.set_status(id.as_str(), "cancelled");
    let report = s.guard.sync().await;
    assert_eq!(report.amendments_resolved, 1, "{report:?}");
    assert_eq!(report.amendments_pending, 0);
    assert_eq!(s.guard.risk_status().open_orders, 0);
    assert_eq!(lines_with(&s.trail, "cancel_reconciled").len(), 1);

    // A cancel of an id the server does not know is NotFound.
    let unknown = OrderId::new("999999").unwrap();
    let error = s
        .guard
        .cancel_order(&strategy(), &unknown)
        .await
        .unwrap_err();
    assert!(
        matches!(error.root(), BrokerError::NotFound { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn start_up_sync_takes_in_orders_placed_elsewhere() {
    let s = session(TradingMode::Sandbox, ServerMode::Analyze).await;
    // An order placed by hand in OpenAlgo, unknown to ASTA.
    let bare = {
        let mut config = OpenAlgoConfig::new(&s.server.base_url());
        config.server_mode = ServerMode::Analyze;
        OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(s.clock.clone())).unwrap()
    };
    let id = bare.place_order(&limit(Side::Buy, 4, "799")).await.unwrap();
    assert_eq!(s.guard.risk_status().open_orders, 0);
    let report = s.guard.sync().await;
    assert!(report.startup_reconciled);
    assert_eq!(report.external_orders, vec![id]);
    assert_eq!(s.guard.risk_status().open_orders, 1, "counted as exposure");
    assert_eq!(lines_with(&s.trail, "external_order_adopted").len(), 1);
    // Only once.
    assert!(!s.guard.sync().await.startup_reconciled);
}

#[tokio::test]
async fn smart_orders_and_baskets_go_through_the_guard() {
    let s = session(TradingMode::Sandbox, ServerMode::Analyze).await;
    // The position is 0: a target of 3 is a BUY of 3, placed as a plain,
    // checked order (never placesmartorder).
    let got = s
        .guard
        .place_smart_order(&market(Side::Sell, 1), 3)
        .await
        .unwrap();
    assert!(matches!(got, SmartOrderOutcome::Placed(_)), "{got:?}");
    assert_eq!(s.server.count("/api/v1/placesmartorder"), 0);
    let sent = s.server.last("/api/v1/placeorder").unwrap().json();
    assert_eq!(
        (sent["action"].as_str(), sent["quantity"].as_str()),
        (Some("BUY"), Some("3"))
    );
    let key = PositionKey {
        exchange: Exchange::Nse,
        symbol: sbin(),
        product: Product::Mis,
    };
    assert_eq!(s.guard.open_position(&strategy(), &key).await.unwrap(), 0);
    assert!(matches!(
        s.guard.close_position(&strategy(), &key).await.unwrap(),
        SmartOrderOutcome::AlreadyMatched
    ));

    // A basket: all approved and sent...
    let infy = |side| {
        limit(side, 1, "800")
            .to_builder()
            .symbol(asta_core::Symbol::new("INFY").unwrap())
            .build()
            .unwrap()
    };
    s.guard
        .on_quote(
            Exchange::Nse,
            &asta_core::Symbol::new("INFY").unwrap(),
            "800".parse().unwrap(),
        )
        .await;
    let before = s.server.count("/api/v1/placeorder");
    let results = s
        .guard
        .place_basket(&[infy(Side::Buy), limit(Side::Sell, 1, "800")])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(s.server.count("/api/v1/placeorder"), before + 2);
    // ... or none: one order over the quantity limit refuses the whole basket.
    let error = s
        .guard
        .place_basket(&[infy(Side::Sell), limit(Side::Sell, 5_000, "800")])
        .await
        .unwrap_err();
    assert!(error.definitely_not_placed());
    assert_eq!(
        s.server.count("/api/v1/placeorder"),
        before + 2,
        "none sent"
    );
    assert_eq!(s.guard.risk_status().pending_approvals, 0);
    assert!(s.clock.now() > chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
}

#[tokio::test]
async fn a_live_session_on_an_analyzer_server_starts_halted() {
    let clock = clock();
    let trail = trail(&clock);
    let (server, _fake) = Fake::start("analyze", clock.clone()).await;
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.server_mode = ServerMode::Live;
    let broker =
        OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(clock.clone())).unwrap();
    let guard = Guard::builder(
        broker,
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .mode(TradingMode::Live)
    .allow_live_trading(true)
    .confirm(Arc::new(Accept))
    .build()
    .await
    .unwrap();
    assert_eq!(guard.trading_state(), TradingState::Halted);
    assert_eq!(lines_with(&trail, "venue_mode_changed").len(), 1);
    assert!(!audit_text(&trail).contains(KEY));
}
