//! A validated order modification.

use asta_core::{OrderError, OrderId, OrderRequest, Price, PriceType, Quantity};

/// A request to change a working order.
///
/// What can change: the price type, quantity, limit price and trigger price.
/// What cannot: symbol, exchange, side, product and strategy; they identify
/// the order and are carried only so that the broker (which may need them on
/// the wire, as OpenAlgo does) can check them against the working order. A
/// broker refuses a modification whose identity differs from the order's.
///
/// The changed order must itself be a valid [`OrderRequest`] (a LIMIT needs a
/// price, an SL needs a trigger on the right side, ...): the builder checks
/// this through asta-core's rules and refuses a request that changes nothing.
///
/// ```
/// use asta_core::{Exchange, OrderId, OrderRequest, PriceType, Product, Quantity, Side, StrategyTag, Symbol};
/// use asta_broker::ModifyRequest;
///
/// let order = OrderRequest::builder()
///     .symbol(Symbol::new("SBIN")?)
///     .exchange(Exchange::Nse)
///     .side(Side::Buy)
///     .price_type(PriceType::Limit)
///     .product(Product::Cnc)
///     .quantity(Quantity::new(1)?)
///     .price("500".parse()?)
///     .strategy(StrategyTag::new("asta")?)
///     .build()?;
/// let change = ModifyRequest::builder(OrderId::new("SBX-000001")?, &order)
///     .price("501".parse()?)
///     .build()?;
/// assert_eq!(change.order().price().map(|p| p.to_string()), Some("501".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyRequest {
    order_id: OrderId,
    order: OrderRequest,
}

/// Why a modification request is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModifyError {
    /// The changed order breaks an order rule.
    #[error("the modified order is invalid: {0}")]
    Invalid(#[from] OrderError),
    /// Nothing would change.
    #[error("the modification changes nothing")]
    NothingChanged,
}

impl ModifyRequest {
    /// Starts a modification of order `order_id`, currently `current`.
    pub fn builder(order_id: OrderId, current: &OrderRequest) -> ModifyRequestBuilder {
        ModifyRequestBuilder {
            order_id,
            current: current.clone(),
            price_type: current.price_type(),
            quantity: current.quantity(),
            price: current.price(),
            trigger_price: current.trigger_price(),
        }
    }

    /// A modification that sends `order` whole, as OpenAlgo's `modifyorder`
    /// carries it (every field, not a difference). `order` is valid by
    /// construction; whether it changes anything, and whether its identity
    /// (symbol, exchange, side, product, strategy) matches the working
    /// order, only the broker or the guard can tell: they know the order.
    pub fn replacing(order_id: OrderId, order: OrderRequest) -> Self {
        Self { order_id, order }
    }

    /// The order to change.
    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }

    /// The order as it should be after the change (identity fields unchanged).
    pub fn order(&self) -> &OrderRequest {
        &self.order
    }
}

/// Builds a [`ModifyRequest`]; only the changeable fields have setters.
#[derive(Debug, Clone)]
#[must_use]
pub struct ModifyRequestBuilder {
    order_id: OrderId,
    current: OrderRequest,
    price_type: PriceType,
    quantity: Quantity,
    price: Option<Price>,
    trigger_price: Option<Price>,
}

impl ModifyRequestBuilder {
    /// Sets the new price type.
    pub fn price_type(mut self, price_type: PriceType) -> Self {
        self.price_type = price_type;
        self
    }

    /// Sets the new total quantity.
    pub fn quantity(mut self, quantity: Quantity) -> Self {
        self.quantity = quantity;
        self
    }

    /// Sets the new limit price.
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }

    /// Removes the limit price (for a change to MARKET or SL-M).
    pub fn no_price(mut self) -> Self {
        self.price = None;
        self
    }

    /// Sets the new trigger price.
    pub fn trigger_price(mut self, trigger: Price) -> Self {
        self.trigger_price = Some(trigger);
        self
    }

    /// Removes the trigger price (for a change to MARKET or LIMIT).
    pub fn no_trigger_price(mut self) -> Self {
        self.trigger_price = None;
        self
    }

    /// Checks the changed order against every order rule.
    pub fn build(self) -> Result<ModifyRequest, ModifyError> {
        let mut builder = self
            .current
            .to_builder()
            .price_type(self.price_type)
            .quantity(self.quantity)
            .no_price()
            .no_trigger_price();
        if let Some(price) = self.price {
            builder = builder.price(price);
        }
        if let Some(trigger) = self.trigger_price {
            builder = builder.trigger_price(trigger);
        }
        let order = builder.build()?;
        if order == self.current {
            return Err(ModifyError::NothingChanged);
        }
        Ok(ModifyRequest {
            order_id: self.order_id,
            order,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asta_core::{Exchange, Product, Side, StrategyTag, Symbol};

    fn order() -> OrderRequest {
        OrderRequest::builder()
            .symbol(Symbol::new("SBIN").unwrap())
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .price_type(PriceType::Limit)
            .product(Product::Cnc)
            .quantity(Quantity::new(1).unwrap())
            .price("500".parse().unwrap())
            .strategy(StrategyTag::new("asta").unwrap())
            .build()
            .unwrap()
    }

    #[test]
    fn validates_the_changed_order() {
        let id = OrderId::new("1").unwrap();
        assert_eq!(
            ModifyRequest::builder(id.clone(), &order()).build(),
            Err(ModifyError::NothingChanged)
        );
        assert!(matches!(
            ModifyRequest::builder(id.clone(), &order())
                .price_type(PriceType::Market)
                .build(),
            Err(ModifyError::Invalid(OrderError::UnexpectedPrice { .. }))
        ));
        let to_market = ModifyRequest::builder(id, &order())
            .price_type(PriceType::Market)
            .no_price()
            .build()
            .unwrap();
        assert_eq!(to_market.order().price(), None);
        assert_eq!(to_market.order().symbol().as_str(), "SBIN");
    }
}
