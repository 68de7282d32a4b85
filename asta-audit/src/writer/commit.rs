//! The commit path: staging in the total order, leader/follower group
//! commit (pipelined, gathering), the flusher, and how waiters are woken.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use asta_core::Clock;

use crate::canonical::{EncodedEvent, seal_into};
use crate::config::AuditConfig;
use crate::error::AuditError;
use crate::key::ChainKey;
use crate::record::{AppendReceipt, Head, Mac};
use crate::segment::{RESERVE_STEP, create_segment, reserve, trim};

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The longest a leader waits for more appenders before it syncs.
const MAX_GATHER: Duration = Duration::from_millis(1);
/// The shortest wait a gathering leader allows itself (a sleep overshoots
/// shorter ones anyway).
const MIN_GATHER: Duration = Duration::from_micros(50);

/// What the caller waits for after staging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// Written to the operating system (buffered categories).
    Written,
    /// fdatasync'd.
    Durable,
}

/// Lines for one segment, in order. `rotate_to` starts a new segment (whose
/// first record has that seq) before the bytes are written.
pub(super) struct Chunk {
    pub(super) rotate_to: Option<u64>,
    pub(super) bytes: String,
    pub(super) records: u64,
}

/// The open segment; owned by the state while no commit runs, by the leader
/// while one does.
pub(super) struct Io {
    pub(super) file: File,
    pub(super) path: PathBuf,
    /// Where the segment's data ends: the next line is written here.
    pub(super) end: u64,
    /// The file's length: zeros from `end` to here are reserved space
    /// (see [`crate::segment`]).
    pub(super) reserved: u64,
    /// Written since the last fdatasync.
    pub(super) dirty: bool,
    /// Monotonic time of the last fdatasync (schedules syncs only).
    pub(super) last_sync: Instant,
    /// How long the last fdatasync took (bounds a leader's gathering).
    pub(super) last_sync_took: Duration,
}

pub(super) struct State {
    pub(super) next_seq: u64,
    pub(super) prev: Mac,
    /// The newest record in the total order (staged, maybe not written).
    pub(super) staged: Option<Head>,
    pub(super) chunks: Vec<Chunk>,
    pub(super) pending_records: usize,
    /// Bytes assigned to the newest segment (written and pending).
    pub(super) segment_bytes: u64,
    /// A reusable buffer for sealing one line.
    pub(super) scratch: String,
    /// `None` while a leader commits (it holds the segment) and after close.
    pub(super) io: Option<Io>,
    pub(super) leader: bool,
    pub(super) closed: bool,
    /// The newest record written to the operating system.
    pub(super) written: Option<Head>,
    /// The newest record known to be durable.
    pub(super) durable: Option<Head>,
    /// When the oldest non-durable, non-awaited record must be synced.
    pub(super) deadline: Option<Instant>,
    /// When the flusher will look next on its own (`None`: only when woken).
    pub(super) flusher_wakes_at: Option<Instant>,
    /// Records were scheduled since the flusher last looked.
    pub(super) flusher_busy: bool,
    /// Threads waiting on `changed` (followers, space waiters, flusher).
    pub(super) blocking_waiters: usize,
    /// Appenders waiting for space in the pending buffer.
    pub(super) space_waiters: usize,
    /// The seqs appenders wait to see durable, one per waiting appender
    /// (those covered are dropped after each commit).
    pub(super) waits: Vec<u64>,
    /// How many appenders recent commits found waiting: a gathering leader
    /// waits for this many (see [`Shared::gather`]).
    pub(super) peak_waiters: usize,
    /// While a leader gathers: how many waiting appenders it waits for.
    pub(super) gathering: Option<usize>,
    /// Async appenders waiting for their record, each woken only once it
    /// is covered (or the log fails or closes), never by every commit.
    pub(super) async_waiters: Vec<AsyncWaiter>,
    /// The id the next [`AsyncWaiter`] gets.
    pub(super) next_waiter: u64,
}

/// An async appender waiting for `seq` to be written or durable.
pub(super) struct AsyncWaiter {
    pub(super) id: u64,
    pub(super) seq: u64,
    pub(super) need: Need,
    pub(super) waker: Waker,
}

impl State {
    /// Someone waits for a record that is staged but not yet durable (a
    /// leader on the blocking pool keeps committing until nobody does).
    pub(super) fn durability_owed(&self) -> bool {
        let durable = self.durable.map_or(0, |h| h.seq);
        self.waits.iter().any(|&seq| seq > durable)
    }

    pub(super) fn covered(&self, seq: u64, need: Need) -> bool {
        let head = match need {
            Need::Written => self.written,
            Need::Durable => self.durable,
        };
        head.is_some_and(|h| h.seq >= seq)
    }
}

