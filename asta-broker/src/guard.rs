//! The guard: every protection of ASTA around any [`Broker`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use asta_audit::{AuditError, AuditEvent, AuditLog};
use asta_core::{
    Clock, ErrorCode, ErrorReference, Exchange, InstrumentCatalog, OrderId, OrderRequest, Price,
    PublicCode, PublicError, Quantity, StrategyTag, Symbol, TradingMode,
};
use asta_risk::{
    ApprovalTicket, FillReport, OrderContext, OrderSummary, RiskEngine, RiskEvent, RiskEventKind,
    RiskStatus, TotpVerifier, TradingState,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::sanitize_text;
use crate::risk_audit::risk_event_record;
use crate::{
    Alert, AlertSink, Broker, BrokerError, CancelAllReport, CloseAllReport, Confirm,
    ConfirmRefusal, ConfirmRequest, Funds, ModifyRequest, OrderBookEntry, OrderStatus, Position,
    Quote, Severity, TracingAlertSink, Venue,
};

/// Settings of a [`Guard`], as written in a configuration file.
///
/// Unknown fields are refused. The defaults are the safe ones: sandbox mode,
/// live trading not allowed.
///
/// ```
/// let config: asta_broker::GuardConfig =
///     serde_json::from_str(r#"{"mode": "paper", "check_fills_after_place": false}"#)?;
/// assert_eq!(config.mode, asta_core::TradingMode::Paper);
/// assert!(!config.allow_live_trading);
/// assert!(serde_json::from_str::<asta_broker::GuardConfig>(r#"{"allow_live_trade": true}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GuardConfig {
    /// Where orders may go (default `sandbox`).
    #[serde(default)]
    pub mode: TradingMode,
    /// Must be `true` for live mode, which also needs a per-session
    /// [`Confirm`]ation (default `false`).
    #[serde(default)]
    pub allow_live_trading: bool,
    /// Feed the last price of every quote read through the guard to the
    /// risk engine as a reference price and mark (default `true`).
    #[serde(default = "yes")]
    pub feed_quotes_to_risk: bool,
    /// After a placement, ask the broker for the order's status and record
    /// any fill with the risk engine at once (default `true`).
    #[serde(default = "yes")]
    pub check_fills_after_place: bool,
    /// The strategy tag of the guard's own account-wide requests
    /// (cancel-all and close-all of the emergency stop). Default
    /// [`DEFAULT_CONTROL_STRATEGY`].
    #[serde(default)]
    pub control_strategy: Option<StrategyTag>,
}

fn yes() -> bool {
    true
}

/// The strategy tag of the guard's own requests when none is configured.
pub const DEFAULT_CONTROL_STRATEGY: &str = "asta-guard";

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            mode: TradingMode::default(),
            allow_live_trading: false,
            feed_quotes_to_risk: true,
            check_fills_after_place: true,
            control_strategy: None,
        }
    }
}

