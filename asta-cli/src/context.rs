//! Opening what a command needs (the vault and its key) from the configuration.

use std::sync::Arc;

use asta_core::{PublicCode, SystemClock};
use asta_vault::{KeySource, Vault, VaultError, VaultOptions};
use secrecy::SecretString;

use crate::config::Config;
use crate::failure::Failure;
use crate::secret_input::read_secret;

/// The environment variable a passphrase is read from when there is no terminal.
pub const PASSPHRASE_ENV: &str = "ASTA_VAULT_PASSPHRASE";

/// The key source the configuration names: an environment variable, a
/// passphrase, or (by default) the key file.
pub fn key_source(config: &Config) -> Result<KeySource, Failure> {
    let paths = &config.file.paths;
    if let Some(name) = &paths.key_env {
        return Ok(KeySource::EnvVar(name.clone()));
    }
    if paths.passphrase {
        return Ok(KeySource::Passphrase(passphrase("Vault passphrase: ")?));
    }
    Ok(KeySource::KeyFile(config.key_file_path()))
}

/// Reads a passphrase from [`PASSPHRASE_ENV`] or, failing that, the terminal.
pub fn passphrase(prompt: &str) -> Result<SecretString, Failure> {
    if let Some(value) = std::env::var_os(PASSPHRASE_ENV) {
        let text = value.into_string().map_err(|_| {
            Failure::invalid(
                format!("{PASSPHRASE_ENV} must be UTF-8"),
                anyhow::anyhow!("{PASSPHRASE_ENV} is not valid UTF-8"),
            )
        })?;
        return Ok(SecretString::from(text));
    }
    read_secret(prompt).map_err(|e| Failure::invalid("type the vault passphrase", e))
}

/// Opens the configured vault.
pub fn open_vault(config: &Config) -> Result<Vault, Failure> {
    let path = config.vault_path();
    if !path.exists() {
        return Err(Failure::not_found(
            "create the vault and its key with `asta vault init` (or fix paths.vault in asta.toml)",
            anyhow::anyhow!("no vault at {}", path.display()),
        ));
    }
    let source = key_source(config)?;
    let options = VaultOptions::new().with_clock(Arc::new(SystemClock));
    let vault = Vault::open_with(config.vault_path(), &source, options).map_err(vault_failure)?;
    // For the command's own audit record, so a passphrase is asked once.
    if let Ok(key) = chain_key(config, &vault) {
        crate::record::remember_chain_key(&key);
    }
    Ok(vault)
}

/// A vault error as a command failure, with a hint for the common cases.
pub fn vault_failure(error: VaultError) -> Failure {
    let hint = match &error {
        VaultError::NotFound { .. } => "check the entry name with `asta vault list`",
        VaultError::WrongKey { .. } | VaultError::KeySourceMismatch { .. } => {
            "use the key (or passphrase) this vault was created with"
        }
        VaultError::KeyUnavailable { .. } => {
            "create the vault and its key with `asta vault init`, or set paths.key_file / paths.key_env"
        }
        VaultError::InsecurePermissions { .. } | VaultError::WrongOwner { .. } => {
            "fix the file's permissions as the detail says (chmod 600)"
        }
        _ if error.is_integrity_failure() => {
            "the vault file is damaged or was tampered with: restore it from a backup"
        }
        VaultError::EntryExists { .. } => {
            "that entry exists: `asta vault rotate NAME` replaces its value"
        }
        VaultError::VaultExists { .. } => {
            "a vault already exists there; use `asta vault rekey` to change its key"
        }
        _ => "run with --verbose for the detail",
    };
    match &error {
        VaultError::NotFound { .. } => Failure::not_found(hint, error),
        VaultError::EntryExists { .. } | VaultError::VaultExists { .. } => {
            Failure::already_exists(hint, error)
        }
        _ => Failure::new(error.public_code(), hint, error),
    }
}

/// The audit chain key, read from the vault entry the configuration names.
pub fn chain_key(config: &Config, vault: &Vault) -> Result<asta_audit::ChainKey, Failure> {
    use secrecy::ExposeSecret;
    let entry = &config.file.audit.chain_key_entry;
    let text = vault.get(entry).map_err(|e| {
        let hint = format!(
            "the audit chain key lives in vault entry `{entry}`; `asta vault init` creates it"
        );
        Failure::new(e.public_code(), hint, e)
    })?;
    asta_audit::ChainKey::from_base64(text.expose_secret())
        .map_err(|e| Failure::invalid(format!("vault entry `{entry}` is not a chain key"), e))
}

/// Creates a fresh random chain key in the vault under the configured entry.
pub fn create_chain_key(config: &Config, vault: &mut Vault) -> Result<(), Failure> {
    let key = asta_vault::MasterKey::generate().map_err(vault_failure)?;
    let encoded = key.to_base64();
    if let Ok(chain) = asta_audit::ChainKey::from_base64(&encoded) {
        crate::record::remember_chain_key(&chain);
    }
    vault
        .set_with(
            &config.file.audit.chain_key_entry,
            SecretString::from(encoded.as_str()),
            asta_vault::EntryOptions::new()
                .note("audit chain key (HMAC); never rotate while the trail is in use"),
        )
        .map_err(vault_failure)
}

