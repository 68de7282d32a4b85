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
    let recorded = asta_cli::record::command_outcome(&cli, &result);
    match result {
        Ok(code) => {
            if let Err(why) = recorded {
                eprintln!("note: this command is not in the audit trail: {why}");
            }
            ExitCode::from(code)
        }
        Err(failure) => {
            eprint!("{}", failure.render(cli.verbose));
            match recorded {
                Ok(Some(seq)) => eprintln!(
                    "the detail is in the audit trail under {} (record {seq})",
                    failure.public.reference()
                ),
                Ok(None) => {}
                Err(why) => eprintln!("note: this failure is not in the audit trail: {why}"),
            }
            ExitCode::from(failure.exit)
        }
    }
}

fn run(cli: &Cli) -> CommandResult {
    let load = || Config::load(cli.config.as_deref()).map_err(Failure::config);
    match &cli.command {
        Command::Init(args) => commands::init::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Doctor(args) => commands::doctor::run(args, cli.config.as_deref()),
        Command::Vault(args) => commands::vault::run(args, &load()?),
        Command::Totp(args) => commands::totp::run(args, &load()?),
        Command::Audit(args) => commands::audit::run(args, &load()?),
        Command::Backup(args) => commands::backup::run(args, &load()?),
        Command::Risk(args) => commands::risk::run(args, &load()?),
        Command::Kill(args) => commands::kill::run(args, &load()?),
        Command::Status(args) => commands::status::run(args.json, &load()?),
        Command::Calendar(args) => commands::calendar::run(args),
        Command::Instruments(args) => commands::instruments::run(args, &load()?),
        Command::Serve(args) => commands::serve::run(args, &load()?),
        Command::Keys(args) => commands::keys::run(args, &load()?),
    }
}
