//! One OpenAlgo v1 call, from its body to its answer: the source's block,
//! the body's limits, the client key, what the key may do, the guard call,
//! and the answer in OpenAlgo's shape.
//!
//! The wire format (parsing, envelopes, encoders) is asta-broker's
//! `openalgo::api`, shared with the OpenAlgo adapter; the keys are the
//! vault's client keys; every order goes through the session's guard.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use asta_broker::openalgo::api::{
    ApiMode, ApiRefusal, ApiRequest, ApiResponse, BasketItem, BodyLimits, Endpoint,
    encode_analyzer, encode_basket, encode_cancel, encode_cancel_all, encode_close_positions,
    encode_funds, encode_holdings, encode_modify, encode_open_position, encode_order_book,
    encode_order_status, encode_ping, encode_place_order, encode_position_book, encode_quote,
    encode_smart_order, encode_trade_book, parse_body, parse_request, take_apikey,
};
use asta_broker::{Broker, BrokerError, CancelAllReport, OrderFailure};
use asta_core::{
    ErrorCode, OrderId, OrderRequest, PublicCode, PublicError, StrategyTag, TradingMode,
};
use asta_vault::{ClientKeyInfo, ClientKeyRefusal};
use axum::http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::Session;
use super::http::{ApiHandler, Limits};

/// OpenAlgo's answer to a key it does not accept, whatever the reason.
pub const INVALID_KEY: &str = "Invalid openalgo apikey";

/// The gateway: answers OpenAlgo v1 calls for one session.
pub struct Gateway {
    session: Arc<Session>,
    body_limits: BodyLimits,
    mode: ApiMode,
    call_observer: Option<CallObserver>,
}

/// What [`Gateway::observe_calls`] is given.
type CallObserver = Arc<dyn Fn(Duration) + Send + Sync>;

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Who is calling: the key's record and the source address.
struct Caller {
    key: ClientKeyInfo,
    source: String,
}

impl Gateway {
    /// The gateway of `session` with the body limits of `limits`.
    pub fn new(session: Arc<Session>, limits: &Limits) -> Gateway {
        let mode = match session.mode() {
            TradingMode::Live => ApiMode::Live,
            TradingMode::Sandbox | TradingMode::Paper => ApiMode::Analyze,
        };
        Gateway {
            session,
            body_limits: BodyLimits {
                max_bytes: limits.max_body_bytes,
                max_depth: limits.max_json_depth,
            },
            mode,
            call_observer: None,
        }
    }

    /// Calls `observe`, on the request's own task, with the time each
    /// authenticated and permitted call spent in [`Gateway`]'s call to the
    /// guard (the guard, the broker and encoding the answer), so a load
    /// bench can tell the gateway's own time per request from the guard's.
    /// Requests refused before the call (key, body, permission) are not
    /// observed.
    #[must_use]
    pub fn observe_calls(mut self, observe: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.call_observer = Some(Arc::new(observe));
        self
    }

    /// What the answers say about the venue.
    pub fn api_mode(&self) -> ApiMode {
        self.mode
    }

