//! Consistent SQLite snapshots through SQLite's online backup API.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// How many times a snapshot retries while another connection holds a lock.
const BUSY_RETRIES: u32 = 200;
/// The pause between those retries.
const BUSY_PAUSE: Duration = Duration::from_millis(10);

/// Why a database could not be snapshotted or checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite refused.
    #[error("SQLite error on {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Writers kept the database locked for the whole retry budget.
    #[error("{path} stayed locked by other connections; try again")]
    Busy {
        /// The database file.
        path: String,
    },
    /// `PRAGMA integrity_check` found damage.
    #[error("{path} failed SQLite's integrity check: {report}")]
    Corrupt {
        /// The database file.
        path: String,
        /// SQLite's report (first lines).
        report: String,
    },
}

fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> SqliteError + '_ {
    move |source| SqliteError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

/// Copies the live database at `source` into a new database file at `dest`
/// with the online backup API, in one step so the copy is a single
/// consistent snapshot even while other connections write. Never a raw file
/// copy: that can capture a half-written page or miss the WAL.
pub fn snapshot(source: &Path, dest: &Path) -> Result<(), SqliteError> {
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(source))?;
    let mut dst = Connection::open(dest).map_err(sqlite_err(dest))?;
    let backup = Backup::new(&src, &mut dst).map_err(sqlite_err(source))?;
    for _ in 0..BUSY_RETRIES {
        // -1: copy every page in one step, under one read transaction.
        match backup.step(-1).map_err(sqlite_err(source))? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked => {
                std::thread::sleep(BUSY_PAUSE);
            }
            _ => std::thread::sleep(BUSY_PAUSE),
        }
    }
    Err(SqliteError::Busy {
        path: source.display().to_string(),
    })
}

/// Runs `PRAGMA integrity_check` on the database at `path` (read-only).
pub fn integrity_check(path: &Path) -> Result<(), SqliteError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sqlite_err(path))?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(sqlite_err(path))?;
    let rows: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(sqlite_err(path))?
        .collect::<Result<_, _>>()
        .map_err(sqlite_err(path))?;
    if rows.len() == 1 && rows.first().is_some_and(|r| r == "ok") {
        Ok(())
    } else {
        Err(SqliteError::Corrupt {
            path: path.display().to_string(),
            report: rows.into_iter().take(5).collect::<Vec<_>>().join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_copies_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("live.db");
        let conn = Connection::open(&src).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);")
            .unwrap();
        let dest = dir.path().join("copy.db");
        snapshot(&src, &dest).unwrap();
        integrity_check(&dest).unwrap();
        let copy = Connection::open(&dest).unwrap();
        let n: i64 = copy
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn garbage_fails_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.db");
        std::fs::write(
            &path,
            b"this is not a database, just text padded out ........",
        )
        .unwrap();
        assert!(integrity_check(&path).is_err());
    }
}
