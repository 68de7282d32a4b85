//! OpenAlgo adapter behaviour beyond the contract data: construction policy,
//! slow and dropped answers, reconciliation, rate limits, auth loss,
//! malformed, mistyped and oversized answers, and secrecy of the key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asta_broker::{Broker, BrokerError, OpenAlgoBroker, OpenAlgoConfig, OpenAlgoConfigError};
use asta_core::{
    Exchange, ManualClock, OrderId, OrderRequest, PriceType, Product, Quantity, Side, StrategyTag,
    Symbol,
};
use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{Action, Recorded, Reply, TestServer};

const KEY: &str = "CANARY0KEY0deadbeef0deadbeef0deadbeef0deadbeef0deadbeef0deadbeef00";

fn clock() -> ManualClock {
    // 02:51:00 IST on 2026-11-28.
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 21, 21, 0).unwrap())
}

fn config(server: &TestServer) -> OpenAlgoConfig {
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.request_timeout_ms = 300;
    config.connect_timeout_ms = 300;
    config.reconcile_polls = 3;
    config.reconcile_interval_ms = 5;
    config.read_retries = 2;
    config.retry_backoff_ms = 1;
    config
}

fn broker(server: &TestServer) -> OpenAlgoBroker {
    OpenAlgoBroker::new(&config(server), SecretString::from(KEY), Arc::new(clock())).unwrap()
}

fn limit_order() -> OrderRequest {
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

fn book_entry(id: &str, timestamp: &str, price: f64, strategy: &str) -> Value {
    json!({
        "action": "BUY", "average_price": 0.0, "exchange": "NSE", "filled_quantity": 0,
        "order_status": "open", "orderid": id, "pending_quantity": 1, "price": price,
        "pricetype": "LIMIT", "product": "CNC", "quantity": 1, "rejection_reason": "",
        "strategy": strategy, "symbol": "SBIN", "timestamp": timestamp, "trigger_price": 0.0
    })
}

fn book(orders: Vec<Value>) -> Reply {
    Reply::json(
        200,
        &json!({"data": {"orders": orders, "statistics": {}}, "mode": "analyze", "status": "success"}),
    )
}

fn ok_order(id: &str) -> Reply {
    Reply::json(
        200,
        &json!({"mode": "analyze", "orderid": id, "status": "success"}),
    )
}

fn routes(place: Reply, orderbook: Reply) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |req: &Recorded| match req.path.as_str() {
        "/api/v1/placeorder" => place.clone(),
        "/api/v1/orderbook" => orderbook.clone(),
        _ => Reply::json(404, &json!({"status": "error", "message": "Not found"})),
    }
}

