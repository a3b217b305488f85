//! What is particular to the filesystem: readable files, atomic writes,
//! crashes, serializer switches, signatures, foreign files.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqcache::storage::Encoded;
use reqcache::storage::{Codec, Serializer, Storage};
use reqcache_fs::FileStorage;
use reqcache_test::{
    entries_around_retention, past_retention_by_the_real_clock, sample_entry, t0, yield_until,
};

async fn storage(dir: &std::path::Path, codec: impl Into<Codec>) -> Encoded<FileStorage> {
    let files = FileStorage::open(dir.join("cache")).await.unwrap();
    Encoded::new(files, codec)
}

#[tokio::test]
async fn a_json_cache_can_be_read_and_edited_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path(), Serializer::Json).await;
    storage
        .put(
            "k",
            Arc::new(sample_entry(
                "https://example.com/",
                &b"{\"greeting\": \"hello\"}"[..],
            )),
        )
        .await
        .unwrap();
    let path = storage.store().path_of("k").unwrap();
    assert_eq!(path.extension().unwrap(), "json");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"reqcache_format\": 1"), "{text}");
    assert!(
        text.contains("hello"),
        "text bodies are stored as text: {text}"
    );
    std::fs::write(&path, text.replace("hello", "edited")).unwrap();
    let entry = storage.get("k", t0()).await.unwrap().unwrap();
    assert_eq!(entry.body, "{\"greeting\": \"edited\"}");
}

#[tokio::test]
async fn a_writer_killed_mid_write_leaves_the_old_entry_whole() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path(), Serializer::MessagePack).await;
    storage
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", vec![1u8; 10_000])),
        )
        .await
        .unwrap();

    // A writer killed before its rename: half a new file under a temporary name.
    let new = Codec::new(Serializer::MessagePack)
        .encode(&sample_entry("https://example.com/", vec![2u8; 10_000]))
        .unwrap();
    let name = storage
        .store()
        .path_of("k")
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let temp = storage.store().dir().join(format!(".tmp-{name}-99999-0"));
    std::fs::write(&temp, &new[..new.len() / 2]).unwrap();

    let entry = storage.get("k", t0()).await.unwrap().unwrap();
    assert!(entry.body.iter().all(|&b| b == 1), "the old entry, whole");
    assert_eq!(
        storage.len().await.unwrap(),
        1,
        "temporary files are not entries"
    );

    // Left over by a crash an hour ago: remove_expired cleans it up.
    let file = std::fs::File::options().write(true).open(&temp).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    drop(file);
    storage.remove_expired(t0()).await.unwrap();
    assert!(!temp.exists());
    assert!(storage.get("k", t0()).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_readers_never_see_a_torn_entry() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path(), Serializer::MessagePack).await;
    let mut tasks = Vec::new();
    for writer in 0..6u8 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let body = Bytes::from(vec![writer; 64 * 1024]);
                storage
                    .put(
                        "shared",
                        Arc::new(sample_entry("https://example.com/", body)),
                    )
                    .await
                    .unwrap();
                if let Some(entry) = storage.get("shared", t0()).await.unwrap() {
                    let first = entry.body[0];
                    assert!(entry.body.iter().all(|&b| b == first), "torn entry");
                    assert_eq!(entry.body.len(), 64 * 1024);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(storage.len().await.unwrap(), 1);
}

#[tokio::test]
async fn switching_serializers_keeps_entries_readable() {
    let dir = tempfile::tempdir().unwrap();
    let json = storage(dir.path(), Serializer::Json).await;
    json.put(
        "k",
        Arc::new(sample_entry("https://example.com/", &b"x"[..])),
    )
    .await
    .unwrap();
    let msgpack = storage(dir.path(), Serializer::MessagePack).await;
    assert!(
        msgpack.get("k", t0()).await.unwrap().is_some(),
        "the JSON file is found"
    );
    msgpack
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", &b"y"[..])),
        )
        .await
        .unwrap();
    let names: Vec<String> = std::fs::read_dir(msgpack.store().dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "url-index" && name != ".reqcache-usage")
        .collect();
    assert_eq!(names.len(), 2, "one entry file and its metadata: {names:?}");
    assert!(names.iter().any(|n| n.ends_with(".msgpack")));
}

#[tokio::test]
async fn a_tampered_signed_file_is_a_miss_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let codec = Codec::new(Serializer::Json).signed(b"key".to_vec(), []);
    let storage = storage(dir.path(), codec).await;
    storage
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", &b"original"[..])),
        )
        .await
        .unwrap();
    let path = storage.store().path_of("k").unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes).replace("original", "tampered");
    std::fs::write(&path, text.as_bytes()).unwrap();
    assert!(storage.get("k", t0()).await.unwrap().is_none());
    assert!(!path.exists());
    assert_eq!(storage.len().await.unwrap(), 0);
}

