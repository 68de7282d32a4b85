//! The `asta serve` gateway under load: 8 concurrent OpenAlgo clients,
//! 1,000 `placeorder` calls each over loopback HTTP/1.1 keep-alive, with
//! what the gateway adds per order, the audit trail counted afterwards and
//! the account's limit shown exact (issue 13).
//!
//! Run with: cargo bench -p asta-cli --bench gateway_load
//!
//! It is a plain `main` (`harness = false`, no criterion): a load test is one
//! long measured run, not a loop of tiny samples. It prints a report and
//! exits non-zero (a panic with the reason) when an audit record is missing,
//! the trail does not verify, or the limit was not exact. The p99 target is
//! reported, never asserted: timings on a shared machine are not a test.
//!
//! # Setup
//!
//! Each phase gets a fresh sandbox project in a temporary directory, made
//! by the real `asta init`, with:
//!
//! - risk limits far above 8,000 one-share orders, except the account's
//!   orders per day, set to 7,500: exactly 7,500 must be accepted and 500
//!   refused with 429 (counted by the clients and in the trail), however the
//!   8 clients interleave;
//! - 8 client keys of `trade` scope, each bound to its own strategy
//!   (`load0`..`load7`), one per client, issued through the vault's own
//!   `issue_client_key` (`asta keys issue` would need 8 fresh TOTP codes,
//!   minutes of waiting, and tests that path already); the keys never
//!   appear in the output;
//! - `[sandbox] always_open` and the sandbox quotes of `asta init`, so
//!   MARKET orders fill; each client alternates BUY and SELL of one SBIN
//!   share (CNC), so positions and margin stay bounded.
//!
//! SEBI's 10 orders a second (which the risk engine enforces and the
//! configuration cannot raise) would hold 8,000 orders to 13 minutes of
//! wall-clock time. So the session runs on a clock that moves 101 ms at
//! every reading (as the `side_by_side` bench gives its risk engine):
//! no second ever holds more than 10 risk decisions, every limit stays
//! exact, and orders go as fast as the machine allows. That needs
//! `Session::dangerous_open_sandbox_on_clock` (sandbox only). Latencies are
//! measured with `Instant`, never with that clock. The virtual clock starts
//! at 09:15 IST of the current IST date and the run checks that the virtual
//! day did not roll over (which would reset the day's count).
//!
//! # What is measured, and how
//!
//! The session is the library's: `Session` (guard over `SandboxBroker`,
//! audit trail on disk, risk state from the trail, the guard's periodic
//! sync and the key watcher as `asta serve` runs them), `Gateway` behind
//! `api_router`, served by the library's `serve` (hyper HTTP/1, the
//! gateway's limits) on 127.0.0.1 in this process, on a runtime with 2
//! worker threads (`asta serve`'s default). The clients are reqwest on a
//! second runtime (2 threads), each bound to its own loopback address
//! (127.0.0.11..18), one keep-alive connection each (opened by an untimed
//! `ping` first), placing its 1,000 orders one after the other.
//!
//! Per order, in the same run, paired (each client is sequential, so its
//! k-th answer is the k-th request the gateway saw from its address):
//!
//! - **end-to-end**: the client's time from sending the request to having
//!   read the whole response;
//! - **guard+broker**: the time of the gateway's call to the guard (the
//!   guard's checks, the durable intent's fdatasync, the sandbox broker,
//!   the outcome, and encoding the answer), reported by the gateway's
//!   `observe_calls` hook on the request's task;
//! - **inside the gateway**: the time inside `Gateway::handle` (a wrapper
//!   `ApiHandler` times it).
//!
//! **Gateway overhead = end-to-end - guard+broker**, order by order: what
//! the gateway adds (HTTP/1 parsing and writing, routing, the body read,
//! the key check, parsing the order, the permission check, the
//! `gateway_request` record, the loopback round trip and the client's own
//! work), with the guard's fdatasync (group-committed across the 8
//! clients, and what dominates end-to-end on this machine) out of the
//! picture. It is split into HTTP (end-to-end - inside the gateway) and the
//! gateway's own work around the guard call (inside - guard). The p99
//! target (< 2 ms) is judged on the overhead.
//!
//! For reference, an identical fresh twin session (same configuration,
//! clock and runtime) takes the same 8 x 1,000 orders from 8 tasks straight
//! through `session.guard()`, in the same process, interleaved ABBA with
//! the gateway phases (round 1: gateway then direct; round 2: direct then
//! gateway) so drift in the machine's load falls on both sides: the guard's
//! latency and orders/s without a gateway in front.
//!
//! The clients share the machine's cores with the session (loopback has no
//! other choice), so on a loaded 2-core machine much of the HTTP share is
//! time spent waiting for a core. The monitor's first-order-in-symbol
//! warnings (one per strategy per session) appear on standard error.
//!
//! # Afterwards
//!
//! The session is closed as `asta serve` closes it (listener drained, last
//! sync, `Session::close`: risk snapshot, `serve_stopped`, trail closed).
//! Then the trail is read back and counted: a `place_intent` and a
//! `place_accepted` record for every accepted order (the order ids the
//! clients received, each accepted record's ticket matching an intent), a
//! `place_refused` record for every refusal, a `gateway_request` record for
//! every call (gateway phases), and `asta audit verify` must pass.
#![allow(missing_docs, reason = "a bench binary")]
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "bench fixtures are set up once; a failure should stop the bench"
)]
#![allow(
    clippy::cast_precision_loss,
    clippy::float_arithmetic,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "rates, ratios and percentiles of timings, not money"
)]

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asta_broker::{Broker, BrokerError};
use asta_cli::config::Config;
use asta_cli::context::open_vault;
use asta_cli::serve::{ApiHandler, Gateway, Limits, QuoteFeed, Session, api_router, serve};
use asta_core::{
    Clock, ErrorCode, Exchange, InstrumentCatalog, OrderRequest, PriceType, Product, PublicCode,
    Quantity, Side, StrategyTag, Symbol,
};
use asta_vault::{ClientScope, ExposeSecret};
use axum::http::StatusCode;
use chrono::{DateTime, FixedOffset, NaiveTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Barrier, watch};

