//! The layer's settings, fixed when it is built and shared by every service.

use crate::key::Keyer;
use crate::policy::Rules;

/// The default largest response body buffered for caching: 8 MiB.
pub(crate) const DEFAULT_MAX_BODY_SIZE: usize = 8 * 1024 * 1024;

/// Every setting of a [`CacheLayer`](crate::CacheLayer); see
/// [`CacheLayerBuilder`](crate::CacheLayerBuilder) for what each means.
#[derive(Debug, Clone)]
pub(crate) struct CacheSettings {
    /// What the policy decides with: methods, codes, expiration, mode, ...
    pub(crate) rules: Rules,
    /// Keying and redaction.
    pub(crate) key: Keyer,
    pub(crate) max_body_size: usize,
    pub(crate) single_flight: bool,
    pub(crate) read_only: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            key: Keyer::default(),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            single_flight: true,
            read_only: false,
        }
    }
}
