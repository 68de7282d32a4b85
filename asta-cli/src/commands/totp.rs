//! `asta totp enroll|verify`.

use asta_core::{Clock, SystemClock};
use asta_vault::TotpConfig;
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use secrecy::ExposeSecret;

use crate::cli::{TotpArgs, TotpCommand};
use crate::config::Config;
use crate::context::open_vault;
use crate::failure::{CommandResult, EXIT_CHECK_FAILED, EXIT_OK, Failure};
use crate::secret_input::read_secret;

/// Runs one TOTP subcommand.
pub fn run(args: &TotpArgs, config: &Config) -> CommandResult {
    let entry = config.file.security.totp_entry.as_str();
    match &args.command {
        TotpCommand::Enroll { account } => {
            let mut vault = open_vault(config)?;
            let enrollment = vault
                .enroll_totp(entry, "ASTA", account, TotpConfig::default())
                .map_err(|e| {
                    let hint = "an operator may enroll once; remove the entry first to re-enroll";
                    match e {
                        asta_vault::TotpError::Vault(asta_vault::VaultError::EntryExists {
                            ..
                        }) => Failure::already_exists(hint, e),
                        e => Failure::new(asta_core::PublicCode::public_code(&e), hint, e),
                    }
                })?;
            let uri = enrollment.uri.expose_secret();
            crate::say!("Scan this with your authenticator app, or enter the secret by hand.");
            crate::say!("It is shown once; anyone who sees it can generate your codes.\n");
            if let Ok(code) = QrCode::new(uri.as_bytes()) {
                crate::say!("{}", code.render::<Dense1x2>().quiet_zone(true).build());
            }
            crate::say!("{uri}");
            crate::say!("secret: {}", enrollment.secret_base32.expose_secret());
            Ok(EXIT_OK)
        }
        TotpCommand::Verify => {
            let mut vault = open_vault(config)?;
            let code = read_secret("TOTP code: ")
                .map_err(|e| Failure::invalid("type the 6-digit code", e))?;
            match vault.verify_totp(entry, code.expose_secret(), SystemClock.now()) {
                Ok(()) => {
                    crate::say!("OK");
                    Ok(EXIT_OK)
                }
                Err(error) => {
                    crate::say!("REFUSED: {error}");
                    Ok(EXIT_CHECK_FAILED)
                }
            }
        }
    }
}
