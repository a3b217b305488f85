//! Invalidation by unsafe methods (RFC 9111 section 4.4): after a
//! successful `POST`, `PUT`, `DELETE`, ... what is stored for its URL, and
//! for its `Location` and `Content-Location` on the same origin, is deleted;
//! and (RFC 9875 section 3) every response in the groups its
//! `Cache-Group-Invalidation` names, on its origin.

use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode, Uri, header};

use super::storage_calls;
use crate::policy::cache_groups::invalidated_groups;
use crate::runtime::Shared;
use crate::storage::group_id;

/// After an unsafe request: deletes the groups its response's
/// `Cache-Group-Invalidation` names (whatever the status: the origin sent
/// it), and, when it succeeded, what is stored for its URL and for its
/// `Location` and `Content-Location` on the same origin.
pub(super) async fn invalidate(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    status: StatusCode,
    headers: &HeaderMap,
) {
    invalidate_groups(shared, method, uri, headers).await;
    if !(status.is_success() || status.is_redirection()) {
        return;
    }
    let mut targets = vec![uri.clone()];
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        if let Some(location) = headers.get(name).and_then(|v| v.to_str().ok())
            && let Some(target) = resolve_same_origin(uri, location)
        {
            targets.push(target);
        }
    }
    for target in targets {
        let url = shared.settings.key.normalize.normalized_url(&target);
        // Bounded like every storage call; a failure is logged and counted.
        if let Some(deleted) = storage_calls::delete_url(shared, &url).await
            && deleted > 0
        {
            tracing::debug!(url, deleted, "reqcache: invalidated");
        }
    }
}

/// Deletes the groups a response to a `method` request on `uri` names in
/// its `Cache-Group-Invalidation` (none for a safe method), on the
/// request's origin. No cascade (RFC 9875 section 2.2).
pub(super) async fn invalidate_groups(
    shared: &Arc<Shared>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) {
    let groups = invalidated_groups(method, headers);
    if groups.is_empty() {
        return;
    }
    let url = shared.settings.key.normalize.normalized_url(uri);
    for name in groups {
        let group = group_id(&url, &name);
        if let Some(deleted) = storage_calls::delete_group(shared, &group).await {
            tracing::debug!(group, deleted, "reqcache: group invalidated");
        }
    }
}

/// `location` resolved against `base`, if it is on the same origin.
fn resolve_same_origin(base: &Uri, location: &str) -> Option<Uri> {
    let location: Uri = location.trim().parse().ok()?;
    if location.scheme().is_none() && location.authority().is_none() {
        // A path: on the base's origin.
        let mut parts = base.clone().into_parts();
        parts.path_and_query = location.path_and_query().cloned();
        return Uri::from_parts(parts).ok();
    }
    let same = location.scheme_str().map(str::to_ascii_lowercase)
        == base.scheme_str().map(str::to_ascii_lowercase)
        && location.host().map(str::to_ascii_lowercase) == base.host().map(str::to_ascii_lowercase)
        && location.port_u16() == base.port_u16();
    same.then_some(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_only_on_the_same_origin() {
        let base: Uri = "https://api.example.com/items".parse().unwrap();
        assert_eq!(
            resolve_same_origin(&base, "/items/7").unwrap(),
            "https://api.example.com/items/7"
        );
        assert_eq!(
            resolve_same_origin(&base, "https://API.example.com/x").unwrap(),
            "https://API.example.com/x"
        );
        assert!(resolve_same_origin(&base, "https://evil.example.com/items").is_none());
        assert!(resolve_same_origin(&base, "http://api.example.com/items").is_none());
        assert!(resolve_same_origin(&base, "not a uri at all").is_none());
    }
}
