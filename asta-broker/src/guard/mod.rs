//! The guard: every protection of ASTA around any [`Broker`].
//!
//! The files follow the order path, in the order a request meets it:
//!
//! - [`build`]: building a guard (mode gate at start, live confirmation);
//! - [`checks`]: the checks before the risk engine (instrument, mode,
//!   trading state);
//! - [`place`]: a new order, from the risk decision to the outcome;
//! - [`amend`]: modify, cancel, cancel all and close all;
//! - [`sync`]: fills, marks and reconciliation of unknown outcomes;
//! - [`control`]: the operator's actions (reset, flatten, halt marker,
//!   status) and error references;
//! - [`record`]: how everything above is written to the audit trail;
//! - [`journal`]: the risk engine's inputs in the trail, and snapshots.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use asta_audit::{AuditError, AuditEvent, AuditLog, Category, Durability, Wait};
use asta_core::{
    Clock, ErrorCode, ErrorReference, Exchange, InstrumentCatalog, Money, OrderId, OrderRequest,
    Price, PublicCode, PublicError, Quantity, StrategyTag, Symbol, TradingMode,
};
use asta_risk::{
    ApprovalTicket, FillReport, OrderContext, OrderSummary, RiskEngine, RiskEvent, RiskEventKind,
    RiskSnapshot, RiskStatus, TotpVerifier, TradingState,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::sanitize_text;
use crate::risk_audit::risk_event_record;
use crate::risk_log::{JOURNAL_FIELD, SNAPSHOT_ACTION, SnapshotStore};
use crate::{
    Alert, AlertSink, Broker, BrokerError, CancelAllReport, CloseAllReport, Confirm,
    ConfirmRefusal, ConfirmRequest, Funds, Holding, ModifyRequest, OrderBookEntry, OrderStatus,
    Placement, Position, PositionKey, Quote, Severity, SmartOrderOutcome, TracingAlertSink, Trade,
    Venue,
};

mod amend;
mod build;
mod checks;
mod control;
mod journal;
mod place;
mod record;
mod resolve;
mod startup;
mod surface;
mod sync;
mod venue;

use build::mode_allows;
pub use build::{GuardBuildError, GuardBuildErrorKind, GuardBuilder};
use checks::Stage;
use journal::SnapshotPlan;
use record::{accepted_record, intent_record, log_unaudited};
pub(crate) use record::{cancel_report_json, close_report_json};
pub use resolve::{OutcomeDecision, UnresolvedOutcome};
pub use sync::SyncReport;
use sync::{AmendKind, AmendUnknown, Tracked, Unresolved};

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
    /// With the risk state kept in the trail ([`Guard::restored`]): save a
    /// snapshot after this many risk journal entries (default 1,000; at
    /// least 1). More means less snapshot I/O and a longer replay after a
    /// crash.
    #[serde(default = "default_snapshot_entries")]
    pub snapshot_every_entries: u64,
    /// ... and at least this often while entries arrive, in seconds
    /// (default 300).
    #[serde(default = "default_snapshot_secs")]
    pub snapshot_every_secs: u64,
    /// How far before an attempt an order found in the order book may be
    /// timestamped to count as that attempt's, in seconds (default 5; at
    /// least 2 is used: OpenAlgo's timestamps have whole seconds).
    #[serde(default = "default_lookback_secs")]
    pub reconcile_lookback_secs: u64,
}

fn default_lookback_secs() -> u64 {
    5
}

fn default_snapshot_entries() -> u64 {
    1_000
}

