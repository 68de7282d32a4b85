//! The individual pre-trade checks, as small pure functions.
//!
//! Each takes the value and its limit and returns the typed [`Rejection`]
//! naming both. Limits are inclusive: a value equal to its limit passes.

use std::collections::VecDeque;

use asta_core::{Exchange, Money, OrderRequest, Price, PriceType, Symbol};
use chrono::{DateTime, TimeDelta, Utc};

use crate::error::Rejection;
use crate::state::Quote;

/// The reference price for an order: the caller's (fresh by the caller's
/// word) or the last quote if it is at most `max_age_ms` old.
pub(crate) fn fresh_reference(
    exchange: Exchange,
    symbol: &Symbol,
    caller: Option<Price>,
    quote: Option<Quote>,
    now: DateTime<Utc>,
    max_age_ms: u64,
) -> Result<Price, Rejection> {
    if let Some(price) = caller.filter(|p| *p > Price::ZERO) {
        return Ok(price);
    }
    // A quote stamped in the future (the clock stepped back) has no
    // meaningful age: it is treated as missing, not as fresh.
    let age_ms =
        quote.and_then(|q| u64::try_from(now.signed_duration_since(q.at).num_milliseconds()).ok());
    match (quote, age_ms) {
        (Some(q), Some(age)) if age <= max_age_ms && q.price > Price::ZERO => Ok(q.price),
        _ => Err(Rejection::NoFreshReference {
            exchange,
            symbol: symbol.clone(),
            age_ms,
            max_age_ms,
        }),
    }
}

/// The price collar: `|price − reference| / reference ≤ limit_bps / 10,000`,
/// compared exactly in integers.
pub(crate) fn collar(
    symbol: &Symbol,
    field: &'static str,
    price: Price,
    reference: Price,
    limit_bps: u32,
) -> Result<(), Rejection> {
    let diff = i128::from(price.abs_diff(reference).units());
    let reference_units = i128::from(reference.units());
    if reference_units <= 0 {
        return Err(Rejection::Overflow {
            what: "collar against a zero reference",
        });
    }
    let scaled = diff * 10_000;
    if scaled > reference_units * i128::from(limit_bps) {
        // Rounded up, so a rejected price never shows the limit itself.
        let bps = (scaled + reference_units - 1) / reference_units;
        return Err(Rejection::PriceCollar {
            symbol: symbol.clone(),
            field,
            price,
            reference,
            deviation_bps: u64::try_from(bps).unwrap_or(u64::MAX),
            limit_bps,
        });
    }
    Ok(())
}

/// Collars every price the order carries.
pub(crate) fn collar_order(
    order: &OrderRequest,
    reference: Price,
    limit_bps: u32,
) -> Result<(), Rejection> {
    if let Some(price) = order.price() {
        collar(order.symbol(), "price", price, reference, limit_bps)?;
    }
    if let Some(trigger) = order.trigger_price() {
        collar(
            order.symbol(),
            "trigger price",
            trigger,
            reference,
            limit_bps,
        )?;
    }
    Ok(())
}

/// The price an order is valued at: its limit price, its trigger (SL-M,
/// or the reference when that is higher), or the reference (MARKET).
pub(crate) fn order_price(order: &OrderRequest, reference: Option<Price>) -> Option<Price> {
    match order.price_type() {
        PriceType::Limit | PriceType::StopLoss => order.price(),
        PriceType::StopLossMarket => match (order.trigger_price(), reference) {
            (Some(t), Some(r)) => Some(t.max(r)),
            (t, r) => t.or(r),
        },
        _ => reference,
    }
}

/// Quantity per order.
pub(crate) fn max_quantity(quantity: u64, limit: u64) -> Result<(), Rejection> {
    if quantity > limit {
        return Err(Rejection::MaxQuantity { quantity, limit });
    }
    Ok(())
}

/// Notional per order.
pub(crate) fn max_notional(notional: Money, limit: Money) -> Result<(), Rejection> {
    if notional > limit {
        return Err(Rejection::MaxNotional { notional, limit });
    }
    Ok(())
}

