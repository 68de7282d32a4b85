//! Issue 15 through the real binary: bounded buffers, exit codes, records of
//! every action, first-run set-up.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use std::path::Path;
use std::process::{Command, Stdio};

mod support;
use support::{asta, asta_with_stdin, ok, text};

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
    // A missing file is "not found" (7), not an internal error (5).
    let missing = asta(d, &["backup", "verify", "backups/nothing.sealed"]);
    assert_eq!(missing.status.code(), Some(7), "{}", text(&missing));
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

fn count_records(d: &Path) -> usize {
    trail(d).len()
}

fn newest_backup(d: &Path) -> String {
    let mut found: Vec<_> = std::fs::read_dir(d.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sealed"))
        .collect();
    found.sort();
    found.pop().unwrap().to_string_lossy().into_owned()
}

#[test]
fn backups_hold_risk_state_config_instruments_and_calendar() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = "[paths]\ncalendar = \"calendar.json\"\n";
    std::fs::write(d.join("asta.toml"), config).unwrap();
    let files = [
        ("risk-state.json", "risk state bytes\n"),
        (
            "instruments.csv",
            "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\nNSE,SBIN,0.05,1,,,\n",
        ),
        ("calendar.json", "{\"calendar\": true}\n"),
    ];
    for (name, content) in files {
        std::fs::write(d.join(name), content).unwrap();
    }
    ok(asta(d, &["vault", "init"]));
    ok(asta(d, &["backup", "create"]));
    let backup = newest_backup(d);
    let verified = ok(asta(d, &["backup", "verify", &backup]));
    for name in [
        "risk-state.json",
        "instruments.csv",
        "calendar.json",
        "asta.toml",
    ] {
        assert!(verified.contains(name), "{name} missing: {verified}");
    }
    for (name, _) in files {
        std::fs::remove_file(d.join(name)).unwrap();
    }
    // An edited configuration (the restore takes its places from the
    // present configuration, so it still names the calendar).
    std::fs::write(d.join("asta.toml"), format!("{config}# edited\n")).unwrap();
    // The audit trail is gone too (a lost disk): it extends nothing, so the
    // restore may bring it back.
    std::fs::remove_dir_all(d.join("audit")).unwrap();
    ok(asta(d, &["backup", "restore", &backup, "--force"]));
    for (name, content) in files {
        assert_eq!(std::fs::read_to_string(d.join(name)).unwrap(), content);
    }
    assert_eq!(
        std::fs::read_to_string(d.join("asta.toml")).unwrap(),
        config
    );
    ok(asta(d, &["audit", "verify"]));
}

