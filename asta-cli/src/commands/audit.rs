//! `asta audit verify|tail|export|checkpoint`.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::Path;

use asta_audit::{
    AuditRecord, ChainKey, Checkpoint, Verification, read_records, verify_with_progress,
};
use asta_core::safe_file::SafeFileError;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{AuditArgs, AuditCommand};
use crate::config::Config;
use crate::context::{chain_key, open_vault};
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, Failure};

/// Trails smaller than this verify without a progress bar.
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

/// Runs one audit subcommand.
pub fn run(args: &AuditArgs, config: &Config) -> CommandResult {
    let vault = open_vault(config)?;
    let key = chain_key(config, &vault)?;
    let dir = config.audit_dir();
    match &args.command {
        AuditCommand::Verify { checkpoint, json } => {
            let checkpoint = checkpoint.as_deref().map(parse_checkpoint).transpose()?;
            verify_command(&dir, &key, checkpoint.as_ref(), *json)
        }
        AuditCommand::Tail { lines, json } => {
            // Grows with the records that exist, never with the number asked
            // for: `-n 18446744073709551615` must not allocate that much.
            let mut last: VecDeque<AuditRecord> = VecDeque::new();
            for record in records(&dir, &key)? {
                let record = record.map_err(tampered)?;
                if last.len() == *lines {
                    last.pop_front();
                }
                if *lines > 0 {
                    last.push_back(record);
                }
            }
            if *json {
                let records: Vec<serde_json::Value> = last.iter().map(record_json).collect();
                return crate::output::json(&serde_json::Value::Array(records));
            }
            for record in &last {
                crate::say!("{}", summary(record));
            }
            Ok(EXIT_OK)
        }
        AuditCommand::Export { out } => {
            // Export only a trail that verifies: an export is evidence.
            let verified = match asta_audit::verify(&dir, &key, None).map_err(audit_io)? {
                Verification::Intact(v) => v,
                Verification::Broken(finding) => {
                    crate::say!("TAMPERED: {finding}");
                    return Ok(EXIT_CHECK_FAILED);
                }
            };
            let mut sink: Box<dyn Write> = match out {
                // A user-named path: a new 0600 file, never an existing
                // file (an export is evidence) and never through a symlink.
                Some(path) => Box::new(std::io::BufWriter::new(
                    asta_core::safe_file::create_new_private(path).map_err(|e| match e {
                        SafeFileError::AlreadyExists { .. } => Failure::already_exists(
                            "name a new file for the export: an existing export is evidence and is never replaced",
                            e,
                        ),
                        SafeFileError::Symlink { .. } => Failure::refused(
                            "name a new file for the export (symbolic links are refused)",
                            e,
                        ),
                        other => {
                            Failure::internal(format!("cannot create {}", path.display()), other)
                        }
                    })?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            for record in records(&dir, &key)? {
                let record = record.map_err(tampered)?;
                let line = serde_json::to_string(&record_json(&record))
                    .map_err(|e| Failure::internal("report a bug", e))?;
                writeln!(sink, "{line}")
                    .map_err(|e| Failure::internal("cannot write the export", e))?;
            }
            sink.flush()
                .map_err(|e| Failure::internal("cannot write the export", e))?;
            eprintln!("exported {} records", verified.records);
            Ok(EXIT_OK)
        }
        AuditCommand::Replay { until, json } => {
            super::audit_replay::run(config, &dir, &key, *until, *json)
        }
        AuditCommand::Checkpoint { json } => {
            match asta_audit::verify(&dir, &key, None).map_err(audit_io)? {
                Verification::Intact(v) => match v.head {
                    Some(head) if *json => crate::output::json(&serde_json::json!({
                        "checkpoint": Checkpoint::new(head).to_string(),
                        "seq": head.seq,
                        "mac": head.mac.to_string(),
                        "ts": head.ts.to_rfc3339(),
                    })),
                    Some(head) => {
                        crate::say!("{}", Checkpoint::new(head));
                        Ok(EXIT_OK)
                    }
                    None => Err(Failure::invalid(
                        "the trail is empty: nothing to checkpoint yet",
                        anyhow::anyhow!("no records in {}", dir.display()),
                    )),
                },
                Verification::Broken(finding) => {
                    if *json {
                        crate::output::json(&serde_json::json!({
                            "status": "TAMPERED", "finding": finding.to_string(),
                        }))?;
                    } else {
                        crate::say!("TAMPERED: {finding}");
                    }
                    Ok(EXIT_CHECK_FAILED)
                }
            }
        }
    }
}

fn verify_command(
    dir: &Path,
    key: &ChainKey,
    checkpoint: Option<&Checkpoint>,
    json: bool,
) -> CommandResult {
    let total: u64 = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    let bar = (std::io::stderr().is_terminal() && total >= PROGRESS_MIN_BYTES).then(|| {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("verifying {bar:40} {bytes}/{total_bytes} ({eta})")
        {
            bar.set_style(style);
        }
        bar
    });
    let result = verify_with_progress(dir, key, checkpoint, &mut |p| {
        if let Some(bar) = &bar {
            bar.set_length(p.bytes_total);
            bar.set_position(p.bytes_done);
        }
    })
    .map_err(audit_io)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Verification::Intact(v) if json => crate::output::json(&serde_json::json!({
            "status": "OK",
            "records": v.records,
            "segments": v.segments,
            "head": v.head.as_ref().map(|h| serde_json::json!({
                "seq": h.seq, "mac": h.mac.to_string(), "ts": h.ts.to_rfc3339(),
            })),
            "checkpoint_matches": checkpoint.is_some().then_some(true),
        })),
        Verification::Broken(finding) if json => {
            crate::output::json(&serde_json::json!({
                "status": "TAMPERED", "finding": finding.to_string(),
            }))?;
            Ok(EXIT_CHECK_FAILED)
        }
        Verification::Intact(v) => {
            let head = v
                .head
                .map(|h| format!("head seq {} mac {} at {}", h.seq, h.mac, h.ts.to_rfc3339()))
                .unwrap_or_else(|| "empty trail".to_owned());
            crate::say!(
                "OK: {} records in {} segments verified; {head}{}",
                v.records,
                v.segments,
                if checkpoint.is_some() {
                    "; checkpoint matches"
                } else {
                    ""
                }
            );
            Ok(EXIT_OK)
        }
        Verification::Broken(finding) => {
            crate::say!("TAMPERED: {finding}");
            Ok(EXIT_CHECK_FAILED)
        }
    }
}

fn parse_checkpoint(text: &str) -> Result<Checkpoint, Failure> {
    // Either the checkpoint text itself or a file holding it.
    let text = if Path::new(text).is_file() {
        std::fs::read_to_string(text)
            .map_err(|e| Failure::invalid("give the checkpoint text or a file holding it", e))?
    } else {
        text.to_owned()
    };
    text.trim().parse().map_err(|e: asta_audit::AuditError| {
        Failure::invalid("give the text `asta audit checkpoint` printed", e)
    })
}

pub(crate) fn records(dir: &Path, key: &ChainKey) -> Result<asta_audit::Records, Failure> {
    read_records(dir, key).map_err(audit_io)
}

fn audit_io(error: asta_audit::AuditError) -> Failure {
    Failure::internal(
        "check that the audit directory exists and is readable (mode 0700)",
        error,
    )
}

pub(crate) fn tampered(error: asta_audit::AuditError) -> Failure {
    Failure::check_failed("run `asta audit verify` to locate the damage", error)
}

pub(crate) fn summary(record: &AuditRecord) -> String {
    let details = serde_json::to_string(&record.details).unwrap_or_default();
    format!(
        "{:>6} {} {:<8} {:<24} {:<12} {}{}",
        record.seq,
        record.ts.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        record.category.as_str(),
        record.action,
        record.strategy.as_deref().unwrap_or("-"),
        details,
        record
            .reference
            .as_ref()
            .map(|r| format!(" ref {r}"))
            .unwrap_or_default()
    )
}

pub(crate) fn record_json(record: &AuditRecord) -> serde_json::Value {
    serde_json::json!({
        "seq": record.seq,
        "ts": record.ts.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "category": record.category.as_str(),
        "action": record.action,
        "actor": record.actor,
        "strategy": record.strategy,
        "details": record.details,
        "reference": record.reference.as_ref().map(ToString::to_string),
        "prev": record.prev,
        "mac": record.mac,
    })
}
