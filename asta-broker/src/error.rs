//! The one error type of every [`Broker`](crate::Broker) call.

use std::time::Duration;

use asta_core::{ErrorCode, ErrorReference, PublicCode, PublicError};

/// The longest broker-supplied text kept inside an error, in characters.
pub const MAX_REASON_CHARS: usize = 200;

/// Why a broker call failed, split by what the caller can do about it.
///
/// The first question after a failed placement is *could the order be at
/// the exchange?* [`BrokerError::definitely_not_placed`] answers it:
/// `Rejected`, `RateLimited`, `AuthFailed`, `Unavailable` and `NotFound` mean
/// no order exists because of this call; `OutcomeUnknown` and `Protocol` mean
/// one may, and the order book must be reconciled before anything is retried.
///
/// Messages never contain a secret, a URL or a raw response body: broker text
/// is cut to [`MAX_REASON_CHARS`] characters, stripped of control characters
/// and scrubbed of the API key by the adapter that builds the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The broker refused the request; nothing was placed, modified or cancelled.
    #[error("rejected by the broker: {reason}")]
    Rejected {
        /// The broker's reason (bounded, sanitized).
        reason: String,
    },
    /// A rate limit (the broker's or the adapter's own) refused the request
    /// before it was acted on.
    #[error("rate limited{}", retry_after.map(|d| format!("; retry after {} ms", d.as_millis())).unwrap_or_default())]
    RateLimited {
        /// How long to wait, when known.
        retry_after: Option<Duration>,
    },
    /// The API key is invalid, lacks permission, or the broker session expired
    /// (OpenAlgo sessions expire daily around 03:00 IST). Nothing was done.
    #[error("authentication failed: {reason}")]
    AuthFailed {
        /// The broker's reason (bounded, sanitized; never the key).
        reason: String,
    },
    /// The request may have been acted on (a timeout, a 5xx, a dropped
    /// connection or an unreadable answer after it was sent). Reconcile with
    /// the order book before retrying anything.
    #[error("outcome unknown: {detail}")]
    OutcomeUnknown {
        /// What happened, including what reconciliation found.
        detail: String,
    },
    /// The broker could not be reached or refused service before acting
    /// (connection refused, server error on a read-only call).
    #[error("broker unavailable: {detail}")]
    Unavailable {
        /// What happened.
        detail: String,
    },
    /// The order (or other object) does not exist at the broker.
    #[error("not found: {detail}")]
    NotFound {
        /// What was looked for.
        detail: String,
    },
    /// The broker answered something this adapter does not understand
    /// (malformed JSON, wrong content type, a missing field, an oversized body).
    #[error("unexpected broker response: {detail}")]
    Protocol {
        /// What was wrong (never the body itself).
        detail: String,
    },
    /// The server answered from a different mode than the one this adapter
    /// was built for (an OpenAlgo server switched between analyzer and live
    /// mode, or an answer without the expected `mode`). The request **was
    /// sent**: it may or may not have been acted on, and on a server that
    /// now trades for real. A [`Guard`](crate::Guard) halts trading on it.
    #[error(
        "the server's mode changed: expected {expected}, the answer says {found}; the request was sent and may or may not have been acted on"
    )]
    ModeMismatch {
        /// The mode the adapter was built for (`analyze` or `live`).
        expected: &'static str,
        /// What the answer said (`live`, `semi_auto`, `missing`, ...; bounded, sanitized).
        found: String,
    },
    /// The order was accepted into a manual-approval queue (OpenAlgo's
    /// semi-auto mode answers with a `pending_order_id`): it is not at the
    /// exchange yet, but an operator may still approve it there, so it must
    /// be treated as possibly placed until it shows up in the order book or
    /// is rejected.
    #[error(
        "queued for manual approval (pending id {pending_id}); not at the exchange yet, but it may still be approved"
    )]
    PendingApproval {
        /// The broker's id of the queued request (bounded, sanitized).
        pending_id: String,
    },
    /// This broker does not offer the operation (a default method of
    /// [`Broker`](crate::Broker)). Nothing was sent.
    #[error("{operation} is not supported by this broker; nothing was sent")]
    NotSupported {
        /// The operation, e.g. `trade_book`.
        operation: &'static str,
    },
    /// The [`Guard`](crate::Guard) refused the request before it reached the
    /// broker (an instrument rule, the mode gate, the trading state, a risk
    /// check, an audit failure). Nothing was sent. The audit record under
    /// `reference` holds the detail.
    #[error("refused by the guard ({code}): {reason} (ref {reference})")]
    Refused {
        /// The public category (`INVALID_INPUT`, `PERMISSION_DENIED`,
        /// `RISK_REJECTED`, `RATE_LIMITED`, `HALTED`, ...).
        code: ErrorCode,
        /// Why (rule, limit and value; never a secret).
        reason: String,
        /// The reference of the audit record that holds the detail.
        reference: ErrorReference,
    },
    /// An error of the wrapped broker, recorded by the
    /// [`Guard`](crate::Guard) in the audit trail under `reference`. Every
    /// question about it ([`definitely_not_placed`](Self::definitely_not_placed),
    /// [`is_transient`](Self::is_transient), the public code) is answered by
    /// the wrapped error; [`root`](Self::root) returns it.
    #[error("{error} (ref {reference})")]
    Referenced {
        /// The reference of the audit record that holds the detail.
        reference: ErrorReference,
        /// The broker's error.
        error: Box<BrokerError>,
    },
}

