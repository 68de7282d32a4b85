//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test file uses a different subset")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a failed test"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use asta_audit::{AuditConfig, AuditEvent, AuditLog, AuditRecord, ChainKey, read_records, verify};
use asta_core::ManualClock;
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::json;

pub(crate) fn key() -> ChainKey {
    ChainKey::from_bytes(&[0x5a; 32]).unwrap()
}

pub(crate) fn clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 3, 45, 0).unwrap())
}

pub(crate) fn small_segments() -> AuditConfig {
    AuditConfig::builder()
        .max_segment_bytes(4096)
        .build()
        .unwrap()
}

/// Writes `n` order records (details vary with `salt`) and returns the dir.
pub(crate) fn trail(root: &Path, name: &str, n: u64, salt: &str) -> PathBuf {
    let dir = root.join(name);
    let clock = clock();
    let log = AuditLog::open(&dir, key(), small_segments(), Arc::new(clock.clone())).unwrap();
    for i in 1..=n {
        log.append(AuditEvent::order(
            "place_intent",
            "momentum",
            json!({"symbol": "SBIN", "qty": i, "price": "801.05", "salt": salt}),
        ))
        .unwrap();
        clock.advance(TimeDelta::milliseconds(250));
    }
    log.close().unwrap();
    dir
}

pub(crate) fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("audit-"))
        })
        .collect();
    out.sort();
    out
}

pub(crate) fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

pub(crate) fn all_text(dir: &Path) -> String {
    let mut text = String::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            text.push_str(&String::from_utf8_lossy(&fs::read(&path).unwrap()));
        }
    }
    text
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_str().unwrap().to_owned()
}

/// Every record of the trail in `dir`, read back MAC-checked.
pub(crate) fn records(dir: &Path) -> Vec<AuditRecord> {
    read_records(dir, &key())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// How many records `dir` holds, after its chain verifies.
pub(crate) fn verified(dir: &Path) -> u64 {
    verify(dir, &key(), None)
        .unwrap()
        .into_result()
        .unwrap()
        .records
}
