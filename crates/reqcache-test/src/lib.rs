//! The storage conformance suite: every reqcache backend runs these checks
//! against a real instance of its store.
//!
//! A backend crate generates one `#[tokio::test]` per check with
//! [`conformance_tests!`], giving it an async function that makes a fresh,
//! empty storage (or `None` to skip when its server is not configured), and
//! one that writes raw bytes under a key, for the garbage check:
//!
//! ```ignore
//! async fn make() -> Option<MyStorage> { Some(MyStorage::open(..).await.unwrap()) }
//! async fn write_raw(storage: &MyStorage, key: &str, bytes: Vec<u8>) { .. }
//! reqcache_test::conformance_tests!(make, write_raw);
//! ```
//!
//! Backends that need a server read its URL with [`server_url`], which skips
//! loudly when run by hand without one, and fails under CI.

mod bounded_waits;
pub mod chunked;
mod gated;
pub mod upstream;

pub use bounded_waits::{
    hung_storage_never_holds_a_request, slow_storage_within_the_timeout_still_serves,
};
pub use gated::Gated;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use reqcache::storage::backend::{Alias, ByteStore, Encoded, RecordKind, StoredRecord, VaryIndex};
use reqcache::storage::{
    CachedRequest, CachedResponse, Codec, Compression, Serializer, Storage, group_id,
};

/// What a backend's `make` function returns: a pair of a storage and
/// something that must live as long as it (a temporary folder, a server
/// guard, or `()`).
pub trait Fixture: Send + Sync + 'static {
    /// The storage under test.
    fn storage(&self) -> &dyn Storage;
}

impl<S: Storage, G: Send + Sync + 'static> Fixture for (S, G) {
    fn storage(&self) -> &dyn Storage {
        &self.0
    }
}

/// The URL of a test server from environment variable `var`.
///
/// Unset: under CI (`CI` set) this panics, so CI never passes by skipping;
/// by hand it prints a loud skip message and returns `None`.
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set, and CI is: the test server must be running under CI")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPED: {var} is not set; start the test servers with scripts/test.sh ***\n"
            );
            None
        }
    }
}

/// The reference moment of a test process: the current time, in whole
/// seconds, when first asked, and the same ever after. Tests reason about
/// times relative to it; it is near the real time because servers with
/// native expiry (Redis TTLs) use their own clock.
///
/// ```
/// let t0 = reqcache_test::t0();
/// assert_eq!(reqcache_test::t0(), t0);
/// assert_eq!(t0.duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos(), 0);
/// ```
pub fn t0() -> SystemTime {
    static T0: OnceLock<SystemTime> = OnceLock::new();
    *T0.get_or_init(|| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        UNIX_EPOCH + Duration::from_secs(now.as_secs())
    })
}

/// A response of `body_len` bytes for `https://example.com/{key}`, received
/// as many milliseconds after [`t0`] as the number `key` ends with (`k7`:
/// 7 ms), so that entries written in order have distinct times (and
/// first access stamps): what the size-bound tests of every storage fill
/// with.
///
/// ```
/// let entry = reqcache_test::sized_entry("k7", 16 * 1024);
/// assert_eq!(entry.body.len(), 16 * 1024);
/// assert_eq!(entry.created_at, reqcache_test::t0() + std::time::Duration::from_millis(7));
/// ```
pub fn sized_entry(key: &str, body_len: usize) -> CachedResponse {
    let mut entry = sample_entry(&format!("https://example.com/{key}"), vec![7u8; body_len]);
    let number: u64 = key
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    entry.created_at = t0() + Duration::from_millis(number);
    entry
}

