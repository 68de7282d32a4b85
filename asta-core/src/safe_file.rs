//! Writing files safely: the one implementation every ASTA crate uses.
//!
//! - [`write_atomic`] (and [`write_atomic_with`] for streamed content)
//!   replaces a file so that a crash leaves the old or the new content, never
//!   a mix: a private temp file created with `O_EXCL | O_NOFOLLOW` in the same
//!   directory, written, fsynced, renamed over the target, then the directory
//!   fsynced. On an error the temp file is removed.
//! - [`write_new_atomic_with`] does the same for a file that must not exist
//!   yet: the temp file is linked into place, which fails if the name is taken.
//!   A write killed midway leaves its temp file; [`remove_stale_temps`]
//!   removes them under the writer's lock.
//! - [`create_new_private`] creates a new 0600 file for a path a user named,
//!   refusing an existing file and any symbolic link.
//! - [`open_no_follow`] and [`open_private`] open for reading without following
//!   a symbolic link, the second one only a file owned by the current user with
//!   no group or other permission bits (the rules ssh applies to its keys).
//! - [`create_private_dir`], [`ensure_private_dir`] and [`sync_dir`] for
//!   directories; [`LockFile`] is the one exclusive, non-blocking lock
//!   (`flock`, through [`File::try_lock`]).
//!
//! Every error is a [`SafeFileError`] that names the path and the operation.
//! Linux (Unix) only, like the rest of ASTA.

use std::ffi::OsString;
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of private files: read and write for the owner only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of private directories: the owner only.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Why a file operation failed. Each variant names the path; none carries
/// file content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafeFileError {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}", path = path.display())]
    Io {
        /// What was being done, e.g. `"creating"`.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The path is a symbolic link, which is never followed here.
    #[error("{path} is a symbolic link; refusing to follow it", path = path.display())]
    Symlink {
        /// The path.
        path: PathBuf,
    },
    /// The path is not a regular file (a directory, device, socket or FIFO).
    #[error("{path} is not a regular file", path = path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// The path is not a directory (symbolic links to directories included).
    #[error("{path} is not a directory (symbolic links are refused)", path = path.display())]
    NotDirectory {
        /// The path.
        path: PathBuf,
    },
    /// The file must be new, but the name is taken.
    #[error("{path} already exists; refusing to replace it", path = path.display())]
    AlreadyExists {
        /// The path.
        path: PathBuf,
    },
    /// Another holder (this process or another) has the lock.
    #[error("{path} is locked by another holder", path = path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// Group or other users have permission bits on a private file or directory.
    #[error(
        "{path} has mode {mode:o}, which allows group or other access; expected {expected:o} or stricter",
        path = path.display()
    )]
    InsecureMode {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The mode it should have.
        expected: u32,
    },
    /// A private file or directory belongs to another user.
    #[error("{path} is owned by uid {owner}, not by the current user (uid {current})", path = path.display())]
    WrongOwner {
        /// The file or directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The effective uid of this process.
        current: u32,
    },
}

impl SafeFileError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        SafeFileError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The path the error is about.
    pub fn path(&self) -> &Path {
        match self {
            SafeFileError::Io { path, .. }
            | SafeFileError::Symlink { path }
            | SafeFileError::NotRegularFile { path }
            | SafeFileError::NotDirectory { path }
            | SafeFileError::AlreadyExists { path }
            | SafeFileError::Locked { path }
            | SafeFileError::InsecureMode { path, .. }
            | SafeFileError::WrongOwner { path, .. } => path,
        }
    }

    /// The closest [`io::ErrorKind`], for callers whose errors hold an
    /// [`io::Error`].
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            SafeFileError::Io { source, .. } => source.kind(),
            SafeFileError::Symlink { .. } | SafeFileError::NotRegularFile { .. } => {
                io::ErrorKind::InvalidInput
            }
            SafeFileError::NotDirectory { .. } => io::ErrorKind::NotADirectory,
            SafeFileError::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
            SafeFileError::Locked { .. } => io::ErrorKind::WouldBlock,
            SafeFileError::InsecureMode { .. } | SafeFileError::WrongOwner { .. } => {
                io::ErrorKind::PermissionDenied
            }
        }
    }
}

