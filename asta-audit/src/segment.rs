//! Segment files and the audit directory: names, permissions, line reading,
//! and the zeroed space reserved at the end of the newest segment.
//!
//! **Reserved space.** The writer keeps up to [`RESERVE_STEP`] bytes of
//! zeros written (and synced) past the newest record and writes records
//! over them. Only a commit that syncs reserves: a commit of buffered
//! records just extends the file (zeros would only double what it
//! writes). An fdatasync of bytes written over existing blocks does not
//! have to persist a new file size, only the data: on ext4 that makes the
//! sync of an order's intent about a quarter faster and far steadier (a
//! write-ahead log's usual zero-filled segment). A record line never holds
//! a zero byte (JSON escapes control characters), so the data ends at the
//! first zero byte at the start of a line. Readers stop there; a line cut
//! short by zeros is a torn write (a crash in the middle of a commit);
//! zeros followed by anything but zeros are damage. Rotation and
//! [`close`](crate::AuditLog::close) trim the reservation, so a segment
//! only keeps zeros after a crash, until the log is opened again.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
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

/// How far ahead of the newest record the writer keeps zeros (1 MiB): one
/// extension every few hundred orders.
pub(crate) const RESERVE_STEP: u64 = 1 << 20;

/// Zeros written by [`reserve`] per call of `write_at`.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Writes zeros over `from..to` of `file` (not synced: the commit that
/// needs them syncs).
pub(crate) fn reserve(file: &File, from: u64, to: u64) -> std::io::Result<()> {
    let mut at = from;
    while at < to {
        let n = usize::try_from(to - at).map_or(ZEROS.len(), |n| n.min(ZEROS.len()));
        file.write_all_at(ZEROS.get(..n).unwrap_or_default(), at)?;
        at += n as u64;
    }
    Ok(())
}

