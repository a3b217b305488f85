//! The request path: decide, key, look up, answer or fetch, store.
//!
//! Every storage failure on this path is logged and becomes a miss or a
//! skipped write; only the inner service's own errors reach the caller.
//! The steps live in [`lookup`](crate::lookup) (finding and judging a stored
//! response) and [`fetch`](crate::fetch) (going upstream and storing).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower::Service;
use tracing::Instrument;

use crate::body::CacheBody;
use crate::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
use crate::cache_control::CacheControl;
use crate::entry::CachedResponse;
use crate::flight::{self, Flight};
use crate::future::ResponseFuture;
use crate::handle::Cache;
use crate::key::CacheKey;
use crate::lookup::Usability;
use crate::options::CacheOptions;
use crate::policy;
use crate::settings::CacheSettings;
use crate::stats::{Counter, Counters};
use crate::status::{CacheOutcome, CacheStatus};
use crate::storage::BoxError;

pub(crate) type CachedResult<B, E> = Result<Response<CacheBody<B>>, E>;

/// Why a request passes through without the cache, if it does: the one
/// place that decides.
fn skip_reason(
    disabled: bool,
    bypass: bool,
    no_store: bool,
    method_allowed: bool,
    range: bool,
) -> Option<&'static str> {
    if disabled {
        Some("caching disabled in this scope")
    } else if bypass {
        Some("CacheOptions::bypass")
    } else if no_store {
        Some("request Cache-Control: no-store")
    } else if !method_allowed {
        Some("method not in allowable_methods")
    } else if range {
        Some("Range request")
    } else {
        None
    }
}

/// Starts answering one request: [`respond`] inside a `reqcache` span
/// (method, URI); the events inside it say what happened.
pub(crate) fn start<S, ReqBody, ResBody>(
    cache: Cache,
    inner: S,
    request: Request<ReqBody>,
    disabled: bool,
) -> ResponseFuture<ResBody, S::Error>
where
    S: CacheableService<ReqBody, ResBody>,
    ReqBody: CacheableRequestBody,
    ResBody: CacheableResponseBody,
{
    let span = request_span(&request);
    let respond = respond(cache, inner, request, disabled);
    // Entering a disabled span on every poll still costs; skip the wrapper
    // when no subscriber wants the span (measured in BENCHMARKS.md).
    if span.is_disabled() {
        ResponseFuture::new(respond)
    } else {
        ResponseFuture::new(respond.instrument(span))
    }
}

/// Passes one request through with no cache (an installed-cache service when
/// nothing is installed).
pub(crate) fn start_uncached<S, ReqBody, ResBody>(
    mut inner: S,
    request: Request<ReqBody>,
) -> ResponseFuture<ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    ResBody: Body + Send + 'static,
{
    tracing::trace!(reason = "no cache installed", "reqcache: skipped");
    let future = inner.call(request);
    ResponseFuture::new(async move {
        let response = future.await?;
        Ok(with_status(
            response.map(CacheBody::upstream),
            CacheStatus::bypassed(),
        ))
    })
}

/// The span every request is answered in. Its fields are only formatted when
/// a subscriber wants `reqcache` spans at `debug`.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "reqcache",
        method = %request.method(),
        uri = %request.uri(),
    )
}

