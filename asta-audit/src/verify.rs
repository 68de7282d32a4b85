//! Streaming verification of a whole trail.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::canonical::{check_mac, parse_canonical_body, split_line};
use crate::checkpoint::Checkpoint;
use crate::error::AuditError;
use crate::key::ChainKey;
use crate::record::{AuditRecord, Head, Mac};
use crate::retention::{read_anchor, skip_pruned};
use crate::segment::{Line, LineEnd, LineReader, list_segments};
use chrono::{DateTime, Utc};

/// What is wrong with the first bad record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// The record's MAC does not match its content: it was modified or
    /// forged, or the wrong key was used.
    MacMismatch,
    /// A record is missing: the seq jumps from `expected` to `found`.
    MissingSeq {
        /// The seq that should have come next.
        expected: u64,
        /// The seq that was found.
        found: u64,
    },
    /// Records are out of order (or repeated): `found` where `expected`
    /// should have come.
    Reordered {
        /// The seq that should have come next.
        expected: u64,
        /// The seq that was found.
        found: u64,
    },
    /// The record's `prev` is not the MAC of the record before it: the chain
    /// was spliced.
    BrokenLink,
    /// The line is not a well-formed record.
    Malformed(String),
    /// The trail ends before the record named by the checkpoint: it was
    /// truncated.
    TruncatedVsCheckpoint {
        /// The checkpoint's seq.
        checkpoint_seq: u64,
        /// The last seq in the trail (0 if empty).
        head_seq: u64,
    },
    /// The record at the checkpoint's seq is not the checkpointed record:
    /// the trail was rolled back and rewritten.
    CheckpointMismatch,
    /// The checkpoint names a record that was pruned by retention, so it
    /// cannot be checked.
    CheckpointNotCovered {
        /// The checkpoint's seq.
        checkpoint_seq: u64,
        /// The first seq still in the trail.
        first_seq: u64,
    },
    /// The retention anchor is missing, malformed or its tag is wrong.
    BadAnchor(String),
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FindingKind::MacMismatch => f.write_str("MAC mismatch (record modified or forged)"),
            FindingKind::MissingSeq { expected, found } => {
                write!(f, "missing record: expected seq {expected}, found {found}")
            }
            FindingKind::Reordered { expected, found } => {
                write!(
                    f,
                    "records reordered or repeated: expected seq {expected}, found {found}"
                )
            }
            FindingKind::BrokenLink => {
                f.write_str("broken link: prev is not the previous record's MAC")
            }
            FindingKind::Malformed(what) => write!(f, "malformed line: {what}"),
            FindingKind::TruncatedVsCheckpoint {
                checkpoint_seq,
                head_seq,
            } => write!(
                f,
                "trail truncated: checkpoint names seq {checkpoint_seq} but the trail ends at seq {head_seq}"
            ),
            FindingKind::CheckpointMismatch => {
                f.write_str("record differs from the checkpoint (trail rolled back or rewritten)")
            }
            FindingKind::CheckpointNotCovered {
                checkpoint_seq,
                first_seq,
            } => write!(
                f,
                "checkpoint seq {checkpoint_seq} was pruned; the trail now starts at seq {first_seq}"
            ),
            FindingKind::BadAnchor(what) => write!(f, "bad retention anchor: {what}"),
        }
    }
}

/// The first bad record of a trail and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The segment file name (or `anchor` for the retention anchor).
    pub segment: String,
    /// 1-based line number in that segment (0 when not about a line).
    pub line: u64,
    /// The record's seq, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub kind: FindingKind,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.segment, self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// A trail that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// Number of records checked.
    pub records: u64,
    /// The newest record, if any.
    pub head: Option<Head>,
    /// The first seq present (1 unless older segments were pruned).
    pub first_seq: u64,
    /// Number of segment files read.
    pub segments: usize,
    /// Bytes read.
    pub bytes: u64,
}

/// The result of [`verify`]: intact, or the first bad record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Verification {
    /// Every record verified (and the checkpoint, if given, matched).
    Intact(Verified),
    /// The first bad record.
    Broken(Finding),
}

impl Verification {
    /// Whether the trail verified.
    pub fn is_intact(&self) -> bool {
        matches!(self, Verification::Intact(_))
    }

    /// `Ok` for an intact trail, [`AuditError::Tampered`] otherwise.
    pub fn into_result(self) -> Result<Verified, AuditError> {
        match self {
            Verification::Intact(v) => Ok(v),
            Verification::Broken(f) => Err(AuditError::Tampered(Box::new(f))),
        }
    }
}

/// Checks records one after another; shared by [`verify`] and recovery.
#[derive(Debug)]
pub(crate) struct ChainState {
    pub(crate) expected_seq: u64,
    pub(crate) prev: Mac,
    pub(crate) head: Option<Head>,
    pub(crate) records: u64,
}

impl ChainState {
    pub(crate) fn new(expected_seq: u64, prev: Mac) -> Self {
        Self {
            expected_seq,
            prev,
            head: None,
            records: 0,
        }
    }

    /// Checks one complete line; on success it becomes the new head.
    /// Returns the record's seq (when readable) with any problem.
    pub(crate) fn check(
        &mut self,
        key: &ChainKey,
        line: &[u8],
    ) -> Result<u64, (Option<u64>, FindingKind)> {
        let record = check_fast(key, line)?;
        let seq = record.seq;
        let mac = record.mac;
        if seq != self.expected_seq {
            let kind = if seq > self.expected_seq {
                FindingKind::MissingSeq {
                    expected: self.expected_seq,
                    found: seq,
                }
            } else {
                FindingKind::Reordered {
                    expected: self.expected_seq,
                    found: seq,
                }
            };
            return Err((Some(seq), kind));
        }
        if record.prev != Some(self.prev) {
            return Err((Some(seq), FindingKind::BrokenLink));
        }
        self.prev = mac;
        self.expected_seq = seq.saturating_add(1);
        self.records += 1;
        self.head = Some(Head {
            seq,
            mac,
            ts: record.ts,
        });
        Ok(seq)
    }
}

