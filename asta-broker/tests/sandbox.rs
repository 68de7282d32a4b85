//! SandboxBroker matching, positions, P&L, funds and fault injection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use asta_broker::{
    Broker, BrokerError, ModifyRequest, OrderState, Quote, SandboxBroker, SandboxConfig,
    SandboxConfigError, SandboxOp,
};
use asta_core::{
    Exchange, ManualClock, Money, OrderRequest, Price, PriceType, Product, Quantity, Side,
    StrategyTag, Symbol,
};
use chrono::{TimeZone, Utc};

fn p(s: &str) -> Price {
    s.parse().unwrap()
}

fn setup() -> (SandboxBroker, ManualClock, Symbol) {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
    (
        SandboxBroker::new(Arc::new(clock.clone())),
        clock,
        Symbol::new("SBIN").unwrap(),
    )
}

fn quote(clock: &ManualClock, ltp: &str, bid: &str, ask: &str) -> Quote {
    use asta_core::Clock;
    Quote::new(p(ltp), Some(p(bid)), Some(p(ask)), clock.now()).unwrap()
}

fn base(side: Side, qty: u64) -> asta_core::OrderRequestBuilder {
    OrderRequest::builder()
        .symbol(Symbol::new("SBIN").unwrap())
        .exchange(Exchange::Nse)
        .side(side)
        .product(Product::Cnc)
        .quantity(Quantity::new(qty).unwrap())
        .strategy(StrategyTag::new("test").unwrap())
}

fn market(side: Side, qty: u64) -> OrderRequest {
    base(side, qty)
        .price_type(PriceType::Market)
        .build()
        .unwrap()
}

fn limit(side: Side, qty: u64, price: &str) -> OrderRequest {
    base(side, qty)
        .price_type(PriceType::Limit)
        .price(p(price))
        .build()
        .unwrap()
}

fn tag() -> StrategyTag {
    StrategyTag::new("test").unwrap()
}

#[tokio::test]
async fn market_orders_fill_at_the_touch_with_deterministic_ids() {
    let (broker, clock, sbin) = setup();
    let err = broker
        .place_order(&market(Side::Buy, 10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BrokerError::Rejected { .. }),
        "no quote: {err:?}"
    );
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "800", "799.95", "800.05"),
    );
    let buy = broker.place_order(&market(Side::Buy, 10)).await.unwrap();
    let sell = broker.place_order(&market(Side::Sell, 4)).await.unwrap();
    assert_eq!((buy.as_str(), sell.as_str()), ("SBX-000001", "SBX-000002"));
    let s = broker.order_status(&tag(), &buy).await.unwrap();
    assert_eq!(s.state(), OrderState::Complete);
    assert_eq!(s.filled_quantity(), 10);
    assert_eq!(s.average_price(), Some(p("800.05")));
    let s = broker.order_status(&tag(), &sell).await.unwrap();
    assert_eq!(s.average_price(), Some(p("799.95")));

    let pos = &broker.positions().await.unwrap()[0];
    assert_eq!(pos.net_quantity(), 6);
    assert_eq!(pos.average_price(), p("800.05"));
    // Sold 4 at 799.95 bought at 800.05: -0.40 realized.
    assert_eq!(pos.realized_pnl().to_string(), "-0.4");
    // 6 marked at 800 against 800.05: -0.30 unrealized.
    assert_eq!(pos.unrealized_pnl().to_string(), "-0.3");
}

#[tokio::test]
async fn limit_orders_rest_until_a_quote_crosses_them() {
    let (broker, clock, sbin) = setup();
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "800", "799.95", "800.05"),
    );
    let id = broker
        .place_order(&limit(Side::Buy, 2, "795"))
        .await
        .unwrap();
    assert_eq!(
        broker.order_status(&tag(), &id).await.unwrap().state(),
        OrderState::Open
    );
    // Not crossed yet: ask 795.05 > 795.
    assert!(
        broker
            .set_quote(
                Exchange::Nse,
                &sbin,
                quote(&clock, "795", "794.95", "795.05")
            )
            .is_empty()
    );
    // Crossed: fills at its own limit price.
    let filled = broker.set_quote(Exchange::Nse, &sbin, quote(&clock, "794", "793.9", "794.1"));
    assert_eq!(filled, vec![id.clone()]);
    let s = broker.order_status(&tag(), &id).await.unwrap();
    assert_eq!(
        (s.state(), s.average_price()),
        (OrderState::Complete, Some(p("795")))
    );
    // A marketable limit fills at the touch on arrival.
    let id2 = broker
        .place_order(&limit(Side::Sell, 2, "790"))
        .await
        .unwrap();
    let s = broker.order_status(&tag(), &id2).await.unwrap();
    assert_eq!(s.average_price(), Some(p("793.9")));
    let pos = &broker.positions().await.unwrap()[0];
    assert!(pos.is_flat());
    assert_eq!(pos.realized_pnl().to_string(), "-2.2");
    assert_eq!(pos.unrealized_pnl(), Money::ZERO);
}

