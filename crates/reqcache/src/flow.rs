//! The request path: decide, key, look up, answer or fetch, store.
//!
//! Every storage failure on this path is logged and becomes a miss or a
//! skipped write; only the inner service's own errors reach the caller.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header, request};
use http_body::Body;
use http_body_util::BodyExt;
use tower::Service;
use tower_http::follow_redirect::RequestUri;

use crate::body::CacheBody;
use crate::entry::CachedResponse;
use crate::expiration::{DoNotStore, Expiration, match_target};
use crate::flight::{self, Flight};
use crate::handle::Cache;
use crate::key::CacheKey;
use crate::options::CacheOptions;
use crate::policy::{self, CacheControl, HeaderExpiry};
use crate::settings::CacheSettings;
use crate::stats::Counters;
use crate::status::{CacheOutcome, CacheStatus};
use crate::storage::BoxError;

type CachedResult<B, E> = Result<Response<CacheBody<B>>, E>;

/// Answers one request.
pub(crate) async fn respond<S, ReqBody, ResBody>(
    cache: Cache,
    mut inner: S,
    request: Request<ReqBody>,
    disabled: bool,
) -> CachedResult<ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body + From<Bytes>,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body,
{
    let settings = &cache.shared.settings;
    let options = request
        .extensions()
        .get::<CacheOptions>()
        .copied()
        .unwrap_or_default();
    let request_cc = if settings.cache_control {
        CacheControl::parse(request.headers())
    } else {
        CacheControl::default()
    };
    if disabled
        || options.bypass
        || request_cc.no_store
        || !settings.method_allowed(request.method(), request.headers())
    {
        let response = inner.call(request).await?;
        return Ok(with_status(
            response.map(CacheBody::upstream),
            CacheStatus::bypassed(),
        ));
    }

    let (request, body) = match read_body(request).await {
        Ok(read) => read,
        Err(error) => {
            tracing::warn!(%error, "reqcache: request body could not be read; answering 400");
            return Ok(bad_request(&error));
        }
    };
    let key = settings
        .key
        .key(request.method(), request.uri(), request.headers(), &body);
    let mut ctx = Context {
        cache: &cache,
        key: key.clone(),
        options,
        request_cc,
        now: cache.shared.clock.now(),
    };

    let mut stored = if options.force_refresh {
        None
    } else {
        ctx.lookup(request.headers()).await
    };
    if let Some(found) = &stored
        && ctx.is_fresh(&found.entry)
    {
        return Ok(ctx.hit(&found.entry));
    }
    if options.only_if_cached {
        return Ok(match &stored {
            Some(found) if settings.stale_if_error => ctx.stale(&found.entry),
            _ => ctx.gateway_timeout(),
        });
    }

    let coalesce = settings.single_flight
        && !options.refresh
        && !options.force_refresh
        && !request_cc.no_cache;
    let _leader = if coalesce {
        match cache.shared.flights.join(key) {
            Flight::Leader(leader) => Some(leader),
            Flight::Follower(follower) => {
                flight::wait(follower).await;
                ctx.now = cache.shared.clock.now();
                stored = ctx.lookup(request.headers()).await;
                if let Some(found) = &stored
                    && ctx.is_fresh(&found.entry)
                {
                    return Ok(ctx.hit(&found.entry));
                }
                None
            }
        }
    } else {
        None
    };
    // Boxed so that the hit path's future stays small: this one is large.
    Box::pin(ctx.fetch(inner, request, body, stored)).await
}

/// A usable stored entry, and the key it is stored under (for an alias, its
/// target's).
struct Found {
    key: CacheKey,
    entry: Arc<CachedResponse>,
}

/// What the steps of one request share.
struct Context<'a> {
    cache: &'a Cache,
    key: CacheKey,
    options: CacheOptions,
    request_cc: CacheControl,
    /// The time of the lookup; the fetch path reads the clock afresh.
    now: SystemTime,
}

