//! The `asta.toml` configuration file.
//!
//! One TOML file, unknown fields refused, no secrets: it names vault entries
//! and environment variables, never their values. Relative paths are taken
//! from the directory that holds the file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use asta_core::{Exchange, Price, Symbol, TradingMode};
use serde::Deserialize;

/// The default configuration file name, looked up in the current directory.
pub const DEFAULT_CONFIG_FILE: &str = "asta.toml";

/// The least audit retention `asta doctor` accepts: five years (SEBI).
pub const MIN_AUDIT_RETENTION_DAYS: u32 = 1825;

/// A loaded configuration, with paths resolved against its directory.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory relative paths are resolved against.
    pub base_dir: PathBuf,
    /// The file it was read from, if any (defaults apply without one).
    pub source: Option<PathBuf>,
    /// The parsed contents.
    pub file: ConfigFile,
}

/// The contents of `asta.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Where things live.
    #[serde(default)]
    pub paths: PathsSection,
    /// Trading mode and the live-trading switch.
    #[serde(default)]
    pub trading: TradingSection,
    /// The broker connection.
    #[serde(default)]
    pub broker: BrokerSection,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditSection,
    /// Operator security: TOTP, API-key age, listening addresses.
    #[serde(default)]
    pub security: SecuritySection,
    /// Backups.
    #[serde(default)]
    pub backup: BackupSection,
    /// Risk limits (asta-risk's `RiskConfig`: capital and every limit;
    /// validated when read). Needed by `risk` and `kill`.
    #[serde(default)]
    pub risk: Option<asta_risk::RiskConfig>,
    /// `asta serve`: the OpenAlgo-compatible gateway's listener and limits.
    #[serde(default)]
    pub serve: ServeSection,
    /// Sandbox rehearsals: waived trading hours and simulated quotes.
    #[serde(default)]
    pub sandbox: SandboxSection,
}

/// The gateway `asta serve` runs (OpenAlgo REST v1 for clients).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// The address to listen on (default `127.0.0.1:5010`; port 0 picks a
    /// free port, printed at start). A non-loopback address needs TLS.
    pub listen: String,
    /// The TLS certificate chain (PEM); with `tls_key`, the gateway speaks
    /// HTTPS only.
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// The largest request body accepted, in bytes (default 65536).
    pub max_body_bytes: usize,
    /// The deepest JSON nesting accepted (default 8; a basket order needs 3).
    pub max_json_depth: usize,
    /// Seconds a client has to send a request's headers and body
    /// (default 10); a slower client gets 408 and is dropped.
    pub request_timeout_secs: u64,
    /// Most connections served at once (default 64); more wait to be accepted.
    pub max_connections: usize,
    /// Seconds of inactivity before an operator console session ends
    /// (default 900).
    pub console_idle_secs: u64,
}

/// The default gateway address.
pub const DEFAULT_SERVE_LISTEN: &str = "127.0.0.1:5010";

impl Default for ServeSection {
    fn default() -> Self {
        Self {
            listen: DEFAULT_SERVE_LISTEN.to_owned(),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 64 * 1024,
            max_json_depth: 8,
            request_timeout_secs: 10,
            max_connections: 64,
            console_idle_secs: 900,
        }
    }
}

impl ServeSection {
    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| {
            format!(
                "serve.listen {:?} is not an address and port such as \"127.0.0.1:5010\"",
                self.listen
            )
        })
    }

    /// Whether both TLS files are configured.
    pub fn has_tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    fn validate(&self) -> Result<(), String> {
        self.listen_addr()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("serve.tls_cert and serve.tls_key must be given together".to_owned());
        }
        let positive = [
            ("serve.max_body_bytes", self.max_body_bytes as u64),
            ("serve.max_json_depth", self.max_json_depth as u64),
            ("serve.request_timeout_secs", self.request_timeout_secs),
            ("serve.max_connections", self.max_connections as u64),
            ("serve.console_idle_secs", self.console_idle_secs),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{field} must be above zero"));
        }
        if self.max_body_bytes > 16 * 1024 * 1024 {
            return Err("serve.max_body_bytes must be at most 16777216 (16 MiB)".to_owned());
        }
        if self.request_timeout_secs > 300 {
            return Err("serve.request_timeout_secs must be at most 300".to_owned());
        }
        Ok(())
    }
}

/// Sandbox rehearsals (`[sandbox]`): refused in paper and live mode.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSection {
    /// Waive the trading-hours check so a rehearsal can run at any hour
    /// (sandbox mode only; recorded in the session's audit records).
    pub always_open: bool,
    /// Each quote tick moves every price by a random step of at most this
    /// many basis points (0, the default: prices stay where they start).
    pub random_walk_bps: u32,
    /// Milliseconds between quote ticks (default 1000).
    pub quote_interval_ms: Option<u64>,
    /// Starting prices, `"EXCHANGE:SYMBOL" = "price"`, so MARKET orders fill.
    pub quotes: BTreeMap<String, String>,
}

