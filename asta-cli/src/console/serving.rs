//! The console inside `asta serve`: its admin keys are the session's client
//! keys (reloaded with them), its TOTP verifier and trail are the session's.

use std::fmt;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use asta_core::Clock;
use asta_risk::TotpVerifier;

use super::{AdminKeys, AdminRefusal, ConsoleDeps, check_admin_key};
use crate::failure::Failure;
use crate::serve::{KeyRing, Session, SessionBroker};

/// [`AdminKeys`] over a serving session's client keys: each check reads the
/// ring's current registry, so a key issued, rotated or revoked while the
/// session serves counts at once.
pub struct SessionAdminKeys {
    ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SessionAdminKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionAdminKeys")
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

impl AdminKeys for SessionAdminKeys {
    fn check_admin(&self, presented: &str) -> Result<String, AdminRefusal> {
        check_admin_key(&self.ring.current(), presented, self.clock.now())
    }
}

/// The console's dependencies for a serving session: its guard, client
/// keys, TOTP verifier and trail; sessions idle out after `[serve]
/// console_idle_secs`; cookies are `Secure` under TLS.
///
/// Under TLS any `Host` is answered: a name rebound to this machine fails
/// the certificate check before a request arrives. On plain HTTP (loopback
/// only) the console answers IP addresses and `localhost`.
///
/// # Errors
///
/// When the audit chain key cannot be read from the session's vault.
pub fn session_deps(session: &Session, tls: bool) -> Result<ConsoleDeps<SessionBroker>, Failure> {
    let config = session.config();
    let chain_key = {
        let vault = session
            .vault()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        crate::context::chain_key(config, &vault)?
    };
    let keys = SessionAdminKeys {
        ring: Arc::clone(session.keys()),
        clock: Arc::clone(session.clock()),
    };
    let verifier: Arc<dyn TotpVerifier + Send + Sync> = session.totp_verifier().clone();
    let deps = ConsoleDeps::new(
        Arc::clone(session.guard()),
        Arc::new(keys),
        verifier,
        chain_key,
    )
    .idle_timeout(Duration::from_secs(config.file.serve.console_idle_secs))
    .secure_cookies(tls);
    Ok(if tls { deps.dangerous_any_host() } else { deps })
}
