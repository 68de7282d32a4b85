//! The guard around a `SandboxBroker`: the order path, audit records and
//! references, audit failure, HALTED, live-mode refusals, the mode gate,
//! breakers from marks, and the TOTP reset.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::sync::{Arc, Mutex};

use asta_broker::{
    Broker, BrokerError, Confirm, ConfirmRefusal, ConfirmRequest, DenyAll, Guard,
    GuardBuildErrorKind, ModifyRequest, OpenAlgoBroker, OpenAlgoConfig, OrderState, SandboxBroker,
    SandboxOp, ServerMode, TotpConfirm, VaultTotpVerifier,
};
use asta_core::{Clock, ErrorCode, Exchange, TradingMode};
use asta_risk::TradingState;
use asta_vault::{KeySource, MasterKey, Totp, TotpConfig, Vault, VaultOptions};
use async_trait::async_trait;
use common::*;
use secrecy::SecretString;

#[tokio::test]
async fn an_order_goes_through_every_step_and_is_recorded_in_order() {
    let s = sandbox_session(risk_config()).await;
    let id = s
        .guard
        .place_order(&market(asta_core::Side::Buy, 10))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "SBX-000001");

    let text = audit_text(&s.trail);
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing"))
    };
    // The durable intent carries the decision; then the outcome, then the fill.
    let intent = lines_with(&s.trail, "\"place_intent\"");
    assert_eq!(intent.len(), 1);
    assert!(intent[0].contains("\"ORDER_APPROVED\""), "{}", intent[0]);
    assert!(at("\"place_intent\"") < at("\"place_accepted\""));
    assert!(at("\"place_accepted\"") < at("\"action\":\"fill\""));
    assert!(text.contains("\"category\":\"TRADE\""));

    // The fill reached the risk engine.
    let status = s.guard.risk_status();
    assert_eq!(status.positions.len(), 1);
    assert_eq!(status.positions[0].net, 10);
    assert_eq!(status.open_orders, 0);
    assert!(assert_intact(&s.trail) >= 4);
}

#[tokio::test]
async fn a_fill_reported_with_the_placement_is_not_asked_for_again() {
    let s = sandbox_session(risk_config()).await;
    // Were the guard to read the order's status after the placement, it
    // would meet this failure and record it.
    s.sandbox.fail_next(
        SandboxOp::Status,
        BrokerError::Unavailable {
            detail: "status not available".into(),
        },
    );
    s.guard
        .place_order(&market(asta_core::Side::Buy, 10))
        .await
        .unwrap();
    let status = s.guard.risk_status();
    assert_eq!(status.positions.len(), 1);
    assert_eq!(status.positions[0].net, 10);
    assert_eq!(status.open_orders, 0);
    s.guard.audit_log().sync().unwrap();
    assert!(lines_with(&s.trail, "order_status_failed").is_empty());
    assert_eq!(lines_with(&s.trail, "\"action\":\"fill\"").len(), 1);
    // The injected failure is still queued: nobody asked.
    let id = asta_core::OrderId::new("SBX-000001").unwrap();
    let strategy = market(asta_core::Side::Buy, 10).strategy().clone();
    assert!(s.sandbox.order_status(&strategy, &id).await.is_err());
}

