//! requests-cache parity, second pass: keys, secrets and bad input, and the
//! handle's and builder's conveniences (issue 17, items 9-17). Each test
//! fails without its fix.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::Method;
use reqcache::CacheOutcome;
use reqcache::key::MatchHeaders;
use reqcache::storage::backend::{ByteStore, Record};
use reqcache::storage::{Codec, EntryInfo, StorageError};

use crate::support::*;

#[tokio::test]
async fn duplicate_query_parameters_are_sorted_by_name_then_value() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.get("http://e.com/s?p=b&p=a&q=1").await;
    assert!(h.get("http://e.com/s?q=1&p=a&p=b").await.cache.from_cache());
    assert_eq!(h.calls(), 1);
    assert!(!h.get("http://e.com/s?p=a&p=c&q=1").await.cache.from_cache());
}

#[tokio::test]
async fn an_empty_query_is_no_query() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.get("http://e.com/path?").await;
    assert!(h.get("http://e.com/path").await.cache.from_cache());
    let stored = h.cache().entries().await.unwrap();
    assert_eq!(stored[0].url, "http://e.com/path");
    assert_eq!(h.calls(), 1);
}

#[tokio::test]
async fn percent_encoded_unreserved_characters_equal_their_plain_form() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| b);
    h.get("http://e.com/%7Euser/a%2Db").await;
    assert!(h.get("http://e.com/~user/a-b").await.cache.from_cache());
    // Reserved characters stay escaped; the hex digits' case does not matter.
    h.get("http://e.com/a%2fb").await;
    assert!(h.get("http://e.com/a%2Fb").await.cache.from_cache());
    assert!(!h.get("http://e.com/a/b").await.cache.from_cache());
    assert_eq!(h.calls(), 3);
}

#[tokio::test]
async fn matched_header_values_compare_as_normalized_lists() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.match_headers(MatchHeaders::only(["Accept-Encoding"]))
    });
    let with = |value: &'static str| {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept-encoding", value)],
            b"",
        )
    };
    h.send(with("gzip,  deflate")).await;
    assert!(h.send(with("deflate, GZIP")).await.cache.from_cache());
    assert!(h.send(with(" gzip ,, deflate ")).await.cache.from_cache());
    assert!(!h.send(with("br")).await.cache.from_cache());
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn varied_request_headers_compare_as_normalized_lists() {
    let mut h = Harness::new(
        Upstream::ok(
            "x",
            &[("cache-control", "max-age=60"), ("vary", "Accept-Language")],
        ),
        |b| b,
    );
    let with = |value: &'static str| {
        request(
            Method::GET,
            "http://e.com/",
            &[("accept-language", value)],
            b"",
        )
    };
    h.send(with("en, de")).await;
    assert!(h.send(with("de, EN")).await.cache.from_cache());
    assert!(!h.send(with("fr")).await.cache.from_cache());
    assert_eq!(h.calls(), 2);
}

#[tokio::test]
async fn ignored_parameters_leave_bodies_whatever_the_content_type_spelling() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.allowable_methods([Method::POST])
            .ignored_parameters(["secret"])
    });
    let cases: [(&str, &'static [u8]); 4] = [
        ("Application/JSON", br#"{"q": 1, "secret": "s3cr3t-json"}"#),
        (
            "application/json; charset=utf-8",
            br#"{"q": 2, "secret": "s3cr3t-json2"}"#,
        ),
        (
            "Application/X-WWW-Form-Urlencoded",
            b"q=3&secret=s3cr3t-form",
        ),
        (
            "application/x-www-form-urlencoded; charset=UTF-8",
            b"q=4&secret=s3cr3t-form2",
        ),
    ];
    for (content_type, body) in cases {
        let reply = h
            .send(request(
                Method::POST,
                "http://e.com/api",
                &[("content-type", content_type)],
                body,
            ))
            .await;
        assert_eq!(
            reply.cache.outcome(),
            CacheOutcome::Storing,
            "{content_type}"
        );
        let key = reply.cache.key().unwrap().clone();
        let entry = h.cache().get(&key).await.unwrap().unwrap();
        let bytes = Codec::default().encode(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("s3cr3t"),
            "{content_type}: the secret was stored"
        );
        assert!(!String::from_utf8_lossy(&entry.request.body).contains("secret"));
    }
    // The secret is out of the key too: another value is the same entry.
    let again = h
        .send(request(
            Method::POST,
            "http://e.com/api",
            &[("content-type", "Application/JSON")],
            br#"{"secret": "other", "q": 1}"#,
        ))
        .await;
    assert!(again.cache.from_cache());
}

/// A byte store in a map, so the test sees what an encoding storage writes.
#[derive(Debug, Default)]
struct MapStore(Mutex<HashMap<String, Record>>);

#[async_trait::async_trait]
impl ByteStore for MapStore {
    async fn read(&self, key: &str, _now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.lock().unwrap().get(key).map(|r| r.value.clone()))
    }
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        self.0
            .lock()
            .unwrap()
            .insert(record.info.key.clone(), record);
        Ok(())
    }
    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.0.lock().unwrap().remove(key).is_some())
    }
    async fn remove_all(&self) -> Result<(), StorageError> {
        self.0.lock().unwrap().clear();
        Ok(())
    }
    async fn count(&self) -> Result<u64, StorageError> {
        Ok(self.0.lock().unwrap().len() as u64)
    }
    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .map(|r| r.info.clone())
            .collect())
    }
    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let mut map = self.0.lock().unwrap();
        let before = map.len();
        map.retain(|_, r| !r.info.is_expired(now) && !r.info.is_past_retention(now));
        Ok((before - map.len()) as u64)
    }
}

