//! Single flight with read-while-writer: concurrent misses for one key cost
//! one upstream request, and the followers get the leader's response as it
//! streams.
//!
//! The first request to miss becomes the leader and holds a [`Leader`] while
//! it fetches. When its response turns out storable it publishes the head
//! and the [`Tape`] its body is recorded on ([`Leader::publish`]); followers
//! answer from them at once, reading the body as it arrives. The leader's
//! guard lives on until the entry is written (or dropped), so a request that
//! misses storage meanwhile joins the flight instead of going upstream. A
//! leader that ends without publishing (not storable, an error, cancelled)
//! releases its followers, which go upstream themselves at once: an
//! uncacheable response never serializes requests behind each other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::body::tape::Tape;
use crate::key::CacheKey;
use crate::storage::CachedResponse;

#[derive(Debug, Default)]
pub(crate) struct SingleFlight {
    inflight: Mutex<HashMap<CacheKey, watch::Receiver<Stage>>>,
    /// Flights ended so far: a request whose storage read missed while one
    /// ended (its entry just written) reads again before leading its own.
    ended: AtomicU64,
}

/// Where a flight is.
#[derive(Debug, Clone)]
enum Stage {
    /// Upstream has not answered yet.
    Fetching,
    /// The leader's response is storable: here it is.
    Published(Arc<Published>),
}

/// A leader's storable response, as followers read it.
#[derive(Debug)]
pub(crate) struct Published {
    /// The key the entry is stored under (a variant's, a redirect's target).
    pub(crate) key: CacheKey,
    /// The entry; its body is empty while `tape` is recording.
    pub(crate) entry: Arc<CachedResponse>,
    /// The body as it is recorded; `None` when `entry` has it whole.
    pub(crate) tape: Option<Arc<Tape>>,
    /// The body's length, when known before it is read.
    pub(crate) length: Option<u64>,
    /// Whether followers may read the body as it streams, or only once it
    /// is complete (event streams, which never end in time).
    pub(crate) streams_to_followers: bool,
}

pub(crate) enum Flight {
    Leader(Leader),
    Follower(Follower),
}

/// Held by the request that fetches, then by the write of its entry;
/// dropping it ends the flight.
pub(crate) struct Leader {
    flights: Arc<SingleFlight>,
    key: CacheKey,
    stage: watch::Sender<Stage>,
}

/// A request waiting on a leader.
pub(crate) struct Follower(watch::Receiver<Stage>);

impl SingleFlight {
    /// Leads the flight for `key`, or follows the one under way.
    pub(crate) fn join(self: &Arc<Self>, key: CacheKey) -> Flight {
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(receiver) = inflight.get(&key) {
            return Flight::Follower(Follower(receiver.clone()));
        }
        let (stage, receiver) = watch::channel(Stage::Fetching);
        inflight.insert(key.clone(), receiver);
        Flight::Leader(Leader {
            flights: Arc::clone(self),
            key,
            stage,
        })
    }

    /// How many flights have ended; compare two readings to tell whether one
    /// ended in between.
    pub(crate) fn ended(&self) -> u64 {
        self.ended.load(Ordering::Acquire)
    }

    /// Leads a flight for `key` if none is under way; `None` otherwise.
    pub(crate) fn try_lead(self: &Arc<Self>, key: CacheKey) -> Option<Leader> {
        match self.join(key) {
            Flight::Leader(leader) => Some(leader),
            Flight::Follower(_) => None,
        }
    }
}

impl Leader {
    /// Hands the storable response to the followers, present and to come.
    pub(crate) fn publish(&self, published: Published) {
        self.stage
            .send_replace(Stage::Published(Arc::new(published)));
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // A key has one leader at a time: the entry is this flight's.
        self.flights
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
        self.flights.ended.fetch_add(1, Ordering::AcqRel);
        // `stage` drops after this, which releases every follower.
    }
}

impl Follower {
    /// The leader's storable response, once published; `None` when the
    /// leader ended without one.
    pub(crate) async fn published(mut self) -> Option<Arc<Published>> {
        loop {
            if let Stage::Published(published) = &*self.0.borrow_and_update() {
                return Some(Arc::clone(published));
            }
            if self.0.changed().await.is_err() {
                return match &*self.0.borrow() {
                    Stage::Published(published) => Some(Arc::clone(published)),
                    Stage::Fetching => None,
                };
            }
        }
    }
}
