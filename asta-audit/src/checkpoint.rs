//! Checkpoints: the head of a trail as a short text kept somewhere else.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::canonical::format_ts;
use crate::error::AuditError;
use crate::record::{Head, Mac};

const MAGIC: &str = "asta-audit-checkpoint";
const VERSION: &str = "v1";

/// The head of a trail at some moment (seq, MAC, time), exported as one
/// line of text such as
///
/// `asta-audit-checkpoint v1 seq=1042 mac=<64 hex> ts=2026-11-27T10:00:00.000000Z`
///
/// Keep it somewhere an attacker of the log host cannot change (a ticket, an
/// email to compliance, another machine). Verifying the trail against it
/// (see [`verify`](crate::verify)) proves that the record it names is still
/// present and unchanged, so a truncated or rolled-back trail is detected.
/// It holds no secret.
///
/// ```
/// use asta_audit::Checkpoint;
/// let text = "asta-audit-checkpoint v1 seq=3 mac=".to_owned() + &"ab".repeat(32)
///     + " ts=2026-11-27T10:00:00.000000Z";
/// let cp: Checkpoint = text.parse()?;
/// assert_eq!(cp.seq(), 3);
/// assert_eq!(cp.to_string(), text);
/// # Ok::<(), asta_audit::AuditError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    head: Head,
}

impl Checkpoint {
    /// A checkpoint of `head`.
    pub fn new(head: Head) -> Self {
        Self { head }
    }

    /// The sequence number of the checkpointed record.
    pub fn seq(&self) -> u64 {
        self.head.seq
    }

    /// The MAC of the checkpointed record.
    pub fn mac(&self) -> Mac {
        self.head.mac
    }

    /// The time of the checkpointed record.
    pub fn ts(&self) -> DateTime<Utc> {
        self.head.ts
    }

    /// The checkpointed head.
    pub fn head(&self) -> Head {
        self.head
    }
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MAGIC} {VERSION} seq={} mac={} ts={}",
            self.head.seq,
            self.head.mac,
            format_ts(self.head.ts)
        )
    }
}

/// Parses `key=value` fields separated by single spaces after a fixed
/// `magic version` prefix, requiring exactly the expected keys in order.
pub(crate) fn parse_fields<'a, const N: usize>(
    text: &'a str,
    magic: &str,
    keys: [&str; N],
) -> Option<[&'a str; N]> {
    let mut parts = text.trim().split(' ');
    if parts.next()? != magic || parts.next()? != VERSION {
        return None;
    }
    let mut out = [""; N];
    for (slot, key) in out.iter_mut().zip(keys) {
        let (k, v) = parts.next()?.split_once('=')?;
        if k != key || v.is_empty() {
            return None;
        }
        *slot = v;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// Parses a record timestamp (RFC 3339, must be UTC).
pub(crate) fn parse_ts(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses a decimal seq (1 or more).
pub(crate) fn parse_seq(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 20 {
        return None;
    }
    text.parse().ok().filter(|&n| n > 0)
}

impl FromStr for Checkpoint {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            AuditError::MalformedCheckpoint(format!(
                "expected `{MAGIC} {VERSION} seq=<n> mac=<64 hex> ts=<RFC 3339 UTC>`"
            ))
        };
        let [seq, mac, ts] = parse_fields(s, MAGIC, ["seq", "mac", "ts"]).ok_or_else(bad)?;
        Ok(Self {
            head: Head {
                seq: parse_seq(seq).ok_or_else(bad)?,
                mac: Mac::from_hex(mac).ok_or_else(bad)?,
                ts: parse_ts(ts).ok_or_else(bad)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_checkpoints_are_refused() {
        let good = format!(
            "{MAGIC} v1 seq=5 mac={} ts=2026-11-27T10:00:00.000001Z",
            "0a".repeat(32)
        );
        assert!(good.parse::<Checkpoint>().is_ok());
        for bad in [
            String::new(),
            good.replace("v1", "v2"),
            good.replace("seq=5", "seq=0"),
            good.replace("seq=5", "seq=-5"),
            good.replace("0a", "0A"),
            format!("{good} extra=1"),
            good.replace("ts=2026", "ts=20x6"),
        ] {
            assert!(bad.parse::<Checkpoint>().is_err(), "{bad}");
        }
    }
}
