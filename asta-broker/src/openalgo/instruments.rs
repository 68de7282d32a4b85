//! OpenAlgo's instrument list (`GET /api/v1/instruments`), read into
//! asta-core [`Instrument`]s, one verdict per row.
//!
//! # Where the shape comes from
//!
//! The project's contract data (`shared/contracts/`) has no recorded
//! exchange for this endpoint. The shape handled here comes from:
//!
//! - OpenAlgo's documentation, API Documentation > V1 > Data API >
//!   Instruments (docs.openalgo.in): `GET /api/v1/instruments` with query
//!   parameters `apikey` (required), `exchange` (optional: NSE, BSE, NFO,
//!   BFO, BCD, CDS, MCX, NSE_INDEX, BSE_INDEX) and `format` (`json`, the
//!   default, or `csv`); errors 401 "API key is required", 403 "Invalid
//!   openalgo apikey", 400 "Invalid exchange or format".
//! - The OpenAlgo Python SDK (`openalgo` 1.0.47 on PyPI,
//!   `openalgo/data.py`, `instruments()`): a GET with `params={"apikey",
//!   "exchange"}`, one call per exchange, rows taken from `data`.
//! - OpenAlgo's server source (`restx_api/instruments.py` and
//!   `services/instruments_service.py` in marketcalls/openalgo): the
//!   resource has only a GET; a success is HTTP 200 with
//!   `{"status":"success","message":"Found N instruments","data":[...]}`
//!   (no rows: `"data": []`, "No instruments found"), each row
//!   `{"symbol","brsymbol","name","exchange","brexchange","token","expiry",
//!   "strike","lotsize","instrumenttype","tick_size"}` straight from its
//!   symbol table; a validation error is 400 with `message` an object of
//!   field errors (not text); anything else 500 "An error occurred while
//!   fetching instruments". The answer has no `mode`.
//!
//! What this module reads of a row: `symbol`, `exchange`, `tick_size`
//! (rupees) and `lotsize`. Numbers are accepted as JSON numbers or as text,
//! as in every other OpenAlgo answer, and converted exactly
//! ([`Price::from_broker_decimal`] on the number's own text, never a float).
//! The documented row has no freeze quantity; a `freeze_qty` field is read
//! if a server sends one (an assumption, not seen in any source above).
//! Other fields (`strike`, `expiry`, names, tokens) are ignored.

use std::collections::HashMap;
use std::fmt;

use asta_core::{Exchange, Instrument, Price, Quantity, Symbol};
use serde_json::Value;

use super::client::{Endpoint, Transport};
use super::wire::{Object, number_text};
use super::{OpenAlgoBroker, Retry};
use crate::BrokerError;
use crate::error::sanitize_text;

/// The most characters of a server's text echoed in a refusal reason.
const ECHO_CHARS: usize = 40;

/// What an OpenAlgo server listed for one exchange, row by row: the rows
/// that are valid asta-core [`Instrument`]s, and the others with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstrumentList {
    /// The exchange asked for.
    pub exchange: Exchange,
    /// How many rows the answer had.
    pub rows: usize,
    /// The valid instruments, in the server's order, one per exchange and
    /// symbol.
    pub instruments: Vec<Instrument>,
    /// The rows refused, by row number.
    pub refused: Vec<RefusedInstrument>,
}

/// A row of the instrument list that is not a valid instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RefusedInstrument {
    /// Its position in the answer's `data`, from 1.
    pub row: usize,
    /// Its `symbol` as the server sent it (sanitized, at most 40
    /// characters), when it had one as text.
    pub symbol: Option<String>,
    /// What is wrong with it, and what was expected.
    pub reason: String,
}

impl fmt::Display for RefusedInstrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.symbol {
            Some(symbol) => write!(f, "row {} ({symbol}): {}", self.row, self.reason),
            None => write!(f, "row {}: {}", self.row, self.reason),
        }
    }
}

