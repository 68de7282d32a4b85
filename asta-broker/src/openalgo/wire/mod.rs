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

use self::fields as f;
use crate::error::{MAX_REASON_CHARS, sanitize_text};
use crate::{
    CancelAllReport, CloseAllReport, Funds, Holding, OrderFailure, OrderState, OrderStatus,
    Position, PositionKey, Quote, Trade,
};

pub(crate) mod fields;

/// A JSON object.
pub(crate) type Object = Map<String, Value>;

/// A field problem, as text for a `Protocol` error (never includes values).
pub(crate) type WireError = String;

// ---------------------------------------------------------------- requests

/// The body of `placeorder` (without `apikey`).
pub(crate) fn place_order_body(order: &OrderRequest) -> Object {
    let mut body = Object::new();
    body.insert(f::STRATEGY.into(), order.strategy().as_str().into());
    body.insert(f::SYMBOL.into(), order.symbol().as_str().into());
    body.insert(f::ACTION.into(), order.side().as_str().into());
    body.insert(f::EXCHANGE.into(), order.exchange().as_str().into());
    body.insert(f::PRICETYPE.into(), order.price_type().as_str().into());
    body.insert(f::PRODUCT.into(), order.product().as_str().into());
    body.insert(
        f::QUANTITY.into(),
        order.quantity().get().to_string().into(),
    );
    if let Some(price) = order.price() {
        body.insert(f::PRICE.into(), price.to_string().into());
    }
    if let Some(trigger) = order.trigger_price() {
        body.insert(f::TRIGGER_PRICE.into(), trigger.to_string().into());
    }
    body
}

/// The body of `modifyorder` (without `apikey`): every field, zeros for
/// absent prices, as the server requires.
pub(crate) fn modify_order_body(order_id: &OrderId, order: &OrderRequest) -> Object {
    let mut body = Object::new();
    body.insert(f::STRATEGY.into(), order.strategy().as_str().into());
    body.insert(f::ORDERID.into(), order_id.as_str().into());
    body.insert(f::SYMBOL.into(), order.symbol().as_str().into());
    body.insert(f::ACTION.into(), order.side().as_str().into());
    body.insert(f::EXCHANGE.into(), order.exchange().as_str().into());
    body.insert(f::PRICETYPE.into(), order.price_type().as_str().into());
    body.insert(f::PRODUCT.into(), order.product().as_str().into());
    body.insert(
        f::QUANTITY.into(),
        order.quantity().get().to_string().into(),
    );
    body.insert(
        f::PRICE.into(),
        order.price().unwrap_or(Price::ZERO).to_string().into(),
    );
    body.insert(
        f::TRIGGER_PRICE.into(),
        order
            .trigger_price()
            .unwrap_or(Price::ZERO)
            .to_string()
            .into(),
    );
    body.insert(f::DISCLOSED_QUANTITY.into(), "0".into());
    body
}

/// The body of `placesmartorder` (without `apikey`): the order's fields
/// and the target `position_size`.
pub(crate) fn smart_order_body(order: &OrderRequest, target: i64) -> Object {
    let mut body = place_order_body(order);
    body.insert(f::POSITION_SIZE.into(), target.to_string().into());
    body
}

/// The body of `openposition` (without `apikey`).
pub(crate) fn open_position_body(strategy: &StrategyTag, key: &PositionKey) -> Object {
    let mut body = strategy_body(strategy);
    body.insert(f::SYMBOL.into(), key.symbol.as_str().into());
    body.insert(f::EXCHANGE.into(), key.exchange.as_str().into());
    body.insert(f::PRODUCT.into(), key.product.as_str().into());
    body
}

/// The body of `cancelorder` and `orderstatus` (without `apikey`).
pub(crate) fn order_ref_body(strategy: &StrategyTag, order_id: &OrderId) -> Object {
    let mut body = Object::new();
    body.insert(f::STRATEGY.into(), strategy.as_str().into());
    body.insert(f::ORDERID.into(), order_id.as_str().into());
    body
}