    async fn answer(
        &self,
        path: &str,
        body: &[u8],
        peer: SocketAddr,
    ) -> Result<ApiResponse, ApiRefusal> {
        let Some(endpoint) = Endpoint::from_path(path) else {
            return Err(ApiRefusal::not_found(&format!("/api/v1/{path}")));
        };
        let source = peer.ip().to_string();
        let guard = self.session.guard();
        let blocked = {
            let source = source.clone();
            guard
                .with_risk(move |risk| risk.login_blocked_until(&source))
                .await
        };
        if let Some(until) = blocked {
            // Not recorded per request: the block itself is a SECURITY
            // record, and a blocked source must not be able to fill the trail.
            return Err(ApiRefusal::forbidden(format!(
                "Too many failed API key checks from {source}; this address is blocked until {} UTC.",
                until.format("%Y-%m-%d %H:%M:%S")
            )));
        }
        let mut fields = parse_body(body, &self.body_limits)?;
        let Some(presented) = take_apikey(&mut fields) else {
            return Err(self
                .failed_key(&source, endpoint, ClientKeyRefusal::Malformed)
                .await);
        };
        let now = self.session.clock().now();
        let key = match self
            .session
            .keys()
            .authenticate(presented.expose_secret(), now)
        {
            Ok(key) => key,
            Err(refusal) => return Err(self.failed_key(&source, endpoint, refusal).await),
        };
        drop(presented);
        let caller = Caller { key, source };
        let result = match parse_request(endpoint, fields) {
            Ok(request) => match self.permitted(&caller, &request).await {
                Ok(()) => {
                    let started = Instant::now();
                    let result = self.call(&caller, request).await;
                    if let Some(observe) = &self.call_observer {
                        observe(started.elapsed());
                    }
                    result
                }
                Err(reason) => return Err(self.refuse_caller(&caller, endpoint, reason).await),
            },
            Err(refusal) => Err(refusal),
        };
        // Every authenticated call that trades, and every refusal, leaves a
        // record with the client's name (through the group commit: the
        // guard's own records of the order are the durable ones).
        if endpoint.is_trading() || result.is_err() {
            let outcome = match &result {
                Ok(_) => json!("ok"),
                Err(refusal) => json!({"status": refusal.status, "message": refusal.message}),
            };
            self.session
                .record_system(
                    "gateway_request",
                    json!({"client": caller.key.name, "source": caller.source,
                           "endpoint": endpoint.as_path(), "outcome": outcome}),
                )
                .await;
        }
        result
    }

    /// A key that was refused: counted against the source by the risk
    /// engine's security monitor (journaled; more than the configured
    /// number in the window blocks the source, with an alert), and a
    /// SECURITY record with the key's name when it was one of ours.
    async fn failed_key(
        &self,
        source: &str,
        endpoint: Endpoint,
        refusal: ClientKeyRefusal,
    ) -> ApiRefusal {
        let verdict = {
            let source = source.to_owned();
            self.session
                .guard()
                .with_risk(move |risk| risk.record_failed_login(&source))
                .await
        };
        let reason = match &refusal {
            ClientKeyRefusal::Malformed => "missing or malformed API key",
            ClientKeyRefusal::Unknown => "unknown API key",
            ClientKeyRefusal::Expired { .. } => "expired client key",
            ClientKeyRefusal::Revoked { .. } => "revoked client key",
            _ => "API key refused",
        };
        self.session
            .record_security(
                "gateway_key_refused",
                json!({
                    "source": source,
                    "endpoint": endpoint.as_path(),
                    "reason": reason,
                    "client": refusal.name(),
                    "failures": verdict.failures,
                    "blocked_until": verdict.blocked_until.map(|t| t.to_rfc3339()),
                }),
            )
            .await;
        ApiRefusal::forbidden(INVALID_KEY)
    }

    /// A caller's request that its key does not allow: 403, audited with
    /// the key's name.
    async fn refuse_caller(
        &self,
        caller: &Caller,
        endpoint: Endpoint,
        reason: String,
    ) -> ApiRefusal {
        self.session
            .record_security(
                "gateway_request_refused",
                json!({
                    "client": caller.key.name,
                    "scope": caller.key.scope.as_str(),
                    "source": caller.source,
                    "endpoint": endpoint.as_path(),
                    "reason": reason,
                }),
            )
            .await;
        ApiRefusal::forbidden(reason)
    }