fn default_snapshot_secs() -> u64 {
    300
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
            snapshot_every_entries: default_snapshot_entries(),
            snapshot_every_secs: default_snapshot_secs(),
            reconcile_lookback_secs: default_lookback_secs(),
        }
    }
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
///    daily loss, rate limits...); its events are appended to the audit
///    trail, in the engine's order, under the engine's lock;
/// 5. **Durable intent**: an `ORDER place_intent` record, carrying the risk
///    approval's journal entry when the risk state lives in the trail
///    ([`Guard::restored`]), is appended with the decision and made durable:
///    **the one fdatasync an order waits for**. Only after it is on disk may
///    the order leave. If it fails, nothing is sent, the approval is
///    released and trading halts (`report_audit_failure`, latched) with a
///    critical alert;
/// 6. **Inner call**: the wrapped broker's `place_order`;
/// 7. **Outcome**: `ORDER place_accepted` with the risk update
///    (`order_opened`), or an `ERROR` record with a fresh reference. These
///    and every later record (fills, risk events) are appended without
///    waiting: they become durable with the next group commit. A crash
///    before it leaves an intent without an outcome, which a restart
///    reports as an unknown outcome ([`RestoredRisk`](crate::RestoredRisk));
/// 8. **Risk state**: `release_approval` when the order was definitely not
///    placed; additionally `report_auth_failure` (halt) on
///    [`BrokerError::AuthFailed`]; an unknown outcome keeps the approval
///    pending (it may be at the exchange: it keeps counting as open), raises
///    a critical alert, and is looked for in the order book by every
///    [`sync`](Self::sync) until found. Then, if configured, the order's
///    status is read and any fill recorded.
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
    /// The error of a failed staging in `risk_call`, for the next
    /// `audit_events` to act on.
    staging_failure: Mutex<Option<AuditError>>,
    /// When the risk state lives in the trail: where snapshots go.
    snapshots: Option<Arc<Mutex<SnapshotPlan>>>,
    /// One snapshot save at a time.
    snapshot_saving: Arc<tokio::sync::Mutex<()>>,
    /// Modifications and cancels whose outcome is unknown, for `sync`.
    amend_unknown: Mutex<Vec<AmendUnknown>>,
    /// One reconciliation at a time (an order-book entry resolves at most
    /// one unknown, across concurrent syncs too).
    resolving: tokio::sync::Mutex<()>,
    /// The start-up reconciliation (orders and positions the risk engine
    /// does not know) has not run yet.
    startup_pending: AtomicBool,
    /// The halt marker checked before admitting an order.
    halt_marker: Option<crate::control::HaltMarker>,
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

    /// Whether the risk state lives in the audit trail (built with
    /// [`Guard::restored`]) rather than in the risk engine's own store.
    pub fn is_journaled(&self) -> bool {
        self.snapshots.is_some()
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

    /// Feeds several last traded prices in one risk step: one journal
    /// record for all of them instead of one each (a quote feed's tick).
    /// The engine sees them in the given order, exactly as with
    /// [`on_quote`](Self::on_quote) called for each.
    pub async fn on_quotes(&self, quotes: &[(Exchange, Symbol, Price)]) {
        if quotes.is_empty() {
            return;
        }
        self.with_risk(|risk| {
            for (exchange, symbol, last_price) in quotes {
                risk.update_quote(*exchange, symbol, *last_price);
            }
        })
        .await;
    }

    /// Placements and modifications the inner broker is handling right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The tag of the guard's own account-wide requests.
    pub(crate) fn control_strategy(&self) -> Option<&StrategyTag> {
        self.control.as_ref()
    }

    pub(crate) fn lock_risk(&self) -> MutexGuard<'_, RiskEngine> {
        self.risk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_tracked(&self) -> MutexGuard<'_, HashMap<OrderId, Tracked>> {
        self.tracked.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl<B: Broker> Broker for Guard<B> {
    async fn place_order(&self, order: &OrderRequest) -> Result<OrderId, BrokerError> {
        self.guarded_place(order).await
    }

    async fn modify_order(&self, request: &ModifyRequest) -> Result<OrderId, BrokerError> {
        self.guarded_modify(request).await
    }

    async fn cancel_order(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<(), BrokerError> {
        self.guarded_cancel(strategy, order_id).await
    }

    async fn cancel_all_orders(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError> {
        self.guarded_cancel_all(strategy).await
    }

    async fn close_all_positions(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CloseAllReport, BrokerError> {
        self.guarded_close_all(strategy).await
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

    /// Asks the wrapped broker; a mode change halts trading.
    async fn check_venue(&self) -> Result<(), BrokerError> {
        let result = self.inner.check_venue().await;
        self.passthrough("check_venue", Value::Null, result).await
    }

    async fn trade_book(&self) -> Result<Vec<Trade>, BrokerError> {
        self.guarded_trade_book().await
    }

    async fn holdings(&self) -> Result<Vec<Holding>, BrokerError> {
        let result = self.inner.holdings().await;
        self.passthrough("holdings", Value::Null, result).await
    }

    async fn open_position(
        &self,
        strategy: &StrategyTag,
        key: &PositionKey,
    ) -> Result<i64, BrokerError> {
        let result = self.inner.open_position(strategy, key).await;
        let subject = json!({"exchange": key.exchange.to_string(), "symbol": key.symbol.as_str()});
        self.passthrough("open_position", subject, result).await
    }

    async fn place_smart_order(
        &self,
        order: &OrderRequest,
        target: i64,
    ) -> Result<SmartOrderOutcome, BrokerError> {
        self.guarded_smart_order(order, target).await
    }

    async fn close_position(
        &self,
        strategy: &StrategyTag,
        key: &PositionKey,
    ) -> Result<SmartOrderOutcome, BrokerError> {
        self.guarded_close_position(strategy, key).await
    }

    async fn place_basket(
        &self,
        orders: &[OrderRequest],
    ) -> Result<Vec<Result<OrderId, BrokerError>>, BrokerError> {
        self.guarded_basket(orders).await
    }
}
