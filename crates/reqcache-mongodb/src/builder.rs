//! [`MongoStorageBuilder`]: the builder both storages share.

use std::fmt;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use reqcache::storage::{StorageError, StorageErrorKind};

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
        }
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

    async fn connect(&mut self) -> Result<Collection<Document>, StorageError> {
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
        collection
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "expires_at": 1 })
                    .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
                    .build(),
            )
            .await
            .map_err(backend("cannot create the TTL index"))?;
        for field in ["url", "expires_ns", "retain_ns"] {
            collection
                .create_index(IndexModel::builder().keys(doc! { field: 1 }).build())
                .await
                .map_err(backend("cannot create an index"))?;
        }
        Ok(collection)
    }

    /// The storage: connects and creates its indexes.
    ///
    /// # Errors
    /// [`StorageErrorKind::Config`] for a bad connection string or empty
    /// names; [`StorageErrorKind::Backend`] when the server cannot be reached.
    pub async fn open(mut self) -> Result<MongoStorage, StorageError> {
        let collection = self.connect().await?;
        Ok(MongoStorage { collection })
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