const CLIENTS: usize = 8;
const ORDERS_PER_CLIENT: usize = 1_000;
const TOTAL: usize = CLIENTS * ORDERS_PER_CLIENT;
/// The account's orders per day: the one limit the run hits.
const DAY_LIMIT: usize = 7_500;
/// The issue's target for the gateway's p99 overhead per order.
const TARGET_P99: Duration = Duration::from_millis(2);
/// How often the guard polls the broker, as in `asta serve`.
const SYNC_INTERVAL: Duration = Duration::from_secs(5);

/// Appended to `asta init`'s configuration, whose last section is `[risk]`:
/// the keys before the first header land in it.
const LOAD_RISK: &str = "
quote_max_age_ms = 604800000
duplicate_window_ms = 1
max_open_orders = 100000
[risk.rate_limits.account]
per_second = 10
per_minute = 7500
per_day = 7500
[risk.rate_limits.strategy]
per_second = 10
per_minute = 100000
per_day = 100000
[risk.rate_limits.segment]
per_second = 10
per_minute = 100000
per_day = 100000
[risk.breakers]
max_rejections = 100000
";

// ------------------------------------------------------------------ clock

/// A clock that moves 101 ms at every reading: no second ever holds more
/// than 10 risk decisions, whatever the tasks do.
#[derive(Debug)]
struct SlotClock {
    start: DateTime<Utc>,
    readings: AtomicI64,
}

impl SlotClock {
    /// 09:15 IST on the current IST date.
    fn at_open_bell() -> SlotClock {
        let ist = FixedOffset::east_opt(5 * 3_600 + 1_800).expect("IST");
        let today = Utc::now().with_timezone(&ist).date_naive();
        let bell = today
            .and_time(NaiveTime::from_hms_opt(9, 15, 0).expect("time"))
            .and_local_timezone(ist)
            .single()
            .expect("IST has no gaps")
            .with_timezone(&Utc);
        SlotClock {
            start: bell,
            readings: AtomicI64::new(0),
        }
    }

    fn ist_date(at: DateTime<Utc>) -> chrono::NaiveDate {
        let ist = FixedOffset::east_opt(5 * 3_600 + 1_800).expect("IST");
        at.with_timezone(&ist).date_naive()
    }

