//! The per-symbol position-value limit and the daily-loss limit, checked
//! against an independent model over random sequences.
//!
//! Orders (MARKET, LIMIT, SL, SL-M; CNC and MIS; with or without a caller
//! reference price), batches, modifications, releases and closes, fills
//! (external ones and fills of our open orders, by order id), quote moves,
//! clock moves (inside the session and to the next trading day, across the
//! IST day) and operator actions (halt, REDUCING, resets) drive the engine.
//! Beside it a model that shares no code with the engine recomputes, exactly
//! in asta-core integers (no float anywhere):
//!
//! - each symbol's net position per product (from the fills), the quantity
//!   of every pending approval and open order (shrunk by fills reported
//!   against it), and the symbol's mark: the last traded price known (a
//!   quote or a fill, whichever came later; before either, an approved
//!   order's price);
//! - the day's P&L by cash flow (sells in, buys out, plus net × mark; at an
//!   IST day roll the open position is re-based at the mark), a method
//!   independent of the engine's average-cost bookkeeping; the day's loss
//!   is its negative part (profits never count).
//!
//! What the engine promises, and the properties asserted:
//!
//! 1. **Position value per symbol** (worst case: positions plus every open
//!    and pending order on the worse side, valued at the higher of the
//!    symbol's mark and the order's own price): an approved order or
//!    modification either leaves that value at most `capital ×
//!    max_position_share_bps`, or does not raise the worst-case position
//!    (an order that shrinks an over-limit position may pass).
//! 2. **Daily loss**: an order or modification that does not only reduce a
//!    position (the engine's REDUCING rule: per product, counting the open
//!    orders on the same side) is never approved while the day's loss is
//!    above `capital × max_daily_loss_bps`, nor at any time after a breach
//!    until an operator reset to ACTIVE succeeds; a breach always leaves the
//!    account not ACTIVE (the breaker trips and latches, across the IST day
//!    too); while the loss is above its cap the account is HALTED, unless an
//!    operator acknowledged this breach today with a reset to REDUCING; a
//!    reset to ACTIVE never succeeds while the loss is above its cap. In
//!    REDUCING only reducing orders are approved; in HALTED none.
//! 3. **The bookkeeping is exact**: after every operation the engine's
//!    reported daily loss and gross exposure equal the model's to the
//!    1/10,000 rupee, and its positions, marks and open/pending counts match.
#![allow(missing_docs, reason = "integration tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use asta_core::{
    Clock, Exchange, Money, OrderId, OrderRequest, Price, PriceType, Product, Quantity, Side,
};
use asta_risk::{
    AlertAction, ApprovalTicket, BreakerConfig, FillReport, MonitorConfig, OrderContext,
    RateLimitConfig, RiskConfig, StateScope, TradingState, WindowLimits,
};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// The symbols and their starting prices in rupees. SBIN has a 700–900 band.
const SYMBOLS: [(&str, i64); 4] = [
    ("SBIN", 800),
    ("RELIANCE", 250),
    ("INFY", 500),
    ("TCS", 1_000),
];

/// Price units per rupee (asta-core prices are exact to 1/10,000).
const RUPEE: i64 = 10_000;

/// The 0.1 tick, valid for every symbol of the fixture catalog.
const GRID: i64 = 1_000;

const CAPITAL: i64 = 1_000_000;

const MAX_QUOTE_AGE_MS: u64 = 5_000;

fn ist() -> FixedOffset {
    FixedOffset::east_opt(5 * 3_600 + 1_800).unwrap()
}

fn ist_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&ist()).date_naive()
}

fn on_grid(units: i64) -> Price {
    Price::from_units((units / GRID).max(1) * GRID).unwrap()
}

fn shifted(price: Price, bps: i64) -> Price {
    on_grid(price.units() + price.units() * bps / 10_000)
}

fn signed(side: Side, quantity: u64) -> i128 {
    match side {
        Side::Sell => -i128::from(quantity),
        _ => i128::from(quantity),
    }
}

fn product_index(product: Product) -> usize {
    usize::from(product == Product::Mis)
}

fn symbol_index(order: &OrderRequest) -> usize {
    SYMBOLS
        .iter()
        .position(|(name, _)| *name == order.symbol().as_str())
        .unwrap()
}

