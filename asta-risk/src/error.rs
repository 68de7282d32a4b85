//! Typed reasons: why an order was rejected, why a reset or a load failed.

use std::path::PathBuf;

use asta_core::{
    ErrorCode, Exchange, InstrumentError, Money, OrderId, Price, PublicCode, Quantity, StrategyTag,
    Symbol, TradingHoursError,
};
use chrono::{NaiveDateTime, NaiveTime};
use serde::Serialize;

use crate::rate_limit::{RateScope, RateWindow};
use crate::trading_state::{StateScope, TradingState};

/// Which security-monitor alert fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AlertKind {
    /// Quantity far above the symbol's recent norm.
    UnusualQuantity,
    /// Notional far above the symbol's recent norm.
    UnusualNotional,
    /// The strategy's first order in this symbol.
    FirstOrderInSymbol,
    /// Many modifications of one order in a short time.
    RapidModifications,
    /// An order outside trading hours.
    OffHours,
}

/// Why the engine refused an order, a modification or a cancel.
///
/// Each variant names the rule, the limit and the offending value, so the
/// message is enough to act on. Every variant serializes (for the audit
/// trail) with a `rule` tag. Its [`PublicCode`] is `INVALID_INPUT` for
/// instrument and identity errors, `RATE_LIMITED` for rate and modification
/// caps, `HALTED` when trading is halted, and `RISK_REJECTED` otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "rule", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Rejection {
    /// The instrument is not in the catalog.
    #[error("unknown instrument {symbol} on {exchange}")]
    UnknownInstrument {
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
    /// The quantity is at or above the freeze quantity.
    #[error(
        "quantity {quantity} is at or above the freeze quantity {freeze_quantity} for {symbol}"
    )]
    FreezeQuantity {
        /// The symbol.
        symbol: Symbol,
        /// The order quantity.
        quantity: Quantity,
        /// The freeze quantity.
        freeze_quantity: Quantity,
    },
    /// A price off the tick grid.
    #[error("{field} {price} is not a multiple of tick size {tick_size} for {symbol}")]
    OffTick {
        /// The symbol.
        symbol: Symbol,
        /// `price` or `trigger price`.
        field: &'static str,
        /// The price.
        price: Price,
        /// The tick size.
        tick_size: Price,
    },
    /// A price outside the day's band.
    #[error("{field} {price} is outside the price band {lower}..={upper} for {symbol}")]
    OutsideBand {
        /// The symbol.
        symbol: Symbol,
        /// `price` or `trigger price`.
        field: &'static str,
        /// The price.
        price: Price,
        /// Lower limit.
        lower: Price,
        /// Upper limit.
        upper: Price,
    },
    /// Another instrument rule (a newer asta-core rule this crate does not name).
    #[error("instrument rule: {message}")]
    InstrumentRule {
        /// asta-core's message.
        message: String,
    },
    /// A price farther from the reference than the collar allows.
    #[error(
        "{field} {price} is {deviation_bps} bps from the reference price {reference} of {symbol}; the collar is {limit_bps} bps"
    )]
    PriceCollar {
        /// The symbol.
        symbol: Symbol,
        /// `price` or `trigger price`.
        field: &'static str,
        /// The price.
        price: Price,
        /// The reference price.
        reference: Price,
        /// The distance, in basis points (rounded up).
        deviation_bps: u64,
        /// The collar, in basis points.
        limit_bps: u32,
    },
    /// No reference price, or one older than the staleness limit.
    #[error(
        "no fresh reference price for {symbol} on {exchange} (age {}; limit {max_age_ms} ms)",
        age_ms.map_or_else(|| "none".to_owned(), |a| format!("{a} ms"))
    )]
    NoFreshReference {
        /// The exchange.
        exchange: Exchange,
        /// The symbol.
        symbol: Symbol,
        /// Age of the last quote in milliseconds, if there is one.
        age_ms: Option<u64>,
        /// The staleness limit.
        max_age_ms: u64,
    },
    /// Quantity per order above its cap.
    #[error("quantity {quantity} is above the per-order limit of {limit}")]
    MaxQuantity {
        /// The quantity.
        quantity: u64,
        /// The limit.
        limit: u64,
    },
    /// Notional per order above its cap.
    #[error("order notional {notional} is above the per-order limit of {limit}")]
    MaxNotional {
        /// The notional.
        notional: Money,
        /// The limit.
        limit: Money,
    },
    /// Position value per symbol after the order above its cap.
    #[error("position value in {symbol} after the order would be {value} (limit {limit})")]
    PositionLimit {
        /// The symbol.
        symbol: Symbol,
        /// Worst-case position value after the order.
        value: Money,
        /// The limit.
        limit: Money,
    },
    /// Gross exposure after the order above its cap.
    #[error("gross exposure after the order would be {value} (limit {limit})")]
    GrossExposure {
        /// Worst-case gross exposure after the order.
        value: Money,
        /// The limit.
        limit: Money,
    },
    /// Too many open orders.
    #[error("{open} orders are open or pending; the limit is {limit}")]
    MaxOpenOrders {
        /// Open plus pending orders now.
        open: u32,
        /// The limit.
        limit: u32,
    },
    /// The day's loss is above its cap (this trips the breaker).
    #[error("daily loss {loss} is above the limit of {limit}")]
    DailyLoss {
        /// Realized plus mark-to-market loss for the IST day.
        loss: Money,
        /// The limit.
        limit: Money,
    },
    /// A rate window is full.
    #[error(
        "rate limit: {count} requests in the {window} window for {scope}; the limit is {limit}"
    )]
    RateLimited {
        /// The scope whose window is full.
        scope: RateScope,
        /// The window.
        window: RateWindow,
        /// Requests already counted in the window.
        count: u32,
        /// The limit.
        limit: u32,
    },
    /// The order has used its modifications.
    #[error("order {order_id} has been modified {modifications} times; the limit is {limit}")]
    ModificationLimit {
        /// The order.
        order_id: OrderId,
        /// Modifications approved so far.
        modifications: u32,
        /// The limit.
        limit: u32,
    },
    /// The exchange is closed.
    #[error("{exchange} is closed at {local} IST: {reason}")]
    MarketClosed {
        /// The exchange.
        exchange: Exchange,
        /// The instant, IST.
        local: NaiveDateTime,
        /// Why (weekend, holiday, after the close...).
        reason: String,
    },
    /// MIS orders are past the cut-off.
    #[error("MIS orders on {exchange} are refused from the {cutoff} IST cut-off (now {local} IST)")]
    MisCutoff {
        /// The exchange.
        exchange: Exchange,
        /// The instant, IST.
        local: NaiveDateTime,
        /// The cut-off.
        cutoff: NaiveTime,
    },
    /// Trading hours refused the order for a reason this crate does not name.
    #[error("trading hours: {message}")]
    TradingHours {
        /// asta-core's message.
        message: String,
    },
    /// Same content from the same strategy within the duplicate window.
    #[error(
        "duplicate of an order from {strategy} approved {age_ms} ms ago (window {window_ms} ms); mark it intentional to send it"
    )]
    Duplicate {
        /// The strategy.
        strategy: StrategyTag,
        /// Age of the earlier order.
        age_ms: u64,
        /// The window.
        window_ms: u64,
    },
    /// Trading is halted for the scope.
    #[error("trading is halted for {scope}; only cancels are accepted")]
    Halted {
        /// The halted scope.
        scope: StateScope,
    },
    /// The scope only accepts orders that reduce an existing position.
    #[error("{scope} is {state}: only orders that reduce an existing position are accepted")]
    ReducingOnly {
        /// The scope.
        scope: StateScope,
        /// Its state.
        state: TradingState,
    },
    /// The security monitor blocked an unusual order.
    #[error("unusual order blocked ({alert:?}): {detail}")]
    UnusualOrder {
        /// Which alert.
        alert: AlertKind,
        /// What was unusual.
        detail: String,
    },
    /// A modification or cancel names an order the engine does not know.
    #[error("order {order_id} is not open")]
    UnknownOrder {
        /// The order.
        order_id: OrderId,
    },
    /// A modification changes what the order is (symbol, side, product...).
    #[error("a modification of {order_id} may change only quantity and prices, not its {field}")]
    ModifyChangesIdentity {
        /// The order.
        order_id: OrderId,
        /// The field that changed.
        field: &'static str,
    },
    /// An amount overflowed: never approved.
    #[error("amount overflow while computing {what}")]
    Overflow {
        /// What was being computed.
        what: &'static str,
    },
    /// The risk state could not be saved, so nothing is approved.
    #[error("risk state could not be saved: {detail}")]
    StateUnavailable {
        /// The I/O error.
        detail: String,
    },
    /// One order of a batch was rejected, so none was approved.
    #[error("batch order {index} rejected, so the whole batch is: {reason}")]
    Batch {
        /// Index of the rejected order in the batch.
        index: usize,
        /// Its rejection.
        reason: Box<Rejection>,
    },
    /// An empty batch.
    #[error("a batch must hold at least one order")]
    EmptyBatch,
    /// The journal holds as many undrained entries as its limit allows, so
    /// nothing new is approved until the caller drains it (and makes the
    /// entries durable).
    #[error(
        "the risk journal holds {pending} undrained entries (limit {limit}); nothing is approved until it is drained"
    )]
    JournalFull {
        /// Entries waiting to be drained.
        pending: usize,
        /// The limit.
        limit: usize,
    },
}

