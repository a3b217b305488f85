//! One request's trip through the cache: [`respond`], the path, and
//! [`Exchange`], every step of it — lookup, the policy's verdict, an answer
//! from storage, or a fetch that stores what the policy allows — with every
//! method of the type in this file.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Limited};
use tower_service::Service;
use tracing::Instrument;

use super::storage_calls::{self, WritePlan, store_behind};
use crate::body::CacheBody;
use crate::body::landing::Lander;
use crate::body::tape::{OnAbandoned, Tape, TapeReader};
use crate::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
use crate::key::{CacheKey, variant_key};
use crate::policy::cache_control::CacheControl;
use crate::policy::expiration::DoNotStore;
use crate::policy::freshness::{self, Stored, Verdict};
use crate::policy::request::{self, Classified};
use crate::policy::storable::{self, Asked};
use crate::policy::{range, validation, vary};
use crate::request_options::RequestOptions;
use crate::runtime::Shared;
use crate::runtime::flight::{Flight, Leader, Published};
use crate::runtime::settings::CacheSettings;
use crate::runtime::stats::{Counter, Counters};
use crate::status::{CacheOutcome, CacheStatus, Forward};
use crate::storage::{Alias, BoxError, CachedResponse, RecordChain, StoredRecord, VaryIndex};

