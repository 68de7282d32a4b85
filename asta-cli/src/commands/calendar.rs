//! `asta calendar import`: a market calendar file from an exchange's
//! holiday list, for when the built-in data runs out.
//!
//! The holiday list is CSV with a header, one row per date:
//!
//! ```text
//! date,name,exchanges[,open,close]
//! 2027-01-26,Republic Day,NSE BSE NFO BFO CDS BCD
//! 2027-10-29,Muhurat trading,NSE BSE NFO BFO,18:00,19:00
//! ```
//!
//! `exchanges` are separated by spaces; a row with `open` and `close` is a
//! special session (it replaces the day, even a weekend), any other row a
//! holiday. Session times come from the built-in calendar. The file covers
//! the whole calendar years of its dates unless `--from` and `--to` say
//! otherwise. The result is loaded back through asta-core's checks before
//! it is written, and it is written only as a new file.

use std::path::Path;

use asta_core::MarketCalendar;
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::cli::{CalendarArgs, CalendarCommand};
use crate::failure::{CommandResult, EXIT_OK, Failure};

/// The most rows a holiday list may have (a year has a few dozen).
const MAX_ROWS: usize = 10_000;

/// Runs one calendar subcommand.
pub fn run(args: &CalendarArgs) -> CommandResult {
    match &args.command {
        CalendarCommand::Import {
            holidays,
            out,
            from,
            to,
            version,
        } => {
            let text = std::fs::read_to_string(holidays).map_err(|e| {
                let hint = format!("name a readable holiday list (CSV): {}", holidays.display());
                if e.kind() == std::io::ErrorKind::NotFound {
                    Failure::not_found(hint, e)
                } else {
                    Failure::invalid(hint, e)
                }
            })?;
            let json = build(&text, *from, *to, version.as_deref())?;
            write_new(out, &json)?;
            let calendar = MarketCalendar::from_json_str(&json).map_err(|e| {
                Failure::internal("report a bug: the written calendar does not load", e)
            })?;
            let (start, end) = calendar.covers();
            crate::say!(
                "wrote {} (covers {start} to {end}); use it with [paths] calendar = \"{}\" in asta.toml",
                out.display(),
                out.display()
            );
            Ok(EXIT_OK)
        }
    }
}

/// The calendar JSON for the holiday list `text`, checked by loading it.
pub fn build(
    text: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    version: Option<&str>,
) -> Result<String, Failure> {
    let bad = |line: usize, what: String| {
        Failure::invalid(
            format!(
                "fix line {line} of the holiday list: {what} (expected date,name,exchanges[,open,close])"
            ),
            anyhow::anyhow!("holiday list line {line}: {what}"),
        )
    };
    let bundled: Value = serde_json::from_str(MarketCalendar::bundled_json())
        .map_err(|e| Failure::internal("the built-in calendar is unreadable", e))?;
    let mut holidays = Vec::new();
    let mut special = Vec::new();
    let mut dates = Vec::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header))
            if header
                .trim()
                .to_ascii_lowercase()
                .starts_with("date,name,exchanges") => {}
        _ => {
            return Err(bad(
                1,
                "the first line must be the header date,name,exchanges[,open,close]".to_owned(),
            ));
        }
    }
    for (index, raw) in lines {
        let line = index + 1;
        if line > MAX_ROWS {
            return Err(bad(line, format!("more than {MAX_ROWS} rows")));
        }
        if raw.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
        let (date, name, exchanges, times) = match fields.as_slice() {
            [d, n, e] => (*d, *n, *e, None),
            [d, n, e, o, c] => (*d, *n, *e, Some((*o, *c))),
            _ => return Err(bad(line, format!("{} fields", fields.len()))),
        };
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .map_err(|_| bad(line, format!("{date:?} is not a date as YYYY-MM-DD")))?;
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(bad(
                line,
                "the name must be 1 to 100 printable characters".to_owned(),
            ));
        }
        let exchanges: Vec<String> = exchanges
            .split_whitespace()
            .map(|e| {
                e.parse::<asta_core::Exchange>()
                    .map(|x| x.to_string())
                    .map_err(|_| bad(line, format!("{e:?} is not an exchange")))
            })
            .collect::<Result<_, _>>()?;
        if exchanges.is_empty() {
            return Err(bad(line, "no exchange".to_owned()));
        }
        dates.push(date);
        match times {
            None => holidays.push(json!({"date": date, "name": name, "exchanges": exchanges})),
            Some((open, close)) => special.push(json!({
                "date": date, "name": name, "open": open, "close": close, "exchanges": exchanges,
            })),
        }
    }
    let (Some(first), Some(last)) = (dates.iter().min(), dates.iter().max()) else {
        return Err(bad(2, "the list has no rows".to_owned()));
    };
    let year_start = |d: &NaiveDate| NaiveDate::from_ymd_opt(chrono::Datelike::year(d), 1, 1);
    let year_end = |d: &NaiveDate| NaiveDate::from_ymd_opt(chrono::Datelike::year(d), 12, 31);
    let from = from.or_else(|| year_start(first));
    let to = to.or_else(|| year_end(last));
    let version = version
        .map(str::to_owned)
        .unwrap_or_else(|| format!("import-{last}"));
    let calendar = json!({
        "format": asta_core::CALENDAR_FORMAT,
        "version": version,
        "source": "asta calendar import from an exchange holiday list; session times from the built-in calendar",
        "covers": {"from": from, "to": to},
        "sessions": bundled["sessions"],
        "holidays": holidays,
        "special_sessions": special,
    });
    let text = serde_json::to_string_pretty(&calendar)
        .map_err(|e| Failure::internal("report a bug", e))?;
    MarketCalendar::from_json_str(&text).map_err(|e| {
        Failure::invalid(
            format!("the holiday list does not make a valid calendar: {e}"),
            e,
        )
    })?;
    Ok(text)
}

