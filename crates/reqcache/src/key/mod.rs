//! Keying and redaction: what a request's key is made of, and what of a
//! request reaches storage.
//!
//! The layer keys each request with its custom key function
//! ([`CacheLayerBuilder::key_fn`](crate::CacheLayerBuilder::key_fn), which
//! sees [`KeyParts`]) or the default key: method, normalized URL, body,
//! [`MatchHeaders`] and credentials, hashed into a [`CacheKey`]. Ignored and
//! redacted names ([`DEFAULT_REDACTED_HEADERS`], [`DEFAULT_REDACTED_PARAMETERS`])
//! are removed from what is stored.

mod cache_key;
mod keyer;
mod normalize;
mod parts;
mod redact;
mod variant;

pub use cache_key::CacheKey;
pub(crate) use keyer::Keyer;
pub use normalize::MatchHeaders;
pub use parts::KeyParts;
pub(crate) use redact::Names;
pub use redact::{DEFAULT_REDACTED_HEADERS, DEFAULT_REDACTED_PARAMETERS};
pub(crate) use variant::variant_key;
