//! Costs of asta-audit: durable appends (1 and 8 writers, with records per
//! fsync), buffered appends, and verification throughput.
//!
//! Run with: cargo bench --bench audit
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    reason = "bench fixtures are set up once; a failure should stop the bench"
)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asta_audit::{AuditConfig, AuditEvent, AuditLog, Category, ChainKey, verify};
use asta_core::SystemClock;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn event(i: u64) -> AuditEvent {
    AuditEvent::order(
        "place_intent",
        "momentum",
        json!({"symbol": "SBIN", "side": "BUY", "qty": 10, "price": "801.05", "i": i}),
    )
}

fn open(dir: &Path, config: AuditConfig) -> AuditLog {
    let key = ChainKey::from_bytes(&[7u8; 32]).expect("key");
    AuditLog::open(dir, key, config, Arc::new(SystemClock)).expect("open")
}

fn report(name: &str, log: &AuditLog, before: asta_audit::AuditStats) {
    let after = log.stats();
    let records = after.records - before.records;
    let fsyncs = (after.fsyncs - before.fsyncs).max(1);
    eprintln!(
        "{name}: {records} records, {fsyncs} fsyncs, {} records per fsync",
        records / fsyncs
    );
}

fn durable(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_durable_append");
    group.throughput(Throughput::Elements(1));

    let tmp = tempfile::tempdir().expect("tempdir");
    let log = open(&tmp.path().join("one"), AuditConfig::default());
    let before = log.stats();
    let mut i = 0u64;
    group.bench_function("1_writer", |b| {
        b.iter(|| {
            i += 1;
            black_box(log.append(event(i)).expect("append"))
        })
    });
    report("durable 1 writer", &log, before);

    let log = open(&tmp.path().join("eight"), AuditConfig::default());
    let before = log.stats();
    group.bench_function("8_writers", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(8);
            let start = Instant::now();
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let log = log.clone();
                    std::thread::spawn(move || {
                        for i in 0..per_thread {
                            log.append(event(i)).expect("append");
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("writer thread");
            }
            // Time per record, as if `iters` records were appended.
            let nanos = start.elapsed().as_nanos() * u128::from(iters) / u128::from(per_thread * 8);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        })
    });
    report("durable 8 writers", &log, before);
    group.finish();
}

fn buffered(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = AuditConfig::builder()
        .dangerous_buffered(Category::Order)
        .build()
        .expect("config");
    let log = open(&tmp.path().join("buffered"), config);
    let before = log.stats();
    let mut group = c.benchmark_group("audit_buffered_append");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("1_writer", |b| {
        b.iter(|| {
            i += 1;
            black_box(log.append(event(i)).expect("append"))
        })
    });
    group.finish();
    report("buffered 1 writer", &log, before);
}

fn verification(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("verify");
    let config = AuditConfig::builder()
        .dangerous_buffered(Category::Order)
        .max_segment_bytes(4 * 1024 * 1024)
        .build()
        .expect("config");
    let log = open(&dir, config);
    for i in 0..50_000 {
        log.append(event(i)).expect("append");
    }
    log.close().expect("close");
    let key = ChainKey::from_bytes(&[7u8; 32]).expect("key");
    let bytes = verify(&dir, &key, None)
        .expect("verify")
        .into_result()
        .expect("intact")
        .bytes;
    let mut group = c.benchmark_group("audit_verify");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("50k_records", |b| {
        b.iter(|| black_box(verify(&dir, &key, None).expect("verify").is_intact()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = durable, buffered, verification
}
criterion_main!(benches);
