//! Pre-trade risk engine for ASTA: decides whether an order may go out, and
//! stops a runaway strategy.
//!
//! [`RiskEngine`] runs every check an order needs before it reaches a broker
//! and fails closed: an unknown instrument, a missing or stale reference
//! price, an unreadable state file or an amount that overflows is a
//! rejection, never a pass. Each rejection is a typed [`Rejection`] that
//! names the rule, the limit and the value, and maps to asta-core's public
//! codes (`RISK_REJECTED`, `RATE_LIMITED`, `HALTED`, `INVALID_INPUT`).
//!
//! - **Checks**: instrument rules through asta-core's
//!   [`InstrumentCatalog`](asta_core::InstrumentCatalog) (lot, freeze, tick,
//!   band); trading hours and the MIS cut-off through
//!   [`MarketCalendar`](asta_core::MarketCalendar); a price collar against a
//!   fresh reference; quantity and notional per order; worst-case position
//!   value per symbol, gross exposure and open orders; the day's loss
//!   (realized plus mark-to-market, IST day); duplicates.
//! - **Exact rate limits** ([`RateLimiter`]): sliding 1-second and
//!   60-second windows plus the IST day, stacked, per account, strategy and
//!   exchange segment; per-order modification caps; deny, never queue;
//!   batches all or nothing.
//! - **Trading state and breakers**: [`TradingState`] ACTIVE / REDUCING /
//!   HALTED for the account and per strategy; breakers (daily loss, rejection
//!   storm, audit failure, broker auth failure, manual halt) latch until an
//!   operator reset authorized by a [`TotpVerifier`].
//! - **Security monitor**: failed-login bursts block a source; unusual orders
//!   (size far above the norm, first symbol, rapid modifications, off hours)
//!   raise alerts that warn or block.
//! - **Events**: every decision and transition is a serializable
//!   [`RiskEvent`] with a RISK or SECURITY category, for the caller's audit
//!   trail (this crate does not depend on asta-audit).
//! - **Durable state**, one of two ways. With a [`StateStore`] the whole
//!   state is saved atomically after each change (an fsync per decision).
//!   A *journaled* engine ([`RiskEngine::restore`]) writes nothing itself:
//!   each call yields a serializable [`JournalEntry`] for the caller's
//!   write-ahead log (the audit trail), [`RiskSnapshot`]s with a SHA-256
//!   digest are taken from time to time, and a restart replays the entries
//!   after the newest confirmed snapshot at their recorded times. Either
//!   way a restart keeps the day's loss, halts and rate windows, and
//!   damage stops the engine from starting instead of resetting it.
//!
//! The key design decision is **exactness over speed tricks**: money is
//! asta-core's integer [`Money`](asta_core::Money), shares are basis points,
//! and rate windows keep every admission instant (bounded by the limit), so
//! "8 per second" means no second anywhere holds 9. There is no float in
//! this crate.
//!
//! # Example
//!
//! One dependency line is enough: asta-core (with its chrono) is
//! re-exported as [`asta_risk::core`](crate::core). The example follows an
//! order through its whole life: the check, the broker's answer (accepted
//! or rejected), the fills, the close.
//!
//! ```
//! use std::sync::Arc;
//! use asta_risk::core::chrono::{TimeZone, Utc};
//! use asta_risk::core::{
//!     Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderId, OrderRequest,
//!     PriceType, Product, Quantity, Side, StrategyTag, Symbol,
//! };
//! use asta_risk::{FillReport, OrderContext, Rejection, RequiredLimits, RiskConfig, RiskEngine, StateStore};
//!
//! let catalog = InstrumentCatalog::from_csv_reader(
//!     "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
//!      NSE,SBIN,0.05,1,,,\n".as_bytes(),
//! )?;
//! // Friday 27 November 2026, 09:30 IST.
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
//! // The limits without a safe default are arguments; the rest have defaults.
//! let config = RiskConfig::builder(RequiredLimits {
//!     capital: Money::from_rupees(1_000_000),
//!     max_order_quantity: 1_000,
//!     max_order_notional: Money::from_rupees(200_000),
//!     max_gross_exposure: Money::from_rupees(2_000_000),
//! })
//! .build()?;
//! let mut engine = RiskEngine::open(
//!     config,
//!     Arc::new(catalog),
//!     Arc::new(MarketCalendar::bundled()?),
//!     Arc::new(clock.clone()),
//!     StateStore::dangerous_in_memory(), // tests only: use StateStore::file in production
//! )?;
//! let sbin = Symbol::new("SBIN")?;
//! engine.update_quote(Exchange::Nse, &sbin, "800".parse()?);
//!
//! let order = OrderRequest::builder()
//!     .symbol(sbin.clone())
//!     .exchange(Exchange::Nse)
//!     .side(Side::Buy)
//!     .price_type(PriceType::Limit)
//!     .product(Product::Cnc)
//!     .quantity(Quantity::new(10)?)
//!     .price("801".parse()?)
//!     .strategy(StrategyTag::new("demo")?)
//!     .build()?;
//!
//! // 1. The check. An approval reserves the order's exposure until step 2.
//! let approval = engine.check_order(&order, &OrderContext::new())?;
//! assert_eq!(approval.notional, Money::from_rupees(8_010));
//!
//! // 2a. The broker accepted it: the reservation becomes an open order.
//! let order_id = OrderId::new("240101000000001")?;
//! engine.order_opened(order_id.clone(), &order, Some(approval.ticket));
//!
//! // 3. Fills, as the broker reports them, then the close.
//! engine.record_fill(&FillReport {
//!     exchange: Exchange::Nse,
//!     symbol: sbin.clone(),
//!     product: Product::Cnc,
//!     side: Side::Buy,
//!     quantity: Quantity::new(10)?,
//!     price: "801".parse()?,
//!     strategy: StrategyTag::new("demo")?,
//!     order_id: Some(order_id.clone()),
//! });
//! engine.order_closed(&order_id);
//!
//! // 2b. A second order that the broker definitely rejected: release its
//! // reservation. (An order whose outcome is unknown is reconciled from
//! // the order book instead, never released.)
//! let second_order = order.to_builder().quantity(Quantity::new(5)?).build()?;
//! let second = engine.check_order(&second_order, &OrderContext::new())?;
//! engine.release_approval(second.ticket);
//!
//! // 10% away from the last price: the fat-finger collar refuses it.
//! let fat = order.to_builder().price("880".parse()?).build()?;
//! let refusal = engine.check_order(&fat, &OrderContext::new()).unwrap_err();
//! assert!(matches!(refusal, Rejection::PriceCollar { .. }));
//! assert_eq!(
//!     refusal.to_string(),
//!     "price 880 is 1000 bps from the reference price 800 of SBIN; the collar is 500 bps"
//! );
//!
//! // After every call: hand the events to the audit trail (the buffer is
//! // bounded, see RiskEngine::drain_events).
//! for event in engine.drain_events() {
//!     let _audit_line = serde_json::to_string(&event)?; // hand to asta-audit
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Journaled mode
//!
//! The audit trail is the write-ahead log; asta-risk does not depend on
//! asta-audit, so the caller moves the entries:
//!
//! ```
//! use std::sync::Arc;
//! use asta_core::{
//!     Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest, PriceType,
//!     Product, Quantity, Side, StrategyTag, Symbol,
//! };
//! use asta_risk::{
//!     JournalEntry, OrderContext, RequiredLimits, RiskConfig, RiskEngine, RiskSnapshot, TradingState,
//! };
//! use chrono::{TimeZone, Utc};
//!
//! let catalog = Arc::new(InstrumentCatalog::from_csv_reader(
//!     "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
//!      NSE,SBIN,0.05,1,,,\n".as_bytes(),
//! )?);
//! let calendar = Arc::new(MarketCalendar::bundled()?);
//! let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()));
//! let config = RiskConfig::builder(RequiredLimits {
//!     capital: Money::from_rupees(1_000_000),
//!     max_order_quantity: 1_000,
//!     max_order_notional: Money::from_rupees(200_000),
//!     max_gross_exposure: Money::from_rupees(2_000_000),
//! })
//!     .build()?;
//! let mut trail: Vec<String> = Vec::new(); // stands in for the audit trail
//!
//! // First start: no snapshot, no entries: a fresh engine (its first entry is START).
//! let (mut engine, _) = RiskEngine::restore(
//!     config.clone(), catalog.clone(), calendar.clone(), clock.clone(), None, Vec::new(),
//! )?;
//! let sbin = Symbol::new("SBIN")?;
//! engine.update_quote(Exchange::Nse, &sbin, "800".parse()?);
//! let snapshot_bytes = engine.snapshot().to_bytes()?; // e.g. every N entries
//! let digest = RiskSnapshot::digest_of(&snapshot_bytes); // recorded in the trail
//! let order = OrderRequest::builder()
//!     .symbol(sbin).exchange(Exchange::Nse).side(Side::Buy).price_type(PriceType::Limit)
//!     .product(Product::Cnc).quantity(Quantity::new(10)?).price("801".parse()?)
//!     .strategy(StrategyTag::new("demo")?).build()?;
//! engine.check_order(&order, &OrderContext::new())?;
//! engine.halt("end of demo");
//! for entry in engine.drain_journal() {
//!     trail.push(serde_json::to_string(&entry)?); // durable before the order leaves
//! }
//!
//! // Restart: the confirmed snapshot plus the entries after it.
//! let snapshot = RiskSnapshot::from_bytes_with_digest(&snapshot_bytes, &digest)?;
//! let entries = trail
//!     .iter()
//!     .map(|line| JournalEntry::from_json(line))
//!     .collect::<Result<Vec<_>, _>>()?;
//! let (restored, report) =
//!     RiskEngine::restore(config, catalog, calendar, clock, Some(snapshot), entries)?;
//! assert!(report.divergences.is_empty());
//! assert_eq!(restored.trading_state(), TradingState::Halted);
//! assert_eq!(restored.snapshot(), engine.snapshot());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Notes
//!
//! - The engine is synchronous and does no I/O on the decision path except
//!   the state save of a store-backed engine (see [`RiskEngine`] for the
//!   persistence trade-off; a journaled engine does none). The caller
//!   serializes access (one mutex) and drains events (and, journaled, the
//!   journal) after each call.
//! - Cancels are always allowed, in every trading state.
//! - The day is the IST calendar day: at IST midnight the daily P&L and
//!   per-day rate counts reset; a latched halt never does.
//! - All time comes from asta-core's [`Clock`](asta_core::Clock); tests drive
//!   a manual clock and never sleep.
//!
//! # Security notes
//!
//! - TOTP codes pass straight to the caller's verifier and are never stored,
//!   logged or put in an event.
//! - Event text carries limits, values and caller-supplied detail; callers
//!   must not put secrets in the detail of `report_audit_failure` /
//!   `report_auth_failure` (asta-audit redacts anyway).
//! - The state file's checksum detects damage, not tampering: protect the
//!   file with file permissions.
//!
//! # Feature flags
//!
//! None.

