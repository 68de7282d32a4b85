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

use asta_core::ErrorReference;
use asta_core::{Fraction, Rfc3339};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use ring::hmac;
use serde_json::{Map, Value};

use crate::key::ChainKey;
use crate::record::{AuditEvent, Category, EncodedField, MAC_LEN, Mac};

/// The bytes between the body and the MAC digits.
pub(crate) const MAC_PREFIX: &str = ",\"mac\":\"";
/// The bytes after the MAC digits (before the newline).
pub(crate) const MAC_SUFFIX: &str = "\"}";
/// Length of the MAC trailer: prefix, 64 hex digits, suffix.
pub(crate) const TRAILER_LEN: usize = MAC_PREFIX.len() + 2 * MAC_LEN + MAC_SUFFIX.len();

/// The record timestamp format: RFC 3339, UTC, microseconds, `Z`.
pub(crate) fn format_ts(ts: DateTime<Utc>) -> String {
    Rfc3339::new(&ts, Fraction::Micros).as_str().to_owned()
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
        // One allocation for most records: the fixed fields and the typed
        // fields' known lengths (untyped details may still grow it).
        let typed: usize = event
            .encoded
            .iter()
            .map(|field| field.name.len() + field.end.saturating_sub(field.start) + 4)
            .sum();
        let mut out = String::with_capacity(
            128 + event.action.len()
                + event.strategy.as_ref().map_or(0, String::len)
                + event.actor.as_ref().map_or(0, String::len)
                + typed,
        );
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
        if event.encoded.is_empty() {
            write_object(&mut out, &event.details);
        } else {
            write_details(
                &mut out,
                &event.details,
                &event.encoded,
                &event.encoded_json,
            );
        }
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
    out.push_str(Rfc3339::new(&ts, Fraction::Micros).as_str());
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

/// What the chain check needs from a record body in canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CanonicalFields {
    /// The record's seq.
    pub(crate) seq: u64,
    /// The record's timestamp.
    pub(crate) ts: DateTime<Utc>,
    /// The record's `prev` MAC.
    pub(crate) prev: Mac,
}

/// Deepest nesting of `details` that [`parse_canonical_body`] follows
/// (serde_json's own limit is 128; deeper bodies go to the full parse).
const MAX_FAST_DEPTH: u32 = 32;

/// Longest run of digits in a number that [`parse_canonical_body`]
/// accepts before and after the decimal point (so every integer fits an
/// `i64`/`u64` and no float can overflow).
const MAX_FAST_DIGITS: usize = 18;

/// Recognises a record body (a line without its MAC trailer, see
/// [`split_line`]) in the canonical form [`seal_into`] writes, and reads
/// the fields the chain check needs without allocating.
///
/// This is a strict recogniser for the common case, not a JSON parser:
/// it returns `None` for anything it does not recognise, including valid
/// records in another form (whitespace, another field order, `null` for
/// an optional field, an exponent in a number, a surrogate escape, a
/// leap second), and the caller then decides with the full serde parse.
/// Every body it accepts is one that parses as an
/// [`AuditRecord`](crate::record::AuditRecord) with the same `seq`, `ts`
/// and `prev`; the verifier's tests check that the two agree.
pub(crate) fn parse_canonical_body(body: &[u8]) -> Option<CanonicalFields> {
    // Strings may hold any UTF-8: check it once for the whole body, so the
    // scan below only has to look at ASCII structure.
    std::str::from_utf8(body).ok()?;
    let mut c = Cursor {
        bytes: body,
        pos: 0,
    };
    c.eat(b"{\"seq\":")?;
    let seq = c.seq()?;
    c.eat(b",\"ts\":\"")?;
    let ts = parse_ts(c.take(TS_LEN)?)?;
    c.eat(b"\",\"category\":\"")?;
    let category = c.take_until_quote()?;
    if !Category::ALL
        .iter()
        .any(|k| k.as_str().as_bytes() == category)
    {
        return None;
    }
    c.eat(b",\"action\":\"")?;
    c.string_rest()?;
    if c.eat(b",\"actor\":\"").is_some() {
        c.string_rest()?;
    }
    if c.eat(b",\"strategy\":\"").is_some() {
        c.string_rest()?;
    }
    c.eat(b",\"details\":{")?;
    c.object_rest(1)?;
    if c.eat(b",\"reference\":\"").is_some() {
        let text = std::str::from_utf8(c.take_until_quote()?).ok()?;
        text.parse::<ErrorReference>().ok()?;
    }
    c.eat(b",\"prev\":\"")?;
    let prev = Mac::from_hex_bytes(c.take(2 * MAC_LEN)?)?;
    c.eat(b"\"")?;
    c.at_end().then_some(CanonicalFields { seq, ts, prev })
}

/// Length of a record timestamp, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const TS_LEN: usize = 27;

/// Parses a timestamp in exactly the form [`format_ts`] writes. Leap
/// seconds and the year 0 are left to chrono's own parser (`None`).
fn parse_ts(text: &[u8]) -> Option<DateTime<Utc>> {
    let &[
        y0,
        y1,
        y2,
        y3,
        b'-',
        mo0,
        mo1,
        b'-',
        d0,
        d1,
        b'T',
        h0,
        h1,
        b':',
        mi0,
        mi1,
        b':',
        s0,
        s1,
        b'.',
        f0,
        f1,
        f2,
        f3,
        f4,
        f5,
        b'Z',
    ] = text
    else {
        return None;
    };
    let num = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(num(&[y0, y1, y2, y3])?).ok()?;
    if year == 0 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, num(&[mo0, mo1])?, num(&[d0, d1])?)?;
    let time = NaiveTime::from_hms_micro_opt(
        num(&[h0, h1])?,
        num(&[mi0, mi1])?,
        num(&[s0, s1])?,
        num(&[f0, f1, f2, f3, f4, f5])?,
    )?;
    Some(date.and_time(time).and_utc())
}

