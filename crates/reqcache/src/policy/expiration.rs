//! Expiration values and per-URL expiration patterns.

use std::time::{Duration, SystemTime};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// How long a response stays fresh: requests-cache's `expire_after` values.
///
/// | requests-cache                  | reqcache                                   |
/// |---------------------------------|--------------------------------------------|
/// | `-1`, `NEVER_EXPIRE`            | [`Expiration::Never`]                      |
/// | `0`, `EXPIRE_IMMEDIATELY`       | [`Expiration::Immediately`]: stored only with a validator, revalidated before every use |
/// | `DO_NOT_CACHE`                  | [`Expiration::DoNotCache`]: the cache is neither read nor written |
/// | `360` (seconds)                 | `Expiration::from(360)` or [`Expiration::secs`] |
/// | `timedelta(..)`                 | `Expiration::from(Duration)`               |
/// | `datetime(..)`                  | `Expiration::from(SystemTime)`             |
///
/// # Example
/// ```
/// use std::time::Duration;
/// use reqcache::Expiration;
///
/// assert_eq!(Expiration::from(-1), Expiration::Never);
/// assert_eq!(Expiration::from(0), Expiration::Immediately);
/// assert_eq!(Expiration::from(360), Expiration::After(Duration::from_secs(360)));
/// assert_eq!(Expiration::from(Duration::from_secs(30)), Expiration::After(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Expiration {
    /// Stored indefinitely (the default).
    #[default]
    Never,
    /// "Expire immediately": stale as soon as it is received, so stored only
    /// when it has a validator (`ETag`, `Last-Modified`), and revalidated
    /// before every use.
    Immediately,
    /// Skip the cache: requests it applies to neither read nor write it.
    DoNotCache,
    /// Fresh for this long after it was received.
    After(Duration),
    /// Fresh until this moment; a moment already past expires immediately.
    At(SystemTime),
}

impl Expiration {
    /// requests-cache's integer form: negative is [`Never`](Self::Never), `0` is
    /// [`Immediately`](Self::Immediately), a positive number is seconds.
    ///
    /// ```
    /// # use reqcache::Expiration;
    /// assert_eq!(Expiration::secs(-1), Expiration::Never);
    /// ```
    pub const fn secs(secs: i64) -> Self {
        if secs < 0 {
            Self::Never
        } else if secs == 0 {
            Self::Immediately
        } else {
            Self::After(Duration::from_secs(secs as u64))
        }
    }

    /// The moment a response received at `now` stops being fresh.
    ///
    /// `Ok(None)` means it never expires, `Ok(Some(now))` that it is stale at
    /// once (kept only to be revalidated); `Err(DoNotStore)` means it must not
    /// be stored ([`DoNotCache`](Self::DoNotCache)).
    ///
    /// ```
    /// # use std::time::{Duration, UNIX_EPOCH};
    /// # use reqcache::Expiration;
    /// let now = UNIX_EPOCH + Duration::from_secs(100);
    /// assert_eq!(Expiration::secs(10).expires_at(now), Ok(Some(now + Duration::from_secs(10))));
    /// assert_eq!(Expiration::Never.expires_at(now), Ok(None));
    /// assert_eq!(Expiration::Immediately.expires_at(now), Ok(Some(now)));
    /// assert!(Expiration::DoNotCache.expires_at(now).is_err());
    /// ```
    pub fn expires_at(&self, now: SystemTime) -> Result<Option<SystemTime>, DoNotStore> {
        match *self {
            Self::Never => Ok(None),
            Self::DoNotCache => Err(DoNotStore),
            Self::Immediately => Ok(Some(now)),
            Self::After(d) => Ok(Some(now.checked_add(d).unwrap_or(far_future()))),
            Self::At(t) => Ok(Some(t)),
        }
    }

    /// `true` for [`DoNotCache`](Self::DoNotCache).
    pub fn is_do_not_cache(&self) -> bool {
        *self == Self::DoNotCache
    }
}

/// The far future used when `now + duration` would overflow.
pub(crate) fn far_future() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 4)
}

/// The marker for "this expiration means: do not store the response".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoNotStore;

