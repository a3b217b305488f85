//! RFC 9111 freshness: a response's age when received, its freshness
//! lifetime, and heuristic freshness.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header};

use crate::cache_control::{CacheControl, parse_delta_seconds};

/// Whether the cache serves one user (a client's cache) or many (a proxy).
///
/// # Example
/// ```
/// use reqcache::{CacheLayer, CacheMode, MemoryStorage};
///
/// let proxy_cache = CacheLayer::builder(MemoryStorage::new())
///     .mode(CacheMode::Shared)
///     .build();
/// # let _ = proxy_cache;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheMode {
    /// A private cache, like a browser's (the default): `s-maxage` is ignored,
    /// `private` responses are stored.
    #[default]
    Private,
    /// A shared cache, like a proxy's: `s-maxage` wins over `max-age`,
    /// `private` responses are not stored, `proxy-revalidate` counts as
    /// `must-revalidate`, and responses to requests with `Authorization` are
    /// stored only when the response allows it (`public`, `s-maxage` or
    /// `must-revalidate`).
    Shared,
}

/// Heuristic freshness for responses without explicit freshness (RFC 9111
/// section 4.2.2): a fraction of the time since `Last-Modified`, capped.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache::Heuristic;
///
/// let heuristic = Heuristic::default(); // 10%, at most one day
/// assert_eq!(heuristic.fraction, 0.1);
/// let strict = Heuristic { fraction: 0.05, max: Duration::from_secs(3600) };
/// # let _ = strict;
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heuristic {
    /// The fraction of the time since `Last-Modified` (RFC 9111 suggests 10%).
    pub fraction: f64,
    /// The longest heuristic lifetime.
    pub max: Duration,
}

impl Default for Heuristic {
    fn default() -> Self {
        Self {
            fraction: 0.1,
            max: Duration::from_secs(86_400),
        }
    }
}

/// Statuses whose responses may be given heuristic freshness (RFC 9110
/// section 15.1).
fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

fn http_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    let text = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(text.trim()).ok()
}

/// The response's age when it was received (RFC 9111 section 4.2.3:
/// `corrected_initial_age`), from its `Date` and `Age` headers and the time
/// the request took.
pub(crate) fn initial_age(
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Duration {
    let date = http_date(headers, header::DATE).unwrap_or(response_time);
    let apparent_age = response_time.duration_since(date).unwrap_or_default();
    let age_value = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_delta_seconds(v.trim()))
        .map_or(Duration::ZERO, Duration::from_secs);
    let response_delay = response_time
        .duration_since(request_time)
        .unwrap_or_default();
    apparent_age.max(age_value + response_delay)
}

/// The freshness lifetime the response's own headers give it, if any:
/// `s-maxage` (shared mode), `max-age`, `Expires` − `Date`, then heuristic
/// freshness when enabled.
pub(crate) fn lifetime(
    cc: &CacheControl,
    headers: &HeaderMap,
    status: StatusCode,
    mode: CacheMode,
    heuristic: Option<Heuristic>,
    response_time: SystemTime,
) -> Option<Duration> {
    if mode == CacheMode::Shared
        && let Some(s_maxage) = cc.s_maxage
    {
        return Some(Duration::from_secs(s_maxage));
    }
    if let Some(max_age) = cc.max_age {
        return Some(Duration::from_secs(max_age));
    }
    let date = http_date(headers, header::DATE).unwrap_or(response_time);
    if headers.contains_key(header::EXPIRES) {
        // An invalid Expires (such as "0") means "already expired".
        return Some(match http_date(headers, header::EXPIRES) {
            Some(expires) => expires.duration_since(date).unwrap_or_default(),
            None => Duration::ZERO,
        });
    }
    let heuristic = heuristic?;
    if !heuristically_cacheable(status) {
        return None;
    }
    let last_modified = http_date(headers, header::LAST_MODIFIED)?;
    let since = date.duration_since(last_modified).ok()?;
    Some(
        since
            .mul_f64(heuristic.fraction.clamp(0.0, 1.0))
            .min(heuristic.max),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const T: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(pairs: &[(&str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn date_text(secs: u64) -> String {
        httpdate::fmt_http_date(at(secs))
    }

    #[test]
    fn initial_age_takes_the_larger_of_apparent_and_corrected_age() {
        let h = headers(&[("date", date_text(T - 30)), ("age", "10".into())]);
        assert_eq!(initial_age(&h, at(T - 2), at(T)), Duration::from_secs(30));
        let h = headers(&[("date", date_text(T)), ("age", "100".into())]);
        assert_eq!(initial_age(&h, at(T - 2), at(T)), Duration::from_secs(102));
        assert_eq!(initial_age(&HeaderMap::new(), at(T), at(T)), Duration::ZERO);
        let garbage = headers(&[("date", "yesterday".into()), ("age", "-5".into())]);
        assert_eq!(initial_age(&garbage, at(T), at(T)), Duration::ZERO);
    }

    #[test]
    fn lifetime_precedence_and_modes() {
        let ok = StatusCode::OK;
        let h = headers(&[("cache-control", "max-age=60, s-maxage=600".into())]);
        let cc = CacheControl::parse(&h);
        assert_eq!(
            lifetime(&cc, &h, ok, CacheMode::Private, None, at(T)),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            lifetime(&cc, &h, ok, CacheMode::Shared, None, at(T)),
            Some(Duration::from_secs(600))
        );

        let h = headers(&[
            ("date", date_text(T - 100)),
            ("expires", date_text(T + 200)),
        ]);
        let cc = CacheControl::parse(&h);
        assert_eq!(
            lifetime(&cc, &h, ok, CacheMode::Private, None, at(T)),
            Some(Duration::from_secs(300))
        );
        let h = headers(&[("expires", "0".into())]);
        assert_eq!(
            lifetime(
                &CacheControl::default(),
                &h,
                ok,
                CacheMode::Private,
                None,
                at(T)
            ),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn heuristic_freshness_is_opt_in_bounded_and_status_limited() {
        let h = headers(&[
            ("date", date_text(T)),
            ("last-modified", date_text(T - 1000)),
        ]);
        let cc = CacheControl::default();
        assert_eq!(
            lifetime(&cc, &h, StatusCode::OK, CacheMode::Private, None, at(T)),
            None
        );
        let on = Some(Heuristic::default());
        assert_eq!(
            lifetime(&cc, &h, StatusCode::OK, CacheMode::Private, on, at(T)),
            Some(Duration::from_secs(100))
        );
        assert_eq!(
            lifetime(&cc, &h, StatusCode::CREATED, CacheMode::Private, on, at(T)),
            None
        );
        let capped = Some(Heuristic {
            fraction: 0.1,
            max: Duration::from_secs(7),
        });
        assert_eq!(
            lifetime(&cc, &h, StatusCode::OK, CacheMode::Private, capped, at(T)),
            Some(Duration::from_secs(7))
        );
    }
}
