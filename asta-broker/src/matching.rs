//! Pure matching rules of the simulators (no state, no time, no I/O).
//!
//! - A **marketable** order (on arrival, or when its stop triggers) fills at
//!   the touch: a buy at the ask, a sell at the bid, or at the last price when
//!   that side of the book is unknown.
//! - A **resting** limit order fills at its own limit price once a later quote
//!   crosses it (the ask at or below a buy limit, the bid at or above a sell
//!   limit), as the passive side of a trade does.
//! - A stop triggers when the last price reaches the trigger: at or above it
//!   for a buy stop, at or below it for a sell stop.
//! - Fills are always for the whole quantity: no partial fills, no queue
//!   position, no slippage beyond the touch. Deterministic by design.

use asta_core::{Price, PriceType, Side};

use crate::Quote;

/// What to do with a working order given a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evaluation {
    /// The stop triggered with this quote.
    pub(crate) triggered: bool,
    /// The order fills completely at this price.
    pub(crate) fill: Option<Price>,
}

/// The touch a marketable order of `side` trades at.
pub(crate) fn touch(side: Side, quote: &Quote) -> Price {
    match side {
        Side::Buy => quote.ask().unwrap_or(quote.ltp()),
        Side::Sell => quote.bid().unwrap_or(quote.ltp()),
    }
}

/// Whether a marketable limit at `limit` trades against the touch.
pub(crate) fn crosses(side: Side, limit: Price, quote: &Quote) -> bool {
    let touch = touch(side, quote);
    match side {
        Side::Buy => touch <= limit,
        Side::Sell => touch >= limit,
    }
}

/// Whether a stop of `side` at `trigger` is reached by the last price.
pub(crate) fn trigger_reached(side: Side, trigger: Price, quote: &Quote) -> bool {
    match side {
        Side::Buy => quote.ltp() >= trigger,
        Side::Sell => quote.ltp() <= trigger,
    }
}

/// Evaluates a working order against `quote`.
///
/// `resting` is true when the order was already on the book before this quote
/// (a limit then fills at its own price), false on arrival or modification.
pub(crate) fn evaluate(
    side: Side,
    price_type: PriceType,
    price: Option<Price>,
    trigger: Option<Price>,
    already_triggered: bool,
    resting: bool,
    quote: &Quote,
) -> Evaluation {
    let mut triggered = false;
    let active_type = match price_type {
        PriceType::StopLoss | PriceType::StopLossMarket if !already_triggered => {
            match trigger {
                Some(t) if trigger_reached(side, t, quote) => triggered = true,
                _ => {
                    return Evaluation {
                        triggered: false,
                        fill: None,
                    };
                }
            }
            // A freshly triggered stop is marketable, not resting.
            if price_type == PriceType::StopLoss {
                return Evaluation {
                    triggered,
                    fill: limit_fill(side, price, false, quote),
                };
            }
            PriceType::Market
        }
        PriceType::StopLossMarket => PriceType::Market,
        PriceType::StopLoss => PriceType::Limit,
        other => other,
    };
    let fill = match active_type {
        PriceType::Market => Some(touch(side, quote)),
        _ => limit_fill(side, price, resting, quote),
    };
    Evaluation { triggered, fill }
}

fn limit_fill(side: Side, price: Option<Price>, resting: bool, quote: &Quote) -> Option<Price> {
    let limit = price?;
    if !crosses(side, limit, quote) {
        return None;
    }
    Some(if resting { limit } else { touch(side, quote) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }
    fn q(ltp: &str, bid: &str, ask: &str) -> Quote {
        Quote::new(
            p(ltp),
            Some(p(bid)),
            Some(p(ask)),
            DateTime::<Utc>::UNIX_EPOCH,
        )
        .unwrap()
    }

    #[test]
    fn market_fills_at_the_touch() {
        let quote = q("800", "799.95", "800.05");
        let e = evaluate(
            Side::Buy,
            PriceType::Market,
            None,
            None,
            false,
            false,
            &quote,
        );
        assert_eq!(e.fill, Some(p("800.05")));
        let e = evaluate(
            Side::Sell,
            PriceType::Market,
            None,
            None,
            false,
            false,
            &quote,
        );
        assert_eq!(e.fill, Some(p("799.95")));
    }

    #[test]
    fn limits_fill_as_taker_on_arrival_and_maker_when_resting() {
        let quote = q("800", "799.95", "800.05");
        let arrive = |limit: &str, resting| {
            evaluate(
                Side::Buy,
                PriceType::Limit,
                Some(p(limit)),
                None,
                false,
                resting,
                &quote,
            )
            .fill
        };
        assert_eq!(arrive("801", false), Some(p("800.05")));
        assert_eq!(arrive("801", true), Some(p("801")));
        assert_eq!(arrive("800", false), None);
    }

    #[test]
    fn stops_trigger_on_the_last_price() {
        let quote = q("700", "699.95", "700.05");
        let e = evaluate(
            Side::Sell,
            PriceType::StopLossMarket,
            None,
            Some(p("700")),
            false,
            true,
            &quote,
        );
        assert_eq!(
            e,
            Evaluation {
                triggered: true,
                fill: Some(p("699.95"))
            }
        );
        let e = evaluate(
            Side::Sell,
            PriceType::StopLossMarket,
            None,
            Some(p("699")),
            false,
            true,
            &quote,
        );
        assert_eq!(
            e,
            Evaluation {
                triggered: false,
                fill: None
            }
        );
        // SL sell: trigger 700, limit 699.99: bid 699.95 does not reach the limit.
        let e = evaluate(
            Side::Sell,
            PriceType::StopLoss,
            Some(p("699.99")),
            Some(p("700")),
            false,
            true,
            &quote,
        );
        assert_eq!(
            e,
            Evaluation {
                triggered: true,
                fill: None
            }
        );
    }
}
