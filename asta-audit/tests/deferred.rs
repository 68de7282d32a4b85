//! Deferred and batch appends: one sync per order, durability as a prefix,
//! all-or-nothing batches, many writers of every kind in one chain, and
//! async appends that are cancelled after staging.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asta_audit::{AuditConfig, AuditError, AuditEvent, AuditLog, Wait, verify};
use asta_core::SystemClock;
use common::*;
use serde_json::json;

/// A configuration whose background flush never fires during a test, so
/// every sync counted comes from an append or an explicit `sync`.
fn no_timer() -> AuditConfig {
    AuditConfig::builder()
        .deferred_flush_delay(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn open(dir: &std::path::Path, config: AuditConfig) -> AuditLog {
    AuditLog::open(dir, key(), config, Arc::new(SystemClock)).unwrap()
}

fn outcome(i: u64) -> AuditEvent {
    AuditEvent::order(
        "accepted",
        "s",
        json!({"order_id": format!("A{i}"), "qty": i}),
    )
    .typed_unchecked()
}

/// Waits (bounded) until the durable head reaches `seq`; no timing asserted.
fn until_durable(log: &AuditLog, seq: u64) {
    let start = Instant::now();
    while log.checkpoint().is_none_or(|c| c.seq() < seq) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "seq {seq} never became durable"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn one_sync_per_order_cycle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = open(&dir, no_timer());
    for order in 0..50u64 {
        let intent = log
            .append(AuditEvent::order("place_intent", "s", json!({"n": order})))
            .unwrap();
        assert!(intent.durable);
        for i in 0..4 {
            let r = log.append_deferred(outcome(order * 4 + i)).unwrap();
            assert!(!r.durable);
            assert_eq!(r.seq, intent.seq + 1 + i);
        }
    }
    // Each intent's sync also made the previous order's outcomes durable.
    assert_eq!(log.stats().fsyncs, 50);
    assert_eq!(log.checkpoint().unwrap().seq(), 246);
    assert_eq!(log.head().unwrap().seq, 250);
    log.close().unwrap();
    assert_eq!(verified(&dir), 250);
}

#[test]
fn deferred_records_become_durable_with_a_later_append_or_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(&tmp.path().join("audit"), no_timer());
    for i in 1..=3 {
        assert_eq!(log.append_deferred(outcome(i)).unwrap().seq, i);
    }
    assert!(log.checkpoint().is_none(), "nothing is durable yet");
    assert_eq!(log.stats().fsyncs, 0);
    assert_eq!(log.stats().records, 0, "deferred appends do no I/O");
    let r = log
        .append(AuditEvent::system("durable", json!({})))
        .unwrap();
    assert_eq!((r.seq, r.durable), (4, true));
    assert_eq!(log.checkpoint().unwrap().seq(), 4);
    assert_eq!(log.stats().records, 4);

    log.append_deferred(outcome(5)).unwrap();
    assert_eq!(log.checkpoint().unwrap().seq(), 4);
    assert_eq!(log.sync().unwrap().unwrap().seq, 5);
    assert_eq!(log.checkpoint().unwrap().seq(), 5);
    assert_eq!(log.stats().fsyncs, 2);
}

#[test]
fn deferred_records_become_durable_on_the_timer() {
    let tmp = tempfile::tempdir().unwrap();
    let config = AuditConfig::builder()
        .deferred_flush_delay(Duration::from_millis(5))
        .build()
        .unwrap();
    let log = open(&tmp.path().join("audit"), config);
    let r = log.append_deferred(outcome(1)).unwrap();
    until_durable(&log, r.seq);
    // Again after the flusher went idle.
    std::thread::sleep(Duration::from_millis(30));
    let r = log.append_deferred(outcome(2)).unwrap();
    until_durable(&log, r.seq);
    assert!(log.stats().fsyncs >= 2);
}

#[test]
fn close_writes_and_syncs_deferred_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = open(&dir, no_timer());
    for i in 1..=7 {
        log.append_deferred(outcome(i)).unwrap();
    }
    let other = log.clone();
    log.close().unwrap();
    assert!(matches!(
        other.append_deferred(outcome(8)).unwrap_err(),
        AuditError::Closed
    ));
    assert_eq!(verified(&dir), 7);
}

