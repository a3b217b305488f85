//! The layer's behaviour, tested through `tower::Service` calls on a
//! recording upstream. Each module covers one group of features.

mod support;

mod cache_control;
mod chunked;
mod credentials;
mod durability;
mod expiration;
mod failures;
mod groups;
mod handle;
mod hit_path;
mod http_cache;
mod keys;
mod maintenance;
mod miss_path;
mod options;
mod parity;
mod parity_keys;
mod parity_settings;
mod records;
mod redirects;
mod rfc9111;
mod single_flight;
mod stack;
mod streaming;
