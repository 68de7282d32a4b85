//! The session: the guard over the broker the configuration's mode selects,
//! its risk state rebuilt from the audit trail, and what other routers (the
//! operator console) need to reach it.

use std::sync::{Arc, Mutex};

use asta_audit::{AuditEvent, AuditLog};
use asta_broker::{
    AlertSink, Broker, FileSnapshotStore, Guard, GuardConfig, OpenAlgoBroker, OpenAlgoConfig,
    OpenAlgoQuoteSource, PaperBroker, RestoredRisk, SandboxBroker, ServerMode, TotpConfirm,
    VaultTotpVerifier,
};
use asta_core::{Clock, InstrumentCatalog, PublicCode, SystemClock, TradingMode};
use asta_vault::{Scope, Vault};
use secrecy::SecretString;
use serde_json::json;

use super::alerts::TerminalAlertSink;
use super::keys::KeyRing;
use crate::config::Config;
use crate::context::{chain_key, market_calendar, open_audit, risk_config, vault_failure};
use crate::failure::Failure;

/// The broker behind a session's guard, whatever the mode.
pub type SessionBroker = Box<dyn Broker>;

/// The one guard type a session runs: other routers name it.
pub type SessionGuard = Guard<SessionBroker>;

/// A running session's shared parts. Cheap to share (`Arc<Session>`): the
/// gateway holds one, and so can the operator console.
pub struct Session {
    guard: Arc<SessionGuard>,
    audit: AuditLog,
    vault: Arc<Mutex<Vault>>,
    verifier: Arc<VaultTotpVerifier>,
    keys: Arc<KeyRing>,
    mode: TradingMode,
    hours_waived: bool,
    sandbox: Option<SandboxBroker>,
    clock: Arc<dyn Clock>,
    config: Config,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("mode", &self.mode)
            .field("hours_waived", &self.hours_waived)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Builds the session the configuration describes: opens the vault and
    /// the audit trail, rebuilds the risk state from the trail (with the
    /// snapshot in `paths.risk_snapshot` when the trail confirms it),
    /// builds the broker for the mode and the guard over it. Live mode
    /// needs `live_code`, the operator's TOTP code for this session.
    pub async fn open(
        config: &Config,
        vault: Vault,
        live_code: Option<SecretString>,
    ) -> Result<Session, Failure> {
        Self::open_on(config, vault, live_code, Arc::new(SystemClock)).await
    }

    /// A sandbox session whose guard, risk engine and key checks read
    /// `clock` instead of the system's: for load benches that must place
    /// orders faster than SEBI's 10 a second allows in wall-clock time (a
    /// clock that moves 101 ms at every reading keeps every risk limit
    /// exact while orders go as fast as the machine allows).
    ///
    /// Refused outside sandbox mode: a paper or live session on any clock
    /// but the system's would misjudge trading hours, rate limits and key
    /// expiry.
    pub async fn dangerous_open_sandbox_on_clock(
        config: &Config,
        vault: Vault,
        clock: Arc<dyn Clock>,
    ) -> Result<Session, Failure> {
        let mode = config.file.trading.mode;
        if mode != TradingMode::Sandbox {
            return Err(Failure::refused(
                "only a sandbox session may run on a clock other than the system's",
                anyhow::anyhow!("trading.mode is {mode}, not sandbox"),
            ));
        }
        Self::open_on(config, vault, None, clock).await
    }

