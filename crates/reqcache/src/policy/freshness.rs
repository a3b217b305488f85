//! RFC 9111 freshness: a response's age when received, its freshness
//! lifetime, heuristic freshness, and the read-time verdict on a stored
//! response.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode, header};

use super::cache_control::{CacheControl, parse_delta_seconds};
use super::expiration::StaleWindow;
use super::http_date;
use super::mode::{CacheMode, Heuristic};
use super::rules::Rules;
use super::status_codes::heuristically_cacheable;
use super::validation;

/// The `Age` a response arrived with (RFC 9111 section 5.1): the first
/// member of its first field line (a list, or several lines, keep only that);
/// `None` when that is not a non-negative integer, so the field is ignored.
fn age_value(headers: &HeaderMap) -> Option<u64> {
    let first = headers.get(header::AGE)?.to_str().ok()?;
    let member = first.split(',').next()?.trim();
    if member.is_empty() || !member.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    parse_delta_seconds(member)
}

/// The response's age when it was received (RFC 9111 section 4.2.3:
/// `corrected_initial_age`), from its `Date` and `Age` headers and the time
/// the request took.
pub(crate) fn initial_age(
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Duration {
    let date = http_date::field(headers, &header::DATE, response_time).unwrap_or(response_time);
    let apparent_age = response_time.duration_since(date).unwrap_or_default();
    let age_value = age_value(headers).map_or(Duration::ZERO, Duration::from_secs);
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
    let date = http_date::field(headers, &header::DATE, response_time).unwrap_or(response_time);
    if !cc.targeted && headers.contains_key(header::EXPIRES) {
        // An invalid Expires (such as "0") means "already expired".
        return Some(
            match http_date::field(headers, &header::EXPIRES, response_time) {
                Some(expires) => expires.duration_since(date).unwrap_or_default(),
                None => Duration::ZERO,
            },
        );
    }
    let heuristic = heuristic?;
    // `public` makes any status heuristically cacheable (section 4.2.2).
    if !heuristically_cacheable(status) && !cc.public {
        return None;
    }
    let last_modified = http_date::field(headers, &header::LAST_MODIFIED, response_time)?;
    let since = date.duration_since(last_modified).ok()?;
    Some(
        since
            .mul_f64(heuristic.fraction.clamp(0.0, 1.0))
            .min(heuristic.max),
    )
}

/// What the read-time decisions need of a stored response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored<'a> {
    /// The stored response headers.
    pub(crate) headers: &'a HeaderMap,
    /// When it was generated (its age is counted from here).
    pub(crate) created_at: SystemTime,
    /// When it stops being fresh; `None`: never.
    pub(crate) expires: Option<SystemTime>,
}

impl Stored<'_> {
    /// `true` when no longer fresh at `now`.
    pub(crate) fn is_expired(&self, now: SystemTime) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }

    /// Whole seconds past its expiry at `now` (0 while fresh).
    fn staleness(&self, now: SystemTime) -> u64 {
        self.expires
            .and_then(|expires| now.duration_since(expires).ok())
            .map_or(0, |stale| stale.as_secs())
    }

    /// Its own directives (none when `cache_control` is off).
    fn directives(&self, rules: &Rules) -> CacheControl {
        if rules.cache_control {
            rules.response_directives(self.headers)
        } else {
            CacheControl::default()
        }
    }
}

/// What may be done with a stored response for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Fresh: answer it.
    Fresh,
    /// Stale, but the request accepts it (`max-stale`): answer it.
    AcceptedStale,
    /// Stale within its `stale-while-revalidate` window: answer it, and
    /// refresh it in the background.
    StaleWhileRevalidate,
    /// Go upstream (conditionally, when it has validators).
    Stale,
}

