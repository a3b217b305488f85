//! # reqcache-reqwest
//!
//! [reqcache] for [reqwest] users, three ways:
//!
//! * [`CachedClient`]: a client that reads like reqwest, with the cache in
//!   it — requests-cache's `CachedSession`. Per-request cache settings are on
//!   its [`RequestBuilder`]; what the cache did is on the response, through
//!   [`CacheStatusExt`].
//! * [`ReqwestService`]: a `reqwest::Client` as a tower
//!   `Service<http::Request<B>>`, to put under a
//!   [`CacheLayer`](reqcache::CacheLayer) next to tower's timeout, retry or
//!   rate-limit layers.
//! * `CacheMiddleware` (feature `middleware`): the cache as a
//!   [reqwest-middleware](https://docs.rs/reqwest-middleware) middleware.
//!
//! The global style of requests-cache (`install_cache()`, then plain
//! `requests.get(..)`) is [`reqcache::global::install`] with
//! [`CachedClient::default()`] or this crate's [`get`].
//!
//! ```
//! use reqcache::{CacheLayer, CacheOutcome, MemoryStorage};
//! use reqcache_reqwest::{CacheStatusExt, CachedClient};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), reqwest::Error> {
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! # let base = format!("http://{}", listener.local_addr().unwrap());
//! # tokio::spawn(async move { loop {
//! #     let (mut socket, _) = listener.accept().await.unwrap();
//! #     tokio::spawn(async move {
//! #         use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #         let mut buffer = [0u8; 4096];
//! #         let _ = socket.read(&mut buffer).await;
//! #         let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\ncontent-type: application/json\r\ncontent-length: 14\r\nconnection: close\r\n\r\n{\"name\":\"ada\"}").await;
//! #     });
//! # } });
//! let client = CachedClient::new(CacheLayer::new(MemoryStorage::new()));
//!
//! let first = client.get(format!("{base}/users/1")).send().await?;
//! assert!(!first.from_cache());
//! let user: serde_json::Value = first.json().await?;
//!
//! let second = client.get(format!("{base}/users/1")).send().await?;
//! assert_eq!(second.cache_status().unwrap().outcome(), CacheOutcome::Hit);
//! assert_eq!(second.json::<serde_json::Value>().await?, user);
//! # Ok(()) }
//! ```
//!
//! # Cargo features
//! | feature | default | adds |
//! |---|---|---|
//! | `json` | yes | `RequestBuilder::json`, reqwest's `Response::json` |
//! | `query` | yes | `RequestBuilder::query` |
//! | `form` | yes | `RequestBuilder::form` |
//! | `middleware` | no | `CacheMiddleware` for reqwest-middleware |
//!
//! TLS is reqwest's business: this crate depends on reqwest without default
//! features; enable `rustls` or `native-tls` on your own reqwest dependency
//! (cargo unifies the features).
//!
//! # When things go wrong
//! The cache never fails a request (see [reqcache]'s docs); the errors
//! returned are reqwest's own.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod adapter;
mod choice;
mod client;
mod global_client;
#[cfg(feature = "middleware")]
mod middleware;
mod request_builder;
mod response;

pub use adapter::{ReqwestFuture, ReqwestService};
pub use client::CachedClient;
pub use global_client::{get, global_client};
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub use middleware::CacheMiddleware;
pub use request_builder::RequestBuilder;
pub use response::CacheStatusExt;