    async fn open_on(
        config: &Config,
        vault: Vault,
        live_code: Option<SecretString>,
        clock: Arc<dyn Clock>,
    ) -> Result<Session, Failure> {
        let mode = config.file.trading.mode;
        let hours_waived = mode == TradingMode::Sandbox && config.file.sandbox.always_open;
        let audit = open_audit(config, &vault)?;
        let key = chain_key(config, &vault)?;
        let catalog = Arc::new(
            InstrumentCatalog::from_path(&config.instruments_path())
                .map_err(|e| Failure::invalid("check paths.instruments in asta.toml", e))?,
        );
        let mut calendar = market_calendar(config)?;
        if hours_waived {
            calendar = calendar.dangerous_always_open();
        }
        let vault = Arc::new(Mutex::new(vault));
        let verifier = Arc::new(VaultTotpVerifier::shared_entry(
            Arc::clone(&vault),
            &config.file.security.totp_entry,
            Arc::clone(&clock),
        ));
        let (broker, sandbox) = broker_for(config, &vault, &clock)?;
        let restored = RestoredRisk::from_trail(
            &config.audit_dir(),
            &key,
            Arc::new(FileSnapshotStore::new(config.risk_snapshot_path())),
            risk_config(config)?,
            Arc::clone(&catalog),
            Arc::new(calendar),
            Arc::clone(&clock),
        )
        .map_err(|e| {
            Failure::internal(
                "the risk state cannot be rebuilt from the audit trail; nothing may trade until it can",
                e,
            )
        })?;
        let mut guard_config = GuardConfig::default();
        guard_config.mode = mode;
        guard_config.allow_live_trading = config.file.trading.allow_live_trading;
        let alerts: Arc<dyn AlertSink> = Arc::new(TerminalAlertSink);
        let mut builder = Guard::restored(
            broker,
            Arc::clone(&catalog),
            restored,
            audit.clone(),
            Arc::clone(&clock),
        )
        .config(guard_config)
        .alert_sink(alerts)
        .halt_marker(config.halt_marker_path())
        .control_trail(config.control_audit_dir(), key);
        if mode.is_live() {
            let code = live_code.ok_or_else(|| {
                Failure::refused(
                    "live mode needs the operator's TOTP code for this session",
                    anyhow::anyhow!("no TOTP code given"),
                )
            })?;
            let verifier = VaultTotpVerifier::shared_entry(
                Arc::clone(&vault),
                &config.file.security.totp_entry,
                Arc::clone(&clock),
            );
            builder = builder.confirm(Arc::new(TotpConfirm::new(verifier, "operator", code)));
        }
        let guard = builder.build().await.map_err(|e| {
            Failure::new(
                e.public_code(),
                "the session refused to start; the audit trail has the reason",
                e,
            )
        })?;
        let keys = Arc::new(KeyRing::open(config.vault_path(), Arc::clone(&vault))?);
        Ok(Session {
            guard: Arc::new(guard),
            audit,
            vault,
            verifier,
            keys,
            mode,
            hours_waived,
            sandbox,
            clock,
            config: config.clone(),
        })
    }

    /// The guard every order goes through.
    pub fn guard(&self) -> &Arc<SessionGuard> {
        &self.guard
    }

    /// The session's audit trail.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// The vault (behind the lock the TOTP verifier shares).
    pub fn vault(&self) -> &Arc<Mutex<Vault>> {
        &self.vault
    }

    /// Checks operator TOTP codes (for resets, flattening, the console).
    pub fn totp_verifier(&self) -> &Arc<VaultTotpVerifier> {
        &self.verifier
    }

    /// The client keys, rebuilt when the vault file changes.
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// The trading mode.
    pub fn mode(&self) -> TradingMode {
        self.mode
    }

    /// Whether `[sandbox] always_open` waived the trading hours.
    pub fn hours_waived(&self) -> bool {
        self.hours_waived
    }

    /// The simulator, in sandbox mode (for the quote feed).
    pub fn sandbox(&self) -> Option<&SandboxBroker> {
        self.sandbox.as_ref()
    }

    /// The session's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The configuration the session was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Records a SYSTEM event through the group commit (no fsync of its own:
    /// the next durable record carries it).
    pub async fn record_system(&self, action: &str, details: serde_json::Value) {
        let _ = self
            .audit
            .append_deferred_async(AuditEvent::system(action, details))
            .await;
    }

    /// Records a SECURITY event durably.
    pub async fn record_security(&self, action: &str, details: serde_json::Value) {
        if let Err(error) = self
            .audit
            .append_async(AuditEvent::security(action, details))
            .await
        {
            eprintln!("asta serve: a security record could not be written: {error}");
        }
    }

