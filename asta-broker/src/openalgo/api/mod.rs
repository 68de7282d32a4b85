//! The server side of OpenAlgo's REST v1: parse what an OpenAlgo client
//! sends, answer in the shapes it expects.
//!
//! This is what a gateway that presents OpenAlgo's API (so that the OpenAlgo
//! Python SDK, TradingView webhooks and other existing clients work by
//! changing only the host) needs between HTTP and a [`Broker`](crate::Broker):
//!
//! 1. [`Endpoint::from_path`] for the part after `/api/v1/`;
//! 2. [`parse_body`]: size and nesting limits (checked on the bytes, before
//!    any parser), then a JSON object;
//! 3. [`take_apikey`]: the key leaves the body as a [`SecretString`] before
//!    anything else looks at it, so nothing after this step can leak it;
//! 4. [`parse_request`]: OpenAlgo's validation (unknown fields refused,
//!    numbers as strings or JSON numbers, `strategy` required where OpenAlgo
//!    requires it, marshmallow-style messages listing every problem), then
//!    asta-core's own types, into one typed [`ApiRequest`] per endpoint that
//!    maps onto exactly one [`Broker`](crate::Broker) call;
//! 5. the `encode_*` functions: typed results to OpenAlgo's response shapes
//!    ([`ApiResponse::to_bytes`]); [`ApiRefusal::error_body`] for refusals.
//!
//! The wire format is defined once for both directions: field names and
//! enum spellings are the ones the adapter ([`OpenAlgoBroker`](crate::OpenAlgoBroker))
//! sends and reads, and the tests prove that the adapter's request encoders
//! parse here to the same typed request, and that every response encoded
//! here decodes in the adapter to the same typed value.
//!
//! ```
//! use asta_broker::openalgo::api::{self, ApiMode, ApiRequest, BodyLimits, Endpoint};
//! use asta_core::OrderId;
//! use secrecy::ExposeSecret;
//!
//! // POST /api/v1/placeorder
//! let endpoint = Endpoint::from_path("placeorder").ok_or("unknown endpoint")?;
//! let raw = br#"{"apikey":"k3y","strategy":"asta","symbol":"SBIN","action":"BUY",
//!     "exchange":"NSE","pricetype":"LIMIT","product":"CNC","quantity":2,"price":"500.05"}"#;
//! let mut body = api::parse_body(raw, &BodyLimits::default())?;
//! let key = api::take_apikey(&mut body).ok_or("no key")?; // check it first
//! assert_eq!(key.expose_secret(), "k3y");
//! let request = api::parse_request(endpoint, body)?;
//! assert!(request.endpoint().is_trading());
//! let ApiRequest::PlaceOrder(order) = &request else { unreachable!() };
//! assert_eq!(order.price().map(|p| p.to_string()), Some("500.05".into()));
//! assert_eq!(order.quantity().get(), 2);
//!
//! // ... broker.place_order(order) through the guard, then:
//! let answer = api::encode_place_order(&OrderId::new("SBX-000001")?, ApiMode::Analyze);
//! assert_eq!(answer.to_bytes(), br#"{"mode":"analyze","orderid":"SBX-000001","status":"success"}"#);
//!
//! // A refusal, in OpenAlgo's words and envelope.
//! let refusal = api::parse_request(Endpoint::OrderStatus, serde_json::Map::new()).unwrap_err();
//! assert_eq!(refusal.status, 400);
//! assert_eq!(
//!     refusal.message,
//!     "{'strategy': ['Missing data for required field.'], 'orderid': ['Missing data for required field.']}"
//! );
//! assert_eq!(refusal.error_body(ApiMode::Analyze)["mode"], "analyze");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Numbers
//!
//! Prices and money leave as JSON numbers written from their exact decimal
//! text (`800.05`, `500.0`: always with a decimal point, as OpenAlgo's
//! Python server writes floats), by a small writer in this module; no value
//! ever passes through `f64` on the way out. On the way in, serde_json
//! (without `arbitrary_precision`, which would change other crates'
//! encodings) keeps decimals as `f64`, which is exact only up to 15
//! significant digits: [`parse_body`] therefore refuses, before parsing, a
//! decimal number with more than 15 significant digits or with an exponent,
//! and an integer outside the 64-bit range. Every number that passes is read
//! back from serde's shortest text, which then is the sender's value exactly.
//! Strings such as `"1000.50"` are read as written.

