//! Retention: pruning old segments and the anchor that keeps the rest verifiable.
//!
//! Pruning deletes whole segments, oldest first, and only while every record
//! in the segment is older than the retention period (measured from the
//! earlier of the clock and the newest record, so a clock that jumps ahead
//! cannot make young records look old). The newest segment is never pruned.
//! Before deleting anything it writes (atomically) an *anchor*: the seq, MAC
//! and time of the last pruned record, tagged with a MAC under a key derived
//! from the chain key. Verification then starts from the anchor instead of
//! seq 1. A forged anchor (to hide deleted segments) fails its tag; a
//! deleted anchor makes the trail start at a seq other than 1, which is
//! reported. After pruning, a `SYSTEM` record `retention_pruned` says what
//! was removed.

use std::fs;
use std::io::Read;
use std::path::Path;

use asta_core::safe_file;

use chrono::{DateTime, Utc};
use ring::hmac;

use crate::canonical::format_ts;
use crate::checkpoint::{parse_fields, parse_seq, parse_ts};
use crate::error::AuditError;
use crate::key::ChainKey;
use crate::record::{MAC_LEN, Mac};
use crate::segment::Segment;
use crate::verify::FindingKind;

/// The anchor file name.
pub(crate) const ANCHOR_FILE: &str = "anchor";
const MAGIC: &str = "asta-audit-anchor";

/// The last pruned record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub(crate) seq: u64,
    pub(crate) mac: Mac,
    pub(crate) ts: DateTime<Utc>,
}

/// What a prune removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PruneReport {
    /// Number of segment files deleted.
    pub segments_removed: usize,
    /// Number of records in them.
    pub records_removed: u64,
    /// The last pruned seq (the anchor), if anything was ever pruned.
    pub anchor_seq: Option<u64>,
    /// The seq of the `retention_pruned` record, when one was written.
    pub record_seq: Option<u64>,
}

fn anchor_body(anchor: &Anchor) -> String {
    format!(
        "{MAGIC} v1 seq={} mac={} ts={}",
        anchor.seq,
        anchor.mac,
        format_ts(anchor.ts)
    )
}

fn tag(key: &ChainKey, body: &str) -> Mac {
    let t = hmac::sign(key.anchor_key(), body.as_bytes());
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(t.as_ref());
    Mac(out)
}

/// Reads and authenticates the anchor, if there is one.
pub(crate) fn read_anchor(dir: &Path, key: &ChainKey) -> Result<Option<Anchor>, FindingKind> {
    let path = dir.join(ANCHOR_FILE);
    let mut file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FindingKind::BadAnchor(format!("cannot read: {}", e.kind()))),
    };
    let mut text = String::new();
    (&mut file)
        .take(1024)
        .read_to_string(&mut text)
        .map_err(|e| FindingKind::BadAnchor(format!("cannot read: {}", e.kind())))?;
    let malformed = || FindingKind::BadAnchor("malformed".to_owned());
    let [seq, mac, ts, stored] =
        parse_fields(&text, MAGIC, ["seq", "mac", "ts", "tag"]).ok_or_else(malformed)?;
    let anchor = Anchor {
        seq: parse_seq(seq).ok_or_else(malformed)?,
        mac: Mac::from_hex(mac).ok_or_else(malformed)?,
        ts: parse_ts(ts).ok_or_else(malformed)?,
    };
    let stored = Mac::from_hex(stored).ok_or_else(malformed)?;
    if hmac::verify(
        key.anchor_key(),
        anchor_body(&anchor).as_bytes(),
        stored.as_bytes(),
    )
    .is_err()
    {
        return Err(FindingKind::BadAnchor(
            "tag mismatch (forged anchor or wrong key)".to_owned(),
        ));
    }
    Ok(Some(anchor))
}

/// Writes the anchor atomically: temp file (0600), fsync, rename, fsync dir.
pub(crate) fn write_anchor(dir: &Path, key: &ChainKey, anchor: &Anchor) -> Result<(), AuditError> {
    let body = anchor_body(anchor);
    let text = format!("{body} tag={}\n", tag(key, &body));
    let path = dir.join(ANCHOR_FILE);
    safe_file::write_atomic(&path, text.as_bytes(), safe_file::PRIVATE_FILE_MODE)
        .map_err(|e| AuditError::from_safe_file("writing anchor", e))
}

/// Segments that lie wholly at or before the anchor (pruned, but a crash
/// stopped their deletion) are dropped from the list.
pub(crate) fn skip_pruned(
    segments: Vec<Segment>,
    anchor: Option<&Anchor>,
) -> (Vec<Segment>, Vec<Segment>) {
    let Some(anchor) = anchor else {
        return (segments, Vec::new());
    };
    let boundary = anchor.seq.saturating_add(1);
    let mut kept = Vec::new();
    let mut stale = Vec::new();
    let firsts: Vec<u64> = segments.iter().map(|s| s.first_seq).collect();
    for (i, segment) in segments.into_iter().enumerate() {
        let next_first = firsts.get(i + 1).copied();
        if next_first.is_some_and(|n| n <= boundary) {
            stale.push(segment);
        } else {
            kept.push(segment);
        }
    }
    (kept, stale)
}
