//! Does any file tracked by git hold something that looks like a secret?
//!
//! Two tests per line: asta-audit's redaction patterns (`key=value` pairs for
//! secret-like names, bearer tokens, JWTs, PEM private keys, passwords in
//! URLs, 64-hex API keys) and a high-entropy test for long random-looking
//! tokens. Findings name the file, the line and the kind, never the text.
//! A line containing `asta-doctor: allow` is skipped (for test fixtures).
//!
//! Tuned so that ASTA's own files pass: a value that names a vault entry
//! (`api_key_entry = "openalgo.api_key"`) or an environment variable
//! (`key_env = "ASTA_MASTER_KEY"`) is a reference, not a secret; the MACs,
//! links and digests of audit records and checkpoints (`"mac":"<64 hex>"`,
//! `"prev"`, `"sha256"`, `"digest"`, `mac=`) are hashes, not keys.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files larger than this are not scanned.
const MAX_SCAN_BYTES: u64 = 1 << 20;
/// Tokens shorter than this are never "high entropy".
const MIN_TOKEN_LEN: usize = 24;
/// Bits of entropy per character above which a token looks random.
const ENTROPY_THRESHOLD_BITS: f64 = 4.0;
/// The marker that exempts a line.
pub const ALLOW_MARKER: &str = "asta-doctor: allow";
/// Lock files whose hashes would all look like keys.
const LOCK_FILES: &[&str] = &[
    "Cargo.lock",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "go.sum",
    "uv.lock",
];

/// One suspicious line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFinding {
    /// The file, relative to the repository.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// Which test matched: `pattern` or `high-entropy`.
    pub kind: &'static str,
}

/// The files git tracks in `dir`, or `None` when `dir` is not in a git work tree.
pub fn tracked_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["ls-files", "-z"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(
        output
            .stdout
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
            .collect(),
    )
}

/// Scans `files` (relative to `dir`).
pub fn scan(dir: &Path, files: &[PathBuf]) -> Vec<SecretFinding> {
    let mut findings = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if LOCK_FILES.contains(&name.as_ref()) {
            continue;
        }
        let path = dir.join(file);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_SCAN_BYTES {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if bytes.contains(&0) {
            continue; // binary
        }
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            if line.contains(ALLOW_MARKER) {
                continue;
            }
            let line = without_hashes(line);
            let line = line.as_ref();
            let kind = if matches_secret_pattern(line) {
                Some("pattern")
            } else if has_high_entropy_token(line) {
                Some("high-entropy")
            } else {
                None
            };
            if let Some(kind) = kind {
                findings.push(SecretFinding {
                    file: file.clone(),
                    line: index + 1,
                    kind,
                });
            }
        }
    }
    findings
}

/// The shortest text the redaction patterns must have hidden for a line to
/// count: `retries = 3` under a `*key*` name is configuration, not a secret.
const MIN_HIDDEN_LEN: usize = 8;

/// Field names whose 64-hex values are hashes (audit MACs and links,
/// digests), written `"name":"<hex>"` in JSON or `name=<hex>` in a checkpoint.
const HASH_FIELDS: [&str; 5] = ["mac", "prev", "sha256", "digest", "checksum"];

