//! Where orders go: a simulation or real money.

use crate::text_enum::text_enum;

text_enum! {
    /// Where orders go. [`TradingMode::Sandbox`] is the default: it touches no
    /// network and no money.
    #[derive(Default)]
    pub enum TradingMode: ParseTradingModeError, "trading mode" {
        /// In-memory simulation; nothing leaves the process.
        #[default]
        Sandbox => "sandbox",
        /// Simulated fills against real quotes; no order is ever sent.
        Paper => "paper",
        /// Real orders with real money.
        Live => "live",
    }
}

impl TradingMode {
    /// Whether orders in this mode can move real money.
    pub const fn is_live(self) -> bool {
        matches!(self, TradingMode::Live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_is_the_default() {
        assert_eq!(TradingMode::default(), TradingMode::Sandbox);
        assert!(!TradingMode::default().is_live());
    }

    #[test]
    fn modes_round_trip() {
        for &mode in TradingMode::ALL {
            assert_eq!(mode.to_string().parse::<TradingMode>().unwrap(), mode);
        }
        assert!("LIVE".parse::<TradingMode>().is_err());
    }
}
