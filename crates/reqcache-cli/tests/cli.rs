//! The `reqcache proxy` command line: flags reach the layer, bad values are
//! refused with a message. The binary itself runs, on loopback.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_reqcache");

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

/// Starts `reqcache proxy` with `flags`; its address, from the line it prints.
fn start_proxy(upstream: SocketAddr, flags: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args(["proxy", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(format!("http://{upstream}"))
        .args(flags)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://127.0.0.1"))
        .map(|port| format!("127.0.0.1{port}"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr)
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
            "--allowable-codes: 42 is not a status code",
        ),
        ("--allowable-methods", "G E T", "--allowable-methods"),
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
