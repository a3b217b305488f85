//! The miss path, against the bare inner service in the same run:
//!
//! 1. `miss`: a 1 KiB miss (a new URL each time) on memory and SQLite: the
//!    time to the response head, the time to the end of its body (which in
//!    the client preset, `WriteMode::Durable`, includes the entry's write),
//!    and the process CPU per miss with the writes behind the responses
//!    included (flushed before the clock stops); each storage in the
//!    default (durable) mode and in `WriteMode::Behind`.
//! 2. `stream`: an origin that sends its head at once and its body 50 ms
//!    later: the time to the response head through the layer.
//! 3. `fanout`: 200 concurrent requests for one cold URL on a 200 ms origin:
//!    upstream calls, and each caller's time to its first body byte.
//! 4. `hung`: a real redis-server, started here and stopped by PID, frozen
//!    with SIGSTOP for 10 s while 64 tasks send requests (a 1 ms origin):
//!    failed requests and p50/p99 latency against the bare origin. Needs
//!    `redis-server` (or `REQCACHE_REDIS_SERVER`); skipped without it.
//!
//! 6. `memory`: one 200 MiB miss on SQLite: the peak resident memory it adds
//!    (`memory-storage`, run alone: the same on MemoryStorage).
//! 5. `lock`: another process holds an EXCLUSIVE lock on the SQLite file for
//!    20 s under 64 tasks: miss and hit latency against the bare origin.
//!
//! Run: `cargo bench --bench miss_path` (`-- miss`, `-- stream`, `-- fanout`,
//! `-- lock` or `-- hung` for one part). Build with `RUSTFLAGS="--cfg reqcache_before"` against a
//! tree from before the streaming miss path (no `flush`) to compare.

#![allow(missing_docs)]

mod support;
use support::{Upstream, process_cpu as cpu_time};

use std::convert::Infallible;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use reqcache::storage::Storage;
use reqcache::{CacheHandle, CacheLayer, MemoryStorage};
use reqcache_sqlite::SqliteStorage;
use tower::{Layer, Service, ServiceExt};

const MISSES: usize = 20_000;
const ROUNDS: usize = 5;

fn body_1k() -> Bytes {
    Bytes::from(vec![b'x'; 1024])
}

fn origin() -> impl Upstream {
    let body = body_1k();
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let body = body.clone();
        async move {
            Ok(Response::builder()
                .header("cache-control", "max-age=3600")
                .body(Full::new(body))
                .unwrap())
        }
    })
}

async fn flush(cache: Option<&CacheHandle>) {
    #[cfg(not(reqcache_before))]
    if let Some(cache) = cache {
        cache.flush().await;
    }
    #[cfg(reqcache_before)]
    let _ = cache;
}

/// What one round of misses measured: medians of the time to the head and
/// to the end of the body, and the CPU per miss.
struct Measured {
    head: Duration,
    end: Duration,
    cpu: Duration,
}

