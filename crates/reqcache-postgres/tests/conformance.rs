//! The storage conformance suite on a real PostgreSQL server.

mod support;

use support::{fresh, write_raw};

reqcache_test::conformance_tests!(fresh, write_raw);
