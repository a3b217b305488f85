//! Keying and redaction: what a request's key is made of, and what of a
//! request reaches storage.
//!
//! The layer keys each request with its custom key function
//! ([`CacheLayerBuilder::key_fn`](crate::CacheLayerBuilder::key_fn), which
//! sees [`KeyParts`]) or the default key: method, normalized URL, body,
//! [`MatchHeaders`] and credentials, hashed into a [`CacheKey`]. Ignored and
//! redacted names ([`DEFAULT_REDACTED_HEADERS`], [`DEFAULT_REDACTED_PARAMETERS`])
//! are removed from what is stored.
//!
//! One concept per file: the settings (`Normalizer`, in
//! `normalize.rs`) and what they shape — `url.rs` (scheme, host, path,
//! query), `body.rs` (JSON and form bodies), `headers.rs` (matched and
//! `Vary`ed headers), `stored.rs` (the request as stored) — then
//! `keyer.rs` (the key: a custom key function's, or the default layout and
//! hash), `variant.rs` (a `Vary`ing response's key) and `redact.rs` (the
//! names left out).

mod body;
mod cache_key;
mod headers;
mod keyer;
mod match_headers;
mod normalize;
mod parts;
mod redact;
mod stored;
mod url;
mod variant;

pub use cache_key::CacheKey;
pub(crate) use keyer::Keyer;
pub use match_headers::MatchHeaders;
pub use parts::KeyParts;
pub(crate) use redact::Names;
pub use redact::{DEFAULT_REDACTED_HEADERS, DEFAULT_REDACTED_PARAMETERS};
pub(crate) use variant::variant_key;
