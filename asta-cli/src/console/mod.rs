//! The operator console: a web page on `asta serve` that shows a running
//! session and stops it.
//!
//! [`router`] builds an [axum](https://docs.rs/axum) router for one session's
//! [`Guard`]; `asta serve` nests it at [`MOUNT`] (`/console`) on its own
//! listener, so the console follows the gateway's network rules (loopback,
//! or TLS elsewhere). Everything is rendered by the server: the page works
//! without script except for its live parts (the audit tail and the state
//! badge, fed by server-sent events from `/console/events`, and the other
//! panels, fetched again when the tail reports news). Nothing is
//! loaded from another host.
//!
//! # Example
//!
//! Mounting the console of a session's guard next to the gateway's routes:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use asta_cli::console::{self, AdminKeys, ConsoleDeps};
//!
//! fn with_console<B: asta_broker::Broker + 'static>(
//!     api: axum::Router,
//!     guard: Arc<asta_broker::Guard<B>>,
//!     keys: Arc<dyn AdminKeys>, // e.g. console::RegistryAdminKeys
//!     totp: Arc<dyn asta_risk::TotpVerifier + Send + Sync>, // e.g. VaultTotpVerifier
//!     chain_key: asta_audit::ChainKey,
//!     tls: bool,
//! ) -> axum::Router {
//!     let deps = ConsoleDeps::new(guard, keys, totp, chain_key)
//!         .idle_timeout(Duration::from_secs(900)) // [serve] console_idle_secs
//!         .secure_cookies(tls);
//!     api.nest(console::MOUNT, console::router(deps))
//! }
//! ```
//!
//! # Sign-in and sessions
//!
//! An operator signs in with an **admin-scoped client key** (checked by the
//! caller's [`AdminKeys`]) and a **TOTP code** (the session's
//! [`TotpVerifier`], with the key's name as the operator). The session is a
//! random cookie (`HttpOnly`, `SameSite=Strict`, `Secure` when the listener
//! is TLS) that expires after [`ConsoleDeps::idle_timeout`] without a
//! request. A refused sign-in counts toward the risk engine's brute-force
//! block for its source address ([`asta_risk::RiskEngine::record_failed_login`]);
//! a blocked source is refused before its key is looked at. Sign-in,
//! sign-out and every refusal are audited (`SECURITY console_*`).
//!
//! # Actions
//!
//! Halt and cancel all ([`Guard::halt_and_cancel`], no TOTP, as on the control
//! socket), Flatten ([`Guard::flatten`], TOTP) and Reset ([`Guard::reset`],
//! TOTP) are POSTs that carry a CSRF token bound to the session. A POST
//! without a valid token, from another origin (`Origin` or `Sec-Fetch-Site`)
//! or with an expired session is refused with 403 and audited. Each action is
//! recorded as `SECURITY console_command` with the operator's key name.
//!
//! # Security notes
//!
//! - Every response carries a strict Content-Security-Policy (scripts and
//!   styles only from the console itself, no inline script, `frame-ancestors
//!   'none'`), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and
//!   `Cache-Control: no-store`.
//! - The client key, the TOTP code, the session cookie and the CSRF token are
//!   never logged, audited, rendered back or printed by `Debug`. Sessions are
//!   kept by the SHA-256 of their cookie, so the table itself holds no usable
//!   cookie.
//! - All text from the trail, the broker or the risk engine is HTML-escaped.
//! - Requests addressed to a DNS name the console was not told about
//!   ([`ConsoleDeps::allow_host`]) are refused (421) before anything else,
//!   against DNS rebinding; IP addresses and `localhost` are accepted.

mod assets;
mod chart;
mod handlers;
mod page;
mod refusals;
mod serving;
mod session;
mod tail;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asta_audit::ChainKey;
use asta_broker::{Broker, Guard};
use asta_core::Clock;
use asta_risk::TotpVerifier;
use asta_vault::{ClientKeyRefusal, ClientKeyRegistry, ClientScope};
use axum::Router;
use chrono::{DateTime, Utc};

pub use chart::SAMPLE_CAPACITY;
pub use serving::{SessionAdminKeys, session_deps};

/// Where `asta serve` nests the console's router.
pub const MOUNT: &str = "/console";

/// The default idle time after which a console session expires (15 minutes,
/// `[serve] console_idle_secs`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(900);

