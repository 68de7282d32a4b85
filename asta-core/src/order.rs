//! A complete, valid order request.

use serde::{Deserialize, Serialize};

use crate::{AlgoId, Exchange, Price, PriceType, Product, Quantity, Side, StrategyTag, Symbol};

/// An order request that is valid by construction.
///
/// Built only through [`OrderRequest::builder`] (or deserialized through the
/// same checks), so an `OrderRequest` that exists always satisfies:
/// - the exchange is tradable (not an index segment) and the product fits it
///   (CNC on cash segments, NRML on derivative segments, MIS anywhere tradable);
/// - a price is present exactly when the price type needs one (LIMIT, SL), a
///   trigger price exactly when it needs one (SL, SL-M), and both are above zero;
/// - for SL orders the trigger is on the correct side of the limit price
///   (a buy stop triggers at or below its limit, a sell stop at or above).
///
/// Instrument rules (tick, lot, freeze, band) depend on data and are checked
/// by [`InstrumentCatalog::check_order`](crate::InstrumentCatalog::check_order).
///
/// ```
/// use asta_core::{Exchange, OrderRequest, PriceType, Product, Quantity, Side, StrategyTag, Symbol};
///
/// let order = OrderRequest::builder()
///     .symbol(Symbol::new("SBIN")?)
///     .exchange(Exchange::Nse)
///     .side(Side::Buy)
///     .price_type(PriceType::Limit)
///     .product(Product::Cnc)
///     .quantity(Quantity::new(10)?)
///     .price("800.05".parse()?)
///     .strategy(StrategyTag::new("mean_reversion")?)
///     .build()?;
/// assert_eq!(order.price().map(|p| p.to_string()), Some("800.05".to_owned()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawOrderRequest")]
pub struct OrderRequest {
    // In key order: the order canonical JSON (the audit trail's) writes
    // them in, so its encoder has nothing to sort.
    #[serde(skip_serializing_if = "Option::is_none")]
    algo_id: Option<AlgoId>,
    exchange: Exchange,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<Price>,
    price_type: PriceType,
    product: Product,
    quantity: Quantity,
    side: Side,
    strategy: StrategyTag,
    symbol: Symbol,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_price: Option<Price>,
}

/// Why an order request is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    /// A required field was not set.
    #[error("order is missing its {field}")]
    Missing {
        /// The missing field.
        field: &'static str,
    },
    /// The exchange segment carries quotes only.
    #[error("{exchange} is an index segment; orders cannot be placed on it")]
    NotTradable {
        /// The exchange.
        exchange: Exchange,
    },
    /// The product does not fit the exchange segment.
    #[error(
        "product {product} is not allowed on {exchange} (CNC is for NSE/BSE cash, NRML for derivatives)"
    )]
    ProductNotAllowed {
        /// The product.
        product: Product,
        /// The exchange.
        exchange: Exchange,
    },
    /// The price type needs a limit price and none was given.
    #[error("a {price_type} order needs a price")]
    MissingPrice {
        /// The price type.
        price_type: PriceType,
    },
    /// A limit price was given for a price type that takes none.
    #[error("a {price_type} order takes no price")]
    UnexpectedPrice {
        /// The price type.
        price_type: PriceType,
    },
    /// The price type needs a trigger price and none was given.
    #[error("a {price_type} order needs a trigger price")]
    MissingTrigger {
        /// The price type.
        price_type: PriceType,
    },
    /// A trigger price was given for a price type that takes none.
    #[error("a {price_type} order takes no trigger price")]
    UnexpectedTrigger {
        /// The price type.
        price_type: PriceType,
    },
    /// A price or trigger of zero.
    #[error("the {field} must be above zero")]
    ZeroPrice {
        /// `price` or `trigger price`.
        field: &'static str,
    },
    /// A stop-loss limit order whose trigger is on the wrong side of its price.
    #[error("a {side} SL order needs its trigger {trigger} {relation} its price {price}")]
    TriggerWrongSide {
        /// The side.
        side: Side,
        /// The trigger price.
        trigger: Price,
        /// The limit price.
        price: Price,
        /// `at or below` (buy) or `at or above` (sell).
        relation: &'static str,
    },
}