/// Reads the seq of a line without trusting it (for reports).
fn loose_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(rest.get(..end)?).ok()?.parse().ok()
}

/// Checks a line's MAC, then parses it.
pub(crate) fn parse_checked(
    key: &ChainKey,
    line: &[u8],
) -> Result<(AuditRecord, Mac), (Option<u64>, FindingKind)> {
    let Some((body, mac)) = split_line(line) else {
        return Err((
            loose_seq(line),
            FindingKind::Malformed("no MAC trailer at the end of the line".to_owned()),
        ));
    };
    if !check_mac(key, body, &mac) {
        return Err((loose_seq(line), FindingKind::MacMismatch));
    }
    let record: AuditRecord = serde_json::from_slice(line).map_err(|e| {
        (
            loose_seq(line),
            FindingKind::Malformed(format!("not a valid record: {}", e.classify_name())),
        )
    })?;
    if record.mac != mac.to_string() {
        return Err((Some(record.seq), FindingKind::MacMismatch));
    }
    Ok((record, mac))
}

/// What the chain check needs from a record whose MAC verified.
#[derive(Debug, PartialEq)]
struct Checked {
    seq: u64,
    ts: DateTime<Utc>,
    prev: Option<Mac>,
    mac: Mac,
}

/// [`parse_checked`] for the chain check, fast for lines in the canonical
/// form the writer produces: the form is recognised by a strict byte-level
/// check that allocates nothing ([`parse_canonical_body`]), then the MAC is
/// checked. Any line it does not recognise goes through [`check_slow`],
/// which decides and names the problem exactly as it always did; for the
/// lines it does recognise both give the same answer (see the tests).
fn check_fast(key: &ChainKey, line: &[u8]) -> Result<Checked, (Option<u64>, FindingKind)> {
    #[cfg(test)]
    if tests::slow_path_forced() {
        return check_slow(key, line);
    }
    let Some((body, mac)) = split_line(line) else {
        return check_slow(key, line);
    };
    let Some(fields) = parse_canonical_body(body) else {
        return check_slow(key, line);
    };
    if !check_mac(key, body, &mac) {
        return Err((loose_seq(line), FindingKind::MacMismatch));
    }
    Ok(Checked {
        seq: fields.seq,
        ts: fields.ts,
        prev: Some(fields.prev),
        mac,
    })
}

/// The full check of a line: MAC, then the serde parse into an
/// [`AuditRecord`].
fn check_slow(key: &ChainKey, line: &[u8]) -> Result<Checked, (Option<u64>, FindingKind)> {
    parse_checked(key, line).map(|(record, mac)| Checked {
        seq: record.seq,
        ts: record.ts,
        prev: Mac::from_hex(&record.prev),
        mac,
    })
}

/// Initial capacity of the reused line buffer (records are usually a few
/// hundred bytes; longer lines grow it once).
const LINE_CAPACITY: usize = 4096;

/// How often [`verify_with_progress`] reports within a segment.
const PROGRESS_STEP_BYTES: u64 = 4 << 20;

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "JSON syntax error",
            serde_json::error::Category::Data => "wrong fields or values",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

/// Verifies the whole trail in `dir`, streaming through every segment.
///
/// Returns [`Verification::Intact`] with the record count and head, or
/// [`Verification::Broken`] naming the first bad record (segment, line,
/// seq, what is wrong). With a `checkpoint`, also checks that the record it
/// names is present and unchanged, which detects a truncated or
/// rolled-back tail. `Err` only for I/O problems (a missing directory, an
/// unreadable file) and malformed segment names.
///
/// Verification needs the chain key: without it nobody can tell a forged
/// record from a real one. It reads the files only; it never modifies them
/// and it can run while a writer appends (it then checks a prefix, except
/// that a line being written at that moment may show as malformed).
pub fn verify(
    dir: &Path,
    key: &ChainKey,
    checkpoint: Option<&Checkpoint>,
) -> Result<Verification, AuditError> {
    verify_with_progress(dir, key, checkpoint, &mut |_| {})
}

/// How far a verification has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyProgress {
    /// Bytes of segment data checked so far.
    pub bytes_done: u64,
    /// Bytes in all segments when verification started.
    pub bytes_total: u64,
}

/// [`verify`], calling `progress` after each segment and every 4 MiB of data.
pub fn verify_with_progress(
    dir: &Path,
    key: &ChainKey,
    checkpoint: Option<&Checkpoint>,
    progress: &mut dyn FnMut(VerifyProgress),
) -> Result<Verification, AuditError> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    verify_using(dir, key, checkpoint, progress, cores)
}

