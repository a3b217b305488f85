//! What the cache answers from: [`CachedResponse`], and the listing form of
//! every record, [`EntryInfo`].

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version, header};

use super::chunks::BodyRef;
use super::kind::RecordKind;

/// A response as stored, with the (redacted) request that produced it.
///
/// Headers stay a native [`HeaderMap`] and the body a [`Bytes`], so answering a
/// hit from [`MemoryStorage`](crate::MemoryStorage) clones reference counts, not
/// data. Header order, repeated headers and non-UTF-8 values survive every
/// storage round trip.
///
/// # Example
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use reqcache::storage::{CachedRequest, CachedResponse};
///
/// let entry = CachedResponse::new(
///     http::StatusCode::OK,
///     http::HeaderMap::new(),
///     bytes::Bytes::from_static(b"hello"),
///     CachedRequest::new(http::Method::GET, "https://example.com/"),
///     UNIX_EPOCH,
/// )
/// .with_expires(Some(UNIX_EPOCH + Duration::from_secs(60)));
/// assert!(!entry.is_expired(UNIX_EPOCH + Duration::from_secs(59)));
/// assert!(entry.is_expired(UNIX_EPOCH + Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CachedResponse {
    /// The response status.
    pub status: StatusCode,
    /// The HTTP version the response came with.
    pub version: Version,
    /// The response headers, in their original order.
    pub headers: HeaderMap,
    /// The whole response body; empty when the body is kept in chunks
    /// ([`stored_body`](Self::stored_body)).
    pub body: Bytes,
    /// The request that produced the response, with ignored parameters and
    /// credentials removed.
    pub request: CachedRequest,
    /// When the response was received (or last revalidated).
    pub created_at: SystemTime,
    /// When the response stops being fresh; `None` means never.
    pub expires: Option<SystemTime>,
    /// When a storage may delete the entry; `None` means only by eviction or
    /// an explicit removal. Expired entries are kept until then, for
    /// revalidation and `stale_if_error`.
    pub retain_until: Option<SystemTime>,
    /// The body, when the storage keeps it apart in chunks
    /// ([`ChunkStore`](super::backend::ChunkStore)): then
    /// [`body`](Self::body) is empty and the layer streams the body from
    /// the storage.
    pub stored_body: Option<BodyRef>,
    /// The cache groups the response belongs to (RFC 9875 `Cache-Groups`,
    /// and `Surrogate-Key` or `Cache-Tag` when the layer reads them), each
    /// as a [`group_id`](super::group_id): scoped to the response's origin.
    /// Storages index them, so that a group is purged without a scan.
    pub groups: Vec<String>,
}

impl CachedResponse {
    /// A response received at `created_at` that never expires.
    pub fn new(
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        request: CachedRequest,
        created_at: SystemTime,
    ) -> Self {
        Self {
            status,
            version: Version::HTTP_11,
            headers,
            body,
            request,
            created_at,
            expires: None,
            retain_until: None,
            stored_body: None,
            groups: Vec::new(),
        }
    }

    /// Sets [`expires`](Self::expires).
    #[must_use]
    pub fn with_expires(mut self, expires: Option<SystemTime>) -> Self {
        self.expires = expires;
        self
    }

    /// Sets [`groups`](Self::groups): group ids, made by
    /// [`group_id`](super::group_id).
    ///
    /// ```
    /// # use std::time::UNIX_EPOCH;
    /// # use reqcache::storage::{group_id, CachedRequest, CachedResponse};
    /// let url = "https://example.com/products/42";
    /// let entry = CachedResponse::new(
    ///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new(),
    ///     CachedRequest::new(http::Method::GET, url), UNIX_EPOCH)
    ///     .with_groups(vec![group_id(url, "product-42")]);
    /// assert_eq!(entry.info("k").groups, ["https://example.com product-42"]);
    /// ```
    #[must_use]
    pub fn with_groups(mut self, groups: Vec<String>) -> Self {
        self.groups = groups;
        self
    }

    /// Sets [`retain_until`](Self::retain_until).
    #[must_use]
    pub fn with_retain_until(mut self, retain_until: Option<SystemTime>) -> Self {
        self.retain_until = retain_until;
        self
    }

    /// `true` when the response is no longer fresh at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }

    /// The body's length, in memory or in chunks.
    ///
    /// ```
    /// # use std::time::UNIX_EPOCH;
    /// # use reqcache::storage::{CachedRequest, CachedResponse};
    /// let entry = CachedResponse::new(
    ///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::from_static(b"hello"),
    ///     CachedRequest::new(http::Method::GET, "https://example.com/"), UNIX_EPOCH);
    /// assert_eq!(entry.body_len(), 5);
    /// ```
    pub fn body_len(&self) -> u64 {
        match &self.stored_body {
            Some(stored) => stored.len,
            None => self.body.len() as u64,
        }
    }

    /// When a storage with native expiry (Redis TTLs, MongoDB TTL indexes,
    /// DynamoDB TTL) may drop the entry: at its
    /// [`retain_until`](Self::retain_until), else `ttl_offset` past its
    /// expiry (so revalidation and stale-if-error still find it), else never.
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use reqcache::storage::{CachedRequest, CachedResponse};
    /// let entry = CachedResponse::new(
    ///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new(),
    ///     CachedRequest::new(http::Method::GET, "https://example.com/"), UNIX_EPOCH)
    ///     .with_expires(Some(UNIX_EPOCH + Duration::from_secs(60)));
    /// let hour = Some(Duration::from_secs(3600));
    /// assert_eq!(entry.native_expiry(hour), Some(UNIX_EPOCH + Duration::from_secs(3660)));
    /// assert_eq!(entry.native_expiry(None), None);
    /// ```
    pub fn native_expiry(&self, ttl_offset: Option<std::time::Duration>) -> Option<SystemTime> {
        native_expiry(self.retain_until, self.expires, ttl_offset)
    }

