//! # reqcache-cli
//!
//! The `reqcache` binary: a caching HTTP proxy with RFC 9111 semantics in
//! front of one upstream, and administration of a cache's storage.
//!
//! ```text
//! reqcache proxy --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000 --storage sqlite:cache.sqlite
//! reqcache get --storage sqlite:cache.sqlite https://api.example.com/items
//! reqcache list --storage sqlite:cache.sqlite
//! reqcache remove-expired --storage redis://127.0.0.1:6379
//! reqcache clear --storage postgres://cache@db.internal/app#api_cache
//! ```
//!
//! Every storage is named by a URL ([`storage_url::StorageUrl`]); each
//! backend crate is a cargo feature: `sqlite`, `fs`, `redis` and `postgres`
//! are on by default, `mongodb` and `dynamodb` opt-in (`full`: all six).
//!
//! The proxy is also a library function, [`proxy::serve`], for tests and for
//! embedding.

pub mod access_log;
pub mod admin;
pub mod admin_endpoint;
pub mod byte_size;
pub mod config;
pub mod connection;
mod forwarding;
pub mod get;
pub mod metrics_endpoint;
pub mod proxy;
mod request_body;
pub mod storage;
pub mod storage_url;
