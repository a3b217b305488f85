//! Opening the database: the writing and reading connections, the schema
//! and its upgrades, and the SQL, with the table name filled in once.

use std::path::Path;
use std::time::Duration;

use reqcache::storage::{StorageError, StorageErrorKind};
use rusqlite::{Connection, OpenFlags};

/// Opens the writing connection: WAL mode, the schema created or brought
/// up to date, and a write-ahead log kept to `wal_limit` bytes.
pub(crate) fn open_writer(
    path: &Path,
    busy_timeout: Duration,
    queries: &Queries,
    wal_limit: u64,
) -> Result<Connection, StorageError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            StorageError::with_source(
                StorageErrorKind::Io,
                format!("cannot create {}", parent.display()),
                e,
            )
        })?;
    }
    let open_error = || format!("cannot open {}", path.display());
    let connection = Connection::open(path).map_err(backend(&open_error()))?;
    connection
        .busy_timeout(busy_timeout)
        .map_err(backend(&open_error()))?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(backend(&open_error()))?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(backend(&open_error()))?;
    // The log is checkpointed once it holds `wal_limit` bytes, and cut
    // back to that size when it restarts: without a limit it keeps the
    // size of the largest transaction ever written.
    let page_size: i64 = connection
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .map_err(backend(&open_error()))?;
    let wal_limit = i64::try_from(wal_limit).unwrap_or(i64::MAX);
    connection
        .pragma_update(None, "journal_size_limit", wal_limit)
        .map_err(backend(&open_error()))?;
    connection
        .pragma_update(
            None,
            "wal_autocheckpoint",
            (wal_limit / page_size.max(512)).max(16),
        )
        .map_err(backend(&open_error()))?;
    connection
        .execute_batch(&queries.schema())
        .map_err(backend("cannot create the schema"))?;
    let table = &queries.table;
    add_column(&connection, table, "kind", "INTEGER NOT NULL DEFAULT 0")
        .map_err(backend("cannot add the kind column"))?;
    add_column(&connection, table, "accessed", "INTEGER")
        .map_err(backend("cannot add the accessed column"))?;
    connection
        .execute_batch(&queries.accessed_index())
        .map_err(backend("cannot create the accessed index"))?;
    Ok(connection)
}

/// Gives a table written by an older version a column it lacks: `kind`
/// (every row it has is a response, kind 0) or `accessed` (its rows have
/// no access stamp, and go first when the bound evicts). Two processes may
/// race to add it.
fn add_column(
    connection: &Connection,
    table: &str,
    column: &str,
    definition: &str,
) -> rusqlite::Result<()> {
    let exists = connection
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
        ))?
        .exists([])?;
    if exists {
        return Ok(());
    }
    match connection.execute_batch(&format!(
        "ALTER TABLE {table} ADD COLUMN {column} {definition}"
    )) {
        Err(error) if error.to_string().contains("duplicate column") => Ok(()),
        other => other,
    }
}

/// Opens a read-only connection whose busy timeout is zero.
pub(crate) fn open_reader(path: &Path, mmap_size: u64) -> Result<Connection, StorageError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let connection = Connection::open_with_flags(path, flags)
        .map_err(backend(&format!("cannot open {}", path.display())))?;
    // Never block the async caller on a lock: a busy database is a miss.
    connection
        .busy_timeout(Duration::ZERO)
        .map_err(backend("cannot configure a reader"))?;
    if mmap_size > 0 {
        connection
            .pragma_update(
                None,
                "mmap_size",
                i64::try_from(mmap_size).unwrap_or(i64::MAX),
            )
            .map_err(backend("cannot configure a reader"))?;
    }
    Ok(connection)
}