/// A response with repeated headers, a non-UTF-8 header value and `body`,
/// received at [`t0`], for `url`.
///
/// ```
/// let entry = reqcache_test::sample_entry("https://example.com/", &b"hi"[..]);
/// assert_eq!(entry.headers.get_all("set-cookie").iter().count(), 2);
/// assert_eq!(entry.body, "hi");
/// ```
pub fn sample_entry(url: &str, body: impl Into<Bytes>) -> CachedResponse {
    let mut headers = HeaderMap::new();
    headers.append(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.append("set-cookie", HeaderValue::from_static("a=1"));
    headers.append("x-z-first", HeaderValue::from_static("1"));
    headers.append("set-cookie", HeaderValue::from_static("b=2"));
    headers.append("x-latin1", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let mut request = CachedRequest::new(Method::GET, url);
    request
        .headers
        .append("accept", HeaderValue::from_static("*/*"));
    CachedResponse {
        status: StatusCode::OK,
        version: Version::HTTP_11,
        headers,
        body: body.into(),
        request,
        created_at: t0() + Duration::new(0, 123_456_789),
        expires: Some(t0() + Duration::from_secs(3600)),
        retain_until: None,
        stored_body: None,
        groups: Vec::new(),
    }
}

fn headers_in_order(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect()
}

async fn get(storage: &dyn Storage, key: &str, now: SystemTime) -> Option<Arc<CachedResponse>> {
    storage.get(key, now).await.expect("get failed")
}

/// Put then get returns the same entry: status, version, header order and
/// repeats, non-UTF-8 values, body, request and times.
pub async fn round_trip(storage: &dyn Storage) {
    let entry = sample_entry("https://example.com/a?x=1", &b"hello"[..]);
    storage.put("k1", Arc::new(entry.clone())).await.unwrap();
    let back = get(storage, "k1", t0())
        .await
        .expect("stored entry missing");
    assert_eq!(*back, entry);
    assert_eq!(
        headers_in_order(&back.headers),
        headers_in_order(&entry.headers)
    );
    assert!(get(storage, "other", t0()).await.is_none());
}

/// A second put under one key replaces the first.
pub async fn overwrite(storage: &dyn Storage) {
    storage
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", &b"one"[..])),
        )
        .await
        .unwrap();
    storage
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", &b"two"[..])),
        )
        .await
        .unwrap();
    assert_eq!(get(storage, "k", t0()).await.unwrap().body, "two");
    assert_eq!(storage.len().await.unwrap(), 1);
}

/// Delete removes one entry and says whether there was one.
pub async fn delete(storage: &dyn Storage) {
    storage
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", &b"x"[..])),
        )
        .await
        .unwrap();
    storage
        .put(
            "keep",
            Arc::new(sample_entry("https://example.com/", &b"y"[..])),
        )
        .await
        .unwrap();
    assert!(storage.delete("k").await.unwrap());
    assert!(!storage.delete("k").await.unwrap());
    assert!(get(storage, "k", t0()).await.is_none());
    assert!(get(storage, "keep", t0()).await.is_some());
}

/// Clear removes everything.
pub async fn clear(storage: &dyn Storage) {
    for i in 0..3 {
        storage
            .put(
                &format!("k{i}"),
                Arc::new(sample_entry("https://example.com/", &b"x"[..])),
            )
            .await
            .unwrap();
    }
    assert_eq!(storage.len().await.unwrap(), 3);
    storage.clear().await.unwrap();
    assert_eq!(storage.len().await.unwrap(), 0);
    assert!(storage.is_empty().await.unwrap());
    assert!(get(storage, "k0", t0()).await.is_none());
}

