//! Exact fixed-point text handling shared by [`Price`](crate::Price) and
//! [`Money`](crate::Money): four decimal places, integers inside.

use std::fmt::Write as _;

/// Number of decimal places kept: 4, so the ₹0.0025 currency tick is exact.
pub const SCALE_DIGITS: u32 = 4;
/// Units per rupee: 10,000.
pub const UNITS_PER_RUPEE: i128 = 10_000;

/// Why text is not an exact decimal amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The input was empty.
    #[error("amount is empty")]
    Empty,
    /// Leading or trailing whitespace (amounts are never trimmed silently).
    #[error("amount has whitespace; write digits only, e.g. 800.05")]
    Whitespace,
    /// A minus sign where only non-negative amounts are allowed.
    #[error("amount is negative; it must be zero or more")]
    Negative,
    /// A plus sign (amounts are written without one).
    #[error("amount has a '+' sign; write digits only, e.g. 800.05")]
    PlusSign,
    /// `NaN`, `inf` or `infinity` in any case.
    #[error("amount is not a finite number")]
    NotFinite,
    /// Scientific notation such as `8e2`.
    #[error("amount uses an exponent; write plain decimal digits, e.g. 800.05")]
    Exponent,
    /// A thousands separator (`,`, `_`, `'` or a space inside the number).
    #[error("amount has a thousands separator; write 100000.50, not 1,00,000.50")]
    ThousandsSeparator,
    /// More than four digits after the decimal point.
    #[error("amount has {found} decimal places; at most 4 are allowed")]
    TooManyDecimals {
        /// How many decimal digits the input had.
        found: usize,
    },
    /// A decimal point without digits on one side (`.5`, `5.`).
    #[error("amount needs digits on both sides of the decimal point, e.g. 0.50")]
    MissingDigits,
    /// Any other character.
    #[error("amount has unexpected character {ch:?}; write digits and at most one decimal point")]
    UnexpectedCharacter {
        /// The offending character.
        ch: char,
    },
    /// The value is above the type's documented maximum.
    #[error("amount is above the maximum of {max}")]
    TooLarge {
        /// The maximum, as canonical text.
        max: String,
    },
}

/// Parses strict decimal text into units of 1/10,000.
///
/// Grammar: `-`? digits (`.` digits{1,4})?. Nothing else.
pub(crate) fn parse_units(text: &str, allow_negative: bool) -> Result<i128, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.chars().any(char::is_whitespace) {
        // Inner whitespace is a separator; outer whitespace is refused alike.
        let trimmed = text.trim();
        return Err(
            if !trimmed.is_empty() && trimmed.chars().any(char::is_whitespace) {
                AmountError::ThousandsSeparator
            } else {
                AmountError::Whitespace
            },
        );
    }
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['-', '+']);
    if matches!(unsigned, "nan" | "inf" | "infinity") {
        return Err(AmountError::NotFinite);
    }
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => return Err(AmountError::PlusSign),
        _ => (false, text),
    };
    if negative && !allow_negative {
        return Err(AmountError::Negative);
    }
    if let Some(ch) = body.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
        return Err(match ch {
            'e' | 'E' => AmountError::Exponent,
            ',' | '_' | '\'' => AmountError::ThousandsSeparator,
            '-' if !allow_negative => AmountError::Negative,
            ch => AmountError::UnexpectedCharacter { ch },
        });
    }
    let (int_part, frac_part) = match body.split_once('.') {
        Some((_, frac)) if frac.contains('.') => {
            return Err(AmountError::UnexpectedCharacter { ch: '.' });
        }
        Some((int, frac)) => (int, frac),
        None => (body, ""),
    };
    if int_part.is_empty() || (body.contains('.') && frac_part.is_empty()) {
        return Err(AmountError::MissingDigits);
    }
    if frac_part.len() > SCALE_DIGITS as usize {
        return Err(AmountError::TooManyDecimals {
            found: frac_part.len(),
        });
    }
    let mut units: i128 = 0;
    for digit in int_part.bytes().chain(frac_part.bytes()) {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(i128::from(digit - b'0')))
            .ok_or_else(|| AmountError::TooLarge {
                max: format_units(i128::MAX),
            })?;
    }
    for _ in frac_part.len()..SCALE_DIGITS as usize {
        units = units.checked_mul(10).ok_or_else(|| AmountError::TooLarge {
            max: format_units(i128::MAX),
        })?;
    }
    Ok(if negative { -units } else { units })
}

