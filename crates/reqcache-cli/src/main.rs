//! The `reqcache` command: `reqcache proxy`, `reqcache get`, and the admin
//! commands `stats`, `list`, `show`, `delete`, `clear`, `remove-expired`,
//! `copy`, `export`, `import`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use reqcache_cli::admin::AdminCommand;
use reqcache_cli::admin_endpoint::{self, AdminApi};
use reqcache_cli::config::ProxyConfig;
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
    #[command(flatten)]
    Admin(AdminCommand),
}

/// `reqcache proxy`'s arguments: the settings (each a flag, and a key of
/// the file), the file, and `--print-config`.
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
    #[command(flatten)]
    settings: ProxyConfig,
}

impl ProxyArgs {
    /// The settings: the file's (or the defaults), each flag `given` over
    /// it.
    fn settings(&self, given: impl Fn(&str) -> bool) -> Result<ProxyConfig, BoxError> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                ProxyConfig::from_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => ProxyConfig::default(),
        };
        Ok(file.overridden_by(&self.settings, given)?)
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    // Which of the proxy's settings the command line named (over the file).
    let given: Vec<String> = matches
        .subcommand_matches("proxy")
        .map(|proxy| {
            proxy
                .ids()
                .filter(|id| proxy.value_source(id.as_str()) == Some(ValueSource::CommandLine))
                .map(|id| id.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();
    match run(cli.command, &given).await {
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

async fn run(command: Command, given: &[String]) -> Result<(), BoxError> {
    match command {
        Command::Proxy(args) => {
            let config = args.settings(|key| given.iter().any(|id| id == key))?;
            if args.print_config {
                config.storage_url()?;
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
            let admin = match config.admin()? {
                Some((addr, token)) => {
                    let listener = tokio::net::TcpListener::bind(addr)
                        .await
                        .map_err(|e| format!("--admin-listen {addr}: {e}"))?;
                    Some((listener, token))
                }
                None => None,
            };
            let layer = config.layer(Arc::clone(&storage))?;
            let cache = layer.cache().clone();
            let options = config.proxy_options()?;
            let listener = tokio::net::TcpListener::bind(config.listen)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
            let upstream_uri: http::Uri = upstream.parse()?;
            let proxy = proxy::serve_with(listener, upstream_uri.clone(), layer, options)?;
            eprintln!(
                "reqcache proxy on http://{} -> {upstream} (storage {storage_url})",
                proxy.local_addr()
            );
            if let Some((handle, listener)) = metrics {
                eprintln!(
                    "reqcache metrics on http://{}/metrics",
                    listener.local_addr()?
                );
                metrics_endpoint::serve(listener, handle, storage);
            }
            match admin {
                Some((listener, token)) => {
                    let addr = listener.local_addr()?;
                    if !addr.ip().is_loopback() {
                        eprintln!(
                            "reqcache: warning: the admin API listens on {addr}, not on loopback: \
                             anyone who can reach it and holds the token can purge the cache"
                        );
                    }
                    eprintln!("reqcache admin on http://{addr} (POST /purge, GET /stats)");
                    admin_endpoint::serve(listener, AdminApi::new(&token, cache, upstream_uri)?);
                }
                None if config.admin_listen.is_some() => eprintln!(
                    "reqcache: no admin API: --admin-listen needs --admin-token-file (a bearer token)"
                ),
                None => eprintln!(
                    "reqcache: no admin API (give --admin-token-file to purge a running proxy)"
                ),
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
        Command::Admin(command) => command.run().await?,
    }
    Ok(())
}
