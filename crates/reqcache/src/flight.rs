//! Single flight: concurrent misses for one key cost one upstream request.
//!
//! The first request to miss becomes the leader and holds a [`Leader`] guard
//! while it fetches and stores; the others wait for the guard to drop (however
//! the leader ends: stored, not storable, error or cancelled), then look the
//! key up again. A follower that still finds nothing goes upstream itself, so
//! an uncacheable response never serializes requests behind each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::key::CacheKey;

#[derive(Debug, Default)]
pub(crate) struct SingleFlight {
    inflight: Mutex<HashMap<CacheKey, watch::Receiver<()>>>,
}

pub(crate) enum Flight {
    Leader(Leader),
    Follower(watch::Receiver<()>),
}

/// Held by the request that fetches; dropping it wakes the followers.
pub(crate) struct Leader {
    flights: Arc<SingleFlight>,
    key: CacheKey,
    _done: watch::Sender<()>,
}

impl SingleFlight {
    pub(crate) fn join(self: &Arc<Self>, key: CacheKey) -> Flight {
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(receiver) = inflight.get(&key) {
            return Flight::Follower(receiver.clone());
        }
        let (done, receiver) = watch::channel(());
        inflight.insert(key.clone(), receiver);
        Flight::Leader(Leader {
            flights: Arc::clone(self),
            key,
            _done: done,
        })
    }
}

impl SingleFlight {
    /// Leads a flight for `key` if none is under way; `None` otherwise.
    pub(crate) fn try_lead(self: &Arc<Self>, key: CacheKey) -> Option<Leader> {
        match self.join(key) {
            Flight::Leader(leader) => Some(leader),
            Flight::Follower(_) => None,
        }
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.flights
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
        // `_done` drops after this, which wakes every follower.
    }
}

/// Waits until the leader is done.
pub(crate) async fn wait(mut follower: watch::Receiver<()>) {
    // The leader never sends; `changed` returns when its sender drops.
    let _ = follower.changed().await;
}
