//! Opening after a crash, fail-closed opening, permissions.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use asta_audit::{AuditError, AuditEvent, AuditLog, AuditRecord, Category, verify};
use common::*;
use serde_json::json;

#[test]
fn torn_final_line_is_cut_and_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 10, "a");
    let last = segments(&dir).pop().unwrap();
    let good_len = fs::metadata(&last).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&last).unwrap();
    f.write_all(b"{\"seq\":11,\"ts\":\"2026-11-27T03:46:00.0000")
        .unwrap();
    drop(f);
    // Before recovery, the verifier reports the torn line.
    assert!(!verify(&dir, &key(), None).unwrap().is_intact());

    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    let head = log.head().unwrap();
    assert_eq!(head.seq, 11);
    let next = log.append(AuditEvent::system("after", json!({}))).unwrap();
    assert_eq!(next.seq, 12);
    log.close().unwrap();

    let v = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    assert_eq!(v.records, 12);
    let lines = read_lines(&segments(&dir).pop().unwrap());
    let recovery: AuditRecord = serde_json::from_str(
        lines
            .iter()
            .find(|l| l.contains("audit_recovered"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(recovery.category, Category::System);
    assert_eq!(recovery.seq, 11);
    assert_eq!(recovery.details["cut_bytes"], 40);
    assert_eq!(recovery.details["cut_at_offset"], good_len);
}

#[test]
fn complete_but_damaged_last_line_fails_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 10, "a");
    let last = segments(&dir).pop().unwrap();
    let mut lines = read_lines(&last);
    let n = lines.len();
    lines[n - 1] = lines[n - 1].replace("801.05", "901.05");
    write_lines(&last, &lines);
    let err = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap_err();
    match err {
        AuditError::Tampered(f) => assert_eq!(f.seq, Some(10)),
        other => panic!("{other}"),
    }
}

#[test]
fn damage_before_the_tail_fails_closed_even_with_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 10, "a");
    let last = segments(&dir).pop().unwrap();
    let mut lines = read_lines(&last);
    lines.remove(0);
    let mut text = lines.join("\n");
    text.push_str("\n{\"seq\":");
    fs::write(&last, text).unwrap();
    assert!(matches!(
        AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())),
        Err(AuditError::Tampered(_))
    ));
}

#[test]
fn files_are_private_and_open_permissions_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 3, "a");
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            fs::metadata(&path).unwrap().mode() & 0o777,
            0o600,
            "{path:?}"
        );
    }
    let seg = segments(&dir).pop().unwrap();
    fs::set_permissions(&seg, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())),
        Err(AuditError::InsecurePermissions { .. })
    ));
    fs::set_permissions(&seg, fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    assert!(matches!(
        AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())),
        Err(AuditError::InsecurePermissions { .. })
    ));
}

#[test]
fn reopen_continues_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 25, "a");
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    assert_eq!(log.head().unwrap().seq, 25);
    let r = log
        .append(
            AuditEvent::security("login_failed", json!({"source": "10.0.0.7"})).with_actor("ops"),
        )
        .unwrap();
    assert_eq!(r.seq, 26);
    drop(log);
    let v = verify(&dir, &key(), None).unwrap().into_result().unwrap();
    assert_eq!(v.head.unwrap().mac, r.mac);
}

#[test]
fn timestamps_are_utc_with_microseconds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = trail(tmp.path(), "t", 2, "a");
    let line = &read_lines(&segments(&dir)[0])[1];
    assert!(
        line.contains("\"ts\":\"2026-11-27T03:45:00.250000Z\""),
        "{line}"
    );
}