#[tokio::test]
async fn stop_loss_market_triggers_and_fills_at_the_touch() {
    let (broker, clock, sbin) = setup();
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "800", "799.95", "800.05"),
    );
    broker.place_order(&market(Side::Buy, 5)).await.unwrap();
    let stop = base(Side::Sell, 5)
        .price_type(PriceType::StopLossMarket)
        .trigger_price(p("790"))
        .build()
        .unwrap();
    let id = broker.place_order(&stop).await.unwrap();
    assert_eq!(
        broker.order_status(&tag(), &id).await.unwrap().state(),
        OrderState::TriggerPending
    );
    assert!(
        broker
            .set_quote(
                Exchange::Nse,
                &sbin,
                quote(&clock, "790.05", "790", "790.1")
            )
            .is_empty()
    );
    let filled = broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "789.5", "789.45", "789.55"),
    );
    assert_eq!(filled, vec![id.clone()]);
    let s = broker.order_status(&tag(), &id).await.unwrap();
    assert_eq!(s.average_price(), Some(p("789.45")));
    let pos = &broker.positions().await.unwrap()[0];
    assert!(pos.is_flat());
    // (789.45 - 800.05) * 5 = -53.
    assert_eq!(pos.realized_pnl().to_string(), "-53");
}

#[tokio::test]
async fn stop_loss_limit_triggers_then_rests_as_a_limit() {
    let (broker, clock, sbin) = setup();
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "800", "799.95", "800.05"),
    );
    // Buy stop: trigger 810, limit 811.
    let stop = base(Side::Buy, 3)
        .price_type(PriceType::StopLoss)
        .trigger_price(p("810"))
        .price(p("811"))
        .build()
        .unwrap();
    let id = broker.place_order(&stop).await.unwrap();
    // Triggered (ltp 810) but the ask 811.5 is above the limit: now an open limit.
    assert!(
        broker
            .set_quote(Exchange::Nse, &sbin, quote(&clock, "810", "809.9", "811.5"))
            .is_empty()
    );
    assert_eq!(
        broker.order_status(&tag(), &id).await.unwrap().state(),
        OrderState::Open
    );
    // Back below the trigger, still working as a limit; fills at 811 when crossed.
    let filled = broker.set_quote(Exchange::Nse, &sbin, quote(&clock, "805", "804.9", "805.1"));
    assert_eq!(filled, vec![id.clone()]);
    assert_eq!(
        broker
            .order_status(&tag(), &id)
            .await
            .unwrap()
            .average_price(),
        Some(p("811"))
    );
    // A stop whose trigger is already passed is rejected.
    let late = base(Side::Buy, 1)
        .price_type(PriceType::StopLossMarket)
        .trigger_price(p("800"))
        .build()
        .unwrap();
    assert!(matches!(
        broker.place_order(&late).await,
        Err(BrokerError::Rejected { .. })
    ));
}

