//! [`RedisStorage`] and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use reqcache::storage::backend::{BodyRef, ByteStore, ChunkStore, Record, Sidecar};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};

use crate::connection::Connection;
use crate::layout::{BUCKETS, Layout, Meta, millis};

/// How many keys one page of a scan or a batch delete handles.
const PAGE: usize = 500;

/// A [`Storage`](reqcache::storage::Storage) on a Redis server or cluster:
/// a [`ByteStore`] with native expiry (each value's `PXAT`), so entries are
/// encoded by reqcache's adapter (plain MessagePack, or any codec through
/// [`Encoded`](reqcache::storage::Encoded)).
///
/// Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct RedisStorage {
    connection: Connection,
    layout: Arc<Layout>,
}

impl fmt::Debug for RedisStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorage")
            .field("namespace", &self.layout.namespace())
            .field(
                "mode",
                &match self.connection {
                    Connection::Standalone(_) => "standalone",
                    Connection::Cluster(_) => "cluster",
                },
            )
            .finish()
    }
}

enum Target {
    Url(String),
    Client(redis::Client),
    Cluster(Vec<String>),
    ClusterClient(Box<ClusterClient>),
}

/// Builds a [`RedisStorage`].
///
/// # Example
/// ```no_run
/// use std::time::Duration;
/// use reqcache_redis::RedisStorage;
///
/// # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
/// let cluster = RedisStorage::cluster([
///     "redis://127.0.0.1:7000",
///     "redis://127.0.0.1:7001",
///     "redis://127.0.0.1:7002",
/// ])
/// .namespace("shared_cache")
/// .response_timeout(Duration::from_millis(200))
/// .open()
/// .await?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct RedisStorageBuilder {
    target: Target,
    namespace: String,
    response_timeout: Duration,
    connection_timeout: Duration,
    lazy: bool,
}

impl fmt::Debug for RedisStorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStorageBuilder")
            .field("namespace", &self.namespace)
            .field("response_timeout", &self.response_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .field("lazy", &self.lazy)
            .finish_non_exhaustive()
    }
}

impl RedisStorage {
    /// Connects to the server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `rediss://` with the `tls` feature) with the default settings.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for a bad URL, [`StorageErrorKind::Backend`]
    /// when the server cannot be reached.
    pub async fn open(url: &str) -> Result<Self, StorageError> {
        Self::builder(url).open().await
    }

    /// A builder for the server at `url`.
    pub fn builder(url: &str) -> RedisStorageBuilder {
        RedisStorageBuilder::new(Target::Url(url.to_owned()))
    }

    /// A builder over an existing client.
    pub fn from_client(client: redis::Client) -> RedisStorageBuilder {
        RedisStorageBuilder::new(Target::Client(client))
    }

