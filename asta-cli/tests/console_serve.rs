//! The operator console inside the real `asta serve`, in headless Chromium:
//! a sandbox session made by `asta init`, `asta totp enroll` and `asta keys
//! issue`; a client trading over `/api/v1/placeorder` with a trade key;
//! the operator signs in with an admin key and a TOTP code, sees ACTIVE and
//! the client's position, presses Halt, sees HALTED within a second, and the
//! client's next order is refused, and SIGTERM stops the server promptly
//! with the page open. Screenshots land in `target/tmp/console-serve/`.
//!
//! Also over TLS (a self-signed certificate made by the test, for a DNS
//! name): the session cookie is `Secure` and the name is answered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

#[path = "browser/cdp.rs"]
mod cdp;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::serve::{Project, Server, https_trusting};

/// One JSON POST to the gateway; the answer's body.
fn api(addr: SocketAddr, endpoint: &str, body: &Value) -> Value {
    let body = body.to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/{endpoint} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| json!({"_raw": answer}))
}

/// A market buy; each quantity differs so none is a duplicate of the last.
fn market_buy(key: &str, quantity: u32) -> Value {
    json!({"apikey": key, "strategy": "client", "symbol": "SBIN", "action": "BUY",
           "exchange": "NSE", "pricetype": "MARKET", "product": "MIS",
           "quantity": quantity.to_string()})
}

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-serve")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_asta_serve_halts_a_client_trading_through_the_gateway() {
    let chromium = cdp::Chromium::launch().unwrap_or_else(|problem| panic!("{problem}"));
    let project = Project::new("127.0.0.1:0", "");
    let admin = project.issue("ops", "admin", None);
    let trader = project.issue("bot", "trade", None);
    let server = Server::start(project.dir.path());
    let addr = server.addr;

    for quantity in 1..=3 {
        let answer = api(addr, "placeorder", &market_buy(&trader, quantity));
        assert_eq!(answer["status"], "success", "{answer}");
        std::thread::sleep(Duration::from_millis(300));
    }

    let base = format!("http://{addr}/console");
    let mut page = chromium.new_page().await.expect("a tab");
    page.open_sign_in(&base).await.expect("the sign-in page");
    let code = project.fresh_code();
    page.submit_sign_in(&admin, &code).await.expect("sign in");
    page.wait_for(
        "!!document.getElementById('state')",
        Duration::from_secs(10),
    )
    .await
    .expect("the console after signing in");
    assert_eq!(
        page.eval("document.getElementById('state').textContent")
            .await
            .unwrap(),
        "ACTIVE"
    );
    let positions = page
        .eval("document.getElementById('positions').textContent")
        .await
        .unwrap();
    assert!(
        positions.as_str().unwrap_or_default().contains("SBIN"),
        "{positions}"
    );
    page.screenshot(&artifacts().join("serve-console-before-halt.png"), true)
        .await
        .unwrap();

    page.eval("document.getElementById('halt').click(); true")
        .await
        .unwrap();
    let took = page
        .wait_for(
            "!!document.getElementById('state') && document.getElementById('state').textContent === 'HALTED'",
            Duration::from_secs(1),
        )
        .await
        .expect("HALTED within a second");
    assert!(took < Duration::from_secs(1));
    page.wait_for("!!document.getElementById('flash')", Duration::from_secs(2))
        .await
        .expect("the halt's outcome is shown");
    page.screenshot(&artifacts().join("serve-console-after-halt.png"), true)
        .await
        .unwrap();

    let answer = api(addr, "placeorder", &market_buy(&trader, 4));
    assert_eq!(answer["status"], "error", "{answer}");
    assert!(
        answer.to_string().to_ascii_lowercase().contains("halt"),
        "refused because trading is halted: {answer}"
    );

    // A graceful stop is not held open by the console page's live tail.
    let mut server = server;
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "asta serve did not stop within 5 s with a console page open"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn over_tls_the_console_cookie_is_secure_and_its_name_is_answered() {
    let name = "console.asta.test";
    let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let project = Project::new("127.0.0.1:0", "");
    let d = project.dir.path();
    project.use_tls(cert.cert.der(), &cert.signing_key.serialize_der());
    let admin = project.issue("ops", "admin", None);
    let server = Server::start(d);

    let https = https_trusting(cert.cert.der(), name, server.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://{name}:{}/console", server.addr.port());

    let login = https.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(login.status(), 200, "the certificate's name is answered");
    let form = format!("key={admin}&totp={}", project.fresh_code());
    let signed_in = https
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = https
        .get(&base)
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<div id="state" class="badge active">ACTIVE</div>"#));
    drop(server);
}