/// Checks a presented client key for the console: only an admin-scoped,
/// unexpired key signs in.
///
/// `asta serve` implements it with the vault's client-key registry; tests
/// implement it with a fixed key. The presented text is a secret: an
/// implementation must not log it or put it in its refusal.
pub trait AdminKeys: Send + Sync {
    /// The key's name (recorded as the operator) when `presented` is a
    /// valid admin-scoped key; otherwise why not.
    fn check_admin(&self, presented: &str) -> Result<String, AdminRefusal>;
}

impl<T: AdminKeys + ?Sized> AdminKeys for Arc<T> {
    fn check_admin(&self, presented: &str) -> Result<String, AdminRefusal> {
        (**self).check_admin(presented)
    }
}

/// Why a presented key does not sign in to the console. Never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminRefusal {
    /// No key matches.
    #[error("the client key is not known")]
    Unknown,
    /// The key matched but has expired or was revoked.
    #[error("client key {name} has expired or was revoked")]
    Expired {
        /// The key's name.
        name: String,
    },
    /// The key matched but was revoked.
    #[error("client key {name} was revoked")]
    Revoked {
        /// The key's name.
        name: String,
    },
    /// The key is valid but not admin-scoped.
    #[error("client key {name} has scope {scope}; the console needs an admin key")]
    NotAdmin {
        /// The key's name.
        name: String,
        /// Its scope (for example `read` or `trade`).
        scope: String,
    },
}

impl AdminRefusal {
    /// The key's name, when the key was recognised.
    pub fn key_name(&self) -> Option<&str> {
        match self {
            AdminRefusal::Unknown => None,
            AdminRefusal::Expired { name }
            | AdminRefusal::Revoked { name }
            | AdminRefusal::NotAdmin { name, .. } => Some(name),
        }
    }
}

/// Checks `presented` against the vault's client keys at `now`: the key's
/// name when it is a current, admin-scoped key. What an [`AdminKeys`] over
/// the vault (for example one that reloads the registry when the vault
/// changes) calls.
pub fn check_admin_key(
    registry: &ClientKeyRegistry,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<String, AdminRefusal> {
    match registry.authenticate(presented, now) {
        Ok(info) if info.scope == ClientScope::Admin => Ok(info.name.clone()),
        Ok(info) => Err(AdminRefusal::NotAdmin {
            name: info.name.clone(),
            scope: info.scope.as_str().to_owned(),
        }),
        Err(ClientKeyRefusal::Expired { name }) => Err(AdminRefusal::Expired { name }),
        Err(ClientKeyRefusal::Revoked { name }) => Err(AdminRefusal::Revoked { name }),
        Err(_) => Err(AdminRefusal::Unknown),
    }
}

/// [`AdminKeys`] over one snapshot of the vault's client keys
/// ([`Vault::client_key_registry`](asta_vault::Vault::client_key_registry)),
/// checked at the clock's time.
pub struct RegistryAdminKeys {
    registry: Arc<ClientKeyRegistry>,
    clock: Arc<dyn Clock>,
}

impl RegistryAdminKeys {
    /// Checks keys against `registry` at `clock`'s time.
    pub fn new(registry: Arc<ClientKeyRegistry>, clock: Arc<dyn Clock>) -> Self {
        Self { registry, clock }
    }
}

impl fmt::Debug for RegistryAdminKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryAdminKeys")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl AdminKeys for RegistryAdminKeys {
    fn check_admin(&self, presented: &str) -> Result<String, AdminRefusal> {
        check_admin_key(&self.registry, presented, self.clock.now())
    }
}

/// What the console needs from the session that serves it.
pub struct ConsoleDeps<B> {
    guard: Arc<Guard<B>>,
    admin_keys: Arc<dyn AdminKeys>,
    totp: Arc<dyn TotpVerifier + Send + Sync>,
    audit_key: ChainKey,
    idle_timeout: Duration,
    secure_cookies: bool,
    allowed_hosts: Vec<String>,
    any_host: bool,
    stop: Option<tokio::sync::watch::Receiver<bool>>,
}

impl<B> fmt::Debug for ConsoleDeps<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleDeps")
            .field("idle_timeout", &self.idle_timeout)
            .field("secure_cookies", &self.secure_cookies)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("any_host", &self.any_host)
            .finish_non_exhaustive()
    }
}

