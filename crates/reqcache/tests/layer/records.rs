//! What the layer stores for a varying response and for a redirect: each
//! response once, beside small records (a vary index, an alias) that lead
//! lookups to it; and what a hit through them costs in storage reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::StorageError;
use reqcache::storage::backend::{RecordChain, RecordKind, StoredRecord};
use reqcache::storage::{CachedRequest, CachedResponse, EntryInfo, Storage};
use reqcache::{CacheLayer, CacheStatus, MemoryStorage};
use reqcache_test::Gated;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::follow_redirect::FollowRedirectLayer;

use crate::support::*;

fn by_accept() -> Upstream {
    Upstream::new(|seen, _| {
        let accept = seen.headers["accept"].to_str().unwrap().to_owned();
        Ok(response(
            200,
            &[("vary", "Accept"), ("cache-control", "max-age=60")],
            if accept.contains("json") {
                "{}"
            } else {
                "<p/>"
            },
        ))
    })
}

fn accepting(accept: &'static str) -> Request<Full<Bytes>> {
    request(Method::GET, "http://e.com/", &[("accept", accept)], b"")
}

async fn kinds(storage: &dyn Storage) -> Vec<RecordKind> {
    let mut kinds: Vec<RecordKind> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.kind)
        .collect();
    kinds.sort_by_key(|kind| kind.code());
    kinds
}

#[tokio::test]
async fn a_varying_response_is_stored_once_and_a_hit_reads_twice() {
    let storage = Gated::new(MemoryStorage::new());
    let mut h = Harness::with_storage(storage.clone(), by_accept(), |b| b);
    h.send(accepting("application/json")).await;
    h.send(accepting("text/html")).await;
    h.cache().flush().await;
    assert_eq!(h.cache().len().await.unwrap(), 2, "one per variant");
    assert_eq!(
        kinds(&storage).await,
        [
            RecordKind::Response,
            RecordKind::Response,
            RecordKind::VaryIndex
        ]
    );
    for (accept, body) in [("application/json", "{}"), ("text/html", "<p/>")] {
        let before = storage.reads();
        let hit = h.send(accepting(accept)).await;
        assert!(hit.cache.from_cache());
        assert_eq!(hit.body, body);
        assert_eq!(storage.reads() - before, 2, "the index, then the variant");
    }
    assert_eq!(h.calls(), 2);
    // Invalidating the URL removes both variants and the index.
    assert_eq!(h.cache().delete_url("http://e.com/").await.unwrap(), 3);
    assert!(h.cache().entries().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_response_that_stops_varying_replaces_the_index() {
    let varies = Arc::new(AtomicUsize::new(1));
    let switch = Arc::clone(&varies);
    let upstream = Upstream::new(move |_, _| {
        let mut headers = vec![("cache-control", "max-age=60")];
        if switch.load(Ordering::SeqCst) == 1 {
            headers.push(("vary", "Accept"));
        }
        Ok(response(200, &headers, "x"))
    });
    let mut h = Harness::new(upstream, |b| b);
    h.send(accepting("text/html")).await;
    h.cache().flush().await;
    varies.store(0, Ordering::SeqCst);
    h.advance(61);
    h.send(accepting("text/html")).await;
    h.cache().flush().await;
    let records = kinds(&**h.cache().storage()).await;
    assert_eq!(
        records,
        [RecordKind::Response, RecordKind::Response],
        "the index became the response; the old variant stays until its retention"
    );
    assert!(
        h.send(accepting("application/json"))
            .await
            .cache
            .from_cache()
    );
}

/// A primary-key copy of the latest variant, as records were written before
/// vary indexes, still answers the requests it matches.
#[tokio::test]
async fn a_variant_stored_under_the_primary_key_by_an_earlier_version_still_hits() {
    let mut h = Harness::new(Upstream::ok("fresh", &[]), |b| b);
    let key = h.cache().key_for(
        &Request::get("http://e.com/")
            .header("accept", "text/html")
            .body(Bytes::new())
            .unwrap(),
    );
    let mut headers = http::HeaderMap::new();
    headers.insert("vary", HeaderValue::from_static("Accept"));
    headers.insert("cache-control", HeaderValue::from_static("max-age=60"));
    let mut stored_request = CachedRequest::new(Method::GET, "http://e.com/");
    stored_request
        .headers
        .insert("accept", HeaderValue::from_static("text/html"));
    let entry = CachedResponse::new(
        http::StatusCode::OK,
        headers,
        Bytes::from_static(b"old copy"),
        stored_request,
        h.cache().now(),
    )
    .with_expires(Some(h.cache().now() + std::time::Duration::from_secs(60)));
    h.cache()
        .storage()
        .put(key.as_str(), Arc::new(entry))
        .await
        .unwrap();
    let hit = h.send(accepting("text/html")).await;
    assert!(hit.cache.from_cache());
    assert_eq!(hit.body, "old copy");
    let other = h.send(accepting("application/json")).await;
    assert!(!other.cache.from_cache(), "another variant is a miss");
}

#[tokio::test]
async fn a_varying_response_reached_through_a_redirect_hits_in_two_reads() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let upstream = tower::service_fn(move |request: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let response = match request.uri().path() {
            "/old" => Response::builder()
                .status(301)
                .header("location", "http://e.com/new")
                .body(Full::default()),
            _ => Response::builder()
                .header("vary", "Accept-Language")
                .header("cache-control", "max-age=60")
                .body(Full::new(Bytes::from_static(b"new"))),
        };
        async move { Ok::<_, std::convert::Infallible>(response.unwrap()) }
    });
    let storage = Gated::new(MemoryStorage::new());
    let layer = CacheLayer::new(storage.clone());
    let cache = layer.cache().clone();
    let service = ServiceBuilder::new()
        .layer(layer)
        .layer(FollowRedirectLayer::new())
        .service(upstream);
    let send = |url: &'static str| {
        let service = service.clone();
        async move {
            let request = Request::get(url)
                .header("accept-language", "de")
                .body(Full::default())
                .unwrap();
            let response = service.oneshot(request).await.unwrap();
            let status = response.extensions().get::<CacheStatus>().unwrap().clone();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, body)
        }
    };
    send("http://e.com/old").await;
    cache.flush().await;
    assert_eq!(
        kinds(&storage).await,
        [
            RecordKind::Response,
            RecordKind::Alias,
            RecordKind::VaryIndex
        ]
    );
    assert_eq!(cache.len().await.unwrap(), 1);
    let before = storage.reads();
    let (status, body) = send("http://e.com/old").await;
    assert!(status.from_cache());
    assert_eq!(body, "new");
    assert_eq!(storage.reads() - before, 2, "the alias, then the variant");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Counts the calls the layer makes, forwarding each to a memory storage.
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryStorage,
    chains: AtomicUsize,
    records: AtomicUsize,
}

