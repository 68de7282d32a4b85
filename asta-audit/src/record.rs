//! Audit events (what callers submit) and records (what the trail holds).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use asta_core::ErrorReference;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What kind of thing an audit record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Category {
    /// A fill or trade.
    Trade,
    /// An order intent, placement, modification, cancellation or outcome.
    Order,
    /// A risk decision or a trading-state transition.
    Risk,
    /// A lifecycle event of the system (start, stop, recovery, pruning).
    System,
    /// A security event (login, failed login, key rotation, block).
    Security,
    /// An internal error recorded under a public error reference.
    Error,
}

impl Category {
    /// Every category, in a stable order.
    pub const ALL: [Category; 6] = [
        Category::Trade,
        Category::Order,
        Category::Risk,
        Category::System,
        Category::Security,
        Category::Error,
    ];

    /// The wire form, e.g. `ORDER`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Trade => "TRADE",
            Category::Order => "ORDER",
            Category::Risk => "RISK",
            Category::System => "SYSTEM",
            Category::Security => "SECURITY",
            Category::Error => "ERROR",
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Category::Trade => 0,
            Category::Order => 1,
            Category::Risk => 2,
            Category::System => 3,
            Category::Security => 4,
            Category::Error => 5,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when text is not a known [`Category`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit category (expected TRADE, ORDER, RISK, SYSTEM, SECURITY or ERROR)")]
pub struct UnknownCategory;

impl FromStr for Category {
    type Err = UnknownCategory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(UnknownCategory)
    }
}

/// The outcome of a risk check, for [`AuditEvent::risk_decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RiskDecision {
    /// The order passed the check.
    Approved,
    /// The order was refused; the reason is recorded.
    Rejected {
        /// Why, e.g. `quantity 70 is not a multiple of lot size 75`.
        reason: String,
    },
}

impl RiskDecision {
    /// A rejection with `reason`.
    pub fn rejected(reason: impl Into<String>) -> Self {
        RiskDecision::Rejected {
            reason: reason.into(),
        }
    }
}

/// Something to record: built with a helper, then given to
/// [`AuditLog::append`](crate::AuditLog::append).
///
/// Every string in the event (action, actor, strategy, details) is redacted
/// before it is written; see [`redact_value`](crate::redact_value).
///
/// ```
/// use asta_audit::{AuditEvent, Category, RiskDecision};
/// use serde_json::json;
///
/// let intent = AuditEvent::order("place_intent", "straddle", json!({"symbol": "SBIN", "qty": 10}));
/// assert_eq!(intent.category(), Category::Order);
/// let refusal = AuditEvent::risk_decision(
///     "pre_trade",
///     "straddle",
///     RiskDecision::rejected("daily loss limit reached"),
///     json!({"symbol": "SBIN"}),
/// )
/// .with_actor("risk-engine");
/// assert_eq!(refusal.details()["decision"], "REJECTED");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub(crate) category: Category,
    pub(crate) action: String,
    pub(crate) actor: Option<String>,
    pub(crate) strategy: Option<String>,
    pub(crate) details: Map<String, Value>,
    pub(crate) reference: Option<ErrorReference>,
    /// The details were built from typed values: skip the pattern scan.
    pub(crate) typed: bool,
    /// Details fields already in canonical, names-redacted form (see
    /// [`AuditEvent::with_typed_detail_unchecked`]); no name is also in
    /// `details`.
    pub(crate) encoded: Vec<EncodedField>,
    /// The text of the `encoded` fields, back to back (a replaced field's
    /// old text stays, unused).
    pub(crate) encoded_json: String,
}

/// One details field encoded by [`crate::typed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodedField {
    /// The field's name (not yet escaped); a name in the code costs no copy.
    pub(crate) name: Cow<'static, str>,
    /// Where the value's canonical JSON (names-redacted) starts in the
    /// event's `encoded_json`.
    pub(crate) start: usize,
    /// Where it ends (exclusive).
    pub(crate) end: usize,
}

impl EncodedField {
    /// The value's canonical JSON, from the event's `encoded_json`.
    pub(crate) fn json<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.start..self.end).unwrap_or("null")
    }
}

