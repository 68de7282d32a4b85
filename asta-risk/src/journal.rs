//! The journal: every input that changed the engine, numbered, stamped and
//! serializable, so that a snapshot plus the entries after it rebuild the
//! state exactly (see [`RiskEngine::restore`](crate::RiskEngine::restore)).
//!
//! One entry serializes as one JSON object:
//!
//! ```text
//! {"at":"2026-11-27T04:00:00Z","input":{"input":"CHECK_ORDER",...},"seq":7,"v":2}
//! ```
//!
//! Its keys come in sorted order (as in the audit trail's canonical form,
//! which then has nothing to reorder); readers take them in any order.
//! `v` is the entry format ([`JOURNAL_VERSION`]); `input` is internally
//! tagged by its `input` field. Unknown fields, unknown input kinds and newer
//! versions are refused with a typed [`JournalError`], never skipped: a
//! replay that silently dropped an entry could lose a loss or a halt.

use asta_core::{Exchange, Money, OrderId, OrderRequest, Price, Symbol};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::{Approval, CancelApproval, FillReport, ModifyApproval, OrderContext};
use crate::error::{JournalError, Rejection, ResetError};
use crate::trading_state::{StateScope, TradingState};

/// The journal entry format this build writes (it reads this and every
/// earlier one).
///
/// - 1: the first.
/// - 2: `ORDER_OPENED` may leave out an order its approval already holds
///   (a build that reads only version 1 refuses such entries by their
///   version, instead of finding them malformed).
pub const JOURNAL_VERSION: u32 = 2;

/// The oldest entry format this build reads.
const OLDEST_JOURNAL_VERSION: u32 = 1;

/// One input the engine applied, in order.
///
/// `seq` is gap-free and increases across restarts (a restored engine goes
/// on from the last entry it replayed); `at` is the engine clock's time the
/// call used, which a replay uses instead of its clock.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "WireEntry")]
pub struct JournalEntry {
    seq: u64,
    at: DateTime<Utc>,
    input: RiskInput,
}

/// The serialized shape of a [`JournalEntry`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    v: u32,
    seq: u64,
    at: DateTime<Utc>,
    input: RiskInput,
}

/// [`WireEntry`] borrowing the entry: serializing an entry (every order
/// writes several) copies nothing. Its fields are in key order, the order
/// the audit trail's canonical form writes them in, so that encoder has
/// nothing to sort.
#[derive(Serialize)]
struct WireEntryRef<'a> {
    #[serde(serialize_with = "asta_core::serialize_utc")]
    at: &'a DateTime<Utc>,
    input: &'a RiskInput,
    seq: u64,
    v: u32,
}

impl Serialize for JournalEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireEntryRef {
            at: &self.at,
            input: &self.input,
            seq: self.seq,
            v: JOURNAL_VERSION,
        }
        .serialize(serializer)
    }
}

/// Whether this build reads entry format `v` (see [`JOURNAL_VERSION`]).
fn readable_version(v: u64) -> Result<(), JournalError> {
    if (u64::from(OLDEST_JOURNAL_VERSION)..=u64::from(JOURNAL_VERSION)).contains(&v) {
        Ok(())
    } else {
        Err(JournalError::UnsupportedVersion {
            found: v,
            supported: JOURNAL_VERSION,
        })
    }
}

impl TryFrom<WireEntry> for JournalEntry {
    type Error = JournalError;

    fn try_from(wire: WireEntry) -> Result<Self, Self::Error> {
        readable_version(u64::from(wire.v))?;
        if wire.v < 2
            && let RiskInput::OrderOpened { order: None, .. } = &wire.input
        {
            return Err(JournalError::Malformed {
                detail: "a version 1 ORDER_OPENED entry must hold its order".to_owned(),
            });
        }
        Ok(JournalEntry {
            seq: wire.seq,
            at: wire.at,
            input: wire.input,
        })
    }
}

impl JournalEntry {
    pub(crate) fn new(seq: u64, at: DateTime<Utc>, input: RiskInput) -> Self {
        Self { seq, at, input }
    }

    /// The entry's sequence number (1 for the first entry of a fresh state).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The time the engine used for the call.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// What the call was, with its recorded outcome.
    pub fn input(&self) -> &RiskInput {
        &self.input
    }