/// Money for `quantity` at `price`, exactly.
fn value(price: Price, quantity: u128) -> Money {
    price
        .to_money()
        .checked_mul(i128::try_from(quantity).unwrap())
        .unwrap()
}

// ---------------------------------------------------------------------------
// Configuration and operations.

#[derive(Debug, Clone)]
struct Limits {
    position_bps: u32,
    loss_bps: u32,
    gross_lakhs: i64,
    max_open_orders: u32,
    require_reference_for_limit: bool,
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        prop::sample::select(vec![1_000u32, 2_000, 3_000]),
        prop::sample::select(vec![100u32, 300, 500]),
        prop::sample::select(vec![10i64, 20, 40]),
        prop::sample::select(vec![5u32, 20]),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(position_bps, loss_bps, gross_lakhs, max_open_orders, require)| Limits {
                position_bps,
                loss_bps,
                gross_lakhs,
                max_open_orders,
                require_reference_for_limit: require,
            },
        )
}

/// Position and loss caps that bind often; the limits this file does not
/// test (rates, rejection storms, unusual sizes) are set out of the way so
/// that approvals keep coming.
fn config(l: &Limits) -> RiskConfig {
    let windows = WindowLimits {
        per_second: 10,
        per_minute: 600,
        per_day: 100_000,
    };
    builder()
        .max_order_quantity(1_000)
        .max_order_notional(Money::from_rupees(200_000))
        .max_gross_exposure(Money::from_rupees(l.gross_lakhs * 100_000))
        .max_open_orders(l.max_open_orders)
        .max_position_share_bps(l.position_bps)
        .max_daily_loss_bps(l.loss_bps)
        .quote_max_age_ms(MAX_QUOTE_AGE_MS)
        .require_reference_for_limit(l.require_reference_for_limit)
        .rate_limits(RateLimitConfig {
            account: windows,
            strategy: windows,
            segment: windows,
            ..RateLimitConfig::default()
        })
        .breakers(BreakerConfig {
            max_rejections: 10_000,
            ..BreakerConfig::default()
        })
        .monitor(MonitorConfig {
            unusual_size: AlertAction::Warn,
            rapid_modification: AlertAction::Warn,
            ..MonitorConfig::default()
        })
        .build()
        .unwrap()
}

/// A new order relative to the symbol's current market price.
#[derive(Debug, Clone)]
struct Spec {
    s: usize,
    buy: bool,
    mis: bool,
    qty: u64,
    kind: u8,
    offset_bps: i64,
}

#[derive(Debug, Clone)]
enum Op {
    Quote {
        s: usize,
        move_bps: i64,
    },
    Order {
        spec: Spec,
        intentional: bool,
        caller_reference: bool,
        /// Quote the symbol at its market price first (a live feed).
        requote: bool,
    },
    Batch {
        specs: Vec<Spec>,
    },
    Open {
        pick: usize,
    },
    Release {
        pick: usize,
    },
    Close {
        pick: usize,
    },
    Modify {
        pick: usize,
        qty: u64,
        offset_bps: i64,
    },
    Fill {
        s: usize,
        buy: bool,
        mis: bool,
        qty: u64,
        offset_bps: i64,
    },
    OrderFill {
        pick: usize,
        qty: u64,
    },
    Cancel {
        pick: usize,
    },
    Advance {
        ms: i64,
    },
    NextDay {
        ms: i64,
    },
    Halt,
    Reset,
    ResetReducing,
    SetReducing,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..4usize,
        any::<bool>(),
        prop::bool::weighted(0.25),
        1u64..400,
        0u8..4,
        -600i64..600,
    )
        .prop_map(|(s, buy, mis, qty, kind, offset_bps)| Spec {
            s,
            buy,
            mis,
            qty,
            kind,
            offset_bps,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..4usize, -400i64..400).prop_map(|(s, move_bps)| Op::Quote { s, move_bps }),
        16 => (
            spec(),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.2),
            prop::bool::weighted(0.6)
        )
            .prop_map(|(spec, intentional, caller_reference, requote)| Op::Order {
                spec,
                intentional,
                caller_reference,
                requote
            }),
        2 => prop::collection::vec(spec(), 2..4).prop_map(|specs| Op::Batch { specs }),
        4 => (0..8usize).prop_map(|pick| Op::Open { pick }),
        1 => (0..8usize).prop_map(|pick| Op::Release { pick }),
        2 => (0..8usize).prop_map(|pick| Op::Close { pick }),
        2 => (0..8usize, 1u64..400, -300i64..300).prop_map(|(pick, qty, offset_bps)| {
            Op::Modify {
                pick,
                qty,
                offset_bps,
            }
        }),
        3 => (0..4usize, any::<bool>(), prop::bool::weighted(0.25), 1u64..300, -200i64..200)
            .prop_map(|(s, buy, mis, qty, offset_bps)| Op::Fill {
                s,
                buy,
                mis,
                qty,
                offset_bps
            }),
        3 => (0..8usize, 1u64..500).prop_map(|(pick, qty)| Op::OrderFill { pick, qty }),
        1 => (0..8usize).prop_map(|pick| Op::Cancel { pick }),
        5 => prop_oneof![9 => 0i64..3_000, 1 => 5_000i64..600_000]
            .prop_map(|ms| Op::Advance { ms }),
        1 => (0i64..10_800_000).prop_map(|ms| Op::NextDay { ms }),
        1 => Just(Op::Halt),
        3 => Just(Op::Reset),
        2 => Just(Op::ResetReducing),
        2 => Just(Op::SetReducing),
    ]
}

