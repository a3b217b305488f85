//! Every storage URL the binary takes, on the real servers scripts/test.sh
//! starts: opened by the library, then listed, purged and cleared by the
//! `reqcache` binary's admin commands.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use reqcache::storage::Storage;

const BIN: &str = env!("CARGO_BIN_EXE_reqcache");

/// A name no other test (or run) uses.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `reqcache ARGS`; its stdout, after checking it succeeded.
fn reqcache(args: &[&str]) -> String {
    let output = Command::new(BIN).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "reqcache {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Stores two entries (one expired) through the library, then checks that
/// the binary lists them, removes the expired one, and clears the rest.
async fn admin_round_trip(spec: &str) {
    let storage = reqcache_cli::storage::open(spec)
        .await
        .unwrap_or_else(|e| panic!("{spec}: {e}"));
    storage.clear().await.unwrap();
    let t0 = reqcache_test::t0();
    let fresh = reqcache_test::sample_entry("https://example.com/fresh", &b"1"[..]);
    let expired = reqcache_test::sample_entry("https://example.com/expired", &b"2"[..])
        .with_expires(Some(t0 - std::time::Duration::from_secs(60)));
    storage.put("k-fresh", Arc::new(fresh)).await.unwrap();
    storage.put("k-expired", Arc::new(expired)).await.unwrap();

    let listed = reqcache(&["list", "--storage", spec]);
    assert!(
        listed.contains("https://example.com/fresh"),
        "{spec}: {listed}"
    );
    assert!(
        listed.contains("https://example.com/expired"),
        "{spec}: {listed}"
    );
    assert_eq!(listed.lines().count(), 2, "{spec}: {listed}");

    let removed = reqcache(&["remove-expired", "--storage", spec]);
    assert_eq!(removed.trim(), "removed 1 expired entries", "{spec}");
    let listed = reqcache(&["list", "--storage", spec]);
    assert!(!listed.contains("/expired"), "{spec}: {listed}");
    assert!(listed.contains("/fresh"), "{spec}: {listed}");

    reqcache(&["clear", "--storage", spec]);
    assert_eq!(reqcache(&["list", "--storage", spec]), "", "{spec}");
    assert_eq!(storage.len().await.unwrap(), 0, "{spec}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("cache").display());
    admin_round_trip(&sqlite).await;
    let files = format!("fs:{}", dir.path().join("files").display());
    admin_round_trip(&files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_standalone_and_cluster() {
    let Some(url) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    admin_round_trip(&format!("{url}#{}", unique("cli"))).await;
    let Some(nodes) = reqcache_test::server_url("REQCACHE_REDIS_CLUSTER_URLS") else {
        return;
    };
    let hosts: Vec<&str> = nodes
        .split(',')
        .map(|node| node.trim_start_matches("redis://"))
        .collect();
    admin_round_trip(&format!(
        "redis+cluster://{}#{}",
        hosts.join(","),
        unique("cli")
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_and_gridfs() {
    let Some(url) = reqcache_test::server_url("REQCACHE_MONGODB_URL") else {
        return;
    };
    admin_round_trip(&format!("{url}#{}", unique("cli"))).await;
    admin_round_trip(&format!("gridfs:{url}#{}", unique("cli"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb() {
    let Some(url) = reqcache_test::server_url("REQCACHE_DYNAMODB_URL") else {
        return;
    };
    let endpoint: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
    admin_round_trip(&format!(
        "dynamodb://{}?endpoint={endpoint}&region=us-east-1&create=true",
        unique("cli")
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(url) = reqcache_test::server_url("REQCACHE_POSTGRES_URL") else {
        return;
    };
    admin_round_trip(&format!("{url}#{}", unique("cli"))).await;
}

#[test]
fn a_bad_storage_url_is_refused_before_anything_opens_and_without_its_password() {
    let output = Command::new(BIN)
        .args(["list", "--storage", "postgress://cache:hunter2@db/app"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown storage \"postgress\""), "{stderr}");
    assert!(stderr.contains("postgres://"), "lists the forms: {stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
