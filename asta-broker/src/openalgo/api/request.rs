//! OpenAlgo requests, parsed and validated into typed values.
//!
//! The schemas follow OpenAlgo's marshmallow schemas (v2.0.2): the same
//! field names, required fields, defaults (`pricetype` MARKET, `product`
//! MIS, prices 0 meaning "none") and messages. A request that passes is then
//! built through asta-core's types, whose refusals are reported with
//! ASTA's own messages.

use asta_core::{
    Exchange, OrderId, OrderRequest, Price, PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use serde_json::{Map, Value};

use super::{ApiRefusal, Endpoint};
use crate::openalgo::wire::fields as f;
use crate::{ModifyRequest, PositionKey};

/// The most orders one `basketorder` may carry.
pub const BASKET_MAX_ORDERS: usize = 100;

/// A parsed request: one variant per endpoint, each mapping onto one
/// [`Broker`](crate::Broker) call with nothing left to parse.
///
/// It holds nothing secret: the API key was taken out before parsing
/// ([`take_apikey`](super::take_apikey)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiRequest {
    /// `ping`.
    Ping,
    /// `analyzer` (status).
    Analyzer,
    /// `analyzer/toggle`: `mode` true asks for analyze mode, false for live.
    AnalyzerToggle {
        /// The mode asked for.
        mode: bool,
    },
    /// `placeorder`: [`Broker::place_order`](crate::Broker::place_order).
    PlaceOrder(OrderRequest),
    /// `placesmartorder`: [`Broker::place_smart_order`](crate::Broker::place_smart_order).
    PlaceSmartOrder {
        /// The order template (its side and quantity as sent).
        order: OrderRequest,
        /// The target net position (signed).
        position_size: i64,
    },
    /// `basketorder`: [`Broker::place_basket`](crate::Broker::place_basket).
    BasketOrder {
        /// The strategy of the basket (every order carries it too).
        strategy: StrategyTag,
        /// The orders, in the order sent.
        orders: Vec<OrderRequest>,
    },
    /// `modifyorder`: [`Broker::modify_order`](crate::Broker::modify_order).
    ModifyOrder {
        /// The order to change.
        order_id: OrderId,
        /// The whole order as it should be after the change.
        request: ModifyRequest,
    },
    /// `cancelorder`: [`Broker::cancel_order`](crate::Broker::cancel_order).
    CancelOrder {
        /// The strategy sent.
        strategy: StrategyTag,
        /// The order to cancel.
        order_id: OrderId,
    },
    /// `cancelallorder`: [`Broker::cancel_all_orders`](crate::Broker::cancel_all_orders).
    CancelAllOrder {
        /// The strategy sent.
        strategy: StrategyTag,
    },
    /// `closeposition`: [`Broker::close_all_positions`](crate::Broker::close_all_positions).
    ClosePosition {
        /// The strategy sent.
        strategy: StrategyTag,
    },
    /// `orderstatus`: [`Broker::order_status`](crate::Broker::order_status).
    OrderStatus {
        /// The strategy sent.
        strategy: StrategyTag,
        /// The order asked about.
        order_id: OrderId,
    },
    /// `openposition`: [`Broker::open_position`](crate::Broker::open_position).
    OpenPosition {
        /// The strategy sent.
        strategy: StrategyTag,
        /// Exchange, symbol and product of the position.
        key: PositionKey,
    },
    /// `orderbook`: [`Broker::order_book`](crate::Broker::order_book).
    OrderBook,
    /// `tradebook`: [`Broker::trade_book`](crate::Broker::trade_book).
    TradeBook,
    /// `positionbook`: [`Broker::positions`](crate::Broker::positions).
    PositionBook,
    /// `holdings`: [`Broker::holdings`](crate::Broker::holdings).
    Holdings,
    /// `funds`: [`Broker::funds`](crate::Broker::funds).
    Funds,
    /// `quotes`: [`Broker::quote`](crate::Broker::quote).
    Quotes {
        /// The exchange segment.
        exchange: Exchange,
        /// The symbol.
        symbol: Symbol,
    },
}