    /// Reads an entry from JSON text (as the caller stored it).
    ///
    /// Unlike a plain `serde_json::from_str`, a newer entry version and an
    /// unknown input kind get their own error variants, so the caller can
    /// say "written by a newer build" instead of "malformed".
    pub fn from_json(text: &str) -> Result<Self, JournalError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(malformed)?;
        Self::from_json_value(value)
    }

    /// Reads an entry from a JSON value (e.g. a field of an audit record).
    /// See [`from_json`](Self::from_json).
    pub fn from_json_value(value: serde_json::Value) -> Result<Self, JournalError> {
        if let Some(Some(v)) = value.get("v").map(serde_json::Value::as_u64) {
            readable_version(v)?;
        }
        if let Some(kind) = value
            .get("input")
            .and_then(|input| input.get("input"))
            .and_then(serde_json::Value::as_str)
            && !RiskInput::KINDS.contains(&kind)
        {
            return Err(JournalError::UnknownInput {
                kind: kind.chars().take(64).collect(),
            });
        }
        serde_json::from_value(value).map_err(malformed)
    }
}

fn malformed(error: serde_json::Error) -> JournalError {
    JournalError::Malformed {
        detail: error.to_string(),
    }
}

/// A public call that changed (or could change) the engine, with what it
/// took and, for decisions, what it decided.
///
/// Only what the call took is recorded: orders as their fields, reasons and
/// details as given. TOTP codes are never recorded: a reset is recorded as
/// applied or refused, and a replay applies it without asking a verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "input",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum RiskInput {
    /// A fresh, ACTIVE state began (its IST day is the entry's `at`). Only
    /// the first entry (seq 1) of a journal without a snapshot.
    Start,
    /// [`RiskEngine::check_order`](crate::RiskEngine::check_order).
    CheckOrder {
        /// The order.
        order: OrderRequest,
        /// Its context.
        context: OrderContext,
        /// The decision.
        outcome: OrderOutcome,
    },
    /// [`RiskEngine::check_batch`](crate::RiskEngine::check_batch).
    CheckBatch {
        /// The orders.
        orders: Vec<OrderRequest>,
        /// Their context.
        context: OrderContext,
        /// The decision.
        outcome: BatchOutcome,
    },
    /// [`RiskEngine::check_modify`](crate::RiskEngine::check_modify).
    CheckModify {
        /// The open order.
        order_id: OrderId,
        /// Its new content.
        order: OrderRequest,
        /// Its context.
        context: OrderContext,
        /// The decision.
        outcome: ModifyOutcome,
    },
    /// [`RiskEngine::check_cancel`](crate::RiskEngine::check_cancel).
    CheckCancel {
        /// The order.
        order_id: OrderId,
        /// The decision.
        outcome: CancelOutcome,
    },
    /// [`RiskEngine::update_quote`](crate::RiskEngine::update_quote).
    UpdateQuote {
        /// Exchange.
        exchange: Exchange,
        /// Symbol.
        symbol: Symbol,
        /// Price.
        price: Price,
    },
    /// [`RiskEngine::record_fill`](crate::RiskEngine::record_fill).
    RecordFill {
        /// The fill.
        fill: FillReport,
    },
    /// [`RiskEngine::order_opened`](crate::RiskEngine::order_opened).
    OrderOpened {
        // Fields in key order after the tag: nothing to sort when encoded.
        /// The order; left out when it is exactly the order the approval
        /// `ticket` holds (the `CHECK_ORDER` entry that approved it has it
        /// already), and replay takes it from that approval. An entry
        /// without its order whose ticket is not pending at replay is a
        /// divergence (the account halts), never a guess.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<OrderRequest>,
        /// The broker's order id.
        order_id: OrderId,
        /// The approval's ticket number, if any.
        ticket: Option<u64>,
    },
    /// [`RiskEngine::release_approval`](crate::RiskEngine::release_approval).
    ReleaseApproval {
        /// The ticket number.
        ticket: u64,
    },
    /// [`RiskEngine::order_closed`](crate::RiskEngine::order_closed).
    OrderClosed {
        /// The order.
        order_id: OrderId,
    },
    /// [`RiskEngine::halt`](crate::RiskEngine::halt) (account) or
    /// [`RiskEngine::halt_strategy`](crate::RiskEngine::halt_strategy).
    Halt {
        /// The scope halted.
        scope: StateScope,
        /// Why.
        reason: String,
    },
    /// [`RiskEngine::set_reducing`](crate::RiskEngine::set_reducing).
    SetReducing {
        /// The scope.
        scope: StateScope,
        /// Why.
        reason: String,
    },
    /// [`RiskEngine::reset`](crate::RiskEngine::reset) or
    /// [`RiskEngine::reset_scope`](crate::RiskEngine::reset_scope).
    Reset {
        /// The operator (`<invalid>` for a name that was not acceptable).
        operator: String,
        /// The scope.
        scope: StateScope,
        /// The requested state.
        target: TradingState,
        /// Applied or refused (the TOTP code is never recorded).
        outcome: ResetOutcome,
    },
    /// [`RiskEngine::report_audit_failure`](crate::RiskEngine::report_audit_failure).
    AuditFailure {
        /// Detail as given.
        detail: String,
    },
    /// [`RiskEngine::report_auth_failure`](crate::RiskEngine::report_auth_failure).
    AuthFailure {
        /// Detail as given.
        detail: String,
    },
    /// [`RiskEngine::record_failed_login`](crate::RiskEngine::record_failed_login).
    FailedLogin {
        /// The source, as the engine tracks it (normalized).
        source: String,
    },
    /// A restore found replayed decisions that differ from the recorded
    /// ones and halted the account.
    DivergenceHalt {
        /// What differed.
        detail: String,
    },
}

