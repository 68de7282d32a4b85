//! `asta doctor` through the real binary: a prepared good directory passes,
//! and each bad directory fails exactly the check it breaks.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

const GOOD_GITIGNORE: &str = ".env\n.env.*\n*.key\n*.pem\nkeys/\nconfig/credentials.*\nlogs/\n*.log\n*.db\n*.sqlite\n*.duckdb\nbackups/\n*.bak\ntarget/\n*.asta\n*.lock\naudit/\n";

fn asta(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_asta"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A project directory that passes every check: ignored secrets, a git
/// repository with nothing secret tracked, a vault with a TOTP secret, a
/// fresh backup that verifies.
fn good_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join(".gitignore"), GOOD_GITIGNORE).unwrap();
    std::fs::write(
        d.join("asta.toml"),
        "[paths]\ncalendar = \"calendar.json\"\n[trading]\nmode = \"sandbox\"\n",
    )
    .unwrap();
    // A calendar that covers the coming year, whenever the test runs (the
    // built-in data ends on a fixed date; doctor warns 30 days before it).
    let today = chrono::Utc::now().date_naive();
    let until = today + chrono::TimeDelta::days(400);
    std::fs::write(
        d.join("calendar.json"),
        format!(
            r#"{{"format": 1, "version": "test", "covers": {{"from": "{}", "to": "{until}"}},
                "sessions": {{"NSE": {{"open": "09:15", "close": "15:30", "mis_cutoff": "15:15"}}}}}}"#,
            today - chrono::TimeDelta::days(30)
        ),
    )
    .unwrap();
    std::fs::create_dir(d.join("docs")).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/docs/incident-response.md"),
        d.join("docs/incident-response.md"),
    )
    .unwrap();
    for args in [
        &["vault", "init"][..],
        &["totp", "enroll"],
        &["backup", "create"],
    ] {
        let out = asta(d, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The maintenance routines, done today: the trail verified, a backup tested.
    let backup = std::fs::read_dir(d.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "sealed"))
        .unwrap();
    for args in [
        &["audit", "verify"][..],
        &["backup", "verify", &backup.to_string_lossy()],
    ] {
        let out = asta(d, args);
        assert!(out.status.success(), "{args:?}");
    }
    git(d, &["init", "-q"]);
    git(d, &["add", ".gitignore", "asta.toml", "calendar.json"]);
    git(d, &["commit", "-q", "-m", "init"]);
    dir
}

fn doctor(dir: &Path) -> (i32, serde_json::Value) {
    let output = asta(dir, &["doctor", "--json", "."]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code().unwrap(), json)
}

fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

fn failing(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_good_directory_passes_every_check() {
    let dir = good_dir();
    let (code, report) = doctor(dir.path());
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["status"], "PASS", "{check:#}");
    }
    assert_eq!(code, 0);
    assert_eq!(report["checks"].as_array().unwrap().len(), 14);
}

#[test]
fn the_maintenance_schedule_is_reported_from_the_trail() {
    let dir = good_dir();
    let (_, report) = doctor(dir.path());
    for id in ["trail-review", "backup-test", "key-rotation"] {
        assert_eq!(check(&report, id)["status"], "PASS", "{id}");
    }
    assert!(
        check(&report, "trail-review")["detail"]
            .as_str()
            .unwrap()
            .contains("last done"),
    );
    // A project where nothing was ever verified: WARN, not FAIL.
    let fresh = tempfile::tempdir().unwrap();
    let out = asta(fresh.path(), &["vault", "init"]);
    assert!(out.status.success());
    let (_, report) = doctor(fresh.path());
    for id in ["trail-review", "backup-test"] {
        let c = check(&report, id);
        assert_eq!(c["status"], "WARN", "{c}");
        assert!(c["detail"].as_str().unwrap().contains("never"), "{c}");
    }
    // No incident response plan next to the configuration: FAIL.
    assert_eq!(check(&report, "incident-response")["status"], "FAIL");
}

