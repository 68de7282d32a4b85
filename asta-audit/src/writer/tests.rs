//! The writer's unit tests.

use std::fs;
use std::path::PathBuf;

use chrono::TimeDelta;

use super::commit::*;
use super::*;
use crate::segment::list_segments;
use crate::verify;
use asta_core::ManualClock;
use chrono::{TimeZone, Utc};

fn setup() -> (tempfile::TempDir, PathBuf, ChainKey, ManualClock) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let key = ChainKey::from_bytes(&[5u8; 32]).unwrap();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
    (tmp, dir, key, clock)
}

#[test]
fn fsync_failure_poisons_and_is_never_retried() {
    let (_tmp, dir, key, clock) = setup();
    let log = AuditLog::open(&dir, key, AuditConfig::default(), Arc::new(clock)).unwrap();
    log.append(AuditEvent::system("a", json!({}))).unwrap();
    log.inject_sync_failure();
    let err = log.append(AuditEvent::system("b", json!({}))).unwrap_err();
    assert!(err.is_poisoned(), "{err}");
    assert!(log.is_poisoned());
    assert!(err.to_string().contains("injected failure"));
    let again = log.append(AuditEvent::system("c", json!({}))).unwrap_err();
    assert!(matches!(again, AuditError::Poisoned { .. }), "{again}");
    assert_eq!(log.stats().fsyncs, 1);
    assert!(log.close().is_err());
    assert_eq!(log.checkpoint().map(|c| c.seq()), Some(1));
}

#[test]
fn poison_reaches_every_follower_and_every_later_append() {
    let (_tmp, dir, key, clock) = setup();
    let config = AuditConfig::builder()
        .deferred_flush_delay(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key, config, Arc::new(clock)).unwrap();
    log.append(AuditEvent::system("before", json!({}))).unwrap();
    let deferred = log
        .append_deferred(AuditEvent::system("lost", json!({})))
        .unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(9));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                // Keep appending until the poison shows: nobody hangs.
                for i in 0.. {
                    match log.append(AuditEvent::system("x", json!({"t": t, "i": i}))) {
                        Ok(r) => assert!(r.durable),
                        Err(e) => return e,
                    }
                }
                unreachable!()
            })
        })
        .collect();
    log.inject_sync_failure();
    barrier.wait();
    for t in threads {
        let err = t.join().unwrap();
        assert!(err.is_poisoned(), "{err}");
    }
    assert!(log.is_poisoned());
    assert!(log.poison_reason().unwrap().contains("injected failure"));
    let durable = log.checkpoint().unwrap().seq();
    assert!(
        durable < deferred.seq,
        "the failed sync covered the deferred record"
    );
    // Every kind of later append fails the same way.
    let event = || AuditEvent::system("late", json!({}));
    assert!(log.append(event()).unwrap_err().is_poisoned());
    assert!(log.append_deferred(event()).unwrap_err().is_poisoned());
    assert!(
        log.append_batch([event()], Wait::Deferred)
            .unwrap_err()
            .is_poisoned()
    );
    assert!(log.sync().unwrap_err().is_poisoned());
    assert!(log.prune().unwrap_err().is_poisoned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(
        runtime
            .block_on(log.append_async(event()))
            .unwrap_err()
            .is_poisoned()
    );
    assert!(
        runtime
            .block_on(log.sync_async())
            .unwrap_err()
            .is_poisoned()
    );
    assert_eq!(log.stats().fsyncs, 1, "a failed sync is never retried");
    assert!(log.close().is_err());
    drop(log);
    // What was acknowledged durable is on disk and verifies.
    let key = ChainKey::from_bytes(&[5u8; 32]).unwrap();
    let v = verify(&dir, &key, None).unwrap().into_result().unwrap();
    assert!(v.head.unwrap().seq >= durable);
}

#[test]
fn poison_fails_async_followers() {
    let (_tmp, dir, key, clock) = setup();
    let log = AuditLog::open(&dir, key, AuditConfig::default(), Arc::new(clock)).unwrap();
    log.append(AuditEvent::system("before", json!({}))).unwrap();
    log.inject_sync_failure();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move {
                    log.append_async(AuditEvent::system("x", json!({"i": i})))
                        .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    // The first commit's sync fails: every task waiting on it, and every
    // later one, gets the poison error; none is acknowledged.
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_err_and(AuditError::is_poisoned))
    );
    assert!(log.is_poisoned());
}

