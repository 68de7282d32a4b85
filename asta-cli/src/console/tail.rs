//! The newest audit records, read back from the trail (MAC-checked) for the
//! page and the live tail.
//!
//! A trail is kept for years, so the tail never reads all of it: it reads
//! the newest segment (and the one before it while the newest is small)
//! through a private directory of links to them, with asta-audit's own
//! reader, so every record shown is MAC-checked. A read is repeated only
//! when the log's head moved, and never sooner than four times as long as
//! the previous read took. (asta-audit has no "records after seq N" reader
//! yet; with one, this module would read only the new lines.)

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use asta_audit::{AuditLog, AuditRecord, Category, ChainKey, read_records};
use serde::Serialize;

/// Records kept for the page.
pub(crate) const KEPT: usize = 200;

/// The trail is read again at most this often.
const MIN_INTERVAL: Duration = Duration::from_millis(500);

/// Below this size the newest segment is read with the one before it (a
/// live segment's length includes up to 1 MiB of zeros the audit log
/// reserves past its records).
const SMALL_SEGMENT: u64 = 2 << 20;

/// Characters of a record's details shown in its row.
const SUMMARY_CHARS: usize = 200;

/// One audit record as the console shows it (details already redacted by
/// the audit log, shortened here).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) seq: u64,
    pub(crate) ts: String,
    pub(crate) category: String,
    pub(crate) action: String,
    pub(crate) actor: String,
    pub(crate) summary: String,
    /// Worth an operator's attention (security, errors, breakers, stops).
    pub(crate) alert: bool,
}

impl Row {
    fn from_record(record: &AuditRecord) -> Self {
        let mut summary = serde_json::Value::Object(record.details.clone()).to_string();
        if summary.chars().count() > SUMMARY_CHARS {
            summary = summary.chars().take(SUMMARY_CHARS).collect::<String>() + "…";
        }
        let action = record.action.clone();
        let alert = is_alert(record.category, &action);
        Self {
            seq: record.seq,
            ts: record.ts.format("%H:%M:%S").to_string(),
            category: record.category.to_string(),
            action,
            actor: record.actor.clone().unwrap_or_default(),
            summary,
            alert,
        }
    }
}

/// Records an operator should see among the alerts: errors, breakers,
/// halts and stops, refusals and blocks, unusual orders, and the operator
/// actions (sign-in, flatten, reset, console commands). Routine security
/// records (a key issued, a CLI command that succeeded) stay in the tail.
fn is_alert(category: Category, action: &str) -> bool {
    const MARKS: [&str; 14] = [
        "breaker",
        "halt",
        "emergency",
        "refused",
        "blocked",
        "unusual",
        "alert",
        "failed",
        "failure",
        "flatten",
        "reset",
        "tamper",
        "console_command",
        "console_sign_in",
    ];
    category == Category::Error || MARKS.iter().any(|mark| action.contains(mark))
}

#[derive(Default)]
struct State {
    rows: VecDeque<Row>,
    last_seq: u64,
    last_read: Option<Instant>,
    /// How long to wait after `last_read` (grows with slow reads).
    pause: Duration,
    error: Option<String>,
}

/// The cached tail of one trail.
pub(crate) struct Tail {
    dir: PathBuf,
    key: ChainKey,
    state: tokio::sync::Mutex<State>,
}

impl Tail {
    pub(crate) fn new(dir: PathBuf, key: ChainKey) -> Self {
        Self {
            dir,
            key,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// Reads the records appended since the last read (only when the log's
    /// head has moved, and unless `fresh`, at most every half second: the
    /// live tail polls, a page render must show what just happened), then returns
    /// the rows newer than `after` (oldest first) and the read error, if
    /// the trail could not be read.
    pub(crate) async fn since(
        &self,
        log: &AuditLog,
        after: u64,
        fresh: bool,
    ) -> (Vec<Row>, Option<String>) {
        let mut state = self.state.lock().await;
        let head = log.head().map_or(0, |head| head.seq);
        let pause = state.pause.max(MIN_INTERVAL);
        let due = fresh || state.last_read.is_none_or(|at| at.elapsed() >= pause);
        if head > state.last_seq && due {
            let started = Instant::now();
            let (dir, key, last) = (self.dir.clone(), self.key.clone(), state.last_seq);
            let read = tokio::task::spawn_blocking(move || read_after(&dir, &key, last)).await;
            state.last_read = Some(Instant::now());
            state.pause = started.elapsed().saturating_mul(4);
            match read {
                Ok(Ok(rows)) => {
                    state.error = None;
                    for row in rows {
                        state.last_seq = row.seq;
                        state.rows.push_back(row);
                        if state.rows.len() > KEPT {
                            state.rows.pop_front();
                        }
                    }
                }
                Ok(Err(error)) => state.error = Some(error),
                Err(_) => state.error = Some("the trail reader stopped".to_owned()),
            }
        }
        let rows = state
            .rows
            .iter()
            .filter(|row| row.seq > after)
            .cloned()
            .collect();
        (rows, state.error.clone())
    }
}

/// A private directory of links to the trail's newest segment, and to the
/// one before it while the newest is small. Segment names are
/// `audit-` + a zero-padded first seq + `.jsonl`, so the greatest names are
/// the newest.
fn newest_segments(dir: &Path) -> Result<tempfile::TempDir, String> {
    // Links resolve from their own directory: point them at absolute paths
    // (a session's trail is often configured relative to its project).
    let dir =
        std::fs::canonicalize(dir).map_err(|e| format!("cannot find {}: {e}", dir.display()))?;
    let dir = dir.as_path();
    let mut segments: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let len = entry.metadata().ok()?.len();
            (name.starts_with("audit-") && name.ends_with(".jsonl")).then_some((name, len))
        })
        .collect();
    segments.sort();
    let view =
        tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let mut taken = 0;
    for (name, len) in segments.iter().rev() {
        std::os::unix::fs::symlink(dir.join(name), view.path().join(name))
            .map_err(|e| format!("cannot link {name}: {e}"))?;
        taken += 1;
        if *len >= SMALL_SEGMENT || taken == 2 {
            break;
        }
    }
    Ok(view)
}

