//! The `reqcache` command: `reqcache proxy`, `list`, `clear`, `remove-expired`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::{Parser, Subcommand, ValueEnum};
use reqcache_cli::config::{Mode, ProxyConfig, UrlRule};
use reqcache_cli::{metrics_endpoint, proxy, storage};
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

/// `reqcache proxy`'s flags. Each one given overrides the `--config`
/// file's key of the same name (underscores for dashes); defaults:
/// [`ProxyConfig`].
#[derive(Debug, clap::Args)]
struct ProxyArgs {
    /// A TOML file with any of the settings below (keys as the flags, with
    /// underscores); flags given override it.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Print the settings in effect (file and flags merged) as TOML, and
    /// exit.
    #[arg(long)]
    print_config: bool,
    /// Where to listen [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The upstream's base URL (`http://host[:port][/path]`).
    #[arg(long)]
    upstream: Option<String>,
    /// A storage URL (as for `reqcache list`) [default: memory]; Redis and
    /// PostgreSQL connect on first use, so the proxy starts while they are
    /// down.
    #[arg(long)]
    storage: Option<String>,
    /// Bytes of an in-process L1 cache in front of the storage (0: none).
    /// Proxies sharing a Redis or PostgreSQL storage drop each other's L1
    /// copies through it (pub/sub, NOTIFY); other storages' copies last 1 s.
    #[arg(long)]
    l1_size: Option<u64>,
    /// Seconds an L1 copy is used at most while the bus is connected
    /// [default: 60].
    #[arg(long)]
    l1_ttl: Option<u64>,
    /// Shared (a proxy serving many users) or private [default: shared].
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Serve stale responses when the upstream answers with an error too.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    stale_if_error: Option<bool>,
    /// The targeted cache-control field obeyed in shared mode (RFC 9213),
    /// or `none` [default: cdn-cache-control].
    #[arg(long)]
    targeted_cache_control: Option<String>,
    /// A peer whose Forwarded / X-Forwarded-* headers are kept (a load
    /// balancer in front); repeat for several. From others they are removed.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Seconds a client may take to send a request head (and an idle
    /// keep-alive connection may stay open) [default: 20].
    #[arg(long)]
    header_read_timeout: Option<u64>,
    /// Seconds the upstream may take to send a response head [default: 60].
    #[arg(long)]
    upstream_timeout: Option<u64>,
    /// The largest request body in bytes (streamed, never held whole);
    /// larger is a 413 [default: 100 MiB].
    #[arg(long)]
    max_request_body: Option<usize>,
    /// The largest response body stored, in bytes (larger ones stream
    /// through uncached).
    #[arg(long)]
    max_body_size: Option<usize>,
    /// Seconds of freshness for responses that state none (default: none;
    /// such a response is reused only after revalidation). Negative: forever.
    #[arg(long, allow_negative_numbers = true)]
    expire_after: Option<i64>,
    /// `PATTERN=SECS`: freshness for URLs matching a glob (host and path, no
    /// scheme; a prefix); repeat, the first match wins.
    #[arg(long = "urls-expire-after", value_name = "PATTERN=SECS")]
    urls_expire_after: Vec<String>,
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
    /// Serve the metrics (Prometheus text) at `GET /metrics` on this address.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Log each request on standard output: `json` or `logfmt`.
    #[arg(long, value_name = "FORMAT")]
    access_log: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Shared,
    Private,
}

impl ProxyArgs {
    /// The settings: the file's (or the defaults), each flag given over it.
    fn settings(self) -> Result<(ProxyConfig, bool), BoxError> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                ProxyConfig::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => ProxyConfig::default(),
        };
        macro_rules! over {
            ($($field:ident),*) => {$(
                if let Some(value) = self.$field {
                    config.$field = value;
                }
            )*};
        }
        over!(
            listen,
            storage,
            l1_size,
            l1_ttl,
            stale_if_error,
            targeted_cache_control,
            header_read_timeout,
            upstream_timeout,
            max_request_body,
            max_body_size
        );
        macro_rules! over_option {
            ($($field:ident),*) => {$(
                if self.$field.is_some() {
                    config.$field = self.$field;
                }
            )*};
        }
        over_option!(
            upstream,
            expire_after,
            stale_while_revalidate,
            allowable_methods,
            allowable_codes,
            metrics_listen,
            access_log
        );
        if let Some(mode) = self.mode {
            config.mode = match mode {
                ModeArg::Shared => Mode::Shared,
                ModeArg::Private => Mode::Private,
            };
        }
        if !self.trusted_proxies.is_empty() {
            config.trusted_proxies = self.trusted_proxies;
        }
        if !self.urls_expire_after.is_empty() {
            config.urls_expire_after = self
                .urls_expire_after
                .iter()
                .map(|rule| {
                    let (pattern, secs) = rule
                        .rsplit_once('=')
                        .ok_or_else(|| format!("--urls-expire-after {rule:?}: use PATTERN=SECS"))?;
                    let expire_after = secs.trim().parse().map_err(|_| {
                        format!("--urls-expire-after {rule:?}: {secs:?} is not a number of seconds")
                    })?;
                    Ok(UrlRule {
                        pattern: pattern.trim().to_owned(),
                        expire_after,
                    })
                })
                .collect::<Result<_, String>>()?;
        }
        Ok((config, self.print_config))
    }
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
            let (config, print) = args.settings()?;
            if print {
                print!("{}", config.to_toml());
                return Ok(());
            }
            let upstream = config
                .upstream
                .clone()
                .ok_or("no upstream: give --upstream URL, or upstream = \"URL\" in --config")?;
            let storage_url = config.storage_url()?;
            // The proxy starts while a network storage is down.
            let storage = if config.l1_size > 0 {
                let l1 = storage::L1::new(config.l1_size, Duration::from_secs(config.l1_ttl));
                storage::open_tiered(&storage_url, true, l1).await?
            } else {
                storage::open_url(&storage_url, true).await?
            };
            let metrics = match config.metrics_listen {
                Some(addr) => Some((metrics_endpoint::install()?, addr)),
                None => None,
            };
            let layer = config.layer(storage)?;
            let options = config.proxy_options()?;
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let proxy = proxy::serve_with(listener, upstream.parse()?, layer, options)?;
            eprintln!(
                "reqcache proxy on http://{} -> {upstream} (storage {storage_url})",
                proxy.local_addr()
            );
            if let Some((handle, addr)) = metrics {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
                eprintln!(
                    "reqcache metrics on http://{}/metrics",
                    listener.local_addr()?
                );
                metrics_endpoint::serve(listener, handle);
            }
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