impl RiskInput {
    /// The serialized `input` tag of every kind this build knows.
    pub const KINDS: &'static [&'static str] = &[
        "START",
        "CHECK_ORDER",
        "CHECK_BATCH",
        "CHECK_MODIFY",
        "CHECK_CANCEL",
        "UPDATE_QUOTE",
        "RECORD_FILL",
        "ORDER_OPENED",
        "RELEASE_APPROVAL",
        "ORDER_CLOSED",
        "HALT",
        "SET_REDUCING",
        "RESET",
        "AUDIT_FAILURE",
        "AUTH_FAILURE",
        "FAILED_LOGIN",
        "DIVERGENCE_HALT",
    ];

    /// The serialized `input` tag of this input, e.g. `CHECK_ORDER`.
    pub fn kind(&self) -> &'static str {
        match self {
            RiskInput::Start => "START",
            RiskInput::CheckOrder { .. } => "CHECK_ORDER",
            RiskInput::CheckBatch { .. } => "CHECK_BATCH",
            RiskInput::CheckModify { .. } => "CHECK_MODIFY",
            RiskInput::CheckCancel { .. } => "CHECK_CANCEL",
            RiskInput::UpdateQuote { .. } => "UPDATE_QUOTE",
            RiskInput::RecordFill { .. } => "RECORD_FILL",
            RiskInput::OrderOpened { .. } => "ORDER_OPENED",
            RiskInput::ReleaseApproval { .. } => "RELEASE_APPROVAL",
            RiskInput::OrderClosed { .. } => "ORDER_CLOSED",
            RiskInput::Halt { .. } => "HALT",
            RiskInput::SetReducing { .. } => "SET_REDUCING",
            RiskInput::Reset { .. } => "RESET",
            RiskInput::AuditFailure { .. } => "AUDIT_FAILURE",
            RiskInput::AuthFailure { .. } => "AUTH_FAILURE",
            RiskInput::FailedLogin { .. } => "FAILED_LOGIN",
            RiskInput::DivergenceHalt { .. } => "DIVERGENCE_HALT",
        }
    }
}

/// A rejection as recorded: its rule and message (enough to compare a
/// replayed decision with the recorded one and to show it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRejection {
    /// The rule, e.g. `PRICE_COLLAR` ([`Rejection::rule`]).
    pub rule: String,
    /// The message ([`Rejection`]'s `Display`).
    pub message: String,
}

impl From<&Rejection> for RecordedRejection {
    fn from(rejection: &Rejection) -> Self {
        Self {
            rule: rejection.rule().to_owned(),
            message: rejection.to_string(),
        }
    }
}

