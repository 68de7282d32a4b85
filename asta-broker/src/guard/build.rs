//! Building a [`Guard`]: the mode gate at start and the live confirmation.

use super::*;
use crate::risk_log::{RestoreReport, RestoredRisk, SnapshotUse, UnknownPlacement};

/// Why a [`Guard`] refused to be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardBuildErrorKind {
    /// The broker's venue is not allowed in the configured mode (sandbox
    /// accepts only simulated brokers and broker-side simulations such as an
    /// OpenAlgo server in analyzer mode; paper also simulated brokers
    /// reading live quotes).
    #[error("{mode} mode refuses a broker whose venue is {venue}")]
    ModeMismatch {
        /// The configured mode.
        mode: TradingMode,
        /// The broker's venue.
        venue: Venue,
    },
    /// Live mode without `allow_live_trading = true`.
    #[error("live mode requires allow_live_trading = true in the configuration")]
    LiveNotAllowed,
    /// Live mode without a [`Confirm`] implementation.
    #[error("live mode requires a per-session confirmation; none is configured")]
    NoConfirm,
    /// The operator did not confirm live trading.
    #[error("{0}")]
    LiveNotConfirmed(ConfirmRefusal),
    /// A configuration value is unusable.
    #[error("invalid guard configuration: {detail}")]
    InvalidConfig {
        /// What is wrong.
        detail: String,
    },
    /// The venue could not be confirmed: the broker says it is not what it
    /// was built for (an OpenAlgo server in another mode), or it could not
    /// be asked.
    #[error("the broker's venue could not be confirmed: {detail}")]
    VenueUnconfirmed {
        /// What the broker answered (no secrets).
        detail: String,
    },
    /// The audit trail cannot be written, so nothing may trade.
    #[error("the audit trail is unavailable: {detail}")]
    AuditUnavailable {
        /// The audit error (no secrets: paths and causes).
        detail: String,
    },
}

/// A refused [`GuardBuilder::build`]: what was wrong and the reference of the
/// audit record that holds it (when the audit trail still works).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (ref {reference})")]
pub struct GuardBuildError {
    kind: GuardBuildErrorKind,
    reference: ErrorReference,
}

impl GuardBuildError {
    /// What was wrong.
    pub fn kind(&self) -> &GuardBuildErrorKind {
        &self.kind
    }

    /// The audit reference.
    pub fn reference(&self) -> &ErrorReference {
        &self.reference
    }

    /// The safe face for a user: `PERMISSION_DENIED` for mode and live
    /// refusals, `HALTED` when the audit trail is unavailable.
    pub fn public_error(&self) -> PublicError {
        PublicError::with_reference(self.public_code(), self.reference.clone())
    }
}

impl PublicCode for GuardBuildError {
    fn public_code(&self) -> ErrorCode {
        match self.kind {
            GuardBuildErrorKind::AuditUnavailable { .. } => ErrorCode::Halted,
            GuardBuildErrorKind::InvalidConfig { .. } => ErrorCode::InvalidInput,
            _ => ErrorCode::PermissionDenied,
        }
    }
}

/// Builds a [`Guard`]; [`build`](Self::build) checks the mode gate, asks
/// for the live confirmation and records the start in the audit trail.
#[must_use]
pub struct GuardBuilder<B> {
    inner: B,
    catalog: Arc<InstrumentCatalog>,
    risk: RiskEngine,
    audit: AuditLog,
    clock: Arc<dyn Clock>,
    config: GuardConfig,
    confirm: Option<Arc<dyn Confirm>>,
    alerts: Arc<dyn AlertSink>,
    restored: Option<Restored>,
    protective_only: bool,
    halt_marker: Option<crate::control::HaltMarker>,
    control_trail: Option<(std::path::PathBuf, asta_audit::ChainKey)>,
}

/// What [`Guard::restored`] brings to the build.
struct Restored {
    store: Arc<dyn SnapshotStore>,
    unknown: Vec<UnknownPlacement>,
    report: RestoreReport,
}

impl<B> fmt::Debug for GuardBuilder<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardBuilder")
            .field("config", &self.config)
            .field("confirm", &self.confirm.is_some())
            .finish_non_exhaustive()
    }
}

impl<B: Broker> GuardBuilder<B> {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: GuardConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the trading mode.
    pub fn mode(mut self, mode: TradingMode) -> Self {
        self.config.mode = mode;
        self
    }

    /// Sets `allow_live_trading`.
    pub fn allow_live_trading(mut self, allow: bool) -> Self {
        self.config.allow_live_trading = allow;
        self
    }

