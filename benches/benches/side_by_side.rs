//! ASTA's guarded order path next to the seed's own Python pipeline, in one
//! run, interleaved, with the ratios the project holds itself to.
//!
//! Run with: cargo bench --bench side_by_side
//!
//! Instructions per order, repeatable on a loaded machine: run the
//! buffered part alone under callgrind at two order counts and take the
//! difference, e.g.
//! `ASTA_BENCH_PART=buffered ASTA_BENCH_ORDERS=1000 valgrind --tool=callgrind
//! target/release/deps/side_by_side-<hash> --bench` and again with 3000:
//! (I(3000) - I(1000)) / 2000. (valgrind hides SHA extensions, so hashing
//! counts as ring's AVX code.)
//!
//! `ASTA_BENCH_PART=long` runs only the long run (below), printing the
//! mean time per order of every 20,000. With `ASTA_BENCH_PART=buffered`,
//! `ASTA_BENCH_KEEP=1` keeps the trail and prints where it is.
//!
//! `ASTA_BENCH_PART=durable1` runs only the durable measurement with one
//! task.
//!
//! Group commit with concurrent tasks: `ASTA_BENCH_PART=durable8` runs only
//! the durable measurement with 8 tasks and prints how many orders shared
//! each fdatasync (8 is the most possible) and how many commits gathered.
//!
//! The ASTA side is the production setup: `Guard` over `SandboxBroker`,
//! the audit trail on disk, the risk state kept in the trail with a file
//! snapshot store (`Guard::restored`). The seed side is
//! `../shared/bench/seed_pipeline.py N [--fsync]` (validator, circuit
//! breaker and audit logger, two log lines per order); it is skipped with a
//! message when python3 or the script is missing (set `ASTA_SEED_PIPELINE`
//! to its path if it lives elsewhere).
//!
//! Rounds: 5 (`ASTA_BENCH_ROUNDS` overrides); the summary gives each
//! ratio's median over the rounds, each taken within its own round (the
//! machine is shared, so single rounds swing with its load). Each round
//! measures, in this order: ASTA durable with one task, the seed
//! with `--fsync`, ASTA durable with 8 concurrent tasks, ASTA with every
//! audit category buffered (p50 per order), and the seed without fsync.
//! Then 200,000 orders through one guard: the mean time of the last 10,000
//! against the first 10,000 (in wall time, and in the ordering thread's own
//! CPU time, which other jobs on the machine do not inflate), and the
//! resident memory growth.
//!
//! The risk engine gets a clock that moves 101 ms at every reading, so no
//! second ever holds more than 10 risk decisions (SEBI's cap, which the
//! engine enforces) however the tasks interleave; the rest of the session
//! reads a manual clock. The 200,000-order run uses one task and one manual
//! clock moved 101 ms per order instead, to stay within one trading day.
//! Everything stays before the 15:15 MIS cut-off.
#![allow(missing_docs, reason = "a bench binary")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "bench fixtures are set up once; a failure should stop the bench"
)]
#![allow(
    clippy::cast_precision_loss,
    clippy::float_arithmetic,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "rates and ratios of timings, not money"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use asta_audit::{AuditConfig, AuditLog, Category, ChainKey};
use asta_broker::{Broker, FileSnapshotStore, Guard, Quote, RestoredRisk, SandboxBroker};
use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{RateLimitConfig, RequiredLimits, RiskConfig, WindowLimits};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// Rounds of the interleaved comparison (`ASTA_BENCH_ROUNDS` overrides).
const ROUNDS: usize = 5;
const DURABLE_ORDERS: u64 = 1_500;
const CONCURRENT_TASKS: u64 = 8;
const CONCURRENT_ORDERS: u64 = 4_000;
const BUFFERED_ORDERS: u64 = 20_000;
const SEED_FSYNC_ORDERS: u64 = 1_500;
const SEED_ORDERS: u64 = 100_000;
const LONG_RUN: u64 = 200_000;
const LONG_WINDOW: usize = 10_000;

/// 09:15 IST on a trading day.
fn open_bell() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 3, 45, 0)
        .single()
        .expect("instant")
}

