//! The trip upstream of one request: [`Exchange::fetch`] and its steps —
//! the call (conditional when a stale entry has validators), what a `304`
//! means ([`validation::judge_not_modified`]), whether and how the response
//! is stored, and the tape that records its body as it streams — and the
//! refreshes made behind a response (`stale-while-revalidate`, and a body
//! its caller dropped).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;
use tracing::Instrument;

use super::exchange::{CachedResult, Exchange, Found, with_status};
use super::storage_calls::{self, WritePlan, store_behind};
use crate::body::CacheBody;
use crate::body::landing::Lander;
use crate::body::spool::Spool;
use crate::body::tape::{Completed, Follow, OnAbandoned, SpoolPlan, Tape, TapeReader};
use crate::bounds::CacheableResponseBody;
use crate::key::{CacheKey, variant_key};
use crate::policy::cache_control::CacheControl;
use crate::policy::cache_groups::GroupSources;
use crate::policy::expiration::DoNotStore;
use crate::policy::freshness;
use crate::policy::freshness::Verdict;
use crate::policy::storable::{self, Asked, Times};
use crate::policy::validation::{self, NotModified};
use crate::policy::vary;
use crate::request_options::RequestOptions;
use crate::runtime::Shared;
use crate::runtime::flight::{Flight, Leader, Published};
use crate::runtime::stats::Counter;
use crate::status::{CacheOutcome, CacheStatus, Forward};
use crate::storage::backend::CHUNKED_FROM;
use crate::storage::{Alias, CachedResponse, StoredRecord, VaryIndex, group_id};

/// An entry ready to be recorded: what is stored, under which keys.
struct Planned {
    /// The response, its body still empty (the tape fills it).
    entry: CachedResponse,
    times: Times,
    /// The `Vary` header names it varies on.
    vary: Vec<HeaderName>,
    /// The key it is stored under: this request's, or the final URL's after
    /// redirects.
    primary: CacheKey,
    /// The variant's key, when it varies (a vary index then goes under
    /// `primary`).
    variant: Option<CacheKey>,
    /// An alias under this request's key, when redirects were followed.
    alias: Option<Alias>,
}

