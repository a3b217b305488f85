//! HTTP dates (RFC 9110 section 5.6.7): the preferred IMF-fixdate and the
//! two obsolete formats every recipient must accept, RFC 850 and asctime.
//!
//! Day and month names and `GMT` are matched without regard to case, as
//! deployed caches do; anything else (another zone, extra spaces, a
//! one-digit hour, dashes in an IMF-fixdate) is not a date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LONG_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The date in the one field line of `name`; `None` when absent, not a
/// date, or sent on several lines (which makes it a list, not a date).
pub(crate) fn field(headers: &HeaderMap, name: &HeaderName, now: SystemTime) -> Option<SystemTime> {
    let mut lines = headers.get_all(name).iter();
    let first = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    parse(first.to_str().ok()?.trim(), now)
}

/// Parses an HTTP date in any of the three formats; `now` places an RFC 850
/// two-digit year (one more than 50 years ahead is in the past century).
pub(crate) fn parse(text: &str, now: SystemTime) -> Option<SystemTime> {
    let (year, month, day, time) = if let Some((name, rest)) = text.split_once(", ") {
        if DAYS.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            imf_fixdate(rest)?
        } else if LONG_DAYS.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            rfc850(rest, now)?
        } else {
            return None;
        }
    } else {
        asctime(text)?
    };
    to_system_time(year, month, day, time)
}

/// `06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(text: &str) -> Option<(i64, u32, u32, u32)> {
    let mut parts = text.split(' ');
    let day = digits(parts.next()?, 2)?;
    let month = month(parts.next()?)?;
    let year = digits(parts.next()?, 4)?;
    let time = time_of_day(parts.next()?)?;
    gmt(parts.next()?)?;
    parts
        .next()
        .is_none()
        .then_some((year.into(), month, day, time))
}

/// `06-Nov-94 08:49:37 GMT`
fn rfc850(text: &str, now: SystemTime) -> Option<(i64, u32, u32, u32)> {
    let mut parts = text.split(' ');
    let mut date = parts.next()?.split('-');
    let day = digits(date.next()?, 2)?;
    let month = month(date.next()?)?;
    let two_digit = i64::from(digits(date.next()?, 2)?);
    if date.next().is_some() {
        return None;
    }
    let time = time_of_day(parts.next()?)?;
    gmt(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    let this_year = year_of(now);
    let mut year = this_year - this_year.rem_euclid(100) + two_digit;
    if year > this_year + 50 {
        year -= 100;
    } else if year + 100 <= this_year + 50 {
        year += 100;
    }
    Some((year, month, day, time))
}

/// `Sun Nov  6 08:49:37 1994`
fn asctime(text: &str) -> Option<(i64, u32, u32, u32)> {
    let name = text.get(..3)?;
    if !DAYS.iter().any(|d| d.eq_ignore_ascii_case(name)) {
        return None;
    }
    let rest = text.get(3..)?.strip_prefix(' ')?;
    let month = month(rest.get(..3)?)?;
    let rest = rest.get(3..)?.strip_prefix(' ')?;
    let day = match rest.get(..2)?.strip_prefix(' ') {
        Some(one) => digits(one, 1)?,
        None => digits(rest.get(..2)?, 2)?,
    };
    let mut parts = rest.get(2..)?.strip_prefix(' ')?.split(' ');
    let time = time_of_day(parts.next()?)?;
    let year = digits(parts.next()?, 4)?;
    parts
        .next()
        .is_none()
        .then_some((year.into(), month, day, time))
}

/// Exactly `len` ASCII digits.
fn digits(text: &str, len: usize) -> Option<u32> {
    (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn month(text: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(text))
        .map(|i| i as u32 + 1)
}

fn gmt(text: &str) -> Option<()> {
    text.eq_ignore_ascii_case("gmt").then_some(())
}

/// `hh:mm:ss` as seconds since midnight (a leap second `60` is allowed).
fn time_of_day(text: &str) -> Option<u32> {
    let mut parts = text.split(':');
    let hour = digits(parts.next()?, 2)?;
    let minute = digits(parts.next()?, 2)?;
    let second = digits(parts.next()?, 2)?;
    (parts.next().is_none() && hour < 24 && minute < 60 && second <= 60)
        .then_some(hour * 3600 + minute * 60 + second)
}

fn to_system_time(year: i64, month: u32, day: u32, time: u32) -> Option<SystemTime> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + i64::from(time);
    Some(if seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(seconds as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The calendar year `at` falls in.
fn year_of(at: SystemTime) -> i64 {
    let days = match at.duration_since(UNIX_EPOCH) {
        Ok(since) => (since.as_secs() / 86_400) as i64,
        Err(before) => -((before.duration().as_secs() / 86_400) as i64) - 1,
    };
    // Close enough for placing a two-digit year: 365.2425 days a year.
    1970 + (days * 10_000).div_euclid(3_652_425)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> Option<u64> {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_083_200); // 2026-12-01
        parse(text, now).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs())
    }

    #[test]
    fn the_three_formats_name_one_moment() {
        assert_eq!(secs("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(secs("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(secs("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(secs("Tue, 19 Jan 2038 03:14:08 GMT"), Some(2_147_483_648));
        assert_eq!(secs("Sun, 21 Nov 2286 04:46:39 GMT"), Some(10_000_039_599));
        assert_eq!(secs("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    }

    #[test]
    fn names_and_zone_ignore_case_and_two_digit_years_stay_within_fifty_years() {
        let expected = secs("Thu, 18 Aug 2050 02:01:18 GMT");
        assert!(expected.is_some());
        for text in [
            "THU, 18 Aug 2050 02:01:18 GMT",
            "Thu, 18 AUG 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02:01:18 gMT",
            "Thursday, 18-Aug-50 02:01:18 GMT",
        ] {
            assert_eq!(secs(text), expected, "{text}");
        }
        assert_eq!(
            secs("Thu Aug  8 02:01:18 2050"),
            secs("Mon, 08 Aug 2050 02:01:18 GMT")
        );
        // 2077 would be more than 50 years ahead of 2026: 1977.
        assert_eq!(secs("Sunday, 01-Jan-77 00:00:00 GMT"), Some(220_924_800));
    }

    #[test]
    fn near_misses_are_not_dates() {
        for text in [
            "Thu, 18 Aug 2050 02:01:18 UTC",
            "Thu, 18 Aug 2050 02:01:18 AEST",
            "Thu, 18 Aug 50 02:01:18 GMT",
            "Thu 18 Aug 2050 02:01:18 GMT",
            "Thu, 18  Aug  2050 02:01:18 GMT",
            "Thu, 18-Aug-2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 02.01.18 GMT",
            "Thu, 18 Aug 2050 2:01:18 GMT",
            "Thu, 31 Feb 2050 02:01:18 GMT",
            "Thu, 18 Aug 2050 24:00:00 GMT",
            "0",
            "",
            "Thu Aug 8 02:01:18 2050",
        ] {
            assert_eq!(secs(text), None, "{text}");
        }
    }

    #[test]
    fn a_date_on_two_lines_is_not_a_date() {
        let now = UNIX_EPOCH;
        let mut headers = HeaderMap::new();
        let name = http::header::EXPIRES;
        headers.append(&name, "Thu, 18 Aug 2050 02:01:18 GMT".parse().unwrap());
        assert!(field(&headers, &name, now).is_some());
        headers.append(&name, "Thu, 18 Aug 2050 02:01:19 GMT".parse().unwrap());
        assert_eq!(field(&headers, &name, now), None);
    }
}
