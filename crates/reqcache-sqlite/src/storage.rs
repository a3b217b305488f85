//! [`SqliteStorage`] and its builder.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use reqcache::storage::backend::unix_time::{from_unix_nanos, to_unix_nanos};
use reqcache::storage::backend::{
    AccessStamps, ByteStore, ChainedRead, ChunkStore, DEFAULT_MAX_SIZE, DEFAULT_NATIVE_RETENTION,
    DEFAULT_SWEEP_INTERVAL, Record, RecordKind, StorageUsage, ValueParts, fits_bound,
    spawn_sweeper,
};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use thread_local::ThreadLocal;

use crate::bound::{SizeBound, bytes_in_use};
use crate::database::{Queries, backend, open_reader, open_writer};
use crate::path::resolve_cache_path;
use crate::writer::{Job, Put, Write, Writing, write_batches};

/// The default table name.
const DEFAULT_TABLE: &str = "responses";

/// How much of the database file each reader maps into memory by default
/// ([`SqliteStorageBuilder::mmap_size`]): nothing, SQLite's own default.
pub const DEFAULT_MMAP_SIZE: u64 = 0;

/// The most rows one sweep deletes in one transaction.
const SWEEP_BATCH: u32 = 10_000;

/// The length of the chunks of a body kept in chunks: 256 KiB.
pub const CHUNK_SIZE: u32 = 256 * 1024;

/// How old chunks that no row names must be before a sweep deletes them:
/// one hour, longer than any body takes to write, since a body's chunks
/// are all written before the row that names it. A row whose chunks a
/// sweep took anyway is refused when written, never stored short.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// Entries waiting for the writer thread; past this a write fails at once
/// (the layer counts it as dropped) instead of queueing.
const WRITE_QUEUE: usize = 1024;

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
    /// The writing connection and what the writer thread shares with
    /// readers: the SQL, the bound, the access stamps.
    writing: Arc<Writing>,
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
    puts: SyncSender<Job>,
}

