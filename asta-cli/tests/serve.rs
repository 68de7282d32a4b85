//! `asta serve` through the real binary, with OpenAlgo clients on 127.0.0.1:
//!
//! - a sandbox session made by `asta init` and `asta keys issue`: orders
//!   placed, modified, cancelled and read back in OpenAlgo's shapes with
//!   `"mode":"analyze"`; refusals in OpenAlgo's envelope with ASTA's
//!   message and reference; keys' scopes and strategies enforced; a key
//!   revoked while serving refused within a second; three clients sharing
//!   the account's rate limit exactly; brute force from one address
//!   blocked while another is served; malformed, oversized, deep and slow
//!   requests refused with the session unharmed; SIGTERM finishes an
//!   in-flight request, saves the snapshot and leaves a trail that
//!   verifies; no key value anywhere in the trail or the output;
//! - a non-loopback address without TLS is refused at start and flagged by
//!   `asta doctor`;
//! - TLS with a self-signed certificate made by the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;
use support::fake_openalgo::FakeOpenAlgo;
use support::serve::{Project, Server, https_trusting};
use support::{asta, asta_with_stdin, ok, text};

// ------------------------------------------------------------------ HTTP

fn client_from(local: IpAddr) -> reqwest::Client {
    // reqwest is built without a crypto provider; these clients speak
    // plain HTTP but the builder wants one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .local_address(local)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Every response body the tests received, for the key canary.
static ANSWERS: Mutex<String> = Mutex::new(String::new());

async fn call(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    ANSWERS.lock().unwrap().push_str(&text);
    let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({"_raw": text}));
    (status, value)
}

fn with_key(key: &str, mut body: Value) -> Value {
    body["apikey"] = json!(key);
    body
}

fn limit_order(key: &str, strategy: &str, price: &str) -> Value {
    json!({"apikey": key, "strategy": strategy, "symbol": "SBIN", "action": "BUY",
           "exchange": "NSE", "pricetype": "LIMIT", "product": "CNC",
           "quantity": "1", "price": price})
}

