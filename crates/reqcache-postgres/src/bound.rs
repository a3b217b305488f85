//! The size bound: the access stamps reads leave, and the eviction a
//! write that passes the bound starts, both on background tasks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use reqcache::storage::StorageError;
use reqcache::storage::backend::unix_time::to_unix_nanos;

use crate::storage::{PostgresStorage, Shared};

impl Shared {
    /// Writes the access stamps waiting, in one statement.
    pub(crate) async fn write_stamps(&self) -> Result<(), StorageError> {
        let stamps = self.stamps.take();
        let Some(at) = stamps.iter().map(|(_, at)| *at).max() else {
            return Ok(());
        };
        let keys: Vec<String> = stamps.into_iter().map(|(key, _)| key).collect();
        sqlx::query(&self.queries.touch)
            .bind(keys)
            .bind(at)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(self.failed("access stamps"))
    }

    /// The bytes counted and the evictions made, from the usage row.
    pub(crate) async fn usage_row(&self) -> Result<(u64, u64), StorageError> {
        let (bytes, evictions): (i64, i64) = sqlx::query_as(&self.queries.usage)
            .fetch_one(&self.pool)
            .await
            .map_err(self.failed("usage"))?;
        Ok((
            u64::try_from(bytes).unwrap_or(0),
            u64::try_from(evictions).unwrap_or(0),
        ))
    }

    /// When the table is over `max_size`, deletes rows past their deadline
    /// first, then the least recently read, until it is within it: each
    /// round deletes what the table is over by, at the time, so writes
    /// going on meanwhile do not make it delete more. One process at a
    /// time (an advisory lock: the others wait, then look again). Returns
    /// how many rows went.
    pub(crate) async fn evict_over(&self, max_size: u64) -> Result<u64, StorageError> {
        if self.usage_row().await?.0 <= max_size {
            return Ok(0);
        }
        let mut connection = self.pool.acquire().await.map_err(self.failed("eviction"))?;
        // Waits for another process's eviction, then looks again: what it
        // left over the bound (writes during its run) is this one's.
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(self.queries.eviction_lock)
            .execute(&mut *connection)
            .await
            .map_err(self.failed("eviction lock"))?;
        let mut evicted = 0u64;
        let result: Result<(), StorageError> = async {
            loop {
                let bytes = self.usage_row().await?.0;
                if bytes <= max_size {
                    return Ok(());
                }
                let excess = i64::try_from(bytes - max_size).unwrap_or(i64::MAX);
                let gone: i64 = sqlx::query_scalar(&self.queries.evict)
                    .bind(to_unix_nanos(SystemTime::now()))
                    .bind(excess)
                    .fetch_one(&mut *connection)
                    .await
                    .map_err(self.failed("eviction"))?;
                if gone == 0 {
                    return Ok(());
                }
                evicted += u64::try_from(gone).unwrap_or(0);
            }
        }
        .await;
        // The lock goes with the session if this fails: the connection is
        // then closed.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.queries.eviction_lock)
            .execute(&mut *connection)
            .await;
        result.map(|()| evicted)
    }
}

impl PostgresStorage {
    /// Brings the table within its bound now, as the task a write that
    /// passes it starts does; returns how many rows went (0 without a
    /// bound, within it, or while another process evicts).
    ///
    /// # Errors
    /// [`StorageErrorKind::Backend`](reqcache::storage::StorageErrorKind::Backend)
    /// when the server fails; the rows deleted before stay deleted.
    pub async fn evict(&self) -> Result<u64, StorageError> {
        self.ensure_schema().await?;
        match self.shared.max_size {
            Some(max_size) => self.shared.evict_over(max_size).await,
            None => Ok(0),
        }
    }

    /// After a write: starts the eviction task unless one of this
    /// storage's runs already, in which case that one runs once more when
    /// it is done (a write during its run is never left over the bound).
    /// The task reads the usage row first, and stops at once when within
    /// the bound.
    pub(crate) fn after_write(&self) {
        let Some(max_size) = self.shared.max_size else {
            return;
        };
        if self.shared.eviction_requests.fetch_add(1, Ordering::AcqRel) > 0 {
            return;
        }
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            loop {
                let seen = shared.eviction_requests.load(Ordering::Acquire);
                if let Err(error) = shared.evict_over(max_size).await {
                    tracing::warn!(%error, "reqcache-postgres: eviction failed");
                }
                if shared
                    .eviction_requests
                    .compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return;
                }
            }
        });
    }

    /// After a read that left the first access stamp waiting: writes the
    /// stamps on a task of their own.
    pub(crate) fn stamps_waiting(&self) {
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            if let Err(error) = shared.write_stamps().await {
                tracing::debug!(%error, "reqcache-postgres: access stamps not written");
            }
        });
    }
}
