//! Reading what the audit trail says about the risk engine and the orders
//! in flight: journal entries, snapshot confirmations, and placements whose
//! outcome the trail does not hold.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use asta_audit::{AuditError, AuditRecord, Category, ChainKey, read_records};
use asta_core::{
    Exchange, OrderRequest, Price, PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{JournalEntry, JournalError, OrderOutcome, RiskInput};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The details field of any record that carries risk journal entries.
pub(crate) const JOURNAL_FIELD: &str = "risk_journal";
/// The action of the SYSTEM record that confirms a saved snapshot.
pub(crate) const SNAPSHOT_ACTION: &str = "risk_snapshot";

/// Why the trail could not be read for a restore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrailReadError {
    /// The trail could not be read or a record did not authenticate.
    #[error("reading the audit trail: {0}")]
    Audit(#[from] AuditError),
    /// A record's journal entry is unusable.
    #[error("audit record {seq} holds an unusable risk journal entry: {source}")]
    Journal {
        /// The audit record.
        seq: u64,
        /// What is wrong with the entry.
        source: JournalError,
    },
    /// A `place_intent` record without a readable ticket and order.
    #[error("audit record {seq}: a place_intent without a readable ticket and order")]
    BadIntent {
        /// The audit record.
        seq: u64,
    },
    /// A record's journal field is not a list.
    #[error("audit record {seq}: `{JOURNAL_FIELD}` is not a list of entries")]
    NotAList {
        /// The audit record.
        seq: u64,
    },
}

/// A placement whose intent is in the trail but whose outcome is not: it may
/// or may not be at the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPlacement {
    /// The audit record of the intent.
    pub intent_seq: u64,
    /// When the intent was recorded (the attempt was at or after it).
    pub attempted_at: DateTime<Utc>,
    /// The risk approval's ticket.
    pub ticket: u64,
    /// The order as approved.
    pub order: OrderRequest,
}

/// What one pass over the trail found.
#[derive(Debug, Default)]
pub(crate) struct TrailScan {
    /// Journal entries with seq above the pass's floor, by seq.
    pub(crate) entries: BTreeMap<u64, JournalEntry>,
    /// Digest of each confirmed snapshot to the journal seq it covers.
    pub(crate) confirmed: HashMap<String, u64>,
    /// Intents without an outcome, by ticket.
    pub(crate) unknown: BTreeMap<u64, UnknownPlacement>,
    /// Records read.
    pub(crate) records: u64,
    /// The last record read: its seq and time.
    pub(crate) last: Option<(u64, DateTime<Utc>)>,
}

/// Reads the records of the trail in `dir` (up to audit record `until`
/// when given), keeping the journal entries with seq above `floor`.
pub(crate) fn scan_trail(
    dir: &Path,
    key: &ChainKey,
    floor: u64,
    until: Option<u64>,
) -> Result<TrailScan, TrailReadError> {
    let mut scan = TrailScan::default();
    for record in read_records(dir, key)? {
        let record = record?;
        if until.is_some_and(|until| record.seq > until) {
            break;
        }
        scan.records += 1;
        scan.last = Some((record.seq, record.ts));
        collect_entries(&record, floor, &mut scan.entries)?;
        match (record.category, record.action.as_str()) {
            (Category::System, SNAPSHOT_ACTION) => {
                if let (Some(digest), Some(covers)) = (
                    record.details.get("digest").and_then(Value::as_str),
                    record.details.get("covers_seq").and_then(Value::as_u64),
                ) {
                    scan.confirmed.insert(digest.to_owned(), covers);
                }
            }
            (Category::Order, "place_intent") => {
                let unknown = intent(&record)?;
                scan.unknown.insert(unknown.ticket, unknown);
            }
            (Category::Order, "place_accepted" | "place_reconciled" | "place_resolved") => {
                if let Some(ticket) = record.details.get("ticket").and_then(Value::as_u64) {
                    scan.unknown.remove(&ticket);
                }
            }
            (Category::Error, "place_failed") => {
                let not_placed = record
                    .details
                    .get("definitely_not_placed")
                    .and_then(Value::as_bool)
                    == Some(true);
                let ticket = record
                    .details
                    .get("request")
                    .and_then(|r| r.get("ticket"))
                    .and_then(Value::as_u64);
                if let (true, Some(ticket)) = (not_placed, ticket) {
                    scan.unknown.remove(&ticket);
                }
            }
            _ => {}
        }
    }
    Ok(scan)
}

fn collect_entries(
    record: &AuditRecord,
    floor: u64,
    into: &mut BTreeMap<u64, JournalEntry>,
) -> Result<(), TrailReadError> {
    let Some(field) = record.details.get(JOURNAL_FIELD) else {
        return Ok(());
    };
    let Value::Array(items) = field else {
        return Err(TrailReadError::NotAList { seq: record.seq });
    };
    for item in items {
        let entry = JournalEntry::from_json_value(item.clone()).map_err(|source| {
            TrailReadError::Journal {
                seq: record.seq,
                source,
            }
        })?;
        if entry.seq() > floor {
            into.insert(entry.seq(), entry);
        }
    }
    Ok(())
}

