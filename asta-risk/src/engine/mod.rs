//! The risk engine: its parts, construction, events and persistence.
//!
//! The methods live in sub-modules by concern: `new_order` (pre-trade
//! decisions), `modify` (modifications and cancels), `inputs` (quotes, fills,
//! order lifecycle, failure reports, logins), `control` (trading states,
//! breakers, resets, the IST day) and `status` (the operator snapshot).

mod control;
mod inputs;
mod modify;
mod new_order;
mod replay;
mod status;
mod types;

pub use replay::{ApplyOutcome, DEFAULT_JOURNAL_LIMIT, Divergence, ReplayReport};

pub use status::{PositionStatus, RateStatus, RiskStatus, ScopeStatus};
pub use types::{
    Approval, ApprovalTicket, CancelApproval, Decision, FillReport, ModifyApproval, OrderContext,
};

use std::sync::Arc;

use asta_core::{Clock, InstrumentCatalog, MarketCalendar, Money, Price, StrategyTag};
use chrono::{DateTime, TimeDelta, Utc};

use crate::breaker::{BreakerKind, TotpVerifier, valid_operator};
use crate::config::RiskConfig;
use crate::error::{AlertKind, Rejection, ResetError, StateError};
use crate::events::{RiskEvent, RiskEventKind};
use crate::journal::{JournalEntry, RiskInput};
use crate::rate_limit::{RateScope, RateWindow, ist_date};
use crate::state::RiskState;
use crate::state_store::StateStore;
use crate::trading_state::{StateScope, TradingState};

/// The most events [`RiskEngine::drain_events`] buffers between drains.
pub const MAX_BUFFERED_EVENTS: usize = 10_000;

/// The pre-trade risk engine.
///
/// # Order of checks (new orders)
///
/// 1. the risk state file is writable (else `STATE_UNAVAILABLE`);
/// 2. trading state: HALTED refuses, REDUCING admits only position-reducing orders;
/// 3. instrument (asta-core catalog: known, lot, freeze, tick, band);
/// 4. trading hours (asta-core calendar, MIS cut-off) — also an off-hours alert;
/// 5. fresh reference price and price collar;
/// 6. quantity and notional per order;
/// 7. duplicate content from the same strategy (unless intentional);
/// 8. daily loss (skipped for reducing orders; a breach trips the breaker);
/// 9. open orders, position value per symbol, gross exposure;
/// 10. security monitor (unusual size, first symbol) — block or warn;
/// 11. rate limits (account, strategy, segment) — last, because an approval
///     uses capacity and a rejection does not.
///
/// # Persistence
///
/// Every call that changes the durable state (decisions, fills, order
/// lifecycle, breakers, resets, logins) saves the whole state before it
/// returns: temp file, fsync, rename, fsync of the directory. That makes a
/// decision cost one fsync with a file store (milliseconds on an SSD), which
/// the guard pays anyway for its audit record; in exchange no approval, loss
/// or halt is ever lost to a crash. The one exception is
/// [`update_quote`](Self::update_quote), which is hot: a quote is saved with
/// the next change (a lost quote only costs freshness, and after a restart it
/// would be stale anyway), unless it trips the daily-loss breaker, which is
/// saved at once. If a save fails, the engine halts and rejects every order
/// until an operator reset succeeds in saving.
///
/// An engine built by [`restore`](Self::restore) is *journaled* instead: it
/// writes no file at all. Each call appends a [`JournalEntry`] to an
/// in-memory journal that the caller drains ([`drain_journal`](Self::drain_journal))
/// and makes durable in its audit trail, and a restart rebuilds the state
/// from a [`snapshot`](Self::snapshot) plus the entries after it. See
/// [`restore`](Self::restore) for that mode's contract.
///
/// The engine is synchronous and `Send`; share it behind a mutex. It is
/// deliberately not `Clone`: two engines saving to one state file would
/// overwrite each other (see [`dangerous_clone_in_memory`](Self::dangerous_clone_in_memory)).
#[derive(Debug)]
pub struct RiskEngine {
    config: RiskConfig,
    catalog: Arc<InstrumentCatalog>,
    calendar: Arc<MarketCalendar>,
    clock: Arc<dyn Clock>,
    persistence: Persistence,
    state: RiskState,
    events: Vec<RiskEvent>,
    /// Events dropped because the buffer was full (never drained).
    events_dropped: u64,
    save_error: Option<String>,
    /// Replayed decisions that diverged: the next live call halts first.
    pending_divergences: Vec<Divergence>,
}

/// How the state survives a restart.
#[derive(Debug)]
enum Persistence {
    /// Saved whole to the store after each change.
    Store(StateStore),
    /// Journaled: every call appends an entry for the caller to make durable.
    Journal(Journal),
}

/// The undrained journal entries and their limit.
#[derive(Debug)]
struct Journal {
    entries: Vec<JournalEntry>,
    limit: usize,
}

