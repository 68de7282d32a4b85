//! Crash safety: a child process appending concurrently is SIGKILLed at random
//! moments; after every kill the trail reopens, every acknowledged append is
//! present, and the chain verifies.
//!
//! The child is this same test binary, re-executed with an environment
//! variable that turns `crash_child` into an appender that never stops.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asta_audit::{AuditConfig, AuditEvent, AuditLog, AuditRecord, verify};
use asta_core::SystemClock;
use common::*;
use serde_json::json;

const CHILD_ENV: &str = "ASTA_AUDIT_CRASH_CHILD_DIR";
const ROUNDS: u32 = 24;
const THREADS: u32 = 4;

fn child_config() -> AuditConfig {
    // Small segments so kills also land around rotations.
    AuditConfig::builder()
        .max_segment_bytes(2 * 1024 * 1024)
        .max_record_bytes(1024 * 1024)
        .build()
        .unwrap()
}

/// Runs only in the child process: appends from several threads until killed,
/// printing `ACK <seq> <tag>` after each append returned.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = AuditLog::open(&dir, key(), child_config(), Arc::new(SystemClock)).unwrap();
    let pid = std::process::id();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let tag = format!("{pid}-{t}-{i}");
                    let receipt = log
                        .append(AuditEvent::order(
                            "place_intent",
                            "crash",
                            json!({"tag": tag, "symbol": "SBIN", "pad": "x".repeat(pad(t, i))}),
                        ))
                        .unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {} {tag}", receipt.seq).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Mostly small records; now and then a large one, so that a kill can land
/// in the middle of a long `write` and leave a torn line to recover.
fn pad(thread: u32, i: u64) -> usize {
    if thread == 0 && i % 3 == 2 {
        800_000
    } else {
        (i % 7 * 40) as usize
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn read_all_records(dir: &std::path::Path) -> BTreeMap<u64, AuditRecord> {
    let mut out = BTreeMap::new();
    for seg in segments(dir) {
        for line in read_lines(&seg) {
            let record: AuditRecord = serde_json::from_str(&line).unwrap();
            out.insert(record.seq, record);
        }
    }
    out
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut recoveries = 0;

    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("ACK ") {
                    let (seq, tag) = rest.split_once(' ').unwrap();
                    acks.push((seq.parse::<u64>().unwrap(), tag.to_owned()));
                }
            }
            acks
        });
        // Kill at a random moment: sometimes during start-up, mostly mid-append.
        std::thread::sleep(Duration::from_millis(5 + rng.next() % 150));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        for (seq, tag) in acks {
            assert!(
                acked.insert(seq, tag).is_none(),
                "seq {seq} acknowledged twice"
            );
        }

        // Reopen (this recovers a torn tail), then check everything.
        let log = AuditLog::open(&dir, key(), child_config(), Arc::new(SystemClock))
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): reopen failed: {e}"));
        log.close().unwrap();
        let verified = verify(&dir, &key(), None)
            .unwrap()
            .into_result()
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): {e}"));
        let records = read_all_records(&dir);
        assert_eq!(records.len() as u64, verified.records);
        for (seq, tag) in &acked {
            let record = records
                .get(seq)
                .unwrap_or_else(|| panic!("acknowledged seq {seq} lost (seed {seed})"));
            assert_eq!(record.details["tag"], tag.as_str(), "seq {seq}");
        }
        recoveries = records
            .values()
            .filter(|r| r.action == "audit_recovered")
            .count();
    }
    println!(
        "{} acknowledged appends survived {ROUNDS} kills; {recoveries} torn tails recovered",
        acked.len()
    );
    assert!(!acked.is_empty(), "the child never acknowledged an append");
}
