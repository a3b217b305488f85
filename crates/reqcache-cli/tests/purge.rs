//! Purging a running proxy: the admin API (bearer token, purges by URL,
//! prefix, glob and group, soft and hard), `reqcache purge` against it and
//! against a storage, origins' `Cache-Group-Invalidation`, and purges
//! reaching the L1 of every proxy process on one Redis and on one
//! PostgreSQL.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::*;

const TOKEN: &str = "s3cret-token-for-tests";

/// A token file (mode 600) in a temporary folder.
fn token_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin-token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let path = path.display().to_string();
    (dir, path)
}

/// The admin API's address in the line the proxy printed.
fn admin_addr(lines: &[String]) -> String {
    let line = lines
        .iter()
        .find(|line| line.starts_with("reqcache admin on"))
        .unwrap_or_else(|| panic!("no admin line in {lines:?}"));
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .unwrap()
        .to_owned()
}

/// `method http://admin{path}` with `token` (if any) and `body`: the
/// status and the JSON answer.
async fn call(
    admin: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{admin}{path}"));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = client
        .request(
            request
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// `reqcache purge ARGS`, which must succeed: what it printed.
fn purged(args: &[&str]) -> String {
    let output = reqcache(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// `reqcache purge ARGS`, which must fail: its standard error.
fn refused(args: &[&str]) -> String {
    let output = reqcache(args);
    assert!(!output.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn reqcache(args: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("purge").args(args).output().unwrap()
}

async fn purge(admin: &str, body: &str) -> serde_json::Value {
    let (status, answer) = call(admin, Method::POST, "/purge", Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn word(proxy: &str, path: &str) -> String {
    exchange_path(proxy, Method::GET, path).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_refuses_without_the_token_and_purges_with_it() {
    let upstream = grouped_upstream(Arc::new(AtomicUsize::new(1))).await;
    let (_dir, token) = token_file();
    let (_proxy, addr, lines) = start_proxy_reading(
        upstream,
        &[
            "--admin-listen",
            "127.0.0.1:0",
            "--admin-token-file",
            &token,
        ],
        1,
    );
    let admin = admin_addr(&lines);
    for path in ["/g/news/1", "/g/news/2", "/g/sport/1"] {
        assert_eq!(word(&addr, path).await, "Storing");
        assert_eq!(word(&addr, path).await, "Hit");
    }
    let group = r#"{"group": "news"}"#;
    for token in [None, Some("wrong"), Some("s3cret-token-for-test"), Some("")] {
        let (status, answer) = call(&admin, Method::POST, "/purge", token, group).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {answer}");
        let (status, _) = call(&admin, Method::GET, "/stats", token, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(word(&addr, "/g/news/1").await, "Hit", "nothing was purged");

    assert_eq!(
        purge(&admin, group).await,
        serde_json::json!({"purged": 2, "soft": false})
    );
    assert_eq!(word(&addr, "/g/news/1").await, "Storing");
    assert_eq!(
        word(&addr, "/g/sport/1").await,
        "Hit",
        "another group stays"
    );

    // By the URL the proxy serves, or its path; soft: revalidated next.
    let soft = purge(
        &admin,
        &format!(r#"{{"url": "http://{addr}/g/sport/1", "soft": true}}"#),
    )
    .await;
    assert_eq!(soft, serde_json::json!({"purged": 1, "soft": true}));
    assert_eq!(word(&addr, "/g/sport/1").await, "Revalidated");
    assert_eq!(
        purge(&admin, r#"{"prefix": "/g/news/"}"#).await["purged"],
        1
    );
    assert_eq!(purge(&admin, r#"{"glob": "/g/*/1"}"#).await["purged"], 1);

    let (status, stats) = call(&admin, Method::GET, "/stats", Some(TOKEN), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(stats["hits"].as_u64().unwrap() >= 3, "{stats}");
    for (body, why) in [
        (r#"{"url": "/a", "group": "g"}"#, "two targets"),
        (r#"{"uri": "/a"}"#, "an unknown field"),
        ("not json", "not JSON"),
    ] {
        let (status, _) = call(&admin, Method::POST, "/purge", Some(TOKEN), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
    }
}

#[test]
fn without_a_token_file_there_is_no_admin_api_and_the_proxy_says_so() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(grouped_upstream(Arc::new(AtomicUsize::new(1))));
    let _guard = runtime.enter();
    let (_proxy, _addr, lines) =
        start_proxy_reading(upstream, &["--admin-listen", "127.0.0.1:0"], 1);
    assert!(
        lines[0].contains("no admin API") && lines[0].contains("--admin-token-file"),
        "{lines:?}"
    );
    let empty = tempfile::NamedTempFile::new().unwrap();
    let output = Command::new(BIN)
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
        ])
        .args(["--admin-token-file", &empty.path().display().to_string()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqcache_purge_goes_through_the_admin_api_or_straight_to_a_storage() {
    let upstream = grouped_upstream(Arc::new(AtomicUsize::new(1))).await;
    let (_dir, token) = token_file();
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite:{}", dir.path().join("cache").display());
    let (_proxy, addr, lines) = start_proxy_reading(
        upstream,
        &[
            "--storage",
            &storage,
            "--group-headers",
            "surrogate-key",
            "--admin-listen",
            "127.0.0.1:0",
            "--admin-token-file",
            &token,
        ],
        1,
    );
    let admin = admin_addr(&lines);
    for path in ["/g/a/1", "/g/b/1", "/g/c/1"] {
        let (word, _) = exchange_path(&addr, Method::GET, path).await;
        assert_eq!(word, "Storing");
    }
    // The vendor header is read, and not passed on.
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let hit = client
        .get(format!("http://{addr}/g/a/1").parse().unwrap())
        .await
        .unwrap();
    assert!(!hit.headers().contains_key("surrogate-key"));
    assert!(
        hit.headers().contains_key("cache-groups"),
        "RFC 9875's is kept"
    );

    let api = format!("http://{admin}");
    let printed = purged(&[
        "--admin",
        &api,
        "--token-file",
        &token,
        "--group",
        "sk-a",
        "--json",
    ]);
    let answer: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(answer["purged"], 1, "a surrogate key is a group");
    assert_eq!(word(&addr, "/g/a/1").await, "Storing");

    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "not-the-token").unwrap();
    let wrong = wrong.path().display().to_string();
    let stderr = refused(&["--admin", &api, "--token-file", &wrong, "--group", "b"]);
    assert!(stderr.contains("401"));
    assert_eq!(word(&addr, "/g/b/1").await, "Hit");

    // Straight to the storage: the group's origin is the upstream's.
    let origin = format!("http://{upstream}");
    assert_eq!(
        purged(&["--storage", &storage, "--upstream", &origin, "--group", "b"]),
        "purged 1 entry (group=\"b\")"
    );
    // No origin, no upstream.
    assert!(refused(&["--storage", &storage, "--group", "c"]).contains("--origin"));
    assert_eq!(
        purged(&["--storage", &storage, "--group", "c", "--origin", &origin]),
        "purged 1 entry (group=\"c\")"
    );
}

/// Two proxy processes with an L1 each on one storage with a bus: a purge
/// through one's admin API, an origin's Cache-Group-Invalidation through
/// one, and `reqcache purge --storage`, reach the other's L1 within the
/// coherence bound (1 s), though its copies may live an hour.
async fn purges_reach_every_instance(storage: &str, what: &str) {
    let version = Arc::new(AtomicUsize::new(1));
    let upstream = grouped_upstream(Arc::clone(&version)).await;
    let (_dir, token) = token_file();
    let flags = [
        "--storage",
        storage,
        "--l1-size",
        "1000000",
        "--l1-ttl",
        "3600",
        "--admin-listen",
        "127.0.0.1:0",
        "--admin-token-file",
        &token,
    ];
    let (_first, a, lines) = start_proxy_reading(upstream, &flags, 1);
    let admin_a = admin_addr(&lines);
    let (_second, b, _) = start_proxy_reading(upstream, &flags, 1);

    // Each step: both proxies hold /g/<group>/1 (B from its L1), then the
    // purge on A; B must serve the new version within the bound.
    let steps: [(&str, &str); 3] = [("api", "news"), ("origin", "sport"), ("cli", "weather")];
    for (step, (how, group)) in steps.into_iter().enumerate() {
        let path = format!("/g/{group}/1");
        let old = format!("v{} {path}", version.load(Ordering::SeqCst));
        assert_eq!(exchange_path(&a, Method::GET, &path).await.1, old.as_str());
        // B: from Redis once A's write landed (bounded polling: a
        // real-world event), then a hit from its own L1.
        let started = Instant::now();
        while word(&b, &path).await != "Hit" && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            exchange_path(&b, Method::GET, &path).await,
            ("Hit".into(), Bytes::from(old))
        );
        version.fetch_add(1, Ordering::SeqCst);
        let new = format!("v{} {path}", version.load(Ordering::SeqCst));
        match how {
            "api" => assert_eq!(
                purge(&admin_a, &format!(r#"{{"group": "{group}"}}"#)).await["purged"],
                1
            ),
            "cli" => {
                // Straight to the storage, announced on its bus.
                let origin = format!("http://{upstream}");
                purged(&[
                    "--storage",
                    storage,
                    "--group",
                    group,
                    "--upstream",
                    &origin,
                ]);
            }
            _ => {
                let (word, _) =
                    exchange_path(&a, Method::POST, &format!("/invalidate/{group}")).await;
                assert_eq!(word, "Bypassed");
            }
        }
        let started = Instant::now();
        let mut body = exchange_path(&b, Method::GET, &path).await.1;
        while body != new.as_str() && started.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            body = exchange_path(&b, Method::GET, &path).await.1;
        }
        assert_eq!(
            body,
            new.as_str(),
            "{what}, step {step} ({how}): B kept its L1 copy"
        );
        eprintln!(
            "{what} ({how}): B served the new version {:?} after the purge",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_reach_both_proxies_on_one_redis() {
    let Some(redis) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let storage = format!("{redis}#{}", unique("cli-purge"));
    purges_reach_every_instance(&storage, "Redis").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_reach_both_proxies_on_one_postgresql() {
    let Some(postgres) = reqcache_test::server_url("REQCACHE_POSTGRES_URL") else {
        return;
    };
    let storage = format!("{postgres}#{}", unique("cli_purge"));
    purges_reach_every_instance(&storage, "PostgreSQL").await;
}
