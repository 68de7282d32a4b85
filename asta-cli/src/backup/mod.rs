//! Sealed backups of SQLite databases, the vault, the audit directory, the
//! risk state, the configuration, the instrument catalog and the calendar.
//!
//! `create` snapshots every configured SQLite database with SQLite's online
//! backup API (never a raw copy of a live database), copies the vault file
//! (writes to it are atomic renames, so any open sees one whole version),
//! the audit segments and the other files, lays them out as a [`bundle`] in a private temporary
//! file, and seals that with asta-vault's chunked stream sealing into
//! `asta-backup-<UTC time>.sealed`.
//!
//! A restore never shortens or replaces the present audit trail unless the
//! trail in the backup extends it (every present file is a byte prefix of
//! the backup's file of the same name); otherwise it refuses, and only
//! [`RestoreOptions::replace_audit_trail`] lets it go ahead, after moving
//! the present trail aside (renamed, never deleted).
//!
//! Keys: by default the vault's `backup.seal_key` entry (created on first
//! use). A backup sealed that way cannot bring back a *lost* vault (its key
//! is inside it), so disaster-recovery backups use a passphrase instead.

pub mod bundle;
pub mod sqlite;

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use asta_core::safe_file::{self, SafeFileError};
use asta_vault::{Argon2Params, SealError, SealKey};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use secrecy::SecretString;

use bundle::{BundleError, Entry, EntryKind, Manifest};

/// File name prefix of backups.
pub const BACKUP_PREFIX: &str = "asta-backup-";
/// File name suffix of backups.
pub const BACKUP_SUFFIX: &str = ".sealed";
const STAMP_FORMAT: &str = "%Y%m%dT%H%M%S%3fZ";

/// What seals and opens a backup.
#[derive(Debug)]
pub enum Sealing {
    /// A 256-bit key held in the vault.
    Key(SealKey),
    /// A passphrase through Argon2id (for backups that must restore a lost vault).
    Passphrase(SecretString),
}

/// What to back up.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// SQLite databases.
    pub databases: Vec<PathBuf>,
    /// The vault file.
    pub vault: Option<PathBuf>,
    /// The audit directory (every regular file directly in it).
    pub audit_dir: Option<PathBuf>,
    /// Single files of the other kinds (risk state, configuration,
    /// instrument catalog, calendar); missing ones are skipped.
    pub files: Vec<(EntryKind, PathBuf)>,
}

/// Where a restore writes each kind of entry.
#[derive(Debug, Clone)]
pub struct Targets {
    /// Directory for databases (by file name), or the configured paths.
    pub databases: Vec<PathBuf>,
    /// The vault file.
    pub vault: PathBuf,
    /// The audit directory.
    pub audit_dir: PathBuf,
    /// Where each single-file kind goes; an entry whose kind has no target
    /// here is not restored (and is listed as skipped).
    pub files: Vec<(EntryKind, PathBuf)>,
}

/// How a restore may treat what exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// Replace files that exist.
    pub force: bool,
    /// Restore an audit trail that does not extend the present one, after
    /// moving the present one aside.
    pub replace_audit_trail: bool,
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    /// Every file written.
    pub restored: Vec<PathBuf>,
    /// Entries with no configured place, not restored (`kind name`).
    pub skipped: Vec<String>,
    /// Where the present audit trail was moved when it was replaced.
    pub audit_trail_kept_at: Option<PathBuf>,
}

/// Why a backup operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// File-system trouble.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Sealing or opening failed (wrong key, tampering, truncation).
    #[error("the backup seal does not open: {0}")]
    Seal(#[from] SealError),
    /// The bundle inside is malformed or damaged.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A database snapshot or integrity check failed.
    #[error(transparent)]
    Sqlite(#[from] sqlite::SqliteError),
    /// A restore would overwrite existing files.
    #[error("restore would overwrite {0}; use --force to replace it")]
    WouldOverwrite(PathBuf),
    /// A backup with the same name (the same millisecond) exists.
    #[error("backup {0} already exists")]
    Exists(PathBuf),
    /// A database entry matches no configured database.
    #[error("backup holds database {0}, which the configuration does not name")]
    UnknownDatabase(String),
    /// Two sources share a file name.
    #[error("two databases are named {0}; give them distinct file names")]
    DuplicateName(String),
    /// The backup's audit trail does not extend the present one: restoring
    /// it would shorten or replace the record.
    #[error(
        "the audit trail in the backup does not extend the present trail in {present} ({why}); \
         restoring it would shorten or replace the record"
    )]
    WouldRewindAuditTrail {
        /// The present audit directory.
        present: PathBuf,
        /// The first difference found.
        why: String,
    },
    /// The present audit trail is open for writing (a running session).
    #[error("the audit trail in {0} is in use by a running process; stop it first")]
    AuditTrailInUse(PathBuf),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> BackupError + 'a {
    move |source| BackupError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A private (0700) scratch directory inside `parent`, removed on drop.
