//! [`CacheHandle`]: the handle for managing a layer's cache, and what its
//! calls take and give: [`EntryFilter`], [`Purge`] and [`PurgeReport`],
//! [`RekeyReport`], [`CacheStats`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::{Request, Uri};

mod entry_filter;
mod purge;

use crate::key::{CacheKey, variant_key};
use crate::policy::expiration::Expiration;
use crate::policy::{storable, vary};
use crate::runtime::Shared;
pub use crate::runtime::stats::CacheStats;
use crate::storage::backend::portable_record;
use crate::storage::{
    Alias, CachedResponse, EntryInfo, Storage, StorageError, StoredRecord, VaryIndex,
};
pub use entry_filter::EntryFilter;
pub use purge::{GlobError, Purge, PurgeReport};

/// What [`CacheHandle::rekey`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RekeyReport {
    /// Entries moved to a new key.
    pub rekeyed: u64,
    /// Entries already under the right key.
    pub unchanged: u64,
    /// Entries left as they were: their requests had credentials or redacted
    /// parameters removed, or an unreadable URL.
    pub skipped: u64,
}

/// The handle to a layer's cache: clear it, delete, list, look up.
///
/// Get it from [`CacheLayer::cache`](crate::CacheLayer::cache) or
/// [`CacheService::cache`](crate::CacheService::cache); clones are cheap and
/// share everything. Unlike requests on the layer, these calls return storage
/// errors to the caller, and each first waits for the writes pending behind
/// responses ([`flush`](Self::flush)), so it sees what the layer has answered.
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let layer = CacheLayer::new(MemoryStorage::new());
/// let cache = layer.cache();
/// assert_eq!(cache.len().await?, 0);
/// assert!(!cache.contains_url("https://example.com/").await?);
/// cache.clear().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CacheHandle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for CacheHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHandle")
            .field("storage", &self.shared.storage)
            .field("settings", &self.shared.settings)
            .field("clock", &self.shared.clock)
            .finish()
    }
}

