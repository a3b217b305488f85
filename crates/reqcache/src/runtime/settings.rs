//! The layer's settings, fixed when it is built and shared by every service.

use std::time::Duration;

use crate::key::Keyer;
use crate::policy::Rules;
use crate::policy::cache_groups::GroupSources;
use crate::runtime::breaker::BreakerSettings;
use crate::runtime::write_behind::{DEFAULT_MAX_PENDING_WRITES, WriteMode};

/// The default largest response body recorded for caching: 8 MiB.
pub(crate) const DEFAULT_MAX_BODY_SIZE: usize = 8 * 1024 * 1024;

/// The default largest request body read for the key: 1 MiB.
pub(crate) const DEFAULT_MAX_REQUEST_BODY_SIZE: usize = 1024 * 1024;

/// The default bound on a storage read on the request path.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(100);

/// The default bound on a storage write behind a response.
pub(crate) const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The default bound on the time a background fill may take: 30 s.
pub(crate) const DEFAULT_BACKGROUND_FILL: Duration = Duration::from_secs(30);

/// Every setting of a [`CacheLayer`](crate::CacheLayer); see
/// [`CacheLayerBuilder`](crate::CacheLayerBuilder) for what each means.
#[derive(Debug, Clone)]
pub(crate) struct CacheSettings {
    /// What the policy decides with: methods, codes, expiration, mode, ...
    pub(crate) rules: Rules,
    /// Keying and redaction.
    pub(crate) key: Keyer,
    pub(crate) max_body_size: usize,
    pub(crate) max_request_body_size: usize,
    pub(crate) single_flight: bool,
    pub(crate) read_only: bool,
    /// Bounds on each storage call; `None` waits as long as the storage does.
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) breaker: BreakerSettings,
    pub(crate) max_pending_writes: usize,
    /// Whether the end of a miss's body waits for its write.
    pub(crate) write_mode: WriteMode,
    /// How long the cache may go on reading a storable body its caller
    /// dropped, to store it; `None`: it does not.
    pub(crate) background_fill: Option<Duration>,
    /// The cache name of the `Cache-Status` member added to every response;
    /// `None`: no header.
    pub(crate) cache_status_header: Option<String>,
    /// Where responses' cache groups are read from.
    pub(crate) group_sources: GroupSources,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            key: Keyer::default(),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            max_request_body_size: DEFAULT_MAX_REQUEST_BODY_SIZE,
            single_flight: true,
            read_only: false,
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
            write_timeout: Some(DEFAULT_WRITE_TIMEOUT),
            breaker: BreakerSettings::default(),
            max_pending_writes: DEFAULT_MAX_PENDING_WRITES,
            write_mode: WriteMode::Durable,
            background_fill: Some(DEFAULT_BACKGROUND_FILL),
            cache_status_header: None,
            group_sources: GroupSources::default(),
        }
    }
}
