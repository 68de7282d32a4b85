//! The `Broker` trait: the one interface every venue, simulator and wrapper implements.

use std::sync::Arc;

use asta_core::{Exchange, OrderId, OrderRequest, StrategyTag, Symbol};
use async_trait::async_trait;

use crate::{
    BrokerError, CancelAllReport, CloseAllReport, Funds, ModifyRequest, OrderBookEntry,
    OrderStatus, Position, Quote,
};

/// A place orders go: a real broker, a simulator, or a wrapper around either.
///
/// Object safe (`Arc<dyn Broker>` works), `Send + Sync`, and implemented for
/// `&B`, `Box<B>` and `Arc<B>`, so wrappers compose.
///
/// # Contract for implementors
/// - [`place_order`](Broker::place_order) is **never retried blindly**. An
///   error for which [`BrokerError::definitely_not_placed`] is `false` means
///   the order may exist; say so with [`BrokerError::OutcomeUnknown`].
/// - `strategy` arguments are the tag sent with the request (OpenAlgo
///   requires it on cancels and status queries). [`cancel_all_orders`] and
///   [`close_all_positions`] act on the **whole account**, as OpenAlgo does;
///   the tag only attributes the request.
/// - Errors never carry secrets, URLs with credentials or raw bodies.
///
/// [`cancel_all_orders`]: Broker::cancel_all_orders
/// [`close_all_positions`]: Broker::close_all_positions
#[async_trait]
pub trait Broker: Send + Sync {
    /// Places an order and returns the broker's order id.
    async fn place_order(&self, order: &OrderRequest) -> Result<OrderId, BrokerError>;

    /// Changes a working order; returns its (possibly new) order id.
    async fn modify_order(&self, request: &ModifyRequest) -> Result<OrderId, BrokerError>;

    /// Cancels a working order.
    async fn cancel_order(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<(), BrokerError>;

    /// Cancels every working order of the account.
    async fn cancel_all_orders(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError>;

    /// Closes every open position of the account at the market.
    async fn close_all_positions(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CloseAllReport, BrokerError>;

    /// The current state of one order.
    async fn order_status(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<OrderStatus, BrokerError>;

    /// Every order of the day.
    async fn order_book(&self) -> Result<Vec<OrderBookEntry>, BrokerError>;

    /// Every position of the day (flat ones included when the broker lists them).
    async fn positions(&self) -> Result<Vec<Position>, BrokerError>;

    /// Cash and margin.
    async fn funds(&self) -> Result<Funds, BrokerError>;

    /// A quote for one instrument.
    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError>;

    /// Where this broker's orders go, for the guard's trading-mode gate.
    ///
    /// The default is [`Venue::External`]: **fail closed**, a broker that
    /// does not say otherwise is assumed to reach a real venue over the
    /// network. Only implementations that never send an order anywhere
    /// override it ([`SandboxBroker`](crate::SandboxBroker),
    /// [`PaperBroker`](crate::PaperBroker)); wrappers forward it.
    fn venue(&self) -> Venue {
        Venue::External
    }
}

/// Where a [`Broker`]'s orders go.
///
/// Used by the [`Guard`](crate::Guard)'s mode gate: sandbox mode accepts
/// only [`Venue::Simulated`], paper mode also
/// [`Venue::SimulatedWithLiveQuotes`], live mode anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Venue {
    /// In memory: no network at all, no order ever leaves the process.
    Simulated,
    /// Simulated fills; only quotes are read over the network (paper trading).
    /// No order ever leaves the process.
    SimulatedWithLiveQuotes,
    /// A real venue (or one this crate cannot vouch for): orders may reach an
    /// exchange and move money.
    External,
}

impl Venue {
    /// A stable name: `SIMULATED`, `SIMULATED_WITH_LIVE_QUOTES` or `EXTERNAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Simulated => "SIMULATED",
            Venue::SimulatedWithLiveQuotes => "SIMULATED_WITH_LIVE_QUOTES",
            Venue::External => "EXTERNAL",
        }
    }

    /// Whether orders sent to this venue can never reach an exchange.
    pub fn is_simulated(self) -> bool {
        matches!(self, Venue::Simulated | Venue::SimulatedWithLiveQuotes)
    }
}

impl std::fmt::Display for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! forward_broker {
    ($($ty:ty),+) => {$(
        #[async_trait]
        impl<B: Broker + ?Sized> Broker for $ty {
            async fn place_order(&self, order: &OrderRequest) -> Result<OrderId, BrokerError> {
                (**self).place_order(order).await
            }
            async fn modify_order(&self, request: &ModifyRequest) -> Result<OrderId, BrokerError> {
                (**self).modify_order(request).await
            }
            async fn cancel_order(
                &self,
                strategy: &StrategyTag,
                order_id: &OrderId,
            ) -> Result<(), BrokerError> {
                (**self).cancel_order(strategy, order_id).await
            }
            async fn cancel_all_orders(
                &self,
                strategy: &StrategyTag,
            ) -> Result<CancelAllReport, BrokerError> {
                (**self).cancel_all_orders(strategy).await
            }
            async fn close_all_positions(
                &self,
                strategy: &StrategyTag,
            ) -> Result<CloseAllReport, BrokerError> {
                (**self).close_all_positions(strategy).await
            }
            async fn order_status(
                &self,
                strategy: &StrategyTag,
                order_id: &OrderId,
            ) -> Result<OrderStatus, BrokerError> {
                (**self).order_status(strategy, order_id).await
            }
            async fn order_book(&self) -> Result<Vec<OrderBookEntry>, BrokerError> {
                (**self).order_book().await
            }
            async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
                (**self).positions().await
            }
            async fn funds(&self) -> Result<Funds, BrokerError> {
                (**self).funds().await
            }
            async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
                (**self).quote(exchange, symbol).await
            }
            fn venue(&self) -> Venue {
                (**self).venue()
            }
        }
    )+};
}

forward_broker!(&B, Box<B>, Arc<B>);