/// Cache groups: a response is found under each of its groups (names
/// compared exactly, origins apart), and leaves a group when it is replaced
/// without it, deleted, removed as expired, or cleared; `delete_group`
/// deletes the group's responses only and counts them.
pub async fn cache_groups(storage: &dyn Storage) {
    let id = |name: &str| group_id("https://example.com/", name);
    let put = |key: &'static str, url: &'static str, groups: Vec<String>| async move {
        let entry = sample_entry(url, &b"x"[..]).with_groups(groups);
        storage.put(key, Arc::new(entry)).await.unwrap();
    };
    let keys = |group: String| async move {
        let mut keys = storage.group_keys(&group).await.unwrap();
        keys.sort();
        keys
    };
    put("a", "https://example.com/a", vec![id("news"), id("sport")]).await;
    put("b", "https://example.com/b", vec![id("news")]).await;
    put("c", "https://example.com/c", vec![]).await;
    put(
        "d",
        "https://other.com/d",
        vec![group_id("https://other.com", "news")],
    )
    .await;
    assert_eq!(keys(id("news")).await, ["a", "b"]);
    assert_eq!(keys(id("sport")).await, ["a"]);
    for other in ["NEWS", "new", "news ", ""] {
        assert!(keys(id(other)).await.is_empty(), "{other:?}");
    }
    assert_eq!(keys(group_id("https://other.com", "news")).await, ["d"]);
    // Read back with its groups.
    let stored = get(storage, "a", t0()).await.unwrap();
    assert_eq!(stored.groups, [id("news"), id("sport")]);

    // Replaced without a group: out of it.
    put("b", "https://example.com/b", vec![id("sport")]).await;
    assert_eq!(keys(id("news")).await, ["a"]);
    assert_eq!(keys(id("sport")).await, ["a", "b"]);
    // Deleted: out of every group.
    assert!(storage.delete("a").await.unwrap());
    assert!(keys(id("news")).await.is_empty());
    assert_eq!(keys(id("sport")).await, ["b"]);

    // Expired ones stay in their groups until removed.
    let mut expiring = sample_entry("https://example.com/e", &b"x"[..]);
    expiring.expires = Some(t0() + Duration::from_secs(1));
    storage
        .put("e", Arc::new(expiring.with_groups(vec![id("news")])))
        .await
        .unwrap();
    assert_eq!(keys(id("news")).await, ["e"]);
    storage
        .remove_expired(t0() + Duration::from_secs(2))
        .await
        .unwrap();
    assert!(keys(id("news")).await.is_empty());

    // A group deleted: its responses only, counted.
    put("f", "https://example.com/f", vec![id("x")]).await;
    put("g", "https://example.com/g", vec![id("x"), id("y")]).await;
    assert_eq!(storage.delete_group(&id("x")).await.unwrap(), 2);
    assert!(get(storage, "f", t0()).await.is_none());
    assert!(get(storage, "g", t0()).await.is_none());
    assert!(get(storage, "c", t0()).await.is_some());
    assert!(get(storage, "b", t0()).await.is_some());
    assert!(
        keys(id("y")).await.is_empty(),
        "out of its other groups too"
    );
    assert_eq!(storage.delete_group(&id("x")).await.unwrap(), 0);

    // Any printable name, up to the longest kept.
    let odd = id("a b \"c\", d;e=f");
    let long = id(&"z".repeat(1024));
    put(
        "h",
        "https://example.com/h",
        vec![odd.clone(), long.clone()],
    )
    .await;
    assert_eq!(keys(odd).await, ["h"]);
    assert_eq!(keys(long).await, ["h"]);

    storage.clear().await.unwrap();
    assert!(keys(id("sport")).await.is_empty());
    assert_eq!(storage.delete_group(&id("sport")).await.unwrap(), 0);
}

/// Expired entries are still returned (for revalidation); entries past their
/// retention are not.
pub async fn expiry_honoured_on_read(storage: &dyn Storage) {
    let expired = sample_entry("https://example.com/old", &b"old"[..])
        .with_expires(Some(t0() - Duration::from_secs(1)));
    storage.put("expired", Arc::new(expired)).await.unwrap();
    let retained = sample_entry("https://example.com/r", &b"r"[..])
        .with_expires(Some(t0()))
        .with_retain_until(Some(t0() + Duration::from_secs(10)));
    storage.put("retained", Arc::new(retained)).await.unwrap();

    let now = t0() + Duration::from_secs(5);
    assert!(get(storage, "expired", now).await.is_some());
    assert!(get(storage, "retained", now).await.is_some());
    assert!(storage.contains("retained", now).await.unwrap());
    let later = t0() + Duration::from_secs(10);
    assert!(get(storage, "retained", later).await.is_none());
    assert!(!storage.contains("retained", later).await.unwrap());
}

/// remove_expired deletes the expired and past-retention entries only.
pub async fn remove_expired(storage: &dyn Storage) {
    let url = "https://example.com/";
    let entries = [
        (
            "fresh",
            sample_entry(url, &b"1"[..]).with_expires(Some(t0() + Duration::from_secs(60))),
        ),
        ("never", sample_entry(url, &b"2"[..]).with_expires(None)),
        (
            "expired",
            sample_entry(url, &b"3"[..]).with_expires(Some(t0() - Duration::from_secs(1))),
        ),
        (
            "past-retention",
            sample_entry(url, &b"4"[..])
                .with_expires(None)
                .with_retain_until(Some(t0())),
        ),
    ];
    for (key, entry) in entries {
        storage.put(key, Arc::new(entry)).await.unwrap();
    }
    assert_eq!(storage.remove_expired(t0()).await.unwrap(), 2);
    let mut left: Vec<String> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    left.sort();
    assert_eq!(left, ["fresh", "never"]);
}

