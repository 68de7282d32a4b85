//! Property tests: arbitrary input never panics and either parses or gives a
//! typed error; what parses prints and parses back to the same value; money
//! arithmetic never overflows silently.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use asta_core::{
    AlgoId, Exchange, MAX_PRICE_UNITS, MAX_QUANTITY, Money, OrderId, OrderRequest, Price,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol, TradingMode,
};
use proptest::prelude::*;

/// Strings biased toward the characters the parsers care about.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Z0-9&._\\- ;'\"<>\u{0}\u{410}eE,+]{0,50}",
        "[-+]?[0-9]{0,25}(\\.[0-9]{0,6})?([eE][-+]?[0-9]{1,4})?",
    ]
}

fn round_trips<T>(text: &str)
where
    T: std::str::FromStr + std::fmt::Display + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = text.parse::<T>() {
        let printed = value.to_string();
        let again: T = printed
            .parse()
            .unwrap_or_else(|_| panic!("{printed:?} (from {text:?}) does not parse back"));
        assert_eq!(again, value);
        assert_eq!(again.to_string(), printed, "printing is canonical");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics_and_round_trips(text in tricky_string()) {
        round_trips::<Symbol>(&text);
        round_trips::<Price>(&text);
        round_trips::<Money>(&text);
        round_trips::<Quantity>(&text);
        round_trips::<OrderId>(&text);
        round_trips::<StrategyTag>(&text);
        round_trips::<AlgoId>(&text);
        round_trips::<Exchange>(&text);
        round_trips::<Side>(&text);
        round_trips::<PriceType>(&text);
        round_trips::<Product>(&text);
        round_trips::<TradingMode>(&text);
        let _ = Price::from_broker_decimal(&text);
        let _ = Money::from_broker_decimal(&text);
        let _ = serde_json::from_str::<OrderRequest>(&text);
    }

    #[test]
    fn every_price_prints_and_parses_back(units in 0..=MAX_PRICE_UNITS) {
        let price = Price::from_units(units).unwrap();
        let text = price.to_string();
        prop_assert_eq!(text.parse::<Price>().unwrap(), price);
        prop_assert_eq!(Price::from_broker_decimal(&text).unwrap(), price);
        let json = serde_json::to_string(&price).unwrap();
        prop_assert_eq!(serde_json::from_str::<Price>(&json).unwrap(), price);
    }

    #[test]
    fn every_money_prints_and_parses_back(units in (i128::MIN + 1)..=i128::MAX) {
        let money = Money::from_units(units);
        prop_assert_eq!(money.to_string().parse::<Money>().unwrap(), money);
    }

    #[test]
    fn every_quantity_prints_and_parses_back(value in 1..=MAX_QUANTITY) {
        let quantity = Quantity::new(value).unwrap();
        prop_assert_eq!(quantity.to_string().parse::<Quantity>().unwrap(), quantity);
    }

    #[test]
    fn price_arithmetic_is_checked(a in 0..=MAX_PRICE_UNITS, b in 0..=MAX_PRICE_UNITS) {
        let (pa, pb) = (Price::from_units(a).unwrap(), Price::from_units(b).unwrap());
        match pa.checked_add(pb) {
            Some(sum) => prop_assert_eq!(sum.units(), a + b),
            None => prop_assert!(a + b > MAX_PRICE_UNITS),
        }
        match pa.checked_sub(pb) {
            Some(diff) => prop_assert_eq!(diff.units(), a - b),
            None => prop_assert!(a < b),
        }
        prop_assert_eq!(pa.abs_diff(pb).units(), (a - b).abs());
    }

    #[test]
    fn notional_is_exact(units in 0..=MAX_PRICE_UNITS, qty in 1..=MAX_QUANTITY) {
        let notional = Price::from_units(units).unwrap().notional(Quantity::new(qty).unwrap());
        prop_assert_eq!(notional.units(), i128::from(units) * i128::from(qty));
    }

    #[test]
    fn money_arithmetic_never_wraps(a in any::<i128>(), b in any::<i128>(), bps in any::<u32>()) {
        let (ma, mb) = (Money::from_units(a), Money::from_units(b));
        prop_assert_eq!(ma.checked_add(mb).map(Money::units), a.checked_add(b));
        prop_assert_eq!(ma.checked_sub(mb).map(Money::units), a.checked_sub(b));
        prop_assert_eq!(
            ma.checked_mul_bps(bps).map(Money::units),
            a.checked_mul(i128::from(bps)).map(|v| v / 10_000)
        );
    }

    #[test]
    fn broker_decimals_round_to_the_nearest_unit(whole in 0u64..1_000_000, frac in 0u64..100_000_000) {
        // value = whole + frac / 10^8; expected units rounded half away from zero.
        let text = format!("{whole}.{frac:08}");
        let exact_tenths_of_units = u128::from(whole) * 100_000_000 + u128::from(frac);
        let expected = (exact_tenths_of_units + 5_000) / 10_000;
        let price = Price::from_broker_decimal(&text).unwrap();
        prop_assert_eq!(price.units() as u128, expected);
    }

    #[test]
    fn valid_orders_round_trip_through_json(
        qty in 1..=MAX_QUANTITY,
        price in 1..=MAX_PRICE_UNITS,
        sell in any::<bool>(),
        kind in 0usize..4,
    ) {
        let price = Price::from_units(price).unwrap();
        let mut builder = OrderRequest::builder()
            .symbol(Symbol::new("NIFTY28NOV2424000CE").unwrap())
            .exchange(Exchange::Nfo)
            .side(if sell { Side::Sell } else { Side::Buy })
            .product(Product::Nrml)
            .quantity(Quantity::new(qty).unwrap())
            .strategy(StrategyTag::new("prop").unwrap());
        builder = match kind {
            0 => builder.price_type(PriceType::Market),
            1 => builder.price_type(PriceType::Limit).price(price),
            2 => builder.price_type(PriceType::StopLoss).price(price).trigger_price(price),
            _ => builder.price_type(PriceType::StopLossMarket).trigger_price(price),
        };
        let order = builder.build().unwrap();
        let json = serde_json::to_string(&order).unwrap();
        prop_assert_eq!(serde_json::from_str::<OrderRequest>(&json).unwrap(), order);
    }
}
