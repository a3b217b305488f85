//! Storage: where a layer keeps its responses.
//!
//! This module holds what a user picks: the [`Storage`] trait (a layer
//! takes any `Arc<dyn Storage>`), [`MemoryStorage`], [`TieredStorage`],
//! the [`Codec`] a byte store encodes with ([`Encoded`]), what is stored
//! ([`CachedResponse`], listed as [`EntryInfo`]) and the errors. Each
//! storage's builder and defaults are one module down
//! ([`memory`], [`tiered`], [`codec`]); the other storages are crates of
//! their own (`reqcache-sqlite`, `reqcache-redis`, ...).
//!
//! Writing a backend? Everything it builds on is in [`backend`].

mod access_stamps;
pub mod backend;
mod body_copy;
mod bus;
mod byte_store;
mod chunks;
pub mod codec;
mod contract;
mod encoded;
mod entry;
mod error;
mod group;
mod kind;
pub mod memory;
mod metadata;
mod record;
mod serializer;
mod sweeper;
pub mod tiered;
mod usage;
mod wire;
mod wire_reader;

pub use codec::{Codec, Compression};
pub use contract::Storage;
pub use encoded::Encoded;
pub use entry::{CachedRequest, CachedResponse, EntryInfo};
pub use error::{StorageError, StorageErrorKind};
pub use group::{group_id, origin_of};
pub use memory::MemoryStorage;
pub use serializer::Serializer;
pub use tiered::TieredStorage;
pub use usage::StorageUsage;

// The backend author's names, for the core's own use.
pub(crate) use backend::{Alias, BoxError, RecordChain, StoredRecord, VaryIndex};
