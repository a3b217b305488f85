//! The storage conformance suite, on a real SQLite file.

use reqcache_sqlite::SqliteStorage;

use tempfile::TempDir;

/// The storage, and its folder, deleted when the test ends.
async fn make() -> Option<(SqliteStorage, TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(dir.path().join("conformance/cache"))
        .await
        .expect("open failed");
    Some((storage, dir))
}

async fn write_raw((storage, _): &(SqliteStorage, TempDir), key: &str, bytes: Vec<u8>) {
    let sql = format!(
        "INSERT OR REPLACE INTO {} (key, method, url, status, size, created_at, value) \
         VALUES (?1, 'GET', 'https://example.com/', 200, 1, 0, ?2)",
        storage.table()
    );
    let key = key.to_owned();
    storage
        .with_connection(move |c| c.execute(&sql, rusqlite::params![key, bytes]).map(drop))
        .await
        .unwrap();
}

reqcache_test::conformance_tests!(make, write_raw);
