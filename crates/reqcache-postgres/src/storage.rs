//! [`PostgresStorage`]: a [`ByteStore`] in one PostgreSQL table.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::SystemTime;

use async_trait::async_trait;
use reqcache::storage::backend::unix_time::{from_unix_nanos, to_unix_nanos};
use reqcache::storage::backend::{
    AccessStamps, ByteStore, ChunkStore, Record, RecordKind, StorageUsage, counted_bytes,
    fits_bound,
};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Executor, Row};
use tokio::sync::OnceCell;

use crate::queries::Queries;

/// A [`Storage`](reqcache::storage::Storage) in a PostgreSQL table, on a
/// sqlx connection pool: a [`ByteStore`], so entries are encoded by
/// reqcache's adapter (plain MessagePack, or any codec through
/// [`Encoded`](reqcache::storage::Encoded)).
///
/// Cloning is cheap: clones share the pool.
///
/// # Example
/// ```no_run
/// use std::time::Duration;
/// use reqcache::CacheLayer;
/// use reqcache_postgres::PostgresStorage;
///
/// # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
/// let storage = PostgresStorage::builder("postgres://cache@db.internal/app")
///     .table("api_cache") // requests-cache's cache_name
///     .unlogged(true)     // a cache can lose its rows in a crash
///     .max_connections(16)
///     .open()
///     .await?;
/// let layer = CacheLayer::builder(storage)
///     .stale_retention(Duration::from_secs(86_400))
///     .build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStorage {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) pool: PgPool,
    pub(crate) queries: Queries,
    pub(crate) unlogged: bool,
    /// Where the pool connects, without its password, for messages.
    pub(crate) target: String,
    /// Set once the table is known to exist with the expected columns.
    pub(crate) schema_ready: OnceCell<()>,
    /// The size bound, if any.
    pub(crate) max_size: Option<u64>,
    /// Access stamps reads leave (with a bound only).
    pub(crate) stamps: AccessStamps,
    /// Writes that asked for an eviction since this storage's eviction
    /// task last looked: nonzero while it runs.
    pub(crate) eviction_requests: AtomicUsize,
}

impl fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("target", &self.shared.target)
            .field("table", &self.shared.queries.table)
            .finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// The connection pool, for maintenance of your own and for tests.
    pub fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.shared.queries.table
    }

    /// The size bound, if any ([`max_size`](crate::PostgresStorageBuilder::max_size)).
    pub fn max_size(&self) -> Option<u64> {
        self.shared.max_size
    }

    /// Makes sure the table exists with the expected columns: at most once
    /// successfully per storage; after a failure (the server down) the next
    /// call tries again.
    ///
    /// # Errors
    /// [`StorageErrorKind::Backend`] when the server cannot be reached,
    /// [`StorageErrorKind::Config`] when the table exists with other
    /// columns.
    pub async fn ensure_schema(&self) -> Result<(), StorageError> {
        self.shared
            .schema_ready
            .get_or_try_init(|| self.shared.create_schema())
            .await
            .map(|_| ())
    }

    /// The shared state, ready for queries.
    pub(crate) async fn ready(&self) -> Result<&Shared, StorageError> {
        if self.shared.schema_ready.initialized() {
            return Ok(&self.shared);
        }
        self.ensure_schema().await?;
        Ok(&self.shared)
    }
}

impl Shared {
    /// Checks the table, and creates it, its indexes and its usage ledger
    /// when it is missing, or brings an older version's table up to date:
    /// in one transaction under an advisory lock, so that processes
    /// starting together do not race on `CREATE TABLE`.
    async fn create_schema(&self) -> Result<(), StorageError> {
        match sqlx::raw_sql(&self.queries.probe).execute(&self.pool).await {
            Ok(_) => return Ok(()),
            // undefined_table: the table or its usage ledger is missing.
            Err(error) if sql_state(&error).as_deref() == Some("42P01") => {}
            // undefined_column: an older version's table, or a foreign one.
            Err(error) if sql_state(&error).as_deref() == Some("42703") => {
                if let Err(older) = self.pool.execute(self.queries.probe_older.as_str()).await {
                    return Err(self.probe_failed(older));
                }
            }
            Err(error) => return Err(self.probe_failed(error)),
        }
        let create = self.queries.create(self.unlogged);
        if let Err(error) = sqlx::raw_sql(&create).execute(&self.pool).await {
            return Err(self.failed("creating the table")(error));
        }
        tracing::info!(target = %self.target, table = %self.queries.table, unlogged = self.unlogged,
            "reqcache-postgres: cache table created or brought up to date");
        match sqlx::raw_sql(&self.queries.probe).execute(&self.pool).await {
            Ok(_) => Ok(()),
            Err(error) => Err(self.probe_failed(error)),
        }
    }