/// Why a [`Guard`] refused to be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardBuildErrorKind {
    /// The broker's venue is not allowed in the configured mode (sandbox
    /// accepts only simulated brokers; paper also simulated brokers reading
    /// live quotes).
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
    /// Sandbox mode refuses an external broker rather than silently routing
    /// orders elsewhere: a configuration mistake should stop the program,
    /// not change where orders go.
    pub async fn build(self) -> Result<Guard<B>, GuardBuildError> {
        let venue = self.inner.venue();
        let mode = self.config.mode;
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
        };
        if let Err(error) = control {
            let kind = GuardBuildErrorKind::InvalidConfig {
                detail: error.to_string(),
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
        if mode == TradingMode::Live {
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
        let state = guard.trading_state();
        let started = AuditEvent::system(
            "guard_started",
            json!({
                "mode": mode.to_string(),
                "venue": venue.as_str(),
                "live_confirmed": mode == TradingMode::Live,
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

fn mode_allows(mode: TradingMode, venue: Venue) -> Result<(), GuardBuildErrorKind> {
    let allowed = match mode {
        TradingMode::Sandbox => venue == Venue::Simulated,
        TradingMode::Paper => venue.is_simulated(),
        TradingMode::Live => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(GuardBuildErrorKind::ModeMismatch { mode, venue })
    }
}

/// A placement whose outcome is unknown: its approval stays pending in the
/// risk engine until [`Guard::sync`] finds the order in the book.
#[derive(Debug, Clone)]
struct Unresolved {
    ticket: ApprovalTicket,
    order: OrderRequest,
    attempted_at: DateTime<Utc>,
}

/// What the guard knows about an order it placed, to feed fills once.
#[derive(Debug, Clone)]
struct Tracked {
    strategy: StrategyTag,
    order: Option<OrderRequest>,
    filled: u64,
    average: Option<Price>,
}

/// What [`Guard::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SyncReport {
    /// Fills recorded with the risk engine.
    pub fills_recorded: usize,
    /// Orders that reached a final state and were closed in the risk engine.
    pub orders_closed: usize,
    /// Position marks fed to the risk engine.
    pub marks_updated: usize,
    /// Placements with an unknown outcome that were found in the order book
    /// (now open orders in the risk engine).
    pub unknown_resolved: usize,
    /// Placements with an unknown outcome still not found: their approvals
    /// stay pending (counted as open) until found or an operator acts.
    pub unknown_pending: usize,
    /// The account's trading state afterwards.
    pub trading_state: TradingState,
    /// Broker calls that failed (each recorded in the audit trail under the
    /// reference it carries).
    #[serde(skip)]
    pub failures: Vec<BrokerError>,
}

/// Wraps any [`Broker`] with every protection of ASTA; implements
/// [`Broker`] itself, so a strategy cannot tell it from a bare broker and
/// guards compose (tower style: the inner broker is private, reachable only
/// through [`get_ref`](Self::get_ref) and [`into_inner`](Self::into_inner)).
///
/// # Order of checks (place)
///
/// 1. **Instrument**: asta-core's [`InstrumentCatalog::check_order`]
///    (known instrument, lot multiple, freeze quantity, tick grid, band);
/// 2. **Mode gate**: the broker's [`venue`](Broker::venue) still suits the
///    mode, and live mode was confirmed this session;
/// 3. **Trading state**: HALTED (account or strategy) refuses everything but
///    cancels;
/// 4. **Risk decision**: [`RiskEngine::check_order`] (hours, collar, limits,
///    daily loss, rate limits...); its events are written to the audit trail;
/// 5. **Durable intent**: an `ORDER place_intent` record is appended and
///    fdatasync'd. Only after it returns `Ok` may the order leave. If it
///    fails, nothing is sent, the approval is released and trading halts
///    (`report_audit_failure`, latched) with a critical alert;
/// 6. **Inner call**: the wrapped broker's `place_order`;
/// 7. **Outcome**: `ORDER place_accepted`, or an `ERROR` record with a
///    fresh reference;
/// 8. **Risk state**: `order_opened` on success; `release_approval` when the
///    order was definitely not placed; additionally `report_auth_failure`
///    (halt) on [`BrokerError::AuthFailed`]; an unknown outcome keeps the
///    approval pending (it may be at the exchange: it keeps counting as
///    open), raises a critical alert, and is looked for in the order book by
///    every [`sync`](Self::sync) until found. Then, if configured, the
///    order's status is read and any fill recorded.
///
/// If any of steps 1–5 fails, **the inner broker is not called at all**, and
/// the refusal is recorded under a fresh [`ErrorReference`] carried by the
/// returned [`BrokerError::Refused`].
///
/// # Other calls
///
/// - **Modify**: instrument rules for the new content, mode gate, trading
///   state, [`RiskEngine::check_modify`], durable intent, inner call,
///   outcome, risk update (on a definite refusal the risk engine's record is
///   put back to the old content).
/// - **Cancel**, **cancel all**, **close all** pass in every trading state,
///   HALTED included (they cut risk). Each has an intent and an outcome
///   record; if the intent cannot be written the cancel is still sent (and
///   trading halts), because refusing to cut risk is the worse failure. A
///   configured cancel rate limit ([`RiskEngine::check_cancel`]) still
///   applies to single cancels.
/// - **Read-only** calls (`order_status`, `order_book`, `positions`,
///   `funds`, `quote`) pass through; a quote feeds the risk engine's
///   reference price and mark, an order status of a tracked order records
///   its new fills.
///
/// # Errors
///
/// Every error returned carries an audit reference
/// ([`BrokerError::reference`]): guard refusals are [`BrokerError::Refused`],
/// broker errors come back as [`BrokerError::Referenced`] after an `ERROR`
/// record with the detail was appended. [`BrokerError::public_error`] (or
/// [`Guard::public_error`]) gives the user-facing [`PublicError`] with that
/// reference. Only when the audit trail itself has failed is a reference
/// not found in it (the failure halts trading and is logged with the
/// reference instead).
///
/// # Feeding the risk engine
///
/// Fills and marks reach the risk engine through: the status check after a
/// placement, [`order_status`](Broker::order_status) of a tracked order,
/// [`quote`](Broker::quote), [`on_quote`](Self::on_quote) and
/// [`sync`](Self::sync) (call it periodically: it polls tracked orders and
/// positions). Orders placed by another process or before a restart are not
/// tracked; reconcile them before resetting a halt.
///
/// # Concurrency
///
/// The risk engine sits behind a `std` mutex locked only for short
/// synchronous sections, never across an `.await`.
pub struct Guard<B> {
    pub(crate) inner: B,
    catalog: Arc<InstrumentCatalog>,
    risk: Mutex<RiskEngine>,
    pub(crate) audit: AuditLog,
    pub(crate) clock: Arc<dyn Clock>,
    alerts: Arc<dyn AlertSink>,
    pub(crate) config: GuardConfig,
    live_confirmed: AtomicBool,
    audit_failed: AtomicBool,
    tracked: Mutex<HashMap<OrderId, Tracked>>,
    unresolved: Mutex<Vec<Unresolved>>,
    control: Option<StrategyTag>,
    in_flight: AtomicUsize,
}

/// Counts a placement or modification while the inner broker has it
/// (decremented on drop, so a cancelled future is counted out too).
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<B: Broker> fmt::Debug for Guard<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("venue", &self.inner.venue())
            .field("config", &self.config)
            .field("audit", &self.audit)
            .finish_non_exhaustive()
    }
}

/// Where in the pipeline a request was refused (recorded in the audit trail).
#[derive(Debug, Clone, Copy)]
enum Stage {
    Instrument,
    Mode,
    TradingState,
    Risk,
    Audit,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Instrument => "INSTRUMENT",
            Stage::Mode => "MODE",
            Stage::TradingState => "TRADING_STATE",
            Stage::Risk => "RISK",
            Stage::Audit => "AUDIT",
        }
    }
}

fn summary(order: &OrderRequest) -> Value {
    serde_json::to_value(OrderSummary::from(order)).unwrap_or_default()
}

/// An operator name safe to record (asta-risk's rule), or `<invalid>`.
pub(crate) fn shown_operator(operator: &str) -> String {
    let valid = !operator.is_empty()
        && operator.len() <= 64
        && operator
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if valid {
        operator.to_owned()
    } else {
        "<invalid>".to_owned()
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
        }
    }

    /// The wrapped broker (for inspection; calls on it bypass every check).
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Unwraps the broker, dropping the guard.
    pub fn into_inner(self) -> B {
        self.inner
    }

    /// The configuration in force.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// The audit trail.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// The account's trading state.
    pub fn trading_state(&self) -> TradingState {
        self.lock_risk().trading_state()
    }

    /// The risk engine's operator snapshot.
    pub fn risk_status(&self) -> RiskStatus {
        self.lock_risk().status()
    }

    /// Runs `f` on the risk engine (under its lock, synchronously), then
    /// writes the events it produced to the audit trail.
    pub async fn with_risk<R>(&self, f: impl FnOnce(&mut RiskEngine) -> R) -> R {
        let (result, events) = self.risk_call(f);
        self.audit_events(events).await;
        result
    }

    /// Feeds a last traded price to the risk engine (reference price and
    /// mark; a falling mark can trip the daily-loss breaker) and records
    /// the resulting events.
    pub async fn on_quote(&self, exchange: Exchange, symbol: &Symbol, last_price: Price) {
        self.with_risk(|risk| risk.update_quote(exchange, symbol, last_price))
            .await;
    }

    /// Pulls what the broker knows into the risk engine: placements whose
    /// outcome was unknown are looked up in the order book (same strategy,
    /// exchange, symbol, side, product, quantity and prices, placed at or
    /// after the attempt, not already known; the strategy too when the broker
    /// reports it; a match becomes an open order
    /// with its approval); the status of every
    /// order the guard tracks (new fills are recorded, final orders closed)
    /// and every open position's last price (as a mark, which can trip the
    /// daily-loss breaker). Events are recorded; a breaker trip raises a
    /// critical alert. Call it periodically.
    pub async fn sync(&self) -> SyncReport {
        let mut report = SyncReport {
            fills_recorded: 0,
            orders_closed: 0,
            marks_updated: 0,
            unknown_resolved: 0,
            unknown_pending: 0,
            trading_state: TradingState::Active,
            failures: Vec::new(),
        };
        self.resolve_unknown(&mut report).await;
        let ids: Vec<(OrderId, StrategyTag)> = self
            .lock_tracked()
            .iter()
            .map(|(id, t)| (id.clone(), t.strategy.clone()))
            .collect();
        for (id, strategy) in ids {
            match self.inner.order_status(&strategy, &id).await {
                Ok(status) => {
                    let (filled, closed) = self.apply_status(&status).await;
                    report.fills_recorded += usize::from(filled);
                    report.orders_closed += usize::from(closed);
                }
                Err(error) => {
                    let subject = json!({"order_id": id.as_str()});
                    report.failures.push(
                        self.broker_error("order_status", error, subject, None)
                            .await,
                    );
                }
            }
        }
        match self.inner.positions().await {
            Ok(positions) => {
                let marks: Vec<(Exchange, Symbol, Price)> = positions
                    .iter()
                    .filter(|p| !p.is_flat())
                    .filter_map(|p| {
                        p.last_price()
                            .map(|ltp| (p.exchange(), p.symbol().clone(), ltp))
                    })
                    .collect();
                report.marks_updated = marks.len();
                self.with_risk(|risk| {
                    for (exchange, symbol, price) in &marks {
                        risk.update_quote(*exchange, symbol, *price);
                    }
                })
                .await;
            }
            Err(error) => {
                report.failures.push(
                    self.broker_error("positions", error, Value::Null, None)
                        .await,
                );
            }
        }
        report.trading_state = self.trading_state();
        report
    }

    /// The user-facing face of `error`, with a reference that is in the
    /// audit trail: an error from this guard already carries one; any other
    /// error is recorded now (an `ERROR` record with its detail) under a
    /// fresh reference.
    pub async fn public_error(&self, error: &BrokerError) -> PublicError {
        if let Some(reference) = error.reference() {
            return PublicError::with_reference(error.public_code(), reference.clone());
        }
        let reference = ErrorReference::generate();
        let event = AuditEvent::error(
            reference.clone(),
            "error_reported",
            json!({"detail": error.to_string(), "code": error.public_code().as_str()}),
        );
        self.record(event).await;
        PublicError::with_reference(error.public_code(), reference)
    }

    /// Leaves HALTED (or REDUCING) for ACTIVE through the risk engine's
    /// TOTP-authorized reset ([`RiskEngine::reset`]).
    ///
    /// Refused (with a `Refused` error whose reference is in the audit
    /// trail) when the audit trail is unavailable, the operator name is
    /// invalid, the code is wrong or reused, or the breaker's condition
    /// persists. Every attempt is recorded (SECURITY); the code never is.
    pub async fn reset(
        &self,
        operator: &str,
        totp_code: &str,
        verifier: &(dyn TotpVerifier + Sync),
    ) -> Result<(), BrokerError> {
        let operator_shown = shown_operator(operator);
        if let Some(detail) = self.audit.poison_reason() {
            let reason = format!("the audit trail is unavailable ({detail}); trading stays halted");
            return Err(self
                .refuse_event(
                    AuditEvent::security(
                        "reset_refused",
                        json!({"operator": operator_shown, "reason": reason}),
                    ),
                    ErrorCode::Halted,
                    reason,
                )
                .await);
        }
        let (result, events) = self.risk_call(|risk| risk.reset(operator, totp_code, verifier));
        self.audit_events(events).await;
        match result {
            Ok(()) => {
                self.audit_failed.store(false, Ordering::Release);
                let event = AuditEvent::security(
                    "trading_reset",
                    json!({"operator": operator_shown, "trading_state": self.trading_state().to_string()}),
                )
                .with_actor(operator_shown.clone());
                self.record(event).await;
                self.alert(
                    Alert::new(
                        Severity::Warning,
                        "trading_reset",
                        "trading state reset by an operator",
                        self.clock.now(),
                    )
                    .field("operator", &operator_shown),
                )
                .await;
                Ok(())
            }
            Err(error) => {
                let reason = error.to_string();
                Err(self
                    .refuse_event(
                        AuditEvent::security(
                            "reset_refused",
                            json!({"operator": operator_shown, "reason": reason}),
                        ),
                        error.public_code(),
                        reason,
                    )
                    .await)
            }
        }
    }

    // ----- internals -------------------------------------------------------

    /// Looks for the orders of unknown-outcome placements in the order book.
    async fn resolve_unknown(&self, report: &mut SyncReport) {
        let pending: Vec<Unresolved> = self
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if pending.is_empty() {
            return;
        }
        let book = match self.inner.order_book().await {
            Ok(book) => book,
            Err(error) => {
                report.unknown_pending = pending.len();
                report.failures.push(
                    self.broker_error("order_book", error, Value::Null, None)
                        .await,
                );
                return;
            }
        };
        let mut claimed: Vec<OrderId> = self.lock_tracked().keys().cloned().collect();
        let mut still = Vec::new();
        for item in pending {
            let found = book.iter().find(|status| {
                !claimed.contains(status.order_id()) && matches_order(status, &item)
            });
            let Some(status) = found else {
                still.push(item);
                continue;
            };
            let id = status.order_id().clone();
            claimed.push(id.clone());
            let strategy = item.order.strategy().clone();
            self.record(AuditEvent::order(
                "place_reconciled",
                strategy.as_str(),
                json!({"order_id": id.as_str(), "ticket": item.ticket.get(), "order": summary(&item.order)}),
            ))
            .await;
            let (_, events) = self
                .risk_call(|risk| risk.order_opened(id.clone(), &item.order, Some(item.ticket)));
            self.audit_events(events).await;
            self.track(id, strategy, Some(item.order.clone()));
            report.unknown_resolved += 1;
        }
        report.unknown_pending = still.len();
        *self
            .unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = still;
    }

    /// Placements and modifications the inner broker is handling right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The tag of the guard's own account-wide requests.
    pub(crate) fn control_strategy(&self) -> Option<&StrategyTag> {
        self.control.as_ref()
    }

    /// Records a refused build (SECURITY, fresh reference) and returns the error.
    async fn build_refused(&self, kind: GuardBuildErrorKind) -> GuardBuildError {
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

    pub(crate) fn lock_risk(&self) -> MutexGuard<'_, RiskEngine> {
        self.risk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_tracked(&self) -> MutexGuard<'_, HashMap<OrderId, Tracked>> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the engine and drains its events, in one short section.
    pub(crate) fn risk_call<R>(&self, f: impl FnOnce(&mut RiskEngine) -> R) -> (R, Vec<RiskEvent>) {
        let mut risk = self.lock_risk();
        let result = f(&mut risk);
        let events = risk.drain_events();
        (result, events)
    }

    /// Appends `event`; on failure halts trading (once per failure episode)
    /// and returns `false`.
    pub(crate) async fn record(&self, event: AuditEvent) -> bool {
        match self.audit.append_async(event).await {
            Ok(_) => true,
            Err(error) => {
                self.on_audit_failure(&error).await;
                false
            }
        }
    }

    /// The audit trail failed: halt (latched, persisted by the risk engine)
    /// and alert. The events of the halt cannot be audited; they are logged.
    pub(crate) async fn on_audit_failure(&self, error: &AuditError) {
        let detail = format!("audit append failed: {error}");
        tracing::error!(target: "asta_broker::guard", %detail, "audit trail failed; trading halted");
        if self.audit_failed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (_, events) = self.risk_call(|risk| risk.report_audit_failure(&detail));
        log_unaudited(events);
        self.alert(
            Alert::new(
                Severity::Critical,
                "audit_failure",
                "the audit trail cannot be written; trading is halted",
                self.clock.now(),
            )
            .field("detail", &detail),
        )
        .await;
    }

    /// Writes risk events to the audit trail (RISK or SECURITY as each says)
    /// and alerts on breaker trips and unusual orders.
    pub(crate) async fn audit_events(&self, events: Vec<RiskEvent>) {
        for event in events {
            let record = risk_event_record(&event);
            let now = self.clock.now();
            let alert = match &event.kind {
                RiskEventKind::BreakerTripped {
                    breaker, detail, ..
                } => Some(
                    Alert::new(
                        Severity::Critical,
                        "breaker_tripped",
                        "a risk breaker tripped; trading is halted",
                        now,
                    )
                    .field("breaker", &breaker.to_string())
                    .field("detail", detail),
                ),
                RiskEventKind::UnusualOrder { alert, detail, .. } => Some(
                    Alert::new(
                        Severity::Warning,
                        "unusual_order",
                        "the security monitor flagged an order",
                        now,
                    )
                    .field("alert", &format!("{alert:?}"))
                    .field("detail", detail),
                ),
                RiskEventKind::LoginSourceBlocked { source, .. } => Some(
                    Alert::new(
                        Severity::Warning,
                        "login_source_blocked",
                        "a login source was blocked",
                        now,
                    )
                    .field("source", source),
                ),
                _ => None,
            };
            if !self.record(record).await {
                // The trail failed: the rest of the events are logged by the halt.
                continue;
            }
            if let Some(alert) = alert {
                self.alert(alert).await;
            }
        }
    }

    pub(crate) async fn alert(&self, alert: Alert) {
        if let Err(error) = self.alerts.send(&alert).await {
            tracing::warn!(target: "asta_broker::guard", kind = alert.kind(), %error, "alert not delivered");
        }
    }

    pub(crate) async fn send_alert(&self, alert: Alert) -> bool {
        match self.alerts.send(&alert).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(target: "asta_broker::guard", kind = alert.kind(), %error, "alert not delivered");
                false
            }
        }
    }

    /// Records a refusal under a fresh reference and returns the error.
    async fn refuse_event(
        &self,
        event: AuditEvent,
        code: ErrorCode,
        reason: String,
    ) -> BrokerError {
        let reference = ErrorReference::generate();
        let event = event
            .with_reference(reference.clone())
            .with_detail("code", code.as_str());
        if !self.record(event).await {
            tracing::error!(target: "asta_broker::guard", %reference, %reason, "refusal could not be audited");
        }
        BrokerError::Refused {
            code,
            reason: sanitize_text(&reason, crate::MAX_REASON_CHARS * 2),
            reference,
        }
    }

    /// Records a refused order request (`{action}_refused`).
    async fn refuse(
        &self,
        action: &str,
        stage: Stage,
        code: ErrorCode,
        reason: String,
        strategy: &StrategyTag,
        subject: Value,
    ) -> BrokerError {
        let event = AuditEvent::order(
            format!("{action}_refused"),
            strategy.as_str(),
            json!({"stage": stage.as_str(), "reason": reason, "request": subject}),
        );
        self.refuse_event(event, code, reason).await
    }

    /// Records an inner-broker error under a fresh reference (an `ERROR`
    /// record with the detail) and wraps it.
    pub(crate) async fn broker_error(
        &self,
        op: &str,
        error: BrokerError,
        subject: Value,
        strategy: Option<&StrategyTag>,
    ) -> BrokerError {
        let reference = ErrorReference::generate();
        let mut event = AuditEvent::error(
            reference.clone(),
            format!("{op}_failed"),
            json!({
                "detail": error.to_string(),
                "code": error.public_code().as_str(),
                "definitely_not_placed": error.definitely_not_placed(),
                "request": subject,
            }),
        );
        if let Some(strategy) = strategy {
            event = event.with_strategy(strategy.as_str());
        }
        if !self.record(event).await {
            tracing::error!(target: "asta_broker::guard", %reference, %error, "broker error could not be audited");
        }
        BrokerError::Referenced {
            reference,
            error: Box::new(error),
        }
    }

    /// The mode gate at call time (defence in depth: `build` checked it).
    fn mode_gate(&self) -> Result<(), String> {
        let venue = self.inner.venue();
        mode_allows(self.config.mode, venue).map_err(|kind| kind.to_string())?;
        if self.config.mode == TradingMode::Live
            && !(self.config.allow_live_trading && self.live_confirmed.load(Ordering::Acquire))
        {
            return Err("live trading was not allowed and confirmed for this session".to_owned());
        }
        Ok(())
    }

    /// Steps 1–3 for new content: instrument, mode gate, trading state.
    fn precheck(&self, order: &OrderRequest) -> Result<(), (Stage, ErrorCode, String)> {
        if let Err(error) = self.catalog.check_order(order) {
            return Err((
                Stage::Instrument,
                ErrorCode::InvalidInput,
                error.to_string(),
            ));
        }
        if let Err(reason) = self.mode_gate() {
            return Err((Stage::Mode, ErrorCode::PermissionDenied, reason));
        }
        if self.risk.is_poisoned() {
            // A panic interrupted a risk update: its state is not trusted.
            return Err((
                Stage::TradingState,
                ErrorCode::Halted,
                "the risk engine's state is not trusted after an internal panic; only cancels are accepted until restart".to_owned(),
            ));
        }
        let state = self.lock_risk().strategy_state(order.strategy());
        if state == TradingState::Halted {
            return Err((
                Stage::TradingState,
                ErrorCode::Halted,
                format!(
                    "trading is halted for strategy {} or the account; only cancels are accepted",
                    order.strategy()
                ),
            ));
        }
        Ok(())
    }

    /// Records the new fills shown by `status` for a tracked order, and
    /// closes it in the risk engine once final. Returns (filled, closed).
    pub(crate) async fn apply_status(&self, status: &OrderStatus) -> (bool, bool) {
        let id = status.order_id();
        let (fill, closed, strategy) = {
            let mut tracked = self.lock_tracked();
            let Some(entry) = tracked.get_mut(id) else {
                return (false, false);
            };
            let filled = status.filled_quantity();
            let fill = match (filled.checked_sub(entry.filled), status.average_price()) {
                (Some(delta), Some(average)) if delta > 0 => {
                    let price =
                        incremental_price(entry.filled, entry.average, filled, average, delta);
                    entry.filled = filled;
                    entry.average = Some(average);
                    Quantity::new(delta).ok().map(|quantity| FillReport {
                        exchange: status.exchange(),
                        symbol: status.symbol().clone(),
                        product: status.product(),
                        side: status.side(),
                        quantity,
                        price,
                        strategy: entry.strategy.clone(),
                        order_id: Some(id.clone()),
                    })
                }
                _ => None,
            };
            let strategy = entry.strategy.clone();
            let closed = status.state().is_final();
            if closed {
                tracked.remove(id);
            }
            (fill, closed, strategy)
        };
        let filled = fill.is_some();
        if let Some(fill) = &fill {
            let event = AuditEvent::trade(
                "fill",
                strategy.as_str(),
                json!({
                    "order_id": id.as_str(),
                    "exchange": fill.exchange.to_string(),
                    "symbol": fill.symbol.as_str(),
                    "product": fill.product.to_string(),
                    "side": fill.side.to_string(),
                    "quantity": fill.quantity.get(),
                    "price": fill.price.to_string(),
                }),
            );
            self.record(event).await;
        }
        let (_, events) = self.risk_call(|risk| {
            if let Some(fill) = &fill {
                risk.record_fill(fill);
            }
            if closed {
                risk.order_closed(id);
            }
        });
        self.audit_events(events).await;
        (filled, closed)
    }

    /// Reads a tracked order's status and applies it (errors are recorded
    /// and otherwise ignored: the next `sync` tries again).
    pub(crate) async fn refresh_order(&self, id: &OrderId) {
        let strategy = match self.lock_tracked().get(id) {
            Some(t) => t.strategy.clone(),
            None => return,
        };
        match self.inner.order_status(&strategy, id).await {
            Ok(status) => {
                self.apply_status(&status).await;
            }
            Err(error) => {
                let subject = json!({"order_id": id.as_str()});
                self.broker_error("order_status", error, subject, Some(&strategy))
                    .await;
            }
        }
    }

    pub(crate) fn track(&self, id: OrderId, strategy: StrategyTag, order: Option<OrderRequest>) {
        self.lock_tracked().insert(
            id,
            Tracked {
                strategy,
                order,
                filled: 0,
                average: None,
            },
        );
    }

    /// After an order left the book by a cancel: record its last fills and
    /// close it (tracked), or just close it in the risk engine (untracked).
    pub(crate) async fn settle_cancelled(&self, id: &OrderId) {
        let tracked = self.lock_tracked().contains_key(id);
        if tracked {
            self.refresh_order(id).await;
        }
        let still_tracked = self.lock_tracked().contains_key(id);
        if !still_tracked {
            let (_, events) = self.risk_call(|risk| risk.order_closed(id));
            self.audit_events(events).await;
        }
    }

    /// Tracks the exit orders of a close-all and records their fills.
    pub(crate) async fn settle_closed(&self, report: &CloseAllReport, strategy: &StrategyTag) {
        for closed in &report.closed {
            if let Some(id) = &closed.exit_order {
                self.track(id.clone(), strategy.clone(), None);
                self.refresh_order(id).await;
            }
        }
    }
}