#[tokio::test]
async fn refusals_carry_a_reference_found_in_the_audit_record_with_the_detail() {
    let s = sandbox_session(risk_config()).await;
    // Off the tick grid: refused before risk and broker.
    let error = s
        .guard
        .place_order(&limit(asta_core::Side::Buy, 1, "800.03"))
        .await
        .unwrap_err();
    let BrokerError::Refused {
        code, reference, ..
    } = &error
    else {
        panic!("expected a guard refusal, got {error:?}");
    };
    assert_eq!(*code, ErrorCode::InvalidInput);
    assert!(error.definitely_not_placed());
    let public = error.public_error();
    assert_eq!(public.code(), ErrorCode::InvalidInput);
    assert_eq!(public.reference(), reference);
    let lines = lines_with(&s.trail, reference.as_str());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("place_refused"));
    assert!(lines[0].contains("not a multiple of tick size"));
    assert!(s.sandbox.order_book().await.unwrap().is_empty());

    // A broker error: recorded under a fresh reference, wrapped, still itself.
    s.sandbox.fail_next(
        SandboxOp::Funds,
        BrokerError::Unavailable {
            detail: "connection refused by funds-host".into(),
        },
    );
    let error = s.guard.funds().await.unwrap_err();
    assert!(matches!(error.root(), BrokerError::Unavailable { .. }));
    assert!(error.is_transient());
    let public = s.guard.public_error(&error).await;
    assert_eq!(public.code(), ErrorCode::BrokerUnavailable);
    let lines = lines_with(&s.trail, public.reference().as_str());
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("\"category\":\"ERROR\""));
    assert!(lines[0].contains("connection refused by funds-host"));

    // A bare error handed to the guard is recorded on the spot.
    let bare = BrokerError::rejected("margin shortfall at the broker");
    let public = s.guard.public_error(&bare).await;
    assert!(
        lines_with(&s.trail, public.reference().as_str())[0]
            .contains("margin shortfall at the broker")
    );
}

#[tokio::test]
async fn risk_rejections_and_rate_limits_never_reach_the_broker() {
    let s = sandbox_session(risk_config_with(tight_rates(2))).await;
    // Fat finger: 10% away from 800.
    let error = s
        .guard
        .place_order(&limit(asta_core::Side::Buy, 1, "880"))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::RiskRejected);
    assert!(error.to_string().contains("collar"));
    assert!(s.sandbox.order_book().await.unwrap().is_empty());
    let reference = error.reference().unwrap().as_str().to_owned();
    assert!(lines_with(&s.trail, &reference)[0].contains("PRICE_COLLAR"));
    assert!(audit_text(&s.trail).contains("\"order_rejected\""));

    // Two orders per second for the strategy: the third is refused.
    s.guard
        .place_order(&limit(asta_core::Side::Buy, 1, "790"))
        .await
        .unwrap();
    s.guard
        .place_order(&limit(asta_core::Side::Buy, 2, "790"))
        .await
        .unwrap();
    let error = s
        .guard
        .place_order(&limit(asta_core::Side::Buy, 3, "790"))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::RateLimited);
    assert_eq!(s.sandbox.order_book().await.unwrap().len(), 2);
}

#[tokio::test]
async fn an_audit_failure_halts_trading_and_sends_nothing() {
    let s = sandbox_session(risk_config()).await;
    s.trail.log.close().unwrap();
    let error = s
        .guard
        .place_order(&market(asta_core::Side::Buy, 1))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::Halted);
    assert!(error.definitely_not_placed());
    assert!(
        s.sandbox.order_book().await.unwrap().is_empty(),
        "nothing sent"
    );
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    assert!(s.alerts.kinds().contains(&"audit_failure".to_owned()));
    let status = s.guard.risk_status();
    assert!(
        status
            .breakers
            .iter()
            .any(|b| format!("{:?}", b.kind) == "AuditFailure")
    );
    // Still halted afterwards: nothing else goes either.
    assert!(
        s.guard
            .place_order(&market(asta_core::Side::Buy, 2))
            .await
            .is_err()
    );
    assert!(s.sandbox.order_book().await.unwrap().is_empty());
}

