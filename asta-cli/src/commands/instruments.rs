//! `asta instruments import`: builds the instrument catalog (`instruments.csv`)
//! from the OpenAlgo server's instrument list.
//!
//! Every row goes through asta-core's [`Instrument`] (via
//! [`OpenAlgoBroker::instruments`]); rows that do not parse are refused,
//! counted and shown (the first five), never guessed at. The file is written
//! only when every exchange asked for answered, privately (0600) and
//! atomically, never through a symbolic link and never over an existing file
//! without `--force`; before it is written its text is loaded back with
//! [`InstrumentCatalog::from_csv_reader`], so what lands on disk is a
//! catalog the guard can load. The import is recorded (names and counts) in
//! the audit trail, or in the control trail while a session holds the main
//! one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use asta_audit::{AuditError, AuditEvent, AuditLog};
use asta_broker::{
    BrokerError, InstrumentList, OpenAlgoBroker, OpenAlgoConfig, RefusedInstrument, ServerMode,
};
use asta_core::safe_file::{self, PRIVATE_FILE_MODE, SafeFileError};
use asta_core::{Clock, Exchange, Instrument, InstrumentCatalog, PublicCode, SystemClock};
use asta_vault::{Scope, Vault};
use clap::{Args, Subcommand};
use serde_json::json;

use super::control::{me, open_control_trail};
use crate::config::Config;
use crate::context::{chain_key, open_vault, vault_failure};
use crate::failure::{CommandResult, EXIT_OK, Failure};

/// How many refused rows are shown.
pub const SHOWN_REFUSALS: usize = 5;

/// The segments imported when no `--exchange` is given: every tradable one
/// (index segments have no tradable instruments).
pub const TRADABLE: [Exchange; 7] = [
    Exchange::Nse,
    Exchange::Bse,
    Exchange::Nfo,
    Exchange::Bfo,
    Exchange::Cds,
    Exchange::Bcd,
    Exchange::Mcx,
];

/// `asta instruments`.
#[derive(Debug, Args)]
pub struct InstrumentsArgs {
    /// What to do with the instrument catalog.
    #[command(subcommand)]
    pub command: InstrumentsCommand,
}

/// The instruments subcommands.
#[derive(Debug, Subcommand)]
pub enum InstrumentsCommand {
    /// Build the instrument catalog from the OpenAlgo server's instrument
    /// list (tick size, lot size, freeze quantity where the server sends
    /// one). Uses `[broker] url` and the API key in vault entry
    /// `broker.api_key_entry` (read scope).
    Import(ImportArgs),
}

/// `asta instruments import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An exchange segment to import (repeat for several): NSE, BSE, NFO,
    /// BFO, CDS, BCD, MCX. Default: all of them.
    #[arg(long = "exchange", value_name = "EXCHANGE", value_parser = parse_exchange)]
    pub exchanges: Vec<Exchange>,
    /// The catalog file to write, ending in .csv (default: `[paths]
    /// instruments` of the configuration).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace an existing file (a symbolic link is refused even so).
    #[arg(long)]
    pub force: bool,
}

/// A tradable exchange segment, in any letter case.
fn parse_exchange(text: &str) -> Result<Exchange, String> {
    let exchange: Exchange = text
        .trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|e| format!("{e}; expected one of NSE, BSE, NFO, BFO, CDS, BCD, MCX"))?;
    if exchange.is_tradable() {
        Ok(exchange)
    } else {
        Err(format!(
            "{exchange} is an index segment with no tradable instruments; expected one of NSE, BSE, NFO, BFO, CDS, BCD, MCX"
        ))
    }
}

/// Runs one instruments subcommand.
pub fn run(args: &InstrumentsArgs, config: &Config) -> CommandResult {
    match &args.command {
        InstrumentsCommand::Import(import_args) => import(import_args, config),
    }
}

/// What the import found, for the trail and the summary.
struct Outcome<'a> {
    exchanges: &'a [Exchange],
    lists: &'a [InstrumentList],
}