    /// Whether the caller's key allows `request`: its scope, its strategy
    /// (a strategy-bound key trades and reads orders only under its tag,
    /// and may not touch another strategy's orders), and the analyzer
    /// toggle, which an ASTA session never takes.
    async fn permitted(&self, caller: &Caller, request: &ApiRequest) -> Result<(), String> {
        let key = &caller.key;
        let endpoint = request.endpoint();
        if endpoint == Endpoint::AnalyzerToggle {
            return Err(
                "The analyzer mode of an ASTA session cannot be switched through the API; the trading mode is set in asta.toml."
                    .to_owned(),
            );
        }
        if endpoint.is_trading() && !key.scope.allows_trade() {
            return Err(format!(
                "The API key `{}` has the {} scope: it cannot place, modify or cancel orders.",
                key.name,
                key.scope.as_str()
            ));
        }
        if !endpoint.is_trading() && !key.scope.allows_read() {
            return Err(format!(
                "The API key `{}` has the {} scope: it cannot call {}.",
                key.name,
                key.scope.as_str(),
                endpoint.as_path()
            ));
        }
        let Some(bound) = &key.strategy else {
            return Ok(());
        };
        let named: Vec<&StrategyTag> = match request {
            ApiRequest::BasketOrder { strategy, orders } => std::iter::once(strategy)
                .chain(orders.iter().map(OrderRequest::strategy))
                .collect(),
            other => other.strategy().into_iter().collect(),
        };
        if let Some(other) = named.into_iter().find(|s| *s != bound) {
            return Err(format!(
                "The API key `{}` may trade only under strategy `{bound}`; this request names strategy `{other}`.",
                key.name
            ));
        }
        if endpoint == Endpoint::ClosePosition {
            return Err(format!(
                "closeposition closes every position of the account; the API key `{}` is bound to strategy `{bound}` and may not.",
                key.name
            ));
        }
        let order_id = match request {
            ApiRequest::ModifyOrder { order_id, .. }
            | ApiRequest::CancelOrder { order_id, .. }
            | ApiRequest::OrderStatus { order_id, .. } => order_id,
            _ => return Ok(()),
        };
        match self.session.guard().order_status(bound, order_id).await {
            Ok(status) => match status.strategy() {
                Some(owner) if owner != bound => Err(format!(
                    "Order {order_id} belongs to another strategy; the API key `{}` may act only on orders of strategy `{bound}`.",
                    key.name
                )),
                _ => Ok(()),
            },
            // Unknown orders are answered by the call itself (404).
            Err(_) => Ok(()),
        }
    }

