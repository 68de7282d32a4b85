//! Run with: cargo run --example risk_limits
//!
//! Shows asta-risk's pre-trade engine at work: an approval, every kind of
//! rejection (each naming its rule, limit and value), a daily-loss breaker
//! trip that halts trading, and an operator reset authorized by TOTP (a fake
//! verifier here; the real one adapts asta-vault's TOTP).

use std::error::Error;
use std::sync::Arc;

use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderId, OrderRequest,
    Price, PriceType, Product, PublicCode, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{
    FillReport, OrderContext, RateLimitConfig, Rejection, RequiredLimits, RiskConfig, RiskEngine,
    RiskEventKind, RiskLimits, StateScope, StateStore, TotpRejection, TotpVerifier, TradingState,
};
use chrono::{TimeDelta, TimeZone, Utc};

const CATALOG: &str = "\
exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper
NSE,SBIN,0.05,1,,700,900
NSE,INFY,0.05,1,,,
NSE,TCS,0.05,1,,,
NFO,NIFTY28NOV2424000CE,0.05,75,1800,,
";

/// Accepts one fixed code. A real verifier checks RFC 6238 codes with replay
/// protection and throttling (asta-vault).
#[derive(Debug)]
struct FakeTotp;

impl TotpVerifier for FakeTotp {
    fn verify(&self, operator: &str, code: &str) -> Result<(), TotpRejection> {
        if operator == "ops.lead" && code == "246810" {
            Ok(())
        } else {
            Err(TotpRejection::WrongCode)
        }
    }
}

fn p(text: &str) -> Result<Price, Box<dyn Error>> {
    Ok(text.parse()?)
}

fn order(
    symbol: &str,
    side: Side,
    quantity: u64,
    price: Option<&str>,
) -> Result<OrderRequest, Box<dyn Error>> {
    let mut builder = OrderRequest::builder()
        .symbol(Symbol::new(symbol)?)
        .exchange(Exchange::Nse)
        .side(side)
        .product(Product::Cnc)
        .quantity(Quantity::new(quantity)?)
        .strategy(StrategyTag::new("demo")?);
    builder = match price {
        Some(price) => builder.price_type(PriceType::Limit).price(p(price)?),
        None => builder.price_type(PriceType::Market),
    };
    Ok(builder.build()?)
}

fn show(label: &str, result: Result<impl std::fmt::Debug, Rejection>) {
    match result {
        Ok(approval) => println!("  {label:<28} APPROVED {approval:?}"),
        Err(rejection) => println!(
            "  {label:<28} {} [{}]: {rejection}",
            rejection.public_code(),
            rejection.rule()
        ),
    }
}

fn engine(config: RiskConfig, clock: &ManualClock) -> Result<RiskEngine, Box<dyn Error>> {
    Ok(RiskEngine::open(
        config,
        Arc::new(InstrumentCatalog::from_csv_reader(CATALOG.as_bytes())?),
        Arc::new(MarketCalendar::bundled()?),
        Arc::new(clock.clone()),
        StateStore::dangerous_in_memory(),
    )?)
}

