//! [`SqliteStorage`] and its builder.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqcache::storage::backend::unix_time::{from_unix_nanos, to_unix_nanos};
use reqcache::storage::backend::{
    ByteStore, ChainedRead, DEFAULT_NATIVE_RETENTION, DEFAULT_SWEEP_INTERVAL, Record, RecordKind,
    ValueParts, spawn_sweeper,
};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use thread_local::ThreadLocal;

use crate::path::resolve_cache_path;

/// The default table name.
const DEFAULT_TABLE: &str = "responses";

/// How much of the database file each reader maps into memory by default
/// ([`SqliteStorageBuilder::mmap_size`]): nothing, SQLite's own default.
pub const DEFAULT_MMAP_SIZE: u64 = 0;

/// The most rows one sweep deletes in one transaction.
const SWEEP_BATCH: u32 = 10_000;

/// Entries waiting for the writer thread; past this a write fails at once
/// (the layer counts it as dropped) instead of queueing.
const WRITE_QUEUE: usize = 1024;

/// The most entries the writer commits in one transaction.
const MAX_BATCH: usize = 256;

/// A [`Storage`](reqcache::storage::Storage) in an SQLite database file: a
/// [`ByteStore`], so entries are encoded by reqcache's adapter (plain
/// MessagePack, or any codec through [`Encoded`](reqcache::storage::Encoded)).
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache::storage::{Codec, Serializer, Storage};
/// use reqcache::storage::Encoded;
/// use reqcache_sqlite::SqliteStorage;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let dir = tempfile::tempdir().unwrap();
/// let sqlite = SqliteStorage::builder(dir.path().join("nested/http_cache"))
///     .busy_timeout(Duration::from_secs(30))
///     .open()
///     .await?;
/// assert!(sqlite.path().ends_with("nested/http_cache.sqlite"));
/// // Human-readable JSON records instead of MessagePack:
/// let storage = Encoded::new(sqlite, Codec::new(Serializer::Json));
/// assert_eq!(storage.len().await?, 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStorage {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    queries: Queries,
    /// The one writing connection, used on the blocking pool.
    writer: Mutex<Connection>,
    /// Read-only connections, used inline for point reads: one kept by
    /// each thread that reads, up to `max_idle_readers` threads, so that a
    /// read on a runtime worker takes no lock that the other workers take.
    thread_readers: ThreadLocal<RefCell<Option<Connection>>>,
    /// How many threads keep a connection in `thread_readers`.
    thread_reader_count: AtomicUsize,
    /// Idle read-only connections for threads beyond those (and for a read
    /// inside a read on the same thread).
    readers: Mutex<Vec<Connection>>,
    max_idle_readers: usize,
    /// SQLite's `mmap_size` for the readers.
    mmap_size: u64,
    /// Entries for the writer thread, which commits them in batches.
    puts: SyncSender<Put>,
}

