//! [`MatchHeaders`]: which request headers take part in the key.

use http::HeaderName;

/// Which request headers take part in the key: requests-cache's
/// `include_get_headers`, made selective.
///
/// Redacted headers (credentials) are governed by `credentials_in_key` on the
/// layer, not by this; ignored ones never take part.
///
/// # Example
/// ```
/// use reqcache::key::MatchHeaders;
///
/// let only_accept = MatchHeaders::only([http::header::ACCEPT]);
/// assert!(matches!(only_accept, MatchHeaders::Only(_)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MatchHeaders {
    /// No headers (the default).
    #[default]
    None,
    /// Every header (requests-cache's `include_get_headers=True`).
    All,
    /// Only these headers.
    Only(Vec<HeaderName>),
}

impl MatchHeaders {
    /// Only the named headers: [`HeaderName`]s or names as text, in any case
    /// (`"Accept-Language"`). A name that is not a valid header name is
    /// skipped with a warning.
    ///
    /// ```
    /// use reqcache::key::MatchHeaders;
    ///
    /// assert_eq!(
    ///     MatchHeaders::only(["Accept", "ACCEPT-LANGUAGE"]),
    ///     MatchHeaders::only([http::header::ACCEPT, http::header::ACCEPT_LANGUAGE]),
    /// );
    /// ```
    pub fn only<N>(names: impl IntoIterator<Item = N>) -> Self
    where
        N: TryInto<HeaderName>,
    {
        Self::Only(
            names
                .into_iter()
                .filter_map(|name| match name.try_into() {
                    Ok(name) => Some(name),
                    Err(_) => {
                        tracing::warn!("reqcache: MatchHeaders::only: invalid header name skipped");
                        None
                    }
                })
                .collect(),
        )
    }
}