/// One raw HTTP/1.1 exchange on a fresh connection; the status line's code
/// and the body (empty when the server closed without answering).
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    ANSWERS.lock().unwrap().push_str(&answer);
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// Every record of the trail in `dir`.
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
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Every byte under `dir` (recursively), as lossy text.
fn all_text_under(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push_str(&all_text_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

/// DER as a PEM block.
fn loopback(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_session_serves_openalgo_clients_safely() {
    let project = Project::new("127.0.0.1:0", "");
    let alpha = project.issue("alpha", "trade", Some("alpha"));
    let beta = project.issue("beta", "trade", Some("beta"));
    let gamma = project.issue("gamma", "trade", Some("gamma"));
    let reader = project.issue("reader", "read", None);
    let doomed = project.issue("doomed", "read", None);
    let keys = [&alpha, &beta, &gamma, &reader, &doomed];

    let server = Server::start(project.path());
    let http = client_from(loopback(1));
    let u = |e: &str| server.url(e);

    // ---- The basics: ping, analyzer, quotes, funds ------------------------
    let (status, body) = call(&http, &u("ping"), &json!({"apikey": alpha})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["message"], "pong");
    let (status, body) = call(&http, &u("analyzer"), &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["mode"], "analyze");
    let quote = json!({"apikey": reader, "symbol": "SBIN", "exchange": "NSE"});
    let (status, body) = call(&http, &u("quotes"), &quote).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["ltp"].as_f64(), Some(800.0), "{body}");

    // ---- Orders: LIMIT rests, MARKET fills, modify, cancel -----------------
    let (status, body) = call(
        &http,
        &u("placeorder"),
        &limit_order(&alpha, "alpha", "790"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["mode"], "analyze");
    let resting = body["orderid"].as_str().unwrap().to_owned();

    let market = json!({"apikey": alpha, "strategy": "alpha", "symbol": "SBIN", "action": "BUY",
                        "exchange": "NSE", "pricetype": "MARKET", "product": "CNC", "quantity": "2"});
    let (status, body) = call(&http, &u("placeorder"), &market).await;
    assert_eq!(status, 200, "{body}");
    let filled = body["orderid"].as_str().unwrap().to_owned();
    let status_of = |id: &str| json!({"apikey": alpha, "strategy": "alpha", "orderid": id});
    let (status, body) = call(&http, &u("orderstatus"), &status_of(&filled)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["order_status"], "complete", "{body}");
    assert_eq!(body["data"]["filled_quantity"].as_u64(), Some(2), "{body}");
    assert_eq!(body["mode"], "analyze");

    let modify = json!({"apikey": alpha, "strategy": "alpha", "orderid": resting, "symbol": "SBIN",
                        "action": "BUY", "exchange": "NSE", "pricetype": "LIMIT", "product": "CNC",
                        "quantity": "1", "price": "791", "trigger_price": "0", "disclosed_quantity": "0"});
    let (status, body) = call(&http, &u("modifyorder"), &modify).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Order modified successfully");
    let (_, body) = call(&http, &u("orderstatus"), &status_of(&resting)).await;
    assert_eq!(body["data"]["order_status"], "open", "{body}");
    assert_eq!(body["data"]["price"].as_f64(), Some(791.0), "{body}");

    let (status, body) = call(&http, &u("orderbook"), &json!({"apikey": alpha})).await;
    assert_eq!(status, 200, "{body}");
    let orders = body["data"]["orders"].as_array().unwrap();
    assert!(
        orders.iter().any(|o| o["orderid"] == resting.as_str()),
        "{body}"
    );

    let cancel = json!({"apikey": alpha, "strategy": "alpha", "orderid": resting});
    let (status, body) = call(&http, &u("cancelorder"), &cancel).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orderid"], resting.as_str());
    let unknown = json!({"apikey": alpha, "strategy": "alpha", "orderid": "999999"});
    let (status, body) = call(&http, &u("orderstatus"), &unknown).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["status"], "error");

    let (status, body) = call(&http, &u("positionbook"), &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "analyze");
    let positions = body["data"].as_array().unwrap();
    assert!(
        positions
            .iter()
            .any(|p| p["symbol"] == "SBIN" && p["quantity"].as_i64() == Some(2)),
        "{body}"
    );
    let (status, body) = call(&http, &u("funds"), &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["availablecash"].is_number(), "{body}");

    let smart = json!({"apikey": alpha, "strategy": "alpha", "symbol": "SBIN", "action": "BUY",
                       "exchange": "NSE", "pricetype": "MARKET", "product": "CNC", "quantity": "1",
                       "position_size": "5"});
    let (status, body) = call(&http, &u("placesmartorder"), &smart).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["orderid"].is_string(), "{body}");
    let open = json!({"apikey": alpha, "strategy": "alpha", "symbol": "SBIN", "exchange": "NSE", "product": "CNC"});
    let (status, body) = call(&http, &u("openposition"), &open).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quantity"].as_i64(), Some(5), "{body}");

    // ---- Refusals in OpenAlgo's envelope with ASTA's reference -------------
    // A fat-finger price, 10% above the last price: the risk check refuses.
    let (status, body) = call(
        &http,
        &u("placeorder"),
        &limit_order(&alpha, "alpha", "880"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "error");
    assert_eq!(body["mode"], "analyze");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("risk check"), "{message}");
    assert!(message.contains("ref ERR-"), "{message}");

    // Refused keys count against their source address: they come from
    // 127.0.0.2, so that 127.0.0.1 stays below the brute-force threshold.
    let stranger = client_from(loopback(2));
    let (status, body) = call(
        &stranger,
        &u("placeorder"),
        &limit_order("wrong-key", "alpha", "790"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "Invalid openalgo apikey");
    let forged = format!("asta_ck_{}", "a".repeat(52));
    let (status, body) = call(&stranger, &u("funds"), &json!({"apikey": forged})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Invalid openalgo apikey"))
    );

    // A real key with one character changed, and a real key with a field
    // OpenAlgo does not know: refused without echoing the key.
    let mut near = alpha.clone();
    near.pop();
    near.push(if alpha.ends_with('a') { 'b' } else { 'a' });
    let (status, _) = call(&stranger, &u("funds"), &json!({"apikey": near})).await;
    assert_eq!(status, 403);
    let mut tagged = limit_order(&alpha, "alpha", "790");
    tagged["tag"] = json!("x");
    let (status, body) = call(&http, &u("placeorder"), &tagged).await;
    assert_eq!(status, 400, "{body}");

    // Least privilege: another strategy's tag, a read key placing, the toggle.
    let (status, body) = call(&http, &u("placeorder"), &limit_order(&alpha, "beta", "790")).await;
    assert_eq!(status, 403, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("only under strategy `alpha`") && message.contains("`beta`"),
        "{message}"
    );
    let (status, body) = call(
        &http,
        &u("placeorder"),
        &limit_order(&reader, "alpha", "790"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("read scope"),
        "{body}"
    );
    let (status, _) = call(
        &http,
        &u("analyzer/toggle"),
        &json!({"apikey": alpha, "mode": false}),
    )
    .await;
    assert_eq!(status, 403);
    // Another strategy's order cannot be cancelled with a bound key.
    let (_, body) = call(&http, &u("placeorder"), &limit_order(&beta, "beta", "789")).await;
    let betas = body["orderid"].as_str().unwrap().to_owned();
    let steal = json!({"apikey": alpha, "strategy": "alpha", "orderid": betas});
    let (status, body) = call(&http, &u("cancelorder"), &steal).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("another strategy"),
        "{body}"
    );

    let peek = json!({"apikey": alpha, "strategy": "alpha", "orderid": betas});
    let (status, _) = call(&http, &u("orderstatus"), &peek).await;
    assert_eq!(status, 403, "a bound key reads only its own orders");
    let (_, body) = call(&http, &u("orderbook"), &json!({"apikey": alpha})).await;
    let orders = body["data"]["orders"].as_array().unwrap();
    assert!(orders.iter().all(|o| o["strategy"] == "alpha"), "{body}");

    // ---- Malformed, oversized, deep, unknown, wrong method -----------------
    let (status, body) = raw(
        server.addr,
        b"POST /api/v1/funds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"apikey\"",
    );
    assert_eq!(status, 400, "{body}");
    let big = format!("{{\"apikey\":\"{}\"}}", "x".repeat(70_000));
    let request = format!(
        "POST /api/v1/funds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{big}",
        big.len()
    );
    let (status, _) = raw(server.addr, request.as_bytes());
    assert_eq!(status, 413);
    let deep = format!(
        "{{\"apikey\":\"k\",\"x\":{}{}}}",
        "[".repeat(40),
        "]".repeat(40)
    );
    let request = format!(
        "POST /api/v1/funds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{deep}",
        deep.len()
    );
    let (status, _) = raw(server.addr, request.as_bytes());
    assert_eq!(status, 400);
    let (status, body) = call(&http, &u("nosuchendpoint"), &json!({"apikey": alpha})).await;
    assert_eq!(status, 404);
    assert_eq!(body["path"], "/api/v1/nosuchendpoint");
    let got = http.get(u("placeorder")).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 404);

    // A slow client dribbling its headers gets a 408 and is dropped by the
    // timeout while another client is served normally.
    let slow_addr = server.addr;
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(slow_addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(40)))
            .unwrap();
        let started = Instant::now();
        let header = b"POST /api/v1/funds HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        let mut answer = Vec::new();
        let mut dropped = false;
        for byte in header.iter().chain(std::iter::repeat(&b'a')) {
            if stream.write_all(&[*byte]).is_err() {
                dropped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            if started.elapsed() > Duration::from_secs(30) {
                break;
            }
            let mut probe = [0u8; 512];
            stream.set_nonblocking(true).unwrap();
            let read = stream.read(&mut probe);
            stream.set_nonblocking(false).unwrap();
            match read {
                Ok(0) => {
                    dropped = true;
                    break;
                }
                Ok(n) => answer.extend_from_slice(&probe[..n]),
                Err(_) => {}
            }
        }
        let _ = stream.read_to_end(&mut answer);
        (
            dropped,
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    for _ in 0..3 {
        let (status, body) = call(&http, &u("funds"), &json!({"apikey": reader})).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (dropped, after, answer) = tokio::task::spawn_blocking(move || slow.join().unwrap())
        .await
        .unwrap();
    assert!(dropped, "the slow client was never dropped");
    assert!(
        after < Duration::from_secs(10),
        "dropped only after {after:?}"
    );
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n")
            && answer.contains("\"status\":\"error\""),
        "the slow client was not told why: {answer:?}"
    );

    // A body that never arrives: 408 once the timeout passes, and closed.
    let started = Instant::now();
    let (status, body) = raw(
        server.addr,
        b"POST /api/v1/funds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"apikey\":",
    );
    assert_eq!(status, 408, "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, body) = call(&http, &u("funds"), &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "the session is unharmed: {body}");

    // ---- Three clients, three keys, one account: the limit holds exactly ---
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut burst = Vec::new();
    for (n, (key, strategy)) in [(&alpha, "alpha"), (&beta, "beta"), (&gamma, "gamma")]
        .into_iter()
        .enumerate()
    {
        for i in 0..4u32 {
            let body = limit_order(key, strategy, &format!("{}", 780 - n as u32 * 4 - i));
            let http = http.clone();
            let url = u("placeorder");
            burst.push(tokio::spawn(async move { call(&http, &url, &body).await }));
        }
    }
    let mut passed = 0;
    let mut limited = 0;
    for handle in burst {
        let (status, body) = handle.await.unwrap();
        match status {
            200 => passed += 1,
            429 => {
                assert!(
                    body.get("status").is_none(),
                    "429 is OpenAlgo's bare shape: {body}"
                );
                limited += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((passed, limited), (5, 7), "the account limit is 5 a second");

    // ---- Brute force from one address; another is unaffected --------------
    let attacker = client_from(loopback(3));
    for attempt in 1..=6 {
        let (status, body) = call(
            &attacker,
            &u("funds"),
            &json!({"apikey": format!("guess-{attempt}")}),
        )
        .await;
        assert_eq!(status, 403, "attempt {attempt}: {body}");
    }
    // Blocked now, even with a valid key.
    let (status, body) = call(&attacker, &u("funds"), &json!({"apikey": reader})).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("blocked"),
        "{body}"
    );
    let (status, body) = call(&http, &u("funds"), &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "127.0.0.1 is unaffected: {body}");
    let alerts = server.stderr();
    assert!(
        alerts.contains("login_source_blocked") && alerts.contains("127.0.0.3"),
        "no alert for the blocked source: {alerts}"
    );
    // The monitor's unusual-order alerts apply to gateway traffic: each
    // strategy's first order in a symbol is flagged.
    assert!(alerts.contains("unusual_order"), "{alerts}");

    // ---- A key revoked while serving stops working within a second ---------
    let (status, _) = call(&http, &u("funds"), &json!({"apikey": doomed})).await;
    assert_eq!(status, 200);
    ok(asta(project.path(), &["keys", "revoke", "doomed"]));
    let revoked_at = Instant::now();
    loop {
        let (status, body) = call(&stranger, &u("funds"), &json!({"apikey": doomed})).await;
        if status == 403 {
            assert_eq!(body["message"], "Invalid openalgo apikey");
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(3),
            "the revoked key still works"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        revoked_at.elapsed() < Duration::from_millis(1500),
        "{:?}",
        revoked_at.elapsed()
    );
    // A key issued while serving works at once too.
    let late = project.issue("late", "read", None);
    let issued_at = Instant::now();
    let newcomer = client_from(loopback(4));
    // A key that does not work yet counts as a failed check: give the
    // watcher (every 250 ms) a moment first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    loop {
        let (status, _) = call(&newcomer, &u("funds"), &json!({"apikey": late})).await;
        if status == 200 {
            break;
        }
        assert!(
            issued_at.elapsed() < Duration::from_secs(3),
            "the new key never worked"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Rotated while serving: the old value stops, the new one works.
    let rotated = ok(asta(project.path(), &["keys", "rotate", "late"]));
    let renewed = rotated
        .split_whitespace()
        .find(|w| w.starts_with("asta_ck_"))
        .unwrap()
        .to_owned();
    // From a fresh address: a key that does not work yet counts as a failure.
    let rotator = client_from(loopback(5));
    let rotated_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    loop {
        let (new, _) = call(&rotator, &u("funds"), &json!({"apikey": renewed})).await;
        if new == 200 {
            break;
        }
        assert!(
            rotated_at.elapsed() < Duration::from_secs(3),
            "the rotated key never worked"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (old, body) = call(&rotator, &u("funds"), &json!({"apikey": late})).await;
    assert_eq!(old, 403, "the old value still works: {body}");

    // ---- The kill switch reaches the serving session -------------------------
    let kill = asta(project.path(), &["kill", "--reason", "serve test"]);
    assert_eq!(kill.status.code(), Some(0), "{}", text(&kill));
    let (status, body) = call(
        &http,
        &u("placeorder"),
        &limit_order(&alpha, "alpha", "777"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("halted"),
        "{body}"
    );
    let (_, body) = call(&http, &u("orderbook"), &json!({"apikey": reader})).await;
    let open = body["data"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["order_status"] == "open")
        .count();
    assert_eq!(
        open, 0,
        "the kill switch cancelled every open order: {body}"
    );

    // ---- SIGTERM with a request in flight ----------------------------------
    // A request whose body is still arriving when the signal comes: it is
    // answered, then the session stops.
    let in_flight_addr = server.addr;
    let body = with_key(&reader, json!({})).to_string();
    let in_flight = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(in_flight_addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let head = format!(
            "POST /api/v1/funds HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        let (first, rest) = body.split_at(5);
        stream.write_all(first.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        stream.write_all(rest.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (exit, stdout, stderr) = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    let answer = in_flight.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "in-flight request: {answer}"
    );
    assert!(exit.success(), "exit {exit:?}\n{stdout}\n{stderr}");
    assert!(stdout.contains("stopped (SIGTERM)"), "{stdout}");
    assert!(stdout.contains("control socket"), "{stdout}");
    assert!(
        project.path().join("risk-snapshot.json").exists(),
        "no snapshot"
    );
    let verify = ok(asta(project.path(), &["audit", "verify"]));
    assert!(
        verify.contains("OK") || verify.contains("intact"),
        "{verify}"
    );

    // ---- The trail: start, stop, security records, no key values -----------
    let trail = records(&project.path().join("audit"));
    let started = trail
        .iter()
        .find(|r| r["action"] == "serve_started")
        .unwrap();
    assert_eq!(started["details"]["mode"], "sandbox", "{started}");
    assert_eq!(started["details"]["hours_waived"], true, "{started}");
    assert!(trail.iter().any(|r| r["action"] == "serve_stopped"));
    let refused: Vec<&Value> = trail
        .iter()
        .filter(|r| r["action"] == "gateway_key_refused")
        .collect();
    assert!(refused.len() >= 7, "{refused:?}");
    assert!(refused.iter().all(|r| r["category"] == "SECURITY"));
    assert!(
        refused.iter().any(|r| r["details"]["client"] == "doomed"),
        "the revoked key's name is recorded"
    );
    assert!(
        trail
            .iter()
            .any(|r| r["action"] == "gateway_request_refused" && r["details"]["client"] == "alpha")
    );
    // The block is a SECURITY record from the risk engine's monitor.
    assert!(
        trail.iter().any(|r| r["category"] == "SECURITY"
            && r["action"].as_str().unwrap_or_default().contains("blocked")
            && r["details"].to_string().contains("127.0.0.3")),
        "no SECURITY record of the blocked source"
    );
    assert!(
        !trail.iter().any(
            |r| r["action"].as_str().unwrap_or_default().contains("blocked")
                && r["details"].to_string().contains("127.0.0.1\"")
        ),
        "127.0.0.1 was blocked"
    );
    let everything = format!("{}{stdout}{stderr}", all_text_under(project.path()));
    for key in keys.into_iter().chain([&late, &renewed]) {
        let body = key.trim_start_matches("asta_ck_");
        assert!(!everything.contains(body), "a client key value leaked");
    }
}

#[test]
fn a_gateway_beyond_loopback_needs_tls() {
    let project = Project::new("0.0.0.0:0", "");
    let out = asta(project.path(), &["serve"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("tls_cert"), "{said}");
    assert!(!project.path().join("run/asta.sock").exists());
    let doctor = asta(project.path(), &["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let network = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "network")
        .unwrap();
    assert_eq!(network["status"], "FAIL", "{network}");
    assert!(
        network["detail"].as_str().unwrap().contains("without TLS"),
        "{network}"
    );
    // Paper or live mode never waives trading hours.
    let path = project.path().join("asta.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        config.replace("mode = \"sandbox\"", "mode = \"paper\""),
    )
    .unwrap();
    let out = asta(project.path(), &["serve"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("sandbox mode only"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let extra = "";
    let project = Project::new("127.0.0.1:0", extra);
    let d = project.path();
    project.use_tls(cert.cert.der(), &cert.signing_key.serialize_der());
    let reader = project.issue("reader", "read", None);
    let server = Server::start(d);
    let banner = server.stdout_seen.lock().unwrap().clone();
    assert!(
        banner.starts_with("asta serve: listening on https://"),
        "{banner}"
    );

    let https = https_trusting(cert.cert.der(), "localhost", server.addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/api/v1/funds", server.addr.port());
    let (status, body) = call(&https, &url, &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "analyze");
    // Plain HTTP on the TLS port gets no answer.
    let (status, _) = raw(
        server.addr,
        b"POST /api/v1/funds HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(status, 0);
    let (exit, _, _) = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(exit.success());
}

/// What a live session asks the fake OpenAlgo at start and for a quote.
fn live_answers() -> [(&'static str, Value); 4] {
    [
        (
            "analyzer",
            json!({"status": "success",
                "data": {"analyze_mode": false, "mode": "live", "total_logs": 0}}),
        ),
        ("positionbook", json!({"status": "success", "data": []})),
        (
            "orderbook",
            json!({"status": "success", "data": {"orders": [], "statistics": {}}}),
        ),
        (
            "quotes",
            json!({"status": "success", "data": {"ask": 800.05, "bid": 799.95,
                "high": 800.0, "low": 800.0, "ltp": 800.0, "oi": 0, "open": 800.0, "prev_close": 800.0, "volume": 1000}}),
        ),
    ]
}

/// A project in `mode` (`live` or `paper`) on the fake OpenAlgo: no
/// `[sandbox]` settings (refused outside sandbox mode), live trading
/// allowed in live mode, and an OpenAlgo API key in the vault with
/// `scopes`.
fn project_on_openalgo(fake: &FakeOpenAlgo, mode: &str, scopes: &[&str]) -> Project {
    let project = Project::new("127.0.0.1:0", "");
    let d = project.path();
    let path = d.join("asta.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let start = config.find("[sandbox]").unwrap();
    let end = config.find("[backup]").unwrap();
    let mut config = format!("{}{}", &config[..start], &config[end..])
        .replace("mode = \"sandbox\"", &format!("mode = \"{mode}\""))
        .replace(
            "url = \"http://127.0.0.1:5000\"",
            &format!("url = \"{}\"", fake.url),
        );
    if mode == "live" {
        config = config.replace("allow_live_trading = false", "allow_live_trading = true");
    }
    std::fs::write(&path, config).unwrap();
    let mut args = vec!["vault", "set", "openalgo.api_key", "--api-key"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    ok(asta_with_stdin(
        d,
        &args,
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    ));
    project
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_session_starts_only_with_the_operators_totp() {
    let fake = FakeOpenAlgo::start(&live_answers());
    let project = project_on_openalgo(&fake, "live", &["trade", "read"]);
    let d = project.path();
    let reader = project.issue("reader", "read", None);

    // A wrong code: the session refuses to start, and never listens.
    let out = asta_with_stdin(d, &["serve"], "000000\n");
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("listening on"), "{}", text(&out));
    assert!(!text(&out).contains("000000"), "the code was echoed");

    // The right code from standard input: a live session.
    let server = Server::start_with_stdin(d, &format!("{}\n", project.fresh_code()));
    let banner = server.stdout_seen.lock().unwrap().clone();
    assert!(banner.contains("mode live/live"), "{banner}");
    let http = client_from(loopback(1));
    let (status, body) = call(&http, &server.url("analyzer"), &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["mode"], "live");
    let quote = json!({"apikey": reader, "symbol": "SBIN", "exchange": "NSE"});
    let (status, body) = call(&http, &server.url("quotes"), &quote).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("mode").is_none(),
        "a live answer has no mode: {body}"
    );
    assert!(
        fake.paths
            .lock()
            .unwrap()
            .iter()
            .any(|p| p == "/api/v1/quotes")
    );
    let (exit, _, stderr) = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");
    let trail = records(&d.join("audit"));
    assert!(
        trail.iter().any(|r| r["action"] == "guard_refused"),
        "the refused start is recorded"
    );
    let started = trail
        .iter()
        .find(|r| r["action"] == "serve_started")
        .unwrap();
    assert_eq!(started["details"]["mode"], "live");
    assert_eq!(started["details"]["hours_waived"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paper_session_prices_with_openalgo_quotes_and_answers_in_analyze_mode() {
    let fake = FakeOpenAlgo::start(&live_answers());
    let project = project_on_openalgo(&fake, "paper", &["read"]);
    let d = project.path();
    let reader = project.issue("reader", "read", None);
    let server = Server::start(d);
    let banner = server.stdout_seen.lock().unwrap().clone();
    assert!(banner.contains("mode paper/analyze"), "{banner}");
    assert!(!banner.contains("hours waived"), "{banner}");
    let http = client_from(loopback(1));
    let quote = json!({"apikey": reader, "symbol": "SBIN", "exchange": "NSE"});
    let (status, body) = call(&http, &server.url("quotes"), &quote).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["ltp"].as_f64(), Some(800.0), "{body}");
    let (status, body) = call(&http, &server.url("funds"), &json!({"apikey": reader})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "analyze");
    // Paper trading never sends an order anywhere: only quotes reach OpenAlgo.
    assert!(
        fake.paths
            .lock()
            .unwrap()
            .iter()
            .all(|p| p == "/api/v1/quotes"),
        "{:?}",
        fake.paths.lock().unwrap()
    );
    let (exit, _, stderr) = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(exit.success(), "{stderr}");
}
