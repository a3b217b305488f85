//! [`ProxyConfig`]: every setting of `reqcache proxy`, from a TOML file
//! (`--config`), flags over it, shown by `--print-config`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqcache::expiration::StaleWindow;
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheMode, Expiration, GroupSources, Heuristic, UrlExpiration};
use serde::{Deserialize, Serialize};

use crate::access_log::{AccessLog, AccessLogFormat};
use crate::byte_size::ByteSize;
use crate::connection::ServerTls;
use crate::proxy::{self, ProxyOptions};
use crate::storage_url::StorageUrl;

/// The proxy's default per-object limit on a storage that keeps bodies in
/// chunks: 1 GiB (or the storage's bound, if smaller).
pub const LARGE_OBJECT_LIMIT: u64 = 1 << 30;

/// Shared (a proxy serving many users) or private (one user's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// RFC 9111's shared cache.
    #[default]
    Shared,
    /// RFC 9111's private cache.
    Private,
}

/// One `urls_expire_after` rule: URLs matching `pattern` (host and path,
/// no scheme; a prefix; `*` matches anything) get `expire_after` seconds of
/// freshness (`0`: not stored, negative: forever). On the command line it
/// is written `PATTERN=SECS`.
///
/// ```
/// use reqcache_cli::config::UrlRule;
///
/// let rule: UrlRule = "*/static/*=86400".parse()?;
/// assert_eq!((rule.pattern.as_str(), rule.expire_after), ("*/static/*", 86400));
/// assert!("*/static/*".parse::<UrlRule>().is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlRule {
    /// The glob.
    pub pattern: String,
    /// Seconds.
    pub expire_after: i64,
}

impl std::str::FromStr for UrlRule {
    type Err = String;

    fn from_str(rule: &str) -> Result<Self, String> {
        let (pattern, secs) = rule
            .rsplit_once('=')
            .ok_or_else(|| format!("{rule:?}: use PATTERN=SECS"))?;
        let expire_after = secs
            .trim()
            .parse()
            .map_err(|_| format!("{rule:?}: {secs:?} is not a number of seconds"))?;
        Ok(Self {
            pattern: pattern.trim().to_owned(),
            expire_after,
        })
    }
}

