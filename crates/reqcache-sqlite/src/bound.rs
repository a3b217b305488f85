//! The size bound: how much the database keeps, and what goes when a
//! write passes the bound.

use std::time::SystemTime;

use reqcache::storage::backend::DEFAULT_NATIVE_RETENTION;
use reqcache::storage::backend::unix_time::to_unix_nanos;
use rusqlite::{Connection, params};

use crate::database::Queries;

/// The most rows one eviction round deletes: rounds start at 4 and double
/// while the database is still over its bound.
const MAX_EVICTION_ROUND: u32 = 4096;

/// The most rows one transaction evicts: a database far over its bound
/// (filled before it had one, or under a larger one) comes down over
/// several transactions instead of holding the write lock for all of it.
const MAX_EVICTED_PER_TRANSACTION: u64 = 20_000;

/// A database's bound on the bytes of its pages in use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SizeBound {
    pub(crate) max_size: u64,
}

impl SizeBound {
    /// Deletes rows until the pages in use fit the bound: first rows past
    /// their retention, then those least recently used, in rounds that
    /// double, at most 20,000 rows a transaction. Runs inside the writer's transaction, after its inserts,
    /// so every process writing the file sees and keeps the same bound.
    /// Returns how many rows went.
    pub(crate) fn evict_over(
        &self,
        connection: &Connection,
        queries: &Queries,
        now: SystemTime,
    ) -> rusqlite::Result<u64> {
        let expired_before = to_unix_nanos(
            now.checked_sub(DEFAULT_NATIVE_RETENTION)
                .unwrap_or(std::time::UNIX_EPOCH),
        );
        let now = to_unix_nanos(now);
        let mut evicted = 0u64;
        let mut round = 4u32;
        while evicted < MAX_EVICTED_PER_TRANSACTION && bytes_in_use(connection)? > self.max_size {
            let mut gone = connection.prepare_cached(&queries.sweep)?.execute(params![
                now,
                round,
                expired_before
            ])?;
            if gone == 0 {
                gone = connection
                    .prepare_cached(&queries.evict_least_recent)?
                    .execute([round])?;
            }
            if gone == 0 {
                break; // nothing left of ours: other tables fill the file
            }
            evicted += gone as u64;
            round = (round * 2).min(MAX_EVICTION_ROUND);
        }
        if evicted > 0 {
            connection
                .prepare_cached(&queries.count_evictions)?
                .execute([i64::try_from(evicted).unwrap_or(i64::MAX)])?;
        }
        Ok(evicted)
    }

    /// The most bytes one transaction writes (a larger entry goes alone):
    /// a 32nd of the bound, between 64 KiB and 4 MiB, so that the file
    /// passes the bound by that at most before the transaction's evictions
    /// free pages for the next.
    pub(crate) fn batch_bytes(max_size: Option<u64>) -> u64 {
        max_size.map_or(LARGEST_STEP, |max| (max / 32).clamp(64 << 10, LARGEST_STEP))
    }

    /// How large the write-ahead log grows before a checkpoint, and stays
    /// after one: a 32nd of the bound, between 256 KiB and 4 MiB (SQLite's
    /// own checkpoint point is 1,000 pages, 4 MiB).
    pub(crate) fn wal_limit(max_size: Option<u64>) -> u64 {
        max_size.map_or(LARGEST_STEP, |max| {
            (max / 32).clamp(256 << 10, LARGEST_STEP)
        })
    }
}

/// The largest transaction and write-ahead log: 4 MiB.
const LARGEST_STEP: u64 = 4 << 20;

/// The bytes of the database's pages in use: its pages less the free ones,
/// tables and indexes included, as every connection to the file sees them.
pub(crate) fn bytes_in_use(connection: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let free: i64 = connection.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
    let page_size: i64 = connection.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    Ok((pages - free).max(0) as u64 * page_size.max(0) as u64)
}
