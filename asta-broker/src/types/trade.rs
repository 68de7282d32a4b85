//! Executions (trade book), holdings and what a smart order did.

use asta_core::{Exchange, Money, OrderId, Price, Product, Quantity, Side, StrategyTag, Symbol};
use chrono::{DateTime, Utc};

/// One execution of the day (a row of the broker's trade book).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trade {
    /// The broker's id of the execution, when it gives one.
    pub trade_id: Option<String>,
    /// The order it filled.
    pub order_id: OrderId,
    /// The exchange segment.
    pub exchange: Exchange,
    /// The symbol.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// The product.
    pub product: Product,
    /// The quantity filled by this execution.
    pub quantity: Quantity,
    /// The execution price.
    pub price: Price,
    /// The strategy tag, when the broker reports one.
    pub strategy: Option<StrategyTag>,
    /// When it happened, when readable.
    pub executed_at: Option<DateTime<Utc>>,
}

/// A delivery holding (shares held overnight, outside the day's positions).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holding {
    /// The exchange segment.
    pub exchange: Exchange,
    /// The symbol.
    pub symbol: Symbol,
    /// The product (normally CNC).
    pub product: Product,
    /// Shares held.
    pub quantity: u64,
    /// Average buy price.
    pub average_price: Price,
    /// Last traded price, when known.
    pub last_price: Option<Price>,
    /// Profit or loss on the holding.
    pub pnl: Money,
}

/// What a smart order (a target position) did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmartOrderOutcome {
    /// The position already matched the target: no order was needed.
    AlreadyMatched,
    /// An order was placed to reach the target.
    Placed(OrderId),
}
