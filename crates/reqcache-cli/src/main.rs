//! The `reqcache` command: `reqcache proxy`, `reqcache get`, and the admin
//! commands `stats`, `list`, `show`, `delete`, `clear`, `remove-expired`,
//! `copy`, `export`, `import`.

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
    /// GET a URL through the cache (the library's default, private preset)
    /// and write the body to standard output or a file; the status and
    /// what the cache did go to standard error. When it exits, a response
    /// the cache stores is in storage.
    Get {
        /// A storage URL (as for `reqcache list`); created if new.
        #[arg(long)]
        storage: String,
        /// The absolute http:// or https:// URL.
        url: String,
        /// Seconds of freshness for responses that state none (-1: never
        /// expire, the default; 0: do not cache).
        #[arg(long, allow_negative_numbers = true, value_name = "SECS")]
        expire_after: Option<i64>,
        /// A request header, `Name: value`; repeat for several.
        #[arg(long = "header", short = 'H', value_name = "HEADER")]
        headers: Vec<String>,
        /// Write the body to this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Seconds the upstream may take to connect and send the head.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        timeout: u64,
        /// Milliseconds each storage read or write may take (a slower read
        /// is a miss, a slower write is given up) [default: 100 for reads,
        /// 2000 for writes].
        #[arg(long, value_name = "MS")]
        storage_timeout: Option<u64>,
    },
    /// Count the stored entries: expired, bytes, by status and method.
    Stats(Target),
    /// List the stored entries (key, method, status, URL, size, state).
    List {
        #[command(flatten)]
        target: Target,
        /// Only URLs matching this glob (`*` matches `/` too).
        #[arg(long, value_name = "GLOB")]
        url: Option<String>,
        /// Only this status code.
        #[arg(long)]
        status: Option<u16>,
        /// Only expired entries.
        #[arg(long, conflicts_with = "fresh")]
        expired: bool,
        /// Only fresh entries.
        #[arg(long)]
        fresh: bool,
    },
    /// Show the entries of a key or a URL: metadata and response head.
    Show {
        #[command(flatten)]
        target: Target,
        /// A cache key, or a URL (normalized as stored).
        key_or_url: String,
        /// The body too (text; binary as base64 with --json, raw otherwise).
        #[arg(long)]
        body: bool,
    },
    /// Delete the entry of a key, or every entry of a URL.
    Delete {
        #[command(flatten)]
        target: Target,
        /// A cache key, or a URL (normalized as stored).
        key_or_url: String,
    },
    /// Delete every stored entry.
    Clear(Target),
    /// Delete the expired entries; with --expire-after, first give every
    /// entry that many seconds from now (requests-cache's
    /// remove_expired_responses(expire_after)).
    RemoveExpired {
        #[command(flatten)]
        target: Target,
        /// Seconds from now every entry expires in, before the removal.
        #[arg(long, allow_negative_numbers = true)]
        expire_after: Option<i64>,
    },
    /// Copy every entry from one storage to another (same keys).
    Copy {
        /// The storage URL to copy from.
        source: String,
        /// The storage URL to copy into (created if it is a new file or table).
        destination: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write every entry as JSON lines (reqcache's versioned record format).
    Export {
        #[command(flatten)]
        target: Target,
        /// The file to write; default: standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Read entries from JSON lines written by `export`.
    Import {
        /// The storage URL to import into (created if new).
        #[arg(long)]
        storage: String,
        /// The file to read; default: standard input.
        #[arg(long, short)]
        input: Option<std::path::PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The storage an admin command works on, and how it prints.
#[derive(Debug, clap::Args)]
struct Target {
    /// A storage URL: memory, sqlite:PATH, fs:DIR, redis://HOST[#NAMESPACE],
    /// redis+cluster://HOST:PORT,…, mongodb://…[#DATABASE], gridfs:mongodb://…,
    /// dynamodb://TABLE[?endpoint=URL&region=R], postgres://…[#TABLE].
    // A plain string, parsed after clap: clap's messages would repeat a
    // password in the URL.
    #[arg(long)]
    storage: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
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
    /// The upstream's base URL (`http[s]://host[:port][/path]`).
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
    /// With --stale-if-error: at most this many seconds stale.
    #[arg(long, value_name = "SECS")]
    stale_if_error_max: Option<u64>,
    /// Seconds stale a response may answer when the upstream cannot be
    /// reached (0: never) [default: 604800, a week].
    #[arg(long, value_name = "SECS")]
    stale_if_disconnected: Option<u64>,
    /// Heuristic freshness: this fraction of the time since Last-Modified
    /// (0: none) [default: 0.1].
    #[arg(long)]
    heuristic_fraction: Option<f64>,
    /// The longest heuristic lifetime in seconds [default: 86400].
    #[arg(long, value_name = "SECS")]
    heuristic_max: Option<u64>,
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
    /// A PEM file of certificate authorities to trust for an https://
    /// upstream, besides the webpki (Mozilla) roots.
    #[arg(long, value_name = "FILE")]
    upstream_ca: Option<std::path::PathBuf>,
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
    /// A PEM certificate chain: serve clients over TLS (HTTP/2 and HTTP/1.1
    /// by ALPN), with --tls-key. Without: plain TCP, HTTP/1 and h2c.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
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
            stale_if_disconnected,
            heuristic_fraction,
            heuristic_max,
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
            stale_if_error_max,
            upstream_ca,
            expire_after,
            stale_while_revalidate,
            allowable_methods,
            allowable_codes,
            metrics_listen,
            access_log,
            tls_cert,
            tls_key
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
            // Both listeners are bound before the start line is printed, so
            // whoever reads it can connect to either at once.
            let metrics = match config.metrics_listen {
                Some(addr) => {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
                    Some((metrics_endpoint::install()?, listener))
                }
                None => None,
            };
            let layer = config.layer(storage)?;
            let options = config.proxy_options()?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
            let proxy = proxy::serve_with(listener, upstream.parse()?, layer, options)?;
            eprintln!(
                "reqcache proxy on http://{} -> {upstream} (storage {storage_url})",
                proxy.local_addr()
            );
            if let Some((handle, listener)) = metrics {
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
        Command::Get {
            storage,
            url,
            expire_after,
            headers,
            output,
            timeout,
            storage_timeout,
        } => {
            use reqcache_cli::get::{GetOptions, get};
            let storage = storage::open(&storage).await?;
            let mut options = GetOptions::default();
            options.expire_after = expire_after;
            options.headers = headers;
            options.timeout = Duration::from_secs(timeout);
            options.storage_timeout = storage_timeout.map(Duration::from_millis);
            let url = url.parse().map_err(|e| format!("{url}: {e}"))?;
            let fetched = match output {
                Some(path) => {
                    let mut file = tokio::fs::File::create(&path)
                        .await
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    get(storage, url, &options, &mut file).await?
                }
                None => get(storage, url, &options, &mut tokio::io::stdout()).await?,
            };
            eprintln!(
                "{} {:?} ({} bytes)",
                fetched.status.as_u16(),
                fetched.outcome,
                fetched.bytes
            );
            // Done: the entry is written (the body ended after its write).
            // Exit now rather than drop the runtime under the storage's
            // driver: the MongoDB driver's pool tasks panic when the
            // runtime ends beneath them (mongo-rust-driver #674, #847).
            std::process::exit(0);
        }
        command => admin(command).await?,
    }
    Ok(())
}

/// `1 entry`, `2 entries`.
fn entries(n: impl Into<u64>) -> String {
    counted(n.into(), "entry", "entries")
}

/// `n` and the noun for it: `one` for 1, `many` otherwise.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// [`storage::open_existing`], with a word on `memory`: a storage of the
/// process that opens it, so an admin command sees an empty cache of its
/// own, never a running proxy's.
async fn open_for_admin(
    spec: &str,
) -> Result<std::sync::Arc<dyn reqcache::storage::Storage>, reqcache::StorageError> {
    if spec.trim() == "memory" {
        eprintln!(
            "reqcache: note: `memory` is the memory of the process that opens it: this command \
             sees an empty cache of its own, not a running proxy's (give the proxy a storage \
             such as sqlite:PATH to administer its cache)"
        );
    }
    storage::open_existing(spec).await
}

/// The admin commands. Storages they read must exist already (a path with a
/// typo is an error, not a new empty cache); `copy` and `import` create
/// their destination.
async fn admin(command: Command) -> Result<(), BoxError> {
    use reqcache_cli::admin;
    let now = SystemTime::now();
    let print_json = |value: serde_json::Value| println!("{value}");
    match command {
        Command::Proxy(_) | Command::Get { .. } => unreachable!("handled by run"),
        Command::Stats(target) => {
            let storage = open_for_admin(&target.storage).await?;
            let stats = admin::stats(&*storage, now).await?;
            if target.json {
                print_json(stats.to_json());
            } else {
                println!("entries: {} ({} expired)", stats.entries, stats.expired);
                println!("aliases and vary indexes: {}", stats.bookkeeping);
                println!("bytes:   {}", stats.bytes);
                for (status, count) in &stats.by_status {
                    println!("status {status}: {count}");
                }
                for (method, count) in &stats.by_method {
                    println!("method {method}: {count}");
                }
            }
        }
        Command::List {
            target,
            url,
            status,
            expired,
            fresh,
        } => {
            let storage = open_for_admin(&target.storage).await?;
            let mut filter = admin::ListFilter::default()
                .status(status)
                .expired(if expired {
                    Some(true)
                } else if fresh {
                    Some(false)
                } else {
                    None
                });
            if let Some(glob) = &url {
                filter = filter.url_glob(glob)?;
            }
            for info in admin::list(&*storage, &filter, now).await? {
                if target.json {
                    print_json(admin::info_json(&info, now));
                } else {
                    println!("{}", admin::info_line(&info, now));
                }
            }
        }
        Command::Show {
            target,
            key_or_url,
            body,
        } => {
            let handle = admin::handle(open_for_admin(&target.storage).await?);
            let found = admin::find(&handle, &key_or_url).await?;
            if found.is_empty() {
                return Err(match admin::where_to_look(&handle, &key_or_url).await {
                    Some(hint) => format!("no entry for {key_or_url:?}; {hint}"),
                    None => format!("no entry for {key_or_url:?}"),
                }
                .into());
            }
            for (info, record) in found {
                let Some(record) = record else {
                    eprintln!(
                        "{}: listed but unreadable (expired past retention, or undecodable)",
                        info.key
                    );
                    continue;
                };
                if target.json {
                    print_json(admin::record_json(&info, &record, body, now));
                    continue;
                }
                println!("{}", admin::info_line(&info, now));
                let Some(entry) = record.as_response() else {
                    println!("{}", admin::leads_to(&record).unwrap_or_default());
                    continue;
                };
                println!("{:?} {}", entry.version, entry.status);
                for (name, value) in &entry.headers {
                    println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
                }
                if body {
                    println!();
                    use std::io::Write as _;
                    std::io::stdout().write_all(&entry.body)?;
                    println!();
                }
            }
        }
        Command::Delete { target, key_or_url } => {
            let handle = admin::handle(open_for_admin(&target.storage).await?);
            let deleted = admin::delete(&handle, &key_or_url).await?;
            if deleted == 0
                && let Some(hint) = admin::where_to_look(&handle, &key_or_url).await
            {
                eprintln!("reqcache: nothing stored for {key_or_url:?}; {hint}");
            }
            if target.json {
                print_json(serde_json::json!({ "deleted": deleted }));
            } else {
                println!("deleted {}", entries(deleted));
            }
        }
        Command::Clear(target) => {
            let storage = open_for_admin(&target.storage).await?;
            let before = storage.len().await?;
            storage.clear().await?;
            if target.json {
                print_json(serde_json::json!({ "deleted": before }));
            } else {
                println!("deleted {}", entries(before));
            }
        }
        Command::RemoveExpired {
            target,
            expire_after,
        } => {
            let handle = admin::handle(open_for_admin(&target.storage).await?);
            let removed = match expire_after {
                Some(secs) => handle.remove_expired_with(secs).await?,
                None => handle.remove_expired().await?,
            };
            if target.json {
                print_json(serde_json::json!({ "removed": removed }));
            } else {
                println!(
                    "removed {}",
                    counted(removed, "expired entry", "expired entries")
                );
            }
        }
        Command::Copy {
            source,
            destination,
            json,
        } => {
            let from = open_for_admin(&source).await?;
            let to = storage::open(&destination).await?;
            let copied = admin::copy(&*from, &*to, now).await?;
            if json {
                print_json(serde_json::json!({ "copied": copied }));
            } else {
                println!("copied {}", entries(copied));
            }
        }
        Command::Export { target, output } => {
            let storage = open_for_admin(&target.storage).await?;
            let written = match &output {
                Some(path) => {
                    let file = std::fs::File::create(path)
                        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    let written = admin::export(&*storage, &mut out, now).await?;
                    use std::io::Write as _;
                    out.flush()?;
                    written
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut out = stdout.lock();
                    admin::export(&*storage, &mut out, now).await?
                }
            };
            if target.json {
                eprintln!("{}", serde_json::json!({ "exported": written }));
            } else {
                eprintln!("exported {}", entries(written));
            }
        }
        Command::Import {
            storage,
            input,
            json,
        } => {
            let storage = storage::open(&storage).await?;
            let report = match &input {
                Some(path) => {
                    let file = std::fs::File::open(path)
                        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                    admin::import(&*storage, &mut std::io::BufReader::new(file)).await?
                }
                None => admin::import(&*storage, &mut std::io::stdin().lock()).await?,
            };
            for (line, why) in &report.skipped {
                eprintln!("line {line} skipped: {why}");
            }
            if json {
                print_json(serde_json::json!({
                    "imported": report.imported,
                    "skipped": report.skipped.len(),
                }));
            } else {
                println!(
                    "imported {} entries, skipped {} lines",
                    report.imported,
                    report.skipped.len()
                );
            }
            if !report.skipped.is_empty() {
                return Err(format!(
                    "{} lines were not entries (see above)",
                    report.skipped.len()
                )
                .into());
            }
        }
    }
    Ok(())
}
