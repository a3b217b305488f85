//! Bodies written in chunks, at the engine's edges: a storage in memory
//! that keeps chunks (and can be slowed, or made to fail), under a layer.
//! The body always reaches the caller whole; it is stored only when every
//! chunk was written; the upstream body is read no faster than the storage
//! writes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::backend::{ByteStore, ChunkStore, Record};
use reqcache::storage::{EntryInfo, Storage, StorageError, StorageErrorKind};
use reqcache::{CacheLayer, CacheStatus, WriteMode};
use reqcache_test::chunked::{PatternBody, check_pattern};
use tokio::sync::Semaphore;
use tower::{Layer, ServiceExt};

/// Records and chunks in maps. Chunk writes wait for a permit of `gate`
/// when it is set, and fail when `failing` is.
#[derive(Debug, Default)]
struct ChunkMap {
    records: Mutex<HashMap<String, Record>>,
    chunks: Mutex<HashMap<(String, u64), Bytes>>,
    gate: Option<Semaphore>,
    failing: AtomicBool,
    chunk_writes: AtomicUsize,
    /// Reads of chunks from this index on never answer (0: none hangs).
    hang_reads_from: AtomicU64,
}

#[derive(Debug, Clone, Default)]
struct Store(Arc<ChunkMap>);

#[async_trait]
impl ByteStore for Store {
    async fn read(&self, key: &str, _now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .0
            .records
            .lock()
            .unwrap()
            .get(key)
            .map(|r| r.value.clone()))
    }
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        if let Some(body) = &record.body {
            let chunks = self.0.chunks.lock().unwrap();
            if (0..body.chunks()).any(|i| !chunks.contains_key(&(body.id.clone(), i))) {
                return Err(StorageError::new(
                    StorageErrorKind::Backend,
                    "body not whole",
                ));
            }
        }
        self.0
            .records
            .lock()
            .unwrap()
            .insert(record.info.key.clone(), record);
        Ok(())
    }
    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.0.records.lock().unwrap().remove(key).is_some())
    }
    async fn remove_all(&self) -> Result<(), StorageError> {
        self.0.records.lock().unwrap().clear();
        Ok(())
    }
    async fn count(&self) -> Result<u64, StorageError> {
        Ok(self.0.records.lock().unwrap().len() as u64)
    }
    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        Ok(self
            .0
            .records
            .lock()
            .unwrap()
            .values()
            .map(|r| r.info.clone())
            .collect())
    }
    async fn purge_expired(&self, _now: SystemTime) -> Result<u64, StorageError> {
        Ok(0)
    }
    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        Some(Arc::new(self.clone()))
    }
}

#[async_trait]
impl ChunkStore for Store {
    fn chunk_size(&self) -> u32 {
        64 * 1024
    }
    fn max_size(&self) -> Option<u64> {
        None
    }
    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError> {
        if let Some(gate) = &self.0.gate {
            gate.acquire().await.expect("open gate").forget();
        }
        if self.0.failing.load(Ordering::SeqCst) {
            return Err(StorageError::new(StorageErrorKind::Backend, "disk full"));
        }
        self.0.chunk_writes.fetch_add(1, Ordering::SeqCst);
        self.0
            .chunks
            .lock()
            .unwrap()
            .insert((id.to_owned(), index), data);
        Ok(())
    }
    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        let hang = self.0.hang_reads_from.load(Ordering::SeqCst);
        if hang > 0 && index >= hang {
            std::future::pending::<()>().await;
        }
        Ok(self
            .0
            .chunks
            .lock()
            .unwrap()
            .get(&(id.to_owned(), index))
            .cloned())
    }
    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        self.0
            .chunks
            .lock()
            .unwrap()
            .retain(|(body, _), _| body != id);
        Ok(())
    }
}

const LEN: u64 = 8 << 20;

/// An upstream of `LEN` pattern bytes, `max-age=60`; counts its calls and
/// the bytes its bodies have given.
fn upstream(
    calls: Arc<AtomicUsize>,
    given: Arc<AtomicU64>,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Counted>,
    Error = Infallible,
    Future = std::future::Ready<Result<Response<Counted>, Infallible>>,
> + Clone {
    tower::service_fn(move |_request: Request<Full<Bytes>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let mut response = Response::new(Counted {
            body: PatternBody::new(LEN),
            given: Arc::clone(&given),
        });
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("max-age=60"),
        );
        std::future::ready(Ok(response))
    })
}

/// A pattern body that counts the bytes it gives.
struct Counted {
    body: PatternBody,
    given: Arc<AtomicU64>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.body).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.given.fetch_add(data.len() as u64, Ordering::SeqCst);
        }
        polled
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

fn get() -> Request<Full<Bytes>> {
    Request::get("https://example.com/big")
        .body(Full::default())
        .unwrap()
}

