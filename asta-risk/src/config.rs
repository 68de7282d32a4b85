//! Risk limits: serde shapes with `deny_unknown_fields` and a validating builder.

use asta_core::{MAX_QUANTITY, Money};
use serde::{Deserialize, Serialize};

/// SEBI's orders-per-second threshold for unregistered retail algorithms.
pub const SEBI_ORDERS_PER_SECOND: u32 = 10;

/// 100% in basis points.
const FULL_BPS: u32 = 10_000;

/// What the security monitor does when an alert fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AlertAction {
    /// Raise an alert event; the order still goes through the other checks.
    Warn,
    /// Raise an alert event and reject the order.
    Block,
}

/// Stacked rate limits for one kind of scope: an exact sliding second, an
/// exact sliding minute, and the IST trading day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowLimits {
    /// Most counted requests in any sliding 1-second window.
    pub per_second: u32,
    /// Most counted requests in any sliding 60-second window.
    pub per_minute: u32,
    /// Most counted requests in one IST calendar day.
    pub per_day: u32,
}

impl Default for WindowLimits {
    fn default() -> Self {
        Self {
            per_second: 8,
            per_minute: 10,
            per_day: 1_000,
        }
    }
}

/// Rate limits per scope (account, strategy, exchange segment), the
/// modification cap per order, and what counts against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Limits for the whole account.
    pub account: WindowLimits,
    /// Limits for each strategy tag.
    pub strategy: WindowLimits,
    /// Limits for each exchange segment (NSE, NFO, ...); SEBI's 10/s applies here.
    pub segment: WindowLimits,
    /// Most modifications approved for one order over its life.
    pub max_modifications_per_order: u32,
    /// Whether modifications count against the windows (SEBI counts them).
    pub count_modifications: bool,
    /// Whether cancels count against the windows. When they count, a cancel
    /// over the limit is denied; when they do not (the default), cancels
    /// always pass, so an emergency cancel-all is never throttled here.
    pub count_cancels: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            account: WindowLimits::default(),
            strategy: WindowLimits::default(),
            segment: WindowLimits::default(),
            max_modifications_per_order: 10,
            count_modifications: true,
            count_cancels: false,
        }
    }
}

/// Breakers that are not a limit of their own: the rejection storm breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Rejections allowed within the window; one more trips the breaker.
    pub max_rejections: u32,
    /// The sliding window for rejections, in seconds.
    pub rejection_window_secs: u64,
    /// Trip the rejecting strategy (true) or the whole account (false).
    pub rejections_per_strategy: bool,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            max_rejections: 20,
            rejection_window_secs: 60,
            rejections_per_strategy: true,
        }
    }
}

/// The security monitor's thresholds and actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Failed logins from one source allowed in the window; one more blocks it.
    pub max_failed_logins: u32,
    /// The failed-login window, in seconds.
    pub failed_login_window_secs: u64,
    /// How long a source stays blocked, in seconds.
    pub login_block_secs: u64,
    /// Most login sources tracked at once (bounds memory under a spray).
    pub max_tracked_sources: u32,
    /// An order is unusual when its quantity or notional is above this many
    /// times the median of the symbol's recent orders.
    pub size_multiple: u32,
    /// How many recent orders per symbol form the norm.
    pub norm_window: u32,
    /// The size alert needs at least this many recent orders.
    pub norm_min_samples: u32,
    /// Action for an order far above the recent norm.
    pub unusual_size: AlertAction,
    /// Action for a strategy's first order in a symbol.
    pub first_symbol: AlertAction,
    /// More modifications of one order than this within the window is rapid.
    pub rapid_modifications: u32,
    /// The rapid-modification window, in seconds.
    pub rapid_modification_window_secs: u64,
    /// Action for rapid modifications.
    pub rapid_modification: AlertAction,
    /// Action for an order outside trading hours (the hours check rejects it
    /// anyway; this decides whether the alert is a warning or a block).
    pub off_hours: AlertAction,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            failed_login_window_secs: 300,
            login_block_secs: 900,
            max_tracked_sources: 10_000,
            size_multiple: 10,
            norm_window: 20,
            norm_min_samples: 5,
            unusual_size: AlertAction::Block,
            first_symbol: AlertAction::Warn,
            rapid_modifications: 3,
            rapid_modification_window_secs: 10,
            rapid_modification: AlertAction::Block,
            off_hours: AlertAction::Warn,
        }
    }
}