/// Sends `MISSES` requests for new URLs.
async fn misses<S, B>(service: S, cache: Option<CacheHandle>, round: usize) -> Measured
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let mut heads = Vec::with_capacity(MISSES);
    let mut ends = Vec::with_capacity(MISSES);
    let cpu = cpu_time();
    for i in 0..MISSES {
        let request = Request::get(format!("https://api.example.com/items/{round}/{i}"))
            .body(Full::default())
            .unwrap();
        let start = Instant::now();
        let response = service.clone().oneshot(request).await.unwrap();
        heads.push(start.elapsed());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        ends.push(start.elapsed());
        assert_eq!(body.len(), 1024);
        // A real caller waits on its network between requests: let the
        // runtime run the writes behind the responses, and keep them within
        // the bound of writes in flight (beyond it they are dropped, by
        // design, and the CPU figure would cover fewer writes).
        tokio::task::yield_now().await;
        if i % 256 == 255 {
            flush(cache.as_ref()).await;
        }
    }
    flush(cache.as_ref()).await;
    let cpu = cpu_time().saturating_sub(cpu) / MISSES as u32;
    Measured {
        head: median(heads),
        end: median(ends),
        cpu,
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// A layer on `storage` in the default (durable) mode or, after the
/// durable writes (never with `reqcache_before`), in `WriteMode::Behind`.
fn layer_on(storage: impl Storage, behind: bool) -> CacheLayer {
    #[cfg(not(reqcache_before))]
    if behind {
        return CacheLayer::builder(storage)
            .write_mode(reqcache::WriteMode::Behind)
            .build();
    }
    let _ = behind;
    CacheLayer::new(storage)
}

fn run_misses(rt: &tokio::runtime::Runtime) {
    println!("miss: {MISSES} misses of 1 KiB per round, {ROUNDS} rounds, medians");
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        ("bare", None),
        ("memory", Some((false, false))),
        ("memory, behind", Some((false, true))),
        ("sqlite", Some((true, false))),
        ("sqlite, behind", Some((true, true))),
    ];
    let mut results: Vec<Vec<Measured>> = rows.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS {
        for (row, (name, cache)) in rows.iter().enumerate() {
            let measured = match cache {
                None => rt.block_on(misses(origin(), None, round)),
                Some((sqlite, behind)) => {
                    let layer = if *sqlite {
                        let path = dir.path().join(format!("miss-{round}-{row}.sqlite"));
                        layer_on(rt.block_on(SqliteStorage::open(&path)).unwrap(), *behind)
                    } else {
                        layer_on(MemoryStorage::new(), *behind)
                    };
                    let measured = rt.block_on(misses(
                        layer.layer(origin()),
                        Some(layer.cache().clone()),
                        round,
                    ));
                    // Writes that cannot keep up are dropped and counted
                    // (behind only): say so, since the CPU figure then
                    // covers fewer writes.
                    let stored = rt.block_on(layer.cache().storage().len()).unwrap();
                    // MemoryStorage keeps its newest 10,000 by default.
                    let kept = if *sqlite {
                        MISSES
                    } else {
                        MISSES.min(reqcache::storage::memory::DEFAULT_MAX_ENTRIES)
                    };
                    if stored != kept as u64 {
                        let stats = layer.cache().stats();
                        println!(
                            "round {round}: {name} stored {stored} of {MISSES} (writes dropped {}, write errors {}, timeouts {}, breaker trips {})",
                            stats.writes_dropped,
                            stats.storage_write_errors,
                            stats.storage_timeouts,
                            stats.breaker_trips
                        );
                    }
                    measured
                }
            };
            results[row].push(measured);
        }
    }
    let medians: Vec<(Duration, Duration, Duration)> = results
        .into_iter()
        .map(|round| {
            let heads = round.iter().map(|m| m.head).collect();
            let ends = round.iter().map(|m| m.end).collect();
            let cpus = round.iter().map(|m| m.cpu).collect();
            (median(heads), median(ends), median(cpus))
        })
        .collect();
    let (bare_head, bare_end, bare_cpu) = medians[0];
    println!(
        "| service | time to head | added | time to body end | added | CPU per miss | added |"
    );
    println!("|---|---|---|---|---|---|---|");
    for ((name, _), (head, end, cpu)) in rows.iter().zip(medians) {
        println!(
            "| {name} | {:.2} µs | +{:.2} µs | {:.2} µs | +{:.2} µs | {:.2} µs | +{:.2} µs |",
            micros(head),
            micros(head.saturating_sub(bare_head)),
            micros(end),
            micros(end.saturating_sub(bare_end)),
            micros(cpu),
            micros(cpu.saturating_sub(bare_cpu)),
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A body that sends one 1 KiB chunk `delay` after it is first polled.
struct Late {
    delay: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

impl Body for Late {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.done {
            return std::task::Poll::Ready(None);
        }
        if let Some(delay) = self.delay.as_mut() {
            std::task::ready!(delay.as_mut().poll(cx));
        }
        self.done = true;
        std::task::Poll::Ready(Some(Ok(Frame::data(body_1k()))))
    }
}

fn streaming_origin()
-> impl Service<Request<Full<Bytes>>, Response = Response<Late>, Error = Infallible, Future = impl Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok(Response::builder()
            .header("cache-control", "max-age=3600")
            .body(Late {
                delay: Some(Box::pin(tokio::time::sleep(Duration::from_millis(50)))),
                done: false,
            })
            .unwrap())
    })
}

