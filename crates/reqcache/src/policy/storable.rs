//! Storability: whether a response is stored, and the times it is stored
//! with (generated, expires, retained until).
//!
//! The guide's precedence decides expiry: request `Cache-Control`, response
//! `Cache-Control` / `Expires`, the per-request expiration, per-URL
//! patterns, the layer's `expire_after`; with RFC 9111's age and lifetime
//! when `cache_control` is on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, StatusCode, header, request, response};

use super::expiration::{DoNotStore, Expiration, far_future};
use super::freshness;
use super::mode::{CacheMode, SetCookie};
use super::request::{expiration, has_authorization};
use super::rules::Rules;
use super::status_codes;
use super::validation::has_validators;
use super::vary::vary_names;

/// The times a response is stored with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    /// When it was generated: the response time less the age it arrived with.
    pub(crate) created_at: SystemTime,
    /// When it stops being fresh; `None`: never.
    pub(crate) expires: Option<SystemTime>,
    /// When a storage may drop it; `None`: only by eviction or removal.
    pub(crate) retain_until: Option<SystemTime>,
}

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStored {
    /// Its status, its `Cache-Control`, or its expiration forbids it.
    Forbidden,
    /// The user's filter declined it.
    Filtered,
    /// `Vary: *`: it could never be answered again.
    VaryStar,
    /// A shared cache and `Set-Cookie` (`SetCookie::NotStored`).
    SetCookie,
}

impl NotStored {
    /// The reason, as logged.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Forbidden => "status, Cache-Control or expiration forbids storing",
            Self::Filtered => "the filter declined it",
            Self::VaryStar => "Vary: *",
            Self::SetCookie => "Set-Cookie in a shared cache",
        }
    }
}

/// What a request brings to the decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    /// The request head.
    pub(crate) head: &'a request::Parts,
    /// The request's `max-age`, when `cache_control` is on.
    pub(crate) max_age: Option<u64>,
    /// The per-request expiration ([`RequestOptions::expire_after`](crate::RequestOptions::expire_after)).
    pub(crate) expire_after: Option<Expiration>,
}