use super::partial;

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
        let uri = classified.invalidates.then(|| request.uri().clone());
        // Boxed, like every path but the hit path, so that the hit path's
        // future stays small: the whole of it is moved into its box.
        return Box::pin(async move {
            let response = inner.call(request).await?;
            if let Some(uri) = uri {
                let (status, headers) = (response.status(), response.headers().clone());
                super::invalidate::invalidate(&shared, &uri, status, &headers).await;
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
                        runtime.spawn(refresh_in_background(
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
}

impl Found {
    /// What the policy reads of it.
    fn stored(&self) -> Stored<'_> {
        Stored {
            headers: &self.entry.headers,
            created_at: self.entry.created_at,
            expires: self.entry.expires,
        }
    }
}

/// One request's exchange with the cache.
pub(super) struct Exchange<'a> {
    shared: &'a Arc<Shared>,
    pub(super) key: CacheKey,
    options: RequestOptions,
    /// The request's directives (none when `cache_control` is off).
    directives: CacheControl,
    /// Whether the request is conditional (`If-None-Match`, `If-Modified-Since`).
    conditional: bool,
    /// The time of the lookup; the fetch path reads the clock afresh.
    now: SystemTime,
    /// Flights ended before the lookup (see [`SingleFlight::ended`](crate::runtime::flight::SingleFlight::ended)).
    flights_ended: u64,
    /// Why it goes upstream, if it does.
    forward: Forward,
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

    fn settings(&self) -> &CacheSettings {
        &self.shared.settings
    }

    fn counters(&self) -> &Counters {
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
        })
    }

    /// Whether `entry` answers a request with `headers`: it does not vary,
    /// or its `Vary` headers match (never for `Vary: *`).
    fn fits(&self, entry: &CachedResponse, headers: &HeaderMap) -> bool {
        vary::vary_names(&entry.headers)
            .is_some_and(|names| names.is_empty() || self.vary_matches(entry, headers))
    }

    fn vary_matches(&self, entry: &CachedResponse, headers: &HeaderMap) -> bool {
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
    fn serves_stale_disconnected(&self, found: &Found) -> bool {
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
        let response = self.answer_with(found, request, outcome, || {
            CacheBody::cached(found.entry.body.clone())
        });
        if request.method == Method::GET
            && response.status() == StatusCode::OK
            && request.headers.contains_key(header::RANGE)
        {
            let body = &found.entry.body;
            let selected = range::select(
                &request.headers,
                &found.entry.headers,
                body.len() as u64,
                self.now,
            );
            return partial::answer(response, selected, body);
        }
        response
    }

    /// [`answer`](Self::answer), with the body (when one is sent) from `body`.
    fn answer_with<B: Body>(
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
    fn passed_upstream(&self) -> CacheStatus {
        CacheStatus {
            key: Some(self.key.clone()),
            outcome: CacheOutcome::NotStored,
            forwarded: Some(self.forward),
            ..CacheStatus::default()
        }
    }

    /// Marks an upstream response that was not stored, and logs why.
    fn not_stored<B: Body>(
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

    fn gateway_timeout_with<B: Body>(&self, outcome: CacheOutcome) -> Response<CacheBody<B>> {
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

    // ---- upstream -----------------------------------------------------

    /// A request the cache could not answer: follows a concurrent fetch of
    /// the same key (single flight) and answers from its response when that
    /// is storable and fresh for this request, else fetches.
    pub(super) async fn go_upstream<S, ReqBody, ResBody>(
        mut self,
        inner: S,
        head: http::request::Parts,
        request_body: ReqBody,
        body: Bytes,
        stored: Option<Found>,
        coalesce: bool,
    ) -> CachedResult<ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ReqBody: From<Bytes>,
        ResBody: CacheableResponseBody,
    {
        let shared = self.shared;
        let mut stored = stored;
        let leader = if coalesce {
            match shared.flights.join(self.key.clone()) {
                Flight::Leader(leader) => {
                    // A flight ended while this request read the storage:
                    // its entry may have been written just after the read.
                    if shared.flights.ended() != self.flights_ended {
                        self.now = shared.clock.now();
                        stored = self.lookup(&head, &body).await;
                        if let Some(found) = &stored
                            && self.verdict(found) == Verdict::Fresh
                        {
                            return Ok(self.answer(found, &head, CacheOutcome::Hit));
                        }
                    }
                    Some(leader)
                }
                Flight::Follower(follower) => {
                    if let Some(published) = follower.published().await {
                        self.now = shared.clock.now();
                        if let Some(response) = self.follow(&published, &head).await {
                            return Ok(response);
                        }
                    }
                    // The leader's response is not one for this request.
                    None
                }
            }
        } else {
            None
        };
        let request = Request::from_parts(head, request_body);
        Box::pin(self.fetch(inner, request, body, stored, leader)).await
    }

    /// The answer from a leader's published response, when it is fresh for
    /// this request and its `Vary` headers match: the body read from the
    /// leader's tape as it arrives. `None` (not storable for this request,
    /// past the size limit, failed, or an event stream, which is never
    /// shared) sends the request upstream itself.
    async fn follow<B: Body>(
        &self,
        published: &Published,
        head: &http::request::Parts,
    ) -> Option<Response<CacheBody<B>>> {
        let found = Found {
            key: published.key.clone(),
            entry: Arc::clone(&published.entry),
            index: None,
        };
        if self.verdict(&found) != Verdict::Fresh || !self.vary_matches(&found.entry, &head.headers)
        {
            return None;
        }
        let Some(tape) = &published.tape else {
            return Some(self.answer(&found, head, CacheOutcome::Hit));
        };
        if !published.streams_to_followers {
            return None;
        }
        // `None` once the body is past the limit or has failed.
        let reader = tape.reader()?;
        tracing::debug!(key = %self.key, "reqcache: answered from a concurrent request's response");
        Some(self.answer_with(&found, head, CacheOutcome::Hit, || {
            CacheBody::shared(reader, published.length)
        }))
    }

    /// Calls upstream (conditionally when a stale entry has validators) and
    /// answers with its response at once; a storable one is recorded as it
    /// streams and stored behind the response when its body completes.
    /// `leader`, when this request leads a flight, publishes the storable
    /// response to its followers and lives until the entry is written.
    async fn fetch<S, ReqBody, ResBody>(
        &self,
        mut inner: S,
        mut request: Request<ReqBody>,
        request_body: Bytes,
        stored: Option<Found>,
        leader: Option<Leader>,
    ) -> CachedResult<ResBody, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ReqBody: From<Bytes>,
        ResBody: CacheableResponseBody,
    {
        let settings = self.settings();
        let rules = &settings.rules;
        // What storing needs of the request once it has gone upstream.
        let head = copy_head(
            request.method(),
            request.uri(),
            request.version(),
            request.headers(),
        );
        let added_validators = match &stored {
            Some(found) => validation::add_validators(request.headers_mut(), &found.entry.headers),
            None => false,
        };
        // Kept to send again, unconditionally, if a 304 does not match,
        // with the request's extensions (what services under the cache
        // read from them, a proxy's client address say, goes again too).
        let retry = added_validators.then(|| {
            let mut parts = copy_of(&head);
            parts.extensions = request.extensions().clone();
            (parts, request_body.clone())
        });

        self.counters().record(Counter::Miss);
        tracing::debug!(key = %self.key, conditional = added_validators, "reqcache: miss; going upstream");
        let request_time = self.shared.clock.now();
        let response = match inner.call(request).await {
            Ok(response) => response,
            Err(error) => {
                return match &stored {
                    Some(found) if self.serves_stale_disconnected(found) => {
                        Ok(self.answer(found, &head, CacheOutcome::StaleOnError))
                    }
                    // must-revalidate: a failed revalidation is a 504.
                    Some(found) if freshness::requires_revalidation(rules, &found.stored()) => {
                        Ok(self.gateway_timeout_with(CacheOutcome::NotStored))
                    }
                    _ => Err(error),
                };
            }
        };
        let response_time = self.shared.clock.now();
        let status = response.status();
        let mut response = response;
        let mut plan = WritePlan::default();
        if let Some(found) = &stored {
            if status == StatusCode::NOT_MODIFIED && added_validators {
                if validation::not_modified_matches(&found.entry.headers, response.headers()) {
                    let not_modified = response.into_parts().0.headers;
                    return Ok(self.revalidated(
                        found,
                        &head,
                        &not_modified,
                        request_time,
                        response_time,
                        leader,
                    ));
                }
                // The 304 describes some other representation: ask again,
                // unconditionally (and drop the stored one, before storing
                // what comes).
                tracing::debug!(key = %self.key, "reqcache: 304 for another representation; fetching again");
                plan.deletes.push(found.key.clone());
                let (parts, body) = retry.unwrap_or_else(|| (copy_of(&head), Bytes::new()));
                response = match inner
                    .call(Request::from_parts(parts, ReqBody::from(body)))
                    .await
                {
                    Ok(response) => response,
                    Err(error) => {
                        store_behind(self.shared, plan, None, None);
                        return Err(error);
                    }
                };
            } else if status == StatusCode::NOT_MODIFIED
                && !self.conditional
                && validation::not_modified_matches(&found.entry.headers, response.headers())
            {
                // A `304` to an unconditional request (the stored response
                // has no validator): the stored response, refreshed, answers
                // it; the client did not ask for a `304`.
                let not_modified = response.into_parts().0.headers;
                return Ok(self.revalidated(
                    found,
                    &head,
                    &not_modified,
                    request_time,
                    response_time,
                    leader,
                ));
            } else if freshness::is_error_status(rules, status) && self.serves_stale_on_error(found)
            {
                return Ok(self.answer(found, &head, CacheOutcome::StaleOnError));
            }
        }
        let (parts, body) = response.into_parts();
        let decided = storable::decide(
            rules,
            self.asked(&head),
            &parts,
            request_time,
            response_time,
        )
        .map_err(|not_stored| not_stored.reason())
        .and_then(|decided| {
            if settings.read_only {
                Err("read-only cache")
            } else if body.size_hint().lower() > settings.max_body_size as u64 {
                Err("body larger than max_body_size")
            } else {
                Ok(decided)
            }
        });
        let (times, vary) = match decided {
            Ok(decided) => decided,
            Err(reason) => {
                store_behind(self.shared, plan, None, None);
                return Ok(self.not_stored(
                    Response::from_parts(parts, CacheBody::upstream(body)),
                    reason,
                ));
            }
        };

        // The age the response arrived with is folded into `created_at`; its
        // `Age` field is kept as a slot that every answer overwrites, so an
        // answer never has to grow the cloned header map.
        let mut stored_headers = parts.headers.clone();
        stored_headers.insert(header::AGE, HeaderValue::from_static("0"));
        if rules.strips_set_cookie() {
            // Only the client that asked gets its cookie.
            stored_headers.remove(header::SET_COOKIE);
        }
        let mut entry = CachedResponse {
            status: parts.status,
            version: parts.version,
            headers: stored_headers,
            body: Bytes::new(),
            request: settings.key.normalize.stored_request(
                &head.method,
                &head.uri,
                &head.headers,
                &request_body,
            ),
            created_at: times.created_at,
            expires: times.expires,
            retain_until: times.retain_until,
        };
        // The inner service followed redirects: store under the final URL's
        // key, and an alias under this request's.
        let final_uri = redirected_to(&parts.extensions).filter(|uri| **uri != head.uri);
        let mut alias = None;
        let primary = match final_uri {
            Some(final_uri) => {
                let target =
                    settings
                        .key
                        .key(&head.method, final_uri, &head.headers, &request_body);
                alias = Some(Alias::new(
                    target.as_str(),
                    entry.request.clone(),
                    vary.clone(),
                    &entry,
                ));
                entry.request.url = settings.key.normalize.normalized_url(final_uri);
                target
            }
            None => self.key.clone(),
        };
        // A Vary'ing response: under its variant's key, and a vary index
        // under the primary key (which tells lookups how it varies).
        let variant = if vary.is_empty() {
            None
        } else {
            match variant_key(&settings.key.normalize, &primary, &vary, &head.headers) {
                Some(variant) => Some(variant),
                None => {
                    store_behind(self.shared, plan, None, None);
                    return Ok(self.not_stored(
                        Response::from_parts(parts, CacheBody::upstream(body)),
                        "Vary headers that cannot be keyed",
                    ));
                }
            }
        };
        let length = body.size_hint().exact();
        let streams_to_followers = !is_event_stream(&parts.headers);
        let shared = self.shared.clone();
        let key = self.key.clone();
        let stored_key = variant.clone().unwrap_or_else(|| primary.clone());
        let head_entry = leader.as_ref().map(|_| Arc::new(entry.clone()));
        // The tape is shared with the leader's followers: the leader guard
        // goes into the store, once the body is complete.
        let (leader_for_store, leader_slot) = match leader {
            Some(leader) => {
                let leader = Arc::new(std::sync::Mutex::new(Some(leader)));
                (Some(Arc::clone(&leader)), Some(leader))
            }
            None => (None, None),
        };
        // The body completes after the request's future: its write goes in
        // the request's span all the same.
        let span = tracing::Span::current();
        let published_key = stored_key.clone();
        let on_complete = Box::new(move |bytes: Bytes, lander: Lander| {
            let _span = span.enter();
            entry.body = bytes;
            let entry = Arc::new(entry);
            let leader = leader_for_store
                .and_then(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).take());
            if let Some(leader) = &leader {
                // Later followers answer from the whole entry.
                leader.publish(Published {
                    key: published_key,
                    entry: Arc::clone(&entry),
                    tape: None,
                    length: Some(entry.body.len() as u64),
                    streams_to_followers: true,
                });
            }
            match variant {
                Some(variant) => {
                    let index = VaryIndex::new(vary, &entry);
                    plan.puts.push((variant, StoredRecord::Response(entry)));
                    plan.puts.push((primary, index.into()));
                }
                None => plan.puts.push((primary, StoredRecord::Response(entry))),
            }
            if let Some(alias) = alias {
                plan.puts.push((key, alias.into()));
            }
            store_behind(&shared, plan, leader, Some(lander));
        });
        let on_abandoned = settings
            .background_fill
            .map(|limit| background_fill(self.shared.clone(), limit));
        let tape = Tape::new(body, settings.max_body_size, on_complete, on_abandoned);
        // The caller's reader, before any follower can read (and pull) the body.
        let reader = tape.first_reader();
        // Unless the body was already complete (the store took the leader
        // and published the whole entry), followers read the tape.
        if let (Some(slot), Some(head_entry)) = (&leader_slot, head_entry)
            && let Some(leader) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
        {
            leader.publish(Published {
                key: stored_key,
                entry: head_entry,
                tape: Some(Arc::clone(&tape)),
                length,
                streams_to_followers,
            });
        }
        Ok(with_status(
            Response::from_parts(parts, CacheBody::shared(reader, length)),
            CacheStatus {
                from_cache: false,
                is_expired: false,
                created_at: Some(times.created_at),
                expires: times.expires,
                key: Some(self.key.clone()),
                revalidated: false,
                outcome: CacheOutcome::Storing,
                forwarded: Some(self.forward),
            },
        ))
    }

    /// What the storability decision needs of this request.
    fn asked<'h>(&self, head: &'h http::request::Parts) -> Asked<'h> {
        Asked {
            head,
            max_age: self.directives.max_age,
            expire_after: self.options.expire_after,
        }
    }

    /// Upstream answered `304` for the stored response: refresh it (RFC 9111
    /// section 4.3.4), store it behind the answer, and answer from it (and
    /// the followers of `leader` too).
    fn revalidated<B: Body>(
        &self,
        found: &Found,
        head: &http::request::Parts,
        not_modified: &HeaderMap,
        request_time: SystemTime,
        response_time: SystemTime,
        leader: Option<Leader>,
    ) -> Response<CacheBody<B>> {
        let mut refreshed = CachedResponse::clone(&found.entry);
        // A shared cache keeps a 304's cookie for its own client only.
        let (not_modified, cookies) = if self.settings().rules.strips_set_cookie()
            && not_modified.contains_key(header::SET_COOKIE)
        {
            let mut without = not_modified.clone();
            let cookies: Vec<HeaderValue> = match without.entry(header::SET_COOKIE) {
                http::header::Entry::Occupied(entry) => entry.remove_entry_mult().1.collect(),
                http::header::Entry::Vacant(_) => Vec::new(),
            };
            (std::borrow::Cow::Owned(without), cookies)
        } else {
            (std::borrow::Cow::Borrowed(not_modified), Vec::new())
        };
        refreshed.headers = validation::merge_not_modified(&found.entry.headers, &not_modified);
        let mut plan = WritePlan::default();
        let refreshed = match storable::times(
            &self.settings().rules,
            self.asked(head),
            refreshed.status,
            &refreshed.headers,
            request_time,
            response_time,
        ) {
            Ok(times) => {
                refreshed.created_at = times.created_at;
                refreshed.expires = times.expires;
                refreshed.retain_until = times.retain_until;
                let refreshed = Arc::new(refreshed);
                plan.puts.push((
                    found.key.clone(),
                    StoredRecord::Response(Arc::clone(&refreshed)),
                ));
                // The index lives as long as the variant last stored.
                if let Some(index) = &found.index
                    && let Some(names) = vary::vary_names(&refreshed.headers)
                    && !names.is_empty()
                {
                    plan.puts
                        .push((index.clone(), VaryIndex::new(names, &refreshed).into()));
                }
                refreshed
            }
            Err(DoNotStore) => {
                refreshed.created_at = response_time;
                refreshed.expires = Some(response_time);
                plan.deletes.push(found.key.clone());
                Arc::new(refreshed)
            }
        };
        let found = Found {
            key: found.key.clone(),
            entry: refreshed,
            index: found.index.clone(),
        };
        if let Some(leader) = &leader {
            leader.publish(Published {
                key: found.key.clone(),
                entry: Arc::clone(&found.entry),
                tape: None,
                length: Some(found.entry.body.len() as u64),
                streams_to_followers: true,
            });
        }
        store_behind(self.shared, plan, leader, None);
        let at_response = Exchange {
            shared: self.shared,
            key: self.key.clone(),
            options: self.options,
            directives: self.directives,
            conditional: self.conditional,
            now: response_time,
            flights_ended: self.flights_ended,
            forward: self.forward,
        };
        let mut response = at_response.answer(&found, head, CacheOutcome::Revalidated);
        for cookie in cookies {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// Whether a response is an event stream (`text/event-stream`): one that
/// may never end, so followers do not read it as it streams.
/// The background fill: a storable body of known length that its caller
/// dropped is read to its end, within `limit`, and stored, as a write
/// nobody waits for (bounded with them, and awaited by `flush`).
fn background_fill(shared: Arc<Shared>, limit: Duration) -> OnAbandoned {
    let span = tracing::Span::current();
    Box::new(move |reader: TapeReader| {
        let writes = Arc::clone(&shared);
        let fill = async move {
            shared.counters.record(Counter::BackgroundFill);
            tracing::debug!("reqcache: body dropped unread; reading it to its end to store it");
            let stored = matches!(
                storage_calls::bounded(Some(limit), reader.read_to_end()).await,
                Ok(true)
            );
            if !stored {
                shared.counters.record(Counter::BackgroundFillFailed);
                tracing::warn!(
                    limit_secs = limit.as_secs_f64(),
                    "reqcache: background fill gave up (out of time, or the body failed); not stored"
                );
            }
        }
        .instrument(span);
        writes.writes.submit(&writes.counters, fill, None);
    })
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Refreshes a stale entry while its stale answer has already gone out
/// (`stale-while-revalidate`); `leader` makes it once per key.
pub(super) async fn refresh_in_background<S, ReqBody, ResBody>(
    shared: Arc<Shared>,
    key: CacheKey,
    inner: S,
    request: Request<ReqBody>,
    body: Bytes,
    found: Found,
    leader: Leader,
) where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: From<Bytes>,
    ResBody: CacheableResponseBody,
{
    let exchange = Exchange {
        shared: &shared,
        key,
        options: RequestOptions::default(),
        directives: CacheControl::default(),
        conditional: false,
        now: shared.clock.now(),
        flights_ended: shared.flights.ended(),
        forward: Forward::Stale,
    };
    match exchange
        .fetch(inner, request, body, Some(found), Some(leader))
        .await
    {
        // Read the body through so that it is recorded and stored.
        Ok(response) => drop(response.into_body().collect().await),
        Err(_) => {
            tracing::debug!(key = %exchange.key, "reqcache: background refresh failed; upstream error")
        }
    }
}

/// The final URI of a response whose request the inner service redirected
/// (tower-http's `FollowRedirect` records it).
#[cfg(feature = "redirect-aliases")]
fn redirected_to(extensions: &http::Extensions) -> Option<&http::Uri> {
    extensions
        .get::<tower_http::follow_redirect::RequestUri>()
        .map(|uri| &uri.0)
}

#[cfg(not(feature = "redirect-aliases"))]
fn redirected_to(_extensions: &http::Extensions) -> Option<&http::Uri> {
    None
}

/// Marks a response with what the cache did.
pub(crate) fn with_status<B>(mut response: Response<B>, status: CacheStatus) -> Response<B> {
    response.extensions_mut().insert(status);
    response
}

/// A request head made of these parts (no extensions): what storing needs
/// of a request once it has gone upstream.
fn copy_head(
    method: &Method,
    uri: &http::Uri,
    version: http::Version,
    headers: &HeaderMap,
) -> http::request::Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = method.clone();
    head.uri = uri.clone();
    head.version = version;
    head.headers = headers.clone();
    head
}

/// A copy of a request head, extensions left out.
fn copy_of(head: &http::request::Parts) -> http::request::Parts {
    copy_head(&head.method, &head.uri, head.version, &head.headers)
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