    fn probe_failed(&self, error: sqlx::Error) -> StorageError {
        let table = &self.queries.table;
        match sql_state(&error).as_deref() {
            // undefined_column, datatype_mismatch, wrong_object_type
            Some("42703" | "42804" | "42809") => StorageError::with_source(
                StorageErrorKind::Config,
                format!(
                    "table {table:?} in {} exists with other columns: not a reqcache-postgres table, or another version's; choose another table name",
                    self.target
                ),
                error,
            ),
            _ => self.failed("checking the table")(error),
        }
    }

    /// Maps a driver error to a backend error naming what was being done.
    pub(crate) fn failed<'a>(
        &'a self,
        doing: &'a str,
    ) -> impl FnOnce(sqlx::Error) -> StorageError + 'a {
        move |error| {
            StorageError::with_source(
                StorageErrorKind::Backend,
                format!(
                    "PostgreSQL {} (table {:?}): {doing} failed",
                    self.target, self.queries.table
                ),
                error,
            )
        }
    }
}

/// The SQLSTATE of a database error (only asked on error paths).
fn sql_state(error: &sqlx::Error) -> Option<String> {
    Some(error.as_database_error()?.code()?.into_owned())
}

/// A row's metadata; `None` for a row whose columns do not make one (a
/// status out of range, a method that is not a token).
fn entry_info(row: &PgRow) -> Option<EntryInfo> {
    let method: String = row.try_get(1).ok()?;
    let status: i16 = row.try_get(3).ok()?;
    let kind: i16 = row.try_get(8).ok()?;
    Some(EntryInfo {
        key: row.try_get(0).ok()?,
        kind: RecordKind::from_code(u8::try_from(kind).ok()?)?,
        method: http::Method::from_bytes(method.as_bytes()).ok()?,
        url: row.try_get(2).ok()?,
        status: http::StatusCode::from_u16(u16::try_from(status).ok()?).ok()?,
        size: u64::try_from(row.try_get::<i64, _>(4).ok()?).unwrap_or(0),
        created_at: from_unix_nanos(row.try_get(5).ok()?),
        expires: row.try_get::<Option<i64>, _>(6).ok()?.map(from_unix_nanos),
        retain_until: row.try_get::<Option<i64>, _>(7).ok()?.map(from_unix_nanos),
        groups: row
            .try_get::<Option<Vec<String>>, _>(9)
            .ok()?
            .unwrap_or_default(),
    })
}

/// Every operation is one statement on a pooled connection; reads and
/// removals filter with the table's indexes, and nothing but
/// [`read`](ByteStore::read) loads a value.
#[async_trait]
impl ByteStore for PostgresStorage {
    /// With a bound, a read leaves an access stamp for a task to write
    /// when the row's is a minute old.
    async fn read(&self, key: &str, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        let shared = self.ready().await?;
        let found = sqlx::query_as::<_, (Vec<u8>, Option<i64>)>(&shared.queries.read)
            .bind(key)
            .bind(to_unix_nanos(now))
            .fetch_optional(&shared.pool)
            .await
            .map_err(shared.failed("read"))?;
        Ok(found.map(|(value, accessed)| {
            if shared.max_size.is_some() && shared.stamps.note(key, accessed, now) {
                self.stamps_waiting();
            }
            value
        }))
    }

