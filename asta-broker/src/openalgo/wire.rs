//! OpenAlgo v1 request and response shapes, exactly as the contract data shows.
//!
//! Requests: every number is sent as a string, `strategy` is always sent,
//! `orderid` is a string, and no field the server does not know is sent (it
//! rejects unknown fields). Responses: numbers may be JSON numbers or
//! strings; order ids integers or strings; `pricetype` (order book) and
//! `price_type` (order status) are both understood; unknown response fields
//! are ignored. Prices and money go through asta-core's
//! `from_broker_decimal`, with the JSON number's own text, never a float.

use asta_core::{
    Exchange, Money, OrderId, OrderRequest, Price, PriceType, Product, Quantity, Side, StrategyTag,
    Symbol,
};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::error::{MAX_REASON_CHARS, sanitize_text};
use crate::{
    CancelAllReport, CloseAllReport, Funds, Holding, OrderFailure, OrderState, OrderStatus,
    Position, PositionKey, Quote, Trade,
};

/// A JSON object.
pub(crate) type Object = Map<String, Value>;

/// A field problem, as text for a `Protocol` error (never includes values).
pub(crate) type WireError = String;

// ---------------------------------------------------------------- requests

/// The body of `placeorder` (without `apikey`).
pub(crate) fn place_order_body(order: &OrderRequest) -> Object {
    let mut body = Object::new();
    body.insert("strategy".into(), order.strategy().as_str().into());
    body.insert("symbol".into(), order.symbol().as_str().into());
    body.insert("action".into(), order.side().as_str().into());
    body.insert("exchange".into(), order.exchange().as_str().into());
    body.insert("pricetype".into(), order.price_type().as_str().into());
    body.insert("product".into(), order.product().as_str().into());
    body.insert("quantity".into(), order.quantity().get().to_string().into());
    if let Some(price) = order.price() {
        body.insert("price".into(), price.to_string().into());
    }
    if let Some(trigger) = order.trigger_price() {
        body.insert("trigger_price".into(), trigger.to_string().into());
    }
    body
}

/// The body of `modifyorder` (without `apikey`): every field, zeros for
/// absent prices, as the server requires.
pub(crate) fn modify_order_body(order_id: &OrderId, order: &OrderRequest) -> Object {
    let mut body = Object::new();
    body.insert("strategy".into(), order.strategy().as_str().into());
    body.insert("orderid".into(), order_id.as_str().into());
    body.insert("symbol".into(), order.symbol().as_str().into());
    body.insert("action".into(), order.side().as_str().into());
    body.insert("exchange".into(), order.exchange().as_str().into());
    body.insert("pricetype".into(), order.price_type().as_str().into());
    body.insert("product".into(), order.product().as_str().into());
    body.insert("quantity".into(), order.quantity().get().to_string().into());
    body.insert(
        "price".into(),
        order.price().unwrap_or(Price::ZERO).to_string().into(),
    );
    body.insert(
        "trigger_price".into(),
        order
            .trigger_price()
            .unwrap_or(Price::ZERO)
            .to_string()
            .into(),
    );
    body.insert("disclosed_quantity".into(), "0".into());
    body
}

/// The body of `placesmartorder` (without `apikey`): the order's fields
/// and the target `position_size`.
pub(crate) fn smart_order_body(order: &OrderRequest, target: i64) -> Object {
    let mut body = place_order_body(order);
    body.insert("position_size".into(), target.to_string().into());
    body
}

/// The body of `openposition` (without `apikey`).
pub(crate) fn open_position_body(strategy: &StrategyTag, key: &PositionKey) -> Object {
    let mut body = strategy_body(strategy);
    body.insert("symbol".into(), key.symbol.as_str().into());
    body.insert("exchange".into(), key.exchange.as_str().into());
    body.insert("product".into(), key.product.as_str().into());
    body
}

/// The body of `cancelorder` and `orderstatus` (without `apikey`).
pub(crate) fn order_ref_body(strategy: &StrategyTag, order_id: &OrderId) -> Object {
    let mut body = Object::new();
    body.insert("strategy".into(), strategy.as_str().into());
    body.insert("orderid".into(), order_id.as_str().into());
    body
}

/// The body of `cancelallorder` and `closeposition` (without `apikey`).
pub(crate) fn strategy_body(strategy: &StrategyTag) -> Object {
    let mut body = Object::new();
    body.insert("strategy".into(), strategy.as_str().into());
    body
}

