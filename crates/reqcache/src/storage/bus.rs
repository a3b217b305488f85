//! [`InvalidationBus`]: how the [`TieredStorage`](super::TieredStorage)s of
//! many instances tell each other to drop their in-process copies, and
//! [`BusSubscriber`], what a bus delivers to.
//!
//! A bus carries strings; what they mean (which key, URL or everything,
//! and who sent it) is the tiered storage's business, so that every bus
//! (Redis pub/sub in `reqcache-redis`, PostgreSQL `LISTEN`/`NOTIFY` in
//! `reqcache-postgres`, one of your own) speaks the same messages.

use std::fmt::Debug;
use std::sync::Weak;
use std::time::Duration;

use async_trait::async_trait;

use super::error::StorageError;

/// A channel every instance publishes to and subscribes to.
///
/// # Contract
/// - [`publish`](Self::publish) sends the message to every subscriber of
///   the channel, the publishing process's own included (the tiered storage
///   ignores its own messages). It returns an error rather than wait long:
///   a tiered storage publishes after each write.
/// - [`subscribe`](Self::subscribe) returns at once and delivers, from a
///   task of its own, every message published after it calls
///   [`BusSubscriber::connected`]; when it loses the channel (or cannot
///   reach it) it calls [`BusSubscriber::disconnected`], tries again, and
///   calls `connected` once subscribed again. Messages published while it
///   was away are lost: the tiered storage drops its whole L1 on each of
///   these calls for that reason.
/// - It stops once a call on the subscriber returns `false` (the storage
///   is gone).
///
/// # Example
/// An in-process bus, for tests and for several layers in one process:
/// ```
/// use std::sync::{Arc, Mutex};
/// use reqcache::storage::StorageError;
/// use reqcache::storage::backend::{BusSubscriber, InvalidationBus};
///
/// #[derive(Debug, Default, Clone)]
/// struct LocalBus(Arc<Mutex<Vec<BusSubscriber>>>);
///
/// #[async_trait::async_trait]
/// impl InvalidationBus for LocalBus {
///     async fn publish(&self, message: String) -> Result<(), StorageError> {
///         let mut subscribers = self.0.lock().unwrap();
///         subscribers.retain(|subscriber| subscriber.receive(&message));
///         Ok(())
///     }
///     fn subscribe(&self, subscriber: BusSubscriber) {
///         if subscriber.connected() {
///             self.0.lock().unwrap().push(subscriber);
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait InvalidationBus: Debug + Send + Sync + 'static {
    /// Sends `message` to every subscriber.
    async fn publish(&self, message: String) -> Result<(), StorageError>;

    /// Starts delivering the channel's messages to `subscriber`.
    fn subscribe(&self, subscriber: BusSubscriber);
}

/// A shared bus is a bus (`Arc<dyn InvalidationBus>` chosen at run time).
#[async_trait]
impl<T: InvalidationBus + ?Sized> InvalidationBus for std::sync::Arc<T> {
    async fn publish(&self, message: String) -> Result<(), StorageError> {
        (**self).publish(message).await
    }
    fn subscribe(&self, subscriber: BusSubscriber) {
        (**self).subscribe(subscriber);
    }
}

/// What a bus delivers to: one tiered storage, held weakly so that a bus
/// task never keeps a dropped storage alive.
#[derive(Clone)]
pub struct BusSubscriber {
    tier: Weak<dyn Listener>,
}

impl std::fmt::Debug for BusSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusSubscriber")
            .field("alive", &self.is_alive())
            .finish()
    }
}

/// What a subscriber hands the bus's calls to (the tiered storage).
pub(super) trait Listener: Send + Sync + 'static {
    fn receive(&self, message: &str);
    fn set_connected(&self, connected: bool);
}

impl BusSubscriber {
    pub(super) fn new(tier: Weak<dyn Listener>) -> Self {
        Self { tier }
    }

    /// Delivers one message; `false` once the storage is gone (stop).
    /// A message that is not one of a tiered storage's is ignored.
    pub fn receive(&self, message: &str) -> bool {
        match self.tier.upgrade() {
            Some(tier) => {
                tier.receive(message);
                true
            }
            None => false,
        }
    }

    /// The bus is subscribed: from now on every message arrives. `false`
    /// once the storage is gone.
    pub fn connected(&self) -> bool {
        match self.tier.upgrade() {
            Some(tier) => {
                tier.set_connected(true);
                true
            }
            None => false,
        }
    }

    /// `true` while the storage exists (a bus that cannot connect asks, to
    /// know when to give up).
    pub fn is_alive(&self) -> bool {
        self.tier.strong_count() > 0
    }

    /// The bus lost its channel: messages may be missed until
    /// [`connected`](Self::connected). `false` once the storage is gone.
    pub fn disconnected(&self) -> bool {
        match self.tier.upgrade() {
            Some(tier) => {
                tier.set_connected(false);
                true
            }
            None => false,
        }
    }
}

/// How one session of a bus's subscription ended: what
/// [`BusSubscriber::run_sessions`] decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The storage is gone: stop for good.
    StorageGone,
    /// Subscribed, then lost (why, for the log).
    Lost(String),
    /// Could not subscribe (why, for the log).
    NotConnected(String),
}

