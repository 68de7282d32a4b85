//! Exact, signed amounts of money.

use std::fmt;
use std::str::FromStr;

use crate::decimal::{AmountError, format_units, parse_broker_units, parse_units};

/// A signed amount in rupees, exact to 1/10,000 of a rupee, held in 128 bits.
///
/// Used for notionals, P&L, capital and limits. Text is strict decimal with an
/// optional leading `-` (`-1250.5`); printed canonically; serialized as that
/// text. All arithmetic is checked.
///
/// ```
/// use asta_core::Money;
///
/// let capital: Money = "1000000".parse()?;
/// let loss_limit = capital.checked_mul_bps(300).unwrap(); // 3%
/// assert_eq!(loss_limit.to_string(), "30000");
/// assert!("-12.5".parse::<Money>()?.is_negative());
/// # Ok::<(), asta_core::AmountError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Money(i128);

impl Money {
    /// Zero rupees.
    pub const ZERO: Money = Money(0);

    /// An amount from a number of 1/10,000-rupee units.
    pub const fn from_units(units: i128) -> Self {
        Self(units)
    }

    /// An amount of whole rupees.
    pub const fn from_rupees(rupees: i64) -> Self {
        Self(rupees as i128 * 10_000)
    }

    /// The amount in 1/10,000-rupee units.
    pub const fn units(self) -> i128 {
        self.0
    }

    /// Converts a signed number as a broker's JSON carried it (P&L, funds),
    /// rounding to the nearest 1/10,000 rupee, ties away from zero. See
    /// [`Price::from_broker_decimal`](crate::Price::from_broker_decimal) for the rule.
    pub fn from_broker_decimal(text: &str) -> Result<Self, AmountError> {
        parse_broker_units(text, true).map(Self)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// `-self`, or `None` on overflow.
    pub fn checked_neg(self) -> Option<Money> {
        self.0.checked_neg().map(Money)
    }

    /// `|self|`, or `None` on overflow.
    pub fn checked_abs(self) -> Option<Money> {
        self.0.checked_abs().map(Money)
    }

    /// `self * factor`, or `None` on overflow.
    pub fn checked_mul(self, factor: i128) -> Option<Money> {
        self.0.checked_mul(factor).map(Money)
    }

    /// `self * bps / 10,000` (a share in basis points: 300 is 3%), rounded
    /// toward zero, or `None` on overflow.
    pub fn checked_mul_bps(self, bps: u32) -> Option<Money> {
        self.0
            .checked_mul(i128::from(bps))
            .map(|v| Money(v / 10_000))
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Whether the amount is above zero.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }
}

impl FromStr for Money {
    type Err = AmountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_units(s, true).map(Self)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_units(self.0))
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        for (text, canonical) in [
            ("0", "0"),
            ("-0", "0"),
            ("-12.5000", "-12.5"),
            ("1000000", "1000000"),
            ("0.0001", "0.0001"),
            ("-0.0001", "-0.0001"),
        ] {
            let money: Money = text.parse().unwrap();
            assert_eq!(money.to_string(), canonical);
            assert_eq!(canonical.parse::<Money>().unwrap(), money);
        }
        for bad in [
            "", "--1", "1e5", "NaN", "1,000", " 1", "1.00001", "+1", "1-",
        ] {
            assert!(bad.parse::<Money>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checked_arithmetic_never_wraps() {
        let max = Money::from_units(i128::MAX);
        assert_eq!(max.checked_add(Money::from_units(1)), None);
        assert_eq!(Money::from_units(i128::MIN).checked_neg(), None);
        assert_eq!(Money::from_units(i128::MIN).checked_abs(), None);
        assert_eq!(max.checked_mul(2), None);
        assert_eq!(max.checked_mul_bps(2), None);
        assert_eq!(
            Money::from_rupees(100).checked_mul_bps(300),
            Some(Money::from_rupees(3))
        );
        assert_eq!(
            Money::from_units(-7).checked_mul_bps(5_000),
            Some(Money::from_units(-3))
        );
    }

    #[test]
    fn broker_decimals_keep_sign() {
        assert_eq!(
            Money::from_broker_decimal("-125.55").unwrap().to_string(),
            "-125.55"
        );
        assert_eq!(Money::from_broker_decimal("0.0").unwrap(), Money::ZERO);
        assert!(Money::from_broker_decimal("inf").is_err());
    }

    #[test]
    fn serde_goes_through_text() {
        let money: Money = serde_json::from_str("\"-12.5\"").unwrap();
        assert_eq!(serde_json::to_string(&money).unwrap(), "\"-12.5\"");
        assert!(serde_json::from_str::<Money>("-12.5").is_err());
    }
}