    /// Panics if the virtual clock left the IST day it started on (the
    /// day's order count would have reset, and "exact" would mean nothing).
    fn assert_same_day(&self) {
        let readings = self.readings.load(Ordering::Relaxed);
        let last = self.start + TimeDelta::milliseconds(readings * 101);
        assert_eq!(
            SlotClock::ist_date(self.start),
            SlotClock::ist_date(last),
            "the virtual clock rolled over the IST day after {readings} readings; the day limit was reset"
        );
    }
}

impl Clock for SlotClock {
    fn now(&self) -> DateTime<Utc> {
        let n = self.readings.fetch_add(1, Ordering::Relaxed);
        self.start + TimeDelta::milliseconds(n * 101)
    }
}

// ---------------------------------------------------------------- project

/// A sandbox project made by `asta init`, with the load's limits.
struct Project {
    dir: tempfile::TempDir,
    config: Config,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        asta_ok(d, &["init"]);
        let path = d.join("asta.toml");
        let text = std::fs::read_to_string(&path).expect("asta.toml");
        assert!(
            text.trim_end().contains("[risk]") && text.contains("always_open = true"),
            "asta init's configuration changed shape: this bench appends to its [risk] section"
        );
        let text = text
            .replace("capital = \"1000000\"", "capital = \"1000000000\"")
            .replace(
                "max_gross_exposure = \"2000000\"",
                "max_gross_exposure = \"1000000000\"",
            );
        std::fs::write(&path, format!("{text}{LOAD_RISK}")).expect("write asta.toml");
        let config = Config::from_file(&path).expect("the bench's configuration is valid");
        Project { dir, config }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Issues one `trade` key per client, bound to the client's strategy;
    /// the values, in client order (never printed).
    fn issue_keys(&self) -> Vec<String> {
        let mut vault = open_vault(&self.config).expect("vault");
        (0..CLIENTS)
            .map(|k| {
                let tag = StrategyTag::new(&strategy(k)).expect("tag");
                let issued = vault
                    .issue_client_key(
                        &format!("load{k}"),
                        ClientScope::Trade,
                        Some(tag),
                        TimeDelta::days(90),
                    )
                    .expect("issue a client key");
                issued.key.expose_secret().to_owned()
            })
            .collect()
    }

    /// The session on a fresh slot clock, its sandbox priced.
    async fn open_session(&self) -> (Arc<Session>, Arc<SlotClock>) {
        let clock = Arc::new(SlotClock::at_open_bell());
        let vault = open_vault(&self.config).expect("vault");
        let session = Session::dangerous_open_sandbox_on_clock(
            &self.config,
            vault,
            Arc::clone(&clock) as Arc<dyn Clock>,
        )
        .await
        .expect("the session opens");
        let sandbox = &self.config.file.sandbox;
        let prices = sandbox.starting_quotes().expect("quotes");
        let catalog =
            InstrumentCatalog::from_path(&self.config.instruments_path()).expect("catalog");
        let feed = QuoteFeed::new(
            prices,
            &catalog,
            sandbox.random_walk_bps,
            Duration::from_millis(sandbox.interval_ms()),
        );
        assert!(!feed.is_empty(), "asta init prices no instrument");
        feed.tick(&session).await;
        (Arc::new(session), clock)
    }
}

fn strategy(client: usize) -> String {
    format!("load{client}")
}

fn side(order: usize) -> Side {
    if order.is_multiple_of(2) {
        Side::Buy
    } else {
        Side::Sell
    }
}

/// Runs `asta ARGS` in `dir`; panics with its output if it fails. Returns
/// standard output.
fn asta_ok(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_asta"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run asta");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "asta {args:?} failed: {text}");
    text
}

/// The session's background tasks, as `asta serve` runs them: the key
/// watcher and the guard's periodic sync.
fn background(session: &Arc<Session>) -> tokio::task::JoinSet<()> {
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(Arc::clone(session.keys()).watch());
    let guard = Arc::clone(session.guard());
    tasks.spawn(async move {
        loop {
            tokio::time::sleep(SYNC_INTERVAL).await;
            let _ = guard.sync().await;
        }
    });
    tasks
}

/// Stops the background tasks and closes the session as `asta serve` does.
async fn close(session: Arc<Session>, mut tasks: tokio::task::JoinSet<()>) {
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let _ = session.guard().sync().await;
    session.close("bench").await.expect("the session closes");
}

// ------------------------------------------------------------ the gateway

tokio::task_local! {
    /// The guard call's time of the request this task is answering, set by
    /// the gateway's call observer.
    static GUARD_CALL: Cell<Option<Duration>>;
}

