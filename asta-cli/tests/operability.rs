//! Issue 15 through the real binary: bounded buffers, exit codes, records of
//! every action, first-run set-up.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn asta_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
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

fn asta(dir: &Path, args: &[&str]) -> Output {
    asta_with_stdin(dir, args, "")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", text(&output));
    text(&output)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(asta(dir.path(), &["vault", "init"]));
    dir
}

#[test]
fn audit_tail_with_a_huge_count_shows_what_exists() {
    let dir = project();
    let d = dir.path();
    ok(asta_with_stdin(d, &["vault", "set", "a.b"], "value\n"));
    let tail = asta(d, &["audit", "tail", "-n", "18446744073709551615"]);
    assert_eq!(tail.status.code(), Some(0), "{}", text(&tail));
    assert!(!String::from_utf8_lossy(&tail.stdout).is_empty());
}

const CANARY: &str = "CANARY-9b2e-operability-secret";

/// The trail as JSON values, through `asta audit export`.
fn trail(d: &Path) -> Vec<serde_json::Value> {
    let out = asta(d, &["audit", "export"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn audit_verify_right_after_vault_init_passes() {
    let dir = project();
    let verify = asta(dir.path(), &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(
        text(&verify).starts_with("OK: 1 records"),
        "{}",
        text(&verify)
    );
}

#[test]
fn every_vault_totp_and_backup_action_and_refusal_is_recorded_without_values() {
    let dir = project();
    let d = dir.path();
    ok(asta_with_stdin(
        d,
        &["vault", "set", "broker.password"],
        &format!("{CANARY}\n"),
    ));
    let refused = asta(d, &["vault", "get", "broker.password"]);
    assert_eq!(refused.status.code(), Some(4));
    let revealed = asta(d, &["vault", "get", "broker.password", "--reveal"]);
    assert!(String::from_utf8_lossy(&revealed.stdout).contains(CANARY));
    ok(asta_with_stdin(
        d,
        &["vault", "rotate", "broker.password"],
        &format!("{CANARY}-2\n"),
    ));
    ok(asta(d, &["vault", "list"]));
    ok(asta(d, &["vault", "rekey"]));
    ok(asta(d, &["totp", "enroll"]));
    let bad_code = asta_with_stdin(d, &["totp", "verify"], "000000\n");
    assert_ne!(bad_code.status.code(), Some(0));
    ok(asta(d, &["backup", "create"]));
    ok(asta(d, &["vault", "rm", "broker.password"]));

    let records = trail(d);
    let actions = actions(&records);
    for expected in [
        "cli.vault.init",
        "cli.vault.set",
        "cli.vault.get.failed",
        "cli.vault.get",
        "cli.vault.rotate",
        "cli.vault.list",
        "cli.vault.rekey",
        "cli.totp.enroll",
        "cli.backup.create",
        "cli.vault.rm",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected} missing from {actions:?}"
        );
    }
    assert!(
        actions.iter().any(|a| a.starts_with("cli.totp.verify")),
        "{actions:?}"
    );
    let reveal = records
        .iter()
        .find(|r| r["action"] == "cli.vault.get")
        .unwrap();
    assert_eq!(reveal["category"], "SECURITY");
    assert_eq!(reveal["details"]["entry"], "broker.password");
    assert_eq!(reveal["details"]["reveal"], true);
    let refusal = records
        .iter()
        .find(|r| r["action"] == "cli.vault.get.failed")
        .unwrap();
    assert_eq!(refusal["category"], "ERROR");
    assert_eq!(refusal["details"]["code"], "PERMISSION_DENIED");
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains(CANARY), "a value reached the trail");
}

#[test]
fn a_failure_reference_is_recorded_with_its_detail() {
    let dir = project();
    let d = dir.path();
    let failed = asta(d, &["vault", "get", "no.such.entry", "--reveal"]);
    assert_ne!(failed.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&failed.stderr).into_owned();
    let reference = stderr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("ERR-"))
        .unwrap_or_else(|| panic!("no reference in {stderr}"))
        .to_owned();
    assert!(
        stderr.contains("the detail is in the audit trail"),
        "{stderr}"
    );
    let records = trail(d);
    let record = records
        .iter()
        .find(|r| r["reference"] == reference.as_str())
        .unwrap_or_else(|| panic!("{reference} is not in the trail"));
    assert_eq!(record["category"], "ERROR");
    assert!(
        record["details"]["detail"]
            .as_str()
            .unwrap()
            .contains("no.such.entry"),
        "{record}"
    );
}

#[test]
fn backup_verify_says_what_it_needs() {
    let dir = project();
    let d = dir.path();
    // A missing file is an input error (3), not an internal one.
    let missing = asta(d, &["backup", "verify", "backups/nothing.sealed"]);
    assert_eq!(missing.status.code(), Some(3), "{}", text(&missing));
    // A passphrase backup verified without --passphrase: it says so, and
    // does not call the backup FAILED.
    let mut child = Command::new(env!("CARGO_BIN_EXE_asta"))
        .current_dir(d)
        .args(["backup", "create", "--passphrase"])
        .env("ASTA_BACKUP_PASSPHRASE", "a long enough backup passphrase")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let backup = std::fs::read_dir(d.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sealed"))
        .unwrap();
    let verify = asta(d, &["backup", "verify", &backup.to_string_lossy()]);
    let out = text(&verify);
    assert_eq!(verify.status.code(), Some(3), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
    assert!(out.contains("sealed with a passphrase"), "{out}");
    assert!(out.contains("--passphrase"), "{out}");
}

#[test]
fn configuration_errors_show_file_line_column_and_expectation_without_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("asta.toml"),
        "[trading]\nmode = \"sandbox\"\nallow_live_trade = true\n",
    )
    .unwrap();
    let out = asta(d, &["vault", "list"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("asta.toml"), "{err}");
    assert!(err.contains("line 3, column 1"), "{err}");
    assert!(err.contains("allow_live_trade"), "{err}");
    assert!(err.contains("expected"), "{err}");
    // A secret typed into a misspelled field is not echoed back.
    std::fs::write(
        d.join("asta.toml"),
        "[broker]\napikey = \"CANARY-typed-into-the-wrong-field\"\n",
    )
    .unwrap();
    let out = asta(d, &["vault", "list"]);
    let all = text(&out);
    assert!(all.contains("line 2"), "{all}");
    assert!(!all.contains("CANARY-typed"), "{all}");
}
