//! The kill switch, status and reset against a trading session running in
//! another process (this test binary, re-executed as the session), through
//! the real `asta` binary:
//!
//! - the session answers: `asta kill` exits 0, the session's open order is
//!   cancelled, its next order is refused HALTED, the trail shows who did
//!   it; a flatten with a wrong code does nothing and is recorded;
//! - the session is stopped (SIGSTOP): `asta kill` writes the halt marker
//!   and cancels at a fake OpenAlgo server directly (exit 8); after SIGCONT
//!   the session refuses every new order; the next session links the
//!   control trail, which verifies; `asta risk reset` removes the marker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asta_broker::{
    Broker, Confirm, ConfirmRefusal, ConfirmRequest, ControlConfig, ControlServer, Guard,
    OpenAlgoBroker, OpenAlgoConfig, SandboxBroker, ServerMode, VaultTotpVerifier,
};
use asta_cli::config::Config;
use asta_cli::context::{chain_key, open_audit, open_vault};
use asta_core::{
    Clock, Exchange, ManualClock, MarketCalendar, OrderRequest, PriceType, Product, Quantity, Side,
    StrategyTag, Symbol, TradingMode,
};
use asta_risk::{RiskEngine, StateStore};
use asta_vault::Scope;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

mod support;
use support::fake_openalgo::FakeOpenAlgo;
use support::{asta_with_stdin as asta, enrolled_secret, text, totp_now};

const CHILD_DIR: &str = "ASTA_CONTROL_CHILD_DIR";
const INSTRUMENTS: &str = "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\nNSE,SBIN,0.05,1,,,\n";
const RISK: &str = "[risk]\ncapital = \"1000000\"\nmax_order_quantity = 100\nmax_order_notional = \"100000\"\nmax_gross_exposure = \"500000\"\n";

// ---------------------------------------------------------------- helpers

/// A project directory: config, instruments, vault, risk state, TOTP.
fn project(extra_config: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("asta.toml"), format!("{extra_config}{RISK}")).unwrap();
    std::fs::write(d.join("instruments.csv"), INSTRUMENTS).unwrap();
    assert!(asta(d, &["vault", "init"], "").status.success());
    let init = asta(d, &["risk", "init"], "");
    assert!(init.status.success(), "{}", text(&init));
    let secret = enrolled_secret(&text(&asta(d, &["totp", "enroll"], "")));
    (dir, secret)
}

/// Every record of the trail in `dir` (read after its writer closed it).
fn records(dir: &Path) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn actions(records: &[Value], action: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["action"] == action)
        .cloned()
        .collect()
}

fn my_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid()
}

// ---------------------------------------------------------- the session

/// The trading session in its own process.
struct Session {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Session {
    fn start(dir: &Path) -> Session {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "control_session_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut session = Session {
            child,
            stdin,
            lines,
        };
        assert_eq!(session.next("READY"), "READY");
        session
    }