/// Position value per symbol: refused only when the order raises the
/// worst-case value and the result is above the limit (an order that
/// shrinks an over-limit position passes).
pub(crate) fn position_value(
    symbol: &Symbol,
    before: Money,
    after: Money,
    limit: Money,
) -> Result<(), Rejection> {
    if after > limit && after > before {
        return Err(Rejection::PositionLimit {
            symbol: symbol.clone(),
            value: after,
            limit,
        });
    }
    Ok(())
}

/// Gross exposure, with the same "raises and ends above" rule.
pub(crate) fn gross_exposure(before: Money, after: Money, limit: Money) -> Result<(), Rejection> {
    if after > limit && after > before {
        return Err(Rejection::GrossExposure {
            value: after,
            limit,
        });
    }
    Ok(())
}

/// Open orders: `open` already open or pending; one more must fit.
pub(crate) fn open_orders(open: usize, adding: usize, limit: u32) -> Result<(), Rejection> {
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    if open.saturating_add(adding) > limit_usize {
        return Err(Rejection::MaxOpenOrders {
            open: u32::try_from(open).unwrap_or(u32::MAX),
            limit,
        });
    }
    Ok(())
}

/// Daily loss: at most the cap.
pub(crate) fn daily_loss(loss: Money, limit: Money) -> Result<(), Rejection> {
    if loss > limit {
        return Err(Rejection::DailyLoss { loss, limit });
    }
    Ok(())
}