/// Turns any JSON value into a details object: objects are kept, `null`
/// becomes empty, anything else is stored under `"value"`.
fn into_details(details: Value) -> Map<String, Value> {
    match details {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("value".to_owned(), other);
            map
        }
    }
}

impl AuditEvent {
    /// A general event. `details` should be a JSON object; `null` means no
    /// details and any other value is stored under the key `"value"`.
    pub fn new(category: Category, action: impl Into<String>, details: Value) -> Self {
        Self {
            category,
            action: action.into(),
            actor: None,
            strategy: None,
            details: into_details(details),
            reference: None,
            typed: false,
            encoded: Vec::new(),
            encoded_json: String::new(),
        }
    }

    /// A `TRADE` record (a fill) for `strategy`.
    pub fn trade(action: impl Into<String>, strategy: impl Into<String>, details: Value) -> Self {
        Self::new(Category::Trade, action, details).with_strategy(strategy)
    }

    /// An `ORDER` record (intent, placement, outcome...) for `strategy`.
    pub fn order(action: impl Into<String>, strategy: impl Into<String>, details: Value) -> Self {
        Self::new(Category::Order, action, details).with_strategy(strategy)
    }

    /// A `RISK` record of a decision. Adds `"decision": "APPROVED"` or
    /// `"REJECTED"` and, for a rejection, `"reason"` to `details`.
    pub fn risk_decision(
        action: impl Into<String>,
        strategy: impl Into<String>,
        decision: RiskDecision,
        details: Value,
    ) -> Self {
        let mut event = Self::new(Category::Risk, action, details).with_strategy(strategy);
        match decision {
            RiskDecision::Approved => {
                event
                    .details
                    .insert("decision".to_owned(), Value::from("APPROVED"));
            }
            RiskDecision::Rejected { reason } => {
                event
                    .details
                    .insert("decision".to_owned(), Value::from("REJECTED"));
                event
                    .details
                    .insert("reason".to_owned(), Value::from(reason));
            }
        }
        event
    }

    /// A `SYSTEM` record (start, stop, configuration change...).
    pub fn system(action: impl Into<String>, details: Value) -> Self {
        Self::new(Category::System, action, details)
    }

    /// A `SECURITY` record (login, failed login, block, key rotation...).
    pub fn security(action: impl Into<String>, details: Value) -> Self {
        Self::new(Category::Security, action, details)
    }

    /// An `ERROR` record holding the internal detail of a failure under the
    /// same reference the user saw in asta-core's `PublicError`.
    pub fn error(reference: ErrorReference, action: impl Into<String>, details: Value) -> Self {
        let mut event = Self::new(Category::Error, action, details);
        event.reference = Some(reference);
        event
    }

    /// Sets who did it (a user, a component).
    #[must_use]
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Sets the strategy concerned.
    #[must_use]
    pub fn with_strategy(mut self, strategy: impl Into<String>) -> Self {
        self.strategy = Some(strategy.into());
        self
    }

    /// Attaches an error reference (any category).
    #[must_use]
    pub fn with_reference(mut self, reference: ErrorReference) -> Self {
        self.reference = Some(reference);
        self
    }

    /// Marks `details` as built only from typed values — symbols, numbers,
    /// prices, quantities, enums, ids generated by this process — so the
    /// pattern scan over the strings inside `details` (values and object
    /// keys) is skipped, which is most of redaction's cost.
    ///
    /// What still applies: redaction by field name at any depth (a value
    /// under `api_key`, `token`, ... is still replaced: it is cheap), and
    /// the full pattern scan of the action, actor and strategy (caller
    /// strings, behind the cheap prefilter).
    ///
    /// **Weakens redaction**: never use it when any string in `details`
    /// comes from outside the process or from free text — broker messages,
    /// error texts, HTTP bodies, user input, configuration values. Such
    /// events must stay scanned.
    ///
    /// ```
    /// use asta_audit::AuditEvent;
    /// use serde_json::json;
    /// let fill = AuditEvent::trade("fill", "momentum",
    ///     json!({"symbol": "SBIN", "qty": 10, "price": "801.05", "order_id": "A1"}))
    ///     .typed_unchecked();
    /// assert!(fill.is_typed());
    /// ```
    #[must_use]
    pub fn typed_unchecked(mut self) -> Self {
        self.typed = true;
        self
    }

