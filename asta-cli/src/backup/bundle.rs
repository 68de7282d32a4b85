//! The plain-text layout inside a sealed backup: a header line, a JSON
//! manifest line, then each file's bytes back to back.
//!
//! ```text
//! ASTA-BACKUP 1\n
//! {"created":"2026-11-27T10:00:00Z","entries":[{"kind":"vault","name":"vault.asta","len":1234,"sha256":"..."}]}\n
//! <1234 bytes of vault.asta><next entry>...
//! ```
//!
//! The manifest carries a SHA-256 per entry, so a restore or a verify detects
//! a damaged entry even before the seal's own authentication is considered.

use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};

/// The first line of every bundle.
pub const BUNDLE_HEADER: &str = "ASTA-BACKUP 1";
/// The longest manifest accepted when reading (a crafted bundle cannot make
/// the reader allocate more).
pub const MAX_MANIFEST_LEN: usize = 4 * 1024 * 1024;

/// What a bundled file is, which decides where it is restored and how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EntryKind {
    /// A SQLite database (snapshotted with the online backup API).
    Sqlite,
    /// The encrypted vault file.
    Vault,
    /// One file of the audit directory.
    Audit,
    /// The persisted risk state (`paths.risk_state`).
    RiskState,
    /// The configuration file (`asta.toml`).
    Config,
    /// The instrument catalog (`paths.instruments`).
    Instruments,
    /// A market calendar file (`paths.calendar`).
    Calendar,
}

/// One file in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// What it is.
    pub kind: EntryKind,
    /// Its file name (a single path component, checked on read).
    pub name: String,
    /// Its length in bytes.
    pub len: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// The list of files, written before their bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// When the backup was made (UTC, RFC 3339).
    pub created: String,
    /// The files, in the order their bytes follow.
    pub entries: Vec<Entry>,
}

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Reading or writing failed.
    #[error("backup I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// Not a bundle, or a newer format.
    #[error("not an ASTA backup of a supported format (expected {BUNDLE_HEADER:?} first)")]
    BadHeader,
    /// The manifest is malformed or too long.
    #[error("backup manifest is malformed: {0}")]
    BadManifest(String),
    /// An entry name that could escape the restore directory.
    #[error("backup entry name {0:?} is not a plain file name")]
    BadName(String),
    /// An entry's bytes do not match its recorded hash or length.
    #[error("backup entry {name} is damaged ({what})")]
    Damaged {
        /// The entry.
        name: String,
        /// What did not match.
        what: &'static str,
    },
}

/// Whether `name` is a single, ordinary path component.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 255
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(char::is_control)
}

/// Hex SHA-256 of `bytes` read from `reader`, copying them to `writer`.
pub fn copy_hashed<R: Read, W: Write>(
    mut reader: R,
    mut writer: W,
) -> std::io::Result<(u64, String)> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        let chunk = buffer.get(..n).unwrap_or_default();
        context.update(chunk);
        writer.write_all(chunk)?;
        total += n as u64;
    }
    Ok((total, hex(context.finish().as_ref())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the header and manifest; the caller then writes each entry's bytes in order.
pub fn write_head<W: Write>(mut writer: W, manifest: &Manifest) -> Result<(), BundleError> {
    for entry in &manifest.entries {
        if !is_plain_name(&entry.name) {
            return Err(BundleError::BadName(entry.name.clone()));
        }
    }
    let json =
        serde_json::to_string(manifest).map_err(|e| BundleError::BadManifest(e.to_string()))?;
    writeln!(writer, "{BUNDLE_HEADER}")?;
    writeln!(writer, "{json}")?;
    Ok(())
}

/// Reads and checks the header and manifest.
pub fn read_head<R: BufRead>(reader: &mut R) -> Result<Manifest, BundleError> {
    let header = read_line(reader, BUNDLE_HEADER.len() + 1)?;
    if header != BUNDLE_HEADER {
        return Err(BundleError::BadHeader);
    }
    let json = read_line(reader, MAX_MANIFEST_LEN)?;
    let manifest: Manifest =
        serde_json::from_str(&json).map_err(|e| BundleError::BadManifest(e.to_string()))?;
    for entry in &manifest.entries {
        if !is_plain_name(&entry.name) {
            return Err(BundleError::BadName(entry.name.clone()));
        }
    }
    Ok(manifest)
}

fn read_line<R: BufRead>(reader: &mut R, max: usize) -> Result<String, BundleError> {
    let mut line = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > max {
            BundleError::BadManifest(format!("a line is longer than {max} bytes"))
        } else {
            BundleError::BadHeader
        });
    }
    line.pop();
    String::from_utf8(line).map_err(|_| BundleError::BadHeader)
}