impl Outcome<'_> {
    fn rows(&self) -> usize {
        self.lists.iter().map(|l| l.rows).sum()
    }
    fn imported(&self) -> usize {
        self.lists.iter().map(|l| l.instruments.len()).sum()
    }
    fn refused(&self) -> usize {
        self.lists.iter().map(|l| l.refused.len()).sum()
    }
    fn details(&self, out: &Path, result: &str) -> serde_json::Value {
        json!({
            "via": "asta instruments import",
            "result": result,
            "path": out.display().to_string(),
            "exchanges": self.exchanges.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "rows": self.rows(),
            "imported": self.imported(),
            "refused": self.refused(),
            "by_exchange": self.lists.iter().map(|l| json!({
                "exchange": l.exchange.as_str(),
                "rows": l.rows,
                "imported": l.instruments.len(),
                "refused": l.refused.len(),
            })).collect::<Vec<_>>(),
        })
    }
}

fn import(args: &ImportArgs, config: &Config) -> CommandResult {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.instruments_path());
    check_target(&out, args.force)?;
    let mut exchanges: Vec<Exchange> = Vec::new();
    for exchange in if args.exchanges.is_empty() {
        &TRADABLE[..]
    } else {
        &args.exchanges[..]
    } {
        if !exchanges.contains(exchange) {
            exchanges.push(*exchange);
        }
    }

    let vault = open_vault(config)?;
    let (trail, trail_name) = open_trail(config, &vault)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let broker = broker_from_vault(config, &vault, &clock)?;
    drop(vault);
    let record = |event: AuditEvent| {
        trail
            .append(event.with_actor(me().user))
            .map(drop)
            .map_err(|e| Failure::new(e.public_code(), "the audit trail failed", e))
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::internal("cannot start the async runtime", e))?;
    let mut lists = Vec::with_capacity(exchanges.len());
    for exchange in &exchanges {
        match runtime.block_on(broker.instruments(*exchange)) {
            Ok(list) => lists.push(list),
            Err(error) => {
                let outcome = Outcome {
                    exchanges: &exchanges,
                    lists: &lists,
                };
                let mut details = outcome.details(&out, "server_failed");
                details["failed_exchange"] = json!(exchange.as_str());
                details["error"] = json!(error.to_string());
                record(AuditEvent::system("instruments_import_failed", details))?;
                close(trail)?;
                return Err(server_failure(config, *exchange, error));
            }
        }
    }
    let outcome = Outcome {
        exchanges: &exchanges,
        lists: &lists,
    };
    summarize(&outcome);

    if outcome.imported() == 0 {
        let result = if outcome.rows() == 0 {
            "no_rows"
        } else {
            "every_row_refused"
        };
        record(AuditEvent::system(
            "instruments_import_failed",
            outcome.details(&out, result),
        ))?;
        close(trail)?;
        let hint = if outcome.rows() == 0 {
            "the server listed no instruments: has it downloaded its master contract today?"
        } else {
            "every row was refused (see above); nothing was written"
        };
        return Err(Failure::invalid(
            hint,
            anyhow::anyhow!(
                "no valid instrument among {} rows for {}",
                outcome.rows(),
                names(&exchanges)
            ),
        ));
    }

    let mut instruments: Vec<&Instrument> =
        lists.iter().flat_map(|l| l.instruments.iter()).collect();
    instruments.sort_by(|a, b| {
        (a.exchange().as_str(), a.symbol()).cmp(&(b.exchange().as_str(), b.symbol()))
    });
    let text = catalog_csv(&instruments)?;
    write_catalog(&out, text.as_bytes(), args.force)?;
    record(AuditEvent::system(
        "instruments_imported",
        outcome.details(&out, "written"),
    ))?;
    close(trail)?;
    crate::say!(
        "wrote {} instruments to {} (mode 0600); recorded in the {trail_name}",
        outcome.imported(),
        out.display()
    );
    if outcome.refused() > 0 {
        crate::say!(
            "{} refused rows are NOT in the catalog: orders for them will be refused",
            outcome.refused()
        );
    }
    Ok(EXIT_OK)
}

