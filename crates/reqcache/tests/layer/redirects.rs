//! Responses reached through redirects: stored under the final URL, with an
//! alias for the original one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, MemoryStorage};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::follow_redirect::FollowRedirectLayer;

#[tokio::test]
async fn a_redirected_request_hits_the_final_urls_entry_and_the_alias_goes_with_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let upstream = tower::service_fn(move |request: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let response = match request.uri().path() {
            "/old" => Response::builder()
                .status(301)
                .header("location", "http://e.com/new")
                .body(Full::default()),
            path => Response::builder().body(Full::new(Bytes::from(format!("content of {path}")))),
        };
        async move { Ok::<_, std::convert::Infallible>(response.unwrap()) }
    });
    let layer = CacheLayer::new(MemoryStorage::new());
    let cache = layer.cache().clone();
    let service = ServiceBuilder::new()
        .layer(layer)
        .layer(FollowRedirectLayer::new())
        .service(upstream);
    let send = |url: &'static str| {
        let service = service.clone();
        async move {
            let request = Request::get(url).body(Full::default()).unwrap();
            let response = service.oneshot(request).await.unwrap();
            let status = response.extensions().get::<CacheStatus>().unwrap().clone();
            (
                status,
                response.into_body().collect().await.unwrap().to_bytes(),
            )
        }
    };

    let (status, body) = send("http://e.com/old").await;
    assert_eq!(status.outcome(), CacheOutcome::Storing);
    assert_eq!(body, "content of /new");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the redirect and the final request"
    );

    let (status, body) = send("http://e.com/old").await;
    assert!(
        status.from_cache(),
        "the original URL hits through its alias"
    );
    assert_eq!(body, "content of /new");
    let (status, _) = send("http://e.com/new").await;
    assert!(status.from_cache(), "the final URL hits directly");
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // The entry is stored once, under the final URL; the alias is listed too.
    let mut urls: Vec<String> = cache
        .entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.url)
        .collect();
    urls.sort();
    assert_eq!(urls, ["http://e.com/new", "http://e.com/old"]);

    // When the target goes, the alias is pruned on its next use.
    cache.delete_url("http://e.com/new").await.unwrap();
    let (status, _) = send("http://e.com/old").await;
    assert!(!status.from_cache());
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}