impl SandboxSection {
    /// The starting prices, parsed.
    pub fn starting_quotes(&self) -> Result<Vec<(Exchange, Symbol, Price)>, String> {
        self.quotes
            .iter()
            .map(|(key, price)| {
                let (exchange, symbol) = key.split_once(':').ok_or_else(|| {
                    format!("sandbox.quotes key {key:?} must be EXCHANGE:SYMBOL, e.g. \"NSE:SBIN\"")
                })?;
                let exchange: Exchange = exchange
                    .parse()
                    .map_err(|e| format!("sandbox.quotes key {key:?}: {e}"))?;
                let symbol =
                    Symbol::new(symbol).map_err(|e| format!("sandbox.quotes key {key:?}: {e}"))?;
                let price: Price = price
                    .parse()
                    .map_err(|e| format!("sandbox.quotes {key:?} = {price:?}: {e}"))?;
                if price.units() <= 0 {
                    return Err(format!("sandbox.quotes {key:?} must be above zero"));
                }
                Ok((exchange, symbol, price))
            })
            .collect()
    }

    /// Milliseconds between quote ticks.
    pub fn interval_ms(&self) -> u64 {
        self.quote_interval_ms.unwrap_or(1000)
    }

    fn validate(&self, mode: TradingMode) -> Result<(), String> {
        let used = self.always_open
            || self.random_walk_bps != 0
            || self.quote_interval_ms.is_some()
            || !self.quotes.is_empty();
        if used && mode != TradingMode::Sandbox {
            return Err(format!(
                "[sandbox] settings apply to sandbox mode only; trading.mode is \"{mode}\" (paper and live never waive trading hours or simulate quotes)"
            ));
        }
        if self.random_walk_bps > 1000 {
            return Err("sandbox.random_walk_bps must be at most 1000 (10%)".to_owned());
        }
        if self
            .quote_interval_ms
            .is_some_and(|ms| !(10..=3_600_000).contains(&ms))
        {
            return Err("sandbox.quote_interval_ms must be between 10 and 3600000".to_owned());
        }
        self.starting_quotes().map(|_| ())
    }
}

/// File locations (relative to the configuration file's directory).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsSection {
    /// The encrypted vault.
    pub vault: PathBuf,
    /// The vault's key file (0600), used unless `key_env` is set and present.
    pub key_file: PathBuf,
    /// An environment variable holding the vault key (base64 of 32 bytes);
    /// when set, it is used instead of the key file.
    pub key_env: Option<String>,
    /// Unlock the vault with a passphrase (Argon2id) instead of a key file:
    /// asked on the terminal, or read from `ASTA_VAULT_PASSPHRASE`.
    pub passphrase: bool,
    /// The audit trail directory.
    pub audit_dir: PathBuf,
    /// The persisted risk state.
    pub risk_state: PathBuf,
    /// The running session's risk snapshot (a shortcut for its restart; the
    /// audit trail stays the record).
    pub risk_snapshot: PathBuf,
    /// The instrument catalog (CSV or JSON).
    pub instruments: PathBuf,
    /// Where sealed backups are written.
    pub backups: PathBuf,
    /// SQLite databases to back up and check.
    pub databases: Vec<PathBuf>,
    /// The running session's control socket (its directory is kept 0700).
    pub control_socket: PathBuf,
    /// The halt marker `asta kill` writes when the session does not answer;
    /// every guard refuses orders while it exists.
    pub halt_marker: PathBuf,
    /// The control trail: what `asta kill` did while the session did not
    /// answer (same chain key as the audit trail, its own chain).
    pub control_audit_dir: PathBuf,
    /// A market calendar file (asta-core's JSON format) to use instead of
    /// the one built in, e.g. a newer year's from `asta calendar import`.
    pub calendar: Option<PathBuf>,
}

impl Default for PathsSection {
    fn default() -> Self {
        Self {
            vault: PathBuf::from("vault.asta"),
            key_file: PathBuf::from("keys/vault.key"),
            key_env: None,
            passphrase: false,
            audit_dir: PathBuf::from("audit"),
            risk_state: PathBuf::from("risk-state.json"),
            risk_snapshot: PathBuf::from("risk-snapshot.json"),
            instruments: PathBuf::from("instruments.csv"),
            backups: PathBuf::from("backups"),
            databases: Vec::new(),
            control_socket: PathBuf::from("run/asta.sock"),
            halt_marker: PathBuf::from("run/HALTED"),
            control_audit_dir: PathBuf::from("audit-control"),
            calendar: None,
        }
    }
}

/// Trading mode and the live switch.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingSection {
    /// Sandbox (default), paper or live.
    pub mode: TradingMode,
    /// Must be `true` for live mode; live also needs a per-session confirmation.
    pub allow_live_trading: bool,
}

