//! The storage conformance suite, on MemoryStorage.

use reqcache::MemoryStorage;

async fn make() -> Option<(MemoryStorage, ())> {
    Some((MemoryStorage::new(), ()))
}

reqcache_test::conformance_tests!(make);