fn main() -> Result<(), Box<dyn Error>> {
    // Capital 10 lakh: 30% per symbol (3 lakh), 3% daily loss (30,000).
    let config = RiskConfig::builder(RequiredLimits {
        capital: Money::from_rupees(1_000_000),
        max_order_quantity: 1_000,
        max_order_notional: Money::from_rupees(200_000),
        max_gross_exposure: Money::from_rupees(500_000),
    })
    .max_open_orders(5)
    .rate_limits(RateLimitConfig {
        max_modifications_per_order: 1,
        ..RateLimitConfig::default()
    })
    .build()?;
    // Friday 27 November 2026, 09:30 IST.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap());
    let mut risk = engine(config.clone(), &clock)?;
    let sbin = Symbol::new("SBIN")?;
    let infy = Symbol::new("INFY")?;
    let ctx = OrderContext::new();
    risk.update_quote(Exchange::Nse, &sbin, p("800")?);

    println!("== An approval");
    let first = order("SBIN", Side::Buy, 10, Some("800.05"))?;
    let approval = risk.check_order(&first, &ctx)?;
    println!(
        "  approved, ticket {} for notional {} (warnings: {:?})",
        approval.ticket, approval.notional, approval.warnings
    );
    let id = OrderId::new("260001")?;
    risk.order_opened(id.clone(), &first, Some(approval.ticket));

    println!("\n== Instrument rules (from the catalog)");
    show(
        "unknown instrument",
        risk.check_order(&order("WIPRO", Side::Buy, 1, Some("500"))?, &ctx),
    );
    let nifty = OrderRequest::builder()
        .symbol(Symbol::new("NIFTY28NOV2424000CE")?)
        .exchange(Exchange::Nfo)
        .side(Side::Buy)
        .price_type(PriceType::Limit)
        .product(Product::Nrml)
        .quantity(Quantity::new(70)?)
        .price(p("120")?)
        .strategy(StrategyTag::new("demo")?)
        .build()?;
    show("lot multiple", risk.check_order(&nifty, &ctx));
    let frozen = nifty.to_builder().quantity(Quantity::new(1800)?).build()?;
    show("freeze quantity", risk.check_order(&frozen, &ctx));
    show(
        "tick grid",
        risk.check_order(&order("SBIN", Side::Buy, 1, Some("800.03"))?, &ctx),
    );
    show(
        "price band",
        risk.check_order(&order("SBIN", Side::Buy, 1, Some("905"))?, &ctx),
    );

    println!("\n== Price collar and reference freshness");
    show(
        "collar (fat finger)",
        risk.check_order(&order("SBIN", Side::Buy, 1, Some("850"))?, &ctx),
    );
    show(
        "market, no reference",
        risk.check_order(&order("INFY", Side::Buy, 1, None)?, &ctx),
    );

    println!("\n== Size and exposure");
    risk.update_quote(Exchange::Nse, &infy, p("250")?);
    show(
        "quantity per order",
        risk.check_order(&order("INFY", Side::Buy, 1_001, Some("250"))?, &ctx),
    );
    show(
        "notional per order",
        risk.check_order(&order("INFY", Side::Buy, 900, Some("250"))?, &ctx),
    );
    risk.record_fill(&FillReport {
        exchange: Exchange::Nse,
        symbol: infy.clone(),
        product: Product::Cnc,
        side: Side::Buy,
        quantity: Quantity::new(1_000)?,
        price: p("250")?,
        strategy: StrategyTag::new("demo")?,
        order_id: None,
    });
    show(
        "position per symbol",
        risk.check_order(&order("INFY", Side::Buy, 250, Some("250"))?, &ctx),
    );
    let tcs = Symbol::new("TCS")?;
    risk.record_fill(&FillReport {
        exchange: Exchange::Nse,
        symbol: tcs.clone(),
        product: Product::Cnc,
        side: Side::Buy,
        quantity: Quantity::new(1_000)?,
        price: p("240")?,
        strategy: StrategyTag::new("demo")?,
        order_id: None,
    });
    risk.update_quote(Exchange::Nse, &tcs, p("240")?);
    show(
        "gross exposure",
        risk.check_order(&order("SBIN", Side::Buy, 20, Some("800"))?, &ctx),
    );
    let mut fresh = engine(config.clone(), &clock)?;
    fresh.update_quote(Exchange::Nse, &sbin, p("800")?);
    for i in 0..5 {
        fresh.check_order(&order("SBIN", Side::Buy, 1, Some(&format!("80{i}")))?, &ctx)?;
        clock.advance(TimeDelta::seconds(7));
        fresh.update_quote(Exchange::Nse, &sbin, p("800")?);
    }
    show(
        "open orders",
        fresh.check_order(&order("SBIN", Side::Buy, 1, Some("799"))?, &ctx),
    );

    println!("\n== Duplicates, rate limits, modifications");
    let wide = RiskConfig::new(RiskLimits {
        max_open_orders: 50,
        ..config.limits().clone()
    })?;
    let mut fast = engine(wide.clone(), &clock)?;
    let again = ctx.reference_price(p("800")?);
    let one = order("SBIN", Side::Buy, 1, Some("800"))?;
    let first_fast = fast.check_order(&one, &again)?;
    show("duplicate content", fast.check_order(&one, &again));
    let intentional = again.intentional_duplicate(true);
    for _ in 0..7 {
        fast.check_order(&one, &intentional)?;
    }
    show(
        "rate limit (8 per second)",
        fast.check_order(&one, &intentional),
    );
    fast.order_opened(id.clone(), &one, Some(first_fast.ticket));
    clock.advance(TimeDelta::seconds(1));
    let modified = one.to_builder().price(p("801")?).build()?;
    show(
        "first modification",
        fast.check_modify(&id, &modified, &again),
    );
    clock.advance(TimeDelta::seconds(1));
    show("modification cap", fast.check_modify(&id, &one, &again));
    println!("  a cancel always passes: {:?}", fast.check_cancel(&id));

    println!("\n== Trading hours and security monitor");
    let mut hours = engine(wide, &clock)?;
    clock.set(Utc.with_ymd_and_hms(2026, 11, 28, 5, 0, 0).unwrap()); // Saturday
    show("market closed", hours.check_order(&one, &again));
    clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 9, 50, 0).unwrap()); // 15:20 IST
    let mis = one.to_builder().product(Product::Mis).build()?;
    show("MIS cut-off", hours.check_order(&mis, &again));
    clock.set(Utc.with_ymd_and_hms(2026, 11, 27, 5, 0, 0).unwrap());
    for _ in 0..5 {
        hours.check_order(&one, &intentional)?;
        clock.advance(TimeDelta::seconds(7));
    }
    show(
        "unusual size",
        hours.check_order(&order("SBIN", Side::Buy, 50, Some("800"))?, &again),
    );
    for _ in 0..6 {
        hours.record_failed_login("203.0.113.9");
    }
    println!(
        "  6 failed logins from 203.0.113.9: blocked until {:?}",
        hours.login_blocked_until("203.0.113.9")
    );

    println!("\n== Reducing and halted states");
    let mut states = engine(config.clone(), &clock)?;
    states.update_quote(Exchange::Nse, &infy, p("250")?);
    states.record_fill(&FillReport {
        exchange: Exchange::Nse,
        symbol: infy.clone(),
        product: Product::Cnc,
        side: Side::Buy,
        quantity: Quantity::new(1_000)?,
        price: p("250")?,
        strategy: StrategyTag::new("demo")?,
        order_id: None,
    });
    states.set_reducing(StateScope::Account, "operator: wind down");
    show(
        "buy while REDUCING",
        states.check_order(&order("INFY", Side::Buy, 10, Some("250"))?, &ctx),
    );
    show(
        "sell while REDUCING",
        states.check_order(&order("INFY", Side::Sell, 10, Some("250"))?, &ctx),
    );

    states.reset_scope(
        StateScope::Account,
        TradingState::Active,
        "ops.lead",
        "246810",
        &FakeTotp,
    )?;
    println!(
        "  back to {} after a TOTP-authorized reset",
        states.trading_state()
    );

    println!("\n== Daily-loss breaker trip and TOTP reset");
    // INFY falls from 250 to 219.95: a loss of 30,050 on 1,000 shares, above 30,000.
    states.update_quote(Exchange::Nse, &infy, p("219.95")?);
    println!("  state after the mark: {}", states.trading_state());
    for event in states.drain_events() {
        if let RiskEventKind::BreakerTripped {
            breaker, detail, ..
        } = event.kind
        {
            println!("  breaker tripped: {breaker:?}: {detail}");
        }
    }
    show(
        "halted",
        states.check_order(&order("INFY", Side::Sell, 10, Some("220"))?, &ctx),
    );
    let wrong = states.reset_scope(
        StateScope::Account,
        TradingState::Reducing,
        "ops.lead",
        "000000",
        &FakeTotp,
    );
    println!("  reset with a wrong code: {wrong:?}");
    println!(
        "  reset to ACTIVE: {:?}",
        states.reset("ops.lead", "246810", &FakeTotp)
    );
    states.reset_scope(
        StateScope::Account,
        TradingState::Reducing,
        "ops.lead",
        "246810",
        &FakeTotp,
    )?;
    println!("  to REDUCING with TOTP: now {}", states.trading_state());
    show(
        "sell to cut the loss",
        states.check_order(&order("INFY", Side::Sell, 500, Some("220"))?, &ctx),
    );

    println!("\n== Events for the audit trail (last 4)");
    let mut last = engine(config, &clock)?;
    last.halt("emergency stop");
    last.reset("ops.lead", "246810", &FakeTotp)?;
    for event in last.drain_events().iter().rev().take(4).rev() {
        println!("  {}", serde_json::to_string(event)?);
    }
    println!("\n== Status at {}", clock.now());
    println!("{}", serde_json::to_string_pretty(&states.status())?);
    Ok(())
}