/// One `placeorder` as the gateway saw it.
#[derive(Debug, Clone, Copy)]
struct Handled {
    /// Inside `Gateway::handle`.
    inside: Duration,
    /// Inside the gateway's guard call (none if refused before it).
    guard: Option<Duration>,
}

/// The gateway, with what each `placeorder` spent inside it and inside its
/// guard call, per source address, in arrival order.
struct TimedGateway {
    inner: Gateway,
    handled: Mutex<HashMap<IpAddr, Vec<Handled>>>,
}

impl TimedGateway {
    fn new(session: Arc<Session>, limits: &Limits) -> TimedGateway {
        let inner = Gateway::new(session, limits).observe_calls(|took| {
            let _ = GUARD_CALL.try_with(|slot| slot.set(Some(took)));
        });
        TimedGateway {
            inner,
            handled: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl ApiHandler for TimedGateway {
    async fn handle(&self, path: &str, body: &[u8], peer: SocketAddr) -> (StatusCode, Vec<u8>) {
        let started = Instant::now();
        let (answer, guard) = GUARD_CALL
            .scope(Cell::new(None), async {
                let answer = self.inner.handle(path, body, peer).await;
                (answer, GUARD_CALL.with(Cell::get))
            })
            .await;
        let inside = started.elapsed();
        if path == "placeorder" {
            self.handled
                .lock()
                .unwrap()
                .entry(peer.ip())
                .or_default()
                .push(Handled { inside, guard });
        }
        answer
    }

    fn refusal(&self, status: StatusCode, message: &str) -> Value {
        self.inner.refusal(status, message)
    }
}

fn client_address(client: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 11 + client as u8])
}

/// What one client saw.
#[derive(Default)]
struct ClientRun {
    latencies: Vec<Duration>,
    order_ids: Vec<String>,
    refused: usize,
    /// Any answer other than 200 with an order id or 429.
    unexpected: Vec<String>,
}

async fn client(client: usize, key: String, base: String, start: Arc<Barrier>) -> ClientRun {
    let http = reqwest::Client::builder()
        .local_address(client_address(client))
        .http1_only()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let bodies: Vec<String> = (0..ORDERS_PER_CLIENT)
        .map(|i| {
            json!({"apikey": key, "strategy": strategy(client), "symbol": "SBIN",
                   "action": side(i).to_string(), "exchange": "NSE", "pricetype": "MARKET",
                   "product": "CNC", "quantity": "1"})
            .to_string()
        })
        .collect();
    // The keep-alive connection, opened before the clock starts.
    let ping = http
        .post(format!("{base}/ping"))
        .header("content-type", "application/json")
        .body(json!({"apikey": key}).to_string())
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200, "ping refused: is the key accepted?");
    let _ = ping.bytes().await;
    drop(key);
    let url = format!("{base}/placeorder");
    let mut run = ClientRun {
        latencies: Vec::with_capacity(ORDERS_PER_CLIENT),
        ..ClientRun::default()
    };
    start.wait().await;
    for body in bodies {
        let sent = Instant::now();
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("placeorder");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("answer");
        run.latencies.push(sent.elapsed());
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match (status, answer["orderid"].as_str()) {
            (200, Some(id)) => run.order_ids.push(id.to_owned()),
            (429, _) => run.refused += 1,
            _ => run.unexpected.push(format!("{status} {answer}")),
        }
    }
    run
}

/// What a phase measured.
struct Phase {
    latencies: Vec<Duration>,
    /// Time inside the gateway, paired with `latencies` (gateway phases).
    inside: Vec<Duration>,
    /// Time inside the gateway's guard call, paired (gateway phases).
    guard: Vec<Duration>,
    accepted: usize,
    refused: usize,
    wall: Duration,
    records: Records,
}