/// Every risk limit, as written in a configuration file.
///
/// Unknown fields are refused (a typo in a limit is an error, not a silently
/// ignored field). Missing fields take the documented defaults, except
/// `capital`, `max_order_quantity`, `max_order_notional` and
/// `max_gross_exposure`, whose zero default fails validation: they must be
/// set. Shares of capital are basis points (300 = 3%), durations are
/// integers with their unit in the name. Nothing is a float.
///
/// This shape is not validated by itself; [`RiskConfig`] is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskLimits {
    /// Trading capital; the base of every share limit.
    pub capital: Money,
    /// Price collar: most distance of a limit or trigger price from the
    /// reference price, in basis points (default 500 = 5%).
    pub collar_bps: u32,
    /// A reference price older than this is stale, in milliseconds.
    pub quote_max_age_ms: u64,
    /// Whether LIMIT and stop orders also need a fresh reference price
    /// (fail closed, default true). MARKET orders always need one.
    pub require_reference_for_limit: bool,
    /// Most quantity in one order.
    pub max_order_quantity: u64,
    /// Most notional in one order.
    pub max_order_notional: Money,
    /// Most position value per symbol after an order, in basis points of
    /// capital (default 3000 = 30%).
    pub max_position_share_bps: u32,
    /// Most gross exposure (sum of worst-case position values) after an order.
    pub max_gross_exposure: Money,
    /// Most open orders (pending approvals included).
    pub max_open_orders: u32,
    /// Most daily loss (realized plus mark-to-market, IST day), in basis
    /// points of capital (default 300 = 3%).
    pub max_daily_loss_bps: u32,
    /// Same content from the same strategy within this many milliseconds is
    /// a duplicate.
    pub duplicate_window_ms: u64,
    /// Rate limits.
    pub rate_limits: RateLimitConfig,
    /// The rejection breaker.
    pub breakers: BreakerConfig,
    /// The security monitor.
    pub monitor: MonitorConfig,
}

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            capital: Money::ZERO,
            collar_bps: 500,
            quote_max_age_ms: 5_000,
            require_reference_for_limit: true,
            max_order_quantity: 0,
            max_order_notional: Money::ZERO,
            max_position_share_bps: 3_000,
            max_gross_exposure: Money::ZERO,
            max_open_orders: 50,
            max_daily_loss_bps: 300,
            duplicate_window_ms: 2_000,
            rate_limits: RateLimitConfig::default(),
            breakers: BreakerConfig::default(),
            monitor: MonitorConfig::default(),
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A limit that must be above zero is not.
    #[error("risk config: {field} must be above zero (got {value})")]
    NotPositive {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A share of capital above 100%.
    #[error("risk config: {field} is {value} basis points; the maximum is 10000 (100%)")]
    OverHundredPercent {
        /// The field.
        field: &'static str,
        /// The value given.
        value: u32,
    },
    /// Limits that contradict each other (per-second above per-minute...).
    #[error("risk config: {field} ({value}) must not be above {other} ({other_value})")]
    Inconsistent {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// The field it must not exceed.
        other: &'static str,
        /// That field's value.
        other_value: String,
    },
    /// A value outside the range this crate supports.
    #[error("risk config: {field} is {value}; {expected}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
}

