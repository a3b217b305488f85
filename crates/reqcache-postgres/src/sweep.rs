//! The sweeper: a background task ([`spawn_sweeper`]) that deletes the
//! rows past their deadline.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqcache::storage::StorageError;
use reqcache::storage::backend::spawn_sweeper;
use reqcache::storage::backend::unix_time::to_unix_nanos;

use crate::chunks::ORPHAN_GRACE;
use crate::queries::SWEEP_BATCH;
use crate::storage::{PostgresStorage, Shared};

/// Starts the sweeper of `shared` on the current Tokio runtime, every
/// `interval` ([`spawn_sweeper`], which logs what it does).
pub(crate) fn start(shared: &Arc<Shared>, interval: Duration) {
    let storage = format!("PostgreSQL table {}", shared.queries.table);
    spawn_sweeper(
        Arc::downgrade(shared),
        interval,
        storage,
        |shared| async move { PostgresStorage { shared }.sweep(SystemTime::now()).await },
    );
}

impl PostgresStorage {
    /// Deletes the rows past their deadline at `now` (what the sweeper
    /// does), in batches of 10,000; returns how many. Rows merely expired
    /// stay, for revalidation: [`remove_expired`](reqcache::storage::Storage::remove_expired)
    /// deletes those too.
    ///
    /// # Errors
    /// [`StorageErrorKind::Backend`](reqcache::storage::StorageErrorKind::Backend)
    /// when the server fails; the rows deleted before stay deleted.
    pub async fn sweep(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.ensure_schema().await?;
        let shared = &self.shared;
        let mut deleted = 0;
        loop {
            let done = sqlx::query(&shared.queries.sweep)
                .bind(to_unix_nanos(now))
                .execute(&shared.pool)
                .await
                .map_err(shared.failed("sweep"))?;
            deleted += done.rows_affected();
            if done.rows_affected() < SWEEP_BATCH as u64 {
                break;
            }
        }
        // Chunks of bodies whose writes were cut short.
        let orphaned_before = to_unix_nanos(
            SystemTime::now()
                .checked_sub(ORPHAN_GRACE)
                .unwrap_or(std::time::UNIX_EPOCH),
        );
        loop {
            let done = sqlx::query(&shared.queries.sweep_orphan_chunks)
                .bind(orphaned_before)
                .execute(&shared.pool)
                .await
                .map_err(shared.failed("sweep"))?;
            if done.rows_affected() < SWEEP_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }
}
