//! `OpenAlgoBroker::instruments` against a test server on 127.0.0.1, with
//! answers shaped as OpenAlgo's documentation and server source describe
//! them (the contract data has no recorded exchange for this endpoint):
//! the request, a good list, numbers as text, bad rows, error answers,
//! oversized bodies, timeouts, and the API key (which this endpoint takes in
//! the query string) in no error (`instruments_secrets.rs`: in no log line).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use asta_broker::{BrokerError, OpenAlgoBroker, OpenAlgoConfig, OpenAlgoConfigError};
use asta_core::{Exchange, ManualClock};
use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{Action, Recorded, Reply, TestServer};

const KEY: &str = "CANARY0KEY0deadbeef0deadbeef0deadbeef0deadbeef0deadbeef0deadbeef00";

fn config(server: &TestServer) -> OpenAlgoConfig {
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.request_timeout_ms = 300;
    config.connect_timeout_ms = 300;
    config.read_retries = 2;
    config.retry_backoff_ms = 1;
    config
}

fn broker_with(config: &OpenAlgoConfig) -> OpenAlgoBroker {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
    OpenAlgoBroker::new(config, SecretString::from(KEY), Arc::new(clock)).unwrap()
}

fn broker(server: &TestServer) -> OpenAlgoBroker {
    broker_with(&config(server))
}

/// A row as OpenAlgo's `services/instruments_service.py` builds it.
fn row(symbol: &str, exchange: &str, lotsize: Value, tick_size: Value) -> Value {
    json!({
        "symbol": symbol, "brsymbol": format!("{symbol}-EQ"), "name": symbol,
        "exchange": exchange, "brexchange": exchange, "token": "2885", "expiry": "",
        "strike": -1.0, "lotsize": lotsize, "instrumenttype": "EQ", "tick_size": tick_size
    })
}

fn answer(rows: Vec<Value>) -> Reply {
    Reply::json(
        200,
        &json!({"status": "success", "message": format!("Found {} instruments", rows.len()), "data": rows}),
    )
}

fn always(reply: Reply) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |_: &Recorded| reply.clone()
}

/// The query parameters of a recorded request.
fn query(req: &Recorded) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x{}", req.path)).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_good_list_is_read_with_one_get_carrying_exchange_and_key() {
    let server = TestServer::start(always(answer(vec![
        row("SBIN", "NSE", json!(1), json!(0.05)),
        row("M&M", "NSE", json!(1), json!(0.1)),
        row("3MINDIA", "NSE", json!(1), json!(5.0)),
    ])))
    .await;
    let list = broker(&server).instruments(Exchange::Nse).await.unwrap();
    assert_eq!(list.exchange, Exchange::Nse);
    assert_eq!(list.rows, 3);
    assert!(list.refused.is_empty(), "{:?}", list.refused);
    let shown: Vec<String> = list
        .instruments
        .iter()
        .map(|i| format!("{}:{}:{}", i.symbol(), i.tick_size(), i.lot_size().get()))
        .collect();
    assert_eq!(shown, ["SBIN:0.05:1", "M&M:0.1:1", "3MINDIA:5:1"]);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "GET");
    assert!(req.path.starts_with("/api/v1/instruments?"), "{}", req.path);
    assert!(req.body.is_empty());
    let q = query(req);
    assert!(q.contains(&("exchange".into(), "NSE".into())), "{q:?}");
    assert!(q.contains(&("apikey".into(), KEY.into())), "{q:?}");
    assert!(q.contains(&("format".into(), "json".into())), "{q:?}");
}

#[tokio::test]
async fn numbers_as_text_are_read_exactly() {
    let server = TestServer::start(always(answer(vec![
        row("NIFTY28NOV2424000CE", "NFO", json!("75"), json!("0.05")),
        row(
            "USDINR10MAY2482.5CE",
            "NFO",
            json!("1000.0"),
            json!("0.0025"),
        ),
        row(
            "NIFTY24DECFUT",
            "NFO",
            json!(25.0),
            json!("0.05000000000000000277"),
        ),
    ])))
    .await;
    let list = broker(&server).instruments(Exchange::Nfo).await.unwrap();
    assert!(list.refused.is_empty(), "{:?}", list.refused);
    let shown: Vec<String> = list
        .instruments
        .iter()
        .map(|i| format!("{}:{}", i.tick_size(), i.lot_size().get()))
        .collect();
    assert_eq!(shown, ["0.05:75", "0.0025:1000", "0.05:25"]);
}

#[tokio::test]
async fn bad_rows_are_counted_and_explained_and_good_rows_kept() {
    let server = TestServer::start(always(answer(vec![
        row("SBIN", "NSE", json!(1), json!(0.05)),
        row("sbin", "NSE", json!(1), json!(0.05)),
        row("INFY", "NSE", json!(1), json!(0)),
        row("TCS", "NSE", json!("one"), json!(0.05)),
        row("NIFTY", "NSE_INDEX", json!(1), json!(0.05)),
        json!("not a row"),
        row("RELIANCE", "NSE", json!(1), json!(0.05)),
    ])))
    .await;
    let list = broker(&server).instruments(Exchange::Nse).await.unwrap();
    assert_eq!(list.rows, 7);
    let kept: Vec<&str> = list
        .instruments
        .iter()
        .map(|i| i.symbol().as_str())
        .collect();
    assert_eq!(kept, ["SBIN", "RELIANCE"]);
    let refused: Vec<String> = list.refused.iter().map(ToString::to_string).collect();
    assert_eq!(refused.len(), 5, "{refused:?}");
    assert!(
        refused[0].starts_with("row 2 (sbin): `symbol`"),
        "{refused:?}"
    );
    assert!(
        refused[1].contains("row 3 (INFY): tick size must be above zero"),
        "{refused:?}"
    );
    assert!(
        refused[2].contains("row 4 (TCS): `lotsize` \"one\""),
        "{refused:?}"
    );
    assert!(
        refused[3].contains("NSE_INDEX in the list asked for NSE"),
        "{refused:?}"
    );
    assert_eq!(refused[4], "row 6: the row is not a JSON object");
}

