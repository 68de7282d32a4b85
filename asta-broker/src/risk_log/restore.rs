//! Rebuilding the risk engine from a confirmed snapshot and the trail.

use std::path::Path;
use std::sync::Arc;

use asta_audit::ChainKey;
use asta_core::{Clock, InstrumentCatalog, ManualClock, MarketCalendar};
use asta_risk::{ReplayReport, RestoreError, RiskConfig, RiskEngine, RiskSnapshot};
use chrono::{DateTime, Utc};

use super::scan::{TrailReadError, UnknownPlacement, scan_trail};
use super::store::{SnapshotStore, SnapshotStoreError};

/// Why the risk engine could not be rebuilt. Each is fatal for trading:
/// nothing may be approved on a state that is not known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RiskRestoreError {
    /// The audit trail could not be read.
    #[error(transparent)]
    Trail(#[from] TrailReadError),
    /// The journal in the trail does not replay (a gap, a bad entry).
    #[error("replaying the risk journal from the audit trail: {0}")]
    Replay(#[from] RestoreError),
}

/// Which snapshot a restore started from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotUse {
    /// The stored snapshot, confirmed by its digest in the trail.
    Confirmed {
        /// The journal seq it covers.
        covers_seq: u64,
        /// Its SHA-256 (hex).
        digest: String,
    },
    /// No snapshot was stored: the trail was replayed from its start.
    None,
    /// The stored snapshot was not used (unreadable, damaged, or a digest
    /// the trail does not confirm): the trail was replayed from its start.
    Rejected {
        /// Why.
        reason: String,
    },
}

/// What a restore did, for the operator and the audit trail.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The snapshot used, or why none was.
    pub snapshot: SnapshotUse,
    /// Journal entries replayed on top of it.
    pub replayed: usize,
    /// Audit records read.
    pub records_read: u64,
    /// The risk engine's own replay report (divergences, if any).
    pub replay: ReplayReport,
    /// The seq and time of the last audit record read (`None` for an
    /// empty trail).
    pub last_record: Option<(u64, DateTime<Utc>)>,
}

/// A risk engine rebuilt from the trail, with the placements whose outcome
/// the trail does not hold, ready for [`Guard::restored`](crate::Guard::restored).
#[derive(Debug)]
pub struct RestoredRisk {
    pub(crate) engine: RiskEngine,
    pub(crate) store: Arc<dyn SnapshotStore>,
    pub(crate) unknown: Vec<UnknownPlacement>,
    report: RestoreReport,
}

impl RestoredRisk {
    /// Rebuilds the risk engine for the trail in `audit_dir` (authenticated
    /// with `key`): the newest snapshot in `store` when the trail confirms
    /// its digest, plus every journal entry after it; otherwise every entry
    /// in the trail from its start. Deleting, damaging or rolling back the
    /// snapshot therefore changes only how much is replayed.
    ///
    /// Placements whose intent is durable but whose outcome the trail does
    /// not hold (a crash between the broker call and the next group commit,
    /// or an unknown outcome never reconciled) are returned as unknown
    /// outcomes: the guard looks for them at the broker on every
    /// [`sync`](crate::Guard::sync), and their approvals stay counted.
    ///
    /// Open the [`AuditLog`](asta_audit::AuditLog) first (it recovers a torn
    /// tail), then restore, then build the guard.
    pub fn from_trail(
        audit_dir: &Path,
        key: &ChainKey,
        store: Arc<dyn SnapshotStore>,
        config: RiskConfig,
        catalog: Arc<InstrumentCatalog>,
        calendar: Arc<MarketCalendar>,
        clock: Arc<dyn Clock>,
    ) -> Result<RestoredRisk, RiskRestoreError> {
        let (snapshot, rejected) = match load_snapshot(store.as_ref()) {
            Ok(found) => (found, None),
            Err(reason) => (None, Some(reason)),
        };
        let floor = snapshot.as_ref().map_or(0, |(s, _)| s.covers_seq());
        let mut scan = scan_trail(audit_dir, key, floor, None)?;
        let (snapshot, used) = match snapshot {
            Some((snapshot, digest)) => match scan.confirmed.get(&digest) {
                Some(&covers) if covers == snapshot.covers_seq() => (
                    Some(snapshot),
                    SnapshotUse::Confirmed {
                        covers_seq: covers,
                        digest,
                    },
                ),
                _ => {
                    // Not confirmed: read the whole journal again from the start.
                    scan = scan_trail(audit_dir, key, 0, None)?;
                    (
                        None,
                        SnapshotUse::Rejected {
                            reason: format!(
                                "the audit trail does not confirm the stored snapshot (digest {digest}, covering journal seq {})",
                                snapshot.covers_seq()
                            ),
                        },
                    )
                }
            },
            None => match rejected {
                Some(reason) => (None, SnapshotUse::Rejected { reason }),
                None => (None, SnapshotUse::None),
            },
        };
        let replayed = scan.entries.len();
        let (engine, replay) = RiskEngine::restore(
            config,
            catalog,
            calendar,
            clock,
            snapshot,
            scan.entries.into_values(),
        )?;
        Ok(RestoredRisk {
            engine,
            store,
            unknown: scan.unknown.into_values().collect(),
            report: RestoreReport {
                snapshot: used,
                replayed,
                records_read: scan.records,
                replay,
                last_record: scan.last,
            },
        })
    }