#[test]
fn batches_are_contiguous_ordered_and_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let config = AuditConfig::builder()
        .max_record_bytes(4096)
        .max_segment_bytes(8192)
        .build()
        .unwrap();
    let log = open(&dir, config);
    let receipts = log
        .append_batch((1..=5).map(outcome), Wait::Durable)
        .unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(receipts.iter().all(|r| r.durable));
    assert_eq!(log.stats().fsyncs, 1, "one sync for the whole batch");

    // One oversized record refuses the whole batch before anything is staged.
    let too_big = AuditEvent::system("big", json!({"pad": "x".repeat(5000)}));
    let err = log
        .append_batch([outcome(6), too_big, outcome(7)], Wait::Durable)
        .unwrap_err();
    assert!(matches!(err, AuditError::RecordTooLarge { .. }), "{err}");
    assert_eq!(log.head().unwrap().seq, 5);

    let deferred = log
        .append_batch((6..=8).map(outcome), Wait::Deferred)
        .unwrap();
    assert_eq!(
        deferred.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [6, 7, 8]
    );
    assert!(deferred.iter().all(|r| !r.durable));
    assert!(log.append_batch([], Wait::Durable).unwrap().is_empty());

    // Concurrent batches never interleave.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..40)
                    .map(|b| {
                        let events = (0..5).map(|i| {
                            AuditEvent::trade("fill", format!("t{t}"), json!({"b": b, "i": i}))
                        });
                        let wait = if b % 2 == 0 {
                            Wait::Durable
                        } else {
                            Wait::Deferred
                        };
                        log.append_batch(events, wait)
                            .unwrap()
                            .iter()
                            .map(|r| r.seq)
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for seqs in h.join().unwrap() {
            assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
        }
    }
    log.close().unwrap();
    let all = records(&dir);
    assert_eq!(all.len(), 8 + 4 * 40 * 5);
    // In the file, each batch's records are adjacent and in event order.
    for r in all
        .iter()
        .filter(|r| r.category == asta_audit::Category::Trade)
    {
        let i = r.details["i"].as_u64().unwrap();
        let first = all.iter().find(|x| x.seq == r.seq - i).unwrap();
        assert_eq!(first.details["b"], r.details["b"]);
        assert_eq!(first.strategy, r.strategy);
        assert_eq!(first.details["i"], 0);
    }
    assert!(verify(&dir, &key(), None).unwrap().is_intact());
}

#[test]
fn threads_and_tasks_of_every_kind_build_one_gap_free_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let config = AuditConfig::builder()
        .queue_capacity(8)
        .max_segment_bytes(32 * 1024)
        .deferred_flush_delay(Duration::from_millis(3))
        .build()
        .unwrap();
    let log = open(&dir, config);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                for i in 0..60u64 {
                    let e = AuditEvent::order("x", format!("thread{t}"), json!({"i": i}));
                    match i % 3 {
                        0 => assert!(log.append(e).unwrap().durable),
                        1 => assert!(!log.append_deferred(e).unwrap().durable),
                        _ => {
                            let batch = log.append_batch([e, outcome(i)], Wait::Durable).unwrap();
                            assert_eq!(batch[1].seq, batch[0].seq + 1);
                            n += 1;
                        }
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let async_total: u64 = runtime.block_on(async {
        let tasks: Vec<_> = (0..16u64)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    for i in 0..20u64 {
                        let e = AuditEvent::risk_decision(
                            "check",
                            format!("task{t}"),
                            asta_audit::RiskDecision::Approved,
                            json!({"i": i}),
                        );
                        match i % 3 {
                            0 => assert!(log.append_async(e).await.unwrap().durable),
                            1 => assert!(!log.append_deferred_async(e).await.unwrap().durable),
                            _ => {
                                log.append_batch_async([e, outcome(i)], Wait::Deferred)
                                    .await
                                    .unwrap();
                                n += 1;
                            }
                        }
                        n += 1;
                    }
                    log.sync_async().await.unwrap();
                    n
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        total
    });
    let thread_total: u64 = threads.into_iter().map(|h| h.join().unwrap()).sum();
    let total = thread_total + async_total;
    assert_eq!(log.head().unwrap().seq, total);
    log.close().unwrap();
    let v = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    assert_eq!(v.records, total);
    assert!(v.segments > 1, "rotation happened under load");
    let seqs: HashSet<u64> = records(&dir).iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=total).collect());
}

