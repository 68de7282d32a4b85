//! How a failed command is reported: the public face, a hint, an exit code.

use std::fmt;

use asta_core::{ErrorCode, PublicError};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check failed (doctor FAIL, audit tampering, verification failed).
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: usage error (clap's own).
pub const EXIT_USAGE: u8 = 2;
/// Exit code: configuration or input error.
pub const EXIT_INVALID: u8 = 3;
/// Exit code: refused (permission, confirmation, halted, overwrite without `--force`).
pub const EXIT_REFUSED: u8 = 4;
/// Exit code: internal or I/O error.
pub const EXIT_INTERNAL: u8 = 5;
/// Exit code: what was to be created already exists (a vault, an entry, a
/// risk state, a TOTP enrollment, an export file, a backup name).
pub const EXIT_ALREADY_EXISTS: u8 = 6;
/// Exit code: what was named does not exist (a vault, an entry, a risk
/// state, a backup file).
pub const EXIT_NOT_FOUND: u8 = 7;
/// Exit code: the command acted without the running session's confirmation
/// (the session holds the audit lock but did not answer: `asta kill` wrote
/// the halt marker and went to the broker itself).
pub const EXIT_UNCONFIRMED: u8 = 8;

/// Every exit code and its one meaning, as `asta --help` and the README show them.
pub const EXIT_CODES: [(u8, &str); 9] = [
    (EXIT_OK, "success"),
    (
        EXIT_CHECK_FAILED,
        "a check ran and failed (doctor FAIL, audit tampering, a backup or TOTP code that does not verify, an incomplete emergency stop)",
    ),
    (EXIT_USAGE, "usage error (unknown command or flag)"),
    (EXIT_INVALID, "invalid input or configuration"),
    (
        EXIT_REFUSED,
        "refused (permission, confirmation, halted, a safety rule such as overwrite without --force)",
    ),
    (EXIT_INTERNAL, "internal or I/O error"),
    (EXIT_ALREADY_EXISTS, "already exists (nothing was replaced)"),
    (EXIT_NOT_FOUND, "not found"),
    (
        EXIT_UNCONFIRMED,
        "acted without the running session's confirmation (it holds the trail but did not answer)",
    ),
];

/// A failed command: what the user sees, the hint, the exit code, and the
/// detail shown only with `--verbose`.
///
/// The detail comes from library errors, which never carry secrets.
#[derive(Debug)]
pub struct Failure {
    /// The public face: code, generic message, reference.
    pub public: PublicError,
    /// One line on what to do next.
    pub hint: String,
    /// The process exit code.
    pub exit: u8,
    /// The underlying error chain.
    pub detail: anyhow::Error,
}

impl Failure {
    /// A failure with `code`, mapped to its exit code.
    pub fn new(code: ErrorCode, hint: impl Into<String>, detail: impl Into<anyhow::Error>) -> Self {
        let exit = match code {
            ErrorCode::InvalidInput => EXIT_INVALID,
            ErrorCode::PermissionDenied
            | ErrorCode::Halted
            | ErrorCode::RiskRejected
            | ErrorCode::RateLimited
            | ErrorCode::OutcomePending => EXIT_REFUSED,
            _ => EXIT_INTERNAL,
        };
        Self {
            public: PublicError::new(code),
            hint: hint.into(),
            exit,
            detail: detail.into(),
        }
    }

    /// Invalid input or configuration.
    pub fn invalid(hint: impl Into<String>, detail: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::InvalidInput, hint, detail)
    }

    /// Refused: permission, confirmation or safety.
    pub fn refused(hint: impl Into<String>, detail: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::PermissionDenied, hint, detail)
    }

    /// What was to be created already exists (exit 6); nothing was replaced.
    pub fn already_exists(hint: impl Into<String>, detail: impl Into<anyhow::Error>) -> Self {
        Self {
            exit: EXIT_ALREADY_EXISTS,
            ..Self::new(ErrorCode::InvalidInput, hint, detail)
        }
    }

    /// What was named does not exist (exit 7).
    pub fn not_found(hint: impl Into<String>, detail: impl Into<anyhow::Error>) -> Self {
        Self {
            exit: EXIT_NOT_FOUND,
            ..Self::new(ErrorCode::InvalidInput, hint, detail)
        }
    }

    /// An internal or I/O failure.
    pub fn internal(hint: impl Into<String>, detail: impl Into<anyhow::Error>) -> Self {
        Self::new(ErrorCode::InternalError, hint, detail)
    }

    /// The configuration file could not be loaded. The hint carries the
    /// parser's message (the file, line and column, what was found and
    /// what was expected) without `--verbose`, since fixing the file needs
    /// it; it passes through the audit trail's redaction first, in case a
    /// secret was typed into a misspelled field.
    pub fn config(error: crate::config::ConfigError) -> Self {
        let message = error.to_string();
        let shown = asta_audit::redact_text(&message);
        Self::invalid(
            format!("fix the configuration: {}", shown.trim_end()),
            error,
        )
    }

    /// A check that ran and found a problem (exit code 1).
    pub fn check_failed(hint: impl Into<String>, detail: impl Into<anyhow::Error>) -> Self {
        Self {
            exit: EXIT_CHECK_FAILED,
            ..Self::new(ErrorCode::InvalidInput, hint, detail)
        }
    }

    /// The text printed on standard error.
    pub fn render(&self, verbose: bool) -> String {
        let mut out = format!("error: {}\nhint: {}\n", self.public, self.hint);
        if verbose {
            out.push_str(&format!("detail: {:#}\n", self.detail));
        }
        out
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.public)
    }
}

/// The result of a command: an exit code on success (0, or 1 when a check
/// reported problems it already printed), or a failure.
pub type CommandResult = Result<u8, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_only_when_verbose() {
        let failure = Failure::invalid("fix the file", anyhow::anyhow!("line 3: bad field"));
        let quiet = failure.render(false);
        assert!(quiet.starts_with("error: INVALID_INPUT: The request is invalid. (ref ERR-"));
        assert!(quiet.contains("hint: fix the file"));
        assert!(!quiet.contains("line 3"));
        assert!(failure.render(true).contains("detail: line 3: bad field"));
        assert_eq!(failure.exit, EXIT_INVALID);
    }
}