impl Rejection {
    /// A short, stable rule name, e.g. `PRICE_COLLAR` (the serde tag).
    pub fn rule(&self) -> &'static str {
        match self {
            Rejection::UnknownInstrument { .. } => "UNKNOWN_INSTRUMENT",
            Rejection::LotMultiple { .. } => "LOT_MULTIPLE",
            Rejection::FreezeQuantity { .. } => "FREEZE_QUANTITY",
            Rejection::OffTick { .. } => "OFF_TICK",
            Rejection::OutsideBand { .. } => "OUTSIDE_BAND",
            Rejection::InstrumentRule { .. } => "INSTRUMENT_RULE",
            Rejection::PriceCollar { .. } => "PRICE_COLLAR",
            Rejection::NoFreshReference { .. } => "NO_FRESH_REFERENCE",
            Rejection::MaxQuantity { .. } => "MAX_QUANTITY",
            Rejection::MaxNotional { .. } => "MAX_NOTIONAL",
            Rejection::PositionLimit { .. } => "POSITION_LIMIT",
            Rejection::GrossExposure { .. } => "GROSS_EXPOSURE",
            Rejection::MaxOpenOrders { .. } => "MAX_OPEN_ORDERS",
            Rejection::DailyLoss { .. } => "DAILY_LOSS",
            Rejection::RateLimited { .. } => "RATE_LIMITED",
            Rejection::ModificationLimit { .. } => "MODIFICATION_LIMIT",
            Rejection::MarketClosed { .. } => "MARKET_CLOSED",
            Rejection::MisCutoff { .. } => "MIS_CUTOFF",
            Rejection::TradingHours { .. } => "TRADING_HOURS",
            Rejection::Duplicate { .. } => "DUPLICATE",
            Rejection::Halted { .. } => "HALTED",
            Rejection::ReducingOnly { .. } => "REDUCING_ONLY",
            Rejection::UnusualOrder { .. } => "UNUSUAL_ORDER",
            Rejection::UnknownOrder { .. } => "UNKNOWN_ORDER",
            Rejection::ModifyChangesIdentity { .. } => "MODIFY_CHANGES_IDENTITY",
            Rejection::Overflow { .. } => "OVERFLOW",
            Rejection::StateUnavailable { .. } => "STATE_UNAVAILABLE",
            Rejection::Batch { .. } => "BATCH",
            Rejection::EmptyBatch => "EMPTY_BATCH",
            Rejection::JournalFull { .. } => "JOURNAL_FULL",
        }
    }

    /// Whether this rejection counts toward the rejection breaker. Refusals
    /// caused by a halt (or a broken state file) do not, so a halted engine
    /// does not keep tripping itself.
    pub(crate) fn counts_for_breaker(&self) -> bool {
        !matches!(
            self,
            Rejection::Halted { .. }
                | Rejection::StateUnavailable { .. }
                | Rejection::JournalFull { .. }
        )
    }

    pub(crate) fn from_instrument(error: InstrumentError) -> Self {
        match error {
            InstrumentError::Unknown { exchange, symbol } => {
                Rejection::UnknownInstrument { exchange, symbol }
            }
            InstrumentError::LotMultiple {
                symbol,
                quantity,
                lot_size,
            } => Rejection::LotMultiple {
                symbol,
                quantity,
                lot_size,
            },
            InstrumentError::FreezeQuantity {
                symbol,
                quantity,
                freeze_quantity,
            } => Rejection::FreezeQuantity {
                symbol,
                quantity,
                freeze_quantity,
            },
            InstrumentError::OffTick {
                symbol,
                field,
                price,
                tick_size,
            } => Rejection::OffTick {
                symbol,
                field,
                price,
                tick_size,
            },
            InstrumentError::OutsideBand {
                symbol,
                field,
                price,
                lower,
                upper,
            } => Rejection::OutsideBand {
                symbol,
                field,
                price,
                lower,
                upper,
            },
            other => Rejection::InstrumentRule {
                message: other.to_string(),
            },
        }
    }

    pub(crate) fn from_hours(error: TradingHoursError) -> Self {
        match error {
            TradingHoursError::Closed {
                exchange,
                local,
                reason,
            } => Rejection::MarketClosed {
                exchange,
                local,
                reason: reason.to_string(),
            },
            TradingHoursError::MisCutoff {
                exchange,
                local,
                cutoff,
            } => Rejection::MisCutoff {
                exchange,
                local,
                cutoff,
            },
            other => Rejection::TradingHours {
                message: other.to_string(),
            },
        }
    }
}

