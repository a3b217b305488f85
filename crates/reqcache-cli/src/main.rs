//! The `reqcache` command: `reqcache proxy`, `list`, `clear`, `remove-expired`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand, ValueEnum};
use reqcache::CacheMode;
use reqcache_cli::storage_url::StorageUrl;
use reqcache_cli::{proxy, storage};
use tower::BoxError;

/// An HTTP response cache: a caching proxy, and cache administration.
#[derive(Debug, Parser)]
#[command(name = "reqcache", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a caching reverse proxy in front of one upstream.
    Proxy(Box<ProxyArgs>),
    /// List the stored entries.
    List {
        /// A storage URL: memory, sqlite:PATH, fs:DIR, redis://HOST[#NAMESPACE],
        /// redis+cluster://HOST:PORT,…, mongodb://…[#DATABASE], gridfs:mongodb://…,
        /// dynamodb://TABLE[?endpoint=URL&region=R], postgres://…[#TABLE].
        /// (Parsed after clap, whose messages would repeat a password.)
        #[arg(long)]
        storage: String,
    },
    /// Delete every stored entry.
    Clear {
        /// A storage URL: memory, sqlite:PATH, fs:DIR, redis://HOST[#NAMESPACE],
        /// redis+cluster://HOST:PORT,…, mongodb://…[#DATABASE], gridfs:mongodb://…,
        /// dynamodb://TABLE[?endpoint=URL&region=R], postgres://…[#TABLE].
        #[arg(long)]
        storage: String,
    },
    /// Delete the expired entries.
    RemoveExpired {
        /// A storage URL: memory, sqlite:PATH, fs:DIR, redis://HOST[#NAMESPACE],
        /// redis+cluster://HOST:PORT,…, mongodb://…[#DATABASE], gridfs:mongodb://…,
        /// dynamodb://TABLE[?endpoint=URL&region=R], postgres://…[#TABLE].
        #[arg(long)]
        storage: String,
    },
}

