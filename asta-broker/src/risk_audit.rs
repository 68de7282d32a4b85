//! How a risk engine event becomes an audit record.

use asta_audit::{AuditEvent, Category};
use asta_risk::{EventCategory, RiskEvent};
use serde_json::Value;

/// The audit record for a risk event: category RISK or SECURITY as the event
/// says, the event's name in lower case as the action, and the whole event
/// as details. Used by the [`Guard`](crate::Guard) and by tools that drive a
/// [`RiskEngine`](asta_risk::RiskEngine) directly (an operator reset from a
/// command line), so every trail records risk events the same way.
pub fn risk_event_record(event: &RiskEvent) -> AuditEvent {
    let category = match event.category {
        EventCategory::Security => Category::Security,
        _ => Category::Risk,
    };
    let details = serde_json::to_value(event).unwrap_or_default();
    let action = details
        .get("event")
        .and_then(Value::as_str)
        .map_or_else(|| "risk_event".to_owned(), str::to_ascii_lowercase);
    AuditEvent::new(category, action, details)
}
