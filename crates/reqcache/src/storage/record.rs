//! [`StoredRecord`]: what a storage keeps under a key — a response, an alias
//! of a redirected request, or the vary index of a response that varies.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderName, StatusCode};

use super::entry::{CachedRequest, CachedResponse, EntryInfo, native_expiry};
use super::kind::RecordKind;

/// What is stored under a key.
///
/// Most keys hold a [`Response`](Self::Response). Two kinds of bookkeeping
/// records lead lookups to one, and are never answered themselves:
/// an [`Alias`] (the inner service followed redirects: the response is under
/// the final URL's key) and a [`VaryIndex`] (the response varies on request
/// headers: each variant is under the key those headers select). Neither
/// copies the response, and [`Storage::len`](super::Storage::len) counts
/// responses only.
///
/// # Example
/// ```
/// use std::time::UNIX_EPOCH;
/// use reqcache::storage::{CachedRequest, CachedResponse};
/// use reqcache::storage::backend::{RecordKind, StoredRecord, VaryIndex};
///
/// let response = CachedResponse::new(
///     http::StatusCode::OK,
///     http::HeaderMap::new(),
///     bytes::Bytes::from_static(b"hello"),
///     CachedRequest::new(http::Method::GET, "https://example.com/"),
///     UNIX_EPOCH,
/// );
/// let index = StoredRecord::from(VaryIndex::new(vec![http::header::ACCEPT_LANGUAGE], &response));
/// assert_eq!(index.kind(), RecordKind::VaryIndex);
/// assert_eq!(index.request().url, "https://example.com/");
/// assert!(StoredRecord::from(response).as_response().is_some());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StoredRecord {
    /// A response, answered to requests it matches.
    Response(Arc<CachedResponse>),
    /// A redirected request's pointer to the final URL's record.
    Alias(Arc<Alias>),
    /// The request headers a response varies on: its variants are under the
    /// keys they select.
    VaryIndex(Arc<VaryIndex>),
}

/// The record of a request whose inner service followed redirects: the
/// response is stored under the final URL's key, [`target`](Self::target).
///
/// It carries the response's `Vary` names, so a lookup of a varying response
/// through an alias reads the alias and the variant: two reads, not three.
/// It lives as long as the response it was written with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Alias {
    /// The redirected request, as stored (normalized, redacted).
    pub request: CachedRequest,
    /// The key of the final URL's record.
    pub target: String,
    /// The names the target response varies on; empty when it does not vary.
    pub vary: Vec<HeaderName>,
    /// The status of the response it was written with.
    pub status: StatusCode,
    /// When the response it was written with was received.
    pub created_at: SystemTime,
    /// When that response stops being fresh.
    pub expires: Option<SystemTime>,
    /// When a storage may delete the alias.
    pub retain_until: Option<SystemTime>,
}

impl Alias {
    /// An alias of `request` to the record under `target`, written with the
    /// response `of` (whose times and `vary` names it takes).
    pub fn new(
        target: impl Into<String>,
        request: CachedRequest,
        vary: Vec<HeaderName>,
        of: &CachedResponse,
    ) -> Self {
        Self {
            request,
            target: target.into(),
            vary,
            status: of.status,
            created_at: of.created_at,
            expires: of.expires,
            retain_until: of.retain_until,
        }
    }
}

/// The record under a varying response's primary key: the request headers it
/// varies on. A lookup reads it, computes the variant's key from those
/// headers of the request, and reads the variant: two reads.
///
/// It is rewritten with every variant stored, and lives as long as the last.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct VaryIndex {
    /// The request of the last variant stored (method and URL; headers and
    /// body are not kept).
    pub request: CachedRequest,
    /// The `Vary` names, lowercase, in the response's order.
    pub vary: Vec<HeaderName>,
    /// The status of the last variant stored.
    pub status: StatusCode,
    /// When the last variant stored was received.
    pub created_at: SystemTime,
    /// When that variant stops being fresh.
    pub expires: Option<SystemTime>,
    /// When a storage may delete the index.
    pub retain_until: Option<SystemTime>,
}

