//! The HTTP transport: one POST (or, for the instrument list, one GET), a
//! bounded body, and a classified answer.

use std::fmt;
use std::time::Duration;

use reqwest::{StatusCode, Url, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::rate_limit::RateLimiter;
use super::wire::{Object, fields, message};
use super::{ServerMode, api};
use crate::BrokerError;

/// An OpenAlgo endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    PlaceOrder,
    ModifyOrder,
    CancelOrder,
    CancelAllOrder,
    ClosePosition,
    OrderStatus,
    OrderBook,
    PositionBook,
    Funds,
    Quotes,
    Ping,
    Analyzer,
    TradeBook,
    Holdings,
    OpenPosition,
    PlaceSmartOrder,
    /// The instrument list (`GET instruments`, see `super::instruments`).
    Instruments,
    /// Any path, for replaying contract entries of endpoints this adapter
    /// deliberately does not call (analyzer toggle, smart orders, ...).
    #[cfg(test)]
    Raw {
        path: &'static str,
        write: bool,
    },
}

impl Endpoint {
    /// The path after `/api/v1/`: the gateway's [`api::Endpoint`] spelling,
    /// so that both directions name endpoints alike.
    pub(crate) fn name(self) -> &'static str {
        let api = match self {
            Self::PlaceOrder => api::Endpoint::PlaceOrder,
            Self::ModifyOrder => api::Endpoint::ModifyOrder,
            Self::CancelOrder => api::Endpoint::CancelOrder,
            Self::CancelAllOrder => api::Endpoint::CancelAllOrder,
            Self::ClosePosition => api::Endpoint::ClosePosition,
            Self::OrderStatus => api::Endpoint::OrderStatus,
            Self::OrderBook => api::Endpoint::OrderBook,
            Self::PositionBook => api::Endpoint::PositionBook,
            Self::Funds => api::Endpoint::Funds,
            Self::Quotes => api::Endpoint::Quotes,
            Self::Ping => api::Endpoint::Ping,
            Self::Analyzer => api::Endpoint::Analyzer,
            Self::TradeBook => api::Endpoint::TradeBook,
            Self::Holdings => api::Endpoint::Holdings,
            Self::OpenPosition => api::Endpoint::OpenPosition,
            Self::PlaceSmartOrder => api::Endpoint::PlaceSmartOrder,
            Self::Instruments => return "instruments",
            #[cfg(test)]
            Self::Raw { path, .. } => return path,
        };
        api.as_path()
    }

    /// The endpoint called `name` (tests replay contract entries by path).
    #[cfg(test)]
    pub(crate) fn by_name(name: &str) -> Option<Self> {
        [
            Self::PlaceOrder,
            Self::ModifyOrder,
            Self::CancelOrder,
            Self::CancelAllOrder,
            Self::ClosePosition,
            Self::OrderStatus,
            Self::OrderBook,
            Self::PositionBook,
            Self::Funds,
            Self::Quotes,
            Self::Ping,
            Self::Analyzer,
            Self::TradeBook,
            Self::Holdings,
            Self::OpenPosition,
            Self::PlaceSmartOrder,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }

    /// Whether the call changes something at the broker (and so may have
    /// happened when no answer arrives). These are also the endpoints under
    /// OpenAlgo's per-endpoint order rate limit.
    pub(crate) fn is_write(self) -> bool {
        #[cfg(test)]
        if let Self::Raw { write, .. } = self {
            return write;
        }
        matches!(
            self,
            Self::PlaceOrder
                | Self::PlaceSmartOrder
                | Self::ModifyOrder
                | Self::CancelOrder
                | Self::CancelAllOrder
                | Self::ClosePosition
        )
    }

    /// Whether answers of this endpoint say which mode served them (`mode`).
    /// Quotes, ping, the analyzer status itself and the instrument list do
    /// not, in either mode.
    pub(crate) fn carries_mode(self) -> bool {
        #[cfg(test)]
        if let Self::Raw { .. } = self {
            return false;
        }
        !matches!(
            self,
            Self::Quotes | Self::Ping | Self::Analyzer | Self::Instruments
        )
    }
}