/// Whether `status` is the order of an unknown-outcome placement.
fn matches_order(status: &OrderStatus, item: &Unresolved) -> bool {
    let order = &item.order;
    status.strategy().is_none_or(|s| s == order.strategy())
        && status.exchange() == order.exchange()
        && status.symbol() == order.symbol()
        && status.side() == order.side()
        && status.product() == order.product()
        && status.quantity() == order.quantity()
        && status.price_type() == order.price_type()
        && status.price() == order.price()
        && status.trigger_price() == order.trigger_price()
        && status.placed_at().is_none_or(|at| at >= item.attempted_at)
}

/// Risk events that cannot go to the failed audit trail go to the log.
fn log_unaudited(events: Vec<RiskEvent>) {
    for event in events {
        let text = serde_json::to_string(&event).unwrap_or_default();
        tracing::error!(target: "asta_broker::guard", event = %text, "risk event not audited (audit trail failed)");
    }
}

/// The price of the newest `delta` filled units, from the cumulative
/// average before and after (exact integer arithmetic; falls back to the new
/// average if the broker's numbers are inconsistent).
fn incremental_price(
    old_filled: u64,
    old_average: Option<Price>,
    new_filled: u64,
    new_average: Price,
    delta: u64,
) -> Price {
    let old_total = i128::from(old_filled) * i128::from(old_average.map_or(0, Price::units));
    let new_total = i128::from(new_filled) * i128::from(new_average.units());
    let units = (new_total - old_total) / i128::from(delta.max(1));
    i64::try_from(units)
        .ok()
        .and_then(|u| Price::from_units(u).ok())
        .filter(|p| *p != Price::ZERO)
        .unwrap_or(new_average)
}

