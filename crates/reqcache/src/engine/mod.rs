//! The engine: the request path's I/O, one way down to the policy, the key
//! and the storage.
//!
//! [`start`] opens a request's span and runs [`respond`]: classify the
//! request (policy), key it, look it up and judge what is stored
//! ([`Exchange`]: storage, then the policy's verdict), and answer from the
//! cache or go upstream (single flight) and store what the policy allows.
//! Every storage failure on this path is logged and becomes a miss or a
//! skipped write; only the inner service's own errors reach the caller.

mod exchange;

mod invalidate;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::body::CacheBody;
use crate::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
use crate::future::ResponseFuture;
use crate::handle::CacheHandle;
use crate::policy::freshness::Verdict;
use crate::policy::request;
use crate::request_options::RequestOptions;
use crate::status::{CacheOutcome, CacheStatus};
use crate::storage::BoxError;

use exchange::{CachedResult, Exchange, Found, with_status};

/// Starts answering one request: [`respond`] inside a `reqcache` span
/// (method, URI); the events inside it say what happened. `cache` is `None`
/// for an installed-cache service when nothing is installed: the request
/// passes through.
pub(crate) fn start<S, ReqBody, ResBody>(
    cache: Option<CacheHandle>,
    inner: S,
    request: Request<ReqBody>,
    disabled: bool,
) -> ResponseFuture<ResBody, S::Error>
where
    S: CacheableService<ReqBody, ResBody>,
    ReqBody: CacheableRequestBody,
    ResBody: CacheableResponseBody,
{
    let Some(cache) = cache else {
        return pass_through(inner, request);
    };
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
fn pass_through<S, ReqBody, ResBody>(
    mut inner: S,
    request: Request<ReqBody>,
) -> ResponseFuture<ResBody, S::Error>
where
    S: CacheableService<ReqBody, ResBody>,
    ResBody: CacheableResponseBody,
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
async fn respond<S, ReqBody, ResBody>(
    cache: CacheHandle,
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
        .get::<RequestOptions>()
        .copied()
        .unwrap_or_default();
    let classified = request::classify(
        &settings.rules,
        request.method(),
        request.headers(),
        disabled,
        options.bypass,
    );
    if let Some(skip) = classified.skip {
        tracing::debug!(reason = skip.reason(), "reqcache: skipped");
        let uri = classified.invalidates.then(|| request.uri().clone());
        // Boxed, like every path but the hit path, so that the hit path's
        // future stays small: the whole of it is moved into its box.
        return Box::pin(async move {
            let response = inner.call(request).await?;
            if let Some(uri) = uri {
                let (status, headers) = (response.status(), response.headers().clone());
                invalidate::invalidate(&cache, &uri, status, &headers).await;
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
    let exchange = Exchange::new(&cache, &head, &body, options, &classified);
    let stored = if options.force_refresh {
        None
    } else {
        exchange.lookup(&head, &body).await
    };
    if let Some(found) = &stored {
        match exchange.verdict(found) {
            Verdict::Fresh | Verdict::AcceptedStale => {
                return Ok(exchange.answer(found, &head, CacheOutcome::Hit));
            }
            Verdict::StaleWhileRevalidate => {
                // Without a runtime to refresh on, revalidate in line instead.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let response =
                        exchange.answer(found, &head, CacheOutcome::StaleWhileRevalidate);
                    // Once per key: a refresh under way already will do.
                    if let Some(leader) = cache.shared.flights.try_lead(exchange.key.clone()) {
                        runtime.spawn(exchange::refresh_in_background(
                            cache.clone(),
                            exchange.key.clone(),
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
            Verdict::Stale => {}
        }
    }
    if options.only_if_cached || classified.directives.only_if_cached {
        return Ok(match &stored {
            Some(found) if exchange.serves_stale_on_error(found) => {
                exchange.answer(found, &head, CacheOutcome::StaleOnError)
            }
            _ => exchange.gateway_timeout(),
        });
    }

    let coalesce = settings.single_flight
        && !options.refresh
        && !options.force_refresh
        && !classified.directives.no_cache;
    // Boxed so that the hit path's future stays small (all of it is moved
    // into its box): waiting for another request's fetch, and fetching.
    Box::pin(exchange.go_upstream(inner, head, request_body, body, stored, coalesce)).await
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

fn bad_request<B: Body>(error: &BoxError) -> Response<CacheBody<B>> {
    let mut response = Response::new(CacheBody::cached(Bytes::from(format!(
        "request body could not be read: {error}"
    ))));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    with_status(response, CacheStatus::bypassed())
}
