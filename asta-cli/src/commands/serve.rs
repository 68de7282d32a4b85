//! `asta serve`: run the trading session and serve OpenAlgo clients until
//! SIGTERM or SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use asta_broker::{Broker, ControlConfig, ControlServer};
use asta_core::TradingMode;
use asta_risk::TotpVerifier;
use secrecy::SecretString;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::config::Config;
use crate::context::open_vault;
use crate::failure::{CommandResult, EXIT_OK, Failure};
use crate::serve::{Gateway, Limits, QuoteFeed, Session, api_router, serve};

/// How long in-flight requests may take to finish after a stop signal.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// How often the guard polls the broker for fills and marks.
const SYNC_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the session.
pub fn run(args: &ServeArgs, config: &Config) -> CommandResult {
    let serve_config = &config.file.serve;
    let addr = serve_config
        .listen_addr()
        .map_err(|e| Failure::invalid("fix serve.listen in asta.toml", anyhow::anyhow!(e)))?;
    let tls_paths = config.tls_paths();
    if !addr.ip().is_loopback() && tls_paths.is_none() {
        return Err(Failure::refused(
            "listen on 127.0.0.1, or set serve.tls_cert and serve.tls_key to serve beyond this machine",
            anyhow::anyhow!(
                "serve.listen {addr} is not a loopback address and no TLS is configured"
            ),
        ));
    }
    let tls = match &tls_paths {
        Some((cert, key)) => Some(crate::serve::tls::acceptor(cert, key).map_err(|e| {
            Failure::invalid("fix serve.tls_cert and serve.tls_key in asta.toml", e)
        })?),
        None => None,
    };
    let live_code = if config.file.trading.mode == TradingMode::Live {
        let prompt = "TOTP code to start a live trading session: ";
        Some(
            crate::secret_input::read_secret(prompt)
                .map_err(|e| Failure::invalid("type the operator's TOTP code", e))?,
        )
    } else {
        None
    };
    let vault = open_vault(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.clamp(1, 64))
        .enable_all()
        .build()
        .map_err(|e| Failure::internal("cannot start the async runtime", e))?;
    runtime.block_on(session(config, vault, live_code, addr, tls))
}

async fn session(
    config: &Config,
    vault: asta_vault::Vault,
    live_code: Option<SecretString>,
    addr: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> CommandResult {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        Failure::refused(
            format!(
                "cannot listen on {addr}: is another session running? (serve.listen in asta.toml)"
            ),
            e,
        )
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::internal("cannot read the bound address", e))?;
    let feed = quote_feed(config)?;
    let session = Arc::new(Session::open(config, vault, live_code).await?);
    let guard = Arc::clone(session.guard());
    let verifier: Arc<dyn TotpVerifier + Send + Sync> = session.totp_verifier().clone();
    let control = ControlServer::start(
        Arc::clone(&guard),
        ControlConfig::new(config.control_socket_path()).totp_verifier(verifier),
    )
    .await
    .map_err(|e| {
        Failure::refused(
            "the control socket cannot be served; is another session running? (paths.control_socket)",
            e,
        )
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mode = session.mode();
    let api_mode = if mode == TradingMode::Live {
        "live"
    } else {
        "analyze"
    };
    let venue = guard.get_ref().venue().as_str();
    session
        .audit()
        .append_async(asta_audit::AuditEvent::system(
            "serve_started",
            json!({
                "mode": mode.to_string(),
                "venue": venue,
                "hours_waived": session.hours_waived(),
                "listen": bound.to_string(),
                "tls": tls.is_some(),
                "api": "/api/v1/",
                "control_socket": control.socket_path().display().to_string(),
                "client_keys": session.keys().current().len(),
            }),
        ))
        .await
        .map_err(|e| Failure::internal("the session start could not be recorded", e))?;

    let mut tasks = tokio::task::JoinSet::new();
    if session.sandbox().is_some() && !feed.is_empty() {
        // The first prices are in place before the first client call.
        feed.tick(&session).await;
        tasks.spawn(feed.run(Arc::clone(&session)));
    }
    tasks.spawn(Arc::clone(session.keys()).watch());
    {
        let guard = Arc::clone(&guard);
        tasks.spawn(async move {
            loop {
                tokio::time::sleep(SYNC_INTERVAL).await;
                let _ = guard.sync().await;
            }
        });
    }

    let limits = Limits::from_config(&config.file.serve);
    let gateway = Arc::new(Gateway::new(Arc::clone(&session), &limits));
    // The operator console at /console on the same listener; its live
    // pages end on the stop signal so they never hold the drain open.
    let (stop_tx, stop_rx) = watch::channel(false);
    let console =
        crate::console::session_deps(&session, tls.is_some())?.stop_signal(stop_rx.clone());
    let router =
        api_router(gateway, limits).nest(crate::console::MOUNT, crate::console::router(console));

    crate::say!(
        "asta serve: listening on {scheme}://{bound} (OpenAlgo REST v1 at /api/v1/, mode {mode}/{api_mode})"
    );
    crate::say!(
        "asta serve: control socket {}",
        control.socket_path().display()
    );
    crate::say!("asta serve: operator console at {scheme}://{bound}/console");
    if session.hours_waived() {
        crate::say!(
            "asta serve: trading hours waived ([sandbox] always_open): a rehearsal, not a market"
        );
    }
    crate::say!("asta serve: stop with SIGTERM or Ctrl-C");
    let _ = std::io::stdout().flush();

    let (why_tx, why_rx) = tokio::sync::oneshot::channel::<&'static str>();
    tokio::spawn(async move {
        let why = stop_signal().await;
        let _ = why_tx.send(why);
        let _ = stop_tx.send(true);
    });
    let served = serve(listener, router, tls, limits, stop_rx, STOP_GRACE).await;
    let why = why_rx.await.unwrap_or("stopped");
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    control.shutdown();
    let _ = guard.sync().await;
    session
        .record_system(
            "serve_drained",
            json!({"signal": why, "connections": served.connections, "abandoned": served.abandoned}),
        )
        .await;
    drop(guard);
    session.close(why).await?;
    crate::say!(
        "asta serve: stopped ({why}): {} connection(s) served, {} cut off; risk snapshot saved; audit trail closed",
        served.connections,
        served.abandoned
    );
    Ok(EXIT_OK)
}

/// The sandbox's quote feed from `[sandbox]` (empty outside sandbox mode,
/// where the configuration refuses `[sandbox]` settings).
fn quote_feed(config: &Config) -> Result<QuoteFeed, Failure> {
    let sandbox = &config.file.sandbox;
    let prices = sandbox
        .starting_quotes()
        .map_err(|e| Failure::invalid("fix [sandbox.quotes] in asta.toml", anyhow::anyhow!(e)))?;
    let catalog = asta_core::InstrumentCatalog::from_path(&config.instruments_path())
        .map_err(|e| Failure::invalid("check paths.instruments in asta.toml", e))?;
    for (exchange, symbol, _) in &prices {
        if catalog.get(*exchange, symbol).is_err() {
            eprintln!(
                "asta serve: [sandbox.quotes] prices {exchange}:{symbol}, which the instrument catalog does not list; orders for it will be refused"
            );
        }
    }
    Ok(QuoteFeed::new(
        prices,
        &catalog,
        sandbox.random_walk_bps,
        Duration::from_millis(sandbox.interval_ms()),
    ))
}

/// Waits for SIGTERM or SIGINT and names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the process can only be killed; serve on.
        std::future::pending::<()>().await;
        return "stopped";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