    /// The next line starting with one of the child's answer words.
    fn next(&mut self, expect: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no {expect} from the session"));
            // libtest may print `test name ... ` in front of the output.
            let line = line.rsplit("... ").next().unwrap_or_default();
            if ["READY", "PLACED", "REFUSED", "OPEN", "BYE", "FAILED"]
                .iter()
                .any(|w| line.starts_with(w))
            {
                return line.to_owned();
            }
        }
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
        self.next(command)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn quit(mut self) {
        assert_eq!(self.ask("quit"), "BYE");
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Confirms live trading for the child's session against the fake server.
struct Yes;

#[async_trait::async_trait]
impl Confirm for Yes {
    async fn confirm(&self, _request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        Ok(())
    }
}

/// The child: a session from the project directory (sandbox, or live
/// against the configured OpenAlgo URL), serving its control socket and
/// trading on command from standard input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the trading session of the control tests; runs only when they start it"]
async fn control_session_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR).map(PathBuf::from) else {
        return;
    };
    let config = Config::from_file(&dir.join("asta.toml")).unwrap();
    let vault = open_vault(&config).unwrap();
    let audit = open_audit(&config, &vault).unwrap();
    let key = chain_key(&config, &vault).unwrap();
    // Friday 27 November 2026, 10:00 IST: inside market hours.
    let manual = ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 27, 4, 30, 0).unwrap());
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let catalog =
        Arc::new(asta_core::InstrumentCatalog::from_path(&config.instruments_path()).unwrap());
    let risk = RiskEngine::open(
        config.file.risk.clone().unwrap(),
        Arc::clone(&catalog),
        Arc::new(MarketCalendar::bundled().unwrap()),
        Arc::clone(&clock),
        StateStore::dangerous_in_memory(),
    )
    .unwrap();
    let vault = Arc::new(Mutex::new(vault));
    let verifier = Arc::new(VaultTotpVerifier::shared_entry(
        Arc::clone(&vault),
        &config.file.security.totp_entry,
        Arc::new(asta_core::SystemClock),
    ));
    let sbin = Symbol::new("SBIN").unwrap();
    let broker: Box<dyn Broker> = if config.file.trading.mode.is_live() {
        let api_key = vault
            .lock()
            .unwrap()
            .api_key("openalgo.api_key", &Scope::trade(), Utc::now())
            .unwrap();
        let mut openalgo = OpenAlgoConfig::new(&config.file.broker.url);
        openalgo.server_mode = ServerMode::Live;
        Box::new(OpenAlgoBroker::new(&openalgo, api_key, Arc::clone(&clock)).unwrap())
    } else {
        let sandbox = SandboxBroker::new(Arc::clone(&clock));
        sandbox.set_quote(
            Exchange::Nse,
            &sbin,
            asta_broker::Quote::last("800".parse().unwrap(), manual.now()).unwrap(),
        );
        Box::new(sandbox)
    };
    let mut guard_config = asta_broker::GuardConfig::default();
    guard_config.mode = config.file.trading.mode;
    guard_config.allow_live_trading = config.file.trading.allow_live_trading;
    guard_config.check_fills_after_place = false;
    let mut builder = Guard::builder(broker, catalog, risk, audit.clone(), Arc::clone(&clock))
        .config(guard_config)
        .halt_marker(config.halt_marker_path())
        .control_trail(config.control_audit_dir(), key);
    if config.file.trading.mode == TradingMode::Live {
        builder = builder.confirm(Arc::new(Yes));
    }
    let guard = Arc::new(builder.build().await.unwrap());
    guard
        .on_quote(Exchange::Nse, &sbin, "800".parse().unwrap())
        .await;
    let server = ControlServer::start(
        Arc::clone(&guard),
        ControlConfig::new(config.control_socket_path()).totp_verifier(verifier),
    )
    .await
    .unwrap();

    let (tx, mut commands) = tokio::sync::mpsc::channel::<String>(8);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    println!("READY");
    let mut price_step = 0u64;
    while let Some(command) = commands.recv().await {
        match command.as_str() {
            "place" => {
                price_step += 1;
                let price = format!("{}", 790 - price_step);
                let order = OrderRequest::builder()
                    .symbol(sbin.clone())
                    .exchange(Exchange::Nse)
                    .side(Side::Buy)
                    .price_type(PriceType::Limit)
                    .product(Product::Mis)
                    .quantity(Quantity::new(1).unwrap())
                    .price(price.parse().unwrap())
                    .strategy(StrategyTag::new("momentum").unwrap())
                    .build()
                    .unwrap();
                match guard.place_order(&order).await {
                    Ok(id) => println!("PLACED {id}"),
                    Err(error) => println!(
                        "REFUSED {} {error}",
                        asta_core::PublicCode::public_code(&error)
                    ),
                }
            }
            "open" => match guard.get_ref().order_book().await {
                Ok(book) => println!(
                    "OPEN {}",
                    book.iter().filter(|o| o.state().may_be_working()).count()
                ),
                Err(error) => println!("FAILED {error}"),
            },
            "quit" => break,
            other => println!("FAILED unknown command {other}"),
        }
    }
    server.shutdown();
    drop(guard);
    audit.close().unwrap();
    println!("BYE");
}

// ------------------------------------------------------------ the tests

