//! Run with: cargo run --example core_tour
//!
//! A tour of asta-core end to end: parse untrusted text into exact domain
//! types, build orders, check them against an instrument catalog and the NSE
//! calendar, and turn a failure into a safe public error.

use std::error::Error;

use asta_core::{
    Clock, ErrorCode, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, OrderRequest,
    Price, PriceType, Product, PublicError, Quantity, Side, StrategyTag, Symbol,
};
use chrono::{TimeZone, Utc};
use chrono_tz::Asia::Kolkata;

const CATALOG: &str = "\
exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper
NSE,SBIN,0.05,1,,720.1,880.1
NSE,M&M,0.05,1,,,
NSE,BAJAJ-AUTO,0.5,1,,,
NFO,NIFTY28NOV2424000CE,0.05,75,1800,,
CDS,USDINR10MAY2482.5CE,0.0025,1,10001,,
";

fn main() -> Result<(), Box<dyn Error>> {
    println!("== Parsing untrusted text");
    for text in [
        "RELIANCE",
        "M&M",
        "BAJAJ-AUTO",
        "NIFTY28NOV2424000CE",
        "sbin",
        "SBIN;DROP",
        "SBIN ",
    ] {
        match Symbol::new(text) {
            Ok(symbol) => println!("  symbol {text:?} -> {symbol}"),
            Err(e) => println!("  symbol {text:?} refused: {e}"),
        }
    }
    for text in [
        "800.05",
        "800.50",
        "0.0025",
        "1e3",
        "NaN",
        "1,000",
        "800.00001",
        "-5",
    ] {
        match text.parse::<Price>() {
            Ok(price) => println!("  price {text:?} -> {price}"),
            Err(e) => println!("  price {text:?} refused: {e}"),
        }
    }
    let broker_float = Price::from_broker_decimal("800.04999999999995")?;
    println!(
        "  broker JSON 800.04999999999995 -> {broker_float} (rounded to 1/10000, ties away from zero)"
    );

    println!("\n== Orders against the instrument catalog");
    let catalog = InstrumentCatalog::from_csv_reader(CATALOG.as_bytes())?;
    let strategy = StrategyTag::new("core_tour")?;
    let orders = [
        ("SBIN", Exchange::Nse, Product::Cnc, 10, Some("800.05")),
        ("SBIN", Exchange::Nse, Product::Cnc, 10, Some("800.03")),
        ("SBIN", Exchange::Nse, Product::Cnc, 10, Some("900")),
        (
            "NIFTY28NOV2424000CE",
            Exchange::Nfo,
            Product::Nrml,
            150,
            Some("120.05"),
        ),
        (
            "NIFTY28NOV2424000CE",
            Exchange::Nfo,
            Product::Nrml,
            70,
            Some("120.05"),
        ),
        (
            "NIFTY28NOV2424000CE",
            Exchange::Nfo,
            Product::Nrml,
            1800,
            Some("120.05"),
        ),
        ("INFY", Exchange::Nse, Product::Cnc, 1, Some("1500")),
    ];
    for (symbol, exchange, product, quantity, price) in orders {
        let mut builder = OrderRequest::builder()
            .symbol(Symbol::new(symbol)?)
            .exchange(exchange)
            .side(Side::Buy)
            .price_type(PriceType::Limit)
            .product(product)
            .quantity(Quantity::new(quantity)?)
            .strategy(strategy.clone());
        if let Some(price) = price {
            builder = builder.price(price.parse()?);
        }
        let order = builder.build()?;
        let notional = order.price().map(|p| p.notional(order.quantity()));
        match catalog.check_order(&order) {
            Ok(instrument) => println!(
                "  OK       {quantity} {symbol} @ {} (notional {}) on {instrument}",
                order.price().map(|p| p.to_string()).unwrap_or_default(),
                notional.map(|n| n.to_string()).unwrap_or_default()
            ),
            Err(e) => println!("  REFUSED  {e}"),
        }
    }
    let bad = OrderRequest::builder()
        .symbol(Symbol::new("SBIN")?)
        .exchange(Exchange::Nse)
        .side(Side::Buy)
        .price_type(PriceType::Market)
        .product(Product::Cnc)
        .quantity(Quantity::new(1)?)
        .price("800".parse()?)
        .strategy(strategy)
        .build();
    if let Err(e) = bad {
        println!("  REFUSED  {e}");
    }

    println!("\n== The NSE calendar (IST, whatever this machine's zone)");
    let calendar = MarketCalendar::bundled()?;
    println!("  calendar data version {}", calendar.version());
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 3, 35, 0)
            .single()
            .ok_or("bad date")?,
    );
    for minutes in [0, 5, 10, 365, 370, 400] {
        let at = clock.now() + chrono::TimeDelta::minutes(minutes);
        let local = at.with_timezone(&Kolkata);
        for product in [Product::Cnc, Product::Mis] {
            let verdict = match calendar.check_order_entry(Exchange::Nse, product, at) {
                Ok(phase) => format!("accepted ({phase:?})"),
                Err(e) => format!("refused: {e}"),
            };
            println!("  {} IST  {product}: {verdict}", local.format("%a %H:%M"));
        }
    }
    let after_close = clock.now() + chrono::TimeDelta::hours(10);
    if let Some(next) = calendar.next_open(Exchange::Nse, after_close) {
        println!(
            "  next NSE open after Friday's close: {} IST",
            next.with_timezone(&Kolkata).format("%a %Y-%m-%d %H:%M")
        );
    }

    println!("\n== A safe public error");
    let public = PublicError::new(ErrorCode::BrokerUnavailable);
    println!("  {public}");
    println!("  {}", serde_json::to_string(&public)?);
    Ok(())
}