#[tokio::test]
async fn construction_refuses_unsafe_settings_with_clear_errors() {
    let key = || SecretString::from(KEY);
    let c = || -> Arc<dyn asta_core::Clock> { Arc::new(clock()) };
    for url in [
        "http://10.1.2.3:5000",
        "http://openalgo.example.com",
        "http://192.168.0.10",
        "ftp://127.0.0.1",
        "https://user:pw@example.com",
        "https://example.com/?apikey=abc",
        "",
    ] {
        let err = OpenAlgoBroker::new(&OpenAlgoConfig::new(url), key(), c()).unwrap_err();
        assert!(
            matches!(err, OpenAlgoConfigError::BaseUrl(_)),
            "{url}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            !text.contains("10.1.2.3") && !text.contains("abc"),
            "{text}"
        );
    }
    assert!(
        OpenAlgoBroker::new(&OpenAlgoConfig::new("http://10.1.2.3:5000"), key(), c())
            .unwrap_err()
            .to_string()
            .contains("loopback")
    );
    for url in [
        "https://openalgo.example.com",
        "http://127.0.0.1:5000",
        "http://[::1]:5000",
        "http://localhost:5000/base/",
    ] {
        assert!(
            OpenAlgoBroker::new(&OpenAlgoConfig::new(url), key(), c()).is_ok(),
            "{url}"
        );
    }
    let mut slow = OpenAlgoConfig::new("https://x.example");
    slow.request_timeout_ms = 120_000;
    assert!(matches!(
        OpenAlgoBroker::new(&slow, key(), c()),
        Err(OpenAlgoConfigError::OutOfRange {
            field: "request_timeout_ms",
            ..
        })
    ));
    let mut fast = OpenAlgoConfig::new("https://x.example");
    fast.order_rate_per_sec = 11;
    assert!(OpenAlgoBroker::new(&fast, key(), c()).is_err());
    assert_eq!(
        OpenAlgoBroker::new(
            &OpenAlgoConfig::new("https://x.example"),
            SecretString::from(" "),
            c()
        )
        .unwrap_err(),
        OpenAlgoConfigError::EmptyKey
    );
    // deny_unknown_fields: a typo is an error.
    assert!(
        serde_json::from_str::<OpenAlgoConfig>(r#"{"base_url":"https://x","request_timout_ms":5}"#)
            .is_err()
    );
}

#[tokio::test]
async fn slow_placement_then_reconcile_finds_the_order() {
    let server = TestServer::start(routes(
        ok_order("1").delayed(Duration::from_secs(2)),
        book(vec![
            // Same order placed before the attempt (minus look-back): not ours.
            book_entry("111", "2026-11-28 02:50:00", 500.0, "asta"),
            // Other strategy or price: not ours.
            book_entry("222", "2026-11-28 02:51:01", 500.0, "other"),
            book_entry("333", "2026-11-28 02:51:01", 501.0, "asta"),
            // Ours.
            book_entry("26112887002562", "2026-11-28 02:51:01", 500.0, "asta"),
        ]),
    ))
    .await;
    let broker = broker(&server);
    let id = broker.place_order(&limit_order()).await.unwrap();
    assert_eq!(id.as_str(), "26112887002562");
    assert_eq!(
        server.count("/api/v1/placeorder"),
        1,
        "placement is never retried"
    );
    assert!(server.count("/api/v1/orderbook") >= 1);
}

#[tokio::test]
async fn slow_placement_then_reconcile_finds_nothing_stays_unknown() {
    let server = TestServer::start(routes(
        ok_order("1").delayed(Duration::from_secs(2)),
        book(vec![book_entry(
            "111",
            "2026-11-28 02:40:00",
            500.0,
            "asta",
        )]),
    ))
    .await;
    let err = broker(&server)
        .place_order(&limit_order())
        .await
        .unwrap_err();
    let BrokerError::OutcomeUnknown { detail } = &err else {
        panic!("{err:?}")
    };
    assert!(
        detail.contains("no answer from placeorder within 300 ms"),
        "{detail}"
    );
    assert!(
        detail.contains("no matching order after 3 order-book polls"),
        "{detail}"
    );
    assert!(!err.definitely_not_placed());
    assert_eq!(server.count("/api/v1/placeorder"), 1);
    assert_eq!(server.count("/api/v1/orderbook"), 3);
}

#[tokio::test]
async fn two_matching_orders_are_ambiguous_not_guessed() {
    let server = TestServer::start(routes(
        Reply::json(
            500,
            &json!({"status": "error", "message": "Failed to place order due to internal error"}),
        ),
        book(vec![
            book_entry("444", "2026-11-28 02:51:00", 500.0, "asta"),
            book_entry("555", "2026-11-28 02:51:02", 500.0, "asta"),
        ]),
    ))
    .await;
    let err = broker(&server)
        .place_order(&limit_order())
        .await
        .unwrap_err();
    let BrokerError::OutcomeUnknown { detail } = &err else {
        panic!("{err:?}")
    };
    assert!(
        detail.contains("ambiguous: 2 orders match (444, 555)"),
        "{detail}"
    );
}

#[tokio::test]
async fn an_order_this_adapter_already_placed_is_not_mistaken_for_the_unknown_one() {
    let placements = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&placements);
    let server = TestServer::start(move |req: &Recorded| match req.path.as_str() {
        "/api/v1/placeorder" => {
            if p.fetch_add(1, Ordering::SeqCst) == 0 {
                ok_order("777")
            } else {
                Reply::json(503, &json!({"status": "error", "message": "busy"}))
            }
        }
        _ => book(vec![book_entry(
            "777",
            "2026-11-28 02:51:00",
            500.0,
            "asta",
        )]),
    })
    .await;
    let broker = broker(&server);
    assert_eq!(
        broker.place_order(&limit_order()).await.unwrap().as_str(),
        "777"
    );
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    assert!(matches!(err, BrokerError::OutcomeUnknown { .. }), "{err:?}");
}

#[tokio::test]
async fn null_order_id_is_reconciled() {
    let server = TestServer::start(routes(
        Reply::json(
            200,
            &json!({"mode": "analyze", "status": "success", "orderid": null}),
        ),
        book(vec![book_entry(
            "888",
            "2026-11-28 02:51:00",
            500.0,
            "asta",
        )]),
    ))
    .await;
    assert_eq!(
        broker(&server)
            .place_order(&limit_order())
            .await
            .unwrap()
            .as_str(),
        "888"
    );
}