impl OrderRequest {
    /// Starts building an order.
    pub fn builder() -> OrderRequestBuilder {
        OrderRequestBuilder::default()
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

    /// The quantity.
    pub fn quantity(&self) -> Quantity {
        self.quantity
    }

    /// The limit price (LIMIT and SL orders only).
    pub fn price(&self) -> Option<Price> {
        self.price
    }

    /// The trigger price (SL and SL-M orders only).
    pub fn trigger_price(&self) -> Option<Price> {
        self.trigger_price
    }

    /// The strategy tag.
    pub fn strategy(&self) -> &StrategyTag {
        &self.strategy
    }

    /// The exchange algo id, if any.
    pub fn algo_id(&self) -> Option<&AlgoId> {
        self.algo_id.as_ref()
    }

    /// A builder preset with every field of this order, to derive a changed copy.
    pub fn to_builder(&self) -> OrderRequestBuilder {
        OrderRequestBuilder {
            symbol: Some(self.symbol.clone()),
            exchange: Some(self.exchange),
            side: Some(self.side),
            price_type: Some(self.price_type),
            product: Some(self.product),
            quantity: Some(self.quantity),
            price: self.price,
            trigger_price: self.trigger_price,
            strategy: Some(self.strategy.clone()),
            algo_id: self.algo_id.clone(),
        }
    }
}

/// Builds an [`OrderRequest`]; every rule is checked in [`build`](Self::build).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct OrderRequestBuilder {
    symbol: Option<Symbol>,
    exchange: Option<Exchange>,
    side: Option<Side>,
    price_type: Option<PriceType>,
    product: Option<Product>,
    quantity: Option<Quantity>,
    price: Option<Price>,
    trigger_price: Option<Price>,
    strategy: Option<StrategyTag>,
    algo_id: Option<AlgoId>,
}

impl OrderRequestBuilder {
    /// Sets the symbol.
    pub fn symbol(mut self, symbol: Symbol) -> Self {
        self.symbol = Some(symbol);
        self
    }

    /// Sets the exchange segment.
    pub fn exchange(mut self, exchange: Exchange) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// Sets the side.
    pub fn side(mut self, side: Side) -> Self {
        self.side = Some(side);
        self
    }

    /// Sets the price type.
    pub fn price_type(mut self, price_type: PriceType) -> Self {
        self.price_type = Some(price_type);
        self
    }

    /// Sets the product.
    pub fn product(mut self, product: Product) -> Self {
        self.product = Some(product);
        self
    }

    /// Sets the quantity.
    pub fn quantity(mut self, quantity: Quantity) -> Self {
        self.quantity = Some(quantity);
        self
    }

