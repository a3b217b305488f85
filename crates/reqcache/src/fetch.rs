//! Going upstream: conditional requests, `304` handling, errors, and storing
//! what may be stored; background refresh; invalidation by unsafe methods.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower::Service;
use tower_http::follow_redirect::RequestUri;

use crate::body::CacheBody;
use crate::cache_control::CacheControl;
use crate::entry::CachedResponse;
use crate::expiration::{DoNotStore, Expiration, match_target};
use crate::flight::Leader;
use crate::flow::{CachedResult, Context, Found, has_authorization, request_head, with_status};
use crate::freshness::{self, CacheMode};
use crate::handle::Cache;
use crate::key::CacheKey;
use crate::options::CacheOptions;
use crate::policy;
use crate::stats::Counter;
use crate::status::{CacheOutcome, CacheStatus};

/// When a stored response was generated and when it expires.
#[derive(Debug, Clone, Copy)]
struct Timing {
    created_at: SystemTime,
    expires: Option<SystemTime>,
}

impl Context<'_> {
    /// Calls upstream (conditionally when a stale entry has validators) and
    /// stores what may be stored.
    pub(crate) async fn fetch<S, ReqBody, ResBody>(
        &self,
        mut inner: S,
        mut request: Request<ReqBody>,
        request_body: Bytes,
        stored: Option<Found>,
    ) -> CachedResult<ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ReqBody: From<Bytes>,
        ResBody: Body,
    {
        let settings = self.settings();
        // What storing needs of the request once it has gone upstream.
        let head = request_head(&request);
        let added_validators = match &stored {
            Some(found) => policy::add_validators(request.headers_mut(), &found.entry.headers),
            None => false,
        };
        // Kept to send again, unconditionally, if a 304 does not match.
        let retry = added_validators.then(|| (copy_head(&head), request_body.clone()));

        self.counters().record(Counter::Miss);
        tracing::debug!(key = %self.key, conditional = added_validators, "reqcache: miss; going upstream");
        let request_time = self.cache.shared.clock.now();
        let response = match inner.call(request).await {
            Ok(response) => response,
            Err(error) => {
                return match &stored {
                    Some(found) if self.may_serve_stale_on_error(&found.entry) => {
                        Ok(self.answer(found, &head, CacheOutcome::StaleOnError))
                    }
                    // must-revalidate: a failed revalidation is a 504.
                    Some(found) if self.requires_revalidation(&found.entry) => {
                        Ok(self.gateway_timeout_after_error())
                    }
                    _ => Err(error),
                };
            }
        };
        let response_time = self.cache.shared.clock.now();
        let status = response.status();
        let mut response = response;
        if let Some(found) = &stored {
            if status == StatusCode::NOT_MODIFIED && added_validators {
                if policy::not_modified_matches(&found.entry.headers, response.headers()) {
                    let not_modified = response.into_parts().0.headers;
                    return Ok(self
                        .revalidated(found, &head, &not_modified, request_time, response_time)
                        .await);
                }
                // The 304 describes some other representation: ask again,
                // unconditionally.
                tracing::debug!(key = %self.key, "reqcache: 304 for another representation; fetching again");
                self.delete(&found.key).await;
                let (parts, body) = retry.unwrap_or_else(|| (copy_head(&head), Bytes::new()));
                response = inner
                    .call(Request::from_parts(parts, ReqBody::from(body)))
                    .await?;
            } else if (status.is_client_error() || status.is_server_error())
                && self.may_serve_stale_on_error(&found.entry)
            {
                return Ok(self.answer(found, &head, CacheOutcome::StaleOnError));
            }
        }
        let status = response.status();
        let Ok(timing) = self.timing(
            &head,
            status,
            response.headers(),
            request_time,
            response_time,
        ) else {
            return Ok(self.not_stored(
                response.map(CacheBody::upstream),
                "status, Cache-Control or expiration forbids storing",
            ));
        };
        let (parts, body) = response.into_parts();
        if let Some(filter) = &settings.filter
            && !(filter.0)(&head, &parts)
        {
            return Ok(self.not_stored(
                Response::from_parts(parts, CacheBody::upstream(body)),
                "the filter declined it",
            ));
        }
        let vary = policy::vary_names(&parts.headers);
        if vary.is_none() {
            // `Vary: *`: it could never be served again.
            return Ok(self.not_stored(
                Response::from_parts(parts, CacheBody::upstream(body)),
                "Vary: *",
            ));
        }

        let response_body = match CacheBody::buffer(body, settings.max_body_size).await {
            Ok(bytes) => bytes,
            Err(streaming) => {
                return Ok(self.not_stored(
                    Response::from_parts(parts, streaming),
                    "body larger than max_body_size, or with trailers or an error",
                ));
            }
        };
        // The age the response arrived with is folded into `created_at`; its
        // `Age` field is kept as a slot that every answer overwrites, so an
        // answer never has to grow the cloned header map.
        let mut stored_headers = parts.headers.clone();
        stored_headers.insert(header::AGE, http::HeaderValue::from_static("0"));
        let mut entry = CachedResponse {
            status,
            version: parts.version,
            headers: stored_headers,
            body: response_body.clone(),
            request: settings.key.stored_request(
                &head.method,
                &head.uri,
                &head.headers,
                &request_body,
            ),
            created_at: timing.created_at,
            expires: timing.expires,
            retain_until: self.cache.retain_until(timing.expires),
            alias_for: None,
        };
        // The inner service followed redirects: store under the final URL's
        // key, and an alias under this request's.
        let final_uri = parts
            .extensions
            .get::<RequestUri>()
            .map(|uri| &uri.0)
            .filter(|uri| **uri != head.uri);
        let mut stored_ok = true;
        let primary = match final_uri {
            Some(final_uri) => {
                let target =
                    settings
                        .key
                        .key(&head.method, final_uri, &head.headers, &request_body);
                let alias = CachedResponse::alias(&target, entry.request.clone(), &entry);
                entry.request.url = settings.key.normalized_url(final_uri);
                stored_ok &= self.store(&self.key, alias).await;
                target
            }
            None => self.key.clone(),
        };
        // A Vary'ing response: under its variant's key, and as the latest
        // variant under the primary key (which tells lookups how it varies).
        let names = vary.unwrap_or_default();
        if !names.is_empty() {
            match self.variant_key(&primary, &names, &head.headers) {
                Some(variant) => stored_ok &= self.store(&variant, entry.clone()).await,
                None => stored_ok = false,
            }
        }
        if stored_ok {
            stored_ok &= self.store(&primary, entry).await;
        }
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
                created_at: Some(timing.created_at),
                expires: timing.expires,
                key: Some(self.key.clone()),
                revalidated: false,
                outcome,
            },
        ))
    }

    /// Upstream answered `304` for the stored response: refresh it (RFC 9111
    /// section 4.3.4) and answer from it.
    async fn revalidated<B: Body>(
        &self,
        found: &Found,
        head: &http::request::Parts,
        not_modified: &HeaderMap,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Response<CacheBody<B>> {
        let mut refreshed = CachedResponse::clone(&found.entry);
        refreshed.headers = policy::merge_not_modified(&found.entry.headers, not_modified);
        match self.timing(
            head,
            refreshed.status,
            &refreshed.headers,
            request_time,
            response_time,
        ) {
            Ok(timing) => {
                refreshed.created_at = timing.created_at;
                refreshed.expires = timing.expires;
                refreshed.retain_until = self.cache.retain_until(timing.expires);
                self.store(&found.key, refreshed.clone()).await;
            }
            Err(DoNotStore) => {
                refreshed.created_at = response_time;
                refreshed.expires = Some(response_time);
                self.delete(&found.key).await;
            }
        }
        let found = Found {
            key: found.key.clone(),
            entry: Arc::new(refreshed),
        };
        let now_context = Context {
            cache: self.cache,
            key: self.key.clone(),
            options: self.options,
            request_cc: self.request_cc,
            conditional: self.conditional,
            now: response_time,
        };
        now_context.answer(&found, head, CacheOutcome::Revalidated)
    }

    /// Whether and how long a response may be stored: the guide's precedence
    /// (request Cache-Control, response Cache-Control/Expires, per-request,
    /// per-URL, the layer's `expire_after`) with RFC 9111's age and lifetime.
    fn timing(
        &self,
        head: &http::request::Parts,
        status: StatusCode,
        headers: &HeaderMap,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Result<Timing, DoNotStore> {
        let settings = self.settings();
        // Partial content is never stored as, or for, a full response.
        if status == StatusCode::PARTIAL_CONTENT || !settings.allowable_codes.contains(&status) {
            return Err(DoNotStore);
        }
        let mut created_at = response_time;
        if settings.cache_control {
            let cc = CacheControl::parse(headers);
            let shared = settings.mode == CacheMode::Shared;
            if cc.no_store
                || (shared && cc.private)
                || (shared
                    && has_authorization(&head.headers)
                    && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate))
            {
                return Err(DoNotStore);
            }
            created_at = response_time
                .checked_sub(freshness::initial_age(headers, request_time, response_time))
                .unwrap_or(response_time);
            if let Some(max_age) = self.request_cc.max_age {
                let expires =
                    Expiration::from(Duration::from_secs(max_age)).expires_at(response_time)?;
                return Ok(Timing {
                    created_at,
                    expires,
                });
            }
            let lifetime = if cc.no_cache {
                Some(Duration::ZERO)
            } else {
                freshness::lifetime(
                    &cc,
                    headers,
                    status,
                    settings.mode,
                    settings.heuristic,
                    response_time,
                )
            };
            if let Some(lifetime) = lifetime {
                let expires = created_at.checked_add(lifetime).unwrap_or(created_at);
                // Stale at once: worth keeping only to revalidate, or to
                // serve within its stale windows.
                let keep = expires > response_time
                    || policy::has_validators(headers)
                    || cc.stale_if_error.is_some()
                    || cc.stale_while_revalidate.is_some();
                return if keep {
                    Ok(Timing {
                        created_at,
                        expires: Some(expires),
                    })
                } else {
                    Err(DoNotStore)
                };
            }
        }
        let url_target = (!settings.urls_expire_after.is_empty()).then(|| {
            let host = head.headers.get(header::HOST).and_then(|h| h.to_str().ok());
            match_target(&head.uri, host)
        });
        let expires = self
            .options
            .expire_after
            .or_else(|| url_target.and_then(|t| settings.urls_expire_after.find_in(&t)))
            .unwrap_or(settings.expire_after)
            .expires_at(response_time)?;
        Ok(Timing {
            created_at,
            expires,
        })
    }

    /// Stores an entry (unless read-only); a failure is logged and skipped.
    pub(crate) async fn store(&self, key: &CacheKey, entry: CachedResponse) -> bool {
        if self.settings().read_only {
            return false;
        }
        match self.cache.shared.storage.put(key, Arc::new(entry)).await {
            Ok(()) => {
                self.counters().record(Counter::Stored);
                tracing::debug!(%key, "reqcache: stored");
                true
            }
            Err(error) => {
                self.counters().record(Counter::StorageWriteError);
                tracing::warn!(%key, %error, "reqcache: storage write failed; response not cached");
                false
            }
        }
    }

    /// Deletes an entry (unless read-only); a failure is logged and skipped.
    pub(crate) async fn delete(&self, key: &CacheKey) {
        if self.settings().read_only {
            return;
        }
        if let Err(error) = self.cache.shared.storage.delete(key).await {
            self.counters().record(Counter::StorageWriteError);
            tracing::warn!(%key, %error, "reqcache: storage delete failed");
        }
    }

    /// A `504` for a response that had to be revalidated when upstream could
    /// not be reached.
    fn gateway_timeout_after_error<B: Body>(&self) -> Response<CacheBody<B>> {
        let mut response = self.gateway_timeout();
        if let Some(status) = response.extensions_mut().get_mut::<CacheStatus>() {
            status.outcome = CacheOutcome::NotStored;
        }
        response
    }
}

