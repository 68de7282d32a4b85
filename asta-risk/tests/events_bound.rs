//! An engine whose events are never drained keeps a bounded buffer.
#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use asta_core::Side;
use asta_risk::{MAX_BUFFERED_EVENTS, OrderContext};
use common::*;

#[test]
fn undrained_events_stay_bounded_and_the_drop_is_counted() {
    let mut f = fixture();
    // Unknown symbol: every check is a rejection, and every rejection an event.
    let order = limit("UNKNOWNSYM", Side::Buy, 1, "100");
    let mut emitted = 0usize;
    while emitted < MAX_BUFFERED_EVENTS + 500 {
        let _ = f.engine.check_order(&order, &OrderContext::new());
        emitted += 1;
    }
    let events = f.engine.drain_events();
    assert_eq!(events.len(), MAX_BUFFERED_EVENTS);
    assert!(f.engine.events_dropped() >= 500);
    // The newest are kept: their seqs end at the last one emitted.
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let span = seqs[seqs.len() - 1] - seqs[0] + 1;
    assert_eq!(
        span, MAX_BUFFERED_EVENTS as u64,
        "a contiguous run of the newest"
    );
    assert!(f.engine.drain_events().is_empty());
}