impl From<SafeFileError> for io::Error {
    fn from(error: SafeFileError) -> Self {
        io::Error::new(error.kind(), error)
    }
}

/// `O_NOFOLLOW` as the `i32` that [`OpenOptionsExt::custom_flags`] wants.
fn no_follow_flag() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// Whether `error` is `ELOOP`: what `O_NOFOLLOW` answers for a symbolic link.
fn is_symlink_refusal(error: &io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
}

/// The effective uid of this process (the owner of the files it creates).
pub fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// fsyncs a directory, so that entries created, renamed or removed in it are
/// durable.
pub fn sync_dir(dir: &Path) -> Result<(), SafeFileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SafeFileError::io("syncing directory", dir, e))
}

/// fsyncs the directory that holds `path`.
pub fn sync_parent(path: &Path) -> Result<(), SafeFileError> {
    sync_dir(parent_dir(path))
}

fn create_new_with(path: &Path, options: &mut OpenOptions) -> Result<File, SafeFileError> {
    options
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .custom_flags(no_follow_flag())
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                // O_EXCL never follows a link; say which of the two it was.
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                    SafeFileError::Symlink {
                        path: path.to_path_buf(),
                    }
                } else {
                    SafeFileError::AlreadyExists {
                        path: path.to_path_buf(),
                    }
                }
            } else {
                SafeFileError::io("creating", path, e)
            }
        })
}

/// Creates a new file, mode 0600, open for reading and writing. Refuses an
/// existing file ([`SafeFileError::AlreadyExists`]) and a symbolic link, even
/// a dangling one ([`SafeFileError::Symlink`]): use it for any path a user
/// named. The directory entry is not yet synced (see [`sync_parent`]).
pub fn create_new_private(path: &Path) -> Result<File, SafeFileError> {
    create_new_with(path, OpenOptions::new().read(true).write(true))
}

/// [`create_new_private`], opened for appending (an append-only log segment).
pub fn create_new_private_append(path: &Path) -> Result<File, SafeFileError> {
    create_new_with(path, OpenOptions::new().append(true))
}

