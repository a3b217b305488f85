//! The backend author's API: what a storage crate builds on.
//!
//! Most backends keep bytes under string keys: implement [`ByteStore`]
//! (read, write, delete, list) and wrap it in [`Encoded`], which makes it a
//! [`Storage`] — records encoded with a [`Codec`], aliases and vary indexes
//! followed, expiry kept in the stored metadata. A backend with a data
//! model of its own implements [`Storage`] directly, on [`StoredRecord`]s.
//! A bus that keeps [`TieredStorage`](super::TieredStorage)s coherent across
//! processes implements [`InvalidationBus`].
//!
//! Every name a backend needs is here, the user's ones too, so a backend
//! crate imports from one place, as sqlx's drivers do from `sqlx-core`.
//!
//! # Example
//! ```
//! use reqcache::storage::backend::{ByteStore, Encoded, Storage};
//!
//! // Any byte store, wrapped in `Encoded`, is a storage a layer can take.
//! fn as_storage<B: ByteStore>(store: Encoded<B>) -> std::sync::Arc<dyn Storage> {
//!     std::sync::Arc::new(store)
//! }
//! ```

pub use super::access_stamps::{ACCESS_STAMP_STEP, AccessStamps};
pub use super::body_copy::portable_record;
pub use super::bus::{
    BusSettings, BusSubscriber, InvalidationBus, MAX_RESUBSCRIBE_BACKOFF, MIN_RESUBSCRIBE_BACKOFF,
    SessionEnd,
};
pub use super::byte_store::{ByteStore, ChainedRead, LARGE_VALUE, Record};
pub use super::chunks::{BodyRef, CHUNKED_FROM, ChunkStore};
pub use super::codec::{Codec, Compression, MAX_DECOMPRESSED_SIZE};
pub use super::contract::Storage;
pub use super::encoded::{DEFAULT_NATIVE_RETENTION, Encoded};
pub use super::entry::{CachedRequest, CachedResponse, EntryInfo};
pub use super::error::{BoxError, StorageError, StorageErrorKind};
pub use super::kind::RecordKind;
pub use super::metadata::{EntryMetadata, Sidecar};
pub use super::record::{Alias, RecordChain, StoredRecord, VaryIndex};
pub use super::serializer::{FORMAT_VERSION, Serializer, ValueParts};
pub use super::sweeper::{DEFAULT_SWEEP_INTERVAL, spawn_sweeper};
pub use super::usage::{DEFAULT_MAX_SIZE, StorageUsage, counted_bytes, fits_bound};

pub mod unix_time;
