//! [`EntryMetadata`]: an entry's metadata in a serializable form, for
//! storages that keep it apart from the value.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::backend::unix_time::{from_unix_nanos, to_unix_nanos};
use super::entry::{CachedResponse, EntryInfo};
use super::kind::RecordKind;

/// What listings need of a record (a response, an alias or a vary index), in plain serializable fields (times as
/// nanoseconds since the Unix epoch). Storages that keep metadata apart from
/// values (Redis hashes, file sidecars) store this, so listing never decodes
/// a value.
///
/// # Example
/// ```
/// # use std::time::UNIX_EPOCH;
/// # use reqcache::storage::{CachedRequest, CachedResponse};
/// # use reqcache::storage::backend::EntryMetadata;
/// let entry = CachedResponse::new(
///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new(),
///     CachedRequest::new(http::Method::GET, "https://example.com/"), UNIX_EPOCH);
/// let metadata = EntryMetadata::of(&entry);
/// assert_eq!(metadata.url(), "https://example.com/");
/// assert_eq!(metadata.info("k".into()).unwrap(), entry.info("k"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMetadata {
    method: String,
    url: String,
    status: u16,
    size: u64,
    created_ns: i64,
    expires_ns: Option<i64>,
    retain_ns: Option<i64>,
    /// The [`RecordKind`] code; absent (a response) in metadata written
    /// before records had kinds.
    #[serde(default)]
    kind: u8,
    /// The response's cache groups; absent when it has none (and in
    /// metadata written before groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
}

impl EntryMetadata {
    /// The metadata of `entry`.
    pub fn of(entry: &CachedResponse) -> Self {
        Self::from_info(&entry.info(""))
    }

    /// The metadata of a listing record (its key is not kept).
    ///
    /// ```
    /// # use std::time::UNIX_EPOCH;
    /// # use reqcache::storage::{CachedRequest, CachedResponse};
    /// # use reqcache::storage::backend::EntryMetadata;
    /// let entry = CachedResponse::new(
    ///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new(),
    ///     CachedRequest::new(http::Method::GET, "https://example.com/"), UNIX_EPOCH);
    /// assert_eq!(EntryMetadata::from_info(&entry.info("k")), EntryMetadata::of(&entry));
    /// ```
    pub fn from_info(info: &EntryInfo) -> Self {
        Self {
            method: info.method.as_str().to_owned(),
            url: info.url.clone(),
            status: info.status.as_u16(),
            size: info.size,
            created_ns: to_unix_nanos(info.created_at),
            expires_ns: info.expires.map(to_unix_nanos),
            retain_ns: info.retain_until.map(to_unix_nanos),
            kind: info.kind.code(),
            groups: info.groups.clone(),
        }
    }

    /// What the record is.
    pub fn kind(&self) -> Option<RecordKind> {
        RecordKind::from_code(self.kind)
    }

    /// The stored (normalized) URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The response's cache groups ([`group_id`](super::group_id)s).
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// The listing form, under `key`; `None` when a field does not parse
    /// (a corrupt record).
    pub fn info(&self, key: String) -> Option<EntryInfo> {
        Some(EntryInfo {
            key,
            kind: self.kind()?,
            method: http::Method::from_bytes(self.method.as_bytes()).ok()?,
            url: self.url.clone(),
            status: http::StatusCode::from_u16(self.status).ok()?,
            size: self.size,
            created_at: from_unix_nanos(self.created_ns),
            expires: self.expires_ns.map(from_unix_nanos),
            retain_until: self.retain_ns.map(from_unix_nanos),
            groups: self.groups.clone(),
        })
    }
}

/// A record of metadata that a storage keeps apart from the value (a
/// file's sidecar, a field of a Redis hash): an [`EntryMetadata`] and
/// whatever else that storage needs beside it, in MessagePack.
///
/// # Example
/// ```
/// # use std::time::UNIX_EPOCH;
/// use reqcache::storage::backend::Sidecar;
/// use reqcache::storage::{CachedRequest, CachedResponse};
/// use reqcache::storage::backend::EntryMetadata;
///
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Meta {
///     entry: EntryMetadata,
///     shard: u8,
/// }
///
/// impl Sidecar for Meta {
///     fn metadata(&self) -> &EntryMetadata {
///         &self.entry
///     }
/// }
///
/// let entry = CachedResponse::new(
///     http::StatusCode::OK, http::HeaderMap::new(), bytes::Bytes::new(),
///     CachedRequest::new(http::Method::GET, "https://example.com/"), UNIX_EPOCH);
/// let meta = Meta { entry: EntryMetadata::of(&entry), shard: 3 };
/// let back = Meta::decode(&meta.encode()).unwrap();
/// assert_eq!((back.url(), back.shard), ("https://example.com/", 3));
/// assert!(Meta::decode(b"not messagepack").is_none());
/// ```
pub trait Sidecar: Serialize + DeserializeOwned {
    /// The entry's metadata in it.
    fn metadata(&self) -> &EntryMetadata;

    /// Its bytes.
    fn encode(&self) -> Vec<u8> {
        // Plain data: encoding into a Vec cannot fail.
        rmp_serde::to_vec(self).unwrap_or_default()
    }

    /// It again from its bytes; `None` for bytes that are not one (a
    /// corrupt or foreign record).
    fn decode(bytes: &[u8]) -> Option<Self> {
        rmp_serde::from_slice(bytes).ok()
    }

    /// The URL of the entry it describes.
    fn url(&self) -> &str {
        self.metadata().url()
    }
}
