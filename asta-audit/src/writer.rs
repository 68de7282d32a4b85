//! The audit log handle and its commit path: leader/follower group commit
//! in the callers' own threads.
//!
//! An appender redacts and encodes its event in its own thread, then takes
//! one short lock (the *state* lock) in which it gives the record the next
//! seq, the previous MAC and its timestamp (one total order), seals the line
//! (HMAC) and appends it to the pending buffer. What happens next depends on
//! what the caller needs:
//!
//! - **Deferred** ([`AuditLog::append_deferred`]): nothing. The record is
//!   in the total order and in memory; it becomes durable with the next
//!   group commit.
//! - **Durable** ([`AuditLog::append`]): if no commit is in progress, the
//!   appender becomes the *leader*: it takes the whole pending buffer (its
//!   own record and everybody else's), and outside the lock writes it with
//!   one `write` per segment touched and makes it durable with one
//!   `fdatasync`, then publishes the durable head and wakes the waiting
//!   *followers*. A follower whose seq is covered returns; the others
//!   repeat (one of them leads the next commit). Async callers run the
//!   leader's I/O on tokio's blocking pool, so no runtime worker is
//!   blocked by an fsync; each waits to be woken for its own record only.
//!   That leader stays on while anyone still waits for a record it has not
//!   made durable, starting the next commit as soon as a sync returns
//!   (*pipelined* group commit: no hand-off per commit). Under
//!   concurrency the leader first *gathers*: holding the segment, it
//!   waits until as many appenders wait for durability as recent commits
//!   found (the last one to arrive wakes it), at most twice the previous
//!   fdatasync, so that appenders finishing their previous order join this
//!   sync instead of the next (see `Shared::gather`).
//! - A small **flusher thread** sleeps until the oldest record that is not
//!   yet durable reaches its deadline
//!   ([`AuditConfigBuilder::deferred_flush_delay`](crate::AuditConfigBuilder::deferred_flush_delay),
//!   or the buffered flush interval) and then commits as a leader, so
//!   deferred records never stay volatile indefinitely. It is woken at most
//!   once per quiet period, never per record.
//!
//! The pending buffer holds at most `queue_capacity` records (plus one
//! batch): an appender that finds it full writes it out itself or waits for
//! the leader (backpressure; nothing is dropped). Segment rotation is
//! decided when a record is staged and carried out by the leader, in order.
//! A failed write or fdatasync poisons the log: it is never retried (after a
//! failed fsync the kernel may have dropped the dirty pages), every waiting
//! and later append fails with [`AuditError::Poisoned`], and records that
//! were staged but not yet written are discarded.
//!
//! Writes are sequential (one leader at a time) and every fdatasync covers
//! everything written to the segment before it (older segments are synced
//! when they are rotated out), so durability is a prefix: if record N is
//! durable, so is every record before it.

use std::fmt;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use asta_core::Clock;
use chrono::TimeDelta;
use serde_json::json;

use crate::canonical::{EncodedEvent, seal_into};
use crate::checkpoint::Checkpoint;
use crate::config::{AuditConfig, Durability};
use crate::error::AuditError;
use crate::key::ChainKey;
use crate::record::{AppendReceipt, AuditEvent, Head, Mac};
use crate::recover::open_trail;
use crate::retention::{Anchor, PruneReport, read_anchor, skip_pruned, write_anchor};
use crate::segment::{
    Line, LineReader, RESERVE_STEP, create_segment, ensure_private_dir, list_segments, lock_dir,
    reserve, sync_dir, trim,
};
use crate::verify::{ChainState, Finding, FindingKind};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters of the commit path, for monitoring and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AuditStats {
    /// Records written since open.
    pub records: u64,
    /// fdatasync calls since open.
    pub fsyncs: u64,
    /// `write` calls since open (one per commit and segment touched).
    pub batches: u64,
    /// Commits whose leader waited for more appenders before syncing
    /// (see [`AuditLog`]'s notes on concurrency).
    pub gathered: u64,
}

/// The longest a leader waits for more appenders before it syncs.
const MAX_GATHER: Duration = Duration::from_millis(1);
/// The shortest wait a gathering leader allows itself (a sleep overshoots
/// shorter ones anyway).
const MIN_GATHER: Duration = Duration::from_micros(50);

/// How long [`AuditLog::append_batch`] (and its async form) waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Wait {
    /// Like [`AuditLog::append`]: return once every record of the batch is
    /// durable (fdatasync'd) — or, if every event's category is configured
    /// [`Durability::Buffered`], once they are written to the operating
    /// system. One fdatasync covers the whole batch.
    Durable,
    /// Like [`AuditLog::append_deferred`]: return as soon as the records
    /// have their seqs and MACs; they become durable with the next group
    /// commit.
    Deferred,
}

/// What the caller waits for after staging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Written to the operating system (buffered categories).
    Written,
    /// fdatasync'd.
    Durable,
}

/// Lines for one segment, in order. `rotate_to` starts a new segment (whose
/// first record has that seq) before the bytes are written.
struct Chunk {
    rotate_to: Option<u64>,
    bytes: String,
    records: u64,
}

/// The open segment; owned by the state while no commit runs, by the leader
/// while one does.
struct Io {
    file: File,
    path: PathBuf,
    /// Where the segment's data ends: the next line is written here.
    end: u64,
    /// The file's length: zeros from `end` to here are reserved space
    /// (see [`crate::segment`]).
    reserved: u64,
    /// Written since the last fdatasync.
    dirty: bool,
    /// Monotonic time of the last fdatasync (schedules syncs only).
    last_sync: Instant,
    /// How long the last fdatasync took (bounds a leader's gathering).
    last_sync_took: Duration,
}

struct State {
    next_seq: u64,
    prev: Mac,
    /// The newest record in the total order (staged, maybe not written).
    staged: Option<Head>,
    chunks: Vec<Chunk>,
    pending_records: usize,
    /// Bytes assigned to the newest segment (written and pending).
    segment_bytes: u64,
    /// A reusable buffer for sealing one line.
    scratch: String,
    /// `None` while a leader commits (it holds the segment) and after close.
    io: Option<Io>,
    leader: bool,
    closed: bool,
    /// The newest record written to the operating system.
    written: Option<Head>,
    /// The newest record known to be durable.
    durable: Option<Head>,
    /// When the oldest non-durable, non-awaited record must be synced.
    deadline: Option<Instant>,
    /// When the flusher will look next on its own (`None`: only when woken).
    flusher_wakes_at: Option<Instant>,
    /// Records were scheduled since the flusher last looked.
    flusher_busy: bool,
    /// Threads waiting on `changed` (followers, space waiters, flusher).
    blocking_waiters: usize,
    /// Appenders waiting for space in the pending buffer.
    space_waiters: usize,
    /// The seqs appenders wait to see durable, one per waiting appender
    /// (those covered are dropped after each commit).
    waits: Vec<u64>,
    /// How many appenders recent commits found waiting: a gathering leader
    /// waits for this many (see [`Shared::gather`]).
    peak_waiters: usize,
    /// While a leader gathers: how many waiting appenders it waits for.
    gathering: Option<usize>,
    /// Async appenders waiting for their record, each woken only once it
    /// is covered (or the log fails or closes), never by every commit.
    async_waiters: Vec<AsyncWaiter>,
    /// The id the next [`AsyncWaiter`] gets.
    next_waiter: u64,
}

