//! The writer thread: what waits for it, and the transactions it commits.

use std::sync::mpsc::Receiver;
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::SystemTime;

use reqcache::storage::backend::unix_time::to_unix_nanos;
use reqcache::storage::backend::{AccessStamps, Record, ValueParts};
use rusqlite::{Connection, params};

use crate::bound::SizeBound;
use crate::database::Queries;

/// The most entries the writer commits in one transaction.
const MAX_BATCH: usize = 256;

/// The writing connection, and what the writer thread shares with the
/// readers: the SQL, the size bound, the access stamps reads leave.
pub(crate) struct Writing {
    /// The one writing connection: the writer thread's, and
    /// [`with_connection`](crate::SqliteStorage::with_connection)'s on
    /// the blocking pool.
    pub(crate) connection: Mutex<Connection>,
    pub(crate) queries: Queries,
    /// The size bound, if any.
    pub(crate) bound: Option<SizeBound>,
    /// Access stamps reads leave for the writer (with a bound only).
    pub(crate) stamps: AccessStamps,
}

impl Writing {
    /// The writing connection. A poisoned lock only means a panic
    /// elsewhere; the connection is still fine.
    pub(crate) fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the writer thread is sent.
pub(crate) enum Job {
    /// An entry to write, and where its result goes.
    Put(Box<Put>),
    /// Access stamps are waiting in [`Writing::stamps`].
    Stamps,
}

/// One entry for the writer thread, and where its result goes.
pub(crate) struct Put {
    pub(crate) record: Record,
    /// The value in parts, written with incremental blob I/O (then
    /// `record.value` is empty).
    pub(crate) parts: Option<ValueParts>,
    pub(crate) done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

impl Put {
    /// The bytes the entry's value takes.
    fn len(&self) -> u64 {
        self.parts
            .as_ref()
            .map_or(self.record.value.len(), ValueParts::len) as u64
    }
}

/// The writer thread: takes the entries waiting, up to [`MAX_BATCH`] and
/// the batch bytes of the bound, and commits them in one transaction
/// (group commit), which waits at most the busy timeout for another
/// process's lock, with the access stamps waiting and the evictions the
/// bound asks for; then reports to each.
pub(crate) fn write_batches(shared: &Weak<Writing>, queue: &Receiver<Job>) {
    let mut carried: Option<Box<Put>> = None;
    loop {
        let first = match carried.take() {
            Some(put) => Some(put),
            None => match queue.recv() {
                Ok(Job::Put(put)) => Some(put),
                Ok(Job::Stamps) => None,
                Err(_) => return,
            },
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let max_bytes = SizeBound::batch_bytes(shared.bound.map(|b| b.max_size));
        let mut bytes = first.as_ref().map_or(0, |put| put.len());
        let mut batch: Vec<Box<Put>> = first.into_iter().collect();
        while batch.len() < MAX_BATCH && bytes < max_bytes {
            match queue.try_recv() {
                Ok(Job::Put(put)) if bytes + put.len() > max_bytes && !batch.is_empty() => {
                    carried = Some(put);
                    break;
                }
                Ok(Job::Put(put)) => {
                    bytes += put.len();
                    batch.push(put);
                }
                Ok(Job::Stamps) => {}
                Err(_) => break,
            }
        }
        let stamps = shared.stamps.take();
        if batch.is_empty() && stamps.is_empty() {
            continue;
        }
        let result = write_batch(&shared, &batch, &stamps).map_err(|error| error.to_string());
        if let Err(error) = &result {
            tracing::warn!(%error, entries = batch.len(), "reqcache-sqlite: batch of writes failed");
        }
        for put in batch {
            let _ = put.done.send(result.clone());
        }
    }
}

/// One transaction: the entries, the access stamps, then the evictions
/// that bring the database back within its bound.
fn write_batch(
    shared: &Writing,
    batch: &[Box<Put>],
    stamps: &[(String, i64)],
) -> rusqlite::Result<()> {
    let connection = shared.connection();
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
    if !stamps.is_empty() {
        let mut touch = transaction.prepare_cached(&shared.queries.touch)?;
        for (key, at) in stamps {
            touch.execute(params![key, at])?;
        }
    }
    if let Some(bound) = shared.bound {
        bound.evict_over(&transaction, &shared.queries, SystemTime::now())?;
    }
    transaction.commit()
}