mod request;
mod response;
#[cfg(test)]
mod tests;

use std::fmt;

use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::openalgo::wire::fields as f;

pub use self::request::{ApiRequest, BASKET_MAX_ORDERS, parse_request};
pub use self::response::{
    ApiResponse, BasketItem, encode_analyzer, encode_basket, encode_cancel, encode_cancel_all,
    encode_close_positions, encode_funds, encode_holdings, encode_modify, encode_open_position,
    encode_order_book, encode_order_status, encode_ping, encode_place_order, encode_position_book,
    encode_quote, encode_smart_order, encode_trade_book,
};

/// An OpenAlgo v1 endpoint: the path after `/api/v1/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `ping`: checks the key, answers the broker's name.
    Ping,
    /// `analyzer`: whether the server simulates (analyze) or trades (live).
    Analyzer,
    /// `analyzer/toggle`: switches the server's mode (a gateway refuses it).
    AnalyzerToggle,
    /// `placeorder`.
    PlaceOrder,
    /// `placesmartorder`: an order that brings a position to a target size.
    PlaceSmartOrder,
    /// `basketorder`: several orders at once.
    BasketOrder,
    /// `modifyorder`.
    ModifyOrder,
    /// `cancelorder`.
    CancelOrder,
    /// `cancelallorder`.
    CancelAllOrder,
    /// `closeposition`: closes every open position.
    ClosePosition,
    /// `orderstatus`.
    OrderStatus,
    /// `openposition`: the net quantity of one position.
    OpenPosition,
    /// `orderbook`.
    OrderBook,
    /// `tradebook`.
    TradeBook,
    /// `positionbook`.
    PositionBook,
    /// `holdings`.
    Holdings,
    /// `funds`.
    Funds,
    /// `quotes`.
    Quotes,
}

impl Endpoint {
    /// Every endpoint, in declaration order.
    pub const ALL: [Endpoint; 18] = [
        Endpoint::Ping,
        Endpoint::Analyzer,
        Endpoint::AnalyzerToggle,
        Endpoint::PlaceOrder,
        Endpoint::PlaceSmartOrder,
        Endpoint::BasketOrder,
        Endpoint::ModifyOrder,
        Endpoint::CancelOrder,
        Endpoint::CancelAllOrder,
        Endpoint::ClosePosition,
        Endpoint::OrderStatus,
        Endpoint::OpenPosition,
        Endpoint::OrderBook,
        Endpoint::TradeBook,
        Endpoint::PositionBook,
        Endpoint::Holdings,
        Endpoint::Funds,
        Endpoint::Quotes,
    ];

    /// The endpoint at `segment`, the path after `/api/v1/` (`placeorder`,
    /// `analyzer/toggle`, ...); exact and case-sensitive, as OpenAlgo's routes.
    pub fn from_path(segment: &str) -> Option<Endpoint> {
        Self::ALL.into_iter().find(|e| e.as_path() == segment)
    }