    /// A builder for a cluster, given some of its nodes' URLs.
    pub fn cluster<I, S>(nodes: I) -> RedisStorageBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisStorageBuilder::new(Target::Cluster(nodes.into_iter().map(Into::into).collect()))
    }

    /// A builder over an existing cluster client (its own timeouts apply).
    pub fn from_cluster_client(client: ClusterClient) -> RedisStorageBuilder {
        RedisStorageBuilder::new(Target::ClusterClient(Box::new(client)))
    }

    /// The namespace (requests-cache's `cache_name`).
    pub fn namespace(&self) -> &str {
        self.layout.namespace()
    }

    /// The Redis key that holds the value of the entry under cache key `key`,
    /// for inspecting a cache with `redis-cli`.
    ///
    /// ```no_run
    /// # async fn f(storage: reqcache_redis::RedisStorage) {
    /// assert_eq!(storage.value_key("a1b2c3"), "{reqcache:a}:v:a1b2c3");
    /// # }
    /// ```
    pub fn value_key(&self, key: &str) -> String {
        self.layout.value(key)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StorageError> {
        cmd.query_async(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StorageError> {
        pipe.query_async(&mut self.connection.clone())
            .await
            .map_err(backend)
    }

    /// Deletes `keys`, all of one bucket, in one transaction; returns how many
    /// had metadata.
    async fn delete_in_bucket(&self, bucket: u8, keys: &[String]) -> Result<u64, StorageError> {
        if keys.is_empty() {
            return Ok(0);
        }
        // The bodies the records keep in chunks go with them.
        let metas: Vec<Option<Vec<u8>>> = self
            .query(redis::cmd("HMGET").arg(self.layout.meta(bucket)).arg(keys))
            .await?;
        let metas: Vec<(&String, Meta)> = keys
            .iter()
            .zip(metas)
            .filter_map(|(key, meta)| Some((key, meta.as_deref().and_then(Meta::decode)?)))
            .collect();
        let removed = self.delete_records(bucket, keys).await?;
        // Out of their groups' indexes (a member left behind would only
        // be checked and dropped by the next lookup, but groups that are
        // never purged would keep it).
        let mut pipe = redis::pipe();
        let mut grouped = false;
        for (key, meta) in &metas {
            for group in meta.groups() {
                grouped = true;
                pipe.cmd("SREM")
                    .arg(self.layout.group_index(bucket, group))
                    .arg(*key)
                    .ignore();
            }
        }
        if grouped {
            self.pipeline::<()>(&pipe).await?;
        }
        for (_, meta) in &metas {
            if let Some((id, chunks)) = meta.body() {
                self.delete_chunks(id, chunks).await?;
            }
        }
        Ok(removed)
    }

    /// Deletes records and their metadata, in one transaction.
    async fn delete_records(&self, bucket: u8, keys: &[String]) -> Result<u64, StorageError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let del = pipe.cmd("DEL");
        for key in keys {
            del.arg(self.layout.value(key));
        }
        del.ignore();
        pipe.cmd("HDEL").arg(self.layout.meta(bucket)).arg(keys);
        pipe.cmd("SREM")
            .arg(self.layout.bookkeeping(bucket))
            .arg(keys)
            .ignore();
        pipe.cmd("ZREM")
            .arg(self.layout.expiry(bucket))
            .arg(keys)
            .ignore();
        let (removed,): (u64,) = self.pipeline(&pipe).await?;
        Ok(removed)
    }

    /// The members of the bucket's index set `index` (a URL's or a
    /// group's) whose metadata `belongs` confirms; the others (records
    /// gone, or rewritten under another URL or out of the group) are
    /// dropped from the set.
    async fn confirmed_members(
        &self,
        bucket: u8,
        index: &str,
        belongs: impl Fn(&Meta) -> bool,
    ) -> Result<Vec<String>, StorageError> {
        let candidates: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(index)).await?;
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let metas: Vec<Option<Vec<u8>>> = self
            .query(
                redis::cmd("HMGET")
                    .arg(self.layout.meta(bucket))
                    .arg(&candidates),
            )
            .await?;
        let (mut members, mut stale) = (Vec::new(), Vec::new());
        for (key, meta) in candidates.into_iter().zip(metas) {
            if meta
                .as_deref()
                .and_then(Meta::decode)
                .is_some_and(|meta| belongs(&meta))
            {
                members.push(key);
            } else {
                stale.push(key);
            }
        }
        if !stale.is_empty() {
            self.query::<()>(redis::cmd("SREM").arg(index).arg(&stale))
                .await?;
        }
        Ok(members)
    }

    /// The keys of the bucket's responses in `group`, from its index.
    async fn group_members(&self, bucket: u8, group: &str) -> Result<Vec<String>, StorageError> {
        let index = self.layout.group_index(bucket, group);
        self.confirmed_members(bucket, &index, |meta| meta.in_group(group))
            .await
    }

    /// Calls `page` with each page of a bucket's metadata, as `(key, meta)`
    /// with `None` for metadata that does not decode.
    async fn scan_meta(
        &self,
        bucket: u8,
        mut page: impl FnMut(Vec<(String, Option<Meta>)>),
    ) -> Result<(), StorageError> {
        let mut cursor: u64 = 0;
        loop {
            let (next, flat): (u64, Vec<Vec<u8>>) = self
                .query(
                    redis::cmd("HSCAN")
                        .arg(self.layout.meta(bucket))
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(PAGE),
                )
                .await?;
            let entries = flat
                .chunks_exact(2)
                .map(|pair| {
                    (
                        String::from_utf8_lossy(&pair[0]).into_owned(),
                        Meta::decode(&pair[1]),
                    )
                })
                .collect();
            page(entries);
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Deletes, bucket by bucket and page by page, the keys `doomed` picks.
    async fn delete_where(
        &self,
        mut doomed: impl FnMut(&str, Option<&Meta>) -> bool,
    ) -> Result<u64, StorageError> {
        let mut deleted = 0;
        for bucket in 0..BUCKETS {
            let mut pages = Vec::new();
            self.scan_meta(bucket, |entries| {
                let keys: Vec<String> = entries
                    .into_iter()
                    .filter(|(key, meta)| doomed(key, meta.as_ref()))
                    .map(|(key, _)| key)
                    .collect();
                if !keys.is_empty() {
                    pages.push(keys);
                }
            })
            .await?;
            for keys in pages {
                deleted += self.delete_in_bucket(bucket, &keys).await?;
            }
        }
        Ok(deleted)
    }
}

impl RedisStorageBuilder {
    fn new(target: Target) -> Self {
        Self {
            target,
            namespace: "reqcache".to_owned(),
            response_timeout: Duration::from_millis(500),
            connection_timeout: Duration::from_millis(500),
            lazy: false,
        }
    }

    /// The namespace every key lives under: requests-cache's `cache_name`.
    /// Any text without `{` or `}`. Default: `reqcache`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long a command may take before it fails (and the layer goes
    /// upstream). Default: 500 ms.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long connecting may take. Default: 500 ms.
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Standalone only: connect on first use instead of in
    /// [`open`](Self::open), so a service starts even while Redis is down
    /// (requests go upstream until it is back). Default: off.
    pub fn lazy(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// Connects.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for a bad URL or namespace,
    /// [`StorageErrorKind::Backend`] when the server cannot be reached.
    pub async fn open(mut self) -> Result<RedisStorage, StorageError> {
        if self.namespace.is_empty() || self.namespace.contains(['{', '}']) {
            return Err(StorageError::new(
                StorageErrorKind::Config,
                format!(
                    "invalid namespace {:?}: it must be non-empty, without {{ or }}",
                    self.namespace
                ),
            ));
        }
        let target = std::mem::replace(&mut self.target, Target::Cluster(Vec::new()));
        let connection = match target {
            Target::Url(url) => {
                let client = redis::Client::open(url.as_str()).map_err(config)?;
                self.standalone(client).await?
            }
            Target::Client(client) => self.standalone(client).await?,
            Target::Cluster(nodes) => {
                let client = ClusterClientBuilder::new(nodes)
                    .connection_timeout(self.connection_timeout)
                    .response_timeout(self.response_timeout)
                    .retries(2)
                    .build()
                    .map_err(config)?;
                Connection::Cluster(client.get_async_connection().await.map_err(backend)?)
            }
            Target::ClusterClient(client) => {
                Connection::Cluster(client.get_async_connection().await.map_err(backend)?)
            }
        };
        Ok(RedisStorage {
            connection,
            layout: Arc::new(Layout::new(self.namespace)),
        })
    }

    async fn standalone(&self, client: redis::Client) -> Result<Connection, StorageError> {
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.response_timeout))
            .set_connection_timeout(Some(self.connection_timeout))
            .set_number_of_retries(3)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_secs(1));
        let manager = if self.lazy {
            ConnectionManager::new_lazy_with_config(client, config).map_err(backend)?
        } else {
            ConnectionManager::new_with_config(client, config)
                .await
                .map_err(backend)?
        };
        Ok(Connection::Standalone(manager))
    }
}

