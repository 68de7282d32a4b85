//! The control trail: what `asta kill` did while the session that owns the
//! account did not answer, in an audit trail of its own (same chain key,
//! its own chain, its own directory and lock), and the link that the main
//! trail records to it the next time it is opened by a guard.

use std::path::Path;

use asta_audit::{AuditError, AuditEvent, AuditLog, ChainKey, Checkpoint, Verification, verify};
use serde_json::json;

/// What [`link_control_trail`] found and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlTrailLink {
    /// There is no control trail (nothing was ever done around a session).
    Absent,
    /// The control trail verified; the main trail now holds its head.
    Linked {
        /// Records in the control trail.
        records: u64,
        /// Its head, as a checkpoint (also in the main trail's record).
        head: Option<Checkpoint>,
    },
    /// The control trail does not verify: the main trail holds a SECURITY
    /// record naming the first bad record, and a guard halts.
    Broken {
        /// The first bad record and what is wrong.
        finding: String,
    },
}

/// Verifies the control trail in `dir` with `key` and records the outcome
/// in `main`, durably: `SYSTEM control_trail_linked` with its record count
/// and head (a checkpoint line, so a later verification of the control
/// trail against it detects truncation), or `SECURITY control_trail_broken`
/// with the first bad record. A missing directory is
/// [`ControlTrailLink::Absent`] and records nothing.
///
/// # Errors
///
/// The control trail cannot be read (I/O), or `main` refused the record.
pub async fn link_control_trail(
    main: &AuditLog,
    dir: &Path,
    key: &ChainKey,
) -> Result<ControlTrailLink, AuditError> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ControlTrailLink::Absent),
        _ => {}
    }
    let shown = dir.display().to_string();
    let (link, event) = match verify(dir, key, None)? {
        Verification::Intact(verified) => {
            let head = verified.head.map(Checkpoint::new);
            let event = AuditEvent::system(
                "control_trail_linked",
                json!({
                    "dir": shown,
                    "records": verified.records,
                    "head": head.as_ref().map(ToString::to_string),
                }),
            );
            (
                ControlTrailLink::Linked {
                    records: verified.records,
                    head,
                },
                event,
            )
        }
        Verification::Broken(finding) => {
            let finding = finding.to_string();
            let event = AuditEvent::security(
                "control_trail_broken",
                json!({"dir": shown, "finding": finding}),
            );
            (ControlTrailLink::Broken { finding }, event)
        }
    };
    main.append_async(event).await?;
    Ok(link)
}
