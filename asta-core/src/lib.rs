//! Exact trading domain types for ASTA: the layer every other crate stands on.
//!
//! `asta-core` turns untrusted text into values that are valid by
//! construction: [`Symbol`], [`Exchange`], [`Side`], [`PriceType`],
//! [`Product`], [`Quantity`], [`Price`], [`Money`], [`OrderId`],
//! [`StrategyTag`], [`TradingMode`] and a complete [`OrderRequest`]. Each
//! newtype keeps its representation private; its constructor, `FromStr` and
//! serde all run the same checks, so an invalid value cannot be built or
//! deserialized, and every refusal is a typed error that says which rule
//! failed.
//!
//! The key design decision is **exact money**: [`Price`] and [`Money`] are
//! integers of 1/10,000 rupee (so the ₹0.0025 currency tick is exact), parsed
//! from decimal text only, printed canonically, with checked arithmetic and
//! 128-bit notionals. There is no float in any money path; a broker's JSON
//! float enters through exactly one documented rounding function,
//! [`Price::from_broker_decimal`].
//!
//! Beside the types:
//! - [`Instrument`] and [`InstrumentCatalog`]: tick size, lot size, freeze
//!   quantity and price band as data, and the order checks they imply (an
//!   unknown instrument is an error, never a pass);
//! - [`Clock`] with [`SystemClock`] and [`ManualClock`]: the only way the
//!   workspace reads time;
//! - [`MarketCalendar`]: NSE/BSE sessions, pre-open, MIS cut-off, holidays and
//!   special sessions in `Asia/Kolkata`, from a versioned data file;
//! - [`PublicError`]: the safe face of any failure (stable code, generic
//!   message, random reference), never carrying internal text;
//! - [`safe_file`]: the one implementation of crash-safe, private file
//!   writing (atomic replace, new private files that refuse symbolic links,
//!   private directories, lock files) that the vault, the audit trail, the
//!   risk state store and the command line all use.
//!
//! # Example
//!
//! ```
//! use asta_core::{
//!     Exchange, InstrumentCatalog, MarketCalendar, OrderRequest, PriceType, Product,
//!     Quantity, Side, StrategyTag, Symbol,
//! };
//! use chrono::{TimeZone, Utc};
//!
//! let catalog = InstrumentCatalog::from_csv_reader(
//!     "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
//!      NFO,NIFTY28NOV2424000CE,0.05,75,1800,,\n"
//!         .as_bytes(),
//! )?;
//! let order = OrderRequest::builder()
//!     .symbol(Symbol::new("NIFTY28NOV2424000CE")?)
//!     .exchange(Exchange::Nfo)
//!     .side(Side::Buy)
//!     .price_type(PriceType::Limit)
//!     .product(Product::Nrml)
//!     .quantity(Quantity::new(70)?)
//!     .price("120.05".parse()?)
//!     .strategy(StrategyTag::new("straddle")?)
//!     .build()?;
//!
//! let refusal = catalog.check_order(&order).unwrap_err();
//! assert_eq!(
//!     refusal.to_string(),
//!     "quantity 70 is not a multiple of lot size 75 for NIFTY28NOV2424000CE"
//! );
//!
//! let calendar = MarketCalendar::bundled()?;
//! let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 5, 0, 0).unwrap();
//! assert!(calendar.check_order_entry(Exchange::Nfo, Product::Nrml, saturday).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security notes
//!
//! - Symbols admit only `A-Z 0-9 & - _ .`: no whitespace, control characters,
//!   quotes, `;`, `<`, `>` or non-ASCII look-alikes can reach a broker request,
//!   a log line or a file name through a symbol.
//! - Error values echo at most a truncated, validated fragment of the input.
//!   [`PublicError`] echoes nothing.
//!
//! # Feature flags
//!
//! None.

mod calendar;
mod catalog;
mod clock;
mod decimal;
mod ident;
mod instrument;
mod ist;
mod money;
mod order;
mod order_kind;
mod price;
mod public_error;
mod quantity;
mod rfc3339;
pub mod safe_file;
mod symbol;
mod text_enum;
mod trading_mode;

/// chrono, re-exported: asta-core's API speaks its types (`DateTime<Utc>`,
/// `NaiveDate`), so a user needs no chrono dependency of their own.
pub use chrono;

pub use calendar::{
    CALENDAR_FORMAT, CalendarError, ClosedReason, MarketCalendar, MarketPhase, TradingHoursError,
};
pub use catalog::{CatalogError, InstrumentCatalog};
pub use clock::{Clock, ManualClock, SystemClock};
pub use decimal::{AmountError, SCALE_DIGITS, UNITS_PER_RUPEE};
pub use ident::{AlgoId, IdentError, OrderId, StrategyTag};
pub use instrument::{Instrument, InstrumentDataError, InstrumentError, PriceBand};
pub use ist::{ist_date, ist_local};
pub use money::Money;
pub use order::{OrderError, OrderRequest, OrderRequestBuilder};
pub use order_kind::{
    Exchange, ParseExchangeError, ParsePriceTypeError, ParseProductError, ParseSideError,
    PriceType, Product, Side,
};
pub use price::{MAX_PRICE_UNITS, Price};
pub use public_error::{
    ErrorCode, ErrorReference, MalformedReference, PublicCode, PublicError, UnknownErrorCode,
};
pub use quantity::{MAX_QUANTITY, Quantity, QuantityError};
pub use rfc3339::{Fraction, Rfc3339, serialize_utc};
pub use symbol::{MAX_SYMBOL_LEN, Symbol, SymbolError};
pub use trading_mode::{ParseTradingModeError, TradingMode};
