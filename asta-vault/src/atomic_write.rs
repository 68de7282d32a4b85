//! Crash-safe replacement of a file: temp file (0600) in the same directory,
//! write, fsync, rename over the target, fsync the directory.
//!
//! A crash at any point leaves either the old file or the new one at the
//! target path, never a mix: the rename is atomic on POSIX file systems, and
//! the data is on disk before the rename makes it visible.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::crypto;
use crate::permissions;

/// The steps of an atomic write, in order (used to simulate crashes in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteStep {
    /// The temp file exists, empty.
    Created,
    /// The bytes are written but not synced.
    Written,
    /// The temp file is synced.
    Synced,
    /// The temp file was renamed over the target.
    Renamed,
    /// The directory was synced: the write is durable.
    DirSynced,
}

impl WriteStep {
    /// Every step, in order.
    #[cfg(test)]
    pub(crate) const ALL: [WriteStep; 5] = [
        WriteStep::Created,
        WriteStep::Written,
        WriteStep::Synced,
        WriteStep::Renamed,
        WriteStep::DirSynced,
    ];
}

/// Atomically replaces `target` with `bytes`.
#[cfg(test)]
pub(crate) fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(target, bytes, &mut |_| Ok(()))
}

/// [`write_atomic`] with a hook called after each step. A hook error aborts
/// the write right there *without cleanup*, exactly as a crash would.
pub(crate) fn write_atomic_with(
    target: &Path,
    bytes: &[u8],
    after: &mut dyn FnMut(WriteStep) -> io::Result<()>,
) -> io::Result<()> {
    let temp = temp_path(target)?;
    let mut file = permissions::create_private_file(&temp)?;
    after(WriteStep::Created)?;
    let result = finish(&mut file, &temp, target, bytes, after);
    if let Err(error) = &result
        && !is_simulated_crash(error)
    {
        // A real error (disk full, ...): do not leave the temp file behind.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn finish(
    file: &mut File,
    temp: &Path,
    target: &Path,
    bytes: &[u8],
    after: &mut dyn FnMut(WriteStep) -> io::Result<()>,
) -> io::Result<()> {
    file.write_all(bytes)?;
    after(WriteStep::Written)?;
    file.sync_all()?;
    after(WriteStep::Synced)?;
    std::fs::rename(temp, target)?;
    after(WriteStep::Renamed)?;
    permissions::sync_parent_dir(target)?;
    after(WriteStep::DirSynced)?;
    Ok(())
}

/// Marker message for crashes simulated by test hooks.
pub(crate) const SIMULATED_CRASH: &str = "simulated crash";

fn is_simulated_crash(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Interrupted && error.to_string() == SIMULATED_CRASH
}

/// `.<name>.tmp-<random>` beside `target`.
fn temp_path(target: &Path) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "target has no file name"))?;
    let suffix: [u8; 8] =
        crypto::random_array().map_err(|_| io::Error::other("random generator failed"))?;
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp-");
    temp_name.push(data_encoding::HEXLOWER.encode(&suffix));
    Ok(permissions::parent_dir(target).join(temp_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn crash_at(step: WriteStep) -> impl FnMut(WriteStep) -> io::Result<()> {
        move |now| {
            if now == step {
                Err(io::Error::new(io::ErrorKind::Interrupted, SIMULATED_CRASH))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn replaces_content_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vault");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }

    #[test]
    fn a_crash_after_any_step_leaves_old_or_new() {
        for step in WriteStep::ALL {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("vault");
            write_atomic(&target, b"old content").unwrap();
            let err = write_atomic_with(&target, b"new content", &mut crash_at(step));
            assert!(err.is_err());
            let now = std::fs::read(&target).unwrap();
            let expected: &[u8] = if matches!(step, WriteStep::Renamed | WriteStep::DirSynced) {
                b"new content"
            } else {
                b"old content"
            };
            assert_eq!(now, expected, "{step:?}");
        }
    }
}