/// A position in a body being recognised. Every method returns `None`
/// when the bytes are not what the canonical form has there.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    /// Consumes `lit` if the rest starts with it.
    fn eat(&mut self, lit: &[u8]) -> Option<()> {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            Some(())
        } else {
            None
        }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.rest().get(..n)?;
        self.pos += n;
        Some(out)
    }

    /// The bytes up to the next `"` (consumed too), which must contain no
    /// escape and no control character.
    fn take_until_quote(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest();
        let end = rest.iter().position(|&b| b == b'"')?;
        let text = rest.get(..end)?;
        if text.iter().any(|&b| b == b'\\' || b < 0x20) {
            return None;
        }
        self.pos += end + 1;
        Some(text)
    }

    /// A seq: decimal digits without a leading zero that fit a `u64`.
    fn seq(&mut self) -> Option<u64> {
        let rest = self.rest();
        let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let digits = rest.get(..len)?;
        if digits.is_empty() || (len > 1 && digits.first() == Some(&b'0')) {
            return None;
        }
        let n = digits.iter().try_fold(0u64, |acc, &d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        self.pos += len;
        Some(n)
    }

    /// The rest of a string after its opening quote, through the closing
    /// quote. Escapes are those JSON allows, except `\u` escapes of
    /// surrogates (left to the full parse); raw control characters are
    /// refused, as by JSON.
    fn string_rest(&mut self) -> Option<()> {
        loop {
            let rest = self.rest();
            let stop = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            self.pos += stop;
            match self.bump()? {
                b'"' => return Some(()),
                b'\\' => match self.bump()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let hex = self.take(4)?;
                        let text = std::str::from_utf8(hex).ok()?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        let unit = u16::from_str_radix(text, 16).ok()?;
                        if (0xd800..=0xdfff).contains(&unit) {
                            return None;
                        }
                    }
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// A number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most
    /// [`MAX_FAST_DIGITS`] digits on either side (no exponent).
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int = self.digits()?;
        let first = self.pos.checked_sub(int).and_then(|i| self.bytes.get(i));
        if int == 0 || (int > 1 && first == Some(&b'0')) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits()? == 0 {
                return None;
            }
        }
        Some(())
    }

    /// Consumes up to [`MAX_FAST_DIGITS`] digits and returns how many.
    fn digits(&mut self) -> Option<usize> {
        let n = self
            .rest()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if n > MAX_FAST_DIGITS {
            return None;
        }
        self.pos += n;
        Some(n)
    }

    /// Any JSON value without whitespace, `depth` containers deep.
    fn value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                self.string_rest()
            }
            b'{' => {
                self.pos += 1;
                self.object_rest(depth + 1)
            }
            b'[' => {
                self.pos += 1;
                self.array_rest(depth + 1)
            }
            b't' => self.eat(b"true"),
            b'f' => self.eat(b"false"),
            b'n' => self.eat(b"null"),
            _ => self.number(),
        }
    }

    /// The rest of an object after its `{`, through its `}`.
    fn object_rest(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_FAST_DEPTH {
            return None;
        }
        if self.eat(b"}").is_some() {
            return Some(());
        }
        loop {
            self.eat(b"\"")?;
            self.string_rest()?;
            self.eat(b":")?;
            self.value(depth)?;
            match self.bump()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// The rest of an array after its `[`, through its `]`.
    fn array_rest(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_FAST_DEPTH {
            return None;
        }
        if self.eat(b"]").is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            match self.bump()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }
}

/// Whether serde_json writes `s` inside quotes unchanged (no `"`, no `\\`,
/// no control character).
pub(crate) fn needs_no_escape(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

fn write_str(out: &mut String, s: &str) {
    if needs_no_escape(s) {
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // Serializing a &str cannot fail; the fallback keeps this total anyway.
    match serde_json::to_string(s) {
        Ok(encoded) => out.push_str(&encoded),
        Err(_) => out.push_str("\"\""),
    }
}

/// `details` made of ordinary fields and fields already encoded by
/// [`crate::typed`], in key order. (The two never share a name: adding a
/// field of either kind removes the other.)
fn write_details(
    out: &mut String,
    map: &Map<String, Value>,
    encoded: &[EncodedField],
    encoded_json: &str,
) {
    enum Field<'a> {
        Plain(&'a Value),
        Encoded(&'a str),
    }
    let mut entries: Vec<(&str, Field<'_>)> = map
        .iter()
        .map(|(k, v)| (k.as_str(), Field::Plain(v)))
        .chain(
            encoded
                .iter()
                .map(|f| (&*f.name, Field::Encoded(f.json(encoded_json)))),
        )
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        match v {
            Field::Plain(value) => write_value(out, value),
            Field::Encoded(json) => out.push_str(json),
        }
    }
    out.push('}');
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

pub(crate) fn write_value(out: &mut String, value: &Value) {
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
