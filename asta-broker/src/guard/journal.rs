//! The risk engine's inputs and events into the trail, in the engine's own
//! order, and the snapshots that shorten a restore (see
//! [`crate::risk_log`]).

use super::*;

/// Input kinds whose recorded fields are all typed values (orders, prices,
/// ids, tickets): their records skip the audit trail's pattern scan. Every
/// other kind may carry free text (a halt reason, a broker message) and is
/// scanned.
const TYPED_INPUTS: [&str; 10] = [
    "START",
    "CHECK_ORDER",
    "CHECK_BATCH",
    "CHECK_MODIFY",
    "CHECK_CANCEL",
    "UPDATE_QUOTE",
    "RECORD_FILL",
    "ORDER_OPENED",
    "RELEASE_APPROVAL",
    "ORDER_CLOSED",
];

/// The details field of a step's record that holds its typed risk events.
const EVENTS_FIELD: &str = "risk_events";

/// Risk event kinds that hold only typed values.
fn typed_event(event: &RiskEvent) -> bool {
    matches!(
        event.kind,
        RiskEventKind::OrderApproved { .. }
            | RiskEventKind::BatchApproved { .. }
            | RiskEventKind::ModifyApproved { .. }
            | RiskEventKind::CancelAllowed { .. }
            | RiskEventKind::FillRecorded { .. }
    )
}

/// When the guard saves a snapshot, and what it has not saved yet.
#[derive(Debug)]
pub(crate) struct SnapshotPlan {
    pub(crate) store: Arc<dyn SnapshotStore>,
    pub(crate) entries_since: u64,
    pub(crate) last: DateTime<Utc>,
    /// A snapshot taken under the engine's lock, not encoded and saved yet.
    pub(crate) pending: Option<RiskSnapshot>,
    /// Take a snapshot at the next step whatever the counters say (right
    /// after a restore, so that a replay's outcome, such as a divergence
    /// halt, is not replayed again at every start).
    pub(crate) force_next: bool,
    /// A background save task exists and will look at `pending` again
    /// before it ends: no second task is spawned.
    pub(crate) save_scheduled: bool,
}

impl<B: Broker> Guard<B> {
    /// Runs `f` on the engine; then, under the same lock, appends what it
    /// produced to the trail without waiting: a record per risk event and
    /// the journal entries in their own `risk_journal` record. Callers pass
    /// the events to [`audit_events`](Self::audit_events) next (alerts, and
    /// a halt if staging failed).
    pub(crate) fn risk_call<R>(&self, f: impl FnOnce(&mut RiskEngine) -> R) -> (R, Vec<RiskEvent>) {
        self.risk_step(f, |_| None)
    }

    /// [`risk_call`](Self::risk_call) whose journal entries ride in the
    /// record `carrier` builds from the result (the order's intent), which
    /// is appended last.
    pub(crate) fn risk_step<R>(
        &self,
        f: impl FnOnce(&mut RiskEngine) -> R,
        carrier: impl FnOnce(&R) -> Option<AuditEvent>,
    ) -> (R, Vec<RiskEvent>) {
        self.risk_step_many(f, |result| carrier(result).into_iter().collect())
    }

    /// [`risk_step`](Self::risk_step) with several carried records (a
    /// basket's intents): the journal entries and the typed events ride in
    /// the first, all are appended last, in order.
    pub(crate) fn risk_step_many<R>(
        &self,
        f: impl FnOnce(&mut RiskEngine) -> R,
        carrier: impl FnOnce(&R) -> Vec<AuditEvent>,
    ) -> (R, Vec<RiskEvent>) {
        let (result, events, _) = self.risk_step_staged(f, carrier);
        (result, events)
    }

    /// [`risk_step_many`](Self::risk_step_many) that also returns the seq
    /// of the last record it appended (the carrier: an order's intent), so
    /// that the caller waits for exactly that record to be durable
    /// ([`make_durable_through`](Self::make_durable_through)) and not for
    /// records other tasks appended after it.
    pub(crate) fn risk_step_staged<R>(
        &self,
        f: impl FnOnce(&mut RiskEngine) -> R,
        carrier: impl FnOnce(&R) -> Vec<AuditEvent>,
    ) -> (R, Vec<RiskEvent>, Option<u64>) {
        let mut risk = self.lock_risk();
        let result = f(&mut risk);
        let events = risk.drain_events();
        let entries = risk.drain_journal();
        let mut carried = carrier(&result).into_iter();
        let first = carried.next();
        let mut records = step_records(first, &events, &entries);
        records.extend(carried);
        let count = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        self.snapshot_due(&mut risk, count);
        let staged = if records.is_empty() {
            Ok(None)
        } else {
            self.audit
                .append_batch(records, Wait::Deferred)
                .map(|receipts| receipts.last().map(|r| r.seq))
        };
        drop(risk);
        let last = match staged {
            Ok(last) => last,
            Err(error) => {
                *self
                    .staging_failure
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(error);
                None
            }
        };
        (result, events, last)
    }

