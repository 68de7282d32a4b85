//! `PaperBroker`: the sandbox's matching fed by real quotes.

use std::collections::BTreeSet;
use std::sync::Arc;

use asta_core::{Exchange, OrderId, OrderRequest, StrategyTag, Symbol};
use async_trait::async_trait;

use crate::{
    Broker, BrokerError, CancelAllReport, CloseAllReport, Funds, ModifyRequest, OrderBookEntry,
    OrderStatus, Position, Quote, SandboxBroker, Venue,
};

/// Somewhere to read quotes from (and nothing else).
#[async_trait]
pub trait QuoteSource: Send + Sync {
    /// The current quote for one instrument.
    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError>;
}

#[async_trait]
impl<S: QuoteSource + ?Sized> QuoteSource for Arc<S> {
    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
        (**self).quote(exchange, symbol).await
    }
}

/// Simulated trading against real quotes: orders are matched by a
/// [`SandboxBroker`]; quotes come from a [`QuoteSource`] (for example
/// [`OpenAlgoQuoteSource`](crate::OpenAlgoQuoteSource)). **No order is ever
/// sent anywhere**: the quote source is only ever asked for quotes.
///
/// Quotes are fetched:
/// - before each placement or modification, for that instrument (if the
///   fetch fails the order is rejected: it cannot be priced honestly);
/// - on [`quote`](Broker::quote), which also feeds the quote to the matcher;
/// - on [`refresh`](Self::refresh), for every instrument with a working order
///   or an open position. Call it periodically: resting orders and stops only
///   move when a quote arrives, and there is no timer inside.
#[derive(Debug, Clone)]
pub struct PaperBroker<Q> {
    sandbox: SandboxBroker,
    source: Q,
}

impl<Q: QuoteSource> PaperBroker<Q> {
    /// Paper trading on `sandbox` with quotes from `source`.
    pub fn new(sandbox: SandboxBroker, source: Q) -> Self {
        Self { sandbox, source }
    }

    /// The simulator underneath.
    pub fn sandbox(&self) -> &SandboxBroker {
        &self.sandbox
    }

    /// Fetches a fresh quote for every instrument with a working order or an
    /// open position and feeds it to the matcher. Returns the ids of orders
    /// that filled; the first quote error stops the refresh and is returned.
    pub async fn refresh(&self) -> Result<Vec<OrderId>, BrokerError> {
        let mut instruments = BTreeSet::new();
        for order in self.sandbox.order_book().await? {
            if order.state().may_be_working() {
                instruments.insert((order.exchange(), order.symbol().clone()));
            }
        }
        for position in self.sandbox.positions().await? {
            if !position.is_flat() {
                instruments.insert((position.exchange(), position.symbol().clone()));
            }
        }
        let mut filled = Vec::new();
        for (exchange, symbol) in instruments {
            let quote = self.source.quote(exchange, &symbol).await?;
            filled.extend(self.sandbox.set_quote(exchange, &symbol, quote));
        }
        Ok(filled)
    }

    async fn feed(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
        let quote = self.source.quote(exchange, symbol).await?;
        self.sandbox.set_quote(exchange, symbol, quote);
        Ok(quote)
    }
}

/// A quote failure before a paper order means the order cannot be priced:
/// reject it (nothing was placed anywhere).
fn not_priced(error: BrokerError) -> BrokerError {
    match error {
        BrokerError::Rejected { .. } => error,
        other => BrokerError::rejected(&format!("paper order not placed: no quote ({other})")),
    }
}

#[async_trait]
impl<Q: QuoteSource> Broker for PaperBroker<Q> {
    async fn place_order(&self, order: &OrderRequest) -> Result<OrderId, BrokerError> {
        self.feed(order.exchange(), order.symbol())
            .await
            .map_err(not_priced)?;
        self.sandbox.place_order(order).await
    }

    async fn modify_order(&self, request: &ModifyRequest) -> Result<OrderId, BrokerError> {
        let order = request.order();
        self.feed(order.exchange(), order.symbol())
            .await
            .map_err(not_priced)?;
        self.sandbox.modify_order(request).await
    }

    async fn cancel_order(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<(), BrokerError> {
        self.sandbox.cancel_order(strategy, order_id).await
    }

    async fn cancel_all_orders(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError> {
        self.sandbox.cancel_all_orders(strategy).await
    }

    async fn close_all_positions(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CloseAllReport, BrokerError> {
        // Fresh quotes first, so exits are priced at the market; a position
        // whose quote cannot be fetched still gets an exit at the last known quote.
        let _ = self.refresh().await;
        self.sandbox.close_all_positions(strategy).await
    }

    async fn order_status(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<OrderStatus, BrokerError> {
        self.sandbox.order_status(strategy, order_id).await
    }

    async fn order_book(&self) -> Result<Vec<OrderBookEntry>, BrokerError> {
        self.sandbox.order_book().await
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        self.sandbox.positions().await
    }

    async fn funds(&self) -> Result<Funds, BrokerError> {
        self.sandbox.funds().await
    }

    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
        self.feed(exchange, symbol).await
    }

    /// [`Venue::SimulatedWithLiveQuotes`]: quotes are read from the source,
    /// no order is ever sent.
    fn venue(&self) -> Venue {
        Venue::SimulatedWithLiveQuotes
    }
}