fn backend(error: redis::RedisError) -> StorageError {
    StorageError::with_source(StorageErrorKind::Backend, "Redis command failed", error)
}

fn config(error: redis::RedisError) -> StorageError {
    StorageError::with_source(
        StorageErrorKind::Config,
        "invalid Redis configuration",
        error,
    )
}

impl RedisStorage {
    /// The body the record under `key` keeps in chunks, from its metadata.
    async fn body_of(&self, bucket: u8, key: &str) -> Result<Option<(String, u64)>, StorageError> {
        let meta: Option<Vec<u8>> = self
            .query(redis::cmd("HGET").arg(self.layout.meta(bucket)).arg(key))
            .await?;
        Ok(meta
            .as_deref()
            .and_then(Meta::decode)
            .and_then(|meta| meta.body().map(|(id, chunks)| (id.to_owned(), chunks))))
    }

    /// Gives `body`'s chunks the deadline of the record about to name it;
    /// an error when one is missing (expired, evicted, never written).
    async fn keep_chunks(
        &self,
        body: &BodyRef,
        deadline: Option<SystemTime>,
    ) -> Result<(), StorageError> {
        let mut pipe = redis::pipe();
        for index in 0..body.chunks() {
            let key = self.layout.chunk(&body.id, index);
            match deadline {
                Some(deadline) => pipe.cmd("PEXPIREAT").arg(key).arg(millis(deadline).max(1)),
                None => pipe.cmd("PERSIST").arg(key),
            };
        }
        let kept: Vec<i64> = self.pipeline(&pipe).await?;
        // PERSIST answers 0 for a key without a TTL too: check those.
        let present = if deadline.is_some() {
            kept.iter().filter(|k| **k == 1).count() as u64
        } else {
            let mut exists = redis::cmd("EXISTS");
            for index in 0..body.chunks() {
                exists.arg(self.layout.chunk(&body.id, index));
            }
            self.query(&exists).await?
        };
        if present == body.chunks() {
            return Ok(());
        }
        Err(StorageError::new(
            StorageErrorKind::Backend,
            format!(
                "body {} is not whole: {present} of its {} chunks are stored",
                body.id,
                body.chunks()
            ),
        ))
    }