    /// Sets the limit price.
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }

    /// Clears the limit price.
    pub fn no_price(mut self) -> Self {
        self.price = None;
        self
    }

    /// Sets the trigger price.
    pub fn trigger_price(mut self, trigger: Price) -> Self {
        self.trigger_price = Some(trigger);
        self
    }

    /// Clears the trigger price.
    pub fn no_trigger_price(mut self) -> Self {
        self.trigger_price = None;
        self
    }

    /// Sets the strategy tag.
    pub fn strategy(mut self, strategy: StrategyTag) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Sets the exchange algo id.
    pub fn algo_id(mut self, algo_id: AlgoId) -> Self {
        self.algo_id = Some(algo_id);
        self
    }

    /// Checks every rule and returns the order.
    pub fn build(self) -> Result<OrderRequest, OrderError> {
        let symbol = self.symbol.ok_or(OrderError::Missing { field: "symbol" })?;
        let exchange = self
            .exchange
            .ok_or(OrderError::Missing { field: "exchange" })?;
        let side = self.side.ok_or(OrderError::Missing { field: "side" })?;
        let price_type = self.price_type.ok_or(OrderError::Missing {
            field: "price type",
        })?;
        let product = self
            .product
            .ok_or(OrderError::Missing { field: "product" })?;
        let quantity = self
            .quantity
            .ok_or(OrderError::Missing { field: "quantity" })?;
        let strategy = self
            .strategy
            .ok_or(OrderError::Missing { field: "strategy" })?;

        if !exchange.is_tradable() {
            return Err(OrderError::NotTradable { exchange });
        }
        if !product.allowed_on(exchange) {
            return Err(OrderError::ProductNotAllowed { product, exchange });
        }
        match (price_type.needs_price(), self.price) {
            (true, None) => return Err(OrderError::MissingPrice { price_type }),
            (false, Some(_)) => return Err(OrderError::UnexpectedPrice { price_type }),
            (true, Some(p)) if p == Price::ZERO => {
                return Err(OrderError::ZeroPrice { field: "price" });
            }
            _ => {}
        }
        match (price_type.needs_trigger(), self.trigger_price) {
            (true, None) => return Err(OrderError::MissingTrigger { price_type }),
            (false, Some(_)) => return Err(OrderError::UnexpectedTrigger { price_type }),
            (true, Some(p)) if p == Price::ZERO => {
                return Err(OrderError::ZeroPrice {
                    field: "trigger price",
                });
            }
            _ => {}
        }
        if let (PriceType::StopLoss, Some(price), Some(trigger)) =
            (price_type, self.price, self.trigger_price)
        {
            let (ok, relation) = match side {
                Side::Buy => (trigger <= price, "at or below"),
                Side::Sell => (trigger >= price, "at or above"),
            };
            if !ok {
                return Err(OrderError::TriggerWrongSide {
                    side,
                    trigger,
                    price,
                    relation,
                });
            }
        }
        Ok(OrderRequest {
            symbol,
            exchange,
            side,
            price_type,
            product,
            quantity,
            price: self.price,
            trigger_price: self.trigger_price,
            strategy,
            algo_id: self.algo_id,
        })
    }
}

/// The wire shape, checked by [`OrderRequestBuilder::build`] on the way in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrderRequest {
    symbol: Symbol,
    exchange: Exchange,
    side: Side,
    price_type: PriceType,
    product: Product,
    quantity: Quantity,
    #[serde(default)]
    price: Option<Price>,
    #[serde(default)]
    trigger_price: Option<Price>,
    strategy: StrategyTag,
    #[serde(default)]
    algo_id: Option<AlgoId>,
}

impl TryFrom<RawOrderRequest> for OrderRequest {
    type Error = OrderError;

