//! DynamoDbStorage through the layer, and what is particular to DynamoDB.

mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::storage::{Storage, StorageErrorKind};
use reqcache::{CacheLayer, CacheOutcome, CacheStatus};
use reqcache_dynamodb::DynamoDbStorage;
use support::fresh;
use tower::{Layer, ServiceExt};

fn upstream(
    calls: Arc<AtomicUsize>,
    body_size: usize,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok(Response::builder()
                .header("cache-control", "max-age=60")
                .body(Full::new(Bytes::from(vec![b'x'; body_size])))
                .unwrap())
        }
    })
}

async fn send<S>(service: &S) -> (CacheStatus, usize)
where
    S: tower::Service<
            Request<Full<Bytes>>,
            Response = Response<reqcache::CacheBody<Full<Bytes>>>,
            Error = Infallible,
        > + Clone,
{
    let request = Request::get("http://e.com/data")
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    let status = response.extensions().get::<CacheStatus>().unwrap().clone();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_through_the_layer_and_ttl_is_set() {
    let Some((storage, ())) = fresh().await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let service = CacheLayer::new(storage.clone()).layer(upstream(Arc::clone(&calls), 10));
    assert_eq!(send(&service).await.0.outcome(), CacheOutcome::Storing);
    assert!(send(&service).await.0.from_cache());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // The TTL attribute: expiry (60 s) plus the default offset (1 h), in epoch seconds.
    let item = storage
        .client()
        .scan()
        .table_name(storage.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap()
        .remove(0);
    let ttl: u64 = item["ttl"].as_n().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 3600..=now + 3700).contains(&ttl),
        "ttl {ttl}, now {now}"
    );
    assert!(!matches!(
        item.get("value"),
        Some(AttributeValue::Null(_)) | None
    ));
    let ttl_status = storage
        .client()
        .describe_time_to_live()
        .table_name(storage.table())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl_status
            .time_to_live_description
            .and_then(|d| d.attribute_name),
        Some("ttl".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_over_the_item_limit_is_skipped_not_failed() {
    let Some((storage, ())) = fresh().await else {
        return;
    };
    let entry = reqcache_test::sample_entry("https://e.com/big", vec![0u8; 1024 * 1024]);
    let error = storage.put("big", Arc::new(entry)).await.unwrap_err();
    assert_eq!(error.kind(), StorageErrorKind::TooLarge);

    let calls = Arc::new(AtomicUsize::new(0));
    let layer = CacheLayer::new(storage.clone());
    let service = layer.layer(upstream(Arc::clone(&calls), 1024 * 1024));
    for _ in 0..2 {
        let (status, len) = send(&service).await;
        assert_eq!(len, 1024 * 1024, "the response is answered whole");
        // Storable; the write behind the response is what fails.
        assert_eq!(status.outcome(), CacheOutcome::Storing);
        layer.cache().flush().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Counted as refusals, not failures: they never open the breaker.
    let stats = layer.cache().stats();
    assert_eq!(stats.writes_refused, 2, "logged and counted");
    assert_eq!(stats.storage_write_errors, 0);
    assert_eq!(storage.len().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_deletes_cover_more_than_25_items() {
    let Some((storage, ())) = fresh().await else {
        return;
    };
    for i in 0..60 {
        let url = if i % 2 == 0 {
            "https://e.com/even"
        } else {
            "https://e.com/odd"
        };
        storage
            .put(
                &format!("k{i}"),
                Arc::new(reqcache_test::sample_entry(url, &b"x"[..])),
            )
            .await
            .unwrap();
    }
    assert_eq!(storage.len().await.unwrap(), 60);
    assert!(storage.has_url_index(), "create_table makes the URL index");
    assert_eq!(storage.delete_url("https://e.com/even").await.unwrap(), 30);
    assert_eq!(storage.len().await.unwrap(), 30);
    storage.clear().await.unwrap();
    assert_eq!(storage.len().await.unwrap(), 0);
}

#[tokio::test]
async fn an_unreachable_server_fails_open() {
    // A port nothing listens on; one attempt, short timeouts.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let storage = DynamoDbStorage::endpoint(&format!("http://{closed}"), "us-east-1", "nowhere")
        .max_attempts(1)
        .timeouts(Duration::from_millis(500), Duration::from_secs(1))
        .open()
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = CacheLayer::new(storage);
    let service = layer.layer(upstream(Arc::clone(&calls), 10));
    for _ in 0..3 {
        let (status, len) = send(&service).await;
        assert_eq!(len, 10);
        assert_eq!(status.outcome(), CacheOutcome::Storing);
        layer.cache().flush().await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let stats = layer.cache().stats();
    // Each read and write fails; five of either would open its breaker.
    assert_eq!(
        (stats.storage_read_errors, stats.storage_write_errors),
        (3, 3)
    );
    assert_eq!((stats.writes_dropped, stats.breaker_trips), (0, 0));
}

#[tokio::test]
async fn a_table_without_the_url_index_is_scanned_then_given_one() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };

    let Some(url) = reqcache_test::server_url("REQCACHE_DYNAMODB_URL") else {
        return;
    };
    let table = support::unique_table("legacy");
    let open = |create: bool| {
        DynamoDbStorage::endpoint(&url, "us-east-1", table.clone())
            .create_table(create)
            .open()
    };
    // A table as an earlier version made it: the key, no index.
    let before = open(false).await.unwrap();
    assert!(!before.has_url_index(), "no table yet");
    before
        .client()
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("key")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("key")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let legacy = open(false).await.unwrap();
    assert!(!legacy.has_url_index());
    let entry = |url: &str| Arc::new(reqcache_test::sample_entry(url, &b"x"[..]));
    for (key, url) in [
        ("a1", "https://e.com/a"),
        ("a2", "https://e.com/a"),
        ("b", "https://e.com/b"),
    ] {
        legacy.put(key, entry(url)).await.unwrap();
    }
    assert_eq!(
        legacy.delete_url("https://e.com/a").await.unwrap(),
        2,
        "by scan"
    );

    // create_table(true) on the existing table asks for the index; a storage
    // opened once it is active queries it.
    open(true).await.unwrap();
    let upgraded = open(false).await.unwrap();
    assert!(upgraded.has_url_index(), "moto builds the index at once");
    upgraded.put("a3", entry("https://e.com/a")).await.unwrap();
    assert_eq!(
        upgraded.delete_url("https://e.com/a").await.unwrap(),
        1,
        "by the index"
    );
    assert_eq!(
        upgraded.delete_url("https://e.com/b").await.unwrap(),
        1,
        "entries from before the index too"
    );
    assert_eq!(upgraded.len().await.unwrap(), 0);

    // The group index comes with the next open: groups are scanned until
    // then, and found through it after, entries from before it too.
    let group = reqcache::storage::group_id("https://e.com", "g");
    let grouped = |url: &str| {
        let entry = reqcache_test::sample_entry(url, &b"x"[..]).with_groups(vec![group.clone()]);
        Arc::new(entry)
    };
    assert!(!upgraded.has_group_index());
    upgraded
        .put("g1", grouped("https://e.com/g1"))
        .await
        .unwrap();
    assert_eq!(
        upgraded.group_keys(&group).await.unwrap(),
        ["g1"],
        "by scan"
    );
    open(true).await.unwrap();
    let indexed = open(false).await.unwrap();
    assert!(indexed.has_group_index() && indexed.has_url_index());
    indexed
        .put("g2", grouped("https://e.com/g2"))
        .await
        .unwrap();
    let mut keys = indexed.group_keys(&group).await.unwrap();
    keys.sort();
    assert_eq!(keys, ["g1", "g2"], "by the index");
    assert_eq!(
        indexed.len().await.unwrap(),
        2,
        "membership items are not counted"
    );
    assert_eq!(indexed.entries().await.unwrap().len(), 2, "nor listed");
    assert_eq!(indexed.delete_group(&group).await.unwrap(), 2);
    assert_eq!(indexed.len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_new_table_has_both_indexes_and_a_purge_takes_the_membership_items() {
    let Some(url) = reqcache_test::server_url("REQCACHE_DYNAMODB_URL") else {
        return;
    };
    let storage = DynamoDbStorage::endpoint(&url, "us-east-1", support::unique_table("groups"))
        .create_table(true)
        .open()
        .await
        .unwrap();
    assert!(storage.has_url_index() && storage.has_group_index());
    let group = reqcache::storage::group_id("https://e.com", "g");
    let entry =
        reqcache_test::sample_entry("https://e.com/a", &b"x"[..]).with_groups(vec![group.clone()]);
    storage.put("a", Arc::new(entry)).await.unwrap();
    let items = || async {
        storage
            .client()
            .scan()
            .table_name(storage.table())
            .send()
            .await
            .unwrap()
            .count
    };
    assert_eq!(items().await, 2, "the record and its membership item");
    assert_eq!(storage.delete_group(&group).await.unwrap(), 1);
    assert_eq!(items().await, 0, "both gone");
    storage
        .put(
            "a",
            Arc::new(
                reqcache_test::sample_entry("https://e.com/a", &b"x"[..])
                    .with_groups(vec![group.clone()]),
            ),
        )
        .await
        .unwrap();
    assert!(storage.delete("a").await.unwrap());
    assert_eq!(items().await, 0, "a delete takes them too");
}
