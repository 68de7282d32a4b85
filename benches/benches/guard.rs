//! Overhead of asta-broker's guard per order over a bare `SandboxBroker`.
//!
//! Run with: cargo bench --bench guard
//!
//! Every check is on: catalog, mode gate, trading state, the full risk
//! decision (hours, collar, limits, duplicates, daily loss, exposure,
//! security monitor, three rate scopes), the durable intent, the outcome,
//! the risk update and the post-placement status check that records the
//! fill (about eight audit records per order). Orders are MARKET orders
//! alternating buy and sell of 10 SBIN, so each one fills and the position
//! stays small. The manual clock advances 101 ms per order to stay under
//! the 10-per-second SEBI rate limit; quotes are refreshed outside the
//! timed part.
//!
//! Variants:
//! - `sandbox_bare`: the SandboxBroker alone (the baseline);
//! - `guard_durable_audit`: every audit record fdatasync'd (group commit),
//!   risk state in memory;
//! - `guard_buffered_audit`: every category `dangerous_buffered` (no fsync
//!   per record), risk state in memory;
//! - `guard_durable_audit_file_risk_state`: the production setup: durable
//!   audit, the risk state kept in the trail (`Guard::restored`) with a
//!   file snapshot store (one sync per order).
//!
//! After criterion's run each variant prints its own median and p99 from a
//! simple timed loop (criterion reports no p99).
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    reason = "bench fixtures are constants; a bad one should stop the bench"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asta_audit::{AuditConfig, AuditLog, Category, ChainKey};
use asta_broker::{Broker, FileSnapshotStore, Guard, Quote, RestoredRisk, SandboxBroker};
use asta_core::{
    Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest, PriceType,
    Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{
    RateLimitConfig, RequiredLimits, RiskConfig, RiskEngine, StateStore, WindowLimits,
};
use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn sbin() -> Symbol {
    Symbol::new("SBIN").expect("symbol")
}

fn order(i: u64) -> OrderRequest {
    OrderRequest::builder()
        .symbol(sbin())
        .exchange(Exchange::Nse)
        .side(if i.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        })
        .price_type(PriceType::Market)
        .product(Product::Mis)
        .quantity(Quantity::new(10).expect("quantity"))
        .strategy(StrategyTag::new("bench").expect("strategy"))
        .build()
        .expect("order")
}

#[derive(Clone, Copy)]
enum Variant {
    Durable,
    Buffered,
    DurableFileRisk,
}

/// One session: a clock at 09:15 IST, a sandbox quoting SBIN at 800 (last
/// price only, so round trips lose nothing), and a guard.
struct Session {
    clock: ManualClock,
    sandbox: SandboxBroker,
    guard: Guard<SandboxBroker>,
    next: u64,
    _tmp: tempfile::TempDir,
}

impl Session {
    fn new(rt: &Runtime, variant: Variant) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let clock = ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 27, 3, 45, 0)
                .single()
                .expect("instant"),
        );
        let shared: Arc<ManualClock> = Arc::new(clock.clone());
        let catalog = Arc::new(
            InstrumentCatalog::from_csv_reader(
                "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
                 NSE,SBIN,0.05,1,,,\n"
                    .as_bytes(),
            )
            .expect("catalog"),
        );
        let wide = WindowLimits {
            per_second: 10,
            per_minute: 1_000,
            per_day: 10_000_000,
        };
        let config = RiskConfig::builder(RequiredLimits {
            capital: Money::from_rupees(100_000_000),
            max_order_quantity: 10_000,
            max_order_notional: Money::from_rupees(5_000_000),
            max_gross_exposure: Money::from_rupees(500_000_000),
        })
        .duplicate_window_ms(1)
        .rate_limits(RateLimitConfig {
            account: wide,
            strategy: wide,
            segment: wide,
            ..RateLimitConfig::default()
        })
        .build()
        .expect("risk config");
        let mut audit_config = AuditConfig::builder();
        if let Variant::Buffered = variant {
            for category in [
                Category::Order,
                Category::Trade,
                Category::Risk,
                Category::Security,
                Category::System,
                Category::Error,
            ] {
                audit_config = audit_config.dangerous_buffered(category);
            }
        }
        let audit = AuditLog::open(
            tmp.path().join("audit"),
            ChainKey::from_bytes(&[9u8; 32]).expect("key"),
            audit_config.build().expect("audit config"),
            shared.clone(),
        )
        .expect("audit log");
        let sandbox = SandboxBroker::new(shared.clone());
        let calendar = Arc::new(MarketCalendar::bundled().expect("calendar"));
        let builder = match variant {
            Variant::DurableFileRisk => {
                let restored = RestoredRisk::from_trail(
                    &tmp.path().join("audit"),
                    &ChainKey::from_bytes(&[9u8; 32]).expect("key"),
                    Arc::new(FileSnapshotStore::new(tmp.path().join("risk.snapshot"))),
                    config,
                    Arc::clone(&catalog),
                    calendar,
                    shared.clone(),
                )
                .expect("restore");
                Guard::restored(
                    sandbox.clone(),
                    catalog,
                    restored,
                    audit,
                    Arc::new(clock.clone()),
                )
            }
            _ => {
                let risk = RiskEngine::open(
                    config,
                    Arc::clone(&catalog),
                    calendar,
                    shared.clone(),
                    StateStore::dangerous_in_memory(),
                )
                .expect("risk engine");
                Guard::builder(
                    sandbox.clone(),
                    catalog,
                    risk,
                    audit,
                    Arc::new(clock.clone()),
                )
            }
        };
        let guard = rt.block_on(builder.build()).expect("guard");
        let session = Session {
            clock,
            sandbox,
            guard,
            next: 0,
            _tmp: tmp,
        };
        session.refresh(rt);
        session
    }

    /// A fresh quote in the sandbox and the risk engine (untimed).
    fn refresh(&self, rt: &Runtime) {
        let quote = Quote::last("800".parse().expect("price"), self.clock_now()).expect("quote");
        self.sandbox.set_quote(Exchange::Nse, &sbin(), quote);
        rt.block_on(self.guard.on_quote(Exchange::Nse, &sbin(), quote.ltp()));
    }

    fn clock_now(&self) -> chrono::DateTime<Utc> {
        asta_core::Clock::now(&self.clock)
    }

    /// Untimed preparation, then one timed guarded placement.
    fn timed_order(&mut self, rt: &Runtime) -> Duration {
        self.clock.advance(TimeDelta::milliseconds(101));
        if self.next.is_multiple_of(20) {
            self.refresh(rt);
        }
        let order = order(self.next);
        self.next += 1;
        let start = Instant::now();
        let result = rt.block_on(self.guard.place_order(black_box(&order)));
        let elapsed = start.elapsed();
        result.expect("the guard approved and placed the order");
        elapsed
    }
}

