//! The emergency stop: halts, cancels, closes, records and alerts; reports
//! exactly what failed; idempotent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use asta_broker::{Broker, BrokerError, EmergencyStep, OrderState, SandboxOp};
use asta_core::Side;
use asta_risk::TradingState;
use common::*;

#[tokio::test]
async fn a_clean_stop_halts_cancels_closes_records_and_alerts() {
    let s = sandbox_session(risk_config()).await;
    s.guard.place_order(&market(Side::Buy, 10)).await.unwrap();
    let resting = s
        .guard
        .place_order(&limit(Side::Buy, 5, "790"))
        .await
        .unwrap();

    let report = s.guard.emergency_stop("operator pressed the button").await;
    assert!(report.is_complete(), "{report:?}");
    assert!(report.halted && !report.was_halted && report.halt_persisted);
    assert_eq!(report.cancelled, vec![resting.clone()]);
    assert_eq!(report.closed.len(), 1);
    assert!(report.audited && report.alerted);
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    let positions = s.sandbox.positions().await.unwrap();
    assert!(positions.iter().all(|p| p.is_flat()));
    // The exit fill reached the risk engine: flat there too.
    assert!(s.guard.risk_status().positions.iter().all(|p| p.net == 0));
    assert!(s.alerts.kinds().contains(&"emergency_stop".to_owned()));
    let text = audit_text(&s.trail);
    assert!(text.contains("\"emergency_stop\"") && text.contains("\"emergency_stop_report\""));
    assert!(text.contains("\"CRITICAL\""));
    serde_json::to_string(&report).unwrap();
    assert_intact(&s.trail);
}

#[tokio::test]
async fn a_stop_with_failing_cancels_reports_them_and_still_halts_and_closes() {
    let s = sandbox_session(risk_config()).await;
    s.guard.place_order(&market(Side::Buy, 10)).await.unwrap();
    let first = s
        .guard
        .place_order(&limit(Side::Buy, 5, "790"))
        .await
        .unwrap();
    let second = s
        .guard
        .place_order(&limit(Side::Buy, 6, "789"))
        .await
        .unwrap();

    // Cancel-all fails as a whole; the one-by-one fallback then fails for the first order.
    s.sandbox.fail_next(
        SandboxOp::CancelAll,
        BrokerError::Unavailable {
            detail: "cancel-all endpoint down".into(),
        },
    );
    s.sandbox
        .fail_next(SandboxOp::Cancel, BrokerError::rejected("exchange busy"));

    let report = s.guard.emergency_stop("runaway strategy").await;
    assert!(!report.is_complete());
    assert!(report.halted);
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    let steps: Vec<(EmergencyStep, Option<String>)> = report
        .failures
        .iter()
        .map(|f| (f.step, f.target.clone()))
        .collect();
    assert_eq!(
        steps,
        vec![
            (EmergencyStep::CancelAll, None),
            (EmergencyStep::Cancel, Some(first.to_string())),
        ]
    );
    assert_eq!(report.cancelled, vec![second.clone()]);
    // Close-all still ran.
    assert_eq!(report.closed.len(), 1);
    // Each broker failure is in the audit trail under the reference reported.
    for failure in &report.failures {
        let reference = failure.reference.as_ref().unwrap();
        let lines = lines_with(&s.trail, reference.as_str());
        // The ERROR record with the detail, and the final report naming it.
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("\"category\":\"ERROR\""));
        assert!(lines[0].contains(&failure.reason.split(" (ref").next().unwrap().to_owned()));
        assert!(lines[1].contains("emergency_stop_report"));
    }
    let state = |id| {
        let s = &s;
        async move {
            s.sandbox
                .order_status(&strategy(), &id)
                .await
                .unwrap()
                .state()
        }
    };
    assert_eq!(state(first.clone()).await, OrderState::Open);

    // Idempotent: the second call re-attempts, finishes the job, never un-halts.
    let again = s.guard.emergency_stop("runaway strategy").await;
    assert!(again.is_complete(), "{again:?}");
    assert!(again.was_halted && again.halted);
    assert_eq!(again.cancelled, vec![first.clone()]);
    assert!(again.closed.is_empty());
    assert_eq!(state(first).await, OrderState::Cancelled);
    assert_eq!(s.guard.trading_state(), TradingState::Halted);
    // Only one manual-halt breaker: the second call did not halt again.
    assert_eq!(s.guard.risk_status().breakers.len(), 1);
}

#[tokio::test]
async fn a_failing_close_all_is_reported() {
    let s = sandbox_session(risk_config()).await;
    s.guard.place_order(&market(Side::Buy, 10)).await.unwrap();
    s.sandbox.fail_next(
        SandboxOp::CloseAll,
        BrokerError::outcome_unknown("timeout while closing"),
    );
    let report = s.guard.emergency_stop("test").await;
    assert!(report.halted);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].step, EmergencyStep::CloseAll);
    assert!(report.failures[0].reason.contains("timeout while closing"));
    let again = s.guard.emergency_stop("test").await;
    assert!(again.is_complete());
    assert_eq!(again.closed.len(), 1);
}

