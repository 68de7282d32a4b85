//! The newest audit records, read back from the trail (MAC-checked) for the
//! page and the live tail.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use asta_audit::{AuditLog, AuditRecord, Category, ChainKey, read_records};
use serde::Serialize;

/// Records kept for the page.
pub(crate) const KEPT: usize = 200;

/// The trail is read again at most this often.
const MIN_INTERVAL: Duration = Duration::from_millis(500);

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
        let alert = matches!(record.category, Category::Security | Category::Error)
            || action.contains("breaker")
            || action.contains("halt")
            || action.contains("emergency");
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

#[derive(Default)]
struct State {
    rows: VecDeque<Row>,
    last_seq: u64,
    last_read: Option<Instant>,
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
        let due = fresh
            || state
                .last_read
                .is_none_or(|at| at.elapsed() >= MIN_INTERVAL);
        if head > state.last_seq && due {
            state.last_read = Some(Instant::now());
            let (dir, key, last) = (self.dir.clone(), self.key.clone(), state.last_seq);
            let read = tokio::task::spawn_blocking(move || read_after(&dir, &key, last)).await;
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

/// The records after `last` (oldest first), at most [`KEPT`] of them.
fn read_after(dir: &std::path::Path, key: &ChainKey, last: u64) -> Result<Vec<Row>, String> {
    let records = read_records(dir, key).map_err(|e| e.to_string())?;
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