/// The configured risk limits, or a clear error when `[risk]` is missing.
pub fn risk_config(config: &Config) -> Result<asta_risk::RiskConfig, Failure> {
    config.file.risk.clone().ok_or_else(|| {
        Failure::invalid(
            "add a [risk] section to asta.toml (capital, max_order_quantity, max_order_notional, max_gross_exposure)",
            anyhow::anyhow!("no risk limits configured"),
        )
    })
}

/// Opens the risk engine on the configured (existing) state file, with the
/// system clock.
pub fn open_risk(config: &Config) -> Result<asta_risk::RiskEngine, Failure> {
    open_risk_store(
        config,
        asta_risk::StateStore::file(config.risk_state_path()),
    )
}

/// Opens the risk engine on `store`, with the system clock.
pub fn open_risk_store(
    config: &Config,
    store: asta_risk::StateStore,
) -> Result<asta_risk::RiskEngine, Failure> {
    let limits = risk_config(config)?;
    let catalog = asta_core::InstrumentCatalog::from_path(&config.instruments_path())
        .map_err(|e| Failure::invalid("check paths.instruments in asta.toml", e))?;
    let calendar = market_calendar(config)?;
    asta_risk::RiskEngine::open(
        limits,
        Arc::new(catalog),
        Arc::new(calendar),
        Arc::new(SystemClock),
        store,
    )
    .map_err(|e| {
        let hint = match e {
            asta_risk::StateError::Missing { .. } => {
                "no risk state: on a first run create it with `asta risk init`; otherwise restore it from a backup"
            }
            asta_risk::StateError::AlreadyExists { .. } => {
                "a risk state exists already; it is never replaced"
            }
            _ => "the risk state file is unreadable; trading stays halted until an operator recovers it",
        };
        match e {
            asta_risk::StateError::Missing { .. } => Failure::not_found(hint, e),
            asta_risk::StateError::AlreadyExists { .. } => Failure::already_exists(hint, e),
            _ => Failure::new(e.public_code(), hint, e),
        }
    })
}

/// The market calendar: `paths.calendar` when configured, else the data
/// built into asta-core.
pub fn market_calendar(config: &Config) -> Result<asta_core::MarketCalendar, Failure> {
    match config.calendar_path() {
        Some(path) => asta_core::MarketCalendar::from_path(&path).map_err(|e| {
            Failure::invalid(
                format!(
                    "fix the market calendar {} (paths.calendar in asta.toml): {e}",
                    path.display()
                ),
                e,
            )
        }),
        None => asta_core::MarketCalendar::bundled()
            .map_err(|e| Failure::internal("the bundled market calendar is unreadable", e)),
    }
}

/// Opens the configured audit trail or, while a running session (`asta
/// serve`) holds it, the control trail (same chain key, its own chain),
/// which the session's trail links the next time a guard opens it. For
/// commands that must work beside a running session, such as issuing or
/// revoking a client key.
pub fn open_audit_or_control(
    config: &Config,
    vault: &Vault,
) -> Result<asta_audit::AuditLog, Failure> {
    let key = chain_key(config, vault)?;
    let audit_config = asta_audit::AuditConfig::builder()
        .retention_days(config.file.audit.retention_days)
        .build()
        .map_err(|e| Failure::invalid("check [audit] in asta.toml", e))?;
    match asta_audit::AuditLog::open(
        config.audit_dir(),
        key.clone(),
        audit_config.clone(),
        Arc::new(SystemClock),
    ) {
        Err(asta_audit::AuditError::Locked { .. }) => asta_audit::AuditLog::open(
            config.control_audit_dir(),
            key,
            audit_config,
            Arc::new(SystemClock),
        )
        .map_err(|e| {
            Failure::new(
                e.public_code(),
                "a running session holds the audit trail, and the control trail cannot be opened",
                e,
            )
        }),
        other => other.map_err(|e| {
            Failure::new(
                e.public_code(),
                "the audit trail cannot be opened; nothing may trade until it can",
                e,
            )
        }),
    }
}

/// Opens the configured audit trail with the vault's chain key.
pub fn open_audit(config: &Config, vault: &Vault) -> Result<asta_audit::AuditLog, Failure> {
    let key = chain_key(config, vault)?;
    let audit_config = asta_audit::AuditConfig::builder()
        .retention_days(config.file.audit.retention_days)
        .build()
        .map_err(|e| Failure::invalid("check [audit] in asta.toml", e))?;
    asta_audit::AuditLog::open(config.audit_dir(), key, audit_config, Arc::new(SystemClock))
        .map_err(|e| {
            Failure::new(
                e.public_code(),
                "the audit trail cannot be opened; nothing may trade until it can",
                e,
            )
        })
}