    /// Deletes `chunks` chunks of body `id`.
    async fn delete_chunks(&self, id: &str, chunks: u64) -> Result<(), StorageError> {
        for first in (0..chunks).step_by(256) {
            let mut del = redis::cmd("DEL");
            for index in first..(first + 256).min(chunks) {
                del.arg(self.layout.chunk(id, index));
            }
            self.query::<()>(&del).await?;
        }
        Ok(())
    }
}

/// Bodies past [`CHUNKED_FROM`](reqcache::storage::backend::CHUNKED_FROM)
/// bytes are kept in a key per chunk of [`CHUNK_SIZE`], beside the record,
/// sharing one hash tag per body. Written with a TTL of [`ORPHAN_GRACE`],
/// they take the record's deadline when it is written (and again with
/// each revalidation); they are deleted with the record, and when a new
/// body replaces them. Redis's `maxmemory` policy may evict a chunk on its
/// own: the hit that finds the first chunk gone is a miss, one that finds a
/// later chunk gone ends its body with an error.
#[async_trait]
impl ChunkStore for RedisStorage {
    fn chunk_size(&self) -> u32 {
        CHUNK_SIZE
    }

    fn max_size(&self) -> Option<u64> {
        None
    }

    async fn write_chunk(&self, id: &str, index: u64, data: Bytes) -> Result<(), StorageError> {
        let grace = u64::try_from(ORPHAN_GRACE.as_millis()).unwrap_or(u64::MAX);
        self.query(
            redis::cmd("SET")
                .arg(self.layout.chunk(id, index))
                .arg(data.as_ref())
                .arg("PX")
                .arg(grace),
        )
        .await
    }

