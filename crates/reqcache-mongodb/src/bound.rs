//! The size bound of a collection: a usage document every process adds
//! its writes to, a recount when it says the bound is passed (the TTL
//! monitor deletes documents behind its back), and eviction on a task:
//! documents past their deadline first, then the least recently read.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::ReturnDocument;
use reqcache::storage::StorageError;
use reqcache::storage::backend::AccessStamps;

use crate::document::{ACCESSED, BYTES, backend};

/// The usage document's `_id`.
const USAGE_ID: &str = "usage";

/// The most documents one eviction round looks at.
const EVICTION_ROUND: i64 = 1024;

/// A collection's bound, shared by the clones of its storage.
#[derive(Debug)]
pub(crate) struct Bound {
    pub(crate) max_size: u64,
    /// `{collection}_usage`: one document, `{_id: "usage", bytes, evictions}`.
    usage: Collection<Document>,
    pub(crate) stamps: AccessStamps,
    /// Writes that asked for an eviction since the eviction task last
    /// looked: nonzero while it runs.
    eviction_requests: AtomicUsize,
}

impl Bound {
    pub(crate) fn new(max_size: u64, usage: Collection<Document>) -> Self {
        Self {
            max_size,
            usage,
            stamps: AccessStamps::default(),
            eviction_requests: AtomicUsize::new(0),
        }
    }