#[tokio::test]
async fn halted_allows_cancels_only() {
    let s = sandbox_session(risk_config()).await;
    let resting = limit(asta_core::Side::Buy, 5, "795");
    let id = s.guard.place_order(&resting).await.unwrap();
    s.guard.with_risk(|risk| risk.halt("test halt")).await;
    assert_eq!(s.guard.trading_state(), TradingState::Halted);

    let error = s
        .guard
        .place_order(&limit(asta_core::Side::Buy, 1, "796"))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::Halted);
    let change = ModifyRequest::builder(id.clone(), &resting)
        .price("796".parse().unwrap())
        .build()
        .unwrap();
    let error = s.guard.modify_order(&change).await.unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::Halted);
    assert_eq!(
        s.sandbox.order_book().await.unwrap().len(),
        1,
        "neither the order nor the change was sent"
    );

    s.guard.cancel_order(&strategy(), &id).await.unwrap();
    let status = s.sandbox.order_status(&strategy(), &id).await.unwrap();
    assert_eq!(status.state(), OrderState::Cancelled);
    let text = audit_text(&s.trail);
    assert!(text.contains("\"cancel_intent\"") && text.contains("\"cancel_accepted\""));
    assert_eq!(s.guard.risk_status().open_orders, 0);
}

#[tokio::test]
async fn modifications_are_checked_like_orders() {
    let s = sandbox_session(risk_config()).await;
    let resting = limit(asta_core::Side::Buy, 5, "795");
    let id = s.guard.place_order(&resting).await.unwrap();
    let off_tick = ModifyRequest::builder(id.clone(), &resting)
        .price("795.01".parse().unwrap())
        .build()
        .unwrap();
    let error = s.guard.modify_order(&off_tick).await.unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::InvalidInput);
    let fat = ModifyRequest::builder(id.clone(), &resting)
        .price("700".parse().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        s.guard
            .modify_order(&fat)
            .await
            .unwrap_err()
            .public_error()
            .code(),
        ErrorCode::RiskRejected
    );
    let status = s.sandbox.order_status(&strategy(), &id).await.unwrap();
    assert_eq!(status.price().unwrap().to_string(), "795");

    let fine = ModifyRequest::builder(id.clone(), &resting)
        .price("796".parse().unwrap())
        .build()
        .unwrap();
    s.guard.modify_order(&fine).await.unwrap();
    let status = s.sandbox.order_status(&strategy(), &id).await.unwrap();
    assert_eq!(status.price().unwrap().to_string(), "796");
    assert!(audit_text(&s.trail).contains("\"modify_accepted\""));
}

#[tokio::test]
async fn a_falling_mark_trips_the_daily_loss_breaker_through_sync() {
    let s = sandbox_session(risk_config()).await;
    s.guard
        .place_order(&market(asta_core::Side::Buy, 100))
        .await
        .unwrap();
    // Down to 450: a loss of 35,000 on 1,000,000 of capital (limit 3% = 30,000).
    s.sandbox
        .set_quote(Exchange::Nse, &sbin(), quote(&s.clock, "450"));
    let report = s.guard.sync().await;
    assert_eq!(report.marks_updated, 1);
    assert!(report.failures.is_empty());
    assert_eq!(report.trading_state, TradingState::Halted);
    assert!(s.alerts.kinds().contains(&"breaker_tripped".to_owned()));
    assert!(audit_text(&s.trail).contains("\"breaker_tripped\""));
    let error = s
        .guard
        .place_order(&market(asta_core::Side::Buy, 1))
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::Halted);
}

#[tokio::test]
async fn a_broker_auth_failure_halts_and_releases_the_approval() {
    let s = sandbox_session(risk_config()).await;
    s.sandbox.fail_next(
        SandboxOp::Place,
        BrokerError::AuthFailed {
            reason: "session expired".into(),
        },
    );
    let error = s
        .guard
        .place_order(&market(asta_core::Side::Buy, 1))
        .await
        .unwrap_err();
    assert!(matches!(error.root(), BrokerError::AuthFailed { .. }));
    assert_eq!(error.public_error().code(), ErrorCode::BrokerUnavailable);
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    assert_eq!(s.guard.risk_status().pending_approvals, 0);
}