#[tokio::test]
async fn error_answers_are_classified_without_the_key() {
    let echo = format!("bad apikey={KEY}");
    let cases: Vec<(Reply, &str)> = vec![
        (
            Reply::json(
                401,
                &json!({"status": "error", "message": "API key is required"}),
            ),
            "auth",
        ),
        (
            Reply::json(403, &json!({"status": "error", "message": echo})),
            "auth",
        ),
        // A validation error: `message` is an object of field errors.
        (
            Reply::json(
                400,
                &json!({"status": "error", "message": {"exchange": ["Invalid exchange."]}}),
            ),
            "rejected",
        ),
        (
            Reply::json(200, &json!({"status": "error", "message": echo})),
            "rejected",
        ),
        (
            Reply::json(
                500,
                &json!({"status": "error", "message": "An error occurred while fetching instruments"}),
            ),
            "unavailable",
        ),
        (
            Reply::raw(200, Some("text/csv"), b"symbol,brsymbol\n"),
            "protocol",
        ),
        (
            Reply::json(200, &json!({"status": "success", "message": "x"})),
            "protocol",
        ),
        (
            Reply::json(200, &json!({"status": "success", "data": {"rows": []}})),
            "protocol",
        ),
        (Reply::json(200, &json!([])), "protocol"),
        (
            Reply::json(200, &json!({})).with_action(Action::Drop),
            "unavailable",
        ),
        (
            Reply::json(200, &json!({})).with_action(Action::TruncateBody),
            "unavailable",
        ),
        (
            answer(vec![]).delayed(Duration::from_millis(600)),
            "unavailable",
        ),
    ];
    for (reply, want) in cases {
        let server = TestServer::start(always(reply.clone())).await;
        let err = broker(&server)
            .instruments(Exchange::Nse)
            .await
            .unwrap_err();
        let kind = match &err {
            BrokerError::AuthFailed { .. } => "auth",
            BrokerError::Rejected { .. } => "rejected",
            BrokerError::Unavailable { .. } => "unavailable",
            BrokerError::Protocol { .. } => "protocol",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(kind, want, "{reply:?} gave {err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(KEY), "the key leaked: {shown}");
        // Transient failures are retried as for every read; others are not.
        let expected = if want == "unavailable" { 3 } else { 1 };
        assert_eq!(server.requests().len(), expected, "{reply:?}");
    }
}

#[tokio::test]
async fn index_segments_are_refused_before_sending() {
    let server = TestServer::start(always(answer(vec![]))).await;
    for exchange in [Exchange::NseIndex, Exchange::BseIndex] {
        let err = broker(&server).instruments(exchange).await.unwrap_err();
        assert!(
            matches!(&err, BrokerError::Rejected { reason } if reason.contains("index segment")),
            "{err:?}"
        );
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn the_list_has_its_own_body_bound() {
    let rows: Vec<Value> = (0..200)
        .map(|i| row(&format!("S{i}"), "NSE", json!(1), json!(0.05)))
        .collect();
    let body = serde_json::to_vec(
        &json!({"status": "success", "message": "Found 200 instruments", "data": rows}),
    )
    .unwrap();
    assert!(body.len() > 16 * 1024);
    let served = body.clone();
    let server =
        TestServer::start(move |_: &Recorded| Reply::raw(200, Some("application/json"), &served))
            .await;

    // The list is not bound by max_body_bytes (meant for order answers) ...
    let mut small_answers = config(&server);
    small_answers.max_body_bytes = 1024;
    let list = broker_with(&small_answers)
        .instruments(Exchange::Nse)
        .await
        .unwrap();
    assert_eq!(list.instruments.len(), 200);

    // ... but by max_instrument_list_bytes, with or without Content-Length.
    let mut bounded = config(&server);
    bounded.max_instrument_list_bytes = 16 * 1024;
    for action in [Action::Respond, Action::RespondUntilClose] {
        let served = body.clone();
        let server = TestServer::start(move |_: &Recorded| {
            Reply::raw(200, Some("application/json"), &served).with_action(action.clone())
        })
        .await;
        let mut bounded = bounded.clone();
        bounded.base_url = server.base_url();
        let err = broker_with(&bounded)
            .instruments(Exchange::Nse)
            .await
            .unwrap_err();
        let BrokerError::Protocol { detail } = &err else {
            panic!("{err:?}")
        };
        assert!(detail.contains("larger than 16384 bytes"), "{detail}");
    }

    // The bound is validated like every other setting.
    for bad in [0, 1023, (256 << 20) + 1] {
        let mut config = config(&server);
        config.max_instrument_list_bytes = bad;
        let clock = ManualClock::new(Utc::now());
        let err =
            OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(clock)).unwrap_err();
        assert!(
            matches!(
                err,
                OpenAlgoConfigError::OutOfRange {
                    field: "max_instrument_list_bytes",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let parsed: OpenAlgoConfig =
        serde_json::from_str(r#"{"base_url": "https://openalgo.example.com"}"#).unwrap();
    assert_eq!(parsed.max_instrument_list_bytes, 64 << 20);
}
