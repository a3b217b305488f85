//! [`TieredStorage`]: an in-process [`MemoryStorage`] (L1) in front of a
//! shared storage (L2), kept coherent across instances by an
//! [`InvalidationBus`].

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

pub use super::bus::InvalidationBus;
use super::bus::{BusSubscriber, Invalidation, Listener};
use super::chunks::ChunkStore;
use super::contract::Storage;
use super::encoded::DEFAULT_NATIVE_RETENTION;
use super::entry::EntryInfo;
use super::error::StorageError;
use super::memory::MemoryStorage;
use super::record::StoredRecord;
use super::usage::StorageUsage;

/// How long an L1 copy is used while the bus is connected, at most:
/// one minute (a bound on what a lost message can cost).
pub const DEFAULT_L1_TTL: Duration = Duration::from_secs(60);

/// How long an L1 copy is used while there is no bus, or it is down: one
/// second.
pub const DEFAULT_L1_TTL_WITHOUT_BUS: Duration = Duration::from_secs(1);

/// A memory L1 in front of any storage (L2): reads from L1, then L2
/// (filling L1); writes and deletes go to both, and are announced on the
/// [`InvalidationBus`] so that every other instance drops its L1 copy.
///
/// # Coherence
/// - When an instance stores, deletes or invalidates a key (a URL, or
///   everything), the others drop their L1 copies when the bus delivers the
///   message: for Redis pub/sub or PostgreSQL `NOTIFY` on a LAN, about a
///   round trip (the tests check under a second). A fill from L2 that
///   raced with a message is not kept.
/// - An L1 copy is used at most [`l1_ttl`](TieredStorageBuilder::l1_ttl)
///   after it was filled (one minute by default: a bound on what a message
///   lost on the way costs), and never past the L2 entry's own deadline:
///   its retention, or an hour past its expiry, what stores with native
///   expiry keep it for.
/// - Without a bus, or while it is down (the bus says so), L1 copies are
///   used for [`l1_ttl_without_bus`](TieredStorageBuilder::l1_ttl_without_bus)
///   only (one second by default); L1 is emptied whenever the bus connects
///   or disconnects, since messages may have been missed.
///
/// Counts (`len`, `entries`, `size`) are L2's.
///
/// # Example
/// ```
/// use reqcache::MemoryStorage;
/// use reqcache::storage::{Storage, TieredStorage};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// // In production L2 is shared (Redis, PostgreSQL) and a bus connects
/// // the instances: `.bus(RedisBus::new(..))`.
/// let shared = MemoryStorage::new();
/// let storage = TieredStorage::builder(shared)
///     .l1(MemoryStorage::builder().max_size(64 << 20).build())
///     .build();
/// assert_eq!(storage.len().await?, 0);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TieredStorage {
    tier: Arc<Tier>,
}

/// The shared state; what a [`BusSubscriber`] holds weakly.
struct Tier {
    l1: MemoryStorage,
    l2: Arc<dyn Storage>,
    bus: Option<Arc<dyn InvalidationBus>>,
    /// This instance's id in bus messages (its own are ignored).
    id: u64,
    connected: AtomicBool,
    /// Bumped by messages and connection changes; a fill from L2 is kept
    /// only when its key's did not move while L2 was read.
    generations: Generations,
    /// Held by a fill's check-and-store and by a message's removal, so
    /// that no message falls between the two.
    fill_lock: Mutex<()>,
    ttl: Option<Duration>,
    ttl_without_bus: Duration,
    status: tokio::sync::watch::Sender<BusStatus>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    l1_hits: AtomicU64,
    l2_reads: AtomicU64,
    fills_dropped: AtomicU64,
    publish_errors: AtomicU64,
}

/// The bus as a tiered storage sees it: connected or not, and how many
/// messages from other instances arrived. Watch it with
/// [`TieredStorage::bus_status`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusStatus {
    /// Subscribed now: other instances' messages arrive.
    pub connected: bool,
    /// Messages from other instances received so far.
    pub received: u64,
    /// Connections and disconnections so far.
    pub transitions: u64,
}

/// What a [`TieredStorage`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// Reads answered by L1.
    pub l1_hits: u64,
    /// Reads that went to L2.
    pub l2_reads: u64,
    /// L2 answers not kept in L1 because a message arrived meanwhile.
    pub fills_dropped: u64,
    /// Messages the bus could not send (other instances keep their copies
    /// at most [`DEFAULT_L1_TTL`] or what was configured).
    pub publish_errors: u64,
}

