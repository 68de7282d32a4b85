//! `OpenAlgoBroker`: the adapter for an OpenAlgo v1 server.

pub mod api;
mod client;
#[cfg(test)]
mod contract_tests;
mod instruments;
mod rate_limit;
mod wire;

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use asta_core::{Clock, Exchange, OrderId, OrderRequest, StrategyTag, Symbol};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use self::client::{Endpoint, Transport, TransportSettings};
pub use self::instruments::{InstrumentList, RefusedInstrument};
use self::wire::{Object, PlaceAnswer, SmartAnswer};
use crate::reconcile::{self, AmendCheck, Attempt, Resolution};
use crate::url_policy::checked_url;
use crate::{
    Broker, BrokerError, CancelAllReport, CloseAllReport, Funds, Holding, ModifyRequest,
    OrderBookEntry, OrderStatus, Position, PositionKey, Quote, QuoteSource, SmartOrderOutcome,
    Trade, Venue,
};

/// Settings of an [`OpenAlgoBroker`]. The API key is passed separately, as a
/// [`SecretString`], never in this (loggable) structure.
///
/// ```
/// let config: asta_broker::OpenAlgoConfig =
///     serde_json::from_str(r#"{"base_url": "https://openalgo.example.com"}"#)?;
/// assert_eq!(config.request_timeout_ms, 10_000);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAlgoConfig {
    /// The mode the server must be in: `analyze` (default: OpenAlgo's
    /// analyzer simulates every order) or `live`. Every answer is checked
    /// against it; an answer from the other mode is a
    /// [`BrokerError::ModeMismatch`].
    #[serde(default)]
    pub server_mode: ServerMode,
    /// The server's base URL: `https://...`, or `http://` on a loopback
    /// address (127.0.0.0/8, ::1, localhost). No credentials, query or fragment.
    pub base_url: String,
    /// TCP/TLS connect timeout in ms (default 3,000; 1..=30,000).
    #[serde(default = "d_connect")]
    pub connect_timeout_ms: u64,
    /// Whole-request timeout in ms (default 10,000; 1..=60,000: well under
    /// the server's own 120 s).
    #[serde(default = "d_request")]
    pub request_timeout_ms: u64,
    /// Largest response body read, in bytes (default 1 MiB; 1 KiB..=16 MiB).
    #[serde(default = "d_body")]
    pub max_body_bytes: usize,
    /// Largest instrument-list body read, in bytes (default 64 MiB;
    /// 1 KiB..=256 MiB): OpenAlgo's list for NFO alone has tens of
    /// thousands of rows. Only [`OpenAlgoBroker::instruments`] reads one.
    #[serde(default = "d_list_body")]
    pub max_instrument_list_bytes: usize,
    /// Order calls per second per endpoint (default 8; 1..=10, the server's limit).
    #[serde(default = "d_order_rate")]
    pub order_rate_per_sec: u32,
    /// Other calls per second (default 40; 1..=50, the server's limit).
    #[serde(default = "d_other_rate")]
    pub other_rate_per_sec: u32,
    /// Retries of a read-only call after a transient failure (default 2; at most 5).
    #[serde(default = "d_retries")]
    pub read_retries: u32,
    /// First backoff before a read retry, in ms, doubled each time (default 200).
    #[serde(default = "d_backoff")]
    pub retry_backoff_ms: u64,
    /// Order-book polls when a placement outcome is unknown (default 5; 1..=20).
    #[serde(default = "d_polls")]
    pub reconcile_polls: u32,
    /// Wait before each reconciliation poll, in ms (default 1,000; at most 10,000).
    #[serde(default = "d_interval")]
    pub reconcile_interval_ms: u64,
    /// How far before the attempt a matching order may be timestamped, in
    /// seconds (default 5: the server's timestamps have one-second resolution
    /// and clocks drift; at most 60; values below 2 are used as 2).
    #[serde(default = "d_lookback")]
    pub reconcile_lookback_secs: u64,
}

