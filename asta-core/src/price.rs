//! Exact prices.

use std::fmt;
use std::str::FromStr;

use crate::decimal::{AmountError, format_units, parse_broker_units, parse_units};
use crate::{Money, Quantity};

/// The highest price accepted: ₹10,00,00,000 (ten crore), in units.
pub const MAX_PRICE_UNITS: i64 = 100_000_000 * 10_000;

/// A non-negative price in rupees, exact to four decimal places (1/10,000 of a
/// rupee), so the ₹0.0025 currency tick and the ₹0.05 equity tick are exact.
///
/// Stored as an integer number of units; never a float. Text is strict
/// decimal (`800.05`, `0.0025`, `1200`): no sign, exponent, `NaN`, separator,
/// surrounding whitespace or fifth decimal. Printed canonically without
/// trailing zeros, so `800.05` prints as `800.05` and `800.50` as `800.5`.
/// Serialized as that text.
///
/// ```
/// use asta_core::{Price, Quantity};
///
/// let price: Price = "800.05".parse()?;
/// assert_eq!(price.to_string(), "800.05");
/// let notional = price.notional(Quantity::new(3).unwrap());
/// assert_eq!(notional.to_string(), "2400.15");
/// assert!("8.0e2".parse::<Price>().is_err());
/// # Ok::<(), asta_core::AmountError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Price(i64);

impl Price {
    /// Zero rupees.
    pub const ZERO: Price = Price(0);

    /// The highest price accepted.
    pub const MAX: Price = Price(MAX_PRICE_UNITS);

    /// A price from a number of 1/10,000-rupee units.
    pub fn from_units(units: i64) -> Result<Self, AmountError> {
        if units < 0 {
            Err(AmountError::Negative)
        } else if units > MAX_PRICE_UNITS {
            Err(too_large())
        } else {
            Ok(Self(units))
        }
    }

    /// The price in 1/10,000-rupee units.
    pub const fn units(self) -> i64 {
        self.0
    }

    /// Converts a number as a broker's JSON carried it into a price.
    ///
    /// `text` is the decimal text of the JSON number (for a `serde_json`
    /// value, `number.to_string()`, which prints the shortest text that
    /// identifies the broker's float: `1000.5`, `0.05`, `1e-7`). Exponents and
    /// any number of decimals are accepted here, unlike [`FromStr`], and the
    /// value is **rounded to the nearest 1/10,000 rupee, ties away from
    /// zero**. This is the one place where a broker's float becomes a price.
    ///
    /// ```
    /// use asta_core::Price;
    /// assert_eq!(Price::from_broker_decimal("1000.5")?.to_string(), "1000.5");
    /// assert_eq!(Price::from_broker_decimal("800.04999999999995")?.to_string(), "800.05");
    /// assert_eq!(Price::from_broker_decimal("0.00005")?.units(), 1);
    /// # Ok::<(), asta_core::AmountError>(())
    /// ```
    pub fn from_broker_decimal(text: &str) -> Result<Self, AmountError> {
        let units = parse_broker_units(text, false)?;
        i64::try_from(units)
            .map_err(|_| too_large())
            .and_then(Self::from_units)
    }

    /// `self + other`, or `None` above [`Price::MAX`].
    pub fn checked_add(self, other: Price) -> Option<Price> {
        Price::from_units(self.0.checked_add(other.0)?).ok()
    }

    /// `self - other`, or `None` below zero.
    pub fn checked_sub(self, other: Price) -> Option<Price> {
        Price::from_units(self.0.checked_sub(other.0)?).ok()
    }

    /// The absolute difference between two prices.
    pub fn abs_diff(self, other: Price) -> Price {
        // Both are within 0..=MAX, so the difference is too.
        Price(self.0.abs_diff(other.0) as i64)
    }

    /// Price times quantity. Never overflows: both are bounded, and money is
    /// 128-bit.
    pub fn notional(self, quantity: Quantity) -> Money {
        Money::from_units(i128::from(self.0) * i128::from(quantity.get()))
    }

    /// This price as an amount of money.
    pub fn to_money(self) -> Money {
        Money::from_units(i128::from(self.0))
    }

    /// Whether this price lies on the grid of `tick` (a zero tick never matches).
    pub fn is_multiple_of(self, tick: Price) -> bool {
        tick.0 != 0 && self.0 % tick.0 == 0
    }
}

fn too_large() -> AmountError {
    AmountError::TooLarge {
        max: format_units(i128::from(MAX_PRICE_UNITS)),
    }
}

impl FromStr for Price {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let units = parse_units(s, false)?;
        i64::try_from(units)
            .map_err(|_| too_large())
            .and_then(Self::from_units)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_units(i128::from(self.0)))
    }
}

impl fmt::Debug for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Price({self})")
    }
}