impl ApiRequest {
    /// The endpoint this request came to.
    pub fn endpoint(&self) -> Endpoint {
        match self {
            ApiRequest::Ping => Endpoint::Ping,
            ApiRequest::Analyzer => Endpoint::Analyzer,
            ApiRequest::AnalyzerToggle { .. } => Endpoint::AnalyzerToggle,
            ApiRequest::PlaceOrder(_) => Endpoint::PlaceOrder,
            ApiRequest::PlaceSmartOrder { .. } => Endpoint::PlaceSmartOrder,
            ApiRequest::BasketOrder { .. } => Endpoint::BasketOrder,
            ApiRequest::ModifyOrder { .. } => Endpoint::ModifyOrder,
            ApiRequest::CancelOrder { .. } => Endpoint::CancelOrder,
            ApiRequest::CancelAllOrder { .. } => Endpoint::CancelAllOrder,
            ApiRequest::ClosePosition { .. } => Endpoint::ClosePosition,
            ApiRequest::OrderStatus { .. } => Endpoint::OrderStatus,
            ApiRequest::OpenPosition { .. } => Endpoint::OpenPosition,
            ApiRequest::OrderBook => Endpoint::OrderBook,
            ApiRequest::TradeBook => Endpoint::TradeBook,
            ApiRequest::PositionBook => Endpoint::PositionBook,
            ApiRequest::Holdings => Endpoint::Holdings,
            ApiRequest::Funds => Endpoint::Funds,
            ApiRequest::Quotes { .. } => Endpoint::Quotes,
        }
    }

    /// The strategy the request names, where the endpoint has one.
    pub fn strategy(&self) -> Option<&StrategyTag> {
        match self {
            ApiRequest::PlaceOrder(order) | ApiRequest::PlaceSmartOrder { order, .. } => {
                Some(order.strategy())
            }
            ApiRequest::ModifyOrder { request, .. } => Some(request.order().strategy()),
            ApiRequest::BasketOrder { strategy, .. }
            | ApiRequest::CancelOrder { strategy, .. }
            | ApiRequest::CancelAllOrder { strategy }
            | ApiRequest::ClosePosition { strategy }
            | ApiRequest::OrderStatus { strategy, .. }
            | ApiRequest::OpenPosition { strategy, .. } => Some(strategy),
            ApiRequest::Ping
            | ApiRequest::Analyzer
            | ApiRequest::AnalyzerToggle { .. }
            | ApiRequest::OrderBook
            | ApiRequest::TradeBook
            | ApiRequest::PositionBook
            | ApiRequest::Holdings
            | ApiRequest::Funds
            | ApiRequest::Quotes { .. } => None,
        }
    }
}

// ------------------------------------------------------------- messages

const MISSING: &str = "Missing data for required field.";
const UNKNOWN: &str = "Unknown field.";
const NOT_STRING: &str = "Not a valid string.";
const NOT_NUMBER: &str = "Not a valid number.";
const NOT_INTEGER: &str = "Not a valid integer.";
const NOT_BOOLEAN: &str = "Not a valid boolean.";
const NOT_LIST: &str = "Not a valid list.";
const NOT_OBJECT: &str = "Invalid input type.";
const NULL: &str = "Field may not be null.";
const QUANTITY_POSITIVE: &str = "Quantity must be a positive number.";
const PRICE_NON_NEGATIVE: &str = "Price must be a non-negative number.";
const TRIGGER_NON_NEGATIVE: &str = "Trigger price must be a non-negative number.";

/// OpenAlgo's accepted exchanges, in its message's order.
const OPENALGO_EXCHANGES: &str = "NSE, NFO, CDS, BSE, BFO, BCD, MCX, NCDEX, NCO, NSE_INDEX, BSE_INDEX, MCX_INDEX, GLOBAL_INDEX, CRYPTO";

/// A Python `repr` of a string, as marshmallow's messages print.
fn py_str(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

/// A field name as it may appear in a message: short plain names are shown
/// (`tag`), anything else is not (a client could put a secret there).
fn shown_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        name.to_owned()
    } else {
        "(a field whose name is not shown)".to_owned()
    }
}

/// Field problems in marshmallow's `{'field': ['message.'], ...}` form, in a
/// stable order: schema fields in schema order, then unknown fields.
#[derive(Debug, Default)]
struct Problems {
    /// (key repr, value repr).
    items: Vec<(String, String)>,
}

impl Problems {
    fn add(&mut self, field: &str, message: &str) {
        self.items
            .push((py_str(field), format!("[{}]", py_str(message))));
    }