/// An async appender waiting for `seq` to be written or durable.
struct AsyncWaiter {
    id: u64,
    seq: u64,
    need: Need,
    waker: Waker,
}

impl State {
    /// Someone waits for a record that is staged but not yet durable (a
    /// leader on the blocking pool keeps committing until nobody does).
    fn durability_owed(&self) -> bool {
        let durable = self.durable.map_or(0, |h| h.seq);
        self.waits.iter().any(|&seq| seq > durable)
    }

    fn covered(&self, seq: u64, need: Need) -> bool {
        let head = match need {
            Need::Written => self.written,
            Need::Durable => self.durable,
        };
        head.is_some_and(|h| h.seq >= seq)
    }
}

/// An event redacted and encoded by the caller's thread, ready to stage.
struct Prepared {
    event: EncodedEvent,
    durable: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Blocking followers, space waiters and the flusher wait here.
    changed: Condvar,
    /// Async followers and space waiters wait here.
    changed_async: tokio::sync::Notify,
    /// Wakes the flusher early.
    flusher_wake: Condvar,
    /// Wakes a gathering leader once enough appenders wait.
    gather_wake: Condvar,
    key: ChainKey,
    clock: Arc<dyn Clock>,
    config: AuditConfig,
    dir: PathBuf,
    poisoned: AtomicBool,
    /// Appenders waiting for durability right now (blocking and async).
    poison: Mutex<Option<String>>,
    records: AtomicU64,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    gathered: AtomicU64,
    #[cfg(test)]
    fail_next_sync: AtomicBool,
}

/// Resets the leader flag and poisons the log if a commit unwinds (a bug,
/// not an I/O error): nothing may wait forever for a leader that is gone.
struct LeaderGuard<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Drop for LeaderGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = lock(&self.shared.state);
            st.leader = false;
            self.shared
                .poison_locked(&mut st, "an audit commit panicked".to_owned());
            self.shared.wake_all(&mut st);
        }
    }
}

/// Schedules a background flush if an async durable append is dropped after
/// its record was staged, so the record still becomes durable soon.
struct CancelGuard<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = lock(&self.shared.state);
            self.shared
                .schedule_flush(&mut st, self.shared.config.deferred_flush_delay);
        }
    }
}

/// An async appender's place among the waiters, removed when its wait ends
/// or its future is dropped.
struct Registration<'a> {
    shared: &'a Shared,
    id: Option<u64>,
}

impl Registration<'_> {
    /// Adds the waiter, or updates its waker if it is still registered.
    fn register(&mut self, st: &mut State, seq: u64, need: Need, waker: &Waker) {
        if let Some(id) = self.id
            && let Some(waiter) = st.async_waiters.iter_mut().find(|w| w.id == id)
        {
            if !waiter.waker.will_wake(waker) {
                waiter.waker.clone_from(waker);
            }
            return;
        }
        let id = st.next_waiter;
        st.next_waiter = st.next_waiter.wrapping_add(1);
        st.async_waiters.push(AsyncWaiter {
            id,
            seq,
            need,
            waker: waker.clone(),
        });
        self.id = Some(id);
    }

    fn remove(&mut self, st: &mut State) {
        if let Some(id) = self.id.take() {
            st.async_waiters.retain(|w| w.id != id);
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if self.id.is_some() {
            let mut st = lock(&self.shared.state);
            self.remove(&mut st);
        }
    }
}

/// Counts an async appender waiting for space, also if its future is dropped.
struct SpaceWaiter<'a>(&'a Shared);

impl Drop for SpaceWaiter<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.space_waiters = st.space_waiters.saturating_sub(1);
    }
}

impl Shared {
    fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    fn poisoned_error(&self) -> AuditError {
        AuditError::Poisoned {
            reason: lock(&self.poison)
                .clone()
                .unwrap_or_else(|| "unknown failure".to_owned()),
        }
    }

    /// The error for a log that accepts nothing more.
    fn refusal(&self) -> AuditError {
        if self.is_poisoned() {
            self.poisoned_error()
        } else {
            AuditError::Closed
        }
    }

    /// Marks the log failed for good and drops what was staged but not
    /// written. No further I/O is attempted.
    fn poison_locked(&self, st: &mut State, reason: String) {
        tracing::error!(target: "asta_audit", reason = %reason, "audit log poisoned; refusing all appends");
        let mut poison = lock(&self.poison);
        if poison.is_none() {
            *poison = Some(reason);
        }
        drop(poison);
        self.poisoned.store(true, Ordering::Release);
        st.chunks.clear();
        st.pending_records = 0;
        st.deadline = None;
    }

    /// Wakes the blocking waiters, the async space waiters and every async
    /// appender whose record is now covered (all of them once the log is
    /// poisoned or closed, so that each sees why).
    fn wake_all(&self, st: &mut State) {
        if st.blocking_waiters > 0 {
            self.changed.notify_all();
        }
        self.changed_async.notify_waiters();
        let ending = self.is_poisoned() || (st.io.is_none() && !st.leader);
        let mut i = 0;
        while let Some(waiter) = st.async_waiters.get(i) {
            if ending || st.covered(waiter.seq, waiter.need) {
                st.async_waiters.swap_remove(i).waker.wake();
            } else {
                i += 1;
            }
        }
    }

