//! The console's routes: sign-in, the page, the actions and the live tail.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::Duration;

use asta_audit::AuditEvent;
use asta_broker::{Broker, EmergencyReport};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN,
    REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::session::{self, Active, Lookup};
use super::{Console, MOUNT, assets, page};

/// The policy every console response carries: nothing from another host,
/// no inline script or style, no framing, forms only to the console.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// How long a form body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the live tail looks for news.
const TICK: Duration = Duration::from_secs(1);

pub(crate) fn routes<B: Broker + 'static>(console: Arc<Console<B>>) -> Router {
    Router::new()
        .route("/", get(index::<B>))
        .route("/login", get(login_page::<B>).post(login::<B>))
        .route("/logout", post(logout::<B>))
        .route("/halt", post(halt::<B>))
        .route("/flatten", post(flatten::<B>))
        .route("/reset", post(reset::<B>))
        .route("/events", get(events::<B>))
        .route("/panels", get(panels::<B>))
        .route("/assets/console.css", get(css))
        .route("/assets/console.js", get(js))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&console),
            known_host::<B>,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// The host part of a `Host` header (without its port), lowercased.
fn host_name(header: &str) -> String {
    let header = header.trim();
    let host = if let Some(rest) = header.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match header.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => header,
        }
    };
    host.to_ascii_lowercase()
}

/// Whether a request's `Host` is an IP address, `localhost`, or a name the
/// console was told about.
pub(crate) fn host_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = host_name(host);
    name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || allowed.contains(&name)
}

async fn known_host<B: Broker + 'static>(
    State(console): Shared<B>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if console.any_host || host_allowed(request.headers(), &console.allowed_hosts) {
        next.run(request).await
    } else {
        html(
            StatusCode::MISDIRECTED_REQUEST,
            page::refused("This console does not answer to that host name."),
        )
    }
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The address a request came from (for the brute-force block), or
/// `unknown` when the server does not provide it.
pub(crate) struct Source(String);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Source(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string()),
        ))
    }
}

/// A parsed form body; values are wiped when dropped (they may be a key or
/// a TOTP code).
struct Form(Vec<(String, Zeroizing<String>)>);