    fn add_nested(&mut self, field: &str, index: usize, inner: &Problems) {
        let key = py_str(field);
        let entry = format!("{index}: {}", inner.render());
        match self.items.iter_mut().find(|(k, _)| *k == key) {
            Some((_, value)) => {
                value.pop();
                value.push_str(", ");
                value.push_str(&entry);
                value.push('}');
            }
            None => self.items.push((key, format!("{{{entry}}}"))),
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn render(&self) -> String {
        let inner: Vec<String> = self
            .items
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!("{{{}}}", inner.join(", "))
    }
}

// --------------------------------------------------------------- fields

/// Reads fields out of one object, collecting every problem.
struct Fields<'p> {
    body: Map<String, Value>,
    problems: &'p mut Problems,
}

impl<'p> Fields<'p> {
    fn new(body: Map<String, Value>, problems: &'p mut Problems) -> Self {
        Self { body, problems }
    }

    /// The field's value; a null is a problem; absent is `None`.
    fn take(&mut self, name: &str) -> Option<Value> {
        match self.body.remove(name) {
            Some(Value::Null) => {
                self.problems.add(name, NULL);
                None
            }
            other => other,
        }
    }

    fn required(&mut self, name: &str) -> Option<Value> {
        let present = self.body.contains_key(name);
        let value = self.take(name);
        if !present {
            self.problems.add(name, MISSING);
        }
        value
    }

    fn string(&mut self, name: &str, value: Option<Value>) -> Option<String> {
        match value? {
            Value::String(s) => Some(s),
            _ => {
                self.problems.add(name, NOT_STRING);
                None
            }
        }
    }

    fn strategy(&mut self) -> Option<StrategyTag> {
        let value = self.required(f::STRATEGY);
        let text = self.string(f::STRATEGY, value)?;
        self.checked(f::STRATEGY, StrategyTag::new(&text))
    }

    fn order_id(&mut self) -> Option<OrderId> {
        let value = self.required(f::ORDERID);
        let text = self.string(f::ORDERID, value)?;
        self.checked(f::ORDERID, OrderId::new(&text))
    }

    fn symbol(&mut self, required: bool) -> Option<Symbol> {
        let value = if required {
            self.required(f::SYMBOL)
        } else {
            self.take(f::SYMBOL)
        };
        let text = self.string(f::SYMBOL, value)?;
        self.checked(f::SYMBOL, Symbol::new(&text))
    }

    fn checked<T, E: std::fmt::Display>(&mut self, name: &str, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.problems.add(name, &e.to_string())).ok()
    }

    fn exchange(&mut self) -> Option<Exchange> {
        let value = self.required(f::EXCHANGE);
        let text = self.string(f::EXCHANGE, value)?;
        let known = OPENALGO_EXCHANGES.split(", ").any(|e| e == text);
        if !known {
            self.problems.add(
                f::EXCHANGE,
                &format!("Must be one of: {OPENALGO_EXCHANGES}."),
            );
            return None;
        }
        match text.parse::<Exchange>() {
            Ok(exchange) => Some(exchange),
            Err(_) => {
                self.problems.add(
                    f::EXCHANGE,
                    &format!("{text} is not supported by ASTA; supported are NSE, BSE, NFO, BFO, CDS, BCD, MCX, NSE_INDEX and BSE_INDEX."),
                );
                None
            }
        }
    }

    fn side(&mut self) -> Option<Side> {
        let value = self.required(f::ACTION);
        let text = self.string(f::ACTION, value)?;
        match text.as_str() {
            "BUY" | "buy" => Some(Side::Buy),
            "SELL" | "sell" => Some(Side::Sell),
            _ => {
                self.problems
                    .add(f::ACTION, "Must be one of: BUY, SELL, buy, sell.");
                None
            }
        }
    }

    /// `pricetype`, MARKET when absent and not required (OpenAlgo's default).
    fn price_type(&mut self, required: bool) -> Option<PriceType> {
        if !required && !self.body.contains_key(f::PRICETYPE) {
            return Some(PriceType::Market);
        }
        let value = self.required(f::PRICETYPE);
        let text = self.string(f::PRICETYPE, value)?;
        text.parse().ok().or_else(|| {
            self.problems
                .add(f::PRICETYPE, "Must be one of: MARKET, LIMIT, SL, SL-M.");
            None
        })
    }

    /// `product`, MIS when absent and not required (OpenAlgo's default).
    fn product(&mut self, required: bool) -> Option<Product> {
        if !required && !self.body.contains_key(f::PRODUCT) {
            return Some(Product::Mis);
        }
        let value = self.required(f::PRODUCT);
        let text = self.string(f::PRODUCT, value)?;
        text.parse().ok().or_else(|| {
            self.problems
                .add(f::PRODUCT, "Must be one of: MIS, NRML, CNC.");
            None
        })
    }

