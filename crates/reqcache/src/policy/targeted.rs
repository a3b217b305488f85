//! Targeted cache-control fields (RFC 9213, `CDN-Cache-Control`): a
//! Structured Fields dictionary (RFC 8941) of cache directives. Unlike
//! `Cache-Control`, the field is strict: one that does not parse, or whose
//! directives have the wrong type, is ignored as a whole (section 2.1).

/// The directives of a targeted field's value as `(name, argument)` pairs,
/// the argument the raw text of an integer (`max-age=60`); a boolean member
/// (`no-store`, or `no-store=?1`) has none. `None`: not a valid dictionary,
/// or a known directive of the wrong type, so the field is to be ignored.
pub(crate) fn directives(text: &str) -> Option<Vec<(&str, Option<&str>)>> {
    let mut members = Vec::new();
    let mut rest = text.trim_matches([' ', '\t']);
    while !rest.is_empty() {
        let key_len = rest
            .char_indices()
            .find(|&(i, c)| !key_char(c, i == 0))
            .map_or(rest.len(), |(i, _)| i);
        if key_len == 0 {
            return None;
        }
        let key = &rest[..key_len];
        rest = &rest[key_len..];
        let mut value = None;
        if let Some(after) = rest.strip_prefix('=') {
            let (item, after) = bare_item(after)?;
            value = Some(item);
            rest = after;
        }
        rest = parameters(rest)?;
        let argument = match value {
            None | Some("?1") => None,
            // `?0` is a directive set to false: absent.
            Some("?0") => {
                rest = separator(rest)?;
                continue;
            }
            Some(item) => Some(item),
        };
        if !typed_right(key, argument) {
            return None;
        }
        members.push((key, argument));
        rest = separator(rest)?;
    }
    Some(members)
}

/// Known directives: the delta-seconds ones take a non-negative integer,
/// the others are booleans.
fn typed_right(key: &str, argument: Option<&str>) -> bool {
    match key {
        "max-age" | "s-maxage" | "stale-while-revalidate" | "stale-if-error" => {
            argument.is_some_and(|a| a.bytes().all(|b| b.is_ascii_digit()))
        }
        "no-store" | "no-cache" | "private" | "public" | "must-revalidate" | "proxy-revalidate"
        | "immutable" | "must-understand" => argument.is_none(),
        _ => true,
    }
}

pub(super) fn key_char(c: char, first: bool) -> bool {
    c.is_ascii_lowercase() || c == '*' || (!first && (c.is_ascii_digit() || "_-.".contains(c)))
}

/// A bare item at the start of `text`: integer or decimal, string, token,
/// byte sequence or boolean; `(item, rest)`.
pub(super) fn bare_item(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let end = match *bytes.first()? {
        b'-' | b'0'..=b'9' => {
            let digits = bytes[usize::from(bytes[0] == b'-')..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .count();
            let end = digits + usize::from(bytes[0] == b'-');
            let number = &text[usize::from(bytes[0] == b'-')..end];
            let valid = match number.split_once('.') {
                None => (1..=15).contains(&number.len()),
                Some((int, frac)) => {
                    (1..=12).contains(&int.len())
                        && (1..=3).contains(&frac.len())
                        && !frac.contains('.')
                }
            };
            if !valid {
                return None;
            }
            end
        }
        b'"' => {
            let mut escaped = false;
            let close = bytes[1..].iter().position(|&b| {
                let end = b == b'"' && !escaped;
                escaped = b == b'\\' && !escaped;
                end
            })?;
            if !text[1..=close].bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return None;
            }
            close + 2
        }
        b':' => 2 + bytes[1..].iter().position(|&b| b == b':')?,
        b'?' => match bytes.get(1) {
            Some(b'0' | b'1') => 2,
            _ => return None,
        },
        b if b.is_ascii_alphabetic() || b == b'*' => bytes
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&b)))
            .unwrap_or(bytes.len()),
        _ => return None,
    };
    Some((&text[..end], &text[end..]))
}

/// Skips `;key[=item]` parameters; `None` when one is malformed.
pub(super) fn parameters(mut text: &str) -> Option<&str> {
    while let Some(after) = text.strip_prefix(';') {
        let after = after.trim_start_matches(' ');
        let key_len = after
            .char_indices()
            .find(|&(i, c)| !key_char(c, i == 0))
            .map_or(after.len(), |(i, _)| i);
        if key_len == 0 {
            return None;
        }
        text = &after[key_len..];
        if let Some(after) = text.strip_prefix('=') {
            text = bare_item(after)?.1;
        }
    }
    Some(text)
}

/// The `,` between members (with optional whitespace), or the end.
pub(super) fn separator(text: &str) -> Option<&str> {
    let text = text.trim_start_matches([' ', '\t']);
    if text.is_empty() {
        return Some(text);
    }
    let after = text.strip_prefix(',')?.trim_start_matches([' ', '\t']);
    // A trailing comma is invalid.
    (!after.is_empty()).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn valid_dictionaries_give_their_directives() {
        assert_eq!(
            directives("max-age=60, no-store"),
            Some(vec![("max-age", Some("60")), ("no-store", None)])
        );
        assert_eq!(
            directives("max-age=60;a=1, foo=\"x, y\", private=?1, public=?0"),
            Some(vec![
                ("max-age", Some("60")),
                ("foo", Some("\"x, y\"")),
                ("private", None)
            ])
        );
        assert_eq!(directives(""), Some(vec![]));
    }

    #[test]
    fn invalid_fields_are_ignored_whole() {
        for text in [
            "max-age=10000, &&&&&",
            "max-age=\"10000\"",
            "Max-Age=5",
            "max-age =5",
            "max-age=5,",
            "max-age=-5",
            "max-age=1.5",
            "no-store=3",
            "max-age=1234567890123456",
        ] {
            assert_eq!(directives(text), None, "{text}");
        }
    }
}