impl fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.shared.path)
            .field("table", &self.shared.writing.queries.table)
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
            max_size: Some(DEFAULT_MAX_SIZE),
        }
    }

    /// The size bound, if any ([`SqliteStorageBuilder::max_size`]).
    pub fn max_size(&self) -> Option<u64> {
        self.shared.writing.bound.map(|bound| bound.max_size)
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
        let sql = self.shared.writing.queries.sweep.clone();
        // Without a retention, an hour past expiry, as storages with native
        // expiry keep it.
        let expired_before = to_unix_nanos(
            now.checked_sub(DEFAULT_NATIVE_RETENTION)
                .unwrap_or(std::time::UNIX_EPOCH),
        );
        let now = to_unix_nanos(now);
        let orphans = self.shared.writing.queries.sweep_orphan_chunks.clone();
        let orphaned_before = to_unix_nanos(
            SystemTime::now()
                .checked_sub(ORPHAN_GRACE)
                .unwrap_or(std::time::UNIX_EPOCH),
        );
        self.with_connection(move |connection| {
            let mut deleted = 0u64;
            loop {
                let batch = connection.execute(&sql, params![now, SWEEP_BATCH, expired_before])?;
                deleted += batch as u64;
                if batch < SWEEP_BATCH as usize {
                    break;
                }
            }
            // Chunks of bodies whose writes were cut short.
            while connection.execute(&orphans, params![orphaned_before, SWEEP_BATCH])?
                == SWEEP_BATCH as usize
            {}
            Ok(deleted)
        })
        .await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.shared.writing.queries.table
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
        tokio::task::spawn_blocking(move || f(&shared.writing.connection()))
            .await
            .map_err(|e| {
                StorageError::with_source(StorageErrorKind::Backend, "SQLite task failed", e)
            })?
            .map_err(backend("SQLite operation failed"))
    }

    /// Queues a write for the writer thread and waits for its batch.
    async fn queue(&self, write: Write) -> Result<(), StorageError> {
        // Queued for the writer thread, never waited for when the queue is
        // full: a stalled database (another process's lock) costs a failed
        // write, not a request held up.
        let (done, result) = tokio::sync::oneshot::channel();
        let put = Put { write, done };
        fits_bound(put.len(), self.max_size(), "the SQLite storage")?;
        match self.shared.puts.try_send(Job::Put(Box::new(put))) {
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

    /// The value under `key` unless past its retention, read on
    /// `connection`; with a bound, a read leaves an access stamp for the
    /// writer when the entry's is a minute old.
    fn read_on(
        &self,
        connection: &Connection,
        key: &str,
        now: SystemTime,
    ) -> rusqlite::Result<Option<Vec<u8>>> {
        let mut statement = connection.prepare_cached(&self.shared.writing.queries.get)?;
        let found = statement
            .query_row(params![key, to_unix_nanos(now)], |row| {
                // Whatever is there goes to the decoder: a value that is
                // not a blob (text, NULL) does not decode and is deleted.
                let value = match row.get_ref(0)? {
                    ValueRef::Blob(bytes) | ValueRef::Text(bytes) => bytes.to_vec(),
                    _ => Vec::new(),
                };
                Ok((value, row.get::<_, Option<i64>>(1).unwrap_or(None)))
            })
            .optional()?;
        Ok(found.map(|(value, accessed)| {
            if self.shared.writing.bound.is_some()
                && self.shared.writing.stamps.note(key, accessed, now)
            {
                // A full queue means writes are waiting, and the stamps go
                // with their transaction.
                let _ = self.shared.puts.try_send(Job::Stamps);
            }
            value
        }))
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
    max_size: Option<u64>,
}

impl SqliteStorageBuilder {
    /// At most this many bytes of database pages in use (tables and
    /// indexes, headers included). Default:
    /// [`DEFAULT_MAX_SIZE`](reqcache::storage::backend::DEFAULT_MAX_SIZE),
    /// 1 GiB. A write that takes the database past it evicts, in the same
    /// transaction: first rows past their retention, then the rows least
    /// recently read (to within a minute: a read restamps an entry whose
    /// stamp is a minute old, and the writer thread writes the stamps
    /// with its next transaction, so a hit never writes). Every process
    /// writing the file keeps the bound, whatever its own setting, since
    /// each evicts inside its own transactions; set the same bound in all.
    ///
    /// How exact: the pages in use never pass the bound after a commit
    /// (a database far over it, filled under a larger bound or none, comes
    /// down by at most 20,000 rows a transaction).
    /// The file itself is at most a 32nd of the bound larger (one
    /// transaction's inserts, before its evictions free their pages for
    /// the next), plus the write-ahead log beside it, kept to a 32nd of the
    /// bound (between 256 KiB and 4 MiB). An entry larger than the bound is
    /// refused with [`StorageErrorKind::TooLarge`] (the layer answers
    /// uncached).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let storage = reqcache_sqlite::SqliteStorage::builder(dir.path().join("c"))
    ///     .max_size(512 << 20)
    ///     .open()
    ///     .await?;
    /// assert_eq!(storage.max_size(), Some(512 << 20));
    /// # Ok(()) }
    /// ```
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// No size bound: the database grows with what is stored, less what
    /// the sweeper removes.
    pub fn unbounded_size(mut self) -> Self {
        self.max_size = None;
        self
    }

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
        let wal_limit = SizeBound::wal_limit(self.max_size);
        let (path, queries, writer) = tokio::task::spawn_blocking(move || {
            let queries = Queries::new(table);
            open_writer(&path, busy_timeout, &queries, wal_limit)
                .map(|writer| (path, queries, writer))
        })
        .await
        .map_err(|e| {
            StorageError::with_source(StorageErrorKind::Backend, "SQLite task failed", e)
        })??;
        let (puts, queue) = std::sync::mpsc::sync_channel(WRITE_QUEUE);
        let shared = Arc::new(Shared {
            path,
            writing: Arc::new(Writing {
                connection: Mutex::new(writer),
                queries,
                bound: self.max_size.map(|max_size| SizeBound { max_size }),
                stamps: AccessStamps::default(),
            }),
            thread_readers: ThreadLocal::new(),
            thread_reader_count: AtomicUsize::new(0),
            readers: Mutex::new(Vec::new()),
            max_idle_readers: self.max_idle_readers,
            mmap_size: self.mmap_size,
            puts,
        });
        // The thread holds the storage weakly: it ends when the last clone
        // of the storage is dropped (the queue's sender with it).
        let weak = Arc::downgrade(&shared.writing);
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
        self.queue(Write::Entry {
            record,
            parts: None,
        })
        .await
    }

    /// A large body written where it goes: the row is inserted with a
    /// zero-filled value of the right length (`zeroblob`, which SQLite does
    /// not materialize), then the parts are written into it through
    /// incremental blob I/O, page by page; nothing holds a copy of the whole
    /// value.
    async fn write_parts(&self, record: Record, parts: ValueParts) -> Result<(), StorageError> {
        self.queue(Write::Entry {
            record,
            parts: Some(parts),
        })
        .await
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let shared = Arc::clone(&self.shared);
        let key = key.to_owned();
        self.with_connection(move |c| {
            Ok(c.prepare_cached(&shared.writing.queries.delete)?
                .execute([key])?
                > 0)
        })
        .await
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        let url = url.to_owned();
        self.with_connection(move |c| {
            Ok(c.prepare_cached(&shared.writing.queries.delete_url)?
                .execute([url])? as u64)
        })
        .await
    }

    /// One range of the group index.
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        let shared = Arc::clone(&self.shared);
        let group = group.to_owned();
        self.with_connection(move |c| {
            let mut statement = c.prepare_cached(&shared.writing.queries.group_keys)?;
            let keys = statement.query_map([group], |row| row.get(0))?;
            keys.collect()
        })
        .await
    }

    /// One statement: the rows go, and their chunks and group rows with
    /// them (triggers).
    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        let group = group.to_owned();
        self.with_connection(move |c| {
            Ok(c.prepare_cached(&shared.writing.queries.delete_group)?
                .execute([group])? as u64)
        })
        .await
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            let queries = &shared.writing.queries;
            c.execute(&queries.clear, [])?;
            // Chunks of bodies still being written, or given up, too.
            c.execute(&queries.clear_chunks, []).map(drop)
        })
        .await
    }

    async fn count(&self) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            c.query_row(&shared.writing.queries.len, [], |row| row.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
        .await
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            let mut statement = c.prepare(&shared.writing.queries.entries)?;
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
            c.query_row(&shared.writing.queries.size, [], |row| row.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
        .await
    }

    /// The bytes of the database pages in use (every table and index in
    /// the file), the bound, and the evictions every process made, kept in
    /// the file.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        let shared = Arc::clone(&self.shared);
        let (bytes, evictions) = self
            .with_connection(move |c| {
                let evictions: Option<i64> = c
                    .query_row(&shared.writing.queries.evictions, [], |row| row.get(0))
                    .optional()?;
                Ok((bytes_in_use(c)?, evictions.unwrap_or(0).max(0) as u64))
            })
            .await?;
        Ok(StorageUsage::new(bytes, self.max_size(), evictions))
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let shared = Arc::clone(&self.shared);
        self.with_connection(move |c| {
            Ok(c.prepare_cached(&shared.writing.queries.remove_expired)?
                .execute([to_unix_nanos(now)])? as u64)
        })
        .await
    }

    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        Some(Arc::new(self.clone()))
    }
}

