//! Segment files and the audit directory: names, permissions, line reading.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use asta_core::safe_file::{self, LockFile, SafeFileError};

use crate::error::AuditError;

/// The longest line the verifier and the recovery scan accept (1 MiB).
/// Every record the writer produces is shorter (see
/// [`AuditConfig::max_record_bytes`](crate::AuditConfig)).
pub const MAX_LINE_BYTES: usize = 1 << 20;

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl";
const SEQ_DIGITS: usize = 20;
/// The lock file that keeps two writers out of one directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// One segment file: its path and the seq its name says it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) first_seq: u64,
    pub(crate) path: PathBuf,
}

impl Segment {
    /// The file name, for reports.
    pub(crate) fn name(&self) -> String {
        segment_name(self.first_seq)
    }
}

/// The file name of the segment whose first record is `first_seq`.
pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:0SEQ_DIGITS$}{SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// The segments in `dir`, oldest first. Files named `audit-*` that are not
/// well-formed segment names are an error (fail closed); other files are
/// ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<Segment>, AuditError> {
    let entries = fs::read_dir(dir).map_err(|e| AuditError::io("listing", dir, e))?;
    let mut segments = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| AuditError::io("listing", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if !name.starts_with(PREFIX) {
            continue;
        }
        match parse_segment_name(name) {
            Some(first_seq) => segments.push(Segment {
                first_seq,
                path: entry.path(),
            }),
            None => return Err(AuditError::UnexpectedFile(entry.path())),
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// Creates `dir` with mode 0700 if missing; refuses an existing directory
/// that is not owned by the current user or is accessible to group/others.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), AuditError> {
    safe_file::ensure_private_dir(dir)
        .map_err(|e| AuditError::from_safe_file("creating directory", e))
}

/// Checks an existing segment or anchor file: regular, ours, mode 0600/0400.
pub(crate) fn check_private_file(path: &Path) -> Result<(), AuditError> {
    safe_file::check_private_file(path).map_err(|e| AuditError::from_safe_file("inspecting", e))
}

/// Creates a new, empty segment (mode 0600, must not exist) and makes its
/// directory entry durable.
pub(crate) fn create_segment(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), AuditError> {
    let path = dir.join(segment_name(first_seq));
    let file = safe_file::create_new_private_append(&path)
        .map_err(|e| AuditError::from_safe_file("creating segment", e))?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// Opens an existing segment for appending.
pub(crate) fn open_segment_for_append(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| AuditError::io("opening segment", path, e))
}

/// fsyncs a directory so created, renamed or removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    safe_file::sync_dir(dir).map_err(|e| AuditError::from_safe_file("syncing directory", e))
}

/// Opens (creating if needed, 0600) the lock file and takes an exclusive,
/// non-blocking lock on it. The lock lasts as long as the returned file.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, AuditError> {
    match LockFile::try_acquire(&dir.join(LOCK_FILE)) {
        Ok(lock) => Ok(lock.into_file()),
        Err(SafeFileError::Locked { .. }) => Err(AuditError::Locked {
            path: dir.to_owned(),
        }),
        Err(e) => Err(AuditError::from_safe_file("locking", e)),
    }
}

/// One line read from a segment.
#[derive(Debug)]
pub(crate) enum Line {
    /// A newline-terminated line (newline removed).
    Complete(Vec<u8>),
    /// Bytes at the end of the file with no newline after them.
    Unterminated(Vec<u8>),
    /// A line longer than [`MAX_LINE_BYTES`].
    TooLong,
}

/// How a line read by [`LineReader::next_line_into`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    /// With a newline (removed).
    Complete,
    /// At the end of the file with no newline.
    Unterminated,
    /// Longer than [`MAX_LINE_BYTES`].
    TooLong,
}

/// Reads a segment line by line with bounded memory.
pub(crate) struct LineReader {
    reader: BufReader<File>,
    /// Byte offset of the start of the next line.
    pub(crate) offset: u64,
    /// 1-based number of the next line.
    pub(crate) line_no: u64,
}