fn scratch(parent: &Path) -> Result<tempfile::TempDir, BackupError> {
    let dir = tempfile::Builder::new()
        .prefix(".asta-backup-")
        .tempdir_in(parent)
        .map_err(io("creating a scratch directory in", parent))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(io("protecting", dir.path()))?;
    Ok(dir)
}

impl From<SafeFileError> for BackupError {
    fn from(error: SafeFileError) -> Self {
        match error {
            SafeFileError::AlreadyExists { path } => BackupError::Exists(path),
            SafeFileError::Io { op, path, source } => BackupError::Io {
                what: op,
                path,
                source,
            },
            other => BackupError::Io {
                what: "checking",
                path: other.path().to_path_buf(),
                source: other.into(),
            },
        }
    }
}

fn create_private_file(path: &Path) -> Result<File, BackupError> {
    Ok(safe_file::create_new_private(path)?)
}

/// Creates `dir` with mode 0700 if it does not exist (an existing directory
/// is left as it is).
pub fn ensure_private_dir(dir: &Path) -> Result<(), BackupError> {
    safe_file::create_private_dir(dir)?;
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Creates a sealed backup of `sources` in `backups_dir` at `now`; returns its path.
pub fn create(
    sources: &Sources,
    backups_dir: &Path,
    sealing: &Sealing,
    now: DateTime<Utc>,
) -> Result<PathBuf, BackupError> {
    ensure_private_dir(backups_dir)?;
    let work = scratch(backups_dir)?;
    // 1. Stage every file: database snapshots, vault and audit copies.
    let mut staged: Vec<(Entry, PathBuf)> = Vec::new();
    let mut stage = |kind: EntryKind,
                     name: String,
                     fill: &dyn Fn(&Path) -> Result<(), BackupError>|
     -> Result<(), BackupError> {
        let prefix = match kind {
            EntryKind::Sqlite => "db",
            EntryKind::Vault => "vault",
            EntryKind::Audit => "audit",
            EntryKind::RiskState => "risk",
            EntryKind::Config => "config",
            EntryKind::Instruments => "instruments",
            EntryKind::Calendar => "calendar",
        };
        let path = work.path().join(format!("{prefix}-{}", staged.len()));
        fill(&path)?;
        let file = File::open(&path).map_err(io("reading", &path))?;
        let (len, sha256) =
            bundle::copy_hashed(file, std::io::sink()).map_err(io("reading", &path))?;
        staged.push((
            Entry {
                kind,
                name,
                len,
                sha256,
            },
            path,
        ));
        Ok(())
    };
    let mut names = std::collections::HashSet::new();
    for db in &sources.databases {
        let name = file_name(db);
        if !names.insert(name.clone()) {
            return Err(BackupError::DuplicateName(name));
        }
        stage(EntryKind::Sqlite, name, &|dest| {
            Ok(sqlite::snapshot(db, dest)?)
        })?;
    }
    if let Some(vault) = &sources.vault {
        stage(EntryKind::Vault, file_name(vault), &|dest| {
            std::fs::copy(vault, dest)
                .map(|_| ())
                .map_err(io("copying", vault))
        })?;
    }
    if let Some(dir) = &sources.audit_dir {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io("reading", dir))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| file_name(p) != "LOCK")
            .collect();
        files.sort();
        for file in files {
            stage(EntryKind::Audit, file_name(&file), &|dest| {
                std::fs::copy(&file, dest)
                    .map(|_| ())
                    .map_err(io("copying", &file))
            })?;
        }
    }
    for (kind, path) in &sources.files {
        if !path.is_file() {
            continue;
        }
        stage(*kind, file_name(path), &|dest| {
            let mut from = safe_file::open_no_follow(path)?;
            let mut to = create_private_file(dest)?;
            std::io::copy(&mut from, &mut to)
                .map(|_| ())
                .map_err(io("copying", path))
        })?;
    }
    // 2. Lay out the bundle in a private file.
    let manifest = Manifest {
        created: now.to_rfc3339(),
        entries: staged.iter().map(|(e, _)| e.clone()).collect(),
    };
    let plain_path = work.path().join("bundle");
    let mut plain = create_private_file(&plain_path)?;
    {
        let mut writer = std::io::BufWriter::new(&mut plain);
        bundle::write_head(&mut writer, &manifest)?;
        for (_, path) in &staged {
            let mut file = File::open(path).map_err(io("reading", path))?;
            std::io::copy(&mut file, &mut writer).map_err(io("writing", &plain_path))?;
        }
        writer.flush().map_err(io("writing", &plain_path))?;
    }
    plain
        .seek(SeekFrom::Start(0))
        .map_err(io("reading", &plain_path))?;
    // 3. Seal into a private temp file beside the final name, fsync, and put
    //    it in place only if that name is still free.
    let final_path = backups_dir.join(format!(
        "{BACKUP_PREFIX}{}{BACKUP_SUFFIX}",
        now.format(STAMP_FORMAT)
    ));
    if std::fs::symlink_metadata(&final_path).is_ok() {
        return Err(BackupError::Exists(final_path));
    }
    safe_file::write_new_atomic_with(&final_path, safe_file::PRIVATE_FILE_MODE, |sealed| {
        let writer = std::io::BufWriter::new(sealed);
        let reader = BufReader::new(&mut plain);
        match sealing {
            Sealing::Key(key) => asta_vault::seal_stream(reader, writer, key)?,
            Sealing::Passphrase(p) => {
                asta_vault::seal_stream_with_passphrase(reader, writer, p, Argon2Params::default())?
            }
        };
        Ok::<(), BackupError>(())
    })?;
    Ok(final_path)
}