#[tokio::test]
async fn dropped_connections() {
    let server = TestServer::start(|req: &Recorded| match req.path.as_str() {
        "/api/v1/placeorder" | "/api/v1/funds" => {
            Reply::json(200, &json!({})).with_action(Action::Drop)
        }
        "/api/v1/positionbook" => Reply::json(
            200,
            &json!({"status": "success", "data": [1, 2, 3, 4, 5, 6, 7, 8]}),
        )
        .with_action(Action::TruncateBody),
        _ => book(vec![]),
    })
    .await;
    let broker = broker(&server);
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    let BrokerError::OutcomeUnknown { detail } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("failed before an answer"), "{detail}");
    assert_eq!(server.count("/api/v1/placeorder"), 1);

    let err = broker.funds().await.unwrap_err();
    assert!(matches!(err, BrokerError::Unavailable { .. }), "{err:?}");
    assert_eq!(
        server.count("/api/v1/funds"),
        3,
        "read-only calls retry twice"
    );

    let err = broker.positions().await.unwrap_err();
    assert!(matches!(err, BrokerError::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn connection_refused_is_unavailable_and_not_placed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut config = OpenAlgoConfig::new(&format!("http://{addr}"));
    config.read_retries = 0;
    let broker = OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(clock())).unwrap();
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    assert!(matches!(err, BrokerError::Unavailable { .. }), "{err:?}");
    assert!(err.definitely_not_placed());
    assert!(!err.to_string().contains(&addr.port().to_string()), "{err}");
}

#[tokio::test]
async fn server_429_bursts_and_the_client_side_limit() {
    let server = TestServer::start(|req: &Recorded| match req.path.as_str() {
        "/api/v1/cancelorder" => Reply::json(429, &json!({"message": "10 per 1 second"})),
        "/api/v1/funds" => Reply::json(429, &json!({"message": "50 per 1 second"})),
        _ => ok_order("1"),
    })
    .await;
    let broker = broker(&server);
    let strategy = StrategyTag::new("asta").unwrap();
    for _ in 0..3 {
        let err = broker
            .cancel_order(&strategy, &OrderId::new("1").unwrap())
            .await
            .unwrap_err();
        assert_eq!(err, BrokerError::RateLimited { retry_after: None });
        assert!(err.definitely_not_placed());
    }
    // A read that stays rate limited gives up after its retries.
    assert!(matches!(
        broker.funds().await,
        Err(BrokerError::RateLimited { .. })
    ));
    assert_eq!(server.count("/api/v1/funds"), 3);

    // Client side: 8 placements per second per endpoint (default), the 9th is
    // denied without reaching the server.
    for _ in 0..8 {
        broker.place_order(&limit_order()).await.unwrap();
    }
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    let BrokerError::RateLimited {
        retry_after: Some(wait),
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(wait <= Duration::from_secs(1));
    assert_eq!(server.count("/api/v1/placeorder"), 8);
}

#[tokio::test]
async fn forbidden_in_the_middle_of_a_session() {
    let expired = Arc::new(Mutex::new(false));
    let e = Arc::clone(&expired);
    let server = TestServer::start(move |req: &Recorded| {
        if *e.lock().unwrap() {
            return Reply::json(
                403,
                &json!({"status": "error", "message": "Invalid openalgo apikey"}),
            );
        }
        match req.path.as_str() {
            "/api/v1/funds" => Reply::json(
                200,
                &json!({"mode": "analyze", "status": "success", "data": {"availablecash": 1000.0}}),
            ),
            _ => ok_order("1"),
        }
    })
    .await;
    let broker = broker(&server);
    assert_eq!(
        broker.funds().await.unwrap().available_cash().to_string(),
        "1000"
    );
    *expired.lock().unwrap() = true;
    let err = broker.funds().await.unwrap_err();
    assert!(matches!(err, BrokerError::AuthFailed { .. }), "{err:?}");
    assert_eq!(
        server.count("/api/v1/funds"),
        2,
        "auth failures are not retried"
    );
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    assert!(matches!(err, BrokerError::AuthFailed { .. }), "{err:?}");
    assert!(err.definitely_not_placed());
    assert_eq!(server.count("/api/v1/orderbook"), 0, "nothing to reconcile");
}

#[tokio::test]
async fn malformed_and_mistyped_answers() {
    let server = TestServer::start(|req: &Recorded| match req.path.as_str() {
        "/api/v1/placeorder" => Reply::raw(200, Some("application/json"), b"{\"status\":\"succ"),
        "/api/v1/funds" => Reply::raw(200, Some("application/json"), b"{bad"),
        "/api/v1/positionbook" => Reply::raw(200, Some("text/html"), b"<html>login</html>"),
        "/api/v1/quotes" => Reply::json(200, &json!({"status": "success", "data": {"ltp": "NaN"}})),
        "/api/v1/orderstatus" => Reply::json(
            200,
            &json!({"mode": "analyze", "status": "success", "data": {"orderid": "1"}}),
        ),
        "/api/v1/cancelorder" => Reply::raw(200, None, b"ok"),
        _ => book(vec![]),
    })
    .await;
    let broker = broker(&server);
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    let BrokerError::OutcomeUnknown { detail } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("not a JSON object"), "{detail}");
    assert!(
        detail.contains("reconciliation found no matching order"),
        "{detail}"
    );

    assert!(matches!(
        broker.funds().await,
        Err(BrokerError::Protocol { .. })
    ));
    let err = broker.positions().await.unwrap_err();
    let BrokerError::Protocol { detail } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("not application/json"), "{detail}");
    assert!(!detail.contains("login"), "bodies never reach errors");
    assert!(matches!(
        broker
            .quote(Exchange::Nse, &Symbol::new("SBIN").unwrap())
            .await,
        Err(BrokerError::Protocol { .. })
    ));
    assert!(matches!(
        broker
            .order_status(
                &StrategyTag::new("asta").unwrap(),
                &OrderId::new("1").unwrap()
            )
            .await,
        Err(BrokerError::Protocol { .. })
    ));
    // A cancel whose success cannot be read may have happened.
    let err = broker
        .cancel_order(
            &StrategyTag::new("asta").unwrap(),
            &OrderId::new("1").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::OutcomeUnknown { .. }), "{err:?}");
}

