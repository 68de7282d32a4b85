//! Finding out which orders in a broker's order book came from requests
//! whose outcome is unknown: one algorithm, used by the OpenAlgo adapter
//! right after a failed placement and by [`Guard::sync`](crate::Guard::sync)
//! later.
//!
//! It follows how OpenAlgo books orders (see the contract notes):
//!
//! - an entry **matches** an attempt when exchange, symbol, side, product,
//!   price type and quantity are equal, the strategy too when the entry
//!   carries one (the documented live order book has none), the limit price
//!   for LIMIT and SL orders and the trigger price for SL and SL-M orders. A
//!   MARKET order is booked with the last traded price, so its price is never
//!   compared;
//! - an entry counts only if it is timestamped no earlier than the attempt
//!   minus a look-back of at least [`MIN_LOOKBACK_SECS`] (OpenAlgo's
//!   timestamps have whole seconds, so an order placed in the same second
//!   can carry an earlier-looking time);
//! - entries already known (placed and tracked, or claimed earlier) never
//!   count;
//! - it is **one to one**: an entry resolves at most one attempt. Attempts
//!   for the very same order form a group; the group's entries are assigned
//!   to its attempts oldest first. Whenever a group cannot be settled
//!   without guessing (an entry without a readable time, more entries than
//!   attempts, an entry that could belong to two different requests) every
//!   attempt of it stays unknown and the answer says which orders compete.

use asta_core::{OrderId, OrderRequest, PriceType};
use chrono::{DateTime, TimeDelta, Utc};

use crate::{OrderState, OrderStatus};

/// The shortest look-back allowed, in seconds.
pub(crate) const MIN_LOOKBACK_SECS: i64 = 2;

/// A request whose outcome is unknown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    /// The order as sent.
    pub(crate) order: &'a OrderRequest,
    /// When it was sent (the local clock).
    pub(crate) attempted_at: DateTime<Utc>,
}

/// What the order book says about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// This order came from the attempt.
    Found(OrderId),
    /// Several orders could be the attempt's (or one cannot be dated):
    /// cannot tell without guessing.
    Ambiguous(Vec<OrderId>),
    /// Nothing in the book matches (yet).
    NotFound,
}

impl Resolution {
    /// A short explanation for an error or a report.
    pub(crate) fn explain(&self) -> String {
        match self {
            Resolution::Found(id) => format!("found as order {id}"),
            Resolution::Ambiguous(ids) => {
                let list: Vec<&str> = ids.iter().take(5).map(OrderId::as_str).collect();
                format!(
                    "ambiguous: {} orders match ({}); it stays unknown until an operator decides",
                    ids.len(),
                    list.join(", ")
                )
            }
            Resolution::NotFound => "no matching order in the order book".to_owned(),
        }
    }
}

/// Whether `entry` is an order that `order` could have produced.
pub(crate) fn order_matches(entry: &OrderStatus, order: &OrderRequest) -> bool {
    let price_type = order.price_type();
    let price_ok = match price_type {
        PriceType::Limit | PriceType::StopLoss => entry.price() == order.price(),
        PriceType::Market | PriceType::StopLossMarket => true,
    };
    let trigger_ok = match price_type {
        PriceType::StopLoss | PriceType::StopLossMarket => {
            entry.trigger_price() == order.trigger_price()
        }
        PriceType::Market | PriceType::Limit => true,
    };
    entry.strategy().is_none_or(|s| s == order.strategy())
        && entry.exchange() == order.exchange()
        && entry.symbol() == order.symbol()
        && entry.side() == order.side()
        && entry.product() == order.product()
        && entry.price_type() == price_type
        && entry.quantity() == order.quantity()
        && price_ok
        && trigger_ok
}

/// The look-back actually used: at least [`MIN_LOOKBACK_SECS`].
pub(crate) fn effective_lookback(lookback: TimeDelta) -> TimeDelta {
    lookback.max(TimeDelta::seconds(MIN_LOOKBACK_SECS))
}

