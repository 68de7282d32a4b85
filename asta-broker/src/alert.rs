//! Alerts: what the system tells a human, and where it sends it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::sanitize_text;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// For the record.
    Info,
    /// Someone should look soon.
    Warning,
    /// Someone must act now (trading halted, emergency stop, unknown outcome).
    Critical,
}

/// The longest alert message kept, in characters.
const MAX_MESSAGE: usize = 500;
/// The longest field value kept, in characters.
const MAX_VALUE: usize = 200;
/// The most fields kept.
const MAX_FIELDS: usize = 32;

/// Something a human should know: severity, a short machine-readable kind
/// (`emergency_stop`, `outcome_unknown`, ...), a message and a few fields.
///
/// # Never a secret
/// An alert leaves the process (to a log, a chat webhook), so it must never
/// hold a secret. Callers pass only safe text; as a second line of defence
/// the constructor strips control characters, bounds every text, replaces
/// key-like tokens (32+ characters of `[A-Za-z0-9_+/=-]`) with `[REDACTED]`,
/// and a field whose name suggests a secret (`key`, `secret`, `password`,
/// `token`, `auth`, `cookie`, `session`, `credential`, `pin`, `otp`) has its
/// value replaced by `[REDACTED]`.
///
/// ```
/// use asta_broker::{Alert, Severity};
/// use chrono::{DateTime, Utc};
///
/// let alert = Alert::new(Severity::Critical, "emergency_stop", "trading halted", DateTime::<Utc>::UNIX_EPOCH)
///     .field("reason", "daily loss limit")
///     .field("api_key", "would-never-be-passed");
/// assert_eq!(alert.fields()["api_key"], "[REDACTED]");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    severity: Severity,
    kind: String,
    message: String,
    fields: BTreeMap<String, String>,
    at: DateTime<Utc>,
}

impl Alert {
    /// A new alert raised at `at`.
    pub fn new(severity: Severity, kind: &str, message: &str, at: DateTime<Utc>) -> Self {
        let kind: String = kind
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            severity,
            kind: if kind.is_empty() {
                "alert".into()
            } else {
                kind
            },
            message: sanitize_text(message, MAX_MESSAGE),
            fields: BTreeMap::new(),
            at,
        }
    }

    /// Adds a field (at most 32; later ones are dropped). Names are reduced to
    /// `[a-z0-9_]`; values of secret-looking names are redacted.
    #[must_use]
    pub fn field(mut self, name: &str, value: &str) -> Self {
        if self.fields.len() >= MAX_FIELDS {
            return self;
        }
        let name: String = name
            .chars()
            .take(64)
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let value = if is_secret_name(&name) {
            "[REDACTED]".to_owned()
        } else {
            sanitize_text(value, MAX_VALUE)
        };
        self.fields.insert(name, value);
        self
    }

    /// The severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// The kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The fields.
    pub fn fields(&self) -> &BTreeMap<String, String> {
        &self.fields
    }
    /// When it was raised.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// What makes two alerts "the same" for deduplication: everything but the instant.
    pub(crate) fn dedup_key(&self) -> String {
        let mut key = format!(
            "{:?}\u{1f}{}\u{1f}{}",
            self.severity, self.kind, self.message
        );
        for (name, value) in &self.fields {
            key.push('\u{1f}');
            key.push_str(name);
            key.push('=');
            key.push_str(value);
        }
        key
    }
}

fn is_secret_name(name: &str) -> bool {
    const CONTAINS: [&str; 9] = [
        "key",
        "secret",
        "password",
        "passwd",
        "token",
        "auth",
        "cookie",
        "session",
        "credential",
    ];
    CONTAINS.iter().any(|s| name.contains(s))
        || name
            .split('_')
            .any(|part| matches!(part, "pin" | "otp" | "totp" | "mpin"))
}

/// What happened to an alert that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertDelivery {
    /// Sent (or logged).
    Delivered,
    /// An identical alert was delivered within the deduplication window; not sent again.
    Deduplicated,
}

/// Why an alert could not be delivered. Never contains the destination URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlertError {
    /// The sink's own rate limit is exhausted; the alert was not sent.
    #[error("alert rate limit reached; alert not sent")]
    RateLimited,
    /// The destination did not answer in time.
    #[error("alert destination timed out")]
    Timeout,
    /// The destination could not be reached.
    #[error("alert destination unreachable")]
    Unreachable,
    /// The destination answered with a non-success status.
    #[error("alert destination answered HTTP {status}")]
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// The sink is misconfigured.
    #[error("invalid alert sink configuration: {detail}")]
    InvalidConfig {
        /// What is wrong (never the URL).
        detail: &'static str,
    },
}

/// Where alerts go.
#[async_trait]
pub trait AlertSink: Send + Sync {
    /// Delivers one alert.
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError>;
}

#[async_trait]
impl<S: AlertSink + ?Sized> AlertSink for Arc<S> {
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError> {
        (**self).send(alert).await
    }
}

#[async_trait]
impl<S: AlertSink + ?Sized> AlertSink for Box<S> {
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError> {
        (**self).send(alert).await
    }
}

#[async_trait]
impl<S: AlertSink + ?Sized> AlertSink for &S {
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError> {
        (**self).send(alert).await
    }
}

/// Writes alerts to `tracing` under the target `asta_broker::alert`:
/// critical as `error`, warning as `warn`, info as `info`. Never fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAlertSink;

struct FieldsDisplay<'a>(&'a BTreeMap<String, String>);

impl fmt::Display for FieldsDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value:?}")?;
        }
        Ok(())
    }
}

#[async_trait]
impl AlertSink for TracingAlertSink {
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError> {
        let fields = FieldsDisplay(&alert.fields);
        match alert.severity {
            Severity::Critical => tracing::error!(
                target: "asta_broker::alert",
                kind = %alert.kind, at = %alert.at, fields = %fields, "{}", alert.message
            ),
            Severity::Warning => tracing::warn!(
                target: "asta_broker::alert",
                kind = %alert.kind, at = %alert.at, fields = %fields, "{}", alert.message
            ),
            Severity::Info => tracing::info!(
                target: "asta_broker::alert",
                kind = %alert.kind, at = %alert.at, fields = %fields, "{}", alert.message
            ),
        }
        Ok(AlertDelivery::Delivered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_hold_no_secrets() {
        let canary = "CANARYKEY0123456789abcdef0123456789abcdef";
        let alert = Alert::new(
            Severity::Warning,
            "login failed\n",
            &format!("key {canary}\r\ninjected"),
            DateTime::<Utc>::UNIX_EPOCH,
        )
        .field("OpenAlgo-API-Key", "plain")
        .field("totp_code", "123456")
        .field("reason", canary)
        .field("spinner", "ok");
        let text = format!("{alert:?} {}", serde_json::to_string(&alert).unwrap());
        assert!(!text.contains(canary), "{text}");
        assert!(!alert.message().contains('\n'));
        assert_eq!(alert.kind(), "login_failed_");
        assert_eq!(alert.fields()["openalgo_api_key"], "[REDACTED]");
        assert_eq!(alert.fields()["totp_code"], "[REDACTED]");
        assert_eq!(alert.fields()["spinner"], "ok");
    }
}