fn d_connect() -> u64 {
    3_000
}
fn d_request() -> u64 {
    10_000
}
fn d_body() -> usize {
    1 << 20
}
fn d_list_body() -> usize {
    64 << 20
}
fn d_order_rate() -> u32 {
    8
}
fn d_other_rate() -> u32 {
    40
}
fn d_retries() -> u32 {
    2
}
fn d_backoff() -> u64 {
    200
}
fn d_polls() -> u32 {
    5
}
fn d_interval() -> u64 {
    1_000
}
fn d_lookback() -> u64 {
    5
}

impl OpenAlgoConfig {
    /// Defaults for everything but the base URL.
    pub fn new(base_url: &str) -> Self {
        Self {
            server_mode: ServerMode::default(),
            base_url: base_url.to_owned(),
            connect_timeout_ms: d_connect(),
            request_timeout_ms: d_request(),
            max_body_bytes: d_body(),
            max_instrument_list_bytes: d_list_body(),
            order_rate_per_sec: d_order_rate(),
            other_rate_per_sec: d_other_rate(),
            read_retries: d_retries(),
            retry_backoff_ms: d_backoff(),
            reconcile_polls: d_polls(),
            reconcile_interval_ms: d_interval(),
            reconcile_lookback_secs: d_lookback(),
        }
    }
}

/// Why an OpenAlgo adapter could not be built. Never contains the URL or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenAlgoConfigError {
    /// The base URL breaks the transport policy.
    #[error("base_url refused: {0}")]
    BaseUrl(&'static str),
    /// A setting is out of its allowed range.
    #[error("{field} = {value} is outside its allowed range {range}")]
    OutOfRange {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: u64,
        /// The allowed range.
        range: &'static str,
    },
    /// The API key is empty.
    #[error("the API key is empty")]
    EmptyKey,
    /// The HTTP client could not be built (TLS setup).
    #[error("the HTTP client could not be built")]
    Client,
}

/// Whether the server simulates orders (analyze mode) or sends them to the
/// broker (live).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServerMode {
    /// Analyzer (sandbox) mode: orders are simulated by the server.
    #[default]
    Analyze,
    /// Live mode: orders go to the exchange.
    Live,
}

impl ServerMode {
    /// `analyze` or `live`, as OpenAlgo spells it in `mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMode::Analyze => "analyze",
            ServerMode::Live => "live",
        }
    }
}

fn range(
    field: &'static str,
    value: u64,
    lo: u64,
    hi: u64,
    text: &'static str,
) -> Result<(), OpenAlgoConfigError> {
    if (lo..=hi).contains(&value) {
        Ok(())
    } else {
        Err(OpenAlgoConfigError::OutOfRange {
            field,
            value,
            range: text,
        })
    }
}

#[derive(Debug, Clone)]
struct Reconcile {
    polls: u32,
    interval: Duration,
    lookback: chrono::TimeDelta,
}

#[derive(Debug, Clone)]
struct Retry {
    retries: u32,
    backoff: Duration,
}