/// Opens an existing regular file for reading without following a symbolic
/// link: a link is [`SafeFileError::Symlink`], a directory or device
/// [`SafeFileError::NotRegularFile`].
pub fn open_no_follow(path: &Path) -> Result<File, SafeFileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow_flag())
        .open(path)
        .map_err(|e| {
            if is_symlink_refusal(&e) {
                SafeFileError::Symlink {
                    path: path.to_path_buf(),
                }
            } else {
                SafeFileError::io("opening", path, e)
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| SafeFileError::io("inspecting", path, e))?;
    if !meta.file_type().is_file() {
        return Err(SafeFileError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// [`open_no_follow`], then refuses a file owned by another user or with any
/// group or other permission bits. The checks run on the opened descriptor,
/// so a file swapped after the check cannot slip through.
pub fn open_private(path: &Path) -> Result<File, SafeFileError> {
    let file = open_no_follow(path)?;
    let meta = file
        .metadata()
        .map_err(|e| SafeFileError::io("inspecting", path, e))?;
    check_private(path, &meta, PRIVATE_FILE_MODE)?;
    Ok(file)
}

/// Refuses `meta` (of `path`) when another user owns it or when group or
/// other users have any permission bit. `expected` only labels the error.
pub fn check_private(
    path: &Path,
    meta: &std::fs::Metadata,
    expected: u32,
) -> Result<(), SafeFileError> {
    let current = current_uid();
    if meta.uid() != current {
        return Err(SafeFileError::WrongOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            current,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SafeFileError::InsecureMode {
            path: path.to_path_buf(),
            mode,
            expected,
        });
    }
    Ok(())
}

/// Checks an existing file without opening it: a regular file (not a link),
/// owned by the current user, no group or other bits.
pub fn check_private_file(path: &Path) -> Result<(), SafeFileError> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| SafeFileError::io("inspecting", path, e))?;
    if meta.file_type().is_symlink() {
        return Err(SafeFileError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_file() {
        return Err(SafeFileError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    check_private(path, &meta, PRIVATE_FILE_MODE)
}

/// Checks an existing directory: a directory (not a link), owned by the
/// current user, no group or other bits.
pub fn check_private_dir(dir: &Path) -> Result<(), SafeFileError> {
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| SafeFileError::io("inspecting", dir, e))?;
    if !meta.is_dir() {
        return Err(SafeFileError::NotDirectory {
            path: dir.to_path_buf(),
        });
    }
    check_private(dir, &meta, PRIVATE_DIR_MODE)
}

/// Creates `dir` (and missing parents) with mode 0700 when it does not exist,
/// and makes the new entry durable; returns whether it was created. An
/// existing directory is left as it is (see [`ensure_private_dir`] to check
/// it); an existing non-directory is [`SafeFileError::NotDirectory`].
pub fn create_private_dir(dir: &Path) -> Result<bool, SafeFileError> {
    if dir.as_os_str().is_empty() {
        return Ok(false);
    }
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(false),
        Ok(_) => {
            return Err(SafeFileError::NotDirectory {
                path: dir.to_path_buf(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(SafeFileError::io("inspecting directory", dir, e)),
    }
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .map_err(|e| SafeFileError::io("creating directory", dir, e))?;
    sync_parent(dir)?;
    Ok(true)
}

/// Creates `dir` like [`create_private_dir`], then refuses it unless it is a
/// real directory (not a link) owned by the current user with no group or
/// other access.
pub fn ensure_private_dir(dir: &Path) -> Result<(), SafeFileError> {
    match std::fs::symlink_metadata(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_private_dir(dir)?;
        }
        Err(e) => return Err(SafeFileError::io("inspecting directory", dir, e)),
    }
    check_private_dir(dir)
}

/// The steps of an atomic replacement, in order (see [`write_atomic_observed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteStep {
    /// The temp file exists, empty.
    Created,
    /// The content is written but not synced.
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
    pub const ALL: [WriteStep; 5] = [
        WriteStep::Created,
        WriteStep::Written,
        WriteStep::Synced,
        WriteStep::Renamed,
        WriteStep::DirSynced,
    ];
}

/// `.<name>.tmp-<16 random hex digits>` beside `target`.
fn temp_path(target: &Path) -> Result<PathBuf, SafeFileError> {
    let name = target.file_name().ok_or_else(|| {
        SafeFileError::io(
            "naming a temp file for",
            target,
            io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"),
        )
    })?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| {
        SafeFileError::io(
            "naming a temp file for",
            target,
            io::Error::other(format!("random generator failed: {e}")),
        )
    })?;
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp-");
    for byte in suffix {
        temp_name.push(format!("{byte:02x}"));
    }
    Ok(parent_dir(target).join(temp_name))
}

/// Removes the temp files that killed atomic writes of `target` left beside
/// it (`.<name>.tmp-<16 hex digits>`, the names [`write_atomic`] uses) and
/// returns how many it removed. Nothing else is touched, and a symbolic link
/// with such a name is unlinked, never followed.
///
/// Call it only while holding the lock that serializes writes of `target`:
/// a temp file of a write in progress looks exactly like a stale one.
pub fn remove_stale_temps(target: &Path) -> Result<usize, SafeFileError> {
    let Some(name) = target.file_name() else {
        return Ok(0);
    };
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".tmp-");
    let prefix = prefix.as_encoded_bytes();
    let dir = parent_dir(target);
    let entries = std::fs::read_dir(dir).map_err(|e| SafeFileError::io("listing", dir, e))?;
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| SafeFileError::io("listing", dir, e))?;
        let file_name = entry.file_name();
        let is_temp = file_name
            .as_encoded_bytes()
            .strip_prefix(prefix)
            .is_some_and(|rest| {
                rest.len() == 16
                    && rest
                        .iter()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            });
        if is_temp {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| SafeFileError::io("removing", &path, e))?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// How the temp file takes the target's name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// rename(2): replaces an existing target atomically.
    Replace,
    /// link(2) then unlink: fails if the target exists.
    New,
}

type Hook<'a> = &'a mut dyn FnMut(WriteStep) -> io::Result<()>;

fn write_atomic_impl<E: From<SafeFileError>>(
    target: &Path,
    mode: u32,
    place: Place,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
    hook: Hook<'_>,
) -> Result<(), E> {
    let temp = temp_path(target)?;
    let mut file = create_new_private(&temp)?;
    let mut crashed = false;
    let result = finish(
        target,
        &temp,
        &mut file,
        mode,
        place,
        fill,
        hook,
        &mut crashed,
    );
    if result.is_err() && !crashed {
        // A real failure (disk full, ...): leave nothing behind. A simulated
        // crash leaves the temp file, as a real crash would.
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[allow(
    clippy::too_many_arguments,
    reason = "private helper; the arguments are the write's whole state"
)]
fn finish<E: From<SafeFileError>>(
    target: &Path,
    temp: &Path,
    file: &mut File,
    mode: u32,
    place: Place,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
    hook: Hook<'_>,
    crashed: &mut bool,
) -> Result<(), E> {
    let mut step = |step: WriteStep| -> Result<(), SafeFileError> {
        hook(step).map_err(|e| {
            *crashed = true;
            SafeFileError::io("interrupted while writing", target, e)
        })
    };
    step(WriteStep::Created)?;
    fill(file)?;
    if mode != PRIVATE_FILE_MODE {
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| SafeFileError::io("setting the mode of", temp, e))?;
    }
    step(WriteStep::Written)?;
    file.sync_all()
        .map_err(|e| SafeFileError::io("syncing", temp, e))?;
    step(WriteStep::Synced)?;
    match place {
        Place::Replace => std::fs::rename(temp, target)
            .map_err(|e| SafeFileError::io("renaming into place", target, e))?,
        Place::New => {
            std::fs::hard_link(temp, target).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    SafeFileError::AlreadyExists {
                        path: target.to_path_buf(),
                    }
                } else {
                    SafeFileError::io("linking into place", target, e)
                }
            })?;
            std::fs::remove_file(temp).map_err(|e| SafeFileError::io("removing", temp, e))?;
        }
    }
    step(WriteStep::Renamed)?;
    sync_parent(target)?;
    step(WriteStep::DirSynced)?;
    Ok(())
}

/// Atomically and durably replaces (or creates) `path` with `bytes`, leaving
/// the file with `mode`. A crash at any point leaves the old content or the
/// new, never a mix; on an error nothing is left behind. A symbolic link at
/// `path` is replaced by the file, never written through.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SafeFileError> {
    write_atomic_with(path, mode, |file| {
        io::Write::write_all(file, bytes).map_err(|e| SafeFileError::io("writing", path, e))
    })
}