/// Every setting of `reqcache proxy`, defined once: each field is a flag
/// (`--l1-size`), a key of the TOML file (`l1_size`), and its default is
/// the flag's (shown by `--help`). A new setting is one field here and its
/// use in [`layer`](Self::layer) or [`proxy_options`](Self::proxy_options).
///
/// ```toml
/// listen = "0.0.0.0:8080"
/// upstream = "http://10.0.0.7:9000"
/// storage = "redis://10.0.0.5:6379#api"
/// l1_size = 67108864
/// expire_after = 60
///
/// [[urls_expire_after]]
/// pattern = "*/static/*"
/// expire_after = 86400
/// ```
///
/// # Example
/// ```
/// use reqcache_cli::config::ProxyConfig;
///
/// let config = ProxyConfig::from_toml("upstream = \"http://127.0.0.1:9000\"\nl1_size = 1024")?;
/// assert_eq!(config.l1_size, 1024);
/// assert_eq!(config.storage, "memory");
/// assert!(ProxyConfig::from_toml("colour = \"blue\"").is_err(), "unknown keys are refused");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The upstream's base URL (`http[s]://host[:port][/path]`); required.
    #[arg(long)]
    pub upstream: Option<String>,
    /// A storage URL (as for `reqcache list`); Redis and PostgreSQL connect
    /// on first use, so the proxy starts while they are down.
    #[arg(long, default_value = "memory")]
    pub storage: String,
    /// The storage's size bound, with a unit (512MiB, 10GiB): past it the
    /// least recently used entries are evicted. Default: 1GiB on sqlite:,
    /// fs:, postgres:// and mongodb:// (as Squid's 100 MB or Traffic
    /// Server's 256 MB, sized for a disk), 256MiB on memory. The same as
    /// `?max_size=` in the storage URL. Redis is bounded by its server's
    /// maxmemory, DynamoDB by TTL.
    #[arg(long, value_name = "SIZE")]
    pub max_size: Option<ByteSize>,
    /// Store a response only once its URL has been asked for this many
    /// times among the last 100,000 misses (nginx's proxy_cache_min_uses):
    /// scans and one-off URLs do not push popular ones out of a bounded
    /// storage. 1: store at the first miss.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_uses: u32,
    /// Bytes of an in-process L1 cache in front of the storage (0: none).
    /// Proxies sharing a Redis or PostgreSQL storage drop each other's L1
    /// copies through it (pub/sub, NOTIFY); other storages' copies last 1 s.
    #[arg(long, default_value_t = 0)]
    pub l1_size: u64,
    /// Seconds an L1 copy is used at most while the bus is connected.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub l1_ttl: u64,
    /// Shared (a proxy serving many users) or private (one user's).
    #[arg(long, value_enum, default_value_t = Mode::Shared)]
    pub mode: Mode,
    /// Serve stale responses when the upstream answers with an error too
    /// (not only when it cannot be reached).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub stale_if_error: bool,
    /// With --stale-if-error: at most this many seconds stale (default:
    /// however stale).
    #[arg(long, value_name = "SECS")]
    pub stale_if_error_max: Option<u64>,
    /// Seconds stale a response may answer when the upstream cannot be
    /// reached at all (never one that must be revalidated); 0: never. The
    /// default is a week.
    #[arg(long, value_name = "SECS", default_value_t = 7 * 24 * 3600)]
    pub stale_if_disconnected: u64,
    /// Heuristic freshness (RFC 9111 section 4.2.2): this fraction of the
    /// time since Last-Modified, for responses that state no freshness; 0:
    /// none.
    #[arg(long, default_value_t = 0.1)]
    pub heuristic_fraction: f64,
    /// The longest heuristic lifetime, in seconds (the default is a day).
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    pub heuristic_max: u64,
    /// The targeted cache-control field obeyed in shared mode (RFC 9213),
    /// or `none`.
    #[arg(long, default_value = "cdn-cache-control")]
    pub targeted_cache_control: String,
    /// A peer whose Forwarded / X-Forwarded-* headers are kept (a load
    /// balancer in front); repeat for several. From others they are
    /// removed. The file's key is `trusted_proxies` (or `trusted_proxy`).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    #[serde(alias = "trusted_proxy")]
    pub trusted_proxies: Vec<IpAddr>,
    /// Seconds a client may take to send a request head (and an idle
    /// keep-alive connection may stay open).
    #[arg(long, value_name = "SECS", default_value_t = ProxyOptions::default().header_read_timeout.as_secs())]
    pub header_read_timeout: u64,
    /// Seconds the upstream may take to send a response head.
    #[arg(long, value_name = "SECS", default_value_t = ProxyOptions::default().upstream_head_timeout.as_secs())]
    pub upstream_timeout: u64,
    /// A PEM file of certificate authorities to trust for an https://
    /// upstream, besides the webpki (Mozilla) roots.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<std::path::PathBuf>,
    /// The largest request body in bytes (streamed, never held whole);
    /// larger is a 413. The default is 100 MiB.
    #[arg(long, value_name = "BYTES", default_value_t = ProxyOptions::default().max_request_body_size)]
    pub max_request_body: usize,
    /// The largest response body stored, with a unit (64MiB, 2GiB); larger
    /// ones stream through uncached. Default: on sqlite:, fs:, postgres://
    /// and mongodb://, which keep bodies in chunks and stream them back (memory does not grow with
    /// a body), 1GiB or the storage's --max-size if smaller, as nginx and
    /// Varnish set no per-object limit of their own; elsewhere 8MiB, since
    /// those storages hold a body whole in memory to write and read it.
    #[arg(long, value_name = "SIZE")]
    pub max_body_size: Option<ByteSize>,
    /// Milliseconds a storage read may take on the request path; a slower
    /// one is a miss (and counts toward the breaker).
    #[arg(long, value_name = "MS", default_value_t = reqcache::CacheLayerBuilder::DEFAULT_READ_TIMEOUT.as_millis() as u64)]
    pub storage_read_timeout: u64,
    /// Seconds of freshness for responses that state none; negative:
    /// forever (default: none, such a response is reused only after
    /// revalidation).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub expire_after: Option<i64>,
    /// `PATTERN=SECS`: freshness for URLs matching a glob (host and path, no
    /// scheme; a prefix); repeat, the first match wins over --expire-after.
    #[arg(long, value_name = "PATTERN=SECS")]
    pub urls_expire_after: Vec<UrlRule>,
    /// Answer a stale response at once and refresh it in the background,
    /// when at most this many seconds stale.
    #[arg(long, value_name = "SECS")]
    pub stale_while_revalidate: Option<u64>,
    /// The methods cached, comma-separated (default: GET,HEAD).
    #[arg(long, value_delimiter = ',')]
    pub allowable_methods: Option<Vec<String>>,
    /// The status codes stored, comma-separated (default: every code
    /// RFC 9111 allows, 200-599).
    #[arg(long, value_delimiter = ',')]
    pub allowable_codes: Option<Vec<u16>>,
    /// A PEM certificate chain: serve clients over TLS (HTTP/2 and HTTP/1.1
    /// by ALPN), with --tls-key. Without: plain TCP, HTTP/1 and h2c.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve the metrics (Prometheus text) at `GET /metrics` on this address
    /// (default: nowhere).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log each request on standard output: `json` or `logfmt` (default: no
    /// access log).
    #[arg(long, value_name = "FORMAT")]
    pub access_log: Option<String>,
    /// Serve the admin API (purges, stats) on this address; it needs
    /// --admin-token-file. Default, with a token file: 127.0.0.1:9180.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// A file holding the admin API's bearer token. Without it there is
    /// no admin API.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Vendor headers read as cache groups besides RFC 9875's
    /// Cache-Groups, comma-separated: `surrogate-key` (Fastly,
    /// space-separated keys), `cache-tag` (Cloudflare, comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "HEADERS")]
    pub group_headers: Vec<String>,
    /// Pass the vendor group headers read on to clients and keep them in
    /// storage (by default they are removed: they are for the cache).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub keep_group_headers: bool,
}