fn from_cache<B>(response: &Response<B>) -> bool {
    response
        .extensions()
        .get::<CacheStatus>()
        .is_some_and(CacheStatus::from_cache)
}

#[tokio::test]
async fn a_body_past_a_megabyte_is_written_in_chunks_and_read_back() {
    let store = Store::default();
    let layer = CacheLayer::builder(store.clone())
        .write_mode(WriteMode::Durable)
        .max_body_size(LEN as usize)
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(upstream(Arc::clone(&calls), Arc::default()));
    let miss = service.clone().oneshot(get()).await.unwrap();
    check_pattern(miss.into_body(), 0, LEN).await;
    assert_eq!(store.len().await.unwrap(), 1, "stored once read through");
    assert_eq!(
        store.0.chunk_writes.load(Ordering::SeqCst),
        (LEN / 65536) as usize
    );
    let hit = service.oneshot(get()).await.unwrap();
    assert!(from_cache(&hit));
    check_pattern(hit.into_body(), 0, LEN).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_small_body_stays_one_value() {
    let store = Store::default();
    let layer = CacheLayer::builder(store.clone())
        .write_mode(WriteMode::Durable)
        .build();
    let service = layer.layer(tower::service_fn(|_r: Request<Full<Bytes>>| async {
        let mut response = Response::new(PatternBody::new(100_000));
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("max-age=60"),
        );
        Ok::<_, Infallible>(response)
    }));
    let miss = service.clone().oneshot(get()).await.unwrap();
    check_pattern(miss.into_body(), 0, 100_000).await;
    assert_eq!(store.0.chunk_writes.load(Ordering::SeqCst), 0);
    let entry = store
        .get(&store.entries().await.unwrap()[0].key, SystemTime::now())
        .await
        .unwrap()
        .unwrap();
    assert!(entry.stored_body.is_none());
    assert_eq!(entry.body.len(), 100_000);
}

#[tokio::test]
async fn the_upstream_body_is_read_no_faster_than_the_storage_writes() {
    let store = Store(Arc::new(ChunkMap {
        gate: Some(Semaphore::new(0)),
        ..ChunkMap::default()
    }));
    let layer = CacheLayer::builder(store.clone())
        .max_body_size(LEN as usize)
        .build();
    let given = Arc::new(AtomicU64::new(0));
    let service = layer.layer(upstream(Arc::default(), Arc::clone(&given)));
    let response = service.oneshot(get()).await.unwrap();
    let mut body = response.into_body();
    // Read while the storage writes nothing: the reader stops once the
    // spool's few chunks are waiting.
    let reading = tokio::spawn(async move {
        let mut read = 0u64;
        while let Some(frame) = body.frame().await {
            read += frame.unwrap().into_data().map_or(0, |d| d.len() as u64);
        }
        read
    });
    reqcache_test::yield_until("the reader to wait for the storage", || {
        let given = Arc::clone(&given);
        async move { given.load(Ordering::SeqCst) >= (1 << 20) }
    })
    .await;
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    let held = given.load(Ordering::SeqCst);
    assert!(
        held <= (1 << 20) + 6 * 65536,
        "{held} bytes read from upstream while the storage wrote none"
    );
    store.0.gate.as_ref().unwrap().add_permits(usize::MAX >> 4);
    assert_eq!(reading.await.unwrap(), LEN);
}