    /// With a bound, a write that passes it starts the eviction task. A
    /// row that names a body kept in chunks is written only when every
    /// chunk is there (else refused), and counts the body's bytes.
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        let info = record.info;
        let body_len = record.body.as_ref().map_or(0, |body| body.len);
        let bytes = counted_bytes(record.value.len(), info.key.len(), info.url.len())
            .saturating_add(i64::try_from(body_len).unwrap_or(i64::MAX));
        fits_bound(bytes as u64, self.shared.max_size, "the table")?;
        let shared = self.ready().await?;
        // Statuses are 100-999 (http::StatusCode): they fit a SMALLINT.
        let status = i16::try_from(info.status.as_u16()).unwrap_or(i16::MAX);
        let written = sqlx::query(&shared.queries.write)
            .bind(info.key)
            .bind(info.method.as_str())
            .bind(info.url)
            .bind(status)
            .bind(i64::try_from(info.size).unwrap_or(i64::MAX))
            .bind(to_unix_nanos(info.created_at))
            .bind(info.expires.map(to_unix_nanos))
            .bind(info.retain_until.map(to_unix_nanos))
            .bind(record.deadline.map(to_unix_nanos))
            .bind(record.value)
            .bind(i16::from(info.kind.code()))
            .bind(bytes)
            .bind(record.body.as_ref().map(|body| body.id.as_str()))
            .bind(
                record
                    .body
                    .as_ref()
                    .map_or(0, |body| i64::try_from(body.chunks()).unwrap_or(i64::MAX)),
            )
            .bind(i64::try_from(body_len).unwrap_or(i64::MAX))
            // No groups: NULL, which the partial index leaves out.
            .bind((!info.groups.is_empty()).then_some(info.groups))
            .execute(&shared.pool)
            .await
            .map_err(shared.failed("write"))?;
        if written.rows_affected() == 0
            && let Some(body) = &record.body
        {
            return Err(StorageError::new(
                StorageErrorKind::Backend,
                format!(
                    "PostgreSQL {} (table {:?}): body {} is not whole: its {} chunks are not all stored",
                    shared.target,
                    shared.queries.table,
                    body.id,
                    body.chunks()
                ),
            ));
        }
        self.after_write();
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let shared = self.ready().await?;
        let done = sqlx::query(&shared.queries.remove)
            .bind(key)
            .execute(&shared.pool)
            .await
            .map_err(shared.failed("delete"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let shared = self.ready().await?;
        let done = sqlx::query(&shared.queries.remove_url)
            .bind(url)
            .execute(&shared.pool)
            .await
            .map_err(shared.failed("delete by URL"))?;
        Ok(done.rows_affected())
    }

    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        let shared = self.ready().await?;
        sqlx::query_scalar(&shared.queries.group_keys)
            .bind(group)
            .fetch_all(&shared.pool)
            .await
            .map_err(shared.failed("group lookup"))
    }

    /// One statement; the triggers take the rows' chunks and count the
    /// bytes freed.
    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let shared = self.ready().await?;
        let done = sqlx::query(&shared.queries.remove_group)
            .bind(group)
            .execute(&shared.pool)
            .await
            .map_err(shared.failed("group purge"))?;
        Ok(done.rows_affected())
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        let shared = self.ready().await?;
        sqlx::query(&shared.queries.remove_all)
            .execute(&shared.pool)
            .await
            .map_err(shared.failed("clear"))?;
        // Chunks of bodies still being written, or given up, too.
        sqlx::query(&shared.queries.clear_chunks)
            .execute(&shared.pool)
            .await
            .map(drop)
            .map_err(shared.failed("clear"))
    }

    async fn count(&self) -> Result<u64, StorageError> {
        let shared = self.ready().await?;
        let count: i64 = sqlx::query_scalar(&shared.queries.count)
            .fetch_one(&shared.pool)
            .await
            .map_err(shared.failed("count"))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        let shared = self.ready().await?;
        let rows = sqlx::query(&shared.queries.list)
            .fetch_all(&shared.pool)
            .await
            .map_err(shared.failed("list"))?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            match entry_info(row) {
                Some(info) => entries.push(info),
                None => tracing::warn!(table = %shared.queries.table,
                    "reqcache-postgres: row with invalid metadata skipped"),
            }
        }
        Ok(entries)
    }

    async fn total_size(&self) -> Result<u64, StorageError> {
        let shared = self.ready().await?;
        let size: i64 = sqlx::query_scalar(&shared.queries.total_size)
            .fetch_one(&shared.pool)
            .await
            .map_err(shared.failed("size"))?;
        Ok(u64::try_from(size).unwrap_or(0))
    }

    /// The bytes the usage row counts (each row's value, key and URL, and
    /// 64 bytes of other columns), the bound, and every process's
    /// evictions.
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        let shared = self.ready().await?;
        let (bytes, evictions) = shared.usage_row().await?;
        Ok(StorageUsage::new(bytes, shared.max_size, evictions))
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let shared = self.ready().await?;
        let done = sqlx::query(&shared.queries.purge_expired)
            .bind(to_unix_nanos(now))
            .execute(&shared.pool)
            .await
            .map_err(shared.failed("remove expired"))?;
        Ok(done.rows_affected())
    }

    /// Every record gets a deadline (its retention, or an hour past its
    /// expiry): reads leave out rows past it, and the sweeper deletes them.
    fn expires_natively(&self) -> bool {
        true
    }

    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        Some(Arc::new(self.clone()))
    }
}