/// The admin API's address when a token file is given and no address.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9180";

impl Default for ProxyConfig {
    /// The flags' defaults.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: ProxyConfig,
        }
        // No arguments: every field takes its flag's default, which parse.
        <Defaults as clap::Parser>::try_parse_from(["reqcache proxy"])
            .map(|defaults| defaults.config)
            .unwrap_or_else(|error| unreachable!("the proxy's defaults parse: {error}"))
    }
}

impl ProxyConfig {
    /// The settings of a TOML document; keys left out keep their defaults.
    ///
    /// # Errors
    /// A message naming the line and the key for invalid TOML, an unknown
    /// key or a value of the wrong type.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    /// These settings with the flags given on a command line over them:
    /// `flags` is what the command line parsed to (defaults included), and
    /// `given` says which settings it named.
    ///
    /// # Errors
    /// A message when the merged settings do not form a configuration (they
    /// always should; both halves parsed).
    pub fn overridden_by(
        &self,
        flags: &ProxyConfig,
        given: impl Fn(&str) -> bool,
    ) -> Result<Self, String> {
        let table = |config: &ProxyConfig| {
            toml::Table::try_from(config).map_err(|error| format!("settings: {error}"))
        };
        let mut merged = table(self)?;
        for (key, value) in table(flags)? {
            if given(&key) {
                merged.insert(key, value);
            }
        }
        // An option a flag left unset (`None`) is no key at all: it keeps
        // the file's value, as it should.
        merged
            .try_into()
            .map_err(|error: toml::de::Error| error.to_string())
    }

