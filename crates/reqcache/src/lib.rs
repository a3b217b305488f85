//! # reqcache
//!
//! An HTTP response cache as [tower] middleware: requests-cache for Rust.
//!
//! Put a [`CacheLayer`] in front of any `Service<http::Request<B>>` — a hyper
//! client, an axum router, any tower service — and repeated
//! requests are answered from a [`Storage`](storage::Storage) without reaching the inner
//! service. Stale entries are revalidated with `ETag` / `Last-Modified`, and
//! with [`stale_if_error`](CacheLayerBuilder::stale_if_error) stale data is
//! served when the upstream fails.
//!
//! ```
//! use std::convert::Infallible;
//! use http_body_util::{BodyExt, Full};
//! use reqcache::{CacheLayer, CacheStatus, MemoryStorage};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Any tower service that answers http requests: here, a stand-in upstream.
//! let upstream = tower::service_fn(|_req: http::Request<Full<bytes::Bytes>>| async {
//!     let response = http::Response::builder()
//!         .header("cache-control", "max-age=60")
//!         .body(Full::new(bytes::Bytes::from_static(b"hello")))
//!         .unwrap();
//!     Ok::<_, Infallible>(response)
//! });
//! let mut client = ServiceBuilder::new()
//!     .layer(CacheLayer::new(MemoryStorage::new()))
//!     .service(upstream);
//!
//! let request = || http::Request::get("https://example.com/").body(Full::default()).unwrap();
//! let first = client.ready().await.unwrap().call(request()).await.unwrap();
//! assert!(!first.extensions().get::<CacheStatus>().unwrap().from_cache());
//!
//! let second = client.ready().await.unwrap().call(request()).await.unwrap();
//! assert!(second.extensions().get::<CacheStatus>().unwrap().from_cache());
//! assert_eq!(second.into_body().collect().await.unwrap().to_bytes(), "hello");
//! # }
//! ```
//!
//! # What happens to a request
//! 1. Methods not in [`allowable_methods`](CacheLayerBuilder::allowable_methods),
//!    requests inside [`with_cache_disabled`], requests with
//!    [`RequestOptions::bypass`] or `Cache-Control: no-store` pass straight through.
//! 2. The [`CacheKey`](key::CacheKey) is computed: method, normalized URL, body, matched
//!    headers and (by default) credentials.
//! 3. A fresh stored response answers at once; the inner service is not called.
//! 4. A stale one with validators is revalidated with a conditional request;
//!    on `304` the stored entry is refreshed and answered.
//! 5. Otherwise the inner service answers, and its response goes to the
//!    caller as soon as its head arrives: the body streams through while a
//!    copy is kept (up to [`max_body_size`](CacheLayerBuilder::max_body_size)).
//!    When the body ends, the entry is stored, if its status, headers and
//!    expiration allow: in a private cache before the caller gets the end
//!    of the body, so that what a program has read is stored when it exits
//!    ([`WriteMode::Durable`]); in a shared one behind it
//!    ([`WriteMode::Behind`]). A storable body of known length that the
//!    caller drops unread is read to its end by the cache and stored
//!    ([`background_fill`](CacheLayerBuilder::background_fill)).
//! 6. Concurrent misses for one key make one upstream request (single
//!    flight): the others get the same response and read its body as it
//!    arrives.
//!
//! Every response carries a [`CacheStatus`] extension saying what happened.
//!
//! # HTTP semantics
//! With [`cache_control`](CacheLayerBuilder::cache_control) on (the default)
//! freshness, validation and directives follow RFC 9111, in a private or a
//! shared [`CacheMode`]: `s-maxage`, `max-age`, `Expires` against `Date`, the
//! age a response arrives with (and an `Age` header on every cached answer),
//! opt-in [`Heuristic`] freshness, `no-cache`, `no-store`, `must-revalidate`,
//! `private`, `stale-while-revalidate`, `stale-if-error`, `max-stale`,
//! `min-fresh`, `only-if-cached`, `Vary` variants, conditional requests in
//! both directions, invalidation by unsafe methods, and `HEAD` answered from a
//! stored `GET`. requests-cache's simple options (`expire_after`, URL patterns,
//! per-request expiration) apply where the response's headers say nothing.
//!
//! # When things go wrong
//! The cache never fails a request, and never holds one up. Every storage
//! read on the request path is bounded by a timeout (a slow read is a miss);
//! every write too (a slow write is given up and counted: in
//! [`WriteMode::Durable`] the end of a body waits for its write at most that
//! long); writes behind the responses run a bounded number at a time (past
//! the bound one is dropped and counted); after a few consecutive failures a
//! circuit breaker (one for reads, one for writes) skips those calls for a
//! cool-down
//! ([`storage_timeouts`](CacheLayerBuilder::storage_timeouts),
//! [`storage_breaker`](CacheLayerBuilder::storage_breaker)). A storage read that fails is a miss; a
//! write that fails is skipped; both are logged with `tracing` at `warn`.
//! Stored bytes that do not decode (garbage, a record of an older format) read
//! as a miss and are deleted. Malformed `Cache-Control` directives, dates and
//! header values are ignored. The inner service's own errors are returned
//! unchanged (`type Error = S::Error`), or answered with stale data when
//! `stale_if_error` is on.
//!
//! # Credentials and secrets
//! By default the values of `Authorization`, `Proxy-Authorization` and
//! `Cookie` are part of the key (hashed), so a response fetched with one set
//! of credentials is never answered to a request with another; those headers
//! are never stored. [`ignored_parameters`](CacheLayerBuilder::ignored_parameters)
//! removes names from the key and from everything stored.
//! [`credentials_in_key(false)`](CacheLayerBuilder::credentials_in_key) opts
//! out of keying on credentials.
//!
//! # Clients and the global style
//! reqwest users get `reqcache-reqwest`: a `CachedClient` that reads like
//! reqwest, an adapter that makes a `reqwest::Client` a tower service, and a
//! reqwest-middleware middleware. hyper-util's legacy `Client` needs no
//! adapter. requests-cache's `install_cache()` / `enabled()` / `disabled()`
//! are in [`global`], safe for async, multi-threaded programs.
//!
//! # Purging and cache groups
//! A stored response is in the cache groups its `Cache-Groups` field names
//! (RFC 9875), scoped to its origin; a response to an unsafe request with
//! `Cache-Group-Invalidation` removes those groups. Every storage indexes
//! groups. [`CacheHandle::purge`] removes or marks stale by URL, prefix,
//! glob or group ([`handle::Purge`]); through a [`TieredStorage`] with a
//! bus the purge reaches every instance. [`GroupSources`] reads Fastly's
//! `Surrogate-Key` and Cloudflare's `Cache-Tag` as groups too.
//!
//! # Observability
//! [`CacheHandle::stats`] counts hits, misses, stored responses, revalidations,
//! stale answers and storage errors; with the `metrics` feature the same
//! counters go through the `metrics` facade. Every request runs in a
//! `reqcache` `tracing` span at `debug`, with events for each decision and
//! the reason for what was skipped or not stored.
//!
//! # Storages
//! | storage | crate | `cache_name` |
//! |---|---|---|
//! | [`MemoryStorage`] (bounded LRU) | `reqcache` | — |
//! | `SqliteStorage` | `reqcache-sqlite` | database path |
//! | `RedisStorage` | `reqcache-redis` | key namespace |
//! | `FileStorage` | `reqcache-fs` | cache directory |
//! | `DynamoDbStorage` | `reqcache-dynamodb` | table name |
//! | `MongoStorage`, `GridFsStorage` | `reqcache-mongodb` | database name |
//! | `PostgresStorage` | `reqcache-postgres` | table name |
//! | [`TieredStorage`]: a memory L1 in front of any of them, coherent across instances through an [`InvalidationBus`](storage::backend::InvalidationBus) (`RedisBus`, `PostgresBus`) | `reqcache` | — |
//!
//! # Architecture
//! The core's modules depend one way, and no file imports a file that
//! imports it back (`scripts/check-layers.py` checks both, in every crate):
//!
//! | module | holds | imports |
//! |---|---|---|
//! | `layer`, `service`, `future`, `status`, `request_options`, `bounds`, `scope`, `global`, `clock` | the tower face: the layer and its builder, the service, its future, what a response says, per-request options, the installed cache, time | `engine` (the service only), the rest |
//! | `handle/` | [`CacheHandle`] (managing a cache), its entry filter and purges | `runtime`, `key`, `policy`, `storage` |
//! | `engine/` | the I/O of one request: `respond.rs` (the path), `exchange.rs` (an `Exchange`: lookup, the verdict, answers from storage), `fetch.rs` (single flight, the call upstream, what a `304` means, what is stored, the tape), `storage_calls.rs` (every storage call bounded; writes behind the response), `invalidate.rs`, `partial.rs` | `runtime`, `body`, `policy`, `key`, `storage` |
//! | `runtime/` | what every service of one layer shares (`Shared`): settings, counters, single flight, the storage breakers, the writes behind responses | `body`, `key`, `policy`, `storage` |
//! | `body/` | [`CacheBody`], the tape a miss's body is recorded and shared on, and the landing of its write | `storage` |
//! | `policy/` | every decision, pure (no async, no storage, no clock: time is an argument) | nothing outside `policy` |
//! | `key/` | keying and redaction, one concept per file (URL, body, headers, the key's layout, the stored request) | `policy::vary`, `storage` records |
//! | `storage/` | what users pick ([`Storage`](storage::Storage), [`MemoryStorage`], [`TieredStorage`], codecs, errors) and, in [`storage::backend`], what backends build on ([`ByteStore`](storage::backend::ByteStore) and its one adapter, records, the bus) | nothing above it |
//!
//! A fresh hit, top to bottom, in ten files:
//! 1. `service.rs`: `call` moves the readied inner service into the future and
//!    opens the request's span.
//! 2. `engine/respond.rs`: `respond` asks `policy/request.rs` to classify the
//!    request (skip reasons, directives, method overrides), and makes its
//!    `Exchange`, keyed by `key/keyer.rs` (the scheme, host, path and query
//!    as `key/url.rs` reads them).
//! 3. `engine/exchange.rs`: `Exchange::lookup` reads the storage in one
//!    call, bounded by `engine/storage_calls.rs` (the read timeout and the
//!    breaker): `storage/memory.rs` answers with the record under the key
//!    and, for a vary index or an alias
//!    ([`StoredRecord`](storage::backend::StoredRecord)), the variant or
//!    target it leads to.
//! 4. `policy/freshness.rs`: the verdict on what was found is `Fresh`.
//! 5. `engine/exchange.rs`: `Exchange::answer` builds the response (status,
//!    headers, `Age`, the [`CacheStatus`]) over `body/mod.rs`'s stored
//!    bytes; the inner service is never called.
//!
//! A miss, top to bottom:
//! 1. `service.rs`, `engine/respond.rs` and `engine/exchange.rs` as for a
//!    hit; the lookup finds nothing usable, or a stale entry.
//! 2. `engine/fetch.rs`: `Exchange::go_upstream` joins single flight
//!    (`runtime/flight.rs`): one leader per key; a follower waits for the
//!    leader's head and answers from it (`Exchange::follow`) when it is
//!    storable and fresh for it, else goes upstream itself at once.
//! 3. `Exchange::fetch` adds validators from a stale entry
//!    (`policy/validation.rs`) and calls the inner service.
//! 4. `policy/validation.rs` says what a `304` means: it refreshes the
//!    stored entry, or the request goes again without validators; an error
//!    may answer stale data when `policy/freshness.rs` allows it.
//! 5. `Exchange::plan_entry`: `policy/storable.rs` decides (stored with
//!    these times, or not, and why), and the entry is laid out under its
//!    keys (a variant's when it varies, with a vary index under the primary
//!    key, and an alias when redirects were followed).
//! 6. `Exchange::record` puts a storable body on a `body/tape.rs` `Tape`:
//!    the caller and the followers read it as it arrives (whoever needs the
//!    next chunk polls upstream), and it keeps the copy up to
//!    `max_body_size`. The response goes to the caller now, with its
//!    [`CacheStatus`].
//! 7. When the body ends within the limit, the entry is handed to
//!    `runtime/write_behind.rs`, which writes it through
//!    [`Storage`](storage::Storage) (a byte store encodes it in
//!    `storage/encoded.rs`), bounded by the write timeout; a failure is
//!    logged and counted, never returned. In [`WriteMode::Durable`] the
//!    tape holds the end of the body until the write lands
//!    (`body/landing.rs`).
//!
//! # Cargo features
//! | feature | adds |
//! |---|---|
//! | `redirect-aliases` (default) | a response that tower-http's `FollowRedirect` redirected is stored under the final URL, with an alias under the first |
//! | `yaml` | `Serializer::Yaml` |
//! | `bson` | `Serializer::Bson` |
//! | `compression` | `Codec::compressed`: zstd |
//! | `signing` | `Codec::signed`: HMAC-SHA256 |
//! | `metrics` | the counters of [`CacheStats`](handle::CacheStats) exported through the [`metrics`](https://docs.rs/metrics) facade |
//!
//! [tower]: https://docs.rs/tower

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod body;
pub mod bounds;
mod clock;
mod engine;
mod future;
pub mod global;
pub mod handle;
pub mod key;
mod layer;
mod policy;
mod request_options;
mod runtime;
mod scope;
mod service;
mod status;
pub mod storage;

/// Expiration values and URL patterns (requests-cache's `expire_after` and
/// `urls_expire_after`).
pub mod expiration {
    pub use crate::policy::expiration::{
        DoNotStore, Expiration, PatternError, StaleWindow, UrlExpiration,
    };
}

pub use body::CacheBody;
pub use clock::{Clock, ManualClock, SystemClock};
pub use expiration::{Expiration, UrlExpiration};
pub use future::ResponseFuture;
pub use handle::CacheHandle;
pub use layer::{CacheLayer, CacheLayerBuilder};
pub use policy::cache_groups::GroupSources;
pub use policy::mode::{CacheMode, Heuristic, SetCookie};
pub use request_options::RequestOptions;
pub use runtime::write_behind::WriteMode;
pub use scope::{is_cache_disabled, with_cache_disabled, with_cache_enabled};
pub use service::CacheService;
pub use status::{CacheOutcome, CacheStatus, Forward};
pub use storage::{MemoryStorage, StorageError, TieredStorage};