/// Opens a sealed backup into a private scratch file and reads its manifest.
fn open_sealed(
    backup: &Path,
    sealing: &Sealing,
    work: &Path,
) -> Result<(Manifest, BufReader<File>), BackupError> {
    let plain_path = work.join("bundle");
    let mut plain = create_private_file(&plain_path)?;
    {
        let reader = BufReader::new(File::open(backup).map_err(io("opening", backup))?);
        let writer = std::io::BufWriter::new(&mut plain);
        match sealing {
            Sealing::Key(key) => asta_vault::open_stream(reader, writer, key)?,
            Sealing::Passphrase(p) => asta_vault::open_stream_with_passphrase(reader, writer, p)?,
        };
    }
    plain
        .seek(SeekFrom::Start(0))
        .map_err(io("reading", &plain_path))?;
    let mut reader = BufReader::new(plain);
    let manifest = bundle::read_head(&mut reader)?;
    Ok((manifest, reader))
}

/// What a verified backup holds.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// The manifest.
    pub manifest: Manifest,
}

/// Decrypts and checks a backup without restoring: the seal, every entry's
/// SHA-256, and SQLite's `integrity_check` on every database.
pub fn verify(backup: &Path, sealing: &Sealing) -> Result<VerifyReport, BackupError> {
    let parent = backup.parent().unwrap_or(Path::new("."));
    let work = scratch(parent)?;
    let (manifest, mut reader) = open_sealed(backup, sealing, work.path())?;
    for (index, entry) in manifest.entries.iter().enumerate() {
        if entry.kind == EntryKind::Sqlite {
            let path = work.path().join(format!("check-{index}.db"));
            let file = create_private_file(&path)?;
            bundle::read_entry(&mut reader, entry, std::io::BufWriter::new(file))?;
            sqlite::integrity_check(&path)?;
        } else {
            bundle::read_entry(&mut reader, entry, std::io::sink())?;
        }
    }
    Ok(VerifyReport { manifest })
}