#[tokio::test]
async fn shorts_flips_and_pnl_are_exact() {
    let (broker, clock, sbin) = setup();
    broker.set_quote(Exchange::Nse, &sbin, quote(&clock, "100", "100", "100"));
    broker.place_order(&market(Side::Sell, 3)).await.unwrap(); // short 3 @ 100
    broker.set_quote(Exchange::Nse, &sbin, quote(&clock, "90", "90", "90"));
    let pos = &broker.positions().await.unwrap()[0];
    assert_eq!(pos.net_quantity(), -3);
    assert_eq!(pos.unrealized_pnl().to_string(), "30");
    broker.place_order(&market(Side::Buy, 5)).await.unwrap(); // cover 3 (+30), long 2 @ 90
    let pos = &broker.positions().await.unwrap()[0];
    assert_eq!(pos.net_quantity(), 2);
    assert_eq!(pos.average_price(), p("90"));
    assert_eq!(pos.realized_pnl().to_string(), "30");
    assert_eq!(pos.unrealized_pnl(), Money::ZERO);
    // Average cost with a third-of-a-paisa remainder: 1 @ 100.01 + 2 @ 100.
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "100.01", "100.01", "100.01"),
    );
    broker.place_order(&market(Side::Buy, 1)).await.unwrap();
    let pos = &broker.positions().await.unwrap()[0];
    // (2*90 + 100.01) / 3 = 93.3366...
    assert_eq!(pos.average_price().to_string(), "93.3367");
    broker.place_order(&market(Side::Sell, 3)).await.unwrap();
    let pos = &broker.positions().await.unwrap()[0];
    // Realized exactly: 30 + 3*100.01 - 280.01 = 50.02.
    assert_eq!(pos.realized_pnl().to_string(), "50.02");
    let funds = broker.funds().await.unwrap();
    assert_eq!(funds.realized_pnl().to_string(), "50.02");
    assert_eq!(funds.available_cash().to_string(), "1000050.02");
    assert_eq!(funds.used_margin(), Money::ZERO);
}

#[tokio::test]
async fn margin_blocks_cash_and_refuses_what_cannot_be_paid() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
    let config = SandboxConfig {
        starting_cash: Money::from_rupees(10_000),
        margin_bps: 5_000,
        ..SandboxConfig::default()
    };
    let broker = SandboxBroker::with_config(Arc::new(clock.clone()), config).unwrap();
    let sbin = Symbol::new("SBIN").unwrap();
    broker.set_quote(Exchange::Nse, &sbin, quote(&clock, "100", "100", "100"));
    // 150 @ 100 at 50% margin = 7,500.
    let resting = broker
        .place_order(&limit(Side::Buy, 150, "90"))
        .await
        .unwrap();
    let funds = broker.funds().await.unwrap();
    assert_eq!(funds.used_margin().to_string(), "6750");
    assert_eq!(funds.available_cash().to_string(), "3250");
    let err = broker
        .place_order(&limit(Side::Buy, 100, "90"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("insufficient funds"), "{err}");
    broker.cancel_order(&tag(), &resting).await.unwrap();
    assert_eq!(
        broker.funds().await.unwrap().available_cash().to_string(),
        "10000"
    );
    broker.place_order(&market(Side::Buy, 100)).await.unwrap();
    // Reducing orders need no margin even when cash is short.
    broker.place_order(&market(Side::Sell, 100)).await.unwrap();
    assert!(matches!(
        SandboxBroker::with_config(
            Arc::new(clock),
            SandboxConfig {
                starting_cash: Money::ZERO,
                margin_bps: 0,
                ..SandboxConfig::default()
            }
        ),
        Err(SandboxConfigError::MarginOutOfRange(0))
    ));
}

#[tokio::test]
async fn modify_cancel_cancel_all_and_close_all() {
    let (broker, clock, sbin) = setup();
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "800", "799.95", "800.05"),
    );
    let order = limit(Side::Buy, 1, "790");
    let id = broker.place_order(&order).await.unwrap();
    let change = ModifyRequest::builder(id.clone(), &order)
        .price(p("801"))
        .build()
        .unwrap();
    assert_eq!(broker.modify_order(&change).await.unwrap(), id);
    // Now marketable: filled at the touch.
    assert_eq!(
        broker.order_status(&tag(), &id).await.unwrap().state(),
        OrderState::Complete
    );
    assert!(matches!(
        broker.modify_order(&change).await,
        Err(BrokerError::Rejected { .. })
    ));
    assert!(matches!(
        broker.cancel_order(&tag(), &id).await,
        Err(BrokerError::Rejected { .. })
    ));

    let a = broker
        .place_order(&limit(Side::Buy, 1, "700"))
        .await
        .unwrap();
    let b = broker
        .place_order(&limit(Side::Sell, 1, "900"))
        .await
        .unwrap();
    let report = broker.cancel_all_orders(&tag()).await.unwrap();
    assert_eq!(report.cancelled, vec![a, b]);
    assert!(report.is_complete());

    let infy = Symbol::new("INFY").unwrap();
    let infy_order = OrderRequest::builder()
        .symbol(infy.clone())
        .exchange(Exchange::Nse)
        .side(Side::Sell)
        .price_type(PriceType::Market)
        .product(Product::Mis)
        .quantity(Quantity::new(2).unwrap())
        .strategy(tag())
        .build()
        .unwrap();
    broker.set_quote(
        Exchange::Nse,
        &infy,
        quote(&clock, "1500", "1499.9", "1500.1"),
    );
    broker.place_order(&infy_order).await.unwrap();
    let report = broker.close_all_positions(&tag()).await.unwrap();
    assert_eq!(report.closed_count, 2);
    assert!(report.is_complete());
    assert!(
        broker
            .positions()
            .await
            .unwrap()
            .iter()
            .all(|p| p.is_flat())
    );
    let missing = asta_core::OrderId::new("SBX-999999").unwrap();
    assert!(matches!(
        broker.order_status(&tag(), &missing).await,
        Err(BrokerError::NotFound { .. })
    ));
}