    /// Under the engine's lock: when `count` more entries make a snapshot
    /// due, takes it (a copy of the state, nothing more on the order path)
    /// for [`flush_snapshot`](Self::flush_snapshot) to encode, confirm and
    /// save.
    fn snapshot_due(&self, risk: &mut RiskEngine, count: u64) {
        let Some(plan) = self.snapshots.as_ref() else {
            return;
        };
        let mut plan = plan.lock().unwrap_or_else(PoisonError::into_inner);
        plan.entries_since = plan.entries_since.saturating_add(count);
        let now = self.clock.now();
        let every = i64::try_from(self.config.snapshot_every_secs).unwrap_or(i64::MAX);
        let due = plan.force_next
            || plan.entries_since >= self.config.snapshot_every_entries
            || (plan.entries_since > 0 && (now - plan.last).num_seconds() >= every);
        if !due {
            return;
        }
        plan.entries_since = 0;
        plan.force_next = false;
        plan.last = now;
        plan.pending = Some(risk.snapshot());
    }

    /// Starts saving a snapshot taken by [`risk_step`](Self::risk_step)
    /// ([`save_snapshot`]: encode, confirm in the trail, save) in a
    /// background task: no order waits for it, and only the copy of the
    /// state was taken under the engine's lock. Outside a tokio runtime it
    /// runs inline. [`wait_for_snapshots`](Self::wait_for_snapshots) and
    /// [`close`](Self::close) wait for it.
    pub(crate) async fn flush_snapshot(&self) {
        let Some(plan) = self.snapshots.as_ref() else {
            return;
        };
        {
            let mut plan = plan.lock().unwrap_or_else(PoisonError::into_inner);
            if plan.pending.is_none() || plan.save_scheduled {
                return;
            }
            plan.save_scheduled = true;
        }
        // Boxed: the save is rare, and inline its future would size every
        // order's future.
        let job = Box::pin(save_scheduled(
            Arc::clone(plan),
            self.audit.clone(),
            Arc::clone(&self.snapshot_saving),
        ));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(job)),
            Err(_) => job.await,
        }
    }

    /// Waits until every risk snapshot taken so far is confirmed in the
    /// trail and saved by its store (snapshots are saved in the background,
    /// off the order path). [`close`](Self::close) does this too; a guard
    /// that keeps its risk state in its own store returns at once.
    pub async fn wait_for_snapshots(&self) {
        if let Some(plan) = self.snapshots.as_ref() {
            let _one_at_a_time = self.snapshot_saving.lock().await;
            if let Some((snapshot, store)) = take_pending(plan) {
                save_snapshot(snapshot, store, self.audit.clone()).await;
            }
        }
    }

    /// Ends the session cleanly: takes and saves a final snapshot (when the
    /// guard keeps its risk state in the trail), records `guard_stopped`,
    /// and makes the trail durable. The guard still works afterwards; call
    /// it once, when the process stops.
    pub async fn close(&self) -> Result<(), AuditError> {
        if let Some(plan) = &self.snapshots {
            plan.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .force_next = true;
        }
        // One step like any other: what the engine still holds (events,
        // journal entries) rides with `guard_stopped`, then the snapshot.
        let (_, events) = self.risk_step(
            |risk| risk.trading_state(),
            |state| {
                Some(AuditEvent::system(
                    "guard_stopped",
                    json!({"trading_state": state.to_string()}),
                ))
            },
        );
        if let Some(error) = self.take_staging_failure() {
            log_unaudited(events);
            return Err(error);
        }
        // The final snapshot, after any still being saved in the background.
        self.wait_for_snapshots().await;
        self.audit.sync_async().await?;
        Ok(())
    }
}

/// The pending snapshot and its store, taken out of the plan.
fn take_pending(plan: &Mutex<SnapshotPlan>) -> Option<(RiskSnapshot, Arc<dyn SnapshotStore>)> {
    let mut plan = plan.lock().unwrap_or_else(PoisonError::into_inner);
    plan.pending
        .take()
        .map(|snapshot| (snapshot, Arc::clone(&plan.store)))
}

/// The background save task (at most one is scheduled at a time): saves
/// the newest snapshot taken and not yet saved until there is none, one
/// save at a time. Snapshots taken while one is being saved wait; when
/// several were taken meanwhile only the newest is saved, so the saved ones
/// always go forward in the trail and memory holds at most two.
async fn save_scheduled(
    plan: Arc<Mutex<SnapshotPlan>>,
    audit: AuditLog,
    saving: Arc<tokio::sync::Mutex<()>>,
) {
    loop {
        let _one_at_a_time = saving.lock().await;
        let taken = {
            let mut guard = plan.lock().unwrap_or_else(PoisonError::into_inner);
            let taken = guard
                .pending
                .take()
                .map(|snapshot| (snapshot, Arc::clone(&guard.store)));
            if taken.is_none() {
                guard.save_scheduled = false;
            }
            taken
        };
        let Some((snapshot, store)) = taken else {
            return;
        };
        save_snapshot(snapshot, store, audit.clone()).await;
    }
}

