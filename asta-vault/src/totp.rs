//! RFC 6238 time-based one-time passwords: enrollment, generation and
//! verification with replay protection and attempt throttling.

use std::fmt;

use asta_core::{ErrorCode, PublicCode};
use chrono::{DateTime, TimeDelta, Utc};
use data_encoding::BASE32_NOPAD;
use ring::hmac;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto;
use crate::error::VaultError;

/// Failures that trigger throttling.
pub const TOTP_MAX_FAILURES: usize = 5;
/// The window in which [`TOTP_MAX_FAILURES`] failures trigger throttling.
pub const TOTP_FAILURE_WINDOW_SECS: i64 = 300;

/// The HMAC behind a TOTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TotpAlgorithm {
    /// HMAC-SHA1: what authenticator apps support everywhere (the default).
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl TotpAlgorithm {
    fn ring(self) -> hmac::Algorithm {
        match self {
            TotpAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            TotpAlgorithm::Sha256 => hmac::HMAC_SHA256,
            TotpAlgorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }

    /// The name used in `otpauth://` URIs.
    pub fn uri_name(self) -> &'static str {
        match self {
            TotpAlgorithm::Sha1 => "SHA1",
            TotpAlgorithm::Sha256 => "SHA256",
            TotpAlgorithm::Sha512 => "SHA512",
        }
    }

    /// The secret length generated for this algorithm (its output size).
    fn secret_len(self) -> usize {
        match self {
            TotpAlgorithm::Sha1 => 20,
            TotpAlgorithm::Sha256 => 32,
            TotpAlgorithm::Sha512 => 64,
        }
    }
}

/// TOTP parameters. The default is SHA-1, 6 digits, 30-second steps and ±1
/// step of clock skew.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpConfig {
    algorithm: TotpAlgorithm,
    digits: u8,
    period_secs: u32,
    skew_steps: u8,
}

impl Default for TotpConfig {
    fn default() -> Self {
        Self {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period_secs: 30,
            skew_steps: 1,
        }
    }
}

impl TotpConfig {
    /// Checked parameters: 6 to 8 digits, a 15 to 300 second step, 0 to 2
    /// steps of skew.
    pub fn new(
        algorithm: TotpAlgorithm,
        digits: u8,
        period_secs: u32,
        skew_steps: u8,
    ) -> Result<Self, TotpError> {
        let config = Self {
            algorithm,
            digits,
            period_secs,
            skew_steps,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), TotpError> {
        if !(6..=8).contains(&self.digits) {
            return Err(TotpError::InvalidConfig("digits must be 6, 7 or 8"));
        }
        if !(15..=300).contains(&self.period_secs) {
            return Err(TotpError::InvalidConfig("period must be 15 to 300 seconds"));
        }
        if self.skew_steps > 2 {
            return Err(TotpError::InvalidConfig("skew must be 0, 1 or 2 steps"));
        }
        Ok(())
    }

    /// The HMAC algorithm.
    pub fn algorithm(&self) -> TotpAlgorithm {
        self.algorithm
    }

    /// Digits per code.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// Step length in seconds.
    pub fn period_secs(&self) -> u32 {
        self.period_secs
    }

    /// Steps of skew accepted on either side of the current step.
    pub fn skew_steps(&self) -> u8 {
        self.skew_steps
    }
}

/// Why a TOTP code was refused (or could not be checked).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// The code is not exactly the configured number of ASCII digits.
    #[error("TOTP code must be exactly {digits} digits")]
    Malformed {
        /// Expected digits.
        digits: u8,
    },
    /// The code does not match any step in the accepted window.
    #[error("TOTP code is incorrect")]
    Invalid,
    /// The code matches a time step that was already used.
    #[error("TOTP code was already used; wait for the next code")]
    Replayed,
    /// Too many failures in the window; attempts are refused until it passes.
    #[error("too many failed TOTP attempts; try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds until attempts are accepted again.
        retry_after_secs: i64,
    },
    /// No TOTP secret is enrolled under this name.
    #[error("no TOTP secret enrolled as `{name}`")]
    NotEnrolled {
        /// The entry name.
        name: String,
    },
    /// The instant is outside the range TOTP can represent (before 1970).
    #[error("instant out of range for TOTP")]
    TimeOutOfRange,
    /// Invalid TOTP parameters or secret.
    #[error("invalid TOTP configuration: {0}")]
    InvalidConfig(&'static str),
    /// The vault could not read the secret or persist the state; nothing was accepted.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl TotpError {
    /// `true` for refusals of the code itself (wrong, reused, malformed or throttled).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            TotpError::Malformed { .. }
                | TotpError::Invalid
                | TotpError::Replayed
                | TotpError::Throttled { .. }
        )
    }
}

