//! Which cache a client or middleware uses: its own, or the installed one.

use http::{Request, Response};
use reqcache::bounds::{CacheableRequestBody, CacheableResponseBody, CacheableService};
use reqcache::global::InstalledCacheLayer;
use reqcache::{CacheBody, CacheHandle, CacheLayer};
use tower::{Layer, ServiceExt};

/// A cache of one's own, or whatever [`reqcache::global::current`] says at
/// each request.
#[derive(Debug, Clone)]
pub(crate) enum CacheChoice {
    Own(CacheLayer),
    Installed,
}

impl CacheChoice {
    /// The handle of the cache a request made here and now would use.
    pub(crate) fn cache(&self) -> Option<CacheHandle> {
        match self {
            CacheChoice::Own(layer) => Some(layer.cache().clone()),
            CacheChoice::Installed => {
                reqcache::global::current().map(|layer| layer.cache().clone())
            }
        }
    }

    /// Answers `request` through the chosen cache in front of `inner`.
    pub(crate) async fn call<S, ReqBody, ResBody>(
        &self,
        inner: S,
        request: Request<ReqBody>,
    ) -> Result<Response<CacheBody<ResBody>>, S::Error>
    where
        S: CacheableService<ReqBody, ResBody>,
        ReqBody: CacheableRequestBody,
        ResBody: CacheableResponseBody,
    {
        match self {
            CacheChoice::Own(layer) => layer.layer(inner).oneshot(request).await,
            CacheChoice::Installed => {
                InstalledCacheLayer::new()
                    .layer(inner)
                    .oneshot(request)
                    .await
            }
        }
    }
}