    /// The path after `/api/v1/`.
    pub fn as_path(self) -> &'static str {
        match self {
            Endpoint::Ping => "ping",
            Endpoint::Analyzer => "analyzer",
            Endpoint::AnalyzerToggle => "analyzer/toggle",
            Endpoint::PlaceOrder => "placeorder",
            Endpoint::PlaceSmartOrder => "placesmartorder",
            Endpoint::BasketOrder => "basketorder",
            Endpoint::ModifyOrder => "modifyorder",
            Endpoint::CancelOrder => "cancelorder",
            Endpoint::CancelAllOrder => "cancelallorder",
            Endpoint::ClosePosition => "closeposition",
            Endpoint::OrderStatus => "orderstatus",
            Endpoint::OpenPosition => "openposition",
            Endpoint::OrderBook => "orderbook",
            Endpoint::TradeBook => "tradebook",
            Endpoint::PositionBook => "positionbook",
            Endpoint::Holdings => "holdings",
            Endpoint::Funds => "funds",
            Endpoint::Quotes => "quotes",
        }
    }

    /// Whether a call changes something: places, modifies, cancels or closes
    /// orders or positions, or switches the server's mode. Read endpoints
    /// (books, status, funds, quotes, ping, the analyzer status) are `false`.
    pub fn is_trading(self) -> bool {
        matches!(
            self,
            Endpoint::PlaceOrder
                | Endpoint::PlaceSmartOrder
                | Endpoint::BasketOrder
                | Endpoint::ModifyOrder
                | Endpoint::CancelOrder
                | Endpoint::CancelAllOrder
                | Endpoint::ClosePosition
                | Endpoint::AnalyzerToggle
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_path())
    }
}

/// What the answers say about the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiMode {
    /// Simulated (ASTA's sandbox or paper mode): every success answer of an
    /// order, book or account endpoint and every error envelope carries
    /// `"mode":"analyze"`, as OpenAlgo's analyzer mode answers.
    Analyze,
    /// Live: no `mode` field, as a live OpenAlgo server answers.
    Live,
}

/// Limits checked on a request body before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// The largest body accepted, in bytes (default 64 KiB); larger is 413.
    pub max_bytes: usize,
    /// The deepest nesting of objects and arrays accepted (default 8; a
    /// basket order needs 3: object > array > object); deeper is 400.
    pub max_depth: usize,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_depth: 8,
        }
    }
}

/// The text OpenAlgo (Flask) answers to a body that is not JSON.
pub const MALFORMED_BODY: &str =
    "The browser (or proxy) sent a request that this server could not understand.";

/// How a refusal's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `{"status":"error","message":...}` (+ `mode` in analyze mode).
    Envelope,
    /// `{"message":...}` only: 429 and unparsable bodies, as OpenAlgo.
    Bare,
    /// `{"message":"Not found","path":...,"status":"error"}`.
    NotFound,
}

/// A request refused before it reached a broker, with OpenAlgo's status code
/// and a message safe to show (it never contains a request value that could
/// be a secret: values are not echoed, field names only when short and plain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRefusal {
    /// The HTTP status: 400, 403, 404, 413, 429 or 500.
    pub status: u16,
    /// The message for the client.
    pub message: String,
    /// The request path, for an unknown endpoint (404).
    pub path: Option<String>,
    shape: Shape,
}

impl ApiRefusal {
    /// A refusal with `status` and `message` in OpenAlgo's error envelope.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            path: None,
            shape: Shape::Envelope,
        }
    }

    /// 400: the request is invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 400 with OpenAlgo's text for a body that is not JSON, in its bare
    /// `{"message":...}` shape.
    pub fn malformed() -> Self {
        Self {
            shape: Shape::Bare,
            ..Self::new(400, MALFORMED_BODY)
        }
    }

    /// 403: the key is invalid or the operation is not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }

    /// 404 for an unknown endpoint: `path` is the full request path
    /// (`/api/v1/nosuchendpoint`), bounded to 200 characters.
    pub fn not_found(path: &str) -> Self {
        Self {
            path: Some(crate::error::sanitize_text(path, 200)),
            shape: Shape::NotFound,
            ..Self::new(404, "Not found")
        }
    }

    /// 413: the body is larger than `max_bytes`.
    pub fn too_large(max_bytes: usize) -> Self {
        Self::new(
            413,
            format!("The request body is larger than {max_bytes} bytes."),
        )
    }

    /// 429 in OpenAlgo's bare shape (`{"message":"10 per 1 second"}`).
    pub fn too_many(message: impl Into<String>) -> Self {
        Self {
            shape: Shape::Bare,
            ..Self::new(429, message)
        }
    }

    /// 500: something failed inside; `message` should be a public message
    /// with a reference, never the detail.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }

    /// The JSON body to send: `{"status":"error","message":...}` with
    /// `"mode":"analyze"` in analyze mode; `{"message":...}` for 429 and
    /// unparsable bodies; `{"message":"Not found","path":...,"status":"error"}`
    /// for an unknown endpoint.
    pub fn error_body(&self, mode: ApiMode) -> Value {
        match self.shape {
            Shape::Bare => json!({ "message": self.message }),
            Shape::NotFound => json!({
                "message": self.message,
                "path": self.path.clone().unwrap_or_default(),
                "status": "error",
            }),
            Shape::Envelope => {
                let mut body = Map::new();
                body.insert(f::MESSAGE.into(), self.message.clone().into());
                if mode == ApiMode::Analyze {
                    body.insert(f::MODE.into(), "analyze".into());
                }
                body.insert(f::STATUS.into(), "error".into());
                Value::Object(body)
            }
        }
    }
}

