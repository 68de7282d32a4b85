//! How the guard writes to the audit trail: records, risk events, refusals,
//! broker errors and alerts; a failed trail halts trading.

use super::*;

impl<B: Broker> Guard<B> {
    /// Appends `event` without waiting for it to be durable (it becomes
    /// durable with the next group commit: the next order's intent, a
    /// [`sync`](AuditLog::sync), or the trail's background flush within
    /// milliseconds). On failure halts trading (once per failure episode)
    /// and returns `false`.
    pub(crate) async fn record(&self, event: AuditEvent) -> bool {
        match self.audit.append_deferred_async(event).await {
            Ok(_) => true,
            Err(error) => {
                self.on_audit_failure(&error).await;
                false
            }
        }
    }

    /// Waits until everything appended so far is durable (one group
    /// commit), unless the trail was configured to buffer ORDER records.
    pub(crate) async fn make_durable(&self) -> Result<(), AuditError> {
        if self.audit.config().durability(Category::Order) == Durability::Buffered {
            return Ok(());
        }
        self.audit.sync_async().await.map(drop)
    }

    /// Waits until the record `seq` (and so every record before it) is
    /// durable, unless the trail buffers ORDER records; without a seq,
    /// like [`make_durable`](Self::make_durable). Records other tasks
    /// appended after `seq` are not waited for: under concurrency the
    /// order does not miss a commit that already covers its intent.
    pub(crate) async fn make_durable_through(&self, seq: Option<u64>) -> Result<(), AuditError> {
        let Some(seq) = seq else {
            return self.make_durable().await;
        };
        if self.audit.config().durability(Category::Order) == Durability::Buffered {
            return Ok(());
        }
        self.audit.sync_through_async(seq).await.map(drop)
    }

    /// The audit trail failed: halt (latched, persisted by the risk engine)
    /// and alert. The events of the halt cannot be audited; they are logged.
    pub(crate) async fn on_audit_failure(&self, error: &AuditError) {
        let detail = format!("audit append failed: {error}");
        tracing::error!(target: "asta_broker::guard", %detail, "audit trail failed; trading halted");
        if self.audit_failed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (_, events) = self.risk_call(|risk| risk.report_audit_failure(&detail));
        log_unaudited(events);
        self.alert(
            Alert::new(
                Severity::Critical,
                "audit_failure",
                "the audit trail cannot be written; trading is halted",
                self.clock.now(),
            )
            .field("detail", &detail),
        )
        .await;
    }

    /// After a [`risk_call`](Self::risk_call): halts if staging its
    /// records failed, then alerts on breaker trips, unusual orders and
    /// blocked login sources. (The events themselves were appended by
    /// `risk_call`, in order, under the engine's lock.)
    pub(crate) async fn audit_events(&self, events: Vec<RiskEvent>) {
        if let Some(error) = self.take_staging_failure() {
            self.on_audit_failure(&error).await;
        }
        self.flush_snapshot().await;
        for event in events {
            if let Some(alert) = self.alert_for(&event) {
                self.alert(alert).await;
            }
        }
    }