impl VaryIndex {
    /// The index of the variants of `of`'s URL, which vary on `vary`.
    pub fn new(vary: Vec<HeaderName>, of: &CachedResponse) -> Self {
        Self {
            request: CachedRequest::new(of.request.method.clone(), of.request.url.clone()),
            vary,
            status: of.status,
            created_at: of.created_at,
            expires: of.expires,
            retain_until: of.retain_until,
        }
    }
}

impl StoredRecord {
    /// What the record is.
    pub fn kind(&self) -> RecordKind {
        match self {
            Self::Response(_) => RecordKind::Response,
            Self::Alias(_) => RecordKind::Alias,
            Self::VaryIndex(_) => RecordKind::VaryIndex,
        }
    }

    /// The response, if the record is one.
    pub fn as_response(&self) -> Option<&Arc<CachedResponse>> {
        match self {
            Self::Response(response) => Some(response),
            _ => None,
        }
    }

    /// The response, if the record is one.
    pub fn into_response(self) -> Option<Arc<CachedResponse>> {
        match self {
            Self::Response(response) => Some(response),
            _ => None,
        }
    }

    /// The request the record was written for (normalized, redacted).
    pub fn request(&self) -> &CachedRequest {
        match self {
            Self::Response(response) => &response.request,
            Self::Alias(alias) => &alias.request,
            Self::VaryIndex(index) => &index.request,
        }
    }

    fn times(
        &self,
    ) -> (
        StatusCode,
        SystemTime,
        Option<SystemTime>,
        Option<SystemTime>,
    ) {
        match self {
            Self::Response(r) => (r.status, r.created_at, r.expires, r.retain_until),
            Self::Alias(a) => (a.status, a.created_at, a.expires, a.retain_until),
            Self::VaryIndex(i) => (i.status, i.created_at, i.expires, i.retain_until),
        }
    }

    /// When the response the record was written with was received (or last
    /// revalidated).
    pub fn created_at(&self) -> SystemTime {
        self.times().1
    }

    /// When the response the record was written with stops being fresh.
    pub fn expires(&self) -> Option<SystemTime> {
        self.times().2
    }

    /// When a storage may delete the record; `None`: only by eviction or
    /// removal.
    pub fn retain_until(&self) -> Option<SystemTime> {
        self.times().3
    }

    /// `true` when the response the record was written with is no longer
    /// fresh at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires().is_some_and(|expires| expires <= now)
    }

    /// `true` when a storage should no longer return the record at `now`.
    pub fn is_past_retention(&self, now: SystemTime) -> bool {
        self.retain_until().is_some_and(|until| until <= now)
    }

    /// When a storage with native expiry may drop the record: see
    /// [`CachedResponse::native_expiry`].
    pub fn native_expiry(&self, ttl_offset: Option<Duration>) -> Option<SystemTime> {
        native_expiry(self.retain_until(), self.expires(), ttl_offset)
    }

    /// A copy of the record with new `expires` and `retain_until`.
    #[must_use]
    pub fn with_expiry(
        &self,
        expires: Option<SystemTime>,
        retain_until: Option<SystemTime>,
    ) -> Self {
        match self {
            Self::Response(response) => {
                let mut response = CachedResponse::clone(response);
                (response.expires, response.retain_until) = (expires, retain_until);
                response.into()
            }
            Self::Alias(alias) => {
                let mut alias = Alias::clone(alias);
                (alias.expires, alias.retain_until) = (expires, retain_until);
                alias.into()
            }
            Self::VaryIndex(index) => {
                let mut index = VaryIndex::clone(index);
                (index.expires, index.retain_until) = (expires, retain_until);
                index.into()
            }
        }
    }

    /// An estimate of the bytes the record occupies.
    pub fn size(&self) -> u64 {
        match self {
            Self::Response(response) => response.size(),
            Self::Alias(alias) => (alias.request.url.len() + alias.target.len() + 64) as u64,
            Self::VaryIndex(index) => {
                let names: usize = index.vary.iter().map(|n| n.as_str().len() + 1).sum();
                (index.request.url.len() + names + 64) as u64
            }
        }
    }

    /// The record's metadata, as listings return it.
    pub fn info(&self, key: &str) -> EntryInfo {
        let (status, created_at, expires, retain_until) = self.times();
        let request = self.request();
        EntryInfo {
            key: key.to_owned(),
            kind: self.kind(),
            method: request.method.clone(),
            url: request.url.clone(),
            status,
            size: self.size(),
            created_at,
            expires,
            retain_until,
            groups: self
                .as_response()
                .map(|entry| entry.groups.clone())
                .unwrap_or_default(),
        }
    }
}

