//! The command-line grammar (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// ASTA: safe automated trading for Indian markets.
///
/// Exit codes (one meaning each, the same for every command): 0 success;
/// 1 a check failed (doctor FAIL, audit tampering, a backup or TOTP code
/// that does not verify); 2 usage error; 3 invalid input or configuration;
/// 4 refused (permission, confirmation, halted, a safety rule); 5 internal
/// or I/O error; 6 already exists; 7 not found; 8 acted without the running
/// session's confirmation (it holds the audit lock but did not answer).
#[derive(Debug, Parser)]
#[command(name = "asta", version, about, long_about = None, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// The configuration file (default: ./asta.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print error details (never secrets).
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The exit code table printed after `asta --help` (kept equal to
/// [`crate::failure::EXIT_CODES`] by a test).
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  success
  1  a check ran and failed (doctor FAIL, audit tampering, a backup or TOTP code that does not verify, an incomplete emergency stop)
  2  usage error (unknown command or flag)
  3  invalid input or configuration
  4  refused (permission, confirmation, halted, a safety rule such as overwrite without --force)
  5  internal or I/O error
  6  already exists (nothing was replaced)
  7  not found
  8  acted without the running session's confirmation (it holds the trail but did not answer)";

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up a new project directory: a commented asta.toml with safe
    /// defaults, the vault and its key file, the audit trail, a risk state, a
    /// sample instrument catalog and the incident response plan. Never
    /// overwrites anything.
    Init(InitArgs),
    /// Run a simulated trading session through the full guard (sandbox, local files only).
    Demo(DemoArgs),
    /// The pre-deployment security checklist.
    Doctor(DoctorArgs),
    /// The encrypted credential vault.
    Vault(VaultArgs),
    /// TOTP two-factor authentication for operator actions.
    Totp(TotpArgs),
    /// The tamper-evident audit trail.
    Audit(AuditArgs),
    /// Sealed backups of databases, the vault and the audit trail.
    Backup(BackupArgs),
    /// Risk state: status, and the TOTP-authorized reset out of HALTED.
    Risk(RiskArgs),
    /// Kill switch: halt and cancel every open order (--flatten: also close positions).
    Kill(KillArgs),
    /// The running session's state (through its control socket), or the saved state.
    Status(StatusArgs),
    /// The market calendar: build a newer data file from a holiday list.
    Calendar(CalendarArgs),
    /// The instrument catalog: import it from the OpenAlgo server.
    Instruments(crate::commands::instruments::InstrumentsArgs),
    /// Run the trading session: the guard over the configured broker, the
    /// control socket, and OpenAlgo's REST v1 for clients (client keys from
    /// the vault). Stops cleanly on SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Client keys for `asta serve`: issue, list, rotate, revoke.
    Keys(KeysArgs),
}

/// `asta serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Worker threads of the session's runtime.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub threads: usize,
}

/// `asta keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// The client-key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issue a client key and print it once (the vault keeps only a keyed
    /// hash). A trade or admin key needs a TOTP code (prompt or stdin).
    Issue {
        /// The key's name (1-64 characters of a-z 0-9 _ . -, starting with a letter).
        name: String,
        /// What the key may do: read (data, books), trade (read and
        /// orders), admin (the operator console, with TOTP; no trading).
        #[arg(long)]
        scope: String,
        /// Bind the key to one strategy tag: it may trade only under it.
        #[arg(long)]
        strategy: Option<String>,
        /// Days until the key expires (1 to 730).
        #[arg(long, default_value_t = 90)]
        lifetime_days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List client keys: name, scope, strategy, dates, state, fingerprint.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace a key with a new one (same scope, strategy and lifetime) and
    /// print it once; the old key stops working. A trade or admin key needs
    /// a TOTP code.
    Rotate {
        /// The key's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once (final; no TOTP: revoking only takes power away).
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// `asta status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `asta calendar`.
#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CalendarCommand,
}

/// The calendar subcommands.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Build a calendar file from an exchange holiday list (CSV:
    /// `date,name,exchanges[,open,close]`); session times from the built-in data.
    Import {
        /// The holiday list.
        #[arg(long, value_name = "CSV")]
        holidays: PathBuf,
        /// The new calendar file (never replaces an existing file).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// First covered date (default: 1 January of the earliest listed year).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<chrono::NaiveDate>,
        /// Last covered date (default: 31 December of the latest listed year).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<chrono::NaiveDate>,
        /// The data version to record (default: `import-` and the last listed date).
        #[arg(long)]
        version: Option<String>,
    },
}

/// `asta init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The project directory (default: the current directory; created if missing).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `asta demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Working directory (default: a new temporary directory, kept afterwards).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `asta doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The project directory to check (default: the current directory).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `asta vault`.
#[derive(Debug, Args)]
pub struct VaultArgs {
    /// What to do with the vault.
    #[command(subcommand)]
    pub command: VaultCommand,
}