impl std::fmt::Debug for LineReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineReader")
            .field("offset", &self.offset)
            .field("line_no", &self.line_no)
            .finish()
    }
}

impl LineReader {
    pub(crate) fn open(path: &Path) -> Result<Self, AuditError> {
        let file = File::open(path).map_err(|e| AuditError::io("opening segment", path, e))?;
        Ok(Self {
            reader: BufReader::with_capacity(1 << 16, file),
            offset: 0,
            line_no: 1,
        })
    }

    /// The next line, or `None` at the end of the file.
    pub(crate) fn next_line(&mut self, path: &Path) -> Result<Option<Line>, AuditError> {
        let mut out = Vec::new();
        Ok(self.next_line_into(path, &mut out)?.map(|end| match end {
            LineEnd::Complete => Line::Complete(out),
            LineEnd::Unterminated => Line::Unterminated(out),
            LineEnd::TooLong => Line::TooLong,
        }))
    }

    /// [`LineReader::next_line`] into a buffer the caller reuses, so a scan
    /// over millions of lines allocates once. `out` is cleared first and
    /// then holds the line without its newline (for
    /// [`LineEnd::TooLong`], a prefix of it that callers must ignore).
    pub(crate) fn next_line_into(
        &mut self,
        path: &Path,
        out: &mut Vec<u8>,
    ) -> Result<Option<LineEnd>, AuditError> {
        out.clear();
        // At most the longest line plus its newline (std's fast memchr).
        let limit = MAX_LINE_BYTES as u64 + 1;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', out)
            .map_err(|e| AuditError::io("reading segment", path, e))?;
        if read == 0 {
            return Ok(None);
        }
        if out.last() == Some(&b'\n') {
            out.pop();
            self.offset += read as u64;
            self.line_no += 1;
            return Ok(Some(LineEnd::Complete));
        }
        if out.len() > MAX_LINE_BYTES {
            return Ok(Some(LineEnd::TooLong));
        }
        self.offset += read as u64;
        self.line_no += 1;
        Ok(Some(LineEnd::Unterminated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(segment_name(1), "audit-00000000000000000001.jsonl");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("audit-1.jsonl"), None);
        assert_eq!(parse_segment_name("audit-00000000000000000000.jsonl"), None);
    }

    #[test]
    fn private_dir_is_created_0700_and_open_dirs_refused() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            ensure_private_dir(&dir),
            Err(AuditError::InsecurePermissions { .. })
        ));
    }

    #[test]
    fn a_symlink_planted_as_the_next_segment_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("audit");
        ensure_private_dir(&dir).unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, dir.join(segment_name(7))).unwrap();
        let err = create_segment(&dir, 7).unwrap_err();
        assert!(
            matches!(err, AuditError::InsecurePermissions { .. }),
            "{err}"
        );
        assert!(!elsewhere.exists(), "nothing was written through the link");
    }

    #[test]
    fn lines_are_bounded_and_unterminated_tails_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x");
        fs::write(&path, b"one\ntwo\nthr").unwrap();
        let mut r = LineReader::open(&path).unwrap();
        assert!(matches!(r.next_line(&path).unwrap(), Some(Line::Complete(l)) if l == b"one"));
        assert!(matches!(r.next_line(&path).unwrap(), Some(Line::Complete(l)) if l == b"two"));
        assert_eq!(r.offset, 8);
        assert!(matches!(r.next_line(&path).unwrap(), Some(Line::Unterminated(l)) if l == b"thr"));
        assert!(r.next_line(&path).unwrap().is_none());
        fs::write(&path, vec![b'a'; MAX_LINE_BYTES + 1]).unwrap();
        let mut r = LineReader::open(&path).unwrap();
        assert!(matches!(r.next_line(&path).unwrap(), Some(Line::TooLong)));
    }
}