/// One entry for the writer thread, and where its result goes.
struct Put {
    record: Record,
    /// The value in parts, written with incremental blob I/O (then
    /// `record.value` is empty).
    parts: Option<ValueParts>,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.shared.path)
            .field("table", &self.shared.queries.table)
            .finish_non_exhaustive()
    }
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `cache_name` with the
    /// default settings. See [`resolve_cache_path`] for how the name becomes a
    /// path.
    ///
    /// # Errors
    /// [`StorageErrorKind::Io`] when the folder cannot be created,
    /// [`StorageErrorKind::Backend`] when the database cannot be opened.
    pub async fn open(cache_name: impl AsRef<Path>) -> Result<Self, StorageError> {
        Self::builder(cache_name).open().await
    }

    /// A builder for the database at `cache_name`.
    pub fn builder(cache_name: impl AsRef<Path>) -> SqliteStorageBuilder {
        SqliteStorageBuilder {
            path: resolve_cache_path(cache_name),
            busy_timeout: Duration::from_secs(5),
            max_idle_readers: 8,
            mmap_size: DEFAULT_MMAP_SIZE,
            table: DEFAULT_TABLE.to_owned(),
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
        }
    }

    /// Deletes the rows past their retention at `now` (what the sweeper
    /// does every [`sweep_interval`](SqliteStorageBuilder::sweep_interval)),
    /// in transactions of at most 10,000 rows, so that other writers wait
    /// for one batch at most; returns how many. A row without a retention
    /// (the layer's `stale_retention` unset) is past it an hour after it
    /// expires ([`DEFAULT_NATIVE_RETENTION`](reqcache::storage::backend::DEFAULT_NATIVE_RETENTION),
    /// as Redis, PostgreSQL, MongoDB and DynamoDB keep it); one that never
    /// expires stays. Rows merely expired stay, for revalidation and
    /// `stale-if-error`:
    /// [`remove_expired`](reqcache::storage::Storage::remove_expired)
    /// deletes those too. The pages freed go to SQLite's freelist, and the
    /// next writes reuse them: the file stops growing once the sweeper
    /// keeps up, though it does not shrink (`VACUUM` through
    /// [`with_connection`](Self::with_connection) does that).
    ///
    /// # Errors
    /// [`StorageErrorKind::Backend`] when the database fails; the batches
    /// deleted before stay deleted.
    ///
    /// # Example
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let storage = reqcache_sqlite::SqliteStorage::open(dir.path().join("c")).await?;
    /// assert_eq!(storage.sweep(SystemTime::now()).await?, 0, "nothing stored, nothing swept");
    /// # Ok(()) }
    /// ```
    pub async fn sweep(&self, now: SystemTime) -> Result<u64, StorageError> {
        let sql = self.shared.queries.sweep.clone();
        // Without a retention, an hour past expiry, as storages with native
        // expiry keep it.
        let expired_before = to_unix_nanos(
            now.checked_sub(DEFAULT_NATIVE_RETENTION)
                .unwrap_or(std::time::UNIX_EPOCH),
        );
        let now = to_unix_nanos(now);
        self.with_connection(move |connection| {
            let mut deleted = 0u64;
            loop {
                let batch = connection.execute(&sql, params![now, SWEEP_BATCH, expired_before])?;
                deleted += batch as u64;
                if batch < SWEEP_BATCH as usize {
                    return Ok(deleted);
                }
            }
        })
        .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.shared.queries.table
    }

    /// Runs `f` on the writing connection, on tokio's blocking pool: for
    /// maintenance of your own (`VACUUM`, backups) and for tests.
    ///
    /// # Errors
    /// What `f` returns, as [`StorageErrorKind::Backend`].
    pub async fn with_connection<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || f(&shared.writer()))
            .await
            .map_err(|e| {
                StorageError::with_source(StorageErrorKind::Backend, "SQLite task failed", e)
            })?
            .map_err(backend("SQLite operation failed"))
    }

    /// Queues a write for the writer thread and waits for its batch.
    async fn queue(&self, record: Record, parts: Option<ValueParts>) -> Result<(), StorageError> {
        // Queued for the writer thread, never waited for when the queue is
        // full: a stalled database (another process's lock) costs a failed
        // write, not a request held up.
        let (done, result) = tokio::sync::oneshot::channel();
        match self.shared.puts.try_send(Put {
            record,
            parts,
            done,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(StorageError::new(
                    StorageErrorKind::Backend,
                    "the SQLite write queue is full; write dropped",
                ));
            }
            Err(TrySendError::Disconnected(_)) => return Err(writer_stopped()),
        }
        match result.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StorageError::new(
                StorageErrorKind::Backend,
                format!("write failed: {error}"),
            )),
            Err(_) => Err(writer_stopped()),
        }
    }

    /// The value under `key` unless past its retention, read on `connection`.
    fn read_on(
        &self,
        connection: &Connection,
        key: &str,
        now: SystemTime,
    ) -> rusqlite::Result<Option<Vec<u8>>> {
        let mut statement = connection.prepare_cached(&self.shared.queries.get)?;
        statement
            .query_row(params![key, to_unix_nanos(now)], |row| {
                // Whatever is there goes to the decoder: a value that is
                // not a blob (text, NULL) does not decode and is deleted.
                Ok(match row.get_ref(0)? {
                    ValueRef::Blob(bytes) | ValueRef::Text(bytes) => bytes.to_vec(),
                    _ => Vec::new(),
                })
            })
            .optional()
    }

    /// Runs a read inline on a read-only connection: the calling thread's
    /// own, or else an idle one from the pool.
    fn read_inline<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StorageError> {
        let shared = &self.shared;
        let own = shared.thread_readers.get_or(RefCell::default);
        if let Ok(mut own) = own.try_borrow_mut() {
            if own.is_none() && shared.claim_thread_reader() {
                match open_reader(&shared.path, shared.mmap_size) {
                    Ok(reader) => *own = Some(reader),
                    Err(error) => {
                        shared.thread_reader_count.fetch_sub(1, Ordering::Relaxed);
                        return Err(error);
                    }
                }
            }
            if let Some(reader) = own.as_ref() {
                return f(reader).map_err(backend("read failed"));
            }
        }
        let reader = lock(&shared.readers).pop();
        let reader = match reader {
            Some(reader) => reader,
            None => open_reader(&shared.path, shared.mmap_size)?,
        };
        let result = f(&reader).map_err(backend("read failed"));
        let mut idle = lock(&shared.readers);
        if idle.len() < shared.max_idle_readers {
            idle.push(reader);
        }
        result
    }
}

