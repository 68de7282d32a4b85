//! Run with: cargo run --example sandbox_session
//!
//! A scripted sandbox session through the guard, with its audit trail in a
//! temporary directory: two fills, a rejection, a daily-loss breaker tripped
//! by falling marks, an emergency stop, and a verification of the trail.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use asta_audit::{AuditConfig, AuditLog, ChainKey, Verification, verify};
use asta_broker::{
    Alert, AlertDelivery, AlertError, AlertSink, Broker, Guard, Quote, SandboxBroker,
};
use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest, Price,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{RequiredLimits, RiskConfig, RiskEngine, StateStore};
use chrono::{TimeDelta, TimeZone, Utc};

/// Prints every alert (an `AlertSink` written without the `async_trait` macro).
#[derive(Debug)]
struct PrintAlerts;

impl AlertSink for PrintAlerts {
    fn send<'a, 'b, 'c>(
        &'a self,
        alert: &'b Alert,
    ) -> Pin<Box<dyn Future<Output = Result<AlertDelivery, AlertError>> + Send + 'c>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        Box::pin(async move {
            println!(
                "   ALERT [{:?}] {}: {} {:?}",
                alert.severity(),
                alert.kind(),
                alert.message(),
                alert.fields()
            );
            Ok(AlertDelivery::Delivered)
        })
    }
}

fn order(
    symbol: &Symbol,
    side: Side,
    quantity: u64,
    price: Option<Price>,
) -> Result<OrderRequest, Box<dyn Error>> {
    let builder = OrderRequest::builder()
        .symbol(symbol.clone())
        .exchange(Exchange::Nse)
        .side(side)
        .product(Product::Mis)
        .quantity(Quantity::new(quantity)?)
        .strategy(StrategyTag::new("demo")?);
    let builder = match price {
        Some(p) => builder.price_type(PriceType::Limit).price(p),
        None => builder.price_type(PriceType::Market),
    };
    Ok(builder.build()?)
}

