//! The canonical encoding of a record and its MAC.
//!
//! A record line is
//!
//! ```text
//! {"seq":N,"ts":"YYYY-MM-DDTHH:MM:SS.ffffffZ","category":"C","action":"A",
//!  ["actor":"..",]["strategy":"..",]"details":{..},["reference":"ERR-..",]
//!  "prev":"<64 hex>","mac":"<64 hex>"}\n
//! ```
//!
//! on one line, with no whitespace between tokens, fields in exactly this
//! order and the keys of every object in `details` sorted by their UTF-8
//! bytes. The MAC is HMAC-SHA256, under a key derived from the chain key, of
//! the exact bytes from the opening `{` up to (not including) `,"mac":`. The
//! verifier therefore MACs the bytes as stored: any change to any byte of a
//! record, including whitespace or key order, is a MAC mismatch. The
//! encoding is produced by this module alone, so it does not depend on
//! serde_json's map-ordering features.

use chrono::{DateTime, SecondsFormat, Utc};
use ring::hmac;
use serde_json::{Map, Value};

use crate::key::ChainKey;
use crate::record::{AuditEvent, MAC_LEN, Mac};

/// The bytes between the body and the MAC digits.
pub(crate) const MAC_PREFIX: &str = ",\"mac\":\"";
/// The bytes after the MAC digits (before the newline).
pub(crate) const MAC_SUFFIX: &str = "\"}";
/// Length of the MAC trailer: prefix, 64 hex digits, suffix.
pub(crate) const TRAILER_LEN: usize = MAC_PREFIX.len() + 2 * MAC_LEN + MAC_SUFFIX.len();

/// The record timestamp format: RFC 3339, UTC, microseconds, `Z`.
pub(crate) fn format_ts(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The event's fields encoded canonically, without seq, ts and prev: done
/// once by the caller's thread so the writer thread only adds the chain.
#[derive(Debug)]
pub(crate) struct EncodedEvent {
    /// `"category":..,"action":..[,"actor":..][,"strategy":..],"details":{..}[,"reference":..]`
    pub(crate) middle: String,
}

impl EncodedEvent {
    /// Encodes an already redacted event.
    pub(crate) fn new(event: &AuditEvent) -> Self {
        let mut out = String::with_capacity(128);
        out.push_str("\"category\":\"");
        out.push_str(event.category.as_str());
        out.push_str("\",\"action\":");
        write_str(&mut out, &event.action);
        if let Some(actor) = &event.actor {
            out.push_str(",\"actor\":");
            write_str(&mut out, actor);
        }
        if let Some(strategy) = &event.strategy {
            out.push_str(",\"strategy\":");
            write_str(&mut out, strategy);
        }
        out.push_str(",\"details\":");
        write_object(&mut out, &event.details);
        if let Some(reference) = &event.reference {
            out.push_str(",\"reference\":");
            write_str(&mut out, reference.as_str());
        }
        Self { middle: out }
    }

    /// An upper bound of the line length this event will produce.
    pub(crate) fn line_len(&self) -> usize {
        // {"seq":<20>,"ts":"<27>",  middle  ,"prev":"<64>"  trailer \n
        self.middle.len() + 120 + 2 * MAC_LEN + TRAILER_LEN
    }
}

/// Builds the full line (with newline) of a record and returns it with its MAC.
#[cfg(test)]
pub(crate) fn seal(
    key: &ChainKey,
    seq: u64,
    ts: DateTime<Utc>,
    event: &EncodedEvent,
    prev: &Mac,
) -> (String, Mac) {
    let mut line = String::with_capacity(event.line_len());
    let mac = seal_into(&mut line, key, seq, ts, event, prev);
    (line, mac)
}

/// Appends the full line (with newline) of a record to `out` and returns
/// its MAC. Only the appended bytes are MACed.
pub(crate) fn seal_into(
    out: &mut String,
    key: &ChainKey,
    seq: u64,
    ts: DateTime<Utc>,
    event: &EncodedEvent,
    prev: &Mac,
) -> Mac {
    let start = out.len();
    out.push_str("{\"seq\":");
    out.push_str(itoa_u64(seq, &mut [0u8; 20]));
    out.push_str(",\"ts\":\"");
    out.push_str(&format_ts(ts));
    out.push_str("\",");
    out.push_str(&event.middle);
    out.push_str(",\"prev\":\"");
    prev.write_hex(out);
    out.push('"');
    let mac = body_mac(key, out.as_bytes().get(start..).unwrap_or_default());
    out.push_str(MAC_PREFIX);
    mac.write_hex(out);
    out.push_str(MAC_SUFFIX);
    out.push('\n');
    mac
}

/// Decimal digits of `n` without allocating.
fn itoa_u64(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    std::str::from_utf8(buf.get(i..).unwrap_or_default()).unwrap_or("0")
}

/// The MAC of a record body.
pub(crate) fn body_mac(key: &ChainKey, body: &[u8]) -> Mac {
    let tag = hmac::sign(key.record_key(), body);
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(tag.as_ref());
    Mac(out)
}

/// Splits a line (without newline) into body and stored MAC, if it has the
/// canonical trailer.
pub(crate) fn split_line(line: &[u8]) -> Option<(&[u8], Mac)> {
    let cut = line.len().checked_sub(TRAILER_LEN)?;
    let (body, trailer) = line.split_at_checked(cut)?;
    let rest = trailer.strip_prefix(MAC_PREFIX.as_bytes())?;
    let digits = rest.strip_suffix(MAC_SUFFIX.as_bytes())?;
    let mac = Mac::from_hex_bytes(digits)?;
    Some((body, mac))
}

/// Checks a body against its stored MAC in constant time.
pub(crate) fn check_mac(key: &ChainKey, body: &[u8], mac: &Mac) -> bool {
    hmac::verify(key.record_key(), body, mac.as_bytes()).is_ok()
}

fn write_str(out: &mut String, s: &str) {
    // Serializing a &str cannot fail; the fallback keeps this total anyway.
    match serde_json::to_string(s) {
        Ok(encoded) => out.push_str(&encoded),
        Err(_) => out.push_str("\"\""),
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn line_is_canonical_and_parses() {
        let key = ChainKey::from_bytes(&[1u8; 32]).unwrap();
        let event = AuditEvent::order(
            "place",
            "s1",
            json!({"z": 1, "a": {"y": [1, "x"], "b": null}}),
        );
        let ts = Utc.with_ymd_and_hms(2026, 11, 27, 9, 15, 0).unwrap();
        let (line, mac) = seal(&key, 7, ts, &EncodedEvent::new(&event), &Mac::GENESIS);
        assert!(line.starts_with(
            "{\"seq\":7,\"ts\":\"2026-11-27T09:15:00.000000Z\",\"category\":\"ORDER\",\"action\":\"place\",\"strategy\":\"s1\",\"details\":{\"a\":{\"b\":null,\"y\":[1,\"x\"]},\"z\":1},\"prev\":\"0000"
        ), "{line}");
        let trimmed = line.trim_end_matches('\n');
        let (body, stored) = split_line(trimmed.as_bytes()).unwrap();
        assert_eq!(stored, mac);
        assert!(check_mac(&key, body, &mac));
        let parsed: crate::record::AuditRecord = serde_json::from_str(trimmed).unwrap();
        assert_eq!(parsed.seq, 7);
    }
}