/// [`write_atomic`] with content written by `fill` into the temp file (for
/// content too large to hold in memory). An error from `fill` aborts the
/// write and removes the temp file.
pub fn write_atomic_with<E: From<SafeFileError>>(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
) -> Result<(), E> {
    write_atomic_impl(path, mode, Place::Replace, fill, &mut |_| Ok(()))
}

/// [`write_atomic_with`] for a file that must not exist yet: fails with
/// [`SafeFileError::AlreadyExists`] (and leaves the existing file alone) if
/// the name is taken when the content is ready to be put in place.
pub fn write_new_atomic_with<E: From<SafeFileError>>(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
) -> Result<(), E> {
    write_atomic_impl(path, mode, Place::New, fill, &mut |_| Ok(()))
}

/// [`write_atomic`] that calls `hook` after each [`WriteStep`], for crash
/// tests: an error from the hook stops the write right there, without any
/// cleanup, exactly as a crash would (the temp file stays).
pub fn write_atomic_observed(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    hook: &mut dyn FnMut(WriteStep) -> io::Result<()>,
) -> Result<(), SafeFileError> {
    write_atomic_impl(
        path,
        mode,
        Place::Replace,
        |file| io::Write::write_all(file, bytes).map_err(|e| SafeFileError::io("writing", path, e)),
        hook,
    )
}

