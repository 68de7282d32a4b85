//! A sandbox trading session for the console's tests: a guard over
//! `SandboxBroker` on a manual clock (Friday 27 November 2026, 10:00 IST),
//! a temporary audit trail, fixed admin keys and a fixed TOTP code. The
//! keys and the code are canaries: tests check they never reach the trail
//! or a page.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::sync::Arc;
use std::time::Duration;

use asta_audit::{AuditConfig, AuditLog, ChainKey, read_records};
use asta_broker::{Broker, BrokerError, Guard, Quote, SandboxBroker};
use asta_cli::console::{self, AdminKeys, AdminRefusal, ConsoleDeps};
use asta_core::{
    Clock, Exchange, InstrumentCatalog, ManualClock, MarketCalendar, Money, OrderId, OrderRequest,
    Price, PriceType, Product, Quantity, Side, StrategyTag, Symbol,
};
use asta_risk::{RequiredLimits, RiskConfig, RiskEngine, StateStore, TotpRejection, TotpVerifier};
use chrono::{TimeZone, Utc};

/// The admin key (a canary: it must never be recorded or shown).
pub(crate) const ADMIN_KEY: &str = "asta-admin-CANARY-9f2c77e1d4";
/// A read-scoped key.
pub(crate) const READ_KEY: &str = "asta-read-CANARY-51ab0e93cc";
/// An expired admin key.
pub(crate) const EXPIRED_KEY: &str = "asta-admin-CANARY-expired-0d1";
/// The one TOTP code the verifier accepts (a canary too).
pub(crate) const TOTP: &str = "731954";

/// Fixed keys: `ops` (admin), `viewer` (read), `old-admin` (expired).
#[derive(Debug)]
pub(crate) struct FixedKeys;

impl AdminKeys for FixedKeys {
    fn check_admin(&self, presented: &str) -> Result<String, AdminRefusal> {
        match presented {
            ADMIN_KEY => Ok("ops".to_owned()),
            READ_KEY => Err(AdminRefusal::NotAdmin {
                name: "viewer".to_owned(),
                scope: "read".to_owned(),
            }),
            EXPIRED_KEY => Err(AdminRefusal::Expired {
                name: "old-admin".to_owned(),
            }),
            _ => Err(AdminRefusal::Unknown),
        }
    }
}

/// Accepts [`TOTP`] for any operator.
#[derive(Debug)]
pub(crate) struct FixedTotp;

impl TotpVerifier for FixedTotp {
    fn verify(&self, _operator: &str, code: &str) -> Result<(), TotpRejection> {
        if code == TOTP {
            Ok(())
        } else {
            Err(TotpRejection::WrongCode)
        }
    }
}

/// A running sandbox session.
pub(crate) struct Session {
    pub(crate) guard: Arc<Guard<SandboxBroker>>,
    pub(crate) clock: ManualClock,
    pub(crate) key: ChainKey,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) sbin: Symbol,
    price_ticks: std::sync::atomic::AtomicI64,
}