/// How stale a stored response may be and still be answered in some case
/// (`stale_if_error`, `stale_while_revalidate`): requests-cache's `True` or
/// a time value.
///
/// ```
/// use std::time::Duration;
/// use reqcache::expiration::StaleWindow;
///
/// assert_eq!(StaleWindow::from(true), StaleWindow::Unlimited);
/// assert_eq!(StaleWindow::from(false), StaleWindow::Off);
/// assert_eq!(StaleWindow::from(Duration::from_secs(60)), StaleWindow::Within(Duration::from_secs(60)));
/// assert!(StaleWindow::Within(Duration::from_secs(60)).allows(Duration::from_secs(60)));
/// assert!(!StaleWindow::Within(Duration::from_secs(60)).allows(Duration::from_secs(61)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StaleWindow {
    /// Never (the default).
    #[default]
    Off,
    /// However stale.
    Unlimited,
    /// At most this long past its expiry.
    Within(Duration),
}

impl StaleWindow {
    /// Whether a response stale by `staleness` is within the window.
    pub fn allows(&self, staleness: Duration) -> bool {
        match *self {
            Self::Off => false,
            Self::Unlimited => true,
            Self::Within(window) => staleness <= window,
        }
    }
}

impl From<bool> for StaleWindow {
    fn from(on: bool) -> Self {
        if on { Self::Unlimited } else { Self::Off }
    }
}

impl From<Duration> for StaleWindow {
    fn from(window: Duration) -> Self {
        Self::Within(window)
    }
}

impl From<i64> for Expiration {
    fn from(secs: i64) -> Self {
        Self::secs(secs)
    }
}

impl From<i32> for Expiration {
    fn from(secs: i32) -> Self {
        Self::secs(secs.into())
    }
}

impl From<Duration> for Expiration {
    fn from(d: Duration) -> Self {
        if d.is_zero() {
            Self::Immediately
        } else {
            Self::After(d)
        }
    }
}

impl From<SystemTime> for Expiration {
    fn from(t: SystemTime) -> Self {
        Self::At(t)
    }
}

/// Ordered URL glob patterns with an expiration each: requests-cache's
/// `urls_expire_after`.
///
/// Patterns match the request URL **without its scheme**: host, port and path
/// (`api.example.com/v1/users`), not the query string. As in requests-cache a
/// pattern is a prefix: `site.com/resource` matches `site.com/resource/1`, as if
/// it ended in `*`. `*` matches any characters including `/`. The first pattern
/// that matches wins; when none does, the layer's `expire_after` applies.
///
/// # Example: an allowlist
/// ```
/// use reqcache::{Expiration, UrlExpiration};
///
/// let patterns = UrlExpiration::new()
///     .pattern("*.site_1.com", 30)?
///     .pattern("site_2.com/static", Expiration::Never)?
///     .pattern("*", 0)?; // every other URL: do not cache
///
/// let url = "https://api.site_1.com/data".parse()?;
/// assert_eq!(patterns.find(&url), Some(Expiration::secs(30)));
/// let url = "http://other.org/".parse()?;
/// assert_eq!(patterns.find(&url), Some(Expiration::Immediately));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct UrlExpiration {
    patterns: Vec<(String, Expiration)>,
    set: GlobSet,
}

impl UrlExpiration {
    /// No patterns.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pattern after the ones already given.
    ///
    /// # Errors
    /// [`PatternError`] for a pattern that is not a valid glob.
    pub fn pattern(
        mut self,
        pattern: &str,
        expire_after: impl Into<Expiration>,
    ) -> Result<Self, PatternError> {
        let error = |source| PatternError {
            pattern: pattern.to_owned(),
            source,
        };
        self.patterns
            .push((pattern.to_owned(), expire_after.into()));
        let mut builder = GlobSetBuilder::new();
        for (pattern, _) in &self.patterns {
            builder.add(
                GlobBuilder::new(&normalize_pattern(pattern))
                    .literal_separator(false)
                    .build()
                    .map_err(error)?,
            );
        }
        self.set = builder.build().map_err(error)?;
        Ok(self)
    }

    /// The patterns in order, as given.
    pub fn patterns(&self) -> impl Iterator<Item = (&str, Expiration)> {
        self.patterns.iter().map(|(p, e)| (p.as_str(), *e))
    }

