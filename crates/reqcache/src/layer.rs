//! [`CacheLayer`] and its builder: where every setting is chosen.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use tower_layer::Layer;

use crate::GroupSources;
use crate::clock::{Clock, SystemClock};
use crate::handle::CacheHandle;
use crate::key::{KeyParts, MatchHeaders, Names};
use crate::policy::expiration::{Expiration, StaleWindow, UrlExpiration};
use crate::policy::filter::ResponseFilter;
use crate::policy::mode::{CacheMode, Heuristic};
use crate::policy::status_codes;
use crate::runtime::Shared;
use crate::runtime::admission::{Admission, AdmissionSettings};
use crate::runtime::breaker::{Breaker, BreakerSettings};
use crate::runtime::flight::SingleFlight;
use crate::runtime::settings::CacheSettings;
use crate::runtime::stats::Counters;
use crate::runtime::write_behind::{WriteBehind, WriteMode};
use crate::service::CacheService;
use crate::storage::Storage;

/// A tower [`Layer`] that caches responses in a [`Storage`].
///
/// It wraps any `Service<http::Request<B>>` (a hyper or reqwest client, an
/// axum router) and keeps its error type. All services made by one layer, and
/// all their clones, share one storage, one set of settings and one
/// [`CacheHandle`].
///
/// # Example
/// ```
/// use std::convert::Infallible;
/// use http_body_util::{BodyExt, Full};
/// use reqcache::{CacheLayer, CacheStatus, MemoryStorage};
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let upstream = tower::service_fn(|_req: http::Request<Full<bytes::Bytes>>| async {
///     Ok::<_, Infallible>(http::Response::new(Full::new(bytes::Bytes::from_static(b"hello"))))
/// });
/// let layer = CacheLayer::builder(MemoryStorage::new()).expire_after(60).build();
/// let mut client = ServiceBuilder::new().layer(layer).service(upstream);
///
/// for expected_from_cache in [false, true] {
///     let request = http::Request::get("http://example.com/").body(Full::default()).unwrap();
///     let response = client.ready().await.unwrap().call(request).await.unwrap();
///     let status = response.extensions().get::<CacheStatus>().unwrap().clone();
///     assert_eq!(status.from_cache(), expected_from_cache);
///     assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "hello");
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CacheLayer {
    cache: CacheHandle,
}

impl CacheLayer {
    /// A layer with the default settings over `storage`.
    pub fn new(storage: impl Storage) -> Self {
        Self::builder(storage).build()
    }

    /// A builder to choose settings.
    pub fn builder(storage: impl Storage) -> CacheLayerBuilder {
        CacheLayerBuilder {
            storage: Arc::new(storage),
            clock: Arc::new(SystemClock),
            settings: CacheSettings::default(),
            write_mode: None,
            background_fill: None,
            redact_defaults: true,
            redacted: Vec::new(),
            name: "default".to_owned(),
            min_uses: 1,
            min_uses_window: crate::runtime::admission::DEFAULT_WINDOW,
        }
    }

    /// The handle for managing the cache: clear, delete, list, ...
    pub fn cache(&self) -> &CacheHandle {
        &self.cache
    }

    /// The layer of an existing cache handle (the installed cache's, in
    /// [`global`](crate::global)).
    pub(crate) fn from_cache(cache: CacheHandle) -> Self {
        Self { cache }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> CacheService<S> {
        CacheService::new(inner, self.cache.clone())
    }
}

/// Builds a [`CacheLayer`]. The names follow requests-cache's options.
///
/// | requests-cache          | reqcache                                   | default |
/// |-------------------------|--------------------------------------------|---------|
/// | `expire_after`          | [`expire_after`](Self::expire_after)       | never   |
/// | `urls_expire_after`     | [`urls_expire_after`](Self::urls_expire_after) | none |
/// | `allowable_methods`     | [`allowable_methods`](Self::allowable_methods) | GET, HEAD |
/// | `allowable_codes`       | [`allowable_codes`](Self::allowable_codes) | 200     |
/// | `ignored_parameters`    | [`ignored_parameters`](Self::ignored_parameters) | none |
/// | (1.x redacted defaults) | [`redact_parameters`](Self::redact_parameters), [`default_redactions`](Self::default_redactions) | credentials, API keys |
/// | `content_root_key`      | [`content_root_key`](Self::content_root_key) | none |
/// | `key_fn`                | [`key_fn`](Self::key_fn)                   | default key |
/// | `always_revalidate`     | [`always_revalidate`](Self::always_revalidate) | off |
/// | `read_only`             | [`read_only`](Self::read_only)             | off     |
/// | `filter_fn`             | [`filter`](Self::filter)                   | none    |
/// | `include_get_headers`   | [`match_headers`](Self::match_headers)     | none    |
/// | `cache_control`         | [`cache_control`](Self::cache_control)     | **on** (off in requests-cache) |
/// | `old_data_on_error`     | [`stale_if_error`](Self::stale_if_error)   | off     |
/// | —                       | [`credentials_in_key`](Self::credentials_in_key) | on |
/// | —                       | [`max_body_size`](Self::max_body_size)     | 8 MiB   |
/// | —                       | [`min_uses`](Self::min_uses)               | 1       |
/// | —                       | [`max_request_body_size`](Self::max_request_body_size) | 1 MiB |
/// | —                       | [`storage_timeouts`](Self::storage_timeouts) | read 100 ms, write 2 s |
/// | —                       | [`storage_breaker`](Self::storage_breaker) | 5 failures, 5 s |
/// | —                       | [`write_mode`](Self::write_mode)           | durable (private), behind (shared) |
/// | —                       | [`background_fill`](Self::background_fill) | 30 s (private), off (shared) |
/// | —                       | [`max_pending_writes`](Self::max_pending_writes) | 1024 |
/// | `ttl_offset` (backends) | [`stale_retention`](Self::stale_retention) | keep; 1 h past expiry in Redis, MongoDB, DynamoDB |
/// | —                       | [`single_flight`](Self::single_flight)     | on      |
/// | —                       | [`clock`](Self::clock)                     | system  |
/// | —                       | [`name`](Self::name)                       | `"default"` |
#[derive(Debug)]
#[must_use]
pub struct CacheLayerBuilder {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    settings: CacheSettings,
    /// Chosen by a setter; else decided by the mode at `build`.
    write_mode: Option<WriteMode>,
    background_fill: Option<Option<Duration>>,
    redact_defaults: bool,
    redacted: Vec<String>,
    name: String,
    /// [`min_uses`](CacheLayerBuilder::min_uses) and its window.
    min_uses: u32,
    min_uses_window: usize,
}

impl From<CacheLayerBuilder> for CacheLayer {
    fn from(builder: CacheLayerBuilder) -> Self {
        builder.build()
    }
}

impl CacheLayerBuilder {
    /// The default of [`max_body_size`](Self::max_body_size): 8 MiB.
    pub const DEFAULT_MAX_BODY_SIZE: usize = crate::runtime::settings::DEFAULT_MAX_BODY_SIZE;

    /// The default bound on a storage read on the request path: 100 ms
    /// (see [`storage_timeouts`](Self::storage_timeouts)).
    pub const DEFAULT_READ_TIMEOUT: Duration = crate::runtime::settings::DEFAULT_READ_TIMEOUT;

    /// The default bound on a storage write: 2 s (see
    /// [`storage_timeouts`](Self::storage_timeouts)).
    pub const DEFAULT_WRITE_TIMEOUT: Duration = crate::runtime::settings::DEFAULT_WRITE_TIMEOUT;

    /// How long responses stay fresh when nothing more specific applies
    /// (see [`Expiration`] for the accepted values). Default: never expire.
    pub fn expire_after(mut self, expire_after: impl Into<Expiration>) -> Self {
        self.settings.rules.expire_after = expire_after.into();
        self
    }

    /// Per-URL expiration patterns; the first match wins over
    /// [`expire_after`](Self::expire_after).
    pub fn urls_expire_after(mut self, patterns: UrlExpiration) -> Self {
        self.settings.rules.urls_expire_after = patterns;
        self
    }

    /// The methods whose responses are cached. Default: GET and HEAD.
    /// Other methods pass through untouched.
    pub fn allowable_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.settings.rules.allowable_methods = methods.into_iter().collect();
        self
    }

    /// The status codes that are cached, as [`StatusCode`]s or plain
    /// numbers (`[200, 404]`). Default: 200. A number that is no status code
    /// (outside 100-999) is skipped with a warning.
    ///
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .allowable_codes([200, 203, 404])
    ///     .build();
    /// let also = CacheLayer::builder(MemoryStorage::new())
    ///     .allowable_codes([http::StatusCode::OK])
    ///     .build();
    /// # let _ = (layer, also);
    /// ```
    pub fn allowable_codes<C>(mut self, codes: impl IntoIterator<Item = C>) -> Self
    where
        C: TryInto<StatusCode> + Copy + std::fmt::Debug,
    {
        self.settings.rules.allowable_codes = codes
            .into_iter()
            .filter_map(|code| match code.try_into() {
                Ok(status) => Some(status),
                Err(_) => {
                    tracing::warn!(
                        ?code,
                        "reqcache: allowable_codes: not a status code; skipped"
                    );
                    None
                }
            })
            .collect();
        self
    }

    /// Parameter names left out of the key **and** removed from everything
    /// stored: query strings, top-level JSON and form body fields, and request
    /// headers of the same name (case-insensitive). Use it for tokens and
    /// other secrets.
    pub fn ignored_parameters<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        self.settings.key.normalize.ignored = Names::new(names);
        self
    }

    /// Parameter and header names never stored (removed from the stored URL,
    /// headers and body), in addition to the defaults
    /// ([`DEFAULT_REDACTED_HEADERS`](crate::key::DEFAULT_REDACTED_HEADERS),
    /// [`DEFAULT_REDACTED_PARAMETERS`](crate::key::DEFAULT_REDACTED_PARAMETERS)).
    /// Unlike ignored parameters their values still take part in the key
    /// (hashed), so responses never cross credentials; see
    /// [`credentials_in_key`](Self::credentials_in_key).
    pub fn redact_parameters<I>(mut self, names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.redacted.extend(names.into_iter().map(Into::into));
        self
    }

    /// Whether the default redacted names apply. Default: on. Off stores
    /// `X-API-Key`, `access_token` and the like in the clear (the
    /// `Authorization`, `Proxy-Authorization` and `Cookie` headers stay
    /// redacted: they are never stored).
    pub fn default_redactions(mut self, on: bool) -> Self {
        self.redact_defaults = on;
        self
    }

    /// Apply ignored and redacted parameters to JSON request bodies only
    /// under this top-level member (requests-cache's `content_root_key`),
    /// e.g. `"params"` for `{"method": "..", "params": {"api_key": ..}}`.
    pub fn content_root_key(mut self, member: impl Into<String>) -> Self {
        self.settings.key.normalize.content_root_key = Some(member.into());
        self
    }

    /// Replace the default key builder with `key_fn`. It gets a
    /// [`KeyParts`](crate::key::KeyParts) with the request and the default key's
    /// pieces (normalized URL and body, matched headers, the default key
    /// itself), and returns the key as text.
    ///
    /// Requests that must never share a response must get different keys:
    /// the default key separates credentials, a custom one must too (wrapping
    /// [`KeyParts::default_key`](crate::key::KeyParts::default_key) does).
    pub fn key_fn<F>(mut self, key_fn: F) -> Self
    where
        F: Fn(&KeyParts<'_>) -> String + Send + Sync + 'static,
    {
        self.settings.key.key_fn = Some(Arc::new(key_fn));
        self
    }

    /// Send a conditional request before every use of a stored response that
    /// has a validator (`ETag` or `Last-Modified`), even a fresh one. Stored
    /// responses without one are used while fresh. Default: off.
    pub fn always_revalidate(mut self, on: bool) -> Self {
        self.settings.rules.always_revalidate = on;
        self
    }

    /// Answer from the cache but never write to it: no new entries, no
    /// refreshed ones after a revalidation, no deletions. Default: off.
    pub fn read_only(mut self, on: bool) -> Self {
        self.settings.read_only = on;
        self
    }

    /// Store a response only when `filter` says so, given the request and the
    /// response head (status, headers). It runs after the other checks
    /// (method, status, headers, expiration) pass, only when storing: it does
    /// not hide responses already stored.
    pub fn filter<F>(mut self, filter: F) -> Self
    where
        F: Fn(&http::request::Parts, &http::response::Parts) -> bool + Send + Sync + 'static,
    {
        self.settings.rules.filter = Some(ResponseFilter(Arc::new(filter)));
        self
    }

    /// Request headers that take part in the key. Default: none.
    pub fn match_headers(mut self, match_headers: MatchHeaders) -> Self {
        self.settings.key.normalize.match_headers = match_headers;
        self
    }

    /// Whether the values of redacted headers and parameters (credentials:
    /// `Authorization`, `Proxy-Authorization`, `Cookie`, `X-API-Key`,
    /// `access_token`, ...) take part in the key, hashed. Default: on, so a
    /// response to one set of credentials is never answered to another.
    ///
    /// Turn it off only when the upstream answers the same to every caller
    /// (for example a public API that wants a key just for rate limits): then
    /// every caller shares one entry. Redacted values are never stored either
    /// way.
    pub fn credentials_in_key(mut self, on: bool) -> Self {
        self.settings.key.normalize.credentials_in_key = on;
        self
    }

    /// Whether Cache-Control and Expires headers set expiration, with the
    /// precedence of requests-cache's guide. Default: **on**, unlike
    /// requests-cache: a Rust service expects `no-store` to be honoured.
    ///
    /// On: request `max-age` (a stored response older than it is stale; it is
    /// the lifetime of a new response only when that response states none),
    /// `no-cache` (revalidate before use),
    /// `no-store` (neither read nor write); response `no-store`, `max-age`,
    /// `no-cache` and `Expires`. A response whose headers make it stale at once
    /// is stored only when it has a validator, to be revalidated on each use.
    pub fn cache_control(mut self, on: bool) -> Self {
        self.settings.rules.cache_control = on;
        self
    }

    /// requests-cache's `stale_if_error` (`old_data_on_error`): when upstream
    /// fails (the inner service's `Err`, or a 4xx/5xx status that is not in
    /// [`allowable_codes`](Self::allowable_codes)) and a stale response is
    /// stored, answer it, marked [`is_expired`](crate::CacheStatus::is_expired).
    /// `true` allows any staleness; a `Duration` at most that long past
    /// expiry, beyond which the upstream's error is what the caller gets.
    /// Default: off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let any = CacheLayer::builder(MemoryStorage::new()).stale_if_error(true).build();
    /// let day = CacheLayer::builder(MemoryStorage::new())
    ///     .stale_if_error(Duration::from_secs(86_400))
    ///     .build();
    /// # let _ = (any, day);
    /// ```
    pub fn stale_if_error(mut self, window: impl Into<StaleWindow>) -> Self {
        self.settings.rules.stale_if_error = window.into();
        self
    }

    /// requests-cache's `stale_while_revalidate`: an expired entry at most
    /// this stale (`true`: however stale) is answered at once, marked
    /// [`is_expired`](crate::CacheStatus::is_expired) with the outcome
    /// `StaleWhileRevalidate`, while one background refresh per key runs on
    /// the tokio runtime (without a runtime, the request revalidates in line
    /// instead). Past the window the request waits for upstream. A response's
    /// own `stale-while-revalidate` directive applies too. Default: off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .expire_after(60)
    ///     .stale_while_revalidate(Duration::from_secs(300))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn stale_while_revalidate(mut self, window: impl Into<StaleWindow>) -> Self {
        self.settings.rules.stale_while_revalidate = window.into();
        self
    }

    /// How stale a stored response may be answered when upstream cannot be
    /// reached at all (the inner service returned an error: refused, reset,
    /// timed out), as RFC 9111 section 4.2.4 allows a disconnected cache;
    /// never one that must be revalidated (`must-revalidate`, `no-cache`,
    /// and in shared mode `proxy-revalidate`, `s-maxage`). Unlike
    /// [`stale_if_error`](Self::stale_if_error) it does not apply to error
    /// statuses: an origin that answers `503` is not disconnected.
    /// Default: off; one week in [`http_cache`](Self::http_cache), as Squid
    /// (`max_stale`) and Traffic Server (`max_stale_age`) do.
    ///
    /// ```
    /// use std::time::Duration;
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .stale_if_disconnected(Duration::from_secs(3600))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn stale_if_disconnected(mut self, window: impl Into<StaleWindow>) -> Self {
        self.settings.rules.stale_if_disconnected = window.into();
        self
    }

    /// The largest response body recorded for caching. The body always
    /// streams to the caller as it arrives; a copy is kept up to this size
    /// and stored when the body completes. A larger body goes on streaming,
    /// intact, and is not stored. Default: 8 MiB.
    ///
    /// On a storage that keeps bodies in chunks
    /// ([`Storage::chunks`](crate::storage::Storage::chunks): SQLite), a
    /// body past [`CHUNKED_FROM`](crate::storage::backend::CHUNKED_FROM)
    /// (1 MiB) is not copied: it is written chunk by chunk as it streams,
    /// and hits read it back the same way, so the limit can be gigabytes
    /// without memory growing with it. Elsewhere a body is held whole to
    /// be stored and answered: keep the limit to what memory allows.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.settings.max_body_size = bytes;
        self
    }

    /// Stores a response only once its key has been asked for `uses`
    /// times among the last [`min_uses_window`](Self::min_uses_window)
    /// misses, as nginx's `proxy_cache_min_uses`: a key asked for once (a
    /// crawler, a scan, a one-off report) never enters the storage, so it
    /// cannot evict what is asked for often from a bounded one. Uses are
    /// counted in a count-min sketch (4 rows of 8-bit counters, as wide as
    /// the window: 4 bytes per miss of the window, 512 KiB for the
    /// default), halved once per window, as TinyLFU ages its counts. The
    /// responses not yet admitted go to their callers as usual, uncached
    /// ([`CacheOutcome::NotStored`](crate::CacheOutcome::NotStored), logged
    /// at `debug` with the reason); hits are not counted, and cost nothing
    /// more. Default: 1, every storable response is stored.
    ///
    /// Measured on a Zipf trace with scans (BENCHMARKS.md, "Admission"):
    /// `min_uses(2)` keeps the hit ratio of a bounded cache where plain
    /// least-recently-used eviction loses it to each scan.
    ///
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::builder().max_entries(10_000).build())
    ///     .min_uses(2)
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn min_uses(mut self, uses: u32) -> Self {
        self.min_uses = uses;
        self
    }

    /// How many recent misses [`min_uses`](Self::min_uses) counts uses
    /// among. Default: 100,000. Set it to a few times what the storage
    /// holds, in entries.
    pub fn min_uses_window(mut self, misses: usize) -> Self {
        self.min_uses_window = misses.max(1);
        self
    }

    /// The largest request body read to be part of the key, for the
    /// cacheable methods that send one (a `GET` with a body, `POST` when
    /// allowed). A request whose body is larger, or of unknown length (no
    /// exact size: chunked), goes upstream uncached, its body streamed
    /// through unchanged and never read by the cache. Default: 1 MiB.
    pub fn max_request_body_size(mut self, bytes: usize) -> Self {
        self.settings.max_request_body_size = bytes;
        self
    }

    /// Bounds on each storage call the layer makes: a read on the request
    /// path that takes longer is a miss; a write behind a response that
    /// takes longer is given up (the storage may still finish it). Both
    /// count as storage failures for the
    /// [`storage_breaker`](Self::storage_breaker). `None` waits as long as
    /// the storage does. Default: read 100 ms, write 2 s.
    ///
    /// The bounds use Tokio's timer: on a Tokio runtime it must be enabled
    /// (`enable_time`, or `enable_all` as `#[tokio::main]` does), or the
    /// timeouts set to `None`. Outside any Tokio runtime no bound applies.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .storage_timeouts(Some(Duration::from_millis(20)), Some(Duration::from_secs(1)))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn storage_timeouts(mut self, read: Option<Duration>, write: Option<Duration>) -> Self {
        self.settings.read_timeout = read;
        self.settings.write_timeout = write;
        self
    }

    /// The storage circuit breakers, one for reads and one for writes: after
    /// `failures` consecutive failed or timed-out reads (or writes), the
    /// layer stops making them for `cool_down` (reads are misses and go
    /// upstream with no storage wait; writes are dropped and counted), then
    /// lets one through as a probe; its success closes the breaker. Apart,
    /// a storage that refuses writes (a locked SQLite file) still serves
    /// hits. `failures == 0` turns them off.
    /// The cool-down is measured on the layer's [`clock`](Self::clock).
    /// [`CacheStats`](crate::handle::CacheStats) shows its state and counts.
    /// Default: 5 failures, 5 s.
    pub fn storage_breaker(mut self, failures: u32, cool_down: Duration) -> Self {
        self.settings.breaker = BreakerSettings {
            threshold: failures,
            cool_down,
        };
        self
    }

    /// The most storage writes in flight that no caller waits for (every
    /// write in [`WriteMode::Behind`], background fills in either mode);
    /// past it a new one is dropped and counted
    /// ([`writes_dropped`](crate::handle::CacheStats::writes_dropped)),
    /// never queued. In [`WriteMode::Durable`] a write whose caller waits
    /// is never dropped for this bound: the waiting callers bound it.
    /// Default: 1024.
    pub fn max_pending_writes(mut self, writes: usize) -> Self {
        self.settings.max_pending_writes = writes;
        self
    }

    /// Whether the end of a miss's body waits until its entry is in
    /// storage ([`WriteMode::Durable`]) or the entry is written behind the
    /// body ([`WriteMode::Behind`]); see [`WriteMode`] for what each
    /// guarantees, and [`CacheHandle::flush`] for waiting on writes behind.
    ///
    /// Default: `Durable` in private mode (the library's default, a
    /// client: a program that has read a response finds it stored, on its
    /// next run too), `Behind` in shared mode (a proxy or server-side
    /// cache: no answer waits on storage; flush at shutdown).
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, CacheMode, MemoryStorage, WriteMode};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .mode(CacheMode::Shared)
    ///     .write_mode(WriteMode::Durable)
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn write_mode(mut self, mode: WriteMode) -> Self {
        self.write_mode = Some(mode);
        self
    }

    /// Background fill (as Traffic Server and Varnish do): when the caller
    /// drops the body of a storable miss before its end, and the body has
    /// a known length (`Content-Length`) within
    /// [`max_body_size`](Self::max_body_size), the cache reads the rest
    /// itself and stores it, for at most `limit`. `None` turns it off: the
    /// dropped body is not stored, and the upstream connection closes.
    ///
    /// A fill is a write that nobody waits for: it counts in
    /// [`max_pending_writes`](Self::max_pending_writes) (past the bound it
    /// does not start), [`CacheHandle::flush`] waits for it, and
    /// [`CacheStats`](crate::handle::CacheStats) counts the fills started
    /// and those given up. A program that ends right after dropping a body
    /// may end before the fill does: await `flush()` first.
    ///
    /// Default: 30 s in private mode, off in shared mode.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .background_fill(Some(Duration::from_secs(5)))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn background_fill(mut self, limit: Option<Duration>) -> Self {
        self.background_fill = Some(limit);
        self
    }

    /// How long an expired entry is kept for revalidation and
    /// `stale_if_error` before a storage may drop it: the one retention
    /// setting, for every storage (requests-cache's `ttl_offset`).
    /// `Duration::MAX` keeps expired entries until removed everywhere.
    ///
    /// Default: memory, SQLite and file storages keep expired entries until
    /// removed or evicted, as requests-cache does; storages that expire
    /// entries natively (Redis, MongoDB, DynamoDB) drop them
    /// [`DEFAULT_NATIVE_RETENTION`](crate::storage::backend::DEFAULT_NATIVE_RETENTION)
    /// (one hour) past their expiry.
    pub fn stale_retention(mut self, keep: Duration) -> Self {
        self.settings.rules.stale_retention = Some(keep);
        self
    }

    /// Whether concurrent misses for one key wait for a single upstream
    /// request. Default: on.
    pub fn single_flight(mut self, on: bool) -> Self {
        self.settings.single_flight = on;
        self
    }

    /// A private cache (the default: one client's) or a shared one (a proxy
    /// or gateway serving many users); see [`CacheMode`].
    pub fn mode(mut self, mode: CacheMode) -> Self {
        self.settings.rules.mode = mode;
        self
    }

    /// Give responses without explicit freshness a heuristic lifetime from
    /// their `Last-Modified` (RFC 9111 section 4.2.2), for the status codes
    /// that allow it. Default: off (such responses fall back to
    /// `expire_after`).
    pub fn heuristic_freshness(mut self, heuristic: Heuristic) -> Self {
        self.settings.rules.heuristic = Some(heuristic);
        self
    }

    /// The settings of a standard HTTP cache (RFC 9111) of `mode`, in place
    /// of requests-cache's defaults: what an HTTP proxy, gateway or CDN
    /// (`CacheMode::Shared`) or a browser-like client cache
    /// (`CacheMode::Private`) does. `reqcache proxy` uses it.
    ///
    /// - Freshness comes only from the response: `s-maxage` (shared),
    ///   `max-age`, `Expires`, and the targeted field when one is set
    ///   ([`targeted_cache_control`](Self::targeted_cache_control)); else
    ///   heuristic freshness ([`Heuristic::default`]: 10% of the time since
    ///   `Last-Modified`, at most a day) for the statuses that allow it.
    /// - A response with neither freshness nor a validator is not stored;
    ///   one with a validator only is stored stale, and revalidated before
    ///   each use ([`Expiration::Immediately`] as the fallback).
    /// - Every final status 200-599 may be stored, but one that is not
    ///   heuristically cacheable (RFC 9110 section 15.1) only with explicit
    ///   freshness, `public`, or (private mode) `private`.
    /// - When upstream cannot be reached, a stale response up to a week old
    ///   answers, unless it must be revalidated
    ///   ([`stale_if_disconnected`](Self::stale_if_disconnected)).
    ///
    /// Call it first: later setters change single settings of the preset.
    ///
    /// Which to pick: the library's default (requests-cache's: `expire_after`
    /// decides when the response says nothing, only 200 is stored) suits a
    /// client calling APIs it knows; this preset suits a cache in front of
    /// servers it does not control, and passes the HTTP caching test suite.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, CacheMode, MemoryStorage};
    ///
    /// let proxy = CacheLayer::builder(MemoryStorage::new())
    ///     .http_cache(CacheMode::Shared)
    ///     .targeted_cache_control(Some("cdn-cache-control"))
    ///     .build();
    /// # let _ = proxy;
    /// ```
    pub fn http_cache(mut self, mode: CacheMode) -> Self {
        let rules = &mut self.settings.rules;
        rules.mode = mode;
        rules.cache_control = true;
        rules.expire_after = Expiration::Immediately;
        rules.allowable_codes = status_codes::http_storable();
        rules.heuristic = Some(Heuristic::default());
        rules.explicit_cacheability = true;
        rules.stale_if_disconnected = StaleWindow::Within(Duration::from_secs(7 * 86_400));
        self
    }

    /// The targeted cache-control field (RFC 9213) this cache obeys in
    /// shared mode, such as `"cdn-cache-control"`: when a response carries
    /// it as a valid dictionary with at least one directive, its directives
    /// replace those of `Cache-Control`, and `Expires` is ignored. An
    /// invalid field is ignored whole. `None` (the default) obeys none. A
    /// name that is not a valid header name is ignored with a warning.
    ///
    /// ```
    /// use reqcache::{CacheLayer, CacheMode, MemoryStorage};
    ///
    /// let edge = CacheLayer::builder(MemoryStorage::new())
    ///     .mode(CacheMode::Shared)
    ///     .targeted_cache_control(Some("acme-cdn-cache-control"))
    ///     .build();
    /// # let _ = edge;
    /// ```
    pub fn targeted_cache_control(mut self, field: Option<&str>) -> Self {
        self.settings.rules.targeted_cache_control =
            field.and_then(|name| match http::HeaderName::from_bytes(name.as_bytes()) {
                Ok(name) => Some(name),
                Err(_) => {
                    tracing::warn!(
                        name,
                        "reqcache: targeted_cache_control: not a header name; ignored"
                    );
                    None
                }
            });
        self
    }

    /// Where responses' cache groups are read from (RFC 9875): always
    /// `Cache-Groups`; `Surrogate-Key` and `Cache-Tag` when enabled in
    /// `sources`, and then stripped from what is stored and sent unless
    /// told otherwise. A stored response is indexed under each of its
    /// groups, scoped to its origin, so that
    /// [`CacheHandle::purge`](crate::CacheHandle::purge) can remove or
    /// mark stale a whole group; a response to an unsafe request that
    /// carries `Cache-Group-Invalidation` removes the groups it names,
    /// on its own origin.
    ///
    /// ```
    /// use reqcache::{CacheLayer, GroupSources, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .cache_groups(GroupSources::default().surrogate_key(true))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn cache_groups(mut self, sources: GroupSources) -> Self {
        self.settings.group_sources = sources;
        self
    }

    /// Adds an RFC 9211 `Cache-Status` member for this cache, named `name`
    /// (such as `"reqcache"`), to every response the layer answers, after
    /// any members upstream caches put there: what the
    /// [`CacheStatus`](crate::CacheStatus) extension says, as
    /// [`CacheStatus::cache_status`](crate::CacheStatus::cache_status)
    /// writes it. For a server or gateway whose clients want to see what
    /// the cache did. `None` (the default): no header.
    ///
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new())
    ///     .cache_status_header(Some("api-gateway"))
    ///     .build();
    /// # let _ = layer;
    /// ```
    pub fn cache_status_header(mut self, name: Option<&str>) -> Self {
        self.settings.cache_status_header = name.map(str::to_owned);
        self
    }

    /// What a shared cache does with responses that set a cookie: not
    /// stored (the default), or stored without their `Set-Cookie` fields
    /// (see [`SetCookie`](crate::SetCookie)). Either way, in shared mode no
    /// answer from the cache ever carries a `Set-Cookie`, and a `304` that
    /// sets one passes it to its own client only. No effect in private mode.
    pub fn shared_set_cookie(mut self, policy: crate::SetCookie) -> Self {
        self.settings.rules.shared_set_cookie = policy;
        self
    }

    /// The clock for every freshness decision. Default: [`SystemClock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The cache's name: the `cache` label of the counters exported through
    /// the `metrics` feature, to tell several caches in one process apart.
    /// Default: `"default"`.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// let layer = CacheLayer::builder(MemoryStorage::new()).name("github-api").build();
    /// # let _ = layer;
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The layer.
    pub fn build(mut self) -> CacheLayer {
        self.settings.key.normalize.redacted =
            Names::redacted(self.redact_defaults, std::mem::take(&mut self.redacted));
        let shared_mode = self.settings.rules.mode == CacheMode::Shared;
        self.settings.write_mode = self.write_mode.unwrap_or(if shared_mode {
            WriteMode::Behind
        } else {
            WriteMode::Durable
        });
        self.settings.background_fill = self.background_fill.unwrap_or(if shared_mode {
            None
        } else {
            Some(crate::runtime::settings::DEFAULT_BACKGROUND_FILL)
        });
        let admission = (self.min_uses > 1).then(|| {
            Admission::new(AdmissionSettings {
                min_uses: self.min_uses,
                window: self.min_uses_window,
            })
        });
        let (max_pending_writes, breaker) =
            (self.settings.max_pending_writes, self.settings.breaker);
        CacheLayer {
            cache: CacheHandle {
                shared: Arc::new(Shared {
                    settings: self.settings,
                    chunks: self.storage.chunks(),
                    storage: self.storage,
                    clock: self.clock,
                    flights: Arc::new(SingleFlight::default()),
                    counters: Counters::new(&self.name),
                    writes: Arc::new(WriteBehind::new(max_pending_writes)),
                    read_breaker: Breaker::new(breaker),
                    write_breaker: Breaker::new(breaker),
                    admission,
                }),
            },
        }
    }
}