/// The two settings every bus has: the channel its messages go on, and
/// the heartbeat that notices a hung server. A bus keeps one and forwards
/// its own `channel` and `heartbeat` setters to it.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache::storage::backend::BusSettings;
///
/// let settings = BusSettings::new("reqcache_invalidate").heartbeat(Duration::ZERO);
/// assert_eq!(settings.channel, "reqcache_invalidate");
/// assert_eq!(settings.heartbeat, BusSettings::MIN_HEARTBEAT);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusSettings {
    /// Instances that share an L2 share a channel.
    pub channel: String,
    /// How often the subscription is checked, and how long the answer may
    /// take.
    pub heartbeat: Duration,
}

impl BusSettings {
    /// The default heartbeat: 1 second.
    pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
    /// The shortest heartbeat: 10 ms (a shorter one is raised to it).
    pub const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

    /// `channel`, with the default heartbeat.
    pub fn new(channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            heartbeat: Self::DEFAULT_HEARTBEAT,
        }
    }

    /// These settings on another channel.
    #[must_use]
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// These settings with a heartbeat of `every`, at least
    /// [`MIN_HEARTBEAT`](Self::MIN_HEARTBEAT).
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Self::MIN_HEARTBEAT);
        self
    }
}

/// The first wait before a bus subscribes again: 100 ms, doubling up to
/// [`MAX_RESUBSCRIBE_BACKOFF`].
pub const MIN_RESUBSCRIBE_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait before a bus subscribes again: 2 s.
pub const MAX_RESUBSCRIBE_BACKOFF: Duration = Duration::from_secs(2);

impl BusSubscriber {
    /// Runs `session` (subscribe, then deliver until the subscription ends)
    /// again and again until the storage is gone: after a lost
    /// subscription, the storage is told it is disconnected and the next
    /// session starts after [`MIN_RESUBSCRIBE_BACKOFF`]; after a failed
    /// one, the wait doubles up to [`MAX_RESUBSCRIBE_BACKOFF`]. The loop
    /// every bus shares; `bus` names it in the debug logs.
    ///
    /// ```
    /// use reqcache::storage::backend::{BusSubscriber, SessionEnd};
    ///
    /// // A bus task: `deliver` subscribes and delivers messages.
    /// async fn run(subscriber: BusSubscriber) {
    ///     subscriber
    ///         .run_sessions("my-bus", |subscriber| async move {
    ///             if !subscriber.connected() {
    ///                 return SessionEnd::StorageGone;
    ///             }
    ///             // ... deliver with subscriber.receive(..) until the
    ///             // connection fails:
    ///             SessionEnd::Lost("connection closed".into())
    ///         })
    ///         .await;
    /// }
    /// ```
    pub async fn run_sessions<F, Fut>(self, bus: &str, mut session: F)
    where
        F: FnMut(BusSubscriber) -> Fut,
        Fut: Future<Output = SessionEnd>,
    {
        let mut backoff = MIN_RESUBSCRIBE_BACKOFF;
        loop {
            match session(self.clone()).await {
                SessionEnd::StorageGone => return,
                SessionEnd::Lost(error) => {
                    tracing::debug!(%error, bus, "reqcache: bus subscription lost");
                    if !self.disconnected() {
                        return;
                    }
                    backoff = MIN_RESUBSCRIBE_BACKOFF;
                }
                SessionEnd::NotConnected(error) => {
                    tracing::debug!(%error, bus, "reqcache: bus not reachable");
                    if !self.is_alive() {
                        return;
                    }
                }
            }
            // Waiting to subscribe again: a real-world backoff.
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_RESUBSCRIBE_BACKOFF);
        }
    }
}

/// What one message asks: drop one key, every entry of a URL, every
/// response of a cache group, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Invalidation {
    Key(String),
    Url(String),
    Group(String),
    All,
}

impl Invalidation {
    /// `"<sender, 16 hex digits> k <key>"`, `"… u <url>"`, `"… g <group>"`,
    /// `"… a"`.
    pub(super) fn encode(&self, sender: u64) -> String {
        match self {
            Self::Key(key) => format!("{sender:016x} k {key}"),
            Self::Url(url) => format!("{sender:016x} u {url}"),
            Self::Group(group) => format!("{sender:016x} g {group}"),
            Self::All => format!("{sender:016x} a"),
        }
    }

    /// The sender and the invalidation of a message, or `None` for one that
    /// is not a tiered storage's.
    pub(super) fn decode(message: &str) -> Option<(u64, Self)> {
        let (sender, rest) = message.split_once(' ')?;
        if sender.len() != 16 {
            return None;
        }
        let sender = u64::from_str_radix(sender, 16).ok()?;
        let invalidation = match rest.split_once(' ') {
            Some(("k", key)) => Self::Key(key.to_owned()),
            Some(("u", url)) => Self::Url(url.to_owned()),
            Some(("g", group)) => Self::Group(group.to_owned()),
            None if rest == "a" => Self::All,
            _ => return None,
        };
        Some((sender, invalidation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_foreign_ones_are_ignored() {
        let cases = [
            Invalidation::Key("a b".to_owned()),
            Invalidation::Url("https://e.com/x?y=1 2".to_owned()),
            Invalidation::Group("https://e.com product 42".to_owned()),
            Invalidation::All,
        ];
        for invalidation in cases {
            let message = invalidation.encode(0xdead_beef);
            assert_eq!(
                Invalidation::decode(&message),
                Some((0xdead_beef, invalidation))
            );
        }
        for foreign in [
            "",
            "hello",
            "00000000deadbeef",
            "00000000deadbeef x y",
            "deadbeef k key",
            "zzzzzzzzzzzzzzzz k key",
            "00000000deadbeef a extra",
        ] {
            assert_eq!(Invalidation::decode(foreign), None, "{foreign:?}");
        }
    }
}
