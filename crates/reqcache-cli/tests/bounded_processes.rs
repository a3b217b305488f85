//! Two `reqcache proxy` processes on one SQLite file, and on one folder,
//! bounded at 2 MiB while 9 MiB of responses go through them: the storage
//! stays near its bound, every request is answered, a repeated request is
//! a hit, and `reqcache stats` reports the bytes, the bound and the
//! evictions both processes made (issue 27).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use http::Method;
use support::{BIN, exchange_path, sized_upstream, start_proxy};

const BODY: usize = 16 * 1024;
const REQUESTS: usize = 600;
const TASKS: usize = 8;
const BOUND: u64 = 2 * 1024 * 1024;

/// The bytes of every file under `path` (a folder), or of the database
/// `path` with its `-wal` and `-shm` beside it.
fn apparent_bytes(path: &Path) -> u64 {
    if path.is_dir() {
        return std::fs::read_dir(path)
            .unwrap()
            .map(|entry| apparent_bytes(&entry.unwrap().path()))
            .sum();
    }
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(name).map_or(0, |m| m.len())
        })
        .sum()
}

async fn two_proxies_keep_the_bound(storage: &str, on_disk: &Path) {
    let upstream = sized_upstream(BODY).await;
    let flags = ["--storage", storage, "--max-size", "2MiB"];
    let (mut first, a) = start_proxy(upstream, &flags);
    let (mut second, b) = start_proxy(upstream, &flags);
    let proxies = Arc::new([a, b]);
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let proxies = Arc::clone(&proxies);
            tokio::spawn(async move {
                let mut largest = 0;
                for i in (task..REQUESTS).step_by(TASKS) {
                    let (_, body) =
                        exchange_path(&proxies[i % 2], Method::GET, &format!("/item/{i}")).await;
                    assert_eq!(body.len(), BODY, "request {i} answered whole");
                    largest = largest.max(i);
                }
                largest
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // The last response again: a hit, once its write has landed.
    let last = format!("/item/{}", REQUESTS - 1);
    let proxy = &proxies[(REQUESTS - 1) % 2];
    let mut word = String::new();
    for _ in 0..200 {
        word = exchange_path(proxy, Method::GET, &last).await.0;
        if word == "Hit" {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(word, "Hit", "a repeated request");
    for child in [&mut first, &mut second] {
        let stopped = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        assert!(child.wait().unwrap().success(), "a clean exit");
    }
    let bytes = apparent_bytes(on_disk);
    assert!(
        bytes <= BOUND + BOUND / 4,
        "{bytes} bytes on disk for a bound of {BOUND}"
    );
    let stats = Command::new(BIN)
        .args(["stats", "--storage", storage, "--json"])
        .output()
        .unwrap();
    assert!(
        stats.status.success(),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let usage = &stats["usage"];
    assert_eq!(usage["max_size"], BOUND, "{stats}");
    assert!(usage["bytes"].as_u64().unwrap() <= BOUND, "{stats}");
    let entries = stats["entries"].as_u64().unwrap();
    assert!(entries < REQUESTS as u64 / 2, "{stats}");
    assert!(usage["evictions"].as_u64().unwrap() > 0, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_on_one_sqlite_file_keep_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!(
        "sqlite:{}?max_size=2MiB",
        dir.path().join("shared").display()
    );
    two_proxies_keep_the_bound(&storage, &dir.path().join("shared.sqlite")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxies_on_one_folder_keep_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("shared");
    let storage = format!("fs:{}?max_size=2MiB", folder.display());
    two_proxies_keep_the_bound(&storage, &folder).await;
}
