//! `SandboxBroker`: an in-memory, deterministic broker.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use asta_core::{
    Clock, Exchange, Money, OrderId, OrderRequest, Price, PriceType, Product, Quantity, Side,
    StrategyTag, Symbol,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::matching::{self, evaluate};
use crate::{
    Broker, BrokerError, CancelAllReport, CloseAllReport, ClosedPosition, Funds, ModifyRequest,
    OrderBookEntry, OrderState, OrderStatus, Placement, Position, PositionFailure, PositionKey,
    Quote, Venue,
};

/// Configuration of a [`SandboxBroker`].
///
/// ```
/// let config: asta_broker::SandboxConfig =
///     serde_json::from_str(r#"{"starting_cash": "500000", "margin_bps": 2000}"#)?;
/// assert_eq!(config.starting_cash.to_string(), "500000");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// Cash at the start of the session (default ₹10,00,000).
    #[serde(default = "default_cash")]
    pub starting_cash: Money,
    /// Margin blocked per rupee of exposure, in basis points (default
    /// 10,000 = 100%: cash-and-carry). Must be 1..=10,000.
    #[serde(default = "default_margin_bps")]
    pub margin_bps: u32,
    /// How many finished (filled or cancelled) orders stay queryable through
    /// `order_status` and `order_book` (default 10,000). Older ones are
    /// forgotten, oldest first, so a long session keeps bounded memory;
    /// working orders are always kept. Must be at least 1.
    #[serde(default = "default_history_limit")]
    pub history_limit: usize,
}

fn default_cash() -> Money {
    Money::from_rupees(1_000_000)
}

fn default_margin_bps() -> u32 {
    10_000
}

fn default_history_limit() -> usize {
    10_000
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            starting_cash: default_cash(),
            margin_bps: default_margin_bps(),
            history_limit: default_history_limit(),
        }
    }
}

/// Why a sandbox configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxConfigError {
    /// Starting cash below zero.
    #[error("starting cash {0} is negative")]
    NegativeCash(Money),
    /// Margin outside 1..=10,000 basis points.
    #[error("margin_bps {0} is outside 1..=10000")]
    MarginOutOfRange(u32),
    /// A history limit of zero: a filled order could not even be queried.
    #[error("history_limit must be at least 1")]
    NoHistory,
}

/// A broker operation, for injecting failures into a [`SandboxBroker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SandboxOp {
    /// `place_order`.
    Place,
    /// `modify_order`.
    Modify,
    /// `cancel_order`.
    Cancel,
    /// `cancel_all_orders`.
    CancelAll,
    /// `close_all_positions`.
    CloseAll,
    /// `order_status`.
    Status,
    /// `order_book`.
    OrderBook,
    /// `positions`.
    Positions,
    /// `funds`.
    Funds,
    /// `quote`.
    Quote,
}

/// An in-memory broker with deterministic matching: no network, no clock of
/// its own, no randomness.
///
/// - Quotes are fed by the caller with [`set_quote`](Self::set_quote); each
///   quote is matched against working orders in the order they were placed.
/// - MARKET orders fill completely at the touch of the current quote (a buy
///   at the ask, a sell at the bid, the last price when that side is
///   unknown); without a quote they are rejected.
/// - LIMIT orders that are marketable on arrival fill at the touch; others
///   rest and fill at their limit price when a later quote crosses them.
/// - SL and SL-M orders wait for the last price to reach the trigger (buy:
///   at or above, sell: at or below), then act as a LIMIT or MARKET order. A
///   stop whose trigger the current last price has already passed is
///   rejected, as Indian brokers do.
/// - Order ids are `SBX-000001`, `SBX-000002`, ...
/// - Positions net per (exchange, symbol, product); realized P&L uses the
///   average cost of the open quantity; unrealized P&L marks to the last price.
///
/// # Margin model
/// Every rupee of exposure blocks `margin_bps / 10,000` rupees: an open
/// position blocks that share of its cost, a working order that would increase
/// exposure blocks that share of its notional (at its limit, trigger or the
/// current touch). Orders that only reduce a position block nothing.
/// `available cash = starting cash + realized P&L + unrealized losses (profits
/// are not credited) - used margin`; an order needing more is rejected.
///
/// # Cost
/// Placing, modifying, cancelling and funds take the same time however long
/// the session has run: margin, realized and unrealized P&L are running sums,
/// a quote is matched only against the working orders of its own instrument,
/// and finished orders move to a bounded history
/// ([`SandboxConfig::history_limit`]).
///
/// Clones share the same book.
///
/// `cancel_all_orders` and `close_all_positions` act on the whole account,
/// whatever the strategy tag.
#[derive(Debug, Clone)]
pub struct SandboxBroker {
    inner: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    config: SandboxConfig,
}

