//! [`MongoStorageBuilder`]: the builder both storages share.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use reqcache::storage::{StorageError, StorageErrorKind};

use crate::bound::{Bound, SharedBound};
use crate::document::backend;

use crate::gridfs::GridFsStorage;
use crate::storage::MongoStorage;

enum Target {
    Uri(String),
    Client(Client),
}

/// Builds a [`MongoStorage`] or a [`GridFsStorage`].
#[must_use]
pub struct MongoStorageBuilder {
    target: Target,
    database: String,
    collection: String,
    server_selection_timeout: Duration,
    max_size: Option<u64>,
}

impl fmt::Debug for MongoStorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStorageBuilder")
            .field("database", &self.database)
            .field("collection", &self.collection)
            .finish_non_exhaustive()
    }
}

impl MongoStorage {
    /// A builder for the server at connection string `uri`; `database` is
    /// requests-cache's `cache_name`.
    pub fn builder(uri: &str, database: impl Into<String>) -> MongoStorageBuilder {
        MongoStorageBuilder::new(Target::Uri(uri.to_owned()), database.into())
    }

    /// A builder over an existing client (its own timeouts apply).
    pub fn from_client(client: Client, database: impl Into<String>) -> MongoStorageBuilder {
        MongoStorageBuilder::new(Target::Client(client), database.into())
    }
}

impl MongoStorageBuilder {
    fn new(target: Target, database: String) -> Self {
        Self {
            target,
            database,
            collection: "responses".to_owned(),
            server_selection_timeout: Duration::from_secs(1),
            max_size: Some(reqcache::storage::backend::DEFAULT_MAX_SIZE),
        }
    }

    /// At most this many bytes in the collection, counted as each
    /// document's value (its file, for GridFS), key and URL and 64 bytes
    /// of other fields, in a usage document (`{collection}_usage`) every
    /// process adds its writes to. Default:
    /// [`DEFAULT_MAX_SIZE`](reqcache::storage::backend::DEFAULT_MAX_SIZE),
    /// 1 GiB. A write that passes it starts a task that counts the
    /// collection afresh (the TTL monitor deletes without telling the
    /// usage) and deletes documents past their deadline first, then the
    /// least recently read (stamped to the minute by a task behind the
    /// reads), until it is within the bound.
    ///
    /// How exact: the collection is back within the bound a moment after
    /// the write that passed it. Two processes that pass it at once may
    /// each evict the excess (there is no lock across them), and the
    /// usage document may lag a concurrent write during a recount until
    /// the next one. What the server keeps on disk differs (compression,
    /// indexes, GridFS chunks). An entry larger than the bound is refused
    /// with [`StorageErrorKind::TooLarge`].
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// No size bound: the collection grows with what is stored, less what
    /// the TTL index removes.
    pub fn unbounded_size(mut self) -> Self {
        self.max_size = None;
        self
    }

    /// The collection's name (for GridFS, also the bucket's prefix).
    /// Default: `responses`.
    pub fn collection(mut self, name: impl Into<String>) -> Self {
        self.collection = name.into();
        self
    }

    /// How long an operation waits for a server before it fails (and the
    /// layer goes upstream). Default: 1 s. Connection strings may set
    /// `serverSelectionTimeoutMS` instead.
    pub fn server_selection_timeout(mut self, timeout: Duration) -> Self {
        self.server_selection_timeout = timeout;
        self
    }

    /// The collection, its chunks' collection and the bound, indexes made.
    async fn connect(
        &mut self,
    ) -> Result<(Collection<Document>, Collection<Document>, SharedBound), StorageError> {
        if self.database.is_empty() || self.collection.is_empty() {
            return Err(StorageError::new(
                StorageErrorKind::Config,
                "database and collection names must not be empty",
            ));
        }
        let client = match std::mem::replace(&mut self.target, Target::Uri(String::new())) {
            Target::Client(client) => client,
            Target::Uri(uri) => {
                let mut options = ClientOptions::parse(&uri).await.map_err(|e| {
                    StorageError::with_source(
                        StorageErrorKind::Config,
                        "invalid MongoDB connection string",
                        e,
                    )
                })?;
                if options.server_selection_timeout.is_none() {
                    options.server_selection_timeout = Some(self.server_selection_timeout);
                }
                options
                    .connect_timeout
                    .get_or_insert(self.server_selection_timeout);
                Client::with_options(options).map_err(backend("cannot create a MongoDB client"))?
            }
        };
        let collection = client
            .database(&self.database)
            .collection::<Document>(&self.collection);
        // Idempotent: creating an existing index with the same spec is a no-op.
        ttl_index(&collection).await?;
        // `groups` holds arrays: a multikey index, an entry per group.
        for field in [
            "url",
            "expires_ns",
            "retain_ns",
            crate::document::ACCESSED,
            crate::document::GROUPS,
        ] {
            collection
                .create_index(IndexModel::builder().keys(doc! { field: 1 }).build())
                .await
                .map_err(backend("cannot create an index"))?;
        }
        let chunks = collection
            .client()
            .database(&self.database)
            .collection::<Document>(&format!("{}_chunks", self.collection));
        ttl_index(&chunks).await?;
        chunks
            .create_index(IndexModel::builder().keys(doc! { "body": 1 }).build())
            .await
            .map_err(backend("cannot create an index"))?;
        let bound = self.max_size.map(|max_size| {
            let usage = collection
                .client()
                .database(&self.database)
                .collection::<Document>(&format!("{}_usage", self.collection));
            Arc::new(Bound::new(max_size, usage))
        });
        Ok((collection, chunks, bound))
    }

    /// The storage: connects and creates its indexes.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for a bad connection string or empty
    /// names; [`StorageErrorKind::Backend`] when the server cannot be reached.
    pub async fn open(mut self) -> Result<MongoStorage, StorageError> {
        let (collection, chunks, bound) = self.connect().await?;
        Ok(MongoStorage {
            collection,
            chunks,
            bound,
        })
    }

    /// A [`GridFsStorage`]: metadata in the collection, values in the GridFS
    /// bucket named after it.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_gridfs(self) -> Result<GridFsStorage, StorageError> {
        let bucket_name = format!("{}_fs", self.collection);
        let storage = self.open().await?;
        Ok(GridFsStorage::new(storage, &bucket_name))
    }
}

/// The TTL index on `expires_at` (idempotent: an existing index with the
/// same spec is a no-op): the server deletes a document at its deadline.
async fn ttl_index(collection: &Collection<Document>) -> Result<(), StorageError> {
    collection
        .create_index(
            IndexModel::builder()
                .keys(doc! { "expires_at": 1 })
                .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
                .build(),
        )
        .await
        .map(drop)
        .map_err(backend("cannot create the TTL index"))
}
