//! Finding out whether a placement with an unknown outcome reached the broker.
//!
//! After a timeout, a 5xx or a success without an order id, the adapter polls
//! the order book (a bounded number of times, driven by tokio time) for an
//! order that matches the attempt exactly: strategy, exchange, symbol, side,
//! product, price type, quantity, limit price (LIMIT, SL) and trigger price
//! (SL, SL-M), placed no earlier than the attempt minus a look-back (OpenAlgo
//! timestamps have one-second resolution and clocks drift), and not an order
//! this adapter already knows. Exactly one such order proves the placement;
//! two or more make it ambiguous (the outcome stays unknown: guessing could
//! double an order); none after every poll leaves it unknown too.

use asta_core::{OrderId, OrderRequest, PriceType};
use chrono::{DateTime, Utc};

use super::wire::{Object, order_status};
use crate::OrderStatus;

/// What one look at the order book found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// Exactly one order matches: this is the placed order.
    Found(OrderId),
    /// Several orders match (or some cannot be dated): cannot tell which.
    Ambiguous(Vec<OrderId>),
    /// Nothing matches yet.
    Nothing,
}

/// Whether `entry` is an order `order` could have produced.
pub(crate) fn matches(entry: &OrderStatus, order: &OrderRequest) -> bool {
    let prices_match = match order.price_type() {
        PriceType::Market => true,
        PriceType::Limit => entry.price() == order.price(),
        PriceType::StopLoss => {
            entry.price() == order.price() && entry.trigger_price() == order.trigger_price()
        }
        PriceType::StopLossMarket => entry.trigger_price() == order.trigger_price(),
    };
    entry.strategy() == Some(order.strategy())
        && entry.exchange() == order.exchange()
        && entry.symbol() == order.symbol()
        && entry.side() == order.side()
        && entry.product() == order.product()
        && entry.price_type() == order.price_type()
        && entry.quantity() == order.quantity()
        && prices_match
}

/// Looks through the raw order book entries. Entries that do not parse are
/// skipped: they cannot be the order this adapter sent, whose every field is valid.
pub(crate) fn find(
    entries: &[&Object],
    order: &OrderRequest,
    since: DateTime<Utc>,
    known: &dyn Fn(&OrderId) -> bool,
) -> Finding {
    let mut dated = Vec::new();
    let mut undated = Vec::new();
    for entry in entries.iter().filter_map(|raw| order_status(raw).ok()) {
        if !matches(&entry, order) || known(entry.order_id()) {
            continue;
        }
        match entry.placed_at() {
            Some(at) if at >= since => dated.push(entry.order_id().clone()),
            Some(_) => {}
            None => undated.push(entry.order_id().clone()),
        }
    }
    match (dated.len(), undated.len()) {
        (0, 0) => Finding::Nothing,
        (1, 0) => dated.pop().map_or(Finding::Nothing, Finding::Found),
        _ => {
            dated.extend(undated);
            Finding::Ambiguous(dated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asta_core::{Exchange, Product, Quantity, Side, StrategyTag, Symbol};
    use chrono::TimeZone;
    use serde_json::{Value, json};

    fn order() -> OrderRequest {
        OrderRequest::builder()
            .symbol(Symbol::new("SBIN").unwrap())
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .price_type(PriceType::Limit)
            .product(Product::Cnc)
            .quantity(Quantity::new(1).unwrap())
            .price("500".parse().unwrap())
            .strategy(StrategyTag::new("asta").unwrap())
            .build()
            .unwrap()
    }

    fn entry(id: &str, ts: Option<&str>) -> Value {
        let mut v = json!({
            "action": "BUY", "exchange": "NSE", "order_status": "open", "orderid": id,
            "price": 500.0, "pricetype": "LIMIT", "product": "CNC", "quantity": 1,
            "strategy": "asta", "symbol": "SBIN", "trigger_price": 0.0
        });
        if let Some(ts) = ts {
            v["timestamp"] = json!(ts);
        }
        v
    }

    fn run(entries: &[Value], known: &[&str]) -> Finding {
        let objs: Vec<&Object> = entries.iter().map(|e| e.as_object().unwrap()).collect();
        // 02:51:00 IST.
        let since = Utc.with_ymd_and_hms(2026, 11, 27, 21, 21, 0).unwrap();
        let known: Vec<OrderId> = known.iter().map(|k| OrderId::new(k).unwrap()).collect();
        find(&objs, &order(), since, &|id| known.contains(id))
    }

    #[test]
    fn exactly_one_dated_match_is_found() {
        let found = run(&[entry("1", Some("2026-11-28 02:51:00"))], &[]);
        assert_eq!(found, Finding::Found(OrderId::new("1").unwrap()));
    }

    #[test]
    fn older_known_garbage_and_other_orders_do_not_count() {
        let mut other = entry("4", Some("2026-11-28 02:52:00"));
        other["quantity"] = json!(2);
        let found = run(
            &[
                entry("1", Some("2026-11-28 02:50:59")),
                entry("2", Some("2026-11-28 02:52:00")),
                json!({"orderid": "3", "garbage": true}),
                other,
            ],
            &["2"],
        );
        assert_eq!(found, Finding::Nothing);
    }

    #[test]
    fn undated_or_multiple_matches_are_ambiguous() {
        assert!(matches!(
            run(&[entry("1", None)], &[]),
            Finding::Ambiguous(_)
        ));
        assert!(matches!(
            run(&[entry("1", Some("2026-11-28 02:51:00")), entry("2", Some("bad time"))], &[]),
            Finding::Ambiguous(ids) if ids.len() == 2
        ));
    }
}
