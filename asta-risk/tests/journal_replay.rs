//! The journal, snapshots and restore by replay: every input kind is
//! journaled and round-trips through JSON; gaps, damage and divergence fail
//! closed; losing the snapshot cannot reset a loss or lift a halt.
#![allow(missing_docs, reason = "integration tests")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::sync::Arc;

use asta_core::{
    Clock, Exchange, ManualClock, Money, OrderId, OrderRequest, Product, Quantity, Side,
};
use asta_risk::{
    ApplyOutcome, BreakerKind, FillReport, JOURNAL_VERSION, JournalEntry, JournalError,
    OrderContext, OrderOutcome, Rejection, RestoreError, RiskConfig, RiskEngine, RiskInput,
    RiskSnapshot, SNAPSHOT_FORMAT, SnapshotError, StateScope, StateStore, TradingState,
};
use chrono::{TimeDelta, TimeZone, Utc};
use common::*;

fn restore(
    config: RiskConfig,
    clock: &ManualClock,
    snapshot: Option<RiskSnapshot>,
    entries: Vec<JournalEntry>,
) -> Result<(RiskEngine, asta_risk::ReplayReport), RestoreError> {
    RiskEngine::restore(
        config,
        catalog(),
        calendar(),
        Arc::new(clock.clone()),
        snapshot,
        entries,
    )
}

fn config() -> RiskConfig {
    builder().build().unwrap()
}

fn fill(side: Side, quantity: u64, price: &str, order_id: Option<&str>) -> FillReport {
    FillReport {
        exchange: Exchange::Nse,
        symbol: sym("SBIN"),
        product: Product::Cnc,
        side,
        quantity: Quantity::new(quantity).unwrap(),
        price: p(price),
        strategy: tag("s1"),
        order_id: order_id.map(|id| OrderId::new(id).unwrap()),
    }
}

/// A short live session on a journaled engine: quote, approve, open, fill
/// at a loss that trips the daily-loss breaker. Returns the engine and every
/// entry it journaled (drained).
fn losing_session(clock: &ManualClock) -> (RiskEngine, Vec<JournalEntry>) {
    let mut engine = journaled(config(), clock);
    let mut entries = engine.drain_journal();
    engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    let order = limit("SBIN", Side::Buy, 200, "800");
    let approval = engine.check_order(&order, &OrderContext::new()).unwrap();
    engine.order_opened(OrderId::new("A1").unwrap(), &order, Some(approval.ticket));
    engine.record_fill(&fill(Side::Buy, 200, "800", Some("A1")));
    engine.order_closed(&OrderId::new("A1").unwrap());
    clock.advance(TimeDelta::seconds(1));
    // 200 x 155 = 31,000 of loss, above the 30,000 cap.
    engine.update_quote(Exchange::Nse, &sym("SBIN"), p("645"));
    assert_eq!(engine.trading_state(), TradingState::Halted);
    entries.extend(engine.drain_journal());
    (engine, entries)
}

