//! The safe, public face of any failure.
//!
//! Internal errors carry detail (paths, broker messages, limits) that helps an
//! operator but must never reach an API client or a terminal unfiltered: it may
//! hold account data or, through a careless `format!`, a secret. A
//! [`PublicError`] holds only a stable [`ErrorCode`], a generic message chosen
//! by that code, and a random [`ErrorReference`]. The caller records the
//! internal detail (in the audit trail) under the same reference, so a user who
//! reports `INTERNAL_ERROR, ref ERR-7F3K9QX2MA` can be helped without the
//! detail ever leaving the process.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Stable, machine-readable category of a public error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request was malformed or failed validation; fix the input.
    InvalidInput,
    /// The caller may not do this (missing confirmation, scope or mode).
    PermissionDenied,
    /// A pre-trade risk check rejected the order.
    RiskRejected,
    /// A rate limit was reached; try later.
    RateLimited,
    /// Trading is halted; only cancels are accepted.
    Halted,
    /// The broker could not be reached or refused service; nothing was placed.
    BrokerUnavailable,
    /// The order may or may not have reached the exchange; reconcile before retrying.
    OutcomeUnknown,
    /// An earlier identical order's outcome is still being checked; nothing
    /// was sent. Try again once it is resolved (a sync or an operator).
    OutcomePending,
    /// Anything else: a bug or an environment failure.
    InternalError,
}

impl ErrorCode {
    /// Every code, in a stable order.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::InvalidInput,
        ErrorCode::PermissionDenied,
        ErrorCode::RiskRejected,
        ErrorCode::RateLimited,
        ErrorCode::Halted,
        ErrorCode::BrokerUnavailable,
        ErrorCode::OutcomeUnknown,
        ErrorCode::OutcomePending,
        ErrorCode::InternalError,
    ];

    /// The wire form, e.g. `RISK_REJECTED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "INVALID_INPUT",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::RiskRejected => "RISK_REJECTED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::Halted => "HALTED",
            ErrorCode::BrokerUnavailable => "BROKER_UNAVAILABLE",
            ErrorCode::OutcomeUnknown => "OUTCOME_UNKNOWN",
            ErrorCode::OutcomePending => "OUTCOME_PENDING",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }

    /// The generic message shown for this code. It never depends on the
    /// internal error, so it cannot leak anything.
    pub const fn generic_message(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "The request is invalid.",
            ErrorCode::PermissionDenied => "This operation is not permitted.",
            ErrorCode::RiskRejected => "The order was rejected by a risk check.",
            ErrorCode::RateLimited => "Too many requests; try again later.",
            ErrorCode::Halted => "Trading is halted; only cancellations are accepted.",
            ErrorCode::BrokerUnavailable => "The broker is unavailable; nothing was placed.",
            ErrorCode::OutcomeUnknown => {
                "The order outcome is unknown; check the order book before retrying."
            }
            ErrorCode::OutcomePending => {
                "An earlier identical order's outcome is being checked; nothing was sent."
            }
            ErrorCode::InternalError => "An internal error occurred.",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when text is not a known [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown error code (expected one of INVALID_INPUT, PERMISSION_DENIED, RISK_REJECTED, RATE_LIMITED, HALTED, BROKER_UNAVAILABLE, OUTCOME_UNKNOWN, OUTCOME_PENDING, INTERNAL_ERROR)"
)]
pub struct UnknownErrorCode;

impl FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == s)
            .ok_or(UnknownErrorCode)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Alphabet for references: Crockford base32 (no I, L, O, U), easy to read aloud.
const REFERENCE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const REFERENCE_PREFIX: &str = "ERR-";
const REFERENCE_LEN: usize = 10;

/// A random id that ties a [`PublicError`] to the internal detail recorded
/// under it, e.g. `ERR-7F3K9QX2MA`.
///
/// Ten Crockford base32 characters (50 random bits) after `ERR-`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorReference(String);

impl ErrorReference {
    /// A fresh random reference from the operating system's random source.
    ///
    /// If the random source fails (it does not on supported systems), a
    /// process-unique sequential reference is returned instead: references
    /// must always exist, and they are identifiers, not secrets.
    pub fn generate() -> Self {
        let mut bytes = [0u8; REFERENCE_LEN];
        let symbols: [u8; REFERENCE_LEN] = match getrandom::fill(&mut bytes) {
            Ok(()) => bytes.map(|b| REFERENCE_ALPHABET[usize::from(b & 0x1f)]),
            Err(_) => {
                static FALLBACK: AtomicU64 = AtomicU64::new(1);
                let mut n = FALLBACK.fetch_add(1, Ordering::Relaxed);
                let mut out = [b'0'; REFERENCE_LEN];
                for slot in out.iter_mut().rev() {
                    *slot = REFERENCE_ALPHABET[(n & 0x1f) as usize];
                    n >>= 5;
                }
                out
            }
        };
        let mut text = String::with_capacity(REFERENCE_PREFIX.len() + REFERENCE_LEN);
        text.push_str(REFERENCE_PREFIX);
        text.extend(symbols.iter().map(|&b| char::from(b)));
        Self(text)
    }