/// Parses a number as a broker's JSON printed it (possibly with an exponent
/// and more than four decimals) and rounds it to units of 1/10,000, half away
/// from zero.
pub(crate) fn parse_broker_units(text: &str, allow_negative: bool) -> Result<i128, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.chars().any(char::is_whitespace) {
        return Err(AmountError::Whitespace);
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.trim_start_matches(['-', '+']),
        "nan" | "inf" | "infinity"
    ) {
        return Err(AmountError::NotFinite);
    }
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => return Err(AmountError::PlusSign),
        _ => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => {
            let exp_text = &body[at + 1..];
            let exp_digits = exp_text.trim_start_matches(['-', '+']);
            if exp_digits.is_empty()
                || exp_digits.len() > 4
                || exp_text.len() - exp_digits.len() > 1
                || !exp_digits.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(AmountError::UnexpectedCharacter { ch: 'e' });
            }
            let magnitude: i32 = exp_digits
                .parse()
                .map_err(|_| AmountError::UnexpectedCharacter { ch: 'e' })?;
            let exponent = if exp_text.starts_with('-') {
                -magnitude
            } else {
                magnitude
            };
            (&body[..at], exponent)
        }
        None => (body, 0),
    };
    if let Some(ch) = mantissa.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
        return Err(AmountError::UnexpectedCharacter { ch });
    }
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((_, frac)) if frac.contains('.') => {
            return Err(AmountError::UnexpectedCharacter { ch: '.' });
        }
        Some((int, frac)) => (int, frac),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(AmountError::MissingDigits);
    }
    let digits: String = int_part.chars().chain(frac_part.chars()).collect();
    let digits = digits.trim_start_matches('0');
    let too_large = || AmountError::TooLarge {
        max: format_units(i128::MAX),
    };
    // value = digits * 10^(exponent - frac_len); units = value * 10^4.
    let frac_len = i32::try_from(frac_part.len()).map_err(|_| too_large())?;
    let shift = exponent - frac_len + SCALE_DIGITS as i32;
    let mut units: i128 = 0;
    let (kept, round_digit) = if shift >= 0 {
        (digits, 0u8)
    } else {
        let drop = usize::try_from(-shift).map_err(|_| too_large())?;
        if drop > digits.len() {
            ("", 0u8)
        } else {
            let cut = digits.len() - drop;
            (&digits[..cut], digits.as_bytes()[cut] - b'0')
        }
    };
    for digit in kept.bytes() {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(i128::from(digit - b'0')))
            .ok_or_else(too_large)?;
    }
    if shift > 0 && units != 0 {
        for _ in 0..shift {
            units = units.checked_mul(10).ok_or_else(too_large)?;
        }
    }
    if round_digit >= 5 {
        units = units.checked_add(1).ok_or_else(too_large)?;
    }
    if negative && units != 0 {
        if !allow_negative {
            return Err(AmountError::Negative);
        }
        units = -units;
    }
    Ok(units)
}

/// Canonical text for units of 1/10,000: no trailing zeros, no trailing point.
pub(crate) fn format_units(units: i128) -> String {
    let mut out = String::new();
    if units < 0 {
        out.push('-');
    }
    let magnitude = units.unsigned_abs();
    let scale = UNITS_PER_RUPEE.unsigned_abs();
    let whole = magnitude / scale;
    let mut frac = magnitude % scale;
    let _ = write!(out, "{whole}");
    if frac != 0 {
        let mut width = SCALE_DIGITS as usize;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        let _ = write!(out, ".{frac:0width$}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_grammar() {
        assert_eq!(parse_units("800.05", false), Ok(8_000_500));
        assert_eq!(parse_units("0.0025", false), Ok(25));
        assert_eq!(parse_units("0", false), Ok(0));
        assert_eq!(parse_units("-12.5", true), Ok(-125_000));
        assert_eq!(parse_units("-12.5", false), Err(AmountError::Negative));
        assert_eq!(parse_units("1e3", false), Err(AmountError::Exponent));
        assert_eq!(parse_units("NaN", false), Err(AmountError::NotFinite));
        assert_eq!(parse_units("-inf", true), Err(AmountError::NotFinite));
        assert_eq!(
            parse_units("1,000", false),
            Err(AmountError::ThousandsSeparator)
        );
        assert_eq!(
            parse_units("1 000", false),
            Err(AmountError::ThousandsSeparator)
        );
        assert_eq!(parse_units(" 1", false), Err(AmountError::Whitespace));
        assert_eq!(
            parse_units("1.00001", false),
            Err(AmountError::TooManyDecimals { found: 5 })
        );
        assert_eq!(parse_units(".5", false), Err(AmountError::MissingDigits));
        assert_eq!(parse_units("5.", false), Err(AmountError::MissingDigits));
        assert_eq!(parse_units("+5", false), Err(AmountError::PlusSign));
        assert_eq!(
            parse_units("1.2.3", false),
            Err(AmountError::UnexpectedCharacter { ch: '.' })
        );
        assert_eq!(
            parse_units("0x10", false),
            Err(AmountError::UnexpectedCharacter { ch: 'x' })
        );
        assert!(matches!(
            parse_units(&"9".repeat(60), false),
            Err(AmountError::TooLarge { .. })
        ));
    }

    #[test]
    fn broker_numbers_round_half_away_from_zero() {
        assert_eq!(parse_broker_units("1000.5", false), Ok(10_005_000));
        assert_eq!(parse_broker_units("500", false), Ok(5_000_000));
        assert_eq!(parse_broker_units("0.0", false), Ok(0));
        assert_eq!(parse_broker_units("0.00005", false), Ok(1));
        assert_eq!(parse_broker_units("0.00004999", false), Ok(0));
        assert_eq!(
            parse_broker_units("800.04999999999995", false),
            Ok(8_000_500)
        );
        assert_eq!(parse_broker_units("1e-5", false), Ok(0));
        assert_eq!(parse_broker_units("5e-5", false), Ok(1));
        assert_eq!(parse_broker_units("1.5e3", false), Ok(15_000_000));
        assert_eq!(parse_broker_units("-2.00005", true), Ok(-20_001));
        assert_eq!(parse_broker_units("-0.00001", false), Ok(0));
        assert_eq!(parse_broker_units("-1", false), Err(AmountError::Negative));
        assert!(matches!(
            parse_broker_units("1e9999", false),
            Err(AmountError::TooLarge { .. })
        ));
        assert_eq!(parse_broker_units("1e-9999", false), Ok(0));
        assert!(parse_broker_units("1e", false).is_err());
        assert!(parse_broker_units("e5", false).is_err());
        assert!(parse_broker_units("NaN", false).is_err());
        assert!(parse_broker_units("1e+-5", false).is_err());
    }

    #[test]
    fn canonical_text() {
        assert_eq!(format_units(8_000_500), "800.05");
        assert_eq!(format_units(8_000_000), "800");
        assert_eq!(format_units(25), "0.0025");
        assert_eq!(format_units(-125_000), "-12.5");
        assert_eq!(format_units(0), "0");
    }
}