/// The SQL, with the table name filled in once.
pub(crate) struct Queries {
    pub(crate) table: String,
    pub(crate) get: String,
    pub(crate) put: String,
    pub(crate) put_zeroblob: String,
    pub(crate) delete: String,
    pub(crate) delete_url: String,
    pub(crate) clear: String,
    pub(crate) len: String,
    pub(crate) size: String,
    pub(crate) entries: String,
    pub(crate) remove_expired: String,
    /// Rows past their retention, `?2` at most: what the sweeper deletes,
    /// and what the bound evicts first.
    pub(crate) sweep: String,
    /// The `?1` rows least recently used.
    pub(crate) evict_least_recent: String,
    /// Stamps `?1` used at `?2`, unless stamped later.
    pub(crate) touch: String,
    pub(crate) count_evictions: String,
    pub(crate) evictions: String,
}

impl Queries {
    pub(crate) fn new(table: String) -> Self {
        let t = &table;
        Self {
            get: format!(
                "SELECT value, accessed FROM {t} \
                 WHERE key = ?1 AND (retain_until IS NULL OR retain_until > ?2)"
            ),
            put: format!(
                "INSERT OR REPLACE INTO {t} \
                 (key, method, url, status, size, created_at, expires, retain_until, kind, accessed, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?6, ?10)"
            ),
            put_zeroblob: format!(
                "INSERT OR REPLACE INTO {t} \
                 (key, method, url, status, size, created_at, expires, retain_until, kind, accessed, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?6, zeroblob(?10))"
            ),
            delete: format!("DELETE FROM {t} WHERE key = ?1"),
            delete_url: format!("DELETE FROM {t} WHERE url = ?1"),
            clear: format!("DELETE FROM {t}"),
            len: format!("SELECT COUNT(*) FROM {t} WHERE kind = 0"),
            size: format!("SELECT COALESCE(SUM(size), 0) FROM {t}"),
            entries: format!(
                "SELECT key, method, url, status, size, created_at, expires, retain_until, kind FROM {t}"
            ),
            remove_expired: format!("DELETE FROM {t} WHERE expires <= ?1 OR retain_until <= ?1"),
            sweep: format!(
                "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} \
                 WHERE retain_until <= ?1 OR (retain_until IS NULL AND expires <= ?3) LIMIT ?2)"
            ),
            evict_least_recent: format!(
                "DELETE FROM {t} WHERE rowid IN (SELECT rowid FROM {t} ORDER BY accessed LIMIT ?1)"
            ),
            touch: format!(
                "UPDATE {t} SET accessed = ?2 WHERE key = ?1 AND (accessed IS NULL OR accessed < ?2)"
            ),
            count_evictions: format!(
                "INSERT INTO {t}_counters (name, value) VALUES ('evictions', ?1) \
                 ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"
            ),
            evictions: format!("SELECT value FROM {t}_counters WHERE name = 'evictions'"),
            table,
        }
    }

    /// The table, its indexes and its counters. A new table has `value`
    /// last, which lets a `zeroblob` be written in place.
    fn schema(&self) -> String {
        let t = &self.table;
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                key TEXT PRIMARY KEY NOT NULL,
                method TEXT NOT NULL,
                url TEXT NOT NULL,
                status INTEGER NOT NULL,
                size INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                expires INTEGER,
                retain_until INTEGER,
                kind INTEGER NOT NULL DEFAULT 0,
                accessed INTEGER,
                value BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires) WHERE expires IS NOT NULL;
            CREATE INDEX IF NOT EXISTS {t}_retain_until ON {t} (retain_until) WHERE retain_until IS NOT NULL;
            CREATE INDEX IF NOT EXISTS {t}_url ON {t} (url);
            CREATE TABLE IF NOT EXISTS {t}_counters (
                name TEXT PRIMARY KEY NOT NULL,
                value INTEGER NOT NULL
            ) WITHOUT ROWID;"
        )
    }

    /// The index eviction walks, created once the column exists.
    fn accessed_index(&self) -> String {
        let t = &self.table;
        format!("CREATE INDEX IF NOT EXISTS {t}_accessed ON {t} (accessed);")
    }
}

/// A SQLite error as a [`StorageErrorKind::Backend`] error saying `message`.
pub(crate) fn backend(message: &str) -> impl FnOnce(rusqlite::Error) -> StorageError + '_ {
    move |error| StorageError::with_source(StorageErrorKind::Backend, message, error)
}
