//! [`Purge`]: what [`CacheHandle::purge`](super::CacheHandle::purge)
//! removes or marks stale, and [`PurgeReport`], what it did.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use globset::{GlobBuilder, GlobMatcher};

use crate::storage::{EntryInfo, Storage, StorageError, StoredRecord, group_id};

/// What to purge: the entries of a URL, of every URL under a prefix or
/// matching a glob, or of a cache group (RFC 9875); hard (deleted, the
/// default) or [soft](Self::soft) (marked stale).
///
/// # Example
/// ```
/// use reqcache::handle::Purge;
///
/// let by_url = Purge::url("https://example.com/products/42");
/// let by_prefix = Purge::prefix("https://example.com/products/").soft();
/// let by_glob = Purge::glob("https://example.com/*/42").unwrap();
/// let by_group = Purge::group("https://example.com", "product-42");
/// assert!(by_prefix.is_soft() && !by_url.is_soft());
/// assert!(Purge::glob("https://example.com/[").is_err());
/// # let _ = (by_glob, by_group);
/// ```
#[derive(Clone)]
#[must_use]
pub struct Purge {
    target: Target,
    soft: bool,
}

#[derive(Clone)]
enum Target {
    Url(String),
    Prefix(String),
    Glob(String, GlobMatcher),
    Group(String),
}

impl fmt::Debug for Purge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, value) = match &self.target {
            Target::Url(url) => ("url", url),
            Target::Prefix(prefix) => ("prefix", prefix),
            Target::Glob(pattern, _) => ("glob", pattern),
            Target::Group(group) => ("group", group),
        };
        f.debug_struct("Purge")
            .field(kind, value)
            .field("soft", &self.soft)
            .finish()
    }
}

/// A glob that does not compile.
///
/// ```
/// let error = reqcache::handle::Purge::glob("https://e.com/[").unwrap_err();
/// assert!(error.to_string().starts_with("invalid glob \"https://e.com/[\""));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("invalid glob {pattern:?}: {source}")]
pub struct GlobError {
    pattern: String,
    #[source]
    source: globset::Error,
}

impl Purge {
    /// Every entry stored for `url`, whatever its method or variant. The
    /// URL is normalized as the layer normalizes the URLs it stores
    /// ([`CacheHandle::normalize_url`](super::CacheHandle::normalize_url)).
    pub fn url(url: impl Into<String>) -> Self {
        Self::hard(Target::Url(url.into()))
    }

    /// Every entry whose stored (normalized) URL starts with `prefix`,
    /// compared byte for byte: `https://example.com/api/` takes
    /// everything under `/api/` on that origin.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::hard(Target::Prefix(prefix.into()))
    }

    /// Every entry whose stored (normalized) URL matches the glob
    /// `pattern` as a whole; `*` crosses `/` (`https://example.com/*.css`).
    ///
    /// # Errors
    /// A pattern that is not a valid glob.
    pub fn glob(pattern: &str) -> Result<Self, GlobError> {
        let matcher = GlobBuilder::new(pattern)
            .literal_separator(false)
            .build()
            .map_err(|source| GlobError {
                pattern: pattern.to_owned(),
                source,
            })?
            .compile_matcher();
        Ok(Self::hard(Target::Glob(pattern.to_owned(), matcher)))
    }

    /// Every response in the cache group `name` of `origin`
    /// (`https://example.com`; a URL on it will do): the responses that
    /// named `name` in `Cache-Groups` (or, when the layer reads them,
    /// `Surrogate-Key` or `Cache-Tag`). Found through the storage's group
    /// index, without a scan.
    pub fn group(origin: &str, name: &str) -> Self {
        Self::hard(Target::Group(group_id(origin, name)))
    }

    /// Marks the entries stale instead of deleting them: they are no
    /// longer answered as fresh, but a later request revalidates them
    /// (`304` keeps the body), and they still stand in for upstream
    /// errors under `stale-if-error`, or within `stale-while-revalidate`.
    pub fn soft(mut self) -> Self {
        self.soft = true;
        self
    }

    /// `true` for a soft purge.
    pub fn is_soft(&self) -> bool {
        self.soft
    }

    fn hard(target: Target) -> Self {
        Self {
            target,
            soft: false,
        }
    }
}

/// What [`CacheHandle::purge`](super::CacheHandle::purge) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Records deleted (hard) or responses marked stale (soft).
    pub purged: u64,
    /// `true` for a soft purge.
    pub soft: bool,
}

/// Runs `purge` on `storage` at `now`, URLs normalized by `normalize`:
/// what [`CacheHandle::purge`](super::CacheHandle::purge) does once the
/// pending writes are flushed.
pub(super) async fn run(
    storage: &Arc<dyn Storage>,
    purge: &Purge,
    normalize: impl Fn(&str) -> String,
    now: SystemTime,
) -> Result<PurgeReport, StorageError> {
    let purged = match (&purge.target, purge.soft) {
        (Target::Url(url), false) => storage.delete_url(&normalize(url)).await?,
        (Target::Group(group), false) => storage.delete_group(group).await?,
        (Target::Group(group), true) => {
            let keys = storage.group_keys(group).await?;
            mark_stale(storage, keys, now).await?
        }
        (target, soft) => {
            let url = match target {
                Target::Url(url) => normalize(url),
                _ => String::new(),
            };
            let selected = storage
                .entries()
                .await?
                .into_iter()
                .filter(|info| selects(target, &url, info));
            if soft {
                let keys = selected
                    .filter(|info| info.kind.is_response())
                    .map(|info| info.key);
                mark_stale(storage, keys, now).await?
            } else {
                let mut deleted = 0;
                for info in selected {
                    deleted += u64::from(storage.delete(&info.key).await?);
                }
                deleted
            }
        }
    };
    // URLs as normalized: the layer's ignored parameters (secrets) never
    // reach the log.
    let (kind, target) = match &purge.target {
        Target::Url(url) => ("url", normalize(url)),
        Target::Prefix(prefix) => ("prefix", normalize(prefix)),
        Target::Glob(pattern, _) => ("glob", pattern.clone()),
        Target::Group(group) => ("group", group.clone()),
    };
    tracing::info!(kind, target, soft = purge.soft, purged, "reqcache: purged");
    Ok(PurgeReport {
        purged,
        soft: purge.soft,
    })
}

/// Rewrites the responses under `keys` with their freshness ended at
/// `now`; how many there were.
async fn mark_stale(
    storage: &Arc<dyn Storage>,
    keys: impl IntoIterator<Item = String>,
    now: SystemTime,
) -> Result<u64, StorageError> {
    let mut marked = 0;
    for key in keys {
        let Some(StoredRecord::Response(entry)) = storage.get_record(&key, now).await? else {
            continue;
        };
        marked += 1;
        if entry.is_expired(now) {
            continue;
        }
        let mut stale = (*entry).clone();
        stale.expires = Some(now);
        storage.put_record(&key, StoredRecord::from(stale)).await?;
    }
    Ok(marked)
}

/// Whether a purge by URL (`url`, normalized), prefix or glob selects the
/// record `info`.
fn selects(target: &Target, url: &str, info: &EntryInfo) -> bool {
    match target {
        Target::Url(_) => info.url == url,
        Target::Prefix(prefix) => info.url.starts_with(prefix.as_str()),
        Target::Glob(_, matcher) => matcher.is_match(&info.url),
        Target::Group(group) => info.in_group(group),
    }
}
