//! Replays every entry of the OpenAlgo contract data through the real HTTP
//! path of the adapter against a server on 127.0.0.1.
//!
//! Test code only: `mod.rs` declares this module under `#[cfg(test)]`.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use asta_core::{
    Exchange, ManualClock, OrderId, OrderRequest, PriceType, Product, Quantity, Side, StrategyTag,
    Symbol,
};
use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};

use self::support::{Reply, TestServer};
use super::client::Endpoint;
use super::{OpenAlgoBroker, OpenAlgoConfig, ServerMode};
use crate::{Broker, BrokerError, ModifyRequest, OrderState, PositionKey, SmartOrderOutcome};

const CONTRACT: &str = include_str!("../../tests/data/openalgo-v1-exchanges.json");
const KEY: &str = "CANARY0KEY0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee0c0ffee";

type Routes = Arc<Mutex<HashMap<String, Reply>>>;

async fn setup() -> (TestServer, Routes) {
    let routes: Routes = Arc::new(Mutex::new(HashMap::new()));
    let r = Arc::clone(&routes);
    let server = TestServer::start(move |req| {
        r.lock()
            .unwrap()
            .get(&req.path)
            .cloned()
            .unwrap_or_else(|| Reply::json(404, &json!({"status":"error","message":"Not found"})))
    })
    .await;
    (server, routes)
}

/// A fresh adapter (and so a fresh client-side rate limiter: the replay sends
/// more than 10 placements within a second, which the limiter would deny).
fn adapter(server: &TestServer, mode: ServerMode) -> OpenAlgoBroker {
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.server_mode = mode;
    config.reconcile_polls = 2;
    config.reconcile_interval_ms = 1;
    config.read_retries = 1;
    config.retry_backoff_ms = 1;
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 21, 21, 0).unwrap());
    OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(clock)).unwrap()
}

/// The server's mode when entry `i` was recorded (the analyzer toggles are
/// entries 4, 38, 41 and 54).
fn mode_at(i: usize) -> ServerMode {
    match i {
        4..=37 | 41..=53 => ServerMode::Analyze,
        _ => ServerMode::Live,
    }
}

fn entries() -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(CONTRACT).unwrap()
}

fn route(routes: &Routes, entry: &Value) {
    routes.lock().unwrap().insert(
        entry["path"].as_str().unwrap().to_owned(),
        Reply::json(entry["status"].as_u64().unwrap() as u16, &entry["response"]),
    );
}

/// The entry's request as this adapter must send it (key substituted).
fn expected_request(entry: &Value) -> Value {
    let mut req = entry["request"].clone();
    req["apikey"] = Value::String(KEY.into());
    req
}

/// Numbers as strings: how this adapter sends every number.
fn stringified(mut v: Value) -> Value {
    if let Value::Object(map) = &mut v {
        for value in map.values_mut() {
            if let Value::Number(n) = value {
                *value = Value::String(n.to_string());
            }
        }
    }
    v
}

fn order(symbol: &str, side: Side, pt: PriceType, product: Product, qty: u64) -> OrderRequest {
    OrderRequest::builder()
        .symbol(Symbol::new(symbol).unwrap())
        .exchange(Exchange::Nse)
        .side(side)
        .price_type(pt)
        .product(product)
        .quantity(Quantity::new(qty).unwrap())
        .strategy(StrategyTag::new("asta").unwrap())
        .to_owned()
        .price_opt(pt)
}

trait PriceOpt {
    fn price_opt(self, pt: PriceType) -> OrderRequest;
}

impl PriceOpt for asta_core::OrderRequestBuilder {
    fn price_opt(self, pt: PriceType) -> OrderRequest {
        match pt {
            PriceType::Market => self.build().unwrap(),
            _ => self.price("500".parse().unwrap()).build().unwrap(),
        }
    }
}

fn limit(symbol: &str, price: &str, qty: u64, product: Product) -> OrderRequest {
    order(symbol, Side::Buy, PriceType::Market, product, qty)
        .to_builder()
        .price_type(PriceType::Limit)
        .price(price.parse().unwrap())
        .build()
        .unwrap()
}

fn strategy() -> StrategyTag {
    StrategyTag::new("asta").unwrap()
}

fn id(text: &str) -> OrderId {
    OrderId::new(text).unwrap()
}