#[test]
fn a_lone_appender_after_a_burst_stops_the_leader_gathering_at_once() {
    // Eight threads make commits gather (a leader waits for the eight);
    // afterwards one appender alone: at most one commit waits for the
    // others (and runs out), then the expectation drops to what came.
    let (_tmp, dir, key, clock) = setup();
    let log = AuditLog::open(&dir, key, AuditConfig::default(), Arc::new(clock)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..30 {
                    log.append(AuditEvent::order("intent", "s", json!({"t": t, "i": i})))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let before = log.stats().gathered;
    for i in 0..20 {
        log.append(AuditEvent::order("alone", "s", json!({"i": i})))
            .unwrap();
    }
    assert!(log.stats().gathered - before <= 1, "{:?}", log.stats());
    assert!(lock(&log.handle.shared.state).waits.is_empty());
    log.close().unwrap();
}

#[test]
fn async_appenders_pipeline_commits_and_leave_no_waiter_behind() {
    // Sixteen tasks, each waiting for its own records to be durable: a
    // leader on the blocking pool keeps committing while anyone waits
    // (pipelined group commit); every acknowledged record is durable,
    // each task is woken for its own record only, and no registration
    // outlives its wait.
    let (_tmp, dir, key, clock) = setup();
    let log = AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(clock)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..25 {
                        let r = log
                            .append_async(AuditEvent::order("intent", "s", json!({"t": t, "i": i})))
                            .await
                            .unwrap();
                        assert!(r.durable);
                        assert!(log.checkpoint().unwrap().seq() >= r.seq);
                        let d = log
                            .append_deferred(AuditEvent::order("outcome", "s", json!({"t": t})))
                            .unwrap();
                        log.sync_through_async(d.seq).await.unwrap();
                        assert!(log.checkpoint().unwrap().seq() >= d.seq);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let shared = &log.handle.shared;
    {
        let st = lock(&shared.state);
        assert!(st.async_waiters.is_empty());
        assert!(!st.durability_owed());
    }
    assert!(log.stats().fsyncs <= 800, "{:?}", log.stats());
    log.close().unwrap();
    let v = verify(&dir, &key, None).unwrap().into_result().unwrap();
    assert_eq!(v.records, 800);
}

#[test]
fn a_dropped_async_wait_leaves_its_record_to_the_flusher_and_no_waiter() {
    let (_tmp, dir, key, clock) = setup();
    let log = AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(clock)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        for i in 0..20 {
            // Polled once (staged, registered, maybe committed), then dropped.
            let append = log.append_async(AuditEvent::order("intent", "s", json!({"i": i})));
            let _ = tokio::time::timeout(Duration::from_micros(1), append).await;
        }
    });
    {
        let st = lock(&log.handle.shared.state);
        assert!(st.async_waiters.is_empty());
    }
    let head = log.sync().unwrap().unwrap();
    assert_eq!(head.seq, 20);
    log.close().unwrap();
    let v = verify(&dir, &key, None).unwrap().into_result().unwrap();
    assert_eq!(v.records, 20);
}

/// A waker that counts its wake-ups.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_commit_wakes_only_the_waiters_it_covers_and_a_dropped_wait_leaves_none() {
    // Deterministic: the test plays the leader (the flag set, so no
    // waiter starts a commit) and publishes a durable head by hand.
    let (_tmp, dir, key, clock) = setup();
    let log = AuditLog::open(&dir, key, AuditConfig::default(), Arc::new(clock)).unwrap();
    let first = log
        .append_deferred(AuditEvent::order("a", "s", json!({})))
        .unwrap();
    let second = log
        .append_deferred(AuditEvent::order("b", "s", json!({})))
        .unwrap();
    let shared = &log.handle.shared;
    lock(&shared.state).leader = true;
    let counters: Vec<_> = (0..3)
        .map(|_| Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0))))
        .collect();
    let poll_once = |seq: u64, counter: &Arc<CountingWaker>| {
        let waker = std::task::Waker::from(Arc::clone(counter));
        let mut cx = std::task::Context::from_waker(&waker);
        let mut wait = Box::pin(log.sync_through_async(seq));
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        wait
    };
    let wait_first = poll_once(first.seq, &counters[0]);
    let wait_second = poll_once(second.seq, &counters[1]);
    drop(poll_once(second.seq, &counters[2]));
    {
        let st = lock(&shared.state);
        assert_eq!(st.async_waiters.len(), 2, "the dropped wait left");
        assert!(st.durability_owed());
    }
    // Only the first record becomes durable: only its waiter wakes.
    {
        let mut st = lock(&shared.state);
        let saved = st.durable;
        st.durable = Some(Head {
            seq: first.seq,
            mac: first.mac,
            ts: first.ts,
        });
        shared.wake_all(&mut st);
        st.durable = saved;
        st.leader = false;
    }
    let woken: Vec<usize> = counters
        .iter()
        .map(|c| c.0.load(Ordering::SeqCst))
        .collect();
    assert_eq!(woken, vec![1, 0, 0]);
    assert_eq!(lock(&shared.state).async_waiters.len(), 1);
    drop((wait_first, wait_second));
    assert!(lock(&shared.state).async_waiters.is_empty());
    log.sync().unwrap();
    assert!(!lock(&shared.state).durability_owed());
    log.close().unwrap();
}