#[tokio::test]
async fn an_unknown_outcome_keeps_the_approval_and_alerts() {
    let s = sandbox_session(risk_config()).await;
    s.sandbox
        .fail_next(SandboxOp::Place, BrokerError::outcome_unknown("timeout"));
    let error = s
        .guard
        .place_order(&market(asta_core::Side::Buy, 1))
        .await
        .unwrap_err();
    assert!(!error.definitely_not_placed());
    assert_eq!(error.public_error().code(), ErrorCode::OutcomeUnknown);
    assert_eq!(s.guard.risk_status().pending_approvals, 1);
    assert!(s.alerts.kinds().contains(&"outcome_unknown".to_owned()));
    // Nothing in the book matches: the approval stays pending (fail closed).
    let report = s.guard.sync().await;
    assert_eq!((report.unknown_resolved, report.unknown_pending), (0, 1));
    assert_eq!(s.guard.risk_status().pending_approvals, 1);
}

/// Places the order, then loses the answer (as a timeout after sending would).
struct LosesAnswers(SandboxBroker);

#[async_trait]
impl Broker for LosesAnswers {
    async fn place_order(
        &self,
        order: &asta_core::OrderRequest,
    ) -> Result<asta_core::OrderId, BrokerError> {
        self.0.place_order(order).await?;
        Err(BrokerError::outcome_unknown("timed out after sending"))
    }
    async fn modify_order(
        &self,
        request: &ModifyRequest,
    ) -> Result<asta_core::OrderId, BrokerError> {
        self.0.modify_order(request).await
    }
    async fn cancel_order(
        &self,
        strategy: &asta_core::StrategyTag,
        id: &asta_core::OrderId,
    ) -> Result<(), BrokerError> {
        self.0.cancel_order(strategy, id).await
    }
    async fn cancel_all_orders(
        &self,
        strategy: &asta_core::StrategyTag,
    ) -> Result<asta_broker::CancelAllReport, BrokerError> {
        self.0.cancel_all_orders(strategy).await
    }
    async fn close_all_positions(
        &self,
        strategy: &asta_core::StrategyTag,
    ) -> Result<asta_broker::CloseAllReport, BrokerError> {
        self.0.close_all_positions(strategy).await
    }
    async fn order_status(
        &self,
        strategy: &asta_core::StrategyTag,
        id: &asta_core::OrderId,
    ) -> Result<asta_broker::OrderStatus, BrokerError> {
        self.0.order_status(strategy, id).await
    }
    async fn order_book(&self) -> Result<Vec<asta_broker::OrderBookEntry>, BrokerError> {
        self.0.order_book().await
    }
    async fn positions(&self) -> Result<Vec<asta_broker::Position>, BrokerError> {
        self.0.positions().await
    }
    async fn funds(&self) -> Result<asta_broker::Funds, BrokerError> {
        self.0.funds().await
    }
    async fn quote(
        &self,
        exchange: Exchange,
        symbol: &asta_core::Symbol,
    ) -> Result<asta_broker::Quote, BrokerError> {
        self.0.quote(exchange, symbol).await
    }
    fn venue(&self) -> asta_broker::Venue {
        self.0.venue()
    }
}

#[tokio::test]
async fn sync_finds_an_order_whose_placement_outcome_was_unknown() {
    let clock = clock();
    let trail = trail(&clock);
    let sandbox = SandboxBroker::new(Arc::new(clock.clone()));
    sandbox.set_quote(Exchange::Nse, &sbin(), quote(&clock, "800"));
    let guard = Guard::builder(
        LosesAnswers(sandbox.clone()),
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .build()
    .await
    .unwrap();
    guard.quote(Exchange::Nse, &sbin()).await.unwrap();
    let resting = limit(asta_core::Side::Buy, 4, "795");
    let error = guard.place_order(&resting).await.unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::OutcomeUnknown);
    assert_eq!(guard.risk_status().pending_approvals, 1);

    let report = guard.sync().await;
    assert_eq!((report.unknown_resolved, report.unknown_pending), (1, 0));
    let status = guard.risk_status();
    assert_eq!((status.pending_approvals, status.open_orders), (0, 1));
    assert!(audit_text(&trail).contains("\"place_reconciled\""));
    // It is tracked now: its fill reaches the risk engine on the next sync.
    sandbox.set_quote(Exchange::Nse, &sbin(), quote(&clock, "794"));
    let report = guard.sync().await;
    assert_eq!((report.fills_recorded, report.orders_closed), (1, 1));
    assert_eq!(guard.risk_status().positions[0].net, 4);
}

