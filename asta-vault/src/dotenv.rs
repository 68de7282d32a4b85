//! Reading `.env` files without touching the process environment, and
//! importing them into a vault.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::vault::Vault;
use crate::vault::entry::validate_name;

/// Largest number of variables read from one file.
const MAX_DOTENV_ENTRIES: usize = 10_000;

/// One `KEY=value` pair from a `.env` file; `Debug` hides the value.
pub struct DotenvEntry {
    /// The variable name.
    pub key: String,
    /// The value.
    pub value: SecretString,
}

impl fmt::Debug for DotenvEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DotenvEntry({} = <redacted>)", self.key)
    }
}

/// Parses a `.env` file with dotenvy's iterator API. The process environment
/// is never modified (it is only read, for `${VAR}` substitution, as dotenvy
/// does). Errors never include a line of the file, which may hold a secret.
pub fn read_dotenv(path: impl AsRef<Path>) -> Result<Vec<DotenvEntry>, VaultError> {
    let path = path.as_ref();
    let iter = dotenvy::from_path_iter(path).map_err(|e| match e {
        dotenvy::Error::Io(io) => VaultError::io("cannot read .env file", path, io),
        _ => VaultError::InvalidInput(format!("cannot read .env file {}", path.display())),
    })?;
    let mut out = Vec::new();
    for item in iter {
        match item {
            Ok((key, value)) => {
                let value = Zeroizing::new(value);
                if out.len() >= MAX_DOTENV_ENTRIES {
                    return Err(VaultError::InvalidInput(format!(
                        ".env file {} has more than {MAX_DOTENV_ENTRIES} variables",
                        path.display()
                    )));
                }
                out.push(DotenvEntry {
                    key,
                    value: SecretString::from(value.as_str()),
                });
            }
            Err(dotenvy::Error::Io(io)) => {
                return Err(VaultError::io("cannot read .env file", path, io));
            }
            Err(_) => {
                return Err(VaultError::InvalidInput(format!(
                    ".env file {} has a malformed line after variable {} (line content not shown: it may hold a secret)",
                    path.display(),
                    out.len()
                )));
            }
        }
    }
    Ok(out)
}

/// How [`Vault::import_dotenv`] maps and merges variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DotenvImport {
    prefix: String,
    overwrite: bool,
}

impl DotenvImport {
    /// Names unchanged, existing entries kept.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepends `prefix` to every variable name (e.g. `env.`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Replaces existing plain secrets of the same name (their version goes up).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }
}

/// What an import did. Lists names only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries written.
    pub imported: Vec<String>,
    /// Names skipped because an entry already existed.
    pub skipped_existing: Vec<String>,
    /// Problems worth telling the operator (invalid names, file permissions).
    pub warnings: Vec<String>,
}

impl Vault {
    /// Imports the variables of a `.env` file as plain secrets, in one atomic
    /// write. Delete the `.env` file afterwards: this does not.
    pub fn import_dotenv(
        &mut self,
        path: impl AsRef<Path>,
        options: &DotenvImport,
    ) -> Result<ImportReport, VaultError> {
        let path = path.as_ref();
        let mut report = ImportReport::default();
        if let Ok(meta) = std::fs::metadata(path)
            && meta.mode() & 0o077 != 0
        {
            report.warnings.push(format!(
                "{} is readable by other users (mode {:04o}); delete it once imported",
                path.display(),
                meta.mode() & 0o7777
            ));
        }
        let mut items = Vec::new();
        for entry in read_dotenv(path)? {
            let name = format!("{}{}", options.prefix, entry.key);
            if validate_name(&name).is_err() {
                report.warnings.push(format!(
                    "skipped variable `{}`: not a valid entry name",
                    crate::error::clip(&entry.key)
                ));
                continue;
            }
            if self.contains(&name) && !options.overwrite {
                report.skipped_existing.push(name);
                continue;
            }
            if items
                .iter()
                .any(|(n, _): &(String, SecretString)| *n == name)
            {
                items.retain(|(n, _)| *n != name);
                report.imported.retain(|n| *n != name);
            }
            report.imported.push(name.clone());
            items.push((name, entry.value));
        }
        if !items.is_empty() {
            self.import_secrets(items, Some(format!("imported from {}", path.display())))?;
        }
        tracing::info!(file = %path.display(), imported = report.imported.len(), "imported .env file");
        Ok(report)
    }
}