/// A validated set of risk limits.
///
/// Built with [`RiskConfig::builder`] or [`RiskConfig::new`], or deserialized
/// (through the same validation) from the [`RiskLimits`] shape.
///
/// ```
/// use asta_risk::core::Money;
/// use asta_risk::{RequiredLimits, RiskConfig};
///
/// let config = RiskConfig::builder(RequiredLimits {
///     capital: Money::from_rupees(1_000_000),
///     max_order_quantity: 1_000,
///     max_order_notional: Money::from_rupees(200_000),
///     max_gross_exposure: Money::from_rupees(2_000_000),
/// })
///     .build()?;
/// assert_eq!(config.limits().collar_bps, 500);
///
/// let error = RiskConfig::builder(RequiredLimits {
///     capital: Money::from_rupees(1_000_000),
///     max_order_quantity: 1_000,
///     max_order_notional: Money::from_rupees(200_000),
///     max_gross_exposure: Money::from_rupees(2_000_000),
/// })
///     .max_daily_loss_bps(12_000)
///     .build()
///     .unwrap_err();
/// assert!(error.to_string().contains("max_daily_loss_bps"));
/// # Ok::<(), asta_risk::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RiskLimits", into = "RiskLimits")]
pub struct RiskConfig {
    limits: RiskLimits,
}

impl TryFrom<RiskLimits> for RiskConfig {
    type Error = ConfigError;

    fn try_from(limits: RiskLimits) -> Result<Self, Self::Error> {
        RiskConfig::new(limits)
    }
}

impl From<RiskConfig> for RiskLimits {
    fn from(config: RiskConfig) -> Self {
        config.limits
    }
}

fn positive_u64(field: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::NotPositive {
            field,
            value: value.to_string(),
        });
    }
    Ok(())
}

fn positive_money(field: &'static str, value: Money) -> Result<(), ConfigError> {
    if !value.is_positive() {
        return Err(ConfigError::NotPositive {
            field,
            value: value.to_string(),
        });
    }
    Ok(())
}

fn share_bps(field: &'static str, value: u32) -> Result<(), ConfigError> {
    positive_u64(field, u64::from(value))?;
    if value > FULL_BPS {
        return Err(ConfigError::OverHundredPercent { field, value });
    }
    Ok(())
}

fn not_above(
    field: &'static str,
    value: u64,
    other: &'static str,
    other_value: u64,
) -> Result<(), ConfigError> {
    if value > other_value {
        return Err(ConfigError::Inconsistent {
            field,
            value: value.to_string(),
            other,
            other_value: other_value.to_string(),
        });
    }
    Ok(())
}

fn windows(scope: &'static [&'static str; 3], w: &WindowLimits) -> Result<(), ConfigError> {
    let [second, minute, day] = *scope;
    positive_u64(second, u64::from(w.per_second))?;
    positive_u64(minute, u64::from(w.per_minute))?;
    positive_u64(day, u64::from(w.per_day))?;
    not_above(
        second,
        u64::from(w.per_second),
        minute,
        u64::from(w.per_minute),
    )?;
    not_above(minute, u64::from(w.per_minute), day, u64::from(w.per_day))?;
    if w.per_second > SEBI_ORDERS_PER_SECOND {
        return Err(ConfigError::OutOfRange {
            field: second,
            value: w.per_second.to_string(),
            expected: "at most 10 (SEBI's orders-per-second threshold for unregistered algorithms)",
        });
    }
    Ok(())
}

/// The longest duration accepted for any window or block: 7 days, in seconds.
const MAX_DURATION_SECS: u64 = 7 * 24 * 3_600;

fn duration_secs(field: &'static str, value: u64) -> Result<(), ConfigError> {
    positive_u64(field, value)?;
    if value > MAX_DURATION_SECS {
        return Err(ConfigError::OutOfRange {
            field,
            value: value.to_string(),
            expected: "at most 604800 seconds (7 days)",
        });
    }
    Ok(())
}

