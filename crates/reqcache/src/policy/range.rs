//! Range requests answered from a stored complete response (RFC 9110
//! section 14): which bytes a `Range` (and `If-Range`) selects.
//!
//! Lenient like the rest of the policy: a `Range` that does not parse, or in
//! another unit than `bytes`, is ignored and the whole response answers, as
//! RFC 9110 section 14.2 allows.

use std::ops::Range;
use std::time::SystemTime;

use http::{HeaderMap, header};

use super::http_date;
use super::validation::etag_strong_eq;

/// More ranges than this in one request are ignored: the whole response
/// answers (a guard against many small or overlapping ranges).
const MAX_RANGES: usize = 16;

/// What a request's `Range` selects of a stored body `len` bytes long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selected {
    /// No usable `Range` (absent, malformed, another unit, too many, or an
    /// `If-Range` that does not match): the whole response.
    Full,
    /// These ranges, sorted, overlapping and adjacent ones merged: a `206`.
    Ranges(Vec<Range<u64>>),
    /// None of the ranges overlaps the body: a `416`.
    Unsatisfiable,
}

/// The ranges a request selects of a stored response with `stored` headers
/// and a body of `len` bytes; `now` places two-digit years in `If-Range`.
pub(crate) fn select(
    request: &HeaderMap,
    stored: &HeaderMap,
    len: u64,
    now: SystemTime,
) -> Selected {
    let mut lines = request.get_all(header::RANGE).iter();
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return Selected::Full;
    };
    if !if_range_holds(request, stored, now) {
        return Selected::Full;
    }
    let Some(specs) = line.to_str().ok().and_then(parse) else {
        return Selected::Full;
    };
    if specs.len() > MAX_RANGES {
        return Selected::Full;
    }
    let mut ranges: Vec<Range<u64>> = specs
        .into_iter()
        .filter_map(|spec| spec.resolve(len))
        .collect();
    if ranges.is_empty() {
        return Selected::Unsatisfiable;
    }
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    Selected::Ranges(merged)
}

/// `If-Range` (RFC 9110 section 13.1.5): absent, or a strong entity tag
/// equal to the stored one, or a date equal to the stored `Last-Modified`.
fn if_range_holds(request: &HeaderMap, stored: &HeaderMap, now: SystemTime) -> bool {
    let Some(condition) = request.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(condition) = condition.to_str() else {
        return false;
    };
    let condition = condition.trim();
    if condition.starts_with('"') || condition.starts_with("W/") {
        return stored
            .get(header::ETAG)
            .and_then(|etag| etag.to_str().ok())
            .is_some_and(|etag| etag_strong_eq(condition, etag));
    }
    match (
        http_date::parse(condition, now),
        http_date::field(stored, &header::LAST_MODIFIED, now),
    ) {
        (Some(asked), Some(modified)) => asked == modified,
        _ => false,
    }
}

/// One `range-spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` (`last` absent: to the end).
    From(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl Spec {
    /// The bytes it selects of a body `len` long; `None` when none.
    fn resolve(self, len: u64) -> Option<Range<u64>> {
        match self {
            Self::From(first, _) if first >= len => None,
            Self::From(first, last) => {
                Some(first..last.map_or(len, |last| last.saturating_add(1).min(len)))
            }
            Self::Suffix(0) => None,
            Self::Suffix(_) if len == 0 => None,
            Self::Suffix(n) => Some(len.saturating_sub(n)..len),
        }
    }
}

/// `bytes=spec, spec, ...`; `None` when it is not that.
fn parse(text: &str) -> Option<Vec<Spec>> {
    let (unit, set) = text.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let number = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let mut specs = Vec::new();
    for item in set
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let (first, last) = item.split_once('-')?;
        let spec = if first.trim().is_empty() {
            Spec::Suffix(number(last)?)
        } else {
            let first = number(first)?;
            let last = if last.trim().is_empty() {
                None
            } else {
                Some(number(last)?)
            };
            if last.is_some_and(|last| last < first) {
                return None;
            }
            Spec::From(first, last)
        };
        specs.push(spec);
    }
    (!specs.is_empty()).then_some(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One range, as `select` returns it.
    fn one(range: Range<u64>) -> Selected {
        Selected::Ranges(Vec::from([range]))
    }
    use crate::policy::test_headers::headers;

    fn select_of(range: &str, len: u64) -> Selected {
        select(
            &headers(&[("range", range)]),
            &HeaderMap::new(),
            len,
            SystemTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn byte_ranges_suffixes_and_open_ends() {
        assert_eq!(select_of("bytes=0-1", 10), one(0..2));
        assert_eq!(select_of("bytes=1-", 10), one(1..10));
        assert_eq!(select_of("bytes=-1", 10), one(9..10));
        assert_eq!(select_of("bytes=-50", 10), one(0..10));
        assert_eq!(select_of("bytes=5-500", 10), one(5..10));
        assert_eq!(select_of("BYTES = 2-3", 10), one(2..4));
    }

    #[test]
    fn several_ranges_are_sorted_and_merged() {
        assert_eq!(
            select_of("bytes=6-7, 0-1, 1-2, 20-30", 10),
            Selected::Ranges(vec![0..3, 6..8])
        );
        assert_eq!(select_of("bytes=0-4,5-9", 10), one(0..10));
    }

    #[test]
    fn unsatisfiable_malformed_and_too_many() {
        assert_eq!(select_of("bytes=10-", 10), Selected::Unsatisfiable);
        assert_eq!(select_of("bytes=-0", 10), Selected::Unsatisfiable);
        assert_eq!(select_of("bytes=0-1", 0), Selected::Unsatisfiable);
        for ignored in [
            "bytes=3-1",
            "items=0-1",
            "bytes=a-b",
            "bytes=",
            "0-1",
            "bytes=--1",
        ] {
            assert_eq!(select_of(ignored, 10), Selected::Full, "{ignored}");
        }
        let many = format!("bytes={}", vec!["0-0"; 17].join(","));
        assert_eq!(select_of(&many, 10), Selected::Full);
    }

    #[test]
    fn if_range_must_match_strongly() {
        let stored = headers(&[
            ("etag", "\"v1\""),
            ("last-modified", "Mon, 13 Nov 2023 00:00:00 GMT"),
        ]);
        let now = SystemTime::UNIX_EPOCH;
        let with = |if_range| headers(&[("range", "bytes=0-1"), ("if-range", if_range)]);
        let partial = one(0..2);
        assert_eq!(select(&with("\"v1\""), &stored, 10, now), partial);
        assert_eq!(select(&with("W/\"v1\""), &stored, 10, now), Selected::Full);
        assert_eq!(select(&with("\"v2\""), &stored, 10, now), Selected::Full);
        assert_eq!(
            select(&with("Mon, 13 Nov 2023 00:00:00 GMT"), &stored, 10, now),
            partial
        );
        assert_eq!(
            select(&with("Tue, 14 Nov 2023 00:00:00 GMT"), &stored, 10, now),
            Selected::Full
        );
    }
}
