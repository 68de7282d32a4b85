//! What a bulk cancel or close did, item by item where the broker says.

use asta_core::OrderId;

use super::PositionKey;

/// An order that could not be cancelled, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFailure {
    /// The order.
    pub order_id: OrderId,
    /// Why (bounded, sanitized broker text).
    pub reason: String,
}

/// The result of cancelling every open order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CancelAllReport {
    /// Orders the broker cancelled.
    pub cancelled: Vec<OrderId>,
    /// Orders it could not cancel.
    pub failed: Vec<OrderFailure>,
}

impl CancelAllReport {
    /// Whether every cancellation succeeded.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// A position that was closed, with the exit order when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPosition {
    /// Which position.
    pub key: PositionKey,
    /// The order that closed it, when the broker reports it.
    pub exit_order: Option<OrderId>,
}

/// A position that could not be closed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionFailure {
    /// Which position.
    pub key: PositionKey,
    /// Why (bounded, sanitized text).
    pub reason: String,
}

/// The result of closing every open position.
///
/// Some brokers (OpenAlgo) report only counts; then `closed` and `failed`
/// are empty and only the counts are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseAllReport {
    /// How many positions were closed.
    pub closed_count: u64,
    /// How many could not be closed.
    pub failed_count: u64,
    /// Closed positions, when the broker names them.
    pub closed: Vec<ClosedPosition>,
    /// Positions that could not be closed, when the broker names them.
    pub failed: Vec<PositionFailure>,
}

impl CloseAllReport {
    /// Whether every close succeeded.
    pub fn is_complete(&self) -> bool {
        self.failed_count == 0 && self.failed.is_empty()
    }
}
