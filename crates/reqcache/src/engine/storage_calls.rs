//! Every storage call the engine makes, each bounded: by the layer's read or
//! write timeout, and by the circuit breaker, which skips the storage
//! altogether while it is open. A failure, a timeout or a skipped call is
//! logged and counted and becomes a miss or a write not made; nothing here
//! returns an error.
//!
//! Writes run behind the response ([`store_behind`]): an ordered plan of
//! deletes and puts handed to the cache's [`WriteBehind`](crate::runtime::write_behind::WriteBehind).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, SystemTime};

use tracing::Instrument;

use crate::body::landing::Lander;
use crate::key::CacheKey;
use crate::runtime::Shared;
use crate::runtime::breaker::{Breaker, Tripped};
use crate::runtime::flight::Leader;
use crate::runtime::stats::Counter;
use crate::runtime::write_behind::WriteMode;
use crate::storage::backend::{BodyRef, ChunkStore};
use crate::storage::{RecordChain, StorageError, StorageErrorKind, StoredRecord};
use bytes::Bytes;

/// A storage call that did not end within its bound.
pub(super) struct TimedOut;

/// Awaits `call`, for at most `limit` once it has had to wait. A call that
/// is ready at once (memory) never starts a timer; outside a Tokio runtime
/// no bound applies.
pub(super) async fn bounded<F: Future>(
    limit: Option<Duration>,
    call: F,
) -> Result<F::Output, TimedOut> {
    let mut call = pin!(call);
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut unbounded = limit.is_none();
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if unbounded {
            return Poll::Pending;
        }
        let timer = match &mut timer {
            Some(timer) => timer,
            None => {
                let (Some(limit), Ok(_)) = (limit, tokio::runtime::Handle::try_current()) else {
                    unbounded = true;
                    return Poll::Pending;
                };
                timer.insert(Box::pin(tokio::time::sleep(limit)))
            }
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(TimedOut)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Reads or writes: each has its breaker.
#[derive(Clone, Copy)]
enum Op {
    Read,
    Write,
}

impl Op {
    fn breaker(self, shared: &Shared) -> &Breaker {
        match self {
            Op::Read => &shared.read_breaker,
            Op::Write => &shared.write_breaker,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }

    fn failure(self) -> Counter {
        match self {
            Op::Read => Counter::StorageReadError,
            Op::Write => Counter::StorageWriteError,
        }
    }
}

/// What a bounded call came to, for the breaker and the counters.
fn settle<T>(
    shared: &Shared,
    outcome: Result<Result<T, StorageError>, TimedOut>,
    op: Op,
    what: &str,
    key: &dyn std::fmt::Display,
) -> Option<T> {
    let breaker = op.breaker(shared);
    let error = match outcome {
        Ok(Ok(value)) => {
            if breaker.succeeded() {
                shared.counters.breaker_state(op.name(), false);
                tracing::info!(
                    op = op.name(),
                    "reqcache: storage answered again; breaker closed"
                );
            }
            return Some(value);
        }
        // Refused for its size (over the bound, over a DynamoDB item): the
        // storage works, the entry does not fit. Counted apart, and no
        // step toward the breaker, so that large responses never stop the
        // others' writes.
        Ok(Err(error)) if error.kind() == StorageErrorKind::TooLarge => {
            shared.counters.record(Counter::WriteRefused);
            tracing::debug!(%key, %error, "reqcache: storage {what} refused: too large");
            return None;
        }
        // The driver's own error too: "write failed" alone says too little.
        Ok(Err(error)) => match std::error::Error::source(&error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        },
        Err(TimedOut) => {
            shared.counters.record(Counter::StorageTimeout);
            "timed out".to_owned()
        }
    };
    shared.counters.record(op.failure());
    tracing::warn!(%key, %error, "reqcache: storage {what} failed");
    if breaker.failed(shared.clock.now()) == Tripped::Opened {
        shared.counters.record(Counter::BreakerTrip);
        shared.counters.breaker_state(op.name(), true);
        tracing::warn!(
            op = op.name(),
            cool_down = ?shared.settings.breaker.cool_down,
            "reqcache: storage failing; breaker open, these calls are skipped until a probe succeeds"
        );
    }
    None
}

/// The record under `key` and the one `next` names from it, in one bounded
/// call; a failure, a timeout or an open breaker is a miss.
pub(super) async fn read_chain(
    shared: &Shared,
    key: &CacheKey,
    now: SystemTime,
    next: &(dyn for<'r> Fn(&'r StoredRecord) -> Option<String> + Send + Sync),
) -> Option<RecordChain> {
    if !shared.read_breaker.allows(now) {
        shared.counters.record(Counter::ReadSkipped);
        return None;
    }
    let outcome = bounded(
        shared.settings.read_timeout,
        shared.storage.get_chain(key, now, next),
    )
    .await;
    settle(shared, outcome, Op::Read, "read", key).flatten()
}

/// The first chunk of `body`, bounded as reads are: `Some(None)` when the
/// storage does not have it whole, `None` when the read failed.
pub(super) async fn read_first_chunk(
    shared: &Shared,
    chunks: &Arc<dyn ChunkStore>,
    body: &BodyRef,
) -> Option<Option<Bytes>> {
    let now = shared.clock.now();
    if !shared.read_breaker.allows(now) {
        shared.counters.record(Counter::ReadSkipped);
        return None;
    }
    let outcome = bounded(shared.settings.read_timeout, chunks.read_chunk(&body.id, 0)).await;
    let chunk = settle(shared, outcome, Op::Read, "read", &body.id)?;
    let whole = chunk.filter(|chunk| chunk.len() as u64 == body.chunk_len(0));
    if whole.is_none() {
        tracing::warn!(body = %body.id, "reqcache: a stored response's body is gone; a miss");
    }
    Some(whole)
}

/// Stores `record` under `key`; `false` when it was not stored. Only
/// responses count as stored.
async fn put(shared: &Shared, key: &CacheKey, record: StoredRecord) -> bool {
    let kind = record.kind();
    if !shared.write_breaker.allows(shared.clock.now()) {
        shared.counters.record(Counter::WriteDropped);
        return false;
    }
    let outcome = bounded(
        shared.settings.write_timeout,
        shared.storage.put_record(key, record),
    )
    .await;
    let stored = settle(shared, outcome, Op::Write, "write", key).is_some();
    if stored && kind.is_response() {
        shared.counters.record(Counter::Stored);
    }
    if stored {
        tracing::debug!(%key, %kind, "reqcache: stored");
    }
    stored
}

/// Deletes the entry under `key`.
async fn delete(shared: &Shared, key: &CacheKey) {
    if !shared.write_breaker.allows(shared.clock.now()) {
        shared.counters.record(Counter::WriteDropped);
        return;
    }
    let outcome = bounded(shared.settings.write_timeout, shared.storage.delete(key)).await;
    settle(shared, outcome, Op::Write, "delete", key);
}

/// Deletes every entry stored for `url`; how many, if that is known.
pub(super) async fn delete_url(shared: &Shared, url: &str) -> Option<u64> {
    invalidation(shared, "invalidation", url, shared.storage.delete_url(url)).await
}

/// Deletes every response in `group` (a group id); how many, if that is
/// known within the write timeout.
///
/// A group may be large (thousands of entries, each a delete): the deletes
/// run on a task of their own, waited for up to the write timeout, and go
/// on behind the response past it, so that a response is never held
/// longer than that and a group is never left half invalidated by a
/// cancelled call. A call that outlives the wait is settled (counted, the
/// breaker told) when it ends. Outside a Tokio runtime it is awaited.
pub(super) async fn delete_group(shared: &Arc<Shared>, group: &str) -> Option<u64> {
    if !shared.write_breaker.allows(shared.clock.now()) {
        shared.counters.record(Counter::WriteDropped);
        return None;
    }
    let deletes = {
        let (shared, group) = (Arc::clone(shared), group.to_owned());
        async move {
            let outcome = shared.storage.delete_group(&group).await;
            settle(
                &shared,
                Ok(outcome),
                Op::Write,
                "group invalidation",
                &group,
            )
        }
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return deletes.await;
    }
    match bounded(shared.settings.write_timeout, tokio::spawn(deletes)).await {
        Ok(Ok(deleted)) => deleted,
        Ok(Err(_panicked)) => None,
        Err(TimedOut) => {
            tracing::info!(
                group,
                "reqcache: a large group invalidation goes on behind the response"
            );
            None
        }
    }
}

/// An invalidation's deletes, through the write breaker and bounded by
/// the write timeout.
async fn invalidation(
    shared: &Shared,
    what: &'static str,
    subject: &str,
    deletes: impl Future<Output = Result<u64, StorageError>>,
) -> Option<u64> {
    if !shared.write_breaker.allows(shared.clock.now()) {
        shared.counters.record(Counter::WriteDropped);
        return None;
    }
    let outcome = bounded(shared.settings.write_timeout, deletes).await;
    settle(shared, outcome, Op::Write, what, &subject)
}

/// Storage writes to make behind a response, in order: the deletes, then
/// the puts, which stop at the first that fails (a record is written before
/// the aliases and vary indexes that lead to it).
#[derive(Default)]
pub(super) struct WritePlan {
    pub(super) deletes: Vec<CacheKey>,
    pub(super) puts: Vec<(CacheKey, StoredRecord)>,
}

/// Runs `plan` behind the response (nothing in a read-only cache), in the
/// current span, and ends
/// `leader`'s flight when it is done, so that requests which miss storage
/// meanwhile follow the flight instead of going upstream.
///
/// `lander` is what the body's readers wait on: in
/// [`WriteMode::Durable`] it goes with the write and lands when the write
/// is done; in [`WriteMode::Behind`] it is dropped here, and lands at once.
pub(super) fn store_behind(
    shared: &Arc<Shared>,
    plan: WritePlan,
    leader: Option<Leader>,
    lander: Option<Lander>,
) {
    if shared.settings.read_only || (plan.deletes.is_empty() && plan.puts.is_empty()) {
        return;
    }
    let lander = lander.filter(|_| shared.settings.write_mode == WriteMode::Durable);
    let writer = Arc::clone(shared);
    let write = async move {
        let shared = writer;
        for key in &plan.deletes {
            delete(&shared, key).await;
        }
        for (key, entry) in plan.puts {
            if !put(&shared, &key, entry).await {
                break;
            }
        }
        drop(leader);
    };
    // In the request's span, wherever the write ends up running.
    let write = write.instrument(tracing::Span::current());
    shared.writes.submit(&shared.counters, write, lander);
}