/// The body of `quotes` (without `apikey`).
pub(crate) fn quote_body(exchange: Exchange, symbol: &Symbol) -> Object {
    let mut body = Object::new();
    body.insert("symbol".into(), symbol.as_str().into());
    body.insert("exchange".into(), exchange.as_str().into());
    body
}

// --------------------------------------------------------------- responses

/// The text of a JSON number or string (a number's own shortest text).
pub(crate) fn number_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// A broker's `message`, sanitized; `None` if absent.
pub(crate) fn message(body: &Object) -> Option<String> {
    body.get("message")
        .and_then(Value::as_str)
        .map(|m| sanitize_text(m, MAX_REASON_CHARS))
}

/// What a success answer to `placeorder` says about the order id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlaceAnswer {
    /// An order id.
    Placed(OrderId),
    /// Queued for manual approval (semi-auto mode): not at the exchange
    /// yet, but it may be approved later. The pending id, sanitized.
    Queued(String),
    /// Success without a usable order id: outcome unknown.
    NoOrderId(&'static str),
}

/// Reads an order id that may be a string or an integer.
pub(crate) fn order_id_of(value: &Value) -> Option<OrderId> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        _ => return None,
    };
    OrderId::new(&text).ok()
}

pub(crate) fn place_answer(body: &Object) -> PlaceAnswer {
    match body.get("orderid") {
        Some(Value::Null) => PlaceAnswer::NoOrderId("success with a null order id"),
        Some(value) => match order_id_of(value) {
            Some(id) => PlaceAnswer::Placed(id),
            None => PlaceAnswer::NoOrderId("success with an unusable order id"),
        },
        None => match body.get("pending_order_id") {
            Some(pending) => PlaceAnswer::Queued(
                number_text(pending)
                    .map(|t| sanitize_text(&t, 32))
                    .unwrap_or_else(|| "unknown".into()),
            ),
            None => PlaceAnswer::NoOrderId("success without an order id"),
        },
    }
}

fn field<'a>(obj: &'a Object, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Object, name: &'static str) -> Result<&'a Value, WireError> {
    field(obj, name).ok_or_else(|| format!("missing field `{name}`"))
}

fn text_field(obj: &Object, name: &'static str) -> Result<String, WireError> {
    required(obj, name)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("field `{name}` is not text"))
}

/// A price; zero and absence are `None` (OpenAlgo sends 0.0 for "no price").
fn price_field(obj: &Object, name: &'static str) -> Result<Option<Price>, WireError> {
    let Some(value) = field(obj, name) else {
        return Ok(None);
    };
    let text = number_text(value).ok_or_else(|| format!("field `{name}` is not a number"))?;
    if text.is_empty() {
        return Ok(None);
    }
    let price = Price::from_broker_decimal(&text).map_err(|e| format!("field `{name}`: {e}"))?;
    Ok((price != Price::ZERO).then_some(price))
}

/// Money; absence is zero.
fn money_field(obj: &Object, name: &'static str) -> Result<Money, WireError> {
    let Some(value) = field(obj, name) else {
        return Ok(Money::ZERO);
    };
    let text = number_text(value).ok_or_else(|| format!("field `{name}` is not a number"))?;
    Money::from_broker_decimal(&text).map_err(|e| format!("field `{name}`: {e}"))
}

/// A whole number (possibly written `10.0`), signed.
fn integer_field(obj: &Object, name: &'static str) -> Result<i64, WireError> {
    let value = required(obj, name)?;
    let text = number_text(value).ok_or_else(|| format!("field `{name}` is not a number"))?;
    let units = Money::from_broker_decimal(&text)
        .map_err(|e| format!("field `{name}`: {e}"))?
        .units();
    let scale = asta_core::UNITS_PER_RUPEE;
    if units % scale != 0 {
        return Err(format!("field `{name}` is not a whole number"));
    }
    i64::try_from(units / scale).map_err(|_| format!("field `{name}` is out of range"))
}

fn unsigned_field(obj: &Object, name: &'static str) -> Result<u64, WireError> {
    let value = integer_field(obj, name)?;
    u64::try_from(value).map_err(|_| format!("field `{name}` is negative"))
}

fn parse_enum<T: std::str::FromStr>(obj: &Object, name: &'static str) -> Result<T, WireError> {
    let text = text_field(obj, name)?;
    text.trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("field `{name}` has an unknown value"))
}

