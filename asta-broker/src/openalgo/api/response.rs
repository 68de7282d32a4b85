//! OpenAlgo's success answers, written from typed values.
//!
//! Keys are written sorted, as OpenAlgo's Flask server writes them. Prices
//! and money are JSON numbers written from their exact decimal text, always
//! with a decimal point (`500.0`, `800.05`), as Python writes floats;
//! quantities and counts are integers.

use std::collections::BTreeMap;

use asta_core::{Money, OrderId, Price, Symbol};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ApiMode;
use crate::openalgo::wire::{self, fields as f};
use crate::{
    CancelAllReport, CloseAllReport, Funds, Holding, OrderBookEntry, OrderState, OrderStatus,
    Position, Quote, SmartOrderOutcome, Trade,
};

/// A JSON value whose numbers are kept as exact text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Json {
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A decimal, canonical text with a decimal point.
    Dec(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<&'static str, Json>),
}

impl Json {
    fn write(&self, out: &mut String) {
        match self {
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => out.push_str(&n.to_string()),
            Json::Dec(text) => out.push_str(text),
            Json::Str(s) => write_str(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(map) => {
                out.push('{');
                for (i, (key, value)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string, escaped as serde_json escapes it.
fn write_str(s: &str, out: &mut String) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        // Serializing a &str cannot fail; keep the output valid regardless.
        Err(_) => out.push_str("\"\""),
    }
}

fn s(text: impl Into<String>) -> Json {
    Json::Str(text.into())
}

fn int(n: impl Into<i128>) -> Json {
    Json::Int(n.into())
}

/// A decimal from canonical text (`800`, `-0.5`): with a point, as Python.
fn dec(text: String) -> Json {
    if text.contains('.') {
        Json::Dec(text)
    } else {
        Json::Dec(format!("{text}.0"))
    }
}

fn price(p: Price) -> Json {
    dec(p.to_string())
}

/// A price that may be absent: OpenAlgo writes 0.0 for "none".
fn opt_price(p: Option<Price>) -> Json {
    price(p.unwrap_or(Price::ZERO))
}

fn money(m: Money) -> Json {
    dec(m.to_string())
}

fn sum(values: impl Iterator<Item = Money>) -> Money {
    Money::from_units(values.fold(0i128, |acc, m| acc.saturating_add(m.units())))
}

/// An answer to send: [`to_bytes`](ApiResponse::to_bytes) is the exact body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    body: BTreeMap<&'static str, Json>,
}

impl ApiResponse {
    /// `{"status":"success", ...fields}`, with `"mode":"analyze"` when
    /// `mode` is [`ApiMode::Analyze`] (and `mode` is `Some`).
    fn success(mode: Option<ApiMode>, fields: Vec<(&'static str, Json)>) -> Self {
        let mut body: BTreeMap<&'static str, Json> = fields.into_iter().collect();
        body.insert(f::STATUS, s("success"));
        if mode == Some(ApiMode::Analyze) {
            body.insert(f::MODE, s("analyze"));
        }
        Self { body }
    }

    /// The HTTP status: always 200.
    pub fn status(&self) -> u16 {
        200
    }

    /// The body, UTF-8 JSON with sorted keys and exact numbers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        Json::Obj(self.body.clone()).write(&mut out);
        out.into_bytes()
    }

    /// The body as a [`serde_json::Value`], for inspection. serde_json keeps
    /// decimals as `f64` (exact for the values written here, up to 15
    /// significant digits); send [`to_bytes`](ApiResponse::to_bytes).
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.to_bytes()).unwrap_or(Value::Null)
    }
}

/// OpenAlgo's timestamp: IST, `2026-11-28 02:51:50`; empty when unknown.
fn timestamp(at: Option<DateTime<Utc>>) -> Json {
    match (at, wire::ist_offset()) {
        (Some(at), Some(ist)) => s(at.with_timezone(&ist).format(wire::TIME_FORMAT).to_string()),
        _ => s(""),
    }
}

/// `placeorder`: `{"mode":"analyze","orderid":"...","status":"success"}`.
pub fn encode_place_order(order_id: &OrderId, mode: ApiMode) -> ApiResponse {
    ApiResponse::success(Some(mode), vec![(f::ORDERID, s(order_id.as_str()))])
}

/// `placesmartorder`: the order id, or OpenAlgo's "Positions Already
/// Matched. No Action needed." when no order was needed.
pub fn encode_smart_order(outcome: &SmartOrderOutcome, mode: ApiMode) -> ApiResponse {
    match outcome {
        SmartOrderOutcome::Placed(id) => encode_place_order(id, mode),
        SmartOrderOutcome::AlreadyMatched => {
            ApiResponse::success(Some(mode), vec![(f::MESSAGE, s(wire::NO_ACTION))])
        }
    }
}

/// One order's result in a basket answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasketItem {
    /// The order's symbol.
    pub symbol: Symbol,
    /// Its order id, or the public message saying why it was not placed.
    pub outcome: Result<OrderId, String>,
}

