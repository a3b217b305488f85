//! Keying and redaction: what a request's key is made of, and what of a
//! request reaches storage.
//!
//! [`Keyer`] picks the key (a custom key function, or the default);
//! [`Normalizer`] normalizes URLs, bodies and headers for the default key
//! and removes ignored and redacted names from what is stored; the redacted
//! names are assembled once, in `redact`.

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