// ---------------------------------------------------------------------------
// The model.

/// One symbol as the model sees it.
#[derive(Debug, Clone)]
struct Sym {
    /// The generator's current market price (the last quote sent, or the start).
    market: Price,
    /// The last quote sent to the engine and when.
    quote: Option<(Price, DateTime<Utc>)>,
    /// The mark: the last traded price known, from a quote or a fill,
    /// whichever came later; before either, an approved order's price
    /// (forgotten at a day roll once nothing is held, open or quoted).
    mark: Option<Price>,
    /// Net quantity per product (CNC, MIS).
    net: [i128; 2],
    /// Today's cash flow: sells add, buys subtract; re-based at a day roll.
    cash: Money,
}

/// What a sequence exercised (to show the properties are not vacuous).
#[derive(Debug, Clone, Default)]
struct Stats {
    approvals: usize,
    /// Approvals whose worst-case value after the order is above half the cap.
    near_cap: usize,
    /// Approvals above the cap that did not raise the worst case.
    shrinking_over_cap: usize,
    /// Approvals while a daily-loss breach was latched (reducing orders).
    while_breached: usize,
    /// Daily-loss breaches (the model's loss going above its cap).
    breaches: usize,
    /// Resets to ACTIVE refused while the model's loss was above its cap.
    resets_refused_over_loss: usize,
    successful_resets: usize,
    day_rolls: usize,
    modify_approvals: usize,
    batch_approvals: usize,
    fills: usize,
    rejections: BTreeMap<&'static str, usize>,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.approvals += other.approvals;
        self.near_cap += other.near_cap;
        self.shrinking_over_cap += other.shrinking_over_cap;
        self.while_breached += other.while_breached;
        self.breaches += other.breaches;
        self.resets_refused_over_loss += other.resets_refused_over_loss;
        self.successful_resets += other.successful_resets;
        self.day_rolls += other.day_rolls;
        self.modify_approvals += other.modify_approvals;
        self.batch_approvals += other.batch_approvals;
        self.fills += other.fills;
        for (rule, n) in &other.rejections {
            *self.rejections.entry(rule).or_default() += n;
        }
    }
}

#[derive(Debug)]
struct Model {
    day: NaiveDate,
    syms: Vec<Sym>,
    pending: Vec<(ApprovalTicket, OrderRequest)>,
    /// Open orders: id, current content, quantity still counted.
    open: Vec<(OrderId, OrderRequest, u64)>,
    position_cap: Money,
    loss_cap: Money,
    /// A daily-loss breach happened and no reset to ACTIVE has succeeded since.
    breached: bool,
    /// The IST day on which an operator reset to REDUCING during the current
    /// breach (acknowledging it); cleared by a reset to ACTIVE.
    acknowledged: Option<NaiveDate>,
    stats: Stats,
}

