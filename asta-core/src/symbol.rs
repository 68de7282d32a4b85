//! Exchange trading symbols.

use std::fmt;
use std::str::FromStr;

/// The longest symbol accepted, in bytes (all symbols are ASCII).
///
/// Real symbols are far shorter: the longest NSE/MCX option symbols in
/// OpenAlgo's format (e.g. `BANKNIFTY28NOV2452000CE`, `CRUDEOILM19DEC246000CE`)
/// are under 30 characters.
pub const MAX_SYMBOL_LEN: usize = 40;

/// A trading symbol in OpenAlgo's format: `RELIANCE`, `M&M`, `BAJAJ-AUTO`,
/// `L&TFH`, `3MINDIA`, `NIFTY28NOV2424000CE`, `BANKNIFTY24DECFUT`,
/// `USDINR10MAY2482.5CE`.
///
/// Accepted: 1 to [`MAX_SYMBOL_LEN`] characters from `A-Z`, `0-9`, `&`, `-`,
/// `_` and `.`, starting with a letter or digit. Everything else is refused
/// with a [`SymbolError`] that names the rule: lowercase, whitespace, control
/// characters, quotes, `;`, `<`, `>` and every other punctuation, and every
/// non-ASCII character (so a Cyrillic `А` cannot pass for a Latin `A`).
///
/// The text is shared: a clone (orders are copied into the risk state, the
/// journal and the broker's book) costs a reference count, not an
/// allocation. Equality, order and hash are the text's.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(std::sync::Arc<str>);

/// Why text is not a valid [`Symbol`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SymbolError {
    /// The input was empty.
    #[error("symbol is empty")]
    Empty,
    /// The input was longer than [`MAX_SYMBOL_LEN`].
    #[error("symbol is {len} bytes long; the maximum is {max}")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The maximum, [`MAX_SYMBOL_LEN`].
        max: usize,
    },
    /// A lowercase ASCII letter (symbols are uppercase).
    #[error("symbol has lowercase letter {ch:?} at position {position}; symbols are uppercase")]
    Lowercase {
        /// The offending character.
        ch: char,
        /// Its character position, from 0.
        position: usize,
    },
    /// A space, tab, newline or other whitespace character.
    #[error("symbol has whitespace at position {position}")]
    Whitespace {
        /// Its character position, from 0.
        position: usize,
    },
    /// A control character.
    #[error("symbol has control character U+{code:04X} at position {position}")]
    Control {
        /// The character's code point.
        code: u32,
        /// Its character position, from 0.
        position: usize,
    },
    /// A character outside ASCII (including look-alikes of Latin letters).
    #[error(
        "symbol has non-ASCII character U+{code:04X} at position {position}; only A-Z, 0-9, &, -, _ and . are allowed"
    )]
    NonAscii {
        /// The character's code point.
        code: u32,
        /// Its character position, from 0.
        position: usize,
    },
    /// ASCII punctuation other than `&`, `-`, `_` and `.` (quotes, `;`, `<`, `>`...).
    #[error(
        "symbol has forbidden character {ch:?} at position {position}; only A-Z, 0-9, &, -, _ and . are allowed"
    )]
    Forbidden {
        /// The offending character.
        ch: char,
        /// Its character position, from 0.
        position: usize,
    },
    /// The first character was punctuation.
    #[error("symbol starts with {ch:?}; it must start with a letter or digit")]
    BadStart {
        /// The offending first character.
        ch: char,
    },
}

impl Symbol {
    /// Validates `text` as a symbol.
    ///
    /// ```
    /// use asta_core::{Symbol, SymbolError};
    ///
    /// assert_eq!(Symbol::new("M&M")?.as_str(), "M&M");
    /// assert!(matches!(Symbol::new("sbin"), Err(SymbolError::Lowercase { .. })));
    /// assert!(matches!(Symbol::new("SBIN;DROP"), Err(SymbolError::Forbidden { ch: ';', .. })));
    /// # Ok::<(), SymbolError>(())
    /// ```
    pub fn new(text: &str) -> Result<Self, SymbolError> {
        validate_symbol(text)?;
        Ok(Self(text.into()))
    }

    /// The symbol as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate_symbol(text: &str) -> Result<(), SymbolError> {
    if text.is_empty() {
        return Err(SymbolError::Empty);
    }
    // Character rules first, so that a long injection attempt is reported for
    // what it is; the length check still bounds the work: at most
    // MAX_SYMBOL_LEN + 1 characters are examined before it applies.
    for (position, ch) in text.chars().enumerate() {
        if position > MAX_SYMBOL_LEN {
            break;
        }
        match ch {
            'A'..='Z' | '0'..='9' => {}
            '&' | '-' | '_' | '.' if position == 0 => return Err(SymbolError::BadStart { ch }),
            '&' | '-' | '_' | '.' => {}
            'a'..='z' => return Err(SymbolError::Lowercase { ch, position }),
            c if c.is_whitespace() => return Err(SymbolError::Whitespace { position }),
            c if c.is_control() => {
                return Err(SymbolError::Control {
                    code: u32::from(c),
                    position,
                });
            }
            c if !c.is_ascii() => {
                return Err(SymbolError::NonAscii {
                    code: u32::from(c),
                    position,
                });
            }
            c => return Err(SymbolError::Forbidden { ch: c, position }),
        }
    }
    if text.len() > MAX_SYMBOL_LEN {
        return Err(SymbolError::TooLong {
            len: text.len(),
            max: MAX_SYMBOL_LEN,
        });
    }
    Ok(())
}

