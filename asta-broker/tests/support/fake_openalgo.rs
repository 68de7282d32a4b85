//! A stateful fake OpenAlgo server on 127.0.0.1 for guard tests, shaped
//! like the contract data: analyzer answers carry `"mode":"analyze"`, live
//! answers carry no `mode` (semi-auto: `"semi_auto"`), the live order book
//! has no `strategy` and the documented `28-Nov-2026 02:51:50` timestamps.

#![allow(dead_code, reason = "each test binary uses part of the support code")]
#![allow(
    clippy::unwrap_used,
    reason = "test support: a failed unwrap is a failed test"
)]
#![allow(unreachable_pub, reason = "test support module")]
#![allow(missing_docs, reason = "test support module")]

use std::sync::{Arc, Mutex};

use asta_core::{Clock, ManualClock};
use chrono::FixedOffset;
use serde_json::{Value, json};

use crate::support::{Recorded, Reply, TestServer};

/// How `placeorder` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Books the order and answers its id.
    Normal,
    /// Books the order but hides it until `reveal`, and answers 500.
    LostAnswer,
    /// Queues it for approval (semi-auto): `pending_order_id`, nothing booked.
    SemiAuto,
}

#[derive(Debug)]
pub struct State {
    /// `analyze` or `live`.
    pub mode: &'static str,
    /// What the analyzer status says (normally `mode`).
    pub analyzer_says: Option<&'static str>,
    pub place: Place,
    /// A cancel answers success but leaves the order open (live quirk).
    pub cancel_lies: bool,
    pub orders: Vec<Value>,
    pub hidden: Vec<Value>,
    pub pending: Vec<Value>,
    next: u64,
}

#[derive(Clone)]
pub struct Fake {
    pub state: Arc<Mutex<State>>,
    clock: ManualClock,
}

impl Fake {
    pub async fn start(mode: &'static str, clock: ManualClock) -> (TestServer, Fake) {
        let fake = Fake {
            state: Arc::new(Mutex::new(State {
                mode,
                analyzer_says: None,
                place: Place::Normal,
                cancel_lies: false,
                orders: Vec::new(),
                hidden: Vec::new(),
                pending: Vec::new(),
                next: 26112800000001,
            })),
            clock,
        };
        let handler = fake.clone();
        let server = TestServer::start(move |req| handler.answer(req)).await;
        (server, fake)
    }

    pub fn set(&self, f: impl FnOnce(&mut State)) {
        f(&mut self.state.lock().unwrap());
    }

    /// Makes hidden (lost-answer) orders visible in the book.
    pub fn reveal(&self) {
        let mut s = self.state.lock().unwrap();
        let hidden = std::mem::take(&mut s.hidden);
        s.orders.extend(hidden);
    }

    /// An operator approves every queued semi-auto order in OpenAlgo.
    pub fn approve_pending(&self) {
        let mut s = self.state.lock().unwrap();
        let pending = std::mem::take(&mut s.pending);
        s.orders.extend(pending);
    }

    /// An operator rejects every queued semi-auto order.
    pub fn reject_pending(&self) {
        self.state.lock().unwrap().pending.clear();
    }

    /// Sets an order's `order_status`.
    pub fn set_status(&self, id: &str, status: &str) {
        let mut s = self.state.lock().unwrap();
        for o in s.orders.iter_mut() {
            if o["orderid"] == id {
                o["order_status"] = json!(status);
            }
        }
    }

    fn timestamp(&self, live: bool) -> String {
        let ist = FixedOffset::east_opt(5 * 3600 + 30 * 60).unwrap();
        let now = self.clock.now().with_timezone(&ist);
        if live {
            now.format("%d-%b-%Y %H:%M:%S").to_string()
        } else {
            now.format("%Y-%m-%d %H:%M:%S").to_string()
        }
    }

    fn reply(&self, mode: &str, mut body: Value) -> Reply {
        if mode == "analyze" {
            body["mode"] = json!("analyze");
        }
        Reply::json(200, &body)
    }