/// `basketorder`: `{"results":[{"orderid":..,"status":"success","symbol":..} |
/// {"message":..,"status":"error","symbol":..}], "status":"success", mode}`.
pub fn encode_basket(items: &[BasketItem], mode: ApiMode) -> ApiResponse {
    let results = items
        .iter()
        .map(|item| {
            let mut map = BTreeMap::new();
            map.insert(f::SYMBOL, s(item.symbol.as_str()));
            match &item.outcome {
                Ok(id) => {
                    map.insert(f::STATUS, s("success"));
                    map.insert(f::ORDERID, s(id.as_str()));
                }
                Err(message) => {
                    map.insert(f::STATUS, s("error"));
                    map.insert(f::MESSAGE, s(message.as_str()));
                }
            }
            Json::Obj(map)
        })
        .collect();
    ApiResponse::success(Some(mode), vec![(f::RESULTS, Json::Arr(results))])
}

/// `modifyorder`: "Order modified successfully" with the order id.
pub fn encode_modify(order_id: &OrderId, mode: ApiMode) -> ApiResponse {
    ApiResponse::success(
        Some(mode),
        vec![
            (f::MESSAGE, s("Order modified successfully")),
            (f::ORDERID, s(order_id.as_str())),
        ],
    )
}

/// `cancelorder`: "Order cancelled successfully" with the order id.
pub fn encode_cancel(order_id: &OrderId, mode: ApiMode) -> ApiResponse {
    ApiResponse::success(
        Some(mode),
        vec![
            (f::MESSAGE, s("Order cancelled successfully")),
            (f::ORDERID, s(order_id.as_str())),
        ],
    )
}

/// `cancelallorder`: `canceled_orders` (ids), `failed_cancellations`
/// (`{"orderid","message"}`), and OpenAlgo's summary message.
pub fn encode_cancel_all(report: &CancelAllReport, mode: ApiMode) -> ApiResponse {
    let cancelled = report.cancelled.iter().map(|id| s(id.as_str())).collect();
    let failed = report
        .failed
        .iter()
        .map(|f| {
            let mut map = BTreeMap::new();
            map.insert(f::ORDERID, s(f.order_id.as_str()));
            map.insert(f::MESSAGE, s(f.reason.as_str()));
            Json::Obj(map)
        })
        .collect();
    ApiResponse::success(
        Some(mode),
        vec![
            (f::CANCELED_ORDERS, Json::Arr(cancelled)),
            (f::FAILED_CANCELLATIONS, Json::Arr(failed)),
            (
                f::MESSAGE,
                s(format!(
                    "Canceled {} orders. Failed to cancel {} orders.",
                    report.cancelled.len(),
                    report.failed.len()
                )),
            ),
        ],
    )
}

/// `closeposition`: "No open positions to close" when nothing was to do
/// (no counts, as OpenAlgo), else the counts and "Closed N positions".
pub fn encode_close_positions(report: &CloseAllReport, mode: ApiMode) -> ApiResponse {
    let closed = report
        .closed_count
        .max(u64::try_from(report.closed.len()).unwrap_or(u64::MAX));
    let failed = report
        .failed_count
        .max(u64::try_from(report.failed.len()).unwrap_or(u64::MAX));
    if closed == 0 && failed == 0 {
        return ApiResponse::success(
            Some(mode),
            vec![(f::MESSAGE, s("No open positions to close"))],
        );
    }
    let message = if failed == 0 {
        format!("Closed {closed} positions")
    } else {
        format!("Closed {closed} positions. Failed to close {failed} positions.")
    };
    ApiResponse::success(
        Some(mode),
        vec![
            (f::CLOSED_POSITIONS, int(closed)),
            (f::FAILED_CLOSURES, int(failed)),
            (f::MESSAGE, s(message)),
        ],
    )
}