#[tokio::test]
async fn clear_leaves_foreign_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path(), Serializer::Json).await;
    storage
        .put(
            "k",
            Arc::new(sample_entry("https://example.com/", &b"x"[..])),
        )
        .await
        .unwrap();
    let foreign = storage.store().dir().join("notes.json");
    std::fs::write(&foreign, "mine").unwrap();
    storage.clear().await.unwrap();
    assert!(foreign.exists());
    assert_eq!(storage.len().await.unwrap(), 0);
    assert!(storage.store().path_of("k").is_none());
}

#[tokio::test]
async fn use_cache_dir_puts_the_cache_in_the_users_cache_directory() {
    let name = format!("reqcache-test-{}", std::process::id());
    let storage = FileStorage::builder(&name)
        .use_cache_dir(true)
        .open()
        .await
        .unwrap();
    assert_eq!(storage.dir(), dirs::cache_dir().unwrap().join(&name));
    std::fs::remove_dir_all(storage.dir()).unwrap();
}

/// The markers of the URL index, as (URL hash directory, entry stem) pairs.
fn markers(cache: &std::path::Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Ok(dirs) = std::fs::read_dir(cache.join("url-index")) else {
        return found;
    };
    for dir in dirs {
        let dir = dir.unwrap();
        for marker in std::fs::read_dir(dir.path()).unwrap() {
            found.push((
                dir.file_name().into_string().unwrap(),
                marker.unwrap().file_name().into_string().unwrap(),
            ));
        }
    }
    found.sort();
    found
}

/// Two entries for `https://e.com/a` (keys a1, a2), one for `.../b` (key b).
async fn put_two_urls(storage: &dyn Storage) {
    for (key, url) in [
        ("a1", "https://e.com/a"),
        ("a2", "https://e.com/a"),
        ("b", "https://e.com/b"),
    ] {
        storage
            .put(key, Arc::new(sample_entry(url, &b"x"[..])))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn delete_url_reads_the_url_index_and_keeps_it_tidy() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path(), Serializer::MessagePack).await;
    let cache = dir.path().join("cache");
    put_two_urls(&storage).await;
    assert_eq!(markers(&cache).len(), 3);

    assert!(storage.delete("b").await.unwrap());
    assert_eq!(markers(&cache).len(), 2, "delete removes the marker");
    assert_eq!(storage.delete_url("https://e.com/a").await.unwrap(), 2);
    assert_eq!(storage.delete_url("https://e.com/a").await.unwrap(), 0);
    assert!(markers(&cache).is_empty());
    assert_eq!(storage.len().await.unwrap(), 0);

    storage
        .put("c", Arc::new(sample_entry("https://e.com/c", &b"x"[..])))
        .await
        .unwrap();
    storage.clear().await.unwrap();
    assert!(markers(&cache).is_empty(), "clear empties the index");
    assert!(cache.join("url-index").is_dir());
    storage
        .put("c", Arc::new(sample_entry("https://e.com/c", &b"x"[..])))
        .await
        .unwrap();
    assert_eq!(
        storage
            .remove_expired(t0() + Duration::from_secs(86_400 * 365))
            .await
            .unwrap(),
        1
    );
    assert!(markers(&cache).is_empty(), "remove_expired removes markers");
}

#[tokio::test]
async fn a_cache_written_before_the_index_gets_one_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    {
        let storage = storage(dir.path(), Serializer::MessagePack).await;
        put_two_urls(&storage).await;
    }
    // As an earlier version left it: entries and sidecars, no index.
    std::fs::remove_dir_all(cache.join("url-index")).unwrap();

    let reopened = storage(dir.path(), Serializer::MessagePack).await;
    assert_eq!(markers(&cache).len(), 3);
    assert_eq!(reopened.delete_url("https://e.com/a").await.unwrap(), 2);
    assert_eq!(reopened.len().await.unwrap(), 1);
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn delete_url_removes_an_entry_a_crash_left_without_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path(), Serializer::MessagePack).await;
    let cache = dir.path().join("cache");
    storage
        .put("k", Arc::new(sample_entry("https://e.com/k", &b"x"[..])))
        .await
        .unwrap();
    // A crash between the entry and its sidecar.
    let meta = storage.store().path_of("k").unwrap().with_extension("meta");
    std::fs::remove_file(&meta).unwrap();
    assert!(storage.store().path_of("k").is_some());

    assert_eq!(
        storage.delete_url("https://e.com/k").await.unwrap(),
        0,
        "it was never listed"
    );
    assert!(
        storage.store().path_of("k").is_none(),
        "but its file is gone"
    );
    assert!(markers(&cache).is_empty());
}

