//! Random operation sequences: the engine never panics and never approves an
//! order that breaks a configured limit.
#![allow(missing_docs, reason = "integration tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use asta_core::{Exchange, OrderId, OrderRequest, PriceType, Product, Quantity, Side};
use asta_risk::{ApprovalTicket, FillReport, OrderContext, TradingState};
use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use proptest::prelude::*;

const SYMBOLS: [&str; 4] = ["SBIN", "RELIANCE", "INFY", "TCS"];

#[derive(Debug, Clone)]
enum Op {
    Quote {
        s: usize,
        units: i64,
    },
    Order {
        s: usize,
        buy: bool,
        qty: u64,
        kind: u8,
        offset_bps: i64,
        intentional: bool,
    },
    Open {
        pick: usize,
    },
    Release {
        pick: usize,
    },
    Close {
        pick: usize,
    },
    Modify {
        pick: usize,
        qty: u64,
        offset_bps: i64,
    },
    Fill {
        s: usize,
        buy: bool,
        qty: u64,
        units: i64,
    },
    Cancel {
        pick: usize,
    },
    Advance {
        ms: i64,
    },
    Halt,
    Reset,
    Login {
        source: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, 500_000i64..20_000_000).prop_map(|(s, units)| Op::Quote { s, units }),
        (
            0..4usize,
            any::<bool>(),
            1u64..1_500,
            0u8..4,
            -800i64..800,
            any::<bool>()
        )
            .prop_map(|(s, buy, qty, kind, offset_bps, intentional)| Op::Order {
                s,
                buy,
                qty,
                kind,
                offset_bps,
                intentional
            }),
        (0..8usize).prop_map(|pick| Op::Open { pick }),
        (0..8usize).prop_map(|pick| Op::Release { pick }),
        (0..8usize).prop_map(|pick| Op::Close { pick }),
        (0..8usize, 1u64..1_500, -800i64..800).prop_map(|(pick, qty, offset_bps)| Op::Modify {
            pick,
            qty,
            offset_bps
        }),
        (0..4usize, any::<bool>(), 1u64..500, 500_000i64..20_000_000)
            .prop_map(|(s, buy, qty, units)| Op::Fill { s, buy, qty, units }),
        (0..8usize).prop_map(|pick| Op::Cancel { pick }),
        (0i64..4_000).prop_map(|ms| Op::Advance { ms }),
        Just(Op::Halt),
        Just(Op::Reset),
        (0u8..3).prop_map(|source| Op::Login { source }),
    ]
}

/// A price on the 0.1 tick grid (valid for every fixture symbol), above zero.
fn on_grid(units: i64) -> asta_core::Price {
    let units = (units / 1_000).max(1) * 1_000;
    asta_core::Price::from_units(units).unwrap()
}

