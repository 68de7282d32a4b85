//! `asta serve`: the trading session that owns the account, serving
//! OpenAlgo clients.
//!
//! One process runs the [guard](asta_broker::Guard) over the broker the
//! configuration's mode selects (sandbox: the simulator with
//! [simulated quotes](quotes); paper: simulated fills on OpenAlgo's quotes;
//! live: the OpenAlgo adapter, after the operator's TOTP confirmation), the
//! control socket, and an HTTP listener that speaks OpenAlgo's REST v1, so
//! existing OpenAlgo clients (the Python SDK, TradingView hooks) trade
//! through every check of the guard.
//!
//! The files follow a request:
//!
//! - [`http`]: the listener (limits, timeouts, TLS, graceful stop) and the
//!   `/api/v1` router; other routers (the operator console) merge with it;
//! - [`dispatch`]: the source's block, the client key and what it may do,
//!   the guard call, OpenAlgo's answer;
//! - [`keys`]: the vault's client keys, reloaded when the vault changes;
//! - [`session`]: building the guard, and what other routers can reach;
//! - [`quotes`]: the sandbox's quote feed; [`tls`]: the server's TLS;
//!   [`alerts`]: alerts on standard error.
//!
//! # Security notes
//!
//! - Loopback by default; any other address is refused unless TLS is
//!   configured (`asta doctor` checks the same rule).
//! - Client keys are checked against keyed hashes; a key's value is never
//!   logged, audited or echoed (refusals name the key, never its value).
//! - Failed key checks count against the source address in the risk
//!   engine's security monitor: more than 5 in 5 minutes blocks the
//!   address (SECURITY record and alert), even for a valid key.

pub mod alerts;
pub mod dispatch;
pub mod http;
pub mod keys;
pub mod quotes;
pub mod session;
pub mod tls;

pub use dispatch::{Gateway, INVALID_KEY};
pub use http::{ApiHandler, Limits, Served, api_router, serve};
pub use keys::KeyRing;
pub use quotes::QuoteFeed;
pub use session::{Session, SessionBroker, SessionGuard};