fn symbol_field(obj: &Object) -> Result<Symbol, WireError> {
    Symbol::new(&text_field(obj, "symbol")?).map_err(|e| format!("field `symbol`: {e}"))
}

/// The timestamp layouts OpenAlgo answers with: its analyzer's
/// `2026-11-28 02:51:50`, and what live brokers pass through (the documented
/// `28-Nov-2026 02:51:50`, and `02:51:50 28-11-2026` or `28-11-2026 02:51:50`).
const TIME_FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S",
    "%d-%b-%Y %H:%M:%S",
    "%H:%M:%S %d-%m-%Y",
    "%d-%m-%Y %H:%M:%S",
];

/// OpenAlgo timestamps are in IST (UTC+05:30, no DST), whole seconds, in
/// one of [`TIME_FORMATS`].
pub(crate) fn parse_ist(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let naive = TIME_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())?;
    let ist = FixedOffset::east_opt(5 * 3600 + 30 * 60)?;
    ist.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// One order of `orderstatus` (`data`) or `orderbook` (`data.orders[]`).
pub(crate) fn order_status(obj: &Object) -> Result<OrderStatus, WireError> {
    let order_id = order_id_of(required(obj, "orderid")?)
        .ok_or_else(|| "field `orderid` is not a valid order id".to_owned())?;
    let price_type: PriceType = match (field(obj, "pricetype"), field(obj, "price_type")) {
        (Some(_), _) => parse_enum(obj, "pricetype")?,
        (None, Some(_)) => parse_enum(obj, "price_type")?,
        (None, None) => return Err("missing field `pricetype`".into()),
    };
    let quantity = Quantity::new(unsigned_field(obj, "quantity")?)
        .map_err(|e| format!("field `quantity`: {e}"))?;
    let filled = match field(obj, "filled_quantity") {
        Some(_) => unsigned_field(obj, "filled_quantity")?,
        None => 0,
    };
    let state = OrderState::from_openalgo(&text_field(obj, "order_status")?);
    let strategy = field(obj, "strategy")
        .and_then(Value::as_str)
        .and_then(|s| StrategyTag::new(s).ok());
    let placed_at = field(obj, "timestamp")
        .and_then(Value::as_str)
        .and_then(parse_ist);
    let rejection = field(obj, "rejection_reason")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(|s| sanitize_text(s, MAX_REASON_CHARS));
    Ok(OrderStatus::new(
        order_id,
        symbol_field(obj)?,
        parse_enum::<Exchange>(obj, "exchange")?,
        parse_enum::<Side>(obj, "action")?,
        price_type,
        parse_enum::<Product>(obj, "product")?,
        quantity,
        state,
    )
    .with_fill(filled, price_field(obj, "average_price")?)
    .with_price(price_field(obj, "price")?)
    .with_trigger_price(price_field(obj, "trigger_price")?)
    .with_strategy(strategy)
    .with_placed_at(placed_at)
    .with_rejection_reason(rejection))
}

fn data_object(body: &Object) -> Result<&Object, WireError> {
    required(body, "data")?
        .as_object()
        .ok_or_else(|| "field `data` is not an object".to_owned())
}

/// `orderstatus`.
pub(crate) fn order_status_response(body: &Object) -> Result<OrderStatus, WireError> {
    order_status(data_object(body)?)
}

/// The raw order objects of `orderbook` (`data.orders`, or `data` as a list).
pub(crate) fn order_book_objects(body: &Object) -> Result<Vec<&Object>, WireError> {
    let data = required(body, "data")?;
    let orders = match data {
        Value::Object(d) => match field(d, "orders") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err("field `data.orders` is not a list".into()),
            None => return Ok(Vec::new()),
        },
        Value::Array(list) => list,
        _ => return Err("field `data` is neither an object nor a list".into()),
    };
    orders
        .iter()
        .map(|o| {
            o.as_object()
                .ok_or_else(|| "an order book entry is not an object".to_owned())
        })
        .collect()
}

/// `orderbook`: every entry must parse (a partial book would hide orders).
pub(crate) fn order_book_response(body: &Object) -> Result<Vec<OrderStatus>, WireError> {
    order_book_objects(body)?
        .into_iter()
        .map(order_status)
        .collect()
}

