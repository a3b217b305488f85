//! [`PostgresStorageBuilder`]: the table, the pool and the sweeper.

use std::sync::Arc;
use std::time::Duration;

use reqcache::storage::{StorageError, StorageErrorKind};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::OnceCell;

use crate::queries::Queries;
use crate::storage::{PostgresStorage, Shared};
use crate::sweep;

/// The default table: requests-cache's default `cache_name`.
pub const DEFAULT_TABLE: &str = "http_cache";

/// Builds a [`PostgresStorage`].
///
/// # Example
/// ```no_run
/// use std::time::Duration;
/// use reqcache_postgres::PostgresStorage;
///
/// # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
/// let storage = PostgresStorage::builder("postgres://cache@127.0.0.1/app")
///     .table("api_cache")
///     .max_connections(32)
///     .acquire_timeout(Duration::from_secs(1))
///     .sweep_interval(Some(Duration::from_secs(60)))
///     .open_lazily() // starts even while the database is down
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresStorageBuilder {
    source: Source,
    table: String,
    unlogged: bool,
    max_connections: u32,
    min_connections: u32,
    acquire_timeout: Duration,
    idle_timeout: Option<Duration>,
    sweep_interval: Option<Duration>,
    max_size: Option<u64>,
}

#[derive(Debug, Clone)]
enum Source {
    Url(String),
    Pool(PgPool),
}

// The ways to a builder live here, beside it, so that the storage's file
// does not point back at the builder's.
impl PostgresStorage {
    /// A builder for a storage on the database at `url`
    /// (`postgres://user:password@host:port/database?sslmode=…`, every
    /// parameter libpq takes in a URL).
    pub fn builder(url: impl Into<String>) -> PostgresStorageBuilder {
        PostgresStorageBuilder::new(url.into())
    }

    /// A builder for a storage on a pool of your own (its settings are
    /// yours; the builder's pool settings do not apply).
    pub fn from_pool(pool: PgPool) -> PostgresStorageBuilder {
        PostgresStorageBuilder::with_pool(pool)
    }

    /// Opens the storage on `url` with the default settings: the table
    /// `http_cache`, created when missing.
    ///
    /// # Errors
    /// As [`PostgresStorageBuilder::open`].
    pub async fn open(url: impl Into<String>) -> Result<Self, StorageError> {
        Self::builder(url).open().await
    }
}

impl PostgresStorageBuilder {
    pub(crate) fn new(url: String) -> Self {
        Self::from_source(Source::Url(url))
    }

    pub(crate) fn with_pool(pool: PgPool) -> Self {
        Self::from_source(Source::Pool(pool))
    }

    fn from_source(source: Source) -> Self {
        Self {
            source,
            table: DEFAULT_TABLE.to_owned(),
            unlogged: false,
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            sweep_interval: Some(reqcache::storage::backend::DEFAULT_SWEEP_INTERVAL),
            max_size: Some(reqcache::storage::backend::DEFAULT_MAX_SIZE),
        }
    }

    /// At most this many bytes in the table, counted as each row's value,
    /// key and URL and 64 bytes of other columns, in a usage row that
    /// statement triggers keep (`{table}_usage`), whichever process writes.
    /// Default: [`DEFAULT_MAX_SIZE`](reqcache::storage::backend::DEFAULT_MAX_SIZE),
    /// 1 GiB. A write that passes it starts a task that deletes rows past
    /// their deadline first, then the least recently read (stamped to the
    /// minute by a task behind the reads), until the table is within it;
    /// one process evicts at a time (an advisory lock), so several share
    /// the bound.
    ///
    /// How exact: the count is exact for what it counts, and the table is
    /// back within the bound a moment after the write that passed it;
    /// writes in that moment pass it by what they write. The table's
    /// files differ from the count: PostgreSQL compresses large values
    /// (TOAST), keeps indexes, and holds deleted rows until autovacuum
    /// reuses their space. An entry larger than the bound is refused with
    /// [`StorageErrorKind::TooLarge`].
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// No size bound: the table grows with what is stored, less what the
    /// sweeper removes.
    pub fn unbounded_size(mut self) -> Self {
        self.max_size = None;
        self
    }

    /// The table's name (requests-cache's `cache_name`): letters, digits and
    /// `_`, not starting with a digit, at most 50 bytes; used as written
    /// (quoted), so `Cache` and `cache` are two tables. Two caches in one
    /// database are two tables. Default: [`DEFAULT_TABLE`].
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// Creates the table `UNLOGGED` when it is missing: writes skip the
    /// write-ahead log (several times faster), but the table is emptied after
    /// a server crash and is not copied to replicas, which suits a cache.
    /// An existing table is left as it is (`ALTER TABLE … SET LOGGED` /
    /// `SET UNLOGGED` changes it). Default: `false`.
    pub fn unlogged(mut self, unlogged: bool) -> Self {
        self.unlogged = unlogged;
        self
    }

