//! `asta init [DIR]`: a new project directory with safe defaults, ready for
//! `asta doctor`, and never over anything that exists.

use std::path::{Path, PathBuf};

use asta_core::safe_file;

use crate::cli::{InitArgs, RiskArgs, RiskCommand, VaultArgs, VaultCommand};
use crate::config::{Config, DEFAULT_CONFIG_FILE};
use crate::failure::{CommandResult, EXIT_OK, Failure};

/// The commented configuration `asta init` writes: sandbox mode, live
/// trading off, every path at its default, risk limits to review.
pub const CONFIG_TEMPLATE: &str = r#"# ASTA configuration, written by `asta init`. It holds no secrets: only the
# names of vault entries and environment variables. Unknown fields are refused.
# Relative paths are taken from this file's directory.

[paths]
vault = "vault.asta"            # the encrypted vault (0600)
key_file = "keys/vault.key"     # its key (0600, in a 0700 directory)
# key_env = "ASTA_MASTER_KEY"   # or: the key in an environment variable
# passphrase = true             # or: an Argon2id passphrase (prompt or ASTA_VAULT_PASSPHRASE)
audit_dir = "audit"             # the tamper-evident audit trail (0700)
risk_state = "risk-state.json"  # the risk engine's persisted state
risk_snapshot = "risk-snapshot.json" # asta serve's risk snapshot (the audit trail stays the record)
instruments = "instruments.csv" # exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper
backups = "backups"             # sealed backups (asta backup create)
databases = []                  # SQLite databases to back up, e.g. ["data/trades.db"]
# calendar = "calendar.json"    # a newer market calendar than the built-in one

[trading]
mode = "sandbox"                # sandbox (no network, no money) | paper | live
allow_live_trading = false      # live also needs a per-session TOTP confirmation

[broker]
url = "http://127.0.0.1:5000"   # the OpenAlgo server: https, or http on loopback only
api_key_entry = "openalgo.api_key"   # the vault entry (asta vault set openalgo.api_key --api-key ...)
strategy = "asta"

[audit]
retention_days = 1825           # five years (SEBI); never less
chain_key_entry = "audit.chain_key"

[security]
totp_entry = "totp.operator"    # asta totp enroll
api_key_max_age_days = 90
bind_addresses = []             # every listening address must be loopback

# `asta serve`: the trading session, serving OpenAlgo's REST v1 to clients
# (the OpenAlgo Python SDK, TradingView...) with keys from `asta keys issue`.
[serve]
listen = "127.0.0.1:5010"       # loopback; any other address needs tls_cert and tls_key
# tls_cert = "tls/cert.pem"     # PEM certificate chain (HTTPS)
# tls_key = "tls/key.pem"       # PEM private key (0600)
max_body_bytes = 65536          # larger request bodies get 413
max_json_depth = 8              # deeper JSON gets 400
request_timeout_secs = 10       # to send headers, and again the body; slow clients are dropped
max_connections = 64
console_idle_secs = 900         # the operator console signs out after this long idle

# Sandbox rehearsals (sandbox mode only: refused in paper and live mode).
[sandbox]
always_open = true              # waive trading hours, to rehearse at any hour (recorded in the audit trail)
random_walk_bps = 0             # each quote tick moves prices by up to this many basis points
# quote_interval_ms = 1000

# Starting prices of the simulated market, so MARKET orders fill.
[sandbox.quotes]
"NSE:SBIN" = "800"
"NSE:RELIANCE" = "2500"
"NSE:INFY" = "1500"
"NSE:TCS" = "4000"
"NSE:HDFCBANK" = "1700"

[backup]
max_age_hours = 24              # asta doctor fails when the newest backup is older
retention_days = 1825

# Risk limits: review them for your account before trading. Money as
# strings (rupees), shares of capital in basis points.
[risk]
capital = "1000000"
max_order_quantity = 1000
max_order_notional = "200000"
max_gross_exposure = "2000000"
# max_daily_loss_bps = 300      # 3% of capital (default)
# max_position_share_bps = 3000 # 30% of capital per symbol (default)
# collar_bps = 500              # 5% from the last price (default)
"#;

