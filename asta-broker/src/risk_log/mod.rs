//! The risk engine's state kept in the audit trail: the trail is the risk
//! engine's write-ahead log.
//!
//! A journaled [`RiskEngine`](asta_risk::RiskEngine) hands every input that
//! changed it to the guard, which writes the entries into the audit records
//! of the same step (field `risk_journal`): the risk approval of an order
//! rides in the order's durable intent record, so one fdatasync per order
//! covers both. Every so many entries (and on close) the guard saves a
//! snapshot to a [`SnapshotStore`] and records its digest and the journal
//! seq it covers (a SYSTEM `risk_snapshot` record). On start,
//! [`RestoredRisk::from_trail`] takes the stored snapshot if the trail
//! confirms it and replays the entries after it; without a confirmed
//! snapshot it replays the trail from its start.
//!
//! A crash between a broker call and the next group commit leaves an intent
//! without an outcome: that is exactly an unknown outcome, and the restore
//! returns it as one for the guard's reconciliation.

mod restore;
mod scan;
mod store;

pub use restore::{RestoreReport, RestoredRisk, RiskRestoreError, SnapshotUse};
pub(crate) use scan::{JOURNAL_FIELD, SNAPSHOT_ACTION};
pub use scan::{TrailReadError, UnknownPlacement};
pub use store::{FileSnapshotStore, MAX_SNAPSHOT_BYTES, SnapshotStore, SnapshotStoreError};