/// Encodes `snapshot` and takes its digest (off the runtime's workers),
/// records the `risk_snapshot` record that confirms it (covered journal
/// seq, digest, size), then saves it.
///
/// The confirmation is appended before the file is replaced, as the trail
/// is the authority: a crash in between leaves the previous file, whose
/// digest an earlier record confirmed, or an unconfirmed file that a
/// restore does not trust (it replays the trail instead). A failure is
/// logged: the trail still holds every entry, so it costs only a longer
/// replay at the next start.
async fn save_snapshot(snapshot: RiskSnapshot, store: Arc<dyn SnapshotStore>, audit: AuditLog) {
    let covers = snapshot.covers_seq();
    let encoded = tokio::task::spawn_blocking(move || {
        snapshot.to_bytes().map(|bytes| {
            let digest = RiskSnapshot::digest_of(&bytes);
            (bytes, digest)
        })
    })
    .await;
    let (bytes, digest) = match encoded {
        Ok(Ok(encoded)) => encoded,
        Ok(Err(error)) => {
            tracing::error!(target: "asta_broker::guard", %error, "risk snapshot could not be encoded; the trail still holds every entry");
            return;
        }
        Err(error) => {
            tracing::warn!(target: "asta_broker::guard", %error, "risk snapshot task failed");
            return;
        }
    };
    let confirm = AuditEvent::system(
        SNAPSHOT_ACTION,
        json!({"covers_seq": covers, "digest": digest, "bytes": bytes.len()}),
    )
    .typed_unchecked();
    if let Err(error) = audit.append_deferred_async(confirm).await {
        tracing::warn!(target: "asta_broker::guard", %error, "risk snapshot not confirmed in the trail; not saved");
        return;
    }
    let saved = tokio::task::spawn_blocking(move || store.save(&bytes)).await;
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(target: "asta_broker::guard", %error, "risk snapshot not saved; the next start replays more of the trail");
        }
        Err(error) => {
            tracing::warn!(target: "asta_broker::guard", %error, "risk snapshot task failed");
        }
    }
}

/// The records of one engine step, in order: a record of its own for each
/// event that does not ride in the carrier, then the carrier `first` (or a
/// `risk_journal` record) holding the folded typed events and the journal
/// entries.
pub(super) fn step_records(
    first: Option<AuditEvent>,
    events: &[RiskEvent],
    entries: &[asta_risk::JournalEntry],
) -> Vec<AuditEvent> {
    // With a carrier, the typed events (approvals, fills) ride in it: one
    // record per step instead of one per event. Events that may hold
    // free text (halts, breaker trips) stay records of their own, scanned.
    let mut records = Vec::with_capacity(events.len() + 2);
    let mut folded = Vec::new();
    let fill_entry = entries
        .iter()
        .any(|entry| entry.input().kind() == "RECORD_FILL");
    for event in events {
        if first.is_some() && typed_event(event) {
            if !entries.is_empty() && matches!(event.kind, RiskEventKind::OrderApproved { .. }) {
                // The journal's CHECK_ORDER entry holds the same facts
                // (order, ticket, notional, outcome).
                continue;
            }
            if fill_entry && matches!(event.kind, RiskEventKind::FillRecorded { .. }) {
                // The journal's RECORD_FILL entry holds the fill (and the
                // carrier, a `TRADE fill` record, its fields once more);
                // the event adds only the realized P&L, which a replay of
                // the journal computes again.
                continue;
            }
            folded.push(event);
        } else {
            let record = risk_event_record(event);
            records.push(if typed_event(event) {
                record.typed_unchecked()
            } else {
                record
            });
        }
    }
    if !entries.is_empty() || first.is_some() {
        let typed = entries
            .iter()
            .all(|entry| TYPED_INPUTS.contains(&entry.input().kind()));
        let mut record =
            first.unwrap_or_else(|| AuditEvent::new(Category::Risk, "risk_journal", Value::Null));
        // When every entry is typed, events and entries are encoded
        // straight to the trail's bytes (the same bytes as through
        // `serde_json::Value`, names-only redaction). An entry that may
        // hold free text (a halt's reason) keeps the whole field on the
        // `Value` path and the record is pattern-scanned, whatever its
        // carrier (the carriers' own fields are typed-encoded and not
        // rescanned).
        let names_only = typed;
        if !folded.is_empty() {
            record = if names_only {
                record.with_typed_detail_unchecked(EVENTS_FIELD, &folded)
            } else {
                let list = folded
                    .iter()
                    .map(|event| serde_json::to_value(event).unwrap_or(Value::Null))
                    .collect();
                record.with_detail(EVENTS_FIELD, Value::Array(list))
            };
        }
        if !entries.is_empty() {
            record = if names_only {
                record.with_typed_detail_unchecked(JOURNAL_FIELD, &entries)
            } else {
                let list = serde_json::to_value(entries).unwrap_or(Value::Null);
                record.with_detail(JOURNAL_FIELD, list)
            };
        }
        records.push(if typed {
            record.typed_unchecked()
        } else {
            record
        });
    }
    records
}
