//! [`StorageUrl`]: which storage a command-line string names, parsed before
//! anything is opened.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use reqcache::StorageError;
use reqcache::storage::StorageErrorKind;

use crate::byte_size::ByteSize;

/// The Redis namespace when the URL names none.
pub const DEFAULT_REDIS_NAMESPACE: &str = "reqcache";

/// The MongoDB database and the PostgreSQL table when the URL names none:
/// requests-cache's default `cache_name`.
pub const DEFAULT_CACHE_NAME: &str = "http_cache";

/// A storage named on the command line:
///
/// | string | storage | cargo feature |
/// |---|---|---|
/// | `memory[?max_size=SIZE]` | `MemoryStorage` (bound 256 MiB) | — |
/// | `sqlite:PATH[?max_size=SIZE&sweep=SECS]` | `SqliteStorage` at `PATH` (`~`, relative, `.sqlite` added; bound 1 GiB) | `sqlite` |
/// | `fs:DIR[?max_size=SIZE&sweep=SECS]` | `FileStorage` in `DIR` (bound 1 GiB) | `fs` |
/// | `redis://HOST[:PORT][/DB][#NAMESPACE]`, `rediss://…` | `RedisStorage` (namespace `reqcache`) | `redis` |
/// | `redis+cluster://HOST:PORT,HOST:PORT[#NAMESPACE]`, `rediss+cluster://…` | `RedisStorage` on a cluster | `redis` |
/// | `mongodb://…[?max_size=SIZE][#DATABASE]`, `mongodb+srv://…` | `MongoStorage` (database `http_cache`; bound 1 GiB) | `mongodb` |
/// | `gridfs:mongodb://…[#DATABASE]` | `GridFsStorage` (bound 1 GiB) | `mongodb` |
/// | `dynamodb://TABLE[?endpoint=URL&region=REGION&create=true]` | `DynamoDbStorage`; AWS settings from the environment without `endpoint` | `dynamodb` |
/// | `postgres://…[?max_size=SIZE][#TABLE]`, `postgresql://…` | `PostgresStorage` (table `http_cache`; bound 1 GiB) | `postgres` |
///
/// `max_size` is the storage's size bound, with a unit (`512MiB`,
/// `10GiB`: [`ByteSize`]); `sweep` the seconds between two sweeps of
/// what is past retention (`0`: none). Credentials stay in the URL they came in; [`Display`](fmt::Display)
/// writes the URL without its password, for logs and `--print-config`.
///
/// # Example
/// ```
/// use reqcache_cli::storage_url::StorageUrl;
///
/// let url: StorageUrl = "redis+cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7000#api".parse()?;
/// assert_eq!(url.to_string(), "redis+cluster://:***@10.0.0.1:7000,10.0.0.2:7000#api");
/// assert!("floppy:a".parse::<StorageUrl>().is_err());
/// # Ok::<(), reqcache::StorageError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageUrl {
    /// `memory`.
    Memory {
        /// `?max_size=`: the bound; `None`, the storage's default.
        max_size: Option<ByteSize>,
    },
    /// `sqlite:PATH`.
    Sqlite {
        /// The database's path, as given.
        path: PathBuf,
        /// `?max_size=` and `?sweep=`.
        disk: DiskSettings,
    },
    /// `fs:DIR`.
    Files {
        /// The folder, as given.
        dir: PathBuf,
        /// `?max_size=` and `?sweep=`.
        disk: DiskSettings,
    },
    /// `redis://…`: one server.
    Redis {
        /// The server's URL, fragment removed.
        url: String,
        /// The key namespace.
        namespace: String,
    },
    /// `redis+cluster://…`: a cluster's seed nodes.
    RedisCluster {
        /// One `redis://` (or `rediss://`) URL per seed node.
        nodes: Vec<String>,
        /// The key namespace.
        namespace: String,
    },
    /// `mongodb://…`, or `gridfs:mongodb://…`.
    Mongo {
        /// The connection string, fragment and `max_size` removed.
        uri: String,
        /// The database (requests-cache's `cache_name`).
        database: String,
        /// Values in GridFS.
        gridfs: bool,
        /// `?max_size=`: the bound; `None`, the storage's default.
        max_size: Option<ByteSize>,
    },
    /// `dynamodb://TABLE?…`.
    DynamoDb {
        /// The table.
        table: String,
        /// A server of your own (DynamoDB Local, moto); `None`: AWS, as the
        /// environment configures it.
        endpoint: Option<String>,
        /// The region; `None`: from the environment (or `us-east-1` with an
        /// endpoint).
        region: Option<String>,
        /// Create the table when missing.
        create_table: bool,
    },
    /// `postgres://…`.
    Postgres {
        /// The server's URL, fragment and `max_size` removed.
        url: String,
        /// The table.
        table: String,
        /// `?max_size=`: the bound; `None`, the storage's default.
        max_size: Option<ByteSize>,
    },
}