impl Form {
    /// Reads a form body: at most [`MAX_FORM_BYTES`], within
    /// [`BODY_TIMEOUT`] (a client that sends slowly is cut off, not waited
    /// for).
    async fn read(body: Body) -> Result<Self, Response> {
        match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_FORM_BYTES)).await {
            Ok(Ok(bytes)) => Ok(Form::parse(&bytes)),
            Ok(Err(_)) => Err(html(
                StatusCode::PAYLOAD_TOO_LARGE,
                page::refused("The form is larger than the console accepts."),
            )),
            Err(_) => Err(html(
                StatusCode::REQUEST_TIMEOUT,
                page::refused("The form did not arrive in time."),
            )),
        }
    }

    fn parse(body: &[u8]) -> Self {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A free-text field, trimmed and bounded (the guard sanitizes it again).
    fn text(&self, name: &str) -> Option<String> {
        let value = self.get(name)?.trim();
        (!value.is_empty()).then(|| value.chars().take(200).collect())
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// Printable ASCII of a header, bounded (for audit records).
fn shown_header(value: &HeaderValue) -> String {
    value
        .as_bytes()
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .take(100)
        .map(|b| char::from(*b))
        .collect()
}

/// Refuses a browser request from another site: every `Sec-Fetch-Site`
/// must be `same-origin` (or `none`, typed by the user) and every `Origin`
/// must name this host. `Origin: null` (what a browser sends under
/// `Referrer-Policy: no-referrer`, and from sandboxed frames) passes only
/// with `Sec-Fetch-Site: same-origin`. A client that sends neither header
/// (not a browser) still needs the session cookie and its CSRF token.
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let mut same_site_said = false;
    // Every value counts: a second header must not hide a foreign first.
    for site in headers.get_all("sec-fetch-site") {
        let site = shown_header(site);
        if site != "same-origin" && site != "none" {
            return Err(format!(
                "a request from another site (Sec-Fetch-Site {site})"
            ));
        }
        same_site_said |= site == "same-origin";
    }
    let host = headers.get(HOST).map(shown_header).unwrap_or_default();
    for origin in headers.get_all(ORIGIN) {
        let origin = shown_header(origin);
        if origin == "null" {
            if same_site_said {
                continue;
            }
            return Err("a request from an opaque origin (Origin null)".to_owned());
        }
        let matches = !host.is_empty()
            && (origin == format!("http://{host}") || origin == format!("https://{host}"));
        if !matches {
            return Err(format!("a request from another origin ({origin})"));
        }
    }
    Ok(())
}

impl<B: Broker + 'static> Console<B> {
    fn cookie_path(&self) -> &'static str {
        MOUNT
    }

    /// The sessions, locked (a poisoned lock is taken over: the table
    /// stays usable after a panic elsewhere).
    fn lock_sessions(&self) -> MutexGuard<'_, session::Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lookup(&self, headers: &HeaderMap) -> Lookup {
        self.find(headers, true)
    }

    /// Finds the request's session; `touch` moves its idle deadline on (an
    /// operator's request does, the page's background refresh does not).
    fn find(&self, headers: &HeaderMap, touch: bool) -> Lookup {
        let token = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| session::cookie_value(h, session::COOKIE));
        let mut sessions = self.lock_sessions();
        if touch {
            sessions.lookup(token, self.idle_timeout)
        } else {
            sessions.peek(token, self.idle_timeout)
        }
    }

    /// Appends a console record durably. A failure is logged; the guard's
    /// own next record meets the same failing trail and halts trading.
    async fn audit(&self, event: AuditEvent) {
        if let Err(error) = self.guard.audit_log().append_async(event).await {
            tracing::error!(%error, "console: an audit record could not be written");
        }
    }

    /// Refuses a request (403), recording why.
    async fn refuse(
        &self,
        what: &str,
        operator: Option<&str>,
        source: &str,
        reason: &str,
    ) -> Response {
        let mut event = AuditEvent::security(
            "console_refused",
            json!({"request": what, "operator": operator, "source": source, "reason": reason}),
        );
        if let Some(operator) = operator {
            event = event.with_actor(operator.to_owned());
        }
        self.audit_refusal(source, event).await;
        let message = format!("{what} refused: {reason}. Nothing was changed.");
        html(StatusCode::FORBIDDEN, page::refused(&message))
    }

    /// Checks a POST: same origin, a live session, the session's CSRF token.
    async fn check_post(
        &self,
        what: &str,
        headers: &HeaderMap,
        source: &str,
        form: &Form,
    ) -> Result<Active, Response> {
        let lookup = self.lookup(headers);
        let operator = match &lookup {
            Lookup::Active(active) => Some(active.operator.clone()),
            Lookup::Expired { operator } => Some(operator.clone()),
            Lookup::Missing => None,
        };
        if let Err(why) = same_origin(headers) {
            return Err(self.refuse(what, operator.as_deref(), source, &why).await);
        }
        let active = match lookup {
            Lookup::Active(active) => active,
            Lookup::Expired { operator } => {
                let response = self
                    .refuse(what, Some(&operator), source, "the session expired")
                    .await;
                return Err(with_cookie(
                    response,
                    &session::clear_cookie(self.cookie_path(), self.secure_cookies),
                ));
            }
            Lookup::Missing => {
                return Err(self.refuse(what, None, source, "not signed in").await);
            }
        };
        match form.get("csrf") {
            Some(token) if session::same_secret(token, &active.csrf) => Ok(active),
            Some(_) => Err(self
                .refuse(what, Some(&active.operator), source, "a wrong CSRF token")
                .await),
            None => Err(self
                .refuse(what, Some(&active.operator), source, "no CSRF token")
                .await),
        }
    }

    /// Reads a POST's form and checks it ([`Console::check_post`]): the
    /// preamble every action shares. The `Err` is the response to send.
    async fn read_post(
        &self,
        what: &str,
        headers: &HeaderMap,
        source: &str,
        body: Body,
    ) -> Result<(Active, Form), Response> {
        let form = Form::read(body).await?;
        let active = self.check_post(what, headers, source, &form).await?;
        Ok((active, form))
    }

    fn flash(&self, active: &Active, message: String) {
        self.lock_sessions().set_flash(active, message);
    }

    /// Records an action with its operator and outcome, leaves the outcome
    /// for the next page, and sends the browser back to the page.
    async fn done(
        &self,
        active: &Active,
        source: &str,
        cmd: &str,
        reason: Option<&str>,
        result: Value,
        message: String,
    ) -> Response {
        let event = AuditEvent::security(
            "console_command",
            json!({
                "cmd": cmd,
                "operator": active.operator,
                "source": source,
                "reason": reason,
                "result": result,
            }),
        )
        .with_actor(active.operator.clone());
        self.audit(event).await;
        self.flash(active, message);
        redirect(MOUNT)
    }
}