/// `positionbook`.
pub(crate) fn positions_response(body: &Object) -> Result<Vec<Position>, WireError> {
    let Value::Array(list) = required(body, "data")? else {
        return Err("field `data` is not a list".into());
    };
    list.iter()
        .map(|item| {
            let obj = item
                .as_object()
                .ok_or_else(|| "a position is not an object".to_owned())?;
            let key = PositionKey {
                exchange: parse_enum(obj, "exchange")?,
                symbol: symbol_field(obj)?,
                product: parse_enum(obj, "product")?,
            };
            let net = integer_field(obj, "quantity")?;
            let realized = if field(obj, "today_realized_pnl").is_some() {
                money_field(obj, "today_realized_pnl")?
            } else {
                money_field(obj, "realized_pnl")?
            };
            let unrealized = if net == 0 {
                Money::ZERO
            } else if field(obj, "unrealized_pnl").is_some() {
                money_field(obj, "unrealized_pnl")?
            } else {
                money_field(obj, "pnl")?
            };
            Ok(Position::new(
                key,
                net,
                price_field(obj, "average_price")?.unwrap_or(Price::ZERO),
                price_field(obj, "ltp")?,
                realized,
                unrealized,
            ))
        })
        .collect()
}

/// `funds`.
pub(crate) fn funds_response(body: &Object) -> Result<Funds, WireError> {
    let data = data_object(body)?;
    required(data, "availablecash")?;
    Ok(Funds::new(
        money_field(data, "availablecash")?,
        money_field(data, "utiliseddebits")?,
        money_field(data, "collateral")?,
        money_field(data, "m2mrealized")?,
        money_field(data, "m2munrealized")?,
    ))
}

/// `quotes`, stamped `at` (the server gives no instant).
pub(crate) fn quote_response(body: &Object, at: DateTime<Utc>) -> Result<Quote, WireError> {
    let data = data_object(body)?;
    let ltp =
        price_field(data, "ltp")?.ok_or_else(|| "field `ltp` is missing or zero".to_owned())?;
    Quote::new(
        ltp,
        price_field(data, "bid")?,
        price_field(data, "ask")?,
        at,
    )
    .map_err(|e| format!("quote: {e}"))
}

/// `cancelallorder`.
pub(crate) fn cancel_all_response(body: &Object) -> Result<CancelAllReport, WireError> {
    let mut report = CancelAllReport::default();
    if let Some(list) = field(body, "canceled_orders").or_else(|| field(body, "cancelled_orders")) {
        let Value::Array(list) = list else {
            return Err("field `canceled_orders` is not a list".into());
        };
        for item in list {
            let id =
                order_id_of(item).ok_or_else(|| "a cancelled order id is not valid".to_owned())?;
            report.cancelled.push(id);
        }
    }
    if let Some(list) = field(body, "failed_cancellations") {
        let Value::Array(list) = list else {
            return Err("field `failed_cancellations` is not a list".into());
        };
        for item in list {
            let (id, reason) = match item {
                Value::Object(obj) => (
                    field(obj, "orderid").and_then(order_id_of),
                    field(obj, "message")
                        .or_else(|| field(obj, "reason"))
                        .and_then(Value::as_str)
                        .map(|m| sanitize_text(m, MAX_REASON_CHARS)),
                ),
                other => (order_id_of(other), None),
            };
            let order_id =
                id.ok_or_else(|| "a failed cancellation has no valid order id".to_owned())?;
            report.failed.push(OrderFailure {
                order_id,
                reason: reason.unwrap_or_else(|| "the broker did not say why".into()),
            });
        }
    }
    Ok(report)
}

/// A count that may be a number or a list.
fn count_field(obj: &Object, name: &'static str) -> Result<u64, WireError> {
    match field(obj, name) {
        None => Ok(0),
        Some(Value::Array(list)) => Ok(u64::try_from(list.len()).unwrap_or(u64::MAX)),
        Some(_) => unsigned_field(obj, name),
    }
}

/// `closeposition`.
pub(crate) fn close_all_response(body: &Object) -> Result<CloseAllReport, WireError> {
    Ok(CloseAllReport {
        closed_count: count_field(body, "closed_positions")?,
        failed_count: count_field(body, "failed_closures")?,
        closed: Vec::new(),
        failed: Vec::new(),
    })
}

