//! An operator's audited decision on a placement whose outcome is unknown
//! (or that waits for manual approval at the broker).
//!
//! The decision is an ORDER `place_resolved` record carrying the ticket and
//! the risk journal entry of its consequence, which the restore scan
//! ([`crate::risk_log`]) reads as the outcome of the intent.

use super::*;

/// What an operator found out about a placement whose outcome was unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutcomeDecision {
    /// The order is not at the broker and will not be (for example the
    /// operator rejected it in OpenAlgo's Action Center, or the broker's
    /// own order book proves it was never received). Its approval is
    /// released and identical orders are accepted again.
    NotPlaced,
    /// The order is at the broker under this id: it becomes an open order
    /// of the risk engine and is tracked.
    Placed(OrderId),
}

/// A placement waiting for reconciliation or an operator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnresolvedOutcome {
    /// The risk approval's ticket (name it in [`Guard::resolve_outcome`]).
    pub ticket: u64,
    /// The order as approved.
    pub order: OrderRequest,
    /// When it was sent.
    pub attempted_at: DateTime<Utc>,
    /// The broker's pending id when the order waits for manual approval.
    pub pending_approval: Option<String>,
}

impl<B: Broker> Guard<B> {
    /// The placements whose outcome is unknown or that wait for manual
    /// approval: each holds its approval (counted as open) and blocks
    /// identical orders until [`sync`](Self::sync) finds it or an operator
    /// decides.
    pub fn unresolved_outcomes(&self) -> Vec<UnresolvedOutcome> {
        self.unresolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|u| UnresolvedOutcome {
                ticket: u.ticket.get(),
                order: u.order.clone(),
                attempted_at: u.attempted_at,
                pending_approval: u.pending_approval.clone(),
            })
            .collect()
    }

    /// Settles the unknown outcome of approval `ticket` by an operator's
    /// decision, authorized by TOTP (it changes exposure and lifts the
    /// duplicate block). Recorded as ORDER `place_resolved` (with the
    /// operator, never the code); a refusal as SECURITY
    /// `outcome_resolve_refused` with the reference of the returned error.
    pub async fn resolve_outcome(
        &self,
        ticket: u64,
        decision: OutcomeDecision,
        operator: &str,
        totp_code: &str,
        verifier: &(dyn TotpVerifier + Sync),
    ) -> Result<(), BrokerError> {
        let operator_shown = shown_operator(operator);
        let refuse = |code: ErrorCode, reason: String| {
            let event = AuditEvent::security(
                "outcome_resolve_refused",
                json!({"operator": operator_shown, "ticket": ticket, "reason": reason}),
            );
            self.refuse_event(event, code, reason)
        };
        if operator_shown == "<invalid>" {
            return Err(refuse(
                ErrorCode::InvalidInput,
                "the operator name is invalid (1-64 of A-Z a-z 0-9 . _ - @)".to_owned(),
            )
            .await);
        }
        if let Err(rejection) = verifier.verify(operator, totp_code) {
            return Err(refuse(
                ErrorCode::PermissionDenied,
                format!("TOTP refused: {rejection}"),
            )
            .await);
        }
        let _one_at_a_time = self.resolving.lock().await;
        let item = {
            let mut list = self
                .unresolved
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let position = list.iter().position(|u| u.ticket.get() == ticket);
            position.map(|i| list.remove(i))
        };
        let Some(item) = item else {
            return Err(refuse(
                ErrorCode::InvalidInput,
                format!("no unknown outcome has ticket {ticket}"),
            )
            .await);
        };
        let strategy = item.order.strategy().clone();
        let details = |decision: &str, order_id: Option<&OrderId>| {
            json!({
                "ticket": ticket,
                "decision": decision,
                "order_id": order_id.map(OrderId::as_str),
                "order": summary(&item.order),
                "operator": operator_shown,
                "pending_approval": item.pending_approval,
            })
        };
        let record = |details: Value| {
            AuditEvent::order("place_resolved", strategy.as_str(), details)
                .with_actor(operator_shown.clone())
        };
        match &decision {
            OutcomeDecision::NotPlaced => {
                let (_, events) = self.risk_step(
                    |risk| risk.release_approval(item.ticket),
                    |()| Some(record(details("not_placed", None))),
                );
                self.audit_events(events).await;
            }
            OutcomeDecision::Placed(id) => {
                let (_, events) = self.risk_step(
                    |risk| risk.order_opened(id.clone(), &item.order, Some(item.ticket)),
                    |()| Some(record(details("placed", Some(id)))),
                );
                self.audit_events(events).await;
                self.track(id.clone(), strategy.clone(), Some(item.order.clone()));
                self.refresh_order(id).await;
            }
        }
        Ok(())
    }
}
