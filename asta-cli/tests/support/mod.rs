//! Running the real `asta` binary from the command tests.
#![allow(dead_code, reason = "each test binary uses part of the support code")]
#![allow(unreachable_pub, reason = "test support module")]
#![allow(
    clippy::unwrap_used,
    reason = "test support: a failed unwrap is a failed test"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `asta ARGS` in `dir` with `stdin` as its standard input.
pub fn asta_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asta"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `asta ARGS` in `dir` with an empty standard input.
pub fn asta(dir: &Path, args: &[&str]) -> Output {
    asta_with_stdin(dir, args, "")
}

/// Standard output then standard error, as text.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The base32 secret that `asta totp enroll` printed.
pub fn enrolled_secret(enroll: &str) -> String {
    enroll
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .to_owned()
}

/// The operator's TOTP code for now, from the enrolled `secret`.
pub fn totp_now(secret: &str) -> String {
    let totp = asta_vault::Totp::from_base32(
        &secrecy::SecretString::from(secret),
        asta_vault::TotpConfig::default(),
    )
    .unwrap();
    totp.code_at(chrono::Utc::now())
        .unwrap()
        .as_str()
        .to_owned()
}

/// The text of a run that must have succeeded.
pub fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    text(&output)
}
pub mod fake_openalgo;
pub mod serve;
