//! [`WriteBehind`]: storage writes made after the response has gone out, a
//! bounded number at a time.
//!
//! A write is polled once where it is submitted: a storage that completes at
//! once (memory) is done there, with no task and no wait. One that is still
//! pending is spawned on the Tokio runtime. When the bound is reached, or
//! there is no runtime to spawn on, the write is dropped and counted, never
//! queued without limit. [`WriteBehind::flush`] waits until none is pending.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Waker};

use tokio::sync::Notify;

use crate::stats::{Counter, Counters};

/// The default bound on writes in flight.
pub(crate) const DEFAULT_MAX_PENDING_WRITES: usize = 1024;

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

    /// Runs `write` behind the response; `false` when it was dropped (the
    /// bound was reached, or it could not finish without a runtime).
    pub(crate) fn submit(
        self: &std::sync::Arc<Self>,
        counters: &Counters,
        write: impl Future<Output = ()> + Send + 'static,
    ) -> bool {
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.done();
            counters.record(Counter::WriteDropped);
            tracing::warn!(
                limit = self.limit,
                "reqcache: too many storage writes pending; write dropped"
            );
            return false;
        }
        let pending = Pending(std::sync::Arc::clone(self));
        let mut write: Write = Box::pin(write);
        if write
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
        {
            return true;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    write.await;
                    drop(pending);
                });
                true
            }
            Err(_) => {
                counters.record(Counter::WriteDropped);
                tracing::warn!(
                    "reqcache: no Tokio runtime to finish a storage write on; write dropped"
                );
                false
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
/// shutdown) counts it out.
struct Pending(std::sync::Arc<WriteBehind>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.done();
    }
}
