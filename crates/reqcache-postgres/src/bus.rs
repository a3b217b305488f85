//! [`PostgresBus`]: PostgreSQL `LISTEN`/`NOTIFY` as the invalidation bus of
//! tiered storages.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqcache::storage::backend::{BusSettings, BusSubscriber, InvalidationBus, SessionEnd};
use reqcache::storage::{StorageError, StorageErrorKind};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The channel when none is given.
pub const DEFAULT_CHANNEL: &str = "reqcache_invalidate";

/// PostgreSQL `LISTEN`/`NOTIFY` as an [`InvalidationBus`], for
/// [`TieredStorage`](reqcache::storage::TieredStorage)s over a
/// [`PostgresStorage`](crate::PostgresStorage): no other server needed.
///
/// Publishing is `pg_notify` on the pool. Each subscribed storage holds one
/// connection that listens on the channel and on a heartbeat channel of its
/// own: every [`heartbeat`](Self::heartbeat) (1 s by default) it notifies
/// itself, and counts the bus down when nothing arrives for three
/// heartbeats or the connection fails; then it listens again with backoff
/// (100 ms doubling to 2 s). A notification's payload is at most 8,000
/// bytes: an invalidation of a longer key or URL cannot be sent (counted
/// as a publish error; the others keep their copies until their L1 TTL).
///
/// # Example
/// ```no_run
/// use reqcache::storage::TieredStorage;
/// use reqcache_postgres::{PostgresBus, PostgresStorage};
///
/// # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
/// let shared = PostgresStorage::open("postgres://cache@db.internal/app").await?;
/// let bus = PostgresBus::new(shared.pool().clone()).channel("api_cache_invalidate");
/// let storage = TieredStorage::builder(shared).bus(bus).build();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresBus {
    pool: PgPool,
    settings: BusSettings,
}

impl fmt::Debug for PostgresBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBus")
            .field("channel", &self.settings.channel)
            .field("heartbeat", &self.settings.heartbeat)
            .finish_non_exhaustive()
    }
}

impl PostgresBus {
    /// A bus on `pool`'s database (say, [`PostgresStorage::pool`](crate::PostgresStorage::pool)),
    /// channel [`DEFAULT_CHANNEL`].
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            settings: BusSettings::new(DEFAULT_CHANNEL),
        }
    }

    /// The channel: instances sharing a table share a channel. At most 63
    /// bytes (PostgreSQL truncates longer identifiers).
    #[must_use]
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.settings = self.settings.channel(channel);
        self
    }

    /// How often the listening connection is checked. Default: 1 second;
    /// a hung server is noticed within three.
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.settings = self.settings.heartbeat(every);
        self
    }

    async fn notify(&self, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// Listens, then delivers until the connection fails, falls silent, or
    /// the storage is gone.
    async fn deliver(&self, subscriber: &BusSubscriber, heartbeat_channel: &str) -> SessionEnd {
        let listen =
            tokio::time::timeout(self.settings.heartbeat.max(Duration::from_secs(2)), async {
                let mut listener = PgListener::connect_with(&self.pool).await?;
                listener
                    .listen_all([self.settings.channel.as_str(), heartbeat_channel])
                    .await?;
                Ok::<_, sqlx::Error>(listener)
            });
        let mut listener = match listen.await {
            Ok(Ok(listener)) => listener,
            Ok(Err(error)) => return SessionEnd::NotConnected(error.to_string()),
            Err(_) => return SessionEnd::NotConnected("no answer in time".to_owned()),
        };
        if !subscriber.connected() {
            return SessionEnd::StorageGone;
        }
        // The listener in a task of its own, so that waiting for the next
        // notification is never cancelled halfway.
        let (notifications, mut received) = mpsc::channel::<Option<(bool, String)>>(256);
        let heartbeats = heartbeat_channel.to_owned();
        let reader = tokio::spawn(async move {
            loop {
                let next = match listener.try_recv().await {
                    Ok(Some(n)) => Some((n.channel() == heartbeats, n.payload().to_owned())),
                    Ok(None) | Err(_) => None,
                };
                let lost = next.is_none();
                if notifications.send(next).await.is_err() || lost {
                    return;
                }
            }
        });
        let mut tick = tokio::time::interval(self.settings.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = Instant::now();
        let ended = loop {
            tokio::select! {
                next = received.recv() => match next {
                    Some(Some((is_heartbeat, payload))) => {
                        last_heard = Instant::now();
                        if !is_heartbeat && !subscriber.receive(&payload) {
                            break SessionEnd::StorageGone;
                        }
                    }
                    _ => break SessionEnd::Lost("the listening connection failed".to_owned()),
                },
                _ = tick.tick() => {
                    if !subscriber.is_alive() {
                        break SessionEnd::StorageGone;
                    }
                    if last_heard.elapsed() > self.settings.heartbeat * 3 {
                        break SessionEnd::Lost("no heartbeat for three intervals".to_owned());
                    }
                    let ping = self.notify(heartbeat_channel, "");
                    let _ = tokio::time::timeout(self.settings.heartbeat, ping).await;
                }
            }
        };
        reader.abort();
        ended
    }
}

/// A heartbeat channel no other storage uses (short: channel names are
/// identifiers, at most 63 bytes).
fn heartbeat_channel() -> String {
    use std::hash::BuildHasher;
    let id = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    format!("reqcache_hb_{id:016x}")
}

#[async_trait]
impl InvalidationBus for PostgresBus {
    async fn publish(&self, message: String) -> Result<(), StorageError> {
        self.notify(&self.settings.channel, &message)
            .await
            .map_err(|error| {
                StorageError::with_source(
                    StorageErrorKind::Backend,
                    "PostgreSQL NOTIFY failed",
                    error,
                )
            })
    }

    /// Spawns the listening task on the current Tokio runtime; outside one
    /// there is none (a warning says so) and the storage stays on its short
    /// TTL.
    fn subscribe(&self, subscriber: BusSubscriber) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("reqcache-postgres: no Tokio runtime; the bus is not subscribed");
            return;
        };
        let bus = self.clone();
        let heartbeats = heartbeat_channel();
        runtime.spawn(subscriber.run_sessions("postgres", move |subscriber| {
            let (bus, heartbeats) = (bus.clone(), heartbeats.clone());
            async move { bus.deliver(&subscriber, &heartbeats).await }
        }));
    }
}