/// The settings in the query of a disk storage's URL
/// (`sqlite:PATH?max_size=16MiB&sweep=60`); `None`: the storage's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskSettings {
    /// `max_size`: the size bound.
    pub max_size: Option<ByteSize>,
    /// `sweep`: how often what is past retention is deleted; zero: never.
    pub sweep_interval: Option<Duration>,
}

impl DiskSettings {
    /// Parses a query; `form` names the URL's form in errors.
    fn parse(query: &str, form: &str) -> Result<Self, StorageError> {
        let mut settings = Self::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "max_size" => settings.max_size = Some(size(&value, form)?),
                "sweep" => {
                    let secs = value
                        .parse::<u64>()
                        .map_err(|_| config(format!("{form}?sweep= takes seconds (0: never)")))?;
                    settings.sweep_interval = Some(Duration::from_secs(secs));
                }
                other => {
                    return Err(config(format!(
                        "{form}: unknown parameter {other:?} (max_size, sweep)"
                    )));
                }
            }
        }
        Ok(settings)
    }

    fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(max_size) = self.max_size {
            query.append_pair("max_size", &max_size.to_string());
        }
        if let Some(interval) = self.sweep_interval {
            query.append_pair("sweep", &interval.as_secs().to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            query
        } else {
            format!("?{query}")
        }
    }
}

fn size(value: &str, form: &str) -> Result<ByteSize, StorageError> {
    value
        .parse()
        .map_err(|error| config(format!("{form}?max_size=: {error}")))
}

/// Takes reqcache's `max_size` out of a server URL's query, leaving the
/// driver's parameters (`sslmode`, ...) as they were.
fn take_max_size(url: &str, form: &str) -> Result<(String, Option<ByteSize>), StorageError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut max_size = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("max_size", value)) => max_size = Some(size(value, form)?),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, max_size))
}

/// `url` with `max_size=` added to its query, when there is a bound.
fn with_max_size(url: String, max_size: Option<ByteSize>) -> String {
    match max_size {
        Some(max_size) => {
            let joint = if url.contains('?') { '&' } else { '?' };
            format!("{url}{joint}max_size={max_size}")
        }
        None => url,
    }
}

/// Splits a path from its query at the last `?`.
fn path_and_query(rest: &str) -> (&str, &str) {
    rest.rsplit_once('?').unwrap_or((rest, ""))
}

impl StorageUrl {
    /// `true` for the disk and database storages that keep large bodies
    /// in chunks, written and read back a chunk at a time (SQLite, files,
    /// PostgreSQL, MongoDB and GridFS; Redis keeps chunks too, in the
    /// server's memory).
    pub fn keeps_chunks(&self) -> bool {
        matches!(
            self,
            Self::Sqlite { .. } | Self::Files { .. } | Self::Postgres { .. } | Self::Mongo { .. }
        )
    }

    /// The size bound the URL sets, if it sets one.
    pub fn max_size(&self) -> Option<ByteSize> {
        match self {
            Self::Memory { max_size } => *max_size,
            Self::Sqlite { disk, .. } | Self::Files { disk, .. } => disk.max_size,
            Self::Postgres { max_size, .. } | Self::Mongo { max_size, .. } => *max_size,
            _ => None,
        }
    }

    /// The size bound the storage keeps: the URL's, else the storage's
    /// default; `None` for the storages bounded by their server (Redis's
    /// `maxmemory`, DynamoDB's TTL) or not yet bounded by reqcache
    /// (PostgreSQL, MongoDB).
    pub fn effective_max_size(&self) -> Option<ByteSize> {
        self.max_size().or(match self {
            Self::Memory { .. } => Some(ByteSize::new(reqcache::storage::memory::DEFAULT_MAX_SIZE)),
            Self::Sqlite { .. }
            | Self::Files { .. }
            | Self::Postgres { .. }
            | Self::Mongo { .. } => {
                Some(ByteSize::new(reqcache::storage::backend::DEFAULT_MAX_SIZE))
            }
            _ => None,
        })
    }

