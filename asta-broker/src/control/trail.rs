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
/// and head (`head_seq`, `head_ts`, and `head_mac` in four groups of 16 hex
/// digits, since a run of 64 would be redacted as a key: enough to rebuild
/// a checkpoint that detects a later truncation of the control trail), or
/// `SECURITY control_trail_broken`
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
                    "head_seq": head.as_ref().map(Checkpoint::seq),
                    "head_mac": head.as_ref().map(|h| grouped_mac(&h.mac().to_string())),
                    "head_ts": head.as_ref().map(|h| h.ts().to_rfc3339()),
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

/// The MAC's hex in groups of 16 joined by `-`: a run of 64 hex digits
/// would be redacted from the record as a key.
pub(crate) fn grouped_mac(hex: &str) -> String {
    hex.as_bytes()
        .chunks(16)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}