impl Shared {
    fn writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.writer)
    }

    /// Counts one more thread keeping its own reader, unless
    /// `max_idle_readers` threads already do.
    fn claim_thread_reader(&self) -> bool {
        self.thread_reader_count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_idle_readers).then_some(n + 1)
            })
            .is_ok()
    }
}

fn writer_stopped() -> StorageError {
    StorageError::new(
        StorageErrorKind::Backend,
        "the SQLite writer thread stopped",
    )
}

/// A poisoned lock only means a panic elsewhere; the connection is still fine.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds a [`SqliteStorage`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStorageBuilder {
    path: PathBuf,
    busy_timeout: Duration,
    max_idle_readers: usize,
    mmap_size: u64,
    table: String,
    sweep_interval: Option<Duration>,
}

impl SqliteStorageBuilder {
    /// How often rows past their retention are deleted in the background
    /// ([`SqliteStorage::sweep`]); `None` (or zero): never, leaving it to
    /// [`SqliteStorage::sweep`], `remove_expired` or `reqcache
    /// remove-expired`. Default: [`DEFAULT_SWEEP_INTERVAL`], 10 minutes.
    /// The sweeper runs on the Tokio runtime `open` is called on, never on
    /// the request path, and ends when the last clone of the storage is
    /// dropped. Rows without a retention (entries that never expire, under
    /// the library's defaults) are not swept.
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// How long a write waits for another writer's lock (requests-cache's
    /// `timeout`). Default: 5 seconds. Entries are written by one writer
    /// thread that commits what is waiting in one transaction (up to 256
    /// entries: group commit); while it waits for a lock, new writes queue,
    /// and once 1024 are waiting a write fails at once, so a locked database
    /// never holds up a caller. Reads never wait: in WAL mode they do not
    /// conflict with writers, and a read that finds the database busy anyway
    /// is a miss.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many read connections are kept for reuse. Default: 8.
    ///
    /// Each thread that reads keeps one of its own (so reads on different
    /// runtime workers share no lock of reqcache's), up to this many
    /// threads; threads beyond them share an idle pool of as many
    /// connections. 0 opens a connection for every read.
    pub fn max_idle_readers(mut self, max: usize) -> Self {
        self.max_idle_readers = max;
        self
    }

