//! The `Broker` trait: the one interface every venue, simulator and wrapper implements.

use std::sync::Arc;

use asta_core::{Exchange, OrderId, OrderRequest, PriceType, Quantity, Side, StrategyTag, Symbol};
use async_trait::async_trait;

use crate::{
    BrokerError, CancelAllReport, CloseAllReport, Funds, Holding, ModifyRequest, OrderBookEntry,
    OrderStatus, Position, PositionKey, Quote, SmartOrderOutcome, Trade,
};

/// What [`Broker::place_order_reporting`] returns: the broker's order id
/// and, when the broker already knows it at placement (a simulator that
/// fills a MARKET order at once), the order's status.
///
/// A status here saves the caller a [`Broker::order_status`] round trip;
/// `None` means "ask if you need it".
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Placement {
    /// The broker's order id.
    pub order_id: OrderId,
    /// The order's status as of the placement, when known.
    pub status: Option<OrderStatus>,
}

impl Placement {
    /// A placement that reports only the order id.
    pub fn id_only(order_id: OrderId) -> Self {
        Self {
            order_id,
            status: None,
        }
    }

    /// A placement with the order's status as of the placement. A status
    /// for another order id is dropped (the caller would ask for it).
    pub fn with_status(order_id: OrderId, status: OrderStatus) -> Self {
        let status = (status.order_id() == &order_id).then_some(status);
        Self { order_id, status }
    }
}

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

    /// Places an order like [`place_order`](Broker::place_order) and also
    /// reports the order's status when the broker knows it at once (the
    /// [`SandboxBroker`](crate::SandboxBroker) fills MARKET orders at
    /// placement). The [`Guard`](crate::Guard) calls this and skips its
    /// status read after a placement when the status is here.
    ///
    /// Default: [`place_order`](Broker::place_order), no status. Override
    /// it only where the status comes for free; the same contract applies
    /// (never retried blindly, unknown outcomes said so).
    async fn place_order_reporting(&self, order: &OrderRequest) -> Result<Placement, BrokerError> {
        self.place_order(order).await.map(Placement::id_only)
    }

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

    /// Asks the venue whether it still is what [`venue`](Broker::venue)
    /// says (an OpenAlgo server asked for its analyzer/live mode). An
    /// [`BrokerError::ModeMismatch`] means it changed. The default has
    /// nothing to ask and answers `Ok`.
    async fn check_venue(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    /// Every execution of the day. Default: [`BrokerError::NotSupported`].
    async fn trade_book(&self) -> Result<Vec<Trade>, BrokerError> {
        Err(BrokerError::not_supported("trade_book"))
    }

    /// Delivery holdings. Default: [`BrokerError::NotSupported`].
    async fn holdings(&self) -> Result<Vec<Holding>, BrokerError> {
        Err(BrokerError::not_supported("holdings"))
    }

    /// The signed net quantity held in one position (0 when flat or absent).
    /// Default: read from [`positions`](Broker::positions).
    async fn open_position(
        &self,
        strategy: &StrategyTag,
        key: &PositionKey,
    ) -> Result<i64, BrokerError> {
        let _ = strategy;
        Ok(self
            .positions()
            .await?
            .iter()
            .find(|p| p.key() == key)
            .map_or(0, Position::net_quantity))
    }

    /// Brings one position to `target` (signed: negative is short) with one
    /// order. `order` gives exchange, symbol, product, price type, prices
    /// and strategy; its side and quantity are replaced by what the target
    /// needs. Default: [`open_position`](Broker::open_position), then
    /// [`place_order`](Broker::place_order) of the difference.
    async fn place_smart_order(
        &self,
        order: &OrderRequest,
        target: i64,
    ) -> Result<SmartOrderOutcome, BrokerError> {
        let key = PositionKey {
            exchange: order.exchange(),
            symbol: order.symbol().clone(),
            product: order.product(),
        };
        let current = self.open_position(order.strategy(), &key).await?;
        match order_for_target(order, current, target)? {
            None => Ok(SmartOrderOutcome::AlreadyMatched),
            Some(order) => self
                .place_order(&order)
                .await
                .map(SmartOrderOutcome::Placed),
        }
    }

    /// Closes one position with a MARKET order (a smart order to 0).
    async fn close_position(
        &self,
        strategy: &StrategyTag,
        key: &PositionKey,
    ) -> Result<SmartOrderOutcome, BrokerError> {
        let order = market_template(strategy, key)?;
        self.place_smart_order(&order, 0).await
    }

    /// Places several orders as one basket. Default:
    /// [`BrokerError::NotSupported`] (the [`Guard`](crate::Guard) offers an
    /// all-or-none basket over any broker).
    async fn place_basket(
        &self,
        orders: &[OrderRequest],
    ) -> Result<Vec<Result<OrderId, BrokerError>>, BrokerError> {
        let _ = orders;
        Err(BrokerError::not_supported("place_basket"))
    }
}

