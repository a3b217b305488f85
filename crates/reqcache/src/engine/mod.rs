//! The engine: the request path's I/O, one way down to the policy, the key
//! and the storage.
//!
//! [`respond`] answers one request: classify it (policy), key it, look it up
//! and judge what is stored (storage, then the policy's verdict), and answer
//! from the cache or go upstream (single flight) and store what the policy
//! allows. Every storage failure on this path is logged and becomes a miss or
//! a skipped write; only the inner service's own errors reach the caller.
//! `respond.rs` holds the path; `exchange.rs` the [`Exchange`](exchange::Exchange)
//! of one request: its lookup and the answers from storage; `fetch.rs`
//! the trip upstream (single flight, the call, a `304`) and what is
//! stored of it; `storage_calls.rs`
//! bounds every storage call (timeouts, the breaker) and runs writes behind
//! the response; `invalidate.rs` deletes what unsafe methods invalidate;
//! `partial.rs` makes a `206` or `416` of an answer to a `Range` request.

mod exchange;
mod fetch;
mod invalidate;
mod partial;
mod respond;
mod storage_calls;

pub(crate) use exchange::with_status;
pub(crate) use respond::respond;