impl CacheHandle {
    /// The storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.shared.storage
    }

    /// What the cache has done since the layer was built: hits, misses,
    /// writes, revalidations, stale answers and storage failures.
    pub fn stats(&self) -> CacheStats {
        let mut stats = self.shared.counters.snapshot();
        stats.read_breaker_open = self.shared.read_breaker.is_open();
        stats.write_breaker_open = self.shared.write_breaker.is_open();
        stats.pending_writes = self.shared.writes.pending() as u64;
        stats
    }

    /// Waits until every storage write the layer has made behind its
    /// responses is done (or has failed), background fills included: for
    /// tests, for a server before it exits, and for shutdown.
    ///
    /// What it waits for depends on the [`WriteMode`](crate::WriteMode)
    /// (set with
    /// [`CacheLayerBuilder::write_mode`](crate::CacheLayerBuilder::write_mode)):
    ///
    /// - `Durable` (a private cache's default): a miss's body ends only once
    ///   its entry is written, so a caller that has read its responses to
    ///   the end need not flush. What is left for `flush` are the bodies
    ///   dropped unread that the
    ///   [`background_fill`](crate::CacheLayerBuilder::background_fill) is
    ///   finishing, and the refreshes after a `304` or a
    ///   `stale-while-revalidate` answer.
    /// - `Behind` (a shared cache's default, and `reqcache proxy`'s): a
    ///   response's entry is written once its body has been read to the
    ///   end, behind the response; await `flush` before the program ends,
    ///   or the last writes may be lost. The proxy does at shutdown.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = CacheLayer::new(MemoryStorage::new());
    /// layer.cache().flush().await;
    /// assert_eq!(layer.cache().stats().pending_writes, 0);
    /// # }
    /// ```
    pub async fn flush(&self) {
        self.shared.writes.flush().await;
    }

    /// The storage, once the writes behind responses are done: every call
    /// of this handle sees (and clears, deletes, lists) what the layer has
    /// answered so far, never a write that lands after it.
    async fn settled(&self) -> &Arc<dyn Storage> {
        self.flush().await;
        &self.shared.storage
    }

    /// The current time by the layer's clock.
    pub fn now(&self) -> SystemTime {
        self.shared.clock.now()
    }

    /// The key the layer computes for `request` (the body is part of it).
    pub fn key_for<B: AsRef<[u8]>>(&self, request: &Request<B>) -> CacheKey {
        self.shared.settings.key.key(
            request.method(),
            request.uri(),
            request.headers(),
            request.body().as_ref(),
        )
    }

    /// `url` normalized as stored entries' URLs are: lower-case scheme and
    /// host, default port dropped, query sorted, ignored parameters removed.
    /// A string that is not a URI is returned as is.
    pub fn normalize_url(&self, url: &str) -> String {
        match url.parse::<Uri>() {
            Ok(uri) => self.shared.settings.key.normalize.normalized_url(&uri),
            Err(_) => url.to_owned(),
        }
    }

    /// Deletes every entry.
    pub async fn clear(&self) -> Result<(), StorageError> {
        self.settled().await.clear().await
    }

    /// Deletes the entry under `key`; `true` if there was one.
    pub async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.settled().await.delete(key).await
    }

    /// Deletes the entries for `url` (normalized first), whatever their
    /// method or matched headers; returns how many.
    pub async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        self.settled()
            .await
            .delete_url(&self.normalize_url(url))
            .await
    }

    /// `true` when a record (fresh or expired) is stored under `key`: a
    /// response, or an alias or a vary index that leads to one.
    pub async fn contains(&self, key: &str) -> Result<bool, StorageError> {
        self.settled().await.contains(key, self.now()).await
    }

    /// The key of a plain `GET` of `url` (no body, no headers): what
    /// [`contains_get`](Self::contains_get) and [`delete_get`](Self::delete_get)
    /// look under. `None` for text that is not a URI.
    pub fn key_for_get(&self, url: &str) -> Option<CacheKey> {
        let request = Request::get(url.parse::<Uri>().ok()?).body(()).ok()?;
        let (head, ()) = request.into_parts();
        Some(
            self.shared
                .settings
                .key
                .key(&head.method, &head.uri, &head.headers, &[]),
        )
    }

    /// `true` when a response to a plain `GET` of `url` is stored (fresh or
    /// expired): requests-cache's `cache.contains(url=...)`. Requests with
    /// matched headers, credentials or a body have other keys; ask for those
    /// with [`contains_request`](Self::contains_request). Text that is not a
    /// URI is never stored.
    ///
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = CacheLayer::new(MemoryStorage::new());
    /// assert!(!layer.cache().contains_get("https://example.com/a").await.unwrap());
    /// assert!(!layer.cache().delete_get("https://example.com/a").await.unwrap());
    /// # }
    /// ```
    pub async fn contains_get(&self, url: &str) -> Result<bool, StorageError> {
        match self.key_for_get(url) {
            Some(key) => self.contains(&key).await,
            None => Ok(false),
        }
    }

    /// Deletes the stored response to a plain `GET` of `url`; `true` if
    /// there was one. [`delete_url`](Self::delete_url) deletes every entry of
    /// the URL, whatever its method or headers.
    pub async fn delete_get(&self, url: &str) -> Result<bool, StorageError> {
        match self.key_for_get(url) {
            Some(key) => self.delete(&key).await,
            None => Ok(false),
        }
    }

    /// `true` when any entry is stored for `url` (normalized first).
    pub async fn contains_url(&self, url: &str) -> Result<bool, StorageError> {
        let url = self.normalize_url(url);
        Ok(self.entries().await?.iter().any(|entry| entry.url == url))
    }

    /// The response under `key`, if any (`None` for an alias or a vary
    /// index).
    pub async fn get(&self, key: &str) -> Result<Option<Arc<CachedResponse>>, StorageError> {
        self.settled().await.get(key, self.now()).await
    }

    /// How many responses are stored, expired ones included (aliases and
    /// vary indexes are not counted).
    pub async fn len(&self) -> Result<u64, StorageError> {
        self.settled().await.len().await
    }

    /// `true` when nothing is stored.
    pub async fn is_empty(&self) -> Result<bool, StorageError> {
        self.settled().await.is_empty().await
    }

    /// The metadata of every record: key, kind (a response, an alias or a
    /// vary index), method, URL, status, size, created and expiry times.
    pub async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.settled().await.entries().await
    }

    /// The URL of every stored response, sorted, each once:
    /// requests-cache's `session.cache.urls()`. URLs are as stored
    /// (normalized; redacted parameters left out), so two entries for one
    /// URL that differ by credentials, a redacted parameter or a `Vary`
    /// header show as one.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
    /// let layer = CacheLayer::new(MemoryStorage::new());
    /// assert!(layer.cache().urls().await?.is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn urls(&self) -> Result<Vec<String>, StorageError> {
        let mut urls: Vec<String> = self
            .entries()
            .await?
            .into_iter()
            .filter(|entry| entry.kind.is_response())
            .map(|entry| entry.url)
            .collect();
        urls.sort_unstable();
        urls.dedup();
        Ok(urls)
    }

    /// Deletes the expired entries; returns how many.
    pub async fn remove_expired(&self) -> Result<u64, StorageError> {
        self.settled().await.remove_expired(self.now()).await
    }

    /// requests-cache's `remove_expired_responses(expire_after=..)`: gives
    /// every stored entry, expired or not, a new expiry of `expire_after` from
    /// now, then deletes what is expired (with
    /// [`Expiration::Immediately`], everything). Returns how many were deleted.
    pub async fn remove_expired_with(
        &self,
        expire_after: impl Into<Expiration>,
    ) -> Result<u64, StorageError> {
        self.reset_expiration(expire_after).await?;
        self.settled().await.remove_expired(self.now()).await
    }

    /// Purges what `purge` selects: deletes it, or marks it stale when the
    /// purge is [soft](Purge::soft). Through a
    /// [`TieredStorage`](crate::TieredStorage) with a bus, every
    /// instance's in-process copies go too.
    ///
    /// A group, and a URL purged hard, are found through the storage's
    /// indexes; a prefix, a glob, and a URL purged soft list the stored
    /// metadata (never the bodies). A soft purge reads each response and
    /// writes it back with its freshness ended: a response stored again
    /// between the two is overwritten by the stale copy of the one before
    /// it, which the next request revalidates (a conditional request, as
    /// for every soft-purged entry).
    ///
    /// # Errors
    /// The storage's, as every handle call returns them.
    ///
    /// # Example
    /// ```
    /// use reqcache::{CacheLayer, MemoryStorage};
    /// use reqcache::handle::Purge;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
    /// let cache = CacheLayer::new(MemoryStorage::new()).cache().clone();
    /// let report = cache.purge(&Purge::group("https://example.com", "product-42")).await?;
    /// assert_eq!(report.purged, 0);
    /// # Ok(()) }
    /// ```
    pub async fn purge(&self, purge: &Purge) -> Result<PurgeReport, StorageError> {
        let storage = self.settled().await;
        purge::run(storage, purge, |url| self.normalize_url(url), self.now()).await
    }

    /// Deletes every entry `filter` selects; returns how many.
    pub async fn delete_where(&self, filter: &EntryFilter) -> Result<u64, StorageError> {
        let storage = self.settled().await;
        let mut deleted = 0;
        for info in self.select(filter).await? {
            if storage.delete(&info.key).await? {
                deleted += 1;
            }
        }
        if filter.undecodable {
            deleted += self.remove_undecodable().await?;
        }
        Ok(deleted)
    }

    /// The metadata of every entry `filter` selects.
    pub async fn entries_where(
        &self,
        filter: &EntryFilter,
    ) -> Result<Vec<EntryInfo>, StorageError> {
        let mut selected = self.select(filter).await?;
        if filter.undecodable {
            let now = self.now();
            for info in self.settled().await.entries().await? {
                if !selected.iter().any(|s| s.key == info.key)
                    && self
                        .shared
                        .storage
                        .get_record(&info.key, now)
                        .await?
                        .is_none()
                {
                    selected.push(info);
                }
            }
        }
        Ok(selected)
    }

    async fn select(&self, filter: &EntryFilter) -> Result<Vec<EntryInfo>, StorageError> {
        let urls: Vec<String> = filter.urls.iter().map(|u| self.normalize_url(u)).collect();
        let now = self.now();
        Ok(self
            .shared
            .storage
            .entries()
            .await?
            .into_iter()
            .filter(|info| filter.matches(info, &urls, now))
            .collect())
    }

    /// Reads every record; the storage deletes those that do not decode.
    async fn remove_undecodable(&self) -> Result<u64, StorageError> {
        let storage = self.settled().await;
        let now = self.now();
        let mut removed = 0;
        for info in storage.entries().await? {
            if storage.get_record(&info.key, now).await?.is_none() {
                storage.delete(&info.key).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// `true` when an entry is stored for `request` (its key, as the layer
    /// computes it).
    pub async fn contains_request<B: AsRef<[u8]>>(
        &self,
        request: &Request<B>,
    ) -> Result<bool, StorageError> {
        self.contains(&self.key_for(request)).await
    }

    /// Gives every stored record a new expiry: `expire_after` from now
    /// ([`Expiration::Immediately`] or a past time: expired now). Returns how
    /// many responses were updated (their aliases and vary indexes are too).
    pub async fn reset_expiration(
        &self,
        expire_after: impl Into<Expiration>,
    ) -> Result<u64, StorageError> {
        let expire_after = expire_after.into();
        let now = self.now();
        let expires = expire_after.expires_at(now).unwrap_or(Some(now));
        let storage = self.settled().await;
        let mut updated = 0;
        let retain_until = storable::retain_until(&self.shared.settings.rules, expires);
        for info in storage.entries().await? {
            let Some(record) = storage.get_record(&info.key, now).await? else {
                continue;
            };
            updated += u64::from(record.kind().is_response());
            storage
                .put_record(&info.key, record.with_expiry(expires, retain_until))
                .await?;
        }
        Ok(updated)
    }

    /// Copies every record into `destination` (another storage: migrating
    /// between backends), under the same keys. Returns how many responses
    /// (their aliases and vary indexes are copied too).
    pub async fn copy_to(&self, destination: &dyn Storage) -> Result<u64, StorageError> {
        let source = self.settled().await;
        let now = self.now();
        let mut copied = 0;
        for info in source.entries().await? {
            let Some(record) = source.get_record(&info.key, now).await? else {
                continue;
            };
            // A body kept in chunks goes with it.
            let chunks = destination.chunks();
            let Some(record) = portable_record(&**source, chunks.as_deref(), record).await? else {
                continue;
            };
            copied += u64::from(record.kind().is_response());
            destination.put_record(&info.key, record).await?;
        }
        Ok(copied)
    }

    /// Moves every entry to the key the current settings compute for its
    /// stored request: after a change of key settings (ignored parameters,
    /// matched headers, a key function) or of reqcache's key format.
    ///
    /// Entries whose requests had credentials or redacted parameters removed
    /// cannot have their keys recomputed (the removed values were part of
    /// them): they are left as they are and counted as skipped. Aliases move
    /// with their targets; vary indexes are rebuilt from the variants they
    /// lead to.
    pub async fn rekey(&self) -> Result<RekeyReport, StorageError> {
        let storage = self.settled().await;
        let now = self.now();
        let settings = &self.shared.settings.key;
        let mut report = RekeyReport::default();
        // (old key, new key, record) for responses and aliases; vary indexes
        // are rebuilt from the variants they lead to.
        let mut moves: Vec<(String, String, StoredRecord)> = Vec::new();
        let mut indexes: Vec<(String, VaryIndex)> = Vec::new();
        let mut old_indexes: Vec<String> = Vec::new();
        for info in storage.entries().await? {
            let Some(record) = storage.get_record(&info.key, now).await? else {
                continue;
            };
            if let StoredRecord::VaryIndex(_) = record {
                old_indexes.push(info.key);
                continue;
            }
            let request = record.request();
            let uri = match request.url.parse::<Uri>() {
                Ok(uri) if !request.redacted => uri,
                _ => {
                    report.skipped += 1;
                    continue;
                }
            };
            let primary = settings.key(&request.method, &uri, &request.headers, &request.body);
            let names = match &record {
                StoredRecord::Response(entry) => vary::vary_names(&entry.headers),
                _ => None,
            };
            let key = match (names, &record) {
                (Some(names), StoredRecord::Response(entry)) if !names.is_empty() => {
                    let Some(variant) =
                        variant_key(&settings.normalize, &primary, &names, &request.headers)
                    else {
                        report.skipped += 1;
                        continue;
                    };
                    indexes.push((primary.to_string(), VaryIndex::new(names, entry)));
                    variant
                }
                _ => primary,
            };
            if key.as_str() == info.key {
                report.unchanged += 1;
            } else {
                moves.push((info.key, key.to_string(), record));
            }
        }
        // The index of the latest variant of each URL is written last.
        indexes.sort_by_key(|(_, index)| index.created_at);
        let renamed: std::collections::HashMap<&str, &str> = moves
            .iter()
            .map(|(old, new, _)| (old.as_str(), new.as_str()))
            .collect();
        let written: std::collections::HashSet<&str> = moves
            .iter()
            .map(|(_, new, _)| new.as_str())
            .chain(indexes.iter().map(|(key, _)| key.as_str()))
            .collect();
        for (old, new, record) in &moves {
            let record = match record {
                StoredRecord::Alias(alias) => match renamed.get(alias.target.as_str()) {
                    Some(target) => {
                        let mut alias = Alias::clone(alias);
                        alias.target = (*target).to_owned();
                        alias.into()
                    }
                    None => record.clone(),
                },
                other => other.clone(),
            };
            // Its own copy of a body kept in chunks: removing the old key
            // takes the old copy.
            let chunks = storage.chunks();
            let Some(record) = portable_record(&**storage, chunks.as_deref(), record).await? else {
                continue;
            };
            storage.put_record(new, record).await?;
            if !written.contains(old.as_str()) {
                storage.delete(old).await?;
            }
            report.rekeyed += 1;
        }
        for (key, index) in &indexes {
            storage.put_record(key, index.clone().into()).await?;
        }
        for old in old_indexes {
            if !written.contains(old.as_str()) {
                storage.delete(&old).await?;
            }
        }
        Ok(report)
    }
}
