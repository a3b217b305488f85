//! [`Landing`] and [`Lander`]: the end of one storage write, as the
//! bodies waiting for it see it ([`WriteMode::Durable`](crate::WriteMode)).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The end of one write, as those waiting for it see it: it lands when
/// its [`Lander`] is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Landing(Arc<LandingState>);

/// The write's end of a [`Landing`]: dropping it lands it, whether the
/// write is done, has failed, was dropped or cancelled, so that nothing
/// ever waits for a write that is gone.
#[derive(Debug)]
pub(crate) struct Lander(Landing);

impl Drop for Lander {
    fn drop(&mut self) {
        self.0.land();
    }
}

#[derive(Debug, Default)]
struct LandingState {
    landed: AtomicBool,
    waiting: Mutex<Vec<Waker>>,
}

impl Landing {
    /// A landing and the lander that lands it.
    pub(crate) fn new() -> (Landing, Lander) {
        let landing = Landing(Arc::default());
        (landing.clone(), Lander(landing))
    }

    /// Ready once the write has landed.
    pub(crate) fn poll_landed(&self, cx: &Context<'_>) -> Poll<()> {
        if self.0.landed.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut waiting = self.0.waiting.lock().unwrap_or_else(|e| e.into_inner());
        // Checked again under the lock that `land` takes after setting it.
        if self.0.landed.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
            waiting.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn land(&self) {
        self.0.landed.store(true, Ordering::Release);
        let waiting =
            std::mem::take(&mut *self.0.waiting.lock().unwrap_or_else(|e| e.into_inner()));
        waiting.into_iter().for_each(Waker::wake);
    }
}
