//! Finding a stored response for a request (aliases, `Vary` variants, `HEAD`
//! answered from `GET`), and judging whether it may be used.

use std::sync::Arc;

use http::{HeaderMap, Method};

use crate::cache_control::CacheControl;
use crate::entry::CachedResponse;
use crate::flow::{Context, Found};
use crate::freshness::CacheMode;
use crate::key::CacheKey;
use crate::policy::{self, VaryHeader};
use crate::stats::Counter;

/// What may be done with a stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usability {
    /// Fresh: answer it.
    Fresh,
    /// Stale, but the request accepts it (`max-stale`): answer it.
    AcceptedStale,
    /// Stale within its `stale-while-revalidate` window: answer it, and
    /// refresh it in the background.
    StaleWhileRevalidate,
    /// Go upstream (conditionally, when it has validators).
    Stale,
}

impl Context<'_> {
    /// The stored response for `request`, if any is usable for its headers:
    /// under its own key (through an alias, or the variant its `Vary` headers
    /// select), or for `HEAD`, the `GET` response. A failed read is a miss; an
    /// alias whose target is gone is pruned.
    pub(crate) async fn lookup(
        &self,
        request: &http::request::Parts,
        body: &[u8],
    ) -> Option<Found> {
        if let Some(found) = self.lookup_key(self.key.clone(), &request.headers).await {
            return Some(found);
        }
        if request.method == Method::HEAD {
            let get = self
                .settings()
                .key
                .key(&Method::GET, &request.uri, &request.headers, body);
            return self.lookup_key(get, &request.headers).await;
        }
        None
    }

    async fn lookup_key(&self, key: CacheKey, headers: &HeaderMap) -> Option<Found> {
        let mut found = Found {
            entry: self.read(&key).await?,
            key,
        };
        if let Some(target) = found.entry.alias_for.clone() {
            let target = CacheKey::custom(target);
            let Some(entry) = self.read(&target).await else {
                self.delete(&found.key).await;
                return None;
            };
            found = Found { key: target, entry };
        }
        // `Vary: *` (or an unreadable Vary) never matches.
        let names = policy::vary_names(&found.entry.headers)?;
        if names.is_empty() || self.vary_matches(&found.entry, headers) {
            return Some(found);
        }
        // Another variant: under the key its Vary headers select.
        let variant = self.variant_key(&found.key, &names, headers)?;
        let entry = self.read(&variant).await?;
        self.vary_matches(&entry, headers).then_some(Found {
            key: variant,
            entry,
        })
    }

    fn vary_matches(&self, entry: &CachedResponse, headers: &HeaderMap) -> bool {
        let key_settings = &self.settings().key;
        policy::vary_matches(&entry.headers, &entry.request.headers, headers, |name| {
            key_settings.classify_vary(name)
        })
    }

    /// The key of the variant of `primary` that `headers` select; `None` when
    /// the response varies on a header whose value is never stored (the
    /// variant could not be told apart safely).
    pub(crate) fn variant_key(
        &self,
        primary: &CacheKey,
        names: &[http::HeaderName],
        headers: &HeaderMap,
    ) -> Option<CacheKey> {
        let key_settings = &self.settings().key;
        let mut material = Vec::with_capacity(64);
        material.extend_from_slice(b"variant\0");
        material.extend_from_slice(primary.as_bytes());
        for name in names {
            match key_settings.classify_vary(name) {
                VaryHeader::Redacted => return None,
                VaryHeader::InKey => {}
                VaryHeader::Compare => {
                    material.push(0);
                    material.extend_from_slice(name.as_str().as_bytes());
                    material.push(0);
                    material.extend_from_slice(&policy::normalized_value(headers, name));
                }
            }
        }
        Some(CacheKey::from_hash(&blake3::hash(&material)))
    }

    pub(crate) async fn read(&self, key: &CacheKey) -> Option<Arc<CachedResponse>> {
        match self.cache.shared.storage.get(key, self.now).await {
            Ok(entry) => entry,
            Err(error) => {
                self.counters().record(Counter::StorageReadError);
                tracing::warn!(%key, %error, "reqcache: storage read failed; treating as a miss");
                None
            }
        }
    }

    /// The stored response's own directives (none when `cache_control` is off).
    fn response_cc(&self, entry: &CachedResponse) -> CacheControl {
        if self.settings().cache_control {
            CacheControl::parse(&entry.headers)
        } else {
            CacheControl::default()
        }
    }

    /// Whether a stale response must not be used without validation
    /// (`must-revalidate`, `no-cache`; in shared mode also `proxy-revalidate`
    /// and `s-maxage`).
    fn must_revalidate(&self, cc: &CacheControl) -> bool {
        cc.must_revalidate
            || cc.no_cache
            || (self.settings().mode == CacheMode::Shared
                && (cc.proxy_revalidate || cc.s_maxage.is_some()))
    }

    fn staleness(&self, entry: &CachedResponse) -> u64 {
        entry
            .expires
            .and_then(|expires| self.now.duration_since(expires).ok())
            .map_or(0, |stale| stale.as_secs())
    }

    /// What may be done with `entry` for this request (RFC 9111 section 4.2,
    /// with the request's `max-age`, `min-fresh`, `max-stale` and `no-cache`).
    pub(crate) fn usability(&self, entry: &CachedResponse) -> Usability {
        if self.options.refresh
            || self.request_cc.no_cache
            || (self.settings().always_revalidate && entry.has_validators())
        {
            return Usability::Stale;
        }
        let now = self.now;
        let fresh = !entry.is_expired(now);
        if let Some(max_age) = self.request_cc.max_age {
            let age = now.duration_since(entry.created_at).unwrap_or_default();
            // A fresh `immutable` response is not revalidated on a reload.
            if age.as_secs() > max_age && !(fresh && self.response_cc(entry).immutable) {
                return Usability::Stale;
            }
        }
        if let Some(min_fresh) = self.request_cc.min_fresh {
            let remaining = entry.expires.map_or(u64::MAX, |e| {
                e.duration_since(now).map_or(0, |d| d.as_secs())
            });
            if remaining < min_fresh {
                return Usability::Stale;
            }
        }
        if fresh {
            return Usability::Fresh;
        }
        let cc = self.response_cc(entry);
        if self.must_revalidate(&cc) {
            return Usability::Stale;
        }
        let staleness = self.staleness(entry);
        if self
            .request_cc
            .max_stale
            .is_some_and(|max| staleness <= max)
        {
            return Usability::AcceptedStale;
        }
        if cc
            .stale_while_revalidate
            .is_some_and(|window| staleness <= window)
        {
            return Usability::StaleWhileRevalidate;
        }
        Usability::Stale
    }

    /// Whether `entry` may be answered when upstream fails: the layer's
    /// `stale_if_error`, or the response's own `stale-if-error` window; never
    /// a response that must be revalidated.
    pub(crate) fn may_serve_stale_on_error(&self, entry: &CachedResponse) -> bool {
        let cc = self.response_cc(entry);
        !self.must_revalidate(&cc)
            && (self.settings().stale_if_error
                || cc
                    .stale_if_error
                    .is_some_and(|window| self.staleness(entry) <= window))
    }

    /// Whether `entry` must be revalidated (so a failed revalidation is a
    /// `504`, not stale data).
    pub(crate) fn requires_revalidation(&self, entry: &CachedResponse) -> bool {
        self.must_revalidate(&self.response_cc(entry))
    }
}
