//! Property test: any response round-trips through every serializer, and
//! through compression and signing, byte for byte and header for header.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use proptest::prelude::*;
use reqcache::storage::backend::{Alias, StoredRecord, VaryIndex};
use reqcache::storage::{CachedRequest, CachedResponse, Codec, Serializer};

fn header_map() -> impl Strategy<Value = HeaderMap> {
    // Names: tokens; values: any bytes a header value may hold, UTF-8 or not.
    let value = prop::collection::vec(
        prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
        0..40,
    );
    prop::collection::vec(("[a-z][a-z0-9-]{0,15}", value), 0..12).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) else {
                continue;
            };
            map.append(name, value);
        }
        map
    })
}

fn time() -> impl Strategy<Value = std::time::SystemTime> {
    (0u64..4_000_000_000, 0u32..1_000_000_000).prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n))
}

fn entry() -> impl Strategy<Value = CachedResponse> {
    (
        100u16..=999,
        prop::sample::select(vec![
            Version::HTTP_09,
            Version::HTTP_10,
            Version::HTTP_11,
            Version::HTTP_2,
            Version::HTTP_3,
        ]),
        header_map(),
        prop::collection::vec(any::<u8>(), 0..4096),
        prop::sample::select(vec![
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ]),
        ".{0,60}",
        header_map(),
        prop::collection::vec(any::<u8>(), 0..256),
        (time(), prop::option::of(time()), prop::option::of(time())),
        (any::<bool>(), prop::collection::vec(".{0,40}", 0..4)),
    )
        .prop_map(
            |(
                status,
                version,
                headers,
                body,
                method,
                url,
                request_headers,
                request_body,
                times,
                (redacted, groups),
            )| {
                let mut request = CachedRequest::new(method, url);
                request.headers = request_headers;
                request.body = Bytes::from(request_body);
                request.redacted = redacted;
                CachedResponse {
                    status: StatusCode::from_u16(status).unwrap(),
                    version,
                    headers,
                    body: Bytes::from(body),
                    request,
                    created_at: times.0,
                    expires: times.1,
                    retain_until: times.2,
                    stored_body: None,
                    groups,
                }
            },
        )
}

#[allow(unused_mut)] // mutated only with the compression or signing feature
fn codecs() -> Vec<Codec> {
    let mut codecs: Vec<Codec> = Serializer::all().iter().map(|s| Codec::new(*s)).collect();
    #[cfg(feature = "compression")]
    codecs.push(
        Codec::new(Serializer::Json).compressed(reqcache::storage::Compression {
            level: 1,
            min_size: 0,
        }),
    );
    #[cfg(feature = "signing")]
    codecs.push(Codec::new(Serializer::MessagePack).signed(b"k".to_vec(), []));
    codecs
}

fn in_order(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_codec_round_trips_any_response(entry in entry()) {
        for codec in codecs() {
            let bytes = codec.encode(&entry).unwrap();
            let back = codec.decode(&bytes).unwrap();
            prop_assert_eq!(&back, &entry, "{:?}", codec);
            prop_assert_eq!(in_order(&back.headers), in_order(&entry.headers));
            prop_assert_eq!(in_order(&back.request.headers), in_order(&entry.request.headers));
        }
    }

    #[test]
    fn every_codec_round_trips_aliases_and_vary_indexes(entry in entry(), target in "[0-9a-f]{32}") {
        let names = vec![http::header::ACCEPT_ENCODING, http::header::ACCEPT_LANGUAGE];
        let records = [
            StoredRecord::from(Alias::new(target, entry.request.clone(), names.clone(), &entry)),
            StoredRecord::from(VaryIndex::new(names, &entry)),
        ];
        for codec in codecs() {
            for record in &records {
                let bytes = codec.encode_record(record).unwrap();
                let back = codec.decode_record(&bytes).unwrap();
                prop_assert_eq!(&back, record, "{:?}", codec);
                prop_assert!(codec.decode(&bytes).is_err(), "not a response");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_codec(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for codec in codecs() {
            let _ = codec.decode(&bytes);
        }
    }
}