    async fn read_chunk(&self, id: &str, index: u64) -> Result<Option<Bytes>, StorageError> {
        let found: Option<Vec<u8>> = self
            .query(redis::cmd("GET").arg(self.layout.chunk(id, index)))
            .await?;
        Ok(found.map(Bytes::from))
    }

    /// Deletes the chunks written: they are consecutive from 0, so the
    /// first batch that finds none ends it.
    async fn discard(&self, id: &str) -> Result<(), StorageError> {
        for first in (0u64..).step_by(256) {
            let mut del = redis::cmd("DEL");
            for index in first..first + 256 {
                del.arg(self.layout.chunk(id, index));
            }
            let deleted: u64 = self.query(&del).await?;
            if deleted == 0 {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// The length of the chunks of a body kept in chunks: 256 KiB.
pub const CHUNK_SIZE: u32 = 256 * 1024;

/// The TTL of a chunk whose record is not written yet: one hour, longer
/// than any body takes to write. A write cut short leaves chunks that
/// expire by then.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3600);

#[async_trait]
impl ByteStore for RedisStorage {
    async fn read(&self, key: &str, _now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        self.query(redis::cmd("GET").arg(self.layout.value(key)))
            .await
    }

    /// A record that names a body kept in chunks gives the chunks its
    /// deadline first (`PEXPIREAT`, or `PERSIST` without one), and is
    /// written only when every chunk is there; the chunks of a body it
    /// replaces are deleted after it.
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        let Record {
            info,
            value,
            deadline,
            body,
            ..
        } = record;
        let key = info.key.as_str();
        let bucket = Layout::bucket(key);
        // A small record replacing one with a body leaves the old chunks
        // to expire with their TTL: no read before every write.
        let replaced = match &body {
            Some(body) => {
                self.keep_chunks(body, deadline).await?;
                self.body_of(bucket, key)
                    .await?
                    .filter(|(old, _)| *old != body.id)
            }
            None => None,
        };
        let removable_at = match (info.expires, info.retain_until) {
            (Some(e), Some(r)) => Some(e.min(r)),
            (e, r) => e.or(r),
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        let set = pipe.cmd("SET").arg(self.layout.value(key)).arg(value);
        if let Some(deadline) = deadline {
            set.arg("PXAT").arg(millis(deadline).max(1));
        }
        set.ignore();
        pipe.cmd("HSET")
            .arg(self.layout.meta(bucket))
            .arg(key)
            .arg(Meta::of(&info, deadline, body.as_ref()).encode())
            .ignore();
        pipe.cmd(if info.kind.is_response() {
            "SREM"
        } else {
            "SADD"
        })
        .arg(self.layout.bookkeeping(bucket))
        .arg(key)
        .ignore();
        for group in &info.groups {
            let group_index = self.layout.group_index(bucket, group);
            pipe.cmd("SADD").arg(&group_index).arg(key).ignore();
            pipe.cmd("SADD")
                .arg(self.layout.group_indexes(bucket))
                .arg(&group_index)
                .ignore();
        }
        let url_index = self.layout.url_index(bucket, &info.url);
        pipe.cmd("SADD").arg(&url_index).arg(key).ignore();
        pipe.cmd("SADD")
            .arg(self.layout.url_indexes(bucket))
            .arg(&url_index)
            .ignore();
        pipe.cmd("ZADD")
            .arg(self.layout.expiry(bucket))
            .arg(removable_at.map_or_else(|| "+inf".to_owned(), |t| millis(t).to_string()))
            .arg(key)
            .ignore();
        self.pipeline::<()>(&pipe).await?;
        if let Some((old, chunks)) = replaced {
            self.delete_chunks(&old, chunks).await?;
        }
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self
            .delete_in_bucket(Layout::bucket(key), &[key.to_owned()])
            .await?
            > 0)
    }

    /// Reads the URL's index in each bucket, checks each candidate against
    /// its metadata, deletes the matches: no scan of the whole namespace.
    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let mut deleted = 0;
        for bucket in 0..BUCKETS {
            let index = self.layout.url_index(bucket, url);
            let matching = self
                .confirmed_members(bucket, &index, |meta| meta.url() == url)
                .await?;
            if matching.is_empty() {
                continue;
            }
            deleted += self.delete_in_bucket(bucket, &matching).await?;
            self.query::<()>(redis::cmd("SREM").arg(&index).arg(&matching))
                .await?;
        }
        Ok(deleted)
    }

    /// The group's index in each bucket, each member checked against its
    /// metadata (the index and the metadata are written in one
    /// transaction, so a member the metadata does not confirm is stale,
    /// and is dropped).
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        for bucket in 0..BUCKETS {
            keys.extend(self.group_members(bucket, group).await?);
        }
        Ok(keys)
    }

    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let mut removed = 0;
        for bucket in 0..BUCKETS {
            let members = self.group_members(bucket, group).await?;
            for page in members.chunks(PAGE) {
                removed += self.delete_in_bucket(bucket, page).await?;
            }
        }
        Ok(removed)
    }

