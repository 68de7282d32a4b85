//! Alert sinks: tracing, and the webhook with its URL policy, deduplication,
//! rate limit and timeout.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::time::Duration;

use asta_broker::{
    Alert, AlertDelivery, AlertError, AlertSink, Severity, TracingAlertSink, WebhookAlertSink,
    WebhookConfig,
};
use chrono::{DateTime, Utc};
use serde_json::json;
use support::{Recorded, Reply, TestServer};

fn alert(message: &str) -> Alert {
    Alert::new(
        Severity::Critical,
        "emergency_stop",
        message,
        DateTime::<Utc>::UNIX_EPOCH,
    )
    .field("reason", "daily loss")
}

#[tokio::test]
async fn webhook_posts_json_dedups_and_rate_limits() {
    let server = TestServer::start(|_: &Recorded| Reply::json(200, &json!({"ok": true}))).await;
    let url = format!("{}/hooks/SECRET-TOKEN-123", server.base_url());
    let config = WebhookConfig {
        max_per_minute: 3,
        ..WebhookConfig::default()
    };
    let sink = WebhookAlertSink::dangerous_allow_http_loopback(&url, config).unwrap();
    assert!(!format!("{sink:?}").contains("SECRET-TOKEN"));

    assert_eq!(
        sink.send(&alert("halted")).await.unwrap(),
        AlertDelivery::Delivered
    );
    assert_eq!(
        sink.send(&alert("halted")).await.unwrap(),
        AlertDelivery::Deduplicated
    );
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/hooks/SECRET-TOKEN-123");
    assert_eq!(
        sent[0].json(),
        json!({"severity": "critical", "kind": "emergency_stop", "message": "halted",
               "fields": {"reason": "daily loss"}, "at": "1970-01-01T00:00:00Z"})
    );
    assert_eq!(
        sink.send(&alert("two")).await.unwrap(),
        AlertDelivery::Delivered
    );
    assert_eq!(
        sink.send(&alert("three")).await.unwrap(),
        AlertDelivery::Delivered
    );
    assert_eq!(
        sink.send(&alert("four")).await.unwrap_err(),
        AlertError::RateLimited
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn webhook_failures_are_typed_and_hide_the_url() {
    let server = TestServer::start(|req: &Recorded| {
        if req.path == "/slow" {
            Reply::json(200, &json!({})).delayed(Duration::from_secs(2))
        } else {
            Reply::json(500, &json!({}))
        }
    })
    .await;
    let config = WebhookConfig {
        timeout_ms: 100,
        ..WebhookConfig::default()
    };
    let slow = WebhookAlertSink::dangerous_allow_http_loopback(
        &format!("{}/slow", server.base_url()),
        config.clone(),
    )
    .unwrap();
    assert_eq!(
        slow.send(&alert("x")).await.unwrap_err(),
        AlertError::Timeout
    );
    let failing = WebhookAlertSink::dangerous_allow_http_loopback(
        &format!("{}/fail", server.base_url()),
        config,
    )
    .unwrap();
    let err = failing.send(&alert("x")).await.unwrap_err();
    assert_eq!(err, AlertError::Rejected { status: 500 });
    // A failed alert is not remembered: it is sent again.
    assert!(failing.send(&alert("x")).await.is_err());
    assert_eq!(server.count("/fail"), 2);
}

#[test]
fn webhook_urls_must_be_https() {
    for url in [
        "http://127.0.0.1:9/x",
        "http://hooks.example.com/x",
        "ftp://x",
        "https://u:p@x.example/",
    ] {
        let err = WebhookAlertSink::new(url, WebhookConfig::default()).unwrap_err();
        assert!(matches!(err, AlertError::InvalidConfig { .. }), "{url}");
        assert!(!err.to_string().contains("example"), "{err}");
    }
    assert!(
        WebhookAlertSink::dangerous_allow_http_loopback(
            "http://10.0.0.1/x",
            WebhookConfig::default()
        )
        .is_err()
    );
    assert!(
        WebhookAlertSink::new(
            "https://hooks.example.com/services/T/B/X?x=1",
            WebhookConfig::default()
        )
        .is_ok()
    );
    assert!(serde_json::from_str::<WebhookConfig>(r#"{"timeout":5}"#).is_err());
}

#[tokio::test]
async fn tracing_sink_never_fails() {
    assert_eq!(
        TracingAlertSink.send(&alert("logged")).await.unwrap(),
        AlertDelivery::Delivered
    );
    let dynamic: Box<dyn AlertSink> = Box::new(TracingAlertSink);
    assert!(dynamic.send(&alert("again")).await.is_ok());
}