/// `reqcache proxy`'s flags.
#[derive(Debug, clap::Args)]
struct ProxyArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The upstream's base URL (`http://host[:port][/path]`).
    #[arg(long)]
    upstream: String,
    /// A storage URL (as for `reqcache list`); Redis and PostgreSQL
    /// connect on first use, so the proxy starts while they are down.
    #[arg(long, default_value = "memory")]
    storage: String,
    /// Bytes of an in-process L1 cache in front of the storage (0: none).
    /// Proxies sharing a Redis or PostgreSQL storage drop each other's L1
    /// copies through it (pub/sub, NOTIFY); other storages' copies last 1 s.
    #[arg(long, default_value_t = 0)]
    l1_size: u64,
    /// Seconds an L1 copy is used at most while the bus is connected.
    #[arg(long, default_value_t = 60)]
    l1_ttl: u64,
    /// Shared (a proxy serving many users) or private.
    #[arg(long, value_enum, default_value_t = Mode::Shared)]
    mode: Mode,
    /// Serve stale responses when the upstream fails.
    #[arg(long)]
    stale_if_error: bool,
    /// The targeted cache-control field obeyed in shared mode (RFC 9213),
    /// or `none`.
    #[arg(long, default_value = "cdn-cache-control")]
    targeted_cache_control: String,
    /// A peer whose Forwarded / X-Forwarded-* headers are kept (a load
    /// balancer in front); repeat for several. From others they are removed.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a client may take to send a request head (and an idle
    /// keep-alive connection may stay open).
    #[arg(long, default_value_t = 20)]
    header_read_timeout: u64,
    /// Seconds the upstream may take to send a response head.
    #[arg(long, default_value_t = 60)]
    upstream_timeout: u64,
    /// The largest request body in bytes (streamed, never held whole);
    /// larger is a 413.
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    max_request_body: usize,
    /// The largest response body stored, in bytes (larger ones stream
    /// through uncached).
    #[arg(long, default_value_t = reqcache::CacheLayerBuilder::DEFAULT_MAX_BODY_SIZE)]
    max_body_size: usize,
    /// Seconds of freshness for responses that state none (default: none;
    /// such a response is reused only after revalidation). Negative: forever.
    #[arg(long, allow_negative_numbers = true)]
    expire_after: Option<i64>,
    /// Answer a stale response at once and refresh it in the background,
    /// when at most this many seconds stale.
    #[arg(long)]
    stale_while_revalidate: Option<u64>,
    /// The methods cached, comma-separated (default: GET,HEAD).
    #[arg(long, value_delimiter = ',')]
    allowable_methods: Option<Vec<String>>,
    /// The status codes stored, comma-separated (default: every code
    /// RFC 9111 allows, 200-599).
    #[arg(long, value_delimiter = ',')]
    allowable_codes: Option<Vec<u16>>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    Shared,
    Private,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("reqcache: {error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            stopped = tokio::signal::ctrl_c() => stopped,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

async fn run(command: Command) -> Result<(), BoxError> {
    match command {
        Command::Proxy(args) => {
            let ProxyArgs {
                listen,
                upstream,
                storage,
                l1_size,
                l1_ttl,
                mode,
                stale_if_error,
                targeted_cache_control,
                trusted_proxies,
                header_read_timeout,
                upstream_timeout,
                max_request_body,
                max_body_size,
                expire_after,
                stale_while_revalidate,
                allowable_methods,
                allowable_codes,
            } = *args;
            // The proxy starts while a network storage is down.
            let storage: StorageUrl = storage.parse()?;
            let storage_shown = storage.to_string();
            let storage = if l1_size > 0 {
                let l1 = storage::L1::new(l1_size, Duration::from_secs(l1_ttl));
                storage::open_tiered(&storage, true, l1).await?
            } else {
                storage::open_url(&storage, true).await?
            };
            let targeted = Some(targeted_cache_control.as_str()).filter(|name| *name != "none");
            let layer = proxy::layer_builder(
                storage,
                match mode {
                    Mode::Shared => CacheMode::Shared,
                    Mode::Private => CacheMode::Private,
                },
            )
            .targeted_cache_control(targeted)
            .stale_if_error(stale_if_error)
            .max_body_size(max_body_size);
            let mut layer = layer;
            if let Some(secs) = expire_after {
                layer = layer.expire_after(secs);
            }
            if let Some(secs) = stale_while_revalidate {
                layer = layer.stale_while_revalidate(Duration::from_secs(secs));
            }
            if let Some(methods) = allowable_methods {
                let methods = methods
                    .iter()
                    .map(|m| http::Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| format!("--allowable-methods: {error}"))?;
                layer = layer.allowable_methods(methods);
            }
            if let Some(codes) = allowable_codes {
                if let Some(bad) = codes.iter().find(|c| !(100..=999).contains(*c)) {
                    return Err(format!("--allowable-codes: {bad} is not a status code").into());
                }
                layer = layer.allowable_codes(codes);
            }
            let layer = layer.build();
            let mut options = proxy::ProxyOptions::default();
            options.trusted_proxies = trusted_proxies;
            options.header_read_timeout = Duration::from_secs(header_read_timeout);
            options.upstream_head_timeout = Duration::from_secs(upstream_timeout);
            options.max_request_body_size = max_request_body;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            let proxy = proxy::serve_with(listener, upstream.parse()?, layer, options)?;
            eprintln!(
                "reqcache proxy on http://{} -> {upstream} (storage {storage_shown})",
                proxy.local_addr()
            );
            stop_signal().await?;
            eprintln!("reqcache proxy: stopping (finishing requests in flight)");
            proxy.shutdown().await;
        }
        Command::List { storage } => {
            let storage = storage::open(&storage).await?;
            let now = SystemTime::now();
            for entry in storage.entries().await? {
                let state = if entry.is_expired(now) {
                    "expired"
                } else {
                    "fresh"
                };
                println!(
                    "{}  {:<6} {} {}  {} bytes  {state}",
                    entry.key,
                    entry.method,
                    entry.status.as_u16(),
                    entry.url,
                    entry.size
                );
            }
        }
        Command::Clear { storage } => {
            storage::open(&storage).await?.clear().await?;
        }
        Command::RemoveExpired { storage } => {
            let removed = storage::open(&storage)
                .await?
                .remove_expired(SystemTime::now())
                .await?;
            println!("removed {removed} expired entries");
        }
    }
    Ok(())
}
