//! When each exchange can be traded, in India Standard Time.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Asia::Kolkata;
use serde::Deserialize;

use crate::{Exchange, Product};

/// The calendar data shipped with this crate (`data/market_calendar.json`).
const BUNDLED: &str = include_str!("../data/market_calendar.json");

/// The newest calendar file format this code reads.
pub const CALENDAR_FORMAT: u32 = 1;

/// How far [`MarketCalendar::next_open`] looks ahead, in days.
const NEXT_OPEN_HORIZON_DAYS: u32 = 400;

/// Trading sessions, holidays and special sessions for Indian exchanges.
///
/// Every answer is computed in `Asia/Kolkata` from a UTC instant, whatever the
/// machine's time zone. Session boundaries are half-open: a session that
/// opens at 09:15 and closes at 15:30 is open from 09:15:00 inclusive to
/// 15:30:00 exclusive. For NSE and BSE cash, pre-open order entry runs
/// 09:00-09:08; 09:08-09:15 is the pre-open matching period, when orders are
/// not accepted. MIS (intraday) orders are refused from the exchange's MIS
/// cut-off (15:15 by default for equities and F&O) until the close.
///
/// Holidays and special sessions (Muhurat trading, budget-day sessions) come
/// from a versioned data file; the one shipped with the crate is
/// [`MarketCalendar::bundled`]. A special session replaces the normal day,
/// even on a weekend or a holiday.
///
/// The data covers a range of dates ([`MarketCalendar::covers`]): outside
/// it the calendar does not know the holidays, so every exchange is
/// [`ClosedReason::OutsideCalendar`] there (fail closed), never assumed open.
///
/// ```
/// use asta_core::{Exchange, MarketCalendar, MarketPhase, Product};
/// use chrono::{TimeZone, Utc};
///
/// let calendar = MarketCalendar::bundled()?;
/// // 04:00 UTC is 09:30 IST on Friday 27 November 2026.
/// let at = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
/// assert_eq!(calendar.phase(Exchange::Nse, at), MarketPhase::Open);
/// assert!(calendar.check_order_entry(Exchange::Nse, Product::Mis, at).is_ok());
/// // The next open after Friday's close is Monday 09:15 IST (03:45 UTC).
/// let friday_evening = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
/// assert_eq!(
///     calendar.next_open(Exchange::Nse, friday_evening),
///     Some(Utc.with_ymd_and_hms(2026, 11, 30, 3, 45, 0).unwrap())
/// );
/// # Ok::<(), asta_core::CalendarError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MarketCalendar {
    version: String,
    covers: (NaiveDate, NaiveDate),
    sessions: HashMap<Exchange, Session>,
    holidays: HashMap<(Exchange, NaiveDate), String>,
    special: HashMap<(Exchange, NaiveDate), SpecialSession>,
    /// Every tradable exchange open at every instant (rehearsals only).
    always_open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Session {
    open: NaiveTime,
    close: NaiveTime,
    pre_open: Option<(NaiveTime, NaiveTime)>,
    mis_cutoff: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SpecialSession {
    name: String,
    open: NaiveTime,
    close: NaiveTime,
}

/// Where an exchange is in its day at a given instant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarketPhase {
    /// Pre-open order entry (NSE/BSE cash, 09:00-09:08 IST).
    PreOpen,
    /// Continuous trading.
    Open,
    /// No order entry, and why.
    Closed(ClosedReason),
}

/// Why an exchange is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosedReason {
    /// The segment is an index segment and never trades.
    NotTradable,
    /// The calendar has no session times for this exchange.
    NoSessionData,
    /// Saturday or Sunday, with no special session.
    Weekend,
    /// An exchange holiday, with no special session.
    Holiday {
        /// The holiday's name.
        name: String,
    },
    /// Before the day's order entry begins.
    BeforeOpen,
    /// The pre-open matching period (09:08-09:15 IST), when no orders are taken.
    PreOpenMatching,
    /// After the day's close.
    AfterClose,
    /// The date is outside the range the calendar data covers, so its
    /// holidays are unknown: load a newer calendar.
    OutsideCalendar {
        /// The first date the data covers.
        from: NaiveDate,
        /// The last date the data covers.
        until: NaiveDate,
    },
}

