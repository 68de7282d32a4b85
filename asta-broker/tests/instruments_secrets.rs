//! The API key, which OpenAlgo's instrument list takes in the query string,
//! reaches no log line and no error of `OpenAlgoBroker::instruments`, even
//! when the server echoes the request. (One test in its own binary: the log
//! capture is per thread, and tracing caches per call site which threads
//! listen.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::sync::Arc;

use asta_broker::{BrokerError, OpenAlgoBroker, OpenAlgoConfig};
use asta_core::{Exchange, ManualClock};
use chrono::Utc;
use secrecy::SecretString;
use serde_json::json;
use support::{Captured, Recorded, Reply, TestServer};

const KEY: &str = "CANARY0KEY0deadbeef0deadbeef0deadbeef0deadbeef0deadbeef0deadbeef00";

fn broker_at(base_url: &str) -> OpenAlgoBroker {
    let mut config = OpenAlgoConfig::new(base_url);
    config.request_timeout_ms = 300;
    config.connect_timeout_ms = 300;
    config.retry_backoff_ms = 1;
    let clock = ManualClock::new(Utc::now());
    OpenAlgoBroker::new(&config, SecretString::from(KEY), Arc::new(clock)).unwrap()
}

#[tokio::test]
async fn the_key_in_the_query_string_reaches_no_log_line() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start(|req: &Recorded| {
        // Echo the whole request line, key included, in every answer.
        let msg = format!("bad request {}", req.path);
        Reply::json(500, &json!({"status": "error", "message": msg}))
    })
    .await;
    let broker = broker_at(&server.base_url());
    let err = broker.instruments(Exchange::Nse).await.unwrap_err();
    assert!(
        !format!("{err} {err:?} {broker:?}").contains(KEY),
        "{err:?}"
    );
    let unreachable = broker_at("http://127.0.0.1:9");
    let err = unreachable.instruments(Exchange::Nse).await.unwrap_err();
    assert!(matches!(err, BrokerError::Unavailable { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(KEY));
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(logs.contains("instruments"), "nothing was logged: {logs}");
    assert!(!logs.contains(KEY), "the key leaked into the log: {logs}");
}