/// Answers one request.
pub(crate) async fn respond<S, ReqBody, ResBody>(
    cache: Cache,
    mut inner: S,
    request: Request<ReqBody>,
    disabled: bool,
) -> CachedResult<ResBody, S::Error>
where
    S: CacheableService<ReqBody, ResBody>,
    ReqBody: CacheableRequestBody,
    ResBody: CacheableResponseBody,
{
    let settings = &cache.shared.settings;
    let options = request
        .extensions()
        .get::<CacheOptions>()
        .copied()
        .unwrap_or_default();
    let flags = policy::RequestFlags::scan(request.headers());
    let request_cc = if settings.cache_control && flags.cache_directives {
        CacheControl::parse(request.headers())
    } else {
        CacheControl::default()
    };
    let method_allowed = settings.method_allowed(request.method(), request.headers());
    let skip = skip_reason(
        disabled,
        options.bypass,
        request_cc.no_store,
        method_allowed,
        flags.range,
    );
    if let Some(reason) = skip {
        tracing::debug!(reason, "reqcache: skipped");
        // Unsafe methods that are not cached themselves invalidate what is
        // stored for their URL (RFC 9111 section 4.4).
        let invalidates = !disabled
            && !options.bypass
            && !method_allowed
            && settings.cache_control
            && !request.method().is_safe();
        let uri = invalidates.then(|| request.uri().clone());
        // Boxed, like every path but the hit path, so that the hit path's
        // future stays small: the whole of it is moved into its box.
        return Box::pin(async move {
            let response = inner.call(request).await?;
            if let Some(uri) = uri {
                let (status, headers) = (response.status(), response.headers().clone());
                crate::fetch::invalidate(&cache, &uri, status, &headers).await;
            }
            Ok(with_status(
                response.map(CacheBody::upstream),
                CacheStatus::bypassed(),
            ))
        })
        .await;
    }

    // Split off the body: lookups and answers borrow the head across awaits,
    // which a borrowed request would need `Sync` bodies for. (Locals that
    // live across awaits are part of the future, so there are few of them,
    // and none twice.)
    let (head, request_body) = request.into_parts();
    let (request_body, body) = if request_body.is_end_stream()
        || request_body.size_hint().exact() == Some(0)
    {
        (request_body, Bytes::new())
    } else {
        match Box::pin(read_body(request_body)).await {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(%error, "reqcache: request body could not be read; answering 400");
                return Ok(bad_request(&error));
            }
        }
    };
    let ctx = Context {
        cache: &cache,
        key: settings
            .key
            .key(&head.method, &head.uri, &head.headers, &body),
        options,
        request_cc,
        conditional: flags.conditional,
        now: cache.shared.clock.now(),
    };
    let stored = if ctx.options.force_refresh {
        None
    } else {
        ctx.lookup(&head, &body).await
    };
    if let Some(found) = &stored {
        match ctx.usability(&found.entry) {
            Usability::Fresh => return Ok(ctx.answer(found, &head, CacheOutcome::Hit)),
            Usability::AcceptedStale => {
                return Ok(ctx.answer(found, &head, CacheOutcome::Hit));
            }
            Usability::StaleWhileRevalidate => {
                // Without a runtime to refresh on, revalidate in line instead.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let response = ctx.answer(found, &head, CacheOutcome::StaleWhileRevalidate);
                    // Once per key: a refresh under way already will do.
                    if let Some(leader) = cache.shared.flights.try_lead(ctx.key.clone()) {
                        runtime.spawn(crate::fetch::refresh_in_background(
                            cache.clone(),
                            ctx.key.clone(),
                            inner,
                            Request::from_parts(head, request_body),
                            body,
                            Found::clone(found),
                            leader,
                        ));
                    }
                    return Ok(response);
                }
            }
            Usability::Stale => {}
        }
    }
    if ctx.options.only_if_cached || ctx.request_cc.only_if_cached {
        return Ok(match &stored {
            Some(found) if ctx.may_serve_stale_on_error(&found.entry) => {
                ctx.answer(found, &head, CacheOutcome::StaleOnError)
            }
            _ => ctx.gateway_timeout(),
        });
    }

    let coalesce = settings.single_flight
        && !ctx.options.refresh
        && !ctx.options.force_refresh
        && !ctx.request_cc.no_cache;
    // Boxed so that the hit path's future stays small (all of it is moved
    // into its box): waiting for another request's fetch, and fetching.
    Box::pin(go_upstream(
        ctx,
        inner,
        head,
        request_body,
        body,
        stored,
        coalesce,
    ))
    .await
}

/// A request the cache could not answer: waits for a concurrent fetch of the
/// same key (single flight) and answers from it when it is fresh, else
/// fetches.
async fn go_upstream<S, ReqBody, ResBody>(
    mut ctx: Context<'_>,
    inner: S,
    head: http::request::Parts,
    request_body: ReqBody,
    body: Bytes,
    mut stored: Option<Found>,
    coalesce: bool,
) -> CachedResult<ResBody, S::Error>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: From<Bytes>,
    ResBody: Body,
{
    let cache = ctx.cache;
    let _leader = if coalesce {
        match cache.shared.flights.join(ctx.key.clone()) {
            Flight::Leader(leader) => Some(leader),
            Flight::Follower(follower) => {
                flight::wait(follower).await;
                ctx.now = cache.shared.clock.now();
                stored = ctx.lookup(&head, &body).await;
                if let Some(found) = &stored
                    && ctx.usability(&found.entry) == Usability::Fresh
                {
                    return Ok(ctx.answer(found, &head, CacheOutcome::Hit));
                }
                None
            }
        }
    } else {
        None
    };
    let request = Request::from_parts(head, request_body);
    Box::pin(ctx.fetch(inner, request, body, stored)).await
}