async fn time_to_head<S, B>(service: S, i: usize) -> Duration
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get(format!("https://api.example.com/stream/{i}"))
        .body(Full::default())
        .unwrap();
    let start = Instant::now();
    let response = service.oneshot(request).await.unwrap();
    let head = start.elapsed();
    let _ = response.into_body().collect().await.unwrap();
    head
}

fn run_stream(rt: &tokio::runtime::Runtime) {
    println!("stream: head at once, body 50 ms later; 20 requests each, medians");
    let dir = tempfile::tempdir().unwrap();
    let storage = rt
        .block_on(SqliteStorage::open(dir.path().join("stream.sqlite")))
        .unwrap();
    let memory = CacheLayer::new(MemoryStorage::new());
    let sqlite = CacheLayer::new(storage);
    let mut rows = Vec::new();
    for (name, layer) in [
        ("bare", None),
        ("memory", Some(&memory)),
        ("sqlite", Some(&sqlite)),
    ] {
        let mut heads = Vec::new();
        for i in 0..20 {
            heads.push(rt.block_on(match layer {
                None => Box::pin(time_to_head(streaming_origin(), i))
                    as std::pin::Pin<Box<dyn Future<Output = Duration>>>,
                Some(layer) => Box::pin(time_to_head(layer.layer(streaming_origin()), i)),
            }));
        }
        rows.push((name, median(heads)));
    }
    println!("| service | time to head |");
    println!("|---|---|");
    for (name, head) in rows {
        println!("| {name} | {:.1} µs |", micros(head));
    }
}

/// A redis-server of our own on a free loopback port, stopped by PID.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Option<Self> {
        let program =
            std::env::var("REQCACHE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new(program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Self { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn slow_origin() -> impl Upstream {
    tower::service_fn(|_req: Request<Full<Bytes>>| async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok(Response::builder()
            .header("cache-control", "max-age=3600")
            .body(Full::new(body_1k()))
            .unwrap())
    })
}

/// What a load run came to.
struct Load {
    requests: usize,
    failed: usize,
    p50: Duration,
    p99: Duration,
}

impl Load {
    /// Its row of the table [`table_with_bare_origin`] starts.
    fn row(&self, phase: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {phase} | {} | {} | {:.2} ms | {:.2} ms |",
            self.requests,
            self.failed,
            ms(self.p50),
            ms(self.p99)
        );
    }
}

/// Prints the table's head and the bare origin's row: the same load (3 s)
/// on the origin alone.
fn table_with_bare_origin(rt: &tokio::runtime::Runtime, prefix: &'static str) {
    let bare = tower::ServiceBuilder::new()
        .map_response(|r: Response<Full<Bytes>>| r.map(reqcache::CacheBody::upstream))
        .service(slow_origin());
    let bare = rt.block_on(load(bare, Duration::from_secs(3), prefix));
    println!("| phase | requests | failed | p50 | p99 |");
    println!("|---|---|---|---|---|");
    bare.row("bare origin");
}

