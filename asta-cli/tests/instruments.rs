//! `asta instruments import` through the real binary, against a fake
//! OpenAlgo server on 127.0.0.1 answering `GET /api/v1/instruments` as
//! OpenAlgo's documentation and server source describe it: the catalog is
//! written 0600 and loads; bad rows are counted and shown; an existing file
//! is kept without --force; a symbolic link is refused; a server failure or
//! an all-bad list writes nothing; the API key (a canary) never appears in
//! any output or in the audit trail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use asta_core::{Exchange, InstrumentCatalog, Symbol};
use serde_json::{Value, json};

mod support;
use support::asta_with_stdin as asta;

/// The API key: 64 hex characters like a real OpenAlgo key, marked.
const CANARY: &str = "ca0a7c0ffee0ca0a7c0ffee0ca0a7c0ffee0ca0a7c0ffee0ca0a7c0ffee0cafe";

fn text(output: &Output) -> String {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains(CANARY), "the API key leaked: {all}");
    all
}

fn row(symbol: &str, exchange: &str, lotsize: Value, tick_size: Value) -> Value {
    json!({
        "symbol": symbol, "brsymbol": symbol, "name": symbol, "exchange": exchange,
        "brexchange": exchange, "token": "1", "expiry": "", "strike": -1.0,
        "lotsize": lotsize, "instrumenttype": "EQ", "tick_size": tick_size
    })
}

/// The fake's answer for one request path.
fn answer(path: &str) -> (u16, Value) {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .to_owned()
    };
    if !path.starts_with("/api/v1/instruments?") || param("apikey") != CANARY {
        // Echo the request, key included, as a careless server might.
        return (
            403,
            json!({"status": "error", "message": format!("Invalid openalgo apikey for {path}")}),
        );
    }
    let rows = match param("exchange").as_str() {
        "NSE" => vec![
            row("SBIN", "NSE", json!(1), json!(0.05)),
            row("sbin", "NSE", json!(1), json!(0.05)),
            row("RELIANCE", "NSE", json!(1), json!(0.05)),
            row("INFY", "NSE", json!(1), json!(0.0)),
            row("M&M", "NSE", json!(1), json!(0.05)),
        ],
        "NFO" => vec![
            row("NIFTY28NOV2424000CE", "NFO", json!("75"), json!("0.05")),
            row("NIFTY24DECFUT", "NFO", json!("25.0"), json!("0.10")),
        ],
        "BSE" => vec![
            row("bad one", "BSE", json!(1), json!(0.05)),
            row("TCS", "BSE", json!("x"), json!(0.05)),
        ],
        "MCX" => {
            return (
                500,
                json!({"status": "error", "message": format!("An error occurred for {path}")}),
            );
        }
        _ => vec![],
    };
    (
        200,
        json!({"status": "success", "message": format!("Found {} instruments", rows.len()), "data": rows}),
    )
}

/// A fake OpenAlgo server on 127.0.0.1 that records every request path.
struct Fake {
    url: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&paths);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || serve(stream, &seen));
            }
        });
        Self { url, paths }
    }

    fn calls(&self) -> usize {
        self.paths.lock().unwrap().len()
    }
}

fn serve(mut stream: std::net::TcpStream, seen: &Mutex<Vec<String>>) {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let mut first = head.split_whitespace();
        let method = first.next().unwrap_or("").to_owned();
        let path = first.next().unwrap_or("").to_owned();
        seen.lock().unwrap().push(path.clone());
        let (status, body) = if method == "GET" {
            answer(&path)
        } else {
            (405, json!({"status": "error", "message": "GET only"}))
        };
        let body = body.to_string();
        let reply = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A project with a vault holding the API key (read scope) and the fake's URL.
fn project(server: &Fake) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("asta.toml"),
        format!("[broker]\nurl = \"{}\"\n", server.url),
    )
    .unwrap();
    let init = asta(d, &["vault", "init"], "");
    assert!(init.status.success(), "{}", text(&init));
    let key = asta(
        d,
        &[
            "vault",
            "set",
            "openalgo.api_key",
            "--api-key",
            "--scope",
            "read",
        ],
        &format!("{CANARY}\n"),
    );
    assert!(key.status.success(), "{}", text(&key));
    dir
}

/// Every audit record in `dir`, checked for the canary.
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
            let content = std::fs::read_to_string(p).unwrap();
            assert!(!content.contains(CANARY), "the API key reached the trail");
            content
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn import_writes_a_private_catalog_that_loads_and_shows_refused_rows() {
    let server = Fake::start();
    let dir = project(&server);
    let d = dir.path();
    let out = asta(
        d,
        &[
            "instruments",
            "import",
            "--exchange",
            "NSE",
            "--exchange",
            "nfo",
        ],
        "",
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("NSE: 5 rows, 3 imported, 2 refused"),
        "{shown}"
    );
    assert!(
        shown.contains("NFO: 2 rows, 2 imported, 0 refused"),
        "{shown}"
    );
    assert!(
        shown.contains("imported 5 instruments; refused 2 rows"),
        "{shown}"
    );
    assert!(shown.contains("NSE row 2 (sbin): `symbol`"), "{shown}");
    assert!(
        shown.contains("NSE row 4 (INFY): tick size must be above zero"),
        "{shown}"
    );
    assert_eq!(server.calls(), 2);

    // The default path of the configuration, private, and a catalog that loads.
    let path = d.join("instruments.csv");
    assert_eq!(mode(&path), 0o600);
    let catalog = InstrumentCatalog::from_path(&path).unwrap();
    assert_eq!(catalog.len(), 5);
    let nifty = catalog
        .get(Exchange::Nfo, &Symbol::new("NIFTY28NOV2424000CE").unwrap())
        .unwrap();
    assert_eq!(nifty.lot_size().get(), 75);
    assert_eq!(nifty.tick_size().to_string(), "0.05");
    assert!(
        catalog
            .get(Exchange::Nse, &Symbol::new("INFY").unwrap())
            .is_err(),
        "a refused row must not be in the catalog"
    );

    // Recorded with names and counts.
    let trail = records(&d.join("audit"));
    let import = trail
        .iter()
        .find(|r| r["action"] == "instruments_imported")
        .unwrap();
    assert_eq!(import["details"]["imported"], json!(5));
    assert_eq!(import["details"]["refused"], json!(2));
    assert_eq!(import["details"]["exchanges"], json!(["NSE", "NFO"]));
    let verify = asta(d, &["audit", "verify"], "");
    assert!(verify.status.success(), "{}", text(&verify));
}

