//! [`WriteBehind`]: storage writes made after the response head has gone
//! out, and [`WriteMode`], whether the end of a body waits for its write.
//!
//! A write is polled once where it is submitted: a storage that completes at
//! once (memory) is done there, with no task and no wait. One that is still
//! pending is spawned on the Tokio runtime. A write nobody waits for
//! ([`WriteMode::Behind`], or a background fill) is dropped and counted
//! when the bound is reached, never queued without limit. A write whose
//! body waits for it ([`WriteMode::Durable`]) is never dropped for the
//! bound: the callers waiting are the bound. Without a runtime to spawn on,
//! a write still pending is dropped and counted. [`WriteBehind::flush`]
//! waits until none is pending.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};

use tokio::sync::Notify;

use crate::body::landing::Lander;
use crate::runtime::stats::{Counter, Counters};

/// The default bound on writes in flight that nobody waits for.
pub(crate) const DEFAULT_MAX_PENDING_WRITES: usize = 1024;

/// When a miss's entry is written, relative to the end of its body.
///
/// The default follows the [mode](crate::CacheMode): `Durable` for a
/// private cache (the library's default, a client), `Behind` for a shared
/// one (a proxy, a server-side cache). Set it with
/// [`CacheLayerBuilder::write_mode`](crate::CacheLayerBuilder::write_mode).
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, MemoryStorage, WriteMode};
///
/// // A server-side cache in private mode that answers before it writes:
/// let layer = CacheLayer::builder(MemoryStorage::new())
///     .write_mode(WriteMode::Behind)
///     .build();
/// # let _ = layer;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WriteMode {
    /// The caller gets the end of a miss's body (its last bytes, and the
    /// end of the stream) only once the entry is in storage, or its write
    /// was given up (a failure or the write timeout, logged and counted).
    /// A program that has read a response to its end finds it stored, on
    /// its next run too, whatever happens after; writes are never dropped
    /// for being too many. The cost is the write's time, added to the end
    /// of each stored miss's body; hits never wait. requests-cache works
    /// this way (a response is in the cache when `get` returns).
    Durable,
    /// The body ends as soon as the upstream's does; the entry is written
    /// behind it, at most
    /// [`max_pending_writes`](crate::CacheLayerBuilder::max_pending_writes)
    /// at a time (past that, writes are dropped and counted). Nothing is
    /// lost at a clean shutdown that awaits
    /// [`CacheHandle::flush`](crate::CacheHandle::flush) (the proxy does),
    /// but a program that ends without it may leave the last writes
    /// undone. What a proxy or a server wants: no answer waits on storage.
    Behind,
}

/// The writes in flight of one cache.
#[derive(Debug)]
pub(crate) struct WriteBehind {
    pending: AtomicUsize,
    limit: usize,
    idle: Notify,
}

type Write = Pin<Box<dyn Future<Output = ()> + Send>>;

impl WriteBehind {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            pending: AtomicUsize::new(0),
            limit,
            idle: Notify::new(),
        }
    }

    /// Runs `write` behind the response. With a `lander`, a body waits for
    /// it: it is not dropped for the bound, and the lander lands when the
    /// write is done, or dropped (no runtime), or cancelled.
    pub(crate) fn submit(
        self: &Arc<Self>,
        counters: &Counters,
        write: impl Future<Output = ()> + Send + 'static,
        lander: Option<Lander>,
    ) {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.limit && lander.is_none() {
            self.done();
            counters.record(Counter::WriteDropped);
            tracing::warn!(
                limit = self.limit,
                "reqcache: too many storage writes pending; write dropped"
            );
            return;
        }
        let pending = Pending {
            writes: Arc::clone(self),
            _lander: lander,
        };
        let mut write: Write = Box::pin(write);
        if write
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
        {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    write.await;
                    drop(pending);
                });
            }
            Err(_) => {
                counters.record(Counter::WriteDropped);
                tracing::warn!(
                    "reqcache: no Tokio runtime to finish a storage write on; write dropped"
                );
            }
        }
    }

    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// How many writes are in flight.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Waits until no write is in flight.
    pub(crate) async fn flush(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            // Registered before the check, so a write that ends between
            // the check and the wait still wakes it.
            idle.as_mut().enable();
            if self.pending() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// One write in flight; dropping it (done, or its task cancelled at runtime
/// shutdown) counts it out, then lands its lander.
struct Pending {
    writes: Arc<WriteBehind>,
    // Dropped after `drop` below has counted the write out.
    _lander: Option<Lander>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.writes.done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::landing::Landing;
    use std::sync::atomic::AtomicBool;

    fn noop() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waited_write_lands_when_its_task_ends_and_is_never_dropped_for_the_bound() {
        let writes = Arc::new(WriteBehind::new(0));
        let counters = Counters::new("test");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (landing, lander) = Landing::new();
        let write = async move {
            let _ = rx.await;
        };
        writes.submit(&counters, write, Some(lander));
        assert!(landing.poll_landed(&noop()).is_pending());
        assert_eq!(writes.pending(), 1);
        tx.send(()).unwrap();
        std::future::poll_fn(|cx| landing.poll_landed(cx)).await;
        writes.flush().await;
        assert_eq!(counters.snapshot().writes_dropped, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_write_nobody_waits_for_is_dropped_past_the_bound() {
        let writes = Arc::new(WriteBehind::new(0));
        let counters = Counters::new("test");
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        writes.submit(
            &counters,
            async move { flag.store(true, Ordering::SeqCst) },
            None,
        );
        assert!(!ran.load(Ordering::SeqCst));
        assert_eq!(counters.snapshot().writes_dropped, 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_write_done_at_once_lands_at_once() {
        let writes = Arc::new(WriteBehind::new(4));
        let counters = Counters::new("test");
        let (landing, lander) = Landing::new();
        writes.submit(&counters, async {}, Some(lander));
        assert!(landing.poll_landed(&noop()).is_ready());
        assert_eq!(writes.pending(), 0);
    }

    #[test]
    fn a_write_cancelled_at_runtime_shutdown_lands_all_the_same() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let writes = Arc::new(WriteBehind::new(4));
        let counters = Counters::new("test");
        let (landing, lander) = Landing::new();
        runtime.block_on(async {
            writes.submit(&counters, std::future::pending::<()>(), Some(lander));
        });
        assert!(landing.poll_landed(&noop()).is_pending());
        drop(runtime);
        assert!(landing.poll_landed(&noop()).is_ready());
        assert_eq!(writes.pending(), 0);
    }

    #[test]
    fn a_write_with_no_runtime_to_finish_on_is_dropped_and_lands() {
        let writes = Arc::new(WriteBehind::new(4));
        let counters = Counters::new("test");
        let (landing, lander) = Landing::new();
        writes.submit(&counters, std::future::pending::<()>(), Some(lander));
        assert!(landing.poll_landed(&noop()).is_ready());
        assert_eq!(counters.snapshot().writes_dropped, 1);
    }
}