fn build_transport(
    config: &OpenAlgoConfig,
    api_key: SecretString,
) -> Result<(Transport, Reconcile, Retry), OpenAlgoConfigError> {
    let base = checked_url(&config.base_url, true, false)
        .map_err(|why| OpenAlgoConfigError::BaseUrl(why.explain()))?;
    if api_key.expose_secret().trim().is_empty() {
        return Err(OpenAlgoConfigError::EmptyKey);
    }
    range(
        "connect_timeout_ms",
        config.connect_timeout_ms,
        1,
        30_000,
        "1..=30000",
    )?;
    range(
        "request_timeout_ms",
        config.request_timeout_ms,
        1,
        60_000,
        "1..=60000",
    )?;
    let body = u64::try_from(config.max_body_bytes).unwrap_or(u64::MAX);
    range("max_body_bytes", body, 1024, 16 << 20, "1024..=16777216")?;
    let list = u64::try_from(config.max_instrument_list_bytes).unwrap_or(u64::MAX);
    range(
        "max_instrument_list_bytes",
        list,
        1024,
        256 << 20,
        "1024..=268435456",
    )?;
    range(
        "order_rate_per_sec",
        config.order_rate_per_sec.into(),
        1,
        10,
        "1..=10",
    )?;
    range(
        "other_rate_per_sec",
        config.other_rate_per_sec.into(),
        1,
        50,
        "1..=50",
    )?;
    range("read_retries", config.read_retries.into(), 0, 5, "0..=5")?;
    range(
        "retry_backoff_ms",
        config.retry_backoff_ms,
        0,
        10_000,
        "0..=10000",
    )?;
    range(
        "reconcile_polls",
        config.reconcile_polls.into(),
        1,
        20,
        "1..=20",
    )?;
    range(
        "reconcile_interval_ms",
        config.reconcile_interval_ms,
        0,
        10_000,
        "0..=10000",
    )?;
    range(
        "reconcile_lookback_secs",
        config.reconcile_lookback_secs,
        0,
        60,
        "0..=60",
    )?;
    let settings = TransportSettings {
        connect_timeout: Duration::from_millis(config.connect_timeout_ms),
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        max_body_bytes: config.max_body_bytes,
        max_list_bytes: config.max_instrument_list_bytes,
        order_per_sec: config.order_rate_per_sec,
        other_per_sec: config.other_rate_per_sec,
        server_mode: config.server_mode,
    };
    let transport =
        Transport::new(&base, api_key, settings).map_err(|_| OpenAlgoConfigError::Client)?;
    let lookback = i64::try_from(config.reconcile_lookback_secs).unwrap_or(60);
    Ok((
        transport,
        Reconcile {
            polls: config.reconcile_polls,
            interval: Duration::from_millis(config.reconcile_interval_ms),
            lookback: chrono::TimeDelta::seconds(lookback),
        },
        Retry {
            retries: config.read_retries,
            backoff: Duration::from_millis(config.retry_backoff_ms),
        },
    ))
}

/// The most order ids remembered as "already known" for reconciliation.
const KNOWN_IDS: usize = 10_000;

/// A [`Broker`] over an OpenAlgo v1 server (reqwest with rustls).
///
/// - **Built for one server mode** ([`OpenAlgoConfig::server_mode`]).
///   Every answer is checked: an analyze-mode adapter needs `"mode":
///   "analyze"` on every answer of an order, book or account endpoint (a
///   success without it is a live answer); a live-mode adapter refuses
///   `"mode": "analyze"`. A mismatch is [`BrokerError::ModeMismatch`]: the
///   request was sent and may have been acted on. [`venue`](Broker::venue)
///   is [`Venue::BrokerSimulation`] in analyze mode and [`Venue::External`]
///   in live mode; [`check_venue`](Broker::check_venue) asks the server's
///   analyzer status.
/// - **Placement is never retried.** A timeout, a dropped connection, a 5xx,
///   an unreadable success or a success without an order id is reconciled
///   against the order book (see the `reconcile_*` settings and
///   `crate::reconcile`): exactly one matching order placed since the
///   attempt (minus a look-back of at least 2 s) gives its id; otherwise the
///   call fails with [`BrokerError::OutcomeUnknown`] saying what was found.
///   A MARKET order is matched without its price (OpenAlgo books it at the
///   last traded price). An empty order book is never read as "no order"
///   (in live mode it is also what a broker error looks like).
///   Reconciliation dates the attempt with the injected clock and compares it
///   with the server's IST timestamps, so production code must use a real
///   clock (`SystemClock`).
/// - A semi-auto answer (`pending_order_id`: queued for manual approval) is
///   [`BrokerError::PendingApproval`]: not at the exchange yet, but an
///   operator may still approve it in OpenAlgo's Action Center.
/// - In live mode OpenAlgo reports any broker HTTP 200 as success, so a
///   successful `modifyorder` or `cancelorder` is confirmed by reading the
///   order's status; a status that does not show the change is an
///   `OutcomeUnknown`, not `Ok`. Modifications and cancels are not retried.
/// - Read-only calls retry transient failures with doubling backoff.
/// - 403 (and 401) are [`BrokerError::AuthFailed`]; 429 is
///   [`BrokerError::RateLimited`]; 404 on an order is
///   [`BrokerError::NotFound`]; other 4xx are `Rejected`.
/// - Client-side rate limit: order endpoints are denied beyond
///   `order_rate_per_sec` in any one-second window; other calls wait.
/// - An order carrying an exchange algo id is rejected: OpenAlgo v1 has no
///   field for it and refuses unknown fields.
pub struct OpenAlgoBroker {
    transport: Arc<Transport>,
    clock: Arc<dyn Clock>,
    mode: ServerMode,
    reconcile: Reconcile,
    retry: Retry,
    known: Mutex<KnownIds>,
}