    /// The per-session confirmation asked for in live mode.
    pub fn confirm(mut self, confirm: Arc<dyn Confirm>) -> Self {
        self.confirm = Some(confirm);
        self
    }

    /// Where alerts go (default: [`TracingAlertSink`]).
    pub fn alert_sink(mut self, alerts: Arc<dyn AlertSink>) -> Self {
        self.alerts = alerts;
        self
    }

    /// Builds a guard that can only cut risk, for a kill switch: in live
    /// mode it is built without `allow_live_trading` and without asking
    /// for the live confirmation, so live trading is never confirmed and
    /// the mode gate refuses **every** placement and modification; cancels,
    /// the emergency stop and the read-only calls work as usual. Halting
    /// and cancelling must never wait for a question.
    pub fn protective_only(mut self) -> Self {
        self.protective_only = true;
        self
    }

    /// A halt marker file ([`HaltMarker`](crate::HaltMarker)) checked before
    /// every order is admitted (one `lstat`): while anything is at `path`,
    /// placements and modifications are refused `HALTED`. A marker present
    /// at build halts the account (latched). Only a TOTP-authorized
    /// [`Guard::reset`] removes it.
    pub fn halt_marker(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.halt_marker = Some(crate::control::HaltMarker::new(path));
        self
    }

    /// The control trail in `dir` (what `asta kill` did while this
    /// session's predecessor did not answer), verified with `key` at build
    /// and linked: its head is recorded in this guard's trail
    /// ([`link_control_trail`](crate::link_control_trail)). A control trail
    /// that does not verify halts the account.
    pub fn control_trail(
        mut self,
        dir: impl Into<std::path::PathBuf>,
        key: asta_audit::ChainKey,
    ) -> Self {
        self.control_trail = Some((dir.into(), key));
        self
    }