    /// How much of the database file each reader may map into memory
    /// (SQLite's `mmap_size`): a page not in the reader's own cache is then
    /// read from the OS page cache by a memory access instead of a `pread`
    /// call. Default: [`DEFAULT_MMAP_SIZE`] (off).
    ///
    /// Measured (`cargo bench --bench hit_scaling -- sqlite`, 100,000
    /// entries, random keys): 256 MiB cut a hit's CPU by about 15%; on one
    /// hot key, whose pages stay in the reader's cache, it changed nothing.
    /// It is off by default because, with the file mapped, an I/O error
    /// while reading a page (a failing disk, or the file cut short by a
    /// program other than SQLite) stops the process with `SIGBUS` instead
    /// of failing one read, which the storage would turn into a miss.
    ///
    /// ```no_run
    /// # async fn open() -> Result<(), reqcache::StorageError> {
    /// let storage = reqcache_sqlite::SqliteStorage::builder("http_cache")
    ///     .mmap_size(256 * 1024 * 1024)
    ///     .open()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn mmap_size(mut self, bytes: u64) -> Self {
        self.mmap_size = bytes;
        self
    }

    /// The table's name: letters, digits and `_`, not starting with a digit.
    /// Default: `responses`.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Opens the database, creating the file, its folders, the table and the
    /// indexes as needed.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for an invalid table name,
    /// [`StorageErrorKind::Io`] when the folder cannot be created,
    /// [`StorageErrorKind::Backend`] when the database cannot be opened.
    pub async fn open(self) -> Result<SqliteStorage, StorageError> {
        let table = self.table;
        if table.is_empty()
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || table.as_bytes()[0].is_ascii_digit()
        {
            return Err(StorageError::new(
                StorageErrorKind::Config,
                format!("invalid table name {table:?}: use letters, digits and _"),
            ));
        }
        let path = self.path;
        let busy_timeout = self.busy_timeout;
        let queries = Queries::new(table);
        let schema = queries.schema();
        let table = queries.table.clone();
        let (path, writer) = tokio::task::spawn_blocking(move || {
            open_writer(&path, busy_timeout, &schema, &table).map(|writer| (path, writer))
        })
        .await
        .map_err(|e| {
            StorageError::with_source(StorageErrorKind::Backend, "SQLite task failed", e)
        })??;
        let (puts, queue) = std::sync::mpsc::sync_channel(WRITE_QUEUE);
        let shared = Arc::new(Shared {
            path,
            queries,
            writer: Mutex::new(writer),
            thread_readers: ThreadLocal::new(),
            thread_reader_count: AtomicUsize::new(0),
            readers: Mutex::new(Vec::new()),
            max_idle_readers: self.max_idle_readers,
            mmap_size: self.mmap_size,
            puts,
        });
        // The thread holds the storage weakly: it ends when the last clone
        // of the storage is dropped (the queue's sender with it).
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("reqcache-sqlite-writer".to_owned())
            .spawn(move || write_batches(&weak, &queue))
            .map_err(|e| {
                StorageError::with_source(
                    StorageErrorKind::Backend,
                    "cannot start the SQLite writer",
                    e,
                )
            })?;
        if let Some(interval) = self.sweep_interval {
            let storage = format!("SQLite {}", shared.path.display());
            spawn_sweeper(
                Arc::downgrade(&shared),
                interval,
                storage,
                |shared| async move { SqliteStorage { shared }.sweep(SystemTime::now()).await },
            );
        }
        Ok(SqliteStorage { shared })
    }
}

/// The writer thread: takes the entries waiting, up to [`MAX_BATCH`], and
/// commits them in one transaction (group commit), which waits at most the
/// busy timeout for another process's lock; then reports to each.
fn write_batches(shared: &Weak<Shared>, queue: &Receiver<Put>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(put) => batch.push(put),
                Err(_) => break,
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let result = write_batch(&shared, &batch).map_err(|error| error.to_string());
        if let Err(error) = &result {
            tracing::warn!(%error, entries = batch.len(), "reqcache-sqlite: batch of writes failed");
        }
        for put in batch {
            let _ = put.done.send(result.clone());
        }
    }
}