fn secs(value: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(value).unwrap_or(i64::MAX / 1_000))
}

fn rate_rejection(scope: RateScope, window: RateWindow, count: u32, limit: u32) -> Rejection {
    Rejection::RateLimited {
        scope,
        window,
        count,
        limit,
    }
}

/// What `decide` found for an order before committing it.
pub(super) struct Verdict {
    notional: Money,
    warnings: Vec<AlertKind>,
    price: Price,
}

impl RiskEngine {
    /// Starts an engine from the state in `store` (a fresh, ACTIVE state if
    /// there is no file yet).
    ///
    /// A damaged file is an error ([`StateError::Corrupt`]): the engine does
    /// not start, so nothing trades, and the file is left untouched. See
    /// [`recover_from_corrupt_state`](Self::recover_from_corrupt_state).
    pub fn open(
        config: RiskConfig,
        catalog: Arc<InstrumentCatalog>,
        calendar: Arc<MarketCalendar>,
        clock: Arc<dyn Clock>,
        store: StateStore,
    ) -> Result<Self, StateError> {
        let now = clock.now();
        let loaded = store.load()?;
        let fresh = loaded.is_none();
        let state = loaded.unwrap_or_else(|| RiskState::new(ist_date(now)));
        let mut engine = Self {
            config,
            catalog,
            calendar,
            clock,
            persistence: Persistence::Store(store),
            state,
            events: Vec::new(),
            events_dropped: 0,
            save_error: None,
            pending_divergences: Vec::new(),
        };
        engine.apply_rate_limits();
        if !fresh {
            engine.emit(
                now,
                RiskEventKind::StateLoaded {
                    day: engine.state.day,
                    account: engine.state.states.account.state,
                },
            );
        }
        engine.roll_day_if_needed(now);
        engine.evaluate_daily_loss(now);
        engine.save()?;
        Ok(engine)
    }

