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
