//! RFC 3339 text of a UTC instant without the formatting machinery: the
//! audit trail writes two or more timestamps per record, and chrono's
//! `Display` path (a formatter, a `String` per call) was a visible share of
//! an order's cost. The text is byte for byte chrono's own (tested against
//! it); instants it does not cover quickly (years outside 0000–9999, leap
//! seconds) are handed to chrono.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// How many digits of the fraction of a second to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fraction {
    /// Always six (`SecondsFormat::Micros`; sub-microseconds are dropped).
    Micros,
    /// None, three, six or nine: the fewest that hold the instant exactly
    /// (`SecondsFormat::AutoSi`, the form of chrono's `Serialize`).
    AutoSi,
}

impl Fraction {
    fn chrono(self) -> SecondsFormat {
        match self {
            Fraction::Micros => SecondsFormat::Micros,
            Fraction::AutoSi => SecondsFormat::AutoSi,
        }
    }
}

/// The longest text written without chrono: `YYYY-MM-DDTHH:MM:SS.fffffffffZ`.
const MAX_LEN: usize = 30;

/// The text being written (ASCII only).
struct Buf {
    bytes: [u8; MAX_LEN],
    len: usize,
}

impl Buf {
    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// The last `count` decimal digits of `value`, zero-padded.
    fn digits(&mut self, value: u32, count: u32) {
        let mut divisor = 10u32.pow(count.saturating_sub(1));
        for _ in 0..count {
            let digit = (value / divisor) % 10;
            self.push(b'0' + u8::try_from(digit).unwrap_or(0));
            divisor /= 10;
        }
    }
}

/// `ts` as RFC 3339 with a `Z` suffix, exactly as
/// `ts.to_rfc3339_opts(fraction, true)` writes it, without allocating for
/// years 0000–9999.
///
/// ```
/// use asta_core::chrono::{TimeZone, Utc};
/// use asta_core::{Fraction, Rfc3339};
///
/// let ts = Utc.with_ymd_and_hms(2026, 11, 27, 3, 45, 13).unwrap();
/// assert_eq!(Rfc3339::new(&ts, Fraction::AutoSi).as_str(), "2026-11-27T03:45:13Z");
/// assert_eq!(Rfc3339::new(&ts, Fraction::Micros).as_str(), "2026-11-27T03:45:13.000000Z");
/// ```
#[derive(Debug, Clone)]
pub struct Rfc3339 {
    text: Text,
}

#[derive(Debug, Clone)]
enum Text {
    Inline { bytes: [u8; MAX_LEN], len: usize },
    Chrono(String),
}

impl Rfc3339 {
    /// Formats `ts` with the given fraction digits.
    #[must_use]
    pub fn new(ts: &DateTime<Utc>, fraction: Fraction) -> Self {
        let year = ts.year();
        let nanos = ts.nanosecond();
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return Rfc3339 {
                text: Text::Chrono(ts.to_rfc3339_opts(fraction.chrono(), true)),
            };
        }
        let mut buf = Buf {
            bytes: [0u8; MAX_LEN],
            len: 0,
        };
        buf.digits(u32::try_from(year).unwrap_or(0), 4);
        buf.push(b'-');
        buf.digits(ts.month(), 2);
        buf.push(b'-');
        buf.digits(ts.day(), 2);
        buf.push(b'T');
        buf.digits(ts.hour(), 2);
        buf.push(b':');
        buf.digits(ts.minute(), 2);
        buf.push(b':');
        buf.digits(ts.second(), 2);
        let shown = match fraction {
            Fraction::Micros => Some((nanos / 1_000, 6)),
            Fraction::AutoSi if nanos == 0 => None,
            Fraction::AutoSi if nanos.is_multiple_of(1_000_000) => Some((nanos / 1_000_000, 3)),
            Fraction::AutoSi if nanos.is_multiple_of(1_000) => Some((nanos / 1_000, 6)),
            Fraction::AutoSi => Some((nanos, 9)),
        };
        if let Some((value, count)) = shown {
            buf.push(b'.');
            buf.digits(value, count);
        }
        buf.push(b'Z');
        Rfc3339 {
            text: Text::Inline {
                bytes: buf.bytes,
                len: buf.len,
            },
        }
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.text {
            Text::Inline { bytes, len } => bytes
                .get(..*len)
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default(),
            Text::Chrono(text) => text,
        }
    }
}

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serializes a UTC instant as chrono's `Serialize` does (RFC 3339,
/// [`Fraction::AutoSi`], `Z`) for `#[serde(serialize_with = ...)]`: the
/// same text, without chrono's formatter.
///
/// # Errors
///
/// Whatever the serializer's `serialize_str` returns.
pub fn serialize_utc<S: serde::Serializer>(
    ts: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(Rfc3339::new(ts, Fraction::AutoSi).as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn check(ts: &DateTime<Utc>) {
        for fraction in [Fraction::Micros, Fraction::AutoSi] {
            assert_eq!(
                Rfc3339::new(ts, fraction).as_str(),
                ts.to_rfc3339_opts(fraction.chrono(), true),
                "{ts:?} {fraction:?}"
            );
        }
        assert_eq!(
            serde_json::to_string(ts).unwrap(),
            format!("\"{}\"", Rfc3339::new(ts, Fraction::AutoSi))
        );
    }

    #[test]
    fn edges_read_like_chrono() {
        let base = Utc.with_ymd_and_hms(2026, 11, 27, 3, 45, 13).unwrap();
        for nanos in [0, 1, 999, 1_000, 29_000_000, 123_456_000, 999_999_999, 100] {
            check(&(base + chrono::TimeDelta::nanoseconds(nanos)));
        }
        for (y, m, d) in [
            (0, 1, 1),
            (9999, 12, 31),
            (1970, 1, 1),
            (10000, 1, 1),
            (-1, 6, 30),
        ] {
            check(&Utc.with_ymd_and_hms(y, m, d, 23, 59, 59).unwrap());
        }
        // A leap second (nanos past a billion) is chrono's to write.
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        check(&leap);
    }

    proptest! {
        #[test]
        fn any_instant_reads_like_chrono(secs in -70_000_000_000i64..300_000_000_000i64, nanos in 0u32..1_000_000_000, round in 0u8..4) {
            let nanos = match round {
                0 => 0,
                1 => nanos / 1_000_000 * 1_000_000,
                2 => nanos / 1_000 * 1_000,
                _ => nanos,
            };
            if let Some(ts) = DateTime::from_timestamp(secs, nanos) {
                check(&ts);
            }
        }
    }
}
