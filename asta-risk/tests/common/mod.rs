//! Shared fixtures for the integration tests.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(missing_docs, reason = "test fixtures")]
#![allow(
    clippy::unwrap_used,
    reason = "test fixtures: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use asta_core::{
    Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest, Price,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{
    RequiredLimits, RiskConfig, RiskConfigBuilder, RiskEngine, StateStore, TotpRejection,
    TotpVerifier,
};
use chrono::{DateTime, TimeZone, Utc};

pub(crate) const CATALOG: &str = "\
exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper
NSE,SBIN,0.05,1,,700,900
NSE,RELIANCE,0.1,1,,,
NSE,INFY,0.05,1,,,
NSE,TCS,0.05,1,,,
NFO,NIFTY28NOV2424000CE,0.05,75,1800,,
";

/// Friday 27 November 2026, 09:30 IST.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()
}

pub(crate) fn p(text: &str) -> Price {
    text.parse().unwrap()
}

pub(crate) fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap()
}

pub(crate) fn tag(text: &str) -> StrategyTag {
    StrategyTag::new(text).unwrap()
}

pub(crate) fn catalog() -> Arc<InstrumentCatalog> {
    Arc::new(InstrumentCatalog::from_csv_reader(CATALOG.as_bytes()).unwrap())
}

/// Capital 10 lakh: position cap 3 lakh, daily loss cap 30,000.
pub(crate) fn builder() -> RiskConfigBuilder {
    RiskConfig::builder(RequiredLimits {
        capital: Money::from_rupees(1_000_000),
        max_order_quantity: 1_000,
        max_order_notional: Money::from_rupees(200_000),
        max_gross_exposure: Money::from_rupees(500_000),
    })
    .max_open_orders(5)
}

pub(crate) struct Fixture {
    pub(crate) clock: ManualClock,
    pub(crate) engine: RiskEngine,
}

pub(crate) fn open(config: RiskConfig, store: StateStore, clock: &ManualClock) -> RiskEngine {
    RiskEngine::open(
        config,
        catalog(),
        Arc::new(MarketCalendar::bundled().unwrap()),
        Arc::new(clock.clone()),
        store,
    )
    .unwrap()
}

pub(crate) fn fixture_with(config: RiskConfig) -> Fixture {
    let clock = ManualClock::new(t0());
    let engine = open(config, StateStore::dangerous_in_memory(), &clock);
    Fixture { clock, engine }
}

pub(crate) fn fixture() -> Fixture {
    fixture_with(builder().build().unwrap())
}

pub(crate) fn limit(symbol: &str, side: Side, quantity: u64, price: &str) -> OrderRequest {
    OrderRequest::builder()
        .symbol(sym(symbol))
        .exchange(Exchange::Nse)
        .side(side)
        .price_type(PriceType::Limit)
        .product(Product::Cnc)
        .quantity(Quantity::new(quantity).unwrap())
        .price(p(price))
        .strategy(tag("s1"))
        .build()
        .unwrap()
}

pub(crate) fn market(symbol: &str, side: Side, quantity: u64) -> OrderRequest {
    OrderRequest::builder()
        .symbol(sym(symbol))
        .exchange(Exchange::Nse)
        .side(side)
        .price_type(PriceType::Market)
        .product(Product::Cnc)
        .quantity(Quantity::new(quantity).unwrap())
        .strategy(tag("s1"))
        .build()
        .unwrap()
}

/// Accepts exactly one code, once per call (no replay tracking needed here).
#[derive(Debug)]
pub(crate) struct FakeTotp;

pub(crate) const GOOD_CODE: &str = "246810";

impl TotpVerifier for FakeTotp {
    fn verify(&self, _operator: &str, code: &str) -> Result<(), TotpRejection> {
        if code == GOOD_CODE {
            Ok(())
        } else {
            Err(TotpRejection::WrongCode)
        }
    }
}

pub(crate) fn calendar() -> Arc<MarketCalendar> {
    Arc::new(MarketCalendar::bundled().unwrap())
}

/// A fresh journaled engine (its first journal entry is START).
pub(crate) fn journaled(config: RiskConfig, clock: &ManualClock) -> RiskEngine {
    let (engine, report) = RiskEngine::restore(
        config,
        catalog(),
        calendar(),
        Arc::new(clock.clone()),
        None,
        Vec::new(),
    )
    .unwrap();
    assert!(report.divergences.is_empty());
    engine
}

/// Accepts every code (replay tests: resets must be applied).
#[derive(Debug)]
pub(crate) struct AcceptAll;

impl TotpVerifier for AcceptAll {
    fn verify(&self, _operator: &str, _code: &str) -> Result<(), TotpRejection> {
        Ok(())
    }
}