/// A clock that moves `step` at every reading: no two readings share a
/// 101 ms slot, so no second holds more than 10 risk decisions.
#[derive(Debug)]
struct SlotClock {
    start: DateTime<Utc>,
    step_ms: i64,
    ticks: AtomicI64,
}

impl Clock for SlotClock {
    fn now(&self) -> DateTime<Utc> {
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        self.start + TimeDelta::milliseconds(tick.saturating_mul(self.step_ms))
    }
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

fn risk_config() -> RiskConfig {
    let wide = WindowLimits {
        per_second: 10,
        per_minute: 600,
        per_day: 10_000_000,
    };
    RiskConfig::builder(RequiredLimits {
        capital: Money::from_rupees(100_000_000),
        max_order_quantity: 10_000,
        max_order_notional: Money::from_rupees(5_000_000),
        max_gross_exposure: Money::from_rupees(500_000_000),
    })
    .duplicate_window_ms(1)
    .quote_max_age_ms(86_400_000)
    .rate_limits(RateLimitConfig {
        account: wide,
        strategy: wide,
        segment: wide,
        ..RateLimitConfig::default()
    })
    .build()
    .expect("risk config")
}

/// The production setup in a fresh directory.
struct Session {
    guard: Arc<Guard<SandboxBroker>>,
    sandbox: SandboxBroker,
    risk_clock: Arc<dyn Clock>,
    manual: Option<ManualClock>,
    dir: tempfile::TempDir,
}

impl Session {
    fn new(rt: &tokio::runtime::Runtime, buffered: bool, slot_clock: bool) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let manual = ManualClock::new(open_bell());
        let risk_clock: Arc<dyn Clock> = if slot_clock {
            Arc::new(SlotClock {
                start: open_bell(),
                step_ms: 101,
                ticks: AtomicI64::new(0),
            })
        } else {
            Arc::new(manual.clone())
        };
        let catalog = Arc::new(
            InstrumentCatalog::from_csv_reader(
                "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
                 NSE,SBIN,0.05,1,,,\n"
                    .as_bytes(),
            )
            .expect("catalog"),
        );
        let mut audit_config = AuditConfig::builder();
        if buffered {
            for category in Category::ALL {
                audit_config = audit_config.dangerous_buffered(category);
            }
        }
        let audit_dir = tmp.path().join("audit");
        let key = ChainKey::from_bytes(&[9u8; 32]).expect("key");
        let audit = AuditLog::open(
            &audit_dir,
            key.clone(),
            audit_config.build().expect("audit config"),
            Arc::new(manual.clone()),
        )
        .expect("audit log");
        let store = Arc::new(FileSnapshotStore::new(tmp.path().join("risk.snapshot")));
        let restored = RestoredRisk::from_trail(
            &audit_dir,
            &key,
            store,
            risk_config(),
            Arc::clone(&catalog),
            Arc::new(MarketCalendar::bundled().expect("calendar")),
            Arc::clone(&risk_clock),
        )
        .expect("restore");
        let sandbox = SandboxBroker::new(Arc::new(manual.clone()));
        let guard = rt
            .block_on(
                Guard::restored(
                    sandbox.clone(),
                    catalog,
                    restored,
                    audit,
                    Arc::new(manual.clone()),
                )
                .build(),
            )
            .expect("guard");
        let session = Session {
            guard: Arc::new(guard),
            sandbox,
            risk_clock,
            manual: (!slot_clock).then_some(manual),
            dir: tmp,
        };
        rt.block_on(session.refresh());
        session
    }

    async fn refresh(&self) {
        let quote =
            Quote::last("800".parse().expect("price"), self.risk_clock.now()).expect("quote");
        self.sandbox.set_quote(Exchange::Nse, &sbin(), quote);
        self.guard
            .on_quote(Exchange::Nse, &sbin(), quote.ltp())
            .await;
    }

    fn fsyncs(&self) -> u64 {
        self.guard.audit_log().stats().fsyncs
    }
}

