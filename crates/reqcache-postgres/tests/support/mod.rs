//! Test helpers: storages on the PostgreSQL server that scripts/test.sh
//! started, each in a table of its own, and a TCP relay to that server that a
//! test can cut and restore (an outage without stopping the shared server).

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use reqcache_postgres::PostgresStorage;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A table name no other test uses.
pub fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The test server's URL, or `None` (skip) by hand without one; under CI a
/// missing server fails.
pub fn url() -> Option<String> {
    reqcache_test::server_url("REQCACHE_POSTGRES_URL")
}

/// A fresh storage in a table of its own, or `None` (skip) as above.
pub async fn fresh() -> Option<(PostgresStorage, ())> {
    let url = url()?;
    let storage = PostgresStorage::builder(url)
        .table(unique_table("conformance"))
        .max_connections(4)
        .open()
        .await
        .expect("cannot connect to the test PostgreSQL server");
    Some((storage, ()))
}

/// Stores a real entry for its metadata, then overwrites its value with raw
/// bytes.
pub async fn write_raw((storage, ()): &(PostgresStorage, ()), key: &str, bytes: Vec<u8>) {
    let entry = reqcache_test::sample_entry("https://example.com/raw", &b"x"[..]);
    reqcache::storage::Storage::put(storage, key, Arc::new(entry))
        .await
        .unwrap();
    let update = format!(
        "UPDATE \"{}\" SET value = $1 WHERE key = $2",
        storage.table()
    );
    let done = reqcache_postgres::sqlx::query(&update)
        .bind(bytes)
        .bind(key)
        .execute(storage.pool())
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

/// A loopback TCP relay to `target`: while up it forwards connections both
/// ways; cut, it closes the connections it relays and refuses new ones.
pub struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Relay {
    pub async fn start(target: SocketAddr, up: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(up));
        let (cuts, _) = watch::channel(0);
        let relay = Self {
            addr,
            up: Arc::clone(&up),
            cuts: cuts.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        relay
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Accepts and relays connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The host and port of a `postgres://user@host:port/db` URL.
pub fn server_addr(url: &str) -> SocketAddr {
    let rest = url.split_once('@').unwrap().1;
    let host_port = rest.split('/').next().unwrap();
    host_port.parse().unwrap()
}

/// `url` with its host and port replaced by `addr`.
pub fn via(url: &str, addr: SocketAddr) -> String {
    let (user, rest) = url.split_once('@').unwrap();
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    format!("{user}@{addr}/{path}")
}
