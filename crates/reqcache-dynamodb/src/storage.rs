//! [`DynamoDbStorage`] and its builder.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteRequest, GlobalSecondaryIndex, GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, PutRequest, ScalarAttributeType,
    Select, TableStatus, TimeToLiveSpecification, WriteRequest,
};
use reqcache::storage::backend::{ByteStore, Record};
use reqcache::storage::{EntryInfo, StorageError, StorageErrorKind};

use crate::item::{self, GROUP, KEY, METADATA, URL};

/// DynamoDB's limit on the size of one item.
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// Items per `BatchWriteItem`: DynamoDB's limit.
const BATCH: usize = 25;

/// The global secondary index on `url` (keys only) that `delete_url` queries.
pub const URL_INDEX: &str = "url-index";

/// The global secondary index on the membership items' `grp` (keys only)
/// that group lookups and purges query. A record in groups has, besides
/// its own item, one small item per group (key `"\0g:<group hash>:<key>"`,
/// written before the record, dropped by TTL with it); listings and counts
/// leave them out.
pub const GROUP_INDEX: &str = "group-index";

/// Keys per `BatchGetItem`: DynamoDB's limit.
const GET_BATCH: usize = 100;

/// A [`Storage`](reqcache::storage::Storage) in a DynamoDB table: a
/// [`ByteStore`] with native expiry (the `ttl` attribute), encoded by
/// reqcache's adapter (plain MessagePack, or any codec through
/// [`Encoded`](reqcache::storage::Encoded)). Cheap to clone.
#[derive(Clone)]
pub struct DynamoDbStorage {
    client: Client,
    table: Arc<str>,
    consistent_reads: bool,
    url_index: bool,
    group_index: bool,
}

impl fmt::Debug for DynamoDbStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoDbStorage")
            .field("table", &self.table)
            .field("consistent_reads", &self.consistent_reads)
            .field("url_index", &self.url_index)
            .finish_non_exhaustive()
    }
}

/// Builds a [`DynamoDbStorage`].
///
/// # Example: DynamoDB Local, moto, or another compatible server
/// ```no_run
/// use reqcache_dynamodb::DynamoDbStorage;
///
/// # #[tokio::main] async fn main() -> Result<(), reqcache::StorageError> {
/// let storage = DynamoDbStorage::endpoint("http://127.0.0.1:8000", "us-east-1", "http_cache")
///     .create_table(true)
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct DynamoDbStorageBuilder {
    config: aws_sdk_dynamodb::config::Builder,
    table: String,
    consistent_reads: bool,
    create_table: bool,
}

impl DynamoDbStorage {
    /// A builder from an SDK configuration (`aws_config::load_from_env()`);
    /// `table` is requests-cache's `cache_name`.
    pub fn builder(
        sdk_config: &aws_config::SdkConfig,
        table: impl Into<String>,
    ) -> DynamoDbStorageBuilder {
        DynamoDbStorageBuilder::new(aws_sdk_dynamodb::config::Builder::from(sdk_config), table)
    }

    /// A builder over an existing client's configuration.
    pub fn from_client(client: &Client, table: impl Into<String>) -> DynamoDbStorageBuilder {
        DynamoDbStorageBuilder::new(client.config().to_builder(), table)
    }

