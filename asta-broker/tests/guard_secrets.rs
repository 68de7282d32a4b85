//! A canary API key never appears in the audit trail, a log line, an alert
//! or an error, when a live guard wraps an `OpenAlgoBroker` whose server
//! echoes the key back in every answer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;
mod support;

use std::sync::Arc;

use asta_broker::{
    Broker, BrokerError, Confirm, ConfirmRefusal, ConfirmRequest, Guard, OpenAlgoBroker,
    OpenAlgoConfig, ServerMode,
};
use asta_core::{ErrorCode, Exchange, OrderId, Side, TradingMode};
use asta_risk::TradingState;
use async_trait::async_trait;
use common::*;
use secrecy::SecretString;
use serde_json::json;
use support::{Captured, Recorded, Reply, TestServer};

const CANARY: &str = "CANARY-5d1e-guard-api-key-must-never-leak";

struct Accept;

#[async_trait]
impl Confirm for Accept {
    async fn confirm(&self, _request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        Ok(())
    }
}

#[tokio::test]
async fn the_api_key_never_reaches_audit_logs_alerts_or_errors() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start(|req: &Recorded| {
        let echoed = String::from_utf8_lossy(&req.body).to_string();
        let msg = format!("bad request {echoed} apikey={CANARY}");
        match req.path.as_str() {
            "/api/v1/placeorder" => Reply::json(403, &json!({"status": "error", "message": msg})),
            "/api/v1/analyzer" => Reply::json(
                200,
                &json!({"status": "success", "data": {"analyze_mode": false, "mode": "live"}}),
            ),
            _ => Reply::json(400, &json!({"status": "error", "message": msg})),
        }
    })
    .await;
    let mut config = OpenAlgoConfig::new(&server.base_url());
    config.request_timeout_ms = 500;
    config.read_retries = 0;
    config.server_mode = ServerMode::Live;
    let clock = clock();
    let trail = trail(&clock);
    let alerts = Alerts::default();
    let broker =
        OpenAlgoBroker::new(&config, SecretString::from(CANARY), Arc::new(clock.clone())).unwrap();
    let guard = Guard::builder(
        broker,
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .mode(TradingMode::Live)
    .allow_live_trading(true)
    .confirm(Arc::new(Accept))
    .alert_sink(Arc::new(alerts.clone()))
    .build()
    .await
    .unwrap();
    guard
        .on_quote(Exchange::Nse, &sbin(), "800".parse().unwrap())
        .await;

    let mut seen = Vec::new();
    let mut record = |e: &BrokerError| {
        seen.push(e.to_string());
        seen.push(format!("{e:?}"));
        seen.push(e.public_error().to_string());
        seen.push(serde_json::to_string(&e.public_error()).unwrap());
    };
    // A 403 on placement: authentication failure, trading halts.
    let error = guard
        .place_order(&limit(Side::Buy, 1, "800"))
        .await
        .unwrap_err();
    assert!(matches!(error.root(), BrokerError::AuthFailed { .. }));
    assert_eq!(error.public_error().code(), ErrorCode::BrokerUnavailable);
    record(&error);
    assert_eq!(guard.trading_state(), TradingState::Halted);
    let id = OrderId::new("1").unwrap();
    record(&guard.cancel_order(&strategy(), &id).await.unwrap_err());
    record(&guard.funds().await.unwrap_err());
    record(&guard.order_book().await.unwrap_err());
    record(&guard.quote(Exchange::Nse, &sbin()).await.unwrap_err());
    let report = guard.emergency_stop("auth failure drill").await;
    seen.push(serde_json::to_string(&report).unwrap());
    seen.push(format!("{guard:?}"));
    for alert in alerts.0.lock().unwrap().iter() {
        seen.push(serde_json::to_string(alert).unwrap());
    }
    trail.log.sync().unwrap();
    seen.push(audit_text(&trail));
    seen.push(String::from_utf8(captured.0.lock().unwrap().clone()).unwrap());

    assert!(audit_text(&trail).contains("place_failed"));
    for text in &seen {
        assert!(!text.contains("CANARY-5d1e"), "leak: {text}");
    }
    // The key did go to the server, in the body.
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.json()["apikey"] == CANARY)
    );
}
