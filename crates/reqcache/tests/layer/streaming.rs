//! Bodies: the buffering limit, streaming through, and body errors.

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use reqcache::CacheOutcome;
use tower::{Service, ServiceExt};

use crate::support::*;

fn chunks(n: usize, size: usize) -> Vec<Bytes> {
    (0..n)
        .map(|i| Bytes::from(vec![b'a' + i as u8; size]))
        .collect()
}

#[tokio::test]
async fn a_body_over_the_limit_streams_through_intact_and_uncached() {
    let upstream = Upstream::new(|_, _| {
        let mut r = response(200, &[], "");
        *r.body_mut() = TestBody::chunks(chunks(10, 100));
        Ok(r)
    });
    let mut h = Harness::new(upstream, |b| b.max_body_size(250));
    let expected: Vec<u8> = chunks(10, 100).concat();
    for _ in 0..2 {
        let r = h.get("http://e.com/big").await;
        assert_eq!(r.body, expected);
        assert_eq!(r.cache.outcome(), CacheOutcome::NotStored);
    }
    assert_eq!(h.calls(), 2);
    assert_eq!(h.cache().len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_body_within_the_limit_is_cached_whole() {
    let upstream = Upstream::new(|_, _| {
        let mut r = response(200, &[], "");
        *r.body_mut() = TestBody::chunks(chunks(3, 100));
        Ok(r)
    });
    let mut h = Harness::new(upstream, |b| b.max_body_size(300));
    h.get("http://e.com/").await;
    let hit = h.get("http://e.com/").await;
    assert!(hit.cache.from_cache());
    assert_eq!(hit.body, chunks(3, 100).concat());
}

#[tokio::test]
async fn a_body_that_fails_midway_is_not_cached_and_the_error_reaches_the_client() {
    let upstream = Upstream::new(|_, _| {
        let mut r = response(200, &[], "");
        *r.body_mut() = TestBody::failing_after(chunks(2, 10), UpstreamError("reset"));
        Ok(r)
    });
    let mut h = Harness::new(upstream, |b| b);
    let response = h
        .service
        .ready()
        .await
        .unwrap()
        .call(get("http://e.com/"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let mut received = Vec::new();
    let error = loop {
        match body.frame().await {
            Some(Ok(frame)) => received.extend_from_slice(&frame.into_data().unwrap()),
            Some(Err(error)) => break error,
            None => panic!("the body error was swallowed"),
        }
    };
    assert_eq!(
        error.downcast_ref::<UpstreamError>(),
        Some(&UpstreamError("reset")),
        "the upstream error, boxed"
    );
    assert_eq!(received, chunks(2, 10).concat());
    assert!(body.is_end_stream());
    assert_eq!(h.cache().len().await.unwrap(), 0);
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_not_read_at_all() {
    let upstream = Upstream::new(|_, _| {
        let mut r = response(200, &[], "");
        *r.body_mut() = TestBody::chunks(chunks(1, 1000));
        Ok(r)
    });
    let mut h = Harness::new(upstream, |b| b.max_body_size(10));
    let response = h
        .service
        .ready()
        .await
        .unwrap()
        .call(get("http://e.com/"))
        .await
        .unwrap();
    assert_eq!(response.body().size_hint().exact(), Some(1000));
    assert!(!response.body().is_cached());
}
