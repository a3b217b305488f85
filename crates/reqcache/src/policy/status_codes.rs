//! What the cache knows of status codes: which it understands, which may be
//! given heuristic freshness, and which an HTTP cache may store.

use http::StatusCode;

/// Statuses whose responses may be given heuristic freshness, and stored
/// without explicit freshness (RFC 9110 section 15.1).
pub(crate) fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Statuses whose semantics the cache knows: those RFC 9110 defines. A
/// response with `must-understand` is stored only with one of them (RFC 9111
/// section 5.2.2.3).
pub(crate) fn understood(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200..=206 | 300..=305 | 307 | 308 | 400..=417 | 421 | 422 | 426 | 500..=505
    )
}

/// Every final status an HTTP cache may store when the response's headers
/// allow it (RFC 9111 section 3): 200 to 599. Partial content (206) and
/// `304` are never stored as full responses, whatever this list says.
pub(crate) fn http_storable() -> Vec<StatusCode> {
    (200..=599)
        .filter_map(|code| StatusCode::from_u16(code).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_agree_with_rfc_9110() {
        let code = |n| StatusCode::from_u16(n).unwrap();
        assert!(heuristically_cacheable(code(404)) && !heuristically_cacheable(code(302)));
        assert!(understood(code(200)) && understood(code(307)) && !understood(code(599)));
        assert!(!understood(code(306)));
        let storable = http_storable();
        assert_eq!(storable.len(), 400);
        assert!(storable.contains(&code(599)) && !storable.contains(&code(103)));
    }
}