impl OpenAlgoBroker {
    /// The server's instrument list for `exchange` (`GET instruments`),
    /// each row checked through asta-core's [`Instrument`]: symbol rules,
    /// the exchange asked for, a tick size above zero, a whole lot size,
    /// and (when sent) a freeze quantity above the lot size. Invalid rows
    /// are returned in [`InstrumentList::refused`] with the reason, never
    /// guessed at; rows repeating an exchange and symbol are refused (all
    /// of them when their values differ).
    ///
    /// A read call: the adapter's timeouts, client-side rate limit and read
    /// retries apply; the body is bounded by
    /// [`OpenAlgoConfig::max_instrument_list_bytes`](super::OpenAlgoConfig::max_instrument_list_bytes).
    /// The answer carries no `mode`, so it is not checked against the
    /// adapter's server mode.
    ///
    /// # Errors
    ///
    /// An index segment (`NSE_INDEX`, `BSE_INDEX`: no tradable instruments)
    /// is [`BrokerError::Rejected`] and nothing is sent. Otherwise the
    /// transport's classification: 401/403 [`BrokerError::AuthFailed`], 400
    /// and other refusals `Rejected`, 5xx and timeouts
    /// [`BrokerError::Unavailable`] (after the retries), an oversized,
    /// non-JSON or misshapen answer (no `data` list)
    /// [`BrokerError::Protocol`].
    ///
    /// # Security
    ///
    /// OpenAlgo takes the key of this endpoint only in the query string
    /// (`?apikey=`), so it is in the request URL: encrypted on the wire by
    /// TLS, but a reverse proxy or the server itself may log it. The adapter
    /// never logs the URL nor shows it in an error.
    pub async fn instruments(&self, exchange: Exchange) -> Result<InstrumentList, BrokerError> {
        if !exchange.is_tradable() {
            return Err(BrokerError::rejected(&format!(
                "{exchange} is an index segment with no tradable instruments; \
                 ask for NSE, BSE, NFO, BFO, CDS, BCD or MCX (nothing was sent)"
            )));
        }
        let body = read_list(&self.transport, &self.retry, exchange).await?;
        parse_list(&body, exchange).map_err(|detail| BrokerError::Protocol {
            detail: format!("instruments: {detail}"),
        })
    }
}

