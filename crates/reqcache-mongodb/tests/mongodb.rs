//! What is particular to MongoDB and GridFS: indexes, orphans, large values,
//! and fail-open across a real server stop and restart.

mod support;

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use mongodb::bson::doc;
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, ManualClock};
use reqcache_mongodb::MongoStorage;
use support::{documents, gridfs};
use tower::{Layer, ServiceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_the_ttl_url_and_group_indexes() {
    let Some((storage, ())) = documents().await else {
        return;
    };
    let mut cursor = storage.collection().list_indexes().await.unwrap();
    let mut ttl = None;
    let (mut url, mut groups) = (false, false);
    while cursor.advance().await.unwrap() {
        let index = cursor.deserialize_current().unwrap();
        if index.keys.contains_key("expires_at") {
            ttl = index.options.and_then(|o| o.expire_after);
        }
        url |= index.keys.contains_key("url");
        groups |= index.keys.contains_key("groups");
    }
    assert_eq!(ttl, Some(Duration::ZERO));
    assert!(url);
    assert!(groups, "the group index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bson_serializer_values_are_queryable_documents() {
    let Some((storage, ())) = support::bson_documents().await else {
        return;
    };
    let mut entry = reqcache_test::sample_entry("https://e.com/missing", &b"gone"[..]);
    entry.status = http::StatusCode::NOT_FOUND;
    storage.put("k404", Arc::new(entry)).await.unwrap();
    storage
        .put(
            "k200",
            Arc::new(reqcache_test::sample_entry("https://e.com/ok", &b"ok"[..])),
        )
        .await
        .unwrap();
    // An ordinary query on the stored response's own fields.
    let found = storage
        .store()
        .collection()
        .find_one(doc! { "value.status": 404 })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.get_str("_id").unwrap(), "k404");
    assert!(
        storage
            .get("k404", reqcache_test::t0())
            .await
            .unwrap()
            .is_some()
    );
}

async fn count(storage: &reqcache_mongodb::GridFsStorage, suffix: &str) -> u64 {
    let db = storage
        .collection()
        .client()
        .database(storage.collection().namespace().db.as_str());
    let name = format!("{}_fs.{suffix}", storage.collection().name());
    db.collection::<mongodb::bson::Document>(&name)
        .count_documents(doc! {})
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gridfs_leaves_no_orphan_files_or_chunks() {
    let Some((storage, ())) = gridfs().await else {
        return;
    };
    let body = vec![7u8; 600 * 1024]; // several chunks
    for key in ["a", "b", "c"] {
        storage
            .put(
                key,
                Arc::new(reqcache_test::sample_entry("https://e.com/x", body.clone())),
            )
            .await
            .unwrap();
    }
    // An overwrite replaces the file: the old one goes.
    storage
        .put(
            "a",
            Arc::new(reqcache_test::sample_entry("https://e.com/y", body.clone())),
        )
        .await
        .unwrap();
    assert_eq!(count(&storage, "files").await, 3);
    assert!(count(&storage, "chunks").await >= 3);
    storage.delete("a").await.unwrap();
    assert_eq!(count(&storage, "files").await, 2);
    storage.delete_url("https://e.com/x").await.unwrap();
    assert_eq!(
        (
            count(&storage, "files").await,
            count(&storage, "chunks").await
        ),
        (0, 0)
    );
    storage
        .put(
            "d",
            Arc::new(reqcache_test::sample_entry("https://e.com/z", body)),
        )
        .await
        .unwrap();
    storage.clear().await.unwrap();
    assert_eq!(
        (
            count(&storage, "files").await,
            count(&storage, "chunks").await
        ),
        (0, 0)
    );
    assert_eq!(storage.len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gridfs_round_trips_a_response_larger_than_a_document() {
    let Some((storage, ())) = gridfs().await else {
        return;
    };
    let body: Vec<u8> = (0..17 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    storage
        .put(
            "big",
            Arc::new(reqcache_test::sample_entry(
                "https://e.com/big",
                body.clone(),
            )),
        )
        .await
        .unwrap();
    let back = storage
        .get("big", reqcache_test::t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.body.len(), body.len());
    assert!(back.body == body);
}

/// A SecantusDB server of the test's own, killed on drop.
struct OwnServer {
    child: Child,
    port: u16,
}

impl OwnServer {
    fn start_on(port: u16) -> Option<Self> {
        let python = std::env::var("REQCACHE_SECANTUS_PYTHON")
            .unwrap_or_else(|_| format!("{}/../../.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
        let spawned = Command::new(&python)
            .args([
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--storage-path",
                ":memory:",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("{python} -m secantus could not start: {error}")
            }
            Err(error) => {
                eprintln!(
                    "\n*** SKIPPED: {python} -m secantus could not start ({error}); run scripts/test.sh ***\n"
                );
                return None;
            }
        };
        // Its log says when it listens: no guessing with sleeps.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on") => break,
                Some(Ok(_)) => {}
                _ => panic!("secantus exited before it listened"),
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Some(Self { child, port })
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send<S>(service: &S, path: &str) -> CacheStatus
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = Response<reqcache::CacheBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let request = Request::get(format!("http://e.com{path}"))
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.extensions().get::<CacheStatus>().unwrap().clone();
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "ok"
    );
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_keep_succeeding_while_the_server_is_down_and_caching_resumes() {
    if reqcache_test::server_url("REQCACHE_MONGODB_URL").is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(server) = OwnServer::start_on(port) else {
        return;
    };
    let storage =
        MongoStorage::builder(&format!("mongodb://127.0.0.1:{}", server.port), "failover")
            .server_selection_timeout(Duration::from_millis(300))
            .open()
            .await
            .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    // The breaker's cool-down runs on this clock.
    let clock = Arc::new(ManualClock::new(std::time::SystemTime::now()));
    let layer = CacheLayer::builder(storage)
        .clock(Arc::clone(&clock))
        .build();
    let service = layer.layer(tower::service_fn(move |_req: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
    }));
    assert_eq!(
        send(&service, "/before").await.outcome(),
        CacheOutcome::Storing
    );
    layer.cache().flush().await;
    assert!(send(&service, "/before").await.from_cache());

    let port = server.stop();
    for i in 0..3 {
        assert!(!send(&service, &format!("/during/{i}")).await.from_cache());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert!(layer.cache().stats().storage_errors() >= 3);

    let _server = OwnServer::start_on(port).expect("restart");
    let mut resumed = false;
    for _ in 0..100 {
        // Past the breaker's cool-down: the next call is a probe.
        clock.advance(Duration::from_secs(60));
        send(&service, "/after").await;
        layer.cache().flush().await;
        if send(&service, "/after").await.from_cache() {
            resumed = true;
            break;
        }
        // Waiting for the driver to find the server again: a real event.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(resumed, "caching did not resume after the server came back");
}
