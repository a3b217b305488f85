//! Encode and decode cost of each serializer (and of compression and
//! signing) on a small JSON API response and on a 1 MiB binary body.
//!
//! Run: `cargo bench --bench serializers`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use reqcache::storage::{CachedRequest, CachedResponse, Codec, Compression, Serializer};

fn response(body: Bytes, content_type: &'static str) -> CachedResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert("cache-control", HeaderValue::from_static("max-age=3600"));
    headers.insert(
        "etag",
        HeaderValue::from_static("\"33a64df551425fcc55e4d42a148795d9f25f89d4\""),
    );
    headers.insert(
        "date",
        HeaderValue::from_static("Thu, 26 Nov 2026 00:00:00 GMT"),
    );
    let mut request = CachedRequest::new(
        Method::GET,
        "https://api.example.com/v1/users/42?fields=all",
    );
    request
        .headers
        .insert("accept", HeaderValue::from_static("application/json"));
    CachedResponse::new(
        StatusCode::OK,
        headers,
        body,
        request,
        UNIX_EPOCH + Duration::from_secs(1_764_115_200),
    )
    .with_expires(Some(UNIX_EPOCH + Duration::from_secs(1_764_118_800)))
}

fn codecs() -> Vec<(String, Codec)> {
    let mut codecs: Vec<(String, Codec)> = Serializer::all()
        .iter()
        .map(|s| (s.name().to_owned(), Codec::new(*s)))
        .collect();
    codecs.push((
        "msgpack+zstd".into(),
        Codec::new(Serializer::MessagePack).compressed(Compression {
            level: 3,
            min_size: 0,
        }),
    ));
    codecs.push((
        "msgpack+hmac".into(),
        Codec::new(Serializer::MessagePack)
            .signed(b"a secret key of 32 bytes or so..".to_vec(), []),
    ));
    codecs
}

fn serializers(c: &mut Criterion) {
    let small = response(
        Bytes::from_static(br#"{"id":42,"name":"Ada Lovelace","email":"ada@example.com","roles":["admin","author"],"created":"2026-11-26T00:00:00Z","active":true,"profile":{"bio":"Mathematician and writer.","location":"London"}}"#),
        "application/json",
    );
    let pseudo_random: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let large = response(Bytes::from(pseudo_random), "application/octet-stream");
    for (label, entry) in [("small_json", &small), ("binary_1MiB", &large)] {
        let mut group = c.benchmark_group(format!("serializers/{label}"));
        group.throughput(Throughput::Bytes(entry.body.len() as u64));
        for (name, codec) in codecs() {
            let bytes = codec.encode(entry).unwrap();
            group.bench_with_input(BenchmarkId::new("encode", &name), entry, |b, entry| {
                b.iter(|| black_box(codec.encode(entry).unwrap()))
            });
            group.bench_with_input(BenchmarkId::new("decode", &name), &bytes, |b, bytes| {
                b.iter(|| black_box(codec.decode(bytes).unwrap()))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = serializers
}
criterion_main!(benches);
