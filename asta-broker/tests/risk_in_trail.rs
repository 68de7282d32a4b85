//! The guard keeps the risk state in the audit trail (`Guard::restored`):
//! deleting, damaging or rolling back the snapshot file never resets the
//! day's loss, lifts a halt or empties the rate windows; a snapshot the
//! trail does not confirm is refused; and each order costs one sync.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::path::Path;
use std::sync::Arc;

use asta_audit::{AuditConfig, AuditLog, ChainKey, read_records};
use asta_broker::{
    Broker, FileSnapshotStore, Guard, Quote, RestoredRisk, SandboxBroker, SnapshotStore,
    SnapshotUse,
};
use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{RequiredLimits, RiskConfig, TradingState};
use chrono::{TimeDelta, TimeZone, Utc};

const KEY: [u8; 32] = [0x33; 32];

fn catalog() -> Arc<InstrumentCatalog> {
    Arc::new(
        InstrumentCatalog::from_csv_reader(
            "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
             NSE,SBIN,0.05,1,,,\n"
                .as_bytes(),
        )
        .unwrap(),
    )
}

fn config() -> RiskConfig {
    RiskConfig::builder(RequiredLimits {
        capital: Money::from_rupees(1_000_000),
        max_order_quantity: 1_000,
        max_order_notional: Money::from_rupees(500_000),
        max_gross_exposure: Money::from_rupees(5_000_000),
    })
    .duplicate_window_ms(1)
    .build()
    .unwrap()
}

fn order(side: Side, quantity: u64) -> OrderRequest {
    OrderRequest::builder()
        .symbol(Symbol::new("SBIN").unwrap())
        .exchange(Exchange::Nse)
        .side(side)
        .price_type(PriceType::Market)
        .product(Product::Mis)
        .quantity(Quantity::new(quantity).unwrap())
        .strategy(StrategyTag::new("trend").unwrap())
        .build()
        .unwrap()
}

fn restore(dir: &Path, store: Arc<dyn SnapshotStore>, clock: &ManualClock) -> RestoredRisk {
    RestoredRisk::from_trail(
        &dir.join("audit"),
        &ChainKey::from_bytes(&KEY).unwrap(),
        store,
        config(),
        catalog(),
        Arc::new(MarketCalendar::bundled().unwrap()),
        Arc::new(clock.clone()),
    )
    .unwrap()
}

struct Session {
    guard: Guard<SandboxBroker>,
    sandbox: SandboxBroker,
}

async fn session(dir: &Path, clock: &ManualClock) -> Session {
    let audit = AuditLog::open(
        dir.join("audit"),
        ChainKey::from_bytes(&KEY).unwrap(),
        AuditConfig::default(),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let store = Arc::new(FileSnapshotStore::new(dir.join("risk.snapshot")));
    let restored = restore(dir, store, clock);
    let sandbox = SandboxBroker::new(Arc::new(clock.clone()));
    let mut config = asta_broker::GuardConfig::default();
    config.snapshot_every_entries = 3;
    let guard = Guard::restored(
        sandbox.clone(),
        catalog(),
        restored,
        audit,
        Arc::new(clock.clone()),
    )
    .config(config)
    .build()
    .await
    .unwrap();
    Session { guard, sandbox }
}

async fn quote(s: &Session, clock: &ManualClock, price: &str) {
    let q = Quote::last(price.parse().unwrap(), clock.now()).unwrap();
    s.sandbox
        .set_quote(Exchange::Nse, &Symbol::new("SBIN").unwrap(), q);
    s.guard
        .on_quote(Exchange::Nse, &Symbol::new("SBIN").unwrap(), q.ltp())
        .await;
}

/// A day with a loss, a halted strategy and used rate windows; returns the
/// state's bytes at close and the bytes of the first snapshot saved.
async fn trade_a_day(dir: &Path, clock: &ManualClock) -> (Vec<u8>, Vec<u8>) {
    let s = session(dir, clock).await;
    quote(&s, clock, "800").await;
    s.guard.place_order(&order(Side::Buy, 100)).await.unwrap();
    // Snapshots are saved in the background, off the order path.
    s.guard.wait_for_snapshots().await;
    let first = std::fs::read(dir.join("risk.snapshot")).unwrap();
    clock.advance(TimeDelta::milliseconds(300));
    quote(&s, clock, "760").await;
    s.guard.place_order(&order(Side::Sell, 40)).await.unwrap();
    s.guard
        .with_risk(|risk| risk.halt_strategy(&StrategyTag::new("other").unwrap(), "operator"))
        .await;
    s.guard.close().await.unwrap();
    let status = s.guard.risk_status();
    assert!(status.daily_loss > Money::ZERO, "{status:?}");
    let state = s.guard.with_risk(|risk| risk.snapshot()).await;
    (state.to_bytes().unwrap(), first)
}

fn state_of(restored: &RestoredRisk) -> Vec<u8> {
    restored.engine().snapshot().to_bytes().unwrap()
}

#[tokio::test]
async fn losing_damaging_or_rolling_back_the_snapshot_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
    let (at_close, first) = trade_a_day(dir, &clock).await;
    let store: Arc<dyn SnapshotStore> = Arc::new(FileSnapshotStore::new(dir.join("risk.snapshot")));

    // As saved at close: confirmed, nothing to replay, same state.
    let restored = restore(dir, Arc::clone(&store), &clock);
    assert!(matches!(
        restored.report().snapshot,
        SnapshotUse::Confirmed { .. }
    ));
    assert_eq!(state_of(&restored), at_close);

    // Rolled back to an older (confirmed) snapshot: the trail replays the rest.
    std::fs::write(dir.join("risk.snapshot"), &first).unwrap();
    let restored = restore(dir, Arc::clone(&store), &clock);
    assert!(matches!(
        restored.report().snapshot,
        SnapshotUse::Confirmed { .. }
    ));
    assert!(restored.report().replayed > 0);
    assert_eq!(state_of(&restored), at_close);

    // Damaged: refused, the trail alone rebuilds the same state.
    let mut damaged = at_close.clone();
    let last = damaged.len() - 2;
    damaged[last] ^= 0x01;
    std::fs::write(dir.join("risk.snapshot"), &damaged).unwrap();
    let restored = restore(dir, Arc::clone(&store), &clock);
    assert!(matches!(
        restored.report().snapshot,
        SnapshotUse::Rejected { .. }
    ));
    assert_eq!(state_of(&restored), at_close);

    // A forged snapshot that parses (a loss-free, ACTIVE state this trail
    // never had) is not confirmed by the trail: refused.
    let forged = {
        let other = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 5, 30, 0).unwrap());
        let s = session(other.path(), &clock).await;
        quote(&s, &clock, "900").await;
        s.guard.close().await.unwrap();
        std::fs::read(other.path().join("risk.snapshot")).unwrap()
    };
    std::fs::write(dir.join("risk.snapshot"), &forged).unwrap();
    let restored = restore(dir, Arc::clone(&store), &clock);
    assert!(matches!(
        restored.report().snapshot,
        SnapshotUse::Rejected { .. }
    ));
    assert_eq!(state_of(&restored), at_close);

    // Deleted: the trail alone.
    std::fs::remove_file(dir.join("risk.snapshot")).unwrap();
    let restored = restore(dir, store, &clock);
    assert_eq!(restored.report().snapshot, SnapshotUse::None);
    assert_eq!(state_of(&restored), at_close);
    assert_eq!(
        restored
            .engine()
            .strategy_state(&StrategyTag::new("other").unwrap()),
        TradingState::Halted
    );
    assert!(restored.engine().status().daily_loss > Money::ZERO);
}

