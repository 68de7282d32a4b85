//! The zeros the writer reserves past the newest record (see the notes of
//! asta-audit's segment module): readers stop at them, a crash leaves them
//! for the next open to read past, a torn write into them is cut and
//! recorded, anything but zeros after them fails closed, and rotation and
//! close trim them.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use asta_audit::{AuditConfig, AuditError, AuditEvent, AuditLog, verify};
use common::*;
use serde_json::json;

/// A trail of `n` records as a crash leaves it (see [`crash_copy`]), its
/// newest segment and where the records in it end.
fn crashed(n: u64) -> (tempfile::TempDir, PathBuf, PathBuf, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let log = open(&dir).unwrap();
    append(&log, n);
    let copy = crash_copy(&dir, tmp.path());
    log.close().unwrap();
    let newest = segments(&copy).pop().unwrap();
    let data = data_len(&newest);
    (tmp, copy, newest, data)
}

/// Writes `bytes` at `offset` of `path`, as a crash in the middle of a
/// write would have left them.
fn write_at(path: &Path, bytes: &[u8], offset: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(bytes, offset)
        .unwrap();
}

fn open(dir: &Path) -> Result<AuditLog, AuditError> {
    AuditLog::open(dir, key(), AuditConfig::default(), Arc::new(clock()))
}

fn append(log: &AuditLog, n: u64) {
    for i in 0..n {
        log.append(AuditEvent::order(
            "place_intent",
            "momentum",
            json!({"symbol": "SBIN", "qty": i}),
        ))
        .unwrap();
    }
}

/// Where the records end in a segment file (the first zero byte).
fn data_len(path: &Path) -> u64 {
    let bytes = fs::read(path).unwrap();
    bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len()) as u64
}

/// The trail as a crash would leave it: a copy of its files taken while
/// the log is open (reserved zeros included).
fn crash_copy(dir: &Path, root: &Path) -> PathBuf {
    let copy = root.join("crashed");
    fs::DirBuilder::new().mode(0o700).create(&copy).unwrap();
    for segment in segments(dir) {
        fs::copy(&segment, copy.join(file_name(&segment))).unwrap();
    }
    copy
}

#[test]
fn an_open_log_reserves_zeros_that_readers_stop_at_and_close_trims() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let log = open(&dir).unwrap();
    append(&log, 5);
    let newest = segments(&dir).pop().unwrap();
    let len = fs::metadata(&newest).unwrap().len();
    let data = data_len(&newest);
    assert!(len > data, "space is reserved past the records");
    let bytes = fs::read(&newest).unwrap();
    assert!(
        bytes
            .get(usize::try_from(data).unwrap()..)
            .unwrap()
            .iter()
            .all(|&b| b == 0)
    );
    // Readers of a live trail see the records only.
    assert_eq!(verified(&dir), 5);
    assert_eq!(records(&dir).len(), 5);
    log.close().unwrap();
    assert_eq!(
        fs::metadata(&newest).unwrap().len(),
        data,
        "close trims the reservation"
    );
    assert!(!fs::read(&newest).unwrap().contains(&0));
    assert_eq!(verified(&dir), 5);
}

#[test]
fn rotation_leaves_no_zeros_in_finished_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock())).unwrap();
    append(&log, 60);
    let all = segments(&dir);
    assert!(all.len() > 3);
    for segment in all.iter().take(all.len() - 1) {
        assert!(
            !fs::read(segment).unwrap().contains(&0),
            "{}",
            segment.display()
        );
    }
    assert_eq!(verified(&dir), 60);
    log.close().unwrap();
}

#[test]
fn after_a_crash_the_next_open_reads_past_the_zeros_and_writes_over_them() {
    let (_tmp, copy, _, _) = crashed(7);
    let reopened = open(&copy).unwrap();
    assert_eq!(reopened.head().unwrap().seq, 7);
    append(&reopened, 3);
    reopened.close().unwrap();
    let records = records(&copy);
    assert_eq!(records.len(), 10);
    assert!(
        records.iter().all(|r| r.action != "audit_recovered"),
        "clean zeros are no torn write"
    );
    assert_eq!(verified(&copy), 10);
}

#[test]
fn a_torn_write_into_the_zeros_is_cut_and_recorded() {
    let (_tmp, copy, newest, data) = crashed(4);
    let torn = b"{\"seq\":5,\"ts\":\"2026-11-27T03:4";
    write_at(&newest, torn, data);
    // Before recovery the verifier reports it.
    assert!(!verify(&copy, &key(), None).unwrap().is_intact());

    let reopened = open(&copy).unwrap();
    append(&reopened, 1);
    reopened.close().unwrap();
    let records = records(&copy);
    let recovery = records
        .iter()
        .find(|r| r.action == "audit_recovered")
        .unwrap();
    assert_eq!(recovery.seq, 5);
    assert_eq!(recovery.details["cut_bytes"], torn.len());
    assert_eq!(recovery.details["cut_at_offset"], data);
    assert_eq!(verified(&copy), 6);
}

#[test]
fn anything_but_zeros_after_the_zeros_fails_closed() {
    let (_tmp, copy, newest, data) = crashed(4);
    write_at(&newest, b"{\"seq\":9}\n", data + 100);
    assert!(!verify(&copy, &key(), None).unwrap().is_intact());
    assert!(matches!(open(&copy), Err(AuditError::Tampered(_))));
}

/// Zeros are reserved by commits that sync, where they save the sync a
/// change of file length; buffered records written without a sync just
/// extend the file (no second write of zeros), and the next sync reserves
/// past them without touching them.
#[test]
fn only_a_commit_that_syncs_reserves_zeros() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let config = AuditConfig::builder()
        .dangerous_buffered(asta_audit::Category::System)
        // No background sync of the buffered records during the test.
        .buffered_flush_interval(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let log = AuditLog::open(&dir, key(), config, Arc::new(clock())).unwrap();
    log.append(AuditEvent::order("first", "s", json!({"i": 0})))
        .unwrap();
    let newest = segments(&dir).pop().unwrap();
    let reserved = fs::metadata(&newest).unwrap().len();
    assert!(reserved > data_len(&newest), "a synced commit reserves");
    // Buffered records past the reservation, written without a sync.
    let filler = "x".repeat(4000);
    let mut written = 1;
    while data_len(&newest) <= reserved {
        let receipt = log
            .append(AuditEvent::system("tick", json!({"pad": filler})))
            .unwrap();
        assert!(!receipt.durable);
        written += 1;
    }
    assert_eq!(
        fs::metadata(&newest).unwrap().len(),
        data_len(&newest),
        "no zeros past buffered records"
    );
    assert_eq!(verified(&dir), written);
    // The next synced commit reserves past them and keeps every record.
    log.append(AuditEvent::order("synced", "s", json!({"i": 1})))
        .unwrap();
    written += 1;
    assert!(fs::metadata(&newest).unwrap().len() > data_len(&newest));
    assert_eq!(verified(&dir), written);
    log.close().unwrap();
    assert_eq!(verified(&dir), written);
    assert_eq!(records(&dir).len(), usize::try_from(written).unwrap());
}