impl fmt::Debug for TieredStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tier = &self.tier;
        f.debug_struct("TieredStorage")
            .field("l1", &tier.l1)
            .field("l2", &tier.l2)
            .field("bus", &tier.bus)
            .field("connected", &tier.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl TieredStorage {
    /// A builder with `l2` as the shared storage.
    pub fn builder(l2: impl Storage) -> TieredStorageBuilder {
        TieredStorageBuilder {
            l1: None,
            l2: Arc::new(l2),
            bus: None,
            ttl: Some(DEFAULT_L1_TTL),
            ttl_without_bus: DEFAULT_L1_TTL_WITHOUT_BUS,
        }
    }

    /// The bus's state, to watch (`changed()`, `wait_for(..)`).
    pub fn bus_status(&self) -> tokio::sync::watch::Receiver<BusStatus> {
        self.tier.status.subscribe()
    }

    /// What was counted so far.
    pub fn stats(&self) -> TieredStats {
        let c = &self.tier.counters;
        TieredStats {
            l1_hits: c.l1_hits.load(Ordering::Relaxed),
            l2_reads: c.l2_reads.load(Ordering::Relaxed),
            fills_dropped: c.fills_dropped.load(Ordering::Relaxed),
            publish_errors: c.publish_errors.load(Ordering::Relaxed),
        }
    }

    /// The L1 storage.
    pub fn l1(&self) -> &MemoryStorage {
        &self.tier.l1
    }

    /// The L2 storage.
    pub fn l2(&self) -> &Arc<dyn Storage> {
        &self.tier.l2
    }

    /// Announces `invalidation` to the other instances; a failure is
    /// counted and logged, never returned (L2 has the truth already).
    async fn publish(&self, invalidation: Invalidation) {
        let Some(bus) = &self.tier.bus else { return };
        if let Err(error) = bus.publish(invalidation.encode(self.tier.id)).await {
            self.tier
                .counters
                .publish_errors
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "reqcache: invalidation not published; other instances keep their L1 copies until their TTL");
        }
    }
}