/// One order; `price_key` is `price_type` (orderstatus) or `pricetype` (orderbook).
fn order_object(o: &OrderStatus, price_key: &'static str, book: bool) -> Json {
    let mut map = BTreeMap::new();
    map.insert(f::ACTION, s(o.side().as_str()));
    map.insert(f::AVERAGE_PRICE, opt_price(o.average_price()));
    map.insert(f::EXCHANGE, s(o.exchange().as_str()));
    map.insert(f::FILLED_QUANTITY, int(o.filled_quantity()));
    map.insert(f::ORDER_STATUS, s(wire::order_state_text(o.state())));
    map.insert(f::ORDERID, s(o.order_id().as_str()));
    map.insert(f::PENDING_QUANTITY, int(o.pending_quantity()));
    map.insert(f::PRICE, opt_price(o.price()));
    map.insert(price_key, s(o.price_type().as_str()));
    map.insert(f::PRODUCT, s(o.product().as_str()));
    map.insert(f::QUANTITY, int(o.quantity().get()));
    map.insert(
        f::STRATEGY,
        s(o.strategy().map(|t| t.as_str()).unwrap_or_default()),
    );
    map.insert(f::SYMBOL, s(o.symbol().as_str()));
    map.insert(f::TIMESTAMP, timestamp(o.placed_at()));
    map.insert(f::TRIGGER_PRICE, opt_price(o.trigger_price()));
    if book || o.rejection_reason().is_some() {
        map.insert(
            f::REJECTION_REASON,
            s(o.rejection_reason().unwrap_or_default()),
        );
    }
    Json::Obj(map)
}

/// `orderstatus`: `data` is the order (`price_type`, as OpenAlgo).
pub fn encode_order_status(status: &OrderStatus, mode: ApiMode) -> ApiResponse {
    ApiResponse::success(
        Some(mode),
        vec![(f::DATA, order_object(status, f::PRICE_TYPE, false))],
    )
}

/// `orderbook`: `data.orders` (`pricetype`, as OpenAlgo) and
/// `data.statistics` (counts by side and state).
pub fn encode_order_book(orders: &[OrderBookEntry], mode: ApiMode) -> ApiResponse {
    let count =
        |f: &dyn Fn(&OrderStatus) -> bool| int(orders.iter().filter(|o| f(o)).count() as u64);
    let mut stats = BTreeMap::new();
    stats.insert(
        f::TOTAL_BUY_ORDERS,
        count(&|o| o.side() == asta_core::Side::Buy),
    );
    stats.insert(
        f::TOTAL_SELL_ORDERS,
        count(&|o| o.side() == asta_core::Side::Sell),
    );
    stats.insert(
        f::TOTAL_COMPLETED_ORDERS,
        count(&|o| o.state() == OrderState::Complete),
    );
    stats.insert(
        f::TOTAL_OPEN_ORDERS,
        count(&|o| o.state() == OrderState::Open),
    );
    stats.insert(
        f::TOTAL_REJECTED_ORDERS,
        count(&|o| o.state() == OrderState::Rejected),
    );
    stats.insert(
        f::TOTAL_TRIGGER_PENDING_ORDERS,
        count(&|o| o.state() == OrderState::TriggerPending),
    );
    let mut data = BTreeMap::new();
    data.insert(
        f::ORDERS,
        Json::Arr(
            orders
                .iter()
                .map(|o| order_object(o, f::PRICETYPE, true))
                .collect(),
        ),
    );
    data.insert(f::STATISTICS, Json::Obj(stats));
    ApiResponse::success(Some(mode), vec![(f::DATA, Json::Obj(data))])
}