impl Context<'_> {
    fn settings(&self) -> &CacheSettings {
        &self.cache.shared.settings
    }

    fn counters(&self) -> &Counters {
        &self.cache.shared.counters
    }

    /// The stored entry, if any is usable for these request headers. A failed
    /// read is a miss; an alias whose target is gone is pruned.
    async fn lookup(&self, headers: &HeaderMap) -> Option<Found> {
        let mut found = Found {
            key: self.key.clone(),
            entry: self.read(&self.key).await?,
        };
        if let Some(target) = found.entry.alias_for.clone() {
            let target = CacheKey::custom(target);
            let Some(entry) = self.read(&target).await else {
                self.delete(&self.key).await;
                return None;
            };
            found = Found { key: target, entry };
        }
        let key_settings = &self.settings().key;
        policy::vary_matches(
            &found.entry.headers,
            &found.entry.request.headers,
            headers,
            |name| key_settings.classify_vary(name),
        )
        .then_some(found)
    }

    async fn read(&self, key: &CacheKey) -> Option<Arc<CachedResponse>> {
        match self.cache.shared.storage.get(key, self.now).await {
            Ok(entry) => entry,
            Err(error) => {
                Counters::bump(&self.counters().storage_read_errors);
                tracing::warn!(%key, %error, "reqcache: storage read failed; treating as a miss");
                None
            }
        }
    }

    fn is_fresh(&self, entry: &CachedResponse) -> bool {
        if self.options.refresh
            || self.request_cc.no_cache
            || (self.settings().always_revalidate && entry.has_validators())
        {
            return false;
        }
        let now = self.now;
        if entry.is_expired(now) {
            return false;
        }
        match self.request_cc.max_age {
            Some(max_age) => {
                now.duration_since(entry.created_at)
                    .is_ok_and(|age| age.as_secs() <= max_age)
                    || entry.created_at > now
            }
            None => true,
        }
    }

    fn hit<B: Body>(&self, entry: &CachedResponse) -> Response<CacheBody<B>> {
        Counters::bump(&self.counters().hits);
        tracing::debug!(key = %self.key, "reqcache: hit");
        from_entry(entry, self.status(entry, CacheOutcome::Hit))
    }

    fn stale<B: Body>(&self, entry: &CachedResponse) -> Response<CacheBody<B>> {
        Counters::bump(&self.counters().stale_served);
        tracing::info!(key = %self.key, "reqcache: upstream failed; serving stale response");
        from_entry(entry, self.status(entry, CacheOutcome::StaleOnError))
    }

    fn status(&self, entry: &CachedResponse, outcome: CacheOutcome) -> CacheStatus {
        CacheStatus {
            from_cache: true,
            is_expired: entry.is_expired(self.now),
            created_at: Some(entry.created_at),
            expires: entry.expires,
            key: Some(self.key.clone()),
            revalidated: outcome == CacheOutcome::Revalidated,
            outcome,
        }
    }

    fn not_stored<B: Body>(&self, response: Response<CacheBody<B>>) -> Response<CacheBody<B>> {
        with_status(
            response,
            CacheStatus {
                key: Some(self.key.clone()),
                outcome: CacheOutcome::NotStored,
                ..CacheStatus::default()
            },
        )
    }

    fn gateway_timeout<B: Body>(&self) -> Response<CacheBody<B>> {
        let mut response = Response::new(CacheBody::cached(Bytes::new()));
        *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
        with_status(
            response,
            CacheStatus {
                key: Some(self.key.clone()),
                outcome: CacheOutcome::OnlyIfCachedMiss,
                ..CacheStatus::default()
            },
        )
    }

    /// Calls upstream (conditionally when a stale entry has validators) and
    /// stores what may be stored.
    async fn fetch<S, ReqBody, ResBody>(
        &self,
        mut inner: S,
        mut request: Request<ReqBody>,
        request_body: Bytes,
        stored: Option<Found>,
    ) -> CachedResult<ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ResBody: Body,
    {
        let settings = self.settings();
        // What storing needs of the request once it has gone upstream.
        let head = request_head(&request);
        let stored_request =
            settings
                .key
                .stored_request(&head.method, &head.uri, &head.headers, &request_body);
        let url_target = (!settings.urls_expire_after.is_empty()).then(|| {
            let host = head.headers.get(header::HOST).and_then(|h| h.to_str().ok());
            match_target(&head.uri, host)
        });
        let added_validators = match &stored {
            Some(found) => policy::add_validators(request.headers_mut(), &found.entry.headers),
            None => false,
        };

        Counters::bump(&self.counters().misses);
        let response = match inner.call(request).await {
            Ok(response) => response,
            Err(error) => {
                return match &stored {
                    Some(found) if settings.stale_if_error => Ok(self.stale(&found.entry)),
                    _ => Err(error),
                };
            }
        };
        let now = self.cache.shared.clock.now();
        let status = response.status();
        if let Some(found) = &stored {
            if status == StatusCode::NOT_MODIFIED && added_validators {
                return Ok(self
                    .revalidated(found, response.headers(), url_target.as_deref(), now)
                    .await);
            }
            if settings.stale_if_error && (status.is_client_error() || status.is_server_error()) {
                return Ok(self.stale(&found.entry));
            }
        }
        if !settings.allowable_codes.contains(&status) {
            return Ok(self.not_stored(response.map(CacheBody::upstream)));
        }
        let Ok(expires) = self.expiry(response.headers(), url_target.as_deref(), now) else {
            return Ok(self.not_stored(response.map(CacheBody::upstream)));
        };
        let (parts, body) = response.into_parts();
        if let Some(filter) = &settings.filter
            && !(filter.0)(&head, &parts)
        {
            tracing::debug!(key = %self.key, "reqcache: the filter declined the response; not stored");
            return Ok(self.not_stored(Response::from_parts(parts, CacheBody::upstream(body))));
        }

        let response_body = match CacheBody::buffer(body, settings.max_body_size).await {
            Ok(bytes) => bytes,
            Err(streaming) => {
                tracing::debug!(key = %self.key, "reqcache: body larger than max_body_size, or with trailers or an error; not stored");
                return Ok(self.not_stored(Response::from_parts(parts, streaming)));
            }
        };
        let mut entry = CachedResponse {
            status,
            version: parts.version,
            headers: parts.headers.clone(),
            body: response_body.clone(),
            request: stored_request,
            created_at: now,
            expires,
            retain_until: self.cache.retain_until(expires),
            alias_for: None,
        };
        // The inner service followed redirects: store under the final URL's
        // key, and an alias under this request's.
        let final_uri = parts
            .extensions
            .get::<RequestUri>()
            .map(|uri| &uri.0)
            .filter(|uri| **uri != head.uri);
        let stored_ok = match final_uri {
            Some(final_uri) => {
                let target =
                    settings
                        .key
                        .key(&head.method, final_uri, &head.headers, &request_body);
                let alias = CachedResponse::alias(&target, entry.request.clone(), &entry);
                entry.request.url = settings.key.normalized_url(final_uri);
                self.store(&target, entry).await && self.store(&self.key, alias).await
            }
            None => self.store(&self.key, entry).await,
        };
        let outcome = if stored_ok {
            CacheOutcome::Stored
        } else {
            CacheOutcome::NotStored
        };
        Ok(with_status(
            Response::from_parts(parts, CacheBody::cached(response_body)),
            CacheStatus {
                from_cache: false,
                is_expired: false,
                created_at: Some(now),
                expires,
                key: Some(self.key.clone()),
                revalidated: false,
                outcome,
            },
        ))
    }

    /// Upstream answered `304`: refresh the stored entry and answer from it.
    async fn revalidated<B: Body>(
        &self,
        found: &Found,
        not_modified: &HeaderMap,
        url_target: Option<&str>,
        now: SystemTime,
    ) -> Response<CacheBody<B>> {
        let entry = &found.entry;
        let mut refreshed = CachedResponse::clone(entry);
        refreshed.headers = policy::merge_not_modified(&entry.headers, not_modified);
        refreshed.created_at = now;
        match self.expiry(&refreshed.headers, url_target, now) {
            Ok(expires) => {
                refreshed.expires = expires;
                refreshed.retain_until = self.cache.retain_until(expires);
                self.store(&found.key, refreshed.clone()).await;
            }
            Err(DoNotStore) => {
                refreshed.expires = Some(now);
                self.delete(&found.key).await;
            }
        }
        Counters::bump(&self.counters().revalidated);
        tracing::debug!(key = %self.key, "reqcache: revalidated");
        let mut status = self.status(&refreshed, CacheOutcome::Revalidated);
        status.is_expired = false;
        from_entry(&refreshed, status)
    }

    /// Stores an entry (unless read-only); a failure is logged and skipped.
    async fn store(&self, key: &CacheKey, entry: CachedResponse) -> bool {
        if self.settings().read_only {
            return false;
        }
        match self.cache.shared.storage.put(key, Arc::new(entry)).await {
            Ok(()) => {
                Counters::bump(&self.counters().stored);
                tracing::debug!(%key, "reqcache: stored");
                true
            }
            Err(error) => {
                Counters::bump(&self.counters().storage_write_errors);
                tracing::warn!(%key, %error, "reqcache: storage write failed; response not cached");
                false
            }
        }
    }

    /// Deletes an entry (unless read-only); a failure is logged and skipped.
    async fn delete(&self, key: &CacheKey) {
        if self.settings().read_only {
            return;
        }
        if let Err(error) = self.cache.shared.storage.delete(key).await {
            Counters::bump(&self.counters().storage_write_errors);
            tracing::warn!(%key, %error, "reqcache: storage delete failed");
        }
    }

    /// When a response received at `now` expires, by the guide's precedence:
    /// request Cache-Control, response Cache-Control/Expires, per-request,
    /// per-URL, then the layer's `expire_after`.
    fn expiry(
        &self,
        response_headers: &HeaderMap,
        url_target: Option<&str>,
        now: SystemTime,
    ) -> Result<Option<SystemTime>, DoNotStore> {
        let settings = self.settings();
        if settings.cache_control {
            let from_headers = policy::response_expiry(response_headers, now);
            if from_headers == Some(HeaderExpiry::NoStore) {
                return Err(DoNotStore);
            }
            if let Some(max_age) = self.request_cc.max_age {
                return Expiration::from(Duration::from_secs(max_age)).expires_at(now);
            }
            if let Some(HeaderExpiry::At(expires)) = from_headers {
                return if expires > now {
                    Ok(Some(expires))
                } else if policy::has_validators(response_headers) {
                    // Stale at once, but worth keeping to revalidate.
                    Ok(Some(now))
                } else {
                    Err(DoNotStore)
                };
            }
        }
        self.options
            .expire_after
            .or_else(|| url_target.and_then(|t| settings.urls_expire_after.find_in(t)))
            .unwrap_or(settings.expire_after)
            .expires_at(now)
    }
}