/// `GET instruments?exchange=..` with bounded retries on transient failures.
async fn read_list(
    transport: &Transport,
    retry: &Retry,
    exchange: Exchange,
) -> Result<Object, BrokerError> {
    let query = [("exchange", exchange.as_str()), ("format", "json")];
    let mut backoff = retry.backoff;
    let mut attempt = 0;
    loop {
        match transport.get(Endpoint::Instruments, &query).await {
            Err(e) if e.is_transient() && attempt < retry.retries => {
                attempt += 1;
                tracing::debug!(
                    endpoint = Endpoint::Instruments.name(),
                    attempt,
                    "retrying read-only call"
                );
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            other => return other,
        }
    }
}

/// Reads a success answer's `data` rows.
pub(crate) fn parse_list(body: &Object, exchange: Exchange) -> Result<InstrumentList, String> {
    let rows = match body.get("data") {
        Some(Value::Array(rows)) => rows,
        Some(_) => return Err("field `data` is not a list of instruments".into()),
        None => return Err("missing field `data`".into()),
    };
    let parsed: Vec<(Option<String>, Result<Instrument, String>)> = rows
        .iter()
        .map(|row| match row {
            Value::Object(obj) => (symbol_text(obj), parse_row(obj, exchange)),
            _ => (None, Err("the row is not a JSON object".into())),
        })
        .collect();

    // Where each exchange and symbol first appears, and whether a later
    // row gives it other values.
    let mut first: HashMap<(Exchange, &Symbol), (usize, bool)> = HashMap::new();
    for (index, (_, result)) in parsed.iter().enumerate() {
        if let Ok(instrument) = result {
            let key = (instrument.exchange(), instrument.symbol());
            match first.get_mut(&key) {
                None => {
                    first.insert(key, (index, false));
                }
                Some((at, conflict)) => {
                    if parsed
                        .get(*at)
                        .is_some_and(|(_, r)| r.as_ref() != Ok(instrument))
                    {
                        *conflict = true;
                    }
                }
            }
        }
    }

    let mut instruments = Vec::new();
    let mut refused = Vec::new();
    for (index, (symbol, result)) in parsed.iter().enumerate() {
        let row = index + 1;
        let verdict = match result {
            Err(reason) => Err(reason.clone()),
            Ok(instrument) => {
                let key = (instrument.exchange(), instrument.symbol());
                match first.get(&key) {
                    Some((_, true)) => Err(format!(
                        "{} {} is listed more than once with different values; expected one row per exchange and symbol",
                        instrument.exchange(),
                        instrument.symbol()
                    )),
                    Some((at, false)) if *at != index => Err(format!(
                        "repeats row {} ({} {}); expected one row per exchange and symbol",
                        at + 1,
                        instrument.exchange(),
                        instrument.symbol()
                    )),
                    _ => Ok(instrument.clone()),
                }
            }
        };
        match verdict {
            Ok(instrument) => instruments.push(instrument),
            Err(reason) => refused.push(RefusedInstrument {
                row,
                symbol: symbol.clone(),
                reason,
            }),
        }
    }
    Ok(InstrumentList {
        exchange,
        rows: rows.len(),
        instruments,
        refused,
    })
}

/// The row's `symbol`, sanitized, for showing which row was refused.
fn symbol_text(obj: &Object) -> Option<String> {
    obj.get("symbol")
        .and_then(Value::as_str)
        .map(|s| sanitize_text(s, ECHO_CHARS))
}

/// Untrusted text, safe to echo in a reason.
fn echo(text: &str) -> String {
    format!("{:?}", sanitize_text(text, ECHO_CHARS))
}

/// A field that must be text.
fn text<'a>(obj: &'a Object, name: &str) -> Result<&'a str, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(format!("missing `{name}`")),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(format!("`{name}` is not text")),
    }
}

/// A field that must be a number, as a JSON number or as text; `None`
/// when absent, null or empty text.
fn number(obj: &Object, name: &str) -> Result<Option<String>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match number_text(value) {
            Some(t) if t.is_empty() => Ok(None),
            Some(t) => Ok(Some(t)),
            None => Err(format!("`{name}` is neither a number nor numeric text")),
        },
    }
}

/// A count such as a lot size: digits, optionally followed by a point and
/// zeros (`75`, `"75"`, `75.0`).
fn whole(text: &str) -> Option<u64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b == b'0')
    {
        return None;
    }
    int.parse().ok()
}

fn quantity(obj: &Object, name: &str) -> Result<Option<Quantity>, String> {
    let Some(t) = number(obj, name)? else {
        return Ok(None);
    };
    let value = whole(&t).ok_or_else(|| {
        format!(
            "`{name}` {} is not a whole number; expected a count of units such as 75",
            echo(&t)
        )
    })?;
    Quantity::new(value)
        .map(Some)
        .map_err(|e| format!("`{name}` {value}: {e}"))
}