/// Transport settings, already validated.
#[derive(Debug, Clone)]
pub(crate) struct TransportSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_body_bytes: usize,
    /// The bound for the instrument list, which is far larger than any
    /// other answer (tens of thousands of rows for NFO).
    pub(crate) max_list_bytes: usize,
    pub(crate) order_per_sec: u32,
    pub(crate) other_per_sec: u32,
    /// The mode every answer must come from.
    pub(crate) server_mode: ServerMode,
}

/// A configured HTTP client for one OpenAlgo server and key.
pub(crate) struct Transport {
    client: reqwest::Client,
    api_root: Url,
    api_key: SecretString,
    settings: TransportSettings,
    limiter: RateLimiter,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("host", &self.api_root.host_str().unwrap_or(""))
            .field("settings", &self.settings)
            .field("api_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Why a transport could not be built (no URL, no key in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientBuildFailed;

impl Transport {
    pub(crate) fn new(
        base: &Url,
        api_key: SecretString,
        settings: TransportSettings,
    ) -> Result<Self, ClientBuildFailed> {
        let mut api_root = base.clone();
        if !api_root.path().ends_with('/') {
            let path = format!("{}/", api_root.path());
            api_root.set_path(&path);
        }
        let api_root = api_root.join("api/v1/").map_err(|_| ClientBuildFailed)?;
        let client = crate::tls::client_builder()
            .map_err(|_| ClientBuildFailed)?
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|_| ClientBuildFailed)?;
        Ok(Self {
            client,
            api_root,
            api_key,
            limiter: RateLimiter::new(settings.order_per_sec, settings.other_per_sec),
            settings,
        })
    }

    /// Replaces the API key wherever broker text echoes it, then bounds it.
    fn scrub(&self, text: Option<String>) -> Option<String> {
        let key = self.api_key.expose_secret();
        text.map(|t| {
            if key.is_empty() {
                t
            } else {
                t.replace(key, "[REDACTED]")
            }
        })
    }

    /// POSTs `body` (plus `apikey`) to `endpoint` and returns the JSON object
    /// of a success answer, or a classified error.
    ///
    /// Rate limiting: write endpoints are denied beyond their limit; others wait.
    pub(crate) async fn post(
        &self,
        endpoint: Endpoint,
        mut body: Object,
    ) -> Result<Object, BrokerError> {
        if endpoint.is_write() {
            self.limiter.acquire_order(endpoint.name())?;
        } else {
            self.limiter.acquire_other().await;
        }
        let url = self
            .api_root
            .join(endpoint.name())
            .map_err(|_| BrokerError::Protocol {
                detail: "could not form the endpoint URL".into(),
            })?;
        body.insert(
            fields::APIKEY.into(),
            Value::String(self.api_key.expose_secret().to_owned()),
        );
        let bytes = serde_json::to_vec(&body).map_err(|_| BrokerError::Protocol {
            detail: "could not encode the request".into(),
        })?;
        drop(body);
        let request = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .body(bytes);
        self.exchange(endpoint, request).await
    }

    /// GETs `endpoint` with `query` (plus `apikey`, which OpenAlgo's GET
    /// endpoints take only in the query string) and returns the JSON object
    /// of a success answer, or a classified error. Only for read endpoints.
    ///
    /// The URL holds the key, so it is built here, sent, and dropped: it is
    /// never logged, and reqwest errors (whose text would show it) are never
    /// read (see `transport_error`).
    pub(crate) async fn get(
        &self,
        endpoint: Endpoint,
        query: &[(&str, &str)],
    ) -> Result<Object, BrokerError> {
        debug_assert!(!endpoint.is_write(), "GET is only for read endpoints");
        self.limiter.acquire_other().await;
        let mut url = self
            .api_root
            .join(endpoint.name())
            .map_err(|_| BrokerError::Protocol {
                detail: "could not form the endpoint URL".into(),
            })?;
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair(fields::APIKEY, self.api_key.expose_secret());
        let request = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json");
        self.exchange(endpoint, request).await
    }

    /// Sends a built request and classifies its answer.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
    ) -> Result<Object, BrokerError> {
        let started = tokio::time::Instant::now();
        let sent = request.send().await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(endpoint, &e)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        let raw = self.read_bounded(endpoint, response).await;
        tracing::debug!(
            endpoint = endpoint.name(),
            status = status.as_u16(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "openalgo call answered"
        );
        let raw = match raw {
            Ok(raw) => Some(raw),
            Err(BodyProblem::TooLarge) => None,
            Err(BodyProblem::Broken(error)) => return Err(error),
        };
        let parsed: Option<Object> = match (&raw, is_json) {
            (Some(bytes), true) => {
                serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .and_then(|v| match v {
                        Value::Object(o) => Some(o),
                        _ => None,
                    })
            }
            _ => None,
        };
        self.classify(
            endpoint,
            status,
            retry_after,
            raw.is_none(),
            is_json,
            parsed,
        )
    }

    fn classify(
        &self,
        endpoint: Endpoint,
        status: StatusCode,
        retry_after: Option<Duration>,
        too_large: bool,
        is_json: bool,
        body: Option<Object>,
    ) -> Result<Object, BrokerError> {
        let write = endpoint.is_write();
        if let Some(found) = self.mode_problem(endpoint, status, body.as_ref()) {
            tracing::error!(
                endpoint = endpoint.name(),
                expected = self.settings.server_mode.as_str(),
                found = %found,
                "OpenAlgo answered from another mode"
            );
            return Err(BrokerError::ModeMismatch {
                expected: self.settings.server_mode.as_str(),
                found,
            });
        }
        let msg = self.scrub(body.as_ref().and_then(message));
        let code = status.as_u16();
        let reason = |fallback: &str| msg.clone().unwrap_or_else(|| fallback.to_owned());
        if status.is_success() {
            let problem = if too_large {
                Some(format!(
                    "answer larger than {} bytes",
                    self.body_limit(endpoint)
                ))
            } else if !is_json {
                Some("answer is not application/json".to_owned())
            } else if body.is_none() {
                Some("answer is not a JSON object".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(unreadable(write, endpoint, &problem));
            }
            let body = body.unwrap_or_default();
            return match body.get(fields::STATUS).and_then(Value::as_str) {
                Some("success") => Ok(body),
                Some("error") => Err(BrokerError::rejected(&reason(
                    "the broker reported an error",
                ))),
                _ => Err(unreadable(write, endpoint, "answer has no success status")),
            };
        }
        Err(match code {
            401 | 403 => BrokerError::AuthFailed {
                reason: reason(&format!("HTTP {code}")),
            },
            429 => BrokerError::RateLimited { retry_after },
            404 if matches!(
                endpoint,
                Endpoint::OrderStatus | Endpoint::CancelOrder | Endpoint::ModifyOrder
            ) =>
            {
                BrokerError::NotFound {
                    detail: reason("order not found"),
                }
            }
            400 | 404 | 405 | 409 | 413 | 415 | 422 => {
                BrokerError::rejected(&reason(&format!("HTTP {code}")))
            }
            500..=599 if write => BrokerError::outcome_unknown(&format!(
                "{} answered HTTP {code} ({}); the request may have been acted on",
                endpoint.name(),
                reason("no message")
            )),
            500..=599 => BrokerError::Unavailable {
                detail: format!(
                    "{} answered HTTP {code} ({})",
                    endpoint.name(),
                    reason("no message")
                ),
            },
            _ if write => BrokerError::outcome_unknown(&format!(
                "{} answered unexpected HTTP {code}; the request may have been acted on",
                endpoint.name()
            )),
            _ => BrokerError::Protocol {
                detail: format!("{} answered unexpected HTTP {code}", endpoint.name()),
            },
        })
    }

    /// What is wrong with the `mode` of an answer, if anything: an answer of
    /// an analyze-mode adapter must say `analyze` (an error answer without
    /// `mode` comes from OpenAlgo's request checks, before any mode applies,
    /// and keeps its meaning); a live-mode adapter accepts `live`,
    /// `semi_auto` or no `mode` (live answers carry none), never `analyze`.
    fn mode_problem(
        &self,
        endpoint: Endpoint,
        status: StatusCode,
        body: Option<&Object>,
    ) -> Option<String> {
        if !endpoint.carries_mode() {
            return None;
        }
        let body = body?;
        let shown = |v: &Value| match v {
            Value::String(s) => crate::error::sanitize_text(s, 32),
            Value::Null => "null".to_owned(),
            _ => "a non-text value".to_owned(),
        };
        match (self.settings.server_mode, body.get(fields::MODE)) {
            (ServerMode::Analyze, Some(Value::String(m))) if m == "analyze" => None,
            (ServerMode::Analyze, Some(other)) => Some(shown(other)),
            (ServerMode::Analyze, None) => {
                let success = status.is_success()
                    && body.get(fields::STATUS).and_then(Value::as_str) == Some("success");
                success.then(|| "no mode (a live answer)".to_owned())
            }
            (ServerMode::Live, None) => None,
            (ServerMode::Live, Some(Value::String(m))) if m == "live" || m == "semi_auto" => None,
            (ServerMode::Live, Some(other)) => Some(shown(other)),
        }
    }

    /// Maps a reqwest error without ever reading its text (it may hold the URL).
    fn transport_error(&self, endpoint: Endpoint, error: &reqwest::Error) -> BrokerError {
        let name = endpoint.name();
        if error.is_connect() {
            // Nothing was sent: the connection was never established.
            return BrokerError::Unavailable {
                detail: format!("could not connect to the OpenAlgo server for {name}"),
            };
        }
        let what = if error.is_timeout() {
            format!(
                "no answer from {name} within {} ms",
                self.settings.request_timeout.as_millis()
            )
        } else {
            format!("the connection to {name} failed before an answer arrived")
        };
        if endpoint.is_write() {
            BrokerError::outcome_unknown(&format!("{what}; the request may have been acted on"))
        } else {
            BrokerError::Unavailable { detail: what }
        }
    }

    /// The largest body read for `endpoint`.
    fn body_limit(&self, endpoint: Endpoint) -> usize {
        match endpoint {
            Endpoint::Instruments => self.settings.max_list_bytes,
            _ => self.settings.max_body_bytes,
        }
    }

    /// Reads the body chunk by chunk, stopping at the bound.
    async fn read_bounded(
        &self,
        endpoint: Endpoint,
        mut response: reqwest::Response,
    ) -> Result<Vec<u8>, BodyProblem> {
        let max = self.body_limit(endpoint);
        if response
            .content_length()
            .is_some_and(|len| len > u64::try_from(max).unwrap_or(u64::MAX))
        {
            return Err(BodyProblem::TooLarge);
        }
        let mut out = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if out.len().saturating_add(chunk.len()) > max {
                        return Err(BodyProblem::TooLarge);
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(out),
                Err(e) => return Err(BodyProblem::Broken(self.transport_error(endpoint, &e))),
            }
        }
    }
}

enum BodyProblem {
    TooLarge,
    Broken(BrokerError),
}

fn unreadable(write: bool, endpoint: Endpoint, problem: &str) -> BrokerError {
    if write {
        BrokerError::outcome_unknown(&format!(
            "{} succeeded at HTTP level but its {problem}; the request may have been acted on",
            endpoint.name()
        ))
    } else {
        BrokerError::Protocol {
            detail: format!("{}: {problem}", endpoint.name()),
        }
    }
}
