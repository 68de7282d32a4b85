//! Tamper-evident, durable audit trail for ASTA, with secret redaction and
//! verification.
//!
//! A trading system that handles real money must be able to show what it
//! did, prove that nobody edited that record afterwards, survive a crash
//! without losing anything it acknowledged, and never write a secret. This
//! crate does that for one append-only trail:
//!
//! - **Records** are JSON Lines in segment files: `seq` (contiguous from 1),
//!   `ts` (UTC, RFC 3339, microseconds), `category` ([`Category`]: `TRADE`,
//!   `ORDER`, `RISK`, `SYSTEM`, `SECURITY`, `ERROR`), `action`, optional
//!   `actor` and `strategy`, a `details` object, an optional error
//!   `reference` (asta-core's [`ErrorReference`]),
//!   `prev` (the previous record's MAC) and `mac`, an HMAC-SHA256 over the
//!   record's canonical bytes under a [`ChainKey`] that is never stored in
//!   the log. Build events with [`AuditEvent`]'s helpers.
//! - **Durability**: [`AuditLog::append`] (blocking) and
//!   [`AuditLog::append_async`] return only after `fdatasync`, unless a
//!   category was explicitly configured [`Durability::Buffered`].
//!   [`AuditLog::append_deferred`] returns as soon as the record has its
//!   seq and MAC; it becomes durable with the next group commit (a later
//!   durable append, [`AuditLog::sync`], or a background flush within
//!   [`AuditConfigBuilder::deferred_flush_delay`], default 50 ms).
//!   [`AuditLog::append_batch`] appends several records with one hand-off
//!   and at most one fdatasync wait. Concurrent appenders share fsyncs
//!   (group commit) in one total order; durability is always a prefix of
//!   that order. A full pending buffer makes appenders wait, nothing is
//!   dropped. A failed write or fsync poisons the log for good
//!   ([`AuditLog::is_poisoned`]): stop trading.
//! - **Crash recovery**: a torn final line is cut on open and a `SYSTEM`
//!   record says what was cut; any other damage refuses to open.
//! - **Segments** rotate by size (default 100 MiB), files are 0600 in a 0700
//!   directory, and [`AuditLog::prune`] deletes only segments older than the
//!   retention period (default 1825 days), leaving an authenticated anchor.
//!   The writer keeps up to 1 MiB of zeros written past the newest record
//!   and writes over them, so an fdatasync only flushes data, not a new
//!   file length (faster and steadier). Readers stop at the zeros; close
//!   and rotation trim them, so only a crashed trail's newest segment ends
//!   in zeros until it is opened again. A tool reading segment files
//!   directly should stop at the first zero byte.
//! - **Checkpoints** ([`Checkpoint`]) export the head as a short text;
//!   [`verify`] against one detects truncation and rollback.
//! - **Redaction** ([`redact_value`], [`redact_text`]) runs on every event
//!   before anything is written, behind a cheap literal prefilter; details
//!   built from typed values ([`AuditEvent::typed_unchecked`]) skip the
//!   pattern scan but not field-name redaction.
//!   [`AuditEvent::with_typed_detail_unchecked`] goes further for the
//!   records a trading system writes per order: it encodes a `Serialize`
//!   value straight to the bytes the trail stores (field-name redaction
//!   applied on the way), without building a `serde_json::Value`; the
//!   bytes are those of the `Value` path.
//! - **Verification** ([`verify`]) streams through all segments (several
//!   at a time on a multi-core machine; the links across segment
//!   boundaries are still checked) and names the first bad record and what
//!   is wrong with it.
//! - An optional [`AuditLayer`] turns `tracing` events with target `audit`
//!   into records; the rest of the API does not depend on it.
//!
//! The key design decision is **leader/follower group commit in the
//! callers' threads**: an appender takes one short lock in which the record
//! gets the next seq and the previous MAC (one total order) and its line is
//! added to a pending buffer; an appender that needs durability and finds
//! no commit in progress becomes the leader, writes everything pending with
//! one `write` and one `fdatasync` outside the lock, and wakes the others
//! whose records that covered. Durability costs one sync per group, not per
//! record, and no record needs a wake-up of another thread. When commits
//! find several appenders waiting for durability, a leader waits briefly
//! (until nothing new arrives, at most half a sync) before it syncs, so
//! concurrent appenders share one sync instead of taking turns. (An earlier
//! design used a writer thread fed by a queue; its round trip per record
//! cost more than the work.)
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! // The clock and error reference types are re-exported from asta-core.
//! use asta_audit::{
//!     AuditConfig, AuditEvent, AuditLog, ChainKey, ErrorReference, RiskDecision, SystemClock,
//!     Verification, verify,
//! };
//! use serde_json::json;
//!
//! let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("audit");
//! let key = ChainKey::from_bytes(&[7u8; 32])?; // in production: ChainKey::from_env("ASTA_AUDIT_KEY")
//! let log = AuditLog::open(&dir, key.clone(), AuditConfig::default(), Arc::new(SystemClock))?;
//!
//! log.append(AuditEvent::risk_decision("pre_trade", "momentum", RiskDecision::Approved,
//!     json!({"symbol": "SBIN", "qty": 10})))?;
//! log.append(AuditEvent::order("place_intent", "momentum",
//!     json!({"symbol": "SBIN", "qty": 10, "price": "801.05", "apikey": "s3cr3t"})))?;
//! log.append(AuditEvent::error(ErrorReference::generate(), "broker_call_failed",
//!     json!({"detail": "connection reset; Authorization: Bearer abc.def.ghi"})))?;
//! let checkpoint = log.checkpoint().expect("durable head");
//! log.close()?;
//!
//! let text = std::fs::read_dir(&dir)?
//!     .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
//!     .collect::<String>();
//! assert!(!text.contains("s3cr3t") && !text.contains("abc.def.ghi"));
//!
//! match verify(&dir, &key, Some(&checkpoint))? {
//!     Verification::Intact(v) => assert_eq!(v.records, 3),
//!     Verification::Broken(finding) => panic!("tampered: {finding}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security notes
//!
//! - The chain key must live outside the log's host filesystem permissions
//!   domain where possible (vault, environment, 0600 key file). Anyone with
//!   the key can forge a consistent trail; keep exported checkpoints
//!   elsewhere so a rewrite by a key holder is still caught.
//! - The record MAC key is derived from the chain key with a fixed label,
//!   so reusing a secret elsewhere does not let it forge records. The raw
//!   key is wiped on drop; the derived `ring` HMAC keys are not (ring does
//!   not zeroize them).
//! - Redaction is pattern based: it catches the documented forms, not every
//!   conceivable secret. Never put a secret in an event on purpose.
//! - Without a checkpoint, deleting the newest records (or whole newest
//!   segments) is undetectable by anyone: export checkpoints regularly.
//! - Timestamps come from the injected [`Clock`]; a clock
//!   step backwards shows as decreasing `ts` but never breaks the chain.
//!
//! # Feature flags
//!
//! None.

