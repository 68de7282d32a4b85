//! Instrument metadata and the rules an order must meet for its instrument.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Exchange, OrderRequest, Price, Quantity, Symbol};

/// The daily price band (circuit limits) of an instrument, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawBand")]
pub struct PriceBand {
    lower: Price,
    upper: Price,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    lower: Price,
    upper: Price,
}

impl TryFrom<RawBand> for PriceBand {
    type Error = InstrumentDataError;

    fn try_from(raw: RawBand) -> Result<Self, Self::Error> {
        PriceBand::new(raw.lower, raw.upper)
    }
}

impl PriceBand {
    /// A band from `lower` to `upper` inclusive; `lower` must not exceed `upper`.
    pub fn new(lower: Price, upper: Price) -> Result<Self, InstrumentDataError> {
        if lower > upper {
            Err(InstrumentDataError::InvertedBand { lower, upper })
        } else {
            Ok(Self { lower, upper })
        }
    }

    /// The lowest price allowed.
    pub fn lower(&self) -> Price {
        self.lower
    }

    /// The highest price allowed.
    pub fn upper(&self) -> Price {
        self.upper
    }

    /// Whether `price` is inside the band.
    pub fn contains(&self, price: Price) -> bool {
        self.lower <= price && price <= self.upper
    }
}

/// Why instrument data is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstrumentDataError {
    /// A tick size of zero.
    #[error("tick size must be above zero")]
    ZeroTick,
    /// A band whose lower limit is above its upper limit.
    #[error("price band lower limit {lower} is above upper limit {upper}")]
    InvertedBand {
        /// Lower limit.
        lower: Price,
        /// Upper limit.
        upper: Price,
    },
    /// A freeze quantity not above the lot size (no order could ever pass).
    #[error("freeze quantity {freeze} must be above the lot size {lot}")]
    FreezeBelowLot {
        /// Freeze quantity.
        freeze: Quantity,
        /// Lot size.
        lot: Quantity,
    },
    /// An index segment (quote-only) in a catalog of tradable instruments.
    #[error("{exchange} is an index segment; it has no tradable instruments")]
    NotTradable {
        /// The exchange.
        exchange: Exchange,
    },
}

/// What an exchange says about one tradable instrument: tick size, lot size,
/// freeze quantity and (optionally) today's price band.
///
/// Tick sizes are data, not constants: NSE reviews them monthly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawInstrument")]
pub struct Instrument {
    symbol: Symbol,
    exchange: Exchange,
    tick_size: Price,
    lot_size: Quantity,
    #[serde(skip_serializing_if = "Option::is_none")]
    freeze_quantity: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    band: Option<PriceBand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstrument {
    symbol: Symbol,
    exchange: Exchange,
    tick_size: Price,
    lot_size: Quantity,
    #[serde(default)]
    freeze_quantity: Option<Quantity>,
    #[serde(default)]
    band: Option<PriceBand>,
}

impl TryFrom<RawInstrument> for Instrument {
    type Error = InstrumentDataError;

    fn try_from(raw: RawInstrument) -> Result<Self, Self::Error> {
        Instrument::new(
            raw.symbol,
            raw.exchange,
            raw.tick_size,
            raw.lot_size,
            raw.freeze_quantity,
            raw.band,
        )
    }
}

/// Why an order does not meet its instrument's rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InstrumentError {
    /// The instrument is not in the catalog: never a pass.
    #[error("unknown instrument {symbol} on {exchange}")]
    Unknown {
        /// The exchange.
        exchange: Exchange,
        /// The symbol.
        symbol: Symbol,
    },
    /// The quantity is not a whole number of lots.
    #[error("quantity {quantity} is not a multiple of lot size {lot_size} for {symbol}")]
    LotMultiple {
        /// The symbol.
        symbol: Symbol,
        /// The order quantity.
        quantity: Quantity,
        /// The lot size.
        lot_size: Quantity,
    },
    /// The quantity is at or above the exchange's freeze quantity.
    #[error(
        "quantity {quantity} is at or above the freeze quantity {freeze_quantity} for {symbol}; split the order"
    )]
    FreezeQuantity {
        /// The symbol.
        symbol: Symbol,
        /// The order quantity.
        quantity: Quantity,
        /// The freeze quantity.
        freeze_quantity: Quantity,
    },
    /// A price or trigger price off the tick grid.
    #[error("{field} {price} is not a multiple of tick size {tick_size} for {symbol}")]
    OffTick {
        /// The symbol.
        symbol: Symbol,
        /// `price` or `trigger price`.
        field: &'static str,
        /// The offending price.
        price: Price,
        /// The tick size.
        tick_size: Price,
    },
    /// A price or trigger price outside the day's band.
    #[error("{field} {price} is outside the price band {lower}..={upper} for {symbol}")]
    OutsideBand {
        /// The symbol.
        symbol: Symbol,
        /// `price` or `trigger price`.
        field: &'static str,
        /// The offending price.
        price: Price,
        /// Lower limit.
        lower: Price,
        /// Upper limit.
        upper: Price,
    },
}