#[test]
fn a_restore_never_shortens_the_trail_without_replace_and_then_keeps_it_aside() {
    let dir = project();
    let d = dir.path();
    ok(asta(d, &["backup", "create"]));
    let backup = newest_backup(d);
    for i in 0..5 {
        ok(asta_with_stdin(
            d,
            &["vault", "set", &format!("later.{i}")],
            "v\n",
        ));
    }
    let before = count_records(d);

    let refused = asta(d, &["backup", "restore", &backup, "--force"]);
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    assert!(text(&refused).contains("--replace-audit-trail"));
    // Nothing was lost: the trail only grew (by the export and the refusal).
    let after_refusal = trail(d);
    assert!(after_refusal.len() > before);
    assert!(actions(&after_refusal).contains(&"cli.vault.set".to_owned()));

    let replaced = ok(asta(
        d,
        &[
            "backup",
            "restore",
            &backup,
            "--force",
            "--replace-audit-trail",
        ],
    ));
    assert!(
        replaced.contains("previous audit trail is kept in"),
        "{replaced}"
    );
    let kept: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("audit.replaced-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    // The kept trail is whole: it still verifies as a trail of its own.
    let kept_text: String = std::fs::read_dir(d.join(&kept[0]))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(kept_text.contains("later.4"), "the newest record is kept");
    // The restored trail verifies and says what happened.
    ok(asta(d, &["audit", "verify"]));
    let records = trail(d);
    assert!(
        actions(&records).contains(&"backup_restore_replaced_audit_trail".to_owned()),
        "{:?}",
        actions(&records)
    );
}

#[test]
fn exit_codes_have_one_meaning_across_commands_and_help_shows_them() {
    let help = ok(asta(Path::new("."), &["--help"]));
    for line in [
        "Exit codes:",
        "3  invalid input or configuration",
        "4  refused",
        "6  already exists",
        "7  not found",
    ] {
        assert!(help.contains(line), "{line} missing from --help:\n{help}");
    }
    for (code, meaning) in asta_cli::failure::EXIT_CODES {
        assert!(
            help.contains(&format!("{code}  {meaning}")),
            "{code} {meaning} differs in --help"
        );
    }

    let dir = project();
    let d = dir.path();
    // Already exists: 6, whatever the command.
    assert_eq!(asta(d, &["vault", "init"]).status.code(), Some(6));
    ok(asta(d, &["totp", "enroll"]));
    assert_eq!(asta(d, &["totp", "enroll"]).status.code(), Some(6));
    ok(asta_with_stdin(d, &["vault", "set", "a.b"], "v\n"));
    let out = d.join("x.jsonl").to_string_lossy().into_owned();
    ok(asta(d, &["audit", "export", "--out", &out]));
    assert_eq!(
        asta(d, &["audit", "export", "--out", &out]).status.code(),
        Some(6)
    );
    // Not found: 7.
    assert_eq!(
        asta(d, &["vault", "get", "no.such", "--reveal"])
            .status
            .code(),
        Some(7)
    );
    assert_eq!(asta(d, &["vault", "rm", "no.such"]).status.code(), Some(7));
    assert_eq!(
        asta(d, &["backup", "verify", "no-such.sealed"])
            .status
            .code(),
        Some(7)
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        asta(empty.path(), &["vault", "list"]).status.code(),
        Some(7)
    );
    // Refused: 4. Input: 3.
    assert_eq!(asta(d, &["vault", "get", "a.b"]).status.code(), Some(4));
    assert_eq!(
        asta(d, &["audit", "verify", "--checkpoint", "nonsense"])
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn risk_reset_with_a_wrong_code_is_not_an_order_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("asta.toml"),
        "[risk]\ncapital = \"1000000\"\nmax_order_quantity = 100\nmax_order_notional = \"100000\"\nmax_gross_exposure = \"500000\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("instruments.csv"),
        "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\nNSE,SBIN,0.05,1,,,\n",
    )
    .unwrap();
    ok(asta(d, &["vault", "init"]));
    ok(asta(d, &["totp", "enroll"]));
    ok(asta(d, &["risk", "init"]));
    let reset = asta_with_stdin(d, &["risk", "reset"], "000000\n");
    let out = text(&reset);
    assert_ne!(reset.status.code(), Some(0), "{out}");
    assert!(!out.contains("RISK_REJECTED"), "{out}");
    assert!(!out.contains("order was rejected"), "{out}");
}

#[test]
fn init_sets_up_a_project_that_works_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("project");
    let arg = d.to_string_lossy().into_owned();
    ok(asta(tmp.path(), &["init", &arg]));
    let mode = |p: &str| std::fs::metadata(d.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("vault.asta"), 0o600);
    assert_eq!(mode("keys/vault.key"), 0o600);
    assert_eq!(mode("keys"), 0o700);
    assert_eq!(mode("audit"), 0o700);
    for file in [
        "asta.toml",
        "instruments.csv",
        "risk-state.json",
        "docs/incident-response.md",
        ".gitignore",
    ] {
        assert!(d.join(file).is_file(), "{file} missing");
    }
    let config = std::fs::read_to_string(d.join("asta.toml")).unwrap();
    assert!(config.contains("mode = \"sandbox\""));
    assert!(config.contains("allow_live_trading = false"));
    assert!(
        config.lines().any(|l| l.trim_start().starts_with('#')),
        "commented"
    );
    // The pieces work together from inside the project.
    let verify = ok(asta(&d, &["audit", "verify"]));
    assert!(verify.starts_with("OK: "), "{verify}");
    let records = trail(&d);
    let actions = actions(&records);
    assert!(
        actions.contains(&"risk_state_created".to_owned()),
        "{actions:?}"
    );
    assert!(actions.contains(&"cli.init".to_owned()), "{actions:?}");
    ok(asta(&d, &["risk", "status"]));
    let doctor = asta(&d, &["doctor", "--json", "."]);
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let incident = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "incident-response")
        .unwrap();
    assert_eq!(incident["status"], "PASS", "{incident}");

    // A second init writes nothing and says what exists (exit 6).
    let before = std::fs::read(d.join("asta.toml")).unwrap();
    let again = asta(tmp.path(), &["init", &arg]);
    assert_eq!(again.status.code(), Some(6), "{}", text(&again));
    assert_eq!(std::fs::read(d.join("asta.toml")).unwrap(), before);
    // Any one existing file is enough to refuse, before anything is written.
    let partial = tmp.path().join("partial");
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join("instruments.csv"), "mine\n").unwrap();
    let refused = asta(tmp.path(), &["init", &partial.to_string_lossy()]);
    assert_eq!(refused.status.code(), Some(6));
    assert!(!partial.join("asta.toml").exists());
    assert_eq!(
        std::fs::read_to_string(partial.join("instruments.csv")).unwrap(),
        "mine\n"
    );
}

