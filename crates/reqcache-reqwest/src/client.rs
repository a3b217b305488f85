//! [`CachedClient`]: a reqwest client with a cache.

use std::sync::Arc;

use reqcache::{CacheHandle, CacheLayer, RequestOptions};
use reqwest::header::HeaderMap;

use crate::adapter::ReqwestService;
use crate::choice::CacheChoice;
use crate::response::into_reqwest_response;

/// A reqwest client with a cache: requests-cache's `CachedSession`.
///
/// It reads like reqwest — `client.get(url).query(..).header(..).send().await`,
/// then `.json()`, `.text()`, `.bytes()` on the `reqwest::Response` — and adds
/// per-request cache settings to the builder
/// ([`expire_after`](crate::RequestBuilder::expire_after),
/// [`only_if_cached`](crate::RequestBuilder::only_if_cached),
/// [`refresh`](crate::RequestBuilder::refresh),
/// [`force_refresh`](crate::RequestBuilder::force_refresh),
/// [`bypass`](crate::RequestBuilder::bypass)). What the cache did is on the
/// response, through [`CacheStatusExt`](crate::CacheStatusExt).
///
/// Session-wide settings are the [`CacheLayerBuilder`](reqcache::CacheLayerBuilder)'s,
/// chosen at construction. Clones share the cache and reqwest's connection
/// pool.
///
/// [`CachedClient::default`] (and [`installed`](Self::installed)) use the
/// cache installed with [`reqcache::global::install`], looked up at each
/// request, or none.
///
/// # Credentials
/// Headers given per request (`bearer_auth`, `basic_auth`, `header`) and the
/// client's own [`default_headers`](Self::default_headers) are part of the
/// cache key, so responses never cross credentials. Headers that reqwest adds
/// by itself when it sends — its `ClientBuilder::default_headers` and cookies
/// from its cookie store — come after the key is made and are **not** part of
/// it: put credentials in [`default_headers`](Self::default_headers) here
/// instead, and do not share one cache between reqwest clients whose own
/// default credentials differ.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache::{CacheLayer, MemoryStorage};
/// use reqcache_reqwest::CachedClient;
///
/// // requests_cache.CachedSession(backend='memory', expire_after=360, allowable_codes=(200, 404))
/// let client = CachedClient::new(
///     CacheLayer::builder(MemoryStorage::new())
///         .expire_after(Duration::from_secs(360))
///         .allowable_codes([http::StatusCode::OK, http::StatusCode::NOT_FOUND]),
/// );
/// let request = client.get("http://127.0.0.1:1/users").query(&[("page", "2")]).build().unwrap();
/// assert_eq!(request.url().as_str(), "http://127.0.0.1:1/users?page=2");
/// ```
#[derive(Debug, Clone)]
pub struct CachedClient {
    client: reqwest::Client,
    cache: CacheChoice,
    default_headers: Arc<HeaderMap>,
}

impl CachedClient {
    /// A client with a default `reqwest::Client` and `layer`'s cache (a
    /// [`CacheLayer`] or its builder).
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::builder(MemoryStorage::new()).expire_after(60));
    /// assert_eq!(client.cache().unwrap().stats().hits, 0);
    /// ```
    pub fn new(layer: impl Into<CacheLayer>) -> Self {
        Self::with_client(reqwest::Client::new(), layer)
    }

    /// A client over your own `reqwest::Client` (its timeouts, TLS, proxies,
    /// default headers) with `layer`'s cache.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use reqcache::{CacheLayer, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let reqwest_client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    /// let client = CachedClient::with_client(reqwest_client, CacheLayer::new(MemoryStorage::new()));
    /// assert!(client.cache().is_some());
    /// ```
    pub fn with_client(client: reqwest::Client, layer: impl Into<CacheLayer>) -> Self {
        Self {
            client,
            cache: CacheChoice::Own(layer.into()),
            default_headers: Arc::default(),
        }
    }

    /// A client that uses the [`current`](reqcache::global::current) cache
    /// at each request: the one installed with
    /// [`reqcache::global::install`], or a scope's own, or none (requests go
    /// straight to reqwest).
    ///
    /// # Example
    /// ```
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::installed();
    /// assert!(client.cache().is_none()); // nothing installed
    /// ```
    pub fn installed() -> Self {
        Self::installed_with_client(reqwest::Client::new())
    }

    /// Like [`installed`](Self::installed), over your own `reqwest::Client`.
    pub fn installed_with_client(client: reqwest::Client) -> Self {
        Self {
            client,
            cache: CacheChoice::Installed,
            default_headers: Arc::default(),
        }
    }

    /// Headers added to every request that does not set them itself, before
    /// the cache key is made: the place for credentials shared by all of a
    /// client's requests (see [Credentials](Self#credentials)).
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    /// use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer service-token"));
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new())).default_headers(headers);
    /// # let _ = client;
    /// ```
    pub fn default_headers(mut self, headers: HeaderMap) -> Self {
        self.default_headers = Arc::new(headers);
        self
    }

    /// The handle of the cache a request made here and now would use: clear,
    /// delete, list, counters. `None` for an installed-cache client with
    /// nothing installed.
    pub fn cache(&self) -> Option<CacheHandle> {
        self.cache.cache()
    }

    /// The reqwest client underneath.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a built request through the cache, with the client's settings.
    ///
    /// # Errors
    /// reqwest's errors: the request could not be converted or sent. The cache
    /// itself never fails a request.
    pub async fn execute(&self, request: reqwest::Request) -> reqwest::Result<reqwest::Response> {
        self.execute_with(request, RequestOptions::default()).await
    }

    /// Sends a built request through the cache with per-request settings.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> reqwest::Result<()> {
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client.get("http://127.0.0.1:1/report").build()?;
    /// // Nothing stored: answered 504 without any network.
    /// let response = client.execute_with(request, RequestOptions::new().only_if_cached()).await?;
    /// assert_eq!(response.status(), reqwest::StatusCode::GATEWAY_TIMEOUT);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// reqwest's errors: the request could not be converted or sent. The cache
    /// itself never fails a request.
    pub async fn execute_with(
        &self,
        request: reqwest::Request,
        options: RequestOptions,
    ) -> reqwest::Result<reqwest::Response> {
        let mut request = request;
        for name in self.default_headers.keys() {
            if !request.headers().contains_key(name) {
                for value in self.default_headers.get_all(name) {
                    request.headers_mut().append(name.clone(), value.clone());
                }
            }
        }
        let url = request.url().clone();
        let mut request = http::Request::<reqwest::Body>::try_from(request)?;
        if options != RequestOptions::default() {
            request.extensions_mut().insert(options);
        }
        let adapter = ReqwestService::new(self.client.clone());
        let response = self.cache.call(adapter, request).await?;
        Ok(into_reqwest_response(response, &url))
    }
}

impl Default for CachedClient {
    /// [`CachedClient::installed`].
    fn default() -> Self {
        Self::installed()
    }
}

impl From<reqwest::Client> for CachedClient {
    /// An installed-cache client over `client`.
    fn from(client: reqwest::Client) -> Self {
        Self::installed_with_client(client)
    }
}
