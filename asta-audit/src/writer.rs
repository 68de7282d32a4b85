//! The audit log handle and its writer thread (group commit).
//!
//! Appenders (threads or async tasks) redact and encode their event, then
//! put it on a bounded queue; when the queue is full they wait (blocking
//! threads on a condition variable, async tasks on a `Notify`): nothing is
//! ever dropped. One dedicated writer thread takes everything queued (up to
//! `max_batch`), gives each record the next seq and the previous MAC (one
//! total order), writes the batch with one `write` and makes it durable with
//! one `fdatasync` (group commit), then answers every appender. A failed
//! write or fdatasync poisons the log: it is never retried (after a failed
//! fsync the kernel may have dropped the dirty pages), every waiting and
//! later append fails with [`AuditError::Poisoned`].

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use asta_core::Clock;
use chrono::TimeDelta;
use serde_json::json;

use crate::canonical::{EncodedEvent, seal};
use crate::checkpoint::Checkpoint;
use crate::config::{AuditConfig, Durability};
use crate::error::AuditError;
use crate::key::ChainKey;
use crate::record::{AppendReceipt, AuditEvent, Head, Mac};
use crate::recover::open_trail;
use crate::retention::{Anchor, PruneReport, read_anchor, skip_pruned, write_anchor};
use crate::segment::{
    Line, LineReader, create_segment, ensure_private_dir, list_segments, lock_dir, sync_dir,
};
use crate::verify::{ChainState, Finding, FindingKind};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counters of the writer, for monitoring and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AuditStats {
    /// Records written since open.
    pub records: u64,
    /// fdatasync calls since open.
    pub fsyncs: u64,
    /// Batches written (each one `write`).
    pub batches: u64,
}

type ReplyResult = Result<Response, AuditError>;

enum Response {
    Appended(AppendReceipt),
    Synced(Option<Head>),
    Pruned(PruneReport),
}

enum Reply {
    Blocking(std::sync::mpsc::SyncSender<ReplyResult>),
    Async(tokio::sync::oneshot::Sender<ReplyResult>),
    /// Nobody waits (the tracing layer).
    Detached,
}

impl Reply {
    fn send(self, result: ReplyResult) {
        // A dropped receiver (a cancelled async append) is not an error: the
        // record is written either way.
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
            Reply::Detached => {}
        }
    }
}

enum Work {
    Append { event: EncodedEvent, durable: bool },
    Sync,
    Prune,
}

struct Request {
    work: Work,
    reply: Reply,
}

struct QueueState {
    items: VecDeque<Request>,
    closed: bool,
}

struct Status {
    poison: Mutex<Option<String>>,
    poisoned: AtomicBool,
    head: Mutex<Option<Head>>,
    durable_head: Mutex<Option<Head>>,
    records: AtomicU64,
    fsyncs: AtomicU64,
    batches: AtomicU64,
    #[cfg(test)]
    fail_next_sync: AtomicBool,
}

impl Status {
    fn poisoned_error(&self) -> AuditError {
        AuditError::Poisoned {
            reason: lock(&self.poison)
                .clone()
                .unwrap_or_else(|| "unknown failure".to_owned()),
        }
    }
}

struct Core {
    queue: Mutex<QueueState>,
    not_empty: Condvar,
    not_full: Condvar,
    space: tokio::sync::Notify,
    capacity: usize,
    status: Status,
}

enum Push {
    Done,
    Full(Request),
}

impl Core {
    fn try_push(&self, request: Request) -> Result<Push, AuditError> {
        let mut q = lock(&self.queue);
        if q.closed {
            drop(q);
            return Err(self.closed_error());
        }
        if q.items.len() >= self.capacity {
            return Ok(Push::Full(request));
        }
        q.items.push_back(request);
        drop(q);
        self.not_empty.notify_one();
        Ok(Push::Done)
    }