#[test]
fn every_state_changing_call_is_journaled_once_and_round_trips_through_json() {
    let clock = ManualClock::new(t0());
    let mut e = journaled(config(), &clock);
    let ticket = std::cell::Cell::new(None);
    type Call<'a> = Box<dyn Fn(&mut RiskEngine) + 'a>;
    let calls: Vec<(&str, Call)> = vec![
        (
            "UPDATE_QUOTE",
            Box::new(|e| e.update_quote(Exchange::Nse, &sym("SBIN"), p("800"))),
        ),
        (
            "CHECK_ORDER",
            Box::new(|e| {
                e.check_order(&limit("SBIN", Side::Buy, 10, "800"), &OrderContext::new())
                    .unwrap();
            }),
        ),
        (
            "CHECK_ORDER",
            Box::new(|e| {
                // Fat finger: a rejection is journaled too.
                e.check_order(&limit("SBIN", Side::Buy, 10, "880"), &OrderContext::new())
                    .unwrap_err();
            }),
        ),
        (
            "CHECK_BATCH",
            Box::new(|e| {
                e.check_batch(
                    &[
                        limit("SBIN", Side::Buy, 1, "800"),
                        limit("SBIN", Side::Buy, 2, "800"),
                    ],
                    &OrderContext::new().intentional_duplicate(true),
                )
                .unwrap();
            }),
        ),
        (
            "ORDER_OPENED",
            Box::new(|e| {
                e.order_opened(
                    OrderId::new("B1").unwrap(),
                    &limit("SBIN", Side::Buy, 10, "800"),
                    None,
                )
            }),
        ),
        (
            "CHECK_MODIFY",
            Box::new(|e| {
                e.check_modify(
                    &OrderId::new("B1").unwrap(),
                    &limit("SBIN", Side::Buy, 12, "800.05"),
                    &OrderContext::new().reference_price(p("800")),
                )
                .unwrap();
            }),
        ),
        (
            "RECORD_FILL",
            Box::new(|e| e.record_fill(&fill(Side::Buy, 5, "800", Some("B1")))),
        ),
        (
            "CHECK_CANCEL",
            Box::new(|e| {
                e.check_cancel(&OrderId::new("B1").unwrap()).unwrap();
            }),
        ),
        (
            "ORDER_CLOSED",
            Box::new(|e| e.order_closed(&OrderId::new("B1").unwrap())),
        ),
        (
            "CHECK_ORDER",
            Box::new(|e| {
                let approval = e
                    .check_order(&limit("SBIN", Side::Buy, 3, "800"), &OrderContext::new())
                    .unwrap();
                ticket.set(Some(approval.ticket));
            }),
        ),
        (
            "RELEASE_APPROVAL",
            Box::new(|e| e.release_approval(ticket.get().unwrap())),
        ),
        (
            "SET_REDUCING",
            Box::new(|e| e.set_reducing(StateScope::Strategy(tag("s2")), "wind down")),
        ),
        (
            "HALT",
            Box::new(|e| e.halt_strategy(&tag("s3"), "odd fills")),
        ),
        ("HALT", Box::new(|e| e.halt("operator stop"))),
        (
            "RESET",
            Box::new(|e| {
                e.reset("ops", GOOD_CODE, &FakeTotp).unwrap();
            }),
        ),
        (
            "RESET",
            Box::new(|e| {
                e.reset("ops", "000000", &FakeTotp).unwrap_err();
            }),
        ),
        (
            "AUDIT_FAILURE",
            Box::new(|e| e.report_audit_failure("disk full")),
        ),
        (
            "AUTH_FAILURE",
            Box::new(|e| e.report_auth_failure("session expired")),
        ),
        (
            "FAILED_LOGIN",
            Box::new(|e| {
                e.record_failed_login("10.0.0.9");
            }),
        ),
    ];
    let start = e.drain_journal();
    assert_eq!(start.len(), 1);
    assert_eq!(start[0].seq(), 1);
    assert_eq!(start[0].input(), &RiskInput::Start);
    let mut all = start;
    let mut kinds_seen = vec!["START"];
    for (kind, call) in &calls {
        let before = e.journal_seq();
        call(&mut e);
        let entries = e.drain_journal();
        assert_eq!(entries.len(), 1, "{kind}: one entry per call");
        let entry = &entries[0];
        assert_eq!(entry.input().kind(), *kind);
        assert_eq!(entry.seq(), before + 1, "{kind}: gap-free seq");
        assert_eq!(entry.at(), clock.now(), "{kind}: the clock's time");
        let text = serde_json::to_string(entry).unwrap();
        assert_eq!(&JournalEntry::from_json(&text).unwrap(), entry, "{kind}");
        assert_eq!(&serde_json::from_str::<JournalEntry>(&text).unwrap(), entry);
        let value = serde_json::to_value(entry).unwrap();
        assert_eq!(value["v"], JOURNAL_VERSION);
        assert_eq!(&JournalEntry::from_json_value(value).unwrap(), entry);
        kinds_seen.push(kind);
        all.extend(entries);
        clock.advance(TimeDelta::milliseconds(250));
    }
    // Everything but DIVERGENCE_HALT (tested below) was exercised.
    for kind in RiskInput::KINDS {
        assert!(
            kinds_seen.contains(kind) || *kind == "DIVERGENCE_HALT",
            "{kind} not exercised"
        );
    }
    // And the whole session replays to the same state.
    let (c, report) = restore(config(), &clock, None, all).unwrap();
    assert!(report.divergences.is_empty(), "{report:?}");
    assert_eq!(c.snapshot(), e.snapshot());
    assert_eq!(c.status(), e.status());
}

