//! Redaction: the names whose values are never stored, assembled in one
//! place from the defaults and the user's additions.

use http::HeaderName;

/// Headers redacted by default: never stored, part of the key (hashed).
pub const DEFAULT_REDACTED_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
    "x-access-token",
];

/// Query, JSON and form parameters redacted by default: never stored, part of
/// the key (hashed).
pub const DEFAULT_REDACTED_PARAMETERS: [&str; 8] = [
    "api_key",
    "apikey",
    "api-key",
    "access_token",
    "auth_token",
    "client_secret",
    "password",
    "token",
];

/// The headers redacted even when the defaults are turned off: credentials
/// are never stored.
const ALWAYS_REDACTED: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// A set of parameter names, with the ones that are also header names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    parameters: Vec<String>,
    /// Bit `n` is set when a parameter name is `n` bytes long (63: longer):
    /// most names a request carries are ruled out without a comparison.
    lengths: u64,
    headers: Vec<HeaderName>,
}

/// The bit of [`Names::lengths`] for a name of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl Names {
    pub(crate) fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let parameters: Vec<String> = names.into_iter().map(|n| n.as_ref().to_owned()).collect();
        let headers = parameters
            .iter()
            .filter_map(|name| HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok())
            .collect();
        Self {
            lengths: parameters
                .iter()
                .fold(0, |bits, p| bits | length_bit(p.len())),
            parameters,
            headers,
        }
    }

    pub(crate) fn has_parameter(&self, name: &str) -> bool {
        self.lengths & length_bit(name.len()) != 0 && self.parameters.iter().any(|p| p == name)
    }

    pub(crate) fn has_header(&self, name: &HeaderName) -> bool {
        self.headers.contains(name)
    }

    /// The names, as given.
    pub(crate) fn parameters(&self) -> &[String] {
        &self.parameters
    }

    /// The redacted names: the defaults ([`DEFAULT_REDACTED_HEADERS`] and
    /// [`DEFAULT_REDACTED_PARAMETERS`]) when `defaults` is on, else only the
    /// credential headers, and `extra` after them.
    pub(crate) fn redacted<S: AsRef<str>>(
        defaults: bool,
        extra: impl IntoIterator<Item = S>,
    ) -> Self {
        let base: Vec<&str> = if defaults {
            DEFAULT_REDACTED_HEADERS
                .iter()
                .chain(&DEFAULT_REDACTED_PARAMETERS)
                .copied()
                .collect()
        } else {
            ALWAYS_REDACTED.to_vec()
        };
        Self::new(
            base.into_iter()
                .map(str::to_owned)
                .chain(extra.into_iter().map(|n| n.as_ref().to_owned())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_match_by_exact_name_whatever_their_length() {
        let long = "p".repeat(70);
        let names = Names::new(["token", "", long.as_str()]);
        for present in ["token", "", long.as_str()] {
            assert!(names.has_parameter(present), "{present:?}");
        }
        let other_long = "q".repeat(80);
        for absent in ["tokens", "Token", "toke", "x", other_long.as_str()] {
            assert!(!names.has_parameter(absent), "{absent:?}");
        }
        assert!(!Names::default().has_parameter("token"));
    }
}