/// Duplicate content from the same strategy within the window. `recent`
/// holds approvals, oldest first; entries at or beyond the window are ignored.
pub(crate) fn duplicate(
    order: &OrderRequest,
    recent: &VecDeque<(OrderRequest, DateTime<Utc>)>,
    now: DateTime<Utc>,
    window_ms: u64,
) -> Result<(), Rejection> {
    let window = TimeDelta::milliseconds(i64::try_from(window_ms).unwrap_or(i64::MAX / 1_000_000));
    for (seen, at) in recent.iter().rev() {
        let age = now.signed_duration_since(*at);
        if age >= window {
            break;
        }
        if seen == order {
            return Err(Rejection::Duplicate {
                strategy: order.strategy().clone(),
                age_ms: u64::try_from(age.num_milliseconds()).unwrap_or(0),
                window_ms,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use asta_core::{Product, Quantity, Side, StrategyTag};
    use chrono::TimeZone;

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    fn sym() -> Symbol {
        Symbol::new("SBIN").unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap()
    }

    #[test]
    fn collar_at_below_and_above_five_percent() {
        let r = p("800");
        // 5% of 800 is 40.
        for (price, ok) in [
            ("839.95", true),
            ("840", true),
            ("840.0001", false),
            ("760.05", true),
            ("760", true),
            ("759.9999", false),
        ] {
            let result = collar(&sym(), "price", p(price), r, 500);
            assert_eq!(result.is_ok(), ok, "{price}");
        }
        let error = collar(&sym(), "price", p("880"), r, 500).unwrap_err();
        assert_eq!(
            error.to_string(),
            "price 880 is 1000 bps from the reference price 800 of SBIN; the collar is 500 bps"
        );
        assert!(collar(&sym(), "price", p("1"), Price::ZERO, 500).is_err());
    }

    #[test]
    fn reference_staleness_at_below_and_above_its_limit() {
        let quote = |ms| {
            Some(Quote {
                price: p("800"),
                at: t0() - TimeDelta::milliseconds(ms),
            })
        };
        let check = |q| fresh_reference(Exchange::Nse, &sym(), None, q, t0(), 5_000);
        assert_eq!(check(quote(4_999)), Ok(p("800")));
        assert_eq!(check(quote(5_000)), Ok(p("800")));
        assert_eq!(
            check(quote(5_001)),
            Err(Rejection::NoFreshReference {
                exchange: Exchange::Nse,
                symbol: sym(),
                age_ms: Some(5_001),
                max_age_ms: 5_000
            })
        );
        assert!(matches!(
            check(None),
            Err(Rejection::NoFreshReference { age_ms: None, .. })
        ));
        let from_caller = fresh_reference(Exchange::Nse, &sym(), Some(p("801")), None, t0(), 1);
        assert_eq!(from_caller, Ok(p("801")));
        assert!(
            check(quote(-1)).is_err(),
            "a quote from the future is not fresh"
        );
        let zero_caller = fresh_reference(Exchange::Nse, &sym(), Some(Price::ZERO), None, t0(), 1);
        assert!(zero_caller.is_err(), "a zero reference is no reference");
    }

    #[test]
    fn size_limits_at_below_and_above() {
        assert!(max_quantity(99, 100).is_ok());
        assert!(max_quantity(100, 100).is_ok());
        assert_eq!(
            max_quantity(101, 100),
            Err(Rejection::MaxQuantity {
                quantity: 101,
                limit: 100
            })
        );
        let limit = Money::from_rupees(100_000);
        assert!(max_notional(Money::from_units(999_999_999), limit).is_ok());
        assert!(max_notional(limit, limit).is_ok());
        assert!(max_notional(Money::from_units(1_000_000_001), limit).is_err());
    }

    #[test]
    fn exposure_limits_at_below_and_above() {
        let limit = Money::from_rupees(300_000);
        let z = Money::ZERO;
        assert!(position_value(&sym(), z, Money::from_rupees(299_999), limit).is_ok());
        assert!(position_value(&sym(), z, limit, limit).is_ok());
        assert!(position_value(&sym(), z, Money::from_units(3_000_000_001), limit).is_err());
        // Over the limit already, and the order shrinks it: allowed.
        let big = Money::from_rupees(400_000);
        assert!(position_value(&sym(), big, Money::from_rupees(350_000), limit).is_ok());
        assert!(position_value(&sym(), big, Money::from_rupees(400_001), limit).is_err());
        assert!(gross_exposure(z, limit, limit).is_ok());
        assert!(gross_exposure(z, Money::from_units(3_000_000_001), limit).is_err());
        assert!(open_orders(48, 1, 50).is_ok());
        assert!(open_orders(49, 1, 50).is_ok());
        assert_eq!(
            open_orders(50, 1, 50),
            Err(Rejection::MaxOpenOrders {
                open: 50,
                limit: 50
            })
        );
        assert!(
            open_orders(48, 3, 50).is_err(),
            "a batch counts every order"
        );
    }

    #[test]
    fn daily_loss_at_below_and_above() {
        let cap = Money::from_rupees(30_000);
        assert!(daily_loss(Money::from_rupees(29_999), cap).is_ok());
        assert!(daily_loss(cap, cap).is_ok());
        assert!(daily_loss(Money::from_units(300_000_001), cap).is_err());
    }

    #[test]
    fn duplicates_at_below_and_above_the_window() {
        let order = OrderRequest::builder()
            .symbol(sym())
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .price_type(PriceType::Limit)
            .product(Product::Cnc)
            .quantity(Quantity::new(1).unwrap())
            .price(p("800"))
            .strategy(StrategyTag::new("s").unwrap())
            .build()
            .unwrap();
        let recent: VecDeque<_> = [(order.clone(), t0())].into();
        let at = |ms| t0() + TimeDelta::milliseconds(ms);
        assert!(duplicate(&order, &recent, at(1_999), 2_000).is_err());
        assert!(
            duplicate(&order, &recent, at(2_000), 2_000).is_ok(),
            "window is half-open"
        );
        let other = order
            .to_builder()
            .strategy(StrategyTag::new("t").unwrap())
            .build()
            .unwrap();
        assert!(
            duplicate(&other, &recent, at(1), 2_000).is_ok(),
            "another strategy"
        );
        let changed = order
            .to_builder()
            .quantity(Quantity::new(2).unwrap())
            .build()
            .unwrap();
        assert!(duplicate(&changed, &recent, at(1), 2_000).is_ok());
    }

    #[test]
    fn order_prices() {
        let base = OrderRequest::builder()
            .symbol(sym())
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .product(Product::Cnc)
            .quantity(Quantity::new(1).unwrap())
            .strategy(StrategyTag::new("s").unwrap());
        let market = base.clone().price_type(PriceType::Market).build().unwrap();
        assert_eq!(order_price(&market, Some(p("10"))), Some(p("10")));
        assert_eq!(order_price(&market, None), None);
        let slm = base
            .price_type(PriceType::StopLossMarket)
            .trigger_price(p("12"))
            .build()
            .unwrap();
        assert_eq!(order_price(&slm, Some(p("10"))), Some(p("12")));
        assert_eq!(order_price(&slm, Some(p("13"))), Some(p("13")));
    }
}