mod canonical;
mod checkpoint;
mod config;
mod depth;
mod error;
mod key;
mod layer;
mod reader;
mod record;
mod recover;
mod redact;
mod retention;
mod segment;
mod typed;
mod verify;
mod writer;

/// asta-core's clocks (the log takes an `Arc<dyn Clock>`) and error
/// references, re-exported so a user needs no asta-core dependency.
pub use asta_core::{Clock, ErrorReference, ManualClock, SystemClock};
pub use checkpoint::Checkpoint;
pub use config::{
    AuditConfig, AuditConfigBuilder, DEFAULT_DEFERRED_FLUSH_DELAY, DEFAULT_RETENTION_DAYS,
    DEFAULT_SEGMENT_BYTES, Durability,
};
pub use depth::MAX_DETAILS_DEPTH;
pub use error::AuditError;
pub use key::{ChainKey, MIN_KEY_BYTES};
pub use layer::AuditLayer;
pub use reader::{Records, read_records};
pub use record::{
    AppendReceipt, AuditEvent, AuditRecord, Category, Head, MAC_LEN, Mac, RiskDecision,
    UnknownCategory,
};
pub use redact::{REDACTED, is_sensitive_name, redact_text, redact_value};
pub use retention::PruneReport;
pub use segment::MAX_LINE_BYTES;
pub use verify::{
    Finding, FindingKind, Verification, Verified, VerifyProgress, verify, verify_with_progress,
};
pub use writer::{AuditLog, AuditStats, Wait};
