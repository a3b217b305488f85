//! Cache groups (RFC 9875) and purges: `Cache-Groups` puts responses in
//! groups scoped to their origin, `Cache-Group-Invalidation` on a response
//! to an unsafe request removes them, and `CacheHandle::purge` removes or
//! marks stale by URL, prefix, glob or group.

use http::Method;
use reqcache::handle::Purge;
use reqcache::storage::Storage as _;
use reqcache::{CacheOutcome, GroupSources};

use crate::support::*;

/// Every GET answers `200` with the groups its path names
/// (`/g/<group>[/...]`), cacheable for an hour with an ETag; a POST to
/// `/invalidate/<group>` answers with `Cache-Group-Invalidation` for it;
/// `/fail` fails once its first answer has been given.
fn origin() -> Upstream {
    Upstream::new(|seen, _| {
        let path = seen.uri.path().to_owned();
        if let Some(group) = path.strip_prefix("/invalidate/") {
            let value = format!("\"{group}\"");
            return Ok(response(
                200,
                &[("cache-group-invalidation", value.as_str())],
                "done",
            ));
        }
        if seen.headers.contains_key("if-none-match") {
            return Ok(response(304, &[("etag", "\"v1\"")], ""));
        }
        let group = path
            .strip_prefix("/g/")
            .map(|rest| rest.split('/').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let groups = format!("\"{group}\", \"all\"");
        Ok(response(
            200,
            &[
                ("cache-control", "max-age=3600"),
                ("etag", "\"v1\""),
                ("cache-groups", groups.as_str()),
            ],
            format!("body of {path}"),
        ))
    })
}

fn post(url: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    request(Method::POST, url, &[], b"")
}

async fn fill(h: &mut Harness, urls: &[&str]) {
    for url in urls {
        assert_eq!(
            h.get(url).await.cache.outcome(),
            CacheOutcome::Storing,
            "{url}"
        );
    }
    for url in urls {
        assert_eq!(h.get(url).await.cache.outcome(), CacheOutcome::Hit, "{url}");
    }
}

async fn stored_urls(h: &Harness) -> Vec<String> {
    let mut urls: Vec<String> = h
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.url)
        .collect();
    urls.sort();
    urls
}