    /// The error of the last failed staging in [`risk_call`](Self::risk_call), once.
    pub(crate) fn take_staging_failure(&self) -> Option<AuditError> {
        self.staging_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn alert_for(&self, event: &RiskEvent) -> Option<Alert> {
        let now = self.clock.now();
        match &event.kind {
            RiskEventKind::BreakerTripped {
                breaker, detail, ..
            } => Some(
                Alert::new(
                    Severity::Critical,
                    "breaker_tripped",
                    "a risk breaker tripped; trading is halted",
                    now,
                )
                .field("breaker", &breaker.to_string())
                .field("detail", detail),
            ),
            RiskEventKind::UnusualOrder { alert, detail, .. } => Some(
                Alert::new(
                    Severity::Warning,
                    "unusual_order",
                    "the security monitor flagged an order",
                    now,
                )
                .field("alert", &format!("{alert:?}"))
                .field("detail", detail),
            ),
            RiskEventKind::LoginSourceBlocked { source, .. } => Some(
                Alert::new(
                    Severity::Warning,
                    "login_source_blocked",
                    "a login source was blocked",
                    now,
                )
                .field("source", source),
            ),
            _ => None,
        }
    }

    pub(crate) async fn alert(&self, alert: Alert) {
        if let Err(error) = self.alerts.send(&alert).await {
            tracing::warn!(target: "asta_broker::guard", kind = alert.kind(), %error, "alert not delivered");
        }
    }

    pub(crate) async fn send_alert(&self, alert: Alert) -> bool {
        match self.alerts.send(&alert).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(target: "asta_broker::guard", kind = alert.kind(), %error, "alert not delivered");
                false
            }
        }
    }

    /// Records a refusal under a fresh reference and returns the error.
    pub(super) async fn refuse_event(
        &self,
        event: AuditEvent,
        code: ErrorCode,
        reason: String,
    ) -> BrokerError {
        let reference = ErrorReference::generate();
        let event = event
            .with_reference(reference.clone())
            .with_detail("code", code.as_str());
        if !self.record(event).await {
            tracing::error!(target: "asta_broker::guard", %reference, %reason, "refusal could not be audited");
        }
        BrokerError::Refused {
            code,
            reason: sanitize_text(&reason, crate::MAX_REASON_CHARS * 2),
            reference,
        }
    }

    /// Records a refused order request (`{action}_refused`).
    pub(super) async fn refuse(
        &self,
        action: &str,
        stage: Stage,
        code: ErrorCode,
        reason: String,
        strategy: &StrategyTag,
        subject: Value,
    ) -> BrokerError {
        let event = AuditEvent::order(
            format!("{action}_refused"),
            strategy.as_str(),
            json!({"stage": stage.as_str(), "reason": reason, "request": subject}),
        );
        self.refuse_event(event, code, reason).await
    }

    /// Records an inner-broker error under a fresh reference (an `ERROR`
    /// record with the detail) and wraps it.
    pub(crate) async fn broker_error(
        &self,
        op: &str,
        error: BrokerError,
        subject: Value,
        strategy: Option<&StrategyTag>,
    ) -> BrokerError {
        let reference = ErrorReference::generate();
        let mut event = AuditEvent::error(
            reference.clone(),
            format!("{op}_failed"),
            json!({
                "detail": error.to_string(),
                "code": error.public_code().as_str(),
                "definitely_not_placed": error.definitely_not_placed(),
                "request": subject,
            }),
        );
        if let Some(strategy) = strategy {
            event = event.with_strategy(strategy.as_str());
        }
        if !self.record(event).await {
            tracing::error!(target: "asta_broker::guard", %reference, %error, "broker error could not be audited");
        }
        if error.is_mode_mismatch() {
            self.on_mode_mismatch(op, &error, &reference).await;
        }
        BrokerError::Referenced {
            reference,
            error: Box::new(error),
        }
    }
}

/// The `ORDER place_intent` record of an approved order (`basket`: the
/// basket's size). Built from typed values only, encoded straight to the
/// trail's bytes (no pattern scan of them). The record itself is not
/// marked `typed_unchecked`: what [`risk_step`](Guard::risk_step) adds to
/// it as ordinary details (journal entries with free text, such as a halt's
/// reason) is still scanned.
///
/// `with_summary: false` leaves out the order's summary: for a single
/// order of a journaled guard, whose intent carries the approval's
/// CHECK_ORDER journal entry with the whole order (the trail scan reads it
/// from there).
pub(super) fn intent_record(
    order: &OrderRequest,
    ticket: u64,
    notional: Money,
    mode: TradingMode,
    basket: Option<usize>,
    with_summary: bool,
) -> AuditEvent {
    let mut event = AuditEvent::order("place_intent", order.strategy().as_str(), Value::Null);
    if with_summary {
        event = event.with_typed_detail_unchecked("order", &OrderSummary::from(order));
    }
    event = event
        .with_typed_detail_unchecked("ticket", &ticket)
        .with_typed_detail_unchecked("notional", &notional)
        .with_typed_detail_unchecked("mode", &mode.to_string());
    if let Some(size) = basket {
        event = event.with_typed_detail_unchecked("basket", &size);
    }
    event
}

/// The `ORDER place_accepted` record: the broker's id for the intent's
/// ticket (typed, like [`intent_record`]).
///
/// `with_summary: false` leaves out the order's summary: for a journaled
/// guard, whose accepted record carries the ORDER_OPENED journal entry
/// with the approval's ticket (the intent's CHECK_ORDER entry holds the
/// whole order; the trail scan needs only the ticket).
pub(super) fn accepted_record(
    order: &OrderRequest,
    id: &OrderId,
    ticket: u64,
    with_summary: bool,
) -> AuditEvent {
    let event = AuditEvent::order("place_accepted", order.strategy().as_str(), Value::Null)
        .with_typed_detail_unchecked("order_id", id.as_str())
        .with_typed_detail_unchecked("ticket", &ticket);
    if with_summary {
        event.with_typed_detail_unchecked("order", &OrderSummary::from(order))
    } else {
        event
    }
}