    /// Adds `delta` bytes to the usage document (created at 0); returns
    /// the bytes it holds now.
    pub(crate) async fn add(&self, delta: i64) -> Result<u64, StorageError> {
        let after = self
            .usage
            .find_one_and_update(
                doc! { "_id": USAGE_ID },
                doc! { "$inc": { BYTES: delta, "evictions": 0_i64 } },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(backend("usage update failed"))?;
        Ok(after
            .and_then(|d| d.get_i64(BYTES).ok())
            .map_or(0, |b| u64::try_from(b).unwrap_or(0)))
    }

    /// The bytes and evictions the usage document holds.
    pub(crate) async fn read(&self) -> Result<(u64, u64), StorageError> {
        let found = self
            .usage
            .find_one(doc! { "_id": USAGE_ID })
            .await
            .map_err(backend("usage read failed"))?;
        let field = |name: &str| {
            found
                .as_ref()
                .and_then(|d| d.get_i64(name).ok())
                .map_or(0, |n| u64::try_from(n).unwrap_or(0))
        };
        Ok((field(BYTES), field("evictions")))
    }

    /// Counts the collection's bytes afresh and sets the usage to them.
    pub(crate) async fn recount(
        &self,
        collection: &Collection<Document>,
    ) -> Result<u64, StorageError> {
        let mut cursor = collection
            .aggregate([
                doc! { "$group": { "_id": Bson::Null, "bytes": { "$sum": format!("${BYTES}") } } },
            ])
            .await
            .map_err(backend("usage recount failed"))?;
        let mut total = 0u64;
        if cursor
            .advance()
            .await
            .map_err(backend("usage recount failed"))?
        {
            let sum: Document = cursor
                .deserialize_current()
                .map_err(backend("usage recount failed"))?;
            total = match sum.get(BYTES) {
                Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
                Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
                Some(Bson::Double(n)) => *n as u64,
                _ => 0,
            };
        }
        self.usage
            .update_one(
                doc! { "_id": USAGE_ID },
                doc! { "$set": { BYTES: i64::try_from(total).unwrap_or(i64::MAX) } },
            )
            .upsert(true)
            .await
            .map_err(backend("usage update failed"))?;
        Ok(total)
    }

    /// Writes the access stamps waiting.
    pub(crate) async fn write_stamps(
        &self,
        collection: &Collection<Document>,
    ) -> Result<(), StorageError> {
        let stamps = self.stamps.take();
        let Some(at) = stamps.iter().map(|(_, at)| *at).max() else {
            return Ok(());
        };
        let keys: Vec<Bson> = stamps
            .into_iter()
            .map(|(key, _)| Bson::String(key))
            .collect();
        collection
            .update_many(
                doc! { "_id": { "$in": keys }, "$or": [
                    { ACCESSED: { "$lt": at } }, { ACCESSED: { "$exists": false } },
                ] },
                doc! { "$set": { ACCESSED: at } },
            )
            .await
            .map_err(backend("access stamps failed"))?;
        Ok(())
    }

    /// Brings the collection within the bound: recounts, then deletes
    /// (with `delete`, which removes the documents of the keys given and
    /// anything beside them, and returns how many) documents past their
    /// deadline first, then the least recently read, what the collection
    /// is over by at a time. Returns how many went.
    pub(crate) async fn evict_over<D, F>(
        &self,
        collection: &Collection<Document>,
        delete: D,
    ) -> Result<u64, StorageError>
    where
        D: Fn(Vec<Bson>) -> F,
        F: Future<Output = Result<u64, StorageError>>,
    {
        let mut evicted = 0;
        loop {
            let total = self.recount(collection).await?;
            if total <= self.max_size {
                return Ok(evicted);
            }
            let excess = total - self.max_size;
            let now = DateTime::from_system_time(SystemTime::now());
            let mut doomed = self
                .pick(
                    collection,
                    doc! { "expires_at": { "$lte": now } },
                    doc! { "expires_at": 1 },
                    excess,
                )
                .await?;
            if doomed.is_empty() {
                doomed = self
                    .pick(collection, doc! {}, doc! { ACCESSED: 1 }, excess)
                    .await?;
            }
            if doomed.is_empty() {
                return Ok(evicted);
            }
            let gone = delete(doomed).await?;
            if gone == 0 {
                return Ok(evicted);
            }
            evicted += gone;
            self.usage
                .update_one(
                    doc! { "_id": USAGE_ID },
                    doc! { "$inc": { "evictions": i64::try_from(gone).unwrap_or(i64::MAX) } },
                )
                .upsert(true)
                .await
                .map_err(backend("usage update failed"))?;
        }
    }

    /// The keys of the first documents matching `filter` in `order` whose
    /// bytes add up to `excess`.
    async fn pick(
        &self,
        collection: &Collection<Document>,
        filter: Document,
        order: Document,
        excess: u64,
    ) -> Result<Vec<Bson>, StorageError> {
        let mut cursor = collection
            .find(filter)
            .sort(order)
            .limit(EVICTION_ROUND)
            .projection(doc! { "_id": 1, BYTES: 1 })
            .await
            .map_err(backend("eviction failed"))?;
        let (mut keys, mut covered) = (Vec::new(), 0u64);
        while covered < excess && cursor.advance().await.map_err(backend("eviction failed"))? {
            let found: Document = cursor
                .deserialize_current()
                .map_err(backend("eviction failed"))?;
            let Some(key) = found.get("_id").cloned() else {
                continue;
            };
            covered += found
                .get_i64(BYTES)
                .map_or(0, |b| u64::try_from(b).unwrap_or(0));
            keys.push(key);
        }
        Ok(keys)
    }

    /// After a write that left the usage at `bytes`: `true` when it passes
    /// the bound and no eviction task of this storage runs (the caller
    /// starts one); while one runs, it is asked to look once more.
    pub(crate) fn claim_eviction(&self, bytes: u64) -> bool {
        bytes > self.max_size && self.eviction_requests.fetch_add(1, Ordering::AcqRel) == 0
    }

    /// The requests the eviction task has seen, before a run.
    pub(crate) fn eviction_requests(&self) -> usize {
        self.eviction_requests.load(Ordering::Acquire)
    }

    /// After a run that started having seen `seen` requests: `true` when
    /// none came since (the task ends), `false` when it must run again.
    pub(crate) fn eviction_done(&self, seen: usize) -> bool {
        self.eviction_requests
            .compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Runs `work` on a task of its own, logging its failure.
pub(crate) fn in_background<F>(what: &'static str, work: F)
where
    F: Future<Output = Result<(), StorageError>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = work.await {
            tracing::warn!(%error, "reqcache-mongodb: {what} failed");
        }
    });
}

/// The bound, shared.
pub(crate) type SharedBound = Option<Arc<Bound>>;

/// A key's stamp in a found document.
pub(crate) fn stamp_of(document: &Document) -> Option<i64> {
    document.get_i64(ACCESSED).ok()
}
