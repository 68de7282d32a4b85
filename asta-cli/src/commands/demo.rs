//! `asta demo [--dir DIR]`: a simulated trading session through the full guard.
//!
//! Everything is local and sandboxed: a fresh directory with a vault and its
//! 0600 key file, an audit trail, risk state and an instrument catalog; a
//! `SandboxBroker` wrapped in the `Guard`; a simulated clock on a trading day,
//! so the session runs the same whenever it is started. Nothing touches the
//! network or real money.

use std::path::Path;
use std::sync::{Arc, Mutex};

use asta_audit::{AuditConfig, AuditLog, Verification};
use asta_broker::{
    Broker, BrokerError, Guard, OrderState, Quote, SandboxBroker, SandboxConfig, VaultTotpVerifier,
};
use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderRequest, Price,
    PriceType, Product, Quantity, Side, StrategyTag, Symbol, TradingMode,
};
use asta_risk::{RiskEngine, StateStore};
use asta_vault::{KeyFile, TotpConfig, Vault, VaultOptions};
use chrono::{TimeDelta, TimeZone, Utc};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

use crate::cli::DemoArgs;
use crate::config::Config;
use crate::context::{chain_key, create_chain_key, vault_failure};
use crate::failure::{CommandResult, EXIT_OK, Failure};

/// The demo's instruments, as they stand on the simulated date (Friday
/// 27 November 2026): the NIFTY option is the December 2026 monthly
/// contract (expiry Tuesday 29 December 2026, lot 65). Sample data, not a
/// contract file: a test keeps every derivative here unexpired at
/// [`SIMULATED_START`].
const CATALOG: &str = "\
exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper
NSE,SBIN,0.05,1,,640,960
NSE,RELIANCE,0.1,1,,2000,3000
NSE,INFY,0.1,1,,1200,1800
NFO,NIFTY29DEC2626500CE,0.05,65,1755,,
";

/// The simulated instant (UTC year, month, day, hour, minute): Friday
/// 27 November 2026, 10:00 IST, inside NSE hours on a trading day.
const SIMULATED_START: (i32, u32, u32, u32, u32) = (2026, 11, 27, 4, 30);

const CONFIG: &str = "\
# Written by `asta demo`. Try: asta --config THIS_FILE audit verify
[trading]
mode = \"sandbox\"

[paths]
instruments = \"instruments.csv\"

[risk]
capital = \"1000000\"
max_order_quantity = 5000
max_order_notional = \"300000\"
max_gross_exposure = \"2000000\"
";

/// One line of the session table.
struct Row {
    step: String,
    order: String,
    decision: String,
    detail: String,
}

/// Runs the demo and prints its summary.
pub fn run(args: &DemoArgs) -> CommandResult {
    let dir = match &args.dir {
        Some(dir) => {
            if dir.join("vault.asta").exists() {
                return Err(Failure::already_exists(
                    "the demo needs a fresh directory; give another --dir or none",
                    anyhow::anyhow!("{} already holds a vault", dir.display()),
                ));
            }
            crate::commands::vault::create_private_dir(dir)?;
            dir.clone()
        }
        None => tempfile::Builder::new()
            .prefix("asta-demo-")
            .tempdir()
            .map_err(|e| Failure::internal("cannot create a temporary directory", e))?
            .keep(),
    };
    crate::say!("ASTA demo: a simulated session in sandbox mode (no network, no money)");
    crate::say!("working directory: {}\n", dir.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal("cannot start the async runtime", e))?;
    runtime.block_on(session(&dir))
}

