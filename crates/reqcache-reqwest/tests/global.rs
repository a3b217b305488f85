//! The patching style: a process-wide installed cache, and task-scoped
//! `enabled` / `disabled` that never leak into other tasks.
//!
//! The installed cache is process-wide, so the tests in this file take turns.

use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheOutcome, MemoryStorage, global};
use reqcache_reqwest::{CacheStatusExt, CachedClient};
use reqcache_test::upstream::Upstream;
use tokio::sync::Mutex;

static TURN: Mutex<()> = Mutex::const_new(());

async fn outcome(client: &CachedClient, url: &str) -> CacheOutcome {
    let response = client.get(url).send().await.unwrap();
    let outcome = response.cache_status().unwrap().outcome();
    response.bytes().await.unwrap();
    outcome
}

async fn stored_urls(layer: &CacheLayer) -> Vec<String> {
    let mut urls: Vec<String> = layer
        .cache()
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.url)
        .collect();
    urls.sort();
    urls
}

#[tokio::test]
async fn install_uninstall_is_installed_and_clear() {
    let _turn = TURN.lock().await;
    let upstream = Upstream::start().await;
    let url = upstream.url("/json");
    let client = CachedClient::default();

    assert!(!global::is_installed());
    assert_eq!(outcome(&client, &url).await, CacheOutcome::Bypassed);

    let layer = CacheLayer::new(MemoryStorage::new());
    assert!(global::install(layer.clone()).is_none());
    assert!(global::is_installed());
    assert_eq!(outcome(&client, &url).await, CacheOutcome::Storing);
    assert_eq!(outcome(&client, &url).await, CacheOutcome::Hit);
    // The free function and the process-wide client use it too.
    let response = reqcache_reqwest::get(&url).await.unwrap();
    assert!(response.from_cache());

    global::clear().await.unwrap();
    assert_eq!(layer.cache().len().await.unwrap(), 0);
    assert_eq!(outcome(&client, &url).await, CacheOutcome::Storing);

    assert!(global::uninstall().is_some());
    assert!(!global::is_installed());
    assert_eq!(outcome(&client, &url).await, CacheOutcome::Bypassed);
    assert_eq!(upstream.count("/json"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scopes_apply_to_their_own_task_only() {
    let _turn = TURN.lock().await;
    let upstream = Upstream::start().await;
    let installed = CacheLayer::new(MemoryStorage::new());
    let scoped = CacheLayer::new(MemoryStorage::new());
    global::install(installed.clone());
    let client = CachedClient::default();

    // 96 tasks on 4 threads, interleaved: a third disabled, a third with a
    // cache of their own, a third with the installed one. Each makes the
    // same request twice, yielding between so that tasks of every kind run
    // on every thread in between.
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..96 {
        let client = client.clone();
        let scoped = scoped.clone();
        let url = upstream.url(&format!("/json?task={task}"));
        tasks.spawn(async move {
            let twice = async {
                let first = outcome(&client, &url).await;
                tokio::task::yield_now().await;
                let second = outcome(&client, &url).await;
                (first, second)
            };
            let outcomes = match task % 3 {
                0 => global::disabled(twice).await,
                1 => global::enabled(scoped, twice).await,
                _ => twice.await,
            };
            (task, outcomes)
        });
    }
    while let Some(result) = tasks.join_next().await {
        let (task, outcomes) = result.unwrap();
        let expected = match task % 3 {
            0 => (CacheOutcome::Bypassed, CacheOutcome::Bypassed),
            _ => (CacheOutcome::Storing, CacheOutcome::Hit),
        };
        assert_eq!(outcomes, expected, "task {task}");
    }

    let urls_of = |kind: usize| {
        let mut urls: Vec<String> = (0..96)
            .filter(|task| task % 3 == kind)
            .map(|task| upstream.url(&format!("/json?task={task}")))
            .collect();
        urls.sort();
        urls
    };
    assert_eq!(stored_urls(&scoped).await, urls_of(1));
    assert_eq!(stored_urls(&installed).await, urls_of(2));
    assert_eq!(upstream.count("/json"), 32 * 2 + 32 + 32);
    global::uninstall();
}

#[tokio::test]
async fn a_task_spawned_inside_a_scope_does_not_inherit_it() {
    let _turn = TURN.lock().await;
    let upstream = Upstream::start().await;
    let installed = CacheLayer::new(MemoryStorage::new());
    global::install(installed.clone());
    let client = CachedClient::default();
    let url = upstream.url("/json");

    let (inside, spawned) = global::disabled(async {
        let inside = outcome(&client, &url).await;
        let client = client.clone();
        let url = url.clone();
        let spawned = tokio::spawn(async move { outcome(&client, &url).await });
        (inside, spawned.await.unwrap())
    })
    .await;
    assert_eq!(inside, CacheOutcome::Bypassed);
    assert_eq!(spawned, CacheOutcome::Storing);

    // `with_cache_enabled` inside `disabled` inside `enabled` keeps the
    // scope's cache.
    let scoped = CacheLayer::new(MemoryStorage::new());
    let nested = global::enabled(
        scoped.clone(),
        global::disabled(reqcache::with_cache_enabled(outcome(&client, &url))),
    )
    .await;
    assert_eq!(nested, CacheOutcome::Storing);
    assert_eq!(scoped.cache().len().await.unwrap(), 1);
    global::uninstall();
}

#[tokio::test]
async fn an_own_cache_client_ignores_the_installed_one_but_honours_disabled() {
    let _turn = TURN.lock().await;
    let upstream = Upstream::start().await;
    let installed = CacheLayer::new(MemoryStorage::new());
    global::install(installed.clone());
    let own = CacheLayer::new(MemoryStorage::new());
    let client = CachedClient::new(own.clone());
    let url = upstream.url("/json");

    assert_eq!(outcome(&client, &url).await, CacheOutcome::Storing);
    assert_eq!(installed.cache().len().await.unwrap(), 0);
    assert_eq!(own.cache().len().await.unwrap(), 1);
    assert_eq!(
        global::disabled(outcome(&client, &url)).await,
        CacheOutcome::Bypassed
    );
    global::uninstall();
}

#[tokio::test]
async fn the_installed_middleware_follows_install_and_uninstall() {
    let _turn = TURN.lock().await;
    let upstream = Upstream::start().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(reqcache_reqwest::CacheMiddleware::installed())
        .build();
    let url = upstream.url("/json");
    let outcome = async || {
        let response = client.get(&url).send().await.unwrap();
        response.cache_status().unwrap().outcome()
    };
    assert_eq!(outcome().await, CacheOutcome::Bypassed);
    global::install(CacheLayer::new(MemoryStorage::new()));
    assert_eq!(outcome().await, CacheOutcome::Storing);
    assert_eq!(outcome().await, CacheOutcome::Hit);
    assert_eq!(global::disabled(outcome()).await, CacheOutcome::Bypassed);
    global::uninstall();
    assert_eq!(outcome().await, CacheOutcome::Bypassed);
}

/// The installed cache writes durably too: a response read to its end is
/// in storage without a flush, however slow the storage's writes (20 ms
/// each here).
#[tokio::test]
async fn the_installed_cache_stores_what_was_read_without_a_flush() {
    let _turn = TURN.lock().await;
    let upstream = Upstream::start().await;
    let storage = reqcache_test::Gated::new(MemoryStorage::new());
    storage.delay(Some(std::time::Duration::from_millis(20)));
    global::install(CacheLayer::new(storage.clone()));
    let response = reqcache_reqwest::get(upstream.url("/json")).await.unwrap();
    assert_eq!(
        response.cache_status().unwrap().outcome(),
        CacheOutcome::Storing
    );
    response.bytes().await.unwrap();
    assert_eq!(storage.inner().len().await.unwrap(), 1);
    global::uninstall();
}