/// [`verify_with_progress`] with at most `max_workers` segments at once
/// (1: the sequential verifier).
fn verify_using(
    dir: &Path,
    key: &ChainKey,
    checkpoint: Option<&Checkpoint>,
    progress: &mut dyn FnMut(VerifyProgress),
    max_workers: usize,
) -> Result<Verification, AuditError> {
    let segments = list_segments(dir)?;
    let bytes_total: u64 = segments
        .iter()
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum();
    let mut next_report = 0u64;
    let anchor = match read_anchor(dir, key) {
        Ok(a) => a,
        Err(kind) => {
            return Ok(Verification::Broken(Finding {
                segment: "anchor".to_owned(),
                line: 0,
                seq: None,
                kind,
            }));
        }
    };
    let (segments, _stale) = skip_pruned(segments, anchor.as_ref());
    let (first_seq, prev) = anchor.map_or((1, Mac::GENESIS), |a| (a.seq.saturating_add(1), a.mac));
    let workers = max_workers.min(segments.len());
    if workers > 1 {
        let start = Start {
            first_seq,
            prev,
            anchor: anchor.map(|a| Head {
                seq: a.seq,
                mac: a.mac,
                ts: a.ts,
            }),
            bytes_total,
        };
        return verify_parallel(&segments, key, checkpoint, start, workers, progress);
    }
    let mut state = ChainState::new(first_seq, prev);
    let mut bytes = 0u64;
    let mut last_name = String::from("(no segment)");
    let mut last_line = 0u64;
    let count = segments.len();
    for (index, segment) in segments.iter().enumerate() {
        let name = segment.name();
        let mut reader = LineReader::open(&segment.path)?;
        let mut lines_here = 0u64;
        let mut buf = Vec::with_capacity(LINE_CAPACITY);
        let found = |line: u64, seq: Option<u64>, kind: FindingKind| {
            Ok(Verification::Broken(Finding {
                segment: name.clone(),
                line,
                seq,
                kind,
            }))
        };
        loop {
            let line_no = reader.line_no;
            let Some(end) = reader.next_line_into(&segment.path, &mut buf)? else {
                break;
            };
            lines_here += 1;
            let line = match end {
                LineEnd::Complete => buf.as_slice(),
                LineEnd::Unterminated => {
                    let what = if index + 1 == count {
                        "incomplete final line (a torn write: opening the log cuts it and records a recovery)"
                    } else {
                        "incomplete final line in a segment that is not the newest"
                    };
                    return found(
                        line_no,
                        loose_seq(&buf),
                        FindingKind::Malformed(what.to_owned()),
                    );
                }
                LineEnd::TooLong => {
                    return found(
                        line_no,
                        None,
                        FindingKind::Malformed("line longer than the 1 MiB limit".to_owned()),
                    );
                }
            };
            bytes += line.len() as u64 + 1;
            if bytes >= next_report {
                progress(VerifyProgress {
                    bytes_done: bytes,
                    bytes_total,
                });
                next_report = bytes.saturating_add(PROGRESS_STEP_BYTES);
            }
            let expected = state.expected_seq;
            match state.check(key, line) {
                Ok(seq) => {
                    if line_no == 1 && seq != segment.first_seq {
                        return found(
                            line_no,
                            Some(seq),
                            FindingKind::Malformed(format!(
                                "segment file name says it starts at seq {}",
                                segment.first_seq
                            )),
                        );
                    }
                    if let Some(cp) = checkpoint
                        && cp.seq() == seq
                        && state.head.map(|h| h.mac) != Some(cp.mac())
                    {
                        return found(line_no, Some(seq), FindingKind::CheckpointMismatch);
                    }
                }
                Err((
                    seq,
                    FindingKind::MissingSeq {
                        expected: e,
                        found: f,
                    },
                )) => {
                    // A swap of two records shows first as a jump forward:
                    // look one line ahead to tell reordering from deletion.
                    let mut kind = FindingKind::MissingSeq {
                        expected: e,
                        found: f,
                    };
                    if let Some(Line::Complete(next)) = reader.next_line(&segment.path)?
                        && let Ok((rec, _)) = parse_checked(key, &next)
                        && rec.seq == expected
                    {
                        kind = FindingKind::Reordered {
                            expected: e,
                            found: f,
                        };
                    }
                    return found(line_no, seq, kind);
                }
                Err((seq, kind)) => return found(line_no, seq, kind),
            }
            last_line = line_no;
        }
        if lines_here == 0 && index + 1 != count {
            return found(
                1,
                None,
                FindingKind::Malformed("empty segment that is not the newest".to_owned()),
            );
        }
        last_name = name.clone();
        progress(VerifyProgress {
            bytes_done: bytes,
            bytes_total: bytes_total.max(bytes),
        });
    }
    let head_seq = state.head.map_or(first_seq.saturating_sub(1), |h| h.seq);
    if let Some(cp) = checkpoint {
        let broken = |kind| {
            Ok(Verification::Broken(Finding {
                segment: last_name.clone(),
                line: last_line.saturating_add(1),
                seq: None,
                kind,
            }))
        };
        if cp.seq() > head_seq {
            return broken(FindingKind::TruncatedVsCheckpoint {
                checkpoint_seq: cp.seq(),
                head_seq,
            });
        }
        if cp.seq() < first_seq {
            let at_anchor = anchor.is_some_and(|a| a.seq == cp.seq() && a.mac == cp.mac());
            if !at_anchor {
                return broken(FindingKind::CheckpointNotCovered {
                    checkpoint_seq: cp.seq(),
                    first_seq,
                });
            }
        }
    }
    Ok(Verification::Intact(Verified {
        records: state.records,
        head: state.head.or_else(|| {
            anchor.map(|a| Head {
                seq: a.seq,
                mac: a.mac,
                ts: a.ts,
            })
        }),
        first_seq,
        segments: count,
        bytes,
    }))
}

/// Where the chain starts (after any retention anchor).
struct Start {
    first_seq: u64,
    prev: Mac,
    anchor: Option<Head>,
    bytes_total: u64,
}

/// The first line of a segment, checked on its own (MAC and form): its
/// place in the chain is checked when the segments are joined.
struct FirstLine {
    seq: u64,
    prev: Option<Mac>,
    mac: Mac,
    /// The seq of line 2 if it is a complete, authentic record (the
    /// sequential verifier's look-ahead to tell reordering from deletion).
    next_seq: Option<u64>,
}

/// One segment checked from its own first line on.
struct Scanned {
    first: Option<FirstLine>,
    /// The first problem in the segment that does not depend on the records
    /// before it.
    found: Option<Finding>,
    head: Option<Head>,
    records: u64,
    bytes: u64,
    last_line: Option<u64>,
}

enum Message {
    Progress(u64),
    Done(usize, Box<Result<Scanned, AuditError>>),
}

