//! Opening files that must be private: regular file, owned by us, mode 0600
//! or stricter, never through a symlink (the rules ssh applies to its keys).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::VaultError;

/// `O_NOFOLLOW` as the `i32` that `OpenOptionsExt::custom_flags` wants.
pub(crate) fn no_follow_flag() -> i32 {
    i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0)
}

/// The effective uid of this process.
pub(crate) fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Opens `path` for reading after checking that it is a regular file owned by
/// the current user with no group or other permission bits.
///
/// The checks run on the opened descriptor (and the path is opened with
/// `O_NOFOLLOW`), so a file swapped between the check and the open is caught.
pub(crate) fn open_private_file(path: &Path) -> Result<File, VaultError> {
    let link_meta =
        std::fs::symlink_metadata(path).map_err(|e| VaultError::io("cannot read", path, e))?;
    if !link_meta.file_type().is_file() {
        return Err(VaultError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow_flag())
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                VaultError::NotRegularFile {
                    path: path.to_path_buf(),
                }
            } else {
                VaultError::io("cannot open", path, e)
            }
        })?;
    let meta = file
        .metadata()
        .map_err(|e| VaultError::io("cannot stat", path, e))?;
    if !meta.file_type().is_file() || meta.ino() != link_meta.ino() || meta.dev() != link_meta.dev()
    {
        return Err(VaultError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    check_private(path, &meta)?;
    Ok(file)
}

/// Refuses a file owned by someone else or with any group/other bits set.
pub(crate) fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), VaultError> {
    let current = current_uid();
    if meta.uid() != current {
        return Err(VaultError::WrongOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            current,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(VaultError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates a new file with mode 0600 (never replacing an existing file or
/// following a symlink).
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(no_follow_flag())
        .open(path)
}

/// Syncs the directory that holds `path`, so a rename or create in it is durable.
pub(crate) fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = parent_dir(path);
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_file_is_accepted_and_0644_refused_with_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        create_private_file(&path).unwrap();
        assert!(open_private_file(&path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = open_private_file(&path).unwrap_err();
        assert!(matches!(
            err,
            VaultError::InsecurePermissions { mode: 0o644, .. }
        ));
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn symlinks_and_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        create_private_file(&target).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            open_private_file(&link),
            Err(VaultError::NotRegularFile { .. })
        ));
        assert!(matches!(
            open_private_file(dir.path()),
            Err(VaultError::NotRegularFile { .. })
        ));
    }

    #[test]
    fn create_private_file_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        create_private_file(&path).unwrap();
        assert_eq!(
            create_private_file(&path).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0);
    }
}