/// `tradebook`: every execution (`data` as a list).
pub(crate) fn trade_book_response(body: &Object) -> Result<Vec<Trade>, WireError> {
    let Value::Array(list) = required(body, "data")? else {
        return Err("field `data` is not a list".into());
    };
    list.iter()
        .map(|item| {
            let obj = item
                .as_object()
                .ok_or_else(|| "a trade is not an object".to_owned())?;
            let order_id = order_id_of(required(obj, "orderid")?)
                .ok_or_else(|| "field `orderid` is not a valid order id".to_owned())?;
            let price = match price_field(obj, "average_price")? {
                Some(price) => price,
                None => {
                    price_field(obj, "price")?.ok_or_else(|| "a trade has no price".to_owned())?
                }
            };
            Ok(Trade {
                trade_id: field(obj, "tradeid")
                    .and_then(number_text)
                    .map(|t| sanitize_text(&t, 64)),
                order_id,
                exchange: parse_enum(obj, "exchange")?,
                symbol: symbol_field(obj)?,
                side: parse_enum(obj, "action")?,
                product: parse_enum(obj, "product")?,
                quantity: Quantity::new(unsigned_field(obj, "quantity")?)
                    .map_err(|e| format!("field `quantity`: {e}"))?,
                price,
                strategy: field(obj, "strategy")
                    .and_then(Value::as_str)
                    .and_then(|s| StrategyTag::new(s).ok()),
                executed_at: field(obj, "timestamp")
                    .and_then(Value::as_str)
                    .and_then(parse_ist),
            })
        })
        .collect()
}

/// `holdings`: `data.holdings` (or `data` as a list).
pub(crate) fn holdings_response(body: &Object) -> Result<Vec<Holding>, WireError> {
    let list = match required(body, "data")? {
        Value::Object(data) => match field(data, "holdings") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err("field `data.holdings` is not a list".into()),
            None => return Ok(Vec::new()),
        },
        Value::Array(list) => list,
        _ => return Err("field `data` is neither an object nor a list".into()),
    };
    list.iter()
        .map(|item| {
            let obj = item
                .as_object()
                .ok_or_else(|| "a holding is not an object".to_owned())?;
            Ok(Holding {
                exchange: parse_enum(obj, "exchange")?,
                symbol: symbol_field(obj)?,
                product: match field(obj, "product") {
                    Some(_) => parse_enum(obj, "product")?,
                    None => Product::Cnc,
                },
                quantity: unsigned_field(obj, "quantity")?,
                average_price: price_field(obj, "average_price")?.unwrap_or(Price::ZERO),
                last_price: price_field(obj, "ltp")?,
                pnl: money_field(obj, "pnl")?,
            })
        })
        .collect()
}

/// `openposition`: the signed net quantity.
pub(crate) fn open_position_response(body: &Object) -> Result<i64, WireError> {
    integer_field(body, "quantity")
}

/// What a success answer to `placesmartorder` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SmartAnswer {
    /// An order was placed.
    Placed(OrderId),
    /// The position already matched ("Positions Already Matched").
    NoAction,
    /// Queued for manual approval (semi-auto); the pending id.
    Queued(String),
    /// Success without an order id or a no-action message: unknown.
    Unclear,
}

pub(crate) fn smart_answer(body: &Object) -> SmartAnswer {
    match place_answer(body) {
        PlaceAnswer::Placed(id) => SmartAnswer::Placed(id),
        PlaceAnswer::Queued(pending) => SmartAnswer::Queued(pending),
        PlaceAnswer::NoOrderId(_) => {
            let text = message(body).unwrap_or_default().to_ascii_lowercase();
            if body.get("orderid").is_none()
                && (text.contains("already matched") || text.contains("no action"))
            {
                SmartAnswer::NoAction
            } else {
                SmartAnswer::Unclear
            }
        }
    }
}

/// `ping`: the broker name.
pub(crate) fn ping_response(body: &Object) -> Result<String, WireError> {
    let data = data_object(body)?;
    if field(data, "message").and_then(Value::as_str) != Some("pong") {
        return Err("ping did not answer pong".into());
    }
    Ok(field(data, "broker")
        .and_then(Value::as_str)
        .map(|b| sanitize_text(b, 64))
        .unwrap_or_default())
}