    /// The URL with its size bound set to `max_size` (the proxy's
    /// `--max-size`).
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] when the URL sets another bound, or
    /// names a storage that reqcache does not bound (Redis: the server's
    /// `maxmemory`; DynamoDB: TTL).
    ///
    /// # Example
    /// ```
    /// use reqcache_cli::storage_url::StorageUrl;
    ///
    /// let url: StorageUrl = "sqlite:/var/cache/c".parse()?;
    /// let bounded = url.with_max_size("16MiB".parse().unwrap())?;
    /// assert_eq!(bounded.to_string(), "sqlite:/var/cache/c?max_size=16MiB");
    /// assert!("redis://h".parse::<StorageUrl>()?.with_max_size("1GiB".parse().unwrap()).is_err());
    /// # Ok::<(), reqcache::StorageError>(())
    /// ```
    pub fn with_max_size(mut self, max_size: ByteSize) -> Result<Self, StorageError> {
        if let Some(given) = self.max_size().filter(|given| *given != max_size) {
            return Err(config(format!(
                "two size bounds: {given} in the storage URL and {max_size} from --max-size"
            )));
        }
        match &mut self {
            Self::Memory { max_size: bound }
            | Self::Sqlite {
                disk: DiskSettings {
                    max_size: bound, ..
                },
                ..
            }
            | Self::Files {
                disk: DiskSettings {
                    max_size: bound, ..
                },
                ..
            }
            | Self::Postgres {
                max_size: bound, ..
            }
            | Self::Mongo {
                max_size: bound, ..
            } => *bound = Some(max_size),
            Self::Redis { .. } | Self::RedisCluster { .. } => {
                return Err(config(
                    "a Redis storage is bounded by its server: set maxmemory with a volatile-* \
                     policy (every key has a TTL), not --max-size",
                ));
            }
            Self::DynamoDb { .. } => {
                return Err(config("a DynamoDB table is bounded by TTL, not --max-size"));
            }
        }
        Ok(self)
    }
}

impl fmt::Debug for StorageUrl {
    /// As [`Display`](fmt::Display): never with a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageUrl({self})")
    }
}

fn config(message: impl Into<String>) -> StorageError {
    StorageError::new(StorageErrorKind::Config, message)
}

/// Splits `rest` at its last `#`: the URL, and the name after it (or
/// `default` when there is none or it is empty).
fn name_after_hash<'a>(rest: &'a str, default: &str) -> (&'a str, String) {
    match rest.rsplit_once('#') {
        Some((url, name)) if !name.is_empty() => (url, name.to_owned()),
        Some((url, _)) => (url, default.to_owned()),
        None => (rest, default.to_owned()),
    }
}

impl FromStr for StorageUrl {
    type Err = StorageError;