    /// Waits on `changed` (the state lock is released meanwhile).
    fn wait<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        st.blocking_waiters += 1;
        let mut st = self
            .changed
            .wait(st)
            .unwrap_or_else(PoisonError::into_inner);
        st.blocking_waiters -= 1;
        st
    }

    fn fits(&self, st: &State, n: usize) -> bool {
        st.pending_records == 0
            || st.pending_records.saturating_add(n) <= self.config.queue_capacity
    }

    /// Asks the flusher to commit within `delay` from now.
    fn schedule_flush(&self, st: &mut State, delay: Duration) {
        let now = Instant::now();
        let at = now.checked_add(delay).unwrap_or(now);
        if st.deadline.is_none_or(|d| at < d) {
            st.deadline = Some(at);
            if st.flusher_wakes_at.is_none_or(|w| at < w) {
                // The flusher sleeps past the new deadline: wake it now.
                st.flusher_wakes_at = Some(now);
                self.flusher_wake.notify_one();
            }
        }
        st.flusher_busy = true;
    }

    /// Gives each event its seq, link and timestamp and appends its line to
    /// the pending buffer. `flush_within`: schedule a background commit
    /// (for records nobody will wait for).
    fn stage(
        &self,
        st: &mut State,
        events: &[Prepared],
        flush_within: Option<Duration>,
    ) -> Vec<AppendReceipt> {
        let mut receipts = Vec::with_capacity(events.len());
        let mut line = std::mem::take(&mut st.scratch);
        for prepared in events {
            let seq = st.next_seq;
            let ts = self.clock.now();
            line.clear();
            let mac = seal_into(&mut line, &self.key, seq, ts, &prepared.event, &st.prev);
            let len = line.len() as u64;
            if st.segment_bytes > 0
                && st.segment_bytes.saturating_add(len) > self.config.max_segment_bytes
            {
                st.chunks.push(Chunk {
                    rotate_to: Some(seq),
                    bytes: String::new(),
                    records: 0,
                });
                st.segment_bytes = 0;
            } else if st.chunks.is_empty() {
                st.chunks.push(Chunk {
                    rotate_to: None,
                    bytes: String::with_capacity(4096),
                    records: 0,
                });
            }
            if let Some(chunk) = st.chunks.last_mut() {
                chunk.bytes.push_str(&line);
                chunk.records += 1;
            }
            st.segment_bytes = st.segment_bytes.saturating_add(len);
            st.pending_records += 1;
            st.prev = mac;
            st.next_seq = seq.saturating_add(1);
            st.staged = Some(Head { seq, mac, ts });
            receipts.push(AppendReceipt {
                seq,
                mac,
                ts,
                durable: false,
            });
        }
        st.scratch = line;
        if let Some(delay) = flush_within {
            self.schedule_flush(st, delay);
        }
        receipts
    }

    /// Waits (blocking) until `n` more records fit in the pending buffer,
    /// writing it out itself when no leader is at work.
    fn reserve_blocking(&self, n: usize) -> Result<MutexGuard<'_, State>, AuditError> {
        let mut st = lock(&self.state);
        loop {
            if st.closed || self.is_poisoned() {
                return Err(self.refusal());
            }
            if self.fits(&st, n) {
                return Ok(st);
            }
            if st.leader {
                st.space_waiters += 1;
                st = self.wait(st);
                st.space_waiters -= 1;
            } else {
                st = self.lead(st, false);
            }
        }
    }

    /// Async form of [`reserve_blocking`](Shared::reserve_blocking) fused
    /// with staging: never blocks the runtime on I/O.
    async fn stage_async(
        self: &Arc<Self>,
        events: &[Prepared],
        flush_within: Option<Duration>,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        loop {
            let notified = self.changed_async.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let idle = {
                let mut st = lock(&self.state);
                if st.closed || self.is_poisoned() {
                    return Err(self.refusal());
                }
                if self.fits(&st, events.len()) {
                    return Ok(self.stage(&mut st, events, flush_within));
                }
                st.space_waiters += 1;
                !st.leader
            };
            let waiting = SpaceWaiter(self);
            if idle {
                self.spawn_leader(None);
            }
            notified.await;
            drop(waiting);
        }
    }

    /// Waits (blocking) until `seq` is written or durable, leading commits
    /// as needed.
    fn wait_for<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        seq: u64,
        need: Need,
    ) -> Result<(), AuditError> {
        let mut counted = false;
        loop {
            if st.covered(seq, need) {
                return Ok(());
            }
            if self.is_poisoned() {
                return Err(self.poisoned_error());
            }
            if !counted {
                counted = true;
                self.count_waiter(&mut st, seq, need);
            }
            if st.leader {
                st = self.wait(st);
            } else if st.io.is_none() {
                return Err(AuditError::Closed);
            } else {
                let durable = need == Need::Durable;
                st = self.lead_with(st, durable, durable);
            }
        }
    }

    /// Async form of [`wait_for`](Shared::wait_for): the leader's I/O runs
    /// on the blocking pool; this task is woken once its record is covered
    /// (see [`wake_all`](Shared::wake_all)).
    async fn wait_async(self: &Arc<Self>, seq: u64, need: Need) -> Result<(), AuditError> {
        let mut registration = Registration {
            shared: self,
            id: None,
        };
        std::future::poll_fn(|cx| {
            let mut st = lock(&self.state);
            if st.covered(seq, need) {
                registration.remove(&mut st);
                return Poll::Ready(Ok(()));
            }
            if self.is_poisoned() {
                registration.remove(&mut st);
                return Poll::Ready(Err(self.poisoned_error()));
            }
            if !st.leader && st.io.is_none() {
                registration.remove(&mut st);
                return Poll::Ready(Err(AuditError::Closed));
            }
            if registration.id.is_none() {
                self.count_waiter(&mut st, seq, need);
            }
            registration.register(&mut st, seq, need, cx.waker());
            let idle = !st.leader;
            drop(st);
            if idle {
                self.spawn_leader(Some((seq, need)));
            }
            Poll::Pending
        })
        .await
    }

    /// Runs commits on tokio's blocking pool (inline without a runtime),
    /// unless by then `target` is covered or another leader is at work.
    ///
    /// The leader stays on while appenders wait for records it has not yet
    /// made durable: the next commit starts as soon as the previous sync
    /// returns, with everything staged meanwhile, and no waiter has to
    /// hand a new commit to the pool (pipelined group commit).
    fn spawn_leader(self: &Arc<Self>, target: Option<(u64, Need)>) {
        let shared = Arc::clone(self);
        let run = move || {
            let mut st = lock(&shared.state);
            let done = target.is_some_and(|(seq, need)| st.covered(seq, need));
            if done || st.leader || shared.is_poisoned() {
                return;
            }
            let sync = target.is_some_and(|(_, need)| need == Need::Durable);
            st = shared.lead_with(st, sync, sync);
            while st.durability_owed()
                && !st.leader
                && !st.closed
                && st.io.is_some()
                && !shared.is_poisoned()
            {
                st = shared.lead_with(st, true, true);
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(run)),
            Err(_) => run(),
        }
    }

    /// Becomes the leader: commits everything pending (with an fdatasync if
    /// `want_sync` or one is due), publishes and wakes everyone waiting.
    fn lead<'a>(&'a self, st: MutexGuard<'a, State>, want_sync: bool) -> MutexGuard<'a, State> {
        self.lead_with(st, want_sync, false)
    }

    /// [`lead`](Shared::lead); with `gather`, for a commit that someone
    /// waits on to be durable, first [`gather`](Shared::gather)s.
    fn lead_with<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        want_sync: bool,
        gather: bool,
    ) -> MutexGuard<'a, State> {
        let Some(mut io) = st.io.take() else {
            return st;
        };
        st.leader = true;
        let mut guard = LeaderGuard {
            shared: self,
            armed: true,
        };
        if gather {
            st = self.gather(st, io.last_sync_took);
        }
        st = self.commit_held(st, &mut io, want_sync);
        st.io = Some(io);
        st.leader = false;
        guard.armed = false;
        self.wake_all(&mut st);
        st
    }

    /// Notes an appender waiting for `seq` to be durable, and wakes a
    /// gathering leader once as many wait as it waits for.
    fn count_waiter(&self, st: &mut State, seq: u64, need: Need) {
        if need != Need::Durable {
            return;
        }
        st.waits.push(seq);
        if st.gathering.is_some_and(|target| st.waits.len() >= target) {
            self.gather_wake.notify_one();
        }
    }

    /// Group commit under concurrency: before it syncs, the leader
    /// (holding the segment, so nobody else commits) waits until as many
    /// appenders wait for durability as recent commits found waiting, so
    /// that one fdatasync covers them all.
    ///
    /// Without it, a leader that syncs whatever is staged splits concurrent
    /// appenders into groups that take turns: while one group's sync runs
    /// the other stages and waits, and each sync covers a few of them. Each
    /// fdatasync also costs CPU (on a virtual machine about 50 µs of kernel
    /// time, as much as an order's own work), so fewer, fuller syncs leave
    /// the appenders more of the machine. The wait ends as soon as the
    /// last expected appender arrives (it wakes the leader); it is bounded
    /// by twice the previous fdatasync (at least [`MIN_GATHER`], at most
    /// [`MAX_GATHER`]); a wait that runs out lowers the expectation to the
    /// appenders that came, so a quieter load stops waiting at once. A
    /// single appender never waits. Records keep their seqs and order; only
    /// the moment of the sync moves.
    fn gather<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        last_sync_took: Duration,
    ) -> MutexGuard<'a, State> {
        let target = st.peak_waiters;
        if target < 2 || st.waits.len() >= target {
            st.peak_waiters = st.peak_waiters.max(st.waits.len());
            return st;
        }
        let budget = last_sync_took
            .saturating_mul(2)
            .clamp(MIN_GATHER, MAX_GATHER);
        let start = Instant::now();
        let Some(deadline) = start.checked_add(budget) else {
            return st;
        };
        self.gathered.fetch_add(1, Ordering::Relaxed);
        st.gathering = Some(target);
        let mut ran_out = false;
        while st.waits.len() < target && !st.closed && !self.is_poisoned() {
            let now = Instant::now();
            if now >= deadline {
                ran_out = true;
                break;
            }
            st = self
                .gather_wake
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        st.gathering = None;
        st.peak_waiters = if ran_out {
            st.waits.len()
        } else {
            st.peak_waiters.max(st.waits.len())
        };
        st
    }

    /// The leader's commit: takes the pending buffer, writes and syncs it
    /// outside the lock, publishes the new heads (or poisons the log).
    fn commit_held<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        io: &mut Io,
        want_sync: bool,
    ) -> MutexGuard<'a, State> {
        let chunks = std::mem::take(&mut st.chunks);
        let records = std::mem::replace(&mut st.pending_records, 0);
        let head = st.staged;
        let due = (records > 0 || io.dirty) && {
            let now = Instant::now();
            st.deadline.is_some_and(|d| now >= d)
                || now.duration_since(io.last_sync) >= self.config.buffered_flush_interval
        };
        let sync = want_sync || due;
        if sync {
            st.deadline = None;
        }
        if records > 0 && st.space_waiters > 0 {
            self.wake_all(&mut st);
        }
        drop(st);
        let result = self.write_out(io, chunks, sync);
        let mut st = lock(&self.state);
        match result {
            Ok(synced) => {
                if records > 0 {
                    st.written = head;
                }
                if synced {
                    st.durable = st.written;
                    if let Some(head) = st.durable {
                        st.waits.retain(|&seq| seq > head.seq);
                    }
                }
            }
            Err(reason) => self.poison_locked(&mut st, reason),
        }
        st
    }

    /// Writes the chunks in order (rotating where they say) and syncs if
    /// asked. Returns whether everything written is now durable.
    fn write_out(&self, io: &mut Io, chunks: Vec<Chunk>, sync: bool) -> Result<bool, String> {
        for chunk in chunks {
            if let Some(seq) = chunk.rotate_to {
                if io.dirty {
                    self.sync_file(io)?;
                }
                // The finished segment keeps no reserved zeros.
                trim(&io.file, io.end)
                    .map_err(|e| format!("trimming {} failed: {e}", io.path.display()))?;
                let (file, path) =
                    create_segment(&self.dir, seq).map_err(|e| format!("rotation failed: {e}"))?;
                io.file = file;
                io.path = path;
                io.end = 0;
                io.reserved = 0;
            }
            if !chunk.bytes.is_empty() {
                let bytes = chunk.bytes.as_bytes();
                let len = bytes.len() as u64;
                let end = io.end.saturating_add(len);
                if end > io.reserved {
                    // Zeros up to a step past this write: the commit's sync
                    // makes the new length durable once, and the syncs of
                    // the next commits only flush data.
                    let to = end.saturating_add(RESERVE_STEP);
                    reserve(&io.file, io.reserved, to).map_err(|e| {
                        format!("reserving space in {} failed: {e}", io.path.display())
                    })?;
                    io.reserved = to;
                }
                io.file
                    .write_all_at(bytes, io.end)
                    .map_err(|e| format!("write to {} failed: {e}", io.path.display()))?;
                io.end = end;
                io.dirty = true;
                self.records.fetch_add(chunk.records, Ordering::Relaxed);
                self.batches.fetch_add(1, Ordering::Relaxed);
            }
        }
        if sync && io.dirty {
            self.sync_file(io)?;
        }
        Ok(sync)
    }

    fn sync_file(&self, io: &mut Io) -> Result<(), String> {
        #[cfg(test)]
        if self.fail_next_sync.swap(false, Ordering::SeqCst) {
            return Err(format!(
                "fdatasync of {} failed: injected failure",
                io.path.display()
            ));
        }
        let started = Instant::now();
        io.file
            .sync_data()
            .map_err(|e| format!("fdatasync of {} failed: {e}", io.path.display()))?;
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        io.dirty = false;
        io.last_sync = Instant::now();
        io.last_sync_took = io.last_sync.saturating_duration_since(started);
        Ok(())
    }

    /// The flusher thread: commits when the oldest record nobody waits for
    /// reaches its deadline.
    fn run_flusher(&self) {
        let mut st = lock(&self.state);
        loop {
            if st.closed {
                return;
            }
            let now = Instant::now();
            st.flusher_wakes_at = Some(now);
            match st.deadline {
                Some(due) if now >= due => {
                    if self.is_poisoned() {
                        st.deadline = None;
                    } else if st.leader {
                        st = self.wait(st);
                    } else {
                        st = self.lead(st, true);
                    }
                }
                Some(due) => st = self.flusher_sleep(st, Some(due)),
                None => {
                    // Stay on a timer while appends keep coming, so a busy
                    // log never needs a wake-up call; go idle after a quiet
                    // period.
                    let next = std::mem::take(&mut st.flusher_busy)
                        .then(|| now.checked_add(self.config.deferred_flush_delay))
                        .flatten();
                    st = self.flusher_sleep(st, next);
                }
            }
        }
    }

    fn flusher_sleep<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, State> {
        st.flusher_wakes_at = until;
        match until {
            None => self
                .flusher_wake
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner),
            Some(at) => {
                let timeout = at.saturating_duration_since(Instant::now());
                self.flusher_wake
                    .wait_timeout(st, timeout)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        }
    }
}

