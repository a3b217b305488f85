//! The sweeper: a background task that, every interval, asks a storage to
//! delete what is past its retention. It holds the storage weakly and ends
//! once the last clone of the storage is dropped; it never runs on the
//! request path.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

/// Starts `sweep` on the current Tokio runtime, every `interval`, the first
/// time one interval from now, for as long as `weak` upgrades. Outside a
/// runtime there is no sweeper (a warning says so).
pub(crate) fn start<T, F, Fut>(weak: Weak<T>, interval: Duration, sweep: F)
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("reqcache-sqlite: no Tokio runtime; rows past retention are not swept");
        return;
    };
    // The first sweep is one interval from now, not from the task's first
    // poll.
    let first = Instant::now() + interval;
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval_at(first, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(target) = weak.upgrade() else {
                return;
            };
            sweep(target).await;
        }
    });
}