/// Writes a new file at a user-named path: never over an existing file,
/// never through a symbolic link.
fn write_new(path: &Path, text: &str) -> Result<(), Failure> {
    asta_core::safe_file::write_new_atomic_with(path, 0o644, |file| {
        use std::io::Write;
        file.write_all(text.as_bytes())
    })
    .map_err(|e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::already_exists(
                "name a new file for the calendar; existing files are never replaced",
                e,
            )
        } else {
            Failure::internal(format!("cannot write {}", path.display()), e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use asta_core::{ClosedReason, Exchange, MarketPhase};
    use chrono::{TimeZone, Utc};

    const LIST: &str = "date,name,exchanges,open,close
2027-01-26,Republic Day,NSE BSE NFO BFO CDS BCD
2027-10-30,Muhurat trading,NSE BSE NFO BFO,18:00,19:00
";

    #[test]
    fn a_holiday_list_becomes_a_calendar_for_its_years() {
        let text = build(LIST, None, None, None).unwrap();
        let cal = MarketCalendar::from_json_str(&text).unwrap();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(cal.covers(), (d(2027, 1, 1), d(2027, 12, 31)));
        // 04:30 UTC is 10:00 IST.
        let at = |m, day, h| Utc.with_ymd_and_hms(2027, m, day, h, 30, 0).unwrap();
        assert_eq!(
            cal.phase(Exchange::Nse, at(1, 26, 4)),
            MarketPhase::Closed(ClosedReason::Holiday {
                name: "Republic Day".to_owned()
            })
        );
        assert_eq!(cal.phase(Exchange::Nse, at(1, 27, 4)), MarketPhase::Open);
        // The Saturday special session: 18:30 IST is 13:00 UTC.
        let muhurat = Utc.with_ymd_and_hms(2027, 10, 30, 13, 0, 0).unwrap();
        assert_eq!(cal.phase(Exchange::Nse, muhurat), MarketPhase::Open);
    }

    #[test]
    fn bad_lists_are_refused_with_the_line() {
        for (list, line) in [
            ("date,name\n", "line 1"),
            ("date,name,exchanges\n2027-13-01,X,NSE\n", "line 2"),
            ("date,name,exchanges\n2027-01-26,X,NASDAQ\n", "line 2"),
            ("date,name,exchanges\n2027-01-26,X\n", "line 2"),
            ("date,name,exchanges\n", "no rows"),
            (
                "date,name,exchanges\n2027-01-26,A,NSE\n2027-01-26,B,NSE\n",
                "listed twice",
            ),
        ] {
            let failure = build(list, None, None, None).unwrap_err();
            assert_eq!(failure.exit, crate::failure::EXIT_INVALID, "{list}");
            assert!(failure.hint.contains(line), "{list}: {}", failure.hint);
        }
    }
}