/// A usable stored entry, and the key it is stored under (for an alias, its
/// target's; for a `Vary`ing response, its variant's).
#[derive(Clone)]
pub(crate) struct Found {
    pub(crate) key: CacheKey,
    pub(crate) entry: Arc<CachedResponse>,
}

/// What the steps of one request share.
pub(crate) struct Context<'a> {
    pub(crate) cache: &'a Cache,
    pub(crate) key: CacheKey,
    pub(crate) options: CacheOptions,
    pub(crate) request_cc: CacheControl,
    /// Whether the request is conditional (`If-None-Match`, `If-Modified-Since`).
    pub(crate) conditional: bool,
    /// The time of the lookup; the fetch path reads the clock afresh.
    pub(crate) now: SystemTime,
}

impl Context<'_> {
    pub(crate) fn settings(&self) -> &CacheSettings {
        &self.cache.shared.settings
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.cache.shared.counters
    }

    /// The answer from a stored response: the response itself with its
    /// current `Age`, a `304` when the client's own conditional request
    /// matches a fresh one, and no body for `HEAD`.
    pub(crate) fn answer<B: Body>(
        &self,
        found: &Found,
        request: &http::request::Parts,
        outcome: CacheOutcome,
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
            && !status.is_expired
            && self.settings().cache_control;
        if conditional
            && policy::client_conditional_matches(&request.headers, &entry.headers) == Some(true)
        {
            let mut response = Response::new(CacheBody::cached(Bytes::new()));
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            for name in &policy::NOT_MODIFIED_HEADERS {
                for value in entry.headers.get_all(name) {
                    response.headers_mut().append(name.clone(), value.clone());
                }
            }
            response.headers_mut().insert(header::AGE, age);
            return with_status(response, status);
        }
        let body = if request.method == Method::HEAD {
            Bytes::new()
        } else {
            entry.body.clone()
        };
        let mut response = Response::new(CacheBody::cached(body));
        *response.status_mut() = entry.status;
        *response.version_mut() = entry.version;
        *response.headers_mut() = entry.headers.clone();
        response.headers_mut().insert(header::AGE, age);
        with_status(response, status)
    }

    pub(crate) fn status(&self, entry: &CachedResponse, outcome: CacheOutcome) -> CacheStatus {
        CacheStatus {
            from_cache: true,
            is_expired: outcome != CacheOutcome::Revalidated && entry.is_expired(self.now),
            created_at: Some(entry.created_at),
            expires: entry.expires,
            key: Some(self.key.clone()),
            revalidated: outcome == CacheOutcome::Revalidated,
            outcome,
        }
    }

    /// Marks an upstream response that was not stored, and logs why.
    pub(crate) fn not_stored<B: Body>(
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
                ..CacheStatus::default()
            },
        )
    }

    pub(crate) fn gateway_timeout<B: Body>(&self) -> Response<CacheBody<B>> {
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

/// Reads a request body whole: a body to send on, and its bytes for the key.
async fn read_body<B>(body: B) -> Result<(B, Bytes), BoxError>
where
    B: Body + From<Bytes>,
    B::Error: Into<BoxError>,
{
    let bytes = body.collect().await.map_err(Into::into)?.to_bytes();
    Ok((B::from(bytes.clone()), bytes))
}

pub(crate) fn with_status<B>(mut response: Response<B>, status: CacheStatus) -> Response<B> {
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

/// The heads of requests, kept for after the request has gone upstream.
pub(crate) fn request_head<B>(request: &Request<B>) -> http::request::Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = request.method().clone();
    head.uri = request.uri().clone();
    head.version = request.version();
    head.headers = request.headers().clone();
    head
}

/// `true` when a header map has a request credential that shared caches must
/// respect (RFC 9111 section 3.5).
pub(crate) fn has_authorization(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
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