/// The `TRADE fill` record of a fill of order `id` (typed, like
/// [`intent_record`]).
pub(super) fn fill_record(strategy: &StrategyTag, id: &OrderId, fill: &FillReport) -> AuditEvent {
    AuditEvent::trade("fill", strategy.as_str(), Value::Null)
        .with_typed_detail_unchecked("order_id", id.as_str())
        .with_typed_detail_unchecked("exchange", &fill.exchange)
        .with_typed_detail_unchecked("symbol", fill.symbol.as_str())
        .with_typed_detail_unchecked("product", &fill.product)
        .with_typed_detail_unchecked("side", &fill.side)
        .with_typed_detail_unchecked("quantity", &fill.quantity.get())
        .with_typed_detail_unchecked("price", &fill.price)
}

/// Risk events that cannot go to the failed audit trail go to the log.
pub(super) fn log_unaudited(events: Vec<RiskEvent>) {
    for event in events {
        let text = serde_json::to_string(&event).unwrap_or_default();
        tracing::error!(target: "asta_broker::guard", event = %text, "risk event not audited (audit trail failed)");
    }
}

pub(crate) fn cancel_report_json(report: &CancelAllReport) -> Value {
    json!({
        "cancelled": report.cancelled.iter().map(OrderId::as_str).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|f| json!({"order_id": f.order_id.as_str(), "reason": f.reason})).collect::<Vec<_>>(),
    })
}

