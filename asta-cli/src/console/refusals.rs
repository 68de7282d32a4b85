//! How many refusal records one source may write.
//!
//! Every refused console request is audited, but a refusal costs the caller
//! nothing: a local process, or a web page in the operator's own browser
//! posting cross-origin forms, could otherwise make the session write
//! thousands of records a second into the trail that also carries its
//! orders. So each source address gets [`RECORDS_PER_WINDOW`] refusal
//! records per [`WINDOW`]; past that its refusals are counted, one record
//! says the rest are being counted, and the count is recorded when the
//! source next writes a refusal record in a later window. The refusals
//! themselves are never relaxed: only their records are summarised.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use asta_audit::{AuditEvent, Wait};
use asta_broker::Broker;
use serde_json::json;

use super::Console;

/// Refusal records one source may write per window.
pub(crate) const RECORDS_PER_WINDOW: u32 = 20;
/// The window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Sources tracked at once; the oldest window is dropped beyond this.
const MAX_SOURCES: usize = 4096;

/// One source's current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    recorded: u32,
    suppressed: u64,
}

/// What to write for one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Write the refusal's record; `earlier_suppressed` refusals of the
    /// previous window went unrecorded (write their count first when > 0).
    Record {
        /// Refusals counted, not recorded, in the source's last full window.
        earlier_suppressed: u64,
    },
    /// The first refusal over the budget: write one record saying that
    /// further refusals from this source are counted until the window ends.
    StartCounting,
    /// Counted only.
    Count,
}

/// Per-source refusal record budgets.
#[derive(Debug, Default)]
pub(crate) struct RefusalBudget {
    windows: HashMap<String, Window>,
}

impl RefusalBudget {
    /// What to write for a refusal from `source` at `now`.
    pub(crate) fn judge(&mut self, source: &str, now: Instant) -> Verdict {
        if !self.windows.contains_key(source) && self.windows.len() >= MAX_SOURCES {
            self.evict_oldest();
        }
        let window = self.windows.entry(source.to_owned()).or_insert(Window {
            started: now,
            recorded: 0,
            suppressed: 0,
        });
        let mut earlier_suppressed = 0;
        if now.saturating_duration_since(window.started) >= WINDOW {
            earlier_suppressed = window.suppressed;
            *window = Window {
                started: now,
                recorded: 0,
                suppressed: 0,
            };
        }
        if window.recorded < RECORDS_PER_WINDOW {
            window.recorded += 1;
            return Verdict::Record { earlier_suppressed };
        }
        window.suppressed = window.suppressed.saturating_add(1);
        if window.suppressed == 1 {
            Verdict::StartCounting
        } else {
            Verdict::Count
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(oldest) = self
            .windows
            .iter()
            .min_by_key(|(_, w)| w.started)
            .map(|(source, _)| source.clone())
        {
            self.windows.remove(&oldest);
        }
    }
}

impl<B: Broker + 'static> Console<B> {
    /// Records a refusal from `source` durably, within the source's budget
    /// of refusal records (this module): past it, one record says
    /// the rest are counted, and their count is recorded later.
    pub(crate) async fn audit_refusal(&self, source: &str, event: AuditEvent) {
        let verdict = self
            .refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .judge(source, std::time::Instant::now());
        let log = self.guard.audit_log();
        let mut events = Vec::with_capacity(2);
        match verdict {
            Verdict::Record { earlier_suppressed } => {
                if earlier_suppressed > 0 {
                    events.push(AuditEvent::security(
                        "console_refusals_counted",
                        json!({"source": source, "refusals": earlier_suppressed,
                               "window_secs": WINDOW.as_secs()}),
                    ));
                }
                events.push(event);
            }
            Verdict::StartCounting => events.push(AuditEvent::security(
                "console_refusals_counting",
                json!({"source": source, "recorded": RECORDS_PER_WINDOW,
                       "window_secs": WINDOW.as_secs(),
                       "note": "further refusals from this source in this window are counted, not recorded one by one"}),
            )),
            Verdict::Count => {}
        }
        if events.is_empty() {
            return;
        }
        if let Err(error) = log.append_batch_async(events, Wait::Durable).await {
            tracing::error!(%error, "console: a refusal record could not be written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_records_its_budget_then_counts() {
        let mut budget = RefusalBudget::default();
        let t0 = Instant::now();
        for _ in 0..RECORDS_PER_WINDOW {
            assert_eq!(
                budget.judge("127.0.0.1", t0),
                Verdict::Record {
                    earlier_suppressed: 0
                }
            );
        }
        assert_eq!(budget.judge("127.0.0.1", t0), Verdict::StartCounting);
        for _ in 0..50 {
            assert_eq!(budget.judge("127.0.0.1", t0), Verdict::Count);
        }
        // Another source has its own budget.
        assert_eq!(
            budget.judge("127.0.0.2", t0),
            Verdict::Record {
                earlier_suppressed: 0
            }
        );
        // The next window records again, with the count of the last one.
        assert_eq!(
            budget.judge("127.0.0.1", t0 + WINDOW),
            Verdict::Record {
                earlier_suppressed: 51
            }
        );
        assert_eq!(
            budget.judge("127.0.0.1", t0 + WINDOW),
            Verdict::Record {
                earlier_suppressed: 0
            }
        );
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut budget = RefusalBudget::default();
        let t0 = Instant::now();
        for n in 0..(MAX_SOURCES + 100) {
            let _ = budget.judge(&format!("10.0.{}.{}", n / 256, n % 256), t0);
        }
        assert_eq!(budget.windows.len(), MAX_SOURCES);
    }
}
