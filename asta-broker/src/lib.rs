//! Where ASTA's orders go: the [`Broker`] trait and its sandbox, paper and
//! OpenAlgo adapters, plus the alert sinks that tell a human when something
//! needs attention.
//!
//! Every venue implements one object-safe async trait, [`Broker`], so a
//! strategy written against `Arc<dyn Broker>` runs unchanged on the
//! in-memory [`SandboxBroker`], on the [`PaperBroker`] (simulated fills
//! against real quotes, no order ever sent) and on a real OpenAlgo server
//! through [`OpenAlgoBroker`].
//!
//! The key design decision is that **an unknown outcome is not a failure**.
//! Every error says whether the order definitely was not placed
//! ([`BrokerError::definitely_not_placed`]); a placement that timed out or
//! hit a server error is never retried. [`OpenAlgoBroker`] reconciles it
//! against the order book instead, and reports [`BrokerError::OutcomeUnknown`]
//! when it cannot prove either way.
//!
//! # Example
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
//! - [`OpenAlgoBroker`] refuses any base URL that is not `https`, except
//!   `http` on a loopback address; it uses rustls, follows no redirects and
//!   ignores proxy environment variables (the API key travels in the body).
//! - The API key is a [`secrecy::SecretString`]; it is exposed only while the
//!   request body is serialized. Bodies are never logged. Errors carry no
//!   URL, no body and no key: reqwest errors are mapped to variants without
//!   their text, and broker messages are bounded, stripped of control
//!   characters and scrubbed of the key and of key-like tokens.
//! - Response bodies are read chunk by chunk up to a bound (1 MiB by default).
//! - [`Alert`]s sanitize their text and redact fields whose names suggest a
//!   secret; the webhook URL (which often embeds a token) is never printed.

// The order guard (guard.rs) and the emergency stop (emergency.rs) are added
// beside these modules once asta-risk and asta-audit exist.
mod alert;
mod broker;
mod error;
mod matching;
#[cfg(feature = "mock")]
mod mock;
mod openalgo;
mod paper;
mod sandbox;
mod types;
mod url_policy;
mod webhook;

pub use alert::{Alert, AlertDelivery, AlertError, AlertSink, Severity, TracingAlertSink};
pub use broker::Broker;
pub use error::{BrokerError, MAX_REASON_CHARS};
#[cfg(feature = "mock")]
pub use mock::MockBroker;
pub use openalgo::{
    OpenAlgoBroker, OpenAlgoConfig, OpenAlgoConfigError, OpenAlgoQuoteSource, ServerMode,
};
pub use paper::{PaperBroker, QuoteSource};
pub use sandbox::{SandboxBroker, SandboxConfig, SandboxConfigError, SandboxOp};
pub use types::{
    CancelAllReport, CloseAllReport, ClosedPosition, Funds, ModifyError, ModifyRequest,
    ModifyRequestBuilder, OrderBookEntry, OrderFailure, OrderState, OrderStatus, Position,
    PositionFailure, PositionKey, Quote, QuoteError,
};
pub use webhook::{WebhookAlertSink, WebhookConfig};