impl PublicCode for Rejection {
    fn public_code(&self) -> ErrorCode {
        match self {
            Rejection::UnknownInstrument { .. }
            | Rejection::LotMultiple { .. }
            | Rejection::FreezeQuantity { .. }
            | Rejection::OffTick { .. }
            | Rejection::OutsideBand { .. }
            | Rejection::InstrumentRule { .. }
            | Rejection::UnknownOrder { .. }
            | Rejection::ModifyChangesIdentity { .. }
            | Rejection::EmptyBatch => ErrorCode::InvalidInput,
            Rejection::RateLimited { .. } | Rejection::ModificationLimit { .. } => {
                ErrorCode::RateLimited
            }
            Rejection::Halted { .. }
            | Rejection::StateUnavailable { .. }
            | Rejection::JournalFull { .. } => ErrorCode::Halted,
            Rejection::Batch { reason, .. } => reason.public_code(),
            _ => ErrorCode::RiskRejected,
        }
    }
}

/// Why a TOTP verifier refused a code. The code itself is never carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum TotpRejection {
    /// The code is wrong.
    #[error("the TOTP code is wrong")]
    WrongCode,
    /// The code was already used.
    #[error("the TOTP code was already used")]
    Replayed,
    /// Too many attempts; try later.
    #[error("too many TOTP attempts; try later")]
    Throttled,
    /// The operator has no TOTP enrolled.
    #[error("the operator has no TOTP enrolled")]
    NotEnrolled,
    /// The verifier could not check (vault locked, I/O error).
    #[error("the TOTP verifier is unavailable")]
    Unavailable,
}

