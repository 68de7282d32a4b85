//! Steps 1-3 of the order path: instrument, mode gate, trading state (and
//! the halt marker).

use super::*;

/// Where in the pipeline a request was refused (recorded in the audit trail).
#[derive(Debug, Clone, Copy)]
pub(super) enum Stage {
    Instrument,
    Mode,
    TradingState,
    Risk,
    Audit,
}

impl Stage {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Stage::Instrument => "INSTRUMENT",
            Stage::Mode => "MODE",
            Stage::TradingState => "TRADING_STATE",
            Stage::Risk => "RISK",
            Stage::Audit => "AUDIT",
        }
    }
}

impl<B: Broker> Guard<B> {
    /// The mode gate at call time (defence in depth: `build` checked it).
    pub(super) fn mode_gate(&self) -> Result<(), String> {
        let venue = self.inner.venue();
        mode_allows(self.config.mode, venue).map_err(|kind| kind.to_string())?;
        if self.config.mode == TradingMode::Live
            && !(self.config.allow_live_trading && self.live_confirmed.load(Ordering::Acquire))
        {
            return Err("live trading was not allowed and confirmed for this session".to_owned());
        }
        Ok(())
    }

    /// Steps 1–3 for new content: instrument, mode gate, trading state.
    pub(super) fn precheck(&self, order: &OrderRequest) -> Result<(), (Stage, ErrorCode, String)> {
        if let Err(error) = self.catalog.check_order(order) {
            return Err((
                Stage::Instrument,
                ErrorCode::InvalidInput,
                error.to_string(),
            ));
        }
        if let Err(reason) = self.mode_gate() {
            return Err((Stage::Mode, ErrorCode::PermissionDenied, reason));
        }
        if self.risk.is_poisoned() {
            // A panic interrupted a risk update: its state is not trusted.
            return Err((
                Stage::TradingState,
                ErrorCode::Halted,
                "the risk engine's state is not trusted after an internal panic; only cancels are accepted until restart".to_owned(),
            ));
        }
        if let Some(marker) = self.halt_marker.as_ref().filter(|m| m.is_present()) {
            return Err((
                Stage::TradingState,
                ErrorCode::Halted,
                format!(
                    "a halt marker is present at {}; only cancels are accepted until an operator resets with TOTP",
                    marker.path().display()
                ),
            ));
        }
        let state = self.lock_risk().strategy_state(order.strategy());
        if state == TradingState::Halted {
            return Err((
                Stage::TradingState,
                ErrorCode::Halted,
                format!(
                    "trading is halted for strategy {} or the account; only cancels are accepted",
                    order.strategy()
                ),
            ));
        }
        Ok(())
    }
}