#[test]
fn commands_that_read_state_speak_json() {
    let dir = project();
    let d = dir.path();
    ok(asta_with_stdin(
        d,
        &["vault", "set", "broker.password"],
        &format!("{CANARY}\n"),
    ));
    ok(asta(d, &["backup", "create"]));
    let backup = newest_backup(d);
    let parse = |args: &[&str]| -> serde_json::Value {
        let out = asta(d, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains(CANARY), "{args:?} leaked");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}): {}", text(&out)))
    };
    let list = parse(&["vault", "list", "--json"]);
    assert!(
        list["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "broker.password" && e["kind"] == "secret")
    );
    let status = parse(&["vault", "status", "--json"]);
    assert!(status["entries"].is_array());
    let verify = parse(&["audit", "verify", "--json"]);
    assert_eq!(verify["status"], "OK");
    assert!(verify["records"].as_u64().unwrap() >= 3);
    let tail = parse(&["audit", "tail", "-n", "2", "--json"]);
    assert_eq!(tail.as_array().unwrap().len(), 2);
    let checkpoint = parse(&["audit", "checkpoint", "--json"]);
    assert!(
        checkpoint["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("asta-audit-checkpoint v1")
    );
    let backup_verify = parse(&["backup", "verify", &backup, "--json"]);
    assert_eq!(backup_verify["status"], "OK");
    assert!(backup_verify["entries"].as_array().unwrap().len() >= 2);
}

#[test]
fn calendar_import_writes_a_new_calendar_that_doctor_and_the_config_use() {
    let dir = project();
    let d = dir.path();
    std::fs::write(
        d.join("holidays.csv"),
        "date,name,exchanges\n2027-01-26,Republic Day,NSE BSE NFO BFO CDS BCD\n",
    )
    .unwrap();
    ok(asta(
        d,
        &[
            "calendar",
            "import",
            "--holidays",
            "holidays.csv",
            "--out",
            "calendar-2027.json",
        ],
    ));
    let written = std::fs::read_to_string(d.join("calendar-2027.json")).unwrap();
    assert!(written.contains("\"2027-12-31\""), "{written}");
    // Never over an existing file, never through a link.
    let again = asta(
        d,
        &[
            "calendar",
            "import",
            "--holidays",
            "holidays.csv",
            "--out",
            "calendar-2027.json",
        ],
    );
    assert_eq!(again.status.code(), Some(6), "{}", text(&again));
    std::os::unix::fs::symlink(d.join("elsewhere.json"), d.join("link.json")).unwrap();
    let linked = asta(
        d,
        &[
            "calendar",
            "import",
            "--holidays",
            "holidays.csv",
            "--out",
            "link.json",
        ],
    );
    assert_ne!(linked.status.code(), Some(0));
    assert!(!d.join("elsewhere.json").exists());
    // A bad list names its line; a missing one is not found.
    std::fs::write(d.join("bad.csv"), "date,name,exchanges\n2027-02-30,X,NSE\n").unwrap();
    let bad = asta(
        d,
        &[
            "calendar",
            "import",
            "--holidays",
            "bad.csv",
            "--out",
            "x.json",
        ],
    );
    assert_eq!(bad.status.code(), Some(3));
    assert!(text(&bad).contains("line 2"), "{}", text(&bad));
    let missing = asta(
        d,
        &[
            "calendar",
            "import",
            "--holidays",
            "nope.csv",
            "--out",
            "y.json",
        ],
    );
    assert_eq!(missing.status.code(), Some(7));
    // The configuration loads it, and doctor reads its range.
    std::fs::write(
        d.join("asta.toml"),
        "[paths]\ncalendar = \"calendar-2027.json\"\n",
    )
    .unwrap();
    let doctor = asta(d, &["doctor", "--json", "."]);
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let calendar = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "calendar")
        .unwrap();
    assert!(
        calendar["detail"].as_str().unwrap().contains("2027-12-31"),
        "{calendar}"
    );
}

#[test]
fn demo_dir_never_writes_through_a_link_or_over_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("demo");
    std::fs::create_dir(&d).unwrap();
    let target = tmp.path().join("precious.txt");
    std::fs::write(&target, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&target, d.join("asta.toml")).unwrap();
    let out = asta(tmp.path(), &["demo", "--dir", &d.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
}

#[test]
fn a_command_run_while_a_session_holds_the_trail_is_recorded_in_the_control_trail() {
    use std::sync::Arc;

    use asta_audit::{AuditConfig, AuditLog, ChainKey, read_records};
    use asta_core::SystemClock;

    let dir = project();
    let d = dir.path();
    let out = asta(d, &["vault", "get", "audit.chain_key", "--reveal"]);
    let key = ChainKey::from_base64(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    // A "session" holding the main trail (its lock) while a command runs.
    let held = AuditLog::open(
        d.join("audit"),
        key.clone(),
        AuditConfig::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let listed = asta(d, &["vault", "list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    held.close().unwrap();
    drop(held);
    let control: Vec<String> = read_records(&d.join("audit-control"), &key)
        .unwrap()
        .map(|r| r.unwrap().action)
        .collect();
    assert!(
        control.iter().any(|a| a == "cli.vault.list"),
        "not in the control trail: {control:?}"
    );
    assert!(!actions(&trail(d)).contains(&"cli.vault.list".to_owned()));
}