    fn push_blocking(&self, request: Request) -> Result<(), AuditError> {
        let mut q = lock(&self.queue);
        while q.items.len() >= self.capacity && !q.closed {
            q = self
                .not_full
                .wait(q)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if q.closed {
            drop(q);
            return Err(self.closed_error());
        }
        q.items.push_back(request);
        drop(q);
        self.not_empty.notify_one();
        Ok(())
    }

    async fn push_async(&self, mut request: Request) -> Result<(), AuditError> {
        loop {
            let mut notified = std::pin::pin!(self.space.notified());
            notified.as_mut().enable();
            match self.try_push(request)? {
                Push::Done => return Ok(()),
                Push::Full(back) => request = back,
            }
            notified.await;
        }
    }

    fn closed_error(&self) -> AuditError {
        if self.status.poisoned.load(Ordering::Acquire) {
            self.status.poisoned_error()
        } else {
            AuditError::Closed
        }
    }

    fn set_poisoned(&self, reason: String) {
        tracing::error!(target: "asta_audit", reason = %reason, "audit log poisoned; refusing all appends");
        let mut poison = lock(&self.status.poison);
        if poison.is_none() {
            *poison = Some(reason);
        }
        drop(poison);
        self.status.poisoned.store(true, Ordering::Release);
    }

    /// Closes the queue and answers everything still queued with the poison error.
    fn fail_queued(&self) {
        let queued: Vec<Request> = {
            let mut q = lock(&self.queue);
            q.closed = true;
            q.items.drain(..).collect()
        };
        for request in queued {
            request.reply.send(Err(self.status.poisoned_error()));
        }
        self.not_empty.notify_all();
        self.not_full.notify_all();
        self.space.notify_waiters();
    }

    fn close(&self) {
        lock(&self.queue).closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
        self.space.notify_waiters();
    }
}

struct Handle {
    core: Arc<Core>,
    thread: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
    config: AuditConfig,
}

impl Handle {
    fn shutdown(&self) {
        self.core.close();
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!(target: "asta_audit", "audit writer thread panicked");
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A durable, tamper-evident audit trail open for appending.
///
/// Cheap to clone (`Arc` inside); all clones share one writer thread, which
/// stops (after writing and syncing everything queued) when the last clone
/// is dropped or [`close`](AuditLog::close) is called. Only one `AuditLog`
/// may have a directory open at a time (an exclusive `flock` on `LOCK`).
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
/// let checkpoint = log.checkpoint().expect("one durable record");
/// log.close()?;
/// let verified = verify(&dir, &key, Some(&checkpoint))?.into_result()?;
/// assert_eq!(verified.records, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AuditLog {
    handle: Arc<Handle>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.handle.dir)
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
        let core = Arc::new(Core {
            queue: Mutex::new(QueueState {
                items: VecDeque::new(),
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            space: tokio::sync::Notify::new(),
            capacity: config.queue_capacity,
            status: Status {
                poison: Mutex::new(None),
                poisoned: AtomicBool::new(false),
                head: Mutex::new(opened.head),
                durable_head: Mutex::new(opened.head),
                records: AtomicU64::new(0),
                fsyncs: AtomicU64::new(0),
                batches: AtomicU64::new(0),
                #[cfg(test)]
                fail_next_sync: AtomicBool::new(false),
            },
        });
        let cut = opened.cut.clone();
        let mut writer = Writer {
            core: Arc::clone(&core),
            key,
            clock,
            config: config.clone(),
            dir: dir.clone(),
            file: opened.file,
            path: opened.path,
            size: opened.size,
            next_seq: opened.next_seq,
            prev: opened.prev,
            head: opened.head,
            staged: String::new(),
            staged_sync: false,
            waiting: Vec::new(),
            dirty: false,
            last_sync: Instant::now(),
            _lock: lock_file,
        };
        if let Some(cut) = cut {
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
            writer.append_internal(&event)?;
            if writer.core.status.poisoned.load(Ordering::Acquire) {
                return Err(writer.core.status.poisoned_error());
            }
        }
        let thread = std::thread::Builder::new()
            .name("asta-audit-writer".to_owned())
            .spawn(move || {
                let core = Arc::clone(&writer.core);
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer.run()));
                if run.is_err() {
                    // A bug, not an I/O error; still, nothing may wait forever.
                    core.set_poisoned("the audit writer thread panicked".to_owned());
                    core.fail_queued();
                }
            })
            .map_err(|e| AuditError::io("starting the writer thread for", &dir, e))?;
        Ok(AuditLog {
            handle: Arc::new(Handle {
                core,
                thread: Mutex::new(Some(thread)),
                dir,
                config,
            }),
        })
    }