#[tokio::test]
async fn oversized_bodies_are_cut_off() {
    let big = serde_json::to_vec(&json!({
        "status": "success",
        "data": {"orders": []},
        "padding": "x".repeat((1 << 20) + 1),
    }))
    .unwrap();
    assert!(big.len() > 1 << 20);
    let body = big.clone();
    let server =
        TestServer::start(move |req: &Recorded| match req.path.as_str() {
            "/api/v1/orderbook" => Reply::raw(200, Some("application/json"), &body),
            "/api/v1/positionbook" => Reply::raw(200, Some("application/json"), &body)
                .with_action(Action::RespondUntilClose),
            _ => Reply::raw(200, Some("application/json"), &body)
                .with_action(Action::RespondUntilClose),
        })
        .await;
    let broker = broker(&server);
    for result in [
        broker.order_book().await.map(|_| ()),
        broker.positions().await.map(|_| ()),
    ] {
        let err = result.unwrap_err();
        let BrokerError::Protocol { detail } = &err else {
            panic!("{err:?}")
        };
        assert!(detail.contains("larger than 1048576 bytes"), "{detail}");
    }
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    assert!(matches!(err, BrokerError::OutcomeUnknown { .. }), "{err:?}");
}

#[tokio::test]
async fn requests_carry_exactly_the_fields_the_server_accepts() {
    let server = TestServer::start(routes(ok_order("9"), book(vec![]))).await;
    let order = limit_order()
        .to_builder()
        .price_type(PriceType::StopLoss)
        .side(Side::Sell)
        .price("499.95".parse().unwrap())
        .trigger_price("500.05".parse().unwrap())
        .build()
        .unwrap();
    broker(&server).place_order(&order).await.unwrap();
    let sent = server.last("/api/v1/placeorder").unwrap().json();
    assert_eq!(
        sent,
        json!({
            "apikey": KEY, "strategy": "asta", "symbol": "SBIN", "action": "SELL",
            "exchange": "NSE", "pricetype": "SL", "product": "CNC", "quantity": "1",
            "price": "499.95", "trigger_price": "500.05"
        })
    );
    let with_algo = limit_order()
        .to_builder()
        .algo_id(asta_core::AlgoId::new("ALGO1").unwrap())
        .build()
        .unwrap();
    let err = broker(&server).place_order(&with_algo).await.unwrap_err();
    assert!(matches!(err, BrokerError::Rejected { .. }));
    assert_eq!(server.count("/api/v1/placeorder"), 1, "never sent");
}

/// The reconciliation wait runs on tokio time: with the clock paused, ten
/// seconds between polls cost no real time.
#[tokio::test(start_paused = true)]
async fn reconciliation_waits_on_tokio_time() {
    let server = TestServer::start(routes(
        Reply::json(502, &json!({"status": "error", "message": "bad gateway"})),
        book(vec![]),
    ))
    .await;
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.reconcile_polls = 3;
    config.reconcile_interval_ms = 10_000;
    let broker = OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(clock())).unwrap();
    let real = std::time::Instant::now();
    let virtual_start = tokio::time::Instant::now();
    let err = broker.place_order(&limit_order()).await.unwrap_err();
    assert!(matches!(err, BrokerError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(server.count("/api/v1/orderbook"), 3);
    assert!(virtual_start.elapsed() >= Duration::from_secs(30));
    assert!(real.elapsed() < Duration::from_secs(5));
}
