//! [`Exchange`]: one request's exchange with the cache, and its steps that
//! need no upstream — the lookup, the policy's verdict on what was found,
//! and the answers made from storage. The path is in `respond.rs`; the
//! trip upstream in `fetch.rs`.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use http_body::Body;

use super::storage_calls::{self, WritePlan, store_behind};
use crate::body::CacheBody;
use crate::body::spool::StoredRead;
use crate::key::{CacheKey, variant_key};
use crate::policy::cache_control::CacheControl;
use crate::policy::freshness::{self, Stored, Verdict};
use crate::policy::request::Classified;
use crate::policy::{range, validation, vary};
use crate::request_options::RequestOptions;
use crate::runtime::Shared;
use crate::runtime::settings::CacheSettings;
use crate::runtime::stats::{Counter, Counters};
use crate::status::{CacheOutcome, CacheStatus, Forward};
use crate::storage::{CachedResponse, RecordChain, StoredRecord};

use super::partial;

/// What answering a request comes to: a response, or the inner service's error.
pub(crate) type CachedResult<B, E> = Result<Response<CacheBody<B>>, E>;

/// A usable stored entry, and the key it is stored under (for an alias, its
/// target's; for a `Vary`ing response, its variant's).
#[derive(Clone)]
pub(super) struct Found {
    pub(super) key: CacheKey,
    pub(super) entry: Arc<CachedResponse>,
    /// The key of the vary index (or the alias's target) the variant was
    /// found through.
    pub(super) index: Option<CacheKey>,
    /// The first chunk of a body kept in chunks, read by the lookup: a
    /// record whose body is gone is a miss, not an answer cut short.
    pub(super) first: Option<Bytes>,
}

impl Found {
    /// What the policy reads of it.
    pub(super) fn stored(&self) -> Stored<'_> {
        Stored {
            headers: &self.entry.headers,
            created_at: self.entry.created_at,
            expires: self.entry.expires,
        }
    }
}

/// One request's exchange with the cache.
pub(super) struct Exchange<'a> {
    pub(super) shared: &'a Arc<Shared>,
    pub(super) key: CacheKey,
    pub(super) options: RequestOptions,
    /// The request's directives (none when `cache_control` is off).
    pub(super) directives: CacheControl,
    /// Whether the request is conditional (`If-None-Match`, `If-Modified-Since`).
    pub(super) conditional: bool,
    /// The time of the lookup; the fetch path reads the clock afresh.
    pub(super) now: SystemTime,
    /// Flights ended before the lookup (see [`SingleFlight::ended`](crate::runtime::flight::SingleFlight::ended)).
    pub(super) flights_ended: u64,
    /// Why it goes upstream, if it does.
    pub(super) forward: Forward,
}

impl<'a> Exchange<'a> {
    /// The exchange of a request the policy lets use the cache.
    pub(super) fn new(
        shared: &'a Arc<Shared>,
        head: &http::request::Parts,
        body: &[u8],
        options: RequestOptions,
        classified: &Classified,
    ) -> Self {
        Self {
            shared,
            key: shared
                .settings
                .key
                .key(&head.method, &head.uri, &head.headers, body),
            options,
            directives: classified.directives,
            conditional: classified.conditional,
            now: shared.clock.now(),
            flights_ended: shared.flights.ended(),
            forward: if options.refresh
                || options.force_refresh
                || classified.directives.no_cache
                || classified.directives.max_age == Some(0)
            {
                Forward::Request
            } else {
                Forward::UriMiss
            },
        }
    }

    pub(super) fn settings(&self) -> &CacheSettings {
        &self.shared.settings
    }

    pub(super) fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    // ---- lookup -------------------------------------------------------

    /// The stored response for `request`, if any is usable for its headers:
    /// under its own key (through an alias, or the variant its `Vary` headers
    /// select), or for `HEAD`, the `GET` response. A failed read is a miss; an
    /// alias whose target is gone is pruned.
    pub(super) async fn lookup(
        &self,
        request: &http::request::Parts,
        body: &[u8],
    ) -> Option<Found> {
        let found = self.lookup_any(request, body).await?;
        if found.entry.stored_body.is_none() {
            return Some(found);
        }
        // Boxed: the hit path's future stays the size it was.
        Box::pin(self.with_first_chunk(found, &request.method)).await
    }