#[test]
fn kill_reaches_a_running_session_which_cancels_and_refuses_the_next_order() {
    let (dir, secret) = project("");
    let d = dir.path();
    let mut session = Session::start(d);
    assert!(session.ask("place").starts_with("PLACED"));
    assert_eq!(session.ask("open"), "OPEN 1");

    let status = asta(d, &["status", "--json"], "");
    assert!(status.status.success(), "{}", text(&status));
    let json: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["trading_state"], "ACTIVE");
    assert_eq!(json["risk"]["open_orders"], json!(1));

    let kill = asta(
        d,
        &[
            "kill",
            "--reason",
            "runaway strategy",
            "--operator",
            "alice",
        ],
        "",
    );
    let out = text(&kill);
    assert_eq!(kill.status.code(), Some(0), "{out}");
    assert!(out.contains("PATH: the running session answered"), "{out}");
    assert!(out.contains("cancelled: 1 order(s)"), "{out}");
    assert!(out.contains("Stop confirmed by the session"), "{out}");

    let refused = session.ask("place");
    assert!(refused.starts_with("REFUSED HALTED"), "{refused}");
    assert_eq!(session.ask("open"), "OPEN 0");

    // A flatten with a wrong code: halted again (idempotent), nothing
    // closed, the refusal recorded; exit 4.
    let flatten = asta(d, &["kill", "--flatten"], "000000\n");
    assert_eq!(flatten.status.code(), Some(4), "{}", text(&flatten));
    assert!(text(&flatten).contains("positions were NOT closed"));

    // Status and reset go through the session too.
    let human = text(&asta(d, &["status"], ""));
    assert!(human.contains("trading state: HALTED"), "{human}");
    assert!(human.contains("latched breaker"), "{human}");
    let wrong = asta(d, &["risk", "reset"], "000000\n");
    assert_eq!(wrong.status.code(), Some(4), "{}", text(&wrong));
    let reset = asta(d, &["risk", "reset"], &format!("{}\n", totp_now(&secret)));
    assert!(reset.status.success(), "{}", text(&reset));
    assert!(text(&reset).contains("the running session reset: trading state ACTIVE"));
    assert!(session.ask("place").starts_with("PLACED"));
    session.quit();

    // The trail shows who did it, and verifies.
    let trail = records(&d.join("audit"));
    let halts: Vec<Value> = actions(&trail, "control_command")
        .into_iter()
        .filter(|r| r["details"]["cmd"] == "halt")
        .collect();
    assert_eq!(halts.len(), 2, "{halts:?}");
    let first = &halts[0];
    assert_eq!(first["details"]["uid"], json!(my_uid()));
    assert_eq!(first["details"]["operator"], "alice");
    assert_eq!(first["actor"], first["details"]["user"]);
    assert_eq!(first["details"]["result"]["result"]["cancelled"], json!(1));
    assert_eq!(actions(&trail, "flatten_refused").len(), 1);
    assert!(actions(&trail, "close_all_intent").is_empty());
    let verify = asta(d, &["audit", "verify"], "");
    assert!(verify.status.success(), "{}", text(&verify));

    // No session now: status shows the saved state and says so.
    let status = asta(d, &["status"], "");
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stderr).contains("no session listens"));
}

#[test]
fn kill_json_through_a_running_session_is_one_object_with_the_same_exit_code() {
    let (dir, _secret) = project("");
    let d = dir.path();
    let mut session = Session::start(d);
    let placed = session.ask("place");
    let id = placed
        .strip_prefix("PLACED ")
        .unwrap_or_else(|| panic!("{placed}"))
        .to_owned();

    let kill = asta(d, &["kill", "--json", "--reason", "json stop"], "");
    assert_eq!(kill.status.code(), Some(0), "{}", text(&kill));
    // Nothing but the JSON object on standard output.
    let report: Value =
        serde_json::from_slice(&kill.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&kill)));
    assert_eq!(report["path"], "session", "{report}");
    assert_eq!(report["confirmed"], true, "{report}");
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["halted"], true, "{report}");
    assert_eq!(report["cancelled"], json!([id]), "{report}");
    assert_eq!(report["failures"], json!([]), "{report}");
    assert_eq!(report["exit"], json!(0), "{report}");
    assert!(
        report["reason"].as_str().unwrap().contains("json stop"),
        "{report}"
    );
    assert!(session.ask("place").starts_with("REFUSED HALTED"));

    // A flatten with a wrong code: still one object (the halt happened),
    // the error in it and on standard error, exit 4 as without --json; the
    // code is in neither.
    let flatten = asta(d, &["kill", "--json", "--flatten"], "917253\n");
    assert_eq!(flatten.status.code(), Some(4), "{}", text(&flatten));
    let report: Value = serde_json::from_slice(&flatten.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&flatten)));
    assert_eq!(report["path"], "session", "{report}");
    assert_eq!(report["halted"], true, "{report}");
    assert_eq!(report["complete"], false, "{report}");
    assert_eq!(report["exit"], json!(4), "{report}");
    assert!(report["error"].is_string(), "{report}");
    assert!(
        String::from_utf8_lossy(&flatten.stderr).contains("error:"),
        "{}",
        text(&flatten)
    );
    assert!(!text(&flatten).contains("917253"), "{}", text(&flatten));
    session.quit();
}