/// `tradebook`: `data` is the list of executions.
pub fn encode_trade_book(trades: &[Trade], mode: ApiMode) -> ApiResponse {
    let list = trades
        .iter()
        .map(|t| {
            let mut map = BTreeMap::new();
            map.insert(f::ACTION, s(t.side.as_str()));
            map.insert(f::AVERAGE_PRICE, price(t.price));
            map.insert(f::EXCHANGE, s(t.exchange.as_str()));
            map.insert(f::ORDERID, s(t.order_id.as_str()));
            map.insert(f::PRICE, price(t.price));
            map.insert(f::PRODUCT, s(t.product.as_str()));
            map.insert(f::QUANTITY, int(t.quantity.get()));
            map.insert(f::SYMBOL, s(t.symbol.as_str()));
            map.insert(f::TRADE_VALUE, money(t.price.notional(t.quantity)));
            if let Some(strategy) = &t.strategy {
                map.insert(f::STRATEGY, s(strategy.as_str()));
            }
            if t.executed_at.is_some() {
                map.insert(f::TIMESTAMP, timestamp(t.executed_at));
            }
            if let Some(id) = &t.trade_id {
                map.insert(f::TRADEID, s(id.as_str()));
            }
            Json::Obj(map)
        })
        .collect();
    ApiResponse::success(Some(mode), vec![(f::DATA, Json::Arr(list))])
}

/// `positionbook`: `data` is the list of positions, with OpenAlgo's totals
/// (`total_pnl`, `total_pnl_today`, `total_today_realized_pnl`,
/// `total_unrealized_pnl`) beside it.
pub fn encode_position_book(positions: &[Position], mode: ApiMode) -> ApiResponse {
    let total = |p: &Position| sum([p.realized_pnl(), p.unrealized_pnl()].into_iter());
    let list = positions
        .iter()
        .map(|p| {
            let mut map = BTreeMap::new();
            map.insert(f::AVERAGE_PRICE, price(p.average_price()));
            map.insert(f::EXCHANGE, s(p.exchange().as_str()));
            map.insert(f::LTP, opt_price(p.last_price()));
            map.insert(f::PNL, money(total(p)));
            map.insert(f::PRODUCT, s(p.product().as_str()));
            map.insert(f::QUANTITY, int(p.net_quantity()));
            map.insert(f::SYMBOL, s(p.symbol().as_str()));
            map.insert(f::TODAY_REALIZED_PNL, money(p.realized_pnl()));
            map.insert(f::TOTAL_PNL_TODAY, money(total(p)));
            map.insert(f::UNREALIZED_PNL, money(p.unrealized_pnl()));
            Json::Obj(map)
        })
        .collect();
    let all = sum(positions.iter().map(total));
    ApiResponse::success(
        Some(mode),
        vec![
            (f::DATA, Json::Arr(list)),
            (f::TOTAL_PNL, money(all)),
            (f::TOTAL_PNL_TODAY, money(all)),
            (
                f::TOTAL_TODAY_REALIZED_PNL,
                money(sum(positions.iter().map(Position::realized_pnl))),
            ),
            (
                f::TOTAL_UNREALIZED_PNL,
                money(sum(positions.iter().map(Position::unrealized_pnl))),
            ),
        ],
    )
}

/// `pnl / invested * 100`, in units of 1/10,000, truncated; 0 when nothing
/// is invested.
fn percent(pnl: Money, invested: Money) -> Money {
    let scaled = pnl
        .units()
        .checked_mul(100 * asta_core::UNITS_PER_RUPEE)
        .and_then(|n| n.checked_div(invested.units()));
    Money::from_units(scaled.unwrap_or(0))
}

