//! TieredStorage over PostgresStorage with PostgresBus (LISTEN/NOTIFY): two
//! instances sharing one real PostgreSQL stay coherent within the stated
//! bound; with the bus cut (a relay), copies fall back to the short TTL.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqcache::storage::{Storage, TieredStorage};
use reqcache_postgres::{PostgresBus, PostgresStorage};
use reqcache_test::wait_for_bus;
use support::{Relay, unique_table};

/// How soon another instance must have dropped its L1 copy after a write
/// returned (the docs' bound, with room for a loaded CI machine).
const COHERENCE_BOUND: Duration = Duration::from_secs(1);

async fn tiered(url: &str, table: &str, bus_url: &str) -> TieredStorage {
    let l2 = PostgresStorage::builder(url)
        .table(table)
        .max_connections(4)
        .open()
        .await
        .unwrap();
    let bus_pool = reqcache_postgres::sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy(bus_url)
        .unwrap();
    let bus = PostgresBus::new(bus_pool)
        .channel(format!("{table}_inv"))
        .heartbeat(Duration::from_millis(100));
    TieredStorage::builder(l2).bus(bus).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_reaches_the_other_instance_within_the_bound() {
    let Some(url) = support::url() else { return };
    let table = unique_table("tiered");
    let (a, b) = (
        tiered(&url, &table, &url).await,
        tiered(&url, &table, &url).await,
    );
    for storage in [&a, &b] {
        wait_for_bus(storage, Duration::from_secs(10), |s| s.connected).await;
    }
    let t0 = reqcache_test::t0();
    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        let body = format!("round {round}");
        let entry = reqcache_test::sample_entry("https://example.com/k", body.clone());
        let received = b.bus_status().borrow().received;
        a.put("k", Arc::new(entry)).await.unwrap();
        let started = Instant::now();
        wait_for_bus(&b, COHERENCE_BOUND, |s| s.received > received).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(b.get("k", t0).await.unwrap().unwrap().body, body);
        // Now in B's L1.
        assert_eq!(b.get("k", t0).await.unwrap().unwrap().body, body);
    }
    eprintln!("slowest of 20 invalidations after the write returned: {slowest:?}");
    assert_eq!(b.stats().l2_reads, 20);
    assert_eq!(b.stats().l1_hits, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_bus_cut_copies_fall_back_to_the_short_ttl_and_recover() {
    let Some(url) = support::url() else { return };
    // The bus through a relay the test cuts; L2 direct.
    let relay = Relay::start(support::server_addr(&url), true).await;
    let bus_url = support::via(&url, relay.addr());
    let table = unique_table("busdown");
    let (a, b) = (
        tiered(&url, &table, &bus_url).await,
        tiered(&url, &table, &bus_url).await,
    );
    for storage in [&a, &b] {
        wait_for_bus(storage, Duration::from_secs(10), |s| s.connected).await;
    }
    let t0 = reqcache_test::t0();
    let secs = |n: u64| t0 + Duration::from_secs(n);
    let entry = |body: &'static str| Arc::new(reqcache_test::sample_entry("https://e.com/k", body));

    a.put("k", entry("v1")).await.unwrap();
    wait_for_bus(&b, COHERENCE_BOUND, |s| s.received >= 1).await;
    b.get("k", secs(0)).await.unwrap().unwrap();
    b.get("k", secs(30)).await.unwrap().unwrap();
    assert_eq!((b.stats().l2_reads, b.stats().l1_hits), (1, 1));

    relay.cut();
    wait_for_bus(&b, Duration::from_secs(10), |s| !s.connected).await;
    assert_eq!(b.l1().len().await.unwrap(), 0);
    b.get("k", secs(31)).await.unwrap().unwrap();
    b.get("k", secs(31)).await.unwrap().unwrap();
    b.get("k", secs(33)).await.unwrap().unwrap();
    assert_eq!((b.stats().l2_reads, b.stats().l1_hits), (3, 2));
    a.put("k", entry("v2")).await.unwrap();
    assert!(a.stats().publish_errors >= 1, "{:?}", a.stats());
    assert_eq!(b.get("k", secs(35)).await.unwrap().unwrap().body, "v2");

    relay.restore();
    for storage in [&a, &b] {
        wait_for_bus(storage, Duration::from_secs(10), |s| s.connected).await;
    }
    let received = b.bus_status().borrow().received;
    a.put("k", entry("v3")).await.unwrap();
    wait_for_bus(&b, COHERENCE_BOUND, |s| s.received > received).await;
    assert_eq!(b.get("k", secs(36)).await.unwrap().unwrap().body, "v3");
}
