//! `WebhookAlertSink`: alerts as JSON POSTs to an https URL.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;

use crate::url_policy::checked_url;
use crate::{Alert, AlertDelivery, AlertError, AlertSink};

/// Settings of a [`WebhookAlertSink`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Whole-request timeout in milliseconds (default 5,000; 1..=30,000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Identical alerts within this many seconds are sent once (default 300).
    #[serde(default = "default_dedup_secs")]
    pub dedup_window_secs: u64,
    /// At most this many alerts per rolling minute (default 20; 1..=600).
    #[serde(default = "default_per_minute")]
    pub max_per_minute: u32,
}

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_dedup_secs() -> u64 {
    300
}
fn default_per_minute() -> u32 {
    20
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            timeout_ms: default_timeout_ms(),
            dedup_window_secs: default_dedup_secs(),
            max_per_minute: default_per_minute(),
        }
    }
}

/// Posts each alert as JSON (`severity`, `kind`, `message`, `fields`, `at`)
/// to a webhook.
///
/// - The URL must be https ([`new`](Self::new)); plain http to a loopback
///   address is allowed only through
///   [`dangerous_allow_http_loopback`](Self::dangerous_allow_http_loopback),
///   meant for tests. Redirects are not followed; proxies are not used.
/// - The URL often embeds a token (chat webhooks do), so it is treated as a
///   secret: `Debug` shows only the host, errors never show it.
/// - Identical alerts (all but the instant) within the deduplication window
///   are sent once; the rest return [`AlertDelivery::Deduplicated`].
/// - Its own rolling-minute rate limit: beyond it, [`AlertError::RateLimited`]
///   (the caller should also log the alert through [`TracingAlertSink`](crate::TracingAlertSink)).
pub struct WebhookAlertSink {
    client: reqwest::Client,
    url: Url,
    config: WebhookConfig,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    recent: HashMap<String, Instant>,
    sent: VecDeque<Instant>,
}

const MAX_DEDUP_ENTRIES: usize = 1024;

impl fmt::Debug for WebhookAlertSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookAlertSink")
            .field("host", &self.url.host_str().unwrap_or(""))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebhookAlertSink {
    /// A sink posting to the https `url`.
    pub fn new(url: &str, config: WebhookConfig) -> Result<Self, AlertError> {
        Self::build(url, config, false)
    }

    /// Like [`new`](Self::new) but also accepts plain `http` to a loopback
    /// address (127.0.0.0/8, ::1, localhost): for tests only.
    pub fn dangerous_allow_http_loopback(
        url: &str,
        config: WebhookConfig,
    ) -> Result<Self, AlertError> {
        Self::build(url, config, true)
    }

    fn build(url: &str, config: WebhookConfig, allow_http: bool) -> Result<Self, AlertError> {
        let url = checked_url(url, allow_http, true).map_err(|why| AlertError::InvalidConfig {
            detail: why.explain(),
        })?;
        if config.timeout_ms == 0 || config.timeout_ms > 30_000 {
            return Err(AlertError::InvalidConfig {
                detail: "timeout_ms must be within 1..=30000",
            });
        }
        if config.max_per_minute == 0 || config.max_per_minute > 600 {
            return Err(AlertError::InvalidConfig {
                detail: "max_per_minute must be within 1..=600",
            });
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = crate::tls::client_builder()
            .map_err(|_| AlertError::InvalidConfig {
                detail: "the TLS configuration could not be built",
            })?
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .https_only(!allow_http)
            .build()
            .map_err(|_| AlertError::InvalidConfig {
                detail: "the HTTP client could not be built",
            })?;
        Ok(Self {
            client,
            url,
            config,
            state: Mutex::new(Window::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides whether to send now: `Ok(true)` send, `Ok(false)` duplicate.
    fn admit(&self, key: &str) -> Result<bool, AlertError> {
        let now = Instant::now();
        let dedup = Duration::from_secs(self.config.dedup_window_secs);
        let minute = Duration::from_secs(60);
        let mut window = self.lock();
        window
            .recent
            .retain(|_, at| now.saturating_duration_since(*at) < dedup);
        if window.recent.contains_key(key) {
            return Ok(false);
        }
        while window
            .sent
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= minute)
        {
            window.sent.pop_front();
        }
        let limit = usize::try_from(self.config.max_per_minute).unwrap_or(usize::MAX);
        if window.sent.len() >= limit {
            return Err(AlertError::RateLimited);
        }
        window.sent.push_back(now);
        Ok(true)
    }

    fn remember(&self, key: String) {
        let mut window = self.lock();
        if window.recent.len() >= MAX_DEDUP_ENTRIES
            && let Some(oldest) = window
                .recent
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
        {
            window.recent.remove(&oldest);
        }
        window.recent.insert(key, Instant::now());
    }
}

#[async_trait]
impl AlertSink for WebhookAlertSink {
    async fn send(&self, alert: &Alert) -> Result<AlertDelivery, AlertError> {
        let key = alert.dedup_key();
        if !self.admit(&key)? {
            return Ok(AlertDelivery::Deduplicated);
        }
        let body = serde_json::to_vec(alert).map_err(|_| AlertError::InvalidConfig {
            detail: "the alert could not be encoded",
        })?;
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    AlertError::Timeout
                } else {
                    AlertError::Unreachable
                }
            })?;
        let status = response.status();
        drop(response);
        if status.is_success() {
            self.remember(key);
            Ok(AlertDelivery::Delivered)
        } else {
            Err(AlertError::Rejected {
                status: status.as_u16(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn dedup_window_and_rate_window_are_driven_by_tokio_time() {
        let config = WebhookConfig {
            timeout_ms: 1_000,
            dedup_window_secs: 60,
            max_per_minute: 2,
        };
        let sink = WebhookAlertSink::new("https://hooks.example.com/x", config).unwrap();
        assert_eq!(sink.admit("a"), Ok(true));
        sink.remember("a".into());
        assert_eq!(sink.admit("a"), Ok(false));
        assert_eq!(sink.admit("b"), Ok(true));
        assert_eq!(sink.admit("c"), Err(AlertError::RateLimited));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(sink.admit("a"), Ok(true), "dedup window over");
        assert_eq!(sink.admit("c"), Ok(true), "rate window over");
    }
}