impl Session {
    /// A fresh session with SBIN quoted at 800.
    pub(crate) async fn start() -> Self {
        let clock = ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0)
                .single()
                .expect("valid instant"),
        );
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let catalog = Arc::new(
            InstrumentCatalog::from_csv_reader(
                "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n\
                 NSE,SBIN,0.05,1,,,\n"
                    .as_bytes(),
            )
            .expect("catalog"),
        );
        let risk = RiskEngine::open(
            RiskConfig::builder(RequiredLimits {
                capital: Money::from_rupees(1_000_000),
                max_order_quantity: 1_000,
                max_order_notional: Money::from_rupees(200_000),
                max_gross_exposure: Money::from_rupees(2_000_000),
            })
            .build()
            .expect("risk config"),
            Arc::clone(&catalog),
            Arc::new(MarketCalendar::bundled().expect("calendar")),
            Arc::clone(&shared),
            StateStore::dangerous_in_memory(),
        )
        .expect("risk engine");
        let dir = tempfile::tempdir().expect("temp dir");
        let key = ChainKey::from_bytes(&[7u8; 32]).expect("chain key");
        let audit = AuditLog::open(
            dir.path().join("audit"),
            key.clone(),
            AuditConfig::default(),
            Arc::clone(&shared),
        )
        .expect("audit log");
        let sandbox = SandboxBroker::new(Arc::clone(&shared));
        let sbin = Symbol::new("SBIN").expect("symbol");
        sandbox.set_quote(
            Exchange::Nse,
            &sbin,
            Quote::last("800".parse().expect("price"), clock.now()).expect("quote"),
        );
        let guard = Guard::builder(sandbox, catalog, risk, audit, shared)
            .build()
            .await
            .expect("guard");
        guard.quote(Exchange::Nse, &sbin).await.expect("quote");
        Session {
            guard: Arc::new(guard),
            clock,
            key,
            dir,
            sbin,
            price_ticks: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// The console's dependencies for this session.
    pub(crate) fn deps(&self, idle: Duration) -> ConsoleDeps<SandboxBroker> {
        ConsoleDeps::new(
            Arc::clone(&self.guard),
            Arc::new(FixedKeys),
            Arc::new(FixedTotp),
            self.key.clone(),
        )
        .idle_timeout(idle)
    }

    /// The console nested where `asta serve` puts it.
    pub(crate) fn app(&self, idle: Duration) -> axum::Router {
        axum::Router::new().nest(console::MOUNT, console::router(self.deps(idle)))
    }

    /// Moves SBIN's price by `ticks` of 0.05 (a second later), for the
    /// sandbox's fills and the risk engine's mark.
    pub(crate) async fn move_price(&self, ticks: i64) {
        self.clock.advance(chrono::Duration::seconds(1));
        self.quote(ticks).await;
    }

    async fn quote(&self, ticks: i64) {
        let now = self
            .price_ticks
            .fetch_add(ticks, std::sync::atomic::Ordering::SeqCst)
            + ticks;
        let paise = 80_000 + now * 5;
        let price: Price = format!("{}.{:02}", paise / 100, paise % 100)
            .parse()
            .expect("price");
        self.guard.get_ref().set_quote(
            Exchange::Nse,
            &self.sbin,
            Quote::last(price, self.clock.now()).expect("quote"),
        );
        self.guard.on_quote(Exchange::Nse, &self.sbin, price).await;
    }

    /// A client's market buy of `quantity` SBIN through the guard (seven
    /// seconds after the previous request, so the default rate limits of
    /// 10 a minute never bite).
    pub(crate) async fn buy(&self, quantity: u64) -> Result<OrderId, BrokerError> {
        self.clock.advance(chrono::Duration::seconds(6));
        self.quote(0).await;
        let order = OrderRequest::builder()
            .symbol(self.sbin.clone())
            .exchange(Exchange::Nse)
            .side(Side::Buy)
            .price_type(PriceType::Market)
            .product(Product::Mis)
            .quantity(Quantity::new(quantity).expect("quantity"))
            .strategy(StrategyTag::new("client").expect("tag"))
            .build()
            .expect("order");
        self.guard.place_order(&order).await
    }

    /// The trail's records as (action, actor, details as text).
    pub(crate) fn records(&self) -> Vec<(String, Option<String>, String)> {
        read_records(&self.dir.path().join("audit"), &self.key)
            .expect("trail")
            .map(|r| {
                let r = r.expect("record");
                (
                    r.action,
                    r.actor,
                    serde_json::Value::Object(r.details).to_string(),
                )
            })
            .collect()
    }

    /// Every byte under the session's directory (trail and all), to look
    /// for canaries.
    pub(crate) fn all_bytes(&self) -> Vec<u8> {
        fn walk(dir: &std::path::Path, out: &mut Vec<u8>) {
            for entry in std::fs::read_dir(dir).expect("dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.extend(bytes);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

/// Whether `haystack` contains `needle`.
pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}