impl PublicCode for TotpError {
    fn public_code(&self) -> ErrorCode {
        match self {
            TotpError::Malformed { .. } | TotpError::Invalid | TotpError::Replayed => {
                ErrorCode::PermissionDenied
            }
            TotpError::Throttled { .. } => ErrorCode::RateLimited,
            TotpError::NotEnrolled { .. } | TotpError::InvalidConfig(_) => ErrorCode::InvalidInput,
            TotpError::TimeOutOfRange => ErrorCode::InternalError,
            TotpError::Vault(inner) => inner.public_code(),
        }
    }
}

/// A TOTP generator/verifier: a secret and its parameters. Stateless; the
/// vault keeps replay and throttling state (see [`crate::Vault::verify_totp`]).
pub struct Totp {
    secret: Zeroizing<Vec<u8>>,
    config: TotpConfig,
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"<redacted>")
            .field("config", &self.config)
            .finish()
    }
}

impl Totp {
    /// A TOTP over an existing secret (at least 16 bytes, at most 128).
    pub fn new(secret: Zeroizing<Vec<u8>>, config: TotpConfig) -> Result<Self, TotpError> {
        config.check()?;
        if !(16..=128).contains(&secret.len()) {
            return Err(TotpError::InvalidConfig(
                "secret must be 16 to 128 bytes (RFC 4226 asks for at least 128 bits)",
            ));
        }
        Ok(Self { secret, config })
    }

    /// A fresh random secret sized for the algorithm (20 bytes for SHA-1).
    pub fn generate(config: TotpConfig) -> Result<Self, TotpError> {
        let mut secret = Zeroizing::new(vec![0u8; config.algorithm.secret_len()]);
        crypto::fill_random(&mut secret)
            .map_err(|_| TotpError::Vault(VaultError::Internal("random generator failed")))?;
        Self::new(secret, config)
    }

    /// A TOTP from a base32 secret, as shown at enrollment (padding,
    /// lowercase and spaces accepted, as authenticator apps do).
    pub fn from_base32(secret: &SecretString, config: TotpConfig) -> Result<Self, TotpError> {
        use secrecy::ExposeSecret;
        let cleaned = Zeroizing::new(
            secret
                .expose_secret()
                .chars()
                .filter(|c| *c != ' ' && *c != '=')
                .map(|c| c.to_ascii_uppercase())
                .collect::<String>(),
        );
        let bytes = BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|_| TotpError::InvalidConfig("secret is not valid base32"))?;
        Self::new(Zeroizing::new(bytes), config)
    }

    /// The parameters.
    pub fn config(&self) -> &TotpConfig {
        &self.config
    }

    pub(crate) fn secret_bytes(&self) -> &[u8] {
        &self.secret
    }

    /// The secret in unpadded base32, as authenticator apps take it.
    pub fn secret_base32(&self) -> SecretString {
        SecretString::from(BASE32_NOPAD.encode(&self.secret))
    }

    /// The `otpauth://totp/...` enrollment URI (contains the secret: show it
    /// once, e.g. as a QR code, and never log it).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> SecretString {
        let secret = Zeroizing::new(BASE32_NOPAD.encode(&self.secret));
        let uri = format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            percent_encode(issuer),
            percent_encode(account),
            secret.as_str(),
            percent_encode(issuer),
            self.config.algorithm.uri_name(),
            self.config.digits,
            self.config.period_secs,
        );
        SecretString::from(uri)
    }

    /// The time step containing `at`.
    pub fn step_at(&self, at: DateTime<Utc>) -> Result<u64, TotpError> {
        let secs = u64::try_from(at.timestamp()).map_err(|_| TotpError::TimeOutOfRange)?;
        Ok(secs / u64::from(self.config.period_secs))
    }

    /// The code for time step `step` (RFC 4226 HOTP over the step counter).
    pub fn code_at_step(&self, step: u64) -> Zeroizing<String> {
        let key = hmac::Key::new(self.config.algorithm.ring(), &self.secret);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
        let byte = |i: usize| u32::from(mac.get(offset + i).copied().unwrap_or(0));
        let binary = ((byte(0) & 0x7f) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
        let modulus = 10u32.pow(u32::from(self.config.digits));
        Zeroizing::new(format!(
            "{:0width$}",
            binary % modulus,
            width = usize::from(self.config.digits)
        ))
    }

    /// The code valid at `at`.
    pub fn code_at(&self, at: DateTime<Utc>) -> Result<Zeroizing<String>, TotpError> {
        Ok(self.code_at_step(self.step_at(at)?))
    }

    /// Checks `code` at `at` against the steps within the skew window, in
    /// constant time per candidate, refusing steps at or before
    /// `last_accepted`. Returns the matching step. Stateless: no throttling.
    pub fn check(
        &self,
        code: &str,
        at: DateTime<Utc>,
        last_accepted: Option<u64>,
    ) -> Result<u64, TotpError> {
        if code.len() != usize::from(self.config.digits)
            || !code.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(TotpError::Malformed {
                digits: self.config.digits,
            });
        }
        let current = self.step_at(at)?;
        let skew = u64::from(self.config.skew_steps);
        let mut fresh_match = None;
        let mut replayed_match = false;
        for step in current.saturating_sub(skew)..=current.saturating_add(skew) {
            let expected = self.code_at_step(step);
            let equal = crypto::constant_time_eq(expected.as_bytes(), code.as_bytes())
                .map_err(|_| TotpError::Vault(VaultError::Internal("random generator failed")))?;
            if equal {
                if last_accepted.is_some_and(|last| step <= last) {
                    replayed_match = true;
                } else if fresh_match.is_none() {
                    fresh_match = Some(step);
                }
            }
        }
        match fresh_match {
            Some(step) => Ok(step),
            None if replayed_match => Err(TotpError::Replayed),
            None => Err(TotpError::Invalid),
        }
    }
}

