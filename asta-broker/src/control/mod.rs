//! The control plane: how an operator reaches the session that owns an
//! account (DESIGN.md §5).
//!
//! - [`ControlServer`] serves a [`Guard`](crate::Guard) on a Unix socket
//!   (directory 0700, socket 0600, peer uid checked with SO_PEERCRED before
//!   anything is read). Strict, bounded, line-delimited JSON
//!   ([`ControlRequest`]): `status`, `halt`, `flatten`, `reset`, `sync`.
//! - [`ControlClient`] is the other end (what `asta kill` and `asta status`
//!   use): a session that does not answer within
//!   [`DEFAULT_ANSWER_TIMEOUT`] counts as hung.
//! - [`HaltMarker`] is the durable "do not trade" file every guard checks
//!   before admitting an order, for the hung-session case.
//! - [`link_control_trail`] records, in the main trail, the verified head of
//!   the control trail (what was done while the session did not answer).
//!
//! Policy: halting and cancelling never need a TOTP code nor
//! `allow_live_trading` (they only remove risk); closing positions and
//! leaving HALTED do.

mod client;
mod marker;
mod peer;
mod protocol;
mod server;
mod status;
mod trail;

pub use client::{ControlClient, ControlClientError, DEFAULT_ANSWER_TIMEOUT};
pub use marker::{HaltMarker, MarkerError, MarkerRecord};
pub use peer::Peer;
pub use protocol::{
    ControlCommand, ControlFailure, ControlRequest, ControlResponse, MAX_CONTROL_REASON_CHARS,
    MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, ProtocolError,
};
pub use server::{
    ControlConfig, ControlError, ControlServer, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT,
};
pub use status::{MarkerStatus, SessionStatus};
pub use trail::{ControlTrailLink, link_control_trail};
