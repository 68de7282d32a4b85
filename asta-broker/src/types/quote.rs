//! Market quotes.

use asta_core::Price;
use chrono::{DateTime, Utc};

/// A quote for one instrument: last traded price, best bid and ask, and the
/// instant it was taken (by the caller's or adapter's [`Clock`](asta_core::Clock)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    ltp: Price,
    bid: Option<Price>,
    ask: Option<Price>,
    at: DateTime<Utc>,
}

/// Why a quote is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuoteError {
    /// A last price of zero.
    #[error("the last traded price must be above zero")]
    ZeroLastPrice,
    /// A bid or ask of zero given explicitly (use `None` for "no depth").
    #[error("a bid or ask of zero is not a price; leave it out instead")]
    ZeroSide,
    /// The bid is above the ask.
    #[error("crossed quote: bid {bid} is above ask {ask}")]
    Crossed {
        /// The bid.
        bid: Price,
        /// The ask.
        ask: Price,
    },
}

impl Quote {
    /// A quote; `bid` and `ask` are `None` when the book side is empty.
    pub fn new(
        ltp: Price,
        bid: Option<Price>,
        ask: Option<Price>,
        at: DateTime<Utc>,
    ) -> Result<Self, QuoteError> {
        if ltp == Price::ZERO {
            return Err(QuoteError::ZeroLastPrice);
        }
        if bid == Some(Price::ZERO) || ask == Some(Price::ZERO) {
            return Err(QuoteError::ZeroSide);
        }
        if let (Some(bid), Some(ask)) = (bid, ask)
            && bid > ask
        {
            return Err(QuoteError::Crossed { bid, ask });
        }
        Ok(Self { ltp, bid, ask, at })
    }

    /// A quote with only a last price (bid and ask unknown).
    pub fn last(ltp: Price, at: DateTime<Utc>) -> Result<Self, QuoteError> {
        Self::new(ltp, None, None, at)
    }

    /// The last traded price.
    pub fn ltp(&self) -> Price {
        self.ltp
    }

    /// The best bid, if any.
    pub fn bid(&self) -> Option<Price> {
        self.bid
    }

    /// The best ask, if any.
    pub fn ask(&self) -> Option<Price> {
        self.ask
    }

    /// When the quote was taken.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_validate() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let p = |s: &str| s.parse::<Price>().unwrap();
        assert!(Quote::new(p("800"), Some(p("799.95")), Some(p("800.05")), at).is_ok());
        assert_eq!(
            Quote::new(Price::ZERO, None, None, at),
            Err(QuoteError::ZeroLastPrice)
        );
        assert!(matches!(
            Quote::new(p("800"), Some(p("801")), Some(p("800")), at),
            Err(QuoteError::Crossed { .. })
        ));
        assert_eq!(
            Quote::new(p("800"), Some(Price::ZERO), None, at),
            Err(QuoteError::ZeroSide)
        );
    }
}
