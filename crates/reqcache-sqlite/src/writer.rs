//! The writer thread: what waits for it, and the transactions it commits.

use std::sync::mpsc::Receiver;
use std::sync::{Mutex, MutexGuard, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use reqcache::storage::EntryInfo;
use reqcache::storage::backend::unix_time::to_unix_nanos;
use reqcache::storage::backend::{AccessStamps, BodyRef, Record, ValueParts};
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

/// One write for the writer thread, and where its result goes.
pub(crate) struct Put {
    pub(crate) write: Write,
    pub(crate) done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// What a [`Put`] writes.
// A `Put` goes to the writer boxed: the size of a variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Write {
    /// A row.
    Entry {
        record: Record,
        /// The value in parts, written with incremental blob I/O (then
        /// `record.value` is empty).
        parts: Option<ValueParts>,
    },
    /// A chunk of a body kept in chunks.
    Chunk {
        body: String,
        index: u64,
        data: Bytes,
    },
}

impl Put {
    /// The bytes the write takes.
    pub(crate) fn len(&self) -> u64 {
        match &self.write {
            Write::Entry { record, parts } => {
                parts.as_ref().map_or(record.value.len(), ValueParts::len) as u64
            }
            Write::Chunk { data, .. } => data.len() as u64,
        }
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
        for (index, put) in batch.into_iter().enumerate() {
            let result = match &result {
                Ok(refused) => match refused.iter().find(|(at, _)| *at == index) {
                    Some((_, why)) => Err(why.clone()),
                    None => Ok(()),
                },
                Err(error) => Err(error.clone()),
            };
            let _ = put.done.send(result);
        }
    }
}

/// One transaction: the entries and chunks, the access stamps, then the
/// evictions that bring the database back within its bound. Returns the
/// writes refused (by their place in the batch, and why): a row naming a
/// body whose chunks are not all there.
fn write_batch(
    shared: &Writing,
    batch: &[Box<Put>],
    stamps: &[(String, i64)],
) -> rusqlite::Result<Vec<(usize, String)>> {
    let connection = shared.connection();
    let transaction = connection.unchecked_transaction()?;
    let mut refused = Vec::new();
    for (at, put) in batch.iter().enumerate() {
        let (record, parts) = match &put.write {
            Write::Entry { record, parts } => (record, parts),
            Write::Chunk { body, index, data } => {
                transaction
                    .prepare_cached(&shared.queries.put_chunk)?
                    .execute(params![
                        body,
                        i64::try_from(*index).unwrap_or(i64::MAX),
                        to_unix_nanos(SystemTime::now()),
                        data.as_ref(),
                    ])?;
                continue;
            }
        };
        if let Some(body) = &record.body
            && let Some(why) = missing_chunks(&transaction, &shared.queries, body)?
        {
            refused.push((at, why));
            continue;
        }
        let info = &record.info;
        let body = record.body.as_ref().map(|body| body.id.as_str());
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
            body,
        ];
        let Some(parts) = parts else {
            let mut statement = transaction.prepare_cached(&shared.queries.put)?;
            let mut values: Vec<&dyn rusqlite::ToSql> = metadata.to_vec();
            values.push(&record.value);
            statement.execute(values.as_slice())?;
            put_groups(&transaction, &shared.queries, info)?;
            continue;
        };
        let len = i64::try_from(parts.len()).map_err(|_| rusqlite::Error::BlobSizeError)?;
        let mut values: Vec<&dyn rusqlite::ToSql> = metadata.to_vec();
        values.push(&len);
        let row: i64 = transaction
            .prepare_cached(&shared.queries.put_zeroblob)?
            .query_row(values.as_slice(), |row| row.get(0))?;
        put_groups(&transaction, &shared.queries, info)?;
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
    transaction.commit()?;
    Ok(refused)
}

/// Puts the row just written in its groups. Its old groups, if it
/// replaced a row, went with the upsert (the `regrouped` trigger), so a
/// row written under a new key costs nothing here unless it has groups.
fn put_groups(
    connection: &Connection,
    queries: &Queries,
    info: &EntryInfo,
) -> rusqlite::Result<()> {
    if info.groups.is_empty() {
        return Ok(());
    }
    let mut group = connection.prepare_cached(&queries.put_group)?;
    for name in &info.groups {
        group.execute([name, &info.key])?;
    }
    Ok(())
}

/// Why a row naming `body` cannot be written, if it cannot: its chunks
/// are not all there, or not all of their length (a sweep took them, or a
/// process wrote part of them and died).
fn missing_chunks(
    connection: &Connection,
    queries: &Queries,
    body: &BodyRef,
) -> rusqlite::Result<Option<String>> {
    let (count, bytes): (i64, i64) = connection
        .prepare_cached(&queries.chunks_held)?
        .query_row([&body.id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let whole = u64::try_from(count).ok() == Some(body.chunks())
        && u64::try_from(bytes).ok() == Some(body.len);
    Ok((!whole).then(|| {
        format!(
            "body {} is not whole: {count} chunks of {bytes} bytes stored, {} of {} expected",
            body.id,
            body.chunks(),
            body.len
        )
    }))
}