fn write_batch(shared: &Shared, batch: &[Put]) -> rusqlite::Result<()> {
    let connection = shared.writer();
    let transaction = connection.unchecked_transaction()?;
    for put in batch {
        let record = &put.record;
        let info = &record.info;
        let metadata = params![
            info.key,
            info.method.as_str(),
            info.url,
            i64::from(info.status.as_u16()),
            i64::try_from(info.size).unwrap_or(i64::MAX),
            to_unix_nanos(info.created_at),
            info.expires.map(to_unix_nanos),
            info.retain_until.map(to_unix_nanos),
            info.kind.code(),
        ];
        let Some(parts) = &put.parts else {
            let mut statement = transaction.prepare_cached(&shared.queries.put)?;
            let mut values: Vec<&dyn rusqlite::ToSql> = metadata.to_vec();
            values.push(&record.value);
            statement.execute(values.as_slice())?;
            continue;
        };
        let len = i64::try_from(parts.len()).map_err(|_| rusqlite::Error::BlobSizeError)?;
        let mut values: Vec<&dyn rusqlite::ToSql> = metadata.to_vec();
        values.push(&len);
        transaction
            .prepare_cached(&shared.queries.put_zeroblob)?
            .execute(values.as_slice())?;
        let row = transaction.last_insert_rowid();
        let mut blob = transaction.blob_open(
            rusqlite::MAIN_DB,
            shared.queries.table.as_str(),
            "value",
            row,
            false,
        )?;
        let mut at = 0;
        for part in parts.parts() {
            blob.write_at(part, at)?;
            at += part.len();
        }
    }
    transaction.commit()
}

fn open_writer(
    path: &Path,
    busy_timeout: Duration,
    schema: &str,
    table: &str,
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
    connection
        .execute_batch(schema)
        .map_err(backend("cannot create the schema"))?;
    add_kind_column(&connection, table).map_err(backend("cannot add the kind column"))?;
    Ok(connection)
}

/// Gives a table written before records had kinds its `kind` column: every
/// row it has is a response (kind 0). Two processes may race to add it.
fn add_kind_column(connection: &Connection, table: &str) -> rusqlite::Result<()> {
    let has_kind = connection
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = 'kind'"
        ))?
        .exists([])?;
    if has_kind {
        return Ok(());
    }
    match connection.execute_batch(&format!(
        "ALTER TABLE {table} ADD COLUMN kind INTEGER NOT NULL DEFAULT 0"
    )) {
        Err(error) if error.to_string().contains("duplicate column") => Ok(()),
        other => other,
    }
}

fn open_reader(path: &Path, mmap_size: u64) -> Result<Connection, StorageError> {
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
struct Queries {
    table: String,
    get: String,
    put: String,
    put_zeroblob: String,
    delete: String,
    delete_url: String,
    clear: String,
    len: String,
    size: String,
    entries: String,
    remove_expired: String,
    sweep: String,
}

impl Queries {
    fn new(table: String) -> Self {
        let t = &table;
        Self {
            get: format!(
                "SELECT value FROM {t} WHERE key = ?1 AND (retain_until IS NULL OR retain_until > ?2)"
            ),
            put: format!(
                "INSERT OR REPLACE INTO {t} \
                 (key, method, url, status, size, created_at, expires, retain_until, kind, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            put_zeroblob: format!(
                "INSERT OR REPLACE INTO {t} \
                 (key, method, url, status, size, created_at, expires, retain_until, kind, value) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, zeroblob(?10))"
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
            table,
        }
    }

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
                value BLOB NOT NULL
            );
            CREATE INDEX IF NOT EXISTS {t}_expires ON {t} (expires) WHERE expires IS NOT NULL;
            CREATE INDEX IF NOT EXISTS {t}_retain_until ON {t} (retain_until) WHERE retain_until IS NOT NULL;
            CREATE INDEX IF NOT EXISTS {t}_url ON {t} (url);"
        )
    }
}