fn names(exchanges: &[Exchange]) -> String {
    exchanges
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Counts per exchange, totals, and the first refused rows with the reason.
fn summarize(outcome: &Outcome<'_>) {
    for list in outcome.lists {
        crate::say!(
            "{}: {} rows, {} imported, {} refused",
            list.exchange,
            list.rows,
            list.instruments.len(),
            list.refused.len()
        );
    }
    crate::say!(
        "imported {} instruments; refused {} rows",
        outcome.imported(),
        outcome.refused()
    );
    let refused: Vec<(Exchange, &RefusedInstrument)> = outcome
        .lists
        .iter()
        .flat_map(|l| l.refused.iter().map(move |r| (l.exchange, r)))
        .collect();
    if refused.is_empty() {
        return;
    }
    crate::say!("first {} refused rows:", refused.len().min(SHOWN_REFUSALS));
    for (exchange, row) in refused.iter().take(SHOWN_REFUSALS) {
        crate::say!("  {exchange} {row}");
    }
}

/// Refuses a path that is not a `.csv` file name, a symbolic link, anything
/// but a regular file, and an existing file without `--force`. Checked
/// before anything is fetched; the write itself refuses again (see
/// [`write_catalog`]).
fn check_target(path: &Path, force: bool) -> Result<(), Failure> {
    let is_csv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !is_csv {
        return Err(Failure::invalid(
            "name a file ending in .csv (the catalog loader reads .csv or .json)",
            anyhow::anyhow!("{} does not end in .csv", path.display()),
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Failure::refused(
            "name a regular file: a symbolic link is never followed nor replaced",
            anyhow::anyhow!("{} is a symbolic link", path.display()),
        )),
        Ok(meta) if !meta.is_file() => Err(Failure::refused(
            "name a regular file",
            anyhow::anyhow!("{} exists and is not a regular file", path.display()),
        )),
        Ok(_) if !force => Err(Failure::already_exists(
            "pass --force to replace the existing catalog, or --out to write another file",
            anyhow::anyhow!("{} exists", path.display()),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::internal(
            format!("cannot inspect {}", path.display()),
            e,
        )),
    }
}

/// The catalog's CSV text, checked by loading it back. Every field is
/// already validated (symbols are `A-Z0-9&-_.`), so none needs quoting.
fn catalog_csv(instruments: &[&Instrument]) -> Result<String, Failure> {
    let mut text =
        String::from("exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\n");
    for i in instruments {
        let freeze = i
            .freeze_quantity()
            .map(|q| q.get().to_string())
            .unwrap_or_default();
        text.push_str(&format!(
            "{},{},{},{},{freeze},,\n",
            i.exchange(),
            i.symbol(),
            i.tick_size(),
            i.lot_size().get()
        ));
    }
    let loaded = InstrumentCatalog::from_csv_reader(text.as_bytes())
        .map_err(|e| Failure::internal("the catalog built from the list does not load", e))?;
    if loaded.len() != instruments.len() {
        return Err(Failure::internal(
            "the catalog built from the list does not load",
            anyhow::anyhow!(
                "{} instruments written, {} loaded",
                instruments.len(),
                loaded.len()
            ),
        ));
    }
    Ok(text)
}

/// Writes privately and atomically. Without `--force` the file must not
/// exist when it is put in place; with it, the file (or a symbolic link
/// that appeared since the check) is replaced, never written through.
fn write_catalog(path: &Path, bytes: &[u8], force: bool) -> Result<(), Failure> {
    let written: Result<(), anyhow::Error> = if force {
        safe_file::write_atomic(path, bytes, PRIVATE_FILE_MODE).map_err(anyhow::Error::from)
    } else {
        safe_file::write_new_atomic_with(path, PRIVATE_FILE_MODE, |file| {
            file.write_all(bytes).map_err(anyhow::Error::from)
        })
    };
    written.map_err(|e| match e.downcast_ref::<SafeFileError>() {
        Some(SafeFileError::AlreadyExists { .. }) => Failure::already_exists(
            "the file appeared while importing: pass --force to replace it",
            e,
        ),
        Some(SafeFileError::Symlink { .. }) => Failure::refused(
            "a symbolic link appeared at the output path while importing; it is never followed",
            e,
        ),
        _ => Failure::internal(format!("cannot write {}", path.display()), e),
    })
}

/// The main audit trail, or the control trail while a session holds the
/// main one (the session links it when next opened).
fn open_trail(config: &Config, vault: &Vault) -> Result<(AuditLog, &'static str), Failure> {
    let key = chain_key(config, vault)?;
    let audit_config = asta_audit::AuditConfig::builder()
        .retention_days(config.file.audit.retention_days)
        .build()
        .map_err(|e| Failure::invalid("check [audit] in asta.toml", e))?;
    match AuditLog::open(config.audit_dir(), key, audit_config, Arc::new(SystemClock)) {
        Ok(log) => Ok((log, "audit trail")),
        Err(AuditError::Locked { .. }) => {
            open_control_trail(config, vault).map(|log| (log, "control trail"))
        }
        Err(e) => Err(Failure::new(
            e.public_code(),
            "the audit trail cannot be opened",
            e,
        )),
    }
}

fn close(trail: AuditLog) -> Result<(), Failure> {
    trail
        .close()
        .map_err(|e| Failure::new(e.public_code(), "the audit trail failed", e))
}

/// The adapter, with the API key read from the vault (read scope).
fn broker_from_vault(
    config: &Config,
    vault: &Vault,
    clock: &Arc<dyn Clock>,
) -> Result<OpenAlgoBroker, Failure> {
    let api_key = vault
        .api_key(
            &config.file.broker.api_key_entry,
            &Scope::read(),
            clock.now(),
        )
        .map_err(vault_failure)?;
    // The instrument list carries no mode; the adapter is built for the
    // configuration's mode all the same, as every other command does.
    let mut openalgo = OpenAlgoConfig::new(&config.file.broker.url);
    openalgo.server_mode = if config.file.trading.mode.is_live() {
        ServerMode::Live
    } else {
        ServerMode::Analyze
    };
    OpenAlgoBroker::new(&openalgo, api_key, Arc::clone(clock))
        .map_err(|e| Failure::invalid("check broker.url in asta.toml", e))
}

/// A failed call as an input error (the server's list is this command's
/// input), with a hint for what to check.
fn server_failure(config: &Config, exchange: Exchange, error: BrokerError) -> Failure {
    let hint = match &error {
        BrokerError::AuthFailed { .. } => format!(
            "the server refused the API key in vault entry `{}` for the {exchange} list: check the key and that the broker session is logged in (sessions expire daily around 03:00 IST); nothing was written",
            config.file.broker.api_key_entry
        ),
        BrokerError::RateLimited { .. } => format!(
            "the server rate-limited the {exchange} list: try again in a few seconds; nothing was written"
        ),
        _ => format!(
            "the {exchange} list could not be read from {} (run with --verbose for the detail); nothing was written",
            config.file.broker.url
        ),
    };
    Failure::invalid(hint, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_parse_in_any_case_and_index_segments_are_refused() {
        assert_eq!(parse_exchange("nfo"), Ok(Exchange::Nfo));
        assert_eq!(parse_exchange(" MCX "), Ok(Exchange::Mcx));
        let index = parse_exchange("NSE_INDEX").unwrap_err();
        assert!(index.contains("index segment"), "{index}");
        let unknown = parse_exchange("NYSE").unwrap_err();
        assert!(unknown.contains("expected one of NSE"), "{unknown}");
        assert!(TRADABLE.iter().all(|e| e.is_tradable()));
    }
}