async fn session(dir: &Path) -> CommandResult {
    // ---- Setup: files, keys, trail, risk, catalog --------------------------
    // `--dir` is a user-named place: new files only, never through a link.
    super::init::write_new(&dir.join("asta.toml"), CONFIG, 0o644)?;
    let config = Config::from_file(&dir.join("asta.toml"))
        .map_err(|e| Failure::internal("cannot read back asta.toml", e))?;
    super::init::write_new(&config.instruments_path(), CATALOG, 0o644)?;

    let (y, m, d, h, min) = SIMULATED_START;
    let start = Utc
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .ok_or_else(|| Failure::internal("bad demo date", anyhow::anyhow!("invalid instant")))?;
    let clock = Arc::new(ManualClock::new(start));
    let shared_clock: Arc<dyn Clock> = clock.clone();

    let key_path = config.key_file_path();
    if let Some(keys) = key_path.parent() {
        crate::commands::vault::create_private_dir(keys)?;
    }
    let key = KeyFile::generate(&key_path).map_err(vault_failure)?;
    let mut vault = Vault::create(
        config.vault_path(),
        &key,
        VaultOptions::new().with_clock(Arc::clone(&shared_clock)),
    )
    .map_err(vault_failure)?;
    create_chain_key(&config, &mut vault)?;
    vault
        .enroll_totp(
            &config.file.security.totp_entry,
            "ASTA demo",
            "operator",
            TotpConfig::default(),
        )
        .map_err(|e| Failure::internal("cannot enroll the demo TOTP secret", e))?;
    let audit_key = chain_key(&config, &vault)?;
    crate::say!(
        "  vault      {} (key file {}, mode 0600)",
        config.vault_path().display(),
        key_path.display()
    );

    let audit = AuditLog::open(
        config.audit_dir(),
        audit_key.clone(),
        AuditConfig::default(),
        Arc::clone(&shared_clock),
    )
    .map_err(|e| Failure::internal("cannot open the audit trail", e))?;
    crate::say!(
        "  audit      {} (HMAC chain, fsync per record)",
        config.audit_dir().display()
    );

    let catalog = Arc::new(
        InstrumentCatalog::from_path(&config.instruments_path())
            .map_err(|e| Failure::internal("cannot load the demo catalog", e))?,
    );
    let calendar = Arc::new(
        MarketCalendar::bundled().map_err(|e| Failure::internal("cannot load the calendar", e))?,
    );
    let risk_config = crate::context::risk_config(&config)?;
    let risk = RiskEngine::open(
        risk_config,
        Arc::clone(&catalog),
        calendar,
        Arc::clone(&shared_clock),
        StateStore::create_file(config.risk_state_path()),
    )
    .map_err(|e| Failure::internal("cannot open the risk state", e))?;
    crate::say!(
        "  risk state {} (capital 1000000, daily loss cap 3%, 8 orders/s)",
        config.risk_state_path().display()
    );
    crate::say!(
        "  catalog    {} ({} instruments)",
        config.instruments_path().display(),
        catalog.len()
    );
    crate::say!("  clock      simulated, Friday 2026-11-27 10:00 IST\n");

    let sandbox = SandboxBroker::with_config(Arc::clone(&shared_clock), SandboxConfig::default())
        .map_err(|e| Failure::internal("invalid sandbox configuration", e))?;
    let guard = Guard::builder(
        sandbox,
        Arc::clone(&catalog),
        risk,
        audit.clone(),
        Arc::clone(&shared_clock),
    )
    .mode(TradingMode::Sandbox)
    .build()
    .await
    .map_err(|e| {
        Failure::new(
            asta_core::PublicCode::public_code(&e),
            "see the audit trail",
            e,
        )
    })?;

    let strategy = StrategyTag::new("demo").map_err(|e| Failure::internal("bad tag", e))?;
    let mut prices: Vec<(Exchange, &str, &str)> = vec![
        (Exchange::Nse, "SBIN", "800"),
        (Exchange::Nse, "RELIANCE", "2500"),
        (Exchange::Nse, "INFY", "1500"),
        (Exchange::Nfo, "NIFTY29DEC2626500CE", "120"),
    ];
    let mut rows: Vec<Row> = Vec::new();

    // ---- Orders that fill, and one that rests -------------------------------
    feed_quotes(&guard, &clock, &prices).await?;
    let order =
        |symbol: &str, exchange, side, kind: PriceType, product, qty: u64, price: Option<&str>| {
            build_order(&strategy, symbol, exchange, side, kind, product, qty, price)
        };
    let plan = [
        (
            "fill",
            order(
                "SBIN",
                Exchange::Nse,
                Side::Buy,
                PriceType::Market,
                Product::Cnc,
                100,
                None,
            )?,
        ),
        (
            "fill",
            order(
                "RELIANCE",
                Exchange::Nse,
                Side::Buy,
                PriceType::Limit,
                Product::Cnc,
                20,
                Some("2500"),
            )?,
        ),
        (
            "fill",
            order(
                "NIFTY29DEC2626500CE",
                Exchange::Nfo,
                Side::Buy,
                PriceType::Market,
                Product::Nrml,
                65,
                None,
            )?,
        ),
        (
            "rest",
            order(
                "INFY",
                Exchange::Nse,
                Side::Buy,
                PriceType::Limit,
                Product::Cnc,
                10,
                Some("1450"),
            )?,
        ),
        (
            "off-tick price",
            order(
                "SBIN",
                Exchange::Nse,
                Side::Buy,
                PriceType::Limit,
                Product::Cnc,
                10,
                Some("800.03"),
            )?,
        ),
        (
            "wrong lot size",
            order(
                "NIFTY29DEC2626500CE",
                Exchange::Nfo,
                Side::Buy,
                PriceType::Market,
                Product::Nrml,
                60,
                None,
            )?,
        ),
        (
            "fat finger",
            order(
                "SBIN",
                Exchange::Nse,
                Side::Buy,
                PriceType::Limit,
                Product::Cnc,
                10,
                Some("880"),
            )?,
        ),
        (
            "exposure",
            order(
                "RELIANCE",
                Exchange::Nse,
                Side::Buy,
                PriceType::Limit,
                Product::Cnc,
                110,
                Some("2500"),
            )?,
        ),
    ];
    for (step, order) in &plan {
        rows.push(place(&guard, step, order).await);
    }
    // A symbol no exchange lists never becomes an order: asta-core refuses it.
    let bad = "INFY;DROP TABLE";
    rows.push(Row {
        step: "bad symbol".to_owned(),
        order: format!("BUY 1 {bad:?}"),
        decision: "INVALID_INPUT".to_owned(),
        detail: Symbol::new(bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    });

    // ---- A burst: 8 orders per second pass, the rest are refused -----------
    clock.advance(TimeDelta::seconds(61));
    feed_quotes(&guard, &clock, &prices).await?;
    for qty in 1..=10 {
        let order = order(
            "INFY",
            Exchange::Nse,
            Side::Buy,
            PriceType::Market,
            Product::Cnc,
            qty,
            None,
        )?;
        let row = place(&guard, "rate burst", &order).await;
        rows.push(row);
        clock.advance(TimeDelta::milliseconds(50));
    }

    // ---- The market falls: the daily-loss breaker trips --------------------
    clock.advance(TimeDelta::seconds(61));
    if let Some(sbin) = prices.iter_mut().find(|p| p.1 == "SBIN") {
        sbin.2 = "480";
    }
    feed_quotes(&guard, &clock, &prices).await?;
    let state = guard.trading_state();
    rows.push(Row {
        step: "market falls".to_owned(),
        order: "SBIN quote 800 -> 480".to_owned(),
        decision: format!("trading {state}"),
        detail: "mark-to-market loss above 3% of capital trips the daily-loss breaker".to_owned(),
    });
    let after = order(
        "SBIN",
        Exchange::Nse,
        Side::Buy,
        PriceType::Market,
        Product::Cnc,
        1,
        None,
    )?;
    rows.push(place(&guard, "after the trip", &after).await);
    let verifier = VaultTotpVerifier::shared_entry(
        Arc::new(Mutex::new(vault)),
        &config.file.security.totp_entry,
        Arc::clone(&shared_clock),
    );
    let reset = guard.reset("operator", "000000", &verifier).await;
    rows.push(Row {
        step: "operator reset".to_owned(),
        order: "-".to_owned(),
        decision: if reset.is_ok() {
            "RESET".to_owned()
        } else {
            "REFUSED".to_owned()
        },
        detail: match reset {
            Ok(()) => "trading reset".to_owned(),
            Err(e) => short(&e),
        },
    });

    // ---- Emergency stop ------------------------------------------------------
    let report = guard
        .emergency_stop("demo: operator pressed the kill switch")
        .await;
    rows.push(Row {
        step: "emergency stop".to_owned(),
        order: "-".to_owned(),
        decision: if report.is_complete() {
            "DONE".to_owned()
        } else {
            "INCOMPLETE".to_owned()
        },
        detail: format!(
            "halted; cancelled {} open order(s); closed {} position(s); {} failure(s)",
            report.cancelled.len(),
            report.closed.len(),
            report.failures.len()
        ),
    });

    // ---- Summary -------------------------------------------------------------
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(150)
        .set_header(["#", "step", "order", "decision", "detail"]);
    for (i, row) in rows.iter().enumerate() {
        table.add_row([
            (i + 1).to_string(),
            row.step.clone(),
            row.order.clone(),
            row.decision.clone(),
            row.detail.clone(),
        ]);
    }
    crate::say!("{table}\n");

    let positions = guard
        .positions()
        .await
        .map_err(|e| Failure::internal("the demo could not read its positions", e))?;
    let mut realized = Money::ZERO;
    let mut unrealized = Money::ZERO;
    for p in &positions {
        realized = realized.checked_add(p.realized_pnl()).unwrap_or(realized);
        unrealized = unrealized
            .checked_add(p.unrealized_pnl())
            .unwrap_or(unrealized);
    }
    crate::say!(
        "P&L: realized {realized}, unrealized {unrealized} (all positions closed by the stop)"
    );
    crate::say!("trading state: {}", guard.trading_state());

    audit
        .close()
        .map_err(|e| Failure::internal("cannot close the audit trail", e))?;
    match asta_audit::verify(&config.audit_dir(), &audit_key, None)
        .map_err(|e| Failure::internal("cannot verify the audit trail", e))?
    {
        Verification::Intact(v) => {
            let head = v
                .head
                .map(|h| format!("seq {} mac {}", h.seq, h.mac))
                .unwrap_or_else(|| "empty".to_owned());
            crate::say!(
                "audit trail: OK, {} records verified; head {head}",
                v.records
            );
        }
        Verification::Broken(finding) => {
            return Err(Failure::check_failed(
                "the demo's own audit trail failed verification: report a bug",
                anyhow::anyhow!("{finding}"),
            ));
        }
    }
    crate::say!(
        "\nInspect it: asta --config {} audit tail",
        dir.join("asta.toml").display()
    );
    Ok(EXIT_OK)
}

/// Sets each price as the sandbox's quote and feeds it to the risk engine
/// as the reference price and mark, at the clock's current instant.
async fn feed_quotes(
    guard: &Guard<SandboxBroker>,
    clock: &ManualClock,
    prices: &[(Exchange, &str, &str)],
) -> Result<(), Failure> {
    for (exchange, symbol, price) in prices {
        let symbol = Symbol::new(symbol).map_err(|e| Failure::internal("bad demo symbol", e))?;
        let price: Price = price
            .parse()
            .map_err(|e| Failure::internal("bad demo price", e))?;
        let quote =
            Quote::last(price, clock.now()).map_err(|e| Failure::internal("bad demo quote", e))?;
        guard.get_ref().set_quote(*exchange, &symbol, quote);
        guard.on_quote(*exchange, &symbol, price).await;
    }
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "one line per order in the script reads best"
)]
fn build_order(
    strategy: &StrategyTag,
    symbol: &str,
    exchange: Exchange,
    side: Side,
    price_type: PriceType,
    product: Product,
    quantity: u64,
    price: Option<&str>,
) -> Result<OrderRequest, Failure> {
    let bad =
        |e: &dyn std::fmt::Display| Failure::internal("bad demo order", anyhow::anyhow!("{e}"));
    let mut builder = OrderRequest::builder()
        .symbol(Symbol::new(symbol).map_err(|e| bad(&e))?)
        .exchange(exchange)
        .side(side)
        .price_type(price_type)
        .product(product)
        .quantity(Quantity::new(quantity).map_err(|e| bad(&e))?)
        .strategy(strategy.clone());
    if let Some(price) = price {
        builder = builder.price(price.parse().map_err(|e| bad(&e))?);
    }
    builder.build().map_err(|e| bad(&e))
}