impl fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClosedReason::NotTradable => f.write_str("index segments never trade"),
            ClosedReason::NoSessionData => f.write_str("the calendar has no session for it"),
            ClosedReason::Weekend => f.write_str("weekend"),
            ClosedReason::Holiday { name } => write!(f, "holiday ({name})"),
            ClosedReason::BeforeOpen => f.write_str("before the open"),
            ClosedReason::PreOpenMatching => f.write_str("pre-open matching period"),
            ClosedReason::AfterClose => f.write_str("after the close"),
            ClosedReason::OutsideCalendar { from, until } => write!(
                f,
                "the market calendar covers {from} up to {until}; load a newer calendar \
                 (paths.calendar in asta.toml, or `asta calendar import`)"
            ),
        }
    }
}

/// Why an order may not be entered now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TradingHoursError {
    /// The exchange is closed.
    #[error("{exchange} is closed at {local} IST: {reason}")]
    Closed {
        /// The exchange.
        exchange: Exchange,
        /// The instant, in IST.
        local: NaiveDateTime,
        /// Why.
        reason: ClosedReason,
    },
    /// MIS orders are past the day's cut-off.
    #[error("MIS orders on {exchange} are refused from the {cutoff} IST cut-off (now {local} IST)")]
    MisCutoff {
        /// The exchange.
        exchange: Exchange,
        /// The instant, in IST.
        local: NaiveDateTime,
        /// The cut-off time.
        cutoff: NaiveTime,
    },
}

/// Why calendar data could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    /// The file could not be read.
    #[error("cannot read market calendar {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The data is not valid JSON of the expected shape.
    #[error("market calendar is malformed at line {line}: {message}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file is from a newer version of this software.
    #[error(
        "market calendar format {found} is newer than the supported format {supported}; upgrade asta-core"
    )]
    UnsupportedFormat {
        /// The format in the file.
        found: u32,
        /// The newest format supported.
        supported: u32,
    },
    /// The data is well-formed but inconsistent.
    #[error("market calendar is inconsistent: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    format: u32,
    version: String,
    #[serde(default)]
    #[allow(dead_code, reason = "documentation for people reading the file")]
    source: Option<String>,
    #[serde(default)]
    covers: Option<RawCovers>,
    sessions: HashMap<Exchange, RawSession>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
    #[serde(default)]
    special_sessions: Vec<RawSpecial>,
}

/// The dates the data covers, both inclusive.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCovers {
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    open: String,
    close: String,
    #[serde(default)]
    pre_open: Option<RawWindow>,
    mis_cutoff: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    date: NaiveDate,
    name: String,
    exchanges: Vec<Exchange>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpecial {
    date: NaiveDate,
    name: String,
    open: String,
    close: String,
    exchanges: Vec<Exchange>,
}

fn hhmm(text: &str, what: &str) -> Result<NaiveTime, CalendarError> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| CalendarError::Invalid(format!("{what} {text:?} is not a time as HH:MM")))
}

impl MarketCalendar {
    /// The calendar shipped with this crate.
    pub fn bundled() -> Result<Self, CalendarError> {
        Self::from_json_str(BUNDLED)
    }

