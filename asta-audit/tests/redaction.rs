//! Secrets never reach the files, and redaction is idempotent and total.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;

use asta_audit::{AuditEvent, AuditLog, REDACTED, RiskDecision, redact_text, redact_value};
use asta_core::ErrorReference;
use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// One canary per pattern and field-name rule; each must vanish.
const TEXT_CANARIES: &[&str] = &[
    "password=CANARY-A1",
    "passwd: CANARY-A2",
    "api_key=\"CANARY-A3 with spaces\"",
    "GET /orders?apikey=CANARY-A4&symbol=SBIN",
    "broker said {\"auth_token\": \"CANARY-A5\", \"symbol\": \"SBIN\"}",
    "nested escaped {\\\"secret\\\":\\\"CANARY-A6\\\"}",
    "Authorization: Bearer CANARY-A7",
    "Authorization: Basic Q0FOQVJZLUE4OnBhc3M=",
    "Cookie: sid=CANARY-A9; theme=dark",
    "retrying with bearer CANARY-A10.token",
    "jwt=x eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJDQU5BUlktQTExIn0.Q0FOQVJZLUExMXNpZw",
    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEICANARY-A12\n-----END EC PRIVATE KEY-----",
    "dsn postgres://trader:CANARY-A13@db.internal:5432/asta",
    "openalgo key 5f2b7c9d1e3a4b6c8d0e2f4a6b8c0d1e3f5a7b9c1d3e5f7a9b0c2d4e6f8a0b1c",
    "otp=CANARY-A15",
    "login pin: CANARY-A16",
];

#[test]
fn canaries_never_reach_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    for (i, canary) in TEXT_CANARIES.iter().enumerate() {
        log.append(AuditEvent::error(
            ErrorReference::generate(),
            "broker_error",
            json!({"detail": canary, "list": [canary], "symbol": "SBIN", "price": "801.05"}),
        ))
        .unwrap();
        log.append(
            AuditEvent::security(format!("event {canary}"), json!({"i": i}))
                .with_actor(canary.to_string())
                .with_strategy(canary.to_string()),
        )
        .unwrap();
    }
    // Field-name rule, any case, any depth.
    log.append(AuditEvent::order(
        "place_intent",
        "momentum",
        json!({
            "symbol": "SBIN",
            "qty": 10,
            "price": "801.05",
            "X-Api-Key": "CANARY-F1",
            "broker": {"Session_TOKEN": "CANARY-F2", "creds": [{"PassWord": 12345678}]},
            "client_secret": {"inner": "CANARY-F3"},
            "login_pin": "CANARY-F4",
            "totp_code": "CANARY-F5",
            "authorizationHeader": "CANARY-F6",
            "set_cookie": "CANARY-F7",
            "passwdHash": "CANARY-F8",
        }),
    ))
    .unwrap();
    log.append(AuditEvent::risk_decision(
        "pre_trade",
        "momentum",
        RiskDecision::rejected("price 901.05 above band 880.10 for SBIN"),
        json!({"symbol": "SBIN"}),
    ))
    .unwrap();
    log.close().unwrap();
    let text = all_text(&dir);
    assert!(!text.contains("CANARY"), "a canary leaked");
    assert!(!text.contains("Q0FOQVJZ"), "base64 canary leaked");
    assert!(!text.contains("12345678"), "numeric password leaked");
    assert!(!text.contains("5f2b7c9d1e3a4b6c"), "hex key leaked");
    // Ordinary values survived.
    assert!(text.contains("\"symbol\":\"SBIN\""));
    assert!(text.contains("\"price\":\"801.05\""));
    assert!(text.contains("price 901.05 above band 880.10 for SBIN"));
    assert!(text.contains(REDACTED));
}

fn secretish() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("password".to_owned()),
        Just("=".to_owned()),
        Just(": ".to_owned()),
        Just("\"".to_owned()),
        Just("\\\"".to_owned()),
        Just("'".to_owned()),
        Just("Bearer ".to_owned()),
        Just("Basic ".to_owned()),
        Just("Authorization:".to_owned()),
        Just("Cookie:".to_owned()),
        Just("eyJ".to_owned()),
        Just(".".to_owned()),
        Just("://u:".to_owned()),
        Just("@".to_owned()),
        Just("-----BEGIN PRIVATE KEY-----".to_owned()),
        Just("-----END PRIVATE KEY-----".to_owned()),
        Just("[REDACTED]".to_owned()),
        Just("\n".to_owned()),
        "[0-9a-f]{8,70}",
        "[A-Za-z0-9 _&;,{}]{0,12}",
        any::<String>(),
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        secretish().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(secretish(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn redact_text_is_idempotent(text in secretish()) {
        let once = redact_text(&text).into_owned();
        let twice = redact_text(&once).into_owned();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn redact_text_never_panics_on_any_string(text in any::<String>()) {
        let once = redact_text(&text).into_owned();
        prop_assert_eq!(redact_text(&once).into_owned(), once);
    }

    #[test]
    fn redact_value_is_idempotent(value in json_value()) {
        let mut once = value;
        redact_value(&mut once);
        let mut twice = once.clone();
        redact_value(&mut twice);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn symbols_and_prices_are_untouched(
        symbol in "[A-Z][A-Z0-9&-]{0,15}",
        rupees in 0u32..100_000,
        paise in 0u32..100,
    ) {
        let text = format!("BUY 10 {symbol} @ {rupees}.{paise:02} LIMIT");
        prop_assert_eq!(redact_text(&text).into_owned(), text);
    }
}
