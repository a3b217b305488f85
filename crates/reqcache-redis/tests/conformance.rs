//! The storage conformance suite on a real redis-server, standalone and cluster.

mod support;

use support::{cluster, standalone, write_raw_cluster, write_raw_standalone};

reqcache_test::conformance_tests!(standalone_conformance = standalone, write_raw_standalone);
reqcache_test::conformance_tests!(cluster_conformance = cluster, write_raw_cluster);