/// `analyzer`: whether the server simulates (analyze) or trades (live).
pub(crate) fn analyze_mode(body: &Object) -> Result<bool, WireError> {
    let data = data_object(body)?;
    required(data, "analyze_mode")?
        .as_bool()
        .ok_or_else(|| "field `analyze_mode` is not a boolean".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn order_ids_may_be_numbers_or_strings() {
        assert_eq!(
            place_answer(&obj(json!({"status":"success","orderid":"26112887002562"}))),
            PlaceAnswer::Placed(OrderId::new("26112887002562").unwrap())
        );
        assert_eq!(
            place_answer(&obj(
                json!({"status":"success","orderid":26112887002562_u64})
            )),
            PlaceAnswer::Placed(OrderId::new("26112887002562").unwrap())
        );
        assert!(matches!(
            place_answer(&obj(json!({"status":"success","orderid":null}))),
            PlaceAnswer::NoOrderId(_)
        ));
        assert!(matches!(
            place_answer(&obj(json!({"status":"success","pending_order_id":1}))),
            PlaceAnswer::Queued(_)
        ));
        assert!(matches!(
            place_answer(&obj(json!({"status":"success","orderid":-5}))),
            PlaceAnswer::NoOrderId(_)
        ));
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-zA-Z0-9 .:_-]{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("-1"),
                Just("1e308"),
                Just("NaN"),
                Just("0.00005"),
                Just("SBIN"),
                Just("open"),
                Just("NSE"),
                Just("LIMIT"),
                Just("BUY"),
                Just("CNC"),
                Just("2026-11-28 02:51:50"),
                Just("99999999999999999999999"),
            ]
            .prop_map(|s| Value::String(s.to_owned())),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            let names = prop_oneof![
                Just("data"),
                Just("orders"),
                Just("orderid"),
                Just("status"),
                Just("price"),
                Just("quantity"),
                Just("symbol"),
                Just("exchange"),
                Just("action"),
                Just("pricetype"),
                Just("price_type"),
                Just("product"),
                Just("order_status"),
                Just("ltp"),
                Just("bid"),
                Just("ask"),
                Just("availablecash"),
                Just("canceled_orders"),
                Just("failed_cancellations"),
                Just("closed_positions"),
                Just("trigger_price"),
                Just("average_price"),
                Just("filled_quantity"),
                Just("pending_order_id"),
                Just("message"),
                Just("timestamp"),
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(names.prop_map(str::to_owned), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn parse_everything(body: &Object) {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let _ = place_answer(body);
        let _ = order_status_response(body);
        let _ = order_book_response(body);
        let _ = positions_response(body);
        let _ = funds_response(body);
        let _ = quote_response(body, at);
        let _ = cancel_all_response(body);
        let _ = close_all_response(body);
        let _ = ping_response(body);
        let _ = analyze_mode(body);
        let _ = trade_book_response(body);
        let _ = holdings_response(body);
        let _ = open_position_response(body);
        let _ = smart_answer(body);
        let _ = message(body);
        if let Ok(entries) = order_book_objects(body) {
            for entry in entries {
                let _ = order_status(entry);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic_the_parsers(value in arbitrary_json()) {
            let mut body = Object::new();
            body.insert("data".into(), value.clone());
            parse_everything(&body);
            if let Value::Object(obj) = value {
                parse_everything(&obj);
            }
        }

        #[test]
        fn arbitrary_text_never_panics_the_parsers(text in "\\PC{0,200}") {
            if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(&text) {
                parse_everything(&obj);
            }
        }
    }

    #[test]
    fn ist_timestamps() {
        for text in [
            "2026-11-28 02:51:50",
            "28-Nov-2026 02:51:50",
            "02:51:50 28-11-2026",
            "28-11-2026 02:51:50",
            " 2026-11-28 02:51:50 ",
        ] {
            let t = parse_ist(text).unwrap();
            assert_eq!(t.to_rfc3339(), "2026-11-27T21:21:50+00:00", "{text}");
        }
        for bad in [
            "yesterday",
            "",
            "2026-11-28",
            "28/11/2026 02:51:50",
            "2026-13-28 02:51:50",
        ] {
            assert!(parse_ist(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn integers_without_floats() {
        let o = obj(json!({"a": 10, "b": "10", "c": 10.0, "d": 1.5, "e": -3}));
        assert_eq!(integer_field(&o, "a"), Ok(10));
        assert_eq!(integer_field(&o, "b"), Ok(10));
        assert_eq!(integer_field(&o, "c"), Ok(10));
        assert!(integer_field(&o, "d").is_err());
        assert!(unsigned_field(&o, "e").is_err());
    }
}