/// Why an operator reset was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResetError {
    /// The operator name is not acceptable.
    #[error("operator name must be 1 to 64 characters from A-Z a-z 0-9 . _ - @ (got {len} bytes)")]
    BadOperator {
        /// Length of the given name.
        len: usize,
    },
    /// The TOTP check failed.
    #[error("reset refused: {0}")]
    Totp(#[from] TotpRejection),
    /// The scope is not in a state a reset applies to.
    #[error("{scope} is {state}; there is nothing to reset to {target}")]
    NothingToReset {
        /// The scope.
        scope: StateScope,
        /// Its state.
        state: TradingState,
        /// The requested state.
        target: TradingState,
    },
    /// A reset target that is not a trading state one can reset to.
    #[error("a reset can lead to ACTIVE or REDUCING, not {target}")]
    BadTarget {
        /// The requested state.
        target: TradingState,
    },
    /// The condition that tripped the breaker still holds.
    #[error("reset to ACTIVE refused: {condition}; reset to REDUCING to close positions")]
    ConditionPersists {
        /// The condition.
        condition: String,
    },
    /// The new state could not be saved; the engine stays halted.
    #[error("reset could not be saved: {detail}")]
    StateUnavailable {
        /// The I/O error.
        detail: String,
    },
}

impl PublicCode for ResetError {
    fn public_code(&self) -> ErrorCode {
        match self {
            ResetError::BadOperator { .. } | ResetError::BadTarget { .. } => {
                ErrorCode::InvalidInput
            }
            // A reset is not an order: never RISK_REJECTED ("the order was
            // rejected"). Nothing to reset is a request that does not
            // apply; a condition that persists is a safety refusal.
            ResetError::NothingToReset { .. } => ErrorCode::InvalidInput,
            ResetError::Totp(_) | ResetError::ConditionPersists { .. } => {
                ErrorCode::PermissionDenied
            }
            ResetError::StateUnavailable { .. } => ErrorCode::Halted,
        }
    }
}