type Shared<B> = State<Arc<Console<B>>>;

async fn css() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], assets::CSS).into_response()
}

async fn js() -> Response {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8")],
        assets::JS,
    )
        .into_response()
}

async fn login_page<B: Broker + 'static>(
    State(console): Shared<B>,
    headers: HeaderMap,
) -> Response {
    match console.lookup(&headers) {
        Lookup::Active(_) => redirect(MOUNT),
        _ => html(StatusCode::OK, page::login(None)),
    }
}

async fn login<B: Broker + 'static>(
    State(console): Shared<B>,
    Source(source): Source,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let form = match Form::read(body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let refused = |status: StatusCode, message: &str| html(status, page::login(Some(message)));
    if let Err(why) = same_origin(&headers) {
        let event = AuditEvent::security(
            "console_sign_in_refused",
            json!({"source": source, "reason": why}),
        );
        console.audit_refusal(&source, event).await;
        return refused(StatusCode::FORBIDDEN, "Sign-in refused.");
    }
    let guard = &console.guard;
    let blocked = {
        let source = source.clone();
        guard
            .with_risk(move |risk| risk.login_blocked_until(&source))
            .await
    };
    if let Some(until) = blocked {
        let event = AuditEvent::security(
            "console_sign_in_refused",
            json!({"source": source, "reason": "too many failed sign-ins from this source", "blocked_until": until}),
        );
        console.audit_refusal(&source, event).await;
        let message = format!(
            "Too many failed sign-ins from this address; try again after {}.",
            until.format("%H:%M:%S UTC")
        );
        return refused(StatusCode::TOO_MANY_REQUESTS, &message);
    }
    let key = form.get("key").unwrap_or_default();
    let code = form.get("totp").unwrap_or_default().trim();
    let checked = console
        .admin_keys
        .check_admin(key)
        .map_err(|refusal| (refusal.key_name().map(str::to_owned), refusal.to_string()));
    let checked = checked.and_then(|name| match console.totp.verify(&name, code) {
        Ok(()) => Ok(name),
        Err(rejection) => Err((Some(name), rejection.to_string())),
    });
    match checked {
        Ok(operator) => {
            let token = console
                .lock_sessions()
                .create(&operator, console.idle_timeout);
            let Some(token) = token else {
                return refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "No session could be made (the system's random source failed).",
                );
            };
            let event = AuditEvent::security(
                "console_sign_in",
                json!({"operator": operator, "source": source, "idle_timeout_secs": console.idle_timeout.as_secs()}),
            )
            .with_actor(operator.clone());
            console.audit(event).await;
            with_cookie(
                redirect(MOUNT),
                &session::set_cookie(&token, console.cookie_path(), console.secure_cookies),
            )
        }
        Err((name, reason)) => {
            let verdict = {
                let source = source.clone();
                guard
                    .with_risk(move |risk| risk.record_failed_login(&source))
                    .await
            };
            let mut event = AuditEvent::security(
                "console_sign_in_refused",
                json!({"source": source, "key_name": name, "reason": reason, "failures": verdict.failures, "blocked_until": verdict.blocked_until}),
            );
            if let Some(name) = &name {
                event = event.with_actor(name.clone());
            }
            console.audit(event).await;
            refused(
                StatusCode::FORBIDDEN,
                "Sign-in refused: the key is not an admin key or the TOTP code is wrong.",
            )
        }
    }
}

async fn logout<B: Broker + 'static>(
    State(console): Shared<B>,
    Source(source): Source,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (active, _form) = match console.read_post("sign-out", &headers, &source, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    console.lock_sessions().remove(&active);
    let event = AuditEvent::security(
        "console_sign_out",
        json!({"operator": active.operator, "source": source}),
    )
    .with_actor(active.operator.clone());
    console.audit(event).await;
    with_cookie(
        redirect(&format!("{MOUNT}/login")),
        &session::clear_cookie(console.cookie_path(), console.secure_cookies),
    )
}

fn report_result(report: &EmergencyReport) -> Value {
    json!({
        "complete": report.is_complete(),
        "halted": report.halted,
        "cancelled": report.cancelled.len(),
        "closed": report.closed.len() as u64 + report.closed_unnamed,
        "failures": report.failures.len(),
    })
}

