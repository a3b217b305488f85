//! [`spawn_sweeper`]: the background task with which storages without
//! native expiry delete what is past its retention.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use super::error::StorageError;

/// How often a storage's sweeper runs by default: every 10 minutes.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(600);

/// Starts a sweeper on the current Tokio runtime: every `interval`, the
/// first time one interval from now, it runs `sweep` on the storage state
/// `weak` points to, for as long as that state lives (the sweeper holds it
/// weakly, so dropping the last clone of the storage ends it). It never
/// runs on the request path. `sweep` returns how many entries it deleted;
/// the sweeper logs that at `debug`, and a failure at `warn`, naming the
/// storage as `storage` says (a failed sweep is tried again one interval
/// later). Outside a Tokio runtime it starts nothing, says so at `warn`,
/// and returns `false`.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use reqcache::storage::backend::spawn_sweeper;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let state = Arc::new(std::sync::atomic::AtomicU64::new(0));
/// let interval = Duration::from_secs(600);
/// let started = spawn_sweeper(Arc::downgrade(&state), interval, "my storage".into(), |state| async move {
///     Ok(state.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
/// });
/// assert!(started);
/// # }
/// ```
pub fn spawn_sweeper<T, F, Fut>(
    weak: Weak<T>,
    interval: Duration,
    storage: String,
    sweep: F,
) -> bool
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, StorageError>> + Send,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(
            storage,
            "reqcache: no Tokio runtime; what is past retention is not swept"
        );
        return false;
    };
    // One interval from now, not from the task's first poll.
    let first = Instant::now() + interval;
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval_at(first, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(state) = weak.upgrade() else {
                return;
            };
            match sweep(state).await {
                Ok(0) => {}
                Ok(deleted) => {
                    tracing::debug!(storage, deleted, "reqcache: entries past retention swept");
                }
                Err(error) => tracing::warn!(
                    storage,
                    %error,
                    "reqcache: sweep failed; next try in one interval"
                ),
            }
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test(start_paused = true)]
    async fn it_sweeps_every_interval_and_ends_with_its_storage() {
        let state = Arc::new(AtomicU64::new(0));
        let (done, mut swept) = tokio::sync::mpsc::unbounded_channel();
        let interval = Duration::from_secs(600);
        let started = spawn_sweeper(
            Arc::downgrade(&state),
            interval,
            "test".into(),
            move |state| {
                let done = done.clone();
                async move {
                    let _ = done.send(state.fetch_add(1, Ordering::SeqCst) + 1);
                    Ok(0)
                }
            },
        );
        assert!(started);
        tokio::time::advance(interval - Duration::from_secs(1)).await;
        assert!(swept.try_recv().is_err(), "not before one interval");
        assert_eq!(swept.recv().await, Some(1));
        assert_eq!(swept.recv().await, Some(2));
        // The last clone of the storage goes: the sweeper ends (and drops
        // its sender, which closes the channel).
        drop(state);
        assert_eq!(swept.recv().await, None);
    }

    #[test]
    fn outside_a_runtime_nothing_starts() {
        let state = Arc::new(());
        let interval = DEFAULT_SWEEP_INTERVAL;
        let started = spawn_sweeper(Arc::downgrade(&state), interval, "test".into(), |_| async {
            Ok(0)
        });
        assert!(!started);
    }
}