/// A full response from upstream: stored with these times, varying on these
/// request headers, or not stored and why. The body's size is the engine's
/// to check, as it streams.
pub(crate) fn decide(
    rules: &Rules,
    asked: Asked<'_>,
    response: &response::Parts,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Result<(Times, Vec<HeaderName>), NotStored> {
    let times = times(
        rules,
        asked,
        response.status,
        &response.headers,
        request_time,
        response_time,
    )
    .map_err(|DoNotStore| NotStored::Forbidden)?;
    if let Some(filter) = &rules.filter
        && !(filter.0)(asked.head, response)
    {
        return Err(NotStored::Filtered);
    }
    if rules.mode == CacheMode::Shared
        && rules.shared_set_cookie == SetCookie::NotStored
        && response.headers.contains_key(header::SET_COOKIE)
    {
        return Err(NotStored::SetCookie);
    }
    let vary = vary_names(&response.headers).ok_or(NotStored::VaryStar)?;
    Ok((times, vary))
}

/// Whether and until when a response with `status` and `headers` may be
/// stored: for a new response, and for a stored one refreshed by a `304`.
pub(crate) fn times(
    rules: &Rules,
    asked: Asked<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Result<Times, DoNotStore> {
    let (created_at, expires) =
        lifetime(rules, asked, status, headers, request_time, response_time)?;
    Ok(Times {
        created_at,
        expires,
        retain_until: retain_until(rules, expires),
    })
}

fn lifetime(
    rules: &Rules,
    asked: Asked<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Result<(SystemTime, Option<SystemTime>), DoNotStore> {
    // Partial content is never stored as, or for, a full response.
    if status == StatusCode::PARTIAL_CONTENT || !rules.allowable_codes.contains(&status) {
        return Err(DoNotStore);
    }
    let mut created_at = response_time;
    // Stale at once, a response is worth keeping only to revalidate it, or
    // to serve it within its stale windows.
    let mut keep_stale = has_validators(headers);
    let mut expires = None;
    if rules.cache_control {
        let cc = rules.response_directives(headers);
        let shared = rules.mode == CacheMode::Shared;
        // `must-understand` replaces `no-store` for a status the cache
        // understands, and forbids storing any other (section 5.2.2.3).
        let forbidden = if cc.must_understand {
            !status_codes::understood(status)
        } else {
            cc.no_store
        };
        let explicitly_cacheable = cc.max_age.is_some()
            || (shared && cc.s_maxage.is_some())
            || (!cc.targeted && headers.contains_key(header::EXPIRES))
            || cc.public
            || (!shared && cc.private)
            || status_codes::heuristically_cacheable(status);
        if forbidden
            || (rules.explicit_cacheability && !explicitly_cacheable)
            || (shared && cc.private)
            || (shared
                && has_authorization(&asked.head.headers)
                && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate))
        {
            return Err(DoNotStore);
        }
        // An age larger than the time since the epoch (`Age: 4294967296`, a
        // `Date` in 1950) is clamped (RFC 9111 section 1.2.2): the response
        // was generated at the epoch, at the earliest.
        created_at = response_time
            .checked_sub(freshness::initial_age(headers, request_time, response_time))
            .filter(|created| *created >= UNIX_EPOCH)
            .unwrap_or(UNIX_EPOCH.min(response_time));
        keep_stale |= cc.stale_if_error.is_some() || cc.stale_while_revalidate.is_some();
        let lifetime = if cc.no_cache {
            Some(Duration::ZERO)
        } else {
            freshness::lifetime(
                &cc,
                headers,
                status,
                rules.mode,
                rules.heuristic,
                response_time,
            )
        };
        // The response's own freshness decides; the request's `max-age` only
        // limits what may be served (RFC 9111 section 5.2.1.1), and is the
        // lifetime of a response that states none.
        expires = match (lifetime, asked.max_age) {
            (Some(lifetime), _) => {
                Some(Some(created_at.checked_add(lifetime).unwrap_or(created_at)))
            }
            (None, Some(max_age)) => {
                Some(Expiration::from(Duration::from_secs(max_age)).expires_at(response_time)?)
            }
            (None, None) => None,
        };
    }
    let expires = match expires {
        Some(expires) => expires,
        None => expiration(
            rules,
            &asked.head.uri,
            &asked.head.headers,
            asked.expire_after,
        )
        .expires_at(response_time)?,
    };
    if expires.is_some_and(|expires| expires <= response_time) && !keep_stale {
        return Err(DoNotStore);
    }
    Ok((created_at, expires))
}

/// When a storage may drop an entry expiring at `expires`: `stale_retention`
/// past it (the far future when that overflows), or `None`, the storage's
/// default.
pub(crate) fn retain_until(rules: &Rules, expires: Option<SystemTime>) -> Option<SystemTime> {
    let keep = rules.stale_retention?;
    expires.map(|expires| expires.checked_add(keep).unwrap_or_else(far_future))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::filter::ResponseFilter;
    use std::sync::Arc;

    const T: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn head(pairs: &[(&'static str, &'static str)]) -> request::Parts {
        let mut builder = http::Request::get("https://example.com/a");
        for (name, value) in pairs {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn response(status: u16, pairs: &[(&'static str, &'static str)]) -> response::Parts {
        let mut builder = http::Response::builder().status(status);
        for (name, value) in pairs {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn asked(head: &request::Parts) -> Asked<'_> {
        Asked {
            head,
            max_age: None,
            expire_after: None,
        }
    }

    #[test]
    fn decisions_by_status_directives_and_mode() {
        let private = Rules::default();
        let shared = Rules {
            mode: CacheMode::Shared,
            ..Rules::default()
        };
        let plain = head(&[]);
        let authorized = head(&[("authorization", "Bearer x")]);
        // (rules, request, response, stored for so many seconds / forever / not)
        type Case<'a> = (
            &'a Rules,
            &'a request::Parts,
            response::Parts,
            Result<Option<u64>, NotStored>,
        );
        let cases: [Case<'_>; 9] = [
            (&private, &plain, response(200, &[]), Ok(None)),
            (
                &private,
                &plain,
                response(200, &[("cache-control", "max-age=60")]),
                Ok(Some(60)),
            ),
            (
                &private,
                &plain,
                response(404, &[]),
                Err(NotStored::Forbidden),
            ),
            (
                &private,
                &plain,
                response(200, &[("cache-control", "no-store")]),
                Err(NotStored::Forbidden),
            ),
            (
                &private,
                &plain,
                response(200, &[("cache-control", "private, max-age=60")]),
                Ok(Some(60)),
            ),
            (
                &shared,
                &plain,
                response(200, &[("cache-control", "private, max-age=60")]),
                Err(NotStored::Forbidden),
            ),
            (
                &shared,
                &authorized,
                response(200, &[("cache-control", "max-age=60")]),
                Err(NotStored::Forbidden),
            ),
            (
                &shared,
                &authorized,
                response(200, &[("cache-control", "public, max-age=60")]),
                Ok(Some(60)),
            ),
            (
                &private,
                &plain,
                response(200, &[("vary", "*")]),
                Err(NotStored::VaryStar),
            ),
        ];
        for (i, (rules, head, response, expected)) in cases.into_iter().enumerate() {
            let decided = decide(rules, asked(head), &response, at(T), at(T)).map(|(times, _)| {
                times
                    .expires
                    .map(|e| e.duration_since(at(T)).unwrap().as_secs())
            });
            assert_eq!(decided, expected, "case {i}");
        }
    }

    #[test]
    fn stale_at_once_is_kept_only_with_a_validator_or_a_stale_window() {
        let rules = Rules::default();
        let plain = head(&[]);
        for (pairs, stored) in [
            (&[("cache-control", "max-age=0")][..], false),
            (
                &[("cache-control", "max-age=0"), ("etag", "\"a\"")][..],
                true,
            ),
            (
                &[("cache-control", "max-age=0, stale-if-error=60")][..],
                true,
            ),
            (&[("cache-control", "no-cache")][..], false),
        ] {
            let decided = decide(&rules, asked(&plain), &response(200, pairs), at(T), at(T));
            assert_eq!(decided.is_ok(), stored, "{pairs:?}");
        }
    }

    #[test]
    fn age_and_request_max_age_set_the_times() {
        let rules = Rules {
            stale_retention: Some(Duration::from_secs(100)),
            ..Rules::default()
        };
        let plain = head(&[]);
        let aged = response(200, &[("cache-control", "max-age=60"), ("age", "20")]);
        let times = times(
            &rules,
            asked(&plain),
            aged.status,
            &aged.headers,
            at(T),
            at(T),
        )
        .unwrap();
        assert_eq!(times.created_at, at(T - 20));
        assert_eq!(times.expires, Some(at(T + 40)));
        assert_eq!(times.retain_until, Some(at(T + 140)));
        // The request's max-age does not override the response's own...
        let capped = Asked {
            max_age: Some(5),
            ..asked(&plain)
        };
        let times = super::times(&rules, capped, aged.status, &aged.headers, at(T), at(T)).unwrap();
        assert_eq!(times.expires, Some(at(T + 40)));
        // ...but is the lifetime of a response that states none.
        let silent = response(200, &[]);
        let times =
            super::times(&rules, capped, silent.status, &silent.headers, at(T), at(T)).unwrap();
        assert_eq!(times.expires, Some(at(T + 5)));
    }

    #[test]
    fn the_filter_runs_last() {
        let rules = Rules {
            filter: Some(ResponseFilter(Arc::new(|_, response| {
                response.headers.contains_key("x-keep")
            }))),
            ..Rules::default()
        };
        let plain = head(&[]);
        assert_eq!(
            decide(&rules, asked(&plain), &response(200, &[]), at(T), at(T)).unwrap_err(),
            NotStored::Filtered
        );
        assert!(
            decide(
                &rules,
                asked(&plain),
                &response(200, &[("x-keep", "1")]),
                at(T),
                at(T)
            )
            .is_ok()
        );
        assert_eq!(
            decide(
                &rules,
                asked(&plain),
                &response(404, &[("x-keep", "1")]),
                at(T),
                at(T)
            )
            .unwrap_err(),
            NotStored::Forbidden
        );
    }
}