/// What [`Storage::get_chain`](super::Storage::get_chain) read: a record, and
/// the record it leads to when the caller named one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordChain {
    /// The record under the key asked for.
    pub record: StoredRecord,
    /// The key the caller named from `record`, and what is stored under it.
    pub next: Option<(String, Option<StoredRecord>)>,
}

impl RecordChain {
    /// `record`, and what `next` names.
    pub fn new(record: StoredRecord, next: Option<(String, Option<StoredRecord>)>) -> Self {
        Self { record, next }
    }
}

impl From<Arc<CachedResponse>> for StoredRecord {
    fn from(response: Arc<CachedResponse>) -> Self {
        Self::Response(response)
    }
}

impl From<CachedResponse> for StoredRecord {
    fn from(response: CachedResponse) -> Self {
        Self::Response(Arc::new(response))
    }
}

impl From<Alias> for StoredRecord {
    fn from(alias: Alias) -> Self {
        Self::Alias(Arc::new(alias))
    }
}

impl From<VaryIndex> for StoredRecord {
    fn from(index: VaryIndex) -> Self {
        Self::VaryIndex(Arc::new(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn response() -> CachedResponse {
        CachedResponse::new(
            StatusCode::NOT_FOUND,
            http::HeaderMap::new(),
            bytes::Bytes::from_static(b"body"),
            CachedRequest::new(http::Method::GET, "https://example.com/a"),
            UNIX_EPOCH,
        )
        .with_expires(Some(UNIX_EPOCH + Duration::from_secs(10)))
        .with_retain_until(Some(UNIX_EPOCH + Duration::from_secs(20)))
    }

    #[test]
    fn every_kind_reports_the_times_and_status_it_was_written_with() {
        let of = response();
        let redirected = CachedRequest::new(http::Method::GET, "https://example.com/old");
        let records = [
            (
                StoredRecord::from(of.clone()),
                RecordKind::Response,
                "https://example.com/a",
            ),
            (
                Alias::new("k", redirected, Vec::new(), &of).into(),
                RecordKind::Alias,
                "https://example.com/old",
            ),
            (
                VaryIndex::new(vec![http::header::ACCEPT], &of).into(),
                RecordKind::VaryIndex,
                "https://example.com/a",
            ),
        ];
        for (record, kind, url) in records {
            let info = record.info("key");
            assert_eq!((info.kind, info.url.as_str()), (kind, url));
            assert_eq!(info.status, StatusCode::NOT_FOUND);
            assert_eq!(info.expires, of.expires);
            assert!(!record.is_past_retention(UNIX_EPOCH + Duration::from_secs(19)));
            assert!(record.is_past_retention(UNIX_EPOCH + Duration::from_secs(20)));
            assert_eq!(record.as_response().is_some(), kind.is_response());
        }
    }

    #[test]
    fn kind_codes_round_trip_and_unknown_codes_are_refused() {
        for kind in [
            RecordKind::Response,
            RecordKind::Alias,
            RecordKind::VaryIndex,
        ] {
            assert_eq!(RecordKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(RecordKind::from_code(3), None);
    }
}
