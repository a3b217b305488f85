//! [`RequestBuilder`]: reqwest's request builder, with per-request cache
//! settings, and the [`CachedClient`] methods that start one.

use std::fmt;
use std::time::Duration;

use reqcache::{Expiration, RequestOptions};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Body, IntoUrl, Method, Version};

use crate::client::CachedClient;

/// A request being built by a [`CachedClient`]: reqwest's builder methods,
/// and the cache's per-request settings (requests-cache's per-request
/// arguments).
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
/// use reqcache_reqwest::CachedClient;
///
/// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
/// let request = client
///     .get("http://127.0.0.1:1/items")
///     .header("accept", "application/json")
///     .expire_after(60)
///     .only_if_cached()
///     .build_http()
///     .unwrap();
/// let options = request.extensions().get::<RequestOptions>().unwrap();
/// assert!(options.is_only_if_cached());
/// ```
#[must_use = "a RequestBuilder does nothing until it is sent"]
pub struct RequestBuilder {
    client: CachedClient,
    inner: reqwest::RequestBuilder,
    options: Option<RequestOptions>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("inner", &self.inner)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

// The client's request methods live here, beside what they return, so
// that the client's file does not point back at the builder's.
impl CachedClient {
    /// A `GET` request.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `HEAD` request.
    pub fn head(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A request with any method.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client.request(reqwest::Method::OPTIONS, "http://127.0.0.1:1/").build().unwrap();
    /// assert_eq!(request.method(), reqwest::Method::OPTIONS);
    /// ```
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder::new(self.clone(), self.client().request(method, url))
    }
}

impl RequestBuilder {
    pub(crate) fn new(client: CachedClient, inner: reqwest::RequestBuilder) -> Self {
        Self {
            client,
            inner,
            options: None,
        }
    }

    fn map(mut self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        self.inner = f(self.inner);
        self
    }

    fn options(mut self, f: impl FnOnce(RequestOptions) -> RequestOptions) -> Self {
        self.options = Some(f(self.options.unwrap_or_default()));
        self
    }

    /// Adds a header (reqwest's `header`).
    pub fn header<K, V>(self, key: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|inner| inner.header(key, value))
    }

