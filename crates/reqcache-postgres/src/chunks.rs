//! Bodies kept in chunks: a row each in `{table}_chunks`.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use reqcache::storage::StorageError;
use reqcache::storage::backend::ChunkStore;
use reqcache::storage::backend::unix_time::to_unix_nanos;

use crate::storage::PostgresStorage;

/// The length of the chunks of a body kept in chunks: 256 KiB.
pub const CHUNK_SIZE: u32 = 256 * 1024;

/// How old chunks that no row names must be before the sweeper deletes
/// them: one hour, longer than any body takes to write. A row whose chunks
/// a sweep took anyway is refused when written, never stored short.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

/// Bodies past [`CHUNKED_FROM`](reqcache::storage::backend::CHUNKED_FROM)
/// bytes are kept in `{table}_chunks`, a row per chunk of [`CHUNK_SIZE`]
/// (stored out of line, uncompressed). Statement triggers delete a body's
/// chunks with the row that names it; the row counts the body's bytes
/// against the bound. Chunks no row names (a write cut short) are deleted
/// by the sweeper once [`ORPHAN_GRACE`] old.
#[async_trait]
impl ChunkStore for PostgresStorage {
    fn chunk_size(&self) -> u32 {
        CHUNK_SIZE
    }

    fn max_size(&self) -> Option<u64> {
        self.shared.max_size
    }

    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError> {
        let shared = self.ready().await?;
        sqlx::query(&shared.queries.put_chunk)
            .bind(id)
            .bind(i64::try_from(index).unwrap_or(i64::MAX))
            .bind(to_unix_nanos(SystemTime::now()))
            .bind(data.as_ref())
            .execute(&shared.pool)
            .await
            .map(drop)
            .map_err(shared.failed("chunk write"))
    }

    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        let shared = self.ready().await?;
        let found: Option<Vec<u8>> = sqlx::query_scalar(&shared.queries.get_chunk)
            .bind(id)
            .bind(i64::try_from(index).unwrap_or(i64::MAX))
            .fetch_optional(&shared.pool)
            .await
            .map_err(shared.failed("chunk read"))?;
        Ok(found.map(Bytes::from))
    }

    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        let shared = self.ready().await?;
        sqlx::query(&shared.queries.discard_chunks)
            .bind(id)
            .execute(&shared.pool)
            .await
            .map(drop)
            .map_err(shared.failed("chunk removal"))
    }
}
