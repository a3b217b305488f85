//! Cache group ids: a group's name scoped to the origin of the responses
//! in it (RFC 9875 section 2.1: two responses share a group when they name
//! the same string, compared case-sensitively, and share an origin).

use http::Uri;

/// The id under which storages index the group `name` of the response to
/// `url`: its origin, a space, then the name as it was sent
/// (`"https://example.com product-42"`). An origin holds no space, so the
/// first space splits the two.
///
/// The origin is the URL's scheme and host in lowercase, and its port
/// unless it is the scheme's default; a URL without one (the origin-form
/// path a layer in front of a router sees) has the empty origin, so its
/// groups are shared by every such URL.
///
/// ```
/// use reqcache::storage::group_id;
///
/// assert_eq!(group_id("https://Example.com:443/a?b", "news"), "https://example.com news");
/// assert_eq!(group_id("http://example.com:8080/", "a b"), "http://example.com:8080 a b");
/// assert_eq!(group_id("/local/path", "news"), " news");
/// ```
pub fn group_id(url: &str, name: &str) -> String {
    let mut id = origin_of(url);
    id.push(' ');
    id.push_str(name);
    id
}

/// The origin of `url` as [`group_id`] writes it: `scheme://host[:port]`,
/// empty for a URL without a scheme and host.
///
/// ```
/// use reqcache::storage::origin_of;
///
/// assert_eq!(origin_of("HTTPS://API.example.com/x"), "https://api.example.com");
/// assert_eq!(origin_of("https://example.com:8443"), "https://example.com:8443");
/// assert_eq!(origin_of("/x"), "");
/// ```
pub fn origin_of(url: &str) -> String {
    let Ok(uri) = url.parse::<Uri>() else {
        return String::new();
    };
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return String::new();
    };
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let host = host.to_ascii_lowercase();
    match uri.port_u16() {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_same_id_and_names_compare_exactly() {
        assert_eq!(
            group_id("https://example.com/a", "g"),
            group_id("https://EXAMPLE.com:443/b?c", "g")
        );
        assert_ne!(
            group_id("https://example.com/a", "g"),
            group_id("https://example.com/a", "G")
        );
        assert_ne!(
            group_id("https://example.com/", "g"),
            group_id("http://example.com/", "g")
        );
        assert_ne!(
            group_id("https://example.com/", "g"),
            group_id("https://example.com:8443/", "g")
        );
        assert_ne!(
            group_id("https://a.example.com/", "g"),
            group_id("https://example.com/", "g")
        );
        assert_eq!(origin_of("not a url at all"), "");
    }
}