    /// Whether [`typed_unchecked`](AuditEvent::typed_unchecked) was set.
    pub fn is_typed(&self) -> bool {
        self.typed
    }

    /// Adds or replaces one detail.
    #[must_use]
    pub fn with_detail(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        self.encoded.retain(|field| *field.name != *name);
        self.details.insert(name, value.into());
        self
    }

    /// Adds or replaces one detail built from typed values, encoding it at
    /// once to the bytes the trail stores, without building a
    /// `serde_json::Value`: the fast path for the records an order writes.
    ///
    /// The record is byte for byte the one
    /// `with_detail(name, serde_json::to_value(value)?)` on a
    /// [`typed_unchecked`](AuditEvent::typed_unchecked) event writes
    /// (the tests check this on arbitrary values): keys sorted, field-name
    /// redaction applied at any depth (a value under `api_key`, `token`,
    /// ... is replaced), **no pattern scan of the strings inside `value`**,
    /// whether or not the event is marked `typed_unchecked`. A value the
    /// fast encoder does not model exactly (a map with non-string keys, a
    /// nesting deeper than [`MAX_DETAILS_DEPTH`](crate::MAX_DETAILS_DEPTH))
    /// goes through `serde_json::to_value` into the ordinary details
    /// instead (`null` if that fails too), where the usual checks apply.
    ///
    /// **Weakens redaction**, like `typed_unchecked`: never use it for a
    /// value holding a string from outside the process or free text
    /// (broker messages, error texts, user input); use
    /// [`with_detail`](AuditEvent::with_detail) for those.
    ///
    /// [`details`](AuditEvent::details) does not show fields added this way.
    ///
    /// ```
    /// use asta_audit::AuditEvent;
    /// use serde_json::{Value, json};
    /// let fill = AuditEvent::trade("fill", "momentum", Value::Null)
    ///     .with_typed_detail_unchecked("quantity", &10u64)
    ///     .with_typed_detail_unchecked("order", &json!({"symbol": "SBIN", "api_key": "x"}));
    /// assert!(fill.details().is_empty());
    /// ```
    #[must_use]
    pub fn with_typed_detail_unchecked<T: Serialize + ?Sized>(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: &T,
    ) -> Self {
        let name = name.into();
        if self.encoded.capacity() == 0 {
            // Typed records have a handful of fields: one allocation for
            // the list and one for all their text.
            self.encoded.reserve(8);
            self.encoded_json.reserve(256);
        }
        let start = self.encoded_json.len();
        match crate::typed::encode_field_into(&name, value, &mut self.encoded_json) {
            Ok(()) => {
                self.details.remove(&*name);
                self.encoded.retain(|field| field.name != name);
                let end = self.encoded_json.len();
                self.encoded.push(EncodedField { name, start, end });
                self
            }
            Err(_) => {
                let value = serde_json::to_value(value).unwrap_or(Value::Null);
                self.with_detail(name.into_owned(), value)
            }
        }
    }

    /// The category.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The action.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The details object (before redaction), without the fields added
    /// with [`with_typed_detail_unchecked`](AuditEvent::with_typed_detail_unchecked).
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }
}

/// Length of a MAC in bytes.
pub const MAC_LEN: usize = 32;

/// An HMAC-SHA256 tag of a record, printed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub(crate) [u8; MAC_LEN]);

impl Mac {
    /// The `prev` value of the first record: all zeros.
    pub const GENESIS: Mac = Mac([0u8; MAC_LEN]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; MAC_LEN] {
        &self.0
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(text: &str) -> Option<Mac> {
        Mac::from_hex_bytes(text.as_bytes())
    }

    /// [`Mac::from_hex`] on bytes (no UTF-8 check needed: any non-hex byte
    /// is refused). Table-driven and branch-free over the digits: the
    /// verifier decodes two MACs per record.
    pub(crate) fn from_hex_bytes(bytes: &[u8]) -> Option<Mac> {
        let digits: &[u8; 2 * MAC_LEN] = bytes.try_into().ok()?;
        let (pairs, _) = digits.as_chunks::<2>();
        let mut out = [0u8; MAC_LEN];
        let mut bad = 0u8;
        for (slot, &[hi, lo]) in out.iter_mut().zip(pairs) {
            let hi = HEX_VALUE[usize::from(hi)];
            let lo = HEX_VALUE[usize::from(lo)];
            bad |= hi | lo;
            *slot = (hi << 4) | (lo & 0x0f);
        }
        (bad & NOT_HEX == 0).then_some(Mac(out))
    }

    pub(crate) fn write_hex(&self, out: &mut String) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for b in self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
    }
}

