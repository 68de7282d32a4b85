//! The operator console over HTTP (no browser): sign-in, CSRF, expiry,
//! the actions, the headers, and that no secret leaks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

#[path = "browser/session.rs"]
mod session;

use std::net::SocketAddr;
use std::time::Duration;

use asta_risk::TradingState;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use futures_util::StreamExt;
use session::{ADMIN_KEY, EXPIRED_KEY, READ_KEY, Session, TOTP, contains};
use tower::ServiceExt;

const IDLE: Duration = Duration::from_secs(600);

/// `asta serve`'s guard is `Guard<Box<dyn Broker>>`: the console mounts
/// over it (a compile-time check).
#[allow(dead_code, reason = "only needs to compile")]
fn mounts_over_a_boxed_broker(
    deps: asta_cli::console::ConsoleDeps<Box<dyn asta_broker::Broker>>,
) -> Router {
    asta_cli::console::router(deps)
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

fn request(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1:8700")
        .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))))
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post(app: &Router, path: &str, cookie: Option<&str>, pairs: &[(&str, &str)]) -> Reply {
    post_with(app, path, cookie, pairs, &[]).await
}

async fn post_with(
    app: &Router,
    path: &str,
    cookie: Option<&str>,
    pairs: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Reply {
    let mut builder = request("POST", path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "http://127.0.0.1:8700")
        .header("sec-fetch-site", "same-origin");
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    send(app, builder.body(Body::from(form(pairs))).expect("request")).await
}

async fn get(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut builder = request("GET", path);
    if let Some(cookie) = cookie {
        builder = builder.header("cookie", cookie);
    }
    send(app, builder.body(Body::empty()).expect("request")).await
}

/// Signs in; the session cookie (`name=value`) on success.
async fn sign_in(app: &Router, key: &str, code: &str) -> (Reply, Option<String>) {
    let reply = post(app, "/console/login", None, &[("key", key), ("totp", code)]).await;
    let cookie = reply
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    (reply, cookie)
}

fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a csrf field") + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("csrf value")
        .to_owned()
}

fn count(session: &Session, action: &str) -> usize {
    session
        .records()
        .iter()
        .filter(|(a, _, _)| a == action)
        .count()
}

