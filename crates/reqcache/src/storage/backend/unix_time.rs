//! Times as signed nanoseconds since the Unix epoch: how storages keep
//! `SystemTime`s in number columns and fields.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `time` as nanoseconds since the Unix epoch: negative before it, saturating
/// at the ends of `i64` (years 1677 and 2262).
///
/// # Example
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use reqcache::storage::backend::unix_time::{from_unix_nanos, to_unix_nanos};
///
/// let time = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
/// assert_eq!(to_unix_nanos(time), 1_700_000_000_000_000_005);
/// assert_eq!(from_unix_nanos(to_unix_nanos(time)), time);
/// assert_eq!(to_unix_nanos(UNIX_EPOCH - Duration::from_secs(1)), -1_000_000_000);
/// ```
pub fn to_unix_nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The inverse of [`to_unix_nanos`].
///
/// ```
/// assert_eq!(reqcache::storage::backend::unix_time::from_unix_nanos(0), std::time::UNIX_EPOCH);
/// ```
pub fn from_unix_nanos(nanos: i64) -> SystemTime {
    if nanos >= 0 {
        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_sides_of_the_epoch() {
        for time in [
            UNIX_EPOCH,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            UNIX_EPOCH - Duration::from_secs(86_400),
        ] {
            assert_eq!(from_unix_nanos(to_unix_nanos(time)), time);
        }
    }
}