pub(crate) fn close_report_json(report: &CloseAllReport) -> Value {
    json!({
        "closed_count": report.closed_count,
        "failed_count": report.failed_count,
        "closed": report.closed.iter().map(|c| json!({
            "exchange": c.key.exchange.to_string(),
            "symbol": c.key.symbol.as_str(),
            "product": c.key.product.to_string(),
            "exit_order": c.exit_order.as_ref().map(OrderId::as_str),
        })).collect::<Vec<_>>(),
        "failed": report.failed.iter().map(|f| json!({
            "exchange": f.key.exchange.to_string(),
            "symbol": f.key.symbol.as_str(),
            "reason": f.reason,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    //! The typed records are byte for byte the records the guard built
    //! through `serde_json::Value` before (kept here as the reference).

    use asta_core::{PriceType, Product, Side};
    use asta_risk::{EventCategory, JournalEntry};
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::risk_log::JOURNAL_FIELD;

    fn legacy_intent(
        order: &OrderRequest,
        ticket: u64,
        notional: Money,
        mode: TradingMode,
        basket: Option<usize>,
        with_summary: bool,
    ) -> AuditEvent {
        let mut details = json!({
            "order": summary(order),
            "ticket": ticket,
            "notional": notional.to_string(),
            "mode": mode.to_string(),
        });
        if !with_summary && let Some(map) = details.as_object_mut() {
            map.remove("order");
        }
        if let Some(size) = basket {
            details["basket"] = json!(size);
        }
        AuditEvent::order("place_intent", order.strategy().as_str(), details).typed_unchecked()
    }

    fn legacy_accepted(order: &OrderRequest, id: &OrderId, ticket: u64) -> AuditEvent {
        AuditEvent::order(
            "place_accepted",
            order.strategy().as_str(),
            json!({"order_id": id.as_str(), "ticket": ticket, "order": summary(order)}),
        )
        .typed_unchecked()
    }

    fn legacy_fill(strategy: &StrategyTag, id: &OrderId, fill: &FillReport) -> AuditEvent {
        AuditEvent::trade(
            "fill",
            strategy.as_str(),
            json!({
                "order_id": id.as_str(),
                "exchange": fill.exchange.to_string(),
                "symbol": fill.symbol.as_str(),
                "product": fill.product.to_string(),
                "side": fill.side.to_string(),
                "quantity": fill.quantity.get(),
                "price": fill.price.to_string(),
            }),
        )
        .typed_unchecked()
    }

    /// How `risk_step` carried events and journal entries before.
    fn legacy_carry(
        record: AuditEvent,
        events: &[RiskEvent],
        entries: &[JournalEntry],
    ) -> AuditEvent {
        let folded: Vec<Value> = events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect();
        let list = serde_json::to_value(entries).unwrap_or(Value::Null);
        record
            .with_detail("risk_events", Value::Array(folded))
            .with_detail(JOURNAL_FIELD, list)
    }

    fn typed_carry(
        record: AuditEvent,
        events: &[RiskEvent],
        entries: &[JournalEntry],
    ) -> AuditEvent {
        let folded: Vec<&RiskEvent> = events.iter().collect();
        record
            .with_typed_detail_unchecked("risk_events", &folded)
            .with_typed_detail_unchecked(JOURNAL_FIELD, &entries)
    }

    fn price(units: i64) -> Price {
        Price::from_units(units).unwrap_or(Price::ZERO)
    }

    prop_compose! {
        fn any_order()(
            symbol in prop::sample::select(&["SBIN", "M&M", "NIFTY28NOV2424000CE", "BAJAJ-AUTO", "L&TFH"][..]),
            exchange in prop::sample::select(&[Exchange::Nse, Exchange::Bse, Exchange::Nfo, Exchange::Mcx][..]),
            buy in any::<bool>(),
            kind in 0..4u8,
            limit in 1..10_000_000i64,
            trigger in 1..10_000_000i64,
            product in prop::sample::select(&[Product::Mis, Product::Cnc, Product::Nrml][..]),
            quantity in 1..1_000_000u64,
            strategy in prop::sample::select(&["bench", "s_1", "momentum-2", "pass", "token"][..]),
        ) -> Option<OrderRequest> {
            let mut builder = OrderRequest::builder()
                .symbol(Symbol::new(symbol).ok()?)
                .exchange(exchange)
                .side(if buy { Side::Buy } else { Side::Sell })
                .product(product)
                .quantity(Quantity::new(quantity).ok()?)
                .strategy(StrategyTag::new(strategy).ok()?);
            builder = match kind {
                0 => builder.price_type(PriceType::Market),
                1 => builder.price_type(PriceType::Limit).price(price(limit)),
                2 => builder.price_type(PriceType::StopLoss).price(price(limit)).trigger_price(price(trigger)),
                _ => builder.price_type(PriceType::StopLossMarket).trigger_price(price(trigger)),
            };
            builder.build().ok()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn typed_records_are_the_value_records_byte_for_byte(
            order in any_order(),
            ticket in any::<u64>(),
            notional in any::<i64>(),
            live in any::<bool>(),
            basket in prop::option::of(1..50usize),
            id in "[A-Z0-9-]{1,20}",
            fill_quantity in 1..1_000_000u64,
            fill_price in 1..10_000_000i64,
            realized in any::<i64>(),
            seq in any::<u64>(),
            millis in 0..4_000_000_000_000i64,
        ) {
            let Some(order) = order else { return Ok(()) };
            let Ok(id) = OrderId::new(&id) else { return Ok(()) };
            let notional = Money::from_units(i128::from(notional));
            let mode = if live { TradingMode::Live } else { TradingMode::Sandbox };
            for with_summary in [true, false] {
                prop_assert_eq!(
                    intent_record(&order, ticket, notional, mode, basket, with_summary)
                        .canonical_preview(),
                    legacy_intent(&order, ticket, notional, mode, basket, with_summary)
                        .canonical_preview()
                );
            }
            prop_assert_eq!(
                accepted_record(&order, &id, ticket, true).canonical_preview(),
                legacy_accepted(&order, &id, ticket).canonical_preview()
            );
            let fill = FillReport {
                exchange: order.exchange(),
                symbol: order.symbol().clone(),
                product: order.product(),
                side: order.side(),
                quantity: Quantity::new(fill_quantity).unwrap_or(order.quantity()),
                price: price(fill_price),
                strategy: order.strategy().clone(),
                order_id: Some(id.clone()),
            };
            prop_assert_eq!(
                fill_record(order.strategy(), &id, &fill).canonical_preview(),
                legacy_fill(order.strategy(), &id, &fill).canonical_preview()
            );
            // The risk events and journal entries an order's records carry.
            let at = Utc.timestamp_millis_opt(millis).single().unwrap_or_default();
            let events = vec![
                RiskEvent {
                    seq,
                    at,
                    category: EventCategory::Risk,
                    kind: RiskEventKind::FillRecorded {
                        strategy: fill.strategy.clone(),
                        exchange: fill.exchange,
                        symbol: fill.symbol.clone(),
                        product: fill.product,
                        side: fill.side,
                        quantity: fill.quantity,
                        price: fill.price,
                        realized: Money::from_units(i128::from(realized)),
                    },
                },
                RiskEvent {
                    seq: seq.wrapping_add(1),
                    at,
                    category: EventCategory::Risk,
                    kind: RiskEventKind::OrderApproved {
                        order: OrderSummary::from(&order),
                        ticket,
                        notional,
                    },
                },
            ];
            let order_json = serde_json::to_value(&order).unwrap_or_default();
            let at_text = serde_json::to_value(at).unwrap_or_default();
            let entries: Vec<JournalEntry> = [
                json!({"v": 1, "seq": seq, "at": at_text, "input": {"input": "CHECK_ORDER",
                    "order": order_json, "context": {"intentional_duplicate": live, "reference_price": null},
                    "outcome": {"result": "APPROVED", "ticket": ticket, "notional": notional.to_string()}}}),
                json!({"v": 1, "seq": seq, "at": at_text, "input": {"input": "ORDER_OPENED",
                    "order_id": id.as_str(), "order": order_json, "ticket": ticket}}),
                json!({"v": 1, "seq": seq, "at": at_text, "input": {"input": "RECORD_FILL",
                    "fill": serde_json::to_value(&fill).unwrap_or_default()}}),
                json!({"v": 1, "seq": seq, "at": at_text, "input": {"input": "ORDER_CLOSED",
                    "order_id": id.as_str()}}),
            ]
            .into_iter()
            .map(|value| JournalEntry::from_json_value(value).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()
            .map_err(TestCaseError::fail)?;
            let carrier = intent_record(&order, ticket, notional, mode, basket, live);
            prop_assert_eq!(
                typed_carry(carrier.clone(), &events, &entries).canonical_preview(),
                legacy_carry(carrier, &events, &entries).canonical_preview()
            );
            // The whole step as `risk_step` assembles it: the approval
            // and fill events are left out (the CHECK_ORDER and RECORD_FILL
            // entries hold them), everything in one record.
            let step = super::super::journal::step_records(
                Some(intent_record(&order, ticket, notional, mode, basket, live)),
                &events,
                &entries,
            );
            prop_assert_eq!(step.len(), 1);
            let legacy = legacy_intent(&order, ticket, notional, mode, basket, live)
                .with_detail(JOURNAL_FIELD, serde_json::to_value(&entries).unwrap_or(Value::Null));
            prop_assert_eq!(
                step.first().map(AuditEvent::canonical_preview),
                Some(legacy.canonical_preview())
            );
            // Without a RECORD_FILL entry in the step the fill event still
            // rides along: nothing else would hold it.
            let without_fill = entries.get(..2).unwrap_or_default();
            let step = super::super::journal::step_records(
                Some(intent_record(&order, ticket, notional, mode, basket, live)),
                &events,
                without_fill,
            );
            let legacy = legacy_carry(
                legacy_intent(&order, ticket, notional, mode, basket, live),
                events.get(..1).unwrap_or_default(),
                without_fill,
            );
            prop_assert_eq!(
                step.first().map(AuditEvent::canonical_preview),
                Some(legacy.canonical_preview())
            );
        }
    }

    /// A journal entry that may hold free text (a halt's reason) riding in
    /// an order's typed record is still pattern-scanned (before the typed
    /// records, a typed carrier let it through unscanned).
    #[test]
    fn free_text_entries_in_a_typed_carrier_are_scanned() {
        let order = OrderRequest::builder()
            .symbol(Symbol::new("SBIN").unwrap_or_else(|e| panic!("{e}")))
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .price_type(PriceType::Market)
            .product(Product::Mis)
            .quantity(Quantity::new(10).unwrap_or_else(|e| panic!("{e}")))
            .strategy(StrategyTag::new("s").unwrap_or_else(|e| panic!("{e}")))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let halt = JournalEntry::from_json_value(json!({"v": 1, "seq": 9,
            "at": "2026-11-27T04:00:00Z", "input": {"input": "HALT",
            "scope": {"kind": "ACCOUNT"}, "reason": "broker said password=CANARY1"}}))
        .unwrap_or_else(|e| panic!("{e}"));
        let carrier = intent_record(
            &order,
            3,
            Money::from_rupees(8000),
            TradingMode::Sandbox,
            None,
            false,
        );
        let step = super::super::journal::step_records(Some(carrier), &[], &[halt]);
        let text: String = step.iter().map(AuditEvent::canonical_preview).collect();
        assert!(
            text.contains("place_intent") && text.contains("HALT"),
            "{text}"
        );
        assert!(!text.contains("CANARY1"), "{text}");
    }
}
