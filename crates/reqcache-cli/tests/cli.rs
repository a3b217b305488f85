//! The `reqcache proxy` command line: flags reach the layer, bad values are
//! refused with a message. The binary itself runs, on loopback.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

mod support;

use support::{BIN, exchange, start_proxy, start_proxy_for, versioned_upstream};

/// An upstream whose responses say nothing of freshness; counts requests.
async fn silent_upstream(hits: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let hits = Arc::clone(&hits);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: Request<Incoming>| {
                    hits.fetch_add(1, Ordering::SeqCst);
                    async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"x"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn outcome(proxy: &str) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .request(
            Request::get(format!("http://{proxy}/a"))
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    let word = response.headers()["x-reqcache"]
        .to_str()
        .unwrap()
        .to_owned();
    response.into_body().collect().await.unwrap();
    word
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_after_gives_silent_responses_a_lifetime() {
    for (flags, second) in [
        (&[][..], "NotStored"),
        (&["--expire-after", "60"][..], "Hit"),
    ] {
        let hits = Arc::new(AtomicUsize::new(0));
        let upstream = silent_upstream(Arc::clone(&hits)).await;
        let (mut child, proxy) = start_proxy(upstream, flags);
        outcome(&proxy).await;
        // The write behind the first answer may land a moment later.
        let mut seen = outcome(&proxy).await;
        for _ in 0..50 {
            if seen == second {
                break;
            }
            tokio::task::yield_now().await;
            seen = outcome(&proxy).await;
        }
        assert_eq!(seen, second, "{flags:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn bad_flag_values_are_refused_with_a_message() {
    for (flag, value, message) in [
        (
            "--allowable-codes",
            "42",
            "allowable_codes: 42 is not a status code",
        ),
        ("--allowable-methods", "G E T", "allowable_methods"),
        ("--urls-expire-after", "no-equals", "use PATTERN=SECS"),
        ("--access-log", "xml", "use json or logfmt"),
    ] {
        let output = Command::new(BIN)
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "http://127.0.0.1:9",
                flag,
                value,
            ])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{flag}: {stderr}");
    }
}

/// Two `reqcache proxy` processes with an L1 each over one real Redis: what
/// one stores the other serves, and what one invalidates the other drops
/// from its L1 within the bound, though its L1 copies may live an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_proxy_processes_with_l1_over_one_redis_stay_coherent() {
    let Some(redis) = reqcache_test::server_url("REQCACHE_REDIS_URL") else {
        return;
    };
    let namespace = format!("cli-tiered-{}", std::process::id());
    let storage = format!("{redis}#{namespace}");
    let version = Arc::new(AtomicUsize::new(1));
    let upstream = versioned_upstream(Arc::clone(&version)).await;
    let flags = [
        "--storage",
        &storage,
        "--l1-size",
        "1000000",
        "--l1-ttl",
        "3600",
    ];
    let (mut first, a) = start_proxy(upstream, &flags);
    let (mut second, b) = start_proxy(upstream, &flags);
    // Both subscribed to the bus (until then L1 copies last a second, and
    // the test would not be about the bus).
    let channel = format!("reqcache:invalidate:{namespace}");
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut subscribed = 0;
    for _ in 0..200 {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut connection)
            .await
            .unwrap();
        subscribed = counts[0].1;
        if subscribed == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(subscribed, 2, "both proxies subscribe to {channel}");

    assert_eq!(
        exchange(&a, http::Method::GET).await,
        ("Storing".into(), "v1".into())
    );
    // B: a hit once A's write behind the response has landed in Redis
    // (bounded polling: a real-world event), then from its own L1.
    let mut seen = exchange(&b, http::Method::GET).await;
    for _ in 0..100 {
        if seen.0 == "Hit" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        seen = exchange(&b, http::Method::GET).await;
    }
    assert_eq!(seen.1, "v1");
    assert_eq!(
        exchange(&b, http::Method::GET).await,
        ("Hit".into(), "v1".into())
    );

    // A POST through A invalidates /x; B's L1 copy goes within the bound.
    version.store(2, Ordering::SeqCst);
    exchange(&a, http::Method::POST).await;
    let started = std::time::Instant::now();
    let mut body = exchange(&b, http::Method::GET).await.1;
    while body != "v2" && started.elapsed() < std::time::Duration::from_secs(1) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        body = exchange(&b, http::Method::GET).await.1;
    }
    assert_eq!(body, "v2", "B still served its L1 copy after the bound");
    eprintln!(
        "B served the new version {:?} after A's POST",
        started.elapsed()
    );

    for child in [&mut first, &mut second] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[test]
fn print_config_merges_the_file_and_the_flags_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.toml");
    std::fs::write(
        &file,
        "upstream = \"http://127.0.0.1:9000\"\n\
         storage = \"redis://:hunter2@127.0.0.1:6379#api\"\n\
         l1_size = 1024\n\
         expire_after = 30\n\
         [[urls_expire_after]]\n\
         pattern = \"*/static/*\"\n\
         expire_after = 86400\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args(["proxy", "--config"])
        .arg(&file)
        .args([
            "--expire-after",
            "60",
            "--mode",
            "private",
            "--print-config",
        ])
        .args(["--urls-expire-after", "*/img/*=600"])
        .args(["--storage-read-timeout", "250"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown = String::from_utf8(output.stdout).unwrap();
    let config = reqcache_cli::config::ProxyConfig::from_toml(&shown).unwrap();
    assert_eq!(
        config.upstream.as_deref(),
        Some("http://127.0.0.1:9000"),
        "from the file"
    );
    assert_eq!(config.l1_size, 1024, "from the file");
    assert_eq!(config.expire_after, Some(60), "the flag wins");
    assert_eq!(config.mode, reqcache_cli::config::Mode::Private);
    assert_eq!(
        config.urls_expire_after.len(),
        1,
        "the flags' rules replace the file's"
    );
    assert_eq!(config.urls_expire_after[0].pattern, "*/img/*");
    assert_eq!(config.header_read_timeout, 20, "a default");
    assert_eq!(
        config.storage_read_timeout, 250,
        "the newest flag, one field"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("redis://:***@127.0.0.1:6379#api"), "{shown}");

    // A bad file: the path and the key in the message, exit non-zero.
    std::fs::write(&file, "max_body_size = \"big\"\n").unwrap();
    let output = Command::new(BIN)
        .args(["proxy", "--print-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("proxy.toml") && stderr.contains("max_body_size"),
        "{stderr}"
    );
}

#[test]
fn max_size_takes_units_shows_in_print_config_and_is_refused_where_the_server_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("c").display());
    let print = |args: &[&str]| {
        Command::new(BIN)
            .args([
                "proxy",
                "--upstream",
                "http://127.0.0.1:9",
                "--print-config",
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let shown = |output: std::process::Output| {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    // The default bound, shown.
    let text = shown(print(&["--storage", &sqlite]));
    assert!(text.contains("max_size = \"1GiB\""), "{text}");
    let text = shown(print(&["--storage", "memory"]));
    assert!(text.contains("max_size = \"256MiB\""), "{text}");
    let text = shown(print(&["--storage", "postgres://db/app?sslmode=disable"]));
    assert!(text.contains("max_size = \"1GiB\""), "{text}");
    let text = shown(print(&["--storage", "mongodb://db", "--max-size", "2GiB"]));
    assert!(text.contains("max_size = \"2GiB\""), "{text}");
    // A flag with a unit, and the same in the URL.
    let text = shown(print(&["--storage", &sqlite, "--max-size", "16m"]));
    assert!(text.contains("max_size = \"16MiB\""), "{text}");
    let text = shown(print(&["--storage", &format!("{sqlite}?max_size=16MiB")]));
    assert!(text.contains("?max_size=16MiB"), "{text}");
    // Two different bounds, a bad size, and a storage its server bounds.
    for (args, needle) in [
        (
            vec![
                "--storage",
                &*format!("{sqlite}?max_size=1GiB"),
                "--max-size",
                "16MiB",
            ],
            "two size bounds",
        ),
        (
            vec!["--storage", &*sqlite, "--max-size", "lots"],
            "not a size",
        ),
        (
            vec!["--storage", "redis://127.0.0.1:6379", "--max-size", "1GiB"],
            "maxmemory",
        ),
    ] {
        let output = print(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> (http::StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client
        .request(Request::get(url).body(Full::default()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_listen_serves_the_counters_and_the_latency_histogram() {
    let upstream = versioned_upstream(Arc::new(AtomicUsize::new(1))).await;
    let metrics = format!("127.0.0.1:{}", free_port());
    let (mut child, proxy) = start_proxy(upstream, &["--metrics-listen", &metrics]);
    assert_eq!(exchange(&proxy, http::Method::GET).await.0, "Storing");
    let mut seen = exchange(&proxy, http::Method::GET).await.0;
    for _ in 0..50 {
        if seen == "Hit" {
            break;
        }
        tokio::task::yield_now().await;
        seen = exchange(&proxy, http::Method::GET).await.0;
    }
    assert_eq!(seen, "Hit");
    let (status, text) = get(&format!("http://{metrics}/metrics")).await;
    assert_eq!(status, 200);
    for needle in [
        "reqcache_hits_total{cache=\"proxy\"} 1",
        "reqcache_stored_total{cache=\"proxy\"} 1",
        "reqcache_proxy_requests_total{cache=\"Hit\",status=\"2xx\"} 1",
        "reqcache_proxy_response_seconds_bucket{cache=\"Storing\",le=\"5\"} 1",
        "reqcache_proxy_response_seconds_count{cache=\"Hit\"} 1",
        // The storage (memory, its default bound): read at each scrape.
        "reqcache_storage_max_bytes 268435456",
        "reqcache_storage_evictions_total 0",
        "reqcache_storage_bytes ",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert_eq!(get(&format!("http://{metrics}/other")).await.0, 404);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_one_json_line_per_request_without_secrets() {
    use std::io::{BufRead, BufReader};
    let upstream = versioned_upstream(Arc::new(AtomicUsize::new(1))).await;
    let mut child = support::ProxyChild::from(
        Command::new(BIN)
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--access-log",
                "json",
                "--upstream",
            ])
            .arg(format!("http://{upstream}"))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let proxy = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://"))
        .unwrap()
        .to_owned();
    let (status, _) = get(&format!("http://{proxy}/x?api_key=hunter2&page=2")).await;
    assert_eq!(status, 200);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let logged = lines.next().unwrap().unwrap();
    let entry: serde_json::Value = serde_json::from_str(&logged).unwrap();
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["cache"], "Storing");
    assert_eq!(entry["client"], "127.0.0.1");
    assert!(
        entry["url"].as_str().unwrap().ends_with("/x?page=2"),
        "{logged}"
    );
    assert!(entry["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(!logged.contains("hunter2"), "{logged}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[path = "../../../examples/support/tls.rs"]
#[allow(dead_code)] // what these tests do not use
mod tls;

/// An HTTPS upstream on loopback with `examples/tls/localhost.crt`.
async fn https_upstream() -> SocketAddr {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tls");
    let acceptor = tls::server_tls(&dir).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_: Request<Incoming>| async {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("cache-control", "max-age=60")
                            .body(Full::new(Bytes::from_static(b"over tls")))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_is_verified_against_the_given_ca() {
    let upstream = https_upstream().await;
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tls/ca.crt");
    let url = format!("https://127.0.0.1:{}", upstream.port());

    let (mut trusted, proxy) = start_proxy_for(&url, &["--upstream-ca", ca]);
    assert_eq!(
        exchange(&proxy, http::Method::GET).await,
        ("Storing".into(), "over tls".into())
    );
    trusted.kill().unwrap();
    trusted.wait().unwrap();

    // Without the CA, the upstream's certificate is not trusted: a 502.
    let (mut untrusted, proxy) = start_proxy_for(&url, &[]);
    let (status, body) = get(&format!("http://{proxy}/x")).await;
    assert_eq!(status, 502, "{body}");
    untrusted.kill().unwrap();
    untrusted.wait().unwrap();
}

/// GET `url` with `client`: the version, the x-reqcache word and the body.
async fn get_with<C>(client: &Client<C, Full<Bytes>>, url: &str) -> (http::Version, String, Bytes)
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let response = client
        .request(Request::get(url).body(Full::default()).unwrap())
        .await
        .unwrap();
    let version = response.version();
    let word = response
        .headers()
        .get("x-reqcache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        version,
        word,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_speak_http2_with_prior_knowledge_on_plain_tcp() {
    let upstream = versioned_upstream(Arc::new(AtomicUsize::new(1))).await;
    let (mut child, proxy) = start_proxy(upstream, &[]);
    let h2c = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let url = format!("http://{proxy}/x");
    let (version, word, body) = get_with(&h2c, &url).await;
    assert_eq!(
        (version, word.as_str(), &body[..]),
        (http::Version::HTTP_2, "Storing", &b"v1"[..])
    );
    // HTTP/1.1 on the same port still works, and sees the entry.
    let http1 = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut seen = get_with(&http1, &url).await;
    for _ in 0..50 {
        if seen.1 == "Hit" {
            break;
        }
        tokio::task::yield_now().await;
        seen = get_with(&http1, &url).await;
    }
    assert_eq!((seen.0, seen.1.as_str()), (http::Version::HTTP_11, "Hit"));
    assert_eq!(get_with(&h2c, &url).await.1, "Hit");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_clients_get_http2_or_http1_by_alpn() {
    let upstream = versioned_upstream(Arc::new(AtomicUsize::new(1))).await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/tls");
    let (cert, key) = (dir.join("localhost.crt"), dir.join("localhost.key"));
    let (mut child, proxy) = start_proxy(
        upstream,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let port = proxy.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/x");
    for (h2, version) in [
        (true, http::Version::HTTP_2),
        (false, http::Version::HTTP_11),
    ] {
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_tls(&dir).unwrap())
            .https_only();
        let connector = if h2 {
            builder.enable_http1().enable_http2().build()
        } else {
            builder.enable_http1().build()
        };
        let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
        let (got, _, body) = get_with(&client, &url).await;
        assert_eq!((got, &body[..]), (version, &b"v1"[..]), "h2 offered: {h2}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// An upstream whose responses have only a `Last-Modified` ten days old.
async fn last_modified_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let modified = httpdate::fmt_http_date(
        std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400),
    );
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let modified = modified.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_: Request<Incoming>| {
                    let modified = modified.clone();
                    async move {
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("last-modified", modified)
                                .body(Full::new(Bytes::from_static(b"old")))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heuristic_freshness_is_a_setting() {
    let upstream = last_modified_upstream().await;
    for (flags, fresh) in [(&[][..], true), (&["--heuristic-fraction", "0"][..], false)] {
        let (mut child, proxy) = start_proxy(upstream, flags);
        exchange(&proxy, http::Method::GET).await;
        // The write behind the first answer may land a moment later.
        let mut word = exchange(&proxy, http::Method::GET).await.0;
        for _ in 0..50 {
            if word != "NotStored" && word != "Storing" {
                break;
            }
            tokio::task::yield_now().await;
            word = exchange(&proxy, http::Method::GET).await.0;
        }
        // A day of heuristic freshness (10% of ten days): a hit. None: the
        // stored response is revalidated first.
        assert_eq!(word == "Hit", fresh, "{flags:?}: {word}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let output = Command::new(BIN)
        .args([
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--heuristic-fraction",
            "2",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("heuristic_fraction: 2 is not between 0 and 1")
    );
}

/// Messages a newcomer meets (issue 30, item 5): the address a listener
/// could not take, counts in words, a note on `memory`, no internal remark
/// in the help.
#[test]
fn messages_name_the_address_count_in_words_and_explain_memory() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(BIN)
        .args([
            "proxy",
            "--listen",
            &addr,
            "--upstream",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}: ")),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let storage = format!("fs:{}", dir.path().join("c").display());
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    let cleared = Command::new(BIN)
        .args(["clear", "--storage", &storage])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cleared.stdout),
        "deleted 0 entries\n"
    );

    let listed = Command::new(BIN)
        .args(["list", "--storage", "memory"])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let note = String::from_utf8_lossy(&listed.stderr);
    assert!(
        note.contains("`memory` is the memory of the process that opens it"),
        "{note}"
    );

    let help = Command::new(BIN).args(["list", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("A storage URL"), "{help}");
    assert!(!help.contains("Parsed after clap"), "{help}");
}
