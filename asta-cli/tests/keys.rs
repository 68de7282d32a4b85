//! `asta keys` through the real binary: issue, list, rotate, revoke, the
//! TOTP gate on trade and admin keys, exit codes, and a canary: the printed
//! key never reaches the audit trail, the vault file or `list`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::path::Path;

use serde_json::Value;

mod support;
use support::{asta, asta_with_stdin, enrolled_secret, ok, text, totp_now};

/// A project made by `asta init`, with an enrolled operator TOTP.
fn project() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(asta(d, &["init"]));
    let secret = enrolled_secret(&ok(asta(d, &["totp", "enroll"])));
    (dir, secret)
}

/// The key in an `issue`/`rotate` text output.
fn printed_key(out: &str) -> String {
    out.split_whitespace()
        .find(|w| w.starts_with("asta_ck_"))
        .unwrap_or_else(|| panic!("no key in {out}"))
        .to_owned()
}

/// Every byte under `dir` (recursively), as lossy text.
fn all_text_under(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.push_str(&all_text_under(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn list_json(d: &Path) -> Vec<Value> {
    let out = asta(d, &["keys", "list", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn issue_list_rotate_revoke_and_the_key_is_shown_once() {
    let (dir, _) = project();
    let d = dir.path();
    let issue = ok(asta(
        d,
        &[
            "keys",
            "issue",
            "viewer",
            "--scope",
            "read",
            "--lifetime-days",
            "30",
        ],
    ));
    let key = printed_key(&issue);
    assert_eq!(key.len(), 60);
    assert!(issue.contains("will not be shown again"), "{issue}");

    let listed = ok(asta(d, &["keys", "list"]));
    assert!(
        listed.contains("viewer") && listed.contains("active"),
        "{listed}"
    );
    let rows = list_json(d);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "viewer");
    assert_eq!(rows[0]["scope"], "read");
    assert_eq!(rows[0]["state"], "active");
    assert_eq!(rows[0]["fingerprint"].as_str().unwrap().len(), 8);

    // Rotate: a different key, JSON output.
    let rotated = asta(d, &["keys", "rotate", "viewer", "--json"]);
    assert!(rotated.status.success(), "{}", text(&rotated));
    let rotated: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    let new_key = rotated["key"].as_str().unwrap().to_owned();
    assert!(new_key.starts_with("asta_ck_"));
    assert_ne!(new_key, key);
    assert_ne!(rotated["fingerprint"], rows[0]["fingerprint"]);

    // Revoke: protective, no TOTP; then final.
    ok(asta(d, &["keys", "revoke", "viewer"]));
    assert_eq!(list_json(d)[0]["state"], "revoked");
    let again = asta(d, &["keys", "rotate", "viewer"]);
    assert_eq!(again.status.code(), Some(4), "{}", text(&again));

    // Canary: neither key in the trail, the vault or list output.
    let listed = text(&asta(d, &["keys", "list"])) + &text(&asta(d, &["keys", "list", "--json"]));
    let files = all_text_under(d);
    for k in [&key, &new_key] {
        let body = k.trim_start_matches("asta_ck_");
        assert!(!listed.contains(body), "list shows a key");
        assert!(
            !files.contains(body),
            "a file under the project holds a key"
        );
    }
    // And the trail has the records, by name.
    let trail = all_text_under(&d.join("audit"));
    for action in [
        "client_key_issued",
        "client_key_rotated",
        "client_key_revoked",
    ] {
        assert!(trail.contains(action), "{action} missing");
    }
    assert!(trail.contains("viewer"));
    let verify = asta(d, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", text(&verify));
}

#[test]
fn issue_json_and_strategy_binding() {
    let (dir, _) = project();
    let d = dir.path();
    let out = asta(
        d,
        &[
            "keys",
            "issue",
            "tv",
            "--scope",
            "read",
            "--strategy",
            "momo_1",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "tv");
    assert_eq!(v["strategy"], "momo_1");
    assert!(v["key"].as_str().unwrap().starts_with("asta_ck_"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("will not be shown again"));
    assert_eq!(list_json(d)[0]["strategy"], "momo_1");
}

#[test]
fn failures_have_their_exit_codes() {
    let (dir, _) = project();
    let d = dir.path();
    ok(asta(d, &["keys", "issue", "bot", "--scope", "read"]));
    let dup = asta(d, &["keys", "issue", "bot", "--scope", "read"]);
    assert_eq!(dup.status.code(), Some(6), "{}", text(&dup));
    for missing in [
        vec!["keys", "rotate", "nobody"],
        vec!["keys", "revoke", "nobody"],
    ] {
        let out = asta(d, &missing);
        assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    }
    for bad in [
        vec!["keys", "issue", "Bad Name", "--scope", "read"],
        vec!["keys", "issue", "ok", "--scope", "write"],
        vec![
            "keys",
            "issue",
            "ok",
            "--scope",
            "read",
            "--lifetime-days",
            "0",
        ],
        vec![
            "keys",
            "issue",
            "ok",
            "--scope",
            "read",
            "--lifetime-days",
            "731",
        ],
        vec![
            "keys",
            "issue",
            "ok",
            "--scope",
            "read",
            "--strategy",
            "a b",
        ],
    ] {
        let out = asta(d, &bad);
        assert_eq!(out.status.code(), Some(3), "{bad:?}: {}", text(&out));
    }
    assert_eq!(list_json(d).len(), 1, "nothing else was stored");
}

#[test]
fn trade_and_admin_keys_need_the_operators_totp() {
    let (dir, secret) = project();
    let d = dir.path();
    // No code, then a wrong code: refused, nothing stored, recorded.
    let none = asta(d, &["keys", "issue", "bot", "--scope", "trade"]);
    assert_ne!(none.status.code(), Some(0), "{}", text(&none));
    let good = totp_now(&secret);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    let refused = asta_with_stdin(
        d,
        &["keys", "issue", "bot", "--scope", "trade"],
        &format!("{wrong}\n"),
    );
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused));
    assert!(!text(&refused).contains("asta_ck_"));
    assert!(list_json(d).is_empty(), "nothing stored");
    assert!(all_text_under(&d.join("audit")).contains("client_key_refused"));

    // The right code: issued.
    let issued = asta_with_stdin(
        d,
        &[
            "keys",
            "issue",
            "bot",
            "--scope",
            "trade",
            "--strategy",
            "scalper",
        ],
        &format!("{good}\n"),
    );
    assert!(issued.status.success(), "{}", text(&issued));
    let key = printed_key(&text(&issued));
    let rows = list_json(d);
    assert_eq!(rows[0]["scope"], "trade");
    assert_eq!(rows[0]["strategy"], "scalper");

    // The same code again (replay) cannot mint an admin key.
    let replay = asta_with_stdin(
        d,
        &["keys", "issue", "console", "--scope", "admin"],
        &format!("{good}\n"),
    );
    assert_eq!(replay.status.code(), Some(4), "{}", text(&replay));
    assert_eq!(list_json(d).len(), 1);

    let files = all_text_under(d);
    assert!(!files.contains(key.trim_start_matches("asta_ck_")));
}