#[test]
fn concurrent_durable_appenders_keep_one_order_and_every_guarantee() {
    // Eight threads each waiting for durability: commits gather them
    // (see `Shared::gather`); every acknowledged record is durable,
    // seqs stay contiguous and the chain verifies.
    let (_tmp, dir, key, clock) = setup();
    let log = AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(clock)).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for i in 0..40 {
                    let r = log
                        .append(AuditEvent::order("intent", "s", json!({"t": t, "i": i})))
                        .unwrap();
                    assert!(r.durable);
                    assert!(log.checkpoint().unwrap().seq() >= r.seq);
                    seqs.push(r.seq);
                    let d = log
                        .append_deferred(AuditEvent::order("outcome", "s", json!({"t": t})))
                        .unwrap();
                    seqs.push(d.seq);
                }
                seqs
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=640).collect::<Vec<_>>());
    assert!(log.stats().fsyncs <= 320 + 10, "{:?}", log.stats());
    log.close().unwrap();
    let v = verify(&dir, &key, None).unwrap().into_result().unwrap();
    assert_eq!(v.records, 640);
}

#[test]
fn sync_through_waits_for_its_record_not_for_later_ones() {
    let (_tmp, dir, key, clock) = setup();
    let config = AuditConfig::builder()
        .deferred_flush_delay(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key, config, Arc::new(clock)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let first = log
        .append_deferred(AuditEvent::system("mine", json!({})))
        .unwrap();
    let head = runtime
        .block_on(log.sync_through_async(first.seq))
        .unwrap()
        .unwrap();
    assert!(head.seq >= first.seq);
    // Covered already: a later record does not make it wait again.
    let later = log
        .append_deferred(AuditEvent::system("theirs", json!({})))
        .unwrap();
    let fsyncs = log.stats().fsyncs;
    let head = runtime
        .block_on(log.sync_through_async(first.seq))
        .unwrap()
        .unwrap();
    assert_eq!(log.stats().fsyncs, fsyncs);
    assert!(head.seq < later.seq);
    // A seq beyond the newest record waits for the newest.
    let head = runtime
        .block_on(log.sync_through_async(later.seq + 10))
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, later.seq);
    log.close().unwrap();
    assert!(
        runtime
            .block_on(log.sync_through_async(1))
            .unwrap_err()
            .to_string()
            .contains("closed")
    );
}

#[test]
fn handle_is_clone_send_sync() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<AuditLog>();
    assert_traits::<ChainKey>();
}

#[test]
fn second_writer_is_locked_out() {
    let (_tmp, dir, key, clock) = setup();
    let clock = Arc::new(clock);
    let log = AuditLog::open(&dir, key.clone(), AuditConfig::default(), clock.clone()).unwrap();
    let err = AuditLog::open(&dir, key.clone(), AuditConfig::default(), clock.clone()).unwrap_err();
    assert!(matches!(err, AuditError::Locked { .. }), "{err}");
    drop(log);
    AuditLog::open(&dir, key, AuditConfig::default(), clock).unwrap();
}