impl<B: Broker + 'static> ConsoleDeps<B> {
    /// The console of `guard`'s session: sign-in keys checked by
    /// `admin_keys`, TOTP codes by `totp`, the audit trail (the guard's)
    /// read back with `audit_key`. Sessions expire after
    /// [`DEFAULT_IDLE_TIMEOUT`]; cookies are not `Secure` (plain HTTP on
    /// loopback) until [`secure_cookies`](Self::secure_cookies) says so.
    pub fn new(
        guard: Arc<Guard<B>>,
        admin_keys: Arc<dyn AdminKeys>,
        totp: Arc<dyn TotpVerifier + Send + Sync>,
        audit_key: ChainKey,
    ) -> Self {
        Self {
            guard,
            admin_keys,
            totp,
            audit_key,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            secure_cookies: false,
            allowed_hosts: Vec::new(),
            any_host: false,
            stop: None,
        }
    }

    /// Sessions expire after `timeout` without a request (at least one
    /// second).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_secs(1));
        self
    }

    /// Marks the session cookie `Secure` (set it when the listener is TLS).
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Answers requests whatever their `Host` (no DNS-rebinding check).
    ///
    /// Only for a TLS listener, where a name rebound to this machine fails
    /// the certificate check before any request arrives.
    pub fn dangerous_any_host(mut self) -> Self {
        self.any_host = true;
        self
    }

    /// Ends every live tail within a second once `stop` turns `true`, so a
    /// graceful shutdown is not held open by a console page left open.
    pub fn stop_signal(mut self, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Also accepts requests whose `Host` is the DNS name `host` (for
    /// example the name in a TLS listener's certificate).
    ///
    /// By default the console answers only requests addressed to an IP
    /// address or `localhost`: a page on another site that makes its own
    /// name resolve to this machine (DNS rebinding) is refused before it
    /// can try a key.
    pub fn allow_host(mut self, host: &str) -> Self {
        self.allowed_hosts.push(host.to_ascii_lowercase());
        self
    }
}

/// The console's shared state: the dependencies and its own sessions,
/// chart samples and audit tail.
pub(crate) struct Console<B> {
    pub(crate) guard: Arc<Guard<B>>,
    pub(crate) admin_keys: Arc<dyn AdminKeys>,
    pub(crate) totp: Arc<dyn TotpVerifier + Send + Sync>,
    pub(crate) idle_timeout: Duration,
    pub(crate) secure_cookies: bool,
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) any_host: bool,
    pub(crate) stop: Option<tokio::sync::watch::Receiver<bool>>,
    pub(crate) sessions: Mutex<session::Sessions>,
    pub(crate) samples: Mutex<chart::SampleRing>,
    pub(crate) tail: tail::Tail,
    /// Refusal records per source (see [`refusals`]).
    pub(crate) refusals: Mutex<refusals::RefusalBudget>,
}

/// The console's router, to be nested at [`MOUNT`]:
/// `Router::new().nest(MOUNT, console::router(deps))`.
///
/// Routes (relative to the mount): `GET /` (the page), `GET|POST /login`,
/// `POST /logout`, `POST /halt`, `POST /flatten`, `POST /reset`,
/// `GET /events` (server-sent events), `GET /panels` (the page again for
/// the script's refresh), `GET /assets/console.css` and
/// `GET /assets/console.js`.
///
/// The source address of a sign-in (for the brute-force block) is read from
/// axum's `ConnectInfo<SocketAddr>`: serve the app with
/// `into_make_service_with_connect_info::<SocketAddr>()`; without it every
/// failed sign-in counts against one source, `unknown`.
///
/// Called inside a tokio runtime, it also starts a task that samples the
/// day's P&L and the orders per second once a second for the charts (the
/// task ends when the router is dropped); elsewhere the charts are sampled
/// when the page is rendered.
pub fn router<B: Broker + 'static>(deps: ConsoleDeps<B>) -> Router {
    let tail = tail::Tail::new(deps.guard.audit_log().dir().to_path_buf(), deps.audit_key);
    let console = Arc::new(Console {
        guard: deps.guard,
        admin_keys: deps.admin_keys,
        totp: deps.totp,
        idle_timeout: deps.idle_timeout,
        secure_cookies: deps.secure_cookies,
        allowed_hosts: deps.allowed_hosts,
        any_host: deps.any_host,
        stop: deps.stop,
        sessions: Mutex::new(session::Sessions::default()),
        samples: Mutex::new(chart::SampleRing::default()),
        refusals: Mutex::new(refusals::RefusalBudget::default()),
        tail,
    });
    chart::spawn_sampler(&console);
    handlers::routes(console)
}