/// One row, checked through asta-core's types.
fn parse_row(obj: &Object, asked: Exchange) -> Result<Instrument, String> {
    let symbol_raw = text(obj, "symbol")?;
    let symbol = Symbol::new(symbol_raw).map_err(|e| format!("`symbol`: {e}"))?;
    let exchange_raw = text(obj, "exchange")?;
    let exchange: Exchange = exchange_raw.trim().parse().map_err(|_| {
        format!(
            "`exchange` {} is not an exchange; expected {asked}",
            echo(exchange_raw)
        )
    })?;
    if exchange != asked {
        return Err(format!(
            "`exchange` is {exchange} in the list asked for {asked}"
        ));
    }
    let tick_text = number(obj, "tick_size")?
        .ok_or_else(|| "missing `tick_size`; expected a price step such as 0.05".to_owned())?;
    let tick_size = Price::from_broker_decimal(&tick_text)
        .map_err(|e| format!("`tick_size` {}: {e}", echo(&tick_text)))?;
    let lot_size = quantity(obj, "lotsize")?
        .ok_or_else(|| "missing `lotsize`; expected a whole number of units".to_owned())?;
    let freeze = quantity(obj, "freeze_qty")?;
    Instrument::new(symbol, exchange, tick_size, lot_size, freeze, None).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "tests: a failed unwrap is a failed test"
    )]

    use serde_json::json;

    use super::*;

    fn list(data: Value) -> InstrumentList {
        let body = json!({"status": "success", "message": "Found", "data": data});
        parse_list(body.as_object().unwrap(), Exchange::Nfo).unwrap()
    }

    fn one(row: Value) -> Result<Instrument, String> {
        let parsed = list(json!([row]));
        match parsed.refused.first() {
            Some(refused) => Err(refused.reason.clone()),
            None => Ok(parsed.instruments.into_iter().next().unwrap()),
        }
    }

    fn nifty() -> Value {
        json!({"symbol": "NIFTY28NOV2424000CE", "brsymbol": "NIFTY28NOV24C24000", "name": "NIFTY",
               "exchange": "NFO", "brexchange": "NFO", "token": "43650", "expiry": "28-NOV-24",
               "strike": 24000.0, "lotsize": 75, "instrumenttype": "CE", "tick_size": 0.05})
    }

    #[test]
    fn a_documented_row_is_an_instrument() {
        let instrument = one(nifty()).unwrap();
        assert_eq!(instrument.symbol().as_str(), "NIFTY28NOV2424000CE");
        assert_eq!(instrument.exchange(), Exchange::Nfo);
        assert_eq!(instrument.tick_size().to_string(), "0.05");
        assert_eq!(instrument.lot_size().get(), 75);
        assert_eq!(instrument.freeze_quantity(), None);
    }

    #[test]
    fn numbers_as_text_whole_floats_and_float_noise_are_read_exactly() {
        for (tick, lot, want_tick, want_lot) in [
            (json!("0.05"), json!("75"), "0.05", 75),
            (json!(0.0025), json!(1000.0), "0.0025", 1000),
            (json!("0.05000000000000000277"), json!("75.00"), "0.05", 75),
            (json!(1), json!(" 50 "), "1", 50),
        ] {
            let mut row = nifty();
            row["tick_size"] = tick;
            row["lotsize"] = lot;
            let instrument = one(row).unwrap();
            assert_eq!(instrument.tick_size().to_string(), want_tick);
            assert_eq!(instrument.lot_size().get(), want_lot);
        }
    }

    #[test]
    fn a_freeze_quantity_is_read_when_sent() {
        let mut row = nifty();
        row["freeze_qty"] = json!("1800");
        assert_eq!(one(row).unwrap().freeze_quantity().unwrap().get(), 1800);
        let mut row = nifty();
        row["freeze_qty"] = json!(50);
        let reason = one(row).unwrap_err();
        assert!(
            reason.contains("freeze quantity 50 must be above the lot size 75"),
            "{reason}"
        );
    }

    #[test]
    fn bad_rows_are_refused_with_the_reason() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("symbol", json!(null), "missing `symbol`"),
            ("symbol", json!(42), "`symbol` is not text"),
            ("symbol", json!("nifty"), "lowercase"),
            ("symbol", json!("SBIN;DROP"), "forbidden character"),
            (
                "exchange",
                json!("NSE"),
                "`exchange` is NSE in the list asked for NFO",
            ),
            (
                "exchange",
                json!("XNSE"),
                "is not an exchange; expected NFO",
            ),
            ("tick_size", json!(0), "tick size must be above zero"),
            ("tick_size", json!(-0.05), "`tick_size` \"-0.05\""),
            ("tick_size", json!("abc"), "`tick_size` \"abc\""),
            ("tick_size", json!(""), "missing `tick_size`"),
            ("tick_size", json!([1]), "neither a number nor numeric text"),
            ("lotsize", json!(null), "missing `lotsize`"),
            ("lotsize", json!(0), "`lotsize` 0"),
            ("lotsize", json!(7.5), "not a whole number"),
            ("lotsize", json!("1e3"), "not a whole number"),
            ("lotsize", json!(-75), "not a whole number"),
        ];
        for (field, value, want) in cases {
            let mut row = nifty();
            row[field] = value.clone();
            let reason = one(row).unwrap_err();
            assert!(reason.contains(want), "{field} = {value}: {reason}");
        }
        let parsed = list(json!(["NIFTY", nifty()]));
        assert_eq!(parsed.refused[0].reason, "the row is not a JSON object");
        assert_eq!(parsed.refused[0].row, 1);
        assert_eq!(parsed.instruments.len(), 1);
    }

    #[test]
    fn echoed_text_is_sanitized_and_bounded() {
        let key = "0123456789abcdef0123456789abcdef0123456789abcdef";
        let mut row = nifty();
        row["symbol"] = json!(format!("bad\u{1b}[31m{key}"));
        row["tick_size"] = json!(format!("x{key}"));
        let parsed = list(json!([row]));
        let refused = &parsed.refused[0];
        let shown = refused.to_string();
        assert!(!shown.contains(key), "{shown}");
        assert!(!shown.contains('\u{1b}'), "{shown}");
        assert!(refused.symbol.as_ref().unwrap().chars().count() <= ECHO_CHARS + 1);
    }

    #[test]
    fn repeated_rows_are_refused_and_conflicting_ones_entirely() {
        let mut other = nifty();
        other["lotsize"] = json!(50);
        let mut sbin = nifty();
        sbin["symbol"] = json!("BANKNIFTY28NOV2452000CE");
        let parsed = list(json!([nifty(), sbin.clone(), sbin, nifty(), other]));
        assert_eq!(parsed.rows, 5);
        let kept: Vec<&str> = parsed
            .instruments
            .iter()
            .map(|i| i.symbol().as_str())
            .collect();
        assert_eq!(kept, ["BANKNIFTY28NOV2452000CE"]);
        let rows: Vec<usize> = parsed.refused.iter().map(|r| r.row).collect();
        assert_eq!(rows, [1, 3, 4, 5]);
        assert!(parsed.refused[1].reason.starts_with("repeats row 2"));
        assert!(
            parsed.refused[0]
                .reason
                .contains("more than once with different values")
        );
    }

    #[test]
    fn a_misshapen_answer_is_an_error_not_an_empty_list() {
        for body in [
            json!({"status": "success"}),
            json!({"status": "success", "data": {}}),
        ] {
            assert!(parse_list(body.as_object().unwrap(), Exchange::Nse).is_err());
        }
        let empty = json!({"status": "success", "message": "No instruments found", "data": []});
        let parsed = parse_list(empty.as_object().unwrap(), Exchange::Nse).unwrap();
        assert_eq!((parsed.rows, parsed.instruments.len()), (0, 0));
    }

    #[test]
    fn whole_numbers() {
        for (text, want) in [
            ("75", Some(75)),
            ("75.0", Some(75)),
            ("75.", Some(75)),
            ("075", Some(75)),
            ("75.5", None),
            (".0", None),
            ("", None),
            ("-1", None),
            ("+1", None),
            ("1e2", None),
            ("99999999999999999999999", None),
        ] {
            assert_eq!(whole(text), want, "{text}");
        }
    }
}