    /// Parses a storage string; an unknown one is a
    /// [`Config`](StorageErrorKind::Config) error that lists the forms (and
    /// never repeats the string, which may hold a password).
    fn from_str(spec: &str) -> Result<Self, StorageError> {
        let spec = spec.trim();
        if spec == "memory" {
            return Ok(Self::Memory { max_size: None });
        }
        if let Some(query) = spec.strip_prefix("memory?") {
            let mut max_size = None;
            for (name, value) in form_urlencoded::parse(query.as_bytes()) {
                match &*name {
                    "max_size" => max_size = Some(size(&value, "memory")?),
                    other => {
                        return Err(config(format!(
                            "memory: unknown parameter {other:?} (max_size)"
                        )));
                    }
                }
            }
            return Ok(Self::Memory { max_size });
        }
        if let Some(rest) = spec.strip_prefix("sqlite:") {
            let (path, query) = path_and_query(rest);
            let path = non_empty(path, "sqlite:PATH")?;
            return Ok(Self::Sqlite {
                path: path.into(),
                disk: DiskSettings::parse(query, "sqlite:PATH")?,
            });
        }
        if let Some(rest) = spec
            .strip_prefix("fs:")
            .or_else(|| spec.strip_prefix("filesystem:"))
        {
            let (dir, query) = path_and_query(rest);
            let dir = non_empty(dir, "fs:DIR")?;
            return Ok(Self::Files {
                dir: dir.into(),
                disk: DiskSettings::parse(query, "fs:DIR")?,
            });
        }
        for (scheme, tls) in [("redis+cluster://", false), ("rediss+cluster://", true)] {
            if let Some(rest) = spec.strip_prefix(scheme) {
                return redis_cluster(rest, tls);
            }
        }
        if spec.starts_with("redis://") || spec.starts_with("rediss://") {
            let (url, namespace) = name_after_hash(spec, DEFAULT_REDIS_NAMESPACE);
            return Ok(Self::Redis {
                url: url.to_owned(),
                namespace,
            });
        }
        let (mongo, gridfs) = match spec.strip_prefix("gridfs:") {
            Some(rest) => (rest, true),
            None => (spec, false),
        };
        if mongo.starts_with("mongodb://") || mongo.starts_with("mongodb+srv://") {
            let (uri, database) = name_after_hash(mongo, DEFAULT_CACHE_NAME);
            let (uri, max_size) = take_max_size(uri, "mongodb://")?;
            return Ok(Self::Mongo {
                uri,
                database,
                gridfs,
                max_size,
            });
        }
        if let Some(rest) = spec.strip_prefix("dynamodb://") {
            return dynamodb(rest);
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            let (url, table) = name_after_hash(spec, DEFAULT_CACHE_NAME);
            let (url, max_size) = take_max_size(url, "postgres://")?;
            return Ok(Self::Postgres {
                url,
                table,
                max_size,
            });
        }
        // Only the scheme is repeated: the rest may be a password.
        let scheme = spec
            .split_once("://")
            .map(|(scheme, _)| scheme)
            .or_else(|| spec.split_once(':').map(|(scheme, _)| scheme))
            .unwrap_or(spec);
        Err(config(format!(
            "unknown storage {scheme:?}: use memory, sqlite:PATH, fs:DIR, redis://HOST[:PORT][#NAMESPACE], \
             redis+cluster://HOST:PORT,HOST:PORT[#NAMESPACE], mongodb://HOST[#DATABASE], \
             gridfs:mongodb://HOST[#DATABASE], dynamodb://TABLE[?endpoint=URL&region=REGION&create=true] \
             or postgres://USER@HOST/DB[#TABLE]"
        )))
    }
}

fn non_empty<'a>(value: &'a str, form: &str) -> Result<&'a str, StorageError> {
    if value.is_empty() {
        Err(config(format!("{form}: the path is empty")))
    } else {
        Ok(value)
    }
}

fn redis_cluster(rest: &str, tls: bool) -> Result<StorageUrl, StorageError> {
    let (hosts, namespace) = name_after_hash(rest, DEFAULT_REDIS_NAMESPACE);
    let hosts = hosts.trim_end_matches('/');
    // Credentials, if any, come once before the host list and apply to
    // every node.
    let (userinfo, hosts) = match hosts.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), hosts),
    };
    let scheme = if tls { "rediss" } else { "redis" };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .map(|host| format!("{scheme}://{userinfo}{host}"))
        .collect();
    if nodes.is_empty() {
        return Err(config(
            "redis+cluster:// names no node: redis+cluster://HOST:PORT,HOST:PORT[#NAMESPACE]",
        ));
    }
    Ok(StorageUrl::RedisCluster { nodes, namespace })
}

fn dynamodb(rest: &str) -> Result<StorageUrl, StorageError> {
    let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
    let table = table.trim_end_matches('/');
    if table.is_empty() {
        return Err(config(
            "dynamodb:// names no table: dynamodb://TABLE[?endpoint=URL&region=REGION&create=true]",
        ));
    }
    let (mut endpoint, mut region, mut create_table) = (None, None, false);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "endpoint" => endpoint = Some(value.into_owned()),
            "region" => region = Some(value.into_owned()),
            "create" | "create_table" => {
                create_table = match &*value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    _ => return Err(config("dynamodb://…?create= takes true or false")),
                }
            }
            other => {
                return Err(config(format!(
                    "dynamodb://: unknown parameter {other:?} (endpoint, region, create)"
                )));
            }
        }
    }
    Ok(StorageUrl::DynamoDb {
        table: table.to_owned(),
        endpoint,
        region,
        create_table,
    })
}