#[tokio::test]
async fn injected_failures_do_nothing_and_are_reported() {
    let (broker, clock, sbin) = setup();
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "800", "799.95", "800.05"),
    );
    broker.fail_next(
        SandboxOp::Place,
        BrokerError::outcome_unknown("simulated timeout"),
    );
    let err = broker.place_order(&market(Side::Buy, 1)).await.unwrap_err();
    assert!(!err.definitely_not_placed());
    assert!(broker.order_book().await.unwrap().is_empty());
    broker.fail_next(SandboxOp::Cancel, BrokerError::rejected("simulated"));
    let id = broker
        .place_order(&limit(Side::Buy, 1, "700"))
        .await
        .unwrap();
    assert!(broker.cancel_order(&tag(), &id).await.is_err());
    broker.cancel_order(&tag(), &id).await.unwrap();
}

#[tokio::test]
async fn usable_as_a_trait_object() {
    let (broker, clock, sbin) = setup();
    broker.set_quote(
        Exchange::Nse,
        &sbin,
        quote(&clock, "800", "799.95", "800.05"),
    );
    let shared: Arc<dyn Broker> = Arc::new(broker.clone());
    let boxed: Box<dyn Broker> = Box::new(broker.clone());
    shared.place_order(&market(Side::Buy, 1)).await.unwrap();
    boxed.place_order(&market(Side::Buy, 1)).await.unwrap();
    // `&B` is a Broker too.
    async fn place_via<B: Broker>(b: B, order: &OrderRequest) {
        b.place_order(order).await.unwrap();
    }
    place_via(&broker, &market(Side::Buy, 1)).await;
    assert_eq!(broker.positions().await.unwrap()[0].net_quantity(), 3);
    assert_eq!(
        shared.quote(Exchange::Nse, &sbin).await.unwrap().ltp(),
        p("800")
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// For any sequence of fills that ends flat, realized P&L is exactly
        /// sell proceeds minus buy costs, whatever the averaging rounded.
        #[test]
        fn realized_pnl_is_exact_when_flat(
            trades in proptest::collection::vec((any::<bool>(), 1u64..50, 1i64..200_000), 1..25)
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let (broker, clock, sbin) = setup();
                let mut cash: i128 = 0;
                let mut net: i64 = 0;
                let mut steps: Vec<(Side, u64, i64)> = trades
                    .into_iter()
                    .map(|(buy, qty, units)| (if buy { Side::Buy } else { Side::Sell }, qty, units))
                    .collect();
                let planned: i64 = steps
                    .iter()
                    .map(|(side, qty, _)| if *side == Side::Buy { *qty as i64 } else { -(*qty as i64) })
                    .sum();
                if planned != 0 {
                    let side = if planned > 0 { Side::Sell } else { Side::Buy };
                    steps.push((side, planned.unsigned_abs(), 12_345));
                }
                for (side, qty, units) in steps {
                    let price = Price::from_units(units).unwrap();
                    broker.set_quote(
                        Exchange::Nse,
                        &sbin,
                        Quote::last(price, asta_core::Clock::now(&clock)).unwrap(),
                    );
                    let notional = i128::from(units) * i128::from(qty);
                    if side == Side::Buy {
                        cash -= notional;
                        net += qty as i64;
                    } else {
                        cash += notional;
                        net -= qty as i64;
                    }
                    broker.place_order(&market(side, qty)).await.unwrap();
                }
                prop_assert_eq!(net, 0);
                let pos = &broker.positions().await.unwrap()[0];
                prop_assert!(pos.is_flat());
                prop_assert_eq!(pos.realized_pnl().units(), cash);
                prop_assert_eq!(pos.unrealized_pnl(), Money::ZERO);
                Ok(())
            })?;
        }
    }
}