/// Resolves every attempt against `book` at once (one answer per attempt,
/// in order). `known` says which order ids are already accounted for.
pub(crate) fn reconcile(
    attempts: &[Attempt<'_>],
    book: &[OrderStatus],
    lookback: TimeDelta,
    known: &dyn Fn(&OrderId) -> bool,
) -> Vec<Resolution> {
    let lookback = effective_lookback(lookback);
    // Which entries each attempt could have produced.
    let eligible: Vec<Vec<usize>> = attempts
        .iter()
        .map(|attempt| {
            let since = attempt.attempted_at - lookback;
            book.iter()
                .enumerate()
                .filter(|(_, entry)| {
                    !known(entry.order_id())
                        && order_matches(entry, attempt.order)
                        && entry.placed_at().is_none_or(|at| at >= since)
                })
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    // Attempts for the same order form a group (by the first member's index).
    let group_of: Vec<usize> = attempts
        .iter()
        .map(|a| {
            attempts
                .iter()
                .position(|b| b.order == a.order)
                .unwrap_or_default()
        })
        .collect();
    let mut out = vec![Resolution::NotFound; attempts.len()];
    let mut leaders: Vec<usize> = group_of.clone();
    leaders.sort_unstable();
    leaders.dedup();
    for leader in leaders {
        let members: Vec<usize> = (0..attempts.len())
            .filter(|&i| group_of[i] == leader)
            .collect();
        let mut entries: Vec<usize> = members
            .iter()
            .flat_map(|&i| eligible[i].iter().copied())
            .collect();
        entries.sort_unstable();
        entries.dedup();
        if entries.is_empty() {
            continue;
        }
        let shared = entries.iter().any(|e| {
            eligible
                .iter()
                .enumerate()
                .any(|(i, list)| group_of[i] != leader && list.contains(e))
        });
        let undated = entries.iter().any(|&e| book[e].placed_at().is_none());
        if shared || undated || entries.len() > members.len() {
            let ids: Vec<OrderId> = entries
                .iter()
                .map(|&e| book[e].order_id().clone())
                .collect();
            for &i in &members {
                out[i] = Resolution::Ambiguous(ids.clone());
            }
            continue;
        }
        // Oldest entry to the oldest attempt that could have produced it.
        let mut by_time = members.clone();
        by_time.sort_by_key(|&i| (attempts[i].attempted_at, i));
        entries.sort_by_key(|&e| (book[e].placed_at(), e));
        let mut taken = vec![false; attempts.len()];
        for e in entries {
            if let Some(&i) = by_time
                .iter()
                .find(|&&i| !taken[i] && eligible[i].contains(&e))
            {
                taken[i] = true;
                out[i] = Resolution::Found(book[e].order_id().clone());
            }
        }
    }
    out
}

/// What an order's status says about a modification or cancellation whose
/// outcome is unknown (or that the broker called a success without proof).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AmendCheck {
    /// The order shows the change (cancelled; or the new content).
    Done,
    /// The order shows it did not happen (still working; or the old content).
    NotDone,
    /// The status cannot tell (a different state or content).
    Unclear(String),
}

/// Whether `status` shows a cancellation.
pub(crate) fn cancel_check(status: &OrderStatus) -> AmendCheck {
    match status.state() {
        OrderState::Cancelled => AmendCheck::Done,
        state if state.may_be_working() => AmendCheck::NotDone,
        other => AmendCheck::Unclear(format!("the order is {} (not cancelled)", other.as_str())),
    }
}

/// Whether `status` shows the content `new` (Done), the content `old`
/// (NotDone) or neither.
pub(crate) fn modify_check(
    status: &OrderStatus,
    new: &OrderRequest,
    old: Option<&OrderRequest>,
) -> AmendCheck {
    if !status.state().may_be_working() {
        return AmendCheck::Unclear(format!(
            "the order is {}, not working",
            status.state().as_str()
        ));
    }
    if content_matches(status, new) {
        AmendCheck::Done
    } else if old.is_some_and(|old| content_matches(status, old)) {
        AmendCheck::NotDone
    } else {
        AmendCheck::Unclear("the order shows neither the old nor the new content".to_owned())
    }
}

/// Quantity, price type and the prices that matter for it.
fn content_matches(status: &OrderStatus, order: &OrderRequest) -> bool {
    status.quantity() == order.quantity()
        && status.price_type() == order.price_type()
        && match order.price_type() {
            PriceType::Limit => status.price() == order.price(),
            PriceType::StopLoss => {
                status.price() == order.price() && status.trigger_price() == order.trigger_price()
            }
            PriceType::StopLossMarket => status.trigger_price() == order.trigger_price(),
            PriceType::Market => true,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asta_core::{Exchange, Price, Product, Quantity, Side, StrategyTag, Symbol};
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, s)
            .single()
            .unwrap_or_default()
    }

    fn p(text: &str) -> Price {
        text.parse().unwrap_or(Price::ZERO)
    }

    fn order(pt: PriceType, qty: u64, price: Option<&str>, trigger: Option<&str>) -> OrderRequest {
        let mut b = OrderRequest::builder()
            .symbol(Symbol::new("SBIN").unwrap_or_else(|e| panic!("{e}")))
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .price_type(pt)
            .product(Product::Cnc)
            .quantity(Quantity::new(qty).unwrap_or_else(|e| panic!("{e}")))
            .strategy(StrategyTag::new("asta").unwrap_or_else(|e| panic!("{e}")));
        if let Some(price) = price {
            b = b.price(p(price));
        }
        if let Some(trigger) = trigger {
            b = b.trigger_price(p(trigger));
        }
        b.build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// A booked order shaped like `order`, with a booked price, strategy and time.
    fn booked(
        id: &str,
        order: &OrderRequest,
        price: Option<&str>,
        strategy: Option<&str>,
        time: Option<DateTime<Utc>>,
    ) -> OrderStatus {
        OrderStatus::new(
            OrderId::new(id).unwrap_or_else(|e| panic!("{e}")),
            order.symbol().clone(),
            order.exchange(),
            order.side(),
            order.price_type(),
            order.product(),
            order.quantity(),
            OrderState::Open,
        )
        .with_price(price.map(p))
        .with_trigger_price(order.trigger_price())
        .with_strategy(strategy.map(|s| StrategyTag::new(s).unwrap_or_else(|e| panic!("{e}"))))
        .with_placed_at(time)
    }

    fn id(text: &str) -> OrderId {
        OrderId::new(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn run(attempts: &[(OrderRequest, DateTime<Utc>)], book: &[OrderStatus]) -> Vec<Resolution> {
        let list: Vec<Attempt<'_>> = attempts
            .iter()
            .map(|(order, attempted_at)| Attempt {
                order,
                attempted_at: *attempted_at,
            })
            .collect();
        reconcile(&list, book, TimeDelta::seconds(0), &|id| {
            id.as_str() == "known"
        })
    }

    #[test]
    fn table() {
        let market = order(PriceType::Market, 10, None, None);
        let limit = order(PriceType::Limit, 1, Some("500"), None);
        let sl = order(PriceType::StopLoss, 1, Some("501"), Some("500"));
        let slm = order(PriceType::StopLossMarket, 1, None, Some("700"));
        let t0 = at(21, 22, 55);
        let found = |s: &str| vec![Resolution::Found(id(s))];
        #[allow(clippy::type_complexity, reason = "a test table")]
        let cases: Vec<(
            &str,
            Vec<(OrderRequest, DateTime<Utc>)>,
            Vec<OrderStatus>,
            Vec<Resolution>,
        )> = vec![
            (
                "MARKET booked at the last traded price",
                vec![(market.clone(), t0)],
                vec![booked("1", &market, Some("800"), Some("asta"), Some(t0))],
                found("1"),
            ),
            (
                "same second, earlier-looking whole-second time",
                vec![(market.clone(), t0 + TimeDelta::milliseconds(900))],
                vec![booked("1", &market, Some("800"), Some("asta"), Some(t0))],
                found("1"),
            ),
            (
                "look-back is at least 2 s even when configured 0",
                vec![(limit.clone(), t0)],
                vec![booked(
                    "1",
                    &limit,
                    Some("500"),
                    Some("asta"),
                    Some(t0 - TimeDelta::seconds(2)),
                )],
                found("1"),
            ),
            (
                "older than the look-back: not ours",
                vec![(limit.clone(), t0)],
                vec![booked(
                    "1",
                    &limit,
                    Some("500"),
                    Some("asta"),
                    Some(t0 - TimeDelta::seconds(3)),
                )],
                vec![Resolution::NotFound],
            ),
            (
                "LIMIT price differs",
                vec![(limit.clone(), t0)],
                vec![booked("1", &limit, Some("501"), Some("asta"), Some(t0))],
                vec![Resolution::NotFound],
            ),
            (
                "SL compares price and trigger",
                vec![(sl.clone(), t0)],
                vec![booked("1", &sl, Some("501"), Some("asta"), Some(t0))],
                found("1"),
            ),
            (
                "SL-M compares the trigger only",
                vec![(slm.clone(), t0)],
                vec![booked("1", &slm, Some("650"), Some("asta"), Some(t0))],
                found("1"),
            ),
            (
                "another strategy is not ours",
                vec![(limit.clone(), t0)],
                vec![booked("1", &limit, Some("500"), Some("other"), Some(t0))],
                vec![Resolution::NotFound],
            ),
            (
                "live book without strategy matches",
                vec![(limit.clone(), t0)],
                vec![booked("1", &limit, Some("500"), None, Some(t0))],
                found("1"),
            ),
            (
                "known orders never count",
                vec![(limit.clone(), t0)],
                vec![booked("known", &limit, Some("500"), Some("asta"), Some(t0))],
                vec![Resolution::NotFound],
            ),
            (
                "undated entry is ambiguous",
                vec![(limit.clone(), t0)],
                vec![booked("1", &limit, Some("500"), Some("asta"), None)],
                vec![Resolution::Ambiguous(vec![id("1")])],
            ),
            (
                "two orders for one attempt are ambiguous",
                vec![(limit.clone(), t0)],
                vec![
                    booked("1", &limit, Some("500"), Some("asta"), Some(t0)),
                    booked("2", &limit, Some("500"), Some("asta"), Some(t0)),
                ],
                vec![Resolution::Ambiguous(vec![id("1"), id("2")])],
            ),
            (
                "two identical unknowns and two orders: one each, oldest first",
                vec![
                    (market.clone(), t0),
                    (market.clone(), t0 + TimeDelta::seconds(10)),
                ],
                vec![
                    booked(
                        "B",
                        &market,
                        Some("801"),
                        Some("asta"),
                        Some(t0 + TimeDelta::seconds(10)),
                    ),
                    booked("A", &market, Some("800"), Some("asta"), Some(t0)),
                ],
                vec![Resolution::Found(id("A")), Resolution::Found(id("B"))],
            ),
            (
                "two identical unknowns and one order: resolves one, never both",
                vec![(market.clone(), t0), (market.clone(), t0)],
                vec![booked("A", &market, Some("800"), Some("asta"), Some(t0))],
                vec![Resolution::Found(id("A")), Resolution::NotFound],
            ),
            (
                "an order placed before the second attempt cannot be the second's",
                vec![
                    (market.clone(), t0 + TimeDelta::seconds(60)),
                    (market.clone(), t0),
                ],
                vec![booked("A", &market, Some("800"), Some("asta"), Some(t0))],
                vec![Resolution::NotFound, Resolution::Found(id("A"))],
            ),
        ];
        for (name, attempts, book, expected) in cases {
            assert_eq!(run(&attempts, &book), expected, "{name}");
        }
    }

    #[test]
    fn an_entry_two_different_requests_could_claim_is_ambiguous_for_both() {
        let asta = order(PriceType::Market, 1, None, None);
        let other = asta
            .to_builder()
            .strategy(StrategyTag::new("other").unwrap_or_else(|e| panic!("{e}")))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let t0 = at(21, 22, 55);
        // The live book carries no strategy: either request could be it.
        let book = vec![booked("1", &asta, Some("800"), None, Some(t0))];
        let got = run(&[(asta, t0), (other, t0)], &book);
        assert!(
            got.iter().all(|r| matches!(r, Resolution::Ambiguous(_))),
            "{got:?}"
        );
    }

    #[test]
    fn amendments_are_read_from_the_status() {
        let old = order(PriceType::Limit, 1, Some("500"), None);
        let new = order(PriceType::Limit, 1, Some("501"), None);
        let status = |o: &OrderRequest, state: OrderState| {
            OrderStatus::new(
                id("1"),
                o.symbol().clone(),
                o.exchange(),
                o.side(),
                o.price_type(),
                o.product(),
                o.quantity(),
                state,
            )
            .with_price(o.price())
        };
        assert_eq!(
            cancel_check(&status(&old, OrderState::Cancelled)),
            AmendCheck::Done
        );
        assert_eq!(
            cancel_check(&status(&old, OrderState::Open)),
            AmendCheck::NotDone
        );
        assert!(matches!(
            cancel_check(&status(&old, OrderState::Complete)),
            AmendCheck::Unclear(_)
        ));
        assert_eq!(
            modify_check(&status(&new, OrderState::Open), &new, Some(&old)),
            AmendCheck::Done
        );
        assert_eq!(
            modify_check(&status(&old, OrderState::Open), &new, Some(&old)),
            AmendCheck::NotDone
        );
        assert!(matches!(
            modify_check(&status(&old, OrderState::Open), &new, None),
            AmendCheck::Unclear(_)
        ));
        assert!(matches!(
            modify_check(&status(&new, OrderState::Cancelled), &new, Some(&old)),
            AmendCheck::Unclear(_)
        ));
    }
}