#[tokio::test]
async fn a_restarted_guard_goes_on_where_the_trail_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
    let (at_close, _) = trade_a_day(dir, &clock).await;
    clock.advance(TimeDelta::seconds(1));
    let s = session(dir, &clock).await;
    let now = s.guard.with_risk(|risk| risk.snapshot()).await;
    assert_eq!(now.to_bytes().unwrap(), at_close);
    assert_eq!(
        s.guard
            .risk_status()
            .strategies
            .iter()
            .find(|st| st.scope.to_string().contains("other"))
            .map(|st| st.state),
        Some(TradingState::Halted)
    );
    // The restore is recorded, with the snapshot it used.
    s.guard.audit_log().sync().unwrap();
    let restored: Vec<_> = read_records(&dir.join("audit"), &ChainKey::from_bytes(&KEY).unwrap())
        .unwrap()
        .map(Result::unwrap)
        .filter(|r| r.action == "risk_restored")
        .collect();
    assert_eq!(restored.len(), 2);
    assert_eq!(restored[1].details["snapshot"]["used"], true);
}

#[tokio::test]
async fn each_order_waits_for_one_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
    let s = session(dir, &clock).await;
    quote(&s, &clock, "800").await;
    s.guard.audit_log().sync().unwrap();
    let before = s.guard.audit_log().stats();
    for i in 0..6u64 {
        clock.advance(TimeDelta::milliseconds(150));
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        s.guard.place_order(&order(side, 10)).await.unwrap();
    }
    let after = s.guard.audit_log().stats();
    // One sync per order (waiting for every record would be 3 or more per
    // order); the background flush of deferred records may add some.
    let syncs = after.fsyncs - before.fsyncs;
    assert!((6..=12).contains(&syncs), "{syncs} syncs for 6 orders");
    // Each order wrote three records: the intent with the decision, the
    // outcome, the fill.
    assert!(after.records - before.records >= 6 * 3);
}

#[tokio::test]
async fn a_tick_of_several_quotes_is_one_journal_record_and_replays_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
    let s = session(dir, &clock).await;
    s.guard.audit_log().sync().unwrap();
    let before = s.guard.audit_log().stats().records;
    let sbin = Symbol::new("SBIN").unwrap();
    s.guard
        .on_quotes(&[
            (Exchange::Nse, sbin.clone(), "800".parse().unwrap()),
            (Exchange::Nse, sbin.clone(), "801".parse().unwrap()),
            (Exchange::Nse, sbin, "802".parse().unwrap()),
        ])
        .await;
    s.guard.audit_log().sync().unwrap();
    assert_eq!(s.guard.audit_log().stats().records - before, 1);
    let state = s.guard.with_risk(|risk| risk.snapshot()).await;
    s.guard.close().await.unwrap();
    // The restored engine replays the three quotes to the same state.
    let store = Arc::new(FileSnapshotStore::new(dir.join("none.snapshot")));
    let restored = restore(dir, store, &clock);
    assert_eq!(state_of(&restored), state.to_bytes().unwrap());
}