    /// The reference as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ErrorReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorReference({})", self.0)
    }
}

impl fmt::Display for ErrorReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Error returned when text is not a well-formed [`ErrorReference`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "malformed error reference (expected ERR- followed by 10 characters of 0-9 and A-Z without I, L, O, U)"
)]
pub struct MalformedReference;

impl FromStr for ErrorReference {
    type Err = MalformedReference;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s.strip_prefix(REFERENCE_PREFIX).ok_or(MalformedReference)?;
        if body.len() == REFERENCE_LEN && body.bytes().all(|b| REFERENCE_ALPHABET.contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(MalformedReference)
        }
    }
}

impl Serialize for ErrorReference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ErrorReference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An error that knows which public category it belongs to.
///
/// Each library's error type implements this so that any failure can be turned
/// into a [`PublicError`] without looking at (and so without copying) its text.
pub trait PublicCode {
    /// The public category of this error.
    fn public_code(&self) -> ErrorCode;
}

/// The safe face of an error: code, generic message and reference.
///
/// Serializes to `{"status":"error","code":...,"message":...,"reference":...}`.
///
/// ```
/// use asta_core::{ErrorCode, PublicCode, PublicError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("broker said: session for user AB1234 expired at 03:00")]
/// struct BrokerSession;
///
/// impl PublicCode for BrokerSession {
///     fn public_code(&self) -> ErrorCode {
///         ErrorCode::BrokerUnavailable
///     }
/// }
///
/// let public = PublicError::from_error(&BrokerSession);
/// assert_eq!(public.code(), ErrorCode::BrokerUnavailable);
/// assert!(!public.to_string().contains("AB1234"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicError {
    code: ErrorCode,
    reference: ErrorReference,
}

impl PublicError {
    /// A public error with `code` and a fresh reference.
    pub fn new(code: ErrorCode) -> Self {
        Self::with_reference(code, ErrorReference::generate())
    }

    /// A public error with `code` under an existing reference (the one already
    /// used in the audit record that holds the detail).
    pub fn with_reference(code: ErrorCode, reference: ErrorReference) -> Self {
        Self { code, reference }
    }

    /// The public face of `error`: its code and a fresh reference. The text of
    /// `error` is never read.
    pub fn from_error<E: PublicCode + ?Sized>(error: &E) -> Self {
        Self::new(error.public_code())
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The generic message for the code.
    pub fn message(&self) -> &'static str {
        self.code.generic_message()
    }

    /// The reference under which the detail was recorded.
    pub fn reference(&self) -> &ErrorReference {
        &self.reference
    }
}

impl fmt::Display for PublicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (ref {})",
            self.code,
            self.message(),
            self.reference
        )
    }
}

impl std::error::Error for PublicError {}

impl Serialize for PublicError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut state = serializer.serialize_struct("PublicError", 4)?;
        state.serialize_field("status", "error")?;
        state.serialize_field("code", &self.code)?;
        state.serialize_field("message", self.message())?;
        state.serialize_field("reference", &self.reference)?;
        state.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("password=CANARY-hunter2 rejected for /home/trader/.env")]
    struct Leaky;

    impl PublicCode for Leaky {
        fn public_code(&self) -> ErrorCode {
            ErrorCode::InternalError
        }
    }

    #[test]
    fn codes_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert!("internal_error".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn public_error_serializes_to_the_documented_shape() {
        let reference: ErrorReference = "ERR-7F3K9QX2MA".parse().unwrap();
        let error = PublicError::with_reference(ErrorCode::RiskRejected, reference);
        let value = serde_json::to_value(&error).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "status": "error",
                "code": "RISK_REJECTED",
                "message": "The order was rejected by a risk check.",
                "reference": "ERR-7F3K9QX2MA",
            })
        );
    }

    #[test]
    fn internal_text_never_reaches_the_public_face() {
        let public = PublicError::from_error(&Leaky);
        let json = serde_json::to_string(&public).unwrap();
        for shown in [public.to_string(), format!("{public:?}"), json] {
            assert!(!shown.contains("CANARY"), "{shown}");
            assert!(!shown.contains("/home/trader"), "{shown}");
        }
    }

    #[test]
    fn references_are_well_formed_and_distinct() {
        let a = ErrorReference::generate();
        let b = ErrorReference::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<ErrorReference>(), Ok(a.clone()));
        assert_eq!(a.as_str().len(), 14);
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "ERR-",
            "ERR-123",
            "err-7F3K9QX2MA",
            "ERR-7F3K9QX2MI",
            "ERR-7F3K9QX2MA0",
            "X-7F3K9QX2MA",
        ] {
            assert_eq!(
                bad.parse::<ErrorReference>(),
                Err(MalformedReference),
                "{bad}"
            );
        }
    }
}