fn describe(order: &OrderRequest) -> String {
    let price = order
        .price()
        .map(|p| format!(" @ {p}"))
        .unwrap_or_else(|| " @ MKT".to_owned());
    format!(
        "{} {} {}{} {}",
        order.side(),
        order.quantity(),
        order.symbol(),
        price,
        order.product()
    )
}

/// Places one order through the guard and describes the outcome.
async fn place(guard: &Guard<SandboxBroker>, step: &str, order: &OrderRequest) -> Row {
    let (decision, detail) = match guard.place_order(order).await {
        Ok(id) => match guard.order_status(order.strategy(), &id).await {
            Ok(status) if status.state() == OrderState::Complete => (
                "FILLED".to_owned(),
                format!(
                    "order {id} filled at {}",
                    status
                        .average_price()
                        .map(|p| p.to_string())
                        .unwrap_or_default()
                ),
            ),
            Ok(status) if status.state() == OrderState::Open => (
                "OPEN".to_owned(),
                format!("order {id} rests at the exchange"),
            ),
            Ok(status) => (
                format!("{:?}", status.state()).to_uppercase(),
                format!("order {id}"),
            ),
            Err(_) => ("PLACED".to_owned(), format!("order {id}")),
        },
        Err(error) => {
            let public = guard.public_error(&error).await;
            (public.code().to_string(), short(&error))
        }
    };
    Row {
        step: step.to_owned(),
        order: describe(order),
        decision,
        detail,
    }
}

