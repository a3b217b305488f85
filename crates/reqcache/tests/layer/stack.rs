//! Composition with tower's timeout and retry layers, and readiness.

use std::future::Ready;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use reqcache::{CacheLayer, CacheOutcome, CacheStatus, ManualClock, MemoryStorage};
use tower::retry::Policy;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};

use crate::support::start;

/// Retries failed requests up to `left` more times.
#[derive(Clone)]
struct Attempts(usize);

impl<E> Policy<Request<Full<Bytes>>, Response<Full<Bytes>>, E> for Attempts {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _req: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<Full<Bytes>>, E>,
    ) -> Option<Self::Future> {
        if result.is_err() && self.0 > 0 {
            self.0 -= 1;
            Some(std::future::ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, req: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(req.body().clone());
        *clone.method_mut() = req.method().clone();
        *clone.uri_mut() = req.uri().clone();
        *clone.headers_mut() = req.headers().clone();
        Some(clone)
    }
}

/// Fails its first call, hangs on its third, answers otherwise.
fn unreliable(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = BoxError,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_req: Request<Full<Bytes>>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => Err::<Response<Full<Bytes>>, BoxError>("connection reset".into()),
                2 => {
                    std::future::pending::<()>().await;
                    unreachable!()
                }
                _ => Ok(Response::builder()
                    .header("cache-control", "max-age=10")
                    .body(Full::new(Bytes::from(format!("answer {n}"))))
                    .unwrap()),
            }
        }
    })
}

async fn send<S, B>(client: &mut S) -> Result<(CacheStatus, Bytes), BoxError>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = BoxError>,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let request = Request::get("http://e.com/").body(Full::default()).unwrap();
    let response = client.ready().await?.call(request).await?;
    let status = response.extensions().get::<CacheStatus>().unwrap().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, body))
}

#[tokio::test(start_paused = true)]
async fn works_in_a_stack_with_timeout_and_retry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(ManualClock::new(start()));
    let layer = CacheLayer::builder(MemoryStorage::new())
        .clock(Arc::clone(&clock))
        .stale_if_error(true)
        .build();
    // Cache outermost: hits skip the timeout and retry machinery entirely.
    let mut client = ServiceBuilder::new()
        .layer(layer)
        .timeout(Duration::from_secs(5))
        .retry(Attempts(1))
        .service(unreliable(Arc::clone(&calls)));
    // The first call fails, the retry layer retries, the answer is stored.
    let (status, body) = send(&mut client).await.unwrap();
    assert_eq!(body, "answer 1");
    assert_eq!(status.outcome(), CacheOutcome::Storing);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A hit does not reach the stack below.
    let (status, _) = send(&mut client).await.unwrap();
    assert!(status.from_cache());
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Expired; the upstream hangs; the timeout fires (in paused tokio time),
    // and the stale answer is served.
    clock.advance(Duration::from_secs(11));
    let (status, body) = send(&mut client).await.unwrap();
    assert_eq!(body, "answer 1");
    assert_eq!(status.outcome(), CacheOutcome::StaleOnError);
    assert!(status.is_expired());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn the_error_type_is_the_inner_services() {
    let calls = Arc::new(AtomicUsize::new(0));
    calls.store(2, Ordering::SeqCst); // the next call hangs
    let mut client = ServiceBuilder::new()
        .layer(CacheLayer::new(MemoryStorage::new()))
        .timeout(Duration::from_secs(1))
        .service(unreliable(calls));
    let request = Request::get("http://e.com/").body(Full::default()).unwrap();
    let error: BoxError = client
        .ready()
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>());
}

/// A service that remembers, per instance, whether it was polled ready.
#[derive(Default)]
struct ReadyTracking {
    ready: bool,
    wrong_instance: Arc<AtomicUsize>,
}

impl Clone for ReadyTracking {
    fn clone(&self) -> Self {
        Self {
            ready: false,
            wrong_instance: Arc::clone(&self.wrong_instance),
        }
    }
}

impl Service<Request<Full<Bytes>>> for ReadyTracking {
    type Response = Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Response<Full<Bytes>>, std::convert::Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<Full<Bytes>>) -> Self::Future {
        if !self.ready {
            self.wrong_instance.fetch_add(1, Ordering::SeqCst);
        }
        self.ready = false;
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

#[tokio::test]
async fn call_uses_the_instance_that_was_polled_ready() {
    let inner = ReadyTracking::default();
    let wrong = Arc::clone(&inner.wrong_instance);
    let mut service = ServiceBuilder::new()
        .layer(
            CacheLayer::builder(MemoryStorage::new())
                .expire_after(0)
                .build(),
        )
        .service(inner);
    for _ in 0..3 {
        let request = Request::get("http://e.com/").body(Full::default()).unwrap();
        service.ready().await.unwrap().call(request).await.unwrap();
    }
    assert_eq!(wrong.load(Ordering::SeqCst), 0);
}