    /// A builder for a server at `endpoint_url` (DynamoDB Local, moto, ...) in
    /// `region`, with static dummy credentials, such servers' usual setup;
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` replace them when set.
    pub fn endpoint(
        endpoint_url: &str,
        region: &str,
        table: impl Into<String>,
    ) -> DynamoDbStorageBuilder {
        let credentials = Credentials::new(
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "reqcache".into()),
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "reqcache".into()),
            None,
            None,
            "reqcache-endpoint",
        );
        let config = aws_sdk_dynamodb::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials);
        DynamoDbStorageBuilder::new(config, table)
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether `delete_url` (and so invalidation by unsafe methods) queries
    /// the [`URL_INDEX`] global secondary index, found active when the
    /// storage was opened, rather than scanning the table.
    pub fn has_url_index(&self) -> bool {
        self.url_index
    }

    /// Whether group lookups and purges query the [`GROUP_INDEX`], found
    /// active when the storage was opened, rather than scanning the table.
    pub fn has_group_index(&self) -> bool {
        self.group_index
    }

    /// Which of `keys` are records in `group` now: their items are read
    /// (key and groups only), 100 at a time. A membership item can outlive
    /// its record's groups (the record rewritten, or removed by a path that
    /// did not know its groups); such ones are left to their TTL.
    async fn confirmed_members(
        &self,
        group: &str,
        keys: Vec<String>,
    ) -> Result<Vec<String>, StorageError> {
        let mut members = Vec::new();
        for batch in keys.chunks(GET_BATCH) {
            let mut wanted = KeysAndAttributes::builder()
                .projection_expression("#k, #g")
                .expression_attribute_names("#k", KEY)
                .expression_attribute_names("#g", item::GROUPS)
                .consistent_read(self.consistent_reads);
            for key in batch {
                wanted = wanted.keys(HashMap::from([(
                    KEY.to_owned(),
                    AttributeValue::S(key.clone()),
                )]));
            }
            let mut pending = Some(wanted.build().map_err(config_error)?);
            let mut retries = Retries::default();
            while let Some(request) = pending.take() {
                let mut output = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, request)
                    .send()
                    .await
                    .map_err(backend("group members read failed"))?;
                for found in output
                    .responses
                    .as_mut()
                    .and_then(|r| r.remove(&*self.table))
                    .unwrap_or_default()
                {
                    if item::groups_of(&found).iter().any(|g| g == group)
                        && let Some(key) = item::key_of(&found)
                    {
                        members.push(key);
                    }
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut keys| keys.remove(&*self.table))
                    .filter(|keys| !keys.keys.is_empty());
                if pending.is_some() {
                    retries.wait("group members").await?;
                }
            }
        }
        Ok(members)
    }

    /// Writes `items` in batches of 25, retrying unprocessed ones.
    async fn put_items(
        &self,
        items: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<(), StorageError> {
        let requests = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(config_error)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.batch_write(requests).await
    }

    /// The table keys of the items whose `attribute` is `value`, from the
    /// global secondary index `index` (keys only), page by page: the
    /// entries of a URL ([`URL_INDEX`]), a group's membership items
    /// ([`GROUP_INDEX`]).
    ///
    /// Index reads are eventually consistent (DynamoDB offers nothing else on
    /// a global secondary index): an entry written a moment before may not
    /// be seen yet.
    async fn index_keys(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&*self.table)
                .index_name(index)
                .key_condition_expression("#a = :value")
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend("index query failed"))?;
            keys.extend(
                output
                    .items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(item::key_of),
            );
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(keys),
            }
        }
    }

    /// Scans the table, metadata only, page by page; `filter` is an optional
    /// filter expression with its values.
    async fn scan(
        &self,
        filter: Option<(&str, HashMap<String, AttributeValue>)>,
        mut page: impl FnMut(Vec<HashMap<String, AttributeValue>>),
    ) -> Result<(), StorageError> {
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&*self.table)
                .projection_expression(METADATA)
                .set_expression_attribute_names(Some(item::metadata_names()))
                .set_exclusive_start_key(start.take());
            if let Some((expression, values)) = &filter {
                request = request
                    .filter_expression(*expression)
                    .set_expression_attribute_values(Some(values.clone()));
            }
            let output = request.send().await.map_err(backend("scan failed"))?;
            page(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(()),
            }
        }
    }

    /// Deletes `keys` in batches of 25, retrying unprocessed items.
    async fn delete_keys(&self, keys: Vec<String>) -> Result<u64, StorageError> {
        let deleted = keys.len() as u64;
        let requests = keys
            .into_iter()
            .map(|key| {
                let delete = DeleteRequest::builder()
                    .key(KEY, AttributeValue::S(key))
                    .build()
                    .map_err(|e| {
                        StorageError::with_source(
                            StorageErrorKind::Backend,
                            "bad delete request",
                            e,
                        )
                    })?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.batch_write(requests).await?;
        Ok(deleted)
    }

    /// Sends `requests` in batches of 25, retrying unprocessed items.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StorageError> {
        for chunk in requests.chunks(BATCH) {
            let mut requests = chunk.to_vec();
            let mut retries = Retries::default();
            loop {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&*self.table, requests)
                    .send()
                    .await
                    .map_err(backend("batch write failed"))?;
                requests = output
                    .unprocessed_items
                    .and_then(|mut items| items.remove(&*self.table))
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                retries.wait(&format!("{} items", requests.len())).await?;
            }
        }
        Ok(())
    }

    /// Keys of every item `filter` selects (metadata scan).
    async fn keys_where(
        &self,
        filter: Option<(&str, HashMap<String, AttributeValue>)>,
    ) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        self.scan(filter, |items| {
            keys.extend(items.iter().filter_map(item::key_of))
        })
        .await?;
        Ok(keys)
    }
}

impl DynamoDbStorageBuilder {
    fn new(config: aws_sdk_dynamodb::config::Builder, table: impl Into<String>) -> Self {
        Self {
            config,
            table: table.into(),
            consistent_reads: true,
            create_table: false,
        }
    }

    /// Create the table if it is missing (on-demand billing, the cache key as
    /// its partition key), wait until it is active, and turn on TTL on the
    /// `ttl` attribute. Default: off.
    pub fn create_table(mut self, on: bool) -> Self {
        self.create_table = on;
        self
    }

    /// Strongly consistent reads (a write is seen by the next read). Default:
    /// on; off halves read cost at the price of briefly stale reads.
    pub fn consistent_reads(mut self, on: bool) -> Self {
        self.consistent_reads = on;
        self
    }

    /// How many attempts the SDK makes for throttled or transient failures.
    /// Default: the SDK's standard strategy (3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config = self
            .config
            .retry_config(RetryConfig::standard().with_max_attempts(attempts.max(1)));
        self
    }

    /// Per-attempt and whole-operation timeouts. Default: the SDK's.
    pub fn timeouts(mut self, attempt: Duration, operation: Duration) -> Self {
        self.config = self.config.timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(attempt)
                .operation_timeout(operation)
                .build(),
        );
        self
    }

    /// The storage; creates the table first when asked to. It describes the
    /// table once to find the URL index (see the crate docs); if that fails,
    /// `delete_url` scans instead, and opening still succeeds.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for an empty table name;
    /// [`StorageErrorKind::Backend`] when the table cannot be created or does
    /// not become active within a minute.
    pub async fn open(self) -> Result<DynamoDbStorage, StorageError> {
        if self.table.is_empty() {
            return Err(StorageError::new(
                StorageErrorKind::Config,
                "the table name is empty",
            ));
        }
        let mut storage = DynamoDbStorage {
            client: Client::from_conf(self.config.build()),
            table: self.table.into(),
            consistent_reads: self.consistent_reads,
            url_index: false,
            group_index: false,
        };
        if self.create_table {
            create_table(&storage).await?;
        }
        storage.url_index = index_active(&storage, URL_INDEX).await;
        storage.group_index = index_active(&storage, GROUP_INDEX).await;
        Ok(storage)
    }
}

/// The retries of a batch call whose items DynamoDB left unprocessed (how
/// it throttles): after 20 ms, doubling up to 2 s, at most 8.
struct Retries {
    wait: Duration,
    made: u32,
}

impl Default for Retries {
    fn default() -> Self {
        Self {
            wait: Duration::from_millis(20),
            made: 0,
        }
    }
}

impl Retries {
    /// Waits before the next try (a real-world backoff); an error naming
    /// `left` once 8 retries were made.
    async fn wait(&mut self, left: &str) -> Result<(), StorageError> {
        if self.made >= 8 {
            return Err(StorageError::new(
                StorageErrorKind::Backend,
                format!("{left} still unprocessed after retries"),
            ));
        }
        self.made += 1;
        tokio::time::sleep(self.wait).await;
        self.wait = (self.wait * 2).min(Duration::from_secs(2));
        Ok(())
    }
}

/// Creates the table unless it exists, waits for it, enables TTL.
async fn create_table(storage: &DynamoDbStorage) -> Result<(), StorageError> {
    let client = &storage.client;
    let table = &*storage.table;
    let exists = match client.describe_table().table_name(table).send().await {
        Ok(_) => true,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(error) => return Err(backend("describe table failed")(error)),
    };
    if !exists {
        let created = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attribute(KEY)?)
            .attribute_definitions(string_attribute(URL)?)
            .attribute_definitions(string_attribute(GROUP)?)
            .key_schema(hash_key(KEY)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(URL_INDEX)
                    .key_schema(hash_key(URL)?)
                    .projection(keys_only())
                    .build()
                    .map_err(config_error)?,
            )
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GROUP_INDEX)
                    .key_schema(hash_key(GROUP)?)
                    .projection(keys_only())
                    .build()
                    .map_err(config_error)?,
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Created meanwhile by another process: fine.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(error) => return Err(backend("create table failed")(error)),
        }
    }
    // Waiting for a remote table to become active: bounded polling.
    let mut active = false;
    for _ in 0..120 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(backend("describe table failed"))?;
        if described.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            active = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    if !active {
        return Err(StorageError::new(
            StorageErrorKind::Backend,
            format!("table {table} did not become active"),
        ));
    }
    // A table made by an older version (or by hand) gets the indexes it
    // lacks, one at a time (DynamoDB builds one index at a time).
    if index_status(client, table, URL_INDEX).await.is_none() {
        add_index(client, table, URL_INDEX, URL).await;
    } else if index_status(client, table, GROUP_INDEX).await.is_none() {
        add_index(client, table, GROUP_INDEX, GROUP).await;
    }
    let ttl = client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(item::TTL)
                .enabled(true)
                .build()
                .map_err(config_error)?,
        )
        .send()
        .await;
    if let Err(error) = ttl {
        // Already enabled (or being enabled) is not a problem.
        tracing::debug!(table, error = %DisplayErrorContext(&error), "reqcache-dynamodb: TTL not updated");
    }
    Ok(())
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StorageError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(config_error)
}

fn hash_key(name: &str) -> Result<KeySchemaElement, StorageError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(KeyType::Hash)
        .build()
        .map_err(config_error)
}

fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

/// The status of the table's index `name`; `None` when it has none, or
/// when the table cannot be described (missing, or no permission).
async fn index_status(client: &Client, table: &str, name: &str) -> Option<IndexStatus> {
    let described = match client.describe_table().table_name(table).send().await {
        Ok(described) => described,
        Err(error) => {
            tracing::debug!(table, index = name, error = %DisplayErrorContext(&error), "reqcache-dynamodb: table not described; its lookups will scan");
            return None;
        }
    };
    described
        .table?
        .global_secondary_indexes?
        .into_iter()
        .find(|index| index.index_name.as_deref() == Some(name))
        .map(|index| index.index_status.unwrap_or(IndexStatus::Active))
}

/// Whether lookups can query the index `name` now.
async fn index_active(storage: &DynamoDbStorage, name: &str) -> bool {
    let status = index_status(&storage.client, &storage.table, name).await;
    if status.as_ref().is_some_and(|s| *s != IndexStatus::Active) {
        tracing::info!(table = %storage.table, index = name, ?status, "reqcache-dynamodb: index not active yet; its lookups scan until the storage is opened again");
    }
    status == Some(IndexStatus::Active)
}

/// Asks DynamoDB to add the index `name` on `attribute` to a table made
/// without it (by an older version, or by hand). DynamoDB builds it in the
/// background; a failure (no permission, an index limit) leaves its
/// lookups scanning.
async fn add_index(client: &Client, table: &str, name: &str, attribute: &str) {
    let (Ok(key), Ok(definition)) = (hash_key(attribute), string_attribute(attribute)) else {
        return;
    };
    let index = match CreateGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .key_schema(key)
        .projection(keys_only())
        .build()
    {
        Ok(index) => index,
        Err(error) => {
            tracing::warn!(%error, index = name, "reqcache-dynamodb: index request not built");
            return;
        }
    };
    let updated = client
        .update_table()
        .table_name(table)
        .attribute_definitions(definition)
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(index).build())
        .send()
        .await;
    match updated {
        Ok(_) => tracing::info!(
            table,
            index = name,
            "reqcache-dynamodb: index requested; DynamoDB builds it in the background"
        ),
        Err(error) => {
            tracing::warn!(table, index = name, error = %DisplayErrorContext(&error), "reqcache-dynamodb: index not added; its lookups will scan")
        }
    }
}

fn backend<E, R>(message: &'static str) -> impl FnOnce(SdkError<E, R>) -> StorageError
where
    E: std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    move |error| {
        let detail = DisplayErrorContext(&error).to_string();
        StorageError::with_source(
            StorageErrorKind::Backend,
            format!("{message}: {detail}"),
            error,
        )
    }
}

fn config_error(error: aws_sdk_dynamodb::error::BuildError) -> StorageError {
    StorageError::with_source(StorageErrorKind::Config, "invalid DynamoDB request", error)
}

fn now_value(now: SystemTime) -> HashMap<String, AttributeValue> {
    HashMap::from([(
        ":now".to_owned(),
        AttributeValue::N(item::to_unix_nanos(now).to_string()),
    )])
}

#[async_trait]
impl ByteStore for DynamoDbStorage {
    async fn read(&self, key: &str, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .consistent_read(self.consistent_reads)
            .send()
            .await
            .map_err(backend("read failed"))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        if item::past_retention(&item, now) {
            return Ok(None);
        }
        // An item without a value does not decode: the adapter deletes it.
        Ok(Some(item::value_of(&item).unwrap_or_default().to_vec()))
    }

    /// A record in groups: its membership items first, then the record,
    /// so that a record written is always found by its groups' purges.
    async fn write(&self, record: Record) -> Result<(), StorageError> {
        let memberships: Vec<_> = record
            .info
            .groups
            .iter()
            .map(|group| item::membership_item(group, &record.info.key, record.deadline))
            .collect();
        let item = item::to_item(record);
        let size = item::item_size(&item);
        if size > MAX_ITEM_SIZE {
            return Err(StorageError::new(
                StorageErrorKind::TooLarge,
                format!("an item of {size} bytes exceeds DynamoDB's {MAX_ITEM_SIZE}-byte limit"),
            ));
        }
        if !memberships.is_empty() {
            self.put_items(memberships).await?;
        }
        self.client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(backend("write failed"))?;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<bool, StorageError> {
        let mut output = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend("delete failed"))?;
        let old = output.attributes.take().unwrap_or_default();
        // Its membership items, named by the groups it had.
        let memberships: Vec<String> = item::groups_of(&old)
            .iter()
            .map(|group| item::membership_key(group, key))
            .collect();
        if !memberships.is_empty() {
            self.delete_keys(memberships).await?;
        }
        Ok(!old.is_empty())
    }

    async fn remove_url(&self, url: &str) -> Result<u64, StorageError> {
        let keys = if self.url_index {
            self.index_keys(URL_INDEX, URL, url).await?
        } else {
            let values = HashMap::from([(":url".to_owned(), AttributeValue::S(url.to_owned()))]);
            self.keys_where(Some(("#u = :url", values))).await?
        };
        self.delete_keys(keys).await
    }

    /// From the group index, each member confirmed by its record; without
    /// the index (a table whose index is still being built), a scan.
    async fn group_keys(&self, group: &str) -> Result<Vec<String>, StorageError> {
        if !self.group_index {
            let values =
                HashMap::from([(":group".to_owned(), AttributeValue::S(group.to_owned()))]);
            return self
                .keys_where(Some(("contains(#g, :group)", values)))
                .await;
        }
        // The membership items' keys name their records.
        let mut keys: Vec<String> = self
            .index_keys(GROUP_INDEX, GROUP, group)
            .await?
            .iter()
            .filter_map(|membership| item::member_of(membership).map(str::to_owned))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        self.confirmed_members(group, keys).await
    }

    /// The group's records, and their membership items in it.
    async fn remove_group(&self, group: &str) -> Result<u64, StorageError> {
        let keys = ByteStore::group_keys(self, group).await?;
        let memberships: Vec<String> = keys
            .iter()
            .map(|key| item::membership_key(group, key))
            .collect();
        let removed = self.delete_keys(keys).await?;
        self.delete_keys(memberships).await?;
        Ok(removed)
    }

    /// Every item: records and membership items.
    async fn remove_all(&self) -> Result<(), StorageError> {
        let keys = self.keys_where(None).await?;
        self.delete_keys(keys).await.map(drop)
    }

    async fn count(&self) -> Result<u64, StorageError> {
        let mut count = 0u64;
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .scan()
                .table_name(&*self.table)
                .select(Select::Count)
                // Responses: aliases and vary indexes carry a kind,
                // membership items a group.
                .filter_expression("attribute_not_exists(#q) AND attribute_not_exists(#g)")
                .expression_attribute_names("#q", item::KIND)
                .expression_attribute_names("#g", GROUP)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend("count failed"))?;
            count += output.count.max(0) as u64;
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(count),
            }
        }
    }

    async fn list(&self) -> Result<Vec<EntryInfo>, StorageError> {
        let mut entries = Vec::new();
        self.scan(None, |items| {
            for item in items {
                if item::key_of(&item).is_some_and(|key| item::is_membership(&key)) {
                    continue;
                }
                match item::info_of(&item) {
                    Some(info) => entries.push(info),
                    None => tracing::warn!("reqcache-dynamodb: item with invalid metadata skipped"),
                }
            }
        })
        .await?;
        Ok(entries)
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let keys = self
            .keys_where(Some(("#e <= :now OR #r <= :now", now_value(now))))
            .await?;
        self.delete_keys(keys).await
    }

    fn expires_natively(&self) -> bool {
        true
    }
}
