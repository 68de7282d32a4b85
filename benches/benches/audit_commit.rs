//! The audit trail as the guard's write-ahead log (issue 10): group commit
//! against a raw group-commit loop, verification against `sha256sum`, the
//! cost of deferred and batch appends, and syncs per order cycle.
//!
//! Run with: cargo bench -p asta-benches --bench audit_commit
//!
//! - `group_commit`: 8 threads each appending durably (every append waits
//!   for its fdatasync) to asta-audit, and the same 8 threads appending
//!   similar-sized lines to one file with a bare leader/follower
//!   `fdatasync` loop (no MAC, no JSON, no redaction), interleaved round by
//!   round on the same disk; prints records/s of both and the ratio.
//! - `verify_vs_sha256sum`: [`verify`] and the system's `sha256sum` (one
//!   process, all segment files) over the same files, interleaved; prints
//!   MiB/s of both and the ratio, for a one-segment trail (verify on one
//!   thread, the single-core comparison) and for 8 MiB segments (verify
//!   uses up to one thread per core). Skipped with a message without
//!   `sha256sum`.
//! - `append_cost`: one deferred append, and a batch of five deferred
//!   appends (criterion), plus printed medians per record.
//! - `order_cycle`: one writer doing [1 durable + 4 deferred] cycles;
//!   prints fdatasyncs per cycle (should be 1.0) and time per cycle.
#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "bench fixtures are set up once; a failure should stop the bench"
)]
#![allow(
    clippy::float_arithmetic,
    reason = "rates and ratios for the printed report"
)]

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use asta_audit::{AuditConfig, AuditEvent, AuditLog, ChainKey, Wait, verify};
use asta_core::SystemClock;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

const THREADS: u64 = 8;
const ROUNDS: usize = 5;

fn key() -> ChainKey {
    ChainKey::from_bytes(&[7u8; 32]).expect("key")
}

fn open(dir: &Path, config: AuditConfig) -> AuditLog {
    AuditLog::open(dir, key(), config, Arc::new(SystemClock)).expect("open")
}

fn intent(i: u64) -> AuditEvent {
    AuditEvent::order(
        "place_intent",
        "momentum",
        json!({"symbol": "SBIN", "side": "BUY", "qty": 10, "price": "801.05", "i": i}),
    )
    .typed_unchecked()
}