/// The read-time verdict on `stored` for a request with `directives` and its
/// own `stale_while_revalidate` window, if it set one
/// (RFC 9111 section 4.2, with the request's `max-age`, `min-fresh`,
/// `max-stale` and `no-cache`); `refresh` is the per-request option, which
/// revalidates a response that has a validator and, as in requests-cache
/// 1.x, leaves one without a validator to its freshness.
pub(crate) fn verdict(
    rules: &Rules,
    directives: &CacheControl,
    refresh: bool,
    stale_while_revalidate: Option<StaleWindow>,
    stored: &Stored<'_>,
    now: SystemTime,
) -> Verdict {
    let validators = || validation::has_validators(stored.headers);
    if directives.no_cache || ((refresh || rules.always_revalidate) && validators()) {
        return Verdict::Stale;
    }
    let fresh = !stored.is_expired(now);
    if let Some(max_age) = directives.max_age {
        let age = now.duration_since(stored.created_at).unwrap_or_default();
        // A fresh `immutable` response is not revalidated on a reload.
        if age.as_secs() > max_age && !(fresh && stored.directives(rules).immutable) {
            return Verdict::Stale;
        }
    }
    if let Some(min_fresh) = directives.min_fresh {
        let remaining = stored.expires.map_or(u64::MAX, |e| {
            e.duration_since(now).map_or(0, |d| d.as_secs())
        });
        if remaining < min_fresh {
            return Verdict::Stale;
        }
    }
    if fresh {
        return Verdict::Fresh;
    }
    let cc = stored.directives(rules);
    if must_revalidate(rules, &cc) {
        return Verdict::Stale;
    }
    let staleness = stored.staleness(now);
    if directives.max_stale.is_some_and(|max| staleness <= max) {
        return Verdict::AcceptedStale;
    }
    // The response's own window, or the request's (else the layer's)
    // setting: requests-cache's `stale_while_revalidate`.
    let window = stale_while_revalidate.unwrap_or(rules.stale_while_revalidate);
    if cc
        .stale_while_revalidate
        .is_some_and(|window| staleness <= window)
        || window.allows(Duration::from_secs(staleness))
    {
        return Verdict::StaleWhileRevalidate;
    }
    Verdict::Stale
}

/// Whether `stored` may be answered when upstream fails at `now`: the
/// layer's `stale_if_error`, or the response's own `stale-if-error` window;
/// never a response that must be revalidated.
pub(crate) fn serves_stale_on_error(rules: &Rules, stored: &Stored<'_>, now: SystemTime) -> bool {
    let cc = stored.directives(rules);
    !must_revalidate(rules, &cc)
        && (rules
            .stale_if_error
            .allows(Duration::from_secs(stored.staleness(now)))
            || cc
                .stale_if_error
                .is_some_and(|window| stored.staleness(now) <= window))
}

/// Whether `stored` may be answered when upstream cannot be reached at all
/// (the inner service failed, no response): as on an error, or within the
/// layer's `stale_if_disconnected` window (RFC 9111 section 4.2.4 allows a
/// disconnected cache to serve stale responses); never a response that must
/// be revalidated.
pub(crate) fn serves_stale_disconnected(
    rules: &Rules,
    stored: &Stored<'_>,
    now: SystemTime,
) -> bool {
    serves_stale_on_error(rules, stored, now)
        || (!must_revalidate(rules, &stored.directives(rules))
            && rules
                .stale_if_disconnected
                .allows(Duration::from_secs(stored.staleness(now))))
}

/// Whether an upstream status is a failure that a stale response may stand
/// in for (`stale_if_error`): `500`, `502`, `503` and `504` always (RFC 5861
/// section 4), and any other 4xx or 5xx the layer does not store.
pub(crate) fn is_error_status(rules: &Rules, status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
        || ((status.is_client_error() || status.is_server_error())
            && !rules.allowable_codes.contains(&status))
}

/// Whether `stored` must be revalidated before use once stale (so a failed
/// revalidation is a `504`, not stale data).
pub(crate) fn requires_revalidation(rules: &Rules, stored: &Stored<'_>) -> bool {
    must_revalidate(rules, &stored.directives(rules))
}

