//! Where ASTA's orders go: the [`Broker`] trait, its sandbox, paper and
//! OpenAlgo adapters, the [`Guard`] that puts every protection of ASTA in
//! front of any of them, the emergency stop, and the alert sinks that tell a
//! human when something needs attention.
//!
//! Every venue implements one object-safe async trait, [`Broker`], so a
//! strategy written against `Arc<dyn Broker>` runs unchanged on the
//! in-memory [`SandboxBroker`], on the [`PaperBroker`] (simulated fills
//! against real quotes, no order ever sent) and on a real OpenAlgo server
//! through [`OpenAlgoBroker`]. [`Guard`] wraps any of them (tower style) and
//! implements [`Broker`] itself, so the strategy cannot tell, and cannot
//! bypass, the checks.
//!
//! Two design decisions matter most:
//!
//! - **An unknown outcome is not a failure.** Every error says whether the
//!   order definitely was not placed ([`BrokerError::definitely_not_placed`]);
//!   a placement that timed out or hit a server error is never retried.
//!   [`OpenAlgoBroker`] reconciles it against the order book instead, and
//!   reports [`BrokerError::OutcomeUnknown`] when it cannot prove either way.
//! - **Fail closed, in a fixed order.** The guard checks an order in this
//!   order, and the wrapped broker is called only if all of 1–5 pass:
//!   1. instrument rules (asta-core's catalog: known, lot, freeze, tick, band);
//!   2. the trading-mode gate (sandbox: only [`Venue::Simulated`] brokers;
//!      paper: simulated brokers reading live quotes; live: `allow_live_trading`
//!      **and** a per-session [`Confirm`]ation);
//!   3. the trading state (HALTED refuses everything but cancels);
//!   4. the risk decision (asta-risk: hours, collar, limits, daily loss,
//!      exposure, security monitor, exact rate limits);
//!   5. the order's intent, durably in the audit trail (asta-audit, fsync);
//!   6. the broker call; 7. the outcome, audited; 8. the risk-state update.
//!
//!   If the audit trail cannot be written nothing is sent and trading halts.
//!   Every error that reaches the caller carries a reference
//!   ([`BrokerError::reference`]) of the audit record holding its detail;
//!   [`BrokerError::public_error`] is the safe face to show a user.
//!
//! # Example
//!
//! A sandbox session through the guard, with a temporary audit trail:
//!
//! ```
//! use std::sync::Arc;
//! use asta_audit::{AuditConfig, AuditLog, ChainKey};
//! use asta_broker::{Broker, Guard, Quote, SandboxBroker};
//! use asta_core::{
//!     Clock, ErrorCode, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money,
//!     OrderRequest, PriceType, Product, Quantity, Side, StrategyTag, Symbol,
//! };
//! use asta_risk::{RequiredLimits, RiskConfig, RiskEngine, StateStore};
//! use chrono::{TimeZone, Utc};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! // Friday 27 November 2026, 10:00 IST.
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
//! let shared: Arc<dyn Clock> = Arc::new(clock.clone());
//! let catalog = Arc::new(InstrumentCatalog::from_csv_reader(
//!     "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
//!      NSE,SBIN,0.05,1,,,\n".as_bytes(),
//! )?);
//! let risk = RiskEngine::open(
//!     RiskConfig::builder(RequiredLimits {
//!         capital: Money::from_rupees(1_000_000),
//!         max_order_quantity: 1_000,
//!         max_order_notional: Money::from_rupees(200_000),
//!         max_gross_exposure: Money::from_rupees(2_000_000),
//!     })
//!         .build()?,
//!     Arc::clone(&catalog),
//!     Arc::new(MarketCalendar::bundled()?),
//!     Arc::clone(&shared),
//!     StateStore::dangerous_in_memory(), // StateStore::file(...) in production
//! )?;
//! let tmp = tempfile::tempdir()?;
//! let audit = AuditLog::open(
//!     tmp.path().join("audit"),
//!     ChainKey::from_bytes(&[7u8; 32])?, // ChainKey::from_env(...) in production
//!     AuditConfig::default(),
//!     Arc::clone(&shared),
//! )?;
//!
//! let sandbox = SandboxBroker::new(Arc::clone(&shared));
//! let sbin = Symbol::new("SBIN")?;
//! sandbox.set_quote(Exchange::Nse, &sbin, Quote::last("800".parse()?, clock.now())?);
//!
//! // Sandbox mode is the default: the guard would refuse a network broker.
//! let guard = Guard::builder(sandbox, catalog, risk, audit, shared).build().await?;
//! guard.quote(Exchange::Nse, &sbin).await?; // also the risk engine's reference price
//!
//! let order = OrderRequest::builder()
//!     .symbol(sbin.clone())
//!     .exchange(Exchange::Nse)
//!     .side(Side::Buy)
//!     .price_type(PriceType::Limit)
//!     .product(Product::Mis)
//!     .quantity(Quantity::new(10)?)
//!     .price("800.05".parse()?)
//!     .strategy(StrategyTag::new("demo")?)
//!     .build()?;
//! let id = guard.place_order(&order).await?;
//! assert_eq!(id.as_str(), "SBX-000001");
//! assert_eq!(guard.risk_status().positions[0].net, 10); // the fill reached risk
//!
//! // Off the 0.05 tick grid: refused before the broker, with an audited reference.
//! let bad = order.to_builder().price("800.03".parse()?).build()?;
//! let error = guard.place_order(&bad).await.unwrap_err();
//! let public = error.public_error();
//! assert_eq!(public.code(), ErrorCode::InvalidInput);
//! assert_eq!(Some(public.reference()), error.reference());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Guard::emergency_stop`] halts (persisted), cancels every order, closes
//! every position, records and alerts, and returns an [`EmergencyReport`];
//! only [`Guard::reset`] with a TOTP code (for example through
//! [`VaultTotpVerifier`]) leaves HALTED. [`Guard::sync`] feeds fills and
//! marks to the risk engine; call it periodically.
//!
//! The session that runs a guard can serve it on a Unix socket with
//! [`ControlServer`], so that the operator's kill switch, status and reset
//! reach the running session ([`ControlClient`]); a [`HaltMarker`] stops a
//! session that does not answer from trading when it resumes.
//!
//! [`openalgo::api`] is the server side of OpenAlgo's REST v1 (request
//! parsing and validation, answers in OpenAlgo's shapes), sharing the
//! adapter's definition of the wire format, for a gateway that serves
//! existing OpenAlgo clients through the guard.
//!
//! A bare adapter, without the guard:
//!
//! ```
//! use std::sync::Arc;
//! use asta_broker::{Broker, OrderState, Quote, SandboxBroker};
//! use asta_core::{Clock, Exchange, ManualClock, OrderRequest, PriceType, Product, Quantity, Side, StrategyTag, Symbol};
//! use chrono::{TimeZone, Utc};
//!
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
//! let broker = SandboxBroker::new(Arc::new(clock.clone()));
//! let sbin = Symbol::new("SBIN")?;
//! broker.set_quote(
//!     Exchange::Nse,
//!     &sbin,
//!     Quote::new("800".parse()?, Some("799.95".parse()?), Some("800.05".parse()?), clock.now())?,
//! );
//!
//! let order = OrderRequest::builder()
//!     .symbol(sbin.clone())
//!     .exchange(Exchange::Nse)
//!     .side(Side::Buy)
//!     .price_type(PriceType::Market)
//!     .product(Product::Cnc)
//!     .quantity(Quantity::new(10)?)
//!     .strategy(StrategyTag::new("demo")?)
//!     .build()?;
//! let id = broker.place_order(&order).await?;
//! assert_eq!(id.as_str(), "SBX-000001");
//!
//! let status = broker.order_status(order.strategy(), &id).await?;
//! assert_eq!(status.state(), OrderState::Complete);
//! assert_eq!(status.average_price().map(|p| p.to_string()), Some("800.05".into()));
//!
//! let positions = broker.positions().await?;
//! assert_eq!(positions[0].net_quantity(), 10);
//! assert_eq!(positions[0].unrealized_pnl().to_string(), "-0.5");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! - `mock`: `MockBroker`, a [mockall](https://docs.rs/mockall) mock of
//!   [`Broker`] for downstream tests.
//!
//! # Security notes
//!
//! - The guard never calls the wrapped broker when a check fails, and never
//!   sends an order whose intent is not durably audited. Cancels and the
//!   emergency stop's closes pass in every state: cutting risk always works.
//! - Sandbox mode refuses to build around a broker whose [`Broker::venue`] is
//!   not [`Venue::Simulated`]; unknown brokers count as [`Venue::External`]
//!   (fail closed). Live mode needs `allow_live_trading = true` and a
//!   [`Confirm`] that confirms the session; refusals are `PERMISSION_DENIED`.
//! - Audit records, alerts and errors carry order content, limits and broker
//!   messages (sanitized), never a key, a TOTP code or a request body.
//! - [`OpenAlgoBroker`] refuses any base URL that is not `https`, except
//!   `http` on a loopback address; it uses rustls on ring's crypto provider
//!   (never aws-lc-rs) with the system's trust store, follows no redirects and
//!   ignores proxy environment variables (the API key travels in the body).
//! - The API key is a [`secrecy::SecretString`]; it is exposed only while the
//!   request body is serialized. Bodies are never logged. Errors carry no
//!   URL, no body and no key: reqwest errors are mapped to variants without
//!   their text, and broker messages are bounded, stripped of control
//!   characters and scrubbed of the key and of key-like tokens.
//! - Response bodies are read chunk by chunk up to a bound (1 MiB by default).
//! - [`Alert`]s sanitize their text and redact fields whose names suggest a
//!   secret; the webhook URL (which often embeds a token) is never printed.

