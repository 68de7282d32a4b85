//! The gateway's client keys: the vault's registry, rebuilt when the vault
//! file changes, so keys issued, rotated or revoked while the session runs
//! (`asta keys ...` in another process) take effect within a second.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use asta_vault::{ClientKeyInfo, ClientKeyRefusal, ClientKeyRegistry, Vault};
use chrono::{DateTime, Utc};

use crate::context::vault_failure;
use crate::failure::Failure;

/// How often the vault file is looked at for changes.
pub const KEY_WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// What identifies one version of the vault file on disk: a replacement
/// (atomic rename) changes the inode; an edit in place the size or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

fn stamp(path: &std::path::Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    })
}

/// The client keys the gateway accepts, kept current with the vault file.
pub struct KeyRing {
    path: PathBuf,
    vault: Arc<Mutex<Vault>>,
    registry: RwLock<Arc<ClientKeyRegistry>>,
    seen: Mutex<Option<FileStamp>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("path", &self.path)
            .field("registry", &self.current())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The registry of `vault` (whose file is `path`).
    pub fn open(path: PathBuf, vault: Arc<Mutex<Vault>>) -> Result<KeyRing, Failure> {
        let seen = stamp(&path);
        let registry = vault
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .client_key_registry()
            .map_err(vault_failure)?;
        Ok(KeyRing {
            path,
            vault,
            registry: RwLock::new(Arc::new(registry)),
            seen: Mutex::new(seen),
        })
    }

    /// The registry in force.
    pub fn current(&self) -> Arc<ClientKeyRegistry> {
        Arc::clone(&self.registry.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Checks a presented key at `now` (the key's record, cloned, or why not).
    pub fn authenticate(
        &self,
        presented: &str,
        now: DateTime<Utc>,
    ) -> Result<ClientKeyInfo, ClientKeyRefusal> {
        self.current().authenticate(presented, now).cloned()
    }

    /// Rebuilds the registry if the vault file changed since the last look.
    /// `Ok(true)` when it was rebuilt. A vault that cannot be read back
    /// keeps the registry in force and is reported (the next look tries
    /// again).
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = stamp(&self.path);
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                return Ok(false);
            }
            *seen = now;
        }
        let registry = {
            let mut vault = self.vault.lock().unwrap_or_else(PoisonError::into_inner);
            vault.refresh().map_err(|e| e.to_string())?;
            vault.client_key_registry().map_err(|e| e.to_string())?
        };
        *self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(registry);
        Ok(true)
    }

    /// Watches the vault file until the task is aborted.
    pub async fn watch(self: Arc<Self>) {
        let mut complained = false;
        loop {
            tokio::time::sleep(KEY_WATCH_INTERVAL).await;
            let ring = Arc::clone(&self);
            let result = tokio::task::spawn_blocking(move || ring.reload_if_changed()).await;
            match result {
                Ok(Ok(_)) => complained = false,
                Ok(Err(why)) if !complained => {
                    eprintln!(
                        "asta serve: the vault changed but cannot be read back ({why}); the client keys in force stay"
                    );
                    complained = true;
                    // Look again next time even though the file is unchanged.
                    *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                Ok(Err(_)) => {
                    *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                Err(_) => {}
            }
        }
    }
}