/// Restores a backup to `targets`. Refuses to overwrite an existing file
/// unless `options.force`, and refuses an audit trail that does not extend
/// the present one unless `options.replace_audit_trail` (see the module
/// docs). Every entry is checked before anything is written; each file is
/// written to a temp file and renamed into place (0600).
pub fn restore(
    backup: &Path,
    sealing: &Sealing,
    targets: &Targets,
    options: RestoreOptions,
    now: DateTime<Utc>,
) -> Result<RestoreReport, BackupError> {
    let report = verify(backup, sealing)?;
    let destination = |entry: &Entry| -> Result<Option<PathBuf>, BackupError> {
        Ok(Some(match entry.kind {
            EntryKind::Vault => targets.vault.clone(),
            EntryKind::Audit => targets.audit_dir.join(&entry.name),
            EntryKind::Sqlite => targets
                .databases
                .iter()
                .find(|p| file_name(p) == entry.name)
                .cloned()
                .ok_or_else(|| BackupError::UnknownDatabase(entry.name.clone()))?,
            kind => match targets.files.iter().find(|(k, _)| *k == kind) {
                Some((_, path)) => path.clone(),
                None => return Ok(None),
            },
        }))
    };
    let parent = backup.parent().unwrap_or(Path::new("."));
    let work = scratch(parent)?;
    let has_audit = report
        .manifest
        .entries
        .iter()
        .any(|e| e.kind == EntryKind::Audit);
    let mut replace_trail = false;
    if has_audit {
        let staged = stage_audit(backup, sealing, work.path())?;
        if let Err(why) = extends(&targets.audit_dir, &staged)? {
            if !options.replace_audit_trail {
                return Err(BackupError::WouldRewindAuditTrail {
                    present: targets.audit_dir.clone(),
                    why,
                });
            }
            replace_trail = true;
        }
    }
    let mut out = RestoreReport::default();
    let mut planned = Vec::new();
    for entry in &report.manifest.entries {
        let dest = destination(entry)?;
        if let Some(dest) = &dest {
            let replaced_anyway = replace_trail && entry.kind == EntryKind::Audit;
            if dest.exists() && !options.force && !replaced_anyway {
                return Err(BackupError::WouldOverwrite(dest.clone()));
            }
        } else {
            out.skipped
                .push(format!("{} {}", kind_name(entry.kind), entry.name));
        }
        planned.push(dest);
    }
    if replace_trail {
        out.audit_trail_kept_at = Some(move_trail_aside(&targets.audit_dir, now)?);
    }
    let (manifest, mut reader) = open_sealed(backup, sealing, work.path())?;
    for (entry, dest) in manifest.entries.iter().zip(&planned) {
        let Some(dest) = dest else {
            bundle::read_entry(&mut reader, entry, std::io::sink())?;
            continue;
        };
        ensure_private_dir(safe_file::parent_dir(dest))?;
        safe_file::write_atomic_with(dest, safe_file::PRIVATE_FILE_MODE, |file| {
            let mut writer = std::io::BufWriter::new(file);
            bundle::read_entry(&mut reader, entry, &mut writer)?;
            writer.flush().map_err(io("writing", dest))
        })?;
        out.restored.push(dest.clone());
    }
    Ok(out)
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Sqlite => "database",
        EntryKind::Vault => "vault",
        EntryKind::Audit => "audit",
        EntryKind::RiskState => "risk-state",
        EntryKind::Config => "config",
        EntryKind::Instruments => "instruments",
        EntryKind::Calendar => "calendar",
    }
}

/// Writes the backup's audit files into `work/audit-staged` to compare.
fn stage_audit(backup: &Path, sealing: &Sealing, work: &Path) -> Result<PathBuf, BackupError> {
    let staged = work.join("audit-staged");
    safe_file::create_private_dir(&staged)?;
    let (manifest, mut reader) = open_sealed(backup, sealing, work)?;
    for entry in &manifest.entries {
        if entry.kind == EntryKind::Audit {
            let file = create_private_file(&staged.join(&entry.name))?;
            bundle::read_entry(&mut reader, entry, std::io::BufWriter::new(file))?;
        } else {
            bundle::read_entry(&mut reader, entry, std::io::sink())?;
        }
    }
    // The plain bundle is not needed again.
    let _ = std::fs::remove_file(work.join("bundle"));
    Ok(staged)
}

/// Whether the trail in `staged` extends the one in `present`: every
/// present file (the lock file aside) is a byte prefix of the staged file
/// of the same name. `Err(why)` names the first file that breaks it.
fn extends(present: &Path, staged: &Path) -> Result<Result<(), String>, BackupError> {
    let entries = match std::fs::read_dir(present) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(())),
        Err(e) => return Err(io("reading", present)(e)),
    };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io("reading", present))?;
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for name in names.iter().filter(|n| n.as_str() != "LOCK") {
        let mut mine = std::fs::read(present.join(name)).map_err(io("reading", present))?;
        // A live or crashed segment ends in zeros the audit log reserves
        // for its next records: they are not records.
        mine.truncate(mine.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1));
        let theirs = match std::fs::read(staged.join(name)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(format!("{name} is not in the backup")));
            }
            Err(e) => return Err(io("reading", staged)(e)),
        };
        if !theirs.starts_with(&mine) {
            return Ok(Err(format!(
                "{name} in the backup ({} bytes) does not begin with the present {name} ({} bytes)",
                theirs.len(),
                mine.len()
            )));
        }
    }
    Ok(Ok(()))
}

