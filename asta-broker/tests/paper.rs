//! PaperBroker: simulated fills against quotes from a source; never an order sent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use asta_broker::{
    Broker, BrokerError, OpenAlgoConfig, OpenAlgoQuoteSource, OrderState, PaperBroker, Quote,
    QuoteSource, SandboxBroker,
};
use asta_core::{
    Clock, Exchange, ManualClock, OrderRequest, Price, PriceType, Product, Quantity, Side,
    StrategyTag, Symbol,
};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::json;
use support::{Recorded, Reply, TestServer};

#[derive(Debug)]
struct Scripted {
    clock: ManualClock,
    ltp: Mutex<&'static str>,
    calls: AtomicUsize,
}

#[async_trait]
impl QuoteSource for Scripted {
    async fn quote(&self, _: Exchange, _: &Symbol) -> Result<Quote, BrokerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let ltp: Price = self.ltp.lock().unwrap().parse().unwrap();
        Ok(Quote::last(ltp, self.clock.now()).unwrap())
    }
}

fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap())
}

fn order(pt: PriceType, price: Option<&str>) -> OrderRequest {
    let b = OrderRequest::builder()
        .symbol(Symbol::new("SBIN").unwrap())
        .exchange(Exchange::Nse)
        .side(Side::Buy)
        .price_type(pt)
        .product(Product::Cnc)
        .quantity(Quantity::new(10).unwrap())
        .strategy(StrategyTag::new("paper").unwrap());
    match price {
        Some(p) => b.price(p.parse().unwrap()).build().unwrap(),
        None => b.build().unwrap(),
    }
}

#[tokio::test]
async fn fills_against_the_sources_quotes_and_refreshes() {
    let c = clock();
    let source = Arc::new(Scripted {
        clock: c.clone(),
        ltp: Mutex::new("800"),
        calls: AtomicUsize::new(0),
    });
    let paper = PaperBroker::new(SandboxBroker::new(Arc::new(c)), Arc::clone(&source));
    let id = paper
        .place_order(&order(PriceType::Market, None))
        .await
        .unwrap();
    assert_eq!(source.calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        paper
            .order_status(&StrategyTag::new("paper").unwrap(), &id)
            .await
            .unwrap()
            .average_price(),
        Some("800".parse().unwrap())
    );
    let resting = paper
        .place_order(&order(PriceType::Limit, Some("790")))
        .await
        .unwrap();
    *source.ltp.lock().unwrap() = "789";
    let filled = paper.refresh().await.unwrap();
    assert_eq!(filled, vec![resting]);
    let pos = &paper.positions().await.unwrap()[0];
    assert_eq!(pos.net_quantity(), 20);
    assert_eq!(pos.unrealized_pnl().to_string(), "-120");
}

#[tokio::test]
async fn quotes_come_from_openalgo_and_no_order_is_ever_sent() {
    let server = TestServer::start(|req: &Recorded| match req.path.as_str() {
        "/api/v1/quotes" => Reply::json(
            200,
            &json!({"status": "success", "data": {
            "ask": 800.05, "bid": 799.95, "high": 800.0, "low": 800.0, "ltp": 800.0,
            "oi": 0, "open": 800.0, "prev_close": 800.0, "volume": 1000}}),
        ),
        _ => Reply::json(
            500,
            &json!({"status": "error", "message": "must not be called"}),
        ),
    })
    .await;
    let c = clock();
    let source = OpenAlgoQuoteSource::new(
        &OpenAlgoConfig::new(&server.base_url()),
        SecretString::from("paper-key"),
        Arc::new(c.clone()),
    )
    .unwrap();
    let paper = PaperBroker::new(SandboxBroker::new(Arc::new(c)), source);
    let strategy = StrategyTag::new("paper").unwrap();
    let id = paper
        .place_order(&order(PriceType::Market, None))
        .await
        .unwrap();
    let status = paper.order_status(&strategy, &id).await.unwrap();
    assert_eq!(status.state(), OrderState::Complete);
    assert_eq!(status.average_price(), Some("800.05".parse().unwrap()));
    paper
        .place_order(&order(PriceType::Limit, Some("700")))
        .await
        .unwrap();
    paper.cancel_all_orders(&strategy).await.unwrap();
    paper.close_all_positions(&strategy).await.unwrap();
    paper.funds().await.unwrap();
    paper.order_book().await.unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(!paths.is_empty());
    assert!(paths.iter().all(|p| p == "/api/v1/quotes"), "{paths:?}");
}

#[tokio::test]
async fn an_order_without_a_quote_is_rejected() {
    #[derive(Debug)]
    struct Down;
    #[async_trait]
    impl QuoteSource for Down {
        async fn quote(&self, _: Exchange, _: &Symbol) -> Result<Quote, BrokerError> {
            Err(BrokerError::Unavailable {
                detail: "feed down".into(),
            })
        }
    }
    let paper = PaperBroker::new(SandboxBroker::new(Arc::new(clock())), Down);
    let err = paper
        .place_order(&order(PriceType::Limit, Some("700")))
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::Rejected { .. }), "{err:?}");
    assert!(paper.order_book().await.unwrap().is_empty());
}
