//! `asta demo`, `asta kill` and `asta risk` through the real binary.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use std::path::Path;
use std::process::{Command, Stdio};

use asta_vault::{Totp, TotpConfig};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

mod support;
use support::{asta_with_stdin as asta_in, text};

#[test]
fn demo_runs_the_whole_guarded_session_and_verifies_its_trail() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("demo");
    let out = asta_in(dir.path(), &["demo", "--dir", work.to_str().unwrap()], "");
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    for expected in [
        "FILLED",
        "OPEN",
        "not a multiple of tick size",
        "not a multiple of lot size",
        "collar",
        "position value in RELIANCE",
        "forbidden character",
        "RATE_LIMITED",
        "trading HALTED",
        "HALTED",
        "emergency stop",
        "cancelled 1 open order(s)",
        "P&L: realized -32000",
        "audit trail: OK",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    // The rate burst admits exactly eight orders in its second.
    assert_eq!(all.matches("RATE_LIMITED").count(), 2, "{all}");
    // The files are private and the trail verifies from the command line too.
    use std::os::unix::fs::PermissionsExt;
    for file in ["vault.asta", "keys/vault.key", "risk-state.json"] {
        let mode = std::fs::metadata(work.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let config = work.join("asta.toml");
    let config = config.to_str().unwrap();
    let verify = asta_in(dir.path(), &["--config", config, "audit", "verify"], "");
    assert!(verify.status.success(), "{}", text(&verify));
    // A second demo in the same directory refuses to clobber it: already
    // exists (6).
    let again = asta_in(dir.path(), &["demo", "--dir", work.to_str().unwrap()], "");
    assert_eq!(again.status.code(), Some(6));
}

#[test]
fn demo_without_a_directory_uses_a_fresh_temporary_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = asta_in(dir.path(), &["demo"], "");
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    let line = all
        .lines()
        .find(|l| l.starts_with("working directory: "))
        .unwrap();
    let work = Path::new(line.trim_start_matches("working directory: "));
    assert!(work.join("audit").is_dir());
    std::fs::remove_dir_all(work).unwrap();
}

const PROJECT: &str = "[risk]\ncapital = \"1000000\"\nmax_order_quantity = 100\nmax_order_notional = \"100000\"\nmax_gross_exposure = \"500000\"\n";

fn project() -> (tempfile::TempDir, SecretString) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("asta.toml"), PROJECT).unwrap();
    std::fs::write(
        d.join("instruments.csv"),
        "exchange,symbol,tick_size,lot_size,freeze_quantity,band_lower,band_upper\nNSE,SBIN,0.05,1,,,\n",
    )
    .unwrap();
    assert!(asta_in(d, &["vault", "init"], "").status.success());
    let init = asta_in(d, &["risk", "init"], "");
    assert!(init.status.success(), "{}", text(&init));
    let enroll = text(&asta_in(d, &["totp", "enroll"], ""));
    let secret = enroll
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .to_owned();
    (dir, SecretString::from(secret))
}

#[test]
fn kill_halts_durably_and_only_a_totp_reset_resumes() {
    let (dir, secret) = project();
    let d = dir.path();
    let status = text(&asta_in(d, &["risk", "status"], ""));
    assert!(status.starts_with("trading state: ACTIVE"), "{status}");

    let kill = asta_in(d, &["kill", "--reason", "test stop"], "");
    assert!(kill.status.success(), "{}", text(&kill));
    assert!(
        text(&kill).contains("HALTED (persisted)"),
        "{}",
        text(&kill)
    );
    // Idempotent: a second stop reports and stays halted.
    assert!(asta_in(d, &["kill"], "").status.success());
    let status = text(&asta_in(d, &["risk", "status", "--json"], ""));
    assert!(status.contains("HALTED"), "{status}");

    // A wrong code is refused and the state stays HALTED.
    let refused = asta_in(d, &["risk", "reset"], "000000\n");
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    assert!(text(&asta_in(d, &["risk", "status"], "")).starts_with("trading state: HALTED"));

    // The current code resets.
    let totp = Totp::from_base32(&secret, TotpConfig::default()).unwrap();
    let code = totp.code_at(Utc::now()).unwrap();
    let reset = asta_in(d, &["risk", "reset"], &format!("{}\n", code.as_str()));
    assert!(reset.status.success(), "{}", text(&reset));
    assert!(text(&asta_in(d, &["risk", "status"], "")).starts_with("trading state: ACTIVE"));
    // The same code cannot be used twice.
    assert!(asta_in(d, &["kill"], "").status.success());
    let replay = asta_in(d, &["risk", "reset"], &format!("{}\n", code.as_str()));
    assert_eq!(replay.status.code(), Some(4));

    // Everything is in the audit trail, which still verifies; the codes are not.
    let tail = text(&asta_in(d, &["audit", "tail", "-n", "100"], ""));
    for action in ["emergency_stop", "reset_refused", "trading_reset"] {
        assert!(tail.contains(action), "{action} missing: {tail}");
    }
    assert!(
        !tail.contains(code.as_str()),
        "a TOTP code reached the trail"
    );
    assert!(!text(&reset).contains(secret.expose_secret()));
    assert!(asta_in(d, &["audit", "verify"], "").status.success());
}

