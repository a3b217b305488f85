//! The sweeper: a background task that deletes the rows past their deadline.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use reqcache::storage::StorageError;
use reqcache::storage::backend::unix_time::to_unix_nanos;
use tokio::time::{Instant, MissedTickBehavior};

use crate::queries::SWEEP_BATCH;
use crate::storage::{PostgresStorage, Shared};

/// Starts the sweeper of `shared` on the current Tokio runtime, every
/// `interval`. It holds the storage weakly and ends once the last clone of
/// the storage is dropped. Outside a runtime there is no sweeper (a warning
/// says so).
pub(crate) fn start(shared: &Arc<Shared>, interval: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("reqcache-postgres: no Tokio runtime; expired rows are not swept");
        return;
    };
    let weak = Arc::downgrade(shared);
    runtime.spawn(sweep_every(weak, interval));
}

async fn sweep_every(weak: Weak<Shared>, interval: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let storage = PostgresStorage { shared };
        match storage.sweep(SystemTime::now()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(
                table = storage.table(),
                deleted,
                "reqcache-postgres: rows past their deadline swept"
            ),
            Err(error) => tracing::warn!(table = storage.table(), %error,
                "reqcache-postgres: sweep failed; next try in one interval"),
        }
    }
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
                return Ok(deleted);
            }
        }
    }
}
