//! Alerts of a serving session, on standard error.

use asta_broker::{Alert, AlertDelivery, AlertError, AlertSink};

/// Writes every alert as one line on standard error
/// (`asta serve: ALERT [severity] kind: message (fields)`), where a service
/// manager's journal keeps it. Alerts carry no secrets (the guard builds
/// them from names, addresses and public reasons). Never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalAlertSink;

#[async_trait::async_trait]
impl AlertSink for TerminalAlertSink {
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError> {
        let fields: Vec<String> = alert
            .fields()
            .iter()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        eprintln!(
            "asta serve: ALERT [{:?}] {}: {} ({})",
            alert.severity(),
            alert.kind(),
            alert.message(),
            fields.join(" ")
        );
        Ok(AlertDelivery::Delivered)
    }
}
