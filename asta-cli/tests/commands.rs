//! The vault, totp, audit and backup commands through the real binary:
//! success paths, documented failures, and a canary secret that never
//! reaches standard output or standard error unless explicitly revealed.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on a bad fixture")]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use asta_audit::{AuditConfig, AuditEvent, AuditLog, ChainKey};
use asta_core::SystemClock;

mod support;
use support::{asta, asta_with_stdin, ok, text};

const CANARY: &str = "CANARY-7d1f-s3cret-value";

fn no_canary(output: &Output) {
    let all = text(output);
    assert!(!all.contains(CANARY), "the secret leaked: {all}");
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(asta(dir.path(), &["vault", "init"]));
    dir
}

#[test]
fn vault_round_trip_never_prints_a_secret_unasked() {
    let dir = project();
    let d = dir.path();
    let set = asta_with_stdin(
        d,
        &["vault", "set", "shoonya.password"],
        &format!("{CANARY}\n"),
    );
    no_canary(&set);
    assert!(set.status.success(), "{}", text(&set));

    for args in [
        &["vault", "list"][..],
        &["vault", "status"],
        &["vault", "get", "shoonya.password"],
        &["--verbose", "vault", "get", "shoonya.password"],
        &["--verbose", "vault", "get", "missing.entry", "--reveal"],
    ] {
        let out = asta(d, args);
        no_canary(&out);
    }
    // Without --reveal: refused, exit 4.
    assert_eq!(
        asta(d, &["vault", "get", "shoonya.password"]).status.code(),
        Some(4)
    );
    // With it: exactly the secret.
    let revealed = asta(d, &["vault", "get", "shoonya.password", "--reveal"]);
    assert_eq!(
        String::from_utf8_lossy(&revealed.stdout),
        format!("{CANARY}\n")
    );

    let rotated = asta_with_stdin(
        d,
        &["vault", "rotate", "shoonya.password"],
        "second-value\n",
    );
    assert!(text(&rotated).contains("version 2"), "{}", text(&rotated));
    no_canary(&rotated);
    ok(asta(d, &["vault", "rekey"]));
    let after = asta(d, &["vault", "get", "shoonya.password", "--reveal"]);
    assert_eq!(String::from_utf8_lossy(&after.stdout), "second-value\n");
    ok(asta(d, &["vault", "rm", "shoonya.password"]));
    assert_eq!(
        asta(d, &["vault", "get", "shoonya.password", "--reveal"])
            .status
            .code(),
        Some(7)
    );
}

