//! The instrument catalog: which instruments exist and their rules.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{
    Exchange, Instrument, InstrumentError, OrderRequest, Price, PriceBand, Quantity, Symbol,
};

/// The instruments an application may trade, keyed by exchange and symbol.
///
/// Loaded from a CSV or JSON file. An order for an instrument that is not in
/// the catalog is refused ([`InstrumentError::Unknown`]), never passed.
///
/// CSV: a header line, then one instrument per line:
///
/// ```text
/// exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper
/// NSE,SBIN,0.05,1,,720.1,880.1
/// NFO,NIFTY28NOV2424000CE,0.05,75,1800,,
/// ```
///
/// JSON: `{"instruments": [{"symbol": "SBIN", "exchange": "NSE",
/// "tick_size": "0.05", "lot_size": 1, "freeze_quantity": null,
/// "band": {"lower": "720.1", "upper": "880.1"}}]}` (unknown fields refused).
///
/// ```
/// use asta_core::InstrumentCatalog;
///
/// let csv = "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
///            NSE,SBIN,0.05,1,,,\n";
/// let catalog = InstrumentCatalog::from_csv_reader(csv.as_bytes())?;
/// assert_eq!(catalog.len(), 1);
/// # Ok::<(), asta_core::CatalogError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct InstrumentCatalog {
    /// By exchange, then symbol: a lookup borrows the symbol, no allocation.
    instruments: HashMap<Exchange, HashMap<Symbol, Instrument>>,
    len: usize,
}

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The file could not be read.
    #[error("cannot read instrument catalog {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file name ends in neither `.csv` nor `.json`.
    #[error("instrument catalog {path} must end in .csv or .json")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A line or JSON entry is malformed.
    #[error("instrument catalog line {line}: {message}")]
    Malformed {
        /// 1-based line number in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The same exchange and symbol appear twice.
    #[error("instrument catalog line {line}: duplicate instrument {exchange}:{symbol}")]
    Duplicate {
        /// 1-based line number of the second occurrence (0 when unknown, for JSON).
        line: u64,
        /// The exchange.
        exchange: Exchange,
        /// The symbol.
        symbol: Symbol,
    },
}

const CSV_HEADER: [&str; 7] = [
    "exchange",
    "symbol",
    "tick_size",
    "lot_size",
    "freeze_quantity",
    "band_lower",
    "band_upper",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCatalog {
    instruments: Vec<Instrument>,
}

impl InstrumentCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads a catalog from a `.csv` or `.json` file.
    pub fn from_path(path: &Path) -> Result<Self, CatalogError> {
        let io = |source| CatalogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match extension.to_ascii_lowercase().as_str() {
            "csv" => Self::from_csv_reader(std::fs::File::open(path).map_err(io)?),
            "json" => {
                let mut text = String::new();
                std::fs::File::open(path)
                    .and_then(|mut f| f.read_to_string(&mut text))
                    .map_err(io)?;
                Self::from_json_str(&text)
            }
            _ => Err(CatalogError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Loads a catalog from CSV text (see the type docs for the columns).
    pub fn from_csv_reader<R: Read>(reader: R) -> Result<Self, CatalogError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::None)
            .from_reader(reader);
        let malformed = |line: u64, message: String| CatalogError::Malformed { line, message };
        let headers = csv
            .headers()
            .map_err(|e| malformed(1, e.to_string()))?
            .clone();
        if headers.iter().ne(CSV_HEADER.iter().copied()) {
            return Err(malformed(
                1,
                format!("header must be exactly: {}", CSV_HEADER.join(",")),
            ));
        }
        let mut catalog = Self::new();
        for record in csv.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                malformed(line, csv_error_message(&e))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let field = |index: usize| record.get(index).unwrap_or("");
            let parse_err = |column: &str, error: &dyn std::fmt::Display| {
                malformed(line, format!("{column}: {error}"))
            };
            let exchange: Exchange = field(0).parse().map_err(|e| parse_err("exchange", &e))?;
            let symbol: Symbol = field(1).parse().map_err(|e| parse_err("symbol", &e))?;
            let tick_size: Price = field(2).parse().map_err(|e| parse_err("tick_size", &e))?;
            let lot_size: Quantity = field(3).parse().map_err(|e| parse_err("lot_size", &e))?;
            let freeze_quantity = optional(field(4))
                .map(str::parse::<Quantity>)
                .transpose()
                .map_err(|e| parse_err("freeze_quantity", &e))?;
            let lower = optional(field(5))
                .map(str::parse::<Price>)
                .transpose()
                .map_err(|e| parse_err("band_lower", &e))?;
            let upper = optional(field(6))
                .map(str::parse::<Price>)
                .transpose()
                .map_err(|e| parse_err("band_upper", &e))?;
            let band = match (lower, upper) {
                (Some(lower), Some(upper)) => {
                    Some(PriceBand::new(lower, upper).map_err(|e| parse_err("band", &e))?)
                }
                (None, None) => None,
                _ => {
                    return Err(malformed(
                        line,
                        "band: give both band_lower and band_upper, or neither".to_owned(),
                    ));
                }
            };
            let instrument =
                Instrument::new(symbol, exchange, tick_size, lot_size, freeze_quantity, band)
                    .map_err(|e| parse_err("instrument", &e))?;
            catalog.insert_at(instrument, line)?;
        }
        Ok(catalog)
    }

    /// Loads a catalog from JSON text (see the type docs for the shape).
    pub fn from_json_str(text: &str) -> Result<Self, CatalogError> {
        let parsed: JsonCatalog =
            serde_json::from_str(text).map_err(|e| CatalogError::Malformed {
                line: e.line() as u64,
                message: e.to_string(),
            })?;
        let mut catalog = Self::new();
        for instrument in parsed.instruments {
            catalog.insert_at(instrument, 0)?;
        }
        Ok(catalog)
    }

    /// Adds an instrument; a second instrument with the same exchange and
    /// symbol is an error.
    pub fn insert(&mut self, instrument: Instrument) -> Result<(), CatalogError> {
        self.insert_at(instrument, 0)
    }

    fn insert_at(&mut self, instrument: Instrument, line: u64) -> Result<(), CatalogError> {
        let by_symbol = self.instruments.entry(instrument.exchange()).or_default();
        if by_symbol.contains_key(instrument.symbol()) {
            return Err(CatalogError::Duplicate {
                line,
                exchange: instrument.exchange(),
                symbol: instrument.symbol().clone(),
            });
        }
        by_symbol.insert(instrument.symbol().clone(), instrument);
        self.len += 1;
        Ok(())
    }

    /// The instrument for `exchange` and `symbol`.
    pub fn get(&self, exchange: Exchange, symbol: &Symbol) -> Result<&Instrument, InstrumentError> {
        self.instruments
            .get(&exchange)
            .and_then(|by_symbol| by_symbol.get(symbol))
            .ok_or_else(|| InstrumentError::Unknown {
                exchange,
                symbol: symbol.clone(),
            })
    }

    /// Checks an order against its instrument; an unknown instrument fails.
    pub fn check_order(&self, order: &OrderRequest) -> Result<&Instrument, InstrumentError> {
        let instrument = self.get(order.exchange(), order.symbol())?;
        instrument.check_order(order)?;
        Ok(instrument)
    }

    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All instruments, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.instruments.values().flat_map(HashMap::values)
    }
}

fn optional(cell: &str) -> Option<&str> {
    if cell.is_empty() { None } else { Some(cell) }
}

fn csv_error_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} columns, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "line is not valid UTF-8".to_owned(),
        _ => "malformed CSV".to_owned(),
    }
}
