//! Are secret-bearing files 0600 and their directories 0700?

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One file or directory whose mode is too open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoosePermission {
    /// The path.
    pub path: PathBuf,
    /// Its mode bits (e.g. `0o644`).
    pub mode: u32,
    /// Whether it is a directory (which should be 0700).
    pub is_dir: bool,
}

impl LoosePermission {
    /// The `chmod` that fixes it.
    pub fn fix(&self) -> String {
        let wanted = if self.is_dir { "700" } else { "600" };
        format!("chmod {wanted} {}", self.path.display())
    }
}

/// Whether group or others have any access.
fn too_open(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Checks `path` (a file, or a directory and everything directly in it) and
/// its parent directory. Missing paths are not findings.
pub fn check_path(path: &Path, findings: &mut Vec<LoosePermission>) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o7777;
    if too_open(mode) {
        findings.push(LoosePermission {
            path: path.to_path_buf(),
            mode,
            is_dir: meta.is_dir(),
        });
    }
    if meta.is_dir()
        && let Ok(entries) = std::fs::read_dir(path)
    {
        for entry in entries.flatten() {
            if let Ok(m) = entry.metadata()
                && m.is_file()
                && too_open(m.permissions().mode())
            {
                findings.push(LoosePermission {
                    path: entry.path(),
                    mode: m.permissions().mode() & 0o7777,
                    is_dir: false,
                });
            }
        }
    }
}

/// Secret-bearing files found by name under `root` (not following symlinks,
/// skipping `.git` and `target`): `.env*`, `*.key`, `*.pem`, `*.db`,
/// `*.sqlite`, `*.duckdb`, at most `depth` levels down.
pub fn find_sensitive_files(root: &Path, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    walk(root, depth, &mut found);
    found.sort();
    found
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if depth > 0 && name != ".git" && !name.starts_with("target") {
                walk(&entry.path(), depth - 1, found);
            }
        } else if kind.is_file() && is_sensitive_name(&name) {
            found.push(entry.path());
        }
    }
}

/// Whether a file name marks a secret, key or database.
pub fn is_sensitive_name(name: &str) -> bool {
    name == ".env"
        || name.starts_with(".env.")
        || [".key", ".pem", ".db", ".sqlite", ".duckdb"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn open_files_and_directories_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit");
        std::fs::create_dir(&audit).unwrap();
        set_mode(&audit, 0o755);
        let segment = audit.join("seg-1.jsonl");
        std::fs::write(&segment, "x").unwrap();
        set_mode(&segment, 0o644);
        let mut findings = Vec::new();
        check_path(&audit, &mut findings);
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].fix(), format!("chmod 700 {}", audit.display()));
        assert_eq!(
            findings[1].fix(),
            format!("chmod 600 {}", segment.display())
        );

        set_mode(&audit, 0o700);
        set_mode(&segment, 0o600);
        let mut findings = Vec::new();
        check_path(&audit, &mut findings);
        assert!(findings.is_empty());
        check_path(&dir.path().join("missing"), &mut findings);
        assert!(findings.is_empty());
    }

    #[test]
    fn sensitive_names() {
        for name in [
            ".env",
            ".env.local",
            "vault.key",
            "tls.pem",
            "trades.db",
            "a.sqlite",
            "t.duckdb",
        ] {
            assert!(is_sensitive_name(name), "{name}");
        }
        for name in ["env", "README.md", "keys.rs", "db.rs", ".envrc"] {
            assert!(!is_sensitive_name(name), "{name}");
        }
    }
}
