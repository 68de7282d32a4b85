//! Cost of asta-risk's pre-trade decision and of its rate-limit check.
//!
//! Run with: cargo bench --bench risk
//!
//! `risk_full_decision_100_positions` is one `check_order` with every check
//! on (catalog, hours, collar, size, duplicates, daily loss, exposure over
//! 100 open positions, security monitor with a primed norm, three rate
//! scopes) ending in an approval, on an in-memory state store (a file store
//! adds one fsync per decision). Each iteration decides on a fresh clone of
//! a primed engine, so every sample is an approval rather than a rate-limit
//! rejection; cloning happens outside the timed part. After criterion's run
//! the bench prints its own median and p99 from a simple timed loop.
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    reason = "bench fixtures are constants; a bad one should stop the bench"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asta_core::{
    Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest, Price,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{
    FillReport, OrderContext, RateLimiter, RequiredLimits, RiskConfig, RiskEngine, StateStore,
    WindowLimits,
};
use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const POSITIONS: usize = 100;

fn symbol(i: usize) -> Symbol {
    Symbol::new(&format!("STK{i:03}")).expect("symbol")
}

fn order(i: usize, quantity: u64) -> OrderRequest {
    OrderRequest::builder()
        .symbol(symbol(i))
        .exchange(Exchange::Nse)
        .side(Side::Buy)
        .price_type(PriceType::Limit)
        .product(Product::Cnc)
        .quantity(Quantity::new(quantity).expect("quantity"))
        .price("500.05".parse().expect("price"))
        .strategy(StrategyTag::new("bench").expect("strategy"))
        .build()
        .expect("order")
}

/// An engine with 100 positions, fresh quotes, a primed size norm and rate
/// history, at 09:30 IST on a trading day.
fn primed_engine() -> RiskEngine {
    let mut csv =
        String::from("exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n");
    for i in 0..POSITIONS {
        writeln!(csv, "NSE,STK{i:03},0.05,1,,400,600").expect("write");
    }
    let catalog = InstrumentCatalog::from_csv_reader(csv.as_bytes()).expect("catalog");
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0)
            .single()
            .expect("instant"),
    );
    let config = RiskConfig::builder(RequiredLimits {
        capital: Money::from_rupees(1_000_000_000),
        max_order_quantity: 10_000,
        max_order_notional: Money::from_rupees(5_000_000),
        max_gross_exposure: Money::from_rupees(2_000_000_000),
    })
    .max_open_orders(500)
    .build()
    .expect("config");
    let mut engine = RiskEngine::open(
        config,
        Arc::new(catalog),
        Arc::new(MarketCalendar::bundled().expect("calendar")),
        Arc::new(clock.clone()),
        StateStore::dangerous_in_memory(),
    )
    .expect("engine");
    let price: Price = "500".parse().expect("price");
    for i in 0..POSITIONS {
        engine.update_quote(Exchange::Nse, &symbol(i), price);
        engine.record_fill(&FillReport {
            exchange: Exchange::Nse,
            symbol: symbol(i),
            product: Product::Cnc,
            side: Side::Buy,
            quantity: Quantity::new(100).expect("quantity"),
            price,
            strategy: StrategyTag::new("bench").expect("strategy"),
            order_id: None,
        });
    }
    // Prime the size norm for STK000 (20 orders), spaced to respect the rate limits.
    for _ in 0..20 {
        let approval = engine
            .check_order(&order(0, 10), &OrderContext::new().reference_price(price))
            .expect("priming order");
        engine.release_approval(approval.ticket);
        clock.advance(TimeDelta::seconds(7));
    }
    clock.advance(TimeDelta::seconds(61));
    for i in 0..POSITIONS {
        engine.update_quote(Exchange::Nse, &symbol(i), price);
    }
    engine.drain_events();
    engine
}

fn full_decision(c: &mut Criterion) {
    let base = primed_engine();
    let next = order(0, 12);
    let context = OrderContext::new();
    {
        let mut probe = base.dangerous_clone_in_memory();
        probe
            .check_order(&next, &context)
            .expect("the benchmarked decision must be an approval");
    }
    c.bench_function("risk_full_decision_100_positions", |b| {
        b.iter_batched(
            || base.dangerous_clone_in_memory(),
            |mut engine| {
                let decision = engine.check_order(black_box(&next), &context);
                black_box(decision.is_ok());
                engine
            },
            BatchSize::SmallInput,
        )
    });

    // Median and p99 from a plain timed loop (criterion reports no p99).
    let mut samples: Vec<Duration> = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let mut engine = base.dangerous_clone_in_memory();
        let start = Instant::now();
        let decision = engine.check_order(black_box(&next), &context);
        let elapsed = start.elapsed();
        black_box(decision.is_ok());
        samples.push(elapsed);
        drop(engine);
    }
    samples.sort_unstable();
    let at = |q: usize| samples[(samples.len() - 1) * q / 100];
    println!(
        "risk_full_decision_100_positions (timed loop, n={}): median {:?}, p99 {:?}, max {:?}",
        samples.len(),
        at(50),
        at(99),
        samples[samples.len() - 1]
    );
}

fn rate_limit_only(c: &mut Criterion) {
    let mut limiter = RateLimiter::new(WindowLimits {
        per_second: 8,
        per_minute: 10,
        per_day: 1_000,
    });
    let start = Utc
        .with_ymd_and_hms(2026, 11, 27, 4, 0, 0)
        .single()
        .expect("instant");
    for i in 0..9 {
        limiter
            .acquire(start + TimeDelta::seconds(i * 5), 1)
            .expect("priming");
    }
    let now = start + TimeDelta::seconds(50);
    c.bench_function("risk_rate_limit_check", |b| {
        b.iter(|| limiter.check(black_box(now), black_box(1)).is_ok())
    });
}

criterion_group!(benches, full_decision, rate_limit_only);
criterion_main!(benches);