#[tokio::test]
async fn a_sweep_deletes_entries_past_retention_and_old_temporaries_only() {
    let dir = tempfile::tempdir().unwrap();
    let files = FileStorage::builder(dir.path().join("cache"))
        .sweep_interval(None)
        .open()
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    for (key, entry) in entries_around_retention() {
        files.put(key, Arc::new(entry)).await.unwrap();
    }
    // Temporaries a killed writer left: one two hours old, one fresh (a
    // write that may still be running).
    let cache = dir.path().join("cache");
    let old = cache.join(".tmp-killed-writer");
    let young = cache.join(".tmp-running-writer");
    for path in [&old, &young] {
        std::fs::write(path, b"half").unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - 2 * hour)
        .unwrap();

    assert_eq!(files.sweep(t0() + 2 * hour).await.unwrap(), 2);
    assert!(
        !files.contains("default", t0()).await.unwrap(),
        "no retention: an hour past expiry"
    );
    assert!(!files.contains("gone", t0()).await.unwrap());
    assert!(files.get("stale", t0() + 2 * hour).await.unwrap().is_some());
    assert!(
        files
            .get("forever", t0() + 2 * hour)
            .await
            .unwrap()
            .is_some()
    );
    assert!(!old.exists(), "an hour-old temporary goes");
    assert!(young.exists(), "a fresh one may be a write in progress");
    assert_eq!(files.sweep(t0() + 2 * hour).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_background_sweeper_deletes_entries_past_retention_after_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let interval = Duration::from_secs(600);
    // Past retention by the real clock, which the sweeper reads; written
    // through a handle without a sweeper.
    let entry = past_retention_by_the_real_clock("https://example.com/old");
    let writer = FileStorage::builder(dir.path().join("cache"))
        .sweep_interval(None)
        .open()
        .await
        .unwrap();
    writer.put("old", Arc::new(entry)).await.unwrap();
    let sweeping = FileStorage::builder(dir.path().join("cache"))
        .sweep_interval(Some(interval))
        .open()
        .await
        .unwrap();
    tokio::time::advance(interval).await;
    // The sweep runs on the blocking pool: wait for its work, not for time.
    yield_until("the sweeper never deleted the entry", || async {
        writer.path_of("old").is_none()
    })
    .await;
    drop(sweeping);
}

/// A group marker whose entry never came (a crash between the two), or
/// whose entry is no longer in the group, goes with the sweep once an hour
/// old; the markers of the entries in the group stay, however old.
#[tokio::test]
async fn the_sweep_removes_stale_group_markers_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let storage = FileStorage::builder(dir.path().join("cache"))
        .sweep_interval(None)
        .open()
        .await
        .unwrap();
    let group = reqcache::storage::group_id("https://example.com", "g");
    let entry = reqcache_test::sample_entry("https://example.com/a", &b"x"[..])
        .with_groups(vec![group.clone()]);
    storage.put("a", Arc::new(entry)).await.unwrap();
    let hash = |name: &str| blake3::hash(name.as_bytes()).to_hex()[..32].to_string();
    let group_dir = storage.dir().join("group-index").join(hash(&group));
    let other_dir = storage
        .dir()
        .join("group-index")
        .join(hash("https://example.com h"));
    std::fs::create_dir_all(&other_dir).unwrap();
    let ghost = group_dir.join("0123456789abcdef0123456789abcdef");
    let left = other_dir.join(hash("a"));
    let kept = group_dir.join(hash("a"));
    let hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
    for marker in [&ghost, &left, &kept] {
        let file = std::fs::File::create(marker).unwrap();
        file.set_modified(hours_ago).unwrap();
    }
    let fresh_ghost = group_dir.join("fedcba9876543210fedcba9876543210");
    std::fs::File::create(&fresh_ghost).unwrap();

    storage.sweep(SystemTime::now()).await.unwrap();
    assert!(!ghost.exists(), "an old marker of no entry");
    assert!(!left.exists(), "an old marker of a group its entry left");
    assert!(!other_dir.exists(), "an emptied group's folder");
    assert!(kept.exists(), "the marker of an entry in the group");
    assert!(
        fresh_ghost.exists(),
        "a marker within the grace: a write may be under way"
    );
    assert_eq!(storage.group_keys(&group).await.unwrap(), ["a"]);
}
