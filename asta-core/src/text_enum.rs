//! A macro for closed sets of wire names (exchanges, sides, products...).
//!
//! Each generated enum has `ALL`, `as_str`, `Display`, `FromStr` and serde
//! implementations that all go through the same exact, case-sensitive table,
//! so text, serde and code can never disagree about what is valid.
//!
//! The generated enums are exhaustive unless the caller adds
//! `#[non_exhaustive]`: for closed vocabularies (side, price type, product,
//! mode) a `match` without a wildcard is a safety feature, because a new
//! variant then fails to compile everywhere it must be handled.

/// Defines a `Copy` enum whose variants map one to one to wire names.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $error:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The exact wire name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("Error returned when text is not a valid ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("{input:?} is not a valid {} (expected one of: {})", $what, [$($text),+].join(", "))]
        pub struct $error {
            input: String,
        }

        impl $error {
            /// The rejected text, truncated to 32 characters.
            pub fn input(&self) -> &str {
                &self.input
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    _ => Err($error { input: s.chars().take(32).collect() }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use text_enum;
