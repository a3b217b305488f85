//! [`ProxyConfig`]: every setting of `reqcache proxy`, from a TOML file
//! (`--config`), flags over it, shown by `--print-config`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqcache::expiration::StaleWindow;
use reqcache::storage::Storage;
use reqcache::{CacheLayer, CacheMode, Expiration, Heuristic, UrlExpiration};
use serde::{Deserialize, Serialize};

use crate::access_log::{AccessLog, AccessLogFormat};
use crate::connection::ServerTls;
use crate::proxy::{self, ProxyOptions};
use crate::storage_url::StorageUrl;

/// Shared (a proxy serving many users) or private (one user's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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
/// freshness (`0`: not stored, negative: forever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlRule {
    /// The glob.
    pub pattern: String,
    /// Seconds.
    pub expire_after: i64,
}

/// Every setting of `reqcache proxy`. The TOML keys are the field names;
/// every key is optional (the defaults below are the flags' defaults).
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Where to listen. Default: `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The upstream's base URL (`http[s]://host[:port][/path]`); required.
    pub upstream: Option<String>,
    /// The storage URL ([`StorageUrl`]). Default: `memory`.
    pub storage: String,
    /// Bytes of an in-process L1 in front of the storage; 0: none.
    pub l1_size: u64,
    /// Seconds an L1 copy is used at most while the bus is connected.
    /// Default: 60.
    pub l1_ttl: u64,
    /// Shared or private. Default: shared.
    pub mode: Mode,
    /// Serve stale responses when the upstream answers with an error too
    /// (not only when it cannot be reached). Default: false.
    pub stale_if_error: bool,
    /// With `stale_if_error`: at most this many seconds stale. Default:
    /// however stale.
    pub stale_if_error_max: Option<u64>,
    /// Seconds stale a stored response may answer when the upstream cannot
    /// be reached at all (never one that must be revalidated); 0: never.
    /// Default: one week.
    pub stale_if_disconnected: u64,
    /// The fraction of the time since `Last-Modified` a response without
    /// explicit freshness is fresh for (heuristic freshness, RFC 9111
    /// section 4.2.2); 0: none. Default: 0.1.
    pub heuristic_fraction: f64,
    /// The longest heuristic lifetime, in seconds. Default: one day.
    pub heuristic_max: u64,
    /// The targeted cache-control field obeyed in shared mode, or `none`.
    /// Default: `cdn-cache-control`.
    pub targeted_cache_control: String,
    /// Peers whose forwarding headers are kept. Default: none. The key is
    /// also read as `trusted_proxy`, the flag's name (`--trusted-proxy`).
    #[serde(alias = "trusted_proxy")]
    pub trusted_proxies: Vec<IpAddr>,
    /// Seconds a client may take to send a request head. Default: 20.
    pub header_read_timeout: u64,
    /// Seconds the upstream may take to send a response head. Default: 60.
    pub upstream_timeout: u64,
    /// A PEM file of certificate authorities trusted for an `https://`
    /// upstream besides the webpki roots.
    pub upstream_ca: Option<std::path::PathBuf>,
    /// The largest request body, in bytes. Default: 100 MiB.
    pub max_request_body: usize,
    /// The largest response body stored, in bytes.
    pub max_body_size: usize,
    /// Seconds of freshness for responses that state none; negative:
    /// forever. Default: none (such responses are revalidated).
    pub expire_after: Option<i64>,
    /// Per-URL freshness, first match wins over `expire_after`.
    pub urls_expire_after: Vec<UrlRule>,
    /// Seconds a stale response may answer while it is refreshed.
    pub stale_while_revalidate: Option<u64>,
    /// The methods cached. Default: GET, HEAD.
    pub allowable_methods: Option<Vec<String>>,
    /// The status codes stored. Default: every code RFC 9111 allows.
    pub allowable_codes: Option<Vec<u16>>,
    /// A PEM certificate chain: serve clients over TLS (HTTP/2 and
    /// HTTP/1.1 by ALPN) with it and `tls_key`. Default: plain TCP
    /// (HTTP/1, and HTTP/2 with prior knowledge).
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
    /// Where to serve `GET /metrics` (Prometheus text). Default: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// `json` or `logfmt`: one line per request on standard output.
    /// Default: no access log.
    pub access_log: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        let defaults = ProxyOptions::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstream: None,
            storage: "memory".to_owned(),
            l1_size: 0,
            l1_ttl: 60,
            mode: Mode::Shared,
            stale_if_error: false,
            stale_if_error_max: None,
            stale_if_disconnected: 7 * 24 * 3600,
            heuristic_fraction: 0.1,
            heuristic_max: 86_400,
            targeted_cache_control: "cdn-cache-control".to_owned(),
            trusted_proxies: Vec::new(),
            header_read_timeout: defaults.header_read_timeout.as_secs(),
            upstream_timeout: defaults.upstream_head_timeout.as_secs(),
            upstream_ca: None,
            max_request_body: defaults.max_request_body_size,
            max_body_size: reqcache::CacheLayerBuilder::DEFAULT_MAX_BODY_SIZE,
            expire_after: None,
            urls_expire_after: Vec::new(),
            stale_while_revalidate: None,
            allowable_methods: None,
            allowable_codes: None,
            tls_cert: None,
            tls_key: None,
            metrics_listen: None,
            access_log: None,
        }
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

    /// The settings as TOML, every key written; the storage URL without its
    /// password.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if let Ok(url) = self.storage.parse::<StorageUrl>() {
            shown.storage = url.to_string();
        }
        toml::to_string(&shown).unwrap_or_else(|error| format!("# cannot be shown: {error}\n"))
    }

    /// The storage URL, parsed.
    ///
    /// # Errors
    /// As [`StorageUrl`]'s parser.
    pub fn storage_url(&self) -> Result<StorageUrl, reqcache::StorageError> {
        self.storage.parse()
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
            .max_body_size(self.max_body_size)
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
        assert_eq!(
            ProxyConfig::from_toml(&ProxyConfig::default().to_toml()).unwrap(),
            ProxyConfig::default()
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
