//! Cache groups (RFC 9875): which groups a response belongs to
//! (`Cache-Groups`, and optionally `Surrogate-Key` and `Cache-Tag`), and
//! which groups a response to an unsafe request invalidates
//! (`Cache-Group-Invalidation`).

use http::{HeaderMap, HeaderName, Method};

use super::targeted::{bare_item, parameters, separator};

/// RFC 9875's response header naming the groups of a response.
pub(crate) const CACHE_GROUPS: HeaderName = HeaderName::from_static("cache-groups");
/// RFC 9875's response header naming the groups an unsafe request
/// invalidated.
pub(crate) const CACHE_GROUP_INVALIDATION: HeaderName =
    HeaderName::from_static("cache-group-invalidation");
/// Fastly's group header: space-separated keys.
pub(crate) const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
/// Cloudflare's group header: comma-separated tags.
pub(crate) const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");

/// The most groups one response is put in (256); more are ignored (RFC
/// 9875 asks for at least 32).
pub(crate) const MAX_GROUPS: usize = 256;
/// The longest group name kept, in bytes (1024); longer ones are ignored
/// (RFC 9875 asks for at least 32 characters).
pub(crate) const MAX_GROUP_LEN: usize = 1024;

/// Where a layer reads a response's cache groups from.
///
/// RFC 9875's `Cache-Groups` is always read. `Surrogate-Key` (Fastly,
/// space-separated) and `Cache-Tag` (Cloudflare, comma-separated) are read
/// when enabled, and then, by default, removed from what is stored and from
/// what clients are sent, as those CDNs do: they are instructions to the
/// cache. `Cache-Groups` is an HTTP header meant for every cache on the
/// path and is kept.
///
/// # Example
/// ```
/// use reqcache::GroupSources;
///
/// let sources = GroupSources::default().surrogate_key(true).cache_tag(true);
/// assert!(sources.reads_surrogate_key() && sources.strips_vendor_headers());
/// let kept = sources.strip_vendor_headers(false);
/// assert!(!kept.strips_vendor_headers());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSources {
    surrogate_key: bool,
    cache_tag: bool,
    strip: bool,
}

impl Default for GroupSources {
    /// `Cache-Groups` only; vendor headers, once enabled, stripped.
    fn default() -> Self {
        Self {
            surrogate_key: false,
            cache_tag: false,
            strip: true,
        }
    }
}

impl GroupSources {
    /// Reads `Surrogate-Key` too.
    #[must_use]
    pub fn surrogate_key(mut self, read: bool) -> Self {
        self.surrogate_key = read;
        self
    }

    /// Reads `Cache-Tag` too.
    #[must_use]
    pub fn cache_tag(mut self, read: bool) -> Self {
        self.cache_tag = read;
        self
    }

    /// Whether the vendor headers read (`Surrogate-Key`, `Cache-Tag`) are
    /// removed from what is stored and sent on. Default: `true`.
    #[must_use]
    pub fn strip_vendor_headers(mut self, strip: bool) -> Self {
        self.strip = strip;
        self
    }

    /// `true` when `Surrogate-Key` is read.
    pub fn reads_surrogate_key(&self) -> bool {
        self.surrogate_key
    }

    /// `true` when `Cache-Tag` is read.
    pub fn reads_cache_tag(&self) -> bool {
        self.cache_tag
    }

    /// `true` when the vendor headers read are removed.
    pub fn strips_vendor_headers(&self) -> bool {
        self.strip
    }

    /// The vendor headers to remove from what is stored and sent.
    pub(crate) fn stripped(&self) -> impl Iterator<Item = HeaderName> {
        [
            (self.strip && self.surrogate_key).then_some(SURROGATE_KEY),
            (self.strip && self.cache_tag).then_some(CACHE_TAG),
        ]
        .into_iter()
        .flatten()
    }

    /// `true` when `headers` carry a field these sources read.
    pub(crate) fn names_groups(&self, headers: &HeaderMap) -> bool {
        headers.contains_key(CACHE_GROUPS)
            || (self.surrogate_key && headers.contains_key(SURROGATE_KEY))
            || (self.cache_tag && headers.contains_key(CACHE_TAG))
    }

    /// The group names of a response with `headers`: each once, in the
    /// order first named, at most 256 ([`MAX_GROUPS`]).
    pub(crate) fn groups(&self, headers: &HeaderMap) -> Vec<String> {
        let mut names = string_list(headers, &CACHE_GROUPS);
        if self.surrogate_key {
            names.extend(split_values(headers, &SURROGATE_KEY, |c| {
                c == ' ' || c == '\t'
            }));
        }
        if self.cache_tag {
            names.extend(split_values(headers, &CACHE_TAG, |c| c == ','));
        }
        let mut groups: Vec<String> = Vec::new();
        for name in names {
            if groups.len() == MAX_GROUPS {
                tracing::debug!(max = MAX_GROUPS, "reqcache: more cache groups than kept");
                break;
            }
            if name.is_empty() || name.len() > MAX_GROUP_LEN || groups.contains(&name) {
                continue;
            }
            groups.push(name);
        }
        groups
    }
}

/// The groups a response to a `method` request invalidates: its
/// `Cache-Group-Invalidation` members, or none for a safe method (RFC 9875
/// section 3: the field is ignored on those).
pub(crate) fn invalidated_groups(method: &Method, headers: &HeaderMap) -> Vec<String> {
    if method.is_safe() {
        return Vec::new();
    }
    let mut groups = string_list(headers, &CACHE_GROUP_INVALIDATION);
    groups.retain(|name| !name.is_empty() && name.len() <= MAX_GROUP_LEN);
    groups.dedup();
    groups.truncate(MAX_GROUPS);
    groups
}

