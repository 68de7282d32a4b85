//! What `status` answers: the session's state for an operator.

use asta_core::TradingMode;
use asta_risk::{RiskStatus, TradingState};
use serde::Serialize;

use super::MarkerRecord;
use crate::Venue;

/// The session's state, as `status` over the control socket returns it
/// (and [`Guard::session_status`](crate::Guard::session_status)).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SessionStatus {
    /// The trading mode.
    pub mode: TradingMode,
    /// The broker's venue.
    pub venue: Venue,
    /// The account's trading state.
    pub trading_state: TradingState,
    /// Whether orders are refused because of a halt marker.
    pub halt_marker: Option<MarkerStatus>,
    /// Placements whose outcome is unknown, not yet found at the broker.
    pub unknown_outcomes: usize,
    /// Placements and modifications at the broker right now.
    pub in_flight: usize,
    /// Why the audit trail refuses appends, when it does (trading halts).
    pub audit_unavailable: Option<String>,
    /// The risk engine's snapshot: breakers with reasons, the day's P&L
    /// and loss against its limit, exposure, open orders, positions and
    /// rate usage.
    pub risk: RiskStatus,
}

/// The halt marker as `status` shows it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MarkerStatus {
    /// Where the guard looks for it.
    pub path: String,
    /// Whether it is there (orders are refused while it is).
    pub present: bool,
    /// What it says, when it is readable.
    pub record: Option<MarkerRecord>,
}

impl SessionStatus {
    pub(crate) fn new(
        mode: TradingMode,
        venue: Venue,
        risk: RiskStatus,
        unknown_outcomes: usize,
        in_flight: usize,
        audit_unavailable: Option<String>,
        marker: Option<(String, bool, Option<MarkerRecord>)>,
    ) -> Self {
        let present = marker.as_ref().is_some_and(|(_, present, _)| *present);
        let trading_state = if present {
            TradingState::Halted
        } else {
            risk.account.state
        };
        Self {
            mode,
            venue,
            trading_state,
            halt_marker: marker.map(|(path, present, record)| MarkerStatus {
                path,
                present,
                record,
            }),
            unknown_outcomes,
            in_flight,
            audit_unavailable,
            risk,
        }
    }
}