#[derive(Debug, Default)]
struct KnownIds {
    set: HashSet<OrderId>,
    order: VecDeque<OrderId>,
}

impl KnownIds {
    /// Remembers `id`; `false` if it was already known.
    fn insert(&mut self, id: OrderId) -> bool {
        if !self.set.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > KNOWN_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

impl fmt::Debug for OpenAlgoBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAlgoBroker")
            .field("mode", &self.mode)
            .field("transport", &self.transport)
            .field("reconcile", &self.reconcile)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl OpenAlgoBroker {
    /// Validates `config` and builds the adapter. `clock` dates placement
    /// attempts for reconciliation.
    pub fn new(
        config: &OpenAlgoConfig,
        api_key: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenAlgoConfigError> {
        let (transport, reconcile, retry) = build_transport(config, api_key)?;
        Ok(Self {
            transport: Arc::new(transport),
            clock,
            mode: config.server_mode,
            reconcile,
            retry,
            known: Mutex::new(KnownIds::default()),
        })
    }

    /// The server mode this adapter was built for.
    pub fn expected_mode(&self) -> ServerMode {
        self.mode
    }

    /// A quote-only view of this server, for a [`PaperBroker`](crate::PaperBroker).
    pub fn quote_source(&self) -> OpenAlgoQuoteSource {
        OpenAlgoQuoteSource {
            transport: Arc::clone(&self.transport),
            clock: Arc::clone(&self.clock),
            retry: self.retry.clone(),
        }
    }

    /// Checks the server and key (`ping`); returns the broker's name.
    pub async fn ping(&self) -> Result<String, BrokerError> {
        let body = read(&self.transport, &self.retry, Endpoint::Ping, Object::new()).await?;
        wire::ping_response(&body).map_err(protocol)
    }

    /// Whether the server is in analyzer (simulated) or live mode.
    pub async fn server_mode(&self) -> Result<ServerMode, BrokerError> {
        let body = read(
            &self.transport,
            &self.retry,
            Endpoint::Analyzer,
            Object::new(),
        )
        .await?;
        wire::analyze_mode(&body)
            .map(|analyze| {
                if analyze {
                    ServerMode::Analyze
                } else {
                    ServerMode::Live
                }
            })
            .map_err(protocol)
    }

    fn remember(&self, id: &OrderId) -> bool {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone())
    }

    fn is_known(&self, id: &OrderId) -> bool {
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set
            .contains(id)
    }

    /// Polls the order book for the order of an attempt whose outcome is unknown.
    async fn reconcile(
        &self,
        order: &OrderRequest,
        attempt_at: chrono::DateTime<chrono::Utc>,
        why: &str,
    ) -> Result<OrderId, BrokerError> {
        let mut book_failures = 0u32;
        let mut empty_books = 0u32;
        for _ in 0..self.reconcile.polls {
            tokio::time::sleep(self.reconcile.interval).await;
            let body = match self
                .transport
                .post(Endpoint::OrderBook, Object::new())
                .await
            {
                Ok(body) => body,
                Err(error @ BrokerError::ModeMismatch { .. }) => return Err(error),
                Err(_) => {
                    book_failures += 1;
                    continue;
                }
            };
            let Ok(objects) = wire::order_book_objects(&body) else {
                book_failures += 1;
                continue;
            };
            if objects.is_empty() {
                empty_books += 1;
            }
            // Entries that do not parse cannot be the order this adapter
            // sent (every field of it is valid): they are left out.
            let book: Vec<OrderStatus> = objects
                .into_iter()
                .filter_map(|raw| wire::order_status(raw).ok())
                .collect();
            let attempt = Attempt {
                order,
                attempted_at: attempt_at,
            };
            let found = reconcile::reconcile(&[attempt], &book, self.reconcile.lookback, &|id| {
                self.is_known(id)
            });
            match found.into_iter().next().unwrap_or(Resolution::NotFound) {
                Resolution::Found(id) => {
                    // One to one: a concurrent reconciliation may have claimed it.
                    if !self.remember(&id) {
                        continue;
                    }
                    tracing::warn!(
                        order_id = %id,
                        "placement outcome was unknown; reconciliation found the order"
                    );
                    return Ok(id);
                }
                ambiguous @ Resolution::Ambiguous(_) => {
                    return Err(BrokerError::outcome_unknown(&format!(
                        "{why}; reconciliation is {}; check the order book before retrying",
                        ambiguous.explain()
                    )));
                }
                Resolution::NotFound => {}
            }
        }
        tracing::warn!("placement outcome unknown and not found in the order book");
        let mut notes = Vec::new();
        if book_failures > 0 {
            notes.push(format!("{book_failures} polls failed"));
        }
        if empty_books > 0 {
            notes.push(format!(
                "{empty_books} polls saw an empty order book, which can also be a broker error: could not tell"
            ));
        }
        Err(BrokerError::outcome_unknown(&format!(
            "{why}; reconciliation found no matching order after {} order-book polls over {} ms{}; the order may still appear: check the order book before retrying",
            self.reconcile.polls,
            self.reconcile.interval.as_millis() * u128::from(self.reconcile.polls),
            if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join("; "))
            }
        )))
    }