#[test]
fn rotation_keeps_the_chain_and_prune_respects_retention() {
    let (_tmp, dir, key, clock) = setup();
    let config = AuditConfig::builder()
        .max_segment_bytes(4096)
        .retention_days(30)
        .build()
        .unwrap();
    let shared = Arc::new(clock.clone());
    let log = AuditLog::open(&dir, key.clone(), config.clone(), shared.clone()).unwrap();
    for i in 0..60 {
        log.append(AuditEvent::order(
            "place",
            "s",
            json!({"i": i, "symbol": "SBIN"}),
        ))
        .unwrap();
        clock.advance(TimeDelta::days(1));
    }
    let segments = list_segments(&dir).unwrap();
    assert!(segments.len() > 3, "{}", segments.len());
    let before = verify(&dir, &key, None).unwrap().into_result().unwrap();
    assert_eq!(before.records, 60);
    let checkpoint = log.checkpoint().unwrap();

    let report = log.prune().unwrap();
    assert!(report.segments_removed >= 1, "{report:?}");
    let after = verify(&dir, &key, Some(&checkpoint))
        .unwrap()
        .into_result()
        .unwrap();
    let anchor = report.anchor_seq.unwrap();
    assert_eq!(after.first_seq, anchor + 1);
    assert_eq!(after.head.unwrap().seq, 61);
    assert_eq!(after.records + report.records_removed, 61);
    // Record n was appended on day n - 1; the newest (seq 60) on day 59,
    // so the cutoff is day 29: every pruned record is older than that
    // and every record from day 29 on (seq 30 on) is still present.
    assert!(
        anchor - 1 < 29,
        "pruned a record younger than the retention period"
    );
    assert!(after.first_seq <= 30);
    // A second prune with no time passing removes nothing more.
    let again = log.prune().unwrap();
    assert_eq!(again.segments_removed, 0);
    drop(log);
    // Reopen continues after the pruned prefix.
    let log = AuditLog::open(&dir, key.clone(), config, shared).unwrap();
    assert_eq!(
        log.append(AuditEvent::system("x", json!({}))).unwrap().seq,
        62
    );
    drop(log);
    verify(&dir, &key, None).unwrap().into_result().unwrap();
    // Deleting the anchor is detected.
    fs::remove_file(dir.join(crate::retention::ANCHOR_FILE)).unwrap();
    assert!(!verify(&dir, &key, None).unwrap().is_intact());
}

#[test]
fn buffered_category_is_not_synced_until_asked() {
    let (_tmp, dir, key, clock) = setup();
    let config = AuditConfig::builder()
        .dangerous_buffered(crate::Category::System)
        .buffered_flush_interval(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key, config, Arc::new(clock)).unwrap();
    let r = log.append(AuditEvent::system("tick", json!({}))).unwrap();
    assert!(!r.durable);
    assert_eq!(log.stats().fsyncs, 0);
    assert!(log.checkpoint().is_none());
    let head = log.sync().unwrap().unwrap();
    assert_eq!(head.seq, 1);
    assert_eq!(log.stats().fsyncs, 1);
    let r = log.append(AuditEvent::order("x", "s", json!({}))).unwrap();
    assert!(r.durable);
}

#[test]
fn buffered_records_are_synced_under_constant_load() {
    let (_tmp, dir, key, clock) = setup();
    let config = AuditConfig::builder()
        .dangerous_buffered(crate::Category::System)
        .buffered_flush_interval(std::time::Duration::from_millis(1))
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key, config, Arc::new(clock)).unwrap();
    let start = Instant::now();
    while log.stats().fsyncs == 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "never synced"
        );
        log.append(AuditEvent::system("tick", json!({}))).unwrap();
    }
    assert!(log.checkpoint().is_some());
}

/// Deferred records fill at most half the queue before the flusher writes
/// them, long before their deadline: an appender that would otherwise find
/// the queue full writes the batch itself, on the order path.
#[test]
fn a_half_full_queue_is_written_by_the_flusher_before_its_deadline() {
    let (_tmp, dir, key, clock) = setup();
    let config = AuditConfig::builder()
        .queue_capacity(64)
        .deferred_flush_delay(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key, config, Arc::new(clock)).unwrap();
    for i in 0..31 {
        log.append_deferred(AuditEvent::system("tick", json!({"i": i})))
            .unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(log.stats().records, 0, "below half: waits for its deadline");
    log.append_deferred(AuditEvent::system("tick", json!({"i": 31})))
        .unwrap();
    let start = Instant::now();
    while log.stats().records < 32 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "half the queue was never written"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