/// The String members of the Structured Fields List (RFC 9651) in every
/// `name` line, joined as one field. A field that does not parse is
/// ignored whole; members of another type (tokens, inner lists) are
/// skipped; parameters are ignored.
fn string_list(headers: &HeaderMap, name: &HeaderName) -> Vec<String> {
    let mut values = headers.get_all(name).iter().peekable();
    if values.peek().is_none() {
        return Vec::new();
    }
    let mut joined = String::new();
    for value in values {
        let Ok(text) = value.to_str() else {
            return Vec::new();
        };
        if !joined.is_empty() {
            joined.push_str(", ");
        }
        joined.push_str(text);
    }
    parse_string_list(&joined).unwrap_or_default()
}

/// A Structured Fields List's String members; `None` when it does not
/// parse.
fn parse_string_list(text: &str) -> Option<Vec<String>> {
    let mut members = Vec::new();
    let mut rest = text.trim_matches([' ', '\t']);
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('(') {
            // An inner list: parsed, then skipped.
            rest = inner.trim_start_matches(' ');
            while !rest.starts_with(')') {
                let (_, after) = bare_item(rest)?;
                rest = parameters(after)?;
                let trimmed = rest.trim_start_matches(' ');
                if !(trimmed.starts_with(')') || trimmed.len() < rest.len()) {
                    return None;
                }
                rest = trimmed;
            }
            rest = parameters(&rest[1..])?;
        } else {
            let (item, after) = bare_item(rest)?;
            if let Some(quoted) = item.strip_prefix('"') {
                members.push(unescape(quoted.strip_suffix('"')?)?);
            }
            rest = parameters(after)?;
        }
        rest = separator(rest)?;
    }
    Some(members)
}

/// A String's content with its escapes (`\"`, `\\`) undone; `None` for an
/// escape of anything else (invalid).
fn unescape(quoted: &str) -> Option<String> {
    let mut text = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                escaped @ ('"' | '\\') => text.push(escaped),
                _ => return None,
            }
        } else {
            text.push(c);
        }
    }
    Some(text)
}

/// The non-empty pieces of every `name` line split where `split` says, as
/// visible ASCII text.
fn split_values(headers: &HeaderMap, name: &HeaderName, split: fn(char) -> bool) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|text| text.split(split))
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append((*name).clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_rfc_examples_parse() {
        let rfc = headers(&[(&CACHE_GROUPS, "\"scripts\"")]);
        assert_eq!(GroupSources::default().groups(&rfc), ["scripts"]);
        let invalidation = headers(&[(
            &CACHE_GROUP_INVALIDATION,
            "\"eurovision-results\", \"australia\"",
        )]);
        assert_eq!(
            invalidated_groups(&Method::POST, &invalidation),
            ["eurovision-results", "australia"]
        );
    }

    #[test]
    fn invalidation_is_ignored_on_safe_methods() {
        let invalidation = headers(&[(&CACHE_GROUP_INVALIDATION, "\"a\"")]);
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            assert!(
                invalidated_groups(&method, &invalidation).is_empty(),
                "{method}"
            );
        }
        for method in [Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(
                invalidated_groups(&method, &invalidation),
                ["a"],
                "{method}"
            );
        }
    }

    #[test]
    fn parameters_are_ignored_escapes_undone_and_other_members_skipped() {
        assert_eq!(
            parse_string_list(r#""a";x=1;y, "b \"c\" \\", tok, (1 "in"), ?1, "d""#).unwrap(),
            ["a", "b \"c\" \\", "d"]
        );
        assert_eq!(parse_string_list("").unwrap(), Vec::<String>::new());
        // Lines join into one list.
        let two = headers(&[(&CACHE_GROUPS, "\"a\""), (&CACHE_GROUPS, "\"b\", \"a\"")]);
        assert_eq!(GroupSources::default().groups(&two), ["a", "b"]);
    }

    #[test]
    fn a_field_that_does_not_parse_is_ignored_whole() {
        for text in [
            "\"a\", \"b",
            "\"a\",",
            "\"a\" \"b\"",
            "\"a\\x\"",
            "\"a\";=1",
            "(\"a\"",
            "\"caf\u{e9}\"",
        ] {
            let fields = HeaderMap::from_iter([(
                CACHE_GROUPS,
                HeaderValue::from_bytes(text.as_bytes()).unwrap(),
            )]);
            assert!(GroupSources::default().groups(&fields).is_empty(), "{text}");
        }
    }

    #[test]
    fn vendor_headers_are_read_only_when_enabled() {
        let fields = headers(&[
            (&CACHE_GROUPS, "\"g\""),
            (&SURROGATE_KEY, "  key-1 key-2\tg "),
            (&CACHE_TAG, "tag-a, tag-b,,"),
        ]);
        assert_eq!(GroupSources::default().groups(&fields), ["g"]);
        let all = GroupSources::default().surrogate_key(true).cache_tag(true);
        assert_eq!(
            all.groups(&fields),
            ["g", "key-1", "key-2", "tag-a", "tag-b"]
        );
        assert_eq!(all.stripped().count(), 2);
        assert_eq!(all.strip_vendor_headers(false).stripped().count(), 0);
    }

    #[test]
    fn at_least_32_groups_of_32_characters_are_kept_and_the_count_is_bounded() {
        let names: Vec<String> = (0..300).map(|i| format!("{i:032}")).collect();
        let field = names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let groups = GroupSources::default().groups(&headers(&[(&CACHE_GROUPS, &field)]));
        assert_eq!(groups.len(), MAX_GROUPS);
        assert_eq!(groups[..32], names[..32]);
    }
}