/// A 300 KiB body round-trips intact; a 5 MiB one too, or is refused with
/// `TooLarge` and leaves nothing stored.
pub async fn large_bodies(storage: &dyn Storage) {
    let body = |len: u32| -> Vec<u8> {
        (0..len)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect()
    };
    // Every storage holds 300 KiB.
    let medium = body(300 * 1024);
    storage
        .put(
            "medium",
            Arc::new(sample_entry("https://example.com/m", medium.clone())),
        )
        .await
        .unwrap();
    assert!(get(storage, "medium", t0()).await.unwrap().body == medium);
    // 5 MiB round-trips intact, or is refused as too large, storing nothing
    // (DynamoDB's 400 KB item limit).
    let big = body(5 * 1024 * 1024);
    match storage
        .put(
            "big",
            Arc::new(sample_entry("https://example.com/big", big.clone())),
        )
        .await
    {
        Ok(()) => {
            let back = get(storage, "big", t0()).await.unwrap();
            assert_eq!(back.body.len(), big.len());
            assert!(back.body == big);
        }
        Err(error) => {
            assert_eq!(
                error.kind(),
                reqcache::storage::StorageErrorKind::TooLarge,
                "{error}"
            );
            assert!(get(storage, "big", t0()).await.is_none());
        }
    }
}

/// Every byte value survives in bodies, request bodies included.
pub async fn binary_bodies(storage: &dyn Storage) {
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let mut entry = sample_entry("https://example.com/bin", all.clone());
    entry.request.body = Bytes::from(all.clone());
    storage.put("bin", Arc::new(entry.clone())).await.unwrap();
    assert_eq!(*get(storage, "bin", t0()).await.unwrap(), entry);
}

/// Listing returns metadata; delete_url removes one URL's entries, all methods.
pub async fn listing_and_filtering(storage: &dyn Storage) {
    let mut post = sample_entry("https://example.com/a", &b"p"[..]);
    post.request.method = Method::POST;
    post.status = StatusCode::CREATED;
    storage
        .put(
            "a-get",
            Arc::new(sample_entry("https://example.com/a", &b"g"[..])),
        )
        .await
        .unwrap();
    storage.put("a-post", Arc::new(post.clone())).await.unwrap();
    storage
        .put(
            "b",
            Arc::new(sample_entry("https://example.com/b", &b"b"[..])),
        )
        .await
        .unwrap();

    let mut entries = storage.entries().await.unwrap();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1], post.info("a-post"));
    assert_eq!(entries[1].method, Method::POST);
    assert_eq!(entries[1].status, StatusCode::CREATED);
    assert!(entries.iter().all(|e| e.size > 0));
    assert_eq!(
        storage.size().await.unwrap(),
        entries.iter().map(|e| e.size).sum::<u64>()
    );

    assert_eq!(
        storage.delete_url("https://example.com/a").await.unwrap(),
        2
    );
    let left: Vec<String> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(left, ["b"]);
}

