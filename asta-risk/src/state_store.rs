//! Durable, atomic storage of the risk state.
//!
//! File format: one header line, then the JSON body.
//!
//! ```text
//! asta-risk-state format=1 len=<body bytes> fnv1a64=<16 hex digits>
//! {"day":"2026-11-27",...}
//! ```
//!
//! The checksum catches damage that still parses as JSON (a flipped digit in
//! a loss figure); it is not a MAC, since whoever can write the file can
//! also halt or un-halt the process. Saving goes through
//! [`asta_core::safe_file::write_atomic`]: a temporary file in the same
//! directory (mode 0600), fsynced, renamed over the state file, then the
//! directory fsynced, so a crash leaves the old or the new state, never a mix.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use asta_core::safe_file;

use crate::error::StateError;
use crate::state::RiskState;

/// The state file format this build writes and reads.
pub const STATE_FORMAT: u32 = 1;

const MAGIC: &str = "asta-risk-state";

/// Where the risk state lives.
///
/// A file store is either opened ([`StateStore::file`]: the file must
/// exist) or created ([`StateStore::create_file`]: it must not). Neither
/// starts from a fresh state silently when the file is missing, so deleting
/// the state file cannot wipe the day's loss, a latched halt or the rate
/// windows: a new state is always an explicit decision of the caller (and,
/// in the `asta` command, an audited one).
#[derive(Debug, Clone)]
pub struct StateStore {
    path: Option<PathBuf>,
    create: bool,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

impl StateStore {
    /// The existing state saved in `path`. Opening fails with
    /// [`StateError::Missing`] when the file does not exist.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
            create: false,
        }
    }

    /// A new state, saved in `path` (its directory must exist). Opening fails
    /// with [`StateError::AlreadyExists`] when the file exists: an existing
    /// state is never replaced.
    pub fn create_file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: Some(path.into()),
            create: true,
        }
    }

    /// State kept in memory only: a restart forgets the day's loss, halts and
    /// rate windows. For tests and benchmarks, never for live trading.
    pub fn dangerous_in_memory() -> Self {
        Self {
            path: None,
            create: true,
        }
    }

    /// The file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Loads the state; `Ok(None)` for a store that creates a new state (or
    /// lives in memory).
    pub(crate) fn load(&self) -> Result<Option<RiskState>, StateError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let bytes = match fs::read(path) {
            Ok(_) if self.create => {
                return Err(StateError::AlreadyExists { path: path.clone() });
            }
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound && self.create => return Ok(None),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(StateError::Missing { path: path.clone() });
            }
            Err(source) => {
                return Err(StateError::Io {
                    path: path.clone(),
                    source,
                });
            }
        };
        decode(path, &bytes).map(Some)
    }

    /// Saves the state atomically and durably (no-op in memory).
    pub(crate) fn save(&self, state: &RiskState) -> Result<(), StateError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes = encode(state)?;
        // Only the owner may read or change the risk state.
        safe_file::write_atomic(path, &bytes, safe_file::PRIVATE_FILE_MODE).map_err(|e| {
            StateError::Io {
                path: path.clone(),
                source: e.into(),
            }
        })
    }

    /// Moves a damaged state file aside (to `<name>.corrupt-<unix seconds>`)
    /// and returns the new path.
    pub(crate) fn quarantine(&self, stamp: i64) -> Result<Option<PathBuf>, StateError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(format!(".corrupt-{stamp}"));
        let target = path.with_file_name(name);
        match fs::rename(path, &target) {
            Ok(()) => Ok(Some(target)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io {
                path: path.clone(),
                source,
            }),
        }
    }
}