    /// The most connections the pool opens. Default: 10. Not used with
    /// [`PostgresStorage::from_pool`].
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// The connections the pool keeps open when idle. Default: 0. Not used
    /// with [`PostgresStorage::from_pool`].
    pub fn min_connections(mut self, min: u32) -> Self {
        self.min_connections = min;
        self
    }

    /// How long an operation waits for a free connection (or for a new one
    /// to connect) before it fails. Default: 5 seconds. The layer bounds each
    /// storage call by its own read and write timeouts besides, so a
    /// saturated pool or a hung server costs a request at most those. Not
    /// used with [`PostgresStorage::from_pool`].
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long an idle connection is kept above
    /// [`min_connections`](Self::min_connections); `None`: for ever.
    /// Default: 10 minutes. Not used with [`PostgresStorage::from_pool`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How often a background task deletes the rows past their deadline
    /// (their retention, or an hour past their expiry: what Redis's TTLs
    /// do), in batches of 10,000; reads leave such rows out already.
    /// `None`: never (call
    /// [`remove_expired`](reqcache::storage::Storage::remove_expired), or
    /// schedule `DELETE FROM table WHERE deadline <= …` yourself). Several
    /// processes sweeping one table is harmless. Default: 10 minutes.
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval.filter(|i| !i.is_zero());
        self
    }

    /// Connects, creates the table and its indexes when missing, and starts
    /// the sweeper. Call it inside a Tokio runtime.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for an invalid URL or table name, or a
    /// table that exists with other columns; [`StorageErrorKind::Backend`]
    /// when the server cannot be reached or refuses.
    pub async fn open(self) -> Result<PostgresStorage, StorageError> {
        let storage = self.build(true).await?;
        storage.ensure_schema().await?;
        Ok(storage)
    }

    /// Like [`open`](Self::open), without connecting: returns at once, and
    /// the first operation connects and creates the table. While the
    /// server is down every operation fails (the layer answers from
    /// upstream), and the storage recovers by itself once it is back. Call
    /// it inside a Tokio runtime.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for an invalid URL or table name.
    pub async fn open_lazily(self) -> Result<PostgresStorage, StorageError> {
        self.build(false).await
    }

    async fn build(self, connect: bool) -> Result<PostgresStorage, StorageError> {
        let queries = Queries::new(self.table)?;
        let pool = match self.source {
            Source::Pool(pool) => pool,
            Source::Url(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(StorageError::new(
                        StorageErrorKind::Config,
                        "a PostgreSQL URL starts with postgres:// or postgresql://",
                    ));
                }
                let options: PgConnectOptions = url.parse().map_err(|error| {
                    StorageError::with_source(
                        StorageErrorKind::Config,
                        "invalid PostgreSQL URL (postgres://user:password@host:port/database)",
                        error,
                    )
                })?;
                let options = options.application_name("reqcache");
                let pool_options = PgPoolOptions::new()
                    .max_connections(self.max_connections.max(1))
                    .min_connections(self.min_connections)
                    .acquire_timeout(self.acquire_timeout)
                    .idle_timeout(self.idle_timeout)
                    // No ping before each use: that doubles every hit's
                    // round trips. A connection that broke fails its
                    // operation (a miss, or a write skipped) and is dropped;
                    // the next one reconnects.
                    .test_before_acquire(false);
                if connect {
                    let target = target(&options);
                    pool_options.connect_with(options).await.map_err(|error| {
                        StorageError::with_source(
                            StorageErrorKind::Backend,
                            format!("cannot connect to PostgreSQL at {target}"),
                            error,
                        )
                    })?
                } else {
                    pool_options.connect_lazy_with(options)
                }
            }
        };
        let shared = Arc::new(Shared {
            target: target(&pool.connect_options()),
            pool,
            queries,
            unlogged: self.unlogged,
            schema_ready: OnceCell::new(),
            max_size: self.max_size,
            stamps: reqcache::storage::backend::AccessStamps::default(),
            eviction_requests: std::sync::atomic::AtomicUsize::new(0),
        });
        if let Some(interval) = self.sweep_interval {
            sweep::start(&shared, interval);
        }
        Ok(PostgresStorage { shared })
    }
}

/// `postgres://user@host:port/database`: where `options` connect, without
/// the password.
fn target(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username()),
    )
}