/// A copy of a request head (extensions left out).
fn copy_head(head: &http::request::Parts) -> http::request::Parts {
    let mut request = Request::new(());
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = head.uri.clone();
    *request.version_mut() = head.version;
    *request.headers_mut() = head.headers.clone();
    request.into_parts().0
}

/// Refreshes a stale entry while its stale answer has already gone out
/// (`stale-while-revalidate`); `leader` makes it once per key.
pub(crate) async fn refresh_in_background<S, ReqBody, ResBody>(
    cache: Cache,
    key: CacheKey,
    inner: S,
    request: Request<ReqBody>,
    body: Bytes,
    found: Found,
    leader: Leader,
) where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: From<Bytes>,
    ResBody: Body,
{
    let _leader = leader;
    let ctx = Context {
        cache: &cache,
        key,
        options: CacheOptions::default(),
        request_cc: CacheControl::default(),
        conditional: false,
        now: cache.shared.clock.now(),
    };
    match ctx.fetch(inner, request, body, Some(found)).await {
        // Read the body through so that whatever was stored is complete.
        Ok(response) => drop(response.into_body().collect().await),
        Err(_) => {
            tracing::debug!(key = %ctx.key, "reqcache: background refresh failed; upstream error")
        }
    }
}

/// After a successful unsafe request, deletes what is stored for its URL and
/// for its `Location` and `Content-Location` on the same origin.
pub(crate) async fn invalidate(cache: &Cache, uri: &Uri, status: StatusCode, headers: &HeaderMap) {
    if !(status.is_success() || status.is_redirection()) {
        return;
    }
    let mut targets = vec![uri.clone()];
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        if let Some(location) = headers.get(name).and_then(|v| v.to_str().ok())
            && let Some(target) = resolve_same_origin(uri, location)
        {
            targets.push(target);
        }
    }
    for target in targets {
        let url = cache.shared.settings.key.normalized_url(&target);
        match cache.shared.storage.delete_url(&url).await {
            Ok(deleted) if deleted > 0 => tracing::debug!(url, deleted, "reqcache: invalidated"),
            Ok(_) => {}
            Err(error) => {
                cache.shared.counters.record(Counter::StorageWriteError);
                tracing::warn!(url, %error, "reqcache: invalidation failed");
            }
        }
    }
}