async fn run() -> Result<(), Box<dyn Error>> {
    let tmp = tempfile::tempdir()?;
    // Friday 27 November 2026, 10:00 IST: inside NSE hours whenever this runs.
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0)
            .single()
            .ok_or("bad date")?,
    );
    let shared_clock: Arc<dyn Clock> = Arc::new(clock.clone());

    let catalog = Arc::new(InstrumentCatalog::from_csv_reader(
        "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
         NSE,SBIN,0.05,1,,,\n\
         NSE,INFY,0.1,1,,,\n"
            .as_bytes(),
    )?);
    let risk = RiskEngine::open(
        RiskConfig::builder(RequiredLimits {
            capital: Money::from_rupees(1_000_000),
            max_order_quantity: 1_000,
            max_order_notional: Money::from_rupees(200_000),
            max_gross_exposure: Money::from_rupees(2_000_000),
        })
        .build()?,
        Arc::clone(&catalog),
        Arc::new(MarketCalendar::bundled()?),
        Arc::clone(&shared_clock),
        StateStore::create_file(tmp.path().join("risk-state.json")),
    )?;
    // A demo key; in production: ChainKey::from_env("ASTA_AUDIT_KEY") or the vault.
    let key = ChainKey::from_bytes(&[7u8; 32])?;
    let audit_dir = tmp.path().join("audit");
    let audit = AuditLog::open(
        &audit_dir,
        key.clone(),
        AuditConfig::default(),
        Arc::clone(&shared_clock),
    )?;

    let sandbox = SandboxBroker::new(Arc::clone(&shared_clock));
    let sbin = Symbol::new("SBIN")?;
    let infy = Symbol::new("INFY")?;
    let quote = |ltp: &str| -> Result<Quote, Box<dyn Error>> {
        Ok(Quote::last(ltp.parse()?, clock.now())?)
    };
    sandbox.set_quote(Exchange::Nse, &sbin, quote("800")?);
    sandbox.set_quote(Exchange::Nse, &infy, quote("1500")?);

    // Sandbox is the default mode; the guard refuses a network broker in it.
    let guard = Guard::builder(
        sandbox.clone(),
        catalog,
        risk,
        audit.clone(),
        Arc::clone(&shared_clock),
    )
    .alert_sink(Arc::new(PrintAlerts))
    .build()
    .await?;
    println!("guard started in {} mode", guard.config().mode);

    // Quotes read through the guard become the risk engine's reference prices.
    guard.quote(Exchange::Nse, &sbin).await?;
    guard.quote(Exchange::Nse, &infy).await?;

    println!("\n1. Buy 100 SBIN at the market");
    let id = guard
        .place_order(&order(&sbin, Side::Buy, 100, None)?)
        .await?;
    let status = guard.order_status(&StrategyTag::new("demo")?, &id).await?;
    println!(
        "   {id}: {:?}, {} filled at {}",
        status.state(),
        status.filled_quantity(),
        status
            .average_price()
            .map_or_else(|| "-".into(), |p| p.to_string())
    );

    println!("\n2. Buy 20 INFY with a limit of 1490 (rests below the market)");
    clock.advance(TimeDelta::seconds(1));
    let resting = guard
        .place_order(&order(&infy, Side::Buy, 20, Some("1490".parse()?))?)
        .await?;
    println!("   {resting}: working");

    println!("\n3. A fat-finger order: buy 10 SBIN with a limit of 900 (12.5% above 800)");
    clock.advance(TimeDelta::seconds(1));
    match guard
        .place_order(&order(&sbin, Side::Buy, 10, Some("900".parse()?))?)
        .await
    {
        Ok(id) => println!("   unexpectedly placed as {id}"),
        Err(error) => {
            let public = error.public_error();
            println!("   refused: {error}");
            println!("   the user sees: {public}");
            println!(
                "   sent to the sandbox: {} orders in its book (the refused one is not there)",
                sandbox.order_book().await?.len()
            );
        }
    }

    println!("\n4. SBIN falls; each sync feeds the marks to the risk engine");
    for ltp in ["760", "600", "450"] {
        clock.advance(TimeDelta::seconds(30));
        sandbox.set_quote(Exchange::Nse, &sbin, quote(ltp)?);
        let report = guard.sync().await;
        let status = guard.risk_status();
        println!(
            "   SBIN {ltp}: daily loss {} of limit {} -> {}",
            status.daily_loss, status.daily_loss_limit, report.trading_state
        );
    }

    println!("\n5. Any new order is now refused");
    clock.advance(TimeDelta::seconds(1));
    if let Err(error) = guard.place_order(&order(&sbin, Side::Buy, 1, None)?).await {
        println!("   {}", error.public_error());
    }

    println!("\n6. Emergency stop");
    let report = guard
        .emergency_stop("daily loss breaker tripped in the demo")
        .await;
    println!(
        "   halted: {}, cancelled: {:?}, closed: {}, failures: {}, complete: {}",
        report.halted,
        report
            .cancelled
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>(),
        report.closed.len(),
        report.failures.len(),
        report.is_complete()
    );
    println!("   report: {}", serde_json::to_string(&report)?);
    let positions = sandbox.positions().await?;
    for p in &positions {
        println!(
            "   {} {}: net {}, realized {}",
            p.exchange(),
            p.symbol(),
            p.net_quantity(),
            p.realized_pnl()
        );
    }

    println!("\n7. Verify the audit trail");
    let checkpoint = audit.checkpoint().ok_or("the trail has no durable head")?;
    audit.close()?;
    match verify(&audit_dir, &key, Some(&checkpoint))? {
        Verification::Intact(v) => println!(
            "   intact: {} records, chained and authenticated",
            v.records
        ),
        Verification::Broken(finding) => {
            return Err(format!("audit trail broken: {finding}").into());
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}