/// Which broker the guard wraps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSection {
    /// The OpenAlgo server's base URL: https, or http on loopback only.
    pub url: String,
    /// The vault entry holding the OpenAlgo API key.
    pub api_key_entry: String,
    /// The strategy tag sent with every order.
    pub strategy: String,
}

impl Default for BrokerSection {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:5000".to_owned(),
            api_key_entry: "openalgo.api_key".to_owned(),
            strategy: "asta".to_owned(),
        }
    }
}

/// Audit trail settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// Days before a segment may be pruned (at least 1825 for SEBI).
    pub retention_days: u32,
    /// The vault entry holding the audit chain key.
    pub chain_key_entry: String,
}

impl Default for AuditSection {
    fn default() -> Self {
        Self {
            retention_days: MIN_AUDIT_RETENTION_DAYS,
            chain_key_entry: "audit.chain_key".to_owned(),
        }
    }
}

/// Operator security settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySection {
    /// The vault entry holding the operator's TOTP secret.
    pub totp_entry: String,
    /// API keys older than this many days fail `asta doctor`.
    pub api_key_max_age_days: u32,
    /// Addresses any ASTA-related service listens on; all must be loopback.
    pub bind_addresses: Vec<String>,
}

impl Default for SecuritySection {
    fn default() -> Self {
        Self {
            totp_entry: "totp.operator".to_owned(),
            api_key_max_age_days: 90,
            bind_addresses: Vec::new(),
        }
    }
}

/// Backup settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSection {
    /// `asta doctor` fails when the newest backup is older than this.
    pub max_age_hours: u32,
    /// `asta backup prune` keeps backups younger than this.
    pub retention_days: u32,
}

impl Default for BackupSection {
    fn default() -> Self {
        Self {
            max_age_hours: 24,
            retention_days: MIN_AUDIT_RETENTION_DAYS,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The named file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("configuration {path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (from the TOML parser: line, column, field).
        message: String,
    },
}

impl Config {
    /// Loads `path`, or, when `path` is `None`, `./asta.toml` if it exists and
    /// the defaults (relative to the current directory) if it does not.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(path) => Self::from_file(path),
            None => {
                let default = Path::new(DEFAULT_CONFIG_FILE);
                if default.exists() {
                    Self::from_file(default)
                } else {
                    Ok(Self::defaults_in(Path::new(".")))
                }
            }
        }
    }

    /// The defaults, relative to `dir`.
    pub fn defaults_in(dir: &Path) -> Self {
        Self {
            base_dir: dir.to_path_buf(),
            source: None,
            file: ConfigFile::default(),
        }
    }