/// Replay and throttling state, persisted beside the secret in the vault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TotpState {
    /// The TOTP parameters.
    pub(crate) config: TotpConfig,
    /// The last accepted time step.
    pub(crate) last_step: Option<u64>,
    /// Instants of recent failed attempts (at most [`TOTP_MAX_FAILURES`]).
    pub(crate) failures: Vec<DateTime<Utc>>,
}

impl TotpState {
    /// Refuses with `Throttled` if the failure budget is spent at `now`.
    pub(crate) fn check_throttle(&self, now: DateTime<Utc>) -> Result<(), TotpError> {
        let window = TimeDelta::seconds(TOTP_FAILURE_WINDOW_SECS);
        let recent: Vec<&DateTime<Utc>> = self
            .failures
            .iter()
            .filter(|t| in_window(**t, window, now))
            .collect();
        if recent.len() >= TOTP_MAX_FAILURES {
            let oldest = recent.iter().min().copied().copied().unwrap_or(now);
            let retry = oldest
                .checked_add_signed(window)
                .map_or(TOTP_FAILURE_WINDOW_SECS, |end| (end - now).num_seconds())
                .max(1);
            return Err(TotpError::Throttled {
                retry_after_secs: retry,
            });
        }
        Ok(())
    }

    /// Records a failure at `now`, forgetting failures outside the window.
    pub(crate) fn record_failure(&mut self, now: DateTime<Utc>) {
        let window = TimeDelta::seconds(TOTP_FAILURE_WINDOW_SECS);
        self.failures.retain(|t| in_window(*t, window, now));
        self.failures.push(now);
        self.failures.sort();
        let excess = self.failures.len().saturating_sub(TOTP_MAX_FAILURES);
        self.failures.drain(..excess);
    }

    /// Records an accepted step and clears the failures.
    pub(crate) fn record_success(&mut self, step: u64) {
        self.last_step = Some(step);
        self.failures.clear();
    }
}