    /// `quantity`: a whole positive number, as a string or a JSON number.
    fn quantity(&mut self) -> Option<Quantity> {
        let value = self.required(f::QUANTITY)?;
        let Some(text) = number_text(&value) else {
            self.problems.add(f::QUANTITY, NOT_NUMBER);
            return None;
        };
        match whole(&text) {
            Whole::Integer(n) if n <= 0 => {
                self.problems.add(f::QUANTITY, QUANTITY_POSITIVE);
                None
            }
            Whole::Integer(n) => {
                let n = u64::try_from(n).unwrap_or(u64::MAX);
                self.checked(f::QUANTITY, Quantity::new(n))
            }
            Whole::Fraction => {
                let shown = if text.len() <= 24 {
                    format!(" ({text})")
                } else {
                    String::new()
                };
                self.problems.add(
                    f::QUANTITY,
                    &format!("Fractional quantity{shown} is not allowed for non-crypto exchanges."),
                );
                None
            }
            Whole::NotNumber => {
                self.problems.add(f::QUANTITY, NOT_NUMBER);
                None
            }
        }
    }

    /// A signed whole number (`position_size`).
    fn signed(&mut self, name: &str) -> Option<i64> {
        let value = self.required(name)?;
        let parsed = number_text(&value).map(|t| whole(&t));
        match parsed {
            Some(Whole::Integer(n)) => i64::try_from(n).ok().or_else(|| {
                self.problems
                    .add(name, "Number is outside the 64-bit range.");
                None
            }),
            _ => {
                self.problems.add(name, NOT_INTEGER);
                None
            }
        }
    }

    /// A price field: absent or zero is `None`; negative is refused.
    fn price(&mut self, name: &str, negative: &str, required: bool) -> Option<Option<Price>> {
        let value = if required {
            self.required(name)
        } else {
            self.take(name)
        };
        let Some(value) = value else {
            return Some(None);
        };
        let Some(text) = number_text(&value) else {
            self.problems.add(name, NOT_NUMBER);
            return None;
        };
        if let Some(magnitude) = text.strip_prefix('-') {
            // `-0` is zero (as in OpenAlgo's Python), anything else below it is refused.
            if magnitude.parse::<Price>() == Ok(Price::ZERO) {
                return Some(None);
            }
            self.problems.add(name, negative);
            return None;
        }
        let price = self.checked(name, text.parse::<Price>())?;
        Some((price != Price::ZERO).then_some(price))
    }

    /// `disclosed_quantity`: ASTA places no iceberg orders; only 0 passes.
    fn disclosed_quantity(&mut self) {
        let Some(value) = self.take(f::DISCLOSED_QUANTITY) else {
            return;
        };
        match number_text(&value).map(|t| whole(&t)) {
            Some(Whole::Integer(0)) => {}
            Some(Whole::Integer(_)) => self.problems.add(
                f::DISCLOSED_QUANTITY,
                "A disclosed quantity is not supported by ASTA; send 0 or leave it out.",
            ),
            _ => self.problems.add(f::DISCLOSED_QUANTITY, NOT_INTEGER),
        }
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.required(name)? {
            Value::Bool(b) => Some(b),
            _ => {
                self.problems.add(name, NOT_BOOLEAN);
                None
            }
        }
    }

    /// Every field left is unknown.
    fn finish(self) {
        let names: Vec<String> = self.body.keys().cloned().collect();
        for name in names {
            self.problems.add(&shown_name(&name), UNKNOWN);
        }
    }
}

/// The text of a JSON number (serde's shortest text) or of a string.
fn number_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

enum Whole {
    Integer(i128),
    Fraction,
    NotNumber,
}

/// Reads `-?digits(.digits)?` as a whole number (`2.0` is 2), without floats.
fn whole(text: &str) -> Whole {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (body.contains('.') && frac.is_empty()) {
        return Whole::NotNumber;
    }
    if frac.bytes().any(|b| b != b'0') {
        return Whole::Fraction;
    }
    let trimmed = int.trim_start_matches('0');
    if trimmed.len() > 30 {
        return Whole::Integer(if negative { i128::MIN } else { i128::MAX });
    }
    let n: i128 = trimmed.parse().unwrap_or(0);
    Whole::Integer(if negative { -n } else { n })
}