/// The order that moves a position from `current` to `target`, built from
/// `template` (its side and quantity replaced); `None` when they are equal.
pub(crate) fn order_for_target(
    template: &OrderRequest,
    current: i64,
    target: i64,
) -> Result<Option<OrderRequest>, BrokerError> {
    let delta = i128::from(target) - i128::from(current);
    if delta == 0 {
        return Ok(None);
    }
    let side = if delta > 0 { Side::Buy } else { Side::Sell };
    let quantity = u64::try_from(delta.unsigned_abs())
        .ok()
        .and_then(|q| Quantity::new(q).ok())
        .ok_or_else(|| {
            BrokerError::rejected(&format!(
                "moving the position from {current} to {target} needs a quantity out of range"
            ))
        })?;
    template
        .to_builder()
        .side(side)
        .quantity(quantity)
        .build()
        .map(Some)
        .map_err(|e| BrokerError::rejected(&format!("the order for the target is invalid: {e}")))
}

/// A MARKET order template for `key`, side and quantity to be replaced.
pub(crate) fn market_template(
    strategy: &StrategyTag,
    key: &PositionKey,
) -> Result<OrderRequest, BrokerError> {
    OrderRequest::builder()
        .strategy(strategy.clone())
        .exchange(key.exchange)
        .symbol(key.symbol.clone())
        .side(Side::Buy)
        .price_type(PriceType::Market)
        .product(key.product)
        .quantity(Quantity::new(1).map_err(|e| BrokerError::rejected(&e.to_string()))?)
        .build()
        .map_err(|e| BrokerError::rejected(&format!("the closing order is invalid: {e}")))
}

/// Where a [`Broker`]'s orders go.
///
/// Used by the [`Guard`](crate::Guard)'s mode gate: sandbox mode accepts
/// [`Venue::Simulated`] and [`Venue::BrokerSimulation`], paper mode also
/// [`Venue::SimulatedWithLiveQuotes`], live mode only [`Venue::External`]
/// (a rehearsal venue in live mode is a configuration mistake).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Venue {
    /// In memory: no network at all, no order ever leaves the process.
    Simulated,
    /// Simulated fills; only quotes are read over the network (paper trading).
    /// No order ever leaves the process.
    SimulatedWithLiveQuotes,
    /// A broker-side simulation: orders leave the process for a server that
    /// simulates them (an OpenAlgo server in analyzer mode). The server can
    /// be switched to live by anyone holding an API key, so the guard asks
    /// it before every rehearsal order and checks the mode of every answer.
    BrokerSimulation,
    /// A real venue (or one this crate cannot vouch for): orders may reach an
    /// exchange and move money.
    External,
}

impl Venue {
    /// A stable name: `SIMULATED`, `SIMULATED_WITH_LIVE_QUOTES`,
    /// `BROKER_SIMULATION` or `EXTERNAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Simulated => "SIMULATED",
            Venue::SimulatedWithLiveQuotes => "SIMULATED_WITH_LIVE_QUOTES",
            Venue::BrokerSimulation => "BROKER_SIMULATION",
            Venue::External => "EXTERNAL",
        }
    }

    /// Whether orders sent to this venue can never reach an exchange
    /// (`false` for [`Venue::BrokerSimulation`]: a server switched to live
    /// would send them on).
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
            async fn place_order_reporting(
                &self,
                order: &OrderRequest,
            ) -> Result<Placement, BrokerError> {
                (**self).place_order_reporting(order).await
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
            async fn check_venue(&self) -> Result<(), BrokerError> {
                (**self).check_venue().await
            }
            async fn trade_book(&self) -> Result<Vec<Trade>, BrokerError> {
                (**self).trade_book().await
            }
            async fn holdings(&self) -> Result<Vec<Holding>, BrokerError> {
                (**self).holdings().await
            }
            async fn open_position(
                &self,
                strategy: &StrategyTag,
                key: &PositionKey,
            ) -> Result<i64, BrokerError> {
                (**self).open_position(strategy, key).await
            }
            async fn place_smart_order(
                &self,
                order: &OrderRequest,
                target: i64,
            ) -> Result<SmartOrderOutcome, BrokerError> {
                (**self).place_smart_order(order, target).await
            }
            async fn close_position(
                &self,
                strategy: &StrategyTag,
                key: &PositionKey,
            ) -> Result<SmartOrderOutcome, BrokerError> {
                (**self).close_position(strategy, key).await
            }
            async fn place_basket(
                &self,
                orders: &[OrderRequest],
            ) -> Result<Vec<Result<OrderId, BrokerError>>, BrokerError> {
                (**self).place_basket(orders).await
            }
        }
    )+};
}

forward_broker!(&B, Box<B>, Arc<B>);