/// `true` while a failure at `at` still counts at `now` (overflow counts).
fn in_window(at: DateTime<Utc>, window: TimeDelta, now: DateTime<Utc>) -> bool {
    at.checked_add_signed(window).is_none_or(|end| end > now)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use secrecy::ExposeSecret;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    fn rfc_totp(algorithm: TotpAlgorithm) -> Totp {
        let seed: &[u8] = match algorithm {
            TotpAlgorithm::Sha1 => b"12345678901234567890",
            TotpAlgorithm::Sha256 => b"12345678901234567890123456789012",
            TotpAlgorithm::Sha512 => {
                b"1234567890123456789012345678901234567890123456789012345678901234"
            }
        };
        Totp::new(
            Zeroizing::new(seed.to_vec()),
            TotpConfig::new(algorithm, 8, 30, 1).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let table: [(i64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1_111_111_109, "07081804", "68084774", "25091201"),
            (1_111_111_111, "14050471", "67062674", "99943326"),
            (1_234_567_890, "89005924", "91819424", "93441116"),
            (2_000_000_000, "69279037", "90698825", "38618901"),
            (20_000_000_000, "65353130", "77737706", "47863826"),
        ];
        let sha1 = rfc_totp(TotpAlgorithm::Sha1);
        let sha256 = rfc_totp(TotpAlgorithm::Sha256);
        let sha512 = rfc_totp(TotpAlgorithm::Sha512);
        for (time, c1, c256, c512) in table {
            assert_eq!(sha1.code_at(at(time)).unwrap().as_str(), c1, "SHA1 {time}");
            assert_eq!(
                sha256.code_at(at(time)).unwrap().as_str(),
                c256,
                "SHA256 {time}"
            );
            assert_eq!(
                sha512.code_at(at(time)).unwrap().as_str(),
                c512,
                "SHA512 {time}"
            );
            assert_eq!(
                sha1.check(c1, at(time), None).unwrap(),
                sha1.step_at(at(time)).unwrap()
            );
        }
    }

    #[test]
    fn skew_window_is_one_step_each_side() {
        let totp = Totp::generate(TotpConfig::default()).unwrap();
        let now = at(1_700_000_000);
        let step = totp.step_at(now).unwrap();
        for delta in [-1i64, 0, 1] {
            let code = totp.code_at_step(step.checked_add_signed(delta).unwrap());
            assert!(totp.check(&code, now, None).is_ok(), "{delta}");
        }
        for delta in [-2i64, 2] {
            let code = totp.code_at_step(step.checked_add_signed(delta).unwrap());
            assert!(matches!(
                totp.check(&code, now, None),
                Err(TotpError::Invalid)
            ));
        }
    }

    #[test]
    fn used_steps_are_replays() {
        let totp = Totp::generate(TotpConfig::default()).unwrap();
        let now = at(1_700_000_000);
        let code = totp.code_at(now).unwrap();
        let step = totp.check(&code, now, None).unwrap();
        assert!(matches!(
            totp.check(&code, now, Some(step)),
            Err(TotpError::Replayed)
        ));
        let previous = totp.code_at_step(step - 1);
        assert!(matches!(
            totp.check(&previous, now, Some(step)),
            Err(TotpError::Replayed)
        ));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let totp = Totp::generate(TotpConfig::default()).unwrap();
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "١٢٣٤٥٦",
            " 12345",
            "123 456",
        ] {
            assert!(
                matches!(
                    totp.check(bad, at(100), None),
                    Err(TotpError::Malformed { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn uri_is_well_formed() {
        let totp = Totp::generate(TotpConfig::default()).unwrap();
        let uri = totp.otpauth_uri("ASTA Trading", "operator@desk");
        let uri = uri.expose_secret();
        assert!(uri.starts_with("otpauth://totp/ASTA%20Trading:operator%40desk?secret="));
        assert!(uri.contains(totp.secret_base32().expose_secret()));
        assert!(uri.ends_with("&issuer=ASTA%20Trading&algorithm=SHA1&digits=6&period=30"));
        assert!(!format!("{totp:?}").contains(totp.secret_base32().expose_secret()));
    }

    #[test]
    fn throttle_after_five_failures_in_five_minutes() {
        let mut state = TotpState::default();
        let t0 = at(1_700_000_000);
        for i in 0..5 {
            state.check_throttle(t0 + TimeDelta::seconds(i)).unwrap();
            state.record_failure(t0 + TimeDelta::seconds(i));
        }
        let err = state
            .check_throttle(t0 + TimeDelta::seconds(10))
            .unwrap_err();
        assert!(matches!(
            err,
            TotpError::Throttled {
                retry_after_secs: 290
            }
        ));
        assert!(state.check_throttle(t0 + TimeDelta::seconds(299)).is_err());
        assert!(state.check_throttle(t0 + TimeDelta::seconds(300)).is_ok());
        state.record_success(7);
        assert!(state.failures.is_empty());
    }

    #[test]
    fn base32_round_trip() {
        let totp = Totp::generate(TotpConfig::default()).unwrap();
        let again = Totp::from_base32(&totp.secret_base32(), TotpConfig::default()).unwrap();
        assert_eq!(
            totp.code_at(at(1_000)).unwrap(),
            again.code_at(at(1_000)).unwrap()
        );
        let spaced = SecretString::from("gezd gnbv gy3t qojq gezd gnbv gy3t qojq");
        assert_eq!(
            Totp::from_base32(
                &spaced,
                TotpConfig::new(TotpAlgorithm::Sha1, 8, 30, 1).unwrap()
            )
            .unwrap()
            .code_at(at(59))
            .unwrap()
            .as_str(),
            "94287082"
        );
        assert!(
            Totp::from_base32(&SecretString::from("not base32!"), TotpConfig::default()).is_err()
        );
    }

    #[test]
    fn config_bounds() {
        assert!(TotpConfig::new(TotpAlgorithm::Sha1, 5, 30, 1).is_err());
        assert!(TotpConfig::new(TotpAlgorithm::Sha1, 9, 30, 1).is_err());
        assert!(TotpConfig::new(TotpAlgorithm::Sha1, 6, 10, 1).is_err());
        assert!(TotpConfig::new(TotpAlgorithm::Sha1, 6, 30, 3).is_err());
        assert!(Totp::new(Zeroizing::new(vec![0; 10]), TotpConfig::default()).is_err());
    }
}
