//! Where bodies belong in chunks (issue 28, item 1): a hit's storage reads
//! on SQLite for a body of 256 KiB to 16 MiB, kept in one value with its
//! record (`Storage::get`: one read, one decode) or in chunks of 256 KiB
//! (`get` of the record, then every chunk read in order, as a hit streams
//! them), in the same run.
//!
//! Run: `cargo bench --bench chunked_threshold`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use reqcache::storage::backend::{BodyRef, ChunkStore};
use reqcache::storage::{CachedRequest, CachedResponse, Storage};
use reqcache_sqlite::SqliteStorage;

const SIZES: [usize; 4] = [256 << 10, 1 << 20, 4 << 20, 16 << 20];

fn entry(body: Bytes) -> CachedResponse {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/octet-stream".parse().unwrap());
    CachedResponse::new(
        http::StatusCode::OK,
        headers,
        body,
        CachedRequest::new(http::Method::GET, "https://example.com/big"),
        SystemTime::now(),
    )
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = runtime.block_on(async {
        SqliteStorage::builder(dir.path().join("c"))
            .max_size(4 << 30)
            .open()
            .await
            .unwrap()
    });
    let chunk_size = reqcache_sqlite::CHUNK_SIZE;
    let mut group = c.benchmark_group("chunked_threshold");
    for size in SIZES {
        let body = Bytes::from(vec![7u8; size]);
        let one = format!("one-{size}");
        let chunked = format!("chunked-{size}");
        let id = format!("0{size:x}");
        runtime.block_on(async {
            storage
                .put(&one, Arc::new(entry(body.clone())))
                .await
                .unwrap();
            for (index, chunk) in body.chunks(chunk_size as usize).enumerate() {
                storage
                    .write_chunk(&id, index as u64, Bytes::copy_from_slice(chunk))
                    .await
                    .unwrap();
            }
            let mut head = entry(Bytes::new());
            head.stored_body = Some(BodyRef::new(id.clone(), size as u64, chunk_size));
            storage.put(&chunked, Arc::new(head)).await.unwrap();
        });
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("one_value", size), &one, |b, key| {
            b.iter(|| {
                runtime.block_on(async {
                    let entry = storage.get(key, SystemTime::now()).await.unwrap().unwrap();
                    black_box(entry.body.len())
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("chunks", size), &chunked, |b, key| {
            b.iter(|| {
                runtime.block_on(async {
                    let entry = storage.get(key, SystemTime::now()).await.unwrap().unwrap();
                    let body = entry.stored_body.as_ref().unwrap();
                    let mut read = 0;
                    for index in 0..body.chunks() {
                        read += storage
                            .read_chunk(&body.id, index)
                            .await
                            .unwrap()
                            .unwrap()
                            .len();
                    }
                    black_box(read)
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