/// Bodies past [`CHUNKED_FROM`](reqcache::storage::backend::CHUNKED_FROM)
/// bytes are kept in a table of their own, `{table}_chunks`, a row per
/// chunk of [`CHUNK_SIZE`]: written through the writer thread like the
/// rows, read inline like them. Triggers delete a body's chunks with the
/// row that names it. Chunks no row names (a write cut short) are deleted
/// by the sweep once [`ORPHAN_GRACE`] old; they count against the bound
/// until then.
#[async_trait]
impl ChunkStore for SqliteStorage {
    fn chunk_size(&self) -> u32 {
        CHUNK_SIZE
    }

    fn max_size(&self) -> Option<u64> {
        SqliteStorage::max_size(self)
    }

    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError> {
        self.queue(Write::Chunk {
            body: id.to_owned(),
            index,
            data,
        })
        .await
    }

    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        self.read_inline(|connection| {
            connection
                .prepare_cached(&self.shared.writing.queries.get_chunk)?
                .query_row(params![id, index], |row| {
                    Ok(match row.get_ref(0)? {
                        ValueRef::Blob(bytes) => Bytes::copy_from_slice(bytes),
                        _ => Bytes::new(),
                    })
                })
                .optional()
        })
    }

    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        let shared = Arc::clone(&self.shared);
        let id = id.to_owned();
        self.with_connection(move |c| {
            c.prepare_cached(&shared.writing.queries.discard_chunks)?
                .execute([id])
                .map(drop)
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
        groups: row
            .get::<_, Option<String>>(9)
            .ok()?
            .map(|groups| groups.split('\x1f').map(str::to_owned).collect())
            .unwrap_or_default(),
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
