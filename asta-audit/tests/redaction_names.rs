//! Redaction decisions of issue 15: `pass` and `credentials` fields, and
//! base32 TOTP seeds under innocuous names.
#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use asta_audit::{REDACTED, is_sensitive_name, redact_text, redact_value};
use serde_json::json;

const SEED: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

#[test]
fn pass_and_credentials_fields_are_hidden_and_lookalikes_are_not() {
    for name in [
        "pass",
        "PASS",
        "broker_pass",
        "userPwd",
        "pwd",
        "db.pass",
        "credentials",
        "aws_credentials",
        "Credential",
        "passphrase",
        "backup_passphrase",
    ] {
        assert!(is_sensitive_name(name), "{name} must be sensitive");
    }
    for name in [
        "passed",
        "checks_passed",
        "bypass",
        "compass",
        "passive",
        "symbol",
    ] {
        assert!(!is_sensitive_name(name), "{name} must stay visible");
    }
    let mut value = json!({
        "pass": "hunter2",
        "nested": {"credentials": {"user": "ab", "p": "x"}, "checks_passed": 3},
    });
    redact_value(&mut value);
    assert_eq!(value["pass"], REDACTED);
    assert_eq!(value["nested"]["credentials"], REDACTED);
    assert_eq!(value["nested"]["checks_passed"], 3);
}

#[test]
fn base32_totp_seeds_are_hidden_under_any_name() {
    let mut value = json!({
        "note": SEED,
        "comment": format!("enrolled with {} today", &SEED[..16]),
        "padded": "GEZDGNBVGY3TQOJQGEZDGNBVGY======",
    });
    redact_value(&mut value);
    let text = value.to_string();
    assert!(!text.contains("JBSWY3DP"), "{text}");
    assert!(!text.contains("GEZDGNBV"), "{text}");
    assert_eq!(value["note"], REDACTED);
    assert_eq!(value["comment"], format!("enrolled with {REDACTED} today"));
}

#[test]
fn symbols_references_and_ordinary_words_are_not_seeds() {
    for text in [
        "BUY 75 NIFTY28NOV2424000CE @ 120.05",
        "BANKNIFTY26MAR2652500PE",
        "RELIANCE SBIN M&M BAJAJ-AUTO",
        "ref ERR-7F3K9QX2MA",
        "ABCDEFGHIJKLMNOPQRST has no digit",
        "PRICE_COLLAR_EXCEEDED_BY_TWENTY",
        "ISIN INE062A01020",
    ] {
        assert_eq!(redact_text(text), text, "{text}");
    }
}