#[tokio::test]
async fn an_admin_key_and_totp_sign_in_and_the_page_shows_the_session() {
    let session = Session::start().await;
    session.buy(10).await.expect("the client's order");
    let app = session.app(IDLE);

    // Not signed in: sent to the sign-in page.
    let reply = get(&app, "/console", None).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers["location"], "/console/login");

    let (reply, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let set = reply.headers["set-cookie"].to_str().expect("ascii");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    assert!(set.contains("Path=/console") && !set.contains("Secure"));
    let cookie = cookie.expect("a session cookie");

    let page = get(&app, "/console", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(r#"<div id="state" class="badge active">ACTIVE</div>"#)
    );
    assert!(page.body.contains("NSE SBIN"), "positions show SBIN");
    assert!(page.body.contains("of limit"), "the loss against its limit");
    assert!(page.body.contains("console_sign_in"), "the audit tail");
    assert!(page.body.contains(r#"<b id="operator">ops</b>"#));

    // Security headers on pages and assets.
    for reply in [&page, &get(&app, "/console/assets/console.js", None).await] {
        let csp = reply.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"));
        assert_eq!(reply.headers["x-frame-options"], "DENY");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer");
        assert_eq!(reply.headers["cache-control"], "no-store");
    }
    // Nothing is loaded from another host.
    assert!(!page.body.contains("http://") && !page.body.contains("https://"));
    assert!(!page.body.contains("<script>") && !page.body.contains("style="));

    let records = session.records();
    let sign_in = records
        .iter()
        .find(|(a, _, _)| a == "console_sign_in")
        .expect("sign-in audited");
    assert_eq!(sign_in.1.as_deref(), Some("ops"));

    // Canaries: neither the key, nor the code, nor the cookie anywhere.
    let token = cookie.split_once('=').expect("name=value").1;
    let bytes = session.all_bytes();
    for secret in [ADMIN_KEY, TOTP, token, &csrf_of(&page.body)] {
        assert!(!contains(&bytes, secret), "a secret reached the trail");
    }
    assert!(!page.body.contains(ADMIN_KEY) && !page.body.contains(token));
}

#[tokio::test]
async fn wrong_totp_read_key_and_expired_key_are_refused_audited_and_counted() {
    let session = Session::start().await;
    let app = session.app(IDLE);
    let cases = [
        (ADMIN_KEY, "000000", "the TOTP code is wrong"),
        (READ_KEY, TOTP, "scope read"),
        (EXPIRED_KEY, TOTP, "expired"),
        ("not-a-key-CANARY-3e1", TOTP, "not known"),
    ];
    for (key, code, _) in cases {
        let (reply, cookie) = sign_in(&app, key, code).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(cookie.is_none(), "no session for a refused sign-in");
        assert!(reply.body.contains("Sign-in refused"));
        assert!(!reply.body.contains(key));
    }
    let refused: Vec<String> = session
        .records()
        .into_iter()
        .filter(|(a, _, _)| a == "console_sign_in_refused")
        .map(|(_, _, details)| details)
        .collect();
    assert_eq!(refused.len(), cases.len());
    for ((_, _, why), details) in cases.iter().zip(&refused) {
        assert!(details.contains(why), "{details} should say {why}");
    }
    assert!(refused[1].contains("viewer"), "the read key is named");

    // More than five failures block the source; then even the right key
    // is refused.
    assert!(session.guard.risk_status().blocked_sources.is_empty());
    for _ in 0..2 {
        let (reply, _) = sign_in(&app, ADMIN_KEY, "111111").await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
    assert!(!session.guard.risk_status().blocked_sources.is_empty());
    let (reply, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(cookie.is_none());
    assert!(reply.body.contains("Too many failed sign-ins"));

    let bytes = session.all_bytes();
    for secret in [
        ADMIN_KEY,
        READ_KEY,
        EXPIRED_KEY,
        TOTP,
        "not-a-key-CANARY-3e1",
    ] {
        assert!(
            !contains(&bytes, secret),
            "a presented key or code was recorded"
        );
    }
}

#[tokio::test]
async fn posts_without_a_valid_token_or_from_another_origin_are_refused() {
    let session = Session::start().await;
    let app = session.app(IDLE);
    let (_, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    let cookie = cookie.expect("signed in");
    let csrf = csrf_of(&get(&app, "/console", Some(&cookie)).await.body);

    let attempts: Vec<Reply> = vec![
        // No token.
        post(&app, "/console/halt", Some(&cookie), &[("reason", "x")]).await,
        // Another session's token (a wrong one).
        post(&app, "/console/halt", Some(&cookie), &[("csrf", "AAAA")]).await,
        // The right token, but posted from another origin.
        post_with(
            &app,
            "/console/halt",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[("origin", "http://evil.example")],
        )
        .await,
        post_with(
            &app,
            "/console/halt",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[("sec-fetch-site", "cross-site")],
        )
        .await,
        // An opaque origin without a same-origin fetch.
        post_with(
            &app,
            "/console/halt",
            Some(&cookie),
            &[("csrf", &csrf)],
            &[("origin", "null"), ("sec-fetch-site", "same-site")],
        )
        .await,
        // No cookie at all (what a cross-site form sends under SameSite=Strict).
        post(&app, "/console/halt", None, &[("csrf", &csrf)]).await,
    ];
    for reply in &attempts {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert!(reply.body.contains("Nothing was changed"));
    }
    assert_eq!(session.guard.trading_state(), TradingState::Active);
    assert_eq!(count(&session, "console_refused"), attempts.len());
    assert_eq!(count(&session, "console_command"), 0);
    assert!(
        session
            .records()
            .iter()
            .any(|(a, _, d)| a == "console_refused" && d.contains("evil.example"))
    );

    // With everything right it halts, audited with the operator.
    let reply = post(&app, "/console/halt", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(session.guard.trading_state(), TradingState::Halted);
    let records = session.records();
    let command = records
        .iter()
        .find(|(a, _, _)| a == "console_command")
        .expect("the halt is audited");
    assert_eq!(command.1.as_deref(), Some("ops"));
    assert!(command.2.contains(r#""cmd":"halt""#));
}

#[tokio::test]
async fn an_expired_session_is_refused_and_audited() {
    let session = Session::start().await;
    let app = session.app(Duration::from_secs(1));
    let (_, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    let cookie = cookie.expect("signed in");
    let csrf = csrf_of(&get(&app, "/console", Some(&cookie)).await.body);
    tokio::time::sleep(Duration::from_millis(1_300)).await;

    let reply = post(&app, "/console/halt", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.body.contains("the session expired"));
    assert_eq!(session.guard.trading_state(), TradingState::Active);
    let records = session.records();
    let refused = records
        .iter()
        .find(|(a, _, _)| a == "console_refused")
        .expect("audited");
    assert_eq!(refused.1.as_deref(), Some("ops"));
    assert!(refused.2.contains("the session expired"));

    // The session is gone: the page sends the operator to sign in.
    let reply = get(&app, "/console", Some(&cookie)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn flatten_and_reset_need_the_totp_code_and_sign_out_ends_the_session() {
    let session = Session::start().await;
    session.buy(10).await.expect("order");
    let app = session.app(IDLE);
    let (_, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    let cookie = cookie.expect("signed in");
    let csrf = csrf_of(&get(&app, "/console", Some(&cookie)).await.body);

    // Halt, then a reset with a wrong code stays HALTED.
    post(
        &app,
        "/console/halt",
        Some(&cookie),
        &[("csrf", &csrf), ("reason", "drill")],
    )
    .await;
    assert_eq!(session.guard.trading_state(), TradingState::Halted);
    let reply = post(
        &app,
        "/console/reset",
        Some(&cookie),
        &[("csrf", &csrf), ("totp", "123123")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(session.guard.trading_state(), TradingState::Halted);
    let page = get(&app, "/console", Some(&cookie)).await.body;
    assert!(page.contains("Reset refused"), "the outcome is shown once");
    assert!(
        page.contains("drill (by ops via the console)"),
        "the halt's reason"
    );

    // Flatten with a wrong code closes nothing; with the code it closes SBIN.
    post(
        &app,
        "/console/flatten",
        Some(&cookie),
        &[("csrf", &csrf), ("totp", "999999")],
    )
    .await;
    assert_eq!(session.guard.risk_status().positions[0].net, 10);
    post(
        &app,
        "/console/flatten",
        Some(&cookie),
        &[("csrf", &csrf), ("totp", TOTP)],
    )
    .await;
    assert!(
        session
            .guard
            .risk_status()
            .positions
            .iter()
            .all(|p| p.net == 0)
    );

    // Reset with the code: ACTIVE again.
    post(
        &app,
        "/console/reset",
        Some(&cookie),
        &[("csrf", &csrf), ("totp", TOTP)],
    )
    .await;
    assert_eq!(session.guard.trading_state(), TradingState::Active);

    let commands: Vec<String> = session
        .records()
        .into_iter()
        .filter(|(a, actor, _)| a == "console_command" && actor.as_deref() == Some("ops"))
        .map(|(_, _, d)| d)
        .collect();
    assert_eq!(commands.len(), 5);
    assert!(commands[1].contains(r#""ok":false"#), "the refused reset");

    // Sign out (a POST with the token), audited; the cookie is dead after.
    let reply = post(&app, "/console/logout", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(
        reply.headers["set-cookie"]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
    assert_eq!(count(&session, "console_sign_out"), 1);
    let reply = post(&app, "/console/halt", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(!contains(&session.all_bytes(), TOTP));
}

#[tokio::test]
async fn the_live_tail_streams_the_state_and_new_records_to_a_session_only() {
    let session = Session::start().await;
    let app = session.app(IDLE);
    assert_eq!(
        get(&app, "/console/events", None).await.status,
        StatusCode::FORBIDDEN
    );

    let (_, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    let cookie = cookie.expect("signed in");
    let response = app
        .clone()
        .oneshot(
            request("GET", "/console/events")
                .header("cookie", &cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body().into_data_stream();
    let first = body.next().await.expect("an event").expect("bytes");
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(first.contains("event: update"), "{first}");
    assert!(first.contains(r#""state":"ACTIVE""#));
    assert!(first.contains("console_sign_in"));

    session.guard.halt_and_cancel("tail test").await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains(r#""state":"HALTED""#) {
        let next = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("HALTED within 5 s")
            .expect("stream open")
            .expect("bytes");
        seen.push_str(&String::from_utf8_lossy(&next));
    }
    assert!(seen.contains("emergency_stop"), "the new records follow");
}

#[tokio::test]
async fn the_vaults_client_keys_sign_in_only_when_admin_scoped_and_current() {
    use asta_cli::console::{AdminKeys, AdminRefusal, RegistryAdminKeys};
    use asta_vault::{
        Argon2Params, ClientScope, ExposeSecret, KeySource, MasterKey, Vault, VaultOptions,
    };
    use std::sync::Arc;

    let session = Session::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let clock: Arc<dyn asta_core::Clock> = Arc::new(session.clock.clone());
    let mut vault = Vault::create(
        dir.path().join("asta.vault"),
        &KeySource::Raw(MasterKey::generate().expect("key")),
        VaultOptions::new()
            .with_clock(Arc::clone(&clock))
            .with_argon2(Argon2Params::dangerous_weak_for_tests(8, 1, 1).expect("params")),
    )
    .expect("vault");
    let day = chrono::TimeDelta::days(1);
    let admin = vault
        .issue_client_key("ops", ClientScope::Admin, None, day)
        .expect("admin key");
    let read = vault
        .issue_client_key("viewer", ClientScope::Read, None, day)
        .expect("read key");
    let trade = vault
        .issue_client_key("bot", ClientScope::Trade, None, day)
        .expect("trade key");
    let keys = RegistryAdminKeys::new(
        Arc::new(vault.client_key_registry().expect("registry")),
        Arc::clone(&clock),
    );
    assert_eq!(
        keys.check_admin(admin.key.expose_secret()),
        Ok("ops".to_owned())
    );
    for (key, name, scope) in [(&read, "viewer", "read"), (&trade, "bot", "trade")] {
        assert_eq!(
            keys.check_admin(key.key.expose_secret()),
            Err(AdminRefusal::NotAdmin {
                name: name.to_owned(),
                scope: scope.to_owned()
            })
        );
    }
    assert_eq!(keys.check_admin("asta_ck_nope"), Err(AdminRefusal::Unknown));

    // Through the console: the read key is refused and audited by name.
    let app = axum::Router::new().nest(
        asta_cli::console::MOUNT,
        asta_cli::console::router(
            asta_cli::console::ConsoleDeps::new(
                Arc::clone(&session.guard),
                Arc::new(keys),
                Arc::new(session::FixedTotp),
                session.key.clone(),
            )
            .secure_cookies(true),
        ),
    );
    let (reply, cookie) = sign_in(&app, read.key.expose_secret(), TOTP).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(cookie.is_none());
    assert!(
        session
            .records()
            .iter()
            .any(|(a, actor, d)| a == "console_sign_in_refused"
                && actor.as_deref() == Some("viewer")
                && d.contains("scope read"))
    );
    let (reply, cookie) = sign_in(&app, admin.key.expose_secret(), TOTP).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(cookie.is_some());
    let set = reply.headers["set-cookie"].to_str().expect("ascii");
    assert!(set.ends_with("; Secure"), "Secure under TLS: {set}");

    // An expired key: refused.
    session.clock.advance(chrono::TimeDelta::days(2));
    let (reply, _) = sign_in(&app, admin.key.expose_secret(), TOTP).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let bytes = session.all_bytes();
    for key in [&admin, &read, &trade] {
        assert!(!contains(&bytes, key.key.expose_secret()));
    }
}

#[tokio::test]
async fn a_rebound_dns_name_is_not_answered() {
    let session = Session::start().await;
    let app = session.app(IDLE);
    let reply = send(
        &app,
        Request::builder()
            .method("POST")
            .uri("/console/login")
            .header("host", "attacker.example:8700")
            .header("origin", "http://attacker.example:8700")
            .header("content-type", "application/x-www-form-urlencoded")
            .extension(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))))
            .body(Body::from(form(&[("key", "guess"), ("totp", "000000")])))
            .expect("request"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    // Not even counted as a failed sign-in: the operator's address is not
    // blocked by someone else's page.
    assert_eq!(count(&session, "console_sign_in_refused"), 0);
    assert!(session.guard.risk_status().blocked_sources.is_empty());
}

#[tokio::test]
async fn an_oversized_form_is_refused_before_it_is_read() {
    let session = Session::start().await;
    let app = session.app(IDLE);
    let huge = "k".repeat(64 * 1024);
    let (reply, cookie) = sign_in(&app, &huge, TOTP).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(cookie.is_none());
    assert_eq!(count(&session, "console_sign_in_refused"), 0);
}

#[tokio::test]
async fn the_live_tail_ends_when_the_server_stops() {
    let session = Session::start().await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = Router::new().nest(
        asta_cli::console::MOUNT,
        asta_cli::console::router(session.deps(IDLE).stop_signal(stop_rx)),
    );
    let (_, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    let response = app
        .clone()
        .oneshot(
            request("GET", "/console/events")
                .header("cookie", cookie.expect("signed in"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let mut body = response.into_body().into_data_stream();
    assert!(body.next().await.is_some(), "the first update");
    stop_tx.send(true).expect("receiver alive");
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(chunk) = body.next().await {
            chunk.expect("bytes");
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends within a tick of the stop");
}

#[tokio::test]
async fn the_pages_background_refresh_does_not_keep_a_session_alive() {
    let session = Session::start().await;
    let app = session.app(Duration::from_secs(1));
    let (_, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    let cookie = cookie.expect("signed in");
    let page = get(&app, "/console", Some(&cookie)).await;
    let csrf = csrf_of(&page.body);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let panels = get(&app, "/console/panels", Some(&cookie)).await;
        if panels.status == StatusCode::OK {
            assert!(panels.body.contains(r#"id="book-card""#));
            assert!(!panels.body.contains(r#"id="flash""#));
        }
    }
    // 1.2 s after the last page load: expired, though panels were fetched.
    let reply = post(&app, "/console/halt", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(session.guard.trading_state(), TradingState::Active);
    assert_eq!(
        get(&app, "/console/panels", None).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_page_shows_each_strategys_state_and_why() {
    let session = Session::start().await;
    let tag = asta_core::StrategyTag::new("client").expect("tag");
    session
        .guard
        .with_risk(|risk| risk.halt_strategy(&tag, "too many rejections <script>"))
        .await;
    let app = session.app(IDLE);
    let (_, cookie) = sign_in(&app, ADMIN_KEY, TOTP).await;
    let page = get(&app, "/console", cookie.as_deref()).await.body;
    assert!(page.contains(r#"<div id="state" class="badge active">ACTIVE</div>"#));
    assert!(page.contains("strategy client"));
    assert!(page.contains(r#"<span class="pill halted">HALTED</span>"#));
    assert!(
        page.contains("too many rejections &lt;script&gt;"),
        "escaped"
    );
    assert!(!page.contains("rejections <script>"));
}

#[tokio::test]
async fn a_flood_of_refused_posts_is_refused_every_time_but_recorded_within_a_budget() {
    let session = Session::start().await;
    let app = session.app(IDLE);
    // What a page in the operator's browser could send in a loop: forms
    // posted from another site, which carry no cookie.
    for _ in 0..60 {
        let reply = post_with(
            &app,
            "/console/halt",
            None,
            &[("reason", "flood")],
            &[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    }
    assert_eq!(session.guard.trading_state(), TradingState::Active);
    // Twenty refusals recorded one by one, then one record that the rest
    // are being counted: the trail that carries the orders is not flooded.
    assert_eq!(count(&session, "console_refused"), 20);
    assert_eq!(count(&session, "console_refusals_counting"), 1);
    assert!(
        session
            .records()
            .iter()
            .any(|(a, _, d)| a == "console_refusals_counting" && d.contains("127.0.0.1"))
    );
}
