//! Order quantities.

use std::fmt;
use std::str::FromStr;

/// The largest quantity accepted in one value: 100,000,000 units.
///
/// Exchange freeze limits are far lower (NSE's largest are in the tens of
/// thousands for index options); the bound exists so that arithmetic on
/// quantities and notionals can never overflow.
pub const MAX_QUANTITY: u64 = 100_000_000;

/// A strictly positive number of shares, contracts or units, at most
/// [`MAX_QUANTITY`].
///
/// Serialized as a JSON integer; parsed from plain decimal digits only.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(u64);

/// Why a value is not a valid [`Quantity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// Zero.
    #[error("quantity must be at least 1")]
    Zero,
    /// Above [`MAX_QUANTITY`].
    #[error("quantity {value} is above the maximum of {max}")]
    TooLarge {
        /// The rejected value.
        value: u64,
        /// The maximum, [`MAX_QUANTITY`].
        max: u64,
    },
    /// Text that is not plain decimal digits (signs, decimals, whitespace, separators).
    #[error("quantity must be written as plain digits, e.g. 75")]
    NotAnInteger,
}

impl Quantity {
    /// Validates `value`.
    pub const fn new(value: u64) -> Result<Self, QuantityError> {
        if value == 0 {
            Err(QuantityError::Zero)
        } else if value > MAX_QUANTITY {
            Err(QuantityError::TooLarge {
                value,
                max: MAX_QUANTITY,
            })
        } else {
            Ok(Self(value))
        }
    }

    /// The quantity as an integer.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Sum of two quantities, if it is still a valid quantity.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        Quantity::new(self.0.checked_add(other.0)?).ok()
    }

    /// Whether this quantity is a whole multiple of `lot`.
    pub const fn is_multiple_of(self, lot: Quantity) -> bool {
        self.0.is_multiple_of(lot.0)
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(QuantityError::NotAnInteger);
        }
        let digits = s.trim_start_matches('0');
        if digits.len() > 20 {
            return Err(QuantityError::TooLarge {
                value: u64::MAX,
                max: MAX_QUANTITY,
            });
        }
        let value: u64 = match digits {
            "" => 0,
            d => d.parse().map_err(|_| QuantityError::TooLarge {
                value: u64::MAX,
                max: MAX_QUANTITY,
            })?,
        };
        Quantity::new(value)
    }
}

impl TryFrom<u64> for Quantity {
    type Error = QuantityError;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Quantity::new(value)
    }
}

impl From<Quantity> for u64 {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({})", self.0)
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u64::deserialize(deserializer)?;
        Quantity::new(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Result<u64, QuantityError>)] = &[
            ("1", Ok(1)),
            ("75", Ok(75)),
            ("0075", Ok(75)),
            ("100000000", Ok(MAX_QUANTITY)),
            ("0", Err(QuantityError::Zero)),
            ("000", Err(QuantityError::Zero)),
            (
                "100000001",
                Err(QuantityError::TooLarge {
                    value: 100_000_001,
                    max: MAX_QUANTITY,
                }),
            ),
            ("", Err(QuantityError::NotAnInteger)),
            ("-1", Err(QuantityError::NotAnInteger)),
            ("+1", Err(QuantityError::NotAnInteger)),
            ("1.0", Err(QuantityError::NotAnInteger)),
            ("1.5", Err(QuantityError::NotAnInteger)),
            (" 1", Err(QuantityError::NotAnInteger)),
            ("1,000", Err(QuantityError::NotAnInteger)),
            ("1e3", Err(QuantityError::NotAnInteger)),
            ("١", Err(QuantityError::NotAnInteger)),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text.parse::<Quantity>().map(Quantity::get),
                *expected,
                "{text:?}"
            );
        }
        assert!(matches!(
            "99999999999999999999999999".parse::<Quantity>(),
            Err(QuantityError::TooLarge { .. })
        ));
    }

    #[test]
    fn serde_validates() {
        let q: Quantity = serde_json::from_str("65").unwrap();
        assert_eq!(q.get(), 65);
        assert_eq!(serde_json::to_string(&q).unwrap(), "65");
        assert!(serde_json::from_str::<Quantity>("0").is_err());
        assert!(serde_json::from_str::<Quantity>("-5").is_err());
        assert!(serde_json::from_str::<Quantity>("1.5").is_err());
        assert!(serde_json::from_str::<Quantity>("\"5\"").is_err());
        assert!(serde_json::from_str::<Quantity>("100000001").is_err());
    }

    #[test]
    fn lot_multiples() {
        let lot = Quantity::new(65).unwrap();
        assert!(Quantity::new(130).unwrap().is_multiple_of(lot));
        assert!(!Quantity::new(70).unwrap().is_multiple_of(lot));
    }
}