/// `url` with the password of its userinfo (between `:` and `@` after the
/// scheme) replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{hosts}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl fmt::Display for StorageUrl {
    /// The storage string, password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory { max_size: None } => f.write_str("memory"),
            Self::Memory {
                max_size: Some(max_size),
            } => write!(f, "memory?max_size={max_size}"),
            Self::Sqlite { path, disk } => write!(f, "sqlite:{}{}", path.display(), disk.query()),
            Self::Files { dir, disk } => write!(f, "fs:{}{}", dir.display(), disk.query()),
            Self::Redis { url, namespace } => {
                write!(f, "{}#{namespace}", without_password(url))
            }
            Self::RedisCluster { nodes, namespace } => {
                let tls = nodes.first().is_some_and(|n| n.starts_with("rediss://"));
                let mut userinfo = "";
                let hosts: Vec<&str> = nodes
                    .iter()
                    .map(|node| {
                        let rest = node.split_once("://").map_or(node.as_str(), |(_, r)| r);
                        match rest.rsplit_once('@') {
                            Some((info, host)) => {
                                userinfo = info;
                                host
                            }
                            None => rest,
                        }
                    })
                    .collect();
                let scheme = if tls {
                    "rediss+cluster"
                } else {
                    "redis+cluster"
                };
                let credentials = match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@"),
                    None if userinfo.is_empty() => String::new(),
                    None => format!("{userinfo}@"),
                };
                write!(f, "{scheme}://{credentials}{}#{namespace}", hosts.join(","))
            }
            Self::Mongo {
                uri,
                database,
                gridfs,
                max_size,
            } => {
                let prefix = if *gridfs { "gridfs:" } else { "" };
                let uri = with_max_size(without_password(uri), *max_size);
                write!(f, "{prefix}{uri}#{database}")
            }
            Self::DynamoDb {
                table,
                endpoint,
                region,
                create_table,
            } => {
                write!(f, "dynamodb://{table}")?;
                let mut query = form_urlencoded::Serializer::new(String::new());
                if let Some(endpoint) = endpoint {
                    query.append_pair("endpoint", endpoint);
                }
                if let Some(region) = region {
                    query.append_pair("region", region);
                }
                if *create_table {
                    query.append_pair("create", "true");
                }
                let query = query.finish();
                if query.is_empty() {
                    Ok(())
                } else {
                    write!(f, "?{query}")
                }
            }
            Self::Postgres {
                url,
                table,
                max_size,
            } => {
                let url = with_max_size(without_password(url), *max_size);
                write!(f, "{url}#{table}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> StorageUrl {
        spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"))
    }

    #[test]
    fn every_form() {
        let cases: &[(&str, StorageUrl, &str)] = &[
            ("memory", StorageUrl::Memory { max_size: None }, "memory"),
            (
                "memory?max_size=64m",
                StorageUrl::Memory {
                    max_size: Some(ByteSize::new(64 << 20)),
                },
                "memory?max_size=64MiB",
            ),
            (
                "sqlite:~/c",
                StorageUrl::Sqlite {
                    path: "~/c".into(),
                    disk: DiskSettings::default(),
                },
                "sqlite:~/c",
            ),
            (
                "sqlite:/var/c?max_size=16MiB&sweep=60",
                StorageUrl::Sqlite {
                    path: "/var/c".into(),
                    disk: DiskSettings {
                        max_size: Some(ByteSize::new(16 << 20)),
                        sweep_interval: Some(Duration::from_secs(60)),
                    },
                },
                "sqlite:/var/c?max_size=16MiB&sweep=60",
            ),
            (
                "fs:/tmp/c",
                StorageUrl::Files {
                    dir: "/tmp/c".into(),
                    disk: DiskSettings::default(),
                },
                "fs:/tmp/c",
            ),
            (
                "filesystem:c?max_size=1GiB",
                StorageUrl::Files {
                    dir: "c".into(),
                    disk: DiskSettings {
                        max_size: Some(ByteSize::new(1 << 30)),
                        sweep_interval: None,
                    },
                },
                "fs:c?max_size=1GiB",
            ),
            (
                "redis://:pw@127.0.0.1:6379/2#api",
                StorageUrl::Redis {
                    url: "redis://:pw@127.0.0.1:6379/2".into(),
                    namespace: "api".into(),
                },
                "redis://:***@127.0.0.1:6379/2#api",
            ),
            (
                "rediss://h",
                StorageUrl::Redis {
                    url: "rediss://h".into(),
                    namespace: "reqcache".into(),
                },
                "rediss://h#reqcache",
            ),
            (
                "redis+cluster://a:1, b:2/",
                StorageUrl::RedisCluster {
                    nodes: vec!["redis://a:1".into(), "redis://b:2".into()],
                    namespace: "reqcache".into(),
                },
                "redis+cluster://a:1,b:2#reqcache",
            ),
            (
                "rediss+cluster://u:pw@a:1,b:2#n",
                StorageUrl::RedisCluster {
                    nodes: vec!["rediss://u:pw@a:1".into(), "rediss://u:pw@b:2".into()],
                    namespace: "n".into(),
                },
                "rediss+cluster://u:***@a:1,b:2#n",
            ),
            (
                "mongodb://u:pw@h:27017/?retryWrites=false#db",
                StorageUrl::Mongo {
                    uri: "mongodb://u:pw@h:27017/?retryWrites=false".into(),
                    database: "db".into(),
                    gridfs: false,
                    max_size: None,
                },
                "mongodb://u:***@h:27017/?retryWrites=false#db",
            ),
            (
                "gridfs:mongodb+srv://h",
                StorageUrl::Mongo {
                    uri: "mongodb+srv://h".into(),
                    database: "http_cache".into(),
                    gridfs: true,
                    max_size: None,
                },
                "gridfs:mongodb+srv://h#http_cache",
            ),
            (
                "mongodb://h/?retryWrites=false&max_size=512m#db",
                StorageUrl::Mongo {
                    uri: "mongodb://h/?retryWrites=false".into(),
                    database: "db".into(),
                    gridfs: false,
                    max_size: Some(ByteSize::new(512 << 20)),
                },
                "mongodb://h/?retryWrites=false&max_size=512MiB#db",
            ),
            (
                "dynamodb://t?endpoint=http%3A%2F%2F127.0.0.1%3A8000&region=eu-west-1&create=true",
                StorageUrl::DynamoDb {
                    table: "t".into(),
                    endpoint: Some("http://127.0.0.1:8000".into()),
                    region: Some("eu-west-1".into()),
                    create_table: true,
                },
                "dynamodb://t?endpoint=http%3A%2F%2F127.0.0.1%3A8000&region=eu-west-1&create=true",
            ),
            (
                "dynamodb://t",
                StorageUrl::DynamoDb {
                    table: "t".into(),
                    endpoint: None,
                    region: None,
                    create_table: false,
                },
                "dynamodb://t",
            ),
            (
                "postgres://cache:pw@db/app#api_cache",
                StorageUrl::Postgres {
                    url: "postgres://cache:pw@db/app".into(),
                    table: "api_cache".into(),
                    max_size: None,
                },
                "postgres://cache:***@db/app#api_cache",
            ),
            (
                "postgresql://db/app",
                StorageUrl::Postgres {
                    url: "postgresql://db/app".into(),
                    table: "http_cache".into(),
                    max_size: None,
                },
                "postgresql://db/app#http_cache",
            ),
            (
                "postgres://db/app?sslmode=require&max_size=2GiB#t",
                StorageUrl::Postgres {
                    url: "postgres://db/app?sslmode=require".into(),
                    table: "t".into(),
                    max_size: Some(ByteSize::new(2 << 30)),
                },
                "postgres://db/app?sslmode=require&max_size=2GiB#t",
            ),
        ];
        for (spec, expected, shown) in cases {
            let url = parse(spec);
            assert_eq!(&url, expected, "{spec}");
            assert_eq!(url.to_string(), *shown, "{spec}");
            // What Display writes parses back (passwords aside).
            if !spec.contains("pw") {
                assert_eq!(&parse(shown), expected, "{shown}");
            }
        }
    }

    #[test]
    fn bad_forms_are_config_errors_that_never_repeat_a_password() {
        for spec in [
            "",
            "floppy:a",
            "postgress://u:hunter2@db/app",
            "sqlite:",
            "fs:",
            "redis+cluster://",
            "redis+cluster://u:hunter2@",
            "dynamodb://",
            "dynamodb://t?create=maybe",
            "dynamodb://t?secret=hunter2",
            "sqlite:c?max_size=lots",
            "sqlite:c?sweep=-1",
            "fs:c?password=hunter2",
            "memory?max_entries=3",
        ] {
            let error = spec.parse::<StorageUrl>().unwrap_err();
            assert_eq!(error.kind(), StorageErrorKind::Config, "{spec}");
            assert!(!error.to_string().contains("hunter2"), "{spec}: {error}");
        }
        let error = "postgress://u:hunter2@db"
            .parse::<StorageUrl>()
            .unwrap_err();
        assert!(error.to_string().contains("\"postgress\""), "{error}");
    }
}
