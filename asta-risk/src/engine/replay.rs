//! Journaled engines: restore from a snapshot plus journal entries, apply
//! one entry, take snapshots, drain the journal.

use std::sync::Arc;

use asta_core::{Clock, InstrumentCatalog, MarketCalendar};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::RiskConfig;
use crate::error::RestoreError;
use crate::journal::{
    BatchOutcome, CancelOutcome, JournalEntry, ModifyOutcome, OrderOutcome, ResetOutcome, RiskInput,
};
use crate::rate_limit::ist_date;
use crate::snapshot::RiskSnapshot;
use crate::state::RiskState;

use super::{ApprovalTicket, Journal, Persistence, RiskEngine};

/// How many undrained entries a journaled engine holds before it refuses
/// new orders ([`Rejection::JournalFull`](crate::Rejection::JournalFull)).
pub const DEFAULT_JOURNAL_LIMIT: usize = 10_000;

/// A replayed decision that came out differently from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Divergence {
    /// The entry's seq.
    pub seq: u64,
    /// The entry's time.
    pub at: DateTime<Utc>,
    /// The input kind, e.g. `CHECK_ORDER`.
    pub input: &'static str,
    /// The recorded outcome (JSON).
    pub recorded: String,
    /// The replayed outcome (JSON).
    pub replayed: String,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// The seq the snapshot covered, if one was used.
    pub snapshot_seq: Option<u64>,
    /// Entries skipped because the snapshot already covered them.
    pub skipped: u64,
    /// Entries replayed (a START entry included).
    pub applied: u64,
    /// The seq of the last entry in the restored state (0 if none).
    pub last_seq: u64,
    /// Replayed decisions that differ from the recorded ones.
    pub divergences: Vec<Divergence>,
    /// Whether the restore halted the account because of divergences.
    pub halted: bool,
}

/// What [`RiskEngine::apply`] did with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyOutcome {
    /// The entry was replayed and its decision (if any) matched.
    Applied,
    /// The state already covered the entry: nothing changed.
    Skipped,
    /// The entry was replayed but its decision came out differently. The
    /// engine halts the account (journaled) before its next live call.
    Diverged(Divergence),
}

fn show<T: Serialize + std::fmt::Debug>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

fn compare<T: Serialize + std::fmt::Debug + PartialEq>(
    recorded: &T,
    replayed: &T,
) -> Option<(String, String)> {
    (recorded != replayed).then(|| (show(recorded), show(replayed)))
}

impl RiskEngine {
    /// Rebuilds a journaled engine from `snapshot` plus the journal entries
    /// after it, then carries on live from `clock`.
    ///
    /// - With a snapshot, entries with `seq <= snapshot.covers_seq()` are
    ///   skipped and the rest must follow on without a gap.
    /// - Without one, the entries must begin with the `START` entry (seq 1)
    ///   of a fresh engine. Without a snapshot and without entries, the engine
    ///   starts fresh and ACTIVE, and its first journal entry is that `START`.
    /// - Each entry is replayed at its recorded time (not the clock's), so
    ///   day roll-overs, rate windows, quote ages and loss figures come out as
    ///   they did live. Events produced by the replay are discarded: they
    ///   were recorded the first time.
    /// - A replayed decision that differs from the recorded one (possible
    ///   only if the configuration, catalog or calendar changed) does not
    ///   stop the replay, but the restored engine ends HALTED with a
    ///   `REPLAY_DIVERGENCE` breaker (a journaled `DIVERGENCE_HALT` entry and
    ///   its events), and the report lists every divergence.
    ///
    /// The engine writes no state file: durability is the caller's journal.
    /// Contract for the caller:
    ///
    /// 1. after every call, [`drain_journal`](Self::drain_journal) and append
    ///    the entries, in seq order, to a durable log; the entry of a
    ///    `check_order` must be durable before the order leaves;
    /// 2. from time to time, store a [`snapshot`](Self::snapshot) with its
    ///    [`digest`](RiskSnapshot::digest) and `covers_seq` recorded in the log;
    /// 3. on start, pass the newest snapshot whose digest the log confirms
    ///    (or none) and every entry after it.
    ///
    /// # Errors
    ///
    /// [`RestoreError`] for a gap, repeat or disorder in the seqs, or a
    /// journal without its `START`; no engine is returned, so nothing trades.
    pub fn restore(
        config: RiskConfig,
        catalog: Arc<InstrumentCatalog>,
        calendar: Arc<MarketCalendar>,
        clock: Arc<dyn Clock>,
        snapshot: Option<RiskSnapshot>,
        entries: impl IntoIterator<Item = JournalEntry>,
    ) -> Result<(RiskEngine, ReplayReport), RestoreError> {
        let mut entries = entries.into_iter();
        let snapshot_seq = snapshot.as_ref().map(RiskSnapshot::covers_seq);
        let mut fresh_at = None;
        let mut applied = 0u64;
        let state = match snapshot {
            Some(snapshot) => snapshot.into_state(),
            None => match entries.next() {
                None => {
                    let now = clock.now();
                    fresh_at = Some(now);
                    RiskState::new(ist_date(now))
                }
                Some(first) => {
                    if first.seq() != 1 {
                        return Err(RestoreError::Sequence {
                            expected: 1,
                            found: first.seq(),
                        });
                    }
                    if *first.input() != RiskInput::Start {
                        return Err(RestoreError::MissingStart {
                            found: first.input().kind().to_owned(),
                        });
                    }
                    applied = 1;
                    let mut state = RiskState::new(ist_date(first.at()));
                    state.journal_seq = 1;
                    state
                }
            },
        };
        let mut engine = RiskEngine {
            config,
            catalog,
            calendar,
            clock,
            persistence: Persistence::Journal(Journal {
                entries: Vec::new(),
                limit: DEFAULT_JOURNAL_LIMIT,
            }),
            state,
            events: Vec::new(),
            events_dropped: 0,
            save_error: None,
            pending_divergences: Vec::new(),
        };
        engine.apply_rate_limits();
        if let Some(now) = fresh_at {
            engine.journal(now, || RiskInput::Start);
        }
        let mut report = ReplayReport {
            snapshot_seq,
            skipped: 0,
            applied,
            last_seq: 0,
            divergences: Vec::new(),
            halted: false,
        };
        for entry in entries {
            match engine.apply(&entry)? {
                ApplyOutcome::Skipped if report.applied == 0 => report.skipped += 1,
                ApplyOutcome::Skipped => {
                    return Err(RestoreError::Sequence {
                        expected: engine.state.journal_seq.saturating_add(1),
                        found: entry.seq(),
                    });
                }
                ApplyOutcome::Applied => report.applied += 1,
                ApplyOutcome::Diverged(divergence) => {
                    report.applied += 1;
                    report.divergences.push(divergence);
                }
            }
        }
        report.last_seq = engine.state.journal_seq;
        engine.events.clear();
        if !engine.pending_divergences.is_empty() {
            engine.live_now();
            report.halted = true;
        }
        Ok((engine, report))
    }