/// An exclusive, non-blocking lock on a lock file, held until dropped.
///
/// The lock file is created when missing (mode 0600, never through a
/// symbolic link) and left in place. The lock is `flock(2)`, taken through
/// [`File::try_lock`], so it excludes other processes and other handles in
/// the same process alike.
#[derive(Debug)]
pub struct LockFile {
    file: File,
    path: PathBuf,
}

impl LockFile {
    /// Takes the lock on `path`, or fails at once with
    /// [`SafeFileError::Locked`] when another holder has it.
    pub fn try_acquire(path: &Path) -> Result<LockFile, SafeFileError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE_MODE)
            .custom_flags(no_follow_flag())
            .open(path)
            .map_err(|e| {
                if is_symlink_refusal(&e) {
                    SafeFileError::Symlink {
                        path: path.to_path_buf(),
                    }
                } else {
                    SafeFileError::io("opening lock file", path, e)
                }
            })?;
        match file.try_lock() {
            Ok(()) => Ok(LockFile {
                file,
                path: path.to_path_buf(),
            }),
            Err(TryLockError::WouldBlock) => Err(SafeFileError::Locked {
                path: path.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(SafeFileError::io("locking", path, e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open lock file (the lock is released when the [`LockFile`] drops).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The open lock file itself, for a holder that keeps a plain [`File`]:
    /// the lock belongs to the open file and lasts until it is closed.
    pub fn into_file(self) -> File {
        self.file
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn crash_at(at: WriteStep) -> impl FnMut(WriteStep) -> io::Result<()> {
        move |now| {
            if now == at {
                Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "simulated crash",
                ))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn write_atomic_replaces_with_the_requested_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomic(&path, b"one", PRIVATE_FILE_MODE).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        write_atomic(&path, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(mode_of(&path), 0o644);
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn a_crash_after_any_step_leaves_old_or_new() {
        for at in WriteStep::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state");
            write_atomic(&path, b"old content", PRIVATE_FILE_MODE).unwrap();
            let error =
                write_atomic_observed(&path, b"new content", PRIVATE_FILE_MODE, &mut crash_at(at))
                    .unwrap_err();
            assert!(matches!(error, SafeFileError::Io { .. }), "{error}");
            let expected: &[u8] = if matches!(at, WriteStep::Renamed | WriteStep::DirSynced) {
                b"new content"
            } else {
                b"old content"
            };
            assert_eq!(std::fs::read(&path).unwrap(), expected, "{at:?}");
        }
    }

    #[test]
    fn a_failed_fill_removes_the_temp_file_and_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        write_atomic(&path, b"old", PRIVATE_FILE_MODE).unwrap();
        let result: Result<(), SafeFileError> =
            write_atomic_with(&path, PRIVATE_FILE_MODE, |file| {
                io::Write::write_all(file, b"half").unwrap();
                Err(SafeFileError::io(
                    "writing",
                    &path,
                    io::Error::other("disk full"),
                ))
            });
        assert!(result.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["state"]);
    }

    #[test]
    fn write_atomic_replaces_a_symlink_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = dir.path().join("state");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomic(&link, b"new", PRIVATE_FILE_MODE).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(
            !std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn write_new_atomic_refuses_an_existing_file_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backup");
        write_new_atomic_with(&path, PRIVATE_FILE_MODE, |file| {
            io::Write::write_all(file, b"first").map_err(|e| SafeFileError::io("writing", &path, e))
        })
        .unwrap();
        let second = write_new_atomic_with(&path, PRIVATE_FILE_MODE, |file| {
            io::Write::write_all(file, b"second")
                .map_err(|e| SafeFileError::io("writing", &path, e))
        });
        assert!(
            matches!(second, Err(SafeFileError::AlreadyExists { .. })),
            "{second:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(names(dir.path()), ["backup"]);
    }

    #[test]
    fn create_new_private_is_0600_and_refuses_existing_files_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export");
        create_new_private(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert!(matches!(
            create_new_private(&path),
            Err(SafeFileError::AlreadyExists { .. })
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        let error = create_new_private(&link).unwrap_err();
        assert!(matches!(error, SafeFileError::Symlink { .. }), "{error}");
        assert!(
            !dir.path().join("nowhere").exists(),
            "nothing created through the link"
        );
        assert!(matches!(
            create_new_private_append(&link),
            Err(SafeFileError::Symlink { .. })
        ));
    }

    #[test]
    fn open_no_follow_refuses_symlinks_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        create_new_private(&target).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_no_follow(&target).is_ok());
        assert!(matches!(
            open_no_follow(&link),
            Err(SafeFileError::Symlink { .. })
        ));
        assert!(matches!(
            open_no_follow(dir.path()),
            Err(SafeFileError::NotRegularFile { .. })
        ));
        let missing = open_no_follow(&dir.path().join("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(missing.to_string().contains("missing"), "{missing}");
    }

    #[test]
    fn open_private_refuses_group_or_other_bits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create_new_private(&path).unwrap();
        assert!(open_private(&path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = open_private(&path).unwrap_err();
        assert!(
            matches!(
                error,
                SafeFileError::InsecureMode {
                    mode: 0o640,
                    expected: 0o600,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
        assert!(matches!(
            check_private_file(&path),
            Err(SafeFileError::InsecureMode { .. })
        ));
    }

    #[test]
    fn private_dirs_are_0700_and_open_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        assert!(create_private_dir(&nested).unwrap());
        assert_eq!(mode_of(&nested), 0o700);
        assert!(!create_private_dir(&nested).unwrap(), "already there");
        ensure_private_dir(&nested).unwrap();
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            ensure_private_dir(&nested),
            Err(SafeFileError::InsecureMode {
                mode: 0o755,
                expected: 0o700,
                ..
            })
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&nested, &link).unwrap();
        assert!(matches!(
            ensure_private_dir(&link),
            Err(SafeFileError::NotDirectory { .. })
        ));
        let file = dir.path().join("file");
        create_new_private(&file).unwrap();
        assert!(matches!(
            create_private_dir(&file),
            Err(SafeFileError::NotDirectory { .. })
        ));
    }

    #[test]
    fn a_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("LOCK");
        let first = LockFile::try_acquire(&path).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let second = LockFile::try_acquire(&path).unwrap_err();
        assert!(matches!(second, SafeFileError::Locked { .. }), "{second}");
        assert_eq!(second.path(), path);
        drop(first);
        let again = LockFile::try_acquire(&path).unwrap();
        assert_eq!(again.path(), path);
        // The lock survives into_file and ends when that file closes.
        let file = again.into_file();
        assert!(matches!(
            LockFile::try_acquire(&path),
            Err(SafeFileError::Locked { .. })
        ));
        drop(file);
        LockFile::try_acquire(&path).unwrap();
    }

    #[test]
    fn a_lock_file_is_never_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("LOCK");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(matches!(
            LockFile::try_acquire(&link),
            Err(SafeFileError::Symlink { .. })
        ));
        assert!(!dir.path().join("elsewhere").exists());
    }

    #[test]
    fn errors_convert_to_io_errors_with_the_right_kind() {
        let error = SafeFileError::Locked {
            path: PathBuf::from("/x/LOCK"),
        };
        let io_error: io::Error = error.into();
        assert_eq!(io_error.kind(), io::ErrorKind::WouldBlock);
        assert!(io_error.to_string().contains("/x/LOCK"));
    }
}