#[test]
fn a_cancelled_async_append_is_still_written_and_synced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let config = AuditConfig::builder()
        .deferred_flush_delay(Duration::from_millis(5))
        .build()
        .unwrap();
    let log = open(&dir, config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for i in 0..20u64 {
            let event = AuditEvent::order("place_intent", "s", json!({"i": i}));
            // Polled once (the record is staged), then dropped.
            tokio::select! {
                biased;
                r = log.append_async(event) => { r.unwrap(); }
                () = std::future::ready(()) => {}
            }
            let batch = (0..3).map(outcome);
            tokio::select! {
                biased;
                r = log.append_batch_async(batch, Wait::Durable) => { r.unwrap(); }
                () = std::future::ready(()) => {}
            }
        }
    });
    assert_eq!(log.head().unwrap().seq, 80);
    // Nobody appends or syncs again: the records still become durable.
    until_durable(&log, 80);
    drop(log);
    assert_eq!(verified(&dir), 80);
}

const CHILD_ENV: &str = "ASTA_AUDIT_PREFIX_CHILD_DIR";

/// Runs only in the child process: order cycles of one durable intent and
/// four deferred outcomes until killed; prints `D <seq>` after each durable
/// append returned and `F <seq>` after each deferred one.
#[test]
fn prefix_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let config = AuditConfig::builder()
        .max_segment_bytes(64 * 1024)
        .deferred_flush_delay(Duration::from_millis(2))
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key(), config, Arc::new(SystemClock)).unwrap();
    let mut out = std::io::stdout().lock();
    for order in 0u64.. {
        let r = log
            .append(AuditEvent::order(
                "place_intent",
                "crash",
                json!({"n": order}),
            ))
            .unwrap();
        writeln!(out, "D {}", r.seq).unwrap();
        out.flush().unwrap();
        for i in 0..4 {
            let r = log.append_deferred(outcome(order * 4 + i)).unwrap();
            writeln!(out, "F {}", r.seq).unwrap();
        }
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_keeps_a_verified_prefix_with_every_durable_record() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    println!("prefix crash seed {seed}");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let exe = std::env::current_exe().unwrap();
    let mut durable_acked = 0u64;
    let mut deferred_seen = BTreeSet::new();
    for round in 0..8u64 {
        let mut child = Command::new(&exe)
            .args(["prefix_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((kind, seq)) = line.split_once(' ')
                    && let Ok(seq) = seq.parse::<u64>()
                {
                    acks.push((kind.to_owned(), seq));
                }
            }
            acks
        });
        std::thread::sleep(Duration::from_millis(40 + (seed + round * 37) % 150));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for (kind, seq) in reader.join().unwrap() {
            if kind == "D" {
                durable_acked = durable_acked.max(seq);
            } else {
                deferred_seen.insert(seq);
            }
        }
        let log = AuditLog::open(&dir, key(), AuditConfig::default(), Arc::new(SystemClock))
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        log.close().unwrap();
        let v = verify(&dir, &key(), None)
            .unwrap()
            .into_result()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Gap-free (verify) and containing every durably acknowledged
        // record, hence every record before it, deferred ones included.
        // (Empty if the child was killed before its first append.)
        let head = v.head.map_or(0, |h| h.seq);
        assert!(
            head >= durable_acked,
            "round {round}: head {head} < acked {durable_acked}"
        );
        let present: HashSet<u64> = records(&dir).iter().map(|r| r.seq).collect();
        for seq in deferred_seen.iter().filter(|&&s| s < durable_acked) {
            assert!(
                present.contains(seq),
                "deferred seq {seq} before a durable one was lost"
            );
        }
        // Later rounds continue after whatever survived (lost seqs are
        // reused by the next child).
        durable_acked = durable_acked.max(head);
        deferred_seen.clear();
    }
    assert!(
        durable_acked > 0,
        "the child never acknowledged a durable append"
    );
}