pub(crate) fn encode(state: &RiskState) -> Result<Vec<u8>, StateError> {
    let body = serde_json::to_vec(state).map_err(|e| StateError::Serialize(e.to_string()))?;
    let header = format!(
        "{MAGIC} format={STATE_FORMAT} len={} fnv1a64={:016x}\n",
        body.len(),
        fnv1a64(&body)
    );
    let mut out = Vec::with_capacity(header.len() + body.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<RiskState, StateError> {
    let corrupt = |detail: String| StateError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| corrupt("no header line".to_owned()))?;
    let (header, rest) = bytes.split_at(newline);
    let body = rest.get(1..).unwrap_or_default();
    let header =
        std::str::from_utf8(header).map_err(|_| corrupt("header is not UTF-8".to_owned()))?;
    let mut parts = header.split(' ');
    if parts.next() != Some(MAGIC) {
        return Err(corrupt("not an asta-risk state file".to_owned()));
    }
    let mut field = |name: &str| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(name))
            .and_then(|p| p.strip_prefix('='))
            .ok_or_else(|| corrupt(format!("header lacks {name}")))
    };
    let format: u32 = field("format")?
        .parse()
        .map_err(|_| corrupt("bad format number".to_owned()))?;
    let len: usize = field("len")?
        .parse()
        .map_err(|_| corrupt("bad length".to_owned()))?;
    let sum = u64::from_str_radix(field("fnv1a64")?, 16)
        .map_err(|_| corrupt("bad checksum field".to_owned()))?;
    if format != STATE_FORMAT {
        return Err(StateError::UnsupportedFormat {
            path: path.to_path_buf(),
            found: format,
            supported: STATE_FORMAT,
        });
    }
    if body.len() != len {
        return Err(corrupt(format!(
            "body is {} bytes, header says {len} (truncated or appended)",
            body.len()
        )));
    }
    if fnv1a64(body) != sum {
        return Err(corrupt("checksum mismatch".to_owned()));
    }
    serde_json::from_slice(body).map_err(|e| corrupt(format!("body does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn state() -> RiskState {
        RiskState::new(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap())
    }

    #[test]
    fn round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("risk.state");
        let new = StateStore::create_file(&path);
        assert!(new.load().unwrap().is_none());
        new.save(&state()).unwrap();
        assert_eq!(StateStore::file(&path).load().unwrap(), Some(state()));
        assert!(!dir.path().join("risk.state.tmp").exists());
    }

    #[test]
    fn saving_is_private_atomic_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("risk.state");
        let store = StateStore::create_file(&path);
        store.save(&state()).unwrap();
        let mut later = state();
        later.day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        StateStore::file(&path).save(&later).unwrap();
        assert_eq!(StateStore::file(&path).load().unwrap(), Some(later));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["risk.state"]);
    }

    #[test]
    fn a_state_file_written_in_format_1_still_opens() {
        // Written by the format-1 encoder (tests/data); never regenerate it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("risk.state");
        fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/risk-state-format-1.state"
            ),
            &path,
        )
        .unwrap();
        assert_eq!(StateStore::file(&path).load().unwrap(), Some(state()));
    }

    #[test]
    fn a_missing_file_is_never_a_fresh_start_and_an_existing_one_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("risk.state");
        assert!(matches!(
            StateStore::file(&path).load(),
            Err(StateError::Missing { .. })
        ));
        StateStore::create_file(&path).save(&state()).unwrap();
        assert!(matches!(
            StateStore::create_file(&path).load(),
            Err(StateError::AlreadyExists { .. })
        ));
    }

    #[test]
    fn every_kind_of_damage_is_reported_not_reset() {
        let good = encode(&state()).unwrap();
        let path = Path::new("x");
        let text = String::from_utf8(good.clone()).unwrap();
        let flipped = text.replace("2026-11-27", "2026-11-28");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "no header"),
            (b"hello\n{}".to_vec(), "not an asta-risk"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            (
                [good.clone(), b" ".to_vec()].concat(),
                "truncated or appended",
            ),
            (flipped.into_bytes(), "checksum"),
        ];
        for (bytes, needle) in cases {
            let error = decode(path, &bytes).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
            assert!(error.contains("halted"), "{error}");
        }
        let newer = text.replace("format=1", "format=2");
        assert!(matches!(
            decode(path, newer.as_bytes()),
            Err(StateError::UnsupportedFormat { found: 2, .. })
        ));
    }
}
