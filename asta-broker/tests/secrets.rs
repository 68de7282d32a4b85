//! A canary API key never appears in any error, Debug output or log line,
//! even when the server echoes it back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use asta_broker::{Broker, OpenAlgoBroker, OpenAlgoConfig, PaperBroker, SandboxBroker};
use asta_core::{
    Exchange, ManualClock, OrderId, OrderRequest, PriceType, Product, Quantity, Side, StrategyTag,
    Symbol,
};
use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::json;
use support::{Action, Captured, Recorded, Reply, TestServer};

const CANARY: &str = "CANARY-7f3a9c2e-api-key-must-never-leak";

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

#[tokio::test]
async fn the_api_key_never_leaks() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The server echoes the key (and the whole request) in its messages.
    let server = TestServer::start(|req: &Recorded| {
        let echoed = String::from_utf8_lossy(&req.body).to_string();
        let msg = format!("bad request {echoed} apikey={CANARY}");
        match req.path.as_str() {
            "/api/v1/placeorder" => Reply::json(400, &json!({"status": "error", "message": msg})),
            "/api/v1/cancelorder" => Reply::json(403, &json!({"status": "error", "message": msg})),
            "/api/v1/modifyorder" => Reply::json(500, &json!({"status": "error", "message": msg})),
            "/api/v1/funds" => Reply::json(200, &json!({"status": "error", "message": msg})),
            "/api/v1/quotes" => Reply::json(200, &json!({})).with_action(Action::Drop),
            "/api/v1/orderstatus" => Reply::json(404, &json!({"status": "error", "message": msg})),
            "/api/v1/positionbook" => {
                Reply::json(200, &json!({"status": "success"})).delayed(Duration::from_secs(2))
            }
            _ => Reply::raw(200, Some("text/plain"), msg.as_bytes()),
        }
    })
    .await;
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.request_timeout_ms = 200;
    config.reconcile_polls = 1;
    config.reconcile_interval_ms = 1;
    config.read_retries = 0;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap(),
    ));
    let broker = OpenAlgoBroker::new(&config, SecretString::from(CANARY), clock.clone()).unwrap();
    let strategy = StrategyTag::new("asta").unwrap();
    let id = OrderId::new("1").unwrap();
    let change = asta_broker::ModifyRequest::builder(id.clone(), &order())
        .price("501".parse().unwrap())
        .build()
        .unwrap();

    let mut seen = Vec::new();
    seen.push(format!("{broker:?}"));
    // The config holds no key (and its base URL can hold no credentials or query).
    assert!(!format!("{config:?}").contains(CANARY));
    seen.push(format!("{:?}", broker.quote_source()));
    let mut record = |e: asta_broker::BrokerError| {
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
        seen.push(asta_core::PublicError::from_error(&e).to_string());
    };
    record(broker.place_order(&order()).await.unwrap_err());
    record(broker.cancel_order(&strategy, &id).await.unwrap_err());
    record(broker.modify_order(&change).await.unwrap_err());
    record(broker.funds().await.unwrap_err());
    record(
        broker
            .quote(Exchange::Nse, &Symbol::new("SBIN").unwrap())
            .await
            .unwrap_err(),
    );
    record(broker.order_status(&strategy, &id).await.unwrap_err());
    record(broker.positions().await.unwrap_err());
    record(broker.order_book().await.unwrap_err());
    record(broker.cancel_all_orders(&strategy).await.unwrap_err());

    let paper = PaperBroker::new(SandboxBroker::new(clock), broker.quote_source());
    seen.push(format!("{paper:?}"));
    if let Err(e) = paper.place_order(&order()).await {
        seen.push(format!("{e} {e:?}"));
    }

    for text in &seen {
        assert!(!text.contains(CANARY), "leak: {text}");
        assert!(!text.contains("CANARY-7f3a"), "partial leak: {text}");
        assert!(
            !text.contains(&format!(":{}", server.addr.port())),
            "URL leak: {text}"
        );
    }
    // Logs (ours and hyper's, at TRACE) may name the host, never the key or a body.
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("openalgo call answered"),
        "logging was captured"
    );
    assert!(!logs.contains("CANARY-7f3a"), "leak in logs: {logs}");
    assert!(
        !logs.contains("\"strategy\""),
        "a request body reached the logs: {logs}"
    );
    // The server did receive the key, in the body.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.json()["apikey"] == CANARY)
    );
}
