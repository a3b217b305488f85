//! Opening the storage a command-line string names ([`StorageUrl`]).

use std::sync::Arc;

use std::time::Duration;

use reqcache::storage::backend::InvalidationBus;
use reqcache::storage::{Storage, StorageErrorKind, TieredStorage};
use reqcache::{MemoryStorage, StorageError};

use crate::byte_size::ByteSize;
use crate::storage_url::{DiskSettings, StorageUrl};

/// Opens the storage a string names (every form: [`StorageUrl`]).
///
/// # Errors
/// [`StorageErrorKind::Config`] for an unknown form or one whose cargo
/// feature this binary was built without; the storage's own errors when it
/// cannot be opened (a server down, a folder that cannot be created).
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let storage = reqcache_cli::storage::open("memory").await?;
/// assert_eq!(storage.len().await?, 0);
/// assert!(reqcache_cli::storage::open("floppy:a").await.is_err());
/// # Ok(()) }
/// ```
pub async fn open(spec: &str) -> Result<Arc<dyn Storage>, StorageError> {
    open_url(&spec.parse()?, false).await
}

/// [`open`] for the admin commands: a storage that is a file or a folder
/// must exist already, so that a path with a typo is an error
/// ("cannot open sqlite:/x/y: /x/y.sqlite does not exist") rather than a
/// new, empty cache; every error names the storage (without password).
///
/// # Errors
/// As [`open`], and [`StorageErrorKind::Config`] for a missing file or
/// folder.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let error = reqcache_cli::storage::open_existing("sqlite:/nonexistent/cache").await.unwrap_err();
/// assert_eq!(error.to_string(),
///     "storage configuration error: cannot open sqlite:/nonexistent/cache: /nonexistent/cache.sqlite does not exist");
/// # }
/// ```
pub async fn open_existing(spec: &str) -> Result<Arc<dyn Storage>, StorageError> {
    let url: StorageUrl = spec.parse()?;
    let missing = |path: &std::path::Path| {
        StorageError::new(
            StorageErrorKind::Config,
            format!("cannot open {url}: {} does not exist", path.display()),
        )
    };
    match &url {
        #[cfg(feature = "sqlite")]
        StorageUrl::Sqlite { path, .. } => {
            let file = reqcache_sqlite::resolve_cache_path(path);
            if !file.exists() {
                return Err(missing(&file));
            }
        }
        StorageUrl::Files { dir, .. } if !dir.starts_with("~") && !dir.exists() => {
            return Err(missing(dir));
        }
        _ => {}
    }
    open_url(&url, false).await.map_err(|error| {
        StorageError::with_source(error.kind(), format!("cannot open {url}: {error}"), error)
    })
}

/// [`open`] for a server: the network storages that can (Redis, PostgreSQL)
/// connect on first use, so the proxy starts while they are down and goes
/// upstream until they are back (the layer's storage breaker skips them
/// meanwhile). A bad URL is still an error at once. MongoDB and DynamoDB
/// are reached when opened (indexes, the table's description): down at
/// start, they fail it.
///
/// # Errors
/// As [`open`], but never because a Redis or PostgreSQL server is
/// unreachable.
///
/// # Example
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// // Nothing listens on port 1: the storage opens all the same.
/// let storage = reqcache_cli::storage::open_lazily("redis://127.0.0.1:1").await?;
/// assert!(storage.len().await.is_err());
/// # Ok(()) }
/// ```
pub async fn open_lazily(spec: &str) -> Result<Arc<dyn Storage>, StorageError> {
    open_url(&spec.parse()?, true).await
}

/// An in-process L1 in front of the storage: [`TieredStorage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct L1 {
    /// Its bound, in bytes.
    pub max_bytes: u64,
    /// How long a copy is used at most while the bus is connected.
    pub ttl: Duration,
}

impl L1 {
    /// An L1 of `max_bytes`, copies used for at most `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        Self { max_bytes, ttl }
    }
}