type InstrumentKey = (Exchange, Symbol);

/// Every product, for the positions of one instrument.
const PRODUCTS: [Product; 3] = [Product::Cnc, Product::Mis, Product::Nrml];

/// Keeps [`PRODUCTS`] complete: a new product fails to compile here.
const fn product_listed(product: Product) -> bool {
    match product {
        Product::Cnc | Product::Mis | Product::Nrml => true,
    }
}

#[derive(Debug, Default)]
struct State {
    /// The placement number of the newest order (its id is `SBX-<number>`).
    next_id: u64,
    /// Working orders and the retained history, by placement number.
    orders: BTreeMap<u64, SimOrder>,
    /// Order id to placement number, for every order in `orders`.
    ids: HashMap<OrderId, u64>,
    /// Working orders of each instrument, by placement number (an
    /// instrument without any keeps an empty set).
    working: HashMap<InstrumentKey, BTreeSet<u64>>,
    /// Finished orders still retained, oldest first.
    finished: VecDeque<u64>,
    /// Sum of the working orders' margin (units).
    order_margin: i128,
    quotes: BTreeMap<InstrumentKey, Quote>,
    positions: BTreeMap<PositionKey, Book>,
    /// Sum of the positions' margin (units).
    position_margin: i128,
    /// Sum of the positions' realized P&L (units).
    realized: i128,
    /// Sum of the positions' unrealized P&L (units).
    unrealized: i128,
    faults: HashMap<SandboxOp, VecDeque<BrokerError>>,
}

#[derive(Debug, Clone)]
struct SimOrder {
    id: OrderId,
    request: OrderRequest,
    state: OrderState,
    triggered: bool,
    filled_at: Option<Price>,
    margin: Money,
    placed_at: DateTime<Utc>,
    rejection: Option<String>,
}

/// A net position: signed quantity, signed open cost (units), realized P&L
/// (units), and its share of the running sums as last counted.
#[derive(Debug, Clone, Copy, Default)]
struct Book {
    net: i64,
    open_cost: i128,
    realized: i128,
    /// Margin blocked by the open cost (units), as counted in the sum.
    margin: i128,
    /// Unrealized P&L at the last quote (units), as counted in the sum.
    unrealized: i128,
}