fn gateway_phase(
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
) -> Phase {
    let project = Project::new();
    let keys = project.issue_keys();
    let (session, clock, tasks, limits) = server_rt.block_on(async {
        let (session, clock) = project.open_session().await;
        let tasks = background(&session);
        let limits = Limits::from_config(&project.config.file.serve);
        (session, clock, tasks, limits)
    });
    let gateway = Arc::new(TimedGateway::new(Arc::clone(&session), &limits));
    let router = api_router(Arc::clone(&gateway) as Arc<dyn ApiHandler>, limits);
    let listener = server_rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    let (stop_tx, stop_rx) = watch::channel(false);
    let served = server_rt.spawn(serve(
        listener,
        router,
        None,
        limits,
        stop_rx,
        Duration::from_secs(30),
    ));

    // reqwest is built without a crypto provider; plain HTTP still wants one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = format!("http://{addr}/api/v1");
    let (runs, wall) = client_rt.block_on(async {
        let start = Arc::new(Barrier::new(CLIENTS + 1));
        let handles: Vec<_> = keys
            .into_iter()
            .enumerate()
            .map(|(k, key)| tokio::spawn(client(k, key, base.clone(), Arc::clone(&start))))
            .collect();
        start.wait().await;
        let began = Instant::now();
        let mut runs = Vec::new();
        for handle in handles {
            runs.push(handle.await.expect("client task"));
        }
        (runs, began.elapsed())
    });

    stop_tx.send(true).expect("stop");
    let served = server_rt.block_on(served).expect("serve task");
    assert_eq!(served.abandoned, 0, "a connection was cut off at the stop");
    let handled_by_ip = std::mem::take(&mut *gateway.handled.lock().unwrap());
    drop(gateway);
    server_rt.block_on(close(session, tasks));
    clock.assert_same_day();

    let mut latencies = Vec::with_capacity(TOTAL);
    let mut inside = Vec::with_capacity(TOTAL);
    let mut guard = Vec::with_capacity(TOTAL);
    let mut order_ids = Vec::new();
    let mut refused = 0;
    for (k, run) in runs.into_iter().enumerate() {
        assert!(
            run.unexpected.is_empty(),
            "client {k} got answers other than 200 or 429: {:?}",
            &run.unexpected[..run.unexpected.len().min(5)]
        );
        let handled = handled_by_ip
            .get(&client_address(k))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            handled.len(),
            run.latencies.len(),
            "client {k}: the gateway timed a different number of orders than the client sent"
        );
        latencies.extend(&run.latencies);
        for h in handled {
            inside.push(h.inside);
            guard.push(h.guard.unwrap_or_else(|| {
                panic!("client {k}: an order was answered without a guard call")
            }));
        }
        refused += run.refused;
        order_ids.extend(run.order_ids);
    }
    let records = check_trail(&project, &order_ids, refused, true);
    Phase {
        latencies,
        inside,
        guard,
        accepted: order_ids.len(),
        refused,
        wall,
        records,
    }
}

// ------------------------------------------------------- the guard twin

fn direct_phase(server_rt: &tokio::runtime::Runtime) -> Phase {
    let project = Project::new();
    let (session, clock, tasks, outcome, wall) = server_rt.block_on(async {
        let (session, clock) = project.open_session().await;
        let tasks = background(&session);
        let start = Arc::new(Barrier::new(CLIENTS + 1));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|k| {
                let session = Arc::clone(&session);
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    let orders: Vec<OrderRequest> = (0..ORDERS_PER_CLIENT)
                        .map(|i| {
                            OrderRequest::builder()
                                .symbol(Symbol::new("SBIN").expect("symbol"))
                                .exchange(Exchange::Nse)
                                .side(side(i))
                                .price_type(PriceType::Market)
                                .product(Product::Cnc)
                                .quantity(Quantity::new(1).expect("quantity"))
                                .strategy(StrategyTag::new(&strategy(k)).expect("tag"))
                                .build()
                                .expect("order")
                        })
                        .collect();
                    let guard = Arc::clone(session.guard());
                    let mut latencies = Vec::with_capacity(ORDERS_PER_CLIENT);
                    let mut ids = Vec::new();
                    let mut refused = 0;
                    let mut unexpected = Vec::new();
                    start.wait().await;
                    for order in &orders {
                        let sent = Instant::now();
                        let result = guard.place_order(order).await;
                        latencies.push(sent.elapsed());
                        match result {
                            Ok(id) => ids.push(id.as_str().to_owned()),
                            Err(e) if rate_limited(&e) => refused += 1,
                            Err(e) => unexpected.push(e.to_string()),
                        }
                    }
                    (latencies, ids, refused, unexpected)
                })
            })
            .collect();
        start.wait().await;
        let began = Instant::now();
        let mut outcome = Vec::new();
        for handle in handles {
            outcome.push(handle.await.expect("task"));
        }
        (session, clock, tasks, outcome, began.elapsed())
    });
    server_rt.block_on(close(session, tasks));
    clock.assert_same_day();
    let mut latencies = Vec::with_capacity(TOTAL);
    let mut order_ids = Vec::new();
    let mut refused = 0;
    for (k, (l, ids, r, unexpected)) in outcome.into_iter().enumerate() {
        assert!(
            unexpected.is_empty(),
            "task {k}: refusals other than the rate limit: {:?}",
            &unexpected[..unexpected.len().min(5)]
        );
        latencies.extend(l);
        order_ids.extend(ids);
        refused += r;
    }
    let records = check_trail(&project, &order_ids, refused, false);
    Phase {
        latencies,
        inside: Vec::new(),
        guard: Vec::new(),
        accepted: order_ids.len(),
        refused,
        wall,
        records,
    }
}