fn outcome(i: u64) -> AuditEvent {
    AuditEvent::order(
        "accepted",
        "momentum",
        json!({"symbol": "SBIN", "order_id": format!("OA{i:08}"), "status": "open", "i": i}),
    )
    .typed_unchecked()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// The bare baseline: leader/follower group commit of fixed lines.
struct Raw {
    state: Mutex<RawState>,
    done: Condvar,
}

struct RawState {
    buf: Vec<u8>,
    next: u64,
    durable: u64,
    file: Option<File>,
}

impl Raw {
    fn new(path: &Path) -> Raw {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .expect("raw file");
        Raw {
            state: Mutex::new(RawState {
                buf: Vec::new(),
                next: 1,
                durable: 0,
                file: Some(file),
            }),
            done: Condvar::new(),
        }
    }

    fn append(&self, line: &[u8]) {
        let mut st = self.state.lock().unwrap();
        let seq = st.next;
        st.next += 1;
        st.buf.extend_from_slice(line);
        while st.durable < seq {
            if let Some(mut file) = st.file.take() {
                let buf = std::mem::take(&mut st.buf);
                let last = st.next - 1;
                drop(st);
                file.write_all(&buf).expect("write");
                file.sync_data().expect("fdatasync");
                st = self.state.lock().unwrap();
                st.file = Some(file);
                st.durable = last;
                self.done.notify_all();
            } else {
                st = self.done.wait(st).unwrap();
            }
        }
    }
}

/// Records per second of 8 threads doing `each` appends with `f`.
fn rate(each: u64, f: impl Fn(u64) + Send + Sync + 'static) -> f64 {
    let f = Arc::new(f);
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                for i in 0..each {
                    f(t * each + i);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    (THREADS * each) as f64 / start.elapsed().as_secs_f64()
}

fn group_commit(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = open(&tmp.path().join("audit"), AuditConfig::default());
    log.append(intent(0)).expect("append");
    let line_len = {
        log.sync().expect("sync");
        let bytes: u64 = std::fs::read_dir(log.dir())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("audit-"))
            // The records only: a live segment ends in zeros the log
            // reserves for its next records.
            .map(|e| {
                std::fs::read(e.path()).map_or(0, |bytes| {
                    bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len()) as u64
                })
            })
            .sum();
        usize::try_from(bytes).unwrap_or(300)
    };
    let mut line = vec![b'x'; line_len.saturating_sub(1)];
    line.push(b'\n');
    let line: Arc<[u8]> = line.into();
    let raw = Arc::new(Raw::new(&tmp.path().join("raw.log")));
    let each = 400;
    let (mut audit_rates, mut raw_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let l = log.clone();
        let a = rate(each, move |i| {
            l.append(intent(i)).expect("append");
        });
        let r2 = Arc::clone(&raw);
        let ln = Arc::clone(&line);
        let r = rate(each, move |_| r2.append(&ln));
        audit_rates.push(a);
        raw_rates.push(r);
        ratios.push(a / r);
    }
    let (alo, ahi) = range(&audit_rates);
    let (rlo, rhi) = range(&raw_rates);
    let (qlo, qhi) = range(&ratios);
    eprintln!(
        "group_commit, 8 threads, {line_len}-byte lines, {ROUNDS} interleaved rounds of {} records:\n  \
         audit durable append: median {:.0} records/s (range {alo:.0}..{ahi:.0})\n  \
         raw group-commit loop: median {:.0} records/s (range {rlo:.0}..{rhi:.0})\n  \
         ratio audit/raw: median {:.2} (range {qlo:.2}..{qhi:.2}; target >= 0.70)",
        THREADS * each,
        median(audit_rates.clone()),
        median(raw_rates.clone()),
        median(ratios.clone()),
    );
    let stats = log.stats();
    eprintln!(
        "  audit: {} records, {} fsyncs ({:.1} records per fsync)",
        stats.records,
        stats.fsyncs,
        stats.records as f64 / stats.fsyncs.max(1) as f64
    );

    let mut group = c.benchmark_group("group_commit_8_threads");
    group.throughput(Throughput::Elements(1));
    let per_record = |iters: u64, f: &(dyn Fn(u64) + Send + Sync)| {
        let each = iters.div_ceil(THREADS);
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                s.spawn(move || (0..each).for_each(|i| f(t * each + i)));
            }
        });
        let nanos = start.elapsed().as_nanos() * u128::from(iters) / u128::from(each * THREADS);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    };
    group.bench_function("audit_durable_append", |b| {
        b.iter_custom(|iters| {
            per_record(iters, &|i| {
                log.append(intent(i)).expect("append");
            })
        })
    });
    group.bench_function("raw_group_commit", |b| {
        b.iter_custom(|iters| per_record(iters, &|_| raw.append(&line)))
    });
    group.finish();
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("audit-"))
        })
        .collect();
    files.sort();
    files
}

/// Writes 100,000 outcome records into `dir` in segments of at most
/// `segment_bytes`.
fn verify_trail(dir: &Path, segment_bytes: u64) {
    let config = AuditConfig::builder()
        .max_segment_bytes(segment_bytes)
        .build()
        .expect("config");
    let log = open(dir, config);
    for chunk in 0..1000u64 {
        log.append_batch((0..100).map(|i| outcome(chunk * 100 + i)), Wait::Deferred)
            .expect("append");
    }
    log.close().expect("close");
}

/// Interleaved rounds of `verify` and `sha256sum` over the same files;
/// prints MiB/s of both and the ratio under `label`.
fn compare_with_sha256sum(label: &str, dir: &Path, have_sha: bool) {
    let files = segment_files(dir);
    let key = key();
    let bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mib = bytes as f64 / (1024.0 * 1024.0);
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        assert!(verify(dir, &key, None).expect("verify").is_intact());
        let v = mib / start.elapsed().as_secs_f64();
        ours.push(v);
        if have_sha {
            let start = Instant::now();
            let out = Command::new("sha256sum")
                .args(&files)
                .output()
                .expect("sha256sum");
            assert!(out.status.success());
            let s = mib / start.elapsed().as_secs_f64();
            theirs.push(s);
            ratios.push(v / s);
        }
    }
    let (olo, ohi) = range(&ours);
    eprintln!(
        "verify ({label}): {} records, {} segments, {mib:.1} MiB, {ROUNDS} interleaved rounds:\n  \
         verify: median {:.0} MiB/s (range {olo:.0}..{ohi:.0})",
        100_000,
        files.len(),
        median(ours.clone())
    );
    if have_sha {
        let (slo, shi) = range(&theirs);
        let (qlo, qhi) = range(&ratios);
        eprintln!(
            "  sha256sum: median {:.0} MiB/s (range {slo:.0}..{shi:.0})\n  \
             ratio verify/sha256sum: median {:.2} (range {qlo:.2}..{qhi:.2}; target >= 0.9)",
            median(theirs.clone()),
            median(ratios.clone())
        );
    } else {
        eprintln!("  sha256sum not found: comparison skipped");
    }
}