/// A small sample instrument catalog: cash-market equities only, so that no
/// sample contract can expire. Replace it with the exchange's files.
pub const SAMPLE_INSTRUMENTS: &str = "\
exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper
NSE,SBIN,0.05,1,,,
NSE,RELIANCE,0.1,1,,,
NSE,INFY,0.1,1,,,
NSE,TCS,0.1,1,,,
NSE,HDFCBANK,0.1,1,,,
";

/// The incident response plan copied next to the configuration.
pub const INCIDENT_RESPONSE: &str = include_str!("../../docs/incident-response.md");

/// Where `asta init` puts the incident response plan, relative to the
/// configuration's directory (and where `asta doctor` looks for it).
pub const INCIDENT_RESPONSE_PATH: &str = "docs/incident-response.md";

/// What a new project must not ignore in git.
const GITIGNORE: &str = "\
# ASTA: secrets, keys, logs, databases and backups are never tracked.
.env
.env.*
*.key
*.pem
keys/
config/credentials.*
logs/
*.log
*.db
*.sqlite
*.duckdb
backups/
*.bak
*.asta
*.lock
audit/
risk-state.json
risk-snapshot.json
";

/// Creates the project in `args.dir` (default: the current directory).
pub fn run(args: &InitArgs) -> CommandResult {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::internal(format!("cannot create {}", dir.display()), e))?;
    let config_path = dir.join(DEFAULT_CONFIG_FILE);
    let defaults = Config::defaults_in(&dir);
    // Everything this writes, checked before anything is written.
    let planned = [
        config_path.clone(),
        defaults.vault_path(),
        defaults.key_file_path(),
        defaults.audit_dir(),
        defaults.risk_state_path(),
        defaults.instruments_path(),
        dir.join(INCIDENT_RESPONSE_PATH),
    ];
    if let Some(existing) = planned
        .iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok())
    {
        return Err(Failure::already_exists(
            "asta init never overwrites: choose an empty directory, or remove what it names",
            anyhow::anyhow!("{} exists", existing.display()),
        ));
    }
    write_new(&config_path, CONFIG_TEMPLATE, 0o644)?;
    write_new(&defaults.instruments_path(), SAMPLE_INSTRUMENTS, 0o644)?;
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs)
        .map_err(|e| Failure::internal(format!("cannot create {}", docs.display()), e))?;
    write_new(&dir.join(INCIDENT_RESPONSE_PATH), INCIDENT_RESPONSE, 0o644)?;
    let gitignore = dir.join(".gitignore");
    let wrote_gitignore = std::fs::symlink_metadata(&gitignore).is_err();
    if wrote_gitignore {
        write_new(&gitignore, GITIGNORE, 0o644)?;
    }
    crate::say!(
        "wrote {} (sandbox mode, live trading off)",
        config_path.display()
    );

    let config = Config::from_file(&config_path).map_err(Failure::config)?;
    super::vault::run(
        &VaultArgs {
            command: VaultCommand::Init,
        },
        &config,
    )?;
    // Creates the risk state and, with its first records, the audit trail.
    super::risk::run(
        &RiskArgs {
            command: RiskCommand::Init,
        },
        &config,
    )?;
    crate::say!(
        "wrote {} (sample equities), {}{}",
        defaults.instruments_path().display(),
        dir.join(INCIDENT_RESPONSE_PATH).display(),
        if wrote_gitignore {
            " and .gitignore"
        } else {
            ""
        }
    );
    crate::say!(
        "next: review [risk] in asta.toml, `asta totp enroll`, `asta backup create`, `asta doctor`"
    );
    crate::say!(
        "serve OpenAlgo clients: `asta keys issue NAME --scope trade`, then `asta serve` (sandbox, 127.0.0.1:5010)"
    );
    Ok(EXIT_OK)
}

/// A new file with `content` (refused if the name exists, never through a link).
pub(crate) fn write_new(path: &Path, content: &str, mode: u32) -> Result<(), Failure> {
    safe_file::write_new_atomic_with(path, mode, |file| {
        use std::io::Write;
        file.write_all(content.as_bytes())
    })
    .map_err(|e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::already_exists("asta init never overwrites: choose an empty directory", e)
        } else {
            Failure::internal(format!("cannot write {}", path.display()), e)
        }
    })
}