impl BrokerError {
    /// A rejection with `reason` (sanitized and bounded here).
    pub fn rejected(reason: &str) -> Self {
        Self::Rejected {
            reason: sanitize_text(reason, MAX_REASON_CHARS),
        }
    }

    /// An unknown outcome with `detail` (sanitized and bounded here).
    pub fn outcome_unknown(detail: &str) -> Self {
        Self::OutcomeUnknown {
            detail: sanitize_text(detail, MAX_REASON_CHARS * 2),
        }
    }

    /// Whether this error proves that the request was **not** acted on, so an
    /// order placement can be retried (after fixing the cause) without
    /// risking a duplicate.
    ///
    /// `OutcomeUnknown`, `Protocol`, `ModeMismatch` and `PendingApproval`
    /// return `false`: the order may exist (or may still come to exist).
    /// `Refused` returns `true` (the guard never called the broker);
    /// `Referenced` answers for the error it wraps.
    pub fn definitely_not_placed(&self) -> bool {
        match self {
            Self::Rejected { .. }
            | Self::RateLimited { .. }
            | Self::AuthFailed { .. }
            | Self::Unavailable { .. }
            | Self::NotFound { .. }
            | Self::NotSupported { .. }
            | Self::Refused { .. } => true,
            Self::OutcomeUnknown { .. }
            | Self::Protocol { .. }
            | Self::ModeMismatch { .. }
            | Self::PendingApproval { .. } => false,
            Self::Referenced { error, .. } => error.definitely_not_placed(),
        }
    }

    /// Whether trying the same read-only call again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { .. } | Self::Unavailable { .. } => true,
            Self::Referenced { error, .. } => error.is_transient(),
            _ => false,
        }
    }

    /// The broker's own error: the wrapped error of a `Referenced`, `self`
    /// otherwise. Match on this to handle guarded and bare brokers alike.
    pub fn root(&self) -> &BrokerError {
        match self {
            Self::Referenced { error, .. } => error.root(),
            other => other,
        }
    }

    /// The audit reference this error carries (errors produced or recorded
    /// by a [`Guard`](crate::Guard) always carry one).
    pub fn reference(&self) -> Option<&ErrorReference> {
        match self {
            Self::Refused { reference, .. } | Self::Referenced { reference, .. } => Some(reference),
            _ => None,
        }
    }

    /// Whether this error says that the venue is not the one the adapter
    /// was built for ([`BrokerError::ModeMismatch`], possibly wrapped).
    pub fn is_mode_mismatch(&self) -> bool {
        matches!(self.root(), Self::ModeMismatch { .. })
    }

    /// A "not supported" answer for `operation`.
    pub fn not_supported(operation: &'static str) -> Self {
        Self::NotSupported { operation }
    }

    /// The safe face of this error for a user: its public code, the generic
    /// message and its audit reference.
    ///
    /// For an error from a [`Guard`](crate::Guard) the reference is the one
    /// of the audit record holding the detail. An error from a bare broker
    /// carries none; it gets a fresh reference that is **not** in any audit
    /// trail (use [`Guard::public_error`](crate::Guard::public_error) to
    /// record it first).
    pub fn public_error(&self) -> PublicError {
        match self.reference() {
            Some(reference) => PublicError::with_reference(self.public_code(), reference.clone()),
            None => PublicError::new(self.public_code()),
        }
    }
}

