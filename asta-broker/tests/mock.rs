//! The `mock` feature's MockBroker works as a `dyn Broker`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]
#![cfg(feature = "mock")]

use std::sync::Arc;

use asta_broker::{Broker, BrokerError, MockBroker};
use asta_core::{
    Exchange, OrderId, OrderRequest, PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};

#[tokio::test]
async fn mock_broker_is_a_dyn_broker() {
    let mut mock = MockBroker::new();
    mock.expect_place_order()
        .times(1)
        .returning(|_| Ok(OrderId::new("M-1").unwrap()));
    mock.expect_funds().returning(|| {
        Err(BrokerError::Unavailable {
            detail: "down".into(),
        })
    });
    mock.expect_cancel_order().never();
    let broker: Arc<dyn Broker> = Arc::new(mock);
    let order = OrderRequest::builder()
        .symbol(Symbol::new("SBIN").unwrap())
        .exchange(Exchange::Nse)
        .side(Side::Buy)
        .price_type(PriceType::Market)
        .product(Product::Cnc)
        .quantity(Quantity::new(1).unwrap())
        .strategy(StrategyTag::new("m").unwrap())
        .build()
        .unwrap();
    assert_eq!(broker.place_order(&order).await.unwrap().as_str(), "M-1");
    assert!(broker.funds().await.is_err());
}