impl RiskConfig {
    /// Validates `limits`.
    pub fn new(limits: RiskLimits) -> Result<Self, ConfigError> {
        let l = &limits;
        positive_money("capital", l.capital)?;
        share_bps("collar_bps", l.collar_bps)?;
        positive_u64("quote_max_age_ms", l.quote_max_age_ms)?;
        duration_secs("quote_max_age_ms", l.quote_max_age_ms.div_ceil(1_000))?;
        positive_u64("max_order_quantity", l.max_order_quantity)?;
        if l.max_order_quantity > MAX_QUANTITY {
            return Err(ConfigError::OutOfRange {
                field: "max_order_quantity",
                value: l.max_order_quantity.to_string(),
                expected: "at most 100000000",
            });
        }
        positive_money("max_order_notional", l.max_order_notional)?;
        share_bps("max_position_share_bps", l.max_position_share_bps)?;
        positive_money("max_gross_exposure", l.max_gross_exposure)?;
        positive_u64("max_open_orders", u64::from(l.max_open_orders))?;
        share_bps("max_daily_loss_bps", l.max_daily_loss_bps)?;
        positive_u64("duplicate_window_ms", l.duplicate_window_ms)?;
        duration_secs("duplicate_window_ms", l.duplicate_window_ms.div_ceil(1_000))?;

        let r = &l.rate_limits;
        windows(
            &[
                "rate_limits.account.per_second",
                "rate_limits.account.per_minute",
                "rate_limits.account.per_day",
            ],
            &r.account,
        )?;
        windows(
            &[
                "rate_limits.strategy.per_second",
                "rate_limits.strategy.per_minute",
                "rate_limits.strategy.per_day",
            ],
            &r.strategy,
        )?;
        windows(
            &[
                "rate_limits.segment.per_second",
                "rate_limits.segment.per_minute",
                "rate_limits.segment.per_day",
            ],
            &r.segment,
        )?;
        positive_u64(
            "rate_limits.max_modifications_per_order",
            u64::from(r.max_modifications_per_order),
        )?;

        let b = &l.breakers;
        positive_u64("breakers.max_rejections", u64::from(b.max_rejections))?;
        duration_secs("breakers.rejection_window_secs", b.rejection_window_secs)?;

        let m = &l.monitor;
        positive_u64("monitor.max_failed_logins", u64::from(m.max_failed_logins))?;
        duration_secs(
            "monitor.failed_login_window_secs",
            m.failed_login_window_secs,
        )?;
        duration_secs("monitor.login_block_secs", m.login_block_secs)?;
        positive_u64(
            "monitor.max_tracked_sources",
            u64::from(m.max_tracked_sources),
        )?;
        if m.size_multiple < 2 {
            return Err(ConfigError::OutOfRange {
                field: "monitor.size_multiple",
                value: m.size_multiple.to_string(),
                expected: "at least 2 (a multiple of 1 flags every order above the median)",
            });
        }
        positive_u64("monitor.norm_window", u64::from(m.norm_window))?;
        if m.norm_window > 1_000 {
            return Err(ConfigError::OutOfRange {
                field: "monitor.norm_window",
                value: m.norm_window.to_string(),
                expected: "at most 1000",
            });
        }
        positive_u64("monitor.norm_min_samples", u64::from(m.norm_min_samples))?;
        not_above(
            "monitor.norm_min_samples",
            u64::from(m.norm_min_samples),
            "monitor.norm_window",
            u64::from(m.norm_window),
        )?;
        positive_u64(
            "monitor.rapid_modifications",
            u64::from(m.rapid_modifications),
        )?;
        duration_secs(
            "monitor.rapid_modification_window_secs",
            m.rapid_modification_window_secs,
        )?;

        // Caps that cannot bind: a single order above the gross cap can never pass.
        let position_cap =
            l.capital
                .checked_mul_bps(l.max_position_share_bps)
                .ok_or(ConfigError::OutOfRange {
                    field: "capital",
                    value: l.capital.to_string(),
                    expected: "an amount whose shares fit in 128 bits",
                })?;
        positive_money("capital share of max_position_share_bps", position_cap)?;
        Ok(Self { limits })
    }

    /// A builder with the limits that have no safe default and the
    /// defaults for everything else (3% daily loss, 30% per symbol, 5%
    /// collar, ...). Every value is checked in
    /// [`build`](RiskConfigBuilder::build).
    pub fn builder(required: RequiredLimits) -> RiskConfigBuilder {
        RiskConfigBuilder {
            limits: RiskLimits {
                capital: required.capital,
                max_order_quantity: required.max_order_quantity,
                max_order_notional: required.max_order_notional,
                max_gross_exposure: required.max_gross_exposure,
                ..RiskLimits::default()
            },
        }
    }

