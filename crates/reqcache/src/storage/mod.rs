//! Storage: the [`Storage`] trait every backend implements, what it stores
//! ([`CachedResponse`] and its listing form [`EntryInfo`]), its errors, the
//! [`Codec`] byte-oriented backends encode with, [`MemoryStorage`], and
//! [`TieredStorage`] (a memory L1 in front of a shared L2, kept coherent by
//! an [`InvalidationBus`]).
//!
//! Backend authors import from here; users of the layer need only the
//! names the crate root re-exports.

mod bus;
mod byte_store;
mod codec;
mod contract;
mod encoded;
mod entry;
mod error;
mod kind;
mod memory;
mod metadata;
mod record;
mod serializer;
mod tiered;
pub mod unix_time;
mod wire;
mod wire_reader;

pub use bus::{
    BusSubscriber, InvalidationBus, MAX_RESUBSCRIBE_BACKOFF, MIN_RESUBSCRIBE_BACKOFF, SessionEnd,
};
pub use byte_store::{ByteStore, ChainedRead, LARGE_VALUE, Record};
pub use codec::{Codec, Compression, MAX_DECOMPRESSED_SIZE};
pub use contract::Storage;
pub use encoded::{DEFAULT_NATIVE_RETENTION, Encoded};
pub use entry::{CachedRequest, CachedResponse, EntryInfo};
pub use error::{BoxError, StorageError, StorageErrorKind};
pub use kind::RecordKind;
pub use memory::{DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, MemoryStorage, MemoryStorageBuilder};
pub use metadata::EntryMetadata;
pub use record::{Alias, RecordChain, StoredRecord, VaryIndex};
pub use serializer::{FORMAT_VERSION, Serializer, ValueParts};
pub use tiered::{
    BusStatus, DEFAULT_L1_TTL, DEFAULT_L1_TTL_WITHOUT_BUS, TieredStats, TieredStorage,
    TieredStorageBuilder,
};