    async fn remove_all(&self) -> Result<(), StorageError> {
        self.delete_where(|_, _| true).await?;
        for bucket in 0..BUCKETS {
            let mut pipe = redis::pipe();
            pipe.cmd("SMEMBERS").arg(self.layout.url_indexes(bucket));
            pipe.cmd("SMEMBERS").arg(self.layout.group_indexes(bucket));
            let (urls, groups): (Vec<String>, Vec<String>) = self.pipeline(&pipe).await?;
            let mut del = redis::cmd("DEL");
            del.arg(self.layout.meta(bucket))
                .arg(self.layout.expiry(bucket))
                .arg(self.layout.bookkeeping(bucket))
                .arg(self.layout.url_indexes(bucket))
                .arg(self.layout.group_indexes(bucket))
                .arg(&urls)
                .arg(&groups);
            self.query::<()>(&del).await?;
        }
        Ok(())
    }

    /// The metadata's size less the aliases' and vary indexes', bucket by
    /// bucket in one round trip each.
    async fn count(&self) -> Result<u64, StorageError> {
        let mut len = 0;
        for bucket in 0..BUCKETS {
            let mut pipe = redis::pipe();
            pipe.cmd("HLEN").arg(self.layout.meta(bucket));
            pipe.cmd("SCARD").arg(self.layout.bookkeeping(bucket));
            let (records, bookkeeping): (u64, u64) = self.pipeline(&pipe).await?;
            len += records.saturating_sub(bookkeeping);
        }
        Ok(len)
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        let now = SystemTime::now();
        let mut entries = Vec::new();
        for bucket in 0..BUCKETS {
            self.scan_meta(bucket, |page| {
                for (key, meta) in page {
                    match meta {
                        Some(meta) if meta.is_gone(now) => {}
                        Some(meta) => match meta.info(key) {
                            Some(info) => entries.push(info),
                            None => tracing::warn!("reqcache-redis: invalid metadata skipped"),
                        },
                        None => tracing::warn!(key, "reqcache-redis: undecodable metadata skipped"),
                    }
                }
            })
            .await?;
        }
        Ok(entries)
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let mut removed = 0;
        for bucket in 0..BUCKETS {
            loop {
                let keys: Vec<String> = self
                    .query(
                        redis::cmd("ZRANGEBYSCORE")
                            .arg(self.layout.expiry(bucket))
                            .arg("-inf")
                            .arg(millis(now))
                            .arg("LIMIT")
                            .arg(0)
                            .arg(PAGE),
                    )
                    .await?;
                if keys.is_empty() {
                    break;
                }
                removed += self.delete_in_bucket(bucket, &keys).await?;
            }
        }
        Ok(removed)
    }

    fn expires_natively(&self) -> bool {
        true
    }

    fn chunks(&self) -> Option<Arc<dyn ChunkStore>> {
        Some(Arc::new(self.clone()))
    }
}