#[tokio::test]
async fn a_stop_with_a_broken_audit_trail_still_halts_cancels_and_says_so() {
    let s = sandbox_session(risk_config()).await;
    let resting = s
        .guard
        .place_order(&limit(Side::Buy, 5, "790"))
        .await
        .unwrap();
    s.trail.log.close().unwrap();
    let report = s.guard.emergency_stop("disk failure").await;
    assert!(report.halted);
    assert!(!report.audited);
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.step == EmergencyStep::Audit)
    );
    assert_eq!(report.cancelled, vec![resting]);
}

/// Holds each placement at the broker until released.
struct Held {
    inner: asta_broker::SandboxBroker,
    entered: std::sync::Arc<tokio::sync::Notify>,
    release: std::sync::Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl Broker for Held {
    async fn place_order(
        &self,
        order: &asta_core::OrderRequest,
    ) -> Result<asta_core::OrderId, BrokerError> {
        self.entered.notify_one();
        self.release.notified().await;
        self.inner.place_order(order).await
    }
    async fn modify_order(
        &self,
        request: &asta_broker::ModifyRequest,
    ) -> Result<asta_core::OrderId, BrokerError> {
        self.inner.modify_order(request).await
    }
    async fn cancel_order(
        &self,
        strategy: &asta_core::StrategyTag,
        id: &asta_core::OrderId,
    ) -> Result<(), BrokerError> {
        self.inner.cancel_order(strategy, id).await
    }
    async fn cancel_all_orders(
        &self,
        strategy: &asta_core::StrategyTag,
    ) -> Result<asta_broker::CancelAllReport, BrokerError> {
        self.inner.cancel_all_orders(strategy).await
    }
    async fn close_all_positions(
        &self,
        strategy: &asta_core::StrategyTag,
    ) -> Result<asta_broker::CloseAllReport, BrokerError> {
        self.inner.close_all_positions(strategy).await
    }
    async fn order_status(
        &self,
        strategy: &asta_core::StrategyTag,
        id: &asta_core::OrderId,
    ) -> Result<asta_broker::OrderStatus, BrokerError> {
        self.inner.order_status(strategy, id).await
    }
    async fn order_book(&self) -> Result<Vec<asta_broker::OrderBookEntry>, BrokerError> {
        self.inner.order_book().await
    }
    async fn positions(&self) -> Result<Vec<asta_broker::Position>, BrokerError> {
        self.inner.positions().await
    }
    async fn funds(&self) -> Result<asta_broker::Funds, BrokerError> {
        self.inner.funds().await
    }
    async fn quote(
        &self,
        exchange: asta_core::Exchange,
        symbol: &asta_core::Symbol,
    ) -> Result<asta_broker::Quote, BrokerError> {
        self.inner.quote(exchange, symbol).await
    }
    fn venue(&self) -> asta_broker::Venue {
        self.inner.venue()
    }
}

#[tokio::test]
async fn an_order_in_flight_during_the_stop_is_reported_and_a_second_stop_cleans_up() {
    use std::sync::Arc;
    let clock = clock();
    let trail = trail(&clock);
    let sandbox = asta_broker::SandboxBroker::new(Arc::new(clock.clone()));
    sandbox.set_quote(asta_core::Exchange::Nse, &sbin(), quote(&clock, "800"));
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let guard = asta_broker::Guard::builder(
        Held {
            inner: sandbox.clone(),
            entered: Arc::clone(&entered),
            release: Arc::clone(&release),
        },
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .build()
    .await
    .unwrap();
    guard
        .quote(asta_core::Exchange::Nse, &sbin())
        .await
        .unwrap();

    let resting = limit(Side::Buy, 5, "795");
    let place = guard.place_order(&resting);
    let stop = async {
        entered.notified().await;
        let report = guard.emergency_stop("stop during an order").await;
        release.notify_one();
        report
    };
    let (placed, report) = tokio::join!(place, stop);
    let id = placed.unwrap();
    assert!(report.halted);
    assert!(!report.is_complete());
    assert!(
        report
            .failures
            .iter()
            .any(|f| f.step == EmergencyStep::InFlight)
    );
    // The order landed after the cancels...
    assert_eq!(
        sandbox
            .order_status(&strategy(), &id)
            .await
            .unwrap()
            .state(),
        OrderState::Open
    );
    // ...and the second stop cancels it.
    let again = guard.emergency_stop("stop during an order").await;
    assert!(again.is_complete(), "{again:?}");
    assert_eq!(again.cancelled, vec![id.clone()]);
    assert_eq!(
        sandbox
            .order_status(&strategy(), &id)
            .await
            .unwrap()
            .state(),
        OrderState::Cancelled
    );
}
