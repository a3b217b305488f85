//! The storage conformance suite, on MemoryStorage, and on a TieredStorage
//! (an L1 in front of a MemoryStorage L2, no bus).

use reqcache::MemoryStorage;
use reqcache::storage::TieredStorage;

async fn make() -> Option<(MemoryStorage, ())> {
    Some((MemoryStorage::new(), ()))
}

async fn tiered() -> Option<(TieredStorage, ())> {
    Some((TieredStorage::builder(MemoryStorage::new()).build(), ()))
}

reqcache_test::conformance_tests!(memory_conformance = make);
reqcache_test::conformance_tests!(tiered_conformance = tiered);