fn failures_text(report: &EmergencyReport) -> String {
    if report.failures.is_empty() {
        String::new()
    } else {
        let first: Vec<String> = report
            .failures
            .iter()
            .take(3)
            .map(|f| f.reason.clone())
            .collect();
        format!(
            "; {} failure(s): {}",
            report.failures.len(),
            first.join("; ")
        )
    }
}

async fn halt<B: Broker + 'static>(
    State(console): Shared<B>,
    Source(source): Source,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (active, form) = match console.read_post("halt", &headers, &source, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let reason = form
        .text("reason")
        .unwrap_or_else(|| "operator's halt".to_owned());
    let report = console
        .guard
        .halt_and_cancel(&format!(
            "{reason} (by {} via the console)",
            active.operator
        ))
        .await;
    let message = format!(
        "Halt: trading is {}; {} order(s) cancelled{}.",
        if report.halted {
            "HALTED"
        } else {
            "NOT halted"
        },
        report.cancelled.len(),
        failures_text(&report)
    );
    console
        .done(
            &active,
            &source,
            "halt",
            Some(&reason),
            report_result(&report),
            message,
        )
        .await
}

async fn flatten<B: Broker + 'static>(
    State(console): Shared<B>,
    Source(source): Source,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (active, form) = match console.read_post("flatten", &headers, &source, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let reason = form
        .text("reason")
        .unwrap_or_else(|| "operator's flatten".to_owned());
    let code = form.get("totp").unwrap_or_default().trim();
    let outcome = console
        .guard
        .flatten(&active.operator, code, console.totp.as_ref(), &reason)
        .await;
    let (result, message) = match outcome {
        Ok(report) => (
            report_result(&report),
            format!(
                "Flatten: {} position(s) closed{}.",
                report.closed.len() as u64 + report.closed_unnamed,
                failures_text(&report)
            ),
        ),
        Err(error) => refused_result("Flatten", &error),
    };
    console
        .done(&active, &source, "flatten", Some(&reason), result, message)
        .await
}

async fn reset<B: Broker + 'static>(
    State(console): Shared<B>,
    Source(source): Source,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (active, form) = match console.read_post("reset", &headers, &source, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let code = form.get("totp").unwrap_or_default().trim();
    let outcome = console
        .guard
        .reset(&active.operator, code, console.totp.as_ref())
        .await;
    let (result, message) = match outcome {
        Ok(()) => {
            let state = console.guard.trading_state().to_string();
            (
                json!({"ok": true, "trading_state": state}),
                format!("Reset: trading is {state}."),
            )
        }
        Err(error) => refused_result("Reset", &error),
    };
    console
        .done(&active, &source, "reset", None, result, message)
        .await
}

fn refused_result(what: &str, error: &asta_broker::BrokerError) -> (Value, String) {
    let public = error.public_error();
    let reason = error.to_string();
    (
        json!({"ok": false, "code": public.code().as_str(), "reason": reason, "reference": public.reference().to_string()}),
        format!("{what} refused: {reason} (ref {}).", public.reference()),
    )
}

async fn index<B: Broker + 'static>(
    State(console): Shared<B>,
    Source(source): Source,
    headers: HeaderMap,
) -> Response {
    let active = match console.lookup(&headers) {
        Lookup::Active(active) => active,
        Lookup::Expired { operator } => {
            let event = AuditEvent::security(
                "console_refused",
                json!({"request": "page", "operator": operator, "source": source, "reason": "the session expired"}),
            )
            .with_actor(operator);
            console.audit(event).await;
            return with_cookie(
                html(
                    StatusCode::UNAUTHORIZED,
                    page::login(Some("Your session expired; sign in again.")),
                ),
                &session::clear_cookie(console.cookie_path(), console.secure_cookies),
            );
        }
        Lookup::Missing => return redirect(&format!("{MOUNT}/login")),
    };
    let flash = console.lock_sessions().take_flash(&active);
    html(
        StatusCode::OK,
        render(&console, &active, flash.as_deref()).await,
    )
}

/// The page again, for the script's background refresh of its panels:
/// it does not move the session's idle deadline on and shows no flash.
async fn panels<B: Broker + 'static>(State(console): Shared<B>, headers: HeaderMap) -> Response {
    match console.find(&headers, false) {
        Lookup::Active(active) => html(StatusCode::OK, render(&console, &active, None).await),
        _ => html(StatusCode::FORBIDDEN, page::refused("Not signed in.")),
    }
}