impl Model {
    fn new(now: DateTime<Utc>, l: &Limits) -> Self {
        let capital = Money::from_rupees(CAPITAL);
        Self {
            day: ist_date(now),
            syms: SYMBOLS
                .iter()
                .map(|(_, rupees)| Sym {
                    market: Price::from_units(rupees * RUPEE).unwrap(),
                    quote: None,
                    mark: None,
                    net: [0, 0],
                    cash: Money::ZERO,
                })
                .collect(),
            pending: Vec::new(),
            open: Vec::new(),
            // capital × bps / 10,000, exactly (both divide evenly here).
            position_cap: Money::from_units(capital.units() * i128::from(l.position_bps) / 10_000),
            loss_cap: Money::from_units(capital.units() * i128::from(l.loss_bps) / 10_000),
            breached: false,
            acknowledged: None,
            stats: Stats::default(),
        }
    }

    /// Open and pending quantity on `side` in symbol `s`, leaving out open
    /// order `skip` (the one being modified).
    fn open_quantity(&self, s: usize, side: Side, skip: Option<usize>) -> u128 {
        let pending = self
            .pending
            .iter()
            .filter(|(_, o)| symbol_index(o) == s && o.side() == side)
            .map(|(_, o)| u128::from(o.quantity().get()));
        let open = self
            .open
            .iter()
            .enumerate()
            .filter(|(i, (_, o, _))| Some(*i) != skip && symbol_index(o) == s && o.side() == side)
            .map(|(_, (_, _, counted))| u128::from(*counted));
        pending.chain(open).sum()
    }

    /// Worst-case absolute net position of symbol `s` if every open buy or
    /// every open sell filled, with `extra` added and open order `skip` left out.
    fn worst_case(&self, s: usize, extra: Option<(Side, u64)>, skip: Option<usize>) -> u128 {
        let net: i128 = self.syms[s].net.iter().sum();
        let mut buys = self.open_quantity(s, Side::Buy, skip);
        let mut sells = self.open_quantity(s, Side::Sell, skip);
        match extra {
            Some((Side::Sell, q)) => sells += u128::from(q),
            Some((_, q)) => buys += u128::from(q),
            None => {}
        }
        let long = net + i128::try_from(buys).unwrap();
        let short = net - i128::try_from(sells).unwrap();
        long.unsigned_abs().max(short.unsigned_abs())
    }

    /// The REDUCING rule: the order only reduces its product's position,
    /// counting the open orders on the same side.
    fn reduces(&self, order: &OrderRequest, skip: Option<usize>) -> bool {
        let s = symbol_index(order);
        let net = self.syms[s].net[product_index(order.product())];
        let total = u128::from(order.quantity().get()) + self.open_quantity(s, order.side(), skip);
        match order.side() {
            Side::Sell => net > 0 && total <= net.unsigned_abs(),
            _ => net < 0 && total <= net.unsigned_abs(),
        }
    }

    /// The reference price the engine may use: the caller's, else a quote
    /// at most the staleness limit old.
    fn reference(&self, s: usize, now: DateTime<Utc>, caller: Option<Price>) -> Option<Price> {
        if let Some(price) = caller.filter(|p| *p > Price::ZERO) {
            return Some(price);
        }
        let (price, at) = self.syms[s].quote?;
        let age = now.signed_duration_since(at).num_milliseconds();
        let max = i64::try_from(MAX_QUOTE_AGE_MS).unwrap();
        (0..=max).contains(&age).then_some(price)
    }

    /// The price the order is valued at: limit price (LIMIT, SL), the higher
    /// of trigger and reference (SL-M), the reference (MARKET).
    fn order_price(order: &OrderRequest, reference: Option<Price>) -> Option<Price> {
        match order.price_type() {
            PriceType::Limit | PriceType::StopLoss => order.price(),
            PriceType::StopLossMarket => match (order.trigger_price(), reference) {
                (Some(t), Some(r)) => Some(t.max(r)),
                (t, r) => t.or(r),
            },
            _ => reference,
        }
    }

    /// The day's P&L: cash flow plus net × mark, over every symbol.
    fn pnl(&self) -> Money {
        let mut total = Money::ZERO;
        for sym in &self.syms {
            let net: i128 = sym.net.iter().sum();
            let held = match sym.mark {
                Some(mark) => mark.to_money().checked_mul(net).unwrap(),
                None => {
                    assert_eq!(sym.net, [0, 0], "a position without a mark");
                    Money::ZERO
                }
            };
            total = total
                .checked_add(sym.cash)
                .unwrap()
                .checked_add(held)
                .unwrap();
        }
        total
    }

    /// The day's loss: the negative part of the P&L.
    fn loss(&self) -> Money {
        let pnl = self.pnl();
        if pnl.is_negative() {
            pnl.checked_neg().unwrap()
        } else {
            Money::ZERO
        }
    }