// -------------------------------------------------------------- schemas

/// The fields of one order (placeorder, placesmartorder, a basket item),
/// in OpenAlgo's schema order.
struct OrderFields {
    symbol: Option<Symbol>,
    exchange: Option<Exchange>,
    side: Option<Side>,
    quantity: Option<Quantity>,
    price_type: Option<PriceType>,
    product: Option<Product>,
    price: Option<Option<Price>>,
    trigger: Option<Option<Price>>,
}

fn order_fields(f: &mut Fields<'_>, all_required: bool) -> OrderFields {
    let exchange = f.exchange();
    let symbol = f.symbol(true);
    let side = f.side();
    let quantity = f.quantity();
    let price_type = f.price_type(all_required);
    let product = f.product(all_required);
    let price = f.price(f::PRICE, PRICE_NON_NEGATIVE, all_required);
    let trigger = f.price(f::TRIGGER_PRICE, TRIGGER_NON_NEGATIVE, false);
    f.disclosed_quantity();
    OrderFields {
        symbol,
        exchange,
        side,
        quantity,
        price_type,
        product,
        price,
        trigger,
    }
}

/// Builds the order; `Err` carries asta-core's reason.
fn build_order(
    strategy: &StrategyTag,
    fields: OrderFields,
) -> Option<Result<OrderRequest, String>> {
    let mut builder = OrderRequest::builder()
        .strategy(strategy.clone())
        .symbol(fields.symbol?)
        .exchange(fields.exchange?)
        .side(fields.side?)
        .quantity(fields.quantity?)
        .price_type(fields.price_type?)
        .product(fields.product?);
    if let Some(price) = fields.price? {
        builder = builder.price(price);
    }
    if let Some(trigger) = fields.trigger? {
        builder = builder.trigger_price(trigger);
    }
    Some(builder.build().map_err(|e| e.to_string()))
}

fn refusal(problems: &Problems) -> ApiRefusal {
    ApiRefusal::bad_request(problems.render())
}

/// Parses and validates the body of a request to `endpoint` (after
/// [`take_apikey`](super::take_apikey)).
///
/// Refusals are 400 with OpenAlgo's messages: every field problem at once
/// in marshmallow's `{'field': ['message.']}` form (missing fields, unknown
/// fields, wrong types, bad enum values, fractional or non-positive
/// quantities, negative prices), then asta-core's reasons for an order its
/// rules refuse (a LIMIT without a price, CNC on a derivative segment, ...).
pub fn parse_request(
    endpoint: Endpoint,
    body: Map<String, Value>,
) -> Result<ApiRequest, ApiRefusal> {
    let mut problems = Problems::default();
    let mut f = Fields::new(body, &mut problems);
    let parsed: Option<Result<ApiRequest, String>> = match endpoint {
        Endpoint::Ping => Some(Ok(ApiRequest::Ping)),
        Endpoint::Analyzer => Some(Ok(ApiRequest::Analyzer)),
        Endpoint::OrderBook => Some(Ok(ApiRequest::OrderBook)),
        Endpoint::TradeBook => Some(Ok(ApiRequest::TradeBook)),
        Endpoint::PositionBook => Some(Ok(ApiRequest::PositionBook)),
        Endpoint::Holdings => Some(Ok(ApiRequest::Holdings)),
        Endpoint::Funds => Some(Ok(ApiRequest::Funds)),
        Endpoint::AnalyzerToggle => f
            .boolean(f::MODE)
            .map(|mode| Ok(ApiRequest::AnalyzerToggle { mode })),
        Endpoint::Quotes => {
            let symbol = f.symbol(true);
            let exchange = f.exchange();
            symbol
                .zip(exchange)
                .map(|(symbol, exchange)| Ok(ApiRequest::Quotes { exchange, symbol }))
        }
        Endpoint::PlaceOrder => {
            let strategy = f.strategy();
            let fields = order_fields(&mut f, false);
            strategy
                .and_then(|s| build_order(&s, fields))
                .map(|r| r.map(ApiRequest::PlaceOrder))
        }
        Endpoint::PlaceSmartOrder => {
            let strategy = f.strategy();
            let fields = order_fields(&mut f, false);
            let position_size = f.signed(f::POSITION_SIZE);
            strategy.and_then(|s| {
                let order = build_order(&s, fields)?;
                let position_size = position_size?;
                Some(order.map(|order| ApiRequest::PlaceSmartOrder {
                    order,
                    position_size,
                }))
            })
        }
        Endpoint::ModifyOrder => {
            let strategy = f.strategy();
            let order_id = f.order_id();
            let fields = order_fields(&mut f, true);
            strategy.and_then(|s| {
                let order = build_order(&s, fields)?;
                let order_id = order_id?;
                Some(order.map(|order| ApiRequest::ModifyOrder {
                    order_id: order_id.clone(),
                    request: ModifyRequest::replacing(order_id, order),
                }))
            })
        }
        Endpoint::CancelOrder | Endpoint::OrderStatus => {
            let strategy = f.strategy();
            let order_id = f.order_id();
            strategy.zip(order_id).map(|(strategy, order_id)| {
                Ok(if endpoint == Endpoint::CancelOrder {
                    ApiRequest::CancelOrder { strategy, order_id }
                } else {
                    ApiRequest::OrderStatus { strategy, order_id }
                })
            })
        }
        Endpoint::CancelAllOrder => f
            .strategy()
            .map(|strategy| Ok(ApiRequest::CancelAllOrder { strategy })),
        Endpoint::ClosePosition => f
            .strategy()
            .map(|strategy| Ok(ApiRequest::ClosePosition { strategy })),
        Endpoint::OpenPosition => {
            let strategy = f.strategy();
            let symbol = f.symbol(true);
            let exchange = f.exchange();
            let product = f.product(true);
            match (strategy, symbol, exchange, product) {
                (Some(strategy), Some(symbol), Some(exchange), Some(product)) => {
                    Some(Ok(ApiRequest::OpenPosition {
                        strategy,
                        key: PositionKey {
                            exchange,
                            symbol,
                            product,
                        },
                    }))
                }
                _ => None,
            }
        }
        Endpoint::BasketOrder => {
            let strategy = f.strategy();
            let orders = basket_orders(&mut f);
            match (strategy, orders) {
                (Some(strategy), Some(items)) => basket(strategy, items),
                _ => None,
            }
        }
    };
    f.finish();
    if !problems.is_empty() {
        return Err(refusal(&problems));
    }
    match parsed {
        Some(Ok(request)) => Ok(request),
        Some(Err(reason)) => Err(ApiRefusal::bad_request(reason)),
        // Unreachable: a `None` always comes with a problem. Fail closed.
        None => Err(ApiRefusal::bad_request("The request is invalid.")),
    }
}