/// Checks one segment as if its first line were correctly linked; the
/// caller checks that link. Stops early when `stop` is set.
fn scan_segment(
    key: &ChainKey,
    segment: &crate::segment::Segment,
    newest: bool,
    checkpoint: Option<&Checkpoint>,
    stop: &AtomicBool,
    progress: &dyn Fn(u64),
) -> Result<Scanned, AuditError> {
    let name = segment.name();
    let mut reader = LineReader::open(&segment.path)?;
    let mut buf = Vec::with_capacity(LINE_CAPACITY);
    let mut out = Scanned {
        first: None,
        found: None,
        head: None,
        records: 0,
        bytes: 0,
        last_line: None,
    };
    let finding = |line: u64, seq: Option<u64>, kind: FindingKind| Finding {
        segment: name.clone(),
        line,
        seq,
        kind,
    };
    let mut state: Option<ChainState> = None;
    let mut unreported = 0u64;
    let mut lines = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let line_no = reader.line_no;
        let Some(end) = reader.next_line_into(&segment.path, &mut buf)? else {
            break;
        };
        lines += 1;
        let line = match end {
            LineEnd::Complete => buf.as_slice(),
            LineEnd::Unterminated => {
                let what = if newest {
                    "incomplete final line (a torn write: opening the log cuts it and records a recovery)"
                } else {
                    "incomplete final line in a segment that is not the newest"
                };
                out.found = Some(finding(
                    line_no,
                    loose_seq(&buf),
                    FindingKind::Malformed(what.to_owned()),
                ));
                return Ok(out);
            }
            LineEnd::TooLong => {
                out.found = Some(finding(
                    line_no,
                    None,
                    FindingKind::Malformed("line longer than the 1 MiB limit".to_owned()),
                ));
                return Ok(out);
            }
        };
        let len = line.len() as u64 + 1;
        out.bytes += len;
        unreported += len;
        if unreported >= PROGRESS_STEP_BYTES {
            progress(unreported);
            unreported = 0;
        }
        let Some(st) = state.as_mut() else {
            match check_fast(key, line) {
                Ok(c) => {
                    out.first = Some(FirstLine {
                        seq: c.seq,
                        prev: c.prev,
                        mac: c.mac,
                        next_seq: None,
                    });
                    state = Some(ChainState {
                        expected_seq: c.seq.saturating_add(1),
                        prev: c.mac,
                        head: Some(Head {
                            seq: c.seq,
                            mac: c.mac,
                            ts: c.ts,
                        }),
                        records: 1,
                    });
                    out.last_line = Some(line_no);
                }
                Err((seq, kind)) => {
                    out.found = Some(finding(line_no, seq, kind));
                    return Ok(out);
                }
            }
            continue;
        };
        if line_no == 2
            && let Some(first) = out.first.as_mut()
        {
            first.next_seq = parse_checked(key, line).ok().map(|(r, _)| r.seq);
        }
        let expected = st.expected_seq;
        match st.check(key, line) {
            Ok(seq) => {
                if let Some(cp) = checkpoint
                    && cp.seq() == seq
                    && st.head.map(|h| h.mac) != Some(cp.mac())
                {
                    out.found = Some(finding(line_no, Some(seq), FindingKind::CheckpointMismatch));
                    return Ok(out);
                }
            }
            Err((
                seq,
                FindingKind::MissingSeq {
                    expected: e,
                    found: f,
                },
            )) => {
                let mut kind = FindingKind::MissingSeq {
                    expected: e,
                    found: f,
                };
                if let Some(Line::Complete(next)) = reader.next_line(&segment.path)?
                    && let Ok((rec, _)) = parse_checked(key, &next)
                    && rec.seq == expected
                {
                    kind = FindingKind::Reordered {
                        expected: e,
                        found: f,
                    };
                }
                out.found = Some(finding(line_no, seq, kind));
                return Ok(out);
            }
            Err((seq, kind)) => {
                out.found = Some(finding(line_no, seq, kind));
                return Ok(out);
            }
        }
        out.last_line = Some(line_no);
    }
    if unreported > 0 {
        progress(unreported);
    }
    if lines == 0 && !newest {
        out.found = Some(finding(
            1,
            None,
            FindingKind::Malformed("empty segment that is not the newest".to_owned()),
        ));
    }
    if let Some(st) = state {
        out.head = st.head;
        out.records = st.records;
    }
    Ok(out)
}

/// [`verify_with_progress`] over several segments at once: each worker
/// checks whole segments from their own first line; this thread joins them
/// in order, checking each first line's seq, link, file name and checkpoint
/// against the segment before, so the result (and the finding named) is
/// exactly the sequential one.
fn verify_parallel(
    segments: &[crate::segment::Segment],
    key: &ChainKey,
    checkpoint: Option<&Checkpoint>,
    start: Start,
    workers: usize,
    progress: &mut dyn FnMut(VerifyProgress),
) -> Result<Verification, AuditError> {
    let count = segments.len();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Message>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(segment) = segments.get(index) else {
                        return;
                    };
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let report = |bytes| drop(tx.send(Message::Progress(bytes)));
                    let result =
                        scan_segment(key, segment, index + 1 == count, checkpoint, stop, &report);
                    if tx.send(Message::Done(index, Box::new(result))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let result = join_segments(segments, checkpoint, &start, &rx, progress);
        stop.store(true, Ordering::Relaxed);
        result
    })
}