#[test]
fn a_check_order_entry_is_ready_at_once_in_this_json_shape() {
    let clock = ManualClock::new(t0());
    let mut engine = journaled(config(), &clock);
    engine.drain_journal();
    engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    engine.drain_journal();
    let approval = engine
        .check_order(&limit("SBIN", Side::Buy, 10, "801"), &OrderContext::new())
        .unwrap();
    let entries = engine.drain_journal();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].input(),
        &RiskInput::CheckOrder {
            order: limit("SBIN", Side::Buy, 10, "801"),
            context: OrderContext::new(),
            outcome: OrderOutcome::Approved {
                ticket: approval.ticket.get(),
                notional: Money::from_rupees(8_010),
            },
        }
    );
    assert_eq!(
        serde_json::to_string(&entries[0]).unwrap(),
        concat!(
            r#"{"at":"2026-11-27T04:00:00Z","input":{"input":"CHECK_ORDER","#,
            r#""order":{"exchange":"NSE","price":"801","price_type":"LIMIT","#,
            r#""product":"CNC","quantity":10,"side":"BUY","strategy":"s1","symbol":"SBIN"},"#,
            r#""context":{"intentional_duplicate":false,"reference_price":null},"#,
            r#""outcome":{"result":"APPROVED","ticket":1,"notional":"8010"}},"seq":3,"v":2}"#
        )
    );
    let rejected = engine
        .check_order(&limit("SBIN", Side::Buy, 10, "880"), &OrderContext::new())
        .unwrap_err();
    let entries = engine.drain_journal();
    let RiskInput::CheckOrder { outcome, .. } = entries[0].input() else {
        panic!("not a CHECK_ORDER entry");
    };
    let OrderOutcome::Rejected(recorded) = outcome else {
        panic!("not a rejection");
    };
    assert_eq!(recorded.rule, "PRICE_COLLAR");
    assert_eq!(recorded.message, rejected.to_string());
}