#[tokio::test]
async fn every_contract_entry_is_replayed() {
    let (server, routes) = setup().await;
    let all = entries();
    assert_eq!(all.len(), 60);
    for (i, entry) in all.iter().enumerate() {
        let name = entry["name"].as_str().unwrap();
        let path = entry["path"].as_str().unwrap();
        let endpoint = path.trim_start_matches("/api/v1/");
        route(&routes, entry);
        let broker = adapter(&server, mode_at(i));
        let before = server.requests().len();
        // `check` compares the body this adapter sent with the contract's.
        let mut check = true;
        let mut expected = expected_request(entry);
        let ctx = format!("entry {i}: {name}");
        match i {
            0 | 40 => {
                let broker_name = broker.ping().await.unwrap();
                assert_eq!(
                    broker_name,
                    if i == 0 { "shoonya" } else { "fakequote" },
                    "{ctx}"
                );
            }
            1 | 56 => assert_eq!(
                broker.server_mode().await.unwrap(),
                ServerMode::Live,
                "{ctx}"
            ),
            2 => {
                // 500 on placement: unknown; the order book (entry 3, 500) cannot settle it.
                route(&routes, &all[3]);
                let err = broker
                    .place_order(&limit("SBIN", "500", 1, Product::Cnc))
                    .await
                    .unwrap_err();
                match &err {
                    BrokerError::OutcomeUnknown { detail } => {
                        assert!(detail.contains("HTTP 500"), "{ctx}: {detail}");
                        assert!(detail.contains("polls failed"), "{ctx}: {detail}");
                    }
                    other => panic!("{ctx}: {other:?}"),
                }
                assert!(!err.definitely_not_placed());
                assert_eq!(
                    server.count("/api/v1/placeorder"),
                    1,
                    "{ctx}: never retried"
                );
                let sent = server
                    .requests()
                    .iter()
                    .skip(before)
                    .find(|r| r.path == path)
                    .unwrap()
                    .json();
                assert_eq!(sent, expected, "{ctx}");
                check = false;
            }
            3 => {
                let err = broker.order_book().await.unwrap_err();
                assert!(
                    matches!(err, BrokerError::Unavailable { .. }),
                    "{ctx}: {err:?}"
                );
                assert_eq!(server.requests().len() - before, 2, "{ctx}: one retry");
            }
            5 => {
                let got = broker
                    .place_order(&limit("SBIN", "500", 1, Product::Cnc))
                    .await
                    .unwrap();
                assert_eq!(got, id("26112887002562"), "{ctx}");
            }
            6 => {
                let got = broker
                    .place_order(&limit("RELIANCE", "1000.5", 2, Product::Cnc))
                    .await
                    .unwrap();
                assert_eq!(got, id("26112883206500"), "{ctx}");
                expected = stringified(expected);
            }
            7 | 44 => {
                let oid = entry["request"]["orderid"].as_str().unwrap();
                let status = broker.order_status(&strategy(), &id(oid)).await.unwrap();
                assert_eq!(status.order_id().as_str(), oid, "{ctx}");
                if i == 7 {
                    assert_eq!(status.state(), OrderState::Open);
                    assert_eq!(status.price_type(), PriceType::Limit);
                    assert_eq!(status.price(), Some("500".parse().unwrap()));
                    assert_eq!(status.pending_quantity(), 1);
                    assert_eq!(status.average_price(), None);
                } else {
                    assert_eq!(status.state(), OrderState::Complete);
                    assert_eq!(status.price_type(), PriceType::Market);
                    assert_eq!(status.filled_quantity(), 10);
                    assert_eq!(status.average_price(), Some("800.05".parse().unwrap()));
                }
                assert_eq!(
                    status.placed_at().map(|t| t.date_naive().to_string()),
                    Some("2026-11-27".into())
                );
            }
            8 => {
                let err = broker
                    .order_status(&strategy(), &id("999999"))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, BrokerError::NotFound { .. }),
                    "{ctx}: {err:?}"
                );
            }
            10 => {
                let book = broker.order_book().await.unwrap();
                assert_eq!(book.len(), 2, "{ctx}");
                assert_eq!(book[0].symbol().as_str(), "RELIANCE");
                assert_eq!(book[0].price(), Some("1000.5".parse().unwrap()));
                assert_eq!(book[0].price_type(), PriceType::Limit);
                assert_eq!(book[0].strategy(), Some(&strategy()));
                assert_eq!(book[1].order_id().as_str(), "26112887002562");
            }
            11 => {
                let current = limit("SBIN", "500", 1, Product::Cnc);
                let change = ModifyRequest::builder(id("26112887002562"), &current)
                    .price("501".parse().unwrap())
                    .build()
                    .unwrap();
                let got = broker.modify_order(&change).await.unwrap();
                assert_eq!(got, id("26112887002562"), "{ctx}");
            }
            14 => broker
                .cancel_order(&strategy(), &id("26112887002562"))
                .await
                .unwrap(),
            15 => {
                let err = broker
                    .cancel_order(&strategy(), &id("26112887002562"))
                    .await
                    .unwrap_err();
                assert_eq!(
                    err,
                    BrokerError::rejected("Cannot cancel order in cancelled status"),
                    "{ctx}"
                );
            }
            16 => {
                let report = broker.cancel_all_orders(&strategy()).await.unwrap();
                assert_eq!(report.cancelled, vec![id("26112883206500")], "{ctx}");
                assert!(report.is_complete());
            }
            17 | 18 | 19 | 55 => {
                let order = match i {
                    17 => order("SBIN", Side::Buy, PriceType::Market, Product::Cnc, 1),
                    18 => limit("SBIN", "500", 1, Product::Mis),
                    19 => limit("NOSUCH", "5", 1, Product::Cnc),
                    _ => limit("SBIN", "500", 1, Product::Cnc),
                };
                let err = broker.place_order(&order).await.unwrap_err();
                let BrokerError::Rejected { reason } = &err else {
                    panic!("{ctx}: {err:?}")
                };
                assert_eq!(
                    reason,
                    entry["response"]["message"].as_str().unwrap(),
                    "{ctx}"
                );
                assert!(err.definitely_not_placed());
            }
            21 => assert!(broker.positions().await.unwrap().is_empty(), "{ctx}"),
            25 | 47 => {
                let funds = broker.funds().await.unwrap();
                if i == 25 {
                    assert_eq!(funds.available_cash().to_string(), "10000000", "{ctx}");
                } else {
                    assert_eq!(funds.available_cash().to_string(), "9992000", "{ctx}");
                    assert_eq!(funds.used_margin().to_string(), "8000");
                    assert_eq!(funds.unrealized_pnl().to_string(), "-0.5");
                }
            }
            26 | 52 => {
                let report = broker.close_all_positions(&strategy()).await.unwrap();
                assert_eq!(report.closed_count, if i == 26 { 0 } else { 1 }, "{ctx}");
                assert!(report.is_complete());
            }
            27 => {
                let err = broker
                    .quote(Exchange::Nse, &Symbol::new("SBIN").unwrap())
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, BrokerError::Unavailable { .. }),
                    "{ctx}: {err:?}"
                );
                assert_eq!(server.requests().len() - before, 2, "{ctx}: one retry");
            }
            28 => {
                let err = broker
                    .place_order(&limit("SBIN", "500", 1, Product::Cnc))
                    .await
                    .unwrap_err();
                assert_eq!(
                    err,
                    BrokerError::AuthFailed {
                        reason: "Invalid openalgo apikey".into()
                    },
                    "{ctx}"
                );
                assert!(err.definitely_not_placed());
            }
            39 => {
                let err = broker
                    .cancel_order(&strategy(), &id("999999"))
                    .await
                    .unwrap_err();
                assert_eq!(err, BrokerError::RateLimited { retry_after: None }, "{ctx}");
            }
            42 => {
                let quote = broker
                    .quote(Exchange::Nse, &Symbol::new("SBIN").unwrap())
                    .await
                    .unwrap();
                assert_eq!(quote.ltp().to_string(), "800", "{ctx}");
                assert_eq!(quote.bid().map(|p| p.to_string()), Some("799.95".into()));
                assert_eq!(quote.ask().map(|p| p.to_string()), Some("800.05".into()));
            }
            43 => {
                let got = broker
                    .place_order(&order(
                        "SBIN",
                        Side::Buy,
                        PriceType::Market,
                        Product::Cnc,
                        10,
                    ))
                    .await
                    .unwrap();
                assert_eq!(got, id("26112886081295"), "{ctx}");
            }
            46 | 53 => {
                let positions = broker.positions().await.unwrap();
                assert_eq!(positions.len(), 1, "{ctx}");
                let p = &positions[0];
                if i == 46 {
                    assert_eq!(p.net_quantity(), 10);
                    assert_eq!(p.average_price().to_string(), "800.05");
                    assert_eq!(p.unrealized_pnl().to_string(), "-0.5");
                    assert_eq!(p.last_price().map(|x| x.to_string()), Some("800".into()));
                } else {
                    assert!(p.is_flat());
                    assert_eq!(p.realized_pnl().to_string(), "-1.5");
                    assert_eq!(
                        p.unrealized_pnl().to_string(),
                        "0",
                        "flat: nothing unrealized"
                    );
                }
            }
            51 => {
                let sl = OrderRequest::builder()
                    .symbol(Symbol::new("SBIN").unwrap())
                    .exchange(Exchange::Nse)
                    .side(Side::Sell)
                    .price_type(PriceType::StopLossMarket)
                    .product(Product::Cnc)
                    .quantity(Quantity::new(5).unwrap())
                    .trigger_price("700".parse().unwrap())
                    .strategy(strategy())
                    .build()
                    .unwrap();
                assert_eq!(
                    broker.place_order(&sl).await.unwrap(),
                    id("26112813736966"),
                    "{ctx}"
                );
            }
            57 => {
                // Semi-auto: queued for approval, not placed yet, not rejected.
                let err = broker
                    .place_order(&limit("SBIN", "500", 1, Product::Cnc))
                    .await
                    .unwrap_err();
                assert_eq!(
                    err,
                    BrokerError::PendingApproval {
                        pending_id: "1".into()
                    },
                    "{ctx}"
                );
                assert!(!err.definitely_not_placed(), "{ctx}");
                let books = server.requests()[before..]
                    .iter()
                    .filter(|r| r.path == "/api/v1/orderbook")
                    .count();
                assert_eq!(books, 0, "{ctx}: not reconciled");
            }
            20 => {
                // placesmartorder (400, analyzer without quotes): rejected.
                let err = broker
                    .place_smart_order(&limit("SBIN", "500", 1, Product::Cnc), 1)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, BrokerError::Rejected { .. }),
                    "{ctx}: {err:?}"
                );
            }
            48 | 49 => {
                let got = broker
                    .place_smart_order(
                        &order("SBIN", Side::Buy, PriceType::Market, Product::Cnc, 5),
                        15,
                    )
                    .await
                    .unwrap();
                let want = if i == 48 {
                    SmartOrderOutcome::Placed(id("26112802979546"))
                } else {
                    SmartOrderOutcome::AlreadyMatched
                };
                assert_eq!(got, want, "{ctx}");
            }
            22 | 50 => {
                let key = PositionKey {
                    exchange: Exchange::Nse,
                    symbol: Symbol::new("SBIN").unwrap(),
                    product: Product::Cnc,
                };
                let net = broker.open_position(&strategy(), &key).await.unwrap();
                assert_eq!(net, if i == 22 { 0 } else { 15 }, "{ctx}");
            }
            23 | 45 => {
                let trades = broker.trade_book().await.unwrap();
                if i == 23 {
                    assert!(trades.is_empty(), "{ctx}");
                } else {
                    assert_eq!(trades.len(), 1, "{ctx}");
                    let t = &trades[0];
                    assert_eq!(t.order_id, id("26112886081295"));
                    assert_eq!(t.quantity.get(), 10);
                    assert_eq!(t.price.to_string(), "800.05");
                    assert_eq!(t.side, Side::Buy);
                    assert_eq!(t.strategy, Some(strategy()));
                    assert!(t.executed_at.is_some());
                }
            }
            24 => assert!(broker.holdings().await.unwrap().is_empty(), "{ctx}"),
            58 => {
                let err = broker
                    .cancel_order(&strategy(), &id("123"))
                    .await
                    .unwrap_err();
                let BrokerError::AuthFailed { reason } = &err else {
                    panic!("{ctx}: {err:?}")
                };
                assert!(reason.contains("Semi-Auto"), "{reason}");
            }
            _ => {
                // Entries this adapter never produces itself: bad requests it
                // cannot build (missing strategy, numeric orderid, unknown
                // fields, bad enums...) and endpoints it deliberately does not
                // call (analyzer toggle, smart orders, open position, trade
                // book, holdings, GET, unknown paths). Their exact bodies are
                // replayed through the same transport and classifier.
                let write = matches!(
                    endpoint,
                    "placeorder" | "placesmartorder" | "modifyorder" | "cancelorder"
                );
                let raw = Endpoint::Raw {
                    path: Box::leak(endpoint.to_owned().into_boxed_str()),
                    write,
                };
                let mut body = entry["request"].as_object().cloned().unwrap_or_default();
                body.remove("apikey");
                if body.contains_key("_raw") {
                    body.clear();
                    expected = json!({"apikey": KEY});
                }
                let result = broker.transport.post(raw, body).await;
                let status = entry["status"].as_u64().unwrap();
                let message = entry["response"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                match (status, result) {
                    (200, Ok(body)) => assert_eq!(Value::Object(body), entry["response"], "{ctx}"),
                    (400 | 404, Err(BrokerError::Rejected { reason })) => {
                        assert_eq!(reason, crate::error::sanitize_text(&message, 200), "{ctx}")
                    }
                    (500, Err(BrokerError::OutcomeUnknown { detail })) => {
                        assert!(write && detail.contains("HTTP 500"), "{ctx}: {detail}")
                    }
                    (s, other) => panic!("{ctx}: status {s} gave {other:?}"),
                }
            }
        }
        if check {
            let sent: Vec<_> = server.requests().into_iter().skip(before).collect();
            let first = sent
                .iter()
                .find(|r| r.path == path)
                .unwrap_or_else(|| panic!("{ctx}: not sent"));
            assert_eq!(first.method, "POST", "{ctx}");
            assert_eq!(first.json(), expected, "{ctx}");
            assert!(
                first
                    .headers
                    .iter()
                    .any(|(n, v)| n == "content-type" && v == "application/json"),
                "{ctx}"
            );
        }
    }
}