fn count_in(times: &[DateTime<Utc>], window: TimeDelta) -> usize {
    times
        .iter()
        .map(|end| {
            times
                .iter()
                .filter(|t| **t > *end - window && **t <= *end)
                .count()
        })
        .max()
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn never_panics_and_never_approves_beyond_a_limit(ops in prop::collection::vec(op(), 1..150)) {
        let config = builder().build().unwrap();
        let limits = config.limits().clone();
        let mut f = fixture_with(config);
        let mut quotes: [Option<(asta_core::Price, DateTime<Utc>)>; 4] = [None; 4];
        let mut tickets: Vec<(ApprovalTicket, OrderRequest)> = Vec::new();
        let mut opened: Vec<(OrderId, OrderRequest)> = Vec::new();
        let mut counted_times: Vec<DateTime<Utc>> = Vec::new();
        let mut next_id = 0u32;
        for op in ops {
            let now = f.clock.now_for_test();
            match op {
                Op::Quote { s, units } => {
                    let price = on_grid(units);
                    f.engine.update_quote(Exchange::Nse, &sym(SYMBOLS[s]), price);
                    quotes[s] = Some((price, now));
                }
                Op::Order { s, buy, qty, kind, offset_bps, intentional } => {
                    let base = quotes[s].map_or(on_grid(10_000_000), |q| q.0);
                    let shifted = base.units() + base.units() * offset_bps / 10_000;
                    let price = on_grid(shifted);
                    let builder = OrderRequest::builder()
                        .symbol(sym(SYMBOLS[s]))
                        .exchange(Exchange::Nse)
                        .side(if buy { Side::Buy } else { Side::Sell })
                        .product(Product::Cnc)
                        .quantity(Quantity::new(qty).unwrap())
                        .strategy(tag("s1"));
                    let order = match kind {
                        0 => builder.price_type(PriceType::Market).build(),
                        1 => builder.price_type(PriceType::Limit).price(price).build(),
                        2 => builder.price_type(PriceType::StopLossMarket).trigger_price(price).build(),
                        _ => builder.price_type(PriceType::StopLoss).price(price).trigger_price(price).build(),
                    }.unwrap();
                    let state_before = f.engine.strategy_state(&tag("s1"));
                    let before = f.engine.status();
                    let open_before = before.open_orders + before.pending_approvals;
                    let ctx = OrderContext::new().intentional_duplicate(intentional);
                    if let Ok(approval) = f.engine.check_order(&order, &ctx) {
                        prop_assert!(state_before != TradingState::Halted);
                        prop_assert!(qty <= limits.max_order_quantity);
                        prop_assert!(approval.notional <= limits.max_order_notional);
                        prop_assert!(open_before < limits.max_open_orders as usize);
                        let fresh = quotes[s].filter(|(_, at)| now.signed_duration_since(*at) <= TimeDelta::milliseconds(limits.quote_max_age_ms as i64));
                        let (reference, _) = fresh.expect("approved without a fresh reference");
                        for checked in [order.price(), order.trigger_price()].into_iter().flatten() {
                            let diff = i128::from(checked.abs_diff(reference).units()) * 10_000;
                            prop_assert!(diff <= i128::from(reference.units()) * i128::from(limits.collar_bps), "collar broken");
                        }
                        let after = f.engine.status();
                        prop_assert!(
                            after.gross_exposure <= limits.max_gross_exposure
                                || after.gross_exposure <= before.gross_exposure,
                            "gross exposure raised above its cap"
                        );
                        counted_times.push(now);
                        tickets.push((approval.ticket, order));
                    }
                }
                Op::Open { pick } => {
                    if !tickets.is_empty() {
                        let (ticket, order) = tickets.remove(pick % tickets.len());
                        next_id += 1;
                        let id = OrderId::new(&format!("O{next_id}")).unwrap();
                        f.engine.order_opened(id.clone(), &order, Some(ticket));
                        opened.push((id, order));
                    }
                }
                Op::Release { pick } => {
                    if !tickets.is_empty() {
                        let (ticket, _) = tickets.remove(pick % tickets.len());
                        f.engine.release_approval(ticket);
                    }
                }
                Op::Close { pick } => {
                    if !opened.is_empty() {
                        let (id, _) = opened.remove(pick % opened.len());
                        f.engine.order_closed(&id);
                    }
                }
                Op::Modify { pick, qty, offset_bps } => {
                    if !opened.is_empty() {
                        let index = pick % opened.len();
                        let (id, order) = opened[index].clone();
                        let mut b = order.to_builder().quantity(Quantity::new(qty).unwrap());
                        if let Some(price) = order.price() {
                            b = b.price(on_grid(price.units() + price.units() * offset_bps / 10_000));
                        }
                        if let Some(trigger) = order.trigger_price() {
                            // SL orders here carry trigger == price; keep it so.
                            let base = order.price().unwrap_or(trigger);
                            b = b.trigger_price(on_grid(base.units() + base.units() * offset_bps / 10_000));
                        }
                        if let Ok(new) = b.build()
                            && f.engine.check_modify(&id, &new, &OrderContext::new()).is_ok()
                        {
                            prop_assert!(qty <= limits.max_order_quantity);
                            counted_times.push(now);
                            opened[index].1 = new;
                        }
                    }
                }
                Op::Fill { s, buy, qty, units } => {
                    f.engine.record_fill(&FillReport {
                        exchange: Exchange::Nse,
                        symbol: sym(SYMBOLS[s]),
                        product: Product::Cnc,
                        side: if buy { Side::Buy } else { Side::Sell },
                        quantity: Quantity::new(qty).unwrap(),
                        price: on_grid(units),
                        strategy: tag("s1"),
                        order_id: None,
                    });
                }
                Op::Cancel { pick } => {
                    let id = opened.get(pick % opened.len().max(1)).map_or_else(|| OrderId::new("none").unwrap(), |o| o.0.clone());
                    prop_assert!(f.engine.check_cancel(&id).is_ok(), "cancels always pass");
                }
                Op::Advance { ms } => f.clock.advance(TimeDelta::milliseconds(ms)),
                Op::Halt => f.engine.halt("random halt"),
                Op::Reset => { let _ = f.engine.reset("ops", GOOD_CODE, &FakeTotp); }
                Op::Login { source } => { f.engine.record_failed_login(&format!("10.0.0.{source}")); }
            }
            let status = f.engine.status();
            prop_assert!(status.open_orders + status.pending_approvals <= limits.max_open_orders as usize);
            let _ = serde_json::to_string(&f.engine.drain_events()).unwrap();
        }
        let rates = limits.rate_limits.account;
        prop_assert!(count_in(&counted_times, TimeDelta::seconds(1)) <= rates.per_second as usize);
        prop_assert!(count_in(&counted_times, TimeDelta::seconds(60)) <= rates.per_minute as usize);
    }
}

#[test]
fn the_random_sequences_do_approve_orders() {
    // The property would pass vacuously if nothing were ever approved: check
    // that the quote generator yields approvable orders.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(16));
    let approved = std::cell::Cell::new(0usize);
    runner
        .run(&prop::collection::vec(op(), 100..150), |ops| {
            let mut f = fixture();
            for op in ops {
                if let Op::Quote { s, units } = op {
                    f.engine
                        .update_quote(Exchange::Nse, &sym(SYMBOLS[s]), on_grid(units));
                    let order = OrderRequest::builder()
                        .symbol(sym(SYMBOLS[s]))
                        .exchange(Exchange::Nse)
                        .side(Side::Buy)
                        .product(Product::Cnc)
                        .quantity(Quantity::new(1).unwrap())
                        .strategy(tag("s1"))
                        .price_type(PriceType::Market)
                        .build()
                        .unwrap();
                    if f.engine.check_order(&order, &OrderContext::new()).is_ok() {
                        approved.set(approved.get() + 1);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(approved.get() >= 16, "only {} approvals", approved.get());
}

trait NowForTest {
    fn now_for_test(&self) -> DateTime<Utc>;
}

impl NowForTest for asta_core::ManualClock {
    fn now_for_test(&self) -> DateTime<Utc> {
        asta_core::Clock::now(self)
    }
}
