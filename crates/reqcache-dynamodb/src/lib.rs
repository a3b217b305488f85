//! # reqcache-dynamodb
//!
//! [`DynamoDbStorage`]: a [reqcache](https://docs.rs/reqcache) storage in an
//! Amazon DynamoDB table, on `aws-sdk-dynamodb`.
//!
//! ```no_run
//! use reqcache::CacheLayer;
//! use reqcache_dynamodb::DynamoDbStorage;
//!
//! # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
//! // From the environment's AWS configuration; `cache_name` is the table.
//! let sdk_config = aws_config::load_from_env().await;
//! let storage = DynamoDbStorage::builder(&sdk_config, "http_cache")
//!     .create_table(true)
//!     .open()
//!     .await?;
//! let layer = CacheLayer::new(storage);
//! # Ok(()) }
//! ```
//!
//! # Items
//! One item per entry, keyed by the cache key (`key`, a string). Beside the
//! encoded entry (`value`, binary) each item holds its metadata — `method`,
//! `url`, `status`, `size`, and times in nanoseconds (`created_ns`,
//! `expires_ns`, `retain_ns`), and `kind` on an alias or a vary index
//! (1 or 2; `len` counts the items without it) — so listing, counting and `remove_expired`
//! scan metadata only (paginated, projected: never the values), and a `ttl`
//! attribute in epoch seconds for DynamoDB's TTL: the
//! entry's retention limit
//! ([`stale_retention`](reqcache::CacheLayerBuilder::stale_retention)), else
//! its expiry plus
//! [`DEFAULT_NATIVE_RETENTION`](reqcache::storage::backend::DEFAULT_NATIVE_RETENTION)
//! (one hour), so revalidation and `stale_if_error` still find it. DynamoDB deletes expired
//! items lazily (sometimes days later), so reads filter them too.
//!
//! # The URL index
//! `delete_url`, which the layer calls to invalidate a URL after a successful
//! `POST`, `PUT`, `PATCH` or `DELETE`, queries a global secondary index on
//! `url` ([`URL_INDEX`], keys only) instead of scanning the table.
//! [`create_table(true)`](DynamoDbStorageBuilder::create_table) makes the
//! table with it, and asks DynamoDB to add it to an existing table that lacks
//! it (DynamoDB builds it in the background). Until the index is active when
//! a storage is opened ([`has_url_index`](DynamoDbStorage::has_url_index)),
//! `delete_url` scans, as it did before. Index reads are eventually
//! consistent: an entry stored a moment before an invalidation may survive
//! it (it still expires as usual).
//!
//! # The group index
//! A response in cache groups (RFC 9875 `Cache-Groups`) keeps them in a
//! string set, `groups`, and has one small membership item per group (key
//! `"\0g:<hash of the group>:<key>"`, attribute `grp`), written before
//! the record and given its TTL. Group lookups and purges query a global
//! secondary index on `grp` ([`GROUP_INDEX`], keys only) and confirm each
//! member against its record, so a purge costs the size of the group.
//! Listings and counts leave membership items out. A table made without
//! the index gets it as the URL index does (one index is added per open:
//! DynamoDB builds one at a time); until it is active
//! ([`has_group_index`](DynamoDbStorage::has_group_index)), group lookups
//! scan. A membership item that outlives its record's groups (the record
//! was rewritten without the group, or removed by URL or expiry) is
//! ignored by lookups and goes with its TTL.
//!
//! # The 400 KB item limit
//! An entry whose item would exceed DynamoDB's 400 KB is not stored: `put`
//! refuses it with [`StorageErrorKind::TooLarge`](reqcache::storage::StorageErrorKind),
//! which the layer logs (at `debug`) and counts
//! ([`CacheStats::writes_refused`](reqcache::handle::CacheStats), not a storage
//! failure: it never opens the breaker), answering from upstream as usual.
//! DynamoDB keeps no bodies in chunks; large responses want another
//! storage (or `max_body_size` below the limit).
//!
//! # Failures
//! Throttling and transient errors are retried by the SDK's standard retry
//! strategy ([`max_attempts`](DynamoDbStorageBuilder::max_attempts)); a
//! persistent failure is an error the layer turns into a miss or a skipped
//! write. Batch deletes send at most 25 items a request and retry the items
//! DynamoDB leaves unprocessed. A value that does not decode is deleted and
//! read as a miss.

mod item;
mod storage;

pub use storage::{DynamoDbStorage, DynamoDbStorageBuilder, GROUP_INDEX, MAX_ITEM_SIZE, URL_INDEX};

/// Re-exported so users can name [`StorageError`] without depending on
/// `reqcache` directly.
pub use reqcache::StorageError;
