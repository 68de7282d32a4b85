//! Many appenders at once: one total order, contiguous seqs, shared fsyncs,
//! bounded queue.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use asta_audit::{AuditConfig, AuditEvent, AuditLog, verify};
use asta_core::SystemClock;
use common::*;
use serde_json::json;

#[test]
fn threads_share_fsyncs_and_keep_one_order() {
    const THREADS: u64 = 8;
    const EACH: u64 = 150;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    // A tiny queue forces appenders to wait for space (backpressure).
    let config = AuditConfig::builder()
        .queue_capacity(4)
        .max_segment_bytes(64 * 1024)
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key(), config, Arc::new(SystemClock)).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        log.append(AuditEvent::trade("fill", format!("s{t}"), json!({"i": i})))
                            .unwrap()
                            .seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in handles {
        let seqs = h.join().unwrap();
        // Each thread's appends are ordered as the thread issued them.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        all.extend(seqs);
    }
    let total = THREADS * EACH;
    assert_eq!(all, (1..=total).collect::<HashSet<_>>());
    let stats = log.stats();
    println!(
        "{} records, {} fsyncs: {:.1} records per fsync",
        stats.records,
        stats.fsyncs,
        stats.records as f64 / stats.fsyncs.max(1) as f64
    );
    assert_eq!(stats.records, total);
    assert!(stats.fsyncs < total, "no group commit: {stats:?}");
    log.close().unwrap();
    let v = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    assert_eq!(v.records, total);
    assert!(v.segments > 1);
}

#[test]
fn async_tasks_append_without_blocking_the_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let config = AuditConfig::builder().queue_capacity(2).build().unwrap();
    let log = AuditLog::open(&dir, key(), config, Arc::new(SystemClock)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let seqs = runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..10 {
                        let e = AuditEvent::order("place_intent", "async", json!({"t": t, "i": i}));
                        seqs.push(log.append_async(e).await.unwrap().seq);
                    }
                    seqs
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    let set: HashSet<u64> = seqs.into_iter().collect();
    assert_eq!(set, (1..=640).collect::<HashSet<_>>());
    drop(log);
    assert_eq!(
        verify(&dir, &key(), None)
            .unwrap()
            .into_result()
            .unwrap()
            .records,
        640
    );
}

#[test]
fn appends_after_close_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(
        tmp.path().join("a"),
        key(),
        AuditConfig::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let other = log.clone();
    log.close().unwrap();
    let err = other
        .append(AuditEvent::system("late", json!({})))
        .unwrap_err();
    assert!(err.halts_trading(), "{err}");
    assert!(matches!(err, asta_audit::AuditError::Closed), "{err}");
}