struct Accept;

#[async_trait]
impl Confirm for Accept {
    async fn confirm(&self, _request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        Ok(())
    }
}

async fn build_live(
    allow: bool,
    confirm: Option<Arc<dyn Confirm>>,
) -> (
    Trail,
    Result<Guard<SandboxBroker>, asta_broker::GuardBuildError>,
) {
    let clock = clock();
    let trail = trail(&clock);
    let mut builder = Guard::builder(
        SandboxBroker::new(Arc::new(clock.clone())),
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .mode(TradingMode::Live)
    .allow_live_trading(allow);
    if let Some(confirm) = confirm {
        builder = builder.confirm(confirm);
    }
    let result = builder.build().await;
    (trail, result)
}

#[tokio::test]
async fn live_mode_needs_the_flag_and_a_confirmation() {
    let cases: Vec<(bool, Option<Arc<dyn Confirm>>)> = vec![
        (false, Some(Arc::new(Accept))),
        (true, None),
        (true, Some(Arc::new(DenyAll))),
    ];
    for (allow, confirm) in cases {
        let (trail, result) = build_live(allow, confirm).await;
        let error = result.unwrap_err();
        let public = error.public_error();
        assert_eq!(public.code(), ErrorCode::PermissionDenied, "{error}");
        let lines = lines_with(&trail, public.reference().as_str());
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("guard_refused") && lines[0].contains("SECURITY"));
    }
    let (_, result) = build_live(true, Some(Arc::new(Accept))).await;
    assert!(result.is_ok());
}

#[tokio::test]
async fn sandbox_and_paper_modes_refuse_a_network_broker() {
    let clock = clock();
    let key =
        SecretString::from("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    for mode in [TradingMode::Sandbox, TradingMode::Paper] {
        for server_mode in [ServerMode::Live, ServerMode::Analyze] {
            let trail = trail(&clock);
            let mut config = OpenAlgoConfig::new("http://127.0.0.1:9");
            config.server_mode = server_mode;
            config.read_retries = 0;
            let broker =
                OpenAlgoBroker::new(&config, key.clone(), Arc::new(clock.clone())).unwrap();
            let error = Guard::builder(
                broker,
                catalog(),
                risk(&clock, risk_config()),
                trail.log.clone(),
                Arc::new(clock.clone()),
            )
            .mode(mode)
            .build()
            .await
            .unwrap_err();
            if server_mode == ServerMode::Live {
                // A live server is refused by the mode gate.
                assert!(matches!(
                    error.kind(),
                    GuardBuildErrorKind::ModeMismatch { .. }
                ));
            } else {
                // An analyzer server passes the gate but must confirm its
                // mode; this one cannot be reached.
                assert!(
                    matches!(error.kind(), GuardBuildErrorKind::VenueUnconfirmed { .. }),
                    "{error}"
                );
            }
            assert_eq!(error.public_error().code(), ErrorCode::PermissionDenied);
            assert!(!audit_text(&trail).contains("0123456789abcdef0123"));
        }
    }
}