/// `location` resolved against `base`, if it is on the same origin.
fn resolve_same_origin(base: &Uri, location: &str) -> Option<Uri> {
    let location: Uri = location.trim().parse().ok()?;
    if location.scheme().is_none() && location.authority().is_none() {
        // A path: on the base's origin.
        let mut parts = base.clone().into_parts();
        parts.path_and_query = location.path_and_query().cloned();
        return Uri::from_parts(parts).ok();
    }
    let same = location.scheme_str().map(str::to_ascii_lowercase)
        == base.scheme_str().map(str::to_ascii_lowercase)
        && location.host().map(str::to_ascii_lowercase) == base.host().map(str::to_ascii_lowercase)
        && location.port_u16() == base.port_u16();
    same.then_some(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_only_on_the_same_origin() {
        let base: Uri = "https://api.example.com/items".parse().unwrap();
        assert_eq!(
            resolve_same_origin(&base, "/items/7").unwrap(),
            "https://api.example.com/items/7"
        );
        assert_eq!(
            resolve_same_origin(&base, "https://API.example.com/x").unwrap(),
            "https://API.example.com/x"
        );
        assert!(resolve_same_origin(&base, "https://evil.example.com/items").is_none());
        assert!(resolve_same_origin(&base, "http://api.example.com/items").is_none());
        assert!(resolve_same_origin(&base, "not a uri at all").is_none());
    }
}