    /// Starts from a fresh state after the state file was found corrupt.
    ///
    /// Needs an operator and a TOTP code. The damaged file is moved aside (to
    /// `<name>.corrupt-<unix seconds>`, for inspection), and the new state
    /// starts HALTED with a `STATE_RECOVERED` breaker: the day's loss and
    /// positions are unknown, so a second reset (after reconciling with the
    /// broker) is needed before trading. A file that is not corrupt is simply
    /// opened; a file of a newer format is refused.
    #[allow(
        clippy::too_many_arguments,
        reason = "the engine's parts plus the operator's authorization"
    )]
    pub fn recover_from_corrupt_state(
        config: RiskConfig,
        catalog: Arc<InstrumentCatalog>,
        calendar: Arc<MarketCalendar>,
        clock: Arc<dyn Clock>,
        store: StateStore,
        operator: &str,
        totp_code: &str,
        verifier: &dyn TotpVerifier,
    ) -> Result<Self, StateError> {
        let detail = match store.load() {
            Err(StateError::Corrupt { detail, .. }) => detail,
            Err(other) => return Err(other),
            Ok(_) => return Self::open(config, catalog, calendar, clock, store),
        };
        if !valid_operator(operator) {
            return Err(ResetError::BadOperator {
                len: operator.len(),
            }
            .into());
        }
        verifier
            .verify(operator, totp_code)
            .map_err(ResetError::from)?;
        let now = clock.now();
        let moved = store.quarantine(now.timestamp())?;
        let mut engine = Self {
            config,
            catalog,
            calendar,
            clock,
            persistence: Persistence::Store(store),
            state: RiskState::new(ist_date(now)),
            events: Vec::new(),
            events_dropped: 0,
            save_error: None,
            pending_divergences: Vec::new(),
        };
        engine.apply_rate_limits();
        let detail = format!(
            "operator {operator} recovered from a corrupt state file ({detail}); moved to {}",
            moved.map_or_else(|| "nowhere".to_owned(), |p| p.display().to_string())
        );
        engine.trip(
            now,
            BreakerKind::StateRecovered,
            StateScope::Account,
            detail,
        );
        engine.save()?;
        Ok(engine)
    }

    /// A copy of this engine whose state is kept in memory only (it never
    /// writes the state file and keeps no journal). For benchmarks and
    /// what-if tests; never decide real orders on a copy.
    pub fn dangerous_clone_in_memory(&self) -> RiskEngine {
        RiskEngine {
            config: self.config.clone(),
            catalog: Arc::clone(&self.catalog),
            calendar: Arc::clone(&self.calendar),
            clock: Arc::clone(&self.clock),
            persistence: Persistence::Store(StateStore::dangerous_in_memory()),
            state: self.state.clone(),
            events: self.events.clone(),
            events_dropped: self.events_dropped,
            save_error: self.save_error.clone(),
            pending_divergences: self.pending_divergences.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// The account's trading state.
    pub fn trading_state(&self) -> TradingState {
        self.state.states.account.state
    }

    /// The state that applies to `strategy`: the stricter of its own and the account's.
    pub fn strategy_state(&self, strategy: &StrategyTag) -> TradingState {
        self.state.states.effective(strategy).0
    }

    /// Takes the events produced since the last call, oldest first.
    ///
    /// Drain after each call and write the events to the audit trail. The
    /// buffer holds at most [`MAX_BUFFERED_EVENTS`]: an engine that is
    /// never drained keeps the newest ones and counts the oldest it drops
    /// ([`events_dropped`](Self::events_dropped)); each event's `seq` shows
    /// the gap. Decisions never depend on the buffer.
    pub fn drain_events(&mut self) -> Vec<RiskEvent> {
        std::mem::take(&mut self.events)
    }

    /// How many events were dropped because the buffer was full, since
    /// the engine was created or restored.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    pub(super) fn emit(&mut self, at: DateTime<Utc>, kind: RiskEventKind) {
        let seq = self.state.next_event_seq;
        self.state.next_event_seq = seq.saturating_add(1);
        if self.events.len() >= MAX_BUFFERED_EVENTS {
            let excess = self.events.len() + 1 - MAX_BUFFERED_EVENTS;
            self.events.drain(..excess);
            self.events_dropped = self.events_dropped.saturating_add(excess as u64);
        }
        self.events.push(RiskEvent {
            seq,
            at,
            category: kind.category(),
            kind,
        });
    }

    /// Saves the whole state to the store (journaled engines have nothing to save).
    fn save(&self) -> Result<(), StateError> {
        match &self.persistence {
            Persistence::Store(store) => store.save(&self.state),
            Persistence::Journal(_) => Ok(()),
        }
    }

    /// The state file, if the engine saves to one.
    pub(super) fn state_file(&self) -> Option<&std::path::Path> {
        match &self.persistence {
            Persistence::Store(store) => store.path(),
            Persistence::Journal(_) => None,
        }
    }

    /// The time for a live call: the clock's. A replay that diverged halts
    /// the account first (journaled), so no call runs on a diverged state
    /// that was not halted.
    pub(super) fn live_now(&mut self) -> DateTime<Utc> {
        let now = self.clock.now();
        if let Some(first) = self.pending_divergences.first() {
            let detail = format!(
                "{} replayed decision(s) differ from the recorded ones (configuration, catalog or calendar changed?); first at journal seq {} ({}): recorded {}, replayed {}",
                self.pending_divergences.len(),
                first.seq,
                first.input,
                first.recorded,
                first.replayed
            );
            self.pending_divergences.clear();
            self.divergence_halt_at(now, &detail);
            self.journal(now, || RiskInput::DivergenceHalt { detail });
        }
        now
    }

    /// Appends the entry for a live call at `now` (journaled engines only).
    pub(super) fn journal(&mut self, now: DateTime<Utc>, input: impl FnOnce() -> RiskInput) {
        if let Persistence::Journal(journal) = &mut self.persistence {
            let seq = self.state.journal_seq.saturating_add(1);
            self.state.journal_seq = seq;
            journal.entries.push(JournalEntry::new(seq, now, input()));
        }
    }

    /// Refuses new risk while the journal is at its limit (see
    /// [`Rejection::JournalFull`]). Calls that cut risk or report facts are
    /// never refused for it: they are journaled beyond the limit.
    pub(super) fn journal_room(&self) -> Result<(), Rejection> {
        match &self.persistence {
            Persistence::Journal(journal) if journal.entries.len() >= journal.limit => {
                tracing::error!(
                    pending = journal.entries.len(),
                    limit = journal.limit,
                    "risk journal not drained; new orders are refused"
                );
                Err(Rejection::JournalFull {
                    pending: journal.entries.len(),
                    limit: journal.limit,
                })
            }
            _ => Ok(()),
        }
    }

    /// Saves the state; on failure halts (in memory) and returns the error text.
    pub(super) fn persist(&mut self, now: DateTime<Utc>) -> Result<(), String> {
        match self.save() {
            Ok(()) => {
                if self.save_error.is_some()
                    && self.state.states.account.state != TradingState::Halted
                {
                    self.save_error = None;
                }
                Ok(())
            }
            Err(error) => {
                let detail = error.to_string();
                tracing::error!(%detail, "risk state save failed; trading halted");
                if self.save_error.is_none() {
                    self.emit(
                        now,
                        RiskEventKind::StateSaveFailed {
                            detail: detail.clone(),
                        },
                    );
                    self.trip(
                        now,
                        BreakerKind::StateSaveFailure,
                        StateScope::Account,
                        detail.clone(),
                    );
                }
                self.save_error = Some(detail.clone());
                Err(detail)
            }
        }
    }
}
