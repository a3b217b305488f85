//! The request body as the key and storage see it: JSON canonicalized,
//! forms sorted, both without ignored (and, in what is stored, redacted)
//! parameters; anything else as it is.

use std::borrow::Cow;

use http::{HeaderMap, header};

use super::normalize::{Normalizer, Use};

impl Normalizer {
    /// The body as the default key hashes it.
    pub(crate) fn key_body<'b>(&self, headers: &HeaderMap, body: &'b [u8]) -> Cow<'b, [u8]> {
        self.normalized_body(headers, body, Use::Key, &mut false)
    }

    /// The body normalized for `purpose`: JSON canonicalized (keys sorted, at
    /// every level) with parameters removed from its top level (or from under
    /// `content_root_key`), forms sorted with parameters removed, anything
    /// else as is.
    pub(super) fn normalized_body<'b>(
        &self,
        headers: &HeaderMap,
        body: &'b [u8],
        purpose: Use,
        removed: &mut bool,
    ) -> Cow<'b, [u8]> {
        if body.is_empty() {
            return Cow::Borrowed(body);
        }
        // The media type, whatever its case and parameters
        // (`Application/JSON; charset=utf-8`).
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let looks_json = content_type.contains("json")
            || (content_type.is_empty()
                && matches!(body.trim_ascii_start().first(), Some(b'{' | b'[')));
        if looks_json {
            if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) {
                let root = match &self.content_root_key {
                    Some(root) => value.get_mut(root.as_str()),
                    None => Some(&mut value),
                };
                if let Some(serde_json::Value::Object(map)) = root {
                    map.retain(|name, _| {
                        let keep = self.keeps_parameter(name, purpose);
                        if !keep && self.redacted.has_parameter(name) {
                            *removed = true;
                        }
                        keep
                    });
                }
                let mut out = Vec::with_capacity(body.len());
                canonical_json(&value, &mut out);
                return Cow::Owned(out);
            }
        } else if content_type == "application/x-www-form-urlencoded"
            && let Ok(text) = std::str::from_utf8(body)
        {
            let pairs = self.query_pairs(text, purpose, removed);
            return Cow::Owned(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes(),
            );
        }
        Cow::Borrowed(body)
    }
}

/// JSON with object keys sorted at every level, whatever serde_json's map
/// ordering features are.
fn canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (name, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Serializing a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, name);
                out.push(b':');
                canonical_json(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}