/// Opens `url`'s storage with an [`L1`] in front: a [`TieredStorage`] whose
/// bus is the storage's own server for Redis (pub/sub, channel
/// `reqcache:invalidate:NAMESPACE`) and PostgreSQL (`NOTIFY`, channel
/// `TABLE_invalidate`); other storages have no bus, so their L1 copies last
/// one second. `lazy` as for [`open_lazily`].
///
/// # Errors
/// As [`open`].
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache_cli::storage::{L1, open_tiered};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqcache::StorageError> {
/// let dir = tempfile::tempdir().unwrap();
/// let url = format!("sqlite:{}", dir.path().join("c").display()).parse()?;
/// let storage = open_tiered(&url, false, L1::new(64 << 20, Duration::from_secs(60))).await?;
/// assert_eq!(storage.len().await?, 0);
/// # Ok(()) }
/// ```
pub async fn open_tiered(
    url: &StorageUrl,
    lazy: bool,
    l1: L1,
) -> Result<Arc<dyn Storage>, StorageError> {
    let (l2, bus) = open_with_bus(url, lazy).await?;
    let mut builder = TieredStorage::builder(l2)
        .l1(MemoryStorage::builder().max_size(l1.max_bytes).build())
        .l1_ttl(Some(l1.ttl));
    match bus {
        Some(bus) => builder = builder.bus(bus),
        None => tracing::warn!(storage = %url,
            "reqcache: no invalidation bus for this storage; L1 copies last one second"),
    }
    Ok(Arc::new(builder.build()))
}

/// Opens an existing storage (as [`open_existing`]) for a command that
/// changes what running proxies serve (`reqcache purge`): a storage with a
/// bus (Redis, PostgreSQL) is opened as a [`TieredStorage`] on that bus,
/// without an L1 of its own, so that every deletion and rewrite is
/// announced, and every running instance drops its L1 copies.
///
/// # Errors
/// As [`open_existing`].
pub async fn open_announcing(spec: &str) -> Result<Arc<dyn Storage>, StorageError> {
    let url: StorageUrl = spec.parse()?;
    let opened = match &url {
        StorageUrl::Memory { .. } | StorageUrl::Sqlite { .. } | StorageUrl::Files { .. } => {
            return open_existing(spec).await;
        }
        other => open_with_bus(other, false).await,
    };
    let (storage, bus) = opened.map_err(|error| {
        StorageError::with_source(error.kind(), format!("cannot open {url}: {error}"), error)
    })?;
    Ok(match bus {
        Some(bus) => Arc::new(
            TieredStorage::builder(storage)
                .l1(MemoryStorage::builder().max_entries(0).build())
                .bus(bus)
                .build(),
        ),
        None => storage,
    })
}

/// The storage, and the bus on its server when it has one.
async fn open_with_bus(
    url: &StorageUrl,
    lazy: bool,
) -> Result<(Arc<dyn Storage>, Option<Arc<dyn InvalidationBus>>), StorageError> {
    let _ = lazy; // unused when no network storage is compiled in
    match url {
        #[cfg(feature = "redis")]
        StorageUrl::Redis {
            url: server,
            namespace,
        } => {
            let storage = redis(RedisTarget::Server(server), namespace, lazy).await?;
            Ok((storage, Some(redis_bus(server, namespace)?)))
        }
        #[cfg(feature = "redis")]
        StorageUrl::RedisCluster { nodes, namespace } => {
            let storage = redis(RedisTarget::Cluster(nodes), namespace, lazy).await?;
            // Pub/sub messages reach every node of a cluster.
            let first = nodes.first().map_or("", String::as_str);
            Ok((storage, Some(redis_bus(first, namespace)?)))
        }
        #[cfg(feature = "postgres")]
        StorageUrl::Postgres {
            url: server,
            table,
            max_size,
        } => {
            let storage = open_postgres(server, table, *max_size, lazy).await?;
            let bus = reqcache_postgres::PostgresBus::new(storage.pool().clone())
                .channel(format!("{table}_invalidate"));
            Ok((Arc::new(storage), Some(Arc::new(bus))))
        }
        other => Ok((open_url(other, lazy).await?, None)),
    }
}

/// Opens `url`'s storage; `lazy`: without connecting, where the storage
/// can.
///
/// # Errors
/// As [`open`].
pub async fn open_url(url: &StorageUrl, lazy: bool) -> Result<Arc<dyn Storage>, StorageError> {
    let _ = lazy; // unused when no network storage is compiled in
    match url {
        StorageUrl::Memory { max_size } => {
            let mut builder = MemoryStorage::builder();
            if let Some(max_size) = max_size {
                builder = builder.max_size(max_size.bytes());
            }
            Ok(Arc::new(builder.build()))
        }
        StorageUrl::Sqlite { path, disk } => sqlite(path, disk).await,
        StorageUrl::Files { dir, disk } => files(dir, disk).await,
        StorageUrl::Redis { url, namespace } => {
            redis(RedisTarget::Server(url), namespace, lazy).await
        }
        StorageUrl::RedisCluster { nodes, namespace } => {
            redis(RedisTarget::Cluster(nodes), namespace, lazy).await
        }
        StorageUrl::Mongo {
            uri,
            database,
            gridfs,
            max_size,
        } => mongo(uri, database, *gridfs, *max_size).await,
        StorageUrl::DynamoDb {
            table,
            endpoint,
            region,
            create_table,
        } => dynamodb(table, endpoint.as_deref(), region.as_deref(), *create_table).await,
        StorageUrl::Postgres {
            url,
            table,
            max_size,
        } => postgres(url, table, *max_size, lazy).await,
    }
}

#[allow(dead_code)] // every storage compiled in: none is missing
fn missing(feature: &str) -> StorageError {
    StorageError::new(
        StorageErrorKind::Config,
        format!(
            "this reqcache was built without the `{feature}` feature: \
             cargo install reqcache-cli --features {feature}"
        ),
    )
}

#[cfg(feature = "sqlite")]
async fn sqlite(
    path: &std::path::Path,
    disk: &DiskSettings,
) -> Result<Arc<dyn Storage>, StorageError> {
    let mut builder = reqcache_sqlite::SqliteStorage::builder(path);
    if let Some(max_size) = disk.max_size {
        builder = builder.max_size(max_size.bytes());
    }
    if let Some(interval) = disk.sweep_interval {
        builder = builder.sweep_interval(Some(interval));
    }
    Ok(Arc::new(builder.open().await?))
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite(_: &std::path::Path, _: &DiskSettings) -> Result<Arc<dyn Storage>, StorageError> {
    Err(missing("sqlite"))
}

#[cfg(feature = "fs")]
async fn files(
    dir: &std::path::Path,
    disk: &DiskSettings,
) -> Result<Arc<dyn Storage>, StorageError> {
    let mut builder = reqcache_fs::FileStorage::builder(dir);
    if let Some(max_size) = disk.max_size {
        builder = builder.max_size(max_size.bytes());
    }
    if let Some(interval) = disk.sweep_interval {
        builder = builder.sweep_interval(Some(interval));
    }
    Ok(Arc::new(builder.open().await?))
}

#[cfg(not(feature = "fs"))]
async fn files(_: &std::path::Path, _: &DiskSettings) -> Result<Arc<dyn Storage>, StorageError> {
    Err(missing("fs"))
}

#[cfg_attr(not(feature = "redis"), allow(dead_code))]
enum RedisTarget<'a> {
    Server(&'a str),
    Cluster(&'a [String]),
}

#[cfg(feature = "redis")]
async fn redis(
    target: RedisTarget<'_>,
    namespace: &str,
    lazy: bool,
) -> Result<Arc<dyn Storage>, StorageError> {
    use reqcache_redis::RedisStorage;
    let builder = match target {
        RedisTarget::Server(url) => RedisStorage::builder(url),
        RedisTarget::Cluster(nodes) => RedisStorage::cluster(nodes.iter().map(String::as_str)),
    };
    Ok(Arc::new(
        builder.namespace(namespace).lazy(lazy).open().await?,
    ))
}

/// The bus of a Redis storage: pub/sub on its server, one channel per
/// namespace.
#[cfg(feature = "redis")]
fn redis_bus(server: &str, namespace: &str) -> Result<Arc<dyn InvalidationBus>, StorageError> {
    let bus =
        reqcache_redis::RedisBus::new(server)?.channel(format!("reqcache:invalidate:{namespace}"));
    Ok(Arc::new(bus))
}

#[cfg(not(feature = "redis"))]
async fn redis(_: RedisTarget<'_>, _: &str, _: bool) -> Result<Arc<dyn Storage>, StorageError> {
    Err(missing("redis"))
}

#[cfg(feature = "mongodb")]
async fn mongo(
    uri: &str,
    database: &str,
    gridfs: bool,
    max_size: Option<ByteSize>,
) -> Result<Arc<dyn Storage>, StorageError> {
    let mut builder = reqcache_mongodb::MongoStorage::builder(uri, database);
    if let Some(max_size) = max_size {
        builder = builder.max_size(max_size.bytes());
    }
    Ok(if gridfs {
        Arc::new(builder.open_gridfs().await?)
    } else {
        Arc::new(builder.open().await?)
    })
}

#[cfg(not(feature = "mongodb"))]
async fn mongo(
    _: &str,
    _: &str,
    _: bool,
    _: Option<ByteSize>,
) -> Result<Arc<dyn Storage>, StorageError> {
    Err(missing("mongodb"))
}

#[cfg(feature = "dynamodb")]
async fn dynamodb(
    table: &str,
    endpoint: Option<&str>,
    region: Option<&str>,
    create_table: bool,
) -> Result<Arc<dyn Storage>, StorageError> {
    use reqcache_dynamodb::DynamoDbStorage;
    let builder = match endpoint {
        // A server of your own: static credentials unless the environment
        // has some.
        Some(endpoint) => DynamoDbStorage::endpoint(endpoint, region.unwrap_or("us-east-1"), table),
        None => {
            let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
            if let Some(region) = region {
                loader = loader.region(aws_config::Region::new(region.to_owned()));
            }
            DynamoDbStorage::builder(&loader.load().await, table)
        }
    };
    Ok(Arc::new(builder.create_table(create_table).open().await?))
}

#[cfg(not(feature = "dynamodb"))]
async fn dynamodb(
    _: &str,
    _: Option<&str>,
    _: Option<&str>,
    _: bool,
) -> Result<Arc<dyn Storage>, StorageError> {
    Err(missing("dynamodb"))
}

#[cfg(feature = "postgres")]
async fn postgres(
    url: &str,
    table: &str,
    max_size: Option<ByteSize>,
    lazy: bool,
) -> Result<Arc<dyn Storage>, StorageError> {
    Ok(Arc::new(open_postgres(url, table, max_size, lazy).await?))
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &str,
    table: &str,
    max_size: Option<ByteSize>,
    lazy: bool,
) -> Result<reqcache_postgres::PostgresStorage, StorageError> {
    let mut builder = reqcache_postgres::PostgresStorage::builder(url).table(table);
    if let Some(max_size) = max_size {
        builder = builder.max_size(max_size.bytes());
    }
    if lazy {
        builder.open_lazily().await
    } else {
        builder.open().await
    }
}

#[cfg(not(feature = "postgres"))]
async fn postgres(
    _: &str,
    _: &str,
    _: Option<ByteSize>,
    _: bool,
) -> Result<Arc<dyn Storage>, StorageError> {
    Err(missing("postgres"))
}