/// Copies exactly `entry.len` bytes of the entry from `reader` to `writer`
/// and checks its hash.
pub fn read_entry<R: Read, W: Write>(
    reader: &mut R,
    entry: &Entry,
    writer: W,
) -> Result<(), BundleError> {
    let (len, sha256) = copy_hashed(reader.take(entry.len), writer)?;
    if len != entry.len {
        return Err(BundleError::Damaged {
            name: entry.name.clone(),
            what: "truncated",
        });
    }
    if sha256 != entry.sha256 {
        return Err(BundleError::Damaged {
            name: entry.name.clone(),
            what: "SHA-256 mismatch",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(files: &[(&str, &[u8])]) -> (Manifest, Vec<u8>) {
        let entries = files
            .iter()
            .map(|(name, bytes)| {
                let (len, sha256) = copy_hashed(*bytes, std::io::sink()).unwrap();
                Entry {
                    kind: EntryKind::Audit,
                    name: (*name).to_owned(),
                    len,
                    sha256,
                }
            })
            .collect();
        let manifest = Manifest {
            created: "2026-11-27T10:00:00Z".to_owned(),
            entries,
        };
        let mut out = Vec::new();
        write_head(&mut out, &manifest).unwrap();
        for (_, bytes) in files {
            out.extend_from_slice(bytes);
        }
        (manifest, out)
    }

    #[test]
    fn round_trip() {
        let (manifest, bytes) = bundle(&[("a.jsonl", b"hello\n"), ("b.jsonl", b"")]);
        let mut reader = std::io::BufReader::new(bytes.as_slice());
        let read = read_head(&mut reader).unwrap();
        assert_eq!(read, manifest);
        let mut a = Vec::new();
        read_entry(&mut reader, &read.entries[0], &mut a).unwrap();
        assert_eq!(a, b"hello\n");
        read_entry(&mut reader, &read.entries[1], std::io::sink()).unwrap();
    }

    #[test]
    fn damage_is_detected() {
        let (_, mut bytes) = bundle(&[("a.jsonl", b"hello\n")]);
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        let mut reader = std::io::BufReader::new(bytes.as_slice());
        let manifest = read_head(&mut reader).unwrap();
        assert!(matches!(
            read_entry(&mut reader, &manifest.entries[0], std::io::sink()),
            Err(BundleError::Damaged {
                what: "SHA-256 mismatch",
                ..
            })
        ));
        let (_, bytes) = bundle(&[("a.jsonl", b"hello\n")]);
        let cut = &bytes[..bytes.len() - 1];
        let mut reader = std::io::BufReader::new(cut);
        let manifest = read_head(&mut reader).unwrap();
        assert!(matches!(
            read_entry(&mut reader, &manifest.entries[0], std::io::sink()),
            Err(BundleError::Damaged {
                what: "truncated",
                ..
            })
        ));
    }

    #[test]
    fn traversal_names_are_refused() {
        for name in ["../etc/passwd", "/abs", "a/b", "..", "", "x\ny"] {
            assert!(!is_plain_name(name), "{name:?}");
        }
        let text = format!(
            "{BUNDLE_HEADER}\n{{\"created\":\"x\",\"entries\":[{{\"kind\":\"vault\",\"name\":\"../v\",\"len\":0,\"sha256\":\"\"}}]}}\n"
        );
        assert!(matches!(
            read_head(&mut std::io::BufReader::new(text.as_bytes())),
            Err(BundleError::BadName(_))
        ));
    }

    #[test]
    fn not_a_bundle() {
        for text in [
            "",
            "garbage",
            "ASTA-BACKUP 2\n{}\n",
            "ASTA-BACKUP 1\n{not json}\n",
        ] {
            assert!(
                read_head(&mut std::io::BufReader::new(text.as_bytes())).is_err(),
                "{text:?}"
            );
        }
    }
}