    /// Replays one journal entry at its recorded time (a restore step, or a
    /// standby following the log). Entries the state already covers are
    /// skipped; the next entry must be `journal_seq() + 1`. Events of the
    /// replay are discarded. Do not mix with live calls on the same engine.
    ///
    /// A divergence is returned and remembered: the next live call (or the
    /// end of [`restore`](Self::restore)) halts the account first.
    ///
    /// # Errors
    ///
    /// [`RestoreError::Sequence`] for a gap, [`RestoreError::UnexpectedStart`]
    /// for a `START` entry; the engine is unchanged.
    pub fn apply(&mut self, entry: &JournalEntry) -> Result<ApplyOutcome, RestoreError> {
        let expected = self.state.journal_seq.saturating_add(1);
        if entry.seq() < expected {
            return Ok(ApplyOutcome::Skipped);
        }
        if entry.seq() > expected {
            return Err(RestoreError::Sequence {
                expected,
                found: entry.seq(),
            });
        }
        if *entry.input() == RiskInput::Start {
            return Err(RestoreError::UnexpectedStart { seq: entry.seq() });
        }
        let events = self.events.len();
        let differs = self.replay_input(entry.at(), entry.input());
        self.state.journal_seq = entry.seq();
        self.events.truncate(events);
        Ok(match differs {
            None => ApplyOutcome::Applied,
            Some((recorded, replayed)) => {
                let divergence = Divergence {
                    seq: entry.seq(),
                    at: entry.at(),
                    input: entry.input().kind(),
                    recorded,
                    replayed,
                };
                tracing::error!(
                    seq = divergence.seq,
                    input = divergence.input,
                    recorded = %divergence.recorded,
                    replayed = %divergence.replayed,
                    "replayed risk decision differs from the recorded one"
                );
                self.pending_divergences.push(divergence.clone());
                ApplyOutcome::Diverged(divergence)
            }
        })
    }