struct Handle {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// The directory lock, held until close.
    dir_lock: Mutex<Option<File>>,
}

impl Handle {
    fn shutdown(&self) {
        let shared = &self.shared;
        let mut st = lock(&shared.state);
        st.closed = true;
        shared.flusher_wake.notify_all();
        shared.gather_wake.notify_all();
        while st.leader {
            st = shared.wait(st);
        }
        if !shared.is_poisoned() {
            st = shared.lead(st, true);
        }
        // Release the segment: nothing is written after close. It keeps no
        // reserved zeros (a reader sees only records).
        if let Some(io) = st.io.take()
            && !shared.is_poisoned()
            && let Err(error) = trim(&io.file, io.end)
        {
            tracing::warn!(target: "asta_audit", %error, "could not trim the reserved space of the newest audit segment; the next open reads past it");
        }
        shared.wake_all(&mut st);
        drop(st);
        let flusher = lock(&self.flusher).take();
        if let Some(flusher) = flusher
            && flusher.join().is_err()
        {
            tracing::error!(target: "asta_audit", "audit flusher thread panicked");
        }
        drop(lock(&self.dir_lock).take());
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A durable, tamper-evident audit trail open for appending.
///
/// Cheap to clone (`Arc` inside); all clones share one trail. Appends
/// commit in the callers' threads (leader/follower group commit, see the
/// crate docs); a small background thread only makes sure that deferred
/// records become durable within
/// [`deferred_flush_delay`](crate::AuditConfigBuilder::deferred_flush_delay).
/// When the last clone is dropped or [`close`](AuditLog::close) is called,
/// everything appended is written and synced. Only one `AuditLog` may have a
/// directory open at a time (an exclusive `flock` on `LOCK`).
///
/// # Which append to call
///
/// | call | returns when | a crash can lose it |
/// |---|---|---|
/// | [`append`](AuditLog::append) / [`append_async`](AuditLog::append_async) | the record is fdatasync'd | no |
/// | [`append_deferred`](AuditLog::append_deferred) / [`append_deferred_async`](AuditLog::append_deferred_async) | the record has its seq and MAC | yes, until the next group commit |
/// | [`append_batch`](AuditLog::append_batch) / [`append_batch_async`](AuditLog::append_batch_async) | per [`Wait`], once for the whole batch | per [`Wait`] |
///
/// A guarded order path appends its intent with `append` (the one sync per
/// order, before the broker call) and everything after the broker call with
/// `append_deferred`: those records become durable with the next order's
/// intent, an explicit [`sync`](AuditLog::sync), or the flusher, whichever
/// comes first.
///
/// **What a crash can lose.** Only a suffix: records appended deferred (or
/// in a buffered category) after the last completed fdatasync. Durability is
/// a prefix of the total order: if record N is durable, every record before
/// N is durable too, and the trail always reopens to a chain that verifies.
/// A process crash loses deferred records that were not yet written (at most
/// `deferred_flush_delay` worth, or until the next durable append); a
/// machine crash also loses what was written but not yet synced.
///
/// ```
/// use std::sync::Arc;
/// use asta_audit::{AuditConfig, AuditEvent, AuditLog, ChainKey, verify};
/// use asta_core::SystemClock;
/// use serde_json::json;
///
/// let tmp = tempfile::tempdir()?;
/// let dir = tmp.path().join("audit");
/// let key = ChainKey::from_bytes(&[42u8; 32])?;
/// let log = AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(SystemClock))?;
/// let receipt = log.append(AuditEvent::order(
///     "place_intent",
///     "momentum",
///     json!({"symbol": "SBIN", "qty": 10, "api_key": "never written"}),
/// ))?;
/// assert_eq!(receipt.seq, 1);
/// assert!(receipt.durable);
/// // After the broker call: no wait, durable with the next commit.
/// let accepted = log.append_deferred(
///     AuditEvent::order("accepted", "momentum", json!({"order_id": "A1"})).typed_unchecked(),
/// )?;
/// assert_eq!((accepted.seq, accepted.durable), (2, false));
/// assert_eq!(log.sync()?.map(|h| h.seq), Some(2));
/// let checkpoint = log.checkpoint().expect("two durable records");
/// log.close()?;
/// let verified = verify(&dir, &key, Some(&checkpoint))?.into_result()?;
/// assert_eq!(verified.records, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AuditLog {
    handle: Arc<Handle>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.handle.shared.dir)
            .field("poisoned", &self.is_poisoned())
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (creating it with mode 0700 if needed) the trail in `dir`.
    ///
    /// Checks permissions (directory 0700, segments 0600, owned by the
    /// current user), takes the directory lock, authenticates the newest
    /// segment and continues the chain. A torn final line from a crash is
    /// cut and a `SYSTEM` record `audit_recovered` (segment, offset, size
    /// and SHA-256 of what was cut) is appended durably before `open`
    /// returns. Any other damage is [`AuditError::Tampered`]: fail closed.
    pub fn open(
        dir: impl AsRef<Path>,
        key: ChainKey,
        config: AuditConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AuditLog, AuditError> {
        config.validate()?;
        let dir = dir.as_ref().to_owned();
        ensure_private_dir(&dir)?;
        let lock_file = lock_dir(&dir)?;
        let opened = open_trail(&dir, &key)?;
        let now = Instant::now();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                next_seq: opened.next_seq,
                prev: opened.prev,
                staged: opened.head,
                chunks: Vec::new(),
                pending_records: 0,
                segment_bytes: opened.size,
                scratch: String::new(),
                io: Some(Io {
                    file: opened.file,
                    path: opened.path,
                    end: opened.size,
                    reserved: opened.reserved,
                    dirty: false,
                    last_sync: now,
                    last_sync_took: Duration::ZERO,
                }),
                leader: false,
                closed: false,
                written: opened.head,
                durable: opened.head,
                deadline: None,
                flusher_wakes_at: Some(now),
                flusher_busy: false,
                blocking_waiters: 0,
                space_waiters: 0,
                waits: Vec::new(),
                peak_waiters: 0,
                gathering: None,
                async_waiters: Vec::new(),
                next_waiter: 0,
            }),
            changed: Condvar::new(),
            changed_async: tokio::sync::Notify::new(),
            flusher_wake: Condvar::new(),
            gather_wake: Condvar::new(),
            key,
            clock,
            config: config.clone(),
            dir: dir.clone(),
            poisoned: AtomicBool::new(false),
            poison: Mutex::new(None),
            records: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            gathered: AtomicU64::new(0),
            #[cfg(test)]
            fail_next_sync: AtomicBool::new(false),
        });
        if let Some(cut) = opened.cut {
            tracing::warn!(
                target: "asta_audit",
                segment = %cut.segment,
                offset = cut.offset,
                bytes = cut.bytes,
                "audit trail had a torn final line after a crash; cut it"
            );
            let event = AuditEvent::system(
                "audit_recovered",
                json!({
                    "reason": "torn final line after a crash",
                    "segment": cut.segment,
                    "cut_at_offset": cut.offset,
                    "cut_bytes": cut.bytes,
                    "cut_sha256": cut.sha256,
                }),
            );
            let prepared = [Prepared {
                event: EncodedEvent::new(&event.redacted()),
                durable: true,
            }];
            let mut st = lock(&shared.state);
            let seq = shared
                .stage(&mut st, &prepared, None)
                .first()
                .map(|r| r.seq);
            if let Some(seq) = seq {
                shared.wait_for(st, seq, Need::Durable)?;
            }
        }
        let flusher_shared = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("asta-audit-flush".to_owned())
            .spawn(move || {
                let shared = flusher_shared;
                let run =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.run_flusher()));
                if run.is_err() {
                    // A bug, not an I/O error; still, deferred records must
                    // not silently stay volatile.
                    let mut st = lock(&shared.state);
                    shared.poison_locked(&mut st, "the audit flusher thread panicked".to_owned());
                    shared.wake_all(&mut st);
                }
            })
            .map_err(|e| AuditError::io("starting the flusher thread for", &dir, e))?;
        Ok(AuditLog {
            handle: Arc::new(Handle {
                shared,
                flusher: Mutex::new(Some(flusher)),
                dir_lock: Mutex::new(Some(lock_file)),
            }),
        })
    }

    /// Redacts and encodes in the caller's thread; refuses an oversized record.
    fn prepare(&self, event: AuditEvent) -> Result<Prepared, AuditError> {
        let shared = &self.handle.shared;
        if shared.is_poisoned() {
            return Err(shared.poisoned_error());
        }
        // Before redaction, which recurses: a hostile depth is refused here.
        crate::depth::depth_within(&event.details, crate::MAX_DETAILS_DEPTH).map_err(|depth| {
            AuditError::DetailsTooDeep {
                depth,
                max: crate::MAX_DETAILS_DEPTH,
            }
        })?;
        let event = event.redacted();
        let durable = shared.config.durability(event.category) == Durability::Durable;
        let encoded = EncodedEvent::new(&event);
        let size = encoded.line_len();
        let max = shared.config.max_record_bytes;
        if size > max {
            return Err(AuditError::RecordTooLarge { size, max });
        }
        Ok(Prepared {
            event: encoded,
            durable,
        })
    }

    fn prepare_all(
        &self,
        events: impl IntoIterator<Item = AuditEvent>,
    ) -> Result<Vec<Prepared>, AuditError> {
        events.into_iter().map(|e| self.prepare(e)).collect()
    }

    /// What a caller who waits needs for these records, and the flush
    /// deadline for records nobody waits to be synced.
    fn plan(&self, prepared: &[Prepared], wait: Wait) -> (Option<Need>, Option<Duration>) {
        let config = &self.handle.shared.config;
        match wait {
            Wait::Deferred => (None, Some(config.deferred_flush_delay)),
            Wait::Durable if prepared.iter().any(|p| p.durable) => (Some(Need::Durable), None),
            Wait::Durable => (Some(Need::Written), Some(config.buffered_flush_interval)),
        }
    }

    fn batch_blocking(
        &self,
        prepared: &[Prepared],
        wait: Wait,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let shared = &self.handle.shared;
        let (need, flush_within) = self.plan(prepared, wait);
        let mut st = shared.reserve_blocking(prepared.len())?;
        let mut receipts = shared.stage(&mut st, prepared, flush_within);
        if let (Some(need), Some(last)) = (need, receipts.last()) {
            shared.wait_for(st, last.seq, need)?;
            mark_durable(&mut receipts, need);
        }
        Ok(receipts)
    }

    async fn batch_async(
        &self,
        prepared: &[Prepared],
        wait: Wait,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let shared = &self.handle.shared;
        let (need, flush_within) = self.plan(prepared, wait);
        let mut receipts = shared.stage_async(prepared, flush_within).await?;
        if let (Some(need), Some(last)) = (need, receipts.last()) {
            // From here the records are in the trail's order: if this future
            // is dropped, the flusher still makes them durable.
            let mut cancel = CancelGuard {
                shared,
                armed: true,
            };
            let result = shared.wait_async(last.seq, need).await;
            cancel.armed = false;
            result?;
            mark_durable(&mut receipts, need);
        }
        Ok(receipts)
    }

    /// Appends `event` (after redaction) and returns once it is durable
    /// (fdatasync'd) — or, for a category configured
    /// [`Durability::Buffered`], once it is written to the operating system.
    ///
    /// Blocks the calling thread while it commits (it may lead a group
    /// commit for other appenders too) and while the pending buffer is
    /// full. From async code use [`append_async`](AuditLog::append_async).
    ///
    /// An error means the record may not be on disk; if the log is poisoned
    /// ([`AuditError::is_poisoned`]) stop trading.
    pub fn append(&self, event: AuditEvent) -> Result<AppendReceipt, AuditError> {
        let prepared = [self.prepare(event)?];
        first(self.batch_blocking(&prepared, Wait::Durable)?)
    }

    /// Like [`append`](AuditLog::append), without blocking an async
    /// runtime's worker: the fdatasync runs on tokio's blocking pool (inline
    /// if called outside a tokio runtime) and this task waits for a
    /// notification. If the future is dropped after the event was staged,
    /// the record is still written and synced (within
    /// [`deferred_flush_delay`](crate::AuditConfigBuilder::deferred_flush_delay)).
    pub async fn append_async(&self, event: AuditEvent) -> Result<AppendReceipt, AuditError> {
        let prepared = [self.prepare(event)?];
        first(self.batch_async(&prepared, Wait::Durable).await?)
    }

    /// Appends `event` (after redaction) **without waiting for it to be
    /// written**: returns as soon as the record has its seq and MAC in the
    /// trail's single total order, with `receipt.durable == false`.
    ///
    /// The record becomes durable with the next group commit: a later
    /// durable append (from any thread), a [`sync`](AuditLog::sync), or the
    /// background flush at most
    /// [`deferred_flush_delay`](crate::AuditConfigBuilder::deferred_flush_delay)
    /// (default 50 ms) later. Until then a crash loses it (and only records
    /// after it: see [`AuditLog`]'s crash notes). Use it for records whose
    /// loss is recoverable, such as an order's outcome (reconciliation
    /// finds it), never for an order's intent.
    ///
    /// No thread hop and no I/O: it takes one short lock. It waits only
    /// while the pending buffer is full
    /// ([`queue_capacity`](crate::AuditConfigBuilder::queue_capacity)
    /// records), then it writes the buffer out itself (a `write`, no sync)
    /// or waits for the commit in progress; async code that may fill the
    /// buffer can use [`append_deferred_async`](AuditLog::append_deferred_async).
    pub fn append_deferred(&self, event: AuditEvent) -> Result<AppendReceipt, AuditError> {
        let prepared = [self.prepare(event)?];
        first(self.batch_blocking(&prepared, Wait::Deferred)?)
    }

    /// [`append_deferred`](AuditLog::append_deferred) that waits for space
    /// in the pending buffer asynchronously (only ever waits then).
    pub async fn append_deferred_async(
        &self,
        event: AuditEvent,
    ) -> Result<AppendReceipt, AuditError> {
        let prepared = [self.prepare(event)?];
        first(self.batch_async(&prepared, Wait::Deferred).await?)
    }

    /// Appends several events as one unit: contiguous seqs in the given
    /// order, one hand-off, and at most one fdatasync wait for the whole
    /// batch (see [`Wait`]). Returns one receipt per event.
    ///
    /// All or nothing: every event is redacted and checked first, so a
    /// record that is too large
    /// ([`AuditError::RecordTooLarge`]) or a closed or poisoned log refuses
    /// the whole batch before any record is staged.
    pub fn append_batch(
        &self,
        events: impl IntoIterator<Item = AuditEvent>,
        wait: Wait,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        let prepared = self.prepare_all(events)?;
        self.batch_blocking(&prepared, wait)
    }

    /// Async form of [`append_batch`](AuditLog::append_batch): never blocks
    /// a runtime worker on I/O. If the future is dropped after the batch
    /// was staged, the records are still written and synced.
    pub async fn append_batch_async(
        &self,
        events: impl IntoIterator<Item = AuditEvent>,
        wait: Wait,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        let prepared = self.prepare_all(events)?;
        self.batch_async(&prepared, wait).await
    }

    /// Queues `event` without waiting for it to be written (blocks only
    /// while the pending buffer is full). Used by the tracing layer.
    pub(crate) fn submit(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.append_deferred(event).map(drop)
    }

    /// Makes everything appended so far durable (deferred records and
    /// buffered categories included) and returns the durable head.
    pub fn sync(&self) -> Result<Option<Head>, AuditError> {
        let shared = &self.handle.shared;
        let st = lock(&shared.state);
        if st.closed || shared.is_poisoned() {
            return Err(shared.refusal());
        }
        if let Some(target) = st.staged {
            shared.wait_for(st, target.seq, Need::Durable)?;
        } else {
            return Ok(st.durable);
        }
        Ok(lock(&shared.state).durable)
    }

    /// Async form of [`sync`](AuditLog::sync): never blocks a runtime
    /// worker on the fdatasync.
    pub async fn sync_async(&self) -> Result<Option<Head>, AuditError> {
        let shared = &self.handle.shared;
        let target = {
            let st = lock(&shared.state);
            if st.closed || shared.is_poisoned() {
                return Err(shared.refusal());
            }
            match st.staged {
                Some(target) => target.seq,
                None => return Ok(st.durable),
            }
        };
        shared.wait_async(target, Need::Durable).await?;
        Ok(lock(&shared.state).durable)
    }

    /// Makes the record `seq` and everything before it durable (at least
    /// once it is appended: a seq beyond the newest record waits for the
    /// newest) and returns the durable head; never blocks a runtime worker
    /// on the fdatasync. Unlike [`sync_async`](AuditLog::sync_async) it
    /// does not wait for records appended after `seq`, so a caller that
    /// needs only its own record durable does not miss a group commit
    /// that already covers it because someone appended more meanwhile.
    pub async fn sync_through_async(&self, seq: u64) -> Result<Option<Head>, AuditError> {
        let shared = &self.handle.shared;
        let target = {
            let st = lock(&shared.state);
            if st.closed || shared.is_poisoned() {
                return Err(shared.refusal());
            }
            if st.durable.is_some_and(|h| h.seq >= seq) {
                return Ok(st.durable);
            }
            match st.staged {
                Some(staged) => staged.seq.min(seq),
                None => return Ok(st.durable),
            }
        };
        shared.wait_async(target, Need::Durable).await?;
        Ok(lock(&shared.state).durable)
    }

    /// Deletes whole segments in which every record is older than the
    /// retention period, never the newest segment and never anything
    /// younger; leaves an authenticated anchor so the rest still verifies,
    /// and appends a `SYSTEM` record `retention_pruned`. The segments to be
    /// removed are verified first; a damaged one stops the prune with
    /// [`AuditError::Tampered`] and nothing is deleted.
    ///
    /// Makes everything appended before it durable first; appends wait
    /// (they are staged, not refused) while it runs.
    pub fn prune(&self) -> Result<PruneReport, AuditError> {
        let shared = &self.handle.shared;
        let mut st = lock(&shared.state);
        loop {
            if st.closed || shared.is_poisoned() {
                return Err(shared.refusal());
            }
            if !st.leader {
                break;
            }
            st = shared.wait(st);
        }
        let Some(mut io) = st.io.take() else {
            return Err(shared.refusal());
        };
        st.leader = true;
        let mut guard = LeaderGuard {
            shared,
            armed: true,
        };
        st = shared.commit_held(st, &mut io, true);
        shared.wake_all(&mut st);
        let result = if shared.is_poisoned() {
            Err(shared.poisoned_error())
        } else {
            let newest = st.staged;
            drop(st);
            let result = shared.prune_files(newest);
            st = lock(&shared.state);
            match result {
                Ok((mut report, Some(event))) => {
                    let prepared = [Prepared {
                        event: EncodedEvent::new(&event),
                        durable: true,
                    }];
                    let seq = shared
                        .stage(&mut st, &prepared, None)
                        .first()
                        .map(|r| r.seq);
                    st = shared.commit_held(st, &mut io, true);
                    if shared.is_poisoned() {
                        Err(shared.poisoned_error())
                    } else {
                        report.record_seq = seq;
                        Ok(report)
                    }
                }
                Ok((report, None)) => Ok(report),
                Err(e) => Err(e),
            }
        };
        st.io = Some(io);
        st.leader = false;
        guard.armed = false;
        shared.wake_all(&mut st);
        result
    }

    /// The newest record appended (it has its seq and MAC; it may not be
    /// written or durable yet), or `None` for an empty trail.
    pub fn head(&self) -> Option<Head> {
        lock(&self.handle.shared.state).staged
    }

    /// A checkpoint of the newest *durable* record, to keep elsewhere.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        lock(&self.handle.shared.state).durable.map(Checkpoint::new)
    }

    /// Whether a write or fdatasync failed: the log refuses all appends and
    /// the caller must stop trading.
    pub fn is_poisoned(&self) -> bool {
        self.handle.shared.is_poisoned()
    }

    /// Why the log is poisoned, if it is.
    pub fn poison_reason(&self) -> Option<String> {
        lock(&self.handle.shared.poison).clone()
    }

    /// Commit counters (records written, fdatasyncs, writes).
    pub fn stats(&self) -> AuditStats {
        let s = &self.handle.shared;
        AuditStats {
            records: s.records.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            gathered: s.gathered.load(Ordering::Relaxed),
        }
    }

    /// The trail's directory.
    pub fn dir(&self) -> &Path {
        &self.handle.shared.dir
    }

    /// The configuration in force.
    pub fn config(&self) -> &AuditConfig {
        &self.handle.shared.config
    }

    /// Stops accepting appends, writes and syncs everything already
    /// appended (deferred records included), stops the flusher and releases
    /// the directory lock. Later appends on any clone fail with
    /// [`AuditError::Closed`]. Returns the poison error if the log had
    /// failed.
    pub fn close(&self) -> Result<(), AuditError> {
        self.handle.shutdown();
        if self.is_poisoned() {
            Err(self.handle.shared.poisoned_error())
        } else {
            Ok(())
        }
    }

    #[cfg(test)]
    pub(crate) fn inject_sync_failure(&self) {
        self.handle
            .shared
            .fail_next_sync
            .store(true, Ordering::SeqCst);
    }
}