/// `line` with the 64-hex values of [`HASH_FIELDS`] replaced by `HASH`.
fn without_hashes(line: &str) -> std::borrow::Cow<'_, str> {
    let mut out = String::new();
    let mut rest = line;
    let mut changed = false;
    'scan: while !rest.is_empty() {
        for field in HASH_FIELDS {
            for opener in [format!("\"{field}\":\""), format!("{field}=")] {
                if let Some(after) = rest.strip_prefix(opener.as_str())
                    && after.len() >= 64
                    && after.bytes().take(64).all(|b| b.is_ascii_hexdigit())
                    && !after.as_bytes().get(64).is_some_and(u8::is_ascii_hexdigit)
                {
                    out.push_str(&opener);
                    out.push_str("HASH");
                    rest = after.get(64..).unwrap_or_default();
                    changed = true;
                    continue 'scan;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    if changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(line)
    }
}

/// Whether `value` names something rather than being a secret: a dotted
/// lower-case vault entry name (`openalgo.api_key`), an upper-case
/// environment variable name with an underscore (`ASTA_MASTER_KEY`), or a
/// lower-case file path (`keys/vault.key`).
fn is_name_reference(value: &str) -> bool {
    let entry = value.contains('.')
        && value.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
        && value.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    let env = value.contains('_')
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && value.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
    // A relative or absolute path in lower case (`keys/vault.key`).
    let path = value.contains('/')
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
    entry || env || path
}

/// Whether asta-audit's redaction would hide something secret-sized in `line`.
pub fn matches_secret_pattern(line: &str) -> bool {
    let redacted = asta_audit::redact_text(line);
    if redacted == line {
        return false;
    }
    // What was hidden: the part of the line between the common prefix and
    // the common suffix of the original and its redaction.
    let prefix = line
        .bytes()
        .zip(redacted.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let suffix = line
        .bytes()
        .rev()
        .zip(redacted.bytes().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let end = line.len().saturating_sub(suffix).max(prefix);
    let hidden = line
        .get(prefix..end)
        .unwrap_or(line)
        .trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
    hidden.len() >= MIN_HIDDEN_LEN
        && !is_name_reference(hidden)
        && !hidden.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !matches!(hidden, "true" | "false" | "null")
}

/// Whether `line` holds a long token that looks random.
pub fn has_high_entropy_token(line: &str) -> bool {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-".contains(c)))
        .filter(|token| token.len() >= MIN_TOKEN_LEN)
        .any(|token| {
            let classes = [
                token.bytes().any(|b| b.is_ascii_lowercase()),
                token.bytes().any(|b| b.is_ascii_uppercase()),
                token.bytes().any(|b| b.is_ascii_digit()),
            ];
            classes.iter().filter(|&&c| c).count() >= 2
                && entropy_bits(token) >= ENTROPY_THRESHOLD_BITS
        })
}

/// Shannon entropy of `token` in bits per character.
#[allow(
    clippy::float_arithmetic,
    reason = "entropy of text is a statistic, not money; floats are right here"
)]
fn entropy_bits(token: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in token.bytes() {
        counts[usize::from(b)] += 1;
    }
    let len = f64::from(u32::try_from(token.len()).unwrap_or(u32::MAX));
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_numbers_are_not_secrets() {
        assert!(!matches_secret_pattern("api_key_max_age_days = 0"));
        assert!(!matches_secret_pattern("token_refresh_seconds = 3600"));
        assert!(!matches_secret_pattern("pin_enabled = true"));
        assert!(matches_secret_pattern("API_KEY = \"CANARY-9f8e7d6c5b4a\""));
        assert!(matches_secret_pattern("password=hunter2hunter2"));
        assert!(matches_secret_pattern(&format!(
            "key {}",
            "ab12".repeat(16)
        )));
    }

    #[test]
    fn asta_own_files_pass() {
        for line in [
            "api_key_entry = \"openalgo.api_key\"",
            "chain_key_entry = \"audit.chain_key\"   # the vault entry",
            "totp_entry = \"totp.operator\"",
            "key_env = \"ASTA_MASTER_KEY\"",
            "# key_env = \"ASTA_MASTER_KEY\"   # or: the key in an environment variable",
            r#"{"seq":1,"ts":"2026-11-27T04:30:00.000000Z","category":"SYSTEM","action":"guard_started","details":{"mode":"sandbox"},"prev":"0000000000000000000000000000000000000000000000000000000000000000","mac":"32dff060a4f16c782ab90d8ef4707d3e0fdfe0651b9ab85957cddc4f8641afd3"}"#,
            "asta-audit-checkpoint v1 seq=65 mac=ea24a9471fc521fe75c5ec91b8942a4893a52f66c0accf229b1e29d53899a336 ts=2026-11-27T04:31:00Z",
            r#"{"kind":"vault","name":"vault.asta","len":1234,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}"#,
        ] {
            let line = without_hashes(line);
            assert!(!matches_secret_pattern(&line), "{line}");
            assert!(!has_high_entropy_token(&line), "{line}");
        }
        for line in crate::commands::init::CONFIG_TEMPLATE
            .lines()
            .chain(crate::commands::init::INCIDENT_RESPONSE.lines())
            .chain(crate::commands::init::SAMPLE_INSTRUMENTS.lines())
        {
            let line = without_hashes(line);
            assert!(!matches_secret_pattern(&line), "{line}");
            assert!(!has_high_entropy_token(&line), "{line}");
        }
        // Still caught: a key where a name belongs, and a 64-hex key under
        // any other name.
        assert!(matches_secret_pattern("api_key = \"CANARY-9f8e7d6c5b4a\""));
        assert!(matches_secret_pattern(&without_hashes(&format!(
            r#"{{"apikey":"{}"}}"#,
            "ab12".repeat(16)
        ))));
        assert!(matches_secret_pattern(&without_hashes(&format!(
            "token={}",
            "ab12".repeat(16)
        ))));
    }

    #[test]
    fn random_tokens_are_flagged_and_ordinary_text_is_not() {
        assert!(has_high_entropy_token(
            "token = \"q8Zr2LmX9vKp4TnW7bYc1HdF5sJgE3aR\""
        ));
        for ordinary in [
            "NIFTY28NOV2424000CE BANKNIFTY24DECFUT",
            "the quick brown fox jumps over the lazy dog",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "fn check_order_against_instrument_catalog_and_calendar() {}",
            "price 800.05 quantity 75",
        ] {
            assert!(!has_high_entropy_token(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn findings_name_file_and_line_without_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("settings.py"),
            "DEBUG = True\nAPI_KEY = \"CANARY-9f8e7d6c5b4a\"\nNAME = \"asta\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("fixture.txt"),
            "password=CANARY-fixture  # asta-doctor: allow\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("Cargo.lock"),
            format!("checksum = \"{}\"\n", "ab".repeat(32)),
        )
        .unwrap();
        let files = ["settings.py", "fixture.txt", "Cargo.lock"].map(PathBuf::from);
        let findings = scan(dir.path(), &files);
        assert_eq!(
            findings,
            vec![SecretFinding {
                file: PathBuf::from("settings.py"),
                line: 2,
                kind: "pattern"
            }]
        );
        assert!(!format!("{findings:?}").contains("CANARY"));
    }
}
