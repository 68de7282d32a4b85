//! The values the engine takes and returns around a decision.

use std::fmt;

use asta_core::{Exchange, Money, OrderId, Price, Product, Quantity, Side, StrategyTag, Symbol};
use serde::{Deserialize, Serialize};

use crate::error::{AlertKind, Rejection};

/// What the caller knows about an order beyond its content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OrderContext {
    /// The caller means to send the same content again (e.g. a deliberate
    /// second lot): the duplicate check is skipped.
    pub intentional_duplicate: bool,
    /// A reference price the caller just fetched (treated as fresh now). When
    /// absent, the last [`RiskEngine::update_quote`](crate::RiskEngine::update_quote) price is used if fresh.
    pub reference_price: Option<Price>,
}

impl OrderContext {
    /// A context with nothing special.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the order as an intentional duplicate.
    pub fn intentional_duplicate(mut self, intentional: bool) -> Self {
        self.intentional_duplicate = intentional;
        self
    }

    /// Supplies a fresh reference price.
    pub fn reference_price(mut self, price: Price) -> Self {
        self.reference_price = Some(price);
        self
    }
}

/// Identifies an approval until the order is opened or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ApprovalTicket(pub(crate) u64);

impl ApprovalTicket {
    /// The ticket number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The ticket with number `number`, as recorded (for example in an
    /// order's intent in the audit trail), to settle an approval after a
    /// restart: `order_opened` or `release_approval` with it act only on a
    /// pending approval of that number.
    pub fn from_recorded(number: u64) -> Self {
        Self(number)
    }
}

impl fmt::Display for ApprovalTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

/// An approved new order. Its rate-limit capacity is used and it counts as a
/// pending open order until [`RiskEngine::order_opened`](crate::RiskEngine::order_opened) or
/// [`RiskEngine::release_approval`](crate::RiskEngine::release_approval).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// The ticket to pass to `order_opened` or `release_approval`.
    pub ticket: ApprovalTicket,
    /// The notional the checks used.
    pub notional: Money,
    /// Security-monitor warnings (alerts configured as `WARN`).
    pub warnings: Vec<AlertKind>,
}

/// The result of a pre-trade check: an approval or a typed rejection.
pub type Decision = Result<Approval, Rejection>;

/// An approved modification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModifyApproval {
    /// Modifications approved for this order so far, this one included.
    pub modifications: u32,
    /// Security-monitor warnings.
    pub warnings: Vec<AlertKind>,
}

/// An allowed cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CancelApproval {
    /// Whether it counted against the rate limits.
    pub counted: bool,
}

/// A fill as the broker reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillReport {
    // In key order: canonical JSON (the audit trail's) writes them so.
    /// Exchange.
    pub exchange: Exchange,
    /// The order filled, if known: its open quantity shrinks by the fill.
    pub order_id: Option<OrderId>,
    /// Fill price.
    pub price: Price,
    /// Product.
    pub product: Product,
    /// Filled quantity.
    pub quantity: Quantity,
    /// Side.
    pub side: Side,
    /// Strategy.
    pub strategy: StrategyTag,
    /// Symbol.
    pub symbol: Symbol,
}
