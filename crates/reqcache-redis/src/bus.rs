//! [`RedisBus`]: Redis pub/sub as the invalidation bus of tiered storages.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use reqcache::storage::backend::{BusSettings, BusSubscriber, InvalidationBus, SessionEnd};
use reqcache::storage::{StorageError, StorageErrorKind};

/// The channel when none is given: `reqcache:invalidate`.
pub const DEFAULT_CHANNEL: &str = "reqcache:invalidate";

/// Redis pub/sub as an [`InvalidationBus`]: every
/// [`TieredStorage`](reqcache::storage::TieredStorage) built on it publishes
/// its writes and deletes on one channel and drops its L1 copies on the
/// others' messages.
///
/// One subscription connection per storage, kept open; it sends `PING`
/// every [`heartbeat`](Self::heartbeat) (1 s by default) and counts the
/// bus down when a ping gets no answer within the heartbeat or the
/// connection closes, then reconnects with backoff (100 ms doubling to
/// 2 s). Publishing uses a reconnecting connection of its own, each command
/// bounded by 500 ms. On a cluster, connect it to any node: Redis
/// broadcasts pub/sub messages across the cluster.
///
/// # Example
/// ```no_run
/// use reqcache::storage::TieredStorage;
/// use reqcache_redis::{RedisBus, RedisStorage};
///
/// # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
/// let url = "redis://10.0.0.5:6379";
/// let shared = RedisStorage::builder(url).namespace("api").open().await?;
/// let storage = TieredStorage::builder(shared)
///     .bus(RedisBus::new(url)?.channel("reqcache:invalidate:api"))
///     .build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBus {
    client: redis::Client,
    publisher: ConnectionManager,
    settings: BusSettings,
}

impl fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.client.get_connection_info();
        f.debug_struct("RedisBus")
            .field("server", &info.addr())
            .field("channel", &self.settings.channel)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// A bus on the server at `url`, channel [`DEFAULT_CHANNEL`]; connects
    /// on first use. Call it inside a Tokio runtime.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for a URL that is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, StorageError> {
        let client = redis::Client::open(url).map_err(|error| {
            StorageError::with_source(
                StorageErrorKind::Config,
                "invalid Redis URL for the bus",
                error,
            )
        })?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let publisher =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|error| {
                StorageError::with_source(StorageErrorKind::Backend, "Redis bus", error)
            })?;
        Ok(Self {
            client,
            publisher,
            settings: BusSettings::new(DEFAULT_CHANNEL),
        })
    }

    /// The channel: instances that share an L2 share a channel; caches that
    /// do not, use channels of their own (say, one per namespace).
    #[must_use]
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.settings = self.settings.channel(channel);
        self
    }

    /// How often the subscription is checked with a `PING`, and how long
    /// the answer may take. Default: 1 second. It bounds how long a hung
    /// server goes unnoticed (the tiered storage keeps the longer L1 TTL
    /// meanwhile).
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.settings = self.settings.heartbeat(every);
        self
    }

    /// Subscribes, then delivers until the connection fails or the storage
    /// is gone.
    async fn deliver(&self, subscriber: &BusSubscriber) -> SessionEnd {
        let connect =
            tokio::time::timeout(self.settings.heartbeat.max(Duration::from_secs(1)), async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(&self.settings.channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            });
        let pubsub = match connect.await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => return SessionEnd::NotConnected(error.to_string()),
            Err(_) => return SessionEnd::NotConnected(timed_out()),
        };
        if !subscriber.connected() {
            return SessionEnd::StorageGone;
        }
        let (mut sink, mut messages) = pubsub.split();
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        return SessionEnd::Lost(closed());
                    };
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    if !subscriber.receive(&payload) {
                        return SessionEnd::StorageGone;
                    }
                }
                _ = heartbeat.tick() => {
                    if !subscriber.is_alive() {
                        return SessionEnd::StorageGone;
                    }
                    match tokio::time::timeout(self.settings.heartbeat, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => return SessionEnd::Lost(error.to_string()),
                        Err(_) => return SessionEnd::Lost(timed_out()),
                    }
                }
            }
        }
    }
}

fn timed_out() -> String {
    "no answer within the heartbeat".to_owned()
}

fn closed() -> String {
    "subscription connection closed".to_owned()
}

#[async_trait]
impl InvalidationBus for RedisBus {
    async fn publish(&self, message: String) -> Result<(), StorageError> {
        let mut connection = self.publisher.clone();
        redis::cmd("PUBLISH")
            .arg(&self.settings.channel)
            .arg(message)
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|error| {
                StorageError::with_source(StorageErrorKind::Backend, "Redis PUBLISH failed", error)
            })
    }

    /// Spawns the subscription task on the current Tokio runtime; outside
    /// one there is none (a warning says so) and the storage stays on its
    /// short TTL.
    fn subscribe(&self, subscriber: BusSubscriber) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("reqcache-redis: no Tokio runtime; the bus is not subscribed");
            return;
        };
        let bus = self.clone();
        runtime.spawn(subscriber.run_sessions("redis", move |subscriber| {
            let bus = bus.clone();
            async move { bus.deliver(&subscriber).await }
        }));
    }
}
