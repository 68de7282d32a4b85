//! Operator confirmations: the per-session yes for live trading, and TOTP
//! checks backed by asta-vault.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use asta_core::{Clock, TradingMode};
use asta_risk::{TotpRejection, TotpVerifier};
use asta_vault::{TotpError, Vault};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::Venue;

/// What the operator is asked to confirm when a [`Guard`](crate::Guard) is
/// built in live mode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfirmRequest {
    /// The trading mode being entered (always [`TradingMode::Live`] today).
    pub mode: TradingMode,
    /// Where orders will go.
    pub venue: Venue,
    /// A one-line description to show the operator.
    pub message: String,
}

impl ConfirmRequest {
    /// A request to confirm entering `mode` with a broker at `venue`.
    pub fn new(mode: TradingMode, venue: Venue, message: &str) -> Self {
        Self {
            mode,
            venue,
            message: message.to_owned(),
        }
    }
}

/// Why a confirmation was refused. Never carries what the operator typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfirmRefusal {
    /// The operator said no (or the implementation refuses everything).
    #[error("the operator did not confirm live trading")]
    Declined,
    /// A TOTP code was required and was wrong, reused, throttled or missing.
    #[error("live trading confirmation refused: {0}")]
    Totp(TotpRejection),
    /// The confirmation could not be asked (no terminal, vault unavailable).
    #[error("live trading confirmation unavailable: {0}")]
    Unavailable(String),
}

/// Asks a human to confirm, once per session, that this process may trade
/// with real money.
///
/// Prompt-agnostic: the CLI implements it with a terminal prompt,
/// [`TotpConfirm`] with a TOTP code checked by the vault, [`DenyAll`] refuses
/// (tests, unattended runs). A [`Guard`](crate::Guard) in live mode calls it
/// exactly once, in [`GuardBuilder::build`](crate::GuardBuilder::build).
#[async_trait]
pub trait Confirm: Send + Sync {
    /// `Ok(())` only if the operator confirmed `request` just now.
    async fn confirm(&self, request: &ConfirmRequest) -> Result<(), ConfirmRefusal>;
}

#[async_trait]
impl<C: Confirm + ?Sized> Confirm for Arc<C> {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        (**self).confirm(request).await
    }
}

#[async_trait]
impl<C: Confirm + ?Sized> Confirm for Box<C> {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        (**self).confirm(request).await
    }
}

/// Refuses every confirmation: live mode can never start with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

#[async_trait]
impl Confirm for DenyAll {
    async fn confirm(&self, _request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        Err(ConfirmRefusal::Declined)
    }
}

/// Which vault entry holds an operator's TOTP secret.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryNaming {
    Shared(String),
    Prefix(String),
}

/// asta-vault's TOTP check (replay protection, throttling, state saved
/// before it answers) as asta-risk's [`TotpVerifier`], for
/// [`Guard::reset`](crate::Guard::reset).
///
/// The vault sits behind a `std` mutex, locked only for the synchronous
/// check. The code is passed to the vault and dropped; it is never logged,
/// stored or put in an error.
#[derive(Clone)]
pub struct VaultTotpVerifier {
    vault: Arc<Mutex<Vault>>,
    clock: Arc<dyn Clock>,
    naming: EntryNaming,
}

impl fmt::Debug for VaultTotpVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultTotpVerifier")
            .field("naming", &self.naming)
            .finish_non_exhaustive()
    }
}