    /// Worst-case gross exposure at the marks.
    fn gross(&self) -> Money {
        let mut total = Money::ZERO;
        for (s, sym) in self.syms.iter().enumerate() {
            if let Some(mark) = sym.mark {
                total = total
                    .checked_add(value(mark, self.worst_case(s, None, None)))
                    .unwrap();
            }
        }
        total
    }

    /// A new IST day at `now`: P&L counts from the marks again.
    fn roll_if_needed(&mut self, now: DateTime<Utc>) {
        let today = ist_date(now);
        if today <= self.day {
            return;
        }
        self.day = today;
        self.stats.day_rolls += 1;
        for s in 0..self.syms.len() {
            let busy = self.open_quantity(s, Side::Buy, None) > 0
                || self.open_quantity(s, Side::Sell, None) > 0;
            let sym = &mut self.syms[s];
            let net: i128 = sym.net.iter().sum();
            sym.cash = match sym.mark {
                Some(mark) => mark
                    .to_money()
                    .checked_mul(net)
                    .unwrap()
                    .checked_neg()
                    .unwrap(),
                None => Money::ZERO,
            };
            if sym.quote.is_none() && sym.net == [0, 0] && !busy {
                sym.mark = None;
            }
        }
    }

    fn fill(&mut self, s: usize, product: Product, side: Side, quantity: u64, price: Price) {
        let sym = &mut self.syms[s];
        let delta = signed(side, quantity);
        sym.net[product_index(product)] += delta;
        sym.cash = sym
            .cash
            .checked_sub(price.to_money().checked_mul(delta).unwrap())
            .unwrap();
        // A fill is a traded price: the latest one known marks the position.
        sym.mark = Some(price);
        self.stats.fills += 1;
    }

    /// Checks an approved order (or modification of open order `replaced`)
    /// against the position and daily-loss promises; returns its valuation
    /// price (the engine seeds a missing mark with it).
    fn check_approval(
        &mut self,
        order: &OrderRequest,
        replaced: Option<usize>,
        reference: Option<Price>,
        state: TradingState,
    ) -> Result<Price, TestCaseError> {
        let s = symbol_index(order);
        let price = Self::order_price(order, reference);
        prop_assert!(price.is_some(), "approved without a price: {order:?}");
        let price = price.unwrap();
        prop_assert_ne!(state, TradingState::Halted, "approved while HALTED");

        // 1. Position value per symbol.
        let valuation = self.syms[s].mark.map_or(price, |m| m.max(price));
        let before = self.worst_case(s, None, None);
        let after = self.worst_case(s, Some((order.side(), order.quantity().get())), replaced);
        let after_value = value(valuation, after);
        prop_assert!(
            after_value <= self.position_cap || after <= before,
            "position limit broken: {order:?} takes the worst case of {} from {before} to \
             {after}, {after_value} at {valuation}, above the cap of {}",
            order.symbol(),
            self.position_cap
        );
        if after_value > self.position_cap {
            self.stats.shrinking_over_cap += 1;
        } else if after_value.checked_mul(2).unwrap() > self.position_cap {
            self.stats.near_cap += 1;
        }

        // 2. Daily loss: only reducing orders once the loss is above its cap.
        let reduces = self.reduces(order, replaced);
        if !reduces {
            prop_assert!(
                !self.breached,
                "an exposure-increasing order approved after a daily-loss breach: {order:?}"
            );
            let loss = self.loss();
            prop_assert!(
                loss <= self.loss_cap,
                "an exposure-increasing order approved with a daily loss of {loss} above {}",
                self.loss_cap
            );
        }
        if state == TradingState::Reducing {
            prop_assert!(
                reduces,
                "a non-reducing order approved in REDUCING: {order:?}"
            );
        }
        if self.breached {
            self.stats.while_breached += 1;
        }
        self.stats.approvals += 1;
        Ok(price)
    }
}

// ---------------------------------------------------------------------------
// Driving the engine and the model.