mod breaker;
mod checks;
mod config;
mod engine;
mod error;
mod events;
mod journal;
mod map_as_vec;
mod monitor;
mod rate_limit;
mod snapshot;
mod state;
mod state_store;
mod trading_state;

/// asta-core, re-exported so that one dependency line is enough: its
/// domain types, clock and calendar, and `asta_risk::core::chrono`.
pub use asta_core as core;

pub use breaker::{BreakerKind, LatchedBreaker, TotpVerifier};
pub use config::{
    AlertAction, BreakerConfig, ConfigError, MonitorConfig, RateLimitConfig, RequiredLimits,
    RiskConfig, RiskConfigBuilder, RiskLimits, SEBI_ORDERS_PER_SECOND, WindowLimits,
};
pub use engine::{
    ApplyOutcome, Approval, ApprovalTicket, CancelApproval, DEFAULT_JOURNAL_LIMIT, Decision,
    Divergence, FillReport, MAX_BUFFERED_EVENTS, ModifyApproval, OrderContext, PositionStatus,
    RateStatus, ReplayReport, RiskEngine, RiskStatus, ScopeStatus,
};
pub use error::{
    AlertKind, JournalError, Rejection, ResetError, RestoreError, SnapshotError, StateError,
    TotpRejection,
};
pub use events::{EventCategory, OrderSummary, RiskEvent, RiskEventKind};
pub use journal::{
    BatchApproval, BatchOutcome, CancelOutcome, JOURNAL_VERSION, JournalEntry, ModifyOutcome,
    OrderOutcome, RecordedRejection, ResetOutcome, RiskInput,
};
pub use monitor::LoginVerdict;
pub use rate_limit::{RateDenial, RateLimiter, RateScope, RateUsage, RateWindow};
pub use snapshot::{RiskSnapshot, SNAPSHOT_FORMAT};
pub use state_store::{STATE_FORMAT, StateStore};
pub use trading_state::{StateScope, TradingState};

#[cfg(test)]
mod tests {
    /// The guard shares the engine across tasks behind a mutex.
    #[test]
    fn the_engine_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::RiskEngine>();
        assert_send_sync::<crate::RiskEvent>();
        assert_send_sync::<crate::Rejection>();
    }
}