/// Renames the present audit directory to `<dir>.replaced-<UTC time>`
/// (never deletes it) after checking that no process holds its lock.
fn move_trail_aside(dir: &Path, now: DateTime<Utc>) -> Result<PathBuf, BackupError> {
    let lock = safe_file::LockFile::try_acquire(&dir.join("LOCK")).map_err(|e| match e {
        SafeFileError::Locked { .. } => BackupError::AuditTrailInUse(dir.to_path_buf()),
        other => other.into(),
    })?;
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".replaced-{}", now.format(STAMP_FORMAT)));
    let aside = safe_file::parent_dir(dir).join(name);
    if std::fs::symlink_metadata(&aside).is_ok() {
        return Err(BackupError::Exists(aside));
    }
    std::fs::rename(dir, &aside).map_err(io("moving aside", dir))?;
    drop(lock);
    safe_file::sync_parent(dir)?;
    Ok(aside)
}

/// A backup file and the instant in its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// The file.
    pub path: PathBuf,
    /// When it was made (from its name).
    pub created: DateTime<Utc>,
}

/// The backups in `dir`, oldest first (files not named like backups are ignored).
pub fn list(dir: &Path) -> Result<Vec<BackupFile>, BackupError> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(io("reading", dir)(e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stamp) = name
            .strip_prefix(BACKUP_PREFIX)
            .and_then(|s| s.strip_suffix(BACKUP_SUFFIX))
        else {
            continue;
        };
        if let Ok(naive) = NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT) {
            found.push(BackupFile {
                path: entry.path(),
                created: naive.and_utc(),
            });
        }
    }
    found.sort_by_key(|b| b.created);
    Ok(found)
}

/// Deletes backups older than `retention` at `now`, never the newest one;
/// returns what was deleted.
pub fn prune(
    dir: &Path,
    retention: TimeDelta,
    now: DateTime<Utc>,
) -> Result<Vec<PathBuf>, BackupError> {
    let backups = list(dir)?;
    let Some((_newest, older)) = backups.split_last() else {
        return Ok(Vec::new());
    };
    let mut deleted = Vec::new();
    for backup in older {
        if now.signed_duration_since(backup.created) > retention {
            std::fs::remove_file(&backup.path).map_err(io("deleting", &backup.path))?;
            deleted.push(backup.path.clone());
        }
    }
    Ok(deleted)
}

/// The vault entry that holds the backup sealing key.
pub const SEAL_KEY_ENTRY: &str = "backup.seal_key";

/// The backup sealing key from the vault, created there on first use.
pub fn vault_seal_key(vault: &mut asta_vault::Vault) -> Result<SealKey, asta_vault::VaultError> {
    if vault.contains(SEAL_KEY_ENTRY) {
        vault.seal_key(SEAL_KEY_ENTRY)
    } else {
        vault.create_seal_key(SEAL_KEY_ENTRY)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::extends;

    #[test]
    fn reserved_zeros_of_a_present_segment_are_not_records() {
        let tmp = tempfile::tempdir().unwrap();
        let (present, staged) = (tmp.path().join("present"), tmp.path().join("staged"));
        std::fs::create_dir(&present).unwrap();
        std::fs::create_dir(&staged).unwrap();
        let name = "audit-00000000000000000001.jsonl";
        let with_zeros = |text: &[u8]| [text, &[0u8; 4096][..]].concat();
        let check = |mine: &[u8], theirs: &[u8]| {
            std::fs::write(present.join(name), mine).unwrap();
            std::fs::write(staged.join(name), theirs).unwrap();
            extends(&present, &staged).unwrap().is_ok()
        };
        // A crashed present trail (records, then zeros) is extended by a
        // backup with more records.
        assert!(check(&with_zeros(b"a\n"), b"a\nb\n"));
        // A backup taken from a live trail carries zeros too.
        assert!(check(b"a\n", &with_zeros(b"a\n")));
        assert!(check(&with_zeros(b"a\n"), &with_zeros(b"a\nb\n")));
        // Fewer or other records still do not extend it.
        assert!(!check(&with_zeros(b"a\nb\n"), &with_zeros(b"a\n")));
        assert!(!check(b"a\nb\n", b"a\nc\n"));
    }
}
