//! API-key records: least-privilege scopes, lifetime and expiry warnings.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{VaultError, clip};

/// Default lifetime of an API key: 90 days.
pub const DEFAULT_API_KEY_LIFETIME_DAYS: i64 = 90;
/// Default warning window before expiry: 14 days.
pub const DEFAULT_API_KEY_WARNING_DAYS: i64 = 14;
/// Longest lifetime accepted: 2 years (keys must rotate).
pub const MAX_API_KEY_LIFETIME_DAYS: i64 = 730;

/// A permission an API key carries, such as `read`, `trade` or `admin`.
///
/// Scopes are exact: `admin` does not imply `trade`. 1-32 characters of
/// `a-z 0-9 _ . : -`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Validates a scope name.
    pub fn new(name: &str) -> Result<Self, VaultError> {
        let invalid = |rule| VaultError::InvalidName {
            what: "scope",
            value: clip(name),
            rule,
        };
        if name.is_empty() || name.len() > 32 {
            return Err(invalid("must be 1 to 32 characters"));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(invalid("must start with a lowercase letter"));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
        {
            return Err(invalid("may contain only a-z 0-9 _ . : -"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The `read` scope: market data, positions, order book.
    pub fn read() -> Self {
        Self("read".to_owned())
    }

    /// The `trade` scope: place, modify, cancel orders.
    pub fn trade() -> Self {
        Self("trade".to_owned())
    }

    /// The `admin` scope: account and configuration changes.
    pub fn admin() -> Self {
        Self("admin".to_owned())
    }

    /// The scope name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Scope {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for Scope {
    type Error = VaultError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> Self {
        scope.0
    }
}

/// How an API key may be used and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPolicy {
    scopes: Vec<Scope>,
    lifetime: TimeDelta,
    warn_before: TimeDelta,
}

impl ApiKeyPolicy {
    /// A policy with the given scopes, the default 90-day lifetime and a
    /// 14-day warning window.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        let mut scopes: Vec<Scope> = scopes.into_iter().collect();
        scopes.sort();
        scopes.dedup();
        Self {
            scopes,
            lifetime: TimeDelta::days(DEFAULT_API_KEY_LIFETIME_DAYS),
            warn_before: TimeDelta::days(DEFAULT_API_KEY_WARNING_DAYS),
        }
    }

    /// Sets the lifetime (1 second to 2 years).
    pub fn with_lifetime(mut self, lifetime: TimeDelta) -> Result<Self, VaultError> {
        if lifetime <= TimeDelta::zero() || lifetime > TimeDelta::days(MAX_API_KEY_LIFETIME_DAYS) {
            return Err(VaultError::InvalidInput(format!(
                "API key lifetime must be positive and at most {MAX_API_KEY_LIFETIME_DAYS} days"
            )));
        }
        self.lifetime = lifetime;
        Ok(self)
    }

    /// Sets the warning window before expiry (zero or more, at most the lifetime).
    pub fn with_warning(mut self, warn_before: TimeDelta) -> Result<Self, VaultError> {
        if warn_before < TimeDelta::zero() || warn_before > self.lifetime {
            return Err(VaultError::InvalidInput(
                "warning window must be between zero and the key's lifetime".to_owned(),
            ));
        }
        self.warn_before = warn_before;
        Ok(self)
    }

    /// The scopes, sorted and deduplicated.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The lifetime.
    pub fn lifetime(&self) -> TimeDelta {
        self.lifetime
    }

    /// The warning window.
    pub fn warn_before(&self) -> TimeDelta {
        self.warn_before
    }
}

/// Where an entry stands against its expiry at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExpiryState {
    /// Valid and outside the warning window.
    Valid,
    /// Valid but inside the warning window: rotate soon.
    ExpiringSoon {
        /// Whole days left (0 means less than a day).
        days_left: i64,
    },
    /// Past its expiry: it will be refused.
    Expired {
        /// Whole days since it expired.
        days_ago: i64,
    },
}

impl ExpiryState {
    /// Classifies `expires` at `now` with a warning window.
    pub(crate) fn at(expires: DateTime<Utc>, warn_before: TimeDelta, now: DateTime<Utc>) -> Self {
        if now >= expires {
            ExpiryState::Expired {
                days_ago: (now - expires).num_days(),
            }
        } else if now
            .checked_add_signed(warn_before)
            .is_none_or(|w| w >= expires)
        {
            ExpiryState::ExpiringSoon {
                days_left: (expires - now).num_days(),
            }
        } else {
            ExpiryState::Valid
        }
    }

    /// `true` unless valid.
    pub fn needs_attention(&self) -> bool {
        !matches!(self, ExpiryState::Valid)
    }
}

/// One line of [`crate::Vault::status`]: an entry that has an expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    /// The entry name.
    pub name: String,
    /// When the current value was created (set or rotated).
    pub created: DateTime<Utc>,
    /// When it expires.
    pub expires: DateTime<Utc>,
    /// Its scopes (empty for plain secrets).
    pub scopes: Vec<Scope>,
    /// Its state at the instant asked about.
    pub state: ExpiryState,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scopes_validate() {
        for good in ["read", "trade", "admin", "orders:write", "a1_b.c-d"] {
            assert!(Scope::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Read",
            "1read",
            "re ad",
            "read\n",
            &"a".repeat(33),
            "trade;admin",
        ] {
            assert!(Scope::new(bad).is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&Scope::trade()).unwrap();
        assert_eq!(json, "\"trade\"");
        assert!(serde_json::from_str::<Scope>("\"TRADE\"").is_err());
    }

    #[test]
    fn policy_defaults_and_bounds() {
        let p = ApiKeyPolicy::new([Scope::trade(), Scope::read(), Scope::read()]);
        assert_eq!(p.scopes(), &[Scope::read(), Scope::trade()]);
        assert_eq!(p.lifetime(), TimeDelta::days(90));
        assert!(p.clone().with_lifetime(TimeDelta::zero()).is_err());
        assert!(p.clone().with_lifetime(TimeDelta::days(731)).is_err());
        assert!(p.clone().with_warning(TimeDelta::days(91)).is_err());
    }

    #[test]
    fn expiry_states() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let expires = t0 + TimeDelta::days(90);
        let warn = TimeDelta::days(14);
        assert_eq!(ExpiryState::at(expires, warn, t0), ExpiryState::Valid);
        assert_eq!(
            ExpiryState::at(expires, warn, t0 + TimeDelta::days(80)),
            ExpiryState::ExpiringSoon { days_left: 10 }
        );
        assert_eq!(
            ExpiryState::at(expires, warn, t0 + TimeDelta::days(93)),
            ExpiryState::Expired { days_ago: 3 }
        );
    }
}