#[test]
fn kill_json_without_a_session_acts_directly_and_prints_one_object() {
    let (dir, _) = project();
    let d = dir.path();
    let kill = asta_in(d, &["kill", "--json", "--reason", "json stop"], "");
    assert_eq!(kill.status.code(), Some(0), "{}", text(&kill));
    // Nothing but the JSON object on standard output.
    let report: serde_json::Value =
        serde_json::from_slice(&kill.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&kill)));
    assert_eq!(report["path"], "direct", "{report}");
    assert_eq!(report["confirmed"], true, "{report}");
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(report["halted"], true, "{report}");
    assert_eq!(report["halt_persisted"], true, "{report}");
    // Sandbox: no session runs, so no order exists to cancel.
    assert_eq!(report["cancelled"], serde_json::json!([]), "{report}");
    assert_eq!(report["failures"], serde_json::json!([]), "{report}");
    assert_eq!(report["exit"], serde_json::json!(0), "{report}");
    assert!(report["unreachable"].is_string(), "{report}");
    let status = text(&asta_in(d, &["risk", "status"], ""));
    assert!(status.starts_with("trading state: HALTED"), "{status}");

    // A flatten with a wrong code: halted, positions not closed; the object
    // says so and the exit code is 4, as without --json.
    let flatten = asta_in(d, &["kill", "--json", "--flatten"], "917253\n");
    assert_eq!(flatten.status.code(), Some(4), "{}", text(&flatten));
    let report: serde_json::Value = serde_json::from_slice(&flatten.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&flatten)));
    assert_eq!(report["path"], "direct", "{report}");
    assert_eq!(report["halted"], true, "{report}");
    assert_eq!(report["complete"], false, "{report}");
    assert_eq!(report["exit"], serde_json::json!(4), "{report}");
    assert!(
        String::from_utf8_lossy(&flatten.stderr).contains("error:"),
        "{}",
        text(&flatten)
    );
    assert!(!text(&flatten).contains("917253"), "{}", text(&flatten));
    assert!(asta_in(d, &["audit", "verify"], "").status.success());
}

#[test]
fn a_missing_risk_state_is_never_a_fresh_start() {
    let (dir, _) = project();
    let d = dir.path();
    assert!(asta_in(d, &["kill"], "").status.success());
    // Deleting the state does not un-halt: every risk command refuses until
    // an explicit, audited `risk init`.
    std::fs::remove_file(d.join("risk-state.json")).unwrap();
    // Not found (7): nothing is opened, trading stays refused.
    let status = asta_in(d, &["risk", "status"], "");
    assert_eq!(status.status.code(), Some(7), "{}", text(&status));
    assert!(
        text(&status).contains("asta risk init"),
        "{}",
        text(&status)
    );
    assert_ne!(asta_in(d, &["kill"], "").status.code(), Some(0));
    // init refuses to replace an existing state.
    assert!(asta_in(d, &["risk", "init"], "").status.success());
    assert_eq!(asta_in(d, &["risk", "init"], "").status.code(), Some(6));
    let tail = text(&asta_in(d, &["audit", "tail", "-n", "200"], ""));
    assert_eq!(tail.matches("risk_state_created").count(), 2, "{tail}");
}

#[test]
fn risk_commands_need_risk_limits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(asta_in(d, &["vault", "init"], "").status.success());
    let out = asta_in(d, &["risk", "status"], "");
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("[risk]"), "{}", text(&out));
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    let (dir, _) = project();
    let mut child = Command::new(env!("CARGO_BIN_EXE_asta"))
        .current_dir(dir.path())
        .args(["risk", "status", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn totp_verify_accepts_the_current_code_once() {
    let (dir, secret) = project();
    let d = dir.path();
    let totp = Totp::from_base32(&secret, TotpConfig::default()).unwrap();
    let code = totp.code_at(Utc::now()).unwrap();
    let ok = asta_in(d, &["totp", "verify"], &format!("{}\n", code.as_str()));
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).starts_with("OK"));
    let replay = asta_in(d, &["totp", "verify"], &format!("{}\n", code.as_str()));
    assert_eq!(replay.status.code(), Some(1), "a code is accepted once");
}