/// One task placing `n` orders; returns orders/s and each order's time.
async fn one_task(session: &Session, n: u64, offset: u64) -> (f64, Vec<Duration>) {
    let mut times = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    let start = Instant::now();
    for i in 0..n {
        if let Some(manual) = &session.manual {
            manual.advance(TimeDelta::milliseconds(101));
        }
        if i.is_multiple_of(50) {
            session.refresh().await;
        }
        let order = order(offset + i);
        let t = Instant::now();
        session
            .guard
            .place_order(&order)
            .await
            .expect("the guard approved and placed the order");
        times.push(t.elapsed());
    }
    (n as f64 / start.elapsed().as_secs_f64(), times)
}

/// `tasks` tasks placing `total` orders between them; returns orders/s.
async fn many_tasks(session: &Session, tasks: u64, total: u64) -> f64 {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let guard = Arc::clone(&session.guard);
        let next = Arc::clone(&next);
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                guard
                    .place_order(&order(i))
                    .await
                    .expect("the guard approved and placed the order");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn seed_script() -> Option<PathBuf> {
    let path = std::env::var_os("ASTA_SEED_PIPELINE").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/seed_pipeline.py"),
        PathBuf::from,
    );
    path.exists().then_some(path)
}

/// The seed's orders/s, or `None` (with a message) when it cannot run.
fn seed(n: u64, fsync: bool) -> Option<f64> {
    let script = seed_script()?;
    let mut command = Command::new("python3");
    command.arg(&script).arg(n.to_string());
    if fsync {
        command.arg("--fsync");
    }
    let output = command.output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "seed pipeline: N orders in Xs = Y orders/s (...)"
    let rate = text
        .split(" = ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()?;
    Some(rate)
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64) * q) as usize;
    samples
        .get(index.min(samples.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// This thread's CPU time so far in nanoseconds (Linux schedstat).
fn thread_cpu() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted.get(n / 2 - 1)? + sorted.get(n / 2)?) / 2.0),
    }
}

/// `median` with the range, or a note that the seed was skipped.
fn median_text(values: &[f64]) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    median(values).map_or_else(
        || "n/a (seed skipped)".to_owned(),
        |m| format!("{m:.2} (range {lo:.2}..{hi:.2})"),
    )
}

fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn ratio(a: f64, b: Option<f64>) -> String {
    b.map_or_else(
        || "n/a (seed skipped)".to_owned(),
        |b| format!("{:.2}x", a / b),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // that asks for a run: only measure when asked to.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if seed_script().is_none() {
        println!(
            "seed side skipped: ../shared/bench/seed_pipeline.py not found (set ASTA_SEED_PIPELINE)"
        );
    } else if Command::new("python3").arg("--version").output().is_err() {
        println!("seed side skipped: python3 is missing");
    }
    println!("load average at start: {}", load());
    // ASTA_BENCH_PART=buffered runs only the buffered measurement (for a
    // profiler; ASTA_BENCH_ORDERS sets how many orders, so that two runs
    // under `valgrind --tool=callgrind` with different counts give the
    // instructions per order by difference); anything else, or nothing,
    // runs everything.
    if std::env::var("ASTA_BENCH_PART").as_deref() == Ok("buffered") {
        let orders = std::env::var("ASTA_BENCH_ORDERS")
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(BUFFERED_ORDERS * 2);
        let session = Session::new(&rt, true, true);
        let (_, mut buffered) = rt.block_on(one_task(&session, orders, 0));
        println!(
            "buffered, 1 task: p50 {:?}, p99 {:?}",
            percentile(&mut buffered, 0.5),
            percentile(&mut buffered, 0.99)
        );
        // ASTA_BENCH_KEEP=1 keeps the trail (to read what an order writes).
        if std::env::var_os("ASTA_BENCH_KEEP").is_some() {
            rt.block_on(session.guard.audit_log().sync_async())
                .expect("sync");
            println!("trail kept in {}", session.dir.keep().display());
        }
        return;
    }
    // ASTA_BENCH_PART=durable1 runs only the durable measurement with one
    // task and prints the fdatasyncs per order.
    if std::env::var("ASTA_BENCH_PART").as_deref() == Ok("durable1") {
        let orders = std::env::var("ASTA_BENCH_ORDERS")
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(DURABLE_ORDERS);
        let session = Session::new(&rt, false, true);
        let before = session.fsyncs();
        let (rate, mut times) = rt.block_on(one_task(&session, orders, 0));
        let syncs = (session.fsyncs() - before) as f64 / orders as f64;
        println!(
            "durable, 1 task: {rate:.0} orders/s, p50 {:?}, {syncs:.3} syncs per order",
            percentile(&mut times, 0.5)
        );
        println!("load average: {}", load());
        return;
    }
    // ASTA_BENCH_PART=durable8 runs only the durable measurement with
    // concurrent tasks and prints how many orders shared each fdatasync.
    if std::env::var("ASTA_BENCH_PART").as_deref() == Ok("durable8") {
        let orders = std::env::var("ASTA_BENCH_ORDERS")
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(CONCURRENT_ORDERS);
        let session = Session::new(&rt, false, true);
        let before = session.guard.audit_log().stats();
        let rate = rt.block_on(many_tasks(&session, CONCURRENT_TASKS, orders));
        let after = session.guard.audit_log().stats();
        let fsyncs = after.fsyncs - before.fsyncs;
        println!(
            "durable, {CONCURRENT_TASKS} tasks: {rate:.0} orders/s, {fsyncs} fdatasyncs for {orders} orders: {:.2} orders per fdatasync, {:.2} records per write, {} commits gathered",
            orders as f64 / fsyncs.max(1) as f64,
            (after.records - before.records) as f64
                / (after.batches - before.batches).max(1) as f64,
            after.gathered - before.gathered,
        );
        println!("load average: {}", load());
        return;
    }
    // ASTA_BENCH_PART=long runs only the long run, printing the mean time
    // of every 20,000 orders (to see where a drift starts).
    if std::env::var("ASTA_BENCH_PART").as_deref() == Ok("long") {
        let session = Session::new(&rt, true, false);
        for bucket in 0..LONG_RUN / 20_000 {
            let cpu_a = thread_cpu();
            let (_, times) = rt.block_on(one_task(&session, 20_000, bucket * 20_000));
            let cpu_b = thread_cpu();
            let mean = times.iter().sum::<Duration>().as_secs_f64() / times.len().max(1) as f64;
            let cpu = match (cpu_a, cpu_b) {
                (Some(a), Some(b)) => {
                    format!("{:.1}us", b.saturating_sub(a) as f64 / 20_000.0 / 1e3)
                }
                _ => "n/a".to_owned(),
            };
            println!(
                "orders {}..{}: mean {:.1}us, thread CPU {cpu}, resident {} KiB",
                bucket * 20_000,
                (bucket + 1) * 20_000,
                mean * 1e6,
                rss_kib().unwrap_or(0)
            );
        }
        return;
    }
    let rounds = std::env::var("ASTA_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(ROUNDS);
    let (mut r1, mut r8, mut rb) = (Vec::new(), Vec::new(), Vec::new());
    let mut b50 = Vec::new();
    for round in 1..=rounds {
        println!("\n== round {round}");
        let session = Session::new(&rt, false, true);
        let before = session.fsyncs();
        let (durable1, mut times) = rt.block_on(one_task(&session, DURABLE_ORDERS, 0));
        let syncs = (session.fsyncs() - before) as f64 / DURABLE_ORDERS as f64;
        let p50 = percentile(&mut times, 0.5);
        drop(session);
        let seed_fsync = seed(SEED_FSYNC_ORDERS, true);

        let session = Session::new(&rt, false, true);
        let before = session.fsyncs();
        let durable8 = rt.block_on(many_tasks(&session, CONCURRENT_TASKS, CONCURRENT_ORDERS));
        let shared = CONCURRENT_ORDERS as f64 / (session.fsyncs() - before).max(1) as f64;
        drop(session);

        let session = Session::new(&rt, true, true);
        let (_, mut buffered) = rt.block_on(one_task(&session, BUFFERED_ORDERS, 0));
        let buffered_p50 = percentile(&mut buffered, 0.5);
        let buffered_p99 = percentile(&mut buffered, 0.99);
        drop(session);
        let seed_plain = seed(SEED_ORDERS, false);

        println!(
            "durable, 1 task:   {durable1:>9.0} orders/s (p50 {p50:?}), {syncs:.3} syncs per order | seed --fsync {} orders/s | ratio {} (target >= 1.80x)",
            seed_fsync.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.0}")),
            ratio(durable1, seed_fsync)
        );
        println!(
            "durable, {CONCURRENT_TASKS} tasks:  {durable8:>9.0} orders/s, {shared:.2} orders per fdatasync | ratio to seed --fsync {} (target >= 8x)",
            ratio(durable8, seed_fsync)
        );
        let seed_us = seed_plain.map(|s| 1e6 / s);
        println!(
            "buffered, 1 task:  p50 {buffered_p50:?}, p99 {buffered_p99:?} (target p50 <= 10us) | seed without fsync {} per order | seed time / ASTA p50 {}",
            seed_us.map_or_else(|| "n/a".to_owned(), |us| format!("{us:.1}us")),
            seed_us.map_or_else(
                || "n/a".to_owned(),
                |us| format!("{:.1}x", us / (buffered_p50.as_secs_f64() * 1e6))
            )
        );
        println!("load average: {}", load());
        if let Some(seed) = seed_fsync {
            r1.push(durable1 / seed);
            r8.push(durable8 / seed);
        }
        if let Some(us) = seed_us {
            rb.push(us / (buffered_p50.as_secs_f64() * 1e6));
        }
        b50.push(buffered_p50.as_secs_f64() * 1e6);
    }
    println!(
        "\n== medians over {rounds} rounds (each ratio taken within its round)\n\
         durable, 1 task: {} x the seed --fsync (target >= 1.80x)\n\
         durable, {CONCURRENT_TASKS} tasks: {} x the seed --fsync (target >= 8x)\n\
         buffered, 1 task: p50 {:.1}us (target <= 10us), {} x faster than the seed without fsync per order",
        median_text(&r1),
        median_text(&r8),
        median(&b50).unwrap_or(0.0),
        median_text(&rb),
    );

    println!("\n== {LONG_RUN} orders through one guard (buffered audit, one task)");
    let session = Session::new(&rt, true, false);
    let cpu_0 = thread_cpu();
    let (_, times) = rt.block_on(one_task(&session, LONG_WINDOW as u64, 0));
    let cpu_1 = thread_cpu();
    let rss_start = rss_kib();
    let (_, middle) = rt.block_on(one_task(
        &session,
        LONG_RUN - 2 * LONG_WINDOW as u64,
        LONG_WINDOW as u64,
    ));
    drop(middle);
    let cpu_2 = thread_cpu();
    let (_, last) = rt.block_on(one_task(
        &session,
        LONG_WINDOW as u64,
        LONG_RUN - LONG_WINDOW as u64,
    ));
    let cpu_3 = thread_cpu();
    let rss_end = rss_kib();
    let mean = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() / v.len().max(1) as f64;
    let (first, last_mean) = (mean(&times), mean(&last));
    println!(
        "mean of the first {LONG_WINDOW}: {:.1}us, of the last {LONG_WINDOW}: {:.1}us, ratio {:.2} (target <= 1.20)",
        first * 1e6,
        last_mean * 1e6,
        last_mean / first
    );
    // The same windows in this thread's own CPU time (the scheduler's
    // count): what the guard costs per order, whatever else the shared
    // machine runs meanwhile.
    if let (Some(a), Some(b), Some(c), Some(d)) = (cpu_0, cpu_1, cpu_2, cpu_3) {
        let (head, tail) = (
            b.saturating_sub(a) as f64 / LONG_WINDOW as f64 / 1e3,
            d.saturating_sub(c) as f64 / LONG_WINDOW as f64 / 1e3,
        );
        println!(
            "CPU time of the ordering thread per order: first {LONG_WINDOW} {head:.1}us, last {LONG_WINDOW} {tail:.1}us, ratio {:.2}",
            tail / head
        );
    }
    match (rss_start, rss_end) {
        (Some(a), Some(b)) => println!(
            "resident memory after {LONG_WINDOW} orders: {} KiB, after {LONG_RUN}: {} KiB, growth {} KiB (target <= 10 MiB)",
            a,
            b,
            b.saturating_sub(a)
        ),
        _ => println!("resident memory: /proc/self/statm unreadable"),
    }
    println!("load average at end: {}", load());
}
