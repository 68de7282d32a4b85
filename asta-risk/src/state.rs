//! The risk state that persists: positions, P&L, open orders, windows, states.

use std::collections::{BTreeMap, VecDeque};

use asta_core::{Exchange, Money, OrderId, OrderRequest, Price, Product, Side, Symbol};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::breaker::{LatchedBreaker, RejectionTracker};
use crate::monitor::MonitorState;
use crate::rate_limit::{RateLimiter, RateScope};
use crate::trading_state::StateBook;

/// Key of everything per instrument.
pub(crate) type SymbolKey = (Exchange, Symbol);

/// A price and, for a reference quote, when it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Quote {
    pub(crate) price: Price,
    pub(crate) at: DateTime<Utc>,
}

/// One product's position in an instrument.
///
/// `cost` is the signed cost basis of the open quantity (negative for a
/// short), so mark-to-market is `mark × net − cost` exactly. At an IST day
/// roll the basis is moved to the last mark, so P&L counts from the previous
/// mark (the day's change), as brokers report the day's MTM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductPosition {
    pub(crate) product: Product,
    pub(crate) net: i128,
    pub(crate) cost: Money,
    pub(crate) realized_today: Money,
}

/// Everything the engine knows about one instrument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SymbolBook {
    /// The last reference quote (from `update_quote`).
    pub(crate) quote: Option<Quote>,
    /// The mark: the last traded price known, from a quote or a fill,
    /// whichever came later. Before either, an approved order's price stands
    /// in (to value exposure); it never marks a position, because the fill
    /// that opens one replaces it.
    pub(crate) mark: Option<Price>,
    pub(crate) positions: Vec<ProductPosition>,
    /// Quantity of open and pending buy orders.
    pub(crate) open_buy: u128,
    /// Quantity of open and pending sell orders.
    pub(crate) open_sell: u128,
}

fn signed(side: Side, quantity: u64) -> i128 {
    match side {
        Side::Sell => -i128::from(quantity),
        _ => i128::from(quantity),
    }
}

impl SymbolBook {
    /// Net quantity over all products.
    pub(crate) fn net(&self) -> i128 {
        self.positions
            .iter()
            .fold(0i128, |total, p| total.saturating_add(p.net))
    }

    /// Net quantity of one product.
    pub(crate) fn product_net(&self, product: Product) -> i128 {
        self.positions
            .iter()
            .find(|p| p.product == product)
            .map_or(0, |p| p.net)
    }

    /// Worst-case absolute position if every open buy (or every open sell)
    /// filled, with `extra` more of `side`.
    pub(crate) fn worst_case(&self, extra: Option<(Side, u64)>) -> u128 {
        let net = self.net();
        let mut buys = self.open_buy;
        let mut sells = self.open_sell;
        match extra {
            Some((Side::Sell, q)) => sells = sells.saturating_add(u128::from(q)),
            Some((_, q)) => buys = buys.saturating_add(u128::from(q)),
            None => {}
        }
        let long = net.saturating_add(i128::try_from(buys).unwrap_or(i128::MAX));
        let short = net.saturating_sub(i128::try_from(sells).unwrap_or(i128::MAX));
        long.unsigned_abs().max(short.unsigned_abs())
    }

    /// Worst-case position value at `price`.
    pub(crate) fn worst_case_value(
        &self,
        extra: Option<(Side, u64)>,
        price: Price,
    ) -> Option<Money> {
        let qty = i128::try_from(self.worst_case(extra)).ok()?;
        price.to_money().checked_mul(qty)
    }

    /// Whether an order of `side`/`quantity` in `product` only reduces the
    /// product's position, counting the open orders on the same side.
    pub(crate) fn reduces(&self, product: Product, side: Side, quantity: u64) -> bool {
        let net = self.product_net(product);
        let q = u128::from(quantity);
        match side {
            Side::Sell => net > 0 && q.saturating_add(self.open_sell) <= net.unsigned_abs(),
            _ => net < 0 && q.saturating_add(self.open_buy) <= net.unsigned_abs(),
        }
    }

    /// Adds an open or pending order.
    pub(crate) fn add_open(&mut self, side: Side, quantity: u64) {
        match side {
            Side::Sell => self.open_sell = self.open_sell.saturating_add(u128::from(quantity)),
            _ => self.open_buy = self.open_buy.saturating_add(u128::from(quantity)),
        }
    }

    /// Removes an open or pending order.
    pub(crate) fn remove_open(&mut self, side: Side, quantity: u64) {
        match side {
            Side::Sell => self.open_sell = self.open_sell.saturating_sub(u128::from(quantity)),
            _ => self.open_buy = self.open_buy.saturating_sub(u128::from(quantity)),
        }
    }