    /// The settings as TOML, every key written; the storage URL without its
    /// password.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if let Ok(url) = self.storage.parse::<StorageUrl>() {
            shown.storage = url.to_string();
            // The bound the storage keeps, default or not.
            if shown.max_size.is_none() && url.max_size().is_none() {
                shown.max_size = url.effective_max_size();
            }
        }
        shown.max_body_size = Some(ByteSize::new(self.effective_max_body_size() as u64));
        toml::to_string(&shown).unwrap_or_else(|error| format!("# cannot be shown: {error}\n"))
    }

    /// The storage URL, parsed, with `max_size` set in it.
    ///
    /// # Errors
    /// As [`StorageUrl`]'s parser and [`StorageUrl::with_max_size`].
    pub fn storage_url(&self) -> Result<StorageUrl, reqcache::StorageError> {
        let url: StorageUrl = self.storage.parse()?;
        match self.max_size {
            Some(max_size) => url.with_max_size(max_size),
            None => Ok(url),
        }
    }

    /// The largest response body stored: `max_body_size` when set, else
    /// its default for the storage (see the flag).
    pub fn effective_max_body_size(&self) -> usize {
        let bytes = match (self.max_body_size, self.storage_url()) {
            (Some(size), _) => size.bytes(),
            (None, Ok(url)) if url.keeps_chunks() => url
                .effective_max_size()
                .map_or(LARGE_OBJECT_LIMIT, |bound| {
                    bound.bytes().min(LARGE_OBJECT_LIMIT)
                }),
            (None, _) => reqcache::CacheLayerBuilder::DEFAULT_MAX_BODY_SIZE as u64,
        };
        usize::try_from(bytes).unwrap_or(usize::MAX)
    }

    /// The cache mode.
    pub fn cache_mode(&self) -> CacheMode {
        match self.mode {
            Mode::Shared => CacheMode::Shared,
            Mode::Private => CacheMode::Private,
        }
    }

    /// The layer over `storage`: [`proxy::layer_builder`] with these
    /// settings.
    ///
    /// # Errors
    /// A message for a method, status code or URL pattern that is not one.
    pub fn layer(&self, storage: impl Storage) -> Result<CacheLayer, String> {
        let targeted = Some(self.targeted_cache_control.as_str()).filter(|name| *name != "none");
        let mut layer = proxy::layer_builder(storage, self.cache_mode())
            .targeted_cache_control(targeted)
            .stale_if_error(match (self.stale_if_error, self.stale_if_error_max) {
                (false, _) => StaleWindow::Off,
                (true, None) => StaleWindow::Unlimited,
                (true, Some(secs)) => StaleWindow::Within(Duration::from_secs(secs)),
            })
            .stale_if_disconnected(match self.stale_if_disconnected {
                0 => StaleWindow::Off,
                secs => StaleWindow::Within(Duration::from_secs(secs)),
            })
            .max_body_size(self.effective_max_body_size())
            .min_uses(self.min_uses)
            .storage_timeouts(
                Some(Duration::from_millis(self.storage_read_timeout)),
                Some(reqcache::CacheLayerBuilder::DEFAULT_WRITE_TIMEOUT),
            )
            .name("proxy");
        if !(0.0..=1.0).contains(&self.heuristic_fraction) {
            return Err(format!(
                "heuristic_fraction: {} is not between 0 and 1",
                self.heuristic_fraction
            ));
        }
        layer = layer.heuristic_freshness(Heuristic {
            fraction: self.heuristic_fraction,
            max: Duration::from_secs(self.heuristic_max),
        });
        if let Some(secs) = self.expire_after {
            layer = layer.expire_after(secs);
        }
        if !self.urls_expire_after.is_empty() {
            let mut patterns = UrlExpiration::new();
            for rule in &self.urls_expire_after {
                patterns = patterns
                    .pattern(&rule.pattern, Expiration::secs(rule.expire_after))
                    .map_err(|error| format!("urls_expire_after: {error}"))?;
            }
            layer = layer.urls_expire_after(patterns);
        }
        if let Some(secs) = self.stale_while_revalidate {
            layer = layer.stale_while_revalidate(Duration::from_secs(secs));
        }
        layer = layer.cache_groups(self.group_sources()?);
        if let Some(methods) = &self.allowable_methods {
            let methods = methods
                .iter()
                .map(|m| http::Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("allowable_methods: {error}"))?;
            layer = layer.allowable_methods(methods);
        }
        if let Some(codes) = &self.allowable_codes {
            if let Some(bad) = codes.iter().find(|c| !(100..=999).contains(*c)) {
                return Err(format!("allowable_codes: {bad} is not a status code"));
            }
            layer = layer.allowable_codes(codes.clone());
        }
        Ok(layer.build())
    }

    /// Where cache groups are read from: `Cache-Groups`, and the vendor
    /// headers of `group_headers`.
    ///
    /// # Errors
    /// A header that is not `surrogate-key` or `cache-tag`.
    pub fn group_sources(&self) -> Result<GroupSources, String> {
        let mut sources = GroupSources::default().strip_vendor_headers(!self.keep_group_headers);
        for name in &self.group_headers {
            match name.trim().to_ascii_lowercase().as_str() {
                "surrogate-key" => sources = sources.surrogate_key(true),
                "cache-tag" => sources = sources.cache_tag(true),
                "cache-groups" => {}
                other => {
                    return Err(format!(
                        "group_headers: {other:?} is not surrogate-key or cache-tag"
                    ));
                }
            }
        }
        Ok(sources)
    }

    /// The admin API's address and token, when it is on: a token file
    /// turns it on (at `admin_listen`, else [`DEFAULT_ADMIN_LISTEN`]).
    ///
    /// # Errors
    /// A token file that cannot be read or is empty.
    pub fn admin(&self) -> Result<Option<(SocketAddr, String)>, String> {
        let Some(path) = &self.admin_token_file else {
            return Ok(None);
        };
        let token = crate::admin::read_token(path)?;
        let addr = match self.admin_listen {
            Some(addr) => addr,
            None => DEFAULT_ADMIN_LISTEN
                .parse()
                .map_err(|e| format!("{DEFAULT_ADMIN_LISTEN}: {e}"))?,
        };
        Ok(Some((addr, token)))
    }

    /// The proxy's own options (timeouts, limits, trust, access log).
    ///
    /// # Errors
    /// A message for an access log format that is not `json` or `logfmt`,
    /// or when its writer cannot start; for TLS files that cannot be read,
    /// or a certificate without its key.
    pub fn proxy_options(&self) -> Result<ProxyOptions, String> {
        let mut options = ProxyOptions {
            trusted_proxies: self.trusted_proxies.clone(),
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            upstream_head_timeout: Duration::from_secs(self.upstream_timeout),
            max_request_body_size: self.max_request_body,
            request_metrics: self.metrics_listen.is_some(),
            upstream_ca_file: self.upstream_ca.clone(),
            ..ProxyOptions::default()
        };
        options.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(ServerTls::from_pem_files(cert, key)?),
            (None, None) => None,
            _ => return Err("tls_cert and tls_key go together: give both, or neither".to_owned()),
        };
        if let Some(format) = &self.access_log {
            let format: AccessLogFormat = format.parse()?;
            options.access_log =
                Some(AccessLog::stdout(format).map_err(|e| format!("access log: {e}"))?);
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_round_trips_and_the_password_is_not_shown() {
        let text = r#"
            listen = "0.0.0.0:9090"
            upstream = "http://10.0.0.7:9000"
            storage = "postgres://cache:hunter2@db/app#api"
            max_size = "64MiB"
            min_uses = 2
            l1_size = 1048576
            l1_ttl = 30
            mode = "private"
            stale_if_error = true
            stale_if_error_max = 300
            stale_if_disconnected = 0
            heuristic_fraction = 0.05
            heuristic_max = 3600
            targeted_cache_control = "none"
            trusted_proxies = ["10.0.0.1"]
            header_read_timeout = 5
            upstream_timeout = 7
            upstream_ca = "/etc/reqcache/ca.pem"
            max_request_body = 1000
            max_body_size = 2000
            storage_read_timeout = 250
            expire_after = -1
            stale_while_revalidate = 9
            allowable_methods = ["GET"]
            allowable_codes = [200, 404]
            metrics_listen = "127.0.0.1:9100"
            access_log = "json"

            [[urls_expire_after]]
            pattern = "*/static/*"
            expire_after = 86400
        "#;
        let config = ProxyConfig::from_toml(text).unwrap();
        assert_eq!(config.mode, Mode::Private);
        assert_eq!(config.urls_expire_after[0].expire_after, 86400);
        let shown = config.to_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://cache:***@db/app#api"), "{shown}");
        let mut back = ProxyConfig::from_toml(&shown).unwrap();
        back.storage = config.storage.clone();
        assert_eq!(back, config);
        assert_eq!(config.max_size, Some(ByteSize::new(64 << 20)));
        // Without a bound given, the one the storage keeps is shown.
        let mut default_back = ProxyConfig::from_toml(&ProxyConfig::default().to_toml()).unwrap();
        assert_eq!(default_back.max_size, Some(ByteSize::new(256 << 20)));
        // And the per-object limit in force: 8 MiB on memory.
        assert_eq!(default_back.max_body_size, Some(ByteSize::new(8 << 20)));
        default_back.max_size = None;
        default_back.max_body_size = None;
        assert_eq!(default_back, ProxyConfig::default());
        // On the storages that keep chunks, 1 GiB or the bound if smaller.
        for (storage, limit) in [
            ("sqlite:/tmp/c", 1 << 30),
            ("sqlite:/tmp/c?max_size=64MiB", 64 << 20),
            ("fs:/tmp/c", 1 << 30),
            ("postgres://h/db?max_size=2GiB", 1 << 30),
            ("mongodb://h/db?max_size=256MiB", 256 << 20),
            ("redis://127.0.0.1", 8 << 20),
        ] {
            let config = ProxyConfig {
                storage: storage.to_owned(),
                ..ProxyConfig::default()
            };
            assert_eq!(config.effective_max_body_size(), limit, "{storage}");
        }
    }

    #[test]
    fn flags_given_override_the_file_and_only_those() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            config: ProxyConfig,
        }
        use clap::{CommandFactory, FromArgMatches};
        let file = ProxyConfig::from_toml(
            "l1_size = 5\nstorage = \"sqlite:/tmp/c\"\nexpire_after = 30\ntrusted_proxy = [\"10.0.0.1\"]",
        )
        .unwrap();
        let matches = Cli::command()
            .try_get_matches_from(["proxy", "--l1-size", "7", "--trusted-proxy", "10.0.0.2"])
            .unwrap();
        let flags = Cli::from_arg_matches(&matches).unwrap().config;
        let given =
            |key: &str| matches.value_source(key) == Some(clap::parser::ValueSource::CommandLine);
        let merged = file.overridden_by(&flags, given).unwrap();
        assert_eq!(merged.l1_size, 7, "a flag given wins");
        assert_eq!(
            merged.trusted_proxies,
            ["10.0.0.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            merged.storage, "sqlite:/tmp/c",
            "a flag left out keeps the file's"
        );
        assert_eq!(
            merged.expire_after,
            Some(30),
            "an option left out keeps the file's"
        );
        assert_eq!(merged.l1_ttl, 60, "neither: the default");
        assert_eq!(
            flags,
            ProxyConfig {
                l1_size: 7,
                trusted_proxies: merged.trusted_proxies.clone(),
                ..ProxyConfig::default()
            }
        );
    }

    #[test]
    fn trusted_proxy_is_read_as_the_flag_is_named_too() {
        for key in ["trusted_proxies", "trusted_proxy"] {
            let config = ProxyConfig::from_toml(&format!("{key} = [\"10.0.0.1\"]")).unwrap();
            assert_eq!(
                config.trusted_proxies,
                ["10.0.0.1".parse::<IpAddr>().unwrap()],
                "{key}"
            );
        }
    }

    #[test]
    fn bad_files_are_refused_with_the_key() {
        for (text, says) in [
            ("max_body_size = \"big\"", "max_body_size"),
            ("mode = \"public\"", "mode"),
            ("upstreem = \"http://x\"", "upstreem"),
            ("listen = 8080", "listen"),
        ] {
            let error = ProxyConfig::from_toml(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
        let config = ProxyConfig::from_toml("allowable_codes = [42]").unwrap();
        let error = config.layer(reqcache::MemoryStorage::new()).unwrap_err();
        assert!(error.contains("42"), "{error}");
        let config = ProxyConfig::from_toml("access_log = \"xml\"").unwrap();
        assert!(config.proxy_options().unwrap_err().contains("xml"));
    }
}
