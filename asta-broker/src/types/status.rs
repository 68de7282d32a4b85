//! The state of an order as the broker reports it.

use asta_core::{
    Exchange, OrderId, Price, PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use chrono::{DateTime, Utc};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OrderState {
    /// Working at the exchange (possibly partly filled).
    Open,
    /// A stop order waiting for its trigger.
    TriggerPending,
    /// Completely filled.
    Complete,
    /// Cancelled (any unfilled remainder is dead).
    Cancelled,
    /// Rejected by the broker or exchange.
    Rejected,
    /// A state this adapter does not recognise. Treat it as possibly working.
    Unknown,
}

impl OrderState {
    /// Whether the order can still trade (open, trigger pending, or unknown).
    pub fn may_be_working(self) -> bool {
        matches!(self, Self::Open | Self::TriggerPending | Self::Unknown)
    }

    /// A stable name: `OPEN`, `TRIGGER_PENDING`, `COMPLETE`, `CANCELLED`,
    /// `REJECTED` or `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::TriggerPending => "TRIGGER_PENDING",
            Self::Complete => "COMPLETE",
            Self::Cancelled => "CANCELLED",
            Self::Rejected => "REJECTED",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Whether the order has reached a final state.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Complete | Self::Cancelled | Self::Rejected)
    }

    /// Maps OpenAlgo's `order_status` text (`open`, `complete`, `cancelled`,
    /// `rejected`, `trigger pending`, case-insensitive) to a state.
    pub fn from_openalgo(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "open" | "pending" | "validation pending" | "put order req received" => Self::Open,
            "trigger pending" | "trigger_pending" => Self::TriggerPending,
            "complete" | "completed" | "filled" => Self::Complete,
            "cancelled" | "canceled" => Self::Cancelled,
            "rejected" => Self::Rejected,
            _ => Self::Unknown,
        }
    }
}

/// One order as the broker sees it.
///
/// Built with [`OrderStatus::new`] and the `with_*` setters, so that other
/// `Broker` implementations can produce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderStatus {
    order_id: OrderId,
    symbol: Symbol,
    exchange: Exchange,
    side: Side,
    price_type: PriceType,
    product: Product,
    quantity: Quantity,
    filled_quantity: u64,
    price: Option<Price>,
    trigger_price: Option<Price>,
    average_price: Option<Price>,
    state: OrderState,
    strategy: Option<StrategyTag>,
    placed_at: Option<DateTime<Utc>>,
    rejection_reason: Option<String>,
}

/// An order book lists the same view of each order as an order status query.
pub type OrderBookEntry = OrderStatus;

impl OrderStatus {
    /// An order with nothing filled yet; refine it with the `with_*` setters.
    #[expect(
        clippy::too_many_arguments,
        reason = "every field is required and distinct"
    )]
    pub fn new(
        order_id: OrderId,
        symbol: Symbol,
        exchange: Exchange,
        side: Side,
        price_type: PriceType,
        product: Product,
        quantity: Quantity,
        state: OrderState,
    ) -> Self {
        Self {
            order_id,
            symbol,
            exchange,
            side,
            price_type,
            product,
            quantity,
            filled_quantity: 0,
            price: None,
            trigger_price: None,
            average_price: None,
            state,
            strategy: None,
            placed_at: None,
            rejection_reason: None,
        }
    }

    /// Sets the filled quantity (capped at the order quantity) and the average fill price.
    #[must_use]
    pub fn with_fill(mut self, filled: u64, average_price: Option<Price>) -> Self {
        self.filled_quantity = filled.min(self.quantity.get());
        self.average_price = average_price;
        self
    }

    /// Sets the limit price.
    #[must_use]
    pub fn with_price(mut self, price: Option<Price>) -> Self {
        self.price = price;
        self
    }

    /// Sets the trigger price.
    #[must_use]
    pub fn with_trigger_price(mut self, trigger: Option<Price>) -> Self {
        self.trigger_price = trigger;
        self
    }

    /// Sets the strategy tag the order was placed under.
    #[must_use]
    pub fn with_strategy(mut self, strategy: Option<StrategyTag>) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets when the broker accepted the order.
    #[must_use]
    pub fn with_placed_at(mut self, at: Option<DateTime<Utc>>) -> Self {
        self.placed_at = at;
        self
    }

    /// Sets the broker's rejection reason (keep it free of secrets).
    #[must_use]
    pub fn with_rejection_reason(mut self, reason: Option<String>) -> Self {
        self.rejection_reason = reason;
        self
    }

    /// The broker's order id.
    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }
    /// The symbol.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }
    /// The exchange segment.
    pub fn exchange(&self) -> Exchange {
        self.exchange
    }
    /// Buy or sell.
    pub fn side(&self) -> Side {
        self.side
    }
    /// The price type.
    pub fn price_type(&self) -> PriceType {
        self.price_type
    }
    /// The product.
    pub fn product(&self) -> Product {
        self.product
    }
    /// The order quantity.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }
    /// How much has filled.
    pub fn filled_quantity(&self) -> u64 {
        self.filled_quantity
    }
    /// How much is still to fill (zero once the order is final).
    pub fn pending_quantity(&self) -> u64 {
        if self.state.is_final() {
            0
        } else {
            self.quantity.get().saturating_sub(self.filled_quantity)
        }
    }
    /// The limit price, if the order has one.
    pub fn price(&self) -> Option<Price> {
        self.price
    }
    /// The trigger price, if the order has one.
    pub fn trigger_price(&self) -> Option<Price> {
        self.trigger_price
    }
    /// The average fill price, once something filled.
    pub fn average_price(&self) -> Option<Price> {
        self.average_price
    }
    /// The order's state.
    pub fn state(&self) -> OrderState {
        self.state
    }
    /// The strategy tag, when the broker reports it.
    pub fn strategy(&self) -> Option<&StrategyTag> {
        self.strategy.as_ref()
    }
    /// When the broker accepted the order, when it reports it.
    pub fn placed_at(&self) -> Option<DateTime<Utc>> {
        self.placed_at
    }
    /// The rejection reason, for rejected orders.
    pub fn rejection_reason(&self) -> Option<&str> {
        self.rejection_reason.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openalgo_states() {
        assert_eq!(OrderState::from_openalgo("open"), OrderState::Open);
        assert_eq!(OrderState::from_openalgo("complete"), OrderState::Complete);
        assert_eq!(
            OrderState::from_openalgo("trigger pending"),
            OrderState::TriggerPending
        );
        assert_eq!(OrderState::from_openalgo("weird"), OrderState::Unknown);
        assert!(OrderState::Unknown.may_be_working());
        assert!(!OrderState::Cancelled.may_be_working());
    }
}