#[test]
fn each_bad_directory_fails_its_own_check() {
    type Spoil = fn(&Path);
    let cases: Vec<(&str, Spoil)> = vec![
        ("gitignore", |d| {
            std::fs::write(
                d.join(".gitignore"),
                "target/\n*.asta\n*.lock\naudit/\nkeys/\nbackups/\n",
            )
            .unwrap()
        }),
        ("tracked-secrets", |d| {
            std::fs::write(
                d.join("settings.py"),
                "DB = 'x'\npassword = \"CANARY-tracked-hunter2\"\n",
            )
            .unwrap();
            git(d, &["add", "settings.py"]);
            git(d, &["commit", "-q", "-m", "oops"]);
        }),
        ("permissions", |d| {
            let env = d.join(".env");
            std::fs::write(&env, "X=1\n").unwrap();
            set_mode(&env, 0o644);
        }),
        ("permissions", |d| set_mode(&d.join("keys"), 0o755)),
        ("network", |d| {
            std::fs::write(
                d.join("asta.toml"),
                "[security]\nbind_addresses = [\"0.0.0.0:8080\"]\n",
            )
            .unwrap();
        }),
        ("network", |d| {
            std::fs::write(
                d.join("asta.toml"),
                "[broker]\nurl = \"http://203.0.113.9:5000\"\n",
            )
            .unwrap();
        }),
        ("audit-retention", |d| {
            std::fs::write(d.join("asta.toml"), "[audit]\nretention_days = 365\n").unwrap();
        }),
        ("totp", |d| {
            let out = asta(d, &["vault", "rm", "totp.operator"]);
            assert!(out.status.success());
        }),
        ("backup", |d| {
            std::fs::remove_dir_all(d.join("backups")).unwrap()
        }),
        ("backup", |d| {
            // A backup older than the 24-hour limit.
            for entry in std::fs::read_dir(d.join("backups")).unwrap() {
                let path = entry.unwrap().path();
                std::fs::rename(
                    &path,
                    d.join("backups/asta-backup-20200101T000000000Z.sealed"),
                )
                .unwrap();
            }
        }),
        ("backup", |d| {
            // A backup that has been tampered with.
            for entry in std::fs::read_dir(d.join("backups")).unwrap() {
                let path = entry.unwrap().path();
                let mut bytes = std::fs::read(&path).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x40;
                std::fs::write(&path, bytes).unwrap();
            }
        }),
        ("api-keys", |d| {
            let mut child = Command::new(env!("CARGO_BIN_EXE_asta"))
                .current_dir(d)
                .args([
                    "vault",
                    "set",
                    "openalgo.api_key",
                    "--api-key",
                    "--scope",
                    "trade",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"CANARY-api-key\n")
                .unwrap();
            assert!(child.wait().unwrap().success());
            // Every key is older than zero days.
            std::fs::write(
                d.join("asta.toml"),
                "[security]\napi_key_max_age_days = 0\n",
            )
            .unwrap();
        }),
    ];
    for (expected, spoil) in cases {
        let dir = good_dir();
        spoil(dir.path());
        let (code, report) = doctor(dir.path());
        assert_eq!(failing(&report), vec![expected.to_owned()], "{report:#}");
        assert_eq!(code, 1, "{expected}");
        let fix = check(&report, expected)["fix"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!fix.is_empty(), "{expected} has a fix");
        let text = report.to_string();
        assert!(!text.contains("CANARY"), "doctor printed a secret: {text}");
    }
}

#[test]
fn live_trading_enabled_is_a_warning() {
    let dir = good_dir();
    std::fs::write(
        dir.path().join("asta.toml"),
        "[trading]\nmode = \"live\"\nallow_live_trading = true\n",
    )
    .unwrap();
    let (code, report) = doctor(dir.path());
    assert_eq!(check(&report, "live-trading")["status"], "WARN");
    assert_eq!(code, 0);
}

#[test]
fn the_table_output_names_failures_and_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let out = asta(dir.path(), &["doctor", "."]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("gitignore"), "{stdout}");
    assert!(stdout.contains("check(s) failed"), "{stdout}");
}

#[test]
fn a_bad_configuration_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("asta.toml"),
        "[trading]\nallow_live_trade = true\n",
    )
    .unwrap();
    let out = asta(dir.path(), &["doctor", "."]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INVALID_INPUT"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}
