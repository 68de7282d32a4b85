//! The vault's view of [`asta_core::safe_file`]: the same file-safety
//! primitives as every other ASTA crate, with their errors mapped onto
//! [`VaultError`].

use std::fs::File;
use std::path::Path;

use asta_core::safe_file::{self, SafeFileError};

use crate::error::VaultError;

/// Maps a file-safety error onto the vault's error type; `op` labels plain
/// I/O failures ("cannot write vault", ...).
pub(crate) fn vault_error(op: &'static str, error: SafeFileError) -> VaultError {
    match error {
        SafeFileError::Symlink { path }
        | SafeFileError::NotRegularFile { path }
        | SafeFileError::NotDirectory { path } => VaultError::NotRegularFile { path },
        SafeFileError::InsecureMode { path, mode, .. } => {
            VaultError::InsecurePermissions { path, mode }
        }
        SafeFileError::WrongOwner {
            path,
            owner,
            current,
        } => VaultError::WrongOwner {
            path,
            owner,
            current,
        },
        SafeFileError::Io { path, source, .. } => VaultError::io(op, path, source),
        other => {
            let path = other.path().to_path_buf();
            VaultError::io(op, path, other.into())
        }
    }
}

/// Opens `path` for reading after checking that it is a regular file (never
/// through a symlink) owned by the current user with no group or other
/// permission bits. The checks run on the opened descriptor.
pub(crate) fn open_private_file(path: &Path) -> Result<File, VaultError> {
    safe_file::open_private(path).map_err(|e| vault_error("cannot open", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_file_is_accepted_and_0644_refused_with_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        safe_file::create_new_private(&path).unwrap();
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
        safe_file::create_new_private(&target).unwrap();
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
    fn a_missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing");
        let err = open_private_file(&path).unwrap_err();
        assert!(
            matches!(&err, VaultError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err}"
        );
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
