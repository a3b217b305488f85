//! Storage: the [`Storage`] trait every backend implements, what it stores
//! ([`CachedResponse`] and its listing form [`EntryInfo`]), its errors, the
//! [`Codec`] byte-oriented backends encode with, and [`MemoryStorage`].
//!
//! Backend authors import from here; users of the layer need only the
//! names the crate root re-exports.

mod byte_store;
mod codec;
mod contract;
mod encoded;
mod entry;
mod error;
mod memory;
mod metadata;
mod serializer;
pub mod unix_time;

pub use byte_store::{ByteStore, Record};
pub use codec::{Codec, Compression, MAX_DECOMPRESSED_SIZE};
pub use contract::Storage;
pub use encoded::{DEFAULT_NATIVE_RETENTION, Encoded};
pub use entry::{CachedRequest, CachedResponse, EntryInfo};
pub use error::{BoxError, StorageError, StorageErrorKind};
pub use memory::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, MemoryStorage, MemoryStorageBuilder};
pub use metadata::EntryMetadata;
pub use serializer::{FORMAT_VERSION, Serializer};