    /// Applies `input` at `at`; returns the recorded and replayed outcomes
    /// when they differ.
    fn replay_input(&mut self, at: DateTime<Utc>, input: &RiskInput) -> Option<(String, String)> {
        match input {
            RiskInput::Start => None,
            RiskInput::CheckOrder {
                order,
                context,
                outcome,
            } => {
                let result = self.check_order_at(at, order, context);
                compare(outcome, &OrderOutcome::of(&result))
            }
            RiskInput::CheckBatch {
                orders,
                context,
                outcome,
            } => {
                let result = self.check_batch_at(at, orders, context);
                compare(outcome, &BatchOutcome::of(&result))
            }
            RiskInput::CheckModify {
                order_id,
                order,
                context,
                outcome,
            } => {
                let result = self.check_modify_at(at, order_id, order, context);
                compare(outcome, &ModifyOutcome::of(&result))
            }
            RiskInput::CheckCancel { order_id, outcome } => {
                let result = self.check_cancel_at(at, order_id);
                compare(outcome, &CancelOutcome::of(&result))
            }
            RiskInput::UpdateQuote {
                exchange,
                symbol,
                price,
            } => {
                self.update_quote_at(at, *exchange, symbol, *price);
                None
            }
            RiskInput::RecordFill { fill } => {
                self.record_fill_at(at, fill);
                None
            }
            RiskInput::OrderOpened {
                order_id,
                order,
                ticket,
            } => {
                // Without its order, the entry means "the order approval
                // `ticket` holds": it must be pending now, as it was when
                // the entry was written.
                let order = match (order, ticket) {
                    (Some(order), _) => order.clone(),
                    (None, Some(t)) => match self.state.pending.get(t) {
                        Some(pending) => pending.clone(),
                        None => {
                            return Some((
                                format!("the order of pending approval {t}"),
                                format!("no pending approval {t}"),
                            ));
                        }
                    },
                    (None, None) => {
                        return Some((
                            "an opened order".to_owned(),
                            "neither an order nor an approval ticket".to_owned(),
                        ));
                    }
                };
                self.order_opened_at(at, order_id.clone(), &order, ticket.map(ApprovalTicket));
                None
            }
            RiskInput::ReleaseApproval { ticket } => {
                self.release_approval_at(at, ApprovalTicket(*ticket));
                None
            }
            RiskInput::OrderClosed { order_id } => {
                self.order_closed_at(at, order_id);
                None
            }
            RiskInput::Halt { scope, reason } => {
                self.halt_at(at, scope.clone(), reason);
                None
            }
            RiskInput::SetReducing { scope, reason } => {
                self.set_reducing_at(at, scope, reason);
                None
            }
            RiskInput::Reset {
                operator,
                scope,
                target,
                outcome,
            } => match outcome {
                ResetOutcome::Applied => {
                    let replayed = self.reset_scope_at(at, scope.clone(), *target, operator, None);
                    compare(outcome, &ResetOutcome::of(&replayed))
                }
                ResetOutcome::Refused { reason } => {
                    self.replay_refused_reset_at(at, operator, scope.clone(), reason);
                    None
                }
            },
            RiskInput::AuditFailure { detail } => {
                self.report_audit_failure_at(at, detail);
                None
            }
            RiskInput::AuthFailure { detail } => {
                self.report_auth_failure_at(at, detail);
                None
            }
            RiskInput::FailedLogin { source } => {
                self.record_failed_login_at(at, source);
                None
            }
            RiskInput::DivergenceHalt { detail } => {
                self.divergence_halt_at(at, detail);
                None
            }
        }
    }

    /// The whole persisted state and the journal seq it covers.
    pub fn snapshot(&self) -> RiskSnapshot {
        RiskSnapshot::new(self.state.clone())
    }

    /// Takes the journal entries produced since the last call, in seq order
    /// (empty for an engine that does not journal).
    ///
    /// A journaled caller must drain after every call and make the entries
    /// durable; while [`journal_limit`](Self::journal_limit) entries wait,
    /// new orders, batches and modifications are refused with
    /// [`Rejection::JournalFull`](crate::Rejection::JournalFull) (cancels,
    /// fills, quotes, halts and other reports are still applied and
    /// journaled: facts are never dropped).
    pub fn drain_journal(&mut self) -> Vec<JournalEntry> {
        match &mut self.persistence {
            Persistence::Journal(journal) => std::mem::take(&mut journal.entries),
            Persistence::Store(_) => Vec::new(),
        }
    }

    /// Whether the engine journals (it was built by [`restore`](Self::restore)).
    pub fn is_journaled(&self) -> bool {
        matches!(self.persistence, Persistence::Journal(_))
    }

    /// The seq of the last journal entry applied (0 before any).
    pub fn journal_seq(&self) -> u64 {
        self.state.journal_seq
    }

    /// The undrained entries' limit ([`DEFAULT_JOURNAL_LIMIT`] unless set);
    /// 0 for an engine that does not journal.
    pub fn journal_limit(&self) -> usize {
        match &self.persistence {
            Persistence::Journal(journal) => journal.limit,
            Persistence::Store(_) => 0,
        }
    }

    /// Sets the undrained entries' limit (at least 1). No effect on an
    /// engine that does not journal.
    pub fn set_journal_limit(&mut self, limit: usize) {
        if let Persistence::Journal(journal) = &mut self.persistence {
            journal.limit = limit.max(1);
        }
    }
}