/// Orders per session: sessions are renewed (untimed) so the simulated
/// clock, 101 ms per order, stays inside one trading session.
const SESSION_ORDERS: u64 = 1_000;

fn fresh_bare(clock: &ManualClock) -> SandboxBroker {
    let bare = SandboxBroker::new(Arc::new(clock.clone()));
    bare.set_quote(
        Exchange::Nse,
        &sbin(),
        Quote::last("800".parse().expect("price"), asta_core::Clock::now(clock)).expect("quote"),
    );
    bare
}

fn bare_order(rt: &Runtime, sandbox: &SandboxBroker, i: u64) -> Duration {
    let order = order(i);
    let start = Instant::now();
    let result = rt.block_on(sandbox.place_order(black_box(&order)));
    let elapsed = start.elapsed();
    result.expect("sandbox placed the order");
    elapsed
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f32| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            clippy::float_arithmetic,
            reason = "a percentile index, not money"
        )]
        let index = ((samples.len() as f32) * q) as usize;
        samples
            .get(index.min(samples.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{name} (timed loop, n={}): median {:?}, p99 {:?}, max {:?}",
        samples.len(),
        at(0.5),
        at(0.99),
        samples.last().copied().unwrap_or_default()
    );
}

fn guard_overhead(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("guard_place_order");

    let bare_clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0)
            .single()
            .expect("instant"),
    );
    let mut bare = fresh_bare(&bare_clock);
    let mut n = 0u64;
    group.bench_function("sandbox_bare", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    n += 1;
                    if n.is_multiple_of(SESSION_ORDERS) {
                        bare = fresh_bare(&bare_clock);
                    }
                    bare_order(&rt, &bare, n)
                })
                .sum()
        });
    });

    for (name, variant) in [
        ("guard_durable_audit", Variant::Durable),
        ("guard_buffered_audit", Variant::Buffered),
        (
            "guard_durable_audit_file_risk_state",
            Variant::DurableFileRisk,
        ),
    ] {
        let mut session = Session::new(&rt, variant);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        if session.next >= SESSION_ORDERS {
                            session = Session::new(&rt, variant);
                        }
                        session.timed_order(&rt)
                    })
                    .sum()
            });
        });
    }
    group.finish();

    // Median and p99 from plain timed loops on fresh sessions.
    let loops = SESSION_ORDERS;
    let bare = fresh_bare(&bare_clock);
    report(
        "sandbox_bare",
        (0..loops).map(|i| bare_order(&rt, &bare, i)).collect(),
    );
    for (name, variant) in [
        ("guard_durable_audit", Variant::Durable),
        ("guard_buffered_audit", Variant::Buffered),
        (
            "guard_durable_audit_file_risk_state",
            Variant::DurableFileRisk,
        ),
    ] {
        let mut session = Session::new(&rt, variant);
        report(name, (0..loops).map(|_| session.timed_order(&rt)).collect());
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = guard_overhead
}
criterion_main!(benches);