impl fmt::Display for ApiRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiRefusal {}

/// The most significant digits a decimal JSON number may have: `f64` keeps
/// every decimal of up to 15 significant digits exactly.
const MAX_DECIMAL_DIGITS: usize = 15;

/// Parses a request body: at most `limits.max_bytes` (else 413), nesting at
/// most `limits.max_depth` (else 400; checked on the bytes before any parser
/// runs, without recursion), numbers that JSON parsing keeps exactly (else
/// 400, see the module docs), valid UTF-8 JSON (else 400 with OpenAlgo's
/// text), and an object (else 400).
pub fn parse_body(bytes: &[u8], limits: &BodyLimits) -> Result<Map<String, Value>, ApiRefusal> {
    if bytes.len() > limits.max_bytes {
        return Err(ApiRefusal::too_large(limits.max_bytes));
    }
    prescan(bytes, limits.max_depth)?;
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiRefusal::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(_) => Err(ApiRefusal::malformed()),
    }
}

/// One pass over the bytes, outside strings: bracket depth and number tokens.
fn prescan(bytes: &[u8], max_depth: usize) -> Result<(), ApiRefusal> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(ApiRefusal::bad_request(format!(
                        "The request body is nested deeper than {max_depth} levels."
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while let Some(c) = bytes.get(i) {
                    if matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                check_number(bytes.get(start..i).unwrap_or_default())?;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Refuses a number token that serde_json would not keep exactly.
fn check_number(token: &[u8]) -> Result<(), ApiRefusal> {
    let refuse = || {
        ApiRefusal::bad_request(format!(
            "A number in the request cannot be read exactly: send integers within 64 bits and decimals with at most {MAX_DECIMAL_DIGITS} significant digits and no exponent, or send the value as a string."
        ))
    };
    // Not ASCII digits is impossible here; a bad token is left to the parser.
    let Ok(text) = std::str::from_utf8(token) else {
        return Ok(());
    };
    if text.contains(['e', 'E']) {
        return Err(refuse());
    }
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    match unsigned.split_once('.') {
        None => {
            if text.parse::<i64>().is_err() && text.parse::<u64>().is_err() {
                return Err(refuse());
            }
        }
        Some((int, frac)) => {
            let frac = frac.trim_end_matches('0');
            let digits = format!("{int}{frac}");
            if digits.trim_start_matches('0').len() > MAX_DECIMAL_DIGITS {
                return Err(refuse());
            }
        }
    }
    Ok(())
}

/// Removes `apikey` from `body` and returns it as a secret; `None` when it
/// is absent or not a string.
pub fn take_apikey(body: &mut Map<String, Value>) -> Option<SecretString> {
    match body.remove(f::APIKEY) {
        Some(Value::String(key)) => Some(SecretString::from(key)),
        _ => None,
    }
}