mod alert;
mod broker;
mod confirm;
mod control;
mod emergency;
mod error;
mod guard;
mod matching;
#[cfg(feature = "mock")]
mod mock;
pub mod openalgo;
mod paper;
mod reconcile;
mod risk_audit;
mod risk_log;
mod sandbox;
mod tls;
mod types;
mod url_policy;
mod webhook;

pub use alert::{Alert, AlertDelivery, AlertError, AlertSink, Severity, TracingAlertSink};
pub use broker::{Broker, Placement, Venue};
pub use confirm::{
    Confirm, ConfirmRefusal, ConfirmRequest, DenyAll, TotpConfirm, VaultTotpVerifier,
};
pub use control::{
    ControlClient, ControlClientError, ControlCommand, ControlConfig, ControlError, ControlFailure,
    ControlRequest, ControlResponse, ControlServer, ControlTrailLink, DEFAULT_ANSWER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT, HaltMarker, MAX_CONTROL_REASON_CHARS,
    MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MarkerError, MarkerRecord, MarkerStatus, Peer,
    ProtocolError, SessionStatus, link_control_trail,
};
pub use emergency::{ClosedByStop, EmergencyFailure, EmergencyReport, EmergencyStep};
pub use error::{BrokerError, MAX_REASON_CHARS};
pub use guard::{
    DEFAULT_CONTROL_STRATEGY, Guard, GuardBuildError, GuardBuildErrorKind, GuardBuilder,
    GuardConfig, OutcomeDecision, SyncReport, UnresolvedOutcome,
};
#[cfg(feature = "mock")]
pub use mock::MockBroker;
pub use openalgo::{InstrumentList, RefusedInstrument};
pub use openalgo::{
    OpenAlgoBroker, OpenAlgoConfig, OpenAlgoConfigError, OpenAlgoQuoteSource, ServerMode,
};
pub use paper::{PaperBroker, QuoteSource};
pub use risk_audit::risk_event_record;
pub use risk_log::{
    FileSnapshotStore, MAX_SNAPSHOT_BYTES, RestoreReport, RestoredRisk, RiskRestoreError,
    SnapshotStore, SnapshotStoreError, SnapshotUse, TrailReadError, UnknownPlacement,
};
pub use sandbox::{SandboxBroker, SandboxConfig, SandboxConfigError, SandboxOp};
pub use types::{
    CancelAllReport, CloseAllReport, ClosedPosition, Funds, Holding, ModifyError, ModifyRequest,
    ModifyRequestBuilder, OrderBookEntry, OrderFailure, OrderState, OrderStatus, Position,
    PositionFailure, PositionKey, Quote, QuoteError, SmartOrderOutcome, Trade,
};
pub use webhook::{WebhookAlertSink, WebhookConfig};