#[tokio::test]
async fn overflowing_ages_and_dates_before_1970_still_store() {
    let store = Arc::new(MapStore::default());
    let mut h = Harness::with_storage(
        Arc::clone(&store),
        Upstream::new(|seen, _| {
            Ok(match seen.uri.path() {
                // Stale at once (and kept for its validator).
                "/age" => response(
                    200,
                    &[
                        ("cache-control", "max-age=60"),
                        ("age", "4294967296"),
                        ("etag", "\"a\""),
                    ],
                    "a",
                ),
                _ => response(
                    200,
                    &[
                        ("date", "Thu, 01 Jan 1950 00:00:00 GMT"),
                        ("last-modified", "Sun, 01 Jan 1905 00:00:00 GMT"),
                    ],
                    "d",
                ),
            })
        }),
        |b| b,
    );
    for path in ["http://e.com/age", "http://e.com/old"] {
        let reply = h.get(path).await;
        assert_eq!(reply.cache.outcome(), CacheOutcome::Storing, "{path}");
        let key = reply.cache.key().unwrap().clone();
        assert!(
            h.cache().get(&key).await.unwrap().is_some(),
            "{path} reads back"
        );
    }
    assert_eq!(h.cache().stats().storage_write_errors, 0);
    assert_eq!(store.0.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn contains_get_and_delete_get_ask_about_a_plain_get() {
    let mut h = Harness::new(Upstream::ok("x", &[]), |b| {
        b.allowable_methods([Method::GET, Method::POST])
    });
    h.get("http://e.com/a?b=1&a=2").await;
    h.send(request(Method::POST, "http://e.com/p", &[], b"body"))
        .await;
    let cache = h.cache();
    assert!(cache.contains_get("http://E.com/a?a=2&b=1").await.unwrap());
    assert!(
        !cache.contains_get("http://e.com/p").await.unwrap(),
        "only the POST is stored"
    );
    assert!(!cache.contains_get("not a url at all").await.unwrap());
    assert!(cache.delete_get("http://e.com/a?a=2&b=1").await.unwrap());
    assert!(!cache.contains_get("http://e.com/a?a=2&b=1").await.unwrap());
    assert_eq!(cache.len().await.unwrap(), 1);
}

#[tokio::test]
async fn allowable_codes_and_match_headers_take_plain_values() {
    let mut h = Harness::new(
        Upstream::new(|seen, _| {
            Ok(response(
                if seen.uri.path() == "/gone" { 404 } else { 200 },
                &[],
                "x",
            ))
        }),
        |b| {
            b.allowable_codes([200, 404, 1000])
                .match_headers(MatchHeaders::only(["X-Tenant"]))
        },
    );
    assert_eq!(
        h.get("http://e.com/gone").await.cache.outcome(),
        CacheOutcome::Storing
    );
    assert!(h.get("http://e.com/gone").await.cache.from_cache());
    let tenant = |t: &'static str| request(Method::GET, "http://e.com/t", &[("x-tenant", t)], b"");
    h.send(tenant("a")).await;
    assert!(
        !h.send(tenant("b")).await.cache.from_cache(),
        "X-Tenant is matched"
    );
}