/// What a live session and its kill ask the fake OpenAlgo.
fn live_answers() -> [(&'static str, Value); 5] {
    [
        (
            "placeorder",
            json!({"status": "success", "orderid": "1001"}),
        ),
        (
            "analyzer",
            json!({
                "status": "success",
                "data": {"analyze_mode": false, "message": "Analyzer mode is off", "mode": "live", "total_logs": 0}
            }),
        ),
        (
            "cancelallorder",
            json!({
                "status": "success",
                "canceled_orders": ["1001"],
                "failed_cancellations": [],
                "message": "Canceled 1 orders. Failed to cancel 0 orders."
            }),
        ),
        ("positionbook", json!({"status": "success", "data": []})),
        (
            "orderbook",
            json!({"status": "success", "data": {"orders": [], "statistics": {}}}),
        ),
    ]
}

#[test]
fn a_stopped_session_gets_a_marker_and_its_orders_are_cancelled_at_the_broker() {
    let server = FakeOpenAlgo::start(&live_answers());
    let (dir, secret) = project(&format!(
        "[trading]\nmode = \"live\"\nallow_live_trading = true\n[broker]\nurl = \"{}\"\n",
        server.url
    ));
    let d = dir.path();
    let key = asta(
        d,
        &[
            "vault",
            "set",
            "openalgo.api_key",
            "--api-key",
            "--scope",
            "trade",
            "--scope",
            "read",
        ],
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    );
    assert!(key.status.success(), "{}", text(&key));

    let mut session = Session::start(d);
    assert_eq!(session.ask("place"), "PLACED 1001");
    assert_eq!(server.count("placeorder"), 1);

    session.signal("-STOP");
    let kill = asta(d, &["kill", "--reason", "session frozen"], "");
    let out = text(&kill);
    assert_eq!(kill.status.code(), Some(8), "{out}");
    assert!(out.contains("treating it as hung"), "{out}");
    assert!(out.contains("halt marker written"), "{out}");
    assert!(
        out.contains("cancelled 1 open order(s) at the broker directly"),
        "{out}"
    );
    assert!(out.contains("did NOT confirm"), "{out}");
    assert_eq!(server.count("cancelallorder"), 1);
    assert!(d.join("run/HALTED").exists());

    // Again with --json while it is still stopped: one object, exit 8 too.
    let again = asta(d, &["kill", "--json", "--reason", "session frozen"], "");
    assert_eq!(again.status.code(), Some(8), "{}", text(&again));
    let report: Value =
        serde_json::from_slice(&again.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&again)));
    assert_eq!(report["path"], "hung", "{report}");
    assert_eq!(report["confirmed"], false, "{report}");
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["halted"], Value::Null, "{report}");
    assert_eq!(report["marker_written"], true, "{report}");
    assert_eq!(report["cancelled"], json!(["1001"]), "{report}");
    assert_eq!(report["failures"], json!([]), "{report}");
    assert_eq!(report["exit"], json!(8), "{report}");
    assert!(report["unreachable"].is_string(), "{report}");
    assert_eq!(server.count("cancelallorder"), 2);

    // Resumed: it refuses every new order, and none reaches the broker.
    session.signal("-CONT");
    for _ in 0..2 {
        let refused = session.ask("place");
        assert!(refused.starts_with("REFUSED HALTED"), "{refused}");
    }
    assert_eq!(server.count("placeorder"), 1);
    session.quit();

    // The control trail verifies on its own ...
    let control_dir = d.join("audit-control");
    let control = records(&control_dir);
    assert_eq!(control[0]["action"], "hung_session_kill");
    assert_eq!(control[0]["details"]["uid"], json!(my_uid()));
    assert!(!actions(&control, "cancel_all_done").is_empty());
    let config = Config::from_file(&d.join("asta.toml")).unwrap();
    let vault = open_vault(&config).unwrap();
    let chain = chain_key(&config, &vault).unwrap();
    let verified = asta_audit::verify(&control_dir, &chain, None)
        .unwrap()
        .into_result()
        .unwrap();

    // ... and the next session links it, and starts halted.
    let mut next = Session::start(d);
    assert!(next.ask("place").starts_with("REFUSED HALTED"));
    next.quit();
    let main = records(&d.join("audit"));
    let linked = actions(&main, "control_trail_linked");
    let last = linked.last().unwrap();
    assert_eq!(last["details"]["records"], json!(verified.records));
    assert_eq!(
        last["details"]["head_mac"]
            .as_str()
            .unwrap()
            .replace('-', ""),
        verified.head.unwrap().mac.to_string()
    );

    // With no session, a TOTP reset removes the marker (recorded).
    let reset = asta(d, &["risk", "reset"], &format!("{}\n", totp_now(&secret)));
    assert!(reset.status.success(), "{}", text(&reset));
    assert!(!d.join("run/HALTED").exists());
    assert!(!actions(&records(&d.join("audit")), "halt_marker_removed").is_empty());
    let verify = asta(d, &["audit", "verify"], "");
    assert!(verify.status.success(), "{}", text(&verify));
}