/// The records after `last` (oldest first), at most [`KEPT`] of them.
fn read_after(dir: &Path, key: &ChainKey, last: u64) -> Result<Vec<Row>, String> {
    let view = newest_segments(dir)?;
    let records = read_records(view.path(), key).map_err(|e| e.to_string())?;
    let mut rows = VecDeque::new();
    for record in records {
        let record = record.map_err(|e| e.to_string())?;
        if record.seq > last {
            rows.push_back(Row::from_record(&record));
            if rows.len() > KEPT {
                rows.pop_front();
            }
        }
    }
    Ok(rows.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn alerts_are_the_records_that_need_an_operator() {
        for (category, action) in [
            (Category::Risk, "breaker_tripped"),
            (Category::System, "emergency_stop"),
            (Category::Security, "console_refused"),
            (Category::Security, "unusual_order"),
            (Category::Security, "console_command"),
            (Category::Error, "error_reported"),
        ] {
            assert!(is_alert(category, action), "{action}");
        }
        for (category, action) in [
            (Category::Security, "client_key_issued"),
            (Category::Security, "cli.keys.issue"),
            (Category::Order, "place_intent"),
            (Category::Trade, "fill"),
        ] {
            assert!(!is_alert(category, action), "{action}");
        }
    }

    use asta_audit::{AuditConfig, AuditEvent};
    use asta_core::SystemClock;

    #[test]
    fn only_the_newest_segments_are_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let trail = dir.path().join("audit");
        let key = ChainKey::from_bytes(&[3u8; 32]).unwrap_or_else(|e| panic!("{e}"));
        let config = AuditConfig::builder()
            .max_segment_bytes(4096)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let log = AuditLog::open(&trail, key.clone(), config, Arc::new(SystemClock))
            .unwrap_or_else(|e| panic!("{e}"));
        for i in 0..200 {
            log.append(AuditEvent::system(
                "tick",
                serde_json::json!({"i": i, "pad": "x".repeat(100)}),
            ))
            .unwrap_or_else(|e| panic!("{e}"));
        }
        log.close().unwrap_or_else(|e| panic!("{e}"));
        let rows = read_after(&trail, &key, 0).unwrap_or_else(|e| panic!("{e}"));
        // Small segments: the newest two, ending at the newest record.
        assert!(!rows.is_empty() && rows.len() < 100, "{} rows", rows.len());
        assert_eq!(rows.last().map(|r| r.seq), log.head().map(|h| h.seq));
        assert!(rows.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        // Only what is new after a seq.
        let last = rows.last().map_or(0, |r| r.seq);
        assert!(
            read_after(&trail, &key, last)
                .unwrap_or_default()
                .is_empty()
        );

        // A trail named relative to the working directory (as a project's
        // configuration names it) reads the same: a short-lived directory
        // under the working directory, named without a leading `/` or `..`.
        let local = tempfile::tempdir_in(".").unwrap_or_else(|e| panic!("{e}"));
        let name = local
            .path()
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        let relative = name.join("audit");
        let log = AuditLog::open(
            &relative,
            key.clone(),
            AuditConfig::default(),
            Arc::new(SystemClock),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        log.append(AuditEvent::system("tick", serde_json::json!({})))
            .unwrap_or_else(|e| panic!("{e}"));
        log.close().unwrap_or_else(|e| panic!("{e}"));
        assert!(relative.is_relative());
        let again = read_after(&relative, &key, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.len(), 1);
    }
}