    fn answer(&self, req: &Recorded) -> Reply {
        let body = req.json();
        let mode = self.state.lock().unwrap().mode;
        let live = mode == "live";
        match req.path.as_str() {
            "/api/v1/analyzer" => {
                let says = self.state.lock().unwrap().analyzer_says.unwrap_or(mode);
                Reply::json(
                    200,
                    &json!({"status": "success", "data": {"analyze_mode": says == "analyze", "mode": says}}),
                )
            }
            "/api/v1/placeorder" => {
                let mut s = self.state.lock().unwrap();
                let id = s.next.to_string();
                s.next += 1;
                // A MARKET order is booked at the last traded price.
                let price = match body["pricetype"].as_str() {
                    Some("MARKET") => json!(800.0),
                    _ => json!(
                        body["price"]
                            .as_str()
                            .unwrap_or("0")
                            .parse::<f64>()
                            .unwrap()
                    ),
                };
                let mut order = json!({
                    "action": body["action"], "exchange": body["exchange"], "symbol": body["symbol"],
                    "order_status": "open", "orderid": id, "price": price,
                    "pricetype": body["pricetype"], "product": body["product"],
                    "quantity": body["quantity"].as_str().unwrap().parse::<u64>().unwrap(),
                    "trigger_price": 0.0, "timestamp": self.timestamp(live),
                });
                if !live {
                    order["strategy"] = body["strategy"].clone();
                    order["average_price"] = json!(0.0);
                    order["filled_quantity"] = json!(0);
                }
                match s.place {
                    Place::Normal => {
                        s.orders.push(order);
                        drop(s);
                        self.reply(mode, json!({"status": "success", "orderid": id}))
                    }
                    Place::LostAnswer => {
                        s.hidden.push(order);
                        Reply::json(
                            500,
                            &json!({"status": "error", "message": "Failed to place order due to internal error"}),
                        )
                    }
                    Place::SemiAuto => {
                        s.pending.push(order);
                        let n = s.pending.len();
                        Reply::json(
                            200,
                            &json!({"message": "Order queued for approval in Action Center", "mode": "semi_auto", "pending_order_id": n, "status": "success"}),
                        )
                    }
                }
            }
            "/api/v1/orderbook" => {
                let orders = self.state.lock().unwrap().orders.clone();
                self.reply(
                    mode,
                    json!({"status": "success", "data": {"orders": orders, "statistics": {}}}),
                )
            }
            "/api/v1/orderstatus" | "/api/v1/cancelorder" => {
                let id = body["orderid"].as_str().unwrap_or_default().to_owned();
                let mut s = self.state.lock().unwrap();
                let lies = s.cancel_lies;
                let Some(order) = s.orders.iter_mut().find(|o| o["orderid"] == id.as_str()) else {
                    drop(s);
                    let mut reply =
                        json!({"status": "error", "message": format!("Order {id} not found")});
                    if mode == "analyze" {
                        reply["mode"] = json!("analyze");
                    }
                    return Reply::json(404, &reply);
                };
                if req.path == "/api/v1/cancelorder" {
                    if !lies {
                        order["order_status"] = json!("cancelled");
                    }
                    drop(s);
                    return self.reply(
                        mode,
                        json!({"status": "success", "orderid": id, "message": "Order cancelled successfully"}),
                    );
                }
                let mut data = order.clone();
                if let Some(pt) = data.as_object_mut().unwrap().remove("pricetype") {
                    data["price_type"] = pt;
                }
                drop(s);
                self.reply(mode, json!({"status": "success", "data": data}))
            }
            "/api/v1/positionbook" => self.reply(mode, json!({"status": "success", "data": []})),
            "/api/v1/openposition" => self.reply(mode, json!({"status": "success", "quantity": 0})),
            _ => Reply::json(404, &json!({"status": "error", "message": "Not found"})),
        }
    }
}