#[async_trait]
impl<B: Broker> Broker for Guard<B> {
    async fn place_order(&self, order: &OrderRequest) -> Result<OrderId, BrokerError> {
        let strategy = order.strategy();
        // 1-3: instrument, mode gate, trading state.
        if let Err((stage, code, reason)) = self.precheck(order) {
            return Err(self
                .refuse("place", stage, code, reason, strategy, summary(order))
                .await);
        }
        // 4: risk decision; its events are audited whatever it decided.
        let (decision, events) =
            self.risk_call(|risk| risk.check_order(order, &OrderContext::new()));
        self.audit_events(events).await;
        let approval = match decision {
            Ok(approval) => approval,
            Err(rejection) => {
                let code = rejection.public_code();
                let reason = rejection.to_string();
                let subject = json!({"order": summary(order), "rule": rejection.rule()});
                return Err(self
                    .refuse("place", Stage::Risk, code, reason, strategy, subject)
                    .await);
            }
        };
        // 5: the durable intent; nothing leaves unless it is on disk.
        let intent = AuditEvent::order(
            "place_intent",
            strategy.as_str(),
            json!({
                "order": summary(order),
                "ticket": approval.ticket.get(),
                "notional": approval.notional.to_string(),
                "mode": self.config.mode.to_string(),
            }),
        );
        if let Err(error) = self.audit.append_async(intent).await {
            let (_, events) = self.risk_call(|risk| risk.release_approval(approval.ticket));
            log_unaudited(events);
            self.on_audit_failure(&error).await;
            let reference = ErrorReference::generate();
            let reason = "the order intent could not be written to the audit trail; nothing was sent and trading is halted".to_owned();
            tracing::error!(target: "asta_broker::guard", %reference, %error, stage = Stage::Audit.as_str(), "order refused: intent not durable");
            return Err(BrokerError::Refused {
                code: ErrorCode::Halted,
                reason,
                reference,
            });
        }
        // 6: the inner call.
        let attempted_at = self.clock.now();
        let in_flight = InFlight::enter(&self.in_flight);
        let placed = self.inner.place_order(order).await;
        drop(in_flight);
        match placed {
            Ok(id) => {
                // 7-8: outcome, then risk state.
                self.record(AuditEvent::order(
                    "place_accepted",
                    strategy.as_str(),
                    json!({"order_id": id.as_str(), "ticket": approval.ticket.get(), "order": summary(order)}),
                ))
                .await;
                let (_, events) = self
                    .risk_call(|risk| risk.order_opened(id.clone(), order, Some(approval.ticket)));
                self.audit_events(events).await;
                self.track(id.clone(), strategy.clone(), Some(order.clone()));
                if self.config.check_fills_after_place {
                    self.refresh_order(&id).await;
                }
                Ok(id)
            }
            Err(error) => {
                let subject = json!({"order": summary(order), "ticket": approval.ticket.get()});
                let root = error.root().clone();
                let wrapped = self
                    .broker_error("place", error, subject, Some(strategy))
                    .await;
                if root.definitely_not_placed() {
                    let (_, events) = self.risk_call(|risk| {
                        risk.release_approval(approval.ticket);
                        if let BrokerError::AuthFailed { reason } = &root {
                            risk.report_auth_failure(&format!(
                                "broker refused authentication: {reason}"
                            ));
                        }
                    });
                    self.audit_events(events).await;
                } else {
                    self.unresolved
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Unresolved {
                            ticket: approval.ticket,
                            order: order.clone(),
                            attempted_at,
                        });
                    self.alert(
                        Alert::new(
                            Severity::Critical,
                            "outcome_unknown",
                            "an order may or may not be at the exchange; reconcile before trading on",
                            self.clock.now(),
                        )
                        .field("symbol", order.symbol().as_str())
                        .field("strategy", strategy.as_str())
                        .field("reference", wrapped.reference().map_or("", ErrorReference::as_str)),
                    )
                    .await;
                }
                Err(wrapped)
            }
        }
    }

    async fn modify_order(&self, request: &ModifyRequest) -> Result<OrderId, BrokerError> {
        let new = request.order();
        let strategy = new.strategy();
        let old_id = request.order_id();
        let subject = json!({"order_id": old_id.as_str(), "order": summary(new)});
        if let Err((stage, code, reason)) = self.precheck(new) {
            return Err(self
                .refuse("modify", stage, code, reason, strategy, subject)
                .await);
        }
        let (decision, events) =
            self.risk_call(|risk| risk.check_modify(old_id, new, &OrderContext::new()));
        self.audit_events(events).await;
        if let Err(rejection) = decision {
            let code = rejection.public_code();
            let reason = rejection.to_string();
            return Err(self
                .refuse("modify", Stage::Risk, code, reason, strategy, subject)
                .await);
        }
        let previous = self
            .lock_tracked()
            .get(old_id)
            .and_then(|t| t.order.clone());
        let intent = AuditEvent::order("modify_intent", strategy.as_str(), subject.clone());
        if let Err(error) = self.audit.append_async(intent).await {
            self.on_audit_failure(&error).await;
            if let Some(previous) = &previous {
                let (_, events) =
                    self.risk_call(|risk| risk.order_opened(old_id.clone(), previous, None));
                log_unaudited(events);
            }
            let reference = ErrorReference::generate();
            tracing::error!(target: "asta_broker::guard", %reference, %error, "modification refused: intent not durable");
            return Err(BrokerError::Refused {
                code: ErrorCode::Halted,
                reason: "the modification intent could not be written to the audit trail; nothing was sent and trading is halted".to_owned(),
                reference,
            });
        }
        let in_flight = InFlight::enter(&self.in_flight);
        let modified = self.inner.modify_order(request).await;
        drop(in_flight);
        match modified {
            Ok(new_id) => {
                self.record(AuditEvent::order(
                    "modify_accepted",
                    strategy.as_str(),
                    json!({"order_id": old_id.as_str(), "new_order_id": new_id.as_str(), "order": summary(new)}),
                ))
                .await;
                let (_, events) = self.risk_call(|risk| {
                    if &new_id != old_id {
                        risk.order_closed(old_id);
                    }
                    risk.order_opened(new_id.clone(), new, None);
                });
                self.audit_events(events).await;
                {
                    let mut tracked = self.lock_tracked();
                    let entry = tracked.remove(old_id);
                    let (filled, average) = entry.map_or((0, None), |t| (t.filled, t.average));
                    tracked.insert(
                        new_id.clone(),
                        Tracked {
                            strategy: strategy.clone(),
                            order: Some(new.clone()),
                            filled,
                            average,
                        },
                    );
                }
                if self.config.check_fills_after_place {
                    self.refresh_order(&new_id).await;
                }
                Ok(new_id)
            }
            Err(error) => {
                let root = error.root().clone();
                let wrapped = self
                    .broker_error("modify", error, subject, Some(strategy))
                    .await;
                if root.definitely_not_placed()
                    && let Some(previous) = &previous
                {
                    // The broker kept the old content: put the risk record back.
                    let (_, events) =
                        self.risk_call(|risk| risk.order_opened(old_id.clone(), previous, None));
                    self.audit_events(events).await;
                }
                if let BrokerError::AuthFailed { reason } = &root {
                    let detail = format!("broker refused authentication: {reason}");
                    let (_, events) = self.risk_call(|risk| risk.report_auth_failure(&detail));
                    self.audit_events(events).await;
                }
                Err(wrapped)
            }
        }
    }

    async fn cancel_order(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<(), BrokerError> {
        let subject = json!({"order_id": order_id.as_str()});
        let (decision, events) = self.risk_call(|risk| risk.check_cancel(order_id));
        self.audit_events(events).await;
        if let Err(rejection) = decision {
            let code = rejection.public_code();
            let reason = rejection.to_string();
            return Err(self
                .refuse("cancel", Stage::Risk, code, reason, strategy, subject)
                .await);
        }
        // A cancel cuts risk: it goes out even if its intent cannot be recorded.
        self.record(AuditEvent::order(
            "cancel_intent",
            strategy.as_str(),
            subject.clone(),
        ))
        .await;
        match self.inner.cancel_order(strategy, order_id).await {
            Ok(()) => {
                self.record(AuditEvent::order(
                    "cancel_accepted",
                    strategy.as_str(),
                    subject,
                ))
                .await;
                self.settle_cancelled(order_id).await;
                Ok(())
            }
            Err(error) => Err(self
                .broker_error("cancel", error, subject, Some(strategy))
                .await),
        }
    }

    async fn cancel_all_orders(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError> {
        self.record(AuditEvent::order(
            "cancel_all_intent",
            strategy.as_str(),
            Value::Null,
        ))
        .await;
        match self.inner.cancel_all_orders(strategy).await {
            Ok(report) => {
                self.record(AuditEvent::order(
                    "cancel_all_done",
                    strategy.as_str(),
                    cancel_report_json(&report),
                ))
                .await;
                for id in &report.cancelled {
                    self.settle_cancelled(id).await;
                }
                Ok(report)
            }
            Err(error) => Err(self
                .broker_error("cancel_all", error, Value::Null, Some(strategy))
                .await),
        }
    }

    async fn close_all_positions(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CloseAllReport, BrokerError> {
        self.record(AuditEvent::order(
            "close_all_intent",
            strategy.as_str(),
            Value::Null,
        ))
        .await;
        match self.inner.close_all_positions(strategy).await {
            Ok(report) => {
                self.record(AuditEvent::order(
                    "close_all_done",
                    strategy.as_str(),
                    close_report_json(&report),
                ))
                .await;
                self.settle_closed(&report, strategy).await;
                Ok(report)
            }
            Err(error) => Err(self
                .broker_error("close_all", error, Value::Null, Some(strategy))
                .await),
        }
    }

    async fn order_status(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<OrderStatus, BrokerError> {
        match self.inner.order_status(strategy, order_id).await {
            Ok(status) => {
                self.apply_status(&status).await;
                Ok(status)
            }
            Err(error) => Err(self
                .broker_error(
                    "order_status",
                    error,
                    json!({"order_id": order_id.as_str()}),
                    Some(strategy),
                )
                .await),
        }
    }

    async fn order_book(&self) -> Result<Vec<OrderBookEntry>, BrokerError> {
        match self.inner.order_book().await {
            Ok(book) => Ok(book),
            Err(error) => Err(self
                .broker_error("order_book", error, Value::Null, None)
                .await),
        }
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        match self.inner.positions().await {
            Ok(positions) => Ok(positions),
            Err(error) => Err(self
                .broker_error("positions", error, Value::Null, None)
                .await),
        }
    }

    async fn funds(&self) -> Result<Funds, BrokerError> {
        match self.inner.funds().await {
            Ok(funds) => Ok(funds),
            Err(error) => Err(self.broker_error("funds", error, Value::Null, None).await),
        }
    }

    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
        match self.inner.quote(exchange, symbol).await {
            Ok(quote) => {
                if self.config.feed_quotes_to_risk {
                    self.on_quote(exchange, symbol, quote.ltp()).await;
                }
                Ok(quote)
            }
            Err(error) => {
                let subject = json!({"exchange": exchange.to_string(), "symbol": symbol.as_str()});
                Err(self.broker_error("quote", error, subject, None).await)
            }
        }
    }

    /// The wrapped broker's venue: guards compose.
    fn venue(&self) -> Venue {
        self.inner.venue()
    }
}

pub(crate) fn cancel_report_json(report: &CancelAllReport) -> Value {
    json!({
        "cancelled": report.cancelled.iter().map(OrderId::as_str).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|f| json!({"order_id": f.order_id.as_str(), "reason": f.reason})).collect::<Vec<_>>(),
    })
}

pub(crate) fn close_report_json(report: &CloseAllReport) -> Value {
    json!({
        "closed_count": report.closed_count,
        "failed_count": report.failed_count,
        "closed": report.closed.iter().map(|c| json!({
            "exchange": c.key.exchange.to_string(),
            "symbol": c.key.symbol.as_str(),
            "product": c.key.product.to_string(),
            "exit_order": c.exit_order.as_ref().map(OrderId::as_str),
        })).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|f| json!({
            "exchange": f.key.exchange.to_string(),
            "symbol": f.key.symbol.as_str(),
            "reason": f.reason,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_prices_are_exact() {
        let p = |s: &str| s.parse::<Price>().unwrap();
        // 10 @ 100 then 10 more making an average of 101: the new 10 were at 102.
        assert_eq!(
            incremental_price(10, Some(p("100")), 20, p("101"), 10),
            p("102")
        );
        assert_eq!(incremental_price(0, None, 5, p("99.95"), 5), p("99.95"));
        // Inconsistent numbers fall back to the new average.
        assert_eq!(
            incremental_price(10, Some(p("200")), 11, p("100"), 1),
            p("100")
        );
    }

    #[test]
    fn the_mode_gate_fails_closed() {
        assert!(mode_allows(TradingMode::Sandbox, Venue::Simulated).is_ok());
        assert!(mode_allows(TradingMode::Sandbox, Venue::SimulatedWithLiveQuotes).is_err());
        assert!(mode_allows(TradingMode::Sandbox, Venue::External).is_err());
        assert!(mode_allows(TradingMode::Paper, Venue::SimulatedWithLiveQuotes).is_ok());
        assert!(mode_allows(TradingMode::Paper, Venue::External).is_err());
        assert!(mode_allows(TradingMode::Live, Venue::External).is_ok());
        assert_eq!(GuardConfig::default().mode, TradingMode::Sandbox);
        assert!(!GuardConfig::default().allow_live_trading);
    }
}