/// `must-revalidate`, `no-cache`; in shared mode also `proxy-revalidate` and
/// `s-maxage`.
fn must_revalidate(rules: &Rules, cc: &CacheControl) -> bool {
    cc.must_revalidate
        || cc.no_cache
        || (rules.mode == CacheMode::Shared && (cc.proxy_revalidate || cc.s_maxage.is_some()))
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

    fn stored(headers: &HeaderMap, created: u64, expires: Option<u64>) -> Stored<'_> {
        Stored {
            headers,
            created_at: at(created),
            expires: expires.map(at),
        }
    }

    #[test]
    fn verdicts_by_request_directive_and_staleness() {
        let rules = Rules::default();
        let none = HeaderMap::new();
        let etag = headers(&[("etag", "\"v\"".into())]);
        let swr = headers(&[(
            "cache-control",
            "max-age=10, stale-while-revalidate=30".into(),
        )]);
        let must = headers(&[("cache-control", "max-age=10, must-revalidate".into())]);
        let req = |text: &str| CacheControl::parse(&headers(&[("cache-control", text.into())]));
        let plain = CacheControl::default();
        // (request directives, refresh, stored, now, verdict)
        let cases = [
            (
                plain,
                false,
                stored(&none, T, Some(T + 10)),
                T + 5,
                Verdict::Fresh,
            ),
            // refresh: a response without a validator is left to its freshness
            (
                plain,
                true,
                stored(&none, T, Some(T + 10)),
                T + 5,
                Verdict::Fresh,
            ),
            (
                plain,
                true,
                stored(&etag, T, Some(T + 10)),
                T + 5,
                Verdict::Stale,
            ),
            (
                req("no-cache"),
                false,
                stored(&none, T, Some(T + 10)),
                T + 5,
                Verdict::Stale,
            ),
            (
                req("max-age=3"),
                false,
                stored(&none, T, Some(T + 10)),
                T + 5,
                Verdict::Stale,
            ),
            (
                req("min-fresh=6"),
                false,
                stored(&none, T, Some(T + 10)),
                T + 5,
                Verdict::Stale,
            ),
            (
                plain,
                false,
                stored(&none, T, Some(T + 10)),
                T + 10,
                Verdict::Stale,
            ),
            (
                req("max-stale=5"),
                false,
                stored(&none, T, Some(T + 10)),
                T + 15,
                Verdict::AcceptedStale,
            ),
            (
                req("max-stale=5"),
                false,
                stored(&must, T, Some(T + 10)),
                T + 15,
                Verdict::Stale,
            ),
            (
                plain,
                false,
                stored(&swr, T, Some(T + 10)),
                T + 40,
                Verdict::StaleWhileRevalidate,
            ),
            (
                plain,
                false,
                stored(&swr, T, Some(T + 10)),
                T + 41,
                Verdict::Stale,
            ),
            (
                plain,
                false,
                stored(&none, T, None),
                u64::from(u32::MAX),
                Verdict::Fresh,
            ),
        ];
        for (i, (directives, refresh, stored, now, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                verdict(&rules, &directives, refresh, None, &stored, at(now)),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn stale_while_revalidate_from_the_layer_or_the_request() {
        let none = HeaderMap::new();
        let minute = Rules {
            stale_while_revalidate: StaleWindow::Within(Duration::from_secs(60)),
            ..Rules::default()
        };
        let plain = CacheControl::default();
        let entry = stored(&none, T, Some(T + 10));
        let verdict_at = |rules: &Rules, request: Option<StaleWindow>, now: u64| {
            verdict(rules, &plain, false, request, &entry, at(now))
        };
        assert_eq!(
            verdict_at(&minute, None, T + 70),
            Verdict::StaleWhileRevalidate
        );
        assert_eq!(verdict_at(&minute, None, T + 71), Verdict::Stale);
        assert_eq!(
            verdict_at(&minute, Some(StaleWindow::Off), T + 20),
            Verdict::Stale
        );
        let off = Rules::default();
        assert_eq!(verdict_at(&off, None, T + 20), Verdict::Stale);
        assert_eq!(
            verdict_at(&off, Some(StaleWindow::Unlimited), T + 10_000),
            Verdict::StaleWhileRevalidate
        );
    }

    #[test]
    fn stale_on_error_windows_and_must_revalidate() {
        let none = HeaderMap::new();
        let sie = headers(&[("cache-control", "max-age=10, stale-if-error=60".into())]);
        let must = headers(&[("cache-control", "max-age=10, must-revalidate".into())]);
        let off = Rules::default();
        let on = Rules {
            stale_if_error: StaleWindow::Unlimited,
            ..Rules::default()
        };
        assert!(!serves_stale_on_error(
            &off,
            &stored(&none, T, Some(T + 10)),
            at(T + 20)
        ));
        assert!(serves_stale_on_error(
            &on,
            &stored(&none, T, Some(T + 10)),
            at(T + 20)
        ));
        assert!(serves_stale_on_error(
            &off,
            &stored(&sie, T, Some(T + 10)),
            at(T + 70)
        ));
        assert!(!serves_stale_on_error(
            &off,
            &stored(&sie, T, Some(T + 10)),
            at(T + 71)
        ));
        assert!(!serves_stale_on_error(
            &on,
            &stored(&must, T, Some(T + 10)),
            at(T + 20)
        ));
        assert!(requires_revalidation(&off, &stored(&must, T, Some(T + 10))));
        let minute = Rules {
            stale_if_error: StaleWindow::Within(Duration::from_secs(60)),
            ..Rules::default()
        };
        assert!(serves_stale_on_error(
            &minute,
            &stored(&none, T, Some(T + 10)),
            at(T + 70)
        ));
        assert!(!serves_stale_on_error(
            &minute,
            &stored(&none, T, Some(T + 10)),
            at(T + 71)
        ));
        let shared = Rules {
            mode: CacheMode::Shared,
            ..Rules::default()
        };
        let s_maxage = headers(&[("cache-control", "s-maxage=10".into())]);
        assert!(requires_revalidation(
            &shared,
            &stored(&s_maxage, T, Some(T + 10))
        ));
        assert!(!requires_revalidation(
            &off,
            &stored(&s_maxage, T, Some(T + 10))
        ));
    }
}
