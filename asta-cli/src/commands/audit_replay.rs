//! `asta audit replay [--until SEQ] [--json]`: the risk state at any point
//! of the trail, rebuilt from the trail alone, with the decision records
//! around that point, so an operator can answer "why was this order
//! approved" from the trail.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use asta_audit::{AuditRecord, Category, ChainKey};
use asta_broker::RestoredRisk;

use super::audit::{record_json, records, summary, tampered};
use super::risk::print_status;
use crate::config::Config;
use crate::context::risk_config;
use crate::failure::{CommandResult, EXIT_OK, Failure};

/// Decision records shown before the point (inclusive) and after it.
const BEFORE: usize = 8;
const AFTER: usize = 4;

/// Runs the replay.
pub fn run(
    config: &Config,
    dir: &Path,
    key: &ChainKey,
    until: Option<u64>,
    json: bool,
) -> CommandResult {
    let limits = risk_config(config)?;
    let catalog = asta_core::InstrumentCatalog::from_path(&config.instruments_path())
        .map_err(|e| Failure::invalid("check paths.instruments in asta.toml", e))?;
    let calendar = crate::context::market_calendar(config)?;
    let restored = RestoredRisk::replay_until(
        dir,
        key,
        until,
        limits,
        Arc::new(catalog),
        Arc::new(calendar),
    )
    .map_err(|e| {
        Failure::check_failed(
            "run `asta audit verify`; the risk journal in the trail does not replay",
            e,
        )
    })?;
    let Some((point, at)) = restored.report().last_record else {
        return Err(Failure::invalid(
            "the trail is empty: nothing to replay yet",
            anyhow::anyhow!("no records in {}", dir.display()),
        ));
    };
    if let Some(until) = until
        && until > point
    {
        return Err(Failure::invalid(
            format!("the trail ends at record {point}; give --until {point} or less"),
            anyhow::anyhow!("record {until} is past the end of the trail"),
        ));
    }
    let (before, after) = decisions_around(dir, key, point)?;
    let status = restored.engine().status();
    let report = restored.report();
    if json {
        let value = serde_json::json!({
            "until_seq": point,
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "journal_entries_replayed": report.replayed,
            "divergences": report.replay.divergences.len(),
            "unknown_outcomes": restored.unknown_outcomes().iter().map(|u| serde_json::json!({
                "ticket": u.ticket, "intent_seq": u.intent_seq,
                "symbol": u.order.symbol().as_str(), "side": u.order.side().to_string(),
                "quantity": u.order.quantity().get(),
            })).collect::<Vec<_>>(),
            "state": status,
            "records_before": before.iter().map(record_json).collect::<Vec<_>>(),
            "records_after": after.iter().map(record_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| Failure::internal("report a bug", e))?;
        crate::say!("{text}");
        return Ok(EXIT_OK);
    }
    crate::say!(
        "risk state at audit record {point} ({}), rebuilt from {} journal entries in the trail",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        report.replayed
    );
    if report.replayed == 0 {
        crate::say!(
            "note: the trail holds no risk journal up to this point: it was written by a session that kept its risk state in a file (see `asta risk status`), or nothing reached the risk engine yet"
        );
    }
    print_status(&status, false)?;
    let unknown = restored.unknown_outcomes();
    if !unknown.is_empty() {
        crate::say!(
            "placements with no outcome in the trail at this point: {}",
            unknown.len()
        );
    }
    crate::say!("decision records up to {point}:");
    for record in &before {
        crate::say!("{}", summary(record));
    }
    if !after.is_empty() {
        crate::say!("and after it:");
        for record in &after {
            crate::say!("{}", summary(record));
        }
    }
    Ok(EXIT_OK)
}

/// Whether a record is part of a decision (orders, fills, risk, security).
fn is_decision(record: &AuditRecord) -> bool {
    matches!(
        record.category,
        Category::Order | Category::Trade | Category::Risk | Category::Security | Category::Error
    ) && record.action != "risk_journal"
}

/// The last decision records at or before `point` and the first after it.
fn decisions_around(
    dir: &Path,
    key: &ChainKey,
    point: u64,
) -> Result<(Vec<AuditRecord>, Vec<AuditRecord>), Failure> {
    let mut before: VecDeque<AuditRecord> = VecDeque::with_capacity(BEFORE);
    let mut after = Vec::with_capacity(AFTER);
    for record in records(dir, key)? {
        let record = record.map_err(tampered)?;
        if !is_decision(&record) {
            continue;
        }
        if record.seq <= point {
            if before.len() == BEFORE {
                before.pop_front();
            }
            before.push_back(record);
        } else {
            after.push(record);
            if after.len() == AFTER {
                break;
            }
        }
    }
    Ok((before.into(), after))
}
