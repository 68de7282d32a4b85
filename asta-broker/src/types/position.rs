//! Net positions.

use asta_core::{Exchange, Money, Price, Product, Symbol};

/// What a position is held in: exchange, symbol and product.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PositionKey {
    /// The exchange segment.
    pub exchange: Exchange,
    /// The symbol.
    pub symbol: Symbol,
    /// The product.
    pub product: Product,
}

/// A net position with its P&L, all exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    key: PositionKey,
    net_quantity: i64,
    average_price: Price,
    last_price: Option<Price>,
    realized_pnl: Money,
    unrealized_pnl: Money,
}

impl Position {
    /// A position: `net_quantity` is positive for long, negative for short,
    /// zero for flat (with P&L realized earlier in the day).
    pub fn new(
        key: PositionKey,
        net_quantity: i64,
        average_price: Price,
        last_price: Option<Price>,
        realized_pnl: Money,
        unrealized_pnl: Money,
    ) -> Self {
        Self {
            key,
            net_quantity,
            average_price,
            last_price,
            realized_pnl,
            unrealized_pnl,
        }
    }

    /// Exchange, symbol and product.
    pub fn key(&self) -> &PositionKey {
        &self.key
    }
    /// The symbol.
    pub fn symbol(&self) -> &Symbol {
        &self.key.symbol
    }
    /// The exchange segment.
    pub fn exchange(&self) -> Exchange {
        self.key.exchange
    }
    /// The product.
    pub fn product(&self) -> Product {
        self.key.product
    }
    /// Net signed quantity: positive long, negative short.
    pub fn net_quantity(&self) -> i64 {
        self.net_quantity
    }
    /// Whether the position is flat.
    pub fn is_flat(&self) -> bool {
        self.net_quantity == 0
    }
    /// The average price of the open quantity (zero when flat).
    pub fn average_price(&self) -> Price {
        self.average_price
    }
    /// The mark used for unrealized P&L, when known.
    pub fn last_price(&self) -> Option<Price> {
        self.last_price
    }
    /// P&L realized by closing trades.
    pub fn realized_pnl(&self) -> Money {
        self.realized_pnl
    }
    /// P&L of the open quantity at the last price.
    pub fn unrealized_pnl(&self) -> Money {
        self.unrealized_pnl
    }
}