    /// Loads and checks one file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = Self::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        let base_dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Self {
            base_dir,
            source: Some(path.to_path_buf()),
            file,
        })
    }

    /// Parses configuration text.
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if file.trading.mode.is_live() && !file.trading.allow_live_trading {
            return Err(
                "trading.mode is \"live\" but trading.allow_live_trading is not true".to_owned(),
            );
        }
        file.serve.validate()?;
        file.sandbox.validate(file.trading.mode)?;
        Ok(file)
    }

    /// A configured path, resolved against the configuration's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The vault file.
    pub fn vault_path(&self) -> PathBuf {
        self.resolve(&self.file.paths.vault)
    }

    /// The vault key file.
    pub fn key_file_path(&self) -> PathBuf {
        self.resolve(&self.file.paths.key_file)
    }

    /// The audit directory.
    pub fn audit_dir(&self) -> PathBuf {
        self.resolve(&self.file.paths.audit_dir)
    }

    /// The risk state file.
    pub fn risk_state_path(&self) -> PathBuf {
        self.resolve(&self.file.paths.risk_state)
    }

    /// The instrument catalog.
    pub fn instruments_path(&self) -> PathBuf {
        self.resolve(&self.file.paths.instruments)
    }

    /// The backup directory.
    pub fn backups_dir(&self) -> PathBuf {
        self.resolve(&self.file.paths.backups)
    }

    /// The session's control socket.
    pub fn control_socket_path(&self) -> PathBuf {
        self.resolve(&self.file.paths.control_socket)
    }

    /// The halt marker.
    pub fn halt_marker_path(&self) -> PathBuf {
        self.resolve(&self.file.paths.halt_marker)
    }

    /// The control trail's directory.
    pub fn control_audit_dir(&self) -> PathBuf {
        self.resolve(&self.file.paths.control_audit_dir)
    }

    /// The configured market calendar file, if one replaces the built-in data.
    pub fn calendar_path(&self) -> Option<PathBuf> {
        self.file.paths.calendar.as_deref().map(|p| self.resolve(p))
    }

    /// Where the session saves its risk snapshots.
    pub fn risk_snapshot_path(&self) -> PathBuf {
        self.resolve(&self.file.paths.risk_snapshot)
    }

    /// The gateway's TLS certificate and key, if configured.
    pub fn tls_paths(&self) -> Option<(PathBuf, PathBuf)> {
        let serve = &self.file.serve;
        match (&serve.tls_cert, &serve.tls_key) {
            (Some(cert), Some(key)) => Some((self.resolve(cert), self.resolve(key))),
            _ => None,
        }
    }

    /// The SQLite databases.
    pub fn database_paths(&self) -> Vec<PathBuf> {
        self.file
            .paths
            .databases
            .iter()
            .map(|p| self.resolve(p))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe() {
        let file = Config::parse("").unwrap();
        assert_eq!(file.trading.mode, TradingMode::Sandbox);
        assert!(!file.trading.allow_live_trading);
        assert_eq!(file.audit.retention_days, MIN_AUDIT_RETENTION_DAYS);
        assert!(file.broker.url.starts_with("http://127.0.0.1"));
    }

    #[test]
    fn unknown_fields_and_typos_are_refused() {
        let error = Config::parse("[trading]\nallow_live_trade = true\n").unwrap_err();
        assert!(error.contains("allow_live_trade"), "{error}");
        assert!(Config::parse("[tradng]\n").is_err());
        assert!(Config::parse("[trading]\nmode = \"LIVE\"\n").is_err());
    }

    #[test]
    fn live_mode_needs_the_explicit_switch() {
        assert!(Config::parse("[trading]\nmode = \"live\"\n").is_err());
        let file =
            Config::parse("[trading]\nmode = \"live\"\nallow_live_trading = true\n").unwrap();
        assert!(file.trading.mode.is_live());
    }

    #[test]
    fn risk_limits_are_validated_when_read() {
        let file = Config::parse(
            "[risk]\ncapital = \"1000000\"\nmax_order_quantity = 100\nmax_order_notional = \"100000\"\nmax_gross_exposure = \"500000\"\n",
        )
        .unwrap();
        assert!(file.risk.is_some());
        let over = Config::parse(
            "[risk]\ncapital = \"1000000\"\nmax_order_quantity = 100\nmax_order_notional = \"100000\"\nmax_gross_exposure = \"500000\"\nmax_daily_loss_bps = 20000\n",
        );
        assert!(over.is_err());
        let typo = Config::parse("[risk]\ncapitl = \"1\"\n");
        assert!(typo.is_err());
    }

    #[test]
    fn serve_and_sandbox_settings_are_checked() {
        let file = Config::parse("").unwrap();
        assert_eq!(file.serve.listen, DEFAULT_SERVE_LISTEN);
        assert!(!file.sandbox.always_open);
        assert!(Config::parse("[serve]\nlisen = \"127.0.0.1:1\"\n").is_err());
        assert!(Config::parse("[serve]\nlisten = \"localhost\"\n").is_err());
        assert!(Config::parse("[serve]\nmax_body_bytes = 0\n").is_err());
        assert!(Config::parse("[serve]\ntls_cert = \"c.pem\"\n").is_err());
        let ok = Config::parse(
            "[sandbox]\nalways_open = true\n[sandbox.quotes]\n\"NSE:SBIN\" = \"800\"\n",
        )
        .unwrap();
        let quotes = ok.sandbox.starting_quotes().unwrap();
        assert_eq!(quotes.len(), 1);
        assert_eq!(quotes[0].2.to_string(), "800");
        let paper = Config::parse("[trading]\nmode = \"paper\"\n[sandbox]\nalways_open = true\n")
            .unwrap_err();
        assert!(paper.contains("sandbox mode only"), "{paper}");
        let live = "[trading]\nmode = \"live\"\nallow_live_trading = true\n[sandbox]\nalways_open = true\n";
        assert!(Config::parse(live).is_err());
        assert!(Config::parse("[sandbox.quotes]\nSBIN = \"800\"\n").is_err());
        assert!(Config::parse("[sandbox.quotes]\n\"NSE:SBIN\" = \"-1\"\n").is_err());
        assert!(Config::parse("[sandbox]\nalways_opn = true\n").is_err());
    }

    #[test]
    fn paths_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asta.toml");
        std::fs::write(&path, "[paths]\nvault = \"secrets/v.asta\"\n").unwrap();
        let config = Config::from_file(&path).unwrap();
        assert_eq!(config.vault_path(), dir.path().join("secrets/v.asta"));
        assert_eq!(config.audit_dir(), dir.path().join("audit"));
        assert_eq!(
            config.control_socket_path(),
            dir.path().join("run/asta.sock")
        );
        assert_eq!(config.halt_marker_path(), dir.path().join("run/HALTED"));
        assert_eq!(config.control_audit_dir(), dir.path().join("audit-control"));
    }
}