impl VaultTotpVerifier {
    /// Every operator is checked against the one TOTP secret enrolled as `entry`.
    pub fn shared_entry(vault: Arc<Mutex<Vault>>, entry: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            vault,
            clock,
            naming: EntryNaming::Shared(entry.to_owned()),
        }
    }

    /// Operator `name` is checked against the secret enrolled as
    /// `{prefix}{name}` (e.g. prefix `totp.` and operator `alice` use
    /// `totp.alice`). Operators whose names are not valid vault entry names
    /// (e.g. containing `@`) are refused as not enrolled.
    pub fn per_operator(vault: Arc<Mutex<Vault>>, prefix: &str, clock: Arc<dyn Clock>) -> Self {
        Self {
            vault,
            clock,
            naming: EntryNaming::Prefix(prefix.to_owned()),
        }
    }

    fn entry_for(&self, operator: &str) -> String {
        match &self.naming {
            EntryNaming::Shared(entry) => entry.clone(),
            EntryNaming::Prefix(prefix) => format!("{prefix}{operator}"),
        }
    }
}

impl TotpVerifier for VaultTotpVerifier {
    fn verify(&self, operator: &str, code: &str) -> Result<(), TotpRejection> {
        let entry = self.entry_for(operator);
        let now = self.clock.now();
        let mut vault = self.vault.lock().unwrap_or_else(PoisonError::into_inner);
        vault
            .verify_totp(&entry, code, now)
            .map_err(|error| match error {
                TotpError::Malformed { .. } | TotpError::Invalid => TotpRejection::WrongCode,
                TotpError::Replayed => TotpRejection::Replayed,
                TotpError::Throttled { .. } => TotpRejection::Throttled,
                TotpError::NotEnrolled { .. } => TotpRejection::NotEnrolled,
                _ => TotpRejection::Unavailable,
            })
    }
}

/// A [`Confirm`] that accepts live trading when a TOTP code, entered by the
/// operator at start-up, is valid for them.
///
/// The code is used at most once (taken out on the first confirmation and
/// dropped, wiped, afterwards); the vault's replay protection refuses it
/// anywhere else too.
pub struct TotpConfirm<V> {
    verifier: V,
    operator: String,
    code: Mutex<Option<SecretString>>,
}

impl<V> fmt::Debug for TotpConfirm<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpConfirm")
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl<V: TotpVerifier + Send + Sync> TotpConfirm<V> {
    /// Confirms once for `operator` with `code`, checked by `verifier`
    /// (typically a [`VaultTotpVerifier`]).
    pub fn new(verifier: V, operator: &str, code: SecretString) -> Self {
        Self {
            verifier,
            operator: operator.to_owned(),
            code: Mutex::new(Some(code)),
        }
    }
}

#[async_trait]
impl<V: TotpVerifier + Send + Sync> Confirm for TotpConfirm<V> {
    async fn confirm(&self, _request: &ConfirmRequest) -> Result<(), ConfirmRefusal> {
        let code = self
            .code
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(ConfirmRefusal::Totp(TotpRejection::Replayed))?;
        self.verifier
            .verify(&self.operator, code.expose_secret())
            .map_err(ConfirmRefusal::Totp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);

    impl TotpVerifier for Fixed {
        fn verify(&self, _operator: &str, code: &str) -> Result<(), TotpRejection> {
            if code == self.0 {
                Ok(())
            } else {
                Err(TotpRejection::WrongCode)
            }
        }
    }

    fn request() -> ConfirmRequest {
        ConfirmRequest {
            mode: TradingMode::Live,
            venue: Venue::External,
            message: "live".into(),
        }
    }

    #[tokio::test]
    async fn totp_confirm_is_single_use() {
        let confirm = TotpConfirm::new(Fixed("123456"), "ops", SecretString::from("123456"));
        assert_eq!(confirm.confirm(&request()).await, Ok(()));
        assert_eq!(
            confirm.confirm(&request()).await,
            Err(ConfirmRefusal::Totp(TotpRejection::Replayed))
        );
        let wrong = TotpConfirm::new(Fixed("123456"), "ops", SecretString::from("654321"));
        assert_eq!(
            wrong.confirm(&request()).await,
            Err(ConfirmRefusal::Totp(TotpRejection::WrongCode))
        );
        assert!(!format!("{wrong:?}").contains("654321"));
        assert_eq!(
            DenyAll.confirm(&request()).await,
            Err(ConfirmRefusal::Declined)
        );
    }
}
