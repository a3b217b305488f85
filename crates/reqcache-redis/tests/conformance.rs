//! The storage conformance suite on a real redis-server, standalone and cluster.

mod support;

use support::{cluster, standalone, write_raw_cluster, write_raw_standalone};

reqcache_test::conformance_tests!(standalone_conformance = standalone, write_raw_standalone);
reqcache_test::conformance_tests!(cluster_conformance = cluster, write_raw_cluster);

/// A tiered storage (memory L1, this Redis as L2, RedisBus on it).
async fn tiered() -> Option<(reqcache::storage::TieredStorage, ())> {
    let (l2, ()) = standalone().await?;
    let url = std::env::var("REQCACHE_REDIS_URL").unwrap();
    let bus = reqcache_redis::RedisBus::new(&url)
        .unwrap()
        .channel(format!("reqcache:invalidate:{}", l2.namespace()));
    let storage = reqcache::storage::TieredStorage::builder(l2)
        .bus(bus)
        .build();
    Some((storage, ()))
}

reqcache_test::conformance_tests!(tiered_conformance = tiered);
