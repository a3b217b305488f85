//! The storage conformance suite on FileStorage, with every serializer, and
//! with compression and signing.

use reqcache::storage::Encoded;
use reqcache::storage::{Codec, Compression, Serializer, Storage};
use reqcache_fs::FileStorage;
use tempfile::TempDir;

type Fixture = (Encoded<FileStorage>, TempDir);

async fn make(codec: Codec) -> Option<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let files = FileStorage::open(dir.path().join("cache"))
        .await
        .expect("open failed");
    Some((Encoded::new(files, codec), dir))
}

async fn msgpack() -> Option<Fixture> {
    make(Codec::new(Serializer::MessagePack)).await
}
async fn json() -> Option<Fixture> {
    make(Codec::new(Serializer::Json)).await
}
async fn yaml() -> Option<Fixture> {
    make(Codec::new(Serializer::Yaml)).await
}
async fn bson() -> Option<Fixture> {
    make(Codec::new(Serializer::Bson)).await
}
async fn compressed_and_signed() -> Option<Fixture> {
    make(
        Codec::new(Serializer::Json)
            .compressed(Compression {
                level: 3,
                min_size: 64,
            })
            .signed(b"secret".to_vec(), []),
    )
    .await
}

/// Stores a real entry for its metadata, then overwrites its file.
async fn write_raw((storage, _): &Fixture, key: &str, bytes: Vec<u8>) {
    let entry = reqcache_test::sample_entry("https://example.com/raw", &b"x"[..]);
    storage.put(key, std::sync::Arc::new(entry)).await.unwrap();
    std::fs::write(storage.store().path_of(key).unwrap(), bytes).unwrap();
}

reqcache_test::conformance_tests!(msgpack_conformance = msgpack, write_raw);
reqcache_test::conformance_tests!(json_conformance = json, write_raw);
reqcache_test::conformance_tests!(yaml_conformance = yaml, write_raw);
reqcache_test::conformance_tests!(bson_conformance = bson, write_raw);
reqcache_test::conformance_tests!(
    compressed_signed_conformance = compressed_and_signed,
    write_raw
);