/// The refusal reason without the reference (shown in its own column).
fn short(error: &BrokerError) -> String {
    let text = error.to_string();
    let text = text
        .strip_prefix("refused by the guard (")
        .and_then(|rest| rest.split_once("): "))
        .map_or(text.as_str(), |(_, reason)| reason);
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// The expiry in an NSE derivative symbol (`NIFTY29DEC2626500CE` is
    /// 29 December 2026): the seven characters after the underlying's letters.
    fn expiry(symbol: &str) -> NaiveDate {
        let rest = symbol.trim_start_matches(|c: char| c.is_ascii_alphabetic());
        let text = rest.get(..7).unwrap_or_default();
        NaiveDate::parse_from_str(text, "%d%b%y")
            .unwrap_or_else(|e| panic!("{symbol}: no expiry in {text:?}: {e}"))
    }

    #[test]
    fn every_demo_derivative_exists_at_the_simulated_date() {
        let (y, m, d, _, _) = SIMULATED_START;
        let today = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let derivatives: Vec<&str> = CATALOG
            .lines()
            .filter(|l| l.starts_with("NFO,") || l.starts_with("BFO,"))
            .filter_map(|l| l.split(',').nth(1))
            .collect();
        assert!(!derivatives.is_empty());
        for symbol in derivatives {
            assert!(
                expiry(symbol) >= today,
                "{symbol} expired before the simulated date {today}"
            );
        }
    }
}
