//! The `asta` binary: parse, dispatch, report.

use std::process::ExitCode;

use asta_cli::cli::{Cli, Command};
use asta_cli::commands;
use asta_cli::config::Config;
use asta_cli::failure::{CommandResult, Failure};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(&cli);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprint!("{}", failure.render(cli.verbose));
            ExitCode::from(failure.exit)
        }
    }
}

fn run(cli: &Cli) -> CommandResult {
    let load = || {
        Config::load(cli.config.as_deref())
            .map_err(|e| Failure::invalid("fix the configuration file", e))
    };
    match &cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Doctor(args) => commands::doctor::run(args, cli.config.as_deref()),
        Command::Vault(args) => commands::vault::run(args, &load()?),
        Command::Totp(args) => commands::totp::run(args, &load()?),
        Command::Audit(args) => commands::audit::run(args, &load()?),
        Command::Backup(args) => commands::backup::run(args, &load()?),
        Command::Risk(args) => commands::risk::run(args, &load()?),
        Command::Kill(args) => commands::kill::run(args, &load()?),
        Command::Status(args) => commands::status::run(args.json, &load()?),
        Command::Instruments(args) => commands::instruments::run(args, &load()?),
    }
}