fn build_order(spec: &Spec, market: Price) -> OrderRequest {
    let price = shifted(market, spec.offset_bps);
    let builder = OrderRequest::builder()
        .symbol(sym(SYMBOLS[spec.s].0))
        .exchange(Exchange::Nse)
        .side(if spec.buy { Side::Buy } else { Side::Sell })
        .product(if spec.mis { Product::Mis } else { Product::Cnc })
        .quantity(Quantity::new(spec.qty).unwrap())
        .strategy(tag("s1"));
    match spec.kind {
        0 => builder.price_type(PriceType::Market),
        1 => builder.price_type(PriceType::Limit).price(price),
        2 => builder
            .price_type(PriceType::StopLossMarket)
            .trigger_price(price),
        _ => builder
            .price_type(PriceType::StopLoss)
            .price(price)
            .trigger_price(price),
    }
    .build()
    .unwrap()
}

/// 09:30 IST plus `ms` on the next weekday after `now`'s IST date.
fn next_trading_morning(now: DateTime<Utc>, ms: i64) -> DateTime<Utc> {
    let mut date = ist_date(now).succ_opt().unwrap();
    while matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        date = date.succ_opt().unwrap();
    }
    let morning = ist()
        .from_local_datetime(&date.and_hms_opt(9, 30, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    morning + TimeDelta::milliseconds(ms)
}

/// Sends symbol `s`'s market price to the engine as a quote.
fn quote(f: &mut Fixture, model: &mut Model, s: usize, now: DateTime<Utc>) {
    let m = &mut model.syms[s];
    f.engine
        .update_quote(Exchange::Nse, &sym(SYMBOLS[s].0), m.market);
    m.quote = Some((m.market, now));
    m.mark = Some(m.market);
}

fn record_rejection(model: &mut Model, rule: &'static str) {
    *model.stats.rejections.entry(rule).or_default() += 1;
}

/// Runs one sequence, asserting the properties after every operation.
fn run(l: &Limits, ops: Vec<Op>) -> Result<Stats, TestCaseError> {
    let mut f = fixture_with(config(l));
    let mut model = Model::new(f.clock.now(), l);
    let s1 = tag("s1");
    let mut next_id = 0u32;
    for op in ops {
        let now = f.clock.now();
        match op {
            Op::Quote { s, move_bps } => {
                model.roll_if_needed(now);
                let base = SYMBOLS[s].1 * RUPEE;
                let moved = shifted(model.syms[s].market, move_bps);
                model.syms[s].market = on_grid(moved.units().clamp(base / 2, base * 2));
                quote(&mut f, &mut model, s, now);
            }
            Op::Order {
                spec,
                intentional,
                caller_reference,
                requote,
            } => {
                model.roll_if_needed(now);
                if requote {
                    quote(&mut f, &mut model, spec.s, now);
                }
                let order = build_order(&spec, model.syms[spec.s].market);
                let caller = caller_reference.then_some(model.syms[spec.s].market);
                let mut context = OrderContext::new().intentional_duplicate(intentional);
                if let Some(price) = caller {
                    context = context.reference_price(price);
                }
                let state = f.engine.strategy_state(&s1);
                match f.engine.check_order(&order, &context) {
                    Ok(approval) => {
                        let reference = model.reference(spec.s, now, caller);
                        let price = model.check_approval(&order, None, reference, state)?;
                        model.syms[spec.s].mark.get_or_insert(price);
                        model.pending.push((approval.ticket, order));
                    }
                    Err(rejection) => record_rejection(&mut model, rejection.rule()),
                }
            }
            Op::Batch { specs } => {
                model.roll_if_needed(now);
                for spec in &specs {
                    quote(&mut f, &mut model, spec.s, now);
                }
                let orders: Vec<OrderRequest> = specs
                    .iter()
                    .map(|spec| build_order(spec, model.syms[spec.s].market))
                    .collect();
                let state = f.engine.strategy_state(&s1);
                match f.engine.check_batch(&orders, &OrderContext::new()) {
                    Ok(approvals) => {
                        prop_assert_eq!(approvals.len(), orders.len());
                        for (order, approval) in orders.into_iter().zip(approvals) {
                            let s = symbol_index(&order);
                            let reference = model.reference(s, now, None);
                            let price = model.check_approval(&order, None, reference, state)?;
                            model.syms[s].mark.get_or_insert(price);
                            model.pending.push((approval.ticket, order));
                            model.stats.batch_approvals += 1;
                        }
                    }
                    Err(rejection) => record_rejection(&mut model, rejection.rule()),
                }
            }
            Op::Open { pick } => {
                if !model.pending.is_empty() {
                    model.roll_if_needed(now);
                    let (ticket, order) = model.pending.remove(pick % model.pending.len());
                    next_id += 1;
                    let id = OrderId::new(&format!("O{next_id}")).unwrap();
                    f.engine.order_opened(id.clone(), &order, Some(ticket));
                    let quantity = order.quantity().get();
                    model.open.push((id, order, quantity));
                }
            }
            Op::Release { pick } => {
                if !model.pending.is_empty() {
                    let (ticket, _) = model.pending.remove(pick % model.pending.len());
                    f.engine.release_approval(ticket);
                }
            }
            Op::Close { pick } => {
                if !model.open.is_empty() {
                    let (id, _, _) = model.open.remove(pick % model.open.len());
                    f.engine.order_closed(&id);
                }
            }
            Op::Modify {
                pick,
                qty,
                offset_bps,
            } => {
                if !model.open.is_empty() {
                    model.roll_if_needed(now);
                    let index = pick % model.open.len();
                    let (id, order, _) = model.open[index].clone();
                    let s = symbol_index(&order);
                    let mut b = order.to_builder().quantity(Quantity::new(qty).unwrap());
                    if let Some(price) = order.price() {
                        b = b.price(shifted(price, offset_bps));
                    }
                    if let Some(trigger) = order.trigger_price() {
                        // SL orders here carry trigger == price; keep it so.
                        b = b.trigger_price(shifted(order.price().unwrap_or(trigger), offset_bps));
                    }
                    let new = b.build().unwrap();
                    let state = f.engine.strategy_state(&s1);
                    match f.engine.check_modify(&id, &new, &OrderContext::new()) {
                        Ok(_) => {
                            let reference = model.reference(s, now, None);
                            model.check_approval(&new, Some(index), reference, state)?;
                            model.open[index] = (id, new, qty);
                            model.stats.modify_approvals += 1;
                        }
                        Err(rejection) => record_rejection(&mut model, rejection.rule()),
                    }
                }
            }
            Op::Fill {
                s,
                buy,
                mis,
                qty,
                offset_bps,
            } => {
                model.roll_if_needed(now);
                let side = if buy { Side::Buy } else { Side::Sell };
                let product = if mis { Product::Mis } else { Product::Cnc };
                let price = shifted(model.syms[s].market, offset_bps);
                f.engine.record_fill(&FillReport {
                    exchange: Exchange::Nse,
                    symbol: sym(SYMBOLS[s].0),
                    product,
                    side,
                    quantity: Quantity::new(qty).unwrap(),
                    price,
                    strategy: s1.clone(),
                    order_id: None,
                });
                model.fill(s, product, side, qty, price);
            }
            Op::OrderFill { pick, qty } => {
                if !model.open.is_empty() {
                    model.roll_if_needed(now);
                    let index = pick % model.open.len();
                    let (id, order, counted) = model.open[index].clone();
                    let s = symbol_index(&order);
                    let price = order.price().unwrap_or(model.syms[s].market);
                    f.engine.record_fill(&FillReport {
                        exchange: Exchange::Nse,
                        symbol: order.symbol().clone(),
                        product: order.product(),
                        side: order.side(),
                        quantity: Quantity::new(qty).unwrap(),
                        price,
                        strategy: s1.clone(),
                        order_id: Some(id),
                    });
                    model.open[index].2 = counted - qty.min(counted);
                    model.fill(s, order.product(), order.side(), qty, price);
                }
            }
            Op::Cancel { pick } => {
                model.roll_if_needed(now);
                let id = model
                    .open
                    .get(pick % model.open.len().max(1))
                    .map_or_else(|| OrderId::new("none").unwrap(), |o| o.0.clone());
                prop_assert!(f.engine.check_cancel(&id).is_ok(), "cancels always pass");
            }
            Op::Advance { ms } => f.clock.advance(TimeDelta::milliseconds(ms)),
            Op::NextDay { ms } => f.clock.set(next_trading_morning(now, ms)),
            Op::Halt => f.engine.halt("random halt"),
            Op::Reset => {
                model.roll_if_needed(now);
                let loss = model.loss();
                match f.engine.reset("ops", GOOD_CODE, &FakeTotp) {
                    Ok(()) => {
                        prop_assert!(
                            loss <= model.loss_cap,
                            "reset to ACTIVE with a daily loss of {loss} above {}",
                            model.loss_cap
                        );
                        model.breached = false;
                        model.acknowledged = None;
                        model.stats.successful_resets += 1;
                    }
                    Err(_) if loss > model.loss_cap => model.stats.resets_refused_over_loss += 1,
                    Err(_) => {}
                }
            }
            Op::ResetReducing => {
                model.roll_if_needed(now);
                let reset = f.engine.reset_scope(
                    StateScope::Account,
                    TradingState::Reducing,
                    "ops",
                    GOOD_CODE,
                    &FakeTotp,
                );
                if reset.is_ok() && model.breached {
                    model.acknowledged = Some(model.day);
                }
            }
            Op::SetReducing => f.engine.set_reducing(StateScope::Account, "wind down"),
        }

        // A breach latches in the model; the engine must not be ACTIVE then.
        let loss = model.loss();
        if loss > model.loss_cap && !model.breached {
            model.breached = true;
            model.stats.breaches += 1;
        }
        // A loss above the cap trips the breaker: HALTED, unless an operator
        // acknowledged today's breach with a reset to REDUCING.
        if loss > model.loss_cap {
            let state = f.engine.trading_state();
            prop_assert!(
                state == TradingState::Halted
                    || (state == TradingState::Reducing && model.acknowledged == Some(model.day)),
                "{} with a daily loss of {} above {} and no acknowledgement today",
                state,
                loss,
                model.loss_cap
            );
        }
        if model.breached {
            prop_assert_ne!(
                f.engine.trading_state(),
                TradingState::Active,
                "ACTIVE after a daily-loss breach (loss now {}, cap {})",
                loss,
                model.loss_cap
            );
        }

        // The engine's bookkeeping equals the model's, exactly.
        let status = f.engine.status();
        prop_assert_eq!(status.daily_loss, loss, "daily loss");
        prop_assert_eq!(status.gross_exposure, model.gross(), "gross exposure");
        prop_assert_eq!(status.pending_approvals, model.pending.len());
        prop_assert_eq!(status.open_orders, model.open.len());
        for (s, m) in model.syms.iter().enumerate() {
            for product in [Product::Cnc, Product::Mis] {
                let engine = status
                    .positions
                    .iter()
                    .find(|p| p.symbol.as_str() == SYMBOLS[s].0 && p.product == product);
                let net = m.net[product_index(product)];
                prop_assert_eq!(engine.map_or(0, |p| p.net), net, "net {}", SYMBOLS[s].0);
                if let Some(p) = engine {
                    prop_assert_eq!(p.mark, m.mark, "mark of {}", SYMBOLS[s].0);
                }
            }
        }
        let _ = f.engine.drain_events();
    }
    Ok(model.stats)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn approvals_keep_position_value_and_daily_loss_within_their_limits(
        l in limits(),
        ops in prop::collection::vec(op(), 1..250),
    ) {
        run(&l, ops)?;
    }
}

/// The properties would hold vacuously if the limits never came near: on a
/// fixed seed, check that sequences approve near and over the position cap,
/// reject for it, breach the daily loss, refuse resets, and roll the day.
#[test]
fn the_random_sequences_reach_both_limits() {
    let config = Config {
        cases: 32,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let total = RefCell::new(Stats::default());
    runner
        .run(
            &(limits(), prop::collection::vec(op(), 150..250)),
            |(l, ops)| {
                let stats = run(&l, ops)?;
                total.borrow_mut().add(&stats);
                Ok(())
            },
        )
        .unwrap();
    let t = total.into_inner();
    let rejected = |rule: &str| t.rejections.get(rule).copied().unwrap_or(0);
    assert!(t.approvals >= 300, "{t:?}");
    assert!(t.near_cap >= 100, "{t:?}");
    assert!(t.shrinking_over_cap >= 30, "{t:?}");
    assert!(rejected("POSITION_LIMIT") >= 100, "{t:?}");
    assert!(t.breaches >= 5, "{t:?}");
    assert!(t.while_breached >= 1, "{t:?}");
    assert!(t.resets_refused_over_loss >= 3, "{t:?}");
    assert!(t.successful_resets >= 50, "{t:?}");
    assert!(t.day_rolls >= 50, "{t:?}");
    assert!(t.modify_approvals >= 10, "{t:?}");
    assert!(t.batch_approvals >= 20, "{t:?}");
    assert!(rejected("REDUCING_ONLY") >= 50, "{t:?}");
}