impl PublicCode for BrokerError {
    /// `Rejected` and `NotFound` are `INVALID_INPUT`; `AuthFailed` is
    /// `BROKER_UNAVAILABLE` (the session must be renewed; nothing was placed);
    /// `Protocol` is `INTERNAL_ERROR`; `ModeMismatch` is `HALTED` (a guard
    /// halts on it); `PendingApproval` is `OUTCOME_UNKNOWN`; `NotSupported`
    /// is `INVALID_INPUT`; `Refused` carries its code;
    /// `Referenced` uses the wrapped error's.
    fn public_code(&self) -> ErrorCode {
        match self {
            Self::Rejected { .. } | Self::NotFound { .. } | Self::NotSupported { .. } => {
                ErrorCode::InvalidInput
            }
            Self::ModeMismatch { .. } => ErrorCode::Halted,
            Self::PendingApproval { .. } => ErrorCode::OutcomeUnknown,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::AuthFailed { .. } | Self::Unavailable { .. } => ErrorCode::BrokerUnavailable,
            Self::OutcomeUnknown { .. } => ErrorCode::OutcomeUnknown,
            Self::Protocol { .. } => ErrorCode::InternalError,
            Self::Refused { code, .. } => *code,
            Self::Referenced { error, .. } => error.public_code(),
        }
    }
}

/// Makes untrusted text safe to keep in an error or log line: control
/// characters become spaces, runs of 32 or more hex digits or base64-like
/// characters (key material) become `[REDACTED]`, and the result is cut to
/// `max_chars` characters with a trailing `…`.
pub(crate) fn sanitize_text(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let redacted = redact_long_tokens(&cleaned);
    let mut out: String = redacted.chars().take(max_chars).collect();
    if redacted.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// Replaces every run of 32 or more `[A-Za-z0-9_+/=-]` characters: no word in a
/// human-readable broker message is that long, while API keys and tokens are.
fn redact_long_tokens(text: &str) -> String {
    const MIN_TOKEN: usize = 32;
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "_+/=-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        if is_token_char(c) {
            run.push(c);
        } else {
            flush_run(&mut out, &mut run, MIN_TOKEN);
            out.push(c);
        }
    }
    flush_run(&mut out, &mut run, MIN_TOKEN);
    out
}

fn flush_run(out: &mut String, run: &mut String, min: usize) {
    if run.chars().count() >= min {
        out.push_str("[REDACTED]");
    } else {
        out.push_str(run);
    }
    run.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_certainty() {
        assert!(BrokerError::rejected("x").definitely_not_placed());
        assert!(BrokerError::RateLimited { retry_after: None }.definitely_not_placed());
        assert!(!BrokerError::outcome_unknown("timeout").definitely_not_placed());
        assert!(
            !BrokerError::Protocol {
                detail: "bad json".into()
            }
            .definitely_not_placed()
        );
    }

    #[test]
    fn public_codes() {
        assert_eq!(
            BrokerError::outcome_unknown("t").public_code(),
            ErrorCode::OutcomeUnknown
        );
        assert_eq!(
            BrokerError::RateLimited { retry_after: None }.public_code(),
            ErrorCode::RateLimited
        );
        assert_eq!(
            BrokerError::AuthFailed { reason: "x".into() }.public_code(),
            ErrorCode::BrokerUnavailable
        );
    }

    #[test]
    fn sanitizing_cuts_controls_and_tokens() {
        let key = "a".repeat(64);
        let text = format!("bad key {key}\nnext line");
        let clean = sanitize_text(&text, 200);
        assert!(!clean.contains(&key));
        assert!(!clean.contains('\n'));
        assert!(clean.contains("[REDACTED]"));
        let long = "word ".repeat(100);
        let cut = sanitize_text(&long, 20);
        assert_eq!(cut.chars().count(), 21);
        assert_eq!(
            sanitize_text("Symbol NOSUCH not found on NSE", 200),
            "Symbol NOSUCH not found on NSE"
        );
    }
}
