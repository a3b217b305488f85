//! [`PurgeRequest`]: what `reqcache purge` and the proxy's admin API are
//! asked to purge, as flags or as the JSON body of `POST /purge`, and its
//! mapping to the library's [`Purge`].

use http::Uri;
use reqcache::handle::Purge;
use reqcache::storage::origin_of;
use serde::{Deserialize, Serialize};

use crate::proxy::upstream::upstream_uri;

/// One purge: exactly one of `url`, `prefix`, `glob` and `group`; `origin`
/// scopes a group; `soft` marks stale instead of deleting.
///
/// URLs and prefixes are the ones clients use. With an upstream (the
/// proxy's), an absolute URL or a path (`/items/7`) is mapped to the
/// upstream's URL, under which the proxy stores its entries; a glob that
/// starts with `/` is matched below the upstream's URL; a group's origin
/// defaults to the upstream's.
///
/// # Example
/// ```
/// use reqcache_cli::admin::PurgeRequest;
///
/// let request: PurgeRequest = serde_json::from_str(r#"{"group": "product-42", "soft": true}"#).unwrap();
/// let upstream = "http://10.0.0.7:9000".parse().unwrap();
/// let purge = request.to_purge(Some(&upstream)).unwrap();
/// assert!(purge.is_soft());
/// assert!(PurgeRequest::default().to_purge(None).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// Every entry of this URL (a path maps to the upstream's).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Every entry whose URL starts with this one.
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Every entry whose stored URL matches this glob (`*` crosses `/`).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glob: Option<String>,
    /// Every response in this cache group (RFC 9875 `Cache-Groups`, or a
    /// surrogate key or cache tag when the proxy reads them).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The origin of the group (`https://example.com`); default: the
    /// upstream's.
    #[arg(long, requires = "group")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Mark stale instead of deleting: the next request revalidates, and
    /// the entry still stands in for upstream errors (stale-if-error).
    #[arg(long)]
    #[serde(default)]
    pub soft: bool,
}

impl PurgeRequest {
    /// The library's purge, URLs mapped onto `upstream` when given.
    ///
    /// # Errors
    /// None or several targets, a URL or glob that is not one, a group
    /// without an origin (and no upstream).
    pub fn to_purge(&self, upstream: Option<&Uri>) -> Result<Purge, String> {
        if self.targets().count() != 1 {
            return Err("give exactly one of url, prefix, glob and group".to_owned());
        }
        if self.origin.is_some() && self.group.is_none() {
            return Err("origin goes with group".to_owned());
        }
        let purge = if let Some(url) = &self.url {
            Purge::url(stored_url(url, upstream)?)
        } else if let Some(prefix) = &self.prefix {
            Purge::prefix(stored_url(prefix, upstream)?)
        } else if let Some(glob) = &self.glob {
            let pattern = match upstream {
                Some(upstream) if glob.starts_with('/') => {
                    let base = upstream_uri(upstream, &"/".parse().map_err(|e| format!("{e}"))?)
                        .map_err(|e| format!("upstream {upstream}: {e}"))?
                        .to_string();
                    format!("{}{glob}", globset::escape(base.trim_end_matches('/')))
                }
                _ => glob.clone(),
            };
            Purge::glob(&pattern).map_err(|e| e.to_string())?
        } else {
            let name = self.group.as_deref().unwrap_or_default();
            let origin = match (&self.origin, upstream) {
                (Some(origin), _) => origin.clone(),
                (None, Some(upstream)) => origin_of(&upstream.to_string()),
                (None, None) => {
                    return Err(format!(
                        "group {name:?}: give its origin (--origin https://example.com)"
                    ));
                }
            };
            Purge::group(&origin, name)
        };
        Ok(if self.soft { purge.soft() } else { purge })
    }

    /// The targets given, each with its kind: exactly one in a valid
    /// request.
    fn targets(&self) -> impl Iterator<Item = (&'static str, &String)> {
        [
            ("url", &self.url),
            ("prefix", &self.prefix),
            ("glob", &self.glob),
            ("group", &self.group),
        ]
        .into_iter()
        .filter_map(|(kind, value)| Some((kind, value.as_ref()?)))
    }

    /// What kind of purge it is: `url`, `prefix`, `glob`, `group` (or
    /// `nothing`).
    pub fn kind(&self) -> &'static str {
        self.targets().next().map_or("nothing", |(kind, _)| kind)
    }

    /// What it purges, for the operator who asked: `url="..."`,
    /// `group="..."`, ... (as given: not for logs, where a URL's ignored
    /// parameters must not appear).
    pub fn target(&self) -> String {
        self.targets().next().map_or_else(
            || "nothing".to_owned(),
            |(kind, value)| format!("{kind}={value:?}"),
        )
    }
}

/// `url` as the proxy stores it: with an upstream, an absolute URL or a
/// path on the proxy becomes the upstream's.
fn stored_url(url: &str, upstream: Option<&Uri>) -> Result<String, String> {
    let Some(upstream) = upstream else {
        return Ok(url.to_owned());
    };
    let served: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    if served.path_and_query().is_none() && served.authority().is_none() {
        return Err(format!("{url:?}: not a URL or a path"));
    }
    upstream_uri(upstream, &served)
        .map(|uri| uri.to_string())
        .map_err(|e| format!("{url:?} on upstream {upstream}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> PurgeRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn served_urls_and_paths_map_to_the_upstream() {
        let upstream: Uri = "http://10.0.0.7:9000/api".parse().unwrap();
        for (given, stored) in [
            (
                "http://127.0.0.1:8080/items?id=3",
                "http://10.0.0.7:9000/api/items?id=3",
            ),
            ("/items/7", "http://10.0.0.7:9000/api/items/7"),
        ] {
            assert_eq!(stored_url(given, Some(&upstream)).unwrap(), stored);
        }
        assert_eq!(stored_url("/x", None).unwrap(), "/x");
        assert!(stored_url("", Some(&upstream)).is_err());
    }

    #[test]
    fn exactly_one_target_and_a_group_needs_an_origin() {
        let upstream: Uri = "http://10.0.0.7:9000".parse().unwrap();
        assert!(
            request(r#"{"url": "/a", "group": "g"}"#)
                .to_purge(None)
                .is_err()
        );
        assert!(request(r#"{}"#).to_purge(None).is_err());
        assert!(request(r#"{"group": "g"}"#).to_purge(None).is_err());
        assert!(
            request(r#"{"group": "g"}"#)
                .to_purge(Some(&upstream))
                .is_ok()
        );
        assert!(
            request(r#"{"group": "g", "origin": "https://e.com"}"#)
                .to_purge(None)
                .is_ok()
        );
        assert!(
            request(r#"{"url": "/a", "origin": "https://e.com"}"#)
                .to_purge(None)
                .is_err()
        );
        assert!(
            request(r#"{"glob": "http://e.com/["}"#)
                .to_purge(None)
                .is_err()
        );
        assert!(serde_json::from_str::<PurgeRequest>(r#"{"uri": "/a"}"#).is_err());
    }
}
