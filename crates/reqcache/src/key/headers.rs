//! The request headers the default key reads: those [`MatchHeaders`]
//! names, and how a `Vary`ed header relates to the key and to redaction.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::match_headers::MatchHeaders;
use super::normalize::Normalizer;
use crate::policy::vary::VaryHeader;

impl Normalizer {
    /// How a `Vary`ed request header relates to the key and to redaction.
    pub(crate) fn classify_vary(&self, name: &HeaderName) -> VaryHeader {
        if self.ignored.has_header(name) {
            VaryHeader::Redacted
        } else if self.is_redacted_header(name) {
            if self.credentials_in_key {
                VaryHeader::InKey
            } else {
                VaryHeader::Redacted
            }
        } else {
            VaryHeader::Compare
        }
    }

    /// The headers `match_headers` names, in a stable order, without ignored
    /// or redacted ones.
    pub(crate) fn matched_headers<'h>(
        &'h self,
        headers: &'h HeaderMap,
    ) -> Vec<(&'h HeaderName, &'h HeaderValue)> {
        let usable =
            |name: &HeaderName| !self.ignored.has_header(name) && !self.is_redacted_header(name);
        let mut matched = Vec::new();
        match &self.match_headers {
            MatchHeaders::None => {}
            MatchHeaders::Only(names) => {
                for name in names.iter().filter(|n| usable(n)) {
                    matched.extend(headers.get_all(name).iter().map(|value| (name, value)));
                }
            }
            MatchHeaders::All => {
                let mut names: Vec<&HeaderName> = headers.keys().filter(|n| usable(n)).collect();
                names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                for name in names {
                    matched.extend(headers.get_all(name).iter().map(|value| (name, value)));
                }
            }
        }
        matched
    }
}