    fn prepare(&self, event: AuditEvent) -> Result<Work, AuditError> {
        let status = &self.handle.core.status;
        if status.poisoned.load(Ordering::Acquire) {
            return Err(status.poisoned_error());
        }
        let event = event.redacted();
        let durable = self.handle.config.durability(event.category) == Durability::Durable;
        let encoded = EncodedEvent::new(&event);
        let size = encoded.line_len();
        let max = self.handle.config.max_record_bytes;
        if size > max {
            return Err(AuditError::RecordTooLarge { size, max });
        }
        Ok(Work::Append {
            event: encoded,
            durable,
        })
    }

    fn request_blocking(&self, work: Work) -> ReplyResult {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.core.push_blocking(Request {
            work,
            reply: Reply::Blocking(tx),
        })?;
        rx.recv()
            .unwrap_or_else(|_| Err(self.handle.core.closed_error()))
    }

    async fn request_async(&self, work: Work) -> ReplyResult {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.handle
            .core
            .push_async(Request {
                work,
                reply: Reply::Async(tx),
            })
            .await?;
        rx.await
            .unwrap_or_else(|_| Err(self.handle.core.closed_error()))
    }

    /// Appends `event` (after redaction) and returns once it is durable
    /// (fdatasync'd) — or, for a category configured
    /// [`Durability::Buffered`], once it is written to the operating system.
    ///
    /// Blocks the calling thread, including while the queue is full. From
    /// async code use [`append_async`](AuditLog::append_async).
    ///
    /// An error means the record may not be on disk; if the log is poisoned
    /// ([`AuditError::is_poisoned`]) stop trading.
    pub fn append(&self, event: AuditEvent) -> Result<AppendReceipt, AuditError> {
        let work = self.prepare(event)?;
        match self.request_blocking(work)? {
            Response::Appended(receipt) => Ok(receipt),
            _ => Err(AuditError::Closed),
        }
    }

    /// Like [`append`](AuditLog::append), without blocking an async
    /// runtime's worker: waits for queue space and for the fdatasync
    /// asynchronously. If the future is dropped after the event was queued,
    /// the record is still written.
    pub async fn append_async(&self, event: AuditEvent) -> Result<AppendReceipt, AuditError> {
        let work = self.prepare(event)?;
        match self.request_async(work).await? {
            Response::Appended(receipt) => Ok(receipt),
            _ => Err(AuditError::Closed),
        }
    }

    /// Queues `event` without waiting for it to be written (blocks only
    /// while the queue is full). Used by the tracing layer.
    pub(crate) fn submit(&self, event: AuditEvent) -> Result<(), AuditError> {
        let work = self.prepare(event)?;
        self.handle.core.push_blocking(Request {
            work,
            reply: Reply::Detached,
        })
    }

    /// Makes everything appended so far durable (useful with buffered
    /// categories) and returns the durable head.
    pub fn sync(&self) -> Result<Option<Head>, AuditError> {
        match self.request_blocking(Work::Sync)? {
            Response::Synced(head) => Ok(head),
            _ => Err(AuditError::Closed),
        }
    }

    /// Async form of [`sync`](AuditLog::sync).
    pub async fn sync_async(&self) -> Result<Option<Head>, AuditError> {
        match self.request_async(Work::Sync).await? {
            Response::Synced(head) => Ok(head),
            _ => Err(AuditError::Closed),
        }
    }