#[tokio::test]
async fn finished_orders_leave_a_bounded_history_and_working_orders_stay() {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
    let config = SandboxConfig {
        history_limit: 3,
        ..SandboxConfig::default()
    };
    let broker = SandboxBroker::with_config(Arc::new(clock.clone()), config).unwrap();
    let sbin = Symbol::new("SBIN").unwrap();
    broker.set_quote(Exchange::Nse, &sbin, quote(&clock, "100", "100", "100"));
    // One resting order placed first must outlive any amount of history.
    let resting = broker
        .place_order(&limit(Side::Buy, 1, "50"))
        .await
        .unwrap();
    let mut filled = Vec::new();
    for _ in 0..5 {
        filled.push(broker.place_order(&market(Side::Buy, 1)).await.unwrap());
    }
    // The two oldest fills are forgotten; the three newest are still known.
    for gone in &filled[..2] {
        let err = broker.order_status(&tag(), gone).await.unwrap_err();
        assert!(matches!(err, BrokerError::NotFound { .. }), "{err}");
    }
    for kept in &filled[2..] {
        let status = broker.order_status(&tag(), kept).await.unwrap();
        assert_eq!(status.state(), OrderState::Complete);
    }
    let book = broker.order_book().await.unwrap();
    let ids: Vec<_> = book.iter().map(|s| s.order_id().clone()).collect();
    assert_eq!(
        ids.len(),
        4,
        "one working order and three finished: {ids:?}"
    );
    assert_eq!(ids[0], resting, "placement order is kept");
    assert_eq!(
        broker.order_status(&tag(), &resting).await.unwrap().state(),
        OrderState::Open
    );
    // The resting order still fills from a later quote.
    let hits = broker.set_quote(Exchange::Nse, &sbin, quote(&clock, "49", "49", "49"));
    assert_eq!(hits, vec![resting.clone()]);
    assert!(matches!(
        SandboxBroker::with_config(
            Arc::new(clock),
            SandboxConfig {
                history_limit: 0,
                ..SandboxConfig::default()
            }
        ),
        Err(SandboxConfigError::NoHistory)
    ));
}

#[tokio::test]
async fn running_sums_agree_with_the_positions_after_a_long_mixed_session() {
    let (broker, clock, sbin) = setup();
    let infy = Symbol::new("INFY").unwrap();
    let mut price = 100i64;
    for step in 0..400u64 {
        price = 90 + (price * 7 + 13) % 21;
        let text = price.to_string();
        broker.set_quote(Exchange::Nse, &sbin, quote(&clock, &text, &text, &text));
        broker.set_quote(Exchange::Nse, &infy, quote(&clock, &text, &text, &text));
        let side = if step % 3 == 0 { Side::Sell } else { Side::Buy };
        let order = match step % 4 {
            0 => market(side, 1 + step % 5),
            1 => limit(side, 2, &(price - 1).to_string()),
            2 => base(side, 3)
                .symbol(infy.clone())
                .price_type(PriceType::Market)
                .build()
                .unwrap(),
            _ => limit(side, 1, &(price + 2).to_string()),
        };
        let placed = broker.place_order(&order).await;
        if step % 11 == 0
            && let Ok(id) = placed
        {
            let _ = broker.cancel_order(&tag(), &id).await;
        }
        let funds = broker.funds().await.unwrap();
        let positions = broker.positions().await.unwrap();
        let realized: Money = positions.iter().fold(Money::ZERO, |sum, p| {
            sum.checked_add(p.realized_pnl()).unwrap()
        });
        let unrealized: Money = positions.iter().fold(Money::ZERO, |sum, p| {
            sum.checked_add(p.unrealized_pnl()).unwrap()
        });
        assert_eq!(funds.realized_pnl(), realized, "step {step}");
        assert_eq!(funds.unrealized_pnl(), unrealized, "step {step}");
    }
    broker.cancel_all_orders(&tag()).await.unwrap();
    broker.close_all_positions(&tag()).await.unwrap();
    let funds = broker.funds().await.unwrap();
    assert_eq!(funds.used_margin(), Money::ZERO);
    assert_eq!(funds.unrealized_pnl(), Money::ZERO);
    assert_eq!(
        funds.available_cash(),
        Money::from_rupees(1_000_000)
            .checked_add(funds.realized_pnl())
            .unwrap()
    );
}
