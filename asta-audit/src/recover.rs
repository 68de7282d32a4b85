//! Opening an existing trail for appending, and crash recovery.
//!
//! The newest segment is scanned completely (MAC, seq and link of every
//! record) and the newest record of the segment before it is checked, so
//! the chain continues from an authenticated head. A final line without a
//! newline is a torn write from a crash: no append that returned covered it
//! (appends return only after the whole line and its newline were written
//! and synced), so it is cut and reported to the caller, who records a
//! `SYSTEM` recovery record. Any other damage is an error: the log refuses
//! to open (fail closed). Older segments are not re-verified on open; run
//! [`verify`](crate::verify) for that.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ring::digest;

use crate::error::AuditError;
use crate::key::ChainKey;
use crate::record::{Head, Mac};
use crate::retention::{read_anchor, skip_pruned};
use crate::segment::{
    Line, LineReader, MAX_LINE_BYTES, Segment, check_private_file, create_segment, list_segments,
    open_segment_for_writing,
};
use crate::verify::{ChainState, Finding, FindingKind, parse_checked};

/// What was cut from a torn tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cut {
    pub(crate) segment: String,
    pub(crate) offset: u64,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// The state the writer continues from.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    /// Where the data ends (the next record is written here).
    pub(crate) size: u64,
    /// The file's length: zeros from `size` on are reserved space.
    pub(crate) reserved: u64,
    pub(crate) next_seq: u64,
    pub(crate) prev: Mac,
    pub(crate) head: Option<Head>,
    pub(crate) cut: Option<Cut>,
}

fn tampered(segment: &Segment, line: u64, seq: Option<u64>, kind: FindingKind) -> AuditError {
    AuditError::Tampered(Box::new(Finding {
        segment: segment.name(),
        line,
        seq,
        kind,
    }))
}

/// Reads the last complete line of a (non-newest) segment.
fn last_line(segment: &Segment) -> Result<Option<Vec<u8>>, AuditError> {
    let path = &segment.path;
    let mut file = File::open(path).map_err(|e| AuditError::io("opening segment", path, e))?;
    let len = file
        .metadata()
        .map_err(|e| AuditError::io("inspecting segment", path, e))?
        .len();
    if len == 0 {
        return Ok(None);
    }
    let window = (MAX_LINE_BYTES as u64 + 1).min(len);
    let start = len - window;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| AuditError::io("reading segment", path, e))?;
    let mut buf = Vec::new();
    file.take(window)
        .read_to_end(&mut buf)
        .map_err(|e| AuditError::io("reading segment", path, e))?;
    // Rotation trims reserved zeros; a segment that still has some (a
    // crash between writing and trimming) ends where its zeros start.
    if buf.last() == Some(&0) {
        return last_line_before_zeros(segment);
    }
    let Some(without_nl) = buf.strip_suffix(b"\n") else {
        return Err(tampered(
            segment,
            0,
            None,
            FindingKind::Malformed("an older segment does not end with a complete line".to_owned()),
        ));
    };
    match without_nl.iter().rposition(|&b| b == b'\n') {
        Some(i) => Ok(Some(without_nl.get(i + 1..).unwrap_or_default().to_vec())),
        None if start == 0 => Ok(Some(without_nl.to_vec())),
        None => Err(tampered(
            segment,
            0,
            None,
            FindingKind::Malformed("line longer than the 1 MiB limit".to_owned()),
        )),
    }
}

/// [`last_line`] of a segment that ends in reserved zeros: read through.
fn last_line_before_zeros(segment: &Segment) -> Result<Option<Vec<u8>>, AuditError> {
    let mut reader = LineReader::open(&segment.path)?;
    let mut last = None;
    loop {
        let line_no = reader.line_no;
        match reader.next_line(&segment.path)? {
            None => return Ok(last),
            Some(Line::Complete(line)) => last = Some(line),
            Some(Line::Unterminated(_)) => {
                return Err(tampered(
                    segment,
                    line_no,
                    None,
                    FindingKind::Malformed(
                        "an older segment does not end with a complete line".to_owned(),
                    ),
                ));
            }
            Some(Line::TooLong) => {
                return Err(tampered(
                    segment,
                    line_no,
                    None,
                    FindingKind::Malformed("line longer than the 1 MiB limit".to_owned()),
                ));
            }
        }
    }
}