fn first(receipts: Vec<AppendReceipt>) -> Result<AppendReceipt, AuditError> {
    receipts.into_iter().next().ok_or(AuditError::Closed)
}

/// After a durable wait every record of the batch is durable (prefix).
fn mark_durable(receipts: &mut [AppendReceipt], need: Need) {
    if need == Need::Durable {
        for receipt in receipts.iter_mut() {
            receipt.durable = true;
        }
    }
}

impl Shared {
    /// The file work of [`AuditLog::prune`], run by the leader holding the
    /// segment: returns the report and the `retention_pruned` event to
    /// append if anything was removed.
    fn prune_files(
        &self,
        newest: Option<Head>,
    ) -> Result<(PruneReport, Option<AuditEvent>), AuditError> {
        let now = self.clock.now();
        let reference = newest.map_or(now, |h| h.ts.min(now));
        let cutoff = reference - TimeDelta::days(i64::from(self.config.retention_days));
        let segments = list_segments(&self.dir)?;
        let anchor = read_anchor(&self.dir, &self.key).map_err(|kind| {
            AuditError::Tampered(Box::new(Finding {
                segment: "anchor".to_owned(),
                line: 0,
                seq: None,
                kind,
            }))
        })?;
        let (kept, stale) = skip_pruned(segments, anchor.as_ref());
        let candidates = kept.len().saturating_sub(1);
        let mut state = anchor.map_or(ChainState::new(1, Mac::GENESIS), |a| {
            ChainState::new(a.seq.saturating_add(1), a.mac)
        });
        let mut prunable = Vec::new();
        let mut last = None;
        for segment in kept.iter().take(candidates) {
            let mut reader = LineReader::open(&segment.path)?;
            let before = state.records;
            let mut newest = None;
            loop {
                let line_no = reader.line_no;
                let bad = |seq, kind| {
                    AuditError::Tampered(Box::new(Finding {
                        segment: segment.name(),
                        line: line_no,
                        seq,
                        kind,
                    }))
                };
                match reader.next_line(&segment.path)? {
                    None => break,
                    Some(Line::Complete(line)) => {
                        state.check(&self.key, &line).map_err(|(s, k)| bad(s, k))?;
                        let ts = state.head.map(|h| h.ts);
                        newest = newest.max(ts);
                    }
                    Some(_) => {
                        return Err(bad(
                            None,
                            FindingKind::Malformed("incomplete or over-long line".to_owned()),
                        ));
                    }
                }
            }
            match newest {
                Some(ts) if ts < cutoff => {
                    prunable.push((segment.clone(), state.records - before));
                    last = state.head;
                }
                _ => break,
            }
        }
        let mut report = PruneReport {
            anchor_seq: anchor.map(|a| a.seq),
            ..PruneReport::default()
        };
        if let Some(head) = last {
            write_anchor(
                &self.dir,
                &self.key,
                &Anchor {
                    seq: head.seq,
                    mac: head.mac,
                    ts: head.ts,
                },
            )?;
            report.anchor_seq = Some(head.seq);
        }
        for segment in stale.iter().chain(prunable.iter().map(|(s, _)| s)) {
            fs::remove_file(&segment.path)
                .map_err(|e| AuditError::io("deleting segment", &segment.path, e))?;
        }
        if prunable.is_empty() && stale.is_empty() {
            return Ok((report, None));
        }
        sync_dir(&self.dir)?;
        report.segments_removed = prunable.len();
        report.records_removed = prunable.iter().map(|(_, n)| n).sum();
        let event = AuditEvent::system(
            "retention_pruned",
            json!({
                "segments_removed": report.segments_removed,
                "records_removed": report.records_removed,
                "anchor_seq": report.anchor_seq,
                "retention_days": self.config.retention_days,
            }),
        );
        Ok((report, Some(event)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let log =
            AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(clock)).unwrap();
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
                                .append_async(AuditEvent::order(
                                    "intent",
                                    "s",
                                    json!({"t": t, "i": i}),
                                ))
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
        let log =
            AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(clock)).unwrap();
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
        let log =
            AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(clock)).unwrap();
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
        let err =
            AuditLog::open(&dir, key.clone(), AuditConfig::default(), clock.clone()).unwrap_err();
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
}