#[test]
fn an_existing_file_is_kept_without_force_and_replaced_with_it() {
    let server = Fake::start();
    let dir = project(&server);
    let d = dir.path();
    let path = d.join("instruments.csv");
    let old = "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\nNSE,OLD,0.05,1,,,\n";
    std::fs::write(&path, old).unwrap();

    let refused = asta(d, &["instruments", "import", "--exchange", "NSE"], "");
    let shown = text(&refused);
    assert_eq!(refused.status.code(), Some(6), "already exists: {shown}");
    assert!(shown.contains("--force"), "{shown}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old);
    assert_eq!(server.calls(), 0, "nothing is fetched for a refused target");

    let forced = asta(
        d,
        &["instruments", "import", "--exchange", "NSE", "--force"],
        "",
    );
    assert_eq!(forced.status.code(), Some(0), "{}", text(&forced));
    let catalog = InstrumentCatalog::from_path(&path).unwrap();
    assert_eq!(catalog.len(), 3);
    assert!(
        catalog
            .get(Exchange::Nse, &Symbol::new("OLD").unwrap())
            .is_err()
    );
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_symbolic_link_is_refused_even_with_force() {
    let server = Fake::start();
    let dir = project(&server);
    let d = dir.path();
    let target = d.join("elsewhere.csv");
    let link = d.join("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec![
            "instruments",
            "import",
            "--exchange",
            "NSE",
            "--out",
            link.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = asta(d, &args, "");
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(4), "{shown}");
        assert!(!target.exists(), "written through the link");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    assert_eq!(server.calls(), 0);

    // Not a .csv name: an input error, before anything is fetched.
    let out = asta(
        d,
        &[
            "instruments",
            "import",
            "--out",
            d.join("x.txt").to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // An index segment is not importable: a usage error.
    let out = asta(d, &["instruments", "import", "--exchange", "NSE_INDEX"], "");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(server.calls(), 0);
}

#[test]
fn all_bad_rows_or_a_failing_server_write_nothing_and_fail() {
    let server = Fake::start();
    let dir = project(&server);
    let d = dir.path();
    let path = d.join("instruments.csv");

    let bad = asta(d, &["instruments", "import", "--exchange", "BSE"], "");
    let shown = text(&bad);
    assert_eq!(bad.status.code(), Some(3), "{shown}");
    assert!(
        shown.contains("imported 0 instruments; refused 2 rows"),
        "{shown}"
    );
    assert!(shown.contains("BSE row 1 (bad one): `symbol`"), "{shown}");
    assert!(
        shown.contains("BSE row 2 (TCS): `lotsize` \"x\""),
        "{shown}"
    );
    assert!(!path.exists());

    // MCX answers 500 (after NSE succeeded): nothing is written.
    for verbose in [&[][..], &["--verbose"][..]] {
        let mut args = vec![
            "instruments",
            "import",
            "--exchange",
            "NSE",
            "--exchange",
            "MCX",
        ];
        args.extend_from_slice(verbose);
        let failed = asta(d, &args, "");
        let shown = text(&failed);
        assert_eq!(failed.status.code(), Some(3), "{shown}");
        assert!(shown.contains("MCX list could not be read"), "{shown}");
        assert!(!path.exists());
    }

    // A wrong key: the server's echo of the request (key included) is not shown.
    let mut config = std::fs::read_to_string(d.join("asta.toml")).unwrap();
    config.push_str("api_key_entry = \"other.key\"\n");
    std::fs::write(d.join("asta.toml"), config).unwrap();
    let other = asta(
        d,
        &["vault", "set", "other.key", "--api-key", "--scope", "read"],
        "0000000000000000000000000000000000000000000000000000000000000000\n",
    );
    assert!(other.status.success(), "{}", text(&other));
    let denied = asta(
        d,
        &["--verbose", "instruments", "import", "--exchange", "NSE"],
        "",
    );
    let shown = text(&denied);
    assert_eq!(denied.status.code(), Some(3), "{shown}");
    assert!(
        shown.contains("refused the API key in vault entry `other.key`"),
        "{shown}"
    );
    assert!(!path.exists());

    let trail = records(&d.join("audit"));
    let failures: Vec<&Value> = trail
        .iter()
        .filter(|r| r["action"] == "instruments_import_failed")
        .collect();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(failures[0]["details"]["result"], "every_row_refused");
    assert_eq!(failures[1]["details"]["failed_exchange"], "MCX");
}