#[tokio::test]
async fn the_rfc_example_a_post_invalidates_the_groups_it_names_on_its_origin() {
    let mut h = Harness::new(origin(), |b| b);
    fill(
        &mut h,
        &[
            "https://e.com/g/scripts/app.js",
            "https://e.com/g/scripts/lib.js",
            "https://e.com/g/styles/site.css",
            "https://other.com/g/scripts/app.js",
        ],
    )
    .await;
    let reply = h.send(post("https://e.com/invalidate/scripts")).await;
    assert_eq!(reply.cache.outcome(), CacheOutcome::Bypassed);
    assert_eq!(
        stored_urls(&h).await,
        [
            "https://e.com/g/styles/site.css",
            "https://other.com/g/scripts/app.js"
        ],
        "the group went on its own origin only"
    );
    // No cascade: the invalidated responses' other group ("all") stays.
    assert_eq!(
        h.cache()
            .storage()
            .group_keys(&reqcache::storage::group_id("https://e.com", "all"))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn invalidation_on_a_safe_method_is_ignored() {
    let mut h = Harness::new(origin(), |b| b);
    fill(&mut h, &["https://e.com/g/news/1"]).await;
    // A GET whose response carries Cache-Group-Invalidation.
    h.get("https://e.com/invalidate/news").await;
    let head = request(Method::HEAD, "https://e.com/invalidate/news", &[], b"");
    h.send(head).await;
    assert!(
        stored_urls(&h)
            .await
            .contains(&"https://e.com/g/news/1".to_owned())
    );
}

#[tokio::test]
async fn groups_compare_case_sensitively_and_by_whole_origin() {
    let mut h = Harness::new(origin(), |b| b);
    fill(
        &mut h,
        &[
            "https://e.com/g/News/1",
            "https://e.com/g/news/2",
            "http://e.com/g/news/3",
            "https://e.com:8443/g/news/4",
        ],
    )
    .await;
    h.send(post("https://E.COM:443/invalidate/news")).await;
    assert_eq!(
        stored_urls(&h).await,
        [
            "http://e.com/g/news/3",
            "https://e.com/g/News/1",
            "https://e.com:8443/g/news/4"
        ]
    );
}

#[tokio::test]
async fn a_hard_purge_deletes_and_a_soft_one_sends_the_next_request_to_revalidate() {
    let mut h = Harness::new(origin(), |b| b);
    fill(&mut h, &["https://e.com/g/p42/a", "https://e.com/g/p42/b"]).await;
    let soft = h
        .cache()
        .purge(&Purge::group("https://e.com", "p42").soft())
        .await
        .unwrap();
    assert_eq!((soft.purged, soft.soft), (2, true));
    assert_eq!(h.cache().len().await.unwrap(), 2, "soft: still stored");
    let calls = h.calls();
    let revalidated = h.get("https://e.com/g/p42/a").await;
    assert_eq!(revalidated.cache.outcome(), CacheOutcome::Revalidated);
    assert_eq!(revalidated.body, "body of /g/p42/a");
    assert_eq!(h.upstream.last().headers["if-none-match"], "\"v1\"");
    assert_eq!(h.calls(), calls + 1);
    // Fresh again after the 304.
    assert_eq!(
        h.get("https://e.com/g/p42/a").await.cache.outcome(),
        CacheOutcome::Hit
    );

    let hard = h
        .cache()
        .purge(&Purge::group("https://e.com/any/url", "p42"))
        .await
        .unwrap();
    assert_eq!((hard.purged, hard.soft), (2, false));
    assert_eq!(h.cache().len().await.unwrap(), 0);
    assert_eq!(
        h.get("https://e.com/g/p42/b").await.cache.outcome(),
        CacheOutcome::Storing
    );
}

#[tokio::test]
async fn a_soft_purged_entry_still_stands_in_for_an_upstream_error() {
    let upstream = Upstream::new(|_, calls| {
        if calls == 0 {
            Ok(response(
                200,
                &[
                    ("cache-control", "max-age=3600, stale-if-error=600"),
                    ("cache-groups", "\"g\""),
                ],
                "kept",
            ))
        } else {
            Ok(response(503, &[], "down"))
        }
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("https://e.com/x").await;
    let report = h
        .cache()
        .purge(&Purge::url("https://e.com/x").soft())
        .await
        .unwrap();
    assert_eq!(report.purged, 1);
    let reply = h.get("https://e.com/x").await;
    assert_eq!(reply.cache.outcome(), CacheOutcome::StaleOnError);
    assert_eq!(reply.body, "kept");
    // A hard purge leaves nothing to stand in.
    h.cache()
        .purge(&Purge::url("https://e.com/x"))
        .await
        .unwrap();
    assert_eq!(h.get("https://e.com/x").await.status, 503);
}

#[tokio::test]
async fn purges_by_url_prefix_and_glob_count_what_they_removed() {
    let mut h = Harness::new(origin(), |b| b);
    let urls = [
        "https://e.com/g/a/1.css",
        "https://e.com/g/a/2.js",
        "https://e.com/g/b/3.css",
        "https://e.com/h/4",
        "https://f.com/g/a/5.css",
    ];
    fill(&mut h, &urls).await;
    let cache = h.cache().clone();
    // Normalized as stored: the host's case does not matter.
    assert_eq!(
        cache
            .purge(&Purge::url("https://E.com/h/4"))
            .await
            .unwrap()
            .purged,
        1
    );
    assert_eq!(
        cache
            .purge(&Purge::url("https://e.com/h/4"))
            .await
            .unwrap()
            .purged,
        0
    );
    let soft_glob = Purge::glob("https://*/g/*.css").unwrap().soft();
    assert_eq!(cache.purge(&soft_glob).await.unwrap().purged, 3);
    assert_eq!(cache.len().await.unwrap(), 4);
    assert_eq!(
        cache
            .purge(&Purge::prefix("https://e.com/g/a/"))
            .await
            .unwrap()
            .purged,
        2
    );
    assert_eq!(
        stored_urls(&h).await,
        ["https://e.com/g/b/3.css", "https://f.com/g/a/5.css"]
    );
    // What the soft glob marked is stale: revalidated, not a hit.
    assert_eq!(
        h.get("https://f.com/g/a/5.css").await.cache.outcome(),
        CacheOutcome::Revalidated
    );
}

#[tokio::test]
async fn surrogate_keys_and_cache_tags_are_groups_when_read_and_are_stripped() {
    let upstream = Upstream::new(|seen, _| {
        let tags = if seen.uri.path() == "/a" {
            "t1, t2"
        } else {
            "t2"
        };
        Ok(response(
            200,
            &[
                ("cache-control", "max-age=3600"),
                ("surrogate-key", "k1 k2"),
                ("cache-tag", tags),
            ],
            "x",
        ))
    });
    let mut h = Harness::new(upstream.clone(), |b| {
        b.cache_groups(GroupSources::default().surrogate_key(true).cache_tag(true))
    });
    let miss = h.get("https://e.com/a").await;
    assert!(
        !miss.headers.contains_key("surrogate-key"),
        "stripped from the miss"
    );
    assert!(!miss.headers.contains_key("cache-tag"));
    let hit = h.get("https://e.com/a").await;
    assert_eq!(hit.cache.outcome(), CacheOutcome::Hit);
    assert!(
        !hit.headers.contains_key("surrogate-key"),
        "and from the stored headers"
    );
    h.get("https://e.com/b").await;
    let cache = h.cache().clone();
    assert_eq!(
        cache
            .purge(&Purge::group("https://e.com", "t1"))
            .await
            .unwrap()
            .purged,
        1
    );
    assert_eq!(
        cache
            .purge(&Purge::group("https://e.com", "k2"))
            .await
            .unwrap()
            .purged,
        1
    );
    assert_eq!(cache.len().await.unwrap(), 0);

    // Not read by default, and then passed on untouched.
    let mut plain = Harness::new(upstream, |b| b);
    let reply = plain.get("https://e.com/a").await;
    assert_eq!(reply.headers["surrogate-key"], "k1 k2");
    let cache = plain.cache().clone();
    assert_eq!(
        cache
            .purge(&Purge::group("https://e.com", "k1"))
            .await
            .unwrap()
            .purged,
        0
    );
}

#[tokio::test]
async fn a_304_that_names_groups_replaces_the_entry_s_groups() {
    let upstream = Upstream::new(|seen, _| {
        if seen.headers.contains_key("if-none-match") {
            return Ok(response(
                304,
                &[("etag", "\"v\""), ("cache-groups", "\"new\"")],
                "",
            ));
        }
        Ok(response(
            200,
            &[
                ("cache-control", "max-age=10"),
                ("etag", "\"v\""),
                ("cache-groups", "\"old\""),
            ],
            "x",
        ))
    });
    let mut h = Harness::new(upstream, |b| b);
    h.get("https://e.com/x").await;
    h.advance(20);
    assert_eq!(
        h.get("https://e.com/x").await.cache.outcome(),
        CacheOutcome::Revalidated
    );
    let cache = h.cache().clone();
    assert_eq!(
        cache
            .purge(&Purge::group("https://e.com", "old"))
            .await
            .unwrap()
            .purged,
        0
    );
    assert_eq!(
        cache
            .purge(&Purge::group("https://e.com", "new"))
            .await
            .unwrap()
            .purged,
        1
    );
}

#[tokio::test]
async fn a_cached_unsafe_method_still_invalidates_the_groups_it_names() {
    let mut h = Harness::new(origin(), |b| {
        b.allowable_methods([Method::GET, Method::POST])
    });
    fill(&mut h, &["https://e.com/g/news/1"]).await;
    h.send(post("https://e.com/invalidate/news")).await;
    assert!(
        !stored_urls(&h)
            .await
            .contains(&"https://e.com/g/news/1".to_owned())
    );
}

/// A memory storage whose group deletes wait for a gate.
#[derive(Debug, Clone)]
struct GatedGroups {
    inner: std::sync::Arc<reqcache::MemoryStorage>,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl reqcache::storage::Storage for GatedGroups {
    async fn get_record(
        &self,
        key: &str,
        now: std::time::SystemTime,
    ) -> Result<Option<reqcache::storage::backend::StoredRecord>, reqcache::StorageError> {
        self.inner.get_record(key, now).await
    }
    async fn put_record(
        &self,
        key: &str,
        record: reqcache::storage::backend::StoredRecord,
    ) -> Result<(), reqcache::StorageError> {
        self.inner.put_record(key, record).await
    }
    async fn delete(&self, key: &str) -> Result<bool, reqcache::StorageError> {
        self.inner.delete(key).await
    }
    async fn delete_group(&self, group: &str) -> Result<u64, reqcache::StorageError> {
        let _open = self.gate.acquire().await.expect("the gate stays");
        self.inner.delete_group(group).await
    }
    async fn clear(&self) -> Result<(), reqcache::StorageError> {
        self.inner.clear().await
    }
    async fn len(&self) -> Result<u64, reqcache::StorageError> {
        self.inner.len().await
    }
    async fn entries(&self) -> Result<Vec<reqcache::storage::EntryInfo>, reqcache::StorageError> {
        self.inner.entries().await
    }
    async fn remove_expired(
        &self,
        now: std::time::SystemTime,
    ) -> Result<u64, reqcache::StorageError> {
        self.inner.remove_expired(now).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_group_invalidation_holds_the_response_no_longer_than_the_write_timeout_and_completes()
 {
    let storage = GatedGroups {
        inner: std::sync::Arc::new(reqcache::MemoryStorage::new()),
        gate: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
    };
    let mut h = Harness::with_storage(storage.clone(), origin(), |b| b);
    fill(&mut h, &["https://e.com/g/news/1"]).await;
    let started = tokio::time::Instant::now();
    // The paused clock runs ahead while every task waits: the response
    // comes once the write timeout has passed, the group still there.
    let reply = h.send(post("https://e.com/invalidate/news")).await;
    assert_eq!(reply.body, "done");
    assert!(started.elapsed() >= reqcache::CacheLayerBuilder::DEFAULT_WRITE_TIMEOUT);
    assert_eq!(storage.inner.len().await.unwrap(), 1);
    // The deletes went on behind the response: once the storage answers,
    // the group is gone.
    storage.gate.add_permits(1);
    for _ in 0..100 {
        if storage.inner.len().await.unwrap() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(storage.inner.len().await.unwrap(), 0);
}
