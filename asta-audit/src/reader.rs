//! Reading records back, for tails and exports.

use std::path::Path;

use crate::segment::{Line, LineReader, Segment, list_segments};
use crate::verify::{Finding, FindingKind, parse_checked};
use crate::{AuditError, AuditRecord, ChainKey};

/// Every record in a trail directory, oldest first, each MAC-checked.
///
/// Streams segment by segment with bounded memory. A line whose MAC does not
/// check, or that does not parse, ends the iteration with
/// [`AuditError::Tampered`] naming it: a forged record is never shown as a
/// genuine one. Links between records, sequence gaps and checkpoints are
/// [`verify`](crate::verify)'s job: run it first when the whole trail
/// matters. An unterminated final line (a write in progress, or a torn tail
/// not yet recovered) is skipped.
///
/// ```
/// # use std::sync::Arc;
/// # use asta_audit::{AuditConfig, AuditEvent, AuditLog, ChainKey, read_records};
/// # use asta_core::SystemClock;
/// # let dir = tempfile::tempdir()?;
/// # let trail = dir.path().join("audit");
/// let key = ChainKey::generate()?;
/// let log = AuditLog::open(&trail, key.clone(), AuditConfig::default(), Arc::new(SystemClock))?;
/// log.append(AuditEvent::system("started", serde_json::json!({})))?;
/// log.close()?;
/// let actions: Vec<String> = read_records(&trail, &key)?
///     .map(|r| r.map(|r| r.action))
///     .collect::<Result<_, _>>()?;
/// assert_eq!(actions, ["started"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_records(dir: &Path, key: &ChainKey) -> Result<Records, AuditError> {
    let mut segments = list_segments(dir)?;
    segments.reverse();
    Ok(Records {
        key: key.clone(),
        pending: segments,
        current: None,
        done: false,
    })
}

/// The iterator returned by [`read_records`].
pub struct Records {
    key: ChainKey,
    /// Segments still to read, newest first (popped from the end).
    pending: Vec<Segment>,
    current: Option<(Segment, LineReader)>,
    done: bool,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("segments_left", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Iterator for Records {
    type Item = Result<AuditRecord, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            if self.current.is_none() {
                let segment = self.pending.pop()?;
                match LineReader::open(&segment.path) {
                    Ok(reader) => self.current = Some((segment, reader)),
                    Err(e) => return self.fail(e),
                }
            }
            let (segment, reader) = self.current.as_mut()?;
            let line_no = reader.line_no;
            let line = match reader.next_line(&segment.path) {
                Ok(line) => line,
                Err(e) => return self.fail(e),
            };
            match line {
                None | Some(Line::Unterminated(_)) => self.current = None,
                Some(Line::TooLong) => {
                    let finding = Finding {
                        segment: segment.name(),
                        line: line_no,
                        seq: None,
                        kind: FindingKind::Malformed("line longer than the 1 MiB limit".to_owned()),
                    };
                    return self.fail(AuditError::Tampered(Box::new(finding)));
                }
                Some(Line::Complete(bytes)) => {
                    return match parse_checked(&self.key, &bytes) {
                        Ok((record, _)) => Some(Ok(record)),
                        Err((seq, kind)) => {
                            let finding = Finding {
                                segment: segment.name(),
                                line: line_no,
                                seq,
                                kind,
                            };
                            self.fail(AuditError::Tampered(Box::new(finding)))
                        }
                    };
                }
            }
        }
    }
}

impl Records {
    fn fail(&mut self, error: AuditError) -> Option<Result<AuditRecord, AuditError>> {
        self.done = true;
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use asta_core::ManualClock;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::{AuditConfig, AuditEvent, AuditLog};

    #[test]
    fn reads_across_segments_and_stops_at_a_forgery() {
        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("audit");
        let key = ChainKey::generate().unwrap();
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let config = AuditConfig::builder()
            .max_segment_bytes(4096)
            .build()
            .unwrap();
        let log = AuditLog::open(&trail, key.clone(), config, clock).unwrap();
        for i in 0..60 {
            log.append(AuditEvent::system("tick", json!({ "i": i })))
                .unwrap();
        }
        log.close().unwrap();
        let seqs: Vec<u64> = read_records(&trail, &key)
            .unwrap()
            .map(|r| r.unwrap().seq)
            .collect();
        assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
        assert!(list_segments(&trail).unwrap().len() > 1);

        // Another key's view: the first record already fails its MAC.
        let other = ChainKey::generate().unwrap();
        let mut records = read_records(&trail, &other).unwrap();
        assert!(matches!(records.next(), Some(Err(AuditError::Tampered(_)))));
        assert!(records.next().is_none());
    }
}