/// The body of `cancelallorder` and `closeposition` (without `apikey`).
pub(crate) fn strategy_body(strategy: &StrategyTag) -> Object {
    let mut body = Object::new();
    body.insert(f::STRATEGY.into(), strategy.as_str().into());
    body
}

/// The body of `quotes` (without `apikey`).
pub(crate) fn quote_body(exchange: Exchange, symbol: &Symbol) -> Object {
    let mut body = Object::new();
    body.insert(f::SYMBOL.into(), symbol.as_str().into());
    body.insert(f::EXCHANGE.into(), exchange.as_str().into());
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
    body.get(f::MESSAGE)
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
    match body.get(f::ORDERID) {
        Some(Value::Null) => PlaceAnswer::NoOrderId("success with a null order id"),
        Some(value) => match order_id_of(value) {
            Some(id) => PlaceAnswer::Placed(id),
            None => PlaceAnswer::NoOrderId("success with an unusable order id"),
        },
        None => match body.get(f::PENDING_ORDER_ID) {
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
    Symbol::new(&text_field(obj, f::SYMBOL)?).map_err(|e| format!("field `symbol`: {e}"))
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

/// The layout OpenAlgo's own server writes (and the gateway writes).
pub(crate) const TIME_FORMAT: &str = TIME_FORMATS[0];

/// India Standard Time: UTC+05:30, no DST.
pub(crate) fn ist_offset() -> Option<FixedOffset> {
    FixedOffset::east_opt(5 * 3600 + 30 * 60)
}

/// OpenAlgo timestamps are in IST (UTC+05:30, no DST), whole seconds, in
/// one of [`TIME_FORMATS`].
pub(crate) fn parse_ist(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let naive = TIME_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())?;
    let ist = ist_offset()?;
    ist.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// OpenAlgo's `order_status` text for a state: what
/// [`OrderState::from_openalgo`] reads back.
pub(crate) fn order_state_text(state: OrderState) -> &'static str {
    match state {
        OrderState::Open => "open",
        OrderState::TriggerPending => "trigger pending",
        OrderState::Complete => "complete",
        OrderState::Cancelled => "cancelled",
        OrderState::Rejected => "rejected",
        _ => "unknown",
    }
}

/// OpenAlgo's answer to a smart order that needed no order.
pub(crate) const NO_ACTION: &str = "Positions Already Matched. No Action needed.";

/// `ping`'s `data.message`.
pub(crate) const PONG: &str = "pong";

/// One order of `orderstatus` (`data`) or `orderbook` (`data.orders[]`).
pub(crate) fn order_status(obj: &Object) -> Result<OrderStatus, WireError> {
    let order_id = order_id_of(required(obj, f::ORDERID)?)
        .ok_or_else(|| "field `orderid` is not a valid order id".to_owned())?;
    let price_type: PriceType = match (field(obj, f::PRICETYPE), field(obj, f::PRICE_TYPE)) {
        (Some(_), _) => parse_enum(obj, f::PRICETYPE)?,
        (None, Some(_)) => parse_enum(obj, f::PRICE_TYPE)?,
        (None, None) => return Err("missing field `pricetype`".into()),
    };
    let quantity = Quantity::new(unsigned_field(obj, f::QUANTITY)?)
        .map_err(|e| format!("field `quantity`: {e}"))?;
    let filled = match field(obj, f::FILLED_QUANTITY) {
        Some(_) => unsigned_field(obj, f::FILLED_QUANTITY)?,
        None => 0,
    };
    let state = OrderState::from_openalgo(&text_field(obj, f::ORDER_STATUS)?);
    let strategy = field(obj, f::STRATEGY)
        .and_then(Value::as_str)
        .and_then(|s| StrategyTag::new(s).ok());
    let placed_at = field(obj, f::TIMESTAMP)
        .and_then(Value::as_str)
        .and_then(parse_ist);
    let rejection = field(obj, f::REJECTION_REASON)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(|s| sanitize_text(s, MAX_REASON_CHARS));
    Ok(OrderStatus::new(
        order_id,
        symbol_field(obj)?,
        parse_enum::<Exchange>(obj, f::EXCHANGE)?,
        parse_enum::<Side>(obj, f::ACTION)?,
        price_type,
        parse_enum::<Product>(obj, f::PRODUCT)?,
        quantity,
        state,
    )
    .with_fill(filled, price_field(obj, f::AVERAGE_PRICE)?)
    .with_price(price_field(obj, f::PRICE)?)
    .with_trigger_price(price_field(obj, f::TRIGGER_PRICE)?)
    .with_strategy(strategy)
    .with_placed_at(placed_at)
    .with_rejection_reason(rejection))
}

fn data_object(body: &Object) -> Result<&Object, WireError> {
    required(body, f::DATA)?
        .as_object()
        .ok_or_else(|| "field `data` is not an object".to_owned())
}

/// `orderstatus`.
pub(crate) fn order_status_response(body: &Object) -> Result<OrderStatus, WireError> {
    order_status(data_object(body)?)
}

/// The raw order objects of `orderbook` (`data.orders`, or `data` as a list).
pub(crate) fn order_book_objects(body: &Object) -> Result<Vec<&Object>, WireError> {
    let data = required(body, f::DATA)?;
    let orders = match data {
        Value::Object(d) => match field(d, f::ORDERS) {
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
    let Value::Array(list) = required(body, f::DATA)? else {
        return Err("field `data` is not a list".into());
    };
    list.iter()
        .map(|item| {
            let obj = item
                .as_object()
                .ok_or_else(|| "a position is not an object".to_owned())?;
            let key = PositionKey {
                exchange: parse_enum(obj, f::EXCHANGE)?,
                symbol: symbol_field(obj)?,
                product: parse_enum(obj, f::PRODUCT)?,
            };
            let net = integer_field(obj, f::QUANTITY)?;
            let realized = if field(obj, f::TODAY_REALIZED_PNL).is_some() {
                money_field(obj, f::TODAY_REALIZED_PNL)?
            } else {
                money_field(obj, f::REALIZED_PNL)?
            };
            let unrealized = if net == 0 {
                Money::ZERO
            } else if field(obj, f::UNREALIZED_PNL).is_some() {
                money_field(obj, f::UNREALIZED_PNL)?
            } else {
                money_field(obj, f::PNL)?
            };
            Ok(Position::new(
                key,
                net,
                price_field(obj, f::AVERAGE_PRICE)?.unwrap_or(Price::ZERO),
                price_field(obj, f::LTP)?,
                realized,
                unrealized,
            ))
        })
        .collect()
}

/// `funds`.
pub(crate) fn funds_response(body: &Object) -> Result<Funds, WireError> {
    let data = data_object(body)?;
    required(data, f::AVAILABLECASH)?;
    Ok(Funds::new(
        money_field(data, f::AVAILABLECASH)?,
        money_field(data, f::UTILISEDDEBITS)?,
        money_field(data, f::COLLATERAL)?,
        money_field(data, f::M2MREALIZED)?,
        money_field(data, f::M2MUNREALIZED)?,
    ))
}

/// `quotes`, stamped `at` (the server gives no instant).
pub(crate) fn quote_response(body: &Object, at: DateTime<Utc>) -> Result<Quote, WireError> {
    let data = data_object(body)?;
    let ltp =
        price_field(data, f::LTP)?.ok_or_else(|| "field `ltp` is missing or zero".to_owned())?;
    Quote::new(
        ltp,
        price_field(data, f::BID)?,
        price_field(data, f::ASK)?,
        at,
    )
    .map_err(|e| format!("quote: {e}"))
}

/// `cancelallorder`.
pub(crate) fn cancel_all_response(body: &Object) -> Result<CancelAllReport, WireError> {
    let mut report = CancelAllReport::default();
    if let Some(list) = field(body, f::CANCELED_ORDERS).or_else(|| field(body, f::CANCELLED_ORDERS))
    {
        let Value::Array(list) = list else {
            return Err("field `canceled_orders` is not a list".into());
        };
        for item in list {
            let id =
                order_id_of(item).ok_or_else(|| "a cancelled order id is not valid".to_owned())?;
            report.cancelled.push(id);
        }
    }
    if let Some(list) = field(body, f::FAILED_CANCELLATIONS) {
        let Value::Array(list) = list else {
            return Err("field `failed_cancellations` is not a list".into());
        };
        for item in list {
            let (id, reason) = match item {
                Value::Object(obj) => (
                    field(obj, f::ORDERID).and_then(order_id_of),
                    field(obj, f::MESSAGE)
                        .or_else(|| field(obj, f::REASON))
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
        closed_count: count_field(body, f::CLOSED_POSITIONS)?,
        failed_count: count_field(body, f::FAILED_CLOSURES)?,
        closed: Vec::new(),
        failed: Vec::new(),
    })
}

/// `tradebook`: every execution (`data` as a list).
pub(crate) fn trade_book_response(body: &Object) -> Result<Vec<Trade>, WireError> {
    let Value::Array(list) = required(body, f::DATA)? else {
        return Err("field `data` is not a list".into());
    };
    list.iter()
        .map(|item| {
            let obj = item
                .as_object()
                .ok_or_else(|| "a trade is not an object".to_owned())?;
            let order_id = order_id_of(required(obj, f::ORDERID)?)
                .ok_or_else(|| "field `orderid` is not a valid order id".to_owned())?;
            let price = match price_field(obj, f::AVERAGE_PRICE)? {
                Some(price) => price,
                None => {
                    price_field(obj, f::PRICE)?.ok_or_else(|| "a trade has no price".to_owned())?
                }
            };
            Ok(Trade {
                trade_id: field(obj, f::TRADEID)
                    .and_then(number_text)
                    .map(|t| sanitize_text(&t, 64)),
                order_id,
                exchange: parse_enum(obj, f::EXCHANGE)?,
                symbol: symbol_field(obj)?,
                side: parse_enum(obj, f::ACTION)?,
                product: parse_enum(obj, f::PRODUCT)?,
                quantity: Quantity::new(unsigned_field(obj, f::QUANTITY)?)
                    .map_err(|e| format!("field `quantity`: {e}"))?,
                price,
                strategy: field(obj, f::STRATEGY)
                    .and_then(Value::as_str)
                    .and_then(|s| StrategyTag::new(s).ok()),
                executed_at: field(obj, f::TIMESTAMP)
                    .and_then(Value::as_str)
                    .and_then(parse_ist),
            })
        })
        .collect()
}

/// `holdings`: `data.holdings` (or `data` as a list).
pub(crate) fn holdings_response(body: &Object) -> Result<Vec<Holding>, WireError> {
    let list = match required(body, f::DATA)? {
        Value::Object(data) => match field(data, f::HOLDINGS) {
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
                exchange: parse_enum(obj, f::EXCHANGE)?,
                symbol: symbol_field(obj)?,
                product: match field(obj, f::PRODUCT) {
                    Some(_) => parse_enum(obj, f::PRODUCT)?,
                    None => Product::Cnc,
                },
                quantity: unsigned_field(obj, f::QUANTITY)?,
                average_price: price_field(obj, f::AVERAGE_PRICE)?.unwrap_or(Price::ZERO),
                last_price: price_field(obj, f::LTP)?,
                pnl: money_field(obj, f::PNL)?,
            })
        })
        .collect()
}

/// `openposition`: the signed net quantity.
pub(crate) fn open_position_response(body: &Object) -> Result<i64, WireError> {
    integer_field(body, f::QUANTITY)
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
            if body.get(f::ORDERID).is_none()
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
    if field(data, f::MESSAGE).and_then(Value::as_str) != Some(PONG) {
        return Err("ping did not answer pong".into());
    }
    Ok(field(data, f::BROKER)
        .and_then(Value::as_str)
        .map(|b| sanitize_text(b, 64))
        .unwrap_or_default())
}

/// `analyzer`: whether the server simulates (analyze) or trades (live).
pub(crate) fn analyze_mode(body: &Object) -> Result<bool, WireError> {
    let data = data_object(body)?;
    required(data, f::ANALYZE_MODE)?
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