impl Tier {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.fill_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Until when an L1 copy of `entry`, filled at `now`, may be used.
    fn l1_until(&self, entry: &StoredRecord, now: SystemTime) -> Option<SystemTime> {
        let ttl = if self.connected.load(Ordering::Acquire) {
            self.ttl
        } else {
            Some(self.ttl_without_bus)
        };
        let by_ttl = ttl.and_then(|ttl| now.checked_add(ttl));
        let by_l2 = entry.native_expiry(Some(DEFAULT_NATIVE_RETENTION));
        match (by_ttl, by_l2) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Keeps `entry` in L1 unless a message for its key (or for more)
    /// arrived since `stamp`.
    fn fill(&self, key: &str, entry: &StoredRecord, now: SystemTime, stamp: Stamp) {
        let until = self.l1_until(entry, now);
        let _guard = self.lock();
        if self.generations.stamp(key) != stamp {
            self.counters.fills_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Too large for L1: served from L2 each time.
        let _ = self.l1.put_until(key, entry.clone(), until);
    }
}

impl Listener for Tier {
    fn receive(&self, message: &str) {
        let Some((sender, invalidation)) = Invalidation::decode(message) else {
            tracing::debug!("reqcache: a bus message that is not an invalidation, ignored");
            return;
        };
        if sender == self.id {
            return;
        }
        {
            let _guard = self.lock();
            match &invalidation {
                Invalidation::Key(key) => {
                    self.generations.bump_key(key);
                    self.l1.remove_now(key);
                }
                Invalidation::Url(url) => {
                    // Which keys a URL has is not known here: every fill.
                    self.generations.bump_all();
                    self.l1.remove_url_now(url);
                }
                Invalidation::Group(group) => {
                    // Which keys are in it is not known here either.
                    self.generations.bump_all();
                    self.l1.remove_group_now(group);
                }
                Invalidation::All => {
                    self.generations.bump_all();
                    self.l1.clear_now();
                }
            }
        }
        self.status.send_modify(|status| status.received += 1);
    }

    fn set_connected(&self, connected: bool) {
        {
            let _guard = self.lock();
            self.generations.bump_all();
            self.connected.store(connected, Ordering::Release);
            // Messages may have been missed (or will be): start afresh.
            self.l1.clear_now();
        }
        if connected {
            tracing::info!("reqcache: invalidation bus connected");
        } else {
            tracing::warn!(ttl = ?self.ttl_without_bus,
                "reqcache: invalidation bus down; L1 copies are used for a short TTL only");
        }
        self.status.send_modify(|status| {
            status.connected = connected;
            status.transitions += 1;
        });
    }
}

/// Where a key's invalidations stand: (everything's, its slot's).
type Stamp = (u64, u64);

/// Invalidation counters: one for everything (URL invalidations, `clear`,
/// connection changes) and 256 slots by key hash, so that a message for
/// one key does not drop the fills of others.
struct Generations {
    all: AtomicU64,
    slots: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Generations {
    const SLOTS: usize = 256;

    fn new() -> Self {
        Self {
            all: AtomicU64::new(0),
            slots: (0..Self::SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn slot(&self, key: &str) -> &AtomicU64 {
        let index = self.hasher.hash_one(key) as usize % Self::SLOTS;
        &self.slots[index]
    }

    fn stamp(&self, key: &str) -> Stamp {
        (
            self.all.load(Ordering::Acquire),
            self.slot(key).load(Ordering::Acquire),
        )
    }

    fn bump_key(&self, key: &str) {
        self.slot(key).fetch_add(1, Ordering::AcqRel);
    }

    fn bump_all(&self) {
        self.all.fetch_add(1, Ordering::AcqRel);
    }
}

/// Builds a [`TieredStorage`].
#[must_use]
pub struct TieredStorageBuilder {
    l1: Option<MemoryStorage>,
    l2: Arc<dyn Storage>,
    bus: Option<Arc<dyn InvalidationBus>>,
    ttl: Option<Duration>,
    ttl_without_bus: Duration,
}

impl fmt::Debug for TieredStorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredStorageBuilder")
            .field("l2", &self.l2)
            .field("bus", &self.bus)
            .field("ttl", &self.ttl)
            .field("ttl_without_bus", &self.ttl_without_bus)
            .finish_non_exhaustive()
    }
}

impl TieredStorageBuilder {
    /// The L1 (its bounds). Default: [`MemoryStorage::new`] (10,000 entries,
    /// 256 MiB).
    pub fn l1(mut self, l1: MemoryStorage) -> Self {
        self.l1 = Some(l1);
        self
    }

    /// The bus that connects the instances sharing L2. Without one, L1
    /// copies are used for [`l1_ttl_without_bus`](Self::l1_ttl_without_bus)
    /// only.
    pub fn bus(mut self, bus: impl InvalidationBus) -> Self {
        self.bus = Some(Arc::new(bus));
        self
    }

    /// The longest an L1 copy is used while the bus is connected; `None`:
    /// until a message, eviction or the L2 entry's deadline. Default:
    /// [`DEFAULT_L1_TTL`].
    pub fn l1_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl;
        self
    }

    /// The longest an L1 copy is used without a bus or while it is down.
    /// Default: [`DEFAULT_L1_TTL_WITHOUT_BUS`]; zero turns L1 off then.
    pub fn l1_ttl_without_bus(mut self, ttl: Duration) -> Self {
        self.ttl_without_bus = ttl;
        self
    }

    /// The storage; subscribes to the bus (which connects in the
    /// background: until it says it is connected, L1 copies get the short
    /// TTL).
    pub fn build(self) -> TieredStorage {
        let (status, _) = tokio::sync::watch::channel(BusStatus::default());
        let tier = Arc::new(Tier {
            l1: self.l1.unwrap_or_default(),
            l2: self.l2,
            bus: self.bus,
            id: instance_id(),
            connected: AtomicBool::new(false),
            generations: Generations::new(),
            fill_lock: Mutex::new(()),
            ttl: self.ttl,
            ttl_without_bus: self.ttl_without_bus,
            status,
            counters: Counters::default(),
        });
        if let Some(bus) = &tier.bus {
            let listener: Arc<dyn Listener> = Arc::clone(&tier) as Arc<dyn Listener>;
            bus.subscribe(BusSubscriber::new(Arc::downgrade(&listener)));
        }
        TieredStorage { tier }
    }
}

/// A number no other instance picks: the standard library's randomly
/// seeded hasher over the process, the time and a counter.
fn instance_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    std::collections::hash_map::RandomState::new().hash_one((
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed),
    ))
}

#[async_trait]
impl Storage for TieredStorage {
    async fn get_record(
        &self,
        key: &str,
        now: SystemTime,
    ) -> Result<Option<StoredRecord>, StorageError> {
        let tier = &self.tier;
        if let Some(entry) = tier.l1.get_record(key, now).await? {
            tier.counters.l1_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(entry));
        }
        let stamp = tier.generations.stamp(key);
        tier.counters.l2_reads.fetch_add(1, Ordering::Relaxed);
        let entry = tier.l2.get_record(key, now).await?;
        if let Some(entry) = &entry {
            tier.fill(key, entry, now, stamp);
        }
        Ok(entry)
    }

