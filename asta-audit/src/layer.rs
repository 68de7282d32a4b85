//! An optional `tracing` layer that turns `audit` events into audit records.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::record::{AuditEvent, Category};
use crate::writer::AuditLog;

/// The `tracing` target whose events become audit records.
const TARGET: &str = "audit";

/// A [`tracing_subscriber::Layer`] that appends every event with target
/// `audit` to an [`AuditLog`].
///
/// Fields: `category` (`ORDER`, `RISK`... default `SYSTEM`), `action`
/// (default: the message), `actor`, `strategy`; every other field goes into
/// `details`. Records are redacted like any other.
///
/// The layer queues records without waiting for the fdatasync (a tracing
/// call cannot return an error); it blocks only while the queue is full, so
/// nothing is dropped. Code that must know its record is durable (order
/// intents) calls [`AuditLog::append`] or [`AuditLog::append_async`]
/// directly. If the log is poisoned, events are discarded and
/// [`AuditLog::is_poisoned`] tells the caller to stop trading.
///
/// ```
/// use std::sync::Arc;
/// use asta_audit::{AuditConfig, AuditLayer, AuditLog, ChainKey};
/// use asta_core::SystemClock;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let tmp = tempfile::tempdir()?;
/// let key = ChainKey::from_bytes(&[1u8; 32])?;
/// let log = AuditLog::open(tmp.path().join("a"), key, AuditConfig::default(), Arc::new(SystemClock))?;
/// let subscriber = tracing_subscriber::registry().with(AuditLayer::new(log.clone()));
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(target: "audit", category = "SECURITY", action = "login", user = "ops");
/// });
/// log.sync()?;
/// assert_eq!(log.head().map(|h| h.seq), Some(1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuditLayer {
    log: AuditLog,
}

impl AuditLayer {
    /// A layer writing to `log`.
    pub fn new(log: AuditLog) -> Self {
        Self { log }
    }
}

#[derive(Default)]
struct Fields {
    category: Option<Category>,
    action: Option<String>,
    message: Option<String>,
    actor: Option<String>,
    strategy: Option<String>,
    details: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let text = || match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match field.name() {
            "category" => self.category = text().parse().ok(),
            "action" => self.action = Some(text()),
            "message" => self.message = Some(text()),
            "actor" => self.actor = Some(text()),
            "strategy" => self.strategy = Some(text()),
            name => {
                self.details.insert(name.to_owned(), value);
            }
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
}

impl<S: Subscriber> Layer<S> for AuditLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let action = fields
            .action
            .or(fields.message)
            .unwrap_or_else(|| "event".to_owned());
        let mut record = AuditEvent::new(
            fields.category.unwrap_or(Category::System),
            action,
            Value::Object(fields.details),
        );
        if let Some(actor) = fields.actor {
            record = record.with_actor(actor);
        }
        if let Some(strategy) = fields.strategy {
            record = record.with_strategy(strategy);
        }
        // A failure here means the log is poisoned or closed; the owner sees
        // it through `is_poisoned` and its own appends.
        let _ = self.log.submit(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditConfig, ChainKey, verify};
    use asta_core::SystemClock;
    use std::sync::Arc;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn only_audit_target_is_recorded_and_it_is_redacted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a");
        let key = ChainKey::from_bytes(&[2u8; 32]).unwrap();
        let log = AuditLog::open(
            &dir,
            key.clone(),
            AuditConfig::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        let subscriber = tracing_subscriber::registry().with(AuditLayer::new(log.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "other", password = "CANARY-0", "not audited");
            tracing::warn!(
                target: "audit",
                category = "SECURITY",
                actor = "ops",
                password = "CANARY-1",
                note = "token=CANARY-2",
                attempts = 3u64,
                "login_failed"
            );
        });
        log.close().unwrap();
        let v = verify(&dir, &key, None).unwrap().into_result().unwrap();
        assert_eq!(v.records, 1);
        let text: String = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        assert!(!text.contains("CANARY"), "{text}");
        assert!(text.contains("\"category\":\"SECURITY\""), "{text}");
        assert!(text.contains("\"action\":\"login_failed\""), "{text}");
        assert!(text.contains("\"attempts\":3"), "{text}");
    }
}