    /// The text of the calendar data shipped with this crate, e.g. to copy
    /// its session times into a newer file.
    pub fn bundled_json() -> &'static str {
        BUNDLED
    }

    /// Loads calendar data from a JSON file in the bundled file's format.
    pub fn from_path(path: &Path) -> Result<Self, CalendarError> {
        let text = std::fs::read_to_string(path).map_err(|source| CalendarError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text)
    }

    /// Loads calendar data from JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, CalendarError> {
        // Read the format first, so a newer file is reported as such rather
        // than as a list of unknown fields.
        #[derive(Deserialize)]
        struct FormatOnly {
            format: u32,
        }
        let malformed = |e: serde_json::Error| CalendarError::Malformed {
            line: e.line(),
            message: e.to_string(),
        };
        let format: FormatOnly = serde_json::from_str(text).map_err(malformed)?;
        if format.format > CALENDAR_FORMAT || format.format == 0 {
            return Err(CalendarError::UnsupportedFormat {
                found: format.format,
                supported: CALENDAR_FORMAT,
            });
        }
        let raw: RawCalendar = serde_json::from_str(text).map_err(malformed)?;
        let _ = raw.format;

        let mut sessions = HashMap::new();
        for (exchange, s) in raw.sessions {
            if !exchange.is_tradable() {
                return Err(CalendarError::Invalid(format!(
                    "{exchange} is an index segment and cannot have a session"
                )));
            }
            let open = hhmm(&s.open, "open")?;
            let close = hhmm(&s.close, "close")?;
            let mis_cutoff = hhmm(&s.mis_cutoff, "mis_cutoff")?;
            if open >= close {
                return Err(CalendarError::Invalid(format!(
                    "{exchange} opens at {open} but closes at {close}"
                )));
            }
            if mis_cutoff <= open || mis_cutoff > close {
                return Err(CalendarError::Invalid(format!(
                    "{exchange} MIS cut-off {mis_cutoff} is not within its session {open}-{close}"
                )));
            }
            let pre_open = match s.pre_open {
                None => None,
                Some(w) => {
                    let start = hhmm(&w.start, "pre_open.start")?;
                    let end = hhmm(&w.end, "pre_open.end")?;
                    if !(start < end && end <= open) {
                        return Err(CalendarError::Invalid(format!(
                            "{exchange} pre-open {start}-{end} must end before the open {open}"
                        )));
                    }
                    Some((start, end))
                }
            };
            sessions.insert(
                exchange,
                Session {
                    open,
                    close,
                    pre_open,
                    mis_cutoff,
                },
            );
        }

        let mut holidays = HashMap::new();
        for h in raw.holidays {
            for exchange in h.exchanges {
                if holidays
                    .insert((exchange, h.date), h.name.clone())
                    .is_some()
                {
                    return Err(CalendarError::Invalid(format!(
                        "{exchange} holiday {} is listed twice",
                        h.date
                    )));
                }
            }
        }

        let mut special = HashMap::new();
        for s in raw.special_sessions {
            let open = hhmm(&s.open, "special session open")?;
            let close = hhmm(&s.close, "special session close")?;
            if open >= close {
                return Err(CalendarError::Invalid(format!(
                    "special session {} on {} opens at {open} but closes at {close}",
                    s.name, s.date
                )));
            }
            for exchange in s.exchanges {
                if !sessions.contains_key(&exchange) {
                    return Err(CalendarError::Invalid(format!(
                        "special session {} names {exchange}, which has no normal session",
                        s.name
                    )));
                }
                let entry = SpecialSession {
                    name: s.name.clone(),
                    open,
                    close,
                };
                if special.insert((exchange, s.date), entry).is_some() {
                    return Err(CalendarError::Invalid(format!(
                        "{exchange} has two special sessions on {}",
                        s.date
                    )));
                }
            }
        }

        let covers = covered_range(raw.covers.as_ref(), &holidays, &special)?;
        Ok(Self {
            version: raw.version,
            covers,
            sessions,
            holidays,
            special,
            always_open: false,
        })
    }

    /// This calendar with every tradable exchange open at every instant:
    /// no weekends, holidays, pre-open, cut-off or coverage limit. For
    /// rehearsals at any hour against a simulated broker only (`asta serve`
    /// in sandbox mode with `always_open`); never give it to a session that
    /// can reach an exchange. Index segments still never trade.
    ///
    /// ```
    /// use asta_core::{Exchange, MarketCalendar, MarketPhase, Product};
    /// use chrono::{TimeZone, Utc};
    ///
    /// // Sunday 29 November 2026, 23:30 IST: closed, unless waived.
    /// let sunday_night = Utc.with_ymd_and_hms(2026, 11, 29, 18, 0, 0).unwrap();
    /// let calendar = MarketCalendar::bundled()?;
    /// assert!(calendar.check_order_entry(Exchange::Nse, Product::Mis, sunday_night).is_err());
    /// let rehearsal = calendar.dangerous_always_open();
    /// assert!(rehearsal.check_order_entry(Exchange::Nse, Product::Mis, sunday_night).is_ok());
    /// assert_eq!(rehearsal.phase(Exchange::Nfo, sunday_night), MarketPhase::Open);
    /// assert_ne!(rehearsal.phase(Exchange::NseIndex, sunday_night), MarketPhase::Open);
    /// # Ok::<(), asta_core::CalendarError>(())
    /// ```
    pub fn dangerous_always_open(mut self) -> Self {
        self.always_open = true;
        self
    }

    /// Whether [`dangerous_always_open`](Self::dangerous_always_open) waived
    /// the trading hours.
    pub fn is_always_open(&self) -> bool {
        self.always_open
    }

    /// The first and last dates (IST, both inclusive) the data covers.
    /// Outside them every exchange is closed with
    /// [`ClosedReason::OutsideCalendar`].
    pub fn covers(&self) -> (NaiveDate, NaiveDate) {
        self.covers
    }

    /// The data version, e.g. `2026.11-1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// This calendar with another MIS cut-off for `exchange` (brokers square
    /// off between 15:15 and 15:20 IST). The cut-off must fall inside the
    /// exchange's normal session.
    pub fn with_mis_cutoff(
        mut self,
        exchange: Exchange,
        cutoff: NaiveTime,
    ) -> Result<Self, CalendarError> {
        let session = self.sessions.get_mut(&exchange).ok_or_else(|| {
            CalendarError::Invalid(format!("{exchange} has no session to set a cut-off on"))
        })?;
        if cutoff <= session.open || cutoff > session.close {
            return Err(CalendarError::Invalid(format!(
                "MIS cut-off {cutoff} is not within the {exchange} session {}-{}",
                session.open, session.close
            )));
        }
        session.mis_cutoff = cutoff;
        Ok(self)
    }

    /// The name of the holiday on `date` (an IST date) for `exchange`, if any.
    pub fn holiday(&self, exchange: Exchange, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&(exchange, date)).map(String::as_str)
    }

    /// The open and close (IST) of `exchange` on `date`, if it trades that day.
    fn day_session(&self, exchange: Exchange, date: NaiveDate) -> Result<DaySession, ClosedReason> {
        if !exchange.is_tradable() {
            return Err(ClosedReason::NotTradable);
        }
        let (from, until) = self.covers;
        if date < from || date > until {
            return Err(ClosedReason::OutsideCalendar { from, until });
        }
        let session = self
            .sessions
            .get(&exchange)
            .ok_or(ClosedReason::NoSessionData)?;
        if let Some(special) = self.special.get(&(exchange, date)) {
            return Ok(DaySession {
                open: special.open,
                close: special.close,
                pre_open: None,
                mis_cutoff: session.mis_cutoff.min(special.close),
            });
        }
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Err(ClosedReason::Weekend);
        }
        if let Some(name) = self.holidays.get(&(exchange, date)) {
            return Err(ClosedReason::Holiday { name: name.clone() });
        }
        Ok(DaySession {
            open: session.open,
            close: session.close,
            pre_open: session.pre_open,
            mis_cutoff: session.mis_cutoff,
        })
    }

    /// Where `exchange` is in its day at the instant `at`.
    pub fn phase(&self, exchange: Exchange, at: DateTime<Utc>) -> MarketPhase {
        if self.always_open && exchange.is_tradable() {
            return MarketPhase::Open;
        }
        let local = crate::ist_local(at);
        let time = local.time();
        let day = match self.day_session(exchange, local.date()) {
            Ok(day) => day,
            Err(reason) => return MarketPhase::Closed(reason),
        };
        if let Some((start, end)) = day.pre_open {
            if start <= time && time < end {
                return MarketPhase::PreOpen;
            }
            if end <= time && time < day.open {
                return MarketPhase::Closed(ClosedReason::PreOpenMatching);
            }
        }
        if time < day.open {
            MarketPhase::Closed(ClosedReason::BeforeOpen)
        } else if time < day.close {
            MarketPhase::Open
        } else {
            MarketPhase::Closed(ClosedReason::AfterClose)
        }
    }

    /// Whether an order for `product` on `exchange` may be entered at `at`:
    /// the exchange must be open or in pre-open order entry, and MIS orders
    /// must be before the MIS cut-off.
    pub fn check_order_entry(
        &self,
        exchange: Exchange,
        product: Product,
        at: DateTime<Utc>,
    ) -> Result<MarketPhase, TradingHoursError> {
        let local = crate::ist_local(at);
        let phase = self.phase(exchange, at);
        if self.always_open && phase == MarketPhase::Open {
            return Ok(phase);
        }
        if let MarketPhase::Closed(reason) = phase {
            return Err(TradingHoursError::Closed {
                exchange,
                local,
                reason,
            });
        }
        if product == Product::Mis
            && let Ok(day) = self.day_session(exchange, local.date())
            && local.time() >= day.mis_cutoff
        {
            return Err(TradingHoursError::MisCutoff {
                exchange,
                local,
                cutoff: day.mis_cutoff,
            });
        }
        Ok(phase)
    }

    /// The next instant at or after `at` when continuous trading opens on
    /// `exchange` (a special session's open counts), looking at most 400 days
    /// ahead. `None` for index segments, exchanges without session data, and
    /// when the search reaches a date the calendar does not cover.
    pub fn next_open(&self, exchange: Exchange, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.always_open && exchange.is_tradable() {
            return Some(at);
        }
        let mut date = crate::ist_date(at);
        for _ in 0..NEXT_OPEN_HORIZON_DAYS {
            match self.day_session(exchange, date) {
                Ok(day) => {
                    let open = Kolkata
                        .from_local_datetime(&date.and_time(day.open))
                        .earliest()?
                        .with_timezone(&Utc);
                    if open >= at {
                        return Some(open);
                    }
                }
                Err(
                    ClosedReason::NotTradable
                    | ClosedReason::NoSessionData
                    | ClosedReason::OutsideCalendar { .. },
                ) => return None,
                Err(_) => {}
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// The covered range: `covers` when the file says it; otherwise the whole
/// calendar years its holidays and special sessions fall in. A file with
/// neither must say it, since a calendar without a range cannot tell a
/// trading day from an unknown one.
fn covered_range(
    covers: Option<&RawCovers>,
    holidays: &HashMap<(Exchange, NaiveDate), String>,
    special: &HashMap<(Exchange, NaiveDate), SpecialSession>,
) -> Result<(NaiveDate, NaiveDate), CalendarError> {
    if let Some(c) = covers {
        if c.from > c.to {
            return Err(CalendarError::Invalid(format!(
                "covers.from {} is after covers.to {}",
                c.from, c.to
            )));
        }
        let outside = holidays
            .keys()
            .chain(special.keys())
            .map(|(_, d)| *d)
            .find(|d| *d < c.from || *d > c.to);
        if let Some(date) = outside {
            return Err(CalendarError::Invalid(format!(
                "{date} is listed but outside covers {} to {}",
                c.from, c.to
            )));
        }
        return Ok((c.from, c.to));
    }
    let dates = || holidays.keys().chain(special.keys()).map(|(_, d)| *d);
    let (Some(first), Some(last)) = (dates().min(), dates().max()) else {
        return Err(CalendarError::Invalid(
            "the calendar must say which dates it covers: add \"covers\": {\"from\": \"YYYY-MM-DD\", \"to\": \"YYYY-MM-DD\"}".to_owned(),
        ));
    };
    let start = NaiveDate::from_ymd_opt(first.year(), 1, 1);
    let end = NaiveDate::from_ymd_opt(last.year(), 12, 31);
    match (start, end) {
        (Some(start), Some(end)) => Ok((start, end)),
        _ => Err(CalendarError::Invalid(
            "the listed dates are out of range".to_owned(),
        )),
    }
}

#[derive(Debug, Clone, Copy)]
struct DaySession {
    open: NaiveTime,
    close: NaiveTime,
    pre_open: Option<(NaiveTime, NaiveTime)>,
    mis_cutoff: NaiveTime,
}