/// The request's method, URI, version and headers, for after it is sent.
fn request_head<B>(request: &Request<B>) -> request::Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = request.method().clone();
    head.uri = request.uri().clone();
    head.version = request.version();
    head.headers = request.headers().clone();
    head
}

/// Reads a request body that may be non-empty, and rebuilds the request.
async fn read_body<B>(request: Request<B>) -> Result<(Request<B>, Bytes), BoxError>
where
    B: Body + From<Bytes>,
    B::Error: Into<BoxError>,
{
    if request.body().is_end_stream() || request.body().size_hint().exact() == Some(0) {
        return Ok((request, Bytes::new()));
    }
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.map_err(Into::into)?.to_bytes();
    Ok((Request::from_parts(parts, B::from(bytes.clone())), bytes))
}

fn from_entry<B: Body>(entry: &CachedResponse, status: CacheStatus) -> Response<CacheBody<B>> {
    let mut response = Response::new(CacheBody::cached(entry.body.clone()));
    *response.status_mut() = entry.status;
    *response.version_mut() = entry.version;
    *response.headers_mut() = entry.headers.clone();
    with_status(response, status)
}

fn with_status<B>(mut response: Response<B>, status: CacheStatus) -> Response<B> {
    response.extensions_mut().insert(status);
    response
}

fn bad_request<B: Body>(error: &BoxError) -> Response<CacheBody<B>> {
    let mut response = Response::new(CacheBody::cached(Bytes::from(format!(
        "request body could not be read: {error}"
    ))));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    with_status(response, CacheStatus::bypassed())
}
