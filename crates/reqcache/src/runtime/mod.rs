//! The runtime of one layer: [`Shared`], what every service of it shares —
//! its settings, storage, clock, single flight, counters, the writes
//! behind responses, the storage breakers and the admission sketch. The engine runs a request
//! against it; the [`CacheHandle`](crate::CacheHandle) manages it.

pub(crate) mod admission;
pub(crate) mod breaker;
pub(crate) mod flight;
pub(crate) mod settings;
pub(crate) mod stats;
pub(crate) mod write_behind;

use std::sync::Arc;

use crate::clock::Clock;
use crate::storage::Storage;
use crate::storage::backend::ChunkStore;
use admission::Admission;
use breaker::Breaker;
use flight::SingleFlight;
use settings::CacheSettings;
use stats::Counters;
use write_behind::WriteBehind;

/// What every service of one layer shares.
pub(crate) struct Shared {
    pub(crate) settings: CacheSettings,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) flights: Arc<SingleFlight>,
    pub(crate) counters: Counters,
    pub(crate) writes: Arc<WriteBehind>,
    /// One breaker for reads, one for writes: a storage that refuses
    /// writes (a locked SQLite file) still serves hits.
    pub(crate) read_breaker: Breaker,
    pub(crate) write_breaker: Breaker,
    /// With `min_uses` above 1: which misses' responses are stored.
    pub(crate) admission: Option<Admission>,
    /// Where the storage keeps large bodies in chunks, if it does.
    pub(crate) chunks: Option<Arc<dyn ChunkStore>>,
}