    /// The risk state as the trail had it at audit record `until` (the
    /// whole trail when `None`), rebuilt from the trail alone, with the
    /// clock stopped at that record's time: for an operator asking why an
    /// order was approved (`asta audit replay`). The report's
    /// `last_record` says where it stopped.
    pub fn replay_until(
        audit_dir: &Path,
        key: &ChainKey,
        until: Option<u64>,
        config: RiskConfig,
        catalog: Arc<InstrumentCatalog>,
        calendar: Arc<MarketCalendar>,
    ) -> Result<RestoredRisk, RiskRestoreError> {
        let scan = scan_trail(audit_dir, key, 0, until)?;
        let last = scan.last;
        let at = last.map_or_else(Utc::now, |(_, ts)| ts);
        let replayed = scan.entries.len();
        let (engine, replay) = RiskEngine::restore(
            config,
            catalog,
            calendar,
            Arc::new(ManualClock::new(at)),
            None,
            scan.entries.into_values(),
        )?;
        Ok(RestoredRisk {
            engine,
            store: Arc::new(NoStore),
            unknown: scan.unknown.into_values().collect(),
            report: RestoreReport {
                snapshot: SnapshotUse::None,
                replayed,
                records_read: scan.records,
                replay,
                last_record: last,
            },
        })
    }

    /// What the restore did.
    pub fn report(&self) -> &RestoreReport {
        &self.report
    }

    /// Placements with an intent and no outcome in the trail.
    pub fn unknown_outcomes(&self) -> &[UnknownPlacement] {
        &self.unknown
    }

    /// The rebuilt engine, for inspection (`asta audit replay`).
    pub fn engine(&self) -> &RiskEngine {
        &self.engine
    }
}

/// The stored snapshot and its digest; `Err` says why a stored one is unusable.
fn load_snapshot(store: &dyn SnapshotStore) -> Result<Option<(RiskSnapshot, String)>, String> {
    let bytes = match store.load() {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(SnapshotStoreError::TooLarge { max, .. }) => {
            return Err(format!("the stored snapshot is over {max} bytes"));
        }
        Err(error) => return Err(format!("the stored snapshot could not be read: {error}")),
    };
    let snapshot = RiskSnapshot::from_bytes(&bytes)
        .map_err(|e| format!("the stored snapshot is damaged: {e}"))?;
    let digest = snapshot
        .digest()
        .map_err(|e| format!("the stored snapshot cannot be digested: {e}"))?;
    Ok(Some((snapshot, digest)))
}

/// The store of a replay for inspection: it keeps nothing.
#[derive(Debug)]
struct NoStore;

impl SnapshotStore for NoStore {
    fn load(&self) -> Result<Option<Vec<u8>>, SnapshotStoreError> {
        Ok(None)
    }

    fn save(&self, _snapshot: &[u8]) -> Result<(), SnapshotStoreError> {
        Ok(())
    }
}