    /// Adds headers (reqwest's `headers`).
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map(|inner| inner.headers(headers))
    }

    /// HTTP basic authentication. Credentials are part of the cache key
    /// (hashed) and never stored.
    pub fn basic_auth<U: fmt::Display, P: fmt::Display>(
        self,
        username: U,
        password: Option<P>,
    ) -> Self {
        self.map(|inner| inner.basic_auth(username, password))
    }

    /// Bearer authentication. The token is part of the cache key (hashed) and
    /// never stored.
    pub fn bearer_auth<T: fmt::Display>(self, token: T) -> Self {
        self.map(|inner| inner.bearer_auth(token))
    }

    /// The request body.
    pub fn body<T: Into<Body>>(self, body: T) -> Self {
        self.map(|inner| inner.body(body))
    }

    /// A timeout for this request, from the start of connecting to the end of
    /// the response body (reqwest's `timeout`). Answers from the cache are
    /// not affected.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|inner| inner.timeout(timeout))
    }

    /// The HTTP version.
    pub fn version(self, version: Version) -> Self {
        self.map(|inner| inner.version(version))
    }

    /// Appends query parameters (reqwest's `query`; feature `query`).
    #[cfg(feature = "query")]
    #[cfg_attr(docsrs, doc(cfg(feature = "query")))]
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|inner| inner.query(query))
    }

    /// A URL-encoded form body (reqwest's `form`; feature `form`).
    #[cfg(feature = "form")]
    #[cfg_attr(docsrs, doc(cfg(feature = "form")))]
    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Self {
        self.map(|inner| inner.form(form))
    }

    /// A JSON body (reqwest's `json`; feature `json`).
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json<T: serde::Serialize + ?Sized>(self, json: &T) -> Self {
        self.map(|inner| inner.json(json))
    }

    /// How long this response stays fresh, beating the client's
    /// `expire_after` and URL patterns (requests-cache's per-request
    /// `expire_after`).
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client.get("http://127.0.0.1:1/").expire_after(60).build_http().unwrap();
    /// let options = request.extensions().get::<RequestOptions>().unwrap();
    /// assert_eq!(options.get_expire_after(), Some(reqcache::Expiration::from(60)));
    /// ```
    pub fn expire_after(self, expire_after: impl Into<Expiration>) -> Self {
        self.options(|options| options.expire_after(expire_after))
    }

    /// Answer only from the cache: a `504 Gateway Timeout` when nothing fresh
    /// is stored, without calling upstream (requests-cache's `only_if_cached`).
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client.get("http://127.0.0.1:1/").only_if_cached().build_http().unwrap();
    /// assert!(request.extensions().get::<RequestOptions>().unwrap().is_only_if_cached());
    /// ```
    pub fn only_if_cached(self) -> Self {
        self.options(RequestOptions::only_if_cached)
    }

    /// Revalidate the stored response even when fresh (requests-cache's
    /// `refresh`).
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client.get("http://127.0.0.1:1/").refresh().build_http().unwrap();
    /// assert!(request.extensions().get::<RequestOptions>().unwrap().is_refresh());
    /// ```
    pub fn refresh(self) -> Self {
        self.options(RequestOptions::refresh)
    }

    /// Fetch anew and store the result, ignoring what is stored
    /// (requests-cache's `force_refresh`).
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client.get("http://127.0.0.1:1/").force_refresh().build_http().unwrap();
    /// assert!(request.extensions().get::<RequestOptions>().unwrap().is_force_refresh());
    /// ```
    pub fn force_refresh(self) -> Self {
        self.options(RequestOptions::force_refresh)
    }

    /// Answer an expired entry at once when it is at most this stale
    /// (`true`: however stale) and refresh it in the background
    /// (requests-cache's `stale_while_revalidate`); see
    /// [`RequestOptions::stale_while_revalidate`]. Through
    /// `CacheMiddleware` (feature `middleware`) the stale answer is given,
    /// but the refresh waits for the first request after the window.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client
    ///     .get("http://127.0.0.1:1/")
    ///     .stale_while_revalidate(Duration::from_secs(30))
    ///     .build_http()
    ///     .unwrap();
    /// assert!(request.extensions().get::<RequestOptions>().is_some());
    /// ```
    pub fn stale_while_revalidate(
        self,
        window: impl Into<reqcache::expiration::StaleWindow>,
    ) -> Self {
        let window = window.into();
        self.options(move |options| options.stale_while_revalidate(window))
    }

    /// Leave the cache out of this request: no read, no write.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let request = client.get("http://127.0.0.1:1/").bypass().build_http().unwrap();
    /// assert!(request.extensions().get::<RequestOptions>().unwrap().is_bypass());
    /// ```
    pub fn bypass(self) -> Self {
        self.options(RequestOptions::bypass)
    }

    /// Replaces this request's cache settings.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, RequestOptions, MemoryStorage};
    /// use reqcache_reqwest::CachedClient;
    ///
    /// let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
    /// let builder = client.get("http://127.0.0.1:1/").cache_options(RequestOptions::new().refresh());
    /// assert_eq!(builder.cache_settings(), Some(RequestOptions::new().refresh()));
    /// ```
    pub fn cache_options(mut self, options: RequestOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// reqwest's request. It cannot carry the cache settings (reqwest keeps
    /// a request's extensions private): send it with
    /// [`CachedClient::execute_with`] and [`cache_settings`](Self::cache_settings),
    /// or use [`build_http`](Self::build_http).
    ///
    /// # Errors
    /// reqwest's builder errors (an invalid URL or header).
    pub fn build(self) -> reqwest::Result<reqwest::Request> {
        self.inner.build()
    }

    /// The request as an `http::Request`, with its cache settings as a
    /// [`RequestOptions`] extension: ready for a tower stack with a
    /// [`CacheLayer`](reqcache::CacheLayer).
    ///
    /// # Errors
    /// reqwest's builder errors (an invalid URL or header).
    pub fn build_http(self) -> reqwest::Result<http::Request<Body>> {
        let mut request = http::Request::try_from(self.inner.build()?)?;
        if let Some(options) = self.options {
            request.extensions_mut().insert(options);
        }
        Ok(request)
    }

    /// The cache settings chosen so far, if any.
    pub fn cache_settings(&self) -> Option<RequestOptions> {
        self.options
    }

    /// Sends the request through the cache.
    ///
    /// # Errors
    /// reqwest's errors: the request could not be built or sent. The cache
    /// itself never fails a request.
    pub async fn send(self) -> reqwest::Result<reqwest::Response> {
        let options = self.options.unwrap_or_default();
        let request = self.inner.build()?;
        self.client.execute_with(request, options).await
    }

    /// A copy of the builder, when its body can be copied (not a stream).
    pub fn try_clone(&self) -> Option<Self> {
        Some(Self {
            client: self.client.clone(),
            inner: self.inner.try_clone()?,
            options: self.options,
        })
    }
}