fn backend(message: &str) -> impl FnOnce(rusqlite::Error) -> StorageError + '_ {
    move |error| StorageError::with_source(StorageErrorKind::Backend, message, error)
}

/// Point reads run inline: a primary-key lookup takes microseconds and, in
/// WAL mode with a zero busy timeout, never waits for a lock. Everything else
/// (writes, scans) runs on tokio's blocking pool.
#[async_trait]
impl ByteStore for SqliteStorage {
    async fn read(&self, key: &str, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        self.read_inline(|connection| self.read_on(connection, key, now))
    }

    /// Both values on one read connection, in one inline call.
    async fn read_then(
        &self,
        key: &str,
        now: SystemTime,
        then: &(dyn for<'v> Fn(&'v [u8]) -> Option<String> + Send + Sync),
    ) -> Result<Option<ChainedRead>, StorageError> {
        self.read_inline(|connection| {
            let Some(value) = self.read_on(connection, key, now)? else {
                return Ok(None);
            };
            let next = match then(&value) {
                Some(next) => {
                    let found = self.read_on(connection, &next, now)?;
                    Some((next, found))
                }
                None => None,
            };
            Ok(Some(ChainedRead::new(value, next)))
        })
    }

    async fn write(&self, record: Record) -> Result<(), StorageError> {
        self.queue(record, None).await
    }

    /// A large body written where it goes: the row is inserted with a
    /// zero-filled value of the right length (`zeroblob`, which SQLite does
    /// not materialize), then the parts are written into it through
    /// incremental blob I/O, page by page; nothing holds a copy of the whole
    /// value.
    async fn write_parts(&self, record: Record, parts: ValueParts) -> Result<(), StorageError> {
        self.queue(record, Some(parts)).await
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let shared = Arc::clone(&self.shared);
        let key = key.to_owned();
        self.with_connection(move |c| {
            Ok(c.prepare_cached(&shared.queries.delete)?.execute([key])? > 0)
        })
        .await
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        let url = url.to_owned();
        self.with_connection(move |c| {
            Ok(c.prepare_cached(&shared.queries.delete_url)?
                .execute([url])? as u64)
        })
        .await
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| c.execute(&shared.queries.clear, []).map(drop))
            .await
    }

    async fn count(&self) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            c.query_row(&shared.queries.len, [], |row| row.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            let mut statement = c.prepare(&shared.queries.entries)?;
            let rows = statement.query_map([], |row| Ok(entry_info(row)))?;
            let mut entries = Vec::new();
            for row in rows {
                match row? {
                    Some(info) => entries.push(info),
                    None => tracing::warn!("reqcache-sqlite: row with invalid metadata skipped"),
                }
            }
            Ok(entries)
        })
        .await
    }

    async fn total_size(&self) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            c.query_row(&shared.queries.size, [], |row| row.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
        .await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            Ok(c.prepare_cached(&shared.queries.remove_expired)?
                .execute([to_unix_nanos(now)])? as u64)
        })
        .await
    }
}

fn entry_info(row: &rusqlite::Row<'_>) -> Option<EntryInfo> {
    let method: String = row.get(1).ok()?;
    let status: i64 = row.get(3).ok()?;
    let kind: i64 = row.get(8).ok()?;
    Some(EntryInfo {
        key: row.get(0).ok()?,
        kind: RecordKind::from_code(u8::try_from(kind).ok()?)?,
        method: http::Method::from_bytes(method.as_bytes()).ok()?,
        url: row.get(2).ok()?,
        status: http::StatusCode::from_u16(u16::try_from(status).ok()?).ok()?,
        size: row.get::<_, i64>(4).ok()?.max(0) as u64,
        created_at: from_unix_nanos(row.get(5).ok()?),
        expires: row.get::<_, Option<i64>>(6).ok()?.map(from_unix_nanos),
        retain_until: row.get::<_, Option<i64>>(7).ok()?.map(from_unix_nanos),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalid_table_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStorage::builder(dir.path().join("c"))
            .table("x; DROP TABLE y")
            .open()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StorageErrorKind::Config);
    }
}
