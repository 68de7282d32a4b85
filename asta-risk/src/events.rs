//! Structured events: every decision and transition, for the caller's audit trail.

use asta_core::{
    Exchange, Money, OrderId, OrderRequest, Price, PriceType, Product, Quantity, Side, StrategyTag,
    Symbol,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::breaker::BreakerKind;
use crate::config::AlertAction;
use crate::error::{AlertKind, Rejection};
use crate::trading_state::{StateScope, TradingState};

/// The audit category an event belongs in (asta-audit's `RISK` or `SECURITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum EventCategory {
    /// Risk decisions and state transitions.
    Risk,
    /// Security alerts (logins, unusual orders, resets).
    Security,
}

/// The fields of an order an auditor needs (no secrets are ever in an order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderSummary {
    /// Strategy.
    pub strategy: StrategyTag,
    /// Exchange.
    pub exchange: Exchange,
    /// Symbol.
    pub symbol: Symbol,
    /// Side.
    pub side: Side,
    /// Price type.
    pub price_type: PriceType,
    /// Product.
    pub product: Product,
    /// Quantity.
    pub quantity: Quantity,
    /// Limit price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Trigger price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_price: Option<Price>,
}

impl From<&OrderRequest> for OrderSummary {
    fn from(order: &OrderRequest) -> Self {
        Self {
            strategy: order.strategy().clone(),
            exchange: order.exchange(),
            symbol: order.symbol().clone(),
            side: order.side(),
            price_type: order.price_type(),
            product: order.product(),
            quantity: order.quantity(),
            price: order.price(),
            trigger_price: order.trigger_price(),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum RiskEventKind {
    /// A new order was approved.
    OrderApproved {
        /// The order.
        order: OrderSummary,
        /// The approval's ticket.
        ticket: u64,
        /// Its notional as checked.
        notional: Money,
    },
    /// A new order was rejected.
    OrderRejected {
        /// The order.
        order: OrderSummary,
        /// Why.
        reason: Rejection,
    },
    /// A batch was approved as a whole.
    BatchApproved {
        /// How many orders.
        orders: usize,
    },
    /// A modification was approved.
    ModifyApproved {
        /// The order.
        order_id: OrderId,
        /// The new content.
        order: OrderSummary,
        /// Modifications approved for the order so far.
        modifications: u32,
    },
    /// A modification was rejected.
    ModifyRejected {
        /// The order.
        order_id: OrderId,
        /// Why.
        reason: Rejection,
    },
    /// A cancel was allowed.
    CancelAllowed {
        /// The order.
        order_id: OrderId,
        /// Whether it counted against the rate limits.
        counted: bool,
    },
    /// A cancel was denied (only when cancels count and a window is full).
    CancelDenied {
        /// The order.
        order_id: OrderId,
        /// Why.
        reason: Rejection,
    },
    /// A scope's trading state changed.
    StateChanged {
        /// The scope.
        scope: StateScope,
        /// Before.
        from: TradingState,
        /// After.
        to: TradingState,
        /// Why.
        reason: String,
    },
    /// A breaker tripped (and latched).
    BreakerTripped {
        /// What tripped.
        breaker: BreakerKind,
        /// The scope halted.
        scope: StateScope,
        /// Limits and values.
        detail: String,
    },
    /// An operator reset was authorized and applied.
    ResetAuthorized {
        /// Who.
        operator: String,
        /// The scope.
        scope: StateScope,
        /// The new state.
        to: TradingState,
        /// The breakers cleared.
        cleared: Vec<BreakerKind>,
    },
    /// An operator reset was refused.
    ResetRefused {
        /// Who (as given, if it was a valid name).
        operator: String,
        /// The scope.
        scope: StateScope,
        /// Why.
        reason: String,
    },
    /// The caller reported an audit write failure.
    AuditFailureReported {
        /// Detail as given by the caller.
        detail: String,
    },
    /// The caller reported a broker authentication failure.
    AuthFailureReported {
        /// Detail as given by the caller.
        detail: String,
    },
    /// A failed login was recorded.
    FailedLogin {
        /// The source.
        source: String,
        /// Failures in the window.
        failures: u32,
    },
    /// A login source was blocked.
    LoginSourceBlocked {
        /// The source.
        source: String,
        /// Failures in the window.
        failures: u32,
        /// Until when.
        until: DateTime<Utc>,
    },
    /// The security monitor raised an alert on an order.
    UnusualOrder {
        /// Which alert.
        alert: AlertKind,
        /// What the configuration said to do.
        action: AlertAction,
        /// Strategy.
        strategy: StrategyTag,
        /// Exchange.
        exchange: Exchange,
        /// Symbol.
        symbol: Symbol,
        /// What was unusual.
        detail: String,
    },
    /// A fill was recorded.
    FillRecorded {
        /// Strategy.
        strategy: StrategyTag,
        /// Exchange.
        exchange: Exchange,
        /// Symbol.
        symbol: Symbol,
        /// Product.
        product: Product,
        /// Side.
        side: Side,
        /// Quantity.
        quantity: Quantity,
        /// Price.
        price: Price,
        /// Realized P&L of this fill.
        realized: Money,
    },
    /// A new IST trading day began: daily counters were reset.
    DayRolledOver {
        /// The previous day.
        from: NaiveDate,
        /// The new day.
        to: NaiveDate,
        /// Whether a latched halt carried over.
        halt_kept: bool,
    },
    /// Saving the risk state failed: trading is halted.
    StateSaveFailed {
        /// The error.
        detail: String,
    },
    /// The engine started from a saved state.
    StateLoaded {
        /// The state's IST day.
        day: NaiveDate,
        /// The account's state.
        account: TradingState,
    },
}

impl RiskEventKind {
    /// The audit category of this kind of event.
    pub fn category(&self) -> EventCategory {
        match self {
            RiskEventKind::ResetAuthorized { .. }
            | RiskEventKind::ResetRefused { .. }
            | RiskEventKind::AuthFailureReported { .. }
            | RiskEventKind::FailedLogin { .. }
            | RiskEventKind::LoginSourceBlocked { .. }
            | RiskEventKind::UnusualOrder { .. } => EventCategory::Security,
            _ => EventCategory::Risk,
        }
    }
}

/// One event, numbered and stamped, ready for an audit record.
///
/// Serializes flat: `{"seq":7,"at":"...","category":"RISK","event":"ORDER_REJECTED",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskEvent {
    /// Sequence number, increasing across restarts.
    pub seq: u64,
    /// When (the engine's clock).
    #[serde(serialize_with = "asta_core::serialize_utc")]
    pub at: DateTime<Utc>,
    /// RISK or SECURITY.
    pub category: EventCategory,
    /// What happened.
    #[serde(flatten)]
    pub kind: RiskEventKind,
}