fn join_segments(
    segments: &[crate::segment::Segment],
    checkpoint: Option<&Checkpoint>,
    start: &Start,
    rx: &mpsc::Receiver<Message>,
    progress: &mut dyn FnMut(VerifyProgress),
) -> Result<Verification, AuditError> {
    let mut done: Vec<Option<Result<Scanned, AuditError>>> =
        segments.iter().map(|_| None).collect();
    let (mut expected, mut prev) = (start.first_seq, start.prev);
    let mut head: Option<Head> = None;
    let (mut records, mut bytes, mut reported) = (0u64, 0u64, 0u64);
    let mut last_name = String::from("(no segment)");
    let mut last_line = 0u64;
    for (index, segment) in segments.iter().enumerate() {
        let scanned = loop {
            if let Some(result) = done.get_mut(index).and_then(Option::take) {
                break result?;
            }
            match rx.recv() {
                Ok(Message::Progress(n)) => {
                    reported += n;
                    progress(VerifyProgress {
                        bytes_done: reported,
                        bytes_total: start.bytes_total.max(reported),
                    });
                }
                Ok(Message::Done(i, result)) => {
                    if let Some(slot) = done.get_mut(i) {
                        *slot = Some(*result);
                    }
                }
                // Every worker stopped without this segment: cannot happen
                // while this thread waits; fail rather than hang.
                Err(_) => return Err(AuditError::Closed),
            }
        };
        let name = segment.name();
        if let Some(first) = &scanned.first {
            let broken = |seq: u64, kind| {
                Ok(Verification::Broken(Finding {
                    segment: name.clone(),
                    line: 1,
                    seq: Some(seq),
                    kind,
                }))
            };
            if first.seq != expected {
                // Backwards, or a swap (the next line is the one expected).
                let kind = if first.seq < expected || first.next_seq == Some(expected) {
                    FindingKind::Reordered {
                        expected,
                        found: first.seq,
                    }
                } else {
                    FindingKind::MissingSeq {
                        expected,
                        found: first.seq,
                    }
                };
                return broken(first.seq, kind);
            }
            if first.prev != Some(prev) {
                return broken(first.seq, FindingKind::BrokenLink);
            }
            if first.seq != segment.first_seq {
                return broken(
                    first.seq,
                    FindingKind::Malformed(format!(
                        "segment file name says it starts at seq {}",
                        segment.first_seq
                    )),
                );
            }
            if let Some(cp) = checkpoint
                && cp.seq() == first.seq
                && first.mac != cp.mac()
            {
                return broken(first.seq, FindingKind::CheckpointMismatch);
            }
        }
        if let Some(finding) = scanned.found {
            return Ok(Verification::Broken(finding));
        }
        if let Some(h) = scanned.head {
            expected = h.seq.saturating_add(1);
            prev = h.mac;
            head = Some(h);
        }
        records += scanned.records;
        bytes += scanned.bytes;
        if let Some(line) = scanned.last_line {
            last_line = line;
        }
        last_name = name;
        progress(VerifyProgress {
            bytes_done: bytes.max(reported),
            bytes_total: start.bytes_total.max(bytes),
        });
    }
    let first_seq = start.first_seq;
    let head_seq = head.map_or(first_seq.saturating_sub(1), |h| h.seq);
    if let Some(cp) = checkpoint {
        let broken = |kind| {
            Ok(Verification::Broken(Finding {
                segment: last_name.clone(),
                line: last_line.saturating_add(1),
                seq: None,
                kind,
            }))
        };
        if cp.seq() > head_seq {
            return broken(FindingKind::TruncatedVsCheckpoint {
                checkpoint_seq: cp.seq(),
                head_seq,
            });
        }
        if cp.seq() < first_seq {
            let at_anchor = start
                .anchor
                .is_some_and(|a| a.seq == cp.seq() && a.mac == cp.mac());
            if !at_anchor {
                return broken(FindingKind::CheckpointNotCovered {
                    checkpoint_seq: cp.seq(),
                    first_seq,
                });
            }
        }
    }
    Ok(Verification::Intact(Verified {
        records,
        head: head.or(start.anchor),
        first_seq,
        segments: segments.len(),
        bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{MAC_PREFIX, MAC_SUFFIX, body_mac};
    use crate::{AuditConfig, AuditEvent, AuditLog, Category, RiskDecision};
    use asta_core::{ErrorReference, ManualClock};
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;
    use serde_json::json;
    use std::cell::Cell;
    use std::sync::Arc;

    thread_local! {
        /// Set by [`with_slow_path`]: [`check_fast`] then always takes the
        /// full parse, giving the reference answer the fast path must match.
        static SLOW: Cell<bool> = const { Cell::new(false) };
    }

    pub(super) fn slow_path_forced() -> bool {
        SLOW.with(Cell::get)
    }

    /// Runs `f` with the fast path off on this thread (use one worker).
    fn with_slow_path<T>(f: impl FnOnce() -> T) -> T {
        SLOW.with(|s| s.set(true));
        let out = f();
        SLOW.with(|s| s.set(false));
        out
    }

    fn test_key() -> ChainKey {
        ChainKey::from_bytes(&[0x3c; 32]).unwrap()
    }

    /// Events covering every optional field, every kind of JSON value,
    /// escapes, non-ASCII text, and numbers the fast path leaves to serde.
    fn varied_events() -> Vec<AuditEvent> {
        vec![
            AuditEvent::order(
                "place",
                "s1",
                json!({"symbol": "SBIN", "qty": 10, "price": "801.05"}),
            ),
            AuditEvent::trade(
                "fill",
                "momentum",
                json!({"px": -12.5, "zero": 0, "neg": -7, "big": 123_456_789_012_345_678_u64,
                       "flag": true, "no": false, "none": null, "frac": 0.000_125}),
            ),
            AuditEvent::system(
                "start",
                json!({"nested": {"a": [1, [2, {"b": []}], {}], "e": {}}, "list": ["x", "y"]}),
            ),
            AuditEvent::security(
                "login",
                json!({"who": "a\"b\\c/d\n\t\r\u{8}\u{c}\u{1}\u{7f}", "name": "Zo\u{eb} \u{20b9} \u{1f680}"}),
            )
            .with_actor("ops\u{2028}desk"),
            AuditEvent::error(
                ErrorReference::generate(),
                "broker_down",
                json!({"status": 503}),
            ),
            AuditEvent::risk_decision(
                "pre_trade",
                "s2",
                RiskDecision::rejected("limit \"daily\""),
                json!({"u64max": u64::MAX, "i64min": i64::MIN, "huge": 1.0e300, "tiny": 1.5e-9}),
            ),
            AuditEvent::new(Category::Risk, "", json!(null)),
        ]
    }

    /// A trail of `rounds` copies of [`varied_events`] in small segments,
    /// with its checkpoint.
    fn varied_trail(dir: &Path, rounds: usize, segment_bytes: u64) -> Checkpoint {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2024, 2, 28, 23, 59, 58).unwrap());
        let config = AuditConfig::builder()
            .max_segment_bytes(segment_bytes)
            .build()
            .unwrap();
        let log = AuditLog::open(dir, test_key(), config, Arc::new(clock.clone())).unwrap();
        for _ in 0..rounds {
            for event in varied_events() {
                log.append_deferred(event).unwrap();
                clock.advance(TimeDelta::microseconds(123_457));
            }
        }
        log.close().unwrap();
        log.checkpoint().unwrap()
    }

    /// `body` with a correct MAC trailer: an edit the key holder made.
    fn reseal(key: &ChainKey, body: &[u8]) -> Vec<u8> {
        let mut line = body.to_vec();
        line.extend_from_slice(MAC_PREFIX.as_bytes());
        line.extend_from_slice(body_mac(key, body).to_string().as_bytes());
        line.extend_from_slice(MAC_SUFFIX.as_bytes());
        line
    }

    fn record_lines(dir: &Path) -> Vec<Vec<u8>> {
        list_segments(dir)
            .unwrap()
            .iter()
            .flat_map(|s| {
                std::fs::read(&s.path)
                    .unwrap()
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Bytes worth putting anywhere in a line: JSON structure, digits,
    /// letters of literals and escapes, space, control, DEL, UTF-8 lead and
    /// invalid bytes.
    const EDIT_BYTES: &[u8] = b"\"\\{}[],:019-.eEutnZ \x01\x7f\xc3\xff";

    /// Every single-byte deletion, replacement and insertion of a line's
    /// body, each resealed with a valid MAC so the form alone decides, and
    /// each also left with its old MAC: the fast path gives exactly the
    /// answer of the full parse.
    #[test]
    fn fast_path_agrees_with_full_parse_on_every_single_byte_edit() {
        let tmp = tempfile::tempdir().unwrap();
        let key = test_key();
        let dir = tmp.path().join("t");
        varied_trail(&dir, 1, 1 << 20);
        let (mut accepted, mut refused) = (0u64, 0u64);
        let lines = record_lines(&dir);
        // Only the record with 19- and 20-digit integers and exponents is
        // left to the full parse.
        let recognised = lines
            .iter()
            .filter(|l| parse_canonical_body(split_line(l).unwrap().0).is_some())
            .count();
        assert_eq!(recognised, lines.len() - 1);
        for line in lines {
            let (body, _) = split_line(&line).unwrap();
            let mut edits: Vec<Vec<u8>> = Vec::new();
            for i in 0..=body.len() {
                if i < body.len() {
                    let mut e = body.to_vec();
                    e.remove(i);
                    edits.push(e);
                }
                for &b in EDIT_BYTES {
                    if i < body.len() && body.get(i) != Some(&b) {
                        let mut e = body.to_vec();
                        e[i] = b;
                        edits.push(e);
                    }
                    let mut e = body.to_vec();
                    e.insert(i, b);
                    edits.push(e);
                }
            }
            for edited in edits {
                let sealed = reseal(&key, &edited);
                let fast = check_fast(&key, &sealed);
                assert_eq!(
                    fast,
                    check_slow(&key, &sealed),
                    "{}",
                    String::from_utf8_lossy(&sealed)
                );
                if fast.is_ok() {
                    accepted += 1;
                } else {
                    refused += 1;
                }
                let mut stale = edited;
                stale.extend_from_slice(line.get(body.len()..).unwrap());
                assert_eq!(check_fast(&key, &stale), check_slow(&key, &stale));
            }
        }
        // Both outcomes were exercised (edits inside strings stay valid).
        assert!(accepted > 1000 && refused > 1000, "{accepted} {refused}");
    }

    /// Lines with a valid MAC that are not in the canonical form: the fast
    /// check does not recognise any of them, and the verdict is the full
    /// parse's, as before (refused when serde refuses the record; forms
    /// serde reads, like extra whitespace, verify as they always did).
    #[test]
    fn non_canonical_lines_with_valid_mac_get_the_full_parse_verdict() {
        let tmp = tempfile::tempdir().unwrap();
        let key = test_key();
        let dir = tmp.path().join("t");
        varied_trail(&dir, 1, 1 << 20);
        let line = record_lines(&dir).remove(0);
        let (body, _) = split_line(&line).unwrap();
        let body = std::str::from_utf8(body).unwrap().to_owned();
        let ts = "2024-02-28T23:59:58.000000Z";
        assert!(body.contains(ts), "{body}");
        let prev = Mac::GENESIS.to_string();
        // (edit, whether the full parse reads the record)
        let cases: Vec<(String, bool)> = vec![
            (body.replace("\"seq\":1,", "\"seq\":01,"), false),
            (body.replace("\"seq\":1,", "\"seq\":1,\"seq\":1,"), false),
            (body.replace("\"seq\":1,", "\"seq\":1.0,"), false),
            (body.replace("\"seq\":1,", "\"seq\":\"1\","), false),
            (body.replace("\"seq\":1,", "\"seq\": 1,"), true),
            (body.replace("{\"seq\"", " {\"seq\""), true),
            (body.replace("\"ORDER\"", "\"order\""), false),
            (body.replace("\"ORDER\"", "\"ORD\\u0045R\""), true),
            (body.replace(",\"prev\"", ",\"extra\":1,\"prev\""), false),
            (
                body.replace(",\"prev\"", ",\"reference\":\"ERR-BAD\",\"prev\""),
                false,
            ),
            (body.replace(",\"prev\"", ",\"actor\":null,\"prev\""), true),
            (
                body.replace("\"strategy\":\"s1\"", "\"strategy\":null"),
                true,
            ),
            (
                body.replace("\"details\":{", "\"details\":{\"a\":1e5,"),
                true,
            ),
            (
                body.replace("\"details\":{", "\"details\":{\"a\":1e999,"),
                false,
            ),
            (
                body.replace("\"details\":{", "\"details\":{\"a\":01,"),
                false,
            ),
            (
                body.replace("\"details\":{", "\"details\":{\"a\":\"\\ud800\","),
                false,
            ),
            (
                body.replace("\"details\":{", "\"details\":{\"a\":\"\\ud83d\\ude80\","),
                true,
            ),
            (
                body.replace("\"details\":{", "\"details\":{\"a\":\"\u{1}\","),
                false,
            ),
            (
                body.replace("\"details\":{", "\"details\":{\"a\" :1,"),
                true,
            ),
            (
                body.replace("\"details\":{", "\"details\":[],\"x\":{"),
                false,
            ),
            (
                body.replace(
                    "\"details\":{",
                    &format!(
                        "\"details\":{{\"deep\":{}1{},",
                        "[".repeat(40),
                        "]".repeat(40)
                    ),
                ),
                true,
            ),
            (body.replace(ts, "2024-02-28T23:59:58Z"), true),
            (body.replace(ts, "2024-02-28T23:59:58.000000+00:00"), true),
            (body.replace(ts, "2024-02-28 23:59:58.000000Z"), true),
            (body.replace(ts, "2024-02-28T23:59:60.000000Z"), true),
            (body.replace(ts, "2023-02-29T23:59:58.000000Z"), false),
            (body.replace(ts, "2024-02-28T24:00:00.000000Z"), false),
            (
                body.replace(&prev, &prev.to_uppercase().replace('0', "A")),
                true,
            ),
            (body.replace(&prev, &prev[..62]), true),
            (body.replace(",\"prev\"", ",\"prev\":\"x\",\"prev\""), false),
            (
                body.replace(",\"details\"", ",\"action\":\"x\",\"details\""),
                false,
            ),
            (format!("{body} "), true),
        ];
        for (edited, serde_reads) in cases {
            assert_ne!(edited, body, "edit did not apply");
            assert!(
                parse_canonical_body(edited.as_bytes()).is_none(),
                "recognised: {edited}"
            );
            let line = reseal(&key, edited.as_bytes());
            let fast = check_fast(&key, &line);
            assert_eq!(fast, check_slow(&key, &line), "{edited}");
            match fast {
                Ok(_) => assert!(serde_reads, "accepted: {edited}"),
                Err((_, FindingKind::Malformed(_))) => assert!(!serde_reads, "refused: {edited}"),
                Err(other) => panic!("{edited}: {other:?}"),
            }
        }
    }

    /// Copies of `pristine` edited in many ways: the fast verifier
    /// (sequential and parallel) gives the full parse's verdict.
    #[test]
    fn verify_fast_matches_slow_on_edited_trails() {
        let tmp = tempfile::tempdir().unwrap();
        let key = test_key();
        let pristine = tmp.path().join("pristine");
        let checkpoint = varied_trail(&pristine, 6, 4096);
        let segs: Vec<_> = list_segments(&pristine).unwrap();
        assert!(segs.len() >= 3, "{}", segs.len());
        let work = tmp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        for seg in &segs {
            std::fs::copy(&seg.path, work.join(seg.path.file_name().unwrap())).unwrap();
        }
        let compare = |what: &str, parallel: bool| {
            for cp in [Some(&checkpoint), None] {
                let slow =
                    with_slow_path(|| verify_using(&work, &key, cp, &mut |_| {}, 1)).unwrap();
                let fast = verify_using(&work, &key, cp, &mut |_| {}, 1).unwrap();
                assert_eq!(fast, slow, "{what}");
                if parallel {
                    let many = verify_using(&work, &key, cp, &mut |_| {}, 3).unwrap();
                    assert_eq!(many, slow, "{what} (parallel)");
                }
            }
        };
        compare("pristine", true);
        let mut edited = 0u32;
        for (s, seg) in segs.iter().enumerate() {
            let name = seg.path.file_name().unwrap();
            let original = std::fs::read(&seg.path).unwrap();
            // Byte edits: near every line boundary and every 11th byte.
            let mut offsets: Vec<usize> = (0..original.len()).step_by(11).collect();
            for (i, &b) in original.iter().enumerate() {
                if b == b'\n' {
                    offsets.extend([i.saturating_sub(1), i, i + 1]);
                }
            }
            offsets.retain(|&i| i < original.len());
            for (n, &i) in offsets.iter().enumerate() {
                let edits: [(&str, Vec<u8>); 3] = [
                    ("flip", {
                        let mut e = original.clone();
                        e[i] ^= 0x20;
                        e
                    }),
                    ("delete", {
                        let mut e = original.clone();
                        e.remove(i);
                        e
                    }),
                    ("insert", {
                        let mut e = original.clone();
                        e.insert(i, EDIT_BYTES[n % EDIT_BYTES.len()]);
                        e
                    }),
                ];
                for (op, bytes) in edits {
                    std::fs::write(work.join(name), &bytes).unwrap();
                    compare(&format!("{op} at {i} of segment {s}"), n % 8 == 0);
                    edited += 1;
                }
            }
            // Line edits: swap, delete and repeat each line.
            let lines: Vec<&[u8]> = original.split_inclusive(|&b| b == b'\n').collect();
            for i in 0..lines.len() {
                let mut variants: Vec<(&str, Vec<&[u8]>)> = Vec::new();
                let mut swapped = lines.clone();
                if i + 1 < lines.len() {
                    swapped.swap(i, i + 1);
                    variants.push(("swap", swapped));
                }
                let mut deleted = lines.clone();
                deleted.remove(i);
                variants.push(("delete line", deleted));
                let mut repeated = lines.clone();
                repeated.insert(i, lines[i]);
                variants.push(("repeat line", repeated));
                for (op, v) in variants {
                    std::fs::write(work.join(name), v.concat()).unwrap();
                    compare(&format!("{op} {i} of segment {s}"), true);
                }
            }
            std::fs::write(work.join(name), &original).unwrap();
        }
        assert!(edited > 500, "{edited}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random edits anywhere in a trail: fast and full parse agree.
        #[test]
        fn fast_and_slow_agree_on_random_edits(
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
            reseal_line in any::<bool>(),
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let key = test_key();
            let dir = tmp.path().join("t");
            let checkpoint = varied_trail(&dir, 2, 1 << 20);
            let seg = list_segments(&dir).unwrap().remove(0).path;
            let mut bytes = std::fs::read(&seg).unwrap();
            for (at, op, b) in edits {
                let i = at.index(bytes.len().max(1));
                match op {
                    0 => if let Some(slot) = bytes.get_mut(i) { *slot = b },
                    1 => if i < bytes.len() { bytes.remove(i); },
                    _ => bytes.insert(i, b),
                }
            }
            if reseal_line {
                // Give every line a valid MAC so only the form is judged.
                let mut out = Vec::new();
                for line in bytes.split_inclusive(|&b| b == b'\n') {
                    let (text, nl) = match line.strip_suffix(b"\n") {
                        Some(t) => (t, true),
                        None => (line, false),
                    };
                    match split_line(text) {
                        Some((body, _)) => out.extend(reseal(&key, body)),
                        None => out.extend_from_slice(text),
                    }
                    if nl {
                        out.push(b'\n');
                    }
                }
                bytes = out;
            }
            std::fs::write(&seg, &bytes).unwrap();
            for cp in [Some(&checkpoint), None] {
                let slow = with_slow_path(|| verify_using(&dir, &key, cp, &mut |_| {}, 1)).unwrap();
                let fast = verify_using(&dir, &key, cp, &mut |_| {}, 1).unwrap();
                prop_assert_eq!(fast, slow);
            }
        }
    }

    fn lines_of(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(path: &Path, lines: &[String]) {
        let mut text = lines.join("\n");
        if !lines.is_empty() {
            text.push('\n');
        }
        std::fs::write(path, text).unwrap();
    }

    /// Every tampering gives the same answer, sequentially and in parallel.
    #[test]
    fn parallel_verification_names_the_same_first_bad_record() {
        let tmp = tempfile::tempdir().unwrap();
        let key = ChainKey::from_bytes(&[9u8; 32]).unwrap();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
        let config = AuditConfig::builder()
            .max_segment_bytes(4096)
            .build()
            .unwrap();
        let build = |name: &str, salt: &str| {
            let dir = tmp.path().join(name);
            let log =
                AuditLog::open(&dir, key.clone(), config.clone(), Arc::new(clock.clone())).unwrap();
            for i in 0..120 {
                log.append_deferred(AuditEvent::order("place", "s", json!({"i": i, "x": salt})))
                    .unwrap();
            }
            log.close().unwrap();
            (dir, log.checkpoint().unwrap())
        };
        let (pristine, checkpoint) = build("pristine", "a");
        let (other, _) = build("other", "b");
        assert_eq!(checkpoint.seq(), 120);
        let other_segs = list_segments(&other).unwrap();
        let foreign = other_segs[2].path.clone();
        let segs = list_segments(&pristine).unwrap();
        assert!(segs.len() >= 4, "{}", segs.len());
        type Mutation = Box<dyn Fn(&[std::path::PathBuf])>;
        let m = |f: fn(&[std::path::PathBuf])| -> Mutation { Box::new(f) };
        let mutations: Vec<(&str, Mutation)> = vec![
            (
                "segment 2 from another trail",
                Box::new(move |s: &[std::path::PathBuf]| {
                    std::fs::copy(&foreign, &s[2]).unwrap();
                }),
            ),
            ("none", m(|_| {})),
            (
                "drop first line of segment 2",
                m(|s| {
                    let mut l = lines_of(&s[2]);
                    l.remove(0);
                    write_lines(&s[2], &l);
                }),
            ),
            (
                "drop last line of segment 1",
                m(|s| {
                    let mut l = lines_of(&s[1]);
                    l.pop();
                    write_lines(&s[1], &l);
                }),
            ),
            (
                "swap across boundary 1|2",
                m(|s| {
                    let mut a = lines_of(&s[1]);
                    let mut b = lines_of(&s[2]);
                    let (x, y) = (a.pop().unwrap(), b.remove(0));
                    a.push(y);
                    b.insert(0, x);
                    write_lines(&s[1], &a);
                    write_lines(&s[2], &b);
                }),
            ),
            (
                "swap first two lines of segment 3",
                m(|s| {
                    let mut l = lines_of(&s[3]);
                    l.swap(0, 1);
                    write_lines(&s[3], &l);
                }),
            ),
            (
                "delete segment 2",
                m(|s| std::fs::remove_file(&s[2]).unwrap()),
            ),
            (
                "edit line 1 of segment 1",
                m(|s| {
                    let mut l = lines_of(&s[1]);
                    l[0] = l[0].replace("\"i\":", "\"j\":");
                    write_lines(&s[1], &l);
                }),
            ),
            (
                "edit line 3 of segment 2 and 1 of 3",
                m(|s| {
                    let mut l = lines_of(&s[2]);
                    l[2] = l[2].replace("place", "PLACE");
                    write_lines(&s[2], &l);
                    let mut l = lines_of(&s[3]);
                    l[0] = l[0].replace("place", "PLACE");
                    write_lines(&s[3], &l);
                }),
            ),
            ("empty segment 1", m(|s| write_lines(&s[1], &[]))),
            (
                "torn tail of segment 0",
                m(|s| {
                    let mut t = std::fs::read(&s[0]).unwrap();
                    t.truncate(t.len() - 5);
                    std::fs::write(&s[0], t).unwrap();
                }),
            ),
            (
                "truncate the newest segment",
                m(|s| {
                    let last = s.last().unwrap();
                    let mut l = lines_of(last);
                    l.truncate(1);
                    write_lines(last, &l);
                }),
            ),
            (
                "copy segment 1 over 2",
                m(|s| {
                    std::fs::copy(&s[1], &s[2]).unwrap();
                }),
            ),
        ];
        for (name, mutate) in mutations {
            let dir = tmp.path().join(name.replace([' ', '|'], "_"));
            std::fs::create_dir(&dir).unwrap();
            for seg in &segs {
                std::fs::copy(&seg.path, dir.join(seg.path.file_name().unwrap())).unwrap();
            }
            let paths: Vec<_> = list_segments(&dir)
                .unwrap()
                .into_iter()
                .map(|s| s.path)
                .collect();
            mutate(&paths);
            for cp in [None, Some(&checkpoint)] {
                let one = verify_using(&dir, &key, cp, &mut |_| {}, 1).unwrap();
                let many = verify_using(&dir, &key, cp, &mut |_| {}, 3).unwrap();
                assert_eq!(one, many, "{name}");
                if name == "none" {
                    assert!(one.is_intact());
                } else {
                    assert!(!one.is_intact() || cp.is_none(), "{name}: {one:?}");
                }
            }
        }
    }
}