#[async_trait::async_trait]
impl Storage for Counting {
    async fn get_record(
        &self,
        key: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        self.records.fetch_add(1, Ordering::SeqCst);
        self.inner.get_record(key, now).await
    }
    async fn get_chain(
        &self,
        key: &str,
        now: std::time::SystemTime,
        next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
    ) -> Result<Option<RecordChain>, StorageError> {
        self.chains.fetch_add(1, Ordering::SeqCst);
        self.inner.get_chain(key, now, next).await
    }
    async fn put_record(&self, key: &str, record: StoredRecord) -> Result<(), StorageError> {
        self.inner.put_record(key, record).await
    }
    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.inner.delete(key).await
    }
    async fn clear(&self) -> Result<(), StorageError> {
        self.inner.clear().await
    }
    async fn len(&self) -> Result<u64, StorageError> {
        self.inner.len().await
    }
    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.inner.entries().await
    }
    async fn remove_expired(&self, now: std::time::SystemTime) -> Result<u64, StorageError> {
        self.inner.remove_expired(now).await
    }
}

#[tokio::test]
async fn on_memory_storage_a_varying_hit_is_one_storage_call() {
    let storage = Arc::new(Counting::default());
    let mut h = Harness::with_storage(Arc::clone(&storage), by_accept(), |b| b);
    h.send(accepting("application/json")).await;
    h.send(accepting("text/html")).await;
    h.cache().flush().await;
    let (chains, records) = (
        storage.chains.load(Ordering::SeqCst),
        storage.records.load(Ordering::SeqCst),
    );
    let hit = h.send(accepting("application/json")).await;
    assert!(hit.cache.from_cache());
    assert_eq!(storage.chains.load(Ordering::SeqCst) - chains, 1);
    assert_eq!(
        storage.records.load(Ordering::SeqCst) - records,
        0,
        "the index and the variant in that one call"
    );
}