/// The vault subcommands. Secret values are read from a hidden prompt or
/// standard input, never from the command line.
#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Create the vault and (unless configured otherwise) a 0600 key file.
    Init,
    /// Store a secret read from a hidden prompt or standard input.
    Set {
        /// The entry name, e.g. `openalgo.api_key`.
        name: String,
        /// Store it as an API key with scopes and an expiry.
        #[arg(long)]
        api_key: bool,
        /// An API-key scope (repeat for several): read, trade, admin...
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Lifetime in days (API keys default to 90).
        #[arg(long, value_name = "DAYS")]
        lifetime_days: Option<u32>,
        /// A note (not secret, stored unencrypted).
        #[arg(long)]
        note: Option<String>,
    },
    /// Print one secret; only with --reveal.
    Get {
        /// The entry name.
        name: String,
        /// Really print the secret on standard output.
        #[arg(long)]
        reveal: bool,
        /// For API keys: the scope the caller needs.
        #[arg(long)]
        scope: Option<String>,
    },
    /// List entries (names and metadata, never values).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an entry.
    Rm {
        /// The entry name.
        name: String,
    },
    /// Replace an entry's value (read like `set`), bumping its version.
    Rotate {
        /// The entry name.
        name: String,
    },
    /// Re-wrap the vault's data key under a new key file (or a passphrase).
    Rekey {
        /// Switch to a passphrase instead of a new key file.
        #[arg(long)]
        passphrase: bool,
    },
    /// Show API keys and secrets near or past expiry.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `asta totp`.
#[derive(Debug, Args)]
pub struct TotpArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TotpCommand,
}

/// The TOTP subcommands.
#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Generate the operator's TOTP secret and print its otpauth:// URI and QR code.
    Enroll {
        /// The account label shown in the authenticator app.
        #[arg(long, default_value = "operator")]
        account: String,
    },
    /// Check a code (read from a prompt or standard input).
    Verify,
}

/// `asta audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the whole chain; exits 1 and names the first bad record on tampering.
    Verify {
        /// A checkpoint (its text, or a file holding it) to detect truncation or rollback.
        #[arg(long, value_name = "TEXT|FILE")]
        checkpoint: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the newest records.
    Tail {
        /// How many records.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Print a JSON array of the records.
        #[arg(long)]
        json: bool,
    },
    /// Write every record as JSON Lines (after verifying the chain).
    Export {
        /// Write to this new file (mode 0600; an existing file or a symbolic
        /// link is refused) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Print the current head as a checkpoint to keep somewhere else.
    Checkpoint {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the risk state at a point of the trail from the trail alone,
    /// and show the decision records around that point.
    Replay {
        /// The audit record to stop at (default: the newest).
        #[arg(long, value_name = "SEQ")]
        until: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `asta backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BackupCommand,
}

/// The backup subcommands. Backups are sealed with the vault's
/// `backup.seal_key` unless `--passphrase` is given; a passphrase backup is
/// the one that can bring back a lost vault.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Snapshot the databases (online backup API), the vault and the audit trail, sealed.
    Create {
        /// Seal with a passphrase (prompt, or ASTA_BACKUP_PASSPHRASE) instead of the vault key.
        #[arg(long)]
        passphrase: bool,
    },
    /// Decrypt and check a backup (SHA-256 per file, SQLite integrity_check) without restoring.
    Verify {
        /// The backup file.
        file: std::path::PathBuf,
        /// It was sealed with a passphrase.
        #[arg(long)]
        passphrase: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup to the configured locations.
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
        /// Replace files that exist.
        #[arg(long)]
        force: bool,
        /// It was sealed with a passphrase.
        #[arg(long)]
        passphrase: bool,
        /// Restore an audit trail that does not extend the present one: the
        /// present trail is moved aside (never deleted) and the restore is
        /// recorded in the restored trail.
        #[arg(long)]
        replace_audit_trail: bool,
    },
    /// Delete backups older than backup.retention_days (never the newest).
    Prune,
}

/// `asta risk`.
#[derive(Debug, Args)]
pub struct RiskArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: RiskCommand,
}

/// The risk subcommands.
#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// Create the risk state file on a first run (refused if one exists; audited).
    Init,
    /// Show the trading state, breakers, the day's loss, exposure and positions.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Leave HALTED: needs a TOTP code (prompt or stdin); recorded in the audit trail.
    Reset {
        /// Who is resetting (recorded).
        #[arg(long, default_value = "operator")]
        operator: String,
    },
}

/// `asta kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Why (recorded in the audit trail and the alert).
    #[arg(long, default_value = "operator kill switch")]
    pub reason: String,
    /// Who is stopping (recorded beside your uid and user name).
    #[arg(long, default_value = "operator")]
    pub operator: String,
    /// Also close every open position at market (asks for a TOTP code).
    #[arg(long)]
    pub flatten: bool,
    /// Print one JSON object (path taken, whether the stop is confirmed and
    /// complete, what was cancelled and closed, what failed, the exit code)
    /// instead of text; the exit code is the same.
    #[arg(long)]
    pub json: bool,
}