impl serde::Serialize for Price {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Price {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_prices() {
        let cases: &[(&str, i64, &str)] = &[
            ("800.05", 8_000_500, "800.05"),
            ("800.50", 8_005_000, "800.5"),
            ("800.0000", 8_000_000, "800"),
            ("0.0025", 25, "0.0025"),
            ("0.05", 500, "0.05"),
            ("0", 0, "0"),
            ("00012.3", 123_000, "12.3"),
            ("100000000", MAX_PRICE_UNITS, "100000000"),
        ];
        for (text, units, canonical) in cases {
            let price: Price = text.parse().unwrap();
            assert_eq!(price.units(), *units, "{text}");
            assert_eq!(price.to_string(), *canonical, "{text}");
        }
    }

    #[test]
    fn invalid_prices() {
        let cases: &[(&str, AmountError)] = &[
            ("", AmountError::Empty),
            ("NaN", AmountError::NotFinite),
            ("nan", AmountError::NotFinite),
            ("inf", AmountError::NotFinite),
            ("-Infinity", AmountError::NotFinite),
            ("8e2", AmountError::Exponent),
            ("8.0E2", AmountError::Exponent),
            ("800.00001", AmountError::TooManyDecimals { found: 5 }),
            ("-1", AmountError::Negative),
            ("-0.05", AmountError::Negative),
            ("+800", AmountError::PlusSign),
            ("1,000.50", AmountError::ThousandsSeparator),
            ("1_000", AmountError::ThousandsSeparator),
            (" 800", AmountError::Whitespace),
            ("800 ", AmountError::Whitespace),
            ("800\n", AmountError::Whitespace),
            ("1 000", AmountError::ThousandsSeparator),
            (".5", AmountError::MissingDigits),
            ("5.", AmountError::MissingDigits),
            ("₹800", AmountError::UnexpectedCharacter { ch: '₹' }),
            ("0x1F", AmountError::UnexpectedCharacter { ch: 'x' }),
            ("1.2.3", AmountError::UnexpectedCharacter { ch: '.' }),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Price>().as_ref(), Err(expected), "{text:?}");
        }
        assert!(matches!(
            "100000000.0001".parse::<Price>(),
            Err(AmountError::TooLarge { .. })
        ));
        assert!(matches!(
            "99999999999999999999999999999".parse::<Price>(),
            Err(AmountError::TooLarge { .. })
        ));
    }

    #[test]
    fn checked_arithmetic() {
        let a: Price = "100.05".parse().unwrap();
        let b: Price = "0.05".parse().unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_string(), "100.1");
        assert_eq!(a.checked_sub(b).unwrap().to_string(), "100");
        assert_eq!(b.checked_sub(a), None);
        assert_eq!(Price::MAX.checked_add(b), None);
        assert_eq!(a.abs_diff(b), b.abs_diff(a));
        let q = Quantity::new(crate::MAX_QUANTITY).unwrap();
        assert_eq!(
            Price::MAX.notional(q).units(),
            i128::from(MAX_PRICE_UNITS) * i128::from(crate::MAX_QUANTITY)
        );
    }

    #[test]
    fn tick_grid() {
        let tick: Price = "0.05".parse().unwrap();
        assert!("800.05".parse::<Price>().unwrap().is_multiple_of(tick));
        assert!(!"800.03".parse::<Price>().unwrap().is_multiple_of(tick));
        assert!(!"800".parse::<Price>().unwrap().is_multiple_of(Price::ZERO));
        let currency_tick: Price = "0.0025".parse().unwrap();
        assert!(
            "82.5075"
                .parse::<Price>()
                .unwrap()
                .is_multiple_of(currency_tick)
        );
        assert!(
            !"82.5076"
                .parse::<Price>()
                .unwrap()
                .is_multiple_of(currency_tick)
        );
    }

    #[test]
    fn serde_goes_through_text() {
        let price: Price = serde_json::from_str("\"800.05\"").unwrap();
        assert_eq!(serde_json::to_string(&price).unwrap(), "\"800.05\"");
        assert!(serde_json::from_str::<Price>("800.05").is_err());
        assert!(serde_json::from_str::<Price>("\"-1\"").is_err());
        assert!(serde_json::from_str::<Price>("\"1e3\"").is_err());
    }

    #[test]
    fn broker_decimals() {
        assert_eq!(
            Price::from_broker_decimal("1000.5").unwrap().to_string(),
            "1000.5"
        );
        assert_eq!(Price::from_broker_decimal("0.0").unwrap(), Price::ZERO);
        assert_eq!(
            Price::from_broker_decimal("500.02499").unwrap().to_string(),
            "500.025"
        );
        assert_eq!(
            Price::from_broker_decimal("500.00005").unwrap().to_string(),
            "500.0001"
        );
        assert!(Price::from_broker_decimal("-3.5").is_err());
        assert!(Price::from_broker_decimal("NaN").is_err());
        assert!(Price::from_broker_decimal("1e12").is_err());
    }
}