#[test]
fn api_keys_need_a_scope_and_show_in_status() {
    let dir = project();
    let d = dir.path();
    let no_scope = asta_with_stdin(
        d,
        &["vault", "set", "openalgo.api_key", "--api-key"],
        &format!("{CANARY}\n"),
    );
    assert_eq!(no_scope.status.code(), Some(3));
    no_canary(&no_scope);
    ok(asta_with_stdin(
        d,
        &[
            "vault",
            "set",
            "openalgo.api_key",
            "--api-key",
            "--scope",
            "trade",
            "--lifetime-days",
            "5",
        ],
        &format!("{CANARY}\n"),
    ));
    let status = asta(d, &["vault", "status"]);
    no_canary(&status);
    assert!(text(&status).contains("EXPIRING"), "{}", text(&status));
    assert_eq!(
        asta(d, &["vault", "get", "openalgo.api_key", "--reveal"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        asta(
            d,
            &[
                "vault",
                "get",
                "openalgo.api_key",
                "--reveal",
                "--scope",
                "admin"
            ]
        )
        .status
        .code(),
        Some(4)
    );
    let key = asta(
        d,
        &[
            "vault",
            "get",
            "openalgo.api_key",
            "--reveal",
            "--scope",
            "trade",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&key.stdout), format!("{CANARY}\n"));
}

#[test]
fn vault_failures_are_typed_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No vault yet: not found (7).
    let out = asta(d, &["vault", "list"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(text(&out).contains("asta vault init"), "{}", text(&out));
    ok(asta(d, &["vault", "init"]));
    // A second init refuses to clobber: already exists (6).
    assert_eq!(asta(d, &["vault", "init"]).status.code(), Some(6));
    // An empty secret on stdin.
    assert_eq!(
        asta_with_stdin(d, &["vault", "set", "x.y"], "\n")
            .status
            .code(),
        Some(3)
    );
    // A world-readable key file is refused with the fix in the message.
    let key = d.join("keys/vault.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = asta(d, &["--verbose", "vault", "list"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
}

#[test]
fn totp_enroll_once_and_refuse_bad_codes() {
    let dir = project();
    let d = dir.path();
    let enroll = ok(asta(d, &["totp", "enroll"]));
    assert!(
        enroll.contains("otpauth://totp/ASTA:operator?secret="),
        "{enroll}"
    );
    assert_ne!(asta(d, &["totp", "enroll"]).status.code(), Some(0));
    let bad = asta_with_stdin(d, &["totp", "verify"], "000000\n");
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("REFUSED"));
    let garbage = asta_with_stdin(d, &["totp", "verify"], "12ab56\n");
    assert_eq!(garbage.status.code(), Some(1));
}

fn chain_key(d: &Path) -> ChainKey {
    let out = asta(d, &["vault", "get", "audit.chain_key", "--reveal"]);
    ChainKey::from_base64(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

fn write_trail(d: &Path, records: usize) {
    let log = AuditLog::open(
        d.join("audit"),
        chain_key(d),
        AuditConfig::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    for i in 0..records {
        log.append(AuditEvent::order(
            "placed",
            "demo",
            serde_json::json!({ "n": i, "password": CANARY }),
        ))
        .unwrap();
    }
    log.close().unwrap();
}

#[test]
fn audit_verify_tail_export_and_checkpoint() {
    let dir = project();
    let d = dir.path();
    write_trail(d, 5);
    // Every command is in the trail too: `vault init` (1), the `vault get`
    // that read the chain key (2), then the five records (3 to 7); each
    // command below adds its own record after it runs.
    let verify = ok(asta(d, &["audit", "verify"]));
    assert!(verify.starts_with("OK: 7 records"), "{verify}");
    let tail = asta(d, &["audit", "tail", "-n", "2"]);
    no_canary(&tail);
    let tail = ok(tail);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(tail.contains("[REDACTED]"), "{tail}");
    let export = asta(d, &["audit", "export"]);
    no_canary(&export);
    assert_eq!(String::from_utf8_lossy(&export.stdout).lines().count(), 9);
    let checkpoint = ok(asta(d, &["audit", "checkpoint"]));
    let checkpoint = checkpoint.lines().next().unwrap().to_owned();
    assert!(
        checkpoint.starts_with("asta-audit-checkpoint v1 seq=10"),
        "{checkpoint}"
    );
    ok(asta(d, &["audit", "verify", "--checkpoint", &checkpoint]));

    // Truncate the tail: verify against the checkpoint catches it.
    let segment = std::fs::read_dir(d.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let content = std::fs::read_to_string(&segment).unwrap();
    let kept: String = content.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&segment, &kept).unwrap();
    assert_eq!(
        asta(d, &["audit", "verify"]).status.code(),
        Some(0),
        "a cut at a record boundary alone is invisible"
    );
    let caught = asta(d, &["audit", "verify", "--checkpoint", &checkpoint]);
    assert_eq!(caught.status.code(), Some(1));
    assert!(text(&caught).contains("TAMPERED"), "{}", text(&caught));

    // Modify a field: caught without a checkpoint, with its location.
    std::fs::write(&segment, kept.replacen("\"n\":1", "\"n\":9", 1)).unwrap();
    let caught = asta(d, &["audit", "verify"]);
    assert_eq!(caught.status.code(), Some(1));
    assert!(text(&caught).contains("line 4"), "{}", text(&caught));
    assert_eq!(asta(d, &["audit", "export"]).status.code(), Some(1));
    assert_eq!(
        asta(d, &["audit", "verify", "--checkpoint", "nonsense"])
            .status
            .code(),
        Some(3)
    );
}

#[test]
fn audit_export_to_a_file_is_private_and_never_overwrites_or_follows_links() {
    use std::os::unix::fs::PermissionsExt;
    let dir = project();
    let d = dir.path();
    write_trail(d, 3);
    let out = d.join("export.jsonl");
    let out_arg = out.to_string_lossy().into_owned();
    let first = asta(d, &["audit", "export", "--out", &out_arg]);
    no_canary(&first);
    ok(first);
    // vault init, vault get (the chain key), the three records.
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 5);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // An existing export is evidence: never replaced.
    let before = std::fs::read(&out).unwrap();
    let again = asta(d, &["audit", "export", "--out", &out_arg]);
    assert_eq!(again.status.code(), Some(6), "{}", text(&again));
    assert_eq!(std::fs::read(&out).unwrap(), before);

    // A symbolic link is refused, and nothing is written where it points.
    let link = d.join("link.jsonl");
    std::os::unix::fs::symlink(d.join("elsewhere.jsonl"), &link).unwrap();
    let linked = asta(d, &["audit", "export", "--out", &link.to_string_lossy()]);
    assert_eq!(linked.status.code(), Some(4), "{}", text(&linked));
    assert!(!d.join("elsewhere.jsonl").exists());
}

#[test]
fn backup_of_a_database_being_written_restores_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("asta.toml"),
        "[paths]\ndatabases = [\"data/trades.db\"]\n",
    )
    .unwrap();
    ok(asta(d, &["vault", "init"]));
    write_trail(d, 3);
    std::fs::create_dir(d.join("data")).unwrap();
    let db_path = d.join("data/trades.db");
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE legs (pair INTEGER, side TEXT);")
        .unwrap();
    drop(conn);

    // Another connection keeps writing pairs of rows, one transaction per pair.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let db_path = db_path.clone();
        std::thread::spawn(move || {
            let mut conn = rusqlite::Connection::open(&db_path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .unwrap();
            let mut pair = 0i64;
            while !stop.load(Ordering::Relaxed) || pair < 200 {
                let tx = conn.transaction().unwrap();
                tx.execute("INSERT INTO legs VALUES (?1, 'BUY')", [pair])
                    .unwrap();
                tx.execute("INSERT INTO legs VALUES (?1, 'SELL')", [pair])
                    .unwrap();
                tx.commit().unwrap();
                pair += 1;
            }
            pair
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let created = ok(asta(d, &["backup", "create"]));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    let backup = d.join(created.trim().strip_prefix("created ").unwrap());
    let backup = backup.to_string_lossy().into_owned();

    let verified = ok(asta(d, &["backup", "verify", &backup]));
    assert!(
        verified.contains("trades.db") && verified.contains("vault.asta"),
        "{verified}"
    );
    assert!(verified.contains("audit-"), "{verified}");

    // Restore refuses to overwrite, then restores with --force.
    assert_eq!(
        asta(d, &["backup", "restore", &backup]).status.code(),
        Some(4)
    );
    // The trail has grown since the backup (every command is recorded): a
    // restore that would shorten it is refused even with --force ...
    assert_eq!(
        asta(d, &["backup", "restore", &backup, "--force"])
            .status
            .code(),
        Some(4)
    );
    // ... and allowed only with --replace-audit-trail.
    ok(asta(
        d,
        &[
            "backup",
            "restore",
            &backup,
            "--force",
            "--replace-audit-trail",
        ],
    ));
    let conn = rusqlite::Connection::open(&db_path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM legs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows % 2, 0, "a snapshot never holds half a transaction");
    assert!(rows / 2 <= written);
    let unpaired: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM (SELECT pair FROM legs GROUP BY pair HAVING COUNT(*) != 2)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unpaired, 0);
    ok(asta(d, &["audit", "verify"]));

    // A flipped byte: verify reports it and exits 1; restore refuses.
    let mut bytes = std::fs::read(&backup).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let damaged = d.join("damaged.sealed");
    std::fs::write(&damaged, bytes).unwrap();
    let damaged = damaged.to_string_lossy().into_owned();
    assert_eq!(
        asta(d, &["backup", "verify", &damaged]).status.code(),
        Some(1)
    );
    assert_eq!(
        asta(d, &["backup", "restore", &damaged, "--force"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn passphrase_backups_and_prune() {
    let dir = project();
    let d = dir.path();
    let create = Command::new(env!("CARGO_BIN_EXE_asta"))
        .current_dir(d)
        .args(["backup", "create", "--passphrase"])
        .env("ASTA_BACKUP_PASSPHRASE", "correct horse battery staple")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let created = ok(create);
    let backup = d.join(created.trim().strip_prefix("created ").unwrap());
    let backup = backup.to_string_lossy().into_owned();
    let verify = |pass: &str| {
        Command::new(env!("CARGO_BIN_EXE_asta"))
            .current_dir(d)
            .args(["backup", "verify", "--passphrase", &backup])
            .env("ASTA_BACKUP_PASSPHRASE", pass)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert!(verify("correct horse battery staple").status.success());
    assert_eq!(verify("wrong").status.code(), Some(1));

    // Prune keeps the newest backup and anything younger than the retention.
    let backups = d.join("backups");
    std::fs::copy(
        &backup,
        backups.join("asta-backup-20100101T000000000Z.sealed"),
    )
    .unwrap();
    std::fs::copy(
        &backup,
        backups.join("asta-backup-20110101T000000000Z.sealed"),
    )
    .unwrap();
    let pruned = ok(asta(d, &["backup", "prune"]));
    assert!(pruned.starts_with("pruned 2 backups"), "{pruned}");
    assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1);
}