/// Cuts `file` to its data (`end` bytes), dropping reserved zeros, and
/// makes that durable.
pub(crate) fn trim(file: &File, end: u64) -> std::io::Result<()> {
    file.set_len(end)?;
    file.sync_all()
}

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
/// directory entry durable. The writer writes at explicit offsets (over
/// its reserved zeros), so the file is not opened in append mode.
pub(crate) fn create_segment(dir: &Path, first_seq: u64) -> Result<(File, PathBuf), AuditError> {
    let path = dir.join(segment_name(first_seq));
    let file = safe_file::create_new_private(&path)
        .map_err(|e| AuditError::from_safe_file("creating segment", e))?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// Opens an existing segment for writing at explicit offsets.
pub(crate) fn open_segment_for_writing(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .write(true)
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
            // A zero byte inside a complete line is damage: the line fails
            // its checks downstream.
            out.pop();
            self.offset += read as u64;
            self.line_no += 1;
            return Ok(Some(LineEnd::Complete));
        }
        if let Some(first_zero) = out.iter().position(|&b| b == 0) {
            return self.zero_tail(path, out, first_zero);
        }
        if out.len() > MAX_LINE_BYTES {
            return Ok(Some(LineEnd::TooLong));
        }
        self.offset += read as u64;
        self.line_no += 1;
        Ok(Some(LineEnd::Unterminated))
    }

    /// The rest of the segment from a zero byte at `first_zero` of `out`
    /// (the start of the current line is `out[0]`): reserved space (see
    /// the module notes). All zeros: the end of the data (`None`), or a
    /// torn write if the line began before them ([`LineEnd::Unterminated`]
    /// with its bytes). Anything else after the zeros is damage: the bytes
    /// up to the last nonzero one come back as a [`LineEnd::Complete`]
    /// line, which fails its checks.
    fn zero_tail(
        &mut self,
        path: &Path,
        out: &mut Vec<u8>,
        first_zero: usize,
    ) -> Result<Option<LineEnd>, AuditError> {
        // Scanned in blocks, keeping at most a line's worth: a file padded
        // with gigabytes (of zeros or anything else) costs no memory.
        let mut damage = out
            .get(first_zero..)
            .unwrap_or_default()
            .iter()
            .rposition(|&b| b != 0)
            .map(|i| first_zero + i);
        let mut seen = out.len();
        let mut block = vec![0u8; 64 * 1024];
        loop {
            let n = self
                .reader
                .read(&mut block)
                .map_err(|e| AuditError::io("reading segment", path, e))?;
            let Some(read) = block.get(..n).filter(|b| !b.is_empty()) else {
                break;
            };
            if let Some(i) = read.iter().rposition(|&b| b != 0) {
                damage = Some(seen + i);
            }
            if out.len() <= MAX_LINE_BYTES {
                out.extend_from_slice(read);
            }
            seen += n;
        }
        let end = match damage {
            None if first_zero == 0 => return Ok(None),
            None => {
                out.truncate(first_zero);
                LineEnd::Unterminated
            }
            Some(last) if last >= MAX_LINE_BYTES => LineEnd::TooLong,
            Some(last) => {
                out.truncate(last + 1);
                LineEnd::Complete
            }
        };
        self.offset += out.len() as u64;
        self.line_no += 1;
        Ok(Some(end))
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

    #[test]
    fn reserved_zeros_end_the_data_and_anything_after_them_is_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x");
        let zeros = |n: usize| vec![0u8; n];
        let lines = |content: &[u8]| {
            fs::write(&path, content).unwrap();
            let mut r = LineReader::open(&path).unwrap();
            let mut out = Vec::new();
            while let Some(line) = r.next_line(&path).unwrap() {
                out.push(line);
            }
            (out, r.offset)
        };
        // Records, then reserved zeros (more than a line's limit): the data
        // ends at the first zero.
        let (read, offset) =
            lines(&[b"one\ntwo\n".as_slice(), &zeros(MAX_LINE_BYTES + 10)].concat());
        assert_eq!(read.len(), 2);
        assert_eq!(offset, 8);
        // A line cut short by zeros: a torn write, its bytes reported.
        let (read, offset) = lines(&[b"one\ntw".as_slice(), &zeros(100)].concat());
        assert!(matches!(read.last(), Some(Line::Unterminated(l)) if l == b"tw"));
        assert_eq!(offset, 6);
        // Zeros, then data: damage, handed on as a line that fails its
        // checks (never silently skipped).
        let (read, _) = lines(
            &[
                b"one\n".as_slice(),
                &zeros(50),
                b"two\nthree".as_slice(),
                &zeros(9),
            ]
            .concat(),
        );
        assert!(
            matches!(read.get(1), Some(Line::Complete(l)) if l.starts_with(b"\0") && l.ends_with(b"two"))
        );
        let (read, _) = lines(&[b"one\n".as_slice(), &zeros(50), b"x".as_slice()].concat());
        assert!(matches!(read.last(), Some(Line::Complete(l)) if l.ends_with(b"x")));
        // Damage far past the zeros is still found (read in blocks,
        // without keeping the whole tail).
        let (read, _) = lines(&[b"one\n".as_slice(), &zeros(2 * MAX_LINE_BYTES), b"x"].concat());
        assert!(matches!(read.last(), Some(Line::TooLong)));
        // A zero inside a complete line is damage too.
        let (read, _) = lines(b"o\0e\ntwo\n");
        assert!(matches!(read.first(), Some(Line::Complete(l)) if l == b"o\0e"));
        assert_eq!(read.len(), 2);
    }

    #[test]
    fn reserve_writes_zeros_and_trim_drops_them() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("x");
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        file.write_all_at(b"abc\n", 0).unwrap();
        reserve(&file, 4, 4 + 200_000).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 200_004);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.get(..4).unwrap(), b"abc\n");
        assert!(bytes.get(4..).unwrap().iter().all(|&b| b == 0));
        trim(&file, 4).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"abc\n");
    }
}