#[tokio::test]
async fn a_storage_that_fails_chunks_stores_nothing_and_the_body_arrives_whole() {
    let store = Store::default();
    store.0.failing.store(true, Ordering::SeqCst);
    let layer = CacheLayer::builder(store.clone())
        .write_mode(WriteMode::Durable)
        .max_body_size(LEN as usize)
        .build();
    let service = layer.layer(upstream(Arc::default(), Arc::default()));
    let response = service.clone().oneshot(get()).await.unwrap();
    check_pattern(response.into_body(), 0, LEN).await;
    layer.cache().flush().await;
    assert_eq!(store.len().await.unwrap(), 0);
    assert!(store.0.chunks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn no_room_to_run_the_writer_stores_nothing_and_the_body_arrives_whole() {
    let store = Store::default();
    let layer = CacheLayer::builder(store.clone())
        .max_pending_writes(0)
        .max_body_size(LEN as usize)
        .build();
    let service = layer.layer(upstream(Arc::default(), Arc::default()));
    let response = service.oneshot(get()).await.unwrap();
    check_pattern(response.into_body(), 0, LEN).await;
    layer.cache().flush().await;
    assert_eq!(store.len().await.unwrap(), 0);
    assert_eq!(store.0.chunk_writes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_body_dropped_unread_is_filled_in_chunks_behind() {
    let store = Store::default();
    let layer = CacheLayer::builder(store.clone())
        .max_body_size(LEN as usize)
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(upstream(Arc::clone(&calls), Arc::default()));
    let response = service.clone().oneshot(get()).await.unwrap();
    let mut body = response.into_body();
    // Past the first megabyte, then dropped.
    let mut read = 0;
    while read < 2 << 20 {
        read += body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap()
            .len();
    }
    drop(body);
    layer.cache().flush().await;
    assert_eq!(store.len().await.unwrap(), 1, "filled and stored behind");
    let hit = service.oneshot(get()).await.unwrap();
    assert!(from_cache(&hit));
    check_pattern(hit.into_body(), 0, LEN).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_a_large_body_all_get_it_whole() {
    let store = Store::default();
    let layer = CacheLayer::builder(store.clone())
        .max_body_size(LEN as usize)
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(upstream(Arc::clone(&calls), Arc::default()));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                let response = service.oneshot(get()).await.unwrap();
                check_pattern(response.into_body(), 0, LEN).await
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap();
    }
    layer.cache().flush().await;
    assert_eq!(store.len().await.unwrap(), 1);
    assert!(calls.load(Ordering::SeqCst) >= 1);
}

/// Tokio's clock is paused: the write timeout passes once every task
/// waits, without sleeping.
#[tokio::test(start_paused = true)]
async fn a_hung_storage_never_holds_a_large_body_back() {
    let store = Store(Arc::new(ChunkMap {
        gate: Some(Semaphore::new(0)),
        ..ChunkMap::default()
    }));
    let layer = CacheLayer::builder(store.clone())
        .storage_timeouts(None, Some(std::time::Duration::from_millis(200)))
        .max_body_size(LEN as usize)
        .build();
    let service = layer.layer(upstream(Arc::default(), Arc::default()));
    let response = service.oneshot(get()).await.unwrap();
    check_pattern(response.into_body(), 0, LEN).await;
    layer.cache().flush().await;
    assert_eq!(store.len().await.unwrap(), 0, "given up, not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_comes_once_the_first_megabytes_are_written_follows_from_the_chunks() {
    let store = Store::default();
    let layer = CacheLayer::builder(store.clone())
        .max_body_size(LEN as usize)
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = layer.layer(upstream(Arc::clone(&calls), Arc::default()));
    let leader = service.clone().oneshot(get()).await.unwrap();
    let mut body = leader.into_body();
    // The leader past its third megabyte: the first is gone from memory,
    // and some chunks are written.
    let mut read = 0u64;
    while read < 3 << 20 {
        read += body
            .frame()
            .await
            .unwrap()
            .unwrap()
            .into_data()
            .unwrap()
            .len() as u64;
    }
    reqcache_test::yield_until("chunks written", || {
        let store = store.clone();
        async move { store.0.chunk_writes.load(Ordering::SeqCst) >= 8 }
    })
    .await;
    let follower = service.clone().oneshot(get()).await.unwrap();
    assert!(from_cache(&follower), "answered from the request under way");
    assert_eq!(
        http_body::Body::size_hint(follower.body()).exact(),
        Some(LEN)
    );
    let following = tokio::spawn(check_pattern(follower.into_body(), 0, LEN));
    let rest = tokio::spawn(async move {
        while let Some(frame) = body.frame().await {
            read += frame.unwrap().into_data().unwrap().len() as u64;
        }
        read
    });
    assert_eq!(rest.await.unwrap(), LEN);
    following.await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one upstream request");
    layer.cache().flush().await;
    assert_eq!(store.len().await.unwrap(), 1);
}

/// Tokio's clock is paused: the chunk's time limit passes once every task
/// waits, without sleeping.
#[tokio::test(start_paused = true)]
async fn a_storage_that_hangs_mid_body_ends_the_hit_with_an_error_instead_of_holding_it() {
    let store = Store::default();
    let layer = CacheLayer::builder(store.clone())
        .write_mode(WriteMode::Durable)
        .max_body_size(LEN as usize)
        .build();
    let service = layer.layer(upstream(Arc::default(), Arc::default()));
    check_pattern(
        service.clone().oneshot(get()).await.unwrap().into_body(),
        0,
        LEN,
    )
    .await;
    store.0.hang_reads_from.store(3, Ordering::SeqCst);
    let hit = service.oneshot(get()).await.unwrap();
    assert!(from_cache(&hit));
    let mut body = hit.into_body();
    let mut read = 0;
    let error = loop {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.into_data().unwrap().len(),
            Some(Err(error)) => break error,
            None => panic!("the body ended whole while the storage hung"),
        }
    };
    assert_eq!(read, 3 * 65536, "the chunks read before the hang");
    assert!(error.to_string().contains("took more than"), "{error}");
}