    /// Checks everything and starts the guard.
    ///
    /// In order: the audit trail must accept appends; the broker's
    /// [`venue`](Broker::venue) must suit the mode (sandbox: only
    /// [`Venue::Simulated`]; paper: simulated, live quotes allowed); live
    /// mode needs `allow_live_trading` **and** a [`Confirm`] that confirms
    /// now. A refusal is recorded (SECURITY, with a fresh reference) and
    /// returned with that reference; its public code is `PERMISSION_DENIED`.
    /// On success a `guard_started` SYSTEM record is written durably.
    ///
    /// Then the venue itself is asked ([`Broker::check_venue`]: an OpenAlgo
    /// server's analyzer status): in sandbox and paper mode a venue that
    /// cannot be confirmed refuses the build
    /// ([`GuardBuildErrorKind::VenueUnconfirmed`]); in live mode the guard
    /// starts HALTED instead (a mode change is a breaker trip: recorded and
    /// alerted), so that the emergency stop still works through it.
    ///
    /// Sandbox mode refuses an external broker rather than silently routing
    /// orders elsewhere: a configuration mistake should stop the program,
    /// not change where orders go.
    pub async fn build(self) -> Result<Guard<B>, GuardBuildError> {
        let venue = self.inner.venue();
        let mode = self.config.mode;
        let now = self.clock.now();
        let control = match &self.config.control_strategy {
            Some(tag) => Ok(tag.clone()),
            None => StrategyTag::new(DEFAULT_CONTROL_STRATEGY),
        };
        let guard = Guard {
            inner: self.inner,
            catalog: self.catalog,
            risk: Mutex::new(self.risk),
            audit: self.audit,
            clock: self.clock,
            alerts: self.alerts,
            config: self.config,
            live_confirmed: AtomicBool::new(false),
            audit_failed: AtomicBool::new(false),
            tracked: Mutex::new(HashMap::new()),
            unresolved: Mutex::new(Vec::new()),
            control: control.clone().ok(),
            in_flight: AtomicUsize::new(0),
            staging_failure: Mutex::new(None),
            snapshots: self.restored.as_ref().map(|restored| {
                Arc::new(Mutex::new(SnapshotPlan {
                    store: Arc::clone(&restored.store),
                    entries_since: 0,
                    last: now,
                    pending: None,
                    force_next: true,
                    save_scheduled: false,
                }))
            }),
            snapshot_saving: Arc::new(tokio::sync::Mutex::new(())),
            amend_unknown: Mutex::new(Vec::new()),
            resolving: tokio::sync::Mutex::new(()),
            startup_pending: AtomicBool::new(true),
            halt_marker: self.halt_marker,
        };
        if let Err(error) = control {
            let kind = GuardBuildErrorKind::InvalidConfig {
                detail: error.to_string(),
            };
            return Err(guard.build_refused(kind).await);
        }
        if guard.config.reconcile_lookback_secs > 60 {
            let kind = GuardBuildErrorKind::InvalidConfig {
                detail: format!(
                    "reconcile_lookback_secs = {} is above 60",
                    guard.config.reconcile_lookback_secs
                ),
            };
            return Err(guard.build_refused(kind).await);
        }
        if guard.config.snapshot_every_entries == 0 {
            let kind = GuardBuildErrorKind::InvalidConfig {
                detail: "snapshot_every_entries must be at least 1".to_owned(),
            };
            return Err(guard.build_refused(kind).await);
        }
        if let Some(detail) = guard.audit.poison_reason() {
            return Err(guard
                .build_refused(GuardBuildErrorKind::AuditUnavailable { detail })
                .await);
        }
        if let Err(kind) = mode_allows(mode, venue) {
            return Err(guard.build_refused(kind).await);
        }
        // Ask the venue itself (an OpenAlgo server: its analyzer status). A
        // rehearsal that cannot confirm it is a simulation does not start;
        // a live session starts HALTED (so that the emergency stop still
        // works through it) and an operator resets after checking.
        let venue_check = guard.inner.check_venue().await;
        if let Err(error) = venue_check {
            if mode != TradingMode::Live {
                let kind = GuardBuildErrorKind::VenueUnconfirmed {
                    detail: error.to_string(),
                };
                return Err(guard.build_refused(kind).await);
            }
            let mismatch = error.is_mode_mismatch();
            let wrapped = guard
                .broker_error("check_venue", error, Value::Null, None)
                .await;
            if !mismatch {
                let reason = format!(
                    "the venue could not be confirmed at start ({wrapped}); trading halted until an operator resets"
                );
                let (_, events) = guard.risk_call(|risk| risk.halt(&reason));
                guard.audit_events(events).await;
            }
        }
        if mode == TradingMode::Live && !self.protective_only {
            if !guard.config.allow_live_trading {
                return Err(guard
                    .build_refused(GuardBuildErrorKind::LiveNotAllowed)
                    .await);
            }
            let Some(confirm) = self.confirm else {
                return Err(guard.build_refused(GuardBuildErrorKind::NoConfirm).await);
            };
            let request = ConfirmRequest {
                mode,
                venue,
                message: format!(
                    "Enable LIVE trading with real money through a {venue} broker for this session?"
                ),
            };
            if let Err(refusal) = confirm.confirm(&request).await {
                return Err(guard
                    .build_refused(GuardBuildErrorKind::LiveNotConfirmed(refusal))
                    .await);
            }
            guard.live_confirmed.store(true, Ordering::Release);
        }
        if let Some(restored) = self.restored {
            guard.record_restore(restored).await;
        }
        guard.on_start_control(self.control_trail).await;
        let state = guard.trading_state();
        let started = AuditEvent::system(
            "guard_started",
            json!({
                "mode": mode.to_string(),
                "venue": venue.as_str(),
                "live_confirmed": guard.live_confirmed.load(Ordering::Acquire),
                "protective_only": self.protective_only,
                "trading_state": state.to_string(),
            }),
        );
        if let Err(error) = guard.audit.append_async(started).await {
            let kind = GuardBuildErrorKind::AuditUnavailable {
                detail: error.to_string(),
            };
            return Err(guard.build_refused(kind).await);
        }
        Ok(guard)
    }
}

pub(super) fn mode_allows(mode: TradingMode, venue: Venue) -> Result<(), GuardBuildErrorKind> {
    let allowed = match mode {
        TradingMode::Sandbox => matches!(venue, Venue::Simulated | Venue::BrokerSimulation),
        TradingMode::Paper => venue.is_simulated() || venue == Venue::BrokerSimulation,
        TradingMode::Live => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(GuardBuildErrorKind::ModeMismatch { mode, venue })
    }
}

impl<B: Broker> Guard<B> {
    /// Starts building a guard around `inner`, checking orders against
    /// `catalog` and `risk`, recording to `audit`, with time from `clock`.
    pub fn builder(
        inner: B,
        catalog: Arc<InstrumentCatalog>,
        risk: RiskEngine,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
    ) -> GuardBuilder<B> {
        GuardBuilder {
            inner,
            catalog,
            risk,
            audit,
            clock,
            config: GuardConfig::default(),
            confirm: None,
            alerts: Arc::new(TracingAlertSink),
            restored: None,
            protective_only: false,
            halt_marker: None,
            control_trail: None,
        }
    }

