//! The file work of [`AuditLog::prune`](super::AuditLog::prune).

use std::fs::{self};

use asta_core::Clock;
use chrono::TimeDelta;
use serde_json::json;

use crate::error::AuditError;
use crate::record::{AuditEvent, Head, Mac};
use crate::retention::{Anchor, PruneReport, read_anchor, skip_pruned, write_anchor};
use crate::segment::{Line, LineReader, list_segments, sync_dir};
use crate::verify::{ChainState, Finding, FindingKind};

use super::commit::Shared;

impl Shared {
    /// The file work of [`AuditLog::prune`], run by the leader holding the
    /// segment: returns the report and the `retention_pruned` event to
    /// append if anything was removed.
    pub(super) fn prune_files(
        &self,
        newest: Option<Head>,
    ) -> Result<(PruneReport, Option<AuditEvent>), AuditError> {
        let now = self.clock.now();
        let reference = newest.map_or(now, |h| h.ts.min(now));
        let cutoff = reference - TimeDelta::days(i64::from(self.config.retention_days));
        let segments = list_segments(&self.dir)?;
        let anchor = read_anchor(&self.dir, &self.key).map_err(|kind| {
            AuditError::Tampered(Box::new(Finding {
                segment: "anchor".to_owned(),
                line: 0,
                seq: None,
                kind,
            }))
        })?;
        let (kept, stale) = skip_pruned(segments, anchor.as_ref());
        let candidates = kept.len().saturating_sub(1);
        let mut state = anchor.map_or(ChainState::new(1, Mac::GENESIS), |a| {
            ChainState::new(a.seq.saturating_add(1), a.mac)
        });
        let mut prunable = Vec::new();
        let mut last = None;
        for segment in kept.iter().take(candidates) {
            let mut reader = LineReader::open(&segment.path)?;
            let before = state.records;
            let mut newest = None;
            loop {
                let line_no = reader.line_no;
                let bad = |seq, kind| {
                    AuditError::Tampered(Box::new(Finding {
                        segment: segment.name(),
                        line: line_no,
                        seq,
                        kind,
                    }))
                };
                match reader.next_line(&segment.path)? {
                    None => break,
                    Some(Line::Complete(line)) => {
                        state.check(&self.key, &line).map_err(|(s, k)| bad(s, k))?;
                        let ts = state.head.map(|h| h.ts);
                        newest = newest.max(ts);
                    }
                    Some(_) => {
                        return Err(bad(
                            None,
                            FindingKind::Malformed("incomplete or over-long line".to_owned()),
                        ));
                    }
                }
            }
            match newest {
                Some(ts) if ts < cutoff => {
                    prunable.push((segment.clone(), state.records - before));
                    last = state.head;
                }
                _ => break,
            }
        }
        let mut report = PruneReport {
            anchor_seq: anchor.map(|a| a.seq),
            ..PruneReport::default()
        };
        if let Some(head) = last {
            write_anchor(
                &self.dir,
                &self.key,
                &Anchor {
                    seq: head.seq,
                    mac: head.mac,
                    ts: head.ts,
                },
            )?;
            report.anchor_seq = Some(head.seq);
        }
        for segment in stale.iter().chain(prunable.iter().map(|(s, _)| s)) {
            fs::remove_file(&segment.path)
                .map_err(|e| AuditError::io("deleting segment", &segment.path, e))?;
        }
        if prunable.is_empty() && stale.is_empty() {
            return Ok((report, None));
        }
        sync_dir(&self.dir)?;
        report.segments_removed = prunable.len();
        report.records_removed = prunable.iter().map(|(_, n)| n).sum();
        let event = AuditEvent::system(
            "retention_pruned",
            json!({
                "segments_removed": report.segments_removed,
                "records_removed": report.records_removed,
                "anchor_seq": report.anchor_seq,
                "retention_days": self.config.retention_days,
            }),
        );
        Ok((report, Some(event)))
    }
}