    /// Today's realized P&L plus mark-to-market of the open positions.
    pub(crate) fn day_pnl(&self) -> Option<(Money, Money)> {
        let mut realized = Money::ZERO;
        let mut unrealized = Money::ZERO;
        for p in &self.positions {
            realized = realized.checked_add(p.realized_today)?;
            if p.net != 0
                && let Some(mark) = self.mark
            {
                let value = mark.to_money().checked_mul(p.net)?;
                unrealized = unrealized.checked_add(value.checked_sub(p.cost)?)?;
            }
        }
        Some((realized, unrealized))
    }

    /// Applies a fill; returns the realized P&L of this fill, or `None` on overflow.
    pub(crate) fn apply_fill(
        &mut self,
        product: Product,
        side: Side,
        quantity: u64,
        price: Price,
    ) -> Option<Money> {
        let index = match self.positions.iter().position(|p| p.product == product) {
            Some(i) => i,
            None => {
                self.positions.push(ProductPosition {
                    product,
                    net: 0,
                    cost: Money::ZERO,
                    realized_today: Money::ZERO,
                });
                self.positions.len() - 1
            }
        };
        let position = self.positions.get_mut(index)?;
        let mut next = *position;
        let delta = signed(side, quantity);
        let px = price.to_money();
        let mut realized = Money::ZERO;
        if next.net == 0 || (next.net > 0) == (delta > 0) {
            next.net = next.net.checked_add(delta)?;
            next.cost = next.cost.checked_add(px.checked_mul(delta)?)?;
        } else {
            let closing = delta.unsigned_abs().min(next.net.unsigned_abs());
            let closing = i128::try_from(closing).ok()?;
            let held = next.net.abs();
            let cost_removed = Money::from_units(next.cost.units().checked_mul(closing)? / held);
            let direction = next.net.signum();
            let proceeds = px.checked_mul(closing.checked_mul(direction)?)?;
            realized = proceeds.checked_sub(cost_removed)?;
            next.realized_today = next.realized_today.checked_add(realized)?;
            next.cost = next.cost.checked_sub(cost_removed)?;
            next.net = next.net.checked_sub(closing.checked_mul(direction)?)?;
            let remaining = delta.abs().checked_sub(closing)?;
            if remaining > 0 {
                let flip = remaining.checked_mul(delta.signum())?;
                next.net = next.net.checked_add(flip)?;
                next.cost = next.cost.checked_add(px.checked_mul(flip)?)?;
            }
        }
        *position = next;
        // A fill is a traded price: the latest one marks the position (an
        // approved order's price only stood in until a price was known).
        self.mark = Some(price);
        Some(realized)
    }

    /// Starts a new day: realized P&L to zero, cost basis to the last mark.
    pub(crate) fn roll_day(&mut self) {
        let mark = self.mark;
        self.positions.retain(|p| p.net != 0);
        for p in &mut self.positions {
            p.realized_today = Money::ZERO;
            if let Some(mark) = mark
                && let Some(cost) = mark.to_money().checked_mul(p.net)
            {
                p.cost = cost;
            }
        }
    }
}

/// An order the broker holds (or may hold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpenOrder {
    pub(crate) order: OrderRequest,
    /// Quantity counted in the symbol's open quantity.
    pub(crate) counted: u64,
    pub(crate) modifications: u32,
    pub(crate) modify_times: VecDeque<DateTime<Utc>>,
}

