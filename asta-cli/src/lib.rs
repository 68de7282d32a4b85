//! The `asta` command line (work in progress: see the asta-cli issue).
//!
//! The binary will be a thin layer over the ASTA libraries: `asta demo`,
//! vault, audit, TOTP, risk, kill switch, `doctor` and sealed backups.
//!
//! It exposes no API yet.