impl Instrument {
    /// Instrument data, checked for consistency.
    pub fn new(
        symbol: Symbol,
        exchange: Exchange,
        tick_size: Price,
        lot_size: Quantity,
        freeze_quantity: Option<Quantity>,
        band: Option<PriceBand>,
    ) -> Result<Self, InstrumentDataError> {
        if !exchange.is_tradable() {
            return Err(InstrumentDataError::NotTradable { exchange });
        }
        if tick_size == Price::ZERO {
            return Err(InstrumentDataError::ZeroTick);
        }
        if let Some(freeze) = freeze_quantity
            && freeze <= lot_size
        {
            return Err(InstrumentDataError::FreezeBelowLot {
                freeze,
                lot: lot_size,
            });
        }
        Ok(Self {
            symbol,
            exchange,
            tick_size,
            lot_size,
            freeze_quantity,
            band,
        })
    }

    /// The symbol.
    pub fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    /// The exchange segment.
    pub fn exchange(&self) -> Exchange {
        self.exchange
    }

    /// The tick size.
    pub fn tick_size(&self) -> Price {
        self.tick_size
    }

    /// The lot size (1 for cash equities).
    pub fn lot_size(&self) -> Quantity {
        self.lot_size
    }

    /// The freeze quantity, if the exchange sets one.
    pub fn freeze_quantity(&self) -> Option<Quantity> {
        self.freeze_quantity
    }

    /// Today's price band, if known.
    pub fn band(&self) -> Option<PriceBand> {
        self.band
    }

    /// This instrument with another price band (bands change daily).
    pub fn with_band(mut self, band: Option<PriceBand>) -> Self {
        self.band = band;
        self
    }

    /// Checks a quantity: whole lots, and below the freeze quantity.
    ///
    /// NSE freezes an order whose quantity is at or above the freeze limit, so
    /// such a quantity is refused here (split the order instead).
    pub fn check_quantity(&self, quantity: Quantity) -> Result<(), InstrumentError> {
        if !quantity.is_multiple_of(self.lot_size) {
            return Err(InstrumentError::LotMultiple {
                symbol: self.symbol.clone(),
                quantity,
                lot_size: self.lot_size,
            });
        }
        if let Some(freeze_quantity) = self.freeze_quantity
            && quantity >= freeze_quantity
        {
            return Err(InstrumentError::FreezeQuantity {
                symbol: self.symbol.clone(),
                quantity,
                freeze_quantity,
            });
        }
        Ok(())
    }

    /// Checks a price (`field` names it in the error): on the tick grid and
    /// inside the band when one is known.
    pub fn check_price(&self, field: &'static str, price: Price) -> Result<(), InstrumentError> {
        if !price.is_multiple_of(self.tick_size) {
            return Err(InstrumentError::OffTick {
                symbol: self.symbol.clone(),
                field,
                price,
                tick_size: self.tick_size,
            });
        }
        if let Some(band) = self.band
            && !band.contains(price)
        {
            return Err(InstrumentError::OutsideBand {
                symbol: self.symbol.clone(),
                field,
                price,
                lower: band.lower,
                upper: band.upper,
            });
        }
        Ok(())
    }

    /// Checks an order against this instrument: lot multiple, freeze
    /// quantity, and the tick grid and band for its price and trigger price.
    pub fn check_order(&self, order: &OrderRequest) -> Result<(), InstrumentError> {
        self.check_quantity(order.quantity())?;
        if let Some(price) = order.price() {
            self.check_price("price", price)?;
        }
        if let Some(trigger) = order.trigger_price() {
            self.check_price("trigger price", trigger)?;
        }
        Ok(())
    }
}

impl fmt::Display for Instrument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} (tick {}, lot {})",
            self.exchange, self.symbol, self.tick_size, self.lot_size
        )
    }
}