    /// The guard call for `request`, and its answer.
    async fn call(&self, caller: &Caller, request: ApiRequest) -> Result<ApiResponse, ApiRefusal> {
        let guard = self.session.guard();
        let mode = self.mode;
        match request {
            ApiRequest::Ping => Ok(encode_ping(&format!("asta-{}", self.session.mode()))),
            ApiRequest::Analyzer => Ok(encode_analyzer(mode)),
            ApiRequest::AnalyzerToggle { .. } => Err(ApiRefusal::forbidden(
                "The analyzer mode of an ASTA session cannot be switched through the API.",
            )),
            ApiRequest::PlaceOrder(order) => {
                self.refresh_reference(&order).await;
                match guard.place_order(&order).await {
                    Ok(id) => Ok(encode_place_order(&id, mode)),
                    Err(e) => Err(self.refusal(&e, None).await),
                }
            }
            ApiRequest::PlaceSmartOrder {
                order,
                position_size,
            } => {
                self.refresh_reference(&order).await;
                match guard.place_smart_order(&order, position_size).await {
                    Ok(outcome) => Ok(encode_smart_order(&outcome, mode)),
                    Err(e) => Err(self.refusal(&e, None).await),
                }
            }
            ApiRequest::BasketOrder { orders, .. } => {
                for order in &orders {
                    self.refresh_reference(order).await;
                }
                match guard.place_basket(&orders).await {
                    Ok(results) => {
                        let mut items = Vec::with_capacity(results.len());
                        for (order, result) in orders.iter().zip(results) {
                            let outcome = match result {
                                Ok(id) => Ok(id),
                                Err(e) => Err(self.refusal(&e, None).await.message),
                            };
                            items.push(BasketItem {
                                symbol: order.symbol().clone(),
                                outcome,
                            });
                        }
                        Ok(encode_basket(&items, mode))
                    }
                    Err(e) => Err(self.refusal(&e, None).await),
                }
            }
            ApiRequest::ModifyOrder { order_id, request } => {
                match guard.modify_order(&request).await {
                    Ok(id) => Ok(encode_modify(&id, mode)),
                    Err(e) => Err(self.refusal(&e, Some(&order_id)).await),
                }
            }
            ApiRequest::CancelOrder { strategy, order_id } => {
                match guard.cancel_order(&strategy, &order_id).await {
                    Ok(()) => Ok(encode_cancel(&order_id, mode)),
                    Err(e) => Err(self.refusal(&e, Some(&order_id)).await),
                }
            }
            ApiRequest::CancelAllOrder { strategy } => {
                let report = if caller.key.strategy.is_some() {
                    self.cancel_strategy_orders(&strategy).await
                } else {
                    guard.cancel_all_orders(&strategy).await
                };
                match report {
                    Ok(report) => Ok(encode_cancel_all(&report, mode)),
                    Err(e) => Err(self.refusal(&e, None).await),
                }
            }
            ApiRequest::ClosePosition { strategy } => {
                match guard.close_all_positions(&strategy).await {
                    Ok(report) => Ok(encode_close_positions(&report, mode)),
                    Err(e) => Err(self.refusal(&e, None).await),
                }
            }
            ApiRequest::OrderStatus { strategy, order_id } => {
                match guard.order_status(&strategy, &order_id).await {
                    Ok(status) => Ok(encode_order_status(&status, mode)),
                    Err(e) => Err(self.refusal(&e, Some(&order_id)).await),
                }
            }
            ApiRequest::OpenPosition { strategy, key } => {
                match guard.open_position(&strategy, &key).await {
                    Ok(quantity) => Ok(encode_open_position(quantity, mode)),
                    Err(e) => Err(self.refusal(&e, None).await),
                }
            }
            ApiRequest::OrderBook => match guard.order_book().await {
                Ok(book) => {
                    let book = match &caller.key.strategy {
                        Some(bound) => book
                            .into_iter()
                            .filter(|o| o.strategy() == Some(bound))
                            .collect(),
                        None => book,
                    };
                    Ok(encode_order_book(&book, mode))
                }
                Err(e) => Err(self.refusal(&e, None).await),
            },
            ApiRequest::TradeBook => match guard.trade_book().await {
                Ok(trades) => Ok(encode_trade_book(&trades, mode)),
                Err(e) => Err(self.refusal(&e, None).await),
            },
            ApiRequest::PositionBook => match guard.positions().await {
                Ok(positions) => Ok(encode_position_book(&positions, mode)),
                Err(e) => Err(self.refusal(&e, None).await),
            },
            ApiRequest::Holdings => match guard.holdings().await {
                Ok(holdings) => Ok(encode_holdings(&holdings, mode)),
                Err(e) => Err(self.refusal(&e, None).await),
            },
            ApiRequest::Funds => match guard.funds().await {
                Ok(funds) => Ok(encode_funds(&funds, mode)),
                Err(e) => Err(self.refusal(&e, None).await),
            },
            ApiRequest::Quotes { exchange, symbol } => match guard.quote(exchange, &symbol).await {
                Ok(quote) => Ok(encode_quote(&quote)),
                Err(e) => Err(self.refusal(&e, None).await),
            },
            _ => Err(ApiRefusal::not_found("/api/v1/")),
        }
    }

    /// Before an order outside sandbox mode: reads the instrument's quote
    /// through the guard, which hands its price to the risk engine, so the
    /// order is checked against a fresh reference. (The sandbox's quote
    /// feed keeps its references fresh.) A failed read is left to the risk
    /// check, which refuses an order without a fresh reference.
    async fn refresh_reference(&self, order: &OrderRequest) {
        if self.session.mode() == TradingMode::Sandbox {
            return;
        }
        let _ = self
            .session
            .guard()
            .quote(order.exchange(), order.symbol())
            .await;
    }

