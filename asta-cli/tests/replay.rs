//! `asta audit replay` through the real binary, on a trail written by a
//! guard that keeps its risk state in the trail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on a bad fixture"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use asta_audit::{AuditConfig, AuditLog, ChainKey, read_records};
use asta_broker::{Broker, FileSnapshotStore, Guard, Quote, RestoredRisk, SandboxBroker};
use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, OrderRequest, PriceType,
    Product, Quantity, Side, StrategyTag, Symbol,
};
use chrono::{TimeDelta, TimeZone, Utc};

const CONFIG: &str = "\
[paths]
instruments = \"instruments.csv\"

[risk]
capital = \"1000000\"
max_order_quantity = 5000
max_order_notional = \"300000\"
max_gross_exposure = \"2000000\"
";

const CATALOG: &str = "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
                       NSE,SBIN,0.05,1,,,\n";

fn asta(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asta"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
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

/// A session that buys 10 and sells 4 SBIN; returns the seq of the first
/// fill record.
async fn trade(d: &Path, key: ChainKey) -> u64 {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
    let shared: Arc<dyn Clock> = Arc::new(clock.clone());
    let catalog = Arc::new(InstrumentCatalog::from_path(&d.join("instruments.csv")).unwrap());
    let audit = AuditLog::open(
        d.join("audit"),
        key.clone(),
        AuditConfig::default(),
        Arc::clone(&shared),
    )
    .unwrap();
    let config: toml::Table = toml::from_str(CONFIG).unwrap();
    let risk_config: asta_risk::RiskConfig =
        config.get("risk").unwrap().clone().try_into().unwrap();
    let restored = RestoredRisk::from_trail(
        &d.join("audit"),
        &key,
        Arc::new(FileSnapshotStore::new(d.join("risk.snapshot"))),
        risk_config,
        Arc::clone(&catalog),
        Arc::new(MarketCalendar::bundled().unwrap()),
        Arc::clone(&shared),
    )
    .unwrap();
    let sandbox = SandboxBroker::new(Arc::clone(&shared));
    let guard = Guard::restored(
        sandbox.clone(),
        catalog,
        restored,
        audit,
        Arc::clone(&shared),
    )
    .build()
    .await
    .unwrap();
    let sbin = Symbol::new("SBIN").unwrap();
    let quote = Quote::last("800".parse().unwrap(), clock.now()).unwrap();
    sandbox.set_quote(Exchange::Nse, &sbin, quote);
    guard.on_quote(Exchange::Nse, &sbin, quote.ltp()).await;
    guard.place_order(&order(Side::Buy, 10)).await.unwrap();
    clock.advance(TimeDelta::seconds(5));
    guard.place_order(&order(Side::Sell, 4)).await.unwrap();
    guard.close().await.unwrap();
    drop(guard);
    read_records(&d.join("audit"), &key)
        .unwrap()
        .map(Result::unwrap)
        .find(|r| r.action == "fill")
        .map(|r| r.seq)
        .unwrap()
}

#[tokio::test]
async fn replay_shows_the_risk_state_at_any_record_and_the_decisions_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("asta.toml"), CONFIG).unwrap();
    std::fs::write(d.join("instruments.csv"), CATALOG).unwrap();
    let init = asta(d, &["vault", "init"]);
    assert!(init.status.success(), "{}", text(&init));
    let out = asta(d, &["vault", "get", "audit.chain_key", "--reveal"]);
    let key = ChainKey::from_base64(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let first_fill = trade(d, key).await;

    // The whole trail: long 6.
    let now = asta(d, &["audit", "replay", "--json"]);
    assert!(now.status.success(), "{}", text(&now));
    let json: serde_json::Value = serde_json::from_slice(&now.stdout).unwrap();
    assert!(json["journal_entries_replayed"].as_u64().unwrap() > 0);
    assert_eq!(json["state"]["positions"][0]["net"], 6);

    // At the first fill: long 10, and the decision that let it through.
    let until = first_fill.to_string();
    let then = asta(d, &["audit", "replay", "--until", &until]);
    let shown = text(&then);
    assert!(then.status.success(), "{shown}");
    assert!(
        shown.contains(&format!("risk state at audit record {first_fill}")),
        "{shown}"
    );
    assert!(shown.contains("\"net\":10"), "{shown}");
    assert!(
        shown.contains("ORDER_APPROVED") && shown.contains("place_intent"),
        "{shown}"
    );
    let json = asta(d, &["audit", "replay", "--until", &until, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["state"]["positions"][0]["net"], 10);
    assert_eq!(json["until_seq"], first_fill);

    // Before anything traded: flat.
    let start = asta(d, &["audit", "replay", "--until", "1", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&start.stdout).unwrap();
    assert_eq!(json["state"]["positions"].as_array().map(Vec::len), Some(0));

    // Past the end: an input error that says where the trail ends.
    let past = asta(d, &["audit", "replay", "--until", "999999"]);
    assert_eq!(past.status.code(), Some(3), "{}", text(&past));
    assert!(
        text(&past).contains("the trail ends at record"),
        "{}",
        text(&past)
    );
}