    /// Starts building a guard whose risk state lives in the audit trail:
    /// the engine rebuilt by [`RestoredRisk::from_trail`] from the same
    /// trail as `audit`. The guard then writes every risk input into the
    /// trail with the step it belongs to (an order's approval in its
    /// durable intent: one fdatasync per order), saves a snapshot to the
    /// restore's store every [`GuardConfig::snapshot_every_entries`]
    /// entries (and on [`close`](Guard::close)), and starts with the
    /// placements the trail left without an outcome as unknown outcomes,
    /// which [`sync`](Guard::sync) looks for at the broker.
    pub fn restored(
        inner: B,
        catalog: Arc<InstrumentCatalog>,
        restored: RestoredRisk,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
    ) -> GuardBuilder<B> {
        let report = restored.report().clone();
        let RestoredRisk {
            engine,
            store,
            unknown,
            ..
        } = restored;
        let mut builder = Self::builder(inner, catalog, engine, audit, clock);
        builder.restored = Some(Restored {
            store,
            unknown,
            report,
        });
        builder
    }

    /// Records how the risk state was restored, drains what the restore
    /// journaled, and takes the trail's unknown outcomes on.
    async fn record_restore(&self, restored: Restored) {
        let unknown: Vec<Value> = restored
            .unknown
            .iter()
            .map(|u| json!({"ticket": u.ticket, "intent_seq": u.intent_seq, "order": summary(&u.order)}))
            .collect();
        let report = &restored.report;
        let snapshot = match &report.snapshot {
            SnapshotUse::Confirmed { covers_seq, .. } => {
                json!({"used": true, "covers_seq": covers_seq})
            }
            SnapshotUse::None => json!({"used": false, "reason": "no snapshot stored"}),
            SnapshotUse::Rejected { reason } => json!({"used": false, "reason": reason}),
        };
        let (_, events) = self.risk_step(
            |_| (),
            |()| {
                Some(AuditEvent::system(
                    "risk_restored",
                    json!({
                        "snapshot": snapshot,
                        "replayed": report.replayed,
                        "records_read": report.records_read,
                        "divergences": report.replay.divergences.len(),
                        "unknown_outcomes": unknown,
                    }),
                ))
            },
        );
        self.audit_events(events).await;
        let mut unresolved = self
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for item in restored.unknown {
            unresolved.push(Unresolved {
                ticket: ApprovalTicket::from_recorded(item.ticket),
                order: item.order,
                attempted_at: item.attempted_at,
                pending_approval: None,
            });
        }
    }

    /// Records a refused build (SECURITY, fresh reference) and returns the error.
    pub(super) async fn build_refused(&self, kind: GuardBuildErrorKind) -> GuardBuildError {
        let reference = ErrorReference::generate();
        let event = AuditEvent::security(
            "guard_refused",
            json!({
                "reason": kind.to_string(),
                "mode": self.config.mode.to_string(),
                "venue": self.inner.venue().as_str(),
                "allow_live_trading": self.config.allow_live_trading,
            }),
        )
        .with_reference(reference.clone());
        if let Err(error) = self.audit.append_async(event).await {
            tracing::error!(target: "asta_broker::guard", %reference, %error, reason = %kind, "guard refusal could not be audited");
        }
        GuardBuildError { kind, reference }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_gate_fails_closed() {
        assert!(mode_allows(TradingMode::Sandbox, Venue::Simulated).is_ok());
        assert!(mode_allows(TradingMode::Sandbox, Venue::SimulatedWithLiveQuotes).is_err());
        assert!(mode_allows(TradingMode::Sandbox, Venue::External).is_err());
        assert!(mode_allows(TradingMode::Paper, Venue::SimulatedWithLiveQuotes).is_ok());
        assert!(mode_allows(TradingMode::Paper, Venue::External).is_err());
        assert!(mode_allows(TradingMode::Live, Venue::External).is_ok());
        // An OpenAlgo server in analyzer mode is a rehearsal venue.
        assert!(mode_allows(TradingMode::Sandbox, Venue::BrokerSimulation).is_ok());
        assert!(mode_allows(TradingMode::Paper, Venue::BrokerSimulation).is_ok());
        assert_eq!(GuardConfig::default().mode, TradingMode::Sandbox);
        assert!(!GuardConfig::default().allow_live_trading);
    }
}