/// 64 tasks sending requests for 200 URLs under `prefix` for `length`.
async fn load<S>(service: S, length: Duration, prefix: &'static str) -> Load
where
    S: Service<Request<Full<Bytes>>, Response = Response<reqcache::CacheBody<Full<Bytes>>>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Send,
{
    let failed = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + length;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let service = service.clone();
            let failed = Arc::clone(&failed);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let request =
                        Request::get(format!("https://api.example.com/{prefix}/{}", n % 200))
                            .body(Full::default())
                            .unwrap();
                    let start = Instant::now();
                    match service.clone().oneshot(request).await {
                        Ok(response) => {
                            if response.into_body().collect().await.is_err() {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    latencies.push(start.elapsed());
                    // A client waits on its network between requests; here
                    // it also lets the runtime drive its timers.
                    tokio::task::yield_now().await;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Load {
        requests: all.len(),
        failed: failed.load(Ordering::Relaxed),
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn run_hung(rt: &tokio::runtime::Runtime) {
    let Some(redis) = Redis::start() else {
        println!("hung: skipped (no redis-server; set REQCACHE_REDIS_SERVER)");
        return;
    };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let storage = rt
        .block_on(
            reqcache_redis::RedisStorage::builder(&url)
                .namespace("hung-bench")
                .open(),
        )
        .unwrap();
    let layer = CacheLayer::new(storage);
    let service = layer.layer(slow_origin());
    println!("hung: 64 tasks, 200 URLs, 1 ms origin; redis-server frozen (SIGSTOP) for 10 s");
    table_with_bare_origin(rt, "hung");
    redis.signal("-STOP");
    let hung = rt.block_on(load(service, Duration::from_secs(10), "hung"));
    redis.signal("-CONT");
    hung.row("layer, Redis hung");
    #[cfg(not(reqcache_before))]
    println!("stats: {:?}", layer.cache().stats());
    drop(redis);
}

/// 200 concurrent requests for one cold URL, a 200 ms origin: upstream
/// calls and each caller's time to its first body byte.
fn run_fanout(rt: &tokio::runtime::Runtime) {
    let calls = Arc::new(AtomicUsize::new(0));
    let origin = {
        let calls = Arc::clone(&calls);
        tower::service_fn(move |_req: Request<Full<Bytes>>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("cache-control", "max-age=3600")
                        .body(Full::new(body_1k()))
                        .unwrap(),
                )
            }
        })
    };
    let layer = CacheLayer::new(MemoryStorage::new());
    let service = layer.layer(origin);
    let firsts = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let service = service.clone();
                tokio::spawn(async move {
                    let request = Request::get("https://api.example.com/cold")
                        .body(Full::default())
                        .unwrap();
                    let response = service.oneshot(request).await.unwrap();
                    let mut body = response.into_body();
                    let _first = body.frame().await;
                    let first = start.elapsed();
                    while body.frame().await.is_some() {}
                    first
                })
            })
            .collect();
        let mut firsts = Vec::new();
        for task in tasks {
            firsts.push(task.await.unwrap());
        }
        firsts.sort();
        firsts
    });
    println!(
        "fanout: 200 concurrent requests, one cold URL, 200 ms origin: {} upstream call(s); first byte p50 {:.1} ms, max {:.1} ms",
        calls.load(Ordering::SeqCst),
        firsts[firsts.len() / 2].as_secs_f64() * 1e3,
        firsts[firsts.len() - 1].as_secs_f64() * 1e3,
    );
}

