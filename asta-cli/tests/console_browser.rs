//! The operator console in a real browser (headless Chromium over the
//! DevTools protocol): sign in, see ACTIVE and the positions of a sandbox
//! session a client is trading, a forged form from another origin is
//! refused, press Halt, see HALTED within a second, and the client's next
//! order is refused. Screenshots of the page before and after the halt are
//! saved under `target/tmp/console/` (`console-before-halt.png`,
//! `console-after-halt.png`, and the first screen after the halt,
//! `console-after-halt-viewport.png`, which is `docs/console.png`).
//!
//! Until `asta serve` hosts the console, the session is composed here: the
//! console router on a loopback listener, a guard over `SandboxBroker`, and
//! a client task placing orders through the guard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "browser/cdp.rs"]
mod cdp;
#[path = "browser/session.rs"]
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use asta_core::{ErrorCode, PublicCode};
use asta_risk::TradingState;
use cdp::Chromium;
use session::{ADMIN_KEY, Session, TOTP};

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    addr
}

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_halts_a_trading_session_from_the_console_in_a_real_browser() {
    let chromium = Chromium::launch().unwrap_or_else(|problem| panic!("{problem}"));

    let session = Arc::new(Session::start().await);
    for step in [3, -1, 2] {
        session
            .buy(5)
            .await
            .expect("the client's order before the halt");
        session.move_price(step).await;
    }
    let addr = serve(session.app(Duration::from_secs(600))).await;
    let base = format!("http://{addr}/console");

    // The client keeps trading in the background until it is refused.
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (session, stop) = (Arc::clone(&session), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut placed = 0u32;
            let mut step = 1;
            while !stop.load(Ordering::SeqCst) {
                if session.buy(1).await.is_ok() {
                    placed += 1;
                }
                session.move_price(step).await;
                step = -step * 2;
                if step.abs() > 8 {
                    step = 1;
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            placed
        })
    };

    // Another origin that posts a forged form to the console.
    let evil = serve(axum::Router::new().route(
        "/",
        axum::routing::get(move || async move {
            axum::response::Html(format!(
                r#"<!doctype html><form id="f" method="post" action="http://{addr}/console/halt"><input name="csrf" value="forged"><input name="reason" value="csrf attack"></form><script>document.getElementById('f').submit()</script>"#
            ))
        }),
    ))
    .await;

    let mut page = chromium.new_page().await.expect("a tab");
    page.open_sign_in(&base)
        .await
        .expect("sent to the sign-in page");
    page.screenshot(&artifacts().join("console-sign-in.png"), false)
        .await
        .expect("screenshot of the sign-in page");
    page.submit_sign_in(ADMIN_KEY, TOTP)
        .await
        .expect("fill the form");
    page.wait_for(
        "!!document.getElementById('state')",
        Duration::from_secs(10),
    )
    .await
    .unwrap_or_else(|problem| {
        let refusals: Vec<String> = session
            .records()
            .into_iter()
            .filter(|(action, _, _)| action.contains("refused"))
            .map(|(_, _, details)| details)
            .collect();
        panic!("the console after signing in: {problem}; refusals: {refusals:?}")
    });
    let state = page
        .eval("document.getElementById('state').textContent")
        .await
        .expect("state");
    assert_eq!(state, "ACTIVE");
    let positions = page
        .eval("document.getElementById('positions').textContent")
        .await
        .expect("positions");
    assert!(
        positions.as_str().unwrap_or_default().contains("NSE SBIN"),
        "positions: {positions}"
    );

    // The live tail adds the client's new records without a reload.
    let first_seq = "Number((document.querySelector('#audit-rows tr td') || {}).textContent || 0)";
    let before = page
        .eval(first_seq)
        .await
        .expect("seq")
        .as_f64()
        .unwrap_or(0.0);
    page.wait_for(
        &format!(
            "{first_seq} > {before} && document.getElementById('live').className === 'live on'"
        ),
        Duration::from_secs(5),
    )
    .await
    .expect("the audit tail updates live");

    // The positions follow the client's fills without a reload.
    page.eval("window.consoleMarker = 'same page'; true")
        .await
        .expect("marker");
    let net =
        "(document.querySelector('#positions tr:nth-child(2) td:nth-child(3)') || {}).textContent";
    let net_before = page.eval(net).await.expect("net");
    page.wait_for(&format!("{net} !== {net_before}"), Duration::from_secs(6))
        .await
        .expect("the position updates live");
    assert_eq!(
        page.eval("window.consoleMarker").await.expect("marker"),
        "same page",
        "updated in place, not by a reload"
    );

    // Let the charts gather a few samples, then show the page.
    tokio::time::sleep(Duration::from_secs(3)).await;
    page.goto(&base).await.expect("reload");
    page.wait_for(
        "!!document.getElementById('state')",
        Duration::from_secs(10),
    )
    .await
    .expect("page");
    page.screenshot(&artifacts().join("console-before-halt.png"), true)
        .await
        .expect("screenshot before");

    // A forged form from another origin: refused, nothing changed.
    page.goto(&format!("http://{evil}/"))
        .await
        .expect("evil page");
    page.wait_for(
        "!!document.getElementById('message') && document.getElementById('message').textContent.includes('refused')",
        Duration::from_secs(10),
    )
    .await
    .expect("the forged post is refused");
    assert_eq!(session.guard.trading_state(), TradingState::Active);
    assert!(
        session
            .records()
            .iter()
            .any(|(action, _, details)| action == "console_refused" && details.contains("another"))
    );

    // Halt from the console: HALTED within a second of the click.
    page.goto(&base).await.expect("back to the console");
    page.wait_for("!!document.getElementById('halt')", Duration::from_secs(10))
        .await
        .expect("page");
    page.eval("document.getElementById('halt').click(); true")
        .await
        .expect("click Halt");
    let took = page
        .wait_for(
            "!!document.getElementById('state') && document.getElementById('state').textContent === 'HALTED'",
            Duration::from_secs(1),
        )
        .await
        .expect("HALTED shown within a second");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    eprintln!("HALTED shown {took:?} after the click");
    assert_eq!(session.guard.trading_state(), TradingState::Halted);
    page.wait_for("!!document.getElementById('flash')", Duration::from_secs(2))
        .await
        .expect("the halt's outcome is shown");
    page.wait_for(
        "document.getElementById('audit-rows').textContent.includes('console_command')",
        Duration::from_secs(2),
    )
    .await
    .expect("the trail shows the halt, with the operator");
    page.screenshot(&artifacts().join("console-after-halt.png"), true)
        .await
        .expect("screenshot after");
    // The README's picture (docs/console.png) is this one, the first screen.
    page.screenshot(&artifacts().join("console-after-halt-viewport.png"), false)
        .await
        .expect("screenshot of the first screen");

    // The client's next order is refused.
    stop.store(true, Ordering::SeqCst);
    let placed = client.await.expect("client task");
    assert!(placed > 0, "the client traded while the operator watched");
    let refused = session.buy(1).await.expect_err("an order after the halt");
    assert_eq!(refused.public_error().code(), ErrorCode::Halted);
    let _ = refused.public_code();

    let command = session
        .records()
        .into_iter()
        .find(|(action, _, _)| action == "console_command")
        .expect("the halt is audited");
    assert_eq!(command.1.as_deref(), Some("ops"));
}
