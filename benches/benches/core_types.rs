//! Parsing and checking costs of asta-core's domain types.
//!
//! Run with: cargo bench --bench core_types
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    reason = "bench fixtures are constants; a bad one should stop the bench"
)]

use std::hint::black_box;

use asta_core::{
    Exchange, InstrumentCatalog, MarketCalendar, OrderRequest, Price, PriceType, Product, Quantity,
    Side, StrategyTag, Symbol,
};
use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

fn parsing(c: &mut Criterion) {
    c.bench_function("symbol_parse", |b| {
        b.iter(|| Symbol::new(black_box("NIFTY28NOV2424000CE")))
    });
    c.bench_function("price_parse", |b| {
        b.iter(|| black_box("800.05").parse::<Price>())
    });
}

fn checks(c: &mut Criterion) {
    let catalog = InstrumentCatalog::from_csv_reader(
        "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
         NFO,NIFTY28NOV2424000CE,0.05,75,1800,100,200\n"
            .as_bytes(),
    )
    .expect("catalog fixture");
    let calendar = MarketCalendar::bundled().expect("bundled calendar");
    let order = OrderRequest::builder()
        .symbol(Symbol::new("NIFTY28NOV2424000CE").expect("symbol"))
        .exchange(Exchange::Nfo)
        .side(Side::Buy)
        .price_type(PriceType::Limit)
        .product(Product::Nrml)
        .quantity(Quantity::new(150).expect("quantity"))
        .price("120.05".parse().expect("price"))
        .strategy(StrategyTag::new("bench").expect("strategy"))
        .build()
        .expect("order");
    c.bench_function("catalog_check_order", |b| {
        b.iter(|| catalog.check_order(black_box(&order)).is_ok())
    });
    let at = Utc
        .with_ymd_and_hms(2026, 11, 27, 5, 0, 0)
        .single()
        .expect("instant");
    c.bench_function("calendar_check_order_entry", |b| {
        b.iter(|| {
            calendar
                .check_order_entry(Exchange::Nfo, Product::Mis, black_box(at))
                .is_ok()
        })
    });
}

criterion_group!(benches, parsing, checks);
criterion_main!(benches);