    /// Deletes whole segments in which every record is older than the
    /// retention period, never the newest segment and never anything
    /// younger; leaves an authenticated anchor so the rest still verifies,
    /// and appends a `SYSTEM` record `retention_pruned`. The segments to be
    /// removed are verified first; a damaged one stops the prune with
    /// [`AuditError::Tampered`] and nothing is deleted.
    pub fn prune(&self) -> Result<PruneReport, AuditError> {
        match self.request_blocking(Work::Prune)? {
            Response::Pruned(report) => Ok(report),
            _ => Err(AuditError::Closed),
        }
    }

    /// The newest record written (possibly not yet durable for buffered
    /// categories), or `None` for an empty trail.
    pub fn head(&self) -> Option<Head> {
        *lock(&self.handle.core.status.head)
    }

    /// A checkpoint of the newest *durable* record, to keep elsewhere.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        lock(&self.handle.core.status.durable_head).map(Checkpoint::new)
    }

    /// Whether a write or fdatasync failed: the log refuses all appends and
    /// the caller must stop trading.
    pub fn is_poisoned(&self) -> bool {
        self.handle.core.status.poisoned.load(Ordering::Acquire)
    }

    /// Why the log is poisoned, if it is.
    pub fn poison_reason(&self) -> Option<String> {
        lock(&self.handle.core.status.poison).clone()
    }

    /// Writer counters (records, fdatasyncs, batches).
    pub fn stats(&self) -> AuditStats {
        let s = &self.handle.core.status;
        AuditStats {
            records: s.records.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
        }
    }

    /// The trail's directory.
    pub fn dir(&self) -> &Path {
        &self.handle.dir
    }

    /// The configuration in force.
    pub fn config(&self) -> &AuditConfig {
        &self.handle.config
    }

    /// Stops accepting appends, writes and syncs everything already queued,
    /// stops the writer thread and releases the directory lock. Later
    /// appends on any clone fail with [`AuditError::Closed`]. Returns the
    /// poison error if the log had failed.
    pub fn close(&self) -> Result<(), AuditError> {
        self.handle.shutdown();
        if self.is_poisoned() {
            Err(self.handle.core.status.poisoned_error())
        } else {
            Ok(())
        }
    }

    #[cfg(test)]
    pub(crate) fn inject_sync_failure(&self) {
        self.handle
            .core
            .status
            .fail_next_sync
            .store(true, Ordering::SeqCst);
    }
}

struct Writer {
    core: Arc<Core>,
    key: ChainKey,
    clock: Arc<dyn Clock>,
    config: AuditConfig,
    dir: PathBuf,
    file: File,
    path: PathBuf,
    size: u64,
    next_seq: u64,
    prev: Mac,
    head: Option<Head>,
    staged: String,
    staged_sync: bool,
    waiting: Vec<(Reply, Response)>,
    dirty: bool,
    /// When the last fdatasync happened (monotonic; only schedules syncs of
    /// buffered records, never stamps a record).
    last_sync: Instant,
    _lock: File,
}

/// An I/O failure on the write path: the log must be poisoned.
struct Fatal(String);

impl Writer {
    fn run(mut self) {
        loop {
            let (batch, closed) = self.next_batch();
            if batch.is_empty() {
                if self.dirty
                    && let Err(Fatal(reason)) = self.sync_now()
                {
                    self.poison(reason);
                    return;
                }
                if closed {
                    return;
                }
                continue;
            }
            let mut result = Ok(());
            let mut requests = batch.into_iter();
            for request in requests.by_ref() {
                result = self.handle(request);
                if result.is_err() {
                    break;
                }
            }
            if result.is_ok() {
                result = self.commit();
            }
            if let Err(Fatal(reason)) = result {
                self.poison(reason);
                for request in requests {
                    request.reply.send(Err(self.core.status.poisoned_error()));
                }
                return;
            }
        }
    }