impl Exchange<'_> {
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
            first: None,
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
        let follow = tape.follow()?;
        tracing::debug!(key = %self.key, "reqcache: answered from a concurrent request's response");
        Some(
            self.answer_with(&found, head, CacheOutcome::Hit, || match follow {
                Follow::Tape(reader) => CacheBody::shared(reader, published.length),
                Follow::Chunks(follower) => {
                    CacheBody::following(follower, Arc::clone(tape), published.length)
                }
            }),
        )
    }

    /// Calls upstream (conditionally when a stale entry has validators) and
    /// answers with its response at once; a storable one is recorded as it
    /// streams and stored behind the response when its body completes.
    /// `leader`, when this request leads a flight, publishes the storable
    /// response to its followers and lives until the entry is written.
    pub(super) async fn fetch<S, ReqBody, ResBody>(
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
        let mut response = match inner.call(request).await {
            Ok(response) => response,
            Err(error) => return self.upstream_failed(stored.as_ref(), &head, error),
        };
        let response_time = self.shared.clock.now();
        let mut plan = WritePlan::default();
        if let Some(found) = &stored {
            let status = response.status();
            match validation::judge_not_modified(
                status,
                added_validators,
                self.conditional,
                &found.entry.headers,
                response.headers(),
            ) {
                NotModified::Refreshes => {
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
                NotModified::AskAgain => {
                    tracing::debug!(key = %self.key, "reqcache: 304 for another representation; fetching again");
                    // The stored one goes, before what comes is stored.
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
                }
                NotModified::No
                    if freshness::is_error_status(&self.settings().rules, status)
                        && self.serves_stale_on_error(found) =>
                {
                    return Ok(self.answer(found, &head, CacheOutcome::StaleOnError));
                }
                NotModified::No => {}
            }
        }
        let (mut parts, body) = response.into_parts();
        // An unsafe method the cache stores (`allowable_methods`) still
        // invalidates the groups its response names.
        if !head.method.is_safe() {
            super::invalidate::invalidate_groups(
                self.shared,
                &head.method,
                &head.uri,
                &parts.headers,
            )
            .await;
        }
        let planned = self.plan_entry(
            &head,
            &parts,
            body.size_hint().lower(),
            &request_body,
            request_time,
            response_time,
        );
        // The vendor group headers the cache reads are for the cache only.
        for name in self.settings().group_sources.stripped() {
            parts.headers.remove(name);
        }
        match planned {
            Ok(planned) => Ok(self.record(parts, body, planned, plan, leader)),
            Err(reason) => {
                store_behind(self.shared, plan, None, None);
                Ok(self.not_stored(
                    Response::from_parts(parts, CacheBody::upstream(body)),
                    reason,
                ))
            }
        }
    }

    /// Upstream failed: stale data when the stored entry may answer on an
    /// error, a `504` when it must be revalidated, else the error itself.
    fn upstream_failed<B: Body, E>(
        &self,
        stored: Option<&Found>,
        head: &http::request::Parts,
        error: E,
    ) -> CachedResult<B, E> {
        match stored {
            Some(found) if self.serves_stale_disconnected(found) => {
                Ok(self.answer(found, head, CacheOutcome::StaleOnError))
            }
            // must-revalidate: a failed revalidation is a 504.
            Some(found)
                if freshness::requires_revalidation(&self.settings().rules, &found.stored()) =>
            {
                Ok(self.gateway_timeout_with(CacheOutcome::NotStored))
            }
            _ => Err(error),
        }
    }

    /// Whether the response is stored, and if so what and under which keys;
    /// the reason when it is not. `body_at_least` is the body's known lower
    /// bound on its size.
    fn plan_entry(
        &self,
        head: &http::request::Parts,
        parts: &http::response::Parts,
        body_at_least: u64,
        request_body: &Bytes,
        request_time: SystemTime,
        response_time: SystemTime,
    ) -> Result<Planned, &'static str> {
        let settings = self.settings();
        let rules = &settings.rules;
        let (times, vary) =
            storable::decide(rules, self.asked(head), parts, request_time, response_time)
                .map_err(|not_stored| not_stored.reason())?;
        if settings.read_only {
            return Err("read-only cache");
        }
        if body_at_least > settings.max_body_size as u64 {
            return Err("body larger than max_body_size");
        }
        if let Some(admission) = &self.shared.admission
            && !admission.admits(self.key.as_str())
        {
            return Err("not admitted: asked for fewer than min_uses times");
        }
        // The age the response arrived with is folded into `created_at`; its
        // `Age` field is kept as a slot that every answer overwrites, so an
        // answer never has to grow the cloned header map.
        let mut stored_headers = parts.headers.clone();
        stored_headers.insert(header::AGE, HeaderValue::from_static("0"));
        if rules.strips_set_cookie() {
            // Only the client that asked gets its cookie.
            stored_headers.remove(header::SET_COOKIE);
        }
        for name in settings.group_sources.stripped() {
            stored_headers.remove(name);
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
                request_body,
            ),
            created_at: times.created_at,
            expires: times.expires,
            retain_until: times.retain_until,
            stored_body: None,
            groups: Vec::new(),
        };
        // The inner service followed redirects: store under the final URL's
        // key, and an alias under this request's.
        let final_uri = redirected_to(&parts.extensions).filter(|uri| **uri != head.uri);
        let mut alias = None;
        let primary = match final_uri {
            Some(final_uri) => {
                let target = settings
                    .key
                    .key(&head.method, final_uri, &head.headers, request_body);
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
        // Groups are scoped to the origin of the URL stored.
        entry.groups = group_ids(&settings.group_sources, &entry.request.url, &parts.headers);
        // A Vary'ing response: under its variant's key, and a vary index
        // under the primary key (which tells lookups how it varies).
        let variant = if vary.is_empty() {
            None
        } else {
            Some(
                variant_key(&settings.key.normalize, &primary, &vary, &head.headers)
                    .ok_or("Vary headers that cannot be keyed")?,
            )
        };
        Ok(Planned {
            entry,
            times,
            vary,
            primary,
            variant,
            alias,
        })
    }

    /// Puts the body on a tape that the caller (and the followers of
    /// `leader`) read as it arrives, and that stores the planned entry
    /// (with `plan`'s deletes) when it completes; answers with it now.
    fn record<B: CacheableResponseBody>(
        &self,
        parts: http::response::Parts,
        body: B,
        planned: Planned,
        mut plan: WritePlan,
        leader: Option<Leader>,
    ) -> Response<CacheBody<B>> {
        let Planned {
            mut entry,
            times,
            vary,
            primary,
            variant,
            alias,
        } = planned;
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
        let on_complete = Box::new(move |body: Completed, lander: Lander| {
            let _span = span.enter();
            match body {
                Completed::Bytes(bytes) => entry.body = bytes,
                Completed::Chunks(stored) => entry.stored_body = Some(stored),
            }
            let entry = Arc::new(entry);
            let leader = leader_for_store
                .and_then(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).take());
            if let Some(leader) = &leader {
                // Later followers answer from the whole entry.
                leader.publish(Published {
                    key: published_key,
                    entry: Arc::clone(&entry),
                    tape: None,
                    length: Some(entry.body_len()),
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
        let settings = self.settings();
        let on_abandoned = settings
            .background_fill
            .map(|limit| background_fill(self.shared.clone(), limit));
        let tape = Tape::new(
            body,
            settings.max_body_size,
            on_complete,
            on_abandoned,
            self.spool_plan(),
        );
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
        with_status(
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
        )
    }

    /// How the body goes to the storage's chunks once past
    /// [`CHUNKED_FROM`], when the storage keeps chunks and a runtime can
    /// run the writer: behind the response, as a write `flush` waits for.
    fn spool_plan(&self) -> Option<SpoolPlan> {
        let chunks = self.shared.chunks.clone()?;
        tokio::runtime::Handle::try_current().ok()?;
        let shared = Arc::clone(self.shared);
        let span = tracing::Span::current();
        Some(SpoolPlan {
            from: CHUNKED_FROM,
            start: Box::new(move || {
                // A storage whose writes fail (the breaker is open): not
                // stored, as other writes are not.
                if !shared.write_breaker.allows(shared.clock.now()) {
                    return None;
                }
                let (spool, writer) = Spool::new(chunks, shared.settings.write_timeout);
                shared
                    .writes
                    .submit(&shared.counters, writer.instrument(span), None);
                Some(spool)
            }),
        })
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
        // A 304 that names groups replaces the entry's groups.
        let sources = &self.settings().group_sources;
        if sources.names_groups(&not_modified) {
            refreshed.groups = group_ids(sources, &refreshed.request.url, &refreshed.headers);
            for name in sources.stripped() {
                refreshed.headers.remove(name);
            }
        }
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
            first: None,
        };
        if let Some(leader) = &leader {
            leader.publish(Published {
                key: found.key.clone(),
                entry: Arc::clone(&found.entry),
                tape: None,
                length: Some(found.entry.body_len()),
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

/// Whether a response is an event stream (`text/event-stream`): one that
/// may never end, so followers do not read it as it streams.
/// The [`group_id`]s of a response to `url` with `headers`.
fn group_ids(sources: &GroupSources, url: &str, headers: &HeaderMap) -> Vec<String> {
    sources
        .groups(headers)
        .iter()
        .map(|name| group_id(url, name))
        .collect()
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