/// The order summary as the guard records it (asta-risk's `OrderSummary`).
#[derive(Deserialize)]
struct Summary {
    strategy: StrategyTag,
    exchange: Exchange,
    symbol: Symbol,
    side: Side,
    price_type: PriceType,
    product: Product,
    quantity: Quantity,
    #[serde(default)]
    price: Option<Price>,
    #[serde(default)]
    trigger_price: Option<Price>,
}

/// The placement an intent record describes. An intent that does not name
/// its ticket and order is refused: an order that may be at the broker must
/// never drop out of the unknown outcomes silently.
fn intent(record: &AuditRecord) -> Result<UnknownPlacement, TrailReadError> {
    let unreadable = || TrailReadError::BadIntent { seq: record.seq };
    let ticket = record
        .details
        .get("ticket")
        .and_then(Value::as_u64)
        .ok_or_else(unreadable)?;
    // A journaled guard's intent names its order only in the journal entry
    // of the approval it carries (CHECK_ORDER, same ticket); others carry
    // the order's summary.
    let order = match record.details.get("order") {
        Some(summary) => order_from(summary),
        None => approved_order(record, ticket),
    }
    .ok_or_else(unreadable)?;
    Ok(UnknownPlacement {
        intent_seq: record.seq,
        attempted_at: record.ts,
        ticket,
        order,
    })
}

/// The order of the CHECK_ORDER journal entry in `record` that approved
/// `ticket`.
fn approved_order(record: &AuditRecord, ticket: u64) -> Option<OrderRequest> {
    let Some(Value::Array(items)) = record.details.get(JOURNAL_FIELD) else {
        return None;
    };
    items.iter().find_map(|item| {
        let entry = JournalEntry::from_json_value(item.clone()).ok()?;
        match entry.input() {
            RiskInput::CheckOrder {
                order,
                outcome:
                    OrderOutcome::Approved {
                        ticket: approved, ..
                    },
                ..
            } if *approved == ticket => Some(order.clone()),
            _ => None,
        }
    })
}

/// Rebuilds an order from its recorded summary (through the same checks as
/// any order).
pub(crate) fn order_from(value: &Value) -> Option<OrderRequest> {
    let summary: Summary = serde_json::from_value(value.clone()).ok()?;
    let mut builder = OrderRequest::builder()
        .strategy(summary.strategy)
        .exchange(summary.exchange)
        .symbol(summary.symbol)
        .side(summary.side)
        .price_type(summary.price_type)
        .product(summary.product)
        .quantity(summary.quantity);
    if let Some(price) = summary.price {
        builder = builder.price(price);
    }
    if let Some(trigger) = summary.trigger_price {
        builder = builder.trigger_price(trigger);
    }
    builder.build().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(details: Value) -> AuditRecord {
        let Value::Object(details) = details else {
            panic!("details must be an object");
        };
        AuditRecord {
            seq: 7,
            ts: chrono::DateTime::UNIX_EPOCH,
            category: Category::Order,
            action: "place_intent".to_owned(),
            actor: None,
            strategy: None,
            details,
            reference: None,
            prev: String::new(),
            mac: String::new(),
        }
    }

    #[test]
    fn an_intent_must_name_its_ticket_and_a_valid_order() {
        let order = json!({"strategy": "trend", "exchange": "NSE", "symbol": "SBIN",
            "side": "BUY", "price_type": "MARKET", "product": "MIS", "quantity": 10});
        let good = intent(&record(json!({"ticket": 3, "order": order.clone()})))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(good.ticket, 3);
        assert_eq!(good.order.quantity().get(), 10);
        // Without a summary, the order comes from the approval's journal
        // entry of the same ticket (and only that one).
        let entry = json!({"v": 1, "seq": 5, "at": "2026-11-27T04:00:00Z", "input": {
            "input": "CHECK_ORDER", "order": order.clone(),
            "context": {"intentional_duplicate": false, "reference_price": null},
            "outcome": {"result": "APPROVED", "ticket": 3, "notional": "8000"}}});
        let journaled = intent(&record(
            json!({"ticket": 3, "risk_journal": [entry.clone()]}),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(journaled.order, good.order);
        assert!(matches!(
            intent(&record(json!({"ticket": 4, "risk_journal": [entry]}))),
            Err(TrailReadError::BadIntent { seq: 7 })
        ));
        let mut bad_order = order.clone();
        bad_order["quantity"] = json!(0);
        for details in [
            json!({"order": order}),
            json!({"ticket": 3}),
            json!({"ticket": "3", "order": order}),
            json!({"ticket": 3, "order": bad_order}),
        ] {
            assert!(
                matches!(
                    intent(&record(details)),
                    Err(TrailReadError::BadIntent { seq: 7 })
                ),
                "an unreadable intent is refused, never skipped"
            );
        }
    }
}