    /// Writes L2, then L1 (its copy timed from the entry's `created_at`),
    /// then announces the key. When L2 fails, L1's copy is dropped too.
    async fn put_record(&self, key: &str, entry: StoredRecord) -> Result<(), StorageError> {
        let tier = &self.tier;
        let stamp = tier.generations.stamp(key);
        if let Err(error) = tier.l2.put_record(key, entry.clone()).await {
            tier.l1.remove_now(key);
            return Err(error);
        }
        tier.fill(key, &entry, entry.created_at(), stamp);
        self.publish(Invalidation::Key(key.to_owned())).await;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool, StorageError> {
        self.tier.l1.remove_now(key);
        let deleted = self.tier.l2.delete(key).await;
        self.publish(Invalidation::Key(key.to_owned())).await;
        deleted
    }

    async fn delete_url(&self, url: &str) -> Result<u64, StorageError> {
        self.tier.l1.remove_url_now(url);
        let deleted = self.tier.l2.delete_url(url).await;
        self.publish(Invalidation::Url(url.to_owned())).await;
        deleted
    }

    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        self.tier.l2.group_keys(group).await
    }

    /// Drops L1's copies, then L2's records, then tells the other
    /// instances to drop theirs.
    async fn delete_group(&self, group: &str) -> Result<u64, StorageError> {
        self.tier.l1.remove_group_now(group);
        let deleted = self.tier.l2.delete_group(group).await;
        self.publish(Invalidation::Group(group.to_owned())).await;
        deleted
    }

    async fn clear(&self) -> Result<(), StorageError> {
        self.tier.l1.clear_now();
        let cleared = self.tier.l2.clear().await;
        self.publish(Invalidation::All).await;
        cleared
    }

    async fn len(&self) -> Result<u64, StorageError> {
        self.tier.l2.len().await
    }

    async fn entries(&self) -> Result<Vec<EntryInfo>, StorageError> {
        self.tier.l2.entries().await
    }

    async fn size(&self) -> Result<u64, StorageError> {
        self.tier.l2.size().await
    }

    /// The L2's: the L1 is a copy of part of it, bounded by its own
    /// [`max_size`](super::memory::MemoryStorageBuilder::max_size).
    async fn usage(&self) -> Result<StorageUsage, StorageError> {
        self.tier.l2.usage().await
    }