    /// The validated limits.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// The per-symbol position cap in money (capital × share).
    pub fn position_cap(&self) -> Money {
        self.limits
            .capital
            .checked_mul_bps(self.limits.max_position_share_bps)
            .unwrap_or(Money::ZERO)
    }

    /// The daily loss cap in money (capital × share).
    pub fn daily_loss_cap(&self) -> Money {
        self.limits
            .capital
            .checked_mul_bps(self.limits.max_daily_loss_bps)
            .unwrap_or(Money::ZERO)
    }
}

/// The limits [`RiskConfig::builder`] needs because no default is safe:
/// they depend on the account. Named fields, so two amounts cannot be
/// swapped by position; each must be above zero (checked in
/// [`RiskConfigBuilder::build`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredLimits {
    /// The account's capital: the base of every share-of-capital limit.
    pub capital: Money,
    /// The most quantity in one order.
    pub max_order_quantity: u64,
    /// The most notional (price × quantity) in one order.
    pub max_order_notional: Money,
    /// The most gross exposure over all positions and open orders.
    pub max_gross_exposure: Money,
}

/// Builds a [`RiskConfig`]; everything is checked in [`build`](Self::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct RiskConfigBuilder {
    limits: RiskLimits,
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty ),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.limits.$name = value;
                self
            }
        )*
    };
}