#[test]
fn damaged_unknown_and_newer_entries_are_typed_errors() {
    let clock = ManualClock::new(t0());
    let (_, entries) = losing_session(&clock);
    let good = serde_json::to_string(&entries[2]).unwrap();
    assert!(good.contains(r#""input":"CHECK_ORDER""#), "{good}");

    let version = format!(r#","v":{JOURNAL_VERSION}}}"#);
    assert!(good.ends_with(&version), "{good}");
    let newer = format!(
        r#"{},"v":{}}}"#,
        good.strip_suffix(&version).unwrap(),
        JOURNAL_VERSION + 1
    );
    assert_eq!(
        JournalEntry::from_json(&newer).unwrap_err(),
        JournalError::UnsupportedVersion {
            found: u64::from(JOURNAL_VERSION + 1),
            supported: JOURNAL_VERSION
        }
    );
    assert!(serde_json::from_str::<JournalEntry>(&newer).is_err());

    let unknown = good.replace(r#""input":"CHECK_ORDER""#, r#""input":"TELEPORT""#);
    assert_eq!(
        JournalEntry::from_json(&unknown).unwrap_err(),
        JournalError::UnknownInput {
            kind: "TELEPORT".to_owned()
        }
    );

    let cases = [
        ("truncated", good[..good.len() - 3].to_owned()),
        (
            "unknown field",
            good.replacen(r#"{"at":"#, r#"{"extra":true,"at":"#, 1),
        ),
        (
            "unknown field in an input",
            good.replace(
                r#""input":"CHECK_ORDER","#,
                r#""input":"CHECK_ORDER","x":1,"#,
            ),
        ),
        (
            "bad price",
            good.replace(r#""price":"800""#, r#""price":"-800""#),
        ),
        ("seq as text", good.replace(r#""seq":3"#, r#""seq":"3""#)),
        (
            "no version",
            good.replacen(&format!(r#","v":{JOURNAL_VERSION}"#), "", 1),
        ),
        ("not json", "not json".to_owned()),
    ];
    for (what, text) in cases {
        assert!(text != good, "{what}: the case must change the entry");
        match JournalEntry::from_json(&text) {
            Err(JournalError::Malformed { .. }) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn a_gap_a_repeat_or_a_missing_start_refuses_to_restore() {
    let clock = ManualClock::new(t0());
    let (_, entries) = losing_session(&clock);
    assert!(entries.len() >= 6);

    let mut gap = entries.clone();
    gap.remove(3);
    assert_eq!(
        restore(config(), &clock, None, gap).unwrap_err(),
        RestoreError::Sequence {
            expected: 4,
            found: 5
        }
    );

    let mut repeat = entries.clone();
    repeat.insert(4, entries[3].clone());
    assert_eq!(
        restore(config(), &clock, None, repeat).unwrap_err(),
        RestoreError::Sequence {
            expected: 5,
            found: 4
        }
    );

    let no_start = entries[1..].to_vec();
    assert_eq!(
        restore(config(), &clock, None, no_start).unwrap_err(),
        RestoreError::Sequence {
            expected: 1,
            found: 2
        }
    );

    // Seq 1 that is not a START (the trail was rewritten).
    let text = serde_json::to_string(&entries[1]).unwrap();
    let relabelled =
        JournalEntry::from_json(&text.replacen(r#""seq":2"#, r#""seq":1"#, 1)).unwrap();
    let err = restore(config(), &clock, None, vec![relabelled]).unwrap_err();
    assert_eq!(
        err,
        RestoreError::MissingStart {
            found: "UPDATE_QUOTE".to_owned()
        }
    );

    // A START in the middle of a journal.
    let start = serde_json::to_string(&entries[0]).unwrap();
    let late_start =
        JournalEntry::from_json(&start.replacen(r#""seq":1"#, r#""seq":4"#, 1)).unwrap();
    let mut middle = entries[..3].to_vec();
    middle.push(late_start);
    assert_eq!(
        restore(config(), &clock, None, middle).unwrap_err(),
        RestoreError::UnexpectedStart { seq: 4 }
    );

    // With a snapshot, the entries after it must follow on.
    let (a, _) = restore(config(), &clock, None, entries[..3].to_vec()).unwrap();
    let snapshot = a.snapshot();
    assert_eq!(snapshot.covers_seq(), 3);
    let err = restore(config(), &clock, Some(snapshot), entries[4..].to_vec()).unwrap_err();
    assert_eq!(
        err,
        RestoreError::Sequence {
            expected: 4,
            found: 5
        }
    );
}

#[test]
fn losing_the_snapshot_cannot_reset_the_loss_or_lift_the_halt() {
    let clock = ManualClock::new(t0());
    let (live, entries) = losing_session(&clock);
    let status = live.status();
    assert_eq!(status.daily_loss, Money::from_rupees(31_000));
    // Restart with no snapshot at all: the trail alone rebuilds everything.
    let later = ManualClock::new(clock.now() + TimeDelta::minutes(5));
    let (restored, report) = restore(config(), &later, None, entries.clone()).unwrap();
    assert!(report.divergences.is_empty());
    assert_eq!(report.applied, entries.len() as u64);
    assert_eq!(report.last_seq, entries.len() as u64);
    assert_eq!(restored.snapshot(), live.snapshot());
    assert_eq!(restored.trading_state(), TradingState::Halted);
    assert_eq!(restored.status().daily_loss, Money::from_rupees(31_000));
    assert!(
        restored
            .status()
            .breakers
            .iter()
            .any(|b| b.kind == BreakerKind::DailyLoss)
    );
    // A snapshot from before the loss (a rolled-back file) plus the trail
    // after it also ends halted.
    let (early, _) = restore(config(), &clock, None, entries[..3].to_vec()).unwrap();
    let old = early.snapshot();
    let (rolled_back, report) = restore(config(), &later, Some(old), entries.clone()).unwrap();
    assert_eq!(report.skipped, 3);
    assert_eq!(report.snapshot_seq, Some(3));
    assert_eq!(rolled_back.snapshot(), live.snapshot());
    assert_eq!(rolled_back.trading_state(), TradingState::Halted);
    // The restored engine carries on live from the clock and the seq.
    let mut restored = restored;
    let refused = restored
        .check_order(&limit("SBIN", Side::Buy, 1, "690"), &OrderContext::new())
        .unwrap_err();
    assert!(matches!(refused, Rejection::Halted { .. }));
    let next = restored.drain_journal();
    assert_eq!(next[0].seq(), entries.len() as u64 + 1);
    assert_eq!(next[0].at(), later.now());
}

#[test]
fn replay_takes_time_from_the_entries_not_the_clock() {
    let clock = ManualClock::new(t0());
    let mut live = journaled(
        builder()
            .rate_limits(asta_risk::RateLimitConfig {
                account: asta_risk::WindowLimits {
                    per_second: 2,
                    per_minute: 10,
                    per_day: 100,
                },
                ..Default::default()
            })
            .build()
            .unwrap(),
        &clock,
    );
    live.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    clock.advance(TimeDelta::seconds(4)); // the quote is 4 s old: still fresh
    let context = OrderContext::new().intentional_duplicate(true);
    live.check_order(&market("SBIN", Side::Buy, 1), &context)
        .unwrap();
    live.check_order(&market("SBIN", Side::Buy, 1), &context)
        .unwrap();
    let denied = live
        .check_order(&market("SBIN", Side::Buy, 1), &context)
        .unwrap_err();
    assert!(matches!(denied, Rejection::RateLimited { .. }));
    let entries = live.drain_journal();
    // Restored a day later, on a clock that would make the quote stale and
    // the window empty: the replay still decides as the live engine did.
    let tomorrow = ManualClock::new(clock.now() + TimeDelta::days(1));
    let (restored, report) = RiskEngine::restore(
        live.config().clone(),
        catalog(),
        calendar(),
        Arc::new(tomorrow.clone()),
        None,
        entries,
    )
    .unwrap();
    assert!(report.divergences.is_empty(), "{report:?}");
    assert_eq!(restored.snapshot(), live.snapshot());
    assert_eq!(restored.status().day, live.status().day, "no roll-over yet");
}

#[test]
fn a_replay_that_diverges_halts_and_the_halt_is_journaled() {
    let clock = ManualClock::new(t0());
    let mut live = journaled(config(), &clock);
    live.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    live.check_order(&limit("SBIN", Side::Buy, 200, "800"), &OrderContext::new())
        .unwrap();
    let entries = live.drain_journal();
    // The per-order quantity limit was lowered between runs.
    let tighter = builder().max_order_quantity(100).build().unwrap();
    let (mut restored, report) = restore(tighter.clone(), &clock, None, entries.clone()).unwrap();
    assert!(report.halted);
    assert_eq!(report.divergences.len(), 1);
    let divergence = &report.divergences[0];
    assert_eq!(divergence.seq, 3);
    assert_eq!(divergence.input, "CHECK_ORDER");
    assert!(divergence.recorded.contains("APPROVED"), "{divergence:?}");
    assert!(
        divergence.replayed.contains("MAX_QUANTITY"),
        "{divergence:?}"
    );
    assert_eq!(restored.trading_state(), TradingState::Halted);
    let status = restored.status();
    assert!(
        status
            .breakers
            .iter()
            .any(|b| b.kind == BreakerKind::ReplayDivergence && b.detail.contains("seq 3")),
        "{:?}",
        status.breakers
    );
    let events = restored.drain_events();
    assert!(
        events.iter().any(|e| matches!(
            &e.kind,
            asta_risk::RiskEventKind::BreakerTripped {
                breaker: BreakerKind::ReplayDivergence,
                ..
            }
        )),
        "the halt is an event for the trail: {events:?}"
    );
    let halt = restored.drain_journal();
    assert_eq!(halt.len(), 1);
    assert_eq!(halt[0].seq(), 4);
    assert_eq!(halt[0].input().kind(), "DIVERGENCE_HALT");
    let text = serde_json::to_string(&halt[0]).unwrap();
    assert_eq!(JournalEntry::from_json(&text).unwrap(), halt[0]);
    // Restoring again, even with the original configuration (so the order
    // replays as approved), keeps the halt: it is in the journal now.
    let mut all = entries;
    all.extend(halt);
    let (again, report) = restore(config(), &clock, None, all).unwrap();
    assert!(report.divergences.is_empty());
    assert!(!report.halted);
    assert_eq!(again.trading_state(), TradingState::Halted);
    assert_eq!(again.status().pending_approvals, 1);
    assert_eq!(again.journal_seq(), 4);
}

#[test]
fn applying_entries_one_by_one_matches_restore_and_halts_on_divergence() {
    let clock = ManualClock::new(t0());
    let (live, entries) = losing_session(&clock);
    let (mut follower, _) = restore(config(), &clock, None, entries[..1].to_vec()).unwrap();
    for entry in &entries {
        let outcome = follower.apply(entry).unwrap();
        let expected = if entry.seq() == 1 {
            ApplyOutcome::Skipped
        } else {
            ApplyOutcome::Applied
        };
        assert_eq!(outcome, expected, "seq {}", entry.seq());
    }
    assert_eq!(follower.snapshot(), live.snapshot());
    assert!(
        follower.drain_events().is_empty(),
        "replay events are not re-emitted"
    );
    assert!(
        follower.drain_journal().is_empty(),
        "replayed entries are not re-journaled"
    );
    assert_eq!(
        follower.apply(&entries[2]).unwrap(),
        ApplyOutcome::Skipped,
        "old entries are skipped"
    );

    // A divergence found by apply halts before the next live call.
    let tight = builder().max_order_quantity(100).build().unwrap();
    let (mut engine, _) = restore(tight, &clock, None, entries[..2].to_vec()).unwrap();
    let ApplyOutcome::Diverged(divergence) = engine.apply(&entries[2]).unwrap() else {
        panic!("200 shares are above the lowered limit");
    };
    assert_eq!(divergence.seq, 3);
    assert_eq!(engine.trading_state(), TradingState::Active, "not yet");
    let refused = engine
        .check_order(&limit("SBIN", Side::Sell, 1, "800"), &OrderContext::new())
        .unwrap_err();
    assert!(matches!(refused, Rejection::Halted { .. }), "{refused}");
    let kinds: Vec<&str> = engine
        .drain_journal()
        .iter()
        .map(|e| e.input().kind())
        .collect();
    assert_eq!(kinds, ["DIVERGENCE_HALT", "CHECK_ORDER"]);
}

#[test]
fn an_undrained_journal_refuses_new_risk_but_records_every_fact() {
    let clock = ManualClock::new(t0());
    let mut engine = journaled(config(), &clock);
    assert!(engine.is_journaled());
    assert_eq!(engine.journal_limit(), asta_risk::DEFAULT_JOURNAL_LIMIT);
    engine.set_journal_limit(3);
    engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    let approval = engine
        .check_order(&limit("SBIN", Side::Buy, 10, "800"), &OrderContext::new())
        .unwrap();
    // START, quote, order: three undrained entries.
    let refused = engine
        .check_order(&limit("SBIN", Side::Buy, 11, "800"), &OrderContext::new())
        .unwrap_err();
    assert_eq!(
        refused,
        Rejection::JournalFull {
            pending: 3,
            limit: 3
        }
    );
    assert_eq!(refused.rule(), "JOURNAL_FULL");
    assert!(
        engine
            .check_batch(&[limit("SBIN", Side::Buy, 1, "800")], &OrderContext::new())
            .is_err()
    );
    assert!(
        engine
            .check_modify(
                &OrderId::new("X").unwrap(),
                &limit("SBIN", Side::Buy, 1, "800"),
                &OrderContext::new()
            )
            .is_err()
    );
    let before = engine.snapshot();
    assert_eq!(before.covers_seq(), 3, "refusals changed nothing");
    // Facts and risk cuts are still applied and journaled.
    engine.order_opened(
        OrderId::new("J1").unwrap(),
        &limit("SBIN", Side::Buy, 10, "800"),
        Some(approval.ticket),
    );
    engine.record_fill(&fill(Side::Buy, 10, "800", Some("J1")));
    engine.check_cancel(&OrderId::new("J1").unwrap()).unwrap();
    engine.halt("stop");
    let entries = engine.drain_journal();
    let kinds: Vec<&str> = entries.iter().map(|e| e.input().kind()).collect();
    assert_eq!(
        kinds,
        [
            "START",
            "UPDATE_QUOTE",
            "CHECK_ORDER",
            "ORDER_OPENED",
            "RECORD_FILL",
            "CHECK_CANCEL",
            "HALT"
        ]
    );
    // Drained, the engine decides again (here: halted).
    let refused = engine
        .check_order(&limit("SBIN", Side::Buy, 1, "800"), &OrderContext::new())
        .unwrap_err();
    assert!(matches!(refused, Rejection::Halted { .. }));
}

#[test]
fn snapshots_are_canonical_versioned_and_confirmed_by_digest() {
    let clock = ManualClock::new(t0());
    let (live, _) = losing_session(&clock);
    let snapshot = live.snapshot();
    let bytes = snapshot.to_bytes().unwrap();
    assert!(bytes.starts_with(format!(r#"{{"format":{SNAPSHOT_FORMAT},"covers_seq":"#).as_bytes()));
    let digest = snapshot.digest().unwrap();
    assert_eq!(digest.len(), 64);
    assert!(
        digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(digest, RiskSnapshot::digest_of(&bytes));
    assert_eq!(RiskSnapshot::from_bytes(&bytes).unwrap(), snapshot);
    assert_eq!(
        RiskSnapshot::from_bytes_with_digest(&bytes, &digest.to_uppercase()).unwrap(),
        snapshot
    );
    // Serde gives the same shape.
    assert_eq!(serde_json::to_vec(&snapshot).unwrap(), bytes);
    assert_eq!(
        serde_json::from_slice::<RiskSnapshot>(&bytes).unwrap(),
        snapshot
    );
    // Two engines in the same state have the same bytes.
    let (twin, _) = restore(config(), &clock, Some(snapshot.clone()), Vec::new()).unwrap();
    assert_eq!(twin.snapshot().digest().unwrap(), digest);

    let text = String::from_utf8(bytes.clone()).unwrap();
    let newer = text.replacen(r#"{"format":1,"#, r#"{"format":2,"#, 1);
    assert_eq!(
        RiskSnapshot::from_bytes(newer.as_bytes()).unwrap_err(),
        SnapshotError::UnsupportedFormat {
            found: 2,
            supported: 1
        }
    );
    let spaced = text.replacen(r#""format":1,"#, r#""format": 1,"#, 1);
    assert_eq!(
        RiskSnapshot::from_bytes(spaced.as_bytes()).unwrap_err(),
        SnapshotError::NotCanonical
    );
    let wrong_seq = text.replacen(r#""covers_seq":"#, r#""covers_seq":9"#, 1);
    assert!(matches!(
        RiskSnapshot::from_bytes(wrong_seq.as_bytes()).unwrap_err(),
        SnapshotError::Malformed { .. }
    ));
    let halted = text.replace(r#""state":"HALTED""#, r#""state":"ACTIVE""#);
    assert_ne!(halted, text);
    assert!(matches!(
        RiskSnapshot::from_bytes_with_digest(halted.as_bytes(), &digest).unwrap_err(),
        SnapshotError::DigestMismatch { .. }
    ));
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        assert!(matches!(
            RiskSnapshot::from_bytes(&bytes[..cut]).unwrap_err(),
            SnapshotError::Malformed { .. }
        ));
    }
}

#[test]
fn a_day_roll_over_is_replayed_from_the_entries() {
    let clock = ManualClock::new(t0());
    let (mut live, mut entries) = losing_session(&clock);
    let day_one = live.status().day;
    // Next Monday 09:20 IST: the first call rolls the day.
    clock.set(Utc.with_ymd_and_hms(2026, 11, 30, 3, 50, 0).unwrap());
    live.update_quote(Exchange::Nse, &sym("SBIN"), p("700"));
    entries.extend(live.drain_journal());
    let rolled = live.status();
    assert!(rolled.day > day_one);
    assert_eq!(rolled.realized_pnl, Money::ZERO);
    assert_eq!(
        rolled.account.state,
        TradingState::Halted,
        "a halt survives the day"
    );
    let (restored, report) = restore(config(), &clock, None, entries).unwrap();
    assert!(report.divergences.is_empty());
    assert_eq!(restored.snapshot(), live.snapshot());
    assert_eq!(restored.status(), rolled);
}

#[test]
fn an_engine_with_a_state_file_does_not_journal_and_keeps_its_file_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("risk.state");
    let clock = ManualClock::new(t0());
    let mut engine = open(config(), StateStore::create_file(&path), &clock);
    engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    engine
        .check_order(&limit("SBIN", Side::Buy, 1, "800"), &OrderContext::new())
        .unwrap();
    assert!(!engine.is_journaled());
    assert!(engine.drain_journal().is_empty());
    assert_eq!(engine.journal_seq(), 0);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("journal_seq"), "{text}");
    // Migrating to a journaled engine: snapshot it, restore from the snapshot.
    let snapshot = engine.snapshot();
    assert_eq!(snapshot.covers_seq(), 0);
    let (mut journaled, _) = restore(config(), &clock, Some(snapshot.clone()), Vec::new()).unwrap();
    assert_eq!(journaled.snapshot(), snapshot);
    journaled.halt("migrated");
    assert_eq!(journaled.drain_journal()[0].seq(), 1);
}

/// ORDER_OPENED leaves out an order its approval already holds (the
/// CHECK_ORDER entry has it), keeps any other, replays to the same state
/// either way, and an entry without its order whose approval is not
/// pending diverges (the account halts) instead of guessing.
#[test]
fn an_opened_order_its_approval_holds_is_not_written_twice() {
    let clock = ManualClock::new(t0());
    let (live, entries) = losing_session(&clock);
    let opened = entries
        .iter()
        .find(|e| e.input().kind() == "ORDER_OPENED")
        .unwrap();
    let RiskInput::OrderOpened { order, ticket, .. } = opened.input() else {
        panic!("{opened:?}");
    };
    assert_eq!(order, &None, "the approval holds the order");
    assert!(ticket.is_some());
    let text = serde_json::to_string(opened).unwrap();
    assert!(!text.contains("\"order\""), "{text}");
    assert_eq!(&JournalEntry::from_json(&text).unwrap(), opened);
    let (replayed, report) = restore(config(), &clock, None, entries.clone()).unwrap();
    assert!(report.divergences.is_empty(), "{report:?}");
    assert_eq!(replayed.snapshot(), live.snapshot());

    // The earlier shape, with the order written out, replays the same.
    let order = limit("SBIN", Side::Buy, 200, "800");
    let with_order: Vec<JournalEntry> = entries
        .iter()
        .map(|e| {
            let mut value = serde_json::to_value(e).unwrap();
            if e.input().kind() == "ORDER_OPENED" {
                value["input"]["order"] = serde_json::to_value(&order).unwrap();
            }
            JournalEntry::from_json_value(value).unwrap()
        })
        .collect();
    assert_ne!(with_order, entries);
    let (replayed, report) = restore(config(), &clock, None, with_order).unwrap();
    assert!(report.divergences.is_empty(), "{report:?}");
    assert_eq!(replayed.snapshot(), live.snapshot());

    // An order that differs from its approval's, or one without a ticket
    // (found while reconciling), is written out.
    let mut engine = journaled(config(), &clock);
    engine.update_quote(Exchange::Nse, &sym("SBIN"), p("800"));
    let approval = engine.check_order(&order, &OrderContext::new()).unwrap();
    let smaller = limit("SBIN", Side::Buy, 100, "800");
    engine.order_opened(OrderId::new("A2").unwrap(), &smaller, Some(approval.ticket));
    engine.order_opened(OrderId::new("A3").unwrap(), &order, None);
    let written: Vec<Option<OrderRequest>> = engine
        .drain_journal()
        .into_iter()
        .filter_map(|e| match e.input() {
            RiskInput::OrderOpened { order, .. } => Some(order.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(written, [Some(smaller), Some(order)]);

    // Only version 2 may leave the order out: a version 1 entry without it
    // is malformed.
    let mut value = serde_json::to_value(opened).unwrap();
    value["v"] = serde_json::json!(1);
    assert!(matches!(
        JournalEntry::from_json_value(value),
        Err(JournalError::Malformed { .. })
    ));

    // Without its order and without a pending approval: a divergence.
    let (mut follower, _) = restore(config(), &clock, None, entries[..1].to_vec()).unwrap();
    let mut value = serde_json::to_value(opened).unwrap();
    value["seq"] = serde_json::json!(2);
    let orphan = JournalEntry::from_json_value(value).unwrap();
    let ApplyOutcome::Diverged(divergence) = follower.apply(&orphan).unwrap() else {
        panic!("no approval is pending");
    };
    assert_eq!(divergence.input, "ORDER_OPENED");
    assert!(
        divergence.replayed.contains("no pending approval"),
        "{divergence:?}"
    );
    let refused = follower
        .check_order(&limit("SBIN", Side::Sell, 1, "800"), &OrderContext::new())
        .unwrap_err();
    assert!(matches!(refused, Rejection::Halted { .. }), "{refused}");
}
