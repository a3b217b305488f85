//! [`respond`]: the path of one request through the cache — classify it,
//! key it, look it up, answer from storage, or go upstream.

use super::exchange::{CachedResult, Exchange, Found, with_status};
use crate::body::CacheBody;
use crate::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
use crate::policy::freshness::Verdict;
use crate::policy::request::{self};
use crate::request_options::RequestOptions;
use crate::runtime::Shared;
use crate::status::{CacheOutcome, CacheStatus, Forward};
use crate::storage::BoxError;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use std::sync::Arc;

/// Answers one request.
pub(crate) async fn respond<S, ReqBody, ResBody>(
    shared: Arc<Shared>,
    mut inner: S,
    request: Request<ReqBody>,
    disabled: bool,
) -> CachedResult<ResBody, S::Error>
where
    S: CacheableService<ReqBody, ResBody>,
    ReqBody: CacheableRequestBody,
    ResBody: CacheableResponseBody,
{
    let settings = &shared.settings;
    let mut options = request
        .extensions()
        .get::<RequestOptions>()
        .copied()
        .unwrap_or_default();
    let classified = request::classify(
        &settings.rules,
        request.method(),
        request.uri(),
        request.headers(),
        disabled,
        options.bypass,
        options.expire_after,
    );
    if let Some(skip) = classified.skip {
        tracing::debug!(reason = skip.reason(), "reqcache: skipped");
        let invalidates = classified
            .invalidates
            .then(|| (request.method().clone(), request.uri().clone()));
        // Boxed, like every path but the hit path, so that the hit path's
        // future stays small: the whole of it is moved into its box.
        return Box::pin(async move {
            let response = inner.call(request).await?;
            if let Some((method, uri)) = invalidates {
                let (status, headers) = (response.status(), response.headers().clone());
                super::invalidate::invalidate(&shared, &method, &uri, status, &headers).await;
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
    let hint = request_body.size_hint();
    let (request_body, body) = if request_body.is_end_stream() || hint.exact() == Some(0) {
        (request_body, Bytes::new())
    } else if hint
        .upper()
        .is_some_and(|upper| upper <= settings.max_request_body_size as u64)
    {
        match Box::pin(read_body(request_body, settings.max_request_body_size)).await {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(%error, "reqcache: request body could not be read; answering 400");
                return Ok(bad_request(&error));
            }
        }
    } else {
        // Larger than the limit, or of unknown length: not read, not cached.
        tracing::debug!(
            reason = "request body larger than max_request_body_size or of unknown length",
            "reqcache: skipped"
        );
        let request = Request::from_parts(head, request_body);
        return Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(with_status(
                response.map(CacheBody::upstream),
                CacheStatus::bypassed(),
            ))
        })
        .await;
    };
    // `only_if_cached` wins over refreshing: a fresh entry is served, and no
    // request is made (requests-cache 1.x).
    if options.only_if_cached || classified.directives.only_if_cached {
        options.refresh = false;
        options.force_refresh = false;
    }
    let mut exchange = Exchange::new(&shared, &head, &body, options, &classified);
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
            // A range is answered only from a fresh response: a refresh
            // would send the Range upstream.
            Verdict::StaleWhileRevalidate if !classified.range => {
                // Without a runtime to refresh on, revalidate in line instead.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let response =
                        exchange.answer(found, &head, CacheOutcome::StaleWhileRevalidate);
                    // Once per key: a refresh under way already will do.
                    if let Some(leader) = shared.flights.try_lead(exchange.key.clone()) {
                        runtime.spawn(super::fetch::refresh_in_background(
                            shared.clone(),
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
            Verdict::StaleWhileRevalidate | Verdict::Stale => {}
        }
        if exchange.forward == Forward::UriMiss {
            exchange.forward = Forward::Stale;
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

    if classified.range {
        // Partial content is not stored, nor shared with other requests.
        tracing::debug!(key = %exchange.key, "reqcache: range request; going upstream as it is");
        let status = exchange.passed_upstream();
        return Box::pin(async move {
            let response = inner.call(Request::from_parts(head, request_body)).await?;
            Ok(with_status(response.map(CacheBody::upstream), status))
        })
        .await;
    }

    let coalesce = settings.single_flight
        && !options.refresh
        && !options.force_refresh
        && !classified.directives.no_cache;
    // Boxed so that the hit path's future stays small (all of it is moved
    // into its box): waiting for another request's fetch, and fetching.
    Box::pin(exchange.go_upstream(inner, head, request_body, body, stored, coalesce)).await
}

/// Reads a request body whole, up to `limit` bytes (a body whose size hint
/// promised no more): a body to send on, and its bytes for the key.
async fn read_body<B>(body: B, limit: usize) -> Result<(B, Bytes), BoxError>
where
    B: Body + From<Bytes>,
    B::Error: Into<BoxError>,
{
    let bytes = Limited::new(body, limit).collect().await?.to_bytes();
    Ok((B::from(bytes.clone()), bytes))
}

fn bad_request<B: Body>(error: &BoxError) -> Response<CacheBody<B>> {
    let mut response = Response::new(CacheBody::cached(Bytes::from(format!(
        "request body could not be read: {error}"
    ))));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    with_status(response, CacheStatus::bypassed())
}
