//! The `asta` command line: a thin layer over the ASTA libraries.
//!
//! The binary parses arguments (clap), reads one TOML configuration file
//! (`asta.toml`, unknown fields refused, no secrets in it), calls into
//! `asta-core`, `asta-vault`, `asta-audit`, `asta-risk` and `asta-broker`,
//! and prints. This library half exists so that the command's pieces
//! (configuration, the doctor checklist, failure reporting) can be tested
//! directly; logic that another Rust program would want lives in the library
//! crates, not here.
//!
//! # Example
//!
//! ```
//! use asta_cli::config::Config;
//!
//! let file = Config::parse("[trading]\nmode = \"sandbox\"\n")?;
//! assert!(!file.trading.allow_live_trading);
//! // A typo is an error, not a silently ignored field.
//! assert!(Config::parse("[trading]\nallow_live_trade = true\n").is_err());
//! # Ok::<(), String>(())
//! ```
//!
//! # Security notes
//!
//! Failures print only the public face of an error (code, generic message,
//! reference) and a hint; `--verbose` adds library error detail, which never
//! holds secrets. No command takes a secret on its command line.

pub mod backup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod context;
pub mod doctor;
pub mod failure;
pub mod output;
pub mod record;
pub mod secret_input;
pub mod serve;