    /// In live mode, reads the order's status after a modify or cancel that
    /// OpenAlgo called a success, and turns anything but proof into an
    /// unknown outcome.
    async fn confirm(
        &self,
        what: &str,
        strategy: &StrategyTag,
        order_id: &OrderId,
        check: impl Fn(&OrderStatus) -> AmendCheck,
    ) -> Result<(), BrokerError> {
        if self.mode != ServerMode::Live {
            return Ok(());
        }
        match self.order_status(strategy, order_id).await {
            Ok(status) => match check(&status) {
                AmendCheck::Done => Ok(()),
                AmendCheck::NotDone => Err(BrokerError::outcome_unknown(&format!(
                    "OpenAlgo answered success to {what} of order {order_id}, but its status ({}) does not show it: the broker may have refused it",
                    status.state().as_str()
                ))),
                AmendCheck::Unclear(why) => Err(BrokerError::outcome_unknown(&format!(
                    "OpenAlgo answered success to {what} of order {order_id}, but its status cannot confirm it: {why}"
                ))),
            },
            Err(error @ BrokerError::ModeMismatch { .. }) => Err(error),
            Err(error) => Err(BrokerError::outcome_unknown(&format!(
                "OpenAlgo answered success to {what} of order {order_id}, but its status could not be read to confirm it ({error})"
            ))),
        }
    }
}

fn protocol(detail: String) -> BrokerError {
    BrokerError::Protocol { detail }
}