/// The recorded decision on a new order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "result",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum OrderOutcome {
    /// Approved.
    Approved {
        /// The approval's ticket number.
        ticket: u64,
        /// The notional the checks used.
        notional: Money,
    },
    /// Rejected.
    Rejected(RecordedRejection),
}

impl OrderOutcome {
    pub(crate) fn of(result: &Result<Approval, Rejection>) -> Self {
        match result {
            Ok(approval) => OrderOutcome::Approved {
                ticket: approval.ticket.get(),
                notional: approval.notional,
            },
            Err(rejection) => OrderOutcome::Rejected(rejection.into()),
        }
    }
}

/// One approved order of a batch, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchApproval {
    /// The approval's ticket number.
    pub ticket: u64,
    /// The notional the checks used.
    pub notional: Money,
}

/// The recorded decision on a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "result",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// Every order approved, in order.
    Approved {
        /// The approvals.
        approvals: Vec<BatchApproval>,
    },
    /// The batch was rejected.
    Rejected(RecordedRejection),
}

impl BatchOutcome {
    pub(crate) fn of(result: &Result<Vec<Approval>, Rejection>) -> Self {
        match result {
            Ok(approvals) => BatchOutcome::Approved {
                approvals: approvals
                    .iter()
                    .map(|a| BatchApproval {
                        ticket: a.ticket.get(),
                        notional: a.notional,
                    })
                    .collect(),
            },
            Err(rejection) => BatchOutcome::Rejected(rejection.into()),
        }
    }
}

/// The recorded decision on a modification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "result",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum ModifyOutcome {
    /// Approved.
    Approved {
        /// Modifications approved for the order so far, this one included.
        modifications: u32,
    },
    /// Rejected.
    Rejected(RecordedRejection),
}

impl ModifyOutcome {
    pub(crate) fn of(result: &Result<ModifyApproval, Rejection>) -> Self {
        match result {
            Ok(approval) => ModifyOutcome::Approved {
                modifications: approval.modifications,
            },
            Err(rejection) => ModifyOutcome::Rejected(rejection.into()),
        }
    }
}

/// The recorded decision on a cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "result",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// Allowed.
    Allowed {
        /// Whether it counted against the rate limits.
        counted: bool,
    },
    /// Denied (only when cancels count and a window is full).
    Denied(RecordedRejection),
}

impl CancelOutcome {
    pub(crate) fn of(result: &Result<CancelApproval, Rejection>) -> Self {
        match result {
            Ok(approval) => CancelOutcome::Allowed {
                counted: approval.counted,
            },
            Err(rejection) => CancelOutcome::Denied(rejection.into()),
        }
    }
}

/// The recorded result of an operator reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "result",
    rename_all = "SCREAMING_SNAKE_CASE",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum ResetOutcome {
    /// Authorized and applied: a replay applies it again without a verifier.
    Applied,
    /// Refused: a replay records the refusal again and changes nothing else.
    Refused {
        /// Why ([`ResetError`]'s `Display`).
        reason: String,
    },
}

impl ResetOutcome {
    pub(crate) fn of(result: &Result<(), ResetError>) -> Self {
        match result {
            Ok(()) => ResetOutcome::Applied,
            Err(error) => ResetOutcome::Refused {
                reason: error.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_serializes_as_its_wire_form_in_field_order() {
        for text in [
            r#"{"at":"2026-11-27T04:00:00Z","input":{"input":"START"},"seq":7,"v":2}"#,
            r#"{"at":"2026-11-27T04:00:00.101Z","input":{"input":"RELEASE_APPROVAL","ticket":3},"seq":8,"v":2}"#,
        ] {
            let entry = JournalEntry::from_json(text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(serde_json::to_string(&entry).ok().as_deref(), Some(text));
        }
        // Version 1 entries (earlier trails) are read, and written anew as
        // version 2 (the same entry: version 2 only allows more).
        let v1 = r#"{"v":1,"seq":8,"at":"2026-11-27T04:00:00.101Z","input":{"input":"RELEASE_APPROVAL","ticket":3}}"#;
        let entry = JournalEntry::from_json(v1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            serde_json::to_string(&entry).ok().as_deref(),
            Some(
                r#"{"at":"2026-11-27T04:00:00.101Z","input":{"input":"RELEASE_APPROVAL","ticket":3},"seq":8,"v":2}"#
            )
        );
    }
}
