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
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use asta_core::Clock;
use serde_json::json;

use crate::canonical::EncodedEvent;
use crate::checkpoint::Checkpoint;
use crate::config::{AuditConfig, Durability};
use crate::error::AuditError;
use crate::key::ChainKey;
use crate::record::{AppendReceipt, AuditEvent, Head};
use crate::recover::open_trail;
use crate::retention::PruneReport;
use crate::segment::{ensure_private_dir, lock_dir, trim};

mod commit;
mod prune;
#[cfg(test)]
mod tests;

use commit::{CancelGuard, Io, LeaderGuard, Need, Prepared, Shared, State, lock};

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