    /// Ends the session: the guard's last risk step and snapshot
    /// ([`Guard::close`]), a `serve_stopped` record, and the trail closed.
    pub async fn close(&self, why: &str) -> Result<(), Failure> {
        self.guard
            .close()
            .await
            .map_err(|e| Failure::internal("the risk snapshot could not be saved", e))?;
        let stop = AuditEvent::system("serve_stopped", json!({"reason": why}));
        self.audit
            .append_async(stop)
            .await
            .map_err(|e| Failure::internal("the stop could not be recorded", e))?;
        self.audit
            .close()
            .map_err(|e| Failure::internal("the audit trail could not be closed", e))
    }
}

/// The broker for the configured mode, and the simulator for the quote
/// feed in sandbox mode.
fn broker_for(
    config: &Config,
    vault: &Arc<Mutex<Vault>>,
    clock: &Arc<dyn Clock>,
) -> Result<(SessionBroker, Option<SandboxBroker>), Failure> {
    match config.file.trading.mode {
        TradingMode::Sandbox => {
            let sandbox = SandboxBroker::new(Arc::clone(clock));
            Ok((Box::new(sandbox.clone()), Some(sandbox)))
        }
        TradingMode::Paper => {
            let api_key = openalgo_key(config, vault, clock, &Scope::read())?;
            let openalgo = OpenAlgoConfig::new(&config.file.broker.url);
            let source = OpenAlgoQuoteSource::new(&openalgo, api_key, Arc::clone(clock))
                .map_err(|e| Failure::invalid("check broker.url in asta.toml", e))?;
            let paper = PaperBroker::new(SandboxBroker::new(Arc::clone(clock)), source);
            Ok((Box::new(paper), None))
        }
        TradingMode::Live => {
            let api_key = openalgo_key(config, vault, clock, &Scope::trade())?;
            let mut openalgo = OpenAlgoConfig::new(&config.file.broker.url);
            openalgo.server_mode = ServerMode::Live;
            let broker = OpenAlgoBroker::new(&openalgo, api_key, Arc::clone(clock))
                .map_err(|e| Failure::invalid("check broker.url in asta.toml", e))?;
            Ok((Box::new(broker), None))
        }
    }
}

fn openalgo_key(
    config: &Config,
    vault: &Arc<Mutex<Vault>>,
    clock: &Arc<dyn Clock>,
    scope: &Scope,
) -> Result<SecretString, Failure> {
    vault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .api_key(&config.file.broker.api_key_entry, scope, clock.now())
        .map_err(vault_failure)
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        reason = "tests: a failed unwrap is a failed test"
    )]

    use super::*;
    use crate::cli::InitArgs;
    use crate::context::open_vault;

    /// A session on another clock is for the sandbox only: paper and live
    /// are refused before anything is opened.
    #[tokio::test]
    async fn only_a_sandbox_session_runs_on_another_clock() {
        let dir = tempfile::tempdir().unwrap();
        crate::commands::init::run(&InitArgs {
            dir: Some(dir.path().to_path_buf()),
        })
        .unwrap();
        let mut config = Config::from_file(&dir.path().join("asta.toml")).unwrap();
        for mode in [TradingMode::Paper, TradingMode::Live] {
            config.file.trading.mode = mode;
            let vault = open_vault(&config).unwrap();
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let refused = Session::dangerous_open_sandbox_on_clock(&config, vault, clock)
                .await
                .expect_err("a paper or live session on another clock");
            assert_eq!(
                refused.public.code(),
                asta_core::ErrorCode::PermissionDenied
            );
            assert!(refused.hint.contains("sandbox"), "{}", refused.hint);
        }
        // The same project in sandbox mode opens on it.
        config.file.trading.mode = TradingMode::Sandbox;
        let vault = open_vault(&config).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let session = Session::dangerous_open_sandbox_on_clock(&config, vault, clock)
            .await
            .unwrap();
        session.close("test").await.unwrap();
    }
}