fn rate_limited(error: &BrokerError) -> bool {
    matches!(error.root(), BrokerError::Refused { code, .. } if *code == ErrorCode::RateLimited)
        || error.public_code() == ErrorCode::RateLimited
}

// ------------------------------------------------------------ the trail

/// The records counted in a phase's trail.
#[derive(Debug, Default, Clone, Copy)]
struct Records {
    intents: usize,
    accepted: usize,
    refused: usize,
    gateway_requests: usize,
}

/// Every record of the trail in `dir`.
fn read_records(dir: &Path) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("audit dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .expect("segment")
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("a record is JSON"))
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Counts the orders' records in the closed trail and checks them against
/// what the clients saw; then `asta audit verify`. Panics on any gap, and
/// when the day limit was not exact.
fn check_trail(project: &Project, order_ids: &[String], refused: usize, gateway: bool) -> Records {
    let accepted = order_ids.len();
    assert_eq!(
        (accepted, refused),
        (DAY_LIMIT, TOTAL - DAY_LIMIT),
        "the day limit was not exact: {accepted} accepted and {refused} refused, expected {DAY_LIMIT} and {}",
        TOTAL - DAY_LIMIT
    );
    let distinct: BTreeSet<&str> = order_ids.iter().map(String::as_str).collect();
    assert_eq!(distinct.len(), accepted, "an order id was given twice");

    let trail = read_records(&project.config.audit_dir());
    let action = |r: &Value| r["action"].as_str().unwrap_or_default().to_owned();
    let mut intent_tickets = BTreeSet::new();
    let mut accepted_ids = BTreeSet::new();
    let mut accepted_tickets = Vec::new();
    let mut records = Records::default();
    for r in &trail {
        match action(r).as_str() {
            "place_intent" => {
                records.intents += 1;
                intent_tickets.insert(r["details"]["ticket"].as_u64());
            }
            "place_accepted" => {
                records.accepted += 1;
                accepted_ids.insert(
                    r["details"]["order_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
                accepted_tickets.push(r["details"]["ticket"].as_u64());
            }
            "place_refused" => records.refused += 1,
            "gateway_request" if r["details"]["endpoint"] == "placeorder" => {
                records.gateway_requests += 1;
            }
            _ => {}
        }
    }
    assert_eq!(records.intents, accepted, "place_intent records");
    assert_eq!(records.accepted, accepted, "place_accepted records");
    assert_eq!(records.refused, refused, "place_refused records");
    if gateway {
        assert_eq!(records.gateway_requests, TOTAL, "gateway_request records");
    }
    let missing: Vec<&&str> = distinct
        .iter()
        .filter(|id| !accepted_ids.contains(**id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "accepted orders without a place_accepted record: {missing:?}"
    );
    assert!(
        accepted_tickets
            .iter()
            .all(|t| t.is_some() && intent_tickets.contains(t)),
        "a place_accepted record whose ticket has no place_intent"
    );
    let verify = asta_ok(project.path(), &["audit", "verify"]);
    assert!(
        verify.contains("OK") || verify.contains("intact"),
        "asta audit verify: {verify}"
    );
    records
}

// ----------------------------------------------------------- the report

/// The nearest-rank quantile `q` of sorted `samples`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(mut samples: Vec<Duration>) -> Vec<Duration> {
    samples.sort_unstable();
    samples
}

fn us(d: Duration) -> String {
    format!("{:>9.1}", d.as_secs_f64() * 1e6)
}

fn row(name: &str, sorted: &[Duration]) {
    println!(
        "  {name:<52}{}{}{}{}",
        us(quantile(sorted, 0.50)),
        us(quantile(sorted, 0.90)),
        us(quantile(sorted, 0.99)),
        us(sorted.last().copied().unwrap_or_default())
    );
}

fn header() {
    println!(
        "  {:<52}{:>9}{:>9}{:>9}{:>9}   (microseconds)",
        "", "p50", "p90", "p99", "max"
    );
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unavailable".to_owned())
}

/// The per-order series of the gateway phases, pooled.
#[derive(Default)]
struct Series {
    e2e: Vec<Duration>,
    guard: Vec<Duration>,
    overhead: Vec<Duration>,
    http: Vec<Duration>,
    around: Vec<Duration>,
    direct: Vec<Duration>,
}

impl Series {
    fn add(&mut self, gateway: &Phase, direct: &Phase) {
        for ((e2e, inside), guard) in gateway
            .latencies
            .iter()
            .zip(&gateway.inside)
            .zip(&gateway.guard)
        {
            self.e2e.push(*e2e);
            self.guard.push(*guard);
            self.overhead.push(e2e.saturating_sub(*guard));
            self.http.push(e2e.saturating_sub(*inside));
            self.around.push(inside.saturating_sub(*guard));
        }
        self.direct.extend(&direct.latencies);
    }

    fn print(self) -> Duration {
        let overhead = sorted(self.overhead);
        header();
        row("end-to-end, client through the gateway", &sorted(self.e2e));
        row(
            "guard+broker, timed inside the gateway",
            &sorted(self.guard),
        );
        row(
            "GATEWAY OVERHEAD (end-to-end - guard), per order",
            &overhead,
        );
        row(
            "  of which HTTP (end-to-end - Gateway::handle)",
            &sorted(self.http),
        );
        row(
            "  of which key, parse, permission, record",
            &sorted(self.around),
        );
        row(
            "guard+broker called directly (twin session)",
            &sorted(self.direct),
        );
        quantile(&overhead, 0.99)
    }
}

fn report_phase(name: &str, phase: &Phase) {
    println!(
        "  {name:<8}{:>6.0} orders/s ({TOTAL} in {:.2} s); accepted {}, refused with 429 {}; trail: {} place_intent, {} place_accepted, {} place_refused{}; asta audit verify OK",
        TOTAL as f64 / phase.wall.as_secs_f64(),
        phase.wall.as_secs_f64(),
        phase.accepted,
        phase.refused,
        phase.records.intents,
        phase.records.accepted,
        phase.records.refused,
        if phase.inside.is_empty() {
            String::new()
        } else {
            format!(", {} gateway_request", phase.records.gateway_requests)
        }
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // gets no quick mode (the test suite covers correctness). A filter that
    // names another bench means this one is not wanted.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "gateway_load is a load test: run it with `cargo bench -p asta-cli --bench gateway_load`"
        );
        return;
    }
    if args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .any(|f| !"gateway_load".contains(f.as_str()))
    {
        return;
    }
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "gateway load: {CLIENTS} clients x {ORDERS_PER_CLIENT} placeorder over loopback HTTP/1.1 keep-alive; account day limit {DAY_LIMIT}"
    );
    println!("machine: {cores} cores; load before: {}", loadavg());

    let mut all = Series::default();
    // ABBA: gateway then direct, then direct then gateway.
    for round in 1..=2 {
        let (gateway, direct) = if round == 1 {
            let g = gateway_phase(&server_rt, &client_rt);
            let d = direct_phase(&server_rt);
            (g, d)
        } else {
            let d = direct_phase(&server_rt);
            let g = gateway_phase(&server_rt, &client_rt);
            (g, d)
        };
        println!("\nround {round} (load now: {})", loadavg());
        let mut series = Series::default();
        series.add(&gateway, &direct);
        series.print();
        report_phase("gateway", &gateway);
        report_phase("direct", &direct);
        all.add(&gateway, &direct);
    }

    println!("\nboth rounds ({} orders each side)", 2 * TOTAL);
    let p99 = all.print();
    println!(
        "  target: gateway overhead p99 < 2 ms: {} ({:.2} ms)",
        if p99 < TARGET_P99 { "met" } else { "NOT met" },
        p99.as_secs_f64() * 1e3
    );
    println!("load after: {}", loadavg());
}