/// A read-only call with bounded retries on transient failures.
async fn read(
    transport: &Transport,
    retry: &Retry,
    endpoint: Endpoint,
    body: Object,
) -> Result<Object, BrokerError> {
    let mut backoff = retry.backoff;
    let mut attempt = 0;
    loop {
        match transport.post(endpoint, body.clone()).await {
            Err(e) if e.is_transient() && attempt < retry.retries => {
                attempt += 1;
                tracing::debug!(
                    endpoint = endpoint.name(),
                    attempt,
                    "retrying read-only call"
                );
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            other => return other,
        }
    }
}

async fn fetch_quote(
    transport: &Transport,
    retry: &Retry,
    clock: &dyn Clock,
    exchange: Exchange,
    symbol: &Symbol,
) -> Result<Quote, BrokerError> {
    let body = read(
        transport,
        retry,
        Endpoint::Quotes,
        wire::quote_body(exchange, symbol),
    )
    .await?;
    wire::quote_response(&body, clock.now()).map_err(protocol)
}

#[async_trait]
impl Broker for OpenAlgoBroker {
    async fn place_order(&self, order: &OrderRequest) -> Result<OrderId, BrokerError> {
        if order.algo_id().is_some() {
            return Err(BrokerError::rejected(
                "OpenAlgo v1 has no field for an exchange algo id; the order was not sent",
            ));
        }
        let attempt_at = self.clock.now();
        let why = match self
            .transport
            .post(Endpoint::PlaceOrder, wire::place_order_body(order))
            .await
        {
            Ok(body) => match wire::place_answer(&body) {
                PlaceAnswer::Placed(id) => {
                    self.remember(&id);
                    return Ok(id);
                }
                PlaceAnswer::Queued(pending_id) => {
                    return Err(BrokerError::PendingApproval { pending_id });
                }
                PlaceAnswer::NoOrderId(why) => why.to_owned(),
            },
            Err(BrokerError::OutcomeUnknown { detail }) => detail,
            Err(other) => return Err(other),
        };
        tracing::warn!("placement outcome unknown; reconciling with the order book");
        self.reconcile(order, attempt_at, &why).await
    }

    async fn modify_order(&self, request: &ModifyRequest) -> Result<OrderId, BrokerError> {
        if request.order().algo_id().is_some() {
            return Err(BrokerError::rejected(
                "OpenAlgo v1 has no field for an exchange algo id; the modification was not sent",
            ));
        }
        let body = self
            .transport
            .post(
                Endpoint::ModifyOrder,
                wire::modify_order_body(request.order_id(), request.order()),
            )
            .await?;
        let id = body
            .get("orderid")
            .and_then(wire::order_id_of)
            .unwrap_or_else(|| request.order_id().clone());
        let new = request.order();
        self.confirm("modifyorder", new.strategy(), &id, |status| {
            reconcile::modify_check(status, new, None)
        })
        .await?;
        Ok(id)
    }

    async fn cancel_order(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<(), BrokerError> {
        self.transport
            .post(
                Endpoint::CancelOrder,
                wire::order_ref_body(strategy, order_id),
            )
            .await?;
        self.confirm("cancelorder", strategy, order_id, reconcile::cancel_check)
            .await
    }

    async fn cancel_all_orders(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError> {
        let body = self
            .transport
            .post(Endpoint::CancelAllOrder, wire::strategy_body(strategy))
            .await?;
        wire::cancel_all_response(&body).map_err(|detail| {
            BrokerError::outcome_unknown(&format!(
                "cancelallorder succeeded but its answer is unreadable ({detail}); check the order book"
            ))
        })
    }

    async fn close_all_positions(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CloseAllReport, BrokerError> {
        let body = self
            .transport
            .post(Endpoint::ClosePosition, wire::strategy_body(strategy))
            .await?;
        wire::close_all_response(&body).map_err(|detail| {
            BrokerError::outcome_unknown(&format!(
                "closeposition succeeded but its answer is unreadable ({detail}); check the positions"
            ))
        })
    }

    async fn order_status(
        &self,
        strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<OrderStatus, BrokerError> {
        let body = read(
            &self.transport,
            &self.retry,
            Endpoint::OrderStatus,
            wire::order_ref_body(strategy, order_id),
        )
        .await?;
        wire::order_status_response(&body).map_err(protocol)
    }

    async fn order_book(&self) -> Result<Vec<OrderBookEntry>, BrokerError> {
        let body = read(
            &self.transport,
            &self.retry,
            Endpoint::OrderBook,
            Object::new(),
        )
        .await?;
        wire::order_book_response(&body).map_err(protocol)
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let body = read(
            &self.transport,
            &self.retry,
            Endpoint::PositionBook,
            Object::new(),
        )
        .await?;
        wire::positions_response(&body).map_err(protocol)
    }

    async fn funds(&self) -> Result<Funds, BrokerError> {
        let body = read(&self.transport, &self.retry, Endpoint::Funds, Object::new()).await?;
        wire::funds_response(&body).map_err(protocol)
    }

    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
        fetch_quote(
            &self.transport,
            &self.retry,
            self.clock.as_ref(),
            exchange,
            symbol,
        )
        .await
    }

    /// [`Venue::BrokerSimulation`] for an analyze-mode adapter,
    /// [`Venue::External`] for a live one.
    fn venue(&self) -> Venue {
        match self.mode {
            ServerMode::Analyze => Venue::BrokerSimulation,
            ServerMode::Live => Venue::External,
        }
    }

    /// Asks the server's analyzer status; another mode than the adapter's
    /// is [`BrokerError::ModeMismatch`].
    async fn check_venue(&self) -> Result<(), BrokerError> {
        let now = self.server_mode().await?;
        if now == self.mode {
            Ok(())
        } else {
            tracing::error!(
                expected = self.mode.as_str(),
                found = now.as_str(),
                "the OpenAlgo server is in another mode"
            );
            Err(BrokerError::ModeMismatch {
                expected: self.mode.as_str(),
                found: now.as_str().to_owned(),
            })
        }
    }

    async fn trade_book(&self) -> Result<Vec<Trade>, BrokerError> {
        let body = read(
            &self.transport,
            &self.retry,
            Endpoint::TradeBook,
            Object::new(),
        )
        .await?;
        wire::trade_book_response(&body).map_err(protocol)
    }

    async fn holdings(&self) -> Result<Vec<Holding>, BrokerError> {
        let body = read(
            &self.transport,
            &self.retry,
            Endpoint::Holdings,
            Object::new(),
        )
        .await?;
        wire::holdings_response(&body).map_err(protocol)
    }

    async fn open_position(
        &self,
        strategy: &StrategyTag,
        key: &PositionKey,
    ) -> Result<i64, BrokerError> {
        let body = read(
            &self.transport,
            &self.retry,
            Endpoint::OpenPosition,
            wire::open_position_body(strategy, key),
        )
        .await?;
        wire::open_position_response(&body).map_err(protocol)
    }

    /// `placesmartorder`: the server computes the order from its own view
    /// of the position. Never retried; an unclear answer is an unknown
    /// outcome (not reconciled here: the order is not known in advance).
    async fn place_smart_order(
        &self,
        order: &OrderRequest,
        target: i64,
    ) -> Result<SmartOrderOutcome, BrokerError> {
        if order.algo_id().is_some() {
            return Err(BrokerError::rejected(
                "OpenAlgo v1 has no field for an exchange algo id; the order was not sent",
            ));
        }
        let body = self
            .transport
            .post(
                Endpoint::PlaceSmartOrder,
                wire::smart_order_body(order, target),
            )
            .await?;
        match wire::smart_answer(&body) {
            SmartAnswer::Placed(id) => {
                self.remember(&id);
                Ok(SmartOrderOutcome::Placed(id))
            }
            SmartAnswer::NoAction => Ok(SmartOrderOutcome::AlreadyMatched),
            SmartAnswer::Queued(pending_id) => Err(BrokerError::PendingApproval { pending_id }),
            SmartAnswer::Unclear => Err(BrokerError::outcome_unknown(
                "placesmartorder succeeded without an order id or a no-action message; check the order book",
            )),
        }
    }
}

/// Quotes from an OpenAlgo server, and nothing else: this type has no way to
/// send an order. Feed it to a [`PaperBroker`](crate::PaperBroker).
pub struct OpenAlgoQuoteSource {
    transport: Arc<Transport>,
    clock: Arc<dyn Clock>,
    retry: Retry,
}

impl fmt::Debug for OpenAlgoQuoteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAlgoQuoteSource")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl OpenAlgoQuoteSource {
    /// A quote source over its own connection to the server in `config`.
    pub fn new(
        config: &OpenAlgoConfig,
        api_key: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OpenAlgoConfigError> {
        let (transport, _, retry) = build_transport(config, api_key)?;
        Ok(Self {
            transport: Arc::new(transport),
            clock,
            retry,
        })
    }
}

#[async_trait]
impl QuoteSource for OpenAlgoQuoteSource {
    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
        fetch_quote(
            &self.transport,
            &self.retry,
            self.clock.as_ref(),
            exchange,
            symbol,
        )
        .await
    }
}