/// The persisted risk state.
///
/// Every collection here is ordered (no `HashMap`/`HashSet`): the encoding
/// is canonical, so a snapshot has one digest, and every iteration (sums,
/// eviction ties) runs in the same order live and in a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RiskState {
    /// The IST day the daily counters belong to.
    pub(crate) day: NaiveDate,
    pub(crate) states: StateBook,
    pub(crate) breakers: Vec<LatchedBreaker>,
    #[serde(with = "crate::map_as_vec")]
    pub(crate) book: BTreeMap<SymbolKey, SymbolBook>,
    pub(crate) open_orders: BTreeMap<OrderId, OpenOrder>,
    pub(crate) pending: BTreeMap<u64, OrderRequest>,
    pub(crate) next_ticket: u64,
    #[serde(with = "crate::map_as_vec")]
    pub(crate) rates: BTreeMap<RateScope, RateLimiter>,
    pub(crate) duplicates: VecDeque<(OrderRequest, DateTime<Utc>)>,
    pub(crate) rejections: RejectionTracker,
    pub(crate) monitor: MonitorState,
    pub(crate) next_event_seq: u64,
    /// The IST day on which an operator reset a daily-loss halt to REDUCING:
    /// that day, the breach is known and does not trip again while reducing.
    /// A reset of the account to ACTIVE ends the acknowledgement.
    pub(crate) loss_acknowledged: Option<NaiveDate>,
    /// The seq of the last journal entry applied (0 before any). Absent from
    /// state files of engines that never journal, so their format is unchanged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) journal_seq: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl RiskState {
    /// A fresh state for `day`.
    pub(crate) fn new(day: NaiveDate) -> Self {
        Self {
            day,
            states: StateBook::default(),
            breakers: Vec::new(),
            book: BTreeMap::new(),
            open_orders: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_ticket: 1,
            rates: BTreeMap::new(),
            duplicates: VecDeque::new(),
            rejections: RejectionTracker::default(),
            monitor: MonitorState::default(),
            next_event_seq: 1,
            loss_acknowledged: None,
            journal_seq: 0,
        }
    }

    /// Open plus pending orders.
    pub(crate) fn open_count(&self) -> usize {
        self.open_orders.len().saturating_add(self.pending.len())
    }

    /// Today's realized and mark-to-market P&L over all instruments.
    pub(crate) fn day_pnl(&self) -> Option<(Money, Money)> {
        let mut realized = Money::ZERO;
        let mut unrealized = Money::ZERO;
        for book in self.book.values() {
            let (r, u) = book.day_pnl()?;
            realized = realized.checked_add(r)?;
            unrealized = unrealized.checked_add(u)?;
        }
        Some((realized, unrealized))
    }

    /// The day's loss: the negative of P&L when P&L is negative, else zero.
    /// Profits never count as losses. `None` on overflow.
    pub(crate) fn day_loss(&self) -> Option<Money> {
        let (r, u) = self.day_pnl()?;
        let pnl = r.checked_add(u)?;
        if pnl.is_negative() {
            pnl.checked_neg()
        } else {
            Some(Money::ZERO)
        }
    }

    /// Gross worst-case exposure over all instruments, at their marks.
    pub(crate) fn gross_exposure(&self) -> Option<Money> {
        let mut total = Money::ZERO;
        for book in self.book.values() {
            if let Some(mark) = book.mark {
                total = total.checked_add(book.worst_case_value(None, mark)?)?;
            }
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Price {
        text.parse().unwrap()
    }

    #[test]
    fn average_cost_pnl_is_exact() {
        let mut b = SymbolBook::default();
        assert_eq!(
            b.apply_fill(Product::Cnc, Side::Buy, 10, p("100")),
            Some(Money::ZERO)
        );
        assert_eq!(
            b.apply_fill(Product::Cnc, Side::Buy, 20, p("103")),
            Some(Money::ZERO)
        );
        // Average 102 on 30; sell 15 at 101: realized -15.
        let realized = b
            .apply_fill(Product::Cnc, Side::Sell, 15, p("101"))
            .unwrap();
        assert_eq!(realized, Money::from_rupees(-15));
        // Flip: sell 25 at 104 closes 15 (+30) and opens 10 short at 104.
        let realized = b
            .apply_fill(Product::Cnc, Side::Sell, 25, p("104"))
            .unwrap();
        assert_eq!(realized, Money::from_rupees(30));
        assert_eq!(b.product_net(Product::Cnc), -10);
        assert_eq!(b.positions[0].cost, Money::from_rupees(-1_040));
        b.mark = Some(p("100"));
        let (r, u) = b.day_pnl().unwrap();
        assert_eq!(r, Money::from_rupees(15));
        assert_eq!(u, Money::from_rupees(40));
        // Closing a third of an odd basis keeps the total exact.
        let mut c = SymbolBook::default();
        c.apply_fill(Product::Mis, Side::Buy, 3, p("0.0001"))
            .unwrap();
        c.apply_fill(Product::Mis, Side::Buy, 1, p("0.0002"))
            .unwrap();
        let r1 = c.apply_fill(Product::Mis, Side::Sell, 1, p("0")).unwrap();
        let r2 = c.apply_fill(Product::Mis, Side::Sell, 3, p("0")).unwrap();
        assert_eq!(r1.checked_add(r2).unwrap(), Money::from_units(-5));
        assert_eq!(c.positions[0].cost, Money::ZERO);
    }

    #[test]
    fn worst_case_counts_open_orders() {
        let mut b = SymbolBook::default();
        b.apply_fill(Product::Cnc, Side::Buy, 100, p("10")).unwrap();
        b.add_open(Side::Buy, 50);
        b.add_open(Side::Sell, 300);
        assert_eq!(b.worst_case(None), 200);
        assert_eq!(b.worst_case(Some((Side::Buy, 10))), 200);
        assert_eq!(b.worst_case(Some((Side::Sell, 10))), 210);
        assert!(
            !b.reduces(Product::Cnc, Side::Sell, 10),
            "open sells already cover the long"
        );
        b.remove_open(Side::Sell, 300);
        assert!(b.reduces(Product::Cnc, Side::Sell, 100));
        assert!(!b.reduces(Product::Cnc, Side::Sell, 101));
        assert!(!b.reduces(Product::Mis, Side::Sell, 1));
        assert!(!b.reduces(Product::Cnc, Side::Buy, 1));
    }
}