    /// `true` when no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The expiration of the first pattern that matches `uri`, if any.
    pub fn find(&self, uri: &http::Uri) -> Option<Expiration> {
        if self.patterns.is_empty() {
            return None;
        }
        self.find_in(&match_target(uri, None))
    }

    /// Matches an already formatted scheme-less target (`host[:port]/path`).
    pub(crate) fn find_in(&self, target: &str) -> Option<Expiration> {
        self.set
            .matches(target)
            .into_iter()
            .min()
            .map(|i| self.patterns[i].1)
    }
}

/// A URL pattern that is not a valid glob.
///
/// ```
/// let error = reqcache::UrlExpiration::new().pattern("api.example.com/[", 60).unwrap_err();
/// assert_eq!(error.pattern(), "api.example.com/[");
/// assert!(error.to_string().starts_with("invalid URL pattern \"api.example.com/[\""));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("invalid URL pattern {pattern:?}: {source}")]
pub struct PatternError {
    pattern: String,
    #[source]
    source: globset::Error,
}

impl PatternError {
    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// Strips a scheme and makes the pattern a prefix match, as requests-cache does.
fn normalize_pattern(pattern: &str) -> String {
    let without_scheme = pattern.split_once("://").map_or(pattern, |(_, rest)| rest);
    format!("{}*", without_scheme.trim_end_matches('*'))
}

/// `host[:port]/path`, lower-case host, for pattern matching.
pub(crate) fn match_target(uri: &http::Uri, host_header: Option<&str>) -> String {
    let mut target = String::new();
    if let Some(authority) = uri.authority() {
        target.push_str(&authority.as_str().to_ascii_lowercase());
    } else if let Some(host) = host_header {
        target.push_str(&host.to_ascii_lowercase());
    }
    target.push_str(uri.path());
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(p: &UrlExpiration, url: &str) -> Option<Expiration> {
        p.find(&url.parse().unwrap())
    }

    #[test]
    fn first_match_wins_and_patterns_are_prefixes() {
        let p = UrlExpiration::new()
            .pattern("*.site_1.com", 30)
            .unwrap()
            .pattern("site_2.com/resource_1", 120)
            .unwrap()
            .pattern("site_2.com/resource_2", 86_400)
            .unwrap()
            .pattern("site_2.com/static", -1)
            .unwrap();
        assert_eq!(
            find(&p, "https://a.site_1.com/x?q=1"),
            Some(Expiration::secs(30))
        );
        assert_eq!(
            find(&p, "http://site_2.com/resource_1/9"),
            Some(Expiration::secs(120))
        );
        assert_eq!(
            find(&p, "http://site_2.com/static/a.png"),
            Some(Expiration::Never)
        );
        assert_eq!(find(&p, "http://site_3.com/static"), None);
    }

    #[test]
    fn catch_all_comes_last_only_when_written_last() {
        let p = UrlExpiration::new()
            .pattern("*", 0)
            .unwrap()
            .pattern("example.com", 60)
            .unwrap();
        assert_eq!(
            find(&p, "http://example.com/"),
            Some(Expiration::Immediately)
        );
    }

    #[test]
    fn scheme_in_pattern_is_ignored() {
        let p = UrlExpiration::new()
            .pattern("https://example.com/api", 5)
            .unwrap();
        assert_eq!(
            find(&p, "http://example.com/api/v1"),
            Some(Expiration::secs(5))
        );
    }

    #[test]
    fn invalid_glob_is_an_error() {
        assert!(UrlExpiration::new().pattern("a[", 5).is_err());
    }

    #[test]
    fn past_times_and_zero_durations_expire_at_once_and_do_not_cache_stores_nothing() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(50);
        assert_eq!(
            Expiration::At(SystemTime::UNIX_EPOCH).expires_at(now),
            Ok(Some(SystemTime::UNIX_EPOCH))
        );
        assert_eq!(Expiration::from(Duration::ZERO), Expiration::Immediately);
        assert_eq!(Expiration::Immediately.expires_at(now), Ok(Some(now)));
        assert_eq!(Expiration::DoNotCache.expires_at(now), Err(DoNotStore));
        assert_eq!(
            Expiration::After(Duration::MAX).expires_at(now),
            Ok(Some(far_future()))
        );
    }
}
