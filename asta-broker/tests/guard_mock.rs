//! Every refusal path of the guard leaves the inner broker uncalled:
//! `MockBroker` expectations with `.times(0)` prove it.
#![cfg(feature = "mock")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use asta_broker::{Broker, Guard, MockBroker, ModifyRequest, Venue};
use asta_core::{
    ErrorCode, Exchange, OrderId, OrderRequest, PriceType, Product, Quantity, Side, Symbol,
};
use asta_risk::RiskConfig;
use common::*;

/// A mock that must never see an order, a modification or a bulk request.
fn untouchable() -> MockBroker {
    let mut mock = MockBroker::new();
    mock.expect_venue().return_const(Venue::Simulated);
    mock.expect_place_order().times(0);
    mock.expect_modify_order().times(0);
    mock.expect_cancel_all_orders().times(0);
    mock.expect_close_all_positions().times(0);
    mock.expect_order_status().times(0);
    mock.expect_quote().times(0);
    mock.expect_positions().times(0);
    mock
}

async fn guard_over(mock: MockBroker, config: RiskConfig) -> (Trail, Guard<MockBroker>) {
    let clock = clock();
    let trail = trail(&clock);
    let guard = Guard::builder(
        mock,
        catalog(),
        risk(&clock, config),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .build()
    .await
    .unwrap();
    guard
        .on_quote(Exchange::Nse, &sbin(), "800".parse().unwrap())
        .await;
    (trail, guard)
}

fn option_order(quantity: u64) -> OrderRequest {
    OrderRequest::builder()
        .symbol(Symbol::new("NIFTY28NOV2624000CE").unwrap())
        .exchange(Exchange::Nfo)
        .side(Side::Buy)
        .price_type(PriceType::Limit)
        .product(Product::Nrml)
        .quantity(Quantity::new(quantity).unwrap())
        .price("120".parse().unwrap())
        .strategy(strategy())
        .build()
        .unwrap()
}

#[tokio::test]
async fn input_and_risk_refusals_never_call_the_broker() {
    let (trail, guard) = guard_over(untouchable(), risk_config()).await;
    let unknown = OrderRequest::builder()
        .symbol(Symbol::new("NOSUCH").unwrap())
        .exchange(Exchange::Nse)
        .side(Side::Buy)
        .price_type(PriceType::Market)
        .product(Product::Mis)
        .quantity(Quantity::new(1).unwrap())
        .strategy(strategy())
        .build()
        .unwrap();
    let cases: Vec<(&str, OrderRequest, ErrorCode)> = vec![
        ("unknown instrument", unknown, ErrorCode::InvalidInput),
        (
            "off tick",
            limit(Side::Buy, 1, "800.02"),
            ErrorCode::InvalidInput,
        ),
        ("lot size", option_order(10), ErrorCode::InvalidInput),
        (
            "price collar",
            limit(Side::Buy, 1, "900"),
            ErrorCode::RiskRejected,
        ),
        (
            "per-order quantity",
            limit(Side::Buy, 5_000, "800"),
            ErrorCode::RiskRejected,
        ),
        (
            "no fresh reference",
            option_order(75),
            ErrorCode::RiskRejected,
        ),
    ];
    for (name, order, code) in cases {
        let error = guard.place_order(&order).await.unwrap_err();
        assert_eq!(error.public_error().code(), code, "{name}: {error}");
        let reference = error.reference().unwrap();
        assert_eq!(lines_with(&trail, reference.as_str()).len(), 1, "{name}");
    }
    // A modification off the grid.
    let base = limit(Side::Buy, 1, "800");
    let change = ModifyRequest::builder(OrderId::new("X-1").unwrap(), &base)
        .price("800.01".parse().unwrap())
        .build()
        .unwrap();
    assert!(guard.modify_order(&change).await.is_err());
    // A modification of an order risk does not know.
    let change = ModifyRequest::builder(OrderId::new("X-1").unwrap(), &base)
        .price("801".parse().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        guard
            .modify_order(&change)
            .await
            .unwrap_err()
            .public_error()
            .code(),
        ErrorCode::InvalidInput
    );
}

#[tokio::test]
async fn halted_and_audit_failure_never_call_the_broker_but_cancels_pass() {
    let mut mock = untouchable();
    mock.expect_cancel_order().times(2).returning(|_, _| Ok(()));
    let (trail, guard) = guard_over(mock, risk_config()).await;
    guard.with_risk(|r| r.halt("test")).await;
    let error = guard
        .place_order(&limit(Side::Buy, 1, "800"))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::Halted);
    guard
        .cancel_order(&strategy(), &OrderId::new("X-9").unwrap())
        .await
        .unwrap();

    // With the audit trail closed: no order, but cancels still go out.
    trail.log.close().unwrap();
    assert!(
        guard
            .place_order(&limit(Side::Buy, 1, "800"))
            .await
            .is_err()
    );
    guard
        .cancel_order(&strategy(), &OrderId::new("X-10").unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_audit_failure_on_an_active_account_sends_nothing_and_halts() {
    let (trail, guard) = guard_over(untouchable(), risk_config()).await;
    trail.log.close().unwrap();
    let error = guard
        .place_order(&limit(Side::Buy, 1, "800"))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::Halted);
    assert_eq!(guard.trading_state(), asta_risk::TradingState::Halted);
}

#[tokio::test]
async fn rate_limits_refuse_without_calling_the_broker() {
    let mut mock = MockBroker::new();
    mock.expect_venue().return_const(Venue::Simulated);
    let n = AtomicUsize::new(0);
    mock.expect_place_order().times(2).returning(move |_| {
        let i = n.fetch_add(1, Ordering::Relaxed);
        Ok(OrderId::new(&format!("M-{i}")).unwrap())
    });
    mock.expect_order_status().returning(|_, id| {
        Err(asta_broker::BrokerError::NotFound {
            detail: format!("{id}"),
        })
    });
    let (_trail, guard) = guard_over(mock, risk_config_with(tight_rates(2))).await;
    guard
        .place_order(&limit(Side::Buy, 1, "799"))
        .await
        .unwrap();
    guard
        .place_order(&limit(Side::Buy, 2, "799"))
        .await
        .unwrap();
    let error = guard
        .place_order(&limit(Side::Buy, 3, "799"))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::RateLimited);
}

#[tokio::test]
async fn the_mode_gate_is_checked_again_on_every_order() {
    // A broker whose venue changes after the guard was built.
    let mut mock = untouchable();
    mock.checkpoint();
    let calls = AtomicUsize::new(0);
    mock.expect_venue().returning(move || {
        if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            Venue::Simulated
        } else {
            Venue::External
        }
    });
    mock.expect_place_order().times(0);
    let (_trail, guard) = guard_over(mock, risk_config()).await;
    let error = guard
        .place_order(&limit(Side::Buy, 1, "800"))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::PermissionDenied);
}

#[tokio::test]
async fn sandbox_mode_refuses_a_mock_that_claims_to_be_external() {
    let mut mock = MockBroker::new();
    mock.expect_venue().return_const(Venue::External);
    mock.expect_place_order().times(0);
    let clock = clock();
    let trail = trail(&clock);
    let error = Guard::builder(
        mock,
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .build()
    .await
    .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::PermissionDenied);
}