/// Why the risk state file could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file exists but is damaged or not a risk state file. Trading stays
    /// halted: the file is never silently replaced.
    #[error(
        "risk state file {path} is corrupt ({detail}); trading is halted. Inspect the file, then use RiskEngine::recover_from_corrupt_state with an operator TOTP to start a fresh, halted state"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The state file does not exist. Trading stays halted: a missing file is
    /// never taken as a fresh start, or deleting it would wipe the day's loss
    /// and any latched halt.
    #[error(
        "risk state file {path} does not exist; trading is halted. On a first run create it explicitly (StateStore::create_file; `asta risk init`); otherwise restore it from a backup"
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// A new state was asked for but the file exists; it is never replaced.
    #[error("risk state file {path} already exists; open it instead of creating a new state")]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// The file is from a newer version of this crate.
    #[error("risk state file {path} has format {found}; this build reads format {supported}")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Format found.
        found: u32,
        /// Format supported.
        supported: u32,
    },
    /// An I/O error.
    #[error("risk state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The state could not be serialized (a bug).
    #[error("risk state could not be serialized: {0}")]
    Serialize(String),
    /// Recovery refused (TOTP or operator).
    #[error("recovery refused: {0}")]
    RecoveryRefused(#[from] ResetError),
}

impl PublicCode for StateError {
    fn public_code(&self) -> ErrorCode {
        match self {
            StateError::RecoveryRefused(e) => e.public_code(),
            StateError::AlreadyExists { .. } => ErrorCode::InvalidInput,
            _ => ErrorCode::Halted,
        }
    }
}

/// Why a journal entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The entry is of a newer (or unknown) version.
    #[error("journal entry has version {found}; this build reads versions up to {supported}")]
    UnsupportedVersion {
        /// Version found.
        found: u64,
        /// The newest version supported.
        supported: u32,
    },
    /// The entry's input kind is not one this build knows.
    #[error("journal entry has unknown input kind {kind:?}: written by a newer build, or damaged")]
    UnknownInput {
        /// The kind found (at most 64 characters of it).
        kind: String,
    },
    /// The entry does not parse (damaged, a field missing or unknown, a value
    /// out of range).
    #[error("journal entry is malformed: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
}

impl PublicCode for JournalError {
    fn public_code(&self) -> ErrorCode {
        ErrorCode::Halted
    }
}

/// Why a snapshot could not be encoded, decoded or confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The snapshot is of a newer (or unknown) format.
    #[error("risk snapshot has format {found}; this build reads format {supported}")]
    UnsupportedFormat {
        /// Format found.
        found: u64,
        /// Format supported.
        supported: u32,
    },
    /// The bytes do not parse as a snapshot, or the snapshot is inconsistent.
    #[error("risk snapshot is malformed: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// The bytes parse but are not the canonical encoding (so their digest
    /// would not identify the state).
    #[error("risk snapshot is not in canonical form (edited or written by another encoder)")]
    NotCanonical,
    /// The bytes' digest is not the one recorded.
    #[error("risk snapshot digest is {actual}; the trail recorded {expected}")]
    DigestMismatch {
        /// The recorded digest (as given, at most 64 characters).
        expected: String,
        /// The digest of the bytes.
        actual: String,
    },
    /// The snapshot could not be serialized (a bug).
    #[error("risk snapshot could not be serialized: {detail}")]
    Encode {
        /// The serializer's error.
        detail: String,
    },
}

impl PublicCode for SnapshotError {
    fn public_code(&self) -> ErrorCode {
        ErrorCode::Halted
    }
}

/// Why a restore (snapshot plus journal replay) failed. Nothing was
/// restored: the caller has no engine, so nothing trades.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// An entry's seq is not the next one: the journal has a gap, a repeat
    /// or is out of order.
    #[error(
        "journal entry {found} came where entry {expected} was expected: the journal has a gap or is out of order; nothing was restored"
    )]
    Sequence {
        /// The seq that was due.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// Without a snapshot, the journal must begin with a START entry (seq 1).
    #[error(
        "without a snapshot the journal must begin with a START entry at seq 1, found {found}; restore from a snapshot instead"
    )]
    MissingStart {
        /// The kind of the first entry.
        found: String,
    },
    /// A START entry where the state already exists.
    #[error("journal entry {seq} is a START entry in the middle of a journal")]
    UnexpectedStart {
        /// Its seq.
        seq: u64,
    },
}

impl PublicCode for RestoreError {
    fn public_code(&self) -> ErrorCode {
        ErrorCode::Halted
    }
}