/// Another process holds an EXCLUSIVE lock on the SQLite file for 20 s while
/// 64 tasks send requests (a 1 ms origin): misses, and hits of an entry
/// stored before the lock.
fn run_lock(rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let storage = rt
        .block_on(SqliteStorage::open(dir.path().join("locked.sqlite")))
        .unwrap();
    let path = storage.path().to_owned();
    let layer = CacheLayer::new(storage);
    let service = layer.layer(slow_origin());
    println!("lock: 64 tasks, 1 ms origin; a foreign EXCLUSIVE lock on the SQLite file for 20 s");
    table_with_bare_origin(rt, "lock");
    // An entry stored before the lock, for the hits.
    let hot = || {
        Request::get("https://api.example.com/hot")
            .body(Full::default())
            .unwrap()
    };
    rt.block_on(async {
        let _ = service
            .clone()
            .oneshot(hot())
            .await
            .unwrap()
            .into_body()
            .collect()
            .await;
        flush(Some(layer.cache())).await;
    });
    let foreign = rusqlite::Connection::open(&path).unwrap();
    foreign.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let hits = rt.spawn({
        let service = service.clone();
        async move {
            let mut latencies = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(19);
            while Instant::now() < deadline {
                let start = Instant::now();
                let response = service.clone().oneshot(hot()).await.unwrap();
                let _ = response.into_body().collect().await;
                latencies.push(start.elapsed());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            latencies.sort();
            latencies
        }
    });
    let misses = rt.block_on(load(service, Duration::from_secs(20), "lock"));
    let hits = rt.block_on(hits).unwrap();
    foreign.execute_batch("COMMIT").unwrap();
    misses.row("layer, misses under the lock");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| layer, hits under the lock (one task) | {} | 0 | {:.3} ms | {:.3} ms |",
        hits.len(),
        ms(hits[hits.len() / 2]),
        ms(hits[(hits.len() * 99 / 100).min(hits.len() - 1)]),
    );
    #[cfg(not(reqcache_before))]
    println!("stats: {:?}", layer.cache().stats());
}

/// The process's peak resident memory so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// One 200 MiB miss on SQLite (`on_memory`: on MemoryStorage), with
/// max_body_size 300 MiB, in 64 KiB chunks: the peak resident memory it
/// adds, against the body's size.
fn run_memory(rt: &tokio::runtime::Runtime, on_memory: bool) {
    const SIZE: usize = 200 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    struct Chunks(usize);
    impl Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(None);
            }
            self.0 -= 1;
            std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; CHUNK])))))
        }
        fn size_hint(&self) -> http_body::SizeHint {
            http_body::SizeHint::with_exact((self.0 * CHUNK) as u64)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (name, storage): (&str, Arc<dyn Storage>) = if on_memory {
        let memory = MemoryStorage::builder().max_size(300 * 1024 * 1024).build();
        ("MemoryStorage", Arc::new(memory))
    } else {
        let path = dir.path().join("big.sqlite");
        (
            "SQLite",
            Arc::new(rt.block_on(SqliteStorage::open(path)).unwrap()),
        )
    };
    let layer = CacheLayer::builder(storage)
        .max_body_size(300 * 1024 * 1024)
        .build();
    let service = layer.layer(tower::service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(
            Response::builder()
                .header("cache-control", "max-age=3600")
                .body(Chunks(SIZE / CHUNK))
                .unwrap(),
        )
    }));
    let before = peak_rss_mib();
    rt.block_on(async {
        let request = Request::get("https://api.example.com/big")
            .body(Full::default())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let mut body = response.into_body();
        let mut received = 0;
        while let Some(frame) = body.frame().await {
            received += frame.unwrap().into_data().map_or(0, |d| d.len());
        }
        assert_eq!(received, SIZE);
        flush(Some(layer.cache())).await;
    });
    let stored = rt.block_on(layer.cache().storage().len()).unwrap();
    let added = peak_rss_mib() - before;
    println!(
        "memory: one 200 MiB miss on {name}: peak RSS +{added:.0} MiB ({:.2}x the body), {stored} entry stored",
        added / 200.0
    );
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    }
    .enable_all()
    .build()
    .unwrap()
}

fn main() {
    let part = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| part.as_deref().is_none_or(|p| p == name);
    if wants("miss") {
        run_misses(&runtime(1));
    }
    if wants("stream") {
        run_stream(&runtime(1));
    }
    if wants("fanout") {
        run_fanout(&runtime(2));
    }
    if wants("memory") {
        run_memory(&runtime(1), false);
    }
    // Alone only: the process's peak would include the part before.
    if part.as_deref() == Some("memory-storage") {
        run_memory(&runtime(1), true);
    }
    if wants("lock") {
        run_lock(&runtime(2));
    }
    if wants("hung") {
        run_hung(&runtime(2));
    }
}
