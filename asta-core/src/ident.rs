//! Short identifiers: broker order ids, strategy tags and exchange algo ids.

/// Defines a validated identifier newtype over `String`.
macro_rules! ident_type {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, max = $max:expr, extra = $extra:literal
    ) => {
        $(#[$meta])*
        ///
        /// The text is shared: a clone costs a reference count, not an
        /// allocation. Equality, order and hash are the text's.
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(::std::sync::Arc<str>);

        impl $name {
            #[doc = concat!("The longest ", $what, " accepted, in bytes.")]
            pub const MAX_LEN: usize = $max;

            #[doc = concat!("Validates `text` as a ", $what, ".")]
            pub fn new(text: &str) -> Result<Self, IdentError> {
                validate_ident(text, $what, Self::MAX_LEN, $extra)?;
                Ok(Self(text.into()))
            }

            #[doc = concat!("The ", $what, " as text.")]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = IdentError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::new(&text).map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// Why text is not a valid identifier ([`OrderId`], [`StrategyTag`], [`AlgoId`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentError {
    /// The input was empty.
    #[error("{what} is empty")]
    Empty {
        /// Which kind of identifier.
        what: &'static str,
    },
    /// The input was too long.
    #[error("{what} is {len} bytes long; the maximum is {max}")]
    TooLong {
        /// Which kind of identifier.
        what: &'static str,
        /// Length of the input in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A character outside the identifier's alphabet.
    #[error(
        "{what} has forbidden character U+{code:04X} at position {position}; allowed are A-Z, a-z, 0-9 and {allowed}"
    )]
    Forbidden {
        /// Which kind of identifier.
        what: &'static str,
        /// The character's code point.
        code: u32,
        /// Its character position, from 0.
        position: usize,
        /// The punctuation allowed besides letters and digits.
        allowed: &'static str,
    },
}

fn validate_ident(
    text: &str,
    what: &'static str,
    max: usize,
    extra: &'static str,
) -> Result<(), IdentError> {
    if text.is_empty() {
        return Err(IdentError::Empty { what });
    }
    for (position, ch) in text.chars().enumerate().take(max + 1) {
        if !(ch.is_ascii_alphanumeric() || extra.contains(ch)) {
            return Err(IdentError::Forbidden {
                what,
                code: u32::from(ch),
                position,
                allowed: extra,
            });
        }
    }
    if text.len() > max {
        return Err(IdentError::TooLong {
            what,
            len: text.len(),
            max,
        });
    }
    Ok(())
}

ident_type! {
    /// An order id as assigned by a broker (or a simulator), e.g.
    /// `26112887002562` or `SBX-000001`: 1 to 64 characters from
    /// `A-Z a-z 0-9 - _ . :`.
    ///
    /// ```
    /// use asta_core::OrderId;
    /// assert!(OrderId::new("26112887002562").is_ok());
    /// assert!(OrderId::new("1; DROP TABLE").is_err());
    /// ```
    OrderId, "order id", max = 64, extra = "-_.:"
}

ident_type! {
    /// The strategy an order belongs to, as sent to the broker in OpenAlgo's
    /// `strategy` field: 1 to 32 characters from `A-Z a-z 0-9 - _`.
    StrategyTag, "strategy tag", max = 32, extra = "-_"
}

ident_type! {
    /// An exchange-assigned algorithm id (SEBI's algo registration): 1 to 32
    /// characters from `A-Z a-z 0-9 - _`.
    AlgoId, "algo id", max = 32, extra = "-_"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_validate() {
        assert!(OrderId::new("26112887002562").is_ok());
        assert!(OrderId::new("SBX-000001").is_ok());
        assert!(OrderId::new("a.b:c_d-e").is_ok());
        assert_eq!(
            OrderId::new(""),
            Err(IdentError::Empty { what: "order id" })
        );
        assert!(matches!(
            OrderId::new("12 34"),
            Err(IdentError::Forbidden {
                code: 0x20,
                position: 2,
                ..
            })
        ));
        assert!(matches!(
            OrderId::new(&"1".repeat(65)),
            Err(IdentError::TooLong { len: 65, .. })
        ));
        assert!(OrderId::new(&"1".repeat(64)).is_ok());
        assert!(StrategyTag::new("mean_reversion-1").is_ok());
        assert!(StrategyTag::new("mean.reversion").is_err());
        assert!(StrategyTag::new("momentum\n").is_err());
        assert!(AlgoId::new("ALGO-123").is_ok());
        assert!(AlgoId::new("ALGO\u{0410}").is_err());
    }

    #[test]
    fn identifiers_round_trip_through_serde() {
        let id: OrderId = serde_json::from_str("\"26112887002562\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"26112887002562\"");
        assert_eq!(id.to_string().parse::<OrderId>().unwrap(), id);
        assert!(serde_json::from_str::<OrderId>("26112887002562").is_err());
        assert!(serde_json::from_str::<StrategyTag>("\"a b\"").is_err());
    }
}