async fn render<B: Broker + 'static>(
    console: &Console<B>,
    active: &Active,
    flash: Option<&str>,
) -> String {
    let guard = &console.guard;
    let status = guard.session_status();
    let orders = guard
        .order_book()
        .await
        .map_err(|error| error.public_error().to_string());
    let unresolved = guard.unresolved_outcomes();
    let (mut rows, tail_error) = console.tail.since(guard.audit_log(), 0, true).await;
    rows.reverse();
    let (samples, seconds_per_sample) = {
        let mut ring = console
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ring.record(&status.risk);
        (ring.samples().to_vec(), ring.seconds_per_sample())
    };
    let view = page::View {
        operator: &active.operator,
        csrf: &active.csrf,
        flash,
        status: &status,
        orders,
        unresolved: &unresolved,
        rows: &rows,
        tail_error: tail_error.as_deref(),
        samples: &samples,
        seconds_per_sample,
    };
    page::main_page(&view)
}

/// `after=N` from the query, or 0.
fn after_param(uri: &Uri) -> u64 {
    uri.query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "after")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Feed<B> {
    console: Arc<Console<B>>,
    active: Active,
    after: u64,
    first: bool,
    ended: bool,
}

async fn events<B: Broker + 'static>(
    State(console): Shared<B>,
    Source(source): Source,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let active = match console.lookup(&headers) {
        Lookup::Active(active) => active,
        Lookup::Expired { operator } => {
            return console
                .refuse("live tail", Some(&operator), &source, "the session expired")
                .await;
        }
        Lookup::Missing => {
            return console
                .refuse("live tail", None, &source, "not signed in")
                .await;
        }
    };
    let feed = Feed {
        console,
        active,
        after: after_param(&uri),
        first: true,
        ended: false,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        if feed.ended {
            return None;
        }
        if !feed.first {
            tokio::time::sleep(TICK).await;
        }
        feed.first = false;
        let console = Arc::clone(&feed.console);
        if console.stop.as_ref().is_some_and(|stop| *stop.borrow()) {
            // The server is stopping: end the stream so it can drain.
            return None;
        }
        let live = console
            .lock_sessions()
            .still_active(&feed.active, console.idle_timeout);
        if !live {
            feed.ended = true;
            let event = Event::default().event("signed-out").data("{}");
            return Some((Ok::<Event, Infallible>(event), feed));
        }
        let status = console.guard.risk_status();
        let (rows, _) = console
            .tail
            .since(console.guard.audit_log(), feed.after, false)
            .await;
        if let Some(last) = rows.last() {
            feed.after = last.seq;
        }
        let data = json!({
            "state": status.account.state.to_string(),
            "reason": status.account.reason,
            "rows": rows,
        });
        let event = Event::default().event("update").data(data.to_string());
        Some((Ok(event), feed))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            HOST,
            HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("x")),
        );
        headers
    }

    #[test]
    fn only_addresses_localhost_and_named_hosts_are_answered() {
        let named = ["console.example.in".to_owned()];
        for ok in [
            "127.0.0.1:5010",
            "[::1]:5010",
            "localhost:5010",
            "LOCALHOST",
            "10.0.0.7",
        ] {
            assert!(host_allowed(&host(ok), &[]), "{ok}");
        }
        assert!(host_allowed(&host("Console.Example.IN:443"), &named));
        for bad in [
            "evil.example:5010",
            "127.0.0.1.evil.example",
            "localhost.evil",
        ] {
            assert!(!host_allowed(&host(bad), &named), "{bad}");
        }
        assert!(!host_allowed(&HeaderMap::new(), &named));
    }

    #[test]
    fn foreign_origins_and_sites_are_refused() {
        let mut headers = host("127.0.0.1:5010");
        assert!(same_origin(&headers).is_ok(), "a client that sends neither");
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:5010"));
        assert!(same_origin(&headers).is_ok());
        headers.append(ORIGIN, HeaderValue::from_static("http://127.0.0.1:6666"));
        assert!(same_origin(&headers).is_err(), "a second, foreign origin");
        let mut headers = host("127.0.0.1:5010");
        headers.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&headers).is_err());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&headers).is_ok());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(same_origin(&headers).is_err());
    }
}