    /// `found`, whose body is kept in chunks, with its first chunk: a body
    /// gone (a tiered L1's copy of a record replaced since, a file removed
    /// by hand) is a miss, and its record goes; a read that fails is a
    /// miss. So is a record whose chunks this layer cannot read (a storage
    /// that no longer says where they are).
    async fn with_first_chunk(&self, mut found: Found, method: &Method) -> Option<Found> {
        let stored = found.entry.stored_body.as_ref()?;
        let chunks = self.shared.chunks.as_ref()?;
        if *method == Method::HEAD || stored.len == 0 {
            return Some(found);
        }
        match storage_calls::read_first_chunk(self.shared, chunks, stored).await? {
            Some(first) => {
                found.first = Some(first);
                Some(found)
            }
            None => {
                let plan = WritePlan {
                    deletes: vec![found.key.clone()],
                    puts: Vec::new(),
                };
                store_behind(self.shared, plan, None, None);
                None
            }
        }
    }

    async fn lookup_any(&self, request: &http::request::Parts, body: &[u8]) -> Option<Found> {
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

    /// The response under `key` for a request with `headers`, in one
    /// storage call of at most two reads: the record under `key`, then the
    /// one it leads to (the variant a vary index or an alias's `Vary` names
    /// select, an alias's target, or the variant a primary-key copy written
    /// by an earlier version does not match).
    async fn lookup_key(&self, key: CacheKey, headers: &HeaderMap) -> Option<Found> {
        let normalize = &self.settings().key.normalize;
        let variant = |primary: &CacheKey, names: &[HeaderName]| {
            variant_key(normalize, primary, names, headers).map(|key| key.as_str().to_owned())
        };
        // Whether the response found matches the request's `Vary` headers,
        // as `next` decided it (not decided again after the read).
        let matched = std::sync::OnceLock::new();
        let next = |record: &StoredRecord| match record {
            StoredRecord::Response(entry) => {
                let names = vary::vary_names(&entry.headers)?;
                let matches = names.is_empty() || self.vary_matches(entry, headers);
                let _ = matched.set(matches);
                if matches { None } else { variant(&key, &names) }
            }
            StoredRecord::VaryIndex(index) => variant(&key, &index.vary),
            StoredRecord::Alias(alias) if alias.vary.is_empty() => Some(alias.target.clone()),
            StoredRecord::Alias(alias) => {
                variant(&CacheKey::custom(alias.target.as_str()), &alias.vary)
            }
        };
        let chain = self.read_chain(&key, &next).await?;
        match chain.record {
            StoredRecord::Response(entry) => {
                let matches = match matched.get() {
                    Some(matches) => *matches,
                    // `next` not called (a storage that skips it), or
                    // `Vary: *` / an unreadable Vary, which never matches.
                    None => self.fits(&entry, headers),
                };
                if matches {
                    return Some(Found {
                        key,
                        entry,
                        index: None,
                        first: None,
                    });
                }
                self.variant_found(chain.next, headers, key)
            }
            StoredRecord::VaryIndex(_) => self.variant_found(chain.next, headers, key),
            StoredRecord::Alias(alias) => match chain.next {
                Some((target, Some(StoredRecord::Response(entry)))) => {
                    let index =
                        (!alias.vary.is_empty()).then(|| CacheKey::custom(alias.target.as_str()));
                    self.fits(&entry, headers).then(|| Found {
                        key: CacheKey::custom(target),
                        entry,
                        index,
                        first: None,
                    })
                }
                // The target is gone: the alias goes too.
                Some((_, None)) if alias.vary.is_empty() => {
                    let plan = WritePlan {
                        deletes: vec![key],
                        puts: Vec::new(),
                    };
                    store_behind(self.shared, plan, None, None);
                    None
                }
                // No variant for these headers yet, or a target that varies
                // since the alias was written (the next store of the redirect
                // rewrites it): a miss.
                _ => None,
            },
        }
    }

    /// The variant `next` read, when its own `Vary` headers match the
    /// request's; found through the record under `index`.
    fn variant_found(
        &self,
        next: Option<(String, Option<StoredRecord>)>,
        headers: &HeaderMap,
        index: CacheKey,
    ) -> Option<Found> {
        let (variant, record) = next?;
        let entry = record?.into_response()?;
        self.vary_matches(&entry, headers).then(|| Found {
            key: CacheKey::custom(variant),
            entry,
            index: Some(index),
            first: None,
        })
    }

    /// Whether `entry` answers a request with `headers`: it does not vary,
    /// or its `Vary` headers match (never for `Vary: *`).
    fn fits(&self, entry: &CachedResponse, headers: &HeaderMap) -> bool {
        vary::vary_names(&entry.headers)
            .is_some_and(|names| names.is_empty() || self.vary_matches(entry, headers))
    }

    pub(super) fn vary_matches(&self, entry: &CachedResponse, headers: &HeaderMap) -> bool {
        let normalize = &self.settings().key.normalize;
        vary::vary_matches(&entry.headers, &entry.request.headers, headers, |name| {
            normalize.classify_vary(name)
        })
    }

    async fn read_chain(
        &self,
        key: &CacheKey,
        next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
    ) -> Option<RecordChain> {
        storage_calls::read_chain(self.shared, key, self.now, next).await
    }

    // ---- the policy's word on what was found ----------------------------

    /// What may be done with `found` for this request.
    pub(super) fn verdict(&self, found: &Found) -> Verdict {
        freshness::verdict(
            &self.settings().rules,
            &self.directives,
            self.options.refresh,
            self.options.stale_while_revalidate,
            &found.stored(),
            self.now,
        )
    }

    /// Whether `found` may be answered when upstream fails.
    pub(super) fn serves_stale_on_error(&self, found: &Found) -> bool {
        freshness::serves_stale_on_error(&self.settings().rules, &found.stored(), self.now)
    }

    /// Whether `found` may be answered when upstream cannot be reached.
    pub(super) fn serves_stale_disconnected(&self, found: &Found) -> bool {
        freshness::serves_stale_disconnected(&self.settings().rules, &found.stored(), self.now)
    }

    // ---- answers ------------------------------------------------------

    /// The answer from a stored response: the response itself with its
    /// current `Age`, a `304` when the client's own conditional request
    /// matches a fresh one, and no body for `HEAD`.
    pub(super) fn answer<B: Body>(
        &self,
        found: &Found,
        request: &http::request::Parts,
        outcome: CacheOutcome,
    ) -> Response<CacheBody<B>> {
        let response =
            self.answer_with(found, request, outcome, || self.body_of(found, 0, u64::MAX));
        if request.method == Method::GET
            && response.status() == StatusCode::OK
            && request.headers.contains_key(header::RANGE)
        {
            let selected = range::select(
                &request.headers,
                &found.entry.headers,
                found.entry.body_len(),
                self.now,
            );
            return match &found.entry.stored_body {
                None => partial::answer(response, selected, &found.entry.body),
                Some(stored) => {
                    partial::answer_stored(response, selected, stored.len, |start, end| {
                        self.body_of(found, start, end)
                    })
                }
            };
        }
        response
    }

    /// Bytes `start..end` of the stored body of `entry`: in memory, or read
    /// from the storage's chunks as it is sent.
    #[inline]
    fn body_of<B: Body>(&self, found: &Found, start: u64, end: u64) -> CacheBody<B> {
        let entry = &found.entry;
        match (&entry.stored_body, &self.shared.chunks) {
            // A chunk is a transfer of up to a megabyte, not a point read:
            // it moves under the write timeout.
            (Some(stored), Some(chunks)) => CacheBody::stored(StoredRead::new(
                Arc::clone(chunks),
                stored.clone(),
                (start, end),
                self.settings().write_timeout,
                found.first.clone(),
            )),
            // Not found by lookups (see `lookup`).
            (Some(_), None) => CacheBody::cached(Bytes::new()),
            (None, _) if start == 0 && end as usize >= entry.body.len() => {
                CacheBody::cached(entry.body.clone())
            }
            (None, _) => {
                let len = entry.body.len();
                let end = (end.min(len as u64)) as usize;
                CacheBody::cached(entry.body.slice((start as usize).min(end)..end))
            }
        }
    }

    /// [`answer`](Self::answer), with the body (when one is sent) from `body`.
    pub(super) fn answer_with<B: Body>(
        &self,
        found: &Found,
        request: &http::request::Parts,
        outcome: CacheOutcome,
        body: impl FnOnce() -> CacheBody<B>,
    ) -> Response<CacheBody<B>> {
        let entry = &found.entry;
        let counter = match outcome {
            CacheOutcome::StaleOnError => Counter::StaleServed,
            CacheOutcome::Revalidated => Counter::Revalidated,
            _ => Counter::Hit,
        };
        self.counters().record(counter);
        tracing::debug!(key = %self.key, ?outcome, "reqcache: answered from the cache");
        let status = self.status(entry, outcome);
        let age = age_value(
            self.now
                .duration_since(entry.created_at)
                .unwrap_or_default()
                .as_secs(),
        );
        let conditional = self.conditional
            && matches!(outcome, CacheOutcome::Hit | CacheOutcome::Revalidated)
            && !status.is_expired()
            && self.settings().rules.cache_control;
        if conditional
            && validation::client_conditional_matches(
                &request.headers,
                &entry.headers,
                entry.created_at,
                self.now,
            ) == Some(true)
        {
            let mut response = Response::new(CacheBody::cached(Bytes::new()));
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            for name in &validation::NOT_MODIFIED_HEADERS {
                for value in entry.headers.get_all(name) {
                    response.headers_mut().append(name.clone(), value.clone());
                }
            }
            response.headers_mut().insert(header::AGE, age);
            return with_status(response, status);
        }
        let body = if request.method == Method::HEAD {
            CacheBody::cached(Bytes::new())
        } else {
            body()
        };
        let mut response = Response::new(body);
        *response.status_mut() = entry.status;
        *response.version_mut() = entry.version;
        *response.headers_mut() = entry.headers.clone();
        response.headers_mut().insert(header::AGE, age);
        if self.settings().rules.strips_set_cookie() {
            // Whatever was stored (before this rule, or by a private cache
            // on the same storage), a shared cache replays no cookie.
            response.headers_mut().remove(header::SET_COOKIE);
        }
        with_status(response, status)
    }

    fn status(&self, entry: &CachedResponse, outcome: CacheOutcome) -> CacheStatus {
        CacheStatus {
            from_cache: true,
            is_expired: outcome != CacheOutcome::Revalidated && entry.is_expired(self.now),
            created_at: Some(entry.created_at),
            expires: entry.expires,
            key: Some(self.key.clone()),
            revalidated: outcome == CacheOutcome::Revalidated,
            outcome,
            forwarded: matches!(
                outcome,
                CacheOutcome::Revalidated | CacheOutcome::StaleOnError
            )
            .then_some(Forward::Stale),
        }
    }

    /// The status of a request sent upstream untouched, its response not
    /// stored.
    pub(super) fn passed_upstream(&self) -> CacheStatus {
        CacheStatus {
            key: Some(self.key.clone()),
            outcome: CacheOutcome::NotStored,
            forwarded: Some(self.forward),
            ..CacheStatus::default()
        }
    }

    /// Marks an upstream response that was not stored, and logs why.
    pub(super) fn not_stored<B: Body>(
        &self,
        response: Response<CacheBody<B>>,
        reason: &'static str,
    ) -> Response<CacheBody<B>> {
        tracing::debug!(key = %self.key, reason, "reqcache: not stored");
        with_status(
            response,
            CacheStatus {
                key: Some(self.key.clone()),
                outcome: CacheOutcome::NotStored,
                forwarded: Some(self.forward),
                ..CacheStatus::default()
            },
        )
    }

    /// The `504` of `only-if-cached` with nothing usable stored.
    pub(super) fn gateway_timeout<B: Body>(&self) -> Response<CacheBody<B>> {
        self.gateway_timeout_with(CacheOutcome::OnlyIfCachedMiss)
    }

    pub(super) fn gateway_timeout_with<B: Body>(
        &self,
        outcome: CacheOutcome,
    ) -> Response<CacheBody<B>> {
        let mut response = Response::new(CacheBody::cached(Bytes::new()));
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        with_status(
            response,
            CacheStatus {
                key: Some(self.key.clone()),
                outcome,
                forwarded: (outcome != CacheOutcome::OnlyIfCachedMiss).then_some(self.forward),
                ..CacheStatus::default()
            },
        )
    }
}

/// Marks a response with what the cache did.
pub(crate) fn with_status<B>(mut response: Response<B>, status: CacheStatus) -> Response<B> {
    response.extensions_mut().insert(status);
    response
}

/// An `Age` header value. Values of the first hour come from a table of
/// static text made once (about 70 KB), so a hit builds its `Age` without an
/// allocation (measured in BENCHMARKS.md); later ones are formatted.
fn age_value(seconds: u64) -> HeaderValue {
    const TABLE: usize = 3600;
    static AGES: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
        let mut text = String::new();
        let mut ends = Vec::with_capacity(TABLE);
        for age in 0..TABLE {
            text.push_str(&age.to_string());
            ends.push(text.len());
        }
        // Lives as long as the program, like the table.
        let text: &'static str = Box::leak(text.into_boxed_str());
        let mut start = 0;
        ends.into_iter()
            .map(|end| {
                let digits = &text[start..end];
                start = end;
                digits
            })
            .collect()
    });
    match usize::try_from(seconds) {
        Ok(index) if index < TABLE => HeaderValue::from_static(AGES[index]),
        _ => HeaderValue::from(seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::age_value;

    #[test]
    fn age_values_from_the_table_and_beyond_it_are_the_decimal_seconds() {
        for age in [0u64, 1, 9, 10, 59, 600, 3599, 3600, 86_400, u64::MAX] {
            assert_eq!(age_value(age).to_str().unwrap(), age.to_string());
        }
    }
}