#[test]
fn the_copy_in_the_crate_matches_the_shared_contract() {
    let outside = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/contracts/openalgo-v1-exchanges.json"
    );
    match std::fs::read_to_string(outside) {
        Ok(text) => assert_eq!(text, CONTRACT, "tests/data copy is stale"),
        Err(_) => {
            eprintln!("shared contract not found beside the workspace; using the crate's copy")
        }
    }
}

/// Every recorded answer that names a mode, replayed to an adapter built for
/// the other mode, is a `ModeMismatch` (the request was sent: not "not
/// placed"); replayed to an adapter of its own mode, it never is. An
/// analyzer success with its `mode` removed is a live answer.
#[tokio::test]
async fn every_answer_from_the_other_mode_is_a_mode_mismatch() {
    let (server, routes) = setup().await;
    let mut refused = 0;
    let mut all = entries();
    let mut stripped = all[5].clone();
    stripped["response"].as_object_mut().unwrap().remove("mode");
    stripped["name"] = json!("placeorder success without mode");
    all.push(stripped);
    for (i, entry) in all.iter().enumerate() {
        let name = entry["path"]
            .as_str()
            .unwrap()
            .trim_start_matches("/api/v1/");
        let Some(endpoint) = Endpoint::by_name(name) else {
            continue;
        };
        if !endpoint.carries_mode() || entry["request"].get("_raw").is_some() {
            continue;
        }
        let response = &entry["response"];
        let success = response["status"] == "success";
        let (own, other) = match response.get("mode").and_then(Value::as_str) {
            Some("analyze") => (ServerMode::Analyze, ServerMode::Live),
            Some(_) => (ServerMode::Live, ServerMode::Analyze),
            None if success => (ServerMode::Live, ServerMode::Analyze),
            None => continue,
        };
        route(&routes, entry);
        let mut body = entry["request"].as_object().cloned().unwrap_or_default();
        body.remove("apikey");
        let ctx = format!("entry {i}: {}", entry["name"]);
        let err = adapter(&server, other)
            .transport
            .post(endpoint, body.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, BrokerError::ModeMismatch { expected, .. } if *expected == other.as_str()),
            "{ctx}: {err:?}"
        );
        assert!(!err.definitely_not_placed(), "{ctx}");
        assert!(err.is_mode_mismatch());
        let mine = adapter(&server, own).transport.post(endpoint, body).await;
        assert!(
            !matches!(mine, Err(BrokerError::ModeMismatch { .. })),
            "{ctx}: {mine:?}"
        );
        refused += 1;
    }
    assert!(refused >= 25, "only {refused} entries replayed");
}

/// The analyzer status decides `check_venue`: the live answer (entries 1
/// and 56) is a mismatch for an analyze-mode adapter, the analyzer toggle's
/// answer shape is not used.
#[tokio::test]
async fn check_venue_asks_the_analyzer_status() {
    let (server, routes) = setup().await;
    let all = entries();
    route(&routes, &all[1]);
    let err = adapter(&server, ServerMode::Analyze)
        .check_venue()
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BrokerError::ModeMismatch {
            expected: "analyze",
            found: "live".into()
        }
    );
    adapter(&server, ServerMode::Live)
        .check_venue()
        .await
        .unwrap();
    assert_eq!(
        adapter(&server, ServerMode::Analyze).venue(),
        crate::Venue::BrokerSimulation
    );
    assert_eq!(
        adapter(&server, ServerMode::Live).venue(),
        crate::Venue::External
    );
}