/// Marks a byte that is not a lowercase hex digit in [`HEX_VALUE`].
const NOT_HEX: u8 = 0x80;

/// The value of each lowercase hex digit, [`NOT_HEX`] for any other byte
/// (a `u8` index cannot be out of bounds).
const HEX_VALUE: [u8; 256] = {
    let mut table = [NOT_HEX; 256];
    let mut i = 0;
    while i < 16 {
        let digit = b"0123456789abcdef"[i];
        table[digit as usize] = i as u8;
        i += 1;
    }
    table
};

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(2 * MAC_LEN);
        self.write_hex(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mac({self})")
    }
}

/// The newest record of a trail: its sequence number, MAC and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Sequence number (1 for the first record).
    pub seq: u64,
    /// The record's MAC.
    pub mac: Mac,
    /// The record's timestamp.
    pub ts: DateTime<Utc>,
}

/// What [`AuditLog::append`](crate::AuditLog::append) returns once the
/// record is written (and, unless its category is buffered, durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendReceipt {
    /// The record's sequence number.
    pub seq: u64,
    /// The record's MAC (the next record's `prev`).
    pub mac: Mac,
    /// The record's timestamp.
    pub ts: DateTime<Utc>,
    /// Whether the record had been fdatasync'd when the receipt was issued.
    pub durable: bool,
}

/// A record as read back from the trail.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Sequence number, contiguous from 1.
    pub seq: u64,
    /// UTC timestamp (RFC 3339, microseconds).
    pub ts: DateTime<Utc>,
    /// Category.
    pub category: Category,
    /// Action.
    pub action: String,
    /// Actor, if recorded.
    #[serde(default)]
    pub actor: Option<String>,
    /// Strategy, if recorded.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Details (redacted).
    pub details: Map<String, Value>,
    /// Error reference, if any.
    #[serde(default)]
    pub reference: Option<ErrorReference>,
    /// MAC of the previous record (64 hex digits).
    pub prev: String,
    /// MAC of this record (64 hex digits).
    pub mac: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn categories_round_trip() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
            assert_eq!(Category::ALL[c.index()], c);
        }
        assert!("order".parse::<Category>().is_err());
    }

    #[test]
    fn mac_hex_round_trip() {
        let mac = Mac([0xab; 32]);
        assert_eq!(Mac::from_hex(&mac.to_string()), Some(mac));
        assert_eq!(Mac::from_hex("AB"), None);
        assert_eq!(Mac::from_hex(&"AB".repeat(32)), None);
    }

    #[test]
    fn mac_hex_refuses_every_non_lowercase_hex_byte_anywhere() {
        let mac = Mac(std::array::from_fn(|i| (i as u8).wrapping_mul(37)));
        let hex = mac.to_string().into_bytes();
        assert_eq!(Mac::from_hex_bytes(&hex), Some(mac));
        for at in [0, 1, 31, 62, 63] {
            for b in 0..=255u8 {
                let mut edited = hex.clone();
                edited[at] = b;
                let is_digit = b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
                let decoded = Mac::from_hex_bytes(&edited);
                assert_eq!(decoded.is_some(), is_digit, "byte {b:#04x} at {at}");
                if let Some(d) = decoded {
                    assert_eq!(d.to_string().into_bytes(), edited);
                }
            }
        }
        assert_eq!(Mac::from_hex_bytes(&hex[..63]), None);
        assert_eq!(Mac::from_hex_bytes(&[hex.as_slice(), b"0"].concat()), None);
    }

    #[test]
    fn details_are_always_an_object() {
        assert!(AuditEvent::system("x", json!(null)).details().is_empty());
        assert_eq!(AuditEvent::system("x", json!(5)).details()["value"], 5);
        let approved =
            AuditEvent::risk_decision("check", "s", RiskDecision::Approved, json!({"a": 1}));
        assert_eq!(approved.details()["decision"], "APPROVED");
        assert!(!approved.details().contains_key("reason"));
    }
}