    async fn remove_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        self.tier.l1.remove_expired(now).await?;
        self.tier.l2.remove_expired(now).await
    }

    /// The L2's: L1 keeps the records that name bodies in chunks (they are
    /// small), never the bodies.
    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        self.tier.l2.chunks()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{CachedRequest, CachedResponse};
    use bytes::Bytes;
    use std::time::UNIX_EPOCH;

    /// An in-process bus connecting the storages built on it.
    #[derive(Debug, Default, Clone)]
    struct LocalBus(Arc<Mutex<Vec<BusSubscriber>>>);

    #[async_trait]
    impl InvalidationBus for LocalBus {
        async fn publish(&self, message: String) -> Result<(), StorageError> {
            let subscribers = self.0.lock().unwrap().clone();
            for subscriber in subscribers {
                subscriber.receive(&message);
            }
            Ok(())
        }
        fn subscribe(&self, subscriber: BusSubscriber) {
            subscriber.connected();
            self.0.lock().unwrap().push(subscriber);
        }
    }

    impl LocalBus {
        fn disconnect_all(&self) {
            for subscriber in self.0.lock().unwrap().iter() {
                subscriber.disconnected();
            }
        }
    }

    const T: u64 = 1_000_000;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(T + secs)
    }

    fn entry(body: &'static str, expires: Option<u64>) -> Arc<CachedResponse> {
        Arc::new(
            CachedResponse::new(
                http::StatusCode::OK,
                http::HeaderMap::new(),
                Bytes::from_static(body.as_bytes()),
                CachedRequest::new(http::Method::GET, "http://e.com/x"),
                at(0),
            )
            .with_expires(expires.map(at)),
        )
    }

    async fn body(storage: &TieredStorage, key: &str, now: SystemTime) -> Option<Bytes> {
        storage.get(key, now).await.unwrap().map(|e| e.body.clone())
    }

    /// Two instances over one L2 and one bus.
    fn pair() -> (TieredStorage, TieredStorage, Arc<MemoryStorage>, LocalBus) {
        let l2 = Arc::new(MemoryStorage::new());
        let bus = LocalBus::default();
        let a = TieredStorage::builder(Arc::clone(&l2))
            .bus(bus.clone())
            .build();
        let b = TieredStorage::builder(Arc::clone(&l2))
            .bus(bus.clone())
            .build();
        (a, b, l2, bus)
    }

    #[tokio::test]
    async fn reads_fill_l1_and_writes_reach_the_other_instance() {
        let (a, b, l2, _bus) = pair();
        a.put("k", entry("v1", Some(3600))).await.unwrap();
        assert_eq!(body(&b, "k", at(1)).await.unwrap(), "v1");
        assert_eq!(b.stats().l2_reads, 1);
        assert_eq!(body(&b, "k", at(2)).await.unwrap(), "v1");
        assert_eq!(b.stats().l1_hits, 1, "the second read is L1's");

        // A writes a new version: B's copy is dropped by the message.
        a.put("k", entry("v2", Some(3600))).await.unwrap();
        assert_eq!(b.bus_status().borrow().received, 2, "one message per write");
        assert_eq!(body(&b, "k", at(3)).await.unwrap(), "v2");
        assert_eq!(b.stats().l2_reads, 2);

        // A's own message does not drop A's copy.
        assert_eq!(body(&a, "k", at(3)).await.unwrap(), "v2");
        assert_eq!(a.stats().l2_reads, 0);
        assert_eq!(a.bus_status().borrow().received, 0);

        // Deletes, URL invalidation and clear travel too.
        for (step, expect_gone) in [("delete", true), ("url", true), ("clear", true)] {
            a.put("k", entry("v3", Some(3600))).await.unwrap();
            assert!(body(&b, "k", at(4)).await.is_some());
            match step {
                "delete" => drop(a.delete("k").await.unwrap()),
                "url" => drop(a.delete_url("http://e.com/x").await.unwrap()),
                _ => a.clear().await.unwrap(),
            }
            assert_eq!(body(&b, "k", at(4)).await.is_none(), expect_gone, "{step}");
        }
        assert_eq!(l2.len().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_group_purge_drops_every_instance_s_copies_of_the_group_only() {
        let (a, b, l2, _bus) = pair();
        let grouped = |body| {
            Arc::new(
                CachedResponse::clone(&entry(body, Some(3600)))
                    .with_groups(vec!["http://e.com g".to_owned()]),
            )
        };
        a.put("in-1", grouped("1")).await.unwrap();
        a.put("in-2", grouped("2")).await.unwrap();
        a.put("out", entry("3", Some(3600))).await.unwrap();
        for key in ["in-1", "in-2", "out"] {
            assert!(body(&b, key, at(1)).await.is_some());
        }
        assert_eq!(b.l1().len().await.unwrap(), 3, "B holds copies");
        let mut keys = a.group_keys("http://e.com g").await.unwrap();
        keys.sort();
        assert_eq!(keys, ["in-1", "in-2"]);
        assert_eq!(a.delete_group("http://e.com g").await.unwrap(), 2);
        assert_eq!(b.l1().len().await.unwrap(), 1, "B's group copies went");
        assert!(body(&b, "in-1", at(2)).await.is_none());
        assert!(body(&b, "out", at(2)).await.is_some());
        assert_eq!(l2.len().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn l1_copies_never_outlive_the_ttl_or_the_l2_deadline() {
        let l2 = Arc::new(MemoryStorage::new());
        let bus = LocalBus::default();
        let storage = TieredStorage::builder(Arc::clone(&l2))
            .bus(bus.clone())
            .l1_ttl(Some(Duration::from_secs(60)))
            .build();
        // Expires in 10 s: L2 keeps it an hour past that; the TTL is shorter.
        l2.put("k", entry("v", Some(10))).await.unwrap();
        assert!(body(&storage, "k", at(0)).await.is_some());
        assert!(body(&storage, "k", at(59)).await.is_some());
        assert_eq!(storage.stats().l1_hits, 1);
        // Past the TTL: read from L2 again (and refilled).
        assert!(body(&storage, "k", at(61)).await.is_some());
        assert_eq!(storage.stats().l2_reads, 2);

        // No TTL: the copy lives until the L2 entry's deadline (expiry + 1 h).
        let storage = TieredStorage::builder(Arc::clone(&l2))
            .bus(bus.clone())
            .l1_ttl(None)
            .build();
        assert!(body(&storage, "k", at(0)).await.is_some());
        assert!(storage.l1().contains("k", at(3609)).await.unwrap());
        assert!(!storage.l1().contains("k", at(3610)).await.unwrap());
    }

    #[tokio::test]
    async fn without_a_bus_or_with_it_down_copies_get_the_short_ttl() {
        let l2 = Arc::new(MemoryStorage::new());
        l2.put("k", entry("v", None)).await.unwrap();
        let alone = TieredStorage::builder(Arc::clone(&l2)).build();
        assert!(body(&alone, "k", at(0)).await.is_some());
        assert!(alone.l1().contains("k", at(0)).await.unwrap());
        assert!(!alone.l1().contains("k", at(1)).await.unwrap());

        let bus = LocalBus::default();
        let storage = TieredStorage::builder(Arc::clone(&l2))
            .bus(bus.clone())
            .build();
        assert!(body(&storage, "k", at(0)).await.is_some());
        assert!(storage.l1().contains("k", at(30)).await.unwrap());
        bus.disconnect_all();
        assert!(!storage.bus_status().borrow().connected);
        assert_eq!(
            storage.l1().len().await.unwrap(),
            0,
            "emptied on disconnect"
        );
        assert!(body(&storage, "k", at(40)).await.is_some());
        assert!(storage.l1().contains("k", at(40)).await.unwrap());
        assert!(!storage.l1().contains("k", at(41)).await.unwrap());
    }

    #[tokio::test]
    async fn a_fill_that_raced_with_a_message_is_not_kept() {
        let (a, b, _l2, _bus) = pair();
        a.put("k", entry("v1", None)).await.unwrap();
        // B read L2, then a message for the key arrived before the fill.
        let generation = b.tier.generations.stamp("k");
        let stale = b.tier.l2.get_record("k", at(0)).await.unwrap().unwrap();
        a.put("k", entry("v2", None)).await.unwrap();
        b.tier.fill("k", &stale, at(0), generation);
        assert_eq!(b.stats().fills_dropped, 1);
        assert_eq!(body(&b, "k", at(0)).await.unwrap(), "v2");
    }

    #[tokio::test]
    async fn a_message_for_another_key_does_not_drop_a_fill() {
        let (a, b, _l2, _bus) = pair();
        a.put("k", entry("v1", None)).await.unwrap();
        let read = b.tier.l2.get_record("k", at(0)).await.unwrap().unwrap();
        let stamp = b.tier.generations.stamp("k");
        // A key in another of the 256 slots (one in the same slot drops
        // the fill too: safe, only slower).
        let unrelated = (0..1000)
            .map(|i| format!("unrelated-{i}"))
            .find(|key| !std::ptr::eq(b.tier.generations.slot(key), b.tier.generations.slot("k")))
            .unwrap();
        a.put(&unrelated, entry("u", None)).await.unwrap();
        b.tier.fill("k", &read, at(0), stamp);
        assert_eq!(b.stats().fills_dropped, 0);
        assert!(b.l1().contains("k", at(0)).await.unwrap());
    }

    #[tokio::test]
    async fn a_failed_l2_write_leaves_no_l1_copy() {
        let l2 = MemoryStorage::builder().max_size(10).build(); // refuses everything
        let storage = TieredStorage::builder(l2).build();
        assert!(storage.put("k", entry("v", None)).await.is_err());
        assert_eq!(storage.l1().len().await.unwrap(), 0);
    }
}