impl RiskConfigBuilder {
    setters! {
        /// Sets the price collar in basis points.
        collar_bps: u32,
        /// Sets the reference price staleness limit in milliseconds.
        quote_max_age_ms: u64,
        /// Sets whether LIMIT and stop orders need a fresh reference too.
        require_reference_for_limit: bool,
        /// Sets the most quantity per order.
        max_order_quantity: u64,
        /// Sets the most notional per order.
        max_order_notional: Money,
        /// Sets the per-symbol position cap in basis points of capital.
        max_position_share_bps: u32,
        /// Sets the gross exposure cap.
        max_gross_exposure: Money,
        /// Sets the most open orders.
        max_open_orders: u32,
        /// Sets the daily loss cap in basis points of capital.
        max_daily_loss_bps: u32,
        /// Sets the duplicate window in milliseconds.
        duplicate_window_ms: u64,
        /// Sets the rate limits.
        rate_limits: RateLimitConfig,
        /// Sets the rejection breaker.
        breakers: BreakerConfig,
        /// Sets the security monitor.
        monitor: MonitorConfig,
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<RiskConfig, ConfigError> {
        RiskConfig::new(self.limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RiskConfigBuilder {
        RiskConfig::builder(RequiredLimits {
            capital: Money::from_rupees(1_000_000),
            max_order_quantity: 1_000,
            max_order_notional: Money::from_rupees(100_000),
            max_gross_exposure: Money::from_rupees(1_000_000),
        })
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = base().build().unwrap();
        let l = config.limits();
        assert_eq!(l.collar_bps, 500);
        assert_eq!(l.max_position_share_bps, 3_000);
        assert_eq!(l.max_daily_loss_bps, 300);
        assert_eq!(l.rate_limits.account.per_second, 8);
        assert_eq!(l.rate_limits.account.per_minute, 10);
        assert_eq!(l.monitor.max_failed_logins, 5);
        assert_eq!(l.monitor.failed_login_window_secs, 300);
        assert_eq!(config.position_cap(), Money::from_rupees(300_000));
        assert_eq!(config.daily_loss_cap(), Money::from_rupees(30_000));
    }

    #[test]
    fn impossible_limits_are_refused_with_a_clear_message() {
        let w = |s, m, d| RateLimitConfig {
            account: WindowLimits {
                per_second: s,
                per_minute: m,
                per_day: d,
            },
            ..RateLimitConfig::default()
        };
        let cases: Vec<(RiskConfigBuilder, &str)> = vec![
            (
                RiskConfig::builder(RequiredLimits {
                    capital: Money::ZERO,
                    max_order_quantity: 1,
                    max_order_notional: Money::from_rupees(1),
                    max_gross_exposure: Money::from_rupees(1),
                }),
                "capital must be above zero",
            ),
            (
                RiskConfig::builder(RequiredLimits {
                    capital: Money::from_rupees(-5),
                    max_order_quantity: 1,
                    max_order_notional: Money::from_rupees(1),
                    max_gross_exposure: Money::from_rupees(1),
                }),
                "capital must be above zero",
            ),
            (base().max_order_quantity(0), "max_order_quantity"),
            (
                base().max_order_quantity(MAX_QUANTITY + 1),
                "max_order_quantity",
            ),
            (
                base().max_order_notional(Money::from_rupees(-1)),
                "notional",
            ),
            (base().max_daily_loss_bps(10_001), "10000 (100%)"),
            (base().max_daily_loss_bps(0), "max_daily_loss_bps"),
            (base().max_position_share_bps(20_000), "100%"),
            (base().collar_bps(0), "collar_bps"),
            (base().max_open_orders(0), "max_open_orders"),
            (base().quote_max_age_ms(0), "quote_max_age_ms"),
            (
                base().rate_limits(w(9, 8, 100)),
                "rate_limits.account.per_second (9) must not be above rate_limits.account.per_minute (8)",
            ),
            (base().rate_limits(w(5, 100, 50)), "per_day (50)"),
            (
                base().rate_limits(w(0, 10, 50)),
                "per_second must be above zero",
            ),
            (base().rate_limits(w(11, 100, 500)), "SEBI"),
            (
                base().rate_limits(RateLimitConfig {
                    max_modifications_per_order: 0,
                    ..RateLimitConfig::default()
                }),
                "max_modifications_per_order",
            ),
            (
                base().monitor(MonitorConfig {
                    norm_min_samples: 30,
                    ..MonitorConfig::default()
                }),
                "norm_min_samples",
            ),
            (
                base().monitor(MonitorConfig {
                    size_multiple: 1,
                    ..MonitorConfig::default()
                }),
                "size_multiple",
            ),
            (
                base().breakers(BreakerConfig {
                    max_rejections: 0,
                    ..BreakerConfig::default()
                }),
                "max_rejections",
            ),
        ];
        for (i, (builder, needle)) in cases.into_iter().enumerate() {
            let error = builder.build().unwrap_err().to_string();
            assert!(error.contains(needle), "case {i}: {error}");
        }
    }

    #[test]
    fn limits_exactly_at_their_bounds_are_accepted() {
        assert!(base().max_daily_loss_bps(10_000).build().is_ok());
        let equal = RateLimitConfig {
            account: WindowLimits {
                per_second: 10,
                per_minute: 10,
                per_day: 10,
            },
            ..RateLimitConfig::default()
        };
        assert!(base().rate_limits(equal).build().is_ok());
        assert!(base().max_order_quantity(MAX_QUANTITY).build().is_ok());
    }

    #[test]
    fn serde_validates_and_refuses_unknown_fields() {
        let config = base().build().unwrap();
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<RiskConfig>(&json).unwrap(), config);

        let typo = json.replace("\"collar_bps\"", "\"colar_bps\"");
        let error = serde_json::from_str::<RiskConfig>(&typo).unwrap_err();
        assert!(error.to_string().contains("colar_bps"), "{error}");

        let minimal = r#"{"capital":"1000000","max_order_quantity":100,
            "max_order_notional":"50000","max_gross_exposure":"900000",
            "rate_limits":{"segment":{"per_second":5,"per_minute":10,"per_day":100}}}"#;
        let config: RiskConfig = serde_json::from_str(minimal).unwrap();
        assert_eq!(config.limits().rate_limits.segment.per_second, 5);
        assert_eq!(config.limits().rate_limits.account.per_second, 8);

        let over = minimal.replace("\"per_second\":5", "\"per_second\":50");
        assert!(serde_json::from_str::<RiskConfig>(&over).is_err());
        let nested_typo = minimal.replace("\"per_day\":100", "\"per_days\":100");
        assert!(serde_json::from_str::<RiskConfig>(&nested_typo).is_err());
        let float = minimal.replace("100,", "100.5,");
        assert!(serde_json::from_str::<RiskConfig>(&float).is_err());
    }
}