    /// cancelallorder for a strategy-bound key: only that strategy's
    /// working orders, one cancel each through the guard.
    async fn cancel_strategy_orders(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError> {
        let guard = self.session.guard();
        let book = guard.order_book().await?;
        let mut report = CancelAllReport::default();
        for order in book
            .iter()
            .filter(|o| o.strategy() == Some(strategy) && o.state().may_be_working())
        {
            let id = order.order_id().clone();
            match guard.cancel_order(strategy, &id).await {
                Ok(()) => report.cancelled.push(id),
                Err(e) => report.failed.push(OrderFailure {
                    order_id: id,
                    reason: e.public_code().generic_message().to_owned(),
                }),
            }
        }
        Ok(report)
    }

    /// A guard or broker error as OpenAlgo's refusal, with ASTA's public
    /// message and a reference that is in the audit trail.
    async fn refusal(&self, error: &BrokerError, order: Option<&OrderId>) -> ApiRefusal {
        let public = self.session.guard().public_error(error).await;
        refusal_for(error, &public, order)
    }
}

/// The refusal for `error`, whose public face (with its audited reference)
/// is `public`: OpenAlgo's status codes (400 invalid or risk, 403 halted or
/// not permitted, 404 unknown order, 429 rate limit, 500 anything else,
/// including an outcome that is unknown and being reconciled) and ASTA's
/// public message, with the guard's own reason for refusals a client can act
/// on, and the reference.
pub fn refusal_for(
    error: &BrokerError,
    public: &PublicError,
    order: Option<&OrderId>,
) -> ApiRefusal {
    let reference = public.reference().clone();
    let code = public.code();
    match error.root() {
        BrokerError::NotFound { .. } => {
            let message = match order {
                Some(id) => format!("Order {id} not found"),
                None => public.message().to_owned(),
            };
            return ApiRefusal::new(404, format!("{message} (ref {reference})"));
        }
        BrokerError::Refused { reason, .. } if shows_reason(code) => {
            let message = format!("{} {reason} (ref {reference})", public.message());
            return match code {
                ErrorCode::RateLimited => ApiRefusal::too_many(message),
                ErrorCode::Halted | ErrorCode::PermissionDenied => ApiRefusal::forbidden(message),
                _ => ApiRefusal::bad_request(message),
            };
        }
        _ => {}
    }
    let message = match code {
        ErrorCode::OutcomeUnknown | ErrorCode::OutcomePending => format!(
            "The outcome of this request is unknown and is being reconciled with the broker; check the order book before sending it again (ref {reference})"
        ),
        _ => format!("{} (ref {reference})", public.message()),
    };
    match code {
        ErrorCode::InvalidInput | ErrorCode::RiskRejected => ApiRefusal::bad_request(message),
        ErrorCode::PermissionDenied | ErrorCode::Halted => ApiRefusal::forbidden(message),
        ErrorCode::RateLimited => ApiRefusal::too_many(message),
        _ => ApiRefusal::internal(message),
    }
}

/// Whether the guard's own reason is shown with its refusal: for the
/// refusals a client can act on (its input, a risk limit, a rate limit, a
/// halt, a permission), which the guard words for users; never for
/// internal failures.
fn shows_reason(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidInput
            | ErrorCode::RiskRejected
            | ErrorCode::RateLimited
            | ErrorCode::Halted
            | ErrorCode::PermissionDenied
    )
}

#[async_trait::async_trait]
impl ApiHandler for Gateway {
    async fn handle(&self, path: &str, body: &[u8], peer: SocketAddr) -> (StatusCode, Vec<u8>) {
        match self.answer(path, body, peer).await {
            Ok(response) => (
                StatusCode::from_u16(response.status()).unwrap_or(StatusCode::OK),
                response.to_bytes(),
            ),
            Err(refusal) => (
                StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                refusal.error_body(self.mode).to_string().into_bytes(),
            ),
        }
    }