/// `holdings`: `data.holdings` and `data.statistics` (`totalholdingvalue`,
/// `totalinvvalue`, `totalprofitandloss`, `totalpnlpercentage`).
pub fn encode_holdings(holdings: &[Holding], mode: ApiMode) -> ApiResponse {
    let value_of =
        |p: Price, q: u64| Money::from_units(i128::from(p.units()).saturating_mul(i128::from(q)));
    let list = holdings
        .iter()
        .map(|h| {
            let invested = value_of(h.average_price, h.quantity);
            let mut map = BTreeMap::new();
            map.insert(f::AVERAGE_PRICE, price(h.average_price));
            map.insert(f::EXCHANGE, s(h.exchange.as_str()));
            map.insert(f::LTP, opt_price(h.last_price));
            map.insert(f::PNL, money(h.pnl));
            map.insert(f::PNLPERCENT, money(percent(h.pnl, invested)));
            map.insert(f::PRODUCT, s(h.product.as_str()));
            map.insert(f::QUANTITY, int(h.quantity));
            map.insert(f::SYMBOL, s(h.symbol.as_str()));
            Json::Obj(map)
        })
        .collect();
    let invested = sum(holdings
        .iter()
        .map(|h| value_of(h.average_price, h.quantity)));
    let pnl = sum(holdings.iter().map(|h| h.pnl));
    let mut stats = BTreeMap::new();
    stats.insert(
        f::TOTALHOLDINGVALUE,
        money(sum(holdings.iter().map(|h| {
            value_of(h.last_price.unwrap_or(h.average_price), h.quantity)
        }))),
    );
    stats.insert(f::TOTALINVVALUE, money(invested));
    stats.insert(f::TOTALPNLPERCENTAGE, money(percent(pnl, invested)));
    stats.insert(f::TOTALPROFITANDLOSS, money(pnl));
    let mut data = BTreeMap::new();
    data.insert(f::HOLDINGS, Json::Arr(list));
    data.insert(f::STATISTICS, Json::Obj(stats));
    ApiResponse::success(Some(mode), vec![(f::DATA, Json::Obj(data))])
}

/// `funds`: `availablecash`, `collateral`, `m2mrealized`, `m2munrealized`,
/// `utiliseddebits`.
pub fn encode_funds(funds: &Funds, mode: ApiMode) -> ApiResponse {
    let mut data = BTreeMap::new();
    data.insert(f::AVAILABLECASH, money(funds.available_cash()));
    data.insert(f::COLLATERAL, money(funds.collateral()));
    data.insert(f::M2MREALIZED, money(funds.realized_pnl()));
    data.insert(f::M2MUNREALIZED, money(funds.unrealized_pnl()));
    data.insert(f::UTILISEDDEBITS, money(funds.used_margin()));
    ApiResponse::success(Some(mode), vec![(f::DATA, Json::Obj(data))])
}

/// `quotes`: `data.ltp`, `data.bid`, `data.ask` (0.0 when a side is
/// empty). No `mode`: OpenAlgo's quotes carry none in either mode. Open,
/// high, low, previous close, volume and open interest are not written:
/// [`Quote`] does not have them, and zeros would be false data.
pub fn encode_quote(quote: &Quote) -> ApiResponse {
    let mut data = BTreeMap::new();
    data.insert(f::ASK, opt_price(quote.ask()));
    data.insert(f::BID, opt_price(quote.bid()));
    data.insert(f::LTP, price(quote.ltp()));
    ApiResponse::success(None, vec![(f::DATA, Json::Obj(data))])
}

/// `openposition`: the signed net `quantity`.
pub fn encode_open_position(quantity: i64, mode: ApiMode) -> ApiResponse {
    ApiResponse::success(Some(mode), vec![(f::QUANTITY, int(quantity))])
}

/// `ping`: `{"data":{"broker":..,"message":"pong"},"status":"success"}`
/// (no `mode`, as OpenAlgo).
pub fn encode_ping(broker_name: &str) -> ApiResponse {
    let mut data = BTreeMap::new();
    data.insert(f::BROKER, s(broker_name));
    data.insert(f::MESSAGE, s(wire::PONG));
    ApiResponse::success(None, vec![(f::DATA, Json::Obj(data))])
}

/// `analyzer` (status): `data.analyze_mode`, `data.mode` and
/// `data.total_logs` (always 0: ASTA's records are in its audit trail).
pub fn encode_analyzer(mode: ApiMode) -> ApiResponse {
    let analyze = mode == ApiMode::Analyze;
    let mut data = BTreeMap::new();
    data.insert(f::ANALYZE_MODE, Json::Bool(analyze));
    data.insert(f::MODE, s(if analyze { "analyze" } else { "live" }));
    data.insert(f::TOTAL_LOGS, int(0u8));
    ApiResponse::success(None, vec![(f::DATA, Json::Obj(data))])
}