    /// `true` when a storage should no longer return the entry at `now`.
    pub fn is_past_retention(&self, now: SystemTime) -> bool {
        self.retain_until.is_some_and(|until| until <= now)
    }

    /// The stored `ETag`, if any.
    pub fn etag(&self) -> Option<&http::HeaderValue> {
        self.headers.get(header::ETAG)
    }

    /// The stored `Last-Modified`, if any.
    pub fn last_modified(&self) -> Option<&http::HeaderValue> {
        self.headers.get(header::LAST_MODIFIED)
    }

    /// `true` when the entry can be revalidated with a conditional request.
    pub fn has_validators(&self) -> bool {
        self.etag().is_some() || self.last_modified().is_some()
    }

    /// An estimate of the bytes the entry occupies: bodies, headers and URL.
    pub fn size(&self) -> u64 {
        let headers = |map: &HeaderMap| -> usize {
            map.iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 4)
                .sum()
        };
        let rest = headers(&self.headers)
            + self.request.body.len()
            + headers(&self.request.headers)
            + self.request.url.len()
            + 64;
        self.body_len().saturating_add(rest as u64)
    }

    /// The entry's metadata, as listings return it.
    pub fn info(&self, key: &str) -> EntryInfo {
        EntryInfo {
            key: key.to_owned(),
            kind: RecordKind::Response,
            method: self.request.method.clone(),
            url: self.request.url.clone(),
            status: self.status,
            size: self.size(),
            created_at: self.created_at,
            expires: self.expires,
            retain_until: self.retain_until,
            groups: self.groups.clone(),
        }
    }
}

/// The request a cached response answered, as stored: URL normalized, ignored
/// parameters and credentials removed from URL, headers and body.
///
/// # Example
/// ```
/// let request = reqcache::storage::CachedRequest::new(http::Method::GET, "https://example.com/a?b=1");
/// assert_eq!(request.url, "https://example.com/a?b=1");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CachedRequest {
    /// The request method.
    pub method: Method,
    /// The normalized, redacted URL (origin-form path for relative requests).
    pub url: String,
    /// The request headers, redacted.
    pub headers: HeaderMap,
    /// The request body, redacted.
    pub body: Bytes,
    /// `true` when credentials or redacted parameters were removed before
    /// storing: the entry's key cannot be recomputed from this record.
    pub redacted: bool,
}

impl CachedRequest {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            redacted: false,
        }
    }
}

/// A record's metadata, without its body: what listings return, for
/// responses and for the [aliases and vary indexes](super::StoredRecord) that
/// lead to them.
///
/// # Example
/// ```
/// # use std::time::UNIX_EPOCH;
/// # use reqcache::storage::{CachedRequest, CachedResponse};
/// let entry = CachedResponse::new(
///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new(),
///     CachedRequest::new(http::Method::GET, "https://example.com/"), UNIX_EPOCH);
/// let info = entry.info("some-key");
/// assert_eq!(info.url, "https://example.com/");
/// assert_eq!(info.status, http::StatusCode::OK);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// The cache key.
    pub key: String,
    /// What the record is: a response, an alias or a vary index.
    pub kind: RecordKind,
    /// The request method.
    pub method: Method,
    /// The normalized, redacted URL.
    pub url: String,
    /// The response status.
    pub status: StatusCode,
    /// An estimate of the stored size in bytes.
    pub size: u64,
    /// When the response was received or last revalidated.
    pub created_at: SystemTime,
    /// When it stops being fresh; `None` means never.
    pub expires: Option<SystemTime>,
    /// When a storage may delete it; `None` means never by itself.
    pub retain_until: Option<SystemTime>,
    /// A response's cache groups ([`CachedResponse::groups`]); empty for
    /// other records.
    pub groups: Vec<String>,
}

impl EntryInfo {
    /// `true` when the response is no longer fresh at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }

    /// `true` when a storage should no longer return the entry at `now`.
    pub fn is_past_retention(&self, now: SystemTime) -> bool {
        self.retain_until.is_some_and(|until| until <= now)
    }

    /// `true` when the record is a response in `group` (a
    /// [`group_id`](super::group_id)).
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// When a storage may delete the entry: as
    /// [`CachedResponse::native_expiry`], from the listing alone.
    pub fn native_expiry(&self, ttl_offset: Option<std::time::Duration>) -> Option<SystemTime> {
        native_expiry(self.retain_until, self.expires, ttl_offset)
    }
}

/// The retention, else `ttl_offset` past the expiry; `None`: kept.
pub(super) fn native_expiry(
    retain_until: Option<SystemTime>,
    expires: Option<SystemTime>,
    ttl_offset: Option<std::time::Duration>,
) -> Option<SystemTime> {
    retain_until.or_else(|| {
        let offset = ttl_offset?;
        expires.map(|e| e.checked_add(offset).unwrap_or(e))
    })
}
