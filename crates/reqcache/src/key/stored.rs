//! The request as stored beside its response: its URL, headers and body
//! normalized, without ignored or redacted parameters and headers.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use super::normalize::{Normalizer, Use};
use crate::storage::CachedRequest;

impl Normalizer {
    /// The request as stored: normalized URL, and headers and body without
    /// ignored or redacted parameters; `redacted` says whether any were.
    pub(crate) fn stored_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> CachedRequest {
        let mut removed = false;
        let mut stored_headers = HeaderMap::with_capacity(headers.len());
        for (name, value) in headers {
            if self.is_redacted_header(name) {
                removed = true;
            } else if !self.ignored.has_header(name) {
                stored_headers.append(name.clone(), value.clone());
            }
        }
        let url = self.stored_url(uri, &mut removed);
        let body = match self.normalized_body(headers, body, Use::Store, &mut removed) {
            Cow::Borrowed(_) => body.clone(),
            Cow::Owned(normalized) => Bytes::from(normalized),
        };
        CachedRequest {
            method: method.clone(),
            url,
            headers: stored_headers,
            body,
            redacted: removed,
        }
    }
}