impl FromStr for Symbol {
    type Err = SymbolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Symbol {
    type Error = SymbolError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        validate_symbol(&value)?;
        Ok(Self(value.into()))
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.0)
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Symbol::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_symbols_are_accepted() {
        for text in [
            "RELIANCE",
            "M&M",
            "BAJAJ-AUTO",
            "L&TFH",
            "3MINDIA",
            "NIFTY28NOV2424000CE",
            "BANKNIFTY24DECFUT",
            "SBIN",
            "NIFTY",
            "USDINR10MAY2482.5CE",
            "CRUDEOILM19DEC246000CE",
            "J&KBANK",
            "MCDOWELL-N",
            "A",
        ] {
            let symbol = Symbol::new(text).unwrap();
            assert_eq!(symbol.as_str(), text);
            assert_eq!(symbol.to_string().parse::<Symbol>().unwrap(), symbol);
        }
    }

    #[test]
    fn each_rule_is_named() {
        use SymbolError as E;
        let cases: &[(&str, E)] = &[
            ("", E::Empty),
            (
                "reliance",
                E::Lowercase {
                    ch: 'r',
                    position: 0,
                },
            ),
            (
                "RELIANCe",
                E::Lowercase {
                    ch: 'e',
                    position: 7,
                },
            ),
            ("SBIN ", E::Whitespace { position: 4 }),
            (" SBIN", E::Whitespace { position: 0 }),
            ("SB\tIN", E::Whitespace { position: 2 }),
            ("NIFTY 50", E::Whitespace { position: 5 }),
            (
                "SB\u{0}IN",
                E::Control {
                    code: 0,
                    position: 2,
                },
            ),
            (
                "SBIN\u{1b}[31m",
                E::Control {
                    code: 0x1b,
                    position: 4,
                },
            ),
            (
                "SBIN'",
                E::Forbidden {
                    ch: '\'',
                    position: 4,
                },
            ),
            (
                "SBIN\"",
                E::Forbidden {
                    ch: '"',
                    position: 4,
                },
            ),
            (
                "SBIN;DROP",
                E::Forbidden {
                    ch: ';',
                    position: 4,
                },
            ),
            (
                "<SCRIPT>",
                E::Forbidden {
                    ch: '<',
                    position: 0,
                },
            ),
            (
                "SBIN>",
                E::Forbidden {
                    ch: '>',
                    position: 4,
                },
            ),
            (
                "SBIN`",
                E::Forbidden {
                    ch: '`',
                    position: 4,
                },
            ),
            (
                "SBIN$(X)",
                E::Forbidden {
                    ch: '$',
                    position: 4,
                },
            ),
            (
                "SBIN/../X",
                E::Forbidden {
                    ch: '/',
                    position: 4,
                },
            ),
            (
                "SBIN\\X",
                E::Forbidden {
                    ch: '\\',
                    position: 4,
                },
            ),
            (
                "SBIN|X",
                E::Forbidden {
                    ch: '|',
                    position: 4,
                },
            ),
            (
                "SBIN%00",
                E::Forbidden {
                    ch: '%',
                    position: 4,
                },
            ),
            (
                "SBIN=1",
                E::Forbidden {
                    ch: '=',
                    position: 4,
                },
            ),
            (
                "\u{0421}BIN",
                E::NonAscii {
                    code: 0x421,
                    position: 0,
                },
            ),
            (
                "REL\u{0406}ANCE",
                E::NonAscii {
                    code: 0x406,
                    position: 3,
                },
            ),
            (
                "SBIN\u{ff1b}",
                E::NonAscii {
                    code: 0xff1b,
                    position: 4,
                },
            ),
            (
                "SBIN\u{200b}",
                E::NonAscii {
                    code: 0x200b,
                    position: 4,
                },
            ),
            ("-SBIN", E::BadStart { ch: '-' }),
            ("&M", E::BadStart { ch: '&' }),
            (".NS", E::BadStart { ch: '.' }),
        ];
        for (text, expected) in cases {
            assert_eq!(Symbol::new(text).as_ref(), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn length_is_bounded() {
        let longest = "A".repeat(MAX_SYMBOL_LEN);
        assert!(Symbol::new(&longest).is_ok());
        let too_long = "A".repeat(MAX_SYMBOL_LEN + 1);
        assert_eq!(
            Symbol::new(&too_long),
            Err(SymbolError::TooLong {
                len: MAX_SYMBOL_LEN + 1,
                max: MAX_SYMBOL_LEN
            })
        );
        let huge = "A".repeat(1_000_000);
        assert!(matches!(
            Symbol::new(&huge),
            Err(SymbolError::TooLong { .. })
        ));
    }

    #[test]
    fn serde_goes_through_validation() {
        let symbol: Symbol = serde_json::from_str("\"M&M\"").unwrap();
        assert_eq!(serde_json::to_string(&symbol).unwrap(), "\"M&M\"");
        assert!(serde_json::from_str::<Symbol>("\"m&m\"").is_err());
        assert!(serde_json::from_str::<Symbol>("\"SBIN;\"").is_err());
        assert!(serde_json::from_str::<Symbol>("42").is_err());
    }
}
