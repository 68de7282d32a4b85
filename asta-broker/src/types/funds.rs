//! Account funds.

use asta_core::Money;

/// Cash and margin of the trading account, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Funds {
    available_cash: Money,
    used_margin: Money,
    collateral: Money,
    realized_pnl: Money,
    unrealized_pnl: Money,
}

impl Funds {
    /// Funds as reported by a broker.
    pub fn new(
        available_cash: Money,
        used_margin: Money,
        collateral: Money,
        realized_pnl: Money,
        unrealized_pnl: Money,
    ) -> Self {
        Self {
            available_cash,
            used_margin,
            collateral,
            realized_pnl,
            unrealized_pnl,
        }
    }
    /// Cash available for new orders.
    pub fn available_cash(&self) -> Money {
        self.available_cash
    }
    /// Margin blocked by positions and open orders.
    pub fn used_margin(&self) -> Money {
        self.used_margin
    }
    /// Collateral (pledged holdings) counted as margin.
    pub fn collateral(&self) -> Money {
        self.collateral
    }
    /// Realized P&L of the day.
    pub fn realized_pnl(&self) -> Money {
        self.realized_pnl
    }
    /// Unrealized (mark-to-market) P&L.
    pub fn unrealized_pnl(&self) -> Money {
        self.unrealized_pnl
    }
}