    fn refusal(&self, status: StatusCode, message: &str) -> Value {
        ApiRefusal::new(status.as_u16(), message).error_body(self.mode)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use asta_core::ErrorReference;

    use super::*;

    fn public(code: ErrorCode) -> PublicError {
        PublicError::with_reference(code, ErrorReference::generate())
    }

    fn refused(code: ErrorCode, reason: &str) -> BrokerError {
        BrokerError::Refused {
            code,
            reason: reason.to_owned(),
            reference: ErrorReference::generate(),
        }
    }

    #[test]
    fn every_error_has_openalgos_status_and_asta_s_reference() {
        let id = OrderId::new("12345").unwrap();
        let cases: Vec<(BrokerError, ErrorCode, u16, &str)> = vec![
            (
                refused(ErrorCode::RiskRejected, "price 880 is outside the collar"),
                ErrorCode::RiskRejected,
                400,
                "outside the collar",
            ),
            (
                refused(ErrorCode::InvalidInput, "not a multiple of the lot"),
                ErrorCode::InvalidInput,
                400,
                "multiple of the lot",
            ),
            (
                refused(ErrorCode::Halted, "trading is halted"),
                ErrorCode::Halted,
                403,
                "halted",
            ),
            (
                refused(ErrorCode::PermissionDenied, "live trading is off"),
                ErrorCode::PermissionDenied,
                403,
                "live trading is off",
            ),
            (
                refused(ErrorCode::RateLimited, "5 orders in 1 s"),
                ErrorCode::RateLimited,
                429,
                "5 orders",
            ),
            (
                BrokerError::NotFound {
                    detail: "no such order".to_owned(),
                },
                ErrorCode::InvalidInput,
                404,
                "Order 12345 not found",
            ),
            (
                BrokerError::outcome_unknown("timed out"),
                ErrorCode::OutcomeUnknown,
                500,
                "unknown and is being reconciled",
            ),
            (
                BrokerError::Unavailable {
                    detail: "connect refused at 10.0.0.1".to_owned(),
                },
                ErrorCode::BrokerUnavailable,
                500,
                "ref ERR-",
            ),
            (
                BrokerError::Protocol {
                    detail: "bad json".to_owned(),
                },
                ErrorCode::InternalError,
                500,
                "ref ERR-",
            ),
        ];
        for (error, code, status, says) in cases {
            let face = public(code);
            let refusal = refusal_for(&error, &face, Some(&id));
            assert_eq!(refusal.status, status, "{error}");
            assert!(
                refusal.message.contains(says),
                "{error}: {}",
                refusal.message
            );
            assert!(
                refusal.message.contains(face.reference().as_str()),
                "{error}: {}",
                refusal.message
            );
        }
        // A broker's own text never reaches the client.
        let error = BrokerError::Unavailable {
            detail: "connect refused at 10.0.0.1".to_owned(),
        };
        let refusal = refusal_for(&error, &public(ErrorCode::BrokerUnavailable), None);
        assert!(!refusal.message.contains("10.0.0.1"), "{}", refusal.message);
        // 429 is OpenAlgo's bare shape; the others its envelope.
        let limited = refusal_for(
            &refused(ErrorCode::RateLimited, "x"),
            &public(ErrorCode::RateLimited),
            None,
        );
        assert!(limited.error_body(ApiMode::Analyze).get("status").is_none());
        let risk = refusal_for(
            &refused(ErrorCode::RiskRejected, "x"),
            &public(ErrorCode::RiskRejected),
            None,
        );
        let body = risk.error_body(ApiMode::Analyze);
        assert_eq!(body["status"], "error");
        assert_eq!(body["mode"], "analyze");
        assert!(risk.error_body(ApiMode::Live).get("mode").is_none());
    }

    /// The call observer sees each call that reaches the guard, and none
    /// refused before it (here, a key the vault does not know).
    #[tokio::test]
    async fn the_call_observer_sees_each_guard_call_and_no_refused_key() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use asta_vault::ClientScope;

        use crate::config::Config;
        use crate::context::open_vault;

        let dir = tempfile::tempdir().unwrap();
        crate::commands::init::run(&crate::cli::InitArgs {
            dir: Some(dir.path().to_path_buf()),
        })
        .unwrap();
        let config = Config::from_file(&dir.path().join("asta.toml")).unwrap();
        let key = {
            let mut vault = open_vault(&config).unwrap();
            let issued = vault
                .issue_client_key(
                    "reader",
                    ClientScope::Read,
                    None,
                    chrono::TimeDelta::days(1),
                )
                .unwrap();
            issued.key.expose_secret().to_owned()
        };
        let vault = open_vault(&config).unwrap();
        let session = Arc::new(Session::open(&config, vault, None).await.unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let gateway = {
            let seen = Arc::clone(&seen);
            Gateway::new(
                Arc::clone(&session),
                &Limits::from_config(&config.file.serve),
            )
            .observe_calls(move |_| {
                seen.fetch_add(1, Ordering::SeqCst);
            })
        };
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let body = json!({"apikey": key}).to_string();
        let (status, _) = gateway.handle("funds", body.as_bytes(), peer).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let unknown = json!({"apikey": format!("{key}x")}).to_string();
        let (status, _) = gateway.handle("funds", unknown.as_bytes(), peer).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        session.close("test").await.unwrap();
    }
}