/// The fields of every order of a basket; their problems are nested by
/// index under `orders`, all at once.
fn basket_orders(f: &mut Fields<'_>) -> Option<Vec<OrderFields>> {
    let value = f.required(f::ORDERS)?;
    let Value::Array(list) = value else {
        f.problems.add(f::ORDERS, NOT_LIST);
        return None;
    };
    if list.is_empty() {
        f.problems.add(f::ORDERS, "Shorter than minimum length 1.");
        return None;
    }
    if list.len() > BASKET_MAX_ORDERS {
        f.problems.add(
            f::ORDERS,
            &format!("Longer than maximum length {BASKET_MAX_ORDERS}."),
        );
        return None;
    }
    let mut fields = Vec::with_capacity(list.len());
    for (index, item) in list.into_iter().enumerate() {
        let mut inner = Problems::default();
        match item {
            Value::Object(obj) => {
                let mut item = Fields::new(obj, &mut inner);
                let parsed = order_fields(&mut item, false);
                item.finish();
                fields.push(parsed);
            }
            _ => inner.add("_schema", NOT_OBJECT),
        }
        if !inner.is_empty() {
            f.problems.add_nested(f::ORDERS, index, &inner);
        }
    }
    Some(fields)
}

/// Builds every order of a basket under its strategy; asta-core's reasons
/// are nested by index, all at once.
fn basket(strategy: StrategyTag, items: Vec<OrderFields>) -> Option<Result<ApiRequest, String>> {
    let mut orders = Vec::with_capacity(items.len());
    let mut problems = Problems::default();
    for (index, fields) in items.into_iter().enumerate() {
        match build_order(&strategy, fields)? {
            Ok(order) => orders.push(order),
            Err(reason) => {
                let mut inner = Problems::default();
                inner.add("_schema", &reason);
                problems.add_nested(f::ORDERS, index, &inner);
            }
        }
    }
    Some(if problems.is_empty() {
        Ok(ApiRequest::BasketOrder { strategy, orders })
    } else {
        Err(problems.render())
    })
}