/// Opens the trail in `dir` (already created and locked) for appending.
pub(crate) fn open_trail(dir: &Path, key: &ChainKey) -> Result<Opened, AuditError> {
    let segments = list_segments(dir)?;
    let anchor = read_anchor(dir, key).map_err(|kind| {
        AuditError::Tampered(Box::new(Finding {
            segment: "anchor".to_owned(),
            line: 0,
            seq: None,
            kind,
        }))
    })?;
    let (segments, _stale) = skip_pruned(segments, anchor.as_ref());
    for segment in &segments {
        check_private_file(&segment.path)?;
    }
    let (mut next_seq, mut prev) = anchor.map_or((1, Mac::GENESIS), |a| (a.seq + 1, a.mac));
    let mut head = anchor.map(|a| Head {
        seq: a.seq,
        mac: a.mac,
        ts: a.ts,
    });

    let Some(newest) = segments.last() else {
        if anchor.is_some() {
            return Err(AuditError::Tampered(Box::new(Finding {
                segment: "(none)".to_owned(),
                line: 0,
                seq: None,
                kind: FindingKind::Malformed(
                    "the anchor says records were pruned but no segment remains".to_owned(),
                ),
            })));
        }
        let (file, path) = create_segment(dir, 1)?;
        return Ok(Opened {
            file,
            path,
            size: 0,
            reserved: 0,
            next_seq: 1,
            prev: Mac::GENESIS,
            head: None,
            cut: None,
        });
    };

    if let Some(before) = segments.len().checked_sub(2).and_then(|i| segments.get(i)) {
        let Some(line) = last_line(before)? else {
            return Err(tampered(
                before,
                1,
                None,
                FindingKind::Malformed("empty segment that is not the newest".to_owned()),
            ));
        };
        let (record, mac) =
            parse_checked(key, &line).map_err(|(seq, kind)| tampered(before, 0, seq, kind))?;
        next_seq = record.seq.saturating_add(1);
        prev = mac;
        head = Some(Head {
            seq: record.seq,
            mac,
            ts: record.ts,
        });
    } else if newest.first_seq != next_seq {
        return Err(tampered(
            newest,
            1,
            None,
            FindingKind::MissingSeq {
                expected: next_seq,
                found: newest.first_seq,
            },
        ));
    }

    let mut state = ChainState::new(next_seq, prev);
    state.head = head;
    let mut reader = LineReader::open(&newest.path)?;
    let mut cut = None;
    loop {
        let line_no = reader.line_no;
        let offset = reader.offset;
        match reader.next_line(&newest.path)? {
            None => break,
            Some(Line::Complete(line)) => {
                let seq = state
                    .check(key, &line)
                    .map_err(|(seq, kind)| tampered(newest, line_no, seq, kind))?;
                if line_no == 1 && seq != newest.first_seq {
                    return Err(tampered(
                        newest,
                        1,
                        Some(seq),
                        FindingKind::Malformed(format!(
                            "segment file name says it starts at seq {}",
                            newest.first_seq
                        )),
                    ));
                }
            }
            Some(Line::Unterminated(bytes)) => {
                let hash = digest::digest(&digest::SHA256, &bytes);
                let mut hex = String::new();
                for b in hash.as_ref() {
                    hex.push_str(&format!("{b:02x}"));
                }
                cut = Some(Cut {
                    segment: newest.name(),
                    offset,
                    bytes: bytes.len() as u64,
                    sha256: hex,
                });
                break;
            }
            Some(Line::TooLong) => {
                return Err(tampered(
                    newest,
                    line_no,
                    None,
                    FindingKind::Malformed("line longer than the 1 MiB limit".to_owned()),
                ));
            }
        }
    }
    if state.records == 0 && segments.len() >= 2 && newest.first_seq != state.expected_seq {
        return Err(tampered(
            newest,
            1,
            None,
            FindingKind::Malformed(format!(
                "segment file name says it starts at seq {}, expected {}",
                newest.first_seq, state.expected_seq
            )),
        ));
    }
    let size = reader.offset - cut.as_ref().map_or(0, |c| c.bytes);
    let file = open_segment_for_writing(&newest.path)?;
    if cut.is_some() {
        file.set_len(size)
            .and_then(|()| file.sync_data())
            .map_err(|e| AuditError::io("cutting torn tail of", &newest.path, e))?;
    }
    // Zeros left after the data by a crash stay reserved for the writer.
    let reserved = file
        .metadata()
        .map_err(|e| AuditError::io("inspecting segment", &newest.path, e))?
        .len()
        .max(size);
    Ok(Opened {
        file,
        path: newest.path.clone(),
        size,
        reserved,
        next_seq: state.expected_seq,
        prev: state.prev,
        head: state.head,
        cut,
    })
}