    fn next_batch(&self) -> (Vec<Request>, bool) {
        let mut q = lock(&self.core.queue);
        loop {
            if !q.items.is_empty() {
                let n = q.items.len().min(self.config.max_batch);
                let batch: Vec<Request> = q.items.drain(..n).collect();
                let closed = q.closed;
                drop(q);
                self.core.not_full.notify_all();
                self.core.space.notify_waiters();
                return (batch, closed);
            }
            if q.closed {
                return (Vec::new(), true);
            }
            if self.dirty {
                let (guard, timeout) = self
                    .core
                    .not_empty
                    .wait_timeout(q, self.config.buffered_flush_interval)
                    .unwrap_or_else(PoisonError::into_inner);
                q = guard;
                if timeout.timed_out() && q.items.is_empty() {
                    return (Vec::new(), q.closed);
                }
            } else {
                q = self
                    .core
                    .not_empty
                    .wait(q)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    fn handle(&mut self, request: Request) -> Result<(), Fatal> {
        match request.work {
            Work::Append { event, durable } => {
                let receipt = self.stage(&event, durable)?;
                self.waiting
                    .push((request.reply, Response::Appended(receipt)));
            }
            Work::Sync => {
                self.staged_sync = true;
                self.waiting.push((request.reply, Response::Synced(None)));
            }
            Work::Prune => {
                self.staged_sync = true;
                self.commit()?;
                let result = self.prune();
                match result {
                    Ok(report) => request.reply.send(Ok(Response::Pruned(report))),
                    Err(PruneError::Fatal(fatal)) => return Err(fatal),
                    Err(PruneError::Refused(e)) => request.reply.send(Err(e)),
                }
            }
        }
        Ok(())
    }

    /// Gives the event its seq and link and stages its line.
    fn stage(&mut self, event: &EncodedEvent, durable: bool) -> Result<AppendReceipt, Fatal> {
        let seq = self.next_seq;
        let ts = self.clock.now();
        let (line, mac) = seal(&self.key, seq, ts, event, &self.prev);
        let used = self.size + self.staged.len() as u64;
        if used > 0 && used + line.len() as u64 > self.config.max_segment_bytes {
            self.rotate(seq)?;
        }
        self.staged.push_str(&line);
        self.prev = mac;
        self.next_seq = seq.saturating_add(1);
        self.head = Some(Head { seq, mac, ts });
        if durable {
            self.staged_sync = true;
        }
        Ok(AppendReceipt {
            seq,
            mac,
            ts,
            durable,
        })
    }

    fn write_staged(&mut self) -> Result<(), Fatal> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.staged);
        self.file
            .write_all(bytes.as_bytes())
            .map_err(|e| Fatal(format!("write to {} failed: {e}", self.path.display())))?;
        self.size += bytes.len() as u64;
        self.dirty = true;
        let records = bytes.bytes().filter(|&b| b == b'\n').count() as u64;
        self.core
            .status
            .records
            .fetch_add(records, Ordering::Relaxed);
        self.core.status.batches.fetch_add(1, Ordering::Relaxed);
        *lock(&self.core.status.head) = self.head;
        Ok(())
    }

    fn sync_now(&mut self) -> Result<(), Fatal> {
        #[cfg(test)]
        if self
            .core
            .status
            .fail_next_sync
            .swap(false, Ordering::SeqCst)
        {
            return Err(Fatal(format!(
                "fdatasync of {} failed: injected failure",
                self.path.display()
            )));
        }
        self.file
            .sync_data()
            .map_err(|e| Fatal(format!("fdatasync of {} failed: {e}", self.path.display())))?;
        self.core.status.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.dirty = false;
        self.last_sync = Instant::now();
        *lock(&self.core.status.durable_head) = self.head;
        Ok(())
    }

    /// Writes the staged lines, syncs if any staged append is durable (or a
    /// sync was asked for), then answers everyone waiting.
    fn commit(&mut self) -> Result<(), Fatal> {
        self.write_staged()?;
        // Buffered records under constant load are still synced at least
        // once per flush interval.
        let due = self.last_sync.elapsed() >= self.config.buffered_flush_interval;
        if self.dirty && (self.staged_sync || due) {
            self.sync_now()?;
        }
        self.staged_sync = false;
        let durable_head = *lock(&self.core.status.durable_head);
        for (reply, response) in self.waiting.drain(..) {
            let response = match response {
                Response::Synced(_) => Response::Synced(durable_head),
                other => other,
            };
            reply.send(Ok(response));
        }
        Ok(())
    }

    /// Finishes the current segment durably and starts a new one at `seq`.
    fn rotate(&mut self, seq: u64) -> Result<(), Fatal> {
        self.write_staged()?;
        if self.dirty {
            self.sync_now()?;
        }
        let (file, path) =
            create_segment(&self.dir, seq).map_err(|e| Fatal(format!("rotation failed: {e}")))?;
        self.file = file;
        self.path = path;
        self.size = 0;
        Ok(())
    }

    /// Appends one record durably from inside the writer.
    fn append_internal(&mut self, event: &AuditEvent) -> Result<u64, AuditError> {
        let encoded = EncodedEvent::new(&event.clone().redacted());
        let result = self
            .stage(&encoded, true)
            .and_then(|receipt| self.commit().map(|()| receipt.seq));
        match result {
            Ok(seq) => Ok(seq),
            Err(Fatal(reason)) => {
                self.poison(reason);
                Err(self.core.status.poisoned_error())
            }
        }
    }

    fn prune(&mut self) -> Result<PruneReport, PruneError> {
        let refused = PruneError::Refused;
        let now = self.clock.now();
        let reference = self.head.map_or(now, |h| h.ts.min(now));
        let cutoff = reference - TimeDelta::days(i64::from(self.config.retention_days));
        let segments = list_segments(&self.dir).map_err(refused)?;
        let anchor = read_anchor(&self.dir, &self.key).map_err(|kind| {
            refused(AuditError::Tampered(Box::new(Finding {
                segment: "anchor".to_owned(),
                line: 0,
                seq: None,
                kind,
            })))
        })?;
        let (kept, stale) = skip_pruned(segments, anchor.as_ref());
        let candidates = kept.len().saturating_sub(1);
        let mut state = anchor.map_or(ChainState::new(1, Mac::GENESIS), |a| {
            ChainState::new(a.seq.saturating_add(1), a.mac)
        });
        let mut prunable = Vec::new();
        let mut last = None;
        for segment in kept.iter().take(candidates) {
            let mut reader = LineReader::open(&segment.path).map_err(refused)?;
            let before = state.records;
            let mut newest = None;
            loop {
                let line_no = reader.line_no;
                let bad = |seq, kind| {
                    refused(AuditError::Tampered(Box::new(Finding {
                        segment: segment.name(),
                        line: line_no,
                        seq,
                        kind,
                    })))
                };
                match reader.next_line(&segment.path).map_err(refused)? {
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
            )
            .map_err(refused)?;
            report.anchor_seq = Some(head.seq);
        }
        for segment in stale.iter().chain(prunable.iter().map(|(s, _)| s)) {
            fs::remove_file(&segment.path)
                .map_err(|e| refused(AuditError::io("deleting segment", &segment.path, e)))?;
        }
        if prunable.is_empty() && stale.is_empty() {
            return Ok(report);
        }
        sync_dir(&self.dir).map_err(refused)?;
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
        let encoded = EncodedEvent::new(&event);
        let receipt = self.stage(&encoded, true).map_err(PruneError::Fatal)?;
        self.commit().map_err(PruneError::Fatal)?;
        report.record_seq = Some(receipt.seq);
        Ok(report)
    }

    /// Marks the log failed and answers every waiting and queued request
    /// with the error. No further I/O is attempted.
    fn poison(&mut self, reason: String) {
        self.staged.clear();
        self.core.set_poisoned(reason);
        for (reply, _) in self.waiting.drain(..) {
            reply.send(Err(self.core.status.poisoned_error()));
        }
        self.core.fail_queued();
    }
}

enum PruneError {
    /// The prune cannot go on but the log is fine.
    Refused(AuditError),
    /// The write path failed: poison.
    Fatal(Fatal),
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
