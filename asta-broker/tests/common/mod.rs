//! Shared set-up for the guard tests: a manual clock inside NSE hours, a
//! small catalog, a risk engine, a temp-dir audit log, and audit readers.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: not every test file uses every helper; a failed unwrap is a failed test"
)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use asta_audit::{AuditConfig, AuditLog, ChainKey, Verification, verify};
use asta_broker::{
    Alert, AlertDelivery, AlertError, AlertSink, Broker, Guard, Quote, SandboxBroker,
};
use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{
    RateLimitConfig, RequiredLimits, RiskConfig, RiskEngine, StateStore, WindowLimits,
};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};

/// Friday 27 November 2026, 10:00 IST.
pub fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap())
}

pub fn catalog() -> Arc<InstrumentCatalog> {
    Arc::new(
        InstrumentCatalog::from_csv_reader(
            "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
             NSE,SBIN,0.05,1,,,\n\
             NSE,INFY,0.05,1,,,\n\
             NFO,NIFTY28NOV2624000CE,0.05,75,1800,,\n"
                .as_bytes(),
        )
        .unwrap(),
    )
}

pub fn risk_config() -> RiskConfig {
    risk_config_with(RateLimitConfig::default())
}

pub fn risk_config_with(rates: RateLimitConfig) -> RiskConfig {
    RiskConfig::builder(RequiredLimits {
        capital: Money::from_rupees(1_000_000),
        max_order_quantity: 1_000,
        max_order_notional: Money::from_rupees(200_000),
        max_gross_exposure: Money::from_rupees(2_000_000),
    })
    .rate_limits(rates)
    .build()
    .unwrap()
}

/// Strategy limit of `per_second` orders per second.
pub fn tight_rates(per_second: u32) -> RateLimitConfig {
    RateLimitConfig {
        strategy: WindowLimits {
            per_second,
            per_minute: 10,
            per_day: 1_000,
        },
        ..RateLimitConfig::default()
    }
}

pub fn risk(clock: &ManualClock, config: RiskConfig) -> RiskEngine {
    RiskEngine::open(
        config,
        catalog(),
        Arc::new(MarketCalendar::bundled().unwrap()),
        Arc::new(clock.clone()),
        StateStore::dangerous_in_memory(),
    )
    .unwrap()
}

pub fn chain_key() -> ChainKey {
    ChainKey::from_bytes(&[42u8; 32]).unwrap()
}

pub struct Trail {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub log: AuditLog,
}

pub fn trail(clock: &ManualClock) -> Trail {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = AuditLog::open(
        &dir,
        chain_key(),
        AuditConfig::default(),
        Arc::new(clock.clone()),
    )
    .unwrap();
    Trail {
        _tmp: tmp,
        dir,
        log,
    }
}

/// Every line of every segment, after making everything appended so far
/// durable (the guard defers outcome records to the next group commit).
pub fn audit_text(trail: &Trail) -> String {
    trail.log.sync().unwrap();
    let dir = &trail.dir;
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The audit lines that mention `needle`.
pub fn lines_with(trail: &Trail, needle: &str) -> Vec<String> {
    audit_text(trail)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

pub fn assert_intact(trail: &Trail) -> u64 {
    trail.log.sync().unwrap();
    match verify(&trail.dir, &chain_key(), None).unwrap() {
        Verification::Intact(v) => v.records,
        Verification::Broken(finding) => panic!("audit trail broken: {finding}"),
    }
}

pub fn sbin() -> Symbol {
    Symbol::new("SBIN").unwrap()
}

pub fn strategy() -> StrategyTag {
    StrategyTag::new("momentum").unwrap()
}

pub fn market(side: Side, quantity: u64) -> OrderRequest {
    OrderRequest::builder()
        .symbol(sbin())
        .exchange(Exchange::Nse)
        .side(side)
        .price_type(PriceType::Market)
        .product(Product::Mis)
        .quantity(Quantity::new(quantity).unwrap())
        .strategy(strategy())
        .build()
        .unwrap()
}

pub fn limit(side: Side, quantity: u64, price: &str) -> OrderRequest {
    OrderRequest::builder()
        .symbol(sbin())
        .exchange(Exchange::Nse)
        .side(side)
        .price_type(PriceType::Limit)
        .product(Product::Mis)
        .quantity(Quantity::new(quantity).unwrap())
        .price(price.parse().unwrap())
        .strategy(strategy())
        .build()
        .unwrap()
}

pub fn quote(clock: &ManualClock, ltp: &str) -> Quote {
    let p: asta_core::Price = ltp.parse().unwrap();
    Quote::new(p, None, None, clock.now()).unwrap()
}

/// Collects alerts.
#[derive(Debug, Clone, Default)]
pub struct Alerts(pub Arc<Mutex<Vec<Alert>>>);

impl Alerts {
    pub fn kinds(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.kind().to_owned())
            .collect()
    }
}

#[async_trait]
impl AlertSink for Alerts {
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError> {
        self.0.lock().unwrap().push(alert.clone());
        Ok(AlertDelivery::Delivered)
    }
}

/// A sandbox guard with SBIN quoted at 800, the quote fed to risk.
pub struct SandboxSession {
    pub clock: ManualClock,
    pub trail: Trail,
    pub sandbox: SandboxBroker,
    pub alerts: Alerts,
    pub guard: Guard<SandboxBroker>,
}

pub async fn sandbox_session(config: RiskConfig) -> SandboxSession {
    let clock = clock();
    let trail = trail(&clock);
    let sandbox = SandboxBroker::new(Arc::new(clock.clone()));
    sandbox.set_quote(Exchange::Nse, &sbin(), quote(&clock, "800"));
    let alerts = Alerts::default();
    let guard = Guard::builder(
        sandbox.clone(),
        catalog(),
        risk(&clock, config),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .alert_sink(Arc::new(alerts.clone()))
    .build()
    .await
    .unwrap();
    guard.quote(Exchange::Nse, &sbin()).await.unwrap();
    SandboxSession {
        clock,
        trail,
        sandbox,
        alerts,
        guard,
    }
}
