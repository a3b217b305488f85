//! Two `reqcache proxy` processes under load on one SQLite file: no
//! "database is locked" failure, no lost write (requests-cache's most
//! reported bug), every request answered.

mod support;

use std::io::Read;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use http::Method;
use support::{BIN, exchange_path, start_proxy, versioned_upstream};

/// Requests in all, each for a URL of its own, from this many tasks.
const REQUESTS: usize = 2_000;
const TASKS: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_on_one_sqlite_file_lose_no_write() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite:{}", dir.path().join("shared").display());
    let upstream = versioned_upstream(Arc::new(AtomicUsize::new(1))).await;
    let (mut first, a) = start_proxy(upstream, &["--storage", &storage]);
    let (mut second, b) = start_proxy(upstream, &["--storage", &storage]);
    let proxies = Arc::new([a, b]);

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let proxies = Arc::clone(&proxies);
            tokio::spawn(async move {
                for i in (task..REQUESTS).step_by(TASKS) {
                    let proxy = &proxies[i % 2];
                    let (word, body) =
                        exchange_path(proxy, Method::GET, &format!("/item/{i}")).await;
                    assert_eq!(body, "v1", "request {i}");
                    assert_eq!(word, "Storing", "request {i} is a miss that is stored");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    // SIGTERM: each finishes and flushes the writes behind its responses.
    let mut logs = String::new();
    for child in [&mut first, &mut second] {
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        assert!(child.wait().unwrap().success(), "a clean exit");
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
    }
    assert!(!logs.contains("locked"), "{logs}");
    assert!(!logs.to_lowercase().contains("fail"), "{logs}");
    assert!(!logs.contains("dropped"), "{logs}");

    let listed = Command::new(BIN)
        .args(["list", "--storage", &storage])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), REQUESTS, "every write landed");
    for i in [0, 1, REQUESTS / 2, REQUESTS - 1] {
        assert!(listed.contains(&format!("/item/{i} ")), "item {i}");
    }
}