/// Many tasks writing and reading overlapping keys leave every entry whole.
pub async fn concurrent_writers<F: Fixture>(fixture: Arc<F>) {
    let mut tasks = Vec::new();
    for writer in 0..16u32 {
        let fixture = Arc::clone(&fixture);
        tasks.push(tokio::spawn(async move {
            let storage = fixture.storage();
            for i in 0..20u32 {
                let key = format!("k{}", (writer + i) % 10);
                let body = format!("writer {writer} write {i}").repeat(50);
                storage
                    .put(&key, Arc::new(sample_entry("https://example.com/c", body)))
                    .await
                    .expect("concurrent put failed");
                if let Some(entry) = storage
                    .get(&key, t0())
                    .await
                    .expect("concurrent get failed")
                {
                    assert!(entry.body.starts_with(b"writer "), "torn entry");
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task panicked");
    }
    let storage = fixture.storage();
    assert_eq!(storage.len().await.unwrap(), 10);
    for k in 0..10 {
        let entry = get(storage, &format!("k{k}"), t0())
            .await
            .expect("entry lost");
        assert_eq!(entry.body.len() % 50, 0);
    }
}

/// Bytes that are not a record of this format read as a miss and are removed.
/// `write_raw` stores raw bytes under a key, bypassing the serializer.
pub async fn garbage_reads_as_miss<F, Fut>(storage: &dyn Storage, mut write_raw: F)
where
    F: FnMut(String, Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut other_version = Serializer::MessagePack
        .encode(&sample_entry("https://example.com/", &b"x"[..]))
        .unwrap();
    other_version[3] = reqcache::storage::backend::FORMAT_VERSION.wrapping_add(1);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01garbage\xff".to_vec()),
        ("empty", Vec::new()),
        ("pickle", b"\x80\x04\x95pickled".to_vec()),
        ("json-foreign", br#"{"hello": "world"}"#.to_vec()),
        ("other-version", other_version),
    ];
    for (key, bytes) in cases {
        write_raw(key.to_owned(), bytes).await;
        assert!(
            get(storage, key, t0()).await.is_none(),
            "{key} was not a miss"
        );
        assert!(
            !storage
                .entries()
                .await
                .unwrap()
                .iter()
                .any(|e| e.key == key),
            "{key} was not removed"
        );
    }
}

/// Records of every kind round trip: a `Vary`ing response with its request
/// headers, the vary index under its primary key, and an alias (a
/// redirect's first URL pointing at the final one). `get` returns responses
/// only, `len` counts them only, `entries` lists every record with its kind,
/// and invalidating the final URL removes the response and its index.
pub async fn alias_and_vary_records(storage: &dyn Storage) {
    let mut varying = sample_entry("https://example.com/final", &b"body"[..]);
    varying
        .headers
        .append("vary", HeaderValue::from_static("Accept-Language"));
    varying
        .request
        .headers
        .append("accept-language", HeaderValue::from_static("de"));
    let index = VaryIndex::new(vec![http::header::ACCEPT_LANGUAGE], &varying);
    let alias = Alias::new(
        "primary-key",
        CachedRequest::new(Method::GET, "https://example.com/first"),
        vec![http::header::ACCEPT_LANGUAGE],
        &varying,
    );
    let records = [
        ("variant-key", StoredRecord::from(varying.clone())),
        ("primary-key", StoredRecord::from(index)),
        ("alias-key", StoredRecord::from(alias)),
    ];
    for (key, record) in &records {
        storage.put_record(key, record.clone()).await.unwrap();
    }
    for (key, record) in &records {
        let back = storage.get_record(key, t0()).await.unwrap();
        assert_eq!(back.as_ref(), Some(record), "{key}");
    }
    let back = get(storage, "variant-key", t0())
        .await
        .expect("variant missing");
    assert_eq!(back.headers.get("vary").unwrap(), "Accept-Language");
    assert_eq!(back.request.headers.get("accept-language").unwrap(), "de");
    assert!(get(storage, "primary-key", t0()).await.is_none());
    assert!(get(storage, "alias-key", t0()).await.is_none());
    assert_eq!(storage.len().await.unwrap(), 1, "len counts responses only");
    let mut kinds: Vec<(String, RecordKind)> = storage
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|info| (info.key, info.kind))
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        [
            ("alias-key".to_owned(), RecordKind::Alias),
            ("primary-key".to_owned(), RecordKind::VaryIndex),
            ("variant-key".to_owned(), RecordKind::Response),
        ]
    );
    // A lookup through the index in one call: the index, then the variant
    // it names; a named key that holds nothing comes back empty.
    let chain = storage
        .get_chain("primary-key", t0(), &|record| match record {
            StoredRecord::VaryIndex(index) if index.vary == [http::header::ACCEPT_LANGUAGE] => {
                Some("variant-key".to_owned())
            }
            _ => None,
        })
        .await
        .unwrap()
        .expect("index missing");
    assert_eq!(chain.record, records[1].1);
    assert_eq!(
        chain.next,
        Some(("variant-key".to_owned(), Some(records[0].1.clone())))
    );
    let chain = storage
        .get_chain("alias-key", t0(), &|_| Some("nothing-here".to_owned()))
        .await
        .unwrap()
        .expect("alias missing");
    assert_eq!(chain.next, Some(("nothing-here".to_owned(), None)));
    let chain = storage
        .get_chain("variant-key", t0(), &|_| None)
        .await
        .unwrap()
        .expect("variant missing");
    assert_eq!((chain.record, chain.next), (records[0].1.clone(), None));
    assert!(
        storage
            .get_chain("nothing-here", t0(), &|_| unreachable!(
                "nothing to lead from"
            ))
            .await
            .unwrap()
            .is_none()
    );
    // A key that changes kind is counted as what it holds now.
    storage
        .put(
            "alias-key",
            Arc::new(sample_entry("https://example.com/first", "x")),
        )
        .await
        .unwrap();
    assert_eq!(storage.len().await.unwrap(), 2);
    storage
        .put_record("alias-key", records[2].1.clone())
        .await
        .unwrap();
    assert_eq!(storage.len().await.unwrap(), 1);
    assert_eq!(
        storage
            .delete_url("https://example.com/final")
            .await
            .unwrap(),
        2,
        "the variant and its index"
    );
    assert_eq!(storage.len().await.unwrap(), 0);
    assert!(storage.delete("alias-key").await.unwrap());
    assert!(storage.entries().await.unwrap().is_empty());
}

/// Waits, at most `within`, until the tiered storage's bus status
/// satisfies `ready` (connected, or a number of messages received): what
/// the tiered tests of every bus wait on, instead of sleeping.
///
/// # Panics
/// When `within` passes first: the test fails.
pub async fn wait_for_bus(
    storage: &reqcache::storage::TieredStorage,
    within: Duration,
    ready: impl FnMut(&reqcache::storage::tiered::BusStatus) -> bool,
) {
    let mut status = storage.bus_status();
    tokio::time::timeout(within, status.wait_for(ready))
        .await
        .expect("the bus status did not change in time")
        .expect("the tiered storage is gone");
}

/// A codec that compresses (from 64 bytes) and signs: what the encoded
/// variant of the suite runs with.
pub fn compressed_signed_codec() -> Codec {
    Codec::new(Serializer::MessagePack)
        .compressed(Compression {
            level: 3,
            min_size: 64,
        })
        .signed(b"conformance key".to_vec(), [])
}

/// Four entries around retention, for sweep tests, all stored at [`t0`]:
/// `gone` expired at `t0` and retained an hour; `stale` retained three;
/// `default` expired at `t0` with no retention (a storage without native
/// expiry keeps it an hour, as the others do); `forever` never expires. A
/// sweep at `t0` + 2 h deletes `gone` and `default`.
pub fn entries_around_retention() -> [(&'static str, CachedResponse); 4] {
    let hour = std::time::Duration::from_secs(3600);
    let entry = |url: &str, expires: Option<SystemTime>, retain: Option<SystemTime>| {
        let mut entry = sample_entry(url, "a");
        entry.expires = expires;
        entry.retain_until = retain;
        entry
    };
    [
        (
            "gone",
            entry("https://example.com/gone", Some(t0()), Some(t0() + hour)),
        ),
        (
            "stale",
            entry(
                "https://example.com/stale",
                Some(t0()),
                Some(t0() + 3 * hour),
            ),
        ),
        (
            "default",
            entry("https://example.com/default", Some(t0()), None),
        ),
        ("forever", entry("https://example.com/forever", None, None)),
    ]
}

/// Waits until `done` says so, yielding between checks: for work on the
/// blocking pool (a storage's background sweep) under Tokio's paused
/// clock. It waits for that work, never for time; it panics with `what`
/// after a million checks.
pub async fn yield_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1_000_000u32 {
        if done().await {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{what}");
}

/// An entry past its retention by the real clock (an hour ago), which a
/// storage's background sweeper reads.
pub fn past_retention_by_the_real_clock(url: &str) -> CachedResponse {
    let past = SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut entry = sample_entry(url, "a");
    entry.expires = Some(past);
    entry.retain_until = Some(past);
    entry
}

/// A byte store's fixture, with its store behind [`Encoded`] with
/// [`compressed_signed_codec`].
pub fn encoded<B: ByteStore, G>(fixture: Option<(B, G)>) -> Option<(Encoded<B>, G)> {
    fixture.map(|(store, guard)| (Encoded::new(store, compressed_signed_codec()), guard))
}

/// With a signing codec, values the store holds unsigned, or signed with
/// another key, read as misses and are removed; its own read back.
pub async fn signed_values_only<B: ByteStore>(store: B) {
    let entry = || Arc::new(sample_entry("https://example.com/signed", vec![7u8; 512]));
    store.put("plain", entry()).await.unwrap();
    let signed = Encoded::new(store, compressed_signed_codec());
    assert!(
        get(&signed, "plain", t0()).await.is_none(),
        "unsigned value served"
    );
    assert!(
        !signed
            .entries()
            .await
            .unwrap()
            .iter()
            .any(|e| e.key == "plain"),
        "unsigned value kept"
    );
    signed.put("mine", entry()).await.unwrap();
    assert_eq!(get(&signed, "mine", t0()).await.unwrap().body.len(), 512);
    let stranger = Encoded::new(
        signed.into_store(),
        Codec::new(Serializer::MessagePack).signed(b"another key".to_vec(), []),
    );
    assert!(
        get(&stranger, "mine", t0()).await.is_none(),
        "foreign signature served"
    );
    assert_eq!(stranger.len().await.unwrap(), 0);
}

/// Generates one `#[tokio::test]` per conformance check.
///
/// `$make` is an async fn returning `Option<F>` where `F:` [`Fixture`] (a
/// fresh, empty storage, or `None` to skip); `$write_raw` is an async fn
/// `(&F, &str, Vec<u8>)` that stores raw bytes under a key. Storages that keep
/// entries decoded (memory) have no raw bytes and leave `$write_raw` out,
/// which leaves out the garbage check.
///
/// `conformance_tests!(name = make, write_raw)` names the generated module, so
/// one test file can run the suite against several configurations. The forms
/// with `$write_raw` are for byte stores ([`ByteStore`]): they also run every
/// check through [`Encoded`] with [`compressed_signed_codec`], and
/// [`signed_values_only`].
#[macro_export]
macro_rules! conformance_tests {
    ($module:ident = $make:path) => {
        mod $module {
            use super::*;
            $crate::conformance_tests!(@checks $make);
        }
    };
    ($module:ident = $make:path, $write_raw:path) => {
        mod $module {
            use super::*;
            $crate::conformance_tests!(@checks $make);
            $crate::conformance_tests!(@garbage $make, $write_raw);

            /// The same checks through [`Encoded`] with a compressing,
            /// signing codec: what every byte store gets from the adapter.
            mod encoded {
                use super::*;

                async fn make_encoded() -> Option<impl $crate::Fixture> {
                    $crate::encoded($make().await)
                }

                // Concurrency is the store's own, checked once above.
                $crate::conformance_tests!(@data_checks make_encoded);

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn signed_values_only() {
                    let Some((store, _guard)) = $make().await else { return };
                    $crate::signed_values_only(store).await;
                }
            }
        }
    };
    ($make:path) => {
        $crate::conformance_tests!(conformance = $make);
    };
    ($make:path, $write_raw:path) => {
        $crate::conformance_tests!(conformance = $make, $write_raw);
    };
    (@garbage $make:path, $write_raw:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn garbage_reads_as_miss() {
            let Some(fixture) = $make().await else { return };
            let fixture = ::std::sync::Arc::new(fixture);
            let writer = ::std::sync::Arc::clone(&fixture);
            $crate::garbage_reads_as_miss(
                $crate::Fixture::storage(&*fixture),
                move |key: String, bytes: Vec<u8>| {
                    let writer = ::std::sync::Arc::clone(&writer);
                    async move { $write_raw(&writer, &key, bytes).await }
                },
            )
            .await;
        }
    };
    (@checks $make:path) => {
        $crate::conformance_tests!(@data_checks $make);

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_writers() {
            let Some(fixture) = $make().await else { return };
            $crate::concurrent_writers(::std::sync::Arc::new(fixture)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn hung_storage_never_holds_a_request() {
            let Some((storage, _guard)) = $make().await else { return };
            $crate::hung_storage_never_holds_a_request(storage).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn slow_storage_within_the_timeout_still_serves() {
            let Some((storage, _guard)) = $make().await else { return };
            $crate::slow_storage_within_the_timeout_still_serves(storage).await;
        }
    };
    (@data_checks $make:path) => {
        $crate::conformance_tests!(@check $make, round_trip);
        $crate::conformance_tests!(@check $make, overwrite);
        $crate::conformance_tests!(@check $make, delete);
        $crate::conformance_tests!(@check $make, clear);
        $crate::conformance_tests!(@check $make, expiry_honoured_on_read);
        $crate::conformance_tests!(@check $make, remove_expired);
        $crate::conformance_tests!(@check $make, large_bodies);
        $crate::conformance_tests!(@check $make, binary_bodies);
        $crate::conformance_tests!(@check $make, listing_and_filtering);
        $crate::conformance_tests!(@check $make, alias_and_vary_records);
        $crate::conformance_tests!(@check $make, cache_groups);
    };
    (@check $make:path, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(fixture) = $make().await else { return };
            $crate::$name($crate::Fixture::storage(&fixture)).await;
        }
    };
}
