//! The HTTP side of `asta serve`: the `/api/v1` router, and the listener
//! that serves any router with the gateway's limits.
//!
//! The listener is hyper's HTTP/1 server driven here rather than
//! `axum::serve`, for three things axum's does not do: a header-read
//! timeout (a client that dribbles its headers is disconnected), a bound on
//! connections served at once, and TLS (tokio-rustls on ring). Request
//! bodies are read by the handler under the same timeout (a slow body gets
//! 408 and the connection is closed) and size bound (413).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// The limits every request is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// The deepest JSON nesting.
    pub max_json_depth: usize,
    /// Time to send the headers, and again the body.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `[serve]`.
    pub fn from_config(serve: &crate::config::ServeSection) -> Self {
        Self {
            max_body_bytes: serve.max_body_bytes,
            max_json_depth: serve.max_json_depth,
            request_timeout: Duration::from_secs(serve.request_timeout_secs),
            max_connections: serve.max_connections,
        }
    }
}

/// What answers an OpenAlgo v1 call once its body is read: the seam
/// between HTTP and the gateway's authentication and dispatch.
#[async_trait::async_trait]
pub trait ApiHandler: Send + Sync {
    /// Answers `POST /api/v1/{path}` with `body` from `peer`: the HTTP
    /// status and the JSON body's bytes.
    async fn handle(&self, path: &str, body: &[u8], peer: SocketAddr) -> (StatusCode, Vec<u8>);

    /// The body of a refusal the HTTP layer makes itself (413, 408).
    fn refusal(&self, _status: StatusCode, message: &str) -> Value {
        json!({"message": message, "status": "error"})
    }
}

#[derive(Clone)]
struct ApiState {
    handler: Arc<dyn ApiHandler>,
    limits: Limits,
}

/// The router for `/api/v1/*`: `POST` only (any other method is OpenAlgo's
/// 404 `Not found`), bodies read under the limits, then `handler`. Merge it
/// with other routers (the operator console) and serve the result with
/// [`serve`].
pub fn api_router(handler: Arc<dyn ApiHandler>, limits: Limits) -> Router {
    let state = ApiState { handler, limits };
    Router::new()
        .route(
            "/api/v1/{*endpoint}",
            post(api_call).fallback(not_found_method),
        )
        .with_state(state)
}

async fn api_call(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(endpoint): Path<String>,
    request: Request<Body>,
) -> Response {
    let limits = state.limits;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        let message = format!(
            "The request body is larger than {} bytes.",
            limits.max_body_bytes
        );
        closing(
            StatusCode::PAYLOAD_TOO_LARGE,
            state
                .handler
                .refusal(StatusCode::PAYLOAD_TOO_LARGE, &message),
        )
    };
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return too_large();
    }
    let read = axum::body::to_bytes(request.into_body(), limits.max_body_bytes);
    let bytes = match tokio::time::timeout(limits.request_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            let message = format!(
                "The request body did not arrive within {} seconds.",
                limits.request_timeout.as_secs()
            );
            return closing(
                StatusCode::REQUEST_TIMEOUT,
                state.handler.refusal(StatusCode::REQUEST_TIMEOUT, &message),
            );
        }
    };
    let (status, body) = state.handler.handle(&endpoint, &bytes, peer).await;
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// OpenAlgo's answer to a method its route does not take.
async fn not_found_method(uri: Uri) -> Response {
    let path: String = uri.path().chars().take(200).collect();
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"message": "Not found", "path": path, "status": "error"})),
    )
        .into_response()
}

/// An answer after which the connection is closed.
fn closing(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// How a [`serve`] loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// Connections accepted.
    pub connections: u64,
    /// Connections still open when the grace period ended (0 when every
    /// in-flight request finished).
    pub abandoned: usize,
}

/// Serves `router` on `listener` until `stop` turns `true`: then stops
/// accepting, lets in-flight requests finish (each open connection is told
/// to close after its current response), and returns once every connection
/// is done or `grace` has passed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) -> Served {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = JoinSet::new();
    let mut accepted = 0u64;
    loop {
        if *stop.borrow() {
            break;
        }
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(_) => {
                    // Out of descriptors or a reset before accept: wait a
                    // moment rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
        accepted += 1;
        let router = router.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tls {
                None => connection(stream, peer, router, limits, stop).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.request_timeout, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        connection(stream, peer, router, limits, stop).await;
                    }
                }
            }
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let abandoned = if drained.is_ok() {
        0
    } else {
        let left = connections.len();
        connections.abort_all();
        left
    };
    Served {
        connections: accepted,
        abandoned,
    }
}

/// One HTTP/1 connection: the peer's address in every request's
/// extensions, the header timeout, graceful close on `stop`.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // The peer's address for every request (Router::layer is cheap: the
    // routes are shared).
    let service = router.layer(axum::Extension(ConnectInfo(peer)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(conn);
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
    }
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}
