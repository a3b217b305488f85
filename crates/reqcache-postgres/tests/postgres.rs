//! PostgresStorage on a real server: through the layer, its table, its
//! expiry and sweeper, its errors, and outages (through a relay the test
//! cuts).

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::{Storage, StorageErrorKind};
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, ManualClock};
use reqcache_postgres::PostgresStorage;
use reqcache_postgres::sqlx;
use support::{Relay, unique_table};
use tower::{Layer, Service, ServiceExt};

/// A counting upstream that answers `GET /x` with "body of /x".
fn upstream(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |request: Request<Full<Bytes>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        let body = format!("body of {}", request.uri().path());
        async move { Ok(Response::new(Full::new(Bytes::from(body)))) }
    })
}

async fn send<S, B>(service: &S, url: &str) -> (CacheStatus, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(url).body(Full::default()).unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.extensions().get::<CacheStatus>().unwrap().clone();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

async fn open(url: &str, table: &str) -> PostgresStorage {
    PostgresStorage::builder(url)
        .table(table)
        .max_connections(4)
        .open()
        .await
        .unwrap()
}

/// A catalog query's one value.
async fn catalog<T>(storage: &PostgresStorage, sql: &str) -> T
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::query_scalar(sql)
        .bind(storage.table())
        .fetch_one(storage.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_layers_with_their_own_pools_share_one_cache() {
    let Some(url) = support::url() else { return };
    let table = unique_table("shared");
    let calls = Arc::new(AtomicUsize::new(0));
    let first_layer = CacheLayer::new(open(&url, &table).await);
    let first = first_layer.layer(upstream(Arc::clone(&calls)));
    let second = CacheLayer::new(open(&url, &table).await).layer(upstream(Arc::clone(&calls)));

    let (status, _) = send(&first, "http://api.example/items").await;
    assert_eq!(status.outcome(), CacheOutcome::Storing);
    first_layer.cache().flush().await;
    let (status, body) = send(&second, "http://api.example/items").await;
    assert!(status.from_cache(), "a hit for the other layer: {status:?}");
    assert_eq!(body, "body of /items");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_is_created_with_its_indexes_logged_or_unlogged() {
    let Some(url) = support::url() else { return };
    for unlogged in [false, true] {
        let storage = PostgresStorage::builder(&url)
            .table(unique_table("Created"))
            .unlogged(unlogged)
            .max_connections(2)
            .open()
            .await
            .unwrap();
        let persistence: i8 = catalog(
            &storage,
            "SELECT relpersistence::\"char\" FROM pg_class WHERE relname = $1 AND relkind = 'r'",
        )
        .await;
        assert_eq!(persistence as u8, if unlogged { b'u' } else { b'p' });
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT indexname::TEXT FROM pg_indexes WHERE tablename = $1 ORDER BY 1",
        )
        .bind(storage.table())
        .fetch_all(storage.pool())
        .await
        .unwrap();
        let table = storage.table();
        assert_eq!(
            indexes,
            [
                format!("{table}_accessed"),
                format!("{table}_body"),
                format!("{table}_deadline"),
                format!("{table}_expires"),
                format!("{table}_groups"),
                format!("{table}_pkey"),
                format!("{table}_url"),
            ]
        );
        // The usage ledger beside it, as persistent as the table.
        let ledger: i8 = sqlx::query_scalar(
            "SELECT relpersistence::\"char\" FROM pg_class WHERE relname = $1 AND relkind = 'r'",
        )
        .bind(format!("{table}_usage"))
        .fetch_one(storage.pool())
        .await
        .unwrap();
        assert_eq!(ledger, persistence);
        // And the chunks of large bodies.
        let chunks: i8 = sqlx::query_scalar(
            "SELECT relpersistence::\"char\" FROM pg_class WHERE relname = $1 AND relkind = 'r'",
        )
        .bind(format!("{table}_chunks"))
        .fetch_one(storage.pool())
        .await
        .unwrap();
        assert_eq!(chunks, persistence);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_opening_a_new_table_at_once_all_succeed() {
    let Some(url) = support::url() else { return };
    let table = unique_table("race");
    let opens = (0..8).map(|_| {
        let (url, table) = (url.clone(), table.clone());
        tokio::spawn(async move {
            PostgresStorage::builder(url)
                .table(table)
                .max_connections(1)
                .open()
                .await
        })
    });
    for open in opens.collect::<Vec<_>>() {
        open.await.unwrap().expect("every concurrent open succeeds");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_other_columns_is_refused_by_name() {
    let Some(url) = support::url() else { return };
    let table = unique_table("foreign");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!(
        "CREATE TABLE \"{table}\" (key TEXT PRIMARY KEY, payload JSONB)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let error = PostgresStorage::from_pool(pool)
        .table(&table)
        .open()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::Config);
    assert!(error.to_string().contains(&table), "{error}");
    assert!(error.to_string().contains("other columns"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_your_own_works_the_same() {
    let Some(url) = support::url() else { return };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    let storage = PostgresStorage::from_pool(pool)
        .table(unique_table("own_pool"))
        .open()
        .await
        .unwrap();
    let entry = reqcache_test::sample_entry("https://example.com/p", &b"pooled"[..]);
    storage.put("k", Arc::new(entry)).await.unwrap();
    let now = reqcache_test::t0();
    assert_eq!(storage.get("k", now).await.unwrap().unwrap().body, "pooled");
}

#[tokio::test]
async fn bad_settings_and_unreachable_servers_are_clear_errors_without_the_password() {
    let error = PostgresStorage::open("mysql://nope").await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::Config);
    let error = PostgresStorage::builder("postgres://u@127.0.0.1/db")
        .table("no-dashes")
        .open()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::Config);

    // Nothing listens on a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://cache:hunter2@127.0.0.1:{port}/app");
    let error = PostgresStorage::builder(&url)
        .acquire_timeout(Duration::from_secs(2))
        .open()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::Backend);
    let message = format!("{error} / {error:?}");
    assert!(
        message.contains(&format!("postgres://cache@127.0.0.1:{port}/app")),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");

    let lazy = PostgresStorage::builder(&url).open_lazily().await.unwrap();
    assert!(!format!("{lazy:?}").contains("hunter2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_past_their_deadline_are_hidden_then_swept() {
    let Some((storage, ())) = support::fresh().await else {
        return;
    };
    let t0 = reqcache_test::t0();
    let hour = Duration::from_secs(3600);
    let entry = |expires: Option<SystemTime>, retain: Option<SystemTime>| {
        Arc::new(
            reqcache_test::sample_entry("https://example.com/", &b"x"[..])
                .with_expires(expires)
                .with_retain_until(retain),
        )
    };
    // Expired two hours ago, no retention: its deadline (an hour past its
    // expiry) has passed.
    storage
        .put("gone", entry(Some(t0 - 2 * hour), None))
        .await
        .unwrap();
    // Expired a minute ago: kept for revalidation until its deadline.
    storage
        .put("stale", entry(Some(t0 - Duration::from_secs(60)), None))
        .await
        .unwrap();
    // Retention set by the layer: the deadline is the retention.
    storage
        .put("retained", entry(Some(t0 - 2 * hour), Some(t0 + hour)))
        .await
        .unwrap();
    storage.put("forever", entry(None, None)).await.unwrap();

    assert!(storage.get("gone", t0).await.unwrap().is_none());
    for key in ["stale", "retained", "forever"] {
        assert!(storage.get(key, t0).await.unwrap().is_some(), "{key}");
    }
    assert_eq!(storage.len().await.unwrap(), 4, "hidden, not yet deleted");
    assert_eq!(storage.sweep(t0).await.unwrap(), 1);
    assert_eq!(storage.len().await.unwrap(), 3);
    assert_eq!(storage.sweep(t0).await.unwrap(), 0);
    // Two hours on, the stale one's deadline and the retention have passed.
    assert_eq!(storage.sweep(t0 + 2 * hour).await.unwrap(), 2);
    let left: Vec<String> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(left, ["forever"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_with_the_server_down_rides_an_outage_and_resumes_caching() {
    let Some(url) = support::url() else { return };
    let relay = Relay::start(support::server_addr(&url), false).await;
    let storage = PostgresStorage::builder(support::via(&url, relay.addr()))
        .table(unique_table("outage"))
        .acquire_timeout(Duration::from_millis(500))
        .open_lazily()
        .await
        .expect("a lazy open does not connect");
    let calls = Arc::new(AtomicUsize::new(0));
    // The breaker's cool-down runs on this clock.
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let layer = CacheLayer::builder(storage)
        .clock(Arc::clone(&clock))
        .build();
    let service = layer.layer(upstream(Arc::clone(&calls)));

    // Down from the start: every request answered from upstream.
    for i in 0..5 {
        let (_, body) = send(&service, &format!("http://e.com/down/{i}")).await;
        assert_eq!(body, format!("body of /down/{i}"));
    }
    layer.cache().flush().await;
    let stats = layer.cache().stats();
    assert!(
        stats.storage_read_errors + stats.reads_skipped >= 5,
        "{stats:?}"
    );

    // Back: caching starts (the table is created on first use).
    relay.restore();
    let resumed = |path: &'static str| {
        let (service, layer, clock) = (service.clone(), layer.clone(), Arc::clone(&clock));
        async move {
            for _ in 0..100 {
                // Past the breaker's cool-down: the next call is a probe.
                clock.advance(Duration::from_secs(60));
                send(&service, path).await;
                layer.cache().flush().await;
                if send(&service, path).await.0.from_cache() {
                    return true;
                }
                // Waiting for a reconnection, a real-world event.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(resumed("http://e.com/up").await, "caching did not start");

    // Cut in the middle: requests still succeed, then caching resumes.
    relay.cut();
    for i in 0..10 {
        let (_, body) = send(&service, &format!("http://e.com/cut/{}", i % 3)).await;
        assert_eq!(body, format!("body of /cut/{}", i % 3));
    }
    relay.restore();
    assert!(
        resumed("http://e.com/after").await,
        "caching did not resume"
    );
}