impl SandboxBroker {
    /// A sandbox with the default configuration.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State::default())),
            clock,
            config: SandboxConfig::default(),
        }
    }

    /// A sandbox with `config`, checked first.
    pub fn with_config(
        clock: Arc<dyn Clock>,
        config: SandboxConfig,
    ) -> Result<Self, SandboxConfigError> {
        if config.starting_cash.is_negative() {
            return Err(SandboxConfigError::NegativeCash(config.starting_cash));
        }
        if config.margin_bps == 0 || config.margin_bps > 10_000 {
            return Err(SandboxConfigError::MarginOutOfRange(config.margin_bps));
        }
        if config.history_limit == 0 {
            return Err(SandboxConfigError::NoHistory);
        }
        Ok(Self {
            inner: Arc::new(Mutex::new(State::default())),
            clock,
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Feeds a quote and matches every working order of that instrument
    /// against it, in placement order. Returns the ids of orders that filled.
    pub fn set_quote(&self, exchange: Exchange, symbol: &Symbol, quote: Quote) -> Vec<OrderId> {
        let mut state = self.lock();
        let key = (exchange, symbol.clone());
        state.quotes.insert(key.clone(), quote);
        state.revalue(&key);
        let working: Vec<u64> = state
            .working
            .get(&key)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        let mut filled = Vec::new();
        for number in working {
            let Some(order) = state.orders.get_mut(&number) else {
                continue;
            };
            let request = &order.request;
            let eval = evaluate(
                request.side(),
                request.price_type(),
                request.price(),
                request.trigger_price(),
                order.triggered,
                true,
                &quote,
            );
            if eval.triggered {
                order.triggered = true;
                order.state = OrderState::Open;
            }
            if let Some(price) = eval.fill {
                filled.push(order.id.clone());
                state.fill(
                    number,
                    price,
                    self.config.margin_bps,
                    self.config.history_limit,
                );
            }
        }
        filled
    }

    /// Makes the next call of `op` fail with `error` without doing anything
    /// (queued: several calls queue several failures). For tests.
    pub fn fail_next(&self, op: SandboxOp, error: BrokerError) {
        self.lock().faults.entry(op).or_default().push_back(error);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fault(state: &mut State, op: SandboxOp) -> Result<(), BrokerError> {
        match state.faults.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn margin_for(&self, state: &State, request: &OrderRequest, reference: Price) -> Money {
        let key = key_of(request);
        let net = state.positions.get(&key).map_or(0, |b| b.net);
        let qty = request.quantity().get();
        let reducing = match request.side() {
            Side::Buy if net < 0 => net.unsigned_abs().min(qty),
            Side::Sell if net > 0 => net.unsigned_abs().min(qty),
            _ => 0,
        };
        let increasing = i128::from(qty - reducing);
        Money::from_units(
            increasing * i128::from(reference.units()) * i128::from(self.config.margin_bps)
                / 10_000,
        )
    }

    fn place_locked(
        &self,
        state: &mut State,
        order: &OrderRequest,
    ) -> Result<OrderId, BrokerError> {
        let instrument = (order.exchange(), order.symbol().clone());
        let quote = state.quotes.get(&instrument).copied();
        let reference = match (order.price_type(), order.price(), order.trigger_price()) {
            (PriceType::Limit | PriceType::StopLoss, Some(price), _) => price,
            (PriceType::StopLossMarket, _, Some(trigger)) => trigger,
            _ => match &quote {
                Some(q) => matching::touch(order.side(), q),
                None => {
                    return Err(BrokerError::rejected(&format!(
                        "no quote for {} on {}; a MARKET order cannot be priced",
                        order.symbol(),
                        order.exchange()
                    )));
                }
            },
        };
        if let (Some(trigger), Some(q)) = (order.trigger_price(), &quote)
            && matching::trigger_reached(order.side(), trigger, q)
        {
            return Err(BrokerError::rejected(&format!(
                "trigger price {trigger} is already reached by the last price {}",
                q.ltp()
            )));
        }
        let margin = self.margin_for(state, order, reference);
        let available = self.available_cash(state);
        if margin > available {
            return Err(BrokerError::rejected(&format!(
                "insufficient funds: the order needs margin {margin}, available {available}"
            )));
        }
        let number = state.next_id + 1;
        let id = OrderId::new(&format!("SBX-{number:06}"))
            .map_err(|_| BrokerError::rejected("sandbox order ids are exhausted"))?;
        state.next_id = number;
        let waiting = order.price_type().needs_trigger();
        state.orders.insert(
            number,
            SimOrder {
                id: id.clone(),
                request: order.clone(),
                state: if waiting {
                    OrderState::TriggerPending
                } else {
                    OrderState::Open
                },
                triggered: false,
                filled_at: None,
                margin,
                placed_at: self.clock.now(),
                rejection: None,
            },
        );
        state.ids.insert(id.clone(), number);
        // An instrument keeps its (possibly empty) set: no map insert,
        // key copy and set allocation per order.
        match state.working.get_mut(&instrument) {
            Some(set) => {
                set.insert(number);
            }
            None => {
                state.working.insert(instrument, BTreeSet::from([number]));
            }
        }
        state.order_margin += margin.units();
        if let Some(q) = quote {
            let eval = evaluate(
                order.side(),
                order.price_type(),
                order.price(),
                order.trigger_price(),
                false,
                false,
                &q,
            );
            if let Some(price) = eval.fill {
                state.fill(
                    number,
                    price,
                    self.config.margin_bps,
                    self.config.history_limit,
                );
            }
        }
        Ok(id)
    }

    fn used_margin(state: &State) -> Money {
        Money::from_units(state.position_margin + state.order_margin)
    }

    fn available_cash(&self, state: &State) -> Money {
        let losses = state.unrealized.min(0);
        Money::from_units(
            self.config.starting_cash.units() + state.realized + losses
                - Self::used_margin(state).units(),
        )
    }

    /// The retained order `order_id` (working, or finished and still in the
    /// history) and its placement number.
    fn find<'s>(state: &'s State, order_id: &OrderId) -> Result<(u64, &'s SimOrder), BrokerError> {
        state
            .ids
            .get(order_id)
            .and_then(|number| state.orders.get(number).map(|order| (*number, order)))
            .ok_or_else(|| not_found(order_id))
    }
}

fn key_of(request: &OrderRequest) -> PositionKey {
    PositionKey {
        exchange: request.exchange(),
        symbol: request.symbol().clone(),
        product: request.product(),
    }
}

fn unrealized_of(quote: Option<&Quote>, book: &Book) -> i128 {
    match quote {
        Some(q) if book.net != 0 => {
            i128::from(book.net) * i128::from(q.ltp().units()) - book.open_cost
        }
        _ => 0,
    }
}

impl State {
    /// Fills working order `number` completely at `price`, books the trade
    /// and moves the order to the history.
    fn fill(&mut self, number: u64, price: Price, margin_bps: u32, history_limit: usize) {
        let Some(order) = self.orders.get_mut(&number) else {
            return;
        };
        order.state = OrderState::Complete;
        order.filled_at = Some(price);
        let key = key_of(&order.request);
        let qty = i64::try_from(order.request.quantity().get()).unwrap_or(i64::MAX);
        let signed = match order.request.side() {
            Side::Buy => qty,
            Side::Sell => -qty,
        };
        self.finish(number, history_limit);
        let quote = self
            .quotes
            .get(&(key.exchange, key.symbol.clone()))
            .copied();
        let book = self.positions.entry(key).or_default();
        let before = *book;
        book.apply(signed, price);
        book.margin = book.open_cost.abs() * i128::from(margin_bps) / 10_000;
        book.unrealized = unrealized_of(quote.as_ref(), book);
        let after = *book;
        self.position_margin += after.margin - before.margin;
        self.realized += after.realized - before.realized;
        self.unrealized += after.unrealized - before.unrealized;
    }

    /// Takes working order `number` off the working set (its state already
    /// final), releases its margin and moves it to the bounded history,
    /// forgetting the oldest finished order when the history is full.
    fn finish(&mut self, number: u64, history_limit: usize) {
        let Some(order) = self.orders.get_mut(&number) else {
            return;
        };
        self.order_margin -= order.margin.units();
        order.margin = Money::ZERO;
        let instrument = (order.request.exchange(), order.request.symbol().clone());
        if let Some(set) = self.working.get_mut(&instrument) {
            // An emptied set stays (one per instrument ever traded, like
            // the quotes): the next order for it allocates nothing.
            set.remove(&number);
        }
        self.finished.push_back(number);
        while self.finished.len() > history_limit {
            if let Some(oldest) = self.finished.pop_front()
                && let Some(gone) = self.orders.remove(&oldest)
            {
                self.ids.remove(&gone.id);
            }
        }
    }

    /// Sets the margin of working order `number`, keeping the sum.
    fn set_margin(&mut self, number: u64, margin: Money) {
        if let Some(order) = self.orders.get_mut(&number) {
            self.order_margin += margin.units() - order.margin.units();
            order.margin = margin;
        }
    }

    /// Marks the positions of `instrument` to its current quote.
    fn revalue(&mut self, instrument: &InstrumentKey) {
        let quote = self.quotes.get(instrument).copied();
        for product in PRODUCTS {
            debug_assert!(product_listed(product));
            let key = PositionKey {
                exchange: instrument.0,
                symbol: instrument.1.clone(),
                product,
            };
            if let Some(book) = self.positions.get_mut(&key) {
                let value = unrealized_of(quote.as_ref(), book);
                self.unrealized += value - book.unrealized;
                book.unrealized = value;
            }
        }
    }

    /// Working orders of every instrument, in placement order.
    fn working_numbers(&self) -> Vec<u64> {
        let mut numbers: Vec<u64> = self.working.values().flatten().copied().collect();
        numbers.sort_unstable();
        numbers
    }
}

impl Book {
    /// Applies a fill of `signed` quantity (positive buys) at `price`.
    fn apply(&mut self, signed: i64, price: Price) {
        let p = i128::from(price.units());
        let mut remaining = i128::from(signed);
        if self.net != 0 && (self.net > 0) != (signed > 0) {
            // Reducing (maybe flipping): close up to |net| at the average cost.
            let net = i128::from(self.net);
            let closing = remaining.abs().min(net.abs());
            let removed = if closing == net.abs() {
                self.open_cost
            } else {
                self.open_cost * closing / net.abs()
            };
            let sign = net.signum();
            self.realized += sign * closing * p - removed;
            self.open_cost -= removed;
            let new_net = net - sign * closing;
            self.net = i64::try_from(new_net).unwrap_or(0);
            remaining += sign * closing;
        }
        if remaining != 0 {
            self.open_cost += remaining * p;
            self.net = i64::try_from(i128::from(self.net) + remaining).unwrap_or(self.net);
        }
    }

    fn average(&self) -> Price {
        if self.net == 0 {
            return Price::ZERO;
        }
        let n = i128::from(self.net).abs();
        let cost = self.open_cost.abs();
        let avg = (cost + n / 2) / n;
        i64::try_from(avg)
            .ok()
            .and_then(|u| Price::from_units(u).ok())
            .unwrap_or(Price::MAX)
    }
}

fn status_of(order: &SimOrder) -> OrderStatus {
    let r = &order.request;
    let filled = if order.state == OrderState::Complete {
        r.quantity().get()
    } else {
        0
    };
    OrderStatus::new(
        order.id.clone(),
        r.symbol().clone(),
        r.exchange(),
        r.side(),
        r.price_type(),
        r.product(),
        r.quantity(),
        order.state,
    )
    .with_fill(filled, order.filled_at)
    .with_price(r.price())
    .with_trigger_price(r.trigger_price())
    .with_strategy(Some(r.strategy().clone()))
    .with_placed_at(Some(order.placed_at))
    .with_rejection_reason(order.rejection.clone())
}

#[async_trait]
impl Broker for SandboxBroker {
    async fn place_order(&self, order: &OrderRequest) -> Result<OrderId, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Place)?;
        self.place_locked(&mut state, order)
    }

    /// The placement with the order's status read under the same lock (a
    /// MARKET order with a quote is filled by then).
    async fn place_order_reporting(&self, order: &OrderRequest) -> Result<Placement, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Place)?;
        let id = self.place_locked(&mut state, order)?;
        let status = Self::find(&state, &id)
            .ok()
            .map(|(_, order)| status_of(order));
        Ok(match status {
            Some(status) => Placement::with_status(id, status),
            None => Placement::id_only(id),
        })
    }

    async fn modify_order(&self, request: &ModifyRequest) -> Result<OrderId, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Modify)?;
        let (number, order) = Self::find(&state, request.order_id())?;
        let order = order.clone();
        if !order.state.may_be_working() {
            return Err(BrokerError::rejected(&format!(
                "cannot modify order {} in {:?} state",
                order.id, order.state
            )));
        }
        let new = request.order();
        let old = &order.request;
        if new.symbol() != old.symbol()
            || new.exchange() != old.exchange()
            || new.side() != old.side()
            || new.product() != old.product()
            || new.strategy() != old.strategy()
        {
            return Err(BrokerError::rejected(
                "a modification cannot change symbol, exchange, side, product or strategy",
            ));
        }
        // Re-place under the same id: release the old margin, check the new one.
        let quote = state
            .quotes
            .get(&(new.exchange(), new.symbol().clone()))
            .copied();
        if let (Some(trigger), Some(q)) = (new.trigger_price(), &quote)
            && matching::trigger_reached(new.side(), trigger, q)
        {
            return Err(BrokerError::rejected(&format!(
                "trigger price {trigger} is already reached by the last price {}",
                q.ltp()
            )));
        }
        let reference = match (new.price(), new.trigger_price(), &quote) {
            (Some(price), _, _) => price,
            (None, Some(trigger), _) => trigger,
            (None, None, Some(q)) => matching::touch(new.side(), q),
            (None, None, None) => {
                return Err(BrokerError::rejected(&format!(
                    "no quote for {} on {}; a MARKET order cannot be priced",
                    new.symbol(),
                    new.exchange()
                )));
            }
        };
        state.set_margin(number, Money::ZERO);
        let margin = self.margin_for(&state, new, reference);
        let available = self.available_cash(&state);
        if margin > available {
            state.set_margin(number, order.margin);
            return Err(BrokerError::rejected(&format!(
                "insufficient funds: the order needs margin {margin}, available {available}"
            )));
        }
        state.set_margin(number, margin);
        if let Some(o) = state.orders.get_mut(&number) {
            o.request = new.clone();
            o.triggered = false;
            o.state = if new.price_type().needs_trigger() {
                OrderState::TriggerPending
            } else {
                OrderState::Open
            };
        }
        if let Some(q) = quote {
            let eval = evaluate(
                new.side(),
                new.price_type(),
                new.price(),
                new.trigger_price(),
                false,
                false,
                &q,
            );
            if let Some(price) = eval.fill {
                state.fill(
                    number,
                    price,
                    self.config.margin_bps,
                    self.config.history_limit,
                );
            }
        }
        Ok(order.id)
    }

    async fn cancel_order(
        &self,
        _strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<(), BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Cancel)?;
        let (number, order) = Self::find(&state, order_id)?;
        if !order.state.may_be_working() {
            return Err(BrokerError::rejected(&format!(
                "cannot cancel order {} in {:?} state",
                order.id, order.state
            )));
        }
        if let Some(order) = state.orders.get_mut(&number) {
            order.state = OrderState::Cancelled;
        }
        state.finish(number, self.config.history_limit);
        Ok(())
    }

    async fn cancel_all_orders(
        &self,
        _strategy: &StrategyTag,
    ) -> Result<CancelAllReport, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::CancelAll)?;
        let mut report = CancelAllReport::default();
        for number in state.working_numbers() {
            if let Some(order) = state.orders.get_mut(&number) {
                order.state = OrderState::Cancelled;
                report.cancelled.push(order.id.clone());
            }
            state.finish(number, self.config.history_limit);
        }
        Ok(report)
    }

    async fn close_all_positions(
        &self,
        strategy: &StrategyTag,
    ) -> Result<CloseAllReport, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::CloseAll)?;
        let open: Vec<(PositionKey, i64)> = state
            .positions
            .iter()
            .filter(|(_, b)| b.net != 0)
            .map(|(k, b)| (k.clone(), b.net))
            .collect();
        let mut report = CloseAllReport::default();
        for (key, net) in open {
            let exit = Quantity::new(net.unsigned_abs())
                .map_err(|e| e.to_string())
                .and_then(|qty| {
                    OrderRequest::builder()
                        .symbol(key.symbol.clone())
                        .exchange(key.exchange)
                        .side(if net > 0 { Side::Sell } else { Side::Buy })
                        .price_type(PriceType::Market)
                        .product(key.product)
                        .quantity(qty)
                        .strategy(strategy.clone())
                        .build()
                        .map_err(|e| e.to_string())
                })
                .map_err(|reason| BrokerError::rejected(&reason))
                .and_then(|order| self.place_locked(&mut state, &order));
            match exit {
                Ok(id) => {
                    report.closed_count += 1;
                    report.closed.push(ClosedPosition {
                        key,
                        exit_order: Some(id),
                    });
                }
                Err(error) => {
                    report.failed_count += 1;
                    report.failed.push(PositionFailure {
                        key,
                        reason: error.to_string(),
                    });
                }
            }
        }
        Ok(report)
    }

    async fn order_status(
        &self,
        _strategy: &StrategyTag,
        order_id: &OrderId,
    ) -> Result<OrderStatus, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Status)?;
        Self::find(&state, order_id).map(|(_, order)| status_of(order))
    }

    /// Working orders and the retained history, in placement order.
    async fn order_book(&self) -> Result<Vec<OrderBookEntry>, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::OrderBook)?;
        Ok(state.orders.values().map(status_of).collect())
    }

    async fn positions(&self) -> Result<Vec<Position>, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Positions)?;
        Ok(state
            .positions
            .iter()
            .map(|(key, book)| {
                let quote = state.quotes.get(&(key.exchange, key.symbol.clone()));
                Position::new(
                    key.clone(),
                    book.net,
                    book.average(),
                    quote.map(Quote::ltp),
                    Money::from_units(book.realized),
                    Money::from_units(unrealized_of(quote, book)),
                )
            })
            .collect())
    }

    async fn funds(&self) -> Result<Funds, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Funds)?;
        Ok(Funds::new(
            self.available_cash(&state),
            Self::used_margin(&state),
            Money::ZERO,
            Money::from_units(state.realized),
            Money::from_units(state.unrealized),
        ))
    }

    /// Always [`Venue::Simulated`]: nothing leaves the process.
    fn venue(&self) -> Venue {
        Venue::Simulated
    }

    async fn quote(&self, exchange: Exchange, symbol: &Symbol) -> Result<Quote, BrokerError> {
        let mut state = self.lock();
        Self::fault(&mut state, SandboxOp::Quote)?;
        state
            .quotes
            .get(&(exchange, symbol.clone()))
            .copied()
            .ok_or_else(|| BrokerError::NotFound {
                detail: format!("no quote has been set for {symbol} on {exchange}"),
            })
    }
}

fn not_found(order_id: &OrderId) -> BrokerError {
    BrokerError::NotFound {
        detail: format!("order {order_id} not found"),
    }
}