    fn try_from(raw: RawOrderRequest) -> Result<Self, Self::Error> {
        let mut builder = OrderRequest::builder()
            .symbol(raw.symbol)
            .exchange(raw.exchange)
            .side(raw.side)
            .price_type(raw.price_type)
            .product(raw.product)
            .quantity(raw.quantity)
            .strategy(raw.strategy);
        builder.price = raw.price;
        builder.trigger_price = raw.trigger_price;
        builder.algo_id = raw.algo_id;
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(price_type: PriceType) -> OrderRequestBuilder {
        OrderRequest::builder()
            .symbol(Symbol::new("SBIN").unwrap())
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .price_type(price_type)
            .product(Product::Cnc)
            .quantity(Quantity::new(10).unwrap())
            .strategy(StrategyTag::new("demo").unwrap())
    }

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    #[test]
    fn prices_present_exactly_when_needed() {
        use OrderError as E;
        use PriceType as T;
        let cases: Vec<(OrderRequestBuilder, Result<(), E>)> = vec![
            (base(T::Market), Ok(())),
            (
                base(T::Market).price(p("800")),
                Err(E::UnexpectedPrice {
                    price_type: T::Market,
                }),
            ),
            (
                base(T::Market).trigger_price(p("800")),
                Err(E::UnexpectedTrigger {
                    price_type: T::Market,
                }),
            ),
            (base(T::Limit).price(p("800")), Ok(())),
            (
                base(T::Limit),
                Err(E::MissingPrice {
                    price_type: T::Limit,
                }),
            ),
            (
                base(T::Limit).price(p("0")),
                Err(E::ZeroPrice { field: "price" }),
            ),
            (
                base(T::Limit).price(p("800")).trigger_price(p("790")),
                Err(E::UnexpectedTrigger {
                    price_type: T::Limit,
                }),
            ),
            (
                base(T::StopLoss).price(p("800")).trigger_price(p("799")),
                Ok(()),
            ),
            (
                base(T::StopLoss).price(p("800")).trigger_price(p("800")),
                Ok(()),
            ),
            (
                base(T::StopLoss).price(p("800")),
                Err(E::MissingTrigger {
                    price_type: T::StopLoss,
                }),
            ),
            (
                base(T::StopLoss).trigger_price(p("800")),
                Err(E::MissingPrice {
                    price_type: T::StopLoss,
                }),
            ),
            (
                base(T::StopLoss).price(p("800")).trigger_price(p("801")),
                Err(E::TriggerWrongSide {
                    side: Side::Buy,
                    trigger: p("801"),
                    price: p("800"),
                    relation: "at or below",
                }),
            ),
            (
                base(T::StopLoss)
                    .side(Side::Sell)
                    .price(p("800"))
                    .trigger_price(p("799")),
                Err(E::TriggerWrongSide {
                    side: Side::Sell,
                    trigger: p("799"),
                    price: p("800"),
                    relation: "at or above",
                }),
            ),
            (base(T::StopLossMarket).trigger_price(p("790")), Ok(())),
            (
                base(T::StopLossMarket).trigger_price(p("0")),
                Err(E::ZeroPrice {
                    field: "trigger price",
                }),
            ),
            (
                base(T::StopLossMarket),
                Err(E::MissingTrigger {
                    price_type: T::StopLossMarket,
                }),
            ),
            (
                base(T::StopLossMarket)
                    .price(p("790"))
                    .trigger_price(p("790")),
                Err(E::UnexpectedPrice {
                    price_type: T::StopLossMarket,
                }),
            ),
        ];
        for (i, (builder, expected)) in cases.into_iter().enumerate() {
            assert_eq!(builder.build().map(|_| ()), expected, "case {i}");
        }
    }

    #[test]
    fn segments_and_products() {
        assert_eq!(
            base(PriceType::Market).exchange(Exchange::NseIndex).build(),
            Err(OrderError::NotTradable {
                exchange: Exchange::NseIndex
            })
        );
        assert_eq!(
            base(PriceType::Market).exchange(Exchange::Nfo).build(),
            Err(OrderError::ProductNotAllowed {
                product: Product::Cnc,
                exchange: Exchange::Nfo
            })
        );
        assert!(
            base(PriceType::Market)
                .exchange(Exchange::Nfo)
                .product(Product::Nrml)
                .build()
                .is_ok()
        );
        assert_eq!(
            OrderRequest::builder().build(),
            Err(OrderError::Missing { field: "symbol" })
        );
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let order = base(PriceType::Limit).price(p("800.05")).build().unwrap();
        let json = serde_json::to_string(&order).unwrap();
        assert_eq!(
            json,
            r#"{"exchange":"NSE","price":"800.05","price_type":"LIMIT","product":"CNC","quantity":10,"side":"BUY","strategy":"demo","symbol":"SBIN"}"#
        );
        assert_eq!(serde_json::from_str::<OrderRequest>(&json).unwrap(), order);

        let market_with_price = json.replace("\"LIMIT\"", "\"MARKET\"");
        assert!(serde_json::from_str::<OrderRequest>(&market_with_price).is_err());
        let unknown_field = json.replace("\"strategy\"", "\"tag\":\"x\",\"strategy\"");
        assert!(serde_json::from_str::<OrderRequest>(&unknown_field).is_err());
        let bad_symbol = json.replace("SBIN", "sbin");
        assert!(serde_json::from_str::<OrderRequest>(&bad_symbol).is_err());
    }

    #[test]
    fn to_builder_round_trips() {
        let order = base(PriceType::Limit).price(p("800.05")).build().unwrap();
        assert_eq!(order.to_builder().build().unwrap(), order);
        let changed = order
            .to_builder()
            .quantity(Quantity::new(5).unwrap())
            .build()
            .unwrap();
        assert_eq!(changed.quantity().get(), 5);
    }
}