/// An event redacted and encoded by the caller's thread, ready to stage.
pub(super) struct Prepared {
    pub(super) event: EncodedEvent,
    pub(super) durable: bool,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    /// Blocking followers, space waiters and the flusher wait here.
    pub(super) changed: Condvar,
    /// Async followers and space waiters wait here.
    pub(super) changed_async: tokio::sync::Notify,
    /// Wakes the flusher early.
    pub(super) flusher_wake: Condvar,
    /// Wakes a gathering leader once enough appenders wait.
    pub(super) gather_wake: Condvar,
    pub(super) key: ChainKey,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) config: AuditConfig,
    pub(super) dir: PathBuf,
    pub(super) poisoned: AtomicBool,
    /// Appenders waiting for durability right now (blocking and async).
    pub(super) poison: Mutex<Option<String>>,
    pub(super) records: AtomicU64,
    pub(super) fsyncs: AtomicU64,
    pub(super) batches: AtomicU64,
    pub(super) gathered: AtomicU64,
    #[cfg(test)]
    pub(super) fail_next_sync: AtomicBool,
}

/// Resets the leader flag and poisons the log if a commit unwinds (a bug,
/// not an I/O error): nothing may wait forever for a leader that is gone.
pub(super) struct LeaderGuard<'a> {
    pub(super) shared: &'a Shared,
    pub(super) armed: bool,
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
pub(super) struct CancelGuard<'a> {
    pub(super) shared: &'a Shared,
    pub(super) armed: bool,
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
pub(super) struct Registration<'a> {
    pub(super) shared: &'a Shared,
    pub(super) id: Option<u64>,
}

impl Registration<'_> {
    /// Adds the waiter, or updates its waker if it is still registered.
    pub(super) fn register(&mut self, st: &mut State, seq: u64, need: Need, waker: &Waker) {
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

    pub(super) fn remove(&mut self, st: &mut State) {
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
pub(super) struct SpaceWaiter<'a>(&'a Shared);

impl Drop for SpaceWaiter<'_> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.space_waiters = st.space_waiters.saturating_sub(1);
    }
}

impl Shared {
    pub(super) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub(super) fn poisoned_error(&self) -> AuditError {
        AuditError::Poisoned {
            reason: lock(&self.poison)
                .clone()
                .unwrap_or_else(|| "unknown failure".to_owned()),
        }
    }

    /// The error for a log that accepts nothing more.
    pub(super) fn refusal(&self) -> AuditError {
        if self.is_poisoned() {
            self.poisoned_error()
        } else {
            AuditError::Closed
        }
    }

    /// Marks the log failed for good and drops what was staged but not
    /// written. No further I/O is attempted.
    pub(super) fn poison_locked(&self, st: &mut State, reason: String) {
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
    pub(super) fn wake_all(&self, st: &mut State) {
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
    pub(super) fn wait<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        st.blocking_waiters += 1;
        let mut st = self
            .changed
            .wait(st)
            .unwrap_or_else(PoisonError::into_inner);
        st.blocking_waiters -= 1;
        st
    }

    pub(super) fn fits(&self, st: &State, n: usize) -> bool {
        st.pending_records == 0
            || st.pending_records.saturating_add(n) <= self.config.queue_capacity
    }

    /// Asks the flusher to commit within `delay` from now.
    pub(super) fn schedule_flush(&self, st: &mut State, delay: Duration) {
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
    pub(super) fn stage(
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
            // Half the queue waiting: the flusher writes it now, on its own
            // thread, before an appender finds the queue full and has to
            // write it itself.
            let half_full = st.pending_records.saturating_mul(2) >= self.config.queue_capacity;
            self.schedule_flush(st, if half_full { Duration::ZERO } else { delay });
        }
        receipts
    }

    /// Waits (blocking) until `n` more records fit in the pending buffer,
    /// writing it out itself when no leader is at work.
    pub(super) fn reserve_blocking(&self, n: usize) -> Result<MutexGuard<'_, State>, AuditError> {
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
    pub(super) async fn stage_async(
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
    pub(super) fn wait_for<'a>(
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
    pub(super) async fn wait_async(
        self: &Arc<Self>,
        seq: u64,
        need: Need,
    ) -> Result<(), AuditError> {
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
    pub(super) fn spawn_leader(self: &Arc<Self>, target: Option<(u64, Need)>) {
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
    pub(super) fn lead<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        want_sync: bool,
    ) -> MutexGuard<'a, State> {
        self.lead_with(st, want_sync, false)
    }

    /// [`lead`](Shared::lead); with `gather`, for a commit that someone
    /// waits on to be durable, first [`gather`](Shared::gather)s.
    pub(super) fn lead_with<'a>(
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
    pub(super) fn count_waiter(&self, st: &mut State, seq: u64, need: Need) {
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
    pub(super) fn gather<'a>(
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
    pub(super) fn commit_held<'a>(
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
    pub(super) fn write_out(
        &self,
        io: &mut Io,
        chunks: Vec<Chunk>,
        sync: bool,
    ) -> Result<bool, String> {
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
                if sync && end > io.reserved {
                    // Zeros up to a step past this write: the commit's sync
                    // makes the new length durable once, and the syncs of
                    // the next commits only flush data. A commit that does
                    // not sync (buffered records) just extends the file:
                    // zeros would only cost a second write of its size.
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
                io.reserved = io.reserved.max(end);
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

    pub(super) fn sync_file(&self, io: &mut Io) -> Result<(), String> {
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
    pub(super) fn run_flusher(&self) {
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

    pub(super) fn flusher_sleep<'a>(
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