#[tokio::test]
async fn leaving_halted_needs_a_fresh_totp_code() {
    let s = sandbox_session(risk_config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let source = KeySource::Raw(MasterKey::generate().unwrap());
    let options = VaultOptions::new().with_clock(Arc::new(s.clock.clone()));
    let mut vault = Vault::create(tmp.path().join("vault"), &source, options).unwrap();
    let enrollment = vault
        .enroll_totp("totp.ops", "ASTA", "ops", TotpConfig::default())
        .unwrap();
    let totp = Totp::from_base32(&enrollment.secret_base32, TotpConfig::default()).unwrap();
    let code = totp.code_at_step(totp.step_at(s.clock.now()).unwrap());
    let verifier = VaultTotpVerifier::per_operator(
        Arc::new(Mutex::new(vault)),
        "totp.",
        Arc::new(s.clock.clone()),
    );

    let report = s.guard.emergency_stop("drill").await;
    assert!(report.halted);
    let wrong = if code.as_str() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let error = s.guard.reset("ops", wrong, &verifier).await.unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::PermissionDenied);
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    assert!(lines_with(&s.trail, error.reference().unwrap().as_str())[0].contains("reset_refused"));

    s.guard
        .reset("ops", code.as_str(), &verifier)
        .await
        .unwrap();
    assert_eq!(s.guard.trading_state(), TradingState::Active);
    let text = audit_text(&s.trail);
    assert!(text.contains("\"trading_reset\"") && text.contains("\"reset_authorized\""));
    assert!(
        !text.contains(code.as_str()),
        "the TOTP code is never recorded"
    );

    // The same code again is a replay; a second stop halts again.
    s.guard.emergency_stop("drill 2").await;
    let error = s
        .guard
        .reset("ops", code.as_str(), &verifier)
        .await
        .unwrap_err();
    assert_eq!(error.public_error().code(), ErrorCode::PermissionDenied);
    assert_eq!(s.guard.trading_state(), TradingState::Halted);

    // The same verifier confirms a live session once.
    s.clock.advance(chrono::TimeDelta::seconds(60));
    let code = totp.code_at_step(totp.step_at(s.clock.now()).unwrap());
    let confirm = TotpConfirm::new(
        verifier,
        "ops",
        SecretString::from(code.as_str().to_owned()),
    );
    assert_eq!(confirm.confirm(&build_request()).await, Ok(()));
    assert!(confirm.confirm(&build_request()).await.is_err());
}

fn build_request() -> ConfirmRequest {
    ConfirmRequest::new(TradingMode::Live, asta_broker::Venue::External, "live?")
}

struct FixedQuotes(asta_broker::Quote);

#[async_trait]
impl asta_broker::QuoteSource for FixedQuotes {
    async fn quote(
        &self,
        _exchange: Exchange,
        _symbol: &asta_core::Symbol,
    ) -> Result<asta_broker::Quote, BrokerError> {
        Ok(self.0)
    }
}

#[tokio::test]
async fn venues_are_forwarded_and_paper_mode_accepts_a_paper_broker() {
    use asta_broker::{PaperBroker, Venue};
    let clock = clock();
    let sandbox = SandboxBroker::new(Arc::new(clock.clone()));
    assert_eq!(sandbox.venue(), Venue::Simulated);
    assert_eq!(Arc::new(sandbox.clone()).venue(), Venue::Simulated);
    let dynamic: Box<dyn Broker> = Box::new(sandbox.clone());
    assert_eq!(dynamic.venue(), Venue::Simulated);
    let paper = PaperBroker::new(sandbox, FixedQuotes(quote(&clock, "800")));
    assert_eq!(paper.venue(), Venue::SimulatedWithLiveQuotes);

    // Sandbox mode refuses it (it reads the network); paper mode takes it.
    for (mode, ok) in [(TradingMode::Sandbox, false), (TradingMode::Paper, true)] {
        let trail = trail(&clock);
        let result = Guard::builder(
            PaperBroker::new(
                SandboxBroker::new(Arc::new(clock.clone())),
                FixedQuotes(quote(&clock, "800")),
            ),
            catalog(),
            risk(&clock, risk_config()),
            trail.log.clone(),
            Arc::new(clock.clone()),
        )
        .mode(mode)
        .build()
        .await;
        assert_eq!(result.is_ok(), ok, "{mode}");
        if let Ok(guard) = result {
            assert_eq!(guard.venue(), Venue::SimulatedWithLiveQuotes);
            guard.quote(Exchange::Nse, &sbin()).await.unwrap();
            guard
                .place_order(&market(asta_core::Side::Buy, 3))
                .await
                .unwrap();
            assert_eq!(guard.risk_status().positions[0].net, 3);
            assert!(audit_text(&trail).contains("\"mode\":\"paper\""));
        }
    }
}
