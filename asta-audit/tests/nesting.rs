//! One nesting limit for `details`, shared by the writer and the reader: a
//! logged payload cannot make the trail unreadable.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;

use asta_audit::{AuditError, AuditEvent, AuditLog, MAX_DETAILS_DEPTH, read_records, verify};
use common::*;
use serde_json::{Value, json};

/// A `details` object `depth` levels deep (the object itself is level 1).
fn nested(depth: usize) -> Value {
    let mut value = json!("leaf");
    for i in 1..depth {
        value = if i % 2 == 0 {
            json!([value])
        } else {
            json!({ "n": value })
        };
    }
    json!({ "payload": value })
}

#[test]
fn details_at_the_limit_are_written_verified_reopened_and_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    log.append(AuditEvent::system("deep", nested(MAX_DETAILS_DEPTH)))
        .unwrap();
    log.close().unwrap();

    assert!(verify(&dir, &key(), None).unwrap().is_intact());
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    log.append(AuditEvent::system("after", json!({}))).unwrap();
    log.close().unwrap();
    let records: Vec<_> = read_records(&dir, &key())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(records.len(), 2);
}

#[test]
fn details_beyond_the_limit_are_refused_at_append_and_the_trail_stays_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    log.append(AuditEvent::system("before", json!({}))).unwrap();
    // 126 levels was accepted and synced before, then broke the trail.
    for depth in [MAX_DETAILS_DEPTH + 1, 126, 127, 1_000] {
        let err = log
            .append(AuditEvent::system("deep", nested(depth)))
            .unwrap_err();
        match err {
            AuditError::DetailsTooDeep { depth: found, max } => {
                assert_eq!(max, MAX_DETAILS_DEPTH);
                assert!(found > MAX_DETAILS_DEPTH);
            }
            other => panic!("expected DetailsTooDeep, got {other:?}"),
        }
        assert!(
            err_text(depth, &log).contains("at most 64 levels"),
            "the message says the limit"
        );
    }
    assert!(!log.is_poisoned());
    log.append(AuditEvent::system("after", json!({}))).unwrap();
    log.close().unwrap();

    let verified = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    assert_eq!(verified.records, 2);
    AuditLog::open(&dir, key(), small_segments(), Arc::new(clock()))
        .unwrap()
        .close()
        .unwrap();
}

fn err_text(depth: usize, log: &AuditLog) -> String {
    log.append(AuditEvent::system("deep", nested(depth)))
        .unwrap_err()
        .to_string()
}
