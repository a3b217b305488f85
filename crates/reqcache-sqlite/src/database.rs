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
    add_column(&connection, table, "body", "TEXT")
        .map_err(backend("cannot add the body column"))?;
    connection
        .execute_batch(&queries.accessed_index())
        .map_err(backend("cannot create the accessed index"))?;
    connection
        .execute_batch(&queries.chunks_schema())
        .map_err(backend("cannot create the chunks table"))?;
    connection
        .execute_batch(&queries.groups_schema())
        .map_err(backend("cannot create the groups table"))?;
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
    /// Writes chunk `?2` of body `?1`, written at `?3`.
    pub(crate) put_chunk: String,
    /// Chunk `?2` of body `?1`.
    pub(crate) get_chunk: String,
    /// How many chunks body `?1` has, and their bytes.
    pub(crate) chunks_held: String,
    /// The chunks of body `?1`.
    pub(crate) discard_chunks: String,
    /// Every chunk.
    pub(crate) clear_chunks: String,
    /// At most `?2` chunks written before `?1` that no row names.
    pub(crate) sweep_orphan_chunks: String,
    /// Puts row `?2` in group `?1`.
    pub(crate) put_group: String,
    /// The keys in group `?1`.
    pub(crate) group_keys: String,
    /// Deletes the rows in group `?1`.
    pub(crate) delete_group: String,
}

impl Queries {
    pub(crate) fn new(table: String) -> Self {
        let t = &table;
        Self {
            get: format!(
                "SELECT value, accessed FROM {t} \
                 WHERE key = ?1 AND (retain_until IS NULL OR retain_until > ?2)"
            ),
            // An upsert, not `INSERT OR REPLACE`: replacing deletes the
            // row without its delete trigger, which takes a body's chunks.
            put: format!(
                "INSERT INTO {t} \
                 (key, method, url, status, size, created_at, expires, retain_until, kind, body, accessed, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?6, ?11) {UPSERT}"
            ),
            put_zeroblob: format!(
                "INSERT INTO {t} \
                 (key, method, url, status, size, created_at, expires, retain_until, kind, body, accessed, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?6, zeroblob(?11)) {UPSERT} \
                 RETURNING rowid"
            ),
            delete: format!("DELETE FROM {t} WHERE key = ?1"),
            delete_url: format!("DELETE FROM {t} WHERE url = ?1"),
            clear: format!("DELETE FROM {t}"),
            len: format!("SELECT COUNT(*) FROM {t} WHERE kind = 0"),
            size: format!("SELECT COALESCE(SUM(size), 0) FROM {t}"),
            // A group id is visible ASCII and spaces: the unit separator
            // (0x1f) splits them.
            entries: format!(
                "SELECT key, method, url, status, size, created_at, expires, retain_until, kind, \
                 (SELECT group_concat(grp, char(31)) FROM {t}_groups AS g WHERE g.key = {t}.key) \
                 FROM {t}"
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
            put_chunk: format!(
                "INSERT OR REPLACE INTO {t}_chunks (body, idx, written, data) VALUES (?1, ?2, ?3, ?4)"
            ),
            get_chunk: format!("SELECT data FROM {t}_chunks WHERE body = ?1 AND idx = ?2"),
            chunks_held: format!(
                "SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM {t}_chunks WHERE body = ?1"
            ),
            discard_chunks: format!("DELETE FROM {t}_chunks WHERE body = ?1"),
            clear_chunks: format!("DELETE FROM {t}_chunks"),
            sweep_orphan_chunks: format!(
                "DELETE FROM {t}_chunks WHERE rowid IN (SELECT rowid FROM {t}_chunks AS c \
                 WHERE c.written < ?1 AND NOT EXISTS (SELECT 1 FROM {t} WHERE {t}.body = c.body) \
                 LIMIT ?2)"
            ),
            put_group: format!("INSERT OR IGNORE INTO {t}_groups (grp, key) VALUES (?1, ?2)"),
            group_keys: format!("SELECT key FROM {t}_groups WHERE grp = ?1"),
            delete_group: format!(
                "DELETE FROM {t} WHERE key IN (SELECT key FROM {t}_groups WHERE grp = ?1)"
            ),
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
                body TEXT,
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

    /// The table of bodies kept in chunks, and the triggers that delete a
    /// body's chunks with the row that names it: whatever deletes the row
    /// (a removal, a sweep, the bound's evictions, a clear) or gives it
    /// another body. Created once the `body` column exists.
    fn chunks_schema(&self) -> String {
        let t = &self.table;
        format!(
            "CREATE TABLE IF NOT EXISTS {t}_chunks (
                body TEXT NOT NULL,
                idx INTEGER NOT NULL,
                written INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (body, idx)
            );
            CREATE INDEX IF NOT EXISTS {t}_chunks_written ON {t}_chunks (written);
            CREATE INDEX IF NOT EXISTS {t}_body ON {t} (body) WHERE body IS NOT NULL;
            CREATE TRIGGER IF NOT EXISTS {t}_body_deleted AFTER DELETE ON {t}
                WHEN OLD.body IS NOT NULL
                BEGIN DELETE FROM {t}_chunks WHERE body = OLD.body; END;
            CREATE TRIGGER IF NOT EXISTS {t}_body_replaced AFTER UPDATE OF body ON {t}
                WHEN OLD.body IS NOT NULL AND OLD.body IS NOT NEW.body
                BEGIN DELETE FROM {t}_chunks WHERE body = OLD.body; END;"
        )
    }

    /// The group index: a row per (group, key), so that a group's keys
    /// are one index range, and the triggers that take a row out of its
    /// groups whatever deletes it (a removal, a purge, a sweep, the
    /// bound's evictions, a clear) and when an upsert replaces it (the
    /// writer then puts it in its new groups). An access stamp (an update
    /// of `accessed` only) leaves its groups alone.
    fn groups_schema(&self) -> String {
        let t = &self.table;
        format!(
            "CREATE TABLE IF NOT EXISTS {t}_groups (
                grp TEXT NOT NULL,
                key TEXT NOT NULL,
                PRIMARY KEY (grp, key)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {t}_groups_key ON {t}_groups (key);
            CREATE TRIGGER IF NOT EXISTS {t}_ungrouped AFTER DELETE ON {t}
                BEGIN DELETE FROM {t}_groups WHERE key = OLD.key; END;
            CREATE TRIGGER IF NOT EXISTS {t}_regrouped AFTER UPDATE OF value ON {t}
                BEGIN DELETE FROM {t}_groups WHERE key = OLD.key; END;"
        )
    }

    /// The index eviction walks, created once the column exists.
    fn accessed_index(&self) -> String {
        let t = &self.table;
        format!("CREATE INDEX IF NOT EXISTS {t}_accessed ON {t} (accessed);")
    }
}

/// What an upsert of a row sets: every column (`accessed` too: a row
/// written is a row used).
const UPSERT: &str = "ON CONFLICT (key) DO UPDATE SET method = excluded.method, \
     url = excluded.url, status = excluded.status, size = excluded.size, \
     created_at = excluded.created_at, expires = excluded.expires, \
     retain_until = excluded.retain_until, kind = excluded.kind, body = excluded.body, \
     accessed = excluded.accessed, value = excluded.value";

/// A SQLite error as a [`StorageErrorKind::Backend`] error saying `message`.
pub(crate) fn backend(message: &str) -> impl FnOnce(rusqlite::Error) -> StorageError + '_ {
    move |error| StorageError::with_source(StorageErrorKind::Backend, message, error)
}