fn verify_vs_sha256sum(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let have_sha = Command::new("sha256sum")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // The usual shape: one segment, so verify runs on one thread, like
    // sha256sum.
    let single = tmp.path().join("single");
    verify_trail(&single, 64 * 1024 * 1024);
    compare_with_sha256sum("one segment, one thread", &single, have_sha);
    // Several segments: verify checks them on up to one thread per core.
    let dir = tmp.path().join("verify");
    verify_trail(&dir, 8 * 1024 * 1024);
    compare_with_sha256sum("8 MiB segments", &dir, have_sha);
    let files = segment_files(&dir);
    let key = key();
    let bytes: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let mut group = c.benchmark_group("audit_verify_100k");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("verify", |b| {
        b.iter(|| black_box(verify(&dir, &key, None).expect("verify").is_intact()))
    });
    if have_sha {
        group.bench_function("sha256sum", |b| {
            b.iter(|| {
                black_box(
                    Command::new("sha256sum")
                        .args(&files)
                        .output()
                        .expect("run"),
                )
            })
        });
    }
    group.finish();
}

fn append_cost(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = open(&tmp.path().join("cost"), AuditConfig::default());
    // Printed medians: 60 samples of 2000 records each.
    let sample = |f: &dyn Fn(u64)| {
        let mut per = Vec::new();
        let mut i = 0u64;
        for _ in 0..60 {
            let start = Instant::now();
            for _ in 0..2000 {
                f(i);
                i += 1;
            }
            per.push(start.elapsed().as_nanos() as f64 / 2000.0);
        }
        (median(per.clone()), range(&per))
    };
    let (d, (dlo, dhi)) = sample(&|i| {
        black_box(log.append_deferred(outcome(i)).expect("append"));
    });
    let (b, (blo, bhi)) = sample(&|i| {
        if i % 5 == 0 {
            black_box(
                log.append_batch((i..i + 5).map(outcome), Wait::Deferred)
                    .expect("batch"),
            );
        }
    });
    eprintln!(
        "append_deferred: median {d:.0} ns per record (range {dlo:.0}..{dhi:.0})\n\
         append_batch of 5, Wait::Deferred: median {b:.0} ns per record (range {blo:.0}..{bhi:.0}), {:.0} ns per batch",
        b * 5.0
    );
    let mut group = c.benchmark_group("audit_append_cost");
    let mut i = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("deferred_1", |bch| {
        bch.iter(|| {
            i += 1;
            black_box(log.append_deferred(outcome(i)).expect("append"))
        })
    });
    group.throughput(Throughput::Elements(5));
    group.bench_function("batch_5_deferred", |bch| {
        bch.iter(|| {
            i += 5;
            black_box(
                log.append_batch((i..i + 5).map(outcome), Wait::Deferred)
                    .expect("batch"),
            )
        })
    });
    group.bench_function("batch_5_durable", |bch| {
        bch.iter(|| {
            i += 5;
            black_box(
                log.append_batch((i..i + 5).map(outcome), Wait::Durable)
                    .expect("batch"),
            )
        })
    });
    group.finish();
}

fn order_cycle(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = open(&tmp.path().join("cycle"), AuditConfig::default());
    let cycle = |n: u64| {
        log.append(intent(n)).expect("intent");
        for k in 0..4 {
            log.append_deferred(outcome(n * 4 + k)).expect("outcome");
        }
    };
    let before = log.stats();
    let cycles = 500u64;
    let start = Instant::now();
    (0..cycles).for_each(cycle);
    let elapsed = start.elapsed();
    let after = log.stats();
    eprintln!(
        "order_cycle [1 durable + 4 deferred] x {cycles}: {:.3} fdatasyncs per cycle, {:.0} us per cycle",
        (after.fsyncs - before.fsyncs) as f64 / cycles as f64,
        elapsed.as_secs_f64() * 1e6 / cycles as f64
    );
    let mut group = c.benchmark_group("audit_order_cycle");
    group.throughput(Throughput::Elements(1));
    let mut n = cycles;
    group.bench_function("1_durable_4_deferred", |b| {
        b.iter(|| {
            n += 1;
            cycle(n)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = group_commit, verify_vs_sha256sum, append_cost, order_cycle
}
criterion_main!(benches);
